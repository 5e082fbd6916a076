/*
 * nowd - a ServiceNow-compatible instance.
 *
 * This file is the HTTP glue: libmicrohttpd in, struct sg_req to the route
 * table (src/api), struct sg_resp out.  It owns the limits (body size from
 * glide.rest.max_content_length, header memory, connections, idle time),
 * Basic authentication of /api/ requests, one access-log line per request,
 * TLS when given a certificate, and a clean shutdown on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "api/api.h"
#include "auth/auth.h"
#include "auth/basic.h"
#include "auth/oauth.h"
#include "auth/rules.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/util.h"

/*
 * Each connection's memory for the request line, headers and response
 * headers.  URLs up to ~60 KB fit (a sysparm_query of ~1,900 sys_ids; the
 * platform's own front end refuses far shorter ones).  libmicrohttpd
 * clears the whole of it before every request on a kept-alive connection,
 * so it is not made larger than that: at 256 KB the clearing was 14% of the
 * CPU of GET one at 64 connections.
 */
#define HEADER_MEMORY (64 * 1024)
#define DEFAULT_MAX_BODY 10485760LL

/* The properties every request needs, read once per property change. */
struct settings {
	unsigned long gen;
	bool valid;
	char servlet_uri[1024]; /* "" unless replace_request_host_with_property */
	long long max_body;
};

struct server {
	struct sg_api api;
	const char *base_url; /* --base-url, overrides glide.servlet.uri */
	bool tls;
	unsigned short port;
	pthread_mutex_t lock;
	struct settings cfg; /* guarded by lock */
};

static void settings(struct server *s, struct settings *out)
{
	unsigned long gen = atomic_load(&s->api.model->props_gen);
	pthread_mutex_lock(&s->lock);
	if (!s->cfg.valid || s->cfg.gen != gen) {
		struct sg_ctx ctx;
		memset(&s->cfg, 0, sizeof(s->cfg));
		s->cfg.max_body = DEFAULT_MAX_BODY;
		if (!sg_ctx_begin(&ctx, s->api.model, NULL)) {
			if (sg_prop_bool(&ctx, "glide.rest.replace_request_host_with_property", true)) {
				char *uri = sg_prop_get(&ctx, "glide.servlet.uri");
				snprintf(s->cfg.servlet_uri, sizeof(s->cfg.servlet_uri), "%s",
					 uri ? uri : "");
				free(uri);
			}
			long long max = sg_prop_int(&ctx, "glide.rest.max_content_length",
						    DEFAULT_MAX_BODY);
			s->cfg.max_body = max > 0 ? max : DEFAULT_MAX_BODY;
			sg_ctx_end(&ctx);
		}
		s->cfg.gen = gen;
		s->cfg.valid = true;
	}
	*out = s->cfg;
	pthread_mutex_unlock(&s->lock);
}

/* Per-request state, created by the URI log callback. */
struct request {
	char *raw_uri;
	struct sg_buf body;
	bool body_started;
	bool responded;
	int status;
	size_t bytes_out;
	char user[64];
	char method[16];
	struct timeval start;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->raw_uri = strdup(uri ? uri : "");
	gettimeofday(&r->start, NULL);
	return r;
}

/* The access log never shows secrets: values of these parameters are masked. */
static void log_uri(char *out, size_t size, const char *uri)
{
	static const char *secret[] = {"access_token=", "password=", "client_secret=",
				       "refresh_token=", "token="};
	size_t o = 0;
	for (const char *p = uri; *p && o + 1 < size;) {
		bool masked = false;
		if (p == uri || p[-1] == '?' || p[-1] == '&') {
			for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
				size_t n = strlen(secret[i]);
				if (!strncmp(p, secret[i], n)) {
					int w = snprintf(out + o, size - o, "%s***", secret[i]);
					o += (w > 0 && (size_t)w < size - o) ? (size_t)w : 0;
					p += n;
					while (*p && *p != '&')
						p++;
					masked = true;
					break;
				}
			}
		}
		if (!masked)
			out[o++] = *p++;
	}
	out[o < size ? o : size - 1] = '\0';
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
	char addr[INET6_ADDRSTRLEN] = "-";
	if (ci && ci->client_addr) {
		if (ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
				  sizeof(addr));
		else if (ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
				  addr, sizeof(addr));
	}
	struct timeval now;
	gettimeofday(&now, NULL);
	long ms = (now.tv_sec - r->start.tv_sec) * 1000 + (now.tv_usec - r->start.tv_usec) / 1000;
	char uri[1024];
	log_uri(uri, sizeof(uri), r->raw_uri ? r->raw_uri : "");
	sg_log_info("%s %s \"%s %s\" %d %zu %ldms%s", addr, r->user[0] ? r->user : "-", r->method,
		    uri, r->status, r->bytes_out, ms,
		    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	free(r->raw_uri);
	sg_buf_cleanup(&r->body);
	free(r);
	*con_cls = NULL;
}

