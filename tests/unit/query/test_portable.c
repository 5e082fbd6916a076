/*
 * Unit tests for the SQL the query compiler writes for number columns and
 * sort order, in the form both engines accept (docs/postgresql-port.md):
 * a pattern match on a number column goes through CAST(... AS TEXT), an
 * empty test on one is IS NULL alone (PostgreSQL refuses '' for a number),
 * and NULL sorts first ascending, last descending, through the dialect.
 * The results on SQLite are the ones it gave before.
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

/* An incident "portable <tag>" whose reassignment_count is count (NULL:
 * emptied after the insert). */
static void incident(struct fixture *f, const char *tag, const char *count)
{
	char desc[64];
	snprintf(desc, sizeof(desc), "portable %s", tag);
	json_t *in = json_pack("{s:s, s:s}", "short_description", desc, "reassignment_count",
	                       count ? count : "");
	assert_non_null(in);
	char id[SG_ID_LEN + 1];
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

static void setup_rows(struct fixture *f)
{
	incident(f, "a", "15");
	incident(f, "b", "7");
	incident(f, "c", NULL);
}

/* The WHERE text the compiler writes for query on incident. */
static char *where_of(struct fixture *f, const char *query)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, query));
	struct sg_qenv env;
	sg_ctx_qenv(&f->ctx, &env);
	const struct sg_table *t = sg_dict_table(f->ctx.dict, "incident");
	assert_non_null(t);
	struct sg_sql out;
	sg_sql_init(&out);
	bool invalid = false;
	assert_int_equal(sg_query_compile_where(&env, t, &q, "t", false, &out, &invalid),
	                 SG_ERR_OK);
	assert_false(invalid);
	char *s = strdup(sg_buf_str(&out.text));
	assert_non_null(s);
	sg_sql_cleanup(&out);
	sg_query_cleanup(&q);
	return s;
}

static void like_on_a_number_column_matches_its_text(void **state)
{
	struct fixture *f = *state;
	setup_rows(f);
	char *w = where_of(f, "reassignment_countLIKE5");
	assert_non_null(strstr(w, "CAST(\"t\".\"reassignment_count\" AS TEXT)"));
	free(w);
	w = where_of(f, "short_descriptionLIKEportable");
	assert_null(strstr(w, "CAST(")); /* a text column is matched as it is */
	free(w);
	assert_int_equal(fixture_count(f, "incident",
	                               "short_descriptionSTARTSWITHportable^"
	                               "reassignment_countLIKE5"),
	                 1);
	assert_int_equal(fixture_count(f, "incident",
	                               "short_descriptionSTARTSWITHportable^"
	                               "reassignment_countSTARTSWITH1"),
	                 1);
	assert_int_equal(fixture_count(f, "incident",
	                               "short_descriptionSTARTSWITHportable^"
	                               "reassignment_countENDSWITH7"),
	                 1);
	/* NOT LIKE keeps the empty row, as before */
	assert_int_equal(fixture_count(f, "incident",
	                               "short_descriptionSTARTSWITHportable^"
	                               "reassignment_countNOT LIKE5"),
	                 2);
}

static void empty_on_a_number_column_is_null_alone(void **state)
{
	struct fixture *f = *state;
	setup_rows(f);
	char *w = where_of(f, "reassignment_countISEMPTY");
	assert_non_null(strstr(w, "\"t\".\"reassignment_count\" IS NULL)"));
	assert_null(strstr(w, "''"));
	free(w);
	w = where_of(f, "short_descriptionISEMPTY");
	assert_non_null(strstr(w, "= ''")); /* text columns unchanged */
	free(w);
	assert_int_equal(fixture_count(f, "incident",
	                               "short_descriptionSTARTSWITHportable^"
	                               "reassignment_countISEMPTY"),
	                 1);
	assert_int_equal(fixture_count(f, "incident",
	                               "short_descriptionSTARTSWITHportable^"
	                               "reassignment_countISNOTEMPTY"),
	                 2);
}

/* The short descriptions of the portable incidents in the order query gives. */
static void order_of(struct fixture *f, const char *query, const char *want)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, query));
	struct sg_list_opts lo = {.query = &q, .limit = 10};
	json_t *rows = NULL;
	assert_int_equal(sg_rec_list(&f->ctx, "incident", &lo, &rows, NULL), SG_ERR_OK);
	char got[64] = "";
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *d = json_string_value(json_object_get(row, "short_description"));
		assert_non_null(d);
		strncat(got, d + strlen("portable "), sizeof(got) - strlen(got) - 1);
	}
	assert_string_equal(got, want);
	json_decref(rows);
	sg_query_cleanup(&q);
}

static void null_sorts_first_ascending_last_descending(void **state)
{
	struct fixture *f = *state;
	setup_rows(f);
	order_of(f, "short_descriptionSTARTSWITHportable^ORDERBYreassignment_count", "cba");
	order_of(f, "short_descriptionSTARTSWITHportable^ORDERBYDESCreassignment_count", "abc");
	/* a negative limit is no limit */
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "short_descriptionSTARTSWITHportable"));
	struct sg_list_opts lo = {.query = &q, .limit = -1, .offset = 1};
	json_t *rows = NULL;
	assert_int_equal(sg_rec_list(&f->ctx, "incident", &lo, &rows, NULL), SG_ERR_OK);
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rows);
	sg_query_cleanup(&q);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(like_on_a_number_column_matches_its_text, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(empty_on_a_number_column_is_null_alone, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(null_sorts_first_ascending_last_descending,
	                                    fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
