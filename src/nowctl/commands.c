/*
 * commands.c - the admin steps: users, roles, groups, access controls,
 * properties and any table's records, each a thin layer over struct client
 * so it works the same offline and online.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/password.h"
#include "core/json.h"
#include "core/util.h"
#include "nowctl/commands.h"

#define MAX_ROLES 32

static int usage_error(const char *msg)
{
	fprintf(stderr, "nowctl: %s (see nowctl --help)\n", msg);
	return 2;
}

/* True when s is a whole number from 0 to LONG_MAX, stored in *out: a
 * numeric flag given "x" is bad usage, not 0. */
static bool whole_number(const char *s, long *out)
{
	long long v;
	if (!sg_str_number(s, 0, LONG_MAX, &v))
		return false;
	*out = (long)v;
	return true;
}

static int failed(struct cmd_env *e, const char *what)
{
	fprintf(stderr, "nowctl: %s: %s\n", what, e->c->errmsg);
	return 1;
}

/* The one record of table whose field equals value; NULL (message on
 * stderr) when there is none or several. */
static json_t *find_one(struct cmd_env *e, const char *table, const char *field, const char *value)
{
	char q[512];
	json_t *rows = NULL;
	snprintf(q, sizeof(q), "%s=%s", field, value);
	if (strchr(value, '^')) {
		fprintf(stderr, "nowctl: '%s' may not contain '^'\n", value);
		return NULL;
	}
	if (e->c->list(e->c, table, q, 2, &rows)) {
		failed(e, table);
		return NULL;
	}
	if (json_array_size(rows) != 1) {
		fprintf(stderr, "nowctl: %s %s '%s'\n",
		        json_array_size(rows) ? "more than one" : "no", table, value);
		json_decref(rows);
		return NULL;
	}
	json_t *rec = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return rec;
}

/* Before an add: 1 (message on stderr) when a record of table already has
 * field = value, or the look-up failed; 0 when the name is free.  nowd
 * refuses a duplicate of a unique field itself; this says it plainly, and
 * also for names the dictionary does not mark unique. */
static int already_exists(struct cmd_env *e, const char *what, const char *table, const char *field,
                          const char *value)
{
	char q[512];
	json_t *rows = NULL;
	if (strchr(value, '^')) {
		fprintf(stderr, "nowctl: '%s' may not contain '^'\n", value);
		return 1;
	}
	snprintf(q, sizeof(q), "%s=%s", field, value);
	if (e->c->list(e->c, table, q, 1, &rows))
		return failed(e, table);
	size_t n = json_array_size(rows);
	json_decref(rows);
	if (n)
		fprintf(stderr, "nowctl: %s '%s' already exists\n", what, value);
	return n ? 1 : 0;
}

static void report(struct cmd_env *e, const char *what, const char *name, json_t *rec,
                   const char *password)
{
	if (e->json) {
		json_t *out =
		    json_pack("{s:s, s:O}", "sys_id", sg_json_str(rec, "sys_id"), "record", rec);
		if (password)
			json_object_set_new(out, "password", json_string(password));
		char *s = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(out);
		return;
	}
	printf("%s %s (sys_id %s)\n", what, name, sg_json_str(rec, "sys_id"));
	if (password)
		printf("password (shown once): %s\n", password);
}

static void generate_password(char *out, size_t size)
{
	sg_random_token(out, size, 18);
}

/* Grants role (by name) to a user or group record. */
static int grant(struct cmd_env *e, const char *role, const char *user_id, const char *group_id)
{
	json_t *r = find_one(e, "sys_user_role", "name", role);
	if (!r)
		return 1;
	json_t *in =
	    user_id ? json_pack("{s:s, s:s}", "user", user_id, "role", sg_json_str(r, "sys_id"))
	            : json_pack("{s:s, s:s}", "group", group_id, "role", sg_json_str(r, "sys_id"));
	json_t *out = NULL;
	int rc = e->c->insert(e->c, user_id ? "sys_user_has_role" : "sys_group_has_role", in, &out);
	json_decref(in);
	json_decref(out);
	json_decref(r);
	return rc ? failed(e, "grant") : 0;
}

/* ---- user ----------------------------------------------------------------- */

