/*
 * xml.c - XML on the REST API: Accept negotiation, the JSON -> XML writer
 * for answers, and a small strict XML reader for request bodies.
 *
 * The writer reads the JSON text a handler produced as a stream of tokens
 * (no tree), so a long list costs no more than its two texts.  The reader
 * is our own, for the subset a record needs: elements, text, CDATA, the five
 * predefined entities and character references.  It refuses a DOCTYPE and
 * any other entity, so that no entity can expand (billion laughs) and none
 * can name a file or URL (XXE); nesting, element count and name length are
 * bounded, and the body itself by glide.rest.max_content_length.
 */
#include "api/xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/util.h"

/* ---- UTF-8 and XML characters ---- */

static void utf8_put(struct sg_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	}
	sg_buf_append(b, u, n);
}

/* XML 1.0's Char production. */
static bool xml_char(uint32_t cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

static bool ascii_alpha(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_digit(uint32_t c)
{
	return c >= '0' && c <= '9';
}

/* ---- Content negotiation ---- */

/* The media range s[0..n) trimmed of spaces and tabs. */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static bool range_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && !strncasecmp(s, want, n);
}

static bool suffix_is(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n > k && !strncasecmp(s + n - k, suffix, k) && memchr(s, '/', n);
}

/* The q parameter among params[0..n) (";q=0.5;level=1"); 1 when absent,
 * malformed values read as 1 (the range is then taken as written). */
static double range_q(const char *p, size_t n)
{
	const char *end = p + n;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *next = semi ? semi + 1 : end;
		const char *a = p;
		size_t len = (size_t)((semi ? semi : end) - p);
		trim(&a, &len);
		if (len >= 2 && (a[0] == 'q' || a[0] == 'Q') && a[1] == '=') {
			double q = 0, scale = 1;
			size_t i = 2;
			bool ok = i < len && ascii_digit((unsigned char)a[i]);
			for (; i < len && ascii_digit((unsigned char)a[i]); i++)
				q = q * 10 + (a[i] - '0');
			if (i < len && a[i] == '.')
				for (i++; i < len && ascii_digit((unsigned char)a[i]); i++)
					q += (a[i] - '0') * (scale /= 10);
			if (!ok || i != len)
				return 1;
			return q > 1 ? 1 : q;
		}
		p = next;
	}
	return 1;
}

/* How well a format is matched: the most exact matching range's distance
 * (0 exact, 1 type/ *, 2 * / *, 3 none) and, among those, the highest q. */
struct match {
	int d;
	double q;
	bool text; /* XML: matched by text/xml or text/ * */
};

static void consider(struct match *m, int d, double q, bool text)
{
	if (d < m->d || (d == m->d && q > m->q)) {
		m->d = d;
		m->q = q;
		m->text = text;
	}
}

enum sg_xml_format sg_xml_negotiate(const char *accept, const char **type)
{
	struct match json = {3, 0, false}, xml = {3, 0, false};
	const char *p = accept ? accept : "";
	bool any = false;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *r = p;
		p = comma ? comma + 1 : p + len;
		const char *semi = memchr(r, ';', len);
		size_t mlen = semi ? (size_t)(semi - r) : len;
		double q = semi ? range_q(semi + 1, len - mlen - 1) : 1;
		trim(&r, &mlen);
		if (!mlen)
			continue;
		any = true;
		if (range_is(r, mlen, "*/*") || range_is(r, mlen, "*")) {
			consider(&json, 2, q, false);
			consider(&xml, 2, q, false);
		} else if (range_is(r, mlen, "application/*")) {
			consider(&json, 1, q, false);
			consider(&xml, 1, q, false);
		} else if (range_is(r, mlen, "text/*")) {
			consider(&xml, 1, q, true);
		} else if (range_is(r, mlen, "application/json") || suffix_is(r, mlen, "+json")) {
			consider(&json, 0, q, false);
		} else if (range_is(r, mlen, "text/xml")) {
			consider(&xml, 0, q, true);
		} else if (range_is(r, mlen, "application/xml") || suffix_is(r, mlen, "+xml")) {
			consider(&xml, 0, q, false);
		}
	}
	enum sg_xml_format f;
	if (!any)
		f = SG_FMT_JSON; /* no Accept: JSON, the documented default */
	else if (json.q <= 0 && xml.q <= 0)
		f = SG_FMT_NONE;
	else if (xml.q > json.q || (xml.q == json.q && xml.d < json.d))
		f = SG_FMT_XML;
	else
		f = SG_FMT_JSON;
	if (type)
		*type = f != SG_FMT_XML ? SG_JSON_TYPE : xml.text ? SG_XML_TEXT_TYPE : SG_XML_TYPE;
	return f;
}

