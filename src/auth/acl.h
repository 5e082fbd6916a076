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
 * The ACLs are compiled once per change and shared (struct sg_auth); each
 * request's struct sg_auth_session keeps its roles and a memo of decisions
 * that do not depend on the record.  Conditions are encoded queries,
 * evaluated through the query compiler against the store.  The script of an
 * advanced ACL runs through the script hook (sg_auth_set_script_hooks),
 * which the script layer installs: auth does not include the engine.  No
 * hook, a script that fails or runs out of time: the ACL fails (deny).
 *
 * Every check returns an error code and gives its answer through an out
 * parameter.  When the roles, the ACLs or a condition cannot be read (SQL
 * error, out of memory) the check returns that error and answers no; the
 * session keeps the error, and every later check returns it too.  A system
 * session (ctx->system) passes every check and never fails.
 */
#ifndef SG_AUTH_ACL_H
#define SG_AUTH_ACL_H

#include <jansson.h>
#include <stdbool.h>

#include "auth/auth.h"
#include "model/model.h"
#include "query/query.h"

enum sg_acl_op { SG_ACL_READ, SG_ACL_WRITE, SG_ACL_CREATE, SG_ACL_DELETE };

/* *held: whether the request's user holds role (in effect). */
sg_err sg_acl_has_role(struct sg_auth_session *s, const char *role, bool *held);

/* Table-level check by roles alone, before any record is read: *may false
 * means no ACL at the deciding level can pass whatever the record. */
sg_err sg_acl_table_may(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                        bool *may);

/* Table-level check for one record (raw fields; rec->sys_class_name picks the
 * ACL chain).  For write and delete, a privileged record (below) also needs
 * security_admin in effect. */
sg_err sg_acl_record(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                     json_t *rec, bool *allowed);

/* The table-level read decision on t when it is the same for every record:
 * *decision 1 readable, 0 not; -1 when it depends on the record (ask
 * sg_acl_record or sg_acl_filter_rows). */
sg_err sg_acl_read_uniform(struct sg_auth_session *s, const struct sg_table *t, int *decision);
/* Removes from rows (an array of raw records of t) those the user may not
 * read.  Conditions are evaluated for the whole page at once.  On error rows
 * is left partly filtered: do not use it. */
sg_err sg_acl_filter_rows(struct sg_auth_session *s, const struct sg_table *t, json_t *rows);

/* Field-level check of element on a record of class cls (rec may be NULL:
 * roles only). */
sg_err sg_acl_field(struct sg_auth_session *s, const struct sg_table *cls, const char *element,
                    enum sg_acl_op op, json_t *rec, bool *allowed);

/* Read decisions for every field of t (in t->fields order), made once per
 * request: 1 readable, 0 not, -1 depends on the record (ask sg_acl_field).
 * *plan NULL when no ACL applies (the system); else borrowed from s, valid
 * until sg_auth_session_cleanup. */
sg_err sg_acl_read_plan(struct sg_auth_session *s, const struct sg_table *t,
                        const signed char **plan);

/*
 * *readable: whether everything q names over t may be read: each segment of
 * every dot-walk (fields by roles, the tables walked to), the fields a
 * comparison reads, JOIN's and RLQUERY's tables, link fields and
 * sub-queries, the fields 123TEXTQUERY321 searches, the sort keys.  A
 * password field is never readable here, whoever asks.
 *
 * This is the platform's pre-query check, by roles alone [reference 5.3,
 * rule 10: "pre-query check uses roles only (no record data)"; the 403
 * "Field(s) present in the query do not have permission to be read" is
 * its answer]: a field or table ACL whose condition (or script) depends on
 * the record counts as passing here, as it does on the platform, which
 * runs conditions only after the query, per row.  Refusing such fields
 * would refuse queries the platform answers (a user's own mobile_phone
 * under "only your own").  What the conditions hide is hidden after the
 * query: the field is left out of each row it fails on, the table's row
 * conditions filter the rows (sg_acl_filter_rows, sg_acl_read_where for
 * aggregates), and JOIN's and RLQUERY's sub-queries see only the other
 * table's rows its row conditions grant (ctx->sub_rows, set by
 * sg_auth_session_init).  What is left is the platform's own residue: a
 * condition on a field readable only on some rows still selects rows by
 * its value; the platform's remedy, the query_match and query_range ACL
 * operations, is not implemented.
 */
