/*
 * transform.c - import set rows and their transform (transform.h).
 *
 * One staging row is one write transaction: the staging row, the target
 * records its maps write (and the referenced records choice_action create
 * makes), and the row's outcome commit together.  When the model refuses a
 * target write the whole transaction is rolled back (a nested write that
 * fails poisons its outer transaction, store.h) and the staging row is
 * stored again, alone, in state error with the reason.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "model/internal.h"
#include "model/transform.h"

/* Maps and field maps read per row: far beyond what any import uses. */
#define MAX_MAPS    100
#define MAX_ENTRIES 1000

bool sg_import_is_staging(struct sg_ctx *ctx, const struct sg_table *t)
{
	const struct sg_table *base = sg_dict_table(ctx->dict, "sys_import_set_row");
	return t && base && t != base && sg_table_is_a(t, base);
}

/* Rows of table matching the encoded query (table-name and sys_id values
 * only: no caret can come in from a client).  New reference in *rows. */
static sg_err list(struct sg_ctx *ctx, const char *table, const char *encoded, long long limit,
                   json_t **rows)
{
	struct sg_query q;
	sg_query_init(&q);
	*rows = NULL;
	sg_err err = sg_query_parse(&q, encoded) ? SG_ERR_OK : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = limit};
	if (!err)
		err = sg_rec_list(ctx, table, &lo, rows, NULL);
	sg_query_cleanup(&q);
	return err;
}

static sg_err set_str(json_t *obj, const char *key, const char *value)
{
	return json_object_set_new(obj, key, json_string(value ? value : "")) ? SG_ERR_NOMEM
	                                                                      : SG_ERR_OK;
}

sg_err sg_import_set_open(struct sg_ctx *ctx, const char *staging, const char *multi,
                          const char *run_after, char set_id[SG_ID_LEN + 1], char **number)
{
	json_t *rows = NULL, *in = NULL;
	sg_err err = SG_ERR_OK;
	if (number)
		*number = NULL;
	set_id[0] = '\0';
	if (!multi) {
		char q[256];
		snprintf(q, sizeof(q),
		         "table_name=%s^mode=synchronous^state=loading^ORDERBYDESCsys_created_on",
		         staging);
		err = list(ctx, "sys_import_set", q, 1, &rows);
		json_t *found = err ? NULL : json_array_get(rows, 0);
		if (found) {
			snprintf(set_id, SG_ID_LEN + 1, "%s", sg_json_str(found, "sys_id"));
			if (number && !(*number = strdup(sg_json_str(found, "number"))))
				err = SG_ERR_NOMEM;
			goto out;
		}
	}
	if (err)
		goto out;
	in = json_object();
	err = in ? SG_ERR_OK : SG_ERR_NOMEM;
	if (!err)
		err = set_str(in, "table_name", staging);
	if (!err)
		err = set_str(in, "mode", "synchronous");
	if (!err)
		err = set_str(in, "state", "loading");
	if (!err && multi)
		err = set_str(in, "multi_import_set", multi);
	if (!err && run_after && *run_after)
		err = set_str(in, "run_after", run_after);
	struct sg_write_opts wo = {0};
	if (!err)
		err = sg_rec_insert(ctx, "sys_import_set", in, &wo, set_id);
	if (!err && number) {
		json_t *rec = NULL;
		err = sg_rec_get(ctx, "sys_import_set", set_id, &rec);
		if (!err && !(*number = strdup(sg_json_str(rec, "number"))))
			err = SG_ERR_NOMEM;
		json_decref(rec);
	}
out:
	json_decref(rows);
	json_decref(in);
	return err;
}

sg_err sg_import_set_close(struct sg_ctx *ctx, const char *set_id)
{
	json_t *in = json_object();
	sg_err err = in ? set_str(in, "state", "processed") : SG_ERR_NOMEM;
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	if (!err)
		err = set_str(in, "load_completed", now);
	struct sg_write_opts wo = {0};
	if (!err)
		err = sg_rec_update(ctx, "sys_import_set", set_id, in, &wo);
	json_decref(in);
	return err;
}

/* ---- one map over one row ------------------------------------------------ */

/* What a map did with a row. */
struct outcome {
	const char *status; /* static: inserted, updated, ignored, skipped, error */
	char message[512];  /* the row's comment; the error for status error */
	char target[SG_ID_LEN + 1];
	bool refused; /* a target write failed: the transaction is lost */
};

