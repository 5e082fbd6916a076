/*
 * snowglobe.c - the gate of the test-double powers under /_snowglobe/
 * (snapshots, the request journal, faults, the clock): what no real
 * instance gives a test suite.  Every route there is the admin's only, and
 * nowd --no-snowglobe-api answers its paths as paths no route knows
 * (middleware.c), so such an instance looks exactly like ServiceNow.
 *
 * GET /_snowglobe/ lists the powers this build serves: the routes of the
 * table under the prefix.
 */
#include <string.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/version.h"

bool sg_snowglobe_path(const char *path)
{
	size_t n = strlen(SG_SNOWGLOBE_PREFIX);
	return !strncmp(path, SG_SNOWGLOBE_PREFIX, n) && (path[n] == '\0' || path[n] == '/');
}

sg_err sg_snowglobe_admit(struct sg_ctx *ctx, struct sg_auth_session *as, struct sg_resp *resp,
                          bool *ok)
{
	*ok = ctx->system;
	if (*ok)
		return SG_ERR_OK;
	sg_err err = sg_acl_has_role(as, "admin", ok);
	if (err)
		return err;
	if (!*ok)
		sg_resp_refuse(resp, 403, "Insufficient rights",
		               "The Snowglobe test API (/_snowglobe/) requires the admin role");
	return SG_ERR_OK;
}

sg_err sg_snowglobe_index(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp)
{
	(void)req;
	(void)ctx;
	(void)as;
	json_t *routes = json_array();
	json_t *body =
	    routes ? json_pack("{s:{s:s, s:o}}", "result", "version", SG_VERSION, "routes", routes)
	           : NULL;
	if (!body)
		return SG_ERR_NOMEM;
	for (size_t i = 0; i < api->nroutes; i++) {
		const struct sg_route *r = &api->routes[i];
		if (!sg_snowglobe_path(r->pattern))
			continue;
		json_t *row = json_pack("{s:s, s:s}", "method", r->method, "path", r->pattern);
		if (!row || json_array_append_new(routes, row)) {
			json_decref(body);
			return SG_ERR_NOMEM;
		}
	}
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return SG_ERR_OK;
}
