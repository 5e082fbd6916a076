/*
 * attachment.c - attachment content on disk (see attachment.h) and the
 * write rules that keep it in step with the sys_attachment rows.
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
	const char *slash = strrchr(d, '/');
	if (!slash)
		return strdup("attachments");
	size_t n = (size_t)(slash - d);
	char *parent = strndup(d, n ? n : 1);
	char *out = parent ? join(parent, "attachments") : NULL;
	free(parent);
	return out;
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

/* The store's lock, held while content and rows are made to agree. */
static int lock_store(const char *dir)
{
	char *path = join(dir, ".lock");
	if (!path)
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

static void unlock_store(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
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

/* Removes hash's content when no row references it; the lock is held. */
static sg_err release_locked(struct sg_ctx *ctx, const char *dir, const char *hash)
{
	bool used;
	sg_err err = referenced(ctx, hash, &used);
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
	int lock = lock_store(dir);
	sg_err err = lock < 0 ? SG_ERR_STORE : release_locked(ctx, dir, hash);
	unlock_store(lock);
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
	int lock = lock_store(w->dir);
	if (lock < 0) {
		sg_log_error("attachment: cannot lock %s", w->dir);
		return SG_ERR_STORE;
	}
	sg_err err = place(w);
	if (!err) {
		struct sg_write_opts wo = {.allow_sys_fields = false};
		err = sg_rec_insert(ctx, SG_ATTACH_TABLE, row, &wo, out_id);
		if (err)
			release_locked(ctx, w->dir, w->hash);
	}
	unlock_store(lock);
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
	free(dir);
	if (err)
		return err;
	*fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (*fd >= 0 && fstat(*fd, &st) == 0) {
		*size = (long long)st.st_size;
	} else {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		err = SG_ERR_NO_RECORD;
	}
	free(sub);
	free(file);
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
