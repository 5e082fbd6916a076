/*
 * acl.c - effective roles and access-control evaluation (see acl.h).
 *
 * A failure while deciding (SQL error, out of memory) goes to the session
 * through fail(): the evaluation that meets it answers no and carries on
 * unwinding, and the public function returns the session's error, so a
 * failure is never taken for a decision.  Process-wide caches (struct
 * sg__acl_cache) are only ever filled with complete answers; failing to
 * fill one costs a recomputation, not a wrong answer.
 */
#include "auth/acl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/internal.h"
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
	bool script; /* advanced with a script: run through the script hook */
	enum sg_acl_op op;
	const char *name;
	const char *source;    /* the script */
	const char *cache_key; /* "sys_security_acl/<sys_id>/<sys_mod_count>" */
	const char *condition;
	const char **roles;
	size_t nroles, cap;
};

struct rule_list {
	struct rule **rules;
	size_t n, cap;
};

struct sg__acl_set {
	unsigned long gen;
	int refs; /* guarded by the cache's lock */
	struct sg_arena arena;
	struct sg_map by_key; /* "op:name" -> struct rule_list * */
	struct sg_map by_id;  /* sys_id -> struct rule * */
};

struct role_entry {
	unsigned long gen;
	json_t *roles; /* every role granted, contained ones included */
};

struct sg__acl_cache {
	pthread_mutex_t lock;
	struct sg__acl_set *set;
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

/* Records the session's first failure; returns false, the answer a failed
 * check gives. */
static bool fail(struct sg_auth_session *s, sg_err err)
{
	if (!s->err)
		s->err = err;
	return false;
}

/* fail(), for functions that return the error. */
static sg_err failed(struct sg_auth_session *s, sg_err err)
{
	fail(s, err);
	return s->err;
}

/* The public functions' ending: the session's error, with a refusal. */
static sg_err answer(struct sg_auth_session *s, bool *out)
{
	if (s->err)
		*out = false;
	return s->err;
}

static const char *op_name(enum sg_acl_op op)
{
	static const char *names[] = {"read", "write", "create", "delete"};
	return names[op];
}

static void set_release(struct sg__acl_set *s)
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

struct sg__acl_cache *sg__acl_cache_new(void)
{
	struct sg__acl_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	sg_map_init(&c->users);
	sg_map_init(&c->plans);
	return c;
}

void sg__acl_cache_free(struct sg__acl_cache *c)
{
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
}

struct builder {
	struct sg__acl_set *s;
	sg_err err;
};

static int add_rule(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct builder *b = ud;
	if (ncol < 9) {
		b->err = SG_ERR_INTERNAL;
		return 1;
	}
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
			b->err = SG_ERR_NOMEM;
			return 1;
		}
	}
	if (!r) {
		b->err = SG_ERR_NOMEM;
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct rule **p = sg_arena_alloc(&b->s->arena, cap * sizeof(*p));
		if (!p) {
			b->err = SG_ERR_NOMEM;
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
	r->op = !strcmp(op, "write")    ? SG_ACL_WRITE
	        : !strcmp(op, "create") ? SG_ACL_CREATE
	        : !strcmp(op, "delete") ? SG_ACL_DELETE
	                                : SG_ACL_READ;
	r->name = sg_arena_strdup(&b->s->arena, name);
	r->source = sg_arena_strdup(&b->s->arena, r->script ? vals[6] : "");
	char ck[128];
	snprintf(ck, sizeof(ck), "sys_security_acl/%s/%s", id, vals[8] ? vals[8] : "0");
	r->cache_key = sg_arena_strdup(&b->s->arena, ck);
	l->rules[l->n++] = r;
	/* Without its entry here the rule would lose its roles: a rule that
	 * lists none passes for everyone. */
	if (!sg_map_put(&b->s->by_id, r->sys_id, r)) {
		b->err = SG_ERR_NOMEM;
		return 1;
	}
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
			b->err = SG_ERR_NOMEM;
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

/* Compiles the access controls as of change counter gen into *out (one
 * reference, released with set_release). */
static sg_err build_set(struct sg_ctx *ctx, unsigned long gen, struct sg__acl_set **out)
{
	struct sg__acl_set *s = calloc(1, sizeof(*s));
	if (!s)
		return SG_ERR_NOMEM;
	s->gen = gen;
	s->refs = 1;
	sg_arena_init(&s->arena, 0);
	sg_map_init(&s->by_key);
	sg_map_init(&s->by_id);
	struct builder b = {.s = s};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "SELECT \"sys_id\", \"name\", \"operation\", \"admin_overrides\", "
	           "\"decision_type\", \"condition\", \"script\", \"advanced\", \"sys_mod_count\" "
	           "FROM \"sys_security_acl\" WHERE (\"type\" = 'record' OR \"type\" IS NULL) "
	           "AND (\"active\" IS NULL OR \"active\" != 'false')");
	sg_err err = sg_conn_exec(ctx->conn, &q, add_rule, &b, NULL);
	if (!err)
		err = b.err;
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT a.\"sys_security_acl\", r.\"name\" FROM \"sys_security_acl_role\" a "
	               "JOIN \"sys_user_role\" r ON r.\"sys_id\" = a.\"sys_user_role\"");
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, add_role, &b, NULL);
	if (!err)
		err = b.err;
	sg_sql_cleanup(&q);
	if (!err && s->arena.failed)
		err = SG_ERR_NOMEM;
	if (err) {
		sg_log_error("acl: cannot compile the access controls: %s", sg_err_name(err));
		set_release(s);
		return err;
	}
	*out = s;
	return SG_ERR_OK;
}

/* Takes the current compiled set for the session (compiling it when the
 * ACLs changed) and makes its memo.  False when that failed (in s->err). */
