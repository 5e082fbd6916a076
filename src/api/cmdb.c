/*
 * cmdb.c - the CMDB REST APIs: Identification and Reconciliation
 * (/api/now/identifyreconcile[/query|/enhanced|/queryEnhanced]) over the
 * engine of model/ire.c, and the CMDB Instance API
 * (/api/now/cmdb/instance/{className}[/{sys_id}[/relation[/{rel_sys_id}]]]).
 *
 * Both need role itil (IRE also takes asset) [reference 9.2, 9.3]; behind
 * that, every read and write passes the Table API's table, row and field
 * ACLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/json.h"
#include "core/util.h"
#include "model/ire.h"
#include "query/query.h"

#define INSTANCE_DEFAULT_LIMIT 10000
#define MAX_RELATIONS          1000  /* relations one Instance API request may add */
#define MAX_RELATIONS_SHOWN    10000 /* relations of one side a GET shows */

/* Whether the user holds one of roles (NULL-terminated). */
static sg_err has_any_role(struct sg_auth_session *as, const char *const *roles, bool *held)
{
	*held = false;
	sg_err err = SG_ERR_OK;
	for (const char *const *r = roles; !err && !*held && *r; r++)
		err = sg_acl_has_role(as, *r, held);
	return err;
}

static sg_err need_role(struct sg_auth_session *as, struct sg_resp *resp, const char *const *roles,
                        bool *ok)
{
	sg_err err = has_any_role(as, roles, ok);
	if (!err && !*ok)
		sg_resp_refuse(resp, 403, "User Not Authorized",
		               "The user does not have the role required by this API");
	return err;
}

/* JSON only: a body of another declared type is refused. */
static bool json_body_type(const struct sg_req *req, struct sg_resp *resp)
{
	const char *ct = sg_req_header(req, "Content-Type");
	if (!ct || !*ct || !strncasecmp(ct, "application/json", 16))
		return true;
	sg_resp_refuse(resp, 415, "Unsupported Media Type",
	               "The request body must be application/json");
	return false;
}

static sg_err parse_body(const struct sg_req *req, json_t **out)
{
	*out = NULL;
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	sg_err err = sg_json_parse_body(req->body, req->body_len, out);
	if (!err && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		err = SG_ERR_BAD_JSON;
	}
	return err;
}

static void respond_result(struct sg_resp *resp, int status, json_t *result)
{
	json_t *body = json_pack("{s:O}", "result", result);
	if (!body) {
		sg_resp_error(resp, SG_ERR_NOMEM, NULL, NULL);
		return;
	}
	sg_resp_json(resp, status, body);
	json_decref(body);
}

/* ---- Identification and Reconciliation ----------------------------------- */

/* The engine's write check: the Table API's create / write ACLs, and the
 * fields the user may not write dropped from the input. */
static sg_err may_write(void *ud, const struct sg_table *t, json_t *current, json_t *values,
                        bool *ok)
{
	struct sg_auth_session *as = ud;
	sg_err err = current ? sg_acl_record(as, t, SG_ACL_WRITE, current, ok)
	                     : sg_acl_table_may(as, t, SG_ACL_CREATE, ok);
	if (!err && *ok)
		err = sg_acl_strip_input(as, t, current ? SG_ACL_WRITE : SG_ACL_CREATE, values,
		                         current);
	if (err == SG_ERR_ACL_INSERT || err == SG_ERR_ACL_UPDATE) {
		*ok = false;
		err = SG_ERR_OK;
	}
	return err;
}

/* The enhanced endpoints' options: "key:value" (or key=value) pairs
 * separated by commas; unknown keys ignored. */
static void parse_options(const char *s, struct sg_ire_opts *o)
{
	while (s && *s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		char pair[128];
		if (len < sizeof(pair)) {
			memcpy(pair, s, len);
			pair[len] = '\0';
			char *sep = strpbrk(pair, ":=");
			if (sep) {
				*sep = '\0';
				bool v = sg_str_bool(sep + 1, false);
				if (!strcmp(pair, "deduplicate_payloads"))
					o->dedup = v;
				else if (!strcmp(pair, "partial_commits"))
					o->partial_commits = v;
			}
		}
		s = end ? end + 1 : s + len;
	}
}

