/*
 * Unit tests for the query compiler's values: a value is compared whole,
 * whatever its length (never by a prefix that happened to fit a buffer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "../model/fixture.h"
#include "core/json.h"
#include "query/query.h"

static const struct sg_write_opts WO = {.allow_sys_fields = true};

/* A string of n copies of c (caller frees). */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void insert_incident(struct fixture *f, const char *description)
{
	json_t *in = json_pack("{s:s, s:s}", "short_description", "long", "description",
			       description);
	assert_non_null(in);
	char id[SG_ID_LEN + 1];
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

/* The number of incidents matching "<prefix><value><suffix>". */
static size_t count_matching(struct fixture *f, const char *prefix, const char *value,
			     const char *suffix)
{
	size_t len = strlen(prefix) + strlen(value) + strlen(suffix) + 1;
	char *text = malloc(len);
	assert_non_null(text);
	snprintf(text, len, "%s%s%s", prefix, value, suffix);
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, text));
	struct sg_list_opts lo = {.query = &q, .limit = 100};
	json_t *rows = NULL;
	assert_int_equal(sg_rec_list(&f->ctx, "incident", &lo, &rows, NULL), SG_ERR_OK);
	size_t n = json_array_size(rows);
	json_decref(rows);
	sg_query_cleanup(&q);
	free(text);
	return n;
}

/* The old compiler copied values into 512-byte buffers: a longer value
 * matched every record holding its first 511 bytes. */
static void long_values_are_compared_whole(void **state)
{
	struct fixture *f = *state;
	char *stored = repeat('x', 511), *asked = repeat('x', 600);
	insert_incident(f, stored);
	assert_int_equal(count_matching(f, "description=", stored, ""), 1);
	assert_int_equal(count_matching(f, "description=", asked, ""), 0);
	assert_int_equal(count_matching(f, "descriptionIN", asked, ",other"), 0);
	assert_int_equal(count_matching(f, "descriptionINother,", stored, ""), 1);
	assert_int_equal(count_matching(f, "description!=", asked, ""), 1);
	assert_int_equal(count_matching(f, "description>=", asked, ""), 0);
	free(stored);
	free(asked);
}

/* BETWEEN's bounds were cut to 63 bytes. */
static void long_between_bounds_are_whole(void **state)
{
	struct fixture *f = *state;
	char *stored = repeat('y', 100);
	insert_incident(f, stored);
	size_t len = 2 * strlen(stored) + 2;
	char *range = malloc(len);
	assert_non_null(range);
	snprintf(range, len, "%s@%s", stored, stored);
	assert_int_equal(count_matching(f, "descriptionBETWEEN", range, ""), 1);
	free(range);
	free(stored);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(long_values_are_compared_whole, fixture_setup,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(long_between_bounds_are_whole, fixture_setup,
						fixture_teardown),
	};
	return cmocka_run_group_tests_name("query.compile", tests, NULL, NULL);
}
