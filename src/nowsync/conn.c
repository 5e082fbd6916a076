/*
 * conn.c - a live connection to an instance (nowsync.h): Table API requests
 * authenticated as the connection says, with the access token cached in
 * memory and in the state (sealed), refreshed NS_TOKEN_SKEW_S before it
 * expires, once more on a 401, and one token request at a time per
 * connection however many threads ask.
 */
#include <jansson.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "nowsync/nowsync.h"
#include "nowsync/ops.h"

struct ns_conn *ns_conn_new(struct ns_connection *cfg, struct ns_state *state)
{
	struct ns_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	c->state = state;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->done, NULL);
	if (c->cfg.access_token)
		c->gen = 1; /* the stored token is generation 1 */
	return c;
}

void ns_conn_free(struct ns_conn *c)
{
	if (!c)
		return;
	ns_connection_clear(&c->cfg);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->done);
	free(c);
}

struct sg_http_client *ns_conn_http(const struct ns_conn *c, int max_attempts)
{
	struct sg_http_options o;
	sg_http_options_init(&o);
	o.connect_timeout_ms =
	    c->cfg.timeout_ms > 0 && c->cfg.timeout_ms < 10000 ? c->cfg.timeout_ms : 10000;
	o.timeout_ms = c->cfg.timeout_ms > 0 ? c->cfg.timeout_ms : 30000;
	o.insecure = c->cfg.insecure;
	o.ca_file = c->cfg.ca_file;
	o.proxy = c->cfg.proxy;
	o.user_agent = "nowsync/1";
	o.retry.max_attempts = max_attempts;
	return sg_http_client_new(&o);
}

bool ns_looks_like_servicenow(const char *body, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(body, len, 0, &jerr);
	bool ok = json_is_object(j) &&
	          (json_object_get(j, "result") || json_is_object(json_object_get(j, "error")) ||
	           json_object_get(j, "access_token") || json_object_get(j, "error_description"));
	json_decref(j);
	return ok;
}

/* ---- tokens ------------------------------------------------------------------ */

static void put_field(struct sg_buf *b, const char *name, const char *value)
{
	if (b->len)
		sg_buf_putc(b, '&');
	sg_buf_puts(b, name);
	sg_buf_putc(b, '=');
	sg_buf_put_urlenc(b, value ? value : "");
}

sg_net_err ns_token_post(struct ns_conn *c, struct sg_http_client *http, enum ns_auth grant,
                         struct sg_http_response *resp)
{
	const struct ns_connection *k = &c->cfg;
	struct sg_buf url, form;
	sg_buf_init(&url, 8192);
	sg_buf_init(&form, 64 * 1024);
	sg_buf_printf(&url, "%s/oauth_token.do", k->instance);
	put_field(&form, "grant_type", ns_auth_name(grant));
	put_field(&form, "client_id", k->client_id);
	put_field(&form, "client_secret", k->client_secret);
	if (grant == NS_AUTH_PASSWORD) {
		put_field(&form, "username", k->user);
		put_field(&form, "password", k->password);
		put_field(&form, "scope", "useraccount");
	} else if (grant == NS_AUTH_REFRESH_TOKEN) {
		put_field(&form, "refresh_token", k->refresh_token);
	}
	static const struct sg_kv headers[] = {{"Accept", "application/json"}};
	sg_net_err err = SG_NET_NOMEM;
	if (!sg_buf_failed(&url) && !sg_buf_failed(&form)) {
		struct sg_http_request req = {
		    .method = "POST",
		    .url = sg_buf_str(&url),
		    .headers = headers,
		    .n_headers = 1,
		    .body = form.data,
		    .body_len = form.len,
		    .content_type = "application/x-www-form-urlencoded",
		    .repeatable = true, /* asking for a token twice is harmless */
		};
		err = sg_http_client_do(http, &req, resp);
		__atomic_add_fetch(&c->token_requests, 1, __ATOMIC_SEQ_CST);
	}
	if (form.data)
		sodium_memzero(form.data, form.len);
	sg_buf_cleanup(&form);
	sg_buf_cleanup(&url);
	return err;
}

