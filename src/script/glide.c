/*
 * glide.c - the natives behind prelude.js: records through the model
 * (GlideRecord as the system, GlideRecordSecure through the Table API's
 * auth checks), aggregates, logs, properties, the date helpers of
 * query/js.c, events.
 *
 * A refusal the platform answers normally (an ACL, a data policy, a record
 * that does not exist) is the script's business: the native answers
 * null/false and says why in the run's output.  A failure of the platform
 * (out of memory, the store) ends the run (sg__script_fail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/acl.h"
#include "core/log.h"
#include "core/util.h"
#include "model/model.h"
#include "query/js.h"
#include "query/query.h"
#include "script/brules.h"
#include "script/internal.h"

/* The most rows one query gives a script (its memory limit bounds it too). */
#define ROWS_MAX 50000

static bool platform_err(sg_err err)
{
	return err == SG_ERR_NOMEM || err == SG_ERR_STORE || err == SG_ERR_INTERNAL ||
	       err == SG_ERR_BUSY;
}

static const struct sg_table *table_of(duk_context *ctx, struct sg__script_state *st, int idx)
{
	const char *name = duk_require_string(ctx, idx);
	const struct sg_table *t = sg_dict_table(st->ctx->dict, name);
	if (!t)
		(void)duk_error(ctx, DUK_ERR_ERROR, "Invalid table name %s", name);
	return t;
}

/* Says why an operation was refused, in the run's output and the nowd log. */
static void refused(struct sg__script_state *st, const char *what, const char *table, sg_err err)
{
	char line[400];
	snprintf(line, sizeof(line), "%s on %s refused: %s", what, table, sg_err_name(err));
	sg__script_output(st, line);
	sg_log_debug("script: %s", line);
}

/* Secret fields never reach a script. */
static void strip_secrets(const struct sg_table *t, json_t *rec)
{
	for (size_t k = 0; k < t->nfields; k++)
		if (sg_field_is_secret(t->fields[k]) && json_object_get(rec, t->fields[k]->element))
			json_object_set_new(rec, t->fields[k]->element, json_string(""));
}

/* Pushes a jansson value; fails the run when it cannot be encoded. */
static void push_json(duk_context *ctx, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	if (!text) {
		sg__script_fail(ctx, SG_ERR_NOMEM);
		return;
	}
	duk_push_string(ctx, text);
	free(text);
	duk_json_decode(ctx, -1);
}

/* The JavaScript value at idx as a jansson value (NULL: out of memory). */
static json_t *get_json(duk_context *ctx, duk_idx_t idx)
{
	duk_dup(ctx, idx);
	const char *text = duk_json_encode(ctx, -1);
	json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	duk_pop(ctx);
	return v;
}

/* Field read decisions of the secure session on each row. */
static sg_err secure_fields(struct sg__script_state *st, const struct sg_table *t, json_t *rows)
{
	const signed char *plan = NULL;
	sg_err err = sg_acl_read_plan(st->as, t, &plan);
	if (err || !plan)
		return err;
	size_t i;
	json_t *rec;
	json_array_foreach(rows, i, rec)
	{
		for (size_t k = 0; k < t->nfields; k++) {
			const char *el = t->fields[k]->element;
			bool ok = plan[k] > 0;
			if (plan[k] < 0 &&
			    (err = sg_acl_field(st->as, t, el, SG_ACL_READ, rec, &ok)))
				return err;
			if (!ok && strcmp(el, "sys_id") != 0)
				json_object_set_new(rec, el, json_string(""));
		}
	}
	return SG_ERR_OK;
}

/* Lists t's rows matching encoded, secure or not; *rows NULL when the
 * secure session may not query (empty answer). */
