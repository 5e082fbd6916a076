/*
 * middleware.c - what runs around every handler: the method override, the
 * route, the body limit, authentication (Basic or Bearer), the "needs a
 * user" rule, the REST API auth scope, the base URL of absolute links, and
 * the headers every API response carries.
 *
 * The order is the platform's as observed: a body over the limit is refused
 * (a 400 naming both sizes) before anything else, then an unknown path outside /api/
 * is a 404, then under /api/ the caller must authenticate even for a path
 * no route serves (401 before 400/405), then the scope (403), then the
 * Accept header (406).  Under /api/, every JSON answer is given in XML when
 * the client asks for it, and an XML body is read into JSON (xml.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/faults.h"

#include "api/journal.h"
#include "api/ratelimit.h"
#include "api/xml.h"
#include "auth/basic.h"
#include "auth/oauth.h"
#include "auth/session.h"
#include "core/log.h"

#define DEFAULT_MAX_BODY          10485760LL
#define DEFAULT_MAX_ATTACHMENT_MB 1024LL
#define MB                        (1024LL * 1024LL)
#define BASE_URL_MAX              1024

void sg_api_init(struct sg_api *api, struct sg_model *model, struct sg_auth *auth,
                 const char *base_url)
{
	memset(api, 0, sizeof(*api));
	api->model = model;
	api->auth = auth;
	api->base_url = base_url;
	api->routes = sg_api_routes(&api->nroutes);
	api->ui_dir = sg_ui_default_dir();
	pthread_mutex_init(&api->lock, NULL);
	if (sg_ratelimit_new(&api->ratelimit))
		sg_log_error("rate limits: out of memory; rules are not enforced");
	if (!(api->journal = sg_journal_new()))
		sg_log_error("request journal: out of memory; requests are not recorded");
}

void sg_api_cleanup(struct sg_api *api)
{
	sg_ratelimit_free(api->ratelimit);
	sg_journal_free(api->journal);
	pthread_mutex_destroy(&api->lock);
}

/* The settings, read again when a property changed.  An error (the
 * properties could not be read) leaves them to be read by the next request;
 * the caller answers it. */
static sg_err settings(struct sg_api *api, struct sg_api_settings *out)
{
	unsigned long gen = atomic_load(&api->model->props_gen);
	sg_err err = SG_ERR_OK;
	pthread_mutex_lock(&api->lock);
	if (!api->cfg.valid || api->cfg.gen != gen) {
		struct sg_ctx ctx;
		struct sg_api_settings cfg = {.max_body = DEFAULT_MAX_BODY,
		                              .max_attachment = DEFAULT_MAX_ATTACHMENT_MB * MB};
		err = sg_ctx_begin(&ctx, api->model, NULL);
		if (!err) {
			bool replace;
			char *uri = NULL;
			long long max;
			err = sg_prop_bool(&ctx, "glide.rest.replace_request_host_with_property",
			                   true, &replace);
			if (!err && replace)
				err = sg_prop_get(&ctx, "glide.servlet.uri", &uri);
			if (!err)
				snprintf(cfg.servlet_uri, sizeof(cfg.servlet_uri), "%s",
				         uri ? uri : "");
			free(uri);
			if (!err)
				err = sg_prop_int(&ctx, "glide.rest.max_content_length",
				                  DEFAULT_MAX_BODY, &max);
			if (!err)
				cfg.max_body = max > 0 ? max : DEFAULT_MAX_BODY;
			/* megabytes [sc-max-allowed-attachment-size.md]; kept
			 * below 2^53 bytes so that no arithmetic overflows */
			if (!err)
				err = sg_prop_int(&ctx, "com.glide.attachment.max_size",
				                  DEFAULT_MAX_ATTACHMENT_MB, &max);
			if (!err)
				cfg.max_attachment =
				    (max > 0 && max < (1LL << 33) ? max
				                                  : DEFAULT_MAX_ATTACHMENT_MB) *
				    MB;
			sg_ctx_end(&ctx);
		}
		if (!err) {
			cfg.gen = gen;
			cfg.valid = true;
			api->cfg = cfg;
		}
	}
	*out = api->cfg;
	pthread_mutex_unlock(&api->lock);
	return err;
}

