/*
 * Unit tests for outbound OAuth's token logic (src/outbound/oauth.c): the
 * stored token while it is valid for more than the skew, a refresh by the
 * refresh token, the profile's grant otherwise, force after a 401, one
 * token request at a time per profile (two threads, one request reaches the
 * provider), and the provider's errors in words -- against a stand-in token
 * endpoint (libmicrohttpd on 127.0.0.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../model/fixture.h"
#include "auth/secret.h"
#include "core/json.h"
#include "outbound/oauth.h"
#include "outbound/oauth_flow.h"
#include "store/sql.h"
#include "store/store.h"

/* ---- the stand-in provider --------------------------------------------- */

static struct MHD_Daemon *daemon_;
static char base[64];
static atomic_int hits;              /* token requests */
static atomic_int expires_in = 3600; /* what the next token says */
static atomic_int give_refresh;      /* hand out a refresh token too */
static atomic_int refuse;            /* answer 400 invalid_client */
static atomic_int delay_ms;
static char last_grant[64];
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

struct upload {
	char body[4096];
	size_t len;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "content-type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
	(void)cls;
	(void)method;
	(void)version;
	struct upload *up = *con_cls;
	if (!up) {
		*con_cls = up = calloc(1, sizeof(*up));
		return up ? MHD_YES : MHD_NO;
	}
	if (*data_size) {
		size_t room = sizeof(up->body) - 1 - up->len;
		size_t n = *data_size < room ? *data_size : room;
		memcpy(up->body + up->len, data, n);
		up->len += n;
		*data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/token") != 0)
		return reply(conn, 404, "{}");
	int n = atomic_fetch_add(&hits, 1) + 1;
	const char *g = strstr(up->body, "grant_type=");
	pthread_mutex_lock(&seen_lock);
	snprintf(last_grant, sizeof(last_grant), "%.*s", g ? (int)strcspn(g + 11, "&") : 0,
	         g ? g + 11 : "");
	pthread_mutex_unlock(&seen_lock);
	if (atomic_load(&delay_ms))
		usleep((useconds_t)atomic_load(&delay_ms) * 1000);
	if (atomic_load(&refuse))
		return reply(conn, 400,
		             "{\"error\":\"invalid_client\",\"error_description\":\"Bad client\"}");
	char out[256];
	snprintf(out, sizeof(out),
	         "{\"access_token\":\"AT-%d\",\"token_type\":\"bearer\",\"expires_in\":%d%s}", n,
	         atomic_load(&expires_in),
	         atomic_load(&give_refresh) ? ",\"refresh_token\":\"RT\"" : "");
	return reply(conn, 200, out);
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

static char profile[SG_ID_LEN + 1], code_profile[SG_ID_LEN + 1];

static void add_provider(struct fixture *f, const char *name, const char *grant, char *pid)
{
	char url[128], id[SG_ID_LEN + 1];
	snprintf(url, sizeof(url), "%s/token", base);
	json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "type",
	                       "oauth_provider", "client_id", "cid", "client_secret",
	                       "Sup3r-secret", "token_url", url, "default_grant_type", grant);
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_insert(&f->ctx, "oauth_entity", in, &wo, id), SG_ERR_OK);
	json_decref(in);
	/* the default profile came with it; the provider's name finds it */
	assert_int_equal(sg_oauth_out_profile(&f->ctx, name, pid), SG_ERR_OK);
	char g[64];
	assert_int_equal(sg_oauth_out_grant_type(&f->ctx, pid, g, sizeof(g)), SG_ERR_OK);
	assert_string_equal(g, grant);
}

static int setup(void **state)
{
	if (fixture_setup(state))
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                           0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	                           MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (!daemon_)
		return -1;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)di->port);
	struct fixture *f = *state;
	add_provider(f, "Vendor", "client_credentials", profile);
	add_provider(f, "Browser vendor", "authorization_code", code_profile);
	return 0;
}

static int teardown(void **state)
{
	MHD_stop_daemon(daemon_);
	return fixture_teardown(state);
}

