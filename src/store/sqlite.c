/*
 * sqlite.c - the embedded SQLite backend (the default).
 *
 * One database file, instance.db, in the data directory, in WAL mode so
 * readers never wait for the writer.  Each thread has its own connection with
 * a cache of prepared statements keyed by SQL text, so a handler's statements
 * are prepared once per thread and reused.  Writers take the write lock at
 * BEGIN (IMMEDIATE) and wait up to busy_timeout for it; synchronous=FULL
 * makes an acknowledged commit survive power loss.
 */
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "store/store.h"

#define STMT_CACHE 128
#define BUSY_TIMEOUT_MS 15000

struct sq_db {
	char *path;
};

struct stmt_slot {
	char *sql;
	sqlite3_stmt *stmt;
};

struct sq_conn {
	sqlite3 *db;
	struct stmt_slot cache[STMT_CACHE];
};

static sg_err map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return SG_ERR_OK;
	case SQLITE_NOMEM:
		return SG_ERR_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SG_ERR_BUSY;
	case SQLITE_CONSTRAINT:
		return SG_ERR_INVALID_INSERT;
	default:
		return SG_ERR_STORE;
	}
}

/*
 * Process-wide settings, before SQLite initializes.  Memory statistics off:
 * with them on, every allocation SQLite makes takes one global mutex (all
 * worker threads contend for it) to count bytes nobody reads here.
 */
static void configure_once(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); /* refused if too late: harmless */
	sqlite3_initialize();
}

static sg_err sq_open(const char *target, bool create, void **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, configure_once);
	struct stat st;
	if (stat(target, &st) != 0) {
		if (!create)
			return SG_ERR_STORE;
		if (mkdir(target, 0700) != 0)
			return SG_ERR_STORE;
	} else if (!S_ISDIR(st.st_mode)) {
		return SG_ERR_STORE;
	}
	struct sq_db *d = calloc(1, sizeof(*d));
	if (!d)
		return SG_ERR_NOMEM;
	size_t n = strlen(target) + sizeof("/instance.db");
	d->path = malloc(n);
	if (!d->path) {
		free(d);
		return SG_ERR_NOMEM;
	}
	snprintf(d->path, n, "%s/instance.db", target);
	if (!create && stat(d->path, &st) != 0) {
		free(d->path);
		free(d);
		return SG_ERR_STORE;
	}
	*out = d;
	return SG_ERR_OK;
}

static void sq_close(void *db)
{
	struct sq_db *d = db;
	free(d->path);
	free(d);
}

static sg_err sq_conn_open(void *dbp, void **out)
{
	struct sq_db *d = dbp;
	struct sq_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return SG_ERR_NOMEM;
	int rc = sqlite3_open_v2(d->path, &c->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		sg_log_error("sqlite: cannot open %s: %s", d->path,
			     c->db ? sqlite3_errmsg(c->db) : "out of memory");
		sqlite3_close(c->db);
		free(c);
		return SG_ERR_STORE;
	}
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(c->db, 1);
	static const char *pragmas = "PRAGMA journal_mode=WAL;"
				     "PRAGMA synchronous=FULL;"
				     "PRAGMA foreign_keys=OFF;"
				     "PRAGMA temp_store=MEMORY;"
				     "PRAGMA cache_size=-2048;";
	rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sg_log_error("sqlite: %s", sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return map_rc(rc);
	}
	*out = c;
	return SG_ERR_OK;
}

static void sq_conn_close(void *connp)
{
	struct sq_conn *c = connp;
	for (int i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
	}
	sqlite3_close(c->db);
	free(c);
}

