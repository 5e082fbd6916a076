/*
 * ui_meta.c - GET /api/now/ui/meta/{table}: what a form or a list of table
 * needs to know about it, for the user who asks.
 *
 * ServiceNow's UI renders forms on the server and never asks the browser to
 * read sys_dictionary or sys_choice (whose ACLs keep them for admins); the
 * console's pages are built in the browser, so the server hands them this
 * instead: the table's label and ancestry, and each column the user may read
 * (field-level read ACLs by roles, as the Table API's rendering decides) with
 * its dictionary entry and choices as the table sees them.  Built from the
 * request's dictionary snapshot, through the Table API's own table-level
 * check: a table the user may not read is the same 403 [reference 3.5; the
 * body is {"result":{"columns":{...}}}].
 */
#include <string.h>

#include "api/api.h"
#include "auth/acl.h"

/* A dictionary default the browser may show: a javascript: default is
 * evaluated on insert by the server, and its text is not the user's to read. */
static const char *shown_default(const char *v)
{
	return v && strncmp(v, "javascript:", 11) != 0 ? v : "";
}

/* The column object of f as t sees it (choices, default); new reference or
 * NULL when out of memory. */
static json_t *column(const struct sg_dict *d, const struct sg_table *t, const struct sg_field *f)
{
	json_t *choices = json_array();
	size_t n = 0;
	const struct sg_choice *c = sg_dict_choices(d, t, f->element, &n);
	for (size_t i = 0; choices && i < n; i++) {
		json_t *one = json_pack("{s:s, s:s}", "value", c[i].value, "label",
		                        c[i].label ? c[i].label : c[i].value);
		if (json_array_append_new(choices, one)) {
			json_decref(choices);
			choices = NULL;
		}
	}
	if (!choices)
		return NULL;
	/* "o" takes choices, on failure too */
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:b, s:b, s:i, s:s, s:s, s:o}", "name",
	                 f->element, "label", f->label ? f->label : f->element, "type",
	                 f->type_name ? f->type_name : "string", "reference",
	                 f->reference ? f->reference : "", "max_length", f->max_length, "mandatory",
	                 f->mandatory, "read_only", f->read_only, "display", f->display, "choice",
	                 f->choice, "default_value", shown_default(sg_dict_default(d, t, f)),
	                 "table", f->table->name, "choices", choices);
}

sg_err sg_ui_meta_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const char *name = sg_req_param(req, "table");
	const struct sg_table *t = sg_dict_table(ctx->dict, name);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", name);
		return SG_ERR_INVALID_TABLE;
	}
	/* The Table API's role-only table check [5.3]: the same 403. */
	bool may;
	sg_err err = sg_acl_table_may(as, t, SG_ACL_READ, &may);
	if (err)
		return err;
	if (!may) {
		sg_ctx_set_err(ctx, "%s", t->name);
		return SG_ERR_ACL_READ_TABLE;
	}
	/* 1 readable, 0 not, -1 on some records: such a column is on the
	 * form, and each record's read leaves its value out where it fails. */
	const signed char *plan = NULL;
	err = sg_acl_read_plan(as, t, &plan);
	if (err)
		return err;
	json_t *columns = json_object();
	json_t *ancestry = json_array();
	json_t *out = NULL;
	err = SG_ERR_NOMEM;
	if (!columns || !ancestry)
		goto out;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		if (plan && plan[i] == 0)
			continue;
		if (json_object_set_new(columns, f->element, column(ctx->dict, t, f)))
			goto out;
	}
	for (const struct sg_table *p = t; p; p = p->super)
		if (json_array_append_new(ancestry, json_string(p->name)))
			goto out;
	out = json_pack("{s:{s:s, s:s, s:s, s:O, s:O}}", "result", "name", t->name, "label",
	                t->label ? t->label : t->name, "display_field",
	                t->display ? t->display->element : "", "ancestry", ancestry, "columns",
	                columns);
	if (!out)
		goto out;
	err = sg_ctx_error(ctx);
	if (!err)
		sg_resp_json(resp, 200, out);
out:
	json_decref(out);
	json_decref(ancestry);
	json_decref(columns);
	return err;
}
