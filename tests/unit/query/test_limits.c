/*
 * Unit tests for the limits of the query language (issue 12, defects 8, 9
 * and 11): a query of thousands of terms compiles to SQL SQLite accepts
 * (a balanced expression, never a chain deeper than its limit of 1000);
 * past SG_QUERY_MAX_VALUES values it is refused with a 400; every number a
 * client writes (RELATIVE*, MORETHAN, gs.daysAgo(n)...) is clamped before
 * any arithmetic, INT64_MAX, INT64_MIN and 40-digit strings included (the
 * unit build aborts on signed overflow); a javascript: value the whitelist
 * does not evaluate matches nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "../model/fixture.h"
#include "core/json.h"
#include "core/util.h"
#include "query/js.h"
#include "query/query.h"

#define INT64_MAX_TEXT "9223372036854775807"
#define INT64_MIN_TEXT "-9223372036854775808"
#define HUGE_TEXT      "9999999999999999999999999999999999999999"
#define NEG_HUGE_TEXT  "-9999999999999999999999999999999999999999"

static const struct sg_write_opts WO = {.allow_sys_fields = true};

static void insert_incident(struct fixture *f, const char *description)
{
	json_t *in = json_pack("{s:s}", "short_description", description);
	assert_non_null(in);
	char id[SG_ID_LEN + 1];
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

/* Lists incidents matching text: the error, and *n the rows. */
static sg_err list(struct fixture *f, const char *text, size_t *n)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, text));
	struct sg_list_opts lo = {.query = &q, .limit = 100};
	json_t *rows = NULL;
	sg_err err = sg_rec_list(&f->ctx, "incident", &lo, &rows, NULL);
	*n = json_array_size(rows);
	json_decref(rows);
	sg_query_cleanup(&q);
	return err;
}

static size_t count(struct fixture *f, const char *text)
{
	size_t n;
	assert_int_equal(list(f, text, &n), SG_ERR_OK);
	return n;
}

/* n copies of term joined by sep (caller frees). */
static char *joined(const char *term, const char *sep, size_t n)
{
	size_t len = n * (strlen(term) + strlen(sep)) + 1;
	char *s = malloc(len);
	assert_non_null(s);
	s[0] = '\0';
	char *p = s;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? sep : "", term);
	return s;
}

static void thousands_of_terms_compile(void **state)
{
	struct fixture *f = *state;
	insert_incident(f, "one");
	insert_incident(f, "two");
	static const struct {
		const char *term, *sep;
		size_t expect;
	} cases[] = {
	    {"short_descriptionISNOTEMPTY", "^", 2},
	    {"short_description=one", "^OR", 1},
	    {"short_description=two", "^NQ", 1},
	    {"caller_id.user_nameISEMPTY", "^", 2},
	    {"no_such_field=1", "^", 2}, /* invalid: dropped, every one */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t n = 999; n <= 5000; n += 4001 - 999) {
			char *q = joined(cases[i].term, cases[i].sep, n);
			assert_int_equal(count(f, q), cases[i].expect);
			free(q);
		}
	}
	/* a group of 3,000 clauses each OR'ing 2 conditions, one invalid */
	char *q = joined("short_description=one^ORno_such=1", "^", 3000);
	assert_int_equal(count(f, q), 1);
	free(q);
}

static void too_many_values_is_a_400(void **state)
{
	struct fixture *f = *state;
	char *items = joined("x", ",", SG_QUERY_MAX_VALUES + 1);
	size_t len = strlen(items) + 32;
	char *q = malloc(len);
	assert_non_null(q);
	snprintf(q, len, "short_descriptionIN%s", items);
	size_t n;
	assert_int_equal(list(f, q, &n), SG_ERR_QUERY_TOO_LARGE);
	assert_int_equal(sg_err_status(SG_ERR_QUERY_TOO_LARGE), 400);
	snprintf(q, len, "short_descriptionIN%s", items + 2); /* exactly the maximum */
	assert_int_equal(list(f, q, &n), SG_ERR_OK);
	free(q);
	free(items);
}

static void counts_are_parsed_and_clamped(void **state)
{
	(void)state;
	long long n;
	assert_true(sg_js_parse_count("12", &n));
	assert_int_equal(n, 12);
	assert_true(sg_js_parse_count(" -3 ", &n));
	assert_int_equal(n, -3);
	assert_true(sg_js_parse_count(INT64_MAX_TEXT, &n));
	assert_int_equal(n, SG_JS_COUNT_MAX);
	assert_true(sg_js_parse_count(INT64_MIN_TEXT, &n));
	assert_int_equal(n, -SG_JS_COUNT_MAX);
	assert_true(sg_js_parse_count(HUGE_TEXT, &n));
	assert_int_equal(n, SG_JS_COUNT_MAX);
	assert_false(sg_js_parse_count("", &n));
	assert_false(sg_js_parse_count("-", &n));
	assert_false(sg_js_parse_count("1x", &n));
	assert_false(sg_js_parse_count("x1", &n));
}

static void shifts_never_overflow(void **state)
{
	(void)state;
	static const char *units[] = {"second", "minute", "hour",    "day",
	                              "week",   "month",  "quarter", "year"};
	static const long long ns[] = {INT64_MAX, INT64_MIN, INT64_MAX / 2, -INT64_MAX / 3, 0};
	static const int64_t ts[] = {0, 1767225600, INT64_MAX, INT64_MIN};
	const int64_t lo = -62167219200LL, hi = 253402300799LL; /* years 0000..9999 */
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
			for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
				int64_t out, s, e;
				assert_true(
				    sg_js_shift("Europe/Paris", ts[k], units[u], ns[i], &out));
				assert_true(out >= lo && out <= hi);
				char buf[SG_DT_LEN + 1];
				sg_time_format(out, buf);
				assert_int_equal(strlen(buf), SG_DT_LEN);
				if (strcmp(units[u], "second"))
					assert_true(sg_js_period("UTC", out, units[u], &s, &e));
			}
	int64_t out;
	assert_false(sg_js_shift("UTC", 0, "fortnight", 1, &out));
}

