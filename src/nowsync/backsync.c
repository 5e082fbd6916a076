/*
 * backsync.c - changes made in the instance, delivered to the product
 * (backsync.h): configuration, the keyset poller, dedup and echo
 * suppression, the durable queue and its sinks, the push receiver, and
 * `nowsync backsync`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
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

/* ---- state ------------------------------------------------------------------------- */

static const char *const backsync_tables[] = {
    /* one back-sync per connection and table */
    "CREATE TABLE IF NOT EXISTS \"ns_bs_config\" (\"connection\" TEXT NOT NULL, \"tbl\" TEXT "
    "NOT NULL, \"all_records\" INTEGER NOT NULL DEFAULT 0, \"filter\" TEXT, \"closed_states\" "
    "TEXT NOT NULL, \"sink\" TEXT NOT NULL, \"fields\" TEXT NOT NULL, \"overlap_s\" BIGINT NOT "
    "NULL, \"lag_s\" BIGINT NOT NULL, \"page\" BIGINT NOT NULL, \"interval_s\" BIGINT NOT "
    "NULL, \"created_at\" BIGINT NOT NULL, PRIMARY KEY (\"connection\", \"tbl\"))",
    /* the watermark: the newest (sys_updated_on, sys_id) read */
    "CREATE TABLE IF NOT EXISTS \"ns_bs_cursor\" (\"connection\" TEXT NOT NULL, \"tbl\" TEXT "
    "NOT NULL, \"ts\" TEXT NOT NULL, \"sys_id\" TEXT NOT NULL, \"since\" TEXT NOT NULL, "
    "\"swept_at\" BIGINT NOT NULL "
    "DEFAULT 0, \"last_error\" TEXT, PRIMARY KEY (\"connection\", \"tbl\"))",
    /* the last version of each record seen inside the overlap window */
    "CREATE TABLE IF NOT EXISTS \"ns_bs_seen\" (\"connection\" TEXT NOT NULL, \"tbl\" TEXT NOT "
    "NULL, \"sys_id\" TEXT NOT NULL, \"mod_count\" BIGINT NOT NULL, \"updated_on\" TEXT NOT "
    "NULL, \"state\" TEXT, PRIMARY KEY (\"connection\", \"tbl\", \"sys_id\"))",
    /* versions nowsync's own writes produced: not echoed */
    "CREATE TABLE IF NOT EXISTS \"ns_bs_own\" (\"connection\" TEXT NOT NULL, \"tbl\" TEXT NOT "
    "NULL, \"sys_id\" TEXT NOT NULL, \"mod_count\" BIGINT NOT NULL, \"at\" BIGINT NOT NULL, "
    "PRIMARY KEY (\"connection\", \"tbl\", \"sys_id\", \"mod_count\"))",
    /* changes waiting for (or delivered to) the sink, in order */
    "CREATE TABLE IF NOT EXISTS \"ns_bs_out\" (\"seq\" BIGINT PRIMARY KEY, \"id\" TEXT NOT "
    "NULL UNIQUE, \"connection\" TEXT NOT NULL, \"tbl\" TEXT NOT NULL, \"body\" TEXT NOT NULL, "
    "\"state\" TEXT NOT NULL, \"attempts\" BIGINT NOT NULL DEFAULT 0, \"next_at\" BIGINT NOT "
    "NULL DEFAULT 0, \"last_error\" TEXT, \"created_at\" BIGINT NOT NULL, \"sent_at\" BIGINT)",
    "CREATE INDEX IF NOT EXISTS \"ns_bs_out_due\" ON \"ns_bs_out\" (\"connection\", \"tbl\", "
    "\"state\", \"seq\")",
    NULL,
};

sg_err ns_state_migrate_backsync(sg_conn *c)
{
	sg_err err = sg_conn_begin(c, true);
	for (const char *const *s = backsync_tables; !err && *s; s++)
		err = sg_conn_exec_raw(c, *s);
	if (err) {
		sg_conn_rollback(c);
		return err;
	}
	return sg_conn_commit(c);
}

/* ---- pure parts ------------------------------------------------------------------------ */

bool ns_bs_parse_time(const char *s, int64_t *out)
{
	struct tm tm = {0};
	char tail;
	if (!s || strlen(s) != NS_BS_TIME_LEN ||
	    sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tail) != 6)
		return false;
	if (tm.tm_year < 1970 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm);
	return true;
}

void ns_bs_format_time(int64_t t, char out[NS_BS_TIME_LEN + 1])
{
	time_t tt = (time_t)(t < 0 ? 0 : t);
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, NS_BS_TIME_LEN + 1, "%Y-%m-%d %H:%M:%S", &tm);
}

bool ns_bs_filter_ok(const char *f)
{
	if (!f || !*f)
		return true;
	return !strstr(f, "ORDERBY") && !strstr(f, "^NQ") && !strstr(f, "^EQ") && strlen(f) <= 4000;
}

char *ns_bs_query(const char *filter, const char *ts, const char *after_id, const char *hwm)
{
	struct sg_buf b;
	sg_buf_init(&b, 8192);
	/* the filter first: its last OR group is closed by the ^ that follows */
	if (filter && *filter)
		sg_buf_printf(&b, "%s^", filter);
	if (after_id && *after_id)
		sg_buf_printf(&b, "sys_updated_on=%s^sys_id>%s^ORDERBYsys_id", ts, after_id);
	else
		sg_buf_printf(&b,
		              "sys_updated_on>%s^sys_updated_on<=%s^ORDERBYsys_updated_on^"
		              "ORDERBYsys_id",
		              ts, hwm);
	char *out = sg_buf_failed(&b) ? NULL : strdup(sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

bool ns_bs_closed(const char *closed, const char *state)
{
	size_t n = state ? strlen(state) : 0;
	for (const char *c = closed ? closed : ""; n && *c;) {
		size_t len = strcspn(c, ",");
		if (len == n && !strncmp(c, state, n))
			return true;
		c += len + (c[len] == ',');
	}
	return false;
}

enum ns_bs_verdict ns_bs_decide(long long seen_mc, long long mc, bool own)
{
	if (seen_mc >= 0 && mc <= seen_mc)
		return NS_BS_DUPLICATE;
	return own ? NS_BS_ECHO : NS_BS_DELIVER;
}

/* ---- configuration --------------------------------------------------------------------- */

struct bs_cfg {
	char conn[NS_NAME_MAX + 1];
	char table[81];
	bool all;
	char *filter, *closed, *sink, *fields;
	long long overlap, lag, page, interval;
};

static void cfg_clear(struct bs_cfg *c)
{
	free(c->filter);
	free(c->closed);
	free(c->sink);
	free(c->fields);
	memset(c, 0, sizeof(*c));
}

struct cfg_list {
	struct bs_cfg *v;
	size_t n;
	bool oom;
};

static const char *col(int ncol, const char *const *names, const char *const *vals,
                       const char *name)
{
	for (int i = 0; i < ncol; i++)
		if (!strcmp(names[i], name))
			return vals[i];
	return NULL;
}

/* The same, "" for none or NULL. */
static const char *colz(int ncol, const char *const *names, const char *const *vals,
                        const char *name)
{
	const char *v = col(ncol, names, vals, name);
	return v ? v : "";
}

static long long col_int(int ncol, const char *const *names, const char *const *vals,
                         const char *name)
{
	const char *v = col(ncol, names, vals, name);
	return v ? strtoll(v, NULL, 10) : 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int read_cfg(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct cfg_list *l = ud;
	struct bs_cfg *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv) {
		l->oom = true;
		return 1;
	}
	l->v = nv;
	struct bs_cfg *c = &l->v[l->n];
	memset(c, 0, sizeof(*c));
	snprintf(c->conn, sizeof(c->conn), "%s", colz(ncol, names, vals, "connection"));
	snprintf(c->table, sizeof(c->table), "%s", colz(ncol, names, vals, "tbl"));
	c->all = col_int(ncol, names, vals, "all_records") != 0;
	c->filter = dup_or_null(col(ncol, names, vals, "filter"));
	c->closed = dup_or_null(col(ncol, names, vals, "closed_states"));
	c->sink = dup_or_null(col(ncol, names, vals, "sink"));
	c->fields = dup_or_null(col(ncol, names, vals, "fields"));
	c->overlap = col_int(ncol, names, vals, "overlap_s");
	c->lag = col_int(ncol, names, vals, "lag_s");
	c->page = col_int(ncol, names, vals, "page");
	c->interval = col_int(ncol, names, vals, "interval_s");
	l->n++;
	if (!c->closed || !c->sink || !c->fields) {
		l->oom = true;
		return 1;
	}
	return 0;
}

static void cfgs_clear(struct cfg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		cfg_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* The configurations (of conn when not NULL, of table when not NULL). */
static sg_err cfgs_load(sg_conn *db, const char *conn, const char *table, struct cfg_list *out)
{
	memset(out, 0, sizeof(*out));
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_bs_config\" WHERE 1 = 1");
	if (conn) {
		sg_sql_raw(&q, " AND \"connection\" = ");
		sg_sql_text(&q, conn);
	}
	if (table) {
		sg_sql_raw(&q, " AND \"tbl\" = ");
		sg_sql_text(&q, table);
	}
	sg_sql_raw(&q, " ORDER BY \"connection\", \"tbl\"");
	sg_err e = sg_conn_exec(db, &q, read_cfg, out, NULL);
	sg_sql_cleanup(&q);
	if (!e && out->oom)
		e = SG_ERR_NOMEM;
	if (e)
		cfgs_clear(out);
	return e;
}

/* ---- own writes ---------------------------------------------------------------------------- */

static const char *row_str(const json_t *row, const char *k)
{
	json_t *v = json_object_get(row, k);
	if (json_is_object(v))
		v = json_object_get(v, "value");
	return json_is_string(v) ? json_string_value(v) : "";
}

static long long row_mc(const json_t *row)
{
	json_t *v = json_object_get(row, "sys_mod_count");
	if (json_is_integer(v))
		return json_integer_value(v);
	long long n;
	return sg_str_number(row_str(row, "sys_mod_count"), 0, (long long)1 << 53, &n) ? n : -1;
}

static bool is_sys_id(const char *s)
{
	if (!s || strlen(s) != 32)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

/* Inserts the ns_bs_own row (connection, table, sys_id, mod_count, now). */
static sg_err own_insert(sg_conn *db, const char *connection, const char *table, const char *sys_id,
                         long long mod_count)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_bs_own\" (\"connection\", \"tbl\", \"sys_id\", "
	               "\"mod_count\", \"at\") VALUES (");
	sg_sql_text(&q, connection);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, sys_id);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, mod_count);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, sg_time_now());
	sg_sql_raw(&q, ")");
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return e;
}

