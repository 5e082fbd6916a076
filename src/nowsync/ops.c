/*
 * ops.c - structured logs, metrics and the request journal (ops.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/util.h"
#include "nowsync/delivery.h"
#include "nowsync/ops.h"

/* ---- logs ----------------------------------------------------------------------------- */

static enum ns_log_level log_level = NS_LOG_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool ns_log_parse_level(const char *s, enum ns_log_level *out)
{
	for (int i = 0; s && i < 4; i++)
		if (!strcmp(s, level_names[i])) {
			*out = (enum ns_log_level)i;
			return true;
		}
	if (s && !strcmp(s, "warning")) {
		*out = NS_LOG_WARN;
		return true;
	}
	return false;
}

void ns_log_set_level(enum ns_log_level l)
{
	__atomic_store_n(&log_level, l, __ATOMIC_RELAXED);
}

bool ns_log_enabled(enum ns_log_level l)
{
	return l >= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void ns_logj(enum ns_log_level l, const char *msg, json_t *fields)
{
	if (!ns_log_enabled(l)) {
		json_decref(fields);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[40], sec[24];
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when, sizeof(when), "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
	json_t *j = json_pack("{s:s, s:s, s:s}", "time", when, "level", level_names[l], "msg", msg);
	if (j && json_is_object(fields))
		json_object_update(j, fields);
	json_decref(fields);
	char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	pthread_mutex_lock(&log_lock);
	if (line)
		fprintf(stderr, "%s\n", line);
	else
		fprintf(stderr, "{\"level\":\"%s\",\"msg\":\"%s (the rest: out of memory)\"}\n",
		        level_names[l], msg);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
	free(line);
}

/* ---- counters ---------------------------------------------------------------------------- */

/* One family per metric; a value per label set.  The sets are few (sources x
 * results, connections x classes): a short list searched under a lock. */
enum family { F_EVENTS, F_REQUESTS, F_RETRIES, F_DEAD, F_TOKENS, F_FILTERED, F_COUNT };

static const struct {
	const char *name, *help;
} families[F_COUNT] = {
    {"nowsync_events_total", "Events received by intake, by source and result (an invalid "
                             "payload counts as one refused)."},
    {"nowsync_requests_total", "Table API requests sent by delivery, by connection and status "
                               "class (none: no answer came)."},
    {"nowsync_retries_total", "Outbox items put back to be tried again, by connection."},
    {"nowsync_dead_letters_total", "Outbox items given up (dead letters), by connection."},
    {"nowsync_token_refreshes_total",
     "Access tokens requested from /oauth_token.do, by connection and result."},
    {"nowsync_events_filtered_total",
     "Events that created nothing: their category is not one the profile creates tickets for, "
     "by profile."},
};

#define NS_MAX_SERIES 1024

struct series {
	enum family f;
	char labels[256]; /* name="value",... already escaped */
	unsigned long long v;
};

static struct series series_v[NS_MAX_SERIES];
static size_t series_n;
static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;

static void esc(struct sg_buf *b, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\')
			sg_buf_append(b, "\\\\", 2);
		else if (*v == '"')
			sg_buf_append(b, "\\\"", 2);
		else if (*v == '\n')
			sg_buf_append(b, "\\n", 2);
		else
			sg_buf_append(b, v, 1);
	}
}

/* Adds n to family f's series with labels k1=v1[,k2=v2]. */
static void bump(enum family f, const char *k1, const char *v1, const char *k2, const char *v2,
                 unsigned long long n)
{
	struct sg_buf b;
	sg_buf_init(&b, 255);
	sg_buf_printf(&b, "%s=\"", k1);
	esc(&b, v1);
	sg_buf_append(&b, "\"", 1);
	if (k2) {
		sg_buf_printf(&b, ",%s=\"", k2);
		esc(&b, v2);
		sg_buf_append(&b, "\"", 1);
	}
	if (sg_buf_failed(&b)) { /* over 255 bytes or no memory: not counted apart */
		sg_buf_cleanup(&b);
		sg_buf_init(&b, 255);
		sg_buf_printf(&b, "%s=\"(too long)\"", k1);
	}
	const char *l = sg_buf_str(&b);
	pthread_mutex_lock(&series_lock);
	size_t i = 0;
	while (i < series_n && (series_v[i].f != f || strcmp(series_v[i].labels, l)))
		i++;
	if (i == series_n && series_n < NS_MAX_SERIES) {
		series_v[i].f = f;
		snprintf(series_v[i].labels, sizeof(series_v[i].labels), "%s", l);
		series_v[i].v = 0;
		series_n++;
	}
	if (i < series_n)
		series_v[i].v += n;
	pthread_mutex_unlock(&series_lock);
	sg_buf_cleanup(&b);
}

static const char *const ev_results[] = {"accepted", "duplicate", "refused"};

void ns_metric_events(const char *source, enum ns_ev_result r, unsigned n)
{
	if (n)
		bump(F_EVENTS, "source", source ? source : "", "result", ev_results[r], n);
}

void ns_metric_request(const char *conn, int status)
{
	char cls[8] = "none";
	if (status >= 100 && status < 600)
		snprintf(cls, sizeof(cls), "%dxx", status / 100);
	bump(F_REQUESTS, "connection", conn, "class", cls, 1);
}

void ns_metric_retry(const char *conn)
{
	bump(F_RETRIES, "connection", conn, NULL, NULL, 1);
}

void ns_metric_dead(const char *conn)
{
	bump(F_DEAD, "connection", conn, NULL, NULL, 1);
}

void ns_metric_filtered(const char *profile)
{
	bump(F_FILTERED, "profile", profile, NULL, NULL, 1);
}

void ns_metric_token(const char *conn, bool ok)
{
	bump(F_TOKENS, "connection", conn, "result", ok ? "ok" : "failed", 1);
}

struct outbox_look {
	long long counts[4];
	long long oldest; /* received_at of the oldest unfinished item, 0: none */
};

static int oldest_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct outbox_look *o = ud;
	o->oldest = ncol > 0 && vals[0] ? atoll(vals[0]) : 0;
	return 1;
}