struct args {
	struct sg_kv *items;
	size_t n, cap;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	struct args *a = cls;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct sg_kv *p = realloc(a->items, cap * sizeof(*p));
		if (!p)
			return MHD_NO;
		a->items = p;
		a->cap = cap;
	}
	a->items[a->n].name = (char *)key;
	a->items[a->n].value = (char *)(value ? value : "");
	a->n++;
	return MHD_YES;
}

static const char *lookup_header(void *impl, const char *name)
{
	return MHD_lookup_connection_value(impl, MHD_HEADER_KIND, name);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct request *r, struct sg_resp *resp)
{
	size_t len = resp->body.len;
	char *body = sg_buf_steal(&resp->body);
	struct MHD_Response *mr =
		MHD_create_response_from_buffer(len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE
									    : MHD_RESPMEM_PERSISTENT);
	if (!mr) {
		free(body);
		return MHD_NO;
	}
	for (size_t i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, mr);
	MHD_destroy_response(mr);
	r->status = resp->status;
	r->bytes_out = len;
	r->responded = true;
	return ret;
}

static void error_response(struct sg_resp *resp, sg_err err, const char *a1, const char *a2)
{
	sg_resp_error(resp, err, a1, a2);
	sg_resp_header(resp, "Content-Type", "application/json;charset=UTF-8");
	if (err == SG_ERR_UNAUTHENTICATED)
		sg_resp_header(resp, "WWW-Authenticate", "BASIC realm=\"Service-now\"");
}

/* The base URL every absolute link starts with: --base-url, else
 * glide.servlet.uri (when glide.rest.replace_request_host_with_property),
 * else the request's own scheme and Host. */
static void base_url(struct server *s, struct MHD_Connection *conn, char *out, size_t size)
{
	struct settings cfg;
	const char *b = s->base_url;
	if (!b || !*b) {
		settings(s, &cfg);
		b = cfg.servlet_uri;
	}
	if (*b) {
		/* the base URL, ending in exactly one '/' */
		size_t n = strlen(b);
		if (n + 2 > size)
			n = size - 2;
		memcpy(out, b, n);
		if (n == 0 || out[n - 1] != '/')
			out[n++] = '/';
		out[n] = '\0';
	} else {
		const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
		char fallback[64];
		snprintf(fallback, sizeof(fallback), "127.0.0.1:%u", s->port);
		snprintf(out, size, "%s://%s/", s->tls ? "https" : "http", host ? host : fallback);
	}
}

static long long max_body(struct server *s)
{
	struct settings cfg;
	settings(s, &cfg);
	return cfg.max_body;
}

static enum MHD_Result too_large(struct MHD_Connection *conn, struct request *r,
				 unsigned long long got, long long max)
{
	char a[32], b[32];
	snprintf(a, sizeof(a), "%llu", got);
	snprintf(b, sizeof(b), "%lld", max);
	struct sg_resp resp;
	sg_resp_init(&resp);
	error_response(&resp, SG_ERR_TOO_LARGE, a, b);
	enum MHD_Result ret = send_resp(conn, r, &resp);
	sg_resp_cleanup(&resp);
	return ret;
}

