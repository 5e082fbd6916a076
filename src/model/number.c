/*
 * number.c - record numbers ("INC0010001") from sys_number.
 *
 * A table's number comes from the nearest sys_number row up its hierarchy
 * (change_request has its own, a plain task uses task's); the counter in
 * sys_number_counter is bumped inside the write's transaction, so a number
 * is never handed out twice nor lost to a rolled-back write.  The numbering
 * rule fills the fields whose dictionary default is
 * "javascript:getNextObjNumberPadded()".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

sg_err sg__number_next(struct sg_ctx *ctx, const struct sg_table *t, char **out)
{
	*out = NULL;
	struct sg_json_rows rows = {.rows = json_array()};
	if (!rows.rows)
		return SG_ERR_NOMEM;
	sg_err err = SG_ERR_OK;
	const struct sg_table *owner = t;
	/* The nearest table up the chain that has a sys_number row. */
	for (; owner && !err; owner = owner->super) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q,
		           "SELECT \"prefix\", \"number\", \"maximum_digits\" FROM \"sys_number\""
		           " WHERE \"category\" = ");
		sg_sql_text(&q, owner->name);
		err = sg_conn_exec(ctx->conn, &q, sg_json_rows_add, &rows, NULL);
		sg_sql_cleanup(&q);
		if (!err && rows.failed)
			err = SG_ERR_NOMEM;
		if (json_array_size(rows.rows))
			break;
	}
	if (err || !owner) {
		json_decref(rows.rows);
		return err;
	}
	json_t *row = json_array_get(rows.rows, 0);
	long long base = atoll(sg_json_str(row, "number"));
	int digits = atoi(sg_json_str(row, "maximum_digits"));
	char *prefix = strdup(sg_json_str(row, "prefix"));
	json_decref(rows.rows);
	if (!prefix)
		return SG_ERR_NOMEM;

	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"number\" FROM \"sys_number_counter\" WHERE \"table\" = ");
	sg_sql_text(&q, owner->name);
	char *cur = NULL;
	err = sg_conn_query_string(ctx->conn, &q, &cur);
	sg_sql_cleanup(&q);
	if (err)
		goto out;
	/* Raising the base above the counter takes effect; lowering it does not. */
	long long counter = cur ? atoll(cur) : 0;
	long long next = (counter > base ? counter : base) + 1;
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "%lld", next);
	if (cur) {
		sg_sql_init(&q);
		sg_sql_raw(&q, "UPDATE \"sys_number_counter\" SET \"number\" = ");
		sg_sql_int(&q, next);
		sg_sql_raw(&q, " WHERE \"table\" = ");
		sg_sql_text(&q, owner->name);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	} else {
		const struct sg_table *ct = sg_dict_table(ctx->dict, "sys_number_counter");
		json_t *rec = json_pack("{s:s, s:s}", "table", owner->name, "number", nbuf);
		err = !rec ? SG_ERR_NOMEM : ct ? sg__insert_plain(ctx, ct, rec) : SG_ERR_INTERNAL;
		json_decref(rec);
	}
	if (err)
		goto out;
	if (asprintf(out, "%s%0*lld", prefix, digits > 0 && digits < 20 ? digits : 7, next) < 0) {
		*out = NULL;
		err = SG_ERR_NOMEM;
	}
out:
	free(cur);
	free(prefix);
	return err;
}

bool sg__default_is_number(const char *dflt)
{
	if (!dflt || strncmp(dflt, "javascript:", 11) != 0)
		return false;
	const char *js = dflt + 11;
	while (*js == ' ')
		js++;
	return !strncmp(js, "getNextObjNumberPadded()", 24);
}

sg_err sg__number_assign(struct sg_write *w)
{
	for (size_t i = 0; i < w->cls->nfields; i++) {
		const struct sg_field *f = w->cls->fields[i];
		if (!sg_field_is_stored(f) || json_object_get(w->explicit, f->element) ||
		    !sg__default_is_number(sg_dict_default(w->ctx->dict, w->cls, f)))
			continue;
		char *n;
		sg_err err = sg__number_next(w->ctx, w->cls, &n);
		if (err)
			return err;
		if (n)
			sg_write_set(w, f->element, n);
		free(n);
	}
	return SG_ERR_OK;
}