bool sg_xml_is_xml_type(const char *ct)
{
	if (!ct)
		return false;
	const char *semi = strchr(ct, ';');
	size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
	trim(&ct, &n);
	return range_is(ct, n, "application/xml") || range_is(ct, n, "text/xml") ||
	       suffix_is(ct, n, "+xml");
}

/* ---- The writer: JSON text -> XML ---- */

struct jr {
	const char *p, *end;
};

static void jr_ws(struct jr *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static bool jr_hex4(struct jr *r, uint32_t *v)
{
	if (r->end - r->p < 4)
		return false;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int h = sg_hexval(r->p[i]);
		if (h < 0)
			return false;
		*v = (*v << 4) | (uint32_t)h;
	}
	r->p += 4;
	return true;
}

/* Decodes the JSON string at r->p (its opening quote) into b as UTF-8; an
 * unpaired surrogate becomes U+FFFD. */
static bool jr_string(struct jr *r, struct sg_buf *b)
{
	if (r->p >= r->end || *r->p != '"')
		return false;
	r->p++;
	while (r->p < r->end) {
		const char *run = r->p;
		while (r->p < r->end && *r->p != '"' && *r->p != '\\')
			r->p++;
		sg_buf_append(b, run, (size_t)(r->p - run));
		if (r->p >= r->end)
			return false;
		if (*r->p == '"') {
			r->p++;
			return true;
		}
		if (++r->p >= r->end)
			return false;
		char e = *r->p++;
		uint32_t cp;
		switch (e) {
		case '"':
		case '\\':
		case '/':
			sg_buf_putc(b, e);
			break;
		case 'b':
			sg_buf_putc(b, '\b');
			break;
		case 'f':
			sg_buf_putc(b, '\f');
			break;
		case 'n':
			sg_buf_putc(b, '\n');
			break;
		case 'r':
			sg_buf_putc(b, '\r');
			break;
		case 't':
			sg_buf_putc(b, '\t');
			break;
		case 'u':
			if (!jr_hex4(r, &cp))
				return false;
			if (cp >= 0xd800 && cp <= 0xdbff && r->end - r->p >= 6 && r->p[0] == '\\' &&
			    r->p[1] == 'u') {
				struct jr look = {r->p + 2, r->end};
				uint32_t lo;
				if (jr_hex4(&look, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					r->p = look.p;
				}
			}
			utf8_put(b, cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
			break;
		default:
			return false;
		}
	}
	return false;
}

/* Appends s[0..n) as XML text: the five special characters as entities, CR
 * as a character reference (a parser would read a raw one as LF), and what
 * XML 1.0 cannot hold (controls, invalid UTF-8, U+FFFE/U+FFFF) as U+FFFD. */
static void put_text(struct sg_buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		const unsigned char *run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '&' && *p != '<' && *p != '>' &&
		       *p != '"' && *p != '\'')
			p++;
		sg_buf_append(out, run, (size_t)(p - run));
		if (p >= end)
			break;
		uint32_t cp;
		size_t len = sg_utf8_decode(p, (size_t)(end - p), &cp);
		if (!len) {
			utf8_put(out, 0xfffd);
			p++;
			continue;
		}
		p += len;
		switch (cp) {
		case '&':
			sg_buf_puts(out, "&amp;");
			break;
		case '<':
			sg_buf_puts(out, "&lt;");
			break;
		case '>':
			sg_buf_puts(out, "&gt;");
			break;
		case '"':
			sg_buf_puts(out, "&quot;");
			break;
		case '\'':
			sg_buf_puts(out, "&apos;");
			break;
		case '\r':
			sg_buf_puts(out, "&#13;");
			break;
		default:
			if (xml_char(cp))
				sg_buf_append(out, p - len, len);
			else
				utf8_put(out, 0xfffd);
		}
	}
}