static unsigned long hash_sql(const char *s)
{
	unsigned long h = 5381;
	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

/* A prepared statement for sql from the cache, reset and unbound. */
static sg_err prepare(struct sq_conn *c, const char *sql, sqlite3_stmt **out)
{
	struct stmt_slot *slot = &c->cache[hash_sql(sql) % STMT_CACHE];
	if (slot->sql && strcmp(slot->sql, sql) == 0) {
		sqlite3_reset(slot->stmt);
		sqlite3_clear_bindings(slot->stmt);
		*out = slot->stmt;
		return SG_ERR_OK;
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc) ? map_rc(rc) : SG_ERR_STORE;
	char *copy = strdup(sql);
	if (!copy) {
		sqlite3_finalize(st);
		return SG_ERR_NOMEM;
	}
	sqlite3_finalize(slot->stmt);
	free(slot->sql);
	slot->sql = copy;
	slot->stmt = st;
	*out = st;
	return SG_ERR_OK;
}

/* Drops every cached statement (after DDL changes the schema). */
static void flush_cache(struct sq_conn *c)
{
	for (int i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
		c->cache[i].stmt = NULL;
		c->cache[i].sql = NULL;
	}
}

static sg_err sq_exec(void *connp, const struct sg_sql *q, sg_row_fn fn, void *ud,
		      long long *changes)
{
	struct sq_conn *c = connp;
	const char *sql = sg_buf_str(&q->text);
	sqlite3_stmt *st;
	sg_err err = prepare(c, sql, &st);
	if (err)
		return err;
	for (size_t i = 0; i < q->nparams; i++) {
		const struct sg_param *p = &q->params[i];
		int idx = (int)i + 1, rc;
		if (p->kind == SG_PARAM_TEXT)
			rc = sqlite3_bind_text(st, idx, p->text, -1, SQLITE_STATIC);
		else if (p->kind == SG_PARAM_INT)
			rc = sqlite3_bind_int64(st, idx, p->i);
		else
			rc = sqlite3_bind_null(st, idx);
		if (rc != SQLITE_OK)
			return map_rc(rc);
	}
	/* Column names and counts are read once a row is there: a statement
	 * re-prepared inside sqlite3_step (another thread altered the schema)
	 * frees the previous names, and SELECT * may come back wider.  That
	 * happens only before the first row (the statement then holds its read
	 * snapshot), so names are read again only if the width changes. */
	const char *names_small[64], *vals_small[64];
	const char **names = names_small, **vals = vals_small;
	int cap = 64, named = -1;
	for (;;) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = map_rc(rc);
			if (!err)
				err = SG_ERR_STORE;
			goto out;
		}
		if (!fn)
			continue;
		int ncol = sqlite3_data_count(st);
		if (ncol > cap) {
			const char **n2 = malloc(sizeof(char *) * (size_t)ncol);
			const char **v2 = malloc(sizeof(char *) * (size_t)ncol);
			if (!n2 || !v2) {
				free(n2);
				free(v2);
				err = SG_ERR_NOMEM;
				goto out;
			}
			if (names != names_small) {
				free(names);
				free(vals);
			}
			names = n2;
			vals = v2;
			cap = ncol;
			named = -1;
		}
		if (ncol != named) {
			for (int i = 0; i < ncol; i++)
				names[i] = sqlite3_column_name(st, i);
			named = ncol;
		}
		for (int i = 0; i < ncol; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		if (fn(ud, ncol, names, vals))
			break;
	}
	if (changes)
		*changes = sqlite3_changes64(c->db);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (names != names_small) {
		free(names);
		free(vals);
	}
	/* DDL invalidates other prepared statements; start afresh. */
	if (!err && (strncmp(sql, "CREATE", 6) == 0 || strncmp(sql, "ALTER", 5) == 0 ||
		     strncmp(sql, "DROP", 4) == 0))
		flush_cache(c);
	return err;
}

static sg_err run(struct sq_conn *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return map_rc(rc) ? map_rc(rc) : (rc == SQLITE_OK ? SG_ERR_OK : SG_ERR_STORE);
}

