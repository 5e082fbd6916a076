/*
 * acl.c - effective roles and access-control evaluation (see acl.h).
 */
#include "auth/acl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"
#include "core/map.h"
#include "core/util.h"

/* ---- compiled access controls ------------------------------------------- */

struct rule {
	char sys_id[SG_ID_LEN + 1];
	bool deny; /* Deny-Unless */
	bool admin_overrides;
	bool script; /* advanced with a script: cannot be evaluated here, fails */
	const char *condition;
	const char **roles;
	size_t nroles, cap;
};

struct rule_list {
	struct rule **rules;
	size_t n, cap;
};

struct acl_set {
	unsigned long gen;
	int refs;
	struct sg_arena arena;
	struct sg_map by_key; /* "op:name" -> struct rule_list * */
	struct sg_map by_id;  /* sys_id -> struct rule * */
};

struct role_entry {
	unsigned long gen;
	json_t *roles;	    /* every role granted, contained ones included */
};

struct caches {
	pthread_mutex_t lock;
	struct acl_set *set;
	struct sg_map users; /* user sys_id -> struct role_entry * */
	json_t *elevated;    /* names of elevated-privilege roles, as of elevated_gen */
	unsigned long elevated_gen;
	struct sg_map plans; /* "user:elevate:table" -> struct plan_entry * */
};

/* A user's read plan for a table: one decision per field, then the
 * table-level one when it does not depend on the record (-1 when it does). */
struct plan_entry {
	unsigned long users_gen, acl_gen, props_gen;
	void *dict; /* the dictionary the field order comes from */
	size_t n;
	signed char plan[];
};

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *op_name(enum sg_acl_op op)
{
	static const char *names[] = {"read", "write", "create", "delete"};
	return names[op];
}

static void set_release(struct acl_set *s)
{
	if (!s || --s->refs > 0)
		return;
	for (size_t i = 0; i < s->by_key.cap; i++)
		free(s->by_key.slots[i].key ? s->by_key.slots[i].value : NULL);
	sg_map_cleanup(&s->by_key);
	sg_map_cleanup(&s->by_id);
	sg_arena_cleanup(&s->arena);
	free(s);
}

static void model_closed(struct sg_model *m);
static void ctx_ended(struct sg_ctx *ctx);

static struct caches *caches_of(struct sg_model *m)
{
	pthread_mutex_lock(&init_lock);
	sg_acl_install(); /* whoever evaluates an ACL frees what it cached */
	if (!m->acl_cache) {
		struct caches *c = calloc(1, sizeof(*c));
		if (c) {
			pthread_mutex_init(&c->lock, NULL);
			sg_map_init(&c->users);
			sg_map_init(&c->plans);
		}
		m->acl_cache = c;
	}
	pthread_mutex_unlock(&init_lock);
	return m->acl_cache;
}

static void model_closed(struct sg_model *m)
{
	struct caches *c = m->acl_cache;
	if (!c)
		return;
	set_release(c->set);
	for (size_t i = 0; i < c->users.cap; i++) {
		struct role_entry *e = c->users.slots[i].key ? c->users.slots[i].value : NULL;
		if (e) {
			json_decref(e->roles);
			free(e);
		}
	}
	sg_map_cleanup(&c->users);
	for (size_t i = 0; i < c->plans.cap; i++)
		if (c->plans.slots[i].key)
			free(c->plans.slots[i].value);
	sg_map_cleanup(&c->plans);
	json_decref(c->elevated);
	pthread_mutex_destroy(&c->lock);
	free(c);
	m->acl_cache = NULL;
}

struct builder {
	struct acl_set *s;
	bool failed;
};