static int user_add(struct cmd_env *e, int argc, char **argv)
{
	static const struct option opts[] = {{"first", required_argument, NULL, 'f'},
	                                     {"last", required_argument, NULL, 'l'},
	                                     {"email", required_argument, NULL, 'e'},
	                                     {"password", required_argument, NULL, 'p'},
	                                     {"generate-password", no_argument, NULL, 'g'},
	                                     {"machine", no_argument, NULL, 'm'},
	                                     {"web-service-only", no_argument, NULL, 'w'},
	                                     {"role", required_argument, NULL, 'r'},
	                                     {"inactive", no_argument, NULL, 'i'},
	                                     {"locked-out", no_argument, NULL, 'L'},
	                                     {"password-needs-reset", no_argument, NULL, 'R'},
	                                     {"internal-integration", no_argument, NULL, 'I'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_object();
	const char *roles[MAX_ROLES], *password = NULL;
	size_t nroles = 0;
	char generated[64];
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:l:e:p:gmwr:iLRI", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			json_object_set_new(in, "first_name", json_string(optarg));
			break;
		case 'l':
			json_object_set_new(in, "last_name", json_string(optarg));
			break;
		case 'e':
			json_object_set_new(in, "email", json_string(optarg));
			break;
		case 'p':
			password = optarg;
			break;
		case 'g':
			generate_password(generated, sizeof(generated));
			password = generated;
			break;
		case 'm':
			json_object_set_new(in, "identity_type", json_string("machine"));
			break;
		case 'w':
			json_object_set_new(in, "web_service_access_only", json_string("true"));
			break;
		case 'r':
			if (nroles == MAX_ROLES) {
				json_decref(in);
				return usage_error("too many roles");
			}
			roles[nroles++] = optarg;
			break;
		case 'i':
			json_object_set_new(in, "active", json_string("false"));
			break;
		case 'L':
			json_object_set_new(in, "locked_out", json_string("true"));
			break;
		case 'R':
			json_object_set_new(in, "password_needs_reset", json_string("true"));
			break;
		case 'I':
			json_object_set_new(in, "internal_integration_user", json_string("true"));
			break;
		default:
			json_decref(in);
			return 2;
		}
	}
	if (optind != argc - 1) {
		json_decref(in);
		return usage_error("user add NAME [options]");
	}
	const char *name = argv[optind];
	if (already_exists(e, "user", "sys_user", "user_name", name)) {
		json_decref(in);
		return 1;
	}
	json_object_set_new(in, "user_name", json_string(name));
	if (!json_object_get(in, "first_name") && !json_object_get(in, "last_name"))
		json_object_set_new(in, "last_name", json_string(name));
	if (password)
		json_object_set_new(in, "user_password", json_string(password));
	json_t *rec = NULL;
	int rc = e->c->insert(e->c, "sys_user", in, &rec);
	json_decref(in);
	if (rc)
		return failed(e, "user add");
	for (size_t i = 0; i < nroles && !rc; i++)
		rc = grant(e, roles[i], sg_json_str(rec, "sys_id"), NULL);
	if (!rc)
		report(e, "user", name, rec, password == generated ? password : NULL);
	json_decref(rec);
	return rc;
}

static int user_set_password(struct cmd_env *e, int argc, char **argv)
{
	static const struct option opts[] = {{"password", required_argument, NULL, 'p'},
	                                     {"generate-password", no_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	const char *password = NULL;
	char generated[64];
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:g", opts, NULL)) != -1) {
		if (c == 'p') {
			password = optarg;
		} else if (c == 'g') {
			generate_password(generated, sizeof(generated));
			password = generated;
		} else {
			return 2;
		}
	}
	if (optind != argc - 1 || !password)
		return usage_error("user set-password NAME (--password P | --generate-password)");
	json_t *u = find_one(e, "sys_user", "user_name", argv[optind]);
	if (!u)
		return 1;
	json_t *in = json_pack("{s:s}", "user_password", password), *rec = NULL;
	int rc = e->c->update(e->c, "sys_user", sg_json_str(u, "sys_id"), in, &rec);
	if (rc)
		rc = failed(e, "user set-password");
	else
		report(e, "password set for", argv[optind], rec,
		       password == generated ? password : NULL);
	json_decref(in);
	json_decref(rec);
	json_decref(u);
	return rc;
}

/* Parses FIELD=VALUE arguments into an object. */
static json_t *assignments(int argc, char **argv)
{
	json_t *in = json_object();
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i]) {
			fprintf(stderr, "nowctl: expected FIELD=VALUE, got '%s'\n", argv[i]);
			json_decref(in);
			return NULL;
		}
		char field[128];
		snprintf(field, sizeof(field), "%.*s", (int)(eq - argv[i]), argv[i]);
		json_object_set_new(in, field, json_string(eq + 1));
	}
	return in;
}

static int user_set(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("user set NAME FIELD=VALUE...");
	json_t *in = assignments(argc - 1, argv + 1);
	if (!in)
		return 2;
	json_t *u = find_one(e, "sys_user", "user_name", argv[0]), *rec = NULL;
	int rc = u ? e->c->update(e->c, "sys_user", sg_json_str(u, "sys_id"), in, &rec) : 1;
	if (u && rc)
		failed(e, "user set");
	else if (u)
		report(e, "updated user", argv[0], rec, NULL);
	json_decref(in);
	json_decref(rec);
	json_decref(u);
	return rc ? 1 : 0;
}

/* Lifts a lock-out (failed logins or an admin's): locked_out, the count and
 * when the lock happened are cleared.  Online the lock time is ignored by
 * instances whose sys_user has no such field. */
