/*
 * Unit tests for issue 13, item 7: which rate limit rule applies to a
 * request (reference 8): a single-user rule beats the user's role rules,
 * which beat all-users rules; among several of a kind the lowest limit wins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/ratelimit.h"

/* The user holds the roles named in ud ("itil,rl_low"); "broken" fails. */
static sg_err roles(void *ud, const char *role, bool *held)
{
	if (!strcmp(role, "broken"))
		return SG_ERR_STORE;
	const char *list = ud;
	size_t n = strlen(role);
	*held = false;
	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, role, n))
			*held = true;
		p = comma ? comma + 1 : NULL;
	}
	return SG_ERR_OK;
}

#define ALL(r)                                                                                     \
	{                                                                                          \
		.type = SG_RL_ALL_USERS, .rate = (r)                                               \
	}
#define ROLE(n, r)                                                                                 \
	{                                                                                          \
		.type = SG_RL_ROLE, .rate = (r), .role = (n)                                       \
	}
#define USER(u, r)                                                                                 \
	{                                                                                          \
		.type = SG_RL_SINGLE_USER, .rate = (r), .user = (u)                                \
	}
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void precedence(void **state)
{
	(void)state;
	sg_err err;
	const struct sg_rl_candidate c[] = {ALL(50),        ROLE("itil", 20), ROLE("rl_low", 10),
	                                    USER("u1", 30), ALL(40),          USER("u2", 5)};
	/* the single-user rule, though a role rule is lower */
	assert_int_equal(sg_rl_pick(c, N(c), "u1", roles, "itil,rl_low", &err), 3);
	assert_int_equal(err, SG_ERR_OK);
	/* the lowest of the user's role rules */
	assert_int_equal(sg_rl_pick(c, N(c), "u3", roles, "itil,rl_low", &err), 2);
	assert_int_equal(sg_rl_pick(c, N(c), "u3", roles, "itil", &err), 1);
	/* no role rule: the lowest all-users rule */
	assert_int_equal(sg_rl_pick(c, N(c), "u3", roles, "", &err), 4);
	/* nothing applies */
	const struct sg_rl_candidate d[] = {ROLE("itil", 20), USER("u2", 5)};
	assert_int_equal(sg_rl_pick(d, N(d), "u3", roles, "", &err), -1);
	assert_int_equal(sg_rl_pick(d, 0, "u3", roles, "", &err), -1);
	/* equals: the first */
	const struct sg_rl_candidate e[] = {ALL(7), ALL(7)};
	assert_int_equal(sg_rl_pick(e, N(e), "u3", roles, "", &err), 0);
}

static void a_failed_role_check_is_an_error(void **state)
{
	(void)state;
	sg_err err;
	const struct sg_rl_candidate c[] = {ALL(50), ROLE("broken", 20)};
	assert_int_equal(sg_rl_pick(c, N(c), "u1", roles, "", &err), -1);
	assert_int_equal(err, SG_ERR_STORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(precedence),
	    cmocka_unit_test(a_failed_role_check_is_an_error),
	};
	return cmocka_run_group_tests_name("api.ratelimit", tests, NULL, NULL);
}
