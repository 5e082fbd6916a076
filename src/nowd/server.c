/*
 * server.c - the HTTP glue: libmicrohttpd in, struct sg_req to the API
 * (src/api/api.h), struct sg_resp out.
 *
 * It gathers what the transport knows (method, path, query arguments,
 * headers, the scheme and Host the request came by), feeds the body to the
 * API piece by piece, sends the answer and writes the access-log line.  The
 * request and its arena live from the URI callback to the completion
 * callback, after the response is sent.  What a request may do (limits,
 * authentication, scopes) is the API's business; what a connection may do
 * (header memory, connections, idle time, TLS) is set here.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "api/api.h"
#include "core/log.h"
#include "nowd/nowd.h"

/*
 * Each connection's memory for the request line, headers and response
 * headers.  URLs up to ~60 KB fit (a sysparm_query of ~1,900 sys_ids; the
 * platform's own front end refuses far shorter ones).  libmicrohttpd
 * clears the whole of it before every request on a kept-alive connection,
 * so it is not made larger than that: at 256 KB the clearing was 14% of the
 * CPU of GET one at 64 connections.
 */
#define HEADER_MEMORY (64 * 1024)
/* The scheme and Host of a request are cut to this, as the base URL is. */
#define ORIGIN_MAX 1024

struct nowd_server {
	struct sg_api api;
	bool tls;
	unsigned short port;
	struct MHD_Daemon *daemon;
};

/* Per-request state, created by the URI log callback, freed on completion. */
struct request {
	struct sg_req req;
	const char *raw_uri; /* in req's arena; NULL when it could not be kept */
	bool started;
	bool responded;
	int status;
	size_t bytes_out;
	char method[16]; /* for the log: as sent, then as the API read it */
	struct timeval start;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	sg_req_init(&r->req);
	r->raw_uri = sg_arena_strdup(&r->req.arena, uri ? uri : "");
	gettimeofday(&r->start, NULL);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	struct request *r = *con_cls;
	if (!r)
		return;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct timeval now;
	gettimeofday(&now, NULL);
	long ms = (now.tv_sec - r->start.tv_sec) * 1000 + (now.tv_usec - r->start.tv_usec) / 1000;
	nowd_access_log(ci ? ci->client_addr : NULL, r->req.user ? r->req.user->user_name : NULL,
	                r->method, r->raw_uri, r->status, r->bytes_out, ms,
	                toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	sg_req_cleanup(&r->req);
	free(r);
	*con_cls = NULL;
}

/* Query arguments, copied into the request's arena. */
struct args {
	struct sg_req *req;
	size_t cap;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	(void)kind;
	struct args *a = cls;
	struct sg_req *req = a->req;
	if (req->nargs == a->cap)
		return MHD_NO;
	struct sg_kv *kv = &req->args[req->nargs];
	kv->name = sg_arena_strdup(&req->arena, key);
	kv->value = sg_arena_strdup(&req->arena, value ? value : "");
	if (!kv->name || !kv->value)
		return MHD_NO; /* the arena is failed: sg_api_begin refuses the request */
	req->nargs++;
	return MHD_YES;
}

static const char *lookup_header(void *impl, const char *name)
{
	return MHD_lookup_connection_value(impl, MHD_HEADER_KIND, name);
}

/* The transport's half of the request.  An allocation that fails leaves the
 * arena failed, and the API answers 500. */
static void gather(struct nowd_server *s, struct MHD_Connection *conn, struct request *r,
                   const char *url, const char *method)
{
	struct sg_req *req = &r->req;
	req->method = sg_arena_strdup(&req->arena, method);
	req->path = sg_arena_strdup(&req->arena, url);
	const char *q = r->raw_uri ? strchr(r->raw_uri, '?') : NULL;
	req->raw_query = q ? q + 1 : "";
	req->header = lookup_header;
	req->impl = conn;
	int n = MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
	if (n > 0) {
		struct args a = {.req = req, .cap = (size_t)n};
		req->args = sg_arena_alloc(&req->arena, (size_t)n * sizeof(*req->args));
		if (req->args)
			MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
	}
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	char fallback[64];
	snprintf(fallback, sizeof(fallback), "127.0.0.1:%u", s->port);
	char *origin = sg_arena_alloc(&req->arena, ORIGIN_MAX);
	if (origin)
		snprintf(origin, ORIGIN_MAX, "%s://%s/", s->tls ? "https" : "http",
		         host ? host : fallback);
	req->origin = origin;
	if (!req->method || !req->path) {
		req->method = method; /* for the refusal's sake; the arena is failed */
		req->path = url;
	}
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct request *r,
                                 struct sg_resp *resp)
{
	/* A response that could not be built whole goes out as the static 500. */
	const struct sg_resp *out = sg_resp_final(resp);
	size_t len = out->body.len;
	char *body = out == resp ? sg_buf_steal(&resp->body) : NULL;
	struct MHD_Response *mr =
	    body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
	         : MHD_create_response_from_buffer(
	               len, out->body.data ? out->body.data : (char *)"", MHD_RESPMEM_PERSISTENT);
	if (!mr) {
		free(body);
		return MHD_NO;
	}
	for (size_t i = 0; i < out->nheaders; i++)
		MHD_add_response_header(mr, out->headers[i].name, out->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)out->status, mr);
	MHD_destroy_response(mr);
	r->status = out->status;
	r->bytes_out = len;
	r->responded = true;
	return ret;
}

