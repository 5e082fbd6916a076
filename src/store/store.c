/*
 * store.c - backend dispatch, per-thread connections and the SQL builder.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

struct sg_conn {
	sg_store *store;
	void *impl; /* this thread's backend connection */
	void *cur;  /* where statements run: impl, or the store's writer while writing */
	struct sg_conn *next_in_store;
	int depth; /* nested begin() calls; only the outermost reaches the backend */
	bool failed;
	bool writing; /* holds the store's write lock */
	bool savepoint; /* the write has its own savepoint in the batch */
};

struct sg_store {
	const struct sg_store_ops *ops;
	void *db;
	unsigned long serial; /* tells this store from a later one at the same address */
	pthread_mutex_t lock;
	struct sg_conn *conns;
	/* Writers of this process queue here rather than in the database's
	 * busy handler, whose sleeps make waits long and unfair. */
	pthread_mutex_t write_lock;
	/* Group commit (see sg_conn_commit); all under write_lock but queued. */
	void *writer;		     /* the backend connection every write runs on */
	atomic_int queued;	     /* threads waiting for write_lock to write */
	bool batch_open;	     /* writer has a transaction open */
	size_t batch_len;	     /* writes settled in it, awaiting its commit */
	struct batch_waiter *batch;  /* their threads */
	pthread_cond_t batch_done;   /* signalled when the batch commits or fails */
};

/* A write settled in the open batch, waiting for its commit. */
struct batch_waiter {
	struct batch_waiter *next;
	sg_err err;
	bool done;
};

/* More writes than this wait for the next commit. */
#define MAX_BATCH 64

/* Each thread remembers its connection for a few stores at most. */
#define CONN_SLOTS 4
struct conn_slot {
	unsigned long serial;
	struct sg_conn *conn;
};
static __thread struct conn_slot thread_conns[CONN_SLOTS];
static atomic_ulong next_serial = 1;

/* ---- SQL builder ------------------------------------------------------- */

void sg_sql_init(struct sg_sql *q)
{
	memset(q, 0, sizeof(*q));
	sg_buf_init(&q->text, 4 * 1024 * 1024);
}

void sg_sql_reset(struct sg_sql *q)
{
	for (size_t i = 0; i < q->nparams; i++)
		free(q->params[i].text);
	q->nparams = 0;
	q->failed = false;
	sg_buf_reset(&q->text);
}

void sg_sql_cleanup(struct sg_sql *q)
{
	sg_sql_reset(q);
	free(q->params);
	sg_buf_cleanup(&q->text);
	memset(q, 0, sizeof(*q));
}

void sg_sql_raw(struct sg_sql *q, const char *sql)
{
	sg_buf_puts(&q->text, sql);
}

void sg_sql_ident(struct sg_sql *q, const char *name)
{
	if (!sg_str_is_ident(name, 80)) {
		q->failed = true;
		return;
	}
	sg_buf_putc(&q->text, '"');
	sg_buf_puts(&q->text, name);
	sg_buf_putc(&q->text, '"');
}

void sg_sql_qual(struct sg_sql *q, const char *alias, const char *column)
{
	sg_sql_ident(q, alias);
	sg_buf_putc(&q->text, '.');
	sg_sql_ident(q, column);
}

static struct sg_param *add_param(struct sg_sql *q)
{
	if (q->nparams == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		struct sg_param *p = realloc(q->params, cap * sizeof(*p));
		if (!p) {
			q->failed = true;
			return NULL;
		}
		q->params = p;
		q->cap = cap;
	}
	struct sg_param *p = &q->params[q->nparams++];
	memset(p, 0, sizeof(*p));
	sg_buf_putc(&q->text, '?');
	return p;
}

void sg_sql_text(struct sg_sql *q, const char *value)
{
	struct sg_param *p = add_param(q);
	if (!p)
		return;
	if (!value)
		return; /* SG_PARAM_NULL */
	p->text = strdup(value);
	if (!p->text) {
		q->failed = true;
		return;
	}
	p->kind = SG_PARAM_TEXT;
}

