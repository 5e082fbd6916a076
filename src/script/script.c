/*
 * script.c - the engine: one Duktape heap per run, with its limits, the
 * compiled-script cache, the run itself and what it answers.
 */
#include "script/script.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/acl.h"
#include "core/log.h"
#include "core/util.h"
#include "model/model.h"
#include "query/query.h"
#include "script/internal.h"

/* ---- limits ------------------------------------------------------------------ */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* DUK_USE_EXEC_TIMEOUT_CHECK (duk_config.h): once past the deadline, every
 * check answers true, so a script that catches the RangeError is stopped
 * again at its next instructions. */
int sg_script_timed_out(void *udata)
{
	struct sg__script_state *st = udata;
	if (!st)
		return 0;
	if (!st->timed_out && now_ns() > st->deadline_ns)
		st->timed_out = true;
	return st->timed_out;
}

/* Every block carries its size before it, so frees and reallocs count. */
#define HDR 16

static void *st_alloc(void *udata, duk_size_t size)
{
	struct sg__script_state *st = udata;
	if (size > st->limit || st->used + size > st->limit) {
		st->oom = true;
		return NULL;
	}
	unsigned char *p = malloc(size + HDR);
	if (!p) {
		st->sys_oom = true;
		return NULL;
	}
	memcpy(p, &size, sizeof(size));
	st->used += size;
	return p + HDR;
}

static void st_free(void *udata, void *ptr)
{
	struct sg__script_state *st = udata;
	if (!ptr)
		return;
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t size;
	memcpy(&size, p, sizeof(size));
	st->used -= size;
	free(p);
}

static void *st_realloc(void *udata, void *ptr, duk_size_t size)
{
	struct sg__script_state *st = udata;
	if (!ptr)
		return st_alloc(udata, size);
	if (!size) {
		st_free(udata, ptr);
		return NULL;
	}
	unsigned char *p = (unsigned char *)ptr - HDR;
	size_t old;
	memcpy(&old, p, sizeof(old));
	if (size > old && (size - old > st->limit || st->used + (size - old) > st->limit)) {
		st->oom = true;
		return NULL;
	}
	unsigned char *q = realloc(p, size + HDR);
	if (!q) {
		st->sys_oom = true;
		return NULL;
	}
	memcpy(q, &size, sizeof(size));
	st->used = st->used - old + size;
	return q + HDR;
}

/* Duktape calls this only for an error outside any protected call, which
 * our code never makes; it must not return. */
static void st_fatal(void *udata, const char *msg)
{
	(void)udata;
	sg_log_error("script: fatal engine error: %s", msg ? msg : "");
	abort();
}

struct sg__script_state *sg__script_state(duk_context *ctx)
{
	duk_memory_functions f;
	duk_get_memory_functions(ctx, &f);
	return f.udata;
}

duk_ret_t sg__script_fail(duk_context *ctx, sg_err err)
{
	struct sg__script_state *st = sg__script_state(ctx);
	if (!st->err)
		st->err = err;
	return duk_error(ctx, DUK_ERR_ERROR, "internal error: %s", sg_err_name(err));
}

void sg__script_output(struct sg__script_state *st, const char *line)
{
	struct sg_script_result *res = st->res;
	size_t len = strlen(line) + 12;
	if (json_array_size(res->output) >= SG_SCRIPT_MESSAGES_MAX ||
	    st->output_bytes + len > SG_SCRIPT_OUTPUT_MAX)
		return;
	char *s = malloc(len + 1);
	if (!s)
		return;
	snprintf(s, len + 1, "*** Script: %s", line);
	if (json_array_append_new(res->output, json_string(s)) == 0)
		st->output_bytes += len;
	free(s);
}

/* ---- the compiled-script cache ------------------------------------------------- */

struct cached {
	char *key;
	void *code;
	size_t len;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached cache[SG_SCRIPT_CACHE_MAX];
static size_t cache_next; /* the slot to fill (the oldest) */

void sg_script_cache_clear(void)
{
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < SG_SCRIPT_CACHE_MAX; i++) {
		free(cache[i].key);
		free(cache[i].code);
		cache[i] = (struct cached){0};
	}
	cache_next = 0;
	pthread_mutex_unlock(&cache_lock);
}