static int add_rule(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct builder *b = ud;
	if (ncol < 8)
		return 1;
	const char *id = vals[0] ? vals[0] : "", *name = vals[1] ? vals[1] : "";
	const char *op = vals[2] ? vals[2] : "";
	struct rule *r = sg_arena_alloc(&b->s->arena, sizeof(*r));
	char key[256];
	snprintf(key, sizeof(key), "%s:%s", op, name);
	struct rule_list *l = sg_map_get(&b->s->by_key, key);
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l || !sg_map_put(&b->s->by_key, key, l)) {
			free(l);
			b->failed = true;
			return 1;
		}
	}
	if (!r) {
		b->failed = true;
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct rule **p = sg_arena_alloc(&b->s->arena, cap * sizeof(*p));
		if (!p) {
			b->failed = true;
			return 1;
		}
		if (l->n)
			memcpy(p, l->rules, l->n * sizeof(*p));
		l->rules = p;
		l->cap = cap;
	}
	snprintf(r->sys_id, sizeof(r->sys_id), "%s", id);
	r->admin_overrides = sg_str_bool(vals[3], true);
	r->deny = vals[4] && !strcmp(vals[4], "deny");
	r->condition = sg_arena_strdup(&b->s->arena, vals[5] ? vals[5] : "");
	r->script = sg_str_bool(vals[7], false) && vals[6] && *vals[6];
	l->rules[l->n++] = r;
	sg_map_put(&b->s->by_id, r->sys_id, r);
	return 0;
}

static int add_role(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct builder *b = ud;
	if (ncol < 2 || !vals[0] || !vals[1])
		return 0;
	struct rule *r = sg_map_get(&b->s->by_id, vals[0]);
	if (!r)
		return 0;
	if (r->nroles == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4;
		const char **p = sg_arena_alloc(&b->s->arena, cap * sizeof(*p));
		if (!p) {
			b->failed = true;
			return 1;
		}
		if (r->nroles)
			memcpy(p, r->roles, r->nroles * sizeof(*p));
		r->roles = p;
		r->cap = cap;
	}
	r->roles[r->nroles++] = sg_arena_strdup(&b->s->arena, vals[1]);
	return 0;
}

static struct acl_set *build_set(struct sg_ctx *ctx, unsigned long gen)
{
	struct acl_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->gen = gen;
	s->refs = 1;
	sg_arena_init(&s->arena, 0);
	sg_map_init(&s->by_key);
	sg_map_init(&s->by_id);
	struct builder b = {.s = s};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"name\", \"operation\", \"admin_overrides\", "
		       "\"decision_type\", \"condition\", \"script\", \"advanced\" "
		       "FROM \"sys_security_acl\" WHERE (\"type\" = 'record' OR \"type\" IS NULL) "
		       "AND (\"active\" IS NULL OR \"active\" != 'false')");
	sg_err err = sg_conn_exec(ctx->conn, &q, add_rule, &b, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT a.\"sys_security_acl\", r.\"name\" FROM \"sys_security_acl_role\" a "
		       "JOIN \"sys_user_role\" r ON r.\"sys_id\" = a.\"sys_user_role\"");
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, add_role, &b, NULL);
	sg_sql_cleanup(&q);
	if (err || b.failed || s->arena.failed) {
		sg_log_error("acl: cannot compile the access controls");
		set_release(s);
		return NULL;
	}
	return s;
}

/* The compiled set for this request (held in the memo). */
struct memo {
	struct acl_set *set;
	json_t *decisions; /* key -> integer verdict, role-only */
	json_t *cond;	   /* rule sys_id -> {record sys_id: true/false} */
	json_t *page;	   /* sys_ids of the rows being filtered, or NULL */
	unsigned long cond_evals; /* conditions consulted so far */
	struct sg_map plans; /* table name -> field read plan (malloc'd) */
};

