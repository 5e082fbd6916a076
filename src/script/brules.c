/*
 * brules.c - business rules (sys_script) in the write pipeline: see
 * brules.h.
 *
 * Three pipeline entries (before, after; all tables) look the written
 * record's class up in the cached rule set and run the rules that apply.
 * The set is process-wide, read from sys_script when the "brules" change
 * counter moved (every process sees another's sys_script writes with their
 * commit), and shared by reference: a reload does not disturb a write that
 * holds the old one.
 */
#include "script/brules.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "model/jobs.h"
#include "model/rules.h"
#include "query/query.h"
#include "script/script.h"

#define COUNTER      "brules"
#define ENGINE_ORDER 1000 /* before rules from this order run after the engines */

enum when { W_BEFORE, W_AFTER, W_ASYNC, W_OTHER };

struct brule {
	char sys_id[SG_ID_LEN + 1];
	char *name, *collection, *filter, *condition, *script;
	char *key, *cond_key; /* compiled-script cache keys */
	enum when when;
	unsigned ops;
	bool query; /* a query rule (before, action_query) */
	char *query_key;
	long long order;
};

struct ruleset {
	int refs;
	const struct sg_model *model;
	char gen[32];
	size_t n;
	struct brule *r;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ruleset *current_set;
static struct sg_auth *the_auth;

/* The rules' nesting on this thread: which rule runs for which record. */
struct frame {
	char rule[SG_ID_LEN + 1];
	char record[SG_ID_LEN + 1];
};
static _Thread_local struct frame stack[SG_BRULES_MAX_DEPTH];
static _Thread_local int depth;

static void set_free(struct ruleset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct brule *b = &s->r[i];
		free(b->name);
		free(b->collection);
		free(b->filter);
		free(b->condition);
		free(b->script);
		free(b->key);
		free(b->cond_key);
		free(b->query_key);
	}
	free(s->r);
	free(s);
}

static void set_release(struct ruleset *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&lock);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&lock);
	if (last)
		set_free(s);
}

static const char *str(json_t *rec, const char *k)
{
	const char *v = json_string_value(json_object_get(rec, k));
	return v ? v : "";
}

static int cmp_rule(const void *a, const void *b)
{
	const struct brule *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->sys_id, y->sys_id);
}

static char *key_of(const char *id, const char *mod, const char *part)
{
	size_t n = strlen(id) + strlen(mod) + strlen(part) + 16;
	char *k = malloc(n);
	if (k)
		snprintf(k, n, "sys_script/%s/%s%s", id, mod, part);
	return k;
}

/* Reads the active rules of sys_script into a new set. */
static sg_err set_load(struct sg_ctx *ctx, const char *gen, struct ruleset **out)
{
	*out = NULL;
	struct ruleset *s = calloc(1, sizeof(*s));
	if (!s)
		return SG_ERR_NOMEM;
	s->refs = 1;
	s->model = ctx->model;
	snprintf(s->gen, sizeof(s->gen), "%s", gen);
	struct sg_query q;
	sg_query_init(&q);
	json_t *rows = NULL;
	sg_err err = sg_query_parse(&q, "active=true") ? SG_ERR_OK : SG_ERR_NOMEM;
	if (!err) {
		struct sg_list_opts lo = {.query = &q, .limit = SG_BRULES_MAX_RULES};
		err = sg_rec_list(ctx, "sys_script", &lo, &rows, NULL);
		if (err == SG_ERR_INVALID_TABLE) /* an instance made before scripts */
			err = SG_ERR_OK;
	}
	sg_query_cleanup(&q);
	size_t n = json_array_size(rows);
	if (!err && n && !(s->r = calloc(n, sizeof(*s->r))))
		err = SG_ERR_NOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		json_t *row = json_array_get(rows, i);
		const char *when = str(row, "when");
		enum when w = !strcmp(when, "before")                                   ? W_BEFORE
		              : !strcmp(when, "after")                                  ? W_AFTER
		              : !strcmp(when, "async") || !strcmp(when, "async_always") ? W_ASYNC
		                                                                        : W_OTHER;
		unsigned ops = (sg_str_bool(str(row, "action_insert"), false) ? SG_OP_INSERT : 0) |
		               (sg_str_bool(str(row, "action_update"), false) ? SG_OP_UPDATE : 0) |
		               (sg_str_bool(str(row, "action_delete"), false) ? SG_OP_DELETE : 0);
		bool query = w == W_BEFORE && sg_str_bool(str(row, "action_query"), false);
		if (w == W_OTHER || (!ops && !query) || !*str(row, "collection"))
			continue; /* display rules run on no write nor query */
		struct brule *b = &s->r[s->n];
		snprintf(b->sys_id, sizeof(b->sys_id), "%s", str(row, "sys_id"));
		b->when = w;
		b->ops = ops;
		b->order = strtoll(str(row, "order"), NULL, 10);
		b->name = strdup(str(row, "name"));
		b->collection = strdup(str(row, "collection"));
		b->filter = strdup(str(row, "filter_condition"));
		b->condition = strdup(str(row, "condition"));
		b->script = strdup(str(row, "script"));
		b->key = key_of(b->sys_id, str(row, "sys_mod_count"), "");
		b->cond_key = key_of(b->sys_id, str(row, "sys_mod_count"), "/condition");
		b->query = query;
		b->query_key = key_of(b->sys_id, str(row, "sys_mod_count"), "/query");
		s->n++;
		if (!b->name || !b->collection || !b->filter || !b->condition || !b->script ||
		    !b->key || !b->cond_key || !b->query_key)
			err = SG_ERR_NOMEM;
	}
	json_decref(rows);
	if (err) {
		set_free(s);
		return err;
	}
	if (s->n)
		qsort(s->r, s->n, sizeof(*s->r), cmp_rule);
	*out = s;
	return SG_ERR_OK;
}