static int user_unlock(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 1)
		return usage_error("user unlock NAME");
	json_t *u = find_one(e, "sys_user", "user_name", argv[0]), *rec = NULL;
	if (!u)
		return 1;
	json_t *in = json_pack("{s:s, s:s, s:s}", "locked_out", "false", "failed_attempts", "0",
	                       "locked_out_on", "");
	int rc = in ? e->c->update(e->c, "sys_user", sg_json_str(u, "sys_id"), in, &rec) : 1;
	if (rc)
		failed(e, "user unlock");
	else
		report(e, "unlocked user", argv[0], rec, NULL);
	json_decref(in);
	json_decref(rec);
	json_decref(u);
	return rc ? 1 : 0;
}

int cmd_user(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1)
		return usage_error("user add|set-password|set|unlock ...");
	if (!strcmp(argv[0], "add"))
		return user_add(e, argc, argv);
	if (!strcmp(argv[0], "set-password"))
		return user_set_password(e, argc, argv);
	if (!strcmp(argv[0], "set"))
		return user_set(e, argc - 1, argv + 1);
	if (!strcmp(argv[0], "unlock"))
		return user_unlock(e, argc - 1, argv + 1);
	return usage_error("unknown user command");
}

/* ---- role ----------------------------------------------------------------- */

/* --user U | --group G, shared by grant and revoke and member. */
static int parse_target(int argc, char **argv, const char **user, const char **group)
{
	static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
	                                     {"group", required_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	*user = *group = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:g:", opts, NULL)) != -1) {
		if (c == 'u')
			*user = optarg;
		else if (c == 'g')
			*group = optarg;
		else
			return -1;
	}
	return optind;
}

static int role_grant(struct cmd_env *e, int argc, char **argv, bool revoke)
{
	const char *user, *group;
	int at = parse_target(argc, argv, &user, &group);
	if (at < 0 || at != argc - 1 || (!user == !group))
		return usage_error("role grant|revoke ROLE (--user NAME | --group NAME)");
	const char *role = argv[at];
	json_t *target = user ? find_one(e, "sys_user", "user_name", user)
	                      : find_one(e, "sys_user_group", "name", group);
	if (!target)
		return 1;
	const char *tid = sg_json_str(target, "sys_id");
	int rc;
	if (!revoke) {
		rc = grant(e, role, user ? tid : NULL, user ? NULL : tid);
		if (!rc && !e->json)
			printf("granted %s to %s %s\n", role, user ? "user" : "group",
			       user ? user : group);
	} else {
		json_t *r = find_one(e, "sys_user_role", "name", role), *rows = NULL;
		char q[200];
		snprintf(q, sizeof(q), "%s=%s^role=%s", user ? "user" : "group", tid,
		         r ? sg_json_str(r, "sys_id") : "");
		const char *table = user ? "sys_user_has_role" : "sys_group_has_role";
		rc = r ? e->c->list(e->c, table, q, 100, &rows) : 1;
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			if (!rc)
				rc = e->c->remove(e->c, table, sg_json_str(row, "sys_id"));
		}
		if (r && rc)
			failed(e, "revoke");
		else if (r && !json_array_size(rows)) {
			fprintf(stderr, "nowctl: %s does not hold %s directly\n",
			        user ? user : group, role);
			rc = 1;
		} else if (r && !e->json)
			printf("revoked %s from %s %s\n", role, user ? "user" : "group",
			       user ? user : group);
		json_decref(rows);
		json_decref(r);
	}
	json_decref(target);
	return rc ? 1 : 0;
}

int cmd_role(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1)
		return usage_error("role add|grant|revoke ...");
	if (!strcmp(argv[0], "grant") || !strcmp(argv[0], "revoke"))
		return role_grant(e, argc, argv, !strcmp(argv[0], "revoke"));
	if (!strcmp(argv[0], "contain") || !strcmp(argv[0], "uncontain"))
		return cmd_role_contain(e, argc, argv);
	if (strcmp(argv[0], "add") != 0)
		return usage_error("unknown role command");
	static const struct option opts[] = {{"description", required_argument, NULL, 'd'},
	                                     {"elevated", no_argument, NULL, 'E'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_object();
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:E", opts, NULL)) != -1) {
		if (c == 'd')
			json_object_set_new(in, "description", json_string(optarg));
		else if (c == 'E')
			json_object_set_new(in, "elevated_privilege", json_string("true"));
		else {
			json_decref(in);
			return 2;
		}
	}
	if (optind != argc - 1) {
		json_decref(in);
		return usage_error("role add NAME [--description D] [--elevated]");
	}
	if (already_exists(e, "role", "sys_user_role", "name", argv[optind])) {
		json_decref(in);
		return 1;
	}
	json_object_set_new(in, "name", json_string(argv[optind]));
	json_t *rec = NULL;
	int rc = e->c->insert(e->c, "sys_user_role", in, &rec);
	if (rc)
		failed(e, "role add");
	else
		report(e, "role", argv[optind], rec, NULL);
	json_decref(in);
	json_decref(rec);
	return rc ? 1 : 0;
}

/* ---- group and membership -------------------------------------------------- */

