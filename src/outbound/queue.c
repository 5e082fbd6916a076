/*
 * queue.c - the durable outbound delivery queue on ecc_queue (see queue.h
 * and outbound.h).
 *
 * Built like the job queue (model/jobs.c): enqueueing goes through the
 * record layer (so a basic_password is sealed by auth's password2 rule and
 * the row commits with the write that caused it); claiming and completing
 * are plain SQL with bound values in short write transactions, counted as
 * a data change; a claim is first looked for with a read, so an idle
 * worker never takes the write lock; the network exchange happens between
 * the two transactions, with no lock held.
 */
#include "outbound/queue.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/secret.h"
#include "core/json.h"
#include "core/log.h"
#include "core/waker.h"
#include "model/rules.h"
#include "store/dialect.h"

#define Q "\"ecc_queue\""

static const char *const state_names[] = {"ready", "processing", "processed", "error"};

const char *sg_outq_state_name(enum sg_outq_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "ready";
}

static bool state_from_name(const char *s, enum sg_outq_state *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (s && !strcmp(s, state_names[i])) {
			*out = (enum sg_outq_state)i;
			return true;
		}
	return false;
}

static const char *auth_name(enum sg_out_auth a)
{
	return a == SG_OUT_AUTH_BASIC   ? "basic"
	       : a == SG_OUT_AUTH_OAUTH ? "oauth2"
	                                : "no_authentication";
}

static enum sg_out_auth auth_from_name(const char *s)
{
	return !strcmp(s, "basic")    ? SG_OUT_AUTH_BASIC
	       : !strcmp(s, "oauth2") ? SG_OUT_AUTH_OAUTH
	                              : SG_OUT_AUTH_NONE;
}

static long long prop(struct sg_ctx *ctx, const char *name, long long dflt, sg_err *err)
{
	long long v = dflt;
	if (!*err)
		*err = sg_prop_int(ctx, name, dflt, &v);
	return v;
}

/* ---- enqueue ------------------------------------------------------------- */

static int first_ll(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	long long *out = ud;
	if (ncol > 0 && vals[0])
		*out = strtoll(vals[0], NULL, 10);
	return 1;
}

/* The next place in line for key: in the write transaction, so that two
 * enqueuers never take the same one. */