/* The current rule set (a reference: set_release), reloaded when the
 * counter moved. */
static sg_err set_get(struct sg_ctx *ctx, struct ruleset **out)
{
	*out = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"value\" FROM \"sg_generation\" WHERE \"name\" = ");
	sg_sql_text(&q, COUNTER);
	char *gen = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, &gen);
	sg_sql_cleanup(&q);
	if (err)
		return err;
	const char *g = gen ? gen : "0";
	pthread_mutex_lock(&lock);
	struct ruleset *s = current_set;
	if (s && s->model == ctx->model && !strcmp(s->gen, g))
		s->refs++;
	else
		s = NULL;
	pthread_mutex_unlock(&lock);
	if (!s) {
		err = set_load(ctx, g, &s);
		if (!err) {
			pthread_mutex_lock(&lock);
			struct ruleset *old = current_set;
			current_set = s;
			s->refs++; /* the cache's */
			bool drop = old && --old->refs == 0;
			pthread_mutex_unlock(&lock);
			if (drop)
				set_free(old);
		}
	}
	free(gen);
	*out = s;
	return err;
}

/* ---- conditions -------------------------------------------------------- */

/* Evaluates the CHANGES family in C (the compiler knows no previous): each
 * becomes a condition that is always true (ANYTHING) or never (sys_id
 * empty). */
static void resolve_changes(struct sg_query *q, json_t *rec, json_t *old, bool insert)
{
	for (size_t g = 0; g < q->ngroups; g++)
		for (size_t c = 0; c < q->groups[g].n; c++) {
			struct sg_qclause *cl = &q->groups[g].clauses[c];
			for (size_t k = 0; k < cl->n; k++) {
				struct sg_qcond *cd = &cl->conds[k];
				if (cd->kind != SG_QK_FIELD ||
				    (cd->op != SG_Q_VALCHANGES && cd->op != SG_Q_CHANGESFROM &&
				     cd->op != SG_Q_CHANGESTO))
					continue;
				const char *now = str(rec, cd->field);
				const char *was = old ? str(old, cd->field) : "";
				bool changed = insert ? *now != 0 : strcmp(now, was) != 0;
				bool yes = changed;
				const char *v = cd->value ? cd->value : "";
				if (cd->op == SG_Q_CHANGESFROM)
					yes = changed && !strcmp(was, v);
				else if (cd->op == SG_Q_CHANGESTO)
					yes = changed && !strcmp(now, v);
				if (yes) {
					cd->op = SG_Q_ANYTHING;
				} else {
					cd->field = (char *)"sys_id";
					cd->op = SG_Q_ISEMPTY;
				}
			}
		}
}

/* Does rec (a record of cls, raw values; not necessarily stored yet) match
 * the encoded query filter?  The compiled condition is evaluated over one
 * row made of rec's values, so before rules see current as it will be. */
