/*
 * buf.h - a growable byte buffer with a maximum and a sticky error.
 *
 * Append freely, check once: after any failed append (out of memory or over
 * the maximum set at init) the buffer stays failed, every later append is a
 * no-op, and sg_buf_failed() says so (curl's dynbuf, SQLite's mallocFailed).
 * The contents are always NUL-terminated while not failed.
 */
#ifndef SG_CORE_BUF_H
#define SG_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct sg_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* the most len may reach */
	bool failed;
	bool too_large; /* failed because of max, not memory */
};

/* Caller-owned storage; max is the largest length the buffer may reach. */
void sg_buf_init(struct sg_buf *b, size_t max);
void sg_buf_cleanup(struct sg_buf *b);
void sg_buf_reset(struct sg_buf *b);

/* Appends len bytes, growing the buffer (the rest of sg_buf_append). */
void sg_buf_append_grow(struct sg_buf *b, const void *data, size_t len);

/* Appends len bytes; inline while they fit, since the renderer appends a
 * few bytes at a time (and often none: an empty value). */
static inline void sg_buf_append(struct sg_buf *b, const void *data, size_t len)
{
	if (!len && b->data)
		return; /* already terminated; a failed buffer has no data */
	if (!b->failed && len && len < b->cap - b->len && len <= b->max - b->len) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
		b->data[b->len] = '\0';
		return;
	}
	sg_buf_append_grow(b, data, len);
}

static inline void sg_buf_puts(struct sg_buf *b, const char *s)
{
	sg_buf_append(b, s, strlen(s));
}

static inline void sg_buf_putc(struct sg_buf *b, char c)
{
	sg_buf_append(b, &c, 1);
}
void sg_buf_printf(struct sg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s percent-encoded for a URL query component. */
void sg_buf_put_urlenc(struct sg_buf *b, const char *s);

/* Marks b failed (out of memory), as a failed append would: a builder that
 * used a scratch buffer carries its failure into b. */
void sg_buf_set_failed(struct sg_buf *b);

static inline bool sg_buf_failed(const struct sg_buf *b)
{
	return b->failed;
}

/* The contents ("" when empty); borrowed, valid until the next append. */
const char *sg_buf_str(const struct sg_buf *b);

/*
 * Hands the contents to the caller, who frees them; the buffer is left
 * empty.  Returns NULL if the buffer failed.
 */
char *sg_buf_steal(struct sg_buf *b);

#endif
