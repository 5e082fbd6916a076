/*
 * Unit tests for issue 12, defects 14 (JSON half) and 15: a JSON body whose
 * string holds \u0000 is refused, never cut at the NUL; an error body
 * echoing invalid UTF-8 keeps its message member (each bad byte U+FFFD).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

/* The rendered body's error.message and error.detail, as a new object. */
static json_t *render(sg_err err, const char *arg1, const char *arg2)
{
	char *body = sg_err_render(err, arg1, arg2);
	assert_non_null(body);
	json_t *j = json_loads(body, 0, NULL);
	free(body);
	assert_non_null(j);
	json_t *e = json_incref(json_object_get(j, "error"));
	assert_non_null(e);
	assert_string_equal(sg_json_str(j, "status"), "failure");
	json_decref(j);
	return e;
}

static void invalid_utf8_keeps_the_message(void **state)
{
	(void)state;
	json_t *e = render(SG_ERR_INVALID_TABLE, "bad\xff\xfename", NULL);
	assert_string_equal(sg_json_str(e, "message"),
	                    "Invalid table bad\xEF\xBF\xBD\xEF\xBF\xBDname");
	assert_true(json_is_null(json_object_get(e, "detail")));
	json_decref(e);
	e = render(SG_ERR_BAD_PARAM,
	           "sysparm_limit \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82", NULL);
	assert_string_equal(sg_json_str(e, "message"), "Invalid parameter");
	const char *d = sg_json_str(e, "detail");
	assert_non_null(d);
	assert_non_null(strstr(d, "sysparm_limit \xEF\xBF\xBD"));
	json_decref(e);
	/* valid UTF-8 passes unchanged */
	e = render(SG_ERR_INVALID_TABLE, "caf\xc3\xa9 \xf0\x9f\x98\x80", NULL);
	assert_string_equal(sg_json_str(e, "message"),
	                    "Invalid table caf\xc3\xa9 \xf0\x9f\x98\x80");
	json_decref(e);
}

static void lossy_strings(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", ""},
	    {"plain", "plain"},
	    {"\x80", "\xEF\xBF\xBD"},
	    {"a\xc3", "a\xEF\xBF\xBD"},                               /* truncated */
	    {"\xc0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},                 /* overlong NUL */
	    {"\xed\xbf\xbf", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* surrogate */
	    {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},                 /* U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *s = sg_json_string_lossy(cases[i].in);
		assert_non_null(s);
		assert_string_equal(json_string_value(s), cases[i].out);
		json_decref(s);
	}
}

static void nul_in_json_is_refused(void **state)
{
	(void)state;
	json_t *j;
	const char *body = "{\"short_description\":\"a\\u0000b\"}";
	assert_int_equal(sg_json_parse_body(body, strlen(body), &j), SG_ERR_BAD_JSON_NUL);
	assert_null(j);
	body = "{'short_description':'a\\u0000b'}";
	assert_int_equal(sg_json_parse_body(body, strlen(body), &j), SG_ERR_BAD_JSON_NUL);
	assert_null(j);
	const char raw[] = "{\"a\":\"x\0y\"}";
	assert_int_equal(sg_json_parse_body(raw, sizeof(raw) - 1, &j), SG_ERR_BAD_JSON);
	assert_int_equal(sg_err_status(SG_ERR_BAD_JSON_NUL), 400);
	body = "{\"a\":\"\\u00e9\"}";
	assert_int_equal(sg_json_parse_body(body, strlen(body), &j), SG_ERR_OK);
	assert_string_equal(sg_json_str(j, "a"), "\xc3\xa9");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(invalid_utf8_keeps_the_message),
	    cmocka_unit_test(lossy_strings),
	    cmocka_unit_test(nul_in_json_is_refused),
	};
	return cmocka_run_group_tests_name("core.err_utf8", tests, NULL, NULL);
}
