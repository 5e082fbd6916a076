/*
 * dialect.h - what differs in SQL text between database engines.
 *
 * The query compiler and the schema code write portable SQL through sg_sql
 * and ask the dialect for the pieces each engine spells its own way (date
 * arithmetic, date parts, column types).  A dialect has no connection: it
 * only appends text and parameters to a statement.
 */
#ifndef SG_STORE_DIALECT_H
#define SG_STORE_DIALECT_H

#include <stdbool.h>

#include "store/sql.h"

enum sg_coltype { SG_COL_TEXT, SG_COL_INTEGER, SG_COL_REAL };

struct sg_dialect {
	const char *name;
	/* The SQL type name used in DDL for a column type. */
	const char *(*type_name)(enum sg_coltype type);
	/* Appends an expression for the date-time column alias.col shifted by
	 * n units (second, minute, hour, day, month, year). */
	void (*date_add)(struct sg_sql *q, const char *alias, const char *col, long long n,
			 const char *unit);
	/* Appends an integer expression for part of a date-time column
	 * (dayofweek 0=Sunday, month 1-12, year, hour, dayofmonth, quarter).
	 * False when the part is unknown (nothing appended). */
	bool (*date_part)(struct sg_sql *q, const char *alias, const char *col, const char *part);
};

extern const struct sg_dialect sg_dialect_sqlite;

#endif