static bool name_start(uint32_t c)
{
	return ascii_alpha(c) || c == '_';
}

static bool name_char(uint32_t c)
{
	return name_start(c) || ascii_digit(c) || c == '-' || c == '.';
}

/* Whether s[0..n) starts with "_xHHHH_" (which a name must not hold as is,
 * or it would read back as an encoded character). */
static bool looks_encoded(const char *s, size_t n)
{
	if (n < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_')
		return false;
	for (int i = 2; i < 6; i++)
		if (sg_hexval(s[i]) < 0)
			return false;
	return true;
}

/* Appends s[0..n) as an element name: ASCII letters, digits, '_', '-' and
 * '.' as they are (a letter or '_' first); any other character as _xHHHH_
 * (its code point; invalid UTF-8 as U+FFFD).  An empty name is "_". */
static void put_name(struct sg_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!n) {
		sg_buf_putc(out, '_');
		return;
	}
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	bool first = true;
	while (p < end) {
		uint32_t cp;
		size_t len = sg_utf8_decode(p, (size_t)(end - p), &cp);
		if (!len)
			cp = 0xfffd, len = 1;
		bool ok = first ? name_start(cp) : name_char(cp);
		if (cp == '_' && looks_encoded((const char *)p, (size_t)(end - p)))
			ok = false;
		if (ok) {
			sg_buf_putc(out, (char)cp);
		} else {
			char e[12];
			size_t k = 0;
			e[k++] = '_';
			e[k++] = 'x';
			int digits = cp > 0xffff ? 8 : 4;
			for (int i = digits - 1; i >= 0; i--)
				e[k++] = hex[(cp >> (4 * i)) & 15];
			e[k++] = '_';
			sg_buf_append(out, e, k);
		}
		first = false;
		p += len;
	}
}

static bool write_value(struct jr *r, const char *name, size_t name_len, struct sg_buf *out,
                        int depth, bool detail_first);

/* The members of the object at r->p (after its '{'), each as an element;
 * detail_first writes a "detail" member before the others (an error). */
static bool write_members(struct jr *r, struct sg_buf *out, int depth, bool detail_first, bool top)
{
	struct sg_buf key, first, rest;
	sg_buf_init(&key, out->max);
	sg_buf_init(&first, detail_first ? out->max : 0);
	sg_buf_init(&rest, detail_first ? out->max : 0);
	bool ok = true;
	jr_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		goto out;
	}
	for (;;) {
		sg_buf_reset(&key);
		jr_ws(r);
		if (!jr_string(r, &key) || sg_buf_failed(&key)) {
			ok = false; /* (a failed key is out of memory: out is marked below) */
			break;
		}
		jr_ws(r);
		if (r->p >= r->end || *r->p != ':') {
			ok = false;
			break;
		}
		r->p++;
		struct sg_buf *dst = out;
		if (detail_first)
			dst = key.len == 6 && !memcmp(key.data, "detail", 6) ? &first : &rest;
		/* ServiceNow's XML error lists detail before message [observed]. */
		bool err_obj = top && key.len == 5 && !memcmp(key.data, "error", 5);
		if (!write_value(r, key.data ? key.data : "", key.len, dst, depth + 1, err_obj)) {
			ok = false;
			break;
		}
		jr_ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == '}') {
			r->p++;
			break;
		}
		ok = false;
		break;
	}
out:
	if (detail_first) {
		sg_buf_append(out, first.data, first.len);
		sg_buf_append(out, rest.data, rest.len);
		if (sg_buf_failed(&first) || sg_buf_failed(&rest))
			sg_buf_set_failed(out);
	}
	if (sg_buf_failed(&key)) /* checked before the next reset clears it */
		sg_buf_set_failed(out);
	sg_buf_cleanup(&key);
	sg_buf_cleanup(&first);
	sg_buf_cleanup(&rest);
	return ok && !sg_buf_failed(out);
}

static void open_tag(struct sg_buf *out, const char *name, size_t n)
{
	sg_buf_putc(out, '<');
	put_name(out, name, n);
	sg_buf_putc(out, '>');
}