void ns_backsync_own(sg_conn *db, const char *connection, const char *table, const json_t *result)
{
	const char *id = row_str(result, "sys_id");
	long long mc = row_mc(result);
	if (!db || !is_sys_id(id) || mc < 0)
		return;
	sg_err e = own_insert(db, connection, table, id, mc);
	if (e && e != SG_ERR_INVALID_INSERT)
		sg_log_warn("nowsync: back-sync: cannot record an own write of %s: %s", id,
		            sg_err_name(e));
}

void ns_backsync_own_pending(sg_conn *db, const char *connection, const char *table,
                             const char *sys_id, bool on)
{
	if (!db || !is_sys_id(sys_id))
		return;
	struct sg_sql q;
	sg_sql_init(&q);
	/* the mark is the version -1, which no write produces */
	sg_sql_raw(&q, "DELETE FROM \"ns_bs_own\" WHERE \"connection\" = ");
	sg_sql_text(&q, connection);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, " AND \"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	sg_sql_raw(&q, " AND \"mod_count\" = -1");
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	if (!e && on)
		e = own_insert(db, connection, table, sys_id, -1);
	if (e && e != SG_ERR_INVALID_INSERT) /* without the mark, an echo may get through */
		sg_log_warn("nowsync: back-sync: cannot %s the write of %s as on the wire: %s",
		            on ? "mark" : "unmark", sys_id, sg_err_name(e));
	sg_sql_cleanup(&q);
}

/* ---- taking one changed record ---------------------------------------------------------- */

static int first_text(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	char **out = ud;
	if (ncol > 0 && vals[0] && !*out)
		*out = strdup(vals[0]);
	return 1;
}

/* The linked records of conn: sys_id -> [profile, key]. */
static int read_link(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	const char *id = col(ncol, names, vals, "sys_id");
	if (id && *id)
		json_object_set_new(ud, id,
		                    json_pack("[s?,s?]", col(ncol, names, vals, "profile"),
		                              col(ncol, names, vals, "ekey")));
	return 0;
}

static sg_err load_links(sg_conn *db, const char *conn, json_t **out)
{
	*out = json_object();
	if (!*out)
		return SG_ERR_NOMEM;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"profile\", \"ekey\" FROM \"ns_link\" WHERE "
	               "\"connection\" = ");
	sg_sql_text(&q, conn);
	sg_err e = sg_conn_exec(db, &q, read_link, *out, NULL);
	sg_sql_cleanup(&q);
	return e;
}

struct take_counts {
	long delivered, duplicates, echoes, ignored;
};

static void new_id(char out[33])
{
	unsigned char r[16];
	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out, 33, r, sizeof(r));
}

/*
 * One changed record (row, as the Table API gives it) of c: dedup, echo,
 * then queued.  Inside the caller's write transaction.
 */
