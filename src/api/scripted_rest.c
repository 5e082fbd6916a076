/*
 * scripted_rest.c - Scripted REST APIs: the resources an application
 * defines as records (sys_ws_definition, sys_ws_version, sys_ws_operation),
 * served under /api/{namespace}/[v{N}/]{api_id}/{relative_path} by the
 * route table's last rows, a fallback for any path no built-in route knows.
 *
 * A request finds its definition by namespace (the record's namespace, else
 * its scope, else glide.appcreator.company.code for global) and API ID;
 * then its version (v{N} in the path; unversioned: the version marked
 * default, else the latest); then the operation of that version whose
 * relative path ({name} segments are path parameters; literal segments win)
 * and HTTP method match.  Nothing found is the 400 "Requested URI does not
 * represent any resource" every unknown path gets; the path known for
 * other methods a 405.
 *
 * Then, in order: "requires authentication" (false: anonymous callers run
 * as a guest with no roles; an unknown resource still wants credentials, as
 * before), the token's API scope ("{namespace}/{api_id}"), "requires ACL
 * authorization" (the ACLs the operation names in enforce_acl, else its
 * definition's, else the active REST_Endpoint ACLs named by its resource
 * path: any one that passes by roles suffices), the formats it produces
 * (406) and consumes (415), and the script, with request and response
 * (script/rest.h).  A script that throws, runs out of time or memory is a
 * 500 in ServiceNow's error envelope; response.setError answers the
 * error's status and envelope.
 *
 * The records are cached per process, read again when data_gen (any
 * committed write) moved.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "api/xml.h"
#include "auth/acl.h"
#include "auth/oauth.h"
#include "core/json.h"
#include "core/log.h"
#include "query/query.h"
#include "script/rest.h"

#define ROWS_MAX        10000 /* records of each table read into the cache */
#define SEGMENTS_MAX    64
#define DEFAULT_FORMATS "application/json,application/xml,text/xml"

/* ---- The records, cached ---- */

static struct {
	pthread_mutex_t lock;
	const struct sg_model *model;
	unsigned long gen;
	bool valid;
	json_t *defs, *versions, *ops; /* active rows (arrays) */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct records {
	json_t *defs, *versions, *ops;
};

static sg_err read_active(struct sg_ctx *ctx, const char *table, json_t **rows)
{
	*rows = NULL;
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = sg_query_add_eq(&q, "active", "true") ? SG_ERR_OK : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = ROWS_MAX};
	long long total = 0;
	if (!err)
		err = sg_rec_list(ctx, table, &lo, rows, &total);
	sg_query_cleanup(&q);
	if (err == SG_ERR_INVALID_TABLE) { /* an instance made before the table */
		err = SG_ERR_OK;
		*rows = json_array();
	}
	if (!err && !*rows)
		err = SG_ERR_NOMEM;
	return err;
}

/* The current records (new references); an error when they could not be read. */
static sg_err records(struct sg_model *m, struct records *r)
{
	memset(r, 0, sizeof(*r));
	unsigned long gen = atomic_load(&m->data_gen);
	sg_err err = SG_ERR_OK;
	pthread_mutex_lock(&cache.lock);
	if (!cache.valid || cache.model != m || cache.gen != gen || !gen) {
		struct sg_ctx ctx;
		struct records fresh = {0};
		err = sg_ctx_begin(&ctx, m, NULL);
		if (!err) {
			err = read_active(&ctx, "sys_ws_definition", &fresh.defs);
			if (!err)
				err = read_active(&ctx, "sys_ws_version", &fresh.versions);
			if (!err)
				err = read_active(&ctx, "sys_ws_operation", &fresh.ops);
			sg_ctx_end(&ctx);
		}
		if (!err) {
			json_decref(cache.defs);
			json_decref(cache.versions);
			json_decref(cache.ops);
			cache.defs = fresh.defs;
			cache.versions = fresh.versions;
			cache.ops = fresh.ops;
			cache.model = m;
			cache.gen = gen;
			cache.valid = true;
		} else {
			json_decref(fresh.defs);
			json_decref(fresh.versions);
			json_decref(fresh.ops);
		}
	}
	if (!err) {
		r->defs = json_incref(cache.defs);
		r->versions = json_incref(cache.versions);
		r->ops = json_incref(cache.ops);
	}
	pthread_mutex_unlock(&cache.lock);
	return err;
}

