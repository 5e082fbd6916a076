/*
 * Unit tests for nowsync's state and token lifecycle (src/nowsync): a real
 * libmicrohttpd server on 127.0.0.1 plays the instance's token endpoint
 * (slow on purpose, counting requests) and a Table API that accepts only
 * the token it issued last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "nowsync/nowsync.h"

/* ---- the fake instance ------------------------------------------------------ */

static struct MHD_Daemon *daemon_;
static char base[64];
static atomic_int token_hits, api_hits;
static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static char current[64];         /* the token the API accepts ("" none) */
static char last_grant[32];      /* grant_type of the last token request */
static int token_status = 200;   /* what /oauth_token.do answers */
static bool api_always_401;      /* the API refuses everything */
static int token_delay_ms = 200; /* so concurrent callers overlap */
static atomic_int busy_left;     /* API answers 429 Retry-After: 1 this many times */

struct upload {
	char body[4096];
	size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
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
	(void)method;
	struct upload *up = *con_cls;
	if (!up) {
		up = calloc(1, sizeof(*up));
		*con_cls = up;
		return up ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		size_t n = *data_size;
		if (up->len + n >= sizeof(up->body))
			n = sizeof(up->body) - up->len - 1;
		memcpy(up->body + up->len, data, n);
		up->len += n;
		*data_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/oauth_token.do")) {
		atomic_fetch_add(&token_hits, 1);
		usleep((useconds_t)token_delay_ms * 1000);
		pthread_mutex_lock(&srv_lock);
		const char *g = strstr(up->body, "grant_type=");
		snprintf(last_grant, sizeof(last_grant), "%.*s", g ? (int)strcspn(g + 11, "&") : 0,
		         g ? g + 11 : "");
		int status = token_status;
		char body[256];
		if (status == 200) {
			snprintf(current, sizeof(current), "tok-%d", atomic_load(&token_hits));
			bool cc = !strcmp(last_grant, "client_credentials");
			snprintf(body, sizeof(body),
			         "{\"scope\":\"useraccount\",\"token_type\":\"Bearer\",\"expires_"
			         "in\":1799,"
			         "%s\"access_token\":\"%s\"}",
			         cc ? "" : "\"refresh_token\":\"refresh-1\",", current);
		} else {
			snprintf(
			    body, sizeof(body),
			    "{\"error_description\":\"access_denied\",\"error\":\"server_error\"}");
		}
		pthread_mutex_unlock(&srv_lock);
		return answer(conn, (unsigned)status, body);
	}
	atomic_fetch_add(&api_hits, 1);
	if (atomic_load(&busy_left) > 0) {
		atomic_fetch_sub(&busy_left, 1);
		static const char busy[] = "{\"error\":{\"message\":\"Rate limit exceeded\"},"
		                           "\"status\":\"failure\"}";
		struct MHD_Response *r = MHD_create_response_from_buffer(strlen(busy), (void *)busy,
		                                                         MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Retry-After", "1");
		enum MHD_Result ret = MHD_queue_response(conn, 429, r);
		MHD_destroy_response(r);
		return ret;
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	pthread_mutex_lock(&srv_lock);
	bool ok = !api_always_401 && auth && !strncmp(auth, "Bearer ", 7) && current[0] &&
	          !strcmp(auth + 7, current);
	pthread_mutex_unlock(&srv_lock);
	if (!ok)
		return answer(conn, 401,
		              "{\"error\":{\"message\":\"User Not Authenticated\",\"detail\":"
		              "\"Required to provide Auth information\"},\"status\":\"failure\"}");
	return answer(conn, 200, "{\"result\":[]}");
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

static char tmpdir[128];

static int setup(void **state)
{
	(void)state;
	sg_log_set_level(SG_LOG_ERROR);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                           0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	                           MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (!daemon_)
		return -1;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)di->port);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ns-unit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	MHD_stop_daemon(daemon_);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void reset_server(void)
{
	atomic_store(&token_hits, 0);
	atomic_store(&api_hits, 0);
	current[0] = '\0';
	token_status = 200;
	api_always_401 = false;
	token_delay_ms = 200;
	atomic_store(&busy_left, 0);
}

static struct ns_conn *new_conn(enum ns_auth auth, struct ns_state *st, const char *name)
{
	struct ns_connection cfg = {0};
	cfg.name = strdup(name);
	cfg.instance = strdup(base);
	cfg.auth = auth;
	cfg.client_id = strdup("0123456789abcdef0123456789abcdef");
	cfg.client_secret = strdup("client-secret-value");
	if (auth == NS_AUTH_PASSWORD) {
		cfg.user = strdup("svc");
		cfg.password = strdup("user-password-value");
	}
	cfg.timeout_ms = 10000;
	struct ns_conn *c = ns_conn_new(&cfg, st);
	assert_non_null(c);
	return c;
}

/* ---- single flight ------------------------------------------------------------ */

#define NTHREADS 8

struct worker {
	struct ns_conn *c;
	char *token;
	bool ok;
};

static void *take_token(void *arg)
{
	struct worker *w = arg;
	struct sg_http_client *http = ns_conn_http(w->c, 1);
	unsigned long gen = 0;
	struct ns_error err;
	w->ok = http && ns_conn_token(w->c, http, 0, &w->token, &gen, &err);
	sg_http_client_free(http);
	return NULL;
}

static void test_single_flight(void **state)
{
	(void)state;
	reset_server();
	struct ns_conn *c = new_conn(NS_AUTH_PASSWORD, NULL, "sf");
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.c = c};
		assert_int_equal(pthread_create(&th[i], NULL, take_token, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	/* one token request for eight callers, and all eight have its token */
	assert_int_equal(atomic_load(&token_hits), 1);
	assert_int_equal(c->token_requests, 1);
	for (int i = 0; i < NTHREADS; i++) {
		assert_true(w[i].ok);
		assert_string_equal(w[i].token, "tok-1");
		free(w[i].token);
	}
	assert_string_equal(last_grant, "password");
	ns_conn_free(c);
}

/* A failed flight's error goes to everyone who waited for it. */
static void test_single_flight_failure(void **state)
{
	(void)state;
	reset_server();
	token_status = 401;
	struct ns_conn *c = new_conn(NS_AUTH_CLIENT_CREDENTIALS, NULL, "sff");
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.c = c};
		assert_int_equal(pthread_create(&th[i], NULL, take_token, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NTHREADS; i++)
		assert_false(w[i].ok);
	/* far fewer requests than callers: waiters take the flight's answer */
	assert_true(atomic_load(&token_hits) < NTHREADS);
	assert_true(atomic_load(&token_hits) >= 1);
	ns_conn_free(c);
}

/* ---- expiry and 401 ------------------------------------------------------------- */

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static void test_refresh_before_expiry(void **state)
{
	(void)state;
	reset_server();
	token_delay_ms = 0;
	fake_now = 1700000000;
	sg_time_set_clock(fake_clock);
	struct ns_conn *c = new_conn(NS_AUTH_PASSWORD, NULL, "exp");
	struct sg_http_client *http = ns_conn_http(c, 1);
	char *tok = NULL;
	unsigned long gen = 0;
	struct ns_error err;
	assert_true(ns_conn_token(c, http, 0, &tok, &gen, &err));
	free(tok);
	assert_int_equal(atomic_load(&token_hits), 1);
	/* well within the lifespan: the cached token */
	fake_now += 1799 - NS_TOKEN_SKEW_S - 1;
	assert_true(ns_conn_token(c, http, 0, &tok, &gen, &err));
	assert_string_equal(tok, "tok-1");
	free(tok);
	assert_int_equal(atomic_load(&token_hits), 1);
	/* inside the skew: a new one, by the refresh grant */
	fake_now += 2;
	assert_true(ns_conn_token(c, http, 0, &tok, &gen, &err));
	assert_string_equal(tok, "tok-2");
	free(tok);
	assert_string_equal(last_grant, "refresh_token");
	sg_time_set_clock(NULL);
	sg_http_client_free(http);
	ns_conn_free(c);
}

static void test_401_refreshes_once(void **state)
{
	(void)state;
	reset_server();
	token_delay_ms = 0;
	struct ns_conn *c = new_conn(NS_AUTH_CLIENT_CREDENTIALS, NULL, "r401");
	struct sg_http_client *http = ns_conn_http(c, 1);
	struct sg_http_response r;
	struct ns_error err;
	sg_http_response_init(&r);
	assert_true(ns_conn_request(c, http, "GET", "/api/now/table/incident", NULL, &r, &err));
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&token_hits), 1);
	/* the instance revokes the token: one 401, a new token, the request again */
	pthread_mutex_lock(&srv_lock);
	snprintf(current, sizeof(current), "revoked-elsewhere");
	pthread_mutex_unlock(&srv_lock);
	assert_true(ns_conn_request(c, http, "GET", "/api/now/table/incident", NULL, &r, &err));
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&token_hits), 2);
	/* client credentials: no refresh token, so the grant itself again */
	assert_string_equal(last_grant, "client_credentials");
	/* refused even with a new token: a clear error after exactly two tries */
	api_always_401 = true;
	int api_before = atomic_load(&api_hits);
	assert_false(ns_conn_request(c, http, "GET", "/api/now/table/incident", NULL, &r, &err));
	assert_int_equal(err.fail, NS_FAIL_AUTH);
	assert_non_null(strstr(err.msg, "even with a new token"));
	assert_int_equal(atomic_load(&api_hits) - api_before, 2);
	assert_int_equal(atomic_load(&token_hits), 3);
	sg_http_response_cleanup(&r);
	sg_http_client_free(http);
	ns_conn_free(c);
}

