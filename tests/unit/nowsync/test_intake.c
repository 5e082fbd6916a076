/*
 * Unit tests for nowsync's intake parsers (src/nowsync/intake.c): the
 * generic event (one, a batch, every malformed field), Alertmanager's
 * webhook payload (version 4; keys from the fingerprint, from labels, from
 * key_labels; malformed payloads), RFC 3339 times, and the intake tokens
 * (token.c) in a real state database.
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

#include "core/buf.h"
#include "nowsync/intake.h"

static const struct ns_intake_ctx unbound = {.source = "generic"};
static const struct ns_intake_ctx bound = {
    .connection = "main", .profile = "alerts", .source = "generic"};

static json_t *load(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
	if (!j)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	return j;
}

/* Parses text as a generic payload with ctx; returns whether it parsed;
 * err gets the message. */
static bool generic(const char *text, const struct ns_intake_ctx *ctx, struct ns_parsed *p,
                    char *err)
{
	json_t *j = load(text);
	bool ok = ns_parse_generic(j, ctx, p, err, 512);
	json_decref(j);
	return ok;
}

static void expect_generic_error(const char *text, const struct ns_intake_ctx *ctx,
                                 const char *prefix)
{
	struct ns_parsed p;
	char err[512];
	if (generic(text, ctx, &p, err)) {
		ns_parsed_free(&p);
		fail_msg("accepted: %s", text);
	}
	assert_int_equal(p.n, 0);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("for %s\n  got      %s\n  expected %s...", text, err, prefix);
}

static void test_generic_one(void **state)
{
	(void)state;
	struct ns_parsed p;
	char err[512];
	assert_true(generic("{\"key\":\"db1/disk\",\"status\":\"firing\",\"summary\":\"Disk full\","
	                    "\"severity\":\"critical\",\"occurred_at\":\"2024-05-01T10:00:00Z\","
	                    "\"labels\":{\"instance\":\"db1\"},\"fields\":{\"team\":\"dba\"},"
	                    "\"connection\":\"main\",\"profile\":\"alerts\"}",
	                    &unbound, &p, err));
	assert_int_equal(p.n, 1);
	const struct ns_event *ev = &p.v[0].ev;
	assert_string_equal(ev->key, "db1/disk");
	assert_int_equal(ev->status, NS_EVENT_FIRING);
	assert_string_equal(ev->summary, "Disk full");
	assert_string_equal(ev->severity, "critical");
	assert_int_equal(ev->occurred_at, 1714557600);
	assert_string_equal(ev->connection, "main");
	assert_string_equal(ev->profile, "alerts");
	assert_string_equal(ev->source, "generic");
	/* the templates read the event as sent, less where it goes */
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(ev->fields, "labels"), "instance")),
	    "db1");
	assert_null(json_object_get(ev->fields, "connection"));
	assert_null(json_object_get(ev->fields, "profile"));
	ns_parsed_free(&p);

	/* bound by the token: no connection/profile needed; epoch and integer severity */
	assert_true(generic("{\"key\":\"k\",\"status\":\"resolved\",\"occurred_at\":1714557600,"
	                    "\"severity\":2}",
	                    &bound, &p, err));
	assert_int_equal(p.v[0].ev.status, NS_EVENT_RESOLVED);
	assert_int_equal(p.v[0].ev.occurred_at, 1714557600);
	assert_string_equal(p.v[0].ev.severity, "2");
	assert_string_equal(p.v[0].ev.connection, "main");
	assert_null(p.v[0].ev.summary);
	ns_parsed_free(&p);
	/* naming the bound ones again is fine */
	assert_true(generic("{\"key\":\"k\",\"status\":\"firing\",\"connection\":\"main\"}", &bound,
	                    &p, err));
	ns_parsed_free(&p);
}

static void test_generic_batch(void **state)
{
	(void)state;
	struct ns_parsed p;
	char err[512];
	assert_true(generic("[{\"key\":\"a\",\"status\":\"firing\"},{\"key\":\"b\",\"status\":"
	                    "\"resolved\",\"occurred_at\":1.5e9}]",
	                    &bound, &p, err));
	assert_int_equal(p.n, 2);
	assert_string_equal(p.v[1].ev.key, "b");
	assert_int_equal(p.v[1].ev.occurred_at, 1500000000);
	ns_parsed_free(&p);
	/* one bad event refuses the whole batch, naming it */
	expect_generic_error("[{\"key\":\"a\",\"status\":\"firing\"},{\"key\":\"b\"}]", &bound,
	                     "events[1].status: required");
	expect_generic_error("[]", &bound, "events: an array of 1-1000");
	struct sg_buf b;
	sg_buf_init(&b, 1 << 20);
	sg_buf_puts(&b, "[");
	for (int i = 0; i <= NS_INTAKE_MAX_EVENTS; i++)
		sg_buf_puts(&b, i ? ",{\"key\":\"k\",\"status\":\"firing\"}"
		                  : "{\"key\":\"k\",\"status\":\"firing\"}");
	sg_buf_puts(&b, "]");
	expect_generic_error(sg_buf_str(&b), &bound, "events: an array of 1-1000");
	sg_buf_cleanup(&b);
}

