/*
 * schema.c - tables and fields as data.
 *
 * Creates a new instance from the base schema files (the JSON files in schema/), keeps
 * the physical tables in step with the dictionary rows (a sys_dictionary
 * insert adds a column, a sys_db_object insert creates or extends a table),
 * and hands out record numbers from sys_number.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "model/internal.h"

/* ---- DDL ---------------------------------------------------------------- */

/* Columns worth an index besides every reference: what integrations look
 * records up by, and what pollers sort on. */
static bool wants_index(const char *element, enum sg_ftype type)
{
	static const char *names[] = {"number",		"correlation_id", "sys_updated_on",
				      "sys_created_on", "name",
				      "user_name",	"element_id",	  "documentkey",
				      "category",	"element",	  "active",
				      "token",		"client_id"};
	if (type == SG_FT_REFERENCE)
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

/* ---- numbering ---------------------------------------------------------- */

sg_err sg__number_next(struct sg_ctx *ctx, const struct sg_table *t, char **out)
{
	*out = NULL;
	json_t *rows = json_array();
	if (!rows)
		return SG_ERR_NOMEM;
	sg_err err = SG_ERR_OK;
	const struct sg_table *owner = t;
	/* The nearest table up the chain that has a sys_number row. */
	for (; owner && !err; owner = owner->super) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"prefix\", \"number\", \"maximum_digits\" FROM \"sys_number\""
			       " WHERE \"category\" = ");
		sg_sql_text(&q, owner->name);
		err = sg_conn_exec(ctx->conn, &q, sg__rows_to_json, rows, NULL);
		sg_sql_cleanup(&q);
		if (json_array_size(rows))
			break;
	}
	if (err || !owner) {
		json_decref(rows);
		return err;
	}
	json_t *row = json_array_get(rows, 0);
	long long base = atoll(sg_json_str(row, "number"));
	int digits = atoi(sg_json_str(row, "maximum_digits"));
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "%s", sg_json_str(row, "prefix"));
	json_decref(rows);

	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"number\" FROM \"sys_number_counter\" WHERE \"table\" = ");
	sg_sql_text(&q, owner->name);
	char *cur = NULL;
	err = sg_conn_query_string(ctx->conn, &q, &cur);
	sg_sql_cleanup(&q);
	if (err)
		return err;
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
	free(cur);
	if (err)
		return err;
	char num[128];
	snprintf(num, sizeof(num), "%s%0*lld", prefix, digits > 0 && digits < 20 ? digits : 7, next);
	*out = strdup(num);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* ---- the system fields every table gets -------------------------------- */

struct field_def {
	const char *element, *type, *label, *dflt;
	int len;
	bool is_virtual;
};

static const struct field_def sys_fields[] = {
	{"sys_id", "GUID", "Sys ID", NULL, 32, false},
	{"sys_created_on", "glide_date_time", "Created", NULL, 40, false},
	{"sys_created_by", "string", "Created by", NULL, 40, false},
	{"sys_updated_on", "glide_date_time", "Updated", NULL, 40, false},
	{"sys_updated_by", "string", "Updated by", NULL, 40, false},
	{"sys_mod_count", "integer", "Updates", "0", 40, false},
	{"sys_tags", "string", "Tags", NULL, 40, true},
};
static const struct field_def class_field = {"sys_class_name", "sys_class_name", "Class", NULL,
					     80, false};
static const struct field_def domain_fields[] = {
	{"sys_domain", "domain_id", "Domain", "global", 32, false},
	{"sys_domain_path", "domain_path", "Domain Path", "/", 255, false},
};

static json_t *dict_row(const char *table, const struct field_def *f)
{
	char id[SG_ID_LEN + 1], key[200], len[16];
	snprintf(key, sizeof(key), "%s.%s", table, f->element);
	sg_id_derive(id, "sys_dictionary", key);
	snprintf(len, sizeof(len), "%d", f->len);
	json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", id, "name",
				table, "element", f->element, "column_label", f->label,
				"internal_type", f->type, "max_length", len, "virtual",
				f->is_virtual ? "true" : "false", "active", "true");
	if (row && f->dflt)
		json_object_set_new(row, "default_value", json_string(f->dflt));
	return row;
}

