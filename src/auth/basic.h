/*
 * basic.h - HTTP Basic authentication against sys_user.
 *
 * A verified (user, password) pair is remembered, under a keyed hash with a
 * per-process key (never the password itself), so repeated Basic calls do
 * not pay argon2id each time.  Any write to sys_user or its role tables
 * invalidates the cache (the model's users_gen), so a deactivated or locked
 * user is refused on the very next request; a lock-out made by this process
 * also voids the cache before its commit is seen.
 */
#ifndef SG_AUTH_BASIC_H
#define SG_AUTH_BASIC_H

#include "auth/auth.h"
#include "core/err.h"
#include "model/model.h"

/* Checks an Authorization header value ("Basic …").  On success fills *user.
 * SG_ERR_UNAUTHENTICATED for wrong or missing credentials; another error
 * (SG_ERR_STORE, SG_ERR_NOMEM, SG_ERR_BUSY...) when they could not be
 * checked, or a failed attempt could not be counted. */
sg_err sg_auth_basic(struct sg_auth *a, const char *authorization, struct sg_user *user);

/*
 * Checks a user name and password (the same rules: active, not locked out;
 * the same errors).  A wrong password of an active user is counted in
 * failed_attempts, atomically with the decision; at
 * glide.user.max_unlock_attempts the user is locked (locked_out, the time in
 * locked_out_on, a warning logged) and every later attempt, the right
 * password and a cached credential included, is refused until
 * glide.user.unlock_timeout_in_mins have passed or an admin unlocks it.
 * An attempt that must change the user's row and cannot (a full disk) is
 * that error, never a success.
 */
sg_err sg_auth_password(struct sg_auth *a, const char *user_name, const char *password,
                        struct sg_user *user);

#endif