static void test_generic_malformed(void **state)
{
	(void)state;
	expect_generic_error("\"text\"", &bound, "body: a JSON event object");
	expect_generic_error("[1]", &bound, "events[0]: an event is a JSON object");
	expect_generic_error("{\"status\":\"firing\"}", &bound, "key: required");
	expect_generic_error("{\"key\":\"\",\"status\":\"firing\"}", &bound, "key: required");
	expect_generic_error("{\"key\":7,\"status\":\"firing\"}", &bound, "key: required");
	expect_generic_error("{\"key\":\"a\\nb\",\"status\":\"firing\"}", &bound, "key: required");
	char longkey[700];
	snprintf(longkey, sizeof(longkey), "{\"key\":\"%0600d\",\"status\":\"firing\"}", 0);
	expect_generic_error(longkey, &bound, "key: required");
	expect_generic_error("{\"key\":\"a\",\"status\":\"open\"}", &bound, "status: required");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"summary\":5}", &bound,
	                     "summary: a string");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"severity\":[1]}", &bound,
	                     "severity: ");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"occurred_at\":\"yesterday\"}",
	                     &bound, "occurred_at: an RFC 3339");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"occurred_at\":-5}", &bound,
	                     "occurred_at: an RFC 3339");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"labels\":[]}", &bound,
	                     "labels: an object");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"fields\":\"x\"}", &bound,
	                     "fields: an object");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"sumary\":\"typo\"}", &bound,
	                     "sumary: unknown field");
	/* no connection is fine (the profile's is used); no profile is not */
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\"}", &unbound,
	                     "profile: required");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"connection\":\"main\"}",
	                     &unbound, "profile: required");
	expect_generic_error("{\"key\":\"a\",\"status\":\"firing\",\"connection\":\"other\"}",
	                     &bound, "connection: this token is bound to connection main");
	expect_generic_error(
	    "{\"key\":\"a\",\"status\":\"firing\",\"connection\":\"../x\",\"profile\":\"p\"}",
	    &unbound, "connection: must be a name");
}

static void test_rfc3339(void **state)
{
	(void)state;
	int64_t t;
	assert_true(ns_parse_rfc3339("1970-01-01T00:00:00Z", &t));
	assert_int_equal(t, 0);
	assert_true(ns_parse_rfc3339("2024-05-01T10:00:00Z", &t));
	assert_int_equal(t, 1714557600);
	assert_true(ns_parse_rfc3339("2024-05-01T12:00:00.739266876+02:00", &t));
	assert_int_equal(t, 1714557600);
	assert_true(ns_parse_rfc3339("2024-05-01t05:30:00-04:30", &t));
	assert_int_equal(t, 1714557600);
	assert_true(ns_parse_rfc3339("2024-02-29T00:00:00Z", &t));
	assert_true(ns_parse_rfc3339("0001-01-01T00:00:00Z", &t)); /* Go's zero time */
	assert_int_equal(t, 0);
	const char *bad[] = {"2024-05-01",
	                     "2024-05-01T10:00:00",
	                     "2024-13-01T00:00:00Z",
	                     "2023-02-29T00:00:00Z",
	                     "2024-05-01T24:00:00Z",
	                     "2024-05-01T10:00:00.Z",
	                     "2024-05-01T10:00:00+0200",
	                     "2024-05-01T10:00:00Zjunk",
	                     "yesterday",
	                     ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ns_parse_rfc3339(bad[i], &t))
			fail_msg("accepted %s", bad[i]);
}

/* ---- Alertmanager ---------------------------------------------------------------------- */

static const char AM[] =
    "{\"receiver\":\"nowsync\",\"status\":\"firing\",\"alerts\":["
    "{\"status\":\"firing\",\"labels\":{\"alertname\":\"ProbeFailure\",\"instance\":\"web1\","
    "\"severity\":\"critical\"},\"annotations\":{\"summary\":\"web1 down\"},"
    "\"startsAt\":\"2024-05-01T10:00:00.5Z\",\"endsAt\":\"2024-05-01T10:04:00Z\","
    "\"generatorURL\":\"http://prom:9090/graph\",\"fingerprint\":\"1a30ba71cca2921f\"},"
    "{\"status\":\"resolved\",\"labels\":{\"alertname\":\"DiskFull\",\"instance\":\"db1\"},"
    "\"annotations\":{\"description\":\"disk\"},\"startsAt\":\"2024-05-01T09:00:00Z\","
    "\"endsAt\":\"2024-05-01T10:00:00Z\",\"generatorURL\":\"\",\"fingerprint\":\"ffee\"}],"
    "\"groupLabels\":{\"alertname\":\"ProbeFailure\"},\"commonLabels\":{},"
    "\"commonAnnotations\":{},\"externalURL\":\"http://am:9093\",\"version\":\"4\","
    "\"groupKey\":\"{}:{alertname=\\\"ProbeFailure\\\"}\",\"truncatedAlerts\":0}";

