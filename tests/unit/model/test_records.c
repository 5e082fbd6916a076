/*
 * Unit tests for the record layer: numbering, defaults, priority, state
 * model, data policy, journal, audit, choices, system fields, hierarchy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>

#include "core/json.h"
#include "fixture.h"
#include "query/query.h"

static const struct sg_write_opts WO = {.allow_sys_fields = true};

static json_t *get(struct fixture *f, const char *table, const char *id)
{
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, table, id, &rec), SG_ERR_OK);
	return rec;
}

static void insert(struct fixture *f, const char *table, const char *json, char *id)
{
	json_t *in = json_loads(json, 0, NULL);
	assert_non_null(in);
	sg_err err = sg_rec_insert(&f->ctx, table, in, &WO, id);
	json_decref(in);
	assert_int_equal(err, SG_ERR_OK);
}

static sg_err update(struct fixture *f, const char *table, const char *id, const char *json)
{
	json_t *in = json_loads(json, 0, NULL);
	assert_non_null(in);
	sg_err err = sg_rec_update(&f->ctx, table, id, in, &WO);
	json_decref(in);
	return err;
}

static void incident_gets_number_defaults_and_priority(void **state)
{
	struct fixture *f = *state;
	char a[SG_ID_LEN + 1], b[SG_ID_LEN + 1];
	insert(f, "incident", "{\"short_description\":\"x\",\"impact\":\"1\",\"urgency\":\"2\"}",
	       a);
	insert(f, "incident", "{\"short_description\":\"y\"}", b);
	json_t *ra = get(f, "incident", a), *rb = get(f, "incident", b);
	assert_string_equal(sg_json_str(ra, "number"), "INC0010001");
	assert_string_equal(sg_json_str(rb, "number"), "INC0010002");
	assert_string_equal(sg_json_str(ra, "priority"), "2");
	assert_string_equal(sg_json_str(rb, "priority"), "5"); /* impact 3 x urgency 3 */
	assert_string_equal(sg_json_str(ra, "state"), "1");
	assert_string_equal(sg_json_str(ra, "active"), "true");
	assert_string_equal(sg_json_str(ra, "sys_class_name"), "incident");
	assert_string_equal(sg_json_str(ra, "sys_created_by"), "admin");
	assert_string_equal(sg_json_str(ra, "sys_mod_count"), "0");
	assert_string_equal(sg_json_str(ra, "opened_by"), "6816f79cc0a8016401c5a33be04be441");
	assert_string_equal(sg_json_str(ra, "sys_domain"), "global");
	assert_string_equal(sg_json_str(ra, "sys_tags"), "");
	json_decref(ra);
	json_decref(rb);
	char c[SG_ID_LEN + 1];
	insert(f, "change_request", "{\"short_description\":\"z\"}", c);
	json_t *rc = get(f, "change_request", c);
	assert_string_equal(sg_json_str(rc, "number"), "CHG0030001");
	assert_string_equal(sg_json_str(rc, "state"), "-5"); /* the child's own default */
	json_decref(rc);
}

