/*
 * internal.h - shared between the files of src/model only (libuv's uv__).
 */
#ifndef SG_MODEL_INTERNAL_H
#define SG_MODEL_INTERNAL_H

#include <jansson.h>

#include "core/json.h"
#include "model/model.h"
#include "query/query.h"

/* sg_row_fn that appends each row, as an object of strings, to a json array. */
int sg__rows_to_json(void *ud, int ncol, const char *const *names, const char *const *vals);
/* Builds a dictionary from the dictionary tables through c. */
sg_err sg__dict_load(sg_conn *c, struct sg_dict **out);
/* Empties the cache of list counts (caller holds m->lock or owns m). */
void sg__counts_clear(struct sg_model *m);
/* Frees the property cache's values and empties it. */
void sg__props_clear(struct sg_model *m);
/* Counts a change to a cached domain ("dict", "props", "users", "acl",
 * "oauth") inside the current write transaction. */
sg_err sg__gen_bump(struct sg_ctx *ctx, const char *name);
/* Creates the change-counter table (new instances). */
sg_err sg__gen_create(struct sg_ctx *ctx);
/* Reloads the dictionary if this request changed it. */
void sg__ctx_dict_changed(struct sg_ctx *ctx);

/* ---- writes (record.c, itsm.c, schema.c) ------------------------------- */

/* A record being written: what hooks see and may change. */
struct sg__write {
	struct sg_ctx *ctx;
	const struct sg_table *table; /* the table named by the caller */
	const struct sg_table *cls;   /* the record's own class */
	json_t *old;		      /* the stored record (update), NULL on insert */
	json_t *rec;		      /* the record as it will be stored */
	json_t *explicit;	      /* fields the caller set: element -> true */
	json_t *journal;	      /* journal field -> text to append */
	bool insert;
};

/* True when element's value differs between old and rec (or on insert). */
bool sg__changed(const struct sg__write *w, const char *element);
/* The value of element in rec ("" when absent). Borrowed. */
const char *sg__val(const struct sg__write *w, const char *element);
void sg__set(struct sg__write *w, const char *element, const char *value);

/* Table semantics before a write is stored (itsm.c): computed fields,
 * state models, data policies.  An error aborts the write. */
sg_err sg__itsm_before(struct sg__write *w);

/* Dictionary tables (schema.c): checks before a write, DDL after. */
sg_err sg__schema_before(struct sg__write *w);
sg_err sg__schema_after(struct sg__write *w);
sg_err sg__schema_before_delete(struct sg_ctx *ctx, const struct sg_table *t, json_t *old);

/* Creates the physical table for root t (every column of its hierarchy). */
sg_err sg__ddl_create_table(struct sg_ctx *ctx, const struct sg_table *root);
/* Adds the column for f to its table's physical table if missing. */
sg_err sg__ddl_add_column(struct sg_ctx *ctx, const struct sg_table *root, const char *element,
			  enum sg_ftype type);

/* Inserts a row with no semantics beyond system fields (journal, audit,
 * bootstrap rows).  rec is an object of element -> string. */
sg_err sg__insert_plain(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec);

/* The next number for table t ("INC0010001"); new string in *out, NULL when t has none. */
sg_err sg__number_next(struct sg_ctx *ctx, const struct sg_table *t, char **out);

/* The display value of the record table/sys_id (its display field). New string. */
char *sg__ref_display(struct sg_ctx *ctx, const char *table, const char *sys_id);

#endif
