/*
 * sqlite.c - the embedded SQLite backend (the default): sqlite:PATH, or
 * DIR/instance.db for a bare data directory.
 *
 * One database file in WAL mode so readers never wait for the writer.  Each
 * thread has its own connection with a cache of prepared statements keyed by
 * SQL text, so a handler's statements are prepared once per thread and
 * reused.  Writes run on one shared connection, batched (sqlite_batch.c);
 * synchronous=FULL makes an acknowledged commit survive power loss.  The
 * dialect is sqlite_dialect.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/sqlite_int.h"

#define STMT_CACHE      SG__SQ_STMT_CACHE
#define BUSY_TIMEOUT_MS 15000

sg_err sg__sq_map_rc(int rc)
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

/* True when where names no file: "sqlite:" or "sqlite://" alone. */
static bool no_file(const char *where, bool dir)
{
	if (!*where || (!dir && !strcmp(where, "//"))) {
		sg_log_error("store: sqlite: needs a file name (sqlite:PATH)");
		return true;
	}
	return false;
}

/* The database file: where (sqlite:PATH, or sqlite://PATH), or
 * where/instance.db for a data directory.  Caller frees. */
static char *db_path(const char *where, bool dir)
{
	if (!dir)
		return strdup(!strncmp(where, "//", 2) ? where + 2 : where);
	size_t n = strlen(where) + sizeof("/instance.db");
	char *path = malloc(n);
	if (path)
		snprintf(path, n, "%s/instance.db", where);
	return path;
}

/* Makes the directory that holds path when it is missing (one level, as
 * --data DIR always did). */
static sg_err make_parent(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return SG_ERR_NOMEM;
	char *slash = strrchr(copy, '/');
	sg_err err = SG_ERR_OK;
	if (slash && slash != copy) {
		*slash = '\0';
		struct stat st;
		if (stat(copy, &st) != 0 && mkdir(copy, 0700) != 0)
			err = SG_ERR_STORE;
		else if (stat(copy, &st) == 0 && !S_ISDIR(st.st_mode))
			err = SG_ERR_STORE;
	}
	free(copy);
	return err;
}

static sg_err sq_open(const char *where, bool dir, bool create, void **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, configure_once);
	if (no_file(where, dir))
		return SG_ERR_STORE;
	struct sg__sq_db *d = calloc(1, sizeof(*d));
	sg_err err = d ? SG_ERR_OK : SG_ERR_NOMEM;
	if (!err) {
		d->path = db_path(where, dir);
		if (!d->path)
			err = SG_ERR_NOMEM;
	}
	struct stat st;
	if (!err && create)
		err = make_parent(d->path);
	if (!err && !create && stat(d->path, &st) != 0)
		err = SG_ERR_STORE;
	if (err) {
		if (d)
			free(d->path);
		free(d);
		return err;
	}
	sg__sq_batch_init(&d->batch);
	*out = d;
	return SG_ERR_OK;
}

static void sq_close(void *db)
{
	struct sg__sq_db *d = db;
	sg__sq_batch_cleanup(&d->batch);
	free(d->path);
	free(d);
}

static sg_err sq_exists(const char *where, bool dir, bool *out)
{
	if (no_file(where, dir))
		return SG_ERR_STORE;
	char *path = db_path(where, dir);
	if (!path)
		return SG_ERR_NOMEM;
	struct stat st;
	*out = stat(path, &st) == 0;
	free(path);
	return SG_ERR_OK;
}

/* The database file and the log and index files WAL mode keeps beside it. */
static sg_err sq_drop(void *db)
{
	struct sg__sq_db *d = db;
	static const char *const tails[] = {"", "-wal", "-shm"};
	sg_err err = SG_ERR_OK;
	sg__sq_batch_cleanup(&d->batch);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s%s", d->path, tails[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			err = SG_ERR_STORE;
		else if (unlink(path) != 0 && errno != ENOENT)
			err = SG_ERR_STORE;
	}
	free(d->path);
	free(d);
	return err;
}

