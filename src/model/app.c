/*
 * app.c - installing an application in one transaction (see app.h).
 *
 * The dictionary a request holds is a snapshot; an application's own tables
 * and fields become real inside the install's transaction.  So the install
 * builds the dictionary again from the dictionary rows it can see (its own
 * uncommitted ones included) after each table and once all fields and
 * choices are in, and writes the records of its new tables against that;
 * those snapshots live until the install ends.
 */
#include "model/app.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "model/internal.h"

/* ---- reading a folder ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool json_name(const char *n)
{
	size_t len = strlen(n);
	return len > 5 && n[0] != '.' && !strcmp(n + len - 5, ".json");
}

sg_err sg_app_read_dir(const char *dir, json_t **out, char *errmsg, size_t errmsg_size)
{
	*out = NULL;
	errmsg[0] = '\0';
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(errmsg, errmsg_size, "%s: cannot read the folder", dir);
		return SG_ERR_INTERNAL;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	sg_err err = SG_ERR_OK;
	struct dirent *e;
	while (!err && (e = readdir(d))) {
		if (!json_name(e->d_name))
			continue;
		if (n == SG_APP_MAX_FILES) {
			snprintf(errmsg, errmsg_size, "%s: more than %d files", dir,
			         SG_APP_MAX_FILES);
			err = SG_ERR_BAD_PARAM;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				err = SG_ERR_NOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(e->d_name);
		if (!names[n])
			err = SG_ERR_NOMEM;
		else
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	json_t *app = err ? NULL : json_object();
	json_t *files = err ? NULL : json_object();
	if (!err && (!app || !files || json_object_set(app, "files", files)))
		err = SG_ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		json_error_t jerr;
		json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc) {
			snprintf(errmsg, errmsg_size, "%s: %s (line %d)", names[i], jerr.text,
			         jerr.line);
			err = SG_ERR_BAD_PARAM;
		} else if (!strcmp(names[i], "app.json")) {
			if (json_object_set_new(app, "manifest", doc))
				err = SG_ERR_NOMEM;
		} else if (json_object_set_new(files, names[i], doc)) {
			err = SG_ERR_NOMEM;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	json_decref(files);
	if (err)
		json_decref(app);
	else
		*out = app;
	return err;
}

/* ---- ordering ------------------------------------------------------------ */

struct entry {
	const char *file, *table;
	json_t *row;
	int phase;
	size_t seq; /* order of appearance, kept within a phase */
};

static int phase_of(const char *table)
{
	static const char *order[] = {"sys_db_object",
	                              "sys_dictionary",
	                              "sys_dictionary_override",
	                              "sys_choice",
	                              "sys_number",
	                              "sys_user_role",
	                              "sys_user_role_contains",
	                              "sys_security_acl",
	                              "sys_security_acl_role",
	                              "sys_properties"};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (!strcmp(table, order[i]))
			return (int)i;
	return (int)(sizeof(order) / sizeof(order[0]));
}

/* The phases after which records of the application's own tables can be
 * written: the dictionary is complete. */
#define LAST_DICT_PHASE 4

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->phase != y->phase)
		return x->phase - y->phase;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *str_of(json_t *row, const char *key)
{
	const char *v = sg_json_str(row, key);
	return v ? v : "";
}

/* Tables before the tables extending them: sys_db_object entries [0, n) are
 * reordered so that a row whose super_class names (by name or sys_id)
 * another row of the application comes after it.  False on a cycle. */
static bool order_tables(struct entry *e, size_t n)
{
	struct entry *out = malloc((n ? n : 1) * sizeof(*out));
	bool *done = calloc(n ? n : 1, sizeof(*done));
	bool ok = out && done;
	size_t k = 0;
	while (ok && k < n) {
		size_t before = k;
		for (size_t i = 0; i < n; i++) {
			if (done[i])
				continue;
			const char *sup = str_of(e[i].row, "super_class");
			bool waits = false;
			for (size_t j = 0; *sup && j < n && !waits; j++)
				waits = j != i && !done[j] &&
				        (!strcmp(sup, str_of(e[j].row, "name")) ||
				         !strcmp(sup, str_of(e[j].row, "sys_id")));
			if (!waits) {
				out[k++] = e[i];
				done[i] = true;
			}
		}
		ok = k > before;
	}
	if (ok)
		memcpy(e, out, n * sizeof(*e));
	free(out);
	free(done);
	return ok;
}

