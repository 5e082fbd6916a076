/*
 * client.h - the outbound HTTP client (libcurl): what nowctl uses to reach an
 * instance today, and what the outbound engine and nowsync will use next.
 *
 * A client holds the options every request shares (timeouts, TLS, proxy,
 * limits, the retry policy) and one libcurl handle, so connections are
 * reused between requests.  A client is used by one thread at a time; give
 * each thread its own.  Every line it logs has gone through net/redact.h:
 * request lines and headers at debug level, retries at info level; never a
 * credential and never a JSON body.
 *
 * Failures come back as an sg_net_err, not a core/err.h code: err.h codes
 * are answers the server renders (an HTTP status and ServiceNow's body),
 * whereas these name the step of an outbound exchange that failed (the
 * host name, the connection, TLS, the certificate...), which the caller
 * turns into its own message or status.  An HTTP error status is not a
 * failure here: the exchange worked and the response carries the status.
 */
#ifndef SG_NET_CLIENT_H
#define SG_NET_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/kv.h"

/* X(name, step): the step names the part of the exchange that failed. */
#define SG_NET_ERR_MAP(X)                                                                          \
	X(OK, "done")                                                                              \
	X(NOMEM, "allocating memory")                                                              \
	X(USAGE, "preparing the request") /* bad URL, scheme, header or option: the caller's */    \
	X(DNS, "resolving the host name")                                                          \
	X(CONNECT, "connecting")                                                                   \
	X(TLS, "the TLS handshake")                                                                \
	X(CERT, "verifying the server's certificate")                                              \
	X(TIMEOUT, "waiting for the answer")                                                       \
	X(TOO_LARGE, "reading the answer") /* over max_body or the header limits */                \
	X(PROTOCOL, "the HTTP exchange")   /* broken or cut-off HTTP, send/receive errors */

enum sg_net_err {
#define SG__NET_ERR_ENUM(name, step) SG_NET_##name,
	SG_NET_ERR_MAP(SG__NET_ERR_ENUM)
#undef SG__NET_ERR_ENUM
	    SG_NET__COUNT
};
typedef enum sg_net_err sg_net_err;

/* "DNS", "CONNECT"...; static storage. */
const char *sg_net_err_name(sg_net_err err);
/* The failing step in words ("resolving the host name"); static storage. */
const char *sg_net_err_step(sg_net_err err);
/* The class of a libcurl CURLcode (passed as an int so callers need not
 * include curl.h).  CURLE_WRITE_ERROR is PROTOCOL here: the client itself
 * knows when it stopped a body for being too large. */
sg_net_err sg_net_err_from_curl(int curl_code);

/* ---- options ----------------------------------------------------------- */

#define SG_HTTP_MAX_RETRY_STATUSES 8

struct sg_http_retry {
	int max_attempts;        /* 1 = no retry; < 1 counts as 1 */
	long base_ms;            /* first backoff; doubles each attempt */
	long max_backoff_ms;     /* the most one backoff waits */
	long max_retry_after_ms; /* the most a Retry-After makes us wait */
	/* Statuses that are retried, 0-terminated (429, 502, 503, 504). */
	int statuses[SG_HTTP_MAX_RETRY_STATUSES];
	bool on_connect_failure; /* retry DNS and connection failures too */
};

/*
 * Strings are copied by sg_http_client_new(); NULL leaves libcurl's
 * default.  Start from sg_http_options_init().
 */
struct sg_http_options {
	long connect_timeout_ms; /* 0: libcurl's (300 s) */
	long timeout_ms;         /* whole attempt, connect included; 0: none */
	bool insecure;           /* do not verify the peer's certificate and name */
	const char *ca_file;     /* CA bundle (PEM) instead of the system's */
	const char *ca_path;     /* directory of hashed CA certificates */
	const char *client_cert; /* PEM client certificate, optional */
	const char *client_key;  /* its key (default: in client_cert) */
	const char *client_key_password;
	/* NULL: the environment's (http_proxy, https_proxy, no_proxy), as
	 * libcurl does; "": none at all; else the proxy's URL. */
	const char *proxy;
	const char *no_proxy;   /* hosts never proxied ("*": all) */
	const char *user_agent; /* NULL: no User-Agent header */
	size_t max_body;        /* response bodies above this fail TOO_LARGE */
	struct sg_http_retry retry;
};

