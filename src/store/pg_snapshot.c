/*
 * pg_snapshot.c - named snapshots of a PostgreSQL instance, kept inside the
 * database (backend.h's snap_*; store.h: sg_store_snapshot_save...).
 *
 * Several nodes serve one database, so a snapshot cannot be a file beside
 * one of them: each is a schema, "sg_snap_" and a random id, holding a copy
 * of every table of the instance's schema (current_schema()), and the schema
 * "sg_snapshots" holds the catalog (its name, schema, time, size).  Names
 * are the instance's own ([A-Za-z0-9_.-], up to 64), which do not fit in an
 * identifier of 63 bytes with a prefix: hence the catalog.
 *
 * Save: one write transaction (the advisory write lock every writer of
 * every node takes: writes wait, readers go on) copies each table with
 * CREATE TABLE ... AS TABLE, all in one DO block (one round trip), and
 * records it.  Restore: one write transaction makes the instance's tables
 * the snapshot's: tables and columns made since (a sys_dictionary insert)
 * dropped, ones dropped since made again, then each table emptied with
 * DELETE and filled with INSERT ... SELECT, then fix.  DELETE, not
 * TRUNCATE: TRUNCATE is not MVCC-safe (a reader whose snapshot predates it
 * would see an empty table), while DELETE + INSERT in one transaction gives
 * every reader (REPEATABLE READ) all of before or all of after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "store/pg_int.h"

#define SNAP_PREFIX "sg_snap_"
#define CATALOG     "\"sg_snapshots\".\"catalog\""

/* Whether s is a schema name this file made: SNAP_PREFIX and 32 hex
 * digits (so that it can be spliced into a DO block's text). */
static bool snap_schema_ok(const char *s)
{
	size_t n = strlen(SNAP_PREFIX);
	if (!s || strncmp(s, SNAP_PREFIX, n) || strlen(s) != n + SG_ID_LEN)
		return false;
	return strspn(s + n, "0123456789abcdef") == SG_ID_LEN;
}

/* Whether the catalog exists (no snapshot was ever saved otherwise). */
static sg_err have_catalog(sg_conn *c, bool *out)
{
	struct sg_sql q;
	char *v = NULL;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT to_regclass('sg_snapshots.catalog') IS NOT NULL");
	sg_err err = sg_conn_query_string(c, &q, &v);
	sg_sql_cleanup(&q);
	*out = !err && v && (v[0] == 't' || v[0] == '1');
	free(v);
	return err;
}

/* The schema of snapshot name: *out new, NULL when there is none. */
static sg_err snap_schema(sg_conn *c, const char *name, char **out)
{
	bool have = false;
	*out = NULL;
	sg_err err = have_catalog(c, &have);
	if (err || !have)
		return err;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"schema_name\" FROM " CATALOG " WHERE \"name\" = ");
	sg_sql_text(&q, name);
	err = sg_conn_query_string(c, &q, out);
	sg_sql_cleanup(&q);
	if (!err && *out && !snap_schema_ok(*out)) {
		sg_log_error("store: postgresql: the snapshot catalog names a schema this "
		             "program did not make");
		free(*out);
		*out = NULL;
		err = SG_ERR_STORE;
	}
	return err;
}

/* Runs the DO block body (text with one %s: schema) with schema spliced
 * in; schema passed snap_schema_ok. */
static sg_err run_block(sg_conn *c, const char *body, const char *schema)
{
	size_t n = strlen(body) + 8 * strlen(schema) + 1;
	char *sql = malloc(n);
	if (!sql)
		return SG_ERR_NOMEM;
	/* Every %s of body is the schema (snprintf reads as many as there are). */
	snprintf(sql, n, body, schema, schema, schema, schema, schema, schema, schema, schema);
	sg_err err = sg_conn_exec_raw(c, sql);
	free(sql);
	return err;
}

static sg_err drop_schema(sg_conn *c, const char *schema)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "DROP SCHEMA \"%s\" CASCADE", schema);
	return sg_conn_exec_raw(c, sql);
}

