/*
 * The store contract: what every backend must do, written against the
 * public store API only (store.h, dialect.h, sql.h).  It runs on the
 * database named by SG_STORE_URL (a backend under test: its tables named
 * ct_* are dropped and remade), or by default on SQLite in a fresh
 * temporary directory (sqlite:DIR/contract.db).
 *
 * What it pins down: opening and creating; transactions, nesting, and what
 * a failed statement does inside one (nothing: the transaction goes on);
 * every parameter kind; change counts; columns(); constraints as
 * SG_ERR_INVALID_INSERT; query_string; the case rules of TEXT columns and
 * the dialect's LIKE; date_add and date_part; blobs with NUL bytes; and
 * that under concurrent readers and writers every acknowledged write is
 * there and no rolled-back one is.
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

#include "store/store.h"

static char url[4200];
static char tmpdir[64]; /* set when the suite made its own database */

struct fx {
	sg_store *s;
	sg_conn *c;
	const struct sg_dialect *d;
};

/* ---- helpers --------------------------------------------------------------- */

static sg_err run(sg_conn *c, const char *sql)
{
	return sg_conn_exec_raw(c, sql);
}

/* The table every test starts from: ct_t (sys_id, name TEXT, n INTEGER,
 * x REAL, data BLOB, at TEXT). */
static void make_table(struct fx *f)
{
	static const struct sg_coldef cols[] = {
	    {"sys_id", SG_COL_ID}, {"name", SG_COL_TEXT}, {"n", SG_COL_INTEGER},
	    {"x", SG_COL_REAL},    {"data", SG_COL_BLOB}, {"at", SG_COL_TEXT},
	};
	assert_int_equal(run(f->c, "DROP TABLE IF EXISTS \"ct_t\""), SG_ERR_OK);
	struct sg_sql q;
	sg_sql_init(&q);
	f->d->create_table(&q, "ct_t", cols, sizeof(cols) / sizeof(cols[0]));
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static sg_err insert(sg_conn *c, const char *id, const char *name, long long n)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ct_t\" (\"sys_id\", \"name\", \"n\") VALUES (");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, n);
	sg_sql_raw(&q, ")");
	sg_err err = sg_conn_exec(c, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

/* The first value of a one-parameter-free query, as a new string or NULL. */
static char *value_of(sg_conn *c, const char *sql)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, sql);
	char *out = NULL;
	assert_int_equal(sg_conn_query_string(c, &q, &out), SG_ERR_OK);
	sg_sql_cleanup(&q);
	return out;
}

static long long count_where(sg_conn *c, const char *where)
{
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM \"ct_t\"%s%s", where ? " WHERE " : "",
	         where ? where : "");
	char *v = value_of(c, sql);
	assert_non_null(v);
	long long n = strtoll(v, NULL, 10);
	free(v);
	return n;
}

static bool has(sg_conn *c, const char *id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"ct_t\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	char *out = NULL;
	assert_int_equal(sg_conn_query_string(c, &q, &out), SG_ERR_OK);
	sg_sql_cleanup(&q);
	bool found = out != NULL;
	free(out);
	return found;
}

/* ---- fixture --------------------------------------------------------------- */

