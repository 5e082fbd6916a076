/*
 * schema.c - tables and fields as data: storage kept in step with the
 * dictionary.
 *
 * A sys_db_object insert creates a table (or extends one), a sys_dictionary
 * insert adds a column, a deleted sys_db_object row drops its table; any
 * change to the dictionary tables marks the dictionary for reloading.  These
 * are rules of the write pipeline (the table is in rules.c).  The DDL and
 * the dictionary rows of the system fields are shared with instance.c,
 * which creates new instances.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

/* ---- DDL ---------------------------------------------------------------- */

/* Columns worth an index besides every reference: what integrations look
 * records up by, and what pollers sort on. */
static bool wants_index(const char *element, enum sg_ftype type)
{
	static const char *names[] = {
	    "number",    "correlation_id", "sys_updated_on", "sys_created_on", "name",
	    "user_name", "element_id",     "documentkey",    "category",       "element",
	    "active",    "token",          "client_id"};
	if (type == SG_FT_REFERENCE)
		return true;
	/* a record's attachments (every delete looks for them), content by hash */
	if (!strcmp(element, "table_sys_id") || !strcmp(element, "hash"))
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(element, names[i]))
			return true;
	return false;
}

/* CREATE INDEX name ON table (cols...), with a planner hint when stats are
 * given (for leading columns that are not selective). */
static sg_err index_on(struct sg_ctx *ctx, const char *table, const char *name,
                       const char *const *cols, size_t ncols, const struct sg_index_stats *stats)
{
	if (!sg_str_is_ident(name, 80))
		return SG_ERR_OK;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_conn_dialect(ctx->conn)->create_index(&q, table, name, cols, ncols);
	sg_err err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	if (!err && stats)
		err = sg_conn_index_hint(ctx->conn, table, name, stats);
	return err;
}

static sg_err create_index(struct sg_ctx *ctx, const char *table, const char *element,
                           enum sg_ftype type)
{
	char name[200];
	snprintf(name, sizeof(name), "ix_%s_%s", table, element);
	/* A true/false column splits the rows in two: tell the planner, or it
	 * reads half the table through this index instead of walking a better
	 * one (active=true^...^ORDERBYsys_updated_on). */
	static const struct sg_index_stats halves = {1000000, {500000}, 1};
	return index_on(ctx, table, name, &element, 1, type == SG_FT_BOOLEAN ? &halves : NULL);
}

/*
 * A hierarchy's rows are found by class and sorted by update time together
 * (a child table's list, a poller's "updated since" query): one composite
 * index serves both.  A lone class index would not: the planner would
 * prefer it over any selective index, and a class is rarely selective.
 */
static sg_err create_class_index(struct sg_ctx *ctx, const char *root)
{
	static const char *cols[] = {"sys_class_name", "sys_updated_on"};
	char name[200];
	static const struct sg_index_stats stats = {1000000, {200000, 1}, 2};
	snprintf(name, sizeof(name), "ix_%s_class_updated", root);
	return index_on(ctx, root, name, cols, 2, &stats);
}

/*
 * Lists integrations poll most are "active=true^...^ORDERBYDESCsys_updated_on"
 * with X-Total-Count: an index on (class, active, updated) carrying the
 * usual extra filters lets both the page and its count read the index
 * alone, in order.
 */
static sg_err create_active_index(struct sg_ctx *ctx, const struct sg_table *root)
{
	static const char *tail[] = {"priority", "state", "assignment_group"};
	const char *cols[6] = {"sys_class_name", "active", "sys_updated_on"};
	size_t n = 3;
	if (!sg_table_field(root, "active") || !sg_table_field(root, "sys_updated_on"))
		return SG_ERR_OK;
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
		const struct sg_field *f = sg_table_field(root, tail[i]);
		if (f && sg_field_is_stored(f))
			cols[n++] = tail[i];
	}
	/* a class, then active (half of it), then rows told apart */
	struct sg_index_stats stats = {1000000, {200000, 100000, 1, 1, 1, 1}, n};
	char name[200];
	snprintf(name, sizeof(name), "ix_%s_class_active", root->name);
	return index_on(ctx, root->name, name, cols, n, &stats);
}

