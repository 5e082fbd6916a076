/*
 * oauth.c - outbound OAuth (oauth.h, oauth_flow.h): the tokens this instance
 * presents to a third party, got from an OAuth provider's token endpoint
 * (oauth_entity of type oauth_provider, through an oauth_entity_profile),
 * kept encrypted in oauth_credential.token_received.
 *
 * Tokens received are told apart from the tokens the instance issues (the
 * same table, auth/oauth.c) by oauth_requestor_profile: set on every
 * received token, never on an issued one; an issued token has its hash in
 * "token", a received one has "token" empty, so neither can be taken for
 * the other.
 *
 * One new token at a time per profile: a mutex per profile stripe in the
 * process, and a byte-range lock (Linux open-file-description lock) on the
 * file "<database file>-oauth.lock" between processes.  Whoever waited
 * reads the stored tokens again before asking the provider.
 *
 * Every request goes through net/client.h.  Nothing secret reaches a log or
 * a message: the client secret, the tokens, the code, the verifier and the
 * resource owner's password are only ever in the request body or header.
 */
#include "outbound/oauth.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/password.h"
#include "auth/secret.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "net/client.h"
#include "outbound/internal.h"
#include "outbound/oauth_flow.h"
#include "store/dialect.h"
#include "store/sql.h"
#include "store/store.h"

#define MAX_TOKEN_ANSWER (256 * 1024) /* a token endpoint's answer */
#define MAX_SCOPE        512

static void say(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t size, const char *fmt, ...)
{
	if (!msg || !size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
}

/* A string member of o, "" when absent or not a string. */
static const char *str(const json_t *o, const char *key)
{
	const char *s = sg_json_str(o, key);
	return s ? s : "";
}

/* ---- rows ------------------------------------------------------------------- */

struct rows {
	json_t *rows;
	bool failed;
};

static int on_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct rows *r = ud;
	json_t *o = json_object();
	if (!o || json_array_append_new(r->rows, o)) {
		r->failed = true;
		return 1;
	}
	for (int i = 0; i < ncol; i++)
		if (json_object_set_new(o, names[i], json_string(vals[i] ? vals[i] : ""))) {
			r->failed = true;
			return 1;
		}
	return 0;
}

static sg_err query_rows(struct sg_ctx *ctx, const struct sg_sql *q, json_t **out)
{
	struct rows r = {json_array(), false};
	*out = NULL;
	if (!r.rows)
		return SG_ERR_NOMEM;
	sg_err err = sg_conn_exec(ctx->conn, q, on_row, &r, NULL);
	if (!err && r.failed)
		err = SG_ERR_NOMEM;
	if (err)
		json_decref(r.rows);
	else
		*out = r.rows;
	return err;
}

/* The first row, or NULL: *out (new reference). */
static sg_err query_one(struct sg_ctx *ctx, const struct sg_sql *q, json_t **out)
{
	json_t *rows;
	*out = NULL;
	sg_err err = query_rows(ctx, q, &rows);
	if (err)
		return err;
	*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return SG_ERR_OK;
}

/* ---- the provider and its profile ---------------------------------------- */

struct prov {
	json_t *profile; /* sys_id, name, grant_type, oauth_entity */
	json_t *entity;  /* oauth_entity's columns below, client_secret as stored */
	char scope[MAX_SCOPE];
};

static void prov_free(struct prov *p)
{
	json_decref(p->profile);
	json_decref(p->entity);
	memset(p, 0, sizeof(*p));
}

static sg_err profile_row(struct sg_ctx *ctx, const char *id, json_t **out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"name\", \"grant_type\", \"oauth_entity\" FROM "
	               "\"oauth_entity_profile\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	sg_err err = query_one(ctx, &q, out);
	sg_sql_cleanup(&q);
	return err;
}

/* Loads profile_id, its provider and its scopes.  SG_ERR_NO_RECORD (msg) for
 * an unknown profile, or one whose provider is missing, inactive or not an
 * OAuth provider. */
static sg_err load(struct sg_ctx *ctx, const char *profile_id, struct prov *p, char *msg,
                   size_t msg_size)
{
	memset(p, 0, sizeof(*p));
	sg_err err = profile_row(ctx, profile_id ? profile_id : "", &p->profile);
	if (!err && !p->profile) {
		say(msg, msg_size, "no OAuth profile %s", profile_id ? profile_id : "");
		return SG_ERR_NO_RECORD;
	}
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"name\", \"type\", \"active\", \"client_id\", "
	               "\"client_secret\", \"token_url\", \"auth_url\", \"redirect_url\", "
	               "\"send_credentials\", \"code_challenge_method\", "
	               "\"access_token_lifespan\", \"refresh_token_lifespan\" "
	               "FROM \"oauth_entity\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, str(p->profile, "oauth_entity"));
	if (!err)
		err = query_one(ctx, &q, &p->entity);
	sg_sql_cleanup(&q);
	if (!err && (!p->entity || strcmp(str(p->entity, "type"), "oauth_provider") != 0)) {
		say(msg, msg_size, "the OAuth profile %s has no OAuth provider",
		    str(p->profile, "name"));
		err = SG_ERR_NO_RECORD;
	} else if (!err && !sg_str_bool(str(p->entity, "active"), true)) {
		say(msg, msg_size, "the OAuth provider %s is inactive", str(p->entity, "name"));
		err = SG_ERR_NO_RECORD;
	}
	json_t *rows = NULL;
	if (!err) {
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT s.\"oauth_entity_scope\" AS \"scope\" FROM "
		               "\"oauth_entity_profile_scope\" ps JOIN \"oauth_entity_scope\" s ON "
		               "s.\"sys_id\" = ps.\"oauth_entity_scope\" WHERE "
		               "ps.\"oauth_entity_profile\" = ");
		sg_sql_text(&q, profile_id);
		sg_sql_raw(&q, " ORDER BY s.\"oauth_entity_scope\" LIMIT 100");
		err = query_rows(ctx, &q, &rows);
		sg_sql_cleanup(&q);
	}
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *s = str(row, "scope");
		size_t len = strlen(p->scope);
		if (*s && len + strlen(s) + 2 < sizeof(p->scope))
			snprintf(p->scope + len, sizeof(p->scope) - len, "%s%s", len ? " " : "", s);
	}
	json_decref(rows);
	if (err)
		prov_free(p);
	return err;
}

