/*
 * secret.c - password2 values encrypted with the instance key (secret.h).
 *
 * The key file is found from the database file itself (SQLite's
 * database_list), so every program that opens the instance -- nowd, nowctl
 * with --data or --db -- finds the same key without being told.  The last
 * key read is kept for the process, by file name.
 */
#include "auth/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/dialect.h"
#include "store/sql.h"
#include "store/store.h"

#define PREFIX_LEN (sizeof(SG_SECRET_PREFIX) - 1)

bool sg_secret_is_sealed(const char *v)
{
	return v && !strncmp(v, SG_SECRET_PREFIX, PREFIX_LEN);
}

sg_err sg_secret_seal_with(const unsigned char key[SG_SECRET_KEY_LEN], const char *plain,
                           char **out)
{
	*out = NULL;
	if (sodium_init() < 0) /* idempotent; the programs have called it */
		return SG_ERR_INTERNAL;
	size_t plen = strlen(plain);
	size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
	unsigned char *box = malloc(blen);
	size_t b64 = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(PREFIX_LEN + b64);
	if (!box || !s) {
		free(box);
		free(s);
		return SG_ERR_NOMEM;
	}
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, plen,
	                      box, key);
	memcpy(s, SG_SECRET_PREFIX, PREFIX_LEN);
	sodium_bin2base64(s + PREFIX_LEN, b64, box, blen, sodium_base64_VARIANT_ORIGINAL);
	free(box);
	*out = s;
	return SG_ERR_OK;
}

