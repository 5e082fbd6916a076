/*
 * Unit tests for the identification and reconciliation engine (model/ire.c)
 * on a fresh instance: identification by the default rules, the operations,
 * multiple matches, dry runs, duplicates in one payload, the write hook, and
 * payloads of the wrong shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "core/json.h"
#include "fixture.h"
#include "model/ire.h"
#include "query/query.h"

static const struct sg_ire_opts COMMIT = {.dedup = true, .partial_commits = true};
static const struct sg_ire_opts DRY = {.dry_run = true, .dedup = true, .partial_commits = true};

/* Runs payload (JSON text); returns the result (new reference). */
static json_t *run(struct fixture *f, const char *payload, const struct sg_ire_opts *o,
                   const struct sg_ire_hooks *h)
{
	json_t *p = json_loads(payload, 0, NULL);
	assert_non_null(p);
	json_t *res = NULL;
	assert_int_equal(sg_ire_run(&f->ctx, p, o, h, &res), SG_ERR_OK);
	json_decref(p);
	assert_non_null(res);
	return res;
}

static json_t *item(json_t *res, size_t i)
{
	return json_array_get(json_object_get(res, "items"), i);
}

static const char *op(json_t *res, size_t i)
{
	return sg_json_str(item(res, i), "operation");
}

static void insert_then_no_change_then_update(void **state)
{
	struct fixture *f = *state;
	const char *p = "{\"items\":[{\"className\":\"cmdb_ci_linux_server\","
	                "\"values\":{\"name\":\"u1\",\"serial_number\":\"S1\",\"ram\":\"1\"}}]}";
	json_t *a = run(f, p, &COMMIT, NULL);
	assert_string_equal(op(a, 0), "INSERT");
	const char *id = sg_json_str(item(a, 0), "sysId");
	assert_int_equal(strlen(id), 32);
	json_t *b = run(f, p, &COMMIT, NULL);
	assert_string_equal(op(b, 0), "NO_CHANGE");
	assert_string_equal(sg_json_str(item(b, 0), "sysId"), id);
	json_t *c = run(f,
	                "{\"items\":[{\"className\":\"cmdb_ci_linux_server\","
	                "\"values\":{\"name\":\"renamed\",\"serial_number\":\"S1\"}}]}",
	                &COMMIT, NULL);
	assert_string_equal(op(c, 0), "UPDATE");
	assert_string_equal(sg_json_str(item(c, 0), "sysId"), id);
	assert_int_equal(fixture_count(f, "cmdb_ci", "serial_number=S1"), 1);
	assert_int_equal(fixture_count(f, "cmdb_ci", "name=renamed"), 1);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void multi_match_is_an_error(void **state)
{
	struct fixture *f = *state;
	const char *p =
	    "{\"items\":[{\"className\":\"cmdb_ci_computer\",\"values\":{\"name\":\"twin\"}}]}";
	json_t *a = run(f, p, &COMMIT, NULL);
	/* a second CI of the same name, made behind the engine's back */
	json_t *in = json_pack("{s:s}", "name", "twin");
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_insert(&f->ctx, "cmdb_ci_server", in, &wo, id), SG_ERR_OK);
	json_decref(in);
	json_t *b = run(f, p, &COMMIT, NULL);
	json_t *errs = json_object_get(item(b, 0), "errors");
	assert_int_equal(json_array_size(errs), 1);
	assert_string_equal(sg_json_str(json_array_get(errs, 0), "error"),
	                    "MULTIPLE_DUPLICATE_RECORDS");
	assert_string_equal(sg_json_str(item(b, 0), "sysId"), "Unknown");
	json_t *att = json_object_get(item(b, 0), "identificationAttempts");
	assert_string_equal(sg_json_str(json_array_get(att, 1), "attemptResult"), "MULTI_MATCH");
	json_decref(a);
	json_decref(b);
}

static void dry_run_writes_nothing(void **state)
{
	struct fixture *f = *state;
	json_t *a =
	    run(f,
	        "{\"items\":[{\"className\":\"cmdb_ci_netgear\",\"values\":{\"name\":\"sw\"}},"
	        "{\"className\":\"cmdb_ci_service\",\"values\":{\"name\":\"svc\"}}],"
	        "\"relations\":[{\"parent\":1,\"child\":0,\"type\":\"Depends on::Used by\"}]}",
	        &DRY, NULL);
	assert_string_equal(op(a, 0), "INSERT");
	assert_string_equal(op(a, 1), "INSERT");
	assert_int_equal(fixture_count(f, "cmdb_ci", "name=sw^ORname=svc"), 0);
	assert_int_equal(fixture_count(f, "cmdb_rel_ci", ""), 0);
	json_decref(a);
}

static void duplicates_merge(void **state)
{
	struct fixture *f = *state;
	json_t *a =
	    run(f,
	        "{\"items\":[{\"className\":\"cmdb_ci_computer\",\"values\":{\"name\":\"d\"}},"
	        "{\"className\":\"cmdb_ci_computer\",\"values\":{\"name\":\"D\",\"ram\":\"2\"}}]}",
	        &COMMIT, NULL);
	assert_int_equal(json_array_size(json_object_get(a, "items")), 1);
	assert_int_equal(json_array_size(json_object_get(item(a, 0), "inputIndices")), 2);
	assert_int_equal(fixture_count(f, "cmdb_ci_computer", "name=d^ram=2"), 1);
	json_decref(a);
}

static sg_err refuse_all(void *ud, const struct sg_table *t, json_t *current, json_t *values,
                         bool *ok)
{
	(void)t, (void)current, (void)values;
	(*(int *)ud)++;
	*ok = false;
	return SG_ERR_OK;
}

static void the_hook_decides_each_write(void **state)
{
	struct fixture *f = *state;
	int calls = 0;
	struct sg_ire_hooks h = {.ud = &calls, .may_write = refuse_all};
	json_t *a = run(
	    f, "{\"items\":[{\"className\":\"cmdb_ci_computer\",\"values\":{\"name\":\"no\"}}]}",
	    &COMMIT, &h);
	assert_int_equal(calls, 1);
	assert_string_equal(
	    sg_json_str(json_array_get(json_object_get(item(a, 0), "errors"), 0), "error"),
	    "INSUFFICIENT_RIGHTS");
	assert_int_equal(fixture_count(f, "cmdb_ci", "name=no"), 0);
	json_decref(a);
}

static void bad_payloads(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {"[]", "{}", "{\"items\":[]}", "{\"items\":3}",
	                     "{\"items\":[{}],\"relations\":{}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *p = json_loads(bad[i], 0, NULL);
		json_t *res = NULL;
		assert_int_equal(sg_ire_run(&f->ctx, p, &COMMIT, NULL, &res), SG_ERR_BAD_PARAM);
		assert_null(res);
		json_decref(p);
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(insert_then_no_change_then_update, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(multi_match_is_an_error, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(dry_run_writes_nothing, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(duplicates_merge, fixture_setup, fixture_teardown),
	    cmocka_unit_test_setup_teardown(the_hook_decides_each_write, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(bad_payloads, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("model.ire", tests, NULL, NULL);
}