static struct memo *memo_of(struct sg_ctx *ctx)
{
	if (ctx->acl_memo)
		return ctx->acl_memo;
	struct memo *m = calloc(1, sizeof(*m));
	struct caches *c = caches_of(ctx->model);
	if (!m || !c) {
		free(m);
		return NULL;
	}
	unsigned long gen = atomic_load(&ctx->model->acl_gen);
	pthread_mutex_lock(&c->lock);
	if (!c->set || c->set->gen != gen) {
		struct acl_set *fresh = build_set(ctx, gen);
		if (fresh) {
			set_release(c->set);
			c->set = fresh;
		}
	}
	m->set = c->set;
	if (m->set)
		m->set->refs++;
	pthread_mutex_unlock(&c->lock);
	m->decisions = json_object();
	m->cond = json_object();
	sg_map_init(&m->plans);
	ctx->acl_memo = m;
	return m;
}

static void ctx_ended(struct sg_ctx *ctx)
{
	struct memo *m = ctx->acl_memo;
	if (!m)
		return;
	struct caches *c = ctx->model->acl_cache;
	if (c) {
		pthread_mutex_lock(&c->lock);
		set_release(m->set);
		pthread_mutex_unlock(&c->lock);
	}
	json_decref(m->decisions);
	json_decref(m->cond);
	json_decref(m->page);
	for (size_t i = 0; i < m->plans.cap; i++)
		if (m->plans.slots[i].key)
			free(m->plans.slots[i].value);
	sg_map_cleanup(&m->plans);
	free(m);
	ctx->acl_memo = NULL;
}

static void install_hooks(void)
{
	sg_ctx_end_hook = ctx_ended;
	sg_model_close_hook = model_closed;
}

void sg_acl_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_hooks);
}

/* ---- roles --------------------------------------------------------------- */

static int collect_names(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		json_object_set_new(ud, vals[0], json_true());
	return 0;
}

static int collect_pairs(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 1 && vals[0] && vals[1])
		json_array_append_new(ud, json_pack("[s,s]", vals[0], vals[1]));
	return 0;
}

/* Every role granted to the user, directly or through groups, with the
 * roles they contain, transitively. */
static json_t *granted_roles(struct sg_ctx *ctx)
{
	json_t *roles = json_object(), *pairs = json_array();
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT r.\"name\" FROM \"sys_user_has_role\" h JOIN \"sys_user_role\" r ON "
		       "r.\"sys_id\" = h.\"role\" WHERE h.\"user\" = ");
	sg_sql_text(&q, ctx->user.sys_id);
	sg_sql_raw(&q, " AND (h.\"state\" IS NULL OR h.\"state\" = 'active')");
	sg_conn_exec(ctx->conn, &q, collect_names, roles, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT r.\"name\" FROM \"sys_user_grmember\" m JOIN \"sys_group_has_role\" g "
		       "ON g.\"group\" = m.\"group\" JOIN \"sys_user_role\" r ON r.\"sys_id\" = "
		       "g.\"role\" WHERE m.\"user\" = ");
	sg_sql_text(&q, ctx->user.sys_id);
	sg_conn_exec(ctx->conn, &q, collect_names, roles, NULL);
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT p.\"name\", c.\"name\" FROM \"sys_user_role_contains\" x "
		       "JOIN \"sys_user_role\" p ON p.\"sys_id\" = x.\"role\" "
		       "JOIN \"sys_user_role\" c ON c.\"sys_id\" = x.\"contains\"");
	sg_conn_exec(ctx->conn, &q, collect_pairs, pairs, NULL);
	sg_sql_cleanup(&q);
	/* Containment closure: repeat until nothing is added. */
	for (bool added = true; added;) {
		added = false;
		size_t i;
		json_t *pair;
		json_array_foreach(pairs, i, pair)
		{
			const char *parent = json_string_value(json_array_get(pair, 0));
			const char *child = json_string_value(json_array_get(pair, 1));
			if (json_object_get(roles, parent) && !json_object_get(roles, child)) {
				json_object_set_new(roles, child, json_true());
				added = true;
			}
		}
	}
	json_decref(pairs);
	return roles;
}