/* Basic or Bearer, from the Authorization header. */
static sg_err authenticate(struct server *s, struct MHD_Connection *conn, struct sg_user *user,
			   struct sg_bearer *bearer, bool *is_bearer)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	*is_bearer = h && !strncasecmp(h, "Bearer ", 7);
	if (*is_bearer)
		return sg_auth_bearer(s->api.auth, h, user, bearer);
	return sg_auth_basic(s->api.auth, h, user);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct server *s = cls;
	struct request *r = *con_cls;
	if (!r)
		return MHD_NO;
	if (r->responded) { /* drain what is left of a refused body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!r->body_started) {
		r->body_started = true;
		snprintf(r->method, sizeof(r->method), "%s", method);
		long long max = max_body(s);
		sg_buf_init(&r->body, (size_t)max);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > (unsigned long long)max)
			return too_large(conn, r, strtoull(cl, NULL, 10), max);
		return MHD_YES;
	}
	if (*upload_data_size) {
		sg_buf_append(&r->body, upload_data, *upload_data_size);
		size_t got = *upload_data_size;
		*upload_data_size = 0;
		if (sg_buf_failed(&r->body))
			return too_large(conn, r, r->body.len + got, (long long)r->body.max);
		return MHD_YES;
	}

	/* The whole request is here.  First see what other writers changed. */
	sg_model_sync(s->api.model);
	struct sg_resp resp;
	sg_resp_init(&resp);
	struct args args = {0};
	struct sg_user user;
	char burl[1024];
	const char *m = method;
	const char *override = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							   "X-HTTP-Method-Override");
	if (override && !strcmp(method, "POST"))
		m = override;
	snprintf(r->method, sizeof(r->method), "%s", m);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
	base_url(s, conn, burl, sizeof(burl));
	const char *q = strchr(r->raw_uri, '?');
	struct sg_req req = {
		.method = m,
		.path = url,
		.raw_query = q ? q + 1 : "",
		.args = args.items,
		.nargs = args.n,
		.header = lookup_header,
		.impl = conn,
		.body = r->body.data,
		.body_len = r->body.len,
		.base_url = burl,
	};
	struct sg_route_params params;
	char scratch[1024];
	sg_err rerr;
	const struct sg_route *route = sg_api_route(m, url, &params, scratch, sizeof(scratch), &rerr);
	if (route && !(route->needs & SG_NEEDS_USER)) {
		sg_api_dispatch(&s->api, route, &params, &req, &resp);
	} else if (strncmp(url, "/api/", 5) != 0) {
		error_response(&resp, SG_ERR_NO_RESOURCE, NULL, NULL);
		resp.status = 404;
	} else {
		struct sg_bearer bearer;
		bool is_bearer = false;
		sg_err err = authenticate(s, conn, &user, &bearer, &is_bearer);
		if (!err && is_bearer && route)
			err = sg_oauth_scope_check(s->api.auth, &bearer, url, m);
		if (!err)
			snprintf(r->user, sizeof(r->user), "%s", user.user_name);
		if (err) {
			error_response(&resp, err, NULL, NULL);
		} else if (!route) {
			error_response(&resp, rerr, m, NULL);
		} else {
			req.user = &user;
			sg_api_dispatch(&s->api, route, &params, &req, &resp);
		}
	}
	enum MHD_Result ret = send_resp(conn, r, &resp);
	sg_resp_cleanup(&resp);
	free(args.items);
	return ret;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct sg_buf b;
	sg_buf_init(&b, 1024 * 1024);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sg_buf_append(&b, chunk, n);
	fclose(f);
	return sg_buf_steal(&b);
}

/* Background upkeep until stop is set: the held access-log lines written and
 * a passive checkpoint every 200 ms, planner statistics a second after start
 * and then every ten minutes. */
struct upkeep {
	struct sg_model *model;
	atomic_bool stop;
};

