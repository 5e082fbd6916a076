/*
 * pg_int.h - what the PostgreSQL backend's files share (pg.c: databases,
 * connections, statements; pg_dialect.c: SQL text).  Private to src/store.
 */
#ifndef SG_STORE_PG_INT_H
#define SG_STORE_PG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/dialect.h"

/* Rewrites sql's '?' placeholders (outside string literals and quoted
 * identifiers) as $1, $2...; a new string, NULL when memory ran out. */
char *sg__pg_placeholders(const char *sql);

extern const struct sg_dialect sg_dialect_pg;

#endif
