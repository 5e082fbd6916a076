/*
 * attachment.c - attachment content on disk and, on a database server, in
 * the database (see attachment.h), and the write rules that keep it in step
 * with the sys_attachment rows.
 */
#include "model/attachment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "store/sql.h"
#include "store/store.h"

bool sg_attach_hash_valid(const char *s)
{
	if (!s || strlen(s) != SG_ATTACH_HASH_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* "<dir>/<name>" (malloc), NULL when out of memory. */
static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Makes each missing folder of path, 0700 (path itself is left). */
static void make_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
}

/* The content directory of a database server's instance (ident: its
 * sg_store_ident, freed here): SNOWGLOBE_ATTACHMENTS when set (a folder
 * every node shares), else $XDG_DATA_HOME/snowglobe/attachments/IDENT
 * (~/.local/share/...): never a folder named after the URL, which may
 * hold a password.  Its parents are made. */
static char *server_dir(char *ident)
{
	const char *env = getenv("SNOWGLOBE_ATTACHMENTS");
	const char *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char *out = NULL;
	int n;
	if (env && *env)
		n = asprintf(&out, "%s", env);
	else if (data && *data)
		n = asprintf(&out, "%s/snowglobe/attachments/%s", data, ident);
	else
		n = asprintf(&out, "%s/.local/share/snowglobe/attachments/%s",
		             home && *home ? home : ".", ident);
	free(ident);
	if (n < 0)
		return NULL;
	make_parents(out);
	return out;
}

/* "attachments" beside the database file path (malloc). */
static char *beside_file(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup("attachments");
	size_t n = (size_t)(slash - path);
	char *parent = strndup(path, n ? n : 1);
	char *out = parent ? join(parent, "attachments") : NULL;
	free(parent);
	return out;
}

/* The content directory of m: "attachments" beside the database, in the
 * data directory (for sqlite:PATH, PATH's directory).  NULL when out of
 * memory or the instance has no directory (being created). */
static char *content_dir(const struct sg_model *m)
{
	const char *d = m->data_dir;
	if (!d)
		return NULL;
	char *ident = NULL;
	if (sg_store_ident(m->store, &ident) == SG_ERR_OK)
		return server_dir(ident);
	if (!strncmp(d, "sqlite://", 9))
		d += 9;
	else if (!strncmp(d, "sqlite:", 7))
		d += 7;
	else
		return join(d, "attachments");
	return beside_file(d);
}

/* Makes directory path (0700) when missing; SG_ERR_STORE (logged). */
static sg_err make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return SG_ERR_OK;
	sg_log_error("attachment: cannot create %s: %s", path, strerror(errno));
	return SG_ERR_STORE;
}

/* Makes a directory's entries (a rename into it) durable. */
static void sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

sg_err sg_attach_writer_open(struct sg_model *m, struct sg_attach_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->dir = content_dir(m);
	if (!w->dir)
		return m->data_dir ? SG_ERR_NOMEM : SG_ERR_STORE;
	sg_err err = make_dir(w->dir);
	if (err)
		return err;
	w->tmp = join(w->dir, ".upload-XXXXXX");
	if (!w->tmp)
		return SG_ERR_NOMEM;
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		sg_log_error("attachment: cannot create a file in %s: %s", w->dir, strerror(errno));
		free(w->tmp);
		w->tmp = NULL;
		return SG_ERR_STORE;
	}
	crypto_hash_sha256_init(&w->sha);
	return SG_ERR_OK;
}

sg_err sg_attach_writer_write(struct sg_attach_writer *w, const void *data, size_t len)
{
	if (w->fd < 0)
		return SG_ERR_STORE;
	crypto_hash_sha256_update(&w->sha, data, len);
	const char *p = data;
	while (len) {
		ssize_t n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sg_log_error("attachment: write failed: %s", strerror(errno));
			return SG_ERR_STORE;
		}
		p += n;
		len -= (size_t)n;
		w->size += (unsigned long long)n;
	}
	return SG_ERR_OK;
}

sg_err sg_attach_writer_finish(struct sg_attach_writer *w)
{
	if (w->fd < 0)
		return SG_ERR_STORE;
	if (fsync(w->fd) != 0) {
		sg_log_error("attachment: fsync failed: %s", strerror(errno));
		return SG_ERR_STORE;
	}
	close(w->fd);
	w->fd = -1;
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(&w->sha, digest);
	sodium_bin2hex(w->hash, sizeof(w->hash), digest, sizeof(digest));
	w->finished = true;
	return SG_ERR_OK;
}