/* The elevated-privilege roles, read once per change to the role tables. */
static json_t *elevated_roles(struct sg_ctx *ctx)
{
	struct caches *c = caches_of(ctx->model);
	unsigned long gen = atomic_load(&ctx->model->users_gen);
	json_t *out = NULL;
	if (c) {
		pthread_mutex_lock(&c->lock);
		if (c->elevated && c->elevated_gen == gen)
			out = json_deep_copy(c->elevated);
		pthread_mutex_unlock(&c->lock);
	}
	if (out)
		return out;
	out = json_object();
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\" FROM \"sys_user_role\" WHERE \"elevated_privilege\" = 'true'");
	sg_conn_exec(ctx->conn, &q, collect_names, out, NULL);
	sg_sql_cleanup(&q);
	if (c) {
		pthread_mutex_lock(&c->lock);
		json_decref(c->elevated);
		c->elevated = json_deep_copy(out);
		c->elevated_gen = gen;
		pthread_mutex_unlock(&c->lock);
	}
	return out;
}

/* Roles marked elevated_privilege are in effect only when elevated. */
static void drop_unelevated(struct sg_ctx *ctx, json_t *roles)
{
	json_t *elevated = elevated_roles(ctx);
	bool strict = sg_prop_bool(ctx, "glide.security.strict_elevate_privilege", true);
	bool rest_elevation = sg_prop_bool(ctx, "snowglobe.rest.allow_elevation", false);
	const char *name;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(elevated, tmp, name, v)
	{
		bool asked = rest_elevation && ctx->elevate && strstr(ctx->elevate, name);
		bool auto_elevated = !strict && strcmp(name, "security_admin") != 0;
		/* false: not in effect, and not passed by admin's all-roles rule */
		if (!json_object_get(roles, name) || (!asked && !auto_elevated))
			json_object_set_new(roles, name, json_false());
	}
	json_decref(elevated);
}

static json_t *roles_of(struct sg_ctx *ctx)
{
	if (ctx->roles)
		return ctx->roles;
	struct caches *c = caches_of(ctx->model);
	unsigned long gen = atomic_load(&ctx->model->users_gen);
	json_t *granted = NULL;
	if (c) {
		pthread_mutex_lock(&c->lock);
		struct role_entry *e = sg_map_get(&c->users, ctx->user.sys_id);
		if (e && e->gen == gen)
			granted = json_deep_copy(e->roles);
		pthread_mutex_unlock(&c->lock);
	}
	if (!granted) {
		granted = granted_roles(ctx);
		if (c && granted) {
			pthread_mutex_lock(&c->lock);
			struct role_entry *e = sg_map_get(&c->users, ctx->user.sys_id);
			if (!e && (e = calloc(1, sizeof(*e))) &&
			    !sg_map_put(&c->users, ctx->user.sys_id, e)) {
				free(e);
				e = NULL;
			}
			if (e) {
				json_decref(e->roles);
				e->roles = json_deep_copy(granted);
				e->gen = gen;
			}
			pthread_mutex_unlock(&c->lock);
		}
	}
	if (!granted)
		granted = json_object();
	drop_unelevated(ctx, granted);
	ctx->roles = granted;
	return granted;
}

static bool is_admin(struct sg_ctx *ctx)
{
	return json_is_true(json_object_get(roles_of(ctx), "admin"));
}

bool sg_acl_has_role(struct sg_ctx *ctx, const char *role)
{
	if (ctx->system)
		return true;
	if (!strcmp(role, "nobody"))
		return false;
	json_t *held = json_object_get(roles_of(ctx), role);
	if (json_is_false(held))
		return false; /* an elevated role not in effect, admin or not */
	return held != NULL || is_admin(ctx);
}

/* ---- evaluation ---------------------------------------------------------- */

enum verdict { V_NONE, V_ALLOW, V_DENY };

