/*
 * pg_int.h - what the PostgreSQL backend's files share (pg.c: databases,
 * connections, statements; pg_dialect.c: SQL text).  Private to src/store.
 */
#ifndef SG_STORE_PG_INT_H
#define SG_STORE_PG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/dialect.h"
#include "store/store.h"

/* Rewrites sql's '?' placeholders (outside string literals and quoted
 * identifiers) as $1, $2...; a new string, NULL when memory ran out. */
char *sg__pg_placeholders(const char *sql);

extern const struct sg_dialect sg_dialect_pg;

/* pg_snapshot.c: named snapshots as schemas (backend.h's snap_*). */
sg_err sg__pg_snap_save(sg_conn *c, const char *name, const char *created, size_t max);
sg_err sg__pg_snap_restore(sg_conn *c, const char *name, const struct sg_sql *fix, size_t nfix);
sg_err sg__pg_snap_delete(sg_conn *c, const char *name);
sg_err sg__pg_snap_list(sg_conn *c, sg_row_fn fn, void *ud);

#endif
