/*
 * ops.h - nowsync's operations side (issue 16, item 9): structured logs
 * (one JSON object per line on stderr, with a level), the counters behind
 * `nowsync serve`'s GET /metrics (Prometheus text exposition format), and
 * the per-key request journal that `nowsync trace KEY` reads with the
 * events, their decisions and the key's link.
 *
 * Nothing secret goes through here: connection, profile and key names,
 * methods, paths (no credentials ever travel in a Table API path) and the
 * essentials of an answer (sys_id, number, state, the error's message).
 */
#ifndef SG_NOWSYNC_OPS_H
#define SG_NOWSYNC_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nowsync/nowsync.h"

/* ---- structured logs -------------------------------------------------------------- */

enum ns_log_level { NS_LOG_DEBUG, NS_LOG_INFO, NS_LOG_WARN, NS_LOG_ERROR };

/* "debug", "info", "warn", "error" (also "warning"). */
bool ns_log_parse_level(const char *s, enum ns_log_level *out);
/* The lowest level written (WARN until a command sets it: serve and run
 * use INFO unless --log-level says otherwise). */
void ns_log_set_level(enum ns_log_level l);
bool ns_log_enabled(enum ns_log_level l);
/* Writes {"time":..., "level":..., "msg": msg, ...fields} as one line on
 * stderr when l is enabled.  fields (an object, may be NULL) is taken. */
void ns_logj(enum ns_log_level l, const char *msg, json_t *fields);

/* ---- metrics (counters of this process; the outbox read at scrape time) ----------- */

enum ns_ev_result { NS_EV_ACCEPTED, NS_EV_DUPLICATE, NS_EV_REFUSED };

void ns_metric_events(const char *source, enum ns_ev_result r, unsigned n);
/* One request sent on connection conn: status 0 when no answer came. */
void ns_metric_request(const char *conn, int status);
void ns_metric_retry(const char *conn);
void ns_metric_dead(const char *conn);
/* An event of profile that created nothing (a category it does not take). */
void ns_metric_filtered(const char *profile);
void ns_metric_token(const char *conn, bool ok);
/* The exposition text (a new string; NULL when out of memory): the
 * counters, then the outbox's items by state and the age of its oldest
 * unfinished item, read from s. */
char *ns_metrics_text(struct ns_state *s);

/* ---- the request journal (ns_journal) --------------------------------------------- */

/* Rows kept per key: older ones are dropped as new ones come. */
#define NS_JOURNAL_PER_KEY 500

/* Creates the journal's table when missing (inside migrate()'s write). */
sg_err ns_state_migrate_ops(sg_conn *c);

/* One row: kind "decision", "request", "retry", "dead", "done" (others may
 * be added: trace prints any kind). */
struct ns_jrow {
	const char *conn, *profile, *key, *event_id;
	const char *kind;
	const char *method, *path; /* requests */
	int status;                /* HTTP status, 0: none */
	long ms;                   /* how long the request took */
	long long attempt;
	const char *detail; /* the answer's essentials, the decision, the error */
};

/* Appends r in a transaction of its own (best effort: a failure is
 * logged, never fatal to delivery). */
void ns_journal_add(struct ns_state *s, const struct ns_jrow *r);
/* The same inside the caller's transaction (delivery writes an item's rows
 * with the commit of its outcome: no commit of their own), at_ms its time;
 * then ns_journal_trim once per key. */
sg_err ns_journal_insert(sg_conn *db, const struct ns_jrow *r, int64_t at_ms);
sg_err ns_journal_trim(sg_conn *db, const struct ns_jrow *r);

/* ---- runs (workers.c) ----------------------------------------------------------------- */

struct ns_run_opts {
	int workers;
	bool wait_all;      /* until nothing is pending at all (else: nothing due) */
	int64_t max_wait_s; /* 0: no limit */
	int progress_s;     /* a "progress" log line this often (0: none) */
	bool signals;       /* SIGTERM/SIGINT end the run cleanly (*signo gets which) */
};

/* ns_outbox_run with progress lines and a clean stop on a signal: the
 * workers finish the item each holds; the rest stays pending. */
sg_err ns_outbox_run_opts(struct ns_state *s, const struct ns_run_opts *o, long long *left,
                          int *signo);

/* ---- trace (trace.c) ---------------------------------------------------------------- */

/* The key a trace is about. */
struct ns_trace_key {
	const char *key;
	const char *profile;    /* NULL: any */
	const char *connection; /* NULL: any */
};

/*
 * A part of a trace: appends its entries to entries, each an object with
 * "at_ms" (epoch ms), "kind" and whatever else it tells ("connection",
 * "profile" when known).  trace.c holds the list of parts (events and their
 * outcome, the journal, the link); back-sync adds its own (rows it polled
 * or received for the key) with one line there.
 */
typedef sg_err (*ns_trace_part)(struct ns_state *s, const struct ns_trace_key *k, json_t *entries);

/* The whole history of k, sorted by time: {"key":..., "links":[...],
 * "entries":[...]}.  NULL with *err set. */
json_t *ns_trace_build(struct ns_state *s, const struct ns_trace_key *k, sg_err *err);

int ns_cmd_trace(struct ns_state *st, int argc, char **argv);

#endif
