/*
 * guide_cmd.c - the admin steps the integration guides met missing (issue
 * 17): role containment (role contain|uncontain), the Application Registry
 * listed and deleted (oauth list|delete), and a rotated secret that revokes
 * the old one's tokens.  Offline and online alike, through struct client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "nowctl/commands.h"

static int usage(const char *msg)
{
	fprintf(stderr, "nowctl: %s (see nowctl --help)\n", msg);
	return 2;
}

static int failed(struct cmd_env *e, const char *what)
{
	fprintf(stderr, "nowctl: %s: %s\n", what, e->c->errmsg);
	return 1;
}

/* The one record of table whose field is value, or NULL (said on stderr). */
static json_t *one(struct cmd_env *e, const char *table, const char *field, const char *value)
{
	if (strchr(value, '^') || strlen(value) > 200) {
		fprintf(stderr, "nowctl: '%.200s' is not a name\n", value);
		return NULL;
	}
	char q[300];
	snprintf(q, sizeof(q), "%s=%s", field, value);
	json_t *rows = NULL;
	if (e->c->list(e->c, table, q, 2, &rows)) {
		failed(e, table);
		return NULL;
	}
	json_t *rec = NULL;
	if (json_array_size(rows) == 1)
		rec = json_incref(json_array_get(rows, 0));
	else
		fprintf(stderr, "nowctl: %s %s '%s'\n",
		        json_array_size(rows) ? "more than one" : "no", table, value);
	json_decref(rows);
	return rec;
}

/* role contain ROLE CONTAINED | role uncontain ROLE CONTAINED */
int cmd_role_contain(struct cmd_env *e, int argc, char **argv)
{
	bool undo = !strcmp(argv[0], "uncontain");
	if (argc != 3)
		return usage("role contain|uncontain ROLE CONTAINED");
	json_t *outer = one(e, "sys_user_role", "name", argv[1]);
	json_t *inner = outer ? one(e, "sys_user_role", "name", argv[2]) : NULL;
	int rc = 1;
	if (!inner)
		goto out;
	char q[200];
	snprintf(q, sizeof(q), "role=%s^contains=%s", sg_json_str(outer, "sys_id"),
	         sg_json_str(inner, "sys_id"));
	json_t *rows = NULL;
	if (e->c->list(e->c, "sys_user_role_contains", q, 100, &rows)) {
		failed(e, "role contain");
		goto out;
	}
	if (!undo) {
		rc = 0;
		if (!json_array_size(rows)) { /* already so: nothing to do */
			json_t *in = json_pack("{s:s, s:s}", "role", sg_json_str(outer, "sys_id"),
			                       "contains", sg_json_str(inner, "sys_id"));
			json_t *rec = NULL;
			rc = e->c->insert(e->c, "sys_user_role_contains", in, &rec) ? 1 : 0;
			if (rc)
				failed(e, "role contain");
			json_decref(in);
			json_decref(rec);
		}
		if (!rc && !e->json)
			printf("%s contains %s\n", argv[1], argv[2]);
	} else if (!json_array_size(rows)) {
		fprintf(stderr, "nowctl: %s does not contain %s directly\n", argv[1], argv[2]);
	} else {
		rc = 0;
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			if (!rc && e->c->remove(e->c, "sys_user_role_contains",
			                        sg_json_str(row, "sys_id")))
				rc = failed(e, "role uncontain");
		}
		if (!rc && !e->json)
			printf("%s no longer contains %s\n", argv[1], argv[2]);
	}
	json_decref(rows);
out:
	json_decref(outer);
	json_decref(inner);
	return rc;
}

/* oauth list: inbound applications and outbound providers, no secret. */
static int oauth_list(struct cmd_env *e, int argc)
{
	if (argc != 1)
		return usage("oauth list");
	json_t *rows = NULL;
	if (e->c->list(e->c, "oauth_entity", "ORDERBYtype^ORDERBYname", 10000, &rows))
		return failed(e, "oauth list");
	static const char *const fields[] = {
	    "name",       "type",      "client_id", "active", "default_grant_type",
	    "oauth_user", "token_url", "sys_id"};
	json_t *out = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		json_t *o = json_object();
		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
			json_object_set_new(o, fields[k],
			                    json_string(sg_json_str(row, fields[k])
			                                    ? sg_json_str(row, fields[k])
			                                    : ""));
		const char *t = sg_json_str(o, "type");
		json_object_set_new(
		    o, "direction",
		    json_string(t && !strcmp(t, "oauth_provider") ? "outbound" : "inbound"));
		json_array_append_new(out, o);
	}
	if (e->json) {
		char *s = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", s ? s : "[]");
		free(s);
	} else {
		json_array_foreach(out, i, row)
		{
			printf("%-8s %-32s %-32s %-6s %s\n", sg_json_str(row, "direction"),
			       sg_json_str(row, "name"), sg_json_str(row, "client_id"),
			       sg_str_bool(sg_json_str(row, "active"), false) ? "active" : "off",
			       sg_json_str(row, "default_grant_type"));
		}
	}
	json_decref(out);
	json_decref(rows);
	return 0;
}

/* oauth delete NAME: the record's delete cascades (auth/rules_guide.c) in
 * the instance's transaction, to its tokens, scope links and profiles. */
static int oauth_delete(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 2)
		return usage("oauth delete NAME");
	json_t *app = one(e, "oauth_entity", "name", argv[1]);
	if (!app)
		return 1;
	int rc = e->c->remove(e->c, "oauth_entity", sg_json_str(app, "sys_id")) ? 1 : 0;
	if (rc)
		failed(e, "oauth delete");
	else if (!e->json)
		printf("application %s deleted, with its tokens, scopes and profiles\n", argv[1]);
	json_decref(app);
	return rc;
}

int oauth_revoke_tokens(struct cmd_env *e, const char *app_id, size_t *n)
{
	char q[100];
	snprintf(q, sizeof(q), "peer=%s", app_id);
	json_t *rows = NULL;
	*n = 0;
	if (e->c->list(e->c, "oauth_credential", q, 10000, &rows))
		return failed(e, "revoke tokens");
	char past[SG_DT_LEN + 1];
	sg_time_format(sg_time_now() - 1, past);
	int rc = 0;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		json_t *in = json_pack("{s:s}", "expires", past), *out = NULL;
		if (!rc &&
		    e->c->update(e->c, "oauth_credential", sg_json_str(row, "sys_id"), in, &out))
			rc = failed(e, "revoke tokens");
		else if (!rc)
			(*n)++;
		json_decref(in);
		json_decref(out);
	}
	json_decref(rows);
	return rc;
}

int cmd_oauth_guide(struct cmd_env *e, int argc, char **argv)
{
	if (!strcmp(argv[0], "list"))
		return oauth_list(e, argc);
	return oauth_delete(e, argc, argv);
}
