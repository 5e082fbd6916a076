/*
 * multipart.c - multipart/form-data, parsed as it arrives (multipart.h).
 *
 * The delimiter is "\r\n--" boundary; the body is treated as if it began
 * with "\r\n", so a first boundary at the very start matches.  Bytes that
 * might begin a delimiter are held back until they prove not to; since a
 * boundary holds no CR, a CR only ever starts a delimiter, and held-back
 * bytes are always a prefix of it (re-emitted from the delimiter itself).
 */
#include "api/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static sg_err fail(struct sg_multipart *mp, const char *why)
{
	if (!mp->failed) {
		mp->failed = true;
		mp->why = why;
	}
	return SG_ERR_BAD_PARAM;
}

/* RFC 2046 bchars, space included (not last). */
static bool bchar(char c)
{
	return isalnum((unsigned char)c) || (c && strchr("'()+_,-./:=? ", c));
}

/*
 * The value of parameter name in a header value ("form-data; name=\"x\"")
 * into out (cut to size); false when absent.  Quoted values may escape
 * with a backslash.
 */
static bool param(const char *v, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *p = strchr(v, ';');
	while (p) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!strncasecmp(p, name, nlen)) {
			const char *q = p + nlen;
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=') {
				q++;
				while (*q == ' ' || *q == '\t')
					q++;
				size_t n = 0;
				if (*q == '"') {
					for (q++; *q && *q != '"'; q++) {
						if (*q == '\\' && q[1])
							q++;
						if (n + 1 < size)
							out[n++] = *q;
					}
				} else {
					for (; *q && *q != ';' && *q != ' ' && *q != '\t'; q++)
						if (n + 1 < size)
							out[n++] = *q;
				}
				out[n] = '\0';
				return true;
			}
		}
		/* skip to the next ';' outside quotes */
		bool quoted = false;
		for (; *p; p++) {
			if (*p == '"')
				quoted = !quoted;
			else if (*p == '\\' && quoted && p[1])
				p++;
			else if (*p == ';' && !quoted)
				break;
		}
		p = *p ? p : NULL;
	}
	return false;
}

sg_err sg_multipart_init(struct sg_multipart *mp, const char *ct, const struct sg_multipart_cb *cb)
{
	memset(mp, 0, sizeof(*mp));
	mp->cb = *cb;
	if (!ct || strncasecmp(ct, "multipart/form-data", 19) ||
	    (ct[19] && ct[19] != ';' && ct[19] != ' '))
		return fail(mp, "The request is not multipart/form-data");
	char b[SG_MP_BOUNDARY_MAX + 2];
	if (!param(ct, "boundary", b, sizeof(b)))
		return fail(mp, "The multipart/form-data Content-Type has no boundary");
	size_t n = strlen(b);
	if (n == 0 || n > SG_MP_BOUNDARY_MAX || b[n - 1] == ' ')
		return fail(mp, "The multipart boundary is not valid");
	for (size_t i = 0; i < n; i++)
		if (!bchar(b[i]))
			return fail(mp, "The multipart boundary is not valid");
	mp->dlen = (size_t)snprintf(mp->delim, sizeof(mp->delim), "\r\n--%s", b);
	/* the body begins as if after "\r\n" */
	mp->match = 2;
	mp->state = SG_MP_PREAMBLE;
	return SG_ERR_OK;
}

static sg_err emit(struct sg_multipart *mp, const char *p, size_t n)
{
	if (!n || mp->state != SG_MP_BODY)
		return SG_ERR_OK; /* the preamble is dropped */
	if (mp->is_file) {
		sg_err err = mp->cb.on_file_data ? mp->cb.on_file_data(mp->cb.ud, p, n) : SG_ERR_OK;
		return err ? fail(mp, "The file could not be stored") : SG_ERR_OK;
	}
	if (n > SG_MP_FIELD_MAX - mp->flen)
		return fail(mp, "A form field of the multipart body is too long");
	memcpy(mp->field + mp->flen, p, n);
	mp->flen += n;
	return SG_ERR_OK;
}

/*
 * Scans data for the delimiter, emitting what precedes it.  *used: bytes
 * consumed (through the delimiter when *found, else all of them).
 */
static sg_err scan(struct sg_multipart *mp, const char *data, size_t len, size_t *used, bool *found)
{
	size_t i = 0, start = 0, carry = mp->match; /* matched bytes from earlier pieces */
	sg_err err;
	*found = false;
	while (i < len) {
		if (mp->match == 0) {
			const char *cr = memchr(data + i, '\r', len - i);
			if (!cr) {
				i = len;
				break;
			}
			i = (size_t)(cr - data);
		}
		if (data[i] == mp->delim[mp->match]) {
			mp->match++;
			i++;
			if (mp->match == mp->dlen) {
				err = emit(mp, data + start, i - (mp->dlen - carry) - start);
				mp->match = 0;
				*used = i;
				*found = true;
				return err;
			}
			continue;
		}
		/* not a delimiter: what was held back is content */
		if (carry) {
			if ((err = emit(mp, mp->delim, carry)))
				return err;
			carry = 0;
		}
		mp->match = 0; /* data[i] is looked at again: it may begin one */
	}
	size_t held = mp->match - carry; /* held back from this piece */
	*used = len;
	return emit(mp, data + start, len - held - start);
}

