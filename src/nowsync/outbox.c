/*
 * outbox.c - the durable outbox (delivery.h): accepted events are taken
 * one at a time per key, in order, decided (lifecycle.c), checked against
 * the instance's dictionary (profile.c), sent with ns_conn_request, and
 * recorded with the key's link in one transaction.
 *
 * Exactly once, window by window (docs/nowsync.md, "The outbox"):
 *   - an item is marked in flight, its attempt counted, and committed
 *     before any request is sent;
 *   - a create sent whose answer never came (timeout, process killed) is
 *     retried only after a lookup by correlation_id: the record it made,
 *     if any, is linked instead of making another;
 *   - the link and the item's "done" are one transaction: either both
 *     happened or the item is retried;
 *   - an item in flight is held under a lease (claimed_by, lease_until),
 *     renewed while its process lives (ns_outbox_renew); one whose lease
 *     ran out (its process died) is taken again by any process with its
 *     attempt counted, and its first holder, should it come back, records
 *     nothing (its outcome's write is conditioned on still holding it).
 *
 * Several processes on one database (PostgreSQL): the claim is a write
 * (serialised by the store's write lock), its SELECT carries the dialect's
 * claim_lock (FOR UPDATE SKIP LOCKED) and its UPDATE is conditioned on the
 * state it read, so an item is taken by one process; the per-key order
 * holds across them (no item of a key while an earlier one is unfinished).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "nowsync/backsync.h"
#include "nowsync/delivery.h"
#include "nowsync/ops.h"
#include "store/dialect.h"

int64_t ns_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long ns_backoff_ms(const struct ns_profile *p, int n, double rnd)
{
	if (n < 1)
		n = 1;
	double d = (double)p->backoff_base_ms;
	for (int i = 1; i < n && d < (double)p->backoff_max_ms; i++)
		d *= 2;
	if (d > (double)p->backoff_max_ms)
		d = (double)p->backoff_max_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	return (long)(d / 2 + rnd * (d / 2));
}

static const char *const ob_states[] = {"pending", "inflight", "done", "dead"};

const char *ns_outbox_state_name(enum ns_outbox_state s)
{
	return (unsigned)s < 4 ? ob_states[s] : "?";
}

/* ---- shared live connections ------------------------------------------------------ */

#define NS_MAX_CONNS 64

struct ns_outbox {
	struct ns_state *state;
	pthread_mutex_t lock;
	struct ns_conn *conns[NS_MAX_CONNS];
	size_t nconns;
	json_t *groups;            /* "conn\x1fname" -> [sys_id, when read] */
	pthread_mutex_t dict_lock; /* one dictionary read at a time: the others use it */
};

#define NS_GROUP_TTL_S 600

struct ns_outbox_worker {
	struct ns_outbox *ob;
	struct ns_conn *conn[NS_MAX_CONNS];
	struct sg_http_client *http[NS_MAX_CONNS];
	size_t n;
};

struct ns_outbox *ns_outbox_new(struct ns_state *s)
{
	struct ns_outbox *ob = calloc(1, sizeof(*ob));
	if (!ob)
		return NULL;
	ob->state = s;
	ob->groups = json_object();
	if (!ob->groups) {
		free(ob);
		return NULL;
	}
	pthread_mutex_init(&ob->lock, NULL);
	pthread_mutex_init(&ob->dict_lock, NULL);
	return ob;
}

void ns_outbox_free(struct ns_outbox *ob)
{
	if (!ob)
		return;
	for (size_t i = 0; i < ob->nconns; i++)
		ns_conn_free(ob->conns[i]);
	json_decref(ob->groups);
	pthread_mutex_destroy(&ob->lock);
	pthread_mutex_destroy(&ob->dict_lock);
	free(ob);
}

struct ns_outbox_worker *ns_outbox_worker_new(struct ns_outbox *ob)
{
	struct ns_outbox_worker *w = calloc(1, sizeof(*w));
	if (w)
		w->ob = ob;
	return w;
}

void ns_outbox_worker_free(struct ns_outbox_worker *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		sg_http_client_free(w->http[i]);
	free(w);
}

/* The live connection called name and this worker's client for it. */
static bool get_conn(struct ns_outbox_worker *w, const char *name, struct ns_conn **c,
                     struct sg_http_client **http, char *msg, size_t msgsz)
{
	struct ns_outbox *ob = w->ob;
	pthread_mutex_lock(&ob->lock);
	struct ns_conn *found = NULL;
	for (size_t i = 0; i < ob->nconns && !found; i++)
		if (!strcmp(ob->conns[i]->cfg.name, name))
			found = ob->conns[i];
	if (!found && ob->nconns < NS_MAX_CONNS) {
		struct ns_connection cfg;
		sg_err e = ns_state_get(ob->state, name, &cfg);
		if (e) {
			snprintf(msg, msgsz, "%s connection %s",
			         e == SG_ERR_NO_RECORD ? "no" : "cannot read", name);
		} else {
			found = ns_conn_new(&cfg, ob->state);
			if (found)
				ob->conns[ob->nconns++] = found;
			else {
				ns_connection_clear(&cfg);
				snprintf(msg, msgsz, "out of memory");
			}
		}
	} else if (!found) {
		snprintf(msg, msgsz, "more than %d connections in one run", NS_MAX_CONNS);
	}
	pthread_mutex_unlock(&ob->lock);
	if (!found)
		return false;
	for (size_t i = 0; i < w->n; i++)
		if (w->conn[i] == found) {
			*c = found;
			*http = w->http[i];
			return true;
		}
	if (w->n >= NS_MAX_CONNS)
		return false;
	/* one attempt per call: retries are the outbox's, durable, with lookups */
	struct sg_http_client *h = ns_conn_http(found, 1);
	if (!h) {
		snprintf(msg, msgsz, "out of memory");
		return false;
	}
	w->conn[w->n] = found;
	w->http[w->n++] = h;
	*c = found;
	*http = h;
	return true;
}

/* ---- an item -------------------------------------------------------------------- */

struct item {
	long long seq;
	char id[33];
	char conn[NS_NAME_MAX + 1];
	char profile[NS_NAME_MAX + 1];
	char *key, *summary, *severity, *fields;
	enum ns_event_status status;
	int64_t occurred_at;
	long long attempts;
	char state[16];      /* as read at the claim: pending, or inflight (lease out) */
	long long lease_end; /* the lease read at the claim (ms) */
	char holder[96];     /* who held it then ("" none) */
	const char *owner;   /* this process (ns_state.owner) */
	bool found;
	json_t *jbuf; /* journal rows of this step, written with its outcome's commit */
};

static void item_clear(struct item *it)
{
	free(it->key);
	free(it->summary);
	free(it->severity);
	free(it->fields);
	json_decref(it->jbuf);
	memset(it, 0, sizeof(*it));
}