static bool load(struct sg_auth_session *s)
{
	if (s->err)
		return false;
	if (s->loaded)
		return true;
	struct sg__acl_cache *c = s->auth->acl;
	unsigned long gen = atomic_load(&s->ctx->model->acl_gen);
	sg_err err = SG_ERR_OK;
	pthread_mutex_lock(&c->lock);
	if (!c->set || c->set->gen != gen) {
		struct sg__acl_set *fresh = NULL;
		err = build_set(s->ctx, gen, &fresh);
		if (!err) {
			set_release(c->set);
			c->set = fresh;
		}
	}
	if (!err) {
		s->set = c->set;
		s->set->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	if (err)
		return fail(s, err);
	s->decisions = json_object();
	s->cond = json_object();
	if (!s->decisions || !s->cond)
		return fail(s, SG_ERR_NOMEM);
	s->loaded = true;
	return true;
}

static sg_err sub_rows(void *ud, const struct sg_table *t, const char *alias, struct sg_sql *out);

static _Atomic(sg_auth_acl_script_fn) acl_hook;
static _Atomic(sg_auth_value_fn) value_hook;

void sg_auth_set_script_hooks(sg_auth_acl_script_fn acl, sg_auth_value_fn value)
{
	atomic_store(&acl_hook, acl);
	atomic_store(&value_hook, value);
}

/* ctx->script_value while a session lives. */
static sg_err script_value(void *ud, const char *expr, bool client, char **out)
{
	struct sg_auth_session *s = ud;
	sg_auth_value_fn fn = atomic_load(&value_hook);
	*out = NULL;
	return fn ? fn(s, expr, client, out) : SG_ERR_OK;
}

void sg_auth_session_init(struct sg_auth_session *s, struct sg_auth *a, struct sg_ctx *ctx,
                          const char *elevate)
{
	memset(s, 0, sizeof(*s));
	s->auth = a;
	s->ctx = ctx;
	s->elevate = elevate;
	sg_map_init(&s->plans);
	/* The JOIN and RLQUERY sub-queries compiled for ctx see only the rows
	 * the user may read. */
	ctx->sub_rows = sub_rows;
	ctx->sub_rows_ud = s;
	/* javascript: values through the engine, as this user. */
	if (atomic_load(&value_hook)) {
		ctx->script_value = script_value;
		ctx->script_value_ud = s;
	}
}

void sg_auth_session_cleanup(struct sg_auth_session *s)
{
	if (s->ctx && s->ctx->sub_rows_ud == s) {
		s->ctx->sub_rows = NULL;
		s->ctx->sub_rows_ud = NULL;
	}
	if (s->ctx && s->ctx->script_value_ud == s) {
		s->ctx->script_value = NULL;
		s->ctx->script_value_ud = NULL;
	}
	if (s->set) {
		struct sg__acl_cache *c = s->auth->acl;
		pthread_mutex_lock(&c->lock);
		set_release(s->set);
		pthread_mutex_unlock(&c->lock);
	}
	json_decref(s->roles);
	json_decref(s->decisions);
	json_decref(s->cond);
	json_decref(s->page);
	for (size_t i = 0; i < s->plans.cap; i++)
		if (s->plans.slots[i].key)
			free(s->plans.slots[i].value);
	sg_map_cleanup(&s->plans);
	memset(s, 0, sizeof(*s));
}

sg_err sg_auth_session_error(const struct sg_auth_session *s)
{
	return s->err;
}

/* ---- roles --------------------------------------------------------------- */

/* What the row callbacks below collect into, and whether that failed. */
struct collect {
	json_t *out;
	bool failed;
};

/* out[first column] = true */
static int collect_names(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct collect *c = ud;
	if (ncol > 0 && vals[0] && json_object_set_new(c->out, vals[0], json_true())) {
		c->failed = true;
		return 1;
	}
	return 0;
}

/* out += [first column, second column] */
static int collect_pairs(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct collect *c = ud;
	if (ncol > 1 && vals[0] && vals[1] &&
	    json_array_append_new(c->out, json_pack("[s,s]", vals[0], vals[1]))) {
		c->failed = true;
		return 1;
	}
	return 0;
}

/* Runs q, collecting its rows into out (which must not be NULL) with fn. */
static sg_err run_collect(sg_conn *conn, const struct sg_sql *q, sg_row_fn fn, json_t *out)
{
	struct collect c = {.out = out};
	sg_err err = sg_conn_exec(conn, q, fn, &c, NULL);
	if (!err && c.failed)
		err = SG_ERR_NOMEM;
	return err;
}

/* Every role granted to the user, directly or through groups, with the
 * roles they contain, transitively: a new object (role -> true) in *out. */
static sg_err granted_roles(struct sg_ctx *ctx, json_t **out)
{
	json_t *roles = json_object(), *pairs = json_array();
	struct sg_sql q;
	sg_sql_init(&q);
	sg_err err = (roles && pairs) ? SG_ERR_OK : SG_ERR_NOMEM;
	if (err)
		goto out;
	sg_sql_raw(&q, "SELECT r.\"name\" FROM \"sys_user_has_role\" h JOIN \"sys_user_role\" r ON "
	               "r.\"sys_id\" = h.\"role\" WHERE h.\"user\" = ");
	sg_sql_text(&q, ctx->user.sys_id);
	sg_sql_raw(&q, " AND (h.\"state\" IS NULL OR h.\"state\" = 'active')");
	err = run_collect(ctx->conn, &q, collect_names, roles);
	if (err)
		goto out;
	sg_sql_reset(&q);
	sg_sql_raw(&q,
	           "SELECT r.\"name\" FROM \"sys_user_grmember\" m JOIN \"sys_group_has_role\" g "
	           "ON g.\"group\" = m.\"group\" JOIN \"sys_user_role\" r ON r.\"sys_id\" = "
	           "g.\"role\" WHERE m.\"user\" = ");
	sg_sql_text(&q, ctx->user.sys_id);
	err = run_collect(ctx->conn, &q, collect_names, roles);
	if (err)
		goto out;
	sg_sql_reset(&q);
	sg_sql_raw(&q, "SELECT p.\"name\", c.\"name\" FROM \"sys_user_role_contains\" x "
	               "JOIN \"sys_user_role\" p ON p.\"sys_id\" = x.\"role\" "
	               "JOIN \"sys_user_role\" c ON c.\"sys_id\" = x.\"contains\"");
	err = run_collect(ctx->conn, &q, collect_pairs, pairs);
	if (err)
		goto out;
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
				if (json_object_set_new(roles, child, json_true())) {
					err = SG_ERR_NOMEM;
					goto out;
				}
				added = true;
			}
		}
	}
	*out = roles;
	roles = NULL;
out:
	sg_sql_cleanup(&q);
	json_decref(roles);
	json_decref(pairs);
	return err;
}

/* The elevated-privilege roles, read once per change to the role tables:
 * a new object (role -> true) in *out. */
static sg_err elevated_roles(struct sg_auth_session *s, json_t **out)
{
	struct sg__acl_cache *c = s->auth->acl;
	unsigned long gen = atomic_load(&s->ctx->model->users_gen);
	json_t *found = NULL;
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	if (c->elevated && c->elevated_gen == gen) {
		hit = true;
		found = json_deep_copy(c->elevated);
	}
	pthread_mutex_unlock(&c->lock);
	if (hit) {
		*out = found;
		return found ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	found = json_object();
	if (!found)
		return SG_ERR_NOMEM;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q,
	           "SELECT \"name\" FROM \"sys_user_role\" WHERE \"elevated_privilege\" = 'true'");
	sg_err err = run_collect(s->ctx->conn, &q, collect_names, found);
	sg_sql_cleanup(&q);
	if (err) {
		json_decref(found);
		return err;
	}
	json_t *keep = json_deep_copy(found);
	if (keep) {
		pthread_mutex_lock(&c->lock);
		json_decref(c->elevated);
		c->elevated = keep;
		c->elevated_gen = gen;
		pthread_mutex_unlock(&c->lock);
	}
	*out = found;
	return SG_ERR_OK;
}

/* Roles marked elevated_privilege are in effect only when elevated. */
static sg_err drop_unelevated(struct sg_auth_session *s, json_t *roles)
{
	json_t *elevated;
	sg_err err = elevated_roles(s, &elevated);
	if (err)
		return err;
	bool strict, rest_elevation;
	err = sg_prop_bool(s->ctx, "glide.security.strict_elevate_privilege", true, &strict);
	if (!err)
		err =
		    sg_prop_bool(s->ctx, "snowglobe.rest.allow_elevation", false, &rest_elevation);
	const char *name;
	json_t *v;
	json_object_foreach(elevated, name, v)
	{
		if (err)
			break;
		bool asked = rest_elevation && s->elevate && strstr(s->elevate, name);
		bool auto_elevated = !strict && strcmp(name, "security_admin") != 0;
		/* false: not in effect, and not passed by admin's all-roles rule */
		if ((!json_object_get(roles, name) || (!asked && !auto_elevated)) &&
		    json_object_set_new(roles, name, json_false())) {
			err = SG_ERR_NOMEM;
			break;
		}
	}
	json_decref(elevated);
	return err;
}

