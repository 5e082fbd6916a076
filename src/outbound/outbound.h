/*
 * outbound.h - the instance calling out: one outbound HTTP request, sent now
 * (sg_out_send) or through the durable queue (sg_outq_*), with its
 * authentication resolved at the moment it is sent.
 *
 * Layering: core <- net, store <- dict <- query <- model <- auth <- outbound
 * <- script <- api <- programs.  outbound.h is the contract between the
 * three parts of this folder:
 *
 *   send.c, message.c, log.c  REST messages (sys_rest_message and its
 *                             functions), ${variable} substitution, the host
 *                             policy (allow-list, proxy, CA bundle, timeouts),
 *                             the outbound log, and sg_out_send();
 *   oauth.c (oauth.h)         outbound OAuth providers and profiles: Get
 *                             OAuth Token, stored tokens, refresh;
 *   queue.c                   the durable delivery queue and its workers.
 *
 * A request names its authentication by profile, never by a token, so a
 * queued request picks up a refreshed token when it is finally sent, and no
 * secret is stored with it except an ad hoc setBasicAuth password, which the
 * queue stores encrypted (a password2 column).
 */
#ifndef SG_OUTBOUND_OUTBOUND_H
#define SG_OUTBOUND_OUTBOUND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/kv.h"
#include "core/util.h"
#include "model/model.h"
#include "net/client.h"

enum sg_out_auth {
	SG_OUT_AUTH_NONE,
	SG_OUT_AUTH_BASIC, /* auth_profile (sys_auth_profile_basic), or basic_user/password */
	SG_OUT_AUTH_OAUTH, /* auth_profile: an oauth_entity_profile sys_id */
};

/* Every pointer is borrowed for the duration of the call that takes it. */
struct sg_out_request {
	const char *method; /* GET, POST, PUT, PATCH, DELETE, HEAD */
	const char *url;    /* absolute, variables already substituted */
	const struct sg_kv *headers;
	size_t n_headers;
	const char *body; /* NULL: no body */
	size_t body_len;
	enum sg_out_auth auth;
	const char *auth_profile;   /* sys_id, see enum sg_out_auth */
	const char *basic_user;     /* ad hoc Basic credentials (setBasicAuth) */
	const char *basic_password; /* clear; never logged, encrypted when queued */
	long timeout_ms;            /* 0: the instance's default */
	const char *source;   /* for the log: "<message name>.<function name>", or NULL (script) */
	const char *table;    /* the record it is about (log, ordering), may be NULL */
	const char *document; /* its sys_id, may be NULL */
};

/* How a send ended. */
enum sg_out_outcome {
	SG_OUT_ANSWERED,    /* an HTTP answer came, any status: resp->status */
	SG_OUT_UNREACHABLE, /* DNS, connect, TLS, timeout...: resp->err; worth retrying */
	SG_OUT_NO_TOKEN,    /* the OAuth profile's token could not be had now: worth retrying */
	SG_OUT_REFUSED,     /* by policy or configuration (host not allowed, bad URL,
	                       unknown profile): retrying will not help */
};

/*
 * send.c: sends req now, from the calling thread, through the outbound
 * policy, and logs it (sys_outbound_http_log, when the log is on).  OAuth:
 * the profile's token is presented; a 401 answer gets one new token
 * (sg_oauth_out_token with force) and one more attempt.  No other retry:
 * the queue retries.  resp is the caller's (sg_http_response_init).
 * *outcome says how it ended; msg (may be NULL) gets the reason in words
 * when it is not SG_OUT_ANSWERED.  Returns SG_ERR_NOMEM / SG_ERR_STORE for
 * failures of this instance only; SG_ERR_OK otherwise, whatever *outcome.
 */
sg_err sg_out_send(struct sg_ctx *ctx, const struct sg_out_request *req,
                   struct sg_http_response *resp, enum sg_out_outcome *outcome, char *msg,
                   size_t msg_size);

/* ---- queue.c: durable delivery ----------------------------------------- */

enum sg_outq_state {
	SG_OUTQ_READY,      /* waiting for its turn or its next attempt */
	SG_OUTQ_PROCESSING, /* claimed by a worker (with a lease) */
	SG_OUTQ_DONE,       /* answered with a 2xx */
	SG_OUTQ_DEAD,       /* a final refusal (another 4xx, kept with its answer), attempts
	                       spent, or refused by policy: an admin may retry it */
};

/*
 * Enqueues req for delivery, in ctx's transaction when one is open (so it
 * commits with the write that caused it).  order_key (may be NULL): requests
 * with the same key are delivered one at a time in enqueue order (e.g.
 * "incident/<sys_id>").  out_id (may be NULL) gets the queue row's sys_id.
 */
sg_err sg_outq_enqueue(struct sg_ctx *ctx, const struct sg_out_request *req, const char *order_key,
                       char out_id[SG_ID_LEN + 1]);

struct sg_outq_result {
	enum sg_outq_state state;
	int status;      /* the last answer's HTTP status, 0 when none */
	char *body;      /* the last answer's body (as stored, may be truncated), or NULL */
	json_t *headers; /* the last answer's headers, {name: value}, or NULL */
	char error[256]; /* why the last attempt failed, "" when it did not */
	int attempts;
};

/* The state of queue row id.  SG_ERR_NO_RECORD when there is none. */
sg_err sg_outq_result(struct sg_ctx *ctx, const char *id, struct sg_outq_result *out);
void sg_outq_result_free(struct sg_outq_result *r);

#endif