static bool am(const char *text, const struct ns_intake_ctx *ctx, struct ns_parsed *p, char *err)
{
	json_t *j = load(text);
	bool ok = ns_parse_alertmanager(j, ctx, p, err, 512);
	json_decref(j);
	return ok;
}

static void test_alertmanager(void **state)
{
	(void)state;
	struct ns_parsed p;
	char err[512];
	assert_true(am(AM, &bound, &p, err));
	assert_int_equal(p.n, 2);
	const struct ns_event *a = &p.v[0].ev, *b = &p.v[1].ev;
	assert_string_equal(a->key, "1a30ba71cca2921f");
	assert_int_equal(a->status, NS_EVENT_FIRING);
	assert_int_equal(a->occurred_at, 1714557600); /* startsAt */
	assert_string_equal(a->summary, "web1 down");
	assert_string_equal(a->severity, "critical");
	assert_string_equal(a->source, "alertmanager");
	/* a firing alert's endsAt moves on every re-send: not in the fields */
	assert_null(json_object_get(a->fields, "endsAt"));
	assert_string_equal(json_string_value(json_object_get(a->fields, "groupKey")),
	                    "{}:{alertname=\"ProbeFailure\"}");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(a->fields, "labels"), "instance")),
	    "web1");
	assert_string_equal(b->key, "ffee");
	assert_int_equal(b->status, NS_EVENT_RESOLVED);
	assert_int_equal(b->occurred_at, 1714557600); /* endsAt */
	assert_string_equal(b->summary, "disk");      /* description when no summary */
	assert_null(b->severity);
	assert_non_null(json_object_get(b->fields, "endsAt"));
	ns_parsed_free(&p);

	/* key from named labels */
	struct ns_intake_ctx kl = bound;
	kl.key_labels = "alertname,instance";
	assert_true(am(AM, &kl, &p, err));
	assert_string_equal(p.v[0].ev.key, "alertname=ProbeFailure,instance=web1");
	assert_string_equal(p.v[1].ev.key, "alertname=DiskFull,instance=db1");
	ns_parsed_free(&p);

	/* no fingerprint (Alertmanager before 0.19): a hash of the labels, in any order */
	const char *nofp1 = "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":"
	                    "{\"a\":\"1\",\"b\":\"2\"},\"startsAt\":\"2024-05-01T10:00:00Z\"}]}";
	const char *nofp2 = "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":"
	                    "{\"b\":\"2\",\"a\":\"1\"},\"startsAt\":\"2024-05-01T10:00:00Z\"}]}";
	struct ns_parsed q;
	assert_true(am(nofp1, &bound, &p, err));
	assert_true(am(nofp2, &bound, &q, err));
	assert_memory_equal(p.v[0].ev.key, "labels:", 7);
	assert_string_equal(p.v[0].ev.key, q.v[0].ev.key);
	assert_null(p.v[0].ev.summary); /* no summary, description nor alertname */
	ns_parsed_free(&p);
	ns_parsed_free(&q);
	/* an empty group is no error */
	assert_true(am("{\"version\":\"4\",\"alerts\":[]}", &bound, &p, err));
	assert_int_equal(p.n, 0);
	ns_parsed_free(&p);
}

static void expect_am_error(const char *text, const struct ns_intake_ctx *ctx, const char *prefix)
{
	struct ns_parsed p;
	char err[512];
	if (am(text, ctx, &p, err)) {
		ns_parsed_free(&p);
		fail_msg("accepted: %s", text);
	}
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("for %s\n  got      %s\n  expected %s...", text, err, prefix);
}

