/*
 * serve.c - `nowsync serve`: the HTTP intake (intake.h) in front of the
 * delivery workers (event.h).
 *
 *   GET  /healthz           no token: {"status":"ok"}
 *   GET  /metrics           no token: Prometheus text format (ops.h), unless --no-metrics
 *   POST /v1/events         a generic event or an array of them
 *   POST /v1/alertmanager   Alertmanager's webhook payload (version 4)
 *   POST /v1/changes        record changes an instance pushes (backsync.h)
 *   POST /v1/rmm/alerts     an RMM's device alerts (rmm.h)
 *
 * A POST needs "Authorization: Bearer TOKEN", a token from `nowsync token
 * create`; it is checked when the request head is in, before any body is
 * read.  A 202 means every event listed as accepted is committed
 * (ns_event_accept): on SIGTERM/SIGINT the server stops taking connections,
 * lets the requests in flight finish (up to --grace seconds), then stops
 * the workers.  One JSON log line per request goes to stderr; never a token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/util.h"
#include "nowsync/backsync.h"
#include "nowsync/delivery.h"
#include "nowsync/intake.h"
#include "nowsync/ops.h"
#include "nowsync/rmm.h"

#define HEADER_MEMORY (32 * 1024)

struct server {
	struct ns_state *st;
	struct ns_workers *workers;
	struct ns_backsync *backsync; /* back-sync sweeps and sinks (backsync.h) */
	size_t max_body;
	bool metrics;
	atomic_int in_flight; /* requests whose handler started and that are not completed */
	pthread_mutex_t log_lock;
};

enum route { R_NONE, R_HEALTH, R_METRICS, R_EVENTS, R_ALERTMANAGER, R_CHANGES, R_RMM_ALERTS };

struct request {
	struct timeval start;
	enum route route;
	bool started, responded, counted;
	struct sg_buf body;
	unsigned long long body_bytes;
	struct ns_token_info tok;
	bool authed;
	int status;
	struct ns_intake_counts counts;
	unsigned events;
	char method[16];
	char path[128];
};

/* ---- answers ------------------------------------------------------------------------ */

static enum MHD_Result send_json(struct MHD_Connection *conn, struct request *r, int status,
                                 json_t *body, const char *hname, const char *hvalue)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	static const char oom[] = "{\"error\":{\"message\":\"Internal server error\",\"detail\":"
	                          "\"out of memory\"},\"status\":\"failure\"}";
	struct MHD_Response *mr =
	    text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
	         : MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)oom,
	                                           MHD_RESPMEM_PERSISTENT);
	if (!mr) {
		free(text);
		return MHD_NO;
	}
	if (!text)
		status = 500;
	MHD_add_response_header(mr, "Content-Type", "application/json");
	if (hname)
		MHD_add_response_header(mr, hname, hvalue);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, mr);
	MHD_destroy_response(mr);
	r->status = status;
	r->responded = true;
	return ret;
}

/* {"error":{"message","detail"[,"field"]},"status":"failure"} */
static enum MHD_Result send_error(struct MHD_Connection *conn, struct request *r, int status,
                                  const char *message, const char *detail, const char *field,
                                  const char *hname, const char *hvalue)
{
	json_t *e = json_pack("{s:s, s:s?}", "message", message, "detail", detail);
	if (e && field)
		json_object_set_new(e, "field", json_string(field));
	json_t *body = e ? json_pack("{s:o, s:s}", "error", e, "status", "failure") : NULL;
	return send_json(conn, r, status, body, hname, hvalue);
}

/* ---- the log ---------------------------------------------------------------------------- */