/* The base URL every absolute link starts with: --base-url, else
 * glide.servlet.uri (when glide.rest.replace_request_host_with_property),
 * else the request's own scheme and Host (validated by the server).  What a
 * URL may not hold is percent-encoded, so that it can be echoed in Link and
 * Location as is.  *url in req's arena; NOMEM, or the settings' error. */
static sg_err base_url(struct sg_api *api, struct sg_req *req, const char **url)
{
	*url = NULL;
	struct sg_api_settings cfg;
	const char *b = api->base_url;
	if (!b || !*b) {
		sg_err err = settings(api, &cfg);
		if (err)
			return err;
		b = cfg.servlet_uri;
	}
	if (!*b)
		b = req->origin ? req->origin : "";
	/* the base URL, cut to its maximum, ending in exactly one '/' */
	size_t n = strnlen(b, BASE_URL_MAX - 2);
	struct sg_buf out;
	sg_buf_init(&out, 4 * BASE_URL_MAX);
	sg_url_escape(&out, b, n, true);
	if (!out.len || out.data[out.len - 1] != '/')
		sg_buf_putc(&out, '/');
	char *copy = sg_buf_failed(&out) ? NULL : sg_arena_strdup(&req->arena, sg_buf_str(&out));
	sg_buf_cleanup(&out);
	if (!copy)
		return SG_ERR_NOMEM;
	*url = copy;
	return SG_ERR_OK;
}

/* An answer given before any handler runs: the error body and its type. */
static void refuse_as(struct sg_resp *resp, sg_err err, const char *a1, const char *a2,
                      bool challenge)
{
	sg_resp_error(resp, err, a1, a2);
	sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
	if (err == SG_ERR_UNAUTHENTICATED && challenge)
		sg_resp_header(resp, "WWW-Authenticate", "BASIC realm=\"Service-now\"");
}

static void refuse(struct sg_resp *resp, sg_err err, const char *a1, const char *a2)
{
	refuse_as(resp, err, a1, a2, true);
}

/* Whether req came by the console's session (a cookie, no Authorization):
 * a browser, which a Basic challenge would make prompt for a password. */
static bool by_session(const struct sg_req *req)
{
	char id[SG_SESSION_TOKEN_SIZE];
	return !sg_req_header(req, "Authorization") && sg_ui_session_cookie(req, id);
}

/* Under /api/ (the REST framework), the answer in the format the client
 * accepts: a JSON answer is rewritten as XML when it asked for XML. */
static void finish(const struct sg_req *req, struct sg_resp *resp)
{
	const char *type;
	if (req->path && !strncmp(req->path, "/api/", 5) &&
	    sg_xml_negotiate(sg_req_header(req, "Accept"), &type) == SG_FMT_XML)
		sg_xml_answer(resp, type);
}

void sg_api_too_large(const struct sg_req *req, unsigned long long got, struct sg_resp *resp)
{
	sg_resp_cleanup(resp);
	sg_resp_init(resp);
	if (req->match.route && req->match.route->limit == SG_LIMIT_ATTACHMENT) {
		/* The attachment limit, in MB as the property holds it. */
		char detail[160];
		snprintf(detail, sizeof(detail),
		         "Attachment of %llu bytes exceeds the maximum attachment size of %lld MB",
		         got, req->max_body / MB);
		sg_resp_refuse(resp, 413, "Request Entity Too Large", detail);
		return;
	}
	char a[32], b[32];
	snprintf(a, sizeof(a), "%llu", got);
	snprintf(b, sizeof(b), "%lld", req->max_body);
	refuse(resp, SG_ERR_TOO_LARGE, a, b);
}

