/*
 * libFuzzer target for the form parser that reads /oauth_token.do and
 * revocation bodies (sg_form_parse).  Any input must split without a crash
 * or a leak; every name and value must lie inside the returned copy, no
 * longer than its encoded form, and there must be exactly one field per
 * '&'-separated pair holding an '=', up to the caller's maximum.  The
 * first byte of the input chooses that maximum.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kv.h"

#define MAX_FIELDS 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The pairs holding an '=' in the first len bytes of s (up to a NUL). */
static size_t expected_pairs(const char *s, size_t len)
{
	size_t pairs = 0;
	bool eq = false;
	for (size_t i = 0; i < len && s[i]; i++) {
		if (s[i] == '&') {
			pairs += eq;
			eq = false;
		} else if (s[i] == '=') {
			eq = true;
		}
	}
	return pairs + eq;
}

/* Whether p points at a string that starts and ends inside [base, base + len]. */
static bool inside(const char *p, const char *base, size_t len)
{
	return p >= base && p <= base + len && strlen(p) <= (size_t)(base + len - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 64 * 1024)
		return 0;
	size_t max = data[0] % (MAX_FIELDS + 1);
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct sg_kv fields[MAX_FIELDS];
	size_t n = 99;
	char *copy = sg_form_parse(body, len, fields, max, &n);
	if (!copy) {
		if (n != 0)
			abort();
		return 0;
	}
	size_t want = expected_pairs(body, len);
	if (n != (want < max ? want : max)) {
		fprintf(stderr, "%zu fields, expected %zu (max %zu)\n", n, want, max);
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		if (!inside(fields[i].name, copy, len) || !inside(fields[i].value, copy, len) ||
		    fields[i].value <= fields[i].name) {
			fprintf(stderr, "field %zu lies outside the parsed copy\n", i);
			abort();
		}
	}
	free(copy);
	return 0;
}
