/*
 * Unit tests for nowsync's operations side (ops.h): log levels, the
 * metrics' exposition text (labels escaped, every series typed), and the
 * request journal's bound per key as trace reads it.
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

#include "core/json.h"
#include "core/log.h"
#include "nowsync/delivery.h"
#include "nowsync/ops.h"

static void test_levels(void **st)
{
	(void)st;
	enum ns_log_level l;
	assert_true(ns_log_parse_level("debug", &l) && l == NS_LOG_DEBUG);
	assert_true(ns_log_parse_level("warning", &l) && l == NS_LOG_WARN);
	assert_true(ns_log_parse_level("error", &l) && l == NS_LOG_ERROR);
	assert_false(ns_log_parse_level("loud", &l));
	assert_false(ns_log_parse_level(NULL, &l));
	ns_log_set_level(NS_LOG_WARN);
	assert_false(ns_log_enabled(NS_LOG_INFO));
	assert_true(ns_log_enabled(NS_LOG_ERROR));
	ns_logj(NS_LOG_INFO, "not written", json_pack("{s:s}", "a", "b")); /* freed, not leaked */
}

static char dir[256];

static struct ns_state *open_state(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ns-ops-XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct ns_state *s = NULL;
	char msg[256];
	assert_int_equal(ns_state_open(dir, &s, msg, sizeof(msg)), SG_ERR_OK);
	return s;
}

static void close_state(struct ns_state *s)
{
	ns_state_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_metrics_text(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	ns_metric_events("generic", NS_EV_ACCEPTED, 3);
	ns_metric_events("generic", NS_EV_ACCEPTED, 2);
	ns_metric_events("alertmanager", NS_EV_REFUSED, 1);
	ns_metric_request("we\"ird\\na\nme", 201);
	ns_metric_request("main", 429);
	ns_metric_request("main", 0);
	ns_metric_retry("main");
	ns_metric_token("main", true);
	char *t = ns_metrics_text(s);
	assert_non_null(t);
	assert_non_null(
	    strstr(t, "nowsync_events_total{source=\"generic\",result=\"accepted\"} 5\n"));
	assert_non_null(
	    strstr(t, "nowsync_events_total{source=\"alertmanager\",result=\"refused\"} 1\n"));
	assert_non_null(strstr(
	    t, "nowsync_requests_total{connection=\"we\\\"ird\\\\na\\nme\",class=\"2xx\"} 1\n"));
	assert_non_null(strstr(t, "nowsync_requests_total{connection=\"main\",class=\"4xx\"} 1\n"));
	assert_non_null(
	    strstr(t, "nowsync_requests_total{connection=\"main\",class=\"none\"} 1\n"));
	assert_non_null(strstr(t, "nowsync_retries_total{connection=\"main\"} 1\n"));
	assert_non_null(
	    strstr(t, "nowsync_token_refreshes_total{connection=\"main\",result=\"ok\"} 1\n"));
	assert_non_null(strstr(t, "nowsync_outbox_items{state=\"pending\"} 0\n"));
	assert_non_null(strstr(t, "nowsync_outbox_oldest_pending_seconds 0\n"));
	assert_non_null(strstr(t, "nowsync_state_up 1\n"));
	/* every sample line follows a TYPE of its family */
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		assert_int_equal(strncmp(line, "nowsync_", 8), 0);
	}
	free(t);
	close_state(s);
}

static void test_journal_bound(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	for (int i = 0; i < NS_JOURNAL_PER_KEY + 20; i++) {
		char d[32];
		snprintf(d, sizeof(d), "row %d", i);
		struct ns_jrow r = {.conn = "main",
		                    .profile = "alerts",
		                    .key = "k1",
		                    .event_id = "e",
		                    .kind = "request",
		                    .method = "GET",
		                    .path = "/api/now/table/incident",
		                    .status = 200,
		                    .detail = d};
		ns_journal_add(s, &r);
	}
	struct ns_jrow other = {
	    .conn = "main", .profile = "alerts", .key = "k2", .kind = "decision", .detail = "x"};
	ns_journal_add(s, &other);
	struct ns_trace_key k = {.key = "k1"};
	sg_err e;
	json_t *t = ns_trace_build(s, &k, &e);
	assert_non_null(t);
	json_t *en = json_object_get(t, "entries");
	assert_int_equal(json_array_size(en), NS_JOURNAL_PER_KEY);
	/* the oldest rows went: the first left is row 20, the last row 519 */
	assert_string_equal(sg_json_str(json_array_get(en, 0), "detail"), "row 20");
	char last[32];
	snprintf(last, sizeof(last), "row %d", NS_JOURNAL_PER_KEY + 19);
	assert_string_equal(sg_json_str(json_array_get(en, NS_JOURNAL_PER_KEY - 1), "detail"),
	                    last);
	json_decref(t);
	/* another key is apart; a key in another profile is not mixed in */
	struct ns_trace_key k2 = {.key = "k2", .profile = "other"};
	t = ns_trace_build(s, &k2, &e);
	assert_int_equal(json_array_size(json_object_get(t, "entries")), 0);
	json_decref(t);
	close_state(s);
}

int main(void)
{
	sg_log_set_level(SG_LOG_ERROR);
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_metrics_text),
	    cmocka_unit_test(test_journal_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
