/*
 * redact.c - masking secrets in URLs, form bodies and headers before they
 * are logged.  Pure string work: no libcurl, no allocation but the caller's
 * buffer.
 */
#include "net/redact.h"

#include <string.h>
#include <strings.h>

#include "core/util.h"

/* Longest decoded name judged; a longer one is taken for a secret. */
#define NAME_MAX_LEN 128

/* Percent-decodes and lowercases name into out (NAME_MAX_LEN bytes, not
 * terminated: a decoded NUL must not cut the name short).  Returns the
 * decoded length, or -1 when it does not fit. */
static int decode_name(const char *name, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < len && sg_hexval(name[i + 1]) >= 0 &&
		           sg_hexval(name[i + 2]) >= 0) {
			c = (char)(sg_hexval(name[i + 1]) * 16 + sg_hexval(name[i + 2]));
			i += 2;
		}
		if (o == NAME_MAX_LEN)
			return -1;
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	return (int)o;
}

bool sg_net_is_secret_name(const char *name, size_t len)
{
	static const char *const contains[] = {"password",   "passwd",   "pwd",     "secret",
	                                       "token",      "apikey",   "api_key", "api-key",
	                                       "credential", "signature"};
	static const char *const exactly[] = {"pass", "code", "assertion", "sig", "key"};
	char d[NAME_MAX_LEN];
	int n = decode_name(name, len, d);
	if (n < 0)
		return true;
	for (size_t i = 0; i < sizeof(contains) / sizeof(contains[0]); i++)
		if (memmem(d, (size_t)n, contains[i], strlen(contains[i])))
			return true;
	for (size_t i = 0; i < sizeof(exactly) / sizeof(exactly[0]); i++)
		if (strlen(exactly[i]) == (size_t)n && !memcmp(d, exactly[i], (size_t)n))
			return true;
	return false;
}

bool sg_net_is_secret_header(const char *name)
{
	static const char *const headers[] = {"authorization", "proxy-authorization", "cookie",
	                                      "set-cookie", "x-sn-apikey"};
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
		if (!strcasecmp(name, headers[i]))
			return true;
	return sg_net_is_secret_name(name, strlen(name));
}

/* Appends the parameters in [p, end), each separated by '&' (or '#', which
 * starts the fragment, whose parameters are masked too: OAuth's implicit
 * grant puts access_token there). */
static void redact_params(struct sg_buf *out, const char *p, const char *end)
{
	while (p < end) {
		const char *q = p;
		while (q < end && *q != '&' && *q != '#')
			q++;
		const char *eq = memchr(p, '=', (size_t)(q - p));
		if (eq && sg_net_is_secret_name(p, (size_t)(eq - p))) {
			sg_buf_append(out, p, (size_t)(eq - p) + 1);
			sg_buf_puts(out, SG_NET_MASK);
		} else {
			sg_buf_append(out, p, (size_t)(q - p));
		}
		if (q < end)
			sg_buf_putc(out, *q++);
		p = q;
	}
}

void sg_net_redact_url(struct sg_buf *out, const char *url, size_t len)
{
	const char *p = url, *end = url + len;
	const char *scheme = NULL;
	for (const char *s = url; s + 2 < end && *s != '/' && *s != '?' && *s != '#'; s++)
		if (s[0] == ':' && s[1] == '/' && s[2] == '/') {
			scheme = s + 3;
			break;
		}
	if (scheme) {
		/* scheme://[user[:password]@]host... */
		const char *auth_end = scheme;
		while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
			auth_end++;
		const char *at = NULL;
		for (const char *s = scheme; s < auth_end; s++)
			if (*s == '@')
				at = s;
		sg_buf_append(out, url, (size_t)(scheme - url));
		if (at) {
			const char *colon = memchr(scheme, ':', (size_t)(at - scheme));
			if (colon)
				sg_buf_append(out, scheme, (size_t)(colon - scheme) + 1);
			sg_buf_puts(out, SG_NET_MASK);
			p = at;
		} else {
			p = scheme;
		}
	}
	const char *query = p;
	while (query < end && *query != '?' && *query != '#')
		query++;
	if (query < end)
		query++;
	sg_buf_append(out, p, (size_t)(query - p));
	redact_params(out, query, end);
}

char *sg_net_masked_url(const char *url)
{
	struct sg_buf b;
	size_t n = url ? strlen(url) : 0;
	sg_buf_init(&b, n + 64);
	sg_net_redact_url(&b, url ? url : "", n);
	char *out = sg_buf_steal(&b);
	sg_buf_cleanup(&b);
	return out;
}

void sg_net_redact_form(struct sg_buf *out, const char *body, size_t len)
{
	redact_params(out, body, body + len);
}

void sg_net_redact_header(struct sg_buf *out, const char *name, const char *value)
{
	sg_buf_puts(out, name);
	sg_buf_puts(out, ": ");
	if (!sg_net_is_secret_header(name)) {
		sg_buf_puts(out, value);
		return;
	}
	if (!strcasecmp(name, "authorization") || !strcasecmp(name, "proxy-authorization")) {
		const char *sp = strchr(value, ' ');
		if (sp)
			sg_buf_append(out, value, (size_t)(sp - value) + 1);
	}
	sg_buf_puts(out, SG_NET_MASK);
}
