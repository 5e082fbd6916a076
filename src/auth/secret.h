/*
 * secret.h - two-way secrets: password2 values encrypted at rest.
 *
 * A password2 value (every SG_FT_PASSWORD2 field, and sys_properties rows of
 * type password2) is stored as SG_SECRET_PREFIX followed by the base64 of a
 * random nonce and libsodium's crypto_secretbox_easy of the clear value, under
 * the instance key.  The key is never in the database:
 *
 *   - SNOWGLOBE_KEY, when set: the base64 of 32 bytes (it wins);
 *   - else the key file beside the SQLite database file F: F's folder,
 *     keys/, F's name without its extension, ".key" -- DATA/keys/instance.key
 *     for --data DATA, /srv/keys/prod.key for --db sqlite:/srv/prod.db --
 *     32 random bytes, mode 0600 (folder 0700), made by nowctl init or on the
 *     first encryption that needs it.
 *
 * A value without the prefix is clear text stored before encryption existed:
 * it is read as is, and encrypted the next time it is written.  Only code
 * that needs the clear value (outbound OAuth) decrypts, through
 * sg_secret_decrypt; REST never returns secret fields.
 */
#ifndef SG_AUTH_SECRET_H
#define SG_AUTH_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "model/model.h"

#define SG_SECRET_PREFIX  "$sg1$"
#define SG_SECRET_KEY_LEN 32
#define SG_SECRET_ENV     "SNOWGLOBE_KEY"

/* Whether v has the form of an encrypted value (the prefix). */
bool sg_secret_is_sealed(const char *v);

/* Encrypts plain under key: *out a new "$sg1$..." string, caller frees.
 * SG_ERR_NOMEM. */
sg_err sg_secret_seal_with(const unsigned char key[SG_SECRET_KEY_LEN], const char *plain,
                           char **out);
/* Decrypts stored under key: *out the new clear string, caller frees; a value
 * without the prefix is copied as is.  SG_ERR_INTERNAL when it does not
 * decrypt (another key, altered), SG_ERR_NOMEM. */
sg_err sg_secret_open_with(const unsigned char key[SG_SECRET_KEY_LEN], const char *stored,
                           char **out);

/*
 * The instance key of ctx's instance (see above) into key.  create makes the
 * key file when it is missing.  SG_ERR_INTERNAL (logged) when there is no
 * key: SNOWGLOBE_KEY is not 32 bytes of base64, the store has no file and
 * SNOWGLOBE_KEY is unset, the file is missing (and !create) or unreadable.
 */
sg_err sg_secret_key(struct sg_ctx *ctx, bool create, unsigned char key[SG_SECRET_KEY_LEN]);

/* Encrypts plain under ctx's instance key (made when missing): *out new. */
sg_err sg_secret_encrypt(struct sg_ctx *ctx, const char *plain, char **out);
/* Decrypts a stored password2 value of ctx's instance: *out the new clear
 * string (a value stored before encryption is returned as is). */
sg_err sg_secret_decrypt(struct sg_ctx *ctx, const char *stored, char **out);

/* The key file for the SQLite database file db_path, into out (size bytes).
 * False when it does not fit. */
bool sg_secret_key_path(const char *db_path, char *out, size_t size);

#endif
