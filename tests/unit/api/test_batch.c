/*
 * Unit tests for the Batch API's body parser (api/batch.c) and for how a
 * batch item's URL is read (sg_req_set_url in api/http.c): as the HTTP
 * server reads a request target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/batch.h"
#include "api/http.h"
#include "core/json.h"

static sg_err parse(struct sg_arena *a, const char *text, struct sg_batch *b, const char **why)
{
	return sg_batch_parse(text, strlen(text), a, b, why);
}

static void a_whole_batch_is_read(void **state)
{
	(void)state;
	struct sg_arena a;
	sg_arena_init(&a, 0);
	struct sg_batch b;
	const char *why;
	/* "eyJhIjoxfQ==" is {"a":1}, wrapped as the platform's own example wraps it */
	const char *text =
	    "{\"batch_request_id\":12,\"rest_requests\":["
	    "{\"id\":\"11\",\"method\":\"GET\",\"url\":\"/api/now/table/incident?sysparm_limit=1\","
	    "\"headers\":[{\"name\":\"Accept\",\"value\":\"application/json\"}],"
	    "\"exclude_response_headers\":true},"
	    "{\"id\":7,\"method\":\"POST\",\"url\":\"/api/now/table/"
	    "incident\",\"body\":\"eyJh\\nIjoxfQ==\"}]}";
	assert_int_equal(parse(&a, text, &b, &why), SG_ERR_OK);
	assert_string_equal(b.request_id, "12");
	assert_int_equal(b.nitems, 2);
	assert_string_equal(b.items[0].id, "11");
	assert_string_equal(b.items[0].method, "GET");
	assert_string_equal(b.items[0].url, "/api/now/table/incident?sysparm_limit=1");
	assert_int_equal(b.items[0].nheaders, 1);
	assert_string_equal(b.items[0].headers[0].name, "Accept");
	assert_true(b.items[0].exclude_headers);
	assert_null(b.items[0].body);
	assert_string_equal(b.items[1].id, "7");
	assert_false(b.items[1].exclude_headers);
	assert_int_equal(b.items[1].body_len, 7);
	assert_memory_equal(b.items[1].body, "{\"a\":1}", 7);
	/* An absent batch_request_id is echoed as "" */
	assert_int_equal(parse(&a, "{\"rest_requests\":[]}", &b, &why), SG_ERR_OK);
	assert_string_equal(b.request_id, "");
	assert_int_equal(b.nitems, 0);
	sg_arena_cleanup(&a);
}

static void malformed_batches_are_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		sg_err err;
		const char *why;
	} cases[] = {
	    {"", SG_ERR_EMPTY_BODY, NULL},
	    {"{oops", SG_ERR_BAD_JSON, NULL},
	    {"[1]", SG_ERR_BAD_PARAM, "The batch must be a JSON object"},
	    {"{}", SG_ERR_BAD_PARAM, "rest_requests is required: a list of requests"},
	    {"{\"rest_requests\":[],\"batch_request_id\":true}", SG_ERR_BAD_PARAM,
	     "batch_request_id must be a string"},
	    {"{\"rest_requests\":[1]}", SG_ERR_BAD_PARAM,
	     "rest_requests must hold request objects"},
	    {"{\"rest_requests\":[{\"method\":\"GET\",\"url\":\"/\"}]}", SG_ERR_BAD_PARAM,
	     "rest_requests.id is required"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"\",\"url\":\"/\"}]}", SG_ERR_BAD_PARAM,
	     "rest_requests.method is required"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":3}]}", SG_ERR_BAD_PARAM,
	     "rest_requests.url is required"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/"
	     "\",\"body\":\"a*b=\"}]}",
	     SG_ERR_BAD_PARAM, "rest_requests.body is not valid base64"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/"
	     "\",\"body\":\"YQ=\"}]}",
	     SG_ERR_BAD_PARAM, "rest_requests.body is not valid base64"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/\",\"body\":5}]}",
	     SG_ERR_BAD_PARAM, "rest_requests.body must be a base64 string"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/\",\"headers\":{}}]}",
	     SG_ERR_BAD_PARAM, "rest_requests.headers must be a list of name/value objects"},
	    {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/\","
	     "\"headers\":[{\"name\":\"A\",\"value\":[]}]}]}",
	     SG_ERR_BAD_PARAM,
	     "rest_requests.headers: each header needs a name and a string value"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sg_arena a;
		sg_arena_init(&a, 0);
		struct sg_batch b;
		const char *why = NULL;
		assert_int_equal(parse(&a, cases[i].text, &b, &why), cases[i].err);
		assert_int_equal(b.nitems, 0);
		if (cases[i].why)
			assert_string_equal(why, cases[i].why);
		sg_arena_cleanup(&a);
	}
}

static void an_items_url_is_read_as_the_server_reads_it(void **state)
{
	(void)state;
	struct sg_req req;
	sg_req_init(&req);
	const char url[] = "/api/now/table/a%20b+c?sysparm_query=x%3D1+y&flag&&last=%zz";
	assert_int_equal(sg_req_set_url(&req, url, strlen(url)), SG_ERR_OK);
	/* the path: %XX decoded, '+' kept */
	assert_string_equal(req.path, "/api/now/table/a b+c");
	assert_string_equal(req.raw_query, "sysparm_query=x%3D1+y&flag&&last=%zz");
	/* arguments: '+' and %XX decoded, a name without '=' is "", an empty piece too */
	assert_int_equal(req.nargs, 4);
	assert_string_equal(req.args[0].name, "sysparm_query");
	assert_string_equal(req.args[0].value, "x=1 y");
	assert_string_equal(req.args[1].name, "flag");
	assert_string_equal(req.args[1].value, "");
	assert_string_equal(req.args[2].name, "");
	assert_string_equal(req.args[3].name, "last");
	assert_string_equal(req.args[3].value, "%zz");
	sg_req_cleanup(&req);

	sg_req_init(&req);
	assert_int_equal(sg_req_set_url(&req, "/api/now/table/x", 16), SG_ERR_OK);
	assert_string_equal(req.raw_query, "");
	assert_int_equal(req.nargs, 0);
	sg_req_cleanup(&req);

	/* an encoded NUL (or a raw one) is refused, in the path or the query */
	const char *nul[] = {"/api/now/table/sys_user%00", "/api/now/table/x?a=%00"};
	for (size_t i = 0; i < 2; i++) {
		sg_req_init(&req);
		assert_int_equal(sg_req_set_url(&req, nul[i], strlen(nul[i])), SG_ERR_BAD_PARAM);
		sg_req_cleanup(&req);
	}
	sg_req_init(&req);
	assert_int_equal(sg_req_set_url(&req, "/api\0/x", 7), SG_ERR_BAD_PARAM);
	sg_req_cleanup(&req);
}

static void status_texts(void **state)
{
	(void)state;
	assert_string_equal(sg_http_status_text(200), "OK");
	assert_string_equal(sg_http_status_text(201), "Created");
	assert_string_equal(sg_http_status_text(204), "No Content");
	assert_string_equal(sg_http_status_text(404), "Not Found");
	assert_string_equal(sg_http_status_text(799), "");
}

int main(void)
{
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_whole_batch_is_read),
	    cmocka_unit_test(malformed_batches_are_refused),
	    cmocka_unit_test(an_items_url_is_read_as_the_server_reads_it),
	    cmocka_unit_test(status_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
