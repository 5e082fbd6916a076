/*
 * rmm.c - the RMM connector's product side (rmm.h): organizations,
 * devices and alerts of an RMM product, kept in nowsync's store and synced
 * to an instance over its REST APIs only (Table API, Identification and
 * Reconciliation API).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "net/client.h"
#include "nowsync/event.h"
#include "nowsync/rmm.h"
#include "store/sql.h"

#define MAX_LINE      (64 * 1024) /* one NDJSON record */
#define MAX_RECORDS   100000      /* records one file may hold */
#define MAX_ROLES     64          /* roles in one CI mapping */
#define DEFAULT_CLASS "cmdb_ci_computer"

static const char *const rmm_tables[] = {
    /* one per connection: whether the integration is active */
    "CREATE TABLE IF NOT EXISTS \"ns_rmm_integration\" (\"connection\" TEXT PRIMARY KEY, "
    "\"state\" TEXT NOT NULL, \"profile\" TEXT, \"accounts\" TEXT NOT NULL DEFAULT 'auto', "
    "\"updated_at\" BIGINT NOT NULL)",
    /* one per product organization: its mapping and sync status */
    "CREATE TABLE IF NOT EXISTS \"ns_rmm_org\" (\"connection\" TEXT NOT NULL, \"org_id\" TEXT "
    "NOT NULL, \"name\" TEXT NOT NULL, \"company\" TEXT NOT NULL, \"ci_mapping\" TEXT NOT NULL, "
    "\"allow_incidents\" INTEGER NOT NULL, \"status\" TEXT NOT NULL, \"manual\" INTEGER NOT "
    "NULL DEFAULT 0, \"company_sys_id\" TEXT, \"company_table\" TEXT, \"last_error\" TEXT, "
    "\"updated_at\" BIGINT NOT NULL, PRIMARY KEY (\"connection\", \"org_id\"))",
    /* one per device: its CI once identified */
    "CREATE TABLE IF NOT EXISTS \"ns_rmm_device\" (\"connection\" TEXT NOT NULL, \"device_id\" "
    "TEXT NOT NULL, \"org_id\" TEXT NOT NULL, \"name\" TEXT NOT NULL, \"serial\" TEXT NOT NULL, "
    "\"role\" TEXT, \"ci_class\" TEXT, \"ci_sys_id\" TEXT, \"sent_hash\" TEXT, \"last_error\" "
    "TEXT, \"updated_at\" BIGINT NOT NULL, PRIMARY KEY (\"connection\", \"device_id\"))",
    /* alerts not turned into events, and why (the newest 10,000 per connection) */
    "CREATE TABLE IF NOT EXISTS \"ns_rmm_dropped\" (\"seq\" INTEGER PRIMARY KEY, "
    "\"connection\" TEXT NOT NULL, \"alert_id\" TEXT NOT NULL, \"device_id\" TEXT, \"org_id\" "
    "TEXT, \"reason\" TEXT NOT NULL, \"at\" BIGINT NOT NULL)",
    NULL,
};
#define DROPPED_KEPT 10000

sg_err ns_state_migrate_rmm(sg_conn *c)
{
	sg_err err = sg_conn_begin(c, true);
	for (const char *const *s = rmm_tables; !err && *s; s++)
		err = sg_conn_exec_raw(c, *s);
	if (err) {
		sg_conn_rollback(c);
		return err;
	}
	return sg_conn_commit(c);
}

/* ---- pure parts ------------------------------------------------------------------------ */

static bool word_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == ' '))
			return false;
	return true;
}

json_t *ns_rmm_parse_ci_mapping(const char *s, char *msg, size_t msgsz)
{
	json_t *out = json_object();
	char *copy = strdup(s ? s : "");
	if (!out || !copy) {
		snprintf(msg, msgsz, "out of memory");
		json_decref(out);
		free(copy);
		return NULL;
	}
	char *save = NULL;
	for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(part, '=');
		if (!eq) {
			snprintf(msg, msgsz, "a CI mapping is ROLE=CLASS: %.60s", part);
			goto bad;
		}
		*eq = '\0';
		const char *role = part, *cls = eq + 1;
		if (!word_ok(role, 100) || !word_ok(cls, 80) || strncmp(cls, "cmdb_ci", 7) ||
		    strchr(cls, ' ')) {
			snprintf(msg, msgsz,
			         "a CI mapping is ROLE=CLASS, the class a cmdb_ci table: "
			         "%.60s=%.60s",
			         role, cls);
			goto bad;
		}
		if (json_object_size(out) >= MAX_ROLES) {
			snprintf(msg, msgsz, "a CI mapping has at most %d roles", MAX_ROLES);
			goto bad;
		}
		if (json_object_set_new(out, role, json_string(cls))) {
			snprintf(msg, msgsz, "out of memory");
			goto bad;
		}
	}
	free(copy);
	return out;
bad:
	free(copy);
	json_decref(out);
	return NULL;
}

const char *ns_rmm_next_status(const char *integration, const char *current, bool deleted,
                               bool changed)
{
	if (deleted)
		return NS_RMM_DELETED;
	bool active = integration && !strcmp(integration, "active");
	if (!current || !strcmp(current, NS_RMM_DELETED) || !strcmp(current, NS_RMM_INACTIVE))
		return active ? NS_RMM_IN_QUEUE : NS_RMM_INACTIVE;
	if (!strcmp(current, NS_RMM_ACTIVE))
		return changed ? (active ? NS_RMM_IN_QUEUE : NS_RMM_PENDING) : NS_RMM_ACTIVE;
	return current; /* pending, in queue: still waiting */
}

/* ---- the store ------------------------------------------------------------------------- */

/* Rows into a JSON array of objects (column -> text, NULL -> null). */
static int row_json(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	json_t *row = json_object();
	for (int i = 0; row && i < ncol; i++)
		json_object_set_new(row, names[i], vals[i] ? json_string(vals[i]) : json_null());
	return row && !json_array_append_new(ud, row) ? 0 : 1;
}

static sg_err query(struct ns_state *st, struct sg_sql *q, json_t **rows)
{
	*rows = json_array();
	sg_conn *c = sg_store_conn(st->store);
	sg_err err = !*rows ? SG_ERR_NOMEM
	             : c    ? sg_conn_exec(c, q, row_json, *rows, NULL)
	                    : SG_ERR_STORE;
	sg_sql_cleanup(q);
	if (err) {
		json_decref(*rows);
		*rows = NULL;
	}
	return err;
}

static sg_err exec(struct ns_state *st, struct sg_sql *q)
{
	sg_conn *c = sg_store_conn(st->store);
	sg_err err = c ? sg_conn_exec(c, q, NULL, NULL, NULL) : SG_ERR_STORE;
	sg_sql_cleanup(q);
	return err;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v ? v : "";
}

struct integration {
	char state[16], profile[128], accounts[8];
	bool found;
};