static sg_err sq_begin(void *connp, bool write)
{
	return run(connp, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

static sg_err sq_commit(void *connp)
{
	return run(connp, "COMMIT");
}

static void sq_rollback(void *connp)
{
	struct sq_conn *c = connp;
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static bool sq_in_transaction(void *connp)
{
	struct sq_conn *c = connp;
	return !sqlite3_get_autocommit(c->db);
}

static sg_err sq_columns(void *connp, const char *table, sg_row_fn fn, void *ud)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT name FROM pragma_table_info(");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ")");
	sg_err err = q.failed ? SG_ERR_NOMEM : sq_exec(connp, &q, fn, ud, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static const char *sq_type_name(enum sg_coltype type)
{
	switch (type) {
	case SG_COL_INTEGER:
		return "INTEGER";
	case SG_COL_REAL:
		return "REAL";
	default:
		/* Text compares and sorts case-insensitively, as on the platform's
		 * database; indexes follow the column's collation. */
		return "TEXT COLLATE NOCASE";
	}
}

static const char *sq_errmsg(void *connp)
{
	struct sq_conn *c = connp;
	return sqlite3_errmsg(c->db);
}

static void sq_date_add(struct sg_sql *q, const char *alias, const char *col, long long n,
			const char *unit)
{
	char mod[64];
	snprintf(mod, sizeof(mod), "%+lld %ss", n, unit);
	sg_sql_raw(q, "datetime(");
	sg_sql_qual(q, alias, col);
	sg_sql_raw(q, ", ");
	sg_sql_text(q, mod);
	sg_sql_raw(q, ")");
}

static bool sq_date_part(struct sg_sql *q, const char *alias, const char *col, const char *part)
{
	static const struct {
		const char *part, *fmt;
	} parts[] = {{"dayofweek", "%w"}, {"month", "%m"}, {"year", "%Y"},
		     {"hour", "%H"},	  {"dayofmonth", "%d"}, {"day", "%d"},
		     {"minute", "%M"},	  {"week", "%W"},	{"quarter", "%m"}};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (strcmp(part, parts[i].part) != 0)
			continue;
		bool quarter = !strcmp(part, "quarter");
		sg_sql_raw(q, quarter ? "((CAST(strftime(" : "CAST(strftime(");
		sg_sql_text(q, parts[i].fmt);
		sg_sql_raw(q, ", ");
		sg_sql_qual(q, alias, col);
		sg_sql_raw(q, quarter ? ") AS INTEGER) + 2) / 3)" : ") AS INTEGER)");
		return true;
	}
	return false;
}

/*
 * Without statistics SQLite guesses every equality is selective and may
 * prefer a class index to a unique number.  A sqlite_stat1 row for the
 * index says otherwise; a real ANALYZE later replaces it.
 */
static sg_err sq_index_hint(void *connp, const char *table, const char *index, const char *stat)
{
	struct sq_conn *c = connp;
	sg_err err = run(c, "ANALYZE sqlite_schema");
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM sqlite_stat1 WHERE idx = ");
	sg_sql_text(&q, index);
	if (!err)
		err = sq_exec(connp, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, index);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, stat);
	sg_sql_raw(&q, ")");
	if (!err)
		err = sq_exec(connp, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	/* Reload the statistics into this connection's planner. */
	if (!err)
		err = run(c, "ANALYZE sqlite_schema");
	flush_cache(c);
	return err;
}

static int keep_name(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct sg_buf *b = ud;
	if (ncol > 0 && vals[0]) {
		sg_buf_puts(b, vals[0]);
		sg_buf_putc(b, '\0');
	}
	return sg_buf_failed(b) ? 1 : 0;
}

/*
 * Statistics for the planner, one index at a time (and each table without
 * one), each in its own short write transaction: a full ANALYZE holds the
 * write lock for ~170 ms on 100,000 incidents and writes queue behind it;
 * one index holds it for at most ~20 ms.  A full pass: sampled statistics
 * (analysis_limit) misjudge sparse columns.  The statistics come out the
 * same as a single ANALYZE's.
 */
static sg_err analyze_each(struct sq_conn *c)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT name FROM sqlite_schema WHERE type = 'index' UNION ALL "
		       "SELECT name FROM sqlite_schema t WHERE type = 'table' AND name NOT LIKE "
		       "'sqlite_%' AND NOT EXISTS (SELECT 1 FROM sqlite_schema i WHERE "
		       "i.type = 'index' AND i.tbl_name = t.name)");
	struct sg_buf names;
	sg_buf_init(&names, 4 * 1024 * 1024);
	sg_err err = sq_exec(c, &q, keep_name, &names, NULL);
	if (!err && sg_buf_failed(&names))
		err = SG_ERR_NOMEM;
	for (size_t at = 0; !err && at < names.len;) {
		const char *name = names.data + at;
		at += strlen(name) + 1;
		sg_sql_reset(&q);
		sg_sql_raw(&q, "ANALYZE ");
		sg_sql_ident(&q, name);
		if (q.failed) /* not one of our identifiers: skipped */
			continue;
		err = run(c, sg_buf_str(&q.text));
	}
	sg_buf_cleanup(&names);
	sg_sql_cleanup(&q);
	flush_cache(c);
	return err;
}

/*
 * A passive checkpoint copies committed WAL pages into the database without
 * waiting for readers, so the auto-checkpoint inside a request's commit
 * rarely has work left.  ANALYZE replaces the planner's guesses (and our
 * hints) with statistics.
 */
static sg_err sq_maintain(void *connp, bool analyze)
{
	struct sq_conn *c = connp;
	sg_err err = analyze ? analyze_each(c) : SG_ERR_OK;
	int log = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (!err && rc != SQLITE_OK && rc != SQLITE_BUSY)
		err = map_rc(rc) ? map_rc(rc) : SG_ERR_STORE;
	return err;
}

const struct sg_dialect sg_dialect_sqlite = {
	.name = "sqlite",
	.type_name = sq_type_name,
	.date_add = sq_date_add,
	.date_part = sq_date_part,
};

const struct sg_store_ops sg_store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.conn_open = sq_conn_open,
	.conn_close = sq_conn_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.in_transaction = sq_in_transaction,
	.exec = sq_exec,
	.columns = sq_columns,
	.errmsg = sq_errmsg,
	.dialect = &sg_dialect_sqlite,
	.index_hint = sq_index_hint,
	.maintain = sq_maintain,
};