/* A 429 is retried by the connection's client after its Retry-After, with
 * the same token: the caller sees the answer that finally came. */
static void test_429_retry_after(void **state)
{
	(void)state;
	reset_server();
	token_delay_ms = 0;
	struct ns_conn *c = new_conn(NS_AUTH_CLIENT_CREDENTIALS, NULL, "busy");
	struct sg_http_client *http = ns_conn_http(c, 3);
	struct sg_http_response r;
	struct ns_error err;
	sg_http_response_init(&r);
	atomic_store(&busy_left, 1);
	assert_true(ns_conn_request(c, http, "GET", "/api/now/table/incident", NULL, &r, &err));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.attempts, 2);
	assert_true(r.waited_ms >= 1000);
	assert_int_equal(atomic_load(&token_hits), 1);
	/* more 429s than attempts: the last answer, 429, for the caller's policy */
	atomic_store(&busy_left, 5);
	assert_true(ns_conn_request(c, http, "GET", "/api/now/table/incident", NULL, &r, &err));
	assert_int_equal(r.status, 429);
	assert_string_equal(sg_http_response_header(&r, "Retry-After"), "1");
	sg_http_response_cleanup(&r);
	sg_http_client_free(http);
	ns_conn_free(c);
}

/* ---- the state ------------------------------------------------------------------- */

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (!memcmp(buf + i, needle, k))
			return true;
	return false;
}

