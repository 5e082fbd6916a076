/*
 * instance.c - a new instance from the base schema, and records loaded from
 * files.
 *
 * The base schema is data (the JSON files in schema/, described in
 * schema/README.md): each file's tables become sys_db_object, sys_dictionary,
 * sys_choice, sys_dictionary_override and sys_number rows and their storage;
 * its records go through the record layer, so numbers, defaults and rules
 * apply.  Demo data (demo/) is loaded the same way into an open instance.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "net/redact.h"
#include "model/internal.h"
#include "model/rules.h"

struct base_rows {
	json_t *objs, *dict, *choices, *overrides, *types, *numbers, *records;
	json_t *updates; /* [[table, row with sys_id], ...], in file order */
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
	b->updates = json_array();
	return b->objs && b->dict && b->choices && b->overrides && b->types && b->numbers &&
	       b->records && b->updates;
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
	json_decref(b->updates);
}

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
	const char *s = sg_json_str(o, k);
	return s ? s : dflt;
}

/* Appends row (a new reference, may be NULL) to arr. */
static sg_err push(json_t *arr, json_t *row)
{
	return row && !json_array_append_new(arr, row) ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* Formats a key for a derived sys_id; a key that does not fit is an error,
 * never a shorter key (two rows would share an id). */
static sg_err key_of(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sg_err key_of(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		sg_log_error("schema: key too long: %.60s...", out);
		return SG_ERR_INTERNAL;
	}
	return SG_ERR_OK;
}

/* A field's dictionary row from its schema entry [element, type, length,
 * label, {options}]. */
static sg_err add_field_row(struct base_rows *b, json_t *def, const char *name, size_t i,
                            json_t *fd, const char *display)
{
	json_t *opts = json_array_get(fd, 4);
	struct sg__field_def f = {
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
	json_t *row = sg__dict_row(name, &f);
	if (!row)
		return SG_ERR_NOMEM;
	bool ok = true;
	static const char *flags[] = {"mandatory", "read_only", "display",
	                              "virtual",   "unique",    "audit"};
	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
		if (json_is_true(json_object_get(opts, flags[k])))
			ok &= !json_object_set_new(row, flags[k], json_string("true"));
	/* The table's display field, as the schema names it. */
	if (display && !strcmp(display, f.element))
		ok &= !json_object_set_new(row, "display", json_string("true"));
	if (sg_json_str(opts, "ref"))
		ok &= !json_object_set_new(row, "reference", json_string(sg_json_str(opts, "ref")));
	json_t *choices = json_object_get(json_object_get(def, "choices"), f.element);
	int choice = choices ? 3 : 0;
	if (json_object_get(opts, "choice"))
		choice = (int)json_integer_value(json_object_get(opts, "choice"));
	char cbuf[16];
	snprintf(cbuf, sizeof(cbuf), "%d", choice);
	ok &= !json_object_set_new(row, "choice", json_string(cbuf));
	if (!ok) {
		json_decref(row);
		return SG_ERR_NOMEM;
	}
	return push(b->dict, row);
}

static sg_err add_table_rows(struct base_rows *b, json_t *def)
{
	const char *name = jstr(def, "name", "");
	const char *label = jstr(def, "label", name);
	const char *parent = sg_json_str(def, "extends");
	bool extendable = json_is_true(json_object_get(def, "extendable"));
	char id[SG_ID_LEN + 1], sup[SG_ID_LEN + 1] = "", num_id[SG_ID_LEN + 1] = "";
	sg_err err = SG_ERR_OK;
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
		err = push(b->numbers,
		           json_pack("{s:s, s:s, s:s, s:s, s:s}", "sys_id", num_id, "category",
		                     name, "prefix", jstr(number, "prefix", ""), "number", base,
		                     "maximum_digits", digits));
	}
	if (!err)
		err = push(b->objs,
		           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", id, "name", name,
		                     "label", label, "super_class", sup, "is_extendable",
		                     extendable ? "true" : "false", "number_ref", num_id));
	if (!err)
		err = push(b->dict, sg__collection_row(
		                        name, label, json_is_true(json_object_get(def, "audit"))));
	if (!err && !parent)
		err = sg__sys_field_rows(b->dict, name, extendable,
		                         json_is_true(json_object_get(def, "domain")));
	size_t i;
	json_t *fd;
	const char *display = sg_json_str(def, "display");
	if (!display) {
		/* Undeclared: the dictionary's own choice, name then number (a
		 * table whose fields have neither inherits its parent's). */
		json_array_foreach(json_object_get(def, "fields"), i, fd)
		{
			const char *e = json_string_value(json_array_get(fd, 0));
			if (e && (!strcmp(e, "name") || (!strcmp(e, "number") && !display)))
				display = e;
		}
	}
	json_array_foreach(json_object_get(def, "fields"), i, fd)
	{
		if (!err)
			err = add_field_row(b, def, name, i, fd, display);
	}
	json_array_foreach(json_object_get(def, "overrides"), i, fd)
	{
		const char *element = json_string_value(json_array_get(fd, 0));
		json_t *opts = json_array_get(fd, 1);
		char key[200], oid[SG_ID_LEN + 1];
		if (!err)
			err = key_of(key, sizeof(key), "%s.%s", name, element ? element : "");
		if (err)
			break;
		sg_id_derive(oid, "sys_dictionary_override", key);
		err = push(b->overrides,
		           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", oid, "name", name,
		                     "element", element ? element : "", "base_table",
		                     parent ? parent : name, "default_value",
		                     jstr(opts, "default", ""), "default_value_override", "true"));
	}
	const char *element;
	json_t *list;
	json_object_foreach(json_object_get(def, "choices"), element, list)
	{
		json_t *c;
		json_array_foreach(list, i, c)
		{
			char key[600], cid[SG_ID_LEN + 1], seq[32];
			const char *value = json_string_value(json_array_get(c, 0));
			const char *clabel = json_string_value(json_array_get(c, 1));
			if (!err && (!value || !clabel))
				err = SG_ERR_INTERNAL;
			if (!err)
				err = key_of(key, sizeof(key), "%s.%s=%s", name, element, value);
			if (err)
				break;
			sg_id_derive(cid, "sys_choice", key);
			snprintf(seq, sizeof(seq), "%zu", i * 10);
			err = push(b->choices,
			           json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id",
			                     cid, "name", name, "element", element, "value", value,
			                     "label", clabel, "sequence", seq, "language", "en",
			                     "inactive", "false"));
		}
	}
	return err;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the .json files in dir, sorted: *out a new array of new
 * strings (free each, then the array), *n their count. */
