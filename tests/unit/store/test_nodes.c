/*
 * What several processes on one database (nodes) use of the store: a
 * message sent with the dialect's notify inside a transaction reaches
 * another store's listener once it commits, never before and never for a
 * rollback; a named lock (sg_conn_lock) held by one store's session is
 * refused to another until released; the dialect's claim_lock passes over
 * a row another session claimed.  Two sg_store handles on one database
 * stand for two nodes.
 *
 * On the database named by SG_STORE_URL (make unit-pg: PostgreSQL), else on
 * SQLite in a fresh temporary directory, where there are no messages nor
 * named locks (listen gives no listener, sg_conn_lock SG_ERR_INTERNAL: the
 * callers fall back to counters and a lock file) and claim_lock is NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static char url[4200];
static char tmpdir[64];

static int group_setup(void **state)
{
	(void)state;
	const char *env = getenv("SG_STORE_URL");
	if (env && *env) {
		snprintf(url, sizeof(url), "%s", env);
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sg-nodes-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/nodes.db", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (*tmpdir) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static bool messages(sg_store *s)
{
	return sg_store_dialect(s)->notify != NULL;
}

static atomic_int heard;

static void on_message(void *ud)
{
	(void)ud;
	atomic_fetch_add(&heard, 1);
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits up to ms for heard to pass n; whether it did. */
static bool heard_past(int n, long ms)
{
	for (long t = 0; t < ms; t += 10) {
		if (atomic_load(&heard) > n)
			return true;
		nap_ms(10);
	}
	return atomic_load(&heard) > n;
}

