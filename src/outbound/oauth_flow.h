/*
 * oauth_flow.h - the people's side of outbound OAuth ("Get OAuth Token"):
 * what nowctl oauth get-token and nowd's /oauth_redirect.do call.  The
 * programs' side, the token to present, is oauth.h's sg_oauth_out_token.
 */
#ifndef SG_OUTBOUND_OAUTH_FLOW_H
#define SG_OUTBOUND_OAUTH_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/util.h"
#include "model/model.h"

/*
 * The oauth_entity_profile named by key: its sys_id, its name, or the name
 * or sys_id of an OAuth provider (oauth_entity of type oauth_provider),
 * which means its default profile.  out gets its sys_id.  SG_ERR_NO_RECORD when none.
 */
sg_err sg_oauth_out_profile(struct sg_ctx *ctx, const char *key, char out[SG_ID_LEN + 1]);

/* The grant type of profile_id ("client_credentials", "password",
 * "authorization_code"...) into out.  SG_ERR_NO_RECORD as oauth.h says. */
sg_err sg_oauth_out_grant_type(struct sg_ctx *ctx, const char *profile_id, char *out, size_t size);

/* Why the provider gave no token, when it was asked. */
enum sg_oauth_out_failure {
	SG_OAUTH_OUT_NOT_ASKED,   /* success, or failed before asking (no profile, host refused) */
	SG_OAUTH_OUT_UNREACHABLE, /* no answer: name, connection, TLS, timeout */
	SG_OAUTH_OUT_REFUSED,     /* an HTTP error status (provider_status) */
	SG_OAUTH_OUT_BAD_ANSWER,  /* a 2xx that is not a JSON token */
};

/* What a new token answered; on failure, why. */
struct sg_oauth_out_result {
	long long expires_in; /* seconds the access token is valid for */
	bool refresh;         /* a refresh token came with it */
	char scope[512];
	enum sg_oauth_out_failure failure;
	int provider_status; /* the token endpoint's HTTP status; 0 when it gave none */
};

/*
 * Get OAuth Token for a grant that needs no browser: client_credentials,
 * or password with user_name and password (the resource owner's, used for
 * this request only, never stored).  The tokens are stored as
 * sg_oauth_out_token stores them, under the same per-profile lock.  Errors
 * as sg_oauth_out_token's; res->failure tells an unreachable provider, its
 * refusal and an answer that is no token apart (SG_ERR_BAD_PARAM: a grant
 * this cannot run, or the password grant without user and password).
 */
sg_err sg_oauth_out_fetch(struct sg_ctx *ctx, const char *profile_id, const char *user_name,
                          const char *password, struct sg_oauth_out_result *res, char *msg,
                          size_t msg_size);

/*
 * Get OAuth Token for authorization_code, first half: a new state (and a
 * PKCE verifier when the provider's code_challenge_method is set), kept in
 * oauth_requestor_state (the state as its hash, the verifier encrypted)
 * until glide.oauth.outbound.state.lifespan passes; *url gets the
 * provider's authorize URL to open (new string).  user_id (may be NULL):
 * who asked.  redirect_base (may be NULL): the instance's base URL ending in
 * '/' when the provider has no redirect_url (else glide.servlet.uri).
 */
sg_err sg_oauth_out_authorize_url(struct sg_ctx *ctx, const char *profile_id, const char *user_id,
                                  const char *redirect_base, char **url, char *msg,
                                  size_t msg_size);

/*
 * Second half, the provider's redirect to /oauth_redirect.do: state must be
 * one this instance issued, unused and unexpired (it is used up by this
 * call, success or not); code is exchanged at the token URL (with the PKCE
 * verifier) and the tokens stored.  SG_ERR_OAUTH_DENIED for an unknown,
 * used or expired state or a refused code, SG_ERR_INTERNAL when the
 * provider could not be reached.  profile_name (may be NULL, size bytes)
 * gets the profile's name for the page.
 */
sg_err sg_oauth_out_redirect(struct sg_ctx *ctx, const char *state, const char *code,
                             char *profile_name, size_t name_size, char *msg, size_t msg_size);

#endif