static sg_err list_rows(struct sg__script_state *st, const struct sg_table *t, const char *encoded,
                        long long limit, long long offset, bool secure, bool workflow, bool count,
                        json_t **rows, long long *total)
{
	*rows = NULL;
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = SG_ERR_OK;
	if (!sg_query_parse(&q, encoded)) {
		err = SG_ERR_BAD_PARAM;
		goto out;
	}
	/* The table's query business rules restrict a script's queries as they
	 * do the Table API's, unless setWorkflow(false). */
	if (workflow && (err = sg_brules_query(st->as, t, &q, NULL)))
		goto out;
	if (secure) {
		bool ok;
		if ((err = sg_acl_table_may(st->as, t, SG_ACL_READ, &ok)) || !ok)
			goto out;
		if ((err = sg_acl_query_fields(st->as, t, &q, &ok)) || !ok)
			goto out;
	}
	struct sg_list_opts lo = {.query = &q,
	                          .limit = limit < 0 || limit > ROWS_MAX ? ROWS_MAX : limit,
	                          .offset = offset < 0 ? 0 : offset,
	                          .count = count && !secure};
	err = sg_rec_list(st->ctx, t->name, &lo, rows, total);
	if (!err && secure) {
		if (!(err = sg_acl_filter_rows(st->as, t, *rows)))
			err = secure_fields(st, t, *rows);
		if (count)
			*total = (long long)json_array_size(*rows);
	}
	if (!err) {
		size_t i;
		json_t *rec;
		json_array_foreach(*rows, i, rec) strip_secrets(t, rec);
	}
out:
	sg_query_cleanup(&q);
	if (err) {
		json_decref(*rows);
		*rows = NULL;
	}
	return err;
}

/* N.query(table, encoded, limit, offset, secure, workflow) -> [raw records] */
/* A workflow argument: on unless false was passed. */
static bool workflow_arg(duk_context *ctx, duk_idx_t i)
{
	return duk_is_undefined(ctx, i) || duk_to_boolean(ctx, i);
}

static duk_ret_t n_query(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	const char *enc = duk_to_string(ctx, 1);
	json_t *rows;
	sg_err err = list_rows(st, t, enc, (long long)duk_to_number(ctx, 2),
	                       (long long)duk_to_number(ctx, 3), duk_to_boolean(ctx, 4),
	                       workflow_arg(ctx, 5), false, &rows, NULL);
	if (platform_err(err))
		return sg__script_fail(ctx, err);
	if (err)
		refused(st, "query", t->name, err);
	if (!rows) {
		duk_push_array(ctx);
		return 1;
	}
	push_json(ctx, rows);
	json_decref(rows);
	return 1;
}

/* N.count(table, encoded, secure, workflow) -> number */
static duk_ret_t n_count(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	json_t *rows;
	long long total = 0;
	bool secure = duk_to_boolean(ctx, 2);
	sg_err err = list_rows(st, t, duk_to_string(ctx, 1), secure ? -1 : 0, 0, secure,
	                       workflow_arg(ctx, 3), true, &rows, &total);
	json_decref(rows);
	if (platform_err(err))
		return sg__script_fail(ctx, err);
	duk_push_number(ctx, err ? 0 : (double)total);
	return 1;
}

/* The stored record (NULL when there is none or, secure, it is not
 * readable); a platform failure ends the run. */
static json_t *read_record(duk_context *ctx, struct sg__script_state *st, const struct sg_table *t,
                           const char *id, bool secure)
{
	json_t *rec = NULL;
	sg_err err = sg_rec_get(st->ctx, t->name, id, &rec);
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
		return NULL;
	if (err) {
		sg__script_fail(ctx, err);
		return NULL;
	}
	if (secure) {
		bool ok = false;
		err = sg_acl_record(st->as, t, SG_ACL_READ, rec, &ok);
		json_t *one = json_array();
		if (!err && ok && one && !json_array_append(one, rec))
			err = secure_fields(st, t, one);
		json_decref(one);
		if (err || !ok) {
			json_decref(rec);
			if (platform_err(err))
				sg__script_fail(ctx, err);
			return NULL;
		}
	}
	strip_secrets(t, rec);
	return rec;
}

/* N.get(table, sys_id, secure[, workflow]) -> raw record or null */
static duk_ret_t n_get(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	const char *id = duk_to_string(ctx, 1);
	json_t *rec = read_record(ctx, st, t, id, duk_to_boolean(ctx, 2));
	/* GlideRecord.get(id) passes its workflow flag: the table's query
	 * rules decide whether the record is found, as for a query. */
	if (rec && duk_is_boolean(ctx, 3) && duk_get_boolean(ctx, 3)) {
		bool visible = true;
		sg_err err = sg_brules_visible(st->as, t, id, &visible);
		if (err || !visible) {
			json_decref(rec);
			rec = NULL;
			if (platform_err(err))
				return sg__script_fail(ctx, err);
		}
	}
	if (!rec) {
		duk_push_null(ctx);
		return 1;
	}
	push_json(ctx, rec);
	json_decref(rec);
	return 1;
}

/* The changes object at idx, without fields no script may write (secrets
 * are written, never read: a script may set a password). */