static void test_alertmanager_malformed(void **state)
{
	(void)state;
	expect_am_error("[]", &bound, "body: an Alertmanager webhook payload");
	expect_am_error("{\"version\":\"3\",\"alerts\":[]}", &bound, "version: only version \"4\"");
	expect_am_error("{\"version\":4,\"alerts\":[]}", &bound, "version: ");
	expect_am_error("{\"version\":\"4\"}", &bound, "alerts: required");
	expect_am_error("{\"alerts\":{}}", &bound, "alerts: required");
	expect_am_error("{\"alerts\":[7]}", &bound, "alerts[0]: an alert is a JSON object");
	expect_am_error("{\"alerts\":[{\"labels\":{\"a\":\"1\"}}]}", &bound,
	                "alerts[0].status: required");
	expect_am_error("{\"alerts\":[{\"status\":\"pending\",\"labels\":{\"a\":\"1\"}}]}", &bound,
	                "alerts[0].status: required");
	expect_am_error("{\"alerts\":[{\"status\":\"firing\"}]}", &bound,
	                "alerts[0].labels: required");
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{}}]}", &bound,
	                "alerts[0].labels: required");
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":1}}]}", &bound,
	                "alerts[0].labels.a: a label's value is a string");
	expect_am_error(
	    "{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\"},\"annotations\":[]}]}",
	    &bound, "alerts[0].annotations: an object");
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\"},"
	                "\"startsAt\":\"today\"}]}",
	                &bound, "alerts[0].startsAt: an RFC 3339");
	expect_am_error("{\"alerts\":[{\"status\":\"resolved\",\"labels\":{\"a\":\"1\"},"
	                "\"endsAt\":5}]}",
	                &bound, "alerts[0].endsAt: an RFC 3339");
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\"},"
	                "\"fingerprint\":[]}]}",
	                &bound, "alerts[0].fingerprint: a string");
	expect_am_error("{\"groupKey\":5,\"alerts\":[]}", &bound, "groupKey: a string");
	/* the Alertmanager endpoint's events cannot name a profile: the token binds it */
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\"}}]}", &unbound,
	                "alerts[0].profile: required");
	struct ns_intake_ctx kl = bound;
	kl.key_labels = "a,missing";
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\"}}]}", &kl,
	                "alerts[0].labels.missing: missing");
	kl.key_labels = "a,,b";
	expect_am_error("{\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"1\"}}]}", &kl,
	                "key_labels: a comma-separated list");
}

/* ---- tokens ------------------------------------------------------------------------------ */

static char tmpdir[] = "/tmp/ns-intake-unit-XXXXXX";

static void count_token(void *ud, const struct ns_token_info *t)
{
	(void)t;
	(*(int *)ud)++;
}

static void test_tokens(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	struct ns_state *st;
	char msg[256];
	assert_int_equal(ns_state_open(tmpdir, &st, msg, sizeof(msg)), SG_ERR_OK);
	char tok[NS_TOKEN_LEN + 1], tok2[NS_TOKEN_LEN + 1];
	assert_int_equal(ns_token_create(st, "am", "main", "alerts", tok), SG_ERR_OK);
	assert_int_equal(strlen(tok), NS_TOKEN_LEN);
	assert_memory_equal(tok, NS_TOKEN_PREFIX, 4);
	assert_int_equal(ns_token_create(st, "am", NULL, NULL, tok2), SG_ERR_INVALID_INSERT);
	assert_int_equal(ns_token_create(st, "push", NULL, NULL, tok2), SG_ERR_OK);
	assert_string_not_equal(tok, tok2);
	struct ns_token_info info;
	assert_int_equal(ns_token_check(st, tok, &info), SG_ERR_OK);
	assert_string_equal(info.name, "am");
	assert_string_equal(info.connection, "main");
	assert_string_equal(info.profile, "alerts");
	assert_int_equal(ns_token_check(st, tok2, &info), SG_ERR_OK);
	assert_string_equal(info.connection, "");
	/* a wrong token: one character changed, a prefix, nothing */
	char wrong[NS_TOKEN_LEN + 1];
	memcpy(wrong, tok, sizeof(wrong));
	wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
	assert_int_equal(ns_token_check(st, wrong, &info), SG_ERR_NO_RECORD);
	assert_int_equal(ns_token_check(st, "nsi_", &info), SG_ERR_NO_RECORD);
	assert_int_equal(ns_token_check(st, "", &info), SG_ERR_NO_RECORD);
	int n = 0;
	assert_int_equal(ns_token_list(st, count_token, &n), SG_ERR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ns_token_revoke(st, "am"), SG_ERR_OK);
	assert_int_equal(ns_token_revoke(st, "am"), SG_ERR_NO_RECORD);
	assert_int_equal(ns_token_check(st, tok, &info), SG_ERR_NO_RECORD);
	ns_state_close(st);
	/* the database holds no token in clear */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "grep -rqa '%s' %s", tok2 + 4, tmpdir);
	assert_int_not_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_generic_one),
	    cmocka_unit_test(test_generic_batch),
	    cmocka_unit_test(test_generic_malformed),
	    cmocka_unit_test(test_rfc3339),
	    cmocka_unit_test(test_alertmanager),
	    cmocka_unit_test(test_alertmanager_malformed),
	    cmocka_unit_test(test_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