static sg_err next_sequence(struct sg_ctx *ctx, const char *key, long long *seq)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "SELECT COALESCE(MAX(\"sequence\"), 0) + 1 FROM " Q " WHERE \"order_key\" = ");
	sg_sql_text(&q, key);
	*seq = 1;
	sg_err err = sg_conn_exec(ctx->conn, &q, first_ll, seq, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static bool valid_method(const char *m)
{
	static const char *ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (m && !strcmp(m, ok[i]))
			return true;
	return false;
}

static json_t *headers_json(const struct sg_kv *h, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *pair =
		    json_pack("[s, s]", h[i].name ? h[i].name : "", h[i].value ? h[i].value : "");
		if (!pair || json_array_append_new(a, pair)) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static sg_err check_request(struct sg_ctx *ctx, const struct sg_out_request *req)
{
	if (!valid_method(req->method)) {
		sg_ctx_set_err(ctx, "HTTP method %s cannot be queued",
		               req->method ? req->method : "(none)");
		return SG_ERR_BAD_PARAM;
	}
	if (!req->url || (strncmp(req->url, "http://", 7) && strncmp(req->url, "https://", 8)) ||
	    strlen(req->url) > 4096) {
		sg_ctx_set_err(ctx,
		               "endpoint must be an http or https URL of at most 4096 characters");
		return SG_ERR_BAD_PARAM;
	}
	if (req->body && memchr(req->body, '\0', req->body_len)) {
		sg_ctx_set_err(ctx, "a request body holding NUL bytes cannot be queued");
		return SG_ERR_BAD_PARAM;
	}
	if (req->n_headers > 100) {
		sg_ctx_set_err(ctx, "at most 100 request headers can be queued");
		return SG_ERR_BAD_PARAM;
	}
	return SG_ERR_OK;
}

static sg_err enqueue_in(struct sg_ctx *ctx, const struct sg_out_request *req,
                         const char *order_key, char id[SG_ID_LEN + 1])
{
	sg_err err = SG_ERR_OK;
	long long max_body = prop(ctx, "snowglobe.outbound.request_body_max", 4194304, &err);
	long long max_queued = prop(ctx, "snowglobe.outbound.max_queued", 100000, &err);
	if (err)
		return err;
	if (req->body && (long long)req->body_len > max_body) {
		sg_ctx_set_err(ctx, "the request body is %zu bytes; at most %lld can be queued",
		               req->body_len, max_body);
		return SG_ERR_BAD_PARAM;
	}
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM " Q " WHERE \"state\" IN ('ready', 'processing')");
	long long waiting = 0, seq = 0;
	err = sg_conn_exec(ctx->conn, &q, first_ll, &waiting, NULL);
	if (!err && waiting >= max_queued) {
		sg_ctx_set_err(ctx, "the outbound queue is full (%lld requests waiting)", waiting);
		err = SG_ERR_BAD_PARAM;
	}
	sg_sql_cleanup(&q);
	if (!err && order_key && *order_key)
		err = next_sequence(ctx, order_key, &seq);
	if (err)
		return err;
	char now[SG_DT_LEN + 1], name[101];
	sg_time_format(sg_time_now(), now);
	snprintf(name, sizeof(name), "%s %.90s", req->method, req->url);
	char *body = NULL;
	if (req->body && !(body = strndup(req->body, req->body_len)))
		return SG_ERR_NOMEM;
	json_t *hdrs = headers_json(req->headers, req->n_headers);
	char *hdrs_text = hdrs ? json_dumps(hdrs, JSON_COMPACT) : NULL;
	json_decref(hdrs);
	json_t *in =
	    hdrs_text
	        ? json_pack(
	              "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
	              "s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
	              "agent", SG_OUTQ_AGENT, "topic", SG_OUTQ_TOPIC, "queue", "output", "state",
	              "ready", "name", name, "source", req->source ? req->source : "",
	              "http_method", req->method, "endpoint", req->url, "request_headers",
	              hdrs_text, "has_body", body ? "true" : "false", "payload", body ? body : "",
	              "auth_type", auth_name(req->auth), "auth_profile",
	              req->auth_profile ? req->auth_profile : "", "document_table",
	              req->table ? req->table : "", "document_id",
	              req->document ? req->document : "", "next_attempt", now, "timeout_ms",
	              (json_int_t)(req->timeout_ms > 0 ? req->timeout_ms : 0), "sequence",
	              (json_int_t)seq, "attempts", (json_int_t)0, "max_attempts", (json_int_t)0)
	        : NULL;
	free(hdrs_text);
	free(body);
	if (in && order_key && *order_key &&
	    json_object_set_new(in, "order_key", json_string(order_key)))
		err = SG_ERR_NOMEM;
	if (in && !err && req->auth == SG_OUT_AUTH_BASIC && req->basic_user &&
	    (json_object_set_new(in, "basic_user", json_string(req->basic_user)) ||
	     json_object_set_new(in, "basic_password",
	                         json_string(req->basic_password ? req->basic_password : ""))))
		err = SG_ERR_NOMEM;
	if (!in)
		return SG_ERR_NOMEM;
	if (!err) {
		struct sg_write_opts wo = {0};
		err = sg_rec_insert(ctx, SG_OUTQ_TABLE, in, &wo, id);
	}
	json_decref(in);
	return err;
}

sg_err sg_outq_enqueue(struct sg_ctx *ctx, const struct sg_out_request *req, const char *order_key,
                       char out_id[SG_ID_LEN + 1])
{
	sg_err err = check_request(ctx, req);
	if (err)
		return err;
	if (order_key && strlen(order_key) > 255) {
		sg_ctx_set_err(ctx, "an order key is at most 255 characters");
		return SG_ERR_BAD_PARAM;
	}
	bool own = !sg_conn_in_transaction(ctx->conn);
	if (own && (err = sg_conn_begin(ctx->conn, true)))
		return err;
	char id[SG_ID_LEN + 1] = "";
	err = enqueue_in(ctx, req, order_key, id);
	if (own) {
		if (err)
			sg_conn_rollback(ctx->conn);
		else
			err = sg_conn_commit(ctx->conn);
	}
	if (!err && out_id)
		memcpy(out_id, id, sizeof(id));
	return err;
}

/* ---- result -------------------------------------------------------------- */

struct result_row {
	struct sg_outq_result *r;
	bool got, failed;
};

static int result_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct result_row *rr = ud;
	if (ncol < 6)
		return 1;
	struct sg_outq_result *r = rr->r;
	rr->got = true;
	if (!state_from_name(vals[0], &r->state))
		r->state = SG_OUTQ_READY;
	r->status = vals[1] ? atoi(vals[1]) : 0;
	r->attempts = vals[2] ? atoi(vals[2]) : 0;
	snprintf(r->error, sizeof(r->error), "%s", vals[3] ? vals[3] : "");
	if (vals[4] && *vals[4]) {
		json_error_t je;
		r->headers = json_loads(vals[4], 0, &je);
		rr->failed |= !r->headers && strstr(je.text, "memory");
	}
	if (r->status && vals[5] && !(r->body = strdup(vals[5])))
		rr->failed = true;
	return 1;
}

