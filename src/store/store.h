/*
 * store.h - the one storage interface.
 *
 * Everything above this layer speaks SQL through sg_sql: statement text with
 * '?' placeholders, built with quoted identifiers and bound parameters only
 * (never a value spliced into the text).  A backend is a table of function
 * pointers (curl's vtls pattern); SQLite is the default, and a PostgreSQL
 * backend rewrites the placeholders and plugs in beside it without any
 * caller changing.
 *
 * Connections are per thread: sg_store_conn() hands each thread its own,
 * opened on first use and closed with the store.
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

struct sg_store_ops {
	const char *name;
	sg_err (*open)(const char *target, bool create, void **db);
	void (*close)(void *db);
	sg_err (*conn_open)(void *db, void **conn);
	void (*conn_close)(void *conn);
	sg_err (*begin)(void *conn, bool write);
	sg_err (*commit)(void *conn);
	void (*rollback)(void *conn);
	/* True while conn has a transaction open (the backend may end one on
	 * its own after an I/O error or a full disk).  May be NULL: a backend
	 * that never does. */
	bool (*in_transaction)(void *conn);
	/* Runs q; rows go to fn (may be NULL); *changes gets rows changed. */
	sg_err (*exec)(void *conn, const struct sg_sql *q, sg_row_fn fn, void *ud,
		       long long *changes);
	/* Lists the physical columns of a table to fn, one row per column
	 * with a single value: the column name. */
	sg_err (*columns)(void *conn, const char *table, sg_row_fn fn, void *ud);
	/* A description of the last error on conn, for logs. */
	const char *(*errmsg)(void *conn);
	const struct sg_dialect *dialect;
	/* Planner hint: stat is sqlite_stat1's "rows per-prefix-rows..." for
	 * index, for indexes whose leading columns are not selective (a class,
	 * a flag), so the planner prefers selective ones.  May do nothing. */
	sg_err (*index_hint)(void *conn, const char *table, const char *index, const char *stat);
	/* Upkeep run from a background thread: move committed pages out of the
	 * log (so no request pays for it), and refresh planner statistics when
	 * analyze is set.  May do nothing. */
	sg_err (*maintain)(void *conn, bool analyze);
};

typedef struct sg_store sg_store;
typedef struct sg_conn sg_conn;

extern const struct sg_store_ops sg_store_sqlite;

/*
 * Opens the store at target: a directory (SQLite file instance.db inside).
 * create makes the database when missing.  *out is freed by sg_store_close.
 */
sg_err sg_store_open(const char *target, bool create, sg_store **out);
void sg_store_close(sg_store *s);

/* This thread's connection to s, opened on first use.  NULL on failure.
 * Borrowed: the store closes it. */
sg_conn *sg_store_conn(sg_store *s);
/* Threads of this process waiting for the write lock (a write that ends
 * while some wait leaves the batch open for them). */
int sg_store_queued_writers(sg_store *s);

sg_err sg_conn_begin(sg_conn *c, bool write);
sg_err sg_conn_commit(sg_conn *c);
void sg_conn_rollback(sg_conn *c);
sg_err sg_conn_exec(sg_conn *c, const struct sg_sql *q, sg_row_fn fn, void *ud,
		    long long *changes);
sg_err sg_conn_columns(sg_conn *c, const char *table, sg_row_fn fn, void *ud);
const char *sg_conn_type_name(sg_conn *c, enum sg_coltype type);
sg_err sg_conn_index_hint(sg_conn *c, const char *table, const char *index, const char *stat);
sg_err sg_conn_maintain(sg_conn *c, bool analyze);
/* True inside begin()..commit()/rollback(). */
bool sg_conn_in_transaction(const sg_conn *c);
/* The SQL dialect of c's backend.  Borrowed, static. */
const struct sg_dialect *sg_conn_dialect(sg_conn *c);
/* Runs a statement with no parameters (DDL, pragmas). */
sg_err sg_conn_exec_raw(sg_conn *c, const char *sql);
/* Runs q and copies the first column of the first row into a new string
 * (*out NULL when there is no row or the value is NULL); caller frees. */
sg_err sg_conn_query_string(sg_conn *c, const struct sg_sql *q, char **out);

#endif
