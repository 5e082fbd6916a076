/*
 * stats.c - the Aggregate API: GET /api/now/[v1/]stats/{table}
 * (reference 3.1): counts, averages, minima, maxima and sums of the rows a
 * query matches, grouped and filtered by HAVING on request.  Every number is
 * a string; averages carry four decimals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/render.h"
#include "auth/acl.h"
#include "core/json.h"
#include "core/util.h"
#include "query/query.h"

#define MAX_ITEMS 64

/* Splits a comma list into at most max trimmed items written into buf. */
static size_t split(const char *s, char items[][128], size_t max)
{
	size_t n = 0;
	while (s && *s && n < max) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		while (len && *s == ' ') {
			s++;
			len--;
		}
		while (len && s[len - 1] == ' ')
			len--;
		if (len && len < 128) {
			memcpy(items[n], s, len);
			items[n][len] = '\0';
			n++;
		}
		s = comma ? comma + 1 : NULL;
	}
	return n;
}

/* Copies src into dst, cut to fit. */
static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%.*s", (int)size - 1, src);
}

/* Adds fn of each field listed in param; items is scratch for MAX_ITEMS. */
static void add_aggs(const struct sg_req *req, const char *param, const char *fn, char items[][128],
                     struct sg_agg *aggs, size_t *n)
{
	size_t k = split(sg_req_arg(req, param), items, MAX_ITEMS);
	for (size_t i = 0; i < k && *n < MAX_ITEMS * 4; i++) {
		copy(aggs[*n].fn, sizeof(aggs[*n].fn), fn);
		copy(aggs[*n].field, sizeof(aggs[*n].field), items[i]);
		(*n)++;
	}
}

/* Splits "a^b^c^d" into up to 4 parts. */
static int carets(const char *s, char parts[4][128])
{
	int n = 0;
	while (s && n < 4) {
		const char *c = strchr(s, '^');
		size_t len = c ? (size_t)(c - s) : strlen(s);
		snprintf(parts[n++], 128, "%.*s", (int)(len < 127 ? len : 127), s);
		s = c ? c + 1 : NULL;
	}
	return n;
}

/* row's aggregates without its "groups": a new reference, NULL when out of memory. */
static json_t *stats_object(json_t *row)
{
	json_t *stats = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(row, key, v)
	{
		if (stats && strcmp(key, "groups") != 0 && json_object_set(stats, key, v)) {
			json_decref(stats);
			stats = NULL;
		}
	}
	return stats;
}

/* *shown: whether the display value of reference f holding v may be shown:
 * the referenced record readable and its display field too, as for a
 * dot-walk in the Table API's sysparm_fields (api/render.c). */
static sg_err ref_shown(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_field *f,
                        const char *v, bool *shown)
{
	*shown = true;
	const struct sg_table *rt =
	    f && f->type == SG_FT_REFERENCE ? sg_dict_table(ctx->dict, f->reference) : NULL;
	if (!rt || !*v)
		return SG_ERR_OK;
	json_t *ref = json_pack("{s:s}", "sys_id", v);
	if (!ref)
		return SG_ERR_NOMEM;
	sg_err err = sg_acl_record(as, rt, SG_ACL_READ, ref, shown);
	if (!err && *shown && rt->display)
		err = sg_acl_field(as, rt, rt->display->element, SG_ACL_READ, ref, shown);
	json_decref(ref);
	return err;
}

/* One group's "groupby_fields": {value, field[, display_value]} for each
 * grouped field; a reference the user may not read shows an empty display
 * value.  A new reference in *out; NOMEM, the ACLs' error, or the display
 * value's error (500). */
static sg_err group_fields(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_table *t,
                           const struct sg_agg_request *r, enum sg_dv dv, json_t *row, json_t **out)
{
	json_t *fields = json_array();
	json_t *vals = json_object_get(row, "groups");
	sg_err err = fields ? SG_ERR_OK : SG_ERR_NOMEM;
	for (size_t g = 0; !err && g < r->ngroup; g++) {
		const char *v = json_string_value(json_array_get(vals, g));
		json_t *gf = json_pack("{s:s, s:s}", "value", v ? v : "", "field", r->group_by[g]);
		if (gf && dv != SG_DV_FALSE) {
			const struct sg_field *f = sg_table_field(t, r->group_by[g]);
			bool shown;
			err = ref_shown(ctx, as, f, v ? v : "", &shown);
			char *d = err     ? NULL
			          : shown ? sg_rec_display(ctx, t, f, "", v ? v : "")
			                  : strdup("");
			if (!err &&
			    (!d || json_object_set_new(gf, "display_value", json_string(d))))
				err = SG_ERR_NOMEM;
			free(d);
		}
		if (!gf || json_array_append_new(fields, gf))
			err = SG_ERR_NOMEM;
	}
	if (err) {
		json_decref(fields);
		fields = NULL;
	}
	*out = fields;
	return err;
}

/* SG_ERR_ACL_QUERY_FIELD when field (empty: none) may not be aggregated. */
static sg_err check_field(struct sg_auth_session *as, const struct sg_table *t, const char *field)
{
	bool ok = true;
	sg_err err = *field ? sg_acl_read_path(as, t, field, &ok) : SG_ERR_OK;
	return !err && !ok ? SG_ERR_ACL_QUERY_FIELD : err;
}