static void *upkeep_main(void *arg)
{
	struct upkeep *u = arg;
	sg_conn *c = sg_store_conn(u->model->store);
	for (long tick = 0; !atomic_load(&u->stop); tick++) {
		sg_log_flush();
		sg_err err = c ? sg_conn_maintain(c, tick % 3000 == 5) : SG_ERR_OK;
		if (err && err != SG_ERR_BUSY)
			sg_log_warn("upkeep: %s", sg_err_name(err));
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void usage(FILE *f)
{
	fputs("usage: nowd --data DIR [--listen ADDR] [--port N] [--base-url URL]\n"
	      "            [--tls-cert FILE --tls-key FILE] [--threads N]\n"
	      "            [--max-connections N] [--timeout SECONDS]\n"
	      "\n"
	      "Serves the instance in DIR (made by 'nowctl init').  Defaults: listen\n"
	      "127.0.0.1, port 8080, 8 threads, 256 connections, 60 s idle timeout.\n"
	      "--base-url sets the public URL used in every absolute link (otherwise\n"
	      "the glide.servlet.uri property, otherwise the request's Host).\n",
	      f);
}

int main(int argc, char **argv)
{
	const char *data = NULL, *listen_addr = "127.0.0.1", *cert = NULL, *key = NULL;
	struct server s = {.port = 8080, .lock = PTHREAD_MUTEX_INITIALIZER};
	unsigned threads = 8, max_conn = 256, timeout = 60;
	static const struct option opts[] = {
		{"data", required_argument, NULL, 'd'},	   {"listen", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},	   {"base-url", required_argument, NULL, 'b'},
		{"tls-cert", required_argument, NULL, 'c'}, {"tls-key", required_argument, NULL, 'k'},
		{"threads", required_argument, NULL, 't'}, {"max-connections", required_argument, NULL, 'm'},
		{"timeout", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "d:l:p:b:c:k:t:m:T:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'p': s.port = (unsigned short)atoi(optarg); break;
		case 'b': s.base_url = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 'm': max_conn = (unsigned)atoi(optarg); break;
		case 'T': timeout = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!data || (!cert != !key) || threads == 0 || threads > 64) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		sg_log_error("libsodium failed to initialise");
		return 1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(s.port)};
	if (inet_pton(AF_INET, listen_addr, &sa.sin_addr) != 1) {
		sg_log_error("--listen: not an IPv4 address: %s", listen_addr);
		return 2;
	}
	char *cert_pem = NULL, *key_pem = NULL;
	if (cert) {
		cert_pem = read_file(cert);
		key_pem = read_file(key);
		if (!cert_pem || !key_pem) {
			sg_log_error("cannot read the TLS certificate or key");
			return 1;
		}
		s.tls = true;
	}
	struct sg_model *model;
	sg_err err = sg_model_open(data, &model);
	if (!err && (err = sg_auth_add_rules(model)))
		sg_model_close(model);
	if (err) {
		sg_log_error("cannot open the instance in %s (%s); create it with 'nowctl init'",
			     data, sg_err_name(err));
		return 1;
	}
	s.api.model = model;
	err = sg_auth_new(model, &s.api.auth);
	if (err) {
		sg_log_error("cannot start: %s", sg_err_name(err));
		sg_model_close(model);
		return 1;
	}

	/* Signals are taken by sigwait() below, not by whichever thread runs. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (s.tls)
		flags |= MHD_USE_TLS;
	/* Two-argument options carry the function in value, its closure in ptr_value. */
	struct MHD_OptionItem options[] = {
		{MHD_OPTION_SOCK_ADDR, 0, &sa},
		{MHD_OPTION_THREAD_POOL_SIZE, threads, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, max_conn, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, timeout, NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEMORY, NULL},
		{MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL},
		{s.tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(flags, s.port, NULL, NULL, handle, &s,
						MHD_OPTION_ARRAY, options, MHD_OPTION_END);
	if (!d) {
		sg_log_error("cannot listen on %s:%u", listen_addr, s.port);
		sg_auth_free(s.api.auth);
		sg_model_close(model);
		return 1;
	}
	sg_log_info("nowd listening on %s://%s:%u (data %s)", s.tls ? "https" : "http",
		    listen_addr, s.port, data);
	struct upkeep upkeep = {.model = model};
	pthread_t upkeep_thread;
	bool upkeep_running = pthread_create(&upkeep_thread, NULL, upkeep_main, &upkeep) == 0;
	sg_log_buffer(upkeep_running); /* upkeep writes the held lines */
	int sig;
	sigwait(&set, &sig);
	sg_log_info("nowd: signal %d, shutting down", sig);
	MHD_stop_daemon(d);
	if (upkeep_running) {
		atomic_store(&upkeep.stop, true);
		pthread_join(upkeep_thread, NULL);
	}
	sg_auth_free(s.api.auth);
	sg_model_close(model);
	sg_tz_cleanup();
	free(cert_pem);
	free(key_pem);
	sg_log_buffer(false);
	return 0;
}