static long long entity_num(const struct prov *p, const char *field, long long dflt)
{
	long long v;
	return sg_str_number(str(p->entity, field), 1, 1LL << 40, &v) ? v : dflt;
}

/* ---- stored tokens --------------------------------------------------------- */

struct stored {
	char access_id[SG_ID_LEN + 1], refresh_id[SG_ID_LEN + 1];
	int64_t access_exp, refresh_exp;
	char *access_sealed, *refresh_sealed;
};

static void stored_free(struct stored *s)
{
	free(s->access_sealed);
	free(s->refresh_sealed);
	memset(s, 0, sizeof(*s));
}

/* The newest access and refresh token received for profile_id. */
static sg_err read_stored(struct sg_ctx *ctx, const char *profile_id, struct stored *s)
{
	memset(s, 0, sizeof(*s));
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"type\", \"expires\", \"token_received\" FROM "
	               "\"oauth_credential\" WHERE \"oauth_requestor_profile\" = ");
	sg_sql_text(&q, profile_id);
	const struct sg_dialect *d = sg_conn_dialect(ctx->conn);
	sg_sql_raw(&q, " ORDER BY \"sys_created_on\"");
	sg_sql_raw(&q, d->order_desc);
	sg_sql_raw(&q, ", \"expires\"");
	sg_sql_raw(&q, d->order_desc); /* no expiry last */
	sg_sql_raw(&q, " LIMIT 20");
	json_t *rows;
	sg_err err = query_rows(ctx, &q, &rows);
	sg_sql_cleanup(&q);
	if (err)
		return err;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		bool access = !strcmp(str(row, "type"), "access_token");
		bool refresh = !strcmp(str(row, "type"), "refresh_token");
		char *id = access ? s->access_id : s->refresh_id;
		char **sealed = access ? &s->access_sealed : &s->refresh_sealed;
		if ((!access && !refresh) || *id || !*str(row, "token_received"))
			continue;
		int64_t t = 0;
		sg_time_parse(str(row, "expires"), &t);
		snprintf(id, SG_ID_LEN + 1, "%s", str(row, "sys_id"));
		*(access ? &s->access_exp : &s->refresh_exp) = t;
		if (!(*sealed = strdup(str(row, "token_received")))) {
			err = SG_ERR_NOMEM;
			break;
		}
	}
	json_decref(rows);
	if (err)
		stored_free(s);
	return err;
}

/* ---- the lock -------------------------------------------------------------- */

#define STRIPES 64
static pthread_mutex_t stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&stripes[i], NULL);
}

struct lock {
	unsigned stripe;
	int fd;
	bool held;      /* the process's mutex */
	sg_conn *named; /* holds the database's named lock (PostgreSQL) */
};

/* The database's named lock of a stripe: every node's (sg_conn_lock);
 * apart from the store's own write lock. */
#define NAMED_LOCK_BASE 0x53474f4100LL /* "SGOA" << 8 */

static unsigned stripe_of(const char *profile_id)
{
	unsigned h = 2166136261u;
	for (const char *c = profile_id; *c; c++)
		h = (h ^ (unsigned char)*c) * 16777619u;
	return h % STRIPES;
}

/* Takes profile_id's lock, in the process and, for a SQLite file, between
 * processes (a byte of the lock file per stripe). */
