/*
 * Unit tests for two-way secrets (issue 12, defect 13): password2 values are
 * stored encrypted under a key kept outside the database, and read back only
 * through sg_secret_decrypt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <sys/stat.h>

#include "../model/fixture.h"
#include "auth/secret.h"
#include "core/json.h"
#include "store/sql.h"
#include "store/store.h"

static const struct sg_write_opts WO = {.allow_sys_fields = true};

static void seal_and_open(void **state)
{
	(void)state;
	unsigned char key[SG_SECRET_KEY_LEN], other[SG_SECRET_KEY_LEN];
	randombytes_buf(key, sizeof(key));
	randombytes_buf(other, sizeof(other));
	char *a, *b, *clear;
	assert_int_equal(sg_secret_seal_with(key, "hunter2", &a), SG_ERR_OK);
	assert_int_equal(sg_secret_seal_with(key, "hunter2", &b), SG_ERR_OK);
	assert_true(sg_secret_is_sealed(a));
	assert_non_null(strstr(a, SG_SECRET_PREFIX) == a ? a : NULL);
	assert_null(strstr(a, "hunter2"));
	assert_string_not_equal(a, b); /* a nonce per value */
	assert_int_equal(sg_secret_open_with(key, a, &clear), SG_ERR_OK);
	assert_string_equal(clear, "hunter2");
	free(clear);
	/* another key, an altered value, bad base64: refused */
	assert_int_equal(sg_secret_open_with(other, a, &clear), SG_ERR_INTERNAL);
	assert_null(clear);
	a[strlen(a) - 3] = a[strlen(a) - 3] == 'A' ? 'B' : 'A';
	assert_int_equal(sg_secret_open_with(key, a, &clear), SG_ERR_INTERNAL);
	assert_int_equal(sg_secret_open_with(key, "$sg1$!!!", &clear), SG_ERR_INTERNAL);
	assert_int_equal(sg_secret_open_with(key, "$sg1$", &clear), SG_ERR_INTERNAL);
	/* a value stored before encryption is read as clear */
	assert_int_equal(sg_secret_open_with(key, "old-clear", &clear), SG_ERR_OK);
	assert_string_equal(clear, "old-clear");
	free(clear);
	/* empty and long values */
	char *empty;
	assert_int_equal(sg_secret_seal_with(key, "", &empty), SG_ERR_OK);
	assert_int_equal(sg_secret_open_with(key, empty, &clear), SG_ERR_OK);
	assert_string_equal(clear, "");
	free(clear);
	free(empty);
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char *sealed;
	assert_int_equal(sg_secret_seal_with(key, big, &sealed), SG_ERR_OK);
	assert_int_equal(sg_secret_open_with(key, sealed, &clear), SG_ERR_OK);
	assert_string_equal(clear, big);
	free(clear);
	free(sealed);
	free(a);
	free(b);
}

static void key_paths(void **state)
{
	(void)state;
	char p[64];
	assert_true(sg_secret_key_path("/data/instance.db", p, sizeof(p)));
	assert_string_equal(p, "/data/keys/instance.key");
	assert_true(sg_secret_key_path("/srv/prod.sqlite3", p, sizeof(p)));
	assert_string_equal(p, "/srv/keys/prod.key");
	assert_true(sg_secret_key_path("plain", p, sizeof(p)));
	assert_string_equal(p, "keys/plain.key");
	assert_true(sg_secret_key_path("/a.b/.hidden", p, sizeof(p)));
	assert_string_equal(p, "/a.b/keys/.hidden.key");
	assert_false(sg_secret_key_path(
	    "/a/very/long/path/that/does/not/fit/in/sixty/four/bytes.db", p, sizeof(p)));
}

/* The stored value of property name, read past the model. */
static char *stored_value(struct sg_ctx *ctx, const char *name)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"value\" FROM \"sys_properties\" WHERE \"name\" = ");
	sg_sql_text(&q, name);
	char *v = NULL;
	assert_int_equal(sg_conn_query_string(ctx->conn, &q, &v), SG_ERR_OK);
	sg_sql_cleanup(&q);
	return v;
}

