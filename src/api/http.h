/*
 * http.h - requests and responses as handlers see them.
 *
 * The HTTP server (src/nowd) fills the transport half of a struct sg_req and
 * reads back a struct sg_resp; the API's middleware (api.h) fills the rest:
 * the route and its captures, the user, the body.  Handlers know nothing of
 * libmicrohttpd, so they can be driven from unit tests and, later, from the
 * Batch API.
 */
#ifndef SG_API_HTTP_H
#define SG_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "auth/oauth.h"
#include "core/kv.h"
#include "model/model.h"

/* The content type of every JSON response, error bodies included. */
#define SG_JSON_TYPE "application/json;charset=UTF-8"

/* A request's memory beyond this is refused as out of memory (500). */
#define SG_REQ_ARENA_MAX (64u * 1024u * 1024u)

#define SG_REQ_MAX_CAPTURES 8

/* A path segment captured by a route pattern's "{name}". */
struct sg_capture {
	const char *name; /* into the route's pattern, not NUL-terminated */
	size_t name_len;
	const char *value; /* NUL-terminated, in the request's arena */
};

struct sg_route;

/* What the router found: the route and its captures. */
struct sg_route_match {
	const struct sg_route *route;
	struct sg_capture caps[SG_REQ_MAX_CAPTURES];
	size_t ncaps;
};

struct sg_req {
	/* Set by the server before sg_api_begin. */
	const char *method;    /* as sent; sg_api_begin applies X-HTTP-Method-Override */
	const char *path;      /* decoded, without the query string */
	const char *raw_query; /* as sent, without '?'; "" when none */
	struct sg_kv *args;    /* decoded query arguments, in order */
	size_t nargs;
	/* Request header lookup (case-insensitive); NULL when absent. */
	const char *(*header)(void *impl, const char *name);
	void *impl;
	const char *origin; /* "http://host/": scheme and Host the request came by */
	/* The batch a sub-request runs in (api.h: sg_api_subrequest); NULL for a
	 * request off the wire.  A sub-request runs as its batch's user. */
	const struct sg_req *parent;
	/* Request-scoped memory, freed by sg_req_cleanup after the response:
	 * captures, argument arrays, handlers' scratch. */
	struct sg_arena arena;

	/* Set by the middleware (api.h). */
	struct sg_route_match match; /* .route NULL when none matched */
	sg_err route_err;            /* why none matched: BAD_METHOD or NO_RESOURCE */
	const char *body; /* a buffered route's whole body; NULL when none or not accepted */
	size_t body_len;
	const char *base_url;       /* "https://host/" - ends with '/' */
	const struct sg_user *user; /* authenticated user, or NULL */
	/* The token the user came by (its scope), NULL for Basic; into
	 * bearer_storage or the batch's. */
	const struct sg_bearer *bearer;
	void *stream; /* a streamed route's own state (in the arena) */
	/* Called by sg_req_cleanup with stream when set: what the state holds
	 * outside the arena (a temporary file) is released there. */
	void (*stream_cleanup)(void *stream);

	/* The middleware's own. */
	struct sg_buf body_buf; /* a buffered body as it arrives */
	unsigned long long body_seen;
	long long max_body;
	bool admitted;     /* authenticated (when needed) and in scope */
	bool anonymous_ok; /* a resolved fallback route that needs no user */
	struct sg_user user_storage;
	struct sg_bearer bearer_storage;
};

/* Prepares caller-owned req (everything zero, the arena empty). */
void sg_req_init(struct sg_req *req);
/* Frees what the request holds: its arena and buffered body. */
void sg_req_cleanup(struct sg_req *req);

#define SG_RESP_MAX_HEADERS 16

struct sg_resp {
	int status;
	struct sg_kv headers[SG_RESP_MAX_HEADERS];
	size_t nheaders;
	struct sg_buf body;
	bool failed; /* a header could not be added: the response is not whole */
	/* A file sent as the body instead of body (sg_resp_file): the server
	 * streams it from the descriptor, which the response owns. */
	bool has_file;
	int file_fd;
	unsigned long long file_size;
};

void sg_resp_init(struct sg_resp *r);
void sg_resp_cleanup(struct sg_resp *r);
/* Adds a header (copied); silently dropped past SG_RESP_MAX_HEADERS.  Out of
 * memory marks r failed (sticky): see sg_resp_final. */
void sg_resp_header(struct sg_resp *r, const char *name, const char *value);
/*
 * What goes on the wire for r: r itself, or, when r could not be built whole
 * (a header or the body ran out of memory), ServiceNow's 500 for out of
 * memory with its JSON Content-Type, in static storage so that sending it
 * allocates nothing.  Borrowed (r, or static and read-only); never NULL.
 * The server calls it once the response is complete.
 */
const struct sg_resp *sg_resp_final(const struct sg_resp *r);
/* Makes the open file fd (taken over: closed with r) the body, size bytes
 * from its start, with status; the server sends it without reading it into
 * memory.  An error body set later (sg_resp_error) replaces it. */
void sg_resp_file(struct sg_resp *r, int status, int fd, unsigned long long size);
/* Sets a JSON body (jansson value, borrowed) with status. */
void sg_resp_json(struct sg_resp *r, int status, const json_t *body);
/* Sets the ServiceNow error body for err; arg1/arg2 as in sg_err_render. */
void sg_resp_error(struct sg_resp *r, sg_err err, const char *arg1, const char *arg2);

/* A refusal of the transport (a malformed request, an unsupported
 * Transfer-Encoding) in ServiceNow's error shape, with its JSON Content-Type:
 * {"error":{"message":message,"detail":detail},"status":"failure"}.
 * message and detail are the server's own text (not client input). */
void sg_resp_refuse(struct sg_resp *r, int status, const char *message, const char *detail);

/*
 * Appends s[0..len) to b as URL text safe to echo in a header: every byte
 * outside RFC 3986's unreserved, sub-delims and ":@/?" is percent-encoded
 * (controls, CR/LF, space, quotes, angle brackets, backslash, non-ASCII...).
 * keep_pct keeps '%' as is (text already percent-encoded, as a raw query);
 * otherwise '%' is encoded too (a decoded path).
 */
void sg_url_escape(struct sg_buf *b, const char *s, size_t len, bool keep_pct);

/*
 * Sets req's path, raw_query and args from a relative URL of len bytes
 * ("/api/now/table/incident?sysparm_limit=1") as the HTTP server reads a
 * request target: the path is percent-decoded ('+' stays), the query split at
 * '&' into name=value arguments, each '+'- and percent-decoded, a name
 * without '=' getting "".  Copies into req's arena.  SG_ERR_BAD_PARAM when the
 * URL holds an encoded NUL (see sg_url_has_encoded_nul), SG_ERR_NOMEM.
 */
sg_err sg_req_set_url(struct sg_req *req, const char *url, size_t len);

/* The detail of the 400 ("Bad Request") refusing such a URL. */
#define SG_URL_NUL_DETAIL "The request URI holds an encoded NUL character (%00)"

/* Whether a request target as sent holds "%00": decoding would cut a path
 * or a parameter short (/api/now/table/sys_user%00 read as sys_user). */
bool sg_url_has_encoded_nul(const char *url);

/* The first value of query argument name, or NULL.  Borrowed from req. */
const char *sg_req_arg(const struct sg_req *req, const char *name);
/* A request header, or NULL.  Borrowed from the server. */
const char *sg_req_header(const struct sg_req *req, const char *name);
/* The path segment the route captured as "{name}", or NULL.  Borrowed from
 * req's arena. */
const char *sg_req_param(const struct sg_req *req, const char *name);

#endif
