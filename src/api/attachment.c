/*
 * attachment.c - the Attachment API: /api/now/[v1/]attachment (reference
 * section 3.2).
 *
 * Metadata are sys_attachment rows, rendered as the Table API renders
 * records (every value a string) plus download_link; content is a file
 * beside the database (model/attachment.h), received and sent as a stream.
 * An attachment is as visible as its parent record: reading one needs read
 * on the parent, adding or deleting one needs write on it; a hidden parent
 * makes the attachment missing (404), as a hidden record is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api.h"
#include "api/multipart.h"
#include "api/render.h"
#include "auth/acl.h"
#include "core/json.h"
#include "core/util.h"
#include "model/attachment.h"
#include "query/query.h"

#define DEFAULT_LIMIT 1000 /* sysparm_limit [c_AttachmentAPI.md] */
#define SCAN_CHUNK    500  /* rows read at a time while paging a list */
#define PARENT_CACHE  4096 /* parent decisions remembered in one list */
#define PARAM_MAX     255
#define OCTET_STREAM  "application/octet-stream"

/* ---- the body of an upload, as it arrives ------------------------------- */

struct upload {
	struct sg_api *api;
	struct sg_attach_writer w;
	bool opened;
	sg_err err; /* the first failure storing content: the answer */
	/* multipart */
	struct sg_multipart mp;
	bool mp_started;
	bool mp_bad; /* the body is malformed: mp.why says why */
	bool have_file, file_done;
	char table_name[PARAM_MAX + 1];
	char table_sys_id[PARAM_MAX + 1];
	char file_name[SG_MP_NAME_MAX];
	char content_type[SG_MP_NAME_MAX];
};

static void upload_cleanup(void *p)
{
	struct upload *u = p;
	if (u->opened)
		sg_attach_writer_close(&u->w);
	u->opened = false;
}

static struct upload *upload_state(struct sg_api *api, struct sg_req *req)
{
	if (!req->stream) {
		struct upload *u = sg_arena_alloc(&req->arena, sizeof(*u));
		if (!u)
			return NULL;
		memset(u, 0, sizeof(*u));
		u->api = api;
		req->stream = u;
		req->stream_cleanup = upload_cleanup;
	}
	return req->stream;
}

static sg_err store(struct sg_api *api, struct upload *u, const char *data, size_t len)
{
	if (u->err)
		return u->err;
	if (!u->opened) {
		/* closed at the request's end whatever the open did */
		u->opened = true;
		u->err = sg_attach_writer_open(api->model, &u->w);
		if (u->err)
			return u->err;
	}
	if (len)
		u->err = sg_attach_writer_write(&u->w, data, len);
	return u->err;
}

sg_err sg_attachment_raw_body(struct sg_api *api, struct sg_req *req, const char *data, size_t len)
{
	struct upload *u = upload_state(api, req);
	if (!u)
		return SG_ERR_NOMEM;
	/* without its parameters the upload is refused: nothing is kept */
	if (!sg_req_arg(req, "table_name") || !sg_req_arg(req, "table_sys_id") ||
	    !sg_req_arg(req, "file_name"))
		return SG_ERR_OK;
	return store(api, u, data, len);
}

static void copy_param(char *dst, size_t size, const char *value)
{
	snprintf(dst, size, "%s", value ? value : "");
}

static sg_err mp_field(void *ud, const char *name, const char *value, size_t len)
{
	struct upload *u = ud;
	if (strlen(value) != len)
		return SG_ERR_BAD_PARAM; /* a NUL inside a field */
	if (!strcmp(name, "table_name"))
		copy_param(u->table_name, sizeof(u->table_name), value);
	else if (!strcmp(name, "table_sys_id"))
		copy_param(u->table_sys_id, sizeof(u->table_sys_id), value);
	return SG_ERR_OK; /* others (encryption_context...) are not used */
}

