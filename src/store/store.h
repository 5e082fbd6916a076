/*
 * store.h - the one storage interface.
 *
 * Everything above this layer speaks SQL through sg_sql: statement text with
 * '?' placeholders, built with quoted identifiers and bound parameters only
 * (never a value spliced into the text).  The store is opened by a URL
 * whose scheme picks a backend (backend.h: curl's vtls pattern): sqlite:PATH,
 * or a bare data directory for SQLite's DIR/instance.db; a PostgreSQL
 * backend (pg.c) plugs in beside it without any caller changing.  What differs in
 * SQL text between engines is asked of the dialect (dialect.h).
 *
 * Connections are per thread: sg_store_conn() hands each thread its own,
 * opened on first use and closed with the store.  Transactions nest; writers
 * are serialised, and each write is acknowledged only once durable.
 */
#ifndef SG_STORE_STORE_H
#define SG_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "store/dialect.h"
#include "store/sql.h"

/*
 * Called once per result row with the column names and values as text
 * (NULL for SQL NULL), all borrowed for the call.  Return non-zero to stop.
 */
typedef int (*sg_row_fn)(void *ud, int ncol, const char *const *names, const char *const *vals);
/* The same with each value as bytes and its length in bytes: a BLOB's bytes,
 * NUL bytes included, or a text value's (no terminator is promised for
 * either).  NULL (length 0) for SQL NULL; an empty value is not NULL. */
typedef int (*sg_row_bytes_fn)(void *ud, int ncol, const char *const *names,
                               const void *const *vals, const size_t *lens);

/* The most leading columns an index hint describes. */
#define SG_INDEX_HINT_MAX 8

/*
 * What the planner should assume of an index until real statistics exist:
 * the table's rows, and for each leading column k (k < ncols) the rows that
 * share one value of columns 0..k (rows / distinct values).  Used for indexes
 * whose leading columns are not selective (a class, a flag).
 */
struct sg_index_stats {
	long long rows;
	long long per_value[SG_INDEX_HINT_MAX];
	size_t ncols;
};

typedef struct sg_store sg_store;
typedef struct sg_conn sg_conn;

/*
 * Opens the store named by url:
 *   sqlite:PATH (also sqlite://PATH)  the SQLite database file PATH;
 *   DIR (no scheme)                   SQLite's DIR/instance.db (--data DIR);
 *   postgresql://... (postgres://)    a PostgreSQL database, libpq's URL (pg.c).
 * create makes the database (and a missing DIR or PATH's directory) when
 * missing.  An unusable URL is logged and refused with SG_ERR_STORE.
 * *out is freed by sg_store_close (or sg_store_drop).
 */
sg_err sg_store_open(const char *url, bool create, sg_store **out);
void sg_store_close(sg_store *s);
/* *out: whether url names a database that exists. */
sg_err sg_store_exists(const char *url, bool *out);
/* Closes s and deletes its database (an instance whose creation failed).
 * s is freed whatever the result. */
sg_err sg_store_drop(sg_store *s);
/* The SQL dialect of s's backend.  Borrowed, static. */
const struct sg_dialect *sg_store_dialect(const sg_store *s);

/*
 * Snapshots of the whole database (the backend's online backup).
 *
 * sg_store_backup writes a consistent copy of s's database, as of one
 * moment, to the file dest while s serves readers and writers: into dest's
 * folder under a temporary name, synced, then renamed over dest, so dest is
 * either the old file or the whole new copy.
 *
 * sg_store_restore makes s's database the copy in the file src: the
 * statements fix (may be none) run on the incoming copy first, then the
 * copy replaces the content in one write transaction, between two writes:
 * every write acknowledged before it is gone after it, a write that waits
 * for the write lock runs after it, and a reader sees all of before or all
 * of after.  Writes that are waiting in an open batch commit first.  src is
 * not changed.  SG_ERR_NO_RESOURCE when src is missing, SG_ERR_STORE when
 * it is not a database of this backend (s is then unchanged);
 * SG_ERR_INTERNAL for a backend that cannot.
 */
sg_err sg_store_backup(sg_store *s, const char *dest);
sg_err sg_store_restore(sg_store *s, const char *src, const struct sg_sql *fix, size_t nfix);

/*
 * A short name of s's database for files kept outside it (its key):
 * "HOST-PORT-DBNAME" for a server, every character outside [A-Za-z0-9._-]
 * as '_' (a socket folder's '/' too).  *out new; SG_ERR_INTERNAL for a
 * backend whose database is a file (keep things beside that file).
 */
sg_err sg_store_ident(sg_store *s, char **out);

/*
 * Named snapshots kept inside the database, for backends that keep them
 * there (sg_store_snapshots_inside: PostgreSQL, a server every node shares);
 * the others keep files (sg_store_backup above, model/snapshot.c).
 *
 * save copies the whole database, as of one moment, under name (replacing
 * one of that name) in one write transaction: writers wait for it, readers
 * go on; created ("YYYY-MM-DD HH:MM:SS" UTC) is kept for list; more than
 * max snapshots are refused (SG_ERR_BAD_PARAM).  restore makes the database
 * the snapshot's content, the statements fix run after it in the same write
 * transaction (readers see all of before or all of after); SG_ERR_NO_RECORD
 * when there is none.  delete: SG_ERR_NO_RECORD when there is none.  list
 * gives fn one row per snapshot in name order: name, size (bytes), created.
 */