static sg_err filter_matches(struct sg_write *w, json_t *rec, const char *filter, bool *yes)
{
	*yes = true;
	if (!*filter)
		return SG_ERR_OK;
	struct sg_query q;
	sg_query_init(&q);
	if (!sg_query_parse(&q, filter)) {
		sg_query_cleanup(&q);
		return SG_ERR_NOMEM;
	}
	resolve_changes(&q, rec, w->old, w->insert);
	struct sg_qenv env;
	sg_ctx_qenv(w->ctx, &env);
	struct sg_sql sql, where;
	sg_sql_init(&sql);
	sg_sql_init(&where);
	bool had_invalid = false;
	sg_err err = sg_query_compile_where(&env, w->cls, &q, "t", false, &where, &had_invalid);
	sg_query_cleanup(&q);
	if (err) {
		sg_sql_cleanup(&where);
		return err;
	}
	sg_sql_raw(&sql, "SELECT 1 FROM (SELECT ");
	bool first = true;
	for (size_t i = 0; i < w->cls->nfields; i++) {
		const struct sg_field *f = w->cls->fields[i];
		if (!sg_field_is_stored(f) || sg_field_is_secret(f))
			continue;
		const char *v = str(rec, f->element);
		if (!first)
			sg_sql_raw(&sql, ", ");
		first = false;
		/* The column's type and collation, as the stored table declares
		 * them ("TEXT COLLATE NOCASE"): CAST takes the type, the
		 * collation follows it. */
		const char *decl = sg_conn_type_name(w->ctx->conn, sg_ftype_column(f->type));
		const char *collate = strstr(decl, " COLLATE ");
		char type[32];
		snprintf(type, sizeof(type), "%.*s", collate ? (int)(collate - decl) : 31, decl);
		sg_sql_raw(&sql, "CAST(");
		sg_sql_text(&sql, *v ? v : NULL); /* empty values are stored as NULL */
		sg_sql_raw(&sql, " AS ");
		sg_sql_raw(&sql, type);
		sg_sql_raw(&sql, ")");
		if (collate)
			sg_sql_raw(&sql, collate);
		sg_sql_raw(&sql, " AS ");
		sg_sql_ident(&sql, f->element);
	}
	if (first)
		sg_sql_raw(&sql, "1 AS \"sys_id\"");
	sg_sql_raw(&sql, ") t WHERE ");
	sg_sql_append(&sql, &where);
	sg_sql_cleanup(&where);
	char *one = NULL;
	err = sg_sql_error(&sql);
	if (!err)
		err = sg_conn_query_string(w->ctx->conn, &sql, &one);
	sg_sql_cleanup(&sql);
	*yes = one != NULL;
	free(one);
	return err;
}

/* ---- running rules ------------------------------------------------------ */

static bool truthy(json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_string(v))
		return json_string_length(v) && strcmp(json_string_value(v), "false") != 0;
	if (json_is_number(v))
		return json_number_value(v) != 0;
	return true;
}

static const char *op_name(unsigned op)
{
	return op == SG_OP_INSERT ? "insert" : op == SG_OP_UPDATE ? "update" : "delete";
}

/* Runs source for b with current/previous bound, as ctx's user. */
static sg_err run_script(struct sg_ctx *ctx, const struct brule *b, const char *table,
                         const char *source, const char *key, json_t *cur, json_t *prev,
                         struct sg_script_result *res)
{
	char name[160];
	snprintf(name, sizeof(name), "sys_script:%.140s", b->name);
	struct sg_auth_session as;
	sg_auth_session_init(&as, the_auth, ctx, NULL);
	struct sg_script_run r = {.source = source,
	                          .source_len = strlen(source),
	                          .name = name,
	                          .cache_key = key,
	                          .as = &as,
	                          .table = table,
	                          .current = cur,
	                          .previous = prev};
	sg_err err = sg_script_run(&r, res);
	sg_auth_session_cleanup(&as);
	return err;
}

/* The abort's detail: the addErrorMessage texts, else ServiceNow's
 * "Error during <op> of <table> (<display>)". */
static void abort_detail(struct sg_write *w, json_t *cur, json_t *messages)
{
	char detail[sizeof(w->ctx->err_arg)] = "";
	size_t used = 0;
	size_t i;
	json_t *m;
	json_array_foreach(messages, i, m)
	{
		if (strcmp(str(m, "type"), "error") != 0)
			continue;
		int n = snprintf(detail + used, sizeof(detail) - used, "%s%s", used ? " " : "",
		                 str(m, "message"));
		if (n < 0 || (size_t)n >= sizeof(detail) - used)
			break;
		used += (size_t)n;
	}
	if (used) {
		sg_ctx_set_err(w->ctx, "%s", detail);
		return;
	}
	const char *shown = "";
	if (w->cls->display)
		shown = str(cur, w->cls->display->element);
	if (!*shown)
		shown = str(cur, "sys_id");
	sg_ctx_set_err(w->ctx, "Error during %s of %s (%s)", op_name(w->op), w->cls->name, shown);
}