static void records_cleanup(struct records *r)
{
	json_decref(r->defs);
	json_decref(r->versions);
	json_decref(r->ops);
}

static const char *val(const json_t *rec, const char *field)
{
	const char *s = json_string_value(json_object_get(rec, field));
	return s ? s : "";
}

static bool truthy(const json_t *rec, const char *field, bool dflt)
{
	const char *s = val(rec, field);
	if (!*s)
		return dflt;
	return !strcmp(s, "true") || !strcmp(s, "1");
}

/* ---- Finding the resource ---- */

struct found {
	const json_t *def, *op;
	json_t *params; /* path parameters (object) */
	char ns[128], api_id[128];
	bool path_known; /* an operation's path matched, for another method */
};

/* The namespace a definition answers under. */
static const char *namespace_of(const json_t *def, const char *company)
{
	const char *ns = val(def, "namespace");
	if (*ns)
		return ns;
	const char *scope = val(def, "sys_scope");
	if (*scope && strcmp(scope, "global"))
		return scope;
	return company ? company : "";
}

/* "v2", "2" or a sys_ws_version's sys_id -> 2; 0 when none. */
static long version_number(const char *v, const json_t *versions)
{
	if (!*v)
		return 0;
	const char *d = (v[0] == 'v' || v[0] == 'V') ? v + 1 : v;
	char *end;
	long n = strtol(d, &end, 10);
	if (*d && !*end && n > 0)
		return n;
	size_t i;
	json_t *row;
	json_array_foreach(versions, i, row)
	{
		if (!strcmp(val(row, "sys_id"), v))
			return strtol(val(row, "version"), NULL, 10);
	}
	return 0;
}

/* The version an unversioned URI of def means: the one marked default,
 * else the latest; 0 when def has no versions. */
static long default_version(const json_t *def, const json_t *versions, const json_t *ops)
{
	const char *id = val(def, "sys_id");
	long latest = 0;
	size_t i;
	json_t *row;
	json_array_foreach(versions, i, row)
	{
		if (strcmp(val(row, "web_service_definition"), id))
			continue;
		long n = strtol(val(row, "version"), NULL, 10);
		if (truthy(row, "is_default", false))
			return n;
		if (n > latest)
			latest = n;
	}
	long n = version_number(val(def, "default_version"), versions);
	if (n)
		return n;
	json_array_foreach(ops, i, row)
	{
		if (strcmp(val(row, "web_service_definition"), id))
			continue;
		long v = version_number(val(row, "web_service_version"), versions);
		if (v > latest)
			latest = v;
	}
	return latest;
}

/* Matches relative path rel against segs; literal segments counted in *score,
 * parameters set in params.  1: it matches, 0: it does not, -1: out of memory. */
static int match_path(const char *rel, char **segs, size_t nsegs, json_t *params, int *score)
{
	size_t k = 0;
	*score = 0;
	json_object_clear(params);
	const char *p = rel;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (k >= nsegs)
			return 0;
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			char name[128];
			snprintf(name, sizeof(name), "%.*s", (int)(len - 2), p + 1);
			if (json_object_set_new(params, name, json_string(segs[k])))
				return -1;
		} else if (strlen(segs[k]) != len || strncmp(segs[k], p, len)) {
			return 0;
		} else {
			(*score)++;
		}
		k++;
		p += len;
	}
	return k == nsegs;
}

/* Splits path (after "/api/") into segments in arena: NO_RESOURCE when too
 * many, NOMEM. */
static sg_err split(struct sg_arena *arena, const char *path, char **segs, size_t *n)
{
	*n = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (*n == SEGMENTS_MAX)
			return SG_ERR_NO_RESOURCE;
		if (!(segs[(*n)++] = sg_arena_strndup(arena, p, len)))
			return SG_ERR_NOMEM;
		p += len;
	}
	return SG_ERR_OK;
}

