/*
 * Unit tests for the browser console's sessions (session.c; issue 20): a
 * session names its user and CSRF token, is stored only under a hash of its
 * id, ends after glide.ui.session_timeout idle minutes (each use counts, at
 * most once a minute), at sign-out, and when its user is locked out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "fixture.h"
#include "auth/password.h"
#include "auth/session.h"
#include "core/json.h"
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
	return fake_now;
}

static int setup(void **state)
{
	fake_now = 1900000000;
	sg_time_set_clock(fake_clock);
	return auth_setup_system(state);
}

static int teardown(void **state)
{
	sg_time_set_clock(NULL);
	return auth_teardown(state);
}

static void add_user(struct fixture *f, const char *name, struct sg_user *u)
{
	json_t *in = json_pack("{s:s, s:s}", "user_name", name, "last_name", name);
	assert_non_null(in);
	memset(u, 0, sizeof(*u));
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_user", in, &WO, u->sys_id), SG_ERR_OK);
	json_decref(in);
	snprintf(u->user_name, sizeof(u->user_name), "%s", name);
}

static int count_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)ncol;
	(void)names;
	snprintf(ud, 64, "%s", vals[0] ? vals[0] : "");
	return 0;
}

/* How many sessions hold the stored id value. */
static int stored_with_id(struct fixture *f, const char *value)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM \"sys_user_session\" WHERE \"id\" = ");
	sg_sql_text(&q, value);
	char n[64] = "";
	assert_int_equal(sg_conn_exec(f->ctx.conn, &q, count_row, n, NULL), SG_ERR_OK);
	sg_sql_cleanup(&q);
	return atoi(n);
}

static void a_session_names_its_user_and_token(void **state)
{
	struct fixture *f = *state;
	struct sg_user u, got;
	add_user(f, "sess.one", &u);
	char id[SG_SESSION_TOKEN_SIZE], ck[SG_SESSION_TOKEN_SIZE], ck2[SG_SESSION_TOKEN_SIZE];
	assert_int_equal(sg_session_new(auth, &u, id, ck), SG_ERR_OK);
	assert_int_equal(strlen(id), 43);
	assert_int_equal(strlen(ck), 43);
	assert_string_not_equal(id, ck);
	assert_int_equal(sg_session_check(auth, id, &got, ck2), SG_ERR_OK);
	assert_string_equal(got.sys_id, u.sys_id);
	assert_string_equal(got.user_name, "sess.one");
	assert_string_equal(ck2, ck);
	assert_true(sg_session_ck_matches(ck, ck2));
	/* stored under its hash only */
	char *hash = sg_secret_hash(id);
	assert_int_equal(stored_with_id(f, hash), 1);
	assert_int_equal(stored_with_id(f, id), 0);
	free(hash);
	/* another id, a near one, none */
	char other[SG_SESSION_TOKEN_SIZE];
	snprintf(other, sizeof(other), "%s", id);
	other[0] = other[0] == 'A' ? 'B' : 'A';
	assert_int_equal(sg_session_check(auth, other, &got, ck2), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(sg_session_check(auth, "", &got, ck2), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(sg_session_check(auth, NULL, &got, ck2), SG_ERR_UNAUTHENTICATED);
	char longer[SG_SESSION_TOKEN_SIZE + 8];
	snprintf(longer, sizeof(longer), "%sxxxxxx", id);
	assert_int_equal(sg_session_check(auth, longer, &got, ck2), SG_ERR_UNAUTHENTICATED);
	/* two sessions of one user are two */
	char id2[SG_SESSION_TOKEN_SIZE], ck3[SG_SESSION_TOKEN_SIZE];
	assert_int_equal(sg_session_new(auth, &u, id2, ck3), SG_ERR_OK);
	assert_string_not_equal(id2, id);
	assert_string_not_equal(ck3, ck);
}

static void the_token_must_match_exactly(void **state)
{
	(void)state;
	assert_true(sg_session_ck_matches("abc", "abc"));
	assert_false(sg_session_ck_matches("abc", "abd"));
	assert_false(sg_session_ck_matches("abc", "ab"));
	assert_false(sg_session_ck_matches("abc", "abcd"));
	assert_false(sg_session_ck_matches("abc", NULL));
	assert_false(sg_session_ck_matches("", ""));
}

static void idle_sessions_end(void **state)
{
	struct fixture *f = *state;
	struct sg_user u, got;
	add_user(f, "sess.idle", &u);
	char id[SG_SESSION_TOKEN_SIZE], ck[SG_SESSION_TOKEN_SIZE];
	assert_int_equal(sg_session_new(auth, &u, id, ck), SG_ERR_OK);
	/* the default: 30 idle minutes; each use starts them again */
	fake_now += 29 * 60;
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_OK);
	fake_now += 29 * 60;
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_OK);
	fake_now += 31 * 60;
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_UNAUTHENTICATED);
	/* ended: gone, not merely refused */
	fake_now -= 31 * 60;
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_UNAUTHENTICATED);
	/* the property sets the minutes */
	assert_int_equal(sg_prop_set(&f->ctx, "glide.ui.session_timeout", "2"), SG_ERR_OK);
	assert_int_equal(sg_session_new(auth, &u, id, ck), SG_ERR_OK);
	fake_now += 90;
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_OK);
	fake_now += 150;
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_UNAUTHENTICATED);
}

static void sign_out_and_lock_out_end_it(void **state)
{
	struct fixture *f = *state;
	struct sg_user u, got;
	add_user(f, "sess.end", &u);
	char id[SG_SESSION_TOKEN_SIZE], ck[SG_SESSION_TOKEN_SIZE];
	assert_int_equal(sg_session_new(auth, &u, id, ck), SG_ERR_OK);
	assert_int_equal(sg_session_end(auth, id), SG_ERR_OK);
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_UNAUTHENTICATED);
	assert_int_equal(sg_session_end(auth, id), SG_ERR_OK); /* twice is fine */
	assert_int_equal(sg_session_new(auth, &u, id, ck), SG_ERR_OK);
	json_t *in = json_pack("{s:s}", "locked_out", "true");
	assert_int_equal(sg_rec_update(&f->ctx, "sys_user", u.sys_id, in, &WO), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_UNAUTHENTICATED);
	in = json_pack("{s:s}", "locked_out", "false");
	assert_int_equal(sg_rec_update(&f->ctx, "sys_user", u.sys_id, in, &WO), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(sg_session_check(auth, id, &got, ck), SG_ERR_UNAUTHENTICATED);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(a_session_names_its_user_and_token, setup, teardown),
	    cmocka_unit_test(the_token_must_match_exactly),
	    cmocka_unit_test_setup_teardown(idle_sessions_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(sign_out_and_lock_out_end_it, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
