/*
 * record.c - reading and writing records with ServiceNow's semantics.
 *
 * A write runs the prepare rules on the caller's input (no lock held), then
 * in one transaction: normalise the input against the dictionary, apply
 * defaults (insert), stamp the system fields, run the before rules (numbers,
 * table semantics, dictionary checks), store the record, run the after rules
 * (journal, audit, DDL, change counters); once committed, the after-commit
 * rules.  The rules are a table (rules.c, rules.h).  Nothing is half-written:
 * any failure, an allocation's included, rolls the whole write back.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/tz.h"
#include "core/util.h"
#include "model/internal.h"

/* ---- reading ----------------------------------------------------------- */

/* Appends the columns of t a record read returns, in t->fields order, as
 * the dictionary lists them (t->columns, alias "t"). */
static void select_columns(struct sg_sql *q, const struct sg_table *t)
{
	if (!t->columns) {
		q->failed = true; /* a field name that is not an identifier */
		return;
	}
	sg_sql_raw(q, t->columns);
}

/* Keeps a row selected with select_columns(): stored fields from the
 * columns, the others ("comments", "sys_tags") as "", in one allocation. */
static int collect_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct sg_rows *rs = ud;
	const struct sg_table *t = rs->t;
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		const char ***grown = realloc(rs->vals, cap * sizeof(*grown));
		if (!grown) {
			rs->failed = true;
			return 1;
		}
		rs->vals = grown;
		rs->cap = cap;
	}
	/* Column lengths once: sized, then copied. */
	size_t len_small[128], *len = len_small;
	if ((size_t)ncol > sizeof(len_small) / sizeof(len_small[0]) &&
	    !(len = malloc((size_t)ncol * sizeof(*len)))) {
		rs->failed = true;
		return 1;
	}
	size_t bytes = t->nfields * sizeof(char *);
	for (int i = 0; i < ncol; i++) {
		len[i] = vals[i] ? strlen(vals[i]) : 0;
		bytes += len[i] + 1;
	}
	const char **row = malloc(bytes);
	if (!row) {
		if (len != len_small)
			free(len);
		rs->failed = true;
		return 1;
	}
	char *text = (char *)(row + t->nfields);
	int col = 0;
	for (size_t i = 0; i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		row[i] = NULL;
		if (sg_field_is_secret(f))
			continue;
		row[i] = "";
		if (sg_field_is_stored(f) && col < ncol) {
			if (vals[col])
				memcpy(text, vals[col], len[col]);
			text[len[col]] = '\0';
			row[i] = text;
			text += len[col] + 1;
			col++;
		}
	}
	if (len != len_small)
		free(len);
	rs->vals[rs->n++] = row;
	return 0;
}

json_t *sg_rec_from_values(const struct sg_table *t, const char *const *vals)
{
	json_t *rec = json_object();
	for (size_t k = 0; rec && k < t->nfields; k++) {
		const char *v = vals[k];
		if (v && json_object_set_new_nocheck(rec, t->fields[k]->element,
		                                     json_string_nocheck(v))) {
			json_decref(rec);
			rec = NULL;
		}
	}
	return rec;
}

json_t *sg_rows_records(const struct sg_rows *rs)
{
	json_t *out = json_array();
	for (size_t i = 0; out && i < rs->n; i++) {
		if (json_array_append_new(out, sg_rec_from_values(rs->t, rs->vals[i]))) {
			json_decref(out);
			out = NULL;
		}
	}
	return out;
}

void sg_rows_cleanup(struct sg_rows *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->vals[i]);
	free(rs->vals);
	memset(rs, 0, sizeof(*rs));
}

static const struct sg_table *lookup_table(struct sg_ctx *ctx, const char *name)
{
	const struct sg_table *t = sg_dict_table(ctx->dict, name);
	if (!t)
		sg_ctx_set_err(ctx, "%s", name ? name : "");
	return t;
}

