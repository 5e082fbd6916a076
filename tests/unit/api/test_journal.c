/*
 * Unit tests for the request journal's ring (api/journal.h, issue 18): the
 * bound in entries and in bytes, the order and the filters of a read,
 * clearing, and the masking of bodies and queries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/journal.h"

static const struct sg_journal_limits LIM = {
    .size = 4, .max_bytes = 1 << 20, .bodies = false, .body_max = 1024};

static void add(struct sg_journal *j, const char *user, const char *method, const char *path,
                int status, long long time_ms, const struct sg_journal_limits *lim)
{
	struct sg_journal_fields f = {.time_ms = time_ms,
	                              .user = user,
	                              .method = method,
	                              .path = path,
	                              .query = "",
	                              .status = status,
	                              .latency_us = 1500,
	                              .response_body = "{}",
	                              .response_len = 2,
	                              .response_bytes = 2};
	sg_journal_add(j, &f, lim);
}

static size_t count(struct sg_journal *j, const struct sg_journal_filter *flt)
{
	json_t *rows;
	size_t total;
	assert_int_equal(sg_journal_query(j, flt, 0, &rows, &total), SG_ERR_OK);
	json_decref(rows);
	return total;
}

static void bound_in_entries_newest_first(void **state)
{
	(void)state;
	struct sg_journal *j = sg_journal_new();
	assert_non_null(j);
	char path[32];
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "/p/%d", i);
		add(j, "admin", "GET", path, 200, 1000 + i, &LIM);
	}
	struct sg_journal_filter none = {0};
	json_t *rows;
	size_t total;
	assert_int_equal(sg_journal_query(j, &none, 100, &rows, &total), SG_ERR_OK);
	assert_int_equal(total, 4);
	assert_int_equal(json_array_size(rows), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "path")),
	                    "/p/9");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 3), "path")),
	                    "/p/6");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "seq")), 10);
	assert_true(json_real_value(json_object_get(json_array_get(rows, 0), "latency_ms")) == 1.5);
	json_decref(rows);
	/* a limit cuts the rows, not the total */
	assert_int_equal(sg_journal_query(j, &none, 1, &rows, &total), SG_ERR_OK);
	assert_int_equal(json_array_size(rows), 1);
	assert_int_equal(total, 4);
	json_decref(rows);
	size_t held, bytes;
	unsigned long long dropped;
	sg_journal_stats(j, &held, &bytes, &dropped);
	assert_int_equal(held, 4);
	assert_int_equal(dropped, 6);
	size_t n;
	sg_journal_clear(j, &n);
	assert_int_equal(n, 4);
	sg_journal_stats(j, &held, &bytes, &dropped);
	assert_int_equal(held, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(count(j, &none), 0);
	sg_journal_free(j);
}

static void bound_in_bytes(void **state)
{
	(void)state;
	struct sg_journal *j = sg_journal_new();
	struct sg_journal_limits lim = {
	    .size = 1000, .max_bytes = 4096, .bodies = true, .body_max = 100000};
	static char big[3000];
	memset(big, 'a', sizeof(big) - 1);
	char body[3100];
	snprintf(body, sizeof(body), "{\"x\":\"%s\"}", big);
	for (int i = 0; i < 20; i++) {
		struct sg_journal_fields f = {.method = "POST",
		                              .path = "/p",
		                              .query = "",
		                              .status = 201,
		                              .request_body = body,
		                              .request_len = strlen(body),
		                              .request_type = "application/json"};
		sg_journal_add(j, &f, &lim);
		size_t held, bytes;
		unsigned long long dropped;
		sg_journal_stats(j, &held, &bytes, &dropped);
		assert_true(bytes <= 4096);
		assert_true(held >= 1);
	}
	/* An entry larger than the bound alone does not stay. */
	lim.max_bytes = 1000;
	struct sg_journal_fields f = {.method = "POST",
	                              .path = "/p",
	                              .query = "",
	                              .status = 201,
	                              .request_body = body,
	                              .request_len = strlen(body),
	                              .request_type = "application/json"};
	sg_journal_add(j, &f, &lim);
	size_t held, bytes;
	unsigned long long dropped;
	sg_journal_stats(j, &held, &bytes, &dropped);
	assert_int_equal(held, 0);
	assert_int_equal(bytes, 0);
	sg_journal_free(j);
}

