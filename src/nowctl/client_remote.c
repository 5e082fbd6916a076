/*
 * client_remote.c - nowctl acting on a running instance through its Table
 * API, with the HTTP client of src/net.  Requests ask for raw values
 * without reference links, so records look as they do offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "net/client.h"
#include "nowctl/client.h"

struct remote {
	struct client c;
	struct sg_http_client *http;
	char *url; /* without a trailing slash */
	char *user, *password;
};

/* True for a write to a table whose changes need security_admin in effect:
 * access controls, security properties, grants of privileged roles. */
static bool security_write(const char *method, const char *path)
{
	static const char *const tables[] = {"sys_security_acl", "sys_security_acl_role",
	                                     "sys_properties", "sys_user_has_role",
	                                     "sys_group_has_role"};
	static const char prefix[] = "/api/now/table/";
	if (!strcmp(path, "/api/now/snowglobe/app"))
		return true; /* an application may hold ACLs */
	if (!strcmp(method, "GET") || strncmp(path, prefix, sizeof(prefix) - 1))
		return false;
	const char *t = path + sizeof(prefix) - 1;
	size_t n = strcspn(t, "/?");
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (strlen(tables[i]) == n && !strncmp(t, tables[i], n))
			return true;
	return false;
}

/* Performs one request; *out gets the parsed body ("result" member). */
static int call(struct client *c, const char *method, const char *path, json_t *body, json_t **out)
{
	/* Editing ACLs needs security_admin in effect; the instance honours
	 * this only when snowglobe.rest.allow_elevation is true. */
	static const struct sg_kv headers[] = {
	    {"Accept", "application/json"},
	    {"Content-Type", "application/json"},
	    {"X-Snowglobe-Elevate", "security_admin"},
	};
	struct remote *r = (struct remote *)c;
	struct sg_buf url;
	struct sg_http_response resp;
	sg_buf_init(&url, 64 * 1024);
	sg_http_response_init(&resp);
	sg_buf_printf(&url, "%s%s", r->url, path);
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct sg_http_request req = {
	    .method = method,
	    .url = sg_buf_str(&url),
	    .headers = headers,
	    .n_headers = sizeof(headers) / sizeof(headers[0]),
	    .body = payload,
	    .body_len = payload ? strlen(payload) : 0,
	    .user = r->user,
	    .password = r->password,
	};
	sg_http_client_do(r->http, &req, &resp);
	int rc = 0;
	c->status = resp.status;
	if (resp.err) {
		snprintf(c->errmsg, sizeof(c->errmsg), "cannot reach %s: %s", r->url, resp.errmsg);
		rc = 1;
	} else if (resp.status >= 400) {
		json_t *j = json_loads(sg_buf_str(&resp.body), 0, NULL);
		json_t *e = json_object_get(j, "error");
		const char *msg = json_string_value(json_object_get(e, "message"));
		const char *detail = json_string_value(json_object_get(e, "detail"));
		/* What the status means for an admin at the command line: ServiceNow's
		 * bodies say what failed, not what to do. */
		const char *hint = "";
		if (resp.status == 401)
			hint = "\nnowctl: the instance refused the user name and password: check "
			       "--user and NOWCTL_PASSWORD (the account may also be inactive or "
			       "locked out after too many failed logins)";
		else if (resp.status == 403 && security_write(method, path))
			hint =
			    "\nnowctl: this change needs security_admin in effect; over REST nowd "
			    "elevates a holder of security_admin only when the property "
			    "snowglobe.rest.allow_elevation is true (set it offline: nowctl --data "
			    "DIR property set snowglobe.rest.allow_elevation true), or run the "
			    "command offline with --data DIR";
		snprintf(c->errmsg, sizeof(c->errmsg), "HTTP %d: %s%s%s%s", resp.status,
		         msg ? msg : "request failed", detail ? ": " : "", detail ? detail : "",
		         hint);
		json_decref(j);
		rc = 1;
	} else if (out) {
		json_t *j = resp.body.len ? json_loads(sg_buf_str(&resp.body), 0, NULL) : NULL;
		*out = json_incref(json_object_get(j, "result"));
		json_decref(j);
		if (!*out) {
			snprintf(c->errmsg, sizeof(c->errmsg), "unexpected answer from %s", r->url);
			rc = 1;
		}
	}
	free(payload);
	sg_buf_cleanup(&url);
	sg_http_response_cleanup(&resp);
	return rc;
}