sg_err sg_stats_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const struct sg_table *t;
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = sg_api_read_query(ctx, as, req, sg_req_param(req, "table"), &t, &q);
	if (err) {
		sg_query_cleanup(&q);
		return err;
	}

	/* The request's scratch, freed with it. */
	struct sg_arena *a = &req->arena;
	struct sg_agg *aggs = sg_arena_alloc(a, MAX_ITEMS * 4 * sizeof(*aggs));
	struct sg_having *having = sg_arena_alloc(a, MAX_ITEMS * sizeof(*having));
	struct sg_agg_order *order = sg_arena_alloc(a, MAX_ITEMS * sizeof(*order));
	char(*groups)[128] = sg_arena_alloc(a, MAX_ITEMS * sizeof(*groups));
	char(*items)[128] = sg_arena_alloc(a, MAX_ITEMS * sizeof(*items));
	const char **group_ptrs = sg_arena_alloc(a, MAX_ITEMS * sizeof(*group_ptrs));
	if (!aggs || !having || !order || !groups || !items || !group_ptrs) {
		sg_query_cleanup(&q);
		return SG_ERR_NOMEM;
	}
	struct sg_agg_request r = {
	    .query = &q, .aggs = aggs, .having = having, .order = order, .group_by = group_ptrs};
	r.count = sg_str_bool(sg_req_arg(req, "sysparm_count"), false);
	add_aggs(req, "sysparm_avg_fields", "avg", items, aggs, &r.naggs);
	add_aggs(req, "sysparm_min_fields", "min", items, aggs, &r.naggs);
	add_aggs(req, "sysparm_max_fields", "max", items, aggs, &r.naggs);
	add_aggs(req, "sysparm_sum_fields", "sum", items, aggs, &r.naggs);
	r.ngroup = split(sg_req_arg(req, "sysparm_group_by"), groups, MAX_ITEMS);
	for (size_t i = 0; i < r.ngroup; i++)
		group_ptrs[i] = groups[i];
	bool grouped = r.ngroup > 0;
	size_t nh = split(sg_req_arg(req, "sysparm_having"), items, MAX_ITEMS);
	for (size_t i = 0; i < nh; i++) {
		char p[4][128];
		if (carets(items[i], p) != 4)
			continue;
		struct sg_having *h = &having[r.nhaving++];
		copy(h->fn, sizeof(h->fn), p[0]);
		copy(h->field, sizeof(h->field), p[1]);
		copy(h->op, sizeof(h->op), p[2]);
		copy(h->value, sizeof(h->value), p[3]);
	}
	const char *ob = sg_req_arg(req, "sysparm_order_by");
	size_t no = split(ob ? ob : sg_req_arg(req, "sysparm_orderby"), items, MAX_ITEMS);
	for (size_t i = 0; i < no; i++) {
		char p[4][128];
		int np = carets(items[i], p);
		struct sg_agg_order *o = &order[r.norder++];
		memset(o, 0, sizeof(*o));
		copy(o->key, sizeof(o->key), p[0]);
		for (int k = 1; k < np; k++) {
			if (!strcasecmp(p[k], "DESC"))
				o->desc = true;
			else
				copy(o->field, sizeof(o->field), p[k]);
		}
	}
	/* Every field the aggregate reads passes the Table API's query-field
	 * check (403 as for sysparm_query); password fields never do. */
	for (size_t i = 0; !err && i < r.naggs; i++)
		err = check_field(as, t, aggs[i].field);
	for (size_t i = 0; !err && i < r.ngroup; i++)
		err = check_field(as, t, group_ptrs[i]);
	for (size_t i = 0; !err && i < r.nhaving; i++)
		err = check_field(as, t, having[i].field);
	for (size_t i = 0; !err && i < r.norder; i++) {
		err = check_field(as, t, order[i].key);
		if (!err)
			err = check_field(as, t, order[i].field);
	}
	/* Rows the user may not read are neither counted nor grouped: the
	 * table's read ACLs join the query when they depend on the row. */
	struct sg_sql rows_where;
	sg_sql_init(&rows_where);
	int decision = 1;
	if (!err)
		err = sg_acl_read_uniform(as, t, &decision);
	if (!err && decision == 0)
		sg_sql_raw(&rows_where, "1=0");
	if (!err && decision < 0)
		err = sg_acl_read_where(as, t, "t", &rows_where);
	if (!err && decision <= 0)
		r.rows_where = &rows_where;
	if (!err && !r.count && r.naggs == 0 && !grouped) {
		/* The platform computes nothing; a 400 tells the caller why (the
		 * body follows the Go SDK's mock of it; uncertain). */
		err = SG_ERR_NO_AGGREGATE;
	}
	json_t *rows = NULL, *out = NULL;
	if (!err)
		err = sg_rec_aggregate(ctx, t->name, &r, &rows);
	enum sg_dv dv = sg_render_parse_dv(sg_req_arg(req, "sysparm_display_value"));
	if (!err && !grouped) {
		out = json_pack("{s:{s:o}}", "result", "stats",
		                stats_object(json_array_get(rows, 0)));
	} else if (!err) {
		json_t *result = json_array();
		size_t i;
		json_t *row;
		if (!result)
			err = SG_ERR_NOMEM;
		json_array_foreach(rows, i, row)
		{
			json_t *fields = NULL, *group = NULL;
			if (!err)
				err = group_fields(ctx, as, t, &r, dv, row, &fields);
			if (!err)
				group = json_pack("{s:o, s:o}", "stats", stats_object(row),
				                  "groupby_fields", fields);
			if (!err && (!group || json_array_append_new(result, group)))
				err = SG_ERR_NOMEM;
			if (err)
				break;
		}
		if (!err)
			out = json_pack("{s:o}", "result", result);
		else
			json_decref(result);
	}
	if (!err && !out)
		err = SG_ERR_NOMEM;
	if (!err)
		sg_resp_json(resp, 200, out);
	json_decref(out);
	json_decref(rows);
	sg_sql_cleanup(&rows_where);
	sg_query_cleanup(&q);
	return err;
}
