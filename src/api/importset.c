/*
 * importset.c - the Import Set API [c_ImportSetAPI.md]:
 *   POST /api/now/import/{staging_table}                  one row, transformed at once
 *   GET  /api/now/import/{staging_table}/{sys_id}         that row's transform result
 *   POST /api/now/import/{staging_table}/insertMultiple   {"records": [...]}
 *
 * The caller needs create on the staging table (and read on the row to see
 * it again), checked as the Table API checks them; the transform itself
 * writes the targets as the system (model/transform.h), as on the platform.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/json.h"
#include "core/util.h"
#include "model/transform.h"

/* Rows one insertMultiple may carry (the body limit bounds it too). */
#define MAX_RECORDS 10000

/* The staging table named in the path: it exists and extends
 * sys_import_set_row, else "Invalid table". */
static sg_err staging_table(struct sg_ctx *ctx, const struct sg_req *req, const struct sg_table **t)
{
	const char *name = sg_req_param(req, "staging_table");
	*t = sg_dict_table(ctx->dict, name);
	if (!*t || !sg_import_is_staging(ctx, *t)) {
		sg_ctx_set_err(ctx, "%s", name);
		return SG_ERR_INVALID_TABLE;
	}
	return SG_ERR_OK;
}

/* Appends v as the platform turns a non-string body value into the text
 * of a string column: numbers and booleans as written, null as empty,
 * objects and arrays as Java maps and lists print ({a=1, b=x}, [1, 2]):
 * "the ':' notion of the nested JSON object is changed to '='"
 * [c_ImportSetAPI.md]. */
static void java_text(struct sg_buf *b, const json_t *v, int depth)
{
	char num[64];
	size_t i;
	const char *k;
	json_t *e;
	switch (json_typeof(v)) {
	case JSON_STRING:
		sg_buf_append(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		sg_buf_puts(b, num);
		break;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		sg_buf_puts(b, num);
		break;
	case JSON_TRUE:
		sg_buf_puts(b, "true");
		break;
	case JSON_FALSE:
		sg_buf_puts(b, "false");
		break;
	case JSON_NULL:
		break;
	case JSON_OBJECT:
		if (depth > 32)
			break;
		sg_buf_putc(b, '{');
		i = 0;
		json_object_foreach((json_t *)v, k, e)
		{
			if (i++)
				sg_buf_puts(b, ", ");
			sg_buf_puts(b, k);
			sg_buf_putc(b, '=');
			java_text(b, e, depth + 1);
		}
		sg_buf_putc(b, '}');
		break;
	case JSON_ARRAY:
		if (depth > 32)
			break;
		sg_buf_putc(b, '[');
		json_array_foreach(v, i, e)
		{
			if (i)
				sg_buf_puts(b, ", ");
			java_text(b, e, depth + 1);
		}
		sg_buf_putc(b, ']');
		break;
	}
}

/*
 * The staging row's input from one body object: every value as text, each
 * key naming a column of t.  by_label (insertMultiple's default "Column
 * mapping: Label") matches a key to a column label first, then to a column
 * name.  The fields the user may not create are dropped, as the Table API
 * drops them.  New reference in *out.
 */
static sg_err row_input(struct sg_auth_session *as, const struct sg_table *t, const json_t *obj,
                        bool by_label, json_t **out)
{
	json_t *in = json_object();
	struct sg_buf b;
	sg_buf_init(&b, 1 << 20);
	sg_err err = in ? SG_ERR_OK : SG_ERR_NOMEM;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		if (err)
			break;
		const char *element = key;
		if (by_label)
			for (size_t i = 0; i < t->nfields; i++)
				if (t->fields[i]->label && !strcmp(t->fields[i]->label, key)) {
					element = t->fields[i]->element;
					break;
				}
		sg_buf_reset(&b);
		java_text(&b, v, 0);
		if (sg_buf_failed(&b))
			err = b.too_large ? SG_ERR_TOO_LARGE : SG_ERR_NOMEM;
		else if (json_object_set_new(in, element, json_stringn(sg_buf_str(&b), b.len)))
			err = SG_ERR_NOMEM;
	}
	sg_buf_cleanup(&b);
	if (!err)
		err = sg_acl_strip_input(as, t, SG_ACL_CREATE, in, NULL);
	if (err) {
		json_decref(in);
		return err;
	}
	*out = in;
	return SG_ERR_OK;
}

