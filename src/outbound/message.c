/*
 * message.c - REST messages as request templates (message.h): loading a
 * sys_rest_message and its HTTP method, ${variable} substitution, the
 * escaping of setStringParameter, and the URL with its query parameters.
 */
#include "outbound/message.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "query/query.h"

sg_err sg_out_msg_init(struct sg_out_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->method = strdup("GET");
	m->endpoint = strdup("");
	m->headers = json_array();
	m->params = json_array();
	m->vars = json_object();
	if (!m->method || !m->endpoint || !m->headers || !m->params || !m->vars) {
		sg_out_msg_cleanup(m);
		return SG_ERR_NOMEM;
	}
	return SG_ERR_OK;
}

void sg_out_msg_cleanup(struct sg_out_msg *m)
{
	free(m->method);
	free(m->endpoint);
	free(m->body);
	free(m->source);
	json_decref(m->headers);
	json_decref(m->params);
	json_decref(m->vars);
	memset(m, 0, sizeof(*m));
}

/* ---- substitution and escaping ----------------------------------------- */

void sg_out_substitute(struct sg_buf *out, const char *tmpl, const json_t *vars)
{
	const char *p = tmpl;
	while (*p) {
		const char *open = strstr(p, "${");
		if (!open) {
			sg_buf_puts(out, p);
			return;
		}
		sg_buf_append(out, p, (size_t)(open - p));
		const char *name = open + 2;
		const char *close = strchr(name, '}');
		size_t len = close ? (size_t)(close - name) : 0;
		const char *value = NULL;
		if (close && len > 0 && len < 256 && !memchr(name, '{', len)) {
			char key[256];
			memcpy(key, name, len);
			key[len] = '\0';
			value = json_string_value(json_object_get(vars, key));
		}
		if (value) {
			sg_buf_puts(out, value);
			p = close + 1;
		} else { /* never given: left as written, as ServiceNow does */
			sg_buf_append(out, open, 2);
			p = name;
		}
	}
}

void sg_out_xml_escape(struct sg_buf *out, const char *v)
{
	for (; *v; v++) {
		switch (*v) {
		case '<':
			sg_buf_puts(out, "&lt;");
			break;
		case '>':
			sg_buf_puts(out, "&gt;");
			break;
		case '&':
			sg_buf_puts(out, "&amp;");
			break;
		case '%':
			sg_buf_puts(out, "&#37;");
			break;
		default:
			sg_buf_putc(out, *v);
		}
	}
}

void sg_out_url_add_param(struct sg_buf *url, const char *name, const char *value)
{
	const char *s = sg_buf_str(url);
	const char *q = strchr(s, '?');
	size_t len = url->len;
	if (!q)
		sg_buf_putc(url, '?');
	else if (len > 0 && s[len - 1] != '?' && s[len - 1] != '&')
		sg_buf_putc(url, '&');
	sg_buf_put_urlenc(url, name);
	sg_buf_putc(url, '=');
	sg_buf_put_urlenc(url, value);
}

/* ---- editing ----------------------------------------------------------- */

static sg_err set_pair(json_t *list, const char *name, const char *value)
{
	size_t i;
	json_t *pair;
	json_array_foreach(list, i, pair)
	{
		if (!strcasecmp(json_string_value(json_array_get(pair, 0)), name))
			return json_array_set_new(pair, 1, json_string(value)) ? SG_ERR_NOMEM
			                                                       : SG_ERR_OK;
	}
	if (json_array_size(list) >= SG_OUT_MAX_ITEMS)
		return SG_ERR_TOO_LARGE;
	json_t *p = json_pack("[ss]", name, value);
	if (!p || json_array_append_new(list, p))
		return SG_ERR_NOMEM;
	return SG_ERR_OK;
}

sg_err sg_out_msg_set_header(struct sg_out_msg *m, const char *name, const char *value)
{
	return set_pair(m->headers, name, value);
}

