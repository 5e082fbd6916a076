/*
 * routes.c - the whole REST surface in one table (Redis keeps its command
 * table as data the same way), and the router that finds a request's route.
 *
 * Each route says what the middleware (middleware.c) must do before its
 * handler runs: who may call it, which REST API auth scope covers it, which
 * bodies it reads and how, and what it answers with.
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"

/* The token service reads form-encoded bodies only [r_OAuthAPIRequestParameters.md];
 * a body of another type is not passed to it. */
static const char *const form_only[] = {"application/x-www-form-urlencoded", NULL};

/* A buffered JSON route.  The Table API reads a JSON body whatever its
 * declared type, and the revocation URLs a form body likewise: accepts NULL. */
#define ROUTE(m, p, h, who, api_scope, types, v)                                                   \
	{                                                                                          \
		.method = m, .pattern = p, .handler = h, .auth = who, .scope = api_scope,          \
		.accepts = types, .produces = SG_JSON_TYPE, .body = SG_BODY_BUFFERED, .version = v \
	}

#define TABLE_ROUTES(prefix, v)                                                                    \
	ROUTE("GET", prefix "/table/{table}", sg_table_list, SG_AUTH_USER, "now/table", NULL, v),  \
	    ROUTE("POST", prefix "/table/{table}", sg_table_create, SG_AUTH_USER, "now/table",     \
	          NULL, v),                                                                        \
	    ROUTE("GET", prefix "/table/{table}/{sys_id}", sg_table_get, SG_AUTH_USER,             \
	          "now/table", NULL, v),                                                           \
	    ROUTE("PUT", prefix "/table/{table}/{sys_id}", sg_table_update, SG_AUTH_USER,          \
	          "now/table", NULL, v),                                                           \
	    ROUTE("PATCH", prefix "/table/{table}/{sys_id}", sg_table_update, SG_AUTH_USER,        \
	          "now/table", NULL, v),                                                           \
	    ROUTE("DELETE", prefix "/table/{table}/{sys_id}", sg_table_delete, SG_AUTH_USER,       \
	          "now/table", NULL, v)

#define IMPORT_ROUTES(prefix, v)                                                                   \
	ROUTE("POST", prefix "/import/{staging_table}", sg_import_create, SG_AUTH_USER,            \
	      "now/import", NULL, v),                                                              \
	    ROUTE("POST", prefix "/import/{staging_table}/insertMultiple",                         \
	          sg_import_insert_multiple, SG_AUTH_USER, "now/import", NULL, v),                 \
	    ROUTE("GET", prefix "/import/{staging_table}/{sys_id}", sg_import_get, SG_AUTH_USER,   \
	          "now/import", NULL, v)
/* Identification and Reconciliation, and the CMDB Instance API (cmdb.c). */
#define IRE_ROUTES(prefix, v)                                                                      \
	ROUTE("POST", prefix "/identifyreconcile", sg_ire_identify, SG_AUTH_USER,                  \
	      "now/identifyreconcile", NULL, v),                                                   \
	    ROUTE("POST", prefix "/identifyreconcile/query", sg_ire_query, SG_AUTH_USER,           \
	          "now/identifyreconcile", NULL, v),                                               \
	    ROUTE("POST", prefix "/identifyreconcile/enhanced", sg_ire_enhanced, SG_AUTH_USER,     \
	          "now/identifyreconcile", NULL, v),                                               \
	    ROUTE("POST", prefix "/identifyreconcile/queryEnhanced", sg_ire_query_enhanced,        \
	          SG_AUTH_USER, "now/identifyreconcile", NULL, v)
#define CMDB_ROUTES(prefix, v)                                                                     \
	ROUTE("GET", prefix "/cmdb/instance/{className}", sg_cmdb_list, SG_AUTH_USER, "now/cmdb",  \
	      NULL, v),                                                                            \
	    ROUTE("POST", prefix "/cmdb/instance/{className}", sg_cmdb_create, SG_AUTH_USER,       \
	          "now/cmdb", NULL, v),                                                            \
	    ROUTE("GET", prefix "/cmdb/instance/{className}/{sys_id}", sg_cmdb_get, SG_AUTH_USER,  \
	          "now/cmdb", NULL, v),                                                            \
	    ROUTE("PATCH", prefix "/cmdb/instance/{className}/{sys_id}", sg_cmdb_update,           \
	          SG_AUTH_USER, "now/cmdb", NULL, v),                                              \
	    ROUTE("PUT", prefix "/cmdb/instance/{className}/{sys_id}", sg_cmdb_update,             \
	          SG_AUTH_USER, "now/cmdb", NULL, v),                                              \
	    ROUTE("POST", prefix "/cmdb/instance/{className}/{sys_id}/relation",                   \
	          sg_cmdb_add_relation, SG_AUTH_USER, "now/cmdb", NULL, v),                        \
	    ROUTE("DELETE", prefix "/cmdb/instance/{className}/{sys_id}/relation/{rel_sys_id}",    \
	          sg_cmdb_delete_relation, SG_AUTH_USER, "now/cmdb", NULL, v)
