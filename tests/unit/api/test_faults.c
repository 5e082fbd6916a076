/*
 * Unit tests for issue 18, item 3: fault rules - their parsing, the path
 * glob, the seeded generator, and matching (stage, keys, count, window,
 * probability that replays).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/faults.h"

#define NOW 1700000000LL

static struct sg_fault_rule parse_ok(const char *text)
{
	json_t *in = json_loads(text, 0, NULL);
	assert_non_null(in);
	struct sg_fault_rule r;
	const char *why = "unset";
	assert_int_equal(sg_fault_rule_parse(in, NOW, &r, &why), SG_ERR_OK);
	assert_null(why);
	json_decref(in);
	return r;
}

static const char *parse_bad(const char *text)
{
	json_t *in = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(in);
	struct sg_fault_rule r;
	const char *why = NULL;
	assert_int_equal(sg_fault_rule_parse(in, NOW, &r, &why), SG_ERR_BAD_PARAM);
	assert_non_null(why);
	json_decref(in);
	return why;
}

static void test_parse(void **state)
{
	(void)state;
	struct sg_fault_rule r = parse_ok("{\"effect\":\"error_503\"}");
	assert_int_equal(r.effect, SG_FAULT_ERROR_503);
	assert_true(r.probability == 1.0);
	assert_true(r.rl_headers);
	assert_int_equal(r.rate, 100);
	assert_int_equal(r.count, 0);
	assert_int_equal(r.from, 0);
	assert_int_equal(r.until, 0);

	r = parse_ok("{\"effect\":\"rate_limit\",\"method\":\"patch\",\"path\":\"/api/*\","
	             "\"table\":\"incident\",\"user\":\"bob\",\"client_id\":\"abc\","
	             "\"probability\":0.25,\"seed\":\"12\",\"count\":3,\"for\":60,"
	             "\"latency_ms\":250,\"rate_limit_headers\":false,\"rate\":5}");
	assert_string_equal(r.method, "PATCH");
	assert_string_equal(r.path, "/api/*");
	assert_string_equal(r.table, "incident");
	assert_string_equal(r.user, "bob");
	assert_string_equal(r.client_id, "abc");
	assert_true(r.probability == 0.25);
	assert_int_equal(r.seed, 12);
	assert_int_equal(r.rng, 12);
	assert_int_equal(r.count, 3);
	assert_int_equal(r.from, NOW);
	assert_int_equal(r.until, NOW + 60);
	assert_int_equal(r.latency_ms, 250);
	assert_false(r.rl_headers);
	assert_int_equal(r.rate, 5);

	r = parse_ok(
	    "{\"effect\":\"close\",\"from\":\"2024-01-01 00:00:00\",\"until\":1704070800}");
	assert_int_equal(r.from, 1704067200);
	assert_int_equal(r.until, 1704070800);
	r = parse_ok("{\"effect\":\"expire_tokens\",\"refresh_tokens\":true}");
	assert_true(r.refresh_tokens);

	assert_non_null(strstr(parse_bad("[]"), "JSON object"));
	assert_non_null(strstr(parse_bad("{}"), "effect must be"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"boom\"}"), "effect must be"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"x\":1}"), "Unknown field"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"method\":\"G-T\"}"), "method"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"method\":7}"), "method"));
	assert_non_null(
	    strstr(parse_bad("{\"effect\":\"close\",\"probability\":1.5}"), "probability"));
	assert_non_null(
	    strstr(parse_bad("{\"effect\":\"close\",\"probability\":\"1\"}"), "probability"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"seed\":-1}"), "seed"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"count\":1.5}"), "count"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"latency\"}"), "latency_ms"));
	assert_non_null(
	    strstr(parse_bad("{\"effect\":\"latency\",\"latency_ms\":30001}"), "latency_ms"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"for\":0}"), "for"));
	assert_non_null(
	    strstr(parse_bad("{\"effect\":\"close\",\"for\":5,\"until\":9}"), "either"));
	assert_non_null(
	    strstr(parse_bad("{\"effect\":\"close\",\"from\":10,\"until\":9}"), "after from"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"from\":\"soon-ish\"}"), "from"));
	assert_non_null(
	    strstr(parse_bad("{\"effect\":\"close\",\"refresh_tokens\":1}"), "true or false"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"token_refused\",\"user\":\"a\"}"), "path"));
	assert_non_null(strstr(parse_bad("{\"effect\":\"close\",\"rate\":0}"), "rate"));
	char big[400];
	snprintf(big, sizeof(big), "{\"effect\":\"close\",\"table\":\"%0*d\"}", 81, 0);
	assert_non_null(strstr(parse_bad(big), "table"));
}

static void test_json(void **state)
{
	(void)state;
	struct sg_fault_rule r = parse_ok("{\"effect\":\"hibernate\",\"for\":10,\"seed\":3}");
	r.id = 7;
	r.fired = 2;
	json_t *o = sg_fault_rule_json(&r);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "7");
	assert_string_equal(json_string_value(json_object_get(o, "effect")), "hibernate");
	assert_int_equal(json_integer_value(json_object_get(o, "seed")), 3);
	assert_int_equal(json_integer_value(json_object_get(o, "fired")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "from")), "2023-11-14 22:13:20");
	assert_string_equal(json_string_value(json_object_get(o, "until")), "2023-11-14 22:13:30");
	json_decref(o);
	for (int e = 0; e < SG_FAULT_NEFFECTS; e++)
		assert_int_equal(
		    sg_fault_effect_parse(sg_fault_effect_name((enum sg_fault_effect)e)), e);
	assert_int_equal(sg_fault_effect_parse(NULL), -1);
}

static void test_glob(void **state)
{
	(void)state;
	assert_true(sg_fault_glob("", ""));
	assert_false(sg_fault_glob("", "/x"));
	assert_true(sg_fault_glob("*", ""));
	assert_true(sg_fault_glob("*", "/api/now/table/incident"));
	assert_true(sg_fault_glob("/api/now/table/*", "/api/now/table/incident"));
	assert_false(sg_fault_glob("/api/now/table/*", "/api/now/v2/table/incident"));
	assert_true(sg_fault_glob("/api/now/*table/*", "/api/now/v2/table/incident"));
	assert_true(sg_fault_glob("/api/now/table/inc?dent", "/api/now/table/incident"));
	assert_false(sg_fault_glob("/api/now/table/inc?dent", "/api/now/table/incdent"));
	assert_true(sg_fault_glob("*/incident", "/api/now/table/incident"));
	assert_false(sg_fault_glob("*/incident", "/api/now/table/incident/x"));
	assert_true(sg_fault_glob("/a*b*c", "/aXXbYYbZc"));
	assert_false(sg_fault_glob("/a*b*c", "/aXXbYYbZ"));
	assert_true(sg_fault_glob("/oauth_token.do", "/oauth_token.do"));
	/* many stars and a long miss: no exponential blow-up */
	char path[4096];
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_false(sg_fault_glob("*a*a*a*a*a*a*a*a*b", path));
}