static int group_setup(void **state)
{
	(void)state;
	const char *env = getenv("SG_STORE_URL");
	if (env && *env) {
		snprintf(url, sizeof(url), "%s", env);
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sg-contract-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/contract.db", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!tmpdir[0])
		return 0;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || sg_store_open(url, true, &f->s))
		return -1;
	f->c = sg_store_conn(f->s);
	f->d = sg_store_dialect(f->s);
	if (!f->c || f->d != sg_conn_dialect(f->c))
		return -1;
	make_table(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sg_err err = run(f->c, "DROP TABLE IF EXISTS \"ct_t\"");
	sg_store_close(f->s);
	free(f);
	return err ? -1 : 0;
}

/* ---- open and create ------------------------------------------------------- */

static void open_and_create(void **state)
{
	(void)state;
	bool exists = true;
	sg_store *s = NULL;
	assert_int_equal(sg_store_exists(url, &exists), SG_ERR_OK);
	if (!exists) /* a fresh database: opening it needs create */
		assert_int_not_equal(sg_store_open(url, false, &s), SG_ERR_OK);
	assert_int_equal(sg_store_open(url, true, &s), SG_ERR_OK);
	sg_conn *c = sg_store_conn(s);
	assert_non_null(c);
	assert_ptr_equal(sg_store_conn(s), c); /* one per thread */
	assert_int_equal(run(c, "DROP TABLE IF EXISTS \"ct_open\""), SG_ERR_OK);
	assert_int_equal(run(c, "CREATE TABLE \"ct_open\" (\"a\" INTEGER)"), SG_ERR_OK);
	sg_store_close(s);
	assert_int_equal(sg_store_exists(url, &exists), SG_ERR_OK);
	assert_true(exists);
	assert_int_equal(sg_store_open(url, false, &s), SG_ERR_OK);
	c = sg_store_conn(s);
	assert_non_null(c);
	char *v = value_of(c, "SELECT COUNT(*) FROM \"ct_open\"");
	assert_string_equal(v, "0");
	free(v);
	assert_int_equal(run(c, "DROP TABLE \"ct_open\""), SG_ERR_OK);
	sg_store_close(s);
}

/* ---- transactions ---------------------------------------------------------- */

static void commit_keeps_rollback_drops(void **state)
{
	struct fx *f = *state;
	assert_false(sg_conn_in_transaction(f->c));
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_true(sg_conn_in_transaction(f->c));
	assert_int_equal(insert(f->c, "a", "A", 1), SG_ERR_OK);
	assert_true(has(f->c, "a")); /* a transaction sees its own writes */
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	assert_false(sg_conn_in_transaction(f->c));
	assert_true(has(f->c, "a"));

	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, "b", "B", 2), SG_ERR_OK);
	sg_conn_rollback(f->c);
	assert_false(sg_conn_in_transaction(f->c));
	assert_false(has(f->c, "b"));

	/* a read transaction */
	assert_int_equal(sg_conn_begin(f->c, false), SG_ERR_OK);
	assert_int_equal(count_where(f->c, NULL), 1);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	/* commit without begin is a programming error, refused */
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_INTERNAL);
}

static void inner_rollback_fails_the_outer_commit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, "a", "A", 1), SG_ERR_OK);
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, "b", "B", 2), SG_ERR_OK);
	sg_conn_rollback(f->c);
	assert_true(sg_conn_in_transaction(f->c));
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_STORE);
	assert_false(sg_conn_in_transaction(f->c));
	assert_int_equal(count_where(f->c, NULL), 0);

	/* nested commits: only the outermost reaches the database */
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, "c", "C", 3), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	assert_true(sg_conn_in_transaction(f->c));
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	assert_true(has(f->c, "c"));
}

/* A statement that fails changes nothing and the transaction goes on: the
 * writes before and after it commit. */
static void failed_statement_leaves_the_transaction_usable(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, "a", "A", 1), SG_ERR_OK);
	assert_int_equal(insert(f->c, "a", "again", 2), SG_ERR_INVALID_INSERT);
	assert_int_not_equal(run(f->c, "SELECT * FROM \"ct_no_such_table\""), SG_ERR_OK);
	assert_int_equal(insert(f->c, "b", "B", 3), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	assert_int_equal(count_where(f->c, NULL), 2);
	char *v = value_of(f->c, "SELECT \"name\" FROM \"ct_t\" WHERE \"sys_id\" = 'a'");
	assert_string_equal(v, "A");
	free(v);
}

/* ---- statements ------------------------------------------------------------ */

