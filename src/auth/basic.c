/*
 * basic.c - Basic authentication with a cache of verified credentials.
 */
#include "auth/basic.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/internal.h"
#include "auth/password.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define CACHE_SLOTS 1024
#define CACHE_TTL   300 /* seconds a verified credential is trusted */

struct cache_entry {
	unsigned char key[32];
	struct sg_user user;
	unsigned long gen, epoch;
	int64_t expires;
	bool used;
};

/* basic.c's share of struct sg_auth. */
struct sg__cred_cache {
	pthread_mutex_t lock;
	/* Bumped by a lock-out in this process, before its commit and again
	 * after: an entry made before the second bump is never used, even
	 * before this process reads the users_gen the lock-out bumped. */
	unsigned long epoch;
	struct cache_entry slots[CACHE_SLOTS];
};

/* The cache key's secret, and the hash verified against for unknown users
 * (same cost): one per process. */
static unsigned char cache_secret[crypto_generichash_KEYBYTES];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static char *dummy_hash;

struct sg__cred_cache *sg__cred_cache_new(void)
{
	struct sg__cred_cache *c = calloc(1, sizeof(*c));
	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

void sg__cred_cache_free(struct sg__cred_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	sodium_memzero(c->slots, sizeof(c->slots));
	free(c);
}

static void cache_init(void)
{
	randombytes_buf(cache_secret, sizeof(cache_secret));
	dummy_hash = sg_password_hash("snowglobe-no-such-user");
}

static void cache_key(const char *user, const char *password, unsigned char out[32])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, cache_secret, sizeof(cache_secret), 32);
	crypto_generichash_update(&st, (const unsigned char *)user, strlen(user) + 1);
	crypto_generichash_update(&st, (const unsigned char *)password, strlen(password));
	crypto_generichash_final(&st, out, 32);
}

struct user_row {
	struct sg_user user;
	char *hash;
	bool active, found, oom;
};

static int read_user(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct user_row *r = ud;
	if (ncol < 6)
		return 1;
	r->found = true;
	snprintf(r->user.sys_id, sizeof(r->user.sys_id), "%s", vals[0] ? vals[0] : "");
	snprintf(r->user.user_name, sizeof(r->user.user_name), "%s", vals[1] ? vals[1] : "");
	snprintf(r->user.name, sizeof(r->user.name), "%s", vals[2] ? vals[2] : "");
	r->hash = vals[3] ? strdup(vals[3]) : NULL;
	r->oom = vals[3] && !r->hash;
	r->active = sg_str_bool(vals[4], true);
	snprintf(r->user.time_zone, sizeof(r->user.time_zone), "%s", vals[5] ? vals[5] : "");
	return 1;
}

static void cache_invalidate(struct sg__cred_cache *c)
{
	pthread_mutex_lock(&c->lock);
	c->epoch++;
	pthread_mutex_unlock(&c->lock);
}

/*
 * Failed logins are counted on the user; at glide.user.max_unlock_attempts
 * the account locks, and glide.user.unlock_timeout_in_mins after the lock
 * (locked_out_on) it unlocks by itself [t_LockoutForFailedLogins.md].  A
 * success clears the count.
 *
 * The password is verified first (argon2id, no lock held); then what the
 * attempt does is decided on the user's row as stored at that moment.  When
 * the attempt changes the row (a count, a lock, a reset, an unlock) the
 * decision is taken again inside the write transaction, writers being
 * serialised: so no two attempts count from the same old value, and once
 * the lock is committed no attempt, the right password included, succeeds
 * until it is lifted.  Written as the system, so audited like any other
 * write.  A count that cannot be written fails the login (its error, never
 * a success): the lock-out must hold when the disk is full.
 */
#define LOCK_FIELD "locked_out_on"

struct user_state {
	bool found, active, locked, oom;
	long long failed;
	char locked_on[SG_DT_LEN + 1];
	char *hash;
};

static int read_state(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct user_state *s = ud;
	if (ncol < 5)
		return 1;
	s->found = true;
	s->active = sg_str_bool(vals[0], true);
	s->locked = sg_str_bool(vals[1], false);
	long long n = 0;
	s->failed = vals[2] && sg_str_number(vals[2], 0, INT32_MAX, &n) ? n : 0;
	snprintf(s->locked_on, sizeof(s->locked_on), "%s", vals[3] ? vals[3] : "");
	s->hash = vals[4] ? strdup(vals[4]) : NULL;
	s->oom = vals[4] && !s->hash;
	return 1;
}

/* The user's lock-out state as stored now.  has_on: the instance's sys_user
 * has LOCK_FIELD (instances made before it have none: their locks do not
 * expire). */
