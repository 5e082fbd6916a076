/*
 * outbound_cmd.c - nowctl outbound list|retry|purge: the admin's view of
 * the durable outbound queue (outbound/queue.h, ecc_queue rows of queue
 * "output" and topic SG_OUTQ_TOPIC).
 *
 *   list [--state S] [--limit N]   the queued requests, oldest first; S is
 *                                  ready, processing, processed (done) or
 *                                  error (dead)
 *   retry ID|--dead                a dead request (or every dead one) back
 *                                  to ready, due now, its attempts reset
 *   purge [--done] [--dead] [--older-than DAYS]
 *                                  deletes delivered and/or dead requests
 *                                  (both when neither is named), those last
 *                                  changed DAYS or more ago (default: all)
 *
 * Offline as the system; online through the Table API as --user, under
 * ecc_queue's ACLs (admin).  A retry written online wakes nowd's delivery
 * workers at once; offline, they find it within a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "nowctl/commands.h"
#include "outbound/queue.h"

#define BASE_QUERY "queue=output^topic=" SG_OUTQ_TOPIC

static const char *state_value(const char *s)
{
	static const char *const names[][2] = {
	    {"ready", "ready"},    {"processing", "processing"}, {"processed", "processed"},
	    {"done", "processed"}, {"error", "error"},           {"dead", "error"}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i][0]))
			return names[i][1];
	return NULL;
}

static int failed(struct cmd_env *e)
{
	fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
	return 1;
}

static const char *field(json_t *rec, const char *name)
{
	const char *v = sg_json_str(rec, name);
	return v ? v : "";
}

static int list(struct cmd_env *e, int argc, char **argv)
{
	const char *state = NULL;
	long limit = 1000;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--state") && i + 1 < argc) {
			state = state_value(argv[++i]);
			if (!state) {
				fprintf(stderr,
				        "nowctl: unknown state %s (ready, processing, "
				        "processed, error)\n",
				        argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
			char *end;
			limit = strtol(argv[++i], &end, 10);
			if (*end || limit < 1 || limit > 100000) {
				fputs("nowctl: --limit is 1 to 100000\n", stderr);
				return 2;
			}
		} else {
			fputs("usage: nowctl outbound list [--state S] [--limit N]\n", stderr);
			return 2;
		}
	}
	char q[256];
	snprintf(q, sizeof(q), BASE_QUERY "%s%s^ORDERBYsys_created_on^ORDERBYsequence",
	         state ? "^state=" : "", state ? state : "");
	json_t *rows = NULL;
	if (e->c->list(e->c, SG_OUTQ_TABLE, q, limit, &rows))
		return failed(e);
	if (e->json) {
		/* the fields an admin needs, never the stored password */
		json_t *out = json_array();
		size_t i;
		json_t *r;
		json_array_foreach(rows, i, r)
		{
			json_t *o = json_pack(
			    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			    "sys_id", field(r, "sys_id"), "state", field(r, "state"), "http_method",
			    field(r, "http_method"), "endpoint", field(r, "endpoint"), "order_key",
			    field(r, "order_key"), "attempts", field(r, "attempts"), "max_attempts",
			    field(r, "max_attempts"), "last_status", field(r, "last_status"),
			    "next_attempt", field(r, "next_attempt"), "error_string",
			    field(r, "error_string"), "sys_created_on", field(r, "sys_created_on"),
			    "processed", field(r, "processed"));
			if (!o || json_array_append_new(out, o)) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
		char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
		json_decref(out);
		json_decref(rows);
		if (!s) {
			fputs("nowctl: out of memory\n", stderr);
			return 1;
		}
		printf("%s\n", s);
		free(s);
		return 0;
	}
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		printf("%s  %-10s %2s/%-2s %3s  %s %s", field(r, "sys_id"), field(r, "state"),
		       field(r, "attempts"), field(r, "max_attempts"), field(r, "last_status"),
		       field(r, "http_method"), field(r, "endpoint"));
		if (!strcmp(field(r, "state"), "ready") && *field(r, "next_attempt"))
			printf("  next %s", field(r, "next_attempt"));
		if (*field(r, "error_string"))
			printf("  (%s)", field(r, "error_string"));
		putchar('\n');
	}
	if (!json_array_size(rows))
		puts("no queued requests");
	json_decref(rows);
	return 0;
}

