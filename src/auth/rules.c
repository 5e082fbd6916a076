/*
 * rules.c - auth's rules in the model's write pipeline (model/rules.h).
 *
 * Hashing a password costs tens of milliseconds by design (argon2id), so it
 * runs in the prepare phase, on the caller's input, before the write takes
 * the process's write lock: other writers are not held up by it.  The change
 * counters of auth's caches (users, acl, oauth) are counted in the write's
 * transaction, like the model's own.  Two-way secrets (password2) are
 * encrypted with the instance key (secret.h) beside the hashing; a
 * property's type is known only inside the transaction, so password2
 * properties are encrypted there.
 */
#include "auth/rules.h"

#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "auth/password.h"
#include "auth/secret.h"
#include "core/json.h"
#include "model/rules.h"
#include "store/sql.h"
#include "store/store.h"

/* The stored form of a one-way secret v: v itself when it is a hash already
 * (hashes can be copied between instances), else its hash.  *out new. */
static sg_err hash_password(struct sg_ctx *ctx, const char *v, char **out)
{
	(void)ctx;
	*out = sg_password_is_hash(v) ? strdup(v) : sg_password_hash(v);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* The stored form of a two-way secret v: v itself when it is encrypted
 * under this instance's key already (a client writing back what it read),
 * else v encrypted.  *out new. */
static sg_err encrypt_secret(struct sg_ctx *ctx, const char *v, char **out)
{
	if (sg_secret_is_sealed(v)) {
		char *clear = NULL;
		sg_err err = sg_secret_decrypt(ctx, v, &clear);
		free(clear);
		if (!err)
			return (*out = strdup(v)) ? SG_ERR_OK : SG_ERR_NOMEM;
		if (err == SG_ERR_NOMEM)
			return err;
		/* not ours: taken for clear text, like any other value */
	}
	return sg_secret_encrypt(ctx, v, out);
}

/* The stored form of an application's client secret.  The field is a
 * password field (REST masks it); its value is sealed two-way, as
 * ServiceNow's password2 client_secret is, because an OAuth provider's
 * secret must be presented by the instance; a one-way hash given as the
 * value stays as it is (nowctl oauth add stores the fast hash of the secret
 * it generates: an inbound client's secret only needs verifying, through
 * sg_secret_matches, which reads both forms).  *out new. */
static sg_err client_secret_form(struct sg_ctx *ctx, const char *v, char **out)
{
	if (sg_password_is_hash(v))
		return (*out = strdup(v)) ? SG_ERR_OK : SG_ERR_NOMEM;
	return encrypt_secret(ctx, v, out);
}

/* Replaces each non-empty input value of a field of type by its stored form. */
static sg_err seal_fields(struct sg_write *w, enum sg_ftype type,
                          sg_err (*stored_form)(struct sg_ctx *ctx, const char *v, char **out))
{
	for (size_t i = 0; i < w->table->nfields; i++) {
		const struct sg_field *f = w->table->fields[i];
		if (f->type != type)
			continue;
		char scratch[64];
		const char *v = sg_write_input_text(w, f->element, scratch, sizeof(scratch));
		if (!v || !*v)
			continue;
		char *stored = NULL;
		bool app_secret = (f->type == SG_FT_PASSWORD || f->type == SG_FT_PASSWORD2) &&
		                  !strcmp(w->table->root->name, "oauth_entity") &&
		                  !strcmp(f->element, "client_secret");
		sg_err err = (app_secret ? client_secret_form : stored_form)(w->ctx, v, &stored);
		if (!err)
			err = sg_write_seal(w, f->element, stored);
		free(stored);
		if (err)
			return err;
	}
	return SG_ERR_OK;
}

/* Passwords are stored hashed, hashed before the write lock. */
static sg_err hash_passwords(struct sg_write *w)
{
	return seal_fields(w, SG_FT_PASSWORD, hash_password);
}

/* password2 values are stored encrypted under the instance key. */
static sg_err encrypt_password2(struct sg_write *w)
{
	return seal_fields(w, SG_FT_PASSWORD2, encrypt_secret);
}

/* A sys_properties row of type password2 keeps its value encrypted: when the
 * value or the type changes to it (a clear value stored before is encrypted
 * then too). */
static sg_err encrypt_property(struct sg_write *w)
{
	const char *v = sg_write_val(w, "value");
	if (strcmp(sg_write_val(w, "type"), "password2") != 0 || !*v ||
	    (!sg_write_changed(w, "value") && !sg_write_changed(w, "type")))
		return SG_ERR_OK;
	char *stored;
	sg_err err = encrypt_secret(w->ctx, v, &stored);
	if (err)
		return err;
	sg_write_set(w, "value", stored);
	free(stored);
	return w->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* An account unlocked by hand (locked_out set false) starts afresh, as
 * 'nowctl user unlock' does: no failures counted, no lock time left to make a
 * later lock by hand expire at once. */
static sg_err unlock_by_hand(struct sg_write *w)
{
	if (!sg_write_changed(w, "locked_out") || sg_str_bool(sg_write_val(w, "locked_out"), false))
		return SG_ERR_OK;
	/* What the writer sets itself (the login path's own unlock) stands. */
	if (sg_table_field(w->cls, "failed_attempts") &&
	    !json_object_get(w->explicit, "failed_attempts"))
		sg_write_set(w, "failed_attempts", "0");
	if (sg_table_field(w->cls, "locked_out_on") &&
	    !json_object_get(w->explicit, "locked_out_on"))
		sg_write_set(w, "locked_out_on", "");
	return w->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* An OAuth provider (outbound) gets its redirect URL from the instance's
 * base URL when none is given: https://<instance>/oauth_redirect.do. */
static sg_err provider_defaults(struct sg_write *w)
{
	if (strcmp(sg_write_val(w, "type"), "oauth_provider") != 0 ||
	    *sg_write_val(w, "redirect_url"))
		return SG_ERR_OK;
	char *base = NULL;
	sg_err err = sg_prop_get(w->ctx, "glide.servlet.uri", &base);
	if (!err && base && *base) {
		size_t n = strlen(base);
		char url[2048];
		snprintf(url, sizeof(url), "%s%soauth_redirect.do", base,
		         base[n - 1] == '/' ? "" : "/");
		sg_write_set(w, "redirect_url", url);
	}
	free(base);
	return err ? err : (w->failed ? SG_ERR_NOMEM : SG_ERR_OK);
}

/* The profile grant type a provider's default grant type gives. */
static const char *profile_grant(const char *g)
{
	return (!strcmp(g, "authorization_code") || !strcmp(g, "password") ||
	        !strcmp(g, "client_credentials"))
	           ? g
	           : "client_credentials";
}

/* Creating an OAuth provider creates its default profile, "<name>
 * default_profile", with the provider's default grant type, as ServiceNow
 * does; changing the default grant type changes the default profile's. */
static sg_err provider_profile(struct sg_write *w)
{
	if (strcmp(sg_write_val(w, "type"), "oauth_provider") != 0)
		return SG_ERR_OK;
	const char *id = sg_write_val(w, "sys_id");
	const char *grant = profile_grant(sg_write_val(w, "default_grant_type"));
	struct sg_write_opts wo = {0};
	sg_err err = SG_ERR_OK;
	if (w->insert ||
	    (w->old && strcmp(sg_json_str(w->old, "type") ? sg_json_str(w->old, "type") : "",
	                      "oauth_provider") != 0)) {
		char name[160], pid[SG_ID_LEN + 1];
		snprintf(name, sizeof(name), "%.100s default_profile", sg_write_val(w, "name"));
		json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "oauth_entity", id,
		                       "grant_type", grant, "default", "true");
		err =
		    in ? sg_rec_insert(w->ctx, "oauth_entity_profile", in, &wo, pid) : SG_ERR_NOMEM;
		json_decref(in);
		return err;
	}
	if (!sg_write_changed(w, "default_grant_type"))
		return SG_ERR_OK;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"oauth_entity_profile\" WHERE \"oauth_entity\" = ");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, " AND \"default\" IN ('true', '1') LIMIT 10");
	char *pid = NULL;
	err = sg_conn_query_string(w->ctx->conn, &q, &pid);
	sg_sql_cleanup(&q);
	if (!err && pid && *pid) {
		json_t *in = json_pack("{s:s}", "grant_type", grant);
		err =
		    in ? sg_rec_update(w->ctx, "oauth_entity_profile", pid, in, &wo) : SG_ERR_NOMEM;
		json_decref(in);
	}
	free(pid);
	return err;
}

