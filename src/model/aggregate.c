/*
 * aggregate.c - COUNT, AVG, MIN, MAX and SUM over the rows a query matches,
 * optionally grouped: what the Aggregate (stats) API serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/internal.h"

static const char *sql_fn(const char *fn)
{
	static const char *fns[][2] = {
	    {"avg", "AVG"}, {"min", "MIN"}, {"max", "MAX"}, {"sum", "SUM"}, {"count", "COUNT"}};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (!strcasecmp(fn, fns[i][0]))
			return fns[i][1];
	return NULL;
}

/* Appends FN("t"."field") (COUNT(*) for count); false when the field is
 * not a stored field of t or the function is unknown.  SUM and AVG of a
 * text column read its values as SQLite does, on either engine (the
 * dialect's text_aggregate); number: a value to compare or sort by. */
static bool agg_expr(struct sg_sql *q, const struct sg_dialect *d, const struct sg_table *t,
                     const char *fn, const char *field, bool number)
{
	const char *f = sql_fn(fn);
	if (!f)
		return false;
	if (!strcmp(f, "COUNT")) {
		sg_sql_raw(q, "COUNT(*)");
		return true;
	}
	const struct sg_field *fd = sg_table_field(t, field);
	if (!fd || !sg_field_is_stored(fd))
		return false;
	enum sg_coltype col = sg_ftype_column(fd->type);
	if (d->text_aggregate && (col == SG_COL_TEXT || col == SG_COL_ID) &&
	    (!strcmp(f, "SUM") || !strcmp(f, "AVG"))) {
		d->text_aggregate(q, f, "t", fd->element, number);
		return true;
	}
	sg_sql_raw(q, f);
	sg_sql_raw(q, "(");
	sg_sql_qual(q, "t", fd->element);
	sg_sql_raw(q, ")");
	return true;
}

