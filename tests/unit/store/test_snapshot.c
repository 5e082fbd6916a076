/*
 * Whole-database snapshots through the store (sg_store_backup and
 * sg_store_restore): a copy made while a writer runs is one moment's, a
 * restore brings it back with its fix statements applied, a missing or
 * damaged snapshot changes nothing, and readers that overlap restores
 * never see part of one state and part of another.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

#define ROWS 50

static const char *const ddl[] = {
    "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
    "INSERT INTO t (k, v) SELECT i, 1 FROM n",
    NULL};

static int setup(void **state)
{
	return store_fx_setup(state, ddl);
}

static int teardown(void **state)
{
	return store_fx_teardown(state);
}

static int text_cb(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	char *out = ud;
	snprintf(out, 64, "%s", ncol > 0 && vals[0] ? vals[0] : "NULL");
	return 0;
}

/* The first column of the first row of sql, as text. */
static void one(sg_conn *c, const char *sql, char out[64])
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, sql);
	out[0] = '\0';
	assert_int_equal(sg_conn_exec(c, &q, text_cb, out, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static void set_all(sg_conn *c, long long v)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE t SET v = ");
	sg_sql_int(&q, v);
	assert_int_equal(sg_conn_begin(c, true), SG_ERR_OK);
	assert_int_equal(sg_conn_exec(c, &q, NULL, NULL, NULL), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(c), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static void path_in(const struct fx *f, const char *name, char out[128])
{
	snprintf(out, 128, "%s/%s", f->dir, name);
}

static void backup_and_restore(void **state)
{
	struct fx *f = *state;
	char snap[128], got[64];
	path_in(f, "one.db", snap);
	assert_int_equal(sg_store_backup(f->s, snap), SG_ERR_OK);
	set_all(f->c, 7);
	sg_conn_exec_raw(f->c, "CREATE TABLE later (x)");
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "350");

	assert_int_equal(sg_store_restore(f->s, snap, NULL, 0), SG_ERR_OK);
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "50");
	one(f->c, "SELECT count(*) FROM sqlite_schema WHERE name = 'later'", got);
	assert_string_equal(got, "0");
	/* The snapshot is untouched, and nothing temporary is left beside it. */
	assert_int_equal(sg_store_restore(f->s, snap, NULL, 0), SG_ERR_OK);
	DIR *d = opendir(f->dir);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));)
		assert_null(strstr(de->d_name, ".tmp"));
	closedir(d);
	/* A backup replaces one of the same name. */
	set_all(f->c, 3);
	assert_int_equal(sg_store_backup(f->s, snap), SG_ERR_OK);
	set_all(f->c, 4);
	assert_int_equal(sg_store_restore(f->s, snap, NULL, 0), SG_ERR_OK);
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "150");
	/* Writes go on after a restore. */
	set_all(f->c, 2);
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "100");
}

static void fix_runs_on_the_copy(void **state)
{
	struct fx *f = *state;
	char snap[128], got[64];
	path_in(f, "fix.db", snap);
	assert_int_equal(sg_store_backup(f->s, snap), SG_ERR_OK);
	struct sg_sql fix[2];
	sg_sql_init(&fix[0]);
	sg_sql_raw(&fix[0], "UPDATE t SET v = ");
	sg_sql_int(&fix[0], 9);
	sg_sql_raw(&fix[0], " WHERE k = ");
	sg_sql_int(&fix[0], 1);
	sg_sql_init(&fix[1]);
	sg_sql_raw(&fix[1], "INSERT INTO t (k, v) VALUES (1000, ");
	sg_sql_text(&fix[1], "5");
	sg_sql_raw(&fix[1], ")");
	assert_int_equal(sg_store_restore(f->s, snap, fix, 2), SG_ERR_OK);
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "63"); /* 49 + 9 + 5 */
	/* The snapshot file itself is not changed by fix. */
	assert_int_equal(sg_store_restore(f->s, snap, NULL, 0), SG_ERR_OK);
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "50");
	/* A fix that fails leaves the live database as it was. */
	set_all(f->c, 6);
	struct sg_sql broken;
	sg_sql_init(&broken);
	sg_sql_raw(&broken, "UPDATE no_such_table SET v = 1");
	expect_errors("a fix statement on a table that does not exist");
	assert_int_not_equal(sg_store_restore(f->s, snap, &broken, 1), SG_ERR_OK);
	expect_errors_end();
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "300");
	sg_sql_cleanup(&broken);
	sg_sql_cleanup(&fix[0]);
	sg_sql_cleanup(&fix[1]);
}

