/*
 * rules_guide.c - two write rules the integration guides need of auth's
 * tables (issue 17).
 *
 * Role containment may not loop: a row of sys_user_role_contains saying
 * that ROLE contains CONTAINED is refused when CONTAINED already contains
 * ROLE, directly or through other roles (or is ROLE).
 *
 * Deleting an application (oauth_entity) deletes what hangs on it in the
 * same transaction: its tokens (oauth_credential.peer), its auth-scope links
 * (oauth_entity_auth_scope), its profiles with their scope links and
 * requestor states, and its provider scopes.  A token of a deleted
 * application would otherwise be an orphan nobody can revoke by name.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/rules.h"
#include "core/json.h"
#include "model/rules.h"
#include "store/sql.h"
#include "store/store.h"

/* Whether role id `from` contains role id `to` through the stored rows, the
 * row being written (sys_id self) left out. */
static sg_err contains(struct sg_ctx *ctx, const char *from, const char *to, const char *self,
                       bool *yes)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "WITH RECURSIVE r(id) AS (SELECT \"contains\" FROM "
	               "\"sys_user_role_contains\" WHERE \"role\" = ");
	sg_sql_text(&q, from);
	sg_sql_raw(&q, " AND \"sys_id\" <> ");
	sg_sql_text(&q, self);
	sg_sql_raw(&q, " UNION SELECT c.\"contains\" FROM \"sys_user_role_contains\" c JOIN r ON "
	               "c.\"role\" = r.id WHERE c.\"sys_id\" <> ");
	sg_sql_text(&q, self);
	sg_sql_raw(&q, ") SELECT id FROM r WHERE id = ");
	sg_sql_text(&q, to);
	sg_sql_raw(&q, " LIMIT 1");
	char *found = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, &found);
	sg_sql_cleanup(&q);
	*yes = found != NULL;
	free(found);
	return err;
}

static sg_err no_containment_loop(struct sg_write *w)
{
	const char *role = sg_write_val(w, "role"), *inner = sg_write_val(w, "contains");
	if (!*role || !*inner)
		return SG_ERR_OK;
	bool loop = !strcmp(role, inner);
	sg_err err =
	    loop ? SG_ERR_OK : contains(w->ctx, inner, role, sg_write_val(w, "sys_id"), &loop);
	if (err || !loop)
		return err;
	sg_ctx_set_err(w->ctx, "Role containment loop: the contained role already contains %s",
	               strcmp(role, inner) ? "the containing role" : "itself");
	return SG_ERR_INVALID_INSERT;
}

/* Deletes every row of table whose field equals value. */
static sg_err delete_where(struct sg_ctx *ctx, const char *table, const char *field,
                           const char *value)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM ");
	sg_sql_ident(&q, table);
	sg_sql_raw(&q, " WHERE ");
	sg_sql_ident(&q, field);
	sg_sql_raw(&q, " = ");
	sg_sql_text(&q, value);
	json_t *rows = NULL;
	sg_err err = sg_json_rows_query(ctx->conn, &q, &rows);
	sg_sql_cleanup(&q);
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		if (err)
			break;
		err = sg_rec_delete(ctx, table, sg_json_str(r, "sys_id"));
		if (err == SG_ERR_NO_RECORD)
			err = SG_ERR_OK;
	}
	json_decref(rows);
	return err;
}

static sg_err profile_cascade(struct sg_write *w)
{
	const char *id = w->old ? sg_json_str(w->old, "sys_id") : NULL;
	if (!id || !*id)
		return SG_ERR_OK;
	sg_err err = delete_where(w->ctx, "oauth_entity_profile_scope", "oauth_entity_profile", id);
	if (!err)
		err = delete_where(w->ctx, "oauth_requestor_state", "oauth_requestor_profile", id);
	if (!err)
		err = delete_where(w->ctx, "oauth_credential", "oauth_requestor_profile", id);
	return err;
}

static sg_err entity_cascade(struct sg_write *w)
{
	const char *id = w->old ? sg_json_str(w->old, "sys_id") : NULL;
	if (!id || !*id)
		return SG_ERR_OK;
	sg_err err = delete_where(w->ctx, "oauth_credential", "peer", id);
	if (!err)
		err = delete_where(w->ctx, "oauth_entity_auth_scope", "oauth_entity", id);
	if (!err)
		err = delete_where(w->ctx, "oauth_entity_profile", "oauth_entity", id);
	if (!err)
		err = delete_where(w->ctx, "oauth_entity_scope", "oauth_entity", id);
	return err;
}

static const struct sg_rule guide_rules[] = {
    {"auth.role_contains.loop", "sys_user_role_contains", SG_RULE_BEFORE, SG_OP_WRITE, 50,
     no_containment_loop},
    {"auth.oauth_entity.cascade", "oauth_entity", SG_RULE_AFTER, SG_OP_DELETE, 40, entity_cascade},
    {"auth.oauth_profile.cascade", "oauth_entity_profile", SG_RULE_AFTER, SG_OP_DELETE, 40,
     profile_cascade},
};

sg_err sg_auth_add_guide_rules(struct sg_model *m)
{
	return sg_model_add_rules(m, guide_rules, sizeof(guide_rules) / sizeof(guide_rules[0]));
}
