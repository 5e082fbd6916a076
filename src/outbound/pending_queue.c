/* branch-only: removed when the parts merge */
/*
 * pending_queue.c - the smallest honest sg_out_send the queue needs while
 * the rest part (send.c) is apart: the request is sent with the shared
 * client (src/net), without the outbound policy, the log or
 * authentication profiles (ad hoc basic credentials are presented; a
 * profile is refused).  No retry here: the queue retries.
 */
#include <stdio.h>
#include <string.h>

#include "outbound/outbound.h"

sg_err sg_out_send(struct sg_ctx *ctx, const struct sg_out_request *req,
                   struct sg_http_response *resp, enum sg_out_outcome *outcome, char *msg,
                   size_t msg_size)
{
	(void)ctx;
	if (msg && msg_size)
		msg[0] = '\0';
	if (req->auth != SG_OUT_AUTH_NONE && !(req->auth == SG_OUT_AUTH_BASIC && req->basic_user)) {
		*outcome = SG_OUT_REFUSED;
		if (msg)
			snprintf(msg, msg_size, "authentication profiles are not built yet");
		return SG_ERR_OK;
	}
	struct sg_http_options o;
	sg_http_options_init(&o);
	o.retry.max_attempts = 1;
	o.proxy = "";
	if (req->timeout_ms > 0)
		o.timeout_ms = req->timeout_ms;
	struct sg_http_client *c = sg_http_client_new(&o);
	if (!c)
		return SG_ERR_NOMEM;
	struct sg_http_request hr = {
	    .method = req->method,
	    .url = req->url,
	    .headers = req->headers,
	    .n_headers = req->n_headers,
	    .body = req->body,
	    .body_len = req->body_len,
	    .user = req->auth == SG_OUT_AUTH_BASIC ? req->basic_user : NULL,
	    .password = req->auth == SG_OUT_AUTH_BASIC ? req->basic_password : NULL,
	};
	sg_net_err e = sg_http_client_do(c, &hr, resp);
	sg_http_client_free(c);
	if (e == SG_NET_NOMEM)
		return SG_ERR_NOMEM;
	if (e == SG_NET_OK) {
		*outcome = SG_OUT_ANSWERED;
		return SG_ERR_OK;
	}
	*outcome = e == SG_NET_USAGE ? SG_OUT_REFUSED : SG_OUT_UNREACHABLE;
	if (msg)
		snprintf(msg, msg_size, "%s%s%s", sg_net_err_step(e), *resp->detail ? ": " : "",
		         resp->detail);
	return SG_ERR_OK;
}