static sg_err take_row(sg_conn *db, const struct bs_cfg *c, json_t *links, json_t *row,
                       const char *source, struct take_counts *n)
{
	const char *id = row_str(row, "sys_id");
	const char *ts = row_str(row, "sys_updated_on");
	long long mc = row_mc(row);
	json_t *link = json_object_get(links, id);
	if (!c->all && !link) {
		n->ignored++;
		return SG_ERR_OK;
	}
	struct sg_sql q;
	sg_sql_init(&q);
	char *seen = NULL, *seen_state = NULL, *own = NULL;
	sg_sql_raw(&q, "SELECT \"mod_count\" FROM \"ns_bs_seen\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, " AND \"sys_id\" = ");
	sg_sql_text(&q, id);
	sg_err e = sg_conn_exec(db, &q, first_text, &seen, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT \"state\" FROM \"ns_bs_seen\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, " AND \"sys_id\" = ");
	sg_sql_text(&q, id);
	if (!e)
		e = sg_conn_exec(db, &q, first_text, &seen_state, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"ns_bs_own\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, " AND \"sys_id\" = ");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, " AND \"mod_count\" = ");
	sg_sql_int(&q, mc);
	if (!e)
		e = sg_conn_exec(db, &q, first_text, &own, NULL);
	sg_sql_reset(&q);
	long long seen_mc = seen ? strtoll(seen, NULL, 10) : -1;
	enum ns_bs_verdict v = ns_bs_decide(seen_mc, mc, own != NULL);
	if (!e && v == NS_BS_DELIVER && !strcmp(source, "push")) {
		/* pushed before the answer to nowsync's own write of it: wait for that */
		char *pending = NULL;
		sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"ns_bs_own\" WHERE \"connection\" = ");
		sg_sql_text(&q, c->conn);
		sg_sql_raw(&q, " AND \"tbl\" = ");
		sg_sql_text(&q, c->table);
		sg_sql_raw(&q, " AND \"sys_id\" = ");
		sg_sql_text(&q, id);
		sg_sql_raw(&q, " AND \"mod_count\" = -1 AND \"at\" >= ");
		sg_sql_int(&q, sg_time_now() - NS_BS_PENDING_S);
		e = sg_conn_exec(db, &q, first_text, &pending, NULL);
		sg_sql_reset(&q);
		if (!e && pending)
			e = SG_ERR_BUSY;
		free(pending);
	}
	const char *state = row_str(row, "state");
	bool closed = ns_bs_closed(c->closed, state);
	bool was_closed = seen_state && ns_bs_closed(c->closed, seen_state);
	free(seen);
	free(seen_state);
	free(own);
	if (!e && v == NS_BS_DUPLICATE) {
		n->duplicates++;
		goto out;
	}
	/* the version is now seen (an echo too: it is not delivered later) */
	sg_sql_raw(&q, "DELETE FROM \"ns_bs_seen\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, " AND \"sys_id\" = ");
	sg_sql_text(&q, id);
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_bs_seen\" (\"connection\", \"tbl\", \"sys_id\", "
	               "\"mod_count\", \"updated_on\", \"state\") VALUES (");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, mc);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, ts);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, state);
	sg_sql_raw(&q, ")");
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	if (e)
		goto out;
	if (v == NS_BS_ECHO) {
		n->echoes++;
		goto out;
	}
	char did[33];
	new_id(did);
	const char *type = closed && !was_closed    ? "closed"
	                   : !closed && was_closed  ? "reopened"
	                   : seen_mc < 0 && mc == 0 ? "created"
	                                            : "updated";
	json_t *ev = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:b, s:O}", "delivery_id", did,
	    "type", type, "source", source, "connection", c->conn, "table", c->table, "sys_id", id,
	    "sys_mod_count", (json_int_t)mc, "sys_updated_on", ts, "sys_updated_by",
	    row_str(row, "sys_updated_by"), "state", state, "closed", closed, "record", row);
	if (ev) {
		json_object_set_new(ev, "profile", json_incref(json_array_get(link, 0)));
		json_object_set_new(ev, "key", json_incref(json_array_get(link, 1)));
		if (!json_object_get(ev, "profile"))
			json_object_set_new(ev, "profile", json_null());
		if (!json_object_get(ev, "key"))
			json_object_set_new(ev, "key", json_null());
	}
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text) {
		e = SG_ERR_NOMEM;
		goto out;
	}
	char *maxseq = NULL;
	sg_sql_raw(&q, "SELECT COALESCE(MAX(\"seq\"), 0) + 1 FROM \"ns_bs_out\"");
	e = sg_conn_exec(db, &q, first_text, &maxseq, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_bs_out\" (\"seq\", \"id\", \"connection\", \"tbl\", "
	               "\"body\", \"state\", \"created_at\") VALUES (");
	sg_sql_int(&q, maxseq ? strtoll(maxseq, NULL, 10) : 1);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, did);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, text);
	sg_sql_raw(&q, ", 'pending', ");
	sg_sql_int(&q, ns_now_ms());
	sg_sql_raw(&q, ")");
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	free(maxseq);
	free(text);
	if (!e)
		n->delivered++;
out:
	sg_sql_cleanup(&q);
	return e;
}

/* ---- the poller ------------------------------------------------------------------------------ */

struct cursor {
	char ts[NS_BS_TIME_LEN + 1];
	char id[33];
	char since[NS_BS_TIME_LEN + 1]; /* where it began: the overlap never reads before */
	long long swept_at;             /* 0: never swept */
};

static int read_cursor(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct cursor *c = ud;
	snprintf(c->ts, sizeof(c->ts), "%s", colz(ncol, names, vals, "ts"));
	snprintf(c->id, sizeof(c->id), "%s", colz(ncol, names, vals, "sys_id"));
	snprintf(c->since, sizeof(c->since), "%s", colz(ncol, names, vals, "since"));
	c->swept_at = col_int(ncol, names, vals, "swept_at");
	return 1;
}

static sg_err cursor_set(sg_conn *db, const struct bs_cfg *c, const char *ts, const char *id,
                         bool swept, const char *error)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_bs_cursor\" SET \"last_error\" = ");
	sg_sql_text(&q, error);
	if (ts) {
		sg_sql_raw(&q, ", \"ts\" = ");
		sg_sql_text(&q, ts);
		sg_sql_raw(&q, ", \"sys_id\" = ");
		sg_sql_text(&q, id);
	}
	if (swept) {
		sg_sql_raw(&q, ", \"swept_at\" = ");
		sg_sql_int(&q, sg_time_now());
	}
	sg_sql_raw(&q, " WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return e;
}

static void pct(const char *s, struct sg_buf *b)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' || ch == ',') {
			sg_buf_append(b, (const char *)&ch, 1);
		} else {
			char tmp[4];
			snprintf(tmp, sizeof(tmp), "%%%02X", ch);
			sg_buf_append(b, tmp, 3);
		}
	}
}

/* (a_ts, a_id) < (b_ts, b_id) */
static int keycmp(const char *a_ts, const char *a_id, const char *b_ts, const char *b_id)
{
	int r = strcmp(a_ts, b_ts);
	return r ? r : strcmp(a_id, b_id);
}

struct sweep_result {
	struct take_counts n;
	long pages, rows;
};

/* One page: GET, check order, take every row, move the cursor; one
 * transaction for the rows and the cursor. */
static bool sweep_page(sg_conn *db, const struct bs_cfg *c, struct ns_conn *nc,
                       struct sg_http_client *http, json_t *links, const char *ts,
                       const char *after, const char *hwm, json_t **rows_out, char *msg,
                       size_t msgsz)
{
	*rows_out = NULL;
	char *query = ns_bs_query(c->filter, ts, after, hwm);
	struct sg_buf path;
	sg_buf_init(&path, 64 * 1024);
	sg_buf_printf(&path, "/api/now/table/%s?sysparm_query=", c->table);
	if (query)
		pct(query, &path);
	sg_buf_printf(&path, "&sysparm_fields=sys_id%%2Csys_updated_on%%2Csys_mod_count%%2C"
	                     "sys_updated_by%%2C");
	pct(c->fields, &path);
	sg_buf_printf(&path,
	              "&sysparm_limit=%lld&sysparm_display_value=false&sysparm_exclude_"
	              "reference_link=true&sysparm_no_count=true",
	              c->page);
	free(query);
	if (!query || sg_buf_failed(&path)) {
		sg_buf_cleanup(&path);
		snprintf(msg, msgsz, "out of memory");
		return false;
	}
	struct sg_http_response r;
	struct ns_error nerr;
	sg_http_response_init(&r);
	bool answered = ns_conn_request(nc, http, "GET", sg_buf_str(&path), NULL, &r, &nerr);
	sg_buf_cleanup(&path);
	json_t *j =
	    answered ? json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL) : NULL;
	bool ok = false;
	if (!answered) {
		snprintf(msg, msgsz, "reading %s: %s", c->table, nerr.msg);
	} else if (r.status != 200) {
		json_t *er = json_object_get(j, "error");
		const char *m = sg_json_str(er, "message"), *d = sg_json_str(er, "detail");
		snprintf(msg, msgsz, "reading %s answered %d: %s%s%s", c->table, r.status,
		         m ? m : "", d && *d ? ": " : "", d ? d : "");
	} else if (!json_is_array(json_object_get(j, "result"))) {
		snprintf(msg, msgsz, "reading %s: the answer has no result list", c->table);
	} else {
		ok = true;
	}
	sg_http_response_cleanup(&r);
	if (!ok) {
		json_decref(j);
		return false;
	}
	json_t *rows = json_incref(json_object_get(j, "result"));
	json_decref(j);
	/* every row strictly after the previous one and inside the asked range:
	 * otherwise ORDERBY was ignored or the date literal was read in another
	 * time zone, and moving the watermark would lose changes */
	const char *pts = ts, *pid = after && *after ? after : "";
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *rts = row_str(row, "sys_updated_on"), *rid = row_str(row, "sys_id");
		int64_t t;
		bool in_range = after && *after ? !strcmp(rts, ts)
		                                : (strcmp(rts, ts) > 0 && strcmp(rts, hwm) <= 0);
		if (!ns_bs_parse_time(rts, &t) || !is_sys_id(rid) || row_mc(row) < 0) {
			snprintf(
			    msg, msgsz,
			    "reading %s: a row without sys_id, sys_updated_on or sys_mod_count "
			    "(is read access to them refused?)",
			    c->table);
			json_decref(rows);
			return false;
		}
		if (!in_range || keycmp(rts, rid, pts, pid) <= 0) {
			snprintf(msg, msgsz,
			         "reading %s: rows out of keyset order (%s %s after %s %s): the "
			         "instance ignored ORDERBY, or the connection's user is not in the "
			         "UTC time zone (date literals in a query are read in the user's "
			         "zone); the watermark is not moved",
			         c->table, rts, rid, pts, pid);
			json_decref(rows);
			return false;
		}
		pts = rts;
		pid = rid;
	}
	*rows_out = rows;
	(void)db;
	(void)links;
	return true;
}

