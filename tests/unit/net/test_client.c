/*
 * Unit tests for src/net: the HTTP client against a real libmicrohttpd
 * server on 127.0.0.1 (an ephemeral port), and the redaction of secrets.
 * Waits and limits are small so the whole file runs in a few seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "net/client.h"
#include "net/redact.h"

/* ---- the server ---------------------------------------------------------- */

static struct MHD_Daemon *daemon_;
static char base[64];   /* http://127.0.0.1:PORT */
static atomic_int hits; /* requests to the counting routes since reset */
static char seen_auth[256], seen_method[16], seen_body[256];

struct upload {
	char body[256];
	size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body,
                              const char *const *headers)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	for (; headers && headers[0]; headers += 2)
		MHD_add_response_header(r, headers[0], headers[1]);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct upload *up = *con_cls;
	if (!up) {
		up = calloc(1, sizeof(*up));
		*con_cls = up;
		return up ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		size_t n = *data_size < sizeof(up->body) - 1 - up->len
		               ? *data_size
		               : sizeof(up->body) - 1 - up->len;
		memcpy(up->body + up->len, data, n);
		up->len += n;
		*data_size = 0;
		return MHD_YES;
	}
	enum MHD_Result ret;
	if (!strcmp(url, "/ok")) {
		const char *h[] = {"X-Custom", "Value-1", NULL};
		ret = answer(conn, 200, "hello", h);
	} else if (!strcmp(url, "/retry-after")) {
		const char *ra = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ra");
		const char *h[] = {"Retry-After", ra ? ra : "1", NULL};
		ret = atomic_fetch_add(&hits, 1) == 0 ? answer(conn, 429, "slow down", h)
		                                      : answer(conn, 200, "done", NULL);
	} else if (!strcmp(url, "/date")) {
		char date[64];
		time_t t = time(NULL) + 100;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		const char *h[] = {"Retry-After", date, NULL};
		ret = atomic_fetch_add(&hits, 1) == 0 ? answer(conn, 503, "busy", h)
		                                      : answer(conn, 200, "done", NULL);
	} else if (!strcmp(url, "/always503")) {
		atomic_fetch_add(&hits, 1);
		ret = answer(conn, 503, "busy", NULL);
	} else if (!strcmp(url, "/slow")) {
		usleep(600 * 1000);
		ret = answer(conn, 200, "late", NULL);
	} else if (!strcmp(url, "/big")) {
		static char big[8193];
		memset(big, 'b', sizeof(big) - 1);
		ret = answer(conn, 200, big, NULL);
	} else if (!strcmp(url, "/many-headers")) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		for (int i = 0; i < SG_HTTP_MAX_HEADERS + 10; i++) {
			char name[32];
			snprintf(name, sizeof(name), "X-H%d", i);
			MHD_add_response_header(r, name, "v");
		}
		ret = MHD_queue_response(conn, 200, r);
		MHD_destroy_response(r);
	} else if (!strcmp(url, "/echo")) {
		const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		snprintf(seen_auth, sizeof(seen_auth), "%s", a ? a : "");
		snprintf(seen_method, sizeof(seen_method), "%s", method);
		snprintf(seen_body, sizeof(seen_body), "%.*s", (int)up->len, up->body);
		ret = answer(conn, 200, "echo", NULL);
	} else {
		ret = answer(conn, 404, "no", NULL);
	}
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static int start_server(void **state)
{
	(void)state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                           0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	                           MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (!daemon_)
		return -1;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)di->port);
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	MHD_stop_daemon(daemon_);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* Options for tests: short waits, 3 attempts. */
static struct sg_http_options quick(void)
{
	struct sg_http_options o;
	sg_http_options_init(&o);
	o.connect_timeout_ms = 1000;
	o.timeout_ms = 2000;
	o.retry.base_ms = 10;
	o.retry.max_backoff_ms = 40;
	o.retry.max_retry_after_ms = 2000;
	return o;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends method to base + path with client c; resp must be initialised. */
static sg_net_err send_to(struct sg_http_client *c, const char *method, const char *path,
                          bool repeatable, struct sg_http_response *resp)
{
	char url[256];
	snprintf(url, sizeof(url), "%s%s", base, path);
	struct sg_http_request req = {.method = method, .url = url, .repeatable = repeatable};
	if (method && strcmp(method, "GET")) {
		req.body = "{}";
		req.body_len = 2;
		req.content_type = "application/json";
	}
	atomic_store(&hits, 0);
	return sg_http_client_do(c, &req, resp);
}

/* ---- the client ---------------------------------------------------------- */

static void answer_and_headers(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	assert_int_equal(send_to(c, NULL, "/ok", false, &r), SG_NET_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(sg_buf_str(&r.body), "hello");
	assert_string_equal(sg_http_response_header(&r, "x-custom"), "Value-1");
	assert_string_equal(sg_http_response_header(&r, "X-CUSTOM"), "Value-1");
	assert_null(sg_http_response_header(&r, "X-Missing"));
	assert_int_equal(r.attempts, 1);
	/* The same response and client again: the previous answer is dropped. */
	assert_int_equal(send_to(c, NULL, "/nothing", false, &r), SG_NET_OK);
	assert_int_equal(r.status, 404);
	assert_null(sg_http_response_header(&r, "X-Custom"));
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

static void retry_after_seconds_is_waited(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	long t0 = now_ms();
	assert_int_equal(send_to(c, "GET", "/retry-after?ra=1", false, &r), SG_NET_OK);
	long took = now_ms() - t0;
	assert_int_equal(r.status, 200);
	assert_string_equal(sg_buf_str(&r.body), "done");
	assert_int_equal(r.attempts, 2);
	assert_int_equal(atomic_load(&hits), 2);
	assert_int_equal(r.waited_ms, 1000);
	assert_true(took >= 1000);
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

static void retry_after_is_capped(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	o.retry.max_retry_after_ms = 200;
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	long t0 = now_ms();
	assert_int_equal(send_to(c, "GET", "/retry-after?ra=120", false, &r), SG_NET_OK);
	long took = now_ms() - t0;
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.waited_ms, 200);
	assert_true(took >= 200 && took < 1000);
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

/* The date is 100 s ahead: only a parsed date makes us wait the cap (the
 * backoff alone would be at most 40 ms). */
static void retry_after_http_date(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	o.retry.max_retry_after_ms = 300;
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	assert_int_equal(send_to(c, "GET", "/date", false, &r), SG_NET_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	assert_int_equal(r.waited_ms, 300);
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

static void retry_after_values(void **state)
{
	(void)state;
	const int64_t at = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
	assert_int_equal(sg_net_retry_after_ms("120", 0), 120000);
	assert_int_equal(sg_net_retry_after_ms(" 0 ", 0), 0);
	assert_int_equal(sg_net_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", at - 5), 5000);
	assert_int_equal(sg_net_retry_after_ms("Wednesday, 21-Oct-15 07:28:00 GMT", at - 7), 7000);
	assert_int_equal(sg_net_retry_after_ms("Wed Oct 21 07:28:00 2015", at - 1), 1000);
	assert_int_equal(sg_net_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", at + 60), 0);
	assert_int_equal(sg_net_retry_after_ms("12abc", 0), -1);
	assert_int_equal(sg_net_retry_after_ms("soon", 0), -1);
	assert_int_equal(sg_net_retry_after_ms(NULL, 0), -1);
}

static void post_is_retried_only_when_safe(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	assert_int_equal(send_to(c, "POST", "/always503", false, &r), SG_NET_OK);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.attempts, 1);
	assert_int_equal(atomic_load(&hits), 1);

	assert_int_equal(send_to(c, "POST", "/always503", true, &r), SG_NET_OK);
	assert_int_equal(r.status, 503);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(atomic_load(&hits), 3);
	assert_true(r.waited_ms >= 5 + 10 && r.waited_ms <= 10 + 20); /* jittered 10, 20 */

	assert_int_equal(send_to(c, "PUT", "/always503", false, &r), SG_NET_OK);
	assert_int_equal(r.attempts, 3);
	assert_int_equal(atomic_load(&hits), 3);

	o.retry.max_attempts = 1;
	struct sg_http_client *once = sg_http_client_new(&o);
	assert_int_equal(send_to(once, "GET", "/always503", false, &r), SG_NET_OK);
	assert_int_equal(r.attempts, 1);
	sg_http_client_free(once);
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

static void slow_answer_times_out(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	o.timeout_ms = 150;
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	long t0 = now_ms();
	assert_int_equal(send_to(c, "GET", "/slow", false, &r), SG_NET_TIMEOUT);
	long took = now_ms() - t0;
	assert_int_equal(r.err, SG_NET_TIMEOUT);
	assert_int_equal(r.attempts, 1); /* a timeout is not retried */
	assert_true(took >= 150 && took < 550);
	assert_string_equal(r.errmsg, curl_easy_strerror(CURLE_OPERATION_TIMEDOUT));
	assert_string_equal(sg_net_err_step(r.err), "waiting for the answer");
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

static void body_over_the_cap_is_too_large(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	o.max_body = 1024;
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	assert_int_equal(send_to(c, "GET", "/big", false, &r), SG_NET_TOO_LARGE);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 1);
	sg_http_client_free(c);

	o.max_body = 8192; /* exactly the body */
	c = sg_http_client_new(&o);
	assert_int_equal(send_to(c, "GET", "/big", false, &r), SG_NET_OK);
	assert_int_equal(r.body.len, 8192);
	assert_int_equal(send_to(c, "GET", "/many-headers", false, &r), SG_NET_TOO_LARGE);
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

/* A port nothing listens on: bound, then closed. */
static unsigned closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void refused_connection_is_connect(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	o.retry.max_attempts = 2;
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", closed_port());
	struct sg_http_request req = {.url = url};
	assert_int_equal(sg_http_client_do(c, &req, &r), SG_NET_CONNECT);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.attempts, 2); /* a GET is retried after a refusal */
	assert_string_equal(sg_net_err_name(r.err), "CONNECT");
	assert_string_equal(r.errmsg, curl_easy_strerror(CURLE_COULDNT_CONNECT));
	assert_true(strlen(r.detail) > 0);

	req.method = "POST";
	req.body = "x";
	req.body_len = 1;
	assert_int_equal(sg_http_client_do(c, &req, &r), SG_NET_CONNECT);
	assert_int_equal(r.attempts, 1);

	req.url = "ftp://127.0.0.1/"; /* http and https only */
	assert_int_equal(sg_http_client_do(c, &req, &r), SG_NET_USAGE);

	const struct sg_kv smuggled[] = {{"X-A", "1\r\nX-Injected: 2"}};
	req.url = url;
	req.headers = smuggled;
	req.n_headers = 1;
	assert_int_equal(sg_http_client_do(c, &req, &r), SG_NET_USAGE);
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

static void curl_codes_are_classified(void **state)
{
	(void)state;
	assert_int_equal(sg_net_err_from_curl(CURLE_OK), SG_NET_OK);
	assert_int_equal(sg_net_err_from_curl(CURLE_COULDNT_RESOLVE_HOST), SG_NET_DNS);
	assert_int_equal(sg_net_err_from_curl(CURLE_COULDNT_RESOLVE_PROXY), SG_NET_DNS);
	assert_int_equal(sg_net_err_from_curl(CURLE_COULDNT_CONNECT), SG_NET_CONNECT);
	assert_int_equal(sg_net_err_from_curl(CURLE_OPERATION_TIMEDOUT), SG_NET_TIMEOUT);
	assert_int_equal(sg_net_err_from_curl(CURLE_PEER_FAILED_VERIFICATION), SG_NET_CERT);
	assert_int_equal(sg_net_err_from_curl(CURLE_SSL_CONNECT_ERROR), SG_NET_TLS);
	assert_int_equal(sg_net_err_from_curl(CURLE_SSL_CACERT_BADFILE), SG_NET_TLS);
	assert_int_equal(sg_net_err_from_curl(CURLE_URL_MALFORMAT), SG_NET_USAGE);
	assert_int_equal(sg_net_err_from_curl(CURLE_GOT_NOTHING), SG_NET_PROTOCOL);
	assert_int_equal(sg_net_err_from_curl(CURLE_OUT_OF_MEMORY), SG_NET_NOMEM);
	assert_string_equal(sg_net_err_step(SG_NET_DNS), "resolving the host name");
	assert_string_equal(sg_net_err_name(SG_NET_TOO_LARGE), "TOO_LARGE");
}

static void credentials_and_body_are_sent(void **state)
{
	(void)state;
	struct sg_http_options o = quick();
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	char url[128];
	snprintf(url, sizeof(url), "%s/echo", base);
	struct sg_http_request req = {.method = "PATCH",
	                              .url = url,
	                              .body = "a=1",
	                              .body_len = 3,
	                              .user = "admin",
	                              .password = "pw"};
	assert_int_equal(sg_http_client_do(c, &req, &r), SG_NET_OK);
	assert_string_equal(seen_method, "PATCH");
	assert_string_equal(seen_body, "a=1");
	assert_string_equal(seen_auth, "Basic YWRtaW46cHc=");
	struct sg_http_request bearer = {.url = url, .bearer = "tok"};
	assert_int_equal(sg_http_client_do(c, &bearer, &r), SG_NET_OK);
	assert_string_equal(seen_method, "GET");
	assert_string_equal(seen_auth, "Bearer tok");
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

/* ---- redaction ----------------------------------------------------------- */

static void check_url(const char *in, const char *want)
{
	struct sg_buf b;
	sg_buf_init(&b, 4096);
	sg_net_redact_url(&b, in, strlen(in));
	assert_false(sg_buf_failed(&b));
	assert_string_equal(sg_buf_str(&b), want);
	sg_buf_cleanup(&b);
}

static void urls_are_redacted(void **state)
{
	(void)state;
	check_url("https://u:pw@h.example/p?a=1&%63lient_secret=s3&Password=p4&%74oken=t5"
	          "&sysparm_query=x#access_token=t6",
	          "https://u:***@h.example/p?a=1&%63lient_secret=***&Password=***&%74oken=***"
	          "&sysparm_query=x#access_token=***");
	check_url("http://tokenonly@h/", "http://***@h/");
	check_url("/oauth_revoke_token.do?token=abc", "/oauth_revoke_token.do?token=***");
	check_url("/api/now/table/incident?sysparm_limit=1&sysparm_query=active%3Dtrue",
	          "/api/now/table/incident?sysparm_limit=1&sysparm_query=active%3Dtrue");
	check_url("/x?REFRESH_TOKEN=r&x-sn-apikey=k&code=c&codex=ok&flag&=v",
	          "/x?REFRESH_TOKEN=***&x-sn-apikey=***&code=***&codex=ok&flag&=v");
	check_url("http://h/path/with@sign?q=1", "http://h/path/with@sign?q=1");
	check_url("", "");
}

static void names_and_forms_are_judged_decoded(void **state)
{
	(void)state;
	assert_true(sg_net_is_secret_name("%50ASSWORD", 10));
	assert_true(sg_net_is_secret_name("user%5Bpassword%5D", 18));
	assert_true(sg_net_is_secret_name("api+key", 7) == false);
	assert_true(sg_net_is_secret_name("X-Api-Key", 9));
	assert_false(sg_net_is_secret_name("sysparm_fields", 14));
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	assert_true(sg_net_is_secret_name(longname, sizeof(longname))); /* too long to judge */

	struct sg_buf b;
	sg_buf_init(&b, 4096);
	const char *form = "grant_type=password&username=admin&password=hunter2&client_secret=abc"
	                   "&refresh_token=r&scope=useraccount";
	sg_net_redact_form(&b, form, strlen(form));
	assert_string_equal(sg_buf_str(&b),
	                    "grant_type=password&username=admin&password=***&client_secret=***"
	                    "&refresh_token=***&scope=useraccount");

	sg_buf_reset(&b);
	sg_net_redact_header(&b, "Authorization", "Basic YWRtaW46cHc=");
	assert_string_equal(sg_buf_str(&b), "Authorization: Basic ***");
	sg_buf_reset(&b);
	sg_net_redact_header(&b, "proxy-authorization", "opaque");
	assert_string_equal(sg_buf_str(&b), "proxy-authorization: ***");
	sg_buf_reset(&b);
	sg_net_redact_header(&b, "Cookie", "JSESSIONID=abc; glide_user=x");
	assert_string_equal(sg_buf_str(&b), "Cookie: ***");
	sg_buf_reset(&b);
	sg_net_redact_header(&b, "X-SN-APIKEY", "k");
	assert_string_equal(sg_buf_str(&b), "X-SN-APIKEY: ***");
	sg_buf_reset(&b);
	sg_net_redact_header(&b, "Accept", "application/json");
	assert_string_equal(sg_buf_str(&b), "Accept: application/json");
	sg_buf_cleanup(&b);
}

/* Everything the client logs at debug level, through a retry, holds no
 * secret: stderr is captured in a file for the duration. */
static void log_lines_hold_no_secret(void **state)
{
	(void)state;
	char path[] = "/tmp/sg-net-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	sg_log_set_level(SG_LOG_DEBUG);

	struct sg_http_options o = quick();
	struct sg_http_client *c = sg_http_client_new(&o);
	struct sg_http_response r;
	sg_http_response_init(&r);
	char url[256];
	snprintf(
	    url, sizeof(url),
	    "http://user:SECRET0@127.0.0.1:%s/retry-after?ra=0&%%74oken=SECRET1&Password=SECRET2",
	    strrchr(base, ':') + 1);
	const struct sg_kv headers[] = {
	    {"x-sn-apikey", "SECRET3"}, {"Cookie", "s=SECRET4"}, {"Accept", "application/json"}};
	const char *form = "client_secret=SECRET6&grant_type=client_credentials";
	struct sg_http_request req = {.method = "POST",
	                              .url = url,
	                              .headers = headers,
	                              .n_headers = 3,
	                              .bearer = "SECRET5",
	                              .body = form,
	                              .body_len = strlen(form),
	                              .content_type = "application/x-www-form-urlencoded",
	                              .repeatable = true};
	atomic_store(&hits, 0);
	sg_net_err err = sg_http_client_do(c, &req, &r);
	struct sg_http_request basic = {.url = url, .user = "admin", .password = "SECRET7"};
	sg_net_err err2 = sg_http_client_do(c, &basic, &r);

	sg_log_set_level(SG_LOG_WARN);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char logged[16384];
	ssize_t n = pread(fd, logged, sizeof(logged) - 1, 0);
	close(fd);
	assert_true(n > 0);
	logged[n] = '\0';
	assert_int_equal(err, SG_NET_OK);
	assert_int_equal(err2, SG_NET_OK);
	if (getenv("SHOW_LOG"))
		fputs(logged, stdout);
	assert_null(strstr(logged, "SECRET"));
	assert_non_null(strstr(logged, "%74oken=***&Password=***"));
	assert_non_null(strstr(logged, "x-sn-apikey: ***"));
	assert_non_null(
	    strstr(logged, "body (51 bytes): client_secret=***&grant_type=client_credentials\n"));
	assert_non_null(strstr(logged, "Authorization: Bearer ***"));
	assert_non_null(strstr(logged, "attempt 2 of 3")); /* the retry was logged */
	assert_non_null(strstr(logged, "Accept: application/json"));
	sg_http_response_cleanup(&r);
	sg_http_client_free(c);
}

/* The database URLs nowd, nowctl and nowsync print (sg_net_masked_url). */
static void database_urls_are_masked(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"postgresql://sg:s3cret@db.example:5433/prod",
	     "postgresql://sg:***@db.example:5433/prod"},
	    {"postgresql://sg:s3cret@/inst?host=/run/pg", "postgresql://sg:***@/inst?host=/run/pg"},
	    {"postgres://db.example/prod?user=sg&password=s3cret",
	     "postgres://db.example/prod?user=sg&password=***"},
	    {"postgresql:///inst?host=/tmp/c&user=postgres",
	     "postgresql:///inst?host=/tmp/c&user=postgres"},
	    {"sqlite:/srv/prod.db", "sqlite:/srv/prod.db"},
	    {"/srv/data", "/srv/data"},
	    {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = sg_net_masked_url(cases[i][0]);
		assert_non_null(got);
		assert_string_equal(got, cases[i][1]);
		assert_null(strstr(got, "s3cret"));
		free(got);
	}
	char *none = sg_net_masked_url(NULL);
	assert_non_null(none);
	assert_string_equal(none, "");
	free(none);
}

int main(void)
{
	sg_log_set_level(SG_LOG_WARN); /* retries are logged at info level */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(answer_and_headers),
	    cmocka_unit_test(retry_after_seconds_is_waited),
	    cmocka_unit_test(retry_after_is_capped),
	    cmocka_unit_test(retry_after_http_date),
	    cmocka_unit_test(retry_after_values),
	    cmocka_unit_test(post_is_retried_only_when_safe),
	    cmocka_unit_test(slow_answer_times_out),
	    cmocka_unit_test(body_over_the_cap_is_too_large),
	    cmocka_unit_test(refused_connection_is_connect),
	    cmocka_unit_test(curl_codes_are_classified),
	    cmocka_unit_test(credentials_and_body_are_sent),
	    cmocka_unit_test(urls_are_redacted),
	    cmocka_unit_test(database_urls_are_masked),
	    cmocka_unit_test(names_and_forms_are_judged_decoded),
	    cmocka_unit_test(log_lines_hold_no_secret),
	};
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