static sg_err get_integration(struct ns_state *st, const char *conn, struct integration *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->state, sizeof(out->state), "disabled");
	snprintf(out->accounts, sizeof(out->accounts), "auto");
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"state\", \"profile\", \"accounts\" FROM \"ns_rmm_integration\" "
	               "WHERE \"connection\" = ");
	sg_sql_text(&q, conn);
	json_t *rows;
	sg_err err = query(st, &q, &rows);
	if (!err && json_array_size(rows)) {
		json_t *r = json_array_get(rows, 0);
		out->found = true;
		snprintf(out->state, sizeof(out->state), "%s", jstr(r, "state"));
		snprintf(out->profile, sizeof(out->profile), "%s", jstr(r, "profile"));
		snprintf(out->accounts, sizeof(out->accounts), "%s", jstr(r, "accounts"));
	}
	json_decref(rows);
	return err;
}

static sg_err get_org(struct ns_state *st, const char *conn, const char *org, json_t **out)
{
	*out = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_rmm_org\" WHERE \"connection\" = ");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, " AND \"org_id\" = ");
	sg_sql_text(&q, org);
	json_t *rows;
	sg_err err = query(st, &q, &rows);
	if (!err && json_array_size(rows))
		*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return err;
}

static sg_err put_org(struct ns_state *st, const char *conn, const char *org, const char *name,
                      const char *company, const char *mapping, bool allow, const char *status,
                      bool manual)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_rmm_org\" (\"connection\", \"org_id\", \"name\", "
	               "\"company\", \"ci_mapping\", \"allow_incidents\", \"status\", \"manual\", "
	               "\"updated_at\") VALUES (");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, org);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, company);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, mapping);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, allow);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, status);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, manual);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, sg_time_now());
	sg_sql_raw(&q,
	           ") ON CONFLICT (\"connection\", \"org_id\") DO UPDATE SET \"name\" = "
	           "excluded.\"name\", \"company\" = excluded.\"company\", \"ci_mapping\" = "
	           "excluded.\"ci_mapping\", \"allow_incidents\" = excluded.\"allow_incidents\", "
	           "\"status\" = excluded.\"status\", \"manual\" = excluded.\"manual\", "
	           "\"updated_at\" = excluded.\"updated_at\"");
	return exec(st, &q);
}

static sg_err set_org_result(struct ns_state *st, const char *conn, const char *org,
                             const char *status, const char *sys_id, const char *table,
                             const char *error)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_rmm_org\" SET \"status\" = ");
	sg_sql_text(&q, status);
	if (sys_id) {
		sg_sql_raw(&q, ", \"company_sys_id\" = ");
		sg_sql_text(&q, sys_id);
		sg_sql_raw(&q, ", \"company_table\" = ");
		sg_sql_text(&q, table);
	}
	sg_sql_raw(&q, ", \"last_error\" = ");
	sg_sql_text(&q, error);
	sg_sql_raw(&q, ", \"updated_at\" = ");
	sg_sql_int(&q, sg_time_now());
	sg_sql_raw(&q, " WHERE \"connection\" = ");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, " AND \"org_id\" = ");
	sg_sql_text(&q, org);
	return exec(st, &q);
}

/* ---- the instance ---------------------------------------------------------------------- */

struct link {
	struct ns_conn *conn;
	struct sg_http_client *http;
	const char *name;
};

static bool link_open(struct ns_state *st, const char *name, struct link *l)
{
	memset(l, 0, sizeof(*l));
	struct ns_connection cfg;
	sg_err e = ns_state_get(st, name, &cfg);
	if (e) {
		fprintf(stderr, "nowsync: %s connection %s\n",
		        e == SG_ERR_NO_RECORD ? "no" : "cannot read", name);
		return false;
	}
	l->name = name;
	l->conn = ns_conn_new(&cfg, st);
	l->http = l->conn ? ns_conn_http(l->conn, 3) : NULL;
	if (!l->http) {
		ns_connection_clear(&cfg);
		ns_conn_free(l->conn);
		fprintf(stderr, "nowsync: out of memory\n");
		return false;
	}
	return true;
}

static void link_close(struct link *l)
{
	sg_http_client_free(l->http);
	ns_conn_free(l->conn);
}

/* One request; *status the answer's (0: none), *body its JSON (new, may be
 * NULL); why the instance's message or the failure, when not 2xx. */
static void call(struct link *l, const char *method, const char *path, json_t *send, int *status,
                 json_t **body, char *why, size_t whysz)
{
	*status = 0;
	*body = NULL;
	why[0] = '\0';
	char *text = send ? json_dumps(send, JSON_COMPACT) : NULL;
	struct sg_http_response r;
	struct ns_error err;
	sg_http_response_init(&r);
	if (send && !text)
		snprintf(why, whysz, "out of memory");
	else if (!ns_conn_request(l->conn, l->http, method, path, text, &r, &err))
		snprintf(why, whysz, "%s", err.msg);
	else {
		*status = r.status;
		*body = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
		json_t *e = json_object_get(*body, "error");
		if ((r.status < 200 || r.status > 299))
			snprintf(why, whysz, "HTTP %d: %s%s%s", r.status, jstr(e, "message"),
			         *jstr(e, "detail") ? " - " : "", jstr(e, "detail"));
	}
	free(text);
	sg_http_response_cleanup(&r);
}

/* Whether the instance has customer_account (CSM), from its dictionary
 * (sys_db_object); when that is not readable to the account, from the
 * table itself (an absent table is a 400 "Invalid table"). */
static bool has_accounts(struct link *l)
{
	int status;
	json_t *body;
	char why[600];
	call(
	    l, "GET",
	    "/api/now/table/sys_db_object?sysparm_query=name%3Dcustomer_account&sysparm_fields=name"
	    "&sysparm_limit=1",
	    NULL, &status, &body, why, sizeof(why));
	bool yes = status == 200 && json_array_size(json_object_get(body, "result")) > 0;
	bool known = status == 200;
	json_decref(body);
	if (known)
		return yes;
	call(l, "GET", "/api/now/table/customer_account?sysparm_fields=sys_id&sysparm_limit=1",
	     NULL, &status, &body, why, sizeof(why));
	json_decref(body);
	return status == 200;
}

/* The advice for a refusal of the Identification and Reconciliation API (a 403). */
static const char ire_grant[] =
    "the API user needs role itil or asset for the Identification and Reconciliation API, and "
    "sn_cmdb_editor (or create/write ACLs on the CI classes) to write CIs";

/* The advice for a refusal of op on table (a 403). */
static const char *grant_for(const char *table, const char *op)
{
	if (!strcmp(op, "read"))
		return "grant the API user read on this table (a read ACL or its role)";
	return !strcmp(table, "customer_account")
	           ? "grant the API user create and write on customer_account (ACLs, or role "
	             "sn_customerservice_manager)"
	           : "grant the API user create and write on core_company (ACLs for one of its "
	             "roles; base ACLs allow only admin)";
}

