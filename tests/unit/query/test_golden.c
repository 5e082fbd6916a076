/*
 * The golden query suite: tests/golden/query/dataset.json loaded through the
 * record layer, then every case of cases.json run through the parser, the
 * compiler and the store, its rows compared with the expected keys.
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

static int64_t fixed_now;

static int64_t fixed_clock(void)
{
	return fixed_now;
}

static json_t *load(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/golden/query/%s", SG_SHARE_DIR, name);
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	if (!j)
		fprintf(stderr, "%s: %s (line %d)\n", path, jerr.text, jerr.line);
	return j;
}

static void insert_rows(struct fixture *f, const char *table, json_t *rows)
{
	size_t i;
	json_t *row;
	struct sg_write_opts wo = {.allow_sys_fields = true};
	json_array_foreach(rows, i, row)
	{
		char id[SG_ID_LEN + 1];
		sg_err err = sg_rec_insert(&f->ctx, table, row, &wo, id);
		if (err)
			fprintf(stderr, "dataset: %s row %zu: %s %s\n", table, i, sg_err_name(err),
			        f->ctx.err_arg);
		assert_int_equal(err, SG_ERR_OK);
	}
}

static void load_dataset(struct fixture *f)
{
	json_t *ds = load("dataset.json");
	assert_non_null(ds);
	assert_true(sg_time_parse(sg_json_str(ds, "clock"), &fixed_now));
	sg_time_set_clock(fixed_clock);
	json_t *schema = json_object_get(ds, "schema");
	insert_rows(f, "sys_db_object", json_object_get(schema, "sys_db_object"));
	insert_rows(f, "sys_dictionary", json_object_get(schema, "sys_dictionary"));
	insert_rows(f, "sys_choice", json_object_get(schema, "sys_choice"));
	size_t i;
	json_t *rec;
	json_array_foreach(json_object_get(ds, "records"), i, rec)
	{
		json_t *one = json_pack("[O]", json_array_get(rec, 1));
		insert_rows(f, json_string_value(json_array_get(rec, 0)), one);
		json_decref(one);
	}
	json_decref(ds);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Renders a list of keys, sorted unless ordered, as "a,b,c". */
static void keys_text(json_t *keys, bool ordered, char *out, size_t size)
{
	const char *k[256];
	size_t n = json_array_size(keys) < 256 ? json_array_size(keys) : 256;
	for (size_t i = 0; i < n; i++)
		k[i] = json_string_value(json_array_get(keys, i));
	if (!ordered)
		qsort(k, n, sizeof(k[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s", i ? "," : "", k[i] ? k[i] : "?");
	}
}

static bool run_case(struct fixture *f, json_t *c, size_t index)
{
	const char *table, *query, *key = "u_key", *tz = "";
	json_t *expect, *pairs = NULL, *props = NULL;
	if (json_is_array(c)) {
		table = json_string_value(json_array_get(c, 0));
		query = json_string_value(json_array_get(c, 1));
		expect = json_array_get(c, 2);
	} else {
		table = sg_json_str(c, "table");
		query = sg_json_str(c, "query");
		expect = json_object_get(c, "expect");
		pairs = json_object_get(c, "pairs");
		props = json_object_get(c, "properties");
		if (sg_json_str(c, "key"))
			key = sg_json_str(c, "key");
		if (sg_json_str(c, "time_zone"))
			tz = sg_json_str(c, "time_zone");
	}
	snprintf(f->ctx.user.time_zone, sizeof(f->ctx.user.time_zone), "%s", tz);
	f->ctx.tz[0] = '\0';
	const char *name;
	json_t *v;
	json_object_foreach(props, name, v)
	{
		assert_int_equal(sg_prop_set(&f->ctx, name, json_string_value(v)), SG_ERR_OK);
	}
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, query));
	json_object_foreach(pairs, name, v)
	{
		assert_true(sg_query_add_eq(&q, name, json_string_value(v)));
	}
	struct sg_list_opts lo = {.query = &q, .limit = 1000};
	json_t *rows = NULL;
	sg_err err = sg_rec_list(&f->ctx, table, &lo, &rows, NULL);
	json_t *got = json_array();
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		json_array_append_new(got,
		                      json_string(sg_json_str(r, key) ? sg_json_str(r, key) : "?"));
	}
	bool ordered = strstr(query, "ORDERBY") != NULL;
	char want_s[2048], got_s[2048];
	keys_text(expect, ordered, want_s, sizeof(want_s));
	keys_text(got, ordered, got_s, sizeof(got_s));
	bool ok = !err && !strcmp(want_s, got_s);
	if (!ok)
		fprintf(stderr, "case %zu: %s ? %s\n  want [%s]\n  got  [%s]%s%s\n", index, table,
		        query, want_s, got_s, err ? " error " : "", err ? sg_err_name(err) : "");
	json_object_foreach(props, name, v)
	{
		/* the dataset's properties are all booleans that default to false */
		assert_int_equal(sg_prop_set(&f->ctx, name, "false"), SG_ERR_OK);
	}
	json_decref(got);
	json_decref(rows);
	sg_query_cleanup(&q);
	return ok;
}

static void golden_cases(void **state)
{
	struct fixture *f = *state;
	load_dataset(f);
	json_t *cases = load("cases.json");
	assert_non_null(cases);
	size_t i, failed = 0;
	json_t *c;
	json_array_foreach(cases, i, c)
	{
		if (!run_case(f, c, i))
			failed++;
	}
	fprintf(stderr, "golden: %zu cases, %zu failed\n", json_array_size(cases), failed);
	assert_true(json_array_size(cases) >= 100);
	json_decref(cases);
	sg_time_set_clock(NULL);
	assert_int_equal(failed, 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(golden_cases, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("query.golden", tests, NULL, NULL);
}