static int retry_one(struct cmd_env *e, json_t *rec)
{
	const char *id = field(rec, "sys_id");
	if (!strcmp(field(rec, "state"), "processing")) {
		fprintf(stderr, "nowctl: %s is being delivered; not retried\n", id);
		return 1;
	}
	json_t *in = sg_outq_retry_fields(sg_time_now());
	if (!in) {
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	json_t *out = NULL;
	int rc = e->c->update(e->c, SG_OUTQ_TABLE, id, in, &out);
	json_decref(in);
	json_decref(out);
	if (rc)
		return failed(e);
	if (!e->json)
		printf("retrying %s\n", id);
	return 0;
}

static int retry(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 1 || !*argv[0] || strchr(argv[0], '^') ||
	    (argv[0][0] == '-' && strcmp(argv[0], "--dead"))) {
		fputs("usage: nowctl outbound retry ID|--dead\n", stderr);
		return 2;
	}
	bool all = !strcmp(argv[0], "--dead");
	char q[256];
	if (all)
		snprintf(q, sizeof(q), BASE_QUERY "^state=error^ORDERBYsys_created_on");
	else
		snprintf(q, sizeof(q), BASE_QUERY "^sys_id=%.64s", argv[0]);
	json_t *rows = NULL;
	if (e->c->list(e->c, SG_OUTQ_TABLE, q, all ? 100000 : 1, &rows))
		return failed(e);
	if (!all && !json_array_size(rows)) {
		fprintf(stderr, "nowctl: no queued request %s\n", argv[0]);
		json_decref(rows);
		return 1;
	}
	int rc = 0;
	size_t i, n = 0;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		if (retry_one(e, r))
			rc = 1;
		else
			n++;
	}
	json_decref(rows);
	if (e->json)
		printf("{\"retried\": %zu}\n", n);
	else if (all)
		printf("%zu dead request(s) queued again\n", n);
	return rc;
}

static int purge(struct cmd_env *e, int argc, char **argv)
{
	bool done = false, dead = false;
	long days = 0;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--done"))
			done = true;
		else if (!strcmp(argv[i], "--dead"))
			dead = true;
		else if (!strcmp(argv[i], "--older-than") && i + 1 < argc) {
			char *end;
			days = strtol(argv[++i], &end, 10);
			if (*end || days < 0 || days > 36500) {
				fputs("nowctl: --older-than is a number of days\n", stderr);
				return 2;
			}
		} else {
			fputs(
			    "usage: nowctl outbound purge [--done] [--dead] [--older-than DAYS]\n",
			    stderr);
			return 2;
		}
	}
	if (!done && !dead)
		done = dead = true;
	char before[SG_DT_LEN + 1] = "";
	if (days)
		sg_time_format(sg_time_now() - (int64_t)days * 86400, before);
	char q[256];
	snprintf(q, sizeof(q), BASE_QUERY "^stateIN%s%s%s%s%s", done ? "processed" : "",
	         done && dead ? "," : "", dead ? "error" : "", days ? "^sys_updated_on<" : "",
	         before);
	long long gone = 0;
	for (;;) {
		json_t *rows = NULL;
		if (e->c->list(e->c, SG_OUTQ_TABLE, q, 1000, &rows))
			return failed(e);
		size_t i, n = json_array_size(rows);
		json_t *r;
		json_array_foreach(rows, i, r)
		{
			if (e->c->remove(e->c, SG_OUTQ_TABLE, field(r, "sys_id"))) {
				json_decref(rows);
				return failed(e);
			}
			gone++;
		}
		json_decref(rows);
		if (!n)
			break;
	}
	if (e->json)
		printf("{\"deleted\": %lld}\n", gone);
	else
		printf("%lld request(s) deleted\n", gone);
	return 0;
}

int cmd_outbound(struct cmd_env *e, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "list"))
		return list(e, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "retry"))
		return retry(e, argc - 1, argv + 1);
	if (argc >= 1 && !strcmp(argv[0], "purge"))
		return purge(e, argc - 1, argv + 1);
	fputs("usage: nowctl outbound list [--state S] | retry ID|--dead | purge [--done] "
	      "[--dead] [--older-than DAYS]\n",
	      stderr);
	return 2;
}
