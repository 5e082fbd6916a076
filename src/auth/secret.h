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
 *     first encryption that needs it;
 *   - SNOWGLOBE_KEY_FILE (nowd and nowctl's --key-file), when set, names that
 *     file instead (a path ending in ".key"; rotation's files go beside it);
 *   - a store with no file (PostgreSQL) keeps it, unless one of those is set,
 *     in $XDG_CONFIG_HOME/snowglobe/keys/HOST-PORT-DBNAME.key (default
 *     ~/.config/...; sg_store_ident), made by nowctl init; every node of the
 *     instance needs a copy (or the same SNOWGLOBE_KEY).
 *
 * After nowctl keys rotate, values carry the id of the key that sealed them:
 * SG_SECRET_PREFIX, 16 hex digits, '$', the base64 -- under the key file
 * keys/<stem>.<id>.key; the id of the current key is in keys/<stem>.current
 * (no such file: the first key, keys/<stem>.key, is current, and its values
 * have no id).  A key is removed only once no value uses it; every key a
 * process has read stays in its memory, so a running nowd keeps reading.
 * With SNOWGLOBE_KEY there are no ids and no rotation (refused).
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

#define SG_SECRET_PREFIX   "$sg1$"
#define SG_SECRET_KEY_LEN  32
#define SG_SECRET_ENV      "SNOWGLOBE_KEY"
#define SG_SECRET_FILE_ENV "SNOWGLOBE_KEY_FILE"
#define SG_SECRET_KID_LEN  16

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

/* The key id in stored into kid ("" when it has none, or is not sealed).
 * SG_ERR_INTERNAL when the id is malformed. */
sg_err sg_secret_kid(const char *stored, char kid[SG_SECRET_KID_LEN + 1]);

/*
 * Whether presented is the secret stored (a password2 value, or a one-way
 * hash of password.h, itself possibly sealed): *ok.  Compared in constant
 * time; a stored value this instance cannot decrypt matches nothing.
 */
sg_err sg_secret_matches(struct sg_ctx *ctx, const char *stored, const char *presented, bool *ok);

/*
 * Whether ctx's instance key can be read, without making it (nowd checks
 * at start on a server, where a missing key is a node not yet given a copy
 * rather than a new instance).  path gets the key file looked for ("" for
 * SNOWGLOBE_KEY).  SG_ERR_NO_RESOURCE: the file is missing; SG_ERR_INTERNAL
 * (logged): unusable.
 */
sg_err sg_secret_require(struct sg_ctx *ctx, char *path, size_t size);

/* ---- rotation (secret_rotate.c drives it) ---- */

/* Whether the key comes from SNOWGLOBE_KEY (then there is no rotation). */
bool sg_secret_key_from_env(void);
/* The id of ctx's current key into kid ("" : the first key or SNOWGLOBE_KEY). */
sg_err sg_secret_current_kid(struct sg_ctx *ctx, char kid[SG_SECRET_KID_LEN + 1]);
/* Makes a new key file and makes it current (atomically): new values are
 * sealed under it from then on, by every process.  kid gets its id.
 * SG_ERR_BAD_PARAM when the key comes from SNOWGLOBE_KEY. */
sg_err sg_secret_new_current(struct sg_ctx *ctx, char kid[SG_SECRET_KID_LEN + 1]);
/* Removes every key file of ctx's instance but keep's: *removed counts them.
 * Only once no value is sealed under them. */
sg_err sg_secret_retire(struct sg_ctx *ctx, const char *keep, int *removed);

/* The key file for the SQLite database file db_path, into out (size bytes).
 * False when it does not fit. */
bool sg_secret_key_path(const char *db_path, char *out, size_t size);

#endif