char *ns_metrics_text(struct ns_state *s)
{
	struct outbox_look ol = {{0}, 0};
	sg_err e = ns_outbox_counts(s, ol.counts);
	sg_conn *db = e ? NULL : sg_store_conn(s->store);
	if (db) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT MIN(\"received_at\") FROM \"ns_event\" WHERE \"state\" IN "
		               "('pending', 'inflight')");
		e = sg_conn_exec(db, &q, oldest_row, &ol, NULL);
		sg_sql_cleanup(&q);
	}
	struct sg_buf b;
	sg_buf_init(&b, 4u << 20);
	pthread_mutex_lock(&series_lock);
	for (int f = 0; f < F_COUNT; f++) {
		sg_buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", families[f].name,
		              families[f].help, families[f].name);
		for (size_t i = 0; i < series_n; i++)
			if (series_v[i].f == (enum family)f)
				sg_buf_printf(&b, "%s{%s} %llu\n", families[f].name,
				              series_v[i].labels, series_v[i].v);
	}
	pthread_mutex_unlock(&series_lock);
	sg_buf_printf(&b, "# HELP nowsync_outbox_items Outbox items by state (read from the state "
	                  "database).\n# TYPE nowsync_outbox_items gauge\n");
	for (int i = 0; i < 4 && !e; i++)
		sg_buf_printf(&b, "nowsync_outbox_items{state=\"%s\"} %lld\n",
		              ns_outbox_state_name((enum ns_outbox_state)i), ol.counts[i]);
	sg_buf_printf(&b, "# HELP nowsync_outbox_oldest_pending_seconds Age of the oldest event "
	                  "not yet delivered (0: none): the delivery lag.\n# TYPE "
	                  "nowsync_outbox_oldest_pending_seconds gauge\n");
	if (!e) {
		long long age = ol.oldest ? sg_time_now() - ol.oldest : 0;
		sg_buf_printf(&b, "nowsync_outbox_oldest_pending_seconds %lld\n",
		              age > 0 ? age : 0);
	}
	sg_buf_printf(&b,
	              "# HELP nowsync_state_up Whether the state database could be read.\n"
	              "# TYPE nowsync_state_up gauge\nnowsync_state_up %d\n",
	              e ? 0 : 1);
	if (sg_buf_failed(&b)) {
		sg_buf_cleanup(&b);
		return NULL;
	}
	char *out = strdup(sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

/* ---- the journal ------------------------------------------------------------------------- */

static const char *const ops_tables[] = {
    "CREATE TABLE IF NOT EXISTS \"ns_journal\" (\"seq\" BIGINT PRIMARY KEY, \"connection\" "
    "TEXT NOT NULL, \"profile\" TEXT NOT NULL, \"ekey\" TEXT NOT NULL, \"event_id\" TEXT, "
    "\"at_ms\" BIGINT NOT NULL, \"kind\" TEXT NOT NULL, \"method\" TEXT, \"path\" TEXT, "
    "\"status\" BIGINT, \"ms\" BIGINT, \"attempt\" BIGINT, \"detail\" TEXT)",
    "CREATE INDEX IF NOT EXISTS \"ns_journal_key\" ON \"ns_journal\" (\"ekey\", "
    "\"connection\", \"profile\", \"seq\")",
    NULL,
};

sg_err ns_state_migrate_ops(sg_conn *c)
{
	sg_err err = SG_ERR_OK;
	for (const char *const *s = ops_tables; !err && *s; s++)
		err = sg_conn_exec_raw(c, *s);
	return err;
}

static void key_where(struct sg_sql *q, const struct ns_jrow *r)
{
	sg_sql_raw(q, "\"ekey\" = ");
	sg_sql_text(q, r->key);
	sg_sql_raw(q, " AND \"connection\" = ");
	sg_sql_text(q, r->conn);
	sg_sql_raw(q, " AND \"profile\" = ");
	sg_sql_text(q, r->profile);
}

sg_err ns_journal_insert(sg_conn *db, const struct ns_jrow *r, int64_t at_ms)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_journal\" (\"seq\", \"connection\", \"profile\", "
	               "\"ekey\", \"event_id\", \"at_ms\", \"kind\", \"method\", \"path\", "
	               "\"status\", \"ms\", \"attempt\", \"detail\") SELECT COALESCE(MAX(\"seq\"), "
	               "0) + 1, ");
	sg_sql_text(&q, r->conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->profile);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->key);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->event_id);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, at_ms);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->kind);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->method);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->path);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, r->status);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, r->ms);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, r->attempt);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, r->detail);
	sg_sql_raw(&q, " FROM \"ns_journal\"");
	/* MAX + 1 in a write (nested in the caller's, if any): writers are
	 * serialised, so two processes on one PostgreSQL database never take
	 * the same number (one statement alone is not serialised there). */
	sg_err e = sg_conn_begin(db, true);
	if (!e) {
		/* A failed statement changed nothing: the caller's transaction
		 * goes on, as it did without this one. */
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
		sg_err ce = sg_conn_commit(db);
		e = e ? e : ce;
	}
	sg_sql_cleanup(&q);
	return e;
}