int cmd_group(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		return usage_error("group add NAME [--description D] [--manager USER] [--email E]");
	static const struct option opts[] = {{"description", required_argument, NULL, 'd'},
	                                     {"manager", required_argument, NULL, 'm'},
	                                     {"email", required_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_object();
	const char *manager = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:m:e:", opts, NULL)) != -1) {
		if (c == 'd')
			json_object_set_new(in, "description", json_string(optarg));
		else if (c == 'e')
			json_object_set_new(in, "email", json_string(optarg));
		else if (c == 'm')
			manager = optarg;
		else {
			json_decref(in);
			return 2;
		}
	}
	if (optind != argc - 1) {
		json_decref(in);
		return usage_error("group add NAME [options]");
	}
	if (manager) {
		json_t *m = find_one(e, "sys_user", "user_name", manager);
		if (!m) {
			json_decref(in);
			return 1;
		}
		json_object_set_new(in, "manager", json_string(sg_json_str(m, "sys_id")));
		json_decref(m);
	}
	json_object_set_new(in, "name", json_string(argv[optind]));
	json_t *rec = NULL;
	int rc = e->c->insert(e->c, "sys_user_group", in, &rec);
	if (rc)
		failed(e, "group add");
	else
		report(e, "group", argv[optind], rec, NULL);
	json_decref(in);
	json_decref(rec);
	return rc ? 1 : 0;
}

int cmd_member(struct cmd_env *e, int argc, char **argv)
{
	const char *user, *group;
	if (argc < 1 || (strcmp(argv[0], "add") && strcmp(argv[0], "remove")))
		return usage_error("member add|remove --group NAME --user NAME");
	bool add = !strcmp(argv[0], "add");
	int at = parse_target(argc, argv, &user, &group);
	if (at != argc || !user || !group)
		return usage_error("member add|remove --group NAME --user NAME");
	json_t *u = find_one(e, "sys_user", "user_name", user);
	json_t *g = u ? find_one(e, "sys_user_group", "name", group) : NULL;
	int rc = 1;
	if (u && g && add) {
		json_t *in = json_pack("{s:s, s:s}", "user", sg_json_str(u, "sys_id"), "group",
		                       sg_json_str(g, "sys_id")),
		       *rec = NULL;
		rc = e->c->insert(e->c, "sys_user_grmember", in, &rec);
		if (rc)
			failed(e, "member add");
		else
			report(e, "membership", user, rec, NULL);
		json_decref(in);
		json_decref(rec);
	} else if (u && g) {
		char q[200];
		snprintf(q, sizeof(q), "user=%s^group=%s", sg_json_str(u, "sys_id"),
		         sg_json_str(g, "sys_id"));
		json_t *rows = NULL;
		rc = e->c->list(e->c, "sys_user_grmember", q, 100, &rows);
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			if (!rc)
				rc = e->c->remove(e->c, "sys_user_grmember",
				                  sg_json_str(row, "sys_id"));
		}
		if (rc)
			failed(e, "member remove");
		else if (!e->json)
			printf("removed %s from %s\n", user, group);
		json_decref(rows);
	}
	json_decref(u);
	json_decref(g);
	return rc ? 1 : 0;
}

/* ---- access controls ------------------------------------------------------- */

int cmd_acl(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		return usage_error("acl add NAME --operation OP [--role R]... [options]");
	static const struct option opts[] = {{"operation", required_argument, NULL, 'o'},
	                                     {"role", required_argument, NULL, 'r'},
	                                     {"condition", required_argument, NULL, 'c'},
	                                     {"deny-unless", no_argument, NULL, 'D'},
	                                     {"no-admin-overrides", no_argument, NULL, 'N'},
	                                     {"inactive", no_argument, NULL, 'i'},
	                                     {"description", required_argument, NULL, 'd'},
	                                     {"type", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "type", "record", "admin_overrides", "true",
	                       "decision_type", "allow", "active", "true");
	const char *roles[MAX_ROLES], *op = NULL;
	size_t nroles = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:r:c:DNid:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			op = optarg;
			break;
		case 'r':
			if (nroles < MAX_ROLES)
				roles[nroles++] = optarg;
			break;
		case 'c':
			json_object_set_new(in, "condition", json_string(optarg));
			break;
		case 'D':
			json_object_set_new(in, "decision_type", json_string("deny"));
			break;
		case 'N':
			json_object_set_new(in, "admin_overrides", json_string("false"));
			break;
		case 'i':
			json_object_set_new(in, "active", json_string("false"));
			break;
		case 'd':
			json_object_set_new(in, "description", json_string(optarg));
			break;
		case 't':
			json_object_set_new(in, "type", json_string(optarg));
			break;
		default:
			json_decref(in);
			return 2;
		}
	}
	static const char *ops[] = {"read", "write", "create", "delete", "execute"};
	bool op_ok = false;
	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		op_ok |= !strcmp(op, ops[i]);
	if (optind != argc - 1 || !op_ok) {
		json_decref(in);
		return usage_error("acl add NAME --operation read|write|create|delete|execute");
	}
	json_object_set_new(in, "name", json_string(argv[optind]));
	json_object_set_new(in, "operation", json_string(op));
	/* Resolve the roles first, so nothing is half-written. */
	json_t *role_recs = json_array();
	for (size_t i = 0; i < nroles; i++) {
		json_t *r = find_one(e, "sys_user_role", "name", roles[i]);
		if (!r) {
			json_decref(in);
			json_decref(role_recs);
			return 1;
		}
		json_array_append_new(role_recs, r);
	}
	json_t *rec = NULL;
	int rc = e->c->insert(e->c, "sys_security_acl", in, &rec);
	size_t i;
	json_t *r;
	json_array_foreach(role_recs, i, r)
	{
		if (rc)
			break;
		json_t *link =
		           json_pack("{s:s, s:s}", "sys_security_acl", sg_json_str(rec, "sys_id"),
		                     "sys_user_role", sg_json_str(r, "sys_id")),
		       *out = NULL;
		rc = e->c->insert(e->c, "sys_security_acl_role", link, &out);
		json_decref(link);
		json_decref(out);
	}
	if (rc) {
		failed(e, "acl add");
		if (rec) /* the roles could not be attached: take the ACL back */
			e->c->remove(e->c, "sys_security_acl", sg_json_str(rec, "sys_id"));
	} else {
		char name[256];
		snprintf(name, sizeof(name), "%s (%s)", argv[optind], op);
		report(e, "acl", name, rec, NULL);
	}
	json_decref(in);
	json_decref(rec);
	json_decref(role_recs);
	return rc ? 1 : 0;
}