/* Checks the shape of app and lists its records.  *where says what is wrong. */
static sg_err collect(json_t *app, struct entry **out, size_t *nout, char *where, size_t wsize)
{
	json_t *files = json_object_get(app, "files");
	*out = NULL;
	*nout = 0;
	if (!json_is_object(app) || !json_is_object(files)) {
		snprintf(where, wsize, "the application has no \"files\" object");
		return SG_ERR_BAD_PARAM;
	}
	json_t *manifest = json_object_get(app, "manifest");
	if (manifest && !json_is_object(manifest)) {
		snprintf(where, wsize, "app.json: not an object");
		return SG_ERR_BAD_PARAM;
	}
	size_t cap = 0, n = 0, seq = 0;
	struct entry *e = NULL;
	const char *file;
	json_t *doc;
	sg_err err = SG_ERR_OK;
	if (json_object_size(files) > SG_APP_MAX_FILES) {
		snprintf(where, wsize, "more than %d files", SG_APP_MAX_FILES);
		return SG_ERR_BAD_PARAM;
	}
	json_object_foreach(files, file, doc)
	{
		json_t *records = json_object_get(doc, "records");
		const char *key;
		json_t *v;
		if (!json_is_object(doc) || !json_is_object(records)) {
			snprintf(where, wsize, "%s: no \"records\" object", file);
			err = SG_ERR_BAD_PARAM;
			break;
		}
		json_object_foreach(doc, key, v)
		{
			if (!err && strcmp(key, "records")) {
				snprintf(where, wsize, "%s: unknown key \"%s\"", file, key);
				err = SG_ERR_BAD_PARAM;
			}
		}
		const char *table;
		json_t *rows;
		json_object_foreach(records, table, rows)
		{
			if (err)
				break;
			if (!json_is_array(rows)) {
				snprintf(where, wsize, "%s: the records of %s are not a list", file,
				         table);
				err = SG_ERR_BAD_PARAM;
				break;
			}
			size_t i;
			json_t *row;
			json_array_foreach(rows, i, row)
			{
				const char *id = sg_json_str(row, "sys_id");
				if (!json_is_object(row) || !id || !sg_id_is_key(id)) {
					snprintf(where, wsize,
					         "%s: %s record %zu has no sys_id (32 letters or "
					         "digits)",
					         file, table, i + 1);
					err = SG_ERR_BAD_PARAM;
					break;
				}
				const char *fk;
				json_t *fv;
				json_object_foreach(row, fk, fv)
				{
					if (!err && (json_is_object(fv) || json_is_array(fv))) {
						snprintf(where, wsize,
						         "%s: %s %s: field %s is not a value", file,
						         table, id, fk);
						err = SG_ERR_BAD_PARAM;
					}
				}
				if (err)
					break;
				if (n == SG_APP_MAX_RECORDS) {
					snprintf(where, wsize, "more than %d records",
					         SG_APP_MAX_RECORDS);
					err = SG_ERR_BAD_PARAM;
					break;
				}
				if (n == cap) {
					cap = cap ? cap * 2 : 64;
					struct entry *ne = realloc(e, cap * sizeof(*e));
					if (!ne) {
						err = SG_ERR_NOMEM;
						break;
					}
					e = ne;
				}
				e[n++] = (struct entry){file, table, row, phase_of(table), seq++};
			}
		}
		if (err)
			break;
	}
	if (!err) {
		if (n)
			qsort(e, n, sizeof(*e), cmp_entry);
		size_t nt = 0;
		while (nt < n && e[nt].phase == 0)
			nt++;
		if (!order_tables(e, nt)) {
			snprintf(where, wsize, "the tables' super_class form a cycle");
			err = SG_ERR_BAD_PARAM;
		}
	}
	/* one record per table and sys_id */
	for (size_t i = 0; !err && i < n; i++)
		for (size_t j = i + 1; j < n && e[j].phase == e[i].phase; j++)
			if (!strcmp(e[i].table, e[j].table) &&
			    !strcmp(str_of(e[i].row, "sys_id"), str_of(e[j].row, "sys_id"))) {
				snprintf(where, wsize, "%s and %s: %s %s is given twice", e[i].file,
				         e[j].file, e[i].table, str_of(e[i].row, "sys_id"));
				err = SG_ERR_BAD_PARAM;
				break;
			}
	if (err) {
		free(e);
		return err;
	}
	*out = e;
	*nout = n;
	return SG_ERR_OK;
}

/* ---- installing ---------------------------------------------------------- */

struct dicts {
	struct sg_dict *orig; /* the request's snapshot, restored at the end */
	struct sg_dict **own;
	size_t n, cap;
};

