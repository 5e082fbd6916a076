/*
 * ire.h - the identification and reconciliation engine (IRE): a payload of
 * configuration items in, each identified against the CMDB by the rules in
 * cmdb_identifier / cmdb_identifier_entry, then inserted, updated or left
 * alone, with the payload's relations written to cmdb_rel_ci.
 *
 * It reproduces the answer of ServiceNow's IdentifyReconcile API (reference
 * 9.2): one result item per distinct payload item, with its operation,
 * sysId, the identification attempts made and the errors found.  Who may
 * write what is decided by the caller through the hooks (the model knows
 * no ACLs); every write goes through the record layer, in one transaction
 * per payload.
 */
#ifndef SG_MODEL_IRE_H
#define SG_MODEL_IRE_H

#include <jansson.h>
#include <stdbool.h>

#include "model/model.h"

/* The most items (and relations) one payload may carry. */
#define SG_IRE_MAX_ITEMS 1000

struct sg_ire_opts {
	bool dry_run;            /* identify only: write nothing (/query) */
	bool dedup;              /* merge items identifying the same CI (else an error) */
	bool partial_commits;    /* commit the items without errors even when others have them */
	const char *data_source; /* sysparm_data_source: cmdb_ci.discovery_source; may be NULL */
};

/*
 * The caller's say on each write, before it is made: *ok false refuses the
 * item (an error in its result, nothing written for it).  values is the
 * item's input (borrowed; a hook may remove fields the user may not write);
 * current the matched record (borrowed), NULL for an insert.  A hook may be
 * NULL: allowed.
 */
struct sg_ire_hooks {
	void *ud;
	sg_err (*may_write)(void *ud, const struct sg_table *t, json_t *current, json_t *values,
	                    bool *ok);
};

/*
 * Runs payload (borrowed: {"items": [...], "relations": [...]}) as ctx's
 * user.  *result gets a new reference to the "result" object of the answer.
 * SG_ERR_BAD_PARAM (message in ctx->err_arg) when the payload is not of
 * the expected shape; errors of single items are in *result, not returned.
 * Any other error (store, memory) leaves nothing written.
 */
sg_err sg_ire_run(struct sg_ctx *ctx, json_t *payload, const struct sg_ire_opts *opts,
                  const struct sg_ire_hooks *hooks, json_t **result);

#endif
