/*
 * snapshot.c - the snapshot power under /_snowglobe/ (model/snapshot.h):
 *
 *   GET    /_snowglobe/snapshots                 the snapshots, with sizes
 *   POST   /_snowglobe/snapshots                 {"name": N}: save (201)
 *   POST   /_snowglobe/snapshots/{name}/restore  restore N
 *   DELETE /_snowglobe/snapshots/{name}          delete N (204)
 *   POST   /_snowglobe/reset                     back to "init", or to
 *                                                {"snapshot": N}
 *
 * Admin only (the gate in middleware.c).  A restore replaces the database while
 * other requests run (see sg_store_restore); the change counters it moves
 * make every cache of every process reload, and this process's compiled
 * scripts, keyed by record version rather than by a counter, are dropped.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "api/api.h"
#include "core/log.h"
#include "model/snapshot.h"
#include "script/script.h"

#define NAME_RULE                                                                                  \
	"a snapshot name is 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-', not "           \
	"starting with '.'"

static int64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static sg_err refuse_name(struct sg_resp *resp)
{
	sg_resp_refuse(resp, 400, "Invalid snapshot name", NAME_RULE);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

static sg_err no_snapshot(struct sg_resp *resp, const char *name)
{
	char detail[160];
	if (!strcmp(name, SG_SNAPSHOT_INIT))
		snprintf(detail, sizeof(detail),
		         "No snapshot named init: this instance was made before nowctl init kept "
		         "one; save it with nowctl snapshot save init");
	else
		snprintf(detail, sizeof(detail), "No snapshot named %s", name);
	sg_resp_refuse(resp, 404, "No Record found", detail);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* The member key of the request's JSON body: *out borrowed from *body (a
 * new reference the caller drops), NULL when absent; no body is none. */
static sg_err body_string(struct sg_req *req, const char *key, json_t **body, const char **out,
                          bool *bad)
{
	*body = NULL;
	*out = NULL;
	*bad = false;
	if (!req->body || !req->body_len)
		return SG_ERR_OK;
	sg_err err = sg_json_parse_body(req->body, req->body_len, body);
	if (err)
		return err;
	json_t *v = json_object_get(*body, key);
	if (!json_is_object(*body) || (v && !json_is_string(v)))
		*bad = true;
	else
		*out = json_string_value(v);
	return SG_ERR_OK;
}

static sg_err answer(struct sg_resp *resp, int status, json_t *result)
{
	json_t *body = result ? json_pack("{s:o}", "result", result) : NULL;
	if (!body)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, status, body);
	json_decref(body);
	return resp->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* The snapshot's row of the list, for answers: *out new, or NULL. */
static sg_err row_of(struct sg_model *m, const char *name, json_t **out)
{
	json_t *all = NULL;
	*out = NULL;
	sg_err err = sg_snapshot_list(m, &all);
	size_t i;
	json_t *row;
	json_array_foreach(all, i, row)
	{
		if (!strcmp(json_string_value(json_object_get(row, "name")), name))
			*out = json_incref(row);
	}
	json_decref(all);
	if (!err && !*out)
		err = SG_ERR_NOMEM; /* deleted meanwhile: as good as failed */
	return err;
}

void sg_snapshot_follow(struct sg_api *api)
{
	static atomic_ulong seen; /* 0: not looked yet (nothing compiled before) */
	unsigned long now = atomic_load(&api->model->restore_gen);
	unsigned long was = atomic_load(&seen);
	if (now != was && atomic_compare_exchange_strong(&seen, &was, now) && was)
		sg_script_cache_clear();
}

/* Restores name and answers {"result": {"name", "restored_in_ms"}}. */
static sg_err restore(struct sg_api *api, struct sg_resp *resp, const char *name)
{
	int64_t t0 = monotonic_us();
	sg_err err = sg_snapshot_restore(api->model, name);
	if (err == SG_ERR_NO_RECORD)
		return no_snapshot(resp, name);
	if (err)
		return err;
	/* Compiled scripts are keyed by record and version, and a restored
	 * record may have a version this process compiled with other text. */
	sg_script_cache_clear();
	json_int_t ms = (json_int_t)((monotonic_us() - t0 + 999) / 1000);
	sg_log_info("snapshot: restored %s in %lld ms", name, (long long)ms);
	return answer(resp, 200, json_pack("{s:s, s:I}", "name", name, "restored_in_ms", ms));
}

sg_err sg_snapshot_list_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)req;
	(void)ctx;
	(void)as;
	sg_err err;
	json_t *all = NULL;
	err = sg_snapshot_list(api->model, &all);
	return err ? err : answer(resp, 200, all);
}

sg_err sg_snapshot_save_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                             struct sg_req *req, struct sg_resp *resp)
{
	bool bad;
	(void)ctx;
	(void)as;
	sg_err err;
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *body;
	const char *name;
	err = body_string(req, "name", &body, &name, &bad);
	if (!err && (bad || !sg_snapshot_name_ok(name)))
		err = refuse_name(resp);
	else if (!err) {
		int64_t t0 = monotonic_us();
		err = sg_snapshot_save(api->model, name);
		json_int_t ms = (json_int_t)((monotonic_us() - t0 + 999) / 1000);
		json_t *row = NULL;
		if (!err)
			err = row_of(api->model, name, &row);
		if (!err && json_object_set_new(row, "saved_in_ms", json_integer(ms)))
			err = SG_ERR_NOMEM;
		if (!err) {
			sg_log_info("snapshot: saved %s in %lld ms", name, (long long)ms);
			err = answer(resp, 201, row);
		} else
			json_decref(row);
	}
	json_decref(body);
	return err;
}

sg_err sg_snapshot_restore_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                                struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	const char *name = sg_req_param(req, "name");
	if (!sg_snapshot_name_ok(name))
		return refuse_name(resp);
	return restore(api, resp, name);
}

sg_err sg_snapshot_delete_one(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                              struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	sg_err err;
	const char *name = sg_req_param(req, "name");
	if (!sg_snapshot_name_ok(name))
		return refuse_name(resp);
	err = sg_snapshot_delete(api->model, name);
	if (err == SG_ERR_NO_RECORD)
		return no_snapshot(resp, name);
	if (err)
		return err;
	resp->status = 204;
	return SG_ERR_OK;
}

sg_err sg_snapshot_reset(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp)
{
	bool bad;
	(void)ctx;
	(void)as;
	sg_err err;
	json_t *body;
	const char *name;
	err = body_string(req, "snapshot", &body, &name, &bad);
	if (!err && (bad || (name && !sg_snapshot_name_ok(name))))
		err = refuse_name(resp);
	else if (!err)
		err = restore(api, resp, name ? name : SG_SNAPSHOT_INIT);
	json_decref(body);
	return err;
}