bool sg_store_snapshots_inside(const sg_store *s);
sg_err sg_store_snapshot_save(sg_store *s, const char *name, const char *created, size_t max);
sg_err sg_store_snapshot_restore(sg_store *s, const char *name, const struct sg_sql *fix,
                                 size_t nfix);
sg_err sg_store_snapshot_delete(sg_store *s, const char *name);
sg_err sg_store_snapshot_list(sg_store *s, sg_row_fn fn, void *ud);

/*
 * Messages between the processes serving one database: fn(ud) is called
 * from a thread of the store's own each time a transaction that ran the
 * dialect's notify for channel has committed (in any process, this one
 * included), and when messages may have been missed (a lost connection).
 * Calls may be merged: fn is told that something changed, not what.
 * *out is NULL when the backend has no messages (SQLite: its processes
 * compare counters only); else it is stopped with sg_store_unlisten before
 * s is closed.  channel is a plain name ([a-z_]+).
 */
typedef struct sg_listener sg_listener;
sg_err sg_store_listen(sg_store *s, const char *channel, void (*fn)(void *ud), void *ud,
                       sg_listener **out);
/* Stops l (NULL: nothing); fn is not called once it returns. */
void sg_store_unlisten(sg_listener *l);

/* This thread's connection to s, opened on first use.  NULL on failure.
 * Borrowed: the store closes it. */
sg_conn *sg_store_conn(sg_store *s);
/* Threads of this process waiting for the write lock (a write that ends
 * while some wait leaves the batch open for them). */
int sg_store_queued_writers(sg_store *s);

/*
 * Transactions nest: only the outermost begin/commit reaches the backend,
 * and a rollback inside makes the outermost commit roll back (SG_ERR_STORE).
 * A write transaction (write set) waits for the other writers.  A commit
 * that fails has rolled back.  A statement that fails changes nothing and
 * leaves the transaction usable.
 */
sg_err sg_conn_begin(sg_conn *c, bool write);
sg_err sg_conn_commit(sg_conn *c);
void sg_conn_rollback(sg_conn *c);
/* Runs q; rows go to fn (may be NULL); *changes (may be NULL) gets the rows
 * changed.  A constraint violated is SG_ERR_INVALID_INSERT; a q that failed
 * while being built, SG_ERR_INTERNAL. */
sg_err sg_conn_exec(sg_conn *c, const struct sg_sql *q, sg_row_fn fn, void *ud, long long *changes);
/* Runs q; rows go to fn with each value's length (reads BLOB columns). */
sg_err sg_conn_exec_bytes(sg_conn *c, const struct sg_sql *q, sg_row_bytes_fn fn, void *ud);
sg_err sg_conn_columns(sg_conn *c, const char *table, sg_row_fn fn, void *ud);
/* The dialect's DDL type name for type.  Static. */
const char *sg_conn_type_name(sg_conn *c, enum sg_coltype type);
/* Tells the planner what to assume of index on table (stats: see
 * sg_index_stats) until real statistics replace it.  Inside a write. */
sg_err sg_conn_index_hint(sg_conn *c, const char *table, const char *index,
                          const struct sg_index_stats *stats);
/* Upkeep run from a background thread: move committed pages out of the
 * log (so no request pays for it), and refresh planner statistics when
 * analyze is set. */
sg_err sg_conn_maintain(sg_conn *c, bool analyze);
/*
 * A lock named key shared by every process on the database, held by c's
 * session (through commits and rollbacks) until sg_conn_unlock or the
 * connection ends: waits at most wait_ms for another holder.  *got false
 * when the wait ran out.  SG_ERR_INTERNAL when the backend has no such
 * locks (SQLite: the caller locks a file beside the database instead).
 */
sg_err sg_conn_lock(sg_conn *c, long long key, long long wait_ms, bool *got);
void sg_conn_unlock(sg_conn *c, long long key);
/* True inside begin()..commit()/rollback(). */
bool sg_conn_in_transaction(const sg_conn *c);
/* The SQL dialect of c's backend.  Borrowed, static. */
const struct sg_dialect *sg_conn_dialect(sg_conn *c);
/* Runs a statement with no parameters (DDL, pragmas). */
sg_err sg_conn_exec_raw(sg_conn *c, const char *sql);
/* Runs q and copies the first column of the first row into a new string
 * (*out NULL when there is no row or the value is NULL); caller frees.
 * SG_ERR_NOMEM when the copy cannot be made. */
sg_err sg_conn_query_string(sg_conn *c, const struct sg_sql *q, char **out);
/* The same for bytes: *out gets a copy of the first column of the first row
 * (NUL-terminated past *len as well), *len its length; *out NULL when there
 * is no row or the value is NULL.  Caller frees *out. */
sg_err sg_conn_query_blob(sg_conn *c, const struct sg_sql *q, void **out, size_t *len);

#endif