/* ---- properties ------------------------------------------------------------ */

int cmd_property(struct cmd_env *e, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[0], "get")) {
		json_t *p = find_one(e, "sys_properties", "name", argv[1]);
		if (!p)
			return 1;
		if (e->json) {
			char *s = json_dumps(p, JSON_INDENT(2));
			printf("%s\n", s ? s : "{}");
			free(s);
		} else {
			printf("%s\n", sg_json_str(p, "value"));
		}
		json_decref(p);
		return 0;
	}
	if (argc < 1 || strcmp(argv[0], "set") != 0)
		return usage_error("property get NAME | property set NAME VALUE [--type T] "
		                   "[--description D]");
	static const struct option opts[] = {{"type", required_argument, NULL, 't'},
	                                     {"description", required_argument, NULL, 'd'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_object();
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "t:d:", opts, NULL)) != -1) {
		if (c == 't')
			json_object_set_new(in, "type", json_string(optarg));
		else if (c == 'd')
			json_object_set_new(in, "description", json_string(optarg));
		else {
			json_decref(in);
			return 2;
		}
	}
	if (optind != argc - 2) {
		json_decref(in);
		return usage_error("property set NAME VALUE");
	}
	const char *name = argv[optind], *value = argv[optind + 1];
	json_object_set_new(in, "value", json_string(value));
	json_t *rows = NULL, *rec = NULL;
	char q[256];
	snprintf(q, sizeof(q), "name=%s", name);
	int rc = e->c->list(e->c, "sys_properties", q, 2, &rows);
	if (!rc && json_array_size(rows)) {
		rc = e->c->update(e->c, "sys_properties",
		                  sg_json_str(json_array_get(rows, 0), "sys_id"), in, &rec);
	} else if (!rc) {
		json_object_set_new(in, "name", json_string(name));
		rc = e->c->insert(e->c, "sys_properties", in, &rec);
	}
	if (rc)
		failed(e, "property set");
	else if (e->json)
		report(e, "property", name, rec, NULL);
	else
		printf("%s = %s\n", name, value);
	json_decref(in);
	json_decref(rows);
	json_decref(rec);
	return rc ? 1 : 0;
}

/* ---- any table ---------------------------------------------------------------- */

static void print_records(struct cmd_env *e, json_t *rows)
{
	if (e->json) {
		char *s = json_dumps(rows, JSON_INDENT(2));
		printf("%s\n", s ? s : "[]");
		free(s);
		return;
	}
	size_t i;
	json_t *rec;
	json_array_foreach(rows, i, rec)
	{
		if (i)
			printf("\n");
		const char *key;
		json_t *v;
		json_object_foreach(rec, key, v)
		{
			const char *s = json_string_value(v);
			if (s && *s)
				printf("%s: %s\n", key, s);
		}
	}
}

