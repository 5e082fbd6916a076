/*
 * Unit tests for failures inside auth: when the tables a decision reads
 * are broken (SQL errors), every check returns the error, never an answer
 * the failure made up ("no role", "no rule", "no row", "no scope").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "fixture.h"
#include "auth/acl.h"
#include "auth/basic.h"
#include "auth/oauth.h"
#include "auth/password.h"
#include "core/json.h"

static void insert(struct fixture *f, const char *table, json_t *in, char id[SG_ID_LEN + 1])
{
	assert_non_null(in);
	assert_int_equal(sg_rec_insert(&f->ctx, table, in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

/* A user holding role (NULL: none), as a request would carry it. */
static void user(struct fixture *f, const char *name, const char *role, struct sg_user *out)
{
	char id[SG_ID_LEN + 1], rid[SG_ID_LEN + 1];
	insert(f, "sys_user",
	       json_pack("{s:s, s:s, s:s}", "user_name", name, "last_name", name, "user_password",
	                 "Pass-word-1"),
	       id);
	if (role)
		insert(f, "sys_user_has_role", json_pack("{s:s, s:s}", "user", id, "role", role),
		       rid);
	memset(out, 0, sizeof(*out));
	snprintf(out->sys_id, sizeof(out->sys_id), "%s", id);
	snprintf(out->user_name, sizeof(out->user_name), "%s", name);
}

/* Breaks a table under the model (the store answers "no such table"). */
static void break_table(struct fixture *f, const char *table)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "ALTER TABLE \"%s\" RENAME TO \"%s_broken\"", table, table);
	assert_int_equal(sg_conn_exec_raw(f->ctx.conn, sql), SG_ERR_OK);
}

/* A request as u: its model session and auth session. */
struct request {
	struct sg_ctx ctx;
	struct sg_auth_session s;
};

static void begin(struct fixture *f, const struct sg_user *u, struct request *r)
{
	assert_int_equal(sg_ctx_begin(&r->ctx, f->model, u), SG_ERR_OK);
	sg_auth_session_init(&r->s, auth, &r->ctx, NULL);
}

static void end(struct request *r)
{
	sg_auth_session_cleanup(&r->s);
	sg_ctx_end(&r->ctx);
}

/* Properties decide security: one that cannot be read is an error, never
 * its default (glide.sm.default_mode unread would read as "deny" here, but
 * glide.security.acl.fall_through or admin_only_sys_fields would not). */
static void unreadable_properties_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_user u;
	user(f, "u0", NULL, &u);
	/* a change, so the next read loads the properties again */
	assert_int_equal(sg_prop_set(&f->ctx, "glide.sys.default.tz", "Europe/Paris"), SG_ERR_OK);
	break_table(f, "sys_properties");
	struct request r;
	begin(f, &u, &r);
	bool b = true;
	long long n = 1;
	char *s = (char *)"x";
	assert_int_equal(sg_prop_bool(&r.ctx, "glide.security.acl.fall_through", true, &b),
	                 SG_ERR_STORE);
	assert_int_equal(sg_prop_int(&r.ctx, "glide.user.max_unlock_attempts", 5, &n),
	                 SG_ERR_STORE);
	assert_int_equal(sg_prop_get(&r.ctx, "glide.sm.default_mode", &s), SG_ERR_STORE);
	assert_null(s);
	/* an accessor that cannot return it keeps it in the session */
	assert_int_equal(sg_ctx_error(&r.ctx), SG_ERR_OK);
	assert_string_equal(sg_ctx_time_zone(&r.ctx), "UTC");
	assert_int_equal(sg_ctx_error(&r.ctx), SG_ERR_STORE);
	bool may = true;
	assert_int_equal(sg_acl_table_may(&r.s, T(&r.s, "incident"), SG_ACL_READ, &may),
	                 SG_ERR_STORE);
	assert_false(may);
	end(&r);
}

/* With no access control readable, glide.sm.default_mode=allow would let
 * anyone read anything: the failure must not look like "no ACL". */
static void unreadable_acls_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_user u;
	user(f, "u1", NULL, &u);
	assert_int_equal(sg_prop_set(&f->ctx, "glide.sm.default_mode", "allow"), SG_ERR_OK);
	break_table(f, "sys_security_acl");
	struct request r;
	begin(f, &u, &r);
	bool may = true;
	assert_int_equal(sg_acl_table_may(&r.s, T(&r.s, "incident"), SG_ACL_READ, &may),
	                 SG_ERR_STORE);
	assert_false(may);
	/* the session keeps its failure: later checks return it too */
	const signed char *plan = NULL;
	assert_int_equal(sg_acl_read_plan(&r.s, T(&r.s, "incident"), &plan), SG_ERR_STORE);
	assert_null(plan);
	assert_int_equal(sg_auth_session_error(&r.s), SG_ERR_STORE);
	end(&r);
}

static void unreadable_roles_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_user u;
	user(f, "u1", "itil", &u);
	break_table(f, "sys_user_has_role");
	struct request r;
	begin(f, &u, &r);
	bool held = true;
	assert_int_equal(sg_acl_has_role(&r.s, "itil", &held), SG_ERR_STORE);
	assert_false(held);
	end(&r);
	/* a fresh request fails the same way, and the role cache kept nothing */
	begin(f, &u, &r);
	int decision = 1;
	assert_int_equal(sg_acl_read_uniform(&r.s, T(&r.s, "incident"), &decision), SG_ERR_STORE);
	assert_int_equal(decision, 0);
	end(&r);
}

