/*
 * err.c - the error map: status codes and ServiceNow-shaped bodies.
 */
#include "core/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

struct err_info {
	const char *name;
	int status;
	const char *message;
	const char *detail;
};

static const struct err_info err_table[] = {
#define SG__ERR_ROW(name, status, msg, detail) {#name, status, msg, detail},
    SG_ERR_MAP(SG__ERR_ROW)
#undef SG__ERR_ROW
};

static const struct err_info *info(sg_err err)
{
	if ((unsigned)err >= SG_ERR__COUNT)
		err = SG_ERR_INTERNAL;
	return &err_table[err];
}

int sg_err_status(sg_err err)
{
	return info(err)->status;
}

const char *sg_err_name(sg_err err)
{
	return info(err)->name;
}

/* Expands each "%s" in fmt with the next of args[*next]. New string. */
static char *expand(const char *fmt, const char *const *args, int nargs, int *next)
{
	struct sg_buf b;
	sg_buf_init(&b, 64 * 1024);
	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			const char *a = *next < nargs ? args[*next] : NULL;
			(*next)++;
			sg_buf_puts(&b, a ? a : "");
			p++;
		} else {
			sg_buf_putc(&b, *p);
		}
	}
	return sg_buf_steal(&b);
}

char *sg_err_render(sg_err err, const char *arg1, const char *arg2)
{
	const struct err_info *e = info(err);
	const char *args[2] = {arg1, arg2};
	int next = 0;
	char *msg = expand(e->message ? e->message : "", args, 2, &next);
	char *detail = e->detail ? expand(e->detail, args, 2, &next) : NULL;
	char *out = NULL;

	json_t *inner = json_object();
	json_t *root = json_object();
	if (!msg || (e->detail && !detail) || !inner || !root)
		goto out;
	/* Client text echoed in a message may be invalid UTF-8, which jansson
	 * refuses: it is made valid so the member is always there.  Every
	 * member is set or the render fails (no body missing a member). */
	if (json_object_set_new(inner, "message", sg_json_string_lossy(msg)) ||
	    json_object_set_new(inner, "detail",
	                        detail ? sg_json_string_lossy(detail) : json_null()) ||
	    json_object_set(root, "error", inner) ||
	    json_object_set_new(root, "status", json_string("failure")))
		goto out;
	out = json_dumps(root, JSON_COMPACT);
out:
	json_decref(inner);
	json_decref(root);
	free(msg);
	free(detail);
	return out;
}
