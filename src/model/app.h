/*
 * app.h - installing an application: a folder of JSON files of records
 * (tables, fields, choices, roles, ACLs, business rules, script includes,
 * Scripted REST APIs, properties, any table's rows) applied in one
 * transaction.  The format is in docs/apps.md.
 *
 * An application in memory is {"manifest": {...} or absent,
 * "files": {"name.json": {"records": {"table": [row, ...]}}, ...}}: what
 * sg_app_read_dir makes of a folder, and what the online endpoint takes as
 * its body.  Every row names its sys_id, so installing again updates the
 * same records in place.
 */
#ifndef SG_MODEL_APP_H
#define SG_MODEL_APP_H

#include <jansson.h>

#include "core/err.h"
#include "model/model.h"

/* Limits on one application. */
#define SG_APP_MAX_FILES   1000
#define SG_APP_MAX_RECORDS 100000

/*
 * Reads the application in folder dir: app.json (optional) is the manifest,
 * every other *.json file (name order; not in subfolders) holds records.
 * *out a new object as above.  On failure (SG_ERR_BAD_PARAM for a file
 * that is not such JSON, SG_ERR_NOMEM, SG_ERR_INTERNAL for a folder that
 * cannot be read) errmsg names the file and the fault.
 */
sg_err sg_app_read_dir(const char *dir, json_t **out, char *errmsg, size_t errmsg_size);

/* Called before each record is written, as the acting user's access check:
 * current is the stored record (NULL: it will be inserted), input the
 * values about to be written.  A non-OK result refuses the install. */
struct sg_app_check {
	sg_err (*fn)(void *ud, struct sg_ctx *ctx, const struct sg_table *t, json_t *input,
	             json_t *current);
	void *ud;
};

/*
 * Installs app in ctx, all or nothing, in one write transaction: the
 * records are ordered by dependency (tables, parents first; fields;
 * choices; roles; role containment; ACLs and their roles; properties; then
 * every other table's records in file order), each inserted with its sys_id
 * or, when a record with that sys_id exists, updated with the fields given.
 * check (may be NULL: the system, no access control) is asked before each
 * write.
 *
 * *report (a new object) on success: {"name": .., "inserted": n,
 * "updated": n, "tables": {"table": {"inserted": n, "updated": n}, ...}}.
 * On failure where names the file and record ("x.json: incident
 * 0123...abc") or what was malformed, and ctx->err_arg the argument of the
 * error's message as usual.
 */
sg_err sg_app_install(struct sg_ctx *ctx, json_t *app, const struct sg_app_check *check,
                      json_t **report, char *where, size_t where_size);

#endif