static void set_err(struct ns_error *e, enum ns_fail fail, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(struct ns_error *e, enum ns_fail fail, int status, const char *fmt, ...)
{
	e->fail = fail;
	e->status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* One token request (no lock held): on success *access, *refresh (may stay
 * NULL) and *expires are set. */
static bool fetch_token(struct ns_conn *c, struct sg_http_client *http, char **access,
                        char **refresh, int64_t *expires, struct ns_error *err)
{
	const struct ns_connection *k = &c->cfg;
	/* The refresh grant first when there is a refresh token; when it is
	 * refused, the connection's own grant (a password grant can start over;
	 * a refresh-token-only connection cannot). */
	enum ns_auth grants[2];
	int n = 0;
	if (k->refresh_token && *k->refresh_token)
		grants[n++] = NS_AUTH_REFRESH_TOKEN;
	if (k->auth != NS_AUTH_REFRESH_TOKEN)
		grants[n++] = k->auth;
	if (!n) {
		set_err(err, NS_FAIL_TOKEN, 0,
		        "connection %s has no refresh token: add it again with a new one", k->name);
		return false;
	}
	struct sg_http_response resp;
	sg_http_response_init(&resp);
	bool ok = false;
	int used = 0;
	for (int i = 0; i < n && !ok; i++) {
		used = i;
		sg_net_err ne = ns_token_post(c, http, grants[i], &resp);
		if (ne) {
			err->net = ne;
			set_err(err, NS_FAIL_NET, 0,
			        "cannot reach %s/oauth_token.do: %s failed (%s)", k->instance,
			        sg_net_err_step(ne), resp.errmsg);
			break;
		}
		const char *body = sg_buf_str(&resp.body);
		json_t *j = json_loadb(body, resp.body.len, 0, NULL);
		const char *tok = json_string_value(json_object_get(j, "access_token"));
		if (resp.status == 200 && tok && *tok) {
			json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
			if (exp <= 0)
				exp = 1800; /* no lifespan given: ServiceNow's default */
			const char *rt = json_string_value(json_object_get(j, "refresh_token"));
			*access = strdup(tok);
			*refresh = rt && *rt ? strdup(rt) : NULL;
			*expires = sg_time_now() + exp;
			ok = *access && (!rt || !*rt || *refresh);
			if (!ok) {
				free(*access);
				free(*refresh);
				*access = *refresh = NULL;
				set_err(err, NS_FAIL_INTERNAL, 0, "out of memory");
			}
		} else if (!ns_looks_like_servicenow(body, resp.body.len)) {
			set_err(err, NS_FAIL_NOT_SN, resp.status,
			        "%s/oauth_token.do answered HTTP %d without ServiceNow's JSON",
			        k->instance, resp.status);
		} else {
			set_err(
			    err, NS_FAIL_TOKEN, resp.status,
			    "the instance refused the %s grant for connection %s (HTTP %d "
			    "access_denied); `nowsync connection test %s` names the likely causes",
			    ns_auth_name(grants[i]), k->name, resp.status, k->name);
		}
		json_decref(j);
		if (!ok && err->fail == NS_FAIL_TOKEN && grants[i] == NS_AUTH_REFRESH_TOKEN) {
			/* expired or revoked: not worth asking again (this flight is the
			 * only one that touches the connection's tokens) */
			pthread_mutex_lock(&c->lock);
			sodium_memzero(c->cfg.refresh_token, strlen(c->cfg.refresh_token));
			free(c->cfg.refresh_token);
			c->cfg.refresh_token = NULL;
			pthread_mutex_unlock(&c->lock);
		}
		if (!ok && err->fail != NS_FAIL_TOKEN)
			break;
	}
	sg_http_response_cleanup(&resp);
	ns_metric_token(k->name, ok);
	if (ok)
		ns_logj(NS_LOG_INFO, "token refreshed",
		        json_pack("{s:s, s:s}", "connection", k->name, "grant",
		                  ns_auth_name(grants[used])));
	else
		ns_logj(NS_LOG_WARN, "token refused",
		        json_pack("{s:s, s:i, s:s}", "connection", k->name, "status", err->status,
		                  "error", err->msg));
	return ok;
}

/* Makes access (and refresh, when not NULL) c's tokens, saved sealed in the
 * state; takes both strings.  c->lock held. */
static void install(struct ns_conn *c, char *access, char *refresh, int64_t expires)
{
	if (c->cfg.access_token)
		sodium_memzero(c->cfg.access_token, strlen(c->cfg.access_token));
	free(c->cfg.access_token);
	c->cfg.access_token = access;
	c->cfg.access_expires = expires;
	if (refresh) {
		if (c->cfg.refresh_token)
			sodium_memzero(c->cfg.refresh_token, strlen(c->cfg.refresh_token));
		free(c->cfg.refresh_token);
		c->cfg.refresh_token = refresh;
	}
	c->gen++;
	if (c->state && ns_state_save_tokens(c->state, c->cfg.name, access, expires, refresh))
		ns_logj(NS_LOG_WARN, "the new token could not be saved",
		        json_pack("{s:s}", "connection", c->cfg.name));
}

bool ns_conn_set_token(struct ns_conn *c, const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *tok = json_string_value(json_object_get(j, "access_token"));
	const char *rt = json_string_value(json_object_get(j, "refresh_token"));
	json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
	char *access = tok && *tok ? strdup(tok) : NULL;
	char *refresh = rt && *rt ? strdup(rt) : NULL;
	bool ok = access && (!rt || !*rt || refresh);
	if (ok) {
		pthread_mutex_lock(&c->lock);
		install(c, access, refresh, sg_time_now() + (exp > 0 ? exp : 1800));
		pthread_mutex_unlock(&c->lock);
	} else {
		free(access);
		free(refresh);
	}
	json_decref(j);
	return ok;
}

bool ns_conn_token(struct ns_conn *c, struct sg_http_client *http, unsigned long stale_gen,
                   char **token, unsigned long *gen, struct ns_error *err)
{
	*token = NULL;
	memset(err, 0, sizeof(*err));
	pthread_mutex_lock(&c->lock);
	for (;;) {
		bool usable = c->cfg.access_token && c->gen != stale_gen &&
		              sg_time_now() + NS_TOKEN_SKEW_S < c->cfg.access_expires;
		if (usable) {
			*token = strdup(c->cfg.access_token);
			*gen = c->gen;
			pthread_mutex_unlock(&c->lock);
			if (!*token)
				set_err(err, NS_FAIL_INTERNAL, 0, "out of memory");
			return *token != NULL;
		}
		if (!c->refreshing)
			break;
		/* Someone else's request is in flight: wait for its result. */
		unsigned long flight = c->flights;
		while (c->refreshing && c->flights == flight)
			pthread_cond_wait(&c->done, &c->lock);
		if (c->flight.fail != NS_OK) {
			*err = c->flight;
			pthread_mutex_unlock(&c->lock);
			return false;
		}
	}
	c->refreshing = true;
	pthread_mutex_unlock(&c->lock);

	char *access = NULL, *refresh = NULL;
	int64_t expires = 0;
	bool ok = fetch_token(c, http, &access, &refresh, &expires, err);

	pthread_mutex_lock(&c->lock);
	if (ok) {
		install(c, access, refresh, expires);
		memset(&c->flight, 0, sizeof(c->flight));
		*token = strdup(access);
		*gen = c->gen;
	} else {
		c->flight = *err;
	}
	c->flights++;
	c->refreshing = false;
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->lock);
	if (ok && !*token) {
		set_err(err, NS_FAIL_INTERNAL, 0, "out of memory");
		return false;
	}
	return ok;
}

/* ---- requests ------------------------------------------------------------------ */

bool ns_conn_request(struct ns_conn *c, struct sg_http_client *http, const char *method,
                     const char *path, const char *body, struct sg_http_response *resp,
                     struct ns_error *err)
{
	memset(err, 0, sizeof(*err));
	static const struct sg_kv headers[] = {{"Accept", "application/json"}};
	struct sg_buf url;
	sg_buf_init(&url, 64 * 1024);
	sg_buf_printf(&url, "%s%s", c->cfg.instance, path);
	if (sg_buf_failed(&url)) {
		sg_buf_cleanup(&url);
		set_err(err, NS_FAIL_INTERNAL, 0, "out of memory");
		return false;
	}
	bool basic = c->cfg.auth == NS_AUTH_BASIC;
	unsigned long stale = 0;
	bool ok = false;
	for (int attempt = 0; attempt < 2; attempt++) {
		char *token = NULL;
		unsigned long gen = 0;
		if (!basic && !ns_conn_token(c, http, stale, &token, &gen, err))
			break;
		struct sg_http_request req = {
		    .method = method,
		    .url = sg_buf_str(&url),
		    .headers = headers,
		    .n_headers = 1,
		    .body = body,
		    .body_len = body ? strlen(body) : 0,
		    .content_type = body ? "application/json" : NULL,
		    .user = basic ? c->cfg.user : NULL,
		    .password = basic ? c->cfg.password : NULL,
		    .bearer = token,
		};
		sg_net_err ne = sg_http_client_do(http, &req, resp);
		if (token) {
			sodium_memzero(token, strlen(token));
			free(token);
		}
		if (ne) {
			err->net = ne;
			set_err(err, NS_FAIL_NET, 0, "cannot reach %s: %s failed (%s)",
			        c->cfg.instance, sg_net_err_step(ne), resp->errmsg);
			break;
		}
		if (resp->status == 401 && !basic && attempt == 0) {
			stale = gen; /* expired or revoked by the instance: once more */
			ns_logj(NS_LOG_INFO, "token refused by the API (401): fetching a new one",
			        json_pack("{s:s}", "connection", c->cfg.name));
			continue;
		}
		if (resp->status == 401) {
			set_err(
			    err, NS_FAIL_AUTH, 401,
			    basic ? "the instance refused the user and password of connection %s"
			          : "the instance refused connection %s's credentials even with a "
			            "new token",
			    c->cfg.name);
			break;
		}
		if (resp->body.len &&
		    !ns_looks_like_servicenow(sg_buf_str(&resp->body), resp->body.len)) {
			set_err(
			    err, NS_FAIL_NOT_SN, resp->status,
			    "%s answered HTTP %d without ServiceNow's JSON (a hibernating instance "
			    "or not an instance)",
			    c->cfg.instance, resp->status);
			break;
		}
		ok = true;
		break;
	}
	sg_buf_cleanup(&url);
	return ok;
}
