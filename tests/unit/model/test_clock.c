/*
 * Unit tests for the instance's clock (model/clock.c, core/util.c): the
 * durations nowctl accepts, each change against a fake base clock, the
 * setting kept in the store and read back by another open of the instance
 * (as nowd and nowctl share it), and refusals that change nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "model/clock.h"

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
	sg_time_set_instance(false, 0);
	if (fixture_setup(state))
		return -1;
	fake_now = at("2026-03-10 12:00:00");
	sg_time_set_clock(fake_clock);
	return 0;
}

static int teardown(void **state)
{
	sg_time_set_clock(NULL);
	sg_time_set_instance(false, 0);
	return fixture_teardown(state);
}

static void test_durations(void **state)
{
	(void)state;
	int64_t d = 0;
	assert_true(sg_clock_parse_duration("90", &d) && d == 90);
	assert_true(sg_clock_parse_duration("90s", &d) && d == 90);
	assert_true(sg_clock_parse_duration("15m", &d) && d == 900);
	assert_true(sg_clock_parse_duration("1d12h", &d) && d == 129600);
	assert_true(sg_clock_parse_duration("-2h", &d) && d == -7200);
	assert_true(sg_clock_parse_duration("1w", &d) && d == 604800);
	static const char *bad[] = {
	    "", "-", "h", "2x", "2 h", "1.5h", "99999999999999999999", "99999999d", "3d-1h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(sg_clock_parse_duration(bad[i], &d));
}

static void test_changes_and_the_store(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_time_now(), fake_now);
	assert_int_equal(sg_clock_change(&f->ctx, "set", "2030-01-01 00:00:00"), SG_ERR_OK);
	assert_int_equal(sg_time_now(), at("2030-01-01 00:00:00"));
	fake_now += 10; /* a running clock runs */
	assert_int_equal(sg_time_now(), at("2030-01-01 00:00:10"));
	assert_int_equal(sg_time_real(), fake_now);
	assert_int_equal(sg_clock_change(&f->ctx, "advance", "1h"), SG_ERR_OK);
	assert_int_equal(sg_time_now(), at("2030-01-01 01:00:10"));
	assert_int_equal(sg_clock_change(&f->ctx, "freeze", NULL), SG_ERR_OK);
	fake_now += 100; /* a frozen one does not */
	assert_int_equal(sg_time_now(), at("2030-01-01 01:00:10"));
	assert_int_equal(sg_clock_change(&f->ctx, "advance", "-10s"), SG_ERR_OK);
	assert_int_equal(sg_time_now(), at("2030-01-01 01:00:00"));
	assert_int_equal(sg_clock_change(&f->ctx, "set", "2031-02-03 04:05:06"), SG_ERR_OK);
	assert_int_equal(sg_time_now(), at("2031-02-03 04:05:06"));

	/* another process opens the instance: it reads the same setting */
	sg_time_set_instance(false, 0);
	assert_int_equal(sg_time_now(), fake_now);
	sg_model_sync(f->model);
	assert_int_equal(sg_time_now(), at("2031-02-03 04:05:06"));
	json_t *d = sg_clock_describe();
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "mode")), "frozen");
	assert_string_equal(json_string_value(json_object_get(d, "now")), "2031-02-03 04:05:06");
	json_decref(d);

	/* a reader that read before a newer setting came in does not apply its own */
	unsigned long seq = sg_time_instance_seq();
	sg_time_set_instance(true, 7);
	assert_false(sg_time_set_instance_if(false, 0, seq));
	assert_int_equal(sg_time_now(), 7);
	assert_true(sg_time_set_instance_if(true, 8, sg_time_instance_seq()));
	assert_int_equal(sg_time_now(), 8);

	assert_int_equal(sg_clock_change(&f->ctx, "real", NULL), SG_ERR_OK);
	assert_int_equal(sg_time_now(), fake_now);
	sg_time_set_instance(true, 5);
	sg_model_sync(f->model);
	assert_int_equal(sg_time_now(), fake_now);
}

static void test_refusals_change_nothing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_clock_change(&f->ctx, "set", "2030-01-01 00:00:00"), SG_ERR_OK);
	int64_t before = sg_time_now();
	static const char *const bad[][2] = {{"warp", "1h"},
	                                     {"set", NULL},
	                                     {"set", "soon"},
	                                     {"advance", "1y"},
	                                     {"advance", NULL},
	                                     {"real", "1h"},
	                                     {"advance", "-99999d"},
	                                     {"set", "10000-01-01 00:00:00"},
	                                     {NULL, NULL}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sg_clock_change(&f->ctx, bad[i][0], bad[i][1]), SG_ERR_BAD_PARAM);
		assert_true(f->ctx.err_arg[0] != '\0');
	}
	assert_int_equal(sg_time_now(), before);
	sg_time_set_instance(false, 0);
	sg_model_sync(f->model);
	assert_int_equal(sg_time_now(), before);
	/* the store is still writable after each refusal (no transaction left open) */
	assert_int_equal(sg_clock_change(&f->ctx, "real", NULL), SG_ERR_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test_setup_teardown(test_changes_and_the_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
