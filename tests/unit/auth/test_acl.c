/*
 * Unit tests for the access-control evaluator: levels, any-of, Deny-Unless,
 * admin override, nobody, default mode, field order, conditions, roles
 * through groups and containment, elevation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "fixture.h"
#include "auth/acl.h"
#include "core/json.h"

static void acl(struct sg_ctx *sys, const char *name, const char *op, const char *role,
                const char *extra_json)
{
	char id[SG_ID_LEN + 1], rid[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s, s:s}", "name", name, "operation", op);
	if (extra_json) {
		json_t *x = json_loads(extra_json, 0, NULL);
		json_object_update(in, x);
		json_decref(x);
	}
	insert_row(sys, "sys_security_acl", in, id);
	if (role)
		insert_row(sys, "sys_security_acl_role",
		           json_pack("{s:s, s:s}", "sys_security_acl", id, "sys_user_role", role),
		           rid);
}

/* The checks' answers, asserting they were reached without error. */
static bool may(struct sg_auth_session *s, const char *table, enum sg_acl_op op)
{
	bool ok;
	assert_int_equal(sg_acl_table_may(s, T(s, table), op, &ok), SG_ERR_OK);
	return ok;
}

static bool record(struct sg_auth_session *s, const char *table, enum sg_acl_op op, json_t *rec)
{
	bool ok;
	assert_int_equal(sg_acl_record(s, T(s, table), op, rec, &ok), SG_ERR_OK);
	return ok;
}

static int uniform(struct sg_auth_session *s, const char *table)
{
	int d;
	assert_int_equal(sg_acl_read_uniform(s, T(s, table), &d), SG_ERR_OK);
	return d;
}

static bool role(struct sg_auth_session *s, const char *name)
{
	bool held;
	assert_int_equal(sg_acl_has_role(s, name, &held), SG_ERR_OK);
	return held;
}

static bool field(struct sg_auth_session *s, const char *table, const char *element)
{
	bool ok;
	assert_int_equal(sg_acl_field(s, T(s, table), element, SG_ACL_READ, NULL, &ok), SG_ERR_OK);
	return ok;
}

static void levels_any_of_and_deny_unless(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	char id[SG_ID_LEN + 1];
	insert_row(sys, "sys_user_role", json_pack("{s:s}", "name", "r_task"), id);
	insert_row(sys, "sys_user_role", json_pack("{s:s}", "name", "r_extra"), id);
	struct sg_user u1, u2;
	user_with_roles(sys, "u1", (const char *[]){"r_task", NULL}, &u1);
	user_with_roles(sys, "u2", (const char *[]){"r_task", "r_extra", NULL}, &u2);
	acl(sys, "task", "delete", "r_task", NULL);
	acl(sys, "task", "delete", "r_extra", NULL); /* any one at a level suffices */
	assert_true(AS(&u1, may(s, "task", SG_ACL_DELETE)));
	/* incident's own read ACLs decide; task's are not consulted */
	assert_false(AS(&u1, may(s, "incident", SG_ACL_READ)));
	acl(sys, "task", "read", "r_task", NULL);
	assert_true(AS(&u1, may(s, "task", SG_ACL_READ)));
	assert_false(AS(&u1, may(s, "incident", SG_ACL_READ)));
	assert_int_equal(sg_prop_set(sys, "glide.security.acl.fall_through", "true"), SG_ERR_OK);
	assert_true(AS(&u1, may(s, "incident", SG_ACL_READ)));
	assert_int_equal(sg_prop_set(sys, "glide.security.acl.fall_through", "false"), SG_ERR_OK);
	/* Deny-Unless: failing it denies whatever the Allow-If ACLs say */
	acl(sys, "task", "delete", "r_extra", "{\"decision_type\":\"deny\"}");
	assert_false(AS(&u1, may(s, "task", SG_ACL_DELETE)));
	assert_true(AS(&u2, may(s, "task", SG_ACL_DELETE)));
}

