/*
 * restmsg.c - the natives behind sn_ws.RESTMessageV2 and RESTResponseV2
 * (prelude.js): N.restLoad, N.restExecute, N.restEnqueue, N.restWait.
 *
 * A message travels between JavaScript and C as a plain object, the "spec":
 *   {method, endpoint, body (string or null), headers: [[name, value]...],
 *    params: [[name, value]...], vars: {name: [value, escape]},
 *    auth: "none"|"basic"|"oauth2", profile, user, password, timeout (ms),
 *    source}
 * and is turned into a request by outbound/message.c, so a script and
 * nowctl rest test substitute the same way.
 *
 * Who may use a message: a named message is read as a (non-secure)
 * GlideRecord reads, without the user's ACLs: server scripts are the
 * instance's own code (a business rule fired by an itil user's update must
 * still send), and sys_rest_message itself is admin/web_service_admin only
 * through every API.  Client-supplied javascript: values run in the
 * sandbox, which has no sn_ws at all (hooks.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "net/redact.h"
#include "outbound/message.h"
#include "outbound/outbound.h"
#include "script/internal.h"

#define WAIT_STEP_MS 100

/* Converts obj[key] to a string in place (so it stays alive in obj) and
 * returns it, or NULL when it is null or undefined. */
static const char *field(duk_context *ctx, duk_idx_t obj, const char *key)
{
	duk_get_prop_string(ctx, obj, key);
	if (duk_is_null_or_undefined(ctx, -1)) {
		duk_pop(ctx);
		return NULL;
	}
	duk_to_string(ctx, -1);
	duk_put_prop_string(ctx, obj, key);
	duk_get_prop_string(ctx, obj, key);
	const char *s = duk_get_string(ctx, -1);
	duk_pop(ctx);
	return s;
}

/* The pairs of obj[key] ([[name, value]...]) through set(m, name, value). */
static sg_err pairs(duk_context *ctx, duk_idx_t obj, const char *key, struct sg_out_msg *m,
                    sg_err (*set)(struct sg_out_msg *, const char *, const char *))
{
	sg_err err = SG_ERR_OK;
	duk_get_prop_string(ctx, obj, key);
	duk_idx_t list = duk_get_top_index(ctx);
	duk_size_t n = duk_is_array(ctx, list) ? duk_get_length(ctx, list) : 0;
	for (duk_size_t i = 0; i < n && !err; i++) {
		duk_get_prop_index(ctx, list, (duk_uarridx_t)i);
		duk_idx_t pair = duk_get_top_index(ctx);
		duk_get_prop_index(ctx, pair, 0);
		duk_get_prop_index(ctx, pair, 1);
		err = set(m, duk_to_string(ctx, -2), duk_to_string(ctx, -1));
		duk_pop_3(ctx);
	}
	duk_pop(ctx);
	return err;
}

static sg_err vars(duk_context *ctx, duk_idx_t obj, struct sg_out_msg *m)
{
	sg_err err = SG_ERR_OK;
	duk_get_prop_string(ctx, obj, "vars");
	if (duk_is_object(ctx, -1)) {
		duk_enum(ctx, -1, DUK_ENUM_OWN_PROPERTIES_ONLY);
		while (!err && duk_next(ctx, -1, 1)) {
			duk_get_prop_index(ctx, -1, 0);
			duk_get_prop_index(ctx, -2, 1);
			err = sg_out_msg_set_var(m, duk_to_string(ctx, -4), duk_to_string(ctx, -2),
			                         duk_to_boolean(ctx, -1));
			duk_pop_n(ctx, 4);
		}
		duk_pop(ctx);
	}
	duk_pop(ctx);
	return err;
}

static sg_err replace(char **dst, const char *src)
{
	char *s = strdup(src ? src : "");
	if (!s)
		return SG_ERR_NOMEM;
	free(*dst);
	*dst = s;
	return SG_ERR_OK;
}