static sg_err load_state(sg_conn *c, const char *sys_id, bool has_on, struct user_state *s)
{
	memset(s, 0, sizeof(*s));
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"active\", \"locked_out\", \"failed_attempts\", ");
	sg_sql_raw(&q, has_on ? "\"" LOCK_FIELD "\"" : "''");
	sg_sql_raw(&q, ", \"user_password\" FROM \"sys_user\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	sg_err err = sg_conn_exec(c, &q, read_state, s, NULL);
	sg_sql_cleanup(&q);
	if (!err && s->oom)
		err = SG_ERR_NOMEM;
	return err;
}

struct verdict {
	bool accept;
	bool write;        /* the row changes: */
	long long failed;  /* its new failed_attempts */
	bool unlock, lock; /* locked_out and LOCK_FIELD cleared / set */
};

/* What an attempt whose password check gave ok does to a user in state s. */
static struct verdict decide(const struct user_state *s, const char *verified, bool ok,
                             long long max, long long mins, int64_t now)
{
	struct verdict v = {0};
	/* Deactivated, deleted, or given a new password since the check. */
	if (!s->found || !s->active || !s->hash || strcmp(s->hash, verified) != 0)
		return v;
	int64_t since;
	/* A timeout too long to count in seconds never ends. */
	bool expired = s->locked && mins > 0 && mins <= INT64_MAX / 60 &&
	               sg_time_parse(s->locked_on, &since) && now - since >= mins * 60;
	if (s->locked && !expired)
		return v; /* not counted: the lock holds, whatever the password */
	long long base = expired ? 0 : s->failed;
	v.unlock = expired;
	v.accept = ok;
	v.failed = ok ? 0 : (base < INT32_MAX ? base + 1 : base);
	v.lock = !ok && max > 0 && v.failed >= max;
	v.write = expired || v.lock || v.failed != s->failed;
	return v;
}

/* Writes v to the user's row inside ctx's write transaction. */
static sg_err record(struct sg_ctx *ctx, const char *sys_id, const struct verdict *v, bool has_on)
{
	char n[24], at[SG_DT_LEN + 1];
	snprintf(n, sizeof(n), "%lld", v->failed);
	sg_time_format(sg_time_now(), at);
	json_t *in = json_pack("{s:s}", "failed_attempts", n);
	bool oom = !in;
	if (!oom && (v->lock || v->unlock))
		oom =
		    json_object_set_new(in, "locked_out", json_string(v->lock ? "true" : "false"));
	if (!oom && has_on && (v->lock || v->unlock))
		oom = json_object_set_new(in, LOCK_FIELD, json_string(v->lock ? at : ""));
	struct sg_write_opts wo = {0};
	sg_err err = oom ? SG_ERR_NOMEM : sg_rec_update(ctx, "sys_user", sys_id, in, &wo);
	json_decref(in);
	return err;
}

