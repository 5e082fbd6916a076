/*
 * tinyurl.c - tiny URLs: POST /api/now/tinyurl stores a long URL's query
 * string in sys_tiny_url, and any GET carrying sysparm_tiny=<id> runs with
 * the stored parameters (reference 3.6).
 *
 * Ansible's servicenow.itsm posts {"url": "<full url>"} when a GET URL would
 * pass 2048 characters, then calls the same path with only sysparm_tiny.  The
 * stored row holds parameters only, never rights: the expanded request runs
 * as its own caller, through the same route, ACLs and limits.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/json.h"
#include "core/util.h"
#include "query/query.h"

/* The longest URL stored (bytes): a tiny URL is for queries a URL cannot
 * carry, but not for anything the body limit would let through. */
#define TINY_URL_MAX (1024 * 1024)
/* The most parameters a stored query string expands to. */
#define TINY_ARGS_MAX 1000

sg_err sg_tinyurl_create(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)as;
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *body;
	sg_err err = sg_json_parse_body(req->body, req->body_len, &body);
	if (err)
		return err;
	const char *url = sg_json_str(body, "url");
	size_t len = url ? strlen(url) : 0;
	if (!json_is_object(body) || !url || !len) {
		json_decref(body);
		sg_ctx_set_err(ctx, "url: a non-empty string is required");
		return SG_ERR_BAD_PARAM;
	}
	if (len > TINY_URL_MAX) {
		json_decref(body);
		sg_ctx_set_err(ctx, "url: longer than %d bytes", TINY_URL_MAX);
		return SG_ERR_BAD_PARAM;
	}
	/* path?query#fragment, the scheme and host dropped: the answer names the
	 * path as ServiceNow does ("incident_list.do?sysparm_tiny=..."). */
	size_t end = strcspn(url, "#");
	size_t q = strcspn(url, "?#");
	const char *path = url;
	const char *scheme = strstr(url, "://");
	if (scheme && (size_t)(scheme - url) < q) {
		const char *slash = memchr(scheme + 3, '/', q - (size_t)(scheme + 3 - url));
		path = slash ? slash : url + q;
	}
	while (path < url + q && *path == '/')
		path++;
	size_t plen = (size_t)(url + q - path);
	char *data = strndup(q < end ? url + q + 1 : "", q < end ? end - q - 1 : 0);
	json_t *rec = data ? json_pack("{s:s}", "data", data) : NULL;
	free(data);
	char id[SG_ID_LEN + 1];
	sg_id_new(id);
	if (!rec || json_object_set_new(rec, "sys_id", json_string(id)) ||
	    json_object_set_new(rec, "tiny_url", json_string(id)))
		err = SG_ERR_NOMEM;
	/* Anyone who may log in may shorten a URL (the row carries no rights);
	 * reading sys_tiny_url through the Table API is for admins. */
	struct sg_write_opts wo = {.allow_sys_fields = true};
	char out_id[SG_ID_LEN + 1];
	if (!err)
		err = sg_rec_insert(ctx, "sys_tiny_url", rec, &wo, out_id);
	json_decref(rec);
	if (!err) {
		struct sg_buf *b = &resp->body;
		sg_buf_reset(b);
		sg_buf_puts(b, "{\"result\":");
		struct sg_buf r;
		sg_buf_init(&r, 2 * TINY_URL_MAX);
		sg_buf_append(&r, path, plen);
		sg_buf_printf(&r, "?sysparm_tiny=%s", out_id);
		json_t *s = sg_buf_failed(&r) ? NULL : json_stringn(r.data, r.len);
		char *enc = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		if (enc)
			sg_buf_puts(b, enc);
		sg_buf_putc(b, '}');
		if (!enc || sg_buf_failed(b))
			err = SG_ERR_NOMEM;
		free(enc);
		json_decref(s);
		sg_buf_cleanup(&r);
	}
	json_decref(body);
	if (!err)
		resp->status = 201;
	return err;
}

