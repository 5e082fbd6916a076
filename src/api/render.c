/*
 * render.c - record serialisation for the Table API.
 */
#include "api/render.h"

#include <stdint.h>
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

/* The length of the prefix of s[0..n) that JSON takes as it is: no control
 * character, quote or backslash.  Eight bytes at a time while none is
 * there (bit tricks on a 64-bit word), then byte by byte. */
static size_t plain_prefix(const unsigned char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;
	while (i < n) {
		if (n - i >= 8) {
			uint64_t x;
			memcpy(&x, s + i, 8);
			uint64_t ctl = (x - ones * 0x20) & ~x; /* a byte below 0x20 */
			uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
			q = (q - ones) & ~q; /* a quote */
			b = (b - ones) & ~b; /* a backslash */
			if (!((ctl | q | b) & highs)) {
				i += 8;
				continue;
			}
		}
		unsigned char c = s[i];
		if (c < 0x20 || c == '"' || c == '\\')
			break;
		i++;
	}
	return i;
}

/* Appends s as a JSON string: quotes, backslashes and control characters
 * escaped, UTF-8 passed through (as jansson writes it). */
static void put_str(struct sg_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	sg_buf_putc(b, '"');
	for (;;) {
		size_t run = plain_prefix(p, n);
		sg_buf_append(b, p, run);
		if (run == n)
			break;
		unsigned char c = p[run];
		switch (c) {
		case '"':
			sg_buf_puts(b, "\\\"");
			break;
		case '\\':
			sg_buf_puts(b, "\\\\");
			break;
		case '\n':
			sg_buf_puts(b, "\\n");
			break;
		case '\r':
			sg_buf_puts(b, "\\r");
			break;
		case '\t':
			sg_buf_puts(b, "\\t");
			break;
		case '\b':
			sg_buf_puts(b, "\\b");
			break;
		case '\f':
			sg_buf_puts(b, "\\f");
			break;
		default: {
			char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
			sg_buf_puts(b, u);
		}
		}
		p += run + 1;
		n -= run + 1;
	}
	sg_buf_putc(b, '"');
}

static void put_link(struct sg_buf *b, const struct sg_render_opts *o, const char *table,
                     const char *id)
{
	struct sg_buf url;
	sg_buf_init(&url, 64 * 1024);
	sg_buf_puts(&url, o->base_url);
	sg_buf_puts(&url, "api/now/table/");
	sg_buf_puts(&url, table);
	sg_buf_putc(&url, '/');
	sg_buf_puts(&url, id);
	if (sg_buf_failed(&url))
		sg_buf_set_failed(b);
	else
		put_str(b, sg_buf_str(&url));
	sg_buf_cleanup(&url);
}

/* Writes the value of one field in the shape the options ask for
 * (reference 1.3: the six reference shapes, display values). */
static bool write_value(struct sg_ctx *ctx, const struct sg_table *cls, const struct sg_field *f,
                        const char *rec_id, const char *raw, const struct sg_render_opts *o,
                        struct sg_buf *b)
{
	const char *ref_table = NULL;
	if (f->type == SG_FT_REFERENCE)
		ref_table = f->reference;
	else if (f->type == SG_FT_DOMAIN)
		ref_table = "sys_user_group"; /* sys_domain renders as a group reference */
	bool linked = ref_table && *raw && !o->exclude_link;

	if (o->dv == SG_DV_FALSE) {
		if (!linked) {
			put_str(b, raw);
			return true;
		}
		sg_buf_puts(b, "{\"link\":");
		put_link(b, o, ref_table, raw);
		sg_buf_puts(b, ",\"value\":");
		put_str(b, raw);
		sg_buf_putc(b, '}');
		return true;
	}
	char *owned = NULL;
	const char *dv = sg_rec_display_plain(ctx, cls, f, raw);
	if (!dv && !(dv = owned = sg_rec_display(ctx, cls, f, rec_id, raw)))
		return false;
	if (o->dv == SG_DV_TRUE && !linked) {
		put_str(b, dv);
	} else if (o->dv == SG_DV_TRUE) {
		sg_buf_puts(b, "{\"display_value\":");
		put_str(b, dv);
		sg_buf_puts(b, ",\"link\":");
		put_link(b, o, ref_table, raw);
		sg_buf_putc(b, '}');
	} else {
		sg_buf_puts(b, "{\"display_value\":");
		put_str(b, dv);
		sg_buf_puts(b, ",\"value\":");
		put_str(b, raw);
		if (linked) {
			sg_buf_puts(b, ",\"link\":");
			put_link(b, o, ref_table, raw);
		}
		sg_buf_putc(b, '}');
	}
	free(owned);
	return true;
}

/* A record being written: its values straight from the read (vals, in
 * t->fields order) or as a JSON object; the object is built from the values
 * only when an ACL condition or a dot-walk needs it. */
