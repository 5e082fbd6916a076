/*
 * api.h - the REST surface: the route table as data, the middleware that
 * owns a request from its headers to its response, and the handlers.
 *
 * The server (src/nowd) only moves bytes.  A request goes through
 *   sg_api_begin   headers in: method override, route, body limit; a
 *                  streamed route is also authenticated here;
 *   sg_api_body    each piece of the body: buffered, or handed to a streamed
 *                  route's callback;
 *   sg_api_handle  the whole request in: authentication (Basic, Bearer), the
 *                  "needs a user" rule, the API scope, then the handler;
 * and the server sends the struct sg_resp back.
 */
#ifndef SG_API_API_H
#define SG_API_API_H

#include <pthread.h>

struct sg_ratelimit;
struct sg_journal;

#include "api/http.h"
#include "auth/auth.h"
#include "model/model.h"

/* The properties every request needs, read once per property change. */
struct sg_api_settings {
	unsigned long gen;
	bool valid;
	char servlet_uri[1024];   /* "" unless replace_request_host_with_property */
	long long max_body;       /* glide.rest.max_content_length */
	long long max_attachment; /* com.glide.attachment.max_size, in bytes */
};

struct sg_api {
	struct sg_model *model;
	struct sg_auth *auth; /* the model's auth state */
	const char *base_url; /* --base-url: overrides glide.servlet.uri; NULL when unset */
	const struct sg_route *routes; /* the built-in table unless a test sets its own */
	size_t nroutes;
	pthread_mutex_t lock;
	struct sg_api_settings cfg;     /* guarded by lock */
	struct sg_ratelimit *ratelimit; /* ratelimit.h: rules and counts of this node */
	bool snowglobe_off;         /* --no-snowglobe-api: paths under /_snowglobe/ are unknown */
	struct sg_journal *journal; /* journal.h: the requests served; NULL without memory */
	const char
	    *ui_dir; /* the console's static files (ui.c): --ui-dir, else sg_ui_default_dir() */
};

/* Caller-owned api serving model with its auth state (both borrowed) and the
 * built-in routes; base_url (borrowed, may be NULL) as --base-url. */
void sg_api_init(struct sg_api *api, struct sg_model *model, struct sg_auth *auth,
                 const char *base_url);
void sg_api_cleanup(struct sg_api *api);

/* Who may call a route. */
enum sg_route_auth {
	SG_AUTH_NONE,     /* anyone: the handler authenticates the client itself */
	SG_AUTH_USER,     /* an authenticated user (Basic or Bearer) */
	SG_AUTH_OPTIONAL, /* the route's resolver says whether a caller without
	                   * credentials may go on (Scripted REST's "requires
	                   * authentication"); credentials sent are checked */
};

/* How a route takes its body. */
enum sg_route_body {
	SG_BODY_BUFFERED, /* whole, in req->body, when the handler runs */
	SG_BODY_STREAMED, /* in pieces through the route's on_body, as it arrives */
};

/* Which limit a route's body is held to. */
enum sg_route_limit {
	SG_LIMIT_REST,       /* glide.rest.max_content_length: a 400 beyond it */
	SG_LIMIT_ATTACHMENT, /* com.glide.attachment.max_size: a 413 beyond it */
};

/* Runs the request as ctx's user (as: its auth session) and fills resp (status, headers, body). */
typedef sg_err (*sg_handler_fn)(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                struct sg_req *req, struct sg_resp *resp);
/* Takes one piece of a streamed body (len > 0), after authentication.  State
 * it keeps goes in req->stream, allocated from req->arena.  An error refuses
 * the request: it becomes the response. */
typedef sg_err (*sg_body_fn)(struct sg_api *api, struct sg_req *req, const char *data, size_t len);
/* A fallback route's resolver, run once the whole request is in, before
 * authentication: SG_ERR_OK when the path names a resource (state it keeps
 * goes in req->stream, with req->stream_cleanup), *anonymous whether it may
 * be called without credentials; SG_ERR_NO_RESOURCE or SG_ERR_BAD_METHOD
 * when it does not (answered as for a path no route knows); another error
 * is the answer. */
