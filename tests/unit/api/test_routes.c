/*
 * Unit tests for the route table and the middleware around it: named
 * captures, 405 against 400, what each route needs, content types, and a
 * streamed body arriving in pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "../model/fixture.h"
#include "api/api.h"

/* Looks a path up in the built-in table; the match's strings live in a. */
static sg_err find(struct sg_arena *a, const char *method, const char *path,
                   struct sg_route_match *m)
{
	size_t n;
	const struct sg_route *routes = sg_api_routes(&n);
	return sg_route_find(routes, n, method, path, a, m);
}

static const char *param(const struct sg_route_match *m, const char *name)
{
	struct sg_req req = {.match = *m};
	return sg_req_param(&req, name);
}

static void captures_are_named(void **state)
{
	(void)state;
	struct sg_arena a;
	sg_arena_init(&a, 0);
	struct sg_route_match m;
	assert_int_equal(find(&a, "GET", "/api/now/v1/table/incident", &m), SG_ERR_OK);
	assert_non_null(m.route);
	assert_int_equal(m.route->version, 1);
	assert_ptr_equal(m.route->handler, sg_table_list);
	assert_string_equal(param(&m, "table"), "incident");
	assert_null(param(&m, "sys_id"));
	/* HEAD is GET's route; a trailing slash is tolerated */
	assert_int_equal(find(&a, "HEAD", "/api/now/table/incident/abc/", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_table_get);
	assert_int_equal(m.route->version, 0);
	assert_string_equal(param(&m, "table"), "incident");
	assert_string_equal(param(&m, "sys_id"), "abc");
	assert_null(param(&m, "sys"));
	assert_int_equal(find(&a, "GET", "/api/now/stats/task", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_stats_get);
	assert_string_equal(param(&m, "table"), "task");

	/* any {name}, in any number up to the limit */
	static const struct sg_route own[] = {
	    {.method = "GET", .pattern = "/a/{first}/b/{second_one}/{x}"},
	};
	assert_int_equal(sg_route_find(own, 1, "GET", "/a/1/b/22/333", &a, &m), SG_ERR_OK);
	assert_int_equal(m.ncaps, 3);
	assert_string_equal(param(&m, "first"), "1");
	assert_string_equal(param(&m, "second_one"), "22");
	assert_string_equal(param(&m, "x"), "333");
	assert_null(param(&m, "second"));
	assert_int_equal(sg_route_find(own, 1, "GET", "/a/1/b//333", &a, &m), SG_ERR_NO_RESOURCE);
	sg_arena_cleanup(&a);
}

static void unmatched_is_405_or_400(void **state)
{
	(void)state;
	struct sg_arena a;
	sg_arena_init(&a, 0);
	struct sg_route_match m;
	/* the path exists for other methods */
	assert_int_equal(find(&a, "DELETE", "/api/now/table/incident", &m), SG_ERR_BAD_METHOD);
	assert_null(m.route);
	assert_int_equal(find(&a, "POST", "/api/now/stats/incident", &m), SG_ERR_BAD_METHOD);
	assert_int_equal(find(&a, "PUT", "/oauth_token.do", &m), SG_ERR_BAD_METHOD);
	/* it does not: under /api/, the Scripted REST fallback (which answers
	 * the unknown resource's 400), elsewhere nothing */
	assert_int_equal(find(&a, "GET", "/api/now/v3/table/incident", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_scripted_rest);
	assert_int_equal(find(&a, "GET", "/api/now/table/", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_scripted_rest);
	assert_int_equal(find(&a, "PATCH", "/api/now/table/a/b/c", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_scripted_rest);
	assert_string_equal(m.route->method, "PATCH");
	assert_int_equal(find(&a, "OPTIONS", "/api/x/y", &m), SG_ERR_NO_RESOURCE);
	/* a GET no route knows goes to the console's page fallback, whose
	 * resolver takes only a page's path: the rest stays unknown */
	bool anon;
	assert_int_equal(find(&a, "GET", "/api/", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_ui_page);
	struct sg_req req = {.path = "/api/"};
	assert_int_equal(m.route->resolve(NULL, &req, &anon), SG_ERR_NO_RESOURCE);
	assert_int_equal(find(&a, "GET", "/apix/now", &m), SG_ERR_OK);
	req.path = "/apix/now";
	assert_int_equal(m.route->resolve(NULL, &req, &anon), SG_ERR_NO_RESOURCE);
	assert_int_equal(find(&a, "POST", "/apix/now", &m), SG_ERR_NO_RESOURCE);
	assert_int_equal(find(&a, "GET", "/incident_list.do", &m), SG_ERR_OK);
	req.path = "/incident_list.do";
	assert_int_equal(m.route->resolve(NULL, &req, &anon), SG_ERR_OK);
	assert_true(anon);
	assert_int_equal(find(&a, "GET", "/ui/js/api.js", &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_ui_static);
	/* a known path's other methods stay a 405, not a page */
	assert_int_equal(find(&a, "GET", "/oauth_token.do", &m), SG_ERR_BAD_METHOD);
	assert_int_equal(find(&a, "GET", "", &m), SG_ERR_NO_RESOURCE);
	/* captures past SG_ROUTE_CAPTURE_MAX bytes match nothing, as before */
	char path[2 * SG_ROUTE_CAPTURE_MAX];
	int n = snprintf(path, sizeof(path), "/api/now/table/");
	memset(path + n, 'x', SG_ROUTE_CAPTURE_MAX - 1);
	path[n + SG_ROUTE_CAPTURE_MAX - 1] = '\0';
	assert_int_equal(find(&a, "GET", path, &m), SG_ERR_OK);
	assert_int_equal(strlen(param(&m, "table")), SG_ROUTE_CAPTURE_MAX - 1);
	strcat(path, "x");
	assert_int_equal(find(&a, "GET", path, &m), SG_ERR_OK);
	assert_ptr_equal(m.route->handler, sg_scripted_rest);
	sg_arena_cleanup(&a);
}

/* The browser console's routes (ui.c): HTML and files, typed by their handlers. */
static bool console(const struct sg_route *r)
{
	return r->handler == sg_ui_page || r->handler == sg_ui_static || r->handler == sg_ui_root ||
	       r->handler == sg_ui_favicon || r->handler == sg_ui_login_get ||
	       r->handler == sg_ui_login_post || r->handler == sg_ui_logout;
}

static void what_each_route_needs(void **state)
{
	(void)state;
	size_t n;
	const struct sg_route *r = sg_api_routes(&n);
	size_t test_double = 0;
	for (size_t i = 0; i < n; i++)
		test_double += sg_snowglobe_path(r[i].pattern);
	assert_true(test_double >= 1);
	assert_int_equal(n - test_double, 3 * 6 + 2 * 3 + 2 + 5 + 2 * 4 + 2 * 7 + 2 + 1 + 2 * 7 +
	                                      1 + 1 + 5 + 1 + 8 + 1 /* ui/meta */ +
	                                      1 /* ui/oauth/get_token */);
	for (size_t i = 0; i < n; i++) {
		const char *p = r[i].pattern;
		/* every REST API needs a user and is covered by its API's scope */
		if (sg_snowglobe_path(p)) {
			/* the test-double powers: a user (the handler asks for admin) */
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/snowglobe");
		} else if (strstr(p, "/table/")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/table");
		} else if (strstr(p, "/import/")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/import");
		} else if (!strcmp(p, "/api/now/ui/meta/{table}")) {
			/* the console's table metadata: read like the Table API */
			assert_string_equal(r[i].method, "GET");
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/table");
		} else if (!strcmp(p, "/api/now/ui/oauth/get_token")) {
			/* Get OAuth Token: the handler asks for admin */
			assert_string_equal(r[i].method, "POST");
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/snowglobe");
		} else if (strstr(p, "/stats/")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/stats");
		} else if (strstr(p, "/identifyreconcile")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/identifyreconcile");
		} else if (strstr(p, "/cmdb/instance/")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/cmdb");
		} else if (strstr(p, "/batch")) {
			assert_string_equal(r[i].method, "POST");
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/batch");
		} else if (!strcmp(p, "/api/now/snowglobe/app")) {
			assert_string_equal(r[i].method, "POST");
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/snowglobe");
		} else if (!strcmp(p, "/api/now/tinyurl")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/tinyurl");
		} else if (!strcmp(p, "/api/now/snowglobe/script")) {
			/* Scripts - Background: the handler asks for admin and
			 * security_admin in effect */
			assert_string_equal(r[i].method, "POST");
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/snowglobe");
		} else if (!strcmp(p, "/api/*")) {
			/* Scripted REST: the operation's flag decides; last but
			 * the console's pages */
			assert_int_equal(r[i].auth, SG_AUTH_OPTIONAL);
			assert_null(r[i].scope);
			assert_true(i >= n - 6 && i < n - 1);
		} else if (strstr(p, "/attachment")) {
			assert_int_equal(r[i].auth, SG_AUTH_USER);
			assert_string_equal(r[i].scope, "now/attachment");
		} else if (console(&r[i])) {
			/* the console: each handler checks the session itself; the
			 * pages' fallback is last of all */
			assert_int_equal(r[i].auth, SG_AUTH_NONE);
			assert_null(r[i].scope);
			assert_true(r[i].handler != sg_ui_page || i == n - 1);
		} else {
			/* the OAuth endpoints: the client authenticates in the request */
			assert_non_null(strstr(p, ".do"));
			assert_int_equal(r[i].auth, SG_AUTH_NONE);
			assert_null(r[i].scope);
		}
		assert_non_null(r[i].handler);
		/* only attachment uploads are streamed, held to the attachment
		 * limit; a streamed route has its callback */
		bool upload = !strcmp(r[i].method, "POST") && strstr(p, "/attachment/");
		assert_int_equal(r[i].body, upload ? SG_BODY_STREAMED : SG_BODY_BUFFERED);
		assert_int_equal(r[i].limit, upload ? SG_LIMIT_ATTACHMENT : SG_LIMIT_REST);
		assert_true((r[i].body == SG_BODY_STREAMED) == (r[i].on_body != NULL));
	}
}

static void content_types(void **state)
{
	(void)state;
	size_t n;
	const struct sg_route *r = sg_api_routes(&n);
	/* JSON everywhere but an attachment's content, typed by the handler */
	for (size_t i = 0; i < n; i++) {
		const char *p = r[i].pattern;
		size_t len = strlen(p);
		/* and outbound OAuth's redirect page (HTML) */
		if ((len > 5 && !strcmp(p + len - 5, "/file") && !strcmp(r[i].method, "GET")) ||
		    !strcmp(p, "/api/*") || !strcmp(p, "/oauth_redirect.do") || console(&r[i]))
			assert_null(r[i].produces);
		else
			assert_string_equal(r[i].produces, SG_JSON_TYPE);
	}
	struct sg_arena a;
	sg_arena_init(&a, 0);
	struct sg_route_match m;
	/* the token service reads form bodies only */
	assert_int_equal(find(&a, "POST", "/oauth_token.do", &m), SG_ERR_OK);
	assert_true(sg_route_accepts(m.route, "application/x-www-form-urlencoded"));
	assert_true(sg_route_accepts(m.route, "Application/X-WWW-Form-Urlencoded; charset=UTF-8"));
	assert_false(sg_route_accepts(m.route, "application/json"));
	assert_false(sg_route_accepts(m.route, NULL));
	/* the Table API reads any body as JSON, whatever it says it is */
	assert_int_equal(find(&a, "POST", "/api/now/table/incident", &m), SG_ERR_OK);
	assert_true(sg_route_accepts(m.route, "application/json"));
	assert_true(sg_route_accepts(m.route, "text/plain"));
	assert_true(sg_route_accepts(m.route, NULL));
	sg_arena_cleanup(&a);
}

/* ---- the middleware, driven as the server drives it --------------------- */

/* Request headers for a test: name/value pairs ending in NULL. */
static const char *header(void *impl, const char *name)
{
	const char **h = impl;
	for (; h && h[0]; h += 2)
		if (!strcasecmp(h[0], name))
			return h[1];
	return NULL;
}

static void request(struct sg_req *req, const char *method, const char *path, const char **headers)
{
	sg_req_init(req);
	req->method = method;
	req->path = path;
	req->raw_query = "";
	req->header = header;
	req->impl = headers;
	req->origin = "http://test/";
}

static const char *resp_header(const struct sg_resp *resp, const char *name)
{
	for (size_t i = 0; i < resp->nheaders; i++)
		if (!strcmp(resp->headers[i].name, name))
			return resp->headers[i].value;
	return NULL;
}

/* A streamed route's state: the pieces as they came. */
struct upload {
	size_t pieces;
	char data[64];
	size_t len;
};

static sg_err upload_piece(struct sg_api *api, struct sg_req *req, const char *data, size_t len)
{
	(void)api;
	struct upload *u = req->stream;
	if (!u)
		u = req->stream = sg_arena_alloc(&req->arena, sizeof(*u));
	if (!u)
		return SG_ERR_NOMEM;
	if (u->len + len > sizeof(u->data))
		return SG_ERR_TOO_LARGE;
	memcpy(u->data + u->len, data, len);
	u->len += len;
	u->pieces++;
	return SG_ERR_OK;
}

/* Answers "<pieces>:<bytes>" for a streamed body, "whole:<bytes>" for a
 * buffered one, and the {name} it was called with. */
static sg_err upload_done(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)ctx;
	(void)as;
	const struct upload *u = req->stream;
	sg_buf_reset(&resp->body);
	if (u)
		sg_buf_printf(&resp->body, "%zu:%.*s", u->pieces, (int)u->len, u->data);
	else
		sg_buf_printf(&resp->body, "whole:%.*s", (int)req->body_len,
		              req->body ? req->body : "");
	sg_buf_printf(&resp->body, " %s", sg_req_param(req, "name"));
	resp->status = 201;
	return SG_ERR_OK;
}

static const struct sg_route upload_routes[] = {
    {.method = "PUT",
     .pattern = "/upload/{name}",
     .handler = upload_done,
     .auth = SG_AUTH_NONE,
     .produces = "text/plain",
     .body = SG_BODY_STREAMED,
     .on_body = upload_piece},
    {.method = "POST",
     .pattern = "/upload/{name}",
     .handler = upload_done,
     .auth = SG_AUTH_NONE,
     .produces = "text/plain",
     .body = SG_BODY_BUFFERED},
    {.method = "PUT",
     .pattern = "/api/upload/{name}",
     .handler = upload_done,
     .auth = SG_AUTH_USER,
     .scope = "now/upload",
     .produces = "text/plain",
     .body = SG_BODY_STREAMED,
     .on_body = upload_piece},
};

/* An api over the fixture's model, with its own auth state. */
static void api_open(struct sg_api *api, struct fixture *f)
{
	struct sg_auth *auth = NULL;
	assert_int_equal(sg_auth_new(f->model, &auth), SG_ERR_OK);
	sg_api_init(api, f->model, auth, NULL);
}

static void api_close(struct sg_api *api)
{
	sg_auth_free(api->auth);
	sg_api_cleanup(api);
}

static void streamed_body_comes_in_pieces(void **state)
{
	struct fixture *f = *state;
	struct sg_api api;
	api_open(&api, f);
	api.routes = upload_routes;
	api.nroutes = sizeof(upload_routes) / sizeof(upload_routes[0]);
	const char *headers[] = {"Content-Length", "9", NULL};
	struct sg_req req;
	struct sg_resp resp;

	/* streamed: three pieces through the callback, no buffer */
	request(&req, "PUT", "/upload/f.txt", headers);
	sg_resp_init(&resp);
	assert_false(sg_api_begin(&api, &req, &resp));
	assert_false(sg_api_body(&api, &req, "abc", 3, &resp));
	assert_false(sg_api_body(&api, &req, "def", 3, &resp));
	assert_false(sg_api_body(&api, &req, "ghi", 3, &resp));
	assert_int_equal(req.body_buf.len, 0);
	sg_api_handle(&api, &req, &resp);
	assert_int_equal(resp.status, 201);
	assert_string_equal(sg_buf_str(&resp.body), "3:abcdefghi f.txt");
	/* the produced type is the route's */
	assert_string_equal(resp_header(&resp, "Content-Type"), "text/plain");
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);

	/* buffered: the handler sees the whole body once */
	request(&req, "POST", "/upload/g", headers);
	sg_resp_init(&resp);
	assert_false(sg_api_begin(&api, &req, &resp));
	assert_false(sg_api_body(&api, &req, "abc", 3, &resp));
	assert_false(sg_api_body(&api, &req, "def", 3, &resp));
	sg_api_handle(&api, &req, &resp);
	assert_string_equal(sg_buf_str(&resp.body), "whole:abcdef g");
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);

	/* the callback's refusal is the answer */
	request(&req, "PUT", "/upload/big", headers);
	sg_resp_init(&resp);
	assert_false(sg_api_begin(&api, &req, &resp));
	char big[100];
	memset(big, 'x', sizeof(big));
	assert_true(sg_api_body(&api, &req, big, sizeof(big), &resp));
	assert_int_equal(resp.status, sg_err_status(SG_ERR_TOO_LARGE));
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);

	/* a route needing a user refuses before any piece is read */
	request(&req, "PUT", "/api/upload/x", headers);
	sg_resp_init(&resp);
	assert_true(sg_api_begin(&api, &req, &resp));
	assert_int_equal(resp.status, 401);
	assert_string_equal(resp_header(&resp, "WWW-Authenticate"), "BASIC realm=\"Service-now\"");
	assert_null(req.stream);
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);
	api_close(&api);
}

static void body_over_the_limit(void **state)
{
	struct fixture *f = *state;
	struct sg_api api;
	api_open(&api, f);
	struct sg_req req;
	struct sg_resp resp;
	/* declared too long: refused on the headers, before authentication */
	const char *declared[] = {"Content-Length", "99999999999", NULL};
	request(&req, "POST", "/api/now/table/incident", declared);
	sg_resp_init(&resp);
	assert_true(sg_api_begin(&api, &req, &resp));
	assert_int_equal(resp.status, 400);
	assert_non_null(strstr(sg_buf_str(&resp.body), "99999999999"));
	assert_string_equal(resp_header(&resp, "Content-Type"), SG_JSON_TYPE);
	assert_int_equal(resp.nheaders, 1);
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&req);
	api_close(&api);
}

static void who_must_authenticate(void **state)
{
	struct fixture *f = *state;
	struct sg_api api;
	api_open(&api, f);
	struct sg_req req;
	struct sg_resp resp;
	static const struct {
		const char *method, *path;
		int status;
		size_t nheaders;
	} cases[] = {
	    {"GET", "/api/now/table/incident", 401, 2},    /* Content-Type, WWW-Authenticate */
	    {"GET", "/api/nothing/here", 401, 2},          /* 401 before 400 */
	    {"DELETE", "/api/now/table/incident", 401, 2}, /* 401 before 405 */
	    {"GET", "/nothing/here", 404, 1},              /* outside /api/: 404 */
	    {"POST", "/oauth_token.do", 401, 4},           /* its own refusal, API headers */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		request(&req, cases[i].method, cases[i].path, NULL);
		sg_resp_init(&resp);
		assert_false(sg_api_begin(&api, &req, &resp));
		sg_api_handle(&api, &req, &resp);
		assert_int_equal(resp.status, cases[i].status);
		assert_int_equal(resp.nheaders, cases[i].nheaders);
		assert_string_equal(resp_header(&resp, "Content-Type"), SG_JSON_TYPE);
		assert_null(req.user);
		sg_resp_cleanup(&resp);
		sg_req_cleanup(&req);
	}
	api_close(&api);
}

/* A response that could not be built whole goes out as ServiceNow's 500,
 * from static storage, with its JSON type; a whole one as it is. */
static void a_failed_response_is_the_static_500(void **state)
{
	(void)state;
	struct sg_resp r;
	sg_resp_init(&r);
	json_t *empty = json_object();
	sg_resp_json(&r, 200, empty);
	json_decref(empty);
	sg_resp_header(&r, "X-Total-Count", "1");
	assert_ptr_equal(sg_resp_final(&r), &r);
	r.failed = true; /* as a header that could not be copied leaves it */
	const struct sg_resp *out = sg_resp_final(&r);
	assert_ptr_not_equal(out, &r);
	assert_int_equal(out->status, 500);
	char *want = sg_err_render(SG_ERR_NOMEM, NULL, NULL);
	assert_non_null(want);
	assert_int_equal(out->body.len, strlen(want));
	assert_memory_equal(out->body.data, want, strlen(want));
	free(want);
	assert_string_equal(out->headers[0].name, "Content-Type");
	assert_string_equal(out->headers[0].value, SG_JSON_TYPE);
	sg_resp_cleanup(&r);
	/* a body that ran out of memory fails the response too */
	sg_resp_init(&r);
	sg_buf_set_failed(&r.body);
	assert_int_equal(sg_resp_final(&r)->status, 500);
	sg_resp_cleanup(&r);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(captures_are_named),
	    cmocka_unit_test(unmatched_is_405_or_400),
	    cmocka_unit_test(what_each_route_needs),
	    cmocka_unit_test(content_types),
	    cmocka_unit_test_setup_teardown(streamed_body_comes_in_pieces, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(body_over_the_limit, fixture_setup, fixture_teardown),
	    cmocka_unit_test(a_failed_response_is_the_static_500),
	    cmocka_unit_test_setup_teardown(who_must_authenticate, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("api.routes", tests, NULL, NULL);
}
