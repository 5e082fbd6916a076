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

char *sg_secret_hash(const char *secret)
{
	unsigned char raw[32];
	crypto_generichash(raw, sizeof(raw), (const unsigned char *)secret, strlen(secret), NULL, 0);
	char *out = malloc(sizeof(FAST_PREFIX) + 64);
	if (!out)
		return NULL;
	memcpy(out, FAST_PREFIX, sizeof(FAST_PREFIX) - 1);
	sodium_bin2hex(out + sizeof(FAST_PREFIX) - 1, 65, raw, sizeof(raw));
	return out;
}

bool sg_password_verify(const char *hash, const char *password)
{
	if (!hash || !password || !sg_password_is_hash(hash))
		return false;
	if (!strncmp(hash, FAST_PREFIX, sizeof(FAST_PREFIX) - 1)) {
		char *h = sg_secret_hash(password);
		bool ok = h && strlen(h) == strlen(hash) && sodium_memcmp(h, hash, strlen(h)) == 0;
		free(h);
		return ok;
	}
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool sg_password_is_hash(const char *s)
{
	return s && (strncmp(s, "$argon2id$", 10) == 0 ||
		     strncmp(s, FAST_PREFIX, sizeof(FAST_PREFIX) - 1) == 0);
}
