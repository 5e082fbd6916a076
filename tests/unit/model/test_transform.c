/*
 * Unit tests for the import set engine (model/transform.c): a staging table
 * made as data, one transform map onto sys_user_group, and the outcomes a
 * row can have: inserted, ignored, updated, skipped, error (a refused write
 * leaves no target and the row alone), each written back to the row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "core/json.h"
#include "fixture.h"
#include "model/transform.h"
#include "query/query.h"

static const struct sg_write_opts WO = {0};

static void insert(struct sg_ctx *ctx, const char *table, json_t *in, char id[SG_ID_LEN + 1])
{
	assert_non_null(in);
	assert_int_equal(sg_rec_insert(ctx, table, in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

static char map_id[SG_ID_LEN + 1], set_id[SG_ID_LEN + 1];

static int setup(void **state)
{
	if (fixture_setup(state))
		return -1;
	struct fixture *f = *state;
	struct sg_ctx *ctx = &f->ctx;
	char id[SG_ID_LEN + 1];
	insert(ctx, "sys_db_object",
	       json_pack("{s:s, s:s}", "name", "u_imp_group", "super_class", "sys_import_set_row"),
	       id);
	static const char *const cols[] = {"u_name", "u_desc", "u_manager", "u_mail"};
	for (size_t i = 0; i < 4; i++)
		insert(ctx, "sys_dictionary",
		       json_pack("{s:s, s:s, s:s}", "name", "u_imp_group", "element", cols[i],
		                 "internal_type", "string"),
		       id);
	insert(ctx, "sys_transform_map",
	       json_pack("{s:s, s:s, s:s}", "name", "Groups", "source_table", "u_imp_group",
	                 "target_table", "sys_user_group"),
	       map_id);
	insert(ctx, "sys_transform_entry",
	       json_pack("{s:s, s:s, s:s, s:s}", "map", map_id, "source_field", "u_name",
	                 "target_field", "name", "coalesce", "true"),
	       id);
	insert(ctx, "sys_transform_entry",
	       json_pack("{s:s, s:s, s:s}", "map", map_id, "source_field", "u_desc", "target_field",
	                 "description"),
	       id);
	insert(ctx, "sys_transform_entry",
	       json_pack("{s:s, s:s, s:s, s:s, s:s}", "map", map_id, "source_field", "u_manager",
	                 "target_field", "manager", "reference_value_field", "user_name",
	                 "choice_action", "reject"),
	       id);
	/* A source script is stored, never run: this map sets nothing. */
	insert(ctx, "sys_transform_entry",
	       json_pack("{s:s, s:s, s:s, s:s, s:s}", "map", map_id, "source_field", "u_mail",
	                 "target_field", "email", "use_source_script", "true", "source_script",
	                 "answer = 'x@y';"),
	       id);
	assert_int_equal(sg_import_set_open(ctx, "u_imp_group", NULL, NULL, set_id, NULL),
	                 SG_ERR_OK);
	return 0;
}

/* Loads one row; returns its only result's status, the target in target. */
static const char *load(struct fixture *f, json_t *in, char row[SG_ID_LEN + 1],
                        char target[SG_ID_LEN + 1], char msg[256])
{
	json_t *res = NULL;
	assert_non_null(in);
	assert_int_equal(sg_import_row(&f->ctx, "u_imp_group", set_id, 1, in, row, &res),
	                 SG_ERR_OK);
	json_decref(in);
	assert_int_equal(json_array_size(res), 1);
	json_t *r = json_array_get(res, 0);
	assert_string_equal(sg_json_str(r, "transform_map"), "Groups");
	assert_string_equal(sg_json_str(r, "table"), "sys_user_group");
	snprintf(target, SG_ID_LEN + 1, "%s", sg_json_str(r, "sys_id"));
	const char *sm = sg_json_str(r, "status_message"), *em = sg_json_str(r, "error_message");
	snprintf(msg, 256, "%s%s", sm ? sm : "", em ? em : "");
	static char status[16];
	snprintf(status, sizeof(status), "%s", sg_json_str(r, "status"));
	json_decref(res);
	return status;
}

/* The staging row's state, as stored. */
static const char *row_state(struct fixture *f, const char *row)
{
	static char state[16];
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "u_imp_group", row, &rec), SG_ERR_OK);
	snprintf(state, sizeof(state), "%s", sg_json_str(rec, "sys_import_state"));
	json_decref(rec);
	return state;
}

