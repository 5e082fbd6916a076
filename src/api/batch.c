/*
 * batch.c - the Batch API: POST /api/now/v1/batch (and /api/now/batch).
 *
 * A batch is a list of REST requests, each with an id, a method, a relative
 * URL, name/value headers and a base64 body [rest-apis/batch-api.md].  Each
 * runs in-process, in order, as the batch's user, through the middleware's
 * own steps (sg_api_subrequest): the same route table, body limit, content
 * types, token scope, handlers and ACLs as a request off the wire.  Each
 * answer goes back with its status, headers and base64 body; the items a
 * limit kept from running (input or output size, the batch's time) are
 * listed by id in unserviced_requests.  The response is written straight
 * into the batch's body: an item's output is base64-encoded as it is copied,
 * and freed before the next item runs.
 */
#include "api/batch.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "core/json.h"
#include "core/util.h"

/* ServiceNow's defaults [batch-api.md]: 5 MB in per item (at most 10 MB),
 * 10 MB out per item, the "REST Batch API request timeout" quota of 30 s. */
#define INPUT_MAX_DEFAULT  (5LL * 1024 * 1024)
#define INPUT_MAX_CEILING  (10LL * 1024 * 1024)
#define OUTPUT_MAX_DEFAULT (10LL * 1024 * 1024)
#define TIMEOUT_MS_DEFAULT 30000LL
/* The whole batch response is kept in memory: past this, items wait. */
#define TOTAL_MAX_DEFAULT (64LL * 1024 * 1024)
/* Room for an item's JSON besides its base64 body. */
#define ITEM_OVERHEAD 4096

/* ---- parsing -------------------------------------------------------------- */

/* A string, or a number read as its text (PySNC sends batch_request_id as a
 * number and expects it back as a string).  NULL for anything else. */
static const char *text_of(struct sg_arena *a, const json_t *v, bool *nomem)
{
	char num[64];
	const char *s = NULL;
	if (json_is_string(v)) {
		char *copy = sg_arena_strndup(a, json_string_value(v), json_string_length(v));
		if (!copy)
			*nomem = true;
		return copy;
	}
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		s = num;
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		s = num;
	}
	if (!s)
		return NULL;
	char *copy = sg_arena_strdup(a, s);
	if (!copy)
		*nomem = true;
	return copy;
}

/* A required string member of an item, copied; NULL when absent or not a
 * string (or out of memory: *nomem). */
static const char *member_str(struct sg_arena *a, const json_t *obj, const char *key, bool *nomem)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return NULL;
	char *s = sg_arena_strndup(a, json_string_value(v), json_string_length(v));
	if (!s)
		*nomem = true;
	return s;
}

static sg_err parse_headers(struct sg_arena *a, const json_t *list, struct sg_batch_item *it,
                            const char **why)
{
	if (!list || json_is_null(list))
		return SG_ERR_OK;
	if (!json_is_array(list)) {
		*why = "rest_requests.headers must be a list of name/value objects";
		return SG_ERR_BAD_PARAM;
	}
	size_t n = json_array_size(list);
	it->headers = n ? sg_arena_alloc(a, n * sizeof(*it->headers)) : NULL;
	if (n && !it->headers)
		return SG_ERR_NOMEM;
	bool nomem = false;
	for (size_t i = 0; i < n; i++) {
		const json_t *h = json_array_get(list, i);
		const json_t *v = json_object_get(h, "value");
		const char *name = member_str(a, h, "name", &nomem);
		const char *value = json_is_null(v) || !v ? "" : text_of(a, v, &nomem);
		if (nomem)
			return SG_ERR_NOMEM;
		if (!name || !value) {
			*why = "rest_requests.headers: each header needs a name and a string value";
			return SG_ERR_BAD_PARAM;
		}
		it->headers[i] = (struct sg_kv){.name = (char *)name, .value = (char *)value};
	}
	it->nheaders = n;
	return SG_ERR_OK;
}

/* The base64 body (line breaks and spaces ignored, as the platform's own
 * example wraps it). */
