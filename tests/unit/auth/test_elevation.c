/*
 * Unit tests for privileged changes (issue 12, defect 10): security
 * properties and grants of elevated roles need security_admin in effect,
 * whether they are created, changed into or out of, or deleted; the system
 * passes.
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
#include "store/sql.h"
#include "store/store.h"

static void role_id(struct sg_ctx *sys, const char *name, char id[SG_ID_LEN + 1])
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"sys_user_role\" WHERE \"name\" = ");
	sg_sql_text(&q, name);
	char *found = NULL;
	assert_int_equal(sg_conn_query_string(sys->conn, &q, &found), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_non_null(found);
	snprintf(id, SG_ID_LEN + 1, "%s", found);
	free(found);
}

/* One request as user (elevated to elevate, or not), its session in s_. */
struct req {
	struct sg_ctx ctx;
	struct sg_auth_session s;
};

static void begin(struct fixture *f, struct req *r, const struct sg_user *u, const char *elevate)
{
	assert_int_equal(sg_ctx_begin(&r->ctx, f->model, u), SG_ERR_OK);
	sg_auth_session_init(&r->s, auth, &r->ctx, elevate);
}

static void end(struct req *r)
{
	sg_auth_session_cleanup(&r->s);
	sg_ctx_end(&r->ctx);
}

/* The answer to creating input in table: SG_ERR_OK or the refusal. */
static sg_err create(struct req *r, const char *table, const char *input_json)
{
	json_t *in = json_loads(input_json, 0, NULL);
	assert_non_null(in);
	sg_err err =
	    sg_acl_strip_input(&r->s, sg_dict_table(r->ctx.dict, table), SG_ACL_CREATE, in, NULL);
	json_decref(in);
	return err;
}

static bool change(struct req *r, const char *table, enum sg_acl_op op, const char *rec_json)
{
	json_t *rec = json_loads(rec_json, 0, NULL);
	bool ok;
	assert_int_equal(sg_acl_record(&r->s, sg_dict_table(r->ctx.dict, table), op, rec, &ok),
	                 SG_ERR_OK);
	json_decref(rec);
	return ok;
}

static void security_properties_list(void **state)
{
	(void)state;
	assert_true(sg_acl_is_security_property("snowglobe.rest.allow_elevation"));
	assert_true(sg_acl_is_security_property("SnowGlobe.REST.Allow_Elevation"));
	assert_true(sg_acl_is_security_property("glide.security.strict_elevate_privilege"));
	assert_true(sg_acl_is_security_property("glide.security.anything.new"));
	assert_true(sg_acl_is_security_property("glide.oauth.inbound.client.credential.grant_type."
	                                        "enabled"));
	assert_true(sg_acl_is_security_property("glide.sm.default_mode"));
	assert_true(sg_acl_is_security_property("glide.user.max_unlock_attempts"));
	assert_true(sg_acl_is_security_property("com.snc.platform.security.oauth.is.active"));
	assert_false(sg_acl_is_security_property("glide.securityx"));
	assert_false(sg_acl_is_security_property("glide.sm.default_mode.x"));
	assert_false(sg_acl_is_security_property("glide.sys.date_format"));
	assert_false(sg_acl_is_security_property(NULL));
}

static void properties_need_security_admin(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	struct sg_user boss;
	user_with_roles(sys, "boss", (const char *[]){"admin", "security_admin", NULL}, &boss);
	assert_int_equal(sg_prop_set(sys, "snowglobe.rest.allow_elevation", "true"), SG_ERR_OK);
	const char *elev = "{\"name\": \"snowglobe.rest.allow_elevation\", \"value\": \"true\"}";
	struct req r;
	begin(f, &r, &boss, NULL); /* admin, not elevated */
	assert_int_equal(create(&r, "sys_properties", elev), SG_ERR_ACL_INSERT);
	assert_int_equal(create(&r, "sys_properties",
	                        "{\"name\": {\"value\": \"glide.sm."
	                        "default_mode\"}}"),
	                 SG_ERR_ACL_INSERT);
	assert_false(change(&r, "sys_properties", SG_ACL_WRITE, elev));
	assert_false(change(&r, "sys_properties", SG_ACL_DELETE, elev));
	assert_true(change(&r, "sys_properties", SG_ACL_READ, elev));
	assert_int_equal(create(&r, "sys_properties", "{\"name\": \"glide.sys.date_format\"}"),
	                 SG_ERR_OK);
	assert_true(change(&r, "sys_properties", SG_ACL_WRITE, "{\"name\": \"glide.sys.x\"}"));
	/* an update that renames an ordinary property into a security one */
	json_t *in = json_pack("{s:s}", "name", "glide.security.acl.fall_through");
	assert_int_equal(sg_acl_strip_input(&r.s, sg_dict_table(r.ctx.dict, "sys_properties"),
	                                    SG_ACL_WRITE, in, NULL),
	                 SG_ERR_ACL_UPDATE);
	json_decref(in);
	end(&r);
	begin(f, &r, &boss, "security_admin"); /* elevated */
	assert_int_equal(create(&r, "sys_properties", elev), SG_ERR_OK);
	assert_true(change(&r, "sys_properties", SG_ACL_WRITE, elev));
	assert_true(change(&r, "sys_properties", SG_ACL_DELETE, elev));
	end(&r);
}