static void log_request(struct server *s, struct MHD_Connection *conn, struct request *r,
                        bool aborted)
{
	if (!ns_log_enabled(aborted || r->status >= 500 ? NS_LOG_WARN : NS_LOG_INFO))
		return;
	struct timeval now;
	gettimeofday(&now, NULL);
	long ms = (now.tv_sec - r->start.tv_sec) * 1000 + (now.tv_usec - r->start.tv_usec) / 1000;
	char when[32], addr[INET6_ADDRSTRLEN] = "-";
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
		          sizeof(addr));
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:b}", "time",
	              when, "level", aborted || r->status >= 500 ? "warn" : "info", "msg",
	              "request", "client", addr, "method", r->method, "path", r->path, "status",
	              r->status, "events", (int)r->events, "accepted", (int)r->counts.accepted,
	              "duplicates", (int)r->counts.duplicates, "refused", (int)r->counts.refused,
	              "ms", (json_int_t)ms, "aborted", aborted);
	if (j && r->authed) /* the token's name, never the token */
		json_object_set_new(j, "token", json_string(r->tok.name));
	char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	pthread_mutex_lock(&s->log_lock);
	if (line)
		fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&s->log_lock);
	free(line);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	struct request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	gettimeofday(&r->start, NULL);
	/* the path only: the query string is not logged */
	size_t n = strcspn(uri ? uri : "", "?");
	snprintf(r->path, sizeof(r->path), "%.*s", (int)(n < 127 ? n : 127), uri ? uri : "");
	for (char *p = r->path; *p; p++)
		if ((unsigned char)*p < ' ' || *p == '"' || *p == '\\')
			*p = '?';
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct server *s = cls;
	struct request *r = *con_cls;
	if (!r)
		return;
	log_request(s, conn, r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (r->counted)
		atomic_fetch_sub(&s->in_flight, 1);
	sg_buf_cleanup(&r->body);
	sodium_memzero(&r->tok, sizeof(r->tok));
	free(r);
	*con_cls = NULL;
}

/* ---- the head: route, token, size --------------------------------------------------- */

static enum MHD_Result begin(struct server *s, struct MHD_Connection *conn, struct request *r,
                             const char *url, const char *method)
{
	bool post = !strcmp(method, "POST");
	if (!strcmp(url, "/healthz")) {
		r->route = R_HEALTH;
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			return send_error(conn, r, 405, "Method not allowed", "GET /healthz", NULL,
			                  "Allow", "GET, HEAD");
		return MHD_YES;
	}
	if (!strcmp(url, "/metrics") && s->metrics) {
		r->route = R_METRICS;
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			return send_error(conn, r, 405, "Method not allowed", "GET /metrics", NULL,
			                  "Allow", "GET, HEAD");
		return MHD_YES;
	}
	if (!strcmp(url, "/v1/events"))
		r->route = R_EVENTS;
	else if (!strcmp(url, "/v1/alertmanager"))
		r->route = R_ALERTMANAGER;
	else if (!strcmp(url, "/v1/changes"))
		r->route = R_CHANGES;
	else if (!strcmp(url, "/v1/rmm/alerts"))
		r->route = R_RMM_ALERTS;
	else
		return send_error(conn, r, 404, "Not found",
		                  "nowsync serves POST /v1/events, POST /v1/alertmanager, POST "
		                  "/v1/changes, POST /v1/rmm/alerts, GET /healthz and GET /metrics",
		                  NULL, NULL, NULL);
	if (!post)
		return send_error(conn, r, 405, "Method not allowed", "this endpoint takes POST",
		                  NULL, "Allow", "POST");
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	if (!auth || strncasecmp(auth, "Bearer ", 7))
		return send_error(conn, r, 401, "User Not Authenticated",
		                  "Required to provide Auth information: Authorization: Bearer "
		                  "TOKEN (from `nowsync token create`)",
		                  NULL, "WWW-Authenticate", "Bearer realm=\"nowsync\"");
	const char *tok = auth + 7;
	while (*tok == ' ')
		tok++;
	sg_err e = ns_token_check(s->st, tok, &r->tok);
	if (e == SG_ERR_NO_RECORD)
		return send_error(conn, r, 401, "User Not Authenticated",
		                  "the bearer token is not a live nowsync token (revoked, or never "
		                  "issued)",
		                  NULL, "WWW-Authenticate",
		                  "Bearer realm=\"nowsync\", error=\"invalid_token\"");
	if (e)
		return send_error(conn, r, 503, "Service unavailable",
		                  "the state store cannot be read; try again", NULL, "Retry-After",
		                  "5");
	r->authed = true;
	const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	long long n = 0;
	if (len && sg_str_number(len, 0, (long long)1 << 50, &n) && (size_t)n > s->max_body) {
		char why[128];
		snprintf(why, sizeof(why), "the body is %lld bytes; the limit is %zu (--max-body)",
		         n, s->max_body);
		return send_error(conn, r, 413, "Request entity too large", why, NULL, "Connection",
		                  "close");
	}
	/* Content-Type is not checked: the body must be JSON whatever it says
	 * (curl -d sends form-urlencoded). */
	sg_buf_init(&r->body, s->max_body);
	return MHD_YES;
}