static void admin_override_nobody_and_default_mode(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	char id[SG_ID_LEN + 1];
	struct sg_user admin, u1;
	user_with_roles(sys, "boss", (const char *[]){"admin", NULL}, &admin);
	insert_row(sys, "sys_user_role", json_pack("{s:s}", "name", "r_one"), id);
	user_with_roles(sys, "u1", (const char *[]){"r_one", NULL}, &u1);
	/* a condition no record meets; admin passes only while overriding */
	acl(sys, "cmn_location", "write", NULL, "{\"condition\":\"name=NONE\"}");
	insert_row(sys, "cmn_location", json_pack("{s:s}", "name", "HQ"), id);
	json_t *rec;
	assert_int_equal(sg_rec_get(sys, "cmn_location", id, &rec), SG_ERR_OK);
	assert_true(AS(&admin, record(s, "cmn_location", SG_ACL_WRITE, rec)));
	assert_false(AS(&u1, record(s, "cmn_location", SG_ACL_WRITE, rec)));
	acl(sys, "cmn_location", "write", NULL,
	    "{\"condition\":\"name=NONE\",\"admin_overrides\":\"false\"}");
	assert_true(AS(&admin, record(s, "cmn_location", SG_ACL_WRITE, rec)));
	/* whether a read decision is the same for every record (lists skip the
	 * per-record evaluation when it is) */
	acl(sys, "cmn_location", "read", NULL, "{\"condition\":\"name=NONE\"}");
	assert_int_equal(AS(&admin, uniform(s, "cmn_location")), 1);
	/* the base ACL lets anyone read locations: one passing Allow-If decides */
	assert_int_equal(AS(&u1, uniform(s, "cmn_location")), 1);
	acl(sys, "cmn_location", "read", NULL,
	    "{\"condition\":\"name=NONE\",\"admin_overrides\":\"false\"}");
	assert_int_equal(AS(&admin, uniform(s, "cmn_location")), 1);
	/* with accessterm off, one non-overriding ACL turns override off for the level */
	assert_int_equal(sg_prop_set(sys, "glide.security.admin.override.accessterm", "false"),
	                 SG_ERR_OK);
	assert_false(AS(&admin, record(s, "cmn_location", SG_ACL_WRITE, rec)));
	/* a Deny-Unless condition that binds admin too makes every read depend on the record */
	acl(sys, "cmn_location", "read", NULL,
	    "{\"condition\":\"name=NONE\",\"admin_overrides\":\"false\",\"decision_type\":"
	    "\"deny\"}");
	assert_int_equal(AS(&admin, uniform(s, "cmn_location")), -1);
	json_decref(rec);
	/* nobody blocks even admin */
	acl(sys, "sys_number_counter", "read", "nobody", NULL);
	assert_false(AS(&admin, may(s, "sys_number_counter", SG_ACL_READ)));
	assert_int_equal(AS(&admin, uniform(s, "sys_number_counter")), 0);
	/* no ACL at any level: glide.sm.default_mode; the base "*" rules stand in */
	assert_false(AS(&u1, may(s, "sys_number", SG_ACL_READ)));
	assert_true(AS(&admin, may(s, "sys_number", SG_ACL_READ)));
}

static void fields_conditions_groups_and_containment(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	char id[SG_ID_LEN + 1], gid[SG_ID_LEN + 1];
	struct sg_user u1;
	user_with_roles(sys, "u1", (const char *[]){NULL}, &u1);
	/* through a group, then through containment (itil contains cmdb_read) */
	assert_false(AS(&u1, may(s, "cmdb_ci", SG_ACL_READ)));
	assert_int_equal(AS(&u1, uniform(s, "cmdb_ci")), 0);
	insert_row(sys, "sys_user_group", json_pack("{s:s}", "name", "g"), gid);
	insert_row(sys, "sys_user_grmember",
	           json_pack("{s:s, s:s}", "user", u1.sys_id, "group", gid), id);
	insert_row(sys, "sys_group_has_role", json_pack("{s:s, s:s}", "group", gid, "role", "itil"),
	           id);
	assert_true(AS(&u1, role(s, "cmdb_read")));
	assert_true(AS(&u1, may(s, "cmdb_ci", SG_ACL_READ)));
	assert_int_equal(AS(&u1, uniform(s, "cmdb_ci")), 1);
	/* field order: incident.f before task.f before *.f */
	acl(sys, "task.short_description", "read", "nobody", NULL);
	assert_false(AS(&u1, field(s, "incident", "short_description")));
	acl(sys, "incident.short_description", "read", "itil", NULL);
	assert_true(AS(&u1, field(s, "incident", "short_description")));
	assert_false(AS(&u1, field(s, "problem", "short_description")));
	/* conditions filter rows */
	char a[SG_ID_LEN + 1], b[SG_ID_LEN + 1];
	insert_row(sys, "incident",
	           json_pack("{s:s, s:s}", "short_description", "mine", "caller_id", u1.sys_id), a);
	insert_row(sys, "incident", json_pack("{s:s}", "short_description", "theirs"), b);
	struct sg_user u2;
	user_with_roles(sys, "u2", (const char *[]){"snc_internal", NULL}, &u2);
	json_t *rows = json_array();
	json_t *ra, *rb;
	sg_rec_get(sys, "incident", a, &ra);
	sg_rec_get(sys, "incident", b, &rb);
	json_object_set_new(ra, "caller_id", json_string(u2.sys_id));
	sg_rec_update(sys, "incident", a, ra, &WO);
	json_array_append_new(rows, ra);
	json_array_append_new(rows, rb);
	assert_int_equal(AS(&u2, uniform(s, "incident")), -1);
	assert_true(AS(&u2, sg_acl_filter_rows(s, T(s, "incident"), rows) == SG_ERR_OK));
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(sg_json_str(json_array_get(rows, 0), "sys_id"), a);
	json_decref(rows);
}

static void elevation(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	struct sg_user admin;
	user_with_roles(sys, "boss", (const char *[]){"admin", "security_admin", NULL}, &admin);
	assert_false(AS(&admin, role(s, "security_admin")));
	assert_false(AS(&admin, may(s, "sys_security_acl", SG_ACL_CREATE)));
	assert_int_equal(sg_prop_set(sys, "snowglobe.rest.allow_elevation", "true"), SG_ERR_OK);
	struct sg_ctx c_;
	struct sg_auth_session s_;
	assert_int_equal(sg_ctx_begin(&c_, f->model, &admin), SG_ERR_OK);
	sg_auth_session_init(&s_, auth, &c_, "security_admin");
	assert_true(may(&s_, "sys_security_acl", SG_ACL_CREATE));
	sg_auth_session_cleanup(&s_);
	sg_ctx_end(&c_);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(levels_any_of_and_deny_unless, auth_setup,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(admin_override_nobody_and_default_mode, auth_setup,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(fields_conditions_groups_and_containment, auth_setup,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(elevation, auth_setup, auth_teardown),
	};
	return cmocka_run_group_tests_name("auth.acl", tests, NULL, NULL);
}
