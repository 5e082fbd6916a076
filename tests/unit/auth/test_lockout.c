/*
 * Unit tests for the lock-out of Basic authentication (basic.c; issue 12,
 * defect 5): failures are counted atomically, the lock holds for every
 * later attempt (the right password and a cached credential included)
 * until glide.user.unlock_timeout_in_mins has passed, and a count that
 * cannot be written never lets an attempt through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>

#include "fixture.h"
#include "auth/basic.h"
#include "core/json.h"
#include "core/util.h"

#define GOOD "Pass-word-1"

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static int teardown(void **state)
{
	sg_time_set_clock(NULL);
	return auth_teardown(state);
}

/* A user named name with password GOOD (or none); its sys_id in id. */
static void add_user(struct fixture *f, const char *name, bool password, char id[SG_ID_LEN + 1])
{
	json_t *in = password ? json_pack("{s:s, s:s, s:s}", "user_name", name, "last_name", name,
	                                  "user_password", GOOD)
	                      : json_pack("{s:s, s:s}", "user_name", name, "last_name", name);
	assert_non_null(in);
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_user", in, &WO, id), SG_ERR_OK);
	json_decref(in);
}

static void set_user(struct fixture *f, const char *id, json_t *in)
{
	assert_non_null(in);
	assert_int_equal(sg_rec_update(&f->ctx, "sys_user", id, in, &WO), SG_ERR_OK);
	json_decref(in);
}

/* The user's lock-out fields as stored. */
struct state {
	long long failed;
	bool locked;
	char on[32];
};

static struct state stored(struct fixture *f, const char *id)
{
	json_t *rec = NULL;
	assert_int_equal(sg_rec_get(&f->ctx, "sys_user", id, &rec), SG_ERR_OK);
	struct state s = {0};
	long long n = -1;
	assert_true(sg_str_number(sg_json_str(rec, "failed_attempts"), 0, INT32_MAX, &n));
	s.failed = n;
	s.locked = sg_str_bool(sg_json_str(rec, "locked_out"), false);
	const char *on = sg_json_str(rec, "locked_out_on");
	snprintf(s.on, sizeof(s.on), "%s", on ? on : "");
	json_decref(rec);
	return s;
}

static sg_err login(const char *name, const char *password)
{
	struct sg_user u;
	return sg_auth_password(auth, name, password, &u);
}