static json_t *collection_row(const char *table, const char *label, bool audit)
{
	char id[SG_ID_LEN + 1];
	sg_id_derive(id, "sys_dictionary", table);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", id, "name", table,
			 "column_label", label, "internal_type", "collection", "audit",
			 audit ? "true" : "false", "active", "true");
}

/* ---- hooks for writes to the dictionary tables -------------------------- */

static bool named(const struct sg__write *w, const char *table)
{
	return !strcmp(w->cls->root->name, table);
}

static sg_err refuse(struct sg_ctx *ctx, const char *why)
{
	sg_ctx_set_err(ctx, "%s", why);
	return SG_ERR_INVALID_INSERT;
}

/* Keeps a key field as it was: renaming a table or column is not a write
 * the dictionary supports. */
static void keep_old(struct sg__write *w, const char *element)
{
	if (!w->insert)
		sg__set(w, element, sg_json_str(w->old, element));
}

sg_err sg__schema_before(struct sg__write *w)
{
	struct sg_ctx *ctx = w->ctx;
	if (named(w, "sys_db_object")) {
		keep_old(w, "name");
		keep_old(w, "super_class");
		if (!w->insert)
			return SG_ERR_OK;
		const char *name = sg__val(w, "name");
		if (!sg_str_is_ident(name, 80))
			return refuse(ctx, "Invalid table name: use lower-case letters, digits and "
					   "underscores");
		if (sg_dict_table(ctx->dict, name))
			return refuse(ctx, "Table already exists");
		const char *sup = sg__val(w, "super_class");
		if (*sup) {
			const struct sg_table *p = NULL;
			for (size_t i = 0; i < ctx->dict->ntables && !p; i++)
				if (!strcmp(ctx->dict->list[i]->sys_id, sup) ||
				    !strcmp(ctx->dict->list[i]->name, sup))
					p = ctx->dict->list[i];
			if (!p)
				return refuse(ctx, "Extended table does not exist");
			sg__set(w, "super_class", p->sys_id);
		}
		if (!*sg__val(w, "label"))
			sg__set(w, "label", name);
		/* The table's own sys_id is derived from its name, like the base
		 * schema's, unless the caller chose one. */
		if (!json_object_get(w->explicit, "sys_id")) {
			char id[SG_ID_LEN + 1];
			sg_id_derive(id, "sys_db_object", name);
			sg__set(w, "sys_id", id);
		}
	} else if (named(w, "sys_dictionary")) {
		keep_old(w, "name");
		keep_old(w, "element");
		keep_old(w, "internal_type");
		if (!w->insert)
			return SG_ERR_OK;
		const struct sg_table *t = sg_dict_table(ctx->dict, sg__val(w, "name"));
		const char *element = sg__val(w, "element");
		if (!t)
			return refuse(ctx, "Table does not exist");
		if (!*element)
			return SG_ERR_OK; /* a collection row */
		if (!sg_str_is_ident(element, 80))
			return refuse(ctx, "Invalid column name: use lower-case letters, digits "
					   "and underscores");
		if (sg_table_field(t, element))
			return refuse(ctx, "Column already exists");
		if (!*sg__val(w, "column_label"))
			sg__set(w, "column_label", element);
		if (sg_ftype_from_name(sg__val(w, "internal_type")) == SG_FT_REFERENCE &&
		    !sg_dict_table(ctx->dict, sg__val(w, "reference")))
			return refuse(ctx, "Reference table does not exist");
	}
	return SG_ERR_OK;
}

