/*
 * model.c - the process-wide model: opening an instance, the current
 * dictionary, request contexts and the system property cache.
 */
#include "model/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/tz.h"
#include "model/clock.h"
#include "model/internal.h"

void sg_ctx_set_err(struct sg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->err_arg, sizeof(ctx->err_arg), fmt, ap);
	va_end(ap);
}

/* Collects rows as JSON objects of strings into an array. */
/* Every row of a physical table, all columns. */
static sg_err load_all(sg_conn *c, const char *table, json_t **out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM ");
	sg_sql_ident(&q, table);
	return sg_json_rows_query(c, &q, out);
}

sg_err sg__dict_load(sg_conn *c, struct sg_dict **out)
{
	json_t *objs = NULL, *dict = NULL, *choices = NULL, *ovr = NULL;
	sg_err err = load_all(c, "sys_db_object", &objs);
	if (!err)
		err = load_all(c, "sys_dictionary", &dict);
	if (!err)
		err = load_all(c, "sys_choice", &choices);
	if (!err)
		err = load_all(c, "sys_dictionary_override", &ovr);
	if (!err) {
		*out = sg_dict_build(objs, dict, choices, ovr);
		if (!*out)
			err = SG_ERR_NOMEM;
	}
	json_decref(objs);
	json_decref(dict);
	json_decref(choices);
	json_decref(ovr);
	return err;
}

/* Where counter changes are announced between nodes (the dialect's notify). */
#define GEN_CHANNEL "sg_generation"

static const char *gen_names[] = {"dict",  "props", "users",      "acl",
                                  "oauth", "data",  "rate_limit", "restore"};

sg_err sg__gen_create(struct sg_ctx *ctx)
{
	sg_err err = sg_conn_exec_raw(ctx->conn, "CREATE TABLE IF NOT EXISTS \"sg_generation\" "
	                                         "(\"name\" TEXT PRIMARY KEY NOT NULL, "
	                                         "\"value\" BIGINT NOT NULL DEFAULT 0)");
	for (size_t i = 0; !err && i < sizeof(gen_names) / sizeof(gen_names[0]); i++) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "INSERT INTO \"sg_generation\" (\"name\", \"value\") VALUES (");
		sg_sql_text(&q, gen_names[i]);
		sg_sql_raw(&q, ", 1)");
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	return err;
}

sg_err sg__gen_bump(struct sg_ctx *ctx, const char *name)
{
	struct sg_sql q;
	sg_sql_init(&q);
	/* An upsert, so counters added after an instance was made appear. */
	sg_sql_raw(&q, "INSERT INTO \"sg_generation\" (\"name\", \"value\") VALUES (");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", 2) ON CONFLICT (\"name\") DO UPDATE SET \"value\" = "
	               "\"sg_generation\".\"value\" + 1");
	sg_err err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	/* Other nodes' listeners hear of it at commit (sg_model_listen).  Not
	 * for "data": every write moves it, and what it guards (counts) is
	 * compared at the next request anyway. */
	const struct sg_dialect *d = sg_conn_dialect(ctx->conn);
	if (!err && d->notify && strcmp(name, "data") != 0) {
		sg_sql_reset(&q);
		d->notify(&q, GEN_CHANNEL, name);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	}
	sg_sql_cleanup(&q);
	return err;
}

/* The listener's thread: another node (or process) committed a change to a
 * counter; read them all now, so that an idle node drops its caches and
 * rebuilds its dictionary before the next request needs it. */
static void heard(void *ud)
{
	sg_model_sync(ud);
}

sg_err sg_model_listen(struct sg_model *m)
{
	if (m->listener)
		return SG_ERR_OK;
	return sg_store_listen(m->store, GEN_CHANNEL, heard, m, &m->listener);
}

sg_err sg_model_bump(struct sg_ctx *ctx, const char *domain)
{
	return sg__gen_bump(ctx, domain);
}

struct gens {
	unsigned long v[8];
	struct sg__clock_rows clock; /* the instance's clock setting (clock.c) */
};

static int read_gen(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct gens *g = ud;
	if (ncol >= 2)
		sg__clock_row(&g->clock, vals[0], vals[1]);
	for (size_t i = 0; ncol >= 2 && vals[0] && i < sizeof(gen_names) / sizeof(gen_names[0]);
	     i++)
		if (!strcmp(vals[0], gen_names[i]))
			g->v[i] = strtoul(vals[1] ? vals[1] : "0", NULL, 10);
	return 0;
}

static bool read_gens(sg_conn *c, struct gens *g)
{
	memset(g, 0, sizeof(*g));
	g->clock.seq = sg_time_instance_seq();
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\", \"value\" FROM \"sg_generation\"");
	sg_err err = sg_conn_exec(c, &q, read_gen, g, NULL);
	sg_sql_cleanup(&q);
	return !err;
}

