/*
 * Unit tests for the RMM connector's pure parts (rmm.h): the CI mapping's
 * parsing and the sync status an organization gets from what the product
 * lists; and its tables created on open, twice (idempotent).
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
#include "core/log.h"
#include "nowsync/rmm.h"

static void test_ci_mapping(void **st)
{
	(void)st;
	char msg[300];
	json_t *m = ns_rmm_parse_ci_mapping(
	    "WINDOWS_SERVER=cmdb_ci_win_server,MAC=cmdb_ci_computer", msg, sizeof(msg));
	assert_non_null(m);
	assert_int_equal(json_object_size(m), 2);
	assert_string_equal(json_string_value(json_object_get(m, "MAC")), "cmdb_ci_computer");
	json_decref(m);
	m = ns_rmm_parse_ci_mapping("", msg, sizeof(msg)); /* no roles: every device the default */
	assert_non_null(m);
	assert_int_equal(json_object_size(m), 0);
	json_decref(m);
	static const char *const bad[] = {"A",        "A=incident",  "A=cmdb_ci x",
	                                  "=cmdb_ci", "A;B=cmdb_ci", "A=cmdb_ci_computer,B"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		assert_null(ns_rmm_parse_ci_mapping(bad[i], msg, sizeof(msg)));
		assert_true(strstr(msg, "ROLE=CLASS") != NULL);
	}
	struct {
		char s[4000];
	} many = {{0}};
	for (int i = 0; i < 65; i++)
		snprintf(many.s + strlen(many.s), sizeof(many.s) - strlen(many.s), "%sR%d=cmdb_ci",
		         i ? "," : "", i);
	assert_null(ns_rmm_parse_ci_mapping(many.s, msg, sizeof(msg)));
	assert_string_equal(msg, "a CI mapping has at most 64 roles");
}

static void test_status(void **st)
{
	(void)st;
	/* new organizations: in queue when active, inactive otherwise */
	assert_string_equal(ns_rmm_next_status("active", NULL, false, false), NS_RMM_IN_QUEUE);
	assert_string_equal(ns_rmm_next_status("inactive", NULL, false, false), NS_RMM_INACTIVE);
	assert_string_equal(ns_rmm_next_status("disabled", NULL, false, false), NS_RMM_INACTIVE);
	/* deleted in the product: deleted, whatever it was */
	assert_string_equal(ns_rmm_next_status("active", NS_RMM_ACTIVE, true, false),
	                    NS_RMM_DELETED);
	/* synced and unchanged stays active; changed waits for the next sync */
	assert_string_equal(ns_rmm_next_status("active", NS_RMM_ACTIVE, false, false),
	                    NS_RMM_ACTIVE);
	assert_string_equal(ns_rmm_next_status("active", NS_RMM_ACTIVE, false, true),
	                    NS_RMM_IN_QUEUE);
	assert_string_equal(ns_rmm_next_status("inactive", NS_RMM_ACTIVE, false, true),
	                    NS_RMM_PENDING);
	/* waiting stays waiting; a deleted one listed again starts over */
	assert_string_equal(ns_rmm_next_status("inactive", NS_RMM_PENDING, false, true),
	                    NS_RMM_PENDING);
	assert_string_equal(ns_rmm_next_status("active", NS_RMM_DELETED, false, false),
	                    NS_RMM_IN_QUEUE);
}

static void test_tables_twice(void **st)
{
	(void)st;
	char dir[] = "/tmp/ns-rmm-XXXXXX", msg[512];
	assert_non_null(mkdtemp(dir));
	for (int i = 0; i < 2; i++) {
		struct ns_state *s = NULL;
		assert_int_equal(ns_state_open(dir, &s, msg, sizeof(msg)), SG_ERR_OK);
		assert_int_equal(ns_state_migrate_rmm(sg_store_conn(s->store)), SG_ERR_OK);
		ns_state_close(s);
	}
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	sg_log_set_level(SG_LOG_ERROR);
	sg_json_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ci_mapping),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_tables_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
