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
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "api/api.h"
#include "api/faults.h"

#include "api/journal.h"
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
/* A Host header longer than this is refused (a DNS name is at most 253). */
#define HOST_MAX 300
/* A body refused as too large is read on (to answer once it ends: the
 * server cannot answer in the middle of a body) up to this much past the
 * limit; a longer one has its connection closed. */
#define DRAIN_MAX (64ull * 1024 * 1024)

struct nowd_server {
	struct sg_api api;
	bool tls;
	unsigned short port;
	char listen_host[INET_ADDRSTRLEN + 8]; /* "127.0.0.1:8080": origin without Host */
	unsigned idle_timeout;                 /* seconds between requests */
	unsigned req_timeout;                  /* seconds of silence inside a request */
	unsigned max_conn;
	unsigned reserve; /* connections kept for clients whose request head is in */
	/* Connections whose first request head is not complete yet: a slowloris
	 * holds only these, and they may not take the reserve. */
	atomic_uint waiting;
	struct MHD_Daemon *daemon;
};

/* Per-connection state (socket context), from open to close. */
struct request;

struct conn_state {
	bool waiting; /* counted in waiting: no request head complete yet */
	/* The request the URI callback made and no completion has released yet.
	 * libmicrohttpd reports completion only of requests whose handler ran:
	 * one it refuses itself before that (a malformed header line, say) is
	 * released here, by the next request or the connection's close. */
	struct request *pending;
};

/* Per-request state, created by the URI log callback, freed on completion. */
struct request {
	struct sg_req req;
	const char *raw_uri; /* in req's arena; NULL when it could not be kept */
	bool started;
	bool responded;
	/* A refusal given in the middle of the body, sent when the body ends. */
	bool holding;
	bool held_too_large;
	struct sg_resp held;
	unsigned long long body_bytes; /* body bytes received, the drained ones too */
	int status;
	size_t bytes_out;
	char method[16]; /* for the log: as sent, then as the API read it */
	struct timeval start;
	struct timespec start_mono;  /* the journal's latency */
	long long start_instance_ms; /* the journal's stamp: instance time */
};

static struct conn_state *conn_state(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void set_timeout(struct MHD_Connection *conn, unsigned seconds)
{
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, seconds);
}

static void free_request(struct request *r)
{
	if (!r)
		return;
	if (r->holding)
		sg_resp_cleanup(&r->held);
	sg_req_cleanup(&r->req);
	free(r);
}

/* A new connection gets the short timeout of a request being received and
 * counts as waiting until its first request head is complete. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct nowd_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn_state *cs = calloc(1, sizeof(*cs));
		*socket_context = cs;
		if (cs) {
			cs->waiting = true;
			atomic_fetch_add(&s->waiting, 1);
		}
		if (s->req_timeout != s->idle_timeout)
			set_timeout(conn, s->req_timeout);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		struct conn_state *cs = *socket_context;
		if (cs && cs->waiting)
			atomic_fetch_sub(&s->waiting, 1);
		if (cs)
			free_request(cs->pending);
		free(cs);
		*socket_context = NULL;
	}
}

/* The head of the connection's first request is in: it no longer counts as
 * waiting. */
static void head_complete(struct nowd_server *s, struct MHD_Connection *conn)
{
	struct conn_state *cs = conn_state(conn);
	if (cs && cs->waiting) {
		cs->waiting = false;
		atomic_fetch_sub(&s->waiting, 1);
	}
}

/* New connections are refused while those still sending their first request
 * head fill all but the reserve: idle connections cannot starve clients that
 * send whole requests. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	(void)addr;
	(void)len;
	struct nowd_server *s = cls;
	return atomic_load(&s->waiting) + s->reserve >= s->max_conn ? MHD_NO : MHD_YES;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct nowd_server *s = cls;
	/* A new request on a kept-alive connection: the request's timeout again. */
	struct conn_state *cs = conn_state(conn);
	if (s->req_timeout != s->idle_timeout && cs && !cs->waiting)
		set_timeout(conn, s->req_timeout);
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	sg_req_init(&r->req);
	r->raw_uri = sg_arena_strdup(&r->req.arena, uri ? uri : "");
	gettimeofday(&r->start, NULL);
	clock_gettime(CLOCK_MONOTONIC, &r->start_mono);
	r->start_instance_ms = sg_time_now_ms();
	if (cs) {
		free_request(cs->pending); /* refused before its handler ran */
		cs->pending = r;
	}
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
	struct conn_state *cs = conn_state(conn);
	if (cs && cs->pending == r)
		cs->pending = NULL;
	free_request(r);
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
	/* Host was validated (check_head); without one (HTTP/1.0), the listen
	 * address stands in. */
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	char *origin = sg_arena_alloc(&req->arena, ORIGIN_MAX);
	if (origin)
		snprintf(origin, ORIGIN_MAX, "%s://%s/", s->tls ? "https" : "http",
		         host ? host : s->listen_host);
	req->origin = origin;
	if (!req->method || !req->path) {
		req->method = method; /* for the refusal's sake; the arena is failed */
		req->path = url;
	}
}