static sg_err mp_file_begin(void *ud, const char *name, const char *filename,
                            const char *content_type)
{
	(void)name;
	struct upload *u = ud;
	if (u->have_file)
		return SG_ERR_BAD_PARAM; /* one file per request */
	u->have_file = true;
	copy_param(u->file_name, sizeof(u->file_name), filename);
	copy_param(u->content_type, sizeof(u->content_type),
	           *content_type ? content_type : OCTET_STREAM);
	return SG_ERR_OK;
}

static sg_err mp_file_data(void *ud, const char *data, size_t len)
{
	struct upload *u = ud;
	return store(u->api, u, data, len);
}

static sg_err mp_file_end(void *ud)
{
	struct upload *u = ud;
	u->file_done = true;
	return store(u->api, u, NULL, 0);
}

static sg_err multipart_feed(struct sg_req *req, struct upload *u, const char *data, size_t len)
{
	if (!u->mp_started) {
		u->mp_started = true;
		struct sg_multipart_cb cb = {.ud = u,
		                             .on_field = mp_field,
		                             .on_file_begin = mp_file_begin,
		                             .on_file_data = mp_file_data,
		                             .on_file_end = mp_file_end};
		if (sg_multipart_init(&u->mp, sg_req_header(req, "Content-Type"), &cb))
			u->mp_bad = true;
	}
	if (u->mp_bad || u->err)
		return SG_ERR_OK; /* dropped: the handler answers */
	if (sg_multipart_feed(&u->mp, data, len))
		u->mp_bad = !u->err;
	return SG_ERR_OK;
}

sg_err sg_attachment_multipart_body(struct sg_api *api, struct sg_req *req, const char *data,
                                    size_t len)
{
	struct upload *u = upload_state(api, req);
	if (!u)
		return SG_ERR_NOMEM;
	return multipart_feed(req, u, data, len);
}

/* ---- parents and their rights ------------------------------------------- */

/*
 * Whether the user may do op on the record table_name/sys_id: *ok false
 * when the table or record does not exist or the ACLs refuse.  For write,
 * *readable tells a hidden parent (404) from a read-only one (403).
 */
static sg_err parent_may(struct sg_ctx *ctx, struct sg_auth_session *as, const char *table_name,
                         const char *sys_id, enum sg_acl_op op, bool *ok, bool *readable)
{
	*ok = false;
	if (readable)
		*readable = false;
	const struct sg_table *t = table_name ? sg_dict_table(ctx->dict, table_name) : NULL;
	if (!t || !sys_id || !sg_id_is_valid(sys_id))
		return SG_ERR_OK;
	json_t *rec = NULL;
	sg_err err = sg_rec_get(ctx, t->name, sys_id, &rec);
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
		return SG_ERR_OK;
	if (err)
		return err;
	bool r = false;
	err = sg_acl_record(as, t, SG_ACL_READ, rec, &r);
	if (!err && readable)
		*readable = r;
	if (!err && r && op != SG_ACL_READ)
		err = sg_acl_record(as, t, op, rec, &r);
	if (!err)
		*ok = r;
	json_decref(rec);
	return err;
}

/* The attachment id as the user may see it: the raw row in *out (new
 * reference), or NO_RECORD when missing or its parent is hidden. */
static sg_err visible_attachment(struct sg_ctx *ctx, struct sg_auth_session *as, const char *id,
                                 json_t **out)
{
	*out = NULL;
	const struct sg_table *t = sg_dict_table(ctx->dict, SG_ATTACH_TABLE);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", SG_ATTACH_TABLE);
		return SG_ERR_INVALID_TABLE;
	}
	json_t *rec = NULL;
	sg_err err =
	    sg_id_is_valid(id) ? sg_rec_get(ctx, SG_ATTACH_TABLE, id, &rec) : SG_ERR_NO_RECORD;
	bool ok = false;
	if (!err)
		err = parent_may(ctx, as, sg_json_str(rec, "table_name"),
		                 sg_json_str(rec, "table_sys_id"), SG_ACL_READ, &ok, NULL);
	if (!err && !ok)
		err = SG_ERR_NO_RECORD;
	if (err) {
		json_decref(rec);
		return err;
	}
	*out = rec;
	return SG_ERR_OK;
}