void sg_attach_writer_close(struct sg_attach_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp)
		unlink(w->tmp);
	free(w->tmp);
	free(w->dir);
	w->fd = -1;
	w->tmp = w->dir = NULL;
}

/* The content table of a database server's instance and the size of its
 * chunks: one attachment is rows (hash, 0), (hash, 1)... of CHUNK bytes,
 * the last one shorter (an empty attachment: one empty chunk). */
#define CONTENT_TABLE "sg_attachment_content"
#define CHUNK         (256 * 1024)
/* Chunks read per statement when content is fetched (one statement's
 * result is held whole in memory). */
#define FETCH_CHUNKS 8
/* The named locks of content: one per hash, "SGAT" and the hash's first 28
 * bits, so uploads of different content do not wait for each other. */
#define NAMED_LOCK_BASE 0x5347415400000000LL
#define LOCK_WAIT_MS    30000

/* Whether m's content is kept in its database (a database server, which
 * several nodes may serve), its folder then being a cache of it. */
static bool content_in_db(struct sg_model *m)
{
	char *ident = NULL;
	bool in = sg_store_ident(m->store, &ident) == SG_ERR_OK;
	free(ident);
	return in;
}

/*
 * The lock held while content and rows are made to agree: the database's
 * named lock of the hash when the backend has them (every node of a
 * PostgreSQL instance), else a lock file in the content folder (the
 * processes of one SQLite instance share its folder).
 */
struct content_lock {
	int fd;     /* the lock file, -1 when none */
	sg_conn *c; /* the connection holding the named lock, NULL when none */
	long long key;
};

static long long lock_key(const char *hash)
{
	char prefix[8];
	memcpy(prefix, hash, 7);
	prefix[7] = '\0';
	return NAMED_LOCK_BASE + strtoll(prefix, NULL, 16);
}

static sg_err lock_content(sg_conn *c, const char *dir, const char *hash, struct content_lock *l)
{
	l->fd = -1;
	l->c = NULL;
	l->key = lock_key(hash);
	bool got = false;
	sg_err err = c ? sg_conn_lock(c, l->key, LOCK_WAIT_MS, &got) : SG_ERR_INTERNAL;
	if (!err && got) {
		l->c = c;
		return SG_ERR_OK;
	}
	if (!err) {
		sg_log_error("attachment: content %.12s is locked by another node for over %d s",
		             hash, LOCK_WAIT_MS / 1000);
		return SG_ERR_BUSY;
	}
	if (err != SG_ERR_INTERNAL)
		return err;
	char *path = join(dir, ".lock");
	if (!path)
		return SG_ERR_NOMEM;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	while (l->fd >= 0 && flock(l->fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(l->fd);
			l->fd = -1;
		}
	if (l->fd < 0) {
		sg_log_error("attachment: cannot lock %s: %s", dir, strerror(errno));
		return SG_ERR_STORE;
	}
	return SG_ERR_OK;
}

static void unlock_content(struct content_lock *l)
{
	if (l->fd >= 0)
		close(l->fd); /* drops the flock */
	if (l->c)
		sg_conn_unlock(l->c, l->key);
	l->fd = -1;
	l->c = NULL;
}

/* "<dir>/<hh>" and "<dir>/<hh>/<hash>" (malloc). */
static sg_err content_path(const char *dir, const char *hash, char **sub, char **file)
{
	char hh[3] = {hash[0], hash[1], '\0'};
	*sub = join(dir, hh);
	*file = *sub ? join(*sub, hash) : NULL;
	if (*file)
		return SG_ERR_OK;
	free(*sub);
	*sub = NULL;
	return SG_ERR_NOMEM;
}

/* Whether a sys_attachment row references hash. */
static sg_err referenced(struct sg_ctx *ctx, const char *hash, bool *out)
{
	*out = true;
	const struct sg_table *t = sg_dict_table(ctx->dict, SG_ATTACH_TABLE);
	if (!t)
		return SG_ERR_OK; /* no table: keep the content */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT 1 FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " WHERE \"hash\" = ");
	sg_sql_text(&q, hash);
	sg_sql_raw(&q, " LIMIT 1");
	char *one = NULL;
	sg_err err = sg_conn_query_string(ctx->conn, &q, &one);
	sg_sql_cleanup(&q);
	*out = err || one;
	free(one);
	return err;
}

/* Makes the content table when missing (inside a write: writers are
 * serialised, so two never race to make it).  An instance made before it
 * existed, or a snapshot restored from then, has none. */