/* A condition that cannot be evaluated neither hides nor shows the record. */
static void failed_conditions_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_user u;
	user(f, "u1", NULL, &u);
	char id[SG_ID_LEN + 1];
	insert(f, "sys_security_acl",
	       json_pack("{s:s, s:s, s:s}", "name", "cmn_location", "operation", "write",
	                 "condition", "name=HQ"),
	       id);
	insert(f, "cmn_location", json_pack("{s:s}", "name", "HQ"), id);
	char acl_id[SG_ID_LEN + 1];
	insert(f, "sys_security_acl",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "cmn_location", "operation", "read",
	                 "condition", "name=HQ", "decision_type", "deny"),
	       acl_id);
	json_t *rec;
	assert_int_equal(sg_rec_get(&f->ctx, "cmn_location", id, &rec), SG_ERR_OK);
	struct request r;
	begin(f, &u, &r);
	bool allowed = false;
	assert_int_equal(sg_acl_record(&r.s, T(&r.s, "cmn_location"), SG_ACL_WRITE, rec, &allowed),
	                 SG_ERR_OK);
	assert_true(allowed);
	end(&r);
	break_table(f, "cmn_location");
	begin(f, &u, &r);
	assert_int_equal(sg_acl_record(&r.s, T(&r.s, "cmn_location"), SG_ACL_WRITE, rec, &allowed),
	                 SG_ERR_STORE);
	assert_false(allowed);
	end(&r);
	/* a page filtered through a condition that fails is an error, not a shorter page */
	json_t *rows = json_pack("[O]", rec);
	begin(f, &u, &r);
	assert_int_equal(sg_acl_filter_rows(&r.s, T(&r.s, "cmn_location"), rows), SG_ERR_STORE);
	end(&r);
	json_decref(rows);
	json_decref(rec);
}

/* A write body is never stripped of a field on a failure: the write stops. */
static void failed_field_checks_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_user u;
	user(f, "u1", "itil", &u);
	char id[SG_ID_LEN + 1], rid[SG_ID_LEN + 1];
	insert(f, "sys_security_acl",
	       json_pack("{s:s, s:s}", "name", "incident.short_description", "operation", "write"),
	       id);
	insert(f, "sys_security_acl_role",
	       json_pack("{s:s, s:s}", "sys_security_acl", id, "sys_user_role", "itil"), rid);
	break_table(f, "sys_user_role_contains");
	json_t *body = json_pack("{s:s}", "short_description", "x");
	struct request r;
	begin(f, &u, &r);
	assert_int_equal(sg_acl_strip_input(&r.s, T(&r.s, "incident"), SG_ACL_CREATE, body, NULL),
	                 SG_ERR_STORE);
	bool readable = true;
	assert_int_equal(sg_acl_field(&r.s, T(&r.s, "incident"), "short_description", SG_ACL_READ,
	                              NULL, &readable),
	                 SG_ERR_STORE);
	assert_false(readable);
	end(&r);
	json_decref(body);
}

/* The system's session neither reads nor fails. */
static void the_system_needs_no_tables(void **state)
{
	struct fixture *f = *state;
	break_table(f, "sys_security_acl");
	break_table(f, "sys_user_has_role");
	struct request r;
	begin(f, NULL, &r);
	bool ok = false;
	assert_int_equal(sg_acl_table_may(&r.s, T(&r.s, "incident"), SG_ACL_DELETE, &ok),
	                 SG_ERR_OK);
	assert_true(ok);
	const signed char *plan = (const signed char *)"x";
	assert_int_equal(sg_acl_read_plan(&r.s, T(&r.s, "incident"), &plan), SG_ERR_OK);
	assert_null(plan);
	end(&r);
}

/* A bearer token whose credential cannot be read is not "unknown". */
static void unreadable_tokens_are_an_error(void **state)
{
	struct fixture *f = *state;
	break_table(f, "oauth_credential");
	struct sg_user u;
	struct sg_bearer b;
	assert_int_equal(sg_auth_bearer(auth, "Bearer some-token", &u, &b), SG_ERR_STORE);
}

/* Auth scopes that cannot be read do not mean "no scope required". */
static void unreadable_scopes_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_bearer b = {.entity = "0123456789abcdef0123456789abcdef", .scope = "cxm"};
	assert_int_equal(sg_oauth_scope_check(auth, &b, "/api/now/table/incident", "GET"),
	                 SG_ERR_OK);
	break_table(f, "sys_api_access_scope");
	assert_int_equal(sg_oauth_scope_check(auth, &b, "/api/now/table/incident", "GET"),
	                 SG_ERR_STORE);
}

/* A failed login that cannot be counted fails: the lockout must hold. */
static void uncounted_failed_logins_are_an_error(void **state)
{
	struct fixture *f = *state;
	struct sg_user u, got;
	user(f, "u1", NULL, &u);
	assert_int_equal(sg_auth_password(auth, "u1", "wrong", &got), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(sg_conn_exec_raw(f->ctx.conn, "CREATE TRIGGER \"no_updates\" BEFORE "
	                                               "UPDATE ON \"sys_user\" BEGIN "
	                                               "SELECT RAISE(FAIL, 'read-only'); END"),
	                 SG_ERR_OK);
	sg_err err = sg_auth_password(auth, "u1", "wrong", &got);
	assert_int_not_equal(err, SG_ERR_OK);
	assert_int_not_equal(err, SG_ERR_UNAUTHENTICATED);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(unreadable_properties_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(unreadable_acls_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(unreadable_roles_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(failed_conditions_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(failed_field_checks_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(the_system_needs_no_tables, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(unreadable_tokens_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(unreadable_scopes_are_an_error, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(uncounted_failed_logins_are_an_error, auth_setup_system,
	                                    auth_teardown),
	};
	return cmocka_run_group_tests_name("auth.errors", tests, NULL, NULL);
}
