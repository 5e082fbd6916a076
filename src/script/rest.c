/*
 * rest.c - request, response and sn_ws_err for Scripted REST resources
 * (rest.h).  The objects are JavaScript (below), over a request object the
 * API layer hands in as JSON; what the script sets is collected in one
 * plain object the run answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script/internal.h"
#include "script/rest.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

/* Evaluated with the request (parsed) on the stack's top; leaves nothing. */
static const char rest_js[] =
    "(function (q, g, header) {\n"
    "var out = {status: 0, headers: {}, hasBody: false, stream: null, contentType: null,\n"
    "           error: null};\n"
    /* Values a body may hold, as plain JSON: objects with their own
     * toString (GlideElement, GlideDateTime) become their string. */
    "function plain(v, depth) {\n"
    "  if (depth > 64) throw new Error('response body nested too deeply');\n"
    "  if (v === null || v === undefined) return null;\n"
    "  var t = typeof v;\n"
    "  if (t === 'string' || t === 'boolean') return v;\n"
    "  if (t === 'number') return isFinite(v) ? v : null;\n"
    "  if (t === 'function') return null;\n"
    "  if (v instanceof Array) {\n"
    "    var a = [];\n"
    "    for (var i = 0; i < v.length; i++) a.push(plain(v[i], depth + 1));\n"
    "    return a;\n"
    "  }\n"
    "  var p = Object.getPrototypeOf(v);\n"
    "  if (p !== Object.prototype && p !== null) return String(v);\n"
    "  var o = {};\n"
    "  for (var k in v) if (Object.prototype.hasOwnProperty.call(v, k)) o[k] = plain(v[k], depth + "
    "1);\n"
    "  return o;\n"
    "}\n"
    "function ServiceError(message) {\n"
    "  this.status = 500; this.message = message === undefined ? '' : String(message);\n"
    "  this.detail = '';\n"
    "}\n"
    "ServiceError.prototype.setStatus = function (s) { this.status = Number(s); return this; };\n"
    "ServiceError.prototype.setMessage = function (m) { this.message = String(m); return this; };\n"
    "ServiceError.prototype.setDetail = function (d) { this.detail = String(d); return this; };\n"
    "ServiceError.prototype.toString = function () { return this.message; };\n"
    "function kind(status, name) {\n"
    "  var f = function (message) { ServiceError.call(this, message); this.status = status; };\n"
    "  f.prototype = Object.create(ServiceError.prototype);\n"
    "  f.prototype.constructor = f;\n"
    "  f.prototype.name = name;\n"
    "  return f;\n"
    "}\n"
    "g.sn_ws_err = {ServiceError: ServiceError, BadRequestError: kind(400, 'BadRequestError'),\n"
    "  NotFoundError: kind(404, 'NotFoundError'), ConflictError: kind(409, 'ConflictError'),\n"
    "  NotAcceptableError: kind(406, 'NotAcceptableError'),\n"
    "  UnsupportedMediaTypeError: kind(415, 'UnsupportedMediaTypeError')};\n"
    "var parsed = false, data;\n"
    "var body = {dataString: q.body === null ? '' : q.body};\n"
    "Object.defineProperty(body, 'data', {enumerable: true, get: function () {\n"
    "  if (!parsed) {\n"
    "    parsed = true;\n"
    "    if (q.body === null || q.body === '') { data = undefined; }\n"
    "    else {\n"
    "      try { data = JSON.parse(q.body); }\n"
    "      catch (e) { parsed = false;\n"
    "        throw new g.sn_ws_err.BadRequestError('Unable to parse the request body as JSON'); }\n"
    "    }\n"
    "  }\n"
    "  return data;\n"
    "}});\n"
    "g.request = {pathParams: q.pathParams, queryParams: q.queryParams,\n"
    "  queryString: q.queryString, uri: q.uri, url: q.url, headers: q.headers, body: body,\n"
    "  getHeader: function (name) { return header(String(name)); }};\n"
    "var writer = {writeString: function (s) {\n"
    "  s = String(s);\n"
    "  if (out.stream.length + s.length > " STR(
        SG_SCRIPT_REST_STREAM_MAX) ")\n"
                                   "    throw new Error('the response stream is larger than " STR(
                                       SG_SCRIPT_REST_STREAM_MAX) " bytes');\n"
                                                                  "  out.stream += s;\n"
                                                                  "}};\n"
                                                                  "g.response = {\n"
                                                                  "  setStatus: function (s) { "
                                                                  "out.status = Number(s); },\n"
                                                                  "  setBody: function (b) { "
                                                                  "out.body = plain(b, 0); "
                                                                  "out.hasBody = true; },\n"
                                                                  "  setHeader: function (n, v) { "
                                                                  "out.headers[String(n)] = "
                                                                  "String(v); },\n"
                                                                  "  setLocation: function (l) { "
                                                                  "out.headers['Location'] = "
                                                                  "String(l); },\n"
                                                                  "  setContentType: function (t) "
                                                                  "{ out.contentType = String(t); "
                                                                  "},\n"
                                                                  "  getStreamWriter: function () "
                                                                  "{ if (out.stream === null) "
                                                                  "out.stream = ''; return writer; "
                                                                  "},\n"
                                                                  "  setError: function (e) {\n"
                                                                  "    if (!(e instanceof "
                                                                  "ServiceError)) e = new "
                                                                  "ServiceError(String(e));\n"
                                                                  "    out.error = {status: "
                                                                  "Number(e.status), message: "
                                                                  "String(e.message),\n"
                                                                  "                 detail: "
                                                                  "String(e.detail)};\n"
                                                                  "  }};\n"
                                                                  "g." SG_SCRIPT_REST_OUT
                                                                  " = out;\n"
                                                                  "})";

