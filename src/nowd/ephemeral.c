/*
 * ephemeral.c - nowd --ephemeral: serve a throw-away copy of the instance.
 *
 * The database is copied with the store's online backup into a fresh
 * temporary folder ($TMPDIR, else /tmp: nowd-ephemeral-XXXXXX), beside it
 * what the instance keeps next to its database: the instance keys (keys/,
 * renamed to the copy's stem), attachment content (attachments/) and the
 * snapshots (snapshots/, so reset and restore work).  The source is only
 * read: a database without a write-ahead log is opened immutable, so not
 * even a -shm file appears beside it, and the data directory is left
 * exactly as it was.  The folder is removed when nowd exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "nowd/nowd.h"
#include "store/store.h"

/* Folders are copied this deep at most (attachments/hh/hash). */
#define MAX_DEPTH 3

static bool copy_file(const char *from, const char *to, mode_t mode)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = in >= 0 ? open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0700) : -1;
	bool ok = in >= 0 && out >= 0;
	char buf[65536];
	for (ssize_t n; ok && (n = read(in, buf, sizeof(buf))) != 0;) {
		if (n < 0) {
			ok = errno == EINTR;
			continue;
		}
		for (ssize_t off = 0; ok && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0)
				ok = errno == EINTR;
			else
				off += w;
		}
	}
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) != 0)
		ok = false;
	return ok;
}

/*
 * Copies the folder from into to (made), depth levels deep; regular files
 * and folders only.  With stem set (keys/), only files named "stem." ...
 * are copied, renamed "instance." ...  A missing from is nothing to copy.
 */
static bool copy_tree(const char *from, const char *to, const char *stem, int depth)
{
	DIR *d = opendir(from);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR;
	bool ok = mkdir(to, 0700) == 0 || errno == EEXIST;
	size_t stem_len = stem ? strlen(stem) : 0;
	for (struct dirent *de; ok && (de = readdir(d));) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (stem && (strncmp(name, stem, stem_len) || name[stem_len] != '.'))
			continue;
		char src[PATH_MAX], dst[PATH_MAX];
		int a = snprintf(src, sizeof(src), "%s/%s", from, name);
		int b = stem ? snprintf(dst, sizeof(dst), "%s/instance%s", to, name + stem_len)
		             : snprintf(dst, sizeof(dst), "%s/%s", to, name);
		if (a < 0 || b < 0 || (size_t)a >= sizeof(src) || (size_t)b >= sizeof(dst)) {
			ok = false;
			break;
		}
		struct stat st;
		if (lstat(src, &st) != 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(st.st_mode) && depth > 1)
			ok = copy_tree(src, dst, NULL, depth - 1);
		else if (S_ISREG(st.st_mode))
			ok = copy_file(src, dst, st.st_mode);
	}
	closedir(d);
	return ok;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void nowd_ephemeral_remove(char *dir)
{
	if (!dir)
		return;
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

char *nowd_ephemeral_make(const char *target)
{
	/* Where the source keeps its files: its folder, and its database's
	 * name without the extension (the key files' stem). */
	char parent[PATH_MAX], stem[NAME_MAX + 1];
	const char *path = target;
	bool url = !strncmp(path, "sqlite:", 7);
	if (url)
		path += !strncmp(path, "sqlite://", 9) ? 9 : 7;
	else if (strchr(target, ':') && strstr(target, "://")) {
		sg_log_error("--ephemeral: only a data directory or sqlite:PATH can be copied");
		return NULL;
	}
	if (url) {
		const char *slash = strrchr(path, '/');
		const char *base = slash ? slash + 1 : path;
		int n = slash ? (int)(slash - path) : 1;
		snprintf(parent, sizeof(parent), "%.*s", slash ? (n ? n : 1) : 1,
		         slash ? path : ".");
		snprintf(stem, sizeof(stem), "%.*s", (int)strcspn(base, "."), base);
	} else {
		snprintf(parent, sizeof(parent), "%s", path);
		snprintf(stem, sizeof(stem), "instance");
	}
	const char *tmp = getenv("TMPDIR");
	char *dir = NULL;
	if (asprintf(&dir, "%s/nowd-ephemeral-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		sg_log_error("--ephemeral: cannot make a temporary folder: %s", strerror(errno));
		free(dir);
		return NULL;
	}
	sg_store *s = NULL;
	char db[PATH_MAX], sub[PATH_MAX], to[PATH_MAX];
	sg_err err = (size_t)snprintf(db, sizeof(db), "%s/instance.db", dir) < sizeof(db)
	                 ? sg_store_open(target, false, &s)
	                 : SG_ERR_STORE;
	if (!err)
		err = sg_store_backup(s, db);
	if (s)
		sg_store_close(s);
	bool ok = !err;
	static const char *const folders[] = {"keys", "attachments", "snapshots"};
	for (size_t i = 0; ok && i < sizeof(folders) / sizeof(folders[0]); i++) {
		/* sqlite:PATH keeps its snapshots in snapshots/STEM/ */
		int a = url && i == 2 ? snprintf(sub, sizeof(sub), "%s/snapshots/%s", parent, stem)
		                      : snprintf(sub, sizeof(sub), "%s/%s", parent, folders[i]);
		int b = snprintf(to, sizeof(to), "%s/%s", dir, folders[i]);
		ok = a > 0 && b > 0 && (size_t)a < sizeof(sub) && (size_t)b < sizeof(to) &&
		     copy_tree(sub, to, i == 0 ? stem : NULL, MAX_DEPTH);
	}
	if (!ok) {
		sg_log_error("--ephemeral: cannot copy the instance in %s (%s)", target,
		             err ? sg_err_name(err) : strerror(errno));
		nowd_ephemeral_remove(dir);
		return NULL;
	}
	sg_log_info("--ephemeral: serving a copy of %s in %s (removed on exit)", target, dir);
	return dir;
}
