/*
 * table.c - the Table API: /api/now/[v1|v2/]table/{table}[/{sys_id}].
 *
 * Behaviour follows reference section 1: the result envelope, every value a
 * string, X-Total-Count on every list, the Link header as captured from real
 * instances, Location on 201, and v1's 404 on an empty list.
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
#include "script/brules.h"

#define DEFAULT_LIMIT 10000
#define LINK_MAX      (32 * 1024)

static void render_opts(struct sg_auth_session *as, const struct sg_req *req,
                        struct sg_render_opts *o)
{
	o->auth = as;
	o->dv = sg_render_parse_dv(sg_req_arg(req, "sysparm_display_value"));
	o->exclude_link = sg_str_bool(sg_req_arg(req, "sysparm_exclude_reference_link"), false);
	o->fields = sg_req_arg(req, "sysparm_fields");
	o->base_url = req->base_url;
}

/* The largest sysparm_limit and sysparm_offset taken: beyond it a number
 * is clamped, so offset + limit and the Link header's arithmetic never
 * overflow (no table holds 10^15 rows). */
#define PAGE_MAX 1000000000000000LL

/*
 * A paging parameter: dflt when absent or empty; a whole number (a '-'
 * allowed; huge ones clamped to +-PAGE_MAX) otherwise.  Anything else is
 * SG_ERR_BAD_PARAM naming the parameter, unless the system property
 * snowglobe.rest.lenient_paging_parameters is true (then dflt, as before).
 */
static sg_err page_arg(struct sg_ctx *ctx, const struct sg_req *req, const char *name,
                       long long dflt, long long *out)
{
	*out = dflt;
	const char *s = sg_req_arg(req, name);
	if (!s || !*s)
		return SG_ERR_OK;
	const char *digits = *s == '-' ? s + 1 : s;
	long long v;
	/* every digit string is a number: a long one is clamped, not refused */
	size_t n = strspn(digits, "0123456789");
	if (n && !digits[n]) {
		if (!sg_str_number(digits, 0, PAGE_MAX, &v))
			v = PAGE_MAX;
		*out = *s == '-' ? -v : v;
		return SG_ERR_OK;
	}
	bool lenient;
	sg_err err = sg_prop_bool(ctx, "snowglobe.rest.lenient_paging_parameters", false, &lenient);
	if (err || lenient)
		return err;
	sg_ctx_set_err(ctx, "%s must be a whole number: '%s'", name, s);
	return SG_ERR_BAD_PARAM;
}

/* Appends "<url>;rel="name"" to the Link header under construction. */
static void link_entry(struct sg_buf *b, const struct sg_req *req, const char *kept,
                       long long limit, long long offset, const char *rel)
{
	if (b->len)
		sg_buf_putc(b, ',');
	/* base_url ends with '/' (and is URL-safe), the path starts with one;
	 * the decoded path is encoded again, kept is escaped already */
	sg_buf_printf(b, "<%.*s", (int)(strlen(req->base_url) - 1), req->base_url);
	sg_url_escape(b, req->path, strlen(req->path), false);
	sg_buf_printf(b, "?%s%ssysparm_limit=%lld&sysparm_offset=%lld>;rel=\"%s\"", kept,
	              *kept ? "&" : "", limit, offset, rel);
}

/*
 * The Link header: first, prev, next, last.  The caller's other parameters
 * are kept in their order and sysparm_limit/offset appended; prev appears
 * even on the first page with a negative offset; next is omitted on the
 * last page (reference 1.4).  SG_ERR_NOMEM when memory ran out; a header
 * too long for the connection is left out.
 */