/* Basic or Bearer, from the Authorization header; without one, the
 * console's session (ui.c): its JSESSIONID cookie counts only with the
 * session's CSRF token in X-UserToken, whatever the method, so that a page
 * of another site, which the browser gives the cookie but which cannot
 * read the token, calls the API as nobody. */
static sg_err authenticate(struct sg_api *api, const struct sg_req *req, struct sg_user *user,
                           struct sg_bearer *bearer, bool *is_bearer)
{
	const char *h = sg_req_header(req, "Authorization");
	*is_bearer = h && !strncasecmp(h, "Bearer ", 7);
	if (*is_bearer)
		return sg_auth_bearer(api->auth, h, user, bearer);
	char id[SG_SESSION_TOKEN_SIZE], ck[SG_SESSION_TOKEN_SIZE];
	if (!h && sg_ui_session_cookie(req, id)) {
		sg_err err = sg_session_check(api->auth, id, user, ck);
		if (!err && !sg_session_ck_matches(ck, sg_req_header(req, "X-UserToken")))
			err = SG_ERR_UNAUTHENTICATED;
		return err;
	}
	return sg_auth_basic(api->auth, h, user);
}

/*
 * Who may go on to the handler: anyone for a route that needs no user; else
 * the request must be under /api/ or a route under /_snowglobe/ (an unknown
 * path elsewhere is a 404), carry
 * valid credentials (even when no route serves the path: the platform
 * authenticates before it resolves), and a token must hold the route's API
 * scope.  Returns true when resp holds the refusal.
 */
static bool admit(struct sg_api *api, struct sg_req *req, struct sg_resp *resp)
{
	const struct sg_route *route = req->match.route;
	/* Injected faults that need no user answer first; the others last. */
	if (sg_faults_apply(api, req, resp, false))
		return true;
	if (route && route->auth == SG_AUTH_NONE)
		return false;
	if (strncmp(req->path, "/api/", 5) != 0 && !(route && sg_snowglobe_path(req->path))) {
		refuse(resp, SG_ERR_NO_RESOURCE, NULL, NULL);
		resp->status = 404;
		return true;
	}
	sg_err err = SG_ERR_OK;
	if (req->parent) {
		/* A batch item runs as its batch's user, under its batch's token. */
		req->user = req->parent->user;
		req->bearer = req->parent->bearer;
	} else if (route && route->auth == SG_AUTH_OPTIONAL && req->anonymous_ok &&
	           !sg_req_header(req, "Authorization")) {
		/* anonymous: the handler decides */
	} else {
		bool is_bearer = false;
		err = authenticate(api, req, &req->user_storage, &req->bearer_storage, &is_bearer);
		if (!err) {
			req->user = &req->user_storage;
			req->bearer = is_bearer ? &req->bearer_storage : NULL;
		}
	}
	if (!err && req->bearer && route && route->scope)
		err = sg_oauth_scope_check(api->auth, req->bearer, route->scope, req->method);
	if (err) {
		req->user = NULL;
		refuse_as(resp, err, NULL, NULL, !by_session(req));
		return true;
	}
	if (!route) {
		refuse(resp, req->route_err, req->method, NULL);
		return true;
	}
	/* An Accept the JSON API cannot answer: 406 [r_RESTAPIHTTPResponseCodes]. */
	if (route->produces && !strcmp(route->produces, SG_JSON_TYPE) &&
	    sg_xml_negotiate(sg_req_header(req, "Accept"), NULL) == SG_FMT_NONE) {
		refuse(resp, SG_ERR_NOT_ACCEPTABLE,
		       "The Accept header names no supported response format: application/json, "
		       "application/xml, text/xml",
		       NULL);
		return true;
	}
	return sg_faults_apply(api, req, resp, true) || sg_ratelimit_admit(api, req, resp);
}

/* An XML body (Content-Type application/xml, text/xml or +xml) read into the
 * JSON the handler expects; a body that starts as JSON is left to be read
 * as JSON, as the Table API reads any declared type.  True when resp holds
 * the refusal (400 malformed XML, 500 out of memory). */