static sg_err identify_reconcile(struct sg_ctx *ctx, struct sg_auth_session *as, struct sg_req *req,
                                 struct sg_resp *resp, bool dry, bool enhanced)
{
	static const char *const roles[] = {"itil", "asset", NULL};
	bool ok;
	sg_err err = need_role(as, resp, roles, &ok);
	if (err || !ok || !json_body_type(req, resp))
		return err;
	json_t *payload;
	err = parse_body(req, &payload);
	if (err)
		return err;
	struct sg_ire_opts o = {.dry_run = dry,
	                        .dedup = true,
	                        .partial_commits = true,
	                        .data_source = sg_req_arg(req, "sysparm_data_source")};
	if (enhanced)
		parse_options(sg_req_arg(req, "options"), &o);
	struct sg_ire_hooks h = {.ud = as, .may_write = may_write};
	json_t *result = NULL;
	err = sg_ire_run(ctx, payload, &o, &h, &result);
	json_decref(payload);
	if (err)
		return err;
	respond_result(resp, 200, result);
	json_decref(result);
	return SG_ERR_OK;
}

sg_err sg_ire_identify(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	return identify_reconcile(ctx, as, req, resp, false, false);
}

sg_err sg_ire_query(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	return identify_reconcile(ctx, as, req, resp, true, false);
}

sg_err sg_ire_enhanced(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	return identify_reconcile(ctx, as, req, resp, false, true);
}

sg_err sg_ire_query_enhanced(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                             struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	return identify_reconcile(ctx, as, req, resp, true, true);
}

/* ---- CMDB Instance API ---------------------------------------------------- */

static const char *const itil_only[] = {"itil", NULL};

/* The class of the path: a table extending cmdb_ci, else INVALID_TABLE. */
static sg_err ci_class(struct sg_ctx *ctx, const char *name, const struct sg_table **t)
{
	const struct sg_table *base = sg_dict_table(ctx->dict, "cmdb_ci");
	*t = name ? sg_dict_table(ctx->dict, name) : NULL;
	if (!*t || !base || !sg_table_is_a(*t, base)) {
		*t = NULL;
		sg_ctx_set_err(ctx, "%s", name ? name : "");
		return SG_ERR_INVALID_TABLE;
	}
	return SG_ERR_OK;
}

/* The start of every Instance API request: role itil, then the class of
 * the path.  *done when a refusal has been answered already. */
static sg_err instance_class(struct sg_ctx *ctx, struct sg_auth_session *as,
                             const struct sg_req *req, struct sg_resp *resp,
                             const struct sg_table **t, bool *done)
{
	bool ok;
	*t = NULL;
	sg_err err = need_role(as, resp, itil_only, &ok);
	*done = !err && !ok;
	if (!err && ok)
		err = ci_class(ctx, sg_req_param(req, "className"), t);
	return err;
}

static sg_err page_param(struct sg_ctx *ctx, const struct sg_req *req, const char *name,
                         long long dflt, long long *out)
{
	const char *s = sg_req_arg(req, name);
	*out = dflt;
	if (!s || !*s)
		return SG_ERR_OK;
	if (!sg_str_number(s, 0, 1000000000000LL, out)) {
		sg_ctx_set_err(ctx, "%s", name);
		return SG_ERR_BAD_PARAM;
	}
	return SG_ERR_OK;
}