/* Pushes the cached function of key; false when there is none. */
static bool cache_load(duk_context *ctx, const char *key)
{
	bool found = false;
	pthread_mutex_lock(&cache_lock);
	for (size_t i = 0; i < SG_SCRIPT_CACHE_MAX; i++) {
		if (cache[i].key && !strcmp(cache[i].key, key)) {
			void *buf = duk_push_fixed_buffer(ctx, cache[i].len);
			memcpy(buf, cache[i].code, cache[i].len);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	if (found)
		duk_load_function(ctx);
	return found;
}

/* Keeps the function on the stack top's bytecode under key. */
static void cache_store(duk_context *ctx, const char *key)
{
	duk_dup_top(ctx);
	duk_dump_function(ctx);
	duk_size_t len;
	const void *code = duk_get_buffer(ctx, -1, &len);
	char *k = strdup(key);
	void *c = len ? malloc(len) : NULL;
	if (k && c) {
		memcpy(c, code, len);
		pthread_mutex_lock(&cache_lock);
		struct cached *slot = &cache[cache_next];
		cache_next = (cache_next + 1) % SG_SCRIPT_CACHE_MAX;
		free(slot->key);
		free(slot->code);
		*slot = (struct cached){k, c, len};
		pthread_mutex_unlock(&cache_lock);
	} else {
		free(k);
		free(c);
	}
	duk_pop(ctx);
}

/* The prelude's cache key: no record key starts with a control character. */
#define PRELUDE_KEY "\001prelude"

/* ---- the resolver -------------------------------------------------------------- */

static _Atomic(sg_script_resolver) resolver = sg_script_default_resolver;

void sg_script_set_resolver(sg_script_resolver fn)
{
	resolver = fn ? fn : sg_script_default_resolver;
}

/* A JavaScript identifier of at most max ASCII characters: script include
 * names are capitalised (IncidentIoClient), unlike SQL identifiers. */
static bool js_name(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '$'))
			return false;
	return true;
}

sg_err sg_script_default_resolver(struct sg_ctx *ctx, const char *name, char **source)
{
	*source = NULL;
	if (!sg_dict_table(ctx->dict, "sys_script_include") || !js_name(name, 100))
		return SG_ERR_OK;
	struct sg_query q;
	sg_query_init(&q);
	sg_err err = SG_ERR_OK;
	char enc[300];
	snprintf(enc, sizeof(enc), "active=true^api_name=%s^ORname=%s", name, name);
	json_t *rows = NULL;
	if (!sg_query_parse(&q, enc)) {
		sg_query_cleanup(&q);
		return SG_ERR_NOMEM;
	}
	struct sg_list_opts lo = {.query = &q, .limit = 1};
	err = sg_rec_list(ctx, "sys_script_include", &lo, &rows, NULL);
	sg_query_cleanup(&q);
	if (err)
		return err;
	json_t *row = json_array_get(rows, 0);
	const char *script = row ? json_string_value(json_object_get(row, "script")) : NULL;
	if (script && !(*source = strdup(script)))
		err = SG_ERR_NOMEM;
	json_decref(rows);
	return err;
}

/* N.resolve(name) and the global's has-trap: evaluates the source of an
 * unknown name in the global scope; true when it now exists. */
static bool resolve_name(duk_context *ctx, const char *name)
{
	struct sg__script_state *st = sg__script_state(ctx);
	if (st->resolve_depth >= 16 || json_object_get(st->resolved, name) ||
	    json_object_size(st->resolved) >= 256)
		return false;
	if (json_object_set_new(st->resolved, name, json_true())) {
		sg__script_fail(ctx, SG_ERR_NOMEM);
		return false;
	}
	char *source = NULL;
	sg_err err = resolver(st->ctx, name, &source);
	if (err) {
		sg__script_fail(ctx, err);
		return false;
	}
	if (!source)
		return false;
	st->resolve_depth++;
	/* The include runs in a function of its own that hands back what it
	 * names ("function X() {}" or "var X = Class.create()" alike): a
	 * declaration at the top level would bind on the Proxy the global object
	 * is, where no lookup finds it.  The wrapper keeps line numbers. */
	duk_push_string(ctx, name);
	duk_push_sprintf(ctx,
	                 "(function(){%s\n;return typeof %s === 'undefined' ? undefined : %s;})()",
	                 source, name, name);
	free(source);
	duk_swap_top(ctx, -2);
	/* An include's errors are the script's: they throw into it. */
	duk_compile(ctx, DUK_COMPILE_EVAL);
	duk_call(ctx, 0);
	bool has = !duk_is_undefined(ctx, -1);
	if (has)
		duk_put_global_string(ctx, name);
	else
		duk_pop(ctx);
	st->resolve_depth--;
	if (!has) {
		duk_push_global_object(ctx);
		has = duk_has_prop_string(ctx, -1, name);
		duk_pop(ctx);
	}
	return has;
}

