/*
 * diag.c - `nowsync connection test`: the connection checked step by step,
 * naming the first step that fails and what usually causes it, then the
 * capability matrix of the tables an integration needs.
 *
 *   dns, tcp, tls   the exchange itself (net/client.h names the step)
 *   instance        an unauthenticated Table API GET must answer with
 *                   ServiceNow's JSON (a 401 error envelope); an HTML page is
 *                   a hibernating instance, a login portal or not an instance
 *   credentials     the token request (OAuth grants) or a Basic GET
 *   api             one authenticated Table API GET: scope and REST API ACLs
 *   capabilities    read per table (GET, sysparm_limit=1); create and write
 *                   only with --probe-writes (a marked record created,
 *                   updated and deleted: ServiceNow has no dry run, and the
 *                   ACL records are not readable to the accounts that
 *                   matter, so the only honest test of a write is a write)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"
#include "nowsync/delivery.h"
#include "nowsync/nowsync.h"

#define MAX_CAUSES 8

enum step_state { ST_OK, ST_FAIL, ST_SKIP, ST_WARN };
static const char *const state_names[] = {"ok", "failed", "skipped", "warning"};

struct step {
	const char *name;
	enum step_state state;
	char detail[512];
	const char *causes[MAX_CAUSES];
	int ncauses;
};

enum { S_DNS, S_TCP, S_TLS, S_INSTANCE, S_CRED, S_API, S_CAP, S_PROFILES, S__N };
static const char *const step_names[S__N] = {"dns",         "tcp", "tls",          "instance",
                                             "credentials", "api", "capabilities", "profiles"};

/* ---- the tables an integration needs --------------------------------------------- */

enum op { OP_READ, OP_CREATE, OP_WRITE, OP__N };
static const char *const op_names[OP__N] = {"read", "create", "write"};

struct need {
	const char *table;
	const char *marker_field; /* the field a probe record is marked in */
	bool ops[OP__N];
	const char *grants[OP__N]; /* what would grant each operation */
};

/* The roles of ServiceNow's base ACLs (and nowd's) for each table. */
static const struct need needs[] = {
    {"incident",
     "short_description",
     {true, true, true},
     {"role itil (or snc_internal: own incidents only)", "role itil or sn_incident_write",
      "role itil or sn_incident_write"}},
    {"task",
     "short_description",
     {true, true, true},
     {"role itil, or a read ACL on task for one of the account's roles (incident.io: "
      "x_incident_io.api_user)",
      "role itil, or a create ACL on task for one of the account's roles (incident.io: "
      "x_incident_io.api_user)",
      "role itil, or a write ACL on task for one of the account's roles (incident.io: "
      "x_incident_io.api_user)"}},
    {"core_company",
     "name",
     {true, true, true},
     {"a read ACL on core_company (base: any internal user; admin)",
      "role admin or a create ACL on core_company", "role admin or a write ACL on core_company"}},
    {"customer_account",
     "name",
     {true, false, false},
     {"role sn_customerservice_agent (CSM plugin) or a read ACL on customer_account", NULL, NULL}},
    {"cmdb_ci", "name", {true, false, false}, {"role cmdb_read (or itil)", NULL, NULL}},
    {"cmdb_ci_computer", "name", {true, false, false}, {"role cmdb_read (or itil)", NULL, NULL}},
    {"cmdb_ci_server", "name", {true, false, false}, {"role cmdb_read (or itil)", NULL, NULL}},
    {"cmdb_ci_netgear", "name", {true, false, false}, {"role cmdb_read (or itil)", NULL, NULL}},
    {"sys_dictionary",
     NULL,
     {true, false, false},
     {"read ACLs on sys_dictionary and sys_dictionary.* for one of the account's roles "
      "(or admin)",
      NULL, NULL}},
    {"sys_choice",
     NULL,
     {true, false, false},
     {"a read ACL on sys_choice for one of the account's roles (or admin)", NULL, NULL}},
    {"sys_db_object",
     NULL,
     {true, false, false},
     {"read ACLs on sys_db_object and sys_db_object.* for one of the account's roles "
      "(or admin)",
      NULL, NULL}},
    {"sys_user",
     NULL,
     {true, false, false},
     {"a read ACL on sys_user (base: any user)", NULL, NULL}},
    {"sys_user_group",
     NULL,
     {true, false, false},
     {"a read ACL on sys_user_group (base: any user)", NULL, NULL}},
};

const char *ns_diag_grant(const char *table, const char *op)
{
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
		for (int o = 0; o < OP__N; o++)
			if (!strcmp(needs[i].table, table) && !strcmp(op_names[o], op))
				return needs[i].grants[o];
	return NULL;
}
#define NNEEDS    (sizeof(needs) / sizeof(needs[0]))
#define MAX_NEEDS (NNEEDS + NS_DIAG_MAX_PROFILES)

enum cap { CAP_NA, CAP_ALLOWED, CAP_REFUSED, CAP_ABSENT, CAP_NOT_PROBED, CAP_UNKNOWN };
static const char *const cap_names[] = {"-",      "allowed",    "refused",
                                        "absent", "not probed", "unknown"};

struct cap_row {
	enum cap cap[OP__N];
	char note[OP__N][256];
};

/* ---- helpers ----------------------------------------------------------------------- */

static void cause(struct step *s, const char *c)
{
	if (s->ncauses < MAX_CAUSES)
		s->causes[s->ncauses++] = c;
}