static void close_tag(struct sg_buf *out, const char *name, size_t n)
{
	sg_buf_puts(out, "</");
	put_name(out, name, n);
	sg_buf_putc(out, '>');
}

static void empty_tag(struct sg_buf *out, const char *name, size_t n)
{
	sg_buf_putc(out, '<');
	put_name(out, name, n);
	sg_buf_puts(out, "/>");
}

/* One value named name: a scalar as an element holding its text (empty
 * and null: an empty element), an object as an element of its members, an
 * array as the element repeated (nothing when empty). */
static bool write_value(struct jr *r, const char *name, size_t name_len, struct sg_buf *out,
                        int depth, bool detail_first)
{
	if (depth > SG_XML_MAX_JSON_DEPTH)
		return false;
	jr_ws(r);
	if (r->p >= r->end)
		return false;
	char c = *r->p;
	if (c == '{') {
		r->p++;
		size_t mark = out->len;
		open_tag(out, name, name_len);
		size_t inner = out->len;
		if (!write_members(r, out, depth, detail_first, false))
			return false;
		if (out->len == inner) { /* no members: <name/> */
			out->len = mark;
			if (out->data)
				out->data[mark] = '\0';
			empty_tag(out, name, name_len);
		} else {
			close_tag(out, name, name_len);
		}
		return !sg_buf_failed(out);
	}
	if (c == '[') {
		r->p++;
		jr_ws(r);
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return true;
		}
		for (;;) {
			if (!write_value(r, name, name_len, out, depth + 1, false))
				return false;
			jr_ws(r);
			if (r->p < r->end && *r->p == ',') {
				r->p++;
				continue;
			}
			if (r->p < r->end && *r->p == ']') {
				r->p++;
				return true;
			}
			return false;
		}
	}
	if (c == '"') {
		struct sg_buf text;
		sg_buf_init(&text, out->max);
		bool ok = jr_string(r, &text);
		if (ok && !text.len) {
			empty_tag(out, name, name_len);
		} else if (ok) {
			open_tag(out, name, name_len);
			put_text(out, text.data, text.len);
			close_tag(out, name, name_len);
		}
		if (sg_buf_failed(&text))
			sg_buf_set_failed(out);
		sg_buf_cleanup(&text);
		return ok && !sg_buf_failed(out);
	}
	if (r->end - r->p >= 4 && !memcmp(r->p, "null", 4)) {
		r->p += 4;
		empty_tag(out, name, name_len);
		return !sg_buf_failed(out);
	}
	/* A number, true or false: its text as it is. */
	const char *tok = r->p;
	while (r->p < r->end &&
	       (ascii_alpha((unsigned char)*r->p) || ascii_digit((unsigned char)*r->p) ||
	        *r->p == '-' || *r->p == '+' || *r->p == '.'))
		r->p++;
	if (r->p == tok)
		return false;
	open_tag(out, name, name_len);
	sg_buf_append(out, tok, (size_t)(r->p - tok));
	close_tag(out, name, name_len);
	return !sg_buf_failed(out);
}

bool sg_xml_write(struct sg_buf *out, const char *json, size_t len)
{
	struct jr r = {json, json + len};
	jr_ws(&r);
	if (r.p >= r.end || *r.p != '{')
		return false;
	r.p++;
	sg_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>");
	if (!write_members(&r, out, 0, false, true))
		return false;
	jr_ws(&r);
	if (r.p != r.end)
		return false;
	sg_buf_puts(out, "</response>");
	return !sg_buf_failed(out);
}

void sg_xml_answer(struct sg_resp *resp, const char *type)
{
	struct sg_kv *ct = NULL;
	for (size_t i = 0; i < resp->nheaders; i++)
		if (!strcasecmp(resp->headers[i].name, "Content-Type"))
			ct = &resp->headers[i];
	if (!ct || strcmp(ct->value, SG_JSON_TYPE) != 0 || !resp->body.len)
		return;
	struct sg_buf xml;
	sg_buf_init(&xml, resp->body.max);
	bool ok = sg_xml_write(&xml, resp->body.data, resp->body.len);
	char *value = ok ? strdup(type) : NULL;
	if (ok && value) {
		sg_buf_cleanup(&resp->body);
		resp->body = xml;
		free(ct->value);
		ct->value = value;
		return;
	}
	/* Not a JSON object: answered as it is.  Out of memory: the 500. */
	if (sg_buf_failed(&xml) || (ok && !value))
		resp->failed = true;
	sg_buf_cleanup(&xml);
}

