/*
 * json.c - lenient JSON parsing and small accessors.
 */
#include "core/json.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/util.h"

/* jansson's allocations this thread could not make. */
static _Thread_local unsigned long alloc_failures;

static void *json_alloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		alloc_failures++;
	return p;
}

static void json_release(void *p)
{
	free(p);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void install(void)
{
	json_set_alloc_funcs(json_alloc, json_release);
}

void sg_json_init(void)
{
	pthread_once(&init_once, install);
}

/*
 * Rewrites single-quoted strings as double-quoted ones, escaping any double
 * quote inside them; double-quoted strings pass through untouched.
 */
static char *requote(const char *text, size_t len)
{
	struct sg_buf b;
	sg_buf_init(&b, len * 2 + 16);
	char quote = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (!quote) {
			if (c == '\'') {
				quote = '\'';
				sg_buf_putc(&b, '"');
				continue;
			}
			if (c == '"')
				quote = '"';
			sg_buf_putc(&b, c);
			continue;
		}
		if (c == '\\' && i + 1 < len) {
			if (quote == '\'' && text[i + 1] == '\'') {
				sg_buf_putc(&b, '\'');
			} else {
				sg_buf_putc(&b, c);
				sg_buf_putc(&b, text[i + 1]);
			}
			i++;
			continue;
		}
		if (c == quote) {
			quote = 0;
			sg_buf_putc(&b, '"');
			continue;
		}
		if (quote == '\'' && c == '"') {
			sg_buf_puts(&b, "\\\"");
			continue;
		}
		sg_buf_putc(&b, c);
	}
	return sg_buf_steal(&b);
}

/* The parse's outcome: out of memory when any of jansson's allocations
 * failed since failures_before, whatever jansson made of the text then. */
static sg_err parsed(json_t **out, unsigned long failures_before, sg_err otherwise)
{
	if (alloc_failures == failures_before)
		return *out ? SG_ERR_OK : otherwise;
	json_decref(*out);
	*out = NULL;
	return SG_ERR_NOMEM;
}

sg_err sg_json_parse_body(const char *text, size_t len, json_t **out)
{
	sg_json_init();
	unsigned long before = alloc_failures;
	json_error_t jerr;
	/* No JSON_ALLOW_NUL: a string holding \u0000 would reach every C
	 * string of the program cut at the NUL ("a\u0000b" stored as "a"); it
	 * is refused instead. */
	*out = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
	if (*out || alloc_failures != before)
		return parsed(out, before, SG_ERR_OK);
	if (json_error_code(&jerr) == json_error_out_of_memory)
		return SG_ERR_NOMEM;
	if (json_error_code(&jerr) == json_error_null_character)
		return SG_ERR_BAD_JSON_NUL;
	if (!memchr(text, '\'', len))
		return SG_ERR_BAD_JSON;
	char *fixed = requote(text, len);
	if (!fixed)
		return SG_ERR_NOMEM;
	*out = json_loads(fixed, JSON_DECODE_ANY, &jerr);
	free(fixed);
	enum json_error_code code = json_error_code(&jerr);
	return parsed(out, before,
	              code == json_error_out_of_memory    ? SG_ERR_NOMEM
	              : code == json_error_null_character ? SG_ERR_BAD_JSON_NUL
	                                                  : SG_ERR_BAD_JSON);
}

json_t *sg_json_string_lossy(const char *s)
{
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t k = sg_utf8_decode((const unsigned char *)s + i, n - i, NULL);
		if (!k)
			break;
		i += k;
	}
	if (i == n)
		return json_stringn(s, n);
	struct sg_buf b;
	sg_buf_init(&b, n * 3 + 1);
	sg_buf_append(&b, s, i);
	while (i < n) {
		size_t k = sg_utf8_decode((const unsigned char *)s + i, n - i, NULL);
		if (k) {
			sg_buf_append(&b, s + i, k);
			i += k;
		} else {
			sg_buf_puts(&b, "\xEF\xBF\xBD"); /* U+FFFD for the byte */
			i++;
		}
	}
	json_t *v = sg_buf_failed(&b) ? NULL : json_stringn(sg_buf_str(&b), b.len);
	sg_buf_cleanup(&b);
	return v;
}

json_t *sg_json_parse_lenient(const char *text, size_t len)
{
	json_t *v;
	sg_json_parse_body(text, len, &v);
	return v;
}

const char *sg_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

const char *sg_json_field_text(const json_t *v, char *scratch, size_t scratch_size)
{
	if (!v)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_value(v);
	case JSON_INTEGER:
		snprintf(scratch, scratch_size, "%lld", (long long)json_integer_value(v));
		return scratch;
	case JSON_REAL:
		snprintf(scratch, scratch_size, "%.15g", json_real_value(v));
		return scratch;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_NULL:
		return "";
	default:
		return NULL;
	}
}
