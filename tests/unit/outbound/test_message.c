/*
 * Unit tests for src/outbound: ${variable} substitution, setStringParameter's
 * escaping, the URL with its query parameters, a message built into a request,
 * and the host policy's URL parsing and allow-list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbound/internal.h"
#include "outbound/message.h"

static char *subst(const char *tmpl, const char *vars_json)
{
	json_t *vars = json_loads(vars_json, 0, NULL);
	struct sg_buf b;
	sg_buf_init(&b, 4096);
	sg_out_substitute(&b, tmpl, vars);
	json_decref(vars);
	char *s = strdup(sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return s;
}

static void substitution(void **state)
{
	(void)state;
	const char *v = "{\"id\": \"42\", \"name\": \"a b\", \"empty\": \"\"}";
	struct {
		const char *in, *out;
	} cases[] = {
	    {"/x/${id}/y", "/x/42/y"},
	    {"${id}${name}", "42a b"},
	    {"${missing} stays", "${missing} stays"}, /* never given: literal */
	    {"${empty}|", "|"},
	    {"no vars", "no vars"},
	    {"${", "${"},
	    {"${id", "${id"},
	    {"${}", "${}"},
	    {"$${id}}", "$42}"},
	    {"${na${id}}", "${na42}"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = subst(cases[i].in, v);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
}

static void escaping(void **state)
{
	(void)state;
	struct sg_buf b;
	sg_buf_init(&b, 4096);
	sg_out_xml_escape(&b, "<a href=\"x\">&50%'</a>");
	assert_string_equal(sg_buf_str(&b), "&lt;a href=\"x\"&gt;&amp;50&#37;'&lt;/a&gt;");
	sg_buf_cleanup(&b);

	struct sg_out_msg m;
	assert_int_equal(sg_out_msg_init(&m), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_var(&m, "e", "<&>", true), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_var(&m, "n", "<&>", false), SG_ERR_OK);
	assert_string_equal(json_string_value(json_object_get(m.vars, "e")), "&lt;&amp;&gt;");
	assert_string_equal(json_string_value(json_object_get(m.vars, "n")), "<&>");
	sg_out_msg_cleanup(&m);
}

static void url_params(void **state)
{
	(void)state;
	struct sg_buf b;
	sg_buf_init(&b, 4096);
	sg_buf_puts(&b, "https://h/p");
	sg_out_url_add_param(&b, "q", "a b&c=d");
	sg_out_url_add_param(&b, "x y", "1");
	assert_string_equal(sg_buf_str(&b), "https://h/p?q=a%20b%26c%3Dd&x%20y=1");
	sg_buf_reset(&b);
	sg_buf_puts(&b, "https://h/p?a=1");
	sg_out_url_add_param(&b, "b", "2");
	assert_string_equal(sg_buf_str(&b), "https://h/p?a=1&b=2");
	sg_buf_reset(&b);
	sg_buf_puts(&b, "https://h/p?");
	sg_out_url_add_param(&b, "b", "2");
	assert_string_equal(sg_buf_str(&b), "https://h/p?b=2");
	sg_buf_cleanup(&b);
}

static void build_request(void **state)
{
	(void)state;
	struct sg_out_msg m;
	assert_int_equal(sg_out_msg_init(&m), SG_ERR_OK);
	free(m.endpoint);
	m.endpoint = strdup("https://api.example.com/${tenant}/items");
	m.body = strdup("{\"note\":\"${note}\",\"x\":\"${unset}\"}");
	assert_int_equal(sg_out_msg_set_header(&m, "X-Tenant", "${tenant}"), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_header(&m, "x-tenant", "t-${tenant}"), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_header(&m, "X-Line", "a\r\nInjected: 1"), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_param(&m, "q", "${note}"), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_var(&m, "tenant", "acme", false), SG_ERR_OK);
	assert_int_equal(sg_out_msg_set_var(&m, "note", "a&b", true), SG_ERR_OK);

	struct sg_out_built b;
	/* GET: no body, whatever the template. */
	assert_int_equal(sg_out_msg_build(&m, &b, NULL, 0), SG_ERR_OK);
	assert_string_equal(b.method, "GET");
	assert_string_equal(b.url, "https://api.example.com/acme/items?q=a%26amp%3Bb");
	assert_null(b.body);
	assert_int_equal(b.n_headers, 2);
	assert_string_equal(b.headers[0].name, "X-Tenant"); /* replaced, any case */
	assert_string_equal(b.headers[0].value, "t-acme");
	assert_string_equal(b.headers[1].value, "a  Injected: 1"); /* no line break */
	sg_out_built_cleanup(&b);

	free(m.method);
	m.method = strdup("POST");
	m.auth = SG_OUT_AUTH_BASIC;
	strcpy(m.auth_profile, "0123456789abcdef0123456789abcdef");
	assert_int_equal(sg_out_msg_build(&m, &b, NULL, 0), SG_ERR_OK);
	assert_string_equal(b.body, "{\"note\":\"a&amp;b\",\"x\":\"${unset}\"}");
	assert_int_equal(b.body_len, strlen(b.body));
	struct sg_out_request req;
	sg_out_built_request(&m, &b, &req);
	assert_string_equal(req.method, "POST");
	assert_int_equal(req.auth, SG_OUT_AUTH_BASIC);
	assert_string_equal(req.auth_profile, m.auth_profile);
	assert_ptr_equal(req.body, b.body);
	sg_out_built_cleanup(&b);
	sg_out_msg_cleanup(&m);
}

