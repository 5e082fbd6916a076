/*
 * acl.h - roles and access controls as ServiceNow enforces them on REST.
 *
 * Roles: a user's roles in effect are the direct grants, the grants of the
 * groups the user is in, and every role those contain, transitively;
 * elevated-privilege roles only when elevated.  admin passes every role
 * check except "nobody".
 *
 * Access controls (sys_security_acl with sys_security_acl_role), record
 * type, reference 5.3: a table-level decision then a field-level one; at
 * each level the most specific name that has active ACLs decides
 * (incident -> task -> *; incident.f -> task.f -> *.f -> incident.* ->
 * task.* -> *.*), any passing ACL there grants, Deny-Unless ACLs are
 * checked first, admin overrides where the ACL allows it.  A table with no
 * ACL at all follows glide.sm.default_mode.
 *
 * The ACLs are compiled once per change and shared; each request keeps a
 * memo of decisions that do not depend on the record.  Conditions are
 * encoded queries, evaluated through the query compiler against the store.
 * ACL scripts are not run: an advanced ACL with a script fails.
 */
#ifndef SG_AUTH_ACL_H
#define SG_AUTH_ACL_H

#include <jansson.h>
#include <stdbool.h>

#include "model/model.h"
#include "query/query.h"

enum sg_acl_op { SG_ACL_READ, SG_ACL_WRITE, SG_ACL_CREATE, SG_ACL_DELETE };

/* True when the request's user holds role (in effect). */
bool sg_acl_has_role(struct sg_ctx *ctx, const char *role);

/* Table-level check by roles alone, before any record is read: false means
 * no ACL at the deciding level can pass whatever the record. */
bool sg_acl_table_may(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op);

/* Table-level check for one record (raw fields; rec->sys_class_name picks the
 * ACL chain). */
bool sg_acl_record(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op, json_t *rec);

/* The table-level read decision on t when it is the same for every record:
 * 1 readable, 0 not; -1 when it depends on the record (ask sg_acl_record or
 * sg_acl_filter_rows). */
int sg_acl_read_uniform(struct sg_ctx *ctx, const struct sg_table *t);
/* Removes from rows (an array of raw records of t) those the user may not
 * read.  Conditions are evaluated for the whole page at once. */
sg_err sg_acl_filter_rows(struct sg_ctx *ctx, const struct sg_table *t, json_t *rows);

/* Field-level check of element on a record of class cls (rec may be NULL:
 * roles only). */
bool sg_acl_field(struct sg_ctx *ctx, const struct sg_table *cls, const char *element,
		  enum sg_acl_op op, json_t *rec);

/* Read decisions for every field of t (in t->fields order), made once per
 * request: 1 readable, 0 not, -1 depends on the record (ask sg_acl_field).
 * NULL when no ACL applies (the system).  Borrowed. */
const signed char *sg_acl_read_plan(struct sg_ctx *ctx, const struct sg_table *t);

/* True when every field the query names (first segment of each path) may
 * be read. */
bool sg_acl_query_fields(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_query *q);

/* Drops from input (a write body) the fields the user may not write. */
void sg_acl_strip_input(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op,
			json_t *input, json_t *rec);

/* Installs the model hooks that free the caches (call once per process). */
void sg_acl_install(void);

#endif
