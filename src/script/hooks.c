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
#include "core/log.h"
#include "script/script.h"

/* Runs nested in this thread: an ACL script may read through GlideRecordSecure,
 * whose ACLs may run scripts, whose queries may hold javascript: values. */
static _Thread_local int depth;

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
	depth++;
	sg_err err = sg_script_run(&r, &res);
	depth--;
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

static sg_err value_script(struct sg_auth_session *s, const char *expr, char **out)
{
	*out = NULL;
	if (too_deep("javascript: value"))
		return SG_ERR_OK;
	/* The same text compiles to the same bytecode: cached by its text. */
	char key[600];
	int n = snprintf(key, sizeof(key), "javascript:%s", expr);
	struct sg_script_run r = {
	    .source = expr,
	    .source_len = strlen(expr),
	    .name = "javascript value",
	    .cache_key = (n > 0 && (size_t)n < sizeof(key)) ? key : NULL,
	    .as = s,
	};
	struct sg_script_result res;
	depth++;
	sg_err err = sg_script_run(&r, &res);
	depth--;
	if (!err && res.status == SG_SCRIPT_OK && !(*out = value_text(res.value)))
		err = SG_ERR_NOMEM;
	sg_script_result_cleanup(&res);
	return err;
}

void sg_script_install_hooks(void)
{
	sg_auth_set_script_hooks(acl_script, value_script);
}

void sg_script_remove_hooks(void)
{
	sg_auth_set_script_hooks(NULL, NULL);
}
