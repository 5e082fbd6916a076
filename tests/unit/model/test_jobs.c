/*
 * Unit tests for the job queue (model/jobs.c): enqueue, the atomic claim
 * and its lease, completion (one-off, repeating, failures with backoff and
 * the Error state), the event processor, and the schedule arithmetic of
 * scheduled jobs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "core/json.h"
#include "fixture.h"
#include "model/jobs.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static int64_t at(const char *s)
{
	int64_t t = 0;
	assert_true(sg_time_parse(s, &t));
	return t;
}

static int setup(void **state)
{
	sg_time_set_clock(NULL);
	if (fixture_setup(state))
		return -1;
	fake_now = at("2026-03-10 12:00:00");
	sg_time_set_clock(fake_clock);
	return 0;
}

static int teardown(void **state)
{
	sg_time_set_clock(NULL);
	sg_jobs_unregister_all();
	sg_jobs_set_event_handler(NULL, NULL);
	return fixture_teardown(state);
}

static int calls;
static sg_err ok_job(struct sg_ctx *ctx, const struct sg_job *job, void *ud, char *msg, size_t n)
{
	(void)ctx, (void)job, (void)ud, (void)msg, (void)n;
	calls++;
	return SG_ERR_OK;
}

static sg_err failing_job(struct sg_ctx *ctx, const struct sg_job *job, void *ud, char *msg,
                          size_t n)
{
	(void)ctx, (void)job, (void)ud;
	calls++;
	snprintf(msg, n, "remote said no");
	return SG_ERR_INTERNAL;
}

static json_t *trigger(struct sg_ctx *ctx, const char *id)
{
	json_t *rec = NULL;
	sg_err err = sg_rec_get(ctx, "sys_trigger", id, &rec);
	return err ? NULL : rec;
}

static void test_claim_is_exclusive_and_lease_reclaims(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_jobs_register("t_ok", ok_job, NULL), SG_ERR_OK);
	char id[SG_ID_LEN + 1];
	struct sg_job_spec spec = {
	    .type = "t_ok", .document = "incident", .document_key = "abc", .context = "{\"x\":1}"};
	assert_int_equal(sg_job_enqueue(&f->ctx, &spec, id), SG_ERR_OK);
	/* an unregistered type is never claimed */
	struct sg_job_spec other = {.type = "t_unknown"};
	assert_int_equal(sg_job_enqueue(&f->ctx, &other, NULL), SG_ERR_OK);

	struct sg_job a, b;
	bool got;
	assert_int_equal(sg_job_claim(&f->ctx, "w1", 60, &a, &got), SG_ERR_OK);
	assert_true(got);
	assert_string_equal(a.sys_id, id);
	assert_string_equal(a.context, "{\"x\":1}");
	assert_string_equal(a.document, "incident");
	assert_int_equal(a.max_attempts, 5);
	json_t *rec = trigger(&f->ctx, id);
	assert_string_equal(sg_json_str(rec, "state"), "1");
	assert_string_equal(sg_json_str(rec, "claimed_by"), "w1");
	assert_string_equal(sg_json_str(rec, "next_action"), "2026-03-10 12:01:00");
	json_decref(rec);

	/* held: nobody else gets it */
	assert_int_equal(sg_job_claim(&f->ctx, "w2", 60, &b, &got), SG_ERR_OK);
	assert_false(got);
	/* the lease passes (w1 died): w2 takes it, w1's completion changes nothing */
	fake_now += 61;
	assert_int_equal(sg_job_claim(&f->ctx, "w2", 60, &b, &got), SG_ERR_OK);
	assert_true(got);
	assert_string_equal(b.sys_id, id);
	assert_int_equal(sg_job_complete(&f->ctx, &a, SG_ERR_INTERNAL, "late"), SG_ERR_OK);
	rec = trigger(&f->ctx, id);
	assert_string_equal(sg_json_str(rec, "claimed_by"), "w2");
	assert_string_equal(sg_json_str(rec, "error_count"), "0");
	json_decref(rec);
	/* w2 finishes: a one-off job is gone */
	assert_int_equal(sg_job_complete(&f->ctx, &b, SG_ERR_OK, NULL), SG_ERR_OK);
	assert_null(trigger(&f->ctx, id));
	sg_job_cleanup(&a);
	sg_job_cleanup(&b);
}