void sg_sql_int(struct sg_sql *q, long long value)
{
	struct sg_param *p = add_param(q);
	if (!p)
		return;
	p->kind = SG_PARAM_INT;
	p->i = value;
}

void sg_sql_append(struct sg_sql *q, const struct sg_sql *src)
{
	if (src->failed || sg_buf_failed(&src->text)) {
		q->failed = true;
		return;
	}
	/* Identifiers are [a-z0-9_] and program text has no '?', so every '?'
	 * in src is one of its placeholders, in order. */
	size_t pi = 0;
	for (const char *p = sg_buf_str(&src->text); *p; p++) {
		if (*p != '?' || pi >= src->nparams) {
			sg_buf_putc(&q->text, *p);
			continue;
		}
		const struct sg_param *sp = &src->params[pi++];
		if (sp->kind == SG_PARAM_INT)
			sg_sql_int(q, sp->i);
		else
			sg_sql_text(q, sp->kind == SG_PARAM_TEXT ? sp->text : NULL);
	}
}

struct sg_sql_mark sg_sql_mark(const struct sg_sql *q)
{
	struct sg_sql_mark m = {q->text.len, q->nparams};
	return m;
}

void sg_sql_rewind(struct sg_sql *q, struct sg_sql_mark m)
{
	if (sg_buf_failed(&q->text) || m.len > q->text.len || m.nparams > q->nparams)
		return;
	q->text.len = m.len;
	if (q->text.data)
		q->text.data[m.len] = '\0';
	for (size_t i = m.nparams; i < q->nparams; i++)
		free(q->params[i].text);
	q->nparams = m.nparams;
}

/* ---- store and connections --------------------------------------------- */

sg_err sg_store_open(const char *target, bool create, sg_store **out)
{
	sg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return SG_ERR_NOMEM;
	s->ops = &sg_store_sqlite;
	s->serial = atomic_fetch_add(&next_serial, 1);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_cond_init(&s->batch_done, NULL);
	sg_err err = s->ops->open(target, create, &s->db);
	if (err) {
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->write_lock);
		pthread_cond_destroy(&s->batch_done);
		free(s);
		return err;
	}
	*out = s;
	return SG_ERR_OK;
}

void sg_store_close(sg_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < CONN_SLOTS; i++)
		if (thread_conns[i].serial == s->serial)
			thread_conns[i].serial = 0;
	struct sg_conn *c = s->conns;
	while (c) {
		struct sg_conn *next = c->next_in_store;
		s->ops->conn_close(c->impl);
		free(c);
		c = next;
	}
	if (s->writer)
		s->ops->conn_close(s->writer);
	s->ops->close(s->db);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->write_lock);
	pthread_cond_destroy(&s->batch_done);
	free(s);
}

sg_conn *sg_store_conn(sg_store *s)
{
	int free_slot = -1;
	for (int i = 0; i < CONN_SLOTS; i++) {
		if (thread_conns[i].serial == s->serial)
			return thread_conns[i].conn;
		if (free_slot < 0 && thread_conns[i].serial == 0)
			free_slot = i;
	}
	if (free_slot < 0)
		free_slot = 0; /* forget the oldest; the store still owns it */
	struct sg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->store = s;
	if (s->ops->conn_open(s->db, &c->impl)) {
		free(c);
		return NULL;
	}
	c->cur = c->impl;
	pthread_mutex_lock(&s->lock);
	c->next_in_store = s->conns;
	s->conns = c;
	pthread_mutex_unlock(&s->lock);
	thread_conns[free_slot].serial = s->serial;
	thread_conns[free_slot].conn = c;
	return c;
}

int sg_store_queued_writers(sg_store *s)
{
	return atomic_load(&s->queued);
}

