/*
 * Unit tests for the read-path checks: sg_acl_query_fields over the whole
 * query (dot-walk segments, ORDERBY, SAMEAS, JOIN, RLQUERY, TEXT, password
 * fields), sg_acl_read_path, sg_acl_read_where (the row ACLs as SQL), and
 * the session's hook that keeps JOIN and RLQUERY to the other table's
 * readable rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "fixture.h"
#include "auth/acl.h"
#include "core/json.h"

/* A read ACL on name needing role: Allow-If, or Deny-Unless when deny. */
static void acl_ex(struct sg_ctx *sys, const char *name, const char *role, bool deny)
{
	char id[SG_ID_LEN + 1], rid[SG_ID_LEN + 1];
	insert_row(sys, "sys_security_acl",
	           json_pack("{s:s, s:s, s:s}", "name", name, "operation", "read", "decision_type",
	                     deny ? "deny" : "allow"),
	           id);
	insert_row(sys, "sys_security_acl_role",
	           json_pack("{s:s, s:s}", "sys_security_acl", id, "sys_user_role", role), rid);
}

static void acl(struct sg_ctx *sys, const char *name, const char *role)
{
	acl_ex(sys, name, role, false);
}

/* sg_acl_query_fields for the encoded query text over table. */
static bool query_ok(struct sg_auth_session *s, const char *table, const char *text)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, text));
	bool ok;
	assert_int_equal(sg_acl_query_fields(s, T(s, table), &q, &ok), SG_ERR_OK);
	sg_query_cleanup(&q);
	return ok;
}

static bool path_ok(struct sg_auth_session *s, const char *table, const char *path)
{
	bool ok;
	assert_int_equal(sg_acl_read_path(s, T(s, table), path, &ok), SG_ERR_OK);
	return ok;
}

/* How many incidents sg_acl_read_where lets s read, counted by SQL. */
static long long where_count(struct sg_auth_session *s)
{
	const struct sg_table *t = T(s, "incident");
	struct sg_sql w, q;
	sg_sql_init(&w);
	sg_sql_init(&q);
	assert_int_equal(sg_acl_read_where(s, t, "t", &w), SG_ERR_OK);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " t WHERE ");
	sg_sql_qual(&q, "t", "sys_class_name");
	sg_sql_raw(&q, " = 'incident' AND ");
	sg_sql_append(&q, &w);
	char *n = NULL;
	assert_int_equal(sg_conn_query_string(s->ctx->conn, &q, &n), SG_ERR_OK);
	long long v = n ? atoll(n) : -1;
	free(n);
	sg_sql_cleanup(&q);
	sg_sql_cleanup(&w);
	return v;
}

/* The user names sg_rec_list finds for query text over sys_user, as s's
 * request ("a,b", sorted). */
static char *names(struct sg_auth_session *s, const char *text)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, text));
	assert_true(sg_query_parse(&q, "ORDERBYuser_name"));
	struct sg_list_opts lo = {.query = &q, .limit = 100};
	json_t *rows = NULL, *v;
	assert_int_equal(sg_rec_list(s->ctx, "sys_user", &lo, &rows, NULL), SG_ERR_OK);
	char buf[512] = "";
	size_t i;
	json_array_foreach(rows, i, v)
	{
		strncat(buf, i ? "," : "", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, sg_json_str(v, "user_name"), sizeof(buf) - strlen(buf) - 1);
	}
	json_decref(rows);
	sg_query_cleanup(&q);
	return strdup(buf);
}

struct people {
	struct sg_user plain, internal, admin;
};

static void people(struct sg_ctx *sys, struct people *p)
{
	user_with_roles(sys, "pat.plain", (const char *[]){NULL}, &p->plain);
	user_with_roles(sys, "ida.internal", (const char *[]){"snc_internal", NULL}, &p->internal);
	user_with_roles(sys, "ada.admin", (const char *[]){"admin", NULL}, &p->admin);
}