static sg_err take_page(sg_conn *db, const struct bs_cfg *c, json_t *links, json_t *rows,
                        const struct cursor *stored, struct sweep_result *res)
{
	sg_err e = sg_conn_begin(db, true);
	if (e)
		return e;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (!e)
			e = take_row(db, c, links, row, "poll", &res->n);
	}
	json_t *last = json_array_get(rows, json_array_size(rows) - 1);
	if (!e && last &&
	    keycmp(row_str(last, "sys_updated_on"), row_str(last, "sys_id"), stored->ts,
	           stored->id) > 0)
		e = cursor_set(db, c, row_str(last, "sys_updated_on"), row_str(last, "sys_id"),
		               false, NULL);
	if (e) {
		sg_conn_rollback(db);
		return e;
	}
	return sg_conn_commit(db);
}

/* One sweep of c: from the watermark less the overlap up to now less the lag. */
static bool sweep(struct ns_state *st, const struct bs_cfg *c, struct ns_conn *nc,
                  struct sg_http_client *http, struct sweep_result *res, char *msg, size_t msgsz)
{
	memset(res, 0, sizeof(*res));
	sg_conn *db = sg_store_conn(st->store);
	if (!db) {
		snprintf(msg, msgsz, "the state database");
		return false;
	}
	struct cursor cur = {{0}, {0}, {0}, 0};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_bs_cursor\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_err e = sg_conn_exec(db, &q, read_cursor, &cur, NULL);
	sg_sql_cleanup(&q);
	int64_t wm;
	if (e || !ns_bs_parse_time(cur.ts, &wm)) {
		snprintf(msg, msgsz, "the state database: no watermark for %s %s", c->conn,
		         c->table);
		return false;
	}
	json_t *links = NULL;
	e = load_links(db, c->conn, &links);
	if (e) {
		json_decref(links);
		snprintf(msg, msgsz, "the state database: %s", sg_err_name(e));
		return false;
	}
	char hwm[NS_BS_TIME_LEN + 1], pos[NS_BS_TIME_LEN + 1], after[33] = "";
	/* each sweep re-reads the overlap window before the watermark, but never
	 * what came before the back-sync's start (--since) */
	int64_t start = wm - c->overlap, since;
	if (ns_bs_parse_time(cur.since, &since) && start < since)
		start = since;
	ns_bs_format_time(sg_time_now() - c->lag, hwm);
	ns_bs_format_time(start - 1, pos);
	bool ok = true;
	for (long guard = 0; ok && guard < 1000000; guard++) {
		if (strcmp(pos, hwm) >= 0 && !*after)
			break;
		json_t *rows = NULL;
		ok = sweep_page(db, c, nc, http, links, pos, after, hwm, &rows, msg, msgsz);
		if (!ok)
			break;
		size_t n = json_array_size(rows);
		res->pages++;
		res->rows += (long)n;
		e = take_page(db, c, links, rows, &cur, res);
		if (e) {
			snprintf(msg, msgsz, "the state database: %s", sg_err_name(e));
			json_decref(rows);
			ok = false;
			break;
		}
		json_t *last = json_array_get(rows, n ? n - 1 : 0);
		if (n) {
			const char *lts = row_str(last, "sys_updated_on"),
			           *lid = row_str(last, "sys_id");
			if (keycmp(lts, lid, cur.ts, cur.id) > 0) {
				snprintf(cur.ts, sizeof(cur.ts), "%s", lts);
				snprintf(cur.id, sizeof(cur.id), "%s", lid);
			}
		}
		bool full = (long long)n >= c->page;
		if (*after) { /* draining one second by sys_id */
			if (full)
				snprintf(after, sizeof(after), "%s", row_str(last, "sys_id"));
			else
				after[0] = '\0'; /* the second is done: on to later ones */
		} else {
			if (!full) {
				json_decref(rows);
				break;
			}
			/* the rest of the last row's second, by sys_id, then later seconds */
			snprintf(pos, sizeof(pos), "%s", row_str(last, "sys_updated_on"));
			snprintf(after, sizeof(after), "%s", row_str(last, "sys_id"));
		}
		json_decref(rows);
	}
	json_decref(links);
	/* the seen versions older than the next sweep's window can go; so can
	 * own writes a day old */
	char old[NS_BS_TIME_LEN + 1];
	int64_t next_wm;
	ns_bs_format_time((ns_bs_parse_time(cur.ts, &next_wm) ? next_wm : wm) - c->overlap - 1,
	                  old);
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM \"ns_bs_seen\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, " AND \"updated_on\" < ");
	sg_sql_text(&q, old);
	sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "DELETE FROM \"ns_bs_own\" WHERE \"at\" < ");
	sg_sql_int(&q, sg_time_now() - 86400);
	sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	cursor_set(db, c, NULL, NULL, true, ok ? NULL : msg);
	return ok;
}

/* ---- the sinks ----------------------------------------------------------------------------------
 */

static bool sink_is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

struct out_item {
	long long seq;
	char id[33];
	char *body;
	long long attempts, next_at;
};

struct out_list {
	struct out_item *v;
	size_t n;
	bool oom;
};

static int read_out(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct out_list *l = ud;
	struct out_item *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	if (!nv) {
		l->oom = true;
		return 1;
	}
	l->v = nv;
	struct out_item *it = &l->v[l->n++];
	it->seq = col_int(ncol, names, vals, "seq");
	snprintf(it->id, sizeof(it->id), "%s", colz(ncol, names, vals, "id"));
	it->body = dup_or_null(col(ncol, names, vals, "body"));
	it->attempts = col_int(ncol, names, vals, "attempts");
	it->next_at = col_int(ncol, names, vals, "next_at");
	if (!it->body)
		l->oom = true;
	return 0;
}

static void outs_clear(struct out_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].body);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static sg_err out_mark(sg_conn *db, long long seq, bool done, long long attempts, int64_t next_at,
                       const char *error)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_bs_out\" SET \"state\" = ");
	sg_sql_text(&q, done ? "done" : "pending");
	sg_sql_raw(&q, ", \"attempts\" = ");
	sg_sql_int(&q, attempts);
	sg_sql_raw(&q, ", \"next_at\" = ");
	sg_sql_int(&q, next_at);
	sg_sql_raw(&q, ", \"last_error\" = ");
	sg_sql_text(&q, error);
	if (done) {
		sg_sql_raw(&q, ", \"sent_at\" = ");
		sg_sql_int(&q, ns_now_ms());
	}
	sg_sql_raw(&q, " WHERE \"seq\" = ");
	sg_sql_int(&q, seq);
	sg_err e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return e;
}

/* Backoff before the next attempt after n failures: 500 ms doubling to 60 s,
 * with jitter in [d/2, d]. */
static long sink_backoff_ms(long long n)
{
	long d = 500;
	for (long long i = 1; i < n && d < 60000; i++)
		d *= 2;
	if (d > 60000)
		d = 60000;
	return d / 2 + (long)(randombytes_uniform((uint32_t)(d / 2 + 1)));
}