static bool xml_body(struct sg_req *req, struct sg_resp *resp)
{
	if (!req->body || !sg_xml_is_xml_type(sg_req_header(req, "Content-Type")))
		return false;
	size_t i = 0;
	while (i < req->body_len && (req->body[i] == ' ' || req->body[i] == '\t' ||
	                             req->body[i] == '\r' || req->body[i] == '\n'))
		i++;
	if (i < req->body_len && (req->body[i] == '{' || req->body[i] == '['))
		return false;
	const char *why = NULL;
	struct sg_buf json;
	sg_buf_init(&json, (size_t)req->max_body * 8 + 64);
	sg_err err = sg_xml_body_to_json(req->body, req->body_len, &json, &why);
	char *text = NULL;
	if (!err && !(text = sg_arena_strndup(&req->arena, json.data, json.len)))
		err = SG_ERR_NOMEM;
	sg_buf_cleanup(&json);
	if (err) {
		refuse(resp, err, why, NULL);
		return true;
	}
	req->body = text;
	req->body_len = strlen(text); /* (JSON text holds no NUL) */
	return false;
}

/* Runs the handler as req's user; every answer it gives carries these. */
static void dispatch(struct sg_api *api, struct sg_req *req, struct sg_resp *resp)
{
	const struct sg_route *route = req->match.route;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, api->model, req->user);
	if (!err) {
		struct sg_auth_session as;
		sg_auth_session_init(&as, api->auth, &ctx,
		                     sg_req_header(req, "X-Snowglobe-Elevate"));
		err = route->auth == SG_AUTH_USER ? sg_tinyurl_expand(&ctx, req) : SG_ERR_OK;
		/* Every test-double power is the admin's only: refused here, once. */
		bool admitted = true;
		if (!err && sg_snowglobe_path(route->pattern))
			err = sg_snowglobe_admit(&ctx, &as, resp, &admitted);
		if (!err && admitted)
			err = route->handler(api, &ctx, &as, req, resp);
		/* An answer computed with a failed accessor (a time zone) is not given. */
		if (!err)
			err = sg_ctx_error(&ctx);
		if (err)
			sg_resp_error(resp, err, ctx.err_arg, ctx.err_arg2);
		sg_auth_session_cleanup(&as);
		sg_ctx_end(&ctx);
	} else {
		sg_resp_error(resp, err, NULL, NULL);
	}
	if (err && sg_err_status(err) >= 500)
		sg_log_error("%s %s: %s", req->method, req->path, sg_err_name(err));
	if (req->user)
		sg_resp_header(resp, "X-Is-Logged-In", "true");
	if (resp->status == 204)
		return;
	const char *type = err ? SG_JSON_TYPE : route->produces;
	if (type)
		sg_resp_header(resp, "Content-Type", type);
	/* A handler that said how its answer may be kept (the console's files) is believed. */
	for (size_t i = 0; i < resp->nheaders; i++)
		if (!strcasecmp(resp->headers[i].name, "Cache-Control"))
			return;
	sg_resp_header(resp, "Cache-control", "no-cache,no-store,must-revalidate,max-age=-1");
	sg_resp_header(resp, "Pragma", "no-store,no-cache");
	sg_resp_header(resp, "Expires", "0");
}

static bool streamed(const struct sg_req *req)
{
	return req->match.route && req->match.route->body == SG_BODY_STREAMED;
}

