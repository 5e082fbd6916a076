/*
 * backsync.h - nowsync's back-sync (issue 16, item 8): changes made in the
 * instance, delivered to the product as events.
 *
 * A back-sync is configured per connection and table (ns_bs_config).  Its
 * poller reads the table by keyset on (sys_updated_on, sys_id), re-reading
 * an overlap window every sweep and never past a high-water mark a safety
 * lag behind now; each change is recognised by (sys_id, sys_mod_count), so
 * one seen twice (overlap, push and poll) goes out once, and one written by
 * nowsync's own outbox (the pair its write's answer carried) is not echoed.
 * Changes go into a durable queue of their own (ns_bs_out) in the same
 * transaction that moves the cursor, then to the sink: a webhook (POST JSON,
 * retried with backoff, at least once, with a delivery id) or NDJSON lines
 * to a file or stdout.  `nowsync serve` also takes changes an instance
 * pushes (POST /v1/changes), through the same dedup and queue.
 */
#ifndef SG_NOWSYNC_BACKSYNC_H
#define SG_NOWSYNC_BACKSYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "nowsync/nowsync.h"
#include "store/store.h"

#define NS_BS_PAGE_MAX 10000
#define NS_BS_PUSH_MAX 1000 /* records per push request */
#define NS_BS_TIME_LEN 19   /* "YYYY-MM-DD HH:MM:SS" */
#define NS_BS_DEF_FIELDS                                                                           \
	"number,state,short_description,priority,impact,urgency,assigned_to,assignment_group,"     \
	"close_code,close_notes,correlation_id,active"

/* Creates the back-sync tables when missing (inside the state's migration). */
sg_err ns_state_migrate_backsync(sg_conn *c);

/* Records that nowsync's own write left record sys_id of table at the
 * version in result (its "sys_mod_count"): the poller does not echo it. */
void ns_backsync_own(sg_conn *db, const char *connection, const char *table, const json_t *result);

/* Marks (on) or unmarks a write of record sys_id by nowsync as on the wire:
 * until its answer gives the version (ns_backsync_own), a change of that
 * record pushed by the instance may be its echo, and is answered 503 with
 * Retry-After, so the instance sends it again once the version is known. */
void ns_backsync_own_pending(sg_conn *db, const char *connection, const char *table,
                             const char *sys_id, bool on);

/* How long a write's mark holds pushes back at most (a process killed
 * between marking and unmarking leaves one). */
#define NS_BS_PENDING_S 60

/* ---- pure parts (unit-tested) ------------------------------------------------------- */

/* "YYYY-MM-DD HH:MM:SS" (UTC) <-> epoch seconds. */
bool ns_bs_parse_time(const char *s, int64_t *out);
void ns_bs_format_time(int64_t t, char out[NS_BS_TIME_LEN + 1]);

/* The encoded query of one page.  after_id NULL or "": every row after
 * second ts (up to hwm) ordered by (sys_updated_on, sys_id); else the rest
 * of second ts after sys_id after_id.  filter (may be NULL) is ANDed first.
 * New string. */
char *ns_bs_query(const char *filter, const char *ts, const char *after_id, const char *hwm);

/* Whether a filter may be combined with the keyset (no ORDERBY, no ^NQ). */
bool ns_bs_filter_ok(const char *filter);

/* Whether state is in the comma list closed ("6,7,8"). */
bool ns_bs_closed(const char *closed, const char *state);

/* What a row (seen before at seen_mc, -1 never; own: nowsync wrote this
 * very version) becomes. */
enum ns_bs_verdict { NS_BS_DELIVER, NS_BS_DUPLICATE, NS_BS_ECHO };
enum ns_bs_verdict ns_bs_decide(long long seen_mc, long long mc, bool own);

/* ---- the serve hook -------------------------------------------------------------------- */

struct ns_backsync;
/* Starts the back-sync thread of a server: every configured back-sync
 * swept at its interval, the sinks drained.  NULL when out of memory. */
struct ns_backsync *ns_backsync_start(struct ns_state *st);
void ns_backsync_stop(struct ns_backsync *b);
/* A pushed change (POST /v1/changes): root is {"table", "record"} or an
 * array of them (connection from the token, else "connection").  *answer
 * gets the body; the HTTP status is returned. */
int ns_backsync_push(struct ns_state *st, struct ns_backsync *b, const char *connection,
                     json_t *root, json_t **answer);

/* `nowsync backsync add|list|remove|run|queue`. */
int ns_cmd_backsync(struct ns_state *st, int argc, char **argv);

#endif