sg_err sg_acl_query_fields(struct sg_auth_session *s, const struct sg_table *t,
                           const struct sg_query *q, bool *readable);

/* *readable: whether path (a field of t or a dot-walk) may be queried,
 * sorted or aggregated, by the rules of sg_acl_query_fields. */
sg_err sg_acl_read_path(struct sg_auth_session *s, const struct sg_table *t, const char *path,
                        bool *readable);

/* Appends to out a SQL boolean over the row of t under alias: whether the
 * table-level read ACLs grant it, conditions compiled as the query compiler
 * does (for aggregates, which cannot filter rows one by one). */
sg_err sg_acl_read_where(struct sg_auth_session *s, const struct sg_table *t, const char *alias,
                         struct sg_sql *out);

/* Drops from input (a write body) the fields the user may not write.  On
 * error input is left partly stripped: do not write it.  What is left must
 * not make a privileged record without security_admin in effect: that write
 * is refused, SG_ERR_ACL_INSERT (op create) or SG_ERR_ACL_UPDATE. */
sg_err sg_acl_strip_input(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                          json_t *input, json_t *rec);

/*
 * Privileged records: ServiceNow keeps "high security settings" and the
 * granting of elevated roles to security_admin in effect (elevated), as it
 * keeps the ACLs themselves [reference 5.2].  Here they are: the security
 * properties (sys_properties named as sg_acl_is_security_property says),
 * the elevated roles themselves (sys_user_role named security_admin or
 * elevated_privilege true), and the rows that grant one (sys_user_has_role,
 * sys_group_has_role; sys_user_role_contains on either side), and the
 * import transform maps (sys_transform_map, and sys_transform_entry of such
 * a map) whose target is a security table (list in acl.c): transforms
 * write as the system, so such a map would grant what the Table API keeps
 * for security_admin.  Creating, changing or deleting one, in its stored or
 * its new form, is refused (403) to any user without security_admin in
 * effect; the system passes.
 */

/*
 * Script hooks.  The script layer installs them once at start-up (nowd,
 * nowctl's local client, tests), before threads check ACLs.
 *
 * acl: runs the script of an advanced ACL (sys_security_acl.advanced true,
 * script not empty) as s's user, with `current` a record of table (rec, raw
 * fields; NULL for a table-level check before any row: a new, empty
 * record), and answers in *answer whether it granted.  A script that does
 * not compile, throws, or passes its time or memory limit answers false
 * (the script layer logs it); an error return is a platform failure (out of
 * memory, the store) and fails the session's check.
 *
 * value: evaluates expr (the text after "javascript:") as s's user; *out a
 * new string (free()), NULL when the script failed.  Errors as above.
 * client: a value a client sent (a query's), to run in the script sandbox;
 * false: the instance's own (a dictionary default).
 *
 * The ACL's decision for a record is kept for the rest of the request (the
 * session), never beyond it nor for another user.  Without an acl hook an
 * ACL with a script fails, logged.
 */
struct sg_acl_script {
	const char *acl_id;    /* the sys_security_acl's sys_id */
	const char *acl_name;  /* its name ("incident", "incident.number") */
	const char *operation; /* read, write, create, delete */
	const char *source;    /* the script */
	const char *cache_key; /* "sys_security_acl/<sys_id>/<sys_mod_count>" */
	const struct sg_table *table;
	json_t *rec; /* raw record of table, or NULL */
};
typedef sg_err (*sg_auth_acl_script_fn)(struct sg_auth_session *s, const struct sg_acl_script *a,
                                        bool *answer);
typedef sg_err (*sg_auth_value_fn)(struct sg_auth_session *s, const char *expr, bool client,
                                   char **out);
/* Installs (or with NULLs, removes) the hooks, for the whole process. */
void sg_auth_set_script_hooks(sg_auth_acl_script_fn acl, sg_auth_value_fn value);

/* Whether a sys_properties name is a security property: one of a list kept
 * in acl.c (README "Security properties"), any case. */
bool sg_acl_is_security_property(const char *name);

#endif