/* Keeps a copy of a user's granted roles for the next requests. */
static void remember_roles(struct sg__acl_cache *c, const char *user, const json_t *granted,
                           unsigned long gen)
{
	json_t *copy = json_deep_copy(granted);
	if (!copy)
		return; /* a cache: the next request reads them again */
	pthread_mutex_lock(&c->lock);
	struct role_entry *e = sg_map_get(&c->users, user);
	if (!e && (e = calloc(1, sizeof(*e))) && !sg_map_put(&c->users, user, e)) {
		free(e);
		e = NULL;
	}
	if (e) {
		json_decref(e->roles);
		e->roles = copy;
		e->gen = gen;
		copy = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	json_decref(copy);
}

/* The user's roles in effect (borrowed from s), or NULL when they could not
 * be read (in s->err). */
static json_t *roles_of(struct sg_auth_session *s)
{
	if (s->roles || s->err)
		return s->roles;
	struct sg_ctx *ctx = s->ctx;
	struct sg__acl_cache *c = s->auth->acl;
	unsigned long gen = atomic_load(&ctx->model->users_gen);
	json_t *granted = NULL;
	sg_err err = SG_ERR_OK;
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	struct role_entry *e = sg_map_get(&c->users, ctx->user.sys_id);
	if (e && e->gen == gen && e->roles) {
		hit = true;
		granted = json_deep_copy(e->roles);
	}
	pthread_mutex_unlock(&c->lock);
	if (hit && !granted)
		err = SG_ERR_NOMEM;
	if (!hit) {
		err = granted_roles(ctx, &granted);
		if (!err)
			remember_roles(c, ctx->user.sys_id, granted, gen);
	}
	if (!err)
		err = drop_unelevated(s, granted);
	if (err) {
		json_decref(granted);
		fail(s, err);
		return NULL;
	}
	s->roles = granted;
	return granted;
}

static bool is_admin(struct sg_auth_session *s)
{
	return json_is_true(json_object_get(roles_of(s), "admin"));
}

static bool has_role(struct sg_auth_session *s, const char *role)
{
	if (s->ctx->system)
		return true;
	if (!strcmp(role, "nobody"))
		return false;
	json_t *held = json_object_get(roles_of(s), role);
	if (json_is_false(held))
		return false; /* an elevated role not in effect, admin or not */
	return held != NULL || is_admin(s);
}

sg_err sg_acl_has_role(struct sg_auth_session *s, const char *role, bool *held)
{
	*held = has_role(s, role);
	return answer(s, held);
}

/* ---- evaluation ---------------------------------------------------------- */

enum verdict { V_NONE, V_ALLOW, V_DENY };

static const struct rule_list *rules_at(struct sg_auth_session *s, enum sg_acl_op op,
                                        const char *name)
{
	char key[256];
	sg_str_join(key, sizeof(key), op_name(op), ":", name);
	const struct rule_list *l = sg_map_get(&s->set->by_key, key);
	return (l && l->n) ? l : NULL;
}

/* Runs a rule's condition for rec (and the rest of the page, if rec is on
 * it) through the query compiler, remembering the answers. */
static bool condition_holds(struct sg_auth_session *s, const struct rule *r,
                            const struct sg_table *t, json_t *rec)
{
	const char *id = sg_json_str(rec, "sys_id");
	s->cond_evals++;
	if (!id)
		return false;
	json_t *known = json_object_get(s->cond, r->sys_id);
	json_t *seen = known ? json_object_get(known, id) : NULL;
	if (seen)
		return json_is_true(seen);
	if (!known) {
		known = json_object();
		if (json_object_set_new(s->cond, r->sys_id, known))
			return fail(s, SG_ERR_NOMEM);
	}
	json_t *ids = json_array(), *rows = NULL, *v;
	struct sg_buf in;
	struct sg_query q;
	sg_buf_init(&in, (size_t)64 << 20);
	sg_query_init(&q);
	sg_err err = ids ? SG_ERR_OK : SG_ERR_NOMEM;
	size_t i;
	if (err)
		goto out;
	/* Which ids to settle in one query: the page when rec is on it. */
	bool on_page = false;
	json_array_foreach(s->page, i, v)
	{
		on_page |= sg_str_eq(json_string_value(v), id);
	}
	if (on_page) {
		json_array_foreach(s->page, i, v)
		{
			if (!json_object_get(known, json_string_value(v)) &&
			    json_array_append(ids, v)) {
				err = SG_ERR_NOMEM;
				goto out;
			}
		}
	} else if (json_array_append_new(ids, json_string(id))) {
		err = SG_ERR_NOMEM;
		goto out;
	}
	sg_buf_puts(&in, "sys_idIN");
	json_array_foreach(ids, i, v)
	{
		sg_buf_puts(&in, i ? "," : "");
		sg_buf_puts(&in, json_string_value(v));
		if (json_object_set_new(known, json_string_value(v), json_false()))
			err = SG_ERR_NOMEM;
	}
	if (!err && sg_buf_failed(&in))
		err = SG_ERR_NOMEM;
	if (!err && (!sg_query_parse(&q, r->condition) || !sg_query_parse(&q, sg_buf_str(&in))))
		err = SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = (long long)json_array_size(ids) + 1};
	/* An ACL's condition sees every row of the tables it joins (as the
	 * platform evaluates it), and cannot recurse into the ACLs. */
	void *hook_ud = s->ctx->sub_rows_ud;
	sg_err (*hook)(void *, const struct sg_table *, const char *, struct sg_sql *) =
	    s->ctx->sub_rows;
	s->ctx->sub_rows = NULL;
	if (!err)
		err = sg_rec_list(s->ctx, t->name, &lo, &rows, NULL);
	s->ctx->sub_rows = hook;
	s->ctx->sub_rows_ud = hook_ud;
	json_array_foreach(rows, i, v)
	{
		const char *match = sg_json_str(v, "sys_id");
		if (!err && match && json_object_set_new(known, match, json_true()))
			err = SG_ERR_NOMEM;
	}
out:
	json_decref(rows);
	sg_query_cleanup(&q);
	sg_buf_cleanup(&in);
	json_decref(ids);
	if (err)
		return fail(s, err);
	return json_is_true(json_object_get(known, id));
}

/*
 * Runs rule r's script for rec through the hook (acl.h), remembering the
 * answer for the request by rule and record.  No hook: the rule fails,
 * logged once per request.
 */
static bool script_passes(struct sg_auth_session *s, const struct rule *r, const struct sg_table *t,
                          json_t *rec)
{
	const char *id = rec ? sg_json_str(rec, "sys_id") : NULL;
	char key[SG_ID_LEN + 8];
	snprintf(key, sizeof(key), "script:%s", r->sys_id);
	json_t *known = json_object_get(s->cond, key);
	json_t *seen = known && id && *id ? json_object_get(known, id) : NULL;
	if (rec)
		s->cond_evals++; /* the answer depends on the record: not memoised by field */
	if (seen)
		return json_is_true(seen);
	sg_auth_acl_script_fn fn = atomic_load(&acl_hook);
	if (!fn) {
		if (!known || !json_object_get(known, "")) {
			sg_log_warn("acl %s (%s): has a script and no script engine is installed: "
			            "denied",
			            r->name, r->sys_id);
			if (!known) {
				known = json_object();
				if (json_object_set_new(s->cond, key, known))
					return fail(s, SG_ERR_NOMEM);
			}
			if (json_object_set_new(known, "", json_false()))
				return fail(s, SG_ERR_NOMEM);
		}
		return false;
	}
	struct sg_acl_script a = {
	    .acl_id = r->sys_id,
	    .acl_name = r->name,
	    .operation = op_name(r->op),
	    .source = r->source,
	    .cache_key = r->cache_key,
	    .table = t,
	    .rec = rec,
	};
	bool yes = false;
	sg_err err = fn(s, &a, &yes);
	if (err)
		return fail(s, err);
	if (!id || !*id)
		return yes;
	if (!known) {
		known = json_object();
		if (json_object_set_new(s->cond, key, known))
			return fail(s, SG_ERR_NOMEM);
	}
	if (json_object_set_new(known, id, json_boolean(yes)))
		return fail(s, SG_ERR_NOMEM);
	return yes;
}