static sg_err make_content_table(sg_conn *c)
{
	return sg_conn_exec_raw(c,
	                        "CREATE TABLE IF NOT EXISTS \"" CONTENT_TABLE "\" ("
	                        "\"hash\" TEXT NOT NULL, \"position\" INTEGER NOT NULL, "
	                        "\"data\" BYTEA NOT NULL, PRIMARY KEY (\"hash\", \"position\"))");
}

/* Whether the content table exists (reads do not make it). */
static sg_err have_content_table(sg_conn *c, bool *out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT to_regclass(");
	sg_sql_text(&q, CONTENT_TABLE);
	sg_sql_raw(&q, ") IS NOT NULL");
	char *v = NULL;
	sg_err err = sg_conn_query_string(c, &q, &v);
	sg_sql_cleanup(&q);
	*out = !err && v && (v[0] == 't' || v[0] == '1');
	free(v);
	return err;
}

/* Deletes hash's chunks unless a row references it (*used), in a write of
 * its own: the check and the delete under the write lock every writer of
 * every node takes, so no row (a snapshot's restore) comes in between; the
 * hash's lock is held, so no upload does either. */
static sg_err delete_chunks(struct sg_ctx *ctx, const char *hash, bool *used)
{
	*used = true;
	sg_conn *c = ctx->conn;
	sg_err err = sg_conn_begin(c, true);
	if (err)
		return err;
	err = referenced(ctx, hash, used);
	if (!err && !*used)
		err = make_content_table(c);
	if (!err && !*used) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM \"" CONTENT_TABLE "\" WHERE \"hash\" = ");
		sg_sql_text(&q, hash);
		err = sg_conn_exec(c, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	if (err) {
		sg_conn_rollback(c);
		return err;
	}
	return sg_conn_commit(c);
}

/* Removes hash's content (its chunks in the database, then its file) when
 * no row references it; the lock is held. */
static sg_err release_locked(struct sg_ctx *ctx, const char *dir, const char *hash)
{
	bool used;
	sg_err err = content_in_db(ctx->model) ? delete_chunks(ctx, hash, &used)
	                                       : referenced(ctx, hash, &used);
	if (err || used)
		return err;
	char *sub, *file;
	err = content_path(dir, hash, &sub, &file);
	if (err)
		return err;
	if (unlink(file) != 0 && errno != ENOENT)
		sg_log_error("attachment: cannot remove %s: %s", file, strerror(errno));
	free(sub);
	free(file);
	return SG_ERR_OK;
}

static sg_err release(struct sg_ctx *ctx, const char *hash)
{
	if (!sg_attach_hash_valid(hash))
		return SG_ERR_OK;
	char *dir = content_dir(ctx->model);
	if (!dir)
		return ctx->model->data_dir ? SG_ERR_NOMEM : SG_ERR_OK;
	struct content_lock l;
	sg_err err = lock_content(ctx->conn, dir, hash, &l);
	if (!err)
		err = release_locked(ctx, dir, hash);
	unlock_content(&l);
	free(dir);
	return err;
}

/* Moves finished content into place (the lock is held). */
static sg_err place(struct sg_attach_writer *w)
{
	char *sub, *file;
	sg_err err = content_path(w->dir, w->hash, &sub, &file);
	if (err)
		return err;
	struct stat st;
	err = make_dir(sub);
	if (!err && stat(file, &st) == 0 && (unsigned long long)st.st_size == w->size) {
		unlink(w->tmp); /* the same content is there already */
	} else if (!err && rename(w->tmp, file) != 0) {
		sg_log_error("attachment: cannot store %s: %s", file, strerror(errno));
		err = SG_ERR_STORE;
	}
	if (!err) {
		free(w->tmp);
		w->tmp = NULL;
		sync_dir(sub);
		sync_dir(w->dir);
	}
	free(sub);
	free(file);
	return err;
}

/* Reads up to len bytes of fd (fewer only at its end); -1 on an error. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Inserts the chunks of the content file of hash in dir into the content
 * table, in a write (its own, or the caller's), unless that hash is stored
 * already (the lock is held, or nothing else writes: a migration). */
static sg_err store_chunks(sg_conn *c, const char *dir, const char *hash)
{
	char *sub, *file;
	sg_err err = content_path(dir, hash, &sub, &file);
	if (err)
		return err;
	int fd = -1;
	char *buf = NULL, *one = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	err = sg_conn_begin(c, true);
	if (err)
		goto out;
	err = make_content_table(c);
	if (!err) {
		sg_sql_raw(&q, "SELECT 1 FROM \"" CONTENT_TABLE "\" WHERE \"hash\" = ");
		sg_sql_text(&q, hash);
		sg_sql_raw(&q, " AND \"position\" = 0");
		err = sg_conn_query_string(c, &q, &one);
	}
	if (!err && !one) {
		buf = malloc(CHUNK);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (!buf)
			err = SG_ERR_NOMEM;
		else if (fd < 0) {
			sg_log_error("attachment: cannot read %s: %s", file, strerror(errno));
			err = SG_ERR_STORE;
		}
	}
	for (long long pos = 0; !err && !one; pos++) {
		ssize_t n = read_full(fd, buf, CHUNK);
		if (n < 0) {
			sg_log_error("attachment: cannot read %s: %s", file, strerror(errno));
			err = SG_ERR_STORE;
			break;
		}
		if (n == 0 && pos > 0)
			break;
		sg_sql_reset(&q);
		sg_sql_raw(&q, "INSERT INTO \"" CONTENT_TABLE "\" (\"hash\", \"position\", "
		               "\"data\") VALUES (");
		sg_sql_text(&q, hash);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, pos);
		sg_sql_raw(&q, ", ");
		sg_sql_blob_ref(&q, buf, (size_t)n); /* no copy per chunk */
		sg_sql_raw(&q, ")");
		err = sg_conn_exec(c, &q, NULL, NULL, NULL);
		if (n < CHUNK)
			break;
	}
	if (err)
		sg_conn_rollback(c);
	else
		err = sg_conn_commit(c);
out:
	if (fd >= 0)
		close(fd);
	sg_sql_cleanup(&q);
	free(buf);
	free(one);
	free(sub);
	free(file);
	return err;
}