/* A user name as a log line may show it: printable ASCII, others as '?'. */
static void log_name(const char *in, char *out, size_t size)
{
	size_t i = 0;
	for (; in[i] && i + 1 < size; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

/* Decides (and records) an attempt as user u whose stored hash, verified,
 * was checked against the password given, with result ok.  *accept: the
 * attempt succeeds (only ever with SG_ERR_OK). */
static sg_err settle(struct sg_auth *a, const struct sg_user *u, const char *verified, bool ok,
                     bool *accept)
{
	*accept = false;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (err)
		return err;
	const struct sg_table *t = sg_dict_table(ctx.dict, "sys_user");
	bool has_on = t && sg_table_field(t, LOCK_FIELD);
	long long max = 0, mins = 0;
	err = sg_prop_int(&ctx, "glide.user.max_unlock_attempts", 5, &max);
	if (!err)
		err = sg_prop_int(&ctx, "glide.user.unlock_timeout_in_mins", 15, &mins);
	struct user_state s = {0};
	if (!err)
		err = load_state(ctx.conn, u->sys_id, has_on, &s);
	struct verdict v = decide(&s, verified, ok, max, mins, sg_time_now());
	bool locked = false;
	if (!err && v.write) {
		/* Again under the write lock: the row as the other attempts left it. */
		err = sg_conn_begin(ctx.conn, true);
		if (!err) {
			free(s.hash);
			err = load_state(ctx.conn, u->sys_id, has_on, &s);
			v = decide(&s, verified, ok, max, mins, sg_time_now());
			if (!err && v.write)
				err = record(&ctx, u->sys_id, &v, has_on);
			if (!err && v.lock)
				cache_invalidate(a->cred);
			if (err)
				sg_conn_rollback(ctx.conn);
			else
				err = sg_conn_commit(ctx.conn);
			locked = !err && v.lock;
			if (v.lock)
				cache_invalidate(a->cred);
			/* What the after-commit rule does for a write of its own. */
			if (!err && v.write)
				sg_model_sync(a->model);
		}
		if (err) {
			char name[64];
			log_name(u->user_name, name, sizeof(name));
			sg_log_error("auth: could not record a login attempt for %s: %s", name,
			             sg_err_name(err));
		}
	}
	free(s.hash);
	sg_ctx_end(&ctx);
	if (locked) {
		/* The name only: never the password tried. */
		char name[64], when[256];
		log_name(u->user_name, name, sizeof(name));
		if (mins > 0 && has_on)
			snprintf(
			    when, sizeof(when),
			    "it unlocks in %lld min (glide.user.unlock_timeout_in_mins) or with "
			    "'nowctl user unlock %s'",
			    mins, name);
		else
			snprintf(when, sizeof(when),
			         "it stays locked until 'nowctl user unlock %s'", name);
		sg_log_warn("auth: user %s locked out after %lld failed logins "
		            "(glide.user.max_unlock_attempts); %s",
		            name, v.failed, when);
	}
	*accept = !err && v.accept;
	return err;
}

sg_err sg_auth_password(struct sg_auth *a, const char *user_name, const char *password,
                        struct sg_user *user)
{
	pthread_once(&cache_once, cache_init);
	struct sg_model *m = a->model;
	struct sg__cred_cache *c = a->cred;
	unsigned char key[32];
	cache_key(user_name, password, key);
	size_t slot = (key[0] | (size_t)key[1] << 8) % CACHE_SLOTS;
	/* Read before the user is: an entry made from a row that a later write
	 * (a lock) changed is stale at once.  A lock always writes the row. */
	unsigned long gen = atomic_load(&m->users_gen);
	int64_t now = sg_time_now();

	pthread_mutex_lock(&c->lock);
	unsigned long epoch = c->epoch;
	struct cache_entry *e = &c->slots[slot];
	if (e->used && e->gen == gen && e->epoch == epoch && e->expires > now &&
	    !sodium_memcmp(e->key, key, 32)) {
		*user = e->user;
		pthread_mutex_unlock(&c->lock);
		return SG_ERR_OK;
	}
	pthread_mutex_unlock(&c->lock);

	sg_conn *conn = sg_store_conn(m->store);
	if (!conn)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"user_name\", \"name\", \"user_password\", \"active\", "
	               "\"time_zone\" FROM \"sys_user\" WHERE \"user_name\" = ");
	sg_sql_text(&q, user_name);
	struct user_row r = {0};
	sg_err err = sg_conn_exec(conn, &q, read_user, &r, NULL);
	sg_sql_cleanup(&q);
	if (!err && r.oom)
		err = SG_ERR_NOMEM;
	if (err) {
		free(r.hash);
		return err;
	}
	/* Unknown users, and users without a password, cost a verification
	 * too, so timing tells nothing; they never succeed. */
	bool has_hash = r.found && r.hash;
	bool ok = sg_password_verify(has_hash ? r.hash : dummy_hash, password) && has_hash;
	bool accept = false;
	if (has_hash && r.active)
		err = settle(a, &r.user, r.hash, ok, &accept);
	free(r.hash);
	if (err)
		return err;
	if (!accept)
		return SG_ERR_UNAUTHENTICATED;

	pthread_mutex_lock(&c->lock);
	memcpy(e->key, key, 32);
	e->user = r.user;
	e->gen = gen;
	e->epoch = epoch;
	e->expires = now + CACHE_TTL;
	e->used = true;
	pthread_mutex_unlock(&c->lock);
	*user = r.user;
	return SG_ERR_OK;
}

sg_err sg_auth_basic(struct sg_auth *a, const char *authorization, struct sg_user *user)
{
	if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
		return SG_ERR_UNAUTHENTICATED;
	const char *b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	size_t n = strlen(b64);
	if (n == 0 || n > 4096)
		return SG_ERR_UNAUTHENTICATED;
	unsigned char *raw = malloc(n + 1);
	size_t len = 0;
	if (!raw)
		return SG_ERR_NOMEM;
	if (sodium_base642bin(raw, n, b64, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) !=
	    0) {
		free(raw);
		return SG_ERR_UNAUTHENTICATED;
	}
	raw[len] = '\0';
	char *colon = memchr(raw, ':', len);
	sg_err err = SG_ERR_UNAUTHENTICATED;
	if (colon && memchr(raw, '\0', len) == NULL) {
		*colon = '\0';
		err = sg_auth_password(a, (char *)raw, colon + 1, user);
	}
	sodium_memzero(raw, n + 1);
	free(raw);
	return err;
}
