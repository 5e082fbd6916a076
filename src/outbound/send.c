/*
 * send.c - sg_out_send (outbound.h): one outbound request, now, through the
 * instance's outbound policy and the shared HTTP client (net/client.h).
 *
 * The policy is read from system properties at each send, so an admin's
 * change applies to the next request:
 *
 *   snowglobe.outbound.allowed_hosts   the hosts a locked-down instance may
 *                                      call ("" = any);
 *   glide.http.proxy_host / _port      the proxy (ServiceNow's names);
 *   snowglobe.outbound.ca_bundle       a CA bundle instead of the system's;
 *   glide.http.outbound.max_timeout    the default and longest timeout (s);
 *   snowglobe.outbound.transaction_timeout
 *                                      the longest timeout of a send made
 *                                      inside a write transaction (s).
 *
 * The last one is the honest answer to a synchronous execute() in a before
 * or after business rule: those run inside the record's write transaction
 * (model/rules.c), so the database write lock is held while the request
 * waits on the network.  ServiceNow allows it; so do we, but bounded: such
 * a send waits at most that many seconds (and the script's own time limit
 * bounds the script).  executeAsync() and async rules do not hold the lock.
 *
 * The client is made with one attempt: retrying is the queue's business.
 * An OAuth send that gets 401 fetches a new token once and tries once more.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "auth/secret.h"
#include "core/json.h"
#include "core/log.h"
#include "outbound/internal.h"
#include "outbound/oauth.h"
#include "store/sql.h"

#define DEFAULT_MAX_TIMEOUT_S 30
#define DEFAULT_TXN_TIMEOUT_S 5
#define CONNECT_TIMEOUT_MS    10000L
#define MAX_RESPONSE_BODY     (16u * 1024 * 1024)

bool sg__out_url_host(const char *url, char *host, size_t size)
{
	const char *p;
	if (!strncasecmp(url, "http://", 7))
		p = url + 7;
	else if (!strncasecmp(url, "https://", 8))
		p = url + 8;
	else
		return false;
	size_t auth_len = strcspn(p, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < auth_len; i++)
		if (p[i] == '@')
			at = p + i;
	if (at) {
		auth_len -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	size_t n;
	if (*p == '[') { /* an IPv6 literal */
		const char *close = memchr(p, ']', auth_len);
		if (!close)
			return false;
		p++;
		n = (size_t)(close - p);
	} else {
		n = strcspn(p, ":/?#");
		if (n > auth_len)
			n = auth_len;
	}
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)p[i]);
	host[n] = '\0';
	return true;
}

bool sg__out_host_allowed(const char *list, const char *host)
{
	if (!list)
		return true;
	bool any = false;
	const char *p = list;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, ", \t");
		if (n) {
			any = true;
			size_t hl = strlen(host);
			if (n == hl && !strncasecmp(p, host, n))
				return true;
			/* "*.example.com": any name ending ".example.com" */
			if (n > 2 && p[0] == '*' && p[1] == '.' && hl > n - 1 &&
			    !strncasecmp(host + hl - (n - 1), p + 1, n - 1))
				return true;
		}
		p += n;
	}
	return !any;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static void say(char *msg, size_t size, const char *fmt, const char *a)
{
	if (msg && size)
		snprintf(msg, size, fmt, a ? a : "");
}

/* The username and clear password of a sys_auth_profile_basic. */
static sg_err basic_profile(struct sg_ctx *ctx, const char *id, char **user, char **password,
                            bool *found)
{
	*user = *password = NULL;
	*found = false;
	json_t *rec = NULL;
	sg_err err = sg_rec_get(ctx, "sys_auth_profile_basic", id, &rec);
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
		return SG_ERR_OK;
	if (err)
		return err;
	*found = true;
	*user = strdup(sg_json_str(rec, "username") ? sg_json_str(rec, "username") : "");
	json_decref(rec);
	if (!*user)
		return SG_ERR_NOMEM;
	/* Secrets are never read by the record layer: the column itself. */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"password\" FROM \"sys_auth_profile_basic\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	char *stored = NULL;
	err = sg_conn_query_string(ctx->conn, &q, &stored);
	sg_sql_cleanup(&q);
	if (!err)
		err = sg_secret_decrypt(ctx, stored ? stored : "", password);
	free(stored);
	if (err) {
		free(*user);
		*user = NULL;
	}
	return err;
}

void sg__out_policy_cleanup(struct sg__out_policy *p)
{
	free(p->allowed);
	free(p->proxy_host);
	free(p->ca_bundle);
	p->allowed = p->proxy_host = p->ca_bundle = NULL;
}

