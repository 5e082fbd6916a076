/*
 * dict.c - builds the in-memory dictionary from dictionary rows.
 */
#include "dict/dict.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

struct choice_list {
	struct sg_choice *items;
	size_t n, cap;
	int *seq;
};

static const struct {
	const char *name;
	enum sg_ftype type;
} type_names[] = {
    {"integer", SG_FT_INTEGER},
    {"integer_time", SG_FT_INTEGER},
    {"boolean", SG_FT_BOOLEAN},
    {"decimal", SG_FT_DECIMAL},
    {"float", SG_FT_DECIMAL},
    {"currency", SG_FT_DECIMAL},
    {"price", SG_FT_DECIMAL},
    {"glide_date_time", SG_FT_DATETIME},
    {"due_date", SG_FT_DATETIME},
    {"glide_date", SG_FT_DATE},
    {"glide_time", SG_FT_TIME},
    {"glide_duration", SG_FT_DURATION},
    {"timer", SG_FT_DURATION},
    {"reference", SG_FT_REFERENCE},
    {"journal_input", SG_FT_JOURNAL_INPUT},
    {"journal", SG_FT_JOURNAL},
    {"journal_list", SG_FT_JOURNAL_LIST},
    {"password", SG_FT_PASSWORD},
    {"password2", SG_FT_PASSWORD2},
    {"GUID", SG_FT_GUID},
    {"sys_class_name", SG_FT_CLASS_NAME},
    {"domain_id", SG_FT_DOMAIN},
    {"glide_list", SG_FT_LIST},
};

enum sg_ftype sg_ftype_from_name(const char *type_name)
{
	if (type_name)
		for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
			if (strcmp(type_names[i].name, type_name) == 0)
				return type_names[i].type;
	return SG_FT_STRING;
}

enum sg_coltype sg_ftype_column(enum sg_ftype type)
{
	switch (type) {
	case SG_FT_INTEGER:
		return SG_COL_INTEGER;
	case SG_FT_DECIMAL:
		return SG_COL_REAL;
	default:
		return SG_COL_TEXT;
	}
}

bool sg_field_is_stored(const struct sg_field *f)
{
	return !f->is_virtual && f->type != SG_FT_JOURNAL_INPUT && f->type != SG_FT_JOURNAL &&
	       f->type != SG_FT_JOURNAL_LIST;
}

bool sg_field_is_secret(const struct sg_field *f)
{
	return f->type == SG_FT_PASSWORD || f->type == SG_FT_PASSWORD2;
}

static const char *str(json_t *row, const char *key)
{
	const char *s = sg_json_str(row, key);
	return s ? s : "";
}

static bool flag(json_t *row, const char *key, bool dflt)
{
	const char *s = sg_json_str(row, key);
	return (s && *s) ? sg_str_bool(s, dflt) : dflt;
}

struct builder {
	struct sg_dict *d;
	struct sg_arena *arena;
	struct sg_map by_id; /* sys_id -> table */
};

static bool grow_ptrs(struct sg_arena *a, void ***arr, size_t n)
{
	/* Arrays grow in powers of two; arena memory is not reused. */
	if (n == 0 || (n & (n - 1)) == 0) {
		size_t cap = n ? n * 2 : 4;
		void **p = sg_arena_alloc(a, cap * sizeof(void *));
		if (!p)
			return false;
		if (n)
			memcpy(p, *arr, n * sizeof(void *));
		*arr = p;
	}
	return true;
}

static int cmp_field(const void *a, const void *b)
{
	const struct sg_field *fa = *(const struct sg_field *const *)a;
	const struct sg_field *fb = *(const struct sg_field *const *)b;
	return strcmp(fa->element, fb->element);
}

/* Fills t->fields from its ancestors and its own, sorted by element. */
static bool collect_fields(struct builder *b, struct sg_table *t)
{
	if (t->fields || t->nfields)
		return true;
	size_t n = 0;
	for (const struct sg_table *p = t; p; p = p->super)
		n += p->nown;
	t->fields = sg_arena_alloc(b->arena, (n + 1) * sizeof(*t->fields));
	if (!t->fields)
		return false;
	sg_map_init(&t->by_element);
	size_t k = 0;
	/* Nearest definition wins when a child redefines an element. */
	for (const struct sg_table *p = t; p; p = p->super) {
		for (size_t i = 0; i < p->nown; i++) {
			if (sg_map_get(&t->by_element, p->own[i]->element))
				continue;
			if (!sg_map_put(&t->by_element, p->own[i]->element, p->own[i]))
				return false;
			t->fields[k++] = p->own[i];
		}
	}
	t->nfields = k;
	qsort(t->fields, k, sizeof(*t->fields), cmp_field);
	return true;
}