static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes profile_id's lock, in the process and, for a SQLite file, between
 * processes (a byte of the lock file per stripe), waiting at most wait_ms:
 * past that it goes on without it (logged) rather than wait for ever -- a
 * caller inside a write transaction (a business rule's REST call) could
 * otherwise wait for a holder that waits for its write lock. */
static void lock_profile(struct sg_ctx *ctx, const char *profile_id, long long wait_ms,
                         struct lock *l)
{
	pthread_once(&stripes_once, stripes_init);
	l->stripe = stripe_of(profile_id);
	l->fd = -1;
	l->held = false;
	l->named = NULL;
	long long deadline = now_ms() + wait_ms;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(wait_ms / 1000);
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if (pthread_mutex_timedlock(&stripes[l->stripe], &until) != 0) {
		sg_log_warn(
		    "oauth: the profile %s stayed locked %lld ms; going on without the lock",
		    profile_id, wait_ms);
		return;
	}
	l->held = true;
	struct sg_sql q;
	sg_sql_init(&q);
	if (!sg_conn_dialect(ctx->conn)->db_file(&q)) {
		sg_sql_cleanup(&q);
		/* No file to lock beside: the database's named lock, which every
		 * node on it sees.  Without one, this process's lock only. */
		bool got = false;
		long long left = deadline - now_ms();
		sg_err err =
		    sg_conn_lock(ctx->conn, NAMED_LOCK_BASE + l->stripe, left > 0 ? left : 0, &got);
		if (got)
			l->named = ctx->conn;
		else if (err != SG_ERR_INTERNAL)
			sg_log_warn("oauth: the profile %s: %s (this process only)", profile_id,
			            err ? "cannot take the database's lock" : "locked too long");
		return;
	}
	char *file = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, &file);
	sg_sql_cleanup(&q);
	if (!err && file && *file) {
		char path[4096];
		int n = snprintf(path, sizeof(path), "%s-oauth.lock", file);
		if (n > 0 && (size_t)n < sizeof(path))
			l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		struct flock fl = {.l_type = F_WRLCK,
		                   .l_whence = SEEK_SET,
		                   .l_start = (off_t)l->stripe,
		                   .l_len = 1};
		while (l->fd >= 0 && fcntl(l->fd, F_OFD_SETLK, &fl) != 0) {
			if ((errno == EAGAIN || errno == EACCES || errno == EINTR) &&
			    now_ms() < deadline) {
				usleep(20 * 1000);
				continue;
			}
			sg_log_warn("oauth: cannot lock %s: %s (this process only)", path,
			            errno == EAGAIN || errno == EACCES ? "held too long"
			                                               : strerror(errno));
			close(l->fd);
			l->fd = -1;
		}
	}
	free(file);
}

static void unlock_profile(struct lock *l)
{
	if (l->fd >= 0)
		close(l->fd); /* releases the lock */
	if (l->named)
		sg_conn_unlock(l->named, NAMED_LOCK_BASE + l->stripe);
	if (l->held)
		pthread_mutex_unlock(&stripes[l->stripe]);
}

/* How long to wait for a profile's lock: a token request's time and some,
 * or 2 s inside a write transaction (see lock_profile). */
static long long lock_wait(struct sg_ctx *ctx)
{
	long long timeout = 30;
	if (sg_prop_int(ctx, "glide.oauth.outbound.timeout", 30, &timeout) || timeout <= 0 ||
	    timeout > 3600)
		timeout = 30;
	return sg_conn_in_transaction(ctx->conn) ? 2000 : (timeout + 5) * 1000;
}

/* ---- the token endpoint ---------------------------------------------------- */

struct answer {
	char *access, *refresh;
	long long expires_in, refresh_expires_in;
	char scope[MAX_SCOPE];
};

static void answer_free(struct answer *a)
{
	if (a->access)
		sodium_memzero(a->access, strlen(a->access));
	if (a->refresh)
		sodium_memzero(a->refresh, strlen(a->refresh));
	free(a->access);
	free(a->refresh);
	memset(a, 0, sizeof(*a));
}

/* A provider's words for the message: printable ASCII, at most max bytes. */
static void clean_words(char *out, size_t size, const char *in)
{
	size_t o = 0;
	for (const char *c = in; c && *c && o + 1 < size; c++)
		out[o++] = (*c >= 0x20 && *c < 0x7f) ? *c : ' ';
	out[o] = '\0';
}

/* A number or a string of digits. */
static long long json_seconds(const json_t *v, long long dflt)
{
	long long n;
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? json_integer_value(v) : dflt;
	if (json_is_real(v))
		return json_real_value(v) > 0 ? (long long)json_real_value(v) : dflt;
	if (json_is_string(v) && sg_str_number(json_string_value(v), 1, 1LL << 40, &n))
		return n;
	return dflt;
}