/* The "error" object's message and detail of a ServiceNow answer. */
static void sn_error(const struct sg_http_response *r, char *msg, size_t msz, char *det, size_t dsz)
{
	msg[0] = det[0] = '\0';
	json_t *j = json_loadb(sg_buf_str(&r->body), r->body.len, 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *m = json_string_value(json_object_get(e, "message"));
	const char *d = json_string_value(json_object_get(e, "detail"));
	snprintf(msg, msz, "%s", m ? m : "");
	snprintf(det, dsz, "%s", d ? d : "");
	json_decref(j);
}

static void net_fail(struct step *steps, sg_net_err ne, const struct sg_http_response *r,
                     const struct ns_connection *k, int *first, int *code, const char **diagnosis)
{
	int at;
	*diagnosis = ne == SG_NET_DNS                        ? "dns_failure"
	             : ne == SG_NET_CONNECT                  ? "connection_refused"
	             : ne == SG_NET_TLS || ne == SG_NET_CERT ? "tls_failure"
	             : ne == SG_NET_TIMEOUT                  ? "timeout"
	                                                     : "not_servicenow";
	switch (ne) {
	case SG_NET_DNS:
		at = S_DNS;
		*code = NS_EXIT_DNS;
		cause(&steps[at], "the host name is misspelt, or the instance does not exist (a "
		                  "retired or renamed instance)");
		cause(&steps[at], "this machine's DNS cannot resolve it (a split-horizon or "
		                  "internal name, no network)");
		if (k->proxy && *k->proxy)
			cause(&steps[at], "the proxy's own host name does not resolve");
		break;
	case SG_NET_CONNECT:
		at = S_TCP;
		*code = NS_EXIT_TCP;
		cause(&steps[at], "nothing listens on that port (wrong port, the server is down)");
		cause(&steps[at], "a firewall or IP allow-list drops or rejects the connection");
		cause(&steps[at],
		      "a proxy is needed here (--proxy), or the configured one is down");
		break;
	case SG_NET_TLS:
	case SG_NET_CERT:
		at = S_TLS;
		*code = NS_EXIT_TLS;
		if (ne == SG_NET_CERT) {
			cause(&steps[at],
			      "the certificate is self-signed or issued by a private CA: "
			      "give its CA bundle with --ca-file");
			cause(&steps[at],
			      "a TLS-inspecting proxy re-signs traffic: give its CA with "
			      "--ca-file");
			cause(&steps[at],
			      "the certificate does not name this host, or has expired");
		} else {
			cause(&steps[at],
			      "the server does not speak TLS on this port (try http://, or "
			      "another port)");
			cause(&steps[at], "no TLS version or cipher in common");
			cause(&steps[at], "a proxy or middlebox cut the handshake");
		}
		break;
	case SG_NET_TIMEOUT:
		at = S_TCP;
		*code = NS_EXIT_TIMEOUT;
		cause(&steps[at], "the instance or a proxy is too slow, or packets are dropped "
		                  "silently by a firewall");
		break;
	default:
		at = S_INSTANCE;
		*code = NS_EXIT_NOT_SERVICENOW;
		cause(&steps[at], "the server does not speak HTTP as expected (not an instance, or "
		                  "the wrong port)");
		break;
	}
	steps[at].state = ST_FAIL;
	snprintf(steps[at].detail, sizeof(steps[at].detail), "%s failed: %s%s%s",
	         sg_net_err_step(ne), r->errmsg, r->detail[0] ? ": " : "", r->detail);
	*first = at;
}

static void token_causes(struct step *s, enum ns_auth grant)
{
	s->ncauses = 0;
	cause(s, "wrong client id or client secret (a rotated secret retires the old one)");
	cause(s, "the OAuth application (Application Registry, oauth_entity) is inactive");
	switch (grant) {
	case NS_AUTH_PASSWORD:
		cause(s, "wrong user name or password");
		cause(s, "the user is inactive, locked out (failed logins), or must reset the "
		         "password");
		break;
	case NS_AUTH_CLIENT_CREDENTIALS:
		cause(s, "the client credentials grant is off: system property "
		         "glide.oauth.inbound.client.credential.grant_type.enabled must be true");
		cause(s, "the application has no OAuth application user, or that user is inactive "
		         "or locked out");
		break;
	default:
		cause(s, "the refresh token expired (refresh token lifespan) or was revoked");
		cause(s, "the user the token belongs to is inactive or locked out");
		break;
	}
	cause(s, "ServiceNow answers every one of these with the same 401 access_denied; the "
	         "instance's log has the real reason");
}

/*
 * Snowglobe's opt-in X-Snowglobe-Denial-Reason header (nowd sends it only
 * when snowglobe.oauth.reveal_denial_reason is true; ServiceNow never does):
 * the one cause behind the token refusal, by the code nowd names it with.
 * NULL for a code not known here (the full list of causes stays).
 */
static const struct {
	const char *code, *cause;
} revealed[] = {
    {"invalid_client", "wrong client id or client secret (a rotated secret retires the old "
                       "one): give the current ones (nowsync connection add, again)"},
    {"application_inactive",
     "the OAuth application (Application Registry, oauth_entity) is inactive: set it active"},
    {"client_credentials_disabled",
     "the client credentials grant is off: create or set the system property "
     "glide.oauth.inbound.client.credential.grant_type.enabled to true"},
    {"no_application_user", "the OAuth application has no OAuth application user: set one "
                            "(the account the client credentials grant runs as)"},
    {"application_user_inactive",
     "the OAuth application user is inactive (deactivated): set it active again"},
    {"application_user_locked_out",
     "the OAuth application user is locked out: unlock it (nowctl user unlock)"},
    {"oauth_inactive",
     "OAuth is not active on the instance (com.snc.platform.security.oauth.is.active)"},
    {"parameters_in_url", "the token request put parameters in the URL "
                          "(glide.oauth.allow.parameters.in.post.body.only)"},
    {"no_grant_type", "the token request had no grant_type"},
    {"no_client_authentication", "the token request had no client id and secret"},
    {"unsupported_grant_type", "the instance does not support this grant"},
    {"scope_not_granted", "the requested scope is not one of the application's auth scopes"},
    {"invalid_user_credentials",
     "wrong user name or password, or the user is inactive or locked out"},
    {"password_needs_reset", "the user must reset the password (password_needs_reset)"},
    {"web_service_only_user", "the password grant refuses web-service-only users here "
                              "(glide.oauth.password_grant.allow_web_service_only)"},
    {"invalid_refresh_token", "the refresh token expired or was revoked: add the connection "
                              "again with a new one"},
    {"user_inactive_or_locked_out", "the user the token belongs to is inactive or locked out"},
};

static const char *reveal_cause(struct step *s, const struct sg_http_response *r)
{
	const char *code = sg_http_response_header(r, "X-Snowglobe-Denial-Reason");
	for (size_t i = 0; code && i < sizeof(revealed) / sizeof(revealed[0]); i++)
		if (!strcmp(code, revealed[i].code)) {
			s->ncauses = 0;
			cause(s, revealed[i].cause);
			size_t l = strlen(s->detail);
			snprintf(s->detail + l, sizeof(s->detail) - l,
			         "; the instance names the cause (X-Snowglobe-Denial-Reason: %s)",
			         revealed[i].code);
			return revealed[i].code;
		}
	return NULL;
}

/*
 * A refused password grant hides whether the user or the client is at
 * fault; the same user and password over Basic auth tell them apart (one
 * more login attempt: it counts towards the user's lock-out like the token
 * request did).
 */
static void narrow_password(struct ns_conn *c, struct sg_http_client *http, struct step *s)
{
	struct sg_buf url;
	struct sg_http_response r;
	sg_buf_init(&url, 8192);
	sg_http_response_init(&r);
	sg_buf_printf(&url, "%s/api/now/table/sys_user?sysparm_limit=1&sysparm_fields=sys_id",
	              c->cfg.instance);
	static const struct sg_kv accept[] = {{"Accept", "application/json"}};
	struct sg_http_request req = {.url = sg_buf_str(&url),
	                              .headers = accept,
	                              .n_headers = 1,
	                              .user = c->cfg.user,
	                              .password = c->cfg.password};
	if (!sg_buf_failed(&url) && sg_http_client_do(http, &req, &r) == SG_NET_OK &&
	    ns_looks_like_servicenow(sg_buf_str(&r.body), r.body.len)) {
		s->ncauses = 0;
		if (r.status == 401) {
			cause(s,
			      "the user name and password are refused with basic auth too: wrong "
			      "user name or password, or the user is inactive or locked out");
			cause(
			    s,
			    "(the client id and secret may be wrong as well: fix the user first)");
		} else {
			cause(s,
			      "the user name and password are good (basic auth accepted them): the "
			      "client id or client secret is wrong, or the OAuth application is "
			      "inactive");
			cause(s,
			      "or the user must reset the password (password_needs_reset refuses "
			      "OAuth logins)");
		}
	}
	sg_buf_cleanup(&url);
	sg_http_response_cleanup(&r);
}

/* ---- capability probes -------------------------------------------------------------- */

static bool get_json_sysid(const struct sg_http_response *r, char *out, size_t sz)
{
	json_t *j = json_loadb(sg_buf_str(&r->body), r->body.len, 0, NULL);
	const char *id = json_string_value(json_object_get(json_object_get(j, "result"), "sys_id"));
	bool ok = id && strlen(id) < sz;
	if (ok)
		snprintf(out, sz, "%s", id);
	json_decref(j);
	return ok;
}

static void refusal_note(char *note, size_t sz, const struct sg_http_response *r, const char *grant)
{
	char msg[160], det[200];
	sn_error(r, msg, sizeof(msg), det, sizeof(det));
	/* Each part is cut so that the whole fits a note (256 bytes). */
	snprintf(note, sz, "HTTP %d %.50s%s%.110s; granted by %.60s", r->status, msg,
	         det[0] ? ": " : "", det, grant ? grant : "an ACL for this operation");
}

static void probe(struct ns_conn *c, struct sg_http_client *http, const struct need *n, bool writes,
                  struct cap_row *row)
{
	struct sg_http_response r;
	struct ns_error err;
	char path[512];
	sg_http_response_init(&r);
	for (int o = 0; o < OP__N; o++)
		row->cap[o] = n->ops[o] ? (writes ? CAP_UNKNOWN : CAP_NOT_PROBED) : CAP_NA;
	snprintf(path, sizeof(path), "/api/now/table/%s?sysparm_limit=1&sysparm_fields=sys_id",
	         n->table);
	if (!ns_conn_request(c, http, "GET", path, NULL, &r, &err)) {
		row->cap[OP_READ] = CAP_UNKNOWN;
		snprintf(row->note[OP_READ], sizeof(row->note[0]), "%.250s", err.msg);
		goto out;
	}
	char msg[160], det[200];
	sn_error(&r, msg, sizeof(msg), det, sizeof(det));
	if (r.status == 200) {
		row->cap[OP_READ] = CAP_ALLOWED;
		json_t *j = json_loadb(sg_buf_str(&r.body), r.body.len, 0, NULL);
		if (json_array_size(json_object_get(j, "result")) == 0)
			snprintf(row->note[OP_READ], sizeof(row->note[0]),
			         "no row visible (none, or every row hidden by record ACLs)");
		json_decref(j);
	} else if (r.status == 400 && !strncmp(msg, "Invalid table", 13)) {
		for (int o = 0; o < OP__N; o++)
			if (n->ops[o])
				row->cap[o] = CAP_ABSENT;
		snprintf(row->note[OP_READ], sizeof(row->note[0]),
		         "no such table on this instance (its plugin is not installed)");
		goto out;
	} else if (r.status == 403 || r.status == 401) {
		row->cap[OP_READ] = CAP_REFUSED;
		refusal_note(row->note[OP_READ], sizeof(row->note[0]), &r, n->grants[OP_READ]);
	} else {
		row->cap[OP_READ] = CAP_UNKNOWN;
		snprintf(row->note[OP_READ], sizeof(row->note[0]), "HTTP %d %s", r.status, msg);
	}
	if (!writes || !n->ops[OP_CREATE] || !n->marker_field)
		goto out;

	/* create: a record marked as the probe's, then write it, then delete it */
	char mark[96], tok[17], body[256], sys_id[64];
	sg_random_token(tok, sizeof(tok), 8);
	snprintf(mark, sizeof(mark), "nowsync capability probe %s (safe to delete)", tok);
	json_t *jb = json_pack("{s:s}", n->marker_field, mark);
	char *jbody = jb ? json_dumps(jb, JSON_COMPACT) : NULL;
	json_decref(jb);
	snprintf(path, sizeof(path), "/api/now/table/%s?sysparm_fields=sys_id", n->table);
	bool sent = jbody && ns_conn_request(c, http, "POST", path, jbody, &r, &err);
	free(jbody);
	if (!sent) {
		snprintf(row->note[OP_CREATE], sizeof(row->note[0]), "%.250s", err.msg);
		goto out;
	}
	if (r.status != 201 || !get_json_sysid(&r, sys_id, sizeof(sys_id))) {
		sn_error(&r, msg, sizeof(msg), det, sizeof(det));
		if (r.status == 403 && strstr(det, "Data Policy")) {
			row->cap[OP_CREATE] = CAP_ALLOWED;
			snprintf(row->note[OP_CREATE], sizeof(row->note[0]),
			         "the ACLs allow it; a data policy refused the bare probe record");
		} else if (r.status == 403 || r.status == 401) {
			row->cap[OP_CREATE] = CAP_REFUSED;
			refusal_note(row->note[OP_CREATE], sizeof(row->note[0]), &r,
			             n->grants[OP_CREATE]);
		} else {
			snprintf(row->note[OP_CREATE], sizeof(row->note[0]), "HTTP %d %s", r.status,
			         msg);
		}
		snprintf(row->note[OP_WRITE], sizeof(row->note[0]),
		         "no probe record to write (create did not succeed)");
		goto out;
	}
	row->cap[OP_CREATE] = CAP_ALLOWED;
	snprintf(body, sizeof(body), "{\"%s\":\"%s, updated\"}", n->marker_field, mark);
	snprintf(path, sizeof(path), "/api/now/table/%s/%s?sysparm_fields=sys_id", n->table,
	         sys_id);
	if (ns_conn_request(c, http, "PATCH", path, body, &r, &err)) {
		if (r.status == 200) {
			row->cap[OP_WRITE] = CAP_ALLOWED;
		} else if (r.status == 403 || r.status == 401) {
			row->cap[OP_WRITE] = CAP_REFUSED;
			refusal_note(row->note[OP_WRITE], sizeof(row->note[0]), &r,
			             n->grants[OP_WRITE]);
		} else {
			snprintf(row->note[OP_WRITE], sizeof(row->note[0]), "HTTP %d", r.status);
		}
	} else {
		snprintf(row->note[OP_WRITE], sizeof(row->note[0]), "%.250s", err.msg);
	}
	snprintf(path, sizeof(path), "/api/now/table/%s/%s", n->table, sys_id);
	if (!ns_conn_request(c, http, "DELETE", path, NULL, &r, &err) || r.status != 204) {
		size_t l = strlen(row->note[OP_CREATE]);
		snprintf(
		    row->note[OP_CREATE] + l, sizeof(row->note[0]) - l,
		    "%sthe probe record %s/%s could not be deleted (HTTP %d: the account may not "
		    "delete); it is marked \"%s\": an admin may delete it",
		    l ? "; " : "", n->table, sys_id, r.status, mark);
	}
out:
	sg_http_response_cleanup(&r);
}

/* ---- the tables and checks of the profiles given (--profile) ---------------------------- */

/* What grants the ticket tables in ServiceNow's base ACLs (and nowd's). */
static void table_grants(const char *table, const char *g[OP__N])
{
	for (size_t t = 0; t < NNEEDS; t++)
		if (!strcmp(needs[t].table, table) && needs[t].ops[OP_CREATE]) {
			memcpy(g, needs[t].grants, sizeof(needs[t].grants));
			return;
		}
	if (!strcmp(table, "change_request")) {
		g[OP_READ] = "role itil (or sn_change_read)";
		g[OP_CREATE] = g[OP_WRITE] = "role itil or sn_change_write";
	} else {
		g[OP_READ] = g[OP_CREATE] = g[OP_WRITE] = NULL;
	}
}

static void add_need(struct need *nd, size_t *nn, const struct need *n)
{
	for (size_t i = 0; i < *nn; i++)
		if (!strcmp(nd[i].table, n->table))
			return;
	if (*nn < MAX_NEEDS)
		nd[(*nn)++] = *n;
}

/*
 * With --profile: the matrix is what those profiles need, not every table an
 * integration may: each profile's table (read, create, write), the groups
 * (read: the default assignment group is looked up by name) and the
 * dictionary tables (read: every record is validated against them).  A
 * profile that does not load is reported in the profiles step (perr).
 */
static size_t profile_needs(const struct ns_diag_opts *o, struct ns_profile *profs, int *nprof,
                            struct need *nd, char *perr, size_t perrsz)
{
	size_t nn = 0;
	for (int i = 0; i < o->nprofiles && i < NS_DIAG_MAX_PROFILES; i++) {
		char msg[400] = "";
		if (ns_profile_load(o->profiles[i], &profs[*nprof], msg, sizeof(msg))) {
			if (!*perr)
				snprintf(perr, perrsz, "profile %.100s: %.380s", o->profiles[i],
				         msg);
			continue;
		}
		struct need n = {.table = profs[*nprof].table,
		                 .marker_field = "short_description",
		                 .ops = {true, true, true}};
		table_grants(n.table, n.grants);
		add_need(nd, &nn, &n);
		(*nprof)++;
	}
	for (size_t t = 0; t < NNEEDS; t++)
		if (!strcmp(needs[t].table, "sys_user_group") ||
		    !strcmp(needs[t].table, "sys_db_object") ||
		    !strcmp(needs[t].table, "sys_dictionary") ||
		    !strcmp(needs[t].table, "sys_choice"))
			add_need(nd, &nn, &needs[t]);
	return nn;
}

/* The profiles step: each profile loads, and its default assignment group
 * exists on the instance (as the account sees sys_user_group). */
static void check_profiles(struct ns_conn *c, struct sg_http_client *http,
                           const struct ns_diag_opts *o, const struct ns_profile *profs, int nprof,
                           const char *perr, struct step *s, int *first, int *code,
                           const char **diagnosis)
{
	s->state = ST_OK;
	if (*perr) {
		s->state = ST_FAIL;
		snprintf(s->detail, sizeof(s->detail), "%s", perr);
		cause(s, "fix the profile (nowsync profile show NAME names the member)");
		*diagnosis = "profile_invalid";
		goto failed;
	}
	for (int i = 0; i < nprof; i++) {
		const char *g =
		    json_string_value(json_object_get(profs[i].defaults, "assignment_group"));
		if (!g || !*g || strstr(g, "{{"))
			continue;
		json_t *body = json_pack("{s:s}", "assignment_group", g), *errs = json_array();
		int nreq = 0;
		bool ok = body && errs && ns_resolve_group(c, http, body, errs, &nreq);
		const char *why = json_string_value(json_array_get(errs, 0));
		if (!ok) {
			s->state = ST_FAIL;
			snprintf(s->detail, sizeof(s->detail), "profile %.64s: %.400s",
			         profs[i].name,
			         why ? why : "the assignment group could not be looked up");
			cause(s,
			      "the default assignment group does not exist on the instance, or "
			      "is named differently: create the group (sys_user_group) or change "
			      "the profile's defaults.assignment_group");
			cause(s, "or the account may not read it (a read ACL on sys_user_group)");
			*diagnosis = why ? "assignment_group_missing" : "profile_check_failed";
		}
		json_decref(body);
		json_decref(errs);
		if (!ok)
			goto failed;
	}
	snprintf(s->detail, sizeof(s->detail),
	         "%d profile%s checked: the default assignment "
	         "groups exist",
	         o->nprofiles, o->nprofiles == 1 ? "" : "s");
	return;
failed:
	*first = S_PROFILES;
	*code = NS_EXIT_PROFILE;
}

/* ---- output -------------------------------------------------------------------------- */

static void print_text(FILE *out, const struct ns_conn *c, const struct step *steps, int first,
                       const struct need *nd, size_t nn, const struct cap_row *rows, bool have_rows,
                       const char *diagnosis)
{
	fprintf(out, "connection %s: %s (%s)\n", c->cfg.name, c->cfg.instance,
	        ns_auth_name(c->cfg.auth));
	for (int i = 0; i < S__N; i++) {
		const struct step *s = &steps[i];
		fprintf(out, "  %-12s %-8s %s\n", s->name, state_names[s->state], s->detail);
		for (int k = 0; k < s->ncauses; k++)
			fprintf(out, "      - %s\n", s->causes[k]);
	}
	if (have_rows) {
		fprintf(out, "\n  %-18s %-11s %-11s %-11s\n", "table", "read", "create", "write");
		for (size_t t = 0; t < nn; t++)
			fprintf(out, "  %-18s %-11s %-11s %-11s\n", nd[t].table,
			        cap_names[rows[t].cap[0]], cap_names[rows[t].cap[1]],
			        cap_names[rows[t].cap[2]]);
		for (size_t t = 0; t < nn; t++)
			for (int o = 0; o < OP__N; o++)
				if (rows[t].note[o][0])
					fprintf(out, "    %s %s: %s\n", nd[t].table, op_names[o],
					        rows[t].note[o]);
	}
	if (diagnosis)
		fprintf(out, "DIAGNOSIS: %s\n", diagnosis);
	if (first >= 0)
		fprintf(out, "FAILED at step %s: %s\n", steps[first].name, steps[first].detail);
	else
		fprintf(out, "OK\n");
}

static int print_json(FILE *out, const struct ns_conn *c, const struct step *steps, int first,
                      const struct need *nd, size_t nn, const struct cap_row *rows, bool have_rows,
                      int code, const char *diagnosis)
{
	json_t *root = json_object(), *jsteps = json_array(), *caps = json_object();
	if (!root || !jsteps || !caps)
		goto nomem;
	json_object_set_new(root, "connection", json_string(c->cfg.name));
	json_object_set_new(root, "instance", json_string(c->cfg.instance));
	json_object_set_new(root, "auth", json_string(ns_auth_name(c->cfg.auth)));
	json_object_set_new(root, "ok", json_boolean(first < 0));
	json_object_set_new(root, "failed_step",
	                    first < 0 ? json_null() : json_string(steps[first].name));
	json_object_set_new(root, "exit_status", json_integer(code));
	json_object_set_new(root, "diagnosis", diagnosis ? json_string(diagnosis) : json_null());
	for (int i = 0; i < S__N; i++) {
		json_t *s =
		    json_pack("{s:s, s:s, s:s, s:[]}", "step", steps[i].name, "state",
		              state_names[steps[i].state], "detail", steps[i].detail, "causes");
		if (!s)
			goto nomem;
		for (int k = 0; k < steps[i].ncauses; k++)
			json_array_append_new(json_object_get(s, "causes"),
			                      json_string(steps[i].causes[k]));
		json_array_append_new(jsteps, s);
	}
	json_object_set_new(root, "steps", jsteps);
	jsteps = NULL;
	for (size_t t = 0; have_rows && t < nn; t++) {
		json_t *row = json_object();
		if (!row)
			goto nomem;
		for (int o = 0; o < OP__N; o++) {
			if (rows[t].cap[o] == CAP_NA)
				continue;
			json_t *cell = json_pack("{s:s}", "state", cap_names[rows[t].cap[o]]);
			if (cell && rows[t].note[o][0])
				json_object_set_new(cell, "note", json_string(rows[t].note[o]));
			if (cell && rows[t].cap[o] == CAP_REFUSED && nd[t].grants[o])
				json_object_set_new(cell, "granted_by",
				                    json_string(nd[t].grants[o]));
			json_object_set_new(row, op_names[o], cell);
		}
		json_object_set_new(caps, nd[t].table, row);
	}
	json_object_set_new(root, "capabilities", caps);
	caps = NULL;
	char *text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text)
		return NS_EXIT_FAILED;
	fprintf(out, "%s\n", text);
	free(text);
	return code;
nomem:
	json_decref(root);
	json_decref(jsteps);
	json_decref(caps);
	return NS_EXIT_FAILED;
}