static const struct sg_field *find_display(const struct sg_table *t)
{
	for (const struct sg_table *p = t; p; p = p->super)
		for (size_t i = 0; i < p->nown; i++)
			if (p->own[i]->display)
				return p->own[i];
	const struct sg_field *f = sg_table_field(t, "name");
	if (!f)
		f = sg_table_field(t, "number");
	return f;
}

static bool add_tables(struct builder *b, json_t *rows)
{
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *name = str(row, "name");
		if (!sg_str_is_ident(name, 80) || sg_map_get(&b->d->tables, name)) {
			sg_log_warn("dictionary: skipping table row '%s'", name);
			continue;
		}
		struct sg_table *t = sg_arena_alloc(b->arena, sizeof(*t));
		if (!t)
			return false;
		t->name = sg_arena_strdup(b->arena, name);
		t->label = sg_arena_strdup(b->arena, str(row, "label"));
		snprintf(t->sys_id, sizeof(t->sys_id), "%s", str(row, "sys_id"));
		t->extendable = flag(row, "is_extendable", false);
		t->ws_access = flag(row, "ws_access", true);
		if (!t->name || !t->label || !sg_map_put(&b->d->tables, name, t) ||
		    !sg_map_put(&b->by_id, t->sys_id, t))
			return false;
		if (!grow_ptrs(b->arena, (void ***)&b->d->list, b->d->ntables))
			return false;
		b->d->list[b->d->ntables++] = t;
	}
	/* Second pass: parents.  super_class holds the parent's sys_id. */
	json_array_foreach(rows, i, row)
	{
		struct sg_table *t = sg_map_get(&b->d->tables, str(row, "name"));
		const char *sup = str(row, "super_class");
		if (!t || !*sup)
			continue;
		struct sg_table *p = sg_map_get(&b->by_id, sup);
		if (!p)
			p = sg_map_get(&b->d->tables, sup);
		if (!p || p == t) {
			sg_log_warn("dictionary: table %s extends unknown %s", t->name, sup);
			continue;
		}
		t->super = p;
	}
	for (size_t k = 0; k < b->d->ntables; k++) {
		struct sg_table *t = b->d->list[k];
		struct sg_table *r = t;
		size_t depth = 0;
		while (r->super && depth++ < 64)
			r = r->super;
		if (depth >= 64) { /* a cycle: break it here */
			t->super = NULL;
			r = t;
		}
		t->root = r;
	}
	for (size_t k = 0; k < b->d->ntables; k++) {
		struct sg_table *t = b->d->list[k];
		if (t->super) {
			t->root->hierarchy = true;
			if (!grow_ptrs(b->arena, (void ***)&t->super->children,
			               t->super->nchildren))
				return false;
			t->super->children[t->super->nchildren++] = t;
		}
		if (t->extendable)
			t->root->hierarchy = true;
	}
	for (size_t k = 0; k < b->d->ntables; k++) {
		struct sg_table *t = b->d->list[k];
		t->hierarchy = t->root->hierarchy;
		for (struct sg_table *p = t; p; p = p->super) {
			if (!grow_ptrs(b->arena, (void ***)&p->classes, p->nclasses))
				return false;
			p->classes[p->nclasses++] = t->name;
		}
	}
	return true;
}

static bool add_fields(struct builder *b, json_t *rows)
{
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		struct sg_table *t = sg_map_get(&b->d->tables, str(row, "name"));
		const char *element = str(row, "element");
		if (!t)
			continue;
		if (!*element) { /* the collection row carries table attributes */
			t->audit = flag(row, "audit", false);
			continue;
		}
		if (!sg_str_is_ident(element, 80)) {
			sg_log_warn("dictionary: skipping field %s.%s", t->name, element);
			continue;
		}
		struct sg_field *f = sg_arena_alloc(b->arena, sizeof(*f));
		if (!f)
			return false;
		f->element = sg_arena_strdup(b->arena, element);
		f->label = sg_arena_strdup(b->arena, str(row, "column_label"));
		f->type_name = sg_arena_strdup(b->arena, str(row, "internal_type"));
		f->type = sg_ftype_from_name(f->type_name);
		f->max_length = atoi(str(row, "max_length"));
		const char *ref = str(row, "reference");
		f->reference = *ref ? sg_arena_strdup(b->arena, ref) : NULL;
		const char *dflt = str(row, "default_value");
		f->default_value = *dflt ? sg_arena_strdup(b->arena, dflt) : NULL;
		f->mandatory = flag(row, "mandatory", false);
		f->read_only = flag(row, "read_only", false);
		f->display = flag(row, "display", false);
		f->active = flag(row, "active", true);
		f->is_virtual = flag(row, "virtual", false);
		f->audit = flag(row, "audit", false);
		f->unique = flag(row, "unique", false);
		f->choice = atoi(str(row, "choice"));
		f->table = t;
		snprintf(f->sys_id, sizeof(f->sys_id), "%s", str(row, "sys_id"));
		if (!f->element || !f->label || !f->type_name)
			return false;
		if (f->type == SG_FT_REFERENCE && !f->reference)
			f->type = SG_FT_STRING;
		if (!grow_ptrs(b->arena, (void ***)&t->own, t->nown))
			return false;
		t->own[t->nown++] = f;
	}
	return true;
}

