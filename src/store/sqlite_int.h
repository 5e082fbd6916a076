/*
 * sqlite_int.h - what the SQLite backend's files share (sqlite.c: files,
 * connections and statements; sqlite_batch.c: group commit).  Private to
 * src/store.
 */
#ifndef SG_STORE_SQLITE_INT_H
#define SG_STORE_SQLITE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "store/backend.h"

#define SG__SQ_STMT_CACHE 128

struct sg__sq_slot {
	char *sql;
	sqlite3_stmt *stmt;
};

/* One SQLite connection and its cache of prepared statements. */
struct sg__sq_handle {
	sqlite3 *db; /* NULL until opened */
	struct sg__sq_slot cache[SG__SQ_STMT_CACHE];
};

/* A write settled in the open batch, waiting for its commit. */
struct sg__sq_waiter {
	struct sg__sq_waiter *next;
	sg_err err;
	bool done;
};

/* Group commit (sqlite_batch.c); all under write_lock but queued. */
struct sg__sq_batch {
	/* Writers of this process queue here rather than in the database's
	 * busy handler, whose sleeps make waits long and unfair. */
	pthread_mutex_t write_lock;
	struct sg__sq_handle writer;   /* the connection every write runs on */
	atomic_int queued;             /* threads waiting for write_lock to write */
	bool open;                     /* writer has a transaction open */
	size_t len;                    /* writes settled in it, awaiting its commit */
	struct sg__sq_waiter *waiters; /* their threads */
	pthread_cond_t done;           /* signalled when the batch commits or fails */
};

struct sg__sq_db {
	char *path;
	struct sg__sq_batch batch;
};

/* A thread's connection: its own for reads, the store's writer while it
 * writes. */
struct sg__sq_conn {
	struct sg__sq_db *d;
	struct sg__sq_handle own;
	struct sg__sq_handle *cur; /* where statements run: &own or &d->batch.writer */
	bool writing;              /* holds the batch's write lock */
	bool savepoint;            /* the write has its own savepoint in the batch */
	bool in_txn;               /* a transaction (read or write) is open on cur */
};

sg_err sg__sq_map_rc(int rc);
/* Opens h on d's file (WAL, busy timeout, pragmas); h->db NULL on failure. */
sg_err sg__sq_handle_open(struct sg__sq_db *d, struct sg__sq_handle *h);
void sg__sq_handle_close(struct sg__sq_handle *h);
/* Runs sql (no parameters, no rows) through h's statement cache. */
sg_err sg__sq_exec_sql(struct sg__sq_handle *h, const char *sql);
/* Runs q (no rows wanted) on h. */
sg_err sg__sq_exec(struct sg__sq_handle *h, const struct sg_sql *q);
/* Runs sql with sqlite3_exec (BEGIN, COMMIT: nothing to cache). */
sg_err sg__sq_run(struct sg__sq_handle *h, const char *sql);

void sg__sq_batch_init(struct sg__sq_batch *b);
/* Closes the writer; no write may be in progress. */
void sg__sq_batch_cleanup(struct sg__sq_batch *b);
/* c's write: waits for the write lock, then opens the batch or a savepoint
 * in it.  On failure nothing is held. */
sg_err sg__sq_write_begin(struct sg__sq_conn *c);
/* Ends c's write: kept (committed with the batch; returns the batch's
 * fate) or rolled back alone; gives up the write lock. */
sg_err sg__sq_write_end(struct sg__sq_conn *c, bool keep);

/* Takes the write lock for something that replaces the database
 * (sqlite_backup.c): the open batch, if any, is committed first and its
 * writers woken with its fate; the writer connection is opened.  On
 * failure nothing is held. */
sg_err sg__sq_batch_lock(struct sg__sq_db *d);
void sg__sq_batch_unlock(struct sg__sq_db *d);

/* sqlite_backup.c: the backend's backup and restore (backend.h). */
sg_err sg__sq_backup(void *db, const char *dest);
sg_err sg__sq_restore(void *db, const char *src, const struct sg_sql *fix, size_t nfix);

#endif
