/*
 * sqlite_backup.c - whole-database snapshots for the SQLite backend, with
 * SQLite's online backup API (sqlite3_backup_*).
 *
 * Backup: a connection of its own reads the live database in one read
 * transaction (WAL: a fixed moment, writers go on) and copies every page
 * into a temporary file beside dest, which is synced and renamed over it.
 *
 * Restore: the snapshot is copied into memory first (so fix can adjust it
 * and a damaged file is refused before anything changes), then, holding
 * the batch's write lock (no write in progress, the open batch committed),
 * copied into the live database on the writer connection in one step: one
 * write transaction, so WAL readers see the old pages or the new ones,
 * never some of each, and every other connection re-reads the schema (the
 * backup bumps the schema cookie).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/sqlite_int.h"

/* Copies every page of from's "main" into to's "main" in one step. */
static sg_err copy_db(sqlite3 *to, sqlite3 *from)
{
	sqlite3_backup *bk = sqlite3_backup_init(to, "main", from, "main");
	if (!bk) {
		sg_log_error("sqlite: backup: %s", sqlite3_errmsg(to));
		return sg__sq_map_rc(sqlite3_errcode(to)) ? sg__sq_map_rc(sqlite3_errcode(to))
		                                          : SG_ERR_STORE;
	}
	int rc = sqlite3_backup_step(bk, -1);
	int frc = sqlite3_backup_finish(bk);
	if (rc == SQLITE_DONE)
		rc = frc;
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		sg_log_error("sqlite: backup: %s", sqlite3_errstr(rc));
		return sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : SG_ERR_STORE;
	}
	return SG_ERR_OK;
}

/* Opens path read-only.  A file with no write-ahead log beside it is
 * opened immutable: nothing (no -wal, no -shm) is made beside it, so a
 * data directory read this way is left exactly as it was. */
static sg_err open_ro(const char *path, sqlite3 **out)
{
	struct stat st;
	char wal[PATH_MAX];
	int n = snprintf(wal, sizeof(wal), "%s-wal", path);
	if (n < 0 || (size_t)n >= sizeof(wal))
		return SG_ERR_STORE;
	if (stat(path, &st) != 0)
		return SG_ERR_NO_RESOURCE;
	bool live = stat(wal, &st) == 0;
	char *uri = sqlite3_mprintf("file:%s?%s", path, live ? "mode=ro" : "immutable=1");
	if (!uri)
		return SG_ERR_NOMEM;
	/* A name with '?' or '#' would be cut by the URI: refused. */
	sg_err err = strpbrk(path, "?#") ? SG_ERR_STORE : SG_ERR_OK;
	sqlite3 *db = NULL;
	if (!err) {
		int rc = sqlite3_open_v2(
		    uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc != SQLITE_OK)
			err = sg__sq_map_rc(rc) ? sg__sq_map_rc(rc) : SG_ERR_STORE;
	}
	sqlite3_free(uri);
	if (!err) {
		sqlite3_busy_timeout(db, 15000);
		/* Refuse what is not a database before anything is copied. */
		if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) !=
		    SQLITE_OK) {
			sg_log_error("sqlite: %s is not a usable database", path);
			err = SG_ERR_STORE;
		}
	}
	if (err) {
		sqlite3_close(db);
		return err;
	}
	*out = db;
	return SG_ERR_OK;
}

/* fsync of path's folder, so a rename survives a crash. */
static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int n = snprintf(dir, sizeof(dir), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return;
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

sg_err sg__sq_backup(void *dbp, const char *dest)
{
	struct sg__sq_db *d = dbp;
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", dest, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return SG_ERR_STORE;
	sqlite3 *from = NULL, *to = NULL;
	sg_err err = open_ro(d->path, &from);
	unlink(tmp);
	if (!err) {
		int rc = sqlite3_open_v2(
		    tmp, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
		    NULL);
		if (rc != SQLITE_OK) {
			sg_log_error("sqlite: cannot create %s", tmp);
			err = SG_ERR_STORE;
		}
	}
	if (!err)
		err = copy_db(to, from);
	/* The copy is a plain file: its own journal, synced, no WAL beside. */
	if (!err && sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
		err = SG_ERR_STORE;
	sqlite3_close(from);
	if (to && sqlite3_close(to) != SQLITE_OK && !err)
		err = SG_ERR_STORE;
	if (!err) {
		/* It holds everything the database holds: the owner's only. */
		int fd = open(tmp, O_RDONLY);
		if (fd >= 0 && fchmod(fd, 0600) != 0)
			err = SG_ERR_STORE;
		if (fd < 0 || (!err && fsync(fd) != 0))
			err = SG_ERR_STORE;
		if (fd >= 0)
			close(fd);
	}
	if (!err && rename(tmp, dest) != 0) {
		sg_log_error("sqlite: cannot rename the copy to %s: %s", dest, strerror(errno));
		err = SG_ERR_STORE;
	}
	if (err)
		unlink(tmp);
	else
		sync_dir(dest);
	return err;
}

sg_err sg__sq_restore(void *dbp, const char *src, const struct sg_sql *fix, size_t nfix)
{
	struct sg__sq_db *d = dbp;
	sqlite3 *from = NULL;
	struct sg__sq_handle mem = {0};
	sg_err err = open_ro(src, &from);
	if (!err) {
		int rc = sqlite3_open_v2(":memory:", &mem.db,
		                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		err = rc == SQLITE_OK ? SG_ERR_OK : SG_ERR_NOMEM;
	}
	if (!err)
		err = copy_db(mem.db, from);
	sqlite3_close(from);
	for (size_t i = 0; !err && i < nfix; i++)
		err = sg__sq_exec(&mem, &fix[i]);
	if (!err)
		err = sg__sq_batch_lock(d);
	if (!err) {
		err = copy_db(d->batch.writer.db, mem.db);
		sg__sq_batch_unlock(d);
	}
	sg__sq_handle_close(&mem);
	return err;
}
