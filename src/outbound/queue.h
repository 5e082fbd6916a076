/*
 * queue.h - the durable outbound delivery queue's worker side (the
 * enqueue/result contract is in outbound.h).
 *
 * Queued requests are rows of ecc_queue (ServiceNow's External
 * Communication Channel queue: queue "output", agent "ServiceNow", topic
 * SG_OUTQ_TOPIC), so they are in the database and survive a crash.  States:
 * ready (waiting for its turn or its next attempt), processing (claimed by a
 * worker with a lease), processed (delivered: a 2xx answer), error (dead:
 * attempts spent, refused by policy, or answered with a status retrying will
 * not change; an admin may retry it).
 *
 * Delivery is at least once: a worker that dies between sending and
 * recording the answer leaves its row processing; once the lease passes the
 * row is claimed and sent again.  Every attempt carries the header
 * SG_OUTQ_DELIVERY_HEADER with the row's sys_id, the same on every attempt,
 * so a receiver can drop a repeat.
 *
 * Order per order_key: of the rows sharing a key, at most one is in flight,
 * and a row is claimed only when every earlier row of its key (by sequence,
 * the enqueue order) is processed or dead.  A dead row therefore releases
 * the rows behind it (a later state replaces an earlier one; the dead one
 * waits for an admin); retrying it puts it back in the line at its place:
 * later rows not yet sent wait for it again.
 *
 * Outcomes: a 2xx answer is processed.  No answer (UNREACHABLE), no OAuth
 * token (NO_TOKEN), 408, 429 and 5xx are tried again after a backoff:
 * full jitter, a wait drawn uniformly in [0, min(max, base * 2^(n-1))]
 * after the n-th failure (at least a second), or the answer's Retry-After
 * when it asks for longer (up to snowglobe.outbound.max_retry_after_seconds).
 * REFUSED and every other status are dead at once; so is a retryable
 * failure once max_attempts are spent.  The last answer's status, headers
 * and body (cut to snowglobe.outbound.response_body_max) are kept in every
 * case, so waitForResponse sees a dead request's 4xx.
 *
 * Sending never holds the database's write lock: a claim and a completion
 * are two short write transactions with the network exchange between them.
 */
#ifndef SG_OUTBOUND_QUEUE_H
#define SG_OUTBOUND_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "model/model.h"
#include "outbound/outbound.h"

#define SG_OUTQ_TABLE           "ecc_queue"
#define SG_OUTQ_AGENT           "ServiceNow"
#define SG_OUTQ_TOPIC           "RESTMessageV2"
#define SG_OUTQ_DELIVERY_HEADER "X-Snowglobe-Delivery-Id"

/* A claimed row: what sg_out_send needs, owned by the item. */
struct sg_outq_item {
	char sys_id[SG_ID_LEN + 1];
	char worker[101];
	char *method, *url, *body, *source, *table, *document;
	char *auth_profile, *basic_user, *basic_password; /* password as stored (sealed) */
	size_t body_len;
	bool has_body;
	enum sg_out_auth auth;
	long timeout_ms;
	int attempts;          /* attempts made, this one included */
	int max_attempts;      /* 0: the property snowglobe.outbound.max_attempts */
	struct sg_kv *headers; /* in headers_json's memory */
	size_t n_headers;
	json_t *headers_json;
};

/* The state names as stored in ecc_queue.state. */
const char *sg_outq_state_name(enum sg_outq_state s);

/*
 * Claims the first due row as worker at time now (seconds): ready with
 * next_attempt at or before now, or processing with its lease passed, and
 * first in line for its order_key.  It is marked processing until now +
 * lease.  *got false when none is due.
 */
sg_err sg_outq_claim(struct sg_ctx *ctx, const char *worker, int64_t now, int64_t lease,
                     struct sg_outq_item *item, bool *got);
void sg_outq_item_cleanup(struct sg_outq_item *item);

/*
 * Records how one attempt of item ended (see above), at time now; rnd draws
 * the jitter (NULL: libsodium's).  resp may be NULL when no answer came.
 * Nothing changes when the row is no longer claimed by item->worker.
 * *state (may be NULL) gets the row's new state.
 */
sg_err sg_outq_complete(struct sg_ctx *ctx, const struct sg_outq_item *item, int64_t now,
                        enum sg_out_outcome outcome, const struct sg_http_response *resp,
                        const char *msg, uint32_t (*rnd)(uint32_t upper),
                        enum sg_outq_state *state);

/* The backoff after failure n (n >= 1) in ms: uniform in [0, ceiling]
 * where ceiling = min(max_ms, base_ms * 2^(n-1)); r is a uniform draw. */
long sg_outq_backoff_ms(int n, long base_ms, long max_ms, uint32_t (*rnd)(uint32_t upper));
/* Whether an answer with status is worth another attempt. */
bool sg_outq_status_retryable(int status);

/*
 * Claims, sends (sg_out_send) and completes one due row as worker in a
 * system session of m; *ran tells whether there was one.
 */
sg_err sg_outq_run_one(struct sg_model *m, const char *worker, bool *ran);

/* The fields an admin's retry writes (state ready, due at now, attempts
 * reset, no lease, no error): a new object, NULL when out of memory.  nowctl
 * writes them through its client, sg_outq_retry through the record layer. */
json_t *sg_outq_retry_fields(int64_t now);
/* An admin's retry: a dead (or any not processing) row back to ready, due
 * now, its attempts reset.  SG_ERR_NO_RECORD when there is none. */
sg_err sg_outq_retry(struct sg_ctx *ctx, const char *id);
/* Deletes rows in state (processed or error) last changed before
 * older_than (seconds); *n (may be NULL) how many. */
sg_err sg_outq_purge(struct sg_ctx *ctx, enum sg_outq_state state, int64_t older_than,
                     long long *n);

/* The indexes the claim needs (order_key, sequence; state, next_attempt):
 * made when missing.  Call once per process before delivering. */
sg_err sg_outq_prepare(struct sg_ctx *ctx);

/* Waking the delivery workers at once after a row commits (as jobs.h). */
void sg_outq_set_waker(void (*fn)(void *ud), void *ud);
void sg_outq_wake(void);
sg_err sg_outq_add_rules(struct sg_model *m);

#endif
