/*
 * session.h - the browser console's sessions (sys_user_session).
 *
 * A session is made when a user signs in through /login.do and ends at
 * sign-out, after glide.ui.session_timeout idle minutes (default 30), or as
 * soon as its user is deactivated, locked out or made web-service-only
 * (ServiceNow terminates a locked user's sessions).  Its id, the JSESSIONID
 * cookie's value, is 32 random bytes kept only as a hash; beside it the
 * session's CSRF token (sysparm_ck / X-UserToken), which proves a request
 * comes from a page the instance served, and the last time it was used
 * (written at most once a minute, so that reading costs no write).  Rows
 * live in the store, so every nowd serving the instance knows them.
 */
#ifndef SG_AUTH_SESSION_H
#define SG_AUTH_SESSION_H

#include <stdbool.h>

#include "auth/auth.h"
#include "core/err.h"
#include "model/model.h"

/* Room for a session id or a CSRF token (43 characters of base64url). */
#define SG_SESSION_TOKEN_SIZE 48

/* Idle minutes when glide.ui.session_timeout is unset or not a positive number. */
#define SG_SESSION_DEFAULT_TIMEOUT 30

/*
 * Starts a session for user u (signed in: the caller checked the password
 * and the account).  id and ck get the
 * new session id and CSRF token.  SG_ERR_STORE, SG_ERR_NOMEM...
 */
sg_err sg_session_new(struct sg_auth *a, const struct sg_user *u, char id[SG_SESSION_TOKEN_SIZE],
                      char ck[SG_SESSION_TOKEN_SIZE]);

/*
 * The session with id (as the cookie holds it): *u its user and ck its CSRF
 * token.  SG_ERR_UNAUTHENTICATED when there is none, it expired (it is then
 * removed), or its user may no longer sign in; another error when it could
 * not be read.  Refreshes the session's last use.
 */
sg_err sg_session_check(struct sg_auth *a, const char *id, struct sg_user *u,
                        char ck[SG_SESSION_TOKEN_SIZE]);

/* Ends the session with id, if there is one. */
sg_err sg_session_end(struct sg_auth *a, const char *id);

/* Whether a token the client sent (may be NULL) is the session's ck, in
 * constant time. */
bool sg_session_ck_matches(const char *ck, const char *sent);

#endif