/* ---- rendering ----------------------------------------------------------- */

static void render_opts(struct sg_auth_session *as, const struct sg_req *req,
                        struct sg_render_opts *o)
{
	(void)as;
	memset(o, 0, sizeof(*o));
	o->auth = NULL; /* the parent decides; sys_attachment's own ACLs are the Table API's */
	o->dv = sg_render_parse_dv(sg_req_arg(req, "sysparm_display_value"));
	o->exclude_link = sg_str_bool(sg_req_arg(req, "sysparm_exclude_reference_link"), false);
	o->fields = sg_req_arg(req, "sysparm_fields");
	o->base_url = req->base_url;
}

/* The API path of attachments under the version the client used. */
static const char *api_path(const struct sg_req *req)
{
	return req->match.route && req->match.route->version == 1 ? "api/now/v1/attachment/"
	                                                          : "api/now/attachment/";
}

/*
 * Raw row rec as the API returns it, appended to b: the Table API's
 * rendering (straight into the buffer: no tree is parsed back, which could
 * lose text when memory runs out) plus download_link.  The link needs no
 * JSON escaping: the base URL is URL-escaped and the id hex.  False when
 * out of memory.
 */
static bool render(struct sg_ctx *ctx, const struct sg_req *req, json_t *rec, struct sg_buf *b)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, SG_ATTACH_TABLE);
	struct sg_render_opts ro;
	render_opts(NULL, req, &ro);
	size_t start = b->len;
	if (!sg_render_write(ctx, t, rec, &ro, b) || sg_buf_failed(b) || b->len == start ||
	    b->data[b->len - 1] != '}')
		return false;
	b->len--; /* reopen the object */
	const char *id = sg_json_str(rec, "sys_id");
	sg_buf_printf(b, "%s\"download_link\":\"%sapi/now/attachment/%s/file\"}",
	              b->len - start > 1 ? "," : "", req->base_url, id ? id : "");
	return !sg_buf_failed(b);
}

/* {"result": rendered rec} with status. */
static sg_err respond(struct sg_ctx *ctx, const struct sg_req *req, json_t *rec, int status,
                      struct sg_resp *resp)
{
	sg_buf_reset(&resp->body);
	sg_buf_puts(&resp->body, "{\"result\":");
	bool ok = render(ctx, req, rec, &resp->body);
	sg_buf_putc(&resp->body, '}');
	if (!ok || sg_buf_failed(&resp->body))
		return SG_ERR_NOMEM;
	resp->status = status;
	return SG_ERR_OK;
}

/* JSON text (valid UTF-8) with every character past ASCII as \uXXXX, for
 * a header; an invalid byte becomes U+FFFD. */
static void ascii_json(struct sg_buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p, cp, len;
		if (c < 0x80) {
			sg_buf_putc(out, (char)c);
			p++;
			continue;
		}
		len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0f : c & 0x1f;
		bool bad = !len || (size_t)(end - p) < len;
		for (unsigned i = 1; !bad && i < len; i++) {
			bad = (p[i] & 0xc0) != 0x80;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (bad || cp > 0x10ffff) {
			cp = 0xfffd;
			len = 1;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			sg_buf_printf(out, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
			              0xdc00 + (cp & 0x3ff));
		} else {
			sg_buf_printf(out, "\\u%04x", cp);
		}
		p += len;
	}
}

/* ---- GET list ------------------------------------------------------------ */