static void password2_properties_encrypted(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	char id[SG_ID_LEN + 1], key_file[400];
	snprintf(key_file, sizeof(key_file), "%s/keys/instance.key", f->dir);
	json_t *in = json_pack("{s:s, s:s, s:s}", "name", "x.api.password", "type", "password2",
	                       "value", "Clear-secret-1");
	assert_int_equal(sg_rec_insert(sys, "sys_properties", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	/* the key was made on first need, 0600 */
	struct stat st;
	assert_int_equal(stat(key_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, SG_SECRET_KEY_LEN);
	char *v = stored_value(sys, "x.api.password"), *clear;
	assert_true(sg_secret_is_sealed(v));
	assert_null(strstr(v, "Clear-secret-1"));
	assert_int_equal(sg_secret_decrypt(sys, v, &clear), SG_ERR_OK);
	assert_string_equal(clear, "Clear-secret-1");
	free(clear);
	/* written back as read: kept, not encrypted twice */
	in = json_pack("{s:s}", "value", v);
	assert_int_equal(sg_rec_update(sys, "sys_properties", id, in, &WO), SG_ERR_OK);
	json_decref(in);
	char *again = stored_value(sys, "x.api.password");
	assert_string_equal(again, v);
	free(again);
	free(v);
	/* a string property is left alone; made password2, its value is encrypted */
	in = json_pack("{s:s, s:s}", "name", "x.plain", "value", "Clear-2");
	assert_int_equal(sg_rec_insert(sys, "sys_properties", in, &WO, id), SG_ERR_OK);
	json_decref(in);
	v = stored_value(sys, "x.plain");
	assert_string_equal(v, "Clear-2");
	/* a clear value stored before encryption reads as is */
	assert_int_equal(sg_secret_decrypt(sys, v, &clear), SG_ERR_OK);
	assert_string_equal(clear, "Clear-2");
	free(clear);
	free(v);
	in = json_pack("{s:s}", "type", "password2");
	assert_int_equal(sg_rec_update(sys, "sys_properties", id, in, &WO), SG_ERR_OK);
	json_decref(in);
	v = stored_value(sys, "x.plain");
	assert_true(sg_secret_is_sealed(v));
	assert_int_equal(sg_secret_decrypt(sys, v, &clear), SG_ERR_OK);
	assert_string_equal(clear, "Clear-2");
	free(clear);
	free(v);
}

static void environment_key_wins(void **state)
{
	struct fixture *f = *state;
	struct sg_ctx *sys = &f->ctx;
	unsigned char key[SG_SECRET_KEY_LEN], got[SG_SECRET_KEY_LEN];
	randombytes_buf(key, sizeof(key));
	char b64[sodium_base64_ENCODED_LEN(SG_SECRET_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	setenv(SG_SECRET_ENV, b64, 1);
	assert_int_equal(sg_secret_key(sys, true, got), SG_ERR_OK);
	assert_memory_equal(got, key, sizeof(key));
	char *sealed, *clear;
	assert_int_equal(sg_secret_encrypt(sys, "via-env", &sealed), SG_ERR_OK);
	assert_int_equal(sg_secret_open_with(key, sealed, &clear), SG_ERR_OK);
	assert_string_equal(clear, "via-env");
	free(clear);
	free(sealed);
	/* no key file is made while the environment gives the key */
	char key_file[400];
	snprintf(key_file, sizeof(key_file), "%s/keys/instance.key", f->dir);
	struct stat st;
	assert_int_not_equal(stat(key_file, &st), 0);
	/* not 32 bytes of base64: refused, never a weaker key */
	fprintf(stderr, "(expected below: two refusals of a bad SNOWGLOBE_KEY, one missing key)\n");
	setenv(SG_SECRET_ENV, "c2hvcnQ=", 1);
	assert_int_equal(sg_secret_key(sys, true, got), SG_ERR_INTERNAL);
	assert_int_equal(sg_secret_encrypt(sys, "x", &sealed), SG_ERR_INTERNAL);
	unsetenv(SG_SECRET_ENV);
	/* without it, the key file beside the database, made on first need */
	assert_int_equal(sg_secret_decrypt(sys, "$sg1$AAAA", &clear), SG_ERR_INTERNAL);
	assert_int_equal(sg_secret_key(sys, true, got), SG_ERR_OK);
	assert_int_equal(stat(key_file, &st), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	unsetenv(SG_SECRET_ENV);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(seal_and_open),
	    cmocka_unit_test(key_paths),
	    cmocka_unit_test_setup_teardown(password2_properties_encrypted, fixture_setup,
	                                    fixture_teardown),
	    cmocka_unit_test_setup_teardown(environment_key_wins, fixture_setup, fixture_teardown),
	};
	return cmocka_run_group_tests_name("auth.secrets", tests, NULL, NULL);
}