/* Makes a root table extendable: it gains sys_class_name. */
static sg_err make_hierarchy(struct sg_ctx *ctx, const struct sg_table *root)
{
	if (root->hierarchy)
		return SG_ERR_OK;
	const struct sg_table *dt = sg_dict_table(ctx->dict, "sys_dictionary");
	json_t *row = dict_row(root->name, &class_field);
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
static sg_err create_table(struct sg__write *w)
{
	struct sg_ctx *ctx = w->ctx;
	const struct sg_table *dt = sg_dict_table(ctx->dict, "sys_dictionary");
	const char *name = sg__val(w, "name");
	const char *sup = sg__val(w, "super_class");
	json_t *rows = json_array();
	if (!rows)
		return SG_ERR_NOMEM;
	json_array_append_new(rows, collection_row(name, sg__val(w, "label"), false));
	if (!*sup) {
		for (size_t i = 0; i < sizeof(sys_fields) / sizeof(sys_fields[0]); i++)
			json_array_append_new(rows, dict_row(name, &sys_fields[i]));
		if (sg_str_bool(sg__val(w, "is_extendable"), false))
			json_array_append_new(rows, dict_row(name, &class_field));
	}
	sg_err err = SG_ERR_OK;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (!err)
			err = row ? sg__insert_plain(ctx, dt, row) : SG_ERR_NOMEM;
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

sg_err sg__schema_after(struct sg__write *w)
{
	struct sg_ctx *ctx = w->ctx;
	if (named(w, "sys_db_object")) {
		ctx->dict_dirty = true;
		return w->insert ? create_table(w) : SG_ERR_OK;
	}
	if (named(w, "sys_dictionary")) {
		ctx->dict_dirty = true;
		const struct sg_table *t = sg_dict_table(ctx->dict, sg__val(w, "name"));
		const char *element = sg__val(w, "element");
		if (!w->insert || !t || !*element)
			return SG_ERR_OK;
		struct sg_field f = {.type = sg_ftype_from_name(sg__val(w, "internal_type"))};
		f.element = (char *)element;
		if (!sg_str_bool(sg__val(w, "virtual"), false) && sg_field_is_stored(&f))
			return sg__ddl_add_column(ctx, t->root, element, f.type);
		return SG_ERR_OK;
	}
	if (named(w, "sys_choice") || named(w, "sys_dictionary_override"))
		ctx->dict_dirty = true;
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

sg_err sg__schema_before_delete(struct sg_ctx *ctx, const struct sg_table *cls, json_t *old)
{
	const char *root = cls->root->name;
	if (!strcmp(root, "sys_db_object")) {
		const struct sg_table *t = sg_dict_table(ctx->dict, sg_json_str(old, "name"));
		ctx->dict_dirty = true;
		if (!t)
			return SG_ERR_OK;
		if (t->nchildren) {
			sg_ctx_set_err(ctx, "Table %s is extended by other tables", t->name);
			return SG_ERR_INVALID_INSERT;
		}
		return drop_table(ctx, t);
	}
	/* A deleted column keeps its storage (other tables of the hierarchy may
	 * share the name); the dictionary simply stops knowing it. */
	if (!strcmp(root, "sys_dictionary") || !strcmp(root, "sys_choice") ||
	    !strcmp(root, "sys_dictionary_override"))
		ctx->dict_dirty = true;
	return SG_ERR_OK;
}

/* ---- a new instance from the base schema -------------------------------- */

struct base_rows {
	json_t *objs, *dict, *choices, *overrides, *types, *numbers, *records;
};

static bool base_rows_init(struct base_rows *b)
{
	b->objs = json_array();
	b->dict = json_array();
	b->choices = json_array();
	b->overrides = json_array();
	b->types = json_array();
	b->numbers = json_array();
	b->records = json_object();
	return b->objs && b->dict && b->choices && b->overrides && b->types && b->numbers &&
	       b->records;
}

static void base_rows_cleanup(struct base_rows *b)
{
	json_decref(b->objs);
	json_decref(b->dict);
	json_decref(b->choices);
	json_decref(b->overrides);
	json_decref(b->types);
	json_decref(b->numbers);
	json_decref(b->records);
}

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
	const char *s = sg_json_str(o, k);
	return s ? s : dflt;
}

static sg_err add_table_rows(struct base_rows *b, json_t *def)
{
	const char *name = jstr(def, "name", "");
	const char *label = jstr(def, "label", name);
	const char *parent = sg_json_str(def, "extends");
	bool extendable = json_is_true(json_object_get(def, "extendable"));
	char id[SG_ID_LEN + 1], sup[SG_ID_LEN + 1] = "", num_id[SG_ID_LEN + 1] = "";
	if (!sg_str_is_ident(name, 80)) {
		sg_log_error("schema: bad table name '%s'", name);
		return SG_ERR_INTERNAL;
	}
	sg_id_derive(id, "sys_db_object", name);
	if (parent)
		sg_id_derive(sup, "sys_db_object", parent);
	json_t *number = json_object_get(def, "number");
	if (number) {
		char base[32], digits[32];
		sg_id_derive(num_id, "sys_number", name);
		snprintf(base, sizeof(base), "%lld",
			 (long long)json_integer_value(json_object_get(number, "base")));
		json_int_t d = json_integer_value(json_object_get(number, "digits"));
		snprintf(digits, sizeof(digits), "%lld", (long long)(d ? d : 7));
		json_array_append_new(b->numbers,
				      json_pack("{s:s, s:s, s:s, s:s, s:s}", "sys_id", num_id,
						"category", name, "prefix",
						jstr(number, "prefix", ""), "number", base,
						"maximum_digits", digits));
	}
	json_array_append_new(b->objs,
			      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", id, "name", name,
					"label", label, "super_class", sup, "is_extendable",
					extendable ? "true" : "false", "number_ref", num_id));
	json_array_append_new(b->dict, collection_row(name, label,
						      json_is_true(json_object_get(def, "audit"))));
	if (!parent) {
		for (size_t i = 0; i < sizeof(sys_fields) / sizeof(sys_fields[0]); i++)
			json_array_append_new(b->dict, dict_row(name, &sys_fields[i]));
		if (extendable)
			json_array_append_new(b->dict, dict_row(name, &class_field));
		if (json_is_true(json_object_get(def, "domain")))
			for (size_t i = 0; i < 2; i++)
				json_array_append_new(b->dict, dict_row(name, &domain_fields[i]));
	}
	size_t i;
	json_t *fd;
	json_array_foreach(json_object_get(def, "fields"), i, fd)
	{
		json_t *opts = json_array_get(fd, 4);
		struct field_def f = {
			.element = json_string_value(json_array_get(fd, 0)),
			.type = json_string_value(json_array_get(fd, 1)),
			.len = (int)json_integer_value(json_array_get(fd, 2)),
			.label = json_string_value(json_array_get(fd, 3)),
			.dflt = sg_json_str(opts, "default"),
		};
		if (!f.element || !f.type || !f.label) {
			sg_log_error("schema: bad field %zu of %s", i, name);
			return SG_ERR_INTERNAL;
		}
		json_t *row = dict_row(name, &f);
		if (!row)
			return SG_ERR_NOMEM;
		static const char *flags[] = {"mandatory", "read_only", "display", "virtual"};
		for (size_t k = 0; k < 4; k++)
			if (json_is_true(json_object_get(opts, flags[k])))
				json_object_set_new(row, flags[k], json_string("true"));
		if (sg_json_str(opts, "ref"))
			json_object_set_new(row, "reference", json_string(sg_json_str(opts, "ref")));
		json_t *choices = json_object_get(json_object_get(def, "choices"), f.element);
		int choice = choices ? 3 : 0;
		if (json_object_get(opts, "choice"))
			choice = (int)json_integer_value(json_object_get(opts, "choice"));
		char cbuf[8];
		snprintf(cbuf, sizeof(cbuf), "%d", choice);
		json_object_set_new(row, "choice", json_string(cbuf));
		json_array_append_new(b->dict, row);
	}
	json_array_foreach(json_object_get(def, "overrides"), i, fd)
	{
		const char *element = json_string_value(json_array_get(fd, 0));
		json_t *opts = json_array_get(fd, 1);
		char key[200], oid[SG_ID_LEN + 1];
		snprintf(key, sizeof(key), "%s.%s", name, element ? element : "");
		sg_id_derive(oid, "sys_dictionary_override", key);
		json_array_append_new(b->overrides,
				      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", oid,
						"name", name, "element", element ? element : "",
						"base_table", parent ? parent : name, "default_value",
						jstr(opts, "default", ""), "default_value_override",
						"true"));
	}
	const char *element;
	json_t *list;
	json_object_foreach(json_object_get(def, "choices"), element, list)
	{
		json_t *c;
		json_array_foreach(list, i, c)
		{
			char key[300], cid[SG_ID_LEN + 1], seq[16];
			const char *value = json_string_value(json_array_get(c, 0));
			const char *clabel = json_string_value(json_array_get(c, 1));
			if (!value || !clabel)
				return SG_ERR_INTERNAL;
			snprintf(key, sizeof(key), "%s.%s=%s", name, element, value);
			sg_id_derive(cid, "sys_choice", key);
			snprintf(seq, sizeof(seq), "%zu", i * 10);
			json_array_append_new(
				b->choices,
				json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", cid,
					  "name", name, "element", element, "value", value, "label",
					  clabel, "sequence", seq, "language", "en", "inactive",
					  "false"));
		}
	}
	return SG_ERR_OK;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads every schema file in name order into b. */