static void set_outcome(struct outcome *o, const char *status, const char *fmt, const char *arg)
{
	o->status = status;
	snprintf(o->message, sizeof(o->message), fmt, arg ? arg : "");
}

/* Parses v by a Java-style date_format (yyyy, yy, MM, dd, HH, mm, ss; any
 * other character must match itself) into "YYYY-MM-DD HH:MM:SS". */
static bool parse_date(const char *v, const char *fmt, char out[SG_DT_LEN + 1])
{
	int part[6] = {0, 1, 1, 0, 0, 0}; /* year month day hour minute second */
	static const struct {
		const char *tok;
		int idx, width;
	} toks[] = {{"yyyy", 0, 4}, {"yy", 0, 2}, {"MM", 1, 2}, {"dd", 2, 2},
	            {"HH", 3, 2},   {"mm", 4, 2}, {"ss", 5, 2}};
	const char *p = v;
	while (*fmt) {
		size_t k, n = sizeof(toks) / sizeof(toks[0]);
		for (k = 0; k < n; k++)
			if (!strncmp(fmt, toks[k].tok, strlen(toks[k].tok)))
				break;
		if (k == n) {
			if (*p != *fmt)
				return false;
			p++;
			fmt++;
			continue;
		}
		int val = 0, digits = 0;
		while (digits < toks[k].width && isdigit((unsigned char)*p)) {
			val = val * 10 + (*p++ - '0');
			digits++;
		}
		/* One-digit months, days and hours are read too ("M/d" data). */
		if (digits == 0 || (toks[k].width == 4 && digits != 4))
			return false;
		if (toks[k].width == 2 && toks[k].idx == 0)
			val += 2000;
		part[toks[k].idx] = val;
		fmt += strlen(toks[k].tok);
	}
	if (*p || part[1] < 1 || part[1] > 12 || part[2] < 1 || part[2] > 31 || part[3] > 23 ||
	    part[4] > 59 || part[5] > 59)
		return false;
	char buf[96];
	snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d", part[0], part[1], part[2],
	         part[3], part[4], part[5]);
	if (strlen(buf) != SG_DT_LEN)
		return false; /* a year past 9999 */
	memcpy(out, buf, SG_DT_LEN + 1);
	return true;
}

/* The sys_id of the first record of t whose column element equals value
 * (case-insensitively unless case_sensitive; an empty value matches empty
 * and NULL), AND'ed over n columns.  *id NULL when none.  The first by
 * creation, as the platform updates "only the first matching record". */
struct match {
	const char *element, *value;
	bool case_sensitive, empty_ok;
};

static sg_err find_first(struct sg_ctx *ctx, const struct sg_table *t, const struct match *m,
                         size_t n, char **id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " t WHERE 1=1");
	for (size_t i = 0; i < n; i++) {
		sg_sql_raw(&q, " AND ");
		if (!*m[i].value) {
			sg_sql_raw(&q, "(");
			sg_sql_qual(&q, "t", m[i].element);
			sg_sql_raw(&q, " IS NULL OR ");
			sg_sql_qual(&q, "t", m[i].element);
			sg_sql_raw(&q, " = '')");
		} else if (m[i].case_sensitive) {
			sg_sql_qual(&q, "t", m[i].element);
			sg_sql_raw(&q, " = ");
			sg_sql_text(&q, m[i].value);
		} else {
			sg_sql_raw(&q, "LOWER(");
			sg_sql_qual(&q, "t", m[i].element);
			sg_sql_raw(&q, ") = LOWER(");
			sg_sql_text(&q, m[i].value);
			sg_sql_raw(&q, ")");
		}
	}
	sg_query_class_filter(&q, t, "t");
	sg_sql_raw(&q, " ORDER BY \"sys_created_on\", \"sys_id\" LIMIT 1");
	*id = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, id);
	sg_sql_cleanup(&q);
	return err;
}

/* A reference value: a sys_id of the referenced table as it is; otherwise
 * the record whose reference_value_field (else display field) equals it;
 * none: choice_action create makes one, ignore drops the value, reject the
 * row.  *out a new string, NULL when dropped; *reject on reject. */