static const struct rule_list *rules_at(struct memo *m, enum sg_acl_op op, const char *name)
{
	char key[256];
	sg_str_join(key, sizeof(key), op_name(op), ":", name);
	const struct rule_list *l = m->set ? sg_map_get(&m->set->by_key, key) : NULL;
	return (l && l->n) ? l : NULL;
}

/* Runs a rule's condition for rec (and the rest of the page, if rec is on
 * it) through the query compiler, remembering the answers. */
static bool condition_holds(struct sg_ctx *ctx, struct memo *m, const struct rule *r,
			    const struct sg_table *t, json_t *rec)
{
	const char *id = sg_json_str(rec, "sys_id");
	m->cond_evals++;
	if (!id)
		return false;
	json_t *known = json_object_get(m->cond, r->sys_id);
	if (known && json_object_get(known, id))
		return json_is_true(json_object_get(known, id));
	if (!known) {
		known = json_object();
		json_object_set_new(m->cond, r->sys_id, known);
	}
	/* Which ids to settle in one query: the page when rec is on it. */
	json_t *ids = json_array();
	bool on_page = false;
	size_t i;
	json_t *v;
	json_array_foreach(m->page, i, v)
	{
		on_page |= sg_str_eq(json_string_value(v), id);
	}
	if (on_page) {
		json_array_foreach(m->page, i, v)
		{
			if (!json_object_get(known, json_string_value(v)))
				json_array_append(ids, v);
		}
	} else {
		json_array_append_new(ids, json_string(id));
	}
	struct sg_buf in;
	sg_buf_init(&in, 1024 * 1024);
	sg_buf_puts(&in, "sys_idIN");
	json_array_foreach(ids, i, v)
	{
		sg_buf_puts(&in, i ? "," : "");
		sg_buf_puts(&in, json_string_value(v));
	}
	json_array_foreach(ids, i, v)
	{
		json_object_set_new(known, json_string_value(v), json_false());
	}
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL;
	struct sg_list_opts lo = {.query = &q, .limit = (long long)json_array_size(ids) + 1};
	if (sg_query_parse(&q, r->condition) && sg_query_parse(&q, sg_buf_str(&in)) &&
	    !sg_rec_list(ctx, t->name, &lo, &rows, NULL)) {
		json_array_foreach(rows, i, v)
		{
			json_object_set_new(known, sg_json_str(v, "sys_id"), json_true());
		}
	}
	json_decref(rows);
	sg_query_cleanup(&q);
	sg_buf_cleanup(&in);
	json_decref(ids);
	return json_is_true(json_object_get(known, id));
}

/*
 * Whether one rule passes: roles (any listed one; none listed passes), then
 * the condition (unknown when rec is NULL: counted as passing for role-only
 * checks), then the script, which is never run here.
 */
static bool rule_passes(struct sg_ctx *ctx, struct memo *m, const struct rule *r,
			bool override, const struct sg_table *t, json_t *rec)
{
	bool nobody = false;
	for (size_t i = 0; i < r->nroles; i++)
		nobody |= !strcmp(r->roles[i], "nobody");
	if (nobody)
		return false;
	if (override && r->admin_overrides && is_admin(ctx))
		return true;
	if (r->nroles) {
		bool held = false;
		for (size_t i = 0; i < r->nroles && !held; i++)
			held = sg_acl_has_role(ctx, r->roles[i]);
		if (!held)
			return false;
	}
	if (r->script)
		return false;
	if (*r->condition && rec)
		return condition_holds(ctx, m, r, t, rec);
	return true;
}

/* Whether admin may override the ACLs of a level: with accessterm off, one
 * non-overriding ACL turns override off for the set. */
static bool level_override(struct sg_ctx *ctx, const struct rule_list *l)
{
	bool override = true;
	if (!sg_prop_bool(ctx, "glide.security.admin.override.accessterm", true))
		for (size_t i = 0; i < l->n; i++)
			override &= l->rules[i]->admin_overrides;
	return override;
}

