/*
 * secret.c - password2 values encrypted with the instance key (secret.h).
 *
 * The key file is found from the database file itself (SQLite's
 * database_list), so every program that opens the instance -- nowd, nowctl
 * with --data or --db -- finds the same key without being told.  The last
 * key read is kept for the process, by file name.
 */
#include "auth/secret.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/password.h"
#include "core/log.h"
#include "store/dialect.h"
#include "store/sql.h"
#include "store/store.h"

#define PREFIX_LEN (sizeof(SG_SECRET_PREFIX) - 1)

bool sg_secret_is_sealed(const char *v)
{
	return v && !strncmp(v, SG_SECRET_PREFIX, PREFIX_LEN);
}

/* Seals plain under key, with kid (may be NULL or "") in the prefix. */
static sg_err seal(const unsigned char key[SG_SECRET_KEY_LEN], const char *kid, const char *plain,
                   char **out)
{
	*out = NULL;
	if (sodium_init() < 0) /* idempotent; the programs have called it */
		return SG_ERR_INTERNAL;
	size_t plen = strlen(plain), klen = kid && *kid ? strlen(kid) + 1 : 0;
	size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
	unsigned char *box = malloc(blen);
	size_t b64 = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(PREFIX_LEN + klen + b64);
	if (!box || !s) {
		free(box);
		free(s);
		return SG_ERR_NOMEM;
	}
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, plen,
	                      box, key);
	memcpy(s, SG_SECRET_PREFIX, PREFIX_LEN);
	if (klen) {
		memcpy(s + PREFIX_LEN, kid, klen - 1);
		s[PREFIX_LEN + klen - 1] = '$';
	}
	sodium_bin2base64(s + PREFIX_LEN + klen, b64, box, blen, sodium_base64_VARIANT_ORIGINAL);
	free(box);
	*out = s;
	return SG_ERR_OK;
}

sg_err sg_secret_seal_with(const unsigned char key[SG_SECRET_KEY_LEN], const char *plain,
                           char **out)
{
	return seal(key, NULL, plain, out);
}

/* The base64 part of a sealed value: past the prefix and the key id, when
 * there is one ("$sg1$<kid>$<base64>"; base64 has no '$'). */
static const char *sealed_body(const char *stored)
{
	const char *b = stored + PREFIX_LEN, *dollar = strchr(b, '$');
	return dollar ? dollar + 1 : b;
}

sg_err sg_secret_kid(const char *stored, char kid[SG_SECRET_KID_LEN + 1])
{
	kid[0] = '\0';
	if (!sg_secret_is_sealed(stored))
		return SG_ERR_OK;
	const char *b = stored + PREFIX_LEN, *dollar = strchr(b, '$');
	if (!dollar)
		return SG_ERR_OK;
	size_t n = (size_t)(dollar - b);
	if (n != SG_SECRET_KID_LEN || strspn(b, "0123456789abcdef") < n)
		return SG_ERR_INTERNAL;
	memcpy(kid, b, n);
	kid[n] = '\0';
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
	const char *b64 = sealed_body(stored);
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

/* ---- the keys -------------------------------------------------------------- */

/* Keys read, by file name: every key a value of this process named, so a
 * running nowd keeps reading values sealed under a key that nowctl keys
 * rotate has since removed, and reads the new key's file on first use. */
#define CACHE_SLOTS 8
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char path[4096];
	unsigned char key[SG_SECRET_KEY_LEN];
} cache[CACHE_SLOTS];
static unsigned cache_next;

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
	/* Each missing folder of the path (a config folder's keys/), 0700. */
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int made = mkdir(dir, 0700);
		*p = '/';
		if (made != 0 && errno != EEXIST) {
			sg_log_error("secret: cannot make %s: %s", dir, strerror(errno));
			return -1;
		}
	}
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
	struct sg_sql q;
	sg_sql_init(&q);
	if (!sg_conn_dialect(ctx->conn)->db_file(&q)) {
		sg_sql_cleanup(&q);
		return SG_ERR_OK; /* an engine without a file (a server) */
	}
	sg_err err = sg_conn_query_string(ctx->conn, &q, out);
	sg_sql_cleanup(&q);
	if (!err && *out && !**out) {
		free(*out);
		*out = NULL;
	}
	return err;
}