sg_err ns_journal_trim(sg_conn *db, const struct ns_jrow *r)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM \"ns_journal\" WHERE ");
	key_where(&q, r);
	sg_sql_raw(&q, " AND \"seq\" <= (SELECT \"seq\" FROM \"ns_journal\" WHERE ");
	key_where(&q, r);
	sg_sql_raw(&q, " ORDER BY \"seq\" DESC LIMIT 1 OFFSET ");
	sg_sql_int(&q, NS_JOURNAL_PER_KEY);
	sg_sql_raw(&q, ")");
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return e;
}

void ns_journal_add(struct ns_state *s, const struct ns_jrow *r)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db || !r->key || !r->conn || !r->profile)
		return;
	sg_err e = sg_conn_begin(db, true);
	if (e)
		goto fail;
	e = ns_journal_insert(db, r, ns_now_ms());
	/* bounded per key: the newest NS_JOURNAL_PER_KEY rows are kept */
	if (!e)
		e = ns_journal_trim(db, r);
	if (e) {
		sg_conn_rollback(db);
		goto fail;
	}
	e = sg_conn_commit(db);
	if (!e)
		return;
fail:
	ns_logj(NS_LOG_WARN, "journal row not written",
	        json_pack("{s:s, s:s, s:s}", "connection", r->conn, "kind", r->kind, "error",
	                  sg_err_name(e)));
}
