/*
 * batch.h - the Batch API's request body, parsed (batch.c).
 *
 * POST /api/now/v1/batch carries {"batch_request_id":…,"rest_requests":[…]},
 * each request with an id, a method, a relative URL, name/value headers and
 * a base64 body.  The parser checks the whole body before any item runs: a
 * malformed batch is refused whole, with nothing done.
 */
#ifndef SG_API_BATCH_H
#define SG_API_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/kv.h"

/* One entry of rest_requests; every pointer into the arena given to
 * sg_batch_parse. */
struct sg_batch_item {
	const char *id; /* a number is read as its text, as batch_request_id */
	const char *method;
	const char *url; /* as sent, query string included */
	size_t url_len;  /* the URL may hold a NUL byte: refused when it runs */
	struct sg_kv *headers;
	size_t nheaders;
	char *body; /* decoded from base64; NULL when none */
	size_t body_len;
	bool exclude_headers; /* exclude_response_headers */
};

struct sg_batch {
	const char *request_id; /* batch_request_id as a string; "" when absent */
	struct sg_batch_item *items;
	size_t nitems;
};

/*
 * Parses a batch body of len bytes into *out, allocating from arena.
 * SG_ERR_OK; SG_ERR_EMPTY_BODY; SG_ERR_BAD_JSON (not JSON);
 * SG_ERR_BAD_PARAM with *why (static text) naming what is wrong (no
 * rest_requests, an item without id, method or url, a body that is not
 * base64...); SG_ERR_NOMEM.
 */
sg_err sg_batch_parse(const char *text, size_t len, struct sg_arena *arena, struct sg_batch *out,
                      const char **why);

/* The reason phrase of an HTTP status ("OK", "Not Found"); "" when unknown.
 * Static storage. */
const char *sg_http_status_text(int status);

#endif