static sg_err parse_body(struct sg_arena *a, const json_t *v, struct sg_batch_item *it,
                         const char **why)
{
	if (!v || json_is_null(v))
		return SG_ERR_OK;
	if (!json_is_string(v)) {
		*why = "rest_requests.body must be a base64 string";
		return SG_ERR_BAD_PARAM;
	}
	const char *b64 = json_string_value(v);
	size_t n = json_string_length(v);
	it->body = sg_arena_alloc(a, n / 4 * 3 + 3);
	if (!it->body)
		return SG_ERR_NOMEM;
	const char *end = NULL;
	if (sodium_base642bin((unsigned char *)it->body, n / 4 * 3 + 3, b64, n, " \t\r\n",
	                      &it->body_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != b64 + n) {
		*why = "rest_requests.body is not valid base64";
		return SG_ERR_BAD_PARAM;
	}
	return SG_ERR_OK;
}

static sg_err parse_item(struct sg_arena *a, const json_t *o, struct sg_batch_item *it,
                         const char **why)
{
	bool nomem = false;
	if (!json_is_object(o)) {
		*why = "rest_requests must hold request objects";
		return SG_ERR_BAD_PARAM;
	}
	const json_t *id = json_object_get(o, "id");
	it->id = id ? text_of(a, id, &nomem) : NULL;
	it->method = member_str(a, o, "method", &nomem);
	it->url = member_str(a, o, "url", &nomem);
	if (nomem)
		return SG_ERR_NOMEM;
	if (!it->id || !it->method || !it->url || !*it->method) {
		*why = !it->id                       ? "rest_requests.id is required"
		       : !it->method || !*it->method ? "rest_requests.method is required"
		                                     : "rest_requests.url is required";
		return SG_ERR_BAD_PARAM;
	}
	it->url_len = json_string_length(json_object_get(o, "url"));
	const json_t *ex = json_object_get(o, "exclude_response_headers");
	it->exclude_headers =
	    json_is_true(ex) || (json_is_string(ex) && sg_str_bool(json_string_value(ex), false));
	sg_err err = parse_headers(a, json_object_get(o, "headers"), it, why);
	if (!err)
		err = parse_body(a, json_object_get(o, "body"), it, why);
	return err;
}

sg_err sg_batch_parse(const char *text, size_t len, struct sg_arena *arena, struct sg_batch *out,
                      const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (!text || !len)
		return SG_ERR_EMPTY_BODY;
	json_t *root = NULL;
	sg_err err = sg_json_parse_body(text, len, &root);
	if (err)
		return err;
	bool nomem = false;
	const json_t *bid = json_object_get(root, "batch_request_id");
	const json_t *list = json_object_get(root, "rest_requests");
	if (!json_is_object(root)) {
		*why = "The batch must be a JSON object";
		err = SG_ERR_BAD_PARAM;
	} else if (!json_is_array(list)) {
		*why = "rest_requests is required: a list of requests";
		err = SG_ERR_BAD_PARAM;
	} else if (bid && !json_is_null(bid) && !json_is_string(bid) && !json_is_number(bid)) {
		*why = "batch_request_id must be a string";
		err = SG_ERR_BAD_PARAM;
	}
	if (!err) {
		out->request_id = bid && !json_is_null(bid) ? text_of(arena, bid, &nomem) : "";
		out->nitems = json_array_size(list);
		out->items =
		    out->nitems ? sg_arena_alloc(arena, out->nitems * sizeof(*out->items)) : NULL;
		if (nomem || !out->request_id || (out->nitems && !out->items))
			err = SG_ERR_NOMEM;
	}
	for (size_t i = 0; !err && i < out->nitems; i++)
		err = parse_item(arena, json_array_get(list, i), &out->items[i], why);
	json_decref(root);
	if (err)
		out->nitems = 0;
	return err;
}

/* ---- running ---------------------------------------------------------------- */

const char *sg_http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "";
	}
}

/* The limits of one batch. */
struct limits {
	long long input_max, output_max, timeout_ms, total_max;
	bool stop_at_limit;
};