/* Finds or makes the organization's company; sys_id (33) and table set. */
static bool sync_company(struct link *l, bool accounts, json_t *org, char *sys_id,
                         const char **table, char *why, size_t whysz)
{
	*table = accounts ? "customer_account" : "core_company";
	struct sg_buf path;
	sg_buf_init(&path, 4096);
	sg_buf_printf(
	    &path,
	    "/api/now/table/%s?sysparm_fields=sys_id&sysparm_limit=2&sysparm_query=", *table);
	char q[400];
	snprintf(q, sizeof(q), "name=%s", jstr(org, "company"));
	sg_buf_put_urlenc(&path, q);
	int status;
	json_t *body;
	bool ok = false;
	call(l, "GET", sg_buf_str(&path), NULL, &status, &body, why, whysz);
	sg_buf_cleanup(&path);
	json_t *found = json_object_get(body, "result");
	if (status == 200 && json_array_size(found) == 1) {
		snprintf(sys_id, 33, "%s", jstr(json_array_get(found, 0), "sys_id"));
		ok = true;
	} else if (status == 200 && json_array_size(found) > 1) {
		snprintf(why, whysz,
		         "more than one %s is named %.100s: rename one, or name the company "
		         "to use",
		         *table, jstr(org, "company"));
	} else if (status == 200) {
		json_t *rec =
		    json_pack("{s:s, s:s}", "name", jstr(org, "company"), "customer", "true");
		json_decref(body);
		char p[128];
		snprintf(p, sizeof(p), "/api/now/table/%s?sysparm_fields=sys_id", *table);
		call(l, "POST", p, rec, &status, &body, why, whysz);
		json_decref(rec);
		if (status == 201) {
			snprintf(sys_id, 33, "%s", jstr(json_object_get(body, "result"), "sys_id"));
			ok = strlen(sys_id) == 32;
		} else if (status == 403) {
			size_t n = strlen(why);
			snprintf(why + n, whysz - n, " (creating %s %s): %s", *table,
			         jstr(org, "company"), grant_for(*table, "create"));
		}
	} else if (status == 403) {
		size_t n = strlen(why);
		snprintf(why + n, whysz - n, " (reading %s): %s", *table,
		         grant_for(*table, "read"));
	}
	json_decref(body);
	return ok;
}

/* ---- organizations --------------------------------------------------------------------- */

static sg_err list_orgs(struct ns_state *st, const char *conn, const char *status, json_t **rows)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_rmm_org\" WHERE \"connection\" = ");
	sg_sql_text(&q, conn);
	if (status) {
		sg_sql_raw(&q, " AND \"status\" = ");
		sg_sql_text(&q, status);
	}
	sg_sql_raw(&q, " ORDER BY \"org_id\"");
	return query(st, &q, rows);
}

/* Syncs every organization waiting (in queue, pending): its company made
 * or found, status active.  Returns the number that failed. */
static int sync_orgs(struct ns_state *st, struct link *l, const struct integration *in,
                     bool *store_failed)
{
	json_t *all;
	*store_failed = false;
	if (list_orgs(st, l->name, NULL, &all)) {
		*store_failed = true;
		return 1;
	}
	int failed = 0, accounts = -1;
	size_t i;
	json_t *org;
	json_array_foreach(all, i, org)
	{
		const char *status = jstr(org, "status");
		if (strcmp(status, NS_RMM_IN_QUEUE) && strcmp(status, NS_RMM_PENDING))
			continue;
		if (accounts < 0)
			accounts = !strcmp(in->accounts, "yes")  ? 1
			           : !strcmp(in->accounts, "no") ? 0
			                                         : has_accounts(l);
		char sys_id[33] = "", why[1024];
		const char *table;
		if (sync_company(l, accounts, org, sys_id, &table, why, sizeof(why))) {
			*store_failed |=
			    set_org_result(st, l->name, jstr(org, "org_id"), NS_RMM_ACTIVE, sys_id,
			                   table, NULL) != SG_ERR_OK;
			printf("organization %s: %s (%s %s)\n", jstr(org, "org_id"), NS_RMM_ACTIVE,
			       table, sys_id);
		} else {
			failed++;
			*store_failed |= set_org_result(st, l->name, jstr(org, "org_id"), status,
			                                NULL, NULL, why) != SG_ERR_OK;
			fprintf(stderr, "nowsync: organization %s not synced (%s): %s\n",
			        jstr(org, "org_id"), status, why);
		}
	}
	json_decref(all);
	return failed;
}

/* ---- devices --------------------------------------------------------------------------- */

/* Sends the devices of active organizations whose record changed since
 * they were last sent, through the IRE.  Returns the number that failed. */
static int sync_devices(struct ns_state *st, struct link *l, bool *store_failed)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(
	    &q,
	    "SELECT d.*, o.\"ci_mapping\" AS \"ci_mapping\" FROM \"ns_rmm_device\" d "
	    "JOIN \"ns_rmm_org\" o ON o.\"connection\" = d.\"connection\" AND "
	    "o.\"org_id\" = d.\"org_id\" WHERE o.\"status\" = 'active' AND d.\"connection\" = ");
	sg_sql_text(&q, l->name);
	sg_sql_raw(&q, " ORDER BY d.\"device_id\"");
	json_t *rows;
	if (query(st, &q, &rows)) {
		*store_failed = true;
		return 1;
	}
	int failed = 0;
	size_t i;
	json_t *d;
	json_array_foreach(rows, i, d)
	{
		json_t *map = json_loads(jstr(d, "ci_mapping"), 0, NULL);
		const char *mapped = json_string_value(json_object_get(map, jstr(d, "role")));
		char cls[100];
		snprintf(cls, sizeof(cls), "%s", mapped ? mapped : DEFAULT_CLASS);
		json_decref(map);
		char hash[256];
		snprintf(hash, sizeof(hash), "%.40s|%.100s|%.100s", cls, jstr(d, "name"),
		         jstr(d, "serial"));
		if (!strcmp(hash, jstr(d, "sent_hash")) && *jstr(d, "ci_sys_id"))
			continue;
		json_t *payload =
		    json_pack("{s:[{s:s, s:{s:s, s:s}}]}", "items", "className", cls, "values",
		              "name", jstr(d, "name"), "serial_number", jstr(d, "serial"));
		int status;
		json_t *body;
		char why[1024] = "";
		call(l, "POST", "/api/now/identifyreconcile", payload, &status, &body, why,
		     sizeof(why));
		json_decref(payload);
		json_t *item =
		    json_array_get(json_object_get(json_object_get(body, "result"), "items"), 0);
		json_t *errs = json_object_get(item, "errors");
		const char *sid = jstr(item, "sysId");
		bool ok = status == 200 && !json_array_size(errs) && strlen(sid) == 32;
		if (status == 200 && json_array_size(errs)) {
			json_t *e0 = json_array_get(errs, 0);
			snprintf(
			    why, sizeof(why), "%s: %s%s%s", jstr(e0, "error"), jstr(e0, "message"),
			    !strcmp(jstr(e0, "error"), "INSUFFICIENT_RIGHTS") ? "; " : "",
			    !strcmp(jstr(e0, "error"), "INSUFFICIENT_RIGHTS") ? ire_grant : "");
		} else if (status == 403) {
			size_t n = strlen(why);
			snprintf(why + n, sizeof(why) - n, ": %s", ire_grant);
		}
		sg_sql_init(&q);
		sg_sql_raw(&q, "UPDATE \"ns_rmm_device\" SET ");
		if (ok) {
			sg_sql_raw(&q, "\"ci_sys_id\" = ");
			sg_sql_text(&q, sid);
			sg_sql_raw(&q, ", \"ci_class\" = ");
			sg_sql_text(&q, cls);
			sg_sql_raw(&q, ", \"sent_hash\" = ");
			sg_sql_text(&q, hash);
			sg_sql_raw(&q, ", ");
		}
		sg_sql_raw(&q, "\"last_error\" = ");
		sg_sql_text(&q, ok ? NULL : why);
		sg_sql_raw(&q, " WHERE \"connection\" = ");
		sg_sql_text(&q, l->name);
		sg_sql_raw(&q, " AND \"device_id\" = ");
		sg_sql_text(&q, jstr(d, "device_id"));
		*store_failed |= exec(st, &q) != SG_ERR_OK;
		if (ok)
			printf("device %s: %s %s (%s)\n", jstr(d, "device_id"), cls, sid,
			       jstr(item, "operation"));
		else {
			failed++;
			fprintf(stderr, "nowsync: device %s not sent to the CMDB: %s\n",
			        jstr(d, "device_id"), why);
		}
		json_decref(body);
	}
	json_decref(rows);
	return failed;
}