static sg_err find(struct sg_ctx *ctx, struct sg_req *req, const struct records *r, struct found *f)
{
	memset(f, 0, sizeof(*f));
	char *segs[SEGMENTS_MAX];
	size_t n;
	sg_err err = split(&req->arena, req->path + 5, segs, &n);
	if (err)
		return err;
	if (n < 2)
		return SG_ERR_NO_RESOURCE;
	char *company = NULL;
	err = sg_prop_get(ctx, "glide.appcreator.company.code", &company);
	if (err)
		return err;
	/* /api/ns/vN/api_id/... or /api/ns/api_id/... */
	long want = 0;
	size_t first = 2;
	const json_t *def = NULL;
	size_t i;
	json_t *row;
	if (n >= 3 && (segs[1][0] == 'v') && isdigit((unsigned char)segs[1][1])) {
		char *end;
		long v = strtol(segs[1] + 1, &end, 10);
		json_array_foreach(r->defs, i, row)
		{
			if (*end || v <= 0 || !truthy(row, "is_versioned", false) ||
			    strcmp(val(row, "service_id"), segs[2]) ||
			    strcmp(namespace_of(row, company), segs[0]))
				continue;
			def = row;
			want = v;
			first = 3;
			break;
		}
	}
	if (!def) {
		json_array_foreach(r->defs, i, row)
		{
			if (strcmp(val(row, "service_id"), segs[1]) ||
			    strcmp(namespace_of(row, company), segs[0]))
				continue;
			def = row;
			if (truthy(row, "is_versioned", false))
				want = default_version(row, r->versions, r->ops);
			break;
		}
	}
	free(company);
	if (!def)
		return SG_ERR_NO_RESOURCE;
	f->def = def;
	snprintf(f->ns, sizeof(f->ns), "%s", segs[0]);
	snprintf(f->api_id, sizeof(f->api_id), "%s", val(def, "service_id"));
	const char *method = strcmp(req->method, "HEAD") ? req->method : "GET";
	json_t *params = json_object(), *best_params = NULL;
	if (!params)
		return SG_ERR_NOMEM;
	int best = -1;
	json_array_foreach(r->ops, i, row)
	{
		if (strcmp(val(row, "web_service_definition"), val(def, "sys_id")))
			continue;
		const char *ver = val(row, "web_service_version");
		if (want && *ver && version_number(ver, r->versions) != want)
			continue;
		int score;
		const char *rel = val(row, "relative_path");
		int m = match_path(*rel ? rel : "/", segs + first, n - first, params, &score);
		if (m < 0) {
			json_decref(params);
			json_decref(best_params);
			return SG_ERR_NOMEM;
		}
		if (!m)
			continue;
		if (strcasecmp(val(row, "http_method"), method)) {
			f->path_known = true;
			continue;
		}
		if (score <= best)
			continue;
		best = score;
		f->op = row;
		json_decref(best_params);
		if (!(best_params = json_deep_copy(params))) {
			json_decref(params);
			return SG_ERR_NOMEM;
		}
	}
	json_decref(params);
	f->params = best_params;
	if (!f->op)
		return f->path_known ? SG_ERR_BAD_METHOD : SG_ERR_NO_RESOURCE;
	return SG_ERR_OK;
}

/* ---- Checks ---- */

