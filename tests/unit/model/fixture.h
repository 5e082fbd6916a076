/*
 * fixture.h - a fresh instance in a temporary directory for model tests.
 */
#ifndef SG_TEST_FIXTURE_H
#define SG_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/rules.h"
#include "model/model.h"

struct fixture {
	char dir[256];
	struct sg_model *model;
	struct sg_ctx ctx;
};

static inline int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sg-unit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	char schema[512];
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	if (sg_model_init_instance(f->dir, schema, sg_auth_add_rules) ||
	    sg_model_open(f->dir, &f->model) || sg_auth_add_rules(f->model))
		return -1;
	struct sg_user u = {.sys_id = "6816f79cc0a8016401c5a33be04be441",
	                    .user_name = "admin",
	                    .name = "System Administrator"};
	if (sg_ctx_begin(&f->ctx, f->model, &u))
		return -1;
	*state = f;
	return 0;
}

static inline int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	sg_ctx_end(&f->ctx);
	sg_model_close(f->model);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

#endif
