/*
 * Unit tests for the write pipeline's rule table: a rule fires for its
 * table and the tables extending it, by phase and order; after rules see
 * the stored record; after-commit rules run only after a commit that
 * succeeded, and a rule's error rolls the whole write back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "core/json.h"
#include "fixture.h"
#include "model/rules.h"

static const struct sg_write_opts WO = {.allow_sys_fields = true};

/* What the test rules saw, in order: "name:table" entries. */
static char seen[1024];
static bool fail_after;

static void note(const char *what, const struct sg_write *w)
{
	size_t len = strlen(seen);
	snprintf(seen + len, sizeof(seen) - len, "%s%s:%s", len ? " " : "", what, w->cls->name);
}

static sg_err on_task(struct sg_write *w)
{
	note("task", w);
	/* The model's numbering (order 10) and priority (210) ran before. */
	assert_true(*sg_write_val(w, "number"));
	if (!strcmp(sg_write_val(w, "impact"), "1") && !strcmp(sg_write_val(w, "urgency"), "2"))
		assert_string_equal(sg_write_val(w, "priority"), "2");
	return SG_ERR_OK;
}

static sg_err first(struct sg_write *w)
{
	note("first", w);
	return SG_ERR_OK;
}

static sg_err second(struct sg_write *w)
{
	note("second", w);
	return SG_ERR_OK;
}

/* After: the record is stored, in the write's transaction. */
static sg_err after(struct sg_write *w)
{
	note("after", w);
	assert_true(sg_conn_in_transaction(w->ctx->conn));
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(w->ctx, w->cls->name, sg_write_val(w, "sys_id"), &rec),
	                 SG_ERR_OK);
	json_decref(rec);
	return fail_after ? SG_ERR_INTERNAL : SG_ERR_OK;
}

static sg_err committed(struct sg_write *w)
{
	note("committed", w);
	assert_false(sg_conn_in_transaction(w->ctx->conn));
	return SG_ERR_OK;
}

static sg_err deleted(struct sg_write *w)
{
	note("deleted", w);
	assert_non_null(w->old);
	assert_null(w->rec);
	return SG_ERR_OK;
}

/* Added out of order: the table sorts them by phase and order, and keeps the
 * order they were added in between rules of equal order. */
static const struct sg_rule test_rules[] = {
    {"test.committed", "task", SG_RULE_AFTER_COMMIT, SG_OP_ANY, 10, committed},
    {"test.after", "task", SG_RULE_AFTER, SG_OP_WRITE, 50, after},
    {"test.second", "incident", SG_RULE_BEFORE, SG_OP_INSERT, 300, second},
    {"test.task", "task", SG_RULE_BEFORE, SG_OP_INSERT, 215, on_task},
    {"test.first", "incident", SG_RULE_BEFORE, SG_OP_INSERT, 260, first},
    {"test.deleted", "incident", SG_RULE_BEFORE, SG_OP_DELETE, 100, deleted},
};

static int setup(void **state)
{
	int rc = fixture_setup(state);
	if (rc)
		return rc;
	struct fixture *f = *state;
	seen[0] = '\0';
	fail_after = false;
	return sg_model_add_rules(f->model, test_rules, 6) ? -1 : 0;
}

static void rules_fire_by_table_phase_and_order(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	json_t *in =
	    json_pack("{s:s, s:s, s:s}", "short_description", "x", "impact", "1", "urgency", "2");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	assert_string_equal(seen, "task:incident first:incident second:incident after:incident "
	                          "committed:incident");

	/* Not a task: none of them. */
	seen[0] = '\0';
	in = json_pack("{s:s}", "name", "Acme");
	assert_int_equal(sg_rec_insert(&f->ctx, "core_company", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	assert_string_equal(seen, "");
}

static void updates_and_deletes_have_their_phases(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s}", "short_description", "x");
	assert_int_equal(sg_rec_insert(&f->ctx, "problem", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	seen[0] = '\0';
	/* An update changing nothing stores nothing, but still commits. */
	in = json_pack("{s:s}", "short_description", "x");
	assert_int_equal(sg_rec_update(&f->ctx, "task", id, in, &WO), SG_ERR_OK);
	assert_string_equal(seen, "committed:problem");
	json_decref(in);
	seen[0] = '\0';
	in = json_pack("{s:s}", "short_description", "y");
	assert_int_equal(sg_rec_update(&f->ctx, "task", id, in, &WO), SG_ERR_OK);
	json_decref(in);
	assert_string_equal(seen, "after:problem committed:problem");

	seen[0] = '\0';
	in = json_pack("{s:s}", "short_description", "z");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	seen[0] = '\0';
	assert_int_equal(sg_rec_delete(&f->ctx, "task", id), SG_ERR_OK);
	assert_string_equal(seen, "deleted:incident committed:incident");
}

static void nothing_after_a_rollback(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	/* A before rule refuses (the resolution data policy, order 230): the
	 * rules after it, the after rules and the after-commit rules do not run. */
	json_t *in = json_pack("{s:s, s:s}", "short_description", "x", "state", "6");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_DATA_POLICY);
	json_decref(in);
	assert_string_equal(seen, "task:incident");
	seen[0] = '\0';

	/* An after rule fails: the record, its number and its audit are gone. */
	fail_after = true;
	in = json_pack("{s:s, s:s, s:s, s:s}", "sys_id", "0123456789abcdef0123456789abcdef",
	               "short_description", "x", "impact", "1", "urgency", "2");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_INTERNAL);
	json_decref(in);
	assert_string_equal(seen, "task:incident first:incident second:incident after:incident");
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "incident", "0123456789abcdef0123456789abcdef", &rec),
	                 SG_ERR_NO_RECORD);

	/* The number was not used up. */
	fail_after = false;
	seen[0] = '\0';
	in = json_pack("{s:s, s:s, s:s}", "short_description", "x", "impact", "1", "urgency", "2");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "incident", id, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "number"), "INC0010001");
	json_decref(rec);
}

static void nested_writes_leave_after_commit_to_the_caller(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	assert_int_equal(sg_conn_begin(f->ctx.conn, true), SG_ERR_OK);
	json_t *in =
	    json_pack("{s:s, s:s, s:s}", "short_description", "x", "impact", "1", "urgency", "2");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	sg_conn_rollback(f->ctx.conn);
	/* Its own commit did not end the transaction, which was rolled back. */
	assert_string_equal(seen, "task:incident first:incident second:incident after:incident");
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "incident", id, &rec), SG_ERR_NO_RECORD);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(rules_fire_by_table_phase_and_order, setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(updates_and_deletes_have_their_phases, setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(nothing_after_a_rollback, setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(nested_writes_leave_after_commit_to_the_caller, setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests_name("model.rules", tests, NULL, NULL);
}