struct row {
	const struct sg_table *t;
	const char *const *vals;
	json_t *rec;
	bool built; /* rec is ours */
};

static const char *row_value(const struct row *r, long i)
{
	const char *v = r->vals ? r->vals[i] : sg_json_str(r->rec, r->t->fields[i]->element);
	return v ? v : "";
}

static json_t *row_record(struct row *r)
{
	if (!r->rec && r->vals) {
		r->rec = sg_rec_from_values(r->t, r->vals);
		r->built = r->rec != NULL;
	}
	return r->rec;
}

static void key(struct sg_buf *b, const char *name, bool *first)
{
	if (!*first)
		sg_buf_putc(b, ',');
	*first = false;
	put_str(b, name);
	sg_buf_putc(b, ':');
}

/* A password field's value in every display-value mode: the mask, never the
 * stored hash (which the read does not even select).  password2 fields (two-way
 * secrets: OAuth client secrets...) are left out altogether. */
static void put_masked(struct sg_buf *b, const struct sg_render_opts *o)
{
	if (o->dv == SG_DV_ALL)
		sg_buf_puts(b, "{\"display_value\":\"" SG_RENDER_SECRET_MASK
		               "\",\"value\":\"" SG_RENDER_SECRET_MASK "\"}");
	else
		sg_buf_puts(b, "\"" SG_RENDER_SECRET_MASK "\"");
}

/* *readable: whether element of t may be read on rec (o->auth's read
 * access).  False when that could not be known. */
static bool field_readable(const struct sg_render_opts *o, const struct sg_table *t,
                           const char *element, json_t *rec, bool *readable)
{
	*readable = true;
	return !o->auth || !sg_acl_field(o->auth, t, element, SG_ACL_READ, rec, readable);
}

/* Field i of t (no dot-walk): the common case, kept cheap.  plan is the
 * user's read plan for t (NULL: everything readable). */
static bool write_plain(struct sg_ctx *ctx, struct row *r, const struct sg_table *cls,
                        const signed char *plan, long i, const char *id,
                        const struct sg_render_opts *o, struct sg_buf *b, bool *first)
{
	const struct sg_field *f = r->t->fields[i];
	if (f->type == SG_FT_PASSWORD2)
		return true; /* never returned */
	/* A field the user may not read is left out [c_RESTAPI.md]. */
	if (plan && plan[i] == 0)
		return true;
	if (plan && plan[i] < 0) {
		json_t *rec = row_record(r);
		bool readable;
		if (!rec || !field_readable(o, r->t, f->element, rec, &readable))
			return false;
		if (!readable)
			return true;
	}
	key(b, f->element, first);
	if (sg_field_is_secret(f)) {
		put_masked(b, o);
		return true;
	}
	return write_value(ctx, cls, f, id, row_value(r, i), o, b);
}

/*
 * *readable: whether every step of the dot-walk name from rec may be read:
 * the first field on rec, then for each record walked to, its table-level
 * read ACLs and the next field's ACLs evaluated against that record (by
 * roles alone when the reference is empty).  False when that could not be
 * known.
 */
static bool walk_readable(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec,
                          const char *name, const struct sg_render_opts *o, bool *readable)
{
	*readable = true;
	if (!o->auth)
		return true;
	char seg[128], prefix[300];
	const char *dot = strchr(name, '.');
	snprintf(seg, sizeof(seg), "%.*s", (int)(dot - name), name);
	if (!field_readable(o, t, seg, rec, readable) || !*readable)
		return !sg_auth_session_error(o->auth);
	while (dot) {
		const char *next = strchr(dot + 1, '.');
		size_t n = next ? (size_t)(next - dot - 1) : strlen(dot + 1);
		snprintf(seg, sizeof(seg), "%.*s", (int)n, dot + 1);
		/* The record holding seg: the walk to its sys_id. */
		int len = snprintf(prefix, sizeof(prefix), "%.*s.sys_id", (int)(dot - name), name);
		if (len < 0 || (size_t)len >= sizeof(prefix)) {
			*readable = false;
			return true;
		}
		const struct sg_field *f;
		const struct sg_table *cls;
		char *id = NULL, rec_id[SG_ID_LEN + 1] = "";
		if (!sg_rec_walk(ctx, t, rec, prefix, &f, &cls, &id, rec_id)) {
			*readable = false;
			return true;
		}
		if (!f) {
			free(id);
			return false;
		}
		json_t *ref = id && *id ? json_pack("{s:s}", "sys_id", id) : NULL;
		bool ok = true, known = !(id && *id) || ref;
		free(id);
		if (!known)
			return false;
		if (ref)
			ok = !sg_acl_record(o->auth, cls, SG_ACL_READ, ref, readable);
		else
			ok = !sg_acl_table_may(o->auth, cls, SG_ACL_READ, readable);
		if (ok && *readable)
			ok = !sg_acl_field(o->auth, cls, seg, SG_ACL_READ, ref, readable);
		json_decref(ref);
		if (!ok || !*readable)
			return ok;
		dot = next;
	}
	return true;
}

