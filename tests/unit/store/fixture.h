/*
 * fixture.h - a store in a fresh temporary directory for store tests.
 */
#ifndef SG_TEST_STORE_FIXTURE_H
#define SG_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

struct fx {
	char dir[64];
	sg_store *s;
	sg_conn *c; /* this thread's connection */
};

/* Opens the store and runs ddl (NULL-terminated) on this thread's
 * connection. */
static inline int store_fx_setup(void **state, const char *const *ddl)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sg-store-XXXXXX");
	if (!mkdtemp(f->dir) || sg_store_open(f->dir, true, &f->s))
		return -1;
	f->c = sg_store_conn(f->s);
	if (!f->c)
		return -1;
	for (; *ddl; ddl++)
		if (sg_conn_exec_raw(f->c, *ddl))
			return -1;
	*state = f;
	return 0;
}

/*
 * A test that provokes failures (injected disk errors, refused URLs, broken
 * constraints) makes the store log warnings and errors that are its own
 * doing.  These two lines frame them on stderr, so that a passing run says
 * which of its errors were expected; any error outside a frame is not.
 */
static inline void expect_errors(const char *why)
{
	fprintf(stderr, "-- expected: the errors logged next come from %s --\n", why);
}

static inline void expect_errors_end(void)
{
	fprintf(stderr, "-- end of expected errors --\n");
}

static inline int store_fx_teardown(void **state)
{
	struct fx *f = *state;
	sg_store_close(f->s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

#endif
