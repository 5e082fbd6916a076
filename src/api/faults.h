/*
 * faults.h - fault injection (issue 18, item 3): rules that make nowd answer
 * as a failing ServiceNow instance would, for a test suite's sake.
 *
 * A rule matches requests by method, path (a glob: '*' any run of
 * characters, '?' one), table, user and OAuth client id; fires with a
 * probability drawn from its own seeded generator (the same seed and the
 * same sequence of matching requests fire the same way), at most count
 * times, inside a time window; and its effect is added latency, one of
 * ServiceNow's error answers (500, 503, the transaction-timeout body, 429
 * with or without the rate-limit headers, the hibernating instance's HTML
 * page, the token endpoint's 401), a connection closed without an answer,
 * or every OAuth token expired now.
 *
 * Rules live in this process's memory (at most SG_FAULT_MAX): a test run's
 * own, gone with a restart, as the counts and generator states they carry.
 * Requests under /_snowglobe/ are never faulted.
 */
#ifndef SG_API_FAULTS_H
#define SG_API_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api/http.h"
#include "core/err.h"

struct sg_api;

#define SG_FAULT_MAX         64
#define SG_FAULT_LATENCY_MAX 30000 /* ms, per rule and per request */
/* The status a response marked "close the connection" carries: the server
 * closes instead of answering (sg_faults_dropped). */
#define SG_FAULT_DROP_STATUS (-1)

enum sg_fault_effect {
	SG_FAULT_LATENCY,       /* only the added latency; the request goes on */
	SG_FAULT_ERROR_500,     /* ServiceNow's 500 error body */
	SG_FAULT_ERROR_503,     /* ServiceNow's 503 error body */
	SG_FAULT_TX_TIMEOUT,    /* "Transaction cancelled: maximum execution time exceeded" */
	SG_FAULT_RATE_LIMIT,    /* 429, with or without the rate-limit headers */
	SG_FAULT_HIBERNATE,     /* 200 text/html: the hibernating instance's page */
	SG_FAULT_CLOSE,         /* the connection closed, no answer */
	SG_FAULT_EXPIRE_TOKENS, /* every access token (and refresh, if asked) expired now */
	SG_FAULT_TOKEN_REFUSED, /* /oauth_token.do answers its 401 */
	SG_FAULT_NEFFECTS
};

struct sg_fault_rule {
	unsigned id;
	enum sg_fault_effect effect;
	char method[16];     /* "" any */
	char path[256];      /* glob; "" any */
	char table[81];      /* "" any */
	char user[101];      /* user_name; "" any */
	char client_id[101]; /* OAuth application's client_id; "" any */
	double probability;  /* 0..1 */
	uint64_t seed;
	uint64_t rng;        /* the generator's state: seed at the start */
	long long count;     /* fires at most this many times; 0 unlimited */
	int64_t from, until; /* epoch seconds; 0 open */
	long latency_ms;     /* added before the effect, 0..SG_FAULT_LATENCY_MAX */
	bool rl_headers;     /* SG_FAULT_RATE_LIMIT: with the rate-limit headers */
	long long rate;      /* SG_FAULT_RATE_LIMIT: the "requests per hour" it names */
	bool refresh_tokens; /* SG_FAULT_EXPIRE_TOKENS: refresh tokens too */
	long long matched, fired;
};

/* The effect's name in rules ("error_500"...), and back (-1 when unknown). */
const char *sg_fault_effect_name(enum sg_fault_effect e);
int sg_fault_effect_parse(const char *name);

/* A rule from its JSON (the body of POST /_snowglobe/faults) at time now:
 * SG_ERR_OK, or SG_ERR_BAD_PARAM with *why saying what is wrong. */
sg_err sg_fault_rule_parse(const json_t *in, int64_t now, struct sg_fault_rule *out,
                           const char **why);
/* The rule as JSON (new reference; NULL out of memory). */
json_t *sg_fault_rule_json(const struct sg_fault_rule *r);

/* Whether path matches the glob ('*' any run, '?' one character). */
bool sg_fault_glob(const char *glob, const char *path);

/* The next draw of a generator in [0, 1) (splitmix64). */
double sg_fault_draw(uint64_t *state);

/* What is known of a request when rules are matched. */
struct sg_fault_view {
	const char *method, *path, *table; /* table NULL when none */
	const char *user, *client_id;      /* NULL before authentication */
	bool authenticated;                /* the second stage: user and client id known */
	int64_t now;
};

/* The outcome of matching: the latency to add, and the rule that decides
 * the answer (its copy; effect SG_FAULT_LATENCY when none does). */
struct sg_fault_hit {
	long latency_ms;
	bool fired;
	struct sg_fault_rule rule;
	bool expire_tokens, expire_refresh;
};

/* ---- the rule set (this process's) ----------------------------------------- */

/* Adds r (id assigned, counts reset): SG_ERR_OK, or SG_ERR_BAD_PARAM when
 * SG_FAULT_MAX rules are there already.  *out the rule as added. */
sg_err sg_faults_add(const struct sg_fault_rule *r, struct sg_fault_rule *out);
/* Copies up to max rules into out (in id order); returns how many. */
size_t sg_faults_list(struct sg_fault_rule *out, size_t max);
/* The rule with id: true and *out when it is there. */
bool sg_faults_get(unsigned id, struct sg_fault_rule *out);
bool sg_faults_remove(unsigned id);
void sg_faults_clear(void);
/* Keeps the rules, starts their counts (matched, fired) and generators over:
 * after a snapshot restore or reset, whose restore counter is restore_gen. */
void sg_faults_restart(unsigned long restore_gen);
/* Matches v against the rules of its stage, counting and drawing as they
 * fire, into *hit.  Pure but for the rule set's counts. */
void sg_faults_match(const struct sg_fault_view *v, struct sg_fault_hit *hit);

/* ---- the hooks ---------------------------------------------------------------- */

/* middleware.c, before authentication (authenticated false) and after it
 * (true): applies the rules of that stage to req.  Returns true when resp
 * holds the answer (an error, the page, or SG_FAULT_DROP_STATUS). */
bool sg_faults_apply(struct sg_api *api, struct sg_req *req, struct sg_resp *resp,
                     bool authenticated);
/* server.c: true when resp says to close the connection without an answer. */
bool sg_faults_dropped(const struct sg_resp *resp);

#endif