/* Copies every table of the instance's schema into the new schema %s. */
static const char save_block[] =
    "DO $sg$ DECLARE t record; BEGIN "
    "CREATE SCHEMA \"%s\"; "
    "FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP "
    "EXECUTE format('CREATE TABLE \"%s\".%%I AS TABLE %%I.%%I', t.tablename, "
    "current_schema(), t.tablename); "
    "END LOOP; END $sg$";

sg_err sg__pg_snap_save(sg_conn *c, const char *name, const char *created, size_t max)
{
	char schema[sizeof(SNAP_PREFIX) + SG_ID_LEN];
	char id[SG_ID_LEN + 1];
	sg_id_new(id);
	snprintf(schema, sizeof(schema), SNAP_PREFIX "%s", id);
	char *old = NULL, *count = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_err err = sg_conn_begin(c, true);
	if (err)
		goto out;
	err = sg_conn_exec_raw(c, "CREATE SCHEMA IF NOT EXISTS \"sg_snapshots\"");
	if (!err)
		err = sg_conn_exec_raw(c, "CREATE TABLE IF NOT EXISTS " CATALOG " ("
		                          "\"name\" text PRIMARY KEY, "
		                          "\"schema_name\" text NOT NULL UNIQUE, "
		                          "\"created\" text NOT NULL, \"size\" bigint NOT NULL)");
	if (!err)
		err = snap_schema(c, name, &old);
	if (!err && !old) {
		sg_sql_raw(&q, "SELECT count(*) FROM " CATALOG);
		err = sg_conn_query_string(c, &q, &count);
		if (!err && count && strtoull(count, NULL, 10) >= max) {
			sg_log_error("snapshot: the database already holds %zu snapshots", max);
			err = SG_ERR_BAD_PARAM;
		}
	}
	if (!err)
		err = run_block(c, save_block, schema);
	if (!err && old)
		err = drop_schema(c, old);
	if (!err) {
		sg_sql_reset(&q);
		sg_sql_raw(&q, "INSERT INTO " CATALOG " (\"name\", \"schema_name\", \"created\", "
		               "\"size\") SELECT ");
		sg_sql_text(&q, name);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, schema);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, created);
		sg_sql_raw(&q,
		           ", coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
		           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
		           "AND n.nspname = ");
		sg_sql_text(&q, schema);
		sg_sql_raw(&q, " ON CONFLICT (\"name\") DO UPDATE SET \"schema_name\" = "
		               "excluded.\"schema_name\", \"created\" = excluded.\"created\", "
		               "\"size\" = excluded.\"size\"");
		err = sg_conn_exec(c, &q, NULL, NULL, NULL);
	}
	if (err)
		sg_conn_rollback(c);
	else
		err = sg_conn_commit(c);
out:
	sg_sql_cleanup(&q);
	free(old);
	free(count);
	return err;
}

/*
 * Makes the instance's schema the snapshot %s's: its tables, then its
 * columns (by name and type), then its rows.  Indexes of tables made
 * again and columns added back are the snapshot's (CREATE TABLE AS keeps
 * none): the dictionary makes the indexes it needs on its next change.
 */