/* The caller may create rows of the staging table. */
static sg_err may_create(struct sg_auth_session *as, const struct sg_table *t)
{
	bool may;
	sg_err err = sg_acl_table_may(as, t, SG_ACL_CREATE, &may);
	return err ? err : may ? SG_ERR_OK : SG_ERR_ACL_INSERT;
}

/* The body: a JSON object ({} when there is none). */
static sg_err body_object(const struct sg_req *req, json_t **out)
{
	*out = NULL;
	if (!req->body || req->body_len == 0) {
		*out = json_object();
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	json_t *j;
	sg_err err = sg_json_parse_body(req->body, req->body_len, &j);
	if (err)
		return err;
	if (!json_is_object(j)) {
		json_decref(j);
		return SG_ERR_BAD_JSON;
	}
	*out = j;
	return SG_ERR_OK;
}

/* The response {"import_set", "staging_table", "result": [...]}, each
 * result in the platform's key order with record_link, the Table API URL
 * of the target, after display_value. */
static sg_err respond(const struct sg_req *req, struct sg_resp *resp, int status,
                      const char *number, const char *staging, json_t *results)
{
	json_t *body = json_object(), *list = json_array();
	bool ok = body && list && !json_object_set_new(body, "import_set", json_string(number)) &&
	          !json_object_set_new(body, "staging_table", json_string(staging)) &&
	          !json_object_set(body, "result", list);
	size_t i;
	json_t *r;
	json_array_foreach(ok ? results : NULL, i, r)
	{
		json_t *o = json_object();
		static const char *const keys[] = {"transform_map", "table", "display_name",
		                                   "display_value"};
		ok = o && !json_array_append_new(list, o);
		for (size_t k = 0; ok && k < sizeof(keys) / sizeof(keys[0]); k++)
			ok = !json_object_set(o, keys[k], json_object_get(r, keys[k]));
		const char *table = sg_json_str(r, "table"), *id = sg_json_str(r, "sys_id");
		char *link = NULL;
		if (ok && *id && *table) {
			size_t n = strlen(req->base_url) + strlen(table) + strlen(id) + 32;
			if ((link = malloc(n)))
				snprintf(link, n, "%sapi/now/table/%s/%s", req->base_url, table,
				         id);
			ok = link != NULL;
		}
		ok = ok && !json_object_set_new(o, "record_link", json_string(link ? link : ""));
		free(link);
		static const char *const rest[] = {"status", "sys_id", "status_message",
		                                   "error_message"};
		for (size_t k = 0; ok && k < sizeof(rest) / sizeof(rest[0]); k++)
			if (json_object_get(r, rest[k]))
				ok = !json_object_set(o, rest[k], json_object_get(r, rest[k]));
	}
	if (ok)
		sg_resp_json(resp, status, body);
	json_decref(list);
	json_decref(body);
	return ok ? SG_ERR_OK : SG_ERR_NOMEM;
}

sg_err sg_import_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const struct sg_table *t;
	json_t *body = NULL, *in = NULL, *results = NULL;
	char *number = NULL;
	sg_err err = staging_table(ctx, req, &t);
	if (!err)
		err = may_create(as, t);
	if (!err)
		err = body_object(req, &body);
	if (!err)
		err = row_input(as, t, body, false, &in);
	/* The row joins an import set in its own transaction: nothing is
	 * stored when the request fails. */
	char set_id[SG_ID_LEN + 1] = "", row_id[SG_ID_LEN + 1];
	if (!err)
		err = sg_import_row(ctx, t->name, set_id, 0, in, row_id, &results);
	json_t *set = NULL;
	if (!err)
		err = sg_rec_get(ctx, "sys_import_set", set_id, &set);
	if (!err && !(number = strdup(sg_json_str(set, "number"))))
		err = SG_ERR_NOMEM;
	json_decref(set);
	if (!err)
		err = respond(req, resp, 201, number, t->name, results);
	json_decref(body);
	json_decref(in);
	json_decref(results);
	free(number);
	return err;
}