sg_err sg_attach_commit(struct sg_ctx *ctx, struct sg_attach_writer *w, json_t *row,
                        char out_id[SG_ID_LEN + 1])
{
	if (!w->finished)
		return SG_ERR_STORE;
	char size[32];
	snprintf(size, sizeof(size), "%llu", w->size);
	if (json_object_set_new(row, "hash", json_string(w->hash)) ||
	    json_object_set_new(row, "size_bytes", json_string(size)) ||
	    json_object_set_new(row, "size_compressed", json_string(size)) ||
	    json_object_set_new(row, "compressed", json_string("false")))
		return SG_ERR_NOMEM;
	struct content_lock l;
	sg_err err = lock_content(ctx->conn, w->dir, w->hash, &l);
	if (err)
		return err;
	err = place(w);
	/* On a database server the chunks are committed before the row, so
	 * a row any node sees has its content there; the lock keeps a release
	 * of the same content (no row yet) from deleting them in between. */
	if (!err && content_in_db(ctx->model))
		err = store_chunks(ctx->conn, w->dir, w->hash);
	if (!err) {
		struct sg_write_opts wo = {.allow_sys_fields = false};
		err = sg_rec_insert(ctx, SG_ATTACH_TABLE, row, &wo, out_id);
		if (err)
			release_locked(ctx, w->dir, w->hash);
	}
	unlock_content(&l);
	return err;
}

/* What fetch_batch is writing: the temporary file, hashed as it goes. */
struct fetch {
	int fd;
	long long next; /* the position expected next */
	long long rows; /* rows of the last batch */
	unsigned long long size;
	crypto_hash_sha256_state sha;
	sg_err err;
};

static int fetch_row(void *ud, int ncol, const char *const *names, const void *const *vals,
                     const size_t *lens)
{
	(void)names;
	struct fetch *f = ud;
	f->rows++;
	char pos[24] = "";
	if (ncol == 2 && vals[0] && lens[0] < sizeof(pos))
		memcpy(pos, vals[0], lens[0]); /* a value has no terminator */
	if (ncol != 2 || !vals[1] || !*pos || strtoll(pos, NULL, 10) != f->next) {
		f->err = SG_ERR_STORE; /* a chunk missing: the hash check says so */
		return 1;
	}
	f->next++;
	crypto_hash_sha256_update(&f->sha, vals[1], lens[1]);
	const char *p = vals[1];
	size_t len = lens[1];
	while (len) {
		ssize_t n = write(f->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sg_log_error("attachment: cannot write the cache: %s", strerror(errno));
			f->err = SG_ERR_STORE;
			return 1;
		}
		p += n;
		len -= (size_t)n;
		f->size += (unsigned long long)n;
	}
	return 0;
}

