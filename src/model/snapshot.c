/*
 * snapshot.c - named snapshots of a whole instance (snapshot.h): file names
 * beside the instance, and the change counters a restore moves on so that
 * every cache reloads.
 */
#include "model/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

bool sg_snapshot_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > SG_SNAPSHOT_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

char *sg_snapshot_dir(const struct sg_model *m)
{
	const char *d = m->data_dir;
	char *out = NULL;
	if (!d)
		return NULL;
	if (!strncmp(d, "sqlite://", 9))
		d += 9;
	else if (!strncmp(d, "sqlite:", 7))
		d += 7;
	else
		return asprintf(&out, "%s/snapshots", d) < 0 ? NULL : out;
	/* Beside the database file, under its name without the extension (as
	 * its key file): two databases in one folder keep theirs apart. */
	const char *slash = strrchr(d, '/');
	const char *base = slash ? slash + 1 : d;
	int stem = (int)strcspn(base, ".");
	if (!slash)
		return asprintf(&out, "snapshots/%.*s", stem, base) < 0 ? NULL : out;
	int n = (int)(slash - d);
	return asprintf(&out, "%.*s/snapshots/%.*s", n ? n : 1, d, stem, base) < 0 ? NULL : out;
}

/* The file of snapshot name: new string or NULL (out of memory). */
static char *snapshot_file(const struct sg_model *m, const char *name)
{
	char *dir = sg_snapshot_dir(m), *out = NULL;
	if (dir && asprintf(&out, "%s/%s.db", dir, name) < 0)
		out = NULL;
	free(dir);
	return out;
}

static bool is_snapshot_file(const char *file, char name[SG_SNAPSHOT_NAME_MAX + 1])
{
	size_t n = strlen(file);
	if (n < 4 || strcmp(file + n - 3, ".db") || n - 3 > SG_SNAPSHOT_NAME_MAX)
		return false;
	memcpy(name, file, n - 3);
	name[n - 3] = '\0';
	return sg_snapshot_name_ok(name);
}

/* How many snapshots the folder holds (0 when it does not exist). */
static size_t count_snapshots(const char *dir)
{
	DIR *dh = opendir(dir);
	size_t n = 0;
	if (!dh)
		return 0;
	char name[SG_SNAPSHOT_NAME_MAX + 1];
	for (struct dirent *de; (de = readdir(dh));)
		n += is_snapshot_file(de->d_name, name);
	closedir(dh);
	return n;
}

sg_err sg_snapshot_save(struct sg_model *m, const char *name)
{
	if (!sg_snapshot_name_ok(name))
		return SG_ERR_BAD_PARAM;
	if (sg_store_snapshots_inside(m->store)) {
		char when[SG_DT_LEN + 1];
		sg_time_format(sg_time_real(), when);
		return sg_store_snapshot_save(m->store, name, when, SG_SNAPSHOT_MAX);
	}
	char *dir = sg_snapshot_dir(m);
	char *file = snapshot_file(m, name);
	sg_err err = dir && file ? SG_ERR_OK : SG_ERR_NOMEM;
	struct stat st;
	/* snapshots/, then (sqlite:PATH) snapshots/STEM/ */
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (!err && slash && !strncmp(m->data_dir, "sqlite:", 7)) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			err = SG_ERR_STORE;
		*slash = '/';
	}
	if (!err && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		sg_log_error("snapshot: cannot make %s: %s", dir, strerror(errno));
		err = SG_ERR_STORE;
	}
	if (!err && stat(file, &st) != 0 && count_snapshots(dir) >= SG_SNAPSHOT_MAX) {
		sg_log_error("snapshot: %s already holds %d snapshots", dir, SG_SNAPSHOT_MAX);
		err = SG_ERR_BAD_PARAM;
	}
	if (!err)
		err = sg_store_backup(m->store, file);
	free(dir);
	free(file);
	return err;
}

struct gen_rows {
	struct sg_sql *fix;
	size_t n, cap;
	sg_err err;
};

/* One live counter: the statement that moves the copy's past it. */
static int add_fix(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct gen_rows *g = ud;
	if (ncol < 2 || !vals[0] || !vals[1])
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		if (cap > 1024) {
			g->err = SG_ERR_INTERNAL;
			return 1;
		}
		struct sg_sql *p = realloc(g->fix, cap * sizeof(*p));
		if (!p) {
			g->err = SG_ERR_NOMEM;
			return 1;
		}
		g->fix = p;
		g->cap = cap;
	}
	struct sg_sql *q = &g->fix[g->n++];
	sg_sql_init(q);
	/* Past both the copy's value and the live one: every cache holds a
	 * value no greater than the live one, so none matches after. */
	sg_sql_raw(q, "INSERT INTO \"sg_generation\" (\"name\", \"value\") VALUES (");
	sg_sql_text(q, vals[0]);
	sg_sql_raw(q, ", ");
	sg_sql_int(q, strtoll(vals[1], NULL, 10) + 1);
	/* CASE, not SQLite's two-argument MAX (PostgreSQL's GREATEST) */
	sg_sql_raw(q, ") ON CONFLICT (\"name\") DO UPDATE SET \"value\" = CASE WHEN "
	              "\"sg_generation\".\"value\" + 1 > excluded.\"value\" THEN "
	              "\"sg_generation\".\"value\" + 1 ELSE excluded.\"value\" END");
	if (sg_sql_error(q)) {
		g->err = sg_sql_error(q);
		return 1;
	}
	return 0;
}