sg_err sg_outq_result(struct sg_ctx *ctx, const char *id, struct sg_outq_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!id || !*id)
		return SG_ERR_NO_RECORD;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"state\", \"last_status\", \"attempts\", \"error_string\", "
	               "\"response_headers\", \"response_body\" FROM " Q " WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	struct result_row rr = {.r = out};
	sg_err err = sg_conn_exec(ctx->conn, &q, result_row, &rr, NULL);
	sg_sql_cleanup(&q);
	if (!err && rr.failed)
		err = SG_ERR_NOMEM;
	if (!err && !rr.got)
		err = SG_ERR_NO_RECORD;
	if (err)
		sg_outq_result_free(out);
	return err;
}

void sg_outq_result_free(struct sg_outq_result *r)
{
	free(r->body);
	r->body = NULL;
	json_decref(r->headers);
	r->headers = NULL;
}

/* Runs q (plain SQL on the queue's bookkeeping) in a write transaction of
 * its own, counted as a data change; *changes (may be NULL) the rows. */
static sg_err write_sql(struct sg_ctx *ctx, const struct sg_sql *q, long long *changes)
{
	long long n = 0;
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (!err)
		err = sg_conn_exec(ctx->conn, q, NULL, NULL, &n);
	if (!err && n)
		err = sg_model_bump(ctx, "data");
	if (err) {
		sg_conn_rollback(ctx->conn);
		return err;
	}
	err = sg_conn_commit(ctx->conn);
	if (!err && changes)
		*changes = n;
	return err;
}

/* ---- claim --------------------------------------------------------------- */

void sg_outq_item_cleanup(struct sg_outq_item *it)
{
	free(it->method);
	free(it->url);
	free(it->body);
	free(it->source);
	free(it->table);
	free(it->document);
	free(it->auth_profile);
	free(it->basic_user);
	if (it->basic_password)
		sodium_memzero(it->basic_password, strlen(it->basic_password));
	free(it->basic_password);
	free(it->headers);
	json_decref(it->headers_json);
	memset(it, 0, sizeof(*it));
}

struct claim_row {
	struct sg_outq_item *it;
	bool got, failed;
};

static char *dupv(const char *v, bool *failed)
{
	char *s = strdup(v ? v : "");
	*failed |= !s;
	return s;
}

static int claim_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct claim_row *r = ud;
	if (ncol < 16)
		return 1;
	struct sg_outq_item *it = r->it;
	bool f = false;
	snprintf(it->sys_id, sizeof(it->sys_id), "%s", vals[0] ? vals[0] : "");
	it->method = dupv(vals[1], &f);
	it->url = dupv(vals[2], &f);
	const char *hj = vals[3] && *vals[3] ? vals[3] : "[]";
	it->has_body = sg_str_bool(vals[4], false);
	it->body = it->has_body ? dupv(vals[5], &f) : NULL;
	it->body_len = it->body ? strlen(it->body) : 0;
	it->auth = auth_from_name(vals[6] ? vals[6] : "");
	it->auth_profile = dupv(vals[7], &f);
	it->basic_user = dupv(vals[8], &f);
	it->basic_password = dupv(vals[9], &f);
	it->timeout_ms = vals[10] ? atol(vals[10]) : 0;
	it->source = dupv(vals[11], &f);
	it->table = dupv(vals[12], &f);
	it->document = dupv(vals[13], &f);
	it->attempts = vals[14] ? atoi(vals[14]) : 0;
	it->max_attempts = vals[15] ? atoi(vals[15]) : 0; /* 0: the property */
	/* headers written over the Table API are checked by the insert rule;
	 * anything unreadable still sends, without them, rather than blocking
	 * the queue */
	json_error_t je;
	it->headers_json = json_loads(hj, 0, &je);
	if (!it->headers_json && strstr(je.text, "memory"))
		f = true;
	else if (!json_is_array(it->headers_json)) {
		json_decref(it->headers_json);
		it->headers_json = json_array();
	}
	size_t n = json_array_size(it->headers_json);
	/* one more for the delivery id */
	it->headers = calloc(n + 1, sizeof(*it->headers));
	f |= !it->headers || !json_is_array(it->headers_json);
	for (size_t i = 0; !f && i < n; i++) {
		json_t *p = json_array_get(it->headers_json, i);
		const char *hn = json_string_value(json_array_get(p, 0));
		const char *hv = json_string_value(json_array_get(p, 1));
		if (hn && hv && *hn)
			it->headers[it->n_headers++] = (struct sg_kv){(char *)hn, (char *)hv};
	}
	r->failed = f;
	r->got = true;
	return 1;
}