static sg_err list_json_files(const char *dir, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		sg_log_error("schema: cannot open %s", dir);
		return SG_ERR_INTERNAL;
	}
	sg_err err = SG_ERR_OK;
	size_t cap = 0;
	struct dirent *e;
	while (!err && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **grown = realloc(*out, ncap * sizeof(*grown));
			if (!grown) {
				err = SG_ERR_NOMEM;
				break;
			}
			*out = grown;
			cap = ncap;
		}
		if (!((*out)[*n] = strdup(e->d_name)))
			err = SG_ERR_NOMEM;
		else
			(*n)++;
	}
	closedir(d);
	if (!err && *n)
		qsort(*out, *n, sizeof(**out), cmp_names);
	return err;
}

/* Adds one schema file's tables, types and records to b. */
static sg_err read_schema_file(const char *path, struct base_rows *b)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);
	if (!doc) {
		sg_log_error("schema: %s: %s (line %d)", path, jerr.text, jerr.line);
		return SG_ERR_INTERNAL;
	}
	sg_err err = SG_ERR_OK;
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
		if (!err && (!tn || !tl || !st))
			err = SG_ERR_INTERNAL;
		if (err)
			break;
		sg_id_derive(id, "sys_glide_object", tn);
		err = push(b->types, json_pack("{s:s, s:s, s:s, s:s}", "sys_id", id, "name", tn,
		                               "label", tl, "scalar_type", st));
	}
	const char *table;
	json_object_foreach(json_object_get(doc, "records"), table, v)
	{
		json_t *arr = json_object_get(b->records, table);
		if (!err && !json_is_array(v)) {
			sg_log_error("schema: %s: records of %s are not a list", path, table);
			err = SG_ERR_INTERNAL;
		}
		if (!err && !arr) {
			arr = json_array();
			if (json_object_set_new(b->records, table, arr))
				err = SG_ERR_NOMEM;
		}
		if (!err && json_array_extend(arr, v))
			err = SG_ERR_NOMEM;
	}
	/* "updates": rows of records that already exist (made by an earlier
	 * file, or by init, like the admin), each naming its sys_id. */
	json_object_foreach(json_object_get(doc, "updates"), table, v)
	{
		size_t i;
		json_t *row;
		if (!err && !json_is_array(v)) {
			sg_log_error("schema: %s: updates of %s are not a list", path, table);
			err = SG_ERR_INTERNAL;
		}
		json_array_foreach(v, i, row)
		{
			if (!err && !json_is_string(json_object_get(row, "sys_id"))) {
				sg_log_error("schema: %s: update %zu of %s names no sys_id", path,
				             i, table);
				err = SG_ERR_INTERNAL;
			}
			if (!err)
				err = push(b->updates, json_pack("[s, O]", table, row));
		}
	}
	json_decref(doc);
	return err;
}