sg_err sg_out_msg_set_param(struct sg_out_msg *m, const char *name, const char *value)
{
	return set_pair(m->params, name, value);
}

sg_err sg_out_msg_set_var(struct sg_out_msg *m, const char *name, const char *value, bool escape)
{
	if (!json_object_get(m->vars, name) && json_object_size(m->vars) >= SG_OUT_MAX_ITEMS)
		return SG_ERR_TOO_LARGE;
	struct sg_buf b;
	sg_buf_init(&b, SG_OUT_MAX_BODY);
	if (escape)
		sg_out_xml_escape(&b, value);
	else
		sg_buf_puts(&b, value);
	sg_err err = SG_ERR_OK;
	if (sg_buf_failed(&b))
		err = b.too_large ? SG_ERR_TOO_LARGE : SG_ERR_NOMEM;
	else if (json_object_set_new(m->vars, name, json_string(sg_buf_str(&b))))
		err = SG_ERR_NOMEM;
	sg_buf_cleanup(&b);
	return err;
}

/* ---- loading ----------------------------------------------------------- */

/* The rows of table matching encoded (and field=value when field): a new
 * array in *rows. */
static sg_err rows_where(struct sg_ctx *ctx, const char *table, const char *field,
                         const char *value, const char *encoded, long long limit, json_t **rows)
{
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = SG_ERR_OK;
	if ((encoded && !sg_query_parse(&q, encoded)) ||
	    (field && !sg_query_add_eq(&q, field, value)))
		err = SG_ERR_NOMEM;
	struct sg_list_opts o = {.query = &q, .limit = limit};
	if (!err)
		err = sg_rec_list(ctx, table, &o, rows, NULL);
	sg_query_cleanup(&q);
	return err;
}

static sg_err add_pairs(struct sg_ctx *ctx, const char *table, const char *parent_field,
                        const char *parent, const char *order, json_t *list, bool params)
{
	char enc[128];
	snprintf(enc, sizeof(enc), "ORDERBY%s", order);
	json_t *rows = NULL;
	sg_err err = rows_where(ctx, table, parent_field, parent, enc, SG_OUT_MAX_ITEMS, &rows);
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		const char *name = sg_json_str(r, "name");
		const char *value = sg_json_str(r, "value");
		if (err || !name || !*name)
			continue;
		/* Query parameters of one name may repeat; a header is replaced. */
		if (params) {
			json_t *p = json_pack("[ss]", name, value ? value : "");
			if (!p || json_array_append_new(list, p))
				err = SG_ERR_NOMEM;
		} else {
			err = set_pair(list, name, value ? value : "");
		}
	}
	json_decref(rows);
	return err;
}

static void auth_of(const json_t *rec, enum sg_out_auth *auth, char profile[SG_ID_LEN + 1])
{
	const char *type = sg_json_str(rec, "authentication_type");
	const char *p = NULL;
	*auth = SG_OUT_AUTH_NONE;
	if (type && !strcmp(type, "basic")) {
		*auth = SG_OUT_AUTH_BASIC;
		p = sg_json_str(rec, "basic_auth_profile");
	} else if (type && !strcmp(type, "oauth2")) {
		*auth = SG_OUT_AUTH_OAUTH;
		p = sg_json_str(rec, "oauth2_profile");
	}
	snprintf(profile, SG_ID_LEN + 1, "%s", p ? p : "");
}

static sg_err replace(char **dst, const char *src)
{
	char *s = strdup(src ? src : "");
	if (!s)
		return SG_ERR_NOMEM;
	free(*dst);
	*dst = s;
	return SG_ERR_OK;
}