static void test_draw(void **state)
{
	(void)state;
	uint64_t a = 42, b = 42, c = 43;
	int same = 0, below = 0;
	for (int i = 0; i < 1000; i++) {
		double x = sg_fault_draw(&a), y = sg_fault_draw(&b), z = sg_fault_draw(&c);
		assert_true(x >= 0 && x < 1);
		assert_true(x == y);
		same += x == z;
		below += x < 0.5;
	}
	assert_true(same < 5);
	assert_in_range(below, 400, 600);
}

static unsigned add(const char *text)
{
	struct sg_fault_rule r = parse_ok(text), out;
	assert_int_equal(sg_faults_add(&r, &out), SG_ERR_OK);
	assert_int_equal(out.matched, 0);
	return out.id;
}

static struct sg_fault_view view(const char *method, const char *path, const char *table)
{
	struct sg_fault_view v = {.method = method, .path = path, .table = table, .now = NOW};
	return v;
}

static bool fires(const struct sg_fault_view *v, enum sg_fault_effect *e)
{
	struct sg_fault_hit hit;
	sg_faults_match(v, &hit);
	if (e)
		*e = hit.rule.effect;
	return hit.fired;
}

static void test_match_keys(void **state)
{
	(void)state;
	sg_faults_clear();
	add("{\"effect\":\"error_500\",\"method\":\"POST\",\"table\":\"problem\"}");
	struct sg_fault_view v = view("GET", "/api/now/table/problem", "problem");
	assert_false(fires(&v, NULL));
	v.method = "POST";
	assert_true(fires(&v, NULL));
	v.table = "incident";
	assert_false(fires(&v, NULL));
	v.table = NULL;
	assert_false(fires(&v, NULL));

	/* user and client id: after authentication only */
	sg_faults_clear();
	add("{\"effect\":\"error_503\",\"user\":\"bob\"}");
	add("{\"effect\":\"rate_limit\",\"client_id\":\"cid\"}");
	v = view("GET", "/api/now/table/incident", "incident");
	assert_false(fires(&v, NULL));
	v.authenticated = true;
	assert_false(fires(&v, NULL));
	v.user = "bob";
	enum sg_fault_effect e;
	assert_true(fires(&v, &e));
	assert_int_equal(e, SG_FAULT_ERROR_503);
	v.user = "alice";
	v.client_id = "cid";
	assert_true(fires(&v, &e));
	assert_int_equal(e, SG_FAULT_RATE_LIMIT);
	v.authenticated = false;
	assert_false(fires(&v, NULL));

	/* token_refused: only the token endpoint */
	sg_faults_clear();
	add("{\"effect\":\"token_refused\"}");
	v = view("POST", "/api/now/table/incident", "incident");
	assert_false(fires(&v, NULL));
	v.path = "/oauth_token.do";
	assert_true(fires(&v, &e));
	assert_int_equal(e, SG_FAULT_TOKEN_REFUSED);
	sg_faults_clear();
}