/* The claimable rows as a WHERE condition on alias q at now. */
static void claimable(struct sg_sql *q, const char *now)
{
	sg_sql_raw(q, "q.\"queue\" = 'output' AND q.\"topic\" = ");
	sg_sql_text(q, SG_OUTQ_TOPIC);
	sg_sql_raw(q, " AND ((q.\"state\" = 'ready' AND q.\"next_attempt\" <= ");
	sg_sql_text(q, now);
	sg_sql_raw(q, ") OR (q.\"state\" = 'processing' AND q.\"lease_until\" <= ");
	sg_sql_text(q, now);
	/* first in line for its key: no earlier row waiting or in flight, and
	 * none in flight at all under a live lease.  Each test a seek in
	 * ix_ecc_queue_key_state (order_key, state, sequence): one NOT EXISTS
	 * with an OR inside read every row of the key for every due row, so a
	 * claim cost (rows due) x (rows of a key), quadratic in a backlog.
	 * "No earlier row" is written as the key's first sequence in each
	 * state (MIN: a seek for the first index entry on either engine); as
	 * NOT EXISTS (.. sequence < q.sequence), PostgreSQL read "state IN
	 * (..)" as a filter, and with one state per EXISTS it expected many
	 * matches and scanned the table, its delivered rows first. */
	sg_sql_raw(q,
	           ")) AND (COALESCE(q.\"order_key\", '') = '' OR (q.\"sequence\" <= "
	           "COALESCE((SELECT MIN(o.\"sequence\") FROM " Q " o WHERE o.\"order_key\" = "
	           "q.\"order_key\" AND o.\"state\" = 'ready'), q.\"sequence\") AND "
	           "q.\"sequence\" <= COALESCE((SELECT MIN(o.\"sequence\") FROM " Q " o WHERE "
	           "o.\"order_key\" = q.\"order_key\" AND o.\"state\" = 'processing'), "
	           "q.\"sequence\") AND NOT EXISTS (SELECT 1 FROM " Q " o WHERE o.\"order_key\" = "
	           "q.\"order_key\" AND o.\"state\" = 'processing' AND o.\"lease_until\" > ");
	sg_sql_text(q, now);
	sg_sql_raw(q, " AND o.\"sys_id\" <> q.\"sys_id\")))");
}

static int first_id(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(ud, SG_ID_LEN + 1, "%s", vals[0]);
	return 1;
}

sg_err sg_outq_claim(struct sg_ctx *ctx, const char *worker, int64_t now, int64_t lease,
                     struct sg_outq_item *it, bool *got)
{
	memset(it, 0, sizeof(*it));
	*got = false;
	char now_s[SG_DT_LEN + 1], until[SG_DT_LEN + 1];
	sg_time_format(now, now_s);
	sg_time_format(now + (lease > 0 ? lease : 1), until);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT q.\"sys_id\", q.\"http_method\", q.\"endpoint\", "
	               "q.\"request_headers\", q.\"has_body\", q.\"payload\", q.\"auth_type\", "
	               "q.\"auth_profile\", q.\"basic_user\", q.\"basic_password\", "
	               "q.\"timeout_ms\", q.\"source\", q.\"document_table\", q.\"document_id\", "
	               "q.\"attempts\", q.\"max_attempts\" FROM " Q " q WHERE ");
	claimable(&q, now_s);
	sg_sql_raw(&q, " ORDER BY q.\"next_attempt\", q.\"sequence\" LIMIT 1");
	/* A read first, so an idle worker never takes the write lock; then
	 * the same query inside the write, which decides. */
	char due[SG_ID_LEN + 1] = "";
	struct sg_sql probe;
	sg_sql_init(&probe);
	sg_sql_raw(&probe, "SELECT q.\"sys_id\" FROM " Q " q WHERE ");
	claimable(&probe, now_s);
	sg_sql_raw(&probe, " LIMIT 1");
	sg_err err = sg_conn_exec(ctx->conn, &probe, first_id, due, NULL);
	sg_sql_cleanup(&probe);
	if (!err && *due)
		err = sg_conn_begin(ctx->conn, true);
	if (err || !*due) {
		sg_sql_cleanup(&q);
		return err;
	}
	/* Inside the write, a row another node's claim holds is passed over
	 * (the next due one is taken) rather than waited for. */
	const struct sg_dialect *d = sg_conn_dialect(ctx->conn);
	if (d->claim_lock)
		d->claim_lock(&q, "q");
	struct claim_row r = {.it = it};
	err = sg_conn_exec(ctx->conn, &q, claim_row, &r, NULL);
	if (!err && r.failed)
		err = SG_ERR_NOMEM;
	if (!err && r.got) {
		snprintf(it->worker, sizeof(it->worker), "%s", worker);
		sg_sql_reset(&q);
		sg_sql_raw(&q, "UPDATE " Q " SET \"state\" = 'processing', \"claimed_by\" = ");
		sg_sql_text(&q, it->worker);
		sg_sql_raw(&q, ", \"lease_until\" = ");
		sg_sql_text(&q, until);
		sg_sql_raw(&q, ", \"attempts\" = ");
		sg_sql_int(&q, it->attempts + 1);
		sg_sql_raw(&q, ", \"sys_updated_on\" = ");
		sg_sql_text(&q, now_s);
		sg_sql_raw(&q, ", \"sys_mod_count\" = COALESCE(\"sys_mod_count\", 0) + 1 WHERE "
		               "\"sys_id\" = ");
		sg_sql_text(&q, it->sys_id);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
		it->attempts++; /* this one counts, even if the worker dies in it */
	}
	if (!err && r.got)
		err = sg_model_bump(ctx, "data");
	sg_sql_cleanup(&q);
	if (!err)
		err = sg_conn_commit(ctx->conn);
	else
		sg_conn_rollback(ctx->conn);
	if (err)
		sg_outq_item_cleanup(it);
	else
		*got = r.got;
	return err;
}