sg_err sg_out_msg_load(struct sg_ctx *ctx, const char *message, const char *function,
                       bool test_values, struct sg_out_msg *m, char *msg, size_t msg_size)
{
	char scratch[8];
	if (!msg) {
		msg = scratch;
		msg_size = sizeof(scratch);
	}
	msg[0] = '\0';
	sg_err err = sg_out_msg_init(m);
	if (err)
		return err;
	json_t *mrows = NULL, *frows = NULL, *defs = NULL;
	err = rows_where(ctx, "sys_rest_message", "name", message, "ORDERBYsys_created_on", 1,
	                 &mrows);
	json_t *mrec = json_array_get(mrows, 0);
	if (!err && !mrec) {
		snprintf(msg, msg_size, "REST message not found: %s", message);
		err = SG_ERR_NO_RECORD;
	}
	if (!err) {
		snprintf(m->message_id, sizeof(m->message_id), "%s", sg_json_str(mrec, "sys_id"));
		char enc[80];
		snprintf(enc, sizeof(enc), "rest_message=%s^ORDERBYsys_created_on", m->message_id);
		err = rows_where(ctx, "sys_rest_message_fn", "function_name", function, enc, 1,
		                 &frows);
	}
	json_t *frec = json_array_get(frows, 0);
	if (!err && !frec) {
		snprintf(msg, msg_size, "HTTP method not found: %s of REST message %s", function,
		         message);
		err = SG_ERR_NO_RECORD;
	}
	if (err)
		goto out;
	snprintf(m->function_id, sizeof(m->function_id), "%s", sg_json_str(frec, "sys_id"));

	const char *method = sg_json_str(frec, "http_method");
	if ((err = replace(&m->method, method && *method ? method : "get")))
		goto out;
	for (char *c = m->method; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	const char *fep = sg_json_str(frec, "rest_endpoint");
	if ((err = replace(&m->endpoint, fep && *fep ? fep : sg_json_str(mrec, "rest_endpoint"))))
		goto out;
	const char *content = sg_json_str(frec, "content");
	if (content && *content && (err = replace(&m->body, content)))
		goto out;

	const char *ftype = sg_json_str(frec, "authentication_type");
	if (!ftype || !*ftype || !strcmp(ftype, "inherit_from_parent"))
		auth_of(mrec, &m->auth, m->auth_profile);
	else
		auth_of(frec, &m->auth, m->auth_profile);

	/* The message's headers, then the function's over them. */
	if ((err = add_pairs(ctx, "sys_rest_message_headers", "rest_message", m->message_id, "name",
	                     m->headers, false)) ||
	    (err = add_pairs(ctx, "sys_rest_message_fn_headers", "rest_message_function",
	                     m->function_id, "name", m->headers, false)) ||
	    (err = add_pairs(ctx, "sys_rest_message_fn_parameters", "rest_message_function",
	                     m->function_id, "order", m->params, true)))
		goto out;

	/* The variables' test values, as the Test link uses them. */
	if (test_values)
		err = rows_where(ctx, "sys_rest_message_fn_param_defs", "rest_message_function",
		                 m->function_id, "ORDERBYname", SG_OUT_MAX_ITEMS, &defs);
	size_t i;
	json_t *d;
	json_array_foreach(defs, i, d)
	{
		const char *name = sg_json_str(d, "name");
		const char *tv = sg_json_str(d, "test_value");
		const char *esc = sg_json_str(d, "escape_type");
		if (err || !name || !*name || !tv || !*tv)
			continue;
		err = sg_out_msg_set_var(m, name, tv, esc && !strcmp(esc, "escape_text"));
	}
	if (err)
		goto out;

	size_t sl = strlen(message) + strlen(function) + 2;
	m->source = malloc(sl);
	if (!m->source)
		err = SG_ERR_NOMEM;
	else
		snprintf(m->source, sl, "%s.%s", message, function);
out:
	json_decref(mrows);
	json_decref(frows);
	json_decref(defs);
	if (err)
		sg_out_msg_cleanup(m);
	return err;
}

/* ---- building ---------------------------------------------------------- */

static bool has_body(const char *method)
{
	return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
}

static sg_err buf_done(struct sg_buf *b, const char *what, char **out, char *msg, size_t msg_size)
{
	if (sg_buf_failed(b)) {
		if (b->too_large) {
			if (msg)
				snprintf(msg, msg_size, "the %s is too large", what);
			return SG_ERR_TOO_LARGE;
		}
		return SG_ERR_NOMEM;
	}
	*out = sg_buf_steal(b);
	if (!*out)
		*out = strdup("");
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

sg_err sg_out_msg_build(const struct sg_out_msg *m, struct sg_out_built *b, char *msg,
                        size_t msg_size)
{
	memset(b, 0, sizeof(*b));
	struct sg_buf u;
	sg_buf_init(&u, SG_OUT_MAX_URL);
	sg_out_substitute(&u, m->endpoint, m->vars);
	size_t i;
	json_t *pair;
	json_array_foreach(m->params, i, pair)
	{
		struct sg_buf v;
		sg_buf_init(&v, SG_OUT_MAX_URL);
		sg_out_substitute(&v, json_string_value(json_array_get(pair, 1)), m->vars);
		if (sg_buf_failed(&v))
			sg_buf_set_failed(&u);
		else
			sg_out_url_add_param(&u, json_string_value(json_array_get(pair, 0)),
			                     sg_buf_str(&v));
		if (v.too_large)
			u.too_large = true;
		sg_buf_cleanup(&v);
	}
	sg_err err = buf_done(&u, "URL", &b->url, msg, msg_size);
	sg_buf_cleanup(&u);
	if (!err) {
		b->method = strdup(m->method);
		if (!b->method)
			err = SG_ERR_NOMEM;
	}
	size_t nh = json_array_size(m->headers);
	if (!err && nh) {
		b->headers = calloc(nh, sizeof(*b->headers));
		if (!b->headers)
			err = SG_ERR_NOMEM;
	}
	json_array_foreach(m->headers, i, pair)
	{
		if (err)
			break;
		struct sg_buf v;
		sg_buf_init(&v, SG_OUT_MAX_URL);
		sg_out_substitute(&v, json_string_value(json_array_get(pair, 1)), m->vars);
		struct sg_kv *kv = &b->headers[b->n_headers];
		kv->name = strdup(json_string_value(json_array_get(pair, 0)));
		err = kv->name ? buf_done(&v, "header", &kv->value, msg, msg_size) : SG_ERR_NOMEM;
		sg_buf_cleanup(&v);
		b->n_headers++;
		/* A header value never carries a line break into the request. */
		for (char *c = kv->value; !err && c && *c; c++)
			if (*c == '\r' || *c == '\n')
				*c = ' ';
	}
	if (!err && m->body && has_body(m->method)) {
		struct sg_buf v;
		sg_buf_init(&v, SG_OUT_MAX_BODY);
		sg_out_substitute(&v, m->body, m->vars);
		b->body_len = v.len;
		err = buf_done(&v, "body", &b->body, msg, msg_size);
		sg_buf_cleanup(&v);
	}
	if (err)
		sg_out_built_cleanup(b);
	return err;
}

void sg_out_built_cleanup(struct sg_out_built *b)
{
	for (size_t i = 0; i < b->n_headers; i++) {
		free(b->headers[i].name);
		free(b->headers[i].value);
	}
	free(b->headers);
	free(b->method);
	free(b->url);
	free(b->body);
	memset(b, 0, sizeof(*b));
}

void sg_out_built_request(const struct sg_out_msg *m, const struct sg_out_built *b,
                          struct sg_out_request *req)
{
	memset(req, 0, sizeof(*req));
	req->method = b->method;
	req->url = b->url;
	req->headers = b->headers;
	req->n_headers = b->n_headers;
	req->body = b->body;
	req->body_len = b->body_len;
	req->auth = m->auth;
	req->auth_profile = m->auth_profile[0] ? m->auth_profile : NULL;
	req->timeout_ms = m->timeout_ms;
	req->source = m->source;
}
