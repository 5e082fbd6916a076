/*
 * store.c - the generic layer: the registry of backends by URL scheme, the
 * per-thread connections, the nesting of transactions, and dispatch.
 * Everything that touches an engine (including how writers are batched) is
 * the backend's (backend.h).
 */
#include "store/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

struct sg_conn {
	sg_store *store;
	void *impl; /* this thread's backend connection */
	struct sg_conn *next_in_store;
	int depth; /* nested begin() calls; only the outermost reaches the backend */
	bool failed;
};

struct sg_store {
	const struct sg_store_ops *ops;
	void *db;
	unsigned long serial; /* tells this store from a later one at the same address */
	pthread_mutex_t lock;
	struct sg_conn *conns;
};

/* Each thread remembers its connection for a few stores at most. */
#define CONN_SLOTS 4
struct conn_slot {
	unsigned long serial;
	struct sg_conn *conn;
};
static __thread struct conn_slot thread_conns[CONN_SLOTS];
static atomic_ulong next_serial = 1;

/* ---- backends by URL ---------------------------------------------------- */

/* The first is the default: it serves a bare data directory. */
static const struct sg_store_ops *const backends[] = {&sg__store_sqlite, &sg__store_pg,
                                                      &sg__store_postgres};

/* The length of url's "scheme:" prefix ([a-z][a-z0-9+.-]*:), 0 when none. */
static size_t scheme_len(const char *url)
{
	if (!(*url >= 'a' && *url <= 'z'))
		return 0;
	size_t n = 1;
	while ((url[n] >= 'a' && url[n] <= 'z') || (url[n] >= '0' && url[n] <= '9') ||
	       url[n] == '+' || url[n] == '.' || url[n] == '-')
		n++;
	return url[n] == ':' ? n + 1 : 0;
}

/*
 * The backend url names and the part it reads (*where, *dir).  A URL is a
 * registered or known scheme followed by ':', or any scheme followed by
 * "://"; anything else is a data directory for the default backend (so a
 * directory called "x:y" stays one, as before URLs).
 */
static sg_err resolve(const char *url, const struct sg_store_ops **ops, const char **where,
                      bool *dir)
{
	size_t n = url ? scheme_len(url) : 0;
	if (!url || !*url) {
		sg_log_error("store: no database given");
		return SG_ERR_STORE;
	}
	for (size_t i = 0; n && i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (strlen(backends[i]->scheme) == n - 1 &&
		    !strncmp(url, backends[i]->scheme, n - 1)) {
			*ops = backends[i];
			*where = url + n;
			*dir = false;
			return SG_ERR_OK;
		}
	}
	if (n && !strncmp(url + n, "//", 2)) {
		sg_log_error("store: %.*s: unknown database URL scheme", (int)(n - 1), url);
		return SG_ERR_STORE;
	}
	*ops = backends[0];
	*where = url;
	*dir = true;
	return SG_ERR_OK;
}

/* ---- store and connections --------------------------------------------- */

sg_err sg_store_open(const char *url, bool create, sg_store **out)
{
	const struct sg_store_ops *ops;
	const char *where;
	bool dir;
	sg_err err = resolve(url, &ops, &where, &dir);
	if (err)
		return err;
	sg_store *s = calloc(1, sizeof(*s));
	if (!s)
		return SG_ERR_NOMEM;
	s->ops = ops;
	s->serial = atomic_fetch_add(&next_serial, 1);
	err = s->ops->open(where, dir, create, &s->db);
	if (err) {
		free(s);
		return err;
	}
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return SG_ERR_OK;
}

sg_err sg_store_exists(const char *url, bool *out)
{
	const struct sg_store_ops *ops;
	const char *where;
	bool dir;
	*out = false;
	sg_err err = resolve(url, &ops, &where, &dir);
	return err ? err : ops->exists(where, dir, out);
}

/* Forgets s in this thread and closes every connection to it. */
static void close_conns(sg_store *s)
{
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
	s->conns = NULL;
	pthread_mutex_destroy(&s->lock);
}

void sg_store_close(sg_store *s)
{
	if (!s)
		return;
	close_conns(s);
	s->ops->close(s->db);
	free(s);
}