/* Whether the user passes one REST_Endpoint ACL (by roles; admin overrides). */
static sg_err acl_passes(struct sg_ctx *sys, struct sg_auth_session *as, const json_t *acl,
                         bool *pass)
{
	*pass = false;
	if (!truthy(acl, "active", true) || strcmp(val(acl, "type"), "rest_endpoint"))
		return SG_ERR_OK;
	bool admin = false;
	sg_err err = sg_acl_has_role(as, "admin", &admin);
	if (err)
		return err;
	if (admin && truthy(acl, "admin_overrides", true)) {
		*pass = true;
		return SG_ERR_OK;
	}
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL;
	long long total = 0;
	struct sg_list_opts lo = {.query = &q, .limit = 1000};
	err =
	    sg_query_add_eq(&q, "sys_security_acl", val(acl, "sys_id")) ? SG_ERR_OK : SG_ERR_NOMEM;
	if (!err)
		err = sg_rec_list(sys, "sys_security_acl_role", &lo, &rows, &total);
	sg_query_cleanup(&q);
	if (err)
		return err;
	if (!json_array_size(rows))
		*pass = true; /* no roles required */
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		if (*pass)
			break;
		json_t *role = NULL;
		sg_err e = sg_rec_get(sys, "sys_user_role", val(row, "sys_user_role"), &role);
		if (e == SG_ERR_NO_RECORD)
			continue;
		if (e) {
			err = e;
			break;
		}
		err = sg_acl_has_role(as, val(role, "name"), pass);
		json_decref(role);
		if (err)
			break;
	}
	json_decref(rows);
	return err;
}

/* "requires ACL authorization": any one of the ACLs that apply passes. */
static sg_err authorize(struct sg_auth_session *as, const struct found *f, bool *allowed)
{
	*allowed = true;
	if (!truthy(f->op, "requires_acl_authorization", true))
		return SG_ERR_OK;
	struct sg_ctx sys;
	sg_err err = sg_ctx_begin(&sys, as->ctx->model, NULL);
	if (err)
		return err;
	json_t *acls = json_array();
	if (!acls)
		err = SG_ERR_NOMEM;
	const char *list = val(f->op, "enforce_acl");
	if (!*list)
		list = val(f->def, "enforce_acl");
	/* the named ACLs */
	for (const char *p = list; !err && *p;) {
		size_t len = strcspn(p, ", ");
		if (len == SG_ID_LEN) {
			char id[SG_ID_LEN + 1];
			memcpy(id, p, len);
			id[len] = '\0';
			json_t *acl = NULL;
			sg_err e = sg_rec_get(&sys, "sys_security_acl", id, &acl);
			if (!e && json_array_append_new(acls, acl))
				err = SG_ERR_NOMEM;
			else if (e && e != SG_ERR_NO_RECORD)
				err = e;
		}
		p += len;
		p += strspn(p, ", ");
	}
	/* else those named by the resource's path */
	if (!err && !json_array_size(acls)) {
		const char *uri = val(f->op, "operation_uri");
		char base[512];
		snprintf(base, sizeof(base), "%s/*", val(f->def, "base_uri"));
		struct sg_query q;
		sg_query_init(&q);
		json_t *rows = NULL;
		long long total = 0;
		struct sg_list_opts lo = {.query = &q, .limit = 1000};
		err = sg_query_add_eq(&q, "type", "rest_endpoint") &&
		              sg_query_add_eq(&q, "active", "true")
		          ? SG_ERR_OK
		          : SG_ERR_NOMEM;
		if (!err)
			err = sg_rec_list(&sys, "sys_security_acl", &lo, &rows, &total);
		sg_query_cleanup(&q);
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			const char *name = val(row, "name");
			if (err || !*name || (strcmp(name, uri) && strcmp(name, base)))
				continue;
			const char *opname = val(row, "operation");
			if (*opname && strcasecmp(opname, "execute") &&
			    strcasecmp(opname, val(f->op, "http_method")))
				continue;
			if (json_array_append(acls, row))
				err = SG_ERR_NOMEM;
		}
		json_decref(rows);
	}
	if (!err && json_array_size(acls)) {
		*allowed = false;
		size_t i;
		json_t *acl;
		json_array_foreach(acls, i, acl)
		{
			bool pass = false;
			if ((err = acl_passes(&sys, as, acl, &pass)) || pass) {
				*allowed = pass;
				break;
			}
		}
	}
	json_decref(acls);
	sg_ctx_end(&sys);
	return err;
}

/* The formats an operation declares: its own when customised, else its
 * definition's, else JSON and XML. */
