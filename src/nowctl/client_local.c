/*
 * client_local.c - nowctl acting directly on a data directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/rules.h"
#include "core/buf.h"
#include "model/app.h"
#include "net/redact.h"
#include "nowctl/client.h"
#include "query/query.h"
#include "script/background.h"
#include "script/brules.h"
#include "script/script.h"

struct local {
	struct client c;
	struct sg_model *model;
	struct sg_auth *auth; /* business rules' scripts run in sessions of it */
};

static void fail(struct client *c, struct sg_ctx *ctx, sg_err err)
{
	char *body = sg_err_render(err, ctx->err_arg, ctx->err_arg2);
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *detail = json_string_value(json_object_get(e, "detail"));
	snprintf(c->errmsg, sizeof(c->errmsg), "%s%s%s", msg ? msg : sg_err_name(err),
	         detail ? ": " : "", detail ? detail : "");
	c->status = sg_err_status(err);
	json_decref(j);
	free(body);
}

static int with_ctx(struct client *c, struct sg_ctx *ctx)
{
	struct local *l = (struct local *)c;
	sg_model_sync(l->model); /* a running nowd may have changed things */
	sg_err err = sg_ctx_begin(ctx, l->model, NULL);
	if (err)
		snprintf(c->errmsg, sizeof(c->errmsg), "cannot open the instance (%s)",
		         sg_err_name(err));
	return err;
}

static int l_list(struct client *c, const char *table, const char *query, long limit, json_t **out)
{
	struct sg_ctx ctx;
	if (with_ctx(c, &ctx))
		return 1;
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = sg_query_parse(&q, query) ? SG_ERR_OK : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = limit > 0 ? limit : 10000};
	if (!err)
		err = sg_rec_list(&ctx, table, &lo, out, NULL);
	if (err)
		fail(c, &ctx, err);
	sg_query_cleanup(&q);
	sg_ctx_end(&ctx);
	return err != SG_ERR_OK;
}

static int l_insert(struct client *c, const char *table, json_t *in, json_t **out)
{
	struct sg_ctx ctx;
	if (with_ctx(c, &ctx))
		return 1;
	struct sg_write_opts wo = {.allow_sys_fields = true};
	char id[SG_ID_LEN + 1];
	sg_err err = sg_rec_insert(&ctx, table, in, &wo, id);
	if (!err)
		err = sg_rec_get(&ctx, table, id, out);
	if (err)
		fail(c, &ctx, err);
	sg_ctx_end(&ctx);
	return err != SG_ERR_OK;
}

static int l_update(struct client *c, const char *table, const char *sys_id, json_t *in,
                    json_t **out)
{
	struct sg_ctx ctx;
	if (with_ctx(c, &ctx))
		return 1;
	struct sg_write_opts wo = {.allow_sys_fields = true};
	sg_err err = sg_rec_update(&ctx, table, sys_id, in, &wo);
	if (!err)
		err = sg_rec_get(&ctx, table, sys_id, out);
	if (err)
		fail(c, &ctx, err);
	sg_ctx_end(&ctx);
	return err != SG_ERR_OK;
}

static int l_remove(struct client *c, const char *table, const char *sys_id)
{
	struct sg_ctx ctx;
	if (with_ctx(c, &ctx))
		return 1;
	sg_err err = sg_rec_delete(&ctx, table, sys_id);
	if (err)
		fail(c, &ctx, err);
	sg_ctx_end(&ctx);
	return err != SG_ERR_OK;
}

static int l_app_install(struct client *c, json_t *app, json_t **report)
{
	struct sg_ctx ctx;
	if (with_ctx(c, &ctx))
		return 1;
	char where[1024];
	sg_err err = sg_app_install(&ctx, app, NULL, report, where, sizeof(where));
	if (err) {
		fail(c, &ctx, err);
		if (*where) {
			char msg[sizeof(c->errmsg)];
			memcpy(msg, c->errmsg, sizeof(msg));
			size_t n = strlen(where);
			if (n > sizeof(c->errmsg) / 2)
				n = sizeof(c->errmsg) / 2;
			memcpy(c->errmsg, where, n);
			memcpy(c->errmsg + n, ": ", 2);
			size_t room = sizeof(c->errmsg) - n - 3, len = strlen(msg);
			memcpy(c->errmsg + n + 2, msg, len < room ? len : room);
			c->errmsg[n + 2 + (len < room ? len : room)] = '\0';
		}
	}
	sg_ctx_end(&ctx);
	return err != SG_ERR_OK;
}

static int l_script(struct client *c, const char *source, size_t len, json_t **out)
{
	struct local *l = (struct local *)c;
	struct sg_ctx ctx;
	if (with_ctx(c, &ctx))
		return 1;
	struct sg_auth *a = NULL;
	sg_err err = sg_auth_new(l->model, &a);
	if (!err) {
		struct sg_auth_session s;
		sg_auth_session_init(&s, a, &ctx, NULL);
		struct sg_script_run r = {
		    .source = source, .source_len = len, .name = "Background", .as = &s};
		struct sg_script_result res;
		err = sg_script_run(&r, &res);
		if (!err && !(*out = sg_script_result_json(&res)))
			err = SG_ERR_NOMEM;
		sg_script_result_cleanup(&res);
		sg_auth_session_cleanup(&s);
	}
	if (err)
		fail(c, &ctx, err);
	sg_ctx_end(&ctx);
	sg_auth_free(a);
	return err != SG_ERR_OK;
}

static void l_close(struct client *c)
{
	struct local *l = (struct local *)c;
	sg_auth_free(l->auth);
	sg_model_close(l->model);
	free(l);
}

struct client *client_local(const char *dir)
{
	struct local *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	sg_err err = sg_model_open(dir, &l->model);
	if (!err &&
	    ((err = sg_auth_add_rules(l->model)) || (err = sg_auth_new(l->model, &l->auth)) ||
	     (err = sg_brules_install(l->model, l->auth)) ||
	     (err = sg_script_background_install(l->model)))) {
		sg_auth_free(l->auth);
		sg_model_close(l->model);
	}
	if (!err)
		sg_script_install_hooks(); /* ACL scripts, javascript: values */
	if (err) {
		/* A store URL may carry a password: never print it. */
		struct sg_buf where;
		sg_buf_init(&where, 4096);
		sg_net_redact_url(&where, dir, strlen(dir));
		fprintf(stderr, "nowctl: no instance in %s (%s); create one with 'nowctl init'\n",
		        sg_buf_failed(&where) ? "the store named" : sg_buf_str(&where),
		        sg_err_name(err));
		sg_buf_cleanup(&where);
		free(l);
		return NULL;
	}
	l->c.model = l->model;
	l->c.list = l_list;
	l->c.insert = l_insert;
	l->c.update = l_update;
	l->c.remove = l_remove;
	l->c.app_install = l_app_install;
	l->c.script = l_script;
	l->c.close = l_close;
	return &l->c;
}