sg_err sg_store_drop(sg_store *s)
{
	if (!s)
		return SG_ERR_OK;
	close_conns(s);
	sg_err err = SG_ERR_INTERNAL;
	if (s->ops->drop)
		err = s->ops->drop(s->db);
	else
		s->ops->close(s->db);
	free(s);
	return err;
}

const struct sg_dialect *sg_store_dialect(const sg_store *s)
{
	return s->ops->dialect;
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
	return s->ops->queued_writers ? s->ops->queued_writers(s->db) : 0;
}

/*
 * Transactions nest: the model opens one per operation, and a caller that
 * groups several operations (nowctl loading demo data) wraps them in its own.
 * A failure anywhere inside makes the outermost commit roll back.
 */
sg_err sg_conn_begin(sg_conn *c, bool write)
{
	if (c->depth++ > 0)
		return SG_ERR_OK;
	c->failed = false;
	sg_err err = c->store->ops->begin(c->impl, write);
	if (err)
		c->depth = 0;
	return err;
}

sg_err sg_conn_commit(sg_conn *c)
{
	if (c->depth == 0)
		return SG_ERR_INTERNAL;
	if (--c->depth > 0)
		return SG_ERR_OK;
	if (c->failed) {
		c->store->ops->rollback(c->impl);
		return SG_ERR_STORE;
	}
	return c->store->ops->commit(c->impl);
}

void sg_conn_rollback(sg_conn *c)
{
	if (c->depth == 0)
		return;
	if (--c->depth > 0) {
		c->failed = true;
		return;
	}
	c->store->ops->rollback(c->impl);
}

sg_err sg_conn_exec(sg_conn *c, const struct sg_sql *q, sg_row_fn fn, void *ud, long long *changes)
{
	sg_err err = sg_sql_error(q);
	if (err)
		return err;
	err = c->store->ops->exec(c->impl, q, fn, ud, changes);
	if (err && err != SG_ERR_BUSY)
		sg_log_warn("store: %s", c->store->ops->errmsg(c->impl));
	return err;
}

sg_err sg_conn_exec_bytes(sg_conn *c, const struct sg_sql *q, sg_row_bytes_fn fn, void *ud)
{
	sg_err err = sg_sql_error(q);
	if (err)
		return err;
	err = c->store->ops->exec_bytes(c->impl, q, fn, ud);
	if (err && err != SG_ERR_BUSY)
		sg_log_warn("store: %s", c->store->ops->errmsg(c->impl));
	return err;
}

sg_err sg_conn_columns(sg_conn *c, const char *table, sg_row_fn fn, void *ud)
{
	return c->store->ops->columns(c->impl, table, fn, ud);
}

const char *sg_conn_type_name(sg_conn *c, enum sg_coltype type)
{
	return c->store->ops->dialect->type_name(type);
}

sg_err sg_conn_index_hint(sg_conn *c, const char *table, const char *index,
                          const struct sg_index_stats *stats)
{
	if (stats->ncols > SG_INDEX_HINT_MAX)
		return SG_ERR_INTERNAL;
	return c->store->ops->index_hint ? c->store->ops->index_hint(c->impl, table, index, stats)
	                                 : SG_ERR_OK;
}

sg_err sg_conn_lock(sg_conn *c, long long key, long long wait_ms, bool *got)
{
	*got = false;
	if (!c->store->ops->try_lock)
		return SG_ERR_INTERNAL;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		sg_err err = c->store->ops->try_lock(c->impl, key, got);
		if (err || *got)
			return err;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long spent = (long long)(now.tv_sec - start.tv_sec) * 1000 +
		                  (now.tv_nsec - start.tv_nsec) / 1000000;
		if (spent >= wait_ms)
			return SG_ERR_OK;
		struct timespec nap = {0, 20 * 1000000L};
		nanosleep(&nap, NULL);
	}
}

void sg_conn_unlock(sg_conn *c, long long key)
{
	if (c->store->ops->unlock)
		c->store->ops->unlock(c->impl, key);
}

struct sg_listener {
	const struct sg_store_ops *ops;
	void *impl;
};

sg_err sg_store_listen(sg_store *s, const char *channel, void (*fn)(void *ud), void *ud,
                       sg_listener **out)
{
	*out = NULL;
	if (!s->ops->listen)
		return SG_ERR_OK;
	sg_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return SG_ERR_NOMEM;
	l->ops = s->ops;
	sg_err err = s->ops->listen(s->db, channel, fn, ud, &l->impl);
	if (err) {
		free(l);
		return err;
	}
	*out = l;
	return SG_ERR_OK;
}

