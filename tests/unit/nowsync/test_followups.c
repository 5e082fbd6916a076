/*
 * Unit tests for what scenario 2 (incident response) added to nowsync: the
 * keyset page paths of `nowsync read`, the profile's "parent" member (a
 * follow-up's parent incident), delivery.validate, {{fields.x}} on the
 * event's fields member, and the grants a refused write is named with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "nowsync/delivery.h"
#include "nowsync/nowsync.h"
#include "nowsync/reads.h"

static void test_read_paths(void **st)
{
	(void)st;
	char out[4096], msg[256];
	assert_true(
	    ns_read_page_path("cmdb_ci", "", "", "", 100, out, sizeof(out), msg, sizeof(msg)));
	assert_string_equal(out, "/api/now/table/cmdb_ci?sysparm_query=%5EORDERBYsys_id"
	                         "&sysparm_limit=100&sysparm_exclude_reference_link=true");
	assert_true(ns_read_page_path("sys_user", "active=true", "0123abcd", "user_name,name", 5,
	                              out, sizeof(out), msg, sizeof(msg)));
	assert_string_equal(out, "/api/now/table/sys_user?sysparm_query=active%3Dtrue%5Esys_id%3E"
	                         "0123abcd%5EORDERBYsys_id&sysparm_limit=5"
	                         "&sysparm_exclude_reference_link=true"
	                         "&sysparm_fields=sys_id,user_name,name");
	/* a query with its own order or a second query cannot be keyset-paged */
	assert_false(ns_read_page_path("sys_user", "ORDERBYname", "", "", 5, out, sizeof(out), msg,
	                               sizeof(msg)));
	assert_non_null(strstr(msg, "ORDERBY"));
	assert_false(ns_read_page_path("sys_user", "a=1^NQb=2", "", "", 5, out, sizeof(out), msg,
	                               sizeof(msg)));
	/* nothing can be smuggled into the path */
	assert_false(
	    ns_read_page_path("sys_user&x=1", "", "", "", 5, out, sizeof(out), msg, sizeof(msg)));
	assert_false(ns_read_page_path("sys_user", "", "x&sysparm_limit=1", "", 5, out, sizeof(out),
	                               msg, sizeof(msg)));
	assert_false(
	    ns_read_page_path("sys_user", "", "", "name&x", 5, out, sizeof(out), msg, sizeof(msg)));
	assert_false(
	    ns_read_page_path("sys_user", "", "", "", 0, out, sizeof(out), msg, sizeof(msg)));
	assert_false(
	    ns_read_page_path("sys_user", "", "", "", 1001, out, sizeof(out), msg, sizeof(msg)));
	assert_false(ns_read_page_path("sys_user", "", "", "", 5, out, 20, msg, sizeof(msg)));
	assert_true(ns_read_table_ok("cmdb_ci_server") && ns_read_table_ok("task") &&
	            ns_read_table_ok("sys_user_group"));
	assert_false(ns_read_table_ok("sys_properties") || ns_read_table_ok("cmdb") ||
	             ns_read_table_ok("sys_user_has_role"));
}

static void test_parent_member(void **st)
{
	(void)st;
	struct ns_profile p;
	char msg[256] = "";
	const char *ok = "{\"table\": \"task\", \"parent\": {\"profile\": \"incidents\", \"key\": "
	                 "\"{{fields.incident}}\"}, \"lifecycle\": {\"close_code\": \"\"},"
	                 " \"delivery\": {\"validate\": false}}";
	assert_int_equal(ns_profile_parse("f", ok, strlen(ok), &p, msg, sizeof(msg)), SG_ERR_OK);
	assert_string_equal(p.parent_profile, "incidents");
	assert_string_equal(p.parent_key, "{{fields.incident}}");
	assert_string_equal(p.parent_field, "parent"); /* the default */
	assert_false(p.validate);
	assert_string_equal(p.close_code, "");
	ns_profile_clear(&p);
	const char *plain = "{\"table\": \"incident\"}";
	assert_int_equal(ns_profile_parse("i", plain, strlen(plain), &p, msg, sizeof(msg)),
	                 SG_ERR_OK);
	assert_null(p.parent_profile);
	assert_true(p.validate);
	ns_profile_clear(&p);
	static const char *const bad[] = {
	    "{\"parent\": \"incidents\"}",
	    "{\"parent\": {\"key\": \"{{key}}\"}}",
	    "{\"parent\": {\"profile\": \"incidents\"}}",
	    "{\"parent\": {\"profile\": \"../x\", \"key\": \"k\"}}",
	    "{\"parent\": {\"profile\": \"i\", \"key\": \"k\", \"field\": \"a b\"}}",
	    "{\"parent\": {\"profile\": \"i\", \"key\": \"k\", \"fieldz\": \"parent\"}}",
	    "{\"delivery\": {\"validate\": \"no\"}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		assert_int_equal(
		    ns_profile_parse("b", bad[i], strlen(bad[i]), &p, msg, sizeof(msg)),
		    SG_ERR_BAD_PARAM);
		assert_true(msg[0] != '\0');
	}
}

static void test_fields_member(void **st)
{
	(void)st;
	json_t *ev = json_pack("{s:s, s:{s:s, s:i}, s:{s:s}}", "key", "FU-1", "fields", "incident",
	                       "INC-7", "n", 3, "labels", "instance", "web1");
	struct ns_tvars v = {.key = "FU-1", .status = "firing", .fields = ev};
	char *s = ns_template_render(
	    "{{fields.incident}} {{fields.n}} {{labels.instance}} {{fields.labels.instance}} "
	    "{{fields.none}}.",
	    &v);
	assert_string_equal(s, "INC-7 3 web1 web1 .");
	free(s);
	json_decref(ev);
}

static void test_grants(void **st)
{
	(void)st;
	assert_string_equal(ns_diag_grant("task", "create"),
	                    "role itil, or a create ACL on task for one of the account's roles "
	                    "(incident.io: x_incident_io.api_user)");
	assert_non_null(strstr(ns_diag_grant("incident", "write"), "itil"));
	assert_null(ns_diag_grant("cmdb_ci", "create")); /* not needed: no grant named */
	assert_null(ns_diag_grant("no_such_table", "read"));
}

int main(void)
{
	sg_log_set_level(SG_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_paths),
	    cmocka_unit_test(test_parent_member),
	    cmocka_unit_test(test_fields_member),
	    cmocka_unit_test(test_grants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