static void counts_locks_and_holds(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1], at[SG_DT_LEN + 1];
	add_user(f, "alice", true, id);
	fake_now = sg_time_now();
	sg_time_set_clock(fake_clock);
	for (int i = 0; i < 4; i++)
		assert_int_equal(login("alice", "wrong"), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(stored(f, id).failed, 4);
	/* A success clears the count. */
	assert_int_equal(login("alice", GOOD), SG_ERR_OK);
	assert_int_equal(stored(f, id).failed, 0);
	/* Once accepted, the credential is cached. */
	assert_int_equal(login("alice", GOOD), SG_ERR_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(login("alice", "wrong"), SG_ERR_UNAUTHENTICATED);
	struct state s = stored(f, id);
	sg_time_format(fake_now, at);
	assert_true(s.locked);
	assert_int_equal(s.failed, 5);
	assert_string_equal(s.on, at);
	/* Locked: the right password (cached before) is refused; attempts on
	 * a locked account are not counted. */
	assert_int_equal(login("alice", GOOD), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(login("alice", "wrong"), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(stored(f, id).failed, 5);
	/* Unknown users are refused alike, and counted nowhere. */
	assert_int_equal(login("nobody", GOOD), SG_ERR_UNAUTHENTICATED);
}

/* Unlocked by hand (locked_out=false): the count and lock time go too, so a
 * later lock by hand does not expire at once. */
static void an_unlock_by_hand_starts_afresh(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "carol", true, id);
	for (int i = 0; i < 5; i++)
		assert_int_equal(login("carol", "wrong"), SG_ERR_UNAUTHENTICATED);
	assert_true(stored(f, id).locked);
	set_user(f, id, json_pack("{s:s}", "locked_out", "false"));
	struct state s = stored(f, id);
	assert_false(s.locked);
	assert_int_equal(s.failed, 0);
	assert_string_equal(s.on, "");
	assert_int_equal(login("carol", GOOD), SG_ERR_OK);
}

static void an_admins_lock_beats_the_cache(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "bob", true, id);
	assert_int_equal(login("bob", GOOD), SG_ERR_OK);
	assert_int_equal(login("bob", GOOD), SG_ERR_OK);
	set_user(f, id, json_pack("{s:s}", "locked_out", "true"));
	assert_int_equal(login("bob", GOOD), SG_ERR_UNAUTHENTICATED);
	/* No lock time: an admin's lock does not expire by itself. */
	fake_now = sg_time_now() + 365 * 86400;
	sg_time_set_clock(fake_clock);
	assert_int_equal(login("bob", GOOD), SG_ERR_UNAUTHENTICATED);
	set_user(f, id, json_pack("{s:s}", "locked_out", "false"));
	assert_int_equal(login("bob", GOOD), SG_ERR_OK);
}

static void unlocks_after_the_timeout(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "carol", true, id);
	fake_now = 1700000000;
	sg_time_set_clock(fake_clock);
	for (int i = 0; i < 5; i++)
		assert_int_equal(login("carol", "wrong"), SG_ERR_UNAUTHENTICATED);
	assert_true(stored(f, id).locked);
	/* glide.user.unlock_timeout_in_mins: 15 by default. */
	fake_now += 15 * 60 - 1;
	assert_int_equal(login("carol", GOOD), SG_ERR_UNAUTHENTICATED);
	fake_now += 1;
	assert_int_equal(login("carol", GOOD), SG_ERR_OK);
	struct state s = stored(f, id);
	assert_false(s.locked);
	assert_int_equal(s.failed, 0);
	assert_string_equal(s.on, "");

	/* A wrong password after the timeout unlocks too and counts afresh. */
	assert_int_equal(sg_prop_set(&f->ctx, "glide.user.unlock_timeout_in_mins", "2"), SG_ERR_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(login("carol", "wrong"), SG_ERR_UNAUTHENTICATED);
	fake_now += 2 * 60;
	assert_int_equal(login("carol", "wrong"), SG_ERR_UNAUTHENTICATED);
	s = stored(f, id);
	assert_false(s.locked);
	assert_int_equal(s.failed, 1);

	/* A timeout too long to count in seconds never ends. */
	assert_int_equal(
	    sg_prop_set(&f->ctx, "glide.user.unlock_timeout_in_mins", "9223372036854775807"),
	    SG_ERR_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(login("carol", "wrong"), SG_ERR_UNAUTHENTICATED);
	assert_true(stored(f, id).locked);
	fake_now += 365 * 86400;
	assert_int_equal(login("carol", GOOD), SG_ERR_UNAUTHENTICATED);
	set_user(f, id, json_pack("{s:s, s:s}", "locked_out", "false", "failed_attempts", "0"));

	/* 0: no timeout. */
	assert_int_equal(sg_prop_set(&f->ctx, "glide.user.unlock_timeout_in_mins", "0"), SG_ERR_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(login("carol", "wrong"), SG_ERR_UNAUTHENTICATED);
	assert_true(stored(f, id).locked);
	fake_now += 365 * 86400;
	assert_int_equal(login("carol", GOOD), SG_ERR_UNAUTHENTICATED);
}

/* ---- parallel guesses ------------------------------------------------------ */

#define THREADS    8
#define PER_THREAD 5

struct race {
	atomic_int refused; /* wrong guesses answered so far */
	atomic_int errors;
};

static void *guesser(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		sg_err err = login("dave", "wrong");
		if (err == SG_ERR_UNAUTHENTICATED)
			atomic_fetch_add(&r->refused, 1);
		else
			atomic_fetch_add(&r->errors, 1);
	}
	return NULL;
}

static void run_race(struct race *r)
{
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, guesser, r), 0);
	/* Once max_unlock_attempts failures have been answered, they are
	 * counted: the right password must be refused from then on. */
	while (atomic_load(&r->refused) < 5 && atomic_load(&r->errors) == 0)
		sched_yield();
	sg_err right = login("dave", GOOD);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&r->errors), 0);
	assert_int_equal(right, SG_ERR_UNAUTHENTICATED);
}