/* ---- The reader: XML -> JSON ---- */

struct xp {
	const char *p, *end;
	size_t elements;
	const char *why; /* set with the first refusal */
	bool nomem;
};

static bool refuse(struct xp *x, const char *why)
{
	if (!x->why && !x->nomem)
		x->why = why;
	return false;
}

static bool nomem(struct xp *x)
{
	x->nomem = true;
	return false;
}

static bool at(const struct xp *x, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(x->end - x->p) >= n && !memcmp(x->p, s, n);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(struct xp *x)
{
	while (x->p < x->end && is_space(*x->p))
		x->p++;
}

/* The document is UTF-8 made of XML characters only: checked once, so that
 * the rest reads bytes. */
static bool check_chars(struct xp *x)
{
	const unsigned char *p = (const unsigned char *)x->p, *end = (const unsigned char *)x->end;
	while (p < end) {
		if (*p >= 0x20 && *p < 0x80) {
			p++;
			continue;
		}
		uint32_t cp;
		size_t len = sg_utf8_decode(p, (size_t)(end - p), &cp);
		if (!len)
			return refuse(x, "The XML payload is not valid UTF-8.");
		if (!xml_char(cp))
			return refuse(x, "The XML payload holds a character XML does not allow.");
		p += len;
	}
	return true;
}

/* A Name at x->p: [A-Za-z_:] or any non-ASCII character first, then those,
 * digits, '-' and '.'.  Sets *name and *n (a view into the text). */
static bool read_name(struct xp *x, const char **name, size_t *n)
{
	const char *s = x->p;
	while (x->p < x->end) {
		unsigned char c = (unsigned char)*x->p;
		bool ok = ascii_alpha(c) || c == '_' || c == ':' || c >= 0x80 ||
		          (x->p > s && (ascii_digit(c) || c == '-' || c == '.'));
		if (!ok)
			break;
		x->p++;
	}
	*name = s;
	*n = (size_t)(x->p - s);
	if (!*n)
		return refuse(x, "The XML payload is not well-formed: a name was expected.");
	if (*n > SG_XML_MAX_NAME)
		return refuse(x, "The XML payload holds a name that is too long.");
	return true;
}

/* A reference after '&': appended to b as the character it stands for. */
static bool read_reference(struct xp *x, struct sg_buf *b)
{
	const char *semi =
	    memchr(x->p, ';', (size_t)(x->end - x->p) < 16 ? (size_t)(x->end - x->p) : 16);
	if (!semi)
		return refuse(x, "The XML payload is not well-formed: a bare '&'.");
	const char *s = x->p;
	size_t n = (size_t)(semi - s);
	x->p = semi + 1;
	static const struct {
		const char *name;
		char c;
	} predefined[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
	for (size_t i = 0; i < sizeof(predefined) / sizeof(predefined[0]); i++)
		if (strlen(predefined[i].name) == n && !memcmp(s, predefined[i].name, n)) {
			sg_buf_putc(b, predefined[i].c);
			return true;
		}
	if (n < 2 || s[0] != '#')
		return refuse(x, "The XML payload uses an entity: only &amp; &lt; &gt; &quot; "
		                 "&apos; and character references are read.");
	uint32_t cp = 0;
	bool hex = s[1] == 'x';
	size_t i = hex ? 2 : 1;
	if (i >= n)
		return refuse(x, "The XML payload holds a malformed character reference.");
	for (; i < n; i++) {
		int v = hex ? sg_hexval(s[i]) : ascii_digit((unsigned char)s[i]) ? s[i] - '0' : -1;
		if (v < 0 || cp > 0x10ffff)
			return refuse(x, "The XML payload holds a malformed character reference.");
		cp = cp * (hex ? 16 : 10) + (uint32_t)v;
	}
	if (!xml_char(cp))
		return refuse(x, "The XML payload refers to a character XML does not allow.");
	utf8_put(b, cp);
	return true;
}

/* Character data up to the next '<' into b: references resolved, line ends
 * normalised (CR LF and CR read as LF). */
static bool read_text(struct xp *x, struct sg_buf *b)
{
	while (x->p < x->end && *x->p != '<') {
		const char *run = x->p;
		while (x->p < x->end && *x->p != '<' && *x->p != '&' && *x->p != '\r')
			x->p++;
		sg_buf_append(b, run, (size_t)(x->p - run));
		if (x->p >= x->end || *x->p == '<')
			break;
		if (*x->p == '\r') {
			sg_buf_putc(b, '\n');
			x->p++;
			if (x->p < x->end && *x->p == '\n')
				x->p++;
			continue;
		}
		x->p++;
		if (!read_reference(x, b))
			return false;
	}
	return true;
}

/* Skips what ends at the first occurrence of close; refuses when it never
 * does. */
static bool skip_past(struct xp *x, const char *close, const char *why)
{
	size_t n = strlen(close);
	for (const char *q = x->p; (size_t)(x->end - q) >= n; q++)
		if (!memcmp(q, close, n)) {
			x->p = q + n;
			return true;
		}
	return refuse(x, why);
}

/* A comment, a processing instruction, or a refused declaration, at "<!"
 * or "<?".  A DOCTYPE (and with it every DTD, entity declaration and
 * external reference) is refused outright. */
static bool skip_markup(struct xp *x)
{
	if (at(x, "<!--"))
		return skip_past(x, "-->", "The XML payload holds an unterminated comment.");
	if (at(x, "<?")) {
		x->p += 2;
		const char *name;
		size_t n;
		if (!read_name(x, &name, &n))
			return false;
		if (n == 3 && !strncasecmp(name, "xml", 3))
			return refuse(x, "The XML payload holds a misplaced XML declaration.");
		return skip_past(x, "?>",
		                 "The XML payload holds an unterminated processing instruction.");
	}
	if (at(x, "<!DOCTYPE") || at(x, "<!doctype"))
		return refuse(x, "The XML payload holds a DOCTYPE: document type declarations and "
		                 "entities are not allowed.");
	return refuse(x, "The XML payload is not well-formed: unexpected '<!'.");
}

/* The attributes of a start tag, read and dropped, up to '>' or "/>";
 * *empty tells which. */
static bool read_attributes(struct xp *x, bool *empty)
{
	struct sg_buf scratch;
	sg_buf_init(&scratch, (size_t)(x->end - x->p) + 16);
	bool ok = false;
	for (;;) {
		bool spaced = x->p < x->end && is_space(*x->p);
		skip_space(x);
		if (at(x, "/>") || at(x, ">")) {
			*empty = *x->p == '/';
			x->p += *empty ? 2 : 1;
			ok = true;
			break;
		}
		const char *name;
		size_t n;
		if (!spaced) {
			refuse(x, "The XML payload is not well-formed: a start tag is malformed.");
			break;
		}
		if (!read_name(x, &name, &n))
			break;
		skip_space(x);
		if (x->p >= x->end || *x->p != '=') {
			refuse(x, "The XML payload is not well-formed: an attribute has no value.");
			break;
		}
		x->p++;
		skip_space(x);
		if (x->p >= x->end || (*x->p != '"' && *x->p != '\'')) {
			refuse(x, "The XML payload is not well-formed: an attribute value is not "
			          "quoted.");
			break;
		}
		char quote = *x->p++;
		bool done = false;
		while (x->p < x->end && !done) {
			char c = *x->p;
			if (c == quote) {
				x->p++;
				done = true;
			} else if (c == '<') {
				break;
			} else if (c == '&') {
				x->p++;
				sg_buf_reset(&scratch);
				if (!read_reference(x, &scratch))
					break;
			} else {
				x->p++;
			}
		}
		if (!done) {
			refuse(x, "The XML payload is not well-formed: an attribute value is "
			          "malformed.");
			break;
		}
	}
	if (sg_buf_failed(&scratch))
		ok = nomem(x);
	sg_buf_cleanup(&scratch);
	return ok;
}

static bool only_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_space(s[i]))
			return false;
	return true;
}