/* The part's headers are in: what part it is. */
static sg_err part_begin(struct sg_multipart *mp)
{
	char disp[SG_MP_HEADER_MAX + 1] = "", type[SG_MP_NAME_MAX] = "";
	bool have_disp = false;
	mp->head[mp->hlen] = '\0';
	for (char *line = mp->head; *line;) {
		char *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		*eol = '\0';
		char *colon = strchr(line, ':');
		if (colon) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			if (!strcasecmp(line, "Content-Disposition")) {
				snprintf(disp, sizeof(disp), "%s", v);
				have_disp = true;
			} else if (!strcasecmp(line, "Content-Type")) {
				snprintf(type, sizeof(type), "%s", v);
			}
		} else if (*line) {
			return fail(mp, "A part header of the multipart body is malformed");
		}
		line = eol + 2;
	}
	if (!have_disp || strncasecmp(disp, "form-data", 9))
		return fail(mp,
		            "A part of the multipart body has no form-data Content-Disposition");
	if (!param(disp, "name", mp->name, sizeof(mp->name)))
		return fail(mp, "A part of the multipart body has no name");
	char filename[SG_MP_NAME_MAX];
	mp->is_file = param(disp, "filename", filename, sizeof(filename));
	mp->flen = 0;
	if (mp->is_file && mp->cb.on_file_begin &&
	    mp->cb.on_file_begin(mp->cb.ud, mp->name, filename, type))
		return fail(mp, "The file part was refused");
	return SG_ERR_OK;
}

static sg_err part_end(struct sg_multipart *mp)
{
	sg_err err = SG_ERR_OK;
	if (mp->is_file) {
		if (mp->cb.on_file_end)
			err = mp->cb.on_file_end(mp->cb.ud);
	} else {
		mp->field[mp->flen] = '\0';
		if (mp->cb.on_field)
			err = mp->cb.on_field(mp->cb.ud, mp->name, mp->field, mp->flen);
	}
	return err ? fail(mp, "A part of the multipart body was refused") : SG_ERR_OK;
}

sg_err sg_multipart_feed(struct sg_multipart *mp, const char *data, size_t len)
{
	if (mp->failed)
		return SG_ERR_BAD_PARAM;
	sg_err err = SG_ERR_OK;
	size_t i = 0;
	while (i < len && !err) {
		switch (mp->state) {
		case SG_MP_PREAMBLE:
		case SG_MP_BODY: {
			size_t used = 0;
			bool found;
			err = scan(mp, data + i, len - i, &used, &found);
			i += used;
			if (!err && found) {
				if (mp->state == SG_MP_BODY)
					err = part_end(mp);
				mp->state = SG_MP_AFTER_DELIM;
				mp->nafter = 0;
			}
			break;
		}
		case SG_MP_AFTER_DELIM: {
			char c = data[i++];
			if (mp->nafter == 0 && (c == ' ' || c == '\t') && mp->ws)
				break;
			if (mp->nafter == 0 && (c == ' ' || c == '\t')) {
				mp->ws = true; /* transport padding */
				break;
			}
			mp->after[mp->nafter++] = c;
			if (mp->nafter < 2)
				break;
			mp->ws = false;
			if (mp->after[0] == '-' && mp->after[1] == '-') {
				mp->state = SG_MP_DONE;
			} else if (mp->after[0] == '\r' && mp->after[1] == '\n') {
				mp->state = SG_MP_HEADERS;
				mp->hlen = 0;
			} else {
				err = fail(mp, "A multipart delimiter is not followed by CRLF");
			}
			break;
		}
		case SG_MP_HEADERS: {
			if (mp->hlen == SG_MP_HEADER_MAX) {
				err =
				    fail(mp, "The part headers of the multipart body are too long");
				break;
			}
			mp->head[mp->hlen++] = data[i++];
			bool end =
			    (mp->hlen == 2 && !memcmp(mp->head, "\r\n", 2)) ||
			    (mp->hlen >= 4 && !memcmp(mp->head + mp->hlen - 4, "\r\n\r\n", 4));
			if (end) {
				/* keep the last header's CRLF, drop the blank line */
				mp->hlen -= 2;
				err = part_begin(mp);
				mp->state = SG_MP_BODY;
				mp->match = 0;
			}
			break;
		}
		case SG_MP_DONE:
			i = len; /* the epilogue is dropped */
			break;
		}
	}
	return err ? fail(mp, mp->why ? mp->why : "The multipart body is malformed") : err;
}

sg_err sg_multipart_finish(struct sg_multipart *mp)
{
	if (mp->failed)
		return SG_ERR_BAD_PARAM;
	if (mp->state != SG_MP_DONE)
		return fail(mp, "The multipart body ends before its closing delimiter");
	return SG_ERR_OK;
}