static sg_err resolve_ref(struct sg_ctx *ctx, const struct sg_field *f, const json_t *entry,
                          const char *v, char **out, bool *reject)
{
	*out = NULL;
	const struct sg_table *rt = sg_dict_table(ctx->dict, f->reference);
	if (!rt || sg_id_is_valid(v)) {
		*out = strdup(v);
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	const char *rvf = sg_json_str(entry, "reference_value_field");
	const struct sg_field *key = *rvf ? sg_table_field(rt, rvf) : rt->display;
	if (!key || !sg_field_is_stored(key)) {
		*out = strdup(v);
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	struct match m = {.element = key->element, .value = v, .case_sensitive = true};
	sg_err err = find_first(ctx, rt, &m, 1, out);
	if (err || *out)
		return err;
	const char *action = sg_json_str(entry, "choice_action");
	if (!strcmp(action, "ignore"))
		return SG_ERR_OK;
	if (!strcmp(action, "reject")) {
		*reject = true;
		return SG_ERR_OK;
	}
	json_t *in = json_object();
	err = in ? set_str(in, key->element, v) : SG_ERR_NOMEM;
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	if (!err)
		err = sg_rec_insert(ctx, rt->name, in, &wo, id);
	json_decref(in);
	if (!err && !(*out = strdup(id)))
		err = SG_ERR_NOMEM;
	return err;
}

/* A choice field's value: a choice value as it is, a label as its value;
 * otherwise ignore drops it, reject the row, create passes it on (the
 * model keeps it only where the field accepts values off its list). */
static sg_err resolve_choice(const struct sg_choice *ch, size_t nch, const json_t *entry,
                             const char *v, char **out, bool *reject)
{
	*out = NULL;
	const char *pick = NULL;
	for (size_t i = 0; i < nch && !pick; i++)
		if (!strcmp(ch[i].value, v))
			pick = ch[i].value;
	for (size_t i = 0; i < nch && !pick; i++)
		if (!strcasecmp(ch[i].label, v))
			pick = ch[i].value;
	if (!pick) {
		const char *action = sg_json_str(entry, "choice_action");
		if (!strcmp(action, "ignore"))
			return SG_ERR_OK;
		if (!strcmp(action, "reject")) {
			*reject = true;
			return SG_ERR_OK;
		}
		pick = v;
	}
	*out = strdup(pick);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* The target value for one field map, or NULL (*skip) when the map sets
 * nothing.  *reject when choice_action rejects the row, *bad_date when the
 * value does not fit date_format. */
static sg_err map_value(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_field *f,
                        const json_t *map, const json_t *entry, const char *src, char **out,
                        bool *reject, bool *bad_date)
{
	*out = NULL;
	/* "NULL" clears the target field [t_CreateATransformMap.md]. */
	if (!strcmp(src, "NULL")) {
		*out = strdup("");
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	if (!*src) {
		/* Empty values leave the target as it is unless the map copies
		 * empty fields; a coalesce field still takes part, empty. */
		if (sg_str_bool(sg_json_str(map, "copy_empty_fields"), false) ||
		    sg_str_bool(sg_json_str(entry, "coalesce"), false))
			*out = strdup("");
		return SG_ERR_OK;
	}
	if (f->type == SG_FT_REFERENCE)
		return resolve_ref(ctx, f, entry, src, out, reject);
	size_t nch = 0;
	const struct sg_choice *ch = sg_dict_choices(ctx->dict, t, f->element, &nch);
	if (ch)
		return resolve_choice(ch, nch, entry, src, out, reject);
	const char *fmt = sg_json_str(entry, "date_format");
	if (*fmt && (f->type == SG_FT_DATETIME || f->type == SG_FT_DATE)) {
		char dt[SG_DT_LEN + 1];
		if (!parse_date(src, fmt, dt)) {
			*bad_date = true;
			return SG_ERR_OK;
		}
		if (f->type == SG_FT_DATE)
			dt[10] = '\0';
		*out = strdup(dt);
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	*out = strdup(src);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

/* The mandatory fields enforce_mandatory_fields asks for: "onlyMappedFields"
 * those the map sets, "allFields" every one of the table; on insert an
 * empty one without a default, on update one the map empties.  The first
 * missing field's label in *missing. */
static const char *missing_mandatory(struct sg_ctx *ctx, const struct sg_table *t,
                                     const json_t *map, const json_t *values, bool insert)
{
	const char *mode = sg_json_str(map, "enforce_mandatory_fields");
	bool all = !strcmp(mode, "allFields");
	if (!all && strcmp(mode, "onlyMappedFields"))
		return NULL;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		if (!f->mandatory)
			continue;
		json_t *v = json_object_get(values, f->element);
		if (!v && (!all || !insert))
			continue;
		if (v && *json_string_value(v))
			continue;
		const char *d = sg_dict_default(ctx->dict, t, f);
		if (insert && !v && d && *d)
			continue;
		return f->label ? f->label : f->element;
	}
	return NULL;
}

/* The message of a refused target write: the detail of the error the
 * Table API would answer for it ("Data Policy Exception: ..."). */
static void refusal(struct sg_ctx *ctx, sg_err err, struct outcome *o)
{
	o->refused = true;
	char *body = sg_err_render(err, ctx->err_arg, NULL);
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *detail =
	    json_string_value(json_object_get(json_object_get(j, "error"), "detail"));
	const char *msg =
	    json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	if (detail && *detail)
		set_outcome(o, "error", "%s", detail);
	else if (msg)
		set_outcome(o, "error", "%s", msg);
	else
		set_outcome(o, "error", "Unable to write the target record: %s", sg_err_name(err));
	json_decref(j);
	free(body);
}

/* Whether a write failure is the record's fault (recorded on the row) and
 * not the instance's (memory, store: the request fails). */
static bool is_refusal(sg_err err)
{
	return err != SG_ERR_NOMEM && err != SG_ERR_STORE && err != SG_ERR_BUSY &&
	       err != SG_ERR_INTERNAL;
}

/* Runs map over the staging record row; the outcome in *o. */
static sg_err run_map(struct sg_ctx *ctx, const json_t *map, const json_t *row, struct outcome *o)
{
	const char *target = sg_json_str(map, "target_table");
	const struct sg_table *t = sg_dict_table(ctx->dict, target);
	if (!t) {
		set_outcome(o, "error", "Target table %s does not exist", target);
		return SG_ERR_OK;
	}
	char q[96];
	snprintf(q, sizeof(q), "map=%s", sg_json_str(map, "sys_id"));
	json_t *entries = NULL, *values = json_object();
	struct match coal[32];
	size_t ncoal = 0;
	char *ids[32] = {0}; /* coalesce values, owned */
	char *found = NULL;
	sg_err err =
	    values ? list(ctx, "sys_transform_entry", q, MAX_ENTRIES, &entries) : SG_ERR_NOMEM;
	size_t i;
	json_t *entry;
	bool reject = false, bad_date = false;
	json_array_foreach(err ? NULL : entries, i, entry)
	{
		/* Source scripts need the script engine (issue 14): not run. */
		if (sg_str_bool(sg_json_str(entry, "use_source_script"), false))
			continue;
		const struct sg_field *f = sg_table_field(t, sg_json_str(entry, "target_field"));
		if (!f || !sg_field_is_stored(f) || !strcmp(f->element, "sys_id"))
			continue;
		const char *src = sg_json_str(row, sg_json_str(entry, "source_field"));
		char *v = NULL;
		err = map_value(ctx, t, f, map, entry, src, &v, &reject, &bad_date);
		if (err || reject || bad_date) {
			if (bad_date)
				snprintf(o->message, sizeof(o->message),
				         "Unable to parse %s as %s for field %s", src,
				         sg_json_str(entry, "date_format"), f->element);
			free(v);
			break;
		}
		if (!v)
			continue;
		bool coalesce = sg_str_bool(sg_json_str(entry, "coalesce"), false);
		if (coalesce && ncoal < sizeof(coal) / sizeof(coal[0])) {
			coal[ncoal] = (struct match){
			    .element = f->element,
			    .case_sensitive =
			        sg_str_bool(sg_json_str(entry, "coalesce_case_sensitive"), false),
			    .empty_ok =
			        sg_str_bool(sg_json_str(entry, "coalesce_empty_fields"), false)};
			ids[ncoal++] = strdup(v);
			if (!ids[ncoal - 1])
				err = SG_ERR_NOMEM;
		}
		bool keep = *v || !coalesce ||
		            sg_str_bool(sg_json_str(map, "copy_empty_fields"), false) ||
		            !strcmp(src, "NULL");
		if (!err && keep && json_object_set_new(values, f->element, json_string(v)))
			err = SG_ERR_NOMEM;
		free(v);
		if (err)
			break;
	}
	if (err)
		goto out;
	if (reject) {
		set_outcome(o, "skipped",
		            "Row rejected: a value has no match in %s (choice_action reject)",
		            target);
		goto out;
	}
	if (bad_date) {
		o->status = "error";
		goto out;
	}
	for (size_t k = 0; k < ncoal; k++)
		coal[k].value = ids[k];

	/* Coalesce: all fields must match; a row missing a coalesce value is
	 * skipped, unless that field coalesces empty values, or every one is
	 * empty and the map creates records then [c_ImportSetCoalesce.md]. */
	bool insert = true;
	if (ncoal) {
		size_t empty = 0, empty_unmatched = 0;
		for (size_t k = 0; k < ncoal; k++)
			if (!*coal[k].value) {
				empty++;
				empty_unmatched += !coal[k].empty_ok;
			}
		if (empty_unmatched) {
			if (empty < ncoal ||
			    !sg_str_bool(sg_json_str(map, "create_on_empty_coalesce"), false)) {
				set_outcome(o, "skipped",
				            "No value for the coalesce field(s) of %s", target);
				goto out;
			}
		} else {
			err = find_first(ctx, t, coal, ncoal, &found);
			if (err)
				goto out;
			insert = !found;
		}
	}
	const char *missing = missing_mandatory(ctx, t, map, values, insert);
	if (missing) {
		set_outcome(o, "error", "Mandatory field %s has no value", missing);
		goto out;
	}
	struct sg_write_opts wo = {.allow_sys_fields = false};
	ctx->err_arg[0] = '\0'; /* the refusal's reason, if the model gives one */
	if (insert) {
		err = sg_rec_insert(ctx, t->name, values, &wo, o->target);
		if (!err)
			set_outcome(o, "inserted", "%s", "");
	} else {
		snprintf(o->target, sizeof(o->target), "%s", found);
		json_t *before = NULL, *after = NULL;
		err = sg_rec_get(ctx, t->name, found, &before);
		if (!err)
			err = sg_rec_update(ctx, t->name, found, values, &wo);
		if (!err)
			err = sg_rec_get(ctx, t->name, found, &after);
		if (!err) {
			bool same = !strcmp(sg_json_str(before, "sys_mod_count"),
			                    sg_json_str(after, "sys_mod_count"));
			/* [r_ImportSetMode.md]: "ignored", "No field values changed". */
			if (same)
				set_outcome(o, "ignored", "%s", "No field values changed");
			else
				set_outcome(o, "updated", "%s", "");
		}
		json_decref(before);
		json_decref(after);
	}
	if (err && is_refusal(err)) {
		refusal(ctx, err, o);
		err = SG_ERR_OK;
	}
out:
	for (size_t k = 0; k < ncoal; k++)
		free(ids[k]);
	free(found);
	json_decref(entries);
	json_decref(values);
	return err;
}

/* ---- rows ------------------------------------------------------------------ */

/* One result object of the API's "result" list. */
static sg_err result_object(struct sg_ctx *ctx, const char *map_name, const char *table,
                            const char *target_id, const char *status, const char *message,
                            json_t **out)
{
	const struct sg_table *t = *table ? sg_dict_table(ctx->dict, table) : NULL;
	char *dv = NULL;
	if (t && *target_id && !(dv = sg__ref_display(ctx, table, target_id)))
		return SG_ERR_NOMEM;
	json_t *r = json_object();
	sg_err err = r ? SG_ERR_OK : SG_ERR_NOMEM;
	if (!err)
		err = set_str(r, "transform_map", map_name);
	if (!err)
		err = set_str(r, "table", table);
	if (!err)
		err = set_str(r, "display_name", t && t->display ? t->display->element : "");
	if (!err)
		err = set_str(r, "display_value", dv);
	if (!err)
		err = set_str(r, "status", status);
	if (!err)
		err = set_str(r, "sys_id", target_id);
	if (!err && *message)
		err = set_str(r, !strcmp(status, "error") ? "error_message" : "status_message",
		              message);
	free(dv);
	if (err) {
		json_decref(r);
		return err;
	}
	*out = r;
	return SG_ERR_OK;
}

/* The staging row's fields from the client's input: sys_* names are the
 * platform's; values are strings already (the api layer made them so). */
static json_t *staging_input(const json_t *input, const char *set_id, long row_no)
{
	json_t *in = json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)input, key, v)
	{
		if (!strncmp(key, "sys_", 4) || !json_is_string(v))
			continue;
		if (json_object_set(in, key, v))
			goto fail;
	}
	char n[32];
	snprintf(n, sizeof(n), "%ld", row_no);
	if (!in || set_str(in, "sys_import_set", set_id) || set_str(in, "sys_import_row", n) ||
	    set_str(in, "sys_import_state", "pending"))
		goto fail;
	return in;
fail:
	json_decref(in);
	return NULL;
}

/* The row's outcome fields, from the last map that ran. */
static sg_err outcome_input(const struct outcome *o, const char *map_id, const char *target,
                            json_t **out)
{
	json_t *in = json_object();
	bool error = !strcmp(o->status, "error");
	sg_err err = in ? set_str(in, "sys_import_state", o->status) : SG_ERR_NOMEM;
	if (!err)
		err = set_str(in, "sys_import_state_comment", o->message);
	if (!err)
		err = set_str(in, "sys_row_error", error ? o->message : "");
	if (!err)
		err = set_str(in, "sys_target_table", target);
	if (!err)
		err = set_str(in, "sys_target_sys_id", o->target);
	if (!err)
		err = set_str(in, "sys_transform_map", map_id);
	if (err) {
		json_decref(in);
		return err;
	}
	*out = in;
	return SG_ERR_OK;
}

/* Stores the staging row, runs the maps over it and writes the last one's
 * outcome back to it.  Inside the caller's transaction. */
static sg_err load_and_run(struct sg_ctx *ctx, const char *staging, json_t *in, json_t *maps,
                           char row_id[SG_ID_LEN + 1], json_t *results, struct outcome *last,
                           json_t **last_map)
{
	struct sg_write_opts wo = {.allow_sys_fields = true};
	sg_err err = sg_rec_insert(ctx, staging, in, &wo, row_id);
	if (err)
		return err;
	json_t *row = NULL;
	err = sg_rec_get(ctx, staging, row_id, &row);
	size_t i;
	json_t *map;
	json_array_foreach(err ? NULL : maps, i, map)
	{
		struct outcome o = {.status = "error"};
		err = run_map(ctx, map, row, &o);
		if (err)
			break;
		*last = o;
		*last_map = map;
		json_t *r;
		err = result_object(ctx, sg_json_str(map, "name"), sg_json_str(map, "target_table"),
		                    o.target, o.status, o.message, &r);
		if (!err && json_array_append_new(results, r))
			err = SG_ERR_NOMEM;
		if (err || o.refused)
			break;
	}
	json_decref(row);
	if (err || !*last_map || last->refused)
		return err;
	json_t *out = NULL;
	err = outcome_input(last, sg_json_str(*last_map, "sys_id"),
	                    sg_json_str(*last_map, "target_table"), &out);
	struct sg_write_opts sys = {.allow_sys_fields = true};
	if (!err)
		err = sg_rec_update(ctx, staging, row_id, out, &sys);
	json_decref(out);
	return err;
}

/* In a write transaction: the import set the row joins (opened when
 * set_id is empty on entry, as given says), named in the row's input. */
static sg_err join_set(struct sg_ctx *ctx, const char *staging, bool given,
                       char set_id[SG_ID_LEN + 1], json_t *in)
{
	sg_err err = given ? SG_ERR_OK : sg_import_set_open(ctx, staging, NULL, NULL, set_id, NULL);
	return err ? err : set_str(in, "sys_import_set", set_id);
}

sg_err sg_import_row(struct sg_ctx *ctx, const char *staging, char set_id[SG_ID_LEN + 1],
                     long row_no, json_t *input, char row_id[SG_ID_LEN + 1], json_t **results)
{
	*results = NULL;
	bool given = set_id[0] != '\0';
	json_t *maps = NULL, *in = staging_input(input, set_id, row_no), *res = json_array();
	char q[160];
	snprintf(q, sizeof(q), "source_table=%s^active=true^ORDERBYorder", staging);
	sg_err err = in && res ? list(ctx, "sys_transform_map", q, MAX_MAPS, &maps) : SG_ERR_NOMEM;
	if (err)
		goto out;
	struct outcome last = {.status = "pending"};
	json_t *last_map = NULL;
	err = sg_conn_begin(ctx->conn, true);
	if (err)
		goto out;
	err = join_set(ctx, staging, given, set_id, in);
	if (!err)
		err = load_and_run(ctx, staging, in, maps, row_id, res, &last, &last_map);
	if (err || last.refused)
		sg_conn_rollback(ctx->conn);
	else
		err = sg_conn_commit(ctx->conn);
	ctx->dict_dirty = ctx->dict_dirty && !err && !last.refused;
	if (!err && last.refused) {
		/* The target write was refused and took the transaction with
		 * it: the row alone, in error [r_ImportSetMode.md "error"]. */
		json_t *out = NULL;
		err = outcome_input(&last, sg_json_str(last_map, "sys_id"),
		                    sg_json_str(last_map, "target_table"), &out);
		if (!err)
			err = json_object_update(in, out) ? SG_ERR_NOMEM : SG_ERR_OK;
		json_decref(out);
		struct sg_write_opts sys = {.allow_sys_fields = true};
		if (!err)
			err = sg_conn_begin(ctx->conn, true);
		if (!err) {
			err = join_set(ctx, staging, given, set_id, in);
			if (!err)
				err = sg_rec_insert(ctx, staging, in, &sys, row_id);
			if (err)
				sg_conn_rollback(ctx->conn);
			else
				err = sg_conn_commit(ctx->conn);
		}
		/* Only the refusal is reported: what earlier maps wrote was
		 * rolled back with it. */
		json_t *r = NULL;
		if (!err)
			err = result_object(ctx, sg_json_str(last_map, "name"),
			                    sg_json_str(last_map, "target_table"), "", "error",
			                    last.message, &r);
		if (!err && json_array_clear(res)) {
			json_decref(r);
			err = SG_ERR_NOMEM;
		}
		if (!err && json_array_append_new(res, r))
			err = SG_ERR_NOMEM;
	}
	/* The nested writes left their after-commit work to this commit. */
	if (!err)
		sg__ctx_dict_changed(ctx);
out:
	if (err && !given)
		set_id[0] = '\0';
	json_decref(maps);
	json_decref(in);
	if (err)
		json_decref(res);
	else
		*results = res;
	return err;
}

sg_err sg_import_results(struct sg_ctx *ctx, const char *staging, const char *row_id,
                         char **set_number, json_t **results)
{
	*results = NULL;
	*set_number = NULL;
	json_t *row = NULL, *set = NULL, *map = NULL, *res = NULL;
	sg_err err = sg_rec_get(ctx, staging, row_id, &row);
	if (err)
		return err;
	const char *set_id = sg_json_str(row, "sys_import_set");
	if (*set_id) {
		err = sg_rec_get(ctx, "sys_import_set", set_id, &set);
		if (err == SG_ERR_NO_RECORD)
			err = SG_ERR_OK;
	}
	if (!err && !(*set_number = strdup(set ? sg_json_str(set, "number") : "")))
		err = SG_ERR_NOMEM;
	if (!err && !(res = json_array()))
		err = SG_ERR_NOMEM;
	const char *state = sg_json_str(row, "sys_import_state");
	const char *map_id = sg_json_str(row, "sys_transform_map");
	if (!err && *map_id) {
		err = sg_rec_get(ctx, "sys_transform_map", map_id, &map);
		if (err == SG_ERR_NO_RECORD)
			err = SG_ERR_OK;
	}
	json_t *r = NULL;
	if (!err && *state && strcmp(state, "pending"))
		err = result_object(
		    ctx, map ? sg_json_str(map, "name") : "", sg_json_str(row, "sys_target_table"),
		    sg_json_str(row, "sys_target_sys_id"), state,
		    !strcmp(state, "error") ? sg_json_str(row, "sys_row_error")
		                            : sg_json_str(row, "sys_import_state_comment"),
		    &r);
	if (r && json_array_append_new(res, r))
		err = SG_ERR_NOMEM;
	json_decref(row);
	json_decref(set);
	json_decref(map);
	if (err) {
		json_decref(res);
		free(*set_number);
		*set_number = NULL;
		return err;
	}
	*results = res;
	return SG_ERR_OK;
}
