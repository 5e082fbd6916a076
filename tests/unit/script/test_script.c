/*
 * test_script.c - the script engine: limits, the API against a test
 * instance, ACLs through GlideRecordSecure, secrets, the date helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../auth/fixture.h"
#include "auth/acl.h"
#include "core/util.h"
#include "query/js.h"
#include "script/script.h"

/* Runs src as user (NULL: the fixture's admin), with an optional result
 * variable; the result in *res (the caller cleans it up). */
static sg_err run_as(struct fixture *f, const struct sg_user *user, const char *src,
                     const char *var, struct sg_script_result *res)
{
	struct sg_ctx c;
	struct sg_auth_session s;
	struct sg_user admin = {.sys_id = "6816f79cc0a8016401c5a33be04be441",
	                        .user_name = "admin",
	                        .name = "System Administrator"};
	sg_model_sync(f->model); /* as every request does: properties set since */
	assert_int_equal(sg_ctx_begin(&c, f->model, user ? user : &admin), SG_ERR_OK);
	sg_auth_session_init(&s, auth, &c, NULL);
	struct sg_script_run r = {
	    .source = src, .source_len = strlen(src), .name = "test", .as = &s, .result_var = var};
	sg_err err = sg_script_run(&r, res);
	sg_auth_session_cleanup(&s);
	sg_ctx_end(&c);
	return err;
}

/* The result value as a string ("" when not a string). */
static const char *str_of(const struct sg_script_result *res)
{
	return json_is_string(res->value) ? json_string_value(res->value) : "";
}

static void expect_str(struct fixture *f, const char *src, const char *want)
{
	struct sg_script_result res;
	assert_int_equal(run_as(f, NULL, src, NULL, &res), SG_ERR_OK);
	if (res.status != SG_SCRIPT_OK)
		fprintf(stderr, "%s: %s (line %d)\n", src, res.error, res.line);
	assert_int_equal(res.status, SG_SCRIPT_OK);
	assert_string_equal(str_of(&res), want);
	sg_script_result_cleanup(&res);
}

static void test_basics(void **state)
{
	struct fixture *f = *state;
	expect_str(f, "var a = 1 + 2; 'x' + a", "x3");
	expect_str(f, "JSON.stringify({a: [1, 2]})", "{\"a\":[1,2]}");
	expect_str(f, "gs.getUserName()", "admin");
	expect_str(f, "typeof require + typeof print + typeof process",
	           "undefinedundefinedundefined");
	struct sg_script_result res;
	assert_int_equal(run_as(f, NULL, "var answer = 2 > 1;", "answer", &res), SG_ERR_OK);
	assert_true(json_is_true(res.value));
	sg_script_result_cleanup(&res);
	/* Errors: syntax with its line, runtime with its message. */
	assert_int_equal(run_as(f, NULL, "var a = 1;\nvar = ;", NULL, &res), SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_SYNTAX);
	assert_int_equal(res.line, 2);
	sg_script_result_cleanup(&res);
	assert_int_equal(run_as(f, NULL, "\n\nthrow new Error('boom');", NULL, &res), SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_RUNTIME);
	assert_non_null(strstr(res.error, "boom"));
	assert_int_equal(res.line, 3);
	sg_script_result_cleanup(&res);
	/* The error landed in syslog. */
	json_t *rows = NULL;
	struct sg_list_opts lo = {.limit = 100};
	assert_int_equal(sg_rec_list(&f->ctx, "syslog", &lo, &rows, NULL), SG_ERR_OK);
	bool found = false;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *m = json_string_value(json_object_get(row, "message"));
		found |= m && strstr(m, "boom") &&
		         !strcmp(json_string_value(json_object_get(row, "level")), "2");
	}
	json_decref(rows);
	assert_true(found);
}

static void test_limits(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_prop_set(&f->ctx, "snowglobe.script.timeout_ms", "300"), SG_ERR_OK);
	assert_int_equal(sg_prop_set(&f->ctx, "snowglobe.script.max_memory_mb", "8"), SG_ERR_OK);
	struct sg_script_result res;
	int64_t t0 = sg_time_now();
	assert_int_equal(
	    run_as(f, NULL, "for (;;) { try { while (true) {} } catch (e) {} }", NULL, &res),
	    SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_TIMEOUT);
	assert_true(res.elapsed_ms >= 300 && res.elapsed_ms < 3000);
	assert_true(sg_time_now() - t0 < 5);
	sg_script_result_cleanup(&res);
	/* Memory, with time enough to reach the limit under the sanitizers. */
	assert_int_equal(sg_prop_set(&f->ctx, "snowglobe.script.timeout_ms", "60000"), SG_ERR_OK);
	assert_int_equal(
	    run_as(f, NULL, "var a = []; for (;;) a.push('x' + a.length);", NULL, &res), SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_MEMORY);
	sg_script_result_cleanup(&res);
	assert_int_equal(run_as(f, NULL, "var s = 'x'; for (;;) s = s + s;", NULL, &res),
	                 SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_MEMORY);
	sg_script_result_cleanup(&res);
	/* And the next run works. */
	expect_str(f, "'still ' + 'here'", "still here");
}