/* Delivers c's pending changes in order, up to max of them: stops at the
 * first that fails (it waits out its backoff; the later ones wait for it).
 * *sent counts the delivered; *pending_left whether some are still due or
 * waiting. */
static sg_err drain(struct ns_state *st, const struct bs_cfg *c, struct sg_http_client *hook,
                    long max, long *sent, bool *pending_left, char *msg, size_t msgsz)
{
	*sent = 0;
	*pending_left = false;
	sg_conn *db = sg_store_conn(st->store);
	if (!db)
		return SG_ERR_STORE;
	struct out_list l = {0};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"seq\", \"id\", \"body\", \"attempts\", \"next_at\" FROM "
	               "\"ns_bs_out\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, c->table);
	sg_sql_raw(&q, " AND \"state\" = 'pending' ORDER BY \"seq\" LIMIT ");
	sg_sql_int(&q, max);
	sg_err e = sg_conn_exec(db, &q, read_out, &l, NULL);
	sg_sql_cleanup(&q);
	if (!e && l.oom)
		e = SG_ERR_NOMEM;
	if (e || !l.n) {
		outs_clear(&l);
		return e;
	}
	int64_t now = ns_now_ms();
	if (!sink_is_url(c->sink)) {
		/* NDJSON: the lines written (and synced) first, then marked done:
		 * a crash between the two repeats them (at least once) */
		bool out = !strcmp(c->sink, "-");
		const char *path = !strncmp(c->sink, "file:", 5) ? c->sink + 5 : c->sink;
		int fd = out ? STDOUT_FILENO
		             : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(msg, msgsz, "cannot open %s: %s", path, strerror(errno));
			*pending_left = true;
			outs_clear(&l);
			return SG_ERR_OK;
		}
		struct sg_buf b;
		sg_buf_init(&b, 256 * 1024 * 1024);
		for (size_t i = 0; i < l.n; i++)
			sg_buf_printf(&b, "%s\n", l.v[i].body);
		bool wrote = !sg_buf_failed(&b);
		for (size_t off = 0; wrote && off < b.len;) {
			ssize_t w = write(fd, b.data + off, b.len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				snprintf(msg, msgsz, "writing %s: %s", out ? "stdout" : path,
				         strerror(errno));
				wrote = false;
				break;
			}
			off += (size_t)w;
		}
		sg_buf_cleanup(&b);
		if (wrote && !out && fsync(fd) != 0 && errno != EINVAL)
			wrote = false;
		if (!out)
			close(fd);
		if (wrote) {
			e = sg_conn_begin(db, true);
			for (size_t i = 0; !e && i < l.n; i++)
				e = out_mark(db, l.v[i].seq, true, l.v[i].attempts + 1, 0, NULL);
			if (e)
				sg_conn_rollback(db);
			else
				e = sg_conn_commit(db);
			if (!e)
				*sent = (long)l.n;
		} else {
			*pending_left = true;
		}
		outs_clear(&l);
		return e;
	}
	for (size_t i = 0; !e && i < l.n; i++) {
		struct out_item *it = &l.v[i];
		if (it->next_at > now) {
			*pending_left = true;
			break;
		}
		struct sg_kv hdr[] = {{(char *)"X-Nowsync-Delivery", it->id},
		                      {(char *)"Idempotency-Key", it->id}};
		struct sg_http_request req = {.method = "POST",
		                              .url = c->sink,
		                              .headers = hdr,
		                              .n_headers = 2,
		                              .body = it->body,
		                              .body_len = strlen(it->body),
		                              .content_type = "application/json",
		                              .repeatable = true};
		struct sg_http_response r;
		sg_http_response_init(&r);
		sg_net_err ne = sg_http_client_do(hook, &req, &r);
		if (ne == SG_NET_OK && r.status >= 200 && r.status < 300) {
			e = out_mark(db, it->seq, true, it->attempts + 1, 0, NULL);
			if (!e)
				(*sent)++;
		} else {
			char why[300];
			if (ne != SG_NET_OK)
				snprintf(why, sizeof(why), "%s: %s", sg_net_err_step(ne), r.detail);
			else
				snprintf(why, sizeof(why), "the webhook answered %d", r.status);
			long wait = sink_backoff_ms(it->attempts + 1);
			long ra =
			    ne == SG_NET_OK
			        ? sg_net_retry_after_ms(sg_http_response_header(&r, "Retry-After"),
			                                sg_time_now())
			        : -1;
			if (ra > wait && ra <= 3600 * 1000L)
				wait = ra;
			snprintf(msg, msgsz, "delivery %s: %s (attempt %lld; next in %ld ms)",
			         it->id, why, it->attempts + 1, wait);
			e = out_mark(db, it->seq, false, it->attempts + 1, now + wait, why);
			*pending_left = true;
			sg_http_response_cleanup(&r);
			break;
		}
		sg_http_response_cleanup(&r);
	}
	if (!*pending_left && (long)l.n >= max)
		*pending_left = true;
	outs_clear(&l);
	return e;
}

/* ---- a runner: live connections, webhook client ---------------------------------------------- */

#define BS_MAX_CONNS 64

struct runner {
	struct ns_state *st;
	struct ns_conn *conns[BS_MAX_CONNS];
	struct sg_http_client *https[BS_MAX_CONNS];
	size_t n;
	struct sg_http_client *hook;
};

static bool runner_init(struct runner *r, struct ns_state *st)
{
	memset(r, 0, sizeof(*r));
	r->st = st;
	struct sg_http_options o;
	sg_http_options_init(&o);
	o.connect_timeout_ms = 5000;
	o.timeout_ms = 15000;
	o.retry.max_attempts = 1;
	o.user_agent = "nowsync-backsync";
	o.max_body = 64 * 1024;
	r->hook = sg_http_client_new(&o);
	return r->hook != NULL;
}

static void runner_clear(struct runner *r)
{
	for (size_t i = 0; i < r->n; i++) {
		sg_http_client_free(r->https[i]);
		ns_conn_free(r->conns[i]);
	}
	sg_http_client_free(r->hook);
	memset(r, 0, sizeof(*r));
}

static bool runner_conn(struct runner *r, const char *name, struct ns_conn **c,
                        struct sg_http_client **http, char *msg, size_t msgsz)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->conns[i]->cfg.name, name)) {
			*c = r->conns[i];
			*http = r->https[i];
			return true;
		}
	if (r->n >= BS_MAX_CONNS) {
		snprintf(msg, msgsz, "more than %d connections", BS_MAX_CONNS);
		return false;
	}
	struct ns_connection cfg;
	sg_err e = ns_state_get(r->st, name, &cfg);
	if (e) {
		snprintf(msg, msgsz, "%s connection %s",
		         e == SG_ERR_NO_RECORD ? "no" : "cannot read", name);
		return false;
	}
	struct ns_conn *nc = ns_conn_new(&cfg, r->st);
	struct sg_http_client *h = nc ? ns_conn_http(nc, 4) : NULL;
	if (!h) {
		if (nc)
			ns_conn_free(nc);
		else
			ns_connection_clear(&cfg);
		snprintf(msg, msgsz, "out of memory");
		return false;
	}
	r->conns[r->n] = nc;
	r->https[r->n++] = h;
	*c = nc;
	*http = h;
	return true;
}

