/*
 * fixture.h - the model fixture (a new instance in a temporary directory) with
 * the instance's auth state beside it, for the auth unit tests.
 */
#ifndef SG_TESTS_AUTH_FIXTURE_H
#define SG_TESTS_AUTH_FIXTURE_H

#include "../model/fixture.h"
#include "auth/auth.h"

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

#endif
