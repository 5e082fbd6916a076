/*
 * Unit tests for the durable outbound queue (outbound/queue.c): enqueue and
 * delivery to a real libmicrohttpd receiver on 127.0.0.1, order per key,
 * the backoff and its jitter bounds, Retry-After, dead letters and an
 * admin's retry, lease expiry.  Time is a fake clock, so backoffs and
 * leases pass at once.
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
#include <sodium.h>
#include <sys/socket.h>

#include "../model/fixture.h"
#include "auth/secret.h"
#include "core/json.h"
#include "outbound/queue.h"

/* ---- the receiver -------------------------------------------------------- */

static struct MHD_Daemon *daemon_;
static char base[64];
static atomic_int down;       /* /flaky answers 503 while set */
static atomic_int bad_status; /* /bad's status */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen[64][64]; /* bodies received by /ok and /flaky, in order */
static int nseen;
static char seen_id[64], seen_auth[256], seen_custom[64];

struct upload {
	char body[256];
	size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body,
                              const char *h1, const char *v1)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (h1)
		MHD_add_response_header(r, h1, v1);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
	(void)cls, (void)method, (void)version;
	struct upload *up = *con_cls;
	if (!up) {
		up = calloc(1, sizeof(*up));
		*con_cls = up;
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
	if (!strcmp(url, "/flaky") && atomic_load(&down))
		return answer(conn, 503, "down", NULL, NULL);
	if (!strcmp(url, "/ok") || !strcmp(url, "/flaky")) {
		const char *id =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, SG_OUTQ_DELIVERY_HEADER);
		const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		const char *c = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Custom");
		pthread_mutex_lock(&seen_lock);
		if (nseen < 64)
			snprintf(seen[nseen++], sizeof(seen[0]), "%.63s", up->body);
		snprintf(seen_id, sizeof(seen_id), "%s", id ? id : "");
		snprintf(seen_auth, sizeof(seen_auth), "%s", a ? a : "");
		snprintf(seen_custom, sizeof(seen_custom), "%s", c ? c : "");
		pthread_mutex_unlock(&seen_lock);
		return answer(conn, 201, "{\"ok\":true}", "X-Answer", "yes");
	}
	if (!strcmp(url, "/ra"))
		return answer(conn, 429, "slow down", "Retry-After", "120");
	if (!strcmp(url, "/bad"))
		return answer(conn, (unsigned)atomic_load(&bad_status), "bad request", NULL, NULL);
	return answer(conn, 404, "no", NULL, NULL);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

static int start_server(void)
{
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

/* ---- fixture ------------------------------------------------------------- */

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static int setup(void **state)
{
	sg_time_set_clock(NULL);
	if (fixture_setup(state) || start_server())
		return -1;
	struct fixture *f = *state;
	if (sg_outq_prepare(&f->ctx) || sg_outq_add_rules(f->model))
		return -1;
	fake_now = 1900000000;
	sg_time_set_clock(fake_clock);
	atomic_store(&down, 0);
	atomic_store(&bad_status, 400);
	nseen = 0;
	return 0;
}

static int teardown(void **state)
{
	sg_time_set_clock(NULL);
	MHD_stop_daemon(daemon_);
	return fixture_teardown(state);
}

static void enqueue(struct fixture *f, const char *path, const char *body, const char *key,
                    char id[SG_ID_LEN + 1])
{
	char url[128];
	snprintf(url, sizeof(url), "%s%s", base, path);
	struct sg_kv h[] = {{"Content-Type", "text/plain"}, {"X-Custom", "custom-1"}};
	struct sg_out_request req = {.method = "POST",
	                             .url = url,
	                             .headers = h,
	                             .n_headers = 2,
	                             .body = body,
	                             .body_len = strlen(body),
	                             .timeout_ms = 5000};
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, key, id), SG_ERR_OK);
}

static enum sg_outq_state state_of(struct fixture *f, const char *id, int *status)
{
	struct sg_outq_result r;
	assert_int_equal(sg_outq_result(&f->ctx, id, &r), SG_ERR_OK);
	if (status)
		*status = r.status;
	enum sg_outq_state s = r.state;
	sg_outq_result_free(&r);
	return s;
}