bool sg_api_begin(struct sg_api *api, struct sg_req *req, struct sg_resp *resp)
{
	const char *override = sg_req_header(req, "X-HTTP-Method-Override");
	if (override && !strcmp(req->method, "POST"))
		req->method = override;
	sg_err err = SG_ERR_NOMEM;
	if (!req->arena.failed) /* the server's own pieces of the request are there */
		err = sg_route_find(api->routes, api->nroutes, req->method, req->path, &req->arena,
		                    &req->match);
	if (err == SG_ERR_NOMEM) {
		refuse(resp, err, NULL, NULL);
		finish(req, resp);
		return true;
	}
	/* An instance that should look exactly like ServiceNow has no test-double powers. */
	if (api->snowglobe_off && req->path && sg_snowglobe_path(req->path)) {
		memset(&req->match, 0, sizeof(req->match));
		err = SG_ERR_NO_RESOURCE;
	}
	req->route_err = err;
	/* What other writers (threads, processes, nodes) changed, before
	 * anything of this request is decided: the size limits below come
	 * from properties a write on another node may just have changed. */
	sg_model_sync(api->model);
	struct sg_api_settings cfg;
	err = settings(api, &cfg);
	if (err) {
		refuse(resp, err, NULL, NULL);
		finish(req, resp);
		return true;
	}
	bool attachment = req->match.route && req->match.route->limit == SG_LIMIT_ATTACHMENT;
	req->max_body = attachment ? cfg.max_attachment : cfg.max_body;
	sg_buf_init(&req->body_buf, (size_t)cfg.max_body);
	const char *cl = sg_req_header(req, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > (unsigned long long)req->max_body) {
		sg_api_too_large(req, strtoull(cl, NULL, 10), resp);
		finish(req, resp);
		return true;
	}
	if (!streamed(req))
		return false;
	/* A streamed body goes to its handler only once the caller is known. */
	sg_snapshot_follow(api);
	if (!admit(api, req, resp))
		return false;
	finish(req, resp);
	return true;
}

bool sg_api_body(struct sg_api *api, struct sg_req *req, const char *data, size_t len,
                 struct sg_resp *resp)
{
	if (!len)
		return false;
	if (streamed(req)) {
		req->body_seen += len;
		if (req->body_seen > (unsigned long long)req->max_body) {
			sg_api_too_large(req, req->body_seen, resp);
			finish(req, resp);
			return true;
		}
		sg_err err = req->match.route->on_body(api, req, data, len);
		if (err) {
			refuse(resp, err, NULL, NULL);
			finish(req, resp);
			return true;
		}
		return false;
	}
	sg_buf_append(&req->body_buf, data, len);
	if (sg_buf_failed(&req->body_buf)) {
		if (req->body_buf.too_large)
			sg_api_too_large(req, req->body_buf.len + len, resp);
		else
			refuse(resp, SG_ERR_NOMEM, NULL, NULL);
		finish(req, resp);
		return true;
	}
	return false;
}

void sg_api_handle(struct sg_api *api, struct sg_req *req, struct sg_resp *resp)
{
	const struct sg_route *route = req->match.route;
	if (!streamed(req)) {
		/* The whole request is here (sg_api_begin read what other
		 * writers changed). */
		sg_snapshot_follow(api);
		/* A fallback route serves the path only when its resolver knows it;
		 * else the path is answered as one no route knows. */
		if (route && route->resolve) {
			sg_err e = route->resolve(api, req, &req->anonymous_ok);
			if (e == SG_ERR_NO_RESOURCE || e == SG_ERR_BAD_METHOD) {
				req->match.route = route = NULL;
				req->route_err = e;
			} else if (e) {
				refuse(resp, e, NULL, NULL);
				finish(req, resp);
				return;
			}
		}
		if (route && sg_route_accepts(route, sg_req_header(req, "Content-Type"))) {
			req->body = req->body_buf.data;
			req->body_len = req->body_buf.len;
		}
		if (admit(api, req, resp) || xml_body(req, resp)) {
			finish(req, resp);
			return;
		}
	}
	sg_err err = base_url(api, req, &req->base_url);
	if (err)
		refuse(resp, err, NULL, NULL);
	else
		dispatch(api, req, resp);
	finish(req, resp);
}

void sg_api_subrequest(struct sg_api *api, struct sg_req *sub, const char *body, size_t len,
                       struct sg_resp *resp)
{
	/* The steps of a request off the wire, its body in one piece. */
	if (sg_api_begin(api, sub, resp) || sg_api_body(api, sub, body, len, resp))
		return;
	sg_api_handle(api, sub, resp);
}
