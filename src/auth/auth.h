/*
 * auth.h - the auth layer's own state, beside the model's.
 *
 * struct sg_auth is what one open instance's auth keeps for the whole
 * process: the compiled access controls, users' effective roles and read
 * plans (acl.c), verified Basic credentials (basic.c) and validated bearer
 * tokens (oauth.c).  Whoever opens the model and authenticates or checks
 * access makes one beside it (nowd's API) and frees it before closing the
 * model.  Every cache compares the model's change counters, so a change
 * made by any process is seen on the next request.
 *
 * struct sg_auth_session is one request's authorization state beside its
 * model session (struct sg_ctx): the roles in effect, the elevation asked
 * for, and the decisions made so far.  It lives in the caller's storage and
 * costs no allocation to start; roles and access controls load on first
 * use.  A failure to read them (SQL error, out of memory) is never taken
 * for an answer: the session keeps the first error and every later check
 * returns it.
 */
#ifndef SG_AUTH_AUTH_H
#define SG_AUTH_AUTH_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/map.h"
#include "model/model.h"

struct sg_auth;

/* Makes the auth state of model m (which must outlive it).  *out is freed
 * with sg_auth_free.  SG_ERR_NOMEM. */
sg_err sg_auth_new(struct sg_model *m, struct sg_auth **out);
/* Frees a and every cache it holds; NULL is ignored.  No session of a may
 * still be open. */
void sg_auth_free(struct sg_auth *a);

struct sg__acl_set; /* acl.c: the compiled access controls */

struct sg_auth_session {
	struct sg_auth *auth;
	struct sg_ctx *ctx;  /* the model session checks read through (borrowed) */
	const char *elevate; /* roles asked to elevate to ("security_admin"), or NULL (borrowed) */
	/* The rest is private to acl.c. */
	sg_err err;              /* the first failure, returned by every later check */
	bool loaded;             /* set is taken */
	struct sg__acl_set *set; /* the compiled access controls, held for the request */
	json_t *roles;     /* roles in effect: role -> true, elevated ones not in effect -> false */
	json_t *decisions; /* field decisions that do not depend on the record */
	json_t *cond;      /* rule sys_id -> {record sys_id: true/false} */
	json_t *page;      /* sys_ids of the rows being filtered, or NULL */
	unsigned long cond_evals; /* conditions consulted so far */
	struct sg_map plans;      /* table name -> field read plan (malloc'd) */
};

/*
 * Starts the authorization state of the request made through ctx (its
 * acting user; the system when ctx->system, for which every check passes),
 * elevating to the roles named in elevate when the instance allows it.
 * a, ctx and elevate are borrowed and must outlive s.  Allocates nothing;
 * release with sg_auth_session_cleanup before ending ctx.
 */
void sg_auth_session_init(struct sg_auth_session *s, struct sg_auth *a, struct sg_ctx *ctx,
                          const char *elevate);
void sg_auth_session_cleanup(struct sg_auth_session *s);
/* The first failure of s's checks, SG_ERR_OK when none: for callers that
 * only learnt that something failed (a renderer returning false). */
sg_err sg_auth_session_error(const struct sg_auth_session *s);

#endif