static bool add_choices(struct builder *b, json_t *rows)
{
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (flag(row, "inactive", false))
			continue;
		const char *lang = str(row, "language");
		if (*lang && strcmp(lang, "en") != 0)
			continue;
		char key[200];
		snprintf(key, sizeof(key), "%s.%s", str(row, "name"), str(row, "element"));
		struct choice_list *cl = sg_map_get(&b->d->choices, key);
		if (!cl) {
			cl = sg_arena_alloc(b->arena, sizeof(*cl));
			if (!cl || !sg_map_put(&b->d->choices, key, cl))
				return false;
		}
		if (cl->n == cl->cap) {
			size_t cap = cl->cap ? cl->cap * 2 : 8;
			struct sg_choice *items = sg_arena_alloc(b->arena, cap * sizeof(*items));
			int *seq = sg_arena_alloc(b->arena, cap * sizeof(*seq));
			if (!items || !seq)
				return false;
			if (cl->n) {
				memcpy(items, cl->items, cl->n * sizeof(*items));
				memcpy(seq, cl->seq, cl->n * sizeof(*seq));
			}
			cl->items = items;
			cl->seq = seq;
			cl->cap = cap;
		}
		/* Insertion sort by sequence keeps equal sequences in row order. */
		int s = atoi(str(row, "sequence"));
		size_t at = cl->n;
		while (at > 0 && cl->seq[at - 1] > s) {
			cl->items[at] = cl->items[at - 1];
			cl->seq[at] = cl->seq[at - 1];
			at--;
		}
		cl->items[at].value = sg_arena_strdup(b->arena, str(row, "value"));
		cl->items[at].label = sg_arena_strdup(b->arena, str(row, "label"));
		cl->seq[at] = s;
		cl->n++;
		if (!cl->items[at].value || !cl->items[at].label)
			return false;
	}
	return true;
}

static bool add_overrides(struct builder *b, json_t *rows)
{
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (!flag(row, "default_value_override", true))
			continue;
		char key[200];
		snprintf(key, sizeof(key), "%s.%s", str(row, "name"), str(row, "element"));
		char *v = sg_arena_strdup(b->arena, str(row, "default_value"));
		if (!v || !sg_map_put(&b->d->overrides, key, v))
			return false;
	}
	return true;
}

static const char *default_of(const struct sg_dict *d, const struct sg_table *t,
                              const struct sg_field *f);

static const struct choice_list *choices_of(const struct sg_dict *d, const struct sg_table *t,
                                            const char *element);

/* t->defaults and t->choice_lists: each field's default (overrides applied)
 * and choices as t sees them, looked up once. */
static bool set_field_views(const struct sg_dict *d, struct sg_arena *arena, struct sg_table *t)
{
	size_t n = t->nfields ? t->nfields : 1;
	const char **v = sg_arena_alloc(arena, n * sizeof(*v));
	const struct choice_list **c = sg_arena_alloc(arena, n * sizeof(*c));
	if (!v || !c)
		return false;
	for (size_t i = 0; i < t->nfields; i++) {
		v[i] = default_of(d, t, t->fields[i]);
		c[i] = choices_of(d, t, t->fields[i]->element);
	}
	t->defaults = v;
	t->choice_lists = c;
	return true;
}

/* t->columns: built once, since every record read selects them. */
static const char *select_list(struct sg_arena *arena, const struct sg_table *t)
{
	struct sg_buf b;
	sg_buf_init(&b, 1024 * 1024);
	bool ok = true;
	for (size_t i = 0; ok && i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		if (!sg_field_is_stored(f) || sg_field_is_secret(f))
			continue;
		ok = sg_str_is_ident(f->element, 80);
		if (b.len)
			sg_buf_puts(&b, ", ");
		sg_buf_puts(&b, "\"t\".\"");
		sg_buf_puts(&b, f->element);
		sg_buf_putc(&b, '"');
	}
	const char *out = ok && !sg_buf_failed(&b) ? sg_arena_strdup(arena, sg_buf_str(&b)) : NULL;
	sg_buf_cleanup(&b);
	return out;
}

