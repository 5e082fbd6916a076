/*
 * err.h - the one error enum of Snowglobe.
 *
 * Every failure a handler can report is a code defined once here, with its
 * HTTP status and the ServiceNow-shaped message and detail (libuv's error
 * map).  A handler returns a code; sg_err_render() writes the body.  A "%s"
 * in a message or detail is filled from the argument passed at render time
 * (a table name, a content length, a list of field labels).
 */
#ifndef SG_CORE_ERR_H
#define SG_CORE_ERR_H

/* X(name, status, message, detail); a NULL detail renders as JSON null. */
#define SG_ERR_MAP(X)                                                                              \
	X(OK, 200, NULL, NULL)                                                                     \
	X(NOMEM, 500, "Internal server error", "Out of memory")                                    \
	X(INTERNAL, 500, "Internal server error", "%s")                                            \
	X(STORE, 500, "Internal server error", "Database error")                                   \
	X(BUSY, 503, "Service unavailable", "The instance is busy; try again")                     \
	X(NO_RESOURCE, 400, "Requested URI does not represent any resource", NULL)                 \
	X(BAD_METHOD, 405, "Method not Supported", "Method %s not supported for API")              \
	X(INVALID_TABLE, 400, "Invalid table %s", NULL)                                            \
	X(NO_RECORD, 404, "No Record found",                                                       \
	  "Record doesn't exist or ACL restricts the record retrieval")                            \
	X(NO_RECORDS, 404, "No Record found",                                                      \
	  "Records matching query not found. Check query parameter or offset parameter")           \
	X(BAD_JSON, 400, "Exception while reading request", "The payload is not valid JSON.")      \
	X(BAD_JSON_NUL, 400, "Exception while reading request",                                    \
	  "The payload is not valid JSON: a string holds \\u0000, which cannot be stored.")        \
	X(EMPTY_BODY, 400, "Exception while reading request", "No request body found")             \
	X(BAD_XML, 400, "Exception while reading request", "%s")                                   \
	X(TOO_LARGE, 400, "Exception while reading request",                                       \
	  "Rejected large REST payload with content-length = %s bytes. Max allowed: %s bytes.")    \
	X(BAD_PARAM, 400, "Invalid parameter", "%s")                                               \
	X(QUERY_TOO_LARGE, 400, "Invalid query",                                                   \
	  "The query is too large: at most 10000 values, 4 MB of SQL")                             \
	X(NO_AGGREGATE, 400, "No request parameter for aggregate operation specified", NULL)       \
	X(UNAUTHENTICATED, 401, "User Not Authenticated", "Required to provide Auth information")  \
	X(DATA_POLICY, 403, "Operation Failed",                                                    \
	  "Data Policy Exception: \nThe following fields are mandatory: %s")                       \
	X(INVALID_INSERT, 403, "Operation Failed", "%s")                                           \
	X(NOT_ACCEPTABLE, 406, "Not Acceptable", "%s")                                             \
	X(ACL_READ_TABLE, 403, "Insufficient rights to query records",                             \
	  "No permission to read table '%s'")                                                      \
	X(ACL_QUERY_FIELD, 403, "Insufficient rights to query records",                            \
	  "Field(s) present in the query do not have permission to be read")                       \
	X(ACL_INSERT, 403, "Operation Failed",                                                     \
	  "ACL Exception Insert Failed due to security constraints")                               \
	X(ACL_UPDATE, 403, "Operation Failed",                                                     \
	  "ACL Exception Update Failed due to security constraints")                               \
	X(ACL_DELETE, 403, "Operation Failed",                                                     \
	  "ACL Exception Delete Failed due to security constraints")                               \
	X(SCOPE_MISSING, 403, "User Not Authorized", "Missing required api access scope")          \
	X(RATE_LIMITED, 429, "Rate limit exceeded",                                                \
	  "Rate limit of %s requests per hour for %s exceeded")                                    \
	X(OAUTH_DENIED, 401, "access_denied", "server_error") /* rendered specially: oauth.c */

enum sg_err {
#define SG__ERR_ENUM(name, status, msg, detail) SG_ERR_##name,
	SG_ERR_MAP(SG__ERR_ENUM)
#undef SG__ERR_ENUM
	    SG_ERR__COUNT
};
typedef enum sg_err sg_err;

/* The HTTP status a code answers with. */
int sg_err_status(sg_err err);

/* The code's name, for logs ("NO_RECORD"). Static storage. */
const char *sg_err_name(sg_err err);

/*
 * Renders {"error":{"message":…,"detail":…},"status":"failure"} for err.
 * arg1/arg2 fill the first and second "%s" (message first, then detail);
 * NULL means "".  Returns a malloc'd string the caller frees, or NULL on
 * allocation failure.
 */
char *sg_err_render(sg_err err, const char *arg1, const char *arg2);

#endif
