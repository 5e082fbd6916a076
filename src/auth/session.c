/*
 * session.c - the browser console's sessions, rows of sys_user_session
 * (session.h).  Written with plain SQL in short write transactions: a
 * session is no business record (no rules, no audit), and a sign-in must
 * not wait on anything but the store.
 */
#include "auth/session.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "auth/password.h"
#include "core/json.h"
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"

/* Random bytes in an id or token: 256 bits. */
#define TOKEN_BYTES 32
/* The last use is written when it is older than this many seconds. */
#define TOUCH_EVERY 60

/* The fields of one session joined with its user's. */
struct row {
	bool found, oom;
	char sys_id[SG_ID_LEN + 1];
	char ck[SG_SESSION_TOKEN_SIZE];
	char last[SG_DT_LEN + 1];
	struct sg_user user;
	bool usable;
};

static int read_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct row *r = ud;
	bool active = true, locked = false, ws_only = false;
	r->found = true;
	for (int i = 0; i < ncol; i++) {
		const char *n = names[i], *v = vals[i] ? vals[i] : "";
		if (!strcmp(n, "sys_id"))
			snprintf(r->sys_id, sizeof(r->sys_id), "%s", v);
		else if (!strcmp(n, "csrf_token"))
			snprintf(r->ck, sizeof(r->ck), "%s", v);
		else if (!strcmp(n, "last_accessed"))
			snprintf(r->last, sizeof(r->last), "%s", v);
		else if (!strcmp(n, "user"))
			snprintf(r->user.sys_id, sizeof(r->user.sys_id), "%s", v);
		else if (!strcmp(n, "user_name"))
			snprintf(r->user.user_name, sizeof(r->user.user_name), "%s", v);
		else if (!strcmp(n, "name"))
			snprintf(r->user.name, sizeof(r->user.name), "%s", v);
		else if (!strcmp(n, "time_zone"))
			snprintf(r->user.time_zone, sizeof(r->user.time_zone), "%s", v);
		else if (!strcmp(n, "active"))
			active = sg_str_bool(v, true);
		else if (!strcmp(n, "locked_out"))
			locked = sg_str_bool(v, false);
		else if (!strcmp(n, "web_service_access_only"))
			ws_only = sg_str_bool(v, false);
	}
	r->usable = active && !locked && !ws_only && r->user.user_name[0];
	return 0;
}

/* Runs q (a change) in a write transaction of its own. */
static sg_err write_one(struct sg_ctx *ctx, const struct sg_sql *q)
{
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		return err;
	err = sg_conn_exec(ctx->conn, q, NULL, NULL, NULL);
	if (!err)
		err = sg_model_bump(ctx, "data");
	if (err)
		sg_conn_rollback(ctx->conn);
	else
		err = sg_conn_commit(ctx->conn);
	return err;
}

static sg_err delete_row(struct sg_ctx *ctx, const char *sys_id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM \"sys_user_session\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	sg_err err = write_one(ctx, &q);
	sg_sql_cleanup(&q);
	return err;
}

sg_err sg_session_new(struct sg_auth *a, const struct sg_user *u, char id[SG_SESSION_TOKEN_SIZE],
                      char ck[SG_SESSION_TOKEN_SIZE])
{
	sg_random_token(id, SG_SESSION_TOKEN_SIZE, TOKEN_BYTES);
	sg_random_token(ck, SG_SESSION_TOKEN_SIZE, TOKEN_BYTES);
	char *hash = sg_secret_hash(id);
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	json_t *in = hash ? json_pack("{s:s, s:s, s:s, s:s}", "id", hash, "user", u->sys_id,
	                              "csrf_token", ck, "last_accessed", now)
	                  : NULL;
	free(hash);
	if (!in)
		return SG_ERR_NOMEM;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (!err) {
		char sys_id[SG_ID_LEN + 1];
		struct sg_write_opts wo = {0};
		err = sg_rec_insert(&ctx, "sys_user_session", in, &wo, sys_id);
		sg_ctx_end(&ctx);
	}
	json_decref(in);
	return err;
}

sg_err sg_session_check(struct sg_auth *a, const char *id, struct sg_user *u,
                        char ck[SG_SESSION_TOKEN_SIZE])
{
	if (!id || !*id || strlen(id) >= SG_SESSION_TOKEN_SIZE)
		return SG_ERR_UNAUTHENTICATED;
	char *hash = sg_secret_hash(id);
	if (!hash)
		return SG_ERR_NOMEM;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (err) {
		free(hash);
		return err;
	}
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "SELECT s.\"sys_id\", s.\"csrf_token\", s.\"last_accessed\", s.\"user\", "
	           "u.\"user_name\", u.\"name\", u.\"time_zone\", u.\"active\", "
	           "u.\"locked_out\", u.\"web_service_access_only\" "
	           "FROM \"sys_user_session\" s JOIN \"sys_user\" u ON u.\"sys_id\" = s.\"user\" "
	           "WHERE s.\"id\" = ");
	sg_sql_text(&q, hash);
	struct row r = {0};
	err = sg_conn_exec(ctx.conn, &q, read_row, &r, NULL);
	sg_sql_cleanup(&q);
	free(hash);
	long long minutes = SG_SESSION_DEFAULT_TIMEOUT;
	if (!err && r.found)
		err = sg_prop_int(&ctx, "glide.ui.session_timeout", SG_SESSION_DEFAULT_TIMEOUT,
		                  &minutes);
	if (err || !r.found)
		goto out;
	if (minutes <= 0)
		minutes = SG_SESSION_DEFAULT_TIMEOUT;
	int64_t now = sg_time_now(), last = 0;
	bool parsed = sg_time_parse(r.last, &last);
	if (!parsed || now - last > minutes * 60 || !r.usable) {
		/* expired, or its user may no longer sign in: the session is over */
		err = delete_row(&ctx, r.sys_id);
		r.found = false;
		goto out;
	}
	if (now - last >= TOUCH_EVERY) {
		char at[SG_DT_LEN + 1];
		sg_time_format(now, at);
		sg_sql_init(&q);
		sg_sql_raw(&q, "UPDATE \"sys_user_session\" SET \"last_accessed\" = ");
		sg_sql_text(&q, at);
		sg_sql_raw(&q, " WHERE \"sys_id\" = ");
		sg_sql_text(&q, r.sys_id);
		err = write_one(&ctx, &q);
		sg_sql_cleanup(&q);
	}
out:
	sg_ctx_end(&ctx);
	if (err)
		return err;
	if (!r.found)
		return SG_ERR_UNAUTHENTICATED;
	*u = r.user;
	memcpy(ck, r.ck, SG_SESSION_TOKEN_SIZE);
	return SG_ERR_OK;
}

sg_err sg_session_end(struct sg_auth *a, const char *id)
{
	if (!id || !*id || strlen(id) >= SG_SESSION_TOKEN_SIZE)
		return SG_ERR_OK;
	char *hash = sg_secret_hash(id);
	if (!hash)
		return SG_ERR_NOMEM;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, a->model, NULL);
	if (!err) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM \"sys_user_session\" WHERE \"id\" = ");
		sg_sql_text(&q, hash);
		err = write_one(&ctx, &q);
		sg_sql_cleanup(&q);
		sg_ctx_end(&ctx);
	}
	free(hash);
	return err;
}

bool sg_session_ck_matches(const char *ck, const char *sent)
{
	size_t n = strlen(ck);
	return n && sent && strlen(sent) == n && !sodium_memcmp(ck, sent, n);
}
