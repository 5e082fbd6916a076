/*
 * Unit tests for the query compiler: a value is compared whole, whatever
 * its length (never by a prefix that happened to fit a buffer); the
 * compiler needs nothing but its environment (no request, no record read
 * but through the resolver), and the resolver's errors stop it.
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
	json_t *in =
	    json_pack("{s:s, s:s}", "short_description", "long", "description", description);
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

/* DYNAMIC scripts were cut to 148 bytes, and a cut script could read as a
 * helper: "gs.getUserID()" and blanks, with whatever followed dropped. */
static void long_dynamic_scripts_are_whole(void **state)
{
	struct fixture *f = *state;
	char script[400], id[SG_ID_LEN + 1];
	snprintf(script, sizeof(script), "gs.getUserID()%*s", 300, "x");
	json_t *in = json_pack("{s:s, s:s}", "label", "Long", "script", script);
	assert_non_null(in);
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_filter_option_dynamic", in, &WO, id),
	                 SG_ERR_OK);
	json_decref(in);
	in = json_pack("{s:s, s:s}", "short_description", "mine", "caller_id", f->ctx.user.sys_id);
	assert_non_null(in);
	char inc[SG_ID_LEN + 1];
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, inc), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(sg_prop_set(&f->ctx, "glide.invalid_query.returns_no_rows", "true"),
	                 SG_ERR_OK);
	assert_int_equal(count_matching(f, "caller_idDYNAMIC", id, ""), 0);
	assert_int_equal(
	    count_matching(f, "caller_idDYNAMIC", "90d1921e5f510100a9ad2572f2b477fe", ""), 1);
}

/* ---- a compiler environment without a model ------------------------------ */

#define USER "0123456789abcdef0123456789abcdef"

/* A resolver holding one dynamic filter option, or failing with err. */
struct resolver {
	sg_err err;
	const char *script; /* sys_filter_option_dynamic "dyn" */
	int calls;
};

static sg_err lookup(void *ud, const char *table, const char *sys_id, const char *field, char **out)
{
	struct resolver *r = ud;
	r->calls++;
	*out = NULL;
	if (r->err)
		return r->err;
	if (strcmp(table, "sys_filter_option_dynamic") || strcmp(sys_id, "dyn") ||
	    strcmp(field, "script"))
		return SG_ERR_NO_RECORD;
	*out = strdup(r->script);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

static struct sg_qenv env_of(struct fixture *f, struct resolver *r)
{
	struct sg_qenv env = {.dict = f->ctx.dict,
	                      .dialect = &sg_dialect_sqlite,
	                      .tz = "UTC",
	                      .user_id = USER,
	                      .user_name = "beth",
	                      .lookup = lookup,
	                      .lookup_ud = r};
	return env;
}

/* Compiles query over incident; *sql gets the statement (caller cleans up). */
static sg_err compile(const struct sg_qenv *env, const char *query, struct sg_sql *sql,
                      bool *invalid)
{
	const struct sg_table *t = sg_dict_table(env->dict, "incident");
	assert_non_null(t);
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, query));
	sg_sql_init(sql);
	sg_err err = sg_query_compile_where(env, t, &q, "t", false, sql, invalid);
	sg_query_cleanup(&q);
	return err;
}

static bool binds(const struct sg_sql *sql, const char *value)
{
	for (size_t i = 0; i < sql->nparams; i++)
		if (sql->params[i].kind == SG_PARAM_TEXT && !strcmp(sql->params[i].text, value))
			return true;
	return false;
}

static void user_helpers_come_from_the_environment(void **state)
{
	struct fixture *f = *state;
	struct resolver r = {0};
	struct sg_qenv env = env_of(f, &r);
	struct sg_sql sql;
	bool invalid;
	assert_int_equal(compile(&env, "caller_id=javascript:gs.getUserID()", &sql, &invalid),
	                 SG_ERR_OK);
	assert_false(invalid);
	assert_true(binds(&sql, USER));
	sg_sql_cleanup(&sql);
	assert_int_equal(
	    compile(&env, "short_description=javascript:gs.getUserName()", &sql, &invalid),
	    SG_ERR_OK);
	assert_true(binds(&sql, "beth"));
	sg_sql_cleanup(&sql);
	assert_int_equal(r.calls, 0);
}

static void dynamic_reads_through_the_resolver(void **state)
{
	struct fixture *f = *state;
	struct resolver r = {.script = "gs.getUserID()"};
	struct sg_qenv env = env_of(f, &r);
	struct sg_sql sql;
	bool invalid;
	assert_int_equal(compile(&env, "caller_idDYNAMICdyn", &sql, &invalid), SG_ERR_OK);
	assert_false(invalid);
	assert_true(binds(&sql, USER));
	assert_int_equal(r.calls, 1);
	sg_sql_cleanup(&sql);
	r.script = "getMyGroups()";
	assert_int_equal(compile(&env, "assignment_groupDYNAMICdyn", &sql, &invalid), SG_ERR_OK);
	assert_false(invalid);
	assert_non_null(strstr(sg_buf_str(&sql.text), "sys_user_grmember"));
	assert_true(binds(&sql, USER));
	sg_sql_cleanup(&sql);
	/* no such option: the condition is invalid, the compile goes on */
	assert_int_equal(compile(&env, "caller_idDYNAMICnone^active=true", &sql, &invalid),
	                 SG_ERR_OK);
	assert_true(invalid);
	sg_sql_cleanup(&sql);
}

/* The resolver's failures are the compile's, never a dropped condition. */
static void resolver_errors_stop_the_compile(void **state)
{
	struct fixture *f = *state;
	struct resolver r = {.err = SG_ERR_NOMEM};
	struct sg_qenv env = env_of(f, &r);
	struct sg_sql sql;
	bool invalid;
	assert_int_equal(compile(&env, "active=true^caller_idDYNAMICdyn", &sql, &invalid),
	                 SG_ERR_NOMEM);
	sg_sql_cleanup(&sql);
	r.err = SG_ERR_STORE;
	assert_int_equal(
	    compile(&env, "caller_id.manager.manager=x^ORcaller_idDYNAMICdyn", &sql, &invalid),
	    SG_ERR_STORE);
	sg_sql_cleanup(&sql);
	r.err = SG_ERR_INVALID_TABLE; /* an instance without the table: nothing to read */
	assert_int_equal(compile(&env, "caller_idDYNAMICdyn", &sql, &invalid), SG_ERR_OK);
	assert_true(invalid);
	sg_sql_cleanup(&sql);
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
	    cmocka_unit_test_setup_teardown(long_dynamic_scripts_are_whole, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(user_helpers_come_from_the_environment, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(dynamic_reads_through_the_resolver, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(resolver_errors_stop_the_compile, fixture_setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests_name("query.compile", tests, NULL, NULL);
}