static bool is_json_type(const char *ct)
{
	if (!ct)
		return true; /* none said: the body decides */
	size_t n = strcspn(ct, ";");
	while (n && ct[n - 1] == ' ')
		n--;
	return (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
	       (n > 5 && !strncasecmp(ct + n - 5, "+json", 5)) ||
	       (n == 10 && !strncasecmp(ct, "text/plain", 10)); /* some providers */
}

/* Says in res (may be NULL) why no token came. */
static void failed(struct sg_oauth_out_result *res, enum sg_oauth_out_failure why, int status)
{
	if (res) {
		res->failure = why;
		res->provider_status = status;
	}
}

/* Reads a token endpoint's answer into a: SG_ERR_OAUTH_DENIED (msg) when the
 * provider refused, SG_ERR_INTERNAL when it answered what is not a token;
 * res (may be NULL) says which. */
static sg_err read_answer(const struct prov *p, const struct sg_http_response *r, struct answer *a,
                          struct sg_oauth_out_result *res, char *msg, size_t msg_size)
{
	const char *pname = str(p->entity, "name");
	const char *ct = sg_http_response_header(r, "content-type");
	json_error_t jerr;
	json_t *j = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &jerr) : NULL;
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	sg_err err = SG_ERR_OK;
	if (r->status < 200 || r->status > 299) {
		char e[80] = "", d[200] = "";
		clean_words(e, sizeof(e), str(j, "error"));
		clean_words(d, sizeof(d), str(j, "error_description"));
		if (*e)
			say(msg, msg_size, "the OAuth provider %s refused (HTTP %d): %s%s%s%s",
			    pname, r->status, e, *d ? " (" : "", d, *d ? ")" : "");
		else
			say(msg, msg_size, "the OAuth provider %s answered HTTP %d", pname,
			    r->status);
		err = (r->status >= 400 && r->status < 500) ? SG_ERR_OAUTH_DENIED : SG_ERR_INTERNAL;
		failed(res, SG_OAUTH_OUT_REFUSED, r->status);
	} else if (!j || !is_json_type(ct)) {
		char t[80];
		clean_words(t, sizeof(t), ct ? ct : "no Content-Type");
		say(msg, msg_size, "the OAuth provider %s answered %s, not a JSON token", pname, t);
		err = SG_ERR_INTERNAL;
		failed(res, SG_OAUTH_OUT_BAD_ANSWER, r->status);
	} else if (!json_is_string(json_object_get(j, "access_token")) ||
	           !*str(j, "access_token")) {
		say(msg, msg_size, "the OAuth provider %s answered no access_token", pname);
		err = SG_ERR_INTERNAL;
		failed(res, SG_OAUTH_OUT_BAD_ANSWER, r->status);
	} else {
		const char *type = str(j, "token_type");
		if (*type && strcasecmp(type, "bearer") != 0)
			sg_log_warn("oauth: the OAuth provider %s gives tokens of type %.40s; "
			            "presented as Bearer",
			            pname, type);
		a->access = strdup(str(j, "access_token"));
		const char *refresh = str(j, "refresh_token");
		a->refresh = *refresh ? strdup(refresh) : NULL;
		a->expires_in = json_seconds(json_object_get(j, "expires_in"),
		                             entity_num(p, "access_token_lifespan", 1800));
		a->refresh_expires_in =
		    json_seconds(json_object_get(j, "refresh_token_expires_in"),
		                 entity_num(p, "refresh_token_lifespan", 8640000));
		const char *scope =
		    json_is_string(json_object_get(j, "scope")) ? str(j, "scope") : p->scope;
		snprintf(a->scope, sizeof(a->scope), "%s", scope);
		if (!a->access || (*refresh && !a->refresh))
			err = SG_ERR_NOMEM;
	}
	json_decref(j);
	if (err)
		answer_free(a);
	return err;
}

/* POSTs the grant (pairs of name, value, NULL-ended) to the provider's token
 * URL with the client's credentials as the provider wants them; res (may be
 * NULL) says why when no token came from the provider. */
static sg_err call_token_endpoint(struct sg_ctx *ctx, const struct prov *p,
                                  const char *const *params, struct answer *a,
                                  struct sg_oauth_out_result *res, char *msg, size_t msg_size)
{
	memset(a, 0, sizeof(*a));
	const char *pname = str(p->entity, "name");
	const char *url = str(p->entity, "token_url");
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		say(msg, msg_size, "the OAuth provider %s has no http(s) Token URL", pname);
		return SG_ERR_NO_RECORD;
	}
	/* The same allow-list, proxy and CA bundle as every other outbound call. */
	struct sg__out_policy pol;
	sg_err err = sg__out_policy_load(ctx, &pol);
	if (err)
		return err;
	char why[384];
	if (!sg__out_policy_allows(&pol, url, why, sizeof(why))) {
		say(msg, msg_size, "the Token URL of the OAuth provider %s is refused: %s", pname,
		    why);
		sg__out_policy_cleanup(&pol);
		return SG_ERR_NO_RECORD;
	}
	char *secret = NULL;
	err = sg_secret_decrypt(ctx, str(p->entity, "client_secret"), &secret);
	if (err == SG_ERR_NOMEM) {
		sg__out_policy_cleanup(&pol);
		return err;
	}
	if (err || sg_password_is_hash(secret)) {
		say(msg, msg_size,
		    "the client secret of the OAuth provider %s cannot be read (set it again)",
		    pname);
		free(secret);
		sg__out_policy_cleanup(&pol);
		return SG_ERR_INTERNAL;
	}
	long long timeout = 30;
	err = sg_prop_int(ctx, "glide.oauth.outbound.timeout", 30, &timeout);
	bool basic = !strcmp(str(p->entity, "send_credentials"), "basic");
	struct sg_buf body;
	sg_buf_init(&body, 64 * 1024);
	for (size_t i = 0; params[i]; i += 2) {
		if (!params[i + 1] || !*params[i + 1])
			continue;
		if (body.len)
			sg_buf_putc(&body, '&');
		sg_buf_puts(&body, params[i]);
		sg_buf_putc(&body, '=');
		sg_buf_put_urlenc(&body, params[i + 1]);
	}
	if (!basic) {
		sg_buf_puts(&body, "&client_id=");
		sg_buf_put_urlenc(&body, str(p->entity, "client_id"));
		sg_buf_puts(&body, "&client_secret=");
		sg_buf_put_urlenc(&body, secret);
	}
	struct sg_http_options o;
	sg_http_options_init(&o);
	o.timeout_ms = (timeout > 0 && timeout < 3600 ? timeout : 30) * 1000;
	o.connect_timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
	o.max_body = MAX_TOKEN_ANSWER;
	o.retry.max_attempts = 1;
	o.user_agent = "Snowglobe";
	sg__out_policy_apply(&pol, &o);
	struct sg_kv accept = {"Accept", "application/json"};
	struct sg_http_request req = {
	    .method = "POST",
	    .url = url,
	    .headers = &accept,
	    .n_headers = 1,
	    .body = body.data ? body.data : "",
	    .body_len = body.len,
	    .content_type = "application/x-www-form-urlencoded",
	    .user = basic ? str(p->entity, "client_id") : NULL,
	    .password = basic ? secret : NULL,
	};
	struct sg_http_client *c = NULL;
	struct sg_http_response r;
	sg_http_response_init(&r);
	if (!err && sg_buf_failed(&body))
		err = SG_ERR_NOMEM;
	if (!err && !(c = sg_http_client_new(&o)))
		err = SG_ERR_NOMEM;
	if (!err) {
		sg_net_err ne = sg_http_client_do(c, &req, &r);
		if (ne == SG_NET_NOMEM) {
			err = SG_ERR_NOMEM;
		} else if (ne != SG_NET_OK) {
			say(msg, msg_size, "the OAuth provider %s could not be reached: %s%s%s",
			    pname, sg_net_err_step(ne), r.detail[0] ? ": " : "", r.detail);
			err = SG_ERR_INTERNAL;
			failed(res, SG_OAUTH_OUT_UNREACHABLE, 0);
		} else {
			err = read_answer(p, &r, a, res, msg, msg_size);
		}
	}
	sg_http_client_free(c);
	sg_http_response_cleanup(&r);
	if (body.data)
		sodium_memzero(body.data, body.len);
	sg_buf_cleanup(&body);
	sodium_memzero(secret, strlen(secret));
	free(secret);
	sg__out_policy_cleanup(&pol);
	return err;
}