static bool on_stack(const struct brule *b, const char *record)
{
	for (int i = 0; i < depth; i++)
		if (!strcmp(stack[i].rule, b->sys_id) && !strcmp(stack[i].record, record))
			return true;
	return false;
}

static sg_err enqueue_async(struct sg_write *w, const struct brule *b, json_t *cur)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:O}", "rule", b->sys_id, "table", w->cls->name,
	                      "op", op_name(w->op), "user", w->ctx->user.sys_id, "current", cur);
	char *text = c ? json_dumps(c, JSON_COMPACT) : NULL;
	json_decref(c);
	if (!text)
		return SG_ERR_NOMEM;
	struct sg_job_spec spec = {.type = SG_BRULES_JOB,
	                           .name = b->name,
	                           .document = w->cls->name,
	                           .document_key = str(cur, "sys_id"),
	                           .context = text};
	sg_err err = sg_job_enqueue(w->ctx, &spec, NULL);
	free(text);
	return err;
}

/* Runs the rules of set that apply to w at when. */
static sg_err run_rules(struct sg_write *w, struct ruleset *set, enum when when, bool late)
{
	json_t *cur = w->op == SG_OP_DELETE ? w->old : w->rec;
	json_t *prev = w->op == SG_OP_INSERT ? NULL : w->old;
	const char *record = str(cur, "sys_id");
	sg_err err = SG_ERR_OK;
	bool aborted = false;
	for (size_t i = 0; !err && i < set->n; i++) {
		const struct brule *b = &set->r[i];
		if (b->when != when || !(b->ops & w->op) ||
		    (when == W_BEFORE && late != (b->order >= ENGINE_ORDER)))
			continue;
		const struct sg_table *t = sg_dict_table(w->ctx->dict, b->collection);
		if (!t || !sg_table_is_a(w->cls, t) || on_stack(b, record))
			continue;
		bool yes;
		err = filter_matches(w, cur, b->filter, &yes);
		if (err || !yes)
			continue;
		if (depth >= SG_BRULES_MAX_DEPTH) {
			char msg[256];
			snprintf(
			    msg, sizeof(msg),
			    "Business rule '%.100s' not run: rules nested %d writes deep on %.60s",
			    b->name, depth, w->cls->name);
			sg_log_warn("%s", msg);
			err = sg_script_syslog(w->ctx, "sys_script", "error", msg);
			continue;
		}
		snprintf(stack[depth].rule, sizeof(stack[depth].rule), "%s", b->sys_id);
		snprintf(stack[depth].record, sizeof(stack[depth].record), "%s", record);
		depth++;
		if (*b->condition) {
			struct sg_script_result res;
			err = run_script(w->ctx, b, w->cls->name, b->condition, b->cond_key, cur,
			                 prev, &res);
			yes = !err && res.status == SG_SCRIPT_OK && truthy(res.value);
			sg_script_result_cleanup(&res);
		}
		if (!err && yes && when == W_ASYNC) {
			err = enqueue_async(w, b, cur);
		} else if (!err && yes) {
			struct sg_script_result res;
			err =
			    run_script(w->ctx, b, w->cls->name, b->script, b->key, cur, prev, &res);
			if (!err && when == W_BEFORE && w->op != SG_OP_DELETE && res.current) {
				const char *k;
				json_t *v;
				json_object_foreach(res.current, k, v)
				{
					const struct sg_field *f = sg_table_field(w->cls, k);
					if (!f || strncmp(k, "sys_", 4) == 0 || !json_is_string(v))
						continue;
					if (f->type == SG_FT_JOURNAL_INPUT ||
					    f->type == SG_FT_JOURNAL) {
						if (json_string_length(v) &&
						    json_object_set(w->journal, k, v))
							w->failed = true;
					} else if (sg_field_is_stored(f)) {
						sg_write_set(w, k, json_string_value(v));
					}
				}
				if (w->failed)
					err = SG_ERR_NOMEM;
			}
			/* ServiceNow honours the abort in before rules only. */
			/* The later rules still run (ServiceNow's documented
			 * behaviour); the write is refused once they have. */
			if (!err && res.abort && when == W_BEFORE && !aborted) {
				abort_detail(w, cur, res.messages);
				aborted = true;
			}
			sg_script_result_cleanup(&res);
		}
		depth--;
	}
	return !err && aborted ? SG_ERR_INVALID_INSERT : err;
}

