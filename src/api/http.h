/*
 * http.h - requests and responses as handlers see them.
 *
 * The HTTP server (src/nowd) fills a struct sg_req and reads back a struct
 * sg_resp; handlers know nothing of libmicrohttpd, so they can be driven from
 * unit tests and, later, from the Batch API.
 */
#ifndef SG_API_HTTP_H
#define SG_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/kv.h"
#include "model/model.h"

struct sg_req {
	const char *method; /* after X-HTTP-Method-Override */
	const char *path;   /* decoded, without the query string */
	const char *raw_query; /* as sent, without '?'; "" when none */
	struct sg_kv *args;    /* decoded query arguments, in order */
	size_t nargs;
	/* Request header lookup (case-insensitive); NULL when absent. */
	const char *(*header)(void *impl, const char *name);
	void *impl;
	const char *body;
	size_t body_len;
	const char *base_url; /* "https://host/" - ends with '/' */
	const struct sg_user *user; /* authenticated user, or NULL */
};

#define SG_RESP_MAX_HEADERS 16

struct sg_resp {
	int status;
	struct sg_kv headers[SG_RESP_MAX_HEADERS];
	size_t nheaders;
	struct sg_buf body;
};

void sg_resp_init(struct sg_resp *r);
void sg_resp_cleanup(struct sg_resp *r);
/* Adds a header (copied); silently dropped past SG_RESP_MAX_HEADERS. */
void sg_resp_header(struct sg_resp *r, const char *name, const char *value);
/* Sets a JSON body (jansson value, borrowed) with status. */
void sg_resp_json(struct sg_resp *r, int status, const json_t *body);
/* Sets the ServiceNow error body for err; arg1/arg2 as in sg_err_render. */
void sg_resp_error(struct sg_resp *r, sg_err err, const char *arg1, const char *arg2);

/* The first value of query argument name, or NULL. */
const char *sg_req_arg(const struct sg_req *req, const char *name);
const char *sg_req_header(const struct sg_req *req, const char *name);

#endif