static int read_item(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct item *it = ud;
	for (int i = 0; i < ncol; i++) {
		const char *n = names[i], *v = vals[i];
		if (!strcmp(n, "seq"))
			it->seq = v ? atoll(v) : 0;
		else if (!strcmp(n, "id"))
			snprintf(it->id, sizeof(it->id), "%s", v ? v : "");
		else if (!strcmp(n, "connection"))
			snprintf(it->conn, sizeof(it->conn), "%s", v ? v : "");
		else if (!strcmp(n, "profile"))
			snprintf(it->profile, sizeof(it->profile), "%s", v ? v : "");
		else if (!strcmp(n, "ekey"))
			it->key = v ? strdup(v) : NULL;
		else if (!strcmp(n, "summary"))
			it->summary = v ? strdup(v) : NULL;
		else if (!strcmp(n, "severity"))
			it->severity = v ? strdup(v) : NULL;
		else if (!strcmp(n, "fields"))
			it->fields = v ? strdup(v) : NULL;
		else if (!strcmp(n, "status"))
			it->status =
			    v && !strcmp(v, "resolved") ? NS_EVENT_RESOLVED : NS_EVENT_FIRING;
		else if (!strcmp(n, "occurred_at"))
			it->occurred_at = v ? atoll(v) : 0;
		else if (!strcmp(n, "attempts"))
			it->attempts = v ? atoll(v) : 0;
		else if (!strcmp(n, "state"))
			snprintf(it->state, sizeof(it->state), "%s", v ? v : "");
		else if (!strcmp(n, "lease_until"))
			it->lease_end = v ? atoll(v) : 0;
		else if (!strcmp(n, "claimed_by"))
			snprintf(it->holder, sizeof(it->holder), "%s", v ? v : "");
	}
	it->found = it->key != NULL;
	return 1;
}

static int read_int(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	*(long long *)ud = ncol > 0 && vals[0] ? atoll(vals[0]) : 0;
	return 1;
}

/* Claims the next due item into it (committed as in flight, held by owner
 * until now + lease_ms): a pending one whose time has come, or one in flight
 * whose lease ran out; the oldest unfinished of its key only. */
static sg_err claim(sg_conn *db, const char *owner, int64_t lease_ms, struct item *it,
                    int64_t *next_due_ms)
{
	int64_t now = ns_now_ms();
	bool lost = false;
	it->owner = owner;
	sg_err e = sg_conn_begin(db, true);
	if (e)
		return e;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT e.\"seq\", e.\"id\", e.\"connection\", e.\"profile\", e.\"ekey\", "
	               "e.\"status\", e.\"summary\", e.\"severity\", e.\"fields\", "
	               "e.\"occurred_at\", e.\"attempts\", e.\"state\", e.\"lease_until\", "
	               "e.\"claimed_by\" FROM \"ns_event\" e WHERE ((e.\"state\" = 'pending' AND "
	               "e.\"next_at\" <= ");
	sg_sql_int(&q, now);
	sg_sql_raw(&q, ") OR (e.\"state\" = 'inflight' AND e.\"lease_until\" <= ");
	sg_sql_int(&q, now);
	sg_sql_raw(&q, ")) AND NOT EXISTS (SELECT 1 FROM \"ns_event\" o WHERE o.\"connection\" = "
	               "e.\"connection\" AND o.\"profile\" = e.\"profile\" AND o.\"ekey\" = "
	               "e.\"ekey\" AND o.\"seq\" < e.\"seq\" AND o.\"state\" IN ('pending', "
	               "'inflight')) ORDER BY e.\"seq\" LIMIT 1");
	/* a row another process's claim holds is passed over, not waited for */
	const struct sg_dialect *d = sg_conn_dialect(db);
	if (d->claim_lock)
		d->claim_lock(&q, "e");
	e = sg_conn_exec(db, &q, read_item, it, NULL);
	if (!e && it->found) {
		/* taken only as it was read: a row changed since is not this claim's */
		sg_sql_reset(&q);
		sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"state\" = 'inflight', \"attempts\" = "
		               "\"attempts\" + 1, \"claimed_by\" = ");
		sg_sql_text(&q, owner);
		sg_sql_raw(&q, ", \"lease_until\" = ");
		sg_sql_int(&q, now + lease_ms);
		if (!strcmp(it->state, "inflight")) {
			char why[200];
			snprintf(why, sizeof(why), "the lease of %s ran out (the process stopped?)",
			         *it->holder ? it->holder : "a process");
			sg_sql_raw(&q, ", \"last_error\" = ");
			sg_sql_text(&q, why);
		}
		sg_sql_raw(&q, ", \"updated_at\" = ");
		sg_sql_int(&q, now / 1000);
		sg_sql_raw(&q, " WHERE \"seq\" = ");
		sg_sql_int(&q, it->seq);
		sg_sql_raw(&q, " AND \"state\" = ");
		sg_sql_text(&q, it->state);
		sg_sql_raw(&q, " AND \"attempts\" = ");
		sg_sql_int(&q, it->attempts);
		sg_sql_raw(&q, " AND \"lease_until\" = ");
		sg_sql_int(&q, it->lease_end);
		long long changed = 0;
		e = sg_conn_exec(db, &q, NULL, NULL, &changed);
		if (!e && changed != 1) {
			item_clear(it); /* another took it first: none this time */
			it->owner = owner;
			lost = true;
		} else {
			it->attempts++;
		}
	}
	long long next = 0;
	if (!e) {
		sg_sql_reset(&q);
		sg_sql_raw(&q,
		           "SELECT MIN(\"next_at\") FROM \"ns_event\" WHERE \"state\" = 'pending'");
		e = sg_conn_exec(db, &q, read_int, &next, NULL);
	}
	sg_sql_cleanup(&q);
	*next_due_ms = lost ? now : next; /* lost: the next look at once */
	if (e) {
		sg_conn_rollback(db);
		return e;
	}
	return sg_conn_commit(db);
}

/* Keeps a journal row of it's step until its outcome is committed. */
static void journal(const struct item *it, const struct ns_jrow *r)
{
	if (!it->jbuf)
		return;
	json_t *o = json_pack("{s:s, s:s?, s:s?, s:i, s:I, s:I, s:s?, s:I}", "kind", r->kind,
	                      "method", r->method, "path", r->path, "status", r->status, "ms",
	                      (json_int_t)r->ms, "attempt", (json_int_t)r->attempt, "detail",
	                      r->detail, "at_ms", (json_int_t)ns_now_ms());
	if (o && json_array_size(it->jbuf) < 64)
		json_array_append(it->jbuf, o);
	json_decref(o);
}