static sg_err read_schema(const char *dir, struct base_rows *b)
{
	DIR *d = opendir(dir);
	if (!d) {
		sg_log_error("schema: cannot open %s", dir);
		return SG_ERR_INTERNAL;
	}
	char *names[256];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 256) {
		size_t len = strlen(e->d_name);
		if (len > 5 && !strcmp(e->d_name + len - 5, ".json"))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	sg_err err = SG_ERR_OK;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i] ? names[i] : "");
		json_error_t jerr;
		json_t *doc = names[i] ? json_load_file(path, 0, &jerr) : NULL;
		if (!doc) {
			sg_log_error("schema: %s: %s (line %d)", path, jerr.text, jerr.line);
			err = SG_ERR_INTERNAL;
		}
		size_t k;
		json_t *v;
		json_array_foreach(json_object_get(doc, "tables"), k, v)
		{
			if (!err)
				err = add_table_rows(b, v);
		}
		json_array_foreach(json_object_get(doc, "glide_types"), k, v)
		{
			char id[SG_ID_LEN + 1];
			const char *tn = json_string_value(json_array_get(v, 0));
			const char *tl = json_string_value(json_array_get(v, 1));
			const char *st = json_string_value(json_array_get(v, 2));
			if (!tn || !tl || !st) {
				err = SG_ERR_INTERNAL;
				continue;
			}
			sg_id_derive(id, "sys_glide_object", tn);
			json_array_append_new(b->types,
					      json_pack("{s:s, s:s, s:s, s:s}", "sys_id", id, "name",
							tn, "label", tl, "scalar_type", st));
		}
		const char *table;
		json_object_foreach(json_object_get(doc, "records"), table, v)
		{
			json_t *arr = json_object_get(b->records, table);
			if (!arr) {
				arr = json_array();
				json_object_set_new(b->records, table, arr);
			}
			json_array_extend(arr, v);
		}
		json_decref(doc);
		free(names[i]);
	}
	return err;
}

