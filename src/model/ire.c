/*
 * ire.c - the identification and reconciliation engine (ire.h).
 *
 * A payload runs in three steps inside one write transaction (none for a
 * dry run): each item is identified (its class's identifier found by
 * walking up the class hierarchy, its entries tried by priority); items
 * that identify the same CI are merged; relations are checked; then each
 * item without errors is inserted, updated or left alone and the relations
 * land in cmdb_rel_ci.  A failed write rolls the whole payload back.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/util.h"
#include "model/ire.h"
#include "query/query.h"

/* The most identifiers, and identifier entries, read per payload. */
#define MAX_RULES 10000
/* The most criterion attributes one identifier entry may name. */
#define MAX_ATTRS 16

/* One payload item as the engine sees it. */
struct item {
	json_t *in;                 /* the payload item (borrowed) */
	const struct sg_table *cls; /* its class */
	json_t *values;             /* field -> string, new */
	json_t *attempts;           /* identificationAttempts, new */
	json_t *errors;             /* errors, new */
	json_t *indices;            /* inputIndices, new */
	json_t *ident;              /* its cmdb_identifier row (borrowed from the rules) */
	json_t *current;            /* the matched record, new; NULL: no match */
	const char *entry_id;       /* identifierEntrySysId (borrowed from the rules) */
	const char *op;             /* operation */
	char sys_id[SG_ID_LEN + 1]; /* the CI's sys_id once known */
	long merged_into;           /* the item it was merged into, or -1 */
};

struct run {
	struct sg_ctx *ctx;
	const struct sg_ire_opts *opts;
	const struct sg_ire_hooks *hooks;
	json_t *idents, *entries; /* active rules, new */
	struct item *items;
	size_t n;
};

static sg_err push_error(struct item *it, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static sg_err push_error(struct item *it, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *e = json_pack("{s:s, s:s}", "error", code, "message", msg);
	return e && !json_array_append_new(it->errors, e) ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* Lists table's rows matching the encoded query (and the eq pairs of
 * names/vals), at most limit (0: all).  New array in *rows. */
static sg_err list_where(struct sg_ctx *ctx, const char *table, const char *encoded,
                         const char *const *names, const char *const *vals, size_t npairs,
                         long long limit, json_t **rows)
{
	struct sg_query q;
	sg_query_init(&q);
	bool ok = sg_query_parse(&q, encoded);
	for (size_t i = 0; ok && i < npairs; i++)
		ok = sg_query_add_eq(&q, names[i], vals[i]);
	sg_err err = ok ? SG_ERR_OK : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = limit};
	if (!err)
		err = sg_rec_list(ctx, table, &lo, rows, NULL);
	sg_query_cleanup(&q);
	return err;
}

static sg_err load_rules(struct run *r)
{
	sg_err err = list_where(r->ctx, "cmdb_identifier", "active=true^ORDERBYsys_created_on",
	                        NULL, NULL, 0, MAX_RULES, &r->idents);
	if (!err)
		err = list_where(r->ctx, "cmdb_identifier_entry", "active=true^ORDERBYpriority",
		                 NULL, NULL, 0, MAX_RULES, &r->entries);
	return err;
}

/* The identifier of cls or of its nearest ancestor that has one. */
static json_t *identifier_of(struct run *r, const struct sg_table *cls)
{
	for (const struct sg_table *t = cls; t; t = t->super) {
		size_t i;
		json_t *row;
		json_array_foreach(r->idents, i, row)
		{
			const char *applies = sg_json_str(row, "applies_to");
			if (applies && !strcmp(applies, t->name))
				return row;
		}
	}
	return NULL;
}

/* The criterion attributes of an entry, split at commas and trimmed, as a
 * new array of strings. */
static json_t *entry_attrs(json_t *entry)
{
	json_t *out = json_array();
	const char *s = sg_json_str(entry, "attributes");
	while (out && s && *s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *a = s;
		size_t alen = len;
		while (alen && (*a == ' ' || *a == '\t'))
			a++, alen--;
		while (alen && (a[alen - 1] == ' ' || a[alen - 1] == '\t'))
			alen--;
		if (alen && json_array_append_new(out, json_stringn(a, alen))) {
			json_decref(out);
			return NULL;
		}
		s = end ? end + 1 : s + len;
	}
	return out;
}

/* The payload's values as field strings; *bad set when values is not an
 * object or holds objects/arrays. */
