/*
 * secret_rotate.c - nowctl keys rotate: a new instance key, and every sealed
 * value re-sealed under it (secret_rotate.h).
 *
 * Order, so that a process killed at any point loses nothing:
 *   1. the new key file is written (synced), then made current by renaming
 *      a pointer file over the old one: from then on every process seals
 *      new values under it, and reads old ones with the key their prefix
 *      names;
 *   2. every sealed value under another key is re-sealed, row by row, each
 *      update conditional on the value being unchanged since it was read
 *      (a write of the same row by nowd meanwhile wins), 200 rows a
 *      transaction;
 *   3. the passes repeat until one finds nothing left (a process that read
 *      the old pointer just before step 1 may have sealed one more value
 *      under the old key);
 *   4. only then are the old key files removed.
 * Killed before 4, the old key files are still there and every value is
 * readable; running keys rotate again finishes the work under a newer key.
 */
#include "auth/secret_rotate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/secret.h"
#include "core/json.h"
#include "core/log.h"
#include "dict/dict.h"
#include "store/sql.h"
#include "store/store.h"

#define BATCH      200
#define MAX_PASSES 5

struct pair {
	char *id, *value;
};

struct collect {
	struct pair *p;
	size_t n, cap;
	bool failed;
};

static int on_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct collect *c = ud;
	if (ncol < 2 || !vals[0] || !vals[1])
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct pair *p = realloc(c->p, cap * sizeof(*p));
		if (!p) {
			c->failed = true;
			return 1;
		}
		c->p = p;
		c->cap = cap;
	}
	c->p[c->n].id = strdup(vals[0]);
	c->p[c->n].value = strdup(vals[1]);
	if (!c->p[c->n].id || !c->p[c->n].value) {
		free(c->p[c->n].id);
		free(c->p[c->n].value);
		c->failed = true;
		return 1;
	}
	c->n++;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->p[i].id);
		free(c->p[i].value);
	}
	free(c->p);
	memset(c, 0, sizeof(*c));
}

/* Re-seals the values of table.column not under kid; counts in r. */
static sg_err reseal_column(struct sg_ctx *ctx, const char *table, const char *column,
                            const char *kid, struct sg_secret_rotation *r, long long *done)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", ");
	sg_sql_ident(&q, column);
	sg_sql_raw(&q, " FROM ");
	sg_sql_ident(&q, table);
	sg_sql_raw(&q, " WHERE substr(");
	sg_sql_ident(&q, column);
	sg_sql_raw(&q, ", 1, 5) = ");
	sg_sql_text(&q, SG_SECRET_PREFIX);
	struct collect c = {0};
	sg_err err = sg_conn_exec(ctx->conn, &q, on_row, &c, NULL);
	sg_sql_cleanup(&q);
	if (!err && c.failed)
		err = SG_ERR_NOMEM;
	for (size_t i = 0; !err && i < c.n; i += BATCH) {
		err = sg_conn_begin(ctx->conn, true);
		if (err)
			break;
		for (size_t k = i; !err && k < c.n && k < i + BATCH; k++) {
			char vkid[SG_SECRET_KID_LEN + 1];
			if (sg_secret_kid(c.p[k].value, vkid) == SG_ERR_OK && !strcmp(vkid, kid))
				continue;
			char *clear = NULL, *sealed = NULL;
			err = sg_secret_decrypt(ctx, c.p[k].value, &clear);
			if (err && err != SG_ERR_NOMEM) {
				/* logged by secret.c; left as it is */
				r->unreadable++;
				err = SG_ERR_OK;
				continue;
			}
			if (!err)
				err = sg_secret_encrypt(ctx, clear, &sealed);
			if (clear) {
				memset(clear, 0, strlen(clear));
				free(clear);
			}
			if (!err) {
				sg_sql_init(&q);
				sg_sql_raw(&q, "UPDATE ");
				sg_sql_ident(&q, table);
				sg_sql_raw(&q, " SET ");
				sg_sql_ident(&q, column);
				sg_sql_raw(&q, " = ");
				sg_sql_text(&q, sealed);
				sg_sql_raw(&q, " WHERE \"sys_id\" = ");
				sg_sql_text(&q, c.p[k].id);
				sg_sql_raw(&q, " AND ");
				sg_sql_ident(&q, column);
				sg_sql_raw(&q, " = ");
				sg_sql_text(&q, c.p[k].value);
				long long changes = 0;
				err = sg_conn_exec(ctx->conn, &q, NULL, NULL, &changes);
				sg_sql_cleanup(&q);
				*done += changes;
			}
			free(sealed);
		}
		/* caches of properties and OAuth read these values again */
		if (!err)
			err = sg_model_bump(ctx, "props");
		if (!err)
			err = sg_model_bump(ctx, "oauth");
		if (!err)
			err = sg_model_bump(ctx, "data");
		if (err)
			sg_conn_rollback(ctx->conn);
		else
			err = sg_conn_commit(ctx->conn);
	}
	collect_free(&c);
	return err;
}