sg_err sg__out_policy_load(struct sg_ctx *ctx, struct sg__out_policy *p)
{
	memset(p, 0, sizeof(*p));
	sg_err err;
	if ((err = sg_prop_get(ctx, "snowglobe.outbound.allowed_hosts", &p->allowed)) ||
	    (err = sg_prop_get(ctx, "glide.http.proxy_host", &p->proxy_host)) ||
	    (err = sg_prop_get(ctx, "snowglobe.outbound.ca_bundle", &p->ca_bundle)) ||
	    (err = sg_prop_int(ctx, "glide.http.proxy_port", 0, &p->proxy_port)) ||
	    (err = sg_prop_int(ctx, "glide.http.outbound.max_timeout", DEFAULT_MAX_TIMEOUT_S,
	                       &p->max_timeout_s)) ||
	    (err = sg_prop_int(ctx, "snowglobe.outbound.transaction_timeout", DEFAULT_TXN_TIMEOUT_S,
	                       &p->txn_timeout_s))) {
		sg__out_policy_cleanup(p);
		return err;
	}
	if (p->max_timeout_s <= 0)
		p->max_timeout_s = DEFAULT_MAX_TIMEOUT_S;
	if (p->txn_timeout_s <= 0)
		p->txn_timeout_s = DEFAULT_TXN_TIMEOUT_S;
	if (p->proxy_host && *p->proxy_host) {
		if (p->proxy_port > 0)
			snprintf(p->proxy, sizeof(p->proxy), "http://%s:%lld", p->proxy_host,
			         p->proxy_port);
		else
			snprintf(p->proxy, sizeof(p->proxy), "http://%s", p->proxy_host);
	}
	return SG_ERR_OK;
}

bool sg__out_policy_allows(const struct sg__out_policy *p, const char *url, char *why, size_t size)
{
	char host[256];
	if (!url || !sg__out_url_host(url, host, sizeof(host))) {
		say(why, size, "%snot an http or https URL with a host", "");
		return false;
	}
	if (!sg__out_host_allowed(p->allowed, host)) {
		say(why, size,
		    "host %s is not in the allow-list (snowglobe.outbound.allowed_hosts)", host);
		return false;
	}
	return true;
}

void sg__out_policy_apply(const struct sg__out_policy *p, struct sg_http_options *o)
{
	o->proxy = p->proxy; /* "": no proxy, not the environment's */
	if (p->ca_bundle && *p->ca_bundle)
		o->ca_file = p->ca_bundle;
}

static const char *outcome_error(enum sg_out_outcome o, const struct sg_http_response *r, char *buf,
                                 size_t size)
{
	if (o != SG_OUT_UNREACHABLE || !r)
		return buf;
	snprintf(buf, size, "%s failed: %s", sg_net_err_step(r->err),
	         r->detail[0] ? r->detail : r->errmsg);
	return buf;
}