static void query_fields_walk_the_whole_query(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	struct people p;
	people(sys, &p);
	acl(sys, "sys_user.email", "admin");
	struct sg_user *u = &p.internal, *a = &p.admin;

	/* plain fields and every segment of a dot-walk */
	assert_true(AS(u, query_ok(s, "incident", "short_description=x")));
	assert_true(AS(u, query_ok(s, "incident", "caller_id.name=x")));
	assert_false(AS(u, query_ok(s, "incident", "caller_id.email=x")));
	assert_false(AS(u, query_ok(s, "incident", "short_description=x^ORcaller_id.email=x")));
	assert_false(AS(u, query_ok(s, "incident", "caller_id.manager.email=x")));
	assert_false(AS(u, query_ok(s, "incident", "short_description=x^NQcaller_id.email=x")));
	assert_true(AS(a, query_ok(s, "incident", "caller_id.manager.email=x")));
	/* a table walked to must be readable by roles: sys_user_has_role is not */
	assert_true(AS(u, query_ok(s, "sys_user", "user_name=x")));
	/* password fields: no one, not even admin or the system */
	assert_false(AS(a, query_ok(s, "sys_user", "user_passwordSTARTSWITH$")));
	assert_false(AS(a, query_ok(s, "incident", "caller_id.user_passwordSTARTSWITH$")));
	assert_false(AS(NULL, query_ok(s, "incident", "caller_id.manager.user_password=x")));
	/* the field a comparison with another field reads */
	assert_false(AS(u, query_ok(s, "sys_user", "user_nameSAMEASemail")));
	assert_false(AS(a, query_ok(s, "sys_user", "user_nameSAMEASuser_password")));
	assert_true(AS(u, query_ok(s, "sys_user", "user_nameSAMEASfirst_name")));
	/* sort keys */
	assert_false(AS(u, query_ok(s, "incident", "ORDERBYcaller_id.email")));
	assert_false(AS(a, query_ok(s, "sys_user", "ORDERBYDESCuser_password")));
	assert_true(AS(u, query_ok(s, "incident", "ORDERBYDESCcaller_id.name")));
	assert_true(AS(a, query_ok(s, "incident", "ORDERBYcaller_id.email")));
	/* names a table does not have are left to the compiler */
	assert_true(AS(u, query_ok(s, "incident", "no_such_field=1")));

	/* JOIN: the other table, its link field, its sub-query; this table's field */
	const char *j = "JOINsys_user.sys_id=sys_user_has_role.user!role.name=admin";
	assert_false(AS(u, query_ok(s, "sys_user", j)));
	assert_true(AS(a, query_ok(s, "sys_user", j)));
	assert_true(
	    AS(u, query_ok(s, "incident", "JOINincident.caller_id=sys_user.sys_id!name=x")));
	assert_false(
	    AS(u, query_ok(s, "incident", "JOINincident.caller_id=sys_user.sys_id!emailLIKEa")));
	assert_false(AS(u, query_ok(s, "incident", "JOINincident.caller_id=sys_user.email")));
	assert_false(
	    AS(u, query_ok(s, "sys_user", "JOINsys_user.email=incident.short_description")));
	assert_false(
	    AS(a, query_ok(s, "incident",
	                   "JOINincident.caller_id=sys_user.sys_id!user_passwordSTARTSWITH$")));
	/* RLQUERY: the other table, its link field, its sub-query */
	assert_false(
	    AS(u, query_ok(s, "sys_user", "RLQUERYsys_user_has_role.user,>=1^ENDRLQUERY")));
	assert_true(AS(a, query_ok(s, "sys_user", "RLQUERYsys_user_has_role.user,>=1^ENDRLQUERY")));
	assert_true(
	    AS(u, query_ok(s, "sys_user",
	                   "RLQUERYincident.caller_id,>=1^short_description=x^ENDRLQUERY")));
	assert_false(AS(u, query_ok(s, "sys_user",
	                            "RLQUERYincident.caller_id,>=1^caller_id.email=x^ENDRLQUERY")));
	assert_false(AS(a, query_ok(s, "sys_user",
	                            "RLQUERYincident.caller_id,>=1^caller_id.user_password=x^"
	                            "ENDRLQUERY")));
	/* TEXT: every field the search reads */
	assert_true(AS(u, query_ok(s, "cmn_location", "123TEXTQUERY321=a")));
	acl(sys, "cmn_location.street", "admin");
	assert_false(AS(u, query_ok(s, "cmn_location", "123TEXTQUERY321=a")));
	assert_false(AS(u, query_ok(s, "cmn_location", "nameLIKEa^123TEXTQUERY321=a")));
	assert_true(AS(a, query_ok(s, "cmn_location", "123TEXTQUERY321=a")));
	/* a user with no role reads no incident at all */
	assert_false(
	    AS(&p.plain, query_ok(s, "sys_user", "RLQUERYincident.caller_id,>=1^ENDRLQUERY")));
}

