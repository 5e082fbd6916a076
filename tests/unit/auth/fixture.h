/*
 * fixture.h - the model fixture (a new instance in a temporary directory) with
 * the instance's auth state beside it, for the auth unit tests.
 */
#ifndef SG_TESTS_AUTH_FIXTURE_H
#define SG_TESTS_AUTH_FIXTURE_H

#include "../model/fixture.h"
#include "auth/auth.h"

/* Writes as nowctl offline does: system fields taken as given. */
static const struct sg_write_opts WO = {.allow_sys_fields = true};

/* The auth state of the fixture's instance (one test runs at a time). */
static struct sg_auth *auth;

/* fixture_setup, then the auth state; with system, the fixture's own ctx acts
 * as the system (no access controls), as offline nowctl does. */
static inline int auth_fixture_setup(void **state, bool system)
{
	if (fixture_setup(state))
		return -1;
	struct fixture *f = *state;
	f->ctx.system = system;
	return sg_auth_new(f->model, &auth) ? -1 : 0;
}

static inline int auth_fixture_teardown(void **state)
{
	sg_auth_free(auth);
	auth = NULL;
	return fixture_teardown(state);
}

/* cmocka set-up and tear-down: the instance and its auth state; the _system
 * set-up makes the fixture's ctx act as the system. */
static inline int auth_setup(void **state)
{
	return auth_fixture_setup(state, false);
}

static inline int auth_setup_system(void **state)
{
	return auth_fixture_setup(state, true);
}

static inline int auth_teardown(void **state)
{
	return auth_fixture_teardown(state);
}

/* Table name of the session's dictionary. */
static inline const struct sg_table *T(struct sg_auth_session *s, const char *name)
{
	return sg_dict_table(s->ctx->dict, name);
}

/* Runs expr as user (a struct sg_user *, NULL: the system) in a fresh request
 * with auth session s (the fixture f in scope); its value, of its own type.
 * The session leaves nothing behind on the request's context. */
#define AS(user, expr)                                                                             \
	({                                                                                         \
		struct sg_ctx c_;                                                                  \
		struct sg_auth_session s_;                                                         \
		assert_int_equal(sg_ctx_begin(&c_, f->model, (user)), SG_ERR_OK);                  \
		sg_auth_session_init(&s_, auth, &c_, NULL);                                        \
		struct sg_auth_session *s = &s_;                                                   \
		__typeof__(expr) r_ = (expr);                                                      \
		sg_auth_session_cleanup(&s_);                                                      \
		assert_null(c_.sub_rows);                                                          \
		sg_ctx_end(&c_);                                                                   \
		r_;                                                                                \
	})

/* Inserts in (consumed) into table as sys; the new sys_id in id, returned. */
static inline char *insert_row(struct sg_ctx *sys, const char *table, json_t *in, char *id)
{
	sg_err err = sg_rec_insert(sys, table, in, &WO, id);
	if (err)
		fprintf(stderr, "insert %s: %s %s\n", table, sg_err_name(err), sys->err_arg);
	assert_int_equal(err, SG_ERR_OK);
	json_decref(in);
	return id;
}

/* A new user name holding roles (sys_ids, NULL-terminated); *out acts as it. */
static inline void user_with_roles(struct sg_ctx *sys, const char *name, const char *const *roles,
                                   struct sg_user *out)
{
	char id[SG_ID_LEN + 1], rid[SG_ID_LEN + 1];
	insert_row(sys, "sys_user", json_pack("{s:s, s:s}", "user_name", name, "last_name", name),
	           id);
	for (; *roles; roles++)
		insert_row(sys, "sys_user_has_role",
		           json_pack("{s:s, s:s}", "user", id, "role", *roles), rid);
	memset(out, 0, sizeof(*out));
	snprintf(out->sys_id, sizeof(out->sys_id), "%s", id);
	snprintf(out->user_name, sizeof(out->user_name), "%s", name);
}

#endif