sg_err sg_cmdb_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool done;
	const struct sg_table *t;
	sg_err err = instance_class(ctx, as, req, resp, &t, &done);
	if (err || done)
		return err;
	long long limit, offset;
	err = page_param(ctx, req, "sysparm_limit", INSTANCE_DEFAULT_LIMIT, &limit);
	if (!err)
		err = page_param(ctx, req, "sysparm_offset", 0, &offset);
	if (err)
		return err;
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL, *out = NULL;
	/* The query and its fields pass the Table API's read checks. */
	err = sg_api_read_query(ctx, as, req, t->name, &t, &q);
	struct sg_list_opts lo = {.query = &q, .limit = limit, .offset = offset};
	if (!err)
		err = sg_rec_list(ctx, t->name, &lo, &rows, NULL);
	if (!err)
		err = sg_acl_filter_rows(as, t, rows);
	if (!err && !(out = json_array()))
		err = SG_ERR_NOMEM;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (err)
			break;
		const struct sg_table *cls =
		    sg_dict_table(ctx->dict, sg_json_str(row, "sys_class_name"));
		bool readable = true;
		err = sg_acl_field(as, cls ? cls : t, "name", SG_ACL_READ, row, &readable);
		const char *name = sg_json_str(row, "name");
		json_t *o = json_pack("{s:s, s:s}", "sys_id", sg_json_str(row, "sys_id"), "name",
		                      readable && name ? name : "");
		if (!err && (!o || json_array_append_new(out, o)))
			err = SG_ERR_NOMEM;
	}
	if (!err)
		respond_result(resp, 200, out);
	json_decref(out);
	json_decref(rows);
	sg_query_cleanup(&q);
	return err;
}

/* {"display_value", "link", "value"} of a reference; NULL on out of memory. */
static json_t *ref_obj(const char *display, const struct sg_req *req, const char *path,
                       const char *table, const char *id)
{
	char link[1200];
	snprintf(link, sizeof(link), "%s%s%s/%s", req->base_url, path, table, id);
	return json_pack("{s:s, s:s, s:s}", "display_value", display ? display : "", "link", link,
	                 "value", id);
}

/* The CI's attributes as the Instance API shows them: raw values, a set
 * reference as {display_value, link, value}; fields the user may not read
 * left out. */
static sg_err attributes(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_req *req,
                         const struct sg_table *cls, json_t *rec, json_t **out)
{
	*out = json_object();
	if (!*out)
		return SG_ERR_NOMEM;
	const char *id = sg_json_str(rec, "sys_id");
	sg_err err = SG_ERR_OK;
	for (size_t i = 0; !err && i < cls->nfields; i++) {
		const struct sg_field *f = cls->fields[i];
		if (!sg_field_is_stored(f) || sg_field_is_secret(f))
			continue;
		bool readable;
		err = sg_acl_field(as, cls, f->element, SG_ACL_READ, rec, &readable);
		if (err || !readable)
			continue;
		const char *raw = sg_json_str(rec, f->element);
		json_t *v;
		if (f->reference && raw && *raw) {
			char *dv = sg_rec_display(ctx, cls, f, id, raw);
			v = dv ? ref_obj(dv, req, "api/now/table/", f->reference, raw) : NULL;
			free(dv);
		} else {
			v = json_string(raw ? raw : "");
		}
		if (!v || json_object_set_new(*out, f->element, v))
			err = SG_ERR_NOMEM;
	}
	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* The relations of CI id on one side: outbound (the CI is the parent) or
 * inbound (the child), readable ones only. */
static sg_err relations(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_req *req,
                        const char *id, bool outbound, json_t **out)
{
	const struct sg_table *rt = sg_dict_table(ctx->dict, "cmdb_rel_ci");
	const char *side = outbound ? "parent" : "child", *other = outbound ? "child" : "parent";
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL;
	*out = json_array();
	sg_err err = *out && rt && sg_query_parse(&q, "ORDERBYsys_created_on") &&
	                     sg_query_add_eq(&q, side, id)
	                 ? SG_ERR_OK
	                 : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = MAX_RELATIONS_SHOWN};
	if (!err)
		err = sg_rec_list(ctx, "cmdb_rel_ci", &lo, &rows, NULL);
	if (!err)
		err = sg_acl_filter_rows(as, rt, rows);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (err)
			break;
		const char *rid = sg_json_str(row, "sys_id");
		const char *target = sg_json_str(row, other), *type = sg_json_str(row, "type");
		char *tdv =
		    sg_rec_display(ctx, rt, sg_table_field(rt, other), rid, target ? target : "");
		char *ydv =
		    sg_rec_display(ctx, rt, sg_table_field(rt, "type"), rid, type ? type : "");
		json_t *o = tdv && ydv ? json_pack("{s:s, s:o, s:o}", "sys_id", rid, "target",
		                                   ref_obj(tdv, req, "api/now/cmdb/instance/",
		                                           "cmdb_ci", target ? target : ""),
		                                   "type",
		                                   ref_obj(ydv, req, "api/now/table/",
		                                           "cmdb_rel_type", type ? type : ""))
		                       : NULL;
		free(tdv);
		free(ydv);
		if (!o || json_array_append_new(*out, o))
			err = SG_ERR_NOMEM;
	}
	json_decref(rows);
	sg_query_cleanup(&q);
	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* The CI id of class t (or a class extending it) as the user may see it. */