/* ---- reading NDJSON -------------------------------------------------------------------- */

/* Reads every JSON object of path ("-": stdin) into *out (each with its
 * "_line"); false (msg) on the first bad line. */
static bool read_ndjson(const char *path, json_t **out, char *msg, size_t msgsz)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		snprintf(msg, msgsz, "cannot read %s", path);
		return false;
	}
	*out = json_array();
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long n = 0;
	bool ok = *out != NULL;
	while (ok && (len = getline(&line, &cap, f)) >= 0) {
		n++;
		if (len > MAX_LINE || json_array_size(*out) >= MAX_RECORDS) {
			snprintf(msg, msgsz, "line %ld: over %d bytes or %d records", n, MAX_LINE,
			         MAX_RECORDS);
			ok = false;
			break;
		}
		size_t i = 0;
		while (i < (size_t)len &&
		       (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' || line[i] == '\r'))
			i++;
		if (i == (size_t)len)
			continue;
		json_error_t je;
		json_t *rec = json_loadb(line, (size_t)len, 0, &je);
		if (!json_is_object(rec)) {
			snprintf(msg, msgsz, "line %ld: not a JSON object", n);
			json_decref(rec);
			ok = false;
		} else {
			json_object_set_new(rec, "_line", json_integer(n));
			ok = !json_array_append_new(*out, rec);
		}
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (!ok) {
		json_decref(*out);
		*out = NULL;
	}
	return ok;
}

static bool id_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 100)
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return false;
	return true;
}

/* The JSON member as text (strings, and numbers as the product's ids). */
static const char *member_text(json_t *o, const char *k, char *buf, size_t sz)
{
	json_t *v = json_object_get(o, k);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, sz, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* ---- commands -------------------------------------------------------------------------- */

static void usage_rmm(void)
{
	fprintf(
	    stderr,
	    "usage: nowsync rmm integration CONNECTION (active|inactive|disabled) [--profile P]\n"
	    "                   [--accounts auto|yes|no]\n"
	    "       nowsync rmm orgs CONNECTION FILE|- [--queue-only]  the product's organizations "
	    "(NDJSON;\n"
	    "                   synced at once when the integration is active)\n"
	    "       nowsync rmm map CONNECTION ORG --company NAME --ci-mapping ROLE=CLASS[,...]\n"
	    "                   --allow-incidents yes|no       a manual mapping (integration "
	    "inactive)\n"
	    "       nowsync rmm devices CONNECTION FILE|-    the product's devices (NDJSON)\n"
	    "       nowsync rmm sync CONNECTION              organizations, then devices (IRE)\n"
	    "       nowsync rmm alerts CONNECTION FILE|-     device alerts (NDJSON) to events\n"
	    "       nowsync rmm list CONNECTION [--json]\n");
}

static int store_fail(void)
{
	fprintf(stderr, "nowsync: the state database could not be written\n");
	return NS_EXIT_FAILED;
}

/* Organizations waiting, then devices: 0 when all went, 1 otherwise. */
static int run_sync(struct ns_state *st, const char *conn, const struct integration *in)
{
	if (!in->found || !strcmp(in->state, "disabled")) {
		fprintf(stderr, "nowsync: the integration on %s is not enabled\n", conn);
		return NS_EXIT_FAILED;
	}
	struct link l;
	if (!link_open(st, conn, &l))
		return NS_EXIT_FAILED;
	bool sf1 = false, sf2 = false;
	int failed = sync_orgs(st, &l, in, &sf1);
	failed += sync_devices(st, &l, &sf2);
	link_close(&l);
	if (sf1 || sf2)
		return store_fail();
	return failed ? NS_EXIT_FAILED : 0;
}

static int cmd_integration(struct ns_state *st, int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "active") && strcmp(argv[1], "inactive") &&
	                 strcmp(argv[1], "disabled"))) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	struct integration in;
	if (get_integration(st, argv[0], &in))
		return store_fail();
	const char *profile = in.found ? in.profile : "", *accounts = in.accounts;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--profile") && i + 1 < argc)
			profile = argv[++i];
		else if (!strcmp(argv[i], "--accounts") && i + 1 < argc &&
		         (!strcmp(argv[i + 1], "auto") || !strcmp(argv[i + 1], "yes") ||
		          !strcmp(argv[i + 1], "no")))
			accounts = argv[++i];
		else {
			usage_rmm();
			return NS_EXIT_USAGE;
		}
	}
	struct ns_connection c;
	if (ns_state_get(st, argv[0], &c)) {
		fprintf(stderr, "nowsync: no connection %s\n", argv[0]);
		return NS_EXIT_FAILED;
	}
	ns_connection_clear(&c);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "INSERT INTO \"ns_rmm_integration\" (\"connection\", \"state\", \"profile\", "
	           "\"accounts\", \"updated_at\") VALUES (");
	sg_sql_text(&q, argv[0]);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, argv[1]);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, profile);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, accounts);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, sg_time_now());
	sg_sql_raw(&q,
	           ") ON CONFLICT (\"connection\") DO UPDATE SET \"state\" = excluded.\"state\", "
	           "\"profile\" = excluded.\"profile\", \"accounts\" = excluded.\"accounts\", "
	           "\"updated_at\" = excluded.\"updated_at\"");
	if (exec(st, &q))
		return store_fail();
	/* Becoming active queues every organization the product listed. */
	if (!strcmp(argv[1], "active")) {
		sg_sql_init(&q);
		sg_sql_raw(&q,
		           "UPDATE \"ns_rmm_org\" SET \"status\" = 'in queue' WHERE \"status\" = "
		           "'inactive' AND \"connection\" = ");
		sg_sql_text(&q, argv[0]);
		if (exec(st, &q))
			return store_fail();
	}
	printf("integration on %s: %s%s\n", argv[0], argv[1],
	       !strcmp(argv[1], "active")
	           ? " (every organization syncs automatically; manual mappings are not offered)"
	       : !strcmp(argv[1], "inactive")
	           ? " (organizations sync only when mapped by hand: nowsync rmm map)"
	           : "");
	return 0;
}

