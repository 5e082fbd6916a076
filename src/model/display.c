/*
 * display.c - display values: choice labels, referenced records' display
 * fields, journal histories, and dot-walks through references.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "model/internal.h"

/* Referenced records are read once per request.  *out is borrowed from the
 * cache, NULL when there is no such record; an error when it could not be
 * read (nothing is cached then). */
static sg_err cached_record(struct sg_ctx *ctx, const struct sg_table *t, const char *sys_id,
                            json_t **out)
{
	char key[200];
	snprintf(key, sizeof(key), "%s/%s", t->name, sys_id);
	*out = NULL;
	if (!ctx->ref_cache && !(ctx->ref_cache = json_object()))
		return SG_ERR_NOMEM;
	json_t *rec = json_object_get(ctx->ref_cache, key);
	if (rec) {
		*out = json_is_null(rec) ? NULL : rec;
		return SG_ERR_OK;
	}
	sg_err err = sg_rec_get(ctx, t->name, sys_id, &rec);
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
		rec = NULL;
	else if (err)
		return err;
	json_t *entry = rec ? rec : json_null();
	if (json_object_set_new(ctx->ref_cache, key, entry))
		return SG_ERR_NOMEM; /* entry is released */
	*out = rec;
	return SG_ERR_OK;
}

struct display_row {
	bool found, nomem;
	char *cls, *value;
};

static int keep_display_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct display_row *r = ud;
	r->found = true;
	r->cls = ncol > 0 && vals[0] ? strdup(vals[0]) : NULL;
	r->value = ncol > 1 && vals[1] ? strdup(vals[1]) : NULL;
	r->nomem = (ncol > 0 && vals[0] && !r->cls) || (ncol > 1 && vals[1] && !r->value);
	return 1;
}

/* A display field whose column can be read. */
static bool readable(const struct sg_field *df)
{
	return df && sg_field_is_stored(df) && !sg_field_is_secret(df);
}

/* Record sys_id of t: its class (when t has a hierarchy) and the column of
 * df (NULL: none) into r. */
static sg_err read_columns(struct sg_ctx *ctx, const struct sg_table *t, const char *sys_id,
                           const struct sg_field *df, struct display_row *r)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT ");
	if (t->hierarchy)
		sg_sql_qual(&q, "t", "sys_class_name");
	else
		sg_sql_raw(&q, "NULL");
	sg_sql_raw(&q, ", ");
	if (readable(df))
		sg_sql_qual(&q, "t", df->element);
	else
		sg_sql_raw(&q, "NULL");
	sg_sql_raw(&q, " FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " t WHERE \"t\".\"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	sg_query_class_filter(&q, t, "t");
	sg_err err = sg_conn_exec(ctx->conn, &q, keep_display_row, r, NULL);
	sg_sql_cleanup(&q);
	return !err && r->nomem ? SG_ERR_NOMEM : err;
}

/*
 * The display value of record sys_id of t: the display field of the
 * record's own class (a subclass may choose its own), else t's.  Only the
 * class and that one column are read, not the whole row (~100 columns for
 * a task).  NULL when it cannot be read (out of memory, the store).
 */
static char *read_display(struct sg_ctx *ctx, const struct sg_table *t, const char *sys_id)
{
	if (!sg_id_is_key(sys_id) && !sg_str_eq(sys_id, "global"))
		return strdup("");
	const struct sg_field *df = t->display;
	struct display_row r = {0};
	sg_err err = read_columns(ctx, t, sys_id, df, &r);
	const struct sg_table *cls = r.cls ? sg_dict_table(ctx->dict, r.cls) : NULL;
	const struct sg_table *shown = t;
	if (!err && cls && cls->display && (!df || strcmp(cls->display->element, df->element))) {
		/* The record's class shows another field: read that one. */
		struct display_row c = {0};
		df = cls->display;
		shown = cls;
		err = read_columns(ctx, cls, sys_id, df, &c);
		free(r.value);
		r.value = c.value;
		free(c.cls);
	}
	char *out;
	if (err)
		out = NULL;
	else if (!r.found)
		out = strdup("");
	else if (!df)
		out = strdup(sys_id);
	else if (!r.value) /* empty, or a column not read */
		out = strdup("");
	else if (df->type == SG_FT_REFERENCE ||
	         sg_dict_choices(ctx->dict, shown, df->element, &(size_t){0}))
		out = sg_rec_display(ctx, shown, df, sys_id, r.value);
	else
		out = strdup(r.value);
	free(r.cls);
	free(r.value);
	return out;
}