/* Reads the record id as table t sees it into rs (one row). */
static sg_err read_one(struct sg_ctx *ctx, const struct sg_table *t, const char *sys_id,
                       struct sg_rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->t = t;
	if (!sg_id_is_key(sys_id) && !sg_str_eq(sys_id, "global"))
		return SG_ERR_NO_RECORD;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT ");
	select_columns(&q, t);
	sg_sql_raw(&q, " FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " t WHERE \"t\".\"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	sg_query_class_filter(&q, t, "t");
	sg_err err = sg_conn_exec(ctx->conn, &q, collect_row, rs, NULL);
	sg_sql_cleanup(&q);
	if (!err && rs->failed)
		err = SG_ERR_NOMEM;
	if (!err && rs->n == 0)
		err = SG_ERR_NO_RECORD;
	if (err)
		sg_rows_cleanup(rs);
	return err;
}

sg_err sg_rec_get_row(struct sg_ctx *ctx, const char *table, const char *sys_id, struct sg_rows *rs)
{
	memset(rs, 0, sizeof(*rs));
	const struct sg_table *t = lookup_table(ctx, table);
	if (!t)
		return SG_ERR_INVALID_TABLE;
	return read_one(ctx, t, sys_id, rs);
}

sg_err sg_rec_get(struct sg_ctx *ctx, const char *table, const char *sys_id, json_t **out)
{
	struct sg_rows rs;
	sg_err err = sg_rec_get_row(ctx, table, sys_id, &rs);
	if (!err && !(*out = sg_rec_from_values(rs.t, rs.vals[0])))
		err = SG_ERR_NOMEM;
	sg_rows_cleanup(&rs);
	return err;
}

/* " FROM <t's storage> t WHERE <opts->query and t's class>" into out:
 * compiled once, shared by a list's count and its page. */
static sg_err list_where(struct sg_ctx *ctx, const struct sg_qenv *env, const struct sg_table *t,
                         const struct sg_list_opts *opts, struct sg_sql *out)
{
	bool none, invalid;
	sg_err err = sg_prop_bool(ctx, "glide.invalid_query.returns_no_rows", false, &none);
	if (err)
		return err;
	sg_sql_raw(out, " FROM ");
	sg_sql_ident(out, t->root->name);
	sg_sql_raw(out, " t WHERE ");
	err = sg_query_compile_where(env, t, opts->query, "t", none, out, &invalid);
	sg_query_class_filter(out, t, "t");
	return err ? err : sg_sql_error(out);
}

/* The COUNT(*) statement of a list (count), or its page, over where (from
 * list_where), appended to out. */
static sg_err list_statement(const struct sg_qenv *env, const struct sg_table *t,
                             const struct sg_list_opts *opts, const struct sg_sql *where,
                             bool count, struct sg_sql *out)
{
	sg_err err = SG_ERR_OK;
	if (count) {
		sg_sql_raw(out, "SELECT COUNT(*)");
	} else {
		sg_sql_raw(out, "SELECT ");
		select_columns(out, t);
	}
	sg_sql_append(out, where);
	if (!count) {
		err = sg_query_compile_order(env, t, opts->query, "t", out);
		/* No limit is the largest one: SQLite's LIMIT -1 is refused by
		 * PostgreSQL, and OFFSET needs a LIMIT before it in SQLite. */
		sg_sql_raw(out, " LIMIT ");
		sg_sql_int(out, opts->limit < 0 ? LLONG_MAX : opts->limit);
		sg_sql_raw(out, " OFFSET ");
		sg_sql_int(out, opts->offset);
	}
	return err ? err : sg_sql_error(out);
}

sg_err sg_rec_list_sql(struct sg_ctx *ctx, const char *table, const struct sg_list_opts *opts,
                       bool count, struct sg_sql *out)
{
	const struct sg_table *t = lookup_table(ctx, table);
	if (!t)
		return SG_ERR_INVALID_TABLE;
	struct sg_qenv env;
	sg_ctx_qenv(ctx, &env);
	struct sg_sql where;
	sg_sql_init(&where);
	sg_err err = list_where(ctx, &env, t, opts, &where);
	if (!err)
		err = list_statement(&env, t, opts, &where, count, out);
	sg_sql_cleanup(&where);
	return err;
}

#define MAX_COUNTS 512

/*
 * X-Total-Count: the COUNT(*) of a list, remembered until any record is
 * written anywhere (the "data" change counter, shared by every process), so
 * a client paging through a list pays for it once.  When it runs q outside
 * a caller's transaction it opens a read transaction first and sets *began:
 * the caller reads the page in it, so count and page see the same rows, and
 * ends it.
 */
static sg_err cached_count(struct sg_ctx *ctx, const struct sg_sql *q, long long *total,
                           bool *began)
{
	struct sg_model *m = ctx->model;
	unsigned long gen = atomic_load(&m->data_gen);
	bool outer = sg_conn_in_transaction(ctx->conn);
	sg_err err = SG_ERR_OK;
	struct sg_buf key;
	sg_buf_init(&key, 8 * 1024 * 1024);
	sg_buf_puts(&key, sg_buf_str(&q->text));
	for (size_t i = 0; i < q->nparams; i++) {
		sg_buf_putc(&key, '\x1f');
		if (q->params[i].kind == SG_PARAM_TEXT)
			sg_buf_puts(&key, q->params[i].text);
		else if (q->params[i].kind == SG_PARAM_INT)
			sg_buf_printf(&key, "%lld", q->params[i].i);
	}
	if (sg_buf_failed(&key) && !key.too_large) {
		err = SG_ERR_NOMEM;
		goto out;
	}
	/* Counts seen inside a caller's (write) transaction are not shared. */
	bool cacheable = gen != 0 && !sg_buf_failed(&key) && !outer;
	if (cacheable) {
		pthread_mutex_lock(&m->lock);
		if (m->counts_gen != gen) {
			sg__counts_clear(m);
			m->counts_gen = gen;
		}
		long long *hit = sg_map_get(&m->counts, sg_buf_str(&key));
		if (hit)
			*total = *hit;
		pthread_mutex_unlock(&m->lock);
		if (hit)
			goto out;
	}
	if (!outer) {
		err = sg_conn_begin(ctx->conn, false);
		if (err)
			goto out;
		*began = true;
	}
	char *n = NULL;
	err = sg_conn_query_string(ctx->conn, q, &n);
	*total = n ? atoll(n) : 0;
	free(n);
	if (!err && cacheable) {
		/* Out of memory here only costs the next request a COUNT. */
		long long *v = malloc(sizeof(*v));
		pthread_mutex_lock(&m->lock);
		if (v && m->counts_gen == gen && m->counts.count < MAX_COUNTS) {
			*v = *total;
			free(sg_map_get(&m->counts, sg_buf_str(&key)));
			if (sg_map_put(&m->counts, sg_buf_str(&key), v))
				v = NULL;
		}
		pthread_mutex_unlock(&m->lock);
		free(v);
	}
out:
	sg_buf_cleanup(&key);
	return err;
}

sg_err sg_rec_rows(struct sg_ctx *ctx, const char *table, const struct sg_list_opts *opts,
                   struct sg_rows *rs, long long *total)
{
	memset(rs, 0, sizeof(*rs));
	const struct sg_table *t = lookup_table(ctx, table);
	if (!t)
		return SG_ERR_INVALID_TABLE;
	rs->t = t;
	struct sg_qenv env;
	sg_ctx_qenv(ctx, &env);
	struct sg_sql where, q;
	sg_sql_init(&where);
	sg_sql_init(&q);
	bool began = false;
	sg_err err = list_where(ctx, &env, t, opts, &where);
	if (!err && opts->count && total) {
		err = list_statement(&env, t, opts, &where, true, &q);
		if (!err)
			err = cached_count(ctx, &q, total, &began);
		sg_sql_reset(&q);
	}
	if (!err)
		err = list_statement(&env, t, opts, &where, false, &q);
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, collect_row, rs, NULL);
	if (!err && rs->failed)
		err = SG_ERR_NOMEM;
	if (began && err)
		sg_conn_rollback(ctx->conn);
	else if (began)
		err = sg_conn_commit(ctx->conn);
	sg_sql_cleanup(&q);
	sg_sql_cleanup(&where);
	if (err)
		sg_rows_cleanup(rs);
	return err;
}