/* Forgets the profile's stored tokens and resets the stand-in. */
static void reset(struct fixture *f)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM \"oauth_credential\" WHERE \"oauth_requestor_profile\" <> ''");
	assert_int_equal(sg_conn_exec(f->ctx.conn, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	atomic_store(&hits, 0);
	atomic_store(&expires_in, 3600);
	atomic_store(&give_refresh, 0);
	atomic_store(&refuse, 0);
	atomic_store(&delay_ms, 0);
}

static void token(struct fixture *f, bool force, const char *want)
{
	char *t = NULL, msg[256];
	assert_int_equal(sg_oauth_out_token(&f->ctx, profile, force, &t, msg, sizeof(msg)),
	                 SG_ERR_OK);
	assert_string_equal(t, want);
	free(t);
}

static void stored_until_skew(void **state)
{
	struct fixture *f = *state;
	reset(f);
	token(f, false, "AT-1");
	token(f, false, "AT-1"); /* stored, valid: the provider is not asked */
	assert_int_equal(atomic_load(&hits), 1);
	token(f, true, "AT-2"); /* refused by the API: a new one, whatever its expiry */
	/* a token valid for less than the skew (60 s) is renewed before use */
	atomic_store(&expires_in, 30);
	token(f, true, "AT-3");
	token(f, false, "AT-4");
	assert_int_equal(atomic_load(&hits), 4);
	/* with a smaller skew, the same 30 s token is still good */
	assert_int_equal(sg_prop_set(&f->ctx, "glide.oauth.outbound.token.skew", "10"), SG_ERR_OK);
	token(f, false, "AT-4");
	assert_int_equal(sg_prop_set(&f->ctx, "glide.oauth.outbound.token.skew", "60"), SG_ERR_OK);
	/* what is stored is sealed under the instance key, never in clear */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"token_received\" FROM \"oauth_credential\" WHERE "
	               "\"oauth_requestor_profile\" = ");
	sg_sql_text(&q, profile);
	char *v = NULL;
	assert_int_equal(sg_conn_query_string(f->ctx.conn, &q, &v), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_true(sg_secret_is_sealed(v));
	assert_null(strstr(v, "AT-4"));
	char *clear = NULL;
	assert_int_equal(sg_secret_decrypt(&f->ctx, v, &clear), SG_ERR_OK);
	assert_string_equal(clear, "AT-4");
	free(clear);
	free(v);
}

static void refresh_token_first(void **state)
{
	struct fixture *f = *state;
	reset(f);
	atomic_store(&give_refresh, 1);
	token(f, false, "AT-1");
	assert_string_equal(last_grant, "client_credentials");
	token(f, true, "AT-2");
	assert_string_equal(last_grant, "refresh_token");
	/* the refresh token refused: dropped, and the profile's grant used */
	atomic_store(&give_refresh, 0);
	atomic_store(&refuse, 1);
	char *t = NULL, msg[256] = "";
	assert_int_equal(sg_oauth_out_token(&f->ctx, profile, true, &t, msg, sizeof(msg)),
	                 SG_ERR_OAUTH_DENIED);
	assert_null(t);
	assert_non_null(strstr(msg, "invalid_client"));
	assert_non_null(strstr(msg, "Bad client"));
	assert_null(strstr(msg, "Sup3r-secret"));
	atomic_store(&refuse, 0);
	token(f, true, "AT-5");
	assert_string_equal(last_grant, "client_credentials");
}

struct racer {
	struct sg_model *m;
	char *token;
	sg_err err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct sg_ctx ctx;
	r->err = sg_ctx_begin(&ctx, r->m, NULL);
	if (!r->err) {
		char msg[256];
		r->err = sg_oauth_out_token(&ctx, profile, false, &r->token, msg, sizeof(msg));
		sg_ctx_end(&ctx);
	}
	return NULL;
}

static void one_request_at_a_time(void **state)
{
	struct fixture *f = *state;
	reset(f);
	atomic_store(&delay_ms, 300); /* both threads are waiting while the first asks */
	struct racer a = {f->model, NULL, SG_ERR_OK}, b = {f->model, NULL, SG_ERR_OK};
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.err, SG_ERR_OK);
	assert_int_equal(b.err, SG_ERR_OK);
	assert_int_equal(atomic_load(&hits), 1);
	assert_string_equal(a.token, "AT-1");
	assert_string_equal(b.token, "AT-1");
	free(a.token);
	free(b.token);
}