static sg_err bump_users(struct sg_write *w)
{
	return sg_write_bump(w, "users");
}

static sg_err bump_acl(struct sg_write *w)
{
	return sg_write_bump(w, "acl");
}

static sg_err bump_oauth(struct sg_write *w)
{
	return sg_write_bump(w, "oauth");
}

#define AFTER SG_RULE_AFTER
#define ANY   SG_OP_ANY

static const struct sg_rule auth_rules[] = {
    {"auth.password_hash", NULL, SG_RULE_PREPARE, SG_OP_WRITE, 10, hash_passwords},
    {"auth.password2", NULL, SG_RULE_PREPARE, SG_OP_WRITE, 10, encrypt_password2},
    {"auth.password2", "sys_properties", SG_RULE_BEFORE, SG_OP_WRITE, 90, encrypt_property},
    {"auth.oauth_provider", "oauth_entity", SG_RULE_BEFORE, SG_OP_INSERT, 50, provider_defaults},
    {"auth.oauth_provider", "oauth_entity", AFTER, SG_OP_WRITE, 50, provider_profile},
    {"auth.unlock", "sys_user", SG_RULE_BEFORE, SG_OP_UPDATE, 90, unlock_by_hand},
    /* users and their roles: basic.c's credentials, acl.c's effective roles */
    {"auth.counter.users", "sys_user", AFTER, ANY, 90, bump_users},
    {"auth.counter.users", "sys_user_group", AFTER, ANY, 90, bump_users},
    {"auth.counter.users", "sys_user_grmember", AFTER, ANY, 90, bump_users},
    {"auth.counter.users", "sys_user_role", AFTER, ANY, 90, bump_users},
    {"auth.counter.users", "sys_user_has_role", AFTER, ANY, 90, bump_users},
    {"auth.counter.users", "sys_user_role_contains", AFTER, ANY, 90, bump_users},
    {"auth.counter.users", "sys_group_has_role", AFTER, ANY, 90, bump_users},
    /* access controls: acl.c's compiled rules */
    {"auth.counter.acl", "sys_security_acl", AFTER, ANY, 90, bump_acl},
    {"auth.counter.acl", "sys_security_acl_role", AFTER, ANY, 90, bump_acl},
    /* OAuth: oauth.c's applications, bearer tokens and scopes */
    {"auth.counter.oauth", "oauth_entity", AFTER, ANY, 90, bump_oauth},
    {"auth.counter.oauth", "oauth_credential", AFTER, ANY, 90, bump_oauth},
    {"auth.counter.oauth", "oauth_entity_auth_scope", AFTER, ANY, 90, bump_oauth},
    {"auth.counter.oauth", "sys_api_access_scope", AFTER, ANY, 90, bump_oauth},
    {"auth.counter.oauth", "sys_auth_scope", AFTER, ANY, 90, bump_oauth},
};

sg_err sg_auth_add_rules(struct sg_model *m)
{
	sg_err err = sg_model_add_rules(m, auth_rules, sizeof(auth_rules) / sizeof(auth_rules[0]));
	return err ? err : sg_auth_add_guide_rules(m);
}