static bool run(struct fixture *f)
{
	bool ran = false;
	assert_int_equal(sg_outq_run_one(f->model, "w", &ran), SG_ERR_OK);
	return ran;
}

static int64_t next_attempt(struct fixture *f, const char *id)
{
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, SG_OUTQ_TABLE, id, &rec), SG_ERR_OK);
	int64_t t = 0;
	assert_true(sg_time_parse(sg_json_str(rec, "next_attempt"), &t));
	json_decref(rec);
	return t;
}

static void set_prop(struct fixture *f, const char *name, const char *value)
{
	assert_int_equal(sg_prop_set(&f->ctx, name, value), SG_ERR_OK);
}

static int first_col(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(ud, 512, "%s", vals[0]);
	return 1;
}

/* ---- tests --------------------------------------------------------------- */

static void test_delivers_with_id_headers_and_answer(void **state)
{
	struct fixture *f = *state;
	char url[128], id[SG_ID_LEN + 1];
	snprintf(url, sizeof(url), "%s/ok", base);
	struct sg_kv h[] = {{"X-Custom", "custom-1"}};
	struct sg_out_request req = {.method = "POST",
	                             .url = url,
	                             .headers = h,
	                             .n_headers = 1,
	                             .body = "hello",
	                             .body_len = 5,
	                             .auth = SG_OUT_AUTH_BASIC,
	                             .basic_user = "bob",
	                             .basic_password = "s3cret-pw"};
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, id), SG_ERR_OK);
	/* the ad hoc password is stored sealed, never clear */
	char stored[512] = "";
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, SG_OUTQ_TABLE, id, &rec), SG_ERR_OK);
	const char *shown = sg_json_str(rec, "basic_password");
	assert_true(!shown || !strstr(shown, "s3cret"));
	assert_string_equal(sg_json_str(rec, "state"), "ready");
	assert_string_equal(sg_json_str(rec, "queue"), "output");
	json_decref(rec);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"basic_password\" FROM \"ecc_queue\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	assert_int_equal(sg_conn_exec(f->ctx.conn, &q, first_col, stored, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_true(sg_secret_is_sealed(stored));
	assert_null(strstr(stored, "s3cret"));

	assert_int_equal(state_of(f, id, NULL), SG_OUTQ_READY);
	assert_true(run(f));
	assert_false(run(f));
	struct sg_outq_result r;
	assert_int_equal(sg_outq_result(&f->ctx, id, &r), SG_ERR_OK);
	assert_int_equal(r.state, SG_OUTQ_DONE);
	assert_int_equal(r.status, 201);
	assert_int_equal(r.attempts, 1);
	assert_string_equal(r.body, "{\"ok\":true}");
	assert_string_equal(json_string_value(json_object_get(r.headers, "X-Answer")), "yes");
	assert_string_equal(r.error, "");
	sg_outq_result_free(&r);
	assert_int_equal(nseen, 1);
	assert_string_equal(seen[0], "hello");
	assert_string_equal(seen_id, id);
	assert_string_equal(seen_custom, "custom-1");
	assert_string_equal(seen_auth, "Basic Ym9iOnMzY3JldC1wdw=="); /* bob:s3cret-pw */
	assert_int_equal(sg_outq_result(&f->ctx, "0123456789abcdef0123456789abcdef", &r),
	                 SG_ERR_NO_RECORD);
}

static void test_bad_requests_are_refused(void **state)
{
	struct fixture *f = *state;
	struct sg_out_request req = {.method = "FETCH", .url = "http://x/"};
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, NULL), SG_ERR_BAD_PARAM);
	req.method = "GET";
	req.url = "ftp://x/";
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, NULL), SG_ERR_BAD_PARAM);
	req.url = "http://x/";
	req.body = "a\0b";
	req.body_len = 3;
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, NULL), SG_ERR_BAD_PARAM);
	set_prop(f, "snowglobe.outbound.request_body_max", "2");
	req.body = "abc";
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, NULL), SG_ERR_BAD_PARAM);
	set_prop(f, "snowglobe.outbound.max_queued", "1");
	req.body = NULL;
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, NULL), SG_ERR_OK);
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, NULL), SG_ERR_BAD_PARAM);
	assert_int_equal(fixture_count(f, SG_OUTQ_TABLE, "state=ready"), 1);
}