static void filters(void **state)
{
	(void)state;
	struct sg_journal *j = sg_journal_new();
	struct sg_journal_limits lim = LIM;
	lim.size = 100;
	add(j, "admin", "GET", "/api/now/table/incident", 200, 1000, &lim);
	add(j, "itil", "GET", "/api/now/table/incident/abc", 404, 2000, &lim);
	add(j, "itil", "DELETE", "/api/now/table/problem/abc", 403, 3000, &lim);
	add(j, NULL, "POST", "/oauth_token.do", 401, 4000, &lim);
	struct sg_journal_filter f;
	const char *why = NULL;
	assert_true(sg_journal_parse_filter(&f, "/api/now/table/incident", NULL, NULL, NULL, NULL,
	                                    NULL, &why));
	assert_int_equal(count(j, &f), 2);
	assert_true(sg_journal_parse_filter(&f, "/api/*/abc", NULL, NULL, NULL, NULL, NULL, &why));
	assert_int_equal(count(j, &f), 2);
	assert_true(sg_journal_parse_filter(&f, NULL, "itil", NULL, "4xx", NULL, NULL, &why));
	assert_int_equal(count(j, &f), 2);
	assert_true(sg_journal_parse_filter(&f, NULL, NULL, "delete", NULL, NULL, NULL, &why));
	assert_int_equal(count(j, &f), 1);
	assert_true(sg_journal_parse_filter(&f, NULL, NULL, NULL, "404", NULL, NULL, &why));
	assert_int_equal(count(j, &f), 1);
	assert_true(sg_journal_parse_filter(&f, NULL, "admin", NULL, "2XX", NULL, NULL, &why));
	assert_int_equal(count(j, &f), 1);
	/* since: 1970-01-01 00:00:03 is 3000 ms; epoch seconds with a fraction too */
	assert_true(
	    sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, "1970-01-01 00:00:03", NULL, &why));
	assert_int_equal(f.since_ms, 3000);
	assert_int_equal(count(j, &f), 2);
	assert_true(sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, "1970-01-01T00:00:01.5Z",
	                                    NULL, &why));
	assert_int_equal(f.since_ms, 1500);
	assert_true(sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, "3.5", NULL, &why));
	assert_int_equal(count(j, &f), 1);
	assert_true(sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, NULL, "3", &why));
	assert_int_equal(count(j, &f), 1);
	/* the anonymous entry has no user: a user filter never matches it */
	assert_true(sg_journal_parse_filter(&f, "/oauth", "", NULL, NULL, NULL, NULL, &why));
	assert_int_equal(count(j, &f), 1);
	assert_true(sg_journal_parse_filter(&f, "/oauth", "x", NULL, NULL, NULL, NULL, &why));
	assert_int_equal(count(j, &f), 0);
	/* malformed values */
	const char *bad_status[] = {"4x", "40", "4000", "abc", "6xx", "0xx"};
	for (size_t i = 0; i < sizeof(bad_status) / sizeof(*bad_status); i++) {
		why = NULL;
		assert_false(
		    sg_journal_parse_filter(&f, NULL, NULL, NULL, bad_status[i], NULL, NULL, &why));
		assert_non_null(why);
	}
	assert_false(sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, "yesterday", NULL, &why));
	assert_false(sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, "2026-13-45", NULL, &why));
	assert_false(sg_journal_parse_filter(&f, NULL, NULL, NULL, NULL, NULL, "-1", &why));
	sg_journal_free(j);
}

static void masked(const char *ct, const char *body, const char *want)
{
	struct sg_buf b;
	sg_buf_init(&b, 1 << 16);
	sg_journal_mask_body(&b, ct, body, strlen(body), 1000);
	assert_false(sg_buf_failed(&b));
	assert_string_equal(sg_buf_str(&b), want);
	sg_buf_cleanup(&b);
}