/* run_one with c's lock held (or none needed). */
static bool run_one_held(struct runner *r, const struct bs_cfg *c, bool do_sweep, bool verbose,
                         bool *pending_left)
{
	char msg[700] = "";
	struct ns_conn *nc;
	struct sg_http_client *http;
	struct sweep_result res = {0};
	bool ok = true;
	if (do_sweep) {
		ok = runner_conn(r, c->conn, &nc, &http, msg, sizeof(msg)) &&
		     sweep(r->st, c, nc, http, &res, msg, sizeof(msg));
	}
	long sent = 0, total = 0;
	char dmsg[512] = "";
	bool left = false;
	for (int round = 0; round < 1000; round++) {
		if (drain(r->st, c, r->hook, 500, &sent, &left, dmsg, sizeof(dmsg)))
			break;
		total += sent;
		if (!left || !sent)
			break;
	}
	*pending_left = left;
	if (verbose || !ok || *dmsg) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
		                      "msg", "backsync", "connection", c->conn, "table", c->table,
		                      "ok", ok, "pages", (int)res.pages, "rows", (int)res.rows,
		                      "queued", (int)res.n.delivered, "duplicates",
		                      (int)res.n.duplicates, "echoes", (int)res.n.echoes,
		                      "not_linked", (int)res.n.ignored, "sent", (int)total);
		if (j && !ok)
			json_object_set_new(j, "error", json_string(msg));
		if (j && *dmsg)
			json_object_set_new(j, "sink_error", json_string(dmsg));
		char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (line)
			fprintf(stderr, "%s\n", line);
		fflush(stderr);
		free(line);
		json_decref(j);
	}
	return ok;
}

/* The database's named lock of c's back-sync (sg_conn_lock): one process
 * at a time sweeps a connection's table and drains its queue, so several
 * nowsync on one PostgreSQL state database neither read the instance twice
 * nor send a change to the sink twice, and the changes keep their order. */
#define BS_LOCK_BASE 0x4e5342000000000LL /* "NSB" << 36 */

static long long bs_lock_key(const struct bs_cfg *c)
{
	unsigned char h[8];
	char name[2 * NS_NAME_MAX + 200];
	snprintf(name, sizeof(name), "%s\x1f%s", c->conn, c->table);
	crypto_generichash(h, sizeof(h), (const unsigned char *)name, strlen(name), NULL, 0);
	unsigned long long v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | h[i];
	return BS_LOCK_BASE + (long long)(v & 0xfffffffffLL);
}

/* One sweep of c and its sink drained as far as it goes.  Logs one line.
 * Nothing when another process holds c's lock (PostgreSQL). */
static bool run_one(struct runner *r, const struct bs_cfg *c, bool do_sweep, bool verbose,
                    bool *pending_left)
{
	*pending_left = false;
	sg_conn *db = sg_store_conn(r->st->store);
	long long key = bs_lock_key(c);
	bool got = false;
	sg_err le = db ? sg_conn_lock(db, key, 0, &got) : SG_ERR_STORE;
	if (le == SG_ERR_INTERNAL) {
		got = false; /* SQLite: no named locks, one process on the file */
	} else if (le || !got) {
		json_t *j = verbose || le
		                ? json_pack("{s:s, s:s, s:s, s:s}", "msg", "backsync", "connection",
		                            c->conn, "table", c->table, "skipped",
		                            le ? "its lock could not be taken"
		                               : "another process on the state database "
		                                 "is running it")
		                : NULL;
		char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
		if (line)
			fprintf(stderr, "%s\n", line);
		free(line);
		json_decref(j);
		return le == SG_ERR_OK;
	}
	bool ok = run_one_held(r, c, do_sweep, verbose, pending_left);
	if (got)
		sg_conn_unlock(db, key);
	return ok;
}

/* ---- the serve thread -------------------------------------------------------------------------
 */

struct ns_backsync {
	struct ns_state *st;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, woken;
};

static void *serve_loop(void *arg)
{
	struct ns_backsync *b = arg;
	struct runner r;
	if (!runner_init(&r, b->st)) {
		fprintf(stderr, "{\"msg\":\"backsync\",\"error\":\"out of memory\"}\n");
		return NULL;
	}
	/* next sweep per configuration, by position in the last list read */
	int64_t due[256] = {0};
	for (;;) {
		pthread_mutex_lock(&b->lock);
		bool stop = b->stop;
		pthread_mutex_unlock(&b->lock);
		if (stop)
			break;
		struct cfg_list l;
		sg_conn *db = sg_store_conn(b->st->store);
		int64_t wait_ms = 1000;
		if (db && !cfgs_load(db, NULL, NULL, &l)) {
			for (size_t i = 0; i < l.n && i < 256; i++) {
				int64_t now = ns_now_ms();
				bool sweep_now = now >= due[i];
				bool left = false;
				run_one(&r, &l.v[i], sweep_now, false, &left);
				if (sweep_now)
					due[i] = ns_now_ms() + l.v[i].interval * 1000;
				if (left)
					wait_ms = 200;
			}
			cfgs_clear(&l);
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&b->lock);
		while (!b->stop && !b->woken &&
		       pthread_cond_timedwait(&b->wake, &b->lock, &ts) != ETIMEDOUT)
			;
		b->woken = false;
		pthread_mutex_unlock(&b->lock);
	}
	runner_clear(&r);
	return NULL;
}

struct ns_backsync *ns_backsync_start(struct ns_state *st)
{
	struct ns_backsync *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->st = st;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	if (pthread_create(&b->thread, NULL, serve_loop, b)) {
		pthread_cond_destroy(&b->wake);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return NULL;
	}
	return b;
}

void ns_backsync_stop(struct ns_backsync *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* ---- the push receiver ------------------------------------------------------------------------
 */

static json_t *push_error(const char *message, const char *detail)
{
	return json_pack("{s:{s:s, s:s}, s:s}", "error", "message", message, "detail", detail,
	                 "status", "failure");
}

int ns_backsync_push(struct ns_state *st, struct ns_backsync *b, const char *connection,
                     json_t *root, json_t **answer)
{
	*answer = NULL;
	char why[400];
	json_t *items = json_is_array(root) ? json_incref(root) : json_pack("[O]", root);
	if (!items) {
		*answer = push_error("Internal server error", "out of memory");
		return 500;
	}
	size_t n = json_array_size(items);
	if (!n || n > NS_BS_PUSH_MAX) {
		snprintf(why, sizeof(why), "body: between 1 and %d changes, got %zu",
		         NS_BS_PUSH_MAX, n);
		json_decref(items);
		*answer = push_error("Invalid change", why);
		return 400;
	}
	/* validated whole first */
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		const char *cn =
		    connection && *connection ? connection : sg_json_str(it, "connection");
		const char *tbl = sg_json_str(it, "table");
		json_t *rec = json_object_get(it, "record");
		const char *bad =
		    !json_is_object(it)    ? ": not an object"
		    : !cn || !*cn          ? ".connection: missing (the token is bound to none)"
		    : !tbl || !*tbl        ? ".table: missing"
		    : !json_is_object(rec) ? ".record: missing or not an object"
		    : !is_sys_id(row_str(rec, "sys_id")) ? ".record.sys_id: not a sys_id"
		    : row_mc(rec) < 0 ? ".record.sys_mod_count: missing or not a number"
		    : !ns_bs_parse_time(row_str(rec, "sys_updated_on"), &(int64_t){0})
		        ? ".record.sys_updated_on: not YYYY-MM-DD HH:MM:SS"
		        : NULL;
		if (bad) {
			snprintf(why, sizeof(why), "changes[%zu]%s", i, bad);
			json_decref(items);
			*answer = push_error("Invalid change", why);
			return 400;
		}
	}
	sg_conn *db = sg_store_conn(st->store);
	sg_err e = db ? sg_conn_begin(db, true) : SG_ERR_STORE;
	struct take_counts cnt = {0};
	long unconfigured = 0;
	json_t *links = NULL;
	char links_of[NS_NAME_MAX + 1] = "";
	json_array_foreach(items, i, it)
	{
		if (e)
			break;
		const char *cn =
		    connection && *connection ? connection : sg_json_str(it, "connection");
		struct cfg_list l;
		e = cfgs_load(db, cn, sg_json_str(it, "table"), &l);
		if (e)
			break;
		if (!l.n) {
			snprintf(why, sizeof(why),
			         "changes[%zu]: no back-sync of table %s on connection %s "
			         "(`nowsync backsync add`)",
			         i, sg_json_str(it, "table"), cn);
			unconfigured++;
			cfgs_clear(&l);
			break;
		}
		if (strcmp(links_of, cn)) {
			json_decref(links);
			links = NULL;
			e = load_links(db, cn, &links);
			snprintf(links_of, sizeof(links_of), "%s", cn);
		}
		if (!e)
			e = take_row(db, &l.v[0], links, json_object_get(it, "record"), "push",
			             &cnt);
		cfgs_clear(&l);
	}
	json_decref(links);
	json_decref(items);
	if (e || unconfigured) {
		if (db)
			sg_conn_rollback(db);
		*answer =
		    unconfigured ? push_error("Invalid change", why)
		    : e == SG_ERR_BUSY
		        ? push_error("Service unavailable",
		                     "nowsync's own write of a record in this push is on the "
		                     "wire; send it again (Retry-After) to know if it is an echo")
		        : push_error("Service unavailable",
		                     "the state store cannot be written; try again");
		return unconfigured ? 400 : 503;
	}
	e = sg_conn_commit(db);
	if (e) {
		*answer = push_error("Service unavailable", "the state store cannot be written");
		return 503;
	}
	if (b) {
		pthread_mutex_lock(&b->lock);
		b->woken = true;
		pthread_cond_signal(&b->wake);
		pthread_mutex_unlock(&b->lock);
	}
	*answer = json_pack("{s:s, s:i, s:i, s:i, s:i}", "status", "accepted", "queued",
	                    (int)cnt.delivered, "duplicates", (int)cnt.duplicates, "echoes",
	                    (int)cnt.echoes, "not_linked", (int)cnt.ignored);
	return 202;
}