/* ---- the body in: parse, accept, answer ------------------------------------------------- */

static enum MHD_Result finish(struct server *s, struct MHD_Connection *conn, struct request *r)
{
	if (r->route == R_HEALTH) {
		json_t *b = json_pack("{s:s}", "status", "ok");
		return send_json(conn, r, 200, b, NULL, NULL);
	}
	if (r->route == R_METRICS) {
		char *text = ns_metrics_text(s->st);
		if (!text)
			return send_error(conn, r, 500, "Internal server error", "out of memory",
			                  NULL, NULL, NULL);
		struct MHD_Response *mr =
		    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!mr) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(mr, "Content-Type",
		                        "text/plain; version=0.0.4; charset=utf-8");
		r->status = 200;
		r->responded = true;
		enum MHD_Result res = MHD_queue_response(conn, 200, mr);
		MHD_destroy_response(mr);
		return res;
	}
	const char *source = r->route == R_ALERTMANAGER ? "alertmanager" : "generic";
	if (r->body_bytes > s->max_body) {
		char why[128];
		snprintf(why, sizeof(why), "the body is over the limit of %zu bytes (--max-body)",
		         s->max_body);
		return send_error(conn, r, 413, "Request entity too large", why, NULL, NULL, NULL);
	}
	if (sg_buf_failed(&r->body))
		return send_error(conn, r, 500, "Internal server error", "out of memory", NULL,
		                  NULL, NULL);
	if (!r->body_bytes) {
		ns_metric_events(source, NS_EV_REFUSED, 1);
		return send_error(conn, r, 400, "Invalid event",
		                  "body: empty; a JSON body is required", "body", NULL, NULL);
	}
	json_error_t je;
	json_t *root = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		char why[300];
		ns_metric_events(source, NS_EV_REFUSED, 1);
		snprintf(why, sizeof(why), "body: not JSON: %s (line %d, column %d)", je.text,
		         je.line, je.column);
		return send_error(conn, r, 400, "Invalid event", why, "body", NULL, NULL);
	}
	if (r->route == R_RMM_ALERTS) { /* an RMM's device alerts (rmm.h) */
		json_t *answer = NULL;
		int status = ns_rmm_alerts_post(s->st, r->tok.connection, root, &answer);
		json_decref(root);
		if (status != 503 && s->workers)
			ns_workers_wake(s->workers);
		return send_json(conn, r, status, answer, NULL, NULL);
	}
	if (r->route == R_CHANGES) { /* a record change an instance pushed */
		json_t *answer = NULL;
		int status = ns_backsync_push(s->st, s->backsync, r->tok.connection, root, &answer);
		json_decref(root);
		return send_json(conn, r, status, answer, status == 503 ? "Retry-After" : NULL,
		                 status == 503 ? "1" : NULL);
	}
	struct ns_intake_ctx ctx = {
	    .connection = r->tok.connection,
	    .profile = r->tok.profile,
	    .key_labels = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "key_labels"),
	    .source = "generic",
	};
	struct ns_parsed p;
	char err[600];
	bool ok = r->route == R_ALERTMANAGER
	              ? ns_parse_alertmanager(root, &ctx, &p, err, sizeof(err))
	              : ns_parse_generic(root, &ctx, &p, err, sizeof(err));
	json_decref(root);
	if (!ok) {
		char field[200];
		snprintf(field, sizeof(field), "%.*s", (int)strcspn(err, ":"), err);
		ns_metric_events(source, NS_EV_REFUSED, 1);
		return send_error(conn, r, 400, "Invalid event", err, field, NULL, NULL);
	}
	r->events = (unsigned)p.n;
	json_t *results = NULL;
	sg_err e = ns_intake_accept(s->st, &p, &results, &r->counts, err, sizeof(err));
	ns_parsed_free(&p);
	if (r->counts.accepted)
		ns_workers_wake(s->workers);
	ns_metric_events(source, NS_EV_ACCEPTED, r->counts.accepted);
	ns_metric_events(source, NS_EV_DUPLICATE, r->counts.duplicates);
	ns_metric_events(source, NS_EV_REFUSED,
	                 e == SG_ERR_BAD_PARAM ? r->events : r->counts.refused);
	if (e == SG_ERR_BAD_PARAM) {
		char field[200];
		snprintf(field, sizeof(field), "%.*s", (int)strcspn(err, ":"), err);
		return send_error(conn, r, 400, "Invalid event", err, field, NULL, NULL);
	}
	if (e)
		return send_error(conn, r, 503, "Service unavailable", err, NULL, "Retry-After",
		                  "5");
	int status = r->counts.refused ? 400 : 202;
	json_t *body = json_pack("{s:s, s:i, s:i, s:i, s:o}", "status",
	                         r->counts.refused ? "failure" : "accepted", "accepted",
	                         (int)r->counts.accepted, "duplicates", (int)r->counts.duplicates,
	                         "refused", (int)r->counts.refused, "results", results);
	if (body && r->counts.refused)
		json_object_set_new(
		    body, "error",
		    json_pack("{s:s, s:s}", "message", "Invalid event", "detail",
		              "some events were refused (see results); the others are "
		              "accepted"));
	return send_json(conn, r, status, body, NULL, NULL);
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
	if (!r->started) {
		r->started = true;
		r->counted = true;
		atomic_fetch_add(&s->in_flight, 1);
		snprintf(r->method, sizeof(r->method), "%s", method);
		return begin(s, conn, r, url, method);
	}
	if (r->responded) { /* a refusal was queued with the head: drop the body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		r->body_bytes += *upload_data_size;
		if (r->body_bytes <= s->max_body)
			sg_buf_append(&r->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		/* a chunked body far over the limit: close rather than read it all */
		return r->body_bytes > s->max_body + 16ull * 1024 * 1024 ? MHD_NO : MHD_YES;
	}
	return finish(s, conn, r);
}