/* The verdict of one level's rules: Deny-Unless first, then any Allow-If. */
static enum verdict level_verdict(struct sg_ctx *ctx, struct memo *m, const struct rule_list *l,
				  const struct sg_table *t, json_t *rec)
{
	if (!l)
		return V_NONE;
	bool override = level_override(ctx, l);
	bool any_allow = false, allowed = false;
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = l->rules[i];
		if (r->deny) {
			if (!rule_passes(ctx, m, r, override, t, rec))
				return V_DENY;
		} else {
			any_allow = true;
			allowed = allowed || rule_passes(ctx, m, r, override, t, rec);
		}
	}
	return (!any_allow || allowed) ? V_ALLOW : V_DENY;
}

/* Whether rule_passes() needs a record to answer for r. */
static bool rule_depends(struct sg_ctx *ctx, const struct rule *r, bool override)
{
	for (size_t i = 0; i < r->nroles; i++)
		if (!strcmp(r->roles[i], "nobody"))
			return false;
	if (override && r->admin_overrides && is_admin(ctx))
		return false;
	bool held = !r->nroles;
	for (size_t i = 0; i < r->nroles && !held; i++)
		held = sg_acl_has_role(ctx, r->roles[i]);
	return held && !r->script && *r->condition;
}

/* Whether level_verdict() for l may answer differently from one record to
 * the next: a Deny-Unless that needs the record, or no Allow-If that passes
 * whatever the record while one needs it. */
static bool level_depends(struct sg_ctx *ctx, struct memo *m, const struct rule_list *l,
			  const struct sg_table *t)
{
	if (!l)
		return false;
	bool override = level_override(ctx, l);
	for (size_t i = 0; i < l->n; i++)
		if (l->rules[i]->deny && rule_depends(ctx, l->rules[i], override))
			return true;
	bool allow_depends = false;
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = l->rules[i];
		if (r->deny)
			continue;
		if (!rule_depends(ctx, r, override)) {
			if (rule_passes(ctx, m, r, override, t, NULL))
				return false;
		} else {
			allow_depends = true;
		}
	}
	return allow_depends;
}

/* The table-level decision; *depends (when given) is set when a level it
 * consulted could answer otherwise for another record. */
static bool table_decision_ex(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op,
			      json_t *rec, bool *depends)
{
	if (ctx->system)
		return true;
	struct memo *m = memo_of(ctx);
	if (!m)
		return false;
	bool fall_through = sg_prop_bool(ctx, "glide.security.acl.fall_through", false);
	bool matched = false;
	for (const struct sg_table *p = t;; p = p->super) {
		const char *name = p ? p->name : "*";
		const struct rule_list *l = rules_at(m, op, name);
		if (depends && level_depends(ctx, m, l, t))
			*depends = true;
		enum verdict v = level_verdict(ctx, m, l, t, rec);
		if (v == V_ALLOW)
			return true;
		if (v == V_DENY) {
			matched = true;
			if (!fall_through)
				return false;
		}
		if (!p)
			break;
	}
	if (matched)
		return false;
	/* No ACL anywhere: the default mode decides. */
	char *mode = sg_prop_get(ctx, "glide.sm.default_mode");
	bool deny = !mode || strcmp(mode, "allow") != 0;
	free(mode);
	return !deny || is_admin(ctx);
}

static bool table_decision(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op,
			   json_t *rec)
{
	return table_decision_ex(ctx, t, op, rec, NULL);
}

bool sg_acl_table_may(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op)
{
	return table_decision(ctx, t, op, NULL);
}

bool sg_acl_record(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op, json_t *rec)
{
	return table_decision(ctx, t, op, rec);
}