/* Parent decisions of one list: "table/sys_id" -> true/false. */
static sg_err parent_readable_cached(struct sg_ctx *ctx, struct sg_auth_session *as, json_t *cache,
                                     const char *table, const char *id, bool *ok)
{
	char key[PARAM_MAX + SG_ID_LEN + 8];
	snprintf(key, sizeof(key), "%s/%s", table ? table : "", id ? id : "");
	json_t *v = json_object_get(cache, key);
	if (v) {
		*ok = json_is_true(v);
		return SG_ERR_OK;
	}
	sg_err err = parent_may(ctx, as, table, id, SG_ACL_READ, ok, NULL);
	if (err)
		return err;
	if (json_object_size(cache) >= PARENT_CACHE)
		json_object_clear(cache);
	return json_object_set_new(cache, key, json_boolean(*ok)) ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* Query arguments that are not filters. */
static bool is_sysparm(const char *name)
{
	return !strncmp(name, "sysparm_", 8) || !strcmp(name, "api_version");
}

/* The list's query on sys_attachment: sysparm_query AND'ed with name=value
 * filters (as Ansible sends table_name and table_sys_id).  The rows' own
 * ACLs are not consulted: each row is shown when its parent may be read. */
static sg_err attachment_query(struct sg_ctx *ctx, const struct sg_req *req,
                               const struct sg_table **t, struct sg_query *q)
{
	*t = sg_dict_table(ctx->dict, SG_ATTACH_TABLE);
	if (!*t) {
		sg_ctx_set_err(ctx, "%s", SG_ATTACH_TABLE);
		return SG_ERR_INVALID_TABLE;
	}
	if (!sg_query_parse(q, sg_req_arg(req, "sysparm_query")))
		return SG_ERR_NOMEM;
	for (size_t i = 0; i < req->nargs; i++)
		if (!is_sysparm(req->args[i].name) &&
		    !sg_query_add_eq(q, req->args[i].name, req->args[i].value))
			return SG_ERR_NOMEM;
	return SG_ERR_OK;
}

sg_err sg_attachment_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	const struct sg_table *t;
	struct sg_query q;
	sg_query_init(&q);
	json_t *cache = NULL;
	struct sg_rows rs = {0};
	sg_err err = attachment_query(ctx, req, &t, &q);
	long long limit = DEFAULT_LIMIT, offset = 0;
	if (!err)
		err = sg_api_page_args(ctx, req, DEFAULT_LIMIT, &limit, &offset);
	if (err)
		goto out;
	cache = json_object();
	if (!cache)
		err = SG_ERR_NOMEM;
	long tn = sg_table_field_pos(t, "table_name"), ti = sg_table_field_pos(t, "table_sys_id");
	if (!err && (tn < 0 || ti < 0))
		err = SG_ERR_INTERNAL;
	if (err)
		goto out;
	/* The rows are read in chunks and those whose parent the user cannot
	 * read dropped, so that X-Total-Count counts what the user may see. */
	struct sg_buf *body = &resp->body;
	sg_buf_reset(body);
	sg_buf_puts(body, "{\"result\":[");
	long long visible = 0, pos = 0;
	size_t shown = 0;
	for (;;) {
		struct sg_list_opts lo = {.query = &q, .limit = SCAN_CHUNK, .offset = pos};
		long long ignored = 0;
		err = sg_rec_rows(ctx, t->name, &lo, &rs, &ignored);
		if (err)
			break;
		for (size_t i = 0; i < rs.n && !err; i++) {
			const char *const *vals = (const char *const *)rs.vals[i];
			bool ok = false;
			json_t *rec = NULL;
			err = parent_readable_cached(ctx, as, cache, vals[tn], vals[ti], &ok);
			if (!err && ok && visible >= offset && visible - offset < limit) {
				if (!rec && !(rec = sg_rec_from_values(rs.t, vals)))
					err = SG_ERR_NOMEM;
				if (!err && shown++)
					sg_buf_putc(body, ',');
				if (!err && !render(ctx, req, rec, body))
					err = SG_ERR_NOMEM;
			}
			json_decref(rec);
			if (!err && ok)
				visible++;
		}
		size_t got = rs.n;
		sg_rows_cleanup(&rs);
		memset(&rs, 0, sizeof(rs));
		if (err || got < SCAN_CHUNK)
			break;
		pos += SCAN_CHUNK;
	}
	sg_buf_puts(body, "]}");
	if (!err && sg_buf_failed(body))
		err = SG_ERR_NOMEM;
	if (err)
		goto out;
	resp->status = 200;
	char num[32];
	snprintf(num, sizeof(num), "%lld", visible);
	sg_resp_header(resp, "X-Total-Count", num);
	if (!sg_str_bool(sg_req_arg(req, "sysparm_suppress_pagination_header"), false))
		err = sg_api_pagination(req, resp, limit, offset, visible, true, shown);
out:
	json_decref(cache);
	sg_rows_cleanup(&rs);
	sg_query_cleanup(&q);
	return err;
}

