/*
 * test_background.c - scheduled script jobs and script actions run from the
 * job queue (script/background.c): scheduling by the write rule, a run and
 * its removal, conditional; script actions by order with event and current,
 * condition_script, an error marking the event and landing in syslog.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../auth/fixture.h"
#include "core/json.h"
#include "model/jobs.h"
#include "script/background.h"
#include "script/script.h"

static int setup(void **state)
{
	if (auth_setup_system(state))
		return -1;
	struct fixture *f = *state;
	if (sg_jobs_register_builtin() || sg_script_background_install(f->model))
		return -1;
	return sg_job_ensure_repeating(&f->ctx, SG_JOB_EVENT_PROCESSOR, "Events", 1) ? -1 : 0;
}

static int teardown(void **state)
{
	sg_jobs_unregister_all();
	sg_jobs_set_event_handler(NULL, NULL);
	sg_script_cache_clear();
	return auth_teardown(state);
}

static void insert(struct fixture *f, const char *table, json_t *in, char id[SG_ID_LEN + 1])
{
	assert_non_null(in);
	assert_int_equal(sg_rec_insert(&f->ctx, table, in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

static long long count(struct fixture *f, const char *table, const char *field, const char *value)
{
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_add_eq(&q, field, value));
	struct sg_list_opts lo = {.query = &q, .limit = 100};
	json_t *rows = NULL;
	assert_int_equal(sg_rec_list(&f->ctx, table, &lo, &rows, NULL), SG_ERR_OK);
	sg_query_cleanup(&q);
	long long n = (long long)json_array_size(rows);
	json_decref(rows);
	return n;
}

static void run_all(struct fixture *f)
{
	bool ran = true;
	for (int i = 0; ran && i < 20; i++)
		assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_false(ran);
}

static void test_scheduled(void **state)
{
	struct fixture *f = *state;
	char once[SG_ID_LEN + 1], no[SG_ID_LEN + 1], per[SG_ID_LEN + 1];
	insert(f, "sysauto_script",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "Once", "run_type", "once", "run_start",
	                 "2001-01-01 00:00:00", "script",
	                 "var g = new GlideRecord('incident'); g.initialize(); "
	                 "g.short_description = 'by once'; g.insert();"),
	       once);
	insert(f, "sysauto_script",
	       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "No", "run_type", "once",
	                 "run_start", "2001-01-01 00:00:00", "conditional", "true", "condition",
	                 "1 > 2", "script",
	                 "var g = new GlideRecord('incident'); g.initialize(); "
	                 "g.short_description = 'by no'; g.insert();"),
	       no);
	insert(f, "sysauto_script",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "Hourly", "run_type", "periodically",
	                 "run_period", "1970-01-01 01:00:00", "script", "gs.info('hourly');"),
	       per);
	assert_int_equal(count(f, "sys_trigger", "document_key", once), 1);
	assert_int_equal(count(f, "sys_trigger", "document_key", per), 1);
	run_all(f);
	assert_int_equal(count(f, "incident", "short_description", "by once"), 1);
	assert_int_equal(count(f, "incident", "short_description", "by no"), 0);
	assert_int_equal(count(f, "sys_trigger", "document_key", once), 0);
	assert_int_equal(count(f, "sys_trigger", "document_key", no), 0);
	/* the hourly one waits for its time */
	assert_int_equal(count(f, "sys_trigger", "document_key", per), 1);
	/* deactivated: nothing waits; reconcile adds nothing for it */
	json_t *in = json_pack("{s:s}", "active", "false");
	assert_int_equal(sg_rec_update(&f->ctx, "sysauto_script", per, in, &WO), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(count(f, "sys_trigger", "document_key", per), 0);
	int n = -1;
	assert_int_equal(sg_script_background_reconcile(f->model, &n), SG_ERR_OK);
	assert_int_equal(n, 0);
	/* Execute Now runs it once all the same */
	char tid[SG_ID_LEN + 1];
	assert_int_equal(sg_script_execute_now(&f->ctx, once, tid), SG_ERR_OK);
	run_all(f);
	assert_int_equal(count(f, "incident", "short_description", "by once"), 2);
	assert_int_equal(sg_script_execute_now(&f->ctx, "0123456789abcdef0123456789abcdef", tid),
	                 SG_ERR_NO_RECORD);
}

static void test_script_actions(void **state)
{
	struct fixture *f = *state;
	char inc[SG_ID_LEN + 1], id[SG_ID_LEN + 1], ev[SG_ID_LEN + 1], bad[SG_ID_LEN + 1];
	insert(f, "incident", json_pack("{s:s, s:s}", "short_description", "x", "description", ""),
	       inc);
	const char *append = "current.description = current.description + event.parm1 + '%s'; "
	                     "current.update();";
	char a[200], b[200];
	snprintf(a, sizeof(a), append, "A");
	snprintf(b, sizeof(b), append, "B");
	insert(f, "sysevent_script_action",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "B", "event_name", "x.ev", "order", "200",
	                 "script", b),
	       id);
	insert(f, "sysevent_script_action",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "A", "event_name", "x.ev", "order", "100",
	                 "script", a),
	       id);
	insert(f, "sysevent_script_action",
	       json_pack("{s:s, s:s, s:s, s:s}", "name", "Skipped", "event_name", "x.ev",
	                 "condition_script", "event.parm2 == 'yes'", "script",
	                 "current.short_description = 'skipped ran'; current.update();"),
	       id);
	insert(f, "sysevent",
	       json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "x.ev", "table", "incident",
	                 "instance", inc, "parm1", "-", "parm2", "no"),
	       ev);
	insert(f, "sysevent_script_action",
	       json_pack("{s:s, s:s, s:s}", "name", "Thrower", "event_name", "x.bad", "script",
	                 "throw new Error('bad action');"),
	       id);
	insert(f, "sysevent", json_pack("{s:s}", "name", "x.bad"), bad);
	run_all(f);
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "incident", inc, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "description"), "-A-B");
	assert_string_equal(sg_json_str(rec, "short_description"), "x");
	json_decref(rec);
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", ev, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "processed");
	json_decref(rec);
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", bad, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "error");
	json_decref(rec);
	assert_int_equal(count(f, "syslog", "source", "Thrower"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_scheduled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_script_actions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
