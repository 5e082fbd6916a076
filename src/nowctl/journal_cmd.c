/*
 * journal_cmd.c - the request journal and assertions on records (issue 18).
 *
 *   nowctl requests [--path P] [--user U] [--method M] [--status S]
 *                   [--since T] [--after SEQ] [--limit N] [--count] [--json]
 *   nowctl requests clear
 * read and clear the journal of a running nowd (online only: the journal
 * lives in its memory) through GET/DELETE /_snowglobe/requests.
 *
 *   nowctl expect TABLE --query Q (--count N | --min N | --max N)
 *                 [--field NAME=VALUE]... [--json]
 * holds when the records of TABLE matching the encoded query Q number N
 * (at least N, at most N) and each has every field given at its value (raw
 * values, as the Table API's sysparm_display_value=false).  Online through
 * the Table API as --user (its ACLs apply), offline as the system.  Exit 0
 * when it holds, 1 with a diff when it does not (or the instance refused),
 * 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "nowctl/commands.h"

/* --- requests ------------------------------------------------------------- */

static void requests_usage(void)
{
	fputs("usage: nowctl --instance URL --user NAME requests [--path P] [--user U]\n"
	      "         [--method M] [--status 404|4xx] [--since TIME] [--after SEQ]\n"
	      "         [--limit N] [--count] [--json]\n"
	      "       nowctl --instance URL --user NAME requests clear\n",
	      stderr);
}

static void print_entry(json_t *e)
{
	const char *q = json_string_value(json_object_get(e, "query"));
	const char *user = json_string_value(json_object_get(e, "user"));
	printf("%-23s %-6s %d %8.1fms %7lld %8lld %-12s %s%s%s\n",
	       json_string_value(json_object_get(e, "time")),
	       json_string_value(json_object_get(e, "method")),
	       (int)json_integer_value(json_object_get(e, "status")),
	       json_number_value(json_object_get(e, "latency_ms")),
	       (long long)json_integer_value(json_object_get(e, "request_bytes")),
	       (long long)json_integer_value(json_object_get(e, "response_bytes")),
	       user ? user : "-", json_string_value(json_object_get(e, "path")), q && *q ? "?" : "",
	       q ? q : "");
}

int cmd_requests(struct cmd_env *e, int argc, char **argv)
{
	if (!e->c->call) {
		fputs("nowctl: requests reads the journal of a running instance: give --instance "
		      "URL --user NAME\n",
		      stderr);
		return 2;
	}
	if (argc == 1 && !strcmp(argv[0], "clear")) {
		json_t *out = NULL;
		if (e->c->call(e->c, "DELETE", "/_snowglobe/requests", NULL, &out)) {
			fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
			return 1;
		}
		long long n = (long long)json_integer_value(json_object_get(out, "cleared"));
		if (e->json)
			printf("{\"cleared\":%lld}\n", n);
		else
			printf("%lld request(s) cleared\n", n);
		json_decref(out);
		return 0;
	}
	static const char *const filters[] = {"path",  "user",  "method", "status",
	                                      "since", "after", "limit"};
	bool count = false, json = e->json;
	struct sg_buf q;
	sg_buf_init(&q, 64 * 1024);
	sg_buf_puts(&q, "/_snowglobe/requests");
	char sep = '?';
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--count")) {
			count = true;
			continue;
		}
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		size_t k = 0, nf = sizeof(filters) / sizeof(filters[0]);
		for (; k < nf; k++)
			if (!strncmp(argv[i], "--", 2) && !strcmp(argv[i] + 2, filters[k]))
				break;
		if (k == nf || i + 1 >= argc) {
			requests_usage();
			sg_buf_cleanup(&q);
			return 2;
		}
		sg_buf_printf(&q, "%c%s=", sep, filters[k]);
		sg_buf_put_urlenc(&q, argv[++i]);
		sep = '&';
	}
	if (count) {
		/* the filters go to /count: insert it before the '?' */
		struct sg_buf c;
		sg_buf_init(&c, 64 * 1024);
		const char *s = sg_buf_str(&q);
		size_t n = strlen("/_snowglobe/requests");
		sg_buf_append(&c, s, n);
		sg_buf_puts(&c, "/count");
		sg_buf_puts(&c, s + n);
		sg_buf_cleanup(&q);
		q = c;
	}
	if (sg_buf_failed(&q)) {
		fputs("nowctl: the filters are too long\n", stderr);
		sg_buf_cleanup(&q);
		return 2;
	}
	json_t *out = NULL;
	int rc = e->c->call(e->c, "GET", sg_buf_str(&q), NULL, &out);
	sg_buf_cleanup(&q);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return e->c->status == 400 ? 2 : 1;
	}
	if (count) {
		long long n = (long long)json_integer_value(json_object_get(out, "count"));
		if (json)
			printf("{\"count\":%lld}\n", n);
		else
			printf("%lld\n", n);
	} else if (json) {
		char *s = json_dumps(out, JSON_INDENT(2));
		if (s)
			puts(s);
		free(s);
	} else {
		printf("%-23s %-6s %-3s %10s %7s %8s %-12s %s\n", "TIME (UTC)", "METHOD", "ST",
		       "LATENCY", "IN", "OUT", "USER", "PATH");
		size_t i;
		json_t *row;
		json_array_foreach(out, i, row) print_entry(row);
	}
	json_decref(out);
	return 0;
}

