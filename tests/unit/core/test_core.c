/*
 * Unit tests for src/core: buffers, ids, time, flags, lenient JSON, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <time.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/map.h"
#include "core/tz.h"
#include "core/util.h"

static void buf_appends_and_stays_terminated(void **state)
{
	(void)state;
	struct sg_buf b;
	sg_buf_init(&b, 1024);
	sg_buf_puts(&b, "abc");
	sg_buf_printf(&b, "-%d-", 42);
	sg_buf_putc(&b, 'z');
	assert_string_equal(sg_buf_str(&b), "abc-42-z");
	assert_int_equal(b.len, 8);
	sg_buf_cleanup(&b);
}

static void buf_failure_is_sticky_at_max(void **state)
{
	(void)state;
	struct sg_buf b;
	sg_buf_init(&b, 4);
	sg_buf_puts(&b, "abcd");
	assert_false(sg_buf_failed(&b));
	sg_buf_putc(&b, 'e');
	assert_true(sg_buf_failed(&b));
	assert_true(b.too_large);
	sg_buf_puts(&b, "x"); /* no-op once failed */
	assert_true(sg_buf_failed(&b));
	assert_null(sg_buf_steal(&b));
	sg_buf_cleanup(&b);
}

static void buf_printf_longer_than_scratch(void **state)
{
	(void)state;
	char big[1000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct sg_buf b;
	sg_buf_init(&b, 4096);
	sg_buf_printf(&b, "[%s]", big);
	assert_int_equal(b.len, 1001);
	assert_int_equal(sg_buf_str(&b)[1000], ']');
	sg_buf_cleanup(&b);
}

static void buf_urlencodes(void **state)
{
	(void)state;
	struct sg_buf b;
	sg_buf_init(&b, 1024);
	sg_buf_put_urlenc(&b, "a b=c&d/é");
	assert_string_equal(sg_buf_str(&b), "a%20b%3Dc%26d%2F%C3%A9");
	sg_buf_cleanup(&b);
}

static void ids_are_32_lowercase_hex(void **state)
{
	(void)state;
	char a[SG_ID_LEN + 1], b[SG_ID_LEN + 1];
	sg_id_new(a);
	sg_id_new(b);
	assert_true(sg_id_is_valid(a));
	assert_string_not_equal(a, b);
	assert_false(sg_id_is_valid("6816F79CC0A8016401C5A33BE04BE441"));
	assert_false(sg_id_is_valid("6816f79cc0a8016401c5a33be04be44"));
	assert_false(sg_id_is_valid("6816f79cc0a8016401c5a33be04be4412"));
	assert_false(sg_id_is_valid(NULL));
	sg_id_derive(a, "sys_db_object", "incident");
	sg_id_derive(b, "sys_db_object", "incident");
	assert_string_equal(a, b);
	sg_id_derive(b, "sys_db_object", "task");
	assert_string_not_equal(a, b);
}

static void time_round_trips(void **state)
{
	(void)state;
	int64_t t;
	char out[SG_DT_LEN + 1];
	assert_true(sg_time_parse("2015-11-01 22:05:30", &t));
	sg_time_format(t, out);
	assert_string_equal(out, "2015-11-01 22:05:30");
	assert_true(sg_time_parse("2015-11-01T22:05:30Z", &t));
	sg_time_format(t, out);
	assert_string_equal(out, "2015-11-01 22:05:30");
	assert_true(sg_time_parse("2015-11-01", &t));
	sg_time_format(t, out);
	assert_string_equal(out, "2015-11-01 00:00:00");
	assert_true(sg_time_parse("1970-01-01 00:02:17", &t));
	assert_int_equal(t, 137);
	assert_false(sg_time_parse("2015-13-01", &t));
	assert_false(sg_time_parse("yesterday", &t));
	assert_false(sg_time_parse("2015-11-01 22:05", &t));
	/* Formatting by hand writes what "%04d-%02d-%02d %02d:%02d:%02d" does,
	 * from year 1 to 9999 and across leap days. */
	for (int64_t u = -62135596800LL; u < 253402300800LL; u += 86399LL * 997 + 7) {
		time_t tt = (time_t)u;
		struct tm tm;
		gmtime_r(&tt, &tm);
		char want[64];
		snprintf(want, sizeof(want), "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		sg_time_format(u, out);
		assert_string_equal(out, want);
	}
}

static void flags_parse_case_insensitively(void **state)
{
	(void)state;
	assert_true(sg_str_bool("true", false));
	assert_true(sg_str_bool("True", false));
	assert_true(sg_str_bool("TRUE", false));
	assert_false(sg_str_bool("False", true));
	assert_true(sg_str_bool("1", false));
	assert_true(sg_str_bool("maybe", true));
	assert_false(sg_str_bool(NULL, false));
	assert_true(sg_str_is_ident("u_custom_1", 80));
	assert_false(sg_str_is_ident("Drop Table", 80));
	assert_false(sg_str_is_ident("a\"b", 80));
	assert_false(sg_str_is_ident("", 80));
}

static void json_accepts_single_quotes(void **state)
{
	(void)state;
	const char *doc = "{'short_description':'It''s \"broken\"','impact':'2'}";
	json_t *j = sg_json_parse_lenient(doc, strlen(doc));
	/* '' inside single quotes is not an escape: the string ends there. */
	assert_null(j);
	const char *doc2 = "{'short_description':'say \"hi\"','impact':'2', \"x\": \"it's\"}";
	j = sg_json_parse_lenient(doc2, strlen(doc2));
	assert_non_null(j);
	assert_string_equal(sg_json_str(j, "short_description"), "say \"hi\"");
	assert_string_equal(sg_json_str(j, "x"), "it's");
	json_decref(j);
	assert_null(sg_json_parse_lenient("garbage", 7));
}

static void errors_render_servicenow_bodies(void **state)
{
	(void)state;
	char *s = sg_err_render(SG_ERR_INVALID_TABLE, "nope", NULL);
	assert_string_equal(s, "{\"error\":{\"message\":\"Invalid table nope\",\"detail\":null},"
	                       "\"status\":\"failure\"}");
	free(s);
	s = sg_err_render(SG_ERR_UNAUTHENTICATED, NULL, NULL);
	assert_string_equal(s, "{\"error\":{\"message\":\"User Not Authenticated\",\"detail\":"
	                       "\"Required to provide Auth information\"},\"status\":\"failure\"}");
	free(s);
	s = sg_err_render(SG_ERR_TOO_LARGE, "20000000", "10485760");
	assert_string_equal(s, "{\"error\":{\"message\":\"Exception while reading request\","
	                       "\"detail\":\"Rejected large REST payload with content-length = "
	                       "20000000 bytes. Max allowed: 10485760 bytes.\"},"
	                       "\"status\":\"failure\"}");
	free(s);
	assert_int_equal(sg_err_status(SG_ERR_NO_RECORD), 404);
	assert_int_equal(sg_err_status(SG_ERR_DATA_POLICY), 403);
	assert_int_equal(sg_err_status(SG_ERR_UNAUTHENTICATED), 401);
}

static void map_grows_and_finds(void **state)
{
	(void)state;
	struct sg_map m;
	sg_map_init(&m);
	char key[32];
	static int values[500];
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		values[i] = i;
		assert_true(sg_map_put(&m, key, &values[i]));
	}
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_ptr_equal(sg_map_get(&m, key), &values[i]);
	}
	assert_null(sg_map_get(&m, "missing"));
	sg_map_cleanup(&m);
}

