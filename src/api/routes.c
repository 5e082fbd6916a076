/*
 * routes.c - the whole REST surface in one table (Redis keeps its command
 * table as data the same way), and the dispatcher that runs a route.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"

#define TABLE_ROUTES(prefix, v)                                                                    \
	{"GET", prefix "/table/{table}", sg_table_list, SG_NEEDS_USER, v},                         \
		{"POST", prefix "/table/{table}", sg_table_create, SG_NEEDS_USER, v},              \
		{"GET", prefix "/table/{table}/{sys_id}", sg_table_get, SG_NEEDS_USER, v},         \
		{"PUT", prefix "/table/{table}/{sys_id}", sg_table_update, SG_NEEDS_USER, v},      \
		{"PATCH", prefix "/table/{table}/{sys_id}", sg_table_update, SG_NEEDS_USER, v},    \
		{"DELETE", prefix "/table/{table}/{sys_id}", sg_table_delete, SG_NEEDS_USER, v}

static const struct sg_route routes[] = {
	TABLE_ROUTES("/api/now", 0),
	TABLE_ROUTES("/api/now/v1", 1),
	TABLE_ROUTES("/api/now/v2", 2),
	{"GET", "/api/now/stats/{table}", sg_stats_get, SG_NEEDS_USER, 0},
	{"GET", "/api/now/v1/stats/{table}", sg_stats_get, SG_NEEDS_USER, 1},
	{"POST", "/oauth_token.do", sg_oauth_token_endpoint, SG_NEEDS_NOTHING, 0},
	{"POST", "/oauth_revoke_token.do", sg_oauth_revoke_endpoint, SG_NEEDS_NOTHING, 0},
	{"GET", "/oauth_revoke_token.do", sg_oauth_revoke_endpoint, SG_NEEDS_NOTHING, 0},
	{"POST", "/oauth_revoke.do", sg_oauth_revoke_endpoint, SG_NEEDS_NOTHING, 0},
	{"GET", "/oauth_revoke.do", sg_oauth_revoke_endpoint, SG_NEEDS_NOTHING, 0},
};

/* Matches path against pattern, capturing {name} segments into scratch. */
static bool match(const char *pattern, const char *path, struct sg_route_params *params,
		  char *scratch, size_t size)
{
	const char *pp = pattern, *sp = path;
	size_t used = 0;
	while (*pp && *sp) {
		if (*pp == '{') {
			const char *close = strchr(pp, '}');
			const char *end = strchr(sp, '/');
			size_t n = end ? (size_t)(end - sp) : strlen(sp);
			if (!close || n == 0 || used + n + 1 > size)
				return false;
			char *dst = scratch + used;
			memcpy(dst, sp, n);
			dst[n] = '\0';
			used += n + 1;
			if (!strncmp(pp, "{table}", 7))
				params->table = dst;
			else if (!strncmp(pp, "{sys_id}", 8))
				params->sys_id = dst;
			pp = close + 1;
			sp += n;
			continue;
		}
		if (*pp != *sp)
			return false;
		pp++;
		sp++;
	}
	/* A trailing slash on the request is tolerated. */
	if (*sp == '/' && sp[1] == '\0')
		sp++;
	return !*pp && !*sp;
}

const struct sg_route *sg_api_route(const char *method, const char *path,
				    struct sg_route_params *params, char *scratch, size_t size,
				    sg_err *err)
{
	bool path_known = false;
	/* HEAD is GET without the body [c_RESTAPI.md]. */
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		struct sg_route_params p = {0};
		if (!match(routes[i].pattern, path, &p, scratch, size))
			continue;
		path_known = true;
		if (strcmp(routes[i].method, m) != 0)
			continue;
		p.version = routes[i].version;
		*params = p;
		*err = SG_ERR_OK;
		return &routes[i];
	}
	*err = path_known ? SG_ERR_BAD_METHOD : SG_ERR_NO_RESOURCE;
	return NULL;
}

static void standard_headers(struct sg_resp *resp)
{
	sg_resp_header(resp, "Content-Type", "application/json;charset=UTF-8");
	sg_resp_header(resp, "Cache-control", "no-cache,no-store,must-revalidate,max-age=-1");
	sg_resp_header(resp, "Pragma", "no-store,no-cache");
	sg_resp_header(resp, "Expires", "0");
}

void sg_api_dispatch(struct sg_api *api, const struct sg_route *route,
		     const struct sg_route_params *params, const struct sg_req *req,
		     struct sg_resp *resp)
{
	struct sg_ctx ctx;
	struct sg_auth_session as;
	sg_err err = sg_ctx_begin(&ctx, api->model, req->user);
	if (!err) {
		sg_auth_session_init(&as, api->auth, &ctx, sg_req_header(req, "X-Snowglobe-Elevate"));
		err = route->handler(api, &ctx, &as, req, params, resp);
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
	if (resp->status != 204)
		standard_headers(resp);
}