/* Writes it's buffered journal rows (inside the caller's transaction). */
static sg_err flush_journal(sg_conn *db, const struct item *it)
{
	size_t i;
	json_t *o;
	sg_err e = SG_ERR_OK;
	json_array_foreach(it->jbuf, i, o)
	{
		struct ns_jrow r = {.conn = it->conn,
		                    .profile = it->profile,
		                    .key = it->key,
		                    .event_id = it->id,
		                    .kind = sg_json_str(o, "kind"),
		                    .method = sg_json_str(o, "method"),
		                    .path = sg_json_str(o, "path"),
		                    .status = (int)json_integer_value(json_object_get(o, "status")),
		                    .ms = (long)json_integer_value(json_object_get(o, "ms")),
		                    .attempt = json_integer_value(json_object_get(o, "attempt")),
		                    .detail = sg_json_str(o, "detail")};
		if (!e)
			e = ns_journal_insert(db, &r,
			                      json_integer_value(json_object_get(o, "at_ms")));
		if (!e && i + 1 == json_array_size(it->jbuf))
			e = ns_journal_trim(db, &r);
	}
	return e;
}

/* Appends the condition that this process still holds it: an outcome
 * recorded after its lease ran out (another process has it now) is not. */
static void still_held(struct sg_sql *q, const struct item *it)
{
	sg_sql_raw(q, " WHERE \"seq\" = ");
	sg_sql_int(q, it->seq);
	sg_sql_raw(q, " AND \"state\" = 'inflight' AND \"claimed_by\" = ");
	sg_sql_text(q, it->owner);
}

static void lease_lost(const struct item *it)
{
	ns_logj(NS_LOG_WARN, "lease lost: another process took the item, this outcome is dropped",
	        json_pack("{s:s, s:s, s:s}", "connection", it->conn, "event", it->id, "owner",
	                  it->owner));
}

/* Puts it back: state (pending or dead) with next_at and what happened.
 * uncount: the attempt was not one (a wait, the budget). */
static sg_err release(sg_conn *db, const struct item *it, const char *state, int64_t next_at_ms,
                      int status, const char *error, const char *action, bool uncount)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"state\" = ");
	sg_sql_text(&q, state);
	sg_sql_raw(&q, ", \"next_at\" = ");
	sg_sql_int(&q, next_at_ms);
	sg_sql_raw(&q, ", \"last_status\" = ");
	sg_sql_int(&q, status);
	sg_sql_raw(&q, ", \"last_error\" = ");
	sg_sql_text(&q, error);
	sg_sql_raw(&q, ", \"action\" = ");
	sg_sql_text(&q, action);
	if (uncount)
		sg_sql_raw(&q, ", \"attempts\" = \"attempts\" - 1");
	sg_sql_raw(&q, ", \"updated_at\" = ");
	sg_sql_int(&q, sg_time_now());
	still_held(&q, it);
	bool rows = json_array_size(it->jbuf) > 0;
	sg_err e = rows ? sg_conn_begin(db, true) : SG_ERR_OK;
	long long changed = 0;
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, &changed);
	sg_sql_cleanup(&q);
	bool held = !e && changed == 1;
	if (rows && held)
		e = flush_journal(db, it);
	if (rows && (e || !held))
		sg_conn_rollback(db);
	else if (rows)
		e = sg_conn_commit(db);
	if (!e && !held)
		lease_lost(it);
	return e;
}

static int read_link(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct ns_link *l = ud;
	for (int i = 0; i < ncol; i++) {
		const char *n = names[i], *v = vals[i] ? vals[i] : "";
		if (!strcmp(n, "state"))
			l->state = !strcmp(v, "open")       ? NS_LINK_OPEN
			           : !strcmp(v, "resolved") ? NS_LINK_RESOLVED
			           : !strcmp(v, "closed")   ? NS_LINK_CLOSED
			                                    : NS_LINK_NONE;
		else if (!strcmp(n, "sys_id"))
			snprintf(l->sys_id, sizeof(l->sys_id), "%s", v);
		else if (!strcmp(n, "hash"))
			snprintf(l->hash, sizeof(l->hash), "%s", v);
		else if (!strcmp(n, "resolved_at"))
			l->resolved_at = atoll(v);
		else if (!strcmp(n, "last_firing_at"))
			l->last_firing_at = atoll(v);
	}
	return 1;
}

static sg_err load_link(sg_conn *db, const struct item *it, struct ns_link *l)
{
	memset(l, 0, sizeof(*l));
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_link\" WHERE \"connection\" = ");
	sg_sql_text(&q, it->conn);
	sg_sql_raw(&q, " AND \"profile\" = ");
	sg_sql_text(&q, it->profile);
	sg_sql_raw(&q, " AND \"ekey\" = ");
	sg_sql_text(&q, it->key);
	sg_err e = sg_conn_exec(db, &q, read_link, l, NULL);
	sg_sql_cleanup(&q);
	return e;
}

/* Whether a firing of it's key was accepted after it (a clear) and
 * occurred within the hysteresis after it: the clear is then a flap. */
static sg_err later_firing(sg_conn *db, const struct item *it, int64_t hysteresis_s, bool *out)
{
	*out = false;
	if (hysteresis_s <= 0)
		return SG_ERR_OK;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM \"ns_event\" WHERE \"connection\" = ");
	sg_sql_text(&q, it->conn);
	sg_sql_raw(&q, " AND \"profile\" = ");
	sg_sql_text(&q, it->profile);
	sg_sql_raw(&q, " AND \"ekey\" = ");
	sg_sql_text(&q, it->key);
	sg_sql_raw(&q, " AND \"status\" = 'firing' AND \"seq\" > ");
	sg_sql_int(&q, it->seq);
	sg_sql_raw(&q, " AND \"occurred_at\" < ");
	sg_sql_int(&q, it->occurred_at + hysteresis_s);
	long long n = 0;
	sg_err e = sg_conn_exec(db, &q, read_int, &n, NULL);
	sg_sql_cleanup(&q);
	*out = n > 0;
	return e;
}

static const char *link_state_name(enum ns_link_state s)
{
	return s == NS_LINK_OPEN       ? "open"
	       : s == NS_LINK_RESOLVED ? "resolved"
	       : s == NS_LINK_CLOSED   ? "closed"
	                               : "none";
}

