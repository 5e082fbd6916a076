/*
 * password.h - one-way password hashes (argon2id, libsodium).
 */
#ifndef SG_AUTH_PASSWORD_H
#define SG_AUTH_PASSWORD_H

#include <stdbool.h>

/* An argon2id hash string of password; new string the caller frees, or NULL. */
char *sg_password_hash(const char *password);
/* True when password matches the stored hash.  The fast hash's check needs
 * no memory; libsodium's argon2id check answers false alike for a mismatch
 * and for want of its 19 MiB. */
bool sg_password_verify(const char *hash, const char *password);
/* True when s looks like a hash this module made (so it is not re-hashed). */
bool sg_password_is_hash(const char *s);
/*
 * A fast one-way hash for secrets that are long random strings already
 * (tokens, generated client secrets): "$sg-b2$" + hex BLAKE2b-256.  Such
 * secrets need no work factor; a guessable password does.  New string.
 */
char *sg_secret_hash(const char *secret);

#endif
