/*
 * util.h - ids, time, and small string helpers shared by every layer.
 */
#ifndef SG_CORE_UTIL_H
#define SG_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sys_id ------------------------------------------------------------ */

#define SG_ID_LEN 32

/* Fills out (33 bytes) with a random 32-lowercase-hex sys_id. */
void sg_id_new(char out[SG_ID_LEN + 1]);
/* Fills out with a sys_id derived from kind and name: the same inputs always
 * give the same id (base schema rows keep their ids across instances). */
void sg_id_derive(char out[SG_ID_LEN + 1], const char *kind, const char *name);
/* True for exactly 32 lowercase hex characters: the form of generated ids. */
bool sg_id_is_valid(const char *s);
/* True for an id a record may have: a generated one, or one a client chose,
 * exactly 32 characters each a letter, digit, '-', '.', '_' or '~' (RFC
 * 3986's unreserved set, so the id is its own path segment; no control,
 * space, '/', '%' or non-ASCII byte).  ServiceNow keeps any 32-character
 * id a client sends [9.1]. */
bool sg_id_is_key(const char *s);

/* Random URL-safe base64 (no padding) of nbytes random bytes; out must hold
 * 4 * nbytes / 3 + 3 bytes. */
void sg_random_token(char *out, size_t out_size, size_t nbytes);

/* ---- time -------------------------------------------------------------- */

#define SG_DT_LEN 19 /* "YYYY-MM-DD HH:MM:SS" */

/* Instance time: seconds since the epoch as the instance sees them (the
 * base clock moved by the instance's clock setting, below).  Every stamp,
 * expiry, lock-out, due job and date helper reads it. */
int64_t sg_time_now(void);
/* Instance time in milliseconds since the epoch: the same clock as
 * sg_time_now() with the base clock's milliseconds (none while frozen, or
 * with a replaced base clock). */
int64_t sg_time_now_ms(void);
/* The base clock, never moved by the instance's setting: for what runs in
 * the world's time (rate-limit windows, HTTP dates, a remote's tokens). */
int64_t sg_time_real(void);
/* Replaces the base clock (NULL restores the system clock); unit tests. */
void sg_time_set_clock(int64_t (*clock)(void));
/* The instance's clock setting (nowctl clock, model/clock.c keeps it in the
 * store): running, instance time is the base clock + value seconds; frozen,
 * it is the instant value.  Thread-safe. */
void sg_time_set_instance(bool frozen, int64_t value);
void sg_time_get_instance(bool *frozen, int64_t *value);
/* Each setting's number: a reader of the store takes it before reading, and
 * sg_time_set_instance_if applies what it read only if no newer setting
 * came in since (false then). */
unsigned long sg_time_instance_seq(void);
bool sg_time_set_instance_if(bool frozen, int64_t value, unsigned long seq);
/* Formats t as "YYYY-MM-DD HH:MM:SS" in UTC into out (20 bytes). */
void sg_time_format(int64_t t, char out[SG_DT_LEN + 1]);
/* Parses "YYYY-MM-DD[ HH:MM:SS]" (also with 'T' and a trailing 'Z') as UTC.
 * Returns false when s is not such a date. */
bool sg_time_parse(const char *s, int64_t *out);

/* ---- strings ----------------------------------------------------------- */

/* Parses a sysparm flag: true/false in any case, 1/0; anything else is
 * dflt.  NULL is dflt. */
bool sg_str_bool(const char *s, bool dflt);
bool sg_str_eq(const char *a, const char *b);
/* Writes a, sep and b joined into out (cap > 0 bytes), truncated as snprintf
 * would; the hot paths' lookup keys, without the printf machinery. */
void sg_str_join(char *out, size_t cap, const char *a, const char *sep, const char *b);
/* True for a name made of [a-z0-9_], starting with a letter or '_', at most
 * max characters: what a table or column name may be. */
bool sg_str_is_ident(const char *s, size_t max);
/* Decodes %XX and '+' in place. */
void sg_str_urldecode(char *s);
/* Decodes %XX only, in place ('+' stays): a URL's path. */
void sg_str_pctdecode(char *s);
/* The value of hex digit c, or -1. */
int sg_hexval(char c);
/* A whole number written in decimal digits only (no sign, no spaces), from
 * min to max: true with *out set; false for anything else. */
bool sg_str_number(const char *s, long long min, long long max, long long *out);
/* Length of at most max_chars UTF-8 characters of s, in bytes. */
size_t sg_str_utf8_prefix(const char *s, size_t max_chars);
/* The length of the valid UTF-8 sequence at s (n bytes available), its code
 * point in *cp when cp is not NULL; 0 when the sequence is invalid
 * (overlong, a surrogate, past U+10FFFF, cut short) or n is 0. */
size_t sg_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
