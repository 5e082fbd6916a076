/*
 * Unit tests for the storage interface and its SQLite backend: bound
 * parameters, identifier checks, nested transactions, per-thread
 * connections, statement reuse across DDL, planner statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

static int setup(void **state)
{
	static const char *const ddl[] = {
	    "CREATE TABLE \"t\" (\"sys_id\" TEXT PRIMARY KEY, \"name\" TEXT, \"n\" INTEGER)", NULL};
	return store_fx_setup(state, ddl);
}

static void insert(sg_conn *c, const char *id, const char *name, long long n)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO ");
	sg_sql_ident(&q, "t");
	sg_sql_raw(&q, " VALUES (");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, n);
	sg_sql_raw(&q, ")");
	assert_int_equal(sg_conn_exec(c, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static char *name_of(sg_conn *c, const char *id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\" FROM \"t\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	char *out = NULL;
	assert_int_equal(sg_conn_query_string(c, &q, &out), SG_ERR_OK);
	sg_sql_cleanup(&q);
	return out;
}

static void values_are_bound_never_spliced(void **state)
{
	struct fx *f = *state;
	const char *evil = "x'); DROP TABLE \"t\"; --";
	insert(f->c, "a", evil, 1);
	char *got = name_of(f->c, "a");
	assert_string_equal(got, evil);
	free(got);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_ident(&q, "bad\"name");
	assert_true(q.failed);
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_INTERNAL);
	sg_sql_cleanup(&q);
}

static void null_and_integer_affinity(void **state)
{
	struct fx *f = *state;
	insert(f->c, "a", NULL, 10);
	insert(f->c, "b", "b", 9);
	char *got = name_of(f->c, "a");
	assert_null(got);
	/* integers compare as numbers even when bound as text */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"t\" WHERE \"n\" > ");
	sg_sql_text(&q, "9");
	char *id = NULL;
	assert_int_equal(sg_conn_query_string(f->c, &q, &id), SG_ERR_OK);
	assert_string_equal(id, "a");
	free(id);
	sg_sql_cleanup(&q);
}

static void nested_transactions_roll_back_whole(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	insert(f->c, "inner", "i", 1);
	sg_conn_rollback(f->c); /* the inner failure dooms the outer */
	insert(f->c, "outer", "o", 2);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_STORE);
	assert_null(name_of(f->c, "inner"));
	assert_null(name_of(f->c, "outer"));
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	insert(f->c, "kept", "k", 3);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	char *got = name_of(f->c, "kept");
	assert_string_equal(got, "k");
	free(got);
}

/* SQLite ends a transaction on its own after some failures (out of memory
 * or a full disk in a statement): the write's later statements must not run
 * in autocommit, each committed alone.  The write fails whole. */
static void a_transaction_the_database_ended_fails_whole(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	insert(f->c, "first", "f", 1);
	expect_errors("a transaction ended under the store (as SQLite does on a full disk)");
	assert_int_equal(sg_conn_exec_raw(f->c, "ROLLBACK"), SG_ERR_OK); /* as SQLite would */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"t\" VALUES ('second', 's', 2)");
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_STORE);
	sg_sql_cleanup(&q);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_STORE);
	assert_null(name_of(f->c, "first"));
	assert_null(name_of(f->c, "second"));
	expect_errors_end();
	/* the next write is whole again */
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	insert(f->c, "kept", "k", 3);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	char *got = name_of(f->c, "kept");
	assert_string_equal(got, "k");
	free(got);
}

static void rewind_and_append(void **state)
{
	(void)state;
	struct sg_sql a, b;
	sg_sql_init(&a);
	sg_sql_init(&b);
	sg_sql_raw(&a, "x = ");
	sg_sql_text(&a, "1");
	struct sg_sql_mark m = sg_sql_mark(&a);
	sg_sql_raw(&a, " AND y = ");
	sg_sql_text(&a, "2");
	sg_sql_rewind(&a, m);
	assert_string_equal(sg_buf_str(&a.text), "x = ?");
	assert_int_equal(a.nparams, 1);
	sg_sql_raw(&b, "SELECT ");
	sg_sql_append(&b, &a);
	assert_string_equal(sg_buf_str(&b.text), "SELECT x = ?");
	assert_string_equal(b.params[0].text, "1");
	sg_sql_cleanup(&a);
	sg_sql_cleanup(&b);
}