/* Makes ctx see the dictionary as the transaction sees it. */
static sg_err refresh_dict(struct sg_ctx *ctx, struct dicts *ds)
{
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 8;
		struct sg_dict **nd = realloc(ds->own, cap * sizeof(*nd));
		if (!nd)
			return SG_ERR_NOMEM;
		ds->own = nd;
		ds->cap = cap;
	}
	struct sg_dict *d;
	sg_err err = sg__dict_load(ctx->conn, &d);
	if (err)
		return err;
	d->refs = 1;
	ds->own[ds->n++] = d;
	ctx->dict = d;
	return SG_ERR_OK;
}

static sg_err count(json_t *report, const char *table, bool inserted)
{
	json_t *tables = json_object_get(report, "tables");
	json_t *t = json_object_get(tables, table);
	if (!t) {
		t = json_pack("{s:i, s:i}", "inserted", 0, "updated", 0);
		if (!t || json_object_set_new(tables, table, t))
			return SG_ERR_NOMEM;
	}
	const char *k = inserted ? "inserted" : "updated";
	json_t *c = json_object_get(t, k), *all = json_object_get(report, k);
	if (json_integer_set(c, json_integer_value(c) + 1) ||
	    json_integer_set(all, json_integer_value(all) + 1))
		return SG_ERR_NOMEM;
	return SG_ERR_OK;
}

static sg_err install_one(struct sg_ctx *ctx, const struct entry *e,
                          const struct sg_app_check *check, json_t *report)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, e->table);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", e->table);
		return SG_ERR_INVALID_TABLE;
	}
	const char *id = str_of(e->row, "sys_id");
	json_t *current = NULL;
	sg_err err = sg_rec_get(ctx, e->table, id, &current);
	if (err == SG_ERR_NO_RECORD)
		err = SG_ERR_OK;
	else if (err)
		return err;
	json_t *input = json_deep_copy(e->row);
	if (!input) {
		json_decref(current);
		return SG_ERR_NOMEM;
	}
	if (current)
		json_object_del(input, "sys_id");
	if (check && check->fn)
		err = check->fn(check->ud, ctx, t, input, current);
	struct sg_write_opts wo = {.allow_sys_fields = true};
	char out[SG_ID_LEN + 1];
	if (!err)
		err = current ? sg_rec_update(ctx, e->table, id, input, &wo)
		              : sg_rec_insert(ctx, e->table, input, &wo, out);
	if (!err && !current && strcmp(out, id)) {
		sg_ctx_set_err(ctx, "sys_id %s was not kept", id);
		err = SG_ERR_INVALID_INSERT;
	}
	json_decref(input);
	json_decref(current);
	return err ? err : count(report, e->table, !current);
}

sg_err sg_app_install(struct sg_ctx *ctx, json_t *app, const struct sg_app_check *check,
                      json_t **report, char *where, size_t where_size)
{
	*report = NULL;
	where[0] = '\0';
	struct entry *e;
	size_t n;
	sg_err err = collect(app, &e, &n, where, where_size);
	if (err) {
		sg_ctx_set_err(ctx, "%s", where);
		return err;
	}
	json_t *manifest = json_object_get(app, "manifest");
	const char *name = sg_json_str(manifest, "name");
	json_t *rep = json_pack("{s:s, s:i, s:i, s:{}}", "name", name ? name : "", "inserted", 0,
	                        "updated", 0, "tables");
	if (!rep) {
		free(e);
		return SG_ERR_NOMEM;
	}
	struct dicts ds = {.orig = ctx->dict};
	err = sg_conn_begin(ctx->conn, true);
	bool began = !err;
	for (size_t i = 0; !err && i < n; i++) {
		/* the records of the application's tables need them in the dictionary */
		if (i > 0 && e[i - 1].phase <= LAST_DICT_PHASE &&
		    (e[i - 1].phase == 0 || e[i].phase > LAST_DICT_PHASE))
			err = refresh_dict(ctx, &ds);
		if (!err)
			err = install_one(ctx, &e[i], check, rep);
		if (err)
			snprintf(where, where_size, "%s: %s %s", e[i].file, e[i].table,
			         str_of(e[i].row, "sys_id"));
	}
	if (began) {
		if (err)
			sg_conn_rollback(ctx->conn);
		else
			err = sg_conn_commit(ctx->conn);
	}
	ctx->dict = ds.orig;
	for (size_t i = 0; i < ds.n; i++)
		sg_dict_free(ds.own[i]);
	free(ds.own);
	free(e);
	if (err) {
		ctx->dict_dirty = false;
		json_decref(rep);
		return err;
	}
	/* The writes left their after-commit work (the dictionary reload, the
	 * caches) to this commit. */
	if (ctx->dict_dirty)
		sg__ctx_dict_changed(ctx);
	else
		sg_model_sync(ctx->model);
	*report = rep;
	return SG_ERR_OK;
}