static void test_gliderecord(void **state)
{
	struct fixture *f = *state;
	/* insert through the pipeline: numbering, sys fields as the user. */
	expect_str(f,
	           "var gr = new GlideRecord('incident'); gr.initialize();"
	           "gr.short_description = 'from a script'; gr.urgency = 1; gr.impact = 1;"
	           "var id = gr.insert(); var g2 = new GlideRecord('incident'); g2.get(id);"
	           "g2.number.toString().substring(0, 3) + '|' + g2.sys_created_by + '|' +"
	           " g2.priority + '|' + g2.short_description",
	           "INC|admin|1|from a script");
	/* query with addQuery / addOrCondition / encoded query / orderBy */
	expect_str(f,
	           "var gr = new GlideRecord('incident');"
	           "var c = gr.addQuery('short_description', 'from a script');"
	           "c.addOrCondition('short_description', 'nothing');"
	           "gr.addQuery('priority', '<=', 2); gr.orderByDesc('number'); gr.query();"
	           "var n = 0; while (gr.next()) n++; n + '|' + gr.getEncodedQuery()",
	           "1|short_description=from a script^ORshort_description=nothing^priority<=2^"
	           "ORDERBYDESCnumber");
	/* update, changes, deleteRecord, getRowCount */
	expect_str(
	    f,
	    "var gr = new GlideRecord('incident');"
	    "gr.get('short_description', 'from a script');"
	    "gr.short_description = 'changed'; var ch = gr.short_description.changes();"
	    "var to = gr.short_description.changesTo('changed'); gr.update();"
	    "var g = new GlideRecord('incident'); g.addQuery('short_description', 'changed');"
	    "g.query(); var cnt = g.getRowCount(); g.next(); var ok = g.deleteRecord();"
	    "var g3 = new GlideRecord('incident'); [ch, to, cnt, ok, g3.get(g.sys_id)].join()",
	    "true,true,1,true,false");
	/* dot-walking and display values */
	struct sg_user walker;
	user_with_roles(&f->ctx, "walker", (const char *const[]){NULL}, &walker);
	expect_str(f,
	           "var u = new GlideRecord('sys_user'); u.get('user_name', 'walker');"
	           "var gr = new GlideRecord('incident'); gr.initialize(); gr.caller_id = u.sys_id;"
	           "gr.short_description = 'walk'; var id = gr.insert(); gr = new GlideRecord("
	           "'incident'); gr.get(id); gr.caller_id.user_name + '|' +"
	           " gr.caller_id.getDisplayValue() + '|' + gr.getValue('short_description') +"
	           " '|' + gr.getTableName() + '|' + gr.isValidRecord()",
	           "walker|walker|walk|incident|true");
	/* GlideAggregate */
	expect_str(f,
	           "var ga = new GlideAggregate('incident'); ga.addAggregate('COUNT');"
	           "ga.addQuery('short_description', 'walk'); ga.query(); ga.next();"
	           "String(ga.getAggregate('COUNT'))",
	           "1");
	/* a secret field never reads in clear */
	expect_str(f,
	           "var u = new GlideRecord('sys_user'); u.get('user_name', 'walker');"
	           "u.user_password = 'Secret.Pass.123'; u.update();"
	           "u = new GlideRecord('sys_user'); u.get('user_name', 'walker');"
	           "'[' + u.user_password + '][' + u.getValue('user_password') + ']'",
	           "[][null]");
	/* messages and output */
	struct sg_script_result res;
	assert_int_equal(run_as(f, NULL,
	                        "gs.addInfoMessage('hi'); gs.print('p'); gs.info('x {0}', 7)", NULL,
	                        &res),
	                 SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_OK);
	assert_int_equal(json_array_size(res.messages), 1);
	assert_int_equal(json_array_size(res.output), 2);
	assert_string_equal(json_string_value(json_array_get(res.output, 1)), "*** Script: x 7");
	sg_script_result_cleanup(&res);
}

static void test_secure(void **state)
{
	struct fixture *f = *state;
	struct sg_user u;
	user_with_roles(&f->ctx, "plain.user", (const char *const[]){NULL}, &u);
	/* A user without roles: GlideRecordSecure reads nothing of sys_user_role
	 * writes nothing; GlideRecord (the system) does. */
	struct sg_script_result res;
	const char *src =
	    "var a = new GlideRecordSecure('sys_properties'); a.query();"
	    "var b = new GlideRecord('sys_properties'); b.query();"
	    "var c = new GlideRecordSecure('incident'); c.initialize();"
	    "c.short_description = 'x';"
	    "[a.hasNext(), b.hasNext(), c.insert(), c.canCreate(), gs.hasRole('admin'),"
	    " gs.getUserName()].join()";
	assert_int_equal(run_as(f, &u, src, NULL, &res), SG_ERR_OK);
	if (res.status)
		fprintf(stderr, "%s\n", res.error);
	assert_int_equal(res.status, SG_SCRIPT_OK);
	assert_string_equal(str_of(&res), "false,true,,false,false,plain.user");
	sg_script_result_cleanup(&res);
}

