/*
 * fields.h - `nowsync fields`: the fields a record of a table can carry
 * (an incident's "additional fields"), read from the instance's metadata
 * over the Table API: sys_db_object (the table and the tables it extends),
 * sys_dictionary (each column: type, label, mandatory, max length,
 * reference), sys_glide_object (type labels) and sys_choice (values of
 * choice fields).  When a read is refused (403) or comes back empty or
 * without its fields (ServiceNow filters rows and omits fields the user
 * cannot read), the answer names those reads and the read ACLs to add.
 *
 * And `nowsync connection remove`'s purge: every row of the state that
 * belongs to a connection, in one transaction.
 */
#ifndef SG_NOWSYNC_FIELDS_H
#define SG_NOWSYNC_FIELDS_H
#include <jansson.h>
#include "nowsync/nowsync.h"

/* Exit status of `nowsync fields` when required metadata reads were refused or empty. */
#define NS_EXIT_METADATA 6

/*
 * Reads the fields of table on c: a JSON object {"table", "tables" (the
 * table and its parents, nearest first), "fields" [...], "reads" [...],
 * "missing_acls" [...], "explanation"} (new reference), or NULL with msg
 * when the instance could not be reached at all.
 */
json_t *ns_fields_read(struct ns_conn *c, struct sg_http_client *http, const char *table, char *msg,
                       size_t msgsz);

/* `nowsync fields CONNECTION [--table T] [--json]`. */
int ns_cmd_fields(struct ns_state *st, int argc, char **argv);

/* The state's tables that hold rows of a connection and the column naming
 * it, NULL-terminated pairs {table, column}. */
#define NS_PURGE_TABLES 17
extern const char *const ns_purge_tables[NS_PURGE_TABLES][2];

/*
 * Deletes connection name and everything attached to it (sealed secrets
 * and tokens in its row, queued and dead events, links, journal, caches,
 * budgets, back-syncs and their queues, bound intake tokens) in one
 * transaction.  removed[i] gets the rows deleted from ns_purge_tables[i]
 * (may be NULL).  SG_ERR_NO_RECORD when there is no such connection.
 */
sg_err ns_state_purge(struct ns_state *s, const char *name, long long *removed);

#endif
