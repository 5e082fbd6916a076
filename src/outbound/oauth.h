/*
 * oauth.h - outbound OAuth: the tokens this instance presents to a third
 * party's API (oauth_entity of type oauth_provider, oauth_entity_profile).
 */
#ifndef SG_OUTBOUND_OAUTH_H
#define SG_OUTBOUND_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "model/model.h"

/*
 * The access token to present for the OAuth profile profile_id (an
 * oauth_entity_profile sys_id): the stored one while it is valid for a while
 * yet, else a new one -- by the refresh token when there is one, else by the
 * profile's grant (client_credentials, password) -- stored encrypted in
 * oauth_credential.  One refresh at a time per profile.  force: the stored
 * token was just refused (a 401): get a new one whatever its expiry.
 * *out: a new string, the caller frees it.  On failure msg (may be NULL)
 * says why in words (no secret in it): SG_ERR_NO_RECORD for an unknown or
 * inactive profile, SG_ERR_OAUTH_DENIED when the provider refused, or there
 * is no token and the grant needs a person (authorization_code: Get OAuth
 * Token first), SG_ERR_INTERNAL when the provider could not be reached.
 */
sg_err sg_oauth_out_token(struct sg_ctx *ctx, const char *profile_id, bool force, char **out,
                          char *msg, size_t msg_size);

#endif