static sg_err pagination(const struct sg_req *req, struct sg_resp *resp, long long limit,
                         long long offset, long long total, bool counted, size_t rows)
{
	struct sg_buf kept, link;
	sg_buf_init(&kept, 64 * 1024);
	/* Four URLs each repeating the query: a Link header for a very long
	 * query would not fit the connection's memory, and the server would
	 * drop the connection instead of answering; it is left out. */
	sg_buf_init(&link, LINK_MAX);
	const char *p = req->raw_query;
	while (p && *p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n && strncmp(p, "sysparm_limit=", 14) && strncmp(p, "sysparm_offset=", 15) &&
		    !(n == 13 && !strncmp(p, "sysparm_limit", 13)) &&
		    !(n == 14 && !strncmp(p, "sysparm_offset", 14))) {
			if (kept.len)
				sg_buf_putc(&kept, '&');
			/* the query as sent, but nothing a header or URL may not hold */
			sg_url_escape(&kept, p, n, true);
		}
		p = amp ? amp + 1 : NULL;
	}
	const char *k = sg_buf_str(&kept);
	/* limit is 1..PAGE_MAX and offset 0..PAGE_MAX (sg_table_list), total
	 * a row count: none of these can overflow. */
	link_entry(&link, req, k, limit, 0, "first");
	link_entry(&link, req, k, limit, offset - limit, "prev");
	bool more = counted ? offset + limit < total : (long long)rows >= limit;
	if (more)
		link_entry(&link, req, k, limit, offset + limit, "next");
	if (counted)
		link_entry(&link, req, k, limit, total - limit > 0 ? total - limit : 0, "last");
	sg_err err = SG_ERR_OK;
	if ((sg_buf_failed(&kept) && !kept.too_large) || (sg_buf_failed(&link) && !link.too_large))
		err = SG_ERR_NOMEM;
	else if (!sg_buf_failed(&link))
		sg_resp_header(resp, "Link", sg_buf_str(&link));
	sg_buf_cleanup(&kept);
	sg_buf_cleanup(&link);
	return err;
}

/* Query arguments that are not filters. */
static bool is_sysparm(const char *name)
{
	return !strncmp(name, "sysparm_", 8) || !strcmp(name, "api_version");
}

sg_err sg_api_read_query(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_req *req,
                         const char *table, const struct sg_table **out, struct sg_query *q)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	*out = t;
	if (!t) {
		sg_ctx_set_err(ctx, "%s", table);
		return SG_ERR_INVALID_TABLE;
	}
	/* Role-only table check before the query runs [5.3]. */
	bool ok;
	sg_err err = sg_acl_table_may(as, t, SG_ACL_READ, &ok);
	if (err)
		return err;
	if (!ok) {
		sg_ctx_set_err(ctx, "%s", t->name);
		return SG_ERR_ACL_READ_TABLE;
	}
	if (!sg_query_parse(q, sg_req_arg(req, "sysparm_query")))
		return SG_ERR_NOMEM;
	/* name=value filters [c_TableAPI.md], AND'ed with sysparm_query. */
	for (size_t i = 0; i < req->nargs; i++)
		if (!is_sysparm(req->args[i].name) &&
		    !sg_query_add_eq(q, req->args[i].name, req->args[i].value))
			return SG_ERR_NOMEM;
	err = sg_acl_query_fields(as, t, q, &ok);
	if (!err && !ok)
		err = SG_ERR_ACL_QUERY_FIELD;
	/* Query business rules restrict it further (after the caller's
	 * fields were checked: a rule may query fields the user cannot). */
	if (!err)
		err = sg_brules_query(as, t, q, NULL);
	return err;
}

/*
 * Drops the rows the user may not read.  When the table-level decision does
 * not depend on the record, it keeps or drops the page whole; otherwise (ACL
 * conditions) the page goes through sg_acl_filter_rows as JSON records,
 * returned in *slow, which then replaces rs.
 */
static sg_err readable_rows(struct sg_auth_session *as, const struct sg_table *t,
                            struct sg_rows *rs, json_t **slow)
{
	*slow = NULL;
	int decision;
	sg_err err = sg_acl_read_uniform(as, t, &decision);
	if (err)
		return err;
	if (decision == 0) {
		for (size_t i = 0; i < rs->n; i++)
			free(rs->vals[i]);
		rs->n = 0;
	}
	if (decision >= 0)
		return SG_ERR_OK;
	json_t *rows = sg_rows_records(rs);
	if (!rows)
		return SG_ERR_NOMEM;
	err = sg_acl_filter_rows(as, t, rows);
	if (err) {
		json_decref(rows);
		return err;
	}
	*slow = rows;
	return SG_ERR_OK;
}