static sg_err phase(struct sg_write *w, enum when when, bool late)
{
	if (w->opts && w->opts->no_workflow)
		return SG_ERR_OK;
	struct ruleset *set;
	sg_err err = set_get(w->ctx, &set);
	if (!err && set->n)
		err = run_rules(w, set, when, late);
	set_release(set);
	return err;
}

/* Before rules of order below 1000 run before the platform's engines
 * (priority lookup, state mirrors, data policy); those of 1000 and more
 * after them, as on ServiceNow. */
static sg_err before_rules(struct sg_write *w)
{
	return phase(w, W_BEFORE, false);
}

static sg_err before_rules_late(struct sg_write *w)
{
	return phase(w, W_BEFORE, true);
}

static sg_err after_rules(struct sg_write *w)
{
	sg_err err = phase(w, W_AFTER, false);
	if (!err)
		err = phase(w, W_ASYNC, false);
	return err;
}

static sg_err bump(struct sg_write *w)
{
	return sg_write_bump(w, COUNTER);
}

static const struct sg_rule brules[] = {
    {"business_rules.before", NULL, SG_RULE_BEFORE, SG_OP_ANY, 150, before_rules},
    {"business_rules.before_late", NULL, SG_RULE_BEFORE, SG_OP_ANY, 260, before_rules_late},
    {"business_rules.after", NULL, SG_RULE_AFTER, SG_OP_ANY, 50, after_rules},
    {"business_rules.counter", "sys_script", SG_RULE_AFTER, SG_OP_ANY, 90, bump},
};

/* ---- async rules -------------------------------------------------------- */

static sg_err run_async(struct sg_ctx *ctx, const struct sg_job *job, void *ud, char *msg,
                        size_t msg_size)
{
	(void)ud;
	json_t *c = json_loads(job->context ? job->context : "", 0, NULL);
	json_t *cur = json_object_get(c, "current");
	if (!json_is_object(cur)) {
		json_decref(c);
		snprintf(msg, msg_size, "malformed job context");
		return SG_ERR_BAD_PARAM;
	}
	json_t *rule = NULL;
	sg_err err = sg_rec_get(ctx, "sys_script", str(c, "rule"), &rule);
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE) {
		json_decref(c); /* the rule is gone: nothing to do */
		return SG_ERR_OK;
	}
	/* The rule runs as the user whose write queued it; the job's own
	 * bookkeeping afterwards as the system again. */
	struct sg_user was = ctx->user;
	bool was_system = ctx->system;
	json_t *user = NULL;
	if (!err && *str(c, "user") && !sg_rec_get(ctx, "sys_user", str(c, "user"), &user)) {
		snprintf(ctx->user.sys_id, sizeof(ctx->user.sys_id), "%s", str(user, "sys_id"));
		snprintf(ctx->user.user_name, sizeof(ctx->user.user_name), "%s",
		         str(user, "user_name"));
		snprintf(ctx->user.name, sizeof(ctx->user.name), "%s", str(user, "name"));
		ctx->system = false;
	}
	json_decref(user);
	if (!err && sg_str_bool(str(rule, "active"), false)) {
		struct brule b = {.name = (char *)str(rule, "name")};
		snprintf(b.sys_id, sizeof(b.sys_id), "%s", str(rule, "sys_id"));
		char *key = key_of(b.sys_id, str(rule, "sys_mod_count"), "");
		struct sg_script_result res;
		err = key ? run_script(ctx, &b, str(c, "table"), str(rule, "script"), key, cur,
		                       NULL, &res)
		          : SG_ERR_NOMEM;
		if (key)
			sg_script_result_cleanup(&res);
		free(key);
	}
	ctx->user = was;
	ctx->system = was_system;
	json_decref(rule);
	json_decref(c);
	if (err)
		snprintf(msg, msg_size, "%s", sg_err_name(err));
	return err;
}

sg_err sg_brules_install(struct sg_model *m, struct sg_auth *auth)
{
	pthread_mutex_lock(&lock);
	the_auth = auth;
	pthread_mutex_unlock(&lock);
	sg_err err = sg_model_add_rules(m, brules, sizeof(brules) / sizeof(brules[0]));
	if (!err)
		err = sg_jobs_register(SG_BRULES_JOB, run_async, NULL);
	return err;
}

