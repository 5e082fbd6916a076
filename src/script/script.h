/*
 * script.h - server-side JavaScript, as ServiceNow runs it.
 *
 * The engine is Duktape (ES5.1, the dialect of ServiceNow's global
 * scripts), compiled into the library with our configuration
 * (src/script/duk_config.h).  The script API is ServiceNow's subset the
 * integrations use: GlideRecord, GlideRecordSecure, GlideElement,
 * GlideAggregate, gs, GlideDateTime, GlideDuration, JSON, Class.create and
 * Object.extendsObject (prelude.js holds the JavaScript half, script.c and
 * glide.c the native half).
 *
 * Threads.  Every run has a heap of its own, made for it and destroyed
 * after it: nothing of one script is seen by another, a heap that ran out
 * of time or memory is simply discarded, and any thread (nowd's pool) may
 * run scripts at once with no lock but the compiled-script cache's.  What
 * is shared between runs is that cache: compiled bytecode by the caller's
 * cache key (a record and its version: "sys_script/<sys_id>/<sys_mod_count>"),
 * at most SG_SCRIPT_CACHE_MAX entries, the oldest dropped first.
 *
 * Limits (system properties, read at every run):
 *   snowglobe.script.timeout_ms     wall time of one run   [5000; 10..600000]
 *   snowglobe.script.max_memory_mb  bytes the heap holds   [64; 1..4096]
 * Exceeding either throws inside the script (uncatchable in practice: every
 * later check fails too), and the run answers SG_SCRIPT_TIMEOUT or
 * SG_SCRIPT_MEMORY; the error goes to the nowd log and to syslog.  The
 * process is never affected.
 *
 * Access.  A run acts as the user of its auth session.  GlideRecord reads
 * and writes as the system (no ACL), but through that session's model
 * context, so the write pipeline (numbering, audit, journal, rules) runs and
 * sys_created_by/sys_updated_by name the user, as on ServiceNow;
 * GlideRecordSecure checks every read and write with the same auth
 * functions the Table API uses.  Secret fields (password, password2) are
 * never given to scripts: they read as "".  Nothing reaches files,
 * processes or the network: Duktape binds none, and we add none.
 */
#ifndef SG_SCRIPT_SCRIPT_H
#define SG_SCRIPT_SCRIPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "core/err.h"

#define SG_SCRIPT_CACHE_MAX    256
#define SG_SCRIPT_TIMEOUT_MS   5000LL /* snowglobe.script.timeout_ms */
#define SG_SCRIPT_MEMORY_MB    64LL   /* snowglobe.script.max_memory_mb */
#define SG_SCRIPT_SOURCE_MAX   (1024 * 1024)
#define SG_SCRIPT_MESSAGES_MAX 1000    /* addInfoMessage, gs.print lines kept */
#define SG_SCRIPT_OUTPUT_MAX   1000000 /* bytes of gs.print/gs.info output kept */

enum sg_script_status {
	SG_SCRIPT_OK,
	SG_SCRIPT_SYNTAX,  /* did not compile: error, line */
	SG_SCRIPT_RUNTIME, /* threw: error (the message), line */
	SG_SCRIPT_TIMEOUT, /* ran past snowglobe.script.timeout_ms */
	SG_SCRIPT_MEMORY,  /* asked for more than snowglobe.script.max_memory_mb */
	SG_SCRIPT_FAILED,  /* the platform failed (store, out of memory): see the sg_err */
};

/* The Duktape context, for code that adds its own objects (duktape.h). */
typedef struct duk_hthread duk_context;

/*
 * A run.  Zero it, then set what applies.
 *
 * source, source_len   the script text (UTF-8).
 * name                 who the script is, for logs and syslog's source
 *                      ("sys_script:Set priority", "Background").
 * cache_key            compiled-bytecode cache key (record and version), or
 *                      NULL: compiled each time.
 * as                   the user the script acts as (its session and model
 *                      context); required.
 * table, current,      for scripts that have a record: current and previous
 * previous             become GlideRecords of table positioned on those raw
 *                      records (objects of field -> string, as sg_rec_get
 *                      gives).  previous NULL: a null `previous`.  What the
 *                      script sets on current is in result.current.
 * values               named values: each member of this object becomes a
 *                      global of that name (JSON types), e.g. {"answer": null}.
 * result_var           the global to answer (ACL scripts: "answer"); when the
 *                      script leaves it null or undefined, or result_var is
 *                      NULL: the value of the last expression statement.
 * bind, bind_ud        called once the API is in place, before the script:
 *                      adds custom globals (Scripted REST's request/response)
 *                      with the Duktape API; return non-zero to fail the run
 *                      (SG_SCRIPT_FAILED, SG_ERR_INTERNAL).  It may keep
 *                      bind_ud in the objects it makes: the heap ends with the
 *                      run.
 */