typedef sg_err (*sg_resolve_fn)(struct sg_api *api, struct sg_req *req, bool *anonymous);

struct sg_route {
	const char *method;
	const char *pattern; /* "/api/now/v1/table/{table}/{sys_id}": {name} captures a segment;
	                      * a final "*" takes the rest of the path (a fallback: only
	                      * when no other route knows the path) */
	sg_handler_fn handler;
	enum sg_route_auth auth;
	const char *scope; /* the REST API auth scope's API ("now/table"); NULL: none applies */
	const char *const *accepts; /* request content types the handler reads; NULL: any */
	const char *produces;       /* Content-Type of its responses */
	enum sg_route_body body;
	sg_body_fn on_body; /* SG_BODY_STREAMED only */
	int version;        /* 0 = unversioned (latest), 1, 2 */
	enum sg_route_limit limit;
	sg_resolve_fn resolve; /* a fallback route's (SG_AUTH_OPTIONAL), else NULL */
};

/* The test-double powers live under this prefix (snowglobe.c): admin only,
 * and answered as unknown paths when api->snowglobe_off. */
#define SG_SNOWGLOBE_PREFIX "/_snowglobe"

/* true when path is SG_SNOWGLOBE_PREFIX or under it. */
bool sg_snowglobe_path(const char *path);

/* The gate middleware.c's dispatch() puts before every /_snowglobe/
 * handler: *ok true when the caller has the admin role in effect (or ctx is
 * the system); else resp holds the 403.  The handlers do not check again. */
sg_err sg_snowglobe_admit(struct sg_ctx *ctx, struct sg_auth_session *as, struct sg_resp *resp,
                          bool *ok);

/* GET /_snowglobe/: the version and the routes under the prefix. */
sg_err sg_snowglobe_index(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp);

/* /_snowglobe/faults[/{id}]: fault injection rules (faults.c). */
sg_err sg_faults_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp);
sg_err sg_faults_get_all(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp);
sg_err sg_faults_get_one(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp);
sg_err sg_faults_delete_one(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);
sg_err sg_faults_delete_all(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);

/* GET|POST /_snowglobe/clock: the instance's clock (clock.c). */
sg_err sg_clock_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);
sg_err sg_clock_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp);

/* The request journal's routes (journal.c): GET /_snowglobe/requests,
 * GET /_snowglobe/requests/count, DELETE /_snowglobe/requests. */
sg_err sg_journal_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);
sg_err sg_journal_count(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp);
sg_err sg_journal_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp);

/* The built-in route table (static); *n set to its length. */
const struct sg_route *sg_api_routes(size_t *n);

/* The captured values of a path are refused (no route matches) past this many
 * bytes, NULs included. */
#define SG_ROUTE_CAPTURE_MAX 1024

/*
 * Finds the route for method and path among routes (n of them); HEAD finds
 * GET's.  SG_ERR_OK with *m filled, the capture values copied into arena;
 * SG_ERR_BAD_METHOD when the path exists for other methods,
 * SG_ERR_NO_RESOURCE when nothing matches, SG_ERR_NOMEM when the arena is
 * exhausted.  m->route is NULL unless SG_ERR_OK.
 */
sg_err sg_route_find(const struct sg_route *routes, size_t n, const char *method, const char *path,
                     struct sg_arena *arena, struct sg_route_match *m);

/* Whether the route reads a body of Content-Type ct (NULL when absent). */
bool sg_route_accepts(const struct sg_route *route, const char *ct);

/*
 * The request's life in three steps (see the top of this file).  req is
 * caller-owned (sg_req_init before, sg_req_cleanup after the response is
 * sent); resp is caller-owned and initialised.  sg_api_begin and sg_api_body
 * return true when resp holds the final answer: the rest of the body is then
 * read and dropped, and sg_api_handle is not called.  sg_api_handle always
 * fills resp.
 */