static void test_match_count_window_latency(void **state)
{
	(void)state;
	sg_faults_clear();
	unsigned id = add("{\"effect\":\"error_500\",\"count\":2}");
	struct sg_fault_view v = view("GET", "/x", NULL);
	assert_true(fires(&v, NULL));
	assert_true(fires(&v, NULL));
	assert_false(fires(&v, NULL));
	struct sg_fault_rule r;
	assert_true(sg_faults_get(id, &r));
	assert_int_equal(r.fired, 2);
	assert_true(sg_faults_remove(id));
	assert_false(sg_faults_remove(id));
	assert_false(sg_faults_get(id, &r));

	add("{\"effect\":\"error_500\",\"from\":1700000010,\"until\":1700000020}");
	assert_false(fires(&v, NULL));
	v.now = NOW + 10;
	assert_true(fires(&v, NULL));
	v.now = NOW + 19;
	assert_true(fires(&v, NULL));
	v.now = NOW + 20;
	assert_false(fires(&v, NULL));
	sg_faults_clear();

	/* latency rules add up (bounded) and let the request go on; the first
	 * answering rule decides; expire_tokens goes on too */
	add("{\"effect\":\"latency\",\"latency_ms\":20000}");
	add("{\"effect\":\"expire_tokens\",\"refresh_tokens\":true}");
	add("{\"effect\":\"latency\",\"latency_ms\":20000}");
	add("{\"effect\":\"hibernate\",\"latency_ms\":5}");
	add("{\"effect\":\"close\"}");
	v.now = NOW;
	struct sg_fault_hit hit;
	sg_faults_match(&v, &hit);
	assert_true(hit.fired);
	assert_int_equal(hit.rule.effect, SG_FAULT_HIBERNATE);
	assert_int_equal(hit.latency_ms, SG_FAULT_LATENCY_MAX);
	assert_true(hit.expire_tokens);
	assert_true(hit.expire_refresh);
	sg_faults_clear();
}

static void test_bounded(void **state)
{
	(void)state;
	sg_faults_clear();
	for (int i = 0; i < SG_FAULT_MAX; i++)
		add("{\"effect\":\"close\",\"path\":\"/nowhere\"}");
	struct sg_fault_rule r = parse_ok("{\"effect\":\"close\"}"), out;
	assert_int_equal(sg_faults_add(&r, &out), SG_ERR_BAD_PARAM);
	struct sg_fault_rule all[SG_FAULT_MAX + 1];
	assert_int_equal(sg_faults_list(all, SG_FAULT_MAX + 1), SG_FAULT_MAX);
	assert_true(all[0].id < all[1].id);
	sg_faults_clear();
	assert_int_equal(sg_faults_list(all, SG_FAULT_MAX), 0);
}

/* The same seed and the same requests: the same faults. */
static void run(const char *rule, char *out, size_t n)
{
	sg_faults_clear();
	add(rule);
	struct sg_fault_view hit_me = view("GET", "/api/now/table/incident", "incident");
	struct sg_fault_view not_me = view("GET", "/api/now/table/problem", "problem");
	for (size_t i = 0; i < n; i++) {
		/* requests the rule does not match do not move its generator */
		assert_false(fires(&not_me, NULL));
		out[i] = fires(&hit_me, NULL) ? 'x' : '.';
	}
	out[n] = '\0';
	sg_faults_clear();
}

static void test_replay(void **state)
{
	(void)state;
	char a[101], b[101], c[101];
	const char *r42 = "{\"effect\":\"error_503\",\"probability\":0.3,\"seed\":42,"
	                  "\"table\":\"incident\"}";
	run(r42, a, 100);
	run(r42, b, 100);
	assert_string_equal(a, b);
	run("{\"effect\":\"error_503\",\"probability\":0.3,\"seed\":43,\"table\":\"incident\"}", c,
	    100);
	assert_string_not_equal(a, c);
	size_t x = 0;
	for (size_t i = 0; i < 100; i++)
		x += a[i] == 'x';
	assert_in_range(x, 15, 45);
	/* probability 0 never fires, 1 always */
	run("{\"effect\":\"error_503\",\"probability\":0,\"table\":\"incident\"}", c, 20);
	assert_string_equal(c, "....................");
	run("{\"effect\":\"error_503\",\"probability\":1,\"table\":\"incident\"}", c, 5);
	assert_string_equal(c, "xxxxx");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),      cmocka_unit_test(test_json),
	    cmocka_unit_test(test_glob),       cmocka_unit_test(test_draw),
	    cmocka_unit_test(test_match_keys), cmocka_unit_test(test_match_count_window_latency),
	    cmocka_unit_test(test_bounded),    cmocka_unit_test(test_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