/* ---- complete ------------------------------------------------------------ */

static uint32_t sodium_rnd(uint32_t upper)
{
	return upper ? randombytes_uniform(upper) : 0;
}

long sg_outq_backoff_ms(int n, long base_ms, long max_ms, uint32_t (*rnd)(uint32_t upper))
{
	if (base_ms < 1)
		base_ms = 1;
	if (max_ms < base_ms)
		max_ms = base_ms;
	long ceiling = base_ms;
	for (int i = 1; i < n && ceiling < max_ms; i++)
		ceiling = ceiling > max_ms / 2 ? max_ms : ceiling * 2;
	if (ceiling > max_ms)
		ceiling = max_ms;
	if (ceiling >= (long)UINT32_MAX)
		ceiling = (long)UINT32_MAX - 1;
	return (long)(rnd ? rnd : sodium_rnd)((uint32_t)ceiling + 1);
}

bool sg_outq_status_retryable(int status)
{
	return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

/* The headers of resp as {name: value} text (repeats joined by ", "). */
static char *response_headers_text(const struct sg_http_response *resp)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < resp->n_headers; i++) {
		const char *n = resp->headers[i].name, *v = resp->headers[i].value;
		if (!n || !v)
			continue;
		const char *old = json_string_value(json_object_get(o, n));
		char *joined = NULL;
		if (old && asprintf(&joined, "%s, %s", old, v) < 0) {
			json_decref(o);
			return NULL;
		}
		if (json_object_set_new(o, n, json_string(joined ? joined : v))) {
			free(joined);
			json_decref(o);
			return NULL;
		}
		free(joined);
	}
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/* At most max bytes of s, not cutting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

struct decision {
	enum sg_outq_state state;
	int64_t next;
	char error[1024];
};

static void decide(const struct sg_outq_item *it, int64_t now, enum sg_out_outcome outcome,
                   const struct sg_http_response *resp, const char *msg, long base_ms, long max_ms,
                   long long max_ra, uint32_t (*rnd)(uint32_t), struct decision *d)
{
	int status = outcome == SG_OUT_ANSWERED && resp ? resp->status : 0;
	bool retry = false;
	d->next = now;
	d->error[0] = '\0';
	switch (outcome) {
	case SG_OUT_ANSWERED:
		if (status >= 200 && status <= 299) {
			d->state = SG_OUTQ_DONE;
			return;
		}
		retry = sg_outq_status_retryable(status);
		snprintf(d->error, sizeof(d->error), "HTTP %d", status);
		break;
	case SG_OUT_UNREACHABLE:
	case SG_OUT_NO_TOKEN:
		retry = true;
		snprintf(d->error, sizeof(d->error), "%s",
		         msg && *msg                  ? msg
		         : outcome == SG_OUT_NO_TOKEN ? "no OAuth token"
		                                      : "no answer");
		break;
	case SG_OUT_REFUSED:
		snprintf(d->error, sizeof(d->error), "refused: %s",
		         msg && *msg ? msg : "by policy");
		break;
	}
	if (!retry) {
		d->state = SG_OUTQ_DEAD;
		return;
	}
	if (it->attempts >= it->max_attempts) {
		char why[sizeof(d->error)];
		memcpy(why, d->error, sizeof(why));
		int k = snprintf(d->error, sizeof(d->error),
		                 "gave up after %d attempts: ", it->attempts);
		if (k > 0 && (size_t)k < sizeof(d->error)) {
			size_t room = sizeof(d->error) - (size_t)k - 1, wl = strnlen(why, room);
			memcpy(d->error + k, why, wl);
			d->error[(size_t)k + wl] = '\0';
		}
		d->state = SG_OUTQ_DEAD;
		return;
	}
	long wait = sg_outq_backoff_ms(it->attempts, base_ms, max_ms, rnd);
	const char *ra = resp && outcome == SG_OUT_ANSWERED
	                     ? sg_http_response_header(resp, "Retry-After")
	                     : NULL;
	long ra_ms = sg_net_retry_after_ms(ra, now);
	if (ra_ms >= 0) {
		if (max_ra >= 0 && ra_ms > max_ra * 1000)
			ra_ms = (long)(max_ra * 1000);
		if (ra_ms > wait)
			wait = ra_ms;
	}
	int64_t secs = (wait + 999) / 1000;
	d->next = now + (secs > 0 ? secs : 1);
	d->state = SG_OUTQ_READY;
}

sg_err sg_outq_complete(struct sg_ctx *ctx, const struct sg_outq_item *it, int64_t now,
                        enum sg_out_outcome outcome, const struct sg_http_response *resp,
                        const char *msg, uint32_t (*rnd)(uint32_t upper), enum sg_outq_state *state)
{
	sg_err err = SG_ERR_OK;
	long base = (long)prop(ctx, "snowglobe.outbound.backoff_base_ms", 2000, &err);
	long max = (long)prop(ctx, "snowglobe.outbound.backoff_max_ms", 600000, &err);
	long long max_ra = prop(ctx, "snowglobe.outbound.max_retry_after_seconds", 3600, &err);
	long long keep = prop(ctx, "snowglobe.outbound.response_body_max", 65536, &err);
	long long max_attempts = prop(ctx, "snowglobe.outbound.max_attempts", 10, &err);
	if (err)
		return err;
	struct sg_outq_item row = *it;
	if (row.max_attempts <= 0)
		row.max_attempts =
		    max_attempts > 0 && max_attempts < 1000000 ? (int)max_attempts : 1;
	struct decision d;
	decide(&row, now, outcome, resp, msg, base, max, max_ra, rnd, &d);
	bool answered = outcome == SG_OUT_ANSWERED && resp;
	char *hdrs = answered ? response_headers_text(resp) : NULL;
	if (answered && !hdrs)
		return SG_ERR_NOMEM;
	char now_s[SG_DT_LEN + 1], next_s[SG_DT_LEN + 1];
	sg_time_format(now, now_s);
	sg_time_format(d.next, next_s);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE " Q " SET \"state\" = ");
	sg_sql_text(&q, sg_outq_state_name(d.state));
	sg_sql_raw(&q, ", \"claimed_by\" = '', \"lease_until\" = '', \"next_attempt\" = ");
	sg_sql_text(&q, next_s);
	sg_sql_raw(&q, ", \"last_attempt\" = ");
	sg_sql_text(&q, now_s);
	sg_sql_raw(&q, ", \"error_string\" = ");
	sg_sql_text(&q, d.error);
	sg_sql_raw(&q, ", \"last_status\" = ");
	sg_sql_int(&q, answered ? resp->status : 0);
	sg_sql_raw(&q, ", \"response_headers\" = ");
	sg_sql_text(&q, hdrs ? hdrs : "");
	sg_sql_raw(&q, ", \"response_body\" = ");
	char *body = NULL;
	if (answered && resp->body.len) {
		size_t n = utf8_cut(resp->body.data, resp->body.len, keep > 0 ? (size_t)keep : 0);
		body = strndup(resp->body.data, n);
		if (!body) {
			free(hdrs);
			sg_sql_cleanup(&q);
			return SG_ERR_NOMEM;
		}
	}
	sg_sql_text(&q, body ? body : "");
	free(body);
	free(hdrs);
	if (d.state == SG_OUTQ_DONE || d.state == SG_OUTQ_DEAD) {
		sg_sql_raw(&q, ", \"processed\" = ");
		sg_sql_text(&q, now_s);
	}
	sg_sql_raw(&q, ", \"sys_updated_on\" = ");
	sg_sql_text(&q, now_s);
	sg_sql_raw(&q, ", \"sys_mod_count\" = COALESCE(\"sys_mod_count\", 0) + 1 WHERE "
	               "\"sys_id\" = ");
	sg_sql_text(&q, it->sys_id);
	sg_sql_raw(&q, " AND \"state\" = 'processing' AND \"claimed_by\" = ");
	sg_sql_text(&q, it->worker);
	err = write_sql(ctx, &q, NULL);
	sg_sql_cleanup(&q);
	if (!err && state)
		*state = d.state;
	return err;
}

/* ---- one delivery -------------------------------------------------------- */