/* ---- GET one, its content, DELETE, PATCH ---------------------------------- */

sg_err sg_attachment_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	json_t *rec;
	sg_err err = visible_attachment(ctx, as, sg_req_param(req, "sys_id"), &rec);
	if (err)
		return err;
	err = respond(ctx, req, rec, 200, resp);
	json_decref(rec);
	return err;
}

/* Whether s may go in a header as is: printable ASCII only. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Content-Disposition for file name: attachment; filename="..." with what
 * a quoted string cannot hold replaced, and filename* (RFC 6266, 5987)
 * holding the exact name. */
static sg_err disposition(struct sg_resp *resp, const char *name)
{
	struct sg_buf b;
	sg_buf_init(&b, 8 * SG_MP_NAME_MAX + 64);
	sg_buf_puts(&b, "attachment; filename=\"");
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		sg_buf_putc(&b, c < 0x20 || c > 0x7e || c == '"' || c == '\\' ? '_' : (char)c);
	}
	sg_buf_puts(&b, "\"; filename*=UTF-8''");
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("!#$&+-.^_`|~", c))
			sg_buf_putc(&b, (char)c);
		else
			sg_buf_printf(&b, "%%%02X", c);
	}
	sg_err err = SG_ERR_OK;
	if (sg_buf_failed(&b))
		err = b.too_large ? SG_ERR_OK : SG_ERR_NOMEM;
	else
		sg_resp_header(resp, "Content-Disposition", sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return err;
}

sg_err sg_attachment_file(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp)
{
	json_t *rec;
	sg_err err = visible_attachment(ctx, as, sg_req_param(req, "sys_id"), &rec);
	if (err)
		return err;
	int fd = -1;
	long long size = 0;
	err = sg_attach_open_content(api->model, sg_json_str(rec, "hash"), &fd, &size);
	struct sg_buf meta, header;
	sg_buf_init(&meta, 1024 * 1024);
	sg_buf_init(&header, 6 * 1024 * 1024);
	if (!err && !render(ctx, req, rec, &meta))
		err = SG_ERR_NOMEM;
	if (!err)
		ascii_json(&header, meta.data, meta.len);
	if (!err && sg_buf_failed(&header))
		err = SG_ERR_NOMEM;
	if (!err) {
		const char *ct = sg_json_str(rec, "content_type");
		sg_resp_file(resp, 200, fd, (unsigned long long)size);
		fd = -1;
		sg_resp_header(resp, "Content-Type",
		               ct && *ct && header_safe(ct) ? ct : OCTET_STREAM);
		err = disposition(resp, sg_json_str(rec, "file_name"));
		sg_resp_header(resp, "X-Attachment-Metadata", sg_buf_str(&header));
	}
	if (fd >= 0)
		close(fd);
	sg_buf_cleanup(&meta);
	sg_buf_cleanup(&header);
	json_decref(rec);
	return err;
}