static void missing_or_damaged_changes_nothing(void **state)
{
	struct fx *f = *state;
	char path[128], got[64];
	set_all(f->c, 5);
	path_in(f, "none.db", path);
	assert_int_equal(sg_store_restore(f->s, path, NULL, 0), SG_ERR_NO_RESOURCE);
	path_in(f, "junk.db", path);
	FILE *j = fopen(path, "wb");
	assert_non_null(j);
	for (int i = 0; i < 4096; i++)
		fputc(i * 7, j);
	fclose(j);
	expect_errors("a snapshot file that is not a database");
	assert_int_equal(sg_store_restore(f->s, path, NULL, 0), SG_ERR_STORE);
	expect_errors_end();
	one(f->c, "SELECT sum(v) FROM t", got);
	assert_string_equal(got, "250");
	/* A backup into a folder that does not exist fails cleanly. */
	path_in(f, "no/such/dir.db", path);
	expect_errors("a backup into a missing folder");
	assert_int_not_equal(sg_store_backup(f->s, path), SG_ERR_OK);
	expect_errors_end();
}

/* ---- restores under readers and writers ----------------------------------- */

struct race {
	struct fx *f;
	atomic_bool stop;
	atomic_int mixed, reads, writes, failed;
};

/* Reads the first and the last row in one read transaction: both must
 * come from the same state. */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	sg_conn *c = sg_store_conn(r->f->s);
	while (c && !atomic_load(&r->stop)) {
		char a[64], b[64], n[64];
		if (sg_conn_begin(c, false)) {
			atomic_fetch_add(&r->failed, 1);
			continue;
		}
		one(c, "SELECT v FROM t WHERE k = 1", a);
		one(c, "SELECT count(DISTINCT v) FROM t", n);
		one(c, "SELECT v FROM t WHERE k = 50", b);
		sg_conn_commit(c);
		if (strcmp(a, b) || strcmp(n, "1"))
			atomic_fetch_add(&r->mixed, 1);
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

/* Sets every row to a new value, one transaction per write. */
static void *race_writer(void *arg)
{
	struct race *r = arg;
	sg_conn *c = sg_store_conn(r->f->s);
	for (long long v = 100; c && !atomic_load(&r->stop); v++) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "UPDATE t SET v = ");
		sg_sql_int(&q, v);
		sg_err err = sg_conn_begin(c, true);
		if (!err)
			err = sg_conn_exec(c, &q, NULL, NULL, NULL);
		if (!err)
			err = sg_conn_commit(c);
		else
			sg_conn_rollback(c);
		sg_sql_cleanup(&q);
		if (err)
			atomic_fetch_add(&r->failed, 1);
		atomic_fetch_add(&r->writes, 1);
	}
	return NULL;
}

static void restore_under_readers_and_writers(void **state)
{
	struct fx *f = *state;
	char snap[128], got[64];
	path_in(f, "race.db", snap);
	assert_int_equal(sg_store_backup(f->s, snap), SG_ERR_OK);
	struct race r = {.f = f};
	pthread_t th[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
	assert_int_equal(pthread_create(&th[3], NULL, race_writer, &r), 0);
	/* At least 20 restores, and more until the writer and the readers have
	 * each had a turn between them (a loaded machine may not schedule them
	 * during the first 20); bounded, so a stuck thread fails the test. */
	for (int i = 0; i < 20 || ((!atomic_load(&r.writes) || !atomic_load(&r.reads)) && i < 5000);
	     i++) {
		assert_int_equal(sg_store_restore(f->s, snap, NULL, 0), SG_ERR_OK);
		/* A backup taken between restores is one moment's too. */
		if (i == 10)
			assert_int_equal(sg_store_backup(f->s, snap), SG_ERR_OK);
	}
	atomic_store(&r.stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&r.mixed), 0);
	assert_int_equal(atomic_load(&r.failed), 0);
	assert_true(atomic_load(&r.reads) > 0);
	assert_true(atomic_load(&r.writes) > 0);
	one(f->c, "SELECT count(DISTINCT v) FROM t", got);
	assert_string_equal(got, "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(backup_and_restore, setup, teardown),
	    cmocka_unit_test_setup_teardown(fix_runs_on_the_copy, setup, teardown),
	    cmocka_unit_test_setup_teardown(missing_or_damaged_changes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(restore_under_readers_and_writers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