sg_err sg_out_send(struct sg_ctx *ctx, const struct sg_out_request *req,
                   struct sg_http_response *resp, enum sg_out_outcome *outcome, char *msg,
                   size_t msg_size)
{
	char why[512] = "";
	*outcome = SG_OUT_REFUSED;
	if (msg && msg_size)
		msg[0] = '\0';
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool in_txn = ctx->conn && sg_conn_in_transaction(ctx->conn);
	struct sg__out_policy pol;
	sg_err err = sg__out_policy_load(ctx, &pol);
	if (err)
		return err;
	char *user = NULL, *password = NULL, *token = NULL;
	const char *scheme = NULL;
	struct sg_http_client *client = NULL;
	bool sent = false;

	if (!sg__out_policy_allows(&pol, req->url, why, sizeof(why)))
		goto done;

	/* Authentication, resolved now. */
	if (req->auth == SG_OUT_AUTH_BASIC && req->basic_user) {
		if (!(user = strdup(req->basic_user)) ||
		    !(password = strdup(req->basic_password ? req->basic_password : ""))) {
			err = SG_ERR_NOMEM;
			goto done;
		}
	} else if (req->auth == SG_OUT_AUTH_BASIC) {
		bool found = false;
		if (req->auth_profile && *req->auth_profile)
			err = basic_profile(ctx, req->auth_profile, &user, &password, &found);
		if (err == SG_ERR_INTERNAL) { /* the instance key cannot open it */
			err = SG_ERR_OK;
			say(why, sizeof(why),
			    "%sthe basic auth profile's password cannot be decrypted", "");
			goto done;
		}
		if (err)
			goto done;
		if (!found) {
			say(why, sizeof(why), "basic auth profile not found: %s",
			    req->auth_profile);
			goto done;
		}
	} else if (req->auth == SG_OUT_AUTH_OAUTH) {
		if (!req->auth_profile || !*req->auth_profile) {
			say(why, sizeof(why), "%sno OAuth profile given", "");
			goto done;
		}
		sg_err te =
		    sg_oauth_out_token(ctx, req->auth_profile, false, &token, why, sizeof(why));
		if (te == SG_ERR_NOMEM) {
			err = te;
			goto done;
		}
		if (te) {
			*outcome = te == SG_ERR_NO_RECORD ? SG_OUT_REFUSED : SG_OUT_NO_TOKEN;
			if (!why[0])
				say(why, sizeof(why), "no OAuth token for profile %s",
				    req->auth_profile);
			goto done;
		}
	}
	scheme = user ? "Basic" : token ? "Bearer" : NULL;

	long timeout = req->timeout_ms > 0 ? req->timeout_ms : pol.max_timeout_s * 1000;
	if (timeout > pol.max_timeout_s * 1000)
		timeout = (long)pol.max_timeout_s * 1000;
	if (in_txn && timeout > pol.txn_timeout_s * 1000)
		timeout = (long)pol.txn_timeout_s * 1000;
	struct sg_http_options o;
	sg_http_options_init(&o);
	o.timeout_ms = timeout;
	o.connect_timeout_ms = timeout < CONNECT_TIMEOUT_MS ? timeout : CONNECT_TIMEOUT_MS;
	o.retry.max_attempts = 1;
	o.max_body = MAX_RESPONSE_BODY;
	o.user_agent = "Snowglobe";
	sg__out_policy_apply(&pol, &o);
	client = sg_http_client_new(&o);
	if (!client) {
		err = SG_ERR_NOMEM;
		goto done;
	}
	struct sg_http_request hr = {
	    .method = req->method && *req->method ? req->method : "GET",
	    .url = req->url,
	    .headers = req->headers,
	    .n_headers = req->n_headers,
	    .body = req->body,
	    .body_len = req->body ? req->body_len : 0,
	    .user = user,
	    .password = password,
	    .bearer = token,
	};
	sg_http_client_do(client, &hr, resp);
	sent = true;
	if (resp->err == SG_NET_OK && resp->status == 401 && token) {
		/* The token was refused: one new one, one more attempt.  The refused
		 * request is logged as it went: the log keeps every request sent. */
		struct sg__out_sent refused = {
		    .req = req,
		    .auth_scheme = scheme,
		    .resp = resp,
		    .outcome = SG_OUT_ANSWERED,
		    .error = "",
		    .elapsed_ms = elapsed_ms(&t0),
		    .in_transaction = in_txn,
		};
		if ((err = sg__out_log(ctx, &refused)))
			goto done;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		char *fresh = NULL;
		sg_err te =
		    sg_oauth_out_token(ctx, req->auth_profile, true, &fresh, why, sizeof(why));
		if (te == SG_ERR_NOMEM) {
			err = te;
			goto done;
		}
		if (!te) {
			free(token);
			token = fresh;
			hr.bearer = token;
			sg_http_client_do(client, &hr, resp);
		}
		why[0] = '\0';
	}
	if (resp->err == SG_NET_NOMEM) {
		err = SG_ERR_NOMEM;
		goto done;
	}
	if (resp->err == SG_NET_USAGE) {
		*outcome = SG_OUT_REFUSED;
		snprintf(why, sizeof(why), "the request cannot be made: %s",
		         resp->detail[0] ? resp->detail : resp->errmsg);
	} else {
		*outcome = resp->err == SG_NET_OK ? SG_OUT_ANSWERED : SG_OUT_UNREACHABLE;
		outcome_error(*outcome, resp, why, sizeof(why));
	}
done:
	if (!err) {
		struct sg__out_sent s = {
		    .req = req,
		    .auth_scheme = scheme,
		    .resp = sent ? resp : NULL,
		    .outcome = *outcome,
		    .error = why,
		    .elapsed_ms = elapsed_ms(&t0),
		    .in_transaction = in_txn,
		};
		err = sg__out_log(ctx, &s);
		if (msg && msg_size && *outcome != SG_OUT_ANSWERED)
			snprintf(msg, msg_size, "%s", why);
	}
	sg_http_client_free(client);
	if (password)
		sodium_memzero(password, strlen(password));
	free(user);
	free(password);
	if (token)
		sodium_memzero(token, strlen(token));
	free(token);
	sg__out_policy_cleanup(&pol);
	return err;
}