/* The attachment the user may change: 404 when hidden, 403 (denied) when
 * its parent is read-only to them. */
static sg_err changeable(struct sg_ctx *ctx, struct sg_auth_session *as, const char *id,
                         sg_err denied, json_t **rec)
{
	sg_err err = visible_attachment(ctx, as, id, rec);
	if (err)
		return err;
	bool ok, readable;
	err = parent_may(ctx, as, sg_json_str(*rec, "table_name"),
	                 sg_json_str(*rec, "table_sys_id"), SG_ACL_WRITE, &ok, &readable);
	if (!err && !ok)
		err = denied;
	if (err) {
		json_decref(*rec);
		*rec = NULL;
	}
	return err;
}

sg_err sg_attachment_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	json_t *rec;
	const char *id = sg_req_param(req, "sys_id");
	sg_err err = changeable(ctx, as, id, SG_ERR_ACL_DELETE, &rec);
	if (err)
		return err;
	json_decref(rec);
	err = sg_rec_delete(ctx, SG_ATTACH_TABLE, id);
	if (!err)
		resp->status = 204;
	return err;
}

sg_err sg_attachment_rename(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	json_t *rec;
	const char *id = sg_req_param(req, "sys_id");
	sg_err err = changeable(ctx, as, id, SG_ERR_ACL_UPDATE, &rec);
	if (err)
		return err;
	json_decref(rec);
	json_t *body = NULL;
	if (!req->body || !req->body_len)
		err = SG_ERR_EMPTY_BODY;
	else
		err = sg_json_parse_body(req->body, req->body_len, &body);
	const char *name = err ? NULL : sg_json_str(body, "file_name");
	if (!err && (!name || !*name)) {
		sg_ctx_set_err(ctx, "file_name is missing");
		err = SG_ERR_BAD_PARAM;
	}
	json_t *in = err ? NULL : json_pack("{s:s}", "file_name", name);
	if (!err && !in)
		err = SG_ERR_NOMEM;
	if (!err) {
		struct sg_write_opts wo = {0};
		err = sg_rec_update(ctx, SG_ATTACH_TABLE, id, in, &wo);
	}
	json_decref(in);
	json_decref(body);
	if (!err)
		resp->status = 204;
	return err;
}

/* ---- POST ------------------------------------------------------------------ */

/* glide.attachment.extensions: a comma list of the extensions allowed
 * (any case, a leading '.' ignored); empty allows every file. */
static sg_err extension_allowed(struct sg_ctx *ctx, const char *file_name, bool *ok)
{
	char *list = NULL;
	*ok = true;
	sg_err err = sg_prop_get(ctx, "glide.attachment.extensions", &list);
	if (err || !list || !*list) {
		free(list);
		return err;
	}
	const char *dot = strrchr(file_name, '.');
	const char *ext = dot ? dot + 1 : "";
	*ok = false;
	for (char *tok = list; tok && !*ok;) {
		char *comma = strchr(tok, ',');
		if (comma)
			*comma = '\0';
		while (*tok == ' ' || *tok == '.')
			tok++;
		size_t n = strlen(tok);
		while (n && tok[n - 1] == ' ')
			n--;
		*ok = n && strlen(ext) == n && !strncasecmp(tok, ext, n);
		tok = comma ? comma + 1 : NULL;
	}
	free(list);
	return SG_ERR_OK;
}

static sg_err missing(struct sg_ctx *ctx, const char *what)
{
	sg_ctx_set_err(ctx, "Missing parameter: %s", what);
	return SG_ERR_BAD_PARAM;
}