static const char *formats(const struct found *f, const char *field, const char *custom)
{
	const char *s = truthy(f->op, custom, false) ? val(f->op, field) : "";
	if (!*s)
		s = val(f->def, field);
	return *s ? s : DEFAULT_FORMATS;
}

/* Whether media type t (without parameters, len bytes) is in list, or list's
 * entry matches the range t (any type, or any subtype of a type). */
static bool listed(const char *list, const char *t, size_t len)
{
	for (const char *p = list; *p;) {
		p += strspn(p, ", ");
		size_t n = strcspn(p, ",;");
		while (n && p[n - 1] == ' ')
			n--;
		if (n) {
			if (len == 3 && !strncmp(t, "*/*", 3))
				return true;
			if (len > 2 && !strncmp(t + len - 2, "/*", 2) &&
			    !strncasecmp(p, t, len - 1))
				return true;
			if (n == len && !strncasecmp(p, t, len))
				return true;
		}
		p += strcspn(p, ",");
	}
	return false;
}

/* The Accept header names a type the operation produces (no Accept: yes). */
static bool acceptable(const char *accept, const char *produces)
{
	if (!accept || !*accept)
		return true;
	for (const char *p = accept; *p;) {
		p += strspn(p, ", ");
		size_t n = strcspn(p, ",;");
		while (n && p[n - 1] == ' ')
			n--;
		if (n && listed(produces, p, n))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* ---- The answer ---- */

static sg_err envelope(struct sg_resp *resp, int status, const char *message, const char *detail)
{
	json_t *j = json_pack("{s:{s:s, s:s}, s:s}", "error", "message", message, "detail", detail,
	                      "status", "failure");
	if (!j)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, status, j);
	json_decref(j);
	sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
	return sg_buf_failed(&resp->body) ? SG_ERR_NOMEM : SG_ERR_OK;
}

static bool header_ok(const char *name, const char *value)
{
	if (!*name || strlen(name) > 256 || strlen(value) > 8192)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return false;
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return false;
	static const char *const reserved[] = {"Content-Length", "Transfer-Encoding", "Connection",
	                                       "Content-Type", NULL};
	for (const char *const *r = reserved; *r; r++)
		if (!strcasecmp(name, *r))
			return false;
	return true;
}

static bool is_json_or_xml(const char *ct)
{
	return !strncasecmp(ct, "application/json", 16) || sg_xml_is_xml_type(ct);
}

/* What the script set, as the HTTP answer. */
static sg_err answer(struct sg_req *req, const json_t *out, struct sg_resp *resp)
{
	const json_t *error = json_object_get(out, "error");
	if (json_is_object(error)) {
		int status = (int)json_number_value(json_object_get(error, "status"));
		if (status < 400 || status > 599)
			status = 500;
		return envelope(resp, status, val(error, "message"), val(error, "detail"));
	}
	int status = (int)json_number_value(json_object_get(out, "status"));
	if (!status)
		status = 200;
	if (status < 200 || status > 599)
		return envelope(resp, 500, "Invalid response status",
		                "response.setStatus takes an HTTP status from 200 to 599");
	const json_t *stream = json_object_get(out, "stream");
	const char *ctype = json_string_value(json_object_get(out, "contentType"));
	if (json_is_string(stream) && (!ctype || !*ctype))
		/* a binary body without a content type (§9.4) */
		return envelope(resp, 500, "Response content type is not set",
		                "getStreamWriter requires response.setContentType");
	sg_buf_reset(&resp->body);
	resp->status = status;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)json_object_get(out, "headers"), key, v)
	{
		const char *s = json_string_value(v);
		if (s && header_ok(key, s))
			sg_resp_header(resp, key, s);
	}
	if (status == 204 || status == 304 || !strcmp(req->method, "HEAD"))
		return SG_ERR_OK;
	if (json_is_string(stream)) {
		sg_buf_append(&resp->body, json_string_value(stream), json_string_length(stream));
		sg_resp_header(resp, "Content-Type", ctype);
	} else if (json_is_true(json_object_get(out, "hasBody"))) {
		const json_t *body = json_object_get(out, "body");
		if (ctype && *ctype && !is_json_or_xml(ctype)) {
			/* a type of the script's own: a string as is */
			char *text = json_is_string(body)
			                 ? strdup(json_string_value(body))
			                 : json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!text)
				return SG_ERR_NOMEM;
			sg_buf_puts(&resp->body, text);
			free(text);
			sg_resp_header(resp, "Content-Type", ctype);
		} else {
			/* {"result": body}, in XML when asked (the middleware) */
			json_t *wrap = json_pack("{s:O}", "result", body ? body : json_null());
			if (!wrap)
				return SG_ERR_NOMEM;
			sg_resp_json(resp, status, wrap);
			json_decref(wrap);
			sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
		}
	} else if (ctype && *ctype) {
		sg_resp_header(resp, "Content-Type", ctype);
	}
	return sg_buf_failed(&resp->body) || resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* The request as the script sees it (script/rest.h), in JSON text. */
