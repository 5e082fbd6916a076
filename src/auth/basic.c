/*
 * basic.c - Basic authentication with a cache of verified credentials.
 */
#include "auth/basic.h"

#include <pthread.h>
#include <sodium.h>
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
	unsigned long gen;
	int64_t expires;
	bool used;
};

/* basic.c's share of struct sg_auth. */
struct sg__cred_cache {
	pthread_mutex_t lock;
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
	bool active, locked, found, oom;
	int failed_attempts;
};

static int read_user(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct user_row *r = ud;
	if (ncol < 7)
		return 1;
	r->found = true;
	snprintf(r->user.sys_id, sizeof(r->user.sys_id), "%s", vals[0] ? vals[0] : "");
	snprintf(r->user.user_name, sizeof(r->user.user_name), "%s", vals[1] ? vals[1] : "");
	snprintf(r->user.name, sizeof(r->user.name), "%s", vals[2] ? vals[2] : "");
	r->hash = vals[3] ? strdup(vals[3]) : NULL;
	r->oom = vals[3] && !r->hash;
	r->active = sg_str_bool(vals[4], true);
	r->locked = sg_str_bool(vals[5], false);
	snprintf(r->user.time_zone, sizeof(r->user.time_zone), "%s", vals[6] ? vals[6] : "");
	r->failed_attempts = ncol > 7 && vals[7] ? atoi(vals[7]) : 0;
	return 1;
}

/*
 * Failed logins are counted on the user; at glide.user.max_unlock_attempts
 * the account locks [t_LockoutForFailedLogins.md].  A success clears the
 * count.  Written as the system, so the write is audited like any other.
 * A count that cannot be written fails the login: the lockout must hold.
 */
static sg_err count_attempt(struct sg_model *m, const struct user_row *r, bool ok)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	long long max;
	err = sg_prop_int(&ctx, "glide.user.max_unlock_attempts", 5, &max);
	int attempts = ok ? 0 : r->failed_attempts + 1;
	char n[16];
	snprintf(n, sizeof(n), "%d", attempts);
	json_t *in = err ? NULL : json_pack("{s:s}", "failed_attempts", n);
	if (!err && (!in || (!ok && max > 0 && attempts >= max &&
	                     json_object_set_new(in, "locked_out", json_string("true")))))
		err = SG_ERR_NOMEM;
	struct sg_write_opts wo = {0};
	if (!err)
		err = sg_rec_update(&ctx, "sys_user", r->user.sys_id, in, &wo);
	if (err)
		sg_log_error("auth: could not record a login attempt for %s: %s", r->user.user_name,
		             sg_err_name(err));
	json_decref(in);
	sg_ctx_end(&ctx);
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
	unsigned long gen = atomic_load(&m->users_gen);
	int64_t now = sg_time_now();

	pthread_mutex_lock(&c->lock);
	struct cache_entry *e = &c->slots[slot];
	if (e->used && e->gen == gen && e->expires > now && !sodium_memcmp(e->key, key, 32)) {
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
	               "\"locked_out\", \"time_zone\", \"failed_attempts\" FROM \"sys_user\" "
	               "WHERE \"user_name\" = ");
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
	/* Unknown users cost a verification too, so timing tells nothing. */
	bool ok = sg_password_verify(r.found && r.hash ? r.hash : dummy_hash, password);
	free(r.hash);
	if (r.found && r.active && !r.locked && (!ok || r.failed_attempts > 0))
		err = count_attempt(m, &r, ok);
	if (err)
		return err;
	if (!ok || !r.found || !r.active || r.locked)
		return SG_ERR_UNAUTHENTICATED;

	pthread_mutex_lock(&c->lock);
	memcpy(e->key, key, 32);
	e->user = r.user;
	e->gen = gen;
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
