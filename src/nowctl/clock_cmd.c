/*
 * clock_cmd.c - nowctl clock set TIME | advance DURATION | freeze [TIME] |
 * real | show: the instance's clock (model/clock.h).
 *
 * Offline (--data/--db) the setting is written to the instance's store, so
 * the next nowd start, and a running nowd at its next sync, see it; online
 * (--instance) through POST /_snowglobe/clock, as an admin, which the
 * running instance applies at once.
 */
#include <stdio.h>
#include <string.h>

#include "model/clock.h"
#include "nowctl/commands.h"

static void print(struct cmd_env *e, json_t *d)
{
	if (e->json) {
		char *s = json_dumps(d, JSON_COMPACT);
		if (s)
			puts(s);
		free(s);
		return;
	}
	const char *mode = json_string_value(json_object_get(d, "mode"));
	printf("%s UTC (%s", json_string_value(json_object_get(d, "now")), mode ? mode : "?");
	if (mode && !strcmp(mode, "offset"))
		printf(", %+lld s from the real clock",
		       (long long)json_integer_value(json_object_get(d, "offset_seconds")));
	puts(")");
}

static int usage(void)
{
	fputs("usage: nowctl clock set TIME | advance DURATION | freeze [TIME] | real | show\n"
	      "  TIME: a UTC date-time \"YYYY-MM-DD HH:MM:SS\"; DURATION: 90, 90s, 15m, 2h, 3d,\n"
	      "  1d12h (a leading - goes back)\n",
	      stderr);
	return 2;
}

static int offline(struct cmd_env *e, const char *op, const char *arg)
{
	sg_model_sync(e->c->model); /* a running nowd may have changed it */
	if (strcmp(op, "show")) {
		struct sg_ctx ctx;
		sg_err err = sg_ctx_begin(&ctx, e->c->model, NULL);
		if (!err)
			err = sg_clock_change(&ctx, op, arg);
		if (err) {
			fprintf(stderr, "nowctl: %s\n",
			        err == SG_ERR_BAD_PARAM ? ctx.err_arg : sg_err_name(err));
			sg_ctx_end(&ctx);
			return 1;
		}
		sg_ctx_end(&ctx);
	}
	json_t *d = sg_clock_describe();
	if (!d) {
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	print(e, d);
	json_decref(d);
	return 0;
}

static int online(struct cmd_env *e, const char *op, const char *arg)
{
	json_t *body = NULL, *out = NULL;
	if (strcmp(op, "show")) {
		body = json_pack("{s:s}", "action", op);
		if (!body ||
		    (arg && json_object_set_new(body, !strcmp(op, "advance") ? "by" : "time",
		                                json_string(arg)))) {
			json_decref(body);
			fputs("nowctl: out of memory\n", stderr);
			return 1;
		}
	}
	int rc = e->c->call(e->c, body ? "POST" : "GET", "/_snowglobe/clock", body, &out);
	json_decref(body);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	print(e, out);
	json_decref(out);
	return 0;
}

int cmd_clock(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	const char *op = argv[0];
	bool needs = !strcmp(op, "set") || !strcmp(op, "advance");
	bool may = !strcmp(op, "freeze");
	bool none = !strcmp(op, "real") || !strcmp(op, "show");
	if (!(needs && argc == 2) && !(may && argc <= 2) && !(none && argc == 1))
		return usage();
	const char *arg = argc == 2 ? argv[1] : NULL;
	return e->c->model ? offline(e, op, arg) : online(e, op, arg);
}