/* The link as l says and the item done, in one transaction. */
static sg_err finish(sg_conn *db, const struct item *it, const struct ns_link *l, bool save_link,
                     const char *action, int status)
{
	sg_err e = sg_conn_begin(db, true);
	if (e)
		return e;
	struct sg_sql q;
	sg_sql_init(&q);
	if (save_link) {
		sg_sql_raw(&q, "DELETE FROM \"ns_link\" WHERE \"connection\" = ");
		sg_sql_text(&q, it->conn);
		sg_sql_raw(&q, " AND \"profile\" = ");
		sg_sql_text(&q, it->profile);
		sg_sql_raw(&q, " AND \"ekey\" = ");
		sg_sql_text(&q, it->key);
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
		sg_sql_reset(&q);
		sg_sql_raw(&q,
		           "INSERT INTO \"ns_link\" (\"connection\", \"profile\", \"ekey\", "
		           "\"state\", \"sys_id\", \"hash\", \"resolved_at\", \"last_firing_at\", "
		           "\"updated_at\") VALUES (");
		sg_sql_text(&q, it->conn);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, it->profile);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, it->key);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, link_state_name(l->state));
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, l->sys_id);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, l->hash);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, l->resolved_at);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, l->last_firing_at);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, sg_time_now());
		sg_sql_raw(&q, ")");
		if (!e)
			e = sg_conn_exec(db, &q, NULL, NULL, NULL);
		sg_sql_reset(&q);
	}
	sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"state\" = 'done', \"action\" = ");
	sg_sql_text(&q, action);
	sg_sql_raw(&q, ", \"sys_id\" = ");
	sg_sql_text(&q, *l->sys_id ? l->sys_id : NULL);
	sg_sql_raw(&q, ", \"last_status\" = ");
	sg_sql_int(&q, status);
	sg_sql_raw(&q, ", \"last_error\" = NULL, \"updated_at\" = ");
	sg_sql_int(&q, sg_time_now());
	still_held(&q, it);
	long long changed = 0;
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, &changed);
	sg_sql_cleanup(&q);
	if (!e && changed != 1) {
		/* the link is not written either: the holder now decides again */
		sg_conn_rollback(db);
		lease_lost(it);
		return SG_ERR_OK;
	}
	if (!e)
		e = flush_journal(db, it);
	if (e) {
		sg_conn_rollback(db);
		return e;
	}
	return sg_conn_commit(db);
}

/* The hourly budget of conn: with check, *ok false (and nothing counted)
 * when it is spent; else n requests are counted (n may be 0: a look). */
static sg_err budget_use(sg_conn *db, const char *conn, long budget, int n, bool check, bool *ok)
{
	*ok = true;
	if (budget <= 0 || (!check && n <= 0))
		return SG_ERR_OK;
	int64_t hour = sg_time_now() / 3600;
	sg_err e = sg_conn_begin(db, true);
	if (e)
		return e;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"used\" FROM \"ns_budget\" WHERE \"connection\" = ");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, " AND \"hour\" = ");
	sg_sql_int(&q, hour);
	long long used = -1;
	e = sg_conn_exec(db, &q, read_int, &used, NULL);
	sg_sql_reset(&q);
	if (!e && check && used >= budget) {
		*ok = false;
	} else if (!e && n > 0 && used < 0) {
		sg_sql_raw(&q, "DELETE FROM \"ns_budget\" WHERE \"connection\" = ");
		sg_sql_text(&q, conn);
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
		sg_sql_reset(&q);
		sg_sql_raw(
		    &q, "INSERT INTO \"ns_budget\" (\"connection\", \"hour\", \"used\") VALUES (");
		sg_sql_text(&q, conn);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, hour);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, n);
		sg_sql_raw(&q, ")");
		if (!e)
			e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	} else if (!e && n > 0) {
		sg_sql_raw(&q, "UPDATE \"ns_budget\" SET \"used\" = \"used\" + ");
		sg_sql_int(&q, n);
		sg_sql_raw(&q, " WHERE \"connection\" = ");
		sg_sql_text(&q, conn);
		sg_sql_raw(&q, " AND \"hour\" = ");
		sg_sql_int(&q, hour);
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	}
	sg_sql_cleanup(&q);
	if (e) {
		sg_conn_rollback(db);
		return e;
	}
	return sg_conn_commit(db);
}

/* ---- one step -------------------------------------------------------------------- */

/* How a request went. */
enum outcome { OUT_OK, OUT_RETRY, OUT_DEAD, OUT_BUDGET };

struct step {
	struct ns_outbox_worker *w;
	sg_conn *db;
	struct item *it;
	struct ns_profile *p;
	struct ns_conn *c;
	struct sg_http_client *http;
	int status;
	long retry_after_ms;
	char err[1024];
	json_t *result; /* the answer's "result" */
};

/* The answer's essentials for the journal: sys_id, number, state of the
 * record (or how many rows and the first one's), or the error's message. */
static void essentials(int status, json_t *j, char *out, size_t sz)
{
	json_t *res = json_object_get(j, "result");
	size_t o = 0;
	if (json_is_array(res)) {
		o += (size_t)snprintf(out, sz, "%zu row%s", json_array_size(res),
		                      json_array_size(res) == 1 ? "" : "s");
		res = json_array_get(res, 0);
	}
	static const char *const keys[] = {"sys_id", "number", "state"};
	for (int i = 0; i < 3 && json_is_object(res); i++) {
		json_t *v = json_object_get(res, keys[i]);
		if (json_is_object(v))
			v = json_object_get(v, "value");
		if (json_is_string(v) && o < sz)
			o += (size_t)snprintf(out + o, sz - o, "%s%s=%.64s", o ? " " : "", keys[i],
			                      json_string_value(v));
	}
	json_t *er = json_object_get(j, "error");
	const char *m = sg_json_str(er, "message");
	if (status >= 300 && m && o < sz)
		snprintf(out + o, sz - o, "%s%.200s", o ? " " : "", m);
}

/* Sends one request; OUT_OK for a 2xx (result kept). */
static enum outcome send_req(struct step *st, const char *method, const char *path, json_t *body)
{
	bool ok = true;
	sg_err e = budget_use(st->db, st->it->conn, st->p->hourly_budget, 1, true, &ok);
	if (e) {
		snprintf(st->err, sizeof(st->err), "the state database: %s", sg_err_name(e));
		return OUT_RETRY;
	}
	if (!ok) {
		snprintf(st->err, sizeof(st->err),
		         "the hourly budget of %ld requests on %s is spent", st->p->hourly_budget,
		         st->it->conn);
		return OUT_BUDGET;
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !text) {
		snprintf(st->err, sizeof(st->err), "out of memory");
		return OUT_RETRY;
	}
	struct sg_http_response r;
	struct ns_error nerr;
	sg_http_response_init(&r);
	json_decref(st->result);
	st->result = NULL;
	st->status = 0;
	st->retry_after_ms = -1;
	enum outcome out;
	/* A create or a note is never sent twice by the HTTP client itself: a
	 * request that may not be repeated goes on a new connection (net/client.c),
	 * so a reused connection dying before the answer cannot duplicate it (the
	 * proxy test of test_nowsync_delivery.py). */
	int64_t t0 = ns_now_ms();
	bool answered = ns_conn_request(st->c, st->http, method, path, text, &r, &nerr);
	long took = (long)(ns_now_ms() - t0);
	char ess[400] = "";
	if (!answered) {
		snprintf(st->err, sizeof(st->err), "%s %s: %s", method, path, nerr.msg);
		st->status = nerr.status;
		snprintf(ess, sizeof(ess), "%.300s", nerr.msg);
		out = OUT_RETRY;
	} else {
		st->status = r.status;
		json_t *j = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
		essentials(r.status, j, ess, sizeof(ess));
		if (r.status >= 200 && r.status < 300) {
			st->result = json_incref(json_object_get(j, "result"));
			out = OUT_OK;
		} else {
			json_t *er = json_object_get(j, "error");
			const char *m = sg_json_str(er, "message"), *d = sg_json_str(er, "detail");
			/* an ACL's refusal of a write names what grants it */
			const char *g =
			    r.status != 403            ? NULL
			    : !strcmp(method, "POST")  ? ns_diag_grant(st->p->table, "create")
			    : !strcmp(method, "PATCH") ? ns_diag_grant(st->p->table, "write")
			                               : NULL;
			snprintf(st->err, sizeof(st->err), "%s %s answered %d: %s%s%s%s%s%s%s",
			         method, path, r.status, m ? m : "", d && *d ? ": " : "",
			         d ? d : "", g ? "; " : "", g ? st->p->table : "",
			         g ? (!strcmp(method, "POST") ? " create is granted by "
			                                      : " write is granted by ")
			           : "",
			         g ? g : "");
			st->retry_after_ms = sg_net_retry_after_ms(
			    sg_http_response_header(&r, "Retry-After"), sg_time_now());
			out = r.status == 429 || r.status == 408 || r.status >= 500 ? OUT_RETRY
			                                                            : OUT_DEAD;
		}
		json_decref(j);
	}
	sg_http_response_cleanup(&r);
	free(text);
	ns_metric_request(st->it->conn, answered ? st->status : 0);
	struct ns_jrow jr = {.conn = st->it->conn,
	                     .profile = st->it->profile,
	                     .key = st->it->key,
	                     .event_id = st->it->id,
	                     .kind = "request",
	                     .method = method,
	                     .path = path,
	                     .status = answered ? st->status : 0,
	                     .ms = took,
	                     .attempt = st->it->attempts,
	                     .detail = ess};
	journal(st->it, &jr);
	return out;
}