static const char restore_block[] =
    "DO $sg$ DECLARE t record; cols text; live name := current_schema(); "
    "ns oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema()); "
    "sns oid := (SELECT oid FROM pg_namespace WHERE nspname = '%s'); BEGIN "
    /* tables made since */
    "FOR t IN SELECT l.relname AS tab FROM pg_class l WHERE l.relnamespace = ns AND "
    "l.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_class s WHERE s.relnamespace = sns "
    "AND s.relkind = 'r' AND s.relname = l.relname) "
    "LOOP EXECUTE format('DROP TABLE %%I.%%I', live, t.tab); END LOOP; "
    /* tables dropped since */
    "FOR t IN SELECT s.relname AS tab FROM pg_class s WHERE s.relnamespace = sns AND "
    "s.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_class l WHERE l.relnamespace = ns "
    "AND l.relkind = 'r' AND l.relname = s.relname) "
    "LOOP EXECUTE format('CREATE TABLE %%I.%%I (LIKE \"%s\".%%I)', live, t.tab, t.tab); "
    "END LOOP; "
    /* columns made since, or of another type (the catalogs, not the slow
     * information_schema views) */
    "FOR t IN SELECT c.relname AS tab, a.attname AS col FROM pg_attribute a JOIN pg_class c "
    "ON c.oid = a.attrelid WHERE c.relnamespace = ns AND c.relkind = 'r' AND a.attnum > 0 "
    "AND NOT a.attisdropped AND NOT EXISTS (SELECT 1 FROM pg_attribute sa JOIN pg_class sc "
    "ON sc.oid = sa.attrelid WHERE sc.relnamespace = sns AND sc.relname = c.relname AND "
    "sa.attname = a.attname AND sa.atttypid = a.atttypid AND NOT sa.attisdropped) "
    "LOOP EXECUTE format('ALTER TABLE %%I.%%I DROP COLUMN %%I', live, t.tab, t.col); "
    "END LOOP; "
    /* columns dropped since */
    "FOR t IN SELECT c.relname AS tab, a.attname AS col, format_type(a.atttypid, "
    "a.atttypmod) AS typ FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE "
    "c.relnamespace = sns AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND "
    "NOT EXISTS (SELECT 1 FROM pg_attribute la JOIN pg_class lc ON lc.oid = la.attrelid "
    "WHERE lc.relnamespace = ns AND lc.relname = c.relname AND la.attname = a.attname AND "
    "NOT la.attisdropped) "
    "LOOP EXECUTE format('ALTER TABLE %%I.%%I ADD COLUMN %%I %%s', live, t.tab, t.col, "
    "t.typ); END LOOP; "
    /* the rows */
    "FOR t IN SELECT c.oid AS rel, c.relname AS tab FROM pg_class c WHERE c.relnamespace = "
    "sns AND c.relkind = 'r' LOOP "
    "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols FROM "
    "pg_attribute WHERE attrelid = t.rel AND attnum > 0 AND NOT attisdropped; "
    "EXECUTE format('DELETE FROM %%I.%%I', live, t.tab); "
    "EXECUTE format('INSERT INTO %%I.%%I (%%s) SELECT %%s FROM \"%s\".%%I', live, t.tab, "
    "cols, cols, t.tab); "
    "END LOOP; END $sg$";

sg_err sg__pg_snap_restore(sg_conn *c, const char *name, const struct sg_sql *fix, size_t nfix)
{
	char *schema = NULL;
	sg_err err = sg_conn_begin(c, true);
	if (err)
		return err;
	err = snap_schema(c, name, &schema);
	if (!err && !schema)
		err = SG_ERR_NO_RECORD;
	if (!err)
		err = run_block(c, restore_block, schema);
	for (size_t i = 0; !err && i < nfix; i++)
		err = sg_conn_exec(c, &fix[i], NULL, NULL, NULL);
	if (err)
		sg_conn_rollback(c);
	else
		err = sg_conn_commit(c);
	free(schema);
	return err;
}

sg_err sg__pg_snap_delete(sg_conn *c, const char *name)
{
	char *schema = NULL;
	sg_err err = sg_conn_begin(c, true);
	if (err)
		return err;
	err = snap_schema(c, name, &schema);
	if (!err && !schema)
		err = SG_ERR_NO_RECORD;
	if (!err)
		err = drop_schema(c, schema);
	if (!err) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM " CATALOG " WHERE \"name\" = ");
		sg_sql_text(&q, name);
		err = sg_conn_exec(c, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	if (err)
		sg_conn_rollback(c);
	else
		err = sg_conn_commit(c);
	free(schema);
	return err;
}

sg_err sg__pg_snap_list(sg_conn *c, sg_row_fn fn, void *ud)
{
	bool have = false;
	sg_err err = have_catalog(c, &have);
	if (err || !have)
		return err;
	struct sg_sql q;
	sg_sql_init(&q);
	/* Byte order, as the file names of the SQLite path are sorted. */
	sg_sql_raw(&q, "SELECT \"name\", \"size\", \"created\" FROM " CATALOG
	               " ORDER BY \"name\" COLLATE \"C\"");
	err = sg_conn_exec(c, &q, fn, ud, NULL);
	sg_sql_cleanup(&q);
	return err;
}
