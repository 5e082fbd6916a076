/*
 * oauth.c - grants, bearer validation, revocation and auth scopes.
 */
#include "auth/oauth.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/basic.h"
#include "auth/internal.h"
#include "auth/password.h"
#include "auth/secret.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

const char *sg_oauth_denied_body(void)
{
	return "{\"error_description\":\"access_denied\",\"error\":\"server_error\"}";
}

static const char *param(const struct sg_kv *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return p[i].value;
	return NULL;
}

/* Logs why a token request was refused; the client only sees access_denied
 * (code is kept in out->denied for Snowglobe's opt-in reason header). */
static sg_err deny(struct sg_token_grant *out, const char *code, const char *why, const char *who)
{
	snprintf(out->denied, sizeof(out->denied), "%s", code);
	sg_log_info("oauth: token request refused: %s%s%s", why, who ? " " : "", who ? who : "");
	return SG_ERR_OAUTH_DENIED;
}

/* Rows as objects of strings, appended to arr; failed when one could not be. */
struct rows {
	json_t *arr;
	bool failed;
};

static int collect_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct rows *r = ud;
	json_t *row = json_object();
	bool ok = row != NULL;
	for (int i = 0; ok && i < ncol; i++)
		ok = !json_object_set_new(row, names[i], json_string(vals[i] ? vals[i] : ""));
	if (!ok) {
		json_decref(row);
		r->failed = true;
		return 1;
	}
	if (json_array_append_new(r->arr, row)) {
		r->failed = true;
		return 1;
	}
	return 0;
}

/* Every row of q: a new array in *out. */
static sg_err all_rows(struct sg_ctx *ctx, const struct sg_sql *q, json_t **out)
{
	struct rows r = {.arr = json_array()};
	sg_err err = r.arr ? sg_conn_exec(ctx->conn, q, collect_row, &r, NULL) : SG_ERR_NOMEM;
	if (!err && r.failed)
		err = SG_ERR_NOMEM;
	if (err) {
		json_decref(r.arr);
		return err;
	}
	*out = r.arr;
	return SG_ERR_OK;
}

/* The first row of q as an object of strings (new reference), or NULL when
 * there is none, in *out. */
static sg_err one_row(struct sg_ctx *ctx, const struct sg_sql *q, json_t **out)
{
	json_t *rows;
	*out = NULL;
	sg_err err = all_rows(ctx, q, &rows);
	if (err)
		return err;
	*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return SG_ERR_OK;
}

/* The application with client_id, or NULL when none: *out, new reference. */
static sg_err entity_by_client_id(struct sg_ctx *ctx, const char *client_id, json_t **out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"oauth_entity\" WHERE \"client_id\" = ");
	sg_sql_text(&q, client_id);
	sg_sql_raw(&q, " AND (\"type\" = 'client' OR \"type\" IS NULL)");
	sg_err err = one_row(ctx, &q, out);
	sg_sql_cleanup(&q);
	return err;
}

/* The user sys_id, or NULL when none: *out, new reference. */
static sg_err user_by_id(struct sg_ctx *ctx, const char *sys_id, json_t **out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"user_name\", \"name\", \"active\", \"locked_out\", "
	               "\"password_needs_reset\", \"web_service_access_only\", \"time_zone\" "
	               "FROM \"sys_user\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, sys_id ? sys_id : "");
	sg_err err = one_row(ctx, &q, out);
	sg_sql_cleanup(&q);
	return err;
}

static bool user_usable(const json_t *u)
{
	return u && sg_str_bool(sg_json_str(u, "active"), true) &&
	       !sg_str_bool(sg_json_str(u, "locked_out"), false);
}