static sg_err read_limits(struct sg_ctx *ctx, const struct sg_req *req, struct limits *l)
{
	sg_err err =
	    sg_prop_int(ctx, "glide.rest.batch.max.inputSize", INPUT_MAX_DEFAULT, &l->input_max);
	if (!err)
		err = sg_prop_int(ctx, "glide.rest.batch.max.outputSize", OUTPUT_MAX_DEFAULT,
		                  &l->output_max);
	if (!err)
		err = sg_prop_int(ctx, "snowglobe.rest.batch.timeout_ms", TIMEOUT_MS_DEFAULT,
		                  &l->timeout_ms);
	if (!err)
		err = sg_prop_int(ctx, "snowglobe.rest.batch.max_response_size", TOTAL_MAX_DEFAULT,
		                  &l->total_max);
	if (!err)
		err = sg_prop_bool(ctx, "snowglobe.rest.batch.stop_at_limit", true,
		                   &l->stop_at_limit);
	if (err)
		return err;
	if (l->input_max < 0 || l->input_max > INPUT_MAX_CEILING)
		l->input_max = l->input_max < 0 ? INPUT_MAX_DEFAULT : INPUT_MAX_CEILING;
	if (l->output_max < 0)
		l->output_max = OUTPUT_MAX_DEFAULT;
	if (l->timeout_ms < 0)
		l->timeout_ms = TIMEOUT_MS_DEFAULT;
	if (l->total_max <= 0 || l->total_max > TOTAL_MAX_DEFAULT * 8)
		l->total_max = TOTAL_MAX_DEFAULT;
	/* The header may lower the output limit, never raise it [batch-api.md]. */
	long long h;
	const char *hv = sg_req_header(req, "X-BATCHREQUEST-MAX-OUTPUT-SIZE");
	if (hv && sg_str_number(hv, 0, l->output_max, &h))
		l->output_max = h;
	return SG_ERR_OK;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* s as a JSON string.  Header values and ids are UTF-8 (ids come from a
 * parsed JSON body; headers are the handlers' own). */
static void put_str(struct sg_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	sg_buf_putc(b, '"');
	const char *run = s;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		sg_buf_append(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			sg_buf_append(b, e, 2);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sg_buf_append(b, e, 6);
		}
		run = s + 1;
	}
	sg_buf_append(b, run, (size_t)(s - run));
	sg_buf_putc(b, '"');
}

static void put_base64(struct sg_buf *b, const char *data, size_t len)
{
	char out[4096 + 1];
	const size_t step = 3072; /* 4096 characters of base64 */
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		sodium_bin2base64(out, sizeof(out), (const unsigned char *)data + i, n,
		                  sodium_base64_VARIANT_ORIGINAL);
		sg_buf_puts(b, out);
	}
}

/* A batch item's request headers: its own list, but Content-Length is the
 * body's true length, and Authorization none (the item runs as the batch's
 * user). */
struct item_headers {
	const struct sg_batch_item *item;
	char length[24];
};

static const char *item_header(void *impl, const char *name)
{
	struct item_headers *h = impl;
	if (!strcasecmp(name, "Content-Length"))
		return h->item->body ? h->length : NULL;
	if (!strcasecmp(name, "Authorization"))
		return NULL;
	for (size_t i = 0; i < h->item->nheaders; i++)
		if (!strcasecmp(h->item->headers[i].name, name))
			return h->item->headers[i].value;
	return NULL;
}

/* Appends one serviced item's JSON for the answer r, run in ms. */
static void put_item(struct sg_buf *b, const struct sg_batch_item *it, const struct sg_resp *r,
                     bool head, long long ms)
{
	size_t body_len = head ? 0 : r->body.len;
	sg_buf_puts(b, "{\"id\":");
	put_str(b, it->id);
	sg_buf_puts(b, ",\"body\":\"");
	put_base64(b, r->body.data, body_len);
	sg_buf_printf(b, "\",\"status_code\":%d,\"status_text\":", r->status);
	put_str(b, sg_http_status_text(r->status));
	sg_buf_puts(b, ",\"headers\":[");
	if (!it->exclude_headers) {
		for (size_t i = 0; i < r->nheaders; i++) {
			sg_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
			put_str(b, r->headers[i].name);
			sg_buf_puts(b, ",\"value\":");
			put_str(b, r->headers[i].value);
			sg_buf_putc(b, '}');
		}
		if (r->status != 204)
			sg_buf_printf(b, "%s{\"name\":\"Content-Length\",\"value\":\"%zu\"}",
			              r->nheaders ? "," : "", r->body.len);
	}
	sg_buf_printf(b, "],\"execution_time\":%lld}", ms);
}