/* Display values show journal histories: read the page's in one query. */
static sg_err prefetch_journals(struct sg_ctx *ctx, const struct sg_table *t,
                                const struct sg_rows *rs, json_t *slow)
{
	bool journals = false;
	for (size_t i = 0; i < t->nfields && !journals; i++) {
		enum sg_ftype ft = t->fields[i]->type;
		journals =
		    ft == SG_FT_JOURNAL || ft == SG_FT_JOURNAL_INPUT || ft == SG_FT_JOURNAL_LIST;
	}
	long id_pos = sg_table_field_pos(t, "sys_id");
	size_t n = slow ? json_array_size(slow) : rs->n;
	if (!journals || id_pos < 0 || n < 2)
		return SG_ERR_OK;
	const char **ids = malloc(n * sizeof(*ids));
	if (!ids)
		return SG_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		ids[i] =
		    slow ? sg_json_str(json_array_get(slow, i), "sys_id") : rs->vals[i][id_pos];
	sg_err err = sg_rec_prefetch_journal(ctx, ids, n);
	free(ids);
	return err;
}

sg_err sg_table_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
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
	long long limit, offset;
	err = sg_api_page_args(ctx, req, DEFAULT_LIMIT, &limit, &offset);
	if (err) {
		sg_query_cleanup(&q);
		return err;
	}
	bool counted = !sg_str_bool(sg_req_arg(req, "sysparm_no_count"), false);
	struct sg_list_opts lo = {.query = &q, .limit = limit, .offset = offset, .count = counted};
	struct sg_rows rs = {0};
	json_t *slow = NULL;
	long long total = 0;
	err = sg_rec_rows(ctx, t->name, &lo, &rs, &total);
	/* Rows the user may not read are dropped from the page; the limit and
	 * X-Total-Count were applied before, as on the platform. */
	if (!err)
		err = readable_rows(as, t, &rs, &slow);
	size_t n = slow ? json_array_size(slow) : rs.n;
	if (!err && n == 0 && req->match.route->version == 1) {
		err = SG_ERR_NO_RECORDS;
		goto out;
	}
	if (err)
		goto out;
	struct sg_render_opts ro;
	render_opts(as, req, &ro);
	if (ro.dv != SG_DV_FALSE)
		err = prefetch_journals(ctx, t, &rs, slow);
	if (err)
		goto out;
	/* Records are written straight into the response body. */
	struct sg_buf *body = &resp->body;
	sg_buf_reset(body);
	sg_buf_puts(body, "{\"result\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sg_buf_putc(body, ',');
		bool ok = slow ? sg_render_write(ctx, t, json_array_get(slow, i), &ro, body)
		               : sg_render_write_values(ctx, t, rs.vals[i], &ro, body);
		if (!ok) {
			err = sg_auth_session_error(as) ? sg_auth_session_error(as) : SG_ERR_NOMEM;
			break;
		}
	}
	sg_buf_puts(body, "]}");
	if (!err && sg_buf_failed(body))
		err = SG_ERR_NOMEM;
	if (err)
		goto out;
	resp->status = 200;

	if (counted) {
		char num[32];
		snprintf(num, sizeof(num), "%lld", total);
		sg_resp_header(resp, "X-Total-Count", num);
	}
	if (!sg_str_bool(sg_req_arg(req, "sysparm_suppress_pagination_header"), false))
		err = pagination(req, resp, limit, offset, total, counted, n);
out:
	json_decref(slow);
	sg_rows_cleanup(&rs);
	sg_query_cleanup(&q);
	return err;
}

/* Reads id back and renders it as the response: status and body.  A read
 * (status 200 of GET) is refused as missing when ACLs hide the record. */
static sg_err respond_record(struct sg_ctx *ctx, struct sg_auth_session *as,
                             const struct sg_req *req, const char *table, const char *sys_id,
                             int status, bool check_read, struct sg_resp *resp)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", table);
		return SG_ERR_INVALID_TABLE;
	}
	struct sg_rows rs;
	sg_err err = sg_rec_get_row(ctx, table, sys_id, &rs);
	if (err)
		return err;
	if (check_read) {
		int decision;
		bool readable = true;
		json_t *rec = NULL;
		err = sg_acl_read_uniform(as, t, &decision);
		if (!err && decision < 0 && !(rec = sg_rec_from_values(rs.t, rs.vals[0])))
			err = SG_ERR_NOMEM;
		if (!err && decision < 0)
			err = sg_acl_record(as, t, SG_ACL_READ, rec, &readable);
		if (!err && (decision == 0 || !readable))
			err = SG_ERR_NO_RECORD;
		if (!err && !(err = sg_brules_visible(as, t, sys_id, &readable)) && !readable)
			err = SG_ERR_NO_RECORD;
		json_decref(rec);
	}
	const char *no_body = sg_req_header(req, "X-no-response-body");
	if (!err && status != 200 && no_body && sg_str_bool(no_body, false)) {
		resp->status = status;
		sg_rows_cleanup(&rs);
		return SG_ERR_OK;
	}
	if (!err) {
		struct sg_render_opts ro;
		render_opts(as, req, &ro);
		sg_buf_reset(&resp->body);
		sg_buf_puts(&resp->body, "{\"result\":");
		bool ok = sg_render_write_values(ctx, rs.t, rs.vals[0], &ro, &resp->body);
		sg_buf_putc(&resp->body, '}');
		if (!ok || sg_buf_failed(&resp->body))
			err = sg_auth_session_error(as) ? sg_auth_session_error(as) : SG_ERR_NOMEM;
	}
	sg_rows_cleanup(&rs);
	if (!err)
		resp->status = status;
	return err;
}