/* The spec at idx into m (initialised here). */
static sg_err spec_to_msg(duk_context *ctx, duk_idx_t idx, struct sg_out_msg *m)
{
	sg_err err = sg_out_msg_init(m);
	if (err)
		return err;
	const char *method = field(ctx, idx, "method");
	const char *endpoint = field(ctx, idx, "endpoint");
	const char *body = field(ctx, idx, "body");
	const char *auth = field(ctx, idx, "auth");
	const char *profile = field(ctx, idx, "profile");
	const char *source = field(ctx, idx, "source");
	if ((err = replace(&m->method, method && *method ? method : "GET")) ||
	    (err = replace(&m->endpoint, endpoint)) || (body && (err = replace(&m->body, body))) ||
	    (source && (err = replace(&m->source, source))) ||
	    (err = pairs(ctx, idx, "headers", m, sg_out_msg_set_header)) ||
	    (err = pairs(ctx, idx, "params", m, sg_out_msg_set_param)) ||
	    (err = vars(ctx, idx, m))) {
		sg_out_msg_cleanup(m);
		return err;
	}
	for (char *c = m->method; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	m->auth = auth && !strcmp(auth, "basic")    ? SG_OUT_AUTH_BASIC
	          : auth && !strcmp(auth, "oauth2") ? SG_OUT_AUTH_OAUTH
	                                            : SG_OUT_AUTH_NONE;
	snprintf(m->auth_profile, sizeof(m->auth_profile), "%s", profile ? profile : "");
	duk_get_prop_string(ctx, idx, "timeout");
	m->timeout_ms = duk_is_number(ctx, -1) ? (long)duk_get_number(ctx, -1) : 0;
	duk_pop(ctx);
	return SG_ERR_OK;
}

/* Throws a script-visible error (an Error the script may catch). */
static duk_ret_t script_error(duk_context *ctx, const char *what, const char *msg)
{
	return duk_error(ctx, DUK_ERR_ERROR, "%s: %s", what, msg);
}

/* N.restLoad(message, function) -> spec */
static duk_ret_t n_rest_load(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	struct sg_out_msg m;
	char msg[512];
	sg_err err = sg_out_msg_load(st->ctx, duk_to_string(ctx, 0), duk_to_string(ctx, 1), false,
	                             &m, msg, sizeof(msg));
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
		return script_error(ctx, "RESTMessageV2", msg[0] ? msg : "REST message not found");
	if (err)
		return sg__script_fail(ctx, err);
	duk_push_object(ctx);
	duk_idx_t o = duk_get_top_index(ctx);
	duk_push_string(ctx, m.method);
	duk_put_prop_string(ctx, o, "method");
	duk_push_string(ctx, m.endpoint);
	duk_put_prop_string(ctx, o, "endpoint");
	if (m.body)
		duk_push_string(ctx, m.body);
	else
		duk_push_null(ctx);
	duk_put_prop_string(ctx, o, "body");
	static const char *const names[] = {"headers", "params"};
	json_t *lists[] = {m.headers, m.params};
	for (int k = 0; k < 2; k++) {
		duk_push_array(ctx);
		size_t i;
		json_t *pair;
		json_array_foreach(lists[k], i, pair)
		{
			duk_push_array(ctx);
			duk_push_string(ctx, json_string_value(json_array_get(pair, 0)));
			duk_put_prop_index(ctx, -2, 0);
			duk_push_string(ctx, json_string_value(json_array_get(pair, 1)));
			duk_put_prop_index(ctx, -2, 1);
			duk_put_prop_index(ctx, -2, (duk_uarridx_t)i);
		}
		duk_put_prop_string(ctx, o, names[k]);
	}
	duk_push_object(ctx);
	duk_put_prop_string(ctx, o, "vars");
	duk_push_string(ctx, m.auth == SG_OUT_AUTH_BASIC   ? "basic"
	                     : m.auth == SG_OUT_AUTH_OAUTH ? "oauth2"
	                                                   : "none");
	duk_put_prop_string(ctx, o, "auth");
	duk_push_string(ctx, m.auth_profile);
	duk_put_prop_string(ctx, o, "profile");
	duk_push_string(ctx, m.source ? m.source : "");
	duk_put_prop_string(ctx, o, "source");
	sg_out_msg_cleanup(&m);
	return 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of the run's time, in ms (at least 1). */
static long time_left_ms(const struct sg__script_state *st)
{
	int64_t left = (st->deadline_ns / 1000000) - now_ms();
	return left < 1 ? 1 : (long)left;
}

/* Pushes the response object: {status, body, headers: {name: value},
 * errorCode, error, done}. */
static void push_response(duk_context *ctx, int status, const char *body, size_t body_len,
                          int error_code, const char *error)
{
	duk_push_object(ctx);
	duk_push_int(ctx, status);
	duk_put_prop_string(ctx, -2, "status");
	duk_push_lstring(ctx, body ? body : "", body ? body_len : 0);
	duk_put_prop_string(ctx, -2, "body");
	duk_push_int(ctx, error_code);
	duk_put_prop_string(ctx, -2, "errorCode");
	duk_push_string(ctx, error ? error : "");
	duk_put_prop_string(ctx, -2, "error");
	duk_push_true(ctx);
	duk_put_prop_string(ctx, -2, "done");
}

/* ServiceNow's words for an HTTP error answer [doc community, uncertain]. */
static void failed_words(char *out, size_t size, const char *url, int status)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	size_t n = p ? strcspn(p, "?#") : 1;
	snprintf(out, size, "Method failed: (%.*s) with code: %d", (int)n, p ? p : "/", status);
}

/* Sets response.request: the request as sent, secrets masked (what
 * nowctl rest test shows; not a ServiceNow method). */
static void put_request(duk_context *ctx, const struct sg_out_built *b, enum sg_out_auth auth)
{
	struct sg_buf t;
	sg_buf_init(&t, 2 * SG_OUT_MAX_URL + 4096);
	sg_buf_printf(&t, "%s ", b->method);
	sg_net_redact_url(&t, b->url, strlen(b->url));
	sg_buf_putc(&t, '\n');
	for (size_t i = 0; i < b->n_headers; i++) {
		sg_net_redact_header(&t, b->headers[i].name, b->headers[i].value);
		sg_buf_putc(&t, '\n');
	}
	if (auth != SG_OUT_AUTH_NONE) {
		sg_net_redact_header(&t, "Authorization",
		                     auth == SG_OUT_AUTH_BASIC ? "Basic -"
		                                               : "Bearer -"); /* masked */
		sg_buf_putc(&t, '\n');
	}
	if (b->body) {
		sg_buf_putc(&t, '\n');
		sg_buf_append(&t, b->body, b->body_len);
	}
	duk_push_lstring(ctx, sg_buf_failed(&t) ? "" : sg_buf_str(&t),
	                 sg_buf_failed(&t) ? 0 : t.len);
	duk_put_prop_string(ctx, -2, "request");
	sg_buf_cleanup(&t);
}

/* N.restExecute(spec, table, sys_id) -> response */
static duk_ret_t n_rest_execute(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	struct sg_out_msg m;
	sg_err err = spec_to_msg(ctx, 0, &m);
	if (err)
		return sg__script_fail(ctx, err);
	const char *user = field(ctx, 0, "user");
	const char *password = field(ctx, 0, "password");
	const char *table = duk_is_string(ctx, 1) ? duk_get_string(ctx, 1) : NULL;
	const char *doc = duk_is_string(ctx, 2) ? duk_get_string(ctx, 2) : NULL;
	/* The run's time limit bounds the wait: a native is not interrupted. */
	long left = time_left_ms(st);
	if (m.timeout_ms <= 0 || m.timeout_ms > left)
		m.timeout_ms = left;
	struct sg_out_built b;
	char msg[512] = "";
	err = sg_out_msg_build(&m, &b, msg, sizeof(msg));
	if (err == SG_ERR_TOO_LARGE) {
		sg_out_msg_cleanup(&m);
		push_response(ctx, 0, NULL, 0, 1, msg);
		return 1;
	}
	if (err) {
		sg_out_msg_cleanup(&m);
		return sg__script_fail(ctx, err);
	}
	struct sg_out_request req;
	sg_out_built_request(&m, &b, &req);
	req.basic_user = m.auth == SG_OUT_AUTH_BASIC ? user : NULL;
	req.basic_password = req.basic_user ? password : NULL;
	req.table = table && *table ? table : NULL;
	req.document = doc && *doc ? doc : NULL;
	struct sg_http_response resp;
	sg_http_response_init(&resp);
	enum sg_out_outcome outcome;
	err = sg_out_send(st->ctx, &req, &resp, &outcome, msg, sizeof(msg));
	if (!err) {
		if (outcome == SG_OUT_ANSWERED) {
			char words[300] = "";
			if (resp.status >= 400)
				failed_words(words, sizeof(words), b.url, resp.status);
			push_response(ctx, resp.status, resp.body.data, resp.body.len,
			              resp.status >= 400 ? resp.status : 0, words);
			duk_push_object(ctx);
			for (size_t i = 0; i < resp.n_headers; i++) {
				duk_push_string(ctx, resp.headers[i].value);
				duk_put_prop_string(ctx, -2, resp.headers[i].name);
			}
			duk_put_prop_string(ctx, -2, "headers");
		} else {
			push_response(ctx, 0, NULL, 0, 1, msg);
			duk_push_object(ctx);
			duk_put_prop_string(ctx, -2, "headers");
		}
	}
	if (!err)
		put_request(ctx, &b, m.auth);
	sg_http_response_cleanup(&resp);
	sg_out_built_cleanup(&b);
	sg_out_msg_cleanup(&m);
	if (err)
		return sg__script_fail(ctx, err);
	return 1;
}

/* N.restEnqueue(spec, order_key, table, sys_id) -> queue row sys_id */
static duk_ret_t n_rest_enqueue(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	struct sg_out_msg m;
	sg_err err = spec_to_msg(ctx, 0, &m);
	if (err)
		return sg__script_fail(ctx, err);
	const char *user = field(ctx, 0, "user");
	const char *password = field(ctx, 0, "password");
	const char *key = duk_is_string(ctx, 1) ? duk_get_string(ctx, 1) : NULL;
	const char *table = duk_is_string(ctx, 2) ? duk_get_string(ctx, 2) : NULL;
	const char *doc = duk_is_string(ctx, 3) ? duk_get_string(ctx, 3) : NULL;
	struct sg_out_built b;
	char msg[512] = "";
	err = sg_out_msg_build(&m, &b, msg, sizeof(msg));
	if (err) {
		sg_out_msg_cleanup(&m);
		if (err == SG_ERR_TOO_LARGE)
			return script_error(ctx, "executeAsync", msg);
		return sg__script_fail(ctx, err);
	}
	struct sg_out_request req;
	sg_out_built_request(&m, &b, &req);
	req.basic_user = m.auth == SG_OUT_AUTH_BASIC ? user : NULL;
	req.basic_password = req.basic_user ? password : NULL;
	req.table = table && *table ? table : NULL;
	req.document = doc && *doc ? doc : NULL;
	char id[SG_ID_LEN + 1] = "";
	err = sg_outq_enqueue(st->ctx, &req, key && *key ? key : NULL, id);
	sg_out_built_cleanup(&b);
	sg_out_msg_cleanup(&m);
	if (err == SG_ERR_NOMEM || err == SG_ERR_STORE)
		return sg__script_fail(ctx, err);
	if (err)
		return script_error(ctx, "executeAsync",
		                    "the durable outbound queue cannot take the request");
	duk_push_string(ctx, id);
	return 1;
}

/* N.restWait(id, seconds) -> response ({done: false} when not yet) */
static duk_ret_t n_rest_wait(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const char *id = duk_to_string(ctx, 0);
	double secs = duk_to_number(ctx, 1);
	if (!(secs >= 0))
		secs = 0;
	int64_t until = now_ms() + (int64_t)(secs * 1000);
	int64_t limit = now_ms() + time_left_ms(st) - 50;
	if (until > limit)
		until = limit;
	/* Inside a write transaction the row is not even committed: waiting
	 * would hold the lock for nothing. */
	bool in_txn = st->ctx->conn && sg_conn_in_transaction(st->ctx->conn);
	for (;;) {
		struct sg_outq_result r;
		sg_err err = sg_outq_result(st->ctx, id, &r);
		if (err == SG_ERR_NOMEM || err == SG_ERR_STORE)
			return sg__script_fail(ctx, err);
		if (err) {
			push_response(ctx, 0, NULL, 0, 1, "no such outbound request");
			duk_push_object(ctx);
			duk_put_prop_string(ctx, -2, "headers");
			return 1;
		}
		if (r.state == SG_OUTQ_DONE || r.state == SG_OUTQ_DEAD) {
			const char *words = r.error;
			char fw[300] = "";
			if (r.state == SG_OUTQ_DONE && r.status >= 400) {
				snprintf(fw, sizeof(fw), "Method failed with code: %d", r.status);
				words = fw;
			}
			int code = r.status >= 400 ? r.status : r.state == SG_OUTQ_DEAD ? 1 : 0;
			push_response(ctx, r.status, r.body, r.body ? strlen(r.body) : 0, code,
			              words);
			duk_push_object(ctx);
			const char *k;
			json_t *v;
			json_object_foreach(r.headers, k, v)
			{
				duk_push_string(ctx,
				                json_string_value(v) ? json_string_value(v) : "");
				duk_put_prop_string(ctx, -2, k);
			}
			duk_put_prop_string(ctx, -2, "headers");
			sg_outq_result_free(&r);
			return 1;
		}
		sg_outq_result_free(&r);
		if (in_txn || now_ms() + WAIT_STEP_MS > until) {
			/* ServiceNow's waitForResponse gives up with this [uncertain]. */
			push_response(ctx, 0, NULL, 0, -1,
			              in_txn
			                  ? "cannot wait for a response inside a write transaction"
			                  : "No response for ECC message request");
			duk_push_false(ctx);
			duk_put_prop_string(ctx, -2, "done");
			duk_push_object(ctx);
			duk_put_prop_string(ctx, -2, "headers");
			return 1;
		}
		struct timespec ts = {0, WAIT_STEP_MS * 1000000L};
		nanosleep(&ts, NULL);
	}
}

void sg__restmsg_push_natives(duk_context *ctx, duk_idx_t natives)
{
	static const duk_function_list_entry fns[] = {
	    {"restLoad", n_rest_load, 2},
	    {"restExecute", n_rest_execute, 3},
	    {"restEnqueue", n_rest_enqueue, 4},
	    {"restWait", n_rest_wait, 2},
	    {NULL, NULL, 0},
	};
	duk_put_function_list(ctx, natives, fns);
}