#define RAW "sysparm_exclude_reference_link=true"

static int r_list(struct client *c, const char *table, const char *query, long limit, json_t **out)
{
	struct sg_buf p;
	sg_buf_init(&p, 64 * 1024);
	sg_buf_printf(&p, "/api/now/table/%s?" RAW "&sysparm_limit=%ld&sysparm_query=", table,
	              limit > 0 ? limit : 10000);
	sg_buf_put_urlenc(&p, query ? query : "");
	int rc = call(c, "GET", sg_buf_str(&p), NULL, out);
	sg_buf_cleanup(&p);
	return rc;
}

static int r_insert(struct client *c, const char *table, json_t *in, json_t **out)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/now/table/%s?" RAW, table);
	return call(c, "POST", path, in, out);
}

static int r_update(struct client *c, const char *table, const char *sys_id, json_t *in,
                    json_t **out)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/now/table/%s/%s?" RAW, table, sys_id);
	return call(c, "PATCH", path, in, out);
}

static int r_script(struct client *c, const char *source, size_t len, json_t **out)
{
	json_t *body = json_pack("{s:s%}", "script", source, len);
	if (!body) {
		snprintf(c->errmsg, sizeof(c->errmsg), "out of memory");
		return 1;
	}
	int rc = call(c, "POST", "/api/now/snowglobe/script", body, out);
	json_decref(body);
	return rc;
}

static int r_remove(struct client *c, const char *table, const char *sys_id)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/now/table/%s/%s", table, sys_id);
	return call(c, "DELETE", path, NULL, NULL);
}

/* One request, so one transaction: Snowglobe's own endpoint (api/app.c). */
static int r_app_install(struct client *c, json_t *app, json_t **report)
{
	return call(c, "POST", "/api/now/snowglobe/app", app, report);
}

static int r_http(struct client *c, const char *method, const char *path, json_t **out)
{
	return call(c, method, path, NULL, out);
}

static void r_close(struct client *c)
{
	struct remote *r = (struct remote *)c;
	sg_http_client_free(r->http);
	free(r->url);
	free(r->user);
	free(r->password);
	free(r);
}

struct client *client_remote(const char *url, const char *user, const char *password)
{
	struct remote *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	/* As nowctl always did: one attempt, 60 s, libcurl's defaults for the
	 * rest (connect timeout, the system's CAs, the environment's proxy). */
	struct sg_http_options opt;
	sg_http_options_init(&opt);
	opt.connect_timeout_ms = 0;
	opt.timeout_ms = 60000;
	opt.max_body = 256 * 1024 * 1024;
	opt.retry.max_attempts = 1;
	r->http = sg_http_client_new(&opt);
	r->url = strdup(url);
	r->user = strdup(user ? user : "");
	r->password = strdup(password ? password : "");
	if (!r->http || !r->url || !r->user || !r->password) {
		r->c.close = r_close;
		r_close(&r->c);
		return NULL;
	}
	size_t n = strlen(r->url);
	while (n && r->url[n - 1] == '/')
		r->url[--n] = '\0';
	r->c.list = r_list;
	r->c.insert = r_insert;
	r->c.update = r_update;
	r->c.remove = r_remove;
	r->c.app_install = r_app_install;
	r->c.script = r_script;
	r->c.http = r_http;
	r->c.close = r_close;
	return &r->c;
}
