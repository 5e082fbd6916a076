/*
 * ratelimit.c - REST API rate limit rules (reference 8), enforced per node.
 *
 * The active rows of sys_rate_limit_rules are cached and read again when the
 * model's rate_limit counter moves (any process's write to the table bumps
 * it).  A request whose user is authenticated is matched against the rules
 * of its API, method, resource and table; of those, the single-user rule for
 * the user wins, else the lowest of the user's roles' rules, else the lowest
 * all-users rule.  Counts are per rule and user in the current clock hour;
 * a rule changed (its sys_mod_count or sys_updated_on) starts from zero.
 * Like the platform's, the counts live in the node's memory: another node
 * (another nowd on the same instance) counts its own requests.
 */
#include "api/ratelimit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/acl.h"
#include "core/json.h"
#include "core/log.h"
#include "core/map.h"
#include "core/util.h"
#include "query/query.h"

/* Rules read at most (the rest ignored, with a log line); users counted per
 * rule at most (past it the hour's stale counts are dropped first). */
#define RULES_MAX 256
#define USERS_MAX 100000

struct count {
	int64_t hour; /* the clock hour counted: UNIX time / 3600 */
	long long n;
};

struct rule {
	char *sys_id, *version, *api, *method, *resource, *table, *role, *user;
	enum sg_rl_type type;
	long long rate;
	struct sg_map counts; /* user sys_id -> struct count (owned) */
};

struct sg_ratelimit {
	pthread_mutex_t lock;
	bool loaded;
	unsigned long gen;         /* the model's rate_limit counter the rules were read at */
	unsigned long restore_gen; /* its restore counter then: a restore drops every count */
	struct rule *rules;
	size_t n;
};

sg_err sg_ratelimit_new(struct sg_ratelimit **out)
{
	struct sg_ratelimit *rl = calloc(1, sizeof(*rl));
	*out = rl;
	if (!rl)
		return SG_ERR_NOMEM;
	pthread_mutex_init(&rl->lock, NULL);
	return SG_ERR_OK;
}

static void counts_cleanup(struct sg_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots && m->slots[i].key)
			free(m->slots[i].value);
	sg_map_cleanup(m);
}

static void rule_cleanup(struct rule *r)
{
	free(r->sys_id);
	free(r->version);
	free(r->api);
	free(r->method);
	free(r->resource);
	free(r->table);
	free(r->role);
	free(r->user);
	counts_cleanup(&r->counts);
}

static void rules_free(struct rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_cleanup(&v[i]);
	free(v);
}