void sg_store_unlisten(sg_listener *l)
{
	if (!l)
		return;
	l->ops->unlisten(l->impl);
	free(l);
}

bool sg_conn_in_transaction(const sg_conn *c)
{
	return c->depth > 0;
}

sg_err sg_conn_maintain(sg_conn *c, bool analyze)
{
	return c->store->ops->maintain ? c->store->ops->maintain(c->impl, analyze) : SG_ERR_OK;
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

/* The first column of the first row, copied (query_string, query_blob). */
struct first {
	void *value;
	size_t len;
	sg_err err;
};

static int first_value(void *ud, int ncol, const char *const *names, const void *const *vals,
                       const size_t *lens)
{
	(void)names;
	struct first *f = ud;
	if (ncol > 0 && vals[0]) {
		f->value = malloc(lens[0] + 1);
		if (!f->value) {
			f->err = SG_ERR_NOMEM;
			return 1;
		}
		memcpy(f->value, vals[0], lens[0]);
		((char *)f->value)[lens[0]] = '\0';
		f->len = lens[0];
	}
	return 1;
}

static int first_string(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct first *f = ud;
	if (ncol > 0 && vals[0]) {
		f->value = strdup(vals[0]);
		if (!f->value)
			f->err = SG_ERR_NOMEM;
	}
	return 1;
}

sg_err sg_conn_query_string(sg_conn *c, const struct sg_sql *q, char **out)
{
	struct first f = {.err = SG_ERR_OK};
	*out = NULL;
	sg_err err = sg_conn_exec(c, q, first_string, &f, NULL);
	if (!err)
		err = f.err;
	if (err)
		free(f.value);
	else
		*out = f.value;
	return err;
}

sg_err sg_conn_query_blob(sg_conn *c, const struct sg_sql *q, void **out, size_t *len)
{
	struct first f = {.err = SG_ERR_OK};
	*out = NULL;
	*len = 0;
	sg_err err = sg_conn_exec_bytes(c, q, first_value, &f);
	if (!err)
		err = f.err;
	if (err) {
		free(f.value);
	} else {
		*out = f.value;
		*len = f.len;
	}
	return err;
}

sg_err sg_store_backup(sg_store *s, const char *dest)
{
	return s->ops->backup ? s->ops->backup(s->db, dest) : SG_ERR_INTERNAL;
}

sg_err sg_store_restore(sg_store *s, const char *src, const struct sg_sql *fix, size_t nfix)
{
	return s->ops->restore ? s->ops->restore(s->db, src, fix, nfix) : SG_ERR_INTERNAL;
}

sg_err sg_store_ident(sg_store *s, char **out)
{
	*out = NULL;
	return s->ops->ident ? s->ops->ident(s->db, out) : SG_ERR_INTERNAL;
}

bool sg_store_snapshots_inside(const sg_store *s)
{
	return s->ops->snap_save != NULL;
}

sg_err sg_store_snapshot_save(sg_store *s, const char *name, const char *created, size_t max)
{
	sg_conn *c = s->ops->snap_save ? sg_store_conn(s) : NULL;
	return c ? s->ops->snap_save(c, name, created, max) : SG_ERR_INTERNAL;
}

sg_err sg_store_snapshot_restore(sg_store *s, const char *name, const struct sg_sql *fix,
                                 size_t nfix)
{
	sg_conn *c = s->ops->snap_restore ? sg_store_conn(s) : NULL;
	return c ? s->ops->snap_restore(c, name, fix, nfix) : SG_ERR_INTERNAL;
}

sg_err sg_store_snapshot_delete(sg_store *s, const char *name)
{
	sg_conn *c = s->ops->snap_delete ? sg_store_conn(s) : NULL;
	return c ? s->ops->snap_delete(c, name) : SG_ERR_INTERNAL;
}

sg_err sg_store_snapshot_list(sg_store *s, sg_row_fn fn, void *ud)
{
	sg_conn *c = s->ops->snap_list ? sg_store_conn(s) : NULL;
	return c ? s->ops->snap_list(c, fn, ud) : SG_ERR_INTERNAL;
}