static int cmd_orgs(struct ns_state *st, int argc, char **argv)
{
	bool queue_only = argc == 3 && !strcmp(argv[2], "--queue-only");
	if (argc != 2 && !queue_only) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	struct integration in;
	if (get_integration(st, argv[0], &in))
		return store_fail();
	json_t *recs;
	char msg[600];
	if (!read_ndjson(argv[1], &recs, msg, sizeof(msg))) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_USAGE;
	}
	/* Validate all first: nothing is stored from a file with a bad record. */
	size_t i;
	json_t *r;
	json_array_foreach(recs, i, r)
	{
		char b[32];
		const char *id = member_text(r, "id", b, sizeof(b));
		json_t *ci = json_object_get(r, "ci_mapping"),
		       *allow = json_object_get(r, "allow_incidents");
		const char *bad = !id_ok(id)                                              ? "id"
		                  : !id_ok(json_string_value(json_object_get(r, "name"))) ? "name"
		                  : (ci && !json_is_object(ci))        ? "ci_mapping"
		                  : (allow && !json_is_boolean(allow)) ? "allow_incidents"
		                  : (json_object_get(r, "company") &&
		                     !id_ok(json_string_value(json_object_get(r, "company"))))
		                      ? "company"
		                      : NULL;
		const char *k;
		json_t *v;
		json_object_foreach(ci, k,
		                    v) if (!bad && (!word_ok(k, 100) || !json_is_string(v) ||
		                                    strncmp(json_string_value(v), "cmdb_ci", 7)))
		    bad = "ci_mapping";
		if (bad) {
			fprintf(stderr, "nowsync: line %lld: %s is missing or malformed\n",
			        (long long)json_integer_value(json_object_get(r, "_line")), bad);
			json_decref(recs);
			return NS_EXIT_USAGE;
		}
	}
	int counts[5] = {0};
	static const char *const names[5] = {NS_RMM_ACTIVE, NS_RMM_PENDING, NS_RMM_IN_QUEUE,
	                                     NS_RMM_DELETED, NS_RMM_INACTIVE};
	json_array_foreach(recs, i, r)
	{
		char b[32];
		const char *id = member_text(r, "id", b, sizeof(b));
		json_t *old;
		if (get_org(st, argv[0], id, &old)) {
			json_decref(recs);
			return store_fail();
		}
		json_t *ci = json_object_get(r, "ci_mapping");
		char *mapping = ci ? json_dumps(ci, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
		const char *company =
		    json_object_get(r, "company") ? jstr(r, "company") : jstr(r, "name");
		bool allow = json_is_true(json_object_get(r, "allow_incidents"));
		bool deleted = json_is_true(json_object_get(r, "deleted"));
		/* A manual mapping keeps its own company, CI mapping and flag, also
		 * once the integration is active: the admin chose them. */
		bool manual = false;
		if (old && !strcmp(jstr(old, "manual"), "1")) {
			manual = true;
			company = jstr(old, "company");
			allow = !strcmp(jstr(old, "allow_incidents"), "1");
			free(mapping);
			mapping = strdup(jstr(old, "ci_mapping"));
		}
		bool changed = old && (strcmp(jstr(old, "company"), company) ||
		                       strcmp(jstr(old, "ci_mapping"), mapping ? mapping : "") ||
		                       strcmp(jstr(old, "allow_incidents"), allow ? "1" : "0"));
		char status[16];
		snprintf(status, sizeof(status), "%s",
		         ns_rmm_next_status(in.state, old ? jstr(old, "status") : NULL, deleted,
		                            changed));
		sg_err e = mapping ? put_org(st, argv[0], id, jstr(r, "name"), company, mapping,
		                             allow, status, manual)
		                   : SG_ERR_NOMEM;
		free(mapping);
		json_decref(old);
		if (e) {
			json_decref(recs);
			return store_fail();
		}
		for (int k = 0; k < 5; k++)
			counts[k] += !strcmp(status, names[k]);
	}
	printf("%zu organizations: %d active, %d pending, %d in queue, %d deleted, %d inactive\n",
	       json_array_size(recs), counts[0], counts[1], counts[2], counts[3], counts[4]);
	json_decref(recs);
	/* Active: every organization syncs automatically, now. */
	if (!strcmp(in.state, "active") && !queue_only)
		return run_sync(st, argv[0], &in);
	return 0;
}