/* Client authentication: form fields, or an HTTP Basic header. */
static bool client_credentials(const struct sg_kv *p, size_t n, const char *basic, char *id,
                               size_t id_size, char *secret, size_t secret_size)
{
	const char *cid = param(p, n, "client_id"), *cs = param(p, n, "client_secret");
	if (cid && cs) {
		snprintf(id, id_size, "%.*s", (int)id_size - 1, cid);
		snprintf(secret, secret_size, "%.*s", (int)secret_size - 1, cs);
		return true;
	}
	if (!basic || strncasecmp(basic, "Basic ", 6) != 0)
		return false;
	unsigned char raw[1024];
	size_t len = 0;
	const char *b64 = basic + 6;
	while (*b64 == ' ')
		b64++;
	if (sodium_base642bin(raw, sizeof(raw) - 1, b64, strlen(b64), NULL, &len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0)
		return false;
	raw[len] = '\0';
	char *colon = strchr((char *)raw, ':');
	if (!colon)
		return false;
	*colon = '\0';
	/* requests-oauthlib form-encodes the id and secret inside the header */
	sg_str_urldecode((char *)raw);
	sg_str_urldecode(colon + 1);
	snprintf(id, id_size, "%.*s", (int)id_size - 1, (char *)raw);
	snprintf(secret, secret_size, "%.*s", (int)secret_size - 1, colon + 1);
	sodium_memzero(raw, sizeof(raw));
	return true;
}

/* The names of the auth scopes attached to an application, space-separated,
 * into out (size bytes).  SG_ERR_INTERNAL when they do not fit: a scope
 * list is never cut. */
static sg_err entity_scopes(struct sg_ctx *ctx, const char *entity, char *out, size_t size)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "SELECT s.\"name\" FROM \"oauth_entity_auth_scope\" l JOIN \"sys_auth_scope\" s "
	           "ON s.\"sys_id\" = l.\"auth_scope\" WHERE l.\"oauth_entity\" = ");
	sg_sql_text(&q, entity);
	sg_sql_raw(&q,
	           " AND (s.\"active\" IS NULL OR s.\"active\" != 'false') ORDER BY s.\"name\"");
	json_t *rows = NULL;
	sg_err err = all_rows(ctx, &q, &rows);
	sg_sql_cleanup(&q);
	out[0] = '\0';
	size_t i, len = 0;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		int n = snprintf(out + len, size - len, "%s%s", len ? " " : "",
		                 sg_json_str(row, "name"));
		if (n < 0 || (size_t)n >= size - len) {
			sg_log_error(
			    "oauth: the auth scopes of application %s exceed %zu characters",
			    entity, size - 1);
			err = SG_ERR_INTERNAL;
			break;
		}
		len += (size_t)n;
	}
	json_decref(rows);
	return err;
}

/* Stores one token (as a hash) and returns its credential sys_id in id. */
static sg_err store_token(struct sg_ctx *ctx, const char *token, const char *type,
                          long long lifespan, const char *entity, const char *user,
                          const char *scope, const char *refresh_id, char id[SG_ID_LEN + 1])
{
	char *hash = sg_secret_hash(token);
	char expires[SG_DT_LEN + 1];
	sg_time_format(sg_time_now() + lifespan, expires);
	json_t *in =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "token", hash ? hash : "", "type", type,
	              "expires", expires, "peer", entity, "user", user ? user : "", "scope", scope);
	if (in && refresh_id)
		json_object_set_new(in, "refresh_token", json_string(refresh_id));
	struct sg_write_opts wo = {0};
	sg_err err =
	    (hash && in) ? sg_rec_insert(ctx, "oauth_credential", in, &wo, id) : SG_ERR_NOMEM;
	json_decref(in);
	free(hash);
	return err;
}

static long long lifespan(const json_t *entity, const char *field, long long dflt)
{
	const char *s = sg_json_str(entity, field);
	long long v = (s && *s) ? atoll(s) : dflt;
	return v > 0 ? v : dflt;
}

static void new_token(char out[SG_TOKEN_LEN + 8])
{
	sg_random_token(out, SG_TOKEN_LEN + 8, 64);
}

/* The credential row for a presented token, or NULL when none: *out, new
 * reference. */
static sg_err credential(struct sg_ctx *ctx, const char *token, json_t **out)
{
	*out = NULL;
	char *hash = sg_secret_hash(token);
	if (!hash)
		return SG_ERR_NOMEM;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"type\", \"expires\", \"peer\", \"user\", \"scope\" "
	               "FROM \"oauth_credential\" WHERE \"token\" = ");
	sg_sql_text(&q, hash);
	sg_err err = one_row(ctx, &q, out);
	sg_sql_cleanup(&q);
	free(hash);
	return err;
}