static void grants_need_security_admin(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	struct sg_user boss, other;
	user_with_roles(sys, "boss", (const char *[]){"admin", "security_admin", NULL}, &boss);
	user_with_roles(sys, "other", (const char *[]){"admin", NULL}, &other);
	assert_int_equal(sg_prop_set(sys, "snowglobe.rest.allow_elevation", "true"), SG_ERR_OK);
	char sec[SG_ID_LEN + 1], custom[SG_ID_LEN + 1], itil[SG_ID_LEN + 1];
	role_id(sys, "security_admin", sec);
	role_id(sys, "itil", itil);
	insert_row(sys, "sys_user_role",
	           json_pack("{s:s, s:s}", "name", "x_vault", "elevated_privilege", "true"),
	           custom);

	char buf[256];
	struct req r;
	const struct sg_user *who[] = {&boss, &other};
	for (size_t i = 0; i < 2; i++) {
		begin(f, &r, who[i], i == 0 ? NULL : "security_admin");
		/* by name, by sys_id, as {"value"}; a role of its own elevated */
		assert_int_equal(create(&r, "sys_user_has_role", "{\"role\": \"security_admin\"}"),
		                 SG_ERR_ACL_INSERT);
		snprintf(buf, sizeof(buf), "{\"role\": \"%s\"}", sec);
		assert_int_equal(create(&r, "sys_user_has_role", buf), SG_ERR_ACL_INSERT);
		snprintf(buf, sizeof(buf), "{\"role\": {\"value\": \"%s\"}}", custom);
		assert_int_equal(create(&r, "sys_user_has_role", buf), SG_ERR_ACL_INSERT);
		assert_int_equal(create(&r, "sys_user_has_role", "{\"role\": \"x_vault\"}"),
		                 SG_ERR_ACL_INSERT);
		assert_int_equal(create(&r, "sys_group_has_role", "{\"role\": \"security_admin\"}"),
		                 SG_ERR_ACL_INSERT);
		snprintf(buf, sizeof(buf), "{\"role\": \"%s\", \"contains\": \"%s\"}", itil, sec);
		assert_int_equal(create(&r, "sys_user_role_contains", buf), SG_ERR_ACL_INSERT);
		snprintf(buf, sizeof(buf), "{\"role\": \"%s\"}", sec);
		assert_false(change(&r, "sys_user_has_role", SG_ACL_DELETE, buf));
		assert_false(change(&r, "sys_user_has_role", SG_ACL_WRITE, buf));
		/* the role itself: made ordinary, or another named after it */
		assert_false(
		    change(&r, "sys_user_role", SG_ACL_WRITE,
		           "{\"name\": \"security_admin\", \"elevated_privilege\": \"true\"}"));
		assert_int_equal(create(&r, "sys_user_role", "{\"name\": \"security_admin\"}"),
		                 SG_ERR_ACL_INSERT);
		/* ordinary grants stay the admin's */
		assert_int_equal(create(&r, "sys_user_has_role", "{\"role\": \"itil\"}"),
		                 SG_ERR_OK);
		snprintf(buf, sizeof(buf), "{\"role\": \"%s\"}", itil);
		assert_true(change(&r, "sys_user_has_role", SG_ACL_DELETE, buf));
		assert_int_equal(create(&r, "sys_user_role", "{\"name\": \"x_plain\"}"), SG_ERR_OK);
		end(&r);
	}
	/* security_admin in effect may; so may the system */
	begin(f, &r, &boss, "security_admin");
	assert_int_equal(create(&r, "sys_user_has_role", "{\"role\": \"security_admin\"}"),
	                 SG_ERR_OK);
	snprintf(buf, sizeof(buf), "{\"role\": \"%s\", \"contains\": \"%s\"}", itil, sec);
	assert_int_equal(create(&r, "sys_user_role_contains", buf), SG_ERR_OK);
	end(&r);
	char id[SG_ID_LEN + 1];
	insert_row(sys, "sys_user_has_role",
	           json_pack("{s:s, s:s}", "user", other.sys_id, "role", "security_admin"), id);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(security_properties_list),
	    cmocka_unit_test_setup_teardown(properties_need_security_admin, auth_setup_system,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(grants_need_security_admin, auth_setup_system,
	                                    auth_teardown),
	};
	return cmocka_run_group_tests_name("auth.elevation", tests, NULL, NULL);
}