/* A dot-walked field ("caller_id.email"), written under its flat name:
 * left out when any step of it may not be read. */
static bool write_walk(struct sg_ctx *ctx, struct row *r, const char *name,
                       const struct sg_render_opts *o, struct sg_buf *b, bool *first)
{
	json_t *rec = row_record(r);
	if (!rec)
		return false;
	const struct sg_field *f;
	const struct sg_table *cls;
	char *raw = NULL;
	char rec_id[SG_ID_LEN + 1] = "";
	if (!sg_rec_walk(ctx, r->t, rec, name, &f, &cls, &raw, rec_id))
		return true; /* unknown names are ignored */
	if (!f)
		return false; /* a record on the path could not be read */
	bool readable = f->type != SG_FT_PASSWORD2, ok = true;
	if (readable)
		ok = walk_readable(ctx, r->t, rec, name, o, &readable);
	if (ok && readable) {
		key(b, name, first);
		if (sg_field_is_secret(f))
			put_masked(b, o);
		else
			ok = write_value(ctx, cls, f, rec_id, raw ? raw : "", o, b);
	}
	free(raw);
	return ok;
}

/* sysparm_fields: the names asked for, in their order, each once. */
static bool write_chosen(struct sg_ctx *ctx, struct row *r, const struct sg_table *cls,
                         const signed char *plan, const char *id, const struct sg_render_opts *o,
                         struct sg_buf *b, bool *first)
{
	json_t *seen = json_object();
	bool ok = seen != NULL;
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
			if (!json_object_get(seen, name)) {
				if (json_object_set_new(seen, name, json_true()))
					ok = false;
				long i = sg_table_field_pos(r->t, name);
				if (!ok)
					break;
				if (strchr(name, '.'))
					ok = write_walk(ctx, r, name, o, b, first);
				else if (i >= 0) /* unknown names are ignored */
					ok = write_plain(ctx, r, cls, plan, i, id, o, b, first);
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	json_decref(seen);
	return ok;
}

static bool render(struct sg_ctx *ctx, struct row *r, const struct sg_render_opts *o,
                   struct sg_buf *b)
{
	const struct sg_table *t = r->t;
	long cls_pos = sg_table_field_pos(t, "sys_class_name");
	long id_pos = sg_table_field_pos(t, "sys_id");
	const struct sg_table *rc =
	    cls_pos >= 0 ? sg_dict_table(ctx->dict, row_value(r, cls_pos)) : NULL;
	const struct sg_table *cls = rc ? rc : t;
	const char *id = id_pos >= 0 ? row_value(r, id_pos) : "";
	const signed char *plan = NULL;
	if (o->auth && sg_acl_read_plan(o->auth, t, &plan))
		return false;
	bool ok = true, first = true;
	sg_buf_putc(b, '{');
	if (o->fields && *o->fields) {
		ok = write_chosen(ctx, r, cls, plan, id, o, b, &first);
	} else if (r->vals) {
		for (size_t i = 0; ok && i < t->nfields; i++)
			if (r->vals[i] || sg_field_is_secret(t->fields[i]))
				ok = write_plain(ctx, r, cls, plan, (long)i, id, o, b, &first);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(r->rec, k, v)
		{
			long i = sg_table_field_pos(t, k);
			if (i >= 0 && !sg_field_is_secret(t->fields[i]) &&
			    !(ok = write_plain(ctx, r, cls, plan, i, id, o, b, &first)))
				break;
		}
		/* passwords are not in a record read: shown masked all the same */
		for (size_t i = 0; ok && i < t->nfields; i++)
			if (t->fields[i]->type == SG_FT_PASSWORD)
				ok = write_plain(ctx, r, cls, plan, (long)i, id, o, b, &first);
	}
	sg_buf_putc(b, '}');
	if (r->built)
		json_decref(r->rec);
	return ok && !sg_buf_failed(b);
}

bool sg_render_write(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec,
                     const struct sg_render_opts *o, struct sg_buf *b)
{
	struct row r = {.t = t, .rec = rec};
	return render(ctx, &r, o, b);
}

bool sg_render_write_values(struct sg_ctx *ctx, const struct sg_table *t, const char *const *vals,
                            const struct sg_render_opts *o, struct sg_buf *b)
{
	struct row r = {.t = t, .vals = vals};
	return render(ctx, &r, o, b);
}

json_t *sg_render_record(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec,
                         const struct sg_render_opts *o)
{
	struct sg_buf b;
	sg_buf_init(&b, 256 * 1024 * 1024);
	json_t *out = sg_render_write(ctx, t, rec, o, &b)
	                  ? json_loadb(sg_buf_str(&b), b.len, JSON_DECODE_ANY, NULL)
	                  : NULL;
	sg_buf_cleanup(&b);
	return out;
}