sg_err sg__sq_handle_open(struct sg__sq_db *d, struct sg__sq_handle *h)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(
	    d->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		sg_log_error("sqlite: cannot open %s: %s", d->path,
		             db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return SG_ERR_STORE;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db, 1);
	static const char *pragmas = "PRAGMA journal_mode=WAL;"
	                             "PRAGMA synchronous=FULL;"
	                             "PRAGMA foreign_keys=OFF;"
	                             "PRAGMA temp_store=MEMORY;"
	                             "PRAGMA cache_size=-2048;";
	rc = sqlite3_exec(db, pragmas, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		sg_log_error("sqlite: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return sg__sq_map_rc(rc);
	}
	h->db = db;
	return SG_ERR_OK;
}

/* Drops every cached statement (after DDL changes the schema). */
static void flush_cache(struct sg__sq_handle *h)
{
	for (int i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(h->cache[i].stmt);
		free(h->cache[i].sql);
		h->cache[i].stmt = NULL;
		h->cache[i].sql = NULL;
	}
}

void sg__sq_handle_close(struct sg__sq_handle *h)
{
	flush_cache(h);
	sqlite3_close(h->db);
	h->db = NULL;
}

static sg_err sq_conn_open(void *dbp, void **out)
{
	struct sg__sq_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return SG_ERR_NOMEM;
	c->d = dbp;
	sg_err err = sg__sq_handle_open(c->d, &c->own);
	if (err) {
		free(c);
		return err;
	}
	c->cur = &c->own;
	*out = c;
	return SG_ERR_OK;
}

static void sq_conn_close(void *connp)
{
	struct sg__sq_conn *c = connp;
	sg__sq_handle_close(&c->own);
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
static sg_err prepare(struct sg__sq_handle *h, const char *sql, sqlite3_stmt **out)
{
	struct sg__sq_slot *slot = &h->cache[hash_sql(sql) % STMT_CACHE];
	if (slot->sql && strcmp(slot->sql, sql) == 0) {
		sqlite3_reset(slot->stmt);
		sqlite3_clear_bindings(slot->stmt);
		*out = slot->stmt;
		return SG_ERR_OK;
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK)
		return sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : SG_ERR_STORE;
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

/* Rows as text (fn) or as bytes with lengths (fnb): one of them, or
 * neither. */
struct sink {
	sg_row_fn fn;
	sg_row_bytes_fn fnb;
	void *ud;
};

static const char empty_value[1];

/* Runs q on h; rows go to the sink. */
static sg_err exec_on(struct sg__sq_handle *h, const struct sg_sql *q, const struct sink *to,
                      long long *changes)
{
	const char *sql = sg_buf_str(&q->text);
	sqlite3_stmt *st;
	sg_err err = prepare(h, sql, &st);
	if (err)
		return err;
	for (size_t i = 0; i < q->nparams; i++) {
		const struct sg_param *p = &q->params[i];
		int idx = (int)i + 1, rc;
		if (p->kind == SG_PARAM_TEXT)
			rc = sqlite3_bind_text(st, idx, p->text, -1, SQLITE_STATIC);
		else if (p->kind == SG_PARAM_INT)
			rc = sqlite3_bind_int64(st, idx, p->i);
		else if (p->kind == SG_PARAM_BLOB)
			rc = sqlite3_bind_blob64(st, idx, p->text, p->len, SQLITE_STATIC);
		else
			rc = sqlite3_bind_null(st, idx);
		if (rc != SQLITE_OK) {
			err = sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : SG_ERR_STORE;
			sqlite3_clear_bindings(st);
			return err;
		}
	}
	/* Column names and counts are read once a row is there: a statement
	 * re-prepared inside sqlite3_step (another thread altered the schema)
	 * frees the previous names, and SELECT * may come back wider.  That
	 * happens only before the first row (the statement then holds its read
	 * snapshot), so names are read again only if the width changes. */
	const char *names_small[64], *vals_small[64];
	const void *bytes_small[64];
	size_t lens_small[64];
	const char **names = names_small, **vals = vals_small;
	const void **bytes = bytes_small;
	size_t *lens = lens_small;
	int cap = 64, named = -1;
	bool want_rows = to && (to->fn || to->fnb);
	for (;;) {
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = sg__sq_map_rc(rc);
			if (!err)
				err = SG_ERR_STORE;
			goto out;
		}
		if (!want_rows)
			continue;
		int ncol = sqlite3_data_count(st);
		if (ncol > cap) {
			const char **n2 = malloc(sizeof(char *) * (size_t)ncol);
			const char **v2 = malloc(sizeof(char *) * (size_t)ncol);
			const void **b2 = malloc(sizeof(void *) * (size_t)ncol);
			size_t *l2 = malloc(sizeof(size_t) * (size_t)ncol);
			if (!n2 || !v2 || !b2 || !l2) {
				free(n2);
				free(v2);
				free(b2);
				free(l2);
				err = SG_ERR_NOMEM;
				goto out;
			}
			if (names != names_small) {
				free(names);
				free(vals);
				free(bytes);
				free(lens);
			}
			names = n2;
			vals = v2;
			bytes = b2;
			lens = l2;
			cap = ncol;
			named = -1;
		}
		if (ncol != named) {
			for (int i = 0; i < ncol; i++)
				names[i] = sqlite3_column_name(st, i);
			named = ncol;
		}
		int stop;
		if (to->fn) {
			for (int i = 0; i < ncol; i++) {
				/* The type first: a conversion to text that runs out
				 * of memory leaves the value NULL. */
				bool null = sqlite3_column_type(st, i) == SQLITE_NULL;
				vals[i] = null ? NULL : (const char *)sqlite3_column_text(st, i);
				/* NULL for a value that is not SQL NULL: converting it
				 * to text ran out of memory. */
				if (!vals[i] && !null) {
					err = SG_ERR_NOMEM;
					goto out;
				}
			}
			stop = to->fn(to->ud, ncol, names, vals);
		} else {
			/* Blob first, then its length (the order SQLite asks);
			 * an empty value is not NULL. */
			for (int i = 0; i < ncol; i++) {
				bool null = sqlite3_column_type(st, i) == SQLITE_NULL;
				const void *v = null ? NULL : sqlite3_column_blob(st, i);
				lens[i] = null ? 0 : (size_t)sqlite3_column_bytes(st, i);
				if (!null && !v && lens[i]) {
					err = SG_ERR_NOMEM; /* as above */
					goto out;
				}
				bytes[i] = (v || null) ? v : empty_value;
			}
			stop = to->fnb(to->ud, ncol, names, bytes, lens);
		}
		if (stop)
			break;
	}
	if (changes)
		*changes = sqlite3_changes64(h->db);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (names != names_small) {
		free(names);
		free(vals);
		free(bytes);
		free(lens);
	}
	/* DDL invalidates other prepared statements; start afresh. */
	if (!err && (strncmp(sql, "CREATE", 6) == 0 || strncmp(sql, "ALTER", 5) == 0 ||
	             strncmp(sql, "DROP", 4) == 0))
		flush_cache(h);
	return err;
}

/*
 * Whether c's transaction, when it has one, is still open.  SQLite ends a
 * transaction on its own when a statement fails in some ways (out of memory
 * or a full disk in a statement without its own journal: the whole
 * transaction is rolled back); the statements after it would run in
 * autocommit, each committed alone, outside the write they belong to.  They
 * are refused instead, and the write fails whole.
 */
static sg_err txn_alive(const struct sg__sq_conn *c)
{
	if (c->in_txn && sqlite3_get_autocommit(c->cur->db)) {
		sg_log_error(
		    "store: the database ended the transaction; refusing its next statement");
		return SG_ERR_STORE;
	}
	return SG_ERR_OK;
}

static sg_err sq_exec(void *connp, const struct sg_sql *q, sg_row_fn fn, void *ud,
                      long long *changes)
{
	struct sg__sq_conn *c = connp;
	struct sink to = {.fn = fn, .ud = ud};
	sg_err err = txn_alive(c);
	return err ? err : exec_on(c->cur, q, &to, changes);
}

sg_err sg__sq_exec(struct sg__sq_handle *h, const struct sg_sql *q)
{
	return exec_on(h, q, NULL, NULL);
}

static sg_err sq_exec_bytes(void *connp, const struct sg_sql *q, sg_row_bytes_fn fn, void *ud)
{
	struct sg__sq_conn *c = connp;
	struct sink to = {.fnb = fn, .ud = ud};
	sg_err err = txn_alive(c);
	return err ? err : exec_on(c->cur, q, &to, NULL);
}

sg_err sg__sq_exec_sql(struct sg__sq_handle *h, const char *sql)
{
	sqlite3_stmt *st;
	sg_err err = prepare(h, sql, &st);
	if (err)
		return err;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		err = sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : SG_ERR_STORE;
	sqlite3_reset(st);
	return err;
}

sg_err sg__sq_run(struct sg__sq_handle *h, const char *sql)
{
	int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
	return sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : (rc == SQLITE_OK ? SG_ERR_OK : SG_ERR_STORE);
}

static void rollback_handle(struct sg__sq_handle *h)
{
	if (!sqlite3_get_autocommit(h->db))
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Reads run on the thread's own connection; writes join the batch. */
static sg_err sq_begin(void *connp, bool write)
{
	struct sg__sq_conn *c = connp;
	sg_err err = write ? sg__sq_write_begin(c) : sg__sq_run(&c->own, "BEGIN");
	c->in_txn = !err;
	return err;
}

static sg_err sq_commit(void *connp)
{
	struct sg__sq_conn *c = connp;
	c->in_txn = false;
	if (c->writing)
		return sg__sq_write_end(c, true);
	sg_err err = sg__sq_run(&c->own, "COMMIT");
	if (err)
		rollback_handle(&c->own);
	return err;
}

static void sq_rollback(void *connp)
{
	struct sg__sq_conn *c = connp;
	c->in_txn = false;
	if (c->writing)
		sg__sq_write_end(c, false);
	else
		rollback_handle(&c->own);
}

static sg_err sq_columns(void *connp, const char *table, sg_row_fn fn, void *ud)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT name FROM pragma_table_info(");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ")");
	sg_err err = sg_sql_error(&q) ? sg_sql_error(&q) : sq_exec(connp, &q, fn, ud, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static const char *sq_errmsg(void *connp)
{
	struct sg__sq_conn *c = connp;
	return sqlite3_errmsg(c->cur->db);
}

static int sq_queued_writers(void *db)
{
	struct sg__sq_db *d = db;
	return atomic_load(&d->batch.queued);
}

/*
 * Without statistics SQLite guesses every equality is selective and may
 * prefer a class index to a unique number.  A sqlite_stat1 row for the
 * index ("rows per-value-of-col-0 per-value-of-cols-0..1 ...") says
 * otherwise; a real ANALYZE later replaces it.
 */
static sg_err sq_index_hint(void *connp, const char *table, const char *index,
                            const struct sg_index_stats *stats)
{
	struct sg__sq_conn *c = connp;
	struct sg__sq_handle *h = c->cur;
	char stat[(SG_INDEX_HINT_MAX + 1) * 24];
	int at = snprintf(stat, sizeof(stat), "%lld", stats->rows);
	for (size_t i = 0; i < stats->ncols && at > 0 && (size_t)at < sizeof(stat); i++)
		at += snprintf(stat + at, sizeof(stat) - (size_t)at, " %lld", stats->per_value[i]);
	if (at < 0 || (size_t)at >= sizeof(stat))
		return SG_ERR_INTERNAL;
	sg_err err = txn_alive(c);
	if (!err)
		err = sg__sq_run(h, "ANALYZE sqlite_schema");
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM sqlite_stat1 WHERE idx = ");
	sg_sql_text(&q, index);
	if (!err)
		err = exec_on(h, &q, NULL, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, index);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, stat);
	sg_sql_raw(&q, ")");
	if (!err)
		err = sg_sql_error(&q) ? sg_sql_error(&q) : exec_on(h, &q, NULL, NULL);
	sg_sql_cleanup(&q);
	/* Reload the statistics into this connection's planner. */
	if (!err)
		err = sg__sq_run(h, "ANALYZE sqlite_schema");
	flush_cache(h);
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
static sg_err analyze_each(struct sg__sq_handle *c)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT name FROM sqlite_schema WHERE type = 'index' UNION ALL "
	               "SELECT name FROM sqlite_schema t WHERE type = 'table' AND name NOT LIKE "
	               "'sqlite_%' AND NOT EXISTS (SELECT 1 FROM sqlite_schema i WHERE "
	               "i.type = 'index' AND i.tbl_name = t.name)");
	struct sg_buf names;
	sg_buf_init(&names, 4 * 1024 * 1024);
	struct sink to = {.fn = keep_name, .ud = &names};
	sg_err err = exec_on(c, &q, &to, NULL);
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
		err = sg__sq_run(c, sg_buf_str(&q.text));
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
	struct sg__sq_conn *conn = connp;
	struct sg__sq_handle *c = conn->cur;
	sg_err err = analyze ? analyze_each(c) : SG_ERR_OK;
	int log = 0, done = 0;
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
	if (!err && rc != SQLITE_OK && rc != SQLITE_BUSY)
		err = sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : SG_ERR_STORE;
	return err;
}

const struct sg_store_ops sg__store_sqlite = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exists = sq_exists,
    .drop = sq_drop,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec = sq_exec,
    .exec_bytes = sq_exec_bytes,
    .columns = sq_columns,
    .errmsg = sq_errmsg,
    .index_hint = sq_index_hint,
    .maintain = sq_maintain,
    .queued_writers = sq_queued_writers,
    .backup = sg__sq_backup,
    .restore = sg__sq_restore,
    .dialect = &sg_dialect_sqlite,
};