static sg_err visible_ci(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_table *t,
                         const char *id, json_t **rec, const struct sg_table **cls)
{
	*rec = NULL;
	bool readable = false;
	sg_err err = sg_rec_get(ctx, t->name, id, rec);
	*cls = t;
	if (!err) {
		const struct sg_table *c =
		    sg_dict_table(ctx->dict, sg_json_str(*rec, "sys_class_name"));
		if (c)
			*cls = c;
		err = sg_acl_record(as, *cls, SG_ACL_READ, *rec, &readable);
	}
	if (!err && !readable)
		err = SG_ERR_NO_RECORD;
	if (err) {
		json_decref(*rec);
		*rec = NULL;
	}
	return err;
}

/* Answers the CI id of class t: attributes, outbound and inbound relations. */
static sg_err respond_ci(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_req *req,
                         const struct sg_table *t, const char *id, int status, struct sg_resp *resp)
{
	json_t *rec, *attrs = NULL, *out_rels = NULL, *in_rels = NULL;
	const struct sg_table *cls;
	sg_err err = visible_ci(ctx, as, t, id, &rec, &cls);
	if (!err)
		err = attributes(ctx, as, req, cls, rec, &attrs);
	if (!err)
		err = relations(ctx, as, req, id, true, &out_rels);
	if (!err)
		err = relations(ctx, as, req, id, false, &in_rels);
	json_t *result = NULL;
	if (!err) {
		/* json_pack takes the three references, also when it fails */
		result = json_pack("{s:o, s:o, s:o}", "outbound_relations", out_rels, "attributes",
		                   attrs, "inbound_relations", in_rels);
		if (!result)
			err = SG_ERR_NOMEM;
	} else {
		json_decref(attrs);
		json_decref(out_rels);
		json_decref(in_rels);
	}
	if (!err)
		respond_result(resp, status, result);
	json_decref(result);
	json_decref(rec);
	return err;
}

sg_err sg_cmdb_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                   struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool done;
	const struct sg_table *t;
	sg_err err = instance_class(ctx, as, req, resp, &t, &done);
	if (!err && !done)
		err = respond_ci(ctx, as, req, t, sg_req_param(req, "sys_id"), 200, resp);
	return err;
}

/* Checks a list of {"target", "type"} relations: each target an existing
 * CI the user may read, each type a cmdb_rel_type. */
