/*
 * clock.c - the instance's clock under /_snowglobe/ (model/clock.h):
 *
 *   GET  /_snowglobe/clock   {"result":{"now","mode","offset_seconds","frozen","real_now"}}
 *   POST /_snowglobe/clock   {"action":"set","time":"2030-01-01 00:00:00"}
 *                            {"action":"advance","by":"2h"}   (or "seconds": 7200)
 *                            {"action":"freeze"} / {"action":"freeze","time":...}
 *                            {"action":"real"}
 *
 * The admin's only (the gate in middleware.c).  A change is stored (every process
 * of the instance agrees) and applies to this process at once; the answer
 * is the setting after it.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/json.h"
#include "model/clock.h"

static sg_err answer(struct sg_resp *resp)
{
	json_t *d = sg_clock_describe();
	json_t *out = d ? json_pack("{s:o}", "result", d) : NULL;
	if (!out)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, 200, out);
	json_decref(out);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

sg_err sg_clock_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)req;
	(void)ctx;
	(void)as;
	return answer(resp);
}

sg_err sg_clock_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)as;
	sg_err err;
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *in;
	err = sg_json_parse_body(req->body, req->body_len, &in);
	if (err)
		return err;
	if (!json_is_object(in)) {
		json_decref(in);
		sg_ctx_set_err(ctx, "%s", "The body must be an object with an \"action\"");
		return SG_ERR_BAD_PARAM;
	}
	const char *action = json_string_value(json_object_get(in, "action"));
	json_t *time = json_object_get(in, "time"), *by = json_object_get(in, "by");
	json_t *secs = json_object_get(in, "seconds");
	char arg[64] = "";
	if (time && !json_is_string(time)) {
		sg_ctx_set_err(ctx, "%s", "\"time\" must be a string");
		err = SG_ERR_BAD_PARAM;
	} else if (by && !json_is_string(by)) {
		sg_ctx_set_err(ctx, "%s", "\"by\" must be a string");
		err = SG_ERR_BAD_PARAM;
	} else if (secs && !json_is_integer(secs)) {
		sg_ctx_set_err(ctx, "%s", "\"seconds\" must be an integer");
		err = SG_ERR_BAD_PARAM;
	} else if (time) {
		snprintf(arg, sizeof(arg), "%s", json_string_value(time));
	} else if (by) {
		snprintf(arg, sizeof(arg), "%s", json_string_value(by));
	} else if (secs) {
		snprintf(arg, sizeof(arg), "%lld", (long long)json_integer_value(secs));
	}
	if (!err && !action) {
		sg_ctx_set_err(ctx, "%s",
		               "\"action\" is missing: one of set, advance, freeze or real");
		err = SG_ERR_BAD_PARAM;
	}
	if (!err)
		err = sg_clock_change(ctx, action, arg);
	json_decref(in);
	return err ? err : answer(resp);
}