static int cmd_map(struct ns_state *st, int argc, char **argv)
{
	if (argc < 2) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	const char *company = NULL, *mapping = NULL, *allow = NULL;
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc) {
			usage_rmm();
			return NS_EXIT_USAGE;
		}
		if (!strcmp(argv[i], "--company"))
			company = argv[++i];
		else if (!strcmp(argv[i], "--ci-mapping"))
			mapping = argv[++i];
		else if (!strcmp(argv[i], "--allow-incidents"))
			allow = argv[++i];
		else {
			usage_rmm();
			return NS_EXIT_USAGE;
		}
	}
	if (!company || !id_ok(company) || !mapping || !allow ||
	    (strcmp(allow, "yes") && strcmp(allow, "no"))) {
		fprintf(stderr,
		        "nowsync: rmm map needs --company NAME, --ci-mapping ROLE=CLASS[,...] "
		        "and --allow-incidents yes|no\n");
		return NS_EXIT_USAGE;
	}
	char msg[300];
	json_t *map = ns_rmm_parse_ci_mapping(mapping, msg, sizeof(msg));
	if (!map) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_USAGE;
	}
	struct integration in;
	json_t *org = NULL;
	if (get_integration(st, argv[0], &in) || get_org(st, argv[0], argv[1], &org)) {
		json_decref(map);
		return store_fail();
	}
	int rc = NS_EXIT_FAILED;
	if (!strcmp(in.state, "active"))
		fprintf(stderr,
		        "nowsync: the integration on %s is active: every organization syncs "
		        "automatically, and manual mappings are not offered (make it inactive "
		        "to map organizations by hand)\n",
		        argv[0]);
	else if (!in.found || !strcmp(in.state, "disabled"))
		fprintf(stderr,
		        "nowsync: the integration on %s is not enabled: nowsync rmm integration "
		        "%s inactive\n",
		        argv[0], argv[0]);
	else if (!org)
		fprintf(stderr,
		        "nowsync: no organization %s: the product has not listed it (nowsync rmm "
		        "orgs)\n",
		        argv[1]);
	else if (!strcmp(jstr(org, "status"), NS_RMM_DELETED))
		fprintf(stderr, "nowsync: organization %s was deleted in the product\n", argv[1]);
	else {
		char *text = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
		if (!text || put_org(st, argv[0], argv[1], jstr(org, "name"), company, text,
		                     !strcmp(allow, "yes"), NS_RMM_PENDING, true))
			rc = store_fail();
		else {
			printf("Organization %s (%s) will sync to company %s with CI mapping %s, "
			       "incidents "
			       "%s: status %s until the next nowsync rmm sync.\n",
			       argv[1], jstr(org, "name"), company, mapping,
			       !strcmp(allow, "yes") ? "allowed" : "not allowed", NS_RMM_PENDING);
			rc = 0;
		}
		free(text);
	}
	json_decref(map);
	json_decref(org);
	return rc;
}

static int cmd_devices(struct ns_state *st, int argc, char **argv)
{
	if (argc != 2) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	json_t *recs;
	char msg[600];
	if (!read_ndjson(argv[1], &recs, msg, sizeof(msg))) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_USAGE;
	}
	size_t i;
	json_t *r;
	json_array_foreach(recs, i, r)
	{
		char b1[32], b2[32];
		const char *bad = !id_ok(member_text(r, "id", b1, sizeof(b1))) ? "id"
		                  : !id_ok(member_text(r, "organization", b2, sizeof(b2)))
		                      ? "organization"
		                  : !id_ok(json_string_value(json_object_get(r, "name"))) ? "name"
		                  : (json_object_get(r, "serial") &&
		                     !id_ok(json_string_value(json_object_get(r, "serial"))))
		                      ? "serial"
		                  : (json_object_get(r, "role") &&
		                     !id_ok(json_string_value(json_object_get(r, "role"))))
		                      ? "role"
		                      : NULL;
		if (bad) {
			fprintf(stderr, "nowsync: line %lld: %s is missing or malformed\n",
			        (long long)json_integer_value(json_object_get(r, "_line")), bad);
			json_decref(recs);
			return NS_EXIT_USAGE;
		}
	}
	json_array_foreach(recs, i, r)
	{
		char b1[32], b2[32], serial[160];
		const char *id = member_text(r, "id", b1, sizeof(b1));
		/* The IRE identifies hardware by serial number first: without one,
		 * the product's own device id stands in, so a rename never makes a
		 * second CI. */
		if (json_object_get(r, "serial"))
			snprintf(serial, sizeof(serial), "%s", jstr(r, "serial"));
		else
			snprintf(serial, sizeof(serial), "rmm-device-%s", id);
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q,
		           "INSERT INTO \"ns_rmm_device\" (\"connection\", \"device_id\", "
		           "\"org_id\", \"name\", \"serial\", \"role\", \"updated_at\") VALUES (");
		sg_sql_text(&q, argv[0]);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, id);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, member_text(r, "organization", b2, sizeof(b2)));
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, jstr(r, "name"));
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, serial);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, jstr(r, "role"));
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, sg_time_now());
		sg_sql_raw(
		    &q, ") ON CONFLICT (\"connection\", \"device_id\") DO UPDATE SET \"org_id\" = "
		        "excluded.\"org_id\", \"name\" = excluded.\"name\", \"serial\" = "
		        "excluded.\"serial\", \"role\" = excluded.\"role\", \"updated_at\" = "
		        "excluded.\"updated_at\"");
		if (exec(st, &q)) {
			json_decref(recs);
			return store_fail();
		}
	}
	printf("%zu devices recorded\n", json_array_size(recs));
	json_decref(recs);
	return 0;
}

static int cmd_sync(struct ns_state *st, int argc, char **argv)
{
	if (argc != 1) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	struct integration in;
	if (get_integration(st, argv[0], &in))
		return store_fail();
	return run_sync(st, argv[0], &in);
}

static sg_err drop(struct ns_state *st, const char *conn, const char *alert, const char *device,
                   const char *org, const char *reason)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(
	    &q, "INSERT INTO \"ns_rmm_dropped\" (\"seq\", \"connection\", \"alert_id\", "
	        "\"device_id\", \"org_id\", \"reason\", \"at\") SELECT COALESCE(MAX(\"seq\"), 0) "
	        "+ 1, ");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, alert);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, device);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, org);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, reason);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, sg_time_now());
	/* the number given, not SQLite's rowid alias: the same on PostgreSQL;
	 * in a write, so that processes sharing a database never take the same */
	sg_sql_raw(&q, " FROM \"ns_rmm_dropped\"");
	sg_conn *c = sg_store_conn(st->store);
	sg_err e = c ? sg_conn_begin(c, true) : SG_ERR_STORE;
	if (!e) {
		e = exec(st, &q);
		sg_err ce = sg_conn_commit(c);
		e = e ? e : ce;
	} else {
		sg_sql_cleanup(&q);
	}
	if (!e) {
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM \"ns_rmm_dropped\" WHERE \"connection\" = ");
		sg_sql_text(&q, conn);
		sg_sql_raw(&q, " AND \"seq\" <= (SELECT MAX(\"seq\") FROM \"ns_rmm_dropped\") - ");
		sg_sql_int(&q, DROPPED_KEPT);
		e = exec(st, &q);
	}
	return e;
}

/* Checks one alert: the field at fault, or NULL. */
static const char *alert_bad(json_t *r)
{
	char b1[32], b2[32];
	const char *status = jstr(r, "status");
	json_t *occ = json_object_get(r, "occurred_at"), *fields = json_object_get(r, "fields");
	return !json_is_object(r)                                                ? "body"
	       : !id_ok(member_text(r, "id", b1, sizeof(b1)))                    ? "id"
	       : !id_ok(member_text(r, "device", b2, sizeof(b2)))                ? "device"
	       : (strcmp(status, "firing") && strcmp(status, "resolved"))        ? "status"
	       : (occ && (!json_is_integer(occ) || json_integer_value(occ) < 0)) ? "occurred_at"
	       : (fields && !json_is_object(fields))                             ? "fields"
	       : (json_object_get(r, "summary") && !json_is_string(json_object_get(r, "summary")))
	           ? "summary"
	       : (json_object_get(r, "severity") && !json_is_string(json_object_get(r, "severity")))
	           ? "severity"
	           : NULL;
}

