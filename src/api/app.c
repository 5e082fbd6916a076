/*
 * app.c - POST /api/now/snowglobe/app: installs an application (model/app.h)
 * sent whole in the body, in one transaction, as the caller.
 *
 * Snowglobe's own endpoint (ServiceNow installs applications from its
 * repository or an update set, not over REST): an application is only all
 * or nothing in one request.  The caller must hold admin, and every record
 * passes the same access controls as a Table API write (the table's create
 * or write ACLs, field ACLs, security_admin in effect for ACLs, security
 * properties and grants of elevated roles); a field the caller may not
 * write refuses the whole install rather than being dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/json.h"
#include "model/app.h"

static sg_err check_record(void *ud, struct sg_ctx *ctx, const struct sg_table *t, json_t *input,
                           json_t *current)
{
	struct sg_auth_session *as = ud;
	bool ok = false;
	sg_err err;
	if (current) {
		err = sg_acl_record(as, t, SG_ACL_WRITE, current, &ok);
		if (!err && !ok)
			err = SG_ERR_ACL_UPDATE;
	} else {
		err = sg_acl_table_may(as, t, SG_ACL_CREATE, &ok);
		if (!err && !ok)
			err = SG_ERR_ACL_INSERT;
	}
	if (err)
		return err;
	json_t *before = json_copy(input);
	if (!before)
		return SG_ERR_NOMEM;
	err = sg_acl_strip_input(as, t, current ? SG_ACL_WRITE : SG_ACL_CREATE, input, current);
	const char *key;
	json_t *v;
	json_object_foreach(before, key, v)
	{
		if (!err && !json_object_get(input, key)) {
			sg_ctx_set_err(ctx, "%s", key);
			err = current ? SG_ERR_ACL_UPDATE : SG_ERR_ACL_INSERT;
		}
	}
	json_decref(before);
	return err;
}

/* ServiceNow's error body for err, its detail prefixed with where (the
 * file and record, or what is malformed). */
static sg_err answer_error(struct sg_ctx *ctx, struct sg_resp *resp, sg_err err, const char *where)
{
	if (err == SG_ERR_NOMEM || !*where)
		return err;
	char *text = sg_err_render(err, ctx->err_arg, ctx->err_arg2);
	json_t *body = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	json_t *e = json_object_get(body, "error");
	const char *detail = json_string_value(json_object_get(e, "detail"));
	size_t n = strlen(where) + (detail ? strlen(detail) : 0) + 3;
	char *d = malloc(n);
	if (!e || !d) {
		free(d);
		json_decref(body);
		return SG_ERR_NOMEM;
	}
	if (detail && *detail && strcmp(detail, where))
		snprintf(d, n, "%s: %s", where, detail);
	else
		snprintf(d, n, "%s", where);
	json_t *s = sg_json_string_lossy(d);
	free(d);
	if (!s || json_object_set_new(e, "detail", s)) {
		json_decref(body);
		return SG_ERR_NOMEM;
	}
	sg_resp_json(resp, sg_err_status(err), body);
	json_decref(body);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

sg_err sg_app_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                   struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	bool admin = false;
	sg_err err = sg_acl_has_role(as, "admin", &admin);
	if (err)
		return err;
	if (!admin)
		return SG_ERR_ACL_INSERT;
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *app;
	err = sg_json_parse_body(req->body, req->body_len, &app);
	if (err)
		return err;
	struct sg_app_check check = {check_record, as};
	json_t *report = NULL;
	char where[1024];
	err = sg_app_install(ctx, app, &check, &report, where, sizeof(where));
	json_decref(app);
	if (err)
		return answer_error(ctx, resp, err, where);
	json_t *out = json_pack("{s:o}", "result", report);
	if (!out)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, 200, out);
	json_decref(out);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}