sg_err sg_secret_open_with(const unsigned char key[SG_SECRET_KEY_LEN], const char *stored,
                           char **out)
{
	*out = NULL;
	if (!sg_secret_is_sealed(stored)) {
		*out = strdup(stored);
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	const char *b64 = stored + PREFIX_LEN;
	size_t b64len = strlen(b64), blen;
	unsigned char *box = malloc(b64len / 4 * 3 + 3);
	if (!box)
		return SG_ERR_NOMEM;
	sg_err err = SG_ERR_INTERNAL;
	if (sodium_base642bin(box, b64len / 4 * 3 + 3, b64, b64len, NULL, &blen, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    blen >= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
		size_t plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
		char *plain = malloc(plen + 1);
		if (!plain) {
			err = SG_ERR_NOMEM;
		} else if (crypto_secretbox_open_easy(
		               (unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
		               blen - crypto_secretbox_NONCEBYTES, box, key) == 0) {
			plain[plen] = '\0';
			*out = plain;
			err = SG_ERR_OK;
		} else {
			free(plain);
		}
	}
	free(box);
	return err;
}

bool sg_secret_key_path(const char *db_path, char *out, size_t size)
{
	const char *slash = strrchr(db_path, '/');
	const char *name = slash ? slash + 1 : db_path;
	size_t dir_len = (size_t)(name - db_path);
	const char *dot = strrchr(name, '.');
	size_t stem = (dot && dot != name) ? (size_t)(dot - name) : strlen(name);
	int n = snprintf(out, size, "%.*skeys/%.*s.key", (int)dir_len, db_path, (int)stem, name);
	return n > 0 && (size_t)n < size;
}

/* ---- the key --------------------------------------------------------------- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char cache_path[4096];
static unsigned char cache_key[SG_SECRET_KEY_LEN];

/* Reads a key file of exactly SG_SECRET_KEY_LEN bytes.  1 done, 0 missing,
 * -1 unusable (logged). */
static int read_key(const char *path, unsigned char key[SG_SECRET_KEY_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		sg_log_error("secret: cannot open the key file %s: %s", path, strerror(errno));
		return -1;
	}
	unsigned char buf[SG_SECRET_KEY_LEN + 1];
	size_t got = 0;
	while (got < sizeof(buf)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != SG_SECRET_KEY_LEN) {
		sg_log_error("secret: the key file %s is not %d bytes", path, SG_SECRET_KEY_LEN);
		sodium_memzero(buf, sizeof(buf));
		return -1;
	}
	memcpy(key, buf, SG_SECRET_KEY_LEN);
	sodium_memzero(buf, sizeof(buf));
	return 1;
}

/* Makes the key file: 32 random bytes written to a temporary file (0600)
 * and linked into place, so that two processes making it at once end with
 * one key, the first.  1 done (key read back), -1 failed (logged). */
static int create_key(const char *path, unsigned char key[SG_SECRET_KEY_LEN])
{
	char dir[4096], tmp[4096 + 16];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		sg_log_error("secret: cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	int fd = mkstemp(tmp); /* 0600 */
	if (fd < 0) {
		sg_log_error("secret: cannot write in %s: %s", dir, strerror(errno));
		return -1;
	}
	unsigned char fresh[SG_SECRET_KEY_LEN];
	randombytes_buf(fresh, sizeof(fresh));
	bool ok = fchmod(fd, 0600) == 0 &&
	          write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(fd) == 0;
	sodium_memzero(fresh, sizeof(fresh));
	ok = close(fd) == 0 && ok;
	if (ok && link(tmp, path) != 0 && errno != EEXIST)
		ok = false;
	int saved = errno;
	unlink(tmp);
	if (!ok) {
		sg_log_error("secret: cannot write the key file %s: %s", path, strerror(saved));
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	sg_log_info("secret: made the instance key %s (back it up: without it password2 values "
	            "are lost)",
	            path);
	return read_key(path, key) == 1 ? 1 : -1;
}

/* The database file of ctx's instance: *out new, NULL when it has none. */
static sg_err db_file(struct sg_ctx *ctx, char **out)
{
	*out = NULL;
	if (strcmp(sg_conn_dialect(ctx->conn)->name, "sqlite") != 0)
		return SG_ERR_OK;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"file\" FROM pragma_database_list WHERE \"name\" = 'main'");
	sg_err err = sg_conn_query_string(ctx->conn, &q, out);
	sg_sql_cleanup(&q);
	if (!err && *out && !**out) {
		free(*out);
		*out = NULL;
	}
	return err;
}

sg_err sg_secret_key(struct sg_ctx *ctx, bool create, unsigned char key[SG_SECRET_KEY_LEN])
{
	const char *env = getenv(SG_SECRET_ENV);
	if (env && *env) {
		size_t len = 0;
		unsigned char buf[SG_SECRET_KEY_LEN + 3];
		if (sodium_base642bin(buf, sizeof(buf), env, strlen(env), " \n", &len, NULL,
		                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    len != SG_SECRET_KEY_LEN) {
			sodium_memzero(buf, sizeof(buf));
			sg_log_error("secret: %s is not the base64 of %d bytes", SG_SECRET_ENV,
			             SG_SECRET_KEY_LEN);
			return SG_ERR_INTERNAL;
		}
		memcpy(key, buf, SG_SECRET_KEY_LEN);
		sodium_memzero(buf, sizeof(buf));
		return SG_ERR_OK;
	}
	char *file;
	sg_err err = db_file(ctx, &file);
	if (err)
		return err;
	char path[sizeof(cache_path)];
	if (!file || !sg_secret_key_path(file, path, sizeof(path))) {
		sg_log_error("secret: this store has no file to keep a key beside: set %s",
		             SG_SECRET_ENV);
		free(file);
		return SG_ERR_INTERNAL;
	}
	free(file);
	pthread_mutex_lock(&cache_lock);
	int got = 1;
	if (strcmp(cache_path, path) != 0) {
		got = read_key(path, cache_key);
		if (got == 0 && create)
			got = create_key(path, cache_key);
		if (got == 1)
			memcpy(cache_path, path, strlen(path) + 1);
		else
			cache_path[0] = '\0';
	}
	if (got == 1)
		memcpy(key, cache_key, SG_SECRET_KEY_LEN);
	pthread_mutex_unlock(&cache_lock);
	if (got == 0)
		sg_log_error("secret: the instance key %s is missing: password2 values cannot be "
		             "read (restore it from a backup, or set %s)",
		             path, SG_SECRET_ENV);
	return got == 1 ? SG_ERR_OK : SG_ERR_INTERNAL;
}

sg_err sg_secret_encrypt(struct sg_ctx *ctx, const char *plain, char **out)
{
	unsigned char key[SG_SECRET_KEY_LEN];
	*out = NULL;
	sg_err err = sg_secret_key(ctx, true, key);
	if (!err)
		err = sg_secret_seal_with(key, plain, out);
	sodium_memzero(key, sizeof(key));
	return err;
}

sg_err sg_secret_decrypt(struct sg_ctx *ctx, const char *stored, char **out)
{
	*out = NULL;
	if (!sg_secret_is_sealed(stored)) {
		*out = strdup(stored);
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	unsigned char key[SG_SECRET_KEY_LEN];
	sg_err err = sg_secret_key(ctx, false, key);
	if (!err)
		err = sg_secret_open_with(key, stored, out);
	sodium_memzero(key, sizeof(key));
	return err;
}