/* One checked alert of connection conn to an event of profile, or dropped
 * (with its reason kept): *result (new) says which.  SG_ERR_* only when the
 * state failed. */
static sg_err one_alert(struct ns_state *st, const char *conn, const char *profile, json_t *r,
                        json_t **result)
{
	char b1[32], b2[32], reason[300] = "";
	const char *alert = member_text(r, "id", b1, sizeof(b1));
	const char *device = member_text(r, "device", b2, sizeof(b2));
	*result = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT d.\"name\" AS \"device_name\", d.\"ci_sys_id\", d.\"org_id\", "
	               "o.\"name\" AS \"org_name\", o.\"status\", o.\"allow_incidents\", "
	               "o.\"company_sys_id\" FROM \"ns_rmm_device\" d LEFT JOIN \"ns_rmm_org\" o "
	               "ON o.\"connection\" = d.\"connection\" AND o.\"org_id\" = d.\"org_id\" "
	               "WHERE d.\"connection\" = ");
	sg_sql_text(&q, conn);
	sg_sql_raw(&q, " AND d.\"device_id\" = ");
	sg_sql_text(&q, device);
	json_t *rows;
	sg_err e = query(st, &q, &rows);
	if (e)
		return e;
	json_t *d = json_array_get(rows, 0);
	if (!d)
		snprintf(reason, sizeof(reason),
		         "device %s is unknown (not listed by nowsync rmm devices)", device);
	else if (strcmp(jstr(d, "status"), NS_RMM_ACTIVE))
		snprintf(reason, sizeof(reason), "organization %s is not synced (status %s)",
		         jstr(d, "org_id"), *jstr(d, "status") ? jstr(d, "status") : "unknown");
	else if (strcmp(jstr(d, "allow_incidents"), "1"))
		snprintf(reason, sizeof(reason), "organization %s does not allow incidents",
		         jstr(d, "org_id"));
	else if (strlen(jstr(d, "ci_sys_id")) != 32)
		snprintf(reason, sizeof(reason), "device %s has no CI yet (nowsync rmm sync)",
		         device);
	if (*reason) {
		e = drop(st, conn, alert, device, d ? jstr(d, "org_id") : NULL, reason);
		json_decref(rows);
		*result = e ? NULL
		            : json_pack("{s:s, s:s, s:s}", "alert", alert, "result", "dropped",
		                        "reason", reason);
		return e ? e : *result ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	json_t *fields =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "company", jstr(d, "company_sys_id"), "ci",
	              jstr(d, "ci_sys_id"), "device", jstr(d, "device_name"), "organization",
	              jstr(d, "org_name"), "device_id", device, "alert_id", alert);
	json_t *extra = json_object_get(r, "fields");
	if (fields && json_is_object(extra))
		json_object_set(fields, "product", extra);
	char key[300];
	snprintf(key, sizeof(key), "rmm:%s/%s", device, alert);
	struct ns_event ev = {
	    .connection = conn,
	    .profile = profile,
	    .key = key,
	    .status = !strcmp(jstr(r, "status"), "firing") ? NS_EVENT_FIRING : NS_EVENT_RESOLVED,
	    .summary = json_string_value(json_object_get(r, "summary")),
	    .severity = json_string_value(json_object_get(r, "severity")),
	    .fields = fields,
	    .occurred_at = json_integer_value(json_object_get(r, "occurred_at")),
	    .source = "rmm",
	};
	char id[33], emsg[300];
	bool dup = false;
	e = fields ? ns_event_accept(st, &ev, id, &dup, emsg, sizeof(emsg)) : SG_ERR_NOMEM;
	json_decref(fields);
	json_decref(rows);
	if (e == SG_ERR_BAD_PARAM)
		*result = json_pack("{s:s, s:s, s:s}", "alert", alert, "result", "refused", "error",
		                    emsg);
	else if (!e)
		*result = json_pack("{s:s, s:s, s:s}", "alert", alert, "result",
		                    dup ? "duplicate" : "accepted", "id", id);
	else
		return e;
	return *result ? SG_ERR_OK : SG_ERR_NOMEM;
}

static int cmd_alerts(struct ns_state *st, int argc, char **argv)
{
	if (argc != 2) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	struct integration in;
	if (get_integration(st, argv[0], &in))
		return store_fail();
	if (!in.found || !strcmp(in.state, "disabled") || !*in.profile) {
		fprintf(stderr,
		        "nowsync: the integration on %s is not enabled with a profile (nowsync "
		        "rmm integration %s active --profile P)\n",
		        argv[0], argv[0]);
		return NS_EXIT_FAILED;
	}
	json_t *recs;
	char msg[600];
	if (!read_ndjson(argv[1], &recs, msg, sizeof(msg))) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_USAGE;
	}
	size_t i;
	json_t *r;
	json_array_foreach(recs, i, r)
	{
		const char *bad = alert_bad(r);
		if (bad) {
			fprintf(stderr, "nowsync: line %lld: %s is missing or malformed\n",
			        (long long)json_integer_value(json_object_get(r, "_line")), bad);
			json_decref(recs);
			return NS_EXIT_USAGE;
		}
	}
	int counts[4] = {0}; /* accepted, duplicate, dropped, refused */
	static const char *const kinds[4] = {"accepted", "duplicate", "dropped", "refused"};
	json_array_foreach(recs, i, r)
	{
		json_t *res;
		if (one_alert(st, argv[0], in.profile, r, &res)) {
			json_decref(recs);
			return store_fail();
		}
		const char *kind = jstr(res, "result");
		for (int k = 0; k < 4; k++)
			counts[k] += !strcmp(kind, kinds[k]);
		if (*jstr(res, "reason"))
			fprintf(stderr, "nowsync: alert %s dropped: %s\n", jstr(res, "alert"),
			        jstr(res, "reason"));
		if (*jstr(res, "error"))
			fprintf(stderr, "nowsync: alert %s refused: %s\n", jstr(res, "alert"),
			        jstr(res, "error"));
		char *line = json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (line)
			puts(line);
		free(line);
		json_decref(res);
	}
	fprintf(stderr, "nowsync: %d accepted, %d duplicates, %d dropped, %d refused\n", counts[0],
	        counts[1], counts[2], counts[3]);
	json_decref(recs);
	return counts[3] ? NS_EXIT_FAILED : 0;
}

/* The answer's error body, ServiceNow's shape. */
static json_t *http_error(const char *message, const char *detail)
{
	return json_pack("{s:{s:s, s:s}, s:s}", "error", "message", message, "detail", detail,
	                 "status", "failure");
}