static void notify(sg_conn *c, const char *payload)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_conn_dialect(c)->notify(&q, "sg_test_nodes", payload);
	assert_int_equal(sg_conn_exec(c, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static void message_at_commit_only(void **state)
{
	(void)state;
	sg_store *a, *b;
	assert_int_equal(sg_store_open(url, true, &a), SG_ERR_OK);
	assert_int_equal(sg_store_open(url, true, &b), SG_ERR_OK);
	sg_listener *l = NULL;
	atomic_store(&heard, 0);
	assert_int_equal(sg_store_listen(b, "sg_test_nodes", on_message, NULL, &l), SG_ERR_OK);
	if (!messages(a)) {
		assert_null(l); /* SQLite: counters only */
		sg_store_close(b);
		sg_store_close(a);
		return;
	}
	assert_non_null(l);
	/* Once listening, it says so (what came before is unknown to it). */
	assert_true(heard_past(0, 5000));
	nap_ms(100);
	int before = atomic_load(&heard);
	sg_conn *c = sg_store_conn(a);
	assert_non_null(c);
	/* inside a transaction: nothing until the commit */
	assert_int_equal(sg_conn_begin(c, true), SG_ERR_OK);
	notify(c, "dict");
	notify(c, "acl");
	assert_false(heard_past(before, 300));
	assert_int_equal(sg_conn_commit(c), SG_ERR_OK);
	assert_true(heard_past(before, 5000));
	/* rolled back: never */
	nap_ms(100);
	before = atomic_load(&heard);
	assert_int_equal(sg_conn_begin(c, true), SG_ERR_OK);
	notify(c, "props");
	sg_conn_rollback(c);
	assert_false(heard_past(before, 500));
	/* a name that is not a plain one is refused */
	sg_listener *bad = NULL;
	assert_int_equal(sg_store_listen(b, "x; DROP", on_message, NULL, &bad), SG_ERR_INTERNAL);
	assert_null(bad);
	sg_store_unlisten(l);
	/* stopped: nothing more */
	before = atomic_load(&heard);
	notify(c, "dict");
	assert_false(heard_past(before, 300));
	sg_store_close(b);
	sg_store_close(a);
}

static void named_lock_between_stores(void **state)
{
	(void)state;
	sg_store *a, *b;
	assert_int_equal(sg_store_open(url, true, &a), SG_ERR_OK);
	assert_int_equal(sg_store_open(url, true, &b), SG_ERR_OK);
	sg_conn *ca = sg_store_conn(a), *cb = sg_store_conn(b);
	assert_non_null(ca);
	assert_non_null(cb);
	bool got = true;
	sg_err err = sg_conn_lock(ca, 4242, 0, &got);
	if (!messages(a)) {
		assert_int_equal(err, SG_ERR_INTERNAL);
		assert_false(got);
		sg_store_close(b);
		sg_store_close(a);
		return;
	}
	assert_int_equal(err, SG_ERR_OK);
	assert_true(got);
	/* the other session waits its time, then goes without */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sg_conn_lock(cb, 4242, 200, &got), SG_ERR_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_false(got);
	long long spent = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(spent >= 200 && spent < 3000);
	/* another key is free */
	assert_int_equal(sg_conn_lock(cb, 4243, 0, &got), SG_ERR_OK);
	assert_true(got);
	sg_conn_unlock(cb, 4243);
	/* held through a transaction rolled back */
	assert_int_equal(sg_conn_begin(ca, true), SG_ERR_OK);
	sg_conn_rollback(ca);
	assert_int_equal(sg_conn_lock(cb, 4242, 0, &got), SG_ERR_OK);
	assert_false(got);
	/* released: the other takes it */
	sg_conn_unlock(ca, 4242);
	assert_int_equal(sg_conn_lock(cb, 4242, 1000, &got), SG_ERR_OK);
	assert_true(got);
	sg_conn_unlock(cb, 4242);
	sg_store_close(b);
	sg_store_close(a);
}

static int first_col(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(ud, 32, "%s", vals[0]);
	return 1;
}

/* The first row of nq_t by n, with the dialect's claim_lock. */
static void claim(sg_conn *c, char out[32])
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"nq_t\" ORDER BY \"n\" LIMIT 1");
	sg_conn_dialect(c)->claim_lock(&q, "nq_t");
	*out = '\0';
	assert_int_equal(sg_conn_exec(c, &q, first_col, out, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static void claim_passes_over_a_held_row(void **state)
{
	(void)state;
	sg_store *a, *b;
	assert_int_equal(sg_store_open(url, true, &a), SG_ERR_OK);
	assert_int_equal(sg_store_open(url, true, &b), SG_ERR_OK);
	if (!sg_store_dialect(a)->claim_lock) {
		assert_false(messages(a)); /* one writer at a time: nothing to skip */
		sg_store_close(b);
		sg_store_close(a);
		return;
	}
	sg_conn *ca = sg_store_conn(a), *cb = sg_store_conn(b);
	assert_int_equal(sg_conn_exec_raw(ca, "DROP TABLE IF EXISTS \"nq_t\""), SG_ERR_OK);
	static const struct sg_coldef cols[] = {{"sys_id", SG_COL_ID}, {"n", SG_COL_INTEGER}};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_store_dialect(a)->create_table(&q, "nq_t", cols, 2);
	assert_int_equal(sg_conn_exec(ca, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_int_equal(sg_conn_exec_raw(ca, "INSERT INTO \"nq_t\" VALUES ('one', 1), ('two', 2)"),
	                 SG_ERR_OK);
	char got_a[32], got_b[32];
	assert_int_equal(sg_conn_begin(ca, true), SG_ERR_OK);
	claim(ca, got_a);
	assert_string_equal(got_a, "one");
	/* a's claim holds "one" until it commits: b takes the next, at once */
	assert_int_equal(sg_conn_begin(cb, false), SG_ERR_OK);
	claim(cb, got_b);
	assert_string_equal(got_b, "two");
	sg_conn_rollback(cb);
	assert_int_equal(sg_conn_commit(ca), SG_ERR_OK);
	assert_int_equal(sg_conn_begin(cb, false), SG_ERR_OK);
	claim(cb, got_b);
	assert_string_equal(got_b, "one");
	sg_conn_rollback(cb);
	assert_int_equal(sg_conn_exec_raw(ca, "DROP TABLE \"nq_t\""), SG_ERR_OK);
	sg_store_close(b);
	sg_store_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(message_at_commit_only),
	    cmocka_unit_test(named_lock_between_stores),
	    cmocka_unit_test(claim_passes_over_a_held_row),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