static void resolving_needs_code_and_notes(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	insert(f, "incident", "{\"short_description\":\"x\"}", id);
	assert_int_equal(
	    update(f, "incident", id, "{\"state\":\"6\",\"close_code\":\"Duplicate\"}"),
	    SG_ERR_DATA_POLICY);
	assert_string_equal(f->ctx.err_arg, "Resolution notes");
	json_t *r = get(f, "incident", id);
	/* nothing half-written */
	assert_string_equal(sg_json_str(r, "state"), "1");
	assert_string_equal(sg_json_str(r, "close_code"), "");
	assert_string_equal(sg_json_str(r, "sys_mod_count"), "0");
	json_decref(r);
	assert_int_equal(
	    update(f, "incident", id,
	           "{\"state\":\"6\",\"close_code\":\"Duplicate\",\"close_notes\":\"n\"}"),
	    SG_ERR_OK);
	r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "incident_state"), "6");
	assert_string_equal(sg_json_str(r, "active"), "true");
	assert_string_not_equal(sg_json_str(r, "resolved_at"), "");
	assert_string_equal(sg_json_str(r, "sys_mod_count"), "1");
	json_decref(r);
	assert_int_equal(update(f, "incident", id, "{\"state\":\"7\"}"), SG_ERR_OK);
	r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "active"), "false");
	assert_string_not_equal(sg_json_str(r, "closed_at"), "");
	json_decref(r);
	assert_int_equal(update(f, "incident", id, "{\"state\":\"2\"}"), SG_ERR_OK);
	r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "active"), "true");
	assert_string_equal(sg_json_str(r, "resolved_at"), "");
	assert_string_equal(sg_json_str(r, "closed_at"), "");
	assert_string_equal(sg_json_str(r, "reopen_count"), "1");
	json_decref(r);
}

static void journal_and_audit(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1], q[200];
	insert(f, "incident", "{\"short_description\":\"x\",\"comments\":\"first\"}", id);
	assert_int_equal(
	    update(f, "incident", id, "{\"work_notes\":\"second\",\"short_description\":\"y\"}"),
	    SG_ERR_OK);
	json_t *r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "comments"), ""); /* raw journal reads are "" */
	json_decref(r);
	snprintf(q, sizeof(q), "element_id=%s", id);
	assert_int_equal(fixture_count(f, "sys_journal_field", q), 2);
	snprintf(q, sizeof(q), "documentkey=%s^fieldname=short_description^oldvalue=x^newvalue=y",
	         id);
	assert_int_equal(fixture_count(f, "sys_audit", q), 1);
	const struct sg_table *t = sg_dict_table(f->ctx.dict, "incident");
	char *h = sg_rec_display(&f->ctx, t, sg_table_field(t, "work_notes"), id, "");
	assert_non_null(strstr(h, " - admin (Work notes)\nsecond\n\n"));
	free(h);
	/* an update that changes nothing is not stored */
	assert_int_equal(update(f, "incident", id, "{\"short_description\":\"y\"}"), SG_ERR_OK);
	r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "sys_mod_count"), "1");
	json_decref(r);
}

static void choices_and_clearing(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	insert(f, "incident", "{\"short_description\":\"x\",\"category\":\"network\"}", id);
	assert_int_equal(update(f, "incident", id, "{\"category\":\"no-such-choice\"}"), SG_ERR_OK);
	json_t *r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "category"), "network");
	json_decref(r);
	/* empty does not clear a choice field, but clears others */
	assert_int_equal(
	    update(f, "incident", id, "{\"category\":\"\",\"short_description\":\"\"}"), SG_ERR_OK);
	r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "category"), "network");
	assert_string_equal(sg_json_str(r, "short_description"), "");
	json_decref(r);
	assert_int_equal(sg_prop_set(&f->ctx, "glide.rest.choice.allow_non_existing_value", "true"),
	                 SG_ERR_OK);
	assert_int_equal(update(f, "incident", id, "{\"category\":\"custom\"}"), SG_ERR_OK);
	r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "category"), "custom");
	json_decref(r);
}

static void client_sys_id_and_unknown_fields(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	insert(
	    f, "core_company",
	    "{\"sys_id\":\"0123456789abcdef0123456789abcdef\",\"name\":\"Acme\",\"bogus\":\"1\"}",
	    id);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");
	json_t *r = get(f, "core_company", id);
	assert_null(json_object_get(r, "bogus"));
	assert_string_equal(sg_json_str(r, "name"), "Acme");
	json_decref(r);
}

/* A table the request looked up before one of its writes stays valid after
 * it, though another request changed the dictionary meanwhile (the write
 * moves this request to the new snapshot: the old one must outlive it). */