static sg_err check_rel_list(struct sg_ctx *ctx, struct sg_auth_session *as, json_t *list,
                             const char *key)
{
	if (!list)
		return SG_ERR_OK;
	if (!json_is_array(list) || json_array_size(list) > MAX_RELATIONS) {
		sg_ctx_set_err(ctx, "%s must be an array of at most %d relations", key,
		               MAX_RELATIONS);
		return SG_ERR_BAD_PARAM;
	}
	const struct sg_table *ci = sg_dict_table(ctx->dict, "cmdb_ci");
	size_t i;
	json_t *rel;
	json_array_foreach(list, i, rel)
	{
		const char *target = sg_json_str(rel, "target"), *type = sg_json_str(rel, "type");
		if (!target || !type || !*target || !*type) {
			sg_ctx_set_err(ctx, "%s: each relation needs a target and a type", key);
			return SG_ERR_BAD_PARAM;
		}
		json_t *rec = NULL, *type_rec = NULL;
		const struct sg_table *cls;
		sg_err err = visible_ci(ctx, as, ci, target, &rec, &cls);
		if (!err)
			err = sg_rec_get(ctx, "cmdb_rel_type", type, &type_rec);
		if (!err)
			json_decref(type_rec);
		json_decref(rec);
		if (err == SG_ERR_NO_RECORD) {
			sg_ctx_set_err(ctx, "%s: no CI or relation type with sys_id %.40s / %.40s",
			               key, target, type);
			return SG_ERR_BAD_PARAM;
		}
		if (err)
			return err;
	}
	return SG_ERR_OK;
}

/* Inserts the relations of list for CI id (parent when outbound), checking
 * the create ACL of cmdb_rel_ci. */
static sg_err add_rel_list(struct sg_ctx *ctx, struct sg_auth_session *as, const char *id,
                           json_t *list, bool outbound)
{
	const struct sg_table *rt = sg_dict_table(ctx->dict, "cmdb_rel_ci");
	size_t i;
	json_t *rel;
	json_array_foreach(list, i, rel)
	{
		const char *target = sg_json_str(rel, "target"), *type = sg_json_str(rel, "type");
		json_t *in = json_pack("{s:s, s:s, s:s}", "parent", outbound ? id : target, "child",
		                       outbound ? target : id, "type", type);
		sg_err err = in && rt ? sg_api_may_create(as, rt, in) : SG_ERR_NOMEM;
		char rid[SG_ID_LEN + 1];
		struct sg_write_opts wo = {0};
		if (!err)
			err = sg_rec_insert(ctx, "cmdb_rel_ci", in, &wo, rid);
		json_decref(in);
		if (err)
			return err;
	}
	return SG_ERR_OK;
}

/* Both lists of a request's relations checked, outbound then inbound. */
static sg_err check_rels(struct sg_ctx *ctx, struct sg_auth_session *as, json_t *outs, json_t *ins)
{
	sg_err err = check_rel_list(ctx, as, outs, "outbound_relations");
	if (!err)
		err = check_rel_list(ctx, as, ins, "inbound_relations");
	return err;
}

/* Both lists of a request's relations added to CI id, outbound then inbound. */
static sg_err add_rels(struct sg_ctx *ctx, struct sg_auth_session *as, const char *id, json_t *outs,
                       json_t *ins)
{
	sg_err err = add_rel_list(ctx, as, id, outs, true);
	if (!err)
		err = add_rel_list(ctx, as, id, ins, false);
	return err;
}

/* The start of an Instance API write: instance_class, then a JSON object
 * body whose attributes, if any, are an object. */
static sg_err instance_write(struct sg_ctx *ctx, struct sg_auth_session *as,
                             const struct sg_req *req, struct sg_resp *resp,
                             const struct sg_table **t, json_t **body, bool *done)
{
	*body = NULL;
	sg_err err = instance_class(ctx, as, req, resp, t, done);
	if (err || *done)
		return err;
	*done = !json_body_type(req, resp);
	if (*done)
		return SG_ERR_OK;
	err = parse_body(req, body);
	if (err)
		return err;
	json_t *attrs = json_object_get(*body, "attributes");
	if (attrs && !json_is_object(attrs)) {
		sg_ctx_set_err(ctx, "attributes must be an object");
		err = SG_ERR_BAD_PARAM;
	}
	if (err) {
		json_decref(*body);
		*body = NULL;
	}
	return err;
}

