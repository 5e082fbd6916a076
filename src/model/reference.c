/*
 * reference.c - a reference written with a value that names no record
 * (issue 17).  A well-formed sys_id is stored as given, without a lookup,
 * as the platform stores a sys_id (records may be loaded before what they
 * reference; a deleted record leaves its references behind).  Any other
 * value has been looked up by the record layer as a client-chosen id and as
 * the referenced table's display value; what reaches here matched nothing.
 * An integrator reports the record created with the reference empty then
 * (observed); nothing documents a refusal (uncertain).  The system property
 * snowglobe.reference.unmatched chooses:
 *
 *   clear  (default) the field is stored empty, the rest of the write goes on
 *   keep   the value is stored as given (what nowd did before)
 *   refuse the write fails: 403 "Operation Failed", naming the field
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "model/internal.h"

#define PROP "snowglobe.reference.unmatched"

static sg_err copy(const char *v, char **out)
{
	*out = strdup(v);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

sg_err sg__unmatched_reference(struct sg_ctx *ctx, const struct sg_field *f, const char *v,
                               char **out)
{
	*out = NULL;
	const struct sg_table *rt = f->reference ? sg_dict_table(ctx->dict, f->reference) : NULL;
	if (!rt) /* a table the dictionary does not know: nothing to check against */
		return copy(v, out);
	if (sg_id_is_valid(v))
		return copy(v, out);
	char *mode = NULL;
	sg_err err = sg_prop_get(ctx, PROP, &mode);
	if (err)
		return err;
	if (mode && !strcasecmp(mode, "keep"))
		err = copy(v, out);
	else if (mode && !strcasecmp(mode, "refuse")) {
		sg_ctx_set_err(ctx, "Invalid reference: %s names no %s record", f->element,
		               rt->name);
		err = SG_ERR_INVALID_INSERT;
	} else
		err = copy("", out);
	free(mode);
	return err;
}