static void test_dates(void **state)
{
	struct fixture *f = *state;
	/* The script's helpers are the query language's. */
	const char *names[] = {"daysAgoStart", "beginningOfThisWeek", "endOfLastMonth",
	                       "beginningOfNextQuarter"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char src[128], want[SG_DT_LEN + 1];
		snprintf(src, sizeof(src), "gs.%s(%s)", names[i], i == 0 ? "3" : "");
		int64_t t;
		const char *args[] = {"3"};
		assert_true(
		    sg_js_date_helper("UTC", sg_time_now(), names[i], args, i == 0 ? 1 : 0, &t));
		sg_time_format(t, want);
		expect_str(f, src, want);
	}
	expect_str(
	    f,
	    "var d = new GlideDateTime('2026-01-31 10:00:00'); d.addDaysUTC(1);"
	    "d.addSeconds(30); d.getValue() + '|' + d.compareTo('2026-01-01 00:00:00') + '|' +"
	    " d.getNumericValue()",
	    "2026-02-01 10:00:30|1|1769940030000");
	expect_str(f, "new GlideDuration(90061000).getDurationValue()", "1 01:01:01");
}

static void test_includes(void **state)
{
	struct fixture *f = *state;
	/* A resolver that knows one name. */
	expect_str(f,
	           "var Greeter = Class.create(); Greeter.prototype = {initialize: function (n) {"
	           " this.n = n; }, hi: function () { return 'hi ' + this.n; }};"
	           "var Loud = Class.create(); Loud.prototype = Object.extendsObject(Greeter, {"
	           " hi: function () { return Greeter.prototype.hi.call(this).toUpperCase(); }});"
	           "new Loud('bob').hi()",
	           "HI BOB");
}

static sg_err test_resolver(struct sg_ctx *ctx, const char *name, char **source)
{
	(void)ctx;
	*source = NULL;
	if (!strcmp(name, "MyUtil"))
		*source = strdup("var MyUtil = {twice: function (x) { return 2 * x; }};");
	return SG_ERR_OK;
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	sg_script_set_resolver(test_resolver);
	expect_str(f, "String(MyUtil.twice(21)) + typeof Nope", "42undefined");
	struct sg_script_result res;
	assert_int_equal(run_as(f, NULL, "Nope.x", NULL, &res), SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_RUNTIME);
	assert_non_null(strstr(res.error, "ReferenceError"));
	sg_script_result_cleanup(&res);
	sg_script_set_resolver(NULL);
}

static void test_cache(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx c;
	struct sg_auth_session s;
	assert_int_equal(sg_ctx_begin(&c, f->model, NULL), SG_ERR_OK);
	sg_auth_session_init(&s, auth, &c, NULL);
	for (int i = 0; i < 3; i++) {
		const char *src = i < 2 ? "'v1'" : "'v2'";
		struct sg_script_run r = {.source = src,
		                          .source_len = strlen(src),
		                          .cache_key = i < 2 ? "k/1" : "k/2",
		                          .as = &s};
		struct sg_script_result res;
		assert_int_equal(sg_script_run(&r, &res), SG_ERR_OK);
		assert_string_equal(str_of(&res), i < 2 ? "v1" : "v2");
		sg_script_result_cleanup(&res);
	}
	/* current / previous and the changes made on current */
	json_t *cur = json_pack("{s:s, s:s, s:s}", "sys_id", "0123456789abcdef0123456789abcdef",
	                        "short_description", "new", "priority", "1");
	json_t *prev = json_pack("{s:s, s:s}", "sys_id", "0123456789abcdef0123456789abcdef",
	                         "short_description", "old");
	const char *src = "current.short_description.changes() + '|' + previous.short_description"
	                  "+ (current.urgency = 2, current.setAbortAction(true), '')";
	struct sg_script_run r = {.source = src,
	                          .source_len = strlen(src),
	                          .as = &s,
	                          .table = "incident",
	                          .current = cur,
	                          .previous = prev};
	struct sg_script_result res;
	assert_int_equal(sg_script_run(&r, &res), SG_ERR_OK);
	assert_int_equal(res.status, SG_SCRIPT_OK);
	assert_string_equal(str_of(&res), "true|old");
	assert_string_equal(json_string_value(json_object_get(res.current, "urgency")), "2");
	assert_true(res.abort);
	sg_script_result_cleanup(&res);
	json_decref(cur);
	json_decref(prev);
	sg_auth_session_cleanup(&s);
	sg_ctx_end(&c);
	sg_script_cache_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_basics, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_limits, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_gliderecord, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_secure, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_dates, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_includes, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_resolve, auth_setup_system, auth_teardown),
	    cmocka_unit_test_setup_teardown(test_cache, auth_setup_system, auth_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