/* The attributes of a write as field strings, without sys_ fields. */
static sg_err write_input(struct sg_ctx *ctx, const struct sg_table *t, json_t *attrs, json_t **in)
{
	*in = json_object();
	if (!*in)
		return SG_ERR_NOMEM;
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v)
	{
		char scratch[64];
		const char *s = sg_json_field_text(v, scratch, sizeof(scratch));
		if (!s) {
			sg_ctx_set_err(ctx, "attribute %.100s must be a string", k);
			return SG_ERR_BAD_PARAM;
		}
		if (strncmp(k, "sys_", 4) && sg_table_field(t, k) &&
		    json_object_set_new(*in, k, json_string(s)))
			return SG_ERR_NOMEM;
	}
	return SG_ERR_OK;
}

sg_err sg_cmdb_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool done;
	const struct sg_table *t;
	json_t *body = NULL, *in = NULL;
	sg_err err = instance_write(ctx, as, req, resp, &t, &body, &done);
	if (err || done)
		return err;
	const char *source = sg_json_str(body, "source");
	json_t *outs = json_object_get(body, "outbound_relations");
	json_t *ins = json_object_get(body, "inbound_relations");
	if (!source || !*source) {
		/* source is required [doc: CMDB Instance API, POST] */
		sg_ctx_set_err(ctx, "source is required");
		err = SG_ERR_BAD_PARAM;
	}
	if (!err)
		err = check_rels(ctx, as, outs, ins);
	if (!err)
		err = write_input(ctx, t, json_object_get(body, "attributes"), &in);
	if (!err && json_object_set_new(in, "discovery_source", json_string(source)))
		err = SG_ERR_NOMEM;
	/* discovered now [doc: CMDB Instance API, POST sample] */
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	if (!err && !json_object_get(in, "first_discovered") &&
	    json_object_set_new(in, "first_discovered", json_string(now)))
		err = SG_ERR_NOMEM;
	if (!err && !json_object_get(in, "last_discovered") &&
	    json_object_set_new(in, "last_discovered", json_string(now)))
		err = SG_ERR_NOMEM;
	if (!err)
		err = sg_api_may_create(as, t, in);
	char id[SG_ID_LEN + 1];
	/* The CI and its relations commit together. */
	if (!err && !(err = sg_conn_begin(ctx->conn, true))) {
		struct sg_write_opts wo = {0};
		err = sg_rec_insert(ctx, t->name, in, &wo, id);
		if (!err)
			err = add_rels(ctx, as, id, outs, ins);
		if (!err)
			err = sg_conn_commit(ctx->conn);
		else
			sg_conn_rollback(ctx->conn);
	}
	json_decref(in);
	json_decref(body);
	if (!err)
		err = respond_ci(ctx, as, req, t, id, 201, resp);
	return err;
}

/* PATCH changes the attributes given; PUT replaces them: every other
 * writable attribute goes back to its default.  Relations stay as they are
 * [doc: CMDB Instance API, PATCH / PUT]. */
sg_err sg_cmdb_update(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool done;
	const struct sg_table *t, *cls = NULL;
	const char *id = sg_req_param(req, "sys_id");
	json_t *body = NULL, *in = NULL, *rec = NULL;
	sg_err err = instance_write(ctx, as, req, resp, &t, &body, &done);
	if (err || done)
		return err;
	err = visible_ci(ctx, as, t, id, &rec, &cls);
	bool writable = false;
	if (!err)
		err = sg_acl_record(as, cls, SG_ACL_WRITE, rec, &writable);
	if (!err && !writable)
		err = SG_ERR_ACL_UPDATE;
	if (!err)
		err = write_input(ctx, cls, json_object_get(body, "attributes"), &in);
	const char *source = sg_json_str(body, "source");
	if (!err && source && *source &&
	    json_object_set_new(in, "discovery_source", json_string(source)))
		err = SG_ERR_NOMEM;
	if (!err && !strcmp(req->method, "PUT")) {
		for (size_t i = 0; i < cls->nfields && !err; i++) {
			const struct sg_field *f = cls->fields[i];
			const char *cur = sg_json_str(rec, f->element);
			if (!strncmp(f->element, "sys_", 4) || f->read_only ||
			    !sg_field_is_stored(f) || sg_field_is_secret(f) ||
			    json_object_get(in, f->element) || !cur || !*cur ||
			    !strcmp(f->element, "discovery_source"))
				continue;
			const char *dflt = sg_dict_default(ctx->dict, cls, f);
			if (json_object_set_new(in, f->element, json_string(dflt ? dflt : "")))
				err = SG_ERR_NOMEM;
		}
	}
	if (!err)
		err = sg_acl_strip_input(as, cls, SG_ACL_WRITE, in, rec);
	struct sg_write_opts wo = {0};
	if (!err && json_object_size(in))
		err = sg_rec_update(ctx, cls->name, id, in, &wo);
	json_decref(in);
	json_decref(rec);
	json_decref(body);
	if (!err)
		err = respond_ci(ctx, as, req, t, id, 200, resp);
	return err;
}