sg_err sg__ddl_create_table(struct sg_ctx *ctx, const struct sg_table *root)
{
	size_t max = 1;
	for (size_t c = 0; c < root->nclasses; c++) {
		const struct sg_table *t = sg_dict_table(ctx->dict, root->classes[c]);
		max += t ? t->nown : 0;
	}
	struct sg_coldef *cols = malloc(max * sizeof(*cols));
	if (!cols)
		return SG_ERR_NOMEM;
	size_t ncols = 0;
	cols[ncols++] = (struct sg_coldef){"sys_id", SG_COL_ID};
	struct sg_map seen;
	sg_map_init(&seen);
	sg_map_put(&seen, "sys_id", &seen);
	for (size_t c = 0; c < root->nclasses; c++) {
		const struct sg_table *t = sg_dict_table(ctx->dict, root->classes[c]);
		for (size_t i = 0; t && i < t->nown; i++) {
			const struct sg_field *f = t->own[i];
			if (!sg_field_is_stored(f) || sg_map_get(&seen, f->element))
				continue;
			sg_map_put(&seen, f->element, &seen);
			cols[ncols++] = (struct sg_coldef){f->element, sg_ftype_column(f->type)};
		}
	}
	struct sg_sql q;
	sg_sql_init(&q);
	sg_conn_dialect(ctx->conn)->create_table(&q, root->name, cols, ncols);
	free(cols);
	sg_err err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	for (size_t c = 0; !err && c < root->nclasses; c++) {
		const struct sg_table *t = sg_dict_table(ctx->dict, root->classes[c]);
		for (size_t i = 0; !err && t && i < t->nown; i++)
			if (sg_field_is_stored(t->own[i]) &&
			    wants_index(t->own[i]->element, t->own[i]->type))
				err = create_index(ctx, root->name, t->own[i]->element,
				                   t->own[i]->type);
	}
	if (!err && root->hierarchy)
		err = create_class_index(ctx, root->name);
	if (!err && root->hierarchy)
		err = create_active_index(ctx, root);
	sg_map_cleanup(&seen);
	return err;
}

static int note_column(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	const char **want = ud;
	if (ncol > 0 && vals[0] && !strcmp(vals[0], want[0]))
		want[1] = "found";
	return 0;
}

sg_err sg__ddl_add_column(struct sg_ctx *ctx, const struct sg_table *root, const char *element,
                          enum sg_ftype type)
{
	const char *want[2] = {element, NULL};
	sg_err err = sg_conn_columns(ctx->conn, root->name, note_column, want);
	if (err || want[1])
		return err;
	struct sg_sql q;
	sg_sql_init(&q);
	const struct sg_coldef col = {element, sg_ftype_column(type)};
	sg_conn_dialect(ctx->conn)->add_column(&q, root->name, &col);
	err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	if (!err && wants_index(element, type))
		err = create_index(ctx, root->name, element, type);
	return err;
}

/* ---- the system fields every table gets -------------------------------- */

static const struct sg__field_def sys_fields[] = {
    {"sys_id", "GUID", "Sys ID", NULL, 32, false},
    {"sys_created_on", "glide_date_time", "Created", NULL, 40, false},
    {"sys_created_by", "string", "Created by", NULL, 40, false},
    {"sys_updated_on", "glide_date_time", "Updated", NULL, 40, false},
    {"sys_updated_by", "string", "Updated by", NULL, 40, false},
    {"sys_mod_count", "integer", "Updates", "0", 40, false},
    {"sys_tags", "string", "Tags", NULL, 40, true},
};
static const struct sg__field_def class_field = {
    "sys_class_name", "sys_class_name", "Class", NULL, 80, false};
