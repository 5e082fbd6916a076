/*
 * pg.c - the PostgreSQL backend (libpq): postgresql://... and postgres://...
 *
 * The URL is libpq's own (postgresql:///DB?host=/run/sock, with a user,
 * password, host and port as libpq reads them); it is never logged, for it
 * may hold a password.  Creating the store creates the database (connected
 * to the maintenance database "postgres" of the same server) and the citext
 * extension its TEXT columns use (pg_dialect.c).
 *
 * Connections: store.c gives each thread its own, so the pool of a node is
 * its threads' connections, one each, opened on first use.  Each keeps a
 * bounded cache of prepared statements keyed by SQL text.  Values are
 * always bound (PQexecPrepared): text and integers as text, BLOBs as bytes.
 *
 * Transactions: a write takes a transaction-scoped advisory lock first, so
 * writers are serialised across every node as SQLite serialises them (what a
 * write reads, no other write changes until it commits); reads run in
 * REPEATABLE READ, one snapshot as on SQLite.  PostgreSQL aborts a whole
 * transaction when one statement fails; the store's contract is that the
 * transaction goes on, so inside one each statement runs under a savepoint
 * and a failed one is rolled back to it alone.
 *
 * Several nodes: named locks are session advisory locks (try_lock), and
 * listen keeps a connection of its own that LISTENs and wakes its caller
 * when another node's transaction notified at commit (the dialect's
 * notify); docs/postgresql-port.md, "Several nodes".
 */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store/backend.h"
#include "store/pg_int.h"

#define STMT_CACHE 128
/* The advisory lock every write transaction holds ("sgwrite"). */
#define WRITE_LOCK "7394273519"
/* The session settings of every connection: a lock waited for longer than
 * SQLite's busy timeout (15 s) is SG_ERR_BUSY, as there. */
#define SESSION_SQL                                                                                \
	"SET client_min_messages = warning; SET TIME ZONE 'UTC'; SET lock_timeout = '15s'"
/* Statements retried after a serialisation failure or a deadlock. */
#define BUSY_RETRIES 5

struct pg_db {
	char *url;
	char *dbname; /* the database's name, for create and drop */
	atomic_int queued;
};

struct pg_slot {
	char *sql; /* the portable text; NULL when free */
	unsigned long hash;
	unsigned id; /* prepared as "sg<id>" */
	int nparams;
	unsigned long last; /* for eviction */
};

struct pg_conn {
	struct pg_db *d;
	PGconn *pg;
	bool in_txn;
	unsigned next_id;
	unsigned long tick;
	struct pg_slot cache[STMT_CACHE];
	char err[256]; /* the last error, for errmsg */
};

/* ---- errors ---------------------------------------------------------------- */

static sg_err map_state(const char *state)
{
	if (!state)
		return SG_ERR_STORE;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
		return SG_ERR_BUSY;
	if (!strncmp(state, "23", 2))
		return SG_ERR_INVALID_INSERT;
	if (!strcmp(state, "53200"))
		return SG_ERR_NOMEM;
	return SG_ERR_STORE;
}

/* Keeps res's error (or the connection's) for errmsg; its error code. */
static sg_err result_err(struct pg_conn *c, PGresult *res)
{
	if (!res) {
		snprintf(c->err, sizeof(c->err), "%s", PQerrorMessage(c->pg));
		return PQstatus(c->pg) == CONNECTION_BAD ? SG_ERR_STORE : SG_ERR_NOMEM;
	}
	const char *msg = PQresultErrorMessage(res);
	snprintf(c->err, sizeof(c->err), "%s", msg && *msg ? msg : PQerrorMessage(c->pg));
	size_t n = strlen(c->err);
	while (n && c->err[n - 1] == '\n')
		c->err[--n] = '\0';
	return map_state(PQresultErrorField(res, PG_DIAG_SQLSTATE));
}

/* ---- databases -------------------------------------------------------------- */

/* The server's notices (a WARNING of ANALYZE, a NOTICE of IF NOT EXISTS)
 * go to the debug log, not to stderr as libpq's default does. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	sg_log_debug("store: postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

/* Connects to url, or to the server's database "postgres" when maint. */
static PGconn *connect_to(const char *url, bool maint)
{
	const char *keys[] = {"dbname", maint ? "dbname" : NULL, NULL};
	const char *vals[] = {url, maint ? "postgres" : NULL, NULL};
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	if (pg && PQstatus(pg) == CONNECTION_OK) {
		PQsetErrorVerbosity(pg, PQERRORS_TERSE); /* no values in logs */
		PQsetNoticeProcessor(pg, quiet_notice, NULL);
		return pg;
	}
	if (pg) {
		/* libpq's message names host and user, never the password. */
		const char *m = PQerrorMessage(pg);
		sg_log_error("store: postgresql: cannot connect: %.*s", (int)strcspn(m, "\n"), m);
		PQfinish(pg);
	}
	return NULL;
}