sg_err sg_acl_filter_rows(struct sg_ctx *ctx, const struct sg_table *t, json_t *rows)
{
	if (ctx->system)
		return SG_ERR_OK;
	struct memo *m = memo_of(ctx);
	if (!m)
		return SG_ERR_NOMEM;
	json_decref(m->page);
	m->page = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		json_array_append(m->page, json_object_get(row, "sys_id"));
	}
	for (i = json_array_size(rows); i-- > 0;)
		if (!table_decision(ctx, t, SG_ACL_READ, json_array_get(rows, i)))
			json_array_remove(rows, i);
	return SG_ERR_OK;
}

/* The field-level verdict; *conditional (when given) tells whether the
 * deciding level holds an ACL whose answer depends on the record. */
static enum verdict field_level_ex(struct sg_ctx *ctx, struct memo *m, const struct sg_table *t,
				   const char *element, enum sg_acl_op op, json_t *rec,
				   bool *conditional)
{
	char name[256];
	/* t.f, parents' .f, *.f, then t.*, parents' .*, *.* */
	for (int pass = 0; pass < 2; pass++) {
		const char *suffix = pass == 0 ? element : "*";
		for (const struct sg_table *p = t;; p = p->super) {
			sg_str_join(name, sizeof(name), p ? p->name : "*", ".", suffix);
			const struct rule_list *l = rules_at(m, op, name);
			enum verdict v = level_verdict(ctx, m, l, t, rec);
			if (v != V_NONE) {
				for (size_t i = 0; conditional && l && i < l->n; i++)
					*conditional |= *l->rules[i]->condition || l->rules[i]->script;
				return v;
			}
			if (!p)
				break;
		}
	}
	return V_NONE;
}

static enum verdict field_level(struct sg_ctx *ctx, struct memo *m, const struct sg_table *t,
				const char *element, enum sg_acl_op op, json_t *rec)
{
	return field_level_ex(ctx, m, t, element, op, rec, NULL);
}

static int read_uniform(struct sg_ctx *ctx, const struct sg_table *t)
{
	bool depends = false;
	bool ok = table_decision_ex(ctx, t, SG_ACL_READ, NULL, &depends);
	return depends ? -1 : ok;
}