static void a_looked_up_table_outlives_a_dictionary_change(void **state)
{
	struct fixture *f = *state;
	const struct sg_table *t = sg_dict_table(f->ctx.dict, "incident");
	assert_non_null(t);
	struct sg_ctx other;
	assert_int_equal(sg_ctx_begin(&other, f->model, NULL), SG_ERR_OK);
	json_t *col = json_pack("{s:s, s:s, s:s}", "name", "incident", "element", "u_later",
	                        "internal_type", "string");
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_insert(&other, "sys_dictionary", col, &wo, id), SG_ERR_OK);
	json_decref(col);
	sg_ctx_end(&other);
	insert(f, "incident", "{\"short_description\":\"after the change\"}", id);
	assert_string_equal(t->name, "incident");
	assert_non_null(sg_table_field(t, "short_description"));
	assert_non_null(sg_table_field(sg_dict_table(f->ctx.dict, "incident"), "u_later"));
}

static void dictionary_rows_change_the_schema(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	insert(f, "sys_dictionary",
	       "{\"name\":\"incident\",\"element\":\"u_cost\",\"internal_type\":\"integer\","
	       "\"column_label\":\"Cost\"}",
	       id);
	insert(f, "incident", "{\"short_description\":\"x\",\"u_cost\":\"42\"}", id);
	json_t *r = get(f, "incident", id);
	assert_string_equal(sg_json_str(r, "u_cost"), "42");
	json_decref(r);
	assert_int_equal(fixture_count(f, "incident", "u_cost>40"), 1);

	insert(f, "sys_db_object",
	       "{\"name\":\"u_widget\",\"label\":\"Widget\",\"is_extendable\":\"true\"}", id);
	insert(f, "sys_dictionary", "{\"name\":\"u_widget\",\"element\":\"u_name\"}", id);
	insert(f, "sys_db_object", "{\"name\":\"u_gadget\",\"super_class\":\"u_widget\"}", id);
	insert(f, "sys_dictionary", "{\"name\":\"u_gadget\",\"element\":\"u_size\"}", id);
	insert(f, "u_gadget", "{\"u_name\":\"g1\",\"u_size\":\"L\"}", id);
	insert(f, "u_widget", "{\"u_name\":\"w1\"}", id);
	assert_int_equal(fixture_count(f, "u_widget", ""), 2);
	assert_int_equal(fixture_count(f, "u_gadget", ""), 1);
	assert_int_equal(fixture_count(f, "u_widget", "sys_class_name=u_gadget"), 1);
	assert_int_equal(fixture_count(f, "u_widget", "sys_class_nameINSTANCEOFu_widget"), 2);
	/* bad names are refused, not stored */
	json_t *in = json_pack("{s:s}", "name", "Bad Name");
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_db_object", in, &WO, id),
	                 SG_ERR_INVALID_INSERT);
	json_decref(in);
	assert_null(sg_dict_table(f->ctx.dict, "Bad Name"));
}

/* A reference shows the display field of the referenced record's own class:
 * read with two columns when it is the reference table's, whole otherwise. */
static void reference_display_follows_the_record_class(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1], w[SG_ID_LEN + 1], g[SG_ID_LEN + 1], bare[SG_ID_LEN + 1];
	insert(f, "sys_db_object", "{\"name\":\"u_widget\",\"is_extendable\":\"true\"}", id);
	insert(f, "sys_dictionary",
	       "{\"name\":\"u_widget\",\"element\":\"u_name\",\"display\":\"true\"}", id);
	insert(f, "sys_db_object", "{\"name\":\"u_gadget\",\"super_class\":\"u_widget\"}", id);
	insert(f, "sys_dictionary",
	       "{\"name\":\"u_gadget\",\"element\":\"u_label\",\"display\":\"true\"}", id);
	insert(f, "sys_db_object", "{\"name\":\"u_holder\"}", id);
	insert(f, "sys_dictionary",
	       "{\"name\":\"u_holder\",\"element\":\"u_ref\",\"internal_type\":\"reference\","
	       "\"reference\":\"u_widget\"}",
	       id);
	insert(f, "u_widget", "{\"u_name\":\"w1\"}", w);
	insert(f, "u_gadget", "{\"u_name\":\"g1\",\"u_label\":\"G-one\"}", g);
	insert(f, "u_widget", "{}", bare);
	const struct sg_table *h = sg_dict_table(f->ctx.dict, "u_holder");
	assert_non_null(h);
	const struct sg_field *ref = sg_table_field(h, "u_ref");
	assert_non_null(ref);
	static const char missing[] = "0123456789abcdef0123456789abcdef";
	struct {
		const char *raw, *shown;
	} cases[] = {{w, "w1"}, {g, "G-one"}, {bare, ""}, {missing, ""}, {"not-an-id", ""}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *v = sg_rec_display(&f->ctx, h, ref, id, cases[i].raw);
		assert_string_equal(v, cases[i].shown);
		free(v);
	}
}