static void test_order_per_key(void **state)
{
	struct fixture *f = *state;
	char a1[SG_ID_LEN + 1], a2[SG_ID_LEN + 1], a3[SG_ID_LEN + 1], b1[SG_ID_LEN + 1];
	enqueue(f, "/flaky", "a1", "incident/1", a1);
	enqueue(f, "/flaky", "a2", "incident/1", a2);
	enqueue(f, "/ok", "b1", "incident/2", b1);
	enqueue(f, "/flaky", "a3", "incident/1", a3);
	/* one row of a key in flight at a time */
	struct sg_outq_item x, y, z;
	bool got;
	assert_int_equal(sg_outq_claim(&f->ctx, "w1", fake_now, 60, &x, &got), SG_ERR_OK);
	assert_true(got);
	assert_string_equal(x.sys_id, a1);
	assert_int_equal(sg_outq_claim(&f->ctx, "w2", fake_now, 60, &y, &got), SG_ERR_OK);
	assert_true(got);
	assert_string_equal(y.sys_id, b1);
	assert_int_equal(sg_outq_claim(&f->ctx, "w3", fake_now, 60, &z, &got), SG_ERR_OK);
	assert_false(got);
	sg_outq_item_cleanup(&y);
	sg_outq_item_cleanup(&x);
	/* the lease passes (a worker died): a1 again, first */
	fake_now += 61;
	assert_int_equal(sg_outq_claim(&f->ctx, "w3", fake_now, 60, &z, &got), SG_ERR_OK);
	assert_true(got);
	assert_string_equal(z.sys_id, a1);
	sg_outq_item_cleanup(&z);
	fake_now += 61;
	/* the receiver is down: a1 backs off and a2 waits behind it */
	atomic_store(&down, 1);
	set_prop(f, "snowglobe.outbound.backoff_base_ms", "1000");
	set_prop(f, "snowglobe.outbound.backoff_max_ms", "1000");
	assert_true(run(f)); /* a1 (or b1) */
	assert_true(run(f));
	assert_int_equal(state_of(f, b1, NULL), SG_OUTQ_DONE);
	assert_int_equal(state_of(f, a1, NULL), SG_OUTQ_READY);
	assert_false(run(f)); /* a2 is not taken before a1 */
	assert_int_equal(state_of(f, a2, NULL), SG_OUTQ_READY);
	atomic_store(&down, 0);
	fake_now += 2;
	while (run(f))
		;
	assert_int_equal(state_of(f, a1, NULL), SG_OUTQ_DONE);
	assert_int_equal(state_of(f, a2, NULL), SG_OUTQ_DONE);
	assert_int_equal(state_of(f, a3, NULL), SG_OUTQ_DONE);
	/* what the receiver got, in order per key: a1 < a2 < a3 */
	int pa1 = -1, pa2 = -1, pa3 = -1;
	for (int i = 0; i < nseen; i++) {
		if (!strcmp(seen[i], "a1") && pa1 < 0)
			pa1 = i;
		if (!strcmp(seen[i], "a2"))
			pa2 = i;
		if (!strcmp(seen[i], "a3"))
			pa3 = i;
	}
	assert_true(pa1 >= 0 && pa1 < pa2 && pa2 < pa3);
}

/* A row written through the record layer (the Table API) gets its place in
 * line, its topic and its due time from the insert rule. */
static void test_rows_inserted_as_records(void **state)
{
	struct fixture *f = *state;
	char a1[SG_ID_LEN + 1], a2[SG_ID_LEN + 1], url[128];
	enqueue(f, "/ok", "first", "key", a1);
	snprintf(url, sizeof(url), "%s/ok", base);
	json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s}", "http_method", "POST", "endpoint", url,
	                       "payload", "second", "has_body", "true", "order_key", "key");
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_insert(&f->ctx, SG_OUTQ_TABLE, in, &wo, a2), SG_ERR_OK);
	json_decref(in);
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, SG_OUTQ_TABLE, a2, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "sequence"), "2");
	assert_string_equal(sg_json_str(rec, "topic"), SG_OUTQ_TOPIC);
	assert_string_equal(sg_json_str(rec, "state"), "ready");
	assert_string_not_equal(sg_json_str(rec, "next_attempt"), "");
	json_decref(rec);
	assert_true(run(f));
	assert_true(run(f));
	assert_false(run(f));
	assert_int_equal(nseen, 2);
	assert_string_equal(seen[0], "first");
	assert_string_equal(seen[1], "second");
}

