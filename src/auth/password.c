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

bool sg_password_verify(const char *hash, const char *password)
{
	if (!hash || !password || !sg_password_is_hash(hash))
		return false;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool sg_password_is_hash(const char *s)
{
	return s && strncmp(s, "$argon2id$", 10) == 0;
}