static void refusals_in_words(void **state)
{
	struct fixture *f = *state;
	reset(f);
	char *t = NULL, msg[256] = "";
	assert_int_equal(sg_oauth_out_token(&f->ctx, "0123456789abcdef0123456789abcdef", false, &t,
	                                    msg, sizeof(msg)),
	                 SG_ERR_NO_RECORD);
	/* authorization_code needs a person first */
	assert_int_equal(sg_oauth_out_token(&f->ctx, code_profile, false, &t, msg, sizeof(msg)),
	                 SG_ERR_OAUTH_DENIED);
	assert_non_null(strstr(msg, "Get OAuth Token"));
	assert_int_equal(atomic_load(&hits), 0);
	/* an unreachable provider */
	MHD_stop_daemon(daemon_);
	assert_int_equal(sg_oauth_out_token(&f->ctx, profile, false, &t, msg, sizeof(msg)),
	                 SG_ERR_INTERNAL);
	assert_non_null(strstr(msg, "could not be reached"));
	assert_null(t);
	/* back on the same port: the providers' token URLs name it */
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)atoi(strrchr(base, ':') + 1))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
	                           0, NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	                           MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
	                           MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	assert_non_null(daemon_);
}

static void authorize_url_and_state(void **state)
{
	struct fixture *f = *state;
	char *url = NULL, msg[256] = "";
	/* no auth URL on this provider: said so */
	assert_int_equal(sg_oauth_out_authorize_url(&f->ctx, code_profile, NULL,
	                                            "https://inst.example/", &url, msg,
	                                            sizeof(msg)),
	                 SG_ERR_BAD_PARAM);
	assert_non_null(strstr(msg, "Authorization URL"));
	json_t *in = json_pack("{s:s, s:s}", "auth_url", "https://idp.example/authorize?x=1",
	                       "code_challenge_method", "S256");
	char pid_entity[SG_ID_LEN + 1];
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"oauth_entity\" WHERE \"name\" = 'Browser vendor'");
	char *id = NULL;
	assert_int_equal(sg_conn_query_string(f->ctx.conn, &q, &id), SG_ERR_OK);
	sg_sql_cleanup(&q);
	snprintf(pid_entity, sizeof(pid_entity), "%s", id);
	free(id);
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_update(&f->ctx, "oauth_entity", pid_entity, in, &wo), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(sg_oauth_out_authorize_url(&f->ctx, code_profile, NULL,
	                                            "https://inst.example/", &url, msg,
	                                            sizeof(msg)),
	                 SG_ERR_OK);
	assert_non_null(strstr(url, "https://idp.example/authorize?x=1&response_type=code"));
	assert_non_null(strstr(url, "redirect_uri=https%3A%2F%2Finst.example%2Foauth_redirect.do"));
	assert_non_null(strstr(url, "&code_challenge_method=S256"));
	const char *s = strstr(url, "&state=");
	assert_non_null(s);
	char st[128];
	snprintf(st, sizeof(st), "%.*s", (int)strcspn(s + 7, "&"), s + 7);
	free(url);
	/* an unknown state is refused; the right one is used up even when the exchange fails */
	char name[64];
	assert_int_equal(
	    sg_oauth_out_redirect(&f->ctx, "nope", "c", name, sizeof(name), msg, sizeof(msg)),
	    SG_ERR_OAUTH_DENIED);
	atomic_store(&refuse, 1);
	assert_int_equal(
	    sg_oauth_out_redirect(&f->ctx, st, "c", name, sizeof(name), msg, sizeof(msg)),
	    SG_ERR_OAUTH_DENIED);
	assert_non_null(strstr(msg, "invalid_client"));
	assert_string_equal(last_grant, "authorization_code");
	atomic_store(&refuse, 0);
	assert_int_equal(
	    sg_oauth_out_redirect(&f->ctx, st, "c", name, sizeof(name), msg, sizeof(msg)),
	    SG_ERR_OAUTH_DENIED);
	assert_non_null(strstr(msg, "used already"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stored_until_skew),       cmocka_unit_test(refresh_token_first),
	    cmocka_unit_test(one_request_at_a_time),   cmocka_unit_test(refusals_in_words),
	    cmocka_unit_test(authorize_url_and_state),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