static void every_parameter_kind(void **state)
{
	struct fx *f = *state;
	static const char bytes[] = {'x', '\0', 'y'};
	const char *evil = "it's \"quoted\"; DROP TABLE \"ct_t\"; --";
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ct_t\" (\"sys_id\", \"name\", \"n\", \"data\", \"at\") "
	               "VALUES (");
	sg_sql_text(&q, "a");
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, evil);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, INT64_MAX);
	sg_sql_raw(&q, ", ");
	sg_sql_blob(&q, bytes, sizeof(bytes));
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, NULL);
	sg_sql_raw(&q, ")");
	long long changes = -1;
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, &changes), SG_ERR_OK);
	assert_int_equal(changes, 1);
	sg_sql_cleanup(&q);

	char *v = value_of(f->c, "SELECT \"name\" FROM \"ct_t\"");
	assert_string_equal(v, evil);
	free(v);
	v = value_of(f->c, "SELECT \"n\" FROM \"ct_t\"");
	assert_string_equal(v, "9223372036854775807");
	free(v);
	v = value_of(f->c, "SELECT \"at\" FROM \"ct_t\"");
	assert_null(v);
	v = value_of(f->c, "SELECT \"n\" FROM \"ct_t\" WHERE \"at\" IS NULL AND \"x\" IS NULL");
	assert_non_null(v);
	free(v);

	/* a NULL blob binds SQL NULL */
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ct_t\" SET \"data\" = ");
	sg_sql_blob(&q, NULL, 0);
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, &changes), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_int_equal(count_where(f->c, "\"data\" IS NULL"), 1);

	/* an integer bound to a comparison with an INTEGER column */
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"ct_t\" WHERE \"n\" > ");
	sg_sql_int(&q, 0);
	char *id = NULL;
	assert_int_equal(sg_conn_query_string(f->c, &q, &id), SG_ERR_OK);
	assert_string_equal(id, "a");
	free(id);
	sg_sql_cleanup(&q);
}

static void changes_count_rows(void **state)
{
	struct fx *f = *state;
	assert_int_equal(insert(f->c, "a", "A", 1), SG_ERR_OK);
	assert_int_equal(insert(f->c, "b", "B", 2), SG_ERR_OK);
	assert_int_equal(insert(f->c, "c", "C", 3), SG_ERR_OK);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ct_t\" SET \"n\" = \"n\" + 10 WHERE \"n\" >= ");
	sg_sql_int(&q, 2);
	long long changes = -1;
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, &changes), SG_ERR_OK);
	assert_int_equal(changes, 2);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "DELETE FROM \"ct_t\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, "nobody");
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, &changes), SG_ERR_OK);
	assert_int_equal(changes, 0);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "DELETE FROM \"ct_t\"");
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, &changes), SG_ERR_OK);
	assert_int_equal(changes, 3);
	sg_sql_cleanup(&q);
}

struct names {
	char list[256];
};

static int add_name(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct names *n = ud;
	assert_int_equal(ncol, 1);
	size_t len = strlen(n->list);
	snprintf(n->list + len, sizeof(n->list) - len, "%s%s", len ? "," : "", vals[0]);
	return 0;
}

static void columns_in_order(void **state)
{
	struct fx *f = *state;
	struct names n = {{0}};
	assert_int_equal(sg_conn_columns(f->c, "ct_t", add_name, &n), SG_ERR_OK);
	assert_string_equal(n.list, "sys_id,name,n,x,data,at");
	struct sg_sql q;
	sg_sql_init(&q);
	const struct sg_coldef col = {"extra", SG_COL_TEXT};
	f->d->add_column(&q, "ct_t", &col);
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_reset(&q);
	static const char *const idx[] = {"name", "n"};
	f->d->create_index(&q, "ct_t", "ct_t_name_n", idx, 2);
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_OK);
	/* again: nothing happens */
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	n.list[0] = '\0';
	assert_int_equal(sg_conn_columns(f->c, "ct_t", add_name, &n), SG_ERR_OK);
	assert_string_equal(n.list, "sys_id,name,n,x,data,at,extra");
	/* a planner hint is accepted inside a write */
	const struct sg_index_stats stats = {1000, {500, 1}, 2};
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(sg_conn_index_hint(f->c, "ct_t", "ct_t_name_n", &stats), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
}

/* Counts the columns of the first row. */
static int count_cols(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	(void)vals;
	*(int *)ud = ncol;
	return 1;
}

/* A statement this connection ran before (a backend may keep it prepared)
 * still runs, and sees the new shape, after another connection changed the
 * table under it: inside a transaction and out. */
