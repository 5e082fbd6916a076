/*
 * http.c - request and response building shared by every handler.
 */
#include "api/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/util.h"

#define MAX_BODY (512u * 1024u * 1024u)

void sg_req_init(struct sg_req *req)
{
	memset(req, 0, sizeof(*req));
	sg_arena_init(&req->arena, SG_REQ_ARENA_MAX);
	sg_buf_init(&req->body_buf, 0);
}

void sg_req_cleanup(struct sg_req *req)
{
	if (req->stream && req->stream_cleanup)
		req->stream_cleanup(req->stream);
	sg_buf_cleanup(&req->body_buf);
	sg_arena_cleanup(&req->arena);
	memset(req, 0, sizeof(*req));
}

void sg_resp_init(struct sg_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	sg_buf_init(&r->body, MAX_BODY);
}

void sg_resp_cleanup(struct sg_resp *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	sg_buf_cleanup(&r->body);
	if (r->has_file)
		close(r->file_fd);
	memset(r, 0, sizeof(*r));
}

void sg_resp_file(struct sg_resp *r, int status, int fd, unsigned long long size)
{
	if (r->has_file)
		close(r->file_fd);
	r->has_file = true;
	r->file_fd = fd;
	r->file_size = size;
	r->status = status;
	sg_buf_reset(&r->body);
}

void sg_resp_header(struct sg_resp *r, const char *name, const char *value)
{
	if (r->nheaders >= SG_RESP_MAX_HEADERS)
		return;
	char *n = strdup(name), *v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		r->failed = true;
		return;
	}
	r->headers[r->nheaders].name = n;
	r->headers[r->nheaders].value = v;
	r->nheaders++;
}

/* sg_err_render(SG_ERR_NOMEM, NULL, NULL), made without allocating. */
static char oom_body[] = "{\"error\":{\"message\":\"Internal server error\",\"detail\":"
                         "\"Out of memory\"},\"status\":\"failure\"}";
static char h_type[] = "Content-Type", v_type[] = SG_JSON_TYPE;
static char h_cache[] = "Cache-control", v_cache[] = "no-cache,no-store,must-revalidate,max-age=-1";
static char h_pragma[] = "Pragma", v_pragma[] = "no-store,no-cache";
static char h_expires[] = "Expires", v_expires[] = "0";

static const struct sg_resp oom_resp = {
    .status = 500,
    .headers = {{h_type, v_type}, {h_cache, v_cache}, {h_pragma, v_pragma}, {h_expires, v_expires}},
    .nheaders = 4,
    .body = {.data = oom_body, .len = sizeof(oom_body) - 1, .cap = sizeof(oom_body)},
};

const struct sg_resp *sg_resp_final(const struct sg_resp *r)
{
	return r->failed || sg_buf_failed(&r->body) ? &oom_resp : r;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
	struct sg_buf *b = data;
	sg_buf_append(b, buffer, size);
	return sg_buf_failed(b) ? -1 : 0;
}

void sg_resp_json(struct sg_resp *r, int status, const json_t *body)
{
	r->status = status;
	sg_buf_reset(&r->body);
	if (json_dump_callback(body, dump_cb, &r->body, JSON_COMPACT) != 0) {
		sg_resp_error(r, SG_ERR_NOMEM, NULL, NULL);
	}
}

void sg_resp_refuse(struct sg_resp *r, int status, const char *message, const char *detail)
{
	json_t *body = json_pack("{s:{s:s,s:s},s:s}", "error", "message", message, "detail", detail,
	                         "status", "failure");
	if (body) {
		sg_resp_json(r, status, body);
		json_decref(body);
	} else {
		sg_resp_error(r, SG_ERR_NOMEM, NULL, NULL);
	}
	sg_resp_header(r, "Content-Type", SG_JSON_TYPE);
}

void sg_url_escape(struct sg_buf *b, const char *s, size_t len, bool keep_pct)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || (c && strchr("-._~!$&'()*+,;=:@/?[]", c)) ||
		          (c == '%' && keep_pct);
		if (ok) {
			sg_buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sg_buf_append(b, e, 3);
		}
	}
}

void sg_resp_error(struct sg_resp *r, sg_err err, const char *arg1, const char *arg2)
{
	r->status = sg_err_status(err);
	if (r->has_file) {
		close(r->file_fd);
		r->has_file = false;
	}
	sg_buf_reset(&r->body);
	char *s = sg_err_render(err, arg1, arg2);
	sg_buf_puts(&r->body, s ? s
	                        : "{\"error\":{\"message\":\"Internal server error\","
	                          "\"detail\":null},\"status\":\"failure\"}");
	free(s);
}

bool sg_url_has_encoded_nul(const char *url)
{
	for (const char *p = strchr(url, '%'); p; p = strchr(p + 1, '%'))
		if (p[1] == '0' && p[2] == '0')
			return true;
	return false;
}

/* libmicrohttpd's reading of a query: every piece between '&' up to the end
 * is an argument (an empty one too, but not after a trailing '&'). */
static sg_err split_args(struct sg_req *req, char *q)
{
	size_t cap = 1;
	for (const char *p = q; *p; p++)
		cap += *p == '&';
	req->args = sg_arena_alloc(&req->arena, cap * sizeof(*req->args));
	if (!req->args)
		return SG_ERR_NOMEM;
	req->nargs = 0;
	for (char *p = q; p && *p;) {
		char *amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(p, '=');
		if (eq)
			*eq = '\0';
		sg_str_urldecode(p);
		if (eq)
			sg_str_urldecode(eq + 1);
		req->args[req->nargs].name = p;
		req->args[req->nargs].value = eq ? eq + 1 : (char *)"";
		req->nargs++;
		p = amp ? amp + 1 : NULL;
	}
	return SG_ERR_OK;
}

sg_err sg_req_set_url(struct sg_req *req, const char *url, size_t len)
{
	const char *qm = memchr(url, '?', len);
	size_t plen = qm ? (size_t)(qm - url) : len;
	char *path = sg_arena_strndup(&req->arena, url, plen);
	char *raw = sg_arena_strndup(&req->arena, qm ? qm + 1 : "", qm ? len - plen - 1 : 0);
	char *q = sg_arena_strdup(&req->arena, raw);
	if (!path || !raw || !q)
		return SG_ERR_NOMEM;
	/* A NUL byte in the URL itself cuts it, as "%00" would. */
	if (strlen(path) != plen || (qm && strlen(raw) != len - plen - 1) ||
	    sg_url_has_encoded_nul(path) || sg_url_has_encoded_nul(raw))
		return SG_ERR_BAD_PARAM;
	sg_str_pctdecode(path);
	req->path = path;
	req->raw_query = raw;
	return split_args(req, q);
}

const char *sg_req_arg(const struct sg_req *req, const char *name)
{
	for (size_t i = 0; i < req->nargs; i++)
		if (!strcmp(req->args[i].name, name))
			return req->args[i].value;
	return NULL;
}

const char *sg_req_header(const struct sg_req *req, const char *name)
{
	return req->header ? req->header(req->impl, name) : NULL;
}

const char *sg_req_param(const struct sg_req *req, const char *name)
{
	size_t n = strlen(name);
	const struct sg_route_match *m = &req->match;
	for (size_t i = 0; i < m->ncaps; i++)
		if (m->caps[i].name_len == n && !memcmp(m->caps[i].name, name, n))
			return m->caps[i].value;
	return NULL;
}
