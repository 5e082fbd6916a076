/*
 * rules.c - the write pipeline's rule table and the code that runs it.
 *
 * model_rules below is every rule the model applies to a write, in the order
 * they run: read it top to bottom to know what happens to a record.  Upper
 * layers add theirs with sg_model_add_rules; the model's and theirs are then
 * kept in one array sorted by phase and order (rules of equal order keep
 * the order they were added in).
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/attachment.h"
#include "model/internal.h"

static sg_err bump_data(struct sg_write *w)
{
	return sg_write_bump(w, "data");
}

static sg_err bump_dict(struct sg_write *w)
{
	return w->ctx->dict_dirty ? sg_write_bump(w, "dict") : SG_ERR_OK;
}

static sg_err bump_props(struct sg_write *w)
{
	return sg_write_bump(w, "props");
}

static sg_err bump_rate_limit(struct sg_write *w)
{
	return sg_write_bump(w, "rate_limit");
}

/* Brings this process's counters and dictionary up to date with the commit
 * (caches compare against the counters), and moves the request to the new
 * dictionary when it changed. */
static sg_err sync_model(struct sg_write *w)
{
	if (!w->ctx->model->bootstrapping)
		sg__ctx_dict_changed(w->ctx);
	return SG_ERR_OK;
}

#define BEFORE SG_RULE_BEFORE
#define AFTER  SG_RULE_AFTER

/* Sorted by phase, then order. */
static const struct sg_rule model_rules[] = {
    /* before: the record is completed and checked */
    {"number", NULL, BEFORE, SG_OP_INSERT, 10, sg__number_assign},
    {"dict.table_check", "sys_db_object", BEFORE, SG_OP_WRITE, 100, sg__dict_table_check},
    {"dict.column_check", "sys_dictionary", BEFORE, SG_OP_WRITE, 100, sg__dict_column_check},
    {"dict.drop_table", "sys_db_object", BEFORE, SG_OP_DELETE, 100, sg__dict_drop_table},
    {"dict.changed", "sys_dictionary", BEFORE, SG_OP_DELETE, 100, sg__dict_touched},
    {"dict.changed", "sys_choice", BEFORE, SG_OP_DELETE, 100, sg__dict_touched},
    {"dict.changed", "sys_dictionary_override", BEFORE, SG_OP_DELETE, 100, sg__dict_touched},
    {"itsm.user_name", "sys_user", BEFORE, SG_OP_WRITE, 200, sg__itsm_user_name},
    {"itsm.machine_identity", "sys_user", BEFORE, SG_OP_WRITE, 200, sg__itsm_machine_identity},
    {"itsm.priority", "incident", BEFORE, SG_OP_WRITE, 210, sg__itsm_priority},
    {"itsm.priority", "problem", BEFORE, SG_OP_WRITE, 210, sg__itsm_priority},
    {"itsm.state_mirror", "incident", BEFORE, SG_OP_WRITE, 220, sg__itsm_incident_state_mirror},
    {"itsm.state_mirror", "problem", BEFORE, SG_OP_WRITE, 220, sg__itsm_problem_state_mirror},
    {"itsm.resolution_policy", "incident", BEFORE, SG_OP_WRITE, 230, sg__itsm_resolution_policy},
    {"itsm.resolution", "incident", BEFORE, SG_OP_WRITE, 240, sg__itsm_incident_resolution},
    {"itsm.resolution", "problem", BEFORE, SG_OP_WRITE, 240, sg__itsm_problem_resolution},
    {"itsm.active", "task", BEFORE, SG_OP_WRITE, 250, sg__itsm_task_active},
    /* after: what the stored record leaves behind */
    {"journal", NULL, AFTER, SG_OP_WRITE, 10, sg__journal_write},
    {"audit", NULL, AFTER, SG_OP_WRITE, 20, sg__audit_write},
    {"dict.create_table", "sys_db_object", AFTER, SG_OP_WRITE, 30, sg__dict_create_table},
    {"dict.add_column", "sys_dictionary", AFTER, SG_OP_WRITE, 30, sg__dict_add_column},
    {"dict.changed", "sys_choice", AFTER, SG_OP_WRITE, 30, sg__dict_touched},
    {"dict.changed", "sys_dictionary_override", AFTER, SG_OP_WRITE, 30, sg__dict_touched},
    {"attachment.cascade", NULL, AFTER, SG_OP_DELETE, 40, sg_attach_cascade},
    {"counter.data", NULL, AFTER, SG_OP_ANY, 90, bump_data},
    {"counter.dict", NULL, AFTER, SG_OP_ANY, 90, bump_dict},
    {"counter.props", "sys_properties", AFTER, SG_OP_ANY, 90, bump_props},
    {"counter.rate_limit", "sys_rate_limit_rules", AFTER, SG_OP_ANY, 90, bump_rate_limit},
    /* after commit */
    {"model.sync", NULL, SG_RULE_AFTER_COMMIT, SG_OP_ANY, 10, sync_model},
    {"attachment.release", NULL, SG_RULE_AFTER_COMMIT, SG_OP_DELETE, 20, sg_attach_release_rule},
};