/* Adds value (stolen) to obj under name; a name seen before makes an array
 * of its values, in order. */
static bool add_child(struct xp *x, json_t *obj, const char *name, size_t n, json_t *value)
{
	char key[SG_XML_MAX_NAME + 1];
	memcpy(key, name, n);
	key[n] = '\0';
	json_t *seen = json_object_get(obj, key);
	if (!seen)
		return json_object_set_new(obj, key, value) == 0 || nomem(x);
	if (json_is_array(seen))
		return json_array_append_new(seen, value) == 0 || nomem(x);
	json_t *arr = json_array();
	if (!arr || json_array_append(arr, seen) != 0) {
		json_decref(value);
		json_decref(arr);
		return nomem(x);
	}
	if (json_array_append_new(arr, value) != 0) { /* value freed by jansson */
		json_decref(arr);
		return nomem(x);
	}
	return json_object_set_new(obj, key, arr) == 0 || nomem(x);
}

/* The element at x->p ('<' then its name); its value in *out (new
 * reference). */
static bool read_element(struct xp *x, int depth, json_t **out)
{
	*out = NULL;
	if (depth > SG_XML_MAX_DEPTH)
		return refuse(x, "The XML payload is nested too deeply.");
	if (++x->elements > SG_XML_MAX_ELEMENTS)
		return refuse(x, "The XML payload holds too many elements.");
	x->p++;
	const char *name;
	size_t n;
	bool empty;
	if (!read_name(x, &name, &n) || !read_attributes(x, &empty))
		return false;
	if (empty) {
		*out = json_string("");
		return *out || nomem(x);
	}
	struct sg_buf text;
	sg_buf_init(&text, (size_t)(x->end - x->p) + 16);
	json_t *children = NULL;
	bool ok = false;
	for (;;) {
		if (!read_text(x, &text))
			break;
		if (x->p >= x->end) {
			refuse(x, "The XML payload is not well-formed: an element is not closed.");
			break;
		}
		if (at(x, "</")) {
			x->p += 2;
			const char *close;
			size_t cn;
			if (!read_name(x, &close, &cn))
				break;
			skip_space(x);
			if (cn != n || memcmp(close, name, n) != 0 || x->p >= x->end ||
			    *x->p != '>') {
				refuse(x, "The XML payload is not well-formed: an end tag does not "
				          "match.");
				break;
			}
			x->p++;
			ok = true;
			break;
		}
		if (at(x, "<![CDATA[")) {
			x->p += 9;
			const char *s = x->p;
			if (!skip_past(x, "]]>",
			               "The XML payload holds an unterminated CDATA section."))
				break;
			for (const char *q = s; q < x->p - 3; q++) {
				if (*q != '\r') {
					sg_buf_putc(&text, *q);
				} else if (q + 1 >= x->p - 3 || q[1] != '\n') {
					sg_buf_putc(&text, '\n');
				}
			}
			continue;
		}
		if (at(x, "<!") || at(x, "<?")) {
			if (!skip_markup(x))
				break;
			continue;
		}
		const char *child = x->p + 1;
		json_t *value;
		if (!read_element(x, depth + 1, &value))
			break;
		if (!children && !(children = json_object())) {
			json_decref(value);
			nomem(x);
			break;
		}
		size_t cn = 0;
		while (child + cn < x->end && !is_space(child[cn]) && child[cn] != '>' &&
		       child[cn] != '/')
			cn++;
		if (!add_child(x, children, child, cn, value))
			break;
	}
	if (ok && children && !only_space(text.data ? text.data : "", text.len))
		ok = refuse(x, "The XML payload mixes text and elements in one element.");
	if (ok && sg_buf_failed(&text))
		ok = nomem(x);
	if (ok && children) {
		*out = children;
		children = NULL;
	} else if (ok) {
		*out = json_stringn(text.data ? text.data : "", text.len);
		ok = *out || nomem(x);
	}
	json_decref(children);
	sg_buf_cleanup(&text);
	return ok;
}