int cmd_table(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("table list|get|create|update|delete TABLE ...");
	const char *verb = argv[0], *table = argv[1];
	json_t *rows = NULL, *rec = NULL, *in = NULL;
	int rc;
	if (!strcmp(verb, "list")) {
		static const struct option opts[] = {{"query", required_argument, NULL, 'q'},
		                                     {"limit", required_argument, NULL, 'n'},
		                                     {NULL, 0, NULL, 0}};
		const char *query = "";
		long limit = 100;
		int c;
		optind = 2;
		while ((c = getopt_long(argc, argv, "q:n:", opts, NULL)) != -1) {
			if (c == 'q')
				query = optarg;
			else if (c == 'n' && !whole_number(optarg, &limit))
				return usage_error("--limit takes a whole number");
			else if (c != 'n')
				return 2;
		}
		rc = e->c->list(e->c, table, query, limit, &rows);
		if (!rc)
			print_records(e, rows);
	} else if (!strcmp(verb, "get") && argc == 3) {
		char q[64];
		snprintf(q, sizeof(q), "sys_id=%s", argv[2]);
		rc = e->c->list(e->c, table, q, 1, &rows);
		if (!rc && !json_array_size(rows)) {
			snprintf(e->c->errmsg, sizeof(e->c->errmsg), "no record %s", argv[2]);
			rc = 1;
		}
		if (!rc)
			print_records(e, rows);
	} else if (!strcmp(verb, "create")) {
		if (!(in = assignments(argc - 2, argv + 2)))
			return 2;
		rc = e->c->insert(e->c, table, in, &rec);
		if (!rc)
			report(e, "created", table, rec, NULL);
	} else if (!strcmp(verb, "update") && argc >= 4) {
		if (!(in = assignments(argc - 3, argv + 3)))
			return 2;
		rc = e->c->update(e->c, table, argv[2], in, &rec);
		if (!rc)
			report(e, "updated", table, rec, NULL);
	} else if (!strcmp(verb, "delete") && argc == 3) {
		rc = e->c->remove(e->c, table, argv[2]);
		if (!rc && !e->json)
			printf("deleted %s %s\n", table, argv[2]);
	} else {
		return usage_error("table list|get|create|update|delete TABLE ...");
	}
	if (rc)
		failed(e, verb);
	json_decref(rows);
	json_decref(rec);
	json_decref(in);
	return rc ? 1 : 0;
}

/* ---- OAuth: application registry, auth scopes, tokens ------------------------ */

static int oauth_secret(struct cmd_env *e, json_t *in, char *secret, size_t size)
{
	(void)e;
	sg_random_token(secret, size, 24); /* 32 characters */
	/* A random secret needs no work factor: store its fast hash. */
	char *hash = sg_secret_hash(secret);
	if (!hash)
		return 1;
	json_object_set_new(in, "client_secret", json_string(hash));
	free(hash);
	return 0;
}

static void report_client(struct cmd_env *e, const char *what, json_t *rec, const char *secret)
{
	if (e->json) {
		json_t *out = json_pack(
		    "{s:s, s:s, s:s, s:O}", "sys_id", sg_json_str(rec, "sys_id"), "client_id",
		    sg_json_str(rec, "client_id"), "client_secret", secret, "record", rec);
		char *s = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(out);
		return;
	}
	printf("%s %s (sys_id %s)\nclient_id: %s\nclient_secret (shown once): %s\n", what,
	       sg_json_str(rec, "name"), sg_json_str(rec, "sys_id"), sg_json_str(rec, "client_id"),
	       secret);
}

static int attach_scope(struct cmd_env *e, const char *scope, const char *entity_id)
{
	json_t *s = find_one(e, "sys_auth_scope", "name", scope), *out = NULL;
	if (!s)
		return 1;
	json_t *in = json_pack("{s:s, s:s}", "oauth_entity", entity_id, "auth_scope",
	                       sg_json_str(s, "sys_id"));
	int rc = e->c->insert(e->c, "oauth_entity_auth_scope", in, &out);
	json_decref(in);
	json_decref(out);
	json_decref(s);
	return rc ? failed(e, "scope attach") : 0;
}