static const struct sg__field_def domain_fields[] = {
    {"sys_domain", "domain_id", "Domain", "global", 32, false},
    {"sys_domain_path", "domain_path", "Domain Path", "/", 255, false},
};

json_t *sg__dict_row(const char *table, const struct sg__field_def *f)
{
	char id[SG_ID_LEN + 1], key[200], len[16];
	if ((size_t)snprintf(key, sizeof(key), "%s.%s", table, f->element) >= sizeof(key))
		return NULL; /* names are identifiers of at most 80 characters */
	sg_id_derive(id, "sys_dictionary", key);
	snprintf(len, sizeof(len), "%d", f->len);
	/* Every boolean column holds "true" or "false", as on the platform;
	 * callers set the ones that are true. */
	json_t *row = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", id,
	    "name", table, "element", f->element, "column_label", f->label, "internal_type",
	    f->type, "max_length", len, "virtual", f->is_virtual ? "true" : "false", "active",
	    "true", "mandatory", "false", "read_only", "false", "display", "false", "unique",
	    "false", "primary", strcmp(f->element, "sys_id") ? "false" : "true", "audit", "false");
	if (row && f->dflt && json_object_set_new(row, "default_value", json_string(f->dflt))) {
		json_decref(row);
		row = NULL;
	}
	return row;
}

json_t *sg__collection_row(const char *table, const char *label, bool audit)
{
	char id[SG_ID_LEN + 1];
	sg_id_derive(id, "sys_dictionary", table);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id",
	                 id, "name", table, "column_label", label, "internal_type", "collection",
	                 "audit", audit ? "true" : "false", "active", "true", "mandatory", "false",
	                 "read_only", "false", "display", "false", "unique", "false", "primary",
	                 "false", "virtual", "false");
}

/* Appends row to arr; SG_ERR_NOMEM when either failed. */
static sg_err push(json_t *arr, json_t *row)
{
	return row && !json_array_append_new(arr, row) ? SG_ERR_OK : SG_ERR_NOMEM;
}

sg_err sg__sys_field_rows(json_t *into, const char *table, bool extendable, bool domain)
{
	sg_err err = SG_ERR_OK;
	for (size_t i = 0; !err && i < sizeof(sys_fields) / sizeof(sys_fields[0]); i++)
		err = push(into, sg__dict_row(table, &sys_fields[i]));
	if (!err && extendable)
		err = push(into, sg__dict_row(table, &class_field));
	for (size_t i = 0; !err && domain && i < 2; i++)
		err = push(into, sg__dict_row(table, &domain_fields[i]));
	return err;
}

/* ---- rules for writes to the dictionary tables -------------------------- */

static sg_err refuse(struct sg_ctx *ctx, const char *why)
{
	sg_ctx_set_err(ctx, "%s", why);
	return SG_ERR_INVALID_INSERT;
}

/* Keeps a key field as it was: renaming a table or column is not a write
 * the dictionary supports. */
static void keep_old(struct sg_write *w, const char *element)
{
	if (!w->insert)
		sg_write_set(w, element, sg_json_str(w->old, element));
}