static void *other_thread(void *arg)
{
	struct fx *f = arg;
	sg_conn *c = sg_store_conn(f->s);
	return c;
}

static void connections_are_per_thread(void **state)
{
	struct fx *f = *state;
	pthread_t t;
	void *theirs;
	pthread_create(&t, NULL, other_thread, f);
	pthread_join(t, &theirs);
	assert_non_null(theirs);
	assert_ptr_not_equal(theirs, f->c);
	assert_ptr_equal(sg_store_conn(f->s), f->c);
}

static int count_column(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	(void)ncol;
	if (vals[0] && !strcmp(vals[0], "added"))
		(*(int *)ud)++;
	return 0;
}

static void statements_survive_ddl(void **state)
{
	struct fx *f = *state;
	insert(f->c, "a", "a", 1);
	char *before = name_of(f->c, "a");
	free(before);
	assert_int_equal(sg_conn_exec_raw(f->c, "ALTER TABLE \"t\" ADD COLUMN \"added\" TEXT"),
	                 SG_ERR_OK);
	int found = 0;
	assert_int_equal(sg_conn_columns(f->c, "t", count_column, &found), SG_ERR_OK);
	assert_int_equal(found, 1);
	char *after = name_of(f->c, "a");
	assert_string_equal(after, "a");
	free(after);
}

static int append_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	char *out = ud;
	for (int i = 0; i < ncol; i++) {
		strncat(out, vals[i] ? vals[i] : "-", 4095 - strlen(out));
		strncat(out, i + 1 < ncol ? " | " : "\n", 4095 - strlen(out));
	}
	return 0;
}