static _Atomic int64_t last_purge;

/* Processed rows past the retention, at most every ten minutes. */
static void retention(struct sg_ctx *ctx)
{
	int64_t now = sg_time_now(), last = atomic_load(&last_purge);
	if (now - last < 600 || !atomic_compare_exchange_strong(&last_purge, &last, now))
		return;
	sg_err err = SG_ERR_OK;
	long long days = prop(ctx, "snowglobe.outbound.retention_days", 7, &err);
	long long n = 0;
	if (!err && days > 0)
		err = sg_outq_purge(ctx, SG_OUTQ_DONE, now - days * 86400, &n);
	if (err && err != SG_ERR_BUSY)
		sg_log_warn("outbound: retention: %s", sg_err_name(err));
	else if (n)
		sg_log_info("outbound: %lld delivered request(s) past retention deleted", n);
}

static sg_err deliver(struct sg_ctx *ctx, const struct sg_outq_item *it,
                      struct sg_http_response *resp, enum sg_out_outcome *outcome, char *msg,
                      size_t msg_size)
{
	char *password = NULL;
	if (it->auth == SG_OUT_AUTH_BASIC && *it->basic_user) {
		sg_err err = sg_secret_decrypt(ctx, it->basic_password, &password);
		if (err == SG_ERR_NOMEM)
			return err;
		if (err) {
			*outcome = SG_OUT_REFUSED;
			snprintf(msg, msg_size, "the stored basic password cannot be decrypted");
			return SG_ERR_OK;
		}
	}
	/* the delivery id, unless the script set that header itself */
	struct sg_kv *h = it->headers;
	size_t n = it->n_headers;
	bool has_id = false;
	for (size_t i = 0; i < n; i++)
		has_id |= !strcasecmp(h[i].name, SG_OUTQ_DELIVERY_HEADER);
	if (!has_id)
		h[n++] = (struct sg_kv){(char *)SG_OUTQ_DELIVERY_HEADER, (char *)it->sys_id};
	struct sg_out_request req = {
	    .method = it->method,
	    .url = it->url,
	    .headers = h,
	    .n_headers = n,
	    .body = it->has_body ? it->body : NULL,
	    .body_len = it->body_len,
	    .auth = it->auth,
	    .auth_profile = *it->auth_profile ? it->auth_profile : NULL,
	    .basic_user = *it->basic_user ? it->basic_user : NULL,
	    .basic_password = password,
	    .timeout_ms = it->timeout_ms,
	    .source = *it->source ? it->source : NULL,
	    .table = *it->table ? it->table : NULL,
	    .document = *it->document ? it->document : NULL,
	};
	sg_err err = sg_out_send(ctx, &req, resp, outcome, msg, msg_size);
	if (sg_conn_in_transaction(ctx->conn))
		sg_conn_rollback(ctx->conn);
	if (password) {
		sodium_memzero(password, strlen(password));
		free(password);
	}
	return err;
}