sg_err sg_table_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	return respond_record(ctx, as, req, sg_req_param(req, "table"), sg_req_param(req, "sys_id"),
	                      200, true, resp);
}

/* The record id of t as the user may see it: NO_RECORD when missing or
 * hidden by ACLs.  New reference in *out. */
static sg_err visible_record(struct sg_ctx *ctx, struct sg_auth_session *as,
                             const struct sg_table *t, const char *sys_id, json_t **out)
{
	sg_err err = sg_rec_get(ctx, t->name, sys_id, out);
	if (err)
		return err;
	bool readable;
	err = sg_acl_record(as, t, SG_ACL_READ, *out, &readable);
	if (!err && readable)
		err = sg_brules_visible(as, t, sys_id, &readable);
	if (!err && !readable)
		err = SG_ERR_NO_RECORD;
	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* The body of a write: a JSON object (the first element of an array).  No
 * body at all is an empty object when may_be_empty (a POST creates a record
 * from defaults [9.1]), else SG_ERR_EMPTY_BODY. */
static sg_err read_body(const struct sg_req *req, bool may_be_empty, json_t **out)
{
	*out = NULL;
	if (!req->body || req->body_len == 0) {
		if (!may_be_empty)
			return SG_ERR_EMPTY_BODY;
		*out = json_object();
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	json_t *j;
	sg_err err = sg_json_parse_body(req->body, req->body_len, &j);
	if (err)
		return err;
	if (json_is_array(j)) {
		/* Only the first record of an array is processed [c_RESTAPI.md]. */
		json_t *first = json_incref(json_array_get(j, 0));
		json_decref(j);
		j = first;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		return SG_ERR_BAD_JSON;
	}
	*out = j;
	return SG_ERR_OK;
}

/* A password field written back as the mask it reads as is no change. */
static void drop_masked_secrets(const struct sg_table *t, json_t *body)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		const char *v = sg_json_str(body, f->element);
		if (sg_field_is_secret(f) && v && !strcmp(v, SG_RENDER_SECRET_MASK))
			json_object_del(body, f->element);
	}
}

/* The common start of a write: the table exists, the body is one object,
 * and the sysparm write options are read. */
static sg_err prepare_write(struct sg_ctx *ctx, struct sg_auth_session *as,
                            const struct sg_req *req, const char *table, bool insert, json_t **body,
                            struct sg_write_opts *wo)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", table);
		return SG_ERR_INVALID_TABLE;
	}
	memset(wo, 0, sizeof(*wo));
	wo->input_display_value =
	    sg_str_bool(sg_req_arg(req, "sysparm_input_display_value"), false);
	wo->suppress_auto_sys_field =
	    sg_str_bool(sg_req_arg(req, "sysparm_suppress_auto_sys_field"), false);
	/* sys_* fields (a chosen sys_id, created/updated stamps) are writable by
	 * anyone who may write the record, unless the hardening property keeps
	 * them to admins; then the others' values are ignored [2.2]. */
	wo->allow_sys_fields = true;
	bool admin_only;
	sg_err err =
	    sg_prop_bool(ctx, "glide.rest.table_api.admin_only_sys_fields", false, &admin_only);
	if (!err && admin_only)
		err = sg_acl_has_role(as, "admin", &wo->allow_sys_fields);
	if (!err)
		err = read_body(req, insert, body);
	if (!err)
		drop_masked_secrets(t, *body);
	return err;
}