/* An attachment upload: the body streamed to on_body as it arrives, held to
 * com.glide.attachment.max_size; any content type [c_AttachmentAPI.md]. */
#define UPLOAD(p, body_fn, v)                                                                      \
	{                                                                                          \
		.method = "POST", .pattern = p, .handler = sg_attachment_post,                     \
		.auth = SG_AUTH_USER, .scope = "now/attachment", .produces = SG_JSON_TYPE,         \
		.body = SG_BODY_STREAMED, .on_body = body_fn, .version = v,                        \
		.limit = SG_LIMIT_ATTACHMENT                                                       \
	}

/* The content of an attachment: its own Content-Type, set by the handler. */
#define ATTACHMENT_ROUTES(prefix, v)                                                               \
	ROUTE("GET", prefix "/attachment", sg_attachment_list, SG_AUTH_USER, "now/attachment",     \
	      NULL, v),                                                                            \
	    ROUTE("GET", prefix "/attachment/{sys_id}", sg_attachment_get, SG_AUTH_USER,           \
	          "now/attachment", NULL, v),                                                      \
	    {.method = "GET",                                                                      \
	     .pattern = prefix "/attachment/{sys_id}/file",                                        \
	     .handler = sg_attachment_file,                                                        \
	     .auth = SG_AUTH_USER,                                                                 \
	     .scope = "now/attachment",                                                            \
	     .body = SG_BODY_BUFFERED,                                                             \
	     .version = v},                                                                        \
	    ROUTE("DELETE", prefix "/attachment/{sys_id}", sg_attachment_delete, SG_AUTH_USER,     \
	          "now/attachment", NULL, v),                                                      \
	    ROUTE("PATCH", prefix "/attachment/{sys_id}", sg_attachment_rename, SG_AUTH_USER,      \
	          "now/attachment", NULL, v),                                                      \
	    UPLOAD(prefix "/attachment/file", sg_attachment_raw_body, v),                          \
	    UPLOAD(prefix "/attachment/upload", sg_attachment_multipart_body, v)

/* A Scripted REST resource: authentication by its operation's flag, its own
 * formats (produces NULL: the handler sets Content-Type), any body type. */
#define SCRIPTED(m)                                                                                \
	{                                                                                          \
		.method = m, .pattern = "/api/*", .handler = sg_scripted_rest,                     \
		.auth = SG_AUTH_OPTIONAL, .body = SG_BODY_BUFFERED,                                \
		.resolve = sg_scripted_rest_resolve                                                \
	}