/* Runs sql (no parameters) on pg; false with the error logged. */
static bool run_simple(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok) {
		const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
		sg_log_error("store: postgresql: %.*s", (int)strcspn(m, "\n"), m);
	}
	PQclear(res);
	return ok;
}

/* The database name url connects to (libpq's default: the user's name). */
static char *db_name(const char *url)
{
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(url, &errmsg);
	if (!opts) {
		sg_log_error("store: postgresql: not a usable URL");
		PQfreemem(errmsg);
		return NULL;
	}
	const char *db = NULL, *user = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!strcmp(o->keyword, "dbname") && o->val && *o->val)
			db = o->val;
		if (!strcmp(o->keyword, "user") && o->val && *o->val)
			user = o->val;
	}
	if (!db && !user) {
		PQconninfoOption *def = PQconndefaults();
		for (PQconninfoOption *o = def; o && o->keyword; o++)
			if (!strcmp(o->keyword, "user") && o->val)
				user = o->val;
		char *name = user ? strdup(user) : NULL;
		PQconninfoFree(def);
		PQconninfoFree(opts);
		return name;
	}
	char *name = strdup(db ? db : user);
	PQconninfoFree(opts);
	return name;
}

/* *out: whether database name exists on the server of url. */
static sg_err db_exists(const char *url, const char *name, bool *out)
{
	PGconn *pg = connect_to(url, true);
	if (!pg) {
		/* A role that may not use "postgres": the database itself. */
		pg = connect_to(url, false);
		*out = pg != NULL;
		if (pg)
			PQfinish(pg);
		return pg ? SG_ERR_OK : SG_ERR_STORE;
	}
	const char *vals[] = {name};
	PGresult *res = PQexecParams(pg, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL,
	                             vals, NULL, NULL, 0);
	sg_err err = SG_ERR_OK;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		*out = PQntuples(res) > 0;
	else
		err = SG_ERR_STORE;
	PQclear(res);
	PQfinish(pg);
	return err;
}

/* Runs "verb name tail" on the maintenance database of url's server. */
static sg_err db_admin(const char *url, const char *verb, const char *name, const char *tail)
{
	PGconn *pg = connect_to(url, true);
	if (!pg)
		return SG_ERR_STORE;
	char *ident = PQescapeIdentifier(pg, name, strlen(name));
	sg_err err = SG_ERR_NOMEM;
	if (ident) {
		size_t n = strlen(verb) + strlen(ident) + strlen(tail) + 3;
		char *sql = malloc(n);
		if (sql) {
			snprintf(sql, n, "%s %s%s", verb, ident, tail);
			err = run_simple(pg, sql) ? SG_ERR_OK : SG_ERR_STORE;
			free(sql);
		}
		PQfreemem(ident);
	}
	PQfinish(pg);
	return err;
}

static void pg_db_free(struct pg_db *d)
{
	if (!d)
		return;
	free(d->url);
	free(d->dbname);
	free(d);
}

/* "postgresql:" + where: libpq reads the whole URL. */
static char *full_url(const char *where)
{
	size_t n = strlen("postgresql:") + strlen(where) + 1;
	char *url = malloc(n);
	if (url)
		snprintf(url, n, "postgresql:%s", where);
	return url;
}

static sg_err pg_open(const char *where, bool dir, bool create, void **out)
{
	if (dir || strncmp(where, "//", 2) != 0) {
		sg_log_error("store: a postgresql URL is postgresql://...");
		return SG_ERR_STORE;
	}
	struct pg_db *d = calloc(1, sizeof(*d));
	if (!d)
		return SG_ERR_NOMEM;
	d->url = full_url(where);
	d->dbname = d->url ? db_name(d->url) : NULL;
	if (!d->dbname) {
		sg_err err = d->url ? SG_ERR_STORE : SG_ERR_NOMEM;
		pg_db_free(d);
		return err;
	}
	bool exists = false;
	sg_err err = db_exists(d->url, d->dbname, &exists);
	if (!err && !exists && !create) {
		sg_log_error("store: postgresql: no such database");
		err = SG_ERR_STORE;
	}
	if (!err && !exists)
		err = db_admin(d->url, "CREATE DATABASE", d->dbname, " ENCODING 'UTF8'");
	if (!err) {
		/* citext for TEXT columns; trusted, so the owner may create it. */
		PGconn *pg = connect_to(d->url, false);
		err = pg && run_simple(pg, "SET client_min_messages = warning; "
		                           "CREATE EXTENSION IF NOT EXISTS citext")
		          ? SG_ERR_OK
		          : SG_ERR_STORE;
		if (pg)
			PQfinish(pg);
	}
	if (err) {
		pg_db_free(d);
		return err;
	}
	*out = d;
	return SG_ERR_OK;
}