void sg_ratelimit_free(struct sg_ratelimit *rl)
{
	if (!rl)
		return;
	rules_free(rl->rules, rl->n);
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* ---- the choice ------------------------------------------------------------ */

long sg_rl_pick(const struct sg_rl_candidate *c, size_t n, const char *user_id,
                sg_err (*has_role)(void *ud, const char *role, bool *held), void *ud, sg_err *err)
{
	*err = SG_ERR_OK;
	long best[3] = {-1, -1, -1}; /* by enum sg_rl_type */
	for (size_t i = 0; i < n; i++) {
		enum sg_rl_type t = c[i].type;
		if (t == SG_RL_SINGLE_USER && (!c[i].user || strcmp(c[i].user, user_id)))
			continue;
		if (t == SG_RL_ROLE) {
			bool held = false;
			*err = c[i].role ? has_role(ud, c[i].role, &held) : SG_ERR_OK;
			if (*err)
				return -1;
			if (!held)
				continue;
		}
		if (best[t] < 0 || c[i].rate < c[best[t]].rate)
			best[t] = (long)i;
	}
	for (int t = SG_RL_SINGLE_USER; t >= SG_RL_ALL_USERS; t--)
		if (best[t] >= 0)
			return best[t];
	return -1;
}

/* ---- the rules ------------------------------------------------------------- */

static char *dup_field(json_t *row, const char *name)
{
	const char *v = sg_json_str(row, name);
	return strdup(v ? v : "");
}

static bool parse_type(const char *s, enum sg_rl_type *out)
{
	if (!strcmp(s, "single_user"))
		*out = SG_RL_SINGLE_USER;
	else if (!strcmp(s, "role"))
		*out = SG_RL_ROLE;
	else if (!strcmp(s, "all_users") || !*s)
		*out = SG_RL_ALL_USERS;
	else
		return false;
	return true;
}

/* Row into r (zeroed by the caller): false when it cannot apply (a type or
 * rate it does not know, a role or user missing); SG_ERR_NOMEM in *err. */
static bool rule_from_row(struct sg_ctx *ctx, json_t *row, struct rule *r, sg_err *err)
{
	*err = SG_ERR_OK;
	const char *type = sg_json_str(row, "type"), *rate = sg_json_str(row, "rate");
	long long v;
	if (!parse_type(type ? type : "", &r->type) || !rate ||
	    !sg_str_number(rate, 0, INT64_MAX, &v))
		return false;
	r->rate = v;
	char version[128];
	snprintf(version, sizeof(version), "%s/%s", sg_json_str(row, "sys_mod_count"),
	         sg_json_str(row, "sys_updated_on"));
	r->sys_id = dup_field(row, "sys_id");
	r->version = strdup(version);
	r->api = dup_field(row, "rest_api");
	r->method = dup_field(row, "http_method");
	r->resource = dup_field(row, "resource");
	r->table = dup_field(row, "table");
	r->user = dup_field(row, "user");
	sg_map_init(&r->counts);
	if (!r->sys_id || !r->version || !r->api || !r->method || !r->resource || !r->table ||
	    !r->user) {
		*err = SG_ERR_NOMEM;
		return false;
	}
	if (r->type == SG_RL_SINGLE_USER)
		return *r->user != '\0';
	if (r->type != SG_RL_ROLE)
		return true;
	/* The role by name, as role checks take it. */
	json_t *role = NULL;
	const char *id = sg_json_str(row, "role");
	*err = id && *id ? sg_rec_get(ctx, "sys_user_role", id, &role) : SG_ERR_NO_RECORD;
	if (*err == SG_ERR_NO_RECORD)
		*err = SG_ERR_OK;
	const char *name = role ? sg_json_str(role, "name") : NULL;
	if (name && *name && !(r->role = strdup(name)))
		*err = SG_ERR_NOMEM;
	json_decref(role);
	return !*err && r->role;
}

/* Reads the active rules again, keeping the counts of every rule that did
 * not change, unless the instance was restored (restore_gen moved): then
 * every count starts over, as the instance does.  Called with rl->lock
 * held. */
static sg_err reload(struct sg_ratelimit *rl, struct sg_model *m, unsigned long gen,
                     unsigned long restore_gen)
{
	bool keep = rl->loaded && rl->restore_gen == restore_gen;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL;
	long long total = 0;
	if (!sg_query_add_eq(&q, "active", "true"))
		err = SG_ERR_NOMEM;
	struct sg_list_opts lo = {.query = &q, .limit = RULES_MAX + 1};
	if (!err)
		err = sg_rec_list(&ctx, "sys_rate_limit_rules", &lo, &rows, &total);
	if (err == SG_ERR_INVALID_TABLE) /* an instance made before the table */
		err = SG_ERR_OK;
	size_t nrows = json_array_size(rows), n = 0;
	if (nrows > RULES_MAX) {
		sg_log_warn("rate limits: more than %d active rules; the rest are ignored",
		            RULES_MAX);
		nrows = RULES_MAX;
	}
	struct rule *v = err || !nrows ? NULL : calloc(nrows, sizeof(*v));
	if (!err && nrows && !v)
		err = SG_ERR_NOMEM;
	for (size_t i = 0; !err && i < nrows; i++) {
		struct rule *r = &v[n];
		bool ok = rule_from_row(&ctx, json_array_get(rows, i), r, &err);
		if (!ok) {
			rule_cleanup(r);
			memset(r, 0, sizeof(*r));
			continue;
		}
		/* an unchanged rule keeps its counts */
		for (size_t k = 0; keep && k < rl->n; k++) {
			struct rule *old = &rl->rules[k];
			if (!strcmp(old->sys_id, r->sys_id) && !strcmp(old->version, r->version)) {
				struct sg_map t = r->counts;
				r->counts = old->counts;
				old->counts = t;
				break;
			}
		}
		n++;
	}
	json_decref(rows);
	sg_query_cleanup(&q);
	sg_ctx_end(&ctx);
	if (err) {
		rules_free(v, n);
		return err;
	}
	rules_free(rl->rules, rl->n);
	rl->rules = v;
	rl->n = n;
	rl->gen = gen;
	rl->restore_gen = restore_gen;
	rl->loaded = true;
	return SG_ERR_OK;
}

/* ---- matching a request ----------------------------------------------------- */

/* The name ServiceNow gives the REST API a route belongs to (its 429 detail
 * names it), by the route's API scope; the scope itself otherwise. */
static const char *api_label(const char *scope)
{
	static const char *const names[][2] = {
	    {"now/table", "Table API"},
	    {"now/stats", "Aggregate API"},
	    {"now/attachment", "Attachment API"},
	    {"now/batch", "Batch API"},
	    {"now/import", "Import Set API"},
	    {"now/cmdb", "CMDB Instance API"},
	    {"now/identifyreconcile", "Identification and Reconciliation API"},
	    {"now/tinyurl", "Tiny URL API"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(scope, names[i][0]))
			return names[i][1];
	return scope;
}

/* A route pattern or rule resource in comparable form: without "/api", a
 * version segment ("v1") or trailing '/', every "{name}" as "{}". */
static void normalize_path(const char *s, char *out, size_t size)
{
	size_t n = 0;
	if (!strncmp(s, "/api/", 5))
		s += 4;
	while (*s && n + 3 < size) {
		if (*s == '/' && s[1] == 'v' && s[2] >= '0' && s[2] <= '9') {
			const char *e = s + 2;
			while (*e >= '0' && *e <= '9')
				e++;
			if (*e == '/' || !*e) {
				s = e;
				continue;
			}
		}
		if (*s == '{') {
			const char *close = strchr(s, '}');
			if (close) {
				out[n++] = '{';
				out[n++] = '}';
				s = close + 1;
				continue;
			}
		}
		out[n++] = *s++;
	}
	while (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
}

static bool rule_matches(const struct rule *r, const struct sg_req *req, const char *scope)
{
	const struct sg_route *route = req->match.route;
	if (*r->api && strcasecmp(r->api, scope) && strcasecmp(r->api, api_label(scope)))
		return false;
	const char *method = strcmp(req->method, "HEAD") ? req->method : "GET";
	if (*r->method && strcasecmp(r->method, method))
		return false;
	if (*r->resource) {
		/* "GET /now/table/{tableName}" or "/now/table/{tableName}" */
		const char *path = r->resource;
		const char *sp = strchr(path, ' ');
		if (sp) {
			if ((size_t)(sp - path) != strlen(method) ||
			    strncasecmp(path, method, (size_t)(sp - path)))
				return false;
			path = sp + 1;
		}
		char a[512], b[512];
		normalize_path(path, a, sizeof(a));
		normalize_path(route->pattern, b, sizeof(b));
		if (strcmp(a, b))
			return false;
	}
	if (*r->table) {
		const char *t = sg_req_param(req, "table");
		if (!t)
			t = sg_req_arg(req, "table_name");
		if (!t || strcmp(t, r->table))
			return false;
	}
	return true;
}

/* Role checks for sg_rl_pick, through an auth session opened on first use. */
struct roles {
	struct sg_api *api;
	const struct sg_user *user;
	bool open;
	struct sg_ctx ctx;
	struct sg_auth_session as;
};

static sg_err role_held(void *ud, const char *role, bool *held)
{
	struct roles *r = ud;
	if (!r->open) {
		sg_err err = sg_ctx_begin(&r->ctx, r->api->model, r->user);
		if (err)
			return err;
		sg_auth_session_init(&r->as, r->api->auth, &r->ctx, NULL);
		r->open = true;
	}
	return sg_acl_has_role(&r->as, role, held);
}

static void roles_close(struct roles *r)
{
	if (!r->open)
		return;
	sg_auth_session_cleanup(&r->as);
	sg_ctx_end(&r->ctx);
}

/* The count of user under r in this hour, made when missing; NULL when the
 * table of counts is full of this hour's users or memory ran out. */
static struct count *count_of(struct rule *r, const char *user, int64_t hour)
{
	struct count *c = sg_map_get(&r->counts, user);
	if (c)
		return c;
	if (r->counts.count >= USERS_MAX) {
		/* keep only this hour's counts */
		struct sg_map kept;
		sg_map_init(&kept);
		bool ok = true;
		for (size_t i = 0; i < r->counts.cap; i++) {
			struct sg_map_entry *e = &r->counts.slots[i];
			if (!e->key)
				continue;
			struct count *old = e->value;
			if (ok && old->hour == hour && (ok = sg_map_put(&kept, e->key, old)))
				e->value = NULL;
		}
		counts_cleanup(&r->counts);
		r->counts = kept;
		if (!ok || r->counts.count >= USERS_MAX)
			return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c && !sg_map_put(&r->counts, user, c)) {
		free(c);
		c = NULL;
	}
	return c;
}

struct verdict {
	bool matched, denied;
	char rule[SG_ID_LEN + 1];
	char api[128];
	long long rate, remaining;
	int64_t reset;
};

/* Counts the request under the rule sys_id at version (when it is still
 * there; rules read again meanwhile may have dropped it), with rl->lock
 * held.  label: the route's API name, for a rule that names none. */
static void count_request(struct sg_ratelimit *rl, const char *sys_id, const char *version,
                          const char *user, const char *label, int64_t now, struct verdict *v)
{
	for (size_t i = 0; i < rl->n; i++) {
		struct rule *r = &rl->rules[i];
		if (strcmp(r->sys_id, sys_id) || strcmp(r->version, version))
			continue;
		int64_t hour = now / 3600;
		struct count *c = count_of(r, user, hour);
		if (!c) {
			sg_log_warn("rate limits: rule %s: too many users counted this hour",
			            sys_id);
			return;
		}
		if (c->hour != hour) {
			c->hour = hour;
			c->n = 0;
		}
		v->matched = true;
		v->denied = c->n >= r->rate;
		if (!v->denied)
			c->n++;
		v->rate = r->rate;
		v->remaining = r->rate - c->n;
		v->reset = (hour + 1) * 3600;
		snprintf(v->rule, sizeof(v->rule), "%s", r->sys_id);
		snprintf(v->api, sizeof(v->api), "%s", *r->api ? r->api : label);
		return;
	}
}

/* Chooses and counts; an error when the rules or roles could not be read. */
static sg_err judge(struct sg_api *api, const struct sg_req *req, struct verdict *v)
{
	struct sg_ratelimit *rl = api->ratelimit;
	const char *scope = req->match.route->scope ? req->match.route->scope : "";
	unsigned long gen = atomic_load(&api->model->rate_limit_gen);
	unsigned long restore_gen = atomic_load(&api->model->restore_gen);
	sg_err err = SG_ERR_OK;
	/* The matching rules, copied out so that roles are checked unlocked. */
	struct sg_rl_candidate *cand = NULL;
	char **ids = NULL; /* sys_id, version of each candidate */
	size_t n = 0;
	pthread_mutex_lock(&rl->lock);
	if (!rl->loaded || rl->gen != gen || rl->restore_gen != restore_gen)
		err = reload(rl, api->model, gen, restore_gen);
	if (!err && rl->n) {
		cand = calloc(rl->n, sizeof(*cand));
		ids = calloc(2 * rl->n, sizeof(*ids));
		if (!cand || !ids)
			err = SG_ERR_NOMEM;
	}
	for (size_t i = 0; !err && i < rl->n; i++) {
		const struct rule *r = &rl->rules[i];
		if (!rule_matches(r, req, scope))
			continue;
		cand[n] = (struct sg_rl_candidate){.type = r->type, .rate = r->rate};
		ids[2 * n] = strdup(r->sys_id);
		ids[2 * n + 1] = strdup(r->version);
		cand[n].user = strdup(r->user);
		cand[n].role = r->role ? strdup(r->role) : NULL;
		if (!ids[2 * n] || !ids[2 * n + 1] || !cand[n].user || (r->role && !cand[n].role))
			err = SG_ERR_NOMEM;
		n++;
	}
	pthread_mutex_unlock(&rl->lock);
	long pick = -1;
	if (!err && n) {
		struct roles roles = {.api = api, .user = req->user};
		pick = sg_rl_pick(cand, n, req->user->sys_id, role_held, &roles, &err);
		roles_close(&roles);
	}
	if (!err && pick >= 0) {
		pthread_mutex_lock(&rl->lock);
		count_request(rl, ids[2 * pick], ids[2 * pick + 1], req->user->sys_id,
		              api_label(scope), sg_time_real(), v);
		pthread_mutex_unlock(&rl->lock);
	}
	for (size_t i = 0; i < n; i++) {
		free((char *)cand[i].user);
		free((char *)cand[i].role);
		free(ids[2 * i]);
		free(ids[2 * i + 1]);
	}
	free(cand);
	free(ids);
	return err;
}

static void header_num(struct sg_resp *resp, const char *name, long long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", v);
	sg_resp_header(resp, name, num);
}

bool sg_ratelimit_admit(struct sg_api *api, struct sg_req *req, struct sg_resp *resp)
{
	if (!api->ratelimit || !req->user || !req->match.route)
		return false;
	struct verdict v = {0};
	sg_err err = judge(api, req, &v);
	if (!err && !v.matched)
		return false;
	bool omit = false;
	if (!err && v.denied) {
		struct sg_ctx ctx;
		err = sg_ctx_begin(&ctx, api->model, NULL);
		if (!err) {
			err = sg_prop_bool(&ctx, "snowglobe.rate_limit.omit_429_headers", false,
			                   &omit);
			sg_ctx_end(&ctx);
		}
	}
	if (err) {
		sg_resp_error(resp, err, NULL, NULL);
		sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
		return true;
	}
	header_num(resp, "X-RateLimit-Limit", v.rate);
	header_num(resp, "X-RateLimit-Remaining", v.remaining);
	/* Real instances sometimes answer 429 without these two [9.1]. */
	if (!(v.denied && omit))
		header_num(resp, "X-RateLimit-Reset", v.reset);
	sg_resp_header(resp, "X-RateLimit-Rule", v.rule);
	if (!v.denied)
		return false;
	char rate[32];
	snprintf(rate, sizeof(rate), "%lld", v.rate);
	sg_resp_error(resp, SG_ERR_RATE_LIMITED, rate, v.api);
	sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
	if (!omit) {
		int64_t wait = v.reset - sg_time_real();
		header_num(resp, "Retry-After", wait > 0 ? wait : 1);
	}
	return true;
}