static void statements_survive_another_connections_ddl(void **state)
{
	struct fx *f = *state;
	assert_int_equal(run(f->c, "INSERT INTO \"ct_t\" (\"sys_id\") VALUES ('a1')"), SG_ERR_OK);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ct_t\"");
	int before = 0, after = 0;
	assert_int_equal(sg_conn_exec(f->c, &q, count_cols, &before, NULL), SG_ERR_OK);
	sg_store *other = NULL;
	assert_int_equal(sg_store_open(url, false, &other), SG_ERR_OK);
	sg_conn *oc = sg_store_conn(other);
	assert_non_null(oc);
	assert_int_equal(run(oc, "ALTER TABLE \"ct_t\" ADD COLUMN \"later\" INTEGER"), SG_ERR_OK);
	assert_int_equal(sg_conn_exec(f->c, &q, count_cols, &after, NULL), SG_ERR_OK);
	assert_int_equal(after, before + 1);
	assert_int_equal(run(oc, "ALTER TABLE \"ct_t\" ADD COLUMN \"later2\" INTEGER"), SG_ERR_OK);
	assert_int_equal(sg_conn_begin(f->c, false), SG_ERR_OK);
	assert_int_equal(sg_conn_exec(f->c, &q, count_cols, &after, NULL), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	assert_int_equal(after, before + 2);
	sg_store_close(other);
	sg_sql_cleanup(&q);
}

static void constraint_is_invalid_insert(void **state)
{
	struct fx *f = *state;
	assert_int_equal(insert(f->c, "a", "A", 1), SG_ERR_OK);
	assert_int_equal(insert(f->c, "a", "B", 2), SG_ERR_INVALID_INSERT);
	assert_int_equal(insert(f->c, NULL, "C", 3), SG_ERR_INVALID_INSERT); /* NOT NULL key */
	assert_int_equal(count_where(f->c, NULL), 1);
}

static void query_string_first_value(void **state)
{
	struct fx *f = *state;
	char *v = value_of(f->c, "SELECT \"name\" FROM \"ct_t\"");
	assert_null(v); /* no row */
	assert_int_equal(insert(f->c, "a", NULL, 1), SG_ERR_OK);
	v = value_of(f->c, "SELECT \"name\" FROM \"ct_t\"");
	assert_null(v); /* NULL value */
	assert_int_equal(insert(f->c, "b", "second", 2), SG_ERR_OK);
	v = value_of(f->c, "SELECT \"name\", \"n\" FROM \"ct_t\" ORDER BY \"n\" DESC");
	assert_string_equal(v, "second"); /* first column of the first row */
	free(v);
	/* a statement that failed while being built runs nothing */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT ");
	sg_sql_ident(&q, "Not An Identifier");
	char *out = (char *)"untouched";
	assert_int_equal(sg_conn_query_string(f->c, &q, &out), SG_ERR_INTERNAL);
	assert_null(out);
	sg_sql_cleanup(&q);
}