sg_err sg_rec_list(struct sg_ctx *ctx, const char *table, const struct sg_list_opts *opts,
                   json_t **rows, long long *total)
{
	struct sg_rows rs;
	sg_err err = sg_rec_rows(ctx, table, opts, &rs, total);
	if (err)
		return err;
	json_t *out = sg_rows_records(&rs);
	sg_rows_cleanup(&rs);
	if (!out)
		return SG_ERR_NOMEM;
	*rows = out;
	return SG_ERR_OK;
}

/* ---- writing ----------------------------------------------------------- */

const char *sg_write_val(const struct sg_write *w, const char *element)
{
	const char *v = sg_json_str(w->rec, element);
	return v ? v : "";
}

void sg_write_set(struct sg_write *w, const char *element, const char *value)
{
	if (json_object_set_new(w->rec, element, json_string(value ? value : "")))
		w->failed = true;
}

bool sg_write_changed(const struct sg_write *w, const char *element)
{
	if (w->insert)
		return *sg_write_val(w, element) != '\0';
	const char *o = sg_json_str(w->old, element);
	return strcmp(o ? o : "", sg_write_val(w, element)) != 0;
}

/* The text an input value gives: a string, a number or boolean as text, or
 * {"value": ...} as PySNC may echo back ("display_value" with display-value
 * input).  NULL when it gives none. */
static const char *input_text(const json_t *value, const struct sg_write_opts *opts, char *scratch,
                              size_t scratch_size)
{
	const char *v = sg_json_field_text(value, scratch, scratch_size);
	if (!v && json_is_object(value))
		v = sg_json_field_text(
		    json_object_get(value, opts->input_display_value ? "display_value" : "value"),
		    scratch, scratch_size);
	return v;
}

const char *sg_write_input_text(const struct sg_write *w, const char *element, char *scratch,
                                size_t scratch_size)
{
	return input_text(json_object_get(w->input, element), w->opts, scratch, scratch_size);
}

static bool is_integer(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool is_number(const char *s)
{
	char *end;
	strtod(s, &end);
	return end != s && *end == '\0';
}

/* A reference written as something other than a sys_id is looked up by the
 * referenced table's display value, as the platform does: *id a new string,
 * NULL when there is nothing to look up or no record has that value. */
static sg_err resolve_reference(struct sg_ctx *ctx, const struct sg_field *f, const char *v,
                                char **id)
{
	const struct sg_table *rt = sg_dict_table(ctx->dict, f->reference);
	*id = NULL;
	if (sg_id_is_valid(v) || !rt || !rt->display)
		return SG_ERR_OK;
	struct sg_sql q;
	/* A client-chosen id (32 characters, not hex) names its record first. */
	for (int pass = sg_id_is_key(v) ? 0 : 1; pass < 2; pass++) {
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"sys_id\" FROM ");
		sg_sql_ident(&q, rt->root->name);
		sg_sql_raw(&q, " t WHERE ");
		sg_sql_qual(&q, "t", pass ? rt->display->element : "sys_id");
		sg_sql_raw(&q, " = ");
		sg_sql_text(&q, v);
		sg_query_class_filter(&q, rt, "t");
		sg_sql_raw(&q, " ORDER BY \"sys_id\" LIMIT 1");
		sg_err err = sg_conn_query_string(ctx->conn, &q, id);
		sg_sql_cleanup(&q);
		if (err || *id)
			return err;
	}
	return SG_ERR_OK;
}