static void pg_close(void *db)
{
	pg_db_free(db);
}

static sg_err pg_exists(const char *where, bool dir, bool *out)
{
	*out = false;
	if (dir || strncmp(where, "//", 2) != 0)
		return SG_ERR_STORE;
	char *url = full_url(where);
	char *name = url ? db_name(url) : NULL;
	sg_err err = name ? db_exists(url, name, out) : url ? SG_ERR_STORE : SG_ERR_NOMEM;
	free(name);
	free(url);
	return err;
}

static sg_err pg_drop(void *db)
{
	struct pg_db *d = db;
	sg_err err = db_admin(d->url, "DROP DATABASE IF EXISTS", d->dbname, " WITH (FORCE)");
	pg_db_free(d);
	return err;
}

/* ---- connections ------------------------------------------------------------ */

static sg_err pg_conn_open(void *db, void **out)
{
	struct pg_db *d = db;
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return SG_ERR_NOMEM;
	c->d = d;
	c->pg = connect_to(d->url, false);
	if (!c->pg || !run_simple(c->pg, SESSION_SQL)) {
		if (c->pg)
			PQfinish(c->pg);
		free(c);
		return SG_ERR_STORE;
	}
	*out = c;
	return SG_ERR_OK;
}

static void forget_cache(struct pg_conn *c)
{
	for (size_t i = 0; i < STMT_CACHE; i++) {
		free(c->cache[i].sql);
		c->cache[i].sql = NULL;
	}
}

static void pg_conn_close(void *connp)
{
	struct pg_conn *c = connp;
	if (!c)
		return;
	forget_cache(c);
	PQfinish(c->pg);
	free(c);
}

/* Drops every prepared statement (after DDL, or a plan gone stale). */
static void flush_cache(struct pg_conn *c)
{
	bool any = false;
	for (size_t i = 0; i < STMT_CACHE; i++)
		any |= c->cache[i].sql != NULL;
	forget_cache(c);
	if (any)
		PQclear(PQexec(c->pg, "DEALLOCATE ALL"));
}

/* A connection lost between transactions is opened again (its statements
 * with it); inside one, the transaction is gone and the statement fails. */
static bool alive(struct pg_conn *c)
{
	if (PQstatus(c->pg) == CONNECTION_OK)
		return true;
	if (c->in_txn)
		return false;
	forget_cache(c);
	PQreset(c->pg);
	if (PQstatus(c->pg) != CONNECTION_OK)
		return false;
	PQsetErrorVerbosity(c->pg, PQERRORS_TERSE);
	return run_simple(c->pg, SESSION_SQL);
}

static unsigned long hash_sql(const char *s)
{
	unsigned long h = 5381;
	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

/* A statement about to run: its name, and when it is not prepared yet, the
 * cache slot it will take and its text for the engine. */
struct stmt {
	char name[32];
	struct pg_slot *slot; /* NULL: prepared already */
	char *text;           /* $n placeholders; owned */
	char *copy;           /* the portable text, the cache's key; owned */
	unsigned long hash;
	unsigned id;
	Oid types_small[64], *types;
};

static void stmt_cleanup(struct stmt *st)
{
	free(st->text);
	free(st->copy);
	if (st->types != st->types_small)
		free(st->types);
}

/* Finds q in c's cache, or makes room for it (the least used statement is
 * deallocated) and readies its text. */
static sg_err lookup(struct pg_conn *c, const struct sg_sql *q, struct stmt *st)
{
	const char *sql = sg_buf_str(&q->text);
	unsigned long h = hash_sql(sql);
	struct pg_slot *victim = &c->cache[0];
	memset(st, 0, sizeof(*st));
	st->types = st->types_small;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		struct pg_slot *s = &c->cache[i];
		if (s->sql && s->hash == h && s->nparams == (int)q->nparams &&
		    !strcmp(s->sql, sql)) {
			s->last = ++c->tick;
			snprintf(st->name, sizeof(st->name), "sg%u", s->id);
			return SG_ERR_OK;
		}
		if (!s->sql || (victim->sql && s->last < victim->last))
			victim = s;
	}
	if (victim->sql) {
		char dealloc[32];
		snprintf(dealloc, sizeof(dealloc), "DEALLOCATE sg%u", victim->id);
		PQclear(PQexec(c->pg, dealloc));
		free(victim->sql);
		victim->sql = NULL;
	}
	st->slot = victim;
	st->text = sg__pg_placeholders(sql);
	st->copy = strdup(sql);
	if (q->nparams > 64)
		st->types = malloc(sizeof(Oid) * q->nparams);
	if (!st->text || !st->copy || !st->types)
		return SG_ERR_NOMEM;
	for (size_t i = 0; i < q->nparams; i++)
		st->types[i] = q->params[i].kind == SG_PARAM_BLOB ? 17 /* bytea */ : 0;
	st->hash = h;
	st->id = ++c->next_id;
	snprintf(st->name, sizeof(st->name), "sg%u", st->id);
	return SG_ERR_OK;
}

