/*
 * internal.h - what script.c and glide.c share: one run's state, the heap's
 * user data (duk_get_memory_functions gives it back to natives).
 */
#ifndef SG_SCRIPT_INTERNAL_H
#define SG_SCRIPT_INTERNAL_H

#include <stdint.h>

#include "duktape.h"
#include "script/script.h"

struct sg__script_state {
	/* The counting allocator. */
	size_t used, limit;
	bool oom;     /* an allocation was refused for the limit (sticky) */
	bool sys_oom; /* the process's malloc failed (sticky: the run answers NOMEM) */
	/* The execution-time check. */
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	bool timed_out;
	/* The run. */
	const struct sg_script_run *run;
	struct sg_script_result *res;
	struct sg_auth_session *as;
	struct sg_ctx *ctx;
	sg_err err;          /* a platform failure inside a native: ends the run */
	size_t output_bytes; /* of res->output */
	int resolve_depth;
	json_t *resolved; /* names the resolver was asked: name -> true */
};

/* The state of the run ctx belongs to. */
struct sg__script_state *sg__script_state(duk_context *ctx);

/* Pushes the natives object N of prelude.js (glide.c). */
void sg__glide_push_natives(duk_context *ctx);

/* Adds sn_ws's natives (restLoad, restExecute, restEnqueue, restWait) to
 * the natives object at idx (restmsg.c). */
void sg__restmsg_push_natives(duk_context *ctx, duk_idx_t natives);

/* The proxy trap that resolves unknown globals (glide.c). */
duk_ret_t sg__glide_global_has(duk_context *ctx);

/* Appends a line to the run's output ("*** Script: msg"), within limits. */
void sg__script_output(struct sg__script_state *st, const char *line);

/* Throws a platform failure (err kept in the state; the run answers
 * SG_SCRIPT_FAILED). Does not return. */
duk_ret_t sg__script_fail(duk_context *ctx, sg_err err);

/* prelude.js as text (prelude.c). */
extern const char sg__script_prelude[];

#endif
