/*
 * render.c - record serialisation for the Table API.
 */
#include "api/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/acl.h"
#include "core/buf.h"
#include "core/json.h"

enum sg_dv sg_render_parse_dv(const char *s)
{
	if (!s)
		return SG_DV_FALSE;
	if (!strcasecmp(s, "all"))
		return SG_DV_ALL;
	return sg_str_bool(s, false) ? SG_DV_TRUE : SG_DV_FALSE;
}

static json_t *link_to(const struct sg_render_opts *o, const char *table, const char *id)
{
	struct sg_buf b;
	sg_buf_init(&b, 64 * 1024);
	sg_buf_puts(&b, o->base_url);
	sg_buf_puts(&b, "api/now/table/");
	sg_buf_puts(&b, table);
	sg_buf_putc(&b, '/');
	sg_buf_puts(&b, id);
	json_t *j = sg_buf_failed(&b) ? NULL : json_stringn_nocheck(sg_buf_str(&b), b.len);
	sg_buf_cleanup(&b);
	return j;
}

/* The value of one field in the shape the options ask for. */
static json_t *shape(struct sg_ctx *ctx, const struct sg_table *cls, const struct sg_field *f,
		     const char *rec_id, const char *raw, const struct sg_render_opts *o)
{
	const char *ref_table = NULL;
	if (f->type == SG_FT_REFERENCE)
		ref_table = f->reference;
	else if (f->type == SG_FT_DOMAIN)
		ref_table = "sys_user_group"; /* sys_domain renders as a group reference */

	if (o->dv == SG_DV_FALSE) {
		if (!ref_table || !*raw || o->exclude_link)
			return json_string_nocheck(raw);
		return json_pack("{s:o, s:s}", "link", link_to(o, ref_table, raw), "value", raw);
	}
	char *dv = sg_rec_display(ctx, cls, f, rec_id, raw);
	if (!dv)
		return NULL;
	json_t *out;
	if (o->dv == SG_DV_TRUE) {
		if (!ref_table || !*raw || o->exclude_link)
			out = json_string(dv);
		else
			out = json_pack("{s:s, s:o}", "display_value", dv, "link",
					link_to(o, ref_table, raw));
	} else {
		out = json_pack("{s:s, s:s}", "display_value", dv, "value", raw);
		if (out && ref_table && *raw && !o->exclude_link)
			json_object_set_new(out, "link", link_to(o, ref_table, raw));
	}
	free(dv);
	return out;
}

/* The position of f in t->fields (sorted by element), or -1. */
static long field_index(const struct sg_table *t, const char *element)
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

/* A plain field of t (no dot-walk): the common case, kept cheap. */
static bool add_plain(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_table *cls,
		      json_t *rec, json_t *out, const char *name, const struct sg_render_opts *o)
{
	long i = field_index(t, name);
	if (i < 0)
		return true; /* unknown names are ignored */
	const struct sg_field *f = t->fields[i];
	if (f->type == SG_FT_PASSWORD || f->type == SG_FT_PASSWORD2)
		return true; /* never returned */
	/* A field the user may not read is left out [c_RESTAPI.md]. */
	const signed char *plan = sg_acl_read_plan(ctx, t);
	if (plan && (plan[i] == 0 ||
		     (plan[i] < 0 && !sg_acl_field(ctx, t, name, SG_ACL_READ, rec))))
		return true;
	const char *raw = sg_json_str(rec, name);
	const char *id = sg_json_str(rec, "sys_id");
	json_t *v = shape(ctx, cls, f, id ? id : "", raw ? raw : "", o);
	if (!v)
		return false;
	json_object_set_new_nocheck(out, name, v);
	return true;
}

static bool add_field(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec, json_t *out,
		      const char *name, const struct sg_render_opts *o)
{
	const struct sg_field *f;
	const struct sg_table *cls;
	char *raw = NULL;
	char rec_id[SG_ID_LEN + 1] = "";
	if (json_object_get(out, name))
		return true;
	if (!strchr(name, '.')) {
		const struct sg_table *rc = sg_dict_table(ctx->dict, sg_json_str(rec, "sys_class_name"));
		return add_plain(ctx, t, rc ? rc : t, rec, out, name, o);
	}
	if (!sg_rec_walk(ctx, t, rec, name, &f, &cls, &raw, rec_id))
		return true; /* unknown names are ignored */
	if (f->type == SG_FT_PASSWORD || f->type == SG_FT_PASSWORD2) {
		free(raw);
		return true; /* never returned */
	}
	/* A field the user may not read is left out [c_RESTAPI.md]. */
	char head[128];
	const char *dot = strchr(name, '.');
	snprintf(head, sizeof(head), "%.*s", (int)(dot ? (size_t)(dot - name) : strlen(name)), name);
	if (!sg_acl_field(ctx, t, head, SG_ACL_READ, rec) ||
	    (dot && !sg_acl_field(ctx, f->table, f->element, SG_ACL_READ, NULL))) {
		free(raw);
		return true;
	}
	json_t *v = shape(ctx, cls, f, rec_id, raw ? raw : "", o);
	free(raw);
	if (!v)
		return false;
	json_object_set_new(out, name, v);
	return true;
}

json_t *sg_render_record(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec,
			 const struct sg_render_opts *o)
{
	json_t *out = json_object();
	if (!out)
		return NULL;
	bool ok = true;
	if (o->fields && *o->fields) {
		const char *p = o->fields;
		while (ok && *p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			char name[256];
			while (n && *p == ' ') {
				p++;
				n--;
			}
			while (n && p[n - 1] == ' ')
				n--;
			if (n && n < sizeof(name)) {
				memcpy(name, p, n);
				name[n] = '\0';
				ok = add_field(ctx, t, rec, out, name, o);
			}
			if (!comma)
				break;
			p = comma + 1;
		}
	} else {
		const struct sg_table *rc = sg_dict_table(ctx->dict, sg_json_str(rec, "sys_class_name"));
		const char *key;
		json_t *v;
		json_object_foreach(rec, key, v)
		{
			if (!(ok = add_plain(ctx, t, rc ? rc : t, rec, out, key, o)))
				break;
		}
	}
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}
