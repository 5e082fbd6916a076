/* nowsync read: CMDB CIs, users and groups by keyset paging (reads.h). */
#include "reads.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "nowsync.h"

#define READ_MAX_PAGE 1000
#define READ_MAX_ROWS 100000

bool ns_read_table_ok(const char *t)
{
	return !strcmp(t, "task") || !strcmp(t, "sys_user") || !strcmp(t, "sys_user_group") ||
	       !strcmp(t, "sys_user_grmember") || !strcmp(t, "cmdb_ci") ||
	       !strncmp(t, "cmdb_ci_", 8);
}

static bool name_chars(const char *s, bool comma)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || (comma && *s == ',')))
			return false;
	return true;
}

static void enc(char **o, char *end, const char *s)
{
	for (; *s && *o + 4 < end; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-' || ch == '~')
			*(*o)++ = (char)ch;
		else
			*o += snprintf(*o, 4, "%%%02X", ch);
	}
	**o = 0;
}

bool ns_read_page_path(const char *table, const char *query, const char *after, const char *fields,
                       int limit, char *out, size_t outsz, char *msg, size_t msgsz)
{
	if (!*table || strlen(table) > 80 || !name_chars(table, false)) {
		snprintf(msg, msgsz, "bad table name");
		return false;
	}
	if (strlen(after) > 32 || !name_chars(after, false)) {
		snprintf(msg, msgsz, "--after takes a sys_id");
		return false;
	}
	if (strlen(fields) > 2000 || !name_chars(fields, true)) {
		snprintf(msg, msgsz, "--fields takes field names separated by commas");
		return false;
	}
	if (strlen(query) > 4000 || strstr(query, "ORDERBY") || strstr(query, "^NQ")) {
		snprintf(msg, msgsz, "--query cannot hold ORDERBY or ^NQ (paging is by sys_id)%s",
		         strlen(query) > 4000 ? ", and at most 4000 characters" : "");
		return false;
	}
	if (limit < 1 || limit > READ_MAX_PAGE) {
		snprintf(msg, msgsz, "--page is 1-%d", READ_MAX_PAGE);
		return false;
	}
	char q[8400];
	snprintf(q, sizeof(q), "%s%s%s%s^ORDERBYsys_id", query, *query && *after ? "^" : "",
	         *after ? "sys_id>" : "", after);
	char eq[3 * sizeof(q) + 1], *o = eq;
	enc(&o, eq + sizeof(eq), q);
	int n = snprintf(out, outsz,
	                 "/api/now/table/%s?sysparm_query=%s&sysparm_limit=%d"
	                 "&sysparm_exclude_reference_link=true%s%s",
	                 table, eq, limit, *fields ? "&sysparm_fields=sys_id," : "", fields);
	if (n < 0 || (size_t)n >= outsz) {
		snprintf(msg, msgsz, "the request is too long");
		return false;
	}
	return true;
}

/* What a refused read means, by table. */
static const char *read_grant(const char *t)
{
	if (!strncmp(t, "cmdb_ci", 7))
		return "role cmdb_read (or itil), or a read ACL on the class";
	if (!strcmp(t, "task"))
		return ns_diag_grant("task", "read");
	return "any internal user; a read ACL on the table when the base ones were changed";
}

