/*
 * reference.c - a reference written with a value that names no record
 * (issue 17).  The record layer has looked the value up as a sys_id and as
 * the referenced table's display value; what is left matches nothing.  What
 * the platform does then is not documented: an integrator reports a record
 * created with the reference empty when an invalid sys_id was sent
 * (observed), and nothing says such a write is refused.  The system property
 * snowglobe.reference.unmatched chooses:
 *
 *   clear  (default) the field is stored empty, the rest of the write goes on
 *   keep   the value is stored as given (what nowd did before)
 *   refuse the write fails: 403 "Operation Failed", naming the field
 *
 * A sys_id-shaped value is checked against the referenced table (any class
 * under its root) only here, so a reference to an existing record costs the
 * one lookup by primary key.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "model/internal.h"
#include "query/query.h"
#include "store/sql.h"
#include "store/store.h"

#define PROP "snowglobe.reference.unmatched"

static sg_err copy(const char *v, char **out)
{
	*out = strdup(v);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* Whether a record of f's referenced table has sys_id v. */
static sg_err exists(struct sg_ctx *ctx, const struct sg_table *rt, const char *v, bool *yes)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM ");
	sg_sql_ident(&q, rt->root->name);
	sg_sql_raw(&q, " t WHERE t.\"sys_id\" = ");
	sg_sql_text(&q, v);
	sg_query_class_filter(&q, rt, "t");
	sg_sql_raw(&q, " LIMIT 1");
	char *id = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, &id);
	sg_sql_cleanup(&q);
	*yes = id != NULL;
	free(id);
	return err;
}

sg_err sg__unmatched_reference(struct sg_ctx *ctx, const struct sg_field *f, const char *v,
                               char **out)
{
	*out = NULL;
	const struct sg_table *rt = f->reference ? sg_dict_table(ctx->dict, f->reference) : NULL;
	if (!rt) /* a table the dictionary does not know: nothing to check against */
		return copy(v, out);
	if (sg_id_is_valid(v) || sg_id_is_key(v)) {
		bool found;
		sg_err err = exists(ctx, rt, v, &found);
		if (err || found)
			return err ? err : copy(v, out);
	}
	char *mode = NULL;
	sg_err err = sg_prop_get(ctx, PROP, &mode);
	if (err)
		return err;
	if (mode && !strcasecmp(mode, "keep"))
		err = copy(v, out);
	else if (mode && !strcasecmp(mode, "refuse")) {
		sg_ctx_set_err(ctx, "Invalid reference: %s names no %s record", f->element,
		               rt->name);
		err = SG_ERR_INVALID_INSERT;
	} else
		err = copy("", out);
	free(mode);
	return err;
}