/* Runs item it as a request of its own; its answer into r. */
static void run_item(struct sg_api *api, struct sg_req *batch, const struct sg_batch_item *it,
                     struct sg_resp *r)
{
	struct sg_req sub;
	sg_req_init(&sub);
	struct item_headers h = {.item = it};
	snprintf(h.length, sizeof(h.length), "%zu", it->body_len);
	sub.parent = batch;
	sub.origin = batch->origin;
	sub.header = item_header;
	sub.impl = &h;
	sub.method = sg_arena_strdup(&sub.arena, it->method);
	sg_err err = sub.method ? sg_req_set_url(&sub, it->url, it->url_len) : SG_ERR_NOMEM;
	if (err == SG_ERR_BAD_PARAM)
		sg_resp_refuse(r, 400, "Bad Request", SG_URL_NUL_DETAIL);
	else if (err)
		sg_resp_error(r, err, NULL, NULL);
	else
		sg_api_subrequest(api, &sub, it->body, it->body_len, r);
	if (err)
		sg_resp_header(r, "Content-Type", SG_JSON_TYPE);
	sg_req_cleanup(&sub);
}

sg_err sg_batch_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp)
{
	(void)as;
	if (req->parent) {
		sg_ctx_set_err(ctx, "A batch request cannot run inside a batch request");
		return SG_ERR_BAD_PARAM;
	}
	struct limits lim;
	sg_err err = read_limits(ctx, req, &lim);
	if (err)
		return err;
	struct sg_batch batch;
	const char *why = NULL;
	err = sg_batch_parse(req->body, req->body_len, &req->arena, &batch, &why);
	if (err == SG_ERR_BAD_PARAM)
		sg_ctx_set_err(ctx, "%s", why);
	if (err)
		return err;
	bool *unserviced = batch.nitems ? sg_arena_alloc(&req->arena, batch.nitems) : NULL;
	if (batch.nitems && !unserviced)
		return SG_ERR_NOMEM;

	struct sg_buf *b = &resp->body;
	sg_buf_reset(b);
	sg_buf_puts(b, "{\"batch_request_id\":");
	put_str(b, batch.request_id);
	sg_buf_puts(b, ",\"serviced_requests\":[");
	long long start = now_ms();
	bool stopped = false, first = true;
	for (size_t i = 0; i < batch.nitems && !sg_buf_failed(b); i++) {
		const struct sg_batch_item *it = &batch.items[i];
		/* The time quota ends the batch; a size limit the item, and
		 * (as the platform cancels the transaction) the rest. */
		if (!stopped && now_ms() - start >= lim.timeout_ms)
			stopped = true;
		if (stopped || (long long)it->body_len > lim.input_max) {
			unserviced[i] = true;
			stopped = stopped || lim.stop_at_limit;
			continue;
		}
		struct sg_resp r;
		sg_resp_init(&r);
		long long t0 = now_ms();
		run_item(api, req, it, &r);
		long long ms = now_ms() - t0;
		const struct sg_resp *fin = sg_resp_final(&r);
		bool head = !strcmp(it->method, "HEAD");
		size_t out = head ? 0 : fin->body.len;
		if ((long long)out > lim.output_max ||
		    (long long)(b->len + out / 3 * 4 + ITEM_OVERHEAD) > lim.total_max) {
			unserviced[i] = true;
			stopped = lim.stop_at_limit;
		} else {
			if (!first)
				sg_buf_putc(b, ',');
			first = false;
			put_item(b, it, fin, head, ms);
		}
		sg_resp_cleanup(&r);
	}
	sg_buf_puts(b, "],\"unserviced_requests\":[");
	first = true;
	for (size_t i = 0; i < batch.nitems; i++) {
		if (!unserviced[i])
			continue;
		if (!first)
			sg_buf_putc(b, ',');
		first = false;
		put_str(b, batch.items[i].id);
	}
	sg_buf_puts(b, "]}");
	if (sg_buf_failed(b))
		return SG_ERR_NOMEM;
	resp->status = 200;
	return SG_ERR_OK;
}
