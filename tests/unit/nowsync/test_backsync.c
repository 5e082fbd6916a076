/*
 * Unit tests for nowsync's back-sync (src/nowsync/backsync.c): times, the
 * keyset queries of both shapes, filters, closed states, the dedup and echo
 * verdicts, and the push receiver over a real state database (validation,
 * a table with no back-sync, queued, duplicate, stale, echo of nowsync's own
 * write, linked-only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nowsync/backsync.h"
#include "nowsync/delivery.h"

static void test_times(void **state)
{
	(void)state;
	int64_t t;
	assert_true(ns_bs_parse_time("2024-05-01 10:00:59", &t));
	assert_int_equal(t, 1714557659);
	char out[NS_BS_TIME_LEN + 1];
	ns_bs_format_time(t, out);
	assert_string_equal(out, "2024-05-01 10:00:59");
	ns_bs_format_time(t + 1, out);
	assert_string_equal(out, "2024-05-01 10:01:00");
	assert_true(ns_bs_parse_time("1970-01-01 00:00:00", &t));
	assert_int_equal(t, 0);
	const char *bad[] = {"",
	                     "2024-05-01",
	                     "2024-05-01T10:00:00",
	                     "2024-13-01 10:00:00",
	                     "2024-05-01 24:00:00",
	                     "2024-05-01 10:00:00Z",
	                     "1969-12-31 23:59:59",
	                     "2024-05-01 10:00:0x",
	                     NULL};
	for (const char **b = bad; *b; b++)
		assert_false(ns_bs_parse_time(*b, &t));
	assert_false(ns_bs_parse_time(NULL, &t));
}

static void test_queries(void **state)
{
	(void)state;
	char *q = ns_bs_query(NULL, "2024-05-01 10:00:00", NULL, "2024-05-01 10:05:00");
	assert_string_equal(q, "sys_updated_on>2024-05-01 10:00:00^sys_updated_on<=2024-05-01 "
	                       "10:05:00^ORDERBYsys_updated_on^ORDERBYsys_id");
	free(q);
	/* the rest of one second, after a sys_id */
	q = ns_bs_query("", "2024-05-01 10:00:00", "0a1b", "2024-05-01 10:05:00");
	assert_string_equal(q, "sys_updated_on=2024-05-01 10:00:00^sys_id>0a1b^ORDERBYsys_id");
	free(q);
	/* a filter goes first, so its OR group closes before the keyset */
	q = ns_bs_query("priority=1^ORpriority=2", "2024-05-01 10:00:00", "",
	                "2024-05-01 10:05:00");
	assert_string_equal(q, "priority=1^ORpriority=2^sys_updated_on>2024-05-01 "
	                       "10:00:00^sys_updated_on<=2024-05-01 "
	                       "10:05:00^ORDERBYsys_updated_on^ORDERBYsys_id");
	free(q);
	assert_true(ns_bs_filter_ok(NULL));
	assert_true(ns_bs_filter_ok("active=true^priority<3"));
	assert_false(ns_bs_filter_ok("active=true^ORDERBYnumber"));
	assert_false(ns_bs_filter_ok("active=true^NQpriority=1"));
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(ns_bs_filter_ok(big));
}

static void test_closed_and_verdicts(void **state)
{
	(void)state;
	assert_true(ns_bs_closed("6,7,8", "6"));
	assert_true(ns_bs_closed("6,7,8", "8"));
	assert_false(ns_bs_closed("6,7,8", "2"));
	assert_false(ns_bs_closed("6,7,8", "67"));
	assert_false(ns_bs_closed("6,7,8", ""));
	assert_false(ns_bs_closed("", "6"));
	assert_true(ns_bs_closed("closed_complete", "closed_complete"));
	assert_int_equal(ns_bs_decide(-1, 0, false), NS_BS_DELIVER);
	assert_int_equal(ns_bs_decide(3, 4, false), NS_BS_DELIVER);
	assert_int_equal(ns_bs_decide(4, 4, false), NS_BS_DUPLICATE);
	assert_int_equal(ns_bs_decide(5, 4, false), NS_BS_DUPLICATE); /* stale */
	assert_int_equal(ns_bs_decide(3, 4, true), NS_BS_ECHO);
	assert_int_equal(ns_bs_decide(4, 4, true), NS_BS_DUPLICATE);
}

/* ---- the push receiver over a real state ------------------------------------------ */

static char dir[256];