/*
 * Whether one rule passes: roles (any listed one; none listed passes), then
 * the condition (unknown when rec is NULL: counted as passing for role-only
 * checks), then the script: for a read with no record (the pre-query check)
 * counted as passing, as a condition is, and run on each row after the
 * query; for the other operations run with an empty current when there is
 * no record (a create's check before the record exists).
 */
static bool rule_passes(struct sg_auth_session *s, const struct rule *r, bool override,
                        const struct sg_table *t, json_t *rec)
{
	bool nobody = false;
	for (size_t i = 0; i < r->nroles; i++)
		nobody |= !strcmp(r->roles[i], "nobody");
	if (nobody)
		return false;
	if (override && r->admin_overrides && is_admin(s))
		return true;
	if (r->nroles) {
		bool held = false;
		for (size_t i = 0; i < r->nroles && !held; i++)
			held = has_role(s, r->roles[i]);
		if (!held)
			return false;
	}
	if (*r->condition && rec && !condition_holds(s, r, t, rec))
		return false;
	if (r->script && (rec || r->op != SG_ACL_READ))
		return script_passes(s, r, t, rec);
	return true;
}

/* Whether admin may override the ACLs of a level: with accessterm off, one
 * non-overriding ACL turns override off for the set. */
static bool level_override(struct sg_auth_session *s, const struct rule_list *l)
{
	bool override = true, accessterm;
	sg_err err =
	    sg_prop_bool(s->ctx, "glide.security.admin.override.accessterm", true, &accessterm);
	if (err)
		return fail(s, err);
	if (!accessterm)
		for (size_t i = 0; i < l->n; i++)
			override &= l->rules[i]->admin_overrides;
	return override;
}

/* The verdict of one level's rules: Deny-Unless first, then any Allow-If. */
static enum verdict level_verdict(struct sg_auth_session *s, const struct rule_list *l,
                                  const struct sg_table *t, json_t *rec)
{
	if (!l)
		return V_NONE;
	bool override = level_override(s, l);
	bool any_allow = false, allowed = false;
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = l->rules[i];
		if (r->deny) {
			if (!rule_passes(s, r, override, t, rec))
				return V_DENY;
		} else {
			any_allow = true;
			allowed = allowed || rule_passes(s, r, override, t, rec);
		}
	}
	return (!any_allow || allowed) ? V_ALLOW : V_DENY;
}

/* Whether rule_passes() needs a record to answer for r. */
static bool rule_depends(struct sg_auth_session *s, const struct rule *r, bool override)
{
	for (size_t i = 0; i < r->nroles; i++)
		if (!strcmp(r->roles[i], "nobody"))
			return false;
	if (override && r->admin_overrides && is_admin(s))
		return false;
	bool held = !r->nroles;
	for (size_t i = 0; i < r->nroles && !held; i++)
		held = has_role(s, r->roles[i]);
	return held && (r->script || *r->condition);
}

/* Whether level_verdict() for l may answer differently from one record to
 * the next: a Deny-Unless that needs the record, or no Allow-If that passes
 * whatever the record while one needs it. */
static bool level_depends(struct sg_auth_session *s, const struct rule_list *l,
                          const struct sg_table *t)
{
	if (!l)
		return false;
	bool override = level_override(s, l);
	for (size_t i = 0; i < l->n; i++)
		if (l->rules[i]->deny && rule_depends(s, l->rules[i], override))
			return true;
	bool allow_depends = false;
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = l->rules[i];
		if (r->deny)
			continue;
		if (!rule_depends(s, r, override)) {
			if (rule_passes(s, r, override, t, NULL))
				return false;
		} else {
			allow_depends = true;
		}
	}
	return allow_depends;
}

/* The table-level decision; *depends (when given) is set when a level it
 * consulted could answer otherwise for another record. */
static bool table_decision_ex(struct sg_auth_session *s, const struct sg_table *t,
                              enum sg_acl_op op, json_t *rec, bool *depends)
{
	if (s->ctx->system)
		return true;
	if (!load(s))
		return false;
	bool fall_through, matched = false;
	sg_err err = sg_prop_bool(s->ctx, "glide.security.acl.fall_through", false, &fall_through);
	if (err)
		return fail(s, err);
	for (const struct sg_table *p = t;; p = p->super) {
		const char *name = p ? p->name : "*";
		const struct rule_list *l = rules_at(s, op, name);
		if (depends && level_depends(s, l, t))
			*depends = true;
		enum verdict v = level_verdict(s, l, t, rec);
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
	char *mode;
	err = sg_prop_get(s->ctx, "glide.sm.default_mode", &mode);
	if (err)
		return fail(s, err);
	bool deny = !mode || strcmp(mode, "allow") != 0;
	free(mode);
	return !deny || is_admin(s);
}

static bool table_decision(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                           json_t *rec)
{
	return table_decision_ex(s, t, op, rec, NULL);
}

sg_err sg_acl_table_may(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                        bool *may)
{
	*may = table_decision(s, t, op, NULL);
	return answer(s, may);
}

static bool privileged_change_allowed(struct sg_auth_session *s, const struct sg_table *t,
                                      json_t *rec);

sg_err sg_acl_record(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                     json_t *rec, bool *allowed)
{
	*allowed = table_decision(s, t, op, rec);
	if (*allowed && op != SG_ACL_READ)
		*allowed = privileged_change_allowed(s, t, rec);
	return answer(s, allowed);
}

sg_err sg_acl_filter_rows(struct sg_auth_session *s, const struct sg_table *t, json_t *rows)
{
	if (s->ctx->system)
		return SG_ERR_OK;
	if (!load(s))
		return s->err;
	json_decref(s->page);
	s->page = json_array();
	if (!s->page)
		return failed(s, SG_ERR_NOMEM);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		json_t *id = json_object_get(row, "sys_id");
		if (id && json_array_append(s->page, id))
			return failed(s, SG_ERR_NOMEM);
	}
	for (i = json_array_size(rows); i-- > 0;) {
		bool readable = table_decision(s, t, SG_ACL_READ, json_array_get(rows, i));
		if (s->err)
			return s->err;
		if (!readable)
			json_array_remove(rows, i);
	}
	return SG_ERR_OK;
}

/* The field-level verdict; *conditional (when given) tells whether the
 * deciding level holds an ACL whose answer depends on the record. */
static enum verdict field_level_ex(struct sg_auth_session *s, const struct sg_table *t,
                                   const char *element, enum sg_acl_op op, json_t *rec,
                                   bool *conditional)
{
	char name[256];
	/* t.f, parents' .f, *.f, then t.*, parents' .*, *.* */
	for (int pass = 0; pass < 2; pass++) {
		const char *suffix = pass == 0 ? element : "*";
		for (const struct sg_table *p = t;; p = p->super) {
			sg_str_join(name, sizeof(name), p ? p->name : "*", ".", suffix);
			const struct rule_list *l = rules_at(s, op, name);
			enum verdict v = level_verdict(s, l, t, rec);
			if (v != V_NONE) {
				for (size_t i = 0; conditional && l && i < l->n; i++)
					*conditional |=
					    *l->rules[i]->condition || l->rules[i]->script;
				return v;
			}
			if (!p)
				break;
		}
	}
	return V_NONE;
}