static void stats_of(sg_conn *c, char out[4096])
{
	out[0] = '\0';
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx");
	assert_int_equal(sg_conn_exec(c, &q, append_row, out, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

/* Maintenance analyzes index by index, and every table without an index;
 * the statistics are a full ANALYZE's. */
static void maintenance_gathers_statistics(void **state)
{
	struct fx *f = *state;
	char id[16];
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		insert(f->c, id, i % 2 ? "odd" : "even", i);
	}
	assert_int_equal(sg_conn_exec_raw(f->c, "CREATE INDEX \"ix_t_name\" ON \"t\" (\"name\")"),
	                 SG_ERR_OK);
	assert_int_equal(sg_conn_exec_raw(f->c, "CREATE TABLE \"u\" (\"x\" TEXT)"), SG_ERR_OK);
	assert_int_equal(sg_conn_exec_raw(f->c, "INSERT INTO \"u\" VALUES ('a'), ('b'), ('c')"),
	                 SG_ERR_OK);
	assert_int_equal(sg_conn_maintain(f->c, true), SG_ERR_OK);
	char each[4096], full[4096];
	stats_of(f->c, each);
	assert_non_null(strstr(each, "t | ix_t_name | 50 25\n"));
	assert_non_null(strstr(each, "t | sqlite_autoindex_t_1 | 50 1\n"));
	assert_non_null(strstr(each, "u | - | 3\n"));
	assert_int_equal(sg_conn_exec_raw(f->c, "ANALYZE"), SG_ERR_OK);
	stats_of(f->c, full);
	assert_string_equal(each, full);
}

/* A neutral index hint becomes sqlite_stat1's "rows per-value..." row. */
static void index_hint_writes_stat1(void **state)
{
	struct fx *f = *state;
	assert_int_equal(
	    sg_conn_exec_raw(f->c, "CREATE INDEX \"ix_t_n\" ON \"t\" (\"n\", \"name\")"),
	    SG_ERR_OK);
	const struct sg_index_stats stats = {1000000, {200000, 1}, 2};
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(sg_conn_index_hint(f->c, "t", "ix_t_n", &stats), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	char out[4096];
	stats_of(f->c, out);
	assert_string_equal(out, "t | ix_t_n | 1000000 200000 1\n");
	const struct sg_index_stats too_wide = {1, {1}, SG_INDEX_HINT_MAX + 1};
	assert_int_equal(sg_conn_index_hint(f->c, "t", "ix_t_n", &too_wide), SG_ERR_INTERNAL);
}

/* Which database a URL names: a bare directory is DIR/instance.db as
 * before; sqlite:PATH a file; postgresql:// a server, refused when there is
 * none (pg.c has its own tests: the contract suite on SG_STORE_URL). */
static void urls_name_databases(void **state)
{
	(void)state;
	char dir[64], path[160];
	snprintf(dir, sizeof(dir), "/tmp/sg-url-XXXXXX");
	assert_non_null(mkdtemp(dir));
	sg_store *s = NULL;
	bool exists = true;

	/* a bare directory, made when missing */
	snprintf(path, sizeof(path), "%s/data", dir);
	assert_int_equal(sg_store_exists(path, &exists), SG_ERR_OK);
	assert_false(exists);
	assert_int_equal(sg_store_open(path, false, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_open(path, true, &s), SG_ERR_OK);
	assert_int_equal(sg_conn_exec_raw(sg_store_conn(s), "CREATE TABLE \"a\" (\"x\")"),
	                 SG_ERR_OK);
	sg_store_close(s);
	snprintf(path, sizeof(path), "%s/data/instance.db", dir);
	assert_int_equal(access(path, F_OK), 0);

	/* the same file by its sqlite: URL */
	char url[200];
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(sg_store_exists(url, &exists), SG_ERR_OK);
	assert_true(exists);
	assert_int_equal(sg_store_open(url, false, &s), SG_ERR_OK);
	assert_int_equal(sg_conn_exec_raw(sg_store_conn(s), "SELECT * FROM \"a\""), SG_ERR_OK);
	sg_store_close(s);
	snprintf(url, sizeof(url), "sqlite://%s", path);
	assert_int_equal(sg_store_open(url, false, &s), SG_ERR_OK);
	/* dropped: the file and its WAL files are gone */
	assert_int_equal(sg_store_drop(s), SG_ERR_OK);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/data/instance.db-wal", dir);
	assert_int_not_equal(access(path, F_OK), 0);

	/* a directory whose name has a colon is still a directory */
	snprintf(path, sizeof(path), "%s/x:y", dir);
	assert_int_equal(sg_store_open(path, true, &s), SG_ERR_OK);
	sg_store_close(s);

	/* refused */
	expect_errors("database URLs this build refuses, servers that are not there");
	snprintf(url, sizeof(url), "postgresql:///snowglobe?host=%s/nosock", dir);
	assert_int_equal(sg_store_open(url, true, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_exists(url, &exists), SG_ERR_STORE);
	snprintf(url, sizeof(url), "postgres:///snowglobe?host=%s/nosock", dir);
	assert_int_equal(sg_store_open(url, true, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_open("postgresql:snowglobe", true, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_open("mysql://localhost/snowglobe", true, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_open("sqlite:", true, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_open("sqlite://", true, &s), SG_ERR_STORE);
	assert_int_equal(sg_store_open("", true, &s), SG_ERR_STORE);
	expect_errors_end();

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(values_are_bound_never_spliced, setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(null_and_integer_affinity, setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(nested_transactions_roll_back_whole, setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(a_transaction_the_database_ended_fails_whole, setup,
	                                    store_fx_teardown),
	    cmocka_unit_test(rewind_and_append),
	    cmocka_unit_test_setup_teardown(connections_are_per_thread, setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(statements_survive_ddl, setup, store_fx_teardown),
	    cmocka_unit_test_setup_teardown(maintenance_gathers_statistics, setup,
	                                    store_fx_teardown),
	    cmocka_unit_test_setup_teardown(index_hint_writes_stat1, setup, store_fx_teardown),
	    cmocka_unit_test(urls_name_databases),
	};
	return cmocka_run_group_tests_name("store.sqlite", tests, NULL, NULL);
}
