/*
 * Unit tests for a profile's ticket policy (src/nowsync/ticket.c): the
 * default priority sent as impact and urgency (ServiceNow's lookup), and
 * the categories that create tickets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nowsync/delivery.h"

static sg_err parse(const char *text, struct ns_profile *p, char *msg, size_t sz)
{
	msg[0] = '\0';
	return ns_profile_parse("cxm", text, strlen(text), p, msg, sz);
}

/* Every priority's pair gives that priority by ServiceNow's default lookup
 * (impact + urgency - 1); anything else is refused when the profile loads. */
static void test_priority_pairs(void **state)
{
	(void)state;
	for (int pr = 1; pr <= 5; pr++) {
		char v[16];
		const char *i, *u;
		snprintf(v, sizeof(v), "%d", pr);
		assert_true(ns_priority_pair(v, &i, &u));
		assert_int_equal(atoi(i) + atoi(u) - 1, pr);
		assert_true(atoi(i) >= 1 && atoi(i) <= 3 && atoi(u) >= 1 && atoi(u) <= 3);
	}
	const char *i, *u;
	assert_false(ns_priority_pair("0", &i, &u));
	assert_false(ns_priority_pair("6", &i, &u));
	assert_false(ns_priority_pair("", &i, &u));
	assert_false(ns_priority_pair(NULL, &i, &u));

	struct ns_profile p;
	char msg[256];
	static const char *const bad[] = {"{\"priority\": 0}", "{\"priority\": \"6\"}",
	                                  "{\"priority\": \"high\"}", "{\"priority\": true}",
	                                  "{\"priority\": \"33\"}"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_int_equal(parse(bad[k], &p, msg, sizeof(msg)), SG_ERR_BAD_PARAM);
		assert_non_null(strstr(msg, "\"priority\" is 1 (Critical) to 5"));
	}
}

/* The default priority lands as impact + urgency, under the severity table
 * (a listed severity overrides it) and under fields. */
static void test_priority_in_body(void **state)
{
	(void)state;
	const char *text = "{\"priority\": 4, \"severity\": {\"critical\": {\"impact\": \"1\", "
	                   "\"urgency\": \"1\"}}, \"fields\": {\"short_description\": "
	                   "\"{{summary}}\"}}";
	struct ns_profile p;
	char msg[256];
	assert_int_equal(parse(text, &p, msg, sizeof(msg)), SG_ERR_OK);
	struct ns_tvars v = {.key = "k", .status = "firing", .summary = "s", .severity = "minor"};
	json_t *b = ns_profile_fields(&p, &v);
	assert_string_equal(json_string_value(json_object_get(b, "impact")), "2");
	assert_string_equal(json_string_value(json_object_get(b, "urgency")), "3");
	assert_null(json_object_get(b, "priority")); /* ServiceNow computes it */
	json_decref(b);
	v.severity = "critical";
	b = ns_profile_fields(&p, &v);
	assert_string_equal(json_string_value(json_object_get(b, "impact")), "1");
	assert_string_equal(json_string_value(json_object_get(b, "urgency")), "1");
	json_decref(b);
	ns_profile_clear(&p);
}

static void test_categories(void **state)
{
	(void)state;
	const char *text = "{\"categories\": {\"create\": [\"cost_anomaly\", \"security\"]}}";
	struct ns_profile p;
	char msg[256], why[600];
	assert_int_equal(parse(text, &p, msg, sizeof(msg)), SG_ERR_OK);
	json_t *f = json_pack("{s:{s:s}}", "labels", "category", "security");
	struct ns_tvars v = {.key = "k", .status = "firing", .fields = f};
	assert_true(ns_ticket_wanted(&p, &v, why, sizeof(why)));
	assert_string_equal(why, "");
	json_object_set_new(json_object_get(f, "labels"), "category", json_string("tagging"));
	assert_false(ns_ticket_wanted(&p, &v, why, sizeof(why)));
	assert_non_null(strstr(why, "category \"tagging\" is not one profile cxm creates"));
	assert_non_null(strstr(why, "[\"cost_anomaly\",\"security\"]"));
	json_object_del(json_object_get(f, "labels"), "category");
	assert_false(ns_ticket_wanted(&p, &v, why, sizeof(why)));
	assert_non_null(strstr(why, "the event has no category ({{labels.category}})"));
	ns_profile_clear(&p);

	/* another source of the category */
	text = "{\"categories\": {\"from\": \"{{fields.kind}}\", \"create\": [\"a\"]}}";
	assert_int_equal(parse(text, &p, msg, sizeof(msg)), SG_ERR_OK);
	json_object_set_new(f, "kind", json_string("a"));
	assert_true(ns_ticket_wanted(&p, &v, why, sizeof(why)));
	ns_profile_clear(&p);

	/* no categories: every event is wanted */
	assert_int_equal(parse("{}", &p, msg, sizeof(msg)), SG_ERR_OK);
	assert_true(ns_ticket_wanted(&p, &v, why, sizeof(why)));
	ns_profile_clear(&p);
	json_decref(f);

	static const char *const bad[] = {
	    "{\"categories\": [\"a\"]}",
	    "{\"categories\": {\"create\": \"a\"}}",
	    "{\"categories\": {\"create\": [\"\"]}}",
	    "{\"categories\": {\"create\": [1]}}",
	    "{\"categories\": {\"create\": [\"a\"], \"form\": \"{{x}}\"}}",
	    "{\"categories\": {\"create\": [\"a\"], \"from\": 3}}",
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		assert_int_equal(parse(bad[k], &p, msg, sizeof(msg)), SG_ERR_BAD_PARAM);
		assert_non_null(strstr(msg, "\"categories\" is"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_priority_pairs),
	    cmocka_unit_test(test_priority_in_body),
	    cmocka_unit_test(test_categories),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