/* One pass over every secret column (password and password2 fields: a
 * client secret is a password field sealed two-way) and sys_properties'
 * values. */
static sg_err pass(struct sg_ctx *ctx, const char *kid, struct sg_secret_rotation *r,
                   long long *done)
{
	*done = 0;
	r->unreadable = 0;
	const struct sg_dict *d = ctx->dict;
	sg_err err = SG_ERR_OK;
	for (size_t i = 0; !err && i < d->ntables; i++) {
		const struct sg_table *t = d->list[i];
		for (size_t k = 0; !err && k < t->nown; k++) {
			const struct sg_field *f = t->own[k];
			if (sg_field_is_secret(f) && sg_field_is_stored(f))
				err = reseal_column(ctx, t->root->name, f->element, kid, r, done);
		}
	}
	if (!err)
		err = reseal_column(ctx, "sys_properties", "value", kid, r, done);
	return err;
}

sg_err sg_secret_rotate(struct sg_ctx *ctx, struct sg_secret_rotation *r, char *msg,
                        size_t msg_size)
{
	memset(r, 0, sizeof(*r));
	if (msg && msg_size)
		msg[0] = '\0';
	if (sg_secret_key_from_env()) {
		if (msg)
			snprintf(
			    msg, msg_size,
			    "the instance key comes from %s: rotation is refused (the database "
			    "cannot say which processes hold that key).  To rotate: write the "
			    "key's 32 bytes to keys/<database name>.key beside the database "
			    "(mode 0600), unset %s for nowctl and nowd, run keys rotate; the "
			    "key files take over from the variable",
			    SG_SECRET_ENV, SG_SECRET_ENV);
		return SG_ERR_BAD_PARAM;
	}
	/* the current key must exist and open before anything changes */
	unsigned char probe[SG_SECRET_KEY_LEN];
	sg_err err = sg_secret_key(ctx, true, probe);
	memset(probe, 0, sizeof(probe));
	if (!err)
		err = sg_secret_new_current(ctx, r->kid);
	if (err) {
		if (msg)
			snprintf(msg, msg_size, "no new key could be made (see the log)");
		return err;
	}
	long long done = 0;
	do {
		err = pass(ctx, r->kid, r, &done);
		r->resealed += done;
		r->passes++;
	} while (!err && done > 0 && r->passes < MAX_PASSES);
	if (!err && done == 0 && r->unreadable == 0)
		err = sg_secret_retire(ctx, r->kid, &r->removed);
	else if (!err && msg)
		snprintf(msg, msg_size,
		         "%lld value(s) could not be read or kept changing: the old key files are "
		         "kept",
		         r->unreadable);
	if (err && msg && !*msg)
		snprintf(msg, msg_size, "stopped: %s (the old keys are kept; run it again)",
		         sg_err_name(err));
	return err;
}
