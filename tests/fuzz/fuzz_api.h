/*
 * fuzz_api.h - what the targets that drive an API handler in-process share:
 * an instance with admin, a user with no role and the demo records, its auth
 * and api, their callers, and a request without headers.
 */
#ifndef SG_TESTS_FUZZ_API_H
#define SG_TESTS_FUZZ_API_H

#include "fuzz.h"
#include "../test_instance.h"
#include "api/api.h"
#include "auth/auth.h"

#define FUZZ_PLAIN_SYS_ID "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"

/* The instance, made once in fuzz_start's directory: admin (its sys_user
 * record, taken; sys_id TEST_ADMIN_SYS_ID) with role admin, the user plain
 * with no role (FUZZ_PLAIN_SYS_ID), the demo records; then its auth and api.
 * Aborts, naming target, when it cannot. */
static inline void fuzz_api_instance(const char *target, json_t *admin, struct sg_model **m,
                                     struct sg_auth **auth, struct sg_api *api)
{
	const char *dir = fuzz_start();
	sg_err err = test_make_instance(dir, admin, m);
	if (!err)
		err = test_insert_as_system(
		    *m, "sys_user",
		    json_pack("{s:s, s:s}", "sys_id", FUZZ_PLAIN_SYS_ID, "user_name", "plain"),
		    NULL);
	if (!err)
		err = test_load_demo(*m);
	if (!err)
		err = sg_auth_new(*m, auth);
	if (err) {
		fprintf(stderr, "%s: cannot make the instance: %s\n", target, sg_err_name(err));
		abort();
	}
	sg_api_init(api, *m, *auth, NULL);
}

/* u as a caller: sys_id, user_name, time zone UTC. */
static inline void fuzz_user(struct sg_user *u, const char *sys_id, const char *user_name)
{
	snprintf(u->sys_id, sizeof(u->sys_id), "%s", sys_id);
	snprintf(u->user_name, sizeof(u->user_name), "%s", user_name);
	snprintf(u->time_zone, sizeof(u->time_zone), "UTC");
}

/* The header reader of a request that has none. */
static inline const char *fuzz_no_header(void *impl, const char *name)
{
	(void)impl;
	(void)name;
	return NULL;
}

#endif
