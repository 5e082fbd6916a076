/*
 * libFuzzer target for the incremental multipart/form-data parser
 * (api/multipart.c).  The first byte chooses the size of the pieces the rest
 * (the body, under boundary "B") is fed in.  Any input must parse without a
 * crash or a leak, and to the same result fed whole and in pieces: the same
 * verdict, fields, file names and file bytes, which never outnumber the
 * body's.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	char log[4096]; /* fields and file names, in order, cut to size */
	size_t log_len;
	unsigned char *file; /* every file byte, in order */
	size_t file_len, cap;
};

static void note(struct seen *s, const char *a, size_t n)
{
	if (n > sizeof(s->log) - s->log_len)
		n = sizeof(s->log) - s->log_len;
	memcpy(s->log + s->log_len, a, n);
	s->log_len += n;
}

static sg_err on_field(void *ud, const char *name, const char *value, size_t len)
{
	note(ud, name, strlen(name));
	note(ud, "=", 1);
	note(ud, value, len);
	note(ud, "\n", 1);
	return SG_ERR_OK;
}

static sg_err on_file_begin(void *ud, const char *name, const char *filename, const char *type)
{
	note(ud, name, strlen(name));
	note(ud, filename, strlen(filename));
	note(ud, type, strlen(type));
	note(ud, "\n", 1);
	return SG_ERR_OK;
}

static sg_err on_file_data(void *ud, const char *data, size_t len)
{
	struct seen *s = ud;
	if (len > s->cap - s->file_len)
		abort(); /* more file bytes than the body holds */
	memcpy(s->file + s->file_len, data, len);
	s->file_len += len;
	return SG_ERR_OK;
}

static sg_err on_file_end(void *ud)
{
	note(ud, "<end>\n", 6);
	return SG_ERR_OK;
}

static sg_err run(const char *body, size_t len, size_t step, struct seen *s)
{
	static struct sg_multipart mp;
	struct sg_multipart_cb cb = {s, on_field, on_file_begin, on_file_data, on_file_end};
	sg_err err = sg_multipart_init(&mp, "multipart/form-data; boundary=B", &cb);
	for (size_t i = 0; !err && i < len;) {
		size_t n = step < len - i ? step : len - i;
		err = sg_multipart_feed(&mp, body + i, n);
		i += n;
	}
	return err ? err : sg_multipart_finish(&mp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = 1 + data[0] % 16;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	struct seen whole = {.cap = len}, pieces = {.cap = len};
	whole.file = malloc(len + 1);
	pieces.file = malloc(len + 1);
	if (!whole.file || !pieces.file)
		abort();
	sg_err a = run(body, len, len ? len : 1, &whole);
	sg_err b = run(body, len, step, &pieces);
	/* a failed parse may stop at different points; a good one is the same */
	if ((a == SG_ERR_OK) != (b == SG_ERR_OK))
		abort();
	if (a == SG_ERR_OK &&
	    (whole.log_len != pieces.log_len || memcmp(whole.log, pieces.log, whole.log_len) ||
	     whole.file_len != pieces.file_len || memcmp(whole.file, pieces.file, whole.file_len)))
		abort();
	free(whole.file);
	free(pieces.file);
	return 0;
}
