/*
 * Unit tests for what api/http.c echoes: URL text made safe for Link and
 * Location (issue 12, defect 12), and the transport's refusals in
 * ServiceNow's error shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/http.h"
#include "core/json.h"

static char *escaped(const char *s, size_t len, bool keep_pct)
{
	static char out[1024];
	struct sg_buf b;
	sg_buf_init(&b, sizeof(out));
	sg_url_escape(&b, s, len, keep_pct);
	assert_false(sg_buf_failed(&b));
	snprintf(out, sizeof(out), "%s", sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

static void url_text_is_escaped(void **state)
{
	(void)state;
	/* What a URL may hold stays as it is. */
	const char *ok = "/api/now/table/incident?a=b&c=d%20e;f:g@h~[::1]";
	assert_string_equal(escaped(ok, strlen(ok), true), ok);
	/* Quotes, angle brackets, CR/LF, spaces, backslash, non-ASCII, NUL. */
	const char bad[] = "a\"b<c>d\r\ne f\\g\xc3\xa9h\0i";
	assert_string_equal(escaped(bad, sizeof(bad) - 1, true),
	                    "a%22b%3Cc%3Ed%0D%0Ae%20f%5Cg%C3%A9h%00i");
	/* A decoded path: '%' is encoded too. */
	assert_string_equal(escaped("/a%20b", 6, false), "/a%2520b");
}

static void refusal_has_servicenow_shape(void **state)
{
	(void)state;
	struct sg_resp r;
	sg_resp_init(&r);
	sg_resp_refuse(&r, 501, "Not Implemented", "Only chunked");
	assert_int_equal(r.status, 501);
	assert_string_equal(sg_buf_str(&r.body), "{\"error\":{\"message\":\"Not Implemented\","
	                                         "\"detail\":\"Only chunked\"},"
	                                         "\"status\":\"failure\"}");
	assert_int_equal(r.nheaders, 1);
	assert_string_equal(r.headers[0].name, "Content-Type");
	sg_resp_cleanup(&r);
}

int main(void)
{
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(url_text_is_escaped),
	    cmocka_unit_test(refusal_has_servicenow_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