/* sys_db_object: a new table's name is free, its parent exists. */
sg_err sg__dict_table_check(struct sg_write *w)
{
	struct sg_ctx *ctx = w->ctx;
	keep_old(w, "name");
	keep_old(w, "super_class");
	if (!w->insert)
		return SG_ERR_OK;
	const char *name = sg_write_val(w, "name");
	if (!sg_str_is_ident(name, 80))
		return refuse(ctx, "Invalid table name: use lower-case letters, digits and "
		                   "underscores");
	if (sg_dict_table(ctx->dict, name))
		return refuse(ctx, "Table already exists");
	const char *sup = sg_write_val(w, "super_class");
	if (*sup) {
		const struct sg_table *p = NULL;
		for (size_t i = 0; i < ctx->dict->ntables && !p; i++)
			if (!strcmp(ctx->dict->list[i]->sys_id, sup) ||
			    !strcmp(ctx->dict->list[i]->name, sup))
				p = ctx->dict->list[i];
		if (!p)
			return refuse(ctx, "Extended table does not exist");
		sg_write_set(w, "super_class", p->sys_id);
	}
	if (!*sg_write_val(w, "label"))
		sg_write_set(w, "label", name);
	/* The table's own sys_id is derived from its name, like the base
	 * schema's, unless the caller chose one. */
	if (!json_object_get(w->explicit, "sys_id")) {
		char id[SG_ID_LEN + 1];
		sg_id_derive(id, "sys_db_object", name);
		sg_write_set(w, "sys_id", id);
	}
	return SG_ERR_OK;
}

/* sys_dictionary: a new column's name is free, its reference exists. */
sg_err sg__dict_column_check(struct sg_write *w)
{
	struct sg_ctx *ctx = w->ctx;
	keep_old(w, "name");
	keep_old(w, "element");
	keep_old(w, "internal_type");
	if (!w->insert)
		return SG_ERR_OK;
	const struct sg_table *t = sg_dict_table(ctx->dict, sg_write_val(w, "name"));
	const char *element = sg_write_val(w, "element");
	if (!t)
		return refuse(ctx, "Table does not exist");
	if (!*element)
		return SG_ERR_OK; /* a collection row */
	if (!sg_str_is_ident(element, 80))
		return refuse(ctx, "Invalid column name: use lower-case letters, digits "
		                   "and underscores");
	if (sg_table_field(t, element))
		return refuse(ctx, "Column already exists");
	if (!*sg_write_val(w, "column_label"))
		sg_write_set(w, "column_label", element);
	if (sg_ftype_from_name(sg_write_val(w, "internal_type")) == SG_FT_REFERENCE &&
	    !sg_dict_table(ctx->dict, sg_write_val(w, "reference")))
		return refuse(ctx, "Reference table does not exist");
	return SG_ERR_OK;
}

/* Makes a root table extendable: it gains sys_class_name. */
static sg_err make_hierarchy(struct sg_ctx *ctx, const struct sg_table *root)
{
	if (root->hierarchy)
		return SG_ERR_OK;
	const struct sg_table *dt = sg_dict_table(ctx->dict, "sys_dictionary");
	json_t *row = sg__dict_row(root->name, &class_field);
	sg_err err = row ? sg__insert_plain(ctx, dt, row) : SG_ERR_NOMEM;
	json_decref(row);
	if (!err)
		err = sg__ddl_add_column(ctx, root, "sys_class_name", SG_FT_CLASS_NAME);
	if (!err)
		err = create_class_index(ctx, root->name);
	if (!err) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "UPDATE ");
		sg_sql_ident(&q, root->name);
		sg_sql_raw(&q, " SET \"sys_class_name\" = ");
		sg_sql_text(&q, root->name);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	return err;
}

/* A new table through the API: its dictionary rows and its storage. */
static sg_err create_table(struct sg_write *w)
{
	struct sg_ctx *ctx = w->ctx;
	const struct sg_table *dt = sg_dict_table(ctx->dict, "sys_dictionary");
	const char *name = sg_write_val(w, "name");
	const char *sup = sg_write_val(w, "super_class");
	json_t *rows = json_array();
	if (!rows)
		return SG_ERR_NOMEM;
	sg_err err = push(rows, sg__collection_row(name, sg_write_val(w, "label"), false));
	if (!err && !*sup)
		err = sg__sys_field_rows(
		    rows, name, sg_str_bool(sg_write_val(w, "is_extendable"), false), false);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (!err)
			err = sg__insert_plain(ctx, dt, row);
	}
	json_decref(rows);
	if (err)
		return err;
	if (*sup) {
		for (size_t k = 0; k < ctx->dict->ntables; k++)
			if (!strcmp(ctx->dict->list[k]->sys_id, sup))
				return make_hierarchy(ctx, ctx->dict->list[k]->root);
		return SG_ERR_INTERNAL;
	}
	/* Build the new table's storage from a dictionary that knows it. */
	struct sg_dict *d;
	err = sg__dict_load(ctx->conn, &d);
	if (err)
		return err;
	const struct sg_table *t = sg_dict_table(d, name);
	struct sg_dict *saved = ctx->dict;
	ctx->dict = d;
	err = t ? sg__ddl_create_table(ctx, t) : SG_ERR_INTERNAL;
	ctx->dict = saved;
	sg_dict_free(d);
	return err;
}