/* The stored query string of tiny URL id: *data new, NULL when there is none.
 * The rows made here have the id as their sys_id (one indexed read); rows
 * made otherwise are found by their tiny_url. */
static sg_err stored_query(struct sg_ctx *ctx, const char *id, char **data)
{
	*data = NULL;
	struct sg_rows one = {0};
	sg_err got = sg_rec_get_row(ctx, "sys_tiny_url", id, &one);
	if (got && got != SG_ERR_NO_RECORD)
		return got;
	long tpos = one.t ? sg_table_field_pos(one.t, "tiny_url") : -1;
	long dpos = one.t ? sg_table_field_pos(one.t, "data") : -1;
	bool hit = !got && one.n == 1 && tpos >= 0 && dpos >= 0 && !strcmp(one.vals[0][tpos], id);
	if (hit && !(*data = strdup(one.vals[0][dpos])))
		got = SG_ERR_NOMEM;
	sg_rows_cleanup(&one);
	if (hit)
		return got;
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = sg_query_add_eq(&q, "tiny_url", id) ? SG_ERR_OK : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = 1};
	struct sg_rows rs = {0};
	long long total = 0;
	if (!err)
		err = sg_rec_rows(ctx, "sys_tiny_url", &lo, &rs, &total);
	long pos = rs.t ? sg_table_field_pos(rs.t, "data") : -1;
	if (!err && rs.n == 1 && pos >= 0 && !(*data = strdup(rs.vals[0][pos])))
		err = SG_ERR_NOMEM;
	sg_rows_cleanup(&rs);
	sg_query_cleanup(&q);
	return err;
}

sg_err sg_tinyurl_expand(struct sg_ctx *ctx, struct sg_req *req)
{
	const char *id = sg_req_arg(req, "sysparm_tiny");
	if (!id || (strcmp(req->method, "GET") && strcmp(req->method, "HEAD")))
		return SG_ERR_OK;
	char *data = NULL;
	sg_err err = sg_id_is_key(id) ? stored_query(ctx, id, &data) : SG_ERR_OK;
	if (!err && !data) {
		/* Not a silent "no filter": that would answer every record. */
		sg_ctx_set_err(ctx, "sysparm_tiny: no tiny URL '%.64s'", id);
		return SG_ERR_BAD_PARAM;
	}
	struct sg_kv *stored = err ? NULL : malloc(TINY_ARGS_MAX * sizeof(*stored));
	size_t nstored = 0;
	char *copy =
	    stored ? sg_form_parse(data, strlen(data), stored, TINY_ARGS_MAX, &nstored) : NULL;
	free(data);
	if (!err && !copy)
		err = SG_ERR_NOMEM;
	/* The caller's own parameters first (sysparm_offset of a next page
	 * wins), then the stored ones it did not name. */
	size_t max = req->nargs + nstored, n = 0;
	struct sg_kv *args =
	    err ? NULL : sg_arena_alloc(&req->arena, (max ? max : 1) * sizeof(*args));
	if (!err && !args)
		err = SG_ERR_NOMEM;
	for (size_t i = 0; !err && i < req->nargs; i++)
		if (strcmp(req->args[i].name, "sysparm_tiny"))
			args[n++] = req->args[i];
	size_t own = n;
	for (size_t i = 0; !err && i < nstored; i++) {
		bool named = !strcmp(stored[i].name, "sysparm_tiny");
		for (size_t k = 0; k < own && !named; k++)
			named = !strcmp(args[k].name, stored[i].name);
		if (named)
			continue;
		char *name = sg_arena_strdup(&req->arena, stored[i].name);
		char *value = sg_arena_strdup(&req->arena, stored[i].value);
		if (!name || !value)
			err = SG_ERR_NOMEM;
		else
			args[n++] = (struct sg_kv){.name = name, .value = value};
	}
	free(copy);
	free(stored);
	if (!err) {
		req->args = args;
		req->nargs = n;
	}
	return err;
}