static const struct sg_route routes[] = {
    TABLE_ROUTES("/api/now", 0),
    TABLE_ROUTES("/api/now/v1", 1),
    TABLE_ROUTES("/api/now/v2", 2),
    IMPORT_ROUTES("/api/now", 0),
    IMPORT_ROUTES("/api/now/v1", 1),
    IRE_ROUTES("/api/now", 0),
    IRE_ROUTES("/api/now/v1", 1),
    CMDB_ROUTES("/api/now", 0),
    CMDB_ROUTES("/api/now/v1", 1),
    ATTACHMENT_ROUTES("/api/now", 0),
    ATTACHMENT_ROUTES("/api/now/v1", 1),
    /* What a form or list of a table needs, as the user may see it (ui_meta.c). */
    ROUTE("GET", "/api/now/ui/meta/{table}", sg_ui_meta_get, SG_AUTH_USER, "now/table", NULL, 0),
    /* An outbound provider's "Get OAuth Token" (oauth_get_token.c): the admin's only. */
    ROUTE("POST", "/api/now/ui/oauth/get_token", sg_oauth_get_token, SG_AUTH_USER, "now/snowglobe",
          NULL, 0),
    ROUTE("GET", "/api/now/stats/{table}", sg_stats_get, SG_AUTH_USER, "now/stats", NULL, 0),
    ROUTE("GET", "/api/now/v1/stats/{table}", sg_stats_get, SG_AUTH_USER, "now/stats", NULL, 1),
    /* Each item of a batch goes through this table again (batch.c). */
    ROUTE("POST", "/api/now/batch", sg_batch_post, SG_AUTH_USER, "now/batch", NULL, 0),
    ROUTE("POST", "/api/now/v1/batch", sg_batch_post, SG_AUTH_USER, "now/batch", NULL, 1),
    ROUTE("POST", "/api/now/tinyurl", sg_tinyurl_create, SG_AUTH_USER, "now/tinyurl", NULL, 0),
    /* Snowglobe's own: an application in one transaction (app.c). */
    ROUTE("POST", "/api/now/snowglobe/app", sg_app_post, SG_AUTH_USER, "now/snowglobe", NULL, 0),
    /* Scripts - Background (script.c): admin with security_admin in effect. */
    ROUTE("POST", "/api/now/snowglobe/script", sg_script_background, SG_AUTH_USER, "now/snowglobe",
          NULL, 0),
    /* The test-double powers (snowglobe.c): the admin's only; gone under --no-snowglobe-api. */
    ROUTE("GET", SG_SNOWGLOBE_PREFIX, sg_snowglobe_index, SG_AUTH_USER, "now/snowglobe", NULL, 0),
    /* Fault injection (faults.c). */
    ROUTE("GET", SG_SNOWGLOBE_PREFIX "/faults", sg_faults_get_all, SG_AUTH_USER, "now/snowglobe",
          NULL, 0),
    ROUTE("POST", SG_SNOWGLOBE_PREFIX "/faults", sg_faults_post, SG_AUTH_USER, "now/snowglobe",
          NULL, 0),
    ROUTE("DELETE", SG_SNOWGLOBE_PREFIX "/faults", sg_faults_delete_all, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    ROUTE("GET", SG_SNOWGLOBE_PREFIX "/faults/{id}", sg_faults_get_one, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    ROUTE("DELETE", SG_SNOWGLOBE_PREFIX "/faults/{id}", sg_faults_delete_one, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),

    /* Snapshots and reset (snapshot.c). */
    ROUTE("GET", SG_SNOWGLOBE_PREFIX "/snapshots", sg_snapshot_list_get, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    ROUTE("POST", SG_SNOWGLOBE_PREFIX "/snapshots", sg_snapshot_save_post, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    ROUTE("POST", SG_SNOWGLOBE_PREFIX "/snapshots/{name}/restore", sg_snapshot_restore_post,
          SG_AUTH_USER, "now/snowglobe", NULL, 0),
    ROUTE("DELETE", SG_SNOWGLOBE_PREFIX "/snapshots/{name}", sg_snapshot_delete_one, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    ROUTE("POST", SG_SNOWGLOBE_PREFIX "/reset", sg_snapshot_reset, SG_AUTH_USER, "now/snowglobe",
          NULL, 0),

    ROUTE("GET", SG_SNOWGLOBE_PREFIX "/clock", sg_clock_get, SG_AUTH_USER, "now/snowglobe", NULL,
          0),
    ROUTE("POST", SG_SNOWGLOBE_PREFIX "/clock", sg_clock_post, SG_AUTH_USER, "now/snowglobe", NULL,
          0),

    /* The request journal (journal.c). */
    ROUTE("GET", SG_SNOWGLOBE_PREFIX "/requests", sg_journal_list, SG_AUTH_USER, "now/snowglobe",
          NULL, 0),
    ROUTE("GET", SG_SNOWGLOBE_PREFIX "/requests/count", sg_journal_count, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    ROUTE("DELETE", SG_SNOWGLOBE_PREFIX "/requests", sg_journal_delete, SG_AUTH_USER,
          "now/snowglobe", NULL, 0),
    /* The OAuth endpoints need no user: the client authenticates in the request. */
    ROUTE("POST", "/oauth_token.do", sg_oauth_token_endpoint, SG_AUTH_NONE, NULL, form_only, 0),
    ROUTE("POST", "/oauth_revoke_token.do", sg_oauth_revoke_endpoint, SG_AUTH_NONE, NULL, NULL, 0),
    ROUTE("GET", "/oauth_revoke_token.do", sg_oauth_revoke_endpoint, SG_AUTH_NONE, NULL, NULL, 0),
    ROUTE("POST", "/oauth_revoke.do", sg_oauth_revoke_endpoint, SG_AUTH_NONE, NULL, NULL, 0),
    ROUTE("GET", "/oauth_revoke.do", sg_oauth_revoke_endpoint, SG_AUTH_NONE, NULL, NULL, 0),
    /* Outbound OAuth's redirect (oauth_redirect.c): the state is the proof; an HTML page. */
    {.method = "GET",
     .pattern = "/oauth_redirect.do",
     .handler = sg_oauth_redirect_endpoint,
     .auth = SG_AUTH_NONE,
     .body = SG_BODY_BUFFERED},
    /* The browser console (ui.c): each handler checks the session itself. */
    {.method = "GET", .pattern = "/", .handler = sg_ui_root, .auth = SG_AUTH_NONE},
    {.method = "GET", .pattern = "/ui/*", .handler = sg_ui_static, .auth = SG_AUTH_NONE},
    {.method = "GET", .pattern = "/favicon.ico", .handler = sg_ui_favicon, .auth = SG_AUTH_NONE},
    {.method = "GET", .pattern = "/login.do", .handler = sg_ui_login_get, .auth = SG_AUTH_NONE},
    {.method = "POST",
     .pattern = "/login.do",
     .handler = sg_ui_login_post,
     .auth = SG_AUTH_NONE,
     .accepts = form_only},
    {.method = "GET", .pattern = "/logout.do", .handler = sg_ui_logout, .auth = SG_AUTH_NONE},
    {.method = "POST", .pattern = "/logout.do", .handler = sg_ui_logout, .auth = SG_AUTH_NONE},
    /* Last: Scripted REST APIs, for any path under /api/ no route above
     * knows (scripted_rest.c); it answers the unknown resource as before. */
    SCRIPTED("GET"),
    SCRIPTED("POST"),
    SCRIPTED("PUT"),
    SCRIPTED("PATCH"),
    SCRIPTED("DELETE"),
    /* A console page (/navpage.do, /{table}_list.do, /{table}.do): a
     * fallback for the paths no route above knows. */
    {.method = "GET",
     .pattern = "/*",
     .handler = sg_ui_page,
     .auth = SG_AUTH_NONE,
     .resolve = sg_ui_page_resolve},
};

const struct sg_route *sg_api_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* A capture while matching: views into the pattern and the path. */
struct view {
	const char *name, *value;
	size_t name_len, len;
};

/* Matches path against pattern, each {name} taking one non-empty segment. */
static bool match(const char *pattern, const char *path, struct view *caps, size_t *ncaps)
{
	const char *pp = pattern, *sp = path;
	size_t used = 0, n = 0;
	while (*pp && *sp) {
		if (pp[0] == '*' && !pp[1]) { /* the rest of the path */
			*ncaps = n;
			return true;
		}
		if (*pp == '{') {
			const char *close = strchr(pp, '}');
			const char *end = strchr(sp, '/');
			size_t len = end ? (size_t)(end - sp) : strlen(sp);
			if (!close || len == 0 || used + len + 1 > SG_ROUTE_CAPTURE_MAX ||
			    n == SG_REQ_MAX_CAPTURES)
				return false;
			caps[n++] = (struct view){.name = pp + 1,
			                          .name_len = (size_t)(close - pp - 1),
			                          .value = sp,
			                          .len = len};
			used += len + 1;
			pp = close + 1;
			sp += len;
			continue;
		}
		if (*pp != *sp)
			return false;
		pp++;
		sp++;
	}
	/* A trailing slash on the request is tolerated. */
	if (*sp == '/' && sp[1] == '\0')
		sp++;
	*ncaps = n;
	return !*pp && !*sp;
}

sg_err sg_route_find(const struct sg_route *table, size_t n, const char *method, const char *path,
                     struct sg_arena *arena, struct sg_route_match *m)
{
	bool builtin_known = false;
	memset(m, 0, sizeof(*m));
	/* HEAD is GET without the body [c_RESTAPI.md]. */
	const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
	for (size_t i = 0; i < n; i++) {
		struct view caps[SG_REQ_MAX_CAPTURES];
		size_t ncaps = 0;
		size_t plen = strlen(table[i].pattern);
		bool fallback = plen && table[i].pattern[plen - 1] == '*';
		if (fallback && builtin_known)
			break; /* a known path's other methods stay a 405 */
		if (!match(table[i].pattern, path, caps, &ncaps))
			continue;
		builtin_known = builtin_known || !fallback;
		if (strcmp(table[i].method, want) != 0)
			continue;
		for (size_t k = 0; k < ncaps; k++) {
			char *v = sg_arena_strndup(arena, caps[k].value, caps[k].len);
			if (!v)
				return SG_ERR_NOMEM;
			m->caps[k] = (struct sg_capture){
			    .name = caps[k].name, .name_len = caps[k].name_len, .value = v};
		}
		m->ncaps = ncaps;
		m->route = &table[i];
		return SG_ERR_OK;
	}
	return builtin_known ? SG_ERR_BAD_METHOD : SG_ERR_NO_RESOURCE;
}

bool sg_route_accepts(const struct sg_route *route, const char *ct)
{
	if (!route->accepts)
		return true;
	for (const char *const *a = route->accepts; ct && *a; a++)
		if (!strncasecmp(ct, *a, strlen(*a)))
			return true;
	return false;
}
