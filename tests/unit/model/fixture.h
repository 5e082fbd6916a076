/*
 * fixture.h - a fresh instance in a temporary directory for model tests.
 * The includer includes <cmocka.h> first.
 *
 * With SG_STORE_URL set to a PostgreSQL URL (postgresql:///DB?host=...:
 * make unit-pg), the instance's database is a fresh one on that server
 * instead, named sgunit_PID_N, dropped by the teardown; the temporary
 * directory is still made (for what tests write beside it).
 */
#ifndef SG_TEST_FIXTURE_H
#define SG_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/rules.h"
#include "model/model.h"
#include "query/query.h"

struct fixture {
	char dir[256];
	char url[1024]; /* the instance's database: dir, or a PostgreSQL URL */
	struct sg_model *model;
	struct sg_ctx ctx;
};

/* A new instance in dir with the base schema and its rules, opened in *m;
 * nonzero when it fails. */
static inline int fixture_instance(const char *dir, struct sg_model **m)
{
	char schema[512];
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	return sg_model_init_instance(dir, schema, sg_auth_add_rules) || sg_model_open(dir, m) ||
	       sg_auth_add_rules(*m);
}

/* Removes dir and all it holds; nonzero when it fails. */
static inline int fixture_remove_dir(const char *dir)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0;
}

/* url: SG_STORE_URL's server with the database named name, when SG_STORE_URL
 * is a postgresql:// URL; false (url untouched) otherwise. */
static inline bool fixture_pg_url(char *url, size_t size, const char *name)
{
	const char *env = getenv("SG_STORE_URL");
	if (!env ||
	    (strncmp(env, "postgresql://", 13) != 0 && strncmp(env, "postgres://", 11) != 0))
		return false;
	const char *host = strstr(env, "://") + 3;
	const char *path = strchr(host, '/'), *query = strchr(host, '?');
	if (!path || (query && path > query))
		path = query ? query : host + strlen(host);
	const char *rest = query ? query : "";
	snprintf(url, size, "%.*s/%s%s", (int)(path - env), env, name, rest);
	return true;
}

static inline int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sg-unit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	static int made;
	char name[64];
	snprintf(name, sizeof(name), "sgunit_%ld_%d", (long)getpid(), made++);
	if (!fixture_pg_url(f->url, sizeof(f->url), name))
		snprintf(f->url, sizeof(f->url), "%s", f->dir);
	if (fixture_instance(f->url, &f->model))
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
	if (strcmp(f->url, f->dir) != 0) {
		sg_store *s = NULL;
		if (sg_store_open(f->url, false, &s) || sg_store_drop(s))
			return -1;
	}
	if (fixture_remove_dir(f->dir))
		return -1;
	free(f);
	return 0;
}

/* The number of rows of table matching the encoded query. */
static inline long long fixture_count(struct fixture *f, const char *table, const char *query)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, query));
	struct sg_list_opts lo = {.query = &q, .limit = 1000, .count = true};
	json_t *rows = NULL;
	long long total = -1;
	assert_int_equal(sg_rec_list(&f->ctx, table, &lo, &rows, &total), SG_ERR_OK);
	json_decref(rows);
	sg_query_cleanup(&q);
	return total;
}

#endif