/* Writes hash's chunks into the temporary file f->fd, in one read
 * transaction (one snapshot of the database).  SG_ERR_NO_RECORD when
 * there are none. */
static sg_err fetch_chunks(sg_conn *c, const char *hash, struct fetch *f)
{
	sg_err err = sg_conn_begin(c, false);
	if (err)
		return err;
	bool have = false;
	err = have_content_table(c, &have);
	if (!err && !have)
		err = SG_ERR_NO_RECORD;
	do {
		if (err)
			break;
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"position\", \"data\" FROM \"" CONTENT_TABLE
		               "\" WHERE \"hash\" = ");
		sg_sql_text(&q, hash);
		sg_sql_raw(&q, " AND \"position\" >= ");
		sg_sql_int(&q, f->next);
		sg_sql_raw(&q, " ORDER BY \"position\" LIMIT ");
		sg_sql_int(&q, FETCH_CHUNKS);
		f->rows = 0;
		err = sg_conn_exec_bytes(c, &q, fetch_row, f);
		sg_sql_cleanup(&q);
		if (!err)
			err = f->err;
	} while (f->rows == FETCH_CHUNKS);
	if (!err && f->next == 0)
		err = SG_ERR_NO_RECORD;
	if (err)
		sg_conn_rollback(c);
	else
		err = sg_conn_commit(c);
	return err;
}

/* Fills the cache file of hash from the database: its chunks into a
 * temporary file, checked against the hash, renamed into place.  The lock
 * is held.  SG_ERR_NO_RECORD when the database has no such content. */
static sg_err fetch_locked(sg_conn *c, const char *dir, const char *hash, const char *sub,
                           const char *file)
{
	sg_err err = make_dir(dir);
	if (!err)
		err = make_dir(sub);
	if (err)
		return err;
	if (access(file, F_OK) == 0)
		return SG_ERR_OK; /* another thread fetched it meanwhile */
	char *tmp = join(dir, ".fetch-XXXXXX");
	if (!tmp)
		return SG_ERR_NOMEM;
	struct fetch f = {.fd = mkostemp(tmp, O_CLOEXEC)};
	if (f.fd < 0) {
		sg_log_error("attachment: cannot create a file in %s: %s", dir, strerror(errno));
		free(tmp);
		return SG_ERR_STORE;
	}
	crypto_hash_sha256_init(&f.sha);
	err = fetch_chunks(c, hash, &f);
	if (!err && fsync(f.fd) != 0) {
		sg_log_error("attachment: fsync failed: %s", strerror(errno));
		err = SG_ERR_STORE;
	}
	close(f.fd);
	if (!err) {
		unsigned char digest[crypto_hash_sha256_BYTES];
		char got[SG_ATTACH_HASH_LEN + 1];
		crypto_hash_sha256_final(&f.sha, digest);
		sodium_bin2hex(got, sizeof(got), digest, sizeof(digest));
		if (strcmp(got, hash) != 0) {
			sg_log_error("attachment: the database's content %.12s... does not match "
			             "its hash (%llu bytes read hash to %.12s...)",
			             hash, f.size, got);
			err = SG_ERR_STORE;
		}
	}
	if (!err && rename(tmp, file) != 0) {
		sg_log_error("attachment: cannot store %s: %s", file, strerror(errno));
		err = SG_ERR_STORE;
	}
	if (err)
		unlink(tmp);
	else
		sync_dir(sub);
	free(tmp);
	return err;
}

sg_err sg_attach_open_content(struct sg_model *m, const char *hash, int *fd, long long *size)
{
	*fd = -1;
	*size = 0;
	if (!sg_attach_hash_valid(hash))
		return SG_ERR_NO_RECORD;
	char *dir = content_dir(m);
	if (!dir)
		return SG_ERR_NOMEM;
	char *sub, *file;
	sg_err err = content_path(dir, hash, &sub, &file);
	if (err) {
		free(dir);
		return err;
	}
	*fd = open(file, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 && errno == ENOENT && content_in_db(m)) {
		/* Not cached on this node: fetch it from the database. */
		sg_conn *c = sg_store_conn(m->store);
		struct content_lock l;
		err = c ? lock_content(c, dir, hash, &l) : SG_ERR_STORE;
		if (!err) {
			err = fetch_locked(c, dir, hash, sub, file);
			unlock_content(&l);
		}
		if (!err)
			*fd = open(file, O_RDONLY | O_CLOEXEC);
	}
	struct stat st;
	if (*fd >= 0 && fstat(*fd, &st) == 0) {
		*size = (long long)st.st_size;
	} else {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		if (!err)
			err = SG_ERR_NO_RECORD;
	}
	free(dir);
	free(sub);
	free(file);
	return err;
}