sg_err sg_table_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const char *table = sg_req_param(req, "table");
	json_t *body;
	struct sg_write_opts wo;
	sg_err err = prepare_write(ctx, as, req, table, true, &body, &wo);
	if (err)
		return err;
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	err = sg_api_may_create(as, t, body);
	char id[SG_ID_LEN + 1];
	if (!err)
		err = sg_rec_insert(ctx, table, body, &wo, id);
	json_decref(body);
	if (err)
		return err;
	/* Location: the new record under the path the client used. */
	struct sg_buf loc;
	sg_buf_init(&loc, 4096);
	size_t plen = strlen(req->path);
	if (plen && req->path[plen - 1] == '/')
		plen--;
	sg_buf_append(&loc, req->base_url, strlen(req->base_url) - 1);
	sg_url_escape(&loc, req->path, plen, false);
	sg_buf_printf(&loc, "/%s", id);
	if (sg_buf_failed(&loc) && !loc.too_large)
		resp->failed = true; /* out of memory: the response is not whole */
	else if (!sg_buf_failed(&loc))
		sg_resp_header(resp, "Location", sg_buf_str(&loc));
	sg_buf_cleanup(&loc);
	return respond_record(ctx, as, req, table, id, 201, false, resp);
}

sg_err sg_table_update(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const char *table = sg_req_param(req, "table"), *sys_id = sg_req_param(req, "sys_id");
	json_t *body;
	struct sg_write_opts wo;
	sg_err err = prepare_write(ctx, as, req, table, false, &body, &wo);
	if (err)
		return err;
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	json_t *current = NULL;
	bool writable;
	err = visible_record(ctx, as, t, sys_id, &current);
	if (!err)
		err = sg_acl_record(as, t, SG_ACL_WRITE, current, &writable);
	if (!err && !writable)
		err = SG_ERR_ACL_UPDATE;
	if (!err)
		err = sg_acl_strip_input(as, t, SG_ACL_WRITE, body, current);
	/* PUT is PATCH: only the fields present change [c_TableAPI.md]. */
	if (!err)
		err = sg_rec_update(ctx, table, sys_id, body, &wo);
	json_decref(current);
	json_decref(body);
	if (err)
		return err;
	return respond_record(ctx, as, req, table, sys_id, 200, false, resp);
}

sg_err sg_table_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const char *table = sg_req_param(req, "table"), *sys_id = sg_req_param(req, "sys_id");
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", table);
		return SG_ERR_INVALID_TABLE;
	}
	json_t *current = NULL;
	bool deletable;
	sg_err err = visible_record(ctx, as, t, sys_id, &current);
	if (!err)
		err = sg_acl_record(as, t, SG_ACL_DELETE, current, &deletable);
	if (!err && !deletable)
		err = SG_ERR_ACL_DELETE;
	json_decref(current);
	if (!err)
		err = sg_rec_delete(ctx, table, sys_id);
	if (err)
		return err;
	resp->status = 204;
	sg_buf_reset(&resp->body);
	return SG_ERR_OK;
}

sg_err sg_api_may_create(struct sg_auth_session *as, const struct sg_table *t, json_t *in)
{
	bool may;
	sg_err err = sg_acl_table_may(as, t, SG_ACL_CREATE, &may);
	if (!err && !may)
		err = SG_ERR_ACL_INSERT;
	/* Fields the user may not write are ignored, not refused. */
	if (!err)
		err = sg_acl_strip_input(as, t, SG_ACL_CREATE, in, NULL);
	return err;
}

sg_err sg_api_page_args(struct sg_ctx *ctx, const struct sg_req *req, long long dflt_limit,
                        long long *limit, long long *offset)
{
	sg_err err = page_arg(ctx, req, "sysparm_limit", dflt_limit, limit);
	if (!err)
		err = page_arg(ctx, req, "sysparm_offset", 0, offset);
	if (err)
		return err;
	if (*limit <= 0)
		*limit = dflt_limit;
	if (*offset < 0)
		*offset = 0;
	return SG_ERR_OK;
}

sg_err sg_api_pagination(const struct sg_req *req, struct sg_resp *resp, long long limit,
                         long long offset, long long total, bool counted, size_t rows)
{
	return pagination(req, resp, limit, offset, total, counted, rows);
}