void sg_model_sync(struct sg_model *m)
{
	sg_conn *c = sg_store_conn(m->store);
	struct gens g;
	if (!c || !read_gens(c, &g))
		return;
	atomic_store(&m->props_gen, g.v[1]);
	atomic_store(&m->users_gen, g.v[2]);
	atomic_store(&m->acl_gen, g.v[3]);
	atomic_store(&m->oauth_gen, g.v[4]);
	atomic_store(&m->data_gen, g.v[5]);
	atomic_store(&m->rate_limit_gen, g.v[6]);
	atomic_store(&m->restore_gen, g.v[7]);
	sg__clock_apply(&g.clock);
	pthread_mutex_lock(&m->lock);
	bool stale = m->dict_gen != g.v[0];
	pthread_mutex_unlock(&m->lock);
	if (stale && sg_model_reload_dict(m))
		sg_log_error("dictionary: reload failed");
}

sg_err sg_model_reload_dict(struct sg_model *m)
{
	sg_conn *c = sg_store_conn(m->store);
	if (!c)
		return SG_ERR_STORE;
	struct gens g;
	if (!read_gens(c, &g))
		return SG_ERR_STORE;
	struct sg_dict *d;
	sg_err err = sg__dict_load(c, &d);
	if (err)
		return err;
	d->refs = 1;
	pthread_mutex_lock(&m->lock);
	struct sg_dict *old = m->dict;
	m->dict = d;
	m->dict_gen = g.v[0];
	bool free_old = old && --old->refs == 0;
	pthread_mutex_unlock(&m->lock);
	if (free_old)
		sg_dict_free(old);
	return SG_ERR_OK;
}

sg_err sg_model_open(const char *data_dir, struct sg_model **out)
{
	struct sg_model *m = calloc(1, sizeof(*m));
	if (!m)
		return SG_ERR_NOMEM;
	pthread_mutex_init(&m->lock, NULL);
	sg_map_init(&m->props);
	m->data_dir = strdup(data_dir);
	sg_err err = m->data_dir ? sg_store_open(data_dir, false, &m->store) : SG_ERR_NOMEM;
	if (!err)
		err = sg_model_reload_dict(m);
	if (!err)
		sg_model_sync(m);
	if (err) {
		sg_model_close(m);
		return err;
	}
	*out = m;
	return SG_ERR_OK;
}

void sg__props_clear(struct sg_model *m)
{
	for (size_t i = 0; i < m->props.cap; i++)
		if (m->props.slots[i].key)
			free(m->props.slots[i].value);
	sg_map_cleanup(&m->props);
	sg_map_init(&m->props);
	m->props_valid = false;
}

void sg__counts_clear(struct sg_model *m)
{
	for (size_t i = 0; i < m->counts.cap; i++)
		if (m->counts.slots[i].key)
			free(m->counts.slots[i].value);
	sg_map_cleanup(&m->counts);
	sg_map_init(&m->counts);
}

void sg_model_close(struct sg_model *m)
{
	if (!m)
		return;
	sg_store_unlisten(m->listener); /* its thread uses m */
	sg__counts_clear(m);
	if (m->dict)
		sg_dict_free(m->dict);
	sg__props_clear(m);
	sg__rules_free(m);
	sg_store_close(m->store);
	free(m->data_dir);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void acquire(struct sg_ctx *ctx)
{
	pthread_mutex_lock(&ctx->model->lock);
	ctx->dict = ctx->model->dict;
	ctx->dict->refs++;
	pthread_mutex_unlock(&ctx->model->lock);
}

static void drop(struct sg_model *m, struct sg_dict *d)
{
	pthread_mutex_lock(&m->lock);
	bool last = --d->refs == 0;
	pthread_mutex_unlock(&m->lock);
	if (last)
		sg_dict_free(d);
}

static void release(struct sg_ctx *ctx)
{
	if (ctx->dict)
		drop(ctx->model, ctx->dict);
	ctx->dict = NULL;
}

/* Moves the request on from its snapshot, which it keeps until its end
 * (released at once only when there is no memory to keep it). */
static void retire(struct sg_ctx *ctx)
{
	struct sg_dict **more = realloc(ctx->retired, (ctx->nretired + 1) * sizeof(*more));
	if (!more) {
		release(ctx);
		return;
	}
	ctx->retired = more;
	ctx->retired[ctx->nretired++] = ctx->dict;
	ctx->dict = NULL;
}

static void release_retired(struct sg_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nretired; i++)
		drop(ctx->model, ctx->retired[i]);
	free(ctx->retired);
	ctx->retired = NULL;
	ctx->nretired = 0;
}