static int oauth_add(struct cmd_env *e, int argc, char **argv)
{
	static const struct option opts[] = {{"grant", required_argument, NULL, 'g'},
	                                     {"user", required_argument, NULL, 'u'},
	                                     {"scope", required_argument, NULL, 's'},
	                                     {"access-lifespan", required_argument, NULL, 'a'},
	                                     {"refresh-lifespan", required_argument, NULL, 'r'},
	                                     {"client-type", required_argument, NULL, 't'},
	                                     {"redirect-url", required_argument, NULL, 'R'},
	                                     {"logo-url", required_argument, NULL, 'L'},
	                                     {"inactive", no_argument, NULL, 'i'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_pack("{s:s, s:s}", "type", "client", "active", "true");
	const char *user = NULL, *scopes[MAX_ROLES];
	size_t nscopes = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "g:u:s:a:r:t:R:L:i", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			json_object_set_new(in, "default_grant_type", json_string(optarg));
			break;
		case 'u':
			user = optarg;
			break;
		case 's':
			if (nscopes < MAX_ROLES)
				scopes[nscopes++] = optarg;
			break;
		case 'a':
		case 'r':
			if (!whole_number(optarg, &(long){0})) {
				json_decref(in);
				return usage_error(
				    "--access-lifespan and --refresh-lifespan take seconds");
			}
			json_object_set_new(
			    in, c == 'a' ? "access_token_lifespan" : "refresh_token_lifespan",
			    json_string(optarg));
			break;
		case 't':
			json_object_set_new(in, "client_type", json_string(optarg));
			break;
		case 'R':
			json_object_set_new(in, "redirect_url", json_string(optarg));
			break;
		case 'L':
			json_object_set_new(in, "logo_url", json_string(optarg));
			break;
		case 'i':
			json_object_set_new(in, "active", json_string("false"));
			break;
		default:
			json_decref(in);
			return 2;
		}
	}
	if (optind != argc - 1) {
		json_decref(in);
		return usage_error(
		    "oauth add NAME [--grant G] [--user U] [--scope S]... [options]");
	}
	if (already_exists(e, "application", "oauth_entity", "name", argv[optind])) {
		json_decref(in);
		return 1;
	}
	json_object_set_new(in, "name", json_string(argv[optind]));
	char client_id[SG_ID_LEN + 1], secret[64];
	sg_id_new(client_id);
	json_object_set_new(in, "client_id", json_string(client_id));
	int rc = oauth_secret(e, in, secret, sizeof(secret));
	if (!rc && user) {
		json_t *u = find_one(e, "sys_user", "user_name", user);
		if (u)
			json_object_set_new(in, "oauth_user",
			                    json_string(sg_json_str(u, "sys_id")));
		else
			rc = 1;
		json_decref(u);
	}
	/* "useraccount" is implied, not attached */
	for (size_t i = 0; !rc && i < nscopes; i++) {
		if (!strcmp(scopes[i], "useraccount"))
			continue;
		json_t *s = find_one(e, "sys_auth_scope", "name", scopes[i]);
		rc = s ? 0 : 1;
		json_decref(s);
	}
	json_t *rec = NULL;
	if (!rc && (rc = e->c->insert(e->c, "oauth_entity", in, &rec)))
		failed(e, "oauth add");
	for (size_t i = 0; !rc && i < nscopes; i++)
		if (strcmp(scopes[i], "useraccount"))
			rc = attach_scope(e, scopes[i], sg_json_str(rec, "sys_id"));
	if (!rc)
		report_client(e, "application", rec, secret);
	sodium_memzero(secret, sizeof(secret));
	json_decref(in);
	json_decref(rec);
	return rc ? 1 : 0;
}

static int oauth_change(struct cmd_env *e, const char *name, json_t *in, const char *what)
{
	json_t *app = find_one(e, "oauth_entity", "name", name), *rec = NULL;
	int rc = app ? e->c->update(e->c, "oauth_entity", sg_json_str(app, "sys_id"), in, &rec) : 1;
	if (app && rc)
		failed(e, what);
	json_decref(app);
	json_decref(rec);
	return rc ? 1 : 0;
}

int cmd_oauth(struct cmd_env *e, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "add"))
		return oauth_add(e, argc, argv);
	if (argc >= 1 && (!strcmp(argv[0], "provider") || !strcmp(argv[0], "get-token") ||
	                  !strcmp(argv[0], "token")))
		return cmd_oauth_out(e, argc, argv);
	if (argc >= 1 && (!strcmp(argv[0], "list") || !strcmp(argv[0], "delete")))
		return cmd_oauth_guide(e, argc, argv);
	bool revoke = false;
	if (argc == 3 && !strcmp(argv[0], "rotate-secret") &&
	    (!strcmp(argv[1], "--revoke-tokens") || !strcmp(argv[2], "--revoke-tokens"))) {
		revoke = true;
		if (!strcmp(argv[1], "--revoke-tokens"))
			argv[1] = argv[2];
		argc = 2;
	}
	if (argc != 2)
		return usage_error("oauth add|list|delete|rotate-secret [--revoke-tokens]|enable|"
		                   "disable NAME");
	json_t *in = json_object();
	int rc;
	if (!strcmp(argv[0], "rotate-secret")) {
		char secret[64];
		rc = oauth_secret(e, in, secret, sizeof(secret));
		if (!rc)
			rc = oauth_change(e, argv[1], in, "rotate-secret");
		if (!rc) {
			json_t *app = find_one(e, "oauth_entity", "name", argv[1]);
			size_t n = 0;
			/* The old secret's tokens, when asked: they would live on. */
			if (app && revoke)
				rc = oauth_revoke_tokens(e, sg_json_str(app, "sys_id"), &n);
			if (app && !rc)
				report_client(e, "new secret for", app, secret);
			if (app && !rc && revoke && !e->json)
				printf("revoked %zu token(s)\n", n);
			json_decref(app);
		}
		sodium_memzero(secret, sizeof(secret));
	} else if (!strcmp(argv[0], "enable") || !strcmp(argv[0], "disable")) {
		bool on = !strcmp(argv[0], "enable");
		json_object_set_new(in, "active", json_string(on ? "true" : "false"));
		rc = oauth_change(e, argv[1], in, argv[0]);
		if (!rc && !e->json)
			printf("application %s %s\n", argv[1], on ? "enabled" : "disabled");
	} else {
		rc = usage_error("oauth add|list|delete|rotate-secret [--revoke-tokens]|enable|"
		                 "disable NAME");
	}
	json_decref(in);
	return rc;
}

