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

#include "core/buf.h"
#include "core/err.h"

enum sg_param_kind { SG_PARAM_NULL, SG_PARAM_TEXT, SG_PARAM_INT };

struct sg_param {
	enum sg_param_kind kind;
	char *text; /* owned by the sg_sql */
	long long i;
};

/* A statement under construction: text plus parameters, sticky failure. */
struct sg_sql {
	struct sg_buf text;
	struct sg_param *params;
	size_t nparams, cap;
	bool failed;
};

void sg_sql_init(struct sg_sql *q);
void sg_sql_cleanup(struct sg_sql *q);
void sg_sql_reset(struct sg_sql *q);
/* Appends SQL text written by the program (keywords, punctuation). */
void sg_sql_raw(struct sg_sql *q, const char *sql);
/* Appends a double-quoted identifier; a name that is not [a-z0-9_] fails q. */
void sg_sql_ident(struct sg_sql *q, const char *name);
/* Appends "table"."column". */
void sg_sql_qual(struct sg_sql *q, const char *alias, const char *column);
/* Appends '?' and binds value (copied); NULL binds SQL NULL. */
void sg_sql_text(struct sg_sql *q, const char *value);
void sg_sql_int(struct sg_sql *q, long long value);

/* Appends src's text and parameters to q. */
void sg_sql_append(struct sg_sql *q, const struct sg_sql *src);

/* A point in a statement to rewind to, dropping what was appended since. */
struct sg_sql_mark {
	size_t len, nparams;
};
struct sg_sql_mark sg_sql_mark(const struct sg_sql *q);
void sg_sql_rewind(struct sg_sql *q, struct sg_sql_mark m);

/*
 * Called once per result row with the column names and values as text
 * (NULL for SQL NULL), all borrowed for the call.  Return non-zero to stop.
 */
typedef int (*sg_row_fn)(void *ud, int ncol, const char *const *names, const char *const *vals);

enum sg_coltype { SG_COL_TEXT, SG_COL_INTEGER, SG_COL_REAL };

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
	/* The SQL type name used in DDL for a column type. */
	const char *(*type_name)(enum sg_coltype type);
	/* A description of the last error on conn, for logs. */
	const char *(*errmsg)(void *conn);
	/* Dialect: appends an expression for the date-time column alias.col
	 * shifted by n units (second, minute, hour, day, month, year). */
	void (*date_add)(struct sg_sql *q, const char *alias, const char *col, long long n,
			 const char *unit);
	/* Dialect: appends an integer expression for part of a date-time column
	 * (dayofweek 0=Sunday, month 1-12, year, hour, dayofmonth, quarter).
	 * False when the part is unknown (nothing appended). */
	bool (*date_part)(struct sg_sql *q, const char *alias, const char *col, const char *part);
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
/* The backend's SQL dialect hooks. */
const struct sg_store_ops *sg_conn_ops(sg_conn *c);
/* Runs a statement with no parameters (DDL, pragmas). */
sg_err sg_conn_exec_raw(sg_conn *c, const char *sql);
/* Runs q and copies the first column of the first row into a new string
 * (*out NULL when there is no row or the value is NULL); caller frees. */
sg_err sg_conn_query_string(sg_conn *c, const struct sg_sql *q, char **out);

#endif