/* Reads every schema file in name order into b. */
static sg_err read_schema(const char *dir, struct base_rows *b)
{
	char **names;
	size_t n;
	sg_err err = list_json_files(dir, &names, &n);
	for (size_t i = 0; !err && i < n; i++) {
		char path[4096];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
			sg_log_error("schema: path too long in %s", dir);
			err = SG_ERR_INTERNAL;
		} else {
			err = read_schema_file(path, b);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
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

/* Applies updates ([[table, row], ...]) through the record layer, stopping
 * at the first failure (logged with the row). */
static sg_err update_records(struct sg_ctx *ctx, json_t *updates)
{
	size_t i;
	json_t *u;
	struct sg_write_opts wo = {.allow_sys_fields = true};
	json_array_foreach(updates, i, u)
	{
		const char *table = json_string_value(json_array_get(u, 0));
		json_t *row = json_deep_copy(json_array_get(u, 1));
		if (!row)
			return SG_ERR_NOMEM;
		char id[SG_ID_LEN + 1];
		snprintf(id, sizeof(id), "%s", sg_json_str(row, "sys_id"));
		json_object_del(row, "sys_id");
		sg_err err = sg_rec_update(ctx, table, id, row, &wo);
		json_decref(row);
		if (err) {
			sg_log_error("updates: %s %s: %s %s", table, id, sg_err_name(err),
			             ctx->err_arg);
			return err;
		}
	}
	return SG_ERR_OK;
}

/* A column of a table: *(bool *)ud set. */
static int has_column(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)ncol;
	(void)names;
	(void)vals;
	*(bool *)ud = true;
	return 1;
}

sg_err sg_model_instance_exists(const char *url, bool *out)
{
	*out = false;
	sg_err err = sg_store_exists(url, out);
	if (err || !*out)
		return err;
	sg_store *s = NULL;
	err = sg_store_open(url, false, &s);
	if (err)
		return err;
	char *ident = NULL;
	if (sg_store_ident(s, &ident) == SG_ERR_OK) {
		/* A server's database an admin made for the instance (its role
		 * may not create databases) holds none until its dictionary
		 * exists. */
		sg_conn *c = sg_store_conn(s);
		bool has = false;
		err = c ? sg_conn_columns(c, "sys_dictionary", has_column, &has) : SG_ERR_STORE;
		*out = has;
	}
	free(ident);
	sg_store_close(s);
	return err;
}

sg_err sg_model_init_instance(const char *data_dir, const char *schema_dir,
                              sg_err (*add_rules)(struct sg_model *m))
{
	bool exists = false, had_db = false;
	sg_err err = sg_store_exists(data_dir, &had_db);
	if (!err)
		err = sg_model_instance_exists(data_dir, &exists);
	if (err)
		return err;
	if (exists) {
		char *where = sg_net_masked_url(data_dir);
		sg_log_error("init: %s already holds an instance", where ? where : "the store");
		free(where);
		return SG_ERR_INTERNAL;
	}
	struct base_rows b;
	bool ok = base_rows_init(&b);
	struct sg_model m = {0};
	pthread_mutex_init(&m.lock, NULL);
	sg_map_init(&m.props);
	struct sg_ctx ctx = {0};
	err = ok ? read_schema(schema_dir, &b) : SG_ERR_NOMEM;
	if (!err && add_rules)
		err = add_rules(&m);
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
	if (!err)
		err = update_records(&ctx, b.updates);
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
	if (err && !had_db)
		sg_store_drop(m.store); /* nothing half-made is left behind */
	else
		sg_store_close(m.store); /* not a database an admin made for it */
	if (err && had_db)
		sg_log_error("init: failed in a database that existed before; it may hold "
		             "some tables of the instance: empty it before trying again");
	sg__props_clear(&m);
	sg_map_cleanup(&m.props);
	sg__rules_free(&m);
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
	if (!err)
		err = update_records(&ctx, b.updates);
	if (err) {
		sg_conn_rollback(ctx.conn);
		ctx.dict_dirty = false;
	} else {
		err = sg_conn_commit(ctx.conn);
	}
	/* The writes inside left their after-commit work (the model's sync)
	 * to the commit of this transaction. */
	if (!err)
		sg__ctx_dict_changed(&ctx);
	sg_ctx_end(&ctx);
out:
	base_rows_cleanup(&b);
	return err;
}