bool sg_api_begin(struct sg_api *api, struct sg_req *req, struct sg_resp *resp);
bool sg_api_body(struct sg_api *api, struct sg_req *req, const char *data, size_t len,
                 struct sg_resp *resp);
void sg_api_handle(struct sg_api *api, struct sg_req *req, struct sg_resp *resp);
/* The refusal of req's body of got bytes, over its route's limit (set by
 * sg_api_begin in req->max_body), into resp (emptied first). */
void sg_api_too_large(const struct sg_req *req, unsigned long long got, struct sg_resp *resp);

/*
 * Runs a batch item (batch.c) as a request of its own through the same
 * steps: method override, route, body limit, content type, the scope of the
 * batch's token, the handler with the ACLs of the batch's user.  sub is
 * caller-owned (sg_req_init, then its transport half: method, the URL by
 * sg_req_set_url, header, origin, and parent: the batch request, already
 * admitted, which must outlive sub); body is the item's whole body (len
 * bytes, borrowed).  Always fills resp (caller-owned, initialised).
 */
void sg_api_subrequest(struct sg_api *api, struct sg_req *sub, const char *body, size_t len,
                       struct sg_resp *resp);

/* Batch API handler (batch.c). */
sg_err sg_batch_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp);

/* Table API handlers (table.c). */
sg_err sg_table_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp);
sg_err sg_table_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);
sg_err sg_table_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);
sg_err sg_table_update(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);
sg_err sg_table_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);

/* The query of a read: the table (INVALID_TABLE), its read ACL by roles
 * (ACL_READ_TABLE), sysparm_query and name=value filters into q, and read
 * access to every field q names (ACL_QUERY_FIELD).  *t is set when the
 * table exists. */
struct sg_query;
sg_err sg_api_read_query(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_req *req,
                         const char *table, const struct sg_table **t, struct sg_query *q);

/* Tiny URLs (tinyurl.c): POST /api/now/tinyurl stores {"url": ...} in
 * sys_tiny_url and answers {"result":"<path>?sysparm_tiny=<id>"} (201). */
sg_err sg_tinyurl_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp);
/* Snapshots under /_snowglobe/ (snapshot.c): list, save, restore, delete,
 * reset. */
sg_err sg_snapshot_list_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);
sg_err sg_snapshot_save_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                             struct sg_req *req, struct sg_resp *resp);
sg_err sg_snapshot_restore_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                struct sg_req *req, struct sg_resp *resp);
sg_err sg_snapshot_delete_one(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                              struct sg_req *req, struct sg_resp *resp);
/* After sg_model_sync: when the instance was restored since this process
 * last looked (by it, or by nowctl --data while it runs), drops what it
 * keeps in memory of the instance before (the compiled scripts). */
void sg_snapshot_follow(struct sg_api *api);
sg_err sg_snapshot_reset(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp);
/* POST /api/now/snowglobe/script: Scripts - Background (script.c). */
sg_err sg_script_background(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);
/* A GET or HEAD with sysparm_tiny=<id>: req's arguments become the caller's
 * own (sysparm_tiny dropped) followed by the stored ones it did not name
 * (in req's arena); raw_query stays as sent.  SG_ERR_BAD_PARAM (detail in
 * ctx) for an unknown id; a no-op without sysparm_tiny. */
sg_err sg_tinyurl_expand(struct sg_ctx *ctx, struct sg_req *req);

/* Attachment API handlers (attachment.c). */
sg_err sg_attachment_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp);
sg_err sg_attachment_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp);
sg_err sg_attachment_file(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp);
sg_err sg_attachment_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);
sg_err sg_attachment_rename(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);
/* POST /file (raw body) and POST /upload (multipart), streamed. */
sg_err sg_attachment_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp);
sg_err sg_attachment_raw_body(struct sg_api *api, struct sg_req *req, const char *data, size_t len);
sg_err sg_attachment_multipart_body(struct sg_api *api, struct sg_req *req, const char *data,
                                    size_t len);

/* The Table API's create check (table.c): the user may create records of t
 * (else SG_ERR_ACL_INSERT); the fields of in the user may not write are
 * dropped from it. */