static const char *res_str(json_t *row, const char *k)
{
	json_t *v = json_object_get(row, k);
	if (json_is_object(v))
		v = json_object_get(v, "value");
	return json_is_string(v) ? json_string_value(v) : "";
}

static void fields_hash(json_t *body, char out[65])
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), (const unsigned char *)(text ? text : ""),
	                   text ? strlen(text) : 0, NULL, 0);
	sodium_bin2hex(out, 65, h, sizeof(h));
	free(text);
}

static void pct(const char *s, struct sg_buf *b)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char tmp[4];
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.') {
			sg_buf_append(b, (const char *)&ch, 1);
		} else {
			snprintf(tmp, sizeof(tmp), "%%%02X", ch);
			sg_buf_append(b, tmp, 3);
		}
	}
}

/* The newest record of the table with this correlation_id: its sys_id into
 * out ("" when none). */
static enum outcome lookup_corr(struct step *st, const char *corr, char out[33])
{
	out[0] = '\0';
	struct sg_buf path;
	sg_buf_init(&path, 8192);
	sg_buf_printf(&path, "/api/now/table/%s?sysparm_query=correlation_id%%3D", st->p->table);
	pct(corr, &path);
	sg_buf_printf(&path, "%%5EORDERBYDESCsys_created_on&sysparm_fields=sys_id&sysparm_limit=1");
	enum outcome o =
	    sg_buf_failed(&path) ? OUT_RETRY : send_req(st, "GET", sg_buf_str(&path), NULL);
	sg_buf_cleanup(&path);
	if (o == OUT_OK)
		snprintf(out, 33, "%s", res_str(json_array_get(st->result, 0), "sys_id"));
	return o;
}

/* The dictionary check and the group: errs gets the problems. */
/* A group's sys_id from the shared cache (name keyed per connection). */
static bool group_cached(struct ns_outbox *ob, const char *key, char out[33])
{
	pthread_mutex_lock(&ob->lock);
	json_t *v = json_object_get(ob->groups, key);
	bool hit = json_is_array(v) &&
	           json_integer_value(json_array_get(v, 1)) > sg_time_now() - NS_GROUP_TTL_S;
	if (hit)
		snprintf(out, 33, "%s", json_string_value(json_array_get(v, 0)));
	pthread_mutex_unlock(&ob->lock);
	return hit;
}

static void group_remember(struct ns_outbox *ob, const char *key, const char *id)
{
	pthread_mutex_lock(&ob->lock);
	if (json_object_size(ob->groups) > 10000)
		json_object_clear(ob->groups);
	json_object_set_new(ob->groups, key, json_pack("[s,I]", id, (json_int_t)sg_time_now()));
	pthread_mutex_unlock(&ob->lock);
}

/* The dictionary check and the group: errs gets the problems.  Requests
 * made are counted against the budget, which is looked at first. */
static enum outcome validate(struct step *st, json_t *body, json_t *errs)
{
	bool ok = true;
	sg_err e = budget_use(st->db, st->it->conn, st->p->hourly_budget, 0, true, &ok);
	if (e || !ok) {
		snprintf(st->err, sizeof(st->err),
		         e ? "the state database"
		           : "the hourly budget of %ld requests on %s is spent",
		         st->p->hourly_budget, st->it->conn);
		return e ? OUT_RETRY : OUT_BUDGET;
	}
	struct ns_dict d;
	char msg[512] = "";
	int nreq = 0;
	enum outcome o = OUT_OK;
	bool have = true; /* without validation, the group is still looked up */
	if (st->p->validate) {
		pthread_mutex_lock(&st->w->ob->dict_lock);
		have = ns_dict_get(st->w->ob->state, st->c, st->http, st->p->table,
		                   st->p->dict_ttl_s, &d, &nreq, msg, sizeof(msg));
		pthread_mutex_unlock(&st->w->ob->dict_lock);
	}
	if (!have) {
		snprintf(st->err, sizeof(st->err), "the dictionary of %s: %s", st->p->table, msg);
		o = OUT_RETRY;
	} else {
		if (st->p->validate) {
			ns_dict_check(&d, body, errs);
			ns_dict_clear(&d);
		}
		const char *g = json_string_value(json_object_get(body, "assignment_group"));
		char key[600], id[33];
		snprintf(key, sizeof(key), "%s\x1f%s", st->it->conn, g ? g : "");
		if (g && *g && group_cached(st->w->ob, key, id)) {
			json_object_set_new(body, "assignment_group", json_string(id));
		} else if (g && *g && ns_resolve_group(st->c, st->http, body, errs, &nreq)) {
			group_remember(
			    st->w->ob, key,
			    json_string_value(json_object_get(body, "assignment_group")));
		}
		if (json_array_size(errs))
			o = OUT_DEAD;
	}
	budget_use(st->db, st->it->conn, st->p->hourly_budget, nreq, false, &ok);
	return o;
}

static void errs_text(json_t *errs, char *out, size_t sz)
{
	size_t o = (size_t)snprintf(out, sz, "validation (not sent):");
	size_t i;
	json_t *v;
	json_array_foreach(errs, i, v)
	{
		if (o < sz)
			o += (size_t)snprintf(out + o, sz - o, "%s %s", i ? ";" : "",
			                      json_string_value(v));
	}
}

