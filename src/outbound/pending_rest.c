/* branch-only: removed when the parts merge */
/*
 * pending_rest.c - what the rest part needs from the oauth part while the
 * two are apart: it says plainly that it is not built yet.
 */
#include <stdio.h>

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