static json_t *changes_of(duk_context *ctx, duk_idx_t idx)
{
	json_t *input = get_json(ctx, idx);
	if (!input || !json_is_object(input)) {
		json_decref(input);
		sg__script_fail(ctx, SG_ERR_NOMEM);
		return NULL;
	}
	return input;
}

/* N.insert(table, changes, secure, autoSys, workflow) -> sys_id or null */
static duk_ret_t n_insert(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	json_t *input = changes_of(ctx, 1);
	bool secure = duk_to_boolean(ctx, 2);
	struct sg_write_opts wo = {.suppress_auto_sys_field = !duk_to_boolean(ctx, 3),
	                           .allow_sys_fields = !secure,
	                           .no_workflow = !duk_to_boolean(ctx, 4)};
	sg_err err = SG_ERR_OK;
	if (secure) {
		bool may = false;
		err = sg_acl_table_may(st->as, t, SG_ACL_CREATE, &may);
		if (!err && !may)
			err = SG_ERR_ACL_INSERT;
		if (!err)
			err = sg_acl_strip_input(st->as, t, SG_ACL_CREATE, input, NULL);
	}
	char id[SG_ID_LEN + 1] = "";
	if (!err)
		err = sg_rec_insert(st->ctx, t->name, input, &wo, id);
	json_decref(input);
	if (platform_err(err))
		return sg__script_fail(ctx, err);
	if (err) {
		refused(st, "insert", t->name, err);
		duk_push_null(ctx);
		return 1;
	}
	duk_push_string(ctx, id);
	return 1;
}

/* N.update(table, sys_id, changes, secure, autoSys, workflow) -> bool */
static duk_ret_t n_update(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	const char *id = duk_to_string(ctx, 1);
	json_t *input = changes_of(ctx, 2);
	bool secure = duk_to_boolean(ctx, 3);
	struct sg_write_opts wo = {.suppress_auto_sys_field = !duk_to_boolean(ctx, 4),
	                           .allow_sys_fields = !secure,
	                           .no_workflow = !duk_to_boolean(ctx, 5)};
	json_object_del(input, "sys_id");
	sg_err err = SG_ERR_OK;
	if (secure) {
		json_t *cur = NULL;
		bool ok = false;
		err = sg_rec_get(st->ctx, t->name, id, &cur);
		if (!err)
			err = sg_acl_record(st->as, t, SG_ACL_WRITE, cur, &ok);
		if (!err && !ok)
			err = SG_ERR_ACL_UPDATE;
		if (!err)
			err = sg_acl_strip_input(st->as, t, SG_ACL_WRITE, input, cur);
		json_decref(cur);
	}
	if (!err)
		err = sg_rec_update(st->ctx, t->name, id, input, &wo);
	json_decref(input);
	if (platform_err(err))
		return sg__script_fail(ctx, err);
	if (err)
		refused(st, "update", t->name, err);
	duk_push_boolean(ctx, !err);
	return 1;
}

/* N.remove(table, sys_id, secure, workflow) -> bool */
static duk_ret_t n_remove(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	const char *id = duk_to_string(ctx, 1);
	sg_err err = SG_ERR_OK;
	if (duk_to_boolean(ctx, 2)) {
		json_t *cur = NULL;
		bool ok = false;
		err = sg_rec_get(st->ctx, t->name, id, &cur);
		if (!err)
			err = sg_acl_record(st->as, t, SG_ACL_DELETE, cur, &ok);
		if (!err && !ok)
			err = SG_ERR_ACL_DELETE;
		json_decref(cur);
	}
	if (!err)
		err = sg_rec_delete(st->ctx, t->name, id);
	if (platform_err(err))
		return sg__script_fail(ctx, err);
	if (err)
		refused(st, "delete", t->name, err);
	duk_push_boolean(ctx, !err);
	return 1;
}

/* N.fields(table) -> {field: {type, ref?}, _display: {_name}} or null */
static duk_ret_t n_fields(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = sg_dict_table(st->ctx->dict, duk_to_string(ctx, 0));
	if (!t) {
		duk_push_null(ctx);
		return 1;
	}
	duk_push_object(ctx);
	for (size_t k = 0; k < t->nfields; k++) {
		const struct sg_field *f = t->fields[k];
		duk_push_object(ctx);
		duk_push_string(ctx, f->type_name ? f->type_name : "");
		duk_put_prop_string(ctx, -2, "type");
		if (f->reference) {
			duk_push_string(ctx, f->reference);
			duk_put_prop_string(ctx, -2, "ref");
		}
		duk_put_prop_string(ctx, -2, f->element);
	}
	if (t->display) {
		duk_push_object(ctx);
		duk_push_string(ctx, t->display->element);
		duk_put_prop_string(ctx, -2, "_name");
		duk_put_prop_string(ctx, -2, "_display");
	}
	return 1;
}