/* Stores a's tokens for p (token_received is encrypted by auth's password2
 * rule), replacing the profile's earlier access token, and its refresh token
 * when a new one came.  One transaction. */
static sg_err store_answer(struct sg_ctx *ctx, const struct prov *p, const struct answer *a,
                           const char *user_id)
{
	const char *pid = str(p->profile, "sys_id");
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"oauth_credential\" WHERE "
	               "\"oauth_requestor_profile\" = ");
	sg_sql_text(&q, pid);
	sg_sql_raw(&q, a->refresh ? " AND \"type\" IN ('access_token', 'refresh_token')"
	                          : " AND \"type\" = 'access_token'");
	json_t *old = NULL;
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err) {
		sg_sql_cleanup(&q);
		return err;
	}
	err = query_rows(ctx, &q, &old);
	sg_sql_cleanup(&q);
	size_t i;
	json_t *row;
	json_array_foreach(old, i, row)
	{
		if (!err)
			err = sg_rec_delete(ctx, "oauth_credential", str(row, "sys_id"));
	}
	json_decref(old);
	const char *kinds[2] = {"access_token", "refresh_token"};
	const char *values[2] = {a->access, a->refresh};
	long long lives[2] = {a->expires_in, a->refresh_expires_in};
	for (int k = 0; k < 2 && !err; k++) {
		if (!values[k])
			continue;
		char expires[SG_DT_LEN + 1], id[SG_ID_LEN + 1];
		sg_time_format(sg_time_real() + lives[k], expires);
		json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "token_received",
		                       values[k], "type", kinds[k], "expires", expires, "peer",
		                       str(p->entity, "sys_id"), "oauth_requestor_profile", pid,
		                       "scope", a->scope, "user", user_id ? user_id : "");
		struct sg_write_opts wo = {0};
		err = in ? sg_rec_insert(ctx, "oauth_credential", in, &wo, id) : SG_ERR_NOMEM;
		json_decref(in);
	}
	if (err)
		sg_conn_rollback(ctx->conn);
	else
		err = sg_conn_commit(ctx->conn);
	return err;
}

/* ---- getting a token ------------------------------------------------------- */

static long long skew_seconds(struct sg_ctx *ctx, sg_err *err)
{
	long long skew = 60;
	*err = sg_prop_int(ctx, "glide.oauth.outbound.token.skew", 60, &skew);
	return skew < 0 ? 0 : skew;
}

/* The stored access token when it is valid for more than skew: *out. */
static sg_err usable_access(struct sg_ctx *ctx, const struct stored *s, long long skew, char **out)
{
	*out = NULL;
	if (!s->access_sealed || s->access_exp - skew <= sg_time_real())
		return SG_ERR_OK;
	sg_err err = sg_secret_decrypt(ctx, s->access_sealed, out);
	return err == SG_ERR_NOMEM ? err : SG_ERR_OK; /* unreadable: get a new one */
}

/* Runs grant params for p and stores what came; *out (may be NULL) the new
 * access token. */
static sg_err grant(struct sg_ctx *ctx, const struct prov *p, const char *const *params,
                    const char *user_id, char **out, struct sg_oauth_out_result *res, char *msg,
                    size_t msg_size)
{
	struct answer a;
	sg_err err = call_token_endpoint(ctx, p, params, &a, res, msg, msg_size);
	if (!err)
		err = store_answer(ctx, p, &a, user_id);
	if (!err && res) {
		res->expires_in = a.expires_in;
		res->refresh = a.refresh != NULL;
		snprintf(res->scope, sizeof(res->scope), "%s", a.scope);
	}
	if (!err && out && !(*out = strdup(a.access)))
		err = SG_ERR_NOMEM;
	if (!err)
		sg_log_info("oauth: new access token from the OAuth provider %s for the profile %s "
		            "(%lld s%s)",
		            str(p->entity, "name"), str(p->profile, "name"), a.expires_in,
		            a.refresh ? ", with a refresh token" : "");
	answer_free(&a);
	return err;
}