/* SNOWGLOBE_KEY into key: 1 set and usable, 0 unset, -1 unusable (logged). */
static int env_key(unsigned char key[SG_SECRET_KEY_LEN])
{
	const char *env = getenv(SG_SECRET_ENV);
	if (!env || !*env)
		return 0;
	size_t len = 0;
	unsigned char buf[SG_SECRET_KEY_LEN + 3];
	if (sodium_base642bin(buf, sizeof(buf), env, strlen(env), " \n", &len, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != SG_SECRET_KEY_LEN) {
		sodium_memzero(buf, sizeof(buf));
		sg_log_error("secret: %s is not the base64 of %d bytes", SG_SECRET_ENV,
		             SG_SECRET_KEY_LEN);
		return -1;
	}
	memcpy(key, buf, SG_SECRET_KEY_LEN);
	sodium_memzero(buf, sizeof(buf));
	return 1;
}

bool sg_secret_key_from_env(void)
{
	const char *env = getenv(SG_SECRET_ENV);
	return env && *env;
}

/* The key file of a store with no file of its own (a server), into out:
 * the default under the user's config folder, named by the store's
 * ident (host, port, database). */
static sg_err default_key_file(struct sg_ctx *ctx, char *out, size_t size)
{
	char *ident = NULL;
	sg_err err = sg_store_ident(ctx->model->store, &ident);
	if (err)
		return err;
	const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;
	if (cfg && *cfg)
		n = snprintf(out, size, "%s/snowglobe/keys/%s.key", cfg, ident);
	else if (home && *home)
		n = snprintf(out, size, "%s/.config/snowglobe/keys/%s.key", home, ident);
	else
		n = -1;
	free(ident);
	if (n < 0 || (size_t)n >= size) {
		sg_log_error("secret: no folder for the instance key (HOME unset): set %s or %s",
		             SG_SECRET_FILE_ENV, SG_SECRET_ENV);
		return SG_ERR_INTERNAL;
	}
	return SG_ERR_OK;
}

/* The key files' common stem, "DATA/keys/instance", into base: from
 * SNOWGLOBE_KEY_FILE when set, else beside the database file, else (a
 * server) the default key file.  SG_ERR_INTERNAL (logged) when none. */
static sg_err key_base(struct sg_ctx *ctx, char *base, size_t size)
{
	const char *env = getenv(SG_SECRET_FILE_ENV);
	if (env && *env) {
		size_t n = strlen(env);
		if (n < 5 || strcmp(env + n - 4, ".key") || n >= size) {
			sg_log_error("secret: %s must name a file ending in .key",
			             SG_SECRET_FILE_ENV);
			return SG_ERR_INTERNAL;
		}
		memcpy(base, env, n - 4);
		base[n - 4] = '\0';
		return SG_ERR_OK;
	}
	char *file;
	sg_err err = db_file(ctx, &file);
	if (err)
		return err;
	if (!file) {
		err = default_key_file(ctx, base, size);
		if (!err)
			base[strlen(base) - 4] = '\0'; /* ".key" */
		return err;
	}
	if (!sg_secret_key_path(file, base, size)) {
		sg_log_error("secret: the key file's path is too long: set %s", SG_SECRET_FILE_ENV);
		free(file);
		return SG_ERR_INTERNAL;
	}
	free(file);
	base[strlen(base) - 4] = '\0'; /* ".key" */
	return SG_ERR_OK;
}

/* The id of the current key (base.current, written by rotation): 1 read,
 * 0 none (the first key, base.key, is current), -1 unusable (logged). */
static int current_kid(const char *base, char kid[SG_SECRET_KID_LEN + 1])
{
	char path[4096 + 16];
	snprintf(path, sizeof(path), "%s.current", base);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		sg_log_error("secret: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	char buf[SG_SECRET_KID_LEN + 2];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	if (n != SG_SECRET_KID_LEN || strspn(buf, "0123456789abcdef") < (size_t)n) {
		sg_log_error("secret: %s does not hold a key id", path);
		return -1;
	}
	memcpy(kid, buf, (size_t)n);
	kid[n] = '\0';
	return 1;
}

/* The key in file path, from the cache or read (made when create and
 * missing).  1 done, 0 missing, -1 unusable (logged). */
static int cached_key(const char *path, bool create, unsigned char key[SG_SECRET_KEY_LEN])
{
	pthread_mutex_lock(&cache_lock);
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if (!strcmp(cache[i].path, path)) {
			memcpy(key, cache[i].key, SG_SECRET_KEY_LEN);
			pthread_mutex_unlock(&cache_lock);
			return 1;
		}
	int got = read_key(path, key);
	if (got == 0 && create)
		got = create_key(path, key);
	if (got == 1 && strlen(path) < sizeof(cache[0].path)) {
		unsigned slot = cache_next++ % CACHE_SLOTS;
		memcpy(cache[slot].path, path, strlen(path) + 1);
		memcpy(cache[slot].key, key, SG_SECRET_KEY_LEN);
	}
	pthread_mutex_unlock(&cache_lock);
	return got;
}

/* The key sealed values with id kid ("": the first key) were sealed under. */
static sg_err key_for(struct sg_ctx *ctx, const char *kid, bool create,
                      unsigned char key[SG_SECRET_KEY_LEN])
{
	int env = env_key(key);
	if (env)
		return env > 0 ? SG_ERR_OK : SG_ERR_INTERNAL;
	char base[4096], path[4096 + 32];
	sg_err err = key_base(ctx, base, sizeof(base));
	if (err)
		return err;
	if (*kid)
		snprintf(path, sizeof(path), "%s.%s.key", base, kid);
	else
		snprintf(path, sizeof(path), "%s.key", base);
	int got = cached_key(path, create && !*kid, key);
	if (got == 0)
		sg_log_error("secret: the instance key %s is missing: password2 values cannot be "
		             "read (restore it from a backup, or set %s)",
		             path, SG_SECRET_ENV);
	return got == 1 ? SG_ERR_OK : SG_ERR_INTERNAL;
}

/* The current key and its id ("" for SNOWGLOBE_KEY and the first key). */
static sg_err current_key(struct sg_ctx *ctx, bool create, unsigned char key[SG_SECRET_KEY_LEN],
                          char kid[SG_SECRET_KID_LEN + 1])
{
	kid[0] = '\0';
	if (!sg_secret_key_from_env()) {
		char base[4096];
		sg_err err = key_base(ctx, base, sizeof(base));
		if (err)
			return err;
		if (current_kid(base, kid) < 0)
			return SG_ERR_INTERNAL;
	}
	return key_for(ctx, kid, create, key);
}

sg_err sg_secret_key(struct sg_ctx *ctx, bool create, unsigned char key[SG_SECRET_KEY_LEN])
{
	char kid[SG_SECRET_KID_LEN + 1];
	return current_key(ctx, create, key, kid);
}

sg_err sg_secret_current_kid(struct sg_ctx *ctx, char kid[SG_SECRET_KID_LEN + 1])
{
	unsigned char key[SG_SECRET_KEY_LEN];
	sg_err err = current_key(ctx, false, key, kid);
	sodium_memzero(key, sizeof(key));
	return err;
}

sg_err sg_secret_encrypt(struct sg_ctx *ctx, const char *plain, char **out)
{
	unsigned char key[SG_SECRET_KEY_LEN];
	char kid[SG_SECRET_KID_LEN + 1];
	*out = NULL;
	sg_err err = current_key(ctx, true, key, kid);
	if (!err)
		err = seal(key, kid, plain, out);
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
	char kid[SG_SECRET_KID_LEN + 1];
	if (sg_secret_kid(stored, kid))
		return SG_ERR_INTERNAL;
	unsigned char key[SG_SECRET_KEY_LEN];
	sg_err err = key_for(ctx, kid, false, key);
	if (!err)
		err = sg_secret_open_with(key, stored, out);
	sodium_memzero(key, sizeof(key));
	return err;
}

sg_err sg_secret_matches(struct sg_ctx *ctx, const char *stored, const char *presented, bool *ok)
{
	*ok = false;
	if (!stored || !*stored || !presented)
		return SG_ERR_OK;
	char *clear = NULL;
	sg_err err = sg_secret_decrypt(ctx, stored, &clear);
	if (err == SG_ERR_NOMEM)
		return err;
	if (err) /* logged: a value this instance cannot read matches nothing */
		return SG_ERR_OK;
	if (sg_password_is_hash(clear)) {
		*ok = sg_password_verify(clear, presented);
	} else {
		size_t a = strlen(clear), b = strlen(presented);
		*ok = a == b && sodium_memcmp(clear, presented, a) == 0;
	}
	sodium_memzero(clear, strlen(clear));
	free(clear);
	return SG_ERR_OK;
}

/* ---- rotation --------------------------------------------------------------- */

/* Writes text to path atomically (a temporary file renamed over it, both
 * synced, then the folder). */
static bool write_atomic(const char *path, const char *text)
{
	char tmp[8192];
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return false;
	size_t len = strlen(text);
	bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (ok)
		ok = rename(tmp, path) == 0;
	if (!ok) {
		unlink(tmp);
		return false;
	}
	char dir[8192];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return true;
}

sg_err sg_secret_new_current(struct sg_ctx *ctx, char kid[SG_SECRET_KID_LEN + 1])
{
	if (sg_secret_key_from_env())
		return SG_ERR_BAD_PARAM;
	char base[4096], path[4096 + 32];
	sg_err err = key_base(ctx, base, sizeof(base));
	if (err)
		return err;
	unsigned char raw[SG_SECRET_KID_LEN / 2], key[SG_SECRET_KEY_LEN];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(kid, SG_SECRET_KID_LEN + 1, raw, sizeof(raw));
	snprintf(path, sizeof(path), "%s.%s.key", base, kid);
	int got = cached_key(path, false, key);
	if (got == 0) {
		pthread_mutex_lock(&cache_lock);
		got = create_key(path, key);
		pthread_mutex_unlock(&cache_lock);
	}
	sodium_memzero(key, sizeof(key));
	if (got != 1)
		return SG_ERR_INTERNAL;
	snprintf(path, sizeof(path), "%s.current", base);
	char line[SG_SECRET_KID_LEN + 2];
	snprintf(line, sizeof(line), "%s\n", kid);
	if (!write_atomic(path, line)) {
		sg_log_error("secret: cannot write %s: %s", path, strerror(errno));
		return SG_ERR_INTERNAL;
	}
	sg_log_info("secret: the instance key is now %s.%s.key (back it up)", base, kid);
	return SG_ERR_OK;
}

sg_err sg_secret_retire(struct sg_ctx *ctx, const char *keep, int *removed)
{
	*removed = 0;
	char base[4096];
	sg_err err = key_base(ctx, base, sizeof(base));
	if (err)
		return err;
	char *slash = strrchr(base, '/');
	const char *stem = slash ? slash + 1 : base;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - base) : 1, slash ? base : ".");
	DIR *d = opendir(dir);
	if (!d)
		return SG_ERR_INTERNAL;
	size_t sl = strlen(stem);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		size_t nl = strlen(n);
		if (strncmp(n, stem, sl) || nl < sl + 4 || strcmp(n + nl - 4, ".key"))
			continue;
		/* base.key, or base.<kid>.key */
		bool first = nl == sl + 4;
		bool rotated = nl == sl + 1 + SG_SECRET_KID_LEN + 4 && n[sl] == '.' &&
		               strspn(n + sl + 1, "0123456789abcdef") == SG_SECRET_KID_LEN;
		if (!first && !rotated)
			continue;
		if (rotated && !strncmp(n + sl + 1, keep, SG_SECRET_KID_LEN))
			continue;
		char path[4096 + 300];
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		if (unlink(path) == 0) {
			(*removed)++;
			sg_log_info("secret: removed the retired key %s", path);
		}
	}
	closedir(d);
	return SG_ERR_OK;
}

sg_err sg_secret_require(struct sg_ctx *ctx, char *path, size_t size)
{
	unsigned char key[SG_SECRET_KEY_LEN];
	path[0] = '\0';
	int env = env_key(key);
	sodium_memzero(key, sizeof(key));
	if (env)
		return env > 0 ? SG_ERR_OK : SG_ERR_INTERNAL;
	char base[4096], kid[SG_SECRET_KID_LEN + 1] = "";
	sg_err err = key_base(ctx, base, sizeof(base));
	if (err)
		return err;
	if (current_kid(base, kid) < 0)
		return SG_ERR_INTERNAL;
	int n = *kid ? snprintf(path, size, "%s.%s.key", base, kid)
	             : snprintf(path, size, "%s.key", base);
	if (n < 0 || (size_t)n >= size)
		return SG_ERR_INTERNAL;
	int got = read_key(path, key);
	sodium_memzero(key, sizeof(key));
	return got == 1 ? SG_ERR_OK : got == 0 ? SG_ERR_NO_RESOURCE : SG_ERR_INTERNAL;
}