static void parallel_guesses_count_every_failure(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "dave", true, id);
	/* No lock: every failure of every thread is counted, none lost. */
	assert_int_equal(sg_prop_set(&f->ctx, "glide.user.max_unlock_attempts", "1000"), SG_ERR_OK);
	struct race r = {0};
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, guesser, &r), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_int_equal(stored(f, id).failed, THREADS * PER_THREAD);
}

static void parallel_guesses_never_beat_the_lock(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "dave", true, id);
	for (int trial = 0; trial < 3; trial++) {
		set_user(f, id,
		         json_pack("{s:s, s:s}", "locked_out", "false", "failed_attempts", "0"));
		assert_int_equal(login("dave", GOOD), SG_ERR_OK);
		struct race r = {0};
		run_race(&r);
		struct state s = stored(f, id);
		assert_true(s.locked);
		assert_int_equal(s.failed, 5);
	}
}

/* ---- writes that fail ---------------------------------------------------- */

static void a_count_that_cannot_be_written_refuses(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "erin", true, id);
	for (int i = 0; i < 3; i++)
		assert_int_equal(login("erin", "wrong"), SG_ERR_UNAUTHENTICATED);
	/* Every write of sys_user fails, as on a full disk. */
	print_message("(expected below: 'disk full' and 'could not record a login attempt')\n");
	assert_int_equal(sg_conn_exec_raw(f->ctx.conn, "CREATE TRIGGER \"full\" BEFORE UPDATE ON "
	                                               "\"sys_user\" BEGIN "
	                                               "SELECT RAISE(FAIL, 'disk full'); END"),
	                 SG_ERR_OK);
	/* The right password whose reset cannot be written is not accepted,
	 * nor is a guess whose count cannot be. */
	sg_err err = login("erin", GOOD);
	assert_int_not_equal(err, SG_ERR_OK);
	assert_int_not_equal(err, SG_ERR_UNAUTHENTICATED);
	err = login("erin", "wrong");
	assert_int_not_equal(err, SG_ERR_OK);
	assert_int_not_equal(err, SG_ERR_UNAUTHENTICATED);
	assert_int_equal(stored(f, id).failed, 3);
	assert_int_equal(sg_conn_exec_raw(f->ctx.conn, "DROP TRIGGER \"full\""), SG_ERR_OK);
	assert_int_equal(login("erin", GOOD), SG_ERR_OK);
}

static void a_user_without_a_password_never_authenticates(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	add_user(f, "frank", false, id);
	/* The password of the hash unknown users are checked against. */
	assert_int_equal(login("frank", "snowglobe-no-such-user"), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(login("frank", ""), SG_ERR_UNAUTHENTICATED);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(counts_locks_and_holds, auth_setup_system, teardown),
	    cmocka_unit_test_setup_teardown(an_admins_lock_beats_the_cache, auth_setup_system,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(an_unlock_by_hand_starts_afresh, auth_setup_system,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(unlocks_after_the_timeout, auth_setup_system, teardown),
	    cmocka_unit_test_setup_teardown(parallel_guesses_count_every_failure, auth_setup_system,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(parallel_guesses_never_beat_the_lock, auth_setup_system,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(a_count_that_cannot_be_written_refuses,
	                                    auth_setup_system, teardown),
	    cmocka_unit_test_setup_teardown(a_user_without_a_password_never_authenticates,
	                                    auth_setup_system, teardown),
	};
	return cmocka_run_group_tests_name("auth.lockout", tests, NULL, NULL);
}
