/*
 * background.c - scheduled script executions and script actions on events,
 * run from the durable job queue (see background.h).
 */
#include "script/background.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "dict/dict.h"
#include "model/jobs.h"
#include "model/rules.h"
#include "query/query.h"
#include "script/script.h"

#define ACTIONS_MAX 1000   /* script actions of one event */
#define JOBS_MAX    100000 /* scheduled jobs looked at by a start */

static const char *field(json_t *rec, const char *key)
{
	const char *v = sg_json_str(rec, key);
	return v ? v : "";
}

/* JavaScript truthiness of a run's value. */
static bool truthy(const json_t *v)
{
	if (!v)
		return false;
	switch (json_typeof(v)) {
	case JSON_TRUE:
	case JSON_OBJECT:
	case JSON_ARRAY:
		return true;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	default:
		return false;
	}
}

/*
 * Runs source in ctx as ctx's user, with table/current and values bound.
 * *ok: it ran to its end (a failure is logged in syslog by the engine, with
 * name as source); *value (may be NULL): its value, a new reference.  An
 * sg_err only when the platform failed.
 */
static sg_err run(struct sg_ctx *ctx, const char *name, const char *cache_key, const char *source,
                  const char *table, json_t *current, json_t *values, bool *ok, json_t **value)
{
	*ok = false;
	if (value)
		*value = NULL;
	struct sg_auth *a = NULL;
	sg_err err = sg_auth_new(ctx->model, &a);
	if (err)
		return err;
	struct sg_auth_session s;
	sg_auth_session_init(&s, a, ctx, NULL);
	struct sg_script_run r = {.source = source,
	                          .source_len = strlen(source),
	                          .name = name,
	                          .cache_key = cache_key,
	                          .as = &s,
	                          .table = current ? table : NULL,
	                          .current = current,
	                          /* a stored record: the engine takes current
	                           * with no previous as one being inserted */
	                          .previous = current,
	                          .values = values};
	struct sg_script_result res;
	err = sg_script_run(&r, &res);
	if (!err && res.status == SG_SCRIPT_OK) {
		*ok = true;
		if (value)
			*value = json_incref(res.value);
	}
	sg_script_result_cleanup(&res);
	sg_auth_session_cleanup(&s);
	sg_auth_free(a);
	if (sg_conn_in_transaction(ctx->conn))
		sg_conn_rollback(ctx->conn); /* a failed script left one open */
	return err;
}

/* ---- scheduled jobs ------------------------------------------------------ */

/* The user a job runs as: *found false when run_as names no active user. */
static sg_err load_user(struct sg_ctx *sys, const char *id, struct sg_user *u, bool *found)
{
	memset(u, 0, sizeof(*u));
	*found = false;
	json_t *rec = NULL;
	sg_err err = sg_rec_get(sys, "sys_user", id, &rec);
	if (err == SG_ERR_NO_RECORD)
		return SG_ERR_OK;
	if (err)
		return err;
	if (sg_str_bool(field(rec, "active"), true) &&
	    !sg_str_bool(field(rec, "locked_out"), false)) {
		snprintf(u->sys_id, sizeof(u->sys_id), "%s", field(rec, "sys_id"));
		snprintf(u->user_name, sizeof(u->user_name), "%s", field(rec, "user_name"));
		snprintf(u->name, sizeof(u->name), "%s", field(rec, "name"));
		snprintf(u->time_zone, sizeof(u->time_zone), "%s", field(rec, "time_zone"));
		*found = true;
	}
	json_decref(rec);
	return SG_ERR_OK;
}

static void cache_key(char *out, size_t n, const char *what, json_t *rec)
{
	snprintf(out, n, "sysauto_script/%s/%s/%s", field(rec, "sys_id"),
	         field(rec, "sys_mod_count"), what);
}

/* Runs rec (a sysauto_script) once, as its run_as user, when its condition
 * allows. */
static sg_err run_job_record(struct sg_ctx *sys, json_t *rec)
{
	const char *name = *field(rec, "name") ? field(rec, "name") : field(rec, "sys_id");
	const char *run_as = field(rec, "run_as");
	struct sg_user u;
	bool found = true;
	sg_err err = *run_as ? load_user(sys, run_as, &u, &found) : SG_ERR_OK;
	if (err)
		return err;
	if (!found) {
		char msg[300];
		snprintf(msg, sizeof(msg), "not run: its Run as user %s is not an active user",
		         run_as);
		sg_log_warn("scheduled job %s: %s", name, msg);
		return sg_script_syslog(sys, name, "error", msg);
	}
	struct sg_ctx ctx;
	err = sg_ctx_begin(&ctx, sys->model, *run_as ? &u : NULL);
	if (err)
		return err;
	bool ok = true;
	if (sg_str_bool(field(rec, "conditional"), false)) {
		json_t *v = NULL;
		char key[160], cname[200];
		cache_key(key, sizeof(key), "condition", rec);
		snprintf(cname, sizeof(cname), "%s (condition)", name);
		err = run(&ctx, cname, key, field(rec, "condition"), NULL, NULL, NULL, &ok, &v);
		ok = ok && truthy(v);
		json_decref(v);
	}
	if (!err && ok) {
		char key[160];
		cache_key(key, sizeof(key), "script", rec);
		err = run(&ctx, name, key, field(rec, "script"), NULL, NULL, NULL, &ok, NULL);
	}
	sg_ctx_end(&ctx);
	return err;
}

