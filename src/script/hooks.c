/*
 * hooks.c - what the layers below ask of the engine: advanced ACL scripts
 * for auth, javascript: values for the query compiler and the dictionary's
 * defaults (script.h, sg_script_install_hooks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/acl.h"
#include "duktape.h"
#include "model/model.h"
#include "query/query.h"
#include "core/log.h"
#include "script/script.h"

/* Runs nested in this thread: an ACL script may read through GlideRecordSecure,
 * whose ACLs may run scripts, whose queries may hold javascript: values. */
static _Thread_local int depth;
/* A javascript: value of a client is running in the sandbox (below). */
static _Thread_local bool sandboxed;

static bool too_deep(const char *what)
{
	if (depth < SG_SCRIPT_HOOK_DEPTH)
		return false;
	sg_log_warn("script: %s nested more than %d deep: not run", what, SG_SCRIPT_HOOK_DEPTH);
	return true;
}

static sg_err acl_script(struct sg_auth_session *s, const struct sg_acl_script *a, bool *answer)
{
	*answer = false;
	if (too_deep("ACL script"))
		return SG_ERR_OK;
	char name[300];
	snprintf(name, sizeof(name), "sys_security_acl:%s (%s)", a->acl_name, a->operation);
	json_t *values = json_pack("{s:n}", "answer");
	/* No record yet (a create's check): current is a new, empty record. */
	json_t *empty = a->rec ? NULL : json_object();
	if (!values || (!a->rec && !empty)) {
		json_decref(values);
		json_decref(empty);
		return SG_ERR_NOMEM;
	}
	struct sg_script_run r = {
	    .source = a->source,
	    .source_len = strlen(a->source),
	    .name = name,
	    .cache_key = a->cache_key,
	    .as = s,
	    .table = a->table->name,
	    .current = a->rec ? a->rec : empty,
	    .values = values,
	    .result_var = "answer",
	};
	struct sg_script_result res;
	bool was = sandboxed; /* an ACL is the instance's own script */
	sandboxed = false;
	depth++;
	sg_err err = sg_script_run(&r, &res);
	depth--;
	sandboxed = was;
	json_decref(values);
	json_decref(empty);
	if (!err && res.status == SG_SCRIPT_OK) {
		const char *v = json_string_value(res.value);
		*answer = json_is_true(res.value) || (v && !strcasecmp(v, "true"));
	}
	sg_script_result_cleanup(&res);
	return err;
}

/* A javascript: value's result as a query or a field takes it. */
static char *value_text(const json_t *v)
{
	char buf[64];
	if (!v || json_is_null(v))
		return strdup("");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_true(v) || json_is_false(v))
		return strdup(json_is_true(v) ? "true" : "false");
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == (double)(long long)d && d > -1e15 && d < 1e15)
			snprintf(buf, sizeof(buf), "%lld", (long long)d);
		else
			snprintf(buf, sizeof(buf), "%.17g", d);
		return strdup(buf);
	}
	if (json_is_array(v)) { /* getMyGroups(): the ids, comma-separated */
		size_t len = 0, i;
		json_t *e;
		char **parts = calloc(json_array_size(v) + 1, sizeof(*parts));
		if (!parts)
			return NULL;
		bool ok = true;
		json_array_foreach(v, i, e)
		{
			if (!(parts[i] = value_text(e)))
				ok = false;
			else
				len += strlen(parts[i]) + 1;
		}
		char *out = ok ? malloc(len + 1) : NULL;
		if (out) {
			out[0] = '\0';
			size_t at = 0;
			for (i = 0; i < json_array_size(v); i++) {
				size_t n = strlen(parts[i]);
				if (i)
					out[at++] = ',';
				memcpy(out + at, parts[i], n);
				at += n;
				out[at] = '\0';
			}
		}
		for (i = 0; i < json_array_size(v); i++)
			free(parts[i]);
		free(parts);
		return out;
	}
	char *text = json_dumps(v, JSON_COMPACT);
	return text;
}