/* REAL values read back as SQLite writes them, on every engine. */
static void real_values_read_as_sqlite_writes_them(void **state)
{
	struct fx *f = *state;
	static const char *const cases[][2] = {
	    {"SELECT CAST(2 AS DOUBLE PRECISION)", "2.0"},
	    {"SELECT CAST(2.5 AS DOUBLE PRECISION)", "2.5"},
	    {"SELECT CAST(0.1 AS DOUBLE PRECISION) + CAST(0.2 AS DOUBLE PRECISION)", "0.3"},
	    {"SELECT CAST(1e20 AS DOUBLE PRECISION)", "1.0e+20"},
	    {"SELECT CAST(-3 AS DOUBLE PRECISION) / 7", "-0.428571428571429"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *v = value_of(f->c, cases[i][0]);
		assert_non_null(v);
		if (strcmp(v, cases[i][1]))
			fprintf(stderr, "%s: %s, wanted %s\n", cases[i][0], v, cases[i][1]);
		assert_string_equal(v, cases[i][1]);
		free(v);
	}
}

/* ---- the dialect ----------------------------------------------------------- */

static void text_ignores_case_ids_do_not(void **state)
{
	struct fx *f = *state;
	assert_int_equal(insert(f->c, "a", "Alice", 1), SG_ERR_OK);
	assert_int_equal(insert(f->c, "b", "bob", 2), SG_ERR_OK);
	assert_int_equal(insert(f->c, "c", "Carol", 3), SG_ERR_OK);
	assert_int_equal(count_where(f->c, "\"name\" = 'ALICE'"), 1);
	assert_int_equal(count_where(f->c, "\"name\" IN ('alice', 'BOB')"), 2);
	assert_int_equal(count_where(f->c, "\"name\" < 'BOB'"), 1);
	assert_int_equal(count_where(f->c, "\"sys_id\" = 'A'"), 0);

	/* ORDER BY ignores case: Alice, bob, Carol */
	struct names n = {{0}};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\" FROM \"ct_t\" ORDER BY \"name\"");
	assert_int_equal(sg_conn_exec(f->c, &q, add_name, &n, NULL), SG_ERR_OK);
	assert_string_equal(n.list, "Alice,bob,Carol");

	/* LIKE as the dialect spells it, with the escape the compiler uses */
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM \"ct_t\" WHERE \"name\"");
	sg_sql_raw(&q, f->d->like);
	sg_sql_text(&q, "%O%");
	sg_sql_raw(&q, " ESCAPE '\\'");
	char *v = NULL;
	assert_int_equal(sg_conn_query_string(f->c, &q, &v), SG_ERR_OK);
	assert_string_equal(v, "2"); /* bob, Carol */
	free(v);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM \"ct_t\" WHERE \"name\"");
	sg_sql_raw(&q, f->d->not_like);
	sg_sql_text(&q, "a\\_%");
	sg_sql_raw(&q, " ESCAPE '\\'");
	assert_int_equal(sg_conn_query_string(f->c, &q, &v), SG_ERR_OK);
	assert_string_equal(v, "3"); /* no name starts with "a_" */
	free(v);
	sg_sql_cleanup(&q);
}

static char *date_expr(struct fx *f, long long n, const char *unit, const char *part)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT ");
	if (part)
		assert_true(f->d->date_part(&q, "ct_t", "at", part));
	else
		f->d->date_add(&q, "ct_t", "at", n, unit);
	sg_sql_raw(&q, " FROM \"ct_t\"");
	char *v = NULL;
	assert_int_equal(sg_conn_query_string(f->c, &q, &v), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_non_null(v);
	return v;
}

static void dates(void **state)
{
	struct fx *f = *state;
	assert_int_equal(run(f->c, "INSERT INTO \"ct_t\" (\"sys_id\", \"at\") "
	                           "VALUES ('a', '2024-03-15 10:20:30')"),
	                 SG_ERR_OK);
	static const struct {
		long long n;
		const char *unit, *want;
	} adds[] = {
	    {1, "day", "2024-03-16 10:20:30"},     {-15, "day", "2024-02-29 10:20:30"},
	    {1, "month", "2024-04-15 10:20:30"},   {-1, "year", "2023-03-15 10:20:30"},
	    {90, "minute", "2024-03-15 11:50:30"}, {-31, "second", "2024-03-15 10:19:59"},
	    {14, "hour", "2024-03-16 00:20:30"},
	};
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
		char *v = date_expr(f, adds[i].n, adds[i].unit, NULL);
		assert_string_equal(v, adds[i].want);
		free(v);
	}
	static const struct {
		const char *part, *want;
	} parts[] = {
	    {"year", "2024"}, {"month", "3"},     {"dayofmonth", "15"},
	    {"hour", "10"},   {"dayofweek", "5"}, /* a Friday; 0 is Sunday */
	    {"quarter", "1"},
	};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *v = date_expr(f, 0, NULL, parts[i].part);
		assert_string_equal(v, parts[i].want);
		free(v);
	}
	struct sg_sql q;
	sg_sql_init(&q);
	assert_false(f->d->date_part(&q, "ct_t", "at", "fortnight"));
	assert_int_equal(q.text.len, 0);
	sg_sql_cleanup(&q);
}

/* ---- blobs ----------------------------------------------------------------- */

