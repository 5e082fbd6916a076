/*
 * json.h - jansson helpers: the lenient request-body parser and accessors.
 */
#ifndef SG_CORE_JSON_H
#define SG_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/*
 * Routes jansson's allocations through this module, so that a parse can tell
 * when memory ran out: jansson's lexer drops a character it cannot save and
 * goes on, which would read {"a":"bc"} as {"a":"b"}.  Call once at start,
 * before other threads use jansson (sg_json_parse_body calls it too).
 */
void sg_json_init(void);

/*
 * Parses a request body.  ServiceNow's own documentation sends
 * single-quoted pseudo-JSON ({'short_description':'x'}), and the platform
 * accepts it, so a body that is not strict JSON is retried with single
 * quotes read as string delimiters.  Returns a new reference, or NULL when
 * the body is not JSON either way (or memory ran out: see sg_json_parse_body).
 */
json_t *sg_json_parse_lenient(const char *text, size_t len);

/* The same, telling the two failures apart: *out gets a new reference, or
 * NULL with SG_ERR_BAD_JSON (not JSON either way) or SG_ERR_NOMEM. */
sg_err sg_json_parse_body(const char *text, size_t len, json_t **out);

/* A JSON string of s, whose invalid UTF-8 bytes (which jansson refuses)
 * are each replaced by U+FFFD.  New reference; NULL when memory ran out. */
json_t *sg_json_string_lossy(const char *s);

/* The string at key, or NULL when absent or not a string. Borrowed. */
const char *sg_json_str(const json_t *obj, const char *key);

/*
 * The value at key as a ServiceNow field string: strings as they are,
 * numbers and booleans as their text, null as "".  Writes into scratch for
 * non-strings.  Returns NULL for objects/arrays or a missing key.
 */
const char *sg_json_field_text(const json_t *v, char *scratch, size_t scratch_size);

#endif
