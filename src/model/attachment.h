/*
 * attachment.h - where attachment content lives: content-addressed files,
 * outside the sys_attachment rows that describe them, and on a database
 * server (PostgreSQL) chunks in the database as well.
 *
 * A file is <content dir>/<first two hex digits>/<SHA-256 hex>, the
 * content dir being attachments/ beside a SQLite database.  Content comes
 * in through a writer (a temporary file in the same directory, hashed as it
 * is written), is fsynced and renamed into place, and only then is its
 * sys_attachment row committed: an acknowledged upload is on disk.  Content
 * no row references any more is removed once the delete that released it
 * has committed.  One lock file orders the "rename, then commit the row" of
 * an upload against the "no row, so remove" of a release, across threads
 * and processes (nowd and nowctl).
 *
 * On a database server several nodes serve one instance, so the content
 * is in the database: sg_attachment_content (hash, position, data), chunks
 * of 256 KiB, committed before the row; the folder (SNOWGLOBE_ATTACHMENTS
 * or the data home) is each node's cache of it, filled on a miss and
 * checked against the hash.  The lock is then the database's named lock of
 * the hash (sg_conn_lock), which every node shares.
 */
#ifndef SG_MODEL_ATTACHMENT_H
#define SG_MODEL_ATTACHMENT_H

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>

#include "core/err.h"
#include "model/model.h"
#include "model/rules.h"
#include "store/store.h"

#define SG_ATTACH_TABLE    "sys_attachment"
#define SG_ATTACH_HASH_LEN 64 /* SHA-256 in lowercase hex */

/* Content being received.  Caller-owned; zeroed by sg_attach_writer_open. */
struct sg_attach_writer {
	int fd;    /* the temporary file; -1 when closed */
	char *dir; /* the content directory (malloc) */
	char *tmp; /* the temporary file's path (malloc) */
	unsigned long long size;
	crypto_hash_sha256_state sha;
	char hash[SG_ATTACH_HASH_LEN + 1]; /* set by sg_attach_writer_finish */
	bool finished;
};

/* Opens a temporary file for new content of m's instance.  SG_ERR_STORE
 * (logged) when the directory cannot be made or written, SG_ERR_NOMEM. */
sg_err sg_attach_writer_open(struct sg_model *m, struct sg_attach_writer *w);
/* Appends len bytes (hashed as they go).  SG_ERR_STORE on a write error. */
sg_err sg_attach_writer_write(struct sg_attach_writer *w, const void *data, size_t len);
/* Flushes the content to disk and computes w->hash. */
sg_err sg_attach_writer_finish(struct sg_attach_writer *w);
/* Removes the temporary file (when still there) and frees w.  Always safe
 * after sg_attach_writer_open, whatever happened since. */
void sg_attach_writer_close(struct sg_attach_writer *w);

/*
 * Stores finished content w under its hash and inserts its sys_attachment
 * row (row: the fields to set; hash, size_bytes, size_compressed and
 * compressed are set here), as ctx's user.  The row's sys_id in out_id.
 * When the insert fails, content no other row uses is removed again.
 */
sg_err sg_attach_commit(struct sg_ctx *ctx, struct sg_attach_writer *w, json_t *row,
                        char out_id[SG_ID_LEN + 1]);

/* Opens the stored content of hash for reading: *fd (caller closes) and its
 * size.  SG_ERR_NO_RECORD when it is not there (a row whose file is gone). */
sg_err sg_attach_open_content(struct sg_model *m, const char *hash, int *fd, long long *size);

/* What sg_attach_migrate did: content copied, content referenced by a row
 * but not stored at the source; done false when the ends keep content
 * alike (two files, two servers) and nothing was copied. */
struct sg_attach_migrated {
	bool done;
	long long copied, missing;
};

/*
 * nowctl migrate: copies the content the rows of table (sys_attachment's
 * root) of the source sc reference to the target dc, whose write
 * transaction is open: from a SQLite source (from_file, its database file:
 * the files beside it) into a server's content table, or from a server's
 * content table into files beside a SQLite target (to_file).  Content a
 * row references and the source lacks is logged and counted, not an error.
 */
sg_err sg_attach_migrate(sg_conn *sc, const char *from_file, sg_conn *dc, const char *to_file,
                         const char *table, struct sg_attach_migrated *out);

/* Whether s is a SHA-256 hex digest as this store names content. */
bool sg_attach_hash_valid(const char *s);

/* Write rules (model/rules.c): deleting any record deletes its attachments
 * (after, in the delete's transaction) and removes content no row
 * references any more (after commit). */
sg_err sg_attach_cascade(struct sg_write *w);
sg_err sg_attach_release_rule(struct sg_write *w);

#endif