static enum verdict field_level(struct sg_auth_session *s, const struct sg_table *t,
                                const char *element, enum sg_acl_op op, json_t *rec)
{
	return field_level_ex(s, t, element, op, rec, NULL);
}

static int read_uniform(struct sg_auth_session *s, const struct sg_table *t)
{
	bool depends = false;
	bool ok = table_decision_ex(s, t, SG_ACL_READ, NULL, &depends);
	return depends ? -1 : ok;
}

/* A user's plan for t from the process-wide cache, into plan (n bytes). */
static bool cached_plan(struct sg_auth_session *s, const char *key, signed char *plan, size_t n)
{
	struct sg__acl_cache *c = s->auth->acl;
	struct sg_model *m = s->ctx->model;
	bool found = false;
	pthread_mutex_lock(&c->lock);
	struct plan_entry *e = sg_map_get(&c->plans, key);
	if (e && e->users_gen == atomic_load(&m->users_gen) &&
	    e->acl_gen == atomic_load(&m->acl_gen) && e->props_gen == atomic_load(&m->props_gen) &&
	    e->dict == (void *)s->ctx->dict && e->n == n) {
		memcpy(plan, e->plan, n);
		found = true;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Keeps plan for the next requests, as of the counters read before it was
 * computed. */
static void remember_plan(struct sg_auth_session *s, const char *key, const signed char *plan,
                          size_t n, unsigned long ug, unsigned long ag, unsigned long pg)
{
	struct sg__acl_cache *c = s->auth->acl;
	struct plan_entry *e = malloc(sizeof(*e) + n);
	if (!e)
		return; /* a cache: the next request computes it again */
	e->users_gen = ug;
	e->acl_gen = ag;
	e->props_gen = pg;
	e->dict = s->ctx->dict;
	e->n = n;
	memcpy(e->plan, plan, n);
	pthread_mutex_lock(&c->lock);
	free(sg_map_get(&c->plans, key));
	if (!sg_map_put(&c->plans, key, e))
		free(e);
	pthread_mutex_unlock(&c->lock);
}

/* The plan has t->nfields field decisions and, after them, read_uniform(). */
sg_err sg_acl_read_plan(struct sg_auth_session *s, const struct sg_table *t,
                        const signed char **out)
{
	*out = NULL;
	if (s->ctx->system)
		return SG_ERR_OK;
	if (!load(s))
		return s->err;
	signed char *plan = sg_map_get(&s->plans, t->name);
	if (plan) {
		*out = plan;
		return SG_ERR_OK;
	}
	size_t n = t->nfields + 1;
	plan = malloc(n);
	if (!plan)
		return failed(s, SG_ERR_NOMEM);
	/* The same user with the same roles, ACLs and properties gets the same
	 * plan: keep it across requests (computing it walks ~10 ACL levels per
	 * field).  A key that does not fit (a long elevation header) is not
	 * cached rather than cut. */
	struct sg_model *m = s->ctx->model;
	unsigned long ug = atomic_load(&m->users_gen);
	unsigned long ag = atomic_load(&m->acl_gen);
	unsigned long pg = atomic_load(&m->props_gen);
	char key[300];
	int len = snprintf(key, sizeof(key), "%s:%s:%s", s->ctx->user.sys_id,
	                   s->elevate ? s->elevate : "", t->name);
	bool cacheable = len > 0 && (size_t)len < sizeof(key);
	if (!cacheable || !cached_plan(s, key, plan, n)) {
		for (size_t i = 0; i < t->nfields; i++) {
			bool conditional = false;
			enum verdict v = field_level_ex(s, t, t->fields[i]->element, SG_ACL_READ,
			                                NULL, &conditional);
			plan[i] = conditional ? -1 : v == V_DENY ? 0 : 1;
		}
		plan[t->nfields] = (signed char)read_uniform(s, t);
		if (cacheable && !s->err)
			remember_plan(s, key, plan, n, ug, ag, pg);
	}
	if (!s->err && !sg_map_put(&s->plans, t->name, plan))
		fail(s, SG_ERR_NOMEM);
	if (s->err) {
		free(plan);
		return s->err;
	}
	*out = plan;
	return SG_ERR_OK;
}

sg_err sg_acl_read_uniform(struct sg_auth_session *s, const struct sg_table *t, int *decision)
{
	*decision = 1;
	if (s->ctx->system)
		return SG_ERR_OK;
	const signed char *plan;
	sg_err err = sg_acl_read_plan(s, t, &plan);
	*decision = err ? 0 : plan[t->nfields];
	return err;
}

/* The field decision, memoised when it did not depend on the record. */
static bool field_decision(struct sg_auth_session *s, const struct sg_table *cls,
                           const char *element, enum sg_acl_op op, json_t *rec)
{
	if (s->ctx->system)
		return true;
	if (!load(s))
		return false;
	/* Field decisions without conditions are the same for every record. */
	char key[300];
	int len = snprintf(key, sizeof(key), "%d:%s.%s", op, cls->name, element);
	bool memo = len > 0 && (size_t)len < sizeof(key);
	json_t *known = memo ? json_object_get(s->decisions, key) : NULL;
	if (known && json_integer_value(known) != 0)
		return json_integer_value(known) == 1;
	unsigned long evals = s->cond_evals;
	enum verdict v = field_level(s, cls, element, op, rec);
	if (v == V_NONE && op == SG_ACL_CREATE) /* create reuses write's field rules */
		v = field_level(s, cls, element, SG_ACL_WRITE, rec);
	bool allowed = v != V_DENY;
	/* Memoise only answers that did not depend on the record; a memo that
	 * cannot be written is asked again next time. */
	if (memo && !s->err && s->cond_evals == evals)
		json_object_set_new(s->decisions, key, json_integer(allowed ? 1 : 2));
	return allowed;
}

sg_err sg_acl_field(struct sg_auth_session *s, const struct sg_table *cls, const char *element,
                    enum sg_acl_op op, json_t *rec, bool *allowed)
{
	*allowed = field_decision(s, cls, element, op, rec);
	return answer(s, allowed);
}

/*
 * Whether path (a field of t, or a dot-walk from it) may be named in a query
 * or a sort: every segment's field readable by roles (a condition cannot be
 * told before the rows: it counts as passing, as in the platform's
 * pre-query check; see sg_acl_query_fields in acl.h),
 * every table walked to readable by roles, and no segment a password field,
 * which no one may query.  A name t does not have is left to the compiler's
 * invalid-query rules.
 */
static bool path_readable(struct sg_auth_session *s, const struct sg_table *t, const char *path)
{
	const struct sg_table *cur = t;
	for (const char *p = path; p && cur;) {
		const char *dot = strchr(p, '.');
		char *seg = strndup(p, dot ? (size_t)(dot - p) : strlen(p));
		if (!seg)
			return fail(s, SG_ERR_NOMEM);
		const struct sg_field *f = sg_table_field(cur, seg);
		bool ok =
		    !f || (!sg_field_is_secret(f) &&
		           (s->ctx->system || field_decision(s, cur, seg, SG_ACL_READ, NULL)));
		free(seg);
		if (!f || !ok || !dot)
			return ok;
		cur = f->type == SG_FT_REFERENCE ? sg_dict_table(s->ctx->dict, f->reference) : NULL;
		if (cur && !s->ctx->system && !table_decision(s, cur, SG_ACL_READ, NULL))
			return false;
		p = dot + 1;
	}
	return true;
}

/* Whether 123TEXTQUERY321 over t searches only fields the user may read:
 * the fields the compiler searches (stored strings without choices, not
 * sys_*) must all be readable, or the search is an oracle on the others. */
static bool text_readable(struct sg_auth_session *s, const struct sg_table *t)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		if (!sg_field_is_stored(f) || !strncmp(f->element, "sys_", 4) ||
		    f->type != SG_FT_STRING ||
		    sg_dict_choices(s->ctx->dict, t, f->element, &(size_t){0}))
			continue;
		if (!path_readable(s, t, f->element))
			return false;
	}
	return true;
}

