/*
 * multipart.h - an incremental multipart/form-data parser (RFC 7578 over
 * RFC 2046): the body is fed in pieces as it arrives and a file part's
 * content is handed on as it goes, so a part of any size needs no more
 * memory than the parser itself.
 *
 * Form fields (parts without a filename) are collected whole, up to
 * SG_MP_FIELD_MAX bytes each; a part with a filename is a file, passed to
 * on_file_data.  Part headers are limited to SG_MP_HEADER_MAX bytes.  Any
 * violation (no boundary, headers too long, a body that ends before the
 * closing delimiter...) is SG_ERR_BAD_PARAM with the reason in *why.
 */
#ifndef SG_API_MULTIPART_H
#define SG_API_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define SG_MP_BOUNDARY_MAX 70 /* RFC 2046 */
#define SG_MP_HEADER_MAX   8192
#define SG_MP_FIELD_MAX    4096
#define SG_MP_NAME_MAX     256

struct sg_multipart_cb {
	void *ud;
	/* A form field, whole (value NUL-terminated, may hold NULs: len). */
	sg_err (*on_field)(void *ud, const char *name, const char *value, size_t len);
	/* A file part begins: its field name, file name and Content-Type ("" when absent). */
	sg_err (*on_file_begin)(void *ud, const char *name, const char *filename,
	                        const char *content_type);
	sg_err (*on_file_data)(void *ud, const char *data, size_t len);
	sg_err (*on_file_end)(void *ud);
};

enum sg_mp_state { SG_MP_PREAMBLE, SG_MP_AFTER_DELIM, SG_MP_HEADERS, SG_MP_BODY, SG_MP_DONE };

struct sg_multipart {
	struct sg_multipart_cb cb;
	char delim[SG_MP_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
	size_t dlen;
	size_t match; /* bytes of delim matched so far (held back) */
	enum sg_mp_state state;
	char after[2]; /* the two bytes after a delimiter: "--" or CRLF */
	size_t nafter;
	bool ws; /* skipping transport padding after a delimiter */
	char head[SG_MP_HEADER_MAX + 1];
	size_t hlen;
	bool is_file;
	char name[SG_MP_NAME_MAX];
	char field[SG_MP_FIELD_MAX + 1];
	size_t flen;
	const char *why; /* the reason of the first error (static text) */
	bool failed;
};

/* Prepares mp for a body of Content-Type content_type (its boundary
 * parameter).  SG_ERR_BAD_PARAM when it is not multipart/form-data with a
 * valid boundary. */
sg_err sg_multipart_init(struct sg_multipart *mp, const char *content_type,
                         const struct sg_multipart_cb *cb);
/* Feeds the next len bytes.  An error (the parser's or a callback's) is
 * sticky: later calls return SG_ERR_BAD_PARAM. */
sg_err sg_multipart_feed(struct sg_multipart *mp, const char *data, size_t len);
/* The body ended: SG_ERR_BAD_PARAM unless the closing delimiter was seen. */
sg_err sg_multipart_finish(struct sg_multipart *mp);

#endif