sg_err sg_api_may_create(struct sg_auth_session *as, const struct sg_table *t, json_t *in);

/* Paging shared by the list APIs (table.c): sysparm_limit and sysparm_offset
 * (BAD_PARAM when not a whole number; a limit of 0 or less is dflt_limit, a
 * negative offset 0), and the Link header of a page. */
sg_err sg_api_page_args(struct sg_ctx *ctx, const struct sg_req *req, long long dflt_limit,
                        long long *limit, long long *offset);
sg_err sg_api_pagination(const struct sg_req *req, struct sg_resp *resp, long long limit,
                         long long offset, long long total, bool counted, size_t rows);

/* POST /api/now/snowglobe/app: an application installed in one transaction (app.c). */
sg_err sg_app_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                   struct sg_req *req, struct sg_resp *resp);

/* Scripted REST APIs (scripted_rest.c): the fallback under /api/ that
 * serves sys_ws_definition / sys_ws_operation resources; an unknown
 * resource is SG_ERR_NO_RESOURCE, as for any unknown path. */
sg_err sg_scripted_rest(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp);
sg_err sg_scripted_rest_resolve(struct sg_api *api, struct sg_req *req, bool *anonymous);

/* The console's table metadata, GET /api/now/ui/meta/{table} (ui_meta.c):
 * the table's label, ancestry and the columns the user may read. */
sg_err sg_ui_meta_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp);

/* POST /api/now/ui/oauth/get_token: an outbound OAuth provider's "Get OAuth
 * Token" for the console, as nowctl oauth get-token (oauth_get_token.c);
 * the admin's only. */
sg_err sg_oauth_get_token(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp);

/* Aggregate API handler (stats.c). */
sg_err sg_stats_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);

/* Import Set API handlers (importset.c). */
sg_err sg_import_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp);
sg_err sg_import_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp);
sg_err sg_import_insert_multiple(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                 struct sg_req *req, struct sg_resp *resp);

/* OAuth endpoints (oauth.c). */
sg_err sg_oauth_token_endpoint(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                               struct sg_req *req, struct sg_resp *resp);
sg_err sg_oauth_revoke_endpoint(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                struct sg_req *req, struct sg_resp *resp);
/* GET /oauth_redirect.do: outbound OAuth's authorization code (oauth_redirect.c) */
sg_err sg_oauth_redirect_endpoint(struct sg_api *api, struct sg_ctx *ctx,
                                  struct sg_auth_session *as, struct sg_req *req,
                                  struct sg_resp *resp);

/* The browser console (ui.c): GET|HEAD /ui/... (its static files), GET /,
 * GET /favicon.ico, GET|POST /login.do, GET|POST /logout.do and the pages (/navpage.do,
 * /{table}_list.do, /{table}.do: sg_ui_page_resolve tells a page's path). */
const char *sg_ui_default_dir(void);
sg_err sg_ui_static(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_favicon(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_root(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                  struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_login_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_login_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_logout(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_page(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                  struct sg_req *req, struct sg_resp *resp);
sg_err sg_ui_page_resolve(struct sg_api *api, struct sg_req *req, bool *anonymous);
/* The JSESSIONID cookie of req into id; false when it has none (or one too long). */
bool sg_ui_session_cookie(const struct sg_req *req, char id[48]);

/* CMDB APIs (cmdb.c): Identification and Reconciliation, CMDB Instance. */
sg_err sg_ire_identify(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);
sg_err sg_ire_query(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);
sg_err sg_ire_enhanced(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp);
sg_err sg_ire_query_enhanced(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                             struct sg_req *req, struct sg_resp *resp);
sg_err sg_cmdb_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp);
sg_err sg_cmdb_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                   struct sg_req *req, struct sg_resp *resp);
sg_err sg_cmdb_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp);
sg_err sg_cmdb_update(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp);
sg_err sg_cmdb_add_relation(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp);
sg_err sg_cmdb_delete_relation(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                               struct sg_req *req, struct sg_resp *resp);

#endif