static bool unexpired(const json_t *cred)
{
	int64_t t;
	return cred && sg_time_parse(sg_json_str(cred, "expires"), &t) && t > sg_time_now();
}

static sg_err grant_in_ctx(struct sg_auth *a, struct sg_ctx *ctx, const struct sg_kv *p, size_t n,
                           const char *basic, bool in_query, struct sg_token_grant *out)
{
	memset(out, 0, sizeof(*out));
	bool active, body_only;
	sg_err perr = sg_prop_bool(ctx, "com.snc.platform.security.oauth.is.active", true, &active);
	if (!perr)
		perr = sg_prop_bool(ctx, "glide.oauth.allow.parameters.in.post.body.only", true,
		                    &body_only);
	if (perr)
		return perr;
	if (!active)
		return deny(out, "oauth_inactive", "OAuth is not active", NULL);
	if (in_query && body_only)
		return deny(out, "parameters_in_url", "parameters in the URL", NULL);
	const char *grant = param(p, n, "grant_type");
	char cid[256], secret[512];
	if (!grant)
		return deny(out, "no_grant_type", "no grant_type", NULL);
	if (!client_credentials(p, n, basic, cid, sizeof(cid), secret, sizeof(secret)))
		return deny(out, "no_client_authentication", "no client authentication", NULL);
	json_t *entity = NULL, *user = NULL;
	sg_err err = entity_by_client_id(ctx, cid, &entity);
	bool match = false;
	if (!err && entity)
		err = sg_secret_matches(ctx, sg_json_str(entity, "client_secret"), secret, &match);
	if (!err && !match)
		err = deny(out, "invalid_client", "bad client id or secret", cid);
	else if (!err && !sg_str_bool(sg_json_str(entity, "active"), true))
		err = deny(out, "application_inactive", "application inactive", cid);
	sodium_memzero(secret, sizeof(secret));
	if (err)
		goto out;
	const char *eid = sg_json_str(entity, "sys_id");
	long long access_life = lifespan(entity, "access_token_lifespan", 1800);
	long long refresh_life = lifespan(entity, "refresh_token_lifespan", 8640000);
	char scopes[512];
	err = entity_scopes(ctx, eid, scopes, sizeof(scopes));
	if (err)
		goto out;
	const char *asked = param(p, n, "scope");
	const char *scope = "useraccount";
	char refresh_id[SG_ID_LEN + 1] = "", id[SG_ID_LEN + 1], kept_scope[512];
	bool issue_refresh = false;

	if (!strcmp(grant, "password")) {
		struct sg_user u;
		const char *name = param(p, n, "username"), *pw = param(p, n, "password");
		err = (name && pw) ? sg_auth_password(a, name, pw, &u) : SG_ERR_UNAUTHENTICATED;
		if (err == SG_ERR_UNAUTHENTICATED)
			err = deny(out, "invalid_user_credentials", "bad user credentials", name);
		if (!err)
			err = user_by_id(ctx, u.sys_id, &user);
		bool ws_allowed = true;
		if (!err && sg_str_bool(sg_json_str(user, "web_service_access_only"), false))
			err = sg_prop_bool(ctx, "glide.oauth.password_grant.allow_web_service_only",
			                   true, &ws_allowed);
		if (!err) {
			if (sg_str_bool(sg_json_str(user, "password_needs_reset"), false))
				err =
				    deny(out, "password_needs_reset", "password needs reset", name);
			else if (!ws_allowed)
				err = deny(out, "web_service_only_user", "web-service-only user",
				           name);
		}
		if (!err && asked && *asked && strcmp(asked, "useraccount") &&
		    !strstr(scopes, asked))
			err = deny(out, "scope_not_granted", "scope not granted", asked);
		/* the refresh token is stored below, with the access token */
		issue_refresh = !err;
	} else if (!strcmp(grant, "client_credentials")) {
		/* Only with the property and an OAuth application user [client-credentials.md]. */
		bool enabled;
		err = sg_prop_bool(ctx, "glide.oauth.inbound.client.credential.grant_type.enabled",
		                   false, &enabled);
		if (!err && !enabled)
			err = deny(out, "client_credentials_disabled",
			           "client credentials grant disabled", cid);
		else if (!err &&
		         !*(sg_json_str(entity, "oauth_user") ? sg_json_str(entity, "oauth_user")
		                                              : ""))
			err = deny(out, "no_application_user", "no OAuth application user", cid);
		if (!err)
			err = user_by_id(ctx, sg_json_str(entity, "oauth_user"), &user);
		if (!err && !sg_str_bool(sg_json_str(user, "active"), true))
			err = deny(out, "application_user_inactive", "application user inactive",
			           cid);
		else if (!err && !user_usable(user))
			err = deny(out, "application_user_locked_out",
			           "application user locked out", cid);
		scope = scopes;
	} else if (!strcmp(grant, "refresh_token")) {
		const char *rt = param(p, n, "refresh_token");
		json_t *cred = NULL;
		if (rt)
			err = credential(ctx, rt, &cred);
		if (!err && (!cred || strcmp(sg_json_str(cred, "type"), "refresh_token") ||
		             strcmp(sg_json_str(cred, "peer"), eid) || !unexpired(cred)))
			err = deny(out, "invalid_refresh_token", "invalid or expired refresh token",
			           cid);
		if (!err)
			err = user_by_id(ctx, sg_json_str(cred, "user"), &user);
		if (!err && !user_usable(user))
			err = deny(out, "user_inactive_or_locked_out",
			           "user inactive or locked out", cid);
		if (!err) {
			/* The refresh token stays the same while it is valid. */
			snprintf(out->refresh_token, sizeof(out->refresh_token), "%s", rt);
			snprintf(refresh_id, sizeof(refresh_id), "%s", sg_json_str(cred, "sys_id"));
			/* the refresh token's scope, copied: cred goes before it is used */
			snprintf(kept_scope, sizeof(kept_scope), "%s", sg_json_str(cred, "scope"));
			scope = kept_scope;
		}
		json_decref(cred);
	} else {
		err = deny(out, "unsupported_grant_type", "unsupported grant type", grant);
	}
	/* A new refresh token and the access token issued with it are stored
	 * together or not at all: a failed grant leaves no token behind. */
	if (!err)
		err = sg_conn_begin(ctx->conn, true);
	if (!err) {
		const char *uid = sg_json_str(user, "sys_id");
		if (issue_refresh) {
			new_token(out->refresh_token);
			err = store_token(ctx, out->refresh_token, "refresh_token", refresh_life,
			                  eid, uid, scope, NULL, refresh_id);
		}
		if (!err) {
			new_token(out->access_token);
			err = store_token(ctx, out->access_token, "access_token", access_life, eid,
			                  uid, scope ? scope : "",
			                  refresh_id[0] ? refresh_id : NULL, id);
		}
		if (err)
			sg_conn_rollback(ctx->conn);
		else
			err = sg_conn_commit(ctx->conn);
	}
	if (!err) {
		snprintf(out->scope, sizeof(out->scope), "%s", scope ? scope : "");
		/* The remaining lifetime, rounded down: 1799 for a fresh 1800 s token. */
		out->expires_in = access_life - 1;
	}
out:
	if (err) {
		/* nothing of a refused grant is kept, but why it was refused */
		char denied[sizeof(out->denied)];
		memcpy(denied, out->denied, sizeof(denied));
		memset(out, 0, sizeof(*out));
		memcpy(out->denied, denied, sizeof(denied));
	}
	json_decref(user);
	json_decref(entity);
	return err;
}