int ns_cmd_read(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"query", required_argument, NULL, 'q'}, {"fields", required_argument, NULL, 'f'},
	    {"page", required_argument, NULL, 'p'},  {"after", required_argument, NULL, 'a'},
	    {"all", no_argument, NULL, 'A'},         {"max", required_argument, NULL, 'm'},
	    {"json", no_argument, NULL, 'j'},        {NULL, 0, NULL, 0},
	};
	const char *query = "", *fields = "", *after = "";
	int page = 100, max = 10000, ch;
	bool all = false, as_json = false;
	optind = 0; /* GNU: re-initialised, options may follow the names */
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 'q':
			query = optarg;
			break;
		case 'f':
			fields = optarg;
			break;
		case 'a':
			after = optarg;
			break;
		case 'A':
			all = true;
			break;
		case 'j':
			as_json = true;
			break;
		case 'p':
		case 'm': {
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > READ_MAX_ROWS) {
				fprintf(stderr, "nowsync: --%s takes a number\n",
				        ch == 'p' ? "page" : "max");
				return NS_EXIT_USAGE;
			}
			*(ch == 'p' ? &page : &max) = (int)v;
			break;
		}
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	const char *name = argv[optind], *table = argv[optind + 1];
	if (!ns_read_table_ok(table)) {
		fprintf(stderr,
		        "nowsync: read takes task, a cmdb_ci class, sys_user, sys_user_group "
		        "or sys_user_grmember\n");
		return NS_EXIT_USAGE;
	}
	char path[32768], msg[256];
	if (!ns_read_page_path(table, query, after, fields, page, path, sizeof(path), msg,
	                       sizeof(msg))) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_USAGE;
	}
	struct ns_connection c;
	sg_err e = ns_state_get(st, name, &c);
	if (e) {
		fprintf(stderr, "nowsync: %s connection %s\n",
		        e == SG_ERR_NO_RECORD ? "no" : "cannot read", name);
		return NS_EXIT_FAILED;
	}
	struct ns_conn *live = ns_conn_new(&c, st);
	struct sg_http_client *http = live ? ns_conn_http(live, 3) : NULL;
	json_t *rows = json_array();
	int rc = NS_EXIT_FAILED;
	char last[40] = "";
	bool more = false, cut = false;
	if (!http || !rows) {
		if (!live)
			ns_connection_clear(&c);
		fprintf(stderr, "nowsync: out of memory\n");
		goto out;
	}
	snprintf(last, sizeof(last), "%s", after);
	for (;;) {
		struct sg_http_response r;
		struct ns_error err;
		sg_http_response_init(&r);
		if (!ns_read_page_path(table, query, last, fields, page, path, sizeof(path), msg,
		                       sizeof(msg)) ||
		    !ns_conn_request(live, http, "GET", path, NULL, &r, &err)) {
			fprintf(stderr, "nowsync: %s\n", *msg ? msg : err.msg);
			sg_http_response_cleanup(&r);
			goto out;
		}
		json_t *doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
		json_t *res = json_object_get(doc, "result");
		if (r.status != 200 || !json_is_array(res)) {
			const char *m = json_string_value(
			    json_object_get(json_object_get(doc, "error"), "message"));
			fprintf(stderr, "nowsync: read %s refused: HTTP %d %s; granted by %s\n",
			        table, r.status, m ? m : "", read_grant(table));
			json_decref(doc);
			sg_http_response_cleanup(&r);
			rc = NS_EXIT_CAPABILITY;
			goto out;
		}
		size_t i, n = json_array_size(res);
		json_t *row;
		json_array_foreach(res, i, row)
		{
			const char *id = json_string_value(json_object_get(row, "sys_id"));
			if (!id || strlen(id) >= sizeof(last) || (*last && strcmp(id, last) <= 0)) {
				fprintf(stderr,
				        "nowsync: the instance did not order %s by sys_id: "
				        "stopped rather than skip or repeat rows\n",
				        table);
				json_decref(doc);
				sg_http_response_cleanup(&r);
				goto out;
			}
			if (json_array_size(rows) >= (size_t)max) {
				cut = true; /* the next read starts after the last row given */
				break;
			}
			snprintf(last, sizeof(last), "%s", id);
			if (json_array_append(rows, row)) {
				fprintf(stderr, "nowsync: out of memory\n");
				json_decref(doc);
				sg_http_response_cleanup(&r);
				goto out;
			}
		}
		json_decref(doc);
		sg_http_response_cleanup(&r);
		more = cut || n == (size_t)page;
		if (!all || !more || cut || json_array_size(rows) >= (size_t)max)
			break;
	}
	if (as_json) {
		json_t *o = json_pack("{s:s, s:O, s:s?}", "table", table, "records", rows, "next",
		                      more ? last : NULL);
		char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			char *s = json_dumps(row, JSON_COMPACT | JSON_SORT_KEYS);
			if (s)
				printf("%s\n", s);
			free(s);
		}
		if (more)
			fprintf(stderr, "next: --after %s\n", last);
	}
	rc = NS_EXIT_OK;
out:
	json_decref(rows);
	sg_http_client_free(http);
	ns_conn_free(live);
	return rc;
usage:
	fprintf(stderr, "usage: nowsync read CONNECTION TABLE [--query Q] [--fields F] [--page N] "
	                "[--after SYS_ID] [--all] [--max N] [--json]\n");
	return NS_EXIT_USAGE;
}
