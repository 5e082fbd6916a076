/*
 * Unit tests for nowsync's delivery (src/nowsync): templates, profiles,
 * the dictionary check, lifecycle decisions, backoff bounds, and the
 * outbox's accept (durable, deduplicated) and order per key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "nowsync/delivery.h"

static const char *PROFILE_TEXT =
    "{\"table\": \"incident\", \"connection\": \"main\","
    " \"fields\": {\"short_description\": \"{{summary}}\","
    "   \"description\": \"{{labels.alertname}} on {{ labels.instance }} ({{labels.port}}, "
    "{{labels.up}}) {{nothing.here}}.\"},"
    " \"defaults\": {\"assignment_group\": \"Network\", \"category\": \"network\", \"impact\": "
    "\"3\"},"
    " \"severity\": {\"critical\": {\"impact\": \"1\", \"urgency\": \"1\"}},"
    " \"correlation\": {\"prefix\": \"am:\", \"key\": \"{{labels.alertname}}/{{key}}\"},"
    " \"lifecycle\": {\"reopen_window\": 600, \"hysteresis\": 30}}";

static void load(struct ns_profile *p)
{
	char msg[256] = "";
	assert_int_equal(
	    ns_profile_parse("t", PROFILE_TEXT, strlen(PROFILE_TEXT), p, msg, sizeof(msg)),
	    SG_ERR_OK);
}

static void test_templates(void **st)
{
	(void)st;
	json_t *fields = json_pack("{s:{s:s, s:s, s:i, s:b}}", "labels", "alertname", "HighCPU",
	                           "instance", "web1", "port", 9100, "up", 0);
	struct ns_tvars v = {.key = "k1",
	                     .status = "firing",
	                     .summary = "CPU high",
	                     .severity = "critical",
	                     .fields = fields};
	char *s = ns_template_render("{{summary}} / {{severity}} / {{status}} / {{key}}", &v);
	assert_string_equal(s, "CPU high / critical / firing / k1");
	free(s);
	s = ns_template_render("{{fields.labels.instance}} {{labels.instance}} {{unclosed", &v);
	assert_string_equal(s, "web1 web1 {{unclosed");
	free(s);
	struct ns_profile p;
	load(&p);
	json_t *body = ns_profile_fields(&p, &v);
	assert_non_null(body);
	assert_string_equal(sg_json_str(body, "short_description"), "CPU high");
	assert_string_equal(sg_json_str(body, "description"), "HighCPU on web1 (9100, false) .");
	/* the severity table over the defaults */
	assert_string_equal(sg_json_str(body, "impact"), "1");
	assert_string_equal(sg_json_str(body, "urgency"), "1");
	assert_string_equal(sg_json_str(body, "category"), "network");
	assert_string_equal(sg_json_str(body, "correlation_id"), "am:HighCPU/k1");
	json_decref(body);
	v.severity = "unknown";
	body = ns_profile_fields(&p, &v);
	assert_string_equal(sg_json_str(body, "impact"), "3");
	assert_null(json_object_get(body, "urgency"));
	json_decref(body);
	/* correlation_id is cut at its 100 characters */
	char longkey[300];
	memset(longkey, 'x', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	v.key = longkey;
	s = ns_profile_correlation(&p, &v);
	assert_int_equal(strlen(s), 100);
	free(s);
	ns_profile_clear(&p);
	json_decref(fields);
}

static void test_profile_errors(void **st)
{
	(void)st;
	static const char *const bad[] = {
	    "[]",
	    "{\"colour\": 1}",
	    "{\"table\": \"Bad Table\"}",
	    "{\"fields\": {\"short description\": \"x\"}}",
	    "{\"fields\": {\"a\": 1}}",
	    "{\"lifecycle\": {\"update_with\": \"email\"}}",
	    "{\"lifecycle\": {\"reopen_window\": -1}}",
	    "{\"delivery\": {\"max_attempts\": 0}}",
	    "{\"severity\": {\"critical\": \"1\"}}",
	    "{\"table\": \"incident\", \"table\": \"problem\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ns_profile p;
		char msg[256] = "";
		assert_int_equal(
		    ns_profile_parse("b", bad[i], strlen(bad[i]), &p, msg, sizeof(msg)),
		    SG_ERR_BAD_PARAM);
		assert_true(msg[0] != '\0');
	}
	struct ns_profile p;
	char msg[256] = "";
	assert_int_equal(ns_profile_parse("d", "{}", 2, &p, msg, sizeof(msg)), SG_ERR_OK);
	assert_string_equal(p.table, "incident");
	assert_string_equal(p.resolved_state, "6");
	assert_string_equal(p.close_code, "Solution provided");
	assert_false(p.update_comments);
	ns_profile_clear(&p);
	/* names outside [A-Za-z0-9_.-] are never opened as files */
	assert_int_equal(ns_profile_load("../etc/passwd", &p, msg, sizeof(msg)), SG_ERR_NO_RECORD);
}