/* Whether the operator compares the field with another field named by the
 * value (SAMEAS, GT_FIELD...): that one is read too. */
static bool value_is_field(enum sg_qop op)
{
	return op == SG_Q_SAMEAS || op == SG_Q_NSAMEAS || op == SG_Q_GT_FIELD ||
	       op == SG_Q_LT_FIELD || op == SG_Q_GE_FIELD || op == SG_Q_LE_FIELD;
}

/* Whether everything q names over t may be read: every condition's field
 * (each segment of a dot-walk), the field a comparison reads, JOIN's and
 * RLQUERY's tables, their link fields and their sub-queries, the text
 * search's fields and the sort keys. */
static bool query_readable(struct sg_auth_session *s, const struct sg_table *t,
                           const struct sg_query *q)
{
	for (size_t g = 0; q && g < q->ngroups; g++)
		for (size_t k = 0; k < q->groups[g].n; k++)
			for (size_t i = 0; i < q->groups[g].clauses[k].n; i++) {
				const struct sg_qcond *c = &q->groups[g].clauses[k].conds[i];
				const struct sg_table *ot =
				    c->table ? sg_dict_table(s->ctx->dict, c->table) : NULL;
				bool ok = true;
				switch (c->kind) {
				case SG_QK_FIELD:
					ok = !c->field || path_readable(s, t, c->field);
					if (ok && value_is_field(c->op) && c->value)
						ok = path_readable(s, t, c->value);
					break;
				case SG_QK_TEXT:
					ok = text_readable(s, t);
					break;
				case SG_QK_JOIN:
				case SG_QK_RELATED:
					if (ot && !s->ctx->system)
						ok = table_decision(s, ot, SG_ACL_READ, NULL);
					if (ok && c->kind == SG_QK_JOIN && c->field)
						ok = path_readable(s, t, c->field);
					if (ok && ot) {
						const char *link = c->kind == SG_QK_JOIN
						                       ? c->other_field
						                       : c->field;
						ok = (!link || path_readable(s, ot, link)) &&
						     query_readable(s, ot, c->sub);
					}
					break;
				}
				if (!ok || s->err)
					return false;
			}
	for (size_t i = 0; q && i < q->norder; i++)
		if (!path_readable(s, t, q->order[i].field))
			return false;
	return true;
}

sg_err sg_acl_query_fields(struct sg_auth_session *s, const struct sg_table *t,
                           const struct sg_query *q, bool *readable)
{
	*readable = query_readable(s, t, q);
	return answer(s, readable);
}

sg_err sg_acl_read_path(struct sg_auth_session *s, const struct sg_table *t, const char *path,
                        bool *readable)
{
	*readable = path_readable(s, t, path);
	return answer(s, readable);
}

/* ---- row conditions as SQL ------------------------------------------------ */

/*
 * A script cannot be compiled to SQL: for a rule with one, the rows of t its
 * condition selects are read (at most SG_ACL_SCRIPT_ROWS, as the system)
 * and the script run on each; the SQL names those it granted.  Rows past
 * the limit are not granted (logged): an aggregate over a larger table under
 * a script ACL counts fewer rows, never rows the script would refuse.
 */
#define SG_ACL_SCRIPT_ROWS 10000

static void script_where(struct sg_auth_session *s, const struct rule *r, const struct sg_table *t,
                         const char *alias, struct sg_sql *out)
{
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL, *row;
	sg_err err = sg_query_parse(&q, r->condition) ? SG_ERR_OK : SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = SG_ACL_SCRIPT_ROWS + 1};
	void *hook_ud = s->ctx->sub_rows_ud;
	sg_err (*hook)(void *, const struct sg_table *, const char *, struct sg_sql *) =
	    s->ctx->sub_rows;
	s->ctx->sub_rows = NULL; /* as condition_holds() */
	if (!err)
		err = sg_rec_list(s->ctx, t->name, &lo, &rows, NULL);
	s->ctx->sub_rows = hook;
	s->ctx->sub_rows_ud = hook_ud;
	sg_query_cleanup(&q);
	if (err) {
		json_decref(rows);
		fail(s, err);
		sg_sql_raw(out, "1=0");
		return;
	}
	if (json_array_size(rows) > SG_ACL_SCRIPT_ROWS)
		sg_log_warn("acl %s: more than %d rows for its script: the rest are not granted",
		            r->name, SG_ACL_SCRIPT_ROWS);
	size_t i, n = 0;
	sg_sql_raw(out, "(1=0");
	json_array_foreach(rows, i, row)
	{
		if (i >= SG_ACL_SCRIPT_ROWS || s->err)
			break;
		const char *id = sg_json_str(row, "sys_id");
		if (!id || !script_passes(s, r, t, row))
			continue;
		sg_sql_raw(out, n++ ? ", " : " OR ");
		if (n == 1) {
			sg_sql_qual(out, alias, "sys_id");
			sg_sql_raw(out, " IN (");
		}
		sg_sql_text(out, id);
	}
	sg_sql_raw(out, n ? "))" : ")");
	json_decref(rows);
}

/* Appends whether rule r passes for the row under alias: its condition
 * compiled as the query condition_holds() runs, or a constant. */
static void rule_where(struct sg_auth_session *s, const struct rule *r, bool override,
                       const struct sg_table *t, const char *alias, struct sg_sql *out)
{
	if (!rule_depends(s, r, override)) {
		sg_sql_raw(out, rule_passes(s, r, override, t, NULL) ? "1=1" : "1=0");
		return;
	}
	if (r->script) {
		script_where(s, r, t, alias, out);
		return;
	}
	bool none, invalid;
	struct sg_qenv env;
	struct sg_query q;
	sg_query_init(&q);
	sg_ctx_qenv(s->ctx, &env);
	env.sub_rows = NULL; /* as condition_holds() */
	sg_err err = sg_prop_bool(s->ctx, "glide.invalid_query.returns_no_rows", false, &none);
	if (!err && !sg_query_parse(&q, r->condition))
		err = SG_ERR_NOMEM;
	sg_sql_raw(out, "(");
	if (!err)
		err = sg_query_compile_where(&env, t, &q, alias, none, out, &invalid);
	sg_sql_raw(out, ")");
	sg_query_cleanup(&q);
	if (err)
		fail(s, err);
}

/* Appends whether level l's rules grant the row: every Deny-Unless, then
 * any Allow-If (level_verdict() as SQL). */
