/* nowsync read: the reads an incident product makes to pick a service or an assignee --
 * CMDB CIs, users, groups -- over the Table API by keyset paging on sys_id. */
#ifndef NS_READS_H
#define NS_READS_H

#include <stdbool.h>
#include <stddef.h>

struct ns_state;

/* Whether table may be read by `nowsync read` (task: follow-ups; a cmdb_ci class, sys_user,
 * sys_user_group, sys_user_grmember). */
bool ns_read_table_ok(const char *table);

/* The Table API path of one page: table, the caller's encoded query (may be
 * empty), after (a sys_id or empty), fields (comma list or empty), limit.
 * False with msg when the query cannot be keyset-paged (ORDERBY, ^NQ) or a
 * value holds characters a name may not (table, after, fields). */
bool ns_read_page_path(const char *table, const char *query, const char *after, const char *fields,
                       int limit, char *out, size_t outsz, char *msg, size_t msgsz);

/* nowsync read CONNECTION TABLE [--query Q] [--fields F] [--page N] [--after SYS_ID]
 * [--all] [--max N] [--json] */
int ns_cmd_read(struct ns_state *st, int argc, char **argv);

#endif
