/*
 * Unit tests for loading records files (demo/): "records" are inserted,
 * "updates" change rows that exist by sys_id, and a file that fails
 * leaves nothing of itself behind.
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

#define DEPT "a581ab703710200044e0bfc8bcbe5de8"
#define HEAD "46c5bf6ca9fe1981010713e3ac7d3384"

struct load_fixture {
	char dir[256];
	char records[300];
	struct sg_model *model;
};

static int setup(void **state)
{
	struct load_fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sg-unit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	char data[300];
	snprintf(data, sizeof(data), "%s/data", f->dir);
	snprintf(f->records, sizeof(f->records), "%s/records", f->dir);
	if (mkdir(f->records, 0700) || fixture_instance(data, &f->model))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct load_fixture *f = *state;
	sg_model_close(f->model);
	if (fixture_remove_dir(f->dir))
		return -1;
	free(f);
	return 0;
}

static void write_file(struct load_fixture *f, const char *text)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/10-test.json", f->records);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

/* The field of the row id of table, "" when there is no such row. */
static char *field(struct load_fixture *f, const char *table, const char *id, const char *name)
{
	struct sg_ctx ctx;
	assert_int_equal(sg_ctx_begin(&ctx, f->model, NULL), SG_ERR_OK);
	json_t *rec = NULL;
	sg_err err = sg_rec_get(&ctx, table, id, &rec);
	char *out = strdup(err == SG_ERR_OK && rec ? sg_json_str(rec, name) : "");
	json_decref(rec);
	sg_ctx_end(&ctx);
	assert_non_null(out);
	return out;
}

static void assert_field(struct load_fixture *f, const char *table, const char *id,
                         const char *name, const char *want)
{
	char *got = field(f, table, id, name);
	assert_string_equal(got, want);
	free(got);
}

static const char RECORDS[] =
    "{\"records\": {\"cmn_department\": [{\"sys_id\": \"" DEPT "\", \"name\": \"Finance\"}],"
    "               \"sys_user\": [{\"sys_id\": \"" HEAD "\", \"user_name\": \"natasha\"}]},";

static void test_updates_after_records(void **state)
{
	struct load_fixture *f = *state;
	char text[1024];
	snprintf(text, sizeof(text),
	         "%s \"updates\": {\"cmn_department\": [{\"sys_id\": \"" DEPT
	         "\", \"dept_head\": \"" HEAD "\"}], \"sys_user\": [{\"sys_id\": \"" HEAD
	         "\", \"department\": \"" DEPT "\"}]}}",
	         RECORDS);
	write_file(f, text);
	assert_int_equal(sg_model_load_records(f->model, f->records), SG_ERR_OK);
	assert_field(f, "cmn_department", DEPT, "dept_head", HEAD);
	assert_field(f, "cmn_department", DEPT, "name", "Finance");
	assert_field(f, "sys_user", HEAD, "department", DEPT);
	assert_field(f, "sys_user", HEAD, "user_name", "natasha");
	assert_field(f, "cmn_department", DEPT, "sys_mod_count", "1");
}

static void test_update_without_sys_id_loads_nothing(void **state)
{
	struct load_fixture *f = *state;
	char text[1024];
	snprintf(text, sizeof(text),
	         "%s \"updates\": {\"cmn_department\": [{\"dept_head\": \"" HEAD "\"}]}}", RECORDS);
	write_file(f, text);
	assert_int_not_equal(sg_model_load_records(f->model, f->records), SG_ERR_OK);
	assert_field(f, "cmn_department", DEPT, "name", "");
	assert_field(f, "sys_user", HEAD, "user_name", "");
}

static void test_update_of_a_missing_row_loads_nothing(void **state)
{
	struct load_fixture *f = *state;
	char text[1024];
	snprintf(
	    text, sizeof(text),
	    "%s \"updates\": {\"sys_user\": [{\"sys_id\": \"00000000000000000000000000000001\", "
	    "\"department\": \"" DEPT "\"}]}}",
	    RECORDS);
	write_file(f, text);
	assert_int_not_equal(sg_model_load_records(f->model, f->records), SG_ERR_OK);
	assert_field(f, "cmn_department", DEPT, "name", "");
	assert_field(f, "sys_user", HEAD, "user_name", "");
}

static void test_updates_not_a_list(void **state)
{
	struct load_fixture *f = *state;
	write_file(f, "{\"updates\": {\"sys_user\": {\"sys_id\": \"" HEAD "\"}}}");
	assert_int_not_equal(sg_model_load_records(f->model, f->records), SG_ERR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_updates_after_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_without_sys_id_loads_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_update_of_a_missing_row_loads_nothing, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_updates_not_a_list, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
