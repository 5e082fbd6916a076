/*
 * Unit tests for token lifetimes with an injected clock: access tokens end
 * after the application's access lifespan, refresh tokens after theirs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "fixture.h"
#include "auth/oauth.h"
#include "auth/password.h"
#include "core/json.h"

static int64_t now_value;

static int64_t test_clock(void)
{
	return now_value;
}

static void setup_app(struct fixture *f, const char *access, const char *refresh)
{
	struct sg_ctx *sys = &f->ctx;
	sys->system = true;
	struct sg_write_opts wo = {0};
	char id[SG_ID_LEN + 1];
	json_t *u = json_pack("{s:s, s:s, s:s}", "user_name", "svc", "last_name", "svc",
	                      "user_password", "Svc-pass-1");
	assert_int_equal(sg_rec_insert(sys, "sys_user", u, &wo, id), SG_ERR_OK);
	json_decref(u);
	char *hash = sg_secret_hash("the-client-secret-0123456789abcdef");
	json_t *app = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "app", "client_id",
	                        "0123456789abcdef0123456789abcdef", "client_secret", hash,
	                        "access_token_lifespan", access, "refresh_token_lifespan", refresh);
	free(hash);
	assert_int_equal(sg_rec_insert(sys, "oauth_entity", app, &wo, id), SG_ERR_OK);
	json_decref(app);
}

static sg_err grant(const char *type, const char *refresh, struct sg_token_grant *g)
{
	struct sg_kv p[] = {
	    {"grant_type", (char *)type},
	    {"client_id", "0123456789abcdef0123456789abcdef"},
	    {"client_secret", "the-client-secret-0123456789abcdef"},
	    {"username", "svc"},
	    {"password", "Svc-pass-1"},
	    {"refresh_token", (char *)(refresh ? refresh : "")},
	};
	return sg_oauth_grant(auth, p, 6, NULL, false, g);
}

static bool valid(struct fixture *f, const char *token)
{
	char h[200];
	snprintf(h, sizeof(h), "Bearer %s", token);
	struct sg_user u;
	struct sg_bearer b;
	sg_model_sync(f->model);
	return sg_auth_bearer(auth, h, &u, &b) == SG_ERR_OK;
}

static void lifespans_follow_the_application(void **state)
{
	struct fixture *f = *state;
	now_value = 1800000000;
	sg_time_set_clock(test_clock);
	setup_app(f, "60", "3600");
	struct sg_token_grant g, g2;
	assert_int_equal(grant("password", NULL, &g), SG_ERR_OK);
	assert_int_equal(g.expires_in, 59);
	assert_int_equal(strlen(g.access_token), SG_TOKEN_LEN);
	assert_true(valid(f, g.access_token));
	now_value += 59;
	assert_true(valid(f, g.access_token));
	now_value += 2; /* past the 60 s lifespan */
	assert_false(valid(f, g.access_token));
	assert_false(valid(f, g.refresh_token)); /* a refresh token is no bearer */
	assert_int_equal(grant("refresh_token", g.refresh_token, &g2), SG_ERR_OK);
	assert_string_equal(g2.refresh_token, g.refresh_token);
	assert_true(valid(f, g2.access_token));
	now_value += 3600; /* the refresh token has ended too */
	assert_int_equal(grant("refresh_token", g.refresh_token, &g2), SG_ERR_OAUTH_DENIED);
	sg_time_set_clock(NULL);
}

static void defaults_and_refusals(void **state)
{
	struct fixture *f = *state;
	setup_app(f, "", "");
	struct sg_token_grant g;
	assert_int_equal(grant("password", NULL, &g), SG_ERR_OK);
	assert_int_equal(g.expires_in, 1799); /* 1800 s by default */
	assert_string_equal(g.scope, "useraccount");
	assert_int_equal(grant("client_credentials", NULL, &g), SG_ERR_OAUTH_DENIED);
	assert_int_equal(grant("authorization_code", NULL, &g), SG_ERR_OAUTH_DENIED);
	assert_int_equal(grant("refresh_token", "not-a-token", &g), SG_ERR_OAUTH_DENIED);
	struct sg_kv in_url[] = {{"grant_type", "password"}};
	assert_int_equal(sg_oauth_grant(auth, in_url, 1, NULL, true, &g), SG_ERR_OAUTH_DENIED);
	assert_string_equal(sg_oauth_denied_body(),
	                    "{\"error_description\":\"access_denied\",\"error\":\"server_error\"}");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(lifespans_follow_the_application, auth_setup,
	                                    auth_teardown),
	    cmocka_unit_test_setup_teardown(defaults_and_refusals, auth_setup, auth_teardown),
	};
	return cmocka_run_group_tests_name("auth.oauth", tests, NULL, NULL);
}