struct sg_script_run {
	const char *source;
	size_t source_len;
	const char *name;
	const char *cache_key;
	struct sg_auth_session *as;
	const char *table;
	json_t *current;
	json_t *previous;
	json_t *values;
	const char *result_var;
	int (*bind)(duk_context *ctx, void *ud);
	void *bind_ud;
};

/*
 * What a run gave.  Free with sg_script_result_cleanup.
 *
 * value      the result (result_var's value, or the last expression's) as
 *            JSON: strings, numbers, booleans, null, arrays and plain
 *            objects; a GlideElement or other object with toString as its
 *            string; undefined as null.  NULL when the run failed.
 * messages   addInfoMessage / addErrorMessage: [{"type": "info"|"error",
 *            "message": "..."}], in order.
 * output     gs.print, gs.info, gs.warn, gs.error, gs.debug and gs.log lines
 *            as "*** Script: <message>" (Scripts - Background's form).
 * current    the fields the script set on current: field -> string (NULL
 *            when no current was bound).
 * abort      current.setAbortAction(true) was called.
 * error      the message of a SYNTAX, RUNTIME, TIMEOUT or MEMORY failure;
 *            line its line (0 when unknown).
 */
struct sg_script_result {
	enum sg_script_status status;
	json_t *value;
	json_t *messages;
	json_t *output;
	json_t *current;
	bool abort;
	char error[512];
	int line;
	long long elapsed_ms;
};

/*
 * Runs r.  SG_ERR_OK when the script ran to its end or stopped in a way
 * out->status names (a script's own error is not the caller's: it is
 * logged to syslog and the nowd log, and answered in out); an sg_err when
 * the platform failed (out of memory, the store), with out->status
 * SG_SCRIPT_FAILED.  out is always initialised.
 */
sg_err sg_script_run(const struct sg_script_run *r, struct sg_script_result *out);
void sg_script_result_cleanup(struct sg_script_result *res);

/*
 * The result as the background-script endpoint answers it (a new object,
 * NULL when memory ran out): {"status": "ok" | "syntax error" | ..., "output":
 * [...], "messages": [...], "result": value, "error": "...", "line": n,
 * "elapsed_ms": n}; error and line only when the run failed.
 */
json_t *sg_script_result_json(const struct sg_script_result *res);

/* The status's name for messages: "syntax error", "timeout", ... */
const char *sg_script_status_name(enum sg_script_status s);

/*
 * Resolving an unknown global.  When a script names a global nothing
 * defines, the resolver is asked for the source of that name; the source
 * is evaluated in the same heap (it should define the name, as a script
 * include does) and the lookup retried.  The default resolver reads the
 * active sys_script_include whose api_name or name is the name (as the
 * system), when that table exists.  sg_script_set_resolver replaces it for
 * the whole process (NULL restores the default); call before threads run
 * scripts.  *source: new string (free()), or NULL when the name is unknown.
 */
typedef sg_err (*sg_script_resolver)(struct sg_ctx *ctx, const char *name, char **source);
void sg_script_set_resolver(sg_script_resolver fn);
sg_err sg_script_default_resolver(struct sg_ctx *ctx, const char *name, char **source);

/*
 * Writes a syslog row (source, level: "info", "warning", "error", "debug")
 * through the record layer, as the system, in ctx's model.  Used by gs.* and
 * for the errors of runs.  Messages are cut at 4000 bytes.
 */
sg_err sg_script_syslog(struct sg_ctx *ctx, const char *source, const char *level,
                        const char *message);

/*
 * Installs the script layer's hooks into auth (sg_auth_set_script_hooks):
 * advanced ACL scripts, and javascript: values in queries and dictionary
 * defaults beyond the built-in helpers (hooks.c).  Call once at start-up,
 * before threads run; sg_script_remove_hooks undoes it (tests).
 *
 * An ACL script runs as the session's user with `current` (the record, a
 * GlideRecord of its table; a new empty one for a check before any row) and
 * `answer` (null); it grants when answer, or else the value of its last
 * expression, is true (the boolean, or the string "true").  A javascript:
 * value runs as the user and gives its value as a string (an array joined
 * with commas, null as "").  Either one nested more than
 * SG_SCRIPT_HOOK_DEPTH deep (an ACL script reading through
 * GlideRecordSecure a table whose ACL runs a script...) fails: denied, no
 * value.
 */
#define SG_SCRIPT_HOOK_DEPTH 4
void sg_script_install_hooks(void);
void sg_script_remove_hooks(void);

/* Drops every cached compiled script (tests). */
void sg_script_cache_clear(void);

#endif