/* Whitespace, comments and processing instructions between the parts of
 * the document. */
static bool read_misc(struct xp *x)
{
	for (;;) {
		skip_space(x);
		if (!at(x, "<!") && !at(x, "<?"))
			return true;
		if (!skip_markup(x))
			return false;
	}
}

/* The XML declaration, when there is one: only UTF-8 (or its ASCII subset)
 * is read. */
static bool read_declaration(struct xp *x)
{
	if (!at(x, "<?xml") || x->end - x->p < 6 || !is_space(x->p[5]))
		return true;
	const char *start = x->p;
	if (!skip_past(x, "?>", "The XML payload holds an unterminated XML declaration."))
		return false;
	const char *end = x->p - 2;
	for (const char *q = start; q + 8 < end; q++) {
		if (memcmp(q, "encoding", 8) != 0)
			continue;
		const char *v = q + 8;
		while (v < end && (is_space(*v) || *v == '='))
			v++;
		if (v < end && (*v == '"' || *v == '\''))
			v++;
		size_t n = 0;
		while (v + n < end && v[n] != '"' && v[n] != '\'')
			n++;
		if (!((n == 5 && !strncasecmp(v, "UTF-8", 5)) ||
		      (n == 4 && !strncasecmp(v, "UTF8", 4)) ||
		      (n == 8 && !strncasecmp(v, "US-ASCII", 8)) ||
		      (n == 5 && !strncasecmp(v, "ASCII", 5))))
			return refuse(x, "The XML payload is not in UTF-8: only UTF-8 is read.");
		break;
	}
	return true;
}