static void test_dict_check(void **st)
{
	(void)st;
	struct ns_dict d = {
	    .fields = json_pack("{s:s, s:s, s:s, s:s}", "short_description", "string", "impact",
	                        "integer", "category", "string", "assignment_group", "reference"),
	    .choices = json_pack("{s:[s,s,s], s:[s,s]}", "impact", "1", "2", "3", "category",
	                         "network", "software"),
	};
	json_t *errs = json_array();
	json_t *body = json_pack("{s:s, s:s, s:s}", "short_description", "anything", "impact", "2",
	                         "category", "");
	assert_true(ns_dict_check(&d, body, errs)); /* an empty value is no choice at all */
	assert_int_equal(json_array_size(errs), 0);
	json_decref(body);
	body = json_pack("{s:s, s:s, s:s}", "impact", "9", "u_nothing", "x", "category", "network");
	assert_false(ns_dict_check(&d, body, errs));
	assert_int_equal(json_array_size(errs), 2);
	char all[512] = "";
	for (size_t i = 0; i < json_array_size(errs); i++)
		strcat(all, json_string_value(json_array_get(errs, i)));
	assert_non_null(strstr(all, "impact: \"9\" is not one of its choices"));
	assert_non_null(strstr(all, "unknown field u_nothing"));
	json_decref(body);
	json_decref(errs);
	ns_dict_clear(&d);
}

static void test_lifecycle(void **st)
{
	(void)st;
	struct ns_profile p;
	load(&p); /* reopen window 600, hysteresis 30 */
	struct ns_link none = {0},
	               open = {.state = NS_LINK_OPEN, .hash = "h1", .last_firing_at = 1000};
	struct ns_link resolved = {.state = NS_LINK_RESOLVED, .resolved_at = 2000};
	struct ns_link closed = {.state = NS_LINK_CLOSED};
	int64_t w = -1;
	/* firing */
	assert_int_equal(ns_lifecycle_decide(&p, &none, NS_EVENT_FIRING, 1, "h", 10, &w),
	                 NS_ACT_CREATE);
	assert_int_equal(ns_lifecycle_decide(&p, &open, NS_EVENT_FIRING, 1100, "h1", 1100, &w),
	                 NS_ACT_NONE); /* a repeat */
	assert_int_equal(ns_lifecycle_decide(&p, &open, NS_EVENT_FIRING, 1100, "h2", 1100, &w),
	                 NS_ACT_UPDATE);
	assert_int_equal(ns_lifecycle_decide(&p, &resolved, NS_EVENT_FIRING, 2100, "h", 2600, &w),
	                 NS_ACT_REOPEN);
	assert_int_equal(ns_lifecycle_decide(&p, &resolved, NS_EVENT_FIRING, 2100, "h", 2601, &w),
	                 NS_ACT_CREATE); /* out of the window */
	assert_int_equal(ns_lifecycle_decide(&p, &closed, NS_EVENT_FIRING, 1, "h", 1, &w),
	                 NS_ACT_CREATE);
	/* clears */
	assert_int_equal(ns_lifecycle_decide(&p, &none, NS_EVENT_RESOLVED, 1, "h", 1, &w),
	                 NS_ACT_NONE);
	assert_int_equal(ns_lifecycle_decide(&p, &resolved, NS_EVENT_RESOLVED, 1, "h", 1, &w),
	                 NS_ACT_NONE);
	assert_int_equal(ns_lifecycle_decide(&p, &open, NS_EVENT_RESOLVED, 1200, "h", 1210, &w),
	                 NS_ACT_WAIT);
	assert_int_equal(w, 1230);
	assert_int_equal(ns_lifecycle_decide(&p, &open, NS_EVENT_RESOLVED, 1200, "h", 1230, &w),
	                 NS_ACT_RESOLVE);
	assert_int_equal(w, 0);
	struct ns_link flapped = open;
	flapped.last_firing_at = 1201; /* fired again after the clear */
	assert_int_equal(ns_lifecycle_decide(&p, &flapped, NS_EVENT_RESOLVED, 1200, "h", 1300, &w),
	                 NS_ACT_NONE);
	p.hysteresis_s = 0;
	assert_int_equal(ns_lifecycle_decide(&p, &open, NS_EVENT_RESOLVED, 1200, "h", 1200, &w),
	                 NS_ACT_RESOLVE);
	ns_profile_clear(&p);
}