/* sys_db_object written: a new table gets its storage. */
sg_err sg__dict_create_table(struct sg_write *w)
{
	w->ctx->dict_dirty = true;
	return w->insert ? create_table(w) : SG_ERR_OK;
}

/* sys_dictionary written: a new stored column gets its storage. */
sg_err sg__dict_add_column(struct sg_write *w)
{
	struct sg_ctx *ctx = w->ctx;
	ctx->dict_dirty = true;
	const struct sg_table *t = sg_dict_table(ctx->dict, sg_write_val(w, "name"));
	const char *element = sg_write_val(w, "element");
	if (!w->insert || !t || !*element)
		return SG_ERR_OK;
	struct sg_field f = {.type = sg_ftype_from_name(sg_write_val(w, "internal_type"))};
	f.element = (char *)element;
	if (!sg_str_bool(sg_write_val(w, "virtual"), false) && sg_field_is_stored(&f))
		return sg__ddl_add_column(ctx, t->root, element, f.type);
	return SG_ERR_OK;
}

/* Any other change to the dictionary tables: the dictionary is reloaded.
 * A deleted column keeps its storage (other tables of the hierarchy may
 * share the name); the dictionary simply stops knowing it. */
sg_err sg__dict_touched(struct sg_write *w)
{
	w->ctx->dict_dirty = true;
	return SG_ERR_OK;
}

/* Deletes every row of a table's own class (a child) or drops it (a root). */
static sg_err drop_table(struct sg_ctx *ctx, const struct sg_table *t)
{
	struct sg_sql q;
	sg_sql_init(&q);
	if (t->root == t) {
		sg_sql_raw(&q, "DROP TABLE IF EXISTS ");
		sg_sql_ident(&q, t->name);
	} else {
		sg_sql_raw(&q, "DELETE FROM ");
		sg_sql_ident(&q, t->root->name);
		sg_sql_raw(&q, " WHERE \"sys_class_name\" = ");
		sg_sql_text(&q, t->name);
	}
	sg_err err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	static const char *meta[] = {"sys_dictionary", "sys_choice", "sys_dictionary_override"};
	for (size_t i = 0; !err && i < 3; i++) {
		sg_sql_reset(&q);
		sg_sql_raw(&q, "DELETE FROM ");
		sg_sql_ident(&q, meta[i]);
		sg_sql_raw(&q, " WHERE \"name\" = ");
		sg_sql_text(&q, t->name);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	}
	sg_sql_cleanup(&q);
	return err;
}

/* A deleted sys_db_object row drops its table, unless others extend it. */
sg_err sg__dict_drop_table(struct sg_write *w)
{
	struct sg_ctx *ctx = w->ctx;
	const struct sg_table *t = sg_dict_table(ctx->dict, sg_json_str(w->old, "name"));
	ctx->dict_dirty = true;
	if (!t)
		return SG_ERR_OK;
	if (t->nchildren) {
		sg_ctx_set_err(ctx, "Table %s is extended by other tables", t->name);
		return SG_ERR_INVALID_INSERT;
	}
	return drop_table(ctx, t);
}