/* ---- the command ------------------------------------------------------------------------------
 */

static void bs_usage(void)
{
	fputs("usage: nowsync backsync add CONNECTION [--table T] (--webhook URL | --ndjson "
	      "PATH|-)\n"
	      "           [--all-records] [--filter QUERY] [--closed-states 6,7,8] [--fields "
	      "LIST]\n"
	      "           [--overlap S] [--lag S] [--page N] [--interval S] [--since "
	      "'YYYY-MM-DD HH:MM:SS']\n"
	      "       nowsync backsync list [--json]\n"
	      "       nowsync backsync remove CONNECTION [--table T]\n"
	      "       nowsync backsync run [--once] CONNECTION|--all [--table T] [--quiet]\n"
	      "       nowsync backsync queue [--json]\n",
	      stderr);
}

/* s is 1..max bytes, each a lowercase letter, a digit or one of extra. */
static bool only_chars(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

static bool valid_table(const char *t)
{
	return only_chars(t, 80, "_");
}

static bool valid_fields(const char *f)
{
	return only_chars(f, 2000, "_,.");
}

static bool valid_closed(const char *c)
{
	return only_chars(c, 60, ",_-");
}

static int cmd_add(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"table", required_argument, NULL, 't'},
	    {"webhook", required_argument, NULL, 'w'},
	    {"ndjson", required_argument, NULL, 'n'},
	    {"all-records", no_argument, NULL, 'a'},
	    {"filter", required_argument, NULL, 'f'},
	    {"closed-states", required_argument, NULL, 'c'},
	    {"fields", required_argument, NULL, 'F'},
	    {"overlap", required_argument, NULL, 'o'},
	    {"lag", required_argument, NULL, 'l'},
	    {"page", required_argument, NULL, 'p'},
	    {"interval", required_argument, NULL, 'i'},
	    {"since", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *table = "incident", *webhook = NULL, *ndjson = NULL, *filter = NULL,
	           *closed = "6,7,8", *fields = NS_BS_DEF_FIELDS, *since = NULL;
	bool all = false;
	long long overlap = 10, lag = 2, page = 200, interval = 10;
	optind = 0;
	int ch, idx = 0;
	while ((ch = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		bool ok = true;
		switch (ch) {
		case 't':
			table = optarg;
			ok = valid_table(optarg);
			break;
		case 'w':
			webhook = optarg;
			ok = sink_is_url(optarg) && strlen(optarg) < 2000;
			break;
		case 'n':
			ndjson = optarg;
			ok = *optarg && strlen(optarg) < 2000;
			break;
		case 'a':
			all = true;
			break;
		case 'f':
			filter = optarg;
			ok = ns_bs_filter_ok(optarg);
			break;
		case 'c':
			closed = optarg;
			ok = valid_closed(optarg);
			break;
		case 'F':
			fields = optarg;
			ok = valid_fields(optarg);
			break;
		case 'o':
			ok = sg_str_number(optarg, 0, 86400, &overlap);
			break;
		case 'l':
			ok = sg_str_number(optarg, 1, 3600, &lag);
			break;
		case 'p':
			ok = sg_str_number(optarg, 1, NS_BS_PAGE_MAX, &page);
			break;
		case 'i':
			ok = sg_str_number(optarg, 1, 86400, &interval);
			break;
		case 's':
			since = optarg;
			ok = ns_bs_parse_time(optarg, &(int64_t){0});
			break;
		default:
			bs_usage();
			return NS_EXIT_USAGE;
		}
		if (!ok) {
			fprintf(stderr, "nowsync: bad value for --%s: %s\n", opts[idx].name,
			        optarg);
			return NS_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !webhook == !ndjson) {
		bs_usage();
		return NS_EXIT_USAGE;
	}
	const char *conn = argv[optind];
	struct ns_connection cfg;
	sg_err e = ns_state_get(st, conn, &cfg);
	if (e) {
		fprintf(stderr, "nowsync: %s connection %s\n",
		        e == SG_ERR_NO_RECORD ? "no" : "cannot read", conn);
		return NS_EXIT_FAILED;
	}
	ns_connection_clear(&cfg);
	char start[NS_BS_TIME_LEN + 1];
	if (since)
		snprintf(start, sizeof(start), "%s", since);
	else
		ns_bs_format_time(sg_time_now(), start);
	sg_conn *db = sg_store_conn(st->store);
	e = db ? sg_conn_begin(db, true) : SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_bs_config\" (\"connection\", \"tbl\", \"all_records\", "
	               "\"filter\", \"closed_states\", \"sink\", \"fields\", \"overlap_s\", "
	               "\"lag_s\", \"page\", \"interval_s\", \"created_at\") VALUES (");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, all);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, filter && *filter ? filter : NULL);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, closed);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, webhook ? webhook : ndjson);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, fields);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, overlap);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, lag);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, page);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, interval);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, sg_time_now());
	sg_sql_raw(&q, ")");
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "DELETE FROM \"ns_bs_cursor\" WHERE \"connection\" = ");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, table);
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_bs_cursor\" (\"connection\", \"tbl\", \"ts\", "
	               "\"since\", \"sys_id\") VALUES (");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, start);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, start);
	sg_sql_raw(&q, ", '')");
	if (!e)
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	if (e) {
		if (db)
			sg_conn_rollback(db);
		fprintf(stderr, "nowsync: %s\n",
		        e == SG_ERR_INVALID_INSERT
		            ? "that connection already has a back-sync of that table (remove it "
		              "first)"
		            : "cannot write the state database");
		return NS_EXIT_FAILED;
	}
	if (sg_conn_commit(db)) {
		fprintf(stderr, "nowsync: cannot write the state database\n");
		return NS_EXIT_FAILED;
	}
	printf("back-sync of %s on %s from %s UTC to %s\n", table, conn, start,
	       webhook ? webhook : ndjson);
	return 0;
}

static int cursor_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	json_t *o = ud;
	json_object_set_new(o, "watermark", json_string(col(ncol, names, vals, "ts")));
	const char *le = col(ncol, names, vals, "last_error");
	json_object_set_new(o, "last_error", le ? json_string(le) : json_null());
	json_object_set_new(o, "swept_at", json_integer(col_int(ncol, names, vals, "swept_at")));
	return 1;
}

static int count_rows(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	json_t *o = ud;
	const char *s = col(ncol, names, vals, "state");
	if (s)
		json_object_set_new(o, s, json_integer(col_int(ncol, names, vals, "n")));
	return 0;
}