static uint32_t rnd_max(uint32_t upper)
{
	return upper - 1;
}

static uint32_t rnd_zero(uint32_t upper)
{
	(void)upper;
	return 0;
}

static void test_backoff_bounds(void **state)
{
	(void)state;
	assert_int_equal(sg_outq_backoff_ms(1, 2000, 600000, rnd_max), 2000);
	assert_int_equal(sg_outq_backoff_ms(2, 2000, 600000, rnd_max), 4000);
	assert_int_equal(sg_outq_backoff_ms(5, 2000, 600000, rnd_max), 32000);
	assert_int_equal(sg_outq_backoff_ms(9, 2000, 600000, rnd_max), 512000);
	assert_int_equal(sg_outq_backoff_ms(10, 2000, 600000, rnd_max), 600000);
	assert_int_equal(sg_outq_backoff_ms(1000, 2000, 600000, rnd_max), 600000);
	assert_int_equal(sg_outq_backoff_ms(7, 2000, 600000, rnd_zero), 0);
	/* the real draw: within [0, ceiling], and spread over it */
	long lo = 1 << 30, hi = 0;
	for (int i = 0; i < 2000; i++) {
		long d = sg_outq_backoff_ms(3, 1000, 600000, NULL);
		assert_true(d >= 0 && d <= 4000);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(lo < 1000 && hi > 3000);
	assert_true(sg_outq_status_retryable(429) && sg_outq_status_retryable(503) &&
	            sg_outq_status_retryable(408) && !sg_outq_status_retryable(400) &&
	            !sg_outq_status_retryable(404) && !sg_outq_status_retryable(301));
}

static void test_retry_after(void **state)
{
	struct fixture *f = *state;
	set_prop(f, "snowglobe.outbound.backoff_base_ms", "1000");
	set_prop(f, "snowglobe.outbound.backoff_max_ms", "1000");
	char id[SG_ID_LEN + 1];
	enqueue(f, "/ra", "x", NULL, id);
	int64_t t0 = fake_now;
	assert_true(run(f));
	int status;
	assert_int_equal(state_of(f, id, &status), SG_OUTQ_READY);
	assert_int_equal(status, 429);
	assert_int_equal(next_attempt(f, id), t0 + 120);
	/* capped by the property */
	set_prop(f, "snowglobe.outbound.max_retry_after_seconds", "30");
	fake_now = t0 + 120;
	assert_true(run(f));
	assert_int_equal(next_attempt(f, id), t0 + 120 + 30);
	struct sg_outq_result r;
	assert_int_equal(sg_outq_result(&f->ctx, id, &r), SG_ERR_OK);
	assert_int_equal(r.attempts, 2);
	assert_string_equal(r.error, "HTTP 429");
	sg_outq_result_free(&r);
}

static void test_dead_letters_and_retry(void **state)
{
	struct fixture *f = *state;
	char bad[SG_ID_LEN + 1], gone[SG_ID_LEN + 1], later[SG_ID_LEN + 1];
	/* a permanent 4xx is dead at once, its answer kept */
	enqueue(f, "/bad", "x", "k", bad);
	enqueue(f, "/ok", "after-bad", "k", later);
	assert_true(run(f));
	struct sg_outq_result r;
	assert_int_equal(sg_outq_result(&f->ctx, bad, &r), SG_ERR_OK);
	assert_int_equal(r.state, SG_OUTQ_DEAD);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body, "bad request");
	assert_string_equal(r.error, "HTTP 400");
	sg_outq_result_free(&r);
	/* a dead row releases the rows behind it */
	assert_true(run(f));
	assert_int_equal(state_of(f, later, NULL), SG_OUTQ_DONE);
	/* the admin's retry: delivered once the receiver accepts it */
	atomic_store(&bad_status, 200);
	assert_int_equal(sg_outq_retry(&f->ctx, bad), SG_ERR_OK);
	assert_int_equal(state_of(f, bad, NULL), SG_OUTQ_READY);
	assert_true(run(f));
	assert_int_equal(sg_outq_result(&f->ctx, bad, &r), SG_ERR_OK);
	assert_int_equal(r.state, SG_OUTQ_DONE);
	assert_int_equal(r.attempts, 1);
	sg_outq_result_free(&r);
	/* attempts spent: dead with the reason */
	set_prop(f, "snowglobe.outbound.max_attempts", "2");
	atomic_store(&down, 1);
	enqueue(f, "/flaky", "y", NULL, gone);
	assert_true(run(f));
	assert_int_equal(state_of(f, gone, NULL), SG_OUTQ_READY);
	fake_now += 3600;
	assert_true(run(f));
	assert_int_equal(sg_outq_result(&f->ctx, gone, &r), SG_ERR_OK);
	assert_int_equal(r.state, SG_OUTQ_DEAD);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.error, "gave up after 2 attempts: HTTP 503");
	sg_outq_result_free(&r);
	/* no answer at all is retried too */
	char nowhere[SG_ID_LEN + 1];
	struct sg_out_request req = {.method = "GET", .url = "http://127.0.0.1:1/"};
	assert_int_equal(sg_outq_enqueue(&f->ctx, &req, NULL, nowhere), SG_ERR_OK);
	assert_true(run(f));
	assert_int_equal(sg_outq_result(&f->ctx, nowhere, &r), SG_ERR_OK);
	assert_int_equal(r.state, SG_OUTQ_READY);
	assert_int_equal(r.status, 0);
	assert_string_not_equal(r.error, "");
	sg_outq_result_free(&r);
	/* purge */
	long long n = 0;
	assert_int_equal(sg_outq_purge(&f->ctx, SG_OUTQ_DEAD, fake_now + 1, &n), SG_ERR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(sg_outq_result(&f->ctx, gone, &r), SG_ERR_NO_RECORD);
}