static void level_where(struct sg_auth_session *s, const struct rule_list *l,
                        const struct sg_table *t, const char *alias, struct sg_sql *out)
{
	bool override = level_override(s, l), any_allow = false;
	sg_sql_raw(out, "(1=1");
	for (size_t i = 0; i < l->n; i++)
		if (l->rules[i]->deny) {
			sg_sql_raw(out, " AND ");
			rule_where(s, l->rules[i], override, t, alias, out);
		}
	for (size_t i = 0; i < l->n; i++)
		if (!l->rules[i]->deny) {
			sg_sql_raw(out, any_allow ? " OR " : " AND (");
			rule_where(s, l->rules[i], override, t, alias, out);
			any_allow = true;
		}
	sg_sql_raw(out, any_allow ? "))" : ")");
}

sg_err sg_acl_read_where(struct sg_auth_session *s, const struct sg_table *t, const char *alias,
                         struct sg_sql *out)
{
	if (s->ctx->system) {
		sg_sql_raw(out, "1=1");
		return SG_ERR_OK;
	}
	if (!load(s))
		return s->err;
	bool fall_through, any = false;
	sg_err err = sg_prop_bool(s->ctx, "glide.security.acl.fall_through", false, &fall_through);
	if (err)
		return failed(s, err);
	/* table_decision_ex(): the first level with rules decides; with
	 * fall-through, any level that grants. */
	sg_sql_raw(out, "(1=0");
	for (const struct sg_table *p = t;; p = p->super) {
		const struct rule_list *l = rules_at(s, SG_ACL_READ, p ? p->name : "*");
		if (l) {
			sg_sql_raw(out, " OR ");
			level_where(s, l, t, alias, out);
			any = true;
			if (!fall_through)
				break;
		}
		if (!p)
			break;
	}
	if (!any) {
		char *mode;
		err = sg_prop_get(s->ctx, "glide.sm.default_mode", &mode);
		if (err)
			return failed(s, err);
		bool allow = (mode && !strcmp(mode, "allow")) || is_admin(s);
		free(mode);
		sg_sql_raw(out, allow ? " OR 1=1" : "");
	}
	sg_sql_raw(out, ")");
	if (!s->err && sg_sql_error(out) == SG_ERR_NOMEM)
		fail(s, SG_ERR_NOMEM);
	return s->err;
}

/*
 * ctx->sub_rows while a session lives: the rows of t (a JOIN's or RLQUERY's
 * other table, under alias) the table-level read ACLs grant, by
 * sg_acl_read_where.  The conditions get a scope of their own (alias acl_r)
 * so that their own sub-queries' aliases (s1, s2...) cannot shadow alias.
 */
static sg_err sub_rows(void *ud, const struct sg_table *t, const char *alias, struct sg_sql *out)
{
	struct sg_auth_session *s = ud;
	int decision;
	sg_err err = sg_acl_read_uniform(s, t, &decision);
	if (err)
		return err;
	if (decision >= 0) {
		sg_sql_raw(out, decision ? "1=1" : "1=0");
		return SG_ERR_OK;
	}
	sg_sql_raw(out, "EXISTS (SELECT 1 FROM ");
	sg_sql_ident(out, t->root->name);
	sg_sql_raw(out, " ");
	sg_sql_ident(out, "acl_r");
	sg_sql_raw(out, " WHERE ");
	sg_sql_qual(out, "acl_r", "sys_id");
	sg_sql_raw(out, " = ");
	sg_sql_qual(out, alias, "sys_id");
	sg_sql_raw(out, " AND ");
	err = sg_acl_read_where(s, t, "acl_r", out);
	sg_sql_raw(out, ")");
	return err;
}

/* ---- privileged changes ---------------------------------------------------- */

/*
 * What only security_admin in effect may change, beyond the ACL tables (whose
 * own access controls name security_admin): "high security settings", and
 * granting an elevated role, which "only admin+elevated security_admin can"
 * do [reference 5.2, c_ElevatedPrivilege.md].  The system (offline nowctl)
 * passes.  The lists are compiled in, not kept in the instance, so that the
 * admin they restrain cannot shorten them.
 *
 * The security properties: a name equal to an entry, or starting with an
 * entry that ends in '.'; compared without regard to case.
 */
static const char *const security_properties[] = {
    "snowglobe.rest.allow_elevation",             /* REST elevation itself */
    "glide.security.",                            /* strict_elevate_privilege, admin.override.* */
    "glide.sm.default_mode",                      /* tables without ACLs */
    "glide.oauth.",                               /* inbound grants, parameters in the body */
    "snowglobe.oauth.reveal_denial_reason",       /* token refusals named to the client */
    "com.snc.platform.security.",                 /* oauth.is.active */
    "com.glide.rest.api.auth.scope.check.enable", /* API access scopes */
    "glide.user.max_unlock_attempts",             /* lock-out */
    "glide.user.unlock_timeout_in_mins",
    "glide.rest.table_api.admin_only_sys_fields", /* hardening */
    "glide.basicauth.",
    "glide.authenticate.",
};

/* The role tables whose rows grant a role, and the fields that name one. */
static const struct {
	const char *table;
	const char *fields[3];
} grant_tables[] = {
    {"sys_user_has_role", {"role", NULL}},
    {"sys_group_has_role", {"role", NULL}},
    {"sys_user_role_contains", {"role", "contains", NULL}},
};

bool sg_acl_is_security_property(const char *name)
{
	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(security_properties) / sizeof(security_properties[0]); i++) {
		const char *p = security_properties[i];
		size_t n = strlen(p);
		if (p[n - 1] == '.' ? !strncasecmp(name, p, n) : !strcasecmp(name, p))
			return true;
	}
	return false;
}

/* Calls fn on each text a value of a record or of a write's input may give
 * (a string, a number, {"value", "display_value"}), until fn says true. */
static bool any_text(const json_t *v, bool (*fn)(struct sg_auth_session *, const char *),
                     struct sg_auth_session *s)
{
	char scratch[64];
	const char *t = sg_json_field_text(v, scratch, sizeof(scratch));
	if (t)
		return fn(s, t);
	if (!json_is_object(v))
		return false;
	return any_text(json_object_get(v, "value"), fn, s) ||
	       any_text(json_object_get(v, "display_value"), fn, s);
}

static bool security_property(struct sg_auth_session *s, const char *name)
{
	(void)s;
	return sg_acl_is_security_property(name);
}

/* Whether v (a sys_id or a name, as a reference may be written) names
 * security_admin or an elevated-privilege role.  A lookup that fails counts
 * as privileged, with the error kept in s. */
static bool privileged_role(struct sg_auth_session *s, const char *v)
{
	if (!strcasecmp(v, "security_admin"))
		return true;
	if (!*v)
		return false;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\" FROM \"sys_user_role\" WHERE (\"sys_id\" = ");
	sg_sql_text(&q, v);
	sg_sql_raw(&q, " OR \"name\" = ");
	sg_sql_text(&q, v);
	sg_sql_raw(&q, ") AND (\"elevated_privilege\" = 'true' OR \"name\" = 'security_admin') "
	               "LIMIT 1");
	char *found = NULL;
	sg_err err = sg_conn_query_string(s->ctx->conn, &q, &found);
	sg_sql_cleanup(&q);
	bool yes = found != NULL;
	free(found);
	if (err)
		return !fail(s, err);
	return yes;
}

static bool is_true(struct sg_auth_session *s, const char *v)
{
	(void)s;
	return sg_str_bool(v, false);
}