/* ---- the run --------------------------------------------------------------------------- */

int ns_diag_run(struct ns_conn *c, const struct ns_diag_opts *o, FILE *out)
{
	const struct ns_connection *k = &c->cfg;
	struct step steps[S__N];
	memset(steps, 0, sizeof(steps));
	for (int i = 0; i < S__N; i++) {
		steps[i].name = step_names[i];
		steps[i].state = ST_SKIP;
	}
	struct cap_row rows[MAX_NEEDS];
	struct need pneeds[MAX_NEEDS];
	const struct need *nd = needs;
	size_t nn = NNEEDS;
	struct ns_profile profs[NS_DIAG_MAX_PROFILES];
	int nprof = 0;
	char perr[512] = "";
	if (o->nprofiles > 0) {
		nd = pneeds;
		nn = profile_needs(o, profs, &nprof, pneeds, perr, sizeof(perr));
	}
	memset(rows, 0, sizeof(rows));
	bool have_rows = false;
	int first = -1, code = NS_EXIT_OK;
	const char *diagnosis = NULL;
	struct sg_http_client *http = ns_conn_http(c, 1); /* one attempt: each step as it is */
	struct sg_http_response r;
	struct ns_error err;
	sg_http_response_init(&r);
	if (!http) {
		fprintf(stderr, "nowsync: out of memory\n");
		for (int i = 0; i < nprof; i++)
			ns_profile_clear(&profs[i]);
		return NS_EXIT_FAILED;
	}
	bool https = !strncmp(k->instance, "https://", 8);

	/* dns, tcp, tls, instance: one unauthenticated GET */
	struct sg_buf url;
	sg_buf_init(&url, 8192);
	sg_buf_printf(&url, "%s/api/now/table/sys_user?sysparm_limit=1", k->instance);
	static const struct sg_kv accept[] = {{"Accept", "application/json"}};
	struct sg_http_request req = {.url = sg_buf_str(&url), .headers = accept, .n_headers = 1};
	sg_net_err ne = sg_buf_failed(&url) ? SG_NET_NOMEM : sg_http_client_do(http, &req, &r);
	sg_buf_cleanup(&url);
	if (ne) {
		net_fail(steps, ne, &r, k, &first, &code, &diagnosis);
		for (int i = 0; i < first; i++)
			steps[i].state = ST_OK;
		if (first > S_TLS && !https)
			steps[S_TLS].state = ST_SKIP;
		goto done;
	}
	steps[S_DNS].state = steps[S_TCP].state = ST_OK;
	snprintf(steps[S_DNS].detail, sizeof(steps[0].detail), "the host name resolves%s",
	         k->proxy && *k->proxy ? " (through the proxy)" : "");
	snprintf(steps[S_TCP].detail, sizeof(steps[0].detail), "connected");
	if (https) {
		steps[S_TLS].state = k->insecure ? ST_WARN : ST_OK;
		snprintf(steps[S_TLS].detail, sizeof(steps[0].detail), "%s",
		         k->insecure ? "INSECURE: the certificate is NOT verified (--insecure)"
		                     : "the certificate is valid for this host");
	} else {
		steps[S_TLS].state = ST_WARN;
		snprintf(steps[S_TLS].detail, sizeof(steps[0].detail),
		         "plain http: credentials and tokens travel unencrypted");
	}
	if (!ns_looks_like_servicenow(sg_buf_str(&r.body), r.body.len)) {
		first = S_INSTANCE;
		code = NS_EXIT_NOT_SERVICENOW;
		diagnosis = "not_servicenow";
		steps[S_INSTANCE].state = ST_FAIL;
		const char *ct = sg_http_response_header(&r, "Content-Type");
		snprintf(steps[S_INSTANCE].detail, sizeof(steps[0].detail),
		         "GET /api/now/table/sys_user answered HTTP %d %s, not ServiceNow's JSON",
		         r.status, ct ? ct : "(no Content-Type)");
		if (ct && strstr(ct, "html"))
			cause(&steps[S_INSTANCE],
			      "the instance is hibernating (developer instances sleep when unused: "
			      "wake it from the developer portal), or under maintenance");
		cause(&steps[S_INSTANCE],
		      "the URL is not the instance's (a portal, an SSO or proxy "
		      "login page, a load balancer's default page)");
		cause(&steps[S_INSTANCE], "the URL has a path: give the instance's base URL only");
		goto done;
	}
	steps[S_INSTANCE].state = ST_OK;
	snprintf(steps[S_INSTANCE].detail, sizeof(steps[0].detail),
	         "a ServiceNow Table API answered (HTTP %d without credentials)", r.status);

	/* credentials */
	if (k->auth == NS_AUTH_BASIC) {
		snprintf(steps[S_CRED].detail, sizeof(steps[0].detail), "basic auth as %s",
		         k->user);
	} else {
		enum ns_auth grant = k->auth;
		ne = ns_token_post(c, http, grant, &r);
		if (ne) {
			net_fail(steps, ne, &r, k, &first, &code, &diagnosis);
			goto done;
		}
		if (r.status == 200 && ns_conn_set_token(c, sg_buf_str(&r.body), r.body.len)) {
			steps[S_CRED].state = ST_OK;
			json_t *j = json_loadb(sg_buf_str(&r.body), r.body.len, 0, NULL);
			const char *scope = json_string_value(json_object_get(j, "scope"));
			snprintf(steps[S_CRED].detail, sizeof(steps[0].detail),
			         "the %s grant gave a token (scope \"%s\", expires in %lld s)",
			         ns_auth_name(grant), scope ? scope : "",
			         (long long)json_integer_value(json_object_get(j, "expires_in")));
			json_decref(j);
		} else if (!ns_looks_like_servicenow(sg_buf_str(&r.body), r.body.len)) {
			first = S_CRED;
			code = NS_EXIT_NOT_SERVICENOW;
			steps[S_CRED].state = ST_FAIL;
			snprintf(steps[S_CRED].detail, sizeof(steps[0].detail),
			         "/oauth_token.do answered HTTP %d without JSON", r.status);
			diagnosis = "token_endpoint_not_json";
			cause(&steps[S_CRED], "OAuth is not active on the instance "
			                      "(com.snc.platform.security.oauth.is.active)");
			cause(&steps[S_CRED], "a proxy or portal answers instead of the instance");
			goto done;
		} else {
			first = S_CRED;
			code = NS_EXIT_TOKEN;
			steps[S_CRED].state = ST_FAIL;
			snprintf(
			    steps[S_CRED].detail, sizeof(steps[0].detail),
			    "the token was refused: /oauth_token.do answered HTTP %d (%s grant)",
			    r.status, ns_auth_name(grant));
			token_causes(&steps[S_CRED], grant);
			diagnosis = reveal_cause(&steps[S_CRED], &r);
			if (!diagnosis) {
				diagnosis = "token_refused";
				if (grant == NS_AUTH_PASSWORD)
					narrow_password(c, http, &steps[S_CRED]);
			}
			goto done;
		}
	}

	/* api: one authenticated Table API GET */
	bool sent = ns_conn_request(c, http, "GET",
	                            "/api/now/table/incident?sysparm_limit=1&"
	                            "sysparm_fields=sys_id",
	                            NULL, &r, &err);
	if (!sent && err.fail == NS_FAIL_NET) {
		net_fail(steps, err.net, &r, k, &first, &code, &diagnosis);
		goto done;
	}
	if (k->auth == NS_AUTH_BASIC) {
		if (r.status == 401) {
			first = S_CRED;
			code = NS_EXIT_BASIC;
			steps[S_CRED].state = ST_FAIL;
			diagnosis = "basic_refused";
			snprintf(steps[S_CRED].detail, sizeof(steps[0].detail),
			         "basic auth as %s was refused (HTTP 401)", k->user);
			if (sg_http_response_header(&r, "X-MFA_TOKEN"))
				cause(&steps[S_CRED],
				      "multi-factor authentication is enforced for this "
				      "user: use OAuth instead");
			cause(&steps[S_CRED], "wrong user name or password");
			cause(&steps[S_CRED], "the user is inactive");
			cause(&steps[S_CRED], "the user is locked out (too many failed logins: "
			                      "glide.user.max_unlock_attempts)");
			goto done;
		}
		steps[S_CRED].state = ST_OK;
	}
	if (!sent && err.fail == NS_FAIL_TOKEN) {
		first = S_CRED;
		code = NS_EXIT_TOKEN;
		steps[S_CRED].state = ST_FAIL;
		snprintf(steps[S_CRED].detail, sizeof(steps[0].detail), "%s", err.msg);
		token_causes(&steps[S_CRED], k->auth);
		diagnosis = "token_refused";
		goto done;
	}
	char msg[160], det[200];
	sn_error(&r, msg, sizeof(msg), det, sizeof(det));
	if (r.status == 403 && strstr(det, "Missing required api access scope")) {
		first = S_API;
		code = NS_EXIT_SCOPE;
		diagnosis = "scope_missing";
		steps[S_API].state = ST_FAIL;
		snprintf(steps[S_API].detail, sizeof(steps[0].detail),
		         "the Table API refused the token: 403 %s: %s", msg, det);
		cause(&steps[S_API],
		      "the Table API is protected by a REST API auth scope the OAuth "
		      "application does not have: attach that scope "
		      "(sys_api_access_scope) to the application, or use useraccount");
		cause(&steps[S_API], "the REST API access policy names other scopes");
		goto done;
	}
	if (r.status == 403 && strstr(det, "API level ACL")) {
		first = S_API;
		code = NS_EXIT_API;
		diagnosis = "rest_api_acl";
		steps[S_API].state = ST_FAIL;
		snprintf(steps[S_API].detail, sizeof(steps[0].detail),
		         "the Table API refused the account: 403 %s: %s", msg, det);
		cause(&steps[S_API], "the REST API ACLs are active and the account lacks role "
		                     "snc_platform_rest_api_access (itil contains it)");
		goto done;
	}
	if (!sent || r.status == 401) {
		first = S_API;
		code = NS_EXIT_API;
		diagnosis = "token_rejected";
		steps[S_API].state = ST_FAIL;
		snprintf(steps[S_API].detail, sizeof(steps[0].detail), "%s",
		         !sent ? err.msg : "the Table API refused the credentials (HTTP 401)");
		cause(&steps[S_API], "the user (or the OAuth application user) was deactivated or "
		                     "locked out after the token was issued");
		cause(&steps[S_API], "the OAuth application was deactivated: its tokens stop "
		                     "working at once");
		goto done;
	}
	if (r.status == 429 || r.status >= 500) {
		first = S_API;
		code = NS_EXIT_API;
		diagnosis = r.status == 429 ? "rate_limited" : "instance_failing";
		steps[S_API].state = ST_FAIL;
		const char *ra = sg_http_response_header(&r, "Retry-After");
		snprintf(steps[S_API].detail, sizeof(steps[0].detail),
		         "the Table API answered HTTP %d %s%s%s", r.status, msg,
		         ra ? ", Retry-After " : "", ra ? ra : "");
		if (r.status == 429)
			cause(&steps[S_API],
			      "a rate limit rule (sys_rate_limit_rules) covers this "
			      "account: wait for the hour's window, or raise the limit");
		else
			cause(&steps[S_API],
			      "the instance is failing or busy (upgrade, maintenance, "
			      "overload): try again later");
		goto done;
	}
	steps[S_API].state = ST_OK;
	snprintf(steps[S_API].detail, sizeof(steps[0].detail),
	         "the Table API accepts the credentials (GET incident: HTTP %d)", r.status);

	/* capabilities */
	have_rows = true;
	int refused = 0, role_refused = 0;
	for (size_t t = 0; t < nn; t++) {
		probe(c, http, &nd[t], o->probe_writes, &rows[t]);
		if (nd[t].marker_field && !strcmp(nd[t].marker_field, "short_description"))
			for (int op = 0; op < OP__N; op++)
				role_refused += rows[t].cap[op] == CAP_REFUSED;
		for (int op = 0; op < OP__N; op++)
			refused += rows[t].cap[op] == CAP_REFUSED;
	}
	steps[S_CAP].state = refused ? ST_FAIL : ST_OK;
	snprintf(steps[S_CAP].detail, sizeof(steps[0].detail), "%d operation%s refused%s", refused,
	         refused == 1 ? "" : "s",
	         o->probe_writes ? "" : " (reads only; --probe-writes to test create and write)");
	int scope_refused = 0;
	for (size_t t = 0; t < nn; t++)
		for (int op = 0; op < OP__N; op++)
			scope_refused += rows[t].cap[op] == CAP_REFUSED &&
			                 strstr(rows[t].note[op], "api access scope");
	if (scope_refused) {
		/* the scope covers the Table API for some methods only */
		first = S_CAP;
		code = NS_EXIT_SCOPE;
		diagnosis = "scope_missing";
		cause(&steps[S_CAP],
		      "an auth scope covers the Table API for some HTTP methods only, and the "
		      "OAuth application lacks one for the others: make the scope apply to all "
		      "methods, or attach one that covers them");
		goto done;
	}
	if (refused) {
		first = S_CAP;
		code = NS_EXIT_CAPABILITY;
		/* the ticket tables refused: the account lacks its roles (itil); else
		 * an ACL of a table around them */
		diagnosis = role_refused ? "roles_missing" : "acl_refused";
		if (role_refused)
			cause(&steps[S_CAP], "the account lacks the roles its tickets need (itil): "
			                     "grant them to the user (the OAuth application user)");
		cause(&steps[S_CAP],
		      "each refusal below names the role or ACL that would grant it");
		goto done;
	}
	if (o->nprofiles > 0)
		check_profiles(c, http, o, profs, nprof, perr, &steps[S_PROFILES], &first, &code,
		               &diagnosis);
done:
	sg_http_response_cleanup(&r);
	sg_http_client_free(http);
	/* the matrix borrows the profiles' table names: cleared after printing */
	if (o->json)
		code = print_json(out, c, steps, first, nd, nn, rows, have_rows, code, diagnosis);
	else
		print_text(out, c, steps, first, nd, nn, rows, have_rows, diagnosis);
	for (int i = 0; i < nprof; i++)
		ns_profile_clear(&profs[i]);
	return code;
}