/*
 * The script sandbox (glide.script.use.sandbox, default true): what a client
 * sends as a javascript: value runs with reduced rights -- its writes are
 * ignored (insert, update, deletes; properties, events, logs and messages),
 * its GlideRecord reads as GlideRecordSecure (the user's ACLs), and only
 * script includes marked client_callable resolve (and sn_ws is gone: no
 * outbound request from a client's value).  The system property
 * turned false runs such values as any script of the user.
 */
static const char SANDBOX_JS[] =
    "(function (g) {\n"
    "  var P = g.GlideRecord.prototype;\n"
    "  P.insert = P.update = function () { return null; };\n"
    "  P.deleteRecord = P.deleteMultiple = P.updateMultiple = function () { return false; };\n"
    "  g.GlideRecord = g.GlideRecordSecure;\n"
    "  g.sn_ws = undefined;\n" /* no outbound requests from a client's value */
    "  var quiet = function () {};\n"
    "  ['info', 'warn', 'error', 'debug', 'log', 'logWarning', 'logError', 'print',\n"
    "   'setProperty', 'eventQueue', 'addInfoMessage', 'addErrorMessage'].forEach(\n"
    "    function (m) { g.gs[m] = quiet; });\n"
    "})(this);";

static int bind_sandbox(duk_context *ctx, void *ud)
{
	(void)ud;
	return duk_peval_string(ctx, SANDBOX_JS) != 0 ? -1 : (duk_pop(ctx), 0);
}

/* Script includes in the sandbox: only the client-callable ones. */
static sg_err sandbox_resolver(struct sg_ctx *ctx, const char *name, char **source)
{
	sg_err err = sg_script_default_resolver(ctx, name, source);
	if (err || !*source || !sandboxed)
		return err;
	struct sg_query q;
	sg_query_init(&q);
	char enc[300];
	snprintf(enc, sizeof(enc), "active=true^client_callable=true^api_name=%s^ORname=%s", name,
	         name);
	json_t *rows = NULL;
	struct sg_list_opts lo = {.query = &q, .limit = 1};
	err = sg_query_parse(&q, enc) ? sg_rec_list(ctx, "sys_script_include", &lo, &rows, NULL)
	                              : SG_ERR_NOMEM;
	sg_query_cleanup(&q);
	if (err || !json_array_size(rows)) {
		if (!err)
			sg_log_warn("script: include %s is not client callable: not available to a "
			            "javascript: value",
			            name);
		free(*source);
		*source = NULL;
	}
	json_decref(rows);
	return err;
}

static sg_err value_script(struct sg_auth_session *s, const char *expr, bool client, char **out)
{
	*out = NULL;
	if (too_deep("javascript: value"))
		return SG_ERR_OK;
	bool sandbox = false;
	sg_err perr =
	    client ? sg_prop_bool(s->ctx, "glide.script.use.sandbox", true, &sandbox) : SG_ERR_OK;
	if (perr)
		return perr;
	/* The same text compiles to the same bytecode: cached by its text. */
	char key[600];
	int n = snprintf(key, sizeof(key), "javascript:%s", expr);
	struct sg_script_run r = {
	    .source = expr,
	    .source_len = strlen(expr),
	    .name = "javascript value",
	    .cache_key = (n > 0 && (size_t)n < sizeof(key)) ? key : NULL,
	    .as = s,
	    .bind = sandbox ? bind_sandbox : NULL,
	};
	struct sg_script_result res;
	bool was = sandboxed;
	sandboxed = sandbox;
	depth++;
	sg_err err = sg_script_run(&r, &res);
	depth--;
	sandboxed = was;
	if (!err && res.status == SG_SCRIPT_OK && !(*out = value_text(res.value)))
		err = SG_ERR_NOMEM;
	sg_script_result_cleanup(&res);
	return err;
}

void sg_script_install_hooks(void)
{
	sg_auth_set_script_hooks(acl_script, value_script);
	sg_script_set_resolver(sandbox_resolver);
}

void sg_script_remove_hooks(void)
{
	sg_auth_set_script_hooks(NULL, NULL);
	sg_script_set_resolver(NULL);
}
