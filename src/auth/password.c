/*
 * password.c - argon2id password hashes.
 *
 * Parameters follow OWASP's argon2id recommendation (t=2, m=19 MiB): a
 * verification costs a few tens of milliseconds, which is why the Basic
 * auth layer caches verified credentials instead of hashing per request.
 */
#include "auth/password.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define OPSLIMIT 2
#define MEMLIMIT (19u * 1024u * 1024u)

char *sg_password_hash(const char *password)
{
	char *out = malloc(crypto_pwhash_STRBYTES);
	if (!out)
		return NULL;
	if (crypto_pwhash_str_alg(out, password, strlen(password), OPSLIMIT, MEMLIMIT,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

#define FAST_PREFIX "$sg-b2$"
#define FAST_LEN    (sizeof(FAST_PREFIX) - 1 + 64)

/* secret's fast hash, written into out: no allocation, so verifying cannot
 * fail for want of memory and pass for a wrong secret. */
static void secret_hash_into(const char *secret, char out[FAST_LEN + 1])
{
	unsigned char raw[32];
	crypto_generichash(raw, sizeof(raw), (const unsigned char *)secret, strlen(secret), NULL,
	                   0);
	memcpy(out, FAST_PREFIX, sizeof(FAST_PREFIX) - 1);
	sodium_bin2hex(out + sizeof(FAST_PREFIX) - 1, 65, raw, sizeof(raw));
}

char *sg_secret_hash(const char *secret)
{
	char *out = malloc(FAST_LEN + 1);
	if (out)
		secret_hash_into(secret, out);
	return out;
}

bool sg_password_verify(const char *hash, const char *password)
{
	if (!hash || !password || !sg_password_is_hash(hash))
		return false;
	if (!strncmp(hash, FAST_PREFIX, sizeof(FAST_PREFIX) - 1)) {
		char h[FAST_LEN + 1];
		secret_hash_into(password, h);
		return strlen(hash) == FAST_LEN && sodium_memcmp(h, hash, FAST_LEN) == 0;
	}
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool sg_password_is_hash(const char *s)
{
	return s && (strncmp(s, "$argon2id$", 10) == 0 ||
	             strncmp(s, FAST_PREFIX, sizeof(FAST_PREFIX) - 1) == 0);
}