/* Drops the profile's refresh token after the provider refused it. */
static sg_err drop_refresh(struct sg_ctx *ctx, const char *id)
{
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		return err;
	err = sg_rec_delete(ctx, "oauth_credential", id);
	if (err == SG_ERR_NO_RECORD)
		err = SG_ERR_OK;
	if (err)
		sg_conn_rollback(ctx->conn);
	else
		err = sg_conn_commit(ctx->conn);
	return err;
}

/* Under the profile's lock: a new access token, by the refresh token when
 * one is stored and valid, else by the profile's grant when it needs no
 * person. */
static sg_err renew(struct sg_ctx *ctx, const struct prov *p, const struct stored *s, char **out,
                    char *msg, size_t msg_size)
{
	const char *pname = str(p->profile, "name");
	sg_err err;
	if (s->refresh_sealed && s->refresh_exp > sg_time_real()) {
		char *refresh = NULL;
		err = sg_secret_decrypt(ctx, s->refresh_sealed, &refresh);
		if (err == SG_ERR_NOMEM)
			return err;
		if (!err) {
			const char *params[] = {"grant_type", "refresh_token", "refresh_token",
			                        refresh, NULL};
			err = grant(ctx, p, params, NULL, out, NULL, msg, msg_size);
			sodium_memzero(refresh, strlen(refresh));
			free(refresh);
			if (err != SG_ERR_OAUTH_DENIED)
				return err;
		}
		/* refused (or unreadable): it is of no more use */
		sg_log_info("oauth: the refresh token of the profile %s was refused; dropped",
		            pname);
		sg_err derr = drop_refresh(ctx, s->refresh_id);
		if (derr)
			return derr;
	}
	const char *g = str(p->profile, "grant_type");
	if (!strcmp(g, "client_credentials")) {
		const char *params[] = {"grant_type", "client_credentials", "scope", p->scope,
		                        NULL};
		return grant(ctx, p, params, NULL, out, NULL, msg, msg_size);
	}
	say(msg, msg_size,
	    "the OAuth profile %s has no valid token and its grant (%s) needs a person: "
	    "Get OAuth Token first (nowctl oauth get-token)",
	    pname, *g ? g : "none");
	return SG_ERR_OAUTH_DENIED;
}

sg_err sg_oauth_out_token(struct sg_ctx *ctx, const char *profile_id, bool force, char **out,
                          char *msg, size_t msg_size)
{
	*out = NULL;
	say(msg, msg_size, "%s", "");
	struct prov p;
	sg_err err = load(ctx, profile_id, &p, msg, msg_size);
	if (err)
		return err;
	long long skew = skew_seconds(ctx, &err);
	struct stored s;
	if (!err)
		err = read_stored(ctx, profile_id, &s);
	if (err) {
		prov_free(&p);
		return err;
	}
	char seen[SG_ID_LEN + 1];
	snprintf(seen, sizeof(seen), "%s", s.access_id);
	if (!force)
		err = usable_access(ctx, &s, skew, out);
	stored_free(&s);
	if (err || *out) {
		prov_free(&p);
		return err;
	}
	struct lock l;
	lock_profile(ctx, profile_id, lock_wait(ctx), &l);
	/* Whoever held the lock may have stored a new token meanwhile. */
	err = read_stored(ctx, profile_id, &s);
	if (!err && (!force || strcmp(s.access_id, seen) != 0))
		err = usable_access(ctx, &s, skew, out);
	if (!err && !*out)
		err = renew(ctx, &p, &s, out, msg, msg_size);
	stored_free(&s);
	unlock_profile(&l);
	prov_free(&p);
	return err;
}

/* ---- Get OAuth Token ------------------------------------------------------- */

sg_err sg_oauth_out_profile(struct sg_ctx *ctx, const char *key, char out[SG_ID_LEN + 1])
{
	out[0] = '\0';
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"oauth_entity_profile\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, key);
	sg_sql_raw(&q, " OR \"name\" = ");
	sg_sql_text(&q, key);
	sg_sql_raw(&q, " ORDER BY CASE WHEN \"sys_id\" = ");
	sg_sql_text(&q, key);
	sg_sql_raw(&q, " THEN 0 ELSE 1 END LIMIT 1");
	json_t *row = NULL;
	sg_err err = query_one(ctx, &q, &row);
	sg_sql_cleanup(&q);
	if (!err && !row) {
		/* a provider's name: its default profile */
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT p.\"sys_id\" FROM \"oauth_entity_profile\" p JOIN "
		               "\"oauth_entity\" e ON e.\"sys_id\" = p.\"oauth_entity\" WHERE "
		               "e.\"type\" = 'oauth_provider' AND (e.\"name\" = ");
		sg_sql_text(&q, key);
		sg_sql_raw(&q, " OR e.\"sys_id\" = ");
		sg_sql_text(&q, key);
		sg_sql_raw(&q, ")");
		sg_sql_raw(&q, " ORDER BY CASE WHEN p.\"default\" = 'true' OR p.\"default\" = '1' "
		               "THEN 0 ELSE 1 END, p.\"sys_created_on\" LIMIT 1");
		err = query_one(ctx, &q, &row);
		sg_sql_cleanup(&q);
	}
	if (!err && row)
		snprintf(out, SG_ID_LEN + 1, "%s", str(row, "sys_id"));
	json_decref(row);
	return err ? err : (out[0] ? SG_ERR_OK : SG_ERR_NO_RECORD);
}

