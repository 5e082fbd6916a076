/*
 * Unit tests for `nowsync connection remove`'s purge (fields.h): every
 * table of the state that names a connection is in the purge list (a new
 * table with a "connection" column fails this test until it is), a purge
 * deletes one connection's rows and nothing of another's, and purging a
 * name that is no connection deletes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "nowsync/fields.h"

static char dir[256];

static struct ns_state *open_state(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ns-fields-XXXXXX");
	assert_non_null(mkdtemp(dir));
	struct ns_state *s = NULL;
	char msg[256];
	assert_int_equal(ns_state_open(dir, &s, msg, sizeof(msg)), SG_ERR_OK);
	return s;
}

static void close_state(struct ns_state *s)
{
	ns_state_close(s);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static int collect(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		json_array_append_new(ud, json_string(vals[0]));
	return 0;
}

static void test_every_table_is_purged(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	sg_conn *db = sg_store_conn(s->store);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE "
	               "m.type = 'table' AND p.name = 'connection' ORDER BY m.name");
	json_t *names = json_array();
	assert_int_equal(sg_conn_exec(db, &q, collect, names, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_true(json_array_size(names) >= 10);
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v)
	{
		bool listed = false;
		for (size_t k = 0; ns_purge_tables[k][0]; k++)
			listed = listed || !strcmp(ns_purge_tables[k][0], json_string_value(v));
		if (!listed)
			fail_msg("%s names a connection but connection remove does not purge it",
			         json_string_value(v));
	}
	json_decref(names);
	close_state(s);
}

static void add(struct ns_state *s, const char *name)
{
	struct ns_connection c = {.name = (char *)name,
	                          .instance = (char *)"https://x.example",
	                          .auth = NS_AUTH_PASSWORD,
	                          .client_id = (char *)"id",
	                          .user = (char *)"u",
	                          .client_secret = (char *)"secret",
	                          .password = (char *)"pw",
	                          .timeout_ms = 1000};
	assert_int_equal(ns_state_add(s, &c), SG_ERR_OK);
	sg_conn *db = sg_store_conn(s->store);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_link\" (\"connection\", \"profile\", \"ekey\", \"state\", "
	               "\"updated_at\") VALUES (");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", 'p', 'k', 'open', 1)");
	assert_int_equal(sg_conn_exec(db, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_dict_cache\" (\"connection\", \"tbl\", \"body\", "
	               "\"fetched_at\") VALUES (");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", 'incident', '{}', 1)");
	assert_int_equal(sg_conn_exec(db, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_intake_token\" (\"name\", \"hash\", \"connection\", "
	               "\"created_on\") VALUES (");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", 'now')");
	assert_int_equal(sg_conn_exec(db, &q, NULL, NULL, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
}

static long long count(struct ns_state *s, const char *table, const char *name)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM ");
	sg_sql_ident(&q, table);
	sg_sql_raw(&q, !strcmp(table, "ns_connection") ? " WHERE \"name\" = "
	                                               : " WHERE \"connection\" = ");
	sg_sql_text(&q, name);
	json_t *out = json_array();
	assert_int_equal(sg_conn_exec(sg_store_conn(s->store), &q, collect, out, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	long long n = strtoll(json_string_value(json_array_get(out, 0)), NULL, 10);
	json_decref(out);
	return n;
}

static void test_purge_one_connection(void **st)
{
	(void)st;
	struct ns_state *s = open_state();
	add(s, "us");
	add(s, "eu");
	long long removed[NS_PURGE_TABLES] = {0};
	assert_int_equal(ns_state_purge(s, "nope", removed), SG_ERR_NO_RECORD);
	assert_int_equal(count(s, "ns_link", "eu"), 1);
	assert_int_equal(ns_state_purge(s, "eu", removed), SG_ERR_OK);
	const char *tables[] = {"ns_connection", "ns_link", "ns_dict_cache", "ns_intake_token"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(count(s, tables[i], "eu"), 0);
		assert_int_equal(count(s, tables[i], "us"), 1);
	}
	long long total = 0;
	for (size_t k = 0; ns_purge_tables[k][0]; k++)
		total += removed[k];
	assert_int_equal(total, 4);
	struct ns_connection c;
	assert_int_equal(ns_state_get(s, "eu", &c), SG_ERR_NO_RECORD);
	assert_int_equal(ns_state_get(s, "us", &c), SG_ERR_OK);
	ns_connection_clear(&c);
	close_state(s);
}

int main(void)
{
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_table_is_purged),
	    cmocka_unit_test(test_purge_one_connection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
