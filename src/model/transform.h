/*
 * transform.h - import sets: staging rows and the transform maps that turn
 * them into target records, as ServiceNow's import set engine does.
 *
 * A staging table is any table extending sys_import_set_row.  A row loaded
 * into one is transformed at once by every active sys_transform_map whose
 * source_table is the staging table, in order: each field map
 * (sys_transform_entry) copies a source field to a target field (references
 * resolved by reference_value_field or the display value, choices by value
 * or label, dates by date_format), the coalesce fields find the record to
 * update, and the target is inserted or updated through the model's normal
 * write path (numbering, table semantics, journal, audit).  The outcome
 * (sys_import_state, its comment, the target) is written back to the
 * staging row, in the same transaction as the target write: a row is never
 * half-transformed.  Transform scripts (onBefore, source scripts) are
 * stored, never run.
 *
 * Transforms run as the system does on the platform: the target is written
 * without the caller's access controls (the caller needed only to create
 * the staging row; the api layer checks that).
 */
#ifndef SG_MODEL_TRANSFORM_H
#define SG_MODEL_TRANSFORM_H

#include <jansson.h>
#include <stdbool.h>

#include "model/model.h"

/* Whether t is a staging table: it extends sys_import_set_row. */
bool sg_import_is_staging(struct sg_ctx *ctx, const struct sg_table *t);

/*
 * The import set rows of staging are added to: the newest synchronous one
 * still loading for that table, else a new one (as the platform makes one
 * per table until it is marked loaded).  With multi (may be NULL) a new set
 * is always made, in mode synchronous, belonging to that multi import set.
 * set_id gets its sys_id, *number (may be NULL) its number (new string).
 */
sg_err sg_import_set_open(struct sg_ctx *ctx, const char *staging, const char *multi,
                          const char *run_after, char set_id[SG_ID_LEN + 1], char **number);
/* Marks an import set processed (insertMultiple's sets when all rows ran). */
sg_err sg_import_set_close(struct sg_ctx *ctx, const char *set_id);

/*
 * Loads one row into staging (input: an object of field -> string; sys_*
 * names are ignored, unknown names too) as row row_no of import set set_id
 * and transforms it, in one transaction.  An empty set_id: the row joins
 * the set sg_import_set_open gives, in the same transaction, and set_id
 * gets it.  row_id gets the staging row's sys_id; *results a new array, one
 * object per transform map run:
 *   {"transform_map": name, "table": target, "display_name": field,
 *    "display_value": value, "status": inserted|updated|ignored|skipped|error,
 *    "sys_id": target sys_id, ["status_message": ...], ["error_message": ...]}
 * A row no active map applies to stays pending, with an empty array.
 * A row the transform refused is still returned SG_ERR_OK with status
 * error; an error code means nothing was stored (store, memory).
 */
sg_err sg_import_row(struct sg_ctx *ctx, const char *staging, char set_id[SG_ID_LEN + 1],
                     long row_no, json_t *input, char row_id[SG_ID_LEN + 1], json_t **results);

/*
 * The results of staging row row_id as sg_import_row gave them, rebuilt from
 * the row (one object: the last map that ran), empty when it is pending.
 * SG_ERR_NO_RECORD when the row is gone.  *set_number gets the import set's
 * number (new string).  New reference in *results.
 */
sg_err sg_import_results(struct sg_ctx *ctx, const char *staging, const char *row_id,
                         char **set_number, json_t **results);

#endif