sg_err sg_cmdb_add_relation(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool done;
	const struct sg_table *t, *cls;
	const char *id = sg_req_param(req, "sys_id");
	json_t *body = NULL, *rec = NULL;
	sg_err err = instance_write(ctx, as, req, resp, &t, &body, &done);
	if (err || done)
		return err;
	json_t *outs = json_object_get(body, "outbound_relations");
	json_t *ins = json_object_get(body, "inbound_relations");
	err = visible_ci(ctx, as, t, id, &rec, &cls);
	if (!err && !json_array_size(outs) && !json_array_size(ins)) {
		sg_ctx_set_err(ctx, "inbound_relations or outbound_relations is required");
		err = SG_ERR_BAD_PARAM;
	}
	if (!err)
		err = check_rels(ctx, as, outs, ins);
	if (!err && !(err = sg_conn_begin(ctx->conn, true))) {
		err = add_rels(ctx, as, id, outs, ins);
		if (!err)
			err = sg_conn_commit(ctx->conn);
		else
			sg_conn_rollback(ctx->conn);
	}
	json_decref(rec);
	json_decref(body);
	if (!err)
		err = respond_ci(ctx, as, req, t, id, 201, resp);
	return err;
}

sg_err sg_cmdb_delete_relation(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                               struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool done;
	const struct sg_table *t, *cls;
	const struct sg_table *rt = sg_dict_table(ctx->dict, "cmdb_rel_ci");
	const char *id = sg_req_param(req, "sys_id"), *rel_id = sg_req_param(req, "rel_sys_id");
	json_t *rec = NULL, *rel = NULL;
	sg_err err = instance_class(ctx, as, req, resp, &t, &done);
	if (err || done)
		return err;
	err = visible_ci(ctx, as, t, id, &rec, &cls);
	if (!err)
		err = rt ? sg_rec_get(ctx, "cmdb_rel_ci", rel_id, &rel) : SG_ERR_INTERNAL;
	bool allowed = false;
	/* The relation must be one of this CI's. */
	if (!err && strcmp(sg_json_str(rel, "parent") ? sg_json_str(rel, "parent") : "", id) &&
	    strcmp(sg_json_str(rel, "child") ? sg_json_str(rel, "child") : "", id))
		err = SG_ERR_NO_RECORD;
	if (!err)
		err = sg_acl_record(as, rt, SG_ACL_READ, rel, &allowed);
	if (!err && !allowed)
		err = SG_ERR_NO_RECORD;
	if (!err)
		err = sg_acl_record(as, rt, SG_ACL_DELETE, rel, &allowed);
	if (!err && !allowed)
		err = SG_ERR_ACL_DELETE;
	if (!err)
		err = sg_rec_delete(ctx, "cmdb_rel_ci", rel_id);
	json_decref(rec);
	json_decref(rel);
	if (!err) {
		resp->status = 204;
		sg_buf_reset(&resp->body);
	}
	return err;
}
