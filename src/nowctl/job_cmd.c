/*
 * job_cmd.c - nowctl job run NAME: a scheduled script job's "Execute Now".
 *
 * The job (a sysauto_script record, by name or sys_id) is queued to run
 * once, at once, through the job queue (gs.executeNow, as ServiceNow's UI
 * action does), by a background script: offline as the system, online as
 * --user through /api/now/snowglobe/script (admin needed).  nowd's workers
 * run it; its schedule is left as it is.  Prints the queued sys_trigger's
 * sys_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nowctl/commands.h"

int cmd_job(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "run") != 0 || !*argv[1]) {
		fputs("usage: nowctl job run NAME|SYS_ID\n", stderr);
		return 2;
	}
	/* The name goes into the script as a JSON string literal. */
	json_t *lit = json_string(argv[1]);
	char *name = lit ? json_dumps(lit, JSON_ENCODE_ANY) : NULL;
	json_decref(lit);
	if (!name) {
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	static const char fmt[] =
	    "var n = %s, j = new GlideRecord('sysauto_script');\n"
	    "if (!j.get(n)) { j = new GlideRecord('sysauto_script'); j.addQuery('name', n);\n"
	    "  j.query(); if (!j.next()) j = null; }\n"
	    "j ? gs.executeNow(j) : '';\n";
	size_t len = sizeof(fmt) + strlen(name);
	char *src = malloc(len);
	if (!src) {
		free(name);
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	snprintf(src, len, fmt, name);
	free(name);
	json_t *out = NULL;
	int rc = e->c->script(e->c, src, strlen(src), &out);
	free(src);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	const char *status = json_string_value(json_object_get(out, "status"));
	const char *id = json_string_value(json_object_get(out, "result"));
	if (!status || strcmp(status, "ok") != 0) {
		const char *err = json_string_value(json_object_get(out, "error"));
		fprintf(stderr, "nowctl: job run failed: %s\n", err ? err : status ? status : "?");
		rc = 1;
	} else if (!id || !*id) {
		fprintf(stderr, "nowctl: no scheduled script job named %s\n", argv[1]);
		rc = 1;
	} else if (e->json) {
		printf("{\"sys_id\": \"%s\"}\n", id);
	} else {
		printf("queued %s\n", id);
	}
	json_decref(out);
	return rc;
}