static char *request_json(struct sg_req *req, const struct found *f)
{
	json_t *j = json_object(), *q = json_object(), *hdrs = json_object();
	bool ok = j && q && hdrs && !json_object_set(j, "pathParams", f->params) &&
	          !json_object_set(j, "queryParams", q) && !json_object_set(j, "headers", hdrs) &&
	          !json_object_set_new(j, "queryString", json_string(req->raw_query)) &&
	          !json_object_set_new(j, "uri", json_string(req->path));
	for (size_t i = 0; ok && i < req->nargs; i++) {
		const char *name = req->args[i].name, *value = req->args[i].value;
		json_t *list = json_object_get(q, name);
		if (!list)
			ok = (list = json_array()) && !json_object_set_new(q, name, list);
		ok = ok && !json_array_append_new(list, json_string(value ? value : ""));
	}
	static const char *const names[] = {
	    "accept",          "content-type", "user-agent", "host",
	    "x-forwarded-for", "origin",       "referer",    "accept-encoding",
	    "content-length",  "x-request-id", NULL};
	for (const char *const *n = names; ok && *n; n++) {
		const char *v = sg_req_header(req, *n);
		if (v)
			ok = !json_object_set_new(hdrs, *n, json_string(v));
	}
	char url[2048];
	snprintf(url, sizeof(url), "%s%s%s%s", req->base_url ? req->base_url : "/", req->path + 1,
	         *req->raw_query ? "?" : "", req->raw_query);
	ok = ok && !json_object_set_new(j, "url", json_string(url));
	ok = ok && !json_object_set_new(
	               j, "body", req->body ? json_stringn(req->body, req->body_len) : json_null());
	char *text = ok ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(q);
	json_decref(hdrs);
	json_decref(j);
	return text;
}

/* Runs the operation's script as as and answers. */
static sg_err run(struct sg_auth_session *as, struct sg_req *req, const struct found *f,
                  struct sg_resp *resp)
{
	const char *src = val(f->op, "operation_script");
	size_t len = 0;
	char *wrapped = sg_script_rest_wrap(src, strlen(src), &len);
	char *json = wrapped ? request_json(req, f) : NULL;
	char name[200], key[128];
	snprintf(name, sizeof(name), "sys_ws_operation:%s", val(f->op, "name"));
	snprintf(key, sizeof(key), "sys_ws_operation/%s/%s", val(f->op, "sys_id"),
	         val(f->op, "sys_mod_count"));
	if (!json) {
		free(wrapped);
		return SG_ERR_NOMEM;
	}
	struct sg_script_rest_request rr = {.json = json, .header = req->header, .impl = req->impl};
	struct sg_script_run r = {.source = wrapped,
	                          .source_len = len,
	                          .name = name,
	                          .cache_key = key,
	                          .as = as,
	                          .result_var = SG_SCRIPT_REST_OUT,
	                          .bind = sg_script_rest_bind,
	                          .bind_ud = &rr};
	struct sg_script_result res;
	sg_err err = sg_script_run(&r, &res);
	free(wrapped);
	free(json);
	if (!err && res.status == SG_SCRIPT_OK) {
		err = answer(req, res.value, resp);
	} else if (!err) {
		char detail[700];
		if (res.line)
			snprintf(detail, sizeof(detail), "%s: %s (line %d)",
			         sg_script_status_name(res.status), res.error, res.line);
		else
			snprintf(detail, sizeof(detail), "%s: %s",
			         sg_script_status_name(res.status), res.error);
		err = envelope(resp, 500, "Script Evaluation Exception", detail);
	}
	sg_script_result_cleanup(&res);
	return err;
}

