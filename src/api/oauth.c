/*
 * oauth.c - the OAuth endpoints: POST /oauth_token.do and the revocation
 * URLs.  They need no user: the client authenticates in the request.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/oauth.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/util.h"

#define MAX_FIELDS 32

static void denied(struct sg_resp *resp)
{
	resp->status = 401;
	sg_buf_reset(&resp->body);
	sg_buf_puts(&resp->body, sg_oauth_denied_body());
}

/*
 * A Snowglobe extension, off unless snowglobe.oauth.reveal_denial_reason is
 * true: the refusal's reason in an X-Snowglobe-Denial-Reason header, so that
 * a connection test against a test instance can name it.  ServiceNow has no
 * such thing (the reason only reaches its log); the body stays its body.
 */
static void reveal(struct sg_ctx *ctx, sg_err err, const struct sg_token_grant *g,
                   struct sg_resp *resp)
{
	bool on = false;
	if (err != SG_ERR_OAUTH_DENIED || !g->denied[0] ||
	    sg_prop_bool(ctx, "snowglobe.oauth.reveal_denial_reason", false, &on) || !on)
		return;
	sg_resp_header(resp, "X-Snowglobe-Denial-Reason", g->denied);
}

sg_err sg_oauth_token_endpoint(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                               struct sg_req *req, struct sg_resp *resp)
{
	(void)as;
	struct sg_kv fields[MAX_FIELDS];
	size_t n = 0;
	char *copy = NULL;
	sg_err err = SG_ERR_OK;
	/* The route accepts form-encoded bodies only: another is not passed on. */
	if (req->body && !(copy = sg_form_parse(req->body, req->body_len, fields, MAX_FIELDS, &n)))
		err = SG_ERR_NOMEM;
	/* Fields given only in the URL count, but mark the request. */
	bool in_query = req->nargs > 0;
	for (size_t i = 0; i < req->nargs && n < MAX_FIELDS; i++)
		fields[n++] = req->args[i];
	struct sg_token_grant g;
	memset(&g, 0, sizeof(g));
	if (!err)
		err = sg_oauth_grant(api->auth, fields, n, sg_req_header(req, "Authorization"),
		                     in_query, &g);
	free(copy);
	if (err) {
		if (err != SG_ERR_OAUTH_DENIED)
			sg_log_error("oauth: token request failed: %s", sg_err_name(err));
		denied(resp);
		reveal(ctx, err, &g, resp);
		return SG_ERR_OK;
	}
	json_t *out = json_pack("{s:s, s:s, s:I}", "scope", g.scope, "token_type", "Bearer",
	                        "expires_in", (json_int_t)g.expires_in);
	if (out && g.refresh_token[0] &&
	    json_object_set_new(out, "refresh_token", json_string(g.refresh_token))) {
		json_decref(out);
		out = NULL;
	}
	if (out && json_object_set_new(out, "access_token", json_string(g.access_token))) {
		json_decref(out);
		out = NULL;
	}
	if (!out)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, 200, out);
	json_decref(out);
	return SG_ERR_OK;
}

sg_err sg_oauth_revoke_endpoint(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	struct sg_kv fields[MAX_FIELDS];
	size_t n = 0;
	char *copy = NULL;
	const char *token = sg_req_arg(req, "token");
	if (!token && req->body) {
		/* A body that cannot be read must not answer "revoked". */
		if (!(copy = sg_form_parse(req->body, req->body_len, fields, MAX_FIELDS, &n)))
			return SG_ERR_NOMEM;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(fields[i].name, "token"))
				token = fields[i].value;
	}
	sg_err err = sg_oauth_revoke(api->auth, token);
	free(copy);
	if (err)
		return err;
	resp->status = 200;
	sg_buf_reset(&resp->body);
	return SG_ERR_OK;
}
