/*
 * libFuzzer target for api/xml.c: the XML reader of request bodies, the
 * JSON -> XML writer of answers and Accept negotiation.  Any input must be
 * read or refused without a crash or a leak.  What the reader accepts is a
 * record (an object or an array) whose JSON the writer converts, and the
 * writer's XML reads back (unless past one of the reader's limits).  Input
 * that strict JSON reads as an object no deeper than the writer's limit
 * must convert, and its XML must read back likewise.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/xml.h"
#include "core/json.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t depth_of(const json_t *v)
{
	size_t d = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			size_t md = depth_of(m);
			d = md > d ? md : d;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *m;
		json_array_foreach(v, i, m)
		{
			size_t md = depth_of(m);
			d = md > d ? md : d;
		}
		return d + 1;
	}
	return 0;
}

/* The writer's XML for json text must be a document the reader accepts,
 * or refuses only for its nesting. */
static void reads_back(const char *json, size_t len, bool must_convert)
{
	struct sg_buf b;
	sg_buf_init(&b, 16u << 20);
	bool ok = sg_xml_write(&b, json, len);
	if (!ok && must_convert && !sg_buf_failed(&b)) {
		fprintf(stderr, "valid JSON object not converted: %.*s\n", (int)len, json);
		abort();
	}
	if (ok) {
		json_t *back;
		const char *why;
		sg_err err = sg_xml_parse(b.data, b.len, &back, &why);
		if (err == SG_ERR_OK) {
			if (!json_is_object(back) && !json_is_string(back))
				abort();
			json_decref(back);
		} else if (err != SG_ERR_NOMEM && !strstr(why, "nested too deeply") &&
		           !strstr(why, "name that is too long") &&
		           !strstr(why, "too many elements")) {
			fprintf(stderr, "writer output refused (%s): %s\n", why, b.data);
			abort();
		}
	}
	sg_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	if (!text)
		return 0;
	sg_json_init();

	/* Accept and Content-Type values */
	const char *type = NULL;
	enum sg_xml_format f = sg_xml_negotiate(text, &type);
	if (!type || f > SG_FMT_NONE)
		abort();
	(void)sg_xml_is_xml_type(text);

	/* the reader, then the writer on what it read */
	json_t *rec = NULL;
	const char *why = NULL;
	sg_err err = sg_xml_parse_body(text, size, &rec, &why);
	if (err == SG_ERR_OK) {
		if (!json_is_object(rec) && !json_is_array(rec))
			abort();
		json_t *wrapped = json_pack("{s:O}", "result", rec);
		char *json = wrapped ? json_dumps(wrapped, JSON_COMPACT) : NULL;
		if (json)
			reads_back(json, strlen(json), true);
		free(json);
		json_decref(wrapped);
		json_decref(rec);
	} else if (err == SG_ERR_BAD_XML) {
		if (!why || rec)
			abort();
	} else if (err != SG_ERR_NOMEM) {
		abort();
	}

	/* the writer on the input as JSON text */
	json_error_t jerr;
	json_t *j = json_loadb(text, size, 0, &jerr);
	/* (jansson's buffer reader stops at a NUL; the writer refuses one) */
	bool must = j && json_is_object(j) && depth_of(j) <= SG_XML_MAX_JSON_DEPTH &&
	            !memchr(text, '\0', size);
	reads_back(text, size, must);
	json_decref(j);
	free(text);
	return 0;
}