/* The plan has t->nfields field decisions and, after them, read_uniform(). */
const signed char *sg_acl_read_plan(struct sg_ctx *ctx, const struct sg_table *t)
{
	if (ctx->system)
		return NULL;
	struct memo *m = memo_of(ctx);
	if (!m)
		return NULL;
	signed char *plan = sg_map_get(&m->plans, t->name);
	if (plan)
		return plan;
	size_t n = t->nfields + 1;
	plan = malloc(n);
	if (!plan || !sg_map_put(&m->plans, t->name, plan)) {
		free(plan);
		return NULL;
	}
	/* The same user with the same roles, ACLs and properties gets the same
	 * plan: keep it across requests (computing it walks ~10 ACL levels per
	 * field). */
	struct caches *c = caches_of(ctx->model);
	unsigned long ug = atomic_load(&ctx->model->users_gen);
	unsigned long ag = atomic_load(&ctx->model->acl_gen);
	unsigned long pg = atomic_load(&ctx->model->props_gen);
	char key[300];
	snprintf(key, sizeof(key), "%s:%s:%s", ctx->user.sys_id, ctx->elevate ? ctx->elevate : "",
		 t->name);
	bool found = false;
	if (c) {
		pthread_mutex_lock(&c->lock);
		struct plan_entry *e = sg_map_get(&c->plans, key);
		if (e && e->users_gen == ug && e->acl_gen == ag && e->props_gen == pg &&
		    e->dict == (void *)ctx->dict && e->n == n) {
			memcpy(plan, e->plan, n);
			found = true;
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (found)
		return plan;
	for (size_t i = 0; i < t->nfields; i++) {
		bool conditional = false;
		enum verdict v = field_level_ex(ctx, m, t, t->fields[i]->element, SG_ACL_READ, NULL,
						&conditional);
		plan[i] = conditional ? -1 : v == V_DENY ? 0 : 1;
	}
	plan[t->nfields] = (signed char)read_uniform(ctx, t);
	struct plan_entry *e = c ? malloc(sizeof(*e) + n) : NULL;
	if (e) {
		e->users_gen = ug;
		e->acl_gen = ag;
		e->props_gen = pg;
		e->dict = ctx->dict;
		e->n = n;
		memcpy(e->plan, plan, n);
		pthread_mutex_lock(&c->lock);
		free(sg_map_get(&c->plans, key));
		if (!sg_map_put(&c->plans, key, e))
			free(e);
		pthread_mutex_unlock(&c->lock);
	}
	return plan;
}

int sg_acl_read_uniform(struct sg_ctx *ctx, const struct sg_table *t)
{
	if (ctx->system)
		return 1;
	const signed char *plan = sg_acl_read_plan(ctx, t);
	return plan ? plan[t->nfields] : read_uniform(ctx, t);
}

bool sg_acl_field(struct sg_ctx *ctx, const struct sg_table *cls, const char *element,
		  enum sg_acl_op op, json_t *rec)
{
	if (ctx->system)
		return true;
	struct memo *m = memo_of(ctx);
	if (!m)
		return false;
	/* Field decisions without conditions are the same for every record. */
	char key[300];
	snprintf(key, sizeof(key), "%d:%s.%s", op, cls->name, element);
	json_t *known = json_object_get(m->decisions, key);
	if (known && json_integer_value(known) != 0)
		return json_integer_value(known) == 1;
	unsigned long evals = m->cond_evals;
	enum verdict v = field_level(ctx, m, cls, element, op, rec);
	if (v == V_NONE && op == SG_ACL_CREATE) /* create reuses write's field rules */
		v = field_level(ctx, m, cls, element, SG_ACL_WRITE, rec);
	bool allowed = v != V_DENY;
	/* Memoise only answers that did not depend on the record. */
	if (m->cond_evals == evals)
		json_object_set_new(m->decisions, key, json_integer(allowed ? 1 : 2));
	return allowed;
}

static bool fields_readable(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_query *q)
{
	for (size_t g = 0; q && g < q->ngroups; g++)
		for (size_t k = 0; k < q->groups[g].n; k++)
			for (size_t i = 0; i < q->groups[g].clauses[k].n; i++) {
				const struct sg_qcond *c = &q->groups[g].clauses[k].conds[i];
				if (c->kind != SG_QK_FIELD || !c->field)
					continue;
				char head[128];
				const char *dot = strchr(c->field, '.');
				snprintf(head, sizeof(head), "%.*s",
					 (int)(dot ? (size_t)(dot - c->field) : strlen(c->field)),
					 c->field);
				if (sg_table_field(t, head) &&
				    !sg_acl_field(ctx, t, head, SG_ACL_READ, NULL))
					return false;
			}
	return true;
}

bool sg_acl_query_fields(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_query *q)
{
	if (ctx->system)
		return true;
	if (!fields_readable(ctx, t, q))
		return false;
	for (size_t i = 0; q && i < q->norder; i++) {
		char head[128];
		const char *f = q->order[i].field, *dot = strchr(f, '.');
		snprintf(head, sizeof(head), "%.*s", (int)(dot ? (size_t)(dot - f) : strlen(f)), f);
		if (sg_table_field(t, head) && !sg_acl_field(ctx, t, head, SG_ACL_READ, NULL))
			return false;
	}
	return true;
}

void sg_acl_strip_input(struct sg_ctx *ctx, const struct sg_table *t, enum sg_acl_op op,
			json_t *input, json_t *rec)
{
	if (ctx->system)
		return;
	const char *key;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(input, tmp, key, v)
	{
		if (sg_table_field(t, key) && !sg_acl_field(ctx, t, key, op, rec))
			json_object_del(input, key);
	}
}
