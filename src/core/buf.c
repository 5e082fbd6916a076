/*
 * buf.c - growable buffer with a maximum and a sticky error.
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sg_buf_init(struct sg_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void sg_buf_cleanup(struct sg_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void sg_buf_reset(struct sg_buf *b)
{
	b->len = 0;
	b->failed = false;
	b->too_large = false;
	if (b->data)
		b->data[0] = '\0';
}

static void fail(struct sg_buf *b, bool too_large)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = true;
	b->too_large = too_large;
}

void sg_buf_set_failed(struct sg_buf *b)
{
	if (!b->failed)
		fail(b, false);
}

static bool reserve(struct sg_buf *b, size_t extra)
{
	if (b->failed)
		return false;
	if (extra > b->max || b->len > b->max - extra) {
		fail(b, true);
		return false;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		fail(b, false);
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

void sg_buf_append_grow(struct sg_buf *b, const void *data, size_t len)
{
	if (!reserve(b, len))
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		fail(b, false);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sg_buf_append(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sg_buf_put_urlenc(struct sg_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			sg_buf_putc(b, (char)c);
		} else {
			char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
			sg_buf_append(b, enc, 3);
		}
	}
}

const char *sg_buf_str(const struct sg_buf *b)
{
	return b->data ? b->data : "";
}

char *sg_buf_steal(struct sg_buf *b)
{
	if (b->failed)
		return NULL;
	char *out = b->data;
	if (!out)
		out = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return out;
}
