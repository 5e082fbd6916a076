/*
 * kv.h - name/value pairs: query arguments, headers, form fields.
 */
#ifndef SG_CORE_KV_H
#define SG_CORE_KV_H

#include <stddef.h>

struct sg_kv {
	char *name;
	char *value;
};

/*
 * Splits an application/x-www-form-urlencoded body of len bytes into at most
 * max fields (pairs without '=' are skipped), percent-decoded.  The names and
 * values point into the returned copy of body, which the caller frees; NULL
 * (and *n 0) on allocation failure.
 */
char *sg_form_parse(const char *body, size_t len, struct sg_kv *fields, size_t max, size_t *n);

#endif
