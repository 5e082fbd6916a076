/*
 * display.c - display values: choice labels, referenced records' display
 * fields, journal histories, and dot-walks through references.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "model/internal.h"

/* Referenced records are read once per request. */
static json_t *cached_record(struct sg_ctx *ctx, const struct sg_table *t, const char *sys_id)
{
	char key[200];
	snprintf(key, sizeof(key), "%s/%s", t->name, sys_id);
	if (!ctx->ref_cache)
		ctx->ref_cache = json_object();
	json_t *rec = json_object_get(ctx->ref_cache, key);
	if (rec)
		return json_is_null(rec) ? NULL : rec;
	if (sg_rec_get(ctx, t->name, sys_id, &rec))
		rec = NULL;
	json_object_set_new(ctx->ref_cache, key, rec ? rec : json_null());
	return rec;
}

char *sg__ref_display(struct sg_ctx *ctx, const char *table, const char *sys_id)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t || !*sys_id)
		return strdup("");
	json_t *rec = cached_record(ctx, t, sys_id);
	if (!rec)
		return strdup("");
	/* The referenced record's own class may choose a different display field. */
	const struct sg_table *cls = sg_dict_table(ctx->dict, sg_json_str(rec, "sys_class_name"));
	const struct sg_field *df = (cls && cls->display) ? cls->display : t->display;
	if (!df)
		return strdup(sys_id);
	const char *v = sg_json_str(rec, df->element);
	if (df->type == SG_FT_REFERENCE || sg_dict_choices(ctx->dict, t, df->element, &(size_t){0}))
		return sg_rec_display(ctx, t, df, sys_id, v ? v : "");
	return strdup(v ? v : "");
}

struct journal_reader {
	struct sg_ctx *ctx;
	struct sg_buf *out;
};

static int journal_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct journal_reader *r = ud;
	if (ncol < 4)
		return 0;
	const char *when = vals[0] ? vals[0] : "", *who = vals[1] ? vals[1] : "";
	const char *element = vals[2] ? vals[2] : "", *text = vals[3] ? vals[3] : "";
	/* The author's display name, looked up by user_name. */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\" FROM \"sys_user\" WHERE \"user_name\" = ");
	sg_sql_text(&q, who);
	char *name = NULL;
	sg_conn_query_string(r->ctx->conn, &q, &name);
	sg_sql_cleanup(&q);
	const char *label = !strcmp(element, "work_notes") ? "Work notes" : "Additional comments";
	char local[SG_DT_LEN + 1];
	sg_ctx_local_time(r->ctx, when, local);
	sg_buf_printf(r->out, "%s - %s (%s)\n%s\n\n", local, (name && *name) ? name : who, label,
		      text);
	free(name);
	return 0;
}

/* The journal history of one or all journal elements, newest first:
 * "<when> - <who> (Work notes)\n<text>\n\n" per entry. */
static char *journal_history(struct sg_ctx *ctx, const char *record_id, const char *element)
{
	struct sg_buf out;
	sg_buf_init(&out, 16 * 1024 * 1024);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_created_on\", \"sys_created_by\", \"element\", \"value\" "
		       "FROM \"sys_journal_field\" WHERE \"element_id\" = ");
	sg_sql_text(&q, record_id);
	if (element) {
		sg_sql_raw(&q, " AND \"element\" = ");
		sg_sql_text(&q, element);
	} else {
		sg_sql_raw(&q, " AND \"element\" IN ('comments', 'work_notes')");
	}
	sg_sql_raw(&q, " ORDER BY \"sys_created_on\" DESC, \"sys_id\" DESC");
	struct journal_reader r = {ctx, &out};
	sg_conn_exec(ctx->conn, &q, journal_row, &r, NULL);
	sg_sql_cleanup(&q);
	char *s = sg_buf_steal(&out);
	sg_buf_cleanup(&out);
	return s ? s : strdup("");
}

char *sg_rec_display(struct sg_ctx *ctx, const struct sg_table *cls, const struct sg_field *f,
		     const char *record_id, const char *raw)
{
	switch (f->type) {
	case SG_FT_REFERENCE:
		return sg__ref_display(ctx, f->reference, raw);
	case SG_FT_JOURNAL_INPUT:
	case SG_FT_JOURNAL:
		return journal_history(ctx, record_id, f->element);
	case SG_FT_JOURNAL_LIST:
		return journal_history(ctx, record_id, NULL);
	case SG_FT_PASSWORD:
	case SG_FT_PASSWORD2:
		return strdup("");
	case SG_FT_CLASS_NAME: {
		const struct sg_table *t = sg_dict_table(ctx->dict, raw);
		return strdup(t ? t->label : raw);
	}
	case SG_FT_DOMAIN:
		return strdup(raw);
	case SG_FT_DATETIME:
		if (*raw) {
			char local[SG_DT_LEN + 1];
			sg_ctx_local_time(ctx, raw, local);
			return strdup(local);
		}
		return strdup(raw);
	default:
		break;
	}
	if (*raw) {
		const char *label = sg_dict_choice_label(ctx->dict, cls, f->element, raw);
		if (label)
			return strdup(label);
	}
	return strdup(raw);
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
				 sg_json_str(cur_rec, "sys_id") ? sg_json_str(cur_rec, "sys_id") : "");
		}
		if (!dot) {
			*field = f;
			*cls = rc ? rc : cur;
			if (cur_rec)
				*raw = strdup(sg_json_str(cur_rec, f->element)
						      ? sg_json_str(cur_rec, f->element)
						      : "");
			return true;
		}
		if (f->type != SG_FT_REFERENCE)
			return false;
		const struct sg_table *next = sg_dict_table(ctx->dict, f->reference);
		if (!next)
			return false;
		const char *id = cur_rec ? sg_json_str(cur_rec, f->element) : NULL;
		cur_rec = (id && *id) ? cached_record(ctx, next, id) : NULL;
		cur = next;
		p = dot + 1;
	}
	return false;
}
