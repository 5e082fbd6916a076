/*
 * log.c - the outbound HTTP log (sys_outbound_http_log): one row per
 * outbound request when snowglobe.outbound.log is true (the default), with
 * the URL, the headers and the bodies as they went and came, cut to
 * snowglobe.outbound.log.max_body bytes each.  Secrets never reach it: the
 * URL's secret query values and user information, the credential headers
 * (Authorization keeps its scheme: "Basic ***") are masked by net/redact.h,
 * and a form-encoded request body has its secret fields masked too.
 *
 * The row is written in the caller's transaction when one is open (a send
 * from a business rule commits with the write, or goes with its rollback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "net/redact.h"
#include "outbound/internal.h"

#define DEFAULT_MAX_BODY 4096
#define MAX_LOG_BODY     65536 /* the columns' size */

static const char *outcome_name(enum sg_out_outcome o)
{
	switch (o) {
	case SG_OUT_ANSWERED:
		return "answered";
	case SG_OUT_UNREACHABLE:
		return "unreachable";
	case SG_OUT_NO_TOKEN:
		return "no_token";
	case SG_OUT_REFUSED:
		return "refused";
	}
	return "refused";
}

/* Appends body (len bytes) cut to max, whole UTF-8 characters only. */
static void put_cut(struct sg_buf *out, const char *body, size_t len, size_t max)
{
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)body[len] & 0xC0) == 0x80)
			len--;
	}
	sg_buf_append(out, body, len);
}

static bool is_form(const struct sg_out_request *req)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (!strcasecmp(req->headers[i].name, "Content-Type") && req->headers[i].value &&
		    !strncasecmp(req->headers[i].value, "application/x-www-form-urlencoded", 33))
			return true;
	return false;
}

/* Sets field of row to the contents of b ("" when b failed for its size). */
static bool set_buf(json_t *row, const char *field, struct sg_buf *b, size_t max)
{
	if (sg_buf_failed(b) && !b->too_large)
		return false;
	const char *s = sg_buf_failed(b) ? "" : sg_buf_str(b);
	struct sg_buf cut;
	sg_buf_init(&cut, max + 8);
	put_cut(&cut, s, strlen(s), max);
	bool ok = !sg_buf_failed(&cut);
	json_t *v = ok ? json_stringn(cut.data ? cut.data : "", cut.len) : NULL;
	if (ok && !v) { /* not UTF-8 (a binary body): its bytes above ASCII as '?' */
		for (size_t i = 0; i < cut.len; i++)
			if ((unsigned char)cut.data[i] >= 0x80 || !cut.data[i])
				cut.data[i] = '?';
		v = json_stringn(cut.data, cut.len);
	}
	ok = v && !json_object_set_new(row, field, v);
	sg_buf_cleanup(&cut);
	sg_buf_cleanup(b);
	return ok;
}

sg_err sg__out_log(struct sg_ctx *ctx, const struct sg__out_sent *s)
{
	bool on = true;
	long long max = DEFAULT_MAX_BODY;
	sg_err err = sg_prop_bool(ctx, "snowglobe.outbound.log", true, &on);
	if (!err)
		err = sg_prop_int(ctx, "snowglobe.outbound.log.max_body", DEFAULT_MAX_BODY, &max);
	if (err == SG_ERR_NOMEM)
		return err;
	if (err) {
		sg_log_warn("outbound: the log's properties cannot be read (%s)", sg_err_name(err));
		return SG_ERR_OK;
	}
	if (!on)
		return SG_ERR_OK;
	if (max < 0)
		max = 0;
	if (max > MAX_LOG_BODY)
		max = MAX_LOG_BODY;
	const struct sg_out_request *req = s->req;
	const struct sg_http_response *resp = s->resp;

	json_t *row = json_object();
	if (!row)
		return SG_ERR_NOMEM;
	bool ok = true;
	struct sg_buf b;
	char num[32];

	sg_buf_init(&b, SG_NET_DETAIL_SIZE + 70000);
	if (req->url)
		sg_net_redact_url(&b, req->url, strlen(req->url));
	ok &= set_buf(row, "url", &b, 4096);

	sg_buf_init(&b, MAX_LOG_BODY * 2);
	for (size_t i = 0; i < req->n_headers; i++) {
		sg_net_redact_header(&b, req->headers[i].name, req->headers[i].value);
		sg_buf_putc(&b, '\n');
	}
	if (s->auth_scheme) {
		char v[32]; /* only the scheme: the credential was never in hand here */
		snprintf(v, sizeof(v), "%s -", s->auth_scheme);
		sg_net_redact_header(&b, "Authorization", v);
		sg_buf_putc(&b, '\n');
	}
	ok &= set_buf(row, "request_headers", &b, (size_t)max);

	sg_buf_init(&b, MAX_LOG_BODY * 2);
	if (req->body) {
		size_t n = req->body_len > (size_t)max ? (size_t)max : req->body_len;
		if (is_form(req))
			sg_net_redact_form(&b, req->body, n);
		else
			put_cut(&b, req->body, req->body_len, (size_t)max);
	}
	ok &= set_buf(row, "request_body", &b, (size_t)max);

	sg_buf_init(&b, MAX_LOG_BODY * 2);
	if (resp)
		for (size_t i = 0; i < resp->n_headers; i++) {
			sg_net_redact_header(&b, resp->headers[i].name, resp->headers[i].value);
			sg_buf_putc(&b, '\n');
		}
	ok &= set_buf(row, "response_headers", &b, (size_t)max);

	sg_buf_init(&b, MAX_LOG_BODY * 2);
	if (resp && resp->body.len)
		put_cut(&b, resp->body.data, resp->body.len, (size_t)max);
	ok &= set_buf(row, "response_body", &b, (size_t)max);

	char host[256] = "";
	if (req->url)
		sg__out_url_host(req->url, host, sizeof(host));
	ok &= !json_object_set_new(row, "method", json_string(req->method ? req->method : "GET"));
	ok &= !json_object_set_new(row, "hostname", json_string(host));
	snprintf(num, sizeof(num), "%d", resp && resp->err == SG_NET_OK ? resp->status : 0);
	ok &= !json_object_set_new(row, "response_status", json_string(num));
	snprintf(num, sizeof(num), "%ld", s->elapsed_ms);
	ok &= !json_object_set_new(row, "response_time", json_string(num));
	ok &= !json_object_set_new(row, "outcome", json_string(outcome_name(s->outcome)));
	ok &= !json_object_set_new(row, "error_message", json_string(s->error ? s->error : ""));
	ok &= !json_object_set_new(row, "source", json_string(req->source ? req->source : ""));
	ok &= !json_object_set_new(row, "source_table", json_string(req->table ? req->table : ""));
	ok &= !json_object_set_new(row, "source_record",
	                           json_string(req->document ? req->document : ""));
	ok &= !json_object_set_new(row, "transaction",
	                           json_string(s->in_transaction ? "true" : "false"));
	if (!ok) {
		json_decref(row);
		return SG_ERR_NOMEM;
	}
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	err = sg_rec_insert(ctx, "sys_outbound_http_log", row, &wo, id);
	json_decref(row);
	if (err == SG_ERR_NOMEM)
		return err;
	if (err)
		sg_log_warn("outbound: the log row cannot be written (%s)", sg_err_name(err));
	return SG_ERR_OK;
}