/* What the resolver found, kept for the handler (req->stream). */
struct state {
	struct records recs;
	struct found f;
};

static void state_cleanup(void *p)
{
	struct state *st = p;
	json_decref(st->f.params);
	records_cleanup(&st->recs);
}

sg_err sg_scripted_rest_resolve(struct sg_api *api, struct sg_req *req, bool *anonymous)
{
	*anonymous = false;
	struct state *st = sg_arena_alloc(&req->arena, sizeof(*st));
	if (!st)
		return SG_ERR_NOMEM;
	memset(st, 0, sizeof(*st));
	sg_err err = records(api->model, &st->recs);
	if (err)
		return err;
	req->stream = st;
	req->stream_cleanup = state_cleanup;
	struct sg_ctx ctx;
	if ((err = sg_ctx_begin(&ctx, api->model, NULL)))
		return err;
	err = find(&ctx, req, &st->recs, &st->f);
	sg_ctx_end(&ctx);
	if (!err)
		*anonymous = !truthy(st->f.op, "requires_authentication", true);
	return err;
}

sg_err sg_scripted_rest(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp)
{
	/* The middleware resolved the resource (and refused a caller without
	 * credentials unless it allows one). */
	struct state *st = req->stream;
	if (!st || !st->f.op)
		return SG_ERR_NO_RESOURCE;
	const struct found *f = &st->f;
	sg_err err = SG_ERR_OK;
	/* A token covers the API by its scope ("{namespace}/{api_id}"). */
	if (req->bearer) {
		char scope[300];
		snprintf(scope, sizeof(scope), "%s/%s", f->ns, f->api_id);
		err = sg_oauth_scope_check(api->auth, req->bearer, scope, req->method);
	}
	/* An anonymous caller runs as a guest: no roles, not the system. */
	struct sg_ctx guest_ctx;
	struct sg_auth_session guest_as;
	bool guest = false;
	if (!err && !req->user) {
		struct sg_user g = {0};
		snprintf(g.user_name, sizeof(g.user_name), "guest");
		snprintf(g.name, sizeof(g.name), "Guest");
		if (!(err = sg_ctx_begin(&guest_ctx, api->model, &g))) {
			sg_auth_session_init(&guest_as, api->auth, &guest_ctx, NULL);
			as = &guest_as;
			guest = true;
		}
	}
	(void)ctx;
	bool allowed = true;
	if (!err)
		err = authorize(as, f, &allowed);
	if (!err && !allowed)
		err = envelope(resp, 403, "User Not Authorized",
		               "Access to the Scripted REST API resource is denied by its ACLs");
	else if (!err && !acceptable(sg_req_header(req, "Accept"),
	                             formats(f, "produces", "produces_customized")))
		err = envelope(resp, 406, "Not Acceptable",
		               "The Accept header names no format this resource produces");
	else if (!err && req->body_buf.len && sg_req_header(req, "Content-Type")) {
		const char *ct = sg_req_header(req, "Content-Type");
		size_t n = strcspn(ct, ";");
		while (n && ct[n - 1] == ' ')
			n--;
		if (!listed(formats(f, "consumes", "consumes_customized"), ct, n))
			err = envelope(resp, 415, "Unsupported Media Type",
			               "The Content-Type is not a format this resource consumes");
		else
			err = run(as, req, f, resp);
	} else if (!err) {
		err = run(as, req, f, resp);
	}
	if (guest) {
		sg_auth_session_cleanup(&guest_as);
		sg_ctx_end(&guest_ctx);
	}
	return err;
}