static void parent_table_returns_children(void **state)
{
	struct fixture *f = *state;
	char a[SG_ID_LEN + 1], b[SG_ID_LEN + 1];
	insert(f, "incident", "{\"short_description\":\"inc\"}", a);
	insert(f, "problem", "{\"short_description\":\"prb\"}", b);
	assert_int_equal(fixture_count(f, "task", ""), 2);
	assert_int_equal(fixture_count(f, "incident", ""), 1);
	json_t *r = get(f, "task", a);
	assert_string_equal(sg_json_str(r, "sys_class_name"), "incident");
	assert_null(json_object_get(r, "caller_id")); /* only task's columns */
	json_decref(r);
	json_t *x = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "incident", b, &x), SG_ERR_NO_RECORD);
	assert_int_equal(sg_rec_get(&f->ctx, "nope", b, &x), SG_ERR_INVALID_TABLE);
}

struct worker {
	struct sg_model *model;
	int ok;
};

static void *insert_many(void *arg)
{
	struct worker *w = arg;
	struct sg_ctx ctx;
	if (sg_ctx_begin(&ctx, w->model, NULL))
		return NULL;
	for (int i = 0; i < 25; i++) {
		json_t *in = json_pack("{s:s}", "short_description", "concurrent");
		char id[SG_ID_LEN + 1];
		if (!sg_rec_insert(&ctx, "incident", in, &WO, id))
			w->ok++;
		json_decref(in);
	}
	sg_ctx_end(&ctx);
	return NULL;
}

static void numbers_are_unique_under_concurrent_inserts(void **state)
{
	struct fixture *f = *state;
	pthread_t th[4];
	struct worker w[4] = {{f->model, 0}, {f->model, 0}, {f->model, 0}, {f->model, 0}};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, insert_many, &w[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(w[i].ok, 25);
	struct sg_query q;
	sg_query_init(&q);
	struct sg_list_opts lo = {.query = &q, .limit = 1000};
	json_t *rows;
	assert_int_equal(sg_rec_list(&f->ctx, "incident", &lo, &rows, NULL), SG_ERR_OK);
	assert_int_equal(json_array_size(rows), 100);
	json_t *seen = json_object();
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		const char *n = sg_json_str(r, "number");
		assert_null(json_object_get(seen, n));
		json_object_set_new(seen, n, json_true());
	}
	assert_non_null(json_object_get(seen, "INC0010100"));
	json_decref(seen);
	json_decref(rows);
	sg_query_cleanup(&q);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(incident_gets_number_defaults_and_priority,
	                                    fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(resolving_needs_code_and_notes, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(journal_and_audit, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(choices_and_clearing, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(client_sys_id_and_unknown_fields, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(dictionary_rows_change_the_schema, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(reference_display_follows_the_record_class,
	                                    fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(a_looked_up_table_outlives_a_dictionary_change,
	                                    fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(parent_table_returns_children, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(numbers_are_unique_under_concurrent_inserts,
	                                    fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("model.records", tests, NULL, NULL);
}