#undef BEFORE
#undef AFTER

#define NMODEL (sizeof(model_rules) / sizeof(model_rules[0]))

/* The rules of a model that upper layers added to: the model's and theirs. */
struct sg__rules {
	struct sg_rule *v;
	size_t n;
};

static bool runs_before(const struct sg_rule *a, const struct sg_rule *b)
{
	return a->phase != b->phase ? a->phase < b->phase : a->order < b->order;
}

sg_err sg_model_add_rules(struct sg_model *m, const struct sg_rule *rules, size_t n)
{
	const struct sg__rules *cur = m->write_rules;
	const struct sg_rule *base = cur ? cur->v : model_rules;
	size_t nbase = cur ? cur->n : NMODEL;
	struct sg__rules *next = malloc(sizeof(*next));
	struct sg_rule *v = malloc((nbase + n) * sizeof(*v));
	if (!next || !v) {
		free(next);
		free(v);
		return SG_ERR_NOMEM;
	}
	memcpy(v, base, nbase * sizeof(*v));
	/* Each added rule goes after every rule it does not run before: a
	 * stable insertion. */
	for (size_t i = 0; i < n; i++) {
		size_t at = nbase + i;
		while (at > 0 && runs_before(&rules[i], &v[at - 1]))
			at--;
		memmove(&v[at + 1], &v[at], (nbase + i - at) * sizeof(*v));
		v[at] = rules[i];
	}
	next->v = v;
	next->n = nbase + n;
	sg__rules_free(m);
	m->write_rules = next;
	return SG_ERR_OK;
}

void sg__rules_free(struct sg_model *m)
{
	struct sg__rules *r = m->write_rules;
	if (r) {
		free(r->v);
		free(r);
	}
	m->write_rules = NULL;
}

/* True when r's table is cls or one it extends. */
static bool applies_to(const struct sg_rule *r, const struct sg_table *cls)
{
	if (!r->table)
		return true;
	for (const struct sg_table *t = cls; t; t = t->super)
		if (!strcmp(t->name, r->table))
			return true;
	return false;
}

sg_err sg__rules_run(struct sg_write *w, enum sg_rule_phase phase)
{
	const struct sg__rules *set = w->ctx->model->write_rules;
	const struct sg_rule *v = set ? set->v : model_rules;
	size_t n = set ? set->n : NMODEL;
	for (size_t i = 0; i < n && v[i].phase <= phase; i++) {
		const struct sg_rule *r = &v[i];
		if (r->phase != phase || !(r->ops & w->op) || !applies_to(r, w->cls))
			continue;
		sg_err err = r->fn(w);
		if (!err && w->failed)
			err = SG_ERR_NOMEM;
		if (!err)
			continue;
		if (phase != SG_RULE_AFTER_COMMIT)
			return err;
		sg_log_error("rule %s after the commit of a write to %s: %s", r->name, w->cls->name,
		             sg_err_name(err));
	}
	return SG_ERR_OK;
}

sg_err sg_write_bump(struct sg_write *w, const char *counter)
{
	if (w->ctx->model->bootstrapping)
		return SG_ERR_OK;
	return sg__gen_bump(w->ctx, counter);
}

sg_err sg_write_seal(struct sg_write *w, const char *element, const char *stored)
{
	if (!w->input_owned) {
		/* The caller's input stays as it was: seal a shallow copy. */
		json_t *copy = json_copy(w->input);
		/* jansson's shallow copy drops members it fails to set. */
		if (!copy || json_object_size(copy) != json_object_size(w->input)) {
			json_decref(copy);
			return SG_ERR_NOMEM;
		}
		w->input = copy;
		w->input_owned = true;
	}
	if (!w->sealed && !(w->sealed = json_object()))
		return SG_ERR_NOMEM;
	if (json_object_set_new(w->input, element, json_string(stored)) ||
	    json_object_set_new(w->sealed, element, json_true()))
		return SG_ERR_NOMEM;
	return SG_ERR_OK;
}
