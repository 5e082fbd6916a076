/*
 * itsm.c - table semantics that ServiceNow implements in business rules,
 * data lookups and data policies, applied to every write in the data layer
 * (never in handlers): incident priority from impact x urgency, the state
 * models with active / resolved / closed stamps, the data policy requiring a
 * resolution code and notes, and computed user names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/internal.h"

/* States that end a task's life (active=false), per table. */
static const struct {
	const char *table;
	const char *states; /* comma-separated, with leading and trailing comma */
} inactive_states[] = {
	{"incident", ",7,8,"},
	{"problem", ",107,"},
	{"change_request", ",3,4,"},
	{"task", ",3,4,7,"},
};

static const char *inactive_for(const struct sg_table *cls)
{
	for (const struct sg_table *t = cls; t; t = t->super)
		for (size_t i = 0; i < sizeof(inactive_states) / sizeof(inactive_states[0]); i++)
			if (!strcmp(t->name, inactive_states[i].table))
				return inactive_states[i].states;
	return NULL;
}

static bool in_list(const char *list, const char *v)
{
	char key[48];
	snprintf(key, sizeof(key), ",%s,", v);
	return *v && strstr(list, key) != NULL;
}

static bool is_a(const struct sg__write *w, const char *name)
{
	const struct sg_table *t = sg_dict_table(w->ctx->dict, name);
	return t && sg_table_is_a(w->cls, t);
}

static void now_str(char out[SG_DT_LEN + 1])
{
	sg_time_format(sg_time_now(), out);
}

/* Priority lookup [def-prio-lookup-rules.md]: impact x urgency -> 1..5. */
static void compute_priority(struct sg__write *w)
{
	int impact = atoi(sg__val(w, "impact")), urgency = atoi(sg__val(w, "urgency"));
	if (impact < 1 || impact > 3 || urgency < 1 || urgency > 3)
		return;
	char p[16];
	snprintf(p, sizeof(p), "%d", impact + urgency - 1);
	sg__set(w, "priority", p);
}

/* Keeps a legacy mirror (incident_state, problem_state) equal to state. */
static void mirror_state(struct sg__write *w, const char *mirror)
{
	if (!sg_table_field(w->cls, mirror))
		return;
	if (sg__changed(w, "state") || json_object_get(w->explicit, "state"))
		sg__set(w, mirror, sg__val(w, "state"));
	else if (sg__changed(w, mirror) && *sg__val(w, mirror))
		sg__set(w, "state", sg__val(w, mirror));
}

/* Data policy: resolving or closing an incident needs a resolution code and
 * notes; the 403 names the missing fields by label. */
static sg_err resolution_policy(struct sg__write *w)
{
	const char *state = sg__val(w, "state");
	if (strcmp(state, "6") && strcmp(state, "7"))
		return SG_ERR_OK;
	static const char *needed[] = {"close_code", "close_notes"};
	char missing[256] = "";
	for (size_t i = 0; i < 2; i++) {
		if (*sg__val(w, needed[i]))
			continue;
		const struct sg_field *f = sg_table_field(w->cls, needed[i]);
		size_t len = strlen(missing);
		snprintf(missing + len, sizeof(missing) - len, "%s%s", len ? ", " : "",
			 f ? f->label : needed[i]);
	}
	if (!*missing)
		return SG_ERR_OK;
	sg_ctx_set_err(w->ctx, "%s", missing);
	return SG_ERR_DATA_POLICY;
}

static void incident_states(struct sg__write *w)
{
	const char *state = sg__val(w, "state");
	const char *old = w->old ? sg_json_str(w->old, "state") : "";
	bool entering = w->insert || sg__changed(w, "state");
	char now[SG_DT_LEN + 1];
	now_str(now);
	if (!entering)
		return;
	bool was_done = old && (!strcmp(old, "6") || !strcmp(old, "7"));
	if (!strcmp(state, "6") || !strcmp(state, "7")) {
		if (!*sg__val(w, "resolved_at"))
			sg__set(w, "resolved_at", now);
		if (!*sg__val(w, "resolved_by"))
			sg__set(w, "resolved_by", w->ctx->user.sys_id);
	} else if (was_done && !w->insert && strcmp(state, "8")) {
		/* Reopened: the resolution no longer holds. */
		char n[16];
		snprintf(n, sizeof(n), "%d", atoi(sg__val(w, "reopen_count")) + 1);
		sg__set(w, "reopen_count", n);
		sg__set(w, "reopened_time", now);
		sg__set(w, "reopened_by", w->ctx->user.sys_id);
		sg__set(w, "resolved_at", "");
		sg__set(w, "resolved_by", "");
		sg__set(w, "closed_at", "");
		sg__set(w, "closed_by", "");
	}
}

/* active, closed_at and closed_by follow the state model of the table. */
static void task_active(struct sg__write *w)
{
	const char *inactive = inactive_for(w->cls);
	if (!inactive || !(w->insert || sg__changed(w, "state")))
		return;
	char now[SG_DT_LEN + 1];
	now_str(now);
	if (in_list(inactive, sg__val(w, "state"))) {
		sg__set(w, "active", "false");
		if (!*sg__val(w, "closed_at"))
			sg__set(w, "closed_at", now);
		if (!*sg__val(w, "closed_by"))
			sg__set(w, "closed_by", w->ctx->user.sys_id);
	} else {
		sg__set(w, "active", "true");
		if (!w->insert && !json_object_get(w->explicit, "closed_at")) {
			sg__set(w, "closed_at", "");
			sg__set(w, "closed_by", "");
		}
	}
}

static void user_rules(struct sg__write *w)
{
	if ((sg__changed(w, "first_name") || sg__changed(w, "last_name")) &&
	    !json_object_get(w->explicit, "name")) {
		char name[256];
		const char *first = sg__val(w, "first_name"), *last = sg__val(w, "last_name");
		snprintf(name, sizeof(name), "%s%s%s", first, (*first && *last) ? " " : "", last);
		sg__set(w, "name", name);
	}
	/* Machine identities are web-service-only [t_CreateAUser.md]. */
	if (sg__changed(w, "identity_type") &&
	    !json_object_get(w->explicit, "web_service_access_only"))
		sg__set(w, "web_service_access_only",
			!strcmp(sg__val(w, "identity_type"), "machine") ? "true" : "false");
}

sg_err sg__itsm_before(struct sg__write *w)
{
	if (is_a(w, "sys_user")) {
		user_rules(w);
		return SG_ERR_OK;
	}
	if (!is_a(w, "task"))
		return SG_ERR_OK;
	if (is_a(w, "incident")) {
		compute_priority(w);
		mirror_state(w, "incident_state");
		sg_err err = resolution_policy(w);
		if (err)
			return err;
		incident_states(w);
	} else if (is_a(w, "problem")) {
		compute_priority(w);
		mirror_state(w, "problem_state");
		if (sg__changed(w, "state") && !strcmp(sg__val(w, "state"), "106") &&
		    !*sg__val(w, "resolved_at")) {
			char now[SG_DT_LEN + 1];
			now_str(now);
			sg__set(w, "resolved_at", now);
			sg__set(w, "resolved_by", w->ctx->user.sys_id);
		}
	}
	task_active(w);
	return SG_ERR_OK;
}