/* libmicrohttpd calls this once when the headers are in, once per piece of
 * body, and once more when the request is complete. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct nowd_server *s = cls;
	struct request *r = *con_cls;
	if (!r)
		return MHD_NO;
	if (r->responded) { /* drain what is left of a refused body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	struct sg_resp resp;
	sg_resp_init(&resp);
	bool answered;
	if (!r->started) {
		r->started = true;
		snprintf(r->method, sizeof(r->method), "%s", method);
		gather(s, conn, r, url, method);
		answered = sg_api_begin(&s->api, &r->req, &resp);
	} else if (*upload_data_size) {
		size_t got = *upload_data_size;
		*upload_data_size = 0;
		answered = sg_api_body(&s->api, &r->req, upload_data, got, &resp);
	} else {
		sg_api_handle(&s->api, &r->req, &resp);
		snprintf(r->method, sizeof(r->method), "%s", r->req.method);
		answered = true;
	}
	enum MHD_Result ret = answered ? send_resp(conn, r, &resp) : MHD_YES;
	sg_resp_cleanup(&resp);
	return ret;
}

struct nowd_server *nowd_server_start(struct sg_model *model, struct sg_auth *auth,
                                      const struct nowd_opts *o)
{
	struct nowd_server *s = calloc(1, sizeof(*s));
	if (!s) {
		sg_log_error("out of memory");
		return NULL;
	}
	sg_api_init(&s->api, model, auth, o->base_url);
	s->tls = o->cert_pem != NULL;
	s->port = ntohs(o->addr.sin_port);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (s->tls)
		flags |= MHD_USE_TLS;
	/* Two-argument options carry the function in value, its closure in ptr_value. */
	struct MHD_OptionItem options[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, (void *)&o->addr},
	    {MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, o->max_conn, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, o->timeout, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEMORY, NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
	    {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)o->cert_pem},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->key_pem},
	    {MHD_OPTION_END, 0, NULL},
	};
	s->daemon = MHD_start_daemon(flags, s->port, NULL, NULL, handle, s, MHD_OPTION_ARRAY,
	                             options, MHD_OPTION_END);
	if (!s->daemon) {
		sg_api_cleanup(&s->api);
		free(s);
		return NULL;
	}
	return s;
}

void nowd_server_stop(struct nowd_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	sg_api_cleanup(&s->api);
	free(s);
}