/* ---- the command ----------------------------------------------------------------------- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct sg_buf b;
	sg_buf_init(&b, 1024 * 1024);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sg_buf_append(&b, chunk, n);
	bool bad = ferror(f) || sg_buf_failed(&b);
	fclose(f);
	char *out = bad ? NULL : strdup(sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

int ns_cmd_serve(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"port", required_argument, NULL, 'p'},
	    {"workers", required_argument, NULL, 'w'},
	    {"max-body", required_argument, NULL, 'b'},
	    {"max-conn", required_argument, NULL, 'c'},
	    {"timeout", required_argument, NULL, 't'},
	    {"grace", required_argument, NULL, 'g'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"no-metrics", no_argument, NULL, 'M'},
	    {"lease", required_argument, NULL, 'E'},
	    {NULL, 0, NULL, 0},
	};
	enum ns_log_level level = ns_log_enabled(NS_LOG_DEBUG) ? NS_LOG_DEBUG : NS_LOG_INFO;
	bool metrics = true;
	const char *listen = "127.0.0.1", *cert_path = NULL, *key_path = NULL;
	long long port = 8089, workers = 2, max_body = 1024 * 1024, max_conn = 64, timeout = 15,
	          grace = 30, lease = st->lease_ms / 1000;
	optind = 0;
	int ch;
	int idx = 0;
	while ((ch = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		bool ok = true;
		switch (ch) {
		case 'l':
			listen = optarg;
			break;
		case 'p':
			ok = sg_str_number(optarg, 0, 65535, &port);
			break;
		case 'w':
			ok = sg_str_number(optarg, 0, 64, &workers);
			break;
		case 'b':
			ok = sg_str_number(optarg, 1024, 64LL * 1024 * 1024, &max_body);
			break;
		case 'c':
			ok = sg_str_number(optarg, 1, 10000, &max_conn);
			break;
		case 't':
			ok = sg_str_number(optarg, 1, 3600, &timeout);
			break;
		case 'g':
			ok = sg_str_number(optarg, 0, 3600, &grace);
			break;
		case 'E':
			ok = sg_str_number(optarg, 1, 86400, &lease);
			break;
		case 'C':
			cert_path = optarg;
			break;
		case 'K':
			key_path = optarg;
			break;
		case 'L':
			ok = ns_log_parse_level(optarg, &level);
			break;
		case 'M':
			metrics = false;
			break;
		default:
			return NS_EXIT_USAGE;
		}
		if (!ok) {
			fprintf(stderr, "nowsync: bad value for --%s: %s\n", opts[idx].name,
			        optarg);
			return NS_EXIT_USAGE;
		}
	}
	if (optind != argc || (!cert_path) != (!key_path)) {
		fprintf(stderr,
		        "nowsync: serve [--listen ADDR] [--port N] [--workers N] "
		        "[--max-body BYTES] [--max-conn N] [--timeout S] [--grace S] "
		        "[--tls-cert PEM --tls-key PEM] [--log-level debug|info|warn|error] "
		        "[--no-metrics] [--lease S]\n");
		return NS_EXIT_USAGE;
	}
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, listen, &addr.sin_addr) != 1) {
		fprintf(stderr, "nowsync: --listen takes an IPv4 address (127.0.0.1, 0.0.0.0)\n");
		return NS_EXIT_USAGE;
	}
	char *cert = cert_path ? read_file(cert_path) : NULL,
	     *key = key_path ? read_file(key_path) : NULL;
	if ((cert_path && !cert) || (key_path && !key)) {
		fprintf(stderr, "nowsync: cannot read %s\n",
		        cert_path && !cert ? cert_path : key_path);
		free(cert);
		free(key);
		return NS_EXIT_FAILED;
	}
	/* SIGTERM and SIGINT are taken by sigwait below; every thread started
	 * from here on has them blocked. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ns_log_set_level(level);
	st->lease_ms = lease * 1000;
	struct server s = {.st = st, .max_body = (size_t)max_body, .metrics = metrics};
	pthread_mutex_init(&s.log_lock, NULL);
	int rc = NS_EXIT_FAILED;
	if (ns_workers_start(st, (int)workers, &s.workers)) {
		fprintf(stderr, "nowsync: cannot start the delivery workers\n");
		goto out;
	}
	s.backsync = ns_backsync_start(st);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO |
	                 MHD_USE_ITC | (cert ? MHD_USE_TLS : 0);
	struct MHD_OptionItem options[] = {
	    {MHD_OPTION_SOCK_ADDR, 0, (void *)&addr},
	    {MHD_OPTION_THREAD_POOL_SIZE, 2, NULL},
	    {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)max_conn, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HEADER_MEMORY, NULL},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, &s},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, &s},
	    {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
	    {MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, &s,
	                                        MHD_OPTION_ARRAY, options, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "nowsync: cannot listen on %s:%lld: %s\n", listen, port,
		        strerror(errno));
		ns_workers_stop(s.workers);
		ns_backsync_stop(s.backsync);
		goto out;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	ns_logj(NS_LOG_WARN, "listening",
	        json_pack("{s:s, s:i, s:b, s:I, s:b}", "listen", listen, "port",
	                  di ? (int)di->port : (int)port, "tls", cert != NULL, "workers",
	                  (json_int_t)workers, "metrics", metrics));
	int sig = 0;
	while (sigwait(&sigs, &sig) != 0)
		;
	/* Stop taking connections; let the requests in flight finish. */
	ns_logj(NS_LOG_INFO, "stopping",
	        json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
	MHD_socket ls = MHD_quiesce_daemon(d);
	if (ls != MHD_INVALID_SOCKET)
		close(ls);
	for (long long i = 0; i < grace * 20 && atomic_load(&s.in_flight) > 0; i++)
		usleep(50 * 1000);
	int left = atomic_load(&s.in_flight);
	MHD_stop_daemon(d);
	/* each worker finishes the item it holds; the rest stays pending */
	ns_workers_stop(s.workers);
	ns_backsync_stop(s.backsync);
	long long c[4] = {0, 0, 0, 0};
	bool counted = !ns_outbox_counts(st, c);
	ns_logj(NS_LOG_WARN, "stopped",
	        json_pack("{s:s, s:i, s:I, s:I, s:b}", "signal",
	                  sig == SIGINT ? "SIGINT" : "SIGTERM", "requests_cut", left,
	                  "outbox_pending", (json_int_t)c[0], "outbox_inflight", (json_int_t)c[1],
	                  "outbox_counted", counted));
	rc = 0;
out:
	pthread_mutex_destroy(&s.log_lock);
	if (key)
		sodium_memzero(key, strlen(key));
	free(cert);
	free(key);
	return rc;
}