static bool cmp_op(const char *op)
{
	static const char *ops[] = {"=", "!=", ">", ">=", "<", "<="};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

struct agg_reader {
	const struct sg_agg_request *r;
	size_t ngroup;
	json_t *out;
	bool failed; /* out of memory: the rows are incomplete */
};

/* Sets key of obj to a new string of v; false when memory ran out. */
static bool put_str(json_t *obj, const char *key, const char *v)
{
	return json_object_set_new(obj, key, json_string(v)) == 0;
}

static int read_agg(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct agg_reader *a = ud;
	json_t *row = json_object(), *groups = json_array();
	bool ok = row && groups && !json_array_append_new(a->out, row);
	if (!ok) {
		json_decref(row);
		json_decref(groups);
		a->failed = true;
		return 1;
	}
	ok = !json_object_set_new(row, "groups", groups);
	int col = 0;
	for (size_t i = 0; ok && i < a->ngroup && col < ncol; i++, col++)
		ok = !json_array_append_new(groups, json_string(vals[col] ? vals[col] : ""));
	if (ok && a->r->count && col < ncol) {
		ok = put_str(row, "count", vals[col] ? vals[col] : "0");
		col++;
	}
	for (size_t i = 0; ok && i < a->r->naggs && col < ncol; i++, col++) {
		const struct sg_agg *ag = &a->r->aggs[i];
		if (!ag->valid) {
			col--;
			continue;
		}
		json_t *bucket = json_object_get(row, ag->fn);
		if (!bucket) {
			bucket = json_object();
			if (json_object_set_new(row, ag->fn, bucket)) {
				ok = false;
				break;
			}
		}
		char buf[64];
		const char *v = vals[col] ? vals[col] : "";
		if (!strcmp(ag->fn, "avg") && *v) {
			snprintf(buf, sizeof(buf), "%.4f", strtod(v, NULL)); /* "1.2500" */
			v = buf;
		}
		ok = put_str(bucket, ag->field, v);
	}
	if (!ok) {
		a->failed = true;
		return 1;
	}
	return 0;
}

sg_err sg_rec_aggregate(struct sg_ctx *ctx, const char *table, struct sg_agg_request *r,
                        json_t **rows)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", table);
		return SG_ERR_INVALID_TABLE;
	}
	const struct sg_dialect *d = sg_conn_dialect(ctx->conn);
	struct sg_sql q, group;
	sg_sql_init(&q);
	sg_sql_init(&group);
	/* Group-by fields that are not stored fields of t are ignored. */
	size_t ngroup = 0;
	for (size_t i = 0; i < r->ngroup; i++) {
		const struct sg_field *f = sg_table_field(t, r->group_by[i]);
		if (!f || !sg_field_is_stored(f))
			continue;
		r->group_by[ngroup++] = r->group_by[i];
		sg_sql_raw(&group, ngroup > 1 ? ", " : "");
		sg_sql_qual(&group, "t", f->element);
	}
	r->ngroup = ngroup;
	sg_sql_raw(&q, "SELECT ");
	bool any = false;
	if (ngroup) {
		sg_sql_append(&q, &group);
		any = true;
	}
	if (r->count) {
		sg_sql_raw(&q, any ? ", COUNT(*)" : "COUNT(*)");
		any = true;
	}
	for (size_t i = 0; i < r->naggs; i++) {
		struct sg_sql_mark m = sg_sql_mark(&q);
		sg_sql_raw(&q, any ? ", " : "");
		r->aggs[i].valid = agg_expr(&q, d, t, r->aggs[i].fn, r->aggs[i].field, false);
		if (!r->aggs[i].valid)
			sg_sql_rewind(&q, m);
		else
			any = true;
	}
	if (!any)
		sg_sql_raw(&q, "COUNT(*)");
	sg_sql_raw(&q, " FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " t WHERE ");
	bool invalid, none;
	struct sg_qenv env;
	sg_ctx_qenv(ctx, &env);
	sg_err err = sg_prop_bool(ctx, "glide.invalid_query.returns_no_rows", false, &none);
	if (!err)
		err = sg_query_compile_where(&env, t, r->query, "t", none, &q, &invalid);
	sg_query_class_filter(&q, t, "t");
	if (r->rows_where) {
		sg_sql_raw(&q, " AND ");
		sg_sql_append(&q, r->rows_where);
	}
	if (ngroup) {
		sg_sql_raw(&q, " GROUP BY ");
		sg_sql_append(&q, &group);
	}
	bool first = true;
	for (size_t i = 0; ngroup && i < r->nhaving; i++) {
		const struct sg_having *h = &r->having[i];
		struct sg_sql_mark m = sg_sql_mark(&q);
		sg_sql_raw(&q, first ? " HAVING " : " AND ");
		if (!cmp_op(h->op) || !agg_expr(&q, d, t, h->fn, h->field, true)) {
			sg_sql_rewind(&q, m);
			continue;
		}
		sg_sql_raw(&q, " ");
		sg_sql_raw(&q, h->op);
		sg_sql_raw(&q, " CAST(");
		sg_sql_text(&q, h->value);
		/* SQLite's REAL is 8 bytes: PostgreSQL's is 4 */
		sg_sql_raw(&q, " AS DOUBLE PRECISION)");
		first = false;
	}
	if (ngroup) {
		sg_sql_raw(&q, " ORDER BY ");
		for (size_t i = 0; i < r->norder; i++) {
			struct sg_sql_mark m = sg_sql_mark(&q);
			const struct sg_agg_order *o = &r->order[i];
			bool ok = false;
			for (size_t g = 0; g < ngroup && !ok; g++)
				if (!strcmp(o->key, r->group_by[g])) {
					sg_sql_qual(&q, "t", o->key);
					ok = true;
				}
			if (!ok)
				ok = agg_expr(&q, d, t, o->key, o->field, true);
			if (!ok) {
				sg_sql_rewind(&q, m);
				continue;
			}
			sg_sql_raw(&q, o->desc ? d->order_desc : d->order_asc);
			sg_sql_raw(&q, ", ");
		}
		sg_sql_append(&q, &group);
	}
	struct agg_reader a = {.r = r, .ngroup = ngroup, .out = NULL};
	if (!err && ((sg_buf_failed(&q.text) && !q.text.too_large) || q.nomem))
		err = SG_ERR_NOMEM;
	if (!err && !(a.out = json_array()))
		err = SG_ERR_NOMEM;
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, read_agg, &a, NULL);
	if (!err && a.failed)
		err = SG_ERR_NOMEM;
	sg_sql_cleanup(&q);
	sg_sql_cleanup(&group);
	if (err) {
		json_decref(a.out);
		return err;
	}
	*rows = a.out;
	return SG_ERR_OK;
}