static int collect_hash(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol == 1 && sg_attach_hash_valid(vals[0]))
		json_array_append_new(ud, json_string(vals[0]));
	return 0;
}

sg_err sg_attach_migrate(sg_conn *sc, const char *from_file, sg_conn *dc, const char *to_file,
                         const char *table, struct sg_attach_migrated *out)
{
	memset(out, 0, sizeof(*out));
	if (!from_file == !to_file)
		return SG_ERR_OK; /* both files, or both servers: not copied here */
	char *dir = beside_file(from_file ? from_file : to_file);
	json_t *hashes = json_array();
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT DISTINCT \"hash\" FROM ");
	sg_sql_ident(&q, table);
	sg_err err =
	    dir && hashes ? sg_conn_exec(sc, &q, collect_hash, hashes, NULL) : SG_ERR_NOMEM;
	sg_sql_cleanup(&q);
	out->done = !err;
	if (!err && to_file)
		err = make_dir(dir);
	if (!err && from_file) /* made here, empty, when the source has no content */
		err = make_content_table(dc);
	size_t i;
	json_t *h;
	json_array_foreach(hashes, i, h)
	{
		if (err)
			break;
		const char *hash = json_string_value(h);
		char *sub, *file;
		err = content_path(dir, hash, &sub, &file);
		if (err)
			break;
		if (from_file && access(file, F_OK) != 0)
			err = SG_ERR_NO_RECORD;
		else if (from_file)
			err = store_chunks(dc, dir, hash);
		else
			err = make_dir(sub) ? SG_ERR_STORE : fetch_locked(sc, dir, hash, sub, file);
		if (err == SG_ERR_NO_RECORD) {
			sg_log_warn(
			    "attachment: content %s is referenced but not stored at the source",
			    hash);
			out->missing++;
			err = SG_ERR_OK;
		} else if (!err) {
			out->copied++;
		}
		free(sub);
		free(file);
	}
	json_decref(hashes);
	free(dir);
	return err;
}

/* Notes hash in the write for the after-commit release. */
static sg_err note_release(struct sg_write *w, const char *hash)
{
	if (!sg_attach_hash_valid(hash))
		return SG_ERR_OK;
	if (!w->after && !(w->after = json_array()))
		return SG_ERR_NOMEM;
	return json_array_append_new(w->after, json_string(hash)) ? SG_ERR_NOMEM : SG_ERR_OK;
}

sg_err sg_attach_cascade(struct sg_write *w)
{
	struct sg_ctx *ctx = w->ctx;
	const struct sg_table *t = sg_dict_table(ctx->dict, SG_ATTACH_TABLE);
	if (!t || !w->old)
		return SG_ERR_OK;
	if (w->cls && w->cls->root == t->root)
		return note_release(w, sg_json_str(w->old, "hash"));
	const char *id = sg_json_str(w->old, "sys_id");
	if (!id || !*id)
		return SG_ERR_OK;
	/* The attachments of this record: its sys_id under its class or any
	 * table it extends (an attachment names the table it was added by). */
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"hash\" FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " WHERE \"table_sys_id\" = ");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, " AND \"table_name\" IN (");
	bool first = true;
	for (const struct sg_table *c = w->cls ? w->cls : w->table; c; c = c->super) {
		if (!first)
			sg_sql_raw(&q, ", ");
		sg_sql_text(&q, c->name);
		first = false;
	}
	sg_sql_raw(&q, ")");
	json_t *rows;
	sg_err err = sg_json_rows_query(ctx->conn, &q, &rows);
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		if (err)
			break;
		err = sg_rec_delete(ctx, SG_ATTACH_TABLE, sg_json_str(r, "sys_id"));
		if (err == SG_ERR_NO_RECORD)
			err = SG_ERR_OK;
		if (!err)
			err = note_release(w, sg_json_str(r, "hash"));
	}
	json_decref(rows);
	return err;
}

sg_err sg_attach_release_rule(struct sg_write *w)
{
	size_t i;
	json_t *h;
	sg_err first = SG_ERR_OK;
	json_array_foreach(w->after, i, h)
	{
		sg_err err = release(w->ctx, json_string_value(h));
		if (err && !first)
			first = err;
	}
	return first;
}
