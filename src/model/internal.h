/*
 * internal.h - shared between the files of src/model only (libuv's uv__).
 */
#ifndef SG_MODEL_INTERNAL_H
#define SG_MODEL_INTERNAL_H

#include <jansson.h>

#include "core/json.h"
#include "model/model.h"
#include "model/rules.h"
#include "query/query.h"

/* Builds a dictionary from the dictionary tables through c. */
/* reference.c: the stored form of a reference value v that is neither a
 * sys_id nor a display value the record layer found: as given, empty, or
 * refused (SG_ERR_INVALID_INSERT), as the property
 * snowglobe.reference.unmatched says.  *out new, or NULL on refusal. */
sg_err sg__unmatched_reference(struct sg_ctx *ctx, const struct sg_field *f, const char *v,
                               char **out);
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

/* ---- the write pipeline (rules.c) --------------------------------------- */

/* Runs the rules of phase that apply to w, in order.  The first error stops
 * them and is returned, except after commit, where errors are logged and
 * SG_ERR_OK is returned.  A rule that left w->failed set fails with
 * SG_ERR_NOMEM. */
sg_err sg__rules_run(struct sg_write *w, enum sg_rule_phase phase);
/* Frees the rules added to m (sg_model_add_rules). */
void sg__rules_free(struct sg_model *m);

/* Inserts a row with no semantics beyond system fields (journal, audit,
 * bootstrap rows).  rec is an object of element -> string, completed here
 * with the system fields. */
sg_err sg__insert_plain(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec);

/* The model's rules, listed in rules.c's table.  Each is a phase of a write:
 * see rules.h. */
sg_err sg__journal_write(struct sg_write *w); /* record.c */
sg_err sg__audit_write(struct sg_write *w);
sg_err sg__number_assign(struct sg_write *w);  /* number.c */
sg_err sg__itsm_user_name(struct sg_write *w); /* itsm.c */
sg_err sg__itsm_machine_identity(struct sg_write *w);
sg_err sg__itsm_priority(struct sg_write *w);
sg_err sg__itsm_incident_state_mirror(struct sg_write *w);
sg_err sg__itsm_problem_state_mirror(struct sg_write *w);
sg_err sg__itsm_resolution_policy(struct sg_write *w);
sg_err sg__itsm_incident_resolution(struct sg_write *w);
sg_err sg__itsm_problem_resolution(struct sg_write *w);
sg_err sg__itsm_task_active(struct sg_write *w);
sg_err sg__dict_table_check(struct sg_write *w); /* schema.c */
sg_err sg__dict_column_check(struct sg_write *w);
sg_err sg__dict_create_table(struct sg_write *w);
sg_err sg__dict_add_column(struct sg_write *w);
sg_err sg__dict_drop_table(struct sg_write *w);
sg_err sg__dict_touched(struct sg_write *w);

/* ---- numbering (number.c) ---------------------------------------------- */

/* The next number for table t ("INC0010001"); new string in *out, NULL when t has none. */
sg_err sg__number_next(struct sg_ctx *ctx, const struct sg_table *t, char **out);
/* True when a dictionary default asks for the next number. */
bool sg__default_is_number(const char *dflt);

/* ---- storage in step with the dictionary (schema.c) --------------------- */

/* Creates the physical table for root t (every column of its hierarchy). */
sg_err sg__ddl_create_table(struct sg_ctx *ctx, const struct sg_table *root);
/* Adds the column for f to its table's physical table if missing. */
sg_err sg__ddl_add_column(struct sg_ctx *ctx, const struct sg_table *root, const char *element,
                          enum sg_ftype type);

/* A field as the base schema describes it. */
struct sg__field_def {
	const char *element, *type, *label, *dflt;
	int len;
	bool is_virtual;
};
/* The sys_dictionary row describing f of table: new reference, NULL on failure. */
json_t *sg__dict_row(const char *table, const struct sg__field_def *f);
/* The sys_dictionary row describing table itself: new reference, NULL on failure. */
json_t *sg__collection_row(const char *table, const char *label, bool audit);
/* Appends to into the dictionary rows of a root table's system fields
 * (sys_id, stamps...), sys_class_name when extendable, the domain fields
 * when domain-separated. */
sg_err sg__sys_field_rows(json_t *into, const char *table, bool extendable, bool domain);

/* The display value of the record table/sys_id (its display field). New string. */
char *sg__ref_display(struct sg_ctx *ctx, const char *table, const char *sys_id);

#endif