/* st was prepared: the cache keeps it. */
static void remember(struct pg_conn *c, const struct sg_sql *q, struct stmt *st)
{
	if (!st->slot)
		return;
	st->slot->sql = st->copy;
	st->copy = NULL;
	st->slot->hash = st->hash;
	st->slot->id = st->id;
	st->slot->nparams = (int)q->nparams;
	st->slot->last = ++c->tick;
}

static bool is_ddl(const char *sql)
{
	return !strncmp(sql, "CREATE", 6) || !strncmp(sql, "ALTER", 5) || !strncmp(sql, "DROP", 4);
}

struct sink {
	sg_row_fn fn;
	sg_row_bytes_fn fnb;
	void *ud;
};

static const char empty_value[1];

/* Hands res's rows to the sink: NULL for SQL NULL, booleans as 1 and 0 (as
 * SQLite gives them), bytea as its bytes. */
#define REAL_TEXT 32

/*
 * A float as SQLite writes a REAL ("%!.15g": 2.0, 0.3, 1.0e+20), so values read
 * the same on both engines (PostgreSQL writes 2, 0.30000000000000004, 1e+20).
 * False (v used as it is) for what SQLite cannot hold: NaN and infinities.
 */
static bool sqlite_real(const char *v, char out[REAL_TEXT])
{
	char *end;
	double d = strtod(v, &end);
	if (*end || !isfinite(d))
		return false;
	char buf[REAL_TEXT];
	snprintf(buf, sizeof(buf), "%.15g", d);
	if (strpbrk(buf, ".")) {
		memcpy(out, buf, sizeof(buf));
		return true;
	}
	size_t mant = strcspn(buf, "e"); /* "2" -> "2.0", "1e+20" -> "1.0e+20" */
	snprintf(out, REAL_TEXT, "%.*s.0%s", (int)mant, buf, buf + mant);
	return true;
}

static sg_err deliver(PGresult *res, const struct sink *to)
{
	int nrow = PQntuples(res), ncol = PQnfields(res);
	if (!to || (!to->fn && !to->fnb) || !nrow)
		return SG_ERR_OK;
	const char **names = malloc(sizeof(char *) * (size_t)(ncol ? ncol : 1));
	const void **vals = malloc(sizeof(void *) * (size_t)(ncol ? ncol : 1));
	size_t *lens = malloc(sizeof(size_t) * (size_t)(ncol ? ncol : 1));
	unsigned char **owned = calloc((size_t)(ncol ? ncol : 1), sizeof(unsigned char *));
	char(*reals)[REAL_TEXT] = malloc(sizeof(*reals) * (size_t)(ncol ? ncol : 1));
	sg_err err = SG_ERR_OK;
	if (!names || !vals || !lens || !owned || !reals) {
		err = SG_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < ncol; i++)
		names[i] = PQfname(res, i);
	for (int r = 0; r < nrow && !err; r++) {
		for (int i = 0; i < ncol; i++) {
			PQfreemem(owned[i]);
			owned[i] = NULL;
			if (PQgetisnull(res, r, i)) {
				vals[i] = NULL;
				lens[i] = 0;
				continue;
			}
			const char *v = PQgetvalue(res, r, i);
			Oid type = PQftype(res, i);
			if (type == 16 /* bool */) {
				vals[i] = *v == 't' ? "1" : "0";
				lens[i] = 1;
			} else if (type == 17 /* bytea */) {
				size_t n = 0;
				owned[i] = PQunescapeBytea((const unsigned char *)v, &n);
				if (!owned[i]) {
					err = SG_ERR_NOMEM;
					break;
				}
				vals[i] = n ? (const void *)owned[i] : empty_value;
				lens[i] = n;
			} else if ((type == 701 /* float8 */ || type == 700 /* float4 */) &&
			           sqlite_real(v, reals[i])) {
				vals[i] = reals[i];
				lens[i] = strlen(reals[i]);
			} else {
				vals[i] = v;
				lens[i] = (size_t)PQgetlength(res, r, i);
			}
		}
		if (err)
			break;
		int stop = to->fn ? to->fn(to->ud, ncol, names, (const char *const *)vals)
		                  : to->fnb(to->ud, ncol, names, vals, lens);
		if (stop)
			break;
	}
out:
	for (int i = 0; owned && i < ncol; i++)
		PQfreemem(owned[i]);
	free(owned);
	free(reals);
	free(names);
	free(vals);
	free(lens);
	return err;
}

