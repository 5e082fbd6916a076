/*
 * Unit tests for auth's write rules: a password written through the record
 * layer (as nowd, nowctl offline and demo loading write) is stored hashed,
 * the hash is computed before the write takes the write lock, and writes to
 * auth's tables count a change to its caches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <time.h>

#include "../model/fixture.h"
#include "auth/password.h"
#include "core/json.h"
#include "model/rules.h"

static const struct sg_write_opts WO = {.allow_sys_fields = true};

/* The password column as stored (reads through the API never return it). */
static char *stored_password(struct fixture *f, const char *id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"user_password\" FROM \"sys_user\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	char *v = NULL;
	assert_int_equal(sg_conn_query_string(f->ctx.conn, &q, &v), SG_ERR_OK);
	sg_sql_cleanup(&q);
	return v;
}

static void password_is_stored_hashed(void **state)
{
	struct fixture *f = *state;
	char id[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s, s:s}", "user_name", "alice", "user_password", "Alice-pw-1");
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_user", in, &WO, id), SG_ERR_OK);
	/* The caller's input is left as it was. */
	assert_string_equal(sg_json_str(in, "user_password"), "Alice-pw-1");
	json_decref(in);
	char *h = stored_password(f, id);
	assert_non_null(h);
	assert_true(!strncmp(h, "$argon2id$", 10));
	assert_true(sg_password_verify(h, "Alice-pw-1"));
	free(h);

	/* A new password (nowctl user set-password), given as {"value": ...}. */
	in = json_pack("{s:{s:s}}", "user_password", "value", "Alice-pw-2");
	assert_int_equal(sg_rec_update(&f->ctx, "sys_user", id, in, &WO), SG_ERR_OK);
	json_decref(in);
	h = stored_password(f, id);
	assert_true(sg_password_verify(h, "Alice-pw-2"));
	assert_false(sg_password_verify(h, "Alice-pw-1"));
	/* A hash is kept as it is, not hashed again. */
	in = json_pack("{s:s}", "user_password", h);
	assert_int_equal(sg_rec_update(&f->ctx, "sys_user", id, in, &WO), SG_ERR_OK);
	json_decref(in);
	char *again = stored_password(f, id);
	assert_string_equal(again, h);
	free(again);
	free(h);
}

/* ---- the hash is computed outside the write transaction ----------------- */

struct writer {
	struct sg_model *model;
	sg_err err;
};

static void *write_incident(void *arg)
{
	struct writer *wr = arg;
	struct sg_ctx ctx;
	wr->err = sg_ctx_begin(&ctx, wr->model, NULL);
	if (wr->err)
		return NULL;
	json_t *in = json_pack("{s:s}", "short_description", "while a password is hashed");
	char id[SG_ID_LEN + 1];
	wr->err = sg_rec_insert(&ctx, "incident", in, &WO, id);
	json_decref(in);
	sg_ctx_end(&ctx);
	return NULL;
}

static int prepared_users;

/* Runs after auth's hashing rule, still in the prepare phase. */
static sg_err observe_prepare(struct sg_write *w)
{
	char scratch[64];
	const char *v = sg_write_input_text(w, "user_password", scratch, sizeof(scratch));
	if (!v)
		return SG_ERR_OK;
	prepared_users++;
	/* Not in a transaction, so not holding the write lock... */
	assert_false(sg_conn_in_transaction(w->ctx->conn));
	/* ...and the hash is already computed. */
	assert_true(!strncmp(v, "$argon2id$", 10));
	/* Another thread's write goes through meanwhile: were the lock held
	 * here, it would wait for it, and the join would time out. */
	struct writer wr = {.model = w->ctx->model, .err = SG_ERR_INTERNAL};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, write_incident, &wr), 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	assert_int_equal(pthread_timedjoin_np(th, NULL, &until), 0);
	assert_int_equal(wr.err, SG_ERR_OK);
	return SG_ERR_OK;
}

static const struct sg_rule observe[] = {
    {"test.observe_prepare", "sys_user", SG_RULE_PREPARE, SG_OP_WRITE, 20, observe_prepare},
};

static void hashing_holds_no_write_lock(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sg_model_add_rules(f->model, observe, 1), SG_ERR_OK);
	prepared_users = 0;
	char id[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s, s:s}", "user_name", "bob", "user_password", "Bob-pw-123");
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_user", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(prepared_users, 1);
	char *h = stored_password(f, id);
	assert_true(sg_password_verify(h, "Bob-pw-123"));
	free(h);
}

/* ---- without auth's rules no password is stored --------------------------- */

static void without_auth_rules_a_password_is_refused(void **state)
{
	struct fixture *f = *state;
	struct sg_model *bare;
	assert_int_equal(sg_model_open(f->dir, &bare), SG_ERR_OK);
	struct sg_ctx ctx;
	assert_int_equal(sg_ctx_begin(&ctx, bare, NULL), SG_ERR_OK);
	char id[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s, s:s}", "user_name", "carol", "user_password", "Carol-pw-1");
	assert_int_equal(sg_rec_insert(&ctx, "sys_user", in, &WO, id), SG_ERR_INTERNAL);
	json_decref(in);
	/* No password, nothing to refuse. */
	in = json_pack("{s:s}", "user_name", "carol");
	assert_int_equal(sg_rec_insert(&ctx, "sys_user", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	sg_ctx_end(&ctx);
	sg_model_close(bare);
	char *h = stored_password(f, id);
	assert_null(h);
}

/* ---- auth's tables count a change to its caches ---------------------------- */

static void auth_tables_bump_auth_counters(void **state)
{
	struct fixture *f = *state;
	struct sg_model *m = f->model;
	unsigned long users = atomic_load(&m->users_gen), acl = atomic_load(&m->acl_gen);
	unsigned long data = atomic_load(&m->data_gen);
	char id[SG_ID_LEN + 1];
	json_t *in = json_pack("{s:s}", "name", "Network");
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_user_group", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	assert_true(atomic_load(&m->users_gen) > users);
	assert_int_equal(atomic_load(&m->acl_gen), acl);
	assert_true(atomic_load(&m->data_gen) > data);

	users = atomic_load(&m->users_gen);
	in = json_pack("{s:s}", "short_description", "not auth's");
	assert_int_equal(sg_rec_insert(&f->ctx, "incident", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	assert_int_equal(atomic_load(&m->users_gen), users);

	assert_int_equal(sg_rec_delete(&f->ctx, "incident", id), SG_ERR_OK);
	in = json_pack("{s:s, s:s}", "name", "incident", "operation", "read");
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_security_acl", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	assert_true(atomic_load(&m->acl_gen) > acl);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(password_is_stored_hashed, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(hashing_holds_no_write_lock, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(without_auth_rules_a_password_is_refused, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(auth_tables_bump_auth_counters, fixture_setup,
	                                    fixture_teardown),
	};
	return cmocka_run_group_tests_name("auth.rules", tests, NULL, NULL);
}
