/*
 * util.c - ids, time and string helpers.
 */
#include "core/util.h"

#include <errno.h>
#include <pthread.h>
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void sg_id_new(char out[SG_ID_LEN + 1])
{
	unsigned char raw[SG_ID_LEN / 2];
	randombytes_buf(raw, sizeof(raw));
	hex(out, raw, sizeof(raw));
}

void sg_id_derive(char out[SG_ID_LEN + 1], const char *kind, const char *name)
{
	unsigned char raw[SG_ID_LEN / 2];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof(raw));
	crypto_generichash_update(&st, (const unsigned char *)kind, strlen(kind));
	crypto_generichash_update(&st, (const unsigned char *)"\0", 1);
	crypto_generichash_update(&st, (const unsigned char *)name, strlen(name));
	crypto_generichash_final(&st, raw, sizeof(raw));
	hex(out, raw, sizeof(raw));
}

bool sg_id_is_valid(const char *s)
{
	if (!s)
		return false;
	size_t i = 0;
	for (; s[i]; i++) {
		char c = s[i];
		if (i >= SG_ID_LEN || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return i == SG_ID_LEN;
}

bool sg_id_is_key(const char *s)
{
	if (!s)
		return false;
	size_t i = 0;
	for (; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		          (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' || c == '~';
		if (i >= SG_ID_LEN || !ok)
			return false;
	}
	return i == SG_ID_LEN;
}

void sg_random_token(char *out, size_t out_size, size_t nbytes)
{
	unsigned char raw[128];
	if (nbytes > sizeof(raw))
		nbytes = sizeof(raw);
	randombytes_buf(raw, nbytes);
	sodium_bin2base64(out, out_size, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static int64_t system_clock(void)
{
	return (int64_t)time(NULL);
}

static int64_t (*clock_fn)(void) = system_clock;

/* The instance's setting: one lock, so a reader never sees the mode of one
 * setting with the value of another. */
static pthread_mutex_t instance_lock = PTHREAD_MUTEX_INITIALIZER;
static bool instance_frozen;
static int64_t instance_value; /* offset while running, the instant while frozen */
static unsigned long instance_seq;

int64_t sg_time_real(void)
{
	return clock_fn();
}

int64_t sg_time_now(void)
{
	int64_t base = clock_fn();
	pthread_mutex_lock(&instance_lock);
	int64_t t = instance_frozen ? instance_value : base + instance_value;
	pthread_mutex_unlock(&instance_lock);
	return t;
}

int64_t sg_time_now_ms(void)
{
	int64_t base_ms;
	if (clock_fn == system_clock) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		base_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	} else {
		base_ms = clock_fn() * 1000;
	}
	pthread_mutex_lock(&instance_lock);
	int64_t t = instance_frozen ? instance_value * 1000 : base_ms + instance_value * 1000;
	pthread_mutex_unlock(&instance_lock);
	return t;
}

void sg_time_set_instance(bool frozen, int64_t value)
{
	pthread_mutex_lock(&instance_lock);
	instance_frozen = frozen;
	instance_value = value;
	instance_seq++;
	pthread_mutex_unlock(&instance_lock);
}

unsigned long sg_time_instance_seq(void)
{
	pthread_mutex_lock(&instance_lock);
	unsigned long seq = instance_seq;
	pthread_mutex_unlock(&instance_lock);
	return seq;
}

bool sg_time_set_instance_if(bool frozen, int64_t value, unsigned long seq)
{
	pthread_mutex_lock(&instance_lock);
	bool ok = instance_seq == seq;
	if (ok && (instance_frozen != frozen || instance_value != value)) {
		instance_frozen = frozen;
		instance_value = value;
		instance_seq++;
	}
	pthread_mutex_unlock(&instance_lock);
	return ok;
}

void sg_time_get_instance(bool *frozen, int64_t *value)
{
	pthread_mutex_lock(&instance_lock);
	*frozen = instance_frozen;
	*value = instance_value;
	pthread_mutex_unlock(&instance_lock);
}

void sg_time_set_clock(int64_t (*clock)(void))
{
	clock_fn = clock ? clock : system_clock;
}

void sg_time_format(int64_t t, char out[SG_DT_LEN + 1])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	/* "YYYY-MM-DD hh:mm:ss" by hand: snprintf was most of a display value
	 * (~2,800 instructions, three date-times a row). */
	int year = tm.tm_year + 1900;
	if (year < 0 || year > 9999) {
		char tmp[64];
		snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d %02d:%02d:%02d", year, tm.tm_mon + 1,
		         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		memcpy(out, tmp, SG_DT_LEN);
		out[SG_DT_LEN] = '\0';
		return;
	}
	const int parts[] = {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
	static const char seps[] = "-- ::";
	out[0] = (char)('0' + year / 1000);
	out[1] = (char)('0' + year / 100 % 10);
	out[2] = (char)('0' + year / 10 % 10);
	out[3] = (char)('0' + year % 10);
	for (int i = 0; i < 5; i++) {
		out[4 + 3 * i] = seps[i];
		out[5 + 3 * i] = (char)('0' + parts[i] / 10);
		out[6 + 3 * i] = (char)('0' + parts[i] % 10);
	}
	out[SG_DT_LEN] = '\0';
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool sg_time_parse(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (!s || strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	const char *p = s + 10;
	if (*p == ' ' || *p == 'T') {
		if (strlen(p) < 9 || !digits(p + 1, 2, &h) || p[3] != ':' ||
		    !digits(p + 4, 2, &mi) || p[6] != ':' || !digits(p + 7, 2, &sec))
			return false;
		p += 9;
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				;
		if (*p == 'Z')
			p++;
	}
	if (*p)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	struct tm tm = {0};
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	return true;
}

bool sg_str_bool(const char *s, bool dflt)
{
	if (!s)
		return dflt;
	if (!strcasecmp(s, "true") || !strcmp(s, "1"))
		return true;
	if (!strcasecmp(s, "false") || !strcmp(s, "0"))
		return false;
	return dflt;
}

void sg_str_join(char *out, size_t cap, const char *a, const char *sep, const char *b)
{
	const char *parts[3] = {a, sep, b};
	size_t len = 0;
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(parts[i]);
		if (n > cap - 1 - len)
			n = cap - 1 - len;
		memcpy(out + len, parts[i], n);
		len += n;
	}
	out[len] = '\0';
}

bool sg_str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool sg_str_is_ident(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max)
		return false;
	if (!(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

bool sg_str_number(const char *s, long long min, long long max, long long *out)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int sg_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void decode(char *s, bool plus)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (*r == '+' && plus) {
			*w++ = ' ';
		} else if (*r == '%' && sg_hexval(r[1]) >= 0 && sg_hexval(r[2]) >= 0) {
			*w++ = (char)(sg_hexval(r[1]) * 16 + sg_hexval(r[2]));
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

void sg_str_urldecode(char *s)
{
	decode(s, true);
}

void sg_str_pctdecode(char *s)
{
	decode(s, false);
}

size_t sg_str_utf8_prefix(const char *s, size_t max_chars)
{
	size_t i = 0, chars = 0;
	while (s[i] && chars < max_chars) {
		i++;
		while ((s[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return i;
}

size_t sg_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (!n)
		return 0;
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		len = 1, v = c, min = 0;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	if (cp)
		*cp = v;
	return len;
}