sg_err sg_ctx_begin(struct sg_ctx *ctx, struct sg_model *m, const struct sg_user *user)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->model = m;
	ctx->conn = sg_store_conn(m->store);
	if (!ctx->conn)
		return SG_ERR_STORE;
	if (user) {
		ctx->user = *user;
	} else {
		ctx->system = true;
		snprintf(ctx->user.user_name, sizeof(ctx->user.user_name), "system");
		snprintf(ctx->user.name, sizeof(ctx->user.name), "System Administrator");
	}
	acquire(ctx);
	return SG_ERR_OK;
}

void sg_ctx_end(struct sg_ctx *ctx)
{
	release(ctx);
	release_retired(ctx);
	json_decref(ctx->ref_cache);
	ctx->ref_cache = NULL;
	json_decref(ctx->journal_cache);
	ctx->journal_cache = NULL;
	json_decref(ctx->display_cache);
	ctx->display_cache = NULL;
}

/* After a committed write that changed the dictionary: rebuild, and move
 * this request to the new snapshot. */
void sg__ctx_dict_changed(struct sg_ctx *ctx)
{
	ctx->dict_dirty = false;
	sg_model_sync(ctx->model);
	pthread_mutex_lock(&ctx->model->lock);
	bool moved = ctx->dict != ctx->model->dict;
	pthread_mutex_unlock(&ctx->model->lock);
	if (moved) {
		retire(ctx);
		acquire(ctx);
	}
}

const char *sg_ctx_time_zone(struct sg_ctx *ctx)
{
	if (ctx->tz[0])
		return ctx->tz;
	if (ctx->user.time_zone[0]) {
		snprintf(ctx->tz, sizeof(ctx->tz), "%s", ctx->user.time_zone);
	} else {
		char *p;
		sg_err err = sg_prop_get(ctx, "glide.sys.default.tz", &p);
		if (err) {
			if (!ctx->err)
				ctx->err = err;
			return "UTC"; /* not kept: the request fails */
		}
		snprintf(ctx->tz, sizeof(ctx->tz), "%s", (p && *p) ? p : "UTC");
		free(p);
	}
	return ctx->tz;
}

sg_err sg_ctx_error(const struct sg_ctx *ctx)
{
	return ctx->err;
}

/* The query compiler's resolver: field of a record, read as the request. */
static sg_err qenv_lookup(void *ud, const char *table, const char *sys_id, const char *field,
                          char **out)
{
	struct sg_ctx *ctx = ud;
	json_t *rec = NULL;
	*out = NULL;
	sg_err err = sg_rec_get(ctx, table, sys_id, &rec);
	if (err)
		return err;
	const char *v = json_string_value(json_object_get(rec, field));
	if (v && !(*out = strdup(v)))
		err = SG_ERR_NOMEM;
	json_decref(rec);
	return err;
}

/* The query compiler's javascript: values: a client's, through ctx's hook. */
static sg_err qenv_script(void *ud, const char *expr, char **out)
{
	struct sg_ctx *ctx = ud;
	return ctx->script_value(ctx->script_value_ud, expr, true, out);
}

void sg_ctx_qenv(struct sg_ctx *ctx, struct sg_qenv *env)
{
	*env = (struct sg_qenv){
	    .dict = ctx->dict,
	    .dialect = sg_conn_dialect(ctx->conn),
	    .tz = sg_ctx_time_zone(ctx),
	    .user_id = ctx->user.sys_id,
	    .user_name = ctx->user.user_name,
	    .lookup = qenv_lookup,
	    .lookup_ud = ctx,
	    .sub_rows = ctx->sub_rows,
	    .sub_rows_ud = ctx->sub_rows_ud,
	    .script = ctx->script_value ? qenv_script : NULL,
	    .script_ud = ctx,
	};
}

void sg_ctx_local_time(struct sg_ctx *ctx, const char *utc, char out[SG_DT_LEN + 1])
{
	int64_t t;
	int off;
	if (!sg_time_parse(utc, &t)) {
		snprintf(out, SG_DT_LEN + 1, "%s", utc);
		return;
	}
	sg_tz_offset(sg_ctx_time_zone(ctx), t, &off);
	sg_time_format(t + off, out);
}

/* ---- system properties ------------------------------------------------- */

struct props_reader {
	struct sg_map *map;
	bool failed; /* out of memory: the map is incomplete */
};

static int collect_props(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct props_reader *r = ud;
	if (ncol < 2 || !vals[0])
		return 0;
	char *v = strdup(vals[1] ? vals[1] : "");
	if (!v) {
		r->failed = true;
		return 1;
	}
	free(sg_map_get(r->map, vals[0]));
	if (!sg_map_put(r->map, vals[0], v)) {
		free(v);
		r->failed = true;
		return 1;
	}
	return 0;
}