/* Whether state is one of the profile's closed states. */
static bool closed_state(const struct ns_profile *p, const char *state)
{
	size_t n = strlen(state);
	for (const char *c = p->closed_states; n && *c;) {
		size_t len = strcspn(c, ",");
		if (len == n && !strncmp(c, state, n))
			return true;
		c += len + (c[len] == ',');
	}
	return false;
}

/* The profile's "parent": the record the other profile's key is linked to
 * (on this connection) into its field.  Not linked yet (its create is still
 * queued, or failed): a retry, so a follow-up waits for its incident. */
static enum outcome set_parent(struct step *st, json_t *body, const struct ns_tvars *tv)
{
	char *key = ns_template_render(st->p->parent_key, tv);
	if (!key) {
		snprintf(st->err, sizeof(st->err), "out of memory");
		return OUT_RETRY;
	}
	struct item pit = {.key = key};
	snprintf(pit.conn, sizeof(pit.conn), "%s", st->it->conn);
	snprintf(pit.profile, sizeof(pit.profile), "%s", st->p->parent_profile);
	struct ns_link pl;
	sg_err e = *key ? load_link(st->db, &pit, &pl) : SG_ERR_OK;
	enum outcome o = OUT_OK;
	if (e) {
		snprintf(st->err, sizeof(st->err), "the state database");
		o = OUT_RETRY;
	} else if (!*key) {
		snprintf(st->err, sizeof(st->err),
		         "validation (not sent): the parent key is empty");
		o = OUT_DEAD;
	} else if (strlen(pl.sys_id) != 32) {
		snprintf(st->err, sizeof(st->err),
		         "the parent (profile %s, key %.200s) has no record yet",
		         st->p->parent_profile, key);
		o = OUT_RETRY;
	} else {
		json_object_set_new(body, st->p->parent_field, json_string(pl.sys_id));
	}
	free(key);
	return o;
}

static enum outcome act(struct step *st, enum ns_action *ap, struct ns_link *l, json_t *body,
                        const struct ns_tvars *tv)
{
	char corr_id[33];
	char path[512];
	enum ns_action a = *ap;
	if (a == NS_ACT_REOPEN || a == NS_ACT_UPDATE || a == NS_ACT_RESOLVE) {
		/* a record closed in the instance meanwhile (or deleted) is left alone: a
		 * clear has nothing more to do, a firing makes a new record */
		snprintf(path, sizeof(path), "/api/now/table/%s/%s?sysparm_fields=state",
		         st->p->table, l->sys_id);
		enum outcome g = send_req(st, "GET", path, NULL);
		bool gone = g == OUT_DEAD && st->status == 404;
		if (g != OUT_OK && !gone)
			return g;
		if (gone || closed_state(st->p, res_str(st->result, "state"))) {
			if (a == NS_ACT_RESOLVE) {
				*ap = NS_ACT_NONE;
				return OUT_OK;
			}
			a = *ap = NS_ACT_CREATE; /* body is still the create's */
		}
	}
	json_t *errs = json_array();
	enum outcome o = errs ? OUT_OK : OUT_RETRY;
	if (o == OUT_OK && (a == NS_ACT_UPDATE || a == NS_ACT_REOPEN)) {
		char *note = ns_template_render(
		    a == NS_ACT_UPDATE ? st->p->update_note : st->p->reopen_note, tv);
		json_object_del(body, "correlation_id");
		json_object_set_new(body, st->p->update_comments ? "comments" : "work_notes",
		                    json_string(note ? note : ""));
		free(note);
		if (a == NS_ACT_REOPEN)
			json_object_set_new(body, "state", json_string(st->p->reopen_state));
	} else if (o == OUT_OK && a == NS_ACT_RESOLVE) {
		char *notes = ns_template_render(st->p->close_notes, tv);
		json_object_clear(body);
		json_object_set_new(body, "state", json_string(st->p->resolved_state));
		if (*st->p->close_code) /* "": a table without one (task) */
			json_object_set_new(body, "close_code", json_string(st->p->close_code));
		if (*st->p->close_notes)
			json_object_set_new(body, "close_notes", json_string(notes ? notes : ""));
		free(notes);
	}
	if (o == OUT_OK && a == NS_ACT_CREATE && st->p->parent_profile)
		o = set_parent(st, body, tv);
	if (o == OUT_OK)
		o = validate(st, body, errs);
	if (o == OUT_DEAD && json_array_size(errs))
		errs_text(errs, st->err, sizeof(st->err));
	json_decref(errs);
	if (o != OUT_OK)
		return o;
	if (a == NS_ACT_CREATE) {
		/* a create tried before may have reached the instance */
		if (st->it->attempts > 1) {
			const char *corr =
			    json_string_value(json_object_get(body, "correlation_id"));
			o = lookup_corr(st, corr ? corr : "", corr_id);
			if (o != OUT_OK)
				return o;
			if (*corr_id && strcmp(corr_id, l->sys_id)) {
				ns_logj(NS_LOG_INFO, "create found made by an earlier attempt",
				        json_pack("{s:s, s:s, s:s}", "connection", st->it->conn,
				                  "event", st->it->id, "sys_id", corr_id));
				snprintf(l->sys_id, sizeof(l->sys_id), "%s", corr_id);
				return OUT_OK;
			}
		}
		snprintf(path, sizeof(path),
		         "/api/now/table/%s?sysparm_fields=sys_id,number,sys_mod_count",
		         st->p->table);
		o = send_req(st, "POST", path, body);
		if (o == OUT_OK) {
			ns_backsync_own(st->db, st->it->conn, st->p->table, st->result);
			const char *id = res_str(st->result, "sys_id");
			if (strlen(id) != 32) {
				snprintf(st->err, sizeof(st->err),
				         "the create's answer has no sys_id");
				return OUT_RETRY;
			}
			snprintf(l->sys_id, sizeof(l->sys_id), "%s", id);
		}
		return o;
	}
	snprintf(path, sizeof(path), "/api/now/table/%s/%s?sysparm_fields=sys_id,sys_mod_count",
	         st->p->table, l->sys_id);
	ns_backsync_own_pending(st->db, st->it->conn, st->p->table, l->sys_id, true);
	enum outcome po = send_req(st, "PATCH", path, body);
	if (po == OUT_OK) /* this version is nowsync's: back-sync does not echo it */
		ns_backsync_own(st->db, st->it->conn, st->p->table, st->result);
	ns_backsync_own_pending(st->db, st->it->conn, st->p->table, l->sys_id, false);
	return po;
}