static struct ns_state *open_state(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ns-backsync-XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct ns_state *s = NULL;
	char msg[256];
	assert_int_equal(ns_state_open(dir, &s, msg, sizeof(msg)), SG_ERR_OK);
	struct ns_connection c = {.name = "main",
	                          .instance = "http://127.0.0.1:9",
	                          .auth = NS_AUTH_BASIC,
	                          .user = "u",
	                          .password = "p"};
	assert_int_equal(ns_state_add(s, &c), SG_ERR_OK);
	return s;
}

static void close_state(struct ns_state *s)
{
	ns_state_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static int push(struct ns_state *s, const char *conn, const char *text, json_t **answer)
{
	json_t *root = json_loads(text, 0, NULL);
	assert_non_null(root);
	int st = ns_backsync_push(s, NULL, conn, root, answer);
	json_decref(root);
	return st;
}

static const char *detail(json_t *a)
{
	return json_string_value(json_object_get(json_object_get(a, "error"), "detail"));
}

static long long num(json_t *a, const char *k)
{
	return json_integer_value(json_object_get(a, k));
}

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

static void add_backsync(struct ns_state *s, bool all)
{
	char out[300];
	snprintf(out, sizeof(out), "%s/out.ndjson", dir);
	char *argv[] = {"add", "main", "--ndjson", out, all ? "--all-records" : "--lag", "1", NULL};
	int argc = all ? 5 : 6;
	assert_int_equal(ns_cmd_backsync(s, argc, argv), 0);
}

static void test_push_validation(void **state)
{
	(void)state;
	struct ns_state *s = open_state();
	json_t *a = NULL;
	/* no back-sync yet */
	assert_int_equal(push(s, "main",
	                      "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	                      "\",\"sys_mod_count\":1,\"sys_updated_on\":\"2024-05-01 10:00:00\"}}",
	                      &a),
	                 400);
	assert_non_null(strstr(detail(a), "no back-sync of table incident on connection main"));
	json_decref(a);
	add_backsync(s, true);
	struct {
		const char *conn, *body, *words;
	} bad[] = {
	    {"main", "[]", "between 1 and 1000"},
	    {"main", "{\"record\":{}}", "changes[0].table: missing"},
	    {"main", "{\"table\":\"incident\"}", "changes[0].record: missing"},
	    {"main", "{\"table\":\"incident\",\"record\":{\"sys_id\":\"x\"}}",
	     "changes[0].record.sys_id"},
	    {"main", "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1 "\"}}",
	     "changes[0].record.sys_mod_count"},
	    {"main",
	     "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	     "\",\"sys_mod_count\":\"2\",\"sys_updated_on\":\"yesterday\"}}",
	     "changes[0].record.sys_updated_on"},
	    {NULL, "{\"table\":\"incident\",\"record\":{}}", "connection: missing"},
	    {"main", "[1]", "changes[0]: not an object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(push(s, bad[i].conn, bad[i].body, &a), 400);
		if (!strstr(detail(a), bad[i].words))
			fail_msg("%s: %s", bad[i].body, detail(a));
		json_decref(a);
	}
	close_state(s);
}

static void test_push_dedup_and_echo(void **state)
{
	(void)state;
	struct ns_state *s = open_state();
	add_backsync(s, true);
	json_t *a = NULL;
	const char *v1 = "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	                 "\",\"sys_mod_count\":\"1\",\"sys_updated_on\":\"2024-05-01 "
	                 "10:00:00\",\"state\":\"2\"}}";
	assert_int_equal(push(s, "main", v1, &a), 202);
	assert_int_equal(num(a, "queued"), 1);
	json_decref(a);
	assert_int_equal(push(s, "main", v1, &a), 202); /* the same version again */
	assert_int_equal(num(a, "queued"), 0);
	assert_int_equal(num(a, "duplicates"), 1);
	json_decref(a);
	/* nowsync's own write produced version 2: not echoed; version 3 is someone's */
	json_t *own = json_pack("{s:s, s:s}", "sys_id", ID1, "sys_mod_count", "2");
	ns_backsync_own(sg_store_conn(s->store), "main", "incident", own);
	json_decref(own);
	assert_int_equal(
	    push(s, "main",
	         "[{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	         "\",\"sys_mod_count\":2,\"sys_updated_on\":\"2024-05-01 10:00:01\"}},"
	         "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	         "\",\"sys_mod_count\":3,\"sys_updated_on\":\"2024-05-01 "
	         "10:00:02\",\"state\":\"7\"}},"
	         "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	         "\",\"sys_mod_count\":1,\"sys_updated_on\":\"2024-05-01 10:00:00\"}}]",
	         &a),
	    202);
	assert_int_equal(num(a, "echoes"), 1);
	assert_int_equal(num(a, "queued"), 1);
	assert_int_equal(num(a, "duplicates"), 1); /* the stale version 1 */
	json_decref(a);
	close_state(s);
}

/* A push that reaches nowsync before the answer to its own write of the record
 * (the instance's rule is quicker than the PATCH's answer): held back with 503
 * until the version is known, then an echo; someone else's version is queued. */
static void test_push_during_own_write(void **state)
{
	(void)state;
	struct ns_state *s = open_state();
	add_backsync(s, true);
	sg_conn *db = sg_store_conn(s->store);
	json_t *a = NULL;
	const char *v4 = "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	                 "\",\"sys_mod_count\":4,\"sys_updated_on\":\"2024-05-01 10:00:04\"}}";
	const char *v5 = "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	                 "\",\"sys_mod_count\":5,\"sys_updated_on\":\"2024-05-01 10:00:05\"}}";
	ns_backsync_own_pending(db, "main", "incident", ID1, true);
	assert_int_equal(push(s, "main", v4, &a), 503);
	assert_non_null(strstr(detail(a), "own write"));
	json_decref(a);
	/* another record is not held back */
	assert_int_equal(push(s, "main",
	                      "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID2
	                      "\",\"sys_mod_count\":1,\"sys_updated_on\":\"2024-05-01 10:00:04\"}}",
	                      &a),
	                 202);
	assert_int_equal(num(a, "queued"), 1);
	json_decref(a);
	/* the answer: version 4 was nowsync's */
	json_t *own = json_pack("{s:s, s:i}", "sys_id", ID1, "sys_mod_count", 4);
	ns_backsync_own(db, "main", "incident", own);
	json_decref(own);
	ns_backsync_own_pending(db, "main", "incident", ID1, false);
	assert_int_equal(push(s, "main", v4, &a), 202); /* sent again */
	assert_int_equal(num(a, "echoes"), 1);
	assert_int_equal(num(a, "queued"), 0);
	json_decref(a);
	assert_int_equal(push(s, "main", v5, &a), 202);
	assert_int_equal(num(a, "queued"), 1);
	json_decref(a);
	close_state(s);
}

static void test_push_linked_only(void **state)
{
	(void)state;
	struct ns_state *s = open_state();
	add_backsync(s, false);
	sg_conn *db = sg_store_conn(s->store);
	assert_int_equal(
	    sg_conn_exec_raw(db, "INSERT INTO \"ns_link\" (\"connection\", \"profile\", "
	                         "\"ekey\", \"state\", \"sys_id\", \"updated_at\") "
	                         "VALUES ('main', 'alerts', 'disk', 'open', '" ID2 "', 0)"),
	    SG_ERR_OK);
	json_t *a = NULL;
	assert_int_equal(
	    push(s, "main",
	         "[{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID1
	         "\",\"sys_mod_count\":1,\"sys_updated_on\":\"2024-05-01 10:00:00\"}},"
	         "{\"table\":\"incident\",\"record\":{\"sys_id\":\"" ID2
	         "\",\"sys_mod_count\":1,\"sys_updated_on\":\"2024-05-01 10:00:00\"}}]",
	         &a),
	    202);
	assert_int_equal(num(a, "not_linked"), 1);
	assert_int_equal(num(a, "queued"), 1);
	json_decref(a);
	char *body = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"body\" FROM \"ns_bs_out\"");
	assert_int_equal(sg_conn_query_string(db, &q, &body), SG_ERR_OK);
	sg_sql_cleanup(&q);
	json_t *ev = json_loads(body, 0, NULL);
	free(body);
	assert_string_equal(json_string_value(json_object_get(ev, "key")), "disk");
	assert_string_equal(json_string_value(json_object_get(ev, "profile")), "alerts");
	assert_string_equal(json_string_value(json_object_get(ev, "sys_id")), ID2);
	assert_string_equal(json_string_value(json_object_get(ev, "source")), "push");
	assert_int_equal(strlen(json_string_value(json_object_get(ev, "delivery_id"))), 32);
	json_decref(ev);
	close_state(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_queries),
	    cmocka_unit_test(test_closed_and_verdicts),
	    cmocka_unit_test(test_push_validation),
	    cmocka_unit_test(test_push_dedup_and_echo),
	    cmocka_unit_test(test_push_during_own_write),
	    cmocka_unit_test(test_push_linked_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