/*
 * Under m->lock: (re)loads the cache of properties when another write
 * changed them since (gen: the counter read before taking the lock).  On
 * failure the cache stays invalid, to be loaded by the next reader.
 *
 * The cache is stamped with the props counter as this connection sees it,
 * read before the rows, not with gen: a reader inside a read transaction
 * older than another process's write (nowctl --data while nowd runs) sees
 * the old rows, and stamped with the new counter another thread's
 * sg_model_sync had already published, those old values would be kept as
 * current until the next property change.  Counters only grow (a restore
 * moves them past), so a cache stamped at or past gen is current.
 */
static sg_err props_load(struct sg_ctx *ctx, struct sg_model *m, unsigned long gen)
{
	if (m->props_valid && m->props_loaded_gen >= gen)
		return SG_ERR_OK;
	sg__props_clear(m);
	m->props_valid = false;
	struct props_reader r = {.map = &m->props};
	struct sg_sql q;
	sg_err err = SG_ERR_OK;
	unsigned long seen = gen;
	if (!m->bootstrapping) { /* no counters while the instance is made */
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"value\" FROM \"sg_generation\" WHERE \"name\" = 'props'");
		char *v = NULL;
		err = sg_conn_query_string(ctx->conn, &q, &v);
		sg_sql_cleanup(&q);
		seen = v ? strtoul(v, NULL, 10) : 0;
		free(v);
		if (err)
			return err;
	}
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\", \"value\" FROM \"sys_properties\"");
	err = sg_conn_exec(ctx->conn, &q, collect_props, &r, NULL);
	sg_sql_cleanup(&q);
	if (!err && r.failed)
		err = SG_ERR_NOMEM;
	if (err) {
		sg__props_clear(m);
		return err;
	}
	m->props_valid = true;
	m->props_loaded_gen = seen;
	return SG_ERR_OK;
}

/*
 * The value of property name (*out new, NULL when there is none).  Outside
 * a transaction from the cache; inside one straight from the rows, as that
 * transaction sees them: its snapshot may be older than the counter other
 * threads have published, or hold its own uncommitted property writes, and
 * neither may end up in the cache every request shares.
 */
static sg_err prop_value(struct sg_ctx *ctx, const char *name, char **out)
{
	struct sg_model *m = ctx->model;
	*out = NULL;
	if (sg_conn_in_transaction(ctx->conn)) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(
		    &q, "SELECT COALESCE(\"value\", '') FROM \"sys_properties\" WHERE \"name\" = ");
		sg_sql_text(&q, name);
		sg_sql_raw(&q, " ORDER BY \"sys_created_on\", \"sys_id\" LIMIT 1");
		sg_err err = sg_conn_query_string(ctx->conn, &q, out);
		sg_sql_cleanup(&q);
		return err;
	}
	unsigned long gen = atomic_load(&m->props_gen);
	pthread_mutex_lock(&m->lock);
	sg_err err = props_load(ctx, m, gen);
	const char *v = err ? NULL : sg_map_get(&m->props, name);
	if (v && !(*out = strdup(v)))
		err = SG_ERR_NOMEM;
	pthread_mutex_unlock(&m->lock);
	return err;
}

sg_err sg_prop_get(struct sg_ctx *ctx, const char *name, char **out)
{
	return prop_value(ctx, name, out);
}

sg_err sg_prop_bool(struct sg_ctx *ctx, const char *name, bool dflt, bool *out)
{
	char *v = NULL;
	sg_err err = prop_value(ctx, name, &v);
	*out = err ? dflt : sg_str_bool(v, dflt);
	free(v);
	return err;
}

sg_err sg_prop_int(struct sg_ctx *ctx, const char *name, long long dflt, long long *out)
{
	char *v = NULL;
	sg_err err = prop_value(ctx, name, &v);
	*out = dflt;
	if (!err && v && *v) {
		char *end;
		long long n = strtoll(v, &end, 10);
		if (!*end)
			*out = n;
	}
	free(v);
	return err;
}

sg_err sg_prop_set(struct sg_ctx *ctx, const char *name, const char *value)
{
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = sg_query_add_eq(&q, "name", name) ? SG_ERR_OK : SG_ERR_NOMEM;
	json_t *rows = NULL;
	struct sg_list_opts lo = {.query = &q, .limit = 1};
	if (!err)
		err = sg_rec_list(ctx, "sys_properties", &lo, &rows, NULL);
	json_t *in = json_pack("{s:s, s:s}", "name", name, "value", value);
	struct sg_write_opts wo = {0};
	char id[SG_ID_LEN + 1];
	if (!err && !in)
		err = SG_ERR_NOMEM;
	if (!err && json_array_size(rows) > 0)
		err = sg_rec_update(ctx, "sys_properties",
		                    sg_json_str(json_array_get(rows, 0), "sys_id"), in, &wo);
	else if (!err)
		err = sg_rec_insert(ctx, "sys_properties", in, &wo, id);
	json_decref(in);
	json_decref(rows);
	sg_query_cleanup(&q);
	return err;
}
