/*
 * test_instance.h - what the in-process test programs (tests/fuzz,
 * tests/alloc) share to make an instance: the admin user's ids, an insert
 * as the system, and an instance with the base schema, its rules and admin.
 */
#ifndef SG_TESTS_TEST_INSTANCE_H
#define SG_TESTS_TEST_INSTANCE_H

#include <stdio.h>

#include "auth/rules.h"
#include "core/json.h"
#include "model/model.h"

#define TEST_ADMIN_SYS_ID  "6816f79cc0a8016401c5a33be04be441"
#define TEST_ADMIN_ROLE_ID "2831a114c611228501d4ea6c309d626d"

/* Inserts in (taken; NULL for out of memory) into table as the system, sys_
 * fields allowed; id, when not NULL, gets the new record's sys_id. */
static inline sg_err test_insert_as_system(struct sg_model *m, const char *table, json_t *in,
                                           char id[SG_ID_LEN + 1])
{
	struct sg_ctx ctx;
	char own[SG_ID_LEN + 1];
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err) {
		json_decref(in);
		return err;
	}
	struct sg_write_opts wo = {.allow_sys_fields = true};
	err = in ? sg_rec_insert(&ctx, table, in, &wo, id ? id : own) : SG_ERR_NOMEM;
	json_decref(in);
	sg_ctx_end(&ctx);
	return err;
}

/* A new instance in dir, opened in *m (which the caller closes, also on an
 * error): the base schema with the auth rules, and the user admin with role
 * admin, admin being its sys_user record (taken; sys_id TEST_ADMIN_SYS_ID). */
static inline sg_err test_make_instance(const char *dir, json_t *admin, struct sg_model **m)
{
	char schema[512];
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	*m = NULL;
	sg_err err = sg_model_init_instance(dir, schema, sg_auth_add_rules);
	if (!err)
		err = sg_model_open(dir, m);
	if (!err)
		err = sg_auth_add_rules(*m);
	if (!err)
		err = test_insert_as_system(*m, "sys_user", admin, NULL);
	else
		json_decref(admin);
	if (!err)
		err = test_insert_as_system(
		    *m, "sys_user_has_role",
		    json_pack("{s:s, s:s}", "user", TEST_ADMIN_SYS_ID, "role", TEST_ADMIN_ROLE_ID),
		    NULL);
	return err;
}

/* The demo records (nowctl init --demo) loaded into m. */
static inline sg_err test_load_demo(struct sg_model *m)
{
	char demo[512];
	snprintf(demo, sizeof(demo), "%s/demo", SG_SHARE_DIR);
	return sg_model_load_records(m, demo);
}

#endif