/* *out = a copy of v. */
static sg_err dup(const char *v, char **out)
{
	*out = strdup(v);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

/*
 * Turns an input value for f into its stored form: *out a new string, or
 * NULL when the value is not applied (ServiceNow ignores what it cannot
 * take).  Errors: SG_ERR_NOMEM, a store error, or SG_ERR_INTERNAL for a
 * password no rule sealed.
 */
static sg_err normalize(struct sg_write *w, const struct sg_field *f, const char *v, char **out)
{
	struct sg_ctx *ctx = w->ctx;
	*out = NULL;
	/* Secrets are stored as a prepare rule sealed them (auth hashes
	 * passwords and encrypts password2 values before the lock), never as
	 * given, and never cut to the field's length. */
	if (sg_field_is_secret(f) && *v) {
		if (json_object_get(w->sealed, f->element))
			return dup(v, out);
		sg_log_error("write: %s.%s: no rule seals password fields; not stored",
		             w->cls->name, f->element);
		return SG_ERR_INTERNAL;
	}
	size_t nch = 0;
	const struct sg_choice *ch = sg_dict_choices(ctx->dict, w->cls, f->element, &nch);
	if (ch) {
		/* Empty does not clear a choice field [c_RESTAPI.md]. */
		if (!*v)
			return SG_ERR_OK;
		for (size_t i = 0; i < nch; i++)
			if (strcmp(ch[i].value, v) == 0)
				return dup(v, out);
		if (w->opts->input_display_value)
			for (size_t i = 0; i < nch; i++)
				if (strcasecmp(ch[i].label, v) == 0)
					return dup(ch[i].value, out);
		bool allow;
		sg_err err =
		    sg_prop_bool(ctx, "glide.rest.choice.allow_non_existing_value", false, &allow);
		if (err || !allow)
			return err;
	}
	if (!*v)
		return dup("", out);

	char buf[64];
	int64_t t;
	switch (f->type) {
	case SG_FT_BOOLEAN:
		return dup(sg_str_bool(v, false) ? "true" : "false", out);
	case SG_FT_INTEGER:
		if (!is_integer(v))
			return SG_ERR_OK;
		snprintf(buf, sizeof(buf), "%lld", strtoll(v, NULL, 10));
		return dup(buf, out);
	case SG_FT_DECIMAL:
		return is_number(v) ? dup(v, out) : SG_ERR_OK;
	case SG_FT_DATETIME:
	case SG_FT_DURATION:
		if (!sg_time_parse(v, &t))
			return SG_ERR_OK;
		/* Display-value input is in the user's time zone [c_TableAPI.md]. */
		if (w->opts->input_display_value && f->type == SG_FT_DATETIME) {
			t = sg_tz_to_utc(sg_ctx_time_zone(ctx), t);
			if (sg_ctx_error(ctx))
				return sg_ctx_error(ctx);
		}
		sg_time_format(t, buf);
		return dup(buf, out);
	case SG_FT_DATE:
		if (!sg_time_parse(v, &t))
			return SG_ERR_OK;
		sg_time_format(t, buf);
		buf[10] = '\0';
		return dup(buf, out);
	case SG_FT_REFERENCE: {
		sg_err err = resolve_reference(ctx, f, v, out);
		return err || *out ? err : sg__unmatched_reference(ctx, f, v, out);
	}
	default:
		/* Longer strings are cut to the field's length, as the platform's
		 * columns do. */
		if (f->max_length > 0)
			*out = strndup(v, sg_str_utf8_prefix(v, (size_t)f->max_length));
		else
			*out = strdup(v);
		return *out ? SG_ERR_OK : SG_ERR_NOMEM;
	}
}

static bool is_sys_field(const char *element)
{
	return strncmp(element, "sys_", 4) == 0;
}

/* Applies the (prepared) input to w->rec. */
static sg_err apply_input(struct sg_write *w)
{
	const struct sg_write_opts *opts = w->opts;
	const char *key;
	json_t *value;
	json_object_foreach(w->input, key, value)
	{
		const struct sg_field *f = sg_table_field(w->cls, key);
		if (!f || !sg_table_field(w->table, key))
			continue; /* unknown fields are ignored */
		if (is_sys_field(key)) {
			/* sys_class_name and sys_mod_count are the platform's;
			 * the others are writable [sc-restrict-write-access...]. */
			if (!opts->allow_sys_fields || !strcmp(key, "sys_class_name") ||
			    !strcmp(key, "sys_mod_count") || !strcmp(key, "sys_tags") ||
			    (!w->insert && !strcmp(key, "sys_id")))
				continue;
		}
		char scratch[64];
		const char *v = input_text(value, opts, scratch, sizeof(scratch));
		if (!v)
			continue;
		if (f->type == SG_FT_JOURNAL_INPUT || f->type == SG_FT_JOURNAL) {
			if (*v && json_object_set_new(w->journal, key, json_string(v)))
				return SG_ERR_NOMEM;
			continue;
		}
		if (!sg_field_is_stored(f))
			continue;
		if (!strcmp(key, "sys_id") && !sg_id_is_key(v))
			continue;
		char *norm;
		sg_err err = normalize(w, f, v, &norm);
		if (err)
			return err;
		if (!norm)
			continue;
		sg_write_set(w, key, norm);
		free(norm);
		if (json_object_set_new(w->explicit, key, json_true()))
			return SG_ERR_NOMEM;
	}
	return w->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* Evaluates the dictionary default of f; new string or NULL.  Numbers are
 * the numbering rule's (number.c). */
static sg_err eval_default(struct sg_write *w, const struct sg_field *f, char **out)
{
	const char *d = sg_dict_default(w->ctx->dict, w->cls, f);
	*out = NULL;
	if (!d || !*d || sg__default_is_number(d))
		return SG_ERR_OK;
	if (strncmp(d, "javascript:", 11) != 0)
		return dup(d, out);
	/* A small whitelist of the scripts base dictionary defaults use. */
	const char *js = d + 11;
	while (*js == ' ')
		js++;
	if (!strncmp(js, "gs.generateGUID()", 17)) {
		char id[SG_ID_LEN + 1];
		sg_id_new(id);
		return dup(id, out);
	}
	if (!strncmp(js, "gs.getUserID()", 14))
		return dup(w->ctx->user.sys_id, out);
	if (!strncmp(js, "gs.getUserName()", 16))
		return dup(w->ctx->user.user_name, out);
	if (!strncmp(js, "gs.nowDateTime()", 16) || !strncmp(js, "gs.nowNoTZ()", 12)) {
		char now[SG_DT_LEN + 1];
		sg_time_format(sg_time_now(), now);
		return dup(now, out);
	}
	/* Anything else through the engine, as the user (none: no default; a
	 * script that fails: no default, logged by the engine). */
	if (!w->ctx->script_value)
		return SG_ERR_OK;
	return w->ctx->script_value(w->ctx->script_value_ud, js, false, out);
}

static sg_err apply_defaults(struct sg_write *w)
{
	for (size_t i = 0; i < w->cls->nfields; i++) {
		const struct sg_field *f = w->cls->fields[i];
		if (!sg_field_is_stored(f) || json_object_get(w->explicit, f->element))
			continue;
		char *v;
		sg_err err = eval_default(w, f, &v);
		if (err)
			return err;
		if (v)
			sg_write_set(w, f->element, v);
		free(v);
	}
	return w->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

static sg_err stamp(struct sg_write *w)
{
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	const char *user = w->ctx->user.user_name;
	bool keep = w->opts->suppress_auto_sys_field;
	if (w->insert) {
		if (!*sg_write_val(w, "sys_id")) {
			char id[SG_ID_LEN + 1];
			sg_id_new(id);
			sg_write_set(w, "sys_id", id);
		}
		if (!json_object_get(w->explicit, "sys_created_on"))
			sg_write_set(w, "sys_created_on", now);
		if (!json_object_get(w->explicit, "sys_created_by"))
			sg_write_set(w, "sys_created_by", user);
		sg_write_set(w, "sys_mod_count", "0");
		if (w->cls->hierarchy)
			sg_write_set(w, "sys_class_name", w->cls->name);
		if (sg_table_field(w->cls, "sys_domain")) {
			if (!*sg_write_val(w, "sys_domain"))
				sg_write_set(w, "sys_domain", "global");
			sg_write_set(w, "sys_domain_path", "/");
		}
	} else if (!keep) {
		char n[32];
		snprintf(n, sizeof(n), "%lld", atoll(sg_write_val(w, "sys_mod_count")) + 1);
		sg_write_set(w, "sys_mod_count", n);
	}
	if (!keep || w->insert) {
		if (!json_object_get(w->explicit, "sys_updated_on"))
			sg_write_set(w, "sys_updated_on", now);
		if (!json_object_get(w->explicit, "sys_updated_by"))
			sg_write_set(w, "sys_updated_by", user);
	}
	return w->failed ? SG_ERR_NOMEM : SG_ERR_OK;
}

int sg_json_rows_add(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct sg_json_rows *r = ud;
	json_t *row = json_object();
	if (!row || json_array_append_new(r->rows, row)) {
		r->failed = true;
		return 1;
	}
	for (int i = 0; i < ncol; i++) {
		if (json_object_set_new_nocheck(row, names[i],
		                                json_string_nocheck(vals[i] ? vals[i] : ""))) {
			r->failed = true;
			return 1;
		}
	}
	return 0;
}

sg_err sg_json_rows_query(sg_conn *c, struct sg_sql *q, json_t **out)
{
	struct sg_json_rows rows = {.rows = json_array()};
	sg_err err = rows.rows ? sg_conn_exec(c, q, sg_json_rows_add, &rows, NULL) : SG_ERR_NOMEM;
	sg_sql_cleanup(q);
	if (!err && rows.failed)
		err = SG_ERR_NOMEM;
	if (err) {
		json_decref(rows.rows);
		rows.rows = NULL;
	}
	*out = rows.rows;
	return err;
}

/* The full stored record of class cls for id, every stored column. */
static sg_err read_stored(struct sg_ctx *ctx, const struct sg_table *cls, const char *sys_id,
                          json_t **out)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM ");
	sg_sql_ident(&q, cls->root->name);
	sg_sql_raw(&q, " WHERE \"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	json_t *rows;
	sg_err err = sg_json_rows_query(ctx->conn, &q, &rows);
	if (!err && json_array_size(rows) == 0)
		err = SG_ERR_NO_RECORD;
	if (!err)
		*out = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return err;
}

sg_err sg__insert_plain(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec)
{
	char id[SG_ID_LEN + 1], now[SG_DT_LEN + 1];
	bool ok = true;
	sg_time_format(sg_time_now(), now);
	if (!sg_id_is_key(sg_json_str(rec, "sys_id"))) {
		sg_id_new(id);
		ok &= !json_object_set_new(rec, "sys_id", json_string(id));
	}
	static const char *stamps[] = {"sys_created_on", "sys_updated_on"};
	static const char *users[] = {"sys_created_by", "sys_updated_by"};
	for (int i = 0; i < 2; i++) {
		if (!sg_json_str(rec, stamps[i]))
			ok &= !json_object_set_new(rec, stamps[i], json_string(now));
		if (!sg_json_str(rec, users[i]))
			ok &= !json_object_set_new(rec, users[i], json_string(ctx->user.user_name));
	}
	if (!sg_json_str(rec, "sys_mod_count"))
		ok &= !json_object_set_new(rec, "sys_mod_count", json_string("0"));
	if (t->hierarchy && !sg_json_str(rec, "sys_class_name"))
		ok &= !json_object_set_new(rec, "sys_class_name", json_string(t->name));
	if (!ok)
		return SG_ERR_NOMEM;

	/* Columns and values in one pass: empty values are stored as NULL. */
	struct sg_sql q, vals;
	sg_sql_init(&q);
	sg_sql_init(&vals);
	sg_sql_raw(&q, "INSERT INTO ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " (");
	bool first = true;
	const char *key;
	json_t *v;
	json_object_foreach(rec, key, v)
	{
		const struct sg_field *f = sg_table_field(t, key);
		if (!f || !sg_field_is_stored(f))
			continue;
		const char *sep = first ? "" : ", ";
		const char *s = json_string_value(v);
		sg_sql_raw(&q, sep);
		sg_sql_ident(&q, key);
		sg_sql_raw(&vals, sep);
		sg_sql_text(&vals, (s && *s) ? s : NULL);
		first = false;
	}
	sg_sql_raw(&q, ") VALUES (");
	sg_sql_append(&q, &vals);
	sg_sql_cleanup(&vals);
	sg_sql_raw(&q, ")");
	sg_err err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static sg_err store_update(struct sg_write *w)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE ");
	sg_sql_ident(&q, w->cls->root->name);
	sg_sql_raw(&q, " SET ");
	bool first = true;
	for (size_t i = 0; i < w->cls->nfields; i++) {
		const struct sg_field *f = w->cls->fields[i];
		if (!sg_field_is_stored(f) || !sg_write_changed(w, f->element) ||
		    !strcmp(f->element, "sys_id"))
			continue;
		if (!first)
			sg_sql_raw(&q, ", ");
		sg_sql_ident(&q, f->element);
		sg_sql_raw(&q, " = ");
		const char *v = sg_write_val(w, f->element);
		sg_sql_text(&q, *v ? v : NULL);
		first = false;
	}
	sg_err err = SG_ERR_OK;
	if (!first) {
		sg_sql_raw(&q, " WHERE \"sys_id\" = ");
		sg_sql_text(&q, sg_write_val(w, "sys_id"));
		err = sg_conn_exec(w->ctx->conn, &q, NULL, NULL, NULL);
	}
	sg_sql_cleanup(&q);
	return err;
}

/* After rule: one sys_journal_field row per journal entry written. */
sg_err sg__journal_write(struct sg_write *w)
{
	const struct sg_table *jt = sg_dict_table(w->ctx->dict, "sys_journal_field");
	const char *key;
	json_t *v;
	if (!jt)
		return SG_ERR_OK;
	json_object_foreach(w->journal, key, v)
	{
		json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", w->cls->name,
		                        "element", key, "element_id", sg_write_val(w, "sys_id"),
		                        "value", json_string_value(v), "sys_created_on",
		                        sg_write_val(w, "sys_updated_on"));
		if (!row)
			return SG_ERR_NOMEM;
		sg_err err = sg__insert_plain(w->ctx, jt, row);
		json_decref(row);
		if (err)
			return err;
	}
	return SG_ERR_OK;
}

static sg_err audit_row(struct sg_write *w, const struct sg_table *at, const char *field,
                        const char *oldv, const char *newv)
{
	json_t *row = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "tablename", w->cls->name,
	                        "documentkey", sg_write_val(w, "sys_id"), "fieldname", field,
	                        "oldvalue", oldv, "newvalue", newv, "user", w->ctx->user.user_name,
	                        "record_checkpoint", sg_write_val(w, "sys_mod_count"));
	if (!row)
		return SG_ERR_NOMEM;
	sg_err err = sg__insert_plain(w->ctx, at, row);
	json_decref(row);
	return err;
}

/* After rule: one sys_audit row per changed field of an audited table. */
sg_err sg__audit_write(struct sg_write *w)
{
	const struct sg_table *at = sg_dict_table(w->ctx->dict, "sys_audit");
	bool audited = false;
	for (const struct sg_table *p = w->cls; p; p = p->super)
		audited |= p->audit;
	if (!at || !audited)
		return SG_ERR_OK;
	bool audit_inserts = false;
	sg_err err = w->insert
	                 ? sg_prop_bool(w->ctx, "glide.sys.audit_inserts", false, &audit_inserts)
	                 : SG_ERR_OK;
	if (err || (w->insert && !audit_inserts))
		return err;
	for (size_t i = 0; i < w->cls->nfields; i++) {
		const struct sg_field *f = w->cls->fields[i];
		if (!sg_field_is_stored(f) || is_sys_field(f->element) ||
		    !sg_write_changed(w, f->element))
			continue;
		const char *o = w->old ? sg_json_str(w->old, f->element) : "";
		bool secret = sg_field_is_secret(f);
		err = audit_row(w, at, f->element, secret ? "" : (o ? o : ""),
		                secret ? "" : sg_write_val(w, f->element));
		if (err)
			return err;
	}
	const char *key;
	json_t *v;
	json_object_foreach(w->journal, key, v)
	{
		err = audit_row(w, at, key, "", json_string_value(v));
		if (err)
			return err;
	}
	return SG_ERR_OK;
}

static void write_cleanup(struct sg_write *w)
{
	json_decref(w->old);
	json_decref(w->rec);
	json_decref(w->explicit);
	json_decref(w->journal);
	json_decref(w->sealed);
	json_decref(w->after);
	if (w->input_owned)
		json_decref(w->input);
}

/*
 * The dictionary's unique flag: a field marked unique may not take a
 * non-empty value another row of the physical table already holds.  Only
 * values this write sets are checked, so an instance that already holds
 * duplicates (the flag set later) still opens and its rows can still be
 * updated in their other fields.  The platform's refusal is a database
 * error, "Unique Key violation detected by database"; the Table API shows
 * it as 403 Operation Failed (docs/servicenow-behaviour.md).
 */
static sg_err check_unique(struct sg_write *w)
{
	for (size_t i = 0; i < w->cls->nfields; i++) {
		const struct sg_field *f = w->cls->fields[i];
		if (!f->unique || !sg_field_is_stored(f) || !sg_write_changed(w, f->element))
			continue;
		const char *v = sg_write_val(w, f->element);
		if (!*v)
			continue;
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"sys_id\" FROM ");
		sg_sql_ident(&q, w->cls->root->name);
		sg_sql_raw(&q, " WHERE ");
		sg_sql_ident(&q, f->element);
		sg_sql_raw(&q, " = ");
		sg_sql_text(&q, v);
		sg_sql_raw(&q, " AND \"sys_id\" <> ");
		sg_sql_text(&q, sg_write_val(w, "sys_id"));
		sg_sql_raw(&q, " LIMIT 1");
		char *other = NULL;
		sg_err err = sg_conn_query_string(w->ctx->conn, &q, &other);
		sg_sql_cleanup(&q);
		bool taken = other != NULL;
		free(other);
		if (err)
			return err;
		if (taken) {
			/* Which detail the Table API shows is uncertain: the
			 * database's message (default) or the generic one of a
			 * failed write (snowglobe.unique_violation.detail=operation). */
			char *how = NULL;
			err = sg_prop_get(w->ctx, "snowglobe.unique_violation.detail", &how);
			bool generic = !err && how && !strcmp(how, "operation");
			free(how);
			if (err)
				return err;
			if (generic)
				sg_ctx_set_err(w->ctx, "Error during %s of %s (%.100s)",
				               w->insert ? "insert" : "update", w->cls->name, v);
			else
				sg_ctx_set_err(
				    w->ctx,
				    "Unique Key violation detected by database (Duplicate "
				    "entry '%.100s' for key '%s')",
				    v, f->element);
			return SG_ERR_INVALID_INSERT;
		}
	}
	return SG_ERR_OK;
}

/* In the write's transaction: the before rules, the unique keys, the
 * record stored, the after rules. */
static sg_err store_record(struct sg_write *w)
{
	sg_err err = sg__rules_run(w, SG_RULE_BEFORE);
	if (!err)
		err = check_unique(w);
	if (!err)
		err = w->insert ? sg__insert_plain(w->ctx, w->cls, w->rec) : store_update(w);
	if (!err)
		err = sg__rules_run(w, SG_RULE_AFTER);
	return err;
}

/*
 * Ends the write's transaction: rolled back on err, else committed and, when
 * that commit ended the outermost transaction, followed by the after-commit
 * rules.  A write nested in a caller's transaction (loading records) leaves
 * that work to the caller, after its own commit.
 */
static sg_err finish(struct sg_write *w, sg_err err)
{
	struct sg_ctx *ctx = w->ctx;
	if (err) {
		sg_conn_rollback(ctx->conn);
		ctx->dict_dirty = false;
		return err;
	}
	/* Nothing computed with a failed accessor (a time zone) is committed. */
	err = sg_ctx_error(ctx);
	if (err) {
		sg_conn_rollback(ctx->conn);
		ctx->dict_dirty = false;
		return err;
	}
	err = sg_conn_commit(ctx->conn);
	if (!err && !sg_conn_in_transaction(ctx->conn))
		sg__rules_run(w, SG_RULE_AFTER_COMMIT);
	ctx->dict_dirty = ctx->dict_dirty && !err;
	return err;
}

sg_err sg_rec_insert(struct sg_ctx *ctx, const char *table, json_t *input,
                     const struct sg_write_opts *opts, char out_id[SG_ID_LEN + 1])
{
	const struct sg_table *t = lookup_table(ctx, table);
	if (!t)
		return SG_ERR_INVALID_TABLE;
	struct sg_write w = {.ctx = ctx,
	                     .table = t,
	                     .cls = t,
	                     .opts = opts,
	                     .input = input,
	                     .op = SG_OP_INSERT,
	                     .insert = true};
	w.rec = json_object();
	w.explicit = json_object();
	w.journal = json_object();
	sg_err err = w.rec && w.explicit && w.journal ? SG_ERR_OK : SG_ERR_NOMEM;
	if (!err)
		err = sg__rules_run(&w, SG_RULE_PREPARE);
	if (!err)
		err = sg_conn_begin(ctx->conn, true);
	if (err)
		goto out;
	err = apply_input(&w);
	if (!err)
		err = apply_defaults(&w);
	if (!err)
		err = stamp(&w);
	if (!err)
		err = store_record(&w);
	if (!err)
		snprintf(out_id, SG_ID_LEN + 1, "%s", sg_write_val(&w, "sys_id"));
	if (err == SG_ERR_INVALID_INSERT && !ctx->err_arg[0])
		sg_ctx_set_err(ctx, "Error during insert of %s (%s)", t->name,
		               sg_write_val(&w, "sys_id"));
	err = finish(&w, err);
out:
	write_cleanup(&w);
	return err;
}

/* The class of the record id in t's hierarchy, or NULL when it is not there. */
static const struct sg_table *record_class(struct sg_ctx *ctx, const struct sg_table *t,
                                           const char *sys_id, sg_err *err)
{
	*err = SG_ERR_OK;
	if (!sg_id_is_key(sys_id) && !sg_str_eq(sys_id, "global"))
		return NULL;
	if (!t->hierarchy) {
		struct sg_rows rs;
		*err = read_one(ctx, t, sys_id, &rs);
		if (*err)
			return NULL;
		sg_rows_cleanup(&rs);
		return t;
	}
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_class_name\" FROM ");
	sg_sql_ident(&q, t->root->name);
	sg_sql_raw(&q, " t WHERE \"sys_id\" = ");
	sg_sql_text(&q, sys_id);
	sg_query_class_filter(&q, t, "t");
	char *name = NULL;
	*err = sg_conn_query_string(ctx->conn, &q, &name);
	sg_sql_cleanup(&q);
	const struct sg_table *cls = name ? sg_dict_table(ctx->dict, name) : NULL;
	if (name && !cls)
		cls = t; /* a class the dictionary no longer knows: treat as t */
	if (!*err && !cls)
		*err = SG_ERR_NO_RECORD;
	free(name);
	return cls;
}

sg_err sg_rec_update(struct sg_ctx *ctx, const char *table, const char *sys_id, json_t *input,
                     const struct sg_write_opts *opts)
{
	const struct sg_table *t = lookup_table(ctx, table);
	if (!t)
		return SG_ERR_INVALID_TABLE;
	/* Before the transaction the record's class is not known: prepare
	 * rules see the table named. */
	struct sg_write w = {
	    .ctx = ctx, .table = t, .cls = t, .opts = opts, .input = input, .op = SG_OP_UPDATE};
	sg_err err = sg__rules_run(&w, SG_RULE_PREPARE);
	if (!err)
		err = sg_conn_begin(ctx->conn, true);
	if (err)
		goto out;
	const struct sg_table *cls = record_class(ctx, t, sys_id, &err);
	if (!cls) {
		sg_conn_rollback(ctx->conn);
		err = err ? err : SG_ERR_NO_RECORD;
		goto out;
	}
	w.cls = cls;
	w.explicit = json_object();
	w.journal = json_object();
	err = read_stored(ctx, cls, sys_id, &w.old);
	if (!err) {
		w.rec = json_deep_copy(w.old);
		if (!w.rec || !w.explicit || !w.journal)
			err = SG_ERR_NOMEM;
	}
	if (!err)
		err = apply_input(&w);
	bool any = false;
	for (size_t i = 0; !err && i < cls->nfields && !any; i++)
		any = sg_field_is_stored(cls->fields[i]) &&
		      sg_write_changed(&w, cls->fields[i]->element);
	if (!err && (any || json_object_size(w.journal))) {
		err = stamp(&w);
		if (!err)
			err = store_record(&w);
	}
	err = finish(&w, err);
out:
	write_cleanup(&w);
	return err;
}

sg_err sg_rec_delete(struct sg_ctx *ctx, const char *table, const char *sys_id)
{
	const struct sg_table *t = lookup_table(ctx, table);
	if (!t)
		return SG_ERR_INVALID_TABLE;
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		return err;
	struct sg_write w = {.ctx = ctx, .table = t, .op = SG_OP_DELETE};
	w.cls = record_class(ctx, t, sys_id, &err);
	if (!w.cls && !err)
		err = SG_ERR_NO_RECORD;
	if (!err)
		err = read_stored(ctx, w.cls, sys_id, &w.old);
	if (!err)
		err = sg__rules_run(&w, SG_RULE_BEFORE);
	if (!err) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM ");
		sg_sql_ident(&q, w.cls->root->name);
		sg_sql_raw(&q, " WHERE \"sys_id\" = ");
		sg_sql_text(&q, sys_id);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	if (!err)
		err = sg__rules_run(&w, SG_RULE_AFTER);
	if (!w.cls)
		w.cls = t;
	err = finish(&w, err);
	write_cleanup(&w);
	return err;
}