static sg_err run_scheduled(struct sg_ctx *ctx, const struct sg_job *job, void *ud, char *msg,
                            size_t msg_size)
{
	bool execute_now = ud != NULL;
	json_t *rec = NULL;
	sg_err err = sg_rec_get(ctx, "sysauto_script", job->document_key, &rec);
	if (err == SG_ERR_NO_RECORD)
		return SG_ERR_OK; /* deleted: nothing to run, nothing to schedule */
	if (err) {
		snprintf(msg, msg_size, "reading sysauto_script %s: %s", job->document_key,
		         sg_err_name(err));
		return err;
	}
	if (execute_now || sg_str_bool(field(rec, "active"), true))
		err = run_job_record(ctx, rec);
	if (!err && !execute_now) {
		/* the next run, from the record as it is now */
		json_decref(rec);
		rec = NULL;
		err = sg_rec_get(ctx, "sysauto_script", job->document_key, &rec);
		if (err == SG_ERR_NO_RECORD)
			err = SG_ERR_OK;
		else if (!err) {
			err = sg_job_schedule_record(ctx, SG_JOB_SCHEDULED_SCRIPT, "sysauto_script",
			                             rec, NULL);
			if (err == SG_ERR_BAD_PARAM) {
				sg_log_warn(
				    "scheduled job %s: its schedule is malformed; not scheduled",
				    field(rec, "name"));
				err = SG_ERR_OK;
			}
		}
	}
	if (err)
		snprintf(msg, msg_size, "scheduled job %s: %s", field(rec, "name"),
		         sg_err_name(err));
	json_decref(rec);
	return err;
}

sg_err sg_script_execute_now(struct sg_ctx *ctx, const char *sys_id, char out_id[SG_ID_LEN + 1])
{
	json_t *rec = NULL;
	sg_err err = sg_rec_get(ctx, "sysauto_script", sys_id, &rec);
	if (err)
		return err;
	const char *name = field(rec, "name");
	struct sg_job_spec spec = {.type = SG_JOB_EXECUTE_NOW,
	                           .name = *name ? name : SG_JOB_EXECUTE_NOW,
	                           .document = "sysauto_script",
	                           .document_key = field(rec, "sys_id"),
	                           .max_attempts = 1};
	err = sg_job_enqueue(ctx, &spec, out_id);
	json_decref(rec);
	return err;
}

/* The rule: a sysauto_script written is (re)scheduled in the same
 * transaction; deleted, its waiting job goes. */
static sg_err schedule_rule(struct sg_write *w)
{
	json_t *rec = w->rec;
	json_t *gone = NULL;
	if (w->op == SG_OP_DELETE) {
		gone = json_deep_copy(w->old);
		if (!gone || json_object_set_new(gone, "active", json_string("false"))) {
			json_decref(gone);
			return SG_ERR_NOMEM;
		}
		rec = gone;
	}
	int64_t next = 0;
	sg_err err =
	    sg_job_schedule_record(w->ctx, SG_JOB_SCHEDULED_SCRIPT, "sysauto_script", rec, &next);
	json_decref(gone);
	/* A Once job saved with its time already past runs at once. */
	struct sg_schedule s;
	if (!err && !next && w->op != SG_OP_DELETE && sg_str_bool(field(rec, "active"), true) &&
	    sg_schedule_from_record(rec, &s) && s.type == SG_RUN_ONCE) {
		const char *name = field(rec, "name");
		struct sg_job_spec spec = {.type = SG_JOB_SCHEDULED_SCRIPT,
		                           .name = *name ? name : SG_JOB_SCHEDULED_SCRIPT,
		                           .document = "sysauto_script",
		                           .document_key = field(rec, "sys_id")};
		err = sg_job_enqueue(w->ctx, &spec, NULL);
	}
	if (err == SG_ERR_BAD_PARAM) {
		/* ServiceNow keeps the record; the job just does not run. */
		sg_log_warn("scheduled job %s: its schedule is malformed; not scheduled",
		            sg_write_val(w, "name"));
		err = SG_ERR_OK;
	}
	return err;
}

static const struct sg_rule rules[] = {
    {"script.schedule_job", "sysauto_script", SG_RULE_AFTER, SG_OP_ANY, 500, schedule_rule},
};

/* ---- events -------------------------------------------------------------- */