static void test_state_roundtrip(void **state)
{
	(void)state;
	reset_server();
	token_delay_ms = 0;
	char dir[256], msg[512], path[320];
	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	struct ns_state *st = NULL;
	unsetenv(NS_KEY_ENV);
	assert_int_equal(ns_state_open(dir, &st, msg, sizeof(msg)), SG_ERR_OK);
	struct ns_connection cfg = {0};
	cfg.name = strdup("one");
	cfg.instance = strdup(base);
	cfg.auth = NS_AUTH_PASSWORD;
	cfg.client_id = strdup("cid");
	cfg.user = strdup("svc");
	cfg.client_secret = strdup("the-client-secret");
	cfg.password = strdup("the-user-password");
	cfg.timeout_ms = 5000;
	assert_int_equal(ns_state_add(st, &cfg), SG_ERR_OK);
	assert_int_not_equal(ns_state_add(st, &cfg), SG_ERR_OK); /* the name is taken */
	ns_connection_clear(&cfg);
	/* a token fetched on the connection is saved, sealed */
	struct ns_connection got;
	assert_int_equal(ns_state_get(st, "one", &got), SG_ERR_OK);
	struct ns_conn *c = ns_conn_new(&got, st);
	struct sg_http_client *http = ns_conn_http(c, 1);
	char *tok = NULL;
	unsigned long gen;
	struct ns_error err;
	assert_true(ns_conn_token(c, http, 0, &tok, &gen, &err));
	sg_http_client_free(http);
	ns_conn_free(c);
	ns_state_close(st);
	/* reopened (the schema already there): secrets and token come back */
	assert_int_equal(ns_state_open(dir, &st, msg, sizeof(msg)), SG_ERR_OK);
	assert_int_equal(ns_state_get(st, "one", &got), SG_ERR_OK);
	assert_string_equal(got.client_secret, "the-client-secret");
	assert_string_equal(got.password, "the-user-password");
	assert_string_equal(got.access_token, tok);
	assert_string_equal(got.refresh_token, "refresh-1");
	assert_true(got.access_expires > sg_time_now());
	ns_connection_clear(&got);
	/* never in clear in the database; the key file 0600 */
	snprintf(path, sizeof(path), "%s/nowsync.db", dir);
	assert_false(file_contains(path, "the-client-secret"));
	assert_false(file_contains(path, "the-user-password"));
	assert_false(file_contains(path, tok));
	assert_true(file_contains(path, SG_SECRET_PREFIX));
	free(tok);
	snprintf(path, sizeof(path), "%s/keys/nowsync.key", dir);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, SG_SECRET_KEY_LEN);
	/* another key: the secrets do not open */
	ns_state_close(st);
	setenv(NS_KEY_ENV, "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", 1);
	assert_int_equal(ns_state_open(dir, &st, msg, sizeof(msg)), SG_ERR_OK);
	assert_int_not_equal(ns_state_get(st, "one", &got), SG_ERR_OK);
	unsetenv(NS_KEY_ENV);
	assert_int_equal(ns_state_remove(st, "one"), SG_ERR_OK);
	assert_int_equal(ns_state_remove(st, "one"), SG_ERR_NO_RECORD);
	ns_state_close(st);
	/* a key file others can read is refused */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_not_equal(ns_state_open(dir, &st, msg, sizeof(msg)), SG_ERR_OK);
	assert_non_null(strstr(msg, "readable by others"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_flight),
	    cmocka_unit_test(test_single_flight_failure),
	    cmocka_unit_test(test_refresh_before_expiry),
	    cmocka_unit_test(test_401_refreshes_once),
	    cmocka_unit_test(test_429_retry_after),
	    cmocka_unit_test(test_state_roundtrip),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