/* A journal row about it that is not a request. */
static void note(struct ns_outbox_worker *w, const struct item *it, const char *kind, int status,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void note(struct ns_outbox_worker *w, const struct item *it, const char *kind, int status,
                 const char *fmt, ...)
{
	char detail[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	struct ns_jrow jr = {.conn = it->conn,
	                     .profile = it->profile,
	                     .key = it->key,
	                     .event_id = it->id,
	                     .kind = kind,
	                     .status = status,
	                     .attempt = it->attempts,
	                     .detail = detail};
	(void)w;
	journal(it, &jr);
}

sg_err ns_outbox_step(struct ns_outbox_worker *w, bool *did, int64_t *next_due_ms)
{
	*did = false;
	*next_due_ms = 0;
	sg_conn *db = sg_store_conn(w->ob->state->store);
	if (!db)
		return SG_ERR_STORE;
	struct ns_state *s = w->ob->state;
	struct item it = {0};
	sg_err e = claim(db, s->owner, s->lease_ms, &it, next_due_ms);
	if (e || !it.found) {
		item_clear(&it);
		return e;
	}
	*did = true;
	it.jbuf = json_array(); /* NULL (no memory): no journal rows, delivery goes on */
	struct ns_profile p;
	struct step st = {.w = w, .db = db, .it = &it, .p = &p};
	char msg[512] = "";
	e = ns_profile_load(it.profile, &p, msg, sizeof(msg));
	if (e) {
		/* a profile gone or broken: nothing can be decided; kept, retryable */
		note(w, &it, "dead", 0, "%s", msg);
		e = release(db, &it, "dead", 0, 0, msg, NULL, false);
		ns_metric_dead(it.conn);
		item_clear(&it);
		return e;
	}
	json_t *fields = it.fields ? json_loads(it.fields, 0, NULL) : NULL;
	struct ns_tvars tv = {.key = it.key,
	                      .status = it.status == NS_EVENT_FIRING ? "firing" : "resolved",
	                      .summary = it.summary,
	                      .severity = it.severity,
	                      .fields = fields};
	json_t *body = ns_profile_fields(&p, &tv);
	struct ns_link l;
	bool later = false;
	e = body ? load_link(db, &it, &l) : SG_ERR_NOMEM;
	if (!e && it.status == NS_EVENT_RESOLVED)
		e = later_firing(db, &it, p.hysteresis_s, &later);
	if (e) {
		release(db, &it, "pending", ns_now_ms() + 1000, 0, "the state database", NULL,
		        true);
		goto out;
	}
	/* an event of a category the profile takes no tickets for: nothing sent */
	char why[600];
	if (!ns_ticket_wanted(&p, &tv, why, sizeof(why))) {
		note(w, &it, "filtered", 0, "%s", why);
		ns_metric_filtered(it.profile);
		e = finish(db, &it, &l, false, "filtered", 0);
		goto out;
	}
	char hash[65];
	fields_hash(body, hash);
	struct ns_link want = l;
	if (later)
		l.last_firing_at = INT64_MAX; /* it fired again after this clear */
	int64_t wait_until = 0;
	enum ns_action a = ns_lifecycle_decide(&p, &l, it.status, it.occurred_at, hash,
	                                       sg_time_now(), &wait_until);
	note(w, &it, "decision", 0, "%s (event %s; link %s%s%s)%s", ns_action_name(a),
	     it.status == NS_EVENT_FIRING ? "firing" : "resolved", link_state_name(l.state),
	     *l.sys_id ? " " : "", l.sys_id,
	     a == NS_ACT_WAIT ? ": a clear inside the hysteresis, looked at again later" : "");
	if (a == NS_ACT_WAIT) {
		e = release(db, &it, "pending", wait_until * 1000, 0, NULL, "wait", true);
		goto out;
	}
	if (a == NS_ACT_NONE) {
		if (it.status == NS_EVENT_FIRING && it.occurred_at > want.last_firing_at &&
		    want.state != NS_LINK_NONE) {
			want.last_firing_at = it.occurred_at;
			e = finish(db, &it, &want, true, "none", 0);
		} else {
			e = finish(db, &it, &want, false, "none", 0);
		}
		goto out;
	}
	if (!get_conn(w, it.conn, &st.c, &st.http, msg, sizeof(msg))) {
		e = release(db, &it, "pending", ns_now_ms() + 5000, 0, msg, ns_action_name(a),
		            false);
		goto out;
	}
	enum outcome o = act(&st, &a, &want, body, &tv);
	if (o == OUT_OK) {
		if (a == NS_ACT_NONE) { /* closed in the instance: the link ends */
			want.state = NS_LINK_CLOSED;
		} else if (a == NS_ACT_RESOLVE) {
			want.state = NS_LINK_RESOLVED;
			want.resolved_at = sg_time_now();
		} else {
			want.state = NS_LINK_OPEN;
			snprintf(want.hash, sizeof(want.hash), "%s", hash);
			if (it.occurred_at > want.last_firing_at)
				want.last_firing_at = it.occurred_at;
		}
		note(w, &it, "done", st.status, "%s: %s %s", ns_action_name(a),
		     link_state_name(want.state), want.sys_id);
		e = finish(db, &it, &want, true, ns_action_name(a), st.status);
	} else if (o == OUT_BUDGET) {
		int64_t next_hour = (sg_time_now() / 3600 + 1) * 3600;
		note(w, &it, "retry", 0, "at the next hour: %s", st.err);
		e = release(db, &it, "pending", next_hour * 1000, 0, st.err, ns_action_name(a),
		            true);
	} else if (o == OUT_DEAD || it.attempts >= p.max_attempts) {
		ns_logj(NS_LOG_WARN, "dead letter",
		        json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:s}", "connection", it.conn,
		                  "profile", it.profile, "event", it.id, "action",
		                  ns_action_name(a), "status", st.status, "attempts",
		                  (json_int_t)it.attempts, "error", st.err));
		note(w, &it, "dead", st.status, "after %lld attempt%s: %s", it.attempts,
		     it.attempts == 1 ? "" : "s", st.err);
		e = release(db, &it, "dead", 0, st.status, st.err, ns_action_name(a), false);
		ns_metric_dead(it.conn);
	} else {
		long wait = ns_backoff_ms(&p, (int)it.attempts, randombytes_uniform(1000000) / 1e6);
		if (st.retry_after_ms > wait)
			wait = st.retry_after_ms;
		note(w, &it, "retry", st.status, "attempt %lld failed, next in %.1f s: %s",
		     it.attempts, wait / 1000.0, st.err);
		e = release(db, &it, "pending", ns_now_ms() + wait, st.status, st.err,
		            ns_action_name(a), false);
		ns_metric_retry(it.conn);
		ns_logj(NS_LOG_INFO, "retry",
		        json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:s}", "connection", it.conn,
		                  "event", it.id, "action", ns_action_name(a), "status", st.status,
		                  "attempt", (json_int_t)it.attempts, "in_ms", (json_int_t)wait,
		                  "error", st.err));
	}
out:
	json_decref(st.result);
	json_decref(body);
	json_decref(fields);
	ns_profile_clear(&p);
	item_clear(&it);
	return e;
}

sg_err ns_outbox_claim(struct ns_state *s, char id_out[33])
{
	id_out[0] = '\0';
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct item it = {0};
	int64_t next = 0;
	sg_err e = claim(db, s->owner, s->lease_ms, &it, &next);
	if (!e && it.found)
		memcpy(id_out, it.id, 33);
	item_clear(&it);
	return e;
}

