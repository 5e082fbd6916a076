/*
 * libFuzzer target for the lenient JSON body parser, which reads every
 * Table API request body (sg_json_parse_lenient).  Any input must parse or
 * be refused without a crash or a leak; whatever it accepts must be a value
 * that strict JSON writes and reads back unchanged, and a body strict JSON
 * already accepts must parse to the same value (a string holding \u0000 is
 * refused, never cut at the NUL).  Each member is also read as
 * a field value, as a write does.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every member of an object as the record layer does: a string is
 * itself, a scalar its text in scratch, an object or array no value. */
static void read_fields(const json_t *obj)
{
	const char *key;
	json_t *v;
	char scratch[64];
	json_object_foreach((json_t *)obj, key, v)
	{
		const char *text = sg_json_field_text(v, scratch, sizeof(scratch));
		bool ok;
		if (json_is_string(v))
			ok = text == json_string_value(v) && sg_json_str(obj, key) == text;
		else if (json_is_object(v) || json_is_array(v))
			ok = text == NULL;
		else
			ok = text && (text != scratch || memchr(scratch, '\0', sizeof(scratch)));
		if (!ok) {
			fprintf(stderr, "field %s read wrongly\n", key);
			abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return 0;
	const char *text = (const char *)data;
	json_t *v = sg_json_parse_lenient(text, size);
	json_error_t jerr;
	/* Strict JSON without \u0000, which the parser refuses (issue 12). */
	json_t *strict = json_loadb(text, size, JSON_DECODE_ANY, &jerr);
	char *dump = NULL;
	json_t *again = NULL;
	if (strict && (!v || !json_equal(strict, v))) {
		fprintf(stderr, "strict JSON parsed differently by the lenient parser\n");
		abort();
	}
	if (!v)
		goto out;
	if (json_is_object(v))
		read_fields(v);
	if (json_is_array(v) && json_is_object(json_array_get(v, 0)))
		read_fields(json_array_get(v, 0));
	dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!dump)
		goto out;
	again = json_loads(dump, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!again || !json_equal(again, v)) {
		fprintf(stderr, "accepted value does not survive a round trip: %s\n", dump);
		abort();
	}
out:
	json_decref(again);
	free(dump);
	json_decref(strict);
	json_decref(v);
	return 0;
}