sg_err sg_oauth_grant(struct sg_auth *a, const struct sg_kv *params, size_t n,
                      const char *basic_auth, bool in_query, struct sg_token_grant *out)
{
	/* No transaction around the grant: a refused password must still be
	 * counted against the user (basic.c writes it). */
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (err)
		return err;
	err = grant_in_ctx(a, &ctx, params, n, basic_auth, in_query, out);
	sg_ctx_end(&ctx);
	return err;
}

/* Expires the credential cred and the access tokens issued from it, in one
 * write transaction (in the process's write queue like any other). */
static sg_err expire(struct sg_ctx *ctx, const json_t *cred)
{
	char past[SG_DT_LEN + 1];
	sg_time_format(sg_time_now() - 1, past);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"oauth_credential\" SET \"expires\" = ");
	sg_sql_text(&q, past);
	sg_sql_raw(&q, " WHERE \"sys_id\" = ");
	sg_sql_text(&q, sg_json_str(cred, "sys_id"));
	sg_sql_raw(&q, " OR \"refresh_token\" = ");
	sg_sql_text(&q, sg_json_str(cred, "sys_id"));
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		goto out;
	err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	if (!err)
		err = sg_model_bump(ctx, "oauth");
	if (!err)
		err = sg_model_bump(ctx, "data");
	if (err)
		sg_conn_rollback(ctx->conn);
	else
		err = sg_conn_commit(ctx->conn);
	sg_model_sync(ctx->model);
