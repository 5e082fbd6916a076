/*
 * ratelimit.h - REST API rate limits (reference 8): the rules of
 * sys_rate_limit_rules, enforced in this process's memory after
 * authentication.  Counts are per rule and user, per clock hour, per node.
 */
#ifndef SG_API_RATELIMIT_H
#define SG_API_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "api/http.h"
#include "core/err.h"

struct sg_api;
struct sg_ratelimit;

/* The limiter of one API (its rule cache and counts): *out freed with
 * sg_ratelimit_free.  SG_ERR_NOMEM. */
sg_err sg_ratelimit_new(struct sg_ratelimit **out);
/* Frees rl; NULL is ignored. */
void sg_ratelimit_free(struct sg_ratelimit *rl);

/*
 * Counts req (its user authenticated, its route found) against the rule
 * that applies to it, if any, and adds X-RateLimit-Limit, -Remaining, -Reset
 * and -Rule to resp.  Returns true when resp holds the answer instead of the
 * handler: 429 over the limit (with Retry-After, unless the property
 * snowglobe.rate_limit.omit_429_headers says to leave it and
 * X-RateLimit-Reset out), or the error that kept the rules from being read.
 */
bool sg_ratelimit_admit(struct sg_api *api, struct sg_req *req, struct sg_resp *resp);

/* ---- the choice between matching rules, pure (for unit tests) ------------ */

enum sg_rl_type { SG_RL_ALL_USERS, SG_RL_ROLE, SG_RL_SINGLE_USER };

/* A rule that matches the request's API, method, resource and table. */
struct sg_rl_candidate {
	enum sg_rl_type type;
	long long rate;   /* requests per hour */
	const char *user; /* SG_RL_SINGLE_USER: the user's sys_id */
	const char *role; /* SG_RL_ROLE: the role's name */
};

/*
 * The rule that applies to user user_id among the n candidates, or -1: a
 * single-user rule for that user beats the rules of the user's roles, which
 * beat all-users rules; within a kind the lowest rate wins (the first of
 * equals).  has_role answers whether the user holds a role (an error stops
 * the choice and is returned in *err).
 */
long sg_rl_pick(const struct sg_rl_candidate *c, size_t n, const char *user_id,
                sg_err (*has_role)(void *ud, const char *role, bool *held), void *ud, sg_err *err);

#endif
