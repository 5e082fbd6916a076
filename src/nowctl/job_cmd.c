/*
 * job_cmd.c - nowctl job run NAME|SYS_ID: a scheduled script job's
 * "Execute Now".
 *
 * The job (a sysauto_script record, by sys_id or name) is queued to run
 * once, at once: a one-off sys_trigger row of type
 * SG_JOB_EXECUTE_NOW (script/background.h), as gs.executeNow does.
 * Offline it is written as the system; online through the Table API as
 * --user, under sys_trigger's ACLs (admin).  nowd's workers run it; the
 * job's schedule is left as it is.  Prints the queued row's sys_id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "nowctl/commands.h"
#include "script/background.h"

/* The sysauto_script record named by key: *rec a new reference, or NULL
 * when none.  Non-zero on failure (message printed). */
static int find_job(struct cmd_env *e, const char *key, json_t **rec)
{
	*rec = NULL;
	static const char *fields[] = {"sys_id", "name"};
	for (size_t i = 0; i < 2; i++) {
		char *q = NULL;
		if (asprintf(&q, "%s=%s", fields[i], key) < 0) {
			fputs("nowctl: out of memory\n", stderr);
			return 1;
		}
		json_t *rows = NULL;
		int rc = e->c->list(e->c, "sysauto_script", q, 2, &rows);
		free(q);
		if (rc) {
			fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
			return 1;
		}
		size_t n = json_array_size(rows);
		if (n > 1) {
			fprintf(stderr,
			        "nowctl: more than one scheduled script job is named %s; "
			        "give its sys_id\n",
			        key);
			json_decref(rows);
			return 1;
		}
		if (n == 1)
			*rec = json_incref(json_array_get(rows, 0));
		json_decref(rows);
		if (*rec)
			return 0;
	}
	return 0;
}

int cmd_job(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "run") != 0 || !*argv[1] || strchr(argv[1], '^')) {
		fputs("usage: nowctl job run NAME|SYS_ID\n", stderr);
		return 2;
	}
	json_t *rec = NULL;
	if (find_job(e, argv[1], &rec))
		return 1;
	if (!rec) {
		fprintf(stderr, "nowctl: no scheduled script job named %s\n", argv[1]);
		return 1;
	}
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	const char *name = json_string_value(json_object_get(rec, "name"));
	const char *id = json_string_value(json_object_get(rec, "sys_id"));
	json_t *in = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s}", "name",
	                       name && *name ? name : SG_JOB_EXECUTE_NOW, "job_id",
	                       SG_JOB_EXECUTE_NOW, "document", "sysauto_script", "document_key", id,
	                       "next_action", now, "max_attempts", "1");
	json_decref(rec);
	if (!in) {
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	json_t *out = NULL;
	int rc = e->c->insert(e->c, "sys_trigger", in, &out);
	json_decref(in);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	const char *tid = json_string_value(json_object_get(out, "sys_id"));
	if (e->json)
		printf("{\"sys_id\": \"%s\"}\n", tid ? tid : "");
	else
		printf("queued %s\n", tid ? tid : "");
	json_decref(out);
	return 0;
}