out:
	sg_sql_cleanup(&q);
	return err;
}

sg_err sg_oauth_revoke(struct sg_auth *a, const char *token)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (err)
		return err;
	json_t *cred = NULL;
	if (token && *token)
		err = credential(&ctx, token, &cred);
	if (!err && cred)
		err = expire(&ctx, cred);
	json_decref(cred);
	sg_ctx_end(&ctx);
	return err;
}

/* ---- bearer tokens ---------------------------------------------------------- */

#define BEARER_SLOTS 1024

struct bearer_entry {
	unsigned char key[32]; /* hash of the token */
	struct sg_user user;
	struct sg_bearer bearer;
	int64_t expires;
	unsigned long users_gen, oauth_gen;
	bool used;
};

/* oauth.c's share of struct sg_auth. */
struct sg__bearer_cache {
	pthread_mutex_t lock;
	struct bearer_entry slots[BEARER_SLOTS];
};

struct sg__bearer_cache *sg__bearer_cache_new(void)
{
	struct sg__bearer_cache *c = calloc(1, sizeof(*c));
	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

void sg__bearer_cache_free(struct sg__bearer_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Whether the token's credential, application and user are all in order:
 * *ok, with *cred and *u (new references) when they are. */
static sg_err check_token(struct sg_ctx *ctx, const char *token, bool *ok, json_t **cred,
                          json_t **u)
{
	json_t *entity = NULL;
	*ok = false;
	*u = NULL;
	sg_err err = credential(ctx, token, cred);
	if (err || !*cred || strcmp(sg_json_str(*cred, "type"), "access_token") ||
	    !unexpired(*cred))
		return err;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"active\" FROM \"oauth_entity\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, sg_json_str(*cred, "peer"));
	err = one_row(ctx, &q, &entity);
	sg_sql_cleanup(&q);
	if (!err)
		err = user_by_id(ctx, sg_json_str(*cred, "user"), u);
	*ok = !err && entity && sg_str_bool(sg_json_str(entity, "active"), true) && user_usable(*u);
	json_decref(entity);
	return err;
}

sg_err sg_auth_bearer(struct sg_auth *a, const char *authorization, struct sg_user *user,
                      struct sg_bearer *bearer)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return SG_ERR_UNAUTHENTICATED;
	const char *token = authorization + 7;
	while (*token == ' ')
		token++;
	if (!*token || strlen(token) > 512)
		return SG_ERR_UNAUTHENTICATED;
	struct sg_model *m = a->model;
	struct sg__bearer_cache *c = a->bearer;
	unsigned char key[32];
	crypto_generichash(key, sizeof(key), (const unsigned char *)token, strlen(token), NULL, 0);
	size_t slot = (key[0] | (size_t)key[1] << 8) % BEARER_SLOTS;
	unsigned long ug = atomic_load(&m->users_gen), og = atomic_load(&m->oauth_gen);
	int64_t now = sg_time_now();
	pthread_mutex_lock(&c->lock);
	struct bearer_entry *e = &c->slots[slot];
	if (e->used && e->users_gen == ug && e->oauth_gen == og && e->expires > now &&
	    !sodium_memcmp(e->key, key, 32)) {
		*user = e->user;
		*bearer = e->bearer;
		pthread_mutex_unlock(&c->lock);
		return SG_ERR_OK;
	}
	pthread_mutex_unlock(&c->lock);

	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	json_t *cred = NULL, *u = NULL;
	bool ok;
	err = check_token(&ctx, token, &ok, &cred, &u);
	if (!err && !ok)
		err = SG_ERR_UNAUTHENTICATED;
	if (!err) {
		memset(user, 0, sizeof(*user));
		snprintf(user->sys_id, sizeof(user->sys_id), "%s", sg_json_str(u, "sys_id"));
		snprintf(user->user_name, sizeof(user->user_name), "%s",
		         sg_json_str(u, "user_name"));
		snprintf(user->name, sizeof(user->name), "%s", sg_json_str(u, "name"));
		snprintf(user->time_zone, sizeof(user->time_zone), "%s",
		         sg_json_str(u, "time_zone"));
		memset(bearer, 0, sizeof(*bearer));
		snprintf(bearer->entity, sizeof(bearer->entity), "%s", sg_json_str(cred, "peer"));
		snprintf(bearer->scope, sizeof(bearer->scope), "%s", sg_json_str(cred, "scope"));
		int64_t exp = now;
		sg_time_parse(sg_json_str(cred, "expires"), &exp);
		pthread_mutex_lock(&c->lock);
		memcpy(e->key, key, 32);
		e->user = *user;
		e->bearer = *bearer;
		e->expires = exp;
		e->users_gen = ug;
		e->oauth_gen = og;
		e->used = true;
		pthread_mutex_unlock(&c->lock);
	}
	json_decref(cred);
	json_decref(u);
	sg_ctx_end(&ctx);
	return err;
}

static bool method_covered(const json_t *row, const char *method)
{
	if (sg_str_bool(sg_json_str(row, "apply_to_all_methods"), true))
		return true;
	const char *list = sg_json_str(row, "http_methods");
	return list && strcasestr(list, method);
}

/* The REST API auth scope records for api, with whether the token's
 * application holds each one's scope ("held"): *rows, a new array; and the
 * number of scopes attached to the application: *attached, a new string. */
static sg_err scope_records(struct sg_ctx *ctx, const struct sg_bearer *b, const char *api,
                            json_t **rows, char **attached)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(
	    &q, "SELECT a.\"apply_to_all_methods\", a.\"http_methods\", "
	        "(SELECT COUNT(*) FROM \"oauth_entity_auth_scope\" l WHERE l.\"oauth_entity\" = ");
	sg_sql_text(&q, b->entity);
	sg_sql_raw(&q, " AND l.\"auth_scope\" = a.\"auth_scope\") AS held "
	               "FROM \"sys_api_access_scope\" a WHERE a.\"rest_api_path\" = ");
	sg_sql_text(&q, api);
	sg_sql_raw(&q, " AND (a.\"active\" IS NULL OR a.\"active\" != 'false')");
	sg_err err = all_rows(ctx, &q, rows);
	sg_sql_reset(&q);
	sg_sql_raw(&q,
	           "SELECT COUNT(*) FROM \"oauth_entity_auth_scope\" WHERE \"oauth_entity\" = ");
	sg_sql_text(&q, b->entity);
	if (!err)
		err = sg_conn_query_string(ctx->conn, &q, attached);
	sg_sql_cleanup(&q);
	return err;
}

sg_err sg_oauth_scope_check(struct sg_auth *a, const struct sg_bearer *b, const char *api,
                            const char *method)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (err)
		return err;
	json_t *rows = NULL;
	char *attached = NULL;
	/* useraccount: the user's own rights, every API */
	bool check;
	err = sg_prop_bool(&ctx, "com.glide.rest.api.auth.scope.check.enable", true, &check);
	if (err || !check || strstr(b->scope, "useraccount"))
		goto out;
	err = scope_records(&ctx, b, api, &rows, &attached);
	if (err)
		goto out;
	bool any_required = false, held = false;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (!method_covered(row, method))
			continue;
		any_required = true;
		held |= atoi(sg_json_str(row, "held")) > 0;
	}
	/* An application with scopes reaches only what they cover; one without
	 * reaches every API no scope protects [rest-api-auth-scope.md]. */
	bool allowed = (attached && atoi(attached) > 0) ? held : !any_required;
	if (!allowed)
		err = SG_ERR_SCOPE_MISSING;
out:
	free(attached);
	json_decref(rows);
	sg_ctx_end(&ctx);
	return err;
}