int ns_rmm_alerts_post(struct ns_state *st, const char *conn, json_t *root, json_t **answer)
{
	*answer = NULL;
	struct integration in;
	if (!conn || !*conn) {
		*answer =
		    http_error("Invalid alert", "the token must be bound to a connection (nowsync "
		                                "token create NAME --connection C)");
		return 400;
	}
	if (get_integration(st, conn, &in)) {
		*answer =
		    http_error("Service unavailable", "the state store cannot be read; try again");
		return 503;
	}
	if (!in.found || !strcmp(in.state, "disabled") || !*in.profile) {
		char why[300];
		snprintf(why, sizeof(why),
		         "the RMM integration on %s is not enabled with a profile (nowsync rmm "
		         "integration %s active --profile P)",
		         conn, conn);
		*answer = http_error("Invalid alert", why);
		return 409;
	}
	json_t *list = json_is_array(root) ? json_incref(root) : json_pack("[O]", root);
	if (!list || !json_array_size(list) || json_array_size(list) > 1000) {
		json_decref(list);
		*answer =
		    http_error("Invalid alert", "body: an alert or an array of 1-1000 alerts");
		return 400;
	}
	size_t i;
	json_t *r;
	json_array_foreach(list, i, r)
	{
		const char *bad = alert_bad(r);
		if (bad) {
			char why[200];
			snprintf(why, sizeof(why), "alerts[%zu].%s: missing or malformed", i, bad);
			json_decref(list);
			*answer = http_error("Invalid alert", why);
			return 400;
		}
	}
	json_t *results = json_array();
	int counts[4] = {0};
	static const char *const kinds[4] = {"accepted", "duplicate", "dropped", "refused"};
	json_array_foreach(list, i, r)
	{
		json_t *res = NULL;
		if (!results || one_alert(st, conn, in.profile, r, &res)) {
			json_decref(results);
			json_decref(list);
			*answer =
			    http_error("Service unavailable",
			               "the state store cannot be written; the alerts answered "
			               "before are kept: send again");
			return 503;
		}
		for (int k = 0; k < 4; k++)
			counts[k] += !strcmp(jstr(res, "result"), kinds[k]);
		json_array_append_new(results, res);
	}
	json_decref(list);
	*answer = json_pack("{s:s, s:i, s:i, s:i, s:i, s:o}", "status", "accepted", "accepted",
	                    counts[0], "duplicates", counts[1], "dropped", counts[2], "refused",
	                    counts[3], "results", results);
	return counts[3] ? 400 : 202;
}

static int cmd_list(struct ns_state *st, int argc, char **argv)
{
	bool as_json = argc == 2 && !strcmp(argv[1], "--json");
	if (argc < 1 || (argc == 2 && !as_json) || argc > 2) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	struct integration in;
	json_t *orgs = NULL, *drops = NULL, *devs = NULL;
	struct sg_sql q;
	if (get_integration(st, argv[0], &in) || list_orgs(st, argv[0], NULL, &orgs))
		return store_fail();
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"device_id\", \"org_id\", \"name\", \"serial\", \"role\", "
	               "\"ci_class\", \"ci_sys_id\", \"last_error\" FROM \"ns_rmm_device\" WHERE "
	               "\"connection\" = ");
	sg_sql_text(&q, argv[0]);
	sg_sql_raw(&q, " ORDER BY \"device_id\"");
	if (query(st, &q, &devs)) {
		json_decref(orgs);
		return store_fail();
	}
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"alert_id\", \"device_id\", \"org_id\", \"reason\", \"at\" FROM "
	               "\"ns_rmm_dropped\" WHERE \"connection\" = ");
	sg_sql_text(&q, argv[0]);
	sg_sql_raw(&q, " ORDER BY \"seq\"");
	if (query(st, &q, &drops)) {
		json_decref(orgs);
		json_decref(devs);
		return store_fail();
	}
	size_t i;
	json_t *o;
	json_array_foreach(orgs, i, o)
	{
		json_t *m = json_loads(jstr(o, "ci_mapping"), 0, NULL);
		json_object_set_new(o, "ci_mapping", m ? m : json_object());
		json_object_set_new(o, "allow_incidents",
		                    json_boolean(!strcmp(jstr(o, "allow_incidents"), "1")));
		json_object_set_new(o, "manual", json_boolean(!strcmp(jstr(o, "manual"), "1")));
		json_object_del(o, "connection");
		json_object_del(o, "updated_at");
	}
	if (as_json) {
		json_t *all = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "connection", argv[0],
		                        "integration", in.state, "profile", in.profile,
		                        "organizations", orgs, "devices", devs, "dropped", drops);
		char *text = all ? json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		if (text)
			puts(text);
		free(text);
		json_decref(all);
		return text ? 0 : NS_EXIT_FAILED;
	}
	printf("integration on %s: %s, profile %s\n", argv[0], in.state,
	       *in.profile ? in.profile : "-");
	printf("%-16s %-24s %-24s %-9s %-9s %s\n", "ORGANIZATION", "NAME", "COMPANY", "INCIDENTS",
	       "STATUS", "CI MAPPING");
	json_array_foreach(orgs, i, o)
	{
		char *m =
		    json_dumps(json_object_get(o, "ci_mapping"), JSON_COMPACT | JSON_SORT_KEYS);
		printf("%-16s %-24s %-24s %-9s %-9s %s\n", jstr(o, "org_id"), jstr(o, "name"),
		       jstr(o, "company"),
		       json_is_true(json_object_get(o, "allow_incidents")) ? "yes" : "no",
		       jstr(o, "status"), m ? m : "");
		if (*jstr(o, "last_error"))
			printf("  last error: %s\n", jstr(o, "last_error"));
		free(m);
	}
	printf("%zu devices, %zu alerts dropped\n", json_array_size(devs), json_array_size(drops));
	json_decref(orgs);
	json_decref(devs);
	json_decref(drops);
	return 0;
}

int ns_cmd_rmm(struct ns_state *st, int argc, char **argv)
{
	if (argc < 2) {
		usage_rmm();
		return NS_EXIT_USAGE;
	}
	const char *sub = argv[1];
	argc -= 2;
	argv += 2;
	return !strcmp(sub, "integration") ? cmd_integration(st, argc, argv)
	       : !strcmp(sub, "orgs")      ? cmd_orgs(st, argc, argv)
	       : !strcmp(sub, "map")       ? cmd_map(st, argc, argv)
	       : !strcmp(sub, "devices")   ? cmd_devices(st, argc, argv)
	       : !strcmp(sub, "sync")      ? cmd_sync(st, argc, argv)
	       : !strcmp(sub, "alerts")    ? cmd_alerts(st, argc, argv)
	       : !strcmp(sub, "list")      ? cmd_list(st, argc, argv)
	                                   : (usage_rmm(), NS_EXIT_USAGE);
}
