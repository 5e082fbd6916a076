/*
 * Unit tests for advanced ACL scripts in auth, with a fake script hook (auth
 * does not include the engine): no hook denies; the hook gets the record and
 * a cache key of the ACL's version; its answer is kept per request and
 * record; a hook failure fails the check; the pre-query check does not run
 * it; the SQL form (aggregates) names the rows it granted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fixture.h"
#include "auth/acl.h"
#include "core/json.h"
#include "store/sql.h"

static int calls;
static sg_err fail_with;
static char last_key[128];

/* Grants the records whose name is "yes" (a new record: never). */
static sg_err fake(struct sg_auth_session *s, const struct sg_acl_script *a, bool *answer)
{
	(void)s;
	calls++;
	snprintf(last_key, sizeof(last_key), "%s", a->cache_key);
	*answer = a->rec && sg_str_eq(sg_json_str(a->rec, "name"), "yes");
	return fail_with;
}

static char acl_id[SG_ID_LEN + 1];

static void script_acl(struct sg_ctx *sys, const char *op, const char *advanced)
{
	insert_row(sys, "sys_security_acl",
	           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "cmn_location", "operation",
	                     op, "advanced", advanced, "script", "answer = current.name == 'yes';",
	                     "decision_type", "deny", "admin_overrides", "false"),
	           acl_id);
}

static json_t *location(struct sg_ctx *sys, const char *name)
{
	char id[SG_ID_LEN + 1];
	insert_row(sys, "cmn_location", json_pack("{s:s}", "name", name), id);
	json_t *rec;
	assert_int_equal(sg_rec_get(sys, "cmn_location", id, &rec), SG_ERR_OK);
	return rec;
}

static bool record(struct sg_auth_session *s, enum sg_acl_op op, json_t *rec, sg_err want)
{
	bool ok;
	assert_int_equal(sg_acl_record(s, T(s, "cmn_location"), op, rec, &ok), want);
	return ok;
}

/* Two checks of the same record in one request: the hook runs once. */
static bool twice(struct sg_auth_session *s, json_t *rec)
{
	return record(s, SG_ACL_READ, rec, SG_ERR_OK) && record(s, SG_ACL_READ, rec, SG_ERR_OK);
}

static bool may_read(struct sg_auth_session *s)
{
	bool ok;
	assert_int_equal(sg_acl_table_may(s, T(s, "cmn_location"), SG_ACL_READ, &ok), SG_ERR_OK);
	return ok;
}

/* The number of rows the SQL form of the read ACLs grants. */
static long long granted_rows(struct sg_auth_session *s)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT count(*) FROM \"cmn_location\" t WHERE ");
	assert_int_equal(sg_acl_read_where(s, T(s, "cmn_location"), "t", &q), SG_ERR_OK);
	char *n = NULL;
	assert_int_equal(sg_conn_query_string(s->ctx->conn, &q, &n), SG_ERR_OK);
	sg_sql_cleanup(&q);
	long long v = n ? atoll(n) : -1;
	free(n);
	return v;
}

static void scripts_through_the_hook(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	struct sg_user u;
	user_with_roles(sys, "u1", (const char *[]){NULL}, &u);
	json_t *yes = location(sys, "yes"), *no = location(sys, "no");
	long long all = fixture_count(f, "cmn_location", "");
	script_acl(sys, "read", "true");

	/* no hook installed: the ACL fails, without an error */
	sg_auth_set_script_hooks(NULL, NULL);
	assert_false(AS(&u, record(s, SG_ACL_READ, yes, SG_ERR_OK)));

	sg_auth_set_script_hooks(fake, NULL);
	calls = 0;
	assert_true(AS(&u, twice(s, yes)));
	assert_int_equal(calls, 1);
	char want[128];
	snprintf(want, sizeof(want), "sys_security_acl/%s/0", acl_id);
	assert_string_equal(last_key, want);
	assert_false(AS(&u, twice(s, no)));
	assert_int_equal(calls, 2);
	/* a new request asks again */
	assert_true(AS(&u, record(s, SG_ACL_READ, yes, SG_ERR_OK)));
	assert_int_equal(calls, 3);

	/* the pre-query check counts the script as passing, without running it */
	calls = 0;
	assert_true(AS(&u, may_read(s)));
	assert_int_equal(calls, 0);
	/* the SQL form: the rows the script granted */
	assert_int_equal(AS(&u, granted_rows(s)), 1);
	assert_true(calls >= all);

	/* the hook's failure is the check's */
	fail_with = SG_ERR_NOMEM;
	assert_false(AS(&u, record(s, SG_ACL_READ, yes, SG_ERR_NOMEM)));
	fail_with = SG_ERR_OK;

	/* an ACL not marked advanced does not run its script */
	json_t *patch = json_pack("{s:s}", "advanced", "false");
	struct sg_write_opts wo = WO;
	assert_int_equal(sg_rec_update(sys, "sys_security_acl", acl_id, patch, &wo), SG_ERR_OK);
	json_decref(patch);
	calls = 0;
	assert_true(AS(&u, record(s, SG_ACL_READ, no, SG_ERR_OK)));
	assert_int_equal(calls, 0);

	/* a create check before the record exists runs the script without one */
	script_acl(sys, "create", "true");
	bool ok = true;
	calls = 0;
	assert_false(AS(&u, (sg_acl_table_may(s, T(s, "cmn_location"), SG_ACL_CREATE, &ok), ok)));
	assert_int_equal(calls, 1);

	sg_auth_set_script_hooks(NULL, NULL);
	json_decref(yes);
	json_decref(no);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(scripts_through_the_hook, auth_setup, auth_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