static void blobs_keep_nul_bytes(void **state)
{
	struct fx *f = *state;
	static const unsigned char bytes[] = {0, 'a', 0, 0, 0xff, 'b', 0};
	struct sg_sql q, copy;
	sg_sql_init(&q);
	sg_sql_init(&copy);
	sg_sql_raw(&q, "INSERT INTO \"ct_t\" (\"sys_id\", \"data\") VALUES (");
	sg_sql_text(&q, "a");
	sg_sql_raw(&q, ", ");
	sg_sql_blob(&q, bytes, sizeof(bytes));
	sg_sql_raw(&q, "), (");
	sg_sql_text(&q, "empty");
	sg_sql_raw(&q, ", ");
	sg_sql_blob(&q, "", 0);
	sg_sql_raw(&q, ")");
	sg_sql_append(&copy, &q); /* appending copies the bytes too */
	sg_sql_cleanup(&q);
	assert_int_equal(sg_conn_exec(f->c, &copy, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&copy);

	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"data\" FROM \"ct_t\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, "a");
	void *out = NULL;
	size_t len = 0;
	assert_int_equal(sg_conn_query_blob(f->c, &q, &out, &len), SG_ERR_OK);
	assert_int_equal(len, sizeof(bytes));
	assert_memory_equal(out, bytes, sizeof(bytes));
	free(out);
	sg_sql_reset(&q);

	/* an empty blob is not NULL */
	sg_sql_raw(&q, "SELECT \"data\" FROM \"ct_t\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, "empty");
	assert_int_equal(sg_conn_query_blob(f->c, &q, &out, &len), SG_ERR_OK);
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
	sg_sql_reset(&q);

	/* no row, and a NULL value */
	sg_sql_raw(&q, "SELECT \"data\" FROM \"ct_t\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, "nobody");
	assert_int_equal(sg_conn_query_blob(f->c, &q, &out, &len), SG_ERR_OK);
	assert_null(out);
	assert_int_equal(len, 0);
	sg_sql_cleanup(&q);
	assert_int_equal(insert(f->c, "n", "no data", 1), SG_ERR_OK);
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"data\" FROM \"ct_t\" WHERE \"sys_id\" = 'n'");
	assert_int_equal(sg_conn_query_blob(f->c, &q, &out, &len), SG_ERR_OK);
	assert_null(out);
	sg_sql_cleanup(&q);
}

/* sg_sql_blob_ref binds the caller's bytes as they are when q runs (no copy);
 * appending q elsewhere copies them as they are then. */
static void blob_refs_are_borrowed(void **state)
{
	struct fx *f = *state;
	unsigned char buf[] = {1, 0, 2};
	struct sg_sql q, copy;
	sg_sql_init(&q);
	sg_sql_init(&copy);
	sg_sql_raw(&q, "INSERT INTO \"ct_t\" (\"sys_id\", \"data\") VALUES (");
	sg_sql_text(&q, "copied");
	sg_sql_raw(&q, ", ");
	sg_sql_blob_ref(&q, buf, sizeof(buf));
	sg_sql_raw(&q, ")");
	sg_sql_append(&copy, &q);
	buf[0] = 9;
	assert_int_equal(sg_conn_exec(f->c, &copy, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO \"ct_t\" (\"sys_id\", \"data\") VALUES (");
	sg_sql_text(&q, "borrowed");
	sg_sql_raw(&q, ", ");
	sg_sql_blob_ref(&q, buf, sizeof(buf));
	sg_sql_raw(&q, ")");
	buf[2] = 7;
	assert_int_equal(sg_conn_exec(f->c, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	sg_sql_cleanup(&copy);

	static const unsigned char copied[] = {1, 0, 2}, borrowed[] = {9, 0, 7};
	const char *ids[] = {"copied", "borrowed"};
	const unsigned char *want[] = {copied, borrowed};
	for (int i = 0; i < 2; i++) {
		void *out = NULL;
		size_t len = 0;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"data\" FROM \"ct_t\" WHERE \"sys_id\" = ");
		sg_sql_text(&q, ids[i]);
		assert_int_equal(sg_conn_query_blob(f->c, &q, &out, &len), SG_ERR_OK);
		assert_int_equal(len, 3);
		assert_memory_equal(out, want[i], 3);
		free(out);
		sg_sql_cleanup(&q);
	}
}

/* ---- concurrency ----------------------------------------------------------- */

#define WRITERS 4
#define WRITES  40
#define READERS 2

struct worker {
	sg_store *s;
	int no;
	pthread_t thread;
	sg_err acked[WRITES]; /* the answer to each write's commit */
	bool kept[WRITES];    /* committed (else rolled back) */
	int failures;         /* a reader's inconsistencies */
	_Atomic bool *stop;
};

static void *write_many(void *arg)
{
	struct worker *w = arg;
	sg_conn *c = sg_store_conn(w->s);
	for (int i = 0; i < WRITES; i++) {
		char id[32];
		snprintf(id, sizeof(id), "w%d-%d", w->no, i);
		w->acked[i] = SG_ERR_STORE;
		w->kept[i] = i % 5 != 4; /* every fifth write is rolled back */
		if (!c || sg_conn_begin(c, true))
			continue;
		if (insert(c, id, "x", i)) {
			sg_conn_rollback(c);
			continue;
		}
		if (w->kept[i])
			w->acked[i] = sg_conn_commit(c);
		else
			sg_conn_rollback(c);
	}
	return NULL;
}

/* The row count, or NULL (no asserts: this runs on other threads). */
static char *count_quietly(sg_conn *c)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM \"ct_t\"");
	char *out = NULL;
	if (sg_conn_query_string(c, &q, &out))
		out = NULL;
	sg_sql_cleanup(&q);
	return out;
}

/* Inside one read transaction the count does not move. */
static void *read_many(void *arg)
{
	struct worker *w = arg;
	sg_conn *c = sg_store_conn(w->s);
	while (c && !*w->stop) {
		if (sg_conn_begin(c, false)) {
			w->failures++;
			break;
		}
		char *a = count_quietly(c);
		char *b = count_quietly(c);
		if (!a || !b || strcmp(a, b) != 0)
			w->failures++;
		free(a);
		free(b);
		if (sg_conn_commit(c))
			w->failures++;
	}
	return NULL;
}

static void every_acknowledged_write_is_there(void **state)
{
	struct fx *f = *state;
	_Atomic bool stop = false;
	struct worker *w = calloc(WRITERS + READERS, sizeof(*w));
	assert_non_null(w);
	for (int i = 0; i < WRITERS + READERS; i++) {
		w[i].s = f->s;
		w[i].no = i;
		w[i].stop = &stop;
		assert_int_equal(
		    pthread_create(&w[i].thread, NULL, i < WRITERS ? write_many : read_many, &w[i]),
		    0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i].thread, NULL);
	stop = true;
	for (int i = WRITERS; i < WRITERS + READERS; i++) {
		pthread_join(w[i].thread, NULL);
		assert_int_equal(w[i].failures, 0);
	}
	long long acked = 0;
	for (int i = 0; i < WRITERS; i++) {
		for (int k = 0; k < WRITES; k++) {
			char id[32];
			snprintf(id, sizeof(id), "w%d-%d", i, k);
			bool there = has(f->c, id);
			if (w[i].kept[k] && w[i].acked[k] == SG_ERR_OK) {
				assert_true(there);
				acked++;
			}
			if (!w[i].kept[k])
				assert_false(there);
		}
	}
	/* nothing failed here: every kept write was acknowledged */
	assert_int_equal(acked, WRITERS * (WRITES - WRITES / 5));
	assert_int_equal(count_where(f->c, NULL), acked);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(open_and_create),
	    cmocka_unit_test_setup_teardown(commit_keeps_rollback_drops, setup, teardown),
	    cmocka_unit_test_setup_teardown(statements_survive_another_connections_ddl, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(inner_rollback_fails_the_outer_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(failed_statement_leaves_the_transaction_usable, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(every_parameter_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(changes_count_rows, setup, teardown),
	    cmocka_unit_test_setup_teardown(columns_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(constraint_is_invalid_insert, setup, teardown),
	    cmocka_unit_test_setup_teardown(query_string_first_value, setup, teardown),
	    cmocka_unit_test_setup_teardown(real_values_read_as_sqlite_writes_them, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(text_ignores_case_ids_do_not, setup, teardown),
	    cmocka_unit_test_setup_teardown(dates, setup, teardown),
	    cmocka_unit_test_setup_teardown(blobs_keep_nul_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(blob_refs_are_borrowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(every_acknowledged_write_is_there, setup, teardown),
	};
	return cmocka_run_group_tests_name("store.contract", tests, group_setup, group_teardown);
}