static void test_backoff_bounds(void **st)
{
	(void)st;
	struct ns_profile p = {.backoff_base_ms = 500, .backoff_max_ms = 60000};
	for (int n = 1; n < 70; n++) {
		long d = 500;
		for (int i = 1; i < n && d < 60000; i++)
			d *= 2;
		if (d > 60000)
			d = 60000;
		long lo = ns_backoff_ms(&p, n, 0.0), hi = ns_backoff_ms(&p, n, 0.999999);
		assert_true(lo == d / 2);
		assert_true(hi <= d && hi >= d - 1);
		for (int k = 0; k < 50; k++) {
			long b = ns_backoff_ms(&p, n, (double)rand() / ((double)RAND_MAX + 1));
			assert_true(b >= d / 2 && b <= d);
		}
	}
	assert_int_equal(ns_backoff_ms(&p, 1, 2.0), ns_backoff_ms(&p, 1, 0.9999999));
	assert_int_equal(ns_backoff_ms(&p, -5, -1.0), 250);
}

/* ---- the outbox over a real state database ------------------------------------ */

static char dir[256];

static struct ns_state *open_state(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ns-delivery-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char pdir[300];
	snprintf(pdir, sizeof(pdir), "%s/profiles", dir);
	assert_int_equal(mkdir(pdir, 0700), 0);
	ns_profiles_set_dir(pdir);
	char path[400];
	snprintf(path, sizeof(path), "%s/alerts.json", pdir);
	FILE *f = fopen(path, "w");
	fputs(PROFILE_TEXT, f);
	fclose(f);
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
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void accept_one(struct ns_state *s, const char *key, enum ns_event_status status, int64_t t,
                       char id[33], bool *dup)
{
	json_t *fields = json_pack("{s:{s:s}}", "labels", "alertname", "A");
	struct ns_event ev = {.profile = "alerts",
	                      .key = key,
	                      .status = status,
	                      .summary = "s",
	                      .fields = fields,
	                      .occurred_at = t};
	char msg[256];
	assert_int_equal(ns_event_accept(s, &ev, id, dup, msg, sizeof(msg)), SG_ERR_OK);
	json_decref(fields);
}

static void test_accept_and_dedup(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	char id1[33], id2[33], id3[33], msg[256];
	bool dup = true;
	accept_one(s, "k", NS_EVENT_FIRING, 100, id1, &dup);
	assert_false(dup);
	accept_one(s, "k", NS_EVENT_FIRING, 100, id2, &dup);
	assert_true(dup);
	assert_string_equal(id1, id2);
	accept_one(s, "k", NS_EVENT_FIRING, 101, id3, &dup); /* another time: another event */
	assert_false(dup);
	/* without a time no two are the same event */
	accept_one(s, "k", NS_EVENT_FIRING, 0, id2, &dup);
	accept_one(s, "k", NS_EVENT_FIRING, 0, id3, &dup);
	assert_false(dup);
	assert_string_not_equal(id2, id3);
	/* bad input: nothing stored */
	struct ns_event ev = {.profile = "alerts", .key = "", .status = NS_EVENT_FIRING};
	assert_int_equal(ns_event_accept(s, &ev, id1, NULL, msg, sizeof(msg)), SG_ERR_BAD_PARAM);
	ev.key = "k";
	ev.profile = "nope";
	assert_int_equal(ns_event_accept(s, &ev, id1, NULL, msg, sizeof(msg)), SG_ERR_BAD_PARAM);
	assert_non_null(strstr(msg, "no profile called nope"));
	ev.profile = "alerts";
	ev.connection = "other";
	assert_int_equal(ns_event_accept(s, &ev, id1, NULL, msg, sizeof(msg)), SG_ERR_BAD_PARAM);
	assert_non_null(strstr(msg, "no connection called other"));
	long long c[4];
	assert_int_equal(ns_outbox_counts(s, c), SG_ERR_OK);
	assert_int_equal(c[NS_OB_PENDING], 4);
	/* durable: a new process sees them */
	ns_state_close(s);
	char m[256];
	assert_int_equal(ns_state_open(dir, &s, m, sizeof(m)), SG_ERR_OK);
	assert_int_equal(ns_outbox_counts(s, c), SG_ERR_OK);
	assert_int_equal(c[NS_OB_PENDING], 4);
	close_state(s);
}

static void test_order_per_key(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	char a1[33], a2[33], b1[33], a3[33], got[33];
	bool dup;
	accept_one(s, "A", NS_EVENT_FIRING, 1, a1, &dup);
	accept_one(s, "A", NS_EVENT_FIRING, 2, a2, &dup);
	accept_one(s, "B", NS_EVENT_FIRING, 1, b1, &dup);
	accept_one(s, "A", NS_EVENT_RESOLVED, 3, a3, &dup);
	/* A's first and B's first; never A's second while A's first is in flight */
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, a1);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, b1);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, "");
	/* another process on the database: what the first holds under a live
	 * lease is neither recovered nor claimed by it */
	struct ns_state *s1 = s;
	char m[256];
	assert_int_equal(ns_state_open(dir, &s, m, sizeof(m)), SG_ERR_OK);
	assert_string_not_equal(s->owner, s1->owner);
	assert_int_equal(ns_outbox_recover(s), SG_ERR_OK);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, "");
	/* the first stops renewing (it died): its leases run out */
	long long held = 0;
	s1->lease_ms = -1000;
	assert_int_equal(ns_outbox_renew(s1, &held), SG_ERR_OK);
	assert_int_equal(held, 2);
	ns_state_close(s1);
	/* a claim takes an item whose lease ran out, the oldest of its key */
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, a1);
	/* and recovery puts the other back to pending */
	assert_int_equal(ns_outbox_recover(s), SG_ERR_OK);
	long long c0[4];
	assert_int_equal(ns_outbox_counts(s, c0), SG_ERR_OK);
	assert_int_equal(c0[NS_OB_INFLIGHT], 1);
	assert_int_equal(c0[NS_OB_PENDING], 3);
	assert_int_equal(ns_outbox_renew(s, &held), SG_ERR_OK);
	assert_int_equal(held, 1);
	assert_int_equal(ns_outbox_mark(s, a1, "done"), SG_ERR_OK);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, a2);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, b1);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, ""); /* a3 waits for a2 */
	/* a dead letter does not hold its key back; retried, it is pending again */
	assert_int_equal(ns_outbox_mark(s, a2, "dead"), SG_ERR_OK);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, a3);
	assert_int_equal(ns_outbox_retry(s, a1), SG_ERR_NO_RECORD); /* done, not dead */
	assert_int_equal(ns_outbox_retry(s, a2), SG_ERR_OK);
	long long c[4];
	assert_int_equal(ns_outbox_counts(s, c), SG_ERR_OK);
	assert_int_equal(c[NS_OB_PENDING], 1);
	assert_int_equal(c[NS_OB_INFLIGHT], 2);
	assert_int_equal(c[NS_OB_DONE], 1);
	assert_int_equal(c[NS_OB_DEAD], 0);
	close_state(s);
}

