/*
 * api.h - the REST surface: one route table, one dispatcher.
 */
#ifndef SG_API_API_H
#define SG_API_API_H

#include "api/http.h"
#include "auth/auth.h"
#include "model/model.h"

struct sg_api {
	struct sg_model *model;
	struct sg_auth *auth; /* the model's auth state */
};

/* What a route needs before its handler runs. */
enum sg_route_needs {
	SG_NEEDS_NOTHING = 0,
	SG_NEEDS_USER = 1, /* an authenticated user */
};

/* Path parameters captured by the route pattern ("{table}", "{sys_id}"). */
struct sg_route_params {
	const char *table;
	const char *sys_id;
	int version; /* 0 = unversioned (latest), 1, 2 */
};

typedef sg_err (*sg_handler_fn)(struct sg_api *api, struct sg_ctx *ctx,
				struct sg_auth_session *as, const struct sg_req *req,
				const struct sg_route_params *params, struct sg_resp *resp);

struct sg_route {
	const char *method;
	const char *pattern; /* "/api/now/v1/table/{table}/{sys_id}" */
	sg_handler_fn handler;
	unsigned needs;
	int version;
};

/*
 * Finds the route for req.  Returns the route, or NULL with *err set:
 * SG_ERR_BAD_METHOD when the path exists for other methods,
 * SG_ERR_NO_RESOURCE when nothing matches.  Captures go to params; the
 * strings point into scratch (size bytes).
 */
const struct sg_route *sg_api_route(const char *method, const char *path,
				    struct sg_route_params *params, char *scratch, size_t size,
				    sg_err *err);

/* Runs req as its user (a model session and an auth session for the
 * request) and fills resp (status, headers, body). */
void sg_api_dispatch(struct sg_api *api, const struct sg_route *route,
		     const struct sg_route_params *params, const struct sg_req *req,
		     struct sg_resp *resp);

/* Table API handlers (table.c). */
sg_err sg_table_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
		     const struct sg_req *req, const struct sg_route_params *params,
		     struct sg_resp *resp);
sg_err sg_table_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
		    const struct sg_req *req, const struct sg_route_params *params,
		    struct sg_resp *resp);
sg_err sg_table_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
		       const struct sg_req *req, const struct sg_route_params *params,
		       struct sg_resp *resp);
sg_err sg_table_update(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
		       const struct sg_req *req, const struct sg_route_params *params,
		       struct sg_resp *resp);
sg_err sg_table_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
		       const struct sg_req *req, const struct sg_route_params *params,
		       struct sg_resp *resp);

/* The query of a read: the table (INVALID_TABLE), its read ACL by roles
 * (ACL_READ_TABLE), sysparm_query and name=value filters into q, and read
 * access to every field q names (ACL_QUERY_FIELD).  *t is set when the
 * table exists. */
struct sg_query;
sg_err sg_api_read_query(struct sg_ctx *ctx, struct sg_auth_session *as, const struct sg_req *req,
			 const char *table, const struct sg_table **t, struct sg_query *q);

/* Aggregate API handler (stats.c). */
sg_err sg_stats_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
		    const struct sg_req *req, const struct sg_route_params *params,
		    struct sg_resp *resp);

/* OAuth endpoints (oauth.c). */
sg_err sg_oauth_token_endpoint(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
			       const struct sg_req *req, const struct sg_route_params *params,
			       struct sg_resp *resp);
sg_err sg_oauth_revoke_endpoint(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
				const struct sg_req *req, const struct sg_route_params *params,
				struct sg_resp *resp);

#endif
