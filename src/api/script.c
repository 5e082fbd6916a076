/*
 * script.c - Scripts - Background over REST: POST /api/now/snowglobe/script
 * runs {"script": "..."} as the caller and answers what it printed.
 *
 * ServiceNow's Scripts - Background (sys.scripts.do) is for admins who have
 * elevated to security_admin; so is this endpoint: the caller needs admin
 * and security_admin in effect (X-Snowglobe-Elevate: security_admin, honoured
 * when snowglobe.rest.allow_elevation is true).  Anyone else gets 403.  The
 * script runs with the caller's model session: GlideRecord as the system
 * stamping the caller, GlideRecordSecure under the caller's ACLs, within the
 * script limits (script/script.h).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/json.h"
#include "script/script.h"

static sg_err refuse(struct sg_resp *resp)
{
	char *body = NULL;
	json_t *j =
	    json_pack("{s:{s:s, s:s}, s:s}", "error", "message", "Insufficient rights", "detail",
	              "Scripts - Background requires the admin role and security_admin "
	              "in effect (elevated)",
	              "status", "failure");
	if (j)
		body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!body)
		return SG_ERR_NOMEM;
	sg_buf_reset(&resp->body);
	sg_buf_puts(&resp->body, body);
	free(body);
	resp->status = 403;
	return sg_buf_failed(&resp->body) ? SG_ERR_NOMEM : SG_ERR_OK;
}

sg_err sg_script_background(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool admin = false, sec = false;
	sg_err err = sg_acl_has_role(as, "admin", &admin);
	if (!err)
		err = sg_acl_has_role(as, "security_admin", &sec);
	if (err)
		return err;
	if (!ctx->system && !(admin && sec))
		return refuse(resp);
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *body;
	if ((err = sg_json_parse_body(req->body, req->body_len, &body)))
		return err;
	json_t *script = json_object_get(body, "script");
	if (!json_is_string(script)) {
		json_decref(body);
		sg_ctx_set_err(ctx, "script: a string is required");
		return SG_ERR_BAD_PARAM;
	}
	struct sg_script_run r = {.source = json_string_value(script),
	                          .source_len = json_string_length(script),
	                          .name = "Background",
	                          .as = as};
	struct sg_script_result res;
	err = sg_script_run(&r, &res);
	json_decref(body);
	json_t *out = err ? NULL : sg_script_result_json(&res);
	sg_script_result_cleanup(&res);
	if (err)
		return err;
	json_t *wrap = out ? json_pack("{s:o}", "result", out) : NULL;
	char *text = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
	json_decref(wrap);
	if (!text)
		return SG_ERR_NOMEM;
	sg_buf_reset(&resp->body);
	sg_buf_puts(&resp->body, text);
	free(text);
	resp->status = 200;
	return sg_buf_failed(&resp->body) ? SG_ERR_NOMEM : SG_ERR_OK;
}