/* --- expect ---------------------------------------------------------------- */

static void expect_usage(void)
{
	fputs("usage: nowctl expect TABLE --query ENCODED_QUERY (--count N | --min N | --max N)\n"
	      "         [--field NAME=VALUE]... [--json]\n",
	      stderr);
}

static bool parse_n(const char *s, long *n)
{
	char *end;
	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 9)
		return false;
	*n = strtol(s, &end, 10);
	return true;
}

/* How a record is named in a diff: its number, else its name, and sys_id. */
static void record_label(json_t *rec, char *out, size_t size)
{
	const char *num = json_string_value(json_object_get(rec, "number"));
	const char *name = json_string_value(json_object_get(rec, "name"));
	const char *id = json_string_value(json_object_get(rec, "sys_id"));
	const char *label = num && *num ? num : name && *name ? name : NULL;
	if (label)
		snprintf(out, size, "%s (sys_id %s)", label, id ? id : "?");
	else
		snprintf(out, size, "sys_id %s", id ? id : "?");
}

/* The LIMIT+1st record says "more than LIMIT". */
#define EXPECT_LIMIT 10000

int cmd_expect(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1 || !strncmp(argv[0], "--", 2)) {
		expect_usage();
		return 2;
	}
	const char *table = argv[0], *query = NULL;
	const char *kind = NULL; /* "count", "min", "max" */
	long n = 0;
	bool json = e->json;
	size_t nfields = 0;
	char **fields = calloc((size_t)argc, sizeof(*fields));
	if (!fields) {
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	int rc = 0;
	for (int i = 1; i < argc && !rc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			json = true;
		} else if (i + 1 >= argc) {
			rc = 2;
		} else if (!strcmp(a, "--query")) {
			query = argv[++i];
		} else if (!strcmp(a, "--count") || !strcmp(a, "--min") || !strcmp(a, "--max")) {
			if (kind || !parse_n(argv[++i], &n))
				rc = 2;
			kind = a + 2;
		} else if (!strcmp(a, "--field")) {
			const char *f = argv[++i];
			const char *eq = strchr(f, '=');
			if (!eq || eq == f)
				rc = 2;
			fields[nfields++] = (char *)f;
		} else {
			rc = 2;
		}
	}
	if (!rc && (!query || !kind))
		rc = 2;
	if (rc) {
		expect_usage();
		free(fields);
		return rc;
	}

	json_t *rows = NULL;
	if (e->c->list(e->c, table, query, EXPECT_LIMIT + 1, &rows)) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		free(fields);
		return 1;
	}
	size_t found = json_array_size(rows);
	bool more = found > EXPECT_LIMIT;
	bool count_ok = !strcmp(kind, "count") ? (!more && found == (size_t)n)
	                : !strcmp(kind, "min") ? (more || found >= (size_t)n)
	                                       : (!more && found <= (size_t)n);
	/* Each record that differs in a field given, with what it has. */
	json_t *differ = json_array();
	bool fields_ok = true;
	size_t i;
	json_t *rec;
	json_array_foreach(rows, i, rec)
	{
		if (i >= EXPECT_LIMIT)
			break;
		json_t *diffs = NULL;
		for (size_t k = 0; k < nfields; k++) {
			const char *eq = strchr(fields[k], '=');
			char name[256];
			snprintf(name, sizeof(name), "%.*s", (int)(eq - fields[k]), fields[k]);
			json_t *v = json_object_get(rec, name);
			const char *have = json_is_string(v) ? json_string_value(v) : NULL;
			if (have && !strcmp(have, eq + 1))
				continue;
			if (!diffs)
				diffs = json_object();
			json_object_set_new(diffs, name,
			                    json_pack("{s:s, s:o}", "expected", eq + 1, "found",
			                              v ? json_incref(v) : json_null()));
		}
		if (diffs) {
			fields_ok = false;
			char label[256];
			record_label(rec, label, sizeof(label));
			json_array_append_new(
			    differ, json_pack("{s:s, s:O, s:O, s:o}", "record", label, "sys_id",
			                      json_object_get(rec, "sys_id"), "number",
			                      json_object_get(rec, "number")
			                          ? json_object_get(rec, "number")
			                          : json_null(),
			                      "fields", diffs));
		}
	}
	bool holds = count_ok && fields_ok;
	char expected[64];
	snprintf(expected, sizeof(expected), "%s %ld",
	         !strcmp(kind, "count") ? "exactly"
	         : !strcmp(kind, "min") ? "at least"
	                                : "at most",
	         n);
	char found_s[64];
	snprintf(found_s, sizeof(found_s), "%s%zu", more ? "more than " : "",
	         more ? (size_t)EXPECT_LIMIT : found);
	if (json) {
		json_t *ids = json_array();
		json_array_foreach(rows, i, rec)
		{
			if (i >= EXPECT_LIMIT)
				break;
			char label[256];
			record_label(rec, label, sizeof(label));
			json_array_append_new(ids, json_string(label));
		}
		json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:o, s:o}", "holds", holds,
		                      "table", table, "query", query, "expected", expected, "found",
		                      found_s, "records", ids, "differ", json_incref(differ));
		char *s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else if (holds) {
		printf("ok: %s where %s: %s record(s), expected %s%s\n", table,
		       *query ? query : "(all)", found_s, expected,
		       nfields ? ", fields as given" : "");
	} else {
		printf("FAILED: %s where %s\n", table, *query ? query : "(all)");
		printf("  expected: %s record(s)", expected);
		for (size_t k = 0; k < nfields; k++)
			printf("%s%s", k ? ", " : " with ", fields[k]);
		printf("\n  found:    %s record(s)%s\n", found_s, found ? ":" : "");
		json_array_foreach(rows, i, rec)
		{
			if (i >= 50) {
				printf("    ... and %s more\n", more ? "many" : "some");
				break;
			}
			char label[256];
			record_label(rec, label, sizeof(label));
			printf("    %s\n", label);
		}
		json_array_foreach(differ, i, rec)
		{
			if (i >= 50)
				break;
			printf("  %s differs:\n",
			       json_string_value(json_object_get(rec, "record")));
			const char *k;
			json_t *d;
			json_object_foreach(json_object_get(rec, "fields"), k, d)
			{
				json_t *have = json_object_get(d, "found");
				printf("    %s: expected \"%s\", found %s%s%s\n", k,
				       json_string_value(json_object_get(d, "expected")),
				       json_is_string(have) ? "\"" : "",
				       json_is_string(have) ? json_string_value(have)
				                            : "no such field",
				       json_is_string(have) ? "\"" : "");
			}
		}
	}
	json_decref(differ);
	json_decref(rows);
	free(fields);
	return holds ? 0 : 1;
}
