/*
 * commands.h - nowctl's admin commands, each one set-up step of the
 * ServiceNow UI.
 */
#ifndef SG_NOWCTL_COMMANDS_H
#define SG_NOWCTL_COMMANDS_H

#include <stdbool.h>

#include "nowctl/client.h"

struct cmd_env {
	struct client *c;
	bool json; /* --json: machine-readable output */
};

/* Each takes the arguments after its words ("user add" -> argv[0] is the
 * first argument) and returns the process exit code: 0 done, 1 refused or
 * failed, 2 bad usage. */
int cmd_user(struct cmd_env *e, int argc, char **argv);
int cmd_role(struct cmd_env *e, int argc, char **argv);
int cmd_group(struct cmd_env *e, int argc, char **argv);
int cmd_member(struct cmd_env *e, int argc, char **argv);
int cmd_acl(struct cmd_env *e, int argc, char **argv);
int cmd_property(struct cmd_env *e, int argc, char **argv);
int cmd_table(struct cmd_env *e, int argc, char **argv);
int cmd_oauth(struct cmd_env *e, int argc, char **argv);
int cmd_scope(struct cmd_env *e, int argc, char **argv);
int cmd_token(struct cmd_env *e, int argc, char **argv);
int cmd_app(struct cmd_env *e, int argc, char **argv); /* app.c */
/* script run FILE|- (script_cmd.c) */
int cmd_script(struct cmd_env *e, int argc, char **argv);
/* job run NAME|SYS_ID: Execute Now (job_cmd.c) */
int cmd_job(struct cmd_env *e, int argc, char **argv);
/* rest test MESSAGE FUNCTION [--var k=v]...: the Test link (rest_cmd.c) */
int cmd_rest(struct cmd_env *e, int argc, char **argv);
/* outbound list|retry|purge: the delivery queue (outbound_cmd.c) */
int cmd_outbound(struct cmd_env *e, int argc, char **argv);
/* oauth provider|get-token (oauth_cmd.c): the outbound side */
int cmd_oauth_out(struct cmd_env *e, int argc, char **argv);
/* guide_cmd.c: role contain|uncontain ROLE CONTAINED; oauth list|delete */
int cmd_role_contain(struct cmd_env *e, int argc, char **argv);
int cmd_oauth_guide(struct cmd_env *e, int argc, char **argv);
/* Expires every token of the application app_id; *n how many. 0 or 1. */
int oauth_revoke_tokens(struct cmd_env *e, const char *app_id, size_t *n);
/* fault add|list|remove|clear: injected faults, online (fault_cmd.c) */
int cmd_fault(struct cmd_env *e, int argc, char **argv);

/* snapshot save|restore|list|delete|reset (snapshot_cmd.c) */
int cmd_snapshot(struct cmd_env *e, int argc, char **argv);

/* requests [filters] | requests clear; expect TABLE ... (journal_cmd.c) */
int cmd_requests(struct cmd_env *e, int argc, char **argv);
int cmd_expect(struct cmd_env *e, int argc, char **argv);
/* migrate --from URL --to URL [--force] (migrate_cmd.c): runs before any
 * WHERE is chosen, as init does; argv[0] is "migrate". */
int cmd_migrate(int argc, char **argv);
/* keys rotate (keys_cmd.c) */
int cmd_keys(struct cmd_env *e, int argc, char **argv);
/* clock set|advance|freeze|real|show (clock_cmd.c) */
int cmd_clock(struct cmd_env *e, int argc, char **argv);
/* import-metadata --from URL --user U | --file FILE (import_cmd.c) */
int cmd_import_metadata(struct cmd_env *e, int argc, char **argv);

#endif