static sg_err insert_all(struct sg_ctx *ctx, const char *table, json_t *rows)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t)
		return SG_ERR_INTERNAL;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (!row)
			return SG_ERR_NOMEM;
		sg_err err = sg__insert_plain(ctx, t, row);
		if (err)
			return err;
	}
	return SG_ERR_OK;
}

/* Inserts {"<table>": [rows]} through the record layer, stopping at the
 * first failure (logged with the row). */
static sg_err insert_records(struct sg_ctx *ctx, json_t *records)
{
	const char *table;
	json_t *rows;
	json_object_foreach(records, table, rows)
	{
		size_t i;
		json_t *row;
		struct sg_write_opts wo = {.allow_sys_fields = true};
		char id[SG_ID_LEN + 1];
		json_array_foreach(rows, i, row)
		{
			sg_err err = sg_rec_insert(ctx, table, row, &wo, id);
			if (err) {
				sg_log_error("records: %s row %zu: %s %s", table, i,
					     sg_err_name(err), ctx->err_arg);
				return err;
			}
		}
	}
	return SG_ERR_OK;
}

sg_err sg_model_init_instance(const char *data_dir, const char *schema_dir)
{
	bool exists = false;
	sg_err err = sg_store_exists(data_dir, &exists);
	if (err)
		return err;
	if (exists) {
		sg_log_error("init: %s already holds an instance", data_dir);
		return SG_ERR_INTERNAL;
	}
	struct base_rows b;
	bool ok = base_rows_init(&b);
	struct sg_model m = {0};
	pthread_mutex_init(&m.lock, NULL);
	sg_map_init(&m.props);
	struct sg_ctx ctx = {0};
	err = ok ? read_schema(schema_dir, &b) : SG_ERR_NOMEM;
	if (!err)
		err = sg_store_open(data_dir, true, &m.store);
	if (!err) {
		m.dict = sg_dict_build(b.objs, b.dict, b.choices, b.overrides);
		if (!m.dict)
			err = SG_ERR_INTERNAL;
		else
			m.dict->refs = 1;
	}
	m.bootstrapping = true;
	if (!err)
		err = sg_ctx_begin(&ctx, &m, NULL);
	if (!err)
		err = sg_conn_begin(ctx.conn, true);
	if (err)
		goto out;
	err = sg__gen_create(&ctx);
	for (size_t i = 0; !err && i < ctx.dict->ntables; i++)
		if (ctx.dict->list[i]->root == ctx.dict->list[i])
			err = sg__ddl_create_table(&ctx, ctx.dict->list[i]);
	if (!err)
		err = insert_all(&ctx, "sys_db_object", b.objs);
	if (!err)
		err = insert_all(&ctx, "sys_dictionary", b.dict);
	if (!err)
		err = insert_all(&ctx, "sys_choice", b.choices);
	if (!err)
		err = insert_all(&ctx, "sys_dictionary_override", b.overrides);
	if (!err)
		err = insert_all(&ctx, "sys_glide_object", b.types);
	if (!err)
		err = insert_all(&ctx, "sys_number", b.numbers);
	if (!err)
		err = insert_records(&ctx, b.records);
	if (err) {
		sg_conn_rollback(ctx.conn);
		sg_log_error("init: %s (%s)", sg_err_name(err), ctx.err_arg);
	} else {
		err = sg_conn_commit(ctx.conn);
	}
out:
	if (ctx.model)
		sg_ctx_end(&ctx);
	if (m.dict && --m.dict->refs == 0)
		sg_dict_free(m.dict);
	if (err)
		sg_store_drop(m.store); /* nothing half-made is left behind */
	else
		sg_store_close(m.store);
	sg__props_clear(&m);
	sg_map_cleanup(&m.props);
	pthread_mutex_destroy(&m.lock);
	base_rows_cleanup(&b);
	return err;
}

sg_err sg_model_load_records(struct sg_model *m, const char *dir)
{
	struct base_rows b;
	bool ok = base_rows_init(&b);
	struct sg_ctx ctx;
	sg_err err = ok ? read_schema(dir, &b) : SG_ERR_NOMEM;
	if (!err)
		err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		goto out;
	err = sg_conn_begin(ctx.conn, true);
	if (!err)
		err = insert_records(&ctx, b.records);
	if (err)
		sg_conn_rollback(ctx.conn);
	else
		err = sg_conn_commit(ctx.conn);
	sg_ctx_end(&ctx);
out:
	base_rows_cleanup(&b);
	return err;
}