/* Fills o with the defaults: 10 s to connect, 60 s per attempt, certificates
 * verified, 16 MiB bodies, 3 attempts, backoff 500 ms doubling to 30 s,
 * Retry-After honoured up to 60 s, retry on 429/502/503/504 and connection
 * failures. */
void sg_http_options_init(struct sg_http_options *o);

/* ---- client ------------------------------------------------------------ */

struct sg_http_client;

/* A new client with a copy of opt; NULL when out of memory or libcurl fails
 * to start.  The caller frees it with sg_http_client_free(). */
struct sg_http_client *sg_http_client_new(const struct sg_http_options *opt);
void sg_http_client_free(struct sg_http_client *c);

/* ---- request and response ---------------------------------------------- */

/* Every pointer is borrowed for the duration of sg_http_client_do(). */
struct sg_http_request {
	const char *method; /* NULL: GET; HEAD reads no body */
	const char *url;
	const struct sg_kv *headers; /* sent in this order */
	size_t n_headers;
	const char *body; /* NULL: no body; else body_len bytes (may be 0) */
	size_t body_len;
	const char *content_type; /* sent as Content-Type after headers */
	const char *user;         /* Basic credentials when user is not NULL */
	const char *password;
	const char *bearer; /* Authorization: Bearer, when not NULL */
	/* GET, HEAD, PUT, DELETE, OPTIONS and TRACE are retried; any other
	 * method only when the caller says repeating it is safe. */
	bool repeatable;
};

#define SG_HTTP_MAX_HEADERS      100   /* response header lines kept */
#define SG_HTTP_MAX_HEADER_BYTES 65536 /* their total size */
#define SG_NET_DETAIL_SIZE       256   /* libcurl's CURL_ERROR_SIZE */

/* Caller-owned storage: sg_http_response_init() once, then any number of
 * sg_http_client_do(), then sg_http_response_cleanup(). */
struct sg_http_response {
	sg_net_err err;
	int status;                      /* of the last answer; 0 when none came */
	const char *errmsg;              /* libcurl's words for err ("" when OK); static */
	char detail[SG_NET_DETAIL_SIZE]; /* libcurl's detailed message, or "" */
	struct sg_buf body;              /* the last answer's body, at most max_body */
	struct sg_kv headers[SG_HTTP_MAX_HEADERS]; /* the last answer's; in header_mem */
	size_t n_headers;
	struct sg_arena header_mem;
	int attempts;   /* requests sent (1 + retries) */
	long waited_ms; /* time slept between attempts */
};

void sg_http_response_init(struct sg_http_response *r);
void sg_http_response_cleanup(struct sg_http_response *r);

/* The value of the first header called name (any case), or NULL; borrowed
 * from r, valid until its next use. */
const char *sg_http_response_header(const struct sg_http_response *r, const char *name);

/*
 * Sends req, retrying as the client's policy says, and fills resp (whose
 * previous contents are dropped) with the last answer.  Returns resp->err:
 * SG_NET_OK when an answer came, whatever its status.
 */
sg_net_err sg_http_client_do(struct sg_http_client *c, const struct sg_http_request *req,
                             struct sg_http_response *resp);

/*
 * How long a Retry-After value asks us to wait, in milliseconds: delta
 * seconds or an HTTP-date compared with now (seconds since the epoch); a date
 * in the past is 0.  -1 when value is NULL or neither.
 */
long sg_net_retry_after_ms(const char *value, int64_t now);

#endif
