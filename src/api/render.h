/*
 * render.h - records as the Table API returns them.
 *
 * Every value is a string; references take one of the shapes reference
 * section 1.3 lists for each sysparm_display_value x
 * sysparm_exclude_reference_link combination; sysparm_fields picks and
 * orders the fields, dot-walks coming back as flat "a.b" keys.
 */
#ifndef SG_API_RENDER_H
#define SG_API_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "core/buf.h"
#include "model/model.h"

enum sg_dv { SG_DV_FALSE, SG_DV_TRUE, SG_DV_ALL };

/* What a password field shows, as value and display value: the field is
 * returned masked, its hash never read [9.1] (password2 fields are not
 * returned at all).  A write of exactly this text to a password or password2
 * field is ignored (a client echoing back what it read keeps the secret). */
#define SG_RENDER_SECRET_MASK "********"

struct sg_auth_session;

struct sg_render_opts {
	struct sg_auth_session *auth; /* whose read access hides fields (NULL: none) */
	enum sg_dv dv;
	bool exclude_link;
	const char *fields;   /* sysparm_fields, or NULL for every field */
	const char *base_url; /* ends with '/' */
};

/* Parses sysparm_display_value (true/false/all, any case). */
enum sg_dv sg_render_parse_dv(const char *s);

/* Writes raw record rec of table t as the Table API returns it, straight
 * into b (no intermediate tree).  False on allocation failure, or when
 * o->auth could not decide a field (its error is in the session). */
bool sg_render_write(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec,
                     const struct sg_render_opts *o, struct sg_buf *b);

/* The same from a row's values as read (struct sg_rows: t->fields order). */
bool sg_render_write_values(struct sg_ctx *ctx, const struct sg_table *t, const char *const *vals,
                            const struct sg_render_opts *o, struct sg_buf *b);

/* The same as a jansson value (new reference), for tests and callers that
 * need a tree; NULL on allocation failure. */
json_t *sg_render_record(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec,
                         const struct sg_render_opts *o);

#endif