static void time_zones_convert_both_ways(void **state)
{
	(void)state;
	int64_t t;
	int off;
	assert_true(sg_time_parse("2026-01-15 12:00:00", &t));
	assert_true(sg_tz_offset("America/New_York", t, &off));
	assert_int_equal(off, -5 * 3600);
	assert_true(sg_time_parse("2026-07-15 12:00:00", &t));
	assert_true(sg_tz_offset("America/New_York", t, &off));
	assert_int_equal(off, -4 * 3600); /* daylight saving */
	assert_true(sg_tz_offset("Europe/Amsterdam", t, &off));
	assert_int_equal(off, 2 * 3600);
	assert_int_equal(sg_tz_to_utc("America/New_York", t), t + 4 * 3600);
	assert_true(sg_tz_offset("", t, &off));
	assert_int_equal(off, 0);
	assert_false(sg_tz_offset("Nowhere/Land", t, &off));
	assert_false(sg_tz_offset("../../etc/passwd", t, &off));
	assert_int_equal(sg_tz_to_utc("Nowhere/Land", t), t);
	sg_tz_cleanup();
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(buf_appends_and_stays_terminated),
	    cmocka_unit_test(buf_failure_is_sticky_at_max),
	    cmocka_unit_test(buf_printf_longer_than_scratch),
	    cmocka_unit_test(buf_urlencodes),
	    cmocka_unit_test(ids_are_32_lowercase_hex),
	    cmocka_unit_test(time_round_trips),
	    cmocka_unit_test(flags_parse_case_insensitively),
	    cmocka_unit_test(json_accepts_single_quotes),
	    cmocka_unit_test(errors_render_servicenow_bodies),
	    cmocka_unit_test(map_grows_and_finds),
	    cmocka_unit_test(time_zones_convert_both_ways),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