sg_err sg_outq_run_one(struct sg_model *m, const char *worker, bool *ran)
{
	*ran = false;
	sg_model_sync(m); /* other processes' changes: properties, the dictionary */
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	long long lease = prop(&ctx, "snowglobe.outbound.lease_seconds", 300, &err);
	struct sg_outq_item it;
	bool got = false;
	int64_t now = sg_time_now();
	if (!err)
		err = sg_outq_claim(&ctx, worker, now, lease, &it, &got);
	if (!err && !got)
		retention(&ctx);
	sg_ctx_end(&ctx);
	if (err || !got)
		return err;
	*ran = true;
	struct sg_http_response resp;
	sg_http_response_init(&resp);
	enum sg_out_outcome outcome = SG_OUT_UNREACHABLE;
	char msg[512] = "";
	err = sg_ctx_begin(&ctx, m, NULL);
	if (!err) {
		err = deliver(&ctx, &it, &resp, &outcome, msg, sizeof(msg));
		if (!err) {
			enum sg_outq_state st;
			err = sg_outq_complete(&ctx, &it, sg_time_now(), outcome, &resp, msg, NULL,
			                       &st);
			if (!err && st == SG_OUTQ_DEAD)
				sg_log_warn("outbound: %s %s (%s) is dead", it.method, it.url,
				            it.sys_id);
		}
		sg_ctx_end(&ctx);
	}
	/* on failure the row stays processing and is taken again after its lease */
	sg_http_response_cleanup(&resp);
	sg_outq_item_cleanup(&it);
	return err;
}

/* ---- admin --------------------------------------------------------------- */

json_t *sg_outq_retry_fields(int64_t now)
{
	char at[SG_DT_LEN + 1];
	sg_time_format(now, at);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "state", "ready", "next_attempt", at,
	                 "claimed_by", "", "lease_until", "", "error_string", "", "attempts", "0");
}

sg_err sg_outq_retry(struct sg_ctx *ctx, const char *id)
{
	json_t *in = sg_outq_retry_fields(sg_time_now());
	if (!in)
		return SG_ERR_NOMEM;
	struct sg_write_opts wo = {0};
	sg_err err = sg_rec_update(ctx, SG_OUTQ_TABLE, id, in, &wo);
	json_decref(in);
	return err;
}