duk_ret_t sg__glide_global_has(duk_context *ctx)
{
	/* (target, key) */
	duk_dup(ctx, 1);
	bool has = duk_has_prop(ctx, 0);
	if (has || !duk_is_string(ctx, 1)) {
		duk_push_boolean(ctx, has);
		return 1;
	}
	const char *name = duk_get_string(ctx, 1);
	/* The target is the real global object: evaluating there defines there. */
	duk_push_boolean(ctx, resolve_name(ctx, name));
	return 1;
}

static duk_ret_t n_resolve(duk_context *ctx)
{
	const char *name = duk_require_string(ctx, 0);
	duk_push_global_object(ctx);
	bool has = duk_has_prop_string(ctx, -1, name);
	duk_pop(ctx);
	duk_push_boolean(ctx, has || resolve_name(ctx, name));
	return 1;
}

/* ---- the run ------------------------------------------------------------------- */

const char *sg_script_status_name(enum sg_script_status s)
{
	switch (s) {
	case SG_SCRIPT_OK:
		return "ok";
	case SG_SCRIPT_SYNTAX:
		return "syntax error";
	case SG_SCRIPT_RUNTIME:
		return "error";
	case SG_SCRIPT_TIMEOUT:
		return "timeout";
	case SG_SCRIPT_MEMORY:
		return "memory limit";
	case SG_SCRIPT_FAILED:
		return "failed";
	}
	return "failed";
}