static int cmd_list(struct ns_state *st, int argc, char **argv, bool queue_only)
{
	bool json = argc > 1 && !strcmp(argv[1], "--json");
	if (argc > 2 || (argc == 2 && !json)) {
		bs_usage();
		return NS_EXIT_USAGE;
	}
	sg_conn *db = sg_store_conn(st->store);
	struct cfg_list l;
	if (!db || cfgs_load(db, NULL, NULL, &l)) {
		fprintf(stderr, "nowsync: cannot read the state database\n");
		return NS_EXIT_FAILED;
	}
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < l.n; i++) {
		struct bs_cfg *c = &l.v[i];
		json_t *o = json_pack(
		    "{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "connection",
		    c->conn, "table", c->table, "records", c->all ? "all" : "linked", "filter",
		    c->filter, "closed_states", c->closed, "sink", c->sink, "fields", c->fields,
		    "overlap", (json_int_t)c->overlap, "lag", (json_int_t)c->lag, "page",
		    (json_int_t)c->page, "interval", (json_int_t)c->interval);
		json_t *queue = json_object();
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT * FROM \"ns_bs_cursor\" WHERE \"connection\" = ");
		sg_sql_text(&q, c->conn);
		sg_sql_raw(&q, " AND \"tbl\" = ");
		sg_sql_text(&q, c->table);
		if (o)
			sg_conn_exec(db, &q, cursor_row, o, NULL);
		sg_sql_reset(&q);
		sg_sql_raw(&q, "SELECT \"state\", COUNT(*) AS \"n\" FROM \"ns_bs_out\" WHERE "
		               "\"connection\" = ");
		sg_sql_text(&q, c->conn);
		sg_sql_raw(&q, " AND \"tbl\" = ");
		sg_sql_text(&q, c->table);
		sg_sql_raw(&q, " GROUP BY \"state\"");
		if (queue)
			sg_conn_exec(db, &q, count_rows, queue, NULL);
		sg_sql_cleanup(&q);
		if (o && queue)
			json_object_set_new(o, "queue", queue);
		else
			json_decref(queue);
		if (o)
			json_array_append_new(arr, o);
	}
	cfgs_clear(&l);
	if (!arr) {
		fprintf(stderr, "nowsync: out of memory\n");
		return NS_EXIT_FAILED;
	}
	if (json) {
		char *t = json_dumps(arr, JSON_INDENT(2));
		if (t)
			printf("%s\n", t);
		free(t);
	} else {
		size_t i;
		json_t *o;
		json_array_foreach(arr, i, o)
		{
			json_t *q = json_object_get(o, "queue");
			if (queue_only)
				printf("%s %s: %lld pending, %lld delivered\n",
				       sg_json_str(o, "connection"), sg_json_str(o, "table"),
				       (long long)json_integer_value(json_object_get(q, "pending")),
				       (long long)json_integer_value(json_object_get(q, "done")));
			else
				printf("%s %s (%s records) -> %s; watermark %s%s%s\n",
				       sg_json_str(o, "connection"), sg_json_str(o, "table"),
				       sg_json_str(o, "records"), sg_json_str(o, "sink"),
				       sg_json_str(o, "watermark"),
				       sg_json_str(o, "last_error") ? "; last error: " : "",
				       sg_json_str(o, "last_error") ? sg_json_str(o, "last_error")
				                                    : "");
		}
	}
	json_decref(arr);
	return 0;
}

static int cmd_remove(struct ns_state *st, int argc, char **argv)
{
	const char *table = NULL;
	if (argc == 4 && !strcmp(argv[2], "--table"))
		table = argv[3];
	else if (argc != 2) {
		bs_usage();
		return NS_EXIT_USAGE;
	}
	static const char *const tables[] = {"ns_bs_config", "ns_bs_cursor", "ns_bs_seen",
	                                     "ns_bs_own", "ns_bs_out"};
	sg_conn *db = sg_store_conn(st->store);
	sg_err e = db ? sg_conn_begin(db, true) : SG_ERR_STORE;
	long long removed = 0;
	for (size_t i = 0; !e && i < sizeof(tables) / sizeof(tables[0]); i++) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM ");
		sg_sql_ident(&q, tables[i]);
		sg_sql_raw(&q, " WHERE \"connection\" = ");
		sg_sql_text(&q, argv[1]);
		if (table) {
			sg_sql_raw(&q, " AND \"tbl\" = ");
			sg_sql_text(&q, table);
		}
		e = sg_conn_exec(db, &q, NULL, NULL, i ? NULL : &removed);
		sg_sql_cleanup(&q);
	}
	if (e || !removed) {
		if (db)
			sg_conn_rollback(db);
		fprintf(stderr, "nowsync: %s\n",
		        e ? "cannot write the state database" : "no such back-sync");
		return NS_EXIT_FAILED;
	}
	if (sg_conn_commit(db)) {
		fprintf(stderr, "nowsync: cannot write the state database\n");
		return NS_EXIT_FAILED;
	}
	return 0;
}

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int cmd_run(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"once", no_argument, NULL, 'o'},
	    {"all", no_argument, NULL, 'a'},
	    {"table", required_argument, NULL, 't'},
	    {"quiet", no_argument, NULL, 'q'},
	    {NULL, 0, NULL, 0},
	};
	bool once = false, all = false, quiet = false;
	const char *table = NULL;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			once = true;
			break;
		case 'a':
			all = true;
			break;
		case 't':
			table = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			bs_usage();
			return NS_EXIT_USAGE;
		}
	}
	if (all == (optind + 1 == argc) || optind + (all ? 0 : 1) != argc) {
		bs_usage();
		return NS_EXIT_USAGE;
	}
	const char *conn = all ? NULL : argv[optind];
	sg_conn *db = sg_store_conn(st->store);
	struct cfg_list l;
	if (!db || cfgs_load(db, conn, table, &l)) {
		fprintf(stderr, "nowsync: cannot read the state database\n");
		return NS_EXIT_FAILED;
	}
	if (!l.n) {
		fprintf(stderr, "nowsync: no back-sync configured%s%s (`nowsync backsync add`)\n",
		        conn ? " on " : "", conn ? conn : "");
		cfgs_clear(&l);
		return NS_EXIT_FAILED;
	}
	struct runner r;
	if (!runner_init(&r, st)) {
		cfgs_clear(&l);
		fprintf(stderr, "nowsync: out of memory\n");
		return NS_EXIT_FAILED;
	}
	if (!once) {
		struct sigaction sa = {.sa_handler = on_stop};
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	int rc = 0;
	int64_t *due = calloc(l.n, sizeof(*due));
	if (!due) {
		rc = NS_EXIT_FAILED;
		goto out;
	}
	while (!stop_flag) {
		bool any_left = false, failed = false;
		for (size_t i = 0; i < l.n && !stop_flag; i++) {
			bool sweep_now = ns_now_ms() >= due[i], left = false;
			if (!run_one(&r, &l.v[i], sweep_now, !quiet && (once || sweep_now), &left))
				failed = true;
			if (sweep_now)
				due[i] = ns_now_ms() + l.v[i].interval * 1000;
			any_left |= left;
		}
		if (once) {
			rc = failed ? NS_EXIT_FAILED : any_left ? 4 : 0;
			break;
		}
		usleep(any_left ? 200 * 1000 : 500 * 1000);
	}
out:
	free(due);
	runner_clear(&r);
	cfgs_clear(&l);
	return rc;
}

int ns_cmd_backsync(struct ns_state *st, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	if (!strcmp(sub, "add"))
		return cmd_add(st, argc, argv);
	if (!strcmp(sub, "list"))
		return cmd_list(st, argc, argv, false);
	if (!strcmp(sub, "queue"))
		return cmd_list(st, argc, argv, true);
	if (!strcmp(sub, "remove"))
		return cmd_remove(st, argc, argv);
	if (!strcmp(sub, "run"))
		return cmd_run(st, argc, argv);
	bs_usage();
	return NS_EXIT_USAGE;
}
