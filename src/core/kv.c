/*
 * kv.c - form-encoded bodies split into name/value pairs.
 */
#include "core/kv.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

char *sg_form_parse(const char *body, size_t len, struct sg_kv *fields, size_t max, size_t *n)
{
	char *copy = malloc(len + 1);
	*n = 0;
	if (!copy)
		return NULL;
	memcpy(copy, body, len);
	copy[len] = '\0';
	for (char *p = copy; p && *p && *n < max;) {
		char *amp = strchr(p, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(p, '=');
		if (eq) {
			*eq = '\0';
			sg_str_urldecode(p);
			sg_str_urldecode(eq + 1);
			fields[*n].name = p;
			fields[*n].value = eq + 1;
			(*n)++;
		}
		p = amp ? amp + 1 : NULL;
	}
	return copy;
}
