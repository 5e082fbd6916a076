/*
 * sqlite_batch.c - group commit for the SQLite backend.
 *
 * SQLite has one writer at a time and a commit costs a sync to disk.  Every
 * write transaction of this process runs on one connection, the writer,
 * inside a batch transaction: the write that opens the batch as the
 * transaction itself, each later one as a savepoint.  A write that ends
 * while other writers are queued leaves the batch open for them and waits;
 * the write that ends with nobody queued (or fills the batch) commits it,
 * with one sync for all of them, and wakes them.  Nobody returns success
 * before the commit that holds its write is durable, and a write that fails
 * is rolled back alone: to its savepoint, or, when it opened the batch, with
 * the whole transaction, which holds nothing else.  With one writer at a
 * time this is exactly one transaction per write.
 */
#include <stdlib.h>

#include "core/log.h"
#include "store/sqlite_int.h"

/* More writes than this wait for the next commit. */
#define MAX_BATCH 64

void sg__sq_batch_init(struct sg__sq_batch *b)
{
	pthread_mutex_init(&b->write_lock, NULL);
	pthread_cond_init(&b->done, NULL);
}

void sg__sq_batch_cleanup(struct sg__sq_batch *b)
{
	sg__sq_handle_close(&b->writer);
	pthread_mutex_destroy(&b->write_lock);
	pthread_cond_destroy(&b->done);
}

/* Settles every write waiting in the batch with err and wakes them. */
static void settle(struct sg__sq_batch *b, sg_err err)
{
	for (struct sg__sq_waiter *w = b->waiters; w; w = w->next) {
		w->err = err;
		w->done = true;
	}
	b->waiters = NULL;
	b->len = 0;
	b->open = false;
	pthread_cond_broadcast(&b->done);
}

/* Under write_lock: c's write opens the batch transaction, or a savepoint
 * in the open one. */
static sg_err open_write(struct sg__sq_conn *c)
{
	struct sg__sq_batch *b = &c->d->batch;
	sg_err err = SG_ERR_OK;
	c->savepoint = false;
	if (!b->writer.db)
		err = sg__sq_handle_open(c->d, &b->writer);
	if (!err && !b->open) {
		err = sg__sq_run(&b->writer, "BEGIN IMMEDIATE");
		b->open = !err;
	} else if (!err) {
		err = sg__sq_exec_sql(&b->writer, "SAVEPOINT sg_write");
		c->savepoint = !err;
	}
	if (!err)
		c->cur = &b->writer;
	return err;
}

/*
 * Ends c's write (kept: released into the batch; otherwise rolled back
 * alone; opened: c's write had opened), then commits the batch or leaves it
 * to a queued writer, and gives up write_lock.  Returns the fate of a kept
 * write: the batch's commit.
 */
static sg_err end_write(struct sg__sq_conn *c, bool keep, bool opened)
{
	struct sg__sq_batch *b = &c->d->batch;
	sg_err err = SG_ERR_OK;
	c->cur = &c->own;
	c->writing = false;
	if (opened && c->savepoint) {
		if (keep)
			err = sg__sq_exec_sql(&b->writer, "RELEASE SAVEPOINT sg_write");
		if (!keep || err) {
			sg__sq_exec_sql(&b->writer, "ROLLBACK TO SAVEPOINT sg_write");
			sg__sq_exec_sql(&b->writer, "RELEASE SAVEPOINT sg_write");
			keep = false;
		}
	} else if (opened && !keep) {
		/* It opened the batch: the transaction holds this write alone. */
		if (!sqlite3_get_autocommit(b->writer.db))
			sqlite3_exec(b->writer.db, "ROLLBACK", NULL, NULL, NULL);
		b->open = false;
	}
	c->savepoint = false;
	if (b->open && sqlite3_get_autocommit(b->writer.db)) {
		/* SQLite ended the transaction on an error (disk full, I/O):
		 * every write in the batch is gone, none acknowledged yet. */
		sg_log_error("store: a batch of %zu writes was rolled back by the database",
		             b->len + (keep ? 1 : 0));
		settle(b, SG_ERR_STORE);
		pthread_mutex_unlock(&b->write_lock);
		return keep ? SG_ERR_STORE : err;
	}
	struct sg__sq_waiter me = {.err = SG_ERR_OK};
	if (keep) {
		me.next = b->waiters;
		b->waiters = &me;
		b->len++;
	}
	if (b->open && atomic_load(&b->queued) > 0 && b->len < MAX_BATCH) {
		/* A queued writer will commit the batch, or pass it on. */
		if (keep) {
			while (!me.done)
				pthread_cond_wait(&b->done, &b->write_lock);
		}
		pthread_mutex_unlock(&b->write_lock);
		return keep ? me.err : err;
	}
	if (b->open) {
		sg_err cerr = b->len ? sg__sq_run(&b->writer, "COMMIT") : SG_ERR_OK;
		if ((!b->len || cerr) && !sqlite3_get_autocommit(b->writer.db))
			sqlite3_exec(b->writer.db, "ROLLBACK", NULL, NULL, NULL);
		if (cerr)
			sg_log_error("store: commit of %zu writes failed: %s", b->len,
			             sqlite3_errmsg(b->writer.db));
		settle(b, cerr);
	}
	pthread_mutex_unlock(&b->write_lock);
	return keep ? me.err : err;
}

sg_err sg__sq_write_begin(struct sg__sq_conn *c)
{
	struct sg__sq_batch *b = &c->d->batch;
	atomic_fetch_add(&b->queued, 1);
	pthread_mutex_lock(&b->write_lock);
	atomic_fetch_sub(&b->queued, 1);
	c->writing = true;
	sg_err err = open_write(c);
	if (err)
		end_write(c, false, c->cur == &b->writer);
	return err;
}

sg_err sg__sq_write_end(struct sg__sq_conn *c, bool keep)
{
	return end_write(c, keep, true);
}

sg_err sg__sq_batch_lock(struct sg__sq_db *d)
{
	struct sg__sq_batch *b = &d->batch;
	atomic_fetch_add(&b->queued, 1);
	pthread_mutex_lock(&b->write_lock);
	atomic_fetch_sub(&b->queued, 1);
	sg_err err = SG_ERR_OK;
	if (!b->writer.db)
		err = sg__sq_handle_open(d, &b->writer);
	if (!err && b->open) {
		/* Writers parked in the batch: theirs commits before anything
		 * replaces the database, as the next writer would have done. */
		sg_err cerr = b->len ? sg__sq_run(&b->writer, "COMMIT") : SG_ERR_OK;
		if ((!b->len || cerr) && !sqlite3_get_autocommit(b->writer.db))
			sqlite3_exec(b->writer.db, "ROLLBACK", NULL, NULL, NULL);
		settle(b, cerr);
	}
	if (err)
		pthread_mutex_unlock(&b->write_lock);
	return err;
}

void sg__sq_batch_unlock(struct sg__sq_db *d)
{
	pthread_mutex_unlock(&d->batch.write_lock);
}
