/*
 * Unit tests for the property cache (model/model.c) against another
 * process's writes (nowctl --data while nowd runs): a thread that reads the
 * properties inside a read transaction begun before the other write, after
 * another thread has already seen the new change counter, must not keep
 * its old snapshot's values as if they were the new ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "fixture.h"
#include "store/sql.h"

static void *sync_thread(void *m)
{
	sg_model_sync(m); /* as another request of nowd's would, on its own connection */
	return NULL;
}

/* Sets name = value as another process would: its own open of the instance. */
static void set_elsewhere(const char *dir, const char *name, const char *value)
{
	struct sg_model *m2 = NULL;
	assert_int_equal(sg_model_open(dir, &m2), SG_ERR_OK);
	assert_int_equal(sg_auth_add_rules(m2), SG_ERR_OK);
	struct sg_ctx c2;
	assert_int_equal(sg_ctx_begin(&c2, m2, NULL), SG_ERR_OK);
	assert_int_equal(sg_prop_set(&c2, name, value), SG_ERR_OK);
	sg_ctx_end(&c2);
	sg_model_close(m2);
}

static char *prop(struct fixture *f, const char *name)
{
	char *v = NULL;
	assert_int_equal(sg_prop_get(&f->ctx, name, &v), SG_ERR_OK);
	assert_non_null(v);
	return v;
}

static void test_old_snapshot_not_cached_as_new(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_prop_set(&f->ctx, "x_test.cache", "old"), SG_ERR_OK);
	sg_model_sync(f->model);
	char *v = prop(f, "x_test.cache");
	assert_string_equal(v, "old");
	free(v);

	/* A read transaction with its snapshot taken now. */
	assert_int_equal(sg_conn_begin(f->ctx.conn, false), SG_ERR_OK);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM \"sys_properties\"");
	char *n = NULL;
	assert_int_equal(sg_conn_query_string(f->ctx.conn, &q, &n), SG_ERR_OK);
	free(n);
	sg_sql_cleanup(&q);

	set_elsewhere(f->dir, "x_test.cache", "new");
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, sync_thread, f->model), 0);
	pthread_join(t, NULL);

	/* Inside the old snapshot the old value is what there is... */
	v = prop(f, "x_test.cache");
	assert_string_equal(v, "old");
	free(v);
	sg_conn_rollback(f->ctx.conn);
	/* ... but once it ends, the new one, on every later read. */
	v = prop(f, "x_test.cache");
	assert_string_equal(v, "new");
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_old_snapshot_not_cached_as_new, fixture_setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