sg_err sg_import_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const struct sg_table *t;
	json_t *row = NULL, *results = NULL;
	char *number = NULL;
	const char *id = sg_req_param(req, "sys_id");
	sg_err err = staging_table(ctx, req, &t);
	/* A row the user may not read is as missing as one cleaned up. */
	bool readable = false;
	if (!err)
		err = sg_rec_get(ctx, t->name, id, &row);
	if (!err)
		err = sg_acl_record(as, t, SG_ACL_READ, row, &readable);
	if (!err && !readable)
		err = SG_ERR_NO_RECORD;
	if (!err)
		err = sg_import_results(ctx, t->name, id, &number, &results);
	if (!err)
		err = respond(req, resp, 200, number, t->name, results);
	json_decref(row);
	json_decref(results);
	free(number);
	return err;
}

/* The multi import set to add to: the one named (it must exist), else a new one. */
static sg_err multi_set(struct sg_ctx *ctx, const struct sg_req *req, const char *staging,
                        char id[SG_ID_LEN + 1])
{
	const char *given = sg_req_arg(req, "multi_import_set_id");
	if (given && *given) {
		json_t *rec;
		sg_err err = sg_rec_get(ctx, "sys_multi_import_set", given, &rec);
		if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE) {
			sg_ctx_set_err(ctx, "multi_import_set_id: no multi import set %s", given);
			return SG_ERR_BAD_PARAM;
		}
		if (!err) {
			snprintf(id, SG_ID_LEN + 1, "%s", sg_json_str(rec, "sys_id"));
			json_decref(rec);
		}
		return err;
	}
	json_t *in = json_object();
	sg_err err = in && !json_object_set_new(in, "source_table", json_string(staging)) &&
	                     !json_object_set_new(in, "state", json_string("processed"))
	                 ? SG_ERR_OK
	                 : SG_ERR_NOMEM;
	struct sg_write_opts wo = {0};
	if (!err)
		err = sg_rec_insert(ctx, "sys_multi_import_set", in, &wo, id);
	json_decref(in);
	return err;
}

sg_err sg_import_insert_multiple(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                 struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const struct sg_table *t;
	json_t *body = NULL, *results = NULL;
	sg_err err = staging_table(ctx, req, &t);
	if (!err)
		err = may_create(as, t);
	if (!err && (!req->body || req->body_len == 0))
		err = SG_ERR_EMPTY_BODY;
	if (!err)
		err = body_object(req, &body);
	json_t *records = body ? json_object_get(body, "records") : NULL;
	if (!err && !json_is_array(records))
		err = SG_ERR_BAD_JSON;
	size_t i;
	json_t *rec;
	json_array_foreach(err ? NULL : records, i, rec) if (!json_is_object(rec)) err =
	    SG_ERR_BAD_JSON;
	if (!err && json_array_size(records) > MAX_RECORDS) {
		sg_ctx_set_err(ctx, "records: at most %d records per request", MAX_RECORDS);
		err = SG_ERR_BAD_PARAM;
	}
	const char *run_after = sg_req_arg(req, "run_after");
	if (!err && run_after && *run_after && !sg_id_is_valid(run_after)) {
		sg_ctx_set_err(ctx, "run_after: not a sys_id: %s", run_after);
		err = SG_ERR_BAD_PARAM;
	}
	char multi[SG_ID_LEN + 1], set_id[SG_ID_LEN + 1];
	if (!err)
		err = multi_set(ctx, req, t->name, multi);
	/* Transformed before answering (the platform's default is to transform
	 * later, asynchronously): run_after is recorded, and trivially holds. */
	if (!err)
		err = sg_import_set_open(ctx, t->name, multi, run_after, set_id, NULL);
	json_array_foreach(err ? NULL : records, i, rec)
	{
		json_t *in = NULL;
		char row_id[SG_ID_LEN + 1];
		err = row_input(as, t, rec, true, &in);
		if (!err)
			err = sg_import_row(ctx, t->name, set_id, (long)i, in, row_id, &results);
		json_decref(in);
		json_decref(results);
		results = NULL;
		if (err)
			break;
	}
	if (!err)
		err = sg_import_set_close(ctx, set_id);
	if (!err) {
		json_t *out =
		    json_pack("{s:s, s:s}", "import_set_id", set_id, "multi_import_set_id", multi);
		if (out)
			sg_resp_json(resp, 201, out);
		else
			err = SG_ERR_NOMEM;
		json_decref(out);
	}
	json_decref(body);
	return err;
}
