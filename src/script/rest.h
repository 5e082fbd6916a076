/*
 * rest.h - the globals a Scripted REST resource's script sees: request,
 * response and sn_ws_err, with ServiceNow's RESTAPIRequest /
 * RESTAPIResponse methods.  The API layer (api/scripted_rest.c) makes the
 * request's JSON, runs the script with sg_script_rest_bind as the run's
 * bind hook and result_var SG_SCRIPT_REST_OUT, and turns that value into
 * the HTTP answer.
 */
#ifndef SG_SCRIPT_REST_H
#define SG_SCRIPT_REST_H

#include "script/script.h"

/* The global the run answers: {"status": n (0: not set), "headers": {name:
 * value}, "body": value, "hasBody": bool, "stream": text or null,
 * "contentType": text or null, "error": null or {"status", "message",
 * "detail"}}. */
#define SG_SCRIPT_REST_OUT "__sg_rest_out"

/* Bytes getStreamWriter may write before the script is stopped. */
#define SG_SCRIPT_REST_STREAM_MAX (8 * 1024 * 1024)

/*
 * The request a script sees.  json: {"pathParams": {..}, "queryParams":
 * {name: [values]}, "queryString": "..", "uri": "..", "url": "..",
 * "headers": {lower-case name: value}, "body": text or null} (the headers
 * the API layer could list); header(impl, name) answers getHeader for any
 * name (NULL: absent).
 */
struct sg_script_rest_request {
	const char *json;
	const char *(*header)(void *impl, const char *name);
	void *impl;
};

/* The bind hook (struct sg_script_run's bind); ud a struct
 * sg_script_rest_request, borrowed for the run.  Non-zero when the objects
 * could not be made. */
int sg_script_rest_bind(duk_context *ctx, void *ud);

/*
 * The script as it runs: source wrapped so that an sn_ws_err error it
 * throws becomes response.setError (line numbers kept).  New string
 * (free()), *len its length; NULL when memory ran out.
 */
char *sg_script_rest_wrap(const char *source, size_t source_len, size_t *len);

#endif
