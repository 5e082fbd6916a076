/*
 * Unit tests for key ids and rotation (auth/secret.c, auth/secret_rotate.c):
 * values carry the id of the key that sealed them, rotation re-seals every
 * sealed value and removes the old key only once nothing uses it, a
 * process keeps reading values sealed under a key removed since, and
 * SNOWGLOBE_KEY refuses rotation; sg_secret_matches reads every stored form
 * of a client secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../model/fixture.h"
#include "auth/password.h"
#include "auth/secret.h"
#include "auth/secret_rotate.h"
#include "core/json.h"
#include "store/sql.h"
#include "store/store.h"

static char *stored_value(struct fixture *f, const char *name)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"value\" FROM \"sys_properties\" WHERE \"name\" = ");
	sg_sql_text(&q, name);
	char *v = NULL;
	assert_int_equal(sg_conn_query_string(f->ctx.conn, &q, &v), SG_ERR_OK);
	sg_sql_cleanup(&q);
	return v;
}

static void rotate_reseals_and_retires(void **state)
{
	struct fixture *f = *state;
	json_t *in =
	    json_pack("{s:s, s:s, s:s}", "name", "x.pw", "type", "password2", "value", "Clear-one");
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_insert(&f->ctx, "sys_properties", in, &wo, id), SG_ERR_OK);
	json_decref(in);
	char *before = stored_value(f, "x.pw"), kid[SG_SECRET_KID_LEN + 1];
	assert_int_equal(sg_secret_kid(before, kid), SG_ERR_OK);
	assert_string_equal(kid, ""); /* the first key: no id */

	struct sg_secret_rotation r;
	char msg[512];
	assert_int_equal(sg_secret_rotate(&f->ctx, &r, msg, sizeof(msg)), SG_ERR_OK);
	assert_int_equal(strlen(r.kid), SG_SECRET_KID_LEN);
	assert_true(r.resealed >= 1);
	assert_int_equal(r.removed, 1);
	char path[512];
	snprintf(path, sizeof(path), "%s/keys/instance.key", f->dir);
	assert_int_equal(access(path, F_OK), -1); /* retired */
	snprintf(path, sizeof(path), "%s/keys/instance.%s.key", f->dir, r.kid);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	char *after = stored_value(f, "x.pw"), *clear = NULL;
	assert_int_equal(sg_secret_kid(after, kid), SG_ERR_OK);
	assert_string_equal(kid, r.kid);
	assert_int_equal(sg_secret_decrypt(&f->ctx, after, &clear), SG_ERR_OK);
	assert_string_equal(clear, "Clear-one");
	free(clear);
	/* this process still reads the old form (its key is in memory) */
	assert_int_equal(sg_secret_decrypt(&f->ctx, before, &clear), SG_ERR_OK);
	assert_string_equal(clear, "Clear-one");
	free(clear);
	/* new values are sealed under the new key */
	char *fresh = NULL;
	assert_int_equal(sg_secret_encrypt(&f->ctx, "x", &fresh), SG_ERR_OK);
	assert_int_equal(sg_secret_kid(fresh, kid), SG_ERR_OK);
	assert_string_equal(kid, r.kid);
	free(fresh);
	/* a malformed id is refused */
	assert_int_equal(sg_secret_kid("$sg1$zz$abc", kid), SG_ERR_INTERNAL);
	free(before);
	free(after);

	/* SNOWGLOBE_KEY: refused, nothing changed */
	setenv(SG_SECRET_ENV, "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=", 1);
	struct sg_secret_rotation r2;
	assert_int_equal(sg_secret_rotate(&f->ctx, &r2, msg, sizeof(msg)), SG_ERR_BAD_PARAM);
	assert_non_null(strstr(msg, "refused"));
	unsetenv(SG_SECRET_ENV);
	assert_int_equal(stat(path, &st), 0);
}

static void client_secret_forms(void **state)
{
	struct fixture *f = *state;
	bool ok;
	char *hash = sg_secret_hash("generated-secret"), *sealed = NULL;
	assert_int_equal(sg_secret_matches(&f->ctx, hash, "generated-secret", &ok), SG_ERR_OK);
	assert_true(ok);
	assert_int_equal(sg_secret_matches(&f->ctx, hash, "other", &ok), SG_ERR_OK);
	assert_false(ok);
	assert_int_equal(sg_secret_encrypt(&f->ctx, "typed-secret", &sealed), SG_ERR_OK);
	assert_int_equal(sg_secret_matches(&f->ctx, sealed, "typed-secret", &ok), SG_ERR_OK);
	assert_true(ok);
	assert_int_equal(sg_secret_matches(&f->ctx, sealed, "typed-secre", &ok), SG_ERR_OK);
	assert_false(ok);
	assert_int_equal(sg_secret_matches(&f->ctx, "", "", &ok), SG_ERR_OK);
	assert_false(ok);
	free(hash);
	free(sealed);
	/* a provider's client secret is sealed two-way; an inbound client's hash kept */
	json_t *in = json_pack("{s:s, s:s, s:s}", "name", "P", "type", "oauth_provider",
	                       "client_secret", "Provider-secret");
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	assert_int_equal(sg_rec_insert(&f->ctx, "oauth_entity", in, &wo, id), SG_ERR_OK);
	json_decref(in);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"client_secret\" FROM \"oauth_entity\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, id);
	char *v = NULL, *clear = NULL;
	assert_int_equal(sg_conn_query_string(f->ctx.conn, &q, &v), SG_ERR_OK);
	sg_sql_cleanup(&q);
	assert_true(sg_secret_is_sealed(v));
	assert_int_equal(sg_secret_decrypt(&f->ctx, v, &clear), SG_ERR_OK);
	assert_string_equal(clear, "Provider-secret");
	free(clear);
	free(v);
	/* and its default profile */
	assert_int_equal(fixture_count(f, "oauth_entity_profile",
	                               "name=P default_profile^default=true^grant_type="
	                               "authorization_code"),
	                 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(rotate_reseals_and_retires, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(client_secret_forms, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