sg_err sg_attachment_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                          struct sg_req *req, struct sg_resp *resp)
{
	struct upload *u = upload_state(api, req);
	if (!u)
		return SG_ERR_NOMEM;
	bool multipart = req->match.route->on_body == sg_attachment_multipart_body;
	const char *table, *table_id, *file_name, *ct;
	if (multipart) {
		if (!u->mp_started)
			multipart_feed(req, u, "", 0);
		if (!u->mp_bad && !u->err && sg_multipart_finish(&u->mp))
			u->mp_bad = true;
		if (u->err)
			return u->err;
		if (u->mp_bad) {
			sg_ctx_set_err(ctx, "%s",
			               u->mp.why ? u->mp.why : "The multipart body is malformed");
			return SG_ERR_BAD_PARAM;
		}
		table = u->table_name;
		table_id = u->table_sys_id;
		file_name = u->file_name;
		ct = u->content_type;
		if (!*table)
			return missing(ctx, "table_name");
		if (!*table_id)
			return missing(ctx, "table_sys_id");
		if (!u->have_file || !u->file_done) {
			sg_ctx_set_err(ctx, "The multipart body holds no file part");
			return SG_ERR_BAD_PARAM;
		}
		if (!*file_name)
			return missing(ctx, "file_name");
	} else {
		table = sg_req_arg(req, "table_name");
		table_id = sg_req_arg(req, "table_sys_id");
		file_name = sg_req_arg(req, "file_name");
		ct = sg_req_header(req, "Content-Type");
		if (!table || !*table)
			return missing(ctx, "table_name");
		if (!table_id || !*table_id)
			return missing(ctx, "table_sys_id");
		if (!file_name || !*file_name)
			return missing(ctx, "file_name");
		if (!ct || !*ct)
			ct = OCTET_STREAM;
		if (strlen(table) > PARAM_MAX || strlen(file_name) >= SG_MP_NAME_MAX ||
		    strlen(ct) >= SG_MP_NAME_MAX) {
			sg_ctx_set_err(ctx, "A parameter is too long");
			return SG_ERR_BAD_PARAM;
		}
	}
	const struct sg_table *t = sg_dict_table(ctx->dict, table);
	if (!t) {
		sg_ctx_set_err(ctx, "%s", table);
		return SG_ERR_INVALID_TABLE;
	}
	bool ok, readable;
	sg_err err = parent_may(ctx, as, t->name, table_id, SG_ACL_WRITE, &ok, &readable);
	if (err)
		return err;
	if (!readable)
		return SG_ERR_NO_RECORD;
	if (!ok)
		return SG_ERR_ACL_INSERT;
	err = extension_allowed(ctx, file_name, &ok);
	if (err)
		return err;
	if (!ok) {
		sg_ctx_set_err(ctx, "The file extension of '%.100s' is not allowed", file_name);
		return SG_ERR_INVALID_INSERT;
	}
	/* an empty body: empty content */
	err = store(api, u, NULL, 0);
	if (!err)
		err = sg_attach_writer_finish(&u->w);
	const char *by = req->user ? req->user->user_name : "";
	json_t *row = err ? NULL
	                  : json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "file_name", file_name,
	                              "content_type", ct, "table_name", t->name, "table_sys_id",
	                              table_id, "created_by_name", by, "updated_by_name", by);
	if (!err && !row)
		err = SG_ERR_NOMEM;
	char id[SG_ID_LEN + 1];
	if (!err)
		err = sg_attach_commit(ctx, &u->w, row, id);
	json_decref(row);
	if (err)
		return err;
	/* Location: the new attachment's content, under the public base URL and
	 * the version the client used (PySNC compares it with the
	 * .../api/now/v1/attachment/<sys_id>/file it builds itself). */
	char loc[2048];
	snprintf(loc, sizeof(loc), "%s%s%s/file", req->base_url, api_path(req), id);
	sg_resp_header(resp, "Location", loc);
	json_t *rec = NULL;
	err = sg_rec_get(ctx, SG_ATTACH_TABLE, id, &rec);
	if (!err)
		err = respond(ctx, req, rec, 201, resp);
	json_decref(rec);
	return err;
}