static void helpers_with_huge_counts(void **state)
{
	struct fixture *f = *state;
	struct sg_qenv env = {.dict = f->ctx.dict, .dialect = &sg_dialect_sqlite, .tz = "UTC"};
	static const char *names[] = {"daysAgo",   "daysAgoStart",  "daysAgoEnd",
	                              "hoursAgo",  "minutesAgoEnd", "weeksAgoStart",
	                              "monthsAgo", "quartersAgo",   "yearsAgo"};
	static const char *args[] = {INT64_MAX_TEXT, INT64_MIN_TEXT, HUGE_TEXT, NEG_HUGE_TEXT};
	struct sg_arena a;
	sg_arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t k = 0; k < sizeof(args) / sizeof(args[0]); k++) {
			char js[128];
			snprintf(js, sizeof(js), "javascript:gs.%s(%s)", names[i], args[k]);
			const char *out;
			assert_int_equal(sg_js_eval(&env, js, &a, &out), SG_ERR_OK);
			assert_int_equal(strlen(out), SG_DT_LEN);
		}
	const char *out;
	assert_int_equal(sg_js_eval(&env,
	                            "javascript:gs.dateGenerate('2026-01-01','2147483647:"
	                            "2147483647:2147483647')",
	                            &a, &out),
	                 SG_ERR_BAD_PARAM);
	assert_int_equal(sg_js_eval(&env, "javascript:gs.daysAgo(1.5)", &a, &out),
	                 SG_ERR_BAD_PARAM);
	sg_arena_cleanup(&a);
}

static void relative_conditions_with_huge_counts(void **state)
{
	struct fixture *f = *state;
	insert_incident(f, "now");
	static const char *units[] = {"second", "minute", "hour",    "day",
	                              "week",   "month",  "quarter", "year"};
	static const char *ns[] = {INT64_MAX_TEXT, INT64_MIN_TEXT, HUGE_TEXT};
	static const char *ops[] = {"RELATIVEGT", "RELATIVELT", "RELATIVEEE"};
	char q[256];
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
		for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
			for (size_t o = 0; o < sizeof(ops) / sizeof(ops[0]); o++) {
				snprintf(q, sizeof(q), "sys_created_on%s@%s@ahead@%s", ops[o],
				         units[u], ns[i]);
				count(f, q);
				snprintf(q, sizeof(q), "sys_created_on%s@%s@ago@%s", ops[o],
				         units[u], ns[i]);
				count(f, q);
			}
			snprintf(q, sizeof(q), "sys_created_onMORETHANsys_updated_on@%s@before@%s",
			         units[u], ns[i]);
			count(f, q);
			snprintf(q, sizeof(q), "sys_created_onLESSTHANsys_updated_on@%s@after@%s",
			         units[u], ns[i]);
			count(f, q);
		}
	/* the meaning survives the clamp: far ahead is after every row */
	assert_int_equal(count(f, "sys_created_onRELATIVELT@second@ahead@" INT64_MAX_TEXT), 1);
	assert_int_equal(count(f, "sys_created_onRELATIVEGT@second@ahead@" INT64_MAX_TEXT), 0);
	assert_int_equal(count(f, "sys_created_onRELATIVEGT@year@ago@" HUGE_TEXT), 1);
	assert_int_equal(
	    count(f, "sys_created_onDATEPARTx@javascript:gs.datePart('year','" HUGE_TEXT "','GT')"),
	    0);
}

static void unevaluated_javascript_matches_nothing(void **state)
{
	struct fixture *f = *state;
	insert_incident(f, "a");
	insert_incident(f, "b");
	assert_int_equal(count(f, ""), 2);
	assert_int_equal(count(f, "short_description=javascript:gs.sleep(1)"), 0);
	assert_int_equal(count(f, "short_description!=javascript:gs.sleep(1)"), 0);
	assert_int_equal(count(f, "short_descriptionINa,javascript:gs.sleep(1)"), 0);
	assert_int_equal(count(f, "caller_id.name=javascript:gs.sleep(1)"), 0);
	assert_int_equal(count(f, "nope=javascript:gs.sleep(1)"), 0);
	assert_int_equal(count(f, "short_description=javascript:gs.sleep(1)^ORshort_description=a"),
	                 1);
	assert_int_equal(count(f, "short_description=javascript:gs.sleep(1)^NQshort_description=b"),
	                 1);
	/* whitelisted helpers are evaluated, not refused */
	assert_int_equal(count(f, "sys_created_on<javascript:gs.daysAgo(-1)"), 2);
	/* an unknown field alone is still dropped (glide.invalid_query.returns_no_rows) */
	assert_int_equal(count(f, "nope=1"), 2);
	/* name=value filters go through the same compiler */
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_add_eq(&q, "short_description", "javascript:gs.sleep(1)"));
	struct sg_list_opts lo = {.query = &q, .limit = 100};
	json_t *rows = NULL;
	assert_int_equal(sg_rec_list(&f->ctx, "incident", &lo, &rows, NULL), SG_ERR_OK);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	sg_query_cleanup(&q);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(thousands_of_terms_compile, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(too_many_values_is_a_400, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test(counts_are_parsed_and_clamped),
	    cmocka_unit_test(shifts_never_overflow),
	    cmocka_unit_test_setup_teardown(helpers_with_huge_counts, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(relative_conditions_with_huge_counts, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(unevaluated_javascript_matches_nothing, fixture_setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests_name("query.limits", tests, NULL, NULL);
}
