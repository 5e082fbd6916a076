/* branch-only: removed when the parts merge */
/*
 * pending_rest.c - what the rest part needs from the oauth and queue parts
 * while the three are apart: each says plainly that it is not built yet.
 */
#include <stdio.h>
#include <string.h>

#include "outbound/oauth.h"
#include "outbound/outbound.h"

sg_err sg_oauth_out_token(struct sg_ctx *ctx, const char *profile_id, bool force, char **out,
                          char *msg, size_t msg_size)
{
	(void)ctx;
	(void)profile_id;
	(void)force;
	*out = NULL;
	if (msg && msg_size)
		snprintf(msg, msg_size, "outbound OAuth is not built yet");
	return SG_ERR_NO_RECORD;
}

sg_err sg_outq_enqueue(struct sg_ctx *ctx, const struct sg_out_request *req, const char *order_key,
                       char out_id[SG_ID_LEN + 1])
{
	(void)ctx;
	(void)req;
	(void)order_key;
	if (out_id)
		out_id[0] = '\0';
	return SG_ERR_NO_RESOURCE; /* the durable queue is not built yet */
}

sg_err sg_outq_result(struct sg_ctx *ctx, const char *id, struct sg_outq_result *out)
{
	(void)ctx;
	(void)id;
	memset(out, 0, sizeof(*out));
	return SG_ERR_NO_RECORD;
}

void sg_outq_result_free(struct sg_outq_result *r)
{
	(void)r;
}