sg_err sg_snapshot_restore(struct sg_model *m, const char *name)
{
	if (!sg_snapshot_name_ok(name))
		return SG_ERR_NO_RECORD;
	bool inside = sg_store_snapshots_inside(m->store);
	char *file = inside ? NULL : snapshot_file(m, name);
	if (!inside && !file)
		return SG_ERR_NOMEM;
	struct stat st;
	if (!inside && stat(file, &st) != 0) {
		free(file);
		return SG_ERR_NO_RECORD;
	}
	sg_conn *c = sg_store_conn(m->store);
	struct gen_rows g = {0};
	sg_err err = c ? SG_ERR_OK : SG_ERR_STORE;
	/* The restore counter, which only a restore moves (an instance made
	 * before it has none yet): every process starts its in-memory counts
	 * over when it sees it change. */
	if (!err)
		err =
		    sg_conn_exec_raw(c, "INSERT INTO \"sg_generation\" (\"name\", \"value\") "
		                        "VALUES ('restore', 1) ON CONFLICT (\"name\") DO NOTHING");
	if (!err) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"name\", \"value\" FROM \"sg_generation\"");
		err = sg_conn_exec(c, &q, add_fix, &g, NULL);
		sg_sql_cleanup(&q);
		if (!err)
			err = g.err;
	}
	/* A counter bumped between this read and the restore is still passed:
	 * the restore's write lock orders it before, and a cache that read it
	 * compares unequal to anything but the value it read. */
	if (!err && inside)
		err = sg_store_snapshot_restore(m->store, name, g.fix, g.n);
	else if (!err)
		err = sg_store_restore(m->store, file, g.fix, g.n);
	for (size_t i = 0; i < g.n; i++)
		sg_sql_cleanup(&g.fix[i]);
	free(g.fix);
	free(file);
	if (!err)
		sg_model_sync(m);
	else if (err == SG_ERR_NO_RESOURCE)
		err = SG_ERR_NO_RECORD;
	return err;
}

sg_err sg_snapshot_delete(struct sg_model *m, const char *name)
{
	if (!sg_snapshot_name_ok(name))
		return SG_ERR_NO_RECORD;
	if (sg_store_snapshots_inside(m->store))
		return sg_store_snapshot_delete(m->store, name);
	char *file = snapshot_file(m, name);
	if (!file)
		return SG_ERR_NOMEM;
	sg_err err = SG_ERR_OK;
	if (unlink(file) != 0)
		err = errno == ENOENT ? SG_ERR_NO_RECORD : SG_ERR_STORE;
	free(file);
	return err;
}

static int by_name(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
	return strcmp(x ? x : "", y ? y : "");
}

/* One snapshot kept inside the database: name, size, created. */
static int add_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	json_t *arr = ud;
	if (ncol < 3 || !vals[0] || !vals[1] || !vals[2])
		return 0;
	json_t *row = json_pack("{s:s, s:I, s:s}", "name", vals[0], "size",
	                        (json_int_t)strtoll(vals[1], NULL, 10), "created", vals[2]);
	return !row || json_array_append_new(arr, row) ? 1 : 0;
}

sg_err sg_snapshot_list(struct sg_model *m, json_t **out)
{
	if (sg_store_snapshots_inside(m->store)) {
		json_t *arr = json_array();
		sg_err err = arr ? sg_store_snapshot_list(m->store, add_row, arr) : SG_ERR_NOMEM;
		if (!err && json_array_size(arr) > SG_SNAPSHOT_MAX)
			err = SG_ERR_INTERNAL;
		if (err) {
			json_decref(arr);
			return err;
		}
		*out = arr;
		return SG_ERR_OK;
	}
	char *dir = sg_snapshot_dir(m);
	json_t *rows[SG_SNAPSHOT_MAX];
	size_t n = 0;
	sg_err err = dir ? SG_ERR_OK : SG_ERR_NOMEM;
	DIR *dh = dir ? opendir(dir) : NULL;
	if (!err && !dh && errno != ENOENT)
		err = SG_ERR_STORE;
	char name[SG_SNAPSHOT_NAME_MAX + 1];
	for (struct dirent *de; !err && dh && n < SG_SNAPSHOT_MAX && (de = readdir(dh));) {
		if (!is_snapshot_file(de->d_name, name))
			continue;
		char *path = NULL;
		struct stat st;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			err = SG_ERR_NOMEM;
			break;
		}
		bool there = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!there)
			continue; /* deleted meanwhile */
		char when[SG_DT_LEN + 1];
		sg_time_format((int64_t)st.st_mtime, when);
		rows[n] = json_pack("{s:s, s:I, s:s}", "name", name, "size", (json_int_t)st.st_size,
		                    "created", when);
		if (!rows[n])
			err = SG_ERR_NOMEM;
		else
			n++;
	}
	if (dh)
		closedir(dh);
	free(dir);
	json_t *arr = err ? NULL : json_array();
	if (!err && !arr)
		err = SG_ERR_NOMEM;
	if (!err)
		qsort(rows, n, sizeof(rows[0]), by_name);
	for (size_t i = 0; i < n; i++) {
		if (!err && json_array_append(arr, rows[i]))
			err = SG_ERR_NOMEM;
		json_decref(rows[i]);
	}
	if (err) {
		json_decref(arr);
		return err;
	}
	*out = arr;
	return SG_ERR_OK;
}