static sg_err handle_event(struct sg_ctx *ctx, json_t *event, void *ud)
{
	(void)ud;
	const char *name = field(event, "name");
	struct sg_query q;
	sg_query_init(&q);
	json_t *actions = NULL;
	sg_err err = SG_ERR_OK;
	if (!sg_query_parse(&q, "active=true^ORDERBYorder^ORDERBYsys_created_on") ||
	    !sg_query_add_eq(&q, "event_name", name))
		err = SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = ACTIONS_MAX};
	if (!err)
		err = sg_rec_list(ctx, "sysevent_script_action", &lo, &actions, NULL);
	sg_query_cleanup(&q);
	if (err)
		return err;
	const char *table = field(event, "table"), *instance = field(event, "instance");
	json_t *current = NULL;
	json_t *values = json_pack("{s:O}", "event", event);
	if (!err && !values)
		err = SG_ERR_NOMEM;
	bool failed = false;
	size_t i;
	json_t *a;
	json_array_foreach(actions, i, a)
	{
		if (err)
			break;
		if (strcmp(field(a, "event_name"), name) != 0)
			continue;
		const char *aname = *field(a, "name") ? field(a, "name") : field(a, "sys_id");
		/* current: the record the event names, if it still exists, as the
		 * actions before this one left it */
		json_decref(current);
		current = NULL;
		if (*table && *instance) {
			err = sg_rec_get(ctx, table, instance, &current);
			if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
				err = SG_ERR_OK;
			if (err)
				break;
		}
		/* no record: current is null */
		if (current)
			json_object_del(values, "current");
		else if (json_object_set_new(values, "current", json_null())) {
			err = SG_ERR_NOMEM;
			break;
		}
		char key[160];
		bool ok = true;
		const char *cond = field(a, "condition_script");
		if (*cond) {
			char cname[200];
			snprintf(key, sizeof(key), "sysevent_script_action/%s/%s/condition",
			         field(a, "sys_id"), field(a, "sys_mod_count"));
			snprintf(cname, sizeof(cname), "%s (condition)", aname);
			json_t *v = NULL;
			err = run(ctx, cname, key, cond, table, current, values, &ok, &v);
			failed |= !err && !ok;
			ok = ok && truthy(v);
			json_decref(v);
		}
		if (err || !ok)
			continue;
		snprintf(key, sizeof(key), "sysevent_script_action/%s/%s/script",
		         field(a, "sys_id"), field(a, "sys_mod_count"));
		err = run(ctx, aname, key, field(a, "script"), table, current, values, &ok, NULL);
		failed |= !err && !ok;
	}
	json_decref(values);
	json_decref(current);
	json_decref(actions);
	if (err)
		return err;
	return failed ? SG_ERR_INTERNAL : SG_ERR_OK;
}

/* ---- setup --------------------------------------------------------------- */

sg_err sg_script_background_install(struct sg_model *m)
{
	static int now_marker;
	sg_err err = sg_jobs_register(SG_JOB_SCHEDULED_SCRIPT, run_scheduled, NULL);
	if (!err)
		err = sg_jobs_register(SG_JOB_EXECUTE_NOW, run_scheduled, &now_marker);
	if (err)
		return err;
	sg_jobs_set_event_handler(handle_event, NULL);
	err = sg_jobs_add_rules(m);
	if (!err)
		err = sg_model_add_rules(m, rules, sizeof(rules) / sizeof(rules[0]));
	return err;
}

sg_err sg_script_background_reconcile(struct sg_model *m, int *scheduled)
{
	if (scheduled)
		*scheduled = 0;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	if (!sg_dict_table(ctx.dict, "sysauto_script") || !sg_dict_table(ctx.dict, "sys_trigger")) {
		sg_ctx_end(&ctx);
		return SG_ERR_OK;
	}
	struct sg_query q;
	sg_query_init(&q);
	json_t *recs = NULL;
	if (!sg_query_parse(&q, "active=true"))
		err = SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = JOBS_MAX};
	if (!err)
		err = sg_rec_list(&ctx, "sysauto_script", &lo, &recs, NULL);
	sg_query_cleanup(&q);
	size_t i;
	json_t *rec;
	json_array_foreach(recs, i, rec)
	{
		if (err)
			break;
		struct sg_query tq;
		sg_query_init(&tq);
		json_t *jobs = NULL;
		if (!sg_query_add_eq(&tq, "job_id", SG_JOB_SCHEDULED_SCRIPT) ||
		    !sg_query_add_eq(&tq, "document_key", field(rec, "sys_id")))
			err = SG_ERR_NOMEM;
		struct sg_list_opts tlo = {.query = &tq, .limit = 1};
		if (!err)
			err = sg_rec_list(&ctx, "sys_trigger", &tlo, &jobs, NULL);
		sg_query_cleanup(&tq);
		if (!err && json_array_size(jobs) == 0) {
			int64_t next = 0;
			err = sg_job_schedule_record(&ctx, SG_JOB_SCHEDULED_SCRIPT,
			                             "sysauto_script", rec, &next);
			if (err == SG_ERR_BAD_PARAM)
				err = SG_ERR_OK;
			else if (!err && next && scheduled)
				(*scheduled)++;
		}
		json_decref(jobs);
	}
	json_decref(recs);
	sg_ctx_end(&ctx);
	return err;
}