/*
 * A Host header's value as RFC 3986 allows it: a registered name (letters,
 * digits, '-', '.', '_', '~') or an IPv4 address, or an IPv6 literal in
 * brackets, then an optional ":port".  Anything else (spaces, quotes, CR/LF,
 * '/', '@', '<'...) would reach the links the server echoes.
 */
static bool valid_host(const char *h)
{
	size_t n = strlen(h);
	if (!n || n > HOST_MAX)
		return false;
	size_t i = 0;
	if (h[0] == '[') {
		for (i = 1; i < n && h[i] != ']'; i++)
			if (!strchr("0123456789abcdefABCDEF:.", h[i]))
				return false;
		if (i == n || i == 1)
			return false;
		i++;
	} else {
		for (; i < n && h[i] != ':'; i++) {
			char c = h[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
			      c == '~'))
				return false;
		}
		if (i == 0)
			return false;
	}
	if (i == n)
		return true;
	if (h[i] != ':' || n - i - 1 > 5)
		return false;
	for (i++; i < n; i++)
		if (h[i] < '0' || h[i] > '9')
			return false;
	return true;
}

/* The framing headers of a request, counted. */
struct head {
	unsigned hosts, lengths, encodings;
	const char *length; /* the first Content-Length */
	bool lengths_differ;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
	(void)kind;
	struct head *h = cls;
	if (!value)
		value = "";
	if (!strcasecmp(key, "Host")) {
		h->hosts++;
	} else if (!strcasecmp(key, "Transfer-Encoding")) {
		h->encodings++;
	} else if (!strcasecmp(key, "Content-Length")) {
		if (h->lengths++ && strcmp(h->length, value))
			h->lengths_differ = true;
		else
			h->length = value;
	}
	return MHD_YES;
}

/*
 * What libmicrohttpd lets through but HTTP (RFC 9112) and safety refuse,
 * checked once the request head is in, before anything reads the request:
 * an encoded NUL in the request target (decoding would cut the path or a
 * parameter short: /api/now/table/sys_user%00 read as sys_user), a missing,
 * repeated or malformed Host, Content-Length values that disagree, a
 * Transfer-Encoding other than chunked (the body's end could not be found;
 * it waited for the idle timeout), or one given with a Content-Length
 * (request smuggling).  Returns true when resp holds the refusal, in
 * ServiceNow's error shape.
 */
static bool check_head(struct MHD_Connection *conn, const struct request *r, const char *version,
                       struct sg_resp *resp)
{
	if (sg_url_has_encoded_nul(r->raw_uri ? r->raw_uri : "")) {
		sg_resp_refuse(resp, 400, "Bad Request", SG_URL_NUL_DETAIL);
		return true;
	}
	struct head h = {0};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &h);
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	if (h.hosts > 1 || (host && !valid_host(host)) ||
	    (!h.hosts && version && !strcmp(version, MHD_HTTP_VERSION_1_1))) {
		sg_resp_refuse(resp, 400, "Bad Request",
		               h.hosts ? "Invalid Host header"
		                       : "An HTTP/1.1 request must carry a Host header");
		return true;
	}
	if (h.lengths_differ) {
		sg_resp_refuse(resp, 400, "Bad Request", "Conflicting Content-Length headers");
		return true;
	}
	if (h.encodings) {
		const char *te =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
		if (h.encodings > 1 || !te || strcasecmp(te, "chunked")) {
			sg_resp_refuse(resp, 501, "Not Implemented",
			               "Only the chunked Transfer-Encoding is supported");
			return true;
		}
		if (h.lengths) {
			sg_resp_refuse(resp, 400, "Bad Request",
			               "Transfer-Encoding and Content-Length together");
			return true;
		}
	}
	return false;
}

