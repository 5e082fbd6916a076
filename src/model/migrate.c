/*
 * migrate.c - a whole instance copied from one store to another (see
 * migrate.h).
 *
 * The source is read inside one read transaction (one consistent moment);
 * the target is written inside one write transaction: its schema, then the
 * rows table by table in multi-row INSERTs (few round trips on a server),
 * then a count of every table at both ends, then the attachment content
 * (sg_attach_migrate: files beside a SQLite database, chunks in a server's
 * content table).  Any failure rolls the target's database back whole.
 */
#include "model/migrate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "model/attachment.h"
#include "model/internal.h"
#include "store/store.h"

/* The change counters: the one table of an instance not in its dictionary. */
#define GEN_TABLE "sg_generation"
/* Rows and bound values per INSERT: under SQLite's and PostgreSQL's limits
 * on parameters (32766 and 65535). */
#define BATCH_ROWS   500
#define BATCH_PARAMS 30000

static void why(struct sg_migrate_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void why(struct sg_migrate_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

/* ---- the tables of an instance ------------------------------------------ */

static int count_column(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	(void)vals;
	if (ncol > 0)
		(*(size_t *)ud)++;
	return 0;
}

/* *out: whether table exists in c (it has columns). */
static sg_err table_exists(sg_conn *c, const char *table, bool *out)
{
	size_t n = 0;
	sg_err err = sg_conn_columns(c, table, count_column, &n);
	*out = n > 0;
	return err;
}

/* Whether table is one of d's physical tables (a root) or the counters. */
static bool instance_table(const struct sg_dict *d, const char *table)
{
	if (!strcmp(table, GEN_TABLE))
		return true;
	const struct sg_table *t = sg_dict_table(d, table);
	return t && t->root == t;
}

static sg_err drop_table(sg_conn *c, const char *table)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DROP TABLE IF EXISTS ");
	sg_sql_ident(&q, table);
	sg_err err = sg_conn_exec(c, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

/*
 * Makes the target ready for the copy, inside its write transaction: with
 * force, drops the tables of the source's instance and of any instance the
 * target holds; then creates the source's schema in it.
 */
static sg_err make_schema(sg_conn *dc, struct sg_dict *src, bool force,
                          struct sg_migrate_result *res)
{
	sg_err err = SG_ERR_OK;
	bool held = false, exists;
	for (size_t i = 0; !err && i <= src->ntables; i++) {
		const char *name = i < src->ntables ? src->list[i]->name : GEN_TABLE;
		if (!instance_table(src, name))
			continue;
		err = table_exists(dc, name, &exists);
		if (!err && exists && !held) {
			held = true;
			why(res,
			    "the target already holds the table %s (use --force to replace it)",
			    name);
		}
	}
	if (err || !held)
		goto create;
	if (!force)
		return SG_ERR_INVALID_INSERT;
	/* The target's own instance may have tables the source has not. */
	struct sg_dict *old = NULL;
	bool has_dict = false;
	err = table_exists(dc, "sys_db_object", &has_dict);
	if (!err && has_dict && sg__dict_load(dc, &old))
		old = NULL; /* unreadable: only the source's tables are replaced */
	for (size_t i = 0; !err && old && i < old->ntables; i++)
		if (instance_table(old, old->list[i]->name))
			err = drop_table(dc, old->list[i]->name);
	if (old)
		sg_dict_free(old);
	for (size_t i = 0; !err && i <= src->ntables; i++) {
		const char *name = i < src->ntables ? src->list[i]->name : GEN_TABLE;
		if (instance_table(src, name))
			err = drop_table(dc, name);
	}
create:
	if (err)
		return err;
	/* The DDL of a new instance, from the source's dictionary. */
	struct sg_ctx ctx = {.conn = dc, .dict = src};
	err = sg__gen_create(&ctx);
	if (!err)
		err = sg_conn_exec_raw(dc, "DELETE FROM \"" GEN_TABLE "\"");
	for (size_t i = 0; !err && i < src->ntables; i++)
		if (src->list[i]->root == src->list[i])
			err = sg__ddl_create_table(&ctx, src->list[i]);
	if (err)
		why(res, "creating the schema in the target failed");
	return err;
}

/* ---- copying rows --------------------------------------------------------- */

struct column {
	char *name;
	bool number; /* INTEGER or REAL in the target */
};

struct copy {
	sg_conn *dc;
	const char *table;
	struct column *cols;
	size_t ncols;
	struct sg_sql ins; /* the INSERT being filled */
	size_t pending;    /* rows in it */
	long long rows;
	sg_err err;
};

static int add_column(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct copy *cp = ud;
	if (ncol < 1 || !vals[0])
		return 0;
	struct column *grown = realloc(cp->cols, (cp->ncols + 1) * sizeof(*grown));
	if (!grown || !(grown[cp->ncols].name = strdup(vals[0]))) {
		if (grown)
			cp->cols = grown;
		cp->err = SG_ERR_NOMEM;
		return 1;
	}
	cp->cols = grown;
	cp->cols[cp->ncols++].number = false;
	return 0;
}

static bool has_column(void *ud, const char *name)
{
	const struct copy *cp = ud;
	for (size_t i = 0; i < cp->ncols; i++)
		if (!strcmp(cp->cols[i].name, name))
			return true;
	return false;
}

static int note_source_column(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	bool *present = ((void **)ud)[1];
	const struct copy *cp = ((void **)ud)[0];
	for (size_t i = 0; ncol > 0 && vals[0] && i < cp->ncols; i++)
		if (!strcmp(cp->cols[i].name, vals[0]))
			present[i] = true;
	return 0;
}

/* Whether element is stored as a number in the hierarchy of root. */
static bool number_column(const struct sg_dict *d, const struct sg_table *root, const char *element)
{
	for (size_t c = 0; root && c < root->nclasses; c++) {
		const struct sg_table *t = sg_dict_table(d, root->classes[c]);
		const struct sg_field *f = t ? sg_table_field(t, element) : NULL;
		if (f && sg_field_is_stored(f))
			return sg_ftype_column(f->type) != SG_COL_TEXT;
	}
	return !strcmp(element, "value") && !root; /* sg_generation's counter */
}

static void insert_head(struct copy *cp)
{
	sg_sql_reset(&cp->ins);
	sg_sql_raw(&cp->ins, "INSERT INTO ");
	sg_sql_ident(&cp->ins, cp->table);
	sg_sql_raw(&cp->ins, " (");
	for (size_t i = 0; i < cp->ncols; i++) {
		if (i)
			sg_sql_raw(&cp->ins, ", ");
		sg_sql_ident(&cp->ins, cp->cols[i].name);
	}
	sg_sql_raw(&cp->ins, ") VALUES ");
}

static sg_err flush(struct copy *cp)
{
	if (!cp->pending)
		return SG_ERR_OK;
	sg_err err = sg_conn_exec(cp->dc, &cp->ins, NULL, NULL, NULL);
	cp->pending = 0;
	insert_head(cp);
	return err;
}

static int copy_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct copy *cp = ud;
	if ((size_t)ncol != cp->ncols) {
		cp->err = SG_ERR_INTERNAL;
		return 1;
	}
	sg_sql_raw(&cp->ins, cp->pending ? ", (" : "(");
	for (size_t i = 0; i < cp->ncols; i++) {
		if (i)
			sg_sql_raw(&cp->ins, ", ");
		/* SQLite keeps an empty string in a number column; a number
		 * column elsewhere holds an empty value as NULL (both read
		 * back as ""). */
		if (cp->cols[i].number && vals[i] && !*vals[i])
			sg_sql_text(&cp->ins, NULL);
		else
			sg_sql_text(&cp->ins, vals[i]);
	}
	sg_sql_raw(&cp->ins, ")");
	cp->pending++;
	cp->rows++;
	if (cp->pending >= BATCH_ROWS || cp->ins.nparams + cp->ncols > BATCH_PARAMS)
		cp->err = flush(cp);
	return cp->err ? 1 : 0;
}

static sg_err count_rows(sg_conn *c, const char *table, long long *out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT COUNT(*) FROM ");
	sg_sql_ident(&q, table);
	char *s = NULL;
	sg_err err = sg_conn_query_string(c, &q, &s);
	sg_sql_cleanup(&q);
	*out = s ? strtoll(s, NULL, 10) : 0;
	free(s);
	return err;
}

/* Copies every row of table (root: its dictionary entry, NULL for the
 * counters) from sc to dc, then counts both ends. */
static sg_err copy_table(sg_conn *sc, sg_conn *dc, const struct sg_dict *d,
                         const struct sg_table *root, const char *table, sg_migrate_fn fn, void *ud,
                         struct sg_migrate_result *res)
{
	struct copy cp = {.dc = dc, .table = table};
	sg_sql_init(&cp.ins);
	bool *present = NULL;
	/* The target's columns (made from the dictionary) that the source has
	 * too: a column added to the source by hand, outside the dictionary,
	 * is not served by nowd and is left behind. */
	sg_err err = sg_conn_columns(dc, table, add_column, &cp);
	if (!err)
		err = cp.err;
	if (!err && !(present = calloc(cp.ncols + 1, sizeof(*present))))
		err = SG_ERR_NOMEM;
	void *both[2] = {&cp, present};
	if (!err)
		err = sg_conn_columns(sc, table, note_source_column, both);
	size_t kept = 0;
	for (size_t i = 0; !err && i < cp.ncols; i++) {
		if (!present[i]) {
			free(cp.cols[i].name);
			continue;
		}
		cp.cols[kept] = cp.cols[i];
		cp.cols[kept].number = number_column(d, root, cp.cols[kept].name);
		kept++;
	}
	if (!err)
		cp.ncols = kept;
	struct sg_sql sel;
	sg_sql_init(&sel);
	if (!err && cp.ncols && !has_column(&cp, "sys_id") && root) {
		why(res, "the source's table %s has no sys_id column", table);
		err = SG_ERR_STORE;
	}
	if (!err && cp.ncols) {
		sg_sql_raw(&sel, "SELECT ");
		for (size_t i = 0; i < cp.ncols; i++) {
			if (i)
				sg_sql_raw(&sel, ", ");
			sg_sql_ident(&sel, cp.cols[i].name);
		}
		sg_sql_raw(&sel, " FROM ");
		sg_sql_ident(&sel, table);
		insert_head(&cp);
		err = sg_conn_exec(sc, &sel, copy_row, &cp, NULL);
		if (!err)
			err = cp.err;
		if (!err)
			err = flush(&cp);
		if (err)
			why(res, "copying the rows of %s failed", table);
	}
	long long from_rows = 0, to_rows = 0;
	if (!err)
		err = count_rows(sc, table, &from_rows);
	if (!err)
		err = count_rows(dc, table, &to_rows);
	if (!err && (from_rows != to_rows || to_rows != cp.rows)) {
		why(res, "the row counts of %s differ after the copy", table);
		err = SG_ERR_STORE;
	}
	if (!err && fn)
		fn(ud, table, from_rows, to_rows);
	if (!err) {
		res->tables++;
		res->rows += to_rows;
	}
	sg_sql_cleanup(&sel);
	sg_sql_cleanup(&cp.ins);
	for (size_t i = 0; i < cp.ncols; i++)
		free(cp.cols[i].name);
	free(cp.cols);
	free(present);
	return err;
}

/* The file that holds c's database into *out (new; NULL for a server). */
static sg_err db_file(sg_conn *c, char **out)
{
	*out = NULL;
	struct sg_sql q;
	sg_sql_init(&q);
	if (!sg_conn_dialect(c)->db_file(&q)) {
		sg_sql_cleanup(&q);
		return SG_ERR_OK;
	}
	sg_err err = sg_conn_query_string(c, &q, out);
	sg_sql_cleanup(&q);
	if (!err && *out && !**out) {
		free(*out);
		*out = NULL;
	}
	return err;
}

sg_err sg_model_migrate(const char *from, const char *to, bool force, sg_migrate_fn fn, void *ud,
                        struct sg_migrate_result *res)
{
	memset(res, 0, sizeof(*res));
	sg_store *src = NULL, *dst = NULL;
	struct sg_dict *d = NULL;
	sg_conn *sc = NULL, *dc = NULL;
	bool exists = false, dst_existed = false, src_open = false, dst_open = false;
	sg_err err = sg_store_exists(from, &exists);
	if (!err && !exists) {
		why(res, "the source holds no instance");
		return SG_ERR_NO_RESOURCE;
	}
	if (!err)
		err = sg_store_exists(to, &dst_existed);
	if (!err)
		err = sg_store_open(from, false, &src);
	if (!err && !(sc = sg_store_conn(src)))
		err = SG_ERR_STORE;
	if (!err)
		err = sg_conn_begin(sc, false); /* one moment of the source */
	src_open = !err;
	if (!err && sg__dict_load(sc, &d)) {
		why(res, "the source's dictionary cannot be read");
		err = SG_ERR_NO_RESOURCE;
	}
	if (!err)
		err = db_file(sc, &res->from_file);
	if (!err)
		err = sg_store_open(to, true, &dst);
	if (!err && !(dc = sg_store_conn(dst)))
		err = SG_ERR_STORE;
	if (err) {
		if (!*res->why)
			why(res, "cannot open both ends");
		goto out;
	}
	err = db_file(dc, &res->to_file);
	if (!err)
		err = sg_conn_begin(dc, true);
	dst_open = !err;
	if (!err)
		err = make_schema(dc, d, force, res);
	for (size_t i = 0; !err && i < d->ntables; i++)
		if (d->list[i]->root == d->list[i])
			err = copy_table(sc, dc, d, d->list[i], d->list[i]->name, fn, ud, res);
	if (!err)
		err = copy_table(sc, dc, d, NULL, GEN_TABLE, fn, ud, res);
	const struct sg_table *att = d ? sg_dict_table(d, SG_ATTACH_TABLE) : NULL;
	if (!err && att) {
		err = sg_attach_migrate(sc, res->from_file, dc, res->to_file, att->root->name,
		                        &res->content);
		if (err)
			why(res, "the attachment content could not be copied");
	}
	if (!err) {
		dst_open = false;
		err = sg_conn_commit(dc);
		if (err)
			why(res, "the target's commit failed");
	}
	/* Fresh planner statistics for the copied rows. */
	if (!err)
		sg_conn_maintain(dc, true);
out:
	if (dst_open)
		sg_conn_rollback(dc);
	if (src_open)
		sg_conn_rollback(sc);
	if (d)
		sg_dict_free(d);
	if (src)
		sg_store_close(src);
	/* A target this call created and could not fill is not left behind. */
	if (dst && err && !dst_existed)
		sg_store_drop(dst);
	else if (dst)
		sg_store_close(dst);
	if (err && !*res->why)
		why(res, "%s", sg_err_name(err));
	return err;
}

void sg_migrate_result_cleanup(struct sg_migrate_result *res)
{
	free(res->from_file);
	free(res->to_file);
	res->from_file = res->to_file = NULL;
}
