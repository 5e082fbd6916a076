/*
 * oauth_redirect.c - GET /oauth_redirect.do: where an OAuth provider sends
 * the browser back after "Get OAuth Token" for an authorization_code
 * profile [doc: connect-3rd-party-oauth-provider.md: the Redirect URL
 * defaults to https://<instance>/oauth_redirect.do].  No user signs in: the
 * state, issued once by this instance and kept as a hash, is the proof.  The
 * code is exchanged at the provider's token URL and the tokens stored
 * (outbound/oauth_flow.h); the answer is a small HTML page saying how it
 * went.  Nothing secret is on the page.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/buf.h"
#include "core/log.h"
#include "outbound/oauth_flow.h"

static void put_html_text(struct sg_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			sg_buf_puts(b, "&lt;");
			break;
		case '>':
			sg_buf_puts(b, "&gt;");
			break;
		case '&':
			sg_buf_puts(b, "&amp;");
			break;
		case '"':
			sg_buf_puts(b, "&quot;");
			break;
		case '\'':
			sg_buf_puts(b, "&#39;");
			break;
		default:
			if ((unsigned char)*s >= 0x20)
				sg_buf_putc(b, *s);
		}
	}
}

static sg_err page(struct sg_resp *resp, int status, const char *title, const char *text)
{
	resp->status = status;
	sg_buf_reset(&resp->body);
	sg_buf_puts(&resp->body, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
	put_html_text(&resp->body, title);
	sg_buf_puts(&resp->body, "</title></head><body><h1>");
	put_html_text(&resp->body, title);
	sg_buf_puts(&resp->body, "</h1><p>");
	put_html_text(&resp->body, text);
	sg_buf_puts(&resp->body, "</p><p>You may close this window.</p></body></html>\n");
	if (sg_buf_failed(&resp->body))
		return SG_ERR_NOMEM;
	sg_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
	return SG_ERR_OK;
}

sg_err sg_oauth_redirect_endpoint(struct sg_api *api, struct sg_ctx *ctx,
                                  struct sg_auth_session *as, struct sg_req *req,
                                  struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	const char *state = sg_req_arg(req, "state"), *code = sg_req_arg(req, "code");
	const char *error = sg_req_arg(req, "error");
	struct sg_ctx own;
	sg_err err = sg_ctx_begin(&own, api->model, NULL);
	if (err)
		return err;
	char name[128], msg[512];
	/* a provider's refusal uses the state up too */
	err = sg_oauth_out_redirect(&own, state, error ? NULL : code, name, sizeof(name), msg,
	                            sizeof(msg));
	sg_ctx_end(&own);
	if (err == SG_ERR_NOMEM || err == SG_ERR_STORE)
		return err;
	if (err) {
		char text[768];
		if (error && err == SG_ERR_OAUTH_DENIED && !strstr(msg, "state"))
			snprintf(text, sizeof(text), "The OAuth provider refused: %.80s.", error);
		else
			snprintf(text, sizeof(text), "%s.", msg);
		/* the access log has the request; say why here too, no secret in it */
		sg_log_info("oauth: /oauth_redirect.do refused: %s", text);
		return page(resp, err == SG_ERR_OAUTH_DENIED ? 400 : 502,
		            "OAuth token not received", text);
	}
	char text[256];
	snprintf(text, sizeof(text), "The OAuth token for the profile %s was received and stored.",
	         name);
	return page(resp, 200, "OAuth token received", text);
}