sg_err sg_oauth_out_grant_type(struct sg_ctx *ctx, const char *profile_id, char *out, size_t size)
{
	json_t *row = NULL;
	sg_err err = profile_row(ctx, profile_id, &row);
	if (!err && !row)
		err = SG_ERR_NO_RECORD;
	if (!err)
		snprintf(out, size, "%s", str(row, "grant_type"));
	json_decref(row);
	return err;
}

sg_err sg_oauth_out_fetch(struct sg_ctx *ctx, const char *profile_id, const char *user_name,
                          const char *password, struct sg_oauth_out_result *res, char *msg,
                          size_t msg_size)
{
	memset(res, 0, sizeof(*res));
	say(msg, msg_size, "%s", "");
	struct prov p;
	sg_err err = load(ctx, profile_id, &p, msg, msg_size);
	if (err)
		return err;
	const char *g = str(p.profile, "grant_type");
	const char *cc[] = {"grant_type", "client_credentials", "scope", p.scope, NULL};
	const char *pw[] = {"grant_type", "password", "username", user_name, "password",
	                    password,     "scope",    p.scope,    NULL};
	const char *const *params = NULL;
	if (!strcmp(g, "client_credentials"))
		params = cc;
	else if (!strcmp(g, "password") && user_name && *user_name && password)
		params = pw;
	if (!params) {
		say(msg, msg_size,
		    !strcmp(g, "password")
		        ? "the password grant needs the resource owner's user name and password"
		        : "the grant %s of the OAuth profile %s is not fetched directly",
		    g, str(p.profile, "name"));
		prov_free(&p);
		return SG_ERR_BAD_PARAM;
	}
	struct lock l;
	lock_profile(ctx, profile_id, lock_wait(ctx), &l);
	err = grant(ctx, &p, params, NULL, NULL, res, msg, msg_size);
	unlock_profile(&l);
	prov_free(&p);
	return err;
}