static json_t *string_values(json_t *values, bool *bad)
{
	*bad = false;
	json_t *out = json_object();
	if (!values)
		return out;
	if (!json_is_object(values)) {
		*bad = true;
		return out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(values, k, v)
	{
		char scratch[64];
		const char *s = sg_json_field_text(v, scratch, sizeof(scratch));
		if (!s) {
			*bad = true;
			continue;
		}
		if (out && json_object_set_new(out, k, json_string(s))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static bool all_present(json_t *values, json_t *attrs)
{
	size_t i;
	json_t *a;
	if (!json_array_size(attrs))
		return false;
	json_array_foreach(attrs, i, a)
	{
		const char *v = sg_json_str(values, json_string_value(a));
		if (!v || !*v)
			return false;
	}
	return true;
}

/* The table an entry searches: search_on_table, else table, else the
 * class the identifier applies to. */
static const char *search_table(json_t *entry, json_t *ident)
{
	const char *s = sg_json_str(entry, "search_on_table");
	if (!s || !*s)
		s = sg_json_str(entry, "table");
	if (!s || !*s)
		s = sg_json_str(ident, "applies_to");
	return s;
}

static char *attrs_text(json_t *attrs, char *out, size_t size)
{
	size_t i, used = 0;
	json_t *a;
	out[0] = '\0';
	json_array_foreach(attrs, i, a)
	{
		int n =
		    snprintf(out + used, size - used, "%s%s", i ? "," : "", json_string_value(a));
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	return out;
}

/* Tries one entry on it: MATCHED (it->current set), MULTI_MATCH (an error),
 * NO_MATCH, or SKIPPED when the item lacks an attribute.  *done when the
 * attempts stop here. */
static sg_err try_entry(struct run *r, struct item *it, json_t *entry, bool *tried, bool *done)
{
	*done = false;
	*tried = false;
	json_t *attrs = entry_attrs(entry);
	if (!attrs)
		return SG_ERR_NOMEM;
	const char *table = search_table(entry, it->ident);
	const struct sg_table *t = table ? sg_dict_table(r->ctx->dict, table) : NULL;
	const char *result = "SKIPPED";
	sg_err err = SG_ERR_OK;
	size_t na = json_array_size(attrs);
	/* an entry of more attributes than a search binds is never usable */
	bool known = t != NULL && na <= MAX_ATTRS;
	for (size_t i = 0; known && i < na; i++)
		known = sg_table_field(t, json_string_value(json_array_get(attrs, i))) != NULL;
	if (known && all_present(it->values, attrs)) {
		*tried = true;
		const char *names[MAX_ATTRS], *vals[MAX_ATTRS];
		size_t np = na;
		for (size_t i = 0; i < np; i++) {
			names[i] = json_string_value(json_array_get(attrs, i));
			vals[i] = sg_json_str(it->values, names[i]);
		}
		json_t *rows = NULL;
		err =
		    list_where(r->ctx, t->name, "ORDERBYsys_created_on", names, vals, np, 2, &rows);
		size_t n = json_array_size(rows);
		if (!err && n == 0) {
			result = "NO_MATCH";
		} else if (!err && n == 1) {
			result = "MATCHED";
			*done = true;
			json_t *row = json_array_get(rows, 0);
			const char *cls = sg_json_str(row, "sys_class_name");
			err = sg_rec_get(r->ctx, cls && *cls ? cls : t->name,
			                 sg_json_str(row, "sys_id"), &it->current);
			if (!err)
				snprintf(it->sys_id, sizeof(it->sys_id), "%s",
				         sg_json_str(it->current, "sys_id"));
		} else if (!err) {
			char list[512];
			result = "MULTI_MATCH";
			*done = true;
			/* [doc: IRE error messages, MULTIPLE_DUPLICATE_RECORDS] */
			err = push_error(it, "MULTIPLE_DUPLICATE_RECORDS",
			                 "Found duplicate records in table [%s] using fields [%s]",
			                 t->name, attrs_text(attrs, list, sizeof(list)));
		}
		json_decref(rows);
	}
	if (!err && (*done || (*tried && !it->entry_id)))
		it->entry_id = sg_json_str(entry, "sys_id");
	json_t *attempt =
	    json_pack("{s:s?, s:s, s:O, s:s?}", "identifierName", sg_json_str(it->ident, "name"),
	              "attemptResult", result, "attributes", attrs, "searchOnTable", table);
	json_decref(attrs);
	if (!err && (!attempt || json_array_append_new(it->attempts, attempt)))
		err = SG_ERR_NOMEM;
	else if (err)
		json_decref(attempt);
	return err;
}

/* Whether identifier entry belongs to the identifier rule ident. */
static bool entry_of(json_t *entry, json_t *ident)
{
	const char *owner = sg_json_str(entry, "identifier");
	const char *ident_id = sg_json_str(ident, "sys_id");
	return owner && ident_id && !strcmp(owner, ident_id);
}

static sg_err identify(struct run *r, struct item *it)
{
	const char *cname = sg_json_str(it->in, "className");
	const struct sg_table *base = sg_dict_table(r->ctx->dict, "cmdb_ci");
	it->cls = cname ? sg_dict_table(r->ctx->dict, cname) : NULL;
	bool bad = false;
	it->values = string_values(json_object_get(it->in, "values"), &bad);
	if (!it->values)
		return SG_ERR_NOMEM;
	if (!it->cls || !base || !sg_table_is_a(it->cls, base)) {
		it->cls = NULL;
		return push_error(it, "INVALID_INPUT_DATA", "In payload invalid className [%s]",
		                  cname ? cname : "");
	}
	if (bad)
		return push_error(it, "INVALID_INPUT_DATA",
		                  "In payload invalid values for className [%s]: values must be an "
		                  "object of field values",
		                  it->cls->name);
	it->ident = identifier_of(r, it->cls);
	if (!it->ident) /* [doc: IRE error messages, IDENTIFICATION_RULE_MISSING] */
		return push_error(it, "IDENTIFICATION_RULE_MISSING",
		                  "Identity Rule Missing for table [%s]", it->cls->name);
	bool any = false, done = false;
	size_t i;
	json_t *entry;
	json_array_foreach(r->entries, i, entry)
	{
		if (!entry_of(entry, it->ident))
			continue;
		bool tried;
		sg_err err = try_entry(r, it, entry, &tried, &done);
		if (err)
			return err;
		any |= tried;
		if (done)
			break;
	}
	if (!any) {
		/* [doc: IRE error messages, MISSING_MATCHING_ATTRIBUTES] */
		char *vals = json_dumps(it->values, JSON_COMPACT | JSON_SORT_KEYS);
		sg_err err = push_error(
		    it, "MISSING_MATCHING_ATTRIBUTES",
		    "In payload missing minimum set of input values for criterion (matching) "
		    "attributes from identify rule for table [%s]. Add these input values in "
		    "payload "
		    "item '%.400s'",
		    it->cls->name, vals ? vals : "");
		free(vals);
		return err;
	}
	return SG_ERR_OK;
}

/* Whether a and b (both identified, without errors) are the same CI: the
 * same match, or both new and equal on the first entry both can use. */
static bool same_ci(struct run *r, struct item *a, struct item *b, char *fields, size_t size)
{
	if (a->ident != b->ident)
		return false;
	if (a->current || b->current)
		return a->current && b->current && !strcmp(a->sys_id, b->sys_id);
	size_t i;
	json_t *entry;
	json_array_foreach(r->entries, i, entry)
	{
		if (!entry_of(entry, a->ident))
			continue;
		json_t *attrs = entry_attrs(entry);
		bool both = attrs && all_present(a->values, attrs) && all_present(b->values, attrs);
		bool equal = both;
		size_t k;
		json_t *f;
		json_array_foreach(attrs, k, f)
		{
			const char *name = json_string_value(f);
			if (equal)
				equal = !strcasecmp(sg_json_str(a->values, name),
				                    sg_json_str(b->values, name));
		}
		if (both)
			attrs_text(attrs, fields, size);
		json_decref(attrs);
		if (both)
			return equal;
	}
	return false;
}

/* Merges the later items that identify the same CI as an earlier one. */
static sg_err dedup(struct run *r)
{
	for (size_t i = 1; i < r->n; i++) {
		struct item *b = &r->items[i];
		if (!b->ident || json_array_size(b->errors))
			continue;
		for (size_t j = 0; j < i; j++) {
			struct item *a = &r->items[j];
			char fields[512] = "";
			if (a->merged_into >= 0 || !a->ident || json_array_size(a->errors) ||
			    !same_ci(r, a, b, fields, sizeof(fields)))
				continue;
			if (!r->opts
			         ->dedup) /* [doc: IRE error messages, DUPLICATE_PAYLOAD_RECORDS] */
				return push_error(
				    b, "DUPLICATE_PAYLOAD_RECORDS",
				    "Found duplicate items in the payload (index %zu and %zu), "
				    "using className [%s] and fields [%s]. Remove duplicate "
				    "items from payload",
				    j, i, b->cls->name, fields);
			if (json_object_update(a->values, b->values) ||
			    json_array_append_new(a->indices, json_integer((json_int_t)i)))
				return SG_ERR_NOMEM;
			b->merged_into = (long)j;
			break;
		}
	}
	return SG_ERR_OK;
}

/* The distinct item input index i landed in. */
static struct item *target_of(struct run *r, size_t i)
{
	struct item *it = &r->items[i];
	while (it->merged_into >= 0)
		it = &r->items[it->merged_into];
	return it;
}

/* The input index a relation end names: "parent"/"child" (an index) or
 * "parent_id"/"child_id" (an item's internal_id); -1 when invalid. */
static long relation_end(struct run *r, json_t *rel, const char *idx_key, const char *id_key)
{
	json_t *v = json_object_get(rel, idx_key);
	if (json_is_integer(v)) {
		json_int_t k = json_integer_value(v);
		return k >= 0 && (size_t)k < r->n ? (long)k : -1;
	}
	const char *id = sg_json_str(rel, id_key);
	for (size_t i = 0; id && i < r->n; i++) {
		const char *iid = sg_json_str(r->items[i].in, "internal_id");
		if (iid && !strcmp(iid, id))
			return (long)i;
	}
	return -1;
}

/* The sys_id of the cmdb_rel_type named name into out ("" when none). */
static sg_err rel_type(struct sg_ctx *ctx, const char *name, char out[SG_ID_LEN + 1])
{
	const char *names[] = {"name"}, *vals[] = {name};
	json_t *rows;
	out[0] = '\0';
	sg_err err = list_where(ctx, "cmdb_rel_type", "", names, vals, 1, 1, &rows);
	if (!err && json_array_size(rows))
		snprintf(out, SG_ID_LEN + 1, "%s", sg_json_str(json_array_get(rows, 0), "sys_id"));
	json_decref(rows);
	return err;
}

/* Checks the relations before anything is written: a bad one is an error
 * of every item, as IRE verifies a payload before processing it. */
static sg_err check_relations(struct run *r, json_t *rels, bool *bad)
{
	*bad = false;
	size_t i;
	json_t *rel;
	json_array_foreach(rels, i, rel)
	{
		char *text = json_dumps(rel, JSON_COMPACT);
		char code[32] = "", msg[768] = "", type_id[SG_ID_LEN + 1];
		long p = relation_end(r, rel, "parent", "parent_id");
		long c = relation_end(r, rel, "child", "child_id");
		const char *type = sg_json_str(rel, "type");
		sg_err err = SG_ERR_OK;
		/* [doc: IRE error messages, INVALID_INPUT_DATA] */
		if (!json_is_object(rel))
			snprintf(msg, sizeof(msg), "Payload relations '%.300s' is not an object",
			         text ? text : "");
		else if (p < 0)
			snprintf(msg, sizeof(msg),
			         "Payload relations '%.300s' has invalid parent record index: [%s]",
			         text ? text : "", "-1");
		else if (c < 0)
			snprintf(msg, sizeof(msg),
			         "Payload relations '%.300s' has invalid child record index: [%s]",
			         text ? text : "", "-1");
		else if (!(err = rel_type(r->ctx, type ? type : "", type_id)) && !type_id[0])
			snprintf(msg, sizeof(msg),
			         "No such relationship with name [%.200s] exist in table "
			         "[cmdb_rel_type]. "
			         "If out-of-box relationship for [%.200s] has been removed or "
			         "renamed, it "
			         "should be restored",
			         type ? type : "", type ? type : "");
		free(text);
		if (err)
			return err;
		if (!msg[0])
			continue;
		snprintf(code, sizeof(code), "INVALID_INPUT_DATA");
		*bad = true;
		for (size_t k = 0; k < r->n; k++)
			if (r->items[k].merged_into < 0 &&
			    (err = push_error(&r->items[k], code, "%s", msg)))
				return err;
	}
	return SG_ERR_OK;
}

/* The item's writable input for class t: its fields of t, no sys_ fields. */
static json_t *input_for(const struct sg_table *t, json_t *values)
{
	json_t *in = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(values, k, v)
	{
		if (!strncmp(k, "sys_", 4) || !sg_table_field(t, k))
			continue;
		if (in && json_object_set(in, k, v)) {
			json_decref(in);
			return NULL;
		}
	}
	return in;
}

static sg_err allowed(struct run *r, const struct sg_table *t, json_t *current, json_t *in,
                      bool *ok)
{
	*ok = true;
	if (!r->hooks || !r->hooks->may_write)
		return SG_ERR_OK;
	return r->hooks->may_write(r->hooks->ud, t, current, in, ok);
}

/* Inserts, updates or leaves the item, as its identification decided. */
static sg_err reconcile(struct run *r, struct item *it, bool write)
{
	struct sg_write_opts wo = {0};
	sg_err err = SG_ERR_OK;
	if (it->current) {
		const char *cls = sg_json_str(it->current, "sys_class_name");
		const struct sg_table *t = sg_dict_table(r->ctx->dict, cls && *cls ? cls : "");
		if (!t)
			t = it->cls;
		json_t *in = input_for(t, it->values);
		if (!in)
			return SG_ERR_NOMEM;
		/* Only the fields whose value differs are written. */
		const char *k;
		json_t *v;
		void *tmp;
		json_object_foreach_safe(in, tmp, k, v)
		{
			const char *cur = sg_json_str(it->current, k);
			if (!strcmp(cur ? cur : "", json_string_value(v)))
				json_object_del(in, k);
		}
		it->op = json_object_size(in) ? "UPDATE" : "NO_CHANGE";
		bool ok = true;
		if (write && json_object_size(in))
			err = allowed(r, t, it->current, in, &ok);
		if (!err && !ok)
			err = push_error(it, "INSUFFICIENT_RIGHTS",
			                 "Insufficient rights to update record [%s] in table [%s]",
			                 it->sys_id, t->name);
		/* every change was to a field the user may not write: nothing to do */
		else if (!err && write && !json_object_size(in))
			it->op = "NO_CHANGE";
		else if (!err && write)
			err = sg_rec_update(r->ctx, t->name, it->sys_id, in, &wo);
		json_decref(in);
		return err;
	}
	it->op = "INSERT";
	if (!write)
		return SG_ERR_OK;
	json_t *in = input_for(it->cls, it->values);
	if (!in)
		return SG_ERR_NOMEM;
	const char *src = r->opts->data_source;
	if (src && *src && !sg_json_str(in, "discovery_source") &&
	    json_object_set_new(in, "discovery_source", json_string(src)))
		err = SG_ERR_NOMEM;
	/* A new CI is discovered now [doc: CMDB Instance API, POST sample]. */
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	static const char *stamps[] = {"first_discovered", "last_discovered"};
	for (int k = 0; k < 2 && !err; k++)
		if (!sg_json_str(in, stamps[k]) &&
		    json_object_set_new(in, stamps[k], json_string(now)))
			err = SG_ERR_NOMEM;
	bool ok = true;
	if (!err)
		err = allowed(r, it->cls, NULL, in, &ok);
	if (!err && !ok)
		err = push_error(it, "INSUFFICIENT_RIGHTS",
		                 "Insufficient rights to insert a record in table [%s]",
		                 it->cls->name);
	else if (!err)
		err = sg_rec_insert(r->ctx, it->cls->name, in, &wo, it->sys_id);
	json_decref(in);
	return err;
}

/* Writes (or, dry, reports) one relation between two reconciled items. */
static sg_err relate(struct run *r, json_t *rel, bool write, json_t *out)
{
	struct item *p = target_of(r, (size_t)relation_end(r, rel, "parent", "parent_id"));
	struct item *c = target_of(r, (size_t)relation_end(r, rel, "child", "child_id"));
	const char *type = sg_json_str(rel, "type");
	char type_id[SG_ID_LEN + 1], id[SG_ID_LEN + 1] = "Unknown";
	const char *op = "NO_CHANGE";
	json_t *errors = json_array();
	sg_err err = errors ? rel_type(r->ctx, type, type_id) : SG_ERR_NOMEM;
	if (!err && (json_array_size(p->errors) || json_array_size(c->errors))) {
		/* [doc: IRE error messages, ABANDONED] */
		json_t *e =
		    json_pack("{s:s, s:s}", "error", "ABANDONED", "message",
		              "While processing relations encountered errors in payload item");
		if (!e || json_array_append_new(errors, e))
			err = SG_ERR_NOMEM;
	} else if (!err && p->sys_id[0] && c->sys_id[0]) {
		const char *names[] = {"parent", "child", "type"};
		const char *vals[] = {p->sys_id, c->sys_id, type_id};
		json_t *rows = NULL;
		err = list_where(r->ctx, "cmdb_rel_ci", "", names, vals, 3, 1, &rows);
		if (!err && json_array_size(rows)) {
			snprintf(id, sizeof(id), "%s",
			         sg_json_str(json_array_get(rows, 0), "sys_id"));
		} else if (!err) {
			op = "INSERT";
			json_t *in = json_pack("{s:s, s:s, s:s}", "parent", p->sys_id, "child",
			                       c->sys_id, "type", type_id);
			const struct sg_table *t = sg_dict_table(r->ctx->dict, "cmdb_rel_ci");
			bool ok = true;
			err = in && t ? SG_ERR_OK : SG_ERR_NOMEM;
			if (!err && write)
				err = allowed(r, t, NULL, in, &ok);
			if (!err && write && ok) {
				struct sg_write_opts wo = {0};
				err = sg_rec_insert(r->ctx, "cmdb_rel_ci", in, &wo, id);
			} else if (!err && write) {
				json_t *e = json_pack(
				    "{s:s, s:s}", "error", "INSUFFICIENT_RIGHTS", "message",
				    "Insufficient rights to insert a record in table "
				    "[cmdb_rel_ci]");
				if (!e || json_array_append_new(errors, e))
					err = SG_ERR_NOMEM;
			}
			json_decref(in);
		}
		json_decref(rows);
	} else if (!err) {
		op = "INSERT"; /* a dry run with a new end */
	}
	json_t *res = NULL;
	if (!err)
		res = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:O?, s:I, s:o}", "className",
		                "cmdb_rel_ci", "operation",
		                json_array_size(errors) ? "NO_CHANGE" : op, "sysId", id, "type",
		                type, "parent", json_object_get(rel, "parent"), "child",
		                json_object_get(rel, "child"), "errorCount",
		                (json_int_t)json_array_size(errors), "errors", json_incref(errors));
	if (!err && (!res || json_array_append_new(out, res)))
		err = SG_ERR_NOMEM;
	json_decref(errors);
	return err;
}

static json_t *item_result(struct item *it)
{
	bool failed = json_array_size(it->errors) > 0;
	const char *cname = sg_json_str(it->in, "className");
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:O, s:I, s:O, s:O}", "className", cname ? cname : "",
	              "operation", failed || !it->op ? "NO_CHANGE" : it->op, "sysId",
	              it->sys_id[0] ? it->sys_id : "Unknown", "identificationAttempts",
	              it->attempts, "errorCount", (json_int_t)json_array_size(it->errors), "errors",
	              it->errors, "inputIndices", it->indices);
	if (o && it->entry_id &&
	    json_object_set_new(o, "identifierEntrySysId", json_string(it->entry_id))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Whether the data source is one of cmdb_ci.discovery_source's choices
 * (any is taken when the field has none). */
static sg_err check_source(struct run *r, bool *bad)
{
	*bad = false;
	const char *src = r->opts->data_source;
	if (!src || !*src)
		return SG_ERR_OK;
	const char *names[] = {"name", "element", "value"};
	const char *vals[] = {"cmdb_ci", "discovery_source", src};
	json_t *any = NULL, *same = NULL;
	sg_err err = list_where(r->ctx, "sys_choice", "inactive!=true", names, vals, 2, 1, &any);
	if (!err && json_array_size(any))
		err = list_where(r->ctx, "sys_choice", "inactive!=true", names, vals, 3, 1, &same);
	if (!err)
		*bad = json_array_size(any) && !json_array_size(same);
	json_decref(any);
	json_decref(same);
	return err;
}

static sg_err run(struct run *r, json_t *payload, json_t **result)
{
	json_t *items = json_object_get(payload, "items");
	json_t *rels = json_object_get(payload, "relations");
	bool bad_rels = false, bad_source = false;
	sg_err err = load_rules(r);
	if (!err)
		err = check_source(r, &bad_source);
	for (size_t i = 0; !err && i < r->n; i++) {
		struct item *it = &r->items[i];
		it->in = json_array_get(items, i);
		it->merged_into = -1;
		it->attempts = json_array();
		it->errors = json_array();
		it->indices = json_array();
		if (!it->attempts || !it->errors || !it->indices ||
		    json_array_append_new(it->indices, json_integer((json_int_t)i)))
			err = SG_ERR_NOMEM;
		else if (bad_source) /* [doc: IRE error messages, INVALID_INPUT_DATA] */
			err = push_error(
			    it, "INVALID_INPUT_DATA",
			    "In payload invalid data source [%.200s] exist. You need to provide a "
			    "valid choice value from field [discovery_source] in table [cmdb_ci]",
			    r->opts->data_source);
		else if (!json_is_object(it->in))
			err = push_error(it, "INVALID_INPUT_DATA",
			                 "In payload item [%zu] is not an object", i);
		else
			err = identify(r, it);
	}
	if (!err)
		err = dedup(r);
	if (!err && rels)
		err = check_relations(r, rels, &bad_rels);
	bool any_error = false;
	for (size_t i = 0; i < r->n; i++)
		any_error |= r->items[i].merged_into < 0 && json_array_size(r->items[i].errors) > 0;
	bool write = !r->opts->dry_run && !bad_rels && (r->opts->partial_commits || !any_error);
	for (size_t i = 0; !err && i < r->n; i++) {
		struct item *it = &r->items[i];
		if (it->merged_into < 0 && !json_array_size(it->errors))
			err = reconcile(r, it, write);
	}
	json_t *res = err ? NULL
	                  : json_pack("{s:[], s:[], s:[], s:[]}", "items", "relations",
	                              "additionalCommittedItems", "additionalCommittedRelations");
	if (!err && !res)
		err = SG_ERR_NOMEM;
	size_t i;
	json_t *rel;
	if (!bad_rels)
		json_array_foreach(rels, i, rel)
		{
			if (!err)
				err = relate(r, rel, write, json_object_get(res, "relations"));
		}
	for (i = 0; !err && i < r->n; i++) {
		if (r->items[i].merged_into >= 0)
			continue;
		json_t *o = item_result(&r->items[i]);
		if (!o || json_array_append_new(json_object_get(res, "items"), o))
			err = SG_ERR_NOMEM;
	}
	if (err) {
		json_decref(res);
		return err;
	}
	*result = res;
	return SG_ERR_OK;
}

sg_err sg_ire_run(struct sg_ctx *ctx, json_t *payload, const struct sg_ire_opts *opts,
                  const struct sg_ire_hooks *hooks, json_t **result)
{
	*result = NULL;
	json_t *items = json_object_get(payload, "items");
	json_t *rels = json_object_get(payload, "relations");
	if (!json_is_object(payload) || !json_is_array(items) || !json_array_size(items)) {
		sg_ctx_set_err(ctx, "The payload must hold a non-empty array 'items'");
		return SG_ERR_BAD_PARAM;
	}
	if (rels && !json_is_array(rels)) {
		sg_ctx_set_err(ctx, "The payload's 'relations' must be an array");
		return SG_ERR_BAD_PARAM;
	}
	if (json_array_size(items) > SG_IRE_MAX_ITEMS || json_array_size(rels) > SG_IRE_MAX_ITEMS) {
		sg_ctx_set_err(ctx, "A payload holds at most %d items and %d relations",
		               SG_IRE_MAX_ITEMS, SG_IRE_MAX_ITEMS);
		return SG_ERR_BAD_PARAM;
	}
	struct run r = {.ctx = ctx, .opts = opts, .hooks = hooks, .n = json_array_size(items)};
	r.items = calloc(r.n, sizeof(*r.items));
	if (!r.items)
		return SG_ERR_NOMEM;
	/* One write transaction: identification sees no concurrent insert of
	 * the same CI, and a failure leaves nothing half-written. */
	sg_err err = sg_conn_begin(ctx->conn, !opts->dry_run);
	if (!err) {
		err = run(&r, payload, result);
		if (!err)
			err = sg_conn_commit(ctx->conn);
		else
			sg_conn_rollback(ctx->conn);
		if (err) {
			json_decref(*result);
			*result = NULL;
		}
	}
	for (size_t i = 0; i < r.n; i++) {
		json_decref(r.items[i].values);
		json_decref(r.items[i].attempts);
		json_decref(r.items[i].errors);
		json_decref(r.items[i].indices);
		json_decref(r.items[i].current);
	}
	free(r.items);
	json_decref(r.idents);
	json_decref(r.entries);
	return err;
}