static void masking(void **state)
{
	(void)state;
	masked("application/x-www-form-urlencoded",
	       "grant_type=password&username=u&password=p%40ss&client_secret=s3",
	       "grant_type=password&username=u&password=***&client_secret=***");
	masked("application/json; charset=utf-8",
	       "{\"a\":1,\"user_password\":\"pw\",\"n\":[{\"access_token\":\"t\"}],\"token\":null}",
	       "{\"a\":1,\"user_password\":\"***\",\"n\":[{\"access_token\":\"***\"}],\"token\":"
	       "null}");
	masked("application/json", "{\"password\":", "[12 bytes of malformed JSON, not kept]");
	masked("application/xml", "<password>x</password>",
	       "[22 bytes of application/xml, not kept]");
	/* cut at body_max */
	struct sg_buf b;
	sg_buf_init(&b, 1 << 16);
	sg_journal_mask_body(&b, "application/json", "[\"aaaaaaaaaaaaaaaaaaaa\"]", 24, 10);
	assert_string_equal(sg_buf_str(&b), "[\"aaaaaaaa...");
	sg_buf_cleanup(&b);

	/* over SG_JOURNAL_MASK_MAX: not parsed, not kept */
	static char huge[SG_JOURNAL_MASK_MAX + 2];
	memset(huge, ' ', sizeof(huge) - 1);
	huge[0] = '[';
	huge[sizeof(huge) - 2] = ']';
	sg_buf_init(&b, 1 << 16);
	sg_journal_mask_body(&b, "application/json", huge, sizeof(huge) - 1, 10);
	assert_string_equal(sg_buf_str(&b),
	                    "[1048577 bytes of application/json, too large to mask, not kept]");
	sg_buf_cleanup(&b);
	/* In an entry, a body longer than body_max is cut, not dropped. */
	{
		struct sg_journal *k = sg_journal_new();
		struct sg_journal_limits small = {
		    .size = 10, .max_bytes = 1 << 20, .bodies = true, .body_max = 16};
		struct sg_journal_fields g = {.method = "POST",
		                              .path = "/p",
		                              .query = "",
		                              .status = 201,
		                              .request_body =
		                                  "{\"a\":\"0123456789012345678901234\"}",
		                              .request_type = "application/json"};
		g.request_len = strlen(g.request_body);
		sg_journal_add(k, &g, &small);
		struct sg_journal_filter all = {0};
		json_t *r;
		size_t t;
		assert_int_equal(sg_journal_query(k, &all, 10, &r, &t), SG_ERR_OK);
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(r, 0), "request_body")),
		    "{\"a\":\"0123456789...");
		json_decref(r);
		sg_journal_free(k);
	}

	/* The query's secrets are masked in the entry; bodies kept only when asked. */
	struct sg_journal *j = sg_journal_new();
	struct sg_journal_fields f = {.method = "POST",
	                              .path = "/oauth_token.do",
	                              .query = "a=1&Client_Secret=zz&%74oken=t",
	                              .status = 200,
	                              .request_body = "password=hunter2",
	                              .request_len = 16,
	                              .request_type = "application/x-www-form-urlencoded"};
	sg_journal_add(j, &f, &LIM);
	struct sg_journal_limits on = LIM;
	on.bodies = true;
	sg_journal_add(j, &f, &on);
	struct sg_journal_filter none = {0};
	json_t *rows;
	size_t total;
	assert_int_equal(sg_journal_query(j, &none, 10, &rows, &total), SG_ERR_OK);
	json_t *with = json_array_get(rows, 0), *without = json_array_get(rows, 1);
	assert_string_equal(json_string_value(json_object_get(with, "query")),
	                    "a=1&Client_Secret=***&%74oken=***");
	assert_string_equal(json_string_value(json_object_get(with, "request_body")),
	                    "password=***");
	assert_null(json_object_get(without, "request_body"));
	char *dump = json_dumps(rows, 0);
	assert_null(strstr(dump, "hunter2"));
	assert_null(strstr(dump, "zz"));
	/* the hash is XXH64 of the body as sent */
	char hex[17];
	snprintf(hex, sizeof(hex), "%016" PRIx64, sg_journal_hash("password=hunter2", 16));
	assert_string_equal(json_string_value(json_object_get(with, "request_hash")), hex);
	free(dump);
	json_decref(rows);
	sg_journal_free(j);
}

/* XXH64's published values (seed 0), short and long paths. */
static void hash_vectors(void **state)
{
	(void)state;
	assert_true(sg_journal_hash("", 0) == 0xEF46DB3751D8E999ull);
	assert_true(sg_journal_hash("a", 1) == 0xD24EC4F1A98C6E5Bull);
	assert_true(sg_journal_hash("abc", 3) == 0x44BC2CF5AD770999ull);
	/* longer inputs, as libxxhash 0.8.1 computes them */
	assert_true(sg_journal_hash("password=hunter2", 16) == 0x360ec958bc6f9482ull);
	static unsigned char x100[100], mix[773];
	memset(x100, 'x', sizeof(x100));
	assert_true(sg_journal_hash(x100, sizeof(x100)) == 0x92f0de5a88a3c094ull);
	for (size_t i = 0; i < 768; i++)
		mix[i] = (unsigned char)i;
	memcpy(mix + 768, "abcde", 5);
	assert_true(sg_journal_hash(mix, sizeof(mix)) == 0x4d8cb6558d58cd89ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bound_in_entries_newest_first),
	    cmocka_unit_test(bound_in_bytes),
	    cmocka_unit_test(filters),
	    cmocka_unit_test(masking),
	    cmocka_unit_test(hash_vectors),
	};
	return cmocka_run_group_tests_name("api.journal", tests, NULL, NULL);
}