static int count_rows(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(ud, 16, "%s", vals[0]);
	return 0;
}

/* A state database of schema version 1 (before leases) opens: the columns
 * are added, and its item left in flight (no lease) is taken back at once. */
static void test_migrate_v1(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	char a1[33], b1[33], got[33], m[256];
	bool dup;
	accept_one(s, "A", NS_EVENT_FIRING, 1, a1, &dup);
	accept_one(s, "B", NS_EVENT_FIRING, 1, b1, &dup);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, a1);
	sg_conn *c = sg_store_conn(s->store);
	assert_int_equal(sg_conn_exec_raw(c, "ALTER TABLE \"ns_event\" DROP COLUMN \"claimed_by\""),
	                 SG_ERR_OK);
	assert_int_equal(
	    sg_conn_exec_raw(c, "ALTER TABLE \"ns_event\" DROP COLUMN \"lease_until\""), SG_ERR_OK);
	assert_int_equal(sg_conn_exec_raw(c, "UPDATE \"ns_meta\" SET \"value\" = '1' WHERE "
	                                     "\"name\" = 'schema_version'"),
	                 SG_ERR_OK);
	ns_state_close(s);
	assert_int_equal(ns_state_open(dir, &s, m, sizeof(m)), SG_ERR_OK);
	char vers[16] = "";
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"value\" FROM \"ns_meta\" WHERE \"name\" = 'schema_version'");
	assert_int_equal(sg_conn_exec(sg_store_conn(s->store), &q, count_rows, vers, NULL),
	                 SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_string_equal(vers, "2");
	assert_int_equal(ns_outbox_recover(s), SG_ERR_OK);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, a1);
	assert_int_equal(ns_outbox_claim(s, got), SG_ERR_OK);
	assert_string_equal(got, b1);
	long long held = 0;
	assert_int_equal(ns_outbox_renew(s, &held), SG_ERR_OK);
	assert_int_equal(held, 2);
	close_state(s);
}

int main(void)
{
	sg_log_set_level(SG_LOG_ERROR);
	setenv("NOWSYNC_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_templates),      cmocka_unit_test(test_profile_errors),
	    cmocka_unit_test(test_dict_check),     cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_backoff_bounds), cmocka_unit_test(test_accept_and_dedup),
	    cmocka_unit_test(test_order_per_key),  cmocka_unit_test(test_migrate_v1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