/*
 * Transactions nest: the model opens one per operation, and a caller that
 * groups several operations (nowctl loading demo data) wraps them in its own.
 * A failure anywhere inside makes the outermost commit roll back.
 *
 * Group commit.  Every write transaction of this process runs on one backend
 * connection, the store's writer, inside a batch transaction: the write that
 * opens the batch as the transaction itself, each later one as a savepoint.
 * A write that ends while other writers are queued leaves the batch open for
 * them and waits; the write that ends with nobody queued (or fills the batch)
 * commits it, with one sync to disk for all of them, and wakes them.  Nobody
 * returns success before the commit that holds its write is durable, and a
 * write that fails is rolled back alone: to its savepoint, or, when it opened
 * the batch, with the whole transaction, which holds nothing else.  With one
 * writer at a time this is exactly one transaction per write.
 */
static sg_err run_on(sg_conn *c, void *conn, const char *sql)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, sql);
	sg_err err = q.failed ? SG_ERR_NOMEM : c->store->ops->exec(conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

/* Settles every write waiting in the batch with err and wakes them. */
static void settle_batch(sg_store *s, sg_err err)
{
	for (struct batch_waiter *w = s->batch; w; w = w->next) {
		w->err = err;
		w->done = true;
	}
	s->batch = NULL;
	s->batch_len = 0;
	s->batch_open = false;
	pthread_cond_broadcast(&s->batch_done);
}

/* Under write_lock: c's write opens the batch transaction, or a savepoint
 * in the open one. */
static sg_err open_write(sg_conn *c)
{
	sg_store *s = c->store;
	sg_err err = SG_ERR_OK;
	c->savepoint = false;
	if (!s->writer)
		err = s->ops->conn_open(s->db, &s->writer);
	if (!err && !s->batch_open) {
		err = s->ops->begin(s->writer, true);
		s->batch_open = !err;
	} else if (!err) {
		err = run_on(c, s->writer, "SAVEPOINT sg_write");
		c->savepoint = !err;
	}
	if (!err)
		c->cur = s->writer;
	return err;
}

/*
 * Ends c's write (kept: released into the batch; otherwise rolled back
 * alone), then commits the batch or leaves it to a queued writer, and gives
 * up write_lock.  Returns the fate of a kept write: the batch's commit.
 */
static sg_err end_write(sg_conn *c, bool keep, bool opened)
{
	sg_store *s = c->store;
	sg_err err = SG_ERR_OK;
	c->cur = c->impl;
	c->writing = false;
	if (opened && c->savepoint) {
		if (keep)
			err = run_on(c, s->writer, "RELEASE SAVEPOINT sg_write");
		if (!keep || err) {
			run_on(c, s->writer, "ROLLBACK TO SAVEPOINT sg_write");
			run_on(c, s->writer, "RELEASE SAVEPOINT sg_write");
			keep = false;
		}
	} else if (opened && !keep) {
		/* It opened the batch: the transaction holds this write alone. */
		s->ops->rollback(s->writer);
		s->batch_open = false;
	}
	c->savepoint = false;
	if (s->batch_open && s->ops->in_transaction && !s->ops->in_transaction(s->writer)) {
		/* The backend ended the transaction on an error (disk full, I/O):
		 * every write in the batch is gone, none acknowledged yet. */
		sg_log_error("store: a batch of %zu writes was rolled back by the database",
			     s->batch_len + (keep ? 1 : 0));
		settle_batch(s, SG_ERR_STORE);
		pthread_mutex_unlock(&s->write_lock);
		return keep ? SG_ERR_STORE : err;
	}
	struct batch_waiter me = {.err = SG_ERR_OK};
	if (keep) {
		me.next = s->batch;
		s->batch = &me;
		s->batch_len++;
	}
	if (s->batch_open && atomic_load(&s->queued) > 0 && s->batch_len < MAX_BATCH) {
		/* A queued writer will commit the batch, or pass it on. */
		if (keep) {
			while (!me.done)
				pthread_cond_wait(&s->batch_done, &s->write_lock);
		}
		pthread_mutex_unlock(&s->write_lock);
		return keep ? me.err : err;
	}
	if (s->batch_open) {
		sg_err cerr = s->batch_len ? s->ops->commit(s->writer) : SG_ERR_OK;
		if (!s->batch_len || cerr)
			s->ops->rollback(s->writer);
		if (cerr)
			sg_log_error("store: commit of %zu writes failed: %s", s->batch_len,
				     s->ops->errmsg(s->writer));
		settle_batch(s, cerr);
	}
	pthread_mutex_unlock(&s->write_lock);
	return keep ? me.err : err;
}

sg_err sg_conn_begin(sg_conn *c, bool write)
{
	if (c->depth++ > 0)
		return SG_ERR_OK;
	c->failed = false;
	if (!write) {
		sg_err err = c->store->ops->begin(c->impl, false);
		if (err)
			c->depth = 0;
		return err;
	}
	sg_store *s = c->store;
	atomic_fetch_add(&s->queued, 1);
	pthread_mutex_lock(&s->write_lock);
	atomic_fetch_sub(&s->queued, 1);
	c->writing = true;
	sg_err err = open_write(c);
	if (err) {
		c->depth = 0;
		end_write(c, false, c->cur == s->writer);
	}
	return err;
}

sg_err sg_conn_commit(sg_conn *c)
{
	if (c->depth == 0)
		return SG_ERR_INTERNAL;
	if (--c->depth > 0)
		return SG_ERR_OK;
	if (c->writing) {
		if (c->failed) {
			end_write(c, false, true);
			return SG_ERR_STORE;
		}
		return end_write(c, true, true);
	}
	if (c->failed) {
		c->store->ops->rollback(c->impl);
		return SG_ERR_STORE;
	}
	sg_err err = c->store->ops->commit(c->impl);
	if (err)
		c->store->ops->rollback(c->impl);
	return err;
}

void sg_conn_rollback(sg_conn *c)
{
	if (c->depth == 0)
		return;
	if (--c->depth > 0) {
		c->failed = true;
		return;
	}
	if (c->writing)
		end_write(c, false, true);
	else
		c->store->ops->rollback(c->impl);
}

sg_err sg_conn_exec(sg_conn *c, const struct sg_sql *q, sg_row_fn fn, void *ud,
		    long long *changes)
{
	if (q->failed || sg_buf_failed(&q->text))
		return SG_ERR_INTERNAL;
	sg_err err = c->store->ops->exec(c->cur, q, fn, ud, changes);
	if (err && err != SG_ERR_BUSY)
		sg_log_warn("store: %s", c->store->ops->errmsg(c->cur));
	return err;
}

sg_err sg_conn_columns(sg_conn *c, const char *table, sg_row_fn fn, void *ud)
{
	return c->store->ops->columns(c->cur, table, fn, ud);
}

const char *sg_conn_type_name(sg_conn *c, enum sg_coltype type)
{
	return c->store->ops->dialect->type_name(type);
}

sg_err sg_conn_index_hint(sg_conn *c, const char *table, const char *index, const char *stat)
{
	return c->store->ops->index_hint ? c->store->ops->index_hint(c->cur, table, index, stat)
					 : SG_ERR_OK;
}

bool sg_conn_in_transaction(const sg_conn *c)
{
	return c->depth > 0;
}

sg_err sg_conn_maintain(sg_conn *c, bool analyze)
{
	return c->store->ops->maintain ? c->store->ops->maintain(c->cur, analyze) : SG_ERR_OK;
}

const struct sg_dialect *sg_conn_dialect(sg_conn *c)
{
	return c->store->ops->dialect;
}

sg_err sg_conn_exec_raw(sg_conn *c, const char *sql)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, sql);
	sg_err err = sg_conn_exec(c, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static int first_value(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	char **out = ud;
	if (ncol > 0 && vals[0]) {
		*out = strdup(vals[0]);
		if (!*out)
			return 2;
	}
	return 1;
}

sg_err sg_conn_query_string(sg_conn *c, const struct sg_sql *q, char **out)
{
	*out = NULL;
	sg_err err = sg_conn_exec(c, q, first_value, out, NULL);
	if (err)
		return err;
	return SG_ERR_OK;
}