/* N.defaults(table) -> {field: default} (plain values, not javascript:) */
static duk_ret_t n_defaults(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	duk_push_object(ctx);
	for (size_t k = 0; k < t->nfields; k++) {
		const char *d = t->defaults ? t->defaults[k] : NULL;
		if (!d || !*d || !strncmp(d, "javascript:", 11) || sg_field_is_secret(t->fields[k]))
			continue;
		duk_push_string(ctx, d);
		duk_put_prop_string(ctx, -2, t->fields[k]->element);
	}
	return 1;
}

/* N.display(table, field, raw, record_id, class) -> string */
static duk_ret_t n_display(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	const char *el = duk_to_string(ctx, 1), *raw = duk_to_string(ctx, 2);
	const char *id = duk_to_string(ctx, 3);
	const struct sg_table *cls = sg_dict_table(st->ctx->dict, duk_to_string(ctx, 4));
	if (!cls || !sg_table_is_a(cls, t))
		cls = t;
	const struct sg_field *f = sg_table_field(cls, el);
	if (!f) {
		duk_push_string(ctx, raw);
		return 1;
	}
	if (sg_field_is_secret(f)) {
		duk_push_string(ctx, "");
		return 1;
	}
	const char *plain = sg_rec_display_plain(st->ctx, cls, f, raw);
	if (plain) {
		duk_push_string(ctx, plain);
		return 1;
	}
	char *d = sg_rec_display(st->ctx, cls, f, id, raw);
	if (!d)
		return sg__script_fail(ctx, SG_ERR_NOMEM);
	duk_push_string(ctx, d);
	free(d);
	return 1;
}

/* N.can(table, op, record|null) -> bool, for the run's user */
static duk_ret_t n_can(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	const char *op = duk_to_string(ctx, 1);
	enum sg_acl_op o = !strcmp(op, "write")    ? SG_ACL_WRITE
	                   : !strcmp(op, "create") ? SG_ACL_CREATE
	                   : !strcmp(op, "delete") ? SG_ACL_DELETE
	                                           : SG_ACL_READ;
	bool ok = false;
	sg_err err;
	if (duk_is_object(ctx, 2)) {
		json_t *rec = get_json(ctx, 2);
		if (!rec)
			return sg__script_fail(ctx, SG_ERR_NOMEM);
		err = sg_acl_record(st->as, t, o, rec, &ok);
		json_decref(rec);
	} else {
		err = sg_acl_table_may(st->as, t, o, &ok);
	}
	if (err)
		return sg__script_fail(ctx, err);
	duk_push_boolean(ctx, ok);
	return 1;
}

/* N.aggregate(table, encoded, [{fn, field}], [group fields], secure) ->
 * [{groups: [...], count: "n", avg: {field: v}, ...}] */