/* getHeader(name): the header's value, or undefined. */
static duk_ret_t n_header(duk_context *ctx)
{
	const char *name = duk_require_string(ctx, 0);
	duk_push_current_function(ctx);
	duk_get_prop_string(ctx, -1, DUK_HIDDEN_SYMBOL("req"));
	const struct sg_script_rest_request *r = duk_get_pointer(ctx, -1);
	duk_pop_2(ctx);
	const char *v = r && r->header && strlen(name) < 256 ? r->header(r->impl, name) : NULL;
	if (!v)
		return 0;
	duk_push_string(ctx, v);
	return 1;
}

static duk_ret_t bind_safe(duk_context *ctx, void *udata)
{
	struct sg_script_rest_request *request = udata;
	duk_push_string(ctx, "scripted_rest.js");
	duk_compile_string_filename(ctx, DUK_COMPILE_EVAL, rest_js);
	duk_call(ctx, 0); /* -> the function */
	duk_push_string(ctx, request->json);
	duk_json_decode(ctx, -1);
	duk_push_global_object(ctx);
	duk_push_c_function(ctx, n_header, 1);
	duk_push_pointer(ctx, request);
	duk_put_prop_string(ctx, -2, DUK_HIDDEN_SYMBOL("req"));
	duk_call(ctx, 3);
	duk_pop(ctx);
	return 0;
}

int sg_script_rest_bind(duk_context *ctx, void *ud)
{
	if (duk_safe_call(ctx, bind_safe, ud, 0, 1) != DUK_EXEC_SUCCESS) {
		duk_pop(ctx);
		return -1;
	}
	duk_pop(ctx);
	return 0;
}

char *sg_script_rest_wrap(const char *source, size_t source_len, size_t *len)
{
	static const char head[] = "try { ";
	static const char tail[] = "\n} catch (__sg_e) { if (__sg_e instanceof "
	                           "sn_ws_err.ServiceError) response.setError(__sg_e); "
	                           "else throw __sg_e; }\n";
	size_t n = sizeof(head) - 1 + source_len + sizeof(tail) - 1;
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, head, sizeof(head) - 1);
	memcpy(s + sizeof(head) - 1, source, source_len);
	memcpy(s + sizeof(head) - 1 + source_len, tail, sizeof(tail));
	*len = n;
	return s;
}