/* ---- query rules ---------------------------------------------------------- */

/* ANDs the encoded query r to every group of q ((G1 OR G2) AND R is
 * (G1 AND R) OR (G2 AND R)).  An r of several groups (^NQ) cannot be
 * distributed that way: q then matches nothing (a query rule restricts;
 * failing open would show what it hides), and the reason is logged. */
static sg_err and_query(struct sg_ctx *ctx, const char *rule, struct sg_query *q, const char *r)
{
	struct sg_query probe;
	sg_query_init(&probe);
	if (!sg_query_parse(&probe, r)) {
		sg_query_cleanup(&probe);
		return SG_ERR_NOMEM;
	}
	size_t groups = probe.ngroups;
	sg_query_cleanup(&probe);
	if (groups > 1) {
		char msg[200];
		snprintf(msg, sizeof(msg),
		         "Query rule '%.100s': a query of several ^NQ groups is not supported; "
		         "nothing matches",
		         rule);
		sg_err err = sg_script_syslog(ctx, "sys_script", "error", msg);
		if (err)
			return err;
		return sg_query_add_eq(q, "sys_id", "") ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	if (!q->ngroups)
		return sg_query_parse(q, r) ? SG_ERR_OK : SG_ERR_NOMEM;
	size_t n = q->ngroups;
	for (size_t g = 0; g < n; g++) {
		/* The parser adds to the last group: make group g the last. */
		q->ngroups = g + 1;
		bool ok = sg_query_parse(q, r);
		q->ngroups = n;
		if (!ok)
			return SG_ERR_NOMEM;
	}
	return SG_ERR_OK;
}

sg_err sg_brules_query(struct sg_auth_session *as, const struct sg_table *t, struct sg_query *q,
                       bool *restricted)
{
	if (restricted)
		*restricted = false;
	struct sg_ctx *ctx = as->ctx;
	/* The queries a query rule's own scripts make are not restricted again
	 * (no rule recurses into itself). */
	static _Thread_local bool in_query_rule;
	if (!the_auth || in_query_rule)
		return SG_ERR_OK;
	struct ruleset *set;
	sg_err err = set_get(ctx, &set);
	in_query_rule = true;
	for (size_t i = 0; !err && i < set->n; i++) {
		const struct brule *b = &set->r[i];
		if (!b->query)
			continue;
		const struct sg_table *rt = sg_dict_table(ctx->dict, b->collection);
		if (!rt || !sg_table_is_a(t, rt))
			continue;
		bool yes = true;
		if (*b->condition) {
			struct sg_script_result res;
			err = run_script(ctx, b, t->name, b->condition, b->cond_key, NULL, NULL,
			                 &res);
			yes = !err && res.status == SG_SCRIPT_OK && truthy(res.value);
			sg_script_result_cleanup(&res);
		}
		if (err || !yes)
			continue;
		/* The script's restrictions are current's query, its last value. */
		size_t len = strlen(b->script);
		static const char tail[] = "\n;current.getEncodedQuery();";
		char *src = malloc(len + sizeof(tail));
		if (!src) {
			err = SG_ERR_NOMEM;
			break;
		}
		memcpy(src, b->script, len);
		memcpy(src + len, tail, sizeof(tail));
		struct sg_script_result res;
		err = run_script(ctx, b, t->name, src, b->query_key, NULL, NULL, &res);
		free(src);
		const char *enc = json_string_value(res.value);
		if (!err && res.status == SG_SCRIPT_OK && enc && *enc) {
			err = and_query(ctx, b->name, q, enc);
			if (!err && restricted)
				*restricted = true;
		}
		sg_script_result_cleanup(&res);
	}
	in_query_rule = false;
	set_release(set);
	return err;
}

sg_err sg_brules_visible(struct sg_auth_session *as, const struct sg_table *t, const char *sys_id,
                         bool *visible)
{
	*visible = true;
	struct sg_query q;
	sg_query_init(&q);
	bool restricted = false;
	sg_err err = sg_brules_query(as, t, &q, &restricted);
	if (!err && restricted) {
		if (!sg_query_add_eq(&q, "sys_id", sys_id)) {
			err = SG_ERR_NOMEM;
		} else {
			struct sg_list_opts lo = {.query = &q, .limit = 1};
			json_t *rows = NULL;
			err = sg_rec_list(as->ctx, t->name, &lo, &rows, NULL);
			*visible = json_array_size(rows) > 0;
			json_decref(rows);
		}
	}
	sg_query_cleanup(&q);
	return err;
}
