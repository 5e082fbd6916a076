/*
 * Unit tests for sg_model_migrate (nowctl migrate): an instance with a table
 * and a field made through the dictionary is copied into a new SQLite file
 * (from SQLite, or from PostgreSQL under make unit-pg); the copy opens as an
 * instance with the same rows, the custom table, and numbering that goes on
 * where the source's would; a target holding an instance is refused unless
 * forced; a missing source creates nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "fixture.h"
#include "model/migrate.h"

static void insert(struct sg_ctx *ctx, const char *table, json_t *row, char *id)
{
	struct sg_write_opts wo = {0};
	char unused[SG_ID_LEN + 1];
	assert_non_null(row);
	assert_int_equal(sg_rec_insert(ctx, table, row, &wo, id ? id : unused), SG_ERR_OK);
	json_decref(row);
}

static long long count(struct sg_ctx *ctx, const char *table)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, ""));
	struct sg_list_opts lo = {.query = &q, .limit = 1, .count = true};
	json_t *rows = NULL;
	long long total = -1;
	assert_int_equal(sg_rec_list(ctx, table, &lo, &rows, &total), SG_ERR_OK);
	json_decref(rows);
	sg_query_cleanup(&q);
	return total;
}

/* The number a new incident gets in ctx's instance (a new string). */
static char *next_number(struct sg_ctx *ctx)
{
	char id[SG_ID_LEN + 1];
	insert(ctx, "incident", json_pack("{s:s}", "short_description", "numbered"), id);
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(ctx, "incident", id, &rec), SG_ERR_OK);
	char *n = strdup(sg_json_str(rec, "number"));
	json_decref(rec);
	return n;
}

static int counted;
static void on_table(void *ud, const char *table, long long from_rows, long long to_rows)
{
	(void)ud;
	(void)table;
	assert_true(from_rows == to_rows);
	counted++;
}

static void test_copy_serves_the_same_instance(void **state)
{
	struct fixture *f = *state;
	insert(&f->ctx, "sys_db_object",
	       json_pack("{s:s, s:s}", "name", "u_visit", "label", "Visit"), NULL);
	insert(&f->ctx, "sys_dictionary",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "u_visit", "element", "u_hours",
	                 "internal_type", "integer", "column_label", "Hours"),
	       NULL);
	insert(&f->ctx, "u_visit", json_pack("{s:s}", "u_hours", "3"), NULL);
	insert(&f->ctx, "u_visit", json_pack("{s:s}", "u_hours", ""), NULL);
	insert(&f->ctx, "incident", json_pack("{s:s}", "short_description", "before the copy"),
	       NULL);
	long long users = count(&f->ctx, "sys_user"), incidents = count(&f->ctx, "incident");

	char to[400];
	snprintf(to, sizeof(to), "sqlite:%s/copy/copy.db", f->dir);
	struct sg_migrate_result res;
	counted = 0;
	assert_int_equal(sg_model_migrate(f->url, to, false, on_table, NULL, &res), SG_ERR_OK);
	assert_true(res.tables > 30 && (size_t)counted == res.tables && res.rows > 0);
	assert_non_null(res.to_file);
	sg_migrate_result_cleanup(&res);

	struct sg_model *m = NULL;
	assert_int_equal(sg_model_open(to, &m), SG_ERR_OK);
	assert_int_equal(sg_auth_add_rules(m), SG_ERR_OK);
	struct sg_ctx c;
	assert_int_equal(sg_ctx_begin(&c, m, &f->ctx.user), SG_ERR_OK);
	assert_int_equal(count(&c, "sys_user"), users);
	assert_int_equal(count(&c, "incident"), incidents);
	assert_int_equal(count(&c, "u_visit"), 2);
	/* the same counter at both ends: the next number is the same */
	char *here = next_number(&f->ctx), *there = next_number(&c);
	assert_string_equal(here, there);
	free(here);
	free(there);
	sg_ctx_end(&c);
	sg_model_close(m);

	/* a second copy into the same target: refused, then forced */
	assert_int_equal(sg_model_migrate(f->url, to, false, NULL, NULL, &res),
	                 SG_ERR_INVALID_INSERT);
	assert_non_null(strstr(res.why, "--force"));
	sg_migrate_result_cleanup(&res);
	assert_int_equal(sg_model_migrate(f->url, to, true, NULL, NULL, &res), SG_ERR_OK);
	sg_migrate_result_cleanup(&res);
	assert_int_equal(sg_model_open(to, &m), SG_ERR_OK);
	assert_int_equal(sg_ctx_begin(&c, m, &f->ctx.user), SG_ERR_OK);
	assert_int_equal(count(&c, "incident"), incidents + 1); /* the one numbered above */
	sg_ctx_end(&c);
	sg_model_close(m);
}

static void test_missing_source_creates_nothing(void **state)
{
	struct fixture *f = *state;
	char from[400], to[420], path[400];
	snprintf(from, sizeof(from), "sqlite:%s/none.db", f->dir);
	snprintf(path, sizeof(path), "%s/never.db", f->dir);
	snprintf(to, sizeof(to), "sqlite:%s", path);
	struct sg_migrate_result res;
	assert_int_equal(sg_model_migrate(from, to, false, NULL, NULL, &res), SG_ERR_NO_RESOURCE);
	sg_migrate_result_cleanup(&res);
	struct stat st;
	assert_int_not_equal(stat(path, &st), 0);
}

int main(void)
{
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_copy_serves_the_same_instance, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_source_creates_nothing, fixture_setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