static duk_ret_t n_aggregate(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_table *t = table_of(ctx, st, 0);
	bool secure = duk_to_boolean(ctx, 4);
	struct sg_agg aggs[16];
	const char *groups[16];
	size_t naggs = 0, ngroups = 0;
	duk_size_t n = duk_get_length(ctx, 2);
	for (duk_size_t i = 0; i < n && naggs < 16; i++) {
		duk_get_prop_index(ctx, 2, (duk_uarridx_t)i);
		duk_get_prop_string(ctx, -1, "fn");
		const char *fn = duk_to_string(ctx, -1);
		duk_get_prop_string(ctx, -2, "field");
		const char *field = duk_to_string(ctx, -1);
		if (strcmp(fn, "count") != 0) {
			memset(&aggs[naggs], 0, sizeof(aggs[naggs]));
			snprintf(aggs[naggs].fn, sizeof(aggs[naggs].fn), "%s", fn);
			snprintf(aggs[naggs].field, sizeof(aggs[naggs].field), "%s", field);
			naggs++;
		}
		duk_pop_3(ctx);
	}
	n = duk_get_length(ctx, 3);
	for (duk_size_t i = 0; i < n && ngroups < 16; i++) {
		duk_get_prop_index(ctx, 3, (duk_uarridx_t)i);
		groups[ngroups++] = duk_to_string(ctx, -1); /* kept on the stack */
	}
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = SG_ERR_OK;
	json_t *rows = NULL;
	struct sg_sql where;
	sg_sql_init(&where);
	if (!sg_query_parse(&q, duk_to_string(ctx, 1)))
		err = SG_ERR_BAD_PARAM;
	if (!err && secure) {
		bool ok = false;
		if (!(err = sg_acl_table_may(st->as, t, SG_ACL_READ, &ok)) && !ok)
			err = SG_ERR_ACL_READ_TABLE;
		if (!err && !(err = sg_acl_query_fields(st->as, t, &q, &ok)) && !ok)
			err = SG_ERR_ACL_QUERY_FIELD;
		if (!err)
			err = sg_acl_read_where(st->as, t, "t", &where);
	}
	if (!err) {
		struct sg_agg_request ar = {.query = &q,
		                            .count = true,
		                            .aggs = aggs,
		                            .naggs = naggs,
		                            .group_by = groups,
		                            .ngroup = ngroups,
		                            .rows_where = secure ? &where : NULL};
		err = sg_rec_aggregate(st->ctx, t->name, &ar, &rows);
	}
	sg_query_cleanup(&q);
	sg_sql_cleanup(&where);
	if (platform_err(err)) {
		json_decref(rows);
		return sg__script_fail(ctx, err);
	}
	if (err) {
		refused(st, "aggregate", t->name, err);
		duk_push_array(ctx);
		return 1;
	}
	push_json(ctx, rows);
	json_decref(rows);
	return 1;
}

/* N.log(level, message, source|null): syslog, the output, and debug to the
 * nowd log. */
static duk_ret_t n_log(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const char *level = duk_to_string(ctx, 0), *msg = duk_to_string(ctx, 1);
	const char *source = duk_is_string(ctx, 2) ? duk_get_string(ctx, 2) : NULL;
	sg__script_output(st, msg);
	sg_err err = sg_script_syslog(st->ctx, source ? source : "*** Script", level, msg);
	if (err)
		return sg__script_fail(ctx, err);
	return 0;
}

/* N.message(type, text): addInfoMessage / addErrorMessage */
static duk_ret_t n_message(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	if (json_array_size(st->res->messages) >= SG_SCRIPT_MESSAGES_MAX)
		return 0;
	json_t *m = json_pack("{s:s, s:s}", "type", duk_to_string(ctx, 0), "message",
	                      duk_to_string(ctx, 1));
	if (!m || json_array_append_new(st->res->messages, m))
		return sg__script_fail(ctx, SG_ERR_NOMEM);
	return 0;
}

/* N.user() -> {id, name, display} */
static duk_ret_t n_user(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_user *u = &st->ctx->user;
	duk_push_object(ctx);
	duk_push_string(ctx, st->ctx->system && !u->sys_id[0] ? "system" : u->sys_id);
	duk_put_prop_string(ctx, -2, "id");
	duk_push_string(ctx, u->user_name[0] ? u->user_name : "system");
	duk_put_prop_string(ctx, -2, "name");
	duk_push_string(ctx, u->name[0] ? u->name : u->user_name[0] ? u->user_name : "System");
	duk_put_prop_string(ctx, -2, "display");
	return 1;
}

/* N.hasRole(role) -> bool */
static duk_ret_t n_has_role(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	bool held = false;
	sg_err err = sg_acl_has_role(st->as, duk_to_string(ctx, 0), &held);
	if (err)
		return sg__script_fail(ctx, err);
	duk_push_boolean(ctx, held || st->ctx->system);
	return 1;
}

/* N.prop(name) -> string or null */
static duk_ret_t n_prop(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	char *v = NULL;
	sg_err err = sg_prop_get(st->ctx, duk_to_string(ctx, 0), &v);
	if (err)
		return sg__script_fail(ctx, err);
	if (v)
		duk_push_string(ctx, v);
	else
		duk_push_null(ctx);
	free(v);
	return 1;
}

/* N.setProp(name, value): a security property needs security_admin in
 * effect, as through the Table API. */