int cmd_scope(struct cmd_env *e, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "attach")) {
		static const struct option opts[] = {{"app", required_argument, NULL, 'a'},
		                                     {NULL, 0, NULL, 0}};
		const char *app_name = NULL;
		int c;
		optind = 1;
		while ((c = getopt_long(argc, argv, "a:", opts, NULL)) != -1) {
			if (c == 'a')
				app_name = optarg;
			else
				return 2;
		}
		if (optind != argc - 1 || !app_name)
			return usage_error("scope attach SCOPE --app NAME");
		json_t *app = find_one(e, "oauth_entity", "name", app_name);
		int rc = app ? attach_scope(e, argv[optind], sg_json_str(app, "sys_id")) : 1;
		if (!rc && !e->json)
			printf("attached %s to %s\n", argv[optind], app_name);
		json_decref(app);
		return rc;
	}
	if (argc < 1 || strcmp(argv[0], "add") != 0)
		return usage_error("scope add NAME [--api PATH] [--methods GET,POST|all] | "
		                   "scope attach SCOPE --app NAME");
	static const struct option opts[] = {{"api", required_argument, NULL, 'p'},
	                                     {"api-name", required_argument, NULL, 'n'},
	                                     {"methods", required_argument, NULL, 'm'},
	                                     {"description", required_argument, NULL, 'd'},
	                                     {NULL, 0, NULL, 0}};
	const char *api = "now/table", *api_name = "Table API", *methods = "all", *desc = "";
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:n:m:d:", opts, NULL)) != -1) {
		if (c == 'p')
			api = optarg;
		else if (c == 'n')
			api_name = optarg;
		else if (c == 'm')
			methods = optarg;
		else if (c == 'd')
			desc = optarg;
		else
			return 2;
	}
	if (optind != argc - 1)
		return usage_error("scope add NAME [--api PATH] [--methods GET,POST|all]");
	const char *name = argv[optind];
	json_t *in = json_pack("{s:s, s:s}", "name", name, "description", desc), *scope = NULL;
	int rc = e->c->insert(e->c, "sys_auth_scope", in, &scope);
	json_decref(in);
	if (rc)
		return failed(e, "scope add");
	bool all = !strcasecmp(methods, "all");
	in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "auth_scope",
	               sg_json_str(scope, "sys_id"), "rest_api", api_name, "rest_api_path", api,
	               "apply_to_all_methods", all ? "true" : "false", "http_methods",
	               all ? "" : methods);
	json_t *rec = NULL;
	rc = e->c->insert(e->c, "sys_api_access_scope", in, &rec);
	if (rc)
		failed(e, "scope add");
	else
		report(e, "scope", name, scope, NULL);
	json_decref(in);
	json_decref(rec);
	json_decref(scope);
	return rc ? 1 : 0;
}

int cmd_token(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1 || (strcmp(argv[0], "list") && strcmp(argv[0], "revoke")))
		return usage_error("token list|revoke [--app NAME] [--user NAME] [SYS_ID]");
	static const struct option opts[] = {{"app", required_argument, NULL, 'a'},
	                                     {"user", required_argument, NULL, 'u'},
	                                     {NULL, 0, NULL, 0}};
	const char *app = NULL, *user = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "a:u:", opts, NULL)) != -1) {
		if (c == 'a')
			app = optarg;
		else if (c == 'u')
			user = optarg;
		else
			return 2;
	}
	char q[512] = "";
	if (optind < argc)
		snprintf(q, sizeof(q), "sys_id=%s", argv[optind]);
	else if (app)
		snprintf(q, sizeof(q), "peer.name=%s", app);
	else if (user)
		snprintf(q, sizeof(q), "user.user_name=%s", user);
	bool revoke = !strcmp(argv[0], "revoke");
	if (revoke && !q[0])
		return usage_error("token revoke needs --app, --user or a SYS_ID");
	size_t len = strlen(q);
	snprintf(q + len, sizeof(q) - len, "%sORDERBYDESCsys_created_on", len ? "^" : "");
	json_t *rows = NULL;
	if (e->c->list(e->c, "oauth_credential", q, 10000, &rows))
		return failed(e, "token");
	int rc = 0;
	if (revoke) {
		char past[SG_DT_LEN + 1];
		sg_time_format(sg_time_now() - 1, past);
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			json_t *in = json_pack("{s:s}", "expires", past), *out = NULL;
			if (!rc && e->c->update(e->c, "oauth_credential",
			                        sg_json_str(row, "sys_id"), in, &out))
				rc = failed(e, "token revoke");
			json_decref(in);
			json_decref(out);
		}
		if (!rc && !e->json)
			printf("revoked %zu token(s)\n", json_array_size(rows));
	} else {
		print_records(e, rows);
	}
	json_decref(rows);
	return rc;
}