json_t *sg_script_result_json(const struct sg_script_result *res)
{
	json_t *o = json_pack(
	    "{s:s, s:O, s:O, s:O, s:I}", "status", sg_script_status_name(res->status), "output",
	    res->output ? res->output : json_null(), "messages",
	    res->messages ? res->messages : json_null(), "result",
	    res->value ? res->value : json_null(), "elapsed_ms", (json_int_t)res->elapsed_ms);
	if (o && res->status != SG_SCRIPT_OK &&
	    (json_object_set_new(o, "error", json_string(res->error)) ||
	     json_object_set_new(o, "line", json_integer(res->line)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void sg_script_result_cleanup(struct sg_script_result *res)
{
	json_decref(res->value);
	json_decref(res->messages);
	json_decref(res->output);
	json_decref(res->current);
	memset(res, 0, sizeof(*res));
}

/* Pushes a jansson value as the equivalent JavaScript value. */
static void push_json(duk_context *ctx, json_t *v)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text) {
		sg__script_fail(ctx, SG_ERR_NOMEM);
		return;
	}
	duk_push_string(ctx, text);
	free(text);
	duk_json_decode(ctx, -1);
}

/* The value on the stack top as JSON: objects that are not plain objects or
 * arrays (GlideElement, GlideRecord, GlideDateTime) as their string. */
static json_t *top_json(duk_context *ctx)
{
	if (duk_is_undefined(ctx, -1) || duk_is_null(ctx, -1))
		return json_null();
	if (duk_is_object(ctx, -1) && !duk_is_array(ctx, -1) && !duk_is_function(ctx, -1)) {
		duk_get_prototype(ctx, -1);
		duk_get_global_string(ctx, "Object");
		duk_get_prop_string(ctx, -1, "prototype");
		bool plain = duk_strict_equals(ctx, -1, -3) || duk_is_undefined(ctx, -3);
		duk_pop_3(ctx);
		if (!plain) {
			const char *s = duk_safe_to_string(ctx, -1);
			return json_string(s ? s : "");
		}
	}
	if (duk_is_function(ctx, -1))
		return json_null();
	duk_dup_top(ctx);
	const char *text = duk_json_encode(ctx, -1);
	json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : json_null();
	duk_pop(ctx);
	return v;
}

static duk_ret_t run_safe(duk_context *ctx, void *udata)
{
	(void)udata;
	struct sg__script_state *st = sg__script_state(ctx);
	const struct sg_script_run *r = st->run;
	struct sg_script_result *res = st->res;

	/* The API: prelude(N, global) -> helpers. */
	duk_push_global_object(ctx);
	if (!cache_load(ctx, PRELUDE_KEY)) { /* compiled once per process */
		duk_push_string(ctx, "prelude.js");
		duk_compile_string_filename(ctx, DUK_COMPILE_EVAL, sg__script_prelude);
		cache_store(ctx, PRELUDE_KEY);
	}
	duk_call(ctx, 0); /* -> the prelude function */
	sg__glide_push_natives(ctx);
	duk_push_c_function(ctx, n_resolve, 1);
	duk_put_prop_string(ctx, -2, "resolve");
	duk_push_global_object(ctx);
	duk_call(ctx, 2); /* -> helpers */
	duk_idx_t helpers = duk_get_top_index(ctx);

	/* Unknown globals go through the resolver: the global object becomes a
	 * Proxy of itself whose has-trap asks it. */
	duk_get_global_string(ctx, "Proxy");
	duk_push_global_object(ctx);
	duk_push_object(ctx);
	duk_push_c_function(ctx, sg__glide_global_has, 2);
	duk_put_prop_string(ctx, -2, "has");
	duk_new(ctx, 2);
	duk_set_global_object(ctx);

	/* Bindings. */
	const char *it_key;
	json_t *it_val;
	json_object_foreach(r->values, it_key, it_val)
	{
		push_json(ctx, it_val);
		duk_put_global_string(ctx, it_key);
	}
	duk_idx_t current = -1;
	if (r->table) {
		duk_get_prop_string(ctx, helpers, "bind");
		duk_push_string(ctx, r->table);
		if (r->current)
			push_json(ctx, r->current);
		else
			duk_push_null(ctx);
		duk_push_boolean(ctx, r->current && !r->previous);
		if (r->previous)
			push_json(ctx, r->previous);
		else
			duk_push_null(ctx);
		duk_call(ctx, 4);
		duk_dup_top(ctx);
		duk_put_global_string(ctx, "current");
		current = duk_get_top_index(ctx);
		if (r->previous) {
			duk_get_prop_string(ctx, helpers, "bind");
			duk_push_string(ctx, r->table);
			push_json(ctx, r->previous);
			duk_push_false(ctx);
			push_json(ctx, r->previous);
			duk_call(ctx, 4);
		} else {
			duk_push_null(ctx);
		}
		duk_put_global_string(ctx, "previous");
	}
	if (r->bind && r->bind(ctx, r->bind_ud) != 0)
		return sg__script_fail(ctx, SG_ERR_INTERNAL);

	/* The script. */
	if (!r->cache_key || !cache_load(ctx, r->cache_key)) {
		duk_push_string(ctx, r->name ? r->name : "script");
		res->status = SG_SCRIPT_SYNTAX;
		duk_compile_lstring_filename(ctx, 0, r->source, r->source_len);
		res->status = SG_SCRIPT_OK;
		if (r->cache_key)
			cache_store(ctx, r->cache_key);
	}
	duk_call(ctx, 0);
	if (r->result_var) {
		/* result_var's value; when the script left it null or undefined,
		 * the last expression's (an ACL script may end in "answer = x" or
		 * in the expression itself). */
		duk_get_global_string(ctx, r->result_var);
		if (duk_is_null_or_undefined(ctx, -1))
			duk_pop(ctx);
		else
			duk_remove(ctx, -2);
	}
	if (!(res->value = top_json(ctx)))
		return sg__script_fail(ctx, SG_ERR_NOMEM);
	duk_pop(ctx);
	if (current >= 0) {
		duk_get_prop_string(ctx, helpers, "changes");
		duk_dup(ctx, current);
		duk_call(ctx, 1);
		if (!(res->current = top_json(ctx)))
			return sg__script_fail(ctx, SG_ERR_NOMEM);
		duk_pop(ctx);
		duk_get_prop_string(ctx, helpers, "aborted");
		duk_dup(ctx, current);
		duk_call(ctx, 1);
		res->abort = duk_to_boolean(ctx, -1);
		duk_pop(ctx);
	}
	return 0;
}

sg_err sg_script_syslog(struct sg_ctx *ctx, const char *source, const char *level,
                        const char *message)
{
	if (!sg_dict_table(ctx->dict, "syslog"))
		return SG_ERR_OK;
	const char *num = !strcmp(level, "debug")     ? "-1"
	                  : !strcmp(level, "warning") ? "1"
	                  : !strcmp(level, "error")   ? "2"
	                                              : "0";
	char cut[4001];
	snprintf(cut, sizeof(cut), "%s", message);
	cut[sg_str_utf8_prefix(cut, 4000)] = '\0';
	json_t *rec = json_pack("{s:s, s:s, s:s}", "source", source ? source : "", "level", num,
	                        "message", cut);
	if (!rec)
		return SG_ERR_NOMEM;
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	sg_err err = sg_rec_insert(ctx, "syslog", rec, &wo, id);
	json_decref(rec);
	return err;
}

sg_err sg_script_run(const struct sg_script_run *r, struct sg_script_result *out)
{
	memset(out, 0, sizeof(*out));
	out->status = SG_SCRIPT_FAILED;
	if (!r->as || !r->as->ctx || !r->source)
		return SG_ERR_INTERNAL;
	out->messages = json_array();
	out->output = json_array();
	struct sg__script_state st = {0};
	st.resolved = json_object();
	if (!out->messages || !out->output || !st.resolved) {
		json_decref(st.resolved);
		return SG_ERR_NOMEM;
	}
	st.run = r;
	st.res = out;
	st.as = r->as;
	st.ctx = r->as->ctx;
	const char *name = r->name ? r->name : "script";
	if (r->source_len > SG_SCRIPT_SOURCE_MAX) {
		out->status = SG_SCRIPT_SYNTAX;
		snprintf(out->error, sizeof(out->error), "the script is longer than %d bytes",
		         SG_SCRIPT_SOURCE_MAX);
		json_decref(st.resolved);
		return SG_ERR_OK;
	}
	long long timeout_ms, memory_mb;
	sg_err err =
	    sg_prop_int(st.ctx, "snowglobe.script.timeout_ms", SG_SCRIPT_TIMEOUT_MS, &timeout_ms);
	if (!err)
		err = sg_prop_int(st.ctx, "snowglobe.script.max_memory_mb", SG_SCRIPT_MEMORY_MB,
		                  &memory_mb);
	if (err) {
		json_decref(st.resolved);
		return err;
	}
	if (timeout_ms < 10 || timeout_ms > 600000)
		timeout_ms = SG_SCRIPT_TIMEOUT_MS;
	if (memory_mb < 1 || memory_mb > 4096)
		memory_mb = SG_SCRIPT_MEMORY_MB;
	st.limit = (size_t)memory_mb * 1024 * 1024;
	int64_t start = now_ns();
	st.deadline_ns = start + timeout_ms * 1000000LL;

	duk_context *ctx = duk_create_heap(st_alloc, st_realloc, st_free, &st, st_fatal);
	if (!ctx) {
		json_decref(st.resolved);
		if (st.oom) {
			out->status = SG_SCRIPT_MEMORY;
			snprintf(out->error, sizeof(out->error), "memory limit (%lld MB) exceeded",
			         memory_mb);
			return SG_ERR_OK;
		}
		return SG_ERR_NOMEM;
	}
	out->status = SG_SCRIPT_OK;
	duk_int_t rc = duk_safe_call(ctx, run_safe, NULL, 0, 1);
	if (rc != DUK_EXEC_SUCCESS && st.sys_oom && !st.err)
		st.err = SG_ERR_NOMEM; /* the process, not the script, ran out */
	if (rc != DUK_EXEC_SUCCESS) {
		if (st.err) {
			out->status = SG_SCRIPT_FAILED;
		} else if (st.timed_out) {
			out->status = SG_SCRIPT_TIMEOUT;
			snprintf(out->error, sizeof(out->error),
			         "script execution time limit (%lld ms) exceeded", timeout_ms);
		} else if (st.oom) {
			out->status = SG_SCRIPT_MEMORY;
			snprintf(out->error, sizeof(out->error), "memory limit (%lld MB) exceeded",
			         memory_mb);
		} else {
			if (out->status != SG_SCRIPT_SYNTAX)
				out->status = SG_SCRIPT_RUNTIME;
			/* The message and line, with room to read them even near the limit. */
			st.limit += 1024 * 1024;
			if (duk_is_error(ctx, -1)) {
				duk_get_prop_string(ctx, -1, "lineNumber");
				out->line = duk_is_number(ctx, -1) ? (int)duk_get_int(ctx, -1) : 0;
				duk_pop(ctx);
			}
			const char *msg = duk_safe_to_string(ctx, -1);
			snprintf(out->error, sizeof(out->error), "%s", msg ? msg : "error");
		}
	}
	duk_destroy_heap(ctx);
	json_decref(st.resolved);
	out->elapsed_ms = (now_ns() - start) / 1000000;
	if (out->status != SG_SCRIPT_OK) {
		json_decref(out->value);
		out->value = NULL;
	}
	if (st.err)
		return st.err;
	if (out->status != SG_SCRIPT_OK) {
		char msg[700];
		if (out->line)
			snprintf(msg, sizeof(msg), "%s: %s at line %d",
			         sg_script_status_name(out->status), out->error, out->line);
		else
			snprintf(msg, sizeof(msg), "%s: %s", sg_script_status_name(out->status),
			         out->error);
		sg_log_warn("script %s: %s", name, msg);
		err = sg_script_syslog(st.ctx, name, "error", msg);
		if (err)
			return err;
	}
	return SG_ERR_OK;
}