static void limits(void **state)
{
	(void)state;
	struct sg_out_msg m;
	assert_int_equal(sg_out_msg_init(&m), SG_ERR_OK);
	char name[32];
	for (int i = 0; i < SG_OUT_MAX_ITEMS; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		assert_int_equal(sg_out_msg_set_header(&m, name, "v"), SG_ERR_OK);
	}
	assert_int_equal(sg_out_msg_set_header(&m, "one-more", "v"), SG_ERR_TOO_LARGE);
	assert_int_equal(sg_out_msg_set_header(&m, "h0", "replaced"), SG_ERR_OK);
	/* A URL that grows past its limit through a variable. */
	char *big = malloc(SG_OUT_MAX_URL + 2);
	memset(big, 'x', SG_OUT_MAX_URL + 1);
	big[SG_OUT_MAX_URL + 1] = '\0';
	free(m.endpoint);
	m.endpoint = strdup("https://h/${big}");
	assert_int_equal(sg_out_msg_set_var(&m, "big", big, false), SG_ERR_OK);
	struct sg_out_built b;
	char msg[128];
	assert_int_equal(sg_out_msg_build(&m, &b, msg, sizeof(msg)), SG_ERR_TOO_LARGE);
	assert_string_equal(msg, "the URL is too large");
	free(big);
	sg_out_msg_cleanup(&m);
}

static void url_host(void **state)
{
	(void)state;
	char h[256];
	assert_true(sg__out_url_host("https://API.Example.com/x", h, sizeof(h)));
	assert_string_equal(h, "api.example.com");
	assert_true(sg__out_url_host("http://u:p@host:8080?q", h, sizeof(h)));
	assert_string_equal(h, "host");
	assert_true(sg__out_url_host("http://[::1]:80/", h, sizeof(h)));
	assert_string_equal(h, "::1");
	assert_true(sg__out_url_host("http://a/b@evil.com", h, sizeof(h)));
	assert_string_equal(h, "a"); /* '@' after the path is not user information */
	assert_false(sg__out_url_host("ftp://host/", h, sizeof(h)));
	assert_false(sg__out_url_host("http:///x", h, sizeof(h)));
	assert_false(sg__out_url_host("file:///etc/passwd", h, sizeof(h)));
	assert_false(sg__out_url_host("http://[::1/", h, sizeof(h)));
}

static void allow_list(void **state)
{
	(void)state;
	assert_true(sg__out_host_allowed(NULL, "any"));
	assert_true(sg__out_host_allowed("", "any"));
	assert_true(sg__out_host_allowed(" , ", "any"));
	const char *l = "api.example.com, *.vendor.test";
	assert_true(sg__out_host_allowed(l, "api.example.com"));
	assert_true(sg__out_host_allowed(l, "API.EXAMPLE.COM"));
	assert_false(sg__out_host_allowed(l, "example.com"));
	assert_false(sg__out_host_allowed(l, "xapi.example.com"));
	assert_true(sg__out_host_allowed(l, "a.vendor.test"));
	assert_true(sg__out_host_allowed(l, "b.a.vendor.test"));
	assert_false(sg__out_host_allowed(l, "vendor.test"));
	assert_false(sg__out_host_allowed(l, "evilvendor.test"));
	assert_false(sg__out_host_allowed(l, "127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(substitution), cmocka_unit_test(escaping),
	    cmocka_unit_test(url_params),   cmocka_unit_test(build_request),
	    cmocka_unit_test(limits),       cmocka_unit_test(url_host),
	    cmocka_unit_test(allow_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