struct sg_dict *sg_dict_build(json_t *db_objects, json_t *dictionary, json_t *choices,
                              json_t *overrides)
{
	struct sg_arena *arena = malloc(sizeof(*arena));
	struct sg_dict *d = calloc(1, sizeof(*d));
	if (!arena || !d) {
		free(arena);
		free(d);
		return NULL;
	}
	sg_arena_init(arena, 0);
	d->arena = arena;
	sg_map_init(&d->tables);
	sg_map_init(&d->choices);
	sg_map_init(&d->overrides);
	struct builder b = {.d = d, .arena = arena};
	sg_map_init(&b.by_id);
	bool ok = add_tables(&b, db_objects) && add_fields(&b, dictionary) &&
	          add_choices(&b, choices) && add_overrides(&b, overrides);
	for (size_t k = 0; ok && k < d->ntables; k++)
		ok = collect_fields(&b, d->list[k]);
	for (size_t k = 0; ok && k < d->ntables; k++) {
		d->list[k]->display = find_display(d->list[k]);
		d->list[k]->columns = select_list(arena, d->list[k]);
		ok = set_field_views(d, arena, d->list[k]);
	}
	sg_map_cleanup(&b.by_id);
	if (!ok) {
		sg_dict_free(d);
		return NULL;
	}
	return d;
}

void sg_dict_free(struct sg_dict *d)
{
	if (!d)
		return;
	for (size_t k = 0; k < d->ntables; k++)
		sg_map_cleanup(&d->list[k]->by_element);
	sg_map_cleanup(&d->tables);
	sg_map_cleanup(&d->choices);
	sg_map_cleanup(&d->overrides);
	sg_arena_cleanup(d->arena);
	free(d->arena);
	free(d);
}

const struct sg_table *sg_dict_table(const struct sg_dict *d, const char *name)
{
	return name ? sg_map_get(&d->tables, name) : NULL;
}

long sg_table_field_pos(const struct sg_table *t, const char *element)
{
	size_t lo = 0, hi = t->nfields;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(t->fields[mid]->element, element);
		if (!c)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const struct sg_field *sg_table_field(const struct sg_table *t, const char *element)
{
	return element ? sg_map_get(&t->by_element, element) : NULL;
}

bool sg_table_is_a(const struct sg_table *t, const struct sg_table *other)
{
	for (; t; t = t->super)
		if (t == other)
			return true;
	return false;
}

/* The choices of element as t sees them, looked up level by level. */
static const struct choice_list *choices_of(const struct sg_dict *d, const struct sg_table *t,
                                            const char *element)
{
	char key[200];
	for (; t; t = t->super) {
		sg_str_join(key, sizeof(key), t->name, ".", element);
		struct choice_list *cl = sg_map_get(&d->choices, key);
		if (cl && cl->n)
			return cl;
	}
	return NULL;
}

const struct sg_choice *sg_dict_choices(const struct sg_dict *d, const struct sg_table *t,
                                        const char *element, size_t *n)
{
	long i = t->choice_lists ? sg_table_field_pos(t, element) : -1;
	const struct choice_list *cl = i >= 0 ? t->choice_lists[i] : choices_of(d, t, element);
	*n = cl ? cl->n : 0;
	return cl ? cl->items : NULL;
}

const char *sg_dict_choice_label(const struct sg_dict *d, const struct sg_table *t,
                                 const char *element, const char *value)
{
	size_t n;
	const struct sg_choice *c = sg_dict_choices(d, t, element, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].value, value) == 0)
			return c[i].label;
	return NULL;
}

/* The default with overrides looked up level by level (sg_dict_default). */
static const char *default_of(const struct sg_dict *d, const struct sg_table *t,
                              const struct sg_field *f)
{
	char key[200];
	for (; t && t != f->table->super; t = t->super) {
		sg_str_join(key, sizeof(key), t->name, ".", f->element);
		const char *v = sg_map_get(&d->overrides, key);
		if (v)
			return v;
	}
	return f->default_value;
}

const char *sg_dict_default(const struct sg_dict *d, const struct sg_table *t,
                            const struct sg_field *f)
{
	long i = t->defaults ? sg_table_field_pos(t, f->element) : -1;
	if (i >= 0 && t->fields[i] == f)
		return t->defaults[i];
	return default_of(d, t, f);
}