static void read_path_checks_every_segment(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	struct people p;
	people(sys, &p);
	acl(sys, "sys_user.email", "admin");
	acl_ex(sys, "sys_user_group", "admin", true);
	struct sg_user *u = &p.internal, *a = &p.admin;
	assert_true(AS(u, path_ok(s, "incident", "caller_id")));
	assert_true(AS(u, path_ok(s, "incident", "caller_id.name")));
	assert_false(AS(u, path_ok(s, "incident", "caller_id.email")));
	assert_false(AS(u, path_ok(s, "incident", "caller_id.manager.email")));
	assert_true(AS(a, path_ok(s, "incident", "caller_id.manager.email")));
	/* a table walked to that the user may not read */
	assert_false(AS(u, path_ok(s, "incident", "assignment_group.name")));
	assert_true(AS(a, path_ok(s, "incident", "assignment_group.name")));
	/* passwords never */
	assert_false(AS(a, path_ok(s, "sys_user", "user_password")));
	assert_false(AS(NULL, path_ok(s, "incident", "caller_id.user_password")));
	assert_true(AS(NULL, path_ok(s, "incident", "caller_id.email")));
}

static void read_where_and_sub_queries_see_readable_rows(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	struct people p;
	people(sys, &p);
	char id[SG_ID_LEN + 1];
	/* the base incident ACL: snc_internal reads an incident it calls or opened */
	insert_row(
	    sys, "incident",
	    json_pack("{s:s, s:s}", "short_description", "mine", "caller_id", p.internal.sys_id),
	    id);
	insert_row(
	    sys, "incident",
	    json_pack("{s:s, s:s}", "short_description", "secret", "caller_id", p.plain.sys_id),
	    id);
	insert_row(
	    sys, "incident",
	    json_pack("{s:s, s:s}", "short_description", "secret 2", "caller_id", p.plain.sys_id),
	    id);
	/* the row ACLs as SQL */
	assert_int_equal(AS(&p.internal, where_count(s)), 1);
	assert_int_equal(AS(&p.admin, where_count(s)), 3);
	assert_int_equal(AS(NULL, where_count(s)), 3);
	assert_int_equal(AS(&p.plain, where_count(s)), 0);

	/* JOIN and RLQUERY consult only the other table's readable rows */
	char *v;
	const char *join =
	    "JOINsys_user.sys_id=incident.caller_id!short_descriptionSTARTSWITHsecret";
	assert_string_equal(v = AS(&p.admin, names(s, join)), "pat.plain");
	free(v);
	assert_string_equal(v = AS(&p.internal, names(s, join)), "");
	free(v);
	join = "JOINsys_user.sys_id=incident.caller_id!short_description=mine";
	assert_string_equal(v = AS(&p.internal, names(s, join)), "ida.internal");
	free(v);
	const char *rl = "RLQUERYincident.caller_id,>=1^ENDRLQUERY";
	assert_string_equal(v = AS(&p.admin, names(s, rl)), "ida.internal,pat.plain");
	free(v);
	assert_string_equal(v = AS(&p.internal, names(s, rl)), "ida.internal");
	free(v);
	assert_string_equal(v = AS(NULL, names(s, rl)), "ida.internal,pat.plain");
	free(v);
	rl = "user_name=pat.plain^RLQUERYincident.caller_id,=0^ENDRLQUERY";
	assert_string_equal(v = AS(&p.internal, names(s, rl)), "pat.plain");
	free(v);
	assert_string_equal(v = AS(&p.admin, names(s, rl)), "");
	free(v);
	/* the request's ctx without a session (the system's tools): every row */
	struct sg_ctx c;
	assert_int_equal(sg_ctx_begin(&c, f->model, &p.internal), SG_ERR_OK);
	assert_null(c.sub_rows);
	sg_ctx_end(&c);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(query_fields_walk_the_whole_query, auth_setup,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(read_path_checks_every_segment, auth_setup,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(read_where_and_sub_queries_see_readable_rows,
	                                    auth_setup, auth_teardown),
	};
	return cmocka_run_group_tests_name("auth.acl_paths", tests, NULL, NULL);
}