sg_err sg_outq_purge(struct sg_ctx *ctx, enum sg_outq_state state, int64_t older_than, long long *n)
{
	if (n)
		*n = 0;
	if (state != SG_OUTQ_DONE && state != SG_OUTQ_DEAD)
		return SG_ERR_BAD_PARAM;
	char before[SG_DT_LEN + 1];
	sg_time_format(older_than, before);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM " Q " WHERE \"queue\" = 'output' AND \"topic\" = ");
	sg_sql_text(&q, SG_OUTQ_TOPIC);
	sg_sql_raw(&q, " AND \"state\" = ");
	sg_sql_text(&q, sg_outq_state_name(state));
	sg_sql_raw(&q, " AND \"sys_updated_on\" < ");
	sg_sql_text(&q, before);
	sg_err err = write_sql(ctx, &q, n);
	sg_sql_cleanup(&q);
	return err;
}

sg_err sg_outq_prepare(struct sg_ctx *ctx)
{
	static const char *by_key[] = {"order_key", "sequence"};
	static const char *by_due[] = {"state", "next_attempt"};
	static const char *by_key_state[] = {"order_key", "state", "sequence"};
	struct sg_sql q;
	sg_sql_init(&q);
	const struct sg_dialect *d = sg_conn_dialect(ctx->conn);
	d->create_index(&q, SG_OUTQ_TABLE, "ix_ecc_queue_order_key", by_key, 2);
	sg_err err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	d->create_index(&q, SG_OUTQ_TABLE, "ix_ecc_queue_due", by_due, 2);
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_reset(&q);
	d->create_index(&q, SG_OUTQ_TABLE, "ix_ecc_queue_key_state", by_key_state, 3);
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

/* ---- waking the workers -------------------------------------------------- */

static struct sg_waker waker = SG_WAKER_INIT;

void sg_outq_set_waker(void (*fn)(void *ud), void *ud)
{
	sg_waker_set(&waker, fn, ud);
}

void sg_outq_wake(void)
{
	sg_waker_wake(&waker);
}

static sg_err wake_rule(struct sg_write *w)
{
	(void)w;
	sg_outq_wake();
	return SG_ERR_OK;
}

/*
 * A row inserted by other means than sg_outq_enqueue (the Table API, an
 * import) with an order key and no place in line gets one, and one with an
 * endpoint and no topic is an outbound request due now.
 */
/* Whether text is request_headers' form: [[name, value], ...], at most 100. */
static bool headers_ok(const char *text)
{
	if (!text || !*text)
		return true;
	json_t *a = json_loads(text, 0, NULL);
	bool ok = json_is_array(a) && json_array_size(a) <= 100;
	size_t i;
	json_t *p;
	json_array_foreach(a, i, p)
	{
		const char *n = json_string_value(json_array_get(p, 0));
		ok &= json_array_size(p) == 2 && n && *n && !strpbrk(n, ":\r\n") &&
		      json_is_string(json_array_get(p, 1)) &&
		      !strpbrk(json_string_value(json_array_get(p, 1)), "\r\n");
	}
	json_decref(a);
	return ok;
}

static sg_err insert_rule(struct sg_write *w)
{
	if (!headers_ok(sg_write_val(w, "request_headers"))) {
		sg_ctx_set_err(w->ctx,
		               "request_headers must be a JSON array of [name, value] pairs "
		               "(at most 100, no line breaks)");
		return SG_ERR_BAD_PARAM;
	}
	const char *key = sg_write_val(w, "order_key");
	const char *seq = sg_write_val(w, "sequence");
	if (key && *key && (!seq || !*seq || !strcmp(seq, "0"))) {
		long long n = 1;
		sg_err err = next_sequence(w->ctx, key, &n);
		if (err)
			return err;
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", n);
		sg_write_set(w, "sequence", buf);
	}
	const char *topic = sg_write_val(w, "topic"), *endpoint = sg_write_val(w, "endpoint");
	if ((!topic || !*topic) && endpoint && *endpoint) {
		sg_write_set(w, "topic", SG_OUTQ_TOPIC);
		sg_write_set(w, "agent", SG_OUTQ_AGENT);
	}
	const char *next = sg_write_val(w, "next_attempt");
	if (!next || !*next) {
		char now[SG_DT_LEN + 1];
		sg_time_format(sg_time_now(), now);
		sg_write_set(w, "next_attempt", now);
	}
	return SG_ERR_OK;
}

static const struct sg_rule wake_rules[] = {
    {"outbound.insert", SG_OUTQ_TABLE, SG_RULE_BEFORE, SG_OP_INSERT, 50, insert_rule},
    {"outbound.wake", SG_OUTQ_TABLE, SG_RULE_AFTER_COMMIT, SG_OP_WRITE, 5, wake_rule},
};

sg_err sg_outq_add_rules(struct sg_model *m)
{
	return sg_model_add_rules(m, wake_rules, sizeof(wake_rules) / sizeof(wake_rules[0]));
}
