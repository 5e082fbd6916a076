/*
 * oauth_get_token.c - POST /api/now/ui/oauth/get_token: the console's "Get
 * OAuth Token", the related link of an outbound OAuth provider's form (in
 * ServiceNow a UI action, with no REST API of its own).  It runs what
 * nowctl oauth get-token runs (outbound/oauth_flow.h), for the admin only:
 *
 *   {"profile": KEY}                                  client_credentials
 *   {"profile": KEY, "user_name": U, "password": P}   password
 *
 * KEY: an oauth_entity_profile's sys_id or name, or an OAuth provider's
 * sys_id or name (its default profile).  The answer is the outcome and the
 * token's expiry, never a token.  An authorization_code profile answers the
 * provider's authorize URL for the browser to open; the provider sends the
 * browser back to /oauth_redirect.do (oauth_redirect.c), which stores the
 * token.  A refusal says which of the provider's failures it was
 * ("reason": unreachable, refused with its "provider_status", bad_answer)
 * in ServiceNow's error shape.  The password is used for this request only:
 * not logged, not stored, zeroed after use (the request journal masks it).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "outbound/oauth_flow.h"

/* {"error":{"message","detail"[,"reason","provider_status"]},"status":"failure"}
 * with status; reason NULL: none. */
static sg_err refuse(struct sg_resp *resp, int status, const char *message, const char *detail,
                     const char *reason, int provider_status)
{
	json_t *e = json_pack("{s:s, s:s}", "message", message, "detail", detail);
	json_t *body = e ? json_pack("{s:O, s:s}", "error", e, "status", "failure") : NULL;
	bool ok = body != NULL;
	if (ok && reason)
		ok = !json_object_set_new(e, "reason", json_string(reason));
	if (ok && reason && provider_status)
		ok = !json_object_set_new(e, "provider_status", json_integer(provider_status));
	json_decref(e);
	if (ok)
		sg_resp_json(resp, status, body);
	json_decref(body);
	return !ok || resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* The answer to a failed fetch: the provider's failures by their kind, the
 * instance's own (no such profile, a host not allowed, a bad request) as
 * the lower layer coded them. */
static sg_err fetch_failed(struct sg_resp *resp, sg_err err, const struct sg_oauth_out_result *res,
                           const char *msg)
{
	switch (res->failure) {
	case SG_OAUTH_OUT_UNREACHABLE:
		return refuse(resp, 502,
		              "OAuth flow failed: the OAuth provider could not be reached", msg,
		              "unreachable", 0);
	case SG_OAUTH_OUT_REFUSED:
		return refuse(resp, 502, "OAuth flow failed: the OAuth provider refused", msg,
		              "refused", res->provider_status);
	case SG_OAUTH_OUT_BAD_ANSWER:
		return refuse(resp, 502, "OAuth flow failed: the OAuth provider answered no token",
		              msg, "bad_answer", res->provider_status);
	case SG_OAUTH_OUT_NOT_ASKED:
		break;
	}
	if (err == SG_ERR_NOMEM || err == SG_ERR_STORE || err == SG_ERR_BUSY || !*msg)
		return err;
	if (err == SG_ERR_NO_RECORD)
		return refuse(resp, 404, "No Record found", msg, NULL, 0);
	if (err == SG_ERR_BAD_PARAM)
		return refuse(resp, 400, "Invalid parameter", msg, NULL, 0);
	return refuse(resp, 500, "OAuth flow failed", msg, NULL, 0);
}

/* A string member of in: NULL when absent, BAD_PARAM when not a string. */
static sg_err member(struct sg_ctx *ctx, const json_t *in, const char *key, const char **out)
{
	const json_t *v = json_object_get(in, key);
	*out = json_string_value(v);
	if (v && !json_is_string(v)) {
		sg_ctx_set_err(ctx, "\"%s\" must be a string", key);
		return SG_ERR_BAD_PARAM;
	}
	return SG_ERR_OK;
}

/* The success of client_credentials or password: the outcome and the expiry. */
static sg_err fetched(struct sg_resp *resp, const char *pid, const char *grant,
                      const struct sg_oauth_out_result *res)
{
	char expires[SG_DT_LEN + 1];
	sg_time_format(sg_time_real() + res->expires_in, expires);
	json_t *body =
	    json_pack("{s:{s:s, s:s, s:s, s:s, s:I, s:s, s:b, s:s}}", "result", "status", "success",
	              "message", "OAuth token flow completed successfully", "profile", pid,
	              "grant_type", grant, "expires_in", (json_int_t)res->expires_in, "expires",
	              expires, "refresh_token", res->refresh, "scope", res->scope);
	if (!body)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* authorization_code: the URL the browser opens (a new state is kept). */
static sg_err authorize(struct sg_ctx *ctx, struct sg_req *req, struct sg_resp *resp,
                        const char *pid)
{
	char *url = NULL, msg[512] = "";
	sg_err err = sg_oauth_out_authorize_url(ctx, pid, ctx->user.sys_id, req->base_url, &url,
	                                        msg, sizeof(msg));
	if (err) {
		struct sg_oauth_out_result none = {0};
		return fetch_failed(resp, err, &none, msg);
	}
	json_t *body =
	    json_pack("{s:{s:s, s:s, s:s, s:s, s:s}}", "result", "status", "authorize", "message",
	              "Sign in at the OAuth provider and allow access; it sends the "
	              "browser back to the instance's /oauth_redirect.do, which stores "
	              "the token",
	              "profile", pid, "grant_type", "authorization_code", "authorize_url", url);
	free(url);
	if (!body)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

sg_err sg_oauth_get_token(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool admin = ctx->system;
	sg_err err = admin ? SG_ERR_OK : sg_acl_has_role(as, "admin", &admin);
	if (err)
		return err;
	if (!admin)
		return refuse(resp, 403, "Insufficient rights",
		              "Get OAuth Token requires the admin role", NULL, 0);
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *in;
	if ((err = sg_json_parse_body(req->body, req->body_len, &in)))
		return err;
	const char *key = NULL, *user = NULL, *password = NULL;
	if (!json_is_object(in)) {
		sg_ctx_set_err(ctx, "%s", "The body must be an object with a \"profile\"");
		err = SG_ERR_BAD_PARAM;
	}
	if (!err)
		err = member(ctx, in, "profile", &key);
	if (!err)
		err = member(ctx, in, "user_name", &user);
	if (!err)
		err = member(ctx, in, "password", &password);
	if (!err && (!key || !*key)) {
		sg_ctx_set_err(ctx, "%s", "\"profile\" is missing: an OAuth profile or provider");
		err = SG_ERR_BAD_PARAM;
	}
	char pid[SG_ID_LEN + 1] = "", grant[64] = "", msg[512] = "";
	if (!err) {
		err = sg_oauth_out_profile(ctx, key, pid);
		if (err == SG_ERR_NO_RECORD)
			snprintf(msg, sizeof(msg), "no OAuth profile or provider '%.200s'", key);
	}
	if (!err)
		err = sg_oauth_out_grant_type(ctx, pid, grant, sizeof(grant));
	struct sg_oauth_out_result res = {0};
	if (!err && !strcmp(grant, "authorization_code")) {
		err = authorize(ctx, req, resp, pid);
	} else if (!err) {
		err = sg_oauth_out_fetch(ctx, pid, user, password, &res, msg, sizeof(msg));
		sg_log_info("oauth: Get OAuth Token for the profile %s (%s) by %s: %s", pid, grant,
		            ctx->user.user_name, err ? (*msg ? msg : sg_err_name(err)) : "stored");
		err = err ? fetch_failed(resp, err, &res, msg) : fetched(resp, pid, grant, &res);
	} else if (*msg) {
		err = fetch_failed(resp, err, &res, msg);
	}
	/* the owner's password leaves memory with the request's copy of it */
	json_t *pw = json_is_object(in) ? json_object_get(in, "password") : NULL;
	if (json_is_string(pw) && json_string_length(pw))
		sodium_memzero((char *)json_string_value(pw), json_string_length(pw));
	json_decref(in);
	return err;
}
