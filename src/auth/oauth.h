/*
 * oauth.h - the OAuth 2.0 token service (reference 4.2-4.6): grants,
 * bearer tokens, revocation and REST API auth scopes.
 *
 * Tokens are 86 characters of URL-safe base64 (64 random bytes) and are
 * stored only as hashes in oauth_credential; client secrets likewise in
 * oauth_entity.  Every refusal of the token endpoint is the same 401
 * {"error_description":"access_denied","error":"server_error"}: the reason
 * goes to the log only, as on the platform.
 */
#ifndef SG_AUTH_OAUTH_H
#define SG_AUTH_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "core/kv.h"
#include "model/model.h"

#define SG_TOKEN_LEN 86

struct sg_token_grant {
	char access_token[SG_TOKEN_LEN + 8];
	char refresh_token[SG_TOKEN_LEN + 8]; /* "" when the grant gives none */
	char scope[512];
	long long expires_in;
	/* A refusal's reason as a stable code (invalid_client,
	 * application_inactive, client_credentials_disabled...): ServiceNow
	 * never tells the client; nowd reveals it only when
	 * snowglobe.oauth.reveal_denial_reason is true. */
	char denied[48];
};

/* A validated bearer token. */
struct sg_bearer {
	char entity[SG_ID_LEN + 1]; /* oauth_entity sys_id */
	char scope[512];
};

/*
 * Runs a token request: params are the form fields (in order), basic_auth
 * the Authorization header (client credentials may come there), in_query
 * whether any parameter came in the URL.  SG_ERR_OAUTH_DENIED for every
 * refusal; another error (SG_ERR_STORE, SG_ERR_NOMEM...) when the request
 * could not be decided.
 */
sg_err sg_oauth_grant(struct sg_auth *a, const struct sg_kv *params, size_t n,
                      const char *basic_auth, bool in_query, struct sg_token_grant *out);

/* Marks an access or refresh token (and, for a refresh token, the access
 * tokens issued from it) expired.  Unknown tokens are not an error. */
sg_err sg_oauth_revoke(struct sg_auth *a, const char *token);

/* Checks "Bearer <token>": valid, unexpired, its application active, its
 * user active and not locked out.  Cached; never runs a password hash.
 * SG_ERR_UNAUTHENTICATED when it is not; another error when that could not
 * be known. */
sg_err sg_auth_bearer(struct sg_auth *a, const char *authorization, struct sg_user *user,
                      struct sg_bearer *bearer);

/* Whether the token may call the REST API api (its path without the version,
 * e.g. "now/table" for "/api/now/v2/table/x") with method, under the REST API
 * auth scopes: SG_ERR_OK, SG_ERR_SCOPE_MISSING, or the error that kept it from
 * knowing. */
sg_err sg_oauth_scope_check(struct sg_auth *a, const struct sg_bearer *b, const char *api,
                            const char *method);

/* Renders the token endpoint's refusal body. */
const char *sg_oauth_denied_body(void);

#endif