static void test_run_at_and_repeat(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_jobs_register("t_ok", ok_job, NULL), SG_ERR_OK);
	char id[SG_ID_LEN + 1];
	struct sg_job_spec spec = {.type = "t_ok", .run_at = fake_now + 30, .repeat = 600};
	assert_int_equal(sg_job_enqueue(&f->ctx, &spec, id), SG_ERR_OK);
	bool ran;
	calls = 0;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_false(ran); /* not yet due */
	fake_now += 30;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	assert_int_equal(calls, 1);
	json_t *rec = trigger(&f->ctx, id);
	assert_non_null(rec);
	assert_string_equal(sg_json_str(rec, "state"), "0");
	assert_string_equal(sg_json_str(rec, "run_count"), "1");
	assert_string_equal(sg_json_str(rec, "repeat"), "1970-01-01 00:10:00");
	assert_string_equal(sg_json_str(rec, "next_action"), "2026-03-10 12:10:30");
	json_decref(rec);
	/* ensure_repeating finds it and adds no second one */
	assert_int_equal(sg_job_ensure_repeating(&f->ctx, "t_ok", "again", 5), SG_ERR_OK);
	json_t *rows = NULL;
	struct sg_list_opts lo = {.limit = 100};
	assert_int_equal(sg_rec_list(&f->ctx, "sys_trigger", &lo, &rows, NULL), SG_ERR_OK);
	size_t n = 0, i;
	json_t *r;
	json_array_foreach(rows, i, r) n += !strcmp(sg_json_str(r, "job_id"), "t_ok");
	assert_int_equal(n, 1);
	json_decref(rows);
}

static void test_failures_back_off_then_error(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_jobs_register("t_fail", failing_job, NULL), SG_ERR_OK);
	char id[SG_ID_LEN + 1];
	struct sg_job_spec spec = {.type = "t_fail", .max_attempts = 3};
	assert_int_equal(sg_job_enqueue(&f->ctx, &spec, id), SG_ERR_OK);
	calls = 0;
	bool ran;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	json_t *rec = trigger(&f->ctx, id);
	assert_string_equal(sg_json_str(rec, "state"), "0");
	assert_string_equal(sg_json_str(rec, "error_count"), "1");
	assert_string_equal(sg_json_str(rec, "last_error"), "remote said no");
	assert_string_equal(sg_json_str(rec, "next_action"), "2026-03-10 12:00:10");
	json_decref(rec);
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_false(ran); /* backing off */
	fake_now += 10;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	fake_now += 20;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	assert_int_equal(calls, 3);
	rec = trigger(&f->ctx, id);
	assert_string_equal(sg_json_str(rec, "state"), "3");
	assert_string_equal(sg_json_str(rec, "error_count"), "3");
	json_decref(rec);
	fake_now += 100000;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_false(ran); /* an errored job stays */
	assert_int_equal(sg_job_backoff(1), 10);
	assert_int_equal(sg_job_backoff(3), 40);
	assert_int_equal(sg_job_backoff(50), 3600);
}

