/*
 * dict.h - the data dictionary in memory.
 *
 * Tables and fields are data: the truth is the rows of sys_db_object,
 * sys_dictionary, sys_choice and sys_dictionary_override.  sg_dict_build()
 * turns those rows into this read-only structure, which handlers share;
 * when the rows change the model builds a new one and swaps it in, and a
 * request keeps the one it started with.
 *
 * Storage is one physical table per hierarchy (ServiceNow's
 * table-per-hierarchy): task, incident, problem and change_request all live
 * in "task", told apart by sys_class_name.  table->root->name is the
 * physical table.
 */
#ifndef SG_DICT_DICT_H
#define SG_DICT_DICT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/map.h"
#include "core/util.h"
#include "store/store.h"

enum sg_ftype {
	SG_FT_STRING,
	SG_FT_INTEGER,
	SG_FT_BOOLEAN,
	SG_FT_DECIMAL,
	SG_FT_DATETIME,
	SG_FT_DATE,
	SG_FT_TIME,
	SG_FT_DURATION,
	SG_FT_REFERENCE,
	SG_FT_JOURNAL_INPUT, /* comments, work_notes: writes append, reads are "" */
	SG_FT_JOURNAL,
	SG_FT_JOURNAL_LIST,
	SG_FT_PASSWORD,  /* one-way: stored hashed, never returned */
	SG_FT_PASSWORD2, /* two-way: stored encrypted, never returned */
	SG_FT_GUID,
	SG_FT_CLASS_NAME,
	SG_FT_DOMAIN,
	SG_FT_LIST, /* glide_list: comma-separated sys_ids */
};

struct sg_choice {
	char *value;
	char *label;
};

struct sg_table;

struct sg_field {
	char *element;
	char *label;
	char *type_name; /* sys_glide_object name as in the dictionary */
	enum sg_ftype type;
	int max_length;
	char *reference; /* table name for references, else NULL */
	char *default_value;
	bool mandatory, read_only, display, active, is_virtual, audit;
	bool unique; /* sys_dictionary.unique: no two rows of the root share a non-empty value */
	int choice;
	const struct sg_table *table; /* the table that defines the field */
	char sys_id[SG_ID_LEN + 1];
};

struct choice_list; /* dict.c */

struct sg_table {
	char *name;
	char *label;
	char sys_id[SG_ID_LEN + 1];
	struct sg_table *super; /* NULL for a root */
	struct sg_table *root;  /* the physical table; self for a root */
	bool hierarchy;         /* rows carry sys_class_name */
	bool audit;
	bool extendable;
	bool ws_access;

	struct sg_field **own; /* fields this table defines */
	size_t nown;
	struct sg_field **fields; /* every field, inherited and own, sorted by element */
	size_t nfields;
	struct sg_map by_element; /* element -> struct sg_field *, all fields */
	const struct sg_field *display;
	/* The select list of a record read, alias "t": the stored fields but
	 * secrets, in fields order; NULL when a name is not an identifier. */
	const char *columns;
	const char **defaults;                   /* each field's default for t (sg_dict_default) */
	const struct choice_list **choice_lists; /* each field's choices for t, or NULL */

	/* self and every descendant's name, for sys_class_name IN (...) */
	const char **classes;
	size_t nclasses;
	struct sg_table **children;
	size_t nchildren;
};

struct sg_dict {
	struct sg_map tables;    /* name -> struct sg_table * */
	struct sg_map choices;   /* "table.element" -> struct choice_list * */
	struct sg_map overrides; /* "table.element" -> default value (char *) */
	struct sg_table **list;
	size_t ntables;
	int refs;    /* managed by the model */
	void *arena; /* everything the dict allocated */
};

/*
 * Builds a dictionary from row arrays (each row an object of field strings,
 * as the Table API would return them raw): sys_db_object, sys_dictionary,
 * sys_choice and sys_dictionary_override.  Borrowed inputs.  Returns NULL
 * on allocation failure or when a row is inconsistent (logged).
 */
struct sg_dict *sg_dict_build(json_t *db_objects, json_t *dictionary, json_t *choices,
                              json_t *overrides);
void sg_dict_free(struct sg_dict *d);

const struct sg_table *sg_dict_table(const struct sg_dict *d, const char *name);
const struct sg_field *sg_table_field(const struct sg_table *t, const char *element);
/* The position of element in t->fields, or -1. */
long sg_table_field_pos(const struct sg_table *t, const char *element);
/* True when t is other or extends it. */
bool sg_table_is_a(const struct sg_table *t, const struct sg_table *other);

/* The choices for element as seen from table (the nearest table up the
 * chain that has any); NULL when none.  Borrowed. */
const struct sg_choice *sg_dict_choices(const struct sg_dict *d, const struct sg_table *t,
                                        const char *element, size_t *n);
/* The label of value in those choices, or NULL. */
const char *sg_dict_choice_label(const struct sg_dict *d, const struct sg_table *t,
                                 const char *element, const char *value);
/* The default for element on t: the nearest override, else the field's. */
const char *sg_dict_default(const struct sg_dict *d, const struct sg_table *t,
                            const struct sg_field *f);

enum sg_ftype sg_ftype_from_name(const char *type_name);
/* The storage column type for a field type. */
enum sg_coltype sg_ftype_column(enum sg_ftype type);
/* Fields with no storage column of their own. */
bool sg_field_is_stored(const struct sg_field *f);
/* Passwords: stored hashed or encrypted, never read back or returned. */
bool sg_field_is_secret(const struct sg_field *f);

#endif
