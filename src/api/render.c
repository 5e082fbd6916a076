/*
 * render.c - record serialisation for the Table API.
 */
#include "api/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/acl.h"
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
	size_t n = strlen(o->base_url) + strlen(table) + strlen(id) + 32;
	char *s = malloc(n);
	if (!s)
		return NULL;
	snprintf(s, n, "%sapi/now/table/%s/%s", o->base_url, table, id);
	json_t *j = json_string(s);
	free(s);
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
			return json_string(raw);
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

static bool add_field(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec, json_t *out,
		      const char *name, const struct sg_render_opts *o)
{
	const struct sg_field *f;
	const struct sg_table *cls;
	char *raw = NULL;
	char rec_id[SG_ID_LEN + 1] = "";
	if (json_object_get(out, name))
		return true;
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
		const char *key;
		json_t *v;
		json_object_foreach(rec, key, v)
		{
			if (!(ok = add_field(ctx, t, rec, out, key, o)))
				break;
		}
	}
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}