static duk_ret_t n_set_prop(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	const char *name = duk_to_string(ctx, 0), *value = duk_to_string(ctx, 1);
	if (sg_acl_is_security_property(name) && !st->ctx->system) {
		bool held = false;
		sg_err err = sg_acl_has_role(st->as, "security_admin", &held);
		if (err)
			return sg__script_fail(ctx, err);
		if (!held)
			return duk_error(ctx, DUK_ERR_ERROR,
			                 "Setting %s requires security_admin in effect", name);
	}
	sg_err err = sg_prop_set(st->ctx, name, value);
	if (platform_err(err))
		return sg__script_fail(ctx, err);
	if (err)
		return duk_error(ctx, DUK_ERR_ERROR, "Cannot set property %s", name);
	return 0;
}

/* N.time(helper, args...) -> UTC date-time, through query/js.c's helpers. */
static duk_ret_t n_time(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	int nargs = duk_get_top(ctx) - 1;
	if (nargs > 3)
		nargs = 3;
	const char *args[3] = {"", "", ""};
	for (int i = 0; i < nargs; i++)
		args[i] = duk_to_string(ctx, i + 1);
	const char *name = duk_require_string(ctx, 0);
	int64_t t;
	if (!sg_js_date_helper(sg_ctx_time_zone(st->ctx), sg_time_now(), name, args, nargs, &t))
		return duk_error(ctx, DUK_ERR_TYPE_ERROR, "gs.%s: bad arguments", name);
	char out[SG_DT_LEN + 1];
	sg_time_format(t, out);
	duk_push_string(ctx, out);
	return 1;
}

/* N.parseTime("YYYY-MM-DD[ HH:MM:SS]") -> seconds or null */
static duk_ret_t n_parse_time(duk_context *ctx)
{
	int64_t t;
	if (sg_time_parse(duk_to_string(ctx, 0), &t))
		duk_push_number(ctx, (double)t);
	else
		duk_push_null(ctx);
	return 1;
}

/* N.formatLocal(utc) -> the user's zone */
static duk_ret_t n_format_local(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	char out[SG_DT_LEN + 1];
	sg_ctx_local_time(st->ctx, duk_to_string(ctx, 0), out);
	duk_push_string(ctx, out);
	return 1;
}

static duk_ret_t n_guid(duk_context *ctx)
{
	char id[SG_ID_LEN + 1];
	sg_id_new(id);
	duk_push_string(ctx, id);
	return 1;
}

/* N.event(name, table, instance, parm1, parm2, queue): a sysevent row. */
static duk_ret_t n_event(duk_context *ctx)
{
	struct sg__script_state *st = sg__script_state(ctx);
	if (!sg_dict_table(st->ctx->dict, "sysevent"))
		return duk_error(ctx, DUK_ERR_ERROR,
		                 "gs.eventQueue: this instance has no sysevent table");
	json_t *rec =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name",
	              duk_to_string(ctx, 0), "table", duk_to_string(ctx, 1), "instance",
	              duk_to_string(ctx, 2), "parm1", duk_to_string(ctx, 3), "parm2",
	              duk_to_string(ctx, 4), "queue", duk_to_string(ctx, 5), "state", "ready",
	              "user_id", st->ctx->user.sys_id, "user_name", st->ctx->user.user_name);
	if (!rec)
		return sg__script_fail(ctx, SG_ERR_NOMEM);
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	sg_err err = sg_rec_insert(st->ctx, "sysevent", rec, &wo, id);
	json_decref(rec);
	if (err)
		return sg__script_fail(ctx, err);
	return 0;
}

void sg__glide_push_natives(duk_context *ctx)
{
	static const duk_function_list_entry fns[] = {
	    {"query", n_query, 6},
	    {"count", n_count, 4},
	    {"get", n_get, 4},
	    {"insert", n_insert, 5},
	    {"update", n_update, 6},
	    {"remove", n_remove, 4},
	    {"fields", n_fields, 1},
	    {"defaults", n_defaults, 1},
	    {"display", n_display, 5},
	    {"can", n_can, 3},
	    {"aggregate", n_aggregate, 5},
	    {"log", n_log, 3},
	    {"message", n_message, 2},
	    {"user", n_user, 0},
	    {"hasRole", n_has_role, 1},
	    {"prop", n_prop, 1},
	    {"setProp", n_set_prop, 2},
	    {"time", n_time, DUK_VARARGS},
	    {"parseTime", n_parse_time, 1},
	    {"formatLocal", n_format_local, 1},
	    {"guid", n_guid, 0},
	    {"event", n_event, 6},
	    {NULL, NULL, 0},
	};
	duk_push_object(ctx);
	duk_put_function_list(ctx, -1, fns);
	sg__restmsg_push_natives(ctx, duk_get_top_index(ctx));
}