char *sg__ref_display(struct sg_ctx *ctx, const char *table, const char *sys_id)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t || !*sys_id)
		return strdup("");
	/* Referenced records' display values are read once per request. */
	char key[200];
	sg_str_join(key, sizeof(key), t->name, "/", sys_id);
	if (!ctx->display_cache)
		ctx->display_cache = json_object();
	const char *known = json_string_value(json_object_get(ctx->display_cache, key));
	if (known)
		return strdup(known);
	char *v = read_display(ctx, t, sys_id);
	if (v && ctx->display_cache)
		json_object_set_new(ctx->display_cache, key, json_string(v));
	return v;
}

/* Appends one journal entry as its history shows it:
 * "<when> - <who> (Work notes)\n<text>\n\n". */
static sg_err format_entry(struct sg_ctx *ctx, struct sg_buf *out, const char *when,
                           const char *who, const char *element, const char *text)
{
	/* The author's display name, looked up by user_name. */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\" FROM \"sys_user\" WHERE \"user_name\" = ");
	sg_sql_text(&q, who);
	char *name = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, &name);
	sg_sql_cleanup(&q);
	if (err)
		return err;
	const char *label = !strcmp(element, "work_notes") ? "Work notes" : "Additional comments";
	char local[SG_DT_LEN + 1];
	sg_ctx_local_time(ctx, when, local);
	sg_buf_printf(out, "%s - %s (%s)\n%s\n\n", local, (name && *name) ? name : who, label,
	              text);
	free(name);
	return sg_buf_failed(out) ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* Whether a history of element (NULL: comments and work notes) shows entries of e. */
static bool shows(const char *element, const char *e)
{
	return element ? !strcmp(e, element) : (!strcmp(e, "comments") || !strcmp(e, "work_notes"));
}

struct journal_reader {
	struct sg_ctx *ctx;
	struct sg_buf *out;
	sg_err err;
};

static int journal_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct journal_reader *r = ud;
	if (ncol < 4)
		return 0;
	r->err = format_entry(r->ctx, r->out, vals[0] ? vals[0] : "", vals[1] ? vals[1] : "",
	                      vals[2] ? vals[2] : "", vals[3] ? vals[3] : "");
	return r->err != SG_ERR_OK;
}

static const char JOURNAL_COLUMNS[] =
    "SELECT \"sys_created_on\", \"sys_created_by\", \"element\", \"value\"";
static const char JOURNAL_ORDER[] = " ORDER BY \"sys_created_on\" DESC, \"sys_id\" DESC";

/* The journal history of one or all journal elements, newest first; NULL
 * when it cannot be read. */
static char *journal_history(struct sg_ctx *ctx, const char *record_id, const char *element)
{
	struct sg_buf out;
	sg_buf_init(&out, 16 * 1024 * 1024);
	sg_err err = SG_ERR_OK;
	json_t *entries =
	    ctx->journal_cache ? json_object_get(ctx->journal_cache, record_id) : NULL;
	if (entries) {
		size_t i;
		json_t *e;
		json_array_foreach(entries, i, e)
		{
			const char *el = json_string_value(json_array_get(e, 2));
			if (!err && el && shows(element, el))
				err =
				    format_entry(ctx, &out, json_string_value(json_array_get(e, 0)),
				                 json_string_value(json_array_get(e, 1)), el,
				                 json_string_value(json_array_get(e, 3)));
		}
	} else {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, JOURNAL_COLUMNS);
		sg_sql_raw(&q, " FROM \"sys_journal_field\" WHERE \"element_id\" = ");
		sg_sql_text(&q, record_id);
		if (element) {
			sg_sql_raw(&q, " AND \"element\" = ");
			sg_sql_text(&q, element);
		} else {
			sg_sql_raw(&q, " AND \"element\" IN ('comments', 'work_notes')");
		}
		sg_sql_raw(&q, JOURNAL_ORDER);
		struct journal_reader r = {ctx, &out, SG_ERR_OK};
		err = sg_conn_exec(ctx->conn, &q, journal_row, &r, NULL);
		if (!err)
			err = r.err;
		sg_sql_cleanup(&q);
	}
	char *s = err ? NULL : sg_buf_steal(&out);
	sg_buf_cleanup(&out);
	return s;
}

struct prefetch {
	json_t *cache;
	bool failed;
};

static int cache_entry(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct prefetch *p = ud;
	if (ncol < 5 || !vals[4])
		return 0;
	json_t *entries = json_object_get(p->cache, vals[4]);
	if (!entries)
		return 0; /* not asked for */
	json_t *e = json_array();
	for (int i = 0; e && i < 4; i++)
		if (json_array_append_new(e, json_string(vals[i] ? vals[i] : "")))
			p->failed = true;
	if (!e || json_array_append_new(entries, e))
		p->failed = true;
	return p->failed;
}

