/*
 * app.c - nowctl app install DIR: an application folder (docs/apps.md)
 * read here and installed in one transaction, offline or through the
 * instance's application endpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "model/app.h"
#include "nowctl/commands.h"

static void print_report(struct cmd_env *e, json_t *report)
{
	if (e->json) {
		char *s = json_dumps(report, JSON_INDENT(2));
		printf("%s\n", s ? s : "{}");
		free(s);
		return;
	}
	const char *name = sg_json_str(report, "name");
	const char *table;
	json_t *t;
	json_object_foreach(json_object_get(report, "tables"), table, t)
	{
		printf("%-32s %lld inserted, %lld updated\n", table,
		       (long long)json_integer_value(json_object_get(t, "inserted")),
		       (long long)json_integer_value(json_object_get(t, "updated")));
	}
	printf("installed %s: %lld inserted, %lld updated\n", name && *name ? name : "application",
	       (long long)json_integer_value(json_object_get(report, "inserted")),
	       (long long)json_integer_value(json_object_get(report, "updated")));
}

int cmd_app(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "install")) {
		fprintf(stderr, "nowctl: app install DIR (see nowctl --help)\n");
		return 2;
	}
	json_t *app = NULL;
	char msg[1024];
	sg_err err = sg_app_read_dir(argv[1], &app, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "nowctl: app install: %s\n", *msg ? msg : sg_err_name(err));
		return 1;
	}
	json_t *report = NULL;
	int rc = e->c->app_install(e->c, app, &report);
	json_decref(app);
	if (rc) {
		fprintf(stderr, "nowctl: app install: %s\n", e->c->errmsg);
		return 1;
	}
	print_report(e, report);
	json_decref(report);
	return 0;
}
