/*
 * rest_cmd.c - nowctl rest test MESSAGE FUNCTION [--var NAME=VALUE]...:
 * the HTTP method's "Test" link.
 *
 * Like the UI's link, it sends the function with each variable's test value
 * (escaped when its escape type is "Escape text"), a --var replacing one
 * (not escaped, as typed); then prints the request as sent, credentials
 * masked, and the response: status, headers, body.  It runs as a
 * background script (sn_ws.RESTMessageV2), so it works offline (as the
 * system) and online (as --user, who needs admin with security_admin, as
 * for nowctl script run), and sends and logs exactly as a script does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "nowctl/commands.h"

#define MAX_VARS 200

static const char TEST_JS[] =
    "(function () {\n"
    "  var r = new sn_ws.RESTMessageV2(MSG, FN);\n"
    "  var fn = new GlideRecord('sys_rest_message_fn');\n"
    "  fn.addQuery('rest_message.name', MSG);\n"
    "  fn.addQuery('function_name', FN);\n"
    "  fn.query();\n"
    "  if (fn.next()) {\n"
    "    var d = new GlideRecord('sys_rest_message_fn_param_defs');\n"
    "    d.addQuery('rest_message_function', fn.getUniqueValue());\n"
    "    d.query();\n"
    "    while (d.next()) {\n"
    "      if (d.getValue('escape_type') === 'escape_text')\n"
    "        r.setStringParameter(d.getValue('name'), d.getValue('test_value') || '');\n"
    "      else\n"
    "        r.setStringParameterNoEscape(d.getValue('name'), d.getValue('test_value') || '');\n"
    "    }\n"
    "  }\n"
    "  for (var k in VARS)\n"
    "    r.setStringParameterNoEscape(k, VARS[k]);\n"
    "  var res = r.execute();\n"
    "  return {request: res._r.request, status: res.getStatusCode(),\n"
    "          headers: res.getHeaders(), body: res.getBody(),\n"
    "          error: res.haveError() ? res.getErrorMessage() : '',\n"
    "          error_code: res.getErrorCode()};\n"
    "})();\n";

static int usage(void)
{
	fputs("usage: nowctl rest test MESSAGE FUNCTION [--var NAME=VALUE]...\n", stderr);
	return 2;
}

int cmd_rest(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 3 || strcmp(argv[0], "test") != 0)
		return usage();
	json_t *vars = json_object();
	if (!vars)
		return 1;
	for (int i = 3; i < argc; i++) {
		const char *kv = NULL;
		if (!strcmp(argv[i], "--var") && i + 1 < argc)
			kv = argv[++i];
		else if (!strncmp(argv[i], "--var=", 6))
			kv = argv[i] + 6;
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv || json_object_size(vars) >= MAX_VARS) {
			json_decref(vars);
			return usage();
		}
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
		json_object_set_new(vars, name, json_string(eq + 1));
	}
	/* The names and values go in as JSON literals, never as script text. */
	json_t *msg = json_string(argv[1]), *fn = json_string(argv[2]);
	char *jm = msg ? json_dumps(msg, JSON_ENCODE_ANY) : NULL;
	char *jf = fn ? json_dumps(fn, JSON_ENCODE_ANY) : NULL;
	char *jv = json_dumps(vars, JSON_COMPACT);
	json_decref(msg);
	json_decref(fn);
	json_decref(vars);
	struct sg_buf src;
	sg_buf_init(&src, 1024 * 1024);
	if (jm && jf && jv)
		sg_buf_printf(&src, "var MSG = %s, FN = %s, VARS = %s;\n%s", jm, jf, jv, TEST_JS);
	free(jm);
	free(jf);
	free(jv);
	if (sg_buf_failed(&src) || !src.len) {
		sg_buf_cleanup(&src);
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	json_t *out = NULL;
	int rc = e->c->script(e->c, sg_buf_str(&src), src.len, &out);
	sg_buf_cleanup(&src);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	const char *status = json_string_value(json_object_get(out, "status"));
	json_t *r = json_object_get(out, "result");
	if (!status || strcmp(status, "ok") != 0 || !json_is_object(r)) {
		fprintf(stderr, "nowctl: rest test failed: %s\n",
		        json_string_value(json_object_get(out, "error"))
		            ? json_string_value(json_object_get(out, "error"))
		            : "no result");
		json_decref(out);
		return 1;
	}
	int code = 0;
	if (e->json) {
		char *text = json_dumps(r, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
	} else {
		const char *req = json_string_value(json_object_get(r, "request"));
		printf("--- request\n%s%s", req ? req : "", req && *req ? "\n" : "");
		json_int_t st = json_integer_value(json_object_get(r, "status"));
		if (json_is_real(json_object_get(r, "status")))
			st = (json_int_t)json_real_value(json_object_get(r, "status"));
		printf("--- response\nstatus: %lld\n", (long long)st);
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(r, "headers"), k, v)
		    printf("%s: %s\n", k, json_string_value(v) ? json_string_value(v) : "");
		const char *body = json_string_value(json_object_get(r, "body"));
		printf("\n%s\n", body ? body : "");
		const char *err = json_string_value(json_object_get(r, "error"));
		if (err && *err)
			fprintf(stderr, "nowctl: %s\n", err);
	}
	json_t *st = json_object_get(r, "status");
	double s = json_number_value(st);
	if (s == 0)
		code = 1; /* nothing answered */
	json_decref(out);
	return code;
}
