/*
 * dialect.h - what differs in SQL text between database engines.
 *
 * The query compiler and the schema code write portable SQL through sg_sql
 * and ask the dialect for the pieces each engine spells its own way: case
 * rules, date arithmetic and parts, column types and DDL.  A dialect has no
 * connection: it only appends text and parameters to a statement, so code
 * that compiles SQL needs the dialect, never a connection.
 *
 * Identifiers and placeholders are not here: sg_sql writes them in one
 * portable form (sql.h) that a backend rewrites if its engine needs to.
 * Planner hints need a connection: they are the backend's (backend.h).
 */
#ifndef SG_STORE_DIALECT_H
#define SG_STORE_DIALECT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/sql.h"

/*
 * Column types.  TEXT compares, sorts and matches (=, <, IN, ORDER BY,
 * GROUP BY, the dialect's like) case-insensitively for ASCII letters, as the
 * platform's database does; ID is a record's sys_id, the primary key,
 * compared exactly; BLOB holds bytes (sg_sql_blob, sg_conn_query_blob).
 */
enum sg_coltype { SG_COL_TEXT, SG_COL_INTEGER, SG_COL_REAL, SG_COL_ID, SG_COL_BLOB };

/* A column of a table being created (names are borrowed). */
struct sg_coldef {
	const char *name;
	enum sg_coltype type;
};

struct sg_dialect {
	const char *name;
	/* The operators (spaces around) of a case-insensitive pattern match and
	 * its negation; the pattern that follows uses % and _ and is followed by
	 * " ESCAPE '\'". */
	const char *like, *not_like;
	/* The SQL type name used in DDL for a column type (with the collation
	 * that gives TEXT its case rule).  Static. */
	const char *(*type_name)(enum sg_coltype type);
	/* DDL, each appended to q as one statement: a table whose columns are
	 * cols (an SG_COL_ID column is the primary key); one more column; an
	 * index on the leading columns cols (nothing when one of that name is
	 * already there). */
	void (*create_table)(struct sg_sql *q, const char *table, const struct sg_coldef *cols,
	                     size_t ncols);
	void (*add_column)(struct sg_sql *q, const char *table, const struct sg_coldef *col);
	void (*create_index)(struct sg_sql *q, const char *table, const char *name,
	                     const char *const *cols, size_t ncols);
	/* Appends an expression for the date-time column alias.col shifted by
	 * n units (second, minute, hour, day, month, year). */
	void (*date_add)(struct sg_sql *q, const char *alias, const char *col, long long n,
	                 const char *unit);
	/* Appends an integer expression for part of a date-time column
	 * (dayofweek 0=Sunday, month 1-12, year, hour, dayofmonth, quarter).
	 * False when the part is unknown (nothing appended). */
	bool (*date_part)(struct sg_sql *q, const char *alias, const char *col, const char *part);
	/* What follows an ORDER BY key ascending and descending (spaces
	 * before) so that NULL sorts first ascending and last
	 * descending, as on the platform's database (and SQLite by default). */
	const char *order_asc, *order_desc;
	/* Appends a query whose one row's one column is the path of the file
	 * that holds the database (empty or no row for an in-memory one); false
	 * when the engine keeps no file a program could lock or sit beside
	 * (nothing appended). */
	bool (*db_file)(struct sg_sql *q);
	/* Appends what follows a SELECT that claims a row of a shared queue
	 * inside a write, so that a row another writer holds is passed over
	 * (FOR UPDATE OF table SKIP LOCKED); table is the FROM item's name or
	 * alias.  NULL: the engine has one writer at a time, nothing to add. */
	void (*claim_lock)(struct sg_sql *q, const char *table);
	/* Appends a statement that tells every listener on channel (see
	 * sg_store_listen) once the transaction it runs in commits.  NULL: the
	 * engine has no such messages (its processes compare counters only). */
	void (*notify)(struct sg_sql *q, const char *channel, const char *payload);
	/* Appends alias.sys_id as a value compared with a reference column
	 * (a dot-walk's "ref IN (SELECT sys_id ...)"), so that both sides have
	 * one type and the planner may join through the reference's index.
	 * NULL: the column as it is (the engine compares them as one type). */
	void (*ref_key)(struct sg_sql *q, const char *alias);
	/* Appends alias.col, a text column, as the number SQLite's numeric
	 * affinity reads when it compares the column with a number column: the
	 * value when the whole of it is one (blanks, sign, digits, point,
	 * exponent), else NULL (text, above every number there).  NULL: the
	 * engine converts so itself, the columns are compared as they are. */
	void (*text_number)(struct sg_sql *q, const char *alias, const char *col);
	/* Appends fn ("SUM" or "AVG") of alias.col, a text column, as SQLite's
	 * sum() and avg() read text: each value's leading number, 0 when it has
	 * none, NULL left out; a SUM of integers only is an integer, any other a
	 * REAL written as SQLite writes one.  number: a DOUBLE PRECISION to
	 * compare or sort by (HAVING, ORDER BY) instead.  NULL: fn(alias.col),
	 * the engine reads the text so itself. */
	void (*text_aggregate)(struct sg_sql *q, const char *fn, const char *alias, const char *col,
	                       bool number);
};

extern const struct sg_dialect sg_dialect_sqlite;

#endif