static void outcomes(void **state)
{
	struct fixture *f = *state;
	char row[SG_ID_LEN + 1], t1[SG_ID_LEN + 1], t2[SG_ID_LEN + 1], msg[256];
	assert_true(sg_import_is_staging(&f->ctx, sg_dict_table(f->ctx.dict, "u_imp_group")));
	assert_false(sg_import_is_staging(&f->ctx, sg_dict_table(f->ctx.dict, "incident")));
	assert_false(
	    sg_import_is_staging(&f->ctx, sg_dict_table(f->ctx.dict, "sys_import_set_row")));

	char boss[SG_ID_LEN + 1];
	insert(&f->ctx, "sys_user",
	       json_pack("{s:s, s:s}", "user_name", "boss", "name", "The Boss"), boss);
	json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "u_name", "Network", "u_desc", "Routers",
	                       "u_manager", "boss", "u_mail", "n@example.com");
	assert_string_equal(load(f, in, row, t1, msg), "inserted");
	assert_string_equal(row_state(f, row), "inserted");
	json_t *g = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "sys_user_group", t1, &g), SG_ERR_OK);
	assert_string_equal(sg_json_str(g, "description"), "Routers");
	assert_string_equal(sg_json_str(g, "manager"), boss);
	assert_string_equal(sg_json_str(g, "email"), ""); /* the source script did not run */
	json_decref(g);

	/* The same values: ignored; another case of the coalesce value finds it too. */
	in = json_pack("{s:s, s:s}", "u_name", "Network", "u_desc", "Routers");
	assert_string_equal(load(f, in, row, t2, msg), "ignored");
	assert_string_equal(msg, "No field values changed");
	assert_string_equal(t2, t1);
	in = json_pack("{s:s, s:s}", "u_name", "network", "u_desc", "Switches");
	assert_string_equal(load(f, in, row, t2, msg), "updated");
	assert_string_equal(t2, t1);
	assert_string_equal(row_state(f, row), "updated");

	/* No coalesce value: skipped, nothing written. */
	in = json_pack("{s:s}", "u_desc", "Orphan");
	assert_string_equal(load(f, in, row, t2, msg), "skipped");
	assert_string_equal(t2, "");
	assert_string_equal(row_state(f, row), "skipped");

	/* A manager nobody is, with choice_action reject: the row is skipped. */
	in = json_pack("{s:s, s:s}", "u_name", "Storage", "u_manager", "nobody.here");
	assert_string_equal(load(f, in, row, t2, msg), "skipped");
	json_t *rows = NULL;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "name=Storage"));
	struct sg_list_opts lo = {.query = &q, .limit = 10};
	assert_int_equal(sg_rec_list(&f->ctx, "sys_user_group", &lo, &rows, NULL), SG_ERR_OK);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	sg_query_cleanup(&q);

	/* The results read back from the row. */
	char *number = NULL;
	json_t *res = NULL;
	assert_int_equal(sg_import_results(&f->ctx, "u_imp_group", row, &number, &res), SG_ERR_OK);
	assert_true(!strncmp(number, "ISET", 4));
	assert_string_equal(sg_json_str(json_array_get(res, 0), "status"), "skipped");
	free(number);
	json_decref(res);
	assert_int_equal(sg_import_results(&f->ctx, "u_imp_group",
	                                   "0123456789abcdef0123456789abcdef", &number, &res),
	                 SG_ERR_NO_RECORD);
}

/* A write the model refuses takes the whole row's transaction with it: the
 * target is untouched and the row alone is stored, in error. */
static void refused_write_is_an_error_row(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *ctx = &f->ctx;
	char id[SG_ID_LEN + 1], m2[SG_ID_LEN + 1];
	insert(ctx, "sys_db_object",
	       json_pack("{s:s, s:s}", "name", "u_imp_inc", "super_class", "sys_import_set_row"),
	       id);
	insert(ctx, "sys_dictionary",
	       json_pack("{s:s, s:s}", "name", "u_imp_inc", "element", "u_state"), id);
	insert(ctx, "sys_transform_map",
	       json_pack("{s:s, s:s, s:s}", "name", "Inc", "source_table", "u_imp_inc",
	                 "target_table", "incident"),
	       m2);
	insert(ctx, "sys_transform_entry",
	       json_pack("{s:s, s:s, s:s}", "map", m2, "source_field", "u_state", "target_field",
	                 "state"),
	       id);
	json_t *res = NULL, *in = json_pack("{s:s}", "u_state", "7");
	char row[SG_ID_LEN + 1];
	assert_int_equal(sg_import_row(ctx, "u_imp_inc", set_id, 1, in, row, &res), SG_ERR_OK);
	json_decref(in);
	json_t *r = json_array_get(res, 0);
	assert_string_equal(sg_json_str(r, "status"), "error");
	assert_non_null(strstr(sg_json_str(r, "error_message"), "mandatory"));
	assert_string_equal(sg_json_str(r, "sys_id"), "");
	json_decref(res);
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(ctx, "u_imp_inc", row, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "sys_import_state"), "error");
	assert_string_equal(sg_json_str(rec, "u_state"), "7");
	assert_non_null(strstr(sg_json_str(rec, "sys_row_error"), "mandatory"));
	json_decref(rec);
	assert_false(sg_conn_in_transaction(ctx->conn));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(outcomes, setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(refused_write_is_an_error_row, setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("model.transform", tests, NULL, NULL);
}