/*
 * The tables an import transform may not be pointed at without security_admin
 * in effect: transforms write as the system, so a map onto one of these would
 * make or change, through an import, what the Table API keeps for
 * security_admin (the tables above, the ACLs, group membership, which grants
 * the group's roles, the OAuth applications and tokens) -- and a map onto the
 * maps would make such a map.  An entry ending in '_' matches every name it
 * starts (sys_security_acl_role..., oauth_entity...).
 */
static const char *const guarded_targets[] = {
    "sys_properties",
    "sys_user_role",
    "sys_user_has_role",
    "sys_group_has_role",
    "sys_user_role_contains",
    "sys_user_grmember",
    "sys_security_acl",
    "sys_security_acl_",
    "sys_transform_map",
    "sys_transform_entry",
    "oauth_",
};

static bool guarded_name(const char *name)
{
	for (size_t i = 0; i < sizeof(guarded_targets) / sizeof(guarded_targets[0]); i++) {
		const char *g = guarded_targets[i];
		size_t n = strlen(g);
		if (g[n - 1] == '_' ? !strncasecmp(name, g, n) : !strcasecmp(name, g))
			return true;
	}
	return false;
}

/* Whether the table named v, or a table it extends, is a guarded target. */
static bool guarded_target(struct sg_auth_session *s, const char *v)
{
	if (guarded_name(v))
		return true;
	for (const struct sg_table *p = sg_dict_table(s->ctx->dict, v); p; p = p->super)
		if (guarded_name(p->name))
			return true;
	return false;
}

struct guarded_scan {
	struct sg_auth_session *s;
	bool yes;
};

static int guarded_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct guarded_scan *g = ud;
	if (ncol > 0 && vals[0] && guarded_target(g->s, vals[0]))
		g->yes = true;
	return g->yes;
}

/* Whether v (a sys_id or a name, as a reference may be written) names a
 * transform map onto a guarded target.  A lookup that fails counts as
 * guarded, with the error kept in s. */
static bool guarded_map(struct sg_auth_session *s, const char *v)
{
	if (!*v)
		return false;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"target_table\" FROM \"sys_transform_map\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, v);
	sg_sql_raw(&q, " OR \"name\" = ");
	sg_sql_text(&q, v);
	struct guarded_scan g = {s, false};
	sg_err err = sg_conn_exec(s->ctx->conn, &q, guarded_row, &g, NULL);
	sg_sql_cleanup(&q);
	if (err && !g.yes)
		return !fail(s, err);
	return g.yes;
}

/* The target table of a transform entry: its own target_table, else its
 * map's; NULL when neither is known (or out of memory, the error kept in s). */
static char *entry_target_table(struct sg_auth_session *s, json_t *rec)
{
	char scratch[64];
	const char *t =
	    sg_json_field_text(json_object_get(rec, "target_table"), scratch, sizeof(scratch));
	if (t && *t)
		return strdup(t);
	const json_t *map = json_object_get(rec, "map");
	const char *m = sg_json_field_text(
	    json_is_object(map) ? json_object_get(map, "value") : map, scratch, sizeof(scratch));
	if (!m || !*m)
		return NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"target_table\" FROM \"sys_transform_map\" WHERE \"sys_id\" = ");
	sg_sql_text(&q, m);
	sg_sql_raw(&q, " OR \"name\" = ");
	sg_sql_text(&q, m);
	sg_sql_raw(&q, " LIMIT 1");
	char *found = NULL;
	sg_err err = sg_conn_query_string(s->ctx->conn, &q, &found);
	sg_sql_cleanup(&q);
	if (err)
		fail(s, err);
	return found;
}

/* Whether a transform entry writes a secret (a password or password2 field):
 * the system writes what the import carries, so such a map would set any
 * user's password -- admin's included -- for whoever may load rows. */
static bool entry_writes_secret(struct sg_auth_session *s, json_t *rec)
{
	char scratch[64];
	const char *field =
	    sg_json_field_text(json_object_get(rec, "target_field"), scratch, sizeof(scratch));
	if (!field || !*field)
		return false;
	char *table = entry_target_table(s, rec);
	const struct sg_table *t = table ? sg_dict_table(s->ctx->dict, table) : NULL;
	const struct sg_field *f = t ? sg_table_field(t, field) : NULL;
	free(table);
	return f && sg_field_is_secret(f);
}

/* Whether rec (a stored record of t, or a write's input) is one only
 * security_admin in effect may change. */
static bool privileged_record(struct sg_auth_session *s, const struct sg_table *t, json_t *rec)
{
	for (const struct sg_table *p = t; p; p = p->super) {
		/* an import transform onto a guarded table, or a field map of one */
		if (!strcmp(p->name, "sys_transform_map"))
			return any_text(json_object_get(rec, "target_table"), guarded_target, s);
		if (!strcmp(p->name, "sys_transform_entry"))
			return any_text(json_object_get(rec, "target_table"), guarded_target, s) ||
			       any_text(json_object_get(rec, "map"), guarded_map, s) ||
			       entry_writes_secret(s, rec);
		if (!strcmp(p->name, "sys_properties"))
			return any_text(json_object_get(rec, "name"), security_property, s);
		/* an elevated role itself: its name, its elevated_privilege flag */
		if (!strcmp(p->name, "sys_user_role"))
			return any_text(json_object_get(rec, "name"), privileged_role, s) ||
			       any_text(json_object_get(rec, "elevated_privilege"), is_true, s);
		for (size_t i = 0; i < sizeof(grant_tables) / sizeof(grant_tables[0]); i++) {
			if (strcmp(p->name, grant_tables[i].table) != 0)
				continue;
			for (const char *const *f = grant_tables[i].fields; *f; f++)
				if (any_text(json_object_get(rec, *f), privileged_role, s))
					return true;
			return false;
		}
	}
	return false;
}

/* Whether t is the table named name or extends it. */
static bool descends(const struct sg_table *t, const char *name)
{
	for (; t; t = t->super)
		if (!strcmp(t->name, name))
			return true;
	return false;
}

/* Whether the user may change rec of t as far as privileged changes go:
 * yes unless it is privileged and security_admin is not in effect. */
static bool privileged_change_allowed(struct sg_auth_session *s, const struct sg_table *t,
                                      json_t *rec)
{
	if (s->ctx->system || !rec)
		return true;
	if (!privileged_record(s, t, rec))
		return !s->err;
	return has_role(s, "security_admin");
}

sg_err sg_acl_strip_input(struct sg_auth_session *s, const struct sg_table *t, enum sg_acl_op op,
                          json_t *input, json_t *rec)
{
	if (s->ctx->system)
		return SG_ERR_OK;
	const char *key;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(input, tmp, key, v)
	{
		if (sg_table_field(t, key) && !field_decision(s, t, key, op, rec)) {
			if (s->err)
				return s->err;
			json_object_del(input, key);
		}
	}
	/* The new values, as the stored ones in sg_acl_record: a privileged
	 * change is refused, not stripped.  A field map's new target field is
	 * judged with its stored map and table when the input leaves them out. */
	json_t *view = input;
	if (!s->err && rec && op == SG_ACL_WRITE && descends(t, "sys_transform_entry")) {
		view = json_copy(rec);
		if (!view || json_object_update(view, input)) {
			json_decref(view);
			return failed(s, SG_ERR_NOMEM);
		}
	}
	bool allowed = s->err || op == SG_ACL_READ || privileged_change_allowed(s, t, view);
	if (view != input)
		json_decref(view);
	if (!allowed && !s->err)
		return op == SG_ACL_CREATE ? SG_ERR_ACL_INSERT : SG_ERR_ACL_UPDATE;
	return s->err;
}
