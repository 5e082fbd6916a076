/*
 * itsm.c - table semantics that ServiceNow implements in business rules,
 * data lookups and data policies, applied to every write in the data layer
 * (never in handlers): incident priority from impact x urgency, the state
 * models with active / resolved / closed stamps, the data policy requiring a
 * resolution code and notes, and computed user names.
 *
 * Each is a rule of the write pipeline's before phase; the table in
 * rules.c says which table each applies to and in which order they run.
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

/* True when v is one of the comma-separated values of list (",a,b,"). */
static bool in_list(const char *list, const char *v)
{
	size_t len = strlen(v);
	for (const char *p = strchr(list, ','); len && p && p[1]; p = strchr(p + 1, ','))
		if (!strncmp(p + 1, v, len) && p[1 + len] == ',')
			return true;
	return false;
}

static void now_str(char out[SG_DT_LEN + 1])
{
	sg_time_format(sg_time_now(), out);
}

/* Priority lookup [def-prio-lookup-rules.md]: impact x urgency -> 1..5. */
sg_err sg__itsm_priority(struct sg_write *w)
{
	int impact = atoi(sg_write_val(w, "impact")), urgency = atoi(sg_write_val(w, "urgency"));
	if (impact < 1 || impact > 3 || urgency < 1 || urgency > 3)
		return SG_ERR_OK;
	char p[16];
	snprintf(p, sizeof(p), "%d", impact + urgency - 1);
	sg_write_set(w, "priority", p);
	return SG_ERR_OK;
}

/* Keeps a legacy mirror (incident_state, problem_state) equal to state. */
static void mirror_state(struct sg_write *w, const char *mirror)
{
	if (!sg_table_field(w->cls, mirror))
		return;
	if (sg_write_changed(w, "state") || json_object_get(w->explicit, "state"))
		sg_write_set(w, mirror, sg_write_val(w, "state"));
	else if (sg_write_changed(w, mirror) && *sg_write_val(w, mirror))
		sg_write_set(w, "state", sg_write_val(w, mirror));
}

sg_err sg__itsm_incident_state_mirror(struct sg_write *w)
{
	mirror_state(w, "incident_state");
	return SG_ERR_OK;
}

sg_err sg__itsm_problem_state_mirror(struct sg_write *w)
{
	mirror_state(w, "problem_state");
	return SG_ERR_OK;
}

/* Data policy: resolving or closing an incident needs a resolution code and
 * notes; the 403 names the missing fields by label. */
sg_err sg__itsm_resolution_policy(struct sg_write *w)
{
	const char *state = sg_write_val(w, "state");
	if (strcmp(state, "6") && strcmp(state, "7"))
		return SG_ERR_OK;
	static const char *needed[] = {"close_code", "close_notes"};
	char missing[256] = "";
	for (size_t i = 0; i < 2; i++) {
		if (*sg_write_val(w, needed[i]))
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

/* Resolved stamps, and a reopened incident's counters. */
sg_err sg__itsm_incident_resolution(struct sg_write *w)
{
	const char *state = sg_write_val(w, "state");
	const char *old = w->old ? sg_json_str(w->old, "state") : "";
	bool entering = w->insert || sg_write_changed(w, "state");
	char now[SG_DT_LEN + 1];
	now_str(now);
	if (!entering)
		return SG_ERR_OK;
	bool was_done = old && (!strcmp(old, "6") || !strcmp(old, "7"));
	if (!strcmp(state, "6") || !strcmp(state, "7")) {
		if (!*sg_write_val(w, "resolved_at"))
			sg_write_set(w, "resolved_at", now);
		if (!*sg_write_val(w, "resolved_by"))
			sg_write_set(w, "resolved_by", w->ctx->user.sys_id);
	} else if (was_done && !w->insert && strcmp(state, "8")) {
		/* Reopened: the resolution no longer holds. */
		char n[16];
		snprintf(n, sizeof(n), "%d", atoi(sg_write_val(w, "reopen_count")) + 1);
		sg_write_set(w, "reopen_count", n);
		sg_write_set(w, "reopened_time", now);
		sg_write_set(w, "reopened_by", w->ctx->user.sys_id);
		sg_write_set(w, "resolved_at", "");
		sg_write_set(w, "resolved_by", "");
		sg_write_set(w, "closed_at", "");
		sg_write_set(w, "closed_by", "");
	}
	return SG_ERR_OK;
}

/* A problem entering Resolved is stamped. */
sg_err sg__itsm_problem_resolution(struct sg_write *w)
{
	if (sg_write_changed(w, "state") && !strcmp(sg_write_val(w, "state"), "106") &&
	    !*sg_write_val(w, "resolved_at")) {
		char now[SG_DT_LEN + 1];
		now_str(now);
		sg_write_set(w, "resolved_at", now);
		sg_write_set(w, "resolved_by", w->ctx->user.sys_id);
	}
	return SG_ERR_OK;
}

/* active, closed_at and closed_by follow the state model of the table. */
sg_err sg__itsm_task_active(struct sg_write *w)
{
	const char *inactive = inactive_for(w->cls);
	if (!inactive || !(w->insert || sg_write_changed(w, "state")))
		return SG_ERR_OK;
	char now[SG_DT_LEN + 1];
	now_str(now);
	if (in_list(inactive, sg_write_val(w, "state"))) {
		sg_write_set(w, "active", "false");
		if (!*sg_write_val(w, "closed_at"))
			sg_write_set(w, "closed_at", now);
		if (!*sg_write_val(w, "closed_by"))
			sg_write_set(w, "closed_by", w->ctx->user.sys_id);
	} else {
		sg_write_set(w, "active", "true");
		if (!w->insert && !json_object_get(w->explicit, "closed_at")) {
			sg_write_set(w, "closed_at", "");
			sg_write_set(w, "closed_by", "");
		}
	}
	return SG_ERR_OK;
}

/* A user's name follows first and last name unless the caller set it. */
sg_err sg__itsm_user_name(struct sg_write *w)
{
	if ((!sg_write_changed(w, "first_name") && !sg_write_changed(w, "last_name")) ||
	    json_object_get(w->explicit, "name"))
		return SG_ERR_OK;
	const char *first = sg_write_val(w, "first_name"), *last = sg_write_val(w, "last_name");
	size_t nf = strlen(first), nl = strlen(last);
	char *name = malloc(nf + nl + 2);
	if (!name)
		return SG_ERR_NOMEM;
	memcpy(name, first, nf);
	size_t n = nf;
	if (nf && nl)
		name[n++] = ' ';
	memcpy(name + n, last, nl + 1);
	sg_write_set(w, "name", name);
	free(name);
	return SG_ERR_OK;
}

/* Machine identities are web-service-only [t_CreateAUser.md]. */
sg_err sg__itsm_machine_identity(struct sg_write *w)
{
	if (sg_write_changed(w, "identity_type") &&
	    !json_object_get(w->explicit, "web_service_access_only"))
		sg_write_set(w, "web_service_access_only",
		             !strcmp(sg_write_val(w, "identity_type"), "machine") ? "true"
		                                                                  : "false");
	return SG_ERR_OK;
}
