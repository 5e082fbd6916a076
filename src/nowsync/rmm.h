/*
 * rmm.h - the RMM connector's product side (NinjaOne-style): organizations
 * mapped to companies (and customer accounts on CSM instances) with a CI
 * mapping and an "allow incidents" flag, devices sent to the CMDB through
 * the Identification and Reconciliation API, and device alerts turned into
 * events for the mapping profile.  State in nowsync's own store
 * (ns_rmm_* tables).  docs/nowsync.md, "RMM organizations and devices".
 */
#ifndef SG_NOWSYNC_RMM_H
#define SG_NOWSYNC_RMM_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "nowsync/nowsync.h"
#include "store/store.h"

/* The sync statuses of an organization's mapping, exactly these. */
#define NS_RMM_ACTIVE   "active"
#define NS_RMM_PENDING  "pending"
#define NS_RMM_IN_QUEUE "in queue"
#define NS_RMM_DELETED  "deleted"
#define NS_RMM_INACTIVE "inactive"

/* Creates the ns_rmm_* tables when missing (called on every open). */
sg_err ns_state_migrate_rmm(sg_conn *c);

/* Parses "role=class,role=class" into an object (new); NULL when malformed
 * (msg says why).  Roles and classes are [A-Za-z0-9_ -], classes cmdb_*. */
json_t *ns_rmm_parse_ci_mapping(const char *s, char *msg, size_t msgsz);

/* The status an organization gets when the product lists it: integration
 * state ("active", "inactive", "disabled"), the status it has now (NULL:
 * new), whether the product deleted it, whether its mapping changed. */
const char *ns_rmm_next_status(const char *integration, const char *current, bool deleted,
                               bool changed);

/*
 * POST /v1/rmm/alerts of `nowsync serve`: root is one alert or an array of
 * 1-1000, for connection conn (the token's binding).  Returns the HTTP
 * status (202, 400, 409, 503) and *answer (new) its body.
 */
int ns_rmm_alerts_post(struct ns_state *st, const char *conn, json_t *root, json_t **answer);

/* `nowsync rmm ...` (argv[0] is "rmm"). */
int ns_cmd_rmm(struct ns_state *st, int argc, char **argv);

#endif
