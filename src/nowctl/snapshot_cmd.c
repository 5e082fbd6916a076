/*
 * snapshot_cmd.c - nowctl snapshot save|restore|list|delete|reset: named
 * snapshots of a whole instance (model/snapshot.h).
 *
 * Offline (--data/--db) they act on the data directory directly; online
 * (--instance) through POST/GET/DELETE /_snowglobe/snapshots... and
 * /_snowglobe/reset as an admin.  A restore offline is as atomic as online
 * (readers of a running nowd see all of before or all of after, and its
 * caches reload), but only the serving nowd can drop its compiled scripts:
 * against a running instance, restore online.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/snapshot.h"
#include "nowctl/commands.h"

static const char usage_text[] =
    "usage: nowctl snapshot save NAME | restore NAME | list | delete NAME | reset [NAME]\n"
    "  NAME: 1 to 64 characters of A-Z a-z 0-9 _ . - (not starting with '.');\n"
    "  reset goes back to NAME, or to \"init\" (the instance as nowctl init made it)\n";

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int failed(const char *what, const char *name, sg_err err)
{
	if (err == SG_ERR_NO_RECORD && !strcmp(name, SG_SNAPSHOT_INIT))
		fprintf(stderr,
		        "nowctl: no snapshot named init: this instance was made before nowctl init "
		        "kept one (save one now: nowctl snapshot save init)\n");
	else if (err == SG_ERR_NO_RECORD)
		fprintf(stderr, "nowctl: no snapshot named %s\n", name);
	else
		fprintf(stderr, "nowctl: %s %s failed: %s\n", what, name, sg_err_name(err));
	return 1;
}

static void print_list(struct cmd_env *e, json_t *rows)
{
	if (e->json) {
		char *s = json_dumps(rows, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
		return;
	}
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		printf("%-32s %12lld bytes  %s\n", json_string_value(json_object_get(row, "name")),
		       (long long)json_integer_value(json_object_get(row, "size")),
		       json_string_value(json_object_get(row, "created")));
	}
}

/* Online: one request; prints what it answered. */
static int online(struct cmd_env *e, const char *verb, const char *name)
{
	char path[256];
	json_t *body = NULL, *out = NULL;
	const char *method = "POST";
	if (!strcmp(verb, "list")) {
		method = "GET";
		snprintf(path, sizeof(path), "/_snowglobe/snapshots");
	} else if (!strcmp(verb, "save")) {
		snprintf(path, sizeof(path), "/_snowglobe/snapshots");
		body = json_pack("{s:s}", "name", name);
	} else if (!strcmp(verb, "restore")) {
		snprintf(path, sizeof(path), "/_snowglobe/snapshots/%s/restore", name);
	} else if (!strcmp(verb, "delete")) {
		method = "DELETE";
		snprintf(path, sizeof(path), "/_snowglobe/snapshots/%s", name);
	} else {
		snprintf(path, sizeof(path), "/_snowglobe/reset");
		body = name ? json_pack("{s:s}", "snapshot", name) : NULL;
	}
	int rc = e->c->call(e->c, method, path, body, strcmp(verb, "delete") ? &out : NULL);
	json_decref(body);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	if (!strcmp(verb, "list"))
		print_list(e, out);
	else if (e->json && out) {
		char *s = json_dumps(out, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else if (!strcmp(verb, "delete"))
		printf("deleted %s\n", name);
	else if (!strcmp(verb, "save"))
		printf("saved %s (%lld bytes) in %lld ms\n", name,
		       (long long)json_integer_value(json_object_get(out, "size")),
		       (long long)json_integer_value(json_object_get(out, "saved_in_ms")));
	else
		printf("restored %s in %lld ms\n", json_string_value(json_object_get(out, "name")),
		       (long long)json_integer_value(json_object_get(out, "restored_in_ms")));
	json_decref(out);
	return 0;
}

static int offline(struct cmd_env *e, const char *verb, const char *name)
{
	struct sg_model *m = e->c->model;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sg_err err;
	if (!strcmp(verb, "list")) {
		json_t *rows = NULL;
		err = sg_snapshot_list(m, &rows);
		if (err)
			return failed("list", "", err);
		print_list(e, rows);
		json_decref(rows);
		return 0;
	}
	if (!strcmp(verb, "save"))
		err = sg_snapshot_save(m, name);
	else if (!strcmp(verb, "delete"))
		err = sg_snapshot_delete(m, name);
	else
		err = sg_snapshot_restore(m, name ? name : SG_SNAPSHOT_INIT);
	if (err)
		return failed(verb, name ? name : SG_SNAPSHOT_INIT, err);
	double ms = ms_since(&t0);
	const char *n = name ? name : SG_SNAPSHOT_INIT;
	if (e->json)
		printf("{\"name\": \"%s\", \"ms\": %.3f}\n", n, ms);
	else if (!strcmp(verb, "delete"))
		printf("deleted %s\n", n);
	else
		printf("%s %s in %.1f ms\n", !strcmp(verb, "save") ? "saved" : "restored", n, ms);
	return 0;
}

int cmd_snapshot(struct cmd_env *e, int argc, char **argv)
{
	const char *verb = argc > 0 ? argv[0] : "";
	bool named = !strcmp(verb, "save") || !strcmp(verb, "restore") || !strcmp(verb, "delete");
	bool ok = (named && argc == 2) || (!strcmp(verb, "list") && argc == 1) ||
	          (!strcmp(verb, "reset") && (argc == 1 || argc == 2));
	if (!ok) {
		fputs(usage_text, stderr);
		return 2;
	}
	const char *name = argc == 2 ? argv[1] : NULL;
	if (name && !sg_snapshot_name_ok(name)) {
		fprintf(stderr, "nowctl: invalid snapshot name '%s'\n%s", name, usage_text);
		return 2;
	}
	return e->c->model ? offline(e, verb, name) : online(e, verb, name);
}