static void test_event_processor(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_jobs_register_builtin(), SG_ERR_OK);
	struct sg_write_opts wo = {0};
	char e1[SG_ID_LEN + 1], e2[SG_ID_LEN + 1], e3[SG_ID_LEN + 1], a[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s}", "name", "x.nobody.listens");
	assert_int_equal(sg_rec_insert(&f->ctx, "sysevent", in, &wo, e1), SG_ERR_OK);
	json_decref(in);
	in = json_pack("{s:s}", "name", "x.scripted");
	assert_int_equal(sg_rec_insert(&f->ctx, "sysevent", in, &wo, e2), SG_ERR_OK);
	json_decref(in);
	in = json_pack("{s:s, s:s}", "name", "x.later", "process_on", "2026-03-10 13:00:00");
	assert_int_equal(sg_rec_insert(&f->ctx, "sysevent", in, &wo, e3), SG_ERR_OK);
	json_decref(in);
	in = json_pack("{s:s, s:s, s:s}", "name", "On scripted", "event_name", "x.scripted",
	               "script", "gs.info('x')");
	assert_int_equal(sg_rec_insert(&f->ctx, "sysevent_script_action", in, &wo, a), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(sg_job_ensure_repeating(&f->ctx, SG_JOB_EVENT_PROCESSOR, "Events", 5),
	                 SG_ERR_OK);
	bool ran;
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", e1, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "processed");
	assert_string_equal(sg_json_str(rec, "processed"), "2026-03-10 12:00:00");
	json_decref(rec);
	/* a script action listens and no engine runs it: left ready */
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", e2, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "ready");
	json_decref(rec);
	/* not due yet */
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", e3, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "ready");
	json_decref(rec);
	fake_now = at("2026-03-10 13:00:00");
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", e3, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "processed");
	json_decref(rec);
	/* Idle: nothing due (the one event left waits for a handler), so the
	 * processor is not claimed and its row not written. */
	json_t *rows = NULL;
	struct sg_list_opts lo = {.limit = 10};
	assert_int_equal(sg_rec_list(&f->ctx, "sys_trigger", &lo, &rows, NULL), SG_ERR_OK);
	assert_int_equal(json_array_size(rows), 1);
	char mods[32];
	snprintf(mods, sizeof(mods), "%s", sg_json_str(json_array_get(rows, 0), "sys_mod_count"));
	json_decref(rows);
	for (int i = 0; i < 3; i++) {
		fake_now += 60;
		assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
		assert_false(ran);
	}
	assert_int_equal(sg_rec_list(&f->ctx, "sys_trigger", &lo, &rows, NULL), SG_ERR_OK);
	assert_string_equal(sg_json_str(json_array_get(rows, 0), "sys_mod_count"), mods);
	json_decref(rows);
	/* a new event makes it due again */
	in = json_pack("{s:s}", "name", "x.another");
	assert_int_equal(sg_rec_insert(&f->ctx, "sysevent", in, &wo, e1), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(sg_jobs_run_one(f->model, "w", &ran), SG_ERR_OK);
	assert_true(ran);
	assert_int_equal(sg_rec_get(&f->ctx, "sysevent", e1, &rec), SG_ERR_OK);
	assert_string_equal(sg_json_str(rec, "state"), "processed");
	json_decref(rec);
}

/* ---- schedules ----------------------------------------------------------- */

static void next_is(json_t *rec, const char *after, const char *want)
{
	struct sg_schedule s;
	assert_true(sg_schedule_from_record(rec, &s));
	int64_t n = 0;
	bool has = sg_schedule_next(&s, at(after), &n);
	if (!want) {
		assert_false(has);
	} else {
		assert_true(has);
		char out[SG_DT_LEN + 1];
		sg_time_format(n, out);
		assert_string_equal(out, want);
	}
	json_decref(rec);
}

static void test_schedule_next(void **state)
{
	(void)state;
	/* daily at 02:30: later today, else tomorrow */
	next_is(json_pack("{s:s,s:s}", "run_type", "daily", "run_time", "1970-01-01 02:30:00"),
	        "2026-03-10 01:00:00", "2026-03-10 02:30:00");
	next_is(json_pack("{s:s,s:s}", "run_type", "daily", "run_time", "1970-01-01 02:30:00"),
	        "2026-03-10 02:30:00", "2026-03-11 02:30:00");
	next_is(json_pack("{s:s,s:s}", "run_type", "daily", "run_time", "23:59:59"),
	        "2026-12-31 23:59:59", "2027-01-01 23:59:59");
	/* weekly: 2026-03-10 is a Tuesday */
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "weekly", "run_dayofweek", "2", "run_time",
	                  "1970-01-01 09:00:00"),
	        "2026-03-10 08:00:00", "2026-03-10 09:00:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "weekly", "run_dayofweek", "2", "run_time",
	                  "1970-01-01 09:00:00"),
	        "2026-03-10 09:00:00", "2026-03-17 09:00:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "weekly", "run_dayofweek", "7", "run_time",
	                  "1970-01-01 00:00:00"),
	        "2026-03-10 09:00:00", "2026-03-15 00:00:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "weekly", "run_dayofweek", "1", "run_time",
	                  "1970-01-01 00:00:00"),
	        "2026-03-15 12:00:00", "2026-03-16 00:00:00");
	/* monthly: the 31st is the month's last day when it is shorter */
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "monthly", "run_dayofmonth", "31",
	                  "run_time", "1970-01-01 06:00:00"),
	        "2026-02-01 00:00:00", "2026-02-28 06:00:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "monthly", "run_dayofmonth", "31",
	                  "run_time", "1970-01-01 06:00:00"),
	        "2028-02-29 06:00:00", "2028-03-31 06:00:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "monthly", "run_dayofmonth", "15",
	                  "run_time", "1970-01-01 06:00:00"),
	        "2026-12-20 00:00:00", "2027-01-15 06:00:00");
	/* periodically: every 15 minutes from run_start */
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "periodically", "run_period",
	                  "1970-01-01 00:15:00", "run_start", "2026-03-10 10:05:00"),
	        "2026-03-10 12:00:00", "2026-03-10 12:05:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "periodically", "run_period",
	                  "1970-01-01 00:15:00", "run_start", "2026-03-10 10:05:00"),
	        "2026-03-10 12:05:00", "2026-03-10 12:20:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "periodically", "run_period",
	                  "1970-01-03 00:00:00", "run_start", "2026-04-01 00:00:00"),
	        "2026-03-10 12:05:00", "2026-04-01 00:00:00");
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "periodically", "run_period",
	                  "1970-01-03 00:00:00", "run_start", "2026-04-01 00:00:00"),
	        "2026-04-01 00:00:00", "2026-04-03 00:00:00");
	/* daily with a start in the future waits for it */
	next_is(json_pack("{s:s,s:s,s:s}", "run_type", "daily", "run_time", "1970-01-01 02:00:00",
	                  "run_start", "2026-05-01 00:00:00"),
	        "2026-03-10 12:00:00", "2026-05-01 02:00:00");
	/* once: its start, if still ahead */
	next_is(json_pack("{s:s,s:s}", "run_type", "once", "run_start", "2026-03-11 00:00:00"),
	        "2026-03-10 12:00:00", "2026-03-11 00:00:00");
	next_is(json_pack("{s:s,s:s}", "run_type", "once", "run_start", "2026-03-11 00:00:00"),
	        "2026-03-11 00:00:00", NULL);
	next_is(json_pack("{s:s}", "run_type", "on_demand"), "2026-03-11 00:00:00", NULL);

	/* malformed schedules are refused */
	struct sg_schedule s;
	static const char *bad[][4] = {
	    {"run_type", "hourly", "run_time", "02:00:00"},
	    {"run_type", "weekly", "run_dayofweek", "8"},
	    {"run_type", "monthly", "run_dayofmonth", "0"},
	    {"run_type", "periodically", "run_period", "0"},
	    {"run_type", "periodically", "run_period", "soon"},
	    {"run_type", "once", "run_start", ""},
	    {"run_type", "daily", "run_time", "25:00:00"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *r = json_pack("{s:s,s:s}", bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
		assert_false(sg_schedule_from_record(r, &s));
		json_decref(r);
	}
	assert_int_equal(sg_duration_seconds("1970-01-02 01:00:01"), 90001);
	assert_int_equal(sg_duration_seconds("00:00:05"), 5);
	assert_int_equal(sg_duration_seconds("42"), 42);
	assert_int_equal(sg_duration_seconds(""), -1);
}

static size_t triggers_for(struct sg_ctx *ctx, const char *id, char *next_action)
{
	json_t *rows = NULL;
	struct sg_list_opts lo = {.limit = 100};
	assert_int_equal(sg_rec_list(ctx, "sys_trigger", &lo, &rows, NULL), SG_ERR_OK);
	size_t n = 0, i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		if (strcmp(sg_json_str(r, "document_key"), id))
			continue;
		assert_string_equal(sg_json_str(r, "document"), "sysauto_script");
		assert_string_equal(sg_json_str(r, "job_id"), "t_sched");
		strcpy(next_action, sg_json_str(r, "next_action"));
		n++;
	}
	json_decref(rows);
	return n;
}

