/*
 * backend.h - what a storage backend implements (for backends only; callers
 * use store.h).
 *
 * A backend is a table of function pointers found by its URL scheme (curl's
 * vtls pattern): store.c keeps the registry, the per-thread connections and
 * the nesting of transactions, and calls a backend for everything that
 * touches the engine: connections, transactions (including how concurrent
 * writers are serialised and batched), statements, blobs, planner hints and
 * upkeep.  What differs in SQL text is the backend's dialect (dialect.h).
 *
 * A backend's connection is used by one thread at a time.  Statement text
 * comes in sg_sql's portable form (sql.h).
 */
#ifndef SG_STORE_BACKEND_H
#define SG_STORE_BACKEND_H

#include "store/store.h"

struct sg_store_ops {
	/* The URL scheme that selects it: "sqlite" for sqlite:PATH. */
	const char *scheme;
	/*
	 * Opens the database named by where: what follows "scheme:" in the URL
	 * or, when dir is set, a data directory holding the database under the
	 * backend's own name (the default backend only: --data DIR).  create
	 * makes it when missing.  Nothing is connected yet.  *db is freed by
	 * close or drop.
	 */
	sg_err (*open)(const char *where, bool dir, bool create, void **db);
	void (*close)(void *db);
	/* *out: whether the database named as for open exists. */
	sg_err (*exists)(const char *where, bool dir, bool *out);
	/* Deletes db's database (every connection to it is closed), then
	 * frees db as close does.  May be NULL: the backend cannot. */
	sg_err (*drop)(void *db);
	/* A connection for one thread; *conn is freed by conn_close. */
	sg_err (*conn_open)(void *db, void **conn);
	void (*conn_close)(void *conn);
	/*
	 * The outermost transaction of conn (store.c counts nesting).  begin
	 * with write set may wait for other writers; the backend may commit
	 * several writers' transactions together, but commit returns success
	 * only once this one's changes are durable, and a transaction rolled
	 * back or failed never takes another's changes with it.  commit rolls
	 * back what it could not commit; rollback keeps nothing.
	 */
	sg_err (*begin)(void *conn, bool write);
	sg_err (*commit)(void *conn);
	void (*rollback)(void *conn);
	/* Runs q; rows go to fn (may be NULL); *changes (may be NULL) gets the
	 * rows changed.  A failed statement changes nothing, and the
	 * transaction it ran in goes on. */
	sg_err (*exec)(void *conn, const struct sg_sql *q, sg_row_fn fn, void *ud,
	               long long *changes);
	/* Runs q; rows go to fn with each value's length (BLOBs as bytes). */
	sg_err (*exec_bytes)(void *conn, const struct sg_sql *q, sg_row_bytes_fn fn, void *ud);
	/* Lists the physical columns of a table to fn, one row per column
	 * with a single value: the column name. */
	sg_err (*columns)(void *conn, const char *table, sg_row_fn fn, void *ud);
	/* A description of the last error on conn, for logs.  Borrowed. */
	const char *(*errmsg)(void *conn);
	/* Planner hint for index on table (see sg_conn_index_hint).  May be
	 * NULL or do nothing. */
	sg_err (*index_hint)(void *conn, const char *table, const char *index,
	                     const struct sg_index_stats *stats);
	/* Upkeep from a background thread (see sg_conn_maintain).  May be NULL. */
	sg_err (*maintain)(void *conn, bool analyze);
	/* Threads of this process waiting to write.  May be NULL (0). */
	int (*queued_writers)(void *db);
	/* A consistent copy of db's database written to the file dest
	 * (sg_store_backup).  May be NULL: the backend cannot. */
	sg_err (*backup)(void *db, const char *dest);
	/* Replaces db's content with the database in the file src, fix run on
	 * the incoming copy first, atomically for every reader and between
	 * writes (sg_store_restore).  May be NULL. */
	sg_err (*restore)(void *db, const char *src, const struct sg_sql *fix, size_t nfix);
	/* A short name of db for files kept outside it (sg_store_ident): new
	 * string in *out.  May be NULL: a backend whose database is a file. */
	sg_err (*ident)(void *db, char **out);
	/* Named snapshots kept inside the database (a server shared by several
	 * nodes, where files beside one node are no use), on c: see
	 * sg_store_snapshot_save and the rest in store.h.  NULL: the backend
	 * keeps them as files (backup and restore above). */
	sg_err (*snap_save)(sg_conn *c, const char *name, const char *created, size_t max);
	sg_err (*snap_restore)(sg_conn *c, const char *name, const struct sg_sql *fix, size_t nfix);
	sg_err (*snap_delete)(sg_conn *c, const char *name);
	sg_err (*snap_list)(sg_conn *c, sg_row_fn fn, void *ud);
	/* A lock named key shared by every process on the database, taken
	 * without waiting by conn's session (*got false: another holds it) and
	 * kept through commits and rollbacks until unlock or the connection
	 * ends (sg_conn_lock).  May be NULL: the engine has none. */
	sg_err (*try_lock)(void *conn, long long key, bool *got);
	void (*unlock)(void *conn, long long key);
	/* Calls fn(ud) from a thread of the backend's own, with a connection of
	 * its own, whenever a transaction that notified channel (the dialect's
	 * notify) has committed, and after that connection was lost and made
	 * again (messages may have been missed); *handle is for unlisten, which
	 * stops the thread.  May be NULL: the engine has no such messages. */
	sg_err (*listen)(void *db, const char *channel, void (*fn)(void *ud), void *ud,
	                 void **handle);
	void (*unlisten)(void *handle);
	const struct sg_dialect *dialect;
};

extern const struct sg_store_ops sg__store_sqlite;
/* pg.c: postgresql://... and the same under postgres://... */
extern const struct sg_store_ops sg__store_pg, sg__store_postgres;

#endif