static enum MHD_Result send_resp(struct nowd_server *s, struct MHD_Connection *conn,
                                 struct request *r, struct sg_resp *resp)
{
	/* The request is answered: the connection waits for the next one. */
	if (s->req_timeout != s->idle_timeout)
		set_timeout(conn, s->idle_timeout);
	if (sg_faults_dropped(resp))
		return MHD_NO; /* an injected fault: the connection closes unanswered */
	/* A response that could not be built whole goes out as the static 500. */
	const struct sg_resp *out = sg_resp_final(resp);
	size_t len = out->body.len;
	/* The request journal (api/journal.h), while the body is still here. */
	sg_journal_note(&s->api, &r->req, r->method, out, r->body_bytes,
	                out == resp && resp->has_file ? (unsigned long long)resp->file_size : len,
	                r->start_instance_ms, &r->start_mono);
	struct MHD_Response *mr;
	if (out == resp && resp->has_file) {
		/* A file body goes out from its descriptor (sendfile where the
		 * transport allows), never whole in memory; libmicrohttpd closes it. */
		len = (size_t)resp->file_size;
		mr = MHD_create_response_from_fd64(resp->file_size, resp->file_fd);
		if (!mr)
			return MHD_NO; /* resp still owns the descriptor */
		resp->has_file = false;
	} else {
		char *body = out == resp ? sg_buf_steal(&resp->body) : NULL;
		mr = body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
		          : MHD_create_response_from_buffer(
		                len, out->body.data ? out->body.data : (char *)"",
		                MHD_RESPMEM_PERSISTENT);
		if (!mr) {
			free(body);
			return MHD_NO;
		}
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

/* The refusal of a body over the limit, once the body has ended: the same
 * answer as for a Content-Length over it, with N the bytes the body had. */
static void refuse_too_large(struct request *r)
{
	sg_api_too_large(&r->req, r->body_bytes, &r->held);
}

/*
 * libmicrohttpd calls this once when the headers are in, once per piece of
 * body, and once more when the request is complete.  It lets an answer be
 * queued only at the first call or the last: a refusal made in the middle
 * of the body (a chunked body over the limit) is held, the rest of the body
 * read and dropped, and the refusal sent at the last call.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
	struct nowd_server *s = cls;
	struct request *r = *con_cls;
	if (!r)
		return MHD_NO;
	if (r->responded) { /* drain what is left of a refused body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->holding) {
		if (*upload_data_size) {
			r->body_bytes += *upload_data_size;
			*upload_data_size = 0;
			return r->body_bytes > (unsigned long long)r->req.max_body + DRAIN_MAX
			           ? MHD_NO
			           : MHD_YES;
		}
		if (r->held_too_large)
			refuse_too_large(r);
		return send_resp(s, conn, r, &r->held);
	}
	struct sg_resp resp;
	sg_resp_init(&resp);
	bool answered;
	if (!r->started) {
		r->started = true;
		head_complete(s, conn);
		snprintf(r->method, sizeof(r->method), "%s", method);
		answered = check_head(conn, r, version, &resp);
		if (!answered) {
			gather(s, conn, r, url, method);
			answered = sg_api_begin(&s->api, &r->req, &resp);
		}
	} else if (*upload_data_size) {
		size_t got = *upload_data_size;
		*upload_data_size = 0;
		r->body_bytes += got;
		answered = sg_api_body(&s->api, &r->req, upload_data, got, &resp);
		if (answered) {
			r->holding = true;
			r->held_too_large = r->req.body_buf.too_large ||
			                    r->req.body_seen > (unsigned long long)r->req.max_body;
			r->held = resp;
			sg_resp_init(&resp);
			answered = false;
		}
	} else {
		sg_api_handle(&s->api, &r->req, &resp);
		snprintf(r->method, sizeof(r->method), "%s", r->req.method);
		answered = true;
	}
	enum MHD_Result ret = answered ? send_resp(s, conn, r, &resp) : MHD_YES;
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
	s->api.snowglobe_off = o->no_snowglobe_api;
	if (o->ui_dir)
		s->api.ui_dir = o->ui_dir;
	s->tls = o->cert_pem != NULL;
	s->port = ntohs(o->addr.sin_port);
	char ip[INET_ADDRSTRLEN] = "127.0.0.1";
	if (o->addr.sin_addr.s_addr != htonl(INADDR_ANY))
		inet_ntop(AF_INET, &o->addr.sin_addr, ip, sizeof(ip));
	snprintf(s->listen_host, sizeof(s->listen_host), "%s:%u", ip, s->port);
	s->idle_timeout = o->timeout;
	s->req_timeout = o->req_timeout;
	s->max_conn = o->max_conn;
	s->reserve = o->max_conn / 8;
	/* epoll on Linux (MHD_USE_AUTO): thousands of idle connections cost
	 * nothing to watch. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	                 (o->use_poll ? MHD_USE_POLL : MHD_USE_AUTO);
	if (s->tls)
		flags |= MHD_USE_TLS;
	/* Two-argument options carry the function in value, its closure in ptr_value. */
	struct MHD_OptionItem options[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, (void *)&o->addr},
	    {MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, o->max_conn, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->per_client, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, o->timeout, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEMORY, NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
	    {s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)o->cert_pem},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->key_pem},
	    {MHD_OPTION_END, 0, NULL},
	};
	s->daemon = MHD_start_daemon(flags, s->port, on_accept, s, handle, s, MHD_OPTION_ARRAY,
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