sg_err ns_outbox_mark(struct ns_state *s, const char *id, const char *state)
{
	if (strcmp(state, "done") && strcmp(state, "dead"))
		return SG_ERR_BAD_PARAM;
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"state\" = ");
	sg_sql_text(&q, state);
	sg_sql_raw(&q, " WHERE \"id\" = ");
	sg_sql_text(&q, id);
	long long n = 0;
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, &n);
	sg_sql_cleanup(&q);
	return e ? e : n ? SG_ERR_OK : SG_ERR_NO_RECORD;
}

/* ---- recovery, listing, retry ------------------------------------------------------ */

struct holders {
	char v[32][96];
	int n;
};

static int read_holder(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct holders *h = ud;
	if (ncol > 0 && vals[0] && h->n < 32)
		snprintf(h->v[h->n++], sizeof(h->v[0]), "%s", vals[0]);
	return 0;
}

/* Whether owner (host:pidns:pid:random) is a process of this host and pid
 * namespace that no longer runs: its items need not wait out their lease. */
static bool holder_gone(const char *owner, const char *place)
{
	size_t n = strlen(place);
	if (strncmp(owner, place, n) != 0 || owner[n] != ':' || !strcmp(place + n - 2, ":-"))
		return false;
	char *end = NULL;
	long pid = strtol(owner + n + 1, &end, 10);
	if (pid <= 1 || !end || *end != ':' || pid == (long)getpid())
		return false;
	return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

sg_err ns_outbox_recover(struct ns_state *s)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	/* a process of this host that died (a restart after SIGKILL) left its
	 * items: its lease is given up at once */
	char place[160];
	ns_owner_place(place, sizeof(place));
	struct holders h = {.n = 0};
	sg_sql_raw(&q, "SELECT DISTINCT \"claimed_by\" FROM \"ns_event\" WHERE \"state\" = "
	               "'inflight' AND \"claimed_by\" IS NOT NULL");
	sg_err e = sg_conn_exec(db, &q, read_holder, &h, NULL);
	for (int i = 0; !e && i < h.n; i++) {
		if (!holder_gone(h.v[i], place))
			continue;
		sg_sql_reset(&q);
		sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"lease_until\" = 0 WHERE \"state\" = "
		               "'inflight' AND \"claimed_by\" = ");
		sg_sql_text(&q, h.v[i]);
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	}
	sg_sql_cleanup(&q);
	if (e)
		return e;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"state\" = 'pending', \"last_error\" = 'left in "
	               "flight by ' || COALESCE(\"claimed_by\", 'a process') || ', whose lease ran "
	               "out' WHERE \"state\" = 'inflight' AND \"lease_until\" <= ");
	sg_sql_int(&q, ns_now_ms());
	e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return e;
}

sg_err ns_outbox_renew(struct ns_state *s, long long *held)
{
	if (held)
		*held = 0;
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_event\" SET \"lease_until\" = ");
	sg_sql_int(&q, ns_now_ms() + s->lease_ms);
	sg_sql_raw(&q, " WHERE \"state\" = 'inflight' AND \"claimed_by\" = ");
	sg_sql_text(&q, s->owner);
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, held);
	sg_sql_cleanup(&q);
	return e;
}

struct list_ctx {
	bool json;
	FILE *out;
	json_t *arr;
};

static int list_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct list_ctx *lc = ud;
	json_t *o = json_object();
	for (int i = 0; i < ncol; i++) {
		const char *n = !strcmp(names[i], "ekey") ? "key" : names[i];
		if (!vals[i])
			json_object_set_new(o, n, json_null());
		else if (!strcmp(n, "seq") || !strcmp(n, "attempts") || !strcmp(n, "next_at") ||
		         !strcmp(n, "last_status") || !strcmp(n, "occurred_at") ||
		         !strcmp(n, "lease_until"))
			json_object_set_new(o, n, json_integer(atoll(vals[i])));
		else
			json_object_set_new(o, n, json_string(vals[i]));
	}
	if (lc->json) {
		json_array_append_new(lc->arr, o);
	} else {
		fprintf(lc->out, "%-32s %-8s %-8s %-8s %3lld %-32s %s %s\n", sg_json_str(o, "id"),
		        sg_json_str(o, "state"), sg_json_str(o, "status"),
		        sg_json_str(o, "action") ? sg_json_str(o, "action") : "-",
		        (long long)json_integer_value(json_object_get(o, "attempts")),
		        sg_json_str(o, "sys_id") ? sg_json_str(o, "sys_id") : "-",
		        sg_json_str(o, "key"),
		        sg_json_str(o, "last_error") ? sg_json_str(o, "last_error") : "");
		json_decref(o);
	}
	return 0;
}

sg_err ns_outbox_list(struct ns_state *s, const char *state, bool json, FILE *out)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"seq\", \"id\", \"connection\", \"profile\", \"ekey\", \"status\", "
	               "\"state\", \"attempts\", \"next_at\", \"action\", \"sys_id\", "
	               "\"last_status\", \"last_error\", \"occurred_at\", \"claimed_by\", "
	               "\"lease_until\" FROM \"ns_event\"");
	if (state) {
		sg_sql_raw(&q, " WHERE \"state\" = ");
		sg_sql_text(&q, state);
	}
	sg_sql_raw(&q, " ORDER BY \"seq\"");
	struct list_ctx lc = {.json = json, .out = out, .arr = json ? json_array() : NULL};
	if (json && !lc.arr) {
		sg_sql_cleanup(&q);
		return SG_ERR_NOMEM;
	}
	sg_err e = sg_conn_exec(db, &q, list_row, &lc, NULL);
	sg_sql_cleanup(&q);
	if (!e && json) {
		json_dumpf(lc.arr, out, JSON_INDENT(1));
		fputc('\n', out);
	}
	json_decref(lc.arr);
	return e;
}

sg_err ns_outbox_retry(struct ns_state *s, const char *id)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "UPDATE \"ns_event\" SET \"state\" = 'pending', \"attempts\" = 0, "
	           "\"next_at\" = 0, \"last_error\" = NULL WHERE \"state\" = 'dead' AND \"id\" = ");
	sg_sql_text(&q, id);
	long long n = 0;
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, &n);
	sg_sql_cleanup(&q);
	return e ? e : n ? SG_ERR_OK : SG_ERR_NO_RECORD;
}

static int count_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	long long *c = ud;
	if (ncol < 2 || !vals[0] || !vals[1])
		return 0;
	for (int i = 0; i < 4; i++)
		if (!strcmp(vals[0], ob_states[i]))
			c[i] = atoll(vals[1]);
	return 0;
}

sg_err ns_outbox_counts(struct ns_state *s, long long counts[4])
{
	memset(counts, 0, 4 * sizeof(counts[0]));
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"state\", COUNT(*) FROM \"ns_event\" GROUP BY \"state\"");
	sg_err e = sg_conn_exec(db, &q, count_row, counts, NULL);
	sg_sql_cleanup(&q);
	return e;
}