/* Hex BLAKE2b-256 of s: how a state is kept. */
static void state_hash(const char *s, char out[65])
{
	unsigned char h[32];
	crypto_generichash(h, sizeof(h), (const unsigned char *)s, strlen(s), NULL, 0);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

sg_err sg_oauth_out_authorize_url(struct sg_ctx *ctx, const char *profile_id, const char *user_id,
                                  const char *redirect_base, char **url, char *msg, size_t msg_size)
{
	*url = NULL;
	say(msg, msg_size, "%s", "");
	struct prov p;
	sg_err err = load(ctx, profile_id, &p, msg, msg_size);
	if (err)
		return err;
	const char *pname = str(p.entity, "name");
	const char *auth = str(p.entity, "auth_url");
	char redirect[2100] = "";
	char *base = NULL;
	if (*str(p.entity, "redirect_url")) {
		snprintf(redirect, sizeof(redirect), "%s", str(p.entity, "redirect_url"));
	} else if (!(err = sg_prop_get(ctx, "glide.servlet.uri", &base))) {
		const char *b = base && *base ? base : redirect_base;
		if (b && *b)
			snprintf(redirect, sizeof(redirect), "%s%soauth_redirect.do", b,
			         b[strlen(b) - 1] == '/' ? "" : "/");
	}
	free(base);
	if (!err && strncasecmp(auth, "http://", 7) != 0 && strncasecmp(auth, "https://", 8) != 0) {
		say(msg, msg_size, "the OAuth provider %s has no http(s) Authorization URL", pname);
		err = SG_ERR_BAD_PARAM;
	} else if (!err && !*redirect) {
		say(msg, msg_size,
		    "the OAuth provider %s has no Redirect URL and glide.servlet.uri is empty",
		    pname);
		err = SG_ERR_BAD_PARAM;
	}
	long long life = 600;
	if (!err)
		err = sg_prop_int(ctx, "glide.oauth.outbound.state.lifespan", 600, &life);
	char state[64], verifier[80] = "", challenge[80] = "", hash[65];
	const char *method = str(p.entity, "code_challenge_method");
	bool pkce = !strcmp(method, "S256") || !strcmp(method, "plain");
	sg_random_token(state, sizeof(state), 32);
	state_hash(state, hash);
	if (pkce) {
		sg_random_token(verifier, sizeof(verifier), 48); /* 64 characters */
		if (!strcmp(method, "S256")) {
			unsigned char d[crypto_hash_sha256_BYTES];
			crypto_hash_sha256(d, (const unsigned char *)verifier, strlen(verifier));
			sodium_bin2base64(challenge, sizeof(challenge), d, sizeof(d),
			                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		} else {
			snprintf(challenge, sizeof(challenge), "%s", verifier);
		}
	}
	if (!err)
		err = sg_conn_begin(ctx->conn, true);
	if (!err) {
		char expires[SG_DT_LEN + 1], id[SG_ID_LEN + 1];
		sg_time_format(sg_time_real() + (life > 0 ? life : 600), expires);
		json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "state_hash", hash,
		                       "oauth_requestor_profile", profile_id, "code_verifier",
		                       verifier, "redirect_uri", redirect, "expires", expires,
		                       "used", "false", "user", user_id ? user_id : "");
		struct sg_write_opts wo = {0};
		err = in ? sg_rec_insert(ctx, "oauth_requestor_state", in, &wo, id) : SG_ERR_NOMEM;
		json_decref(in);
		if (err)
			sg_conn_rollback(ctx->conn);
		else
			err = sg_conn_commit(ctx->conn);
	}
	struct sg_buf b;
	sg_buf_init(&b, 16 * 1024);
	if (!err) {
		sg_buf_puts(&b, auth);
		sg_buf_putc(&b, strchr(auth, '?') ? '&' : '?');
		sg_buf_puts(&b, "response_type=code&client_id=");
		sg_buf_put_urlenc(&b, str(p.entity, "client_id"));
		sg_buf_puts(&b, "&redirect_uri=");
		sg_buf_put_urlenc(&b, redirect);
		if (*p.scope) {
			sg_buf_puts(&b, "&scope=");
			sg_buf_put_urlenc(&b, p.scope);
		}
		sg_buf_puts(&b, "&state=");
		sg_buf_put_urlenc(&b, state);
		if (pkce) {
			sg_buf_puts(&b, "&code_challenge=");
			sg_buf_put_urlenc(&b, challenge);
			sg_buf_puts(&b, "&code_challenge_method=");
			sg_buf_puts(&b, method);
		}
		if (sg_buf_failed(&b))
			err = SG_ERR_NOMEM;
		else if (!(*url = sg_buf_steal(&b)))
			err = SG_ERR_NOMEM;
	}
	sg_buf_cleanup(&b);
	sodium_memzero(verifier, sizeof(verifier));
	sodium_memzero(state, sizeof(state));
	prov_free(&p);
	return err;
}

sg_err sg_oauth_out_redirect(struct sg_ctx *ctx, const char *state, const char *code,
                             char *profile_name, size_t name_size, char *msg, size_t msg_size)
{
	say(msg, msg_size, "%s", "");
	if (profile_name && name_size)
		profile_name[0] = '\0';
	if (!state || !*state || strlen(state) > 256) {
		say(msg, msg_size, "%s", "no state, or not one this instance issued");
		return SG_ERR_OAUTH_DENIED;
	}
	char hash[65], now[SG_DT_LEN + 1];
	state_hash(state, hash);
	sg_time_format(sg_time_real(), now);
	/* Used up at once, whatever follows: one exchange per state. */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"oauth_requestor_profile\", \"code_verifier\", "
	               "\"redirect_uri\", \"expires\", \"used\", \"user\" FROM "
	               "\"oauth_requestor_state\" WHERE \"state_hash\" = ");
	sg_sql_text(&q, hash);
	json_t *row = NULL;
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (!err) {
		err = query_one(ctx, &q, &row);
		bool fresh = row && !sg_str_bool(str(row, "used"), false) &&
		             strcmp(str(row, "expires"), now) > 0;
		if (!err && row) {
			json_t *in = json_pack("{s:s}", "used", "true");
			struct sg_write_opts wo = {0};
			err = in ? sg_rec_update(ctx, "oauth_requestor_state", str(row, "sys_id"),
			                         in, &wo)
			         : SG_ERR_NOMEM;
			json_decref(in);
		}
		if (err)
			sg_conn_rollback(ctx->conn);
		else
			err = sg_conn_commit(ctx->conn);
		if (!err && !fresh) {
			say(msg, msg_size, "%s",
			    row ? "this authorization request was used already or has expired: "
			          "run Get OAuth Token again"
			        : "the state is not one this instance issued");
			err = SG_ERR_OAUTH_DENIED;
		}
	}
	sg_sql_cleanup(&q);
	if (!err && (!code || !*code || strlen(code) > 4096)) {
		say(msg, msg_size, "%s", "the provider sent no authorization code");
		err = SG_ERR_OAUTH_DENIED;
	}
	struct prov p = {0};
	if (!err)
		err = load(ctx, str(row, "oauth_requestor_profile"), &p, msg, msg_size);
	if (!err && profile_name)
		snprintf(profile_name, name_size, "%s", str(p.profile, "name"));
	char *verifier = NULL;
	if (!err)
		err = sg_secret_decrypt(ctx, str(row, "code_verifier"), &verifier);
	if (!err) {
		const char *params[] = {"grant_type",
		                        "authorization_code",
		                        "code",
		                        code,
		                        "redirect_uri",
		                        str(row, "redirect_uri"),
		                        "code_verifier",
		                        verifier,
		                        NULL};
		struct lock l;
		lock_profile(ctx, str(p.profile, "sys_id"), lock_wait(ctx), &l);
		const char *uid = str(row, "user");
		err = grant(ctx, &p, params, *uid ? uid : NULL, NULL, NULL, msg, msg_size);
		unlock_profile(&l);
	}
	if (verifier) {
		sodium_memzero(verifier, strlen(verifier));
		free(verifier);
	}
	prov_free(&p);
	json_decref(row);
	return err;
}