/* A pipeline's next result, the NULL after it consumed; NULL when none. */
static PGresult *next_result(PGconn *pg)
{
	PGresult *res = PQgetResult(pg);
	if (res && PQresultStatus(res) != PGRES_PIPELINE_SYNC)
		while (PQgetResult(pg))
			; /* the NULL that ends this query's results */
	return res;
}

static bool ok_status(const PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/*
 * Runs q once on c; rows to the sink.  Inside a transaction (guard) it runs
 * under a savepoint, all in one round trip (libpq's pipeline): SAVEPOINT,
 * PREPARE when new, EXECUTE, RELEASE; a failure is rolled back to the
 * savepoint, so the transaction goes on.  *stale: the engine refused a plan
 * prepared before its table changed shape (nothing ran).
 */
static sg_err run_once(struct pg_conn *c, const struct sg_sql *q, const struct sink *to,
                       long long *changes, bool guard, bool *stale)
{
	struct stmt st;
	sg_err err = lookup(c, q, &st);
	size_t n = q->nparams;
	const char *vals_small[64];
	int lens_small[64], fmts_small[64];
	char ints_small[64][24];
	const char **vals = vals_small;
	int *lens = lens_small, *fmts = fmts_small;
	char(*ints)[24] = ints_small;
	PGresult *res = NULL;
	*stale = false;
	if (err)
		goto out;
	if (n > 64) {
		vals = malloc(sizeof(*vals) * n);
		lens = malloc(sizeof(*lens) * n);
		fmts = malloc(sizeof(*fmts) * n);
		ints = malloc(sizeof(*ints) * n);
		if (!vals || !lens || !fmts || !ints) {
			err = SG_ERR_NOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct sg_param *p = &q->params[i];
		lens[i] = 0;
		fmts[i] = 0;
		if (p->kind == SG_PARAM_TEXT) {
			vals[i] = p->text;
		} else if (p->kind == SG_PARAM_INT) {
			snprintf(ints[i], sizeof(ints[i]), "%lld", p->i);
			vals[i] = ints[i];
		} else if (p->kind == SG_PARAM_BLOB) {
			vals[i] = p->text;
			lens[i] = (int)p->len;
			fmts[i] = 1;
		} else {
			vals[i] = NULL;
		}
	}
	bool prepared = !st.slot;
	if (!guard) {
		if (!prepared) {
			res = PQprepare(c->pg, st.name, st.text, (int)n, st.types);
			if (!ok_status(res)) {
				err = result_err(c, res);
				goto out;
			}
			PQclear(res);
			remember(c, q, &st);
		}
		res = PQexecPrepared(c->pg, st.name, (int)n, vals, lens, fmts, 0);
	} else {
		bool sent =
		    PQenterPipelineMode(c->pg) &&
		    PQsendQueryParams(c->pg, "SAVEPOINT sg_stmt", 0, NULL, NULL, NULL, NULL, 0) &&
		    (prepared || PQsendPrepare(c->pg, st.name, st.text, (int)n, st.types)) &&
		    PQsendQueryPrepared(c->pg, st.name, (int)n, vals, lens, fmts, 0) &&
		    PQsendQueryParams(c->pg, "RELEASE SAVEPOINT sg_stmt", 0, NULL, NULL, NULL, NULL,
		                      0) &&
		    PQpipelineSync(c->pg);
		PGresult *sp = NULL, *prep = NULL, *rel = NULL, *sync = NULL;
		if (sent) {
			sp = next_result(c->pg);
			prep = prepared ? NULL : next_result(c->pg);
			res = next_result(c->pg);
			rel = next_result(c->pg);
			sync = next_result(c->pg);
		}
		bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
		if (!synced) /* lost: nothing more can be read */
			while ((sync = PQgetResult(c->pg)) != NULL)
				PQclear(sync);
		PQexitPipelineMode(c->pg);
		if (!sent || !synced || !ok_status(sp)) {
			err = result_err(c, sent && sp && !ok_status(sp) ? sp : NULL);
			if (!err)
				err = SG_ERR_STORE;
		} else if (!prepared && !ok_status(prep)) {
			err = result_err(c, prep);
		} else if (!prepared) {
			remember(c, q, &st);
		}
		bool failed = err || !ok_status(res) || !ok_status(rel);
		if (!err && !ok_status(res))
			err = result_err(c, res);
		else if (!err && !ok_status(rel))
			err = result_err(c, rel);
		PQclear(sp);
		PQclear(prep);
		PQclear(rel);
		PQclear(sync);
		if (failed && PQstatus(c->pg) == CONNECTION_OK &&
		    PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
			run_simple(c->pg, "ROLLBACK TO SAVEPOINT sg_stmt");
			run_simple(c->pg, "RELEASE SAVEPOINT sg_stmt");
		}
		if (failed && !err)
			err = SG_ERR_STORE;
		if (err)
			goto out;
	}
	if (ok_status(res)) {
		if (changes) {
			const char *t = PQcmdTuples(res);
			*changes = *t ? atoll(t) : 0;
		}
		err = deliver(res, to);
	} else {
		err = result_err(c, res);
	}
out:
	if (err && res) {
		/* A plan prepared before a table changed shape. */
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		*stale = state && !strcmp(state, "0A000");
	}
	PQclear(res);
	stmt_cleanup(&st);
	if (vals != vals_small) {
		free(vals);
		free(lens);
		free(fmts);
		free(ints);
	}
	return err;
}

static sg_err exec_on(struct pg_conn *c, const struct sg_sql *q, const struct sink *to,
                      long long *changes)
{
	if (!alive(c)) {
		snprintf(c->err, sizeof(c->err), "the connection to the database was lost");
		return SG_ERR_STORE;
	}
	const char *sql = sg_buf_str(&q->text);
	sg_err err = SG_ERR_OK;
	for (int attempt = 0; attempt <= BUSY_RETRIES; attempt++) {
		bool stale;
		err = run_once(c, q, to, changes, c->in_txn, &stale);
		if (err && stale) {
			/* Nothing ran: forget the cache and prepare again. */
			flush_cache(c);
			err = run_once(c, q, to, changes, c->in_txn, &stale);
		}
		/* A serialisation failure or a deadlock: the statement alone was
		 * undone (a savepoint inside a transaction); try it again. */
		if (err != SG_ERR_BUSY || PQstatus(c->pg) != CONNECTION_OK)
			break;
		struct timespec ts = {0, (long)(1 + attempt) * 5000000L};
		nanosleep(&ts, NULL);
	}
	if (!err && is_ddl(sql))
		flush_cache(c);
	return err;
}

static sg_err pg_exec(void *connp, const struct sg_sql *q, sg_row_fn fn, void *ud,
                      long long *changes)
{
	struct sink to = {.fn = fn, .ud = ud};
	return exec_on(connp, q, &to, changes);
}

static sg_err pg_exec_bytes(void *connp, const struct sg_sql *q, sg_row_bytes_fn fn, void *ud)
{
	struct sink to = {.fnb = fn, .ud = ud};
	return exec_on(connp, q, &to, NULL);
}

/* ---- transactions -------------------------------------------------------------- */

static sg_err run_txn(struct pg_conn *c, const char *sql)
{
	PGresult *res = PQexec(c->pg, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	sg_err err =
	    st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? SG_ERR_OK : result_err(c, res);
	/* COMMIT of a transaction that failed answers ROLLBACK. */
	if (!err && !strcmp(PQcmdStatus(res), "ROLLBACK") && strcmp(sql, "ROLLBACK") != 0)
		err = SG_ERR_STORE;
	PQclear(res);
	return err;
}

static sg_err pg_begin(void *connp, bool write)
{
	struct pg_conn *c = connp;
	if (!alive(c))
		return SG_ERR_STORE;
	if (!write) {
		sg_err err = run_txn(c, "BEGIN ISOLATION LEVEL REPEATABLE READ");
		c->in_txn = !err;
		return err;
	}
	atomic_fetch_add(&c->d->queued, 1);
	sg_err err = run_txn(c, "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK ")");
	atomic_fetch_sub(&c->d->queued, 1);
	if (err)
		run_txn(c, "ROLLBACK");
	c->in_txn = !err;
	return err;
}

static sg_err pg_commit(void *connp)
{
	struct pg_conn *c = connp;
	c->in_txn = false;
	sg_err err = run_txn(c, "COMMIT");
	if (err && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		run_txn(c, "ROLLBACK");
	return err == SG_ERR_INVALID_INSERT ? SG_ERR_STORE : err;
}

static void pg_rollback(void *connp)
{
	struct pg_conn *c = connp;
	c->in_txn = false;
	if (PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		run_txn(c, "ROLLBACK");
}

/* ---- named locks and messages between nodes ----------------------------------- */

static int first_bool(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	*(bool *)ud = ncol > 0 && vals[0] && *vals[0] == '1';
	return 1;
}

static sg_err pg_try_lock(void *connp, long long key, bool *got)
{
	*got = false;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT pg_try_advisory_lock(CAST(");
	sg_sql_int(&q, key);
	sg_sql_raw(&q, " AS BIGINT))");
	sg_err err =
	    sg_sql_error(&q) ? sg_sql_error(&q) : pg_exec(connp, &q, first_bool, got, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static void pg_unlock(void *connp, long long key)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT pg_advisory_unlock(CAST(");
	sg_sql_int(&q, key);
	sg_sql_raw(&q, " AS BIGINT))");
	if (!sg_sql_error(&q) && pg_exec(connp, &q, NULL, NULL, NULL))
		sg_log_warn(
		    "store: postgresql: a named lock was not released (the session's end will)");
	sg_sql_cleanup(&q);
}

struct pg_listener {
	struct pg_db *d;
	char *listen_sql;
	void (*fn)(void *ud);
	void *ud;
	int wake[2]; /* written to stop the thread */
	pthread_t thread;
};

/* A connection that LISTENs; NULL (logged) when none can be made. */
static PGconn *listen_conn(struct pg_listener *l)
{
	PGconn *pg = connect_to(l->d->url, false);
	if (pg && !run_simple(pg, l->listen_sql)) {
		PQfinish(pg);
		pg = NULL;
	}
	return pg;
}

static void *listen_main(void *arg)
{
	struct pg_listener *l = arg;
	PGconn *pg = NULL;
	for (;;) {
		if (!pg) {
			pg = listen_conn(l);
			/* Whatever was sent while no one listened is unknown. */
			if (pg)
				l->fn(l->ud);
		}
		struct pollfd fds[2] = {{.fd = l->wake[0], .events = POLLIN},
		                        {.fd = pg ? PQsocket(pg) : -1, .events = POLLIN}};
		int n = poll(fds, 2, pg ? -1 : 1000); /* without one, try again in 1 s */
		if (n < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		if (!pg || !(fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
			sg_log_warn("store: postgresql: the listening connection was lost; "
			            "connecting again");
			PQfinish(pg);
			pg = NULL;
			continue;
		}
		bool any = false;
		PGnotify *note;
		while ((note = PQnotifies(pg)) != NULL) {
			any = true;
			PQfreemem(note);
		}
		if (any) /* all that arrived together, once */
			l->fn(l->ud);
	}
	if (pg)
		PQfinish(pg);
	return NULL;
}

static void listener_free(struct pg_listener *l)
{
	if (l->wake[0] >= 0)
		close(l->wake[0]);
	if (l->wake[1] >= 0)
		close(l->wake[1]);
	free(l->listen_sql);
	free(l);
}

static sg_err pg_listen(void *db, const char *channel, void (*fn)(void *ud), void *ud,
                        void **handle)
{
	if (!*channel)
		return SG_ERR_INTERNAL;
	for (const char *p = channel; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return SG_ERR_INTERNAL; /* a plain name: it is spliced */
	struct pg_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return SG_ERR_NOMEM;
	l->d = db;
	l->fn = fn;
	l->ud = ud;
	l->wake[0] = l->wake[1] = -1;
	size_t n = strlen("LISTEN ") + strlen(channel) + 1;
	l->listen_sql = malloc(n);
	if (!l->listen_sql || pipe2(l->wake, O_CLOEXEC) != 0) {
		listener_free(l);
		return SG_ERR_NOMEM;
	}
	snprintf(l->listen_sql, n, "LISTEN %s", channel);
	if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
		listener_free(l);
		return SG_ERR_NOMEM;
	}
	*handle = l;
	return SG_ERR_OK;
}

static void pg_unlisten(void *handle)
{
	struct pg_listener *l = handle;
	if (!l)
		return;
	char b = 1;
	while (write(l->wake[1], &b, 1) < 0 && errno == EINTR)
		;
	pthread_join(l->thread, NULL);
	listener_free(l);
}

/* ---- the rest ------------------------------------------------------------------ */

static sg_err pg_columns(void *connp, const char *table, sg_row_fn fn, void *ud)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT column_name AS name FROM information_schema.columns "
	               "WHERE table_schema = current_schema() AND table_name = ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, " ORDER BY ordinal_position");
	sg_err err = sg_sql_error(&q) ? sg_sql_error(&q) : pg_exec(connp, &q, fn, ud, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static const char *pg_errmsg(void *connp)
{
	struct pg_conn *c = connp;
	return c->err[0] ? c->err : "no error";
}

static int pg_queued_writers(void *db)
{
	struct pg_db *d = db;
	return atomic_load(&d->queued);
}

static sg_err pg_maintain(void *connp, bool analyze)
{
	struct pg_conn *c = connp;
	if (!analyze)
		return SG_ERR_OK; /* autovacuum keeps the rest */
	if (!alive(c))
		return SG_ERR_STORE;
	/* The instance's tables only: not the snapshots' copies (schemas of
	 * their own), nor the catalogs a role that is not a superuser may not
	 * analyze. */
	return run_txn(c, "DO $sg$ DECLARE t record; BEGIN FOR t IN SELECT tablename FROM "
	                  "pg_tables WHERE schemaname = current_schema() LOOP EXECUTE "
	                  "format('ANALYZE %I.%I', current_schema(), t.tablename); END LOOP; "
	                  "END $sg$");
}

/* The value of keyword in opts, else in libpq's defaults, else dflt. */
static const char *conninfo_value(PQconninfoOption *opts, PQconninfoOption *defs,
                                  const char *keyword, const char *dflt)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, keyword) && o->val && *o->val)
			return o->val;
	for (PQconninfoOption *o = defs; o && o->keyword; o++)
		if (!strcmp(o->keyword, keyword) && o->val && *o->val)
			return o->val;
	return dflt;
}

/* "HOST-PORT-DBNAME" (store.h: sg_store_ident); never the user or the
 * password, so that every node and every admin of one database finds the
 * same name. */
static sg_err pg_ident(void *db, char **out)
{
	struct pg_db *d = db;
	char *errmsg = NULL;
	PQconninfoOption *opts = PQconninfoParse(d->url, &errmsg);
	PQfreemem(errmsg);
	if (!opts)
		return SG_ERR_STORE;
	PQconninfoOption *defs = PQconndefaults();
	/* A host list ("a,b") names one database seen through several
	 * servers: the first names it. */
	const char *host = conninfo_value(opts, defs, "host", "localhost");
	const char *port = conninfo_value(opts, defs, "port", "5432");
	size_t hn = strcspn(host, ","), pn = strcspn(port, ",");
	size_t n = hn + pn + strlen(d->dbname) + 3;
	char *name = malloc(n);
	if (name) {
		snprintf(name, n, "%.*s-%.*s-%s", (int)hn, host, (int)pn, port, d->dbname);
		char *p = name;
		if (*p == '/')
			memmove(p, p + 1, strlen(p)); /* a socket folder: no leading '_' */
		for (; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
				*p = '_';
	}
	PQconninfoFree(defs);
	PQconninfoFree(opts);
	*out = name;
	return name ? SG_ERR_OK : SG_ERR_NOMEM;
}

const struct sg_store_ops sg__store_pg = {
    .scheme = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .exists = pg_exists,
    .drop = pg_drop,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .exec_bytes = pg_exec_bytes,
    .columns = pg_columns,
    .errmsg = pg_errmsg,
    .maintain = pg_maintain,
    .queued_writers = pg_queued_writers,
    .ident = pg_ident,
    .snap_save = sg__pg_snap_save,
    .snap_restore = sg__pg_snap_restore,
    .snap_delete = sg__pg_snap_delete,
    .snap_list = sg__pg_snap_list,
    .try_lock = pg_try_lock,
    .unlock = pg_unlock,
    .listen = pg_listen,
    .unlisten = pg_unlisten,
    .dialect = &sg_dialect_pg,
};

/* postgres://... is the same backend under libpq's other scheme. */
const struct sg_store_ops sg__store_postgres = {
    .scheme = "postgres",
    .open = pg_open,
    .close = pg_close,
    .exists = pg_exists,
    .drop = pg_drop,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .exec_bytes = pg_exec_bytes,
    .columns = pg_columns,
    .errmsg = pg_errmsg,
    .maintain = pg_maintain,
    .queued_writers = pg_queued_writers,
    .ident = pg_ident,
    .snap_save = sg__pg_snap_save,
    .snap_restore = sg__pg_snap_restore,
    .snap_delete = sg__pg_snap_delete,
    .snap_list = sg__pg_snap_list,
    .try_lock = pg_try_lock,
    .unlock = pg_unlock,
    .listen = pg_listen,
    .unlisten = pg_unlisten,
    .dialect = &sg_dialect_pg,
};