static void test_schedule_record(void **state)
{
	struct fixture *f = *state;
	struct sg_write_opts wo = {0};
	char id[SG_ID_LEN + 1], next[SG_DT_LEN + 1] = "";
	json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "name", "Nightly", "run_type", "daily",
	                       "run_time", "1970-01-01 02:30:00", "script", "gs.info('x');");
	assert_int_equal(sg_rec_insert(&f->ctx, "sysauto_script", in, &wo, id), SG_ERR_OK);
	json_decref(in);
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "sysauto_script", id, &rec), SG_ERR_OK);
	int64_t when = 0;
	assert_int_equal(sg_job_schedule_record(&f->ctx, "t_sched", "sysauto_script", rec, &when),
	                 SG_ERR_OK);
	assert_int_equal(when, at("2026-03-11 02:30:00"));
	assert_int_equal(triggers_for(&f->ctx, id, next), 1);
	assert_string_equal(next, "2026-03-11 02:30:00");
	/* changed to weekly on Friday: still one waiting job, at the new time */
	json_object_set_new(rec, "run_type", json_string("weekly"));
	json_object_set_new(rec, "run_dayofweek", json_string("5"));
	assert_int_equal(sg_job_schedule_record(&f->ctx, "t_sched", "sysauto_script", rec, &when),
	                 SG_ERR_OK);
	assert_int_equal(triggers_for(&f->ctx, id, next), 1);
	assert_string_equal(next, "2026-03-13 02:30:00");
	/* malformed: refused, the waiting job left as it was */
	json_object_set_new(rec, "run_dayofweek", json_string("9"));
	assert_int_equal(sg_job_schedule_record(&f->ctx, "t_sched", "sysauto_script", rec, &when),
	                 SG_ERR_BAD_PARAM);
	assert_int_equal(triggers_for(&f->ctx, id, next), 1);
	/* inactive: nothing waits */
	json_object_set_new(rec, "active", json_string("false"));
	assert_int_equal(sg_job_schedule_record(&f->ctx, "t_sched", "sysauto_script", rec, &when),
	                 SG_ERR_OK);
	assert_int_equal(when, 0);
	assert_int_equal(triggers_for(&f->ctx, id, next), 0);
	json_decref(rec);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_claim_is_exclusive_and_lease_reclaims, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_run_at_and_repeat, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failures_back_off_then_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_processor, setup, teardown),
	    cmocka_unit_test(test_schedule_next),
	    cmocka_unit_test_setup_teardown(test_schedule_record, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