static void test_lease_expiry(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	enqueue(f, "/ok", "leased", NULL, id);
	struct sg_outq_item a, b;
	bool got;
	assert_int_equal(sg_outq_claim(&f->ctx, "A", fake_now, 60, &a, &got), SG_ERR_OK);
	assert_true(got);
	assert_int_equal(state_of(f, id, NULL), SG_OUTQ_PROCESSING);
	fake_now += 30;
	assert_int_equal(sg_outq_claim(&f->ctx, "B", fake_now, 60, &b, &got), SG_ERR_OK);
	assert_false(got);
	fake_now += 31;
	assert_int_equal(sg_outq_claim(&f->ctx, "B", fake_now, 60, &b, &got), SG_ERR_OK);
	assert_true(got);
	assert_string_equal(b.sys_id, id);
	assert_int_equal(b.attempts, 2);
	/* A comes back late: its completion changes nothing */
	struct sg_http_response resp;
	sg_http_response_init(&resp);
	resp.status = 200;
	enum sg_outq_state st = SG_OUTQ_READY;
	assert_int_equal(
	    sg_outq_complete(&f->ctx, &a, fake_now, SG_OUT_ANSWERED, &resp, NULL, NULL, &st),
	    SG_ERR_OK);
	assert_int_equal(state_of(f, id, NULL), SG_OUTQ_PROCESSING);
	assert_int_equal(
	    sg_outq_complete(&f->ctx, &b, fake_now, SG_OUT_ANSWERED, &resp, NULL, NULL, &st),
	    SG_ERR_OK);
	assert_int_equal(st, SG_OUTQ_DONE);
	assert_int_equal(state_of(f, id, NULL), SG_OUTQ_DONE);
	sg_http_response_cleanup(&resp);
	sg_outq_item_cleanup(&a);
	sg_outq_item_cleanup(&b);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_delivers_with_id_headers_and_answer, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests_are_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order_per_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rows_inserted_as_records, setup, teardown),
	    cmocka_unit_test(test_backoff_bounds),
	    cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_letters_and_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