sg_err sg_xml_parse(const char *text, size_t len, json_t **out, const char **why)
{
	*out = NULL;
	*why = NULL;
	sg_json_init();
	struct xp x = {text, text + len, 0, NULL, false};
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		x.p += 3; /* a byte order mark */
	json_t *root = NULL;
	bool ok = check_chars(&x) && read_declaration(&x) && read_misc(&x);
	if (ok && (x.p >= x.end || *x.p != '<'))
		ok = refuse(&x, "The XML payload has no root element.");
	if (ok)
		ok = read_element(&x, 1, &root) && read_misc(&x);
	if (ok && x.p != x.end)
		ok = refuse(&x, "The XML payload holds more than one root element.");
	if (!ok) {
		json_decref(root);
		if (x.nomem)
			return SG_ERR_NOMEM;
		*why = x.why ? x.why : "The XML payload is not well-formed.";
		return SG_ERR_BAD_XML;
	}
	*out = root;
	return SG_ERR_OK;
}

sg_err sg_xml_parse_body(const char *text, size_t len, json_t **out, const char **why)
{
	json_t *root;
	sg_err err = sg_xml_parse(text, len, &root, why);
	*out = NULL;
	if (err)
		return err;
	if (json_is_string(root)) {
		bool blank = only_space(json_string_value(root), json_string_length(root));
		json_decref(root);
		if (!blank) {
			*why = "The XML payload holds no record: its root element holds only text.";
			return SG_ERR_BAD_XML;
		}
		*out = json_object();
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	/* <request><entry>fields</entry></request> [doc: Table API samples]. */
	json_t *entry = json_object_get(root, "entry");
	if (json_object_size(root) == 1 && entry) {
		if (json_is_object(entry) || json_is_array(entry)) {
			json_incref(entry);
			json_decref(root);
			*out = entry;
			return SG_ERR_OK;
		}
		if (only_space(json_string_value(entry), json_string_length(entry))) {
			json_decref(root);
			*out = json_object();
			return *out ? SG_ERR_OK : SG_ERR_NOMEM;
		}
	}
	*out = root;
	return SG_ERR_OK;
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
	struct sg_buf *b = data;
	sg_buf_append(b, buffer, size);
	return sg_buf_failed(b) ? -1 : 0;
}

sg_err sg_xml_body_to_json(const char *text, size_t len, struct sg_buf *out, const char **why)
{
	json_t *rec;
	sg_err err = sg_xml_parse_body(text, len, &rec, why);
	if (err)
		return err;
	/* Through a sticky buffer: json_dumps drops a key it could not append
	 * and goes on, which would hand the handler other JSON. */
	int rc = json_dump_callback(rec, dump_cb, out, JSON_COMPACT);
	json_decref(rec);
	return rc || sg_buf_failed(out) ? SG_ERR_NOMEM : SG_ERR_OK;
}