sg_err sg_rec_prefetch_journal(struct sg_ctx *ctx, const char *const *ids, size_t n)
{
	enum { CHUNK = 500 };
	json_t *cache = json_object();
	if (!cache)
		return SG_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		if (ids[i] && *ids[i] && !json_object_get(cache, ids[i]) &&
		    json_object_set_new(cache, ids[i], json_array())) {
			json_decref(cache);
			return SG_ERR_NOMEM;
		}
	sg_err err = SG_ERR_OK;
	for (size_t at = 0; !err && at < n; at += CHUNK) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, JOURNAL_COLUMNS);
		sg_sql_raw(&q,
		           ", \"element_id\" FROM \"sys_journal_field\" WHERE \"element_id\" IN (");
		for (size_t i = at; i < n && i < at + CHUNK; i++) {
			if (i > at)
				sg_sql_raw(&q, ", ");
			sg_sql_text(&q, ids[i] ? ids[i] : "");
		}
		sg_sql_raw(&q, ")");
		sg_sql_raw(&q, JOURNAL_ORDER);
		struct prefetch p = {cache, false};
		err = sg_conn_exec(ctx->conn, &q, cache_entry, &p, NULL);
		if (!err && p.failed)
			err = SG_ERR_NOMEM;
		sg_sql_cleanup(&q);
	}
	if (err) {
		json_decref(cache);
		return err;
	}
	json_decref(ctx->journal_cache);
	ctx->journal_cache = cache;
	return SG_ERR_OK;
}

const char *sg_rec_display_plain(struct sg_ctx *ctx, const struct sg_table *cls,
                                 const struct sg_field *f, const char *raw)
{
	switch (f->type) {
	case SG_FT_REFERENCE:
	case SG_FT_JOURNAL_INPUT:
	case SG_FT_JOURNAL:
	case SG_FT_JOURNAL_LIST:
		return NULL;
	case SG_FT_DATETIME:
		return *raw ? NULL : raw;
	case SG_FT_PASSWORD:
	case SG_FT_PASSWORD2:
		return "";
	case SG_FT_CLASS_NAME: {
		const struct sg_table *t = sg_dict_table(ctx->dict, raw);
		return t ? t->label : raw;
	}
	case SG_FT_DOMAIN:
		return raw;
	default:
		break;
	}
	if (*raw) {
		const char *label = sg_dict_choice_label(ctx->dict, cls, f->element, raw);
		if (label)
			return label;
	}
	return raw;
}

char *sg_rec_display(struct sg_ctx *ctx, const struct sg_table *cls, const struct sg_field *f,
                     const char *record_id, const char *raw)
{
	const char *plain = sg_rec_display_plain(ctx, cls, f, raw);
	if (plain)
		return strdup(plain);
	switch (f->type) {
	case SG_FT_REFERENCE:
		return sg__ref_display(ctx, f->reference, raw);
	case SG_FT_JOURNAL_INPUT:
	case SG_FT_JOURNAL:
		return journal_history(ctx, record_id, f->element);
	case SG_FT_JOURNAL_LIST:
		return journal_history(ctx, record_id, NULL);
	default: { /* a date-time, shown in the user's time zone */
		char local[SG_DT_LEN + 1];
		sg_ctx_local_time(ctx, raw, local);
		return strdup(local);
	}
	}
}

bool sg_rec_walk(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec, const char *path,
                 const struct sg_field **field, const struct sg_table **cls, char **raw,
                 char rec_id[SG_ID_LEN + 1])
{
	*raw = NULL;
	const struct sg_table *cur = t;
	json_t *cur_rec = rec;
	const char *p = path;
	for (int depth = 0; depth < 10; depth++) {
		const char *dot = strchr(p, '.');
		char head[128];
		snprintf(head, sizeof(head), "%.*s", (int)(dot ? (size_t)(dot - p) : strlen(p)), p);
		const struct sg_field *f = sg_table_field(cur, head);
		if (!f)
			return false;
		const struct sg_table *rc = NULL;
		if (cur_rec) {
			rc = sg_dict_table(ctx->dict, sg_json_str(cur_rec, "sys_class_name"));
			snprintf(rec_id, SG_ID_LEN + 1, "%s",
			         sg_json_str(cur_rec, "sys_id") ? sg_json_str(cur_rec, "sys_id")
			                                        : "");
		}
		if (!dot) {
			*field = f;
			*cls = rc ? rc : cur;
			if (cur_rec && !(*raw = strdup(sg_json_str(cur_rec, f->element)
			                                   ? sg_json_str(cur_rec, f->element)
			                                   : "")))
				*field = NULL; /* out of memory */
			return true;
		}
		if (f->type != SG_FT_REFERENCE)
			return false;
		const struct sg_table *next = sg_dict_table(ctx->dict, f->reference);
		if (!next)
			return false;
		const char *id = cur_rec ? sg_json_str(cur_rec, f->element) : NULL;
		json_t *ref = NULL;
		if (id && *id && cached_record(ctx, next, id, &ref)) {
			*field = NULL; /* the referenced record could not be read */
			return true;
		}
		cur_rec = ref;
		cur = next;
		p = dot + 1;
	}
	return false;
}
