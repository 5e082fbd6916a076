/*
 * model.h - the instance's data layer: records with ServiceNow semantics.
 *
 * Handlers never touch SQL or the dictionary rows; they call the record
 * operations here, which stamp system fields, apply dictionary defaults and
 * choices, number records, compute priorities, keep incident states
 * consistent, append journal entries and write the audit trail, all inside
 * one transaction per call.
 *
 * struct sg_model is the process-wide state (store, current dictionary,
 * property cache); struct sg_ctx is one caller's model session: the acting
 * user, the dictionary snapshot it started with, this thread's connection
 * and the read caches of one request.  Who may do what is not the model's
 * business: auth keeps its own state beside these (auth/auth.h).
 */
#ifndef SG_MODEL_MODEL_H
#define SG_MODEL_MODEL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/map.h"
#include "dict/dict.h"
#include "store/store.h"

struct sg_model {
	sg_store *store;
	char *data_dir; /* as opened (a directory or sqlite:PATH); NULL while creating */
	pthread_mutex_t lock;
	struct sg_dict *dict; /* current; guarded by lock, refcounted */
	/* Bumped when a table's rows change in ways caches care about. */
	/* Change counters, mirrored from the sg_generation table so that every
	 * process serving the instance (nowd threads, nowctl offline, other
	 * nodes) sees the others' changes: caches compare against them. */
	atomic_ulong props_gen, users_gen, acl_gen, oauth_gen;
	atomic_ulong data_gen;       /* any record written anywhere (0: unknown) */
	atomic_ulong rate_limit_gen; /* sys_rate_limit_rules (api/ratelimit.c's cache) */
	/* Moved only by a snapshot restore (or reset): in-memory state that is
	 * not a cache of rows (rate-limit counts, fault counters) starts over. */
	atomic_ulong restore_gen;
	struct sg_map counts; /* list COUNT(*) results at data_gen, guarded by lock */
	unsigned long counts_gen;
	unsigned long dict_gen; /* the value the current dictionary was built at */
	bool bootstrapping;     /* creating the instance: no counters yet */
	void *write_rules;      /* model/rules.c: with upper layers' rules; NULL: the model's */
	struct sg_map props;    /* name -> char *, guarded by lock */
	unsigned long props_loaded_gen;
	bool props_valid;
	sg_listener *listener; /* sg_model_listen's; NULL: none */
};

/* The acting user of a request. */
struct sg_user {
	char sys_id[SG_ID_LEN + 1];
	char user_name[64];
	char name[160];
	char time_zone[64];
};

struct sg_ctx {
	struct sg_model *model;
	struct sg_dict *dict; /* snapshot held for the request */
	/* Snapshots the request moved on from (sg__ctx_dict_changed): held to
	 * its end, so that a table or field the request looked up before a
	 * write stays valid after it. */
	struct sg_dict **retired;
	size_t nretired;
	sg_conn *conn;
	struct sg_user user;
	bool dict_dirty;   /* a write changed the dictionary: reload at the end */
	char err_arg[512]; /* argument for the error message of the last failure */
	char err_arg2[64];
	json_t *ref_cache; /* "table/sys_id" -> record, for dot-walks */
	json_t
	    *journal_cache; /* record sys_id -> its journal entries, for a page's display values */
	json_t *display_cache; /* "table/sys_id" -> the record's display value */
	char tz[64];           /* resolved time zone, filled by sg_ctx_time_zone */
	bool system;           /* no acting user: access controls do not apply */
	sg_err err; /* the first failure of an accessor that cannot return one (sg_ctx_error) */
	/* The rows of another table a JOIN or RLQUERY may consult (struct
	 * sg_qenv's sub_rows), set by auth for the request's user; NULL: all. */
	sg_err (*sub_rows)(void *ud, const struct sg_table *t, const char *alias,
	                   struct sg_sql *out);
	void *sub_rows_ud;
	/* javascript: values beyond the built-in helpers (struct sg_qenv's
	 * script, dictionary defaults), set by auth for the request's user when
	 * the script layer is installed; NULL: those values are not evaluated.
	 * client: the value came from a client (a query), which runs in the
	 * script sandbox; false: the instance's own (a dictionary default). */
	sg_err (*script_value)(void *ud, const char *expr, bool client, char **out);
	void *script_value_ud;
};

/* The time zone display values use: the user's, else the system property
 * glide.sys.default.tz, else UTC.  Borrowed from ctx.  When the property
 * cannot be read, UTC, with the failure kept in ctx (sg_ctx_error): a write
 * does not commit then, and the request answers 500. */
const char *sg_ctx_time_zone(struct sg_ctx *ctx);
/* The first failure ctx's accessors kept (SG_ERR_OK when none): whatever
 * was computed with them must not be answered nor committed. */
sg_err sg_ctx_error(const struct sg_ctx *ctx);
/* Formats a stored UTC date-time ("YYYY-MM-DD HH:MM:SS") in ctx's zone. */
void sg_ctx_local_time(struct sg_ctx *ctx, const char *utc, char out[SG_DT_LEN + 1]);

struct sg_qenv; /* query/query.h */
/*
 * Fills env for compiling queries in ctx's request: its dictionary, its
 * connection's dialect, the acting user and their time zone; the conditions
 * that read records (DYNAMIC) read them with sg_rec_get; JOIN and RLQUERY
 * consult the rows ctx->sub_rows lets through.  Everything is
 * borrowed from ctx: env is valid while ctx holds the same dictionary.
 */
void sg_ctx_qenv(struct sg_ctx *ctx, struct sg_qenv *env);

/* Opens the instance in data_dir (must have been initialised) and loads
 * the dictionary.  *out is freed with sg_model_close. */
sg_err sg_model_open(const char *data_dir, struct sg_model **out);
void sg_model_close(struct sg_model *m);

/* *out: whether url names an instance: its database exists and, on a
 * database server (where an admin may make an empty database for it), holds
 * the dictionary. */
sg_err sg_model_instance_exists(const char *url, bool *out);

/*
 * Creates a new instance in data_dir from the base schema in schema_dir:
 * the tables, the dictionary rows describing them, and the base records.
 * add_rules (may be NULL) adds upper layers' write rules (rules.h) to the
 * model that writes them, as sg_auth_add_rules does.  Fails when data_dir
 * already holds an instance.
 */
sg_err sg_model_init_instance(const char *data_dir, const char *schema_dir,
                              sg_err (*add_rules)(struct sg_model *m));

/* Loads every JSON file in dir (name order) of the form
 * {"records": {"<table>": [{field: value, ...}, ...]}} through the record
 * layer, so numbers, defaults and semantics apply; references may be given
 * by display value.  One transaction: all or nothing. */
sg_err sg_model_load_records(struct sg_model *m, const char *dir);

/* Starts a request as user (NULL: the system user "system"). */
sg_err sg_ctx_begin(struct sg_ctx *ctx, struct sg_model *m, const struct sg_user *user);
/* Ends it: releases the snapshot, reloads the dictionary if it changed. */
void sg_ctx_end(struct sg_ctx *ctx);

/* Reads the change counters; rebuilds the dictionary when another writer
 * changed it.  Called at the start of every request. */
void sg_model_sync(struct sg_model *m);

/*
 * Several processes on one database (nodes): listens for the counter
 * changes other processes commit (the dialect's notify, sent by every bump
 * but "data") and runs sg_model_sync from the store's listening thread when
 * one comes, so an idle process drops its caches and rebuilds its
 * dictionary without waiting for a request.  Correctness does not depend
 * on it: each request compares the counters first (sg_model_sync).  Does
 * nothing on a backend without messages (SQLite).  Stopped by
 * sg_model_close.
 */
sg_err sg_model_listen(struct sg_model *m);

/* Rebuilds the dictionary from its rows and makes it current. */
sg_err sg_model_reload_dict(struct sg_model *m);

/* Counts a change to a cached domain ("props", "users", "acl", "oauth",
 * "data") inside ctx's current write transaction, for writes made outside
 * the record layer: every process's caches of that domain see it once the
 * transaction commits. */
sg_err sg_model_bump(struct sg_ctx *ctx, const char *domain);

/*
 * System properties, read from a per-model cache that reloads when any
 * process changed one.  An error (out of memory, the store) while loading
 * it is returned, never read as the property's absence: properties decide
 * security (the caller answers 500, not with the default).
 *
 * sg_prop_get: *out gets the value (new string the caller frees) or NULL
 * when the property does not exist.
 * sg_prop_bool, sg_prop_int: *out gets the value, or dflt when the property
 * is absent or not a boolean / an integer; they allocate nothing once the
 * cache is loaded.  *out is dflt (NULL) on error.
 */
sg_err sg_prop_get(struct sg_ctx *ctx, const char *name, char **out);
sg_err sg_prop_bool(struct sg_ctx *ctx, const char *name, bool dflt, bool *out);
sg_err sg_prop_int(struct sg_ctx *ctx, const char *name, long long dflt, long long *out);
/* Creates or updates a property. */
sg_err sg_prop_set(struct sg_ctx *ctx, const char *name, const char *value);

/* ---- records ----------------------------------------------------------- */

struct sg_write_opts {
	bool input_display_value; /* values are display values */
	bool suppress_auto_sys_field;
	bool allow_sys_fields; /* sys_* fields in the input are honoured */
	/* GlideRecord setWorkflow(false): rules that are "workflow" (business
	 * rules, engines) skip this write; the platform's own rules (numbering,
	 * audit, journal) still run.  Rules read it from w->opts. */
	bool no_workflow;
};

struct sg_query; /* query/query.h */

struct sg_list_opts {
	const struct sg_query *query; /* NULL: every row */
	long long limit, offset;
	bool count; /* compute *total */
};

/*
 * Reads one record of table (or of a table extending it) as raw field
 * strings: every field of table plus sys_class_name.  New reference in *out.
 * SG_ERR_INVALID_TABLE (arg in ctx->err_arg) or SG_ERR_NO_RECORD.
 */
sg_err sg_rec_get(struct sg_ctx *ctx, const char *table, const char *sys_id, json_t **out);

/* Lists records: *rows gets a new array of raw records; *total the number
 * matching the query when opts->count. */
sg_err sg_rec_list(struct sg_ctx *ctx, const char *table, const struct sg_list_opts *opts,
                   json_t **rows, long long *total);

/*
 * Rows as read, without a JSON tree per record: row i's raw value of field
 * t->fields[k] is vals[i][k] ("" for fields not stored, NULL for secrets,
 * which are never read).  The list pages of the Table API read these and
 * write them straight out.
 */
struct sg_rows {
	const struct sg_table *t;
	size_t n, cap;
	const char ***vals;
	bool failed; /* out of memory while reading */
};

/* sg_rec_list into rs (initialised here; sg_rows_cleanup frees it). */
sg_err sg_rec_rows(struct sg_ctx *ctx, const char *table, const struct sg_list_opts *opts,
                   struct sg_rows *rs, long long *total);
/* sg_rec_get into rs: one row (rs initialised here; free with sg_rows_cleanup). */
sg_err sg_rec_get_row(struct sg_ctx *ctx, const char *table, const char *sys_id,
                      struct sg_rows *rs);
/* One row's values (t->fields order, as in struct sg_rows) as a raw record,
 * as sg_rec_list returns it; NULL on allocation failure. */
json_t *sg_rec_from_values(const struct sg_table *t, const char *const *vals);
/* Every row of rs as raw records (a new array); NULL on allocation failure. */
json_t *sg_rows_records(const struct sg_rows *rs);
void sg_rows_cleanup(struct sg_rows *rs);

/* The statement sg_rec_list runs (the COUNT(*) one when count), appended
 * to out: for query-plan tests and diagnostics. */
sg_err sg_rec_list_sql(struct sg_ctx *ctx, const char *table, const struct sg_list_opts *opts,
                       bool count, struct sg_sql *out);

/* ---- aggregates (aggregate.c) -------------------------------------------- */

struct sg_agg {
	char fn[8]; /* avg, min, max, sum */
	char field[128];
	bool valid; /* set by sg_rec_aggregate: the field exists */
};

struct sg_having { /* sysparm_having: fn^field^op^value */
	char fn[8];
	char field[128];
	char op[4];
	char value[64];
};

struct sg_agg_order { /* a group-by field, or an aggregate ("count", "avg" + field) */
	char key[128];
	char field[128];
	bool desc;
};

struct sg_agg_request {
	const struct sg_query *query;
	bool count;
	struct sg_agg *aggs;
	size_t naggs;
	const char **group_by; /* unknown fields are removed */
	size_t ngroup;
	struct sg_having *having;
	size_t nhaving;
	struct sg_agg_order *order;
	size_t norder;
	const struct sg_sql *rows_where; /* AND'ed to the query over alias "t" (the rows
	                                    the user may read); NULL: none */
};

/*
 * Aggregates table's rows matching r->query.  *rows gets a new array, one
 * object per group (one in all when ungrouped):
 * {"groups": [raw values in group_by order], "count": "3",
 *  "avg": {"field": "1.2500"}, "sum": {...}, ...}.
 */
sg_err sg_rec_aggregate(struct sg_ctx *ctx, const char *table, struct sg_agg_request *r,
                        json_t **rows);

/*
 * Inserts a record from input (an object of field values; unknown fields are
 * ignored).  out_id receives the new sys_id.
 */
sg_err sg_rec_insert(struct sg_ctx *ctx, const char *table, json_t *input,
                     const struct sg_write_opts *opts, char out_id[SG_ID_LEN + 1]);
/* Updates the fields present in input. */
sg_err sg_rec_update(struct sg_ctx *ctx, const char *table, const char *sys_id, json_t *input,
                     const struct sg_write_opts *opts);
sg_err sg_rec_delete(struct sg_ctx *ctx, const char *table, const char *sys_id);

/* Reads the journal entries of the records ids (a page about to be written
 * with display values) in one query, so that each record's history does not
 * cost one. */
sg_err sg_rec_prefetch_journal(struct sg_ctx *ctx, const char *const *ids, size_t n);

/* The display value when it needs no lookup or formatting: borrowed from the
 * dictionary, or raw itself; NULL when sg_rec_display must be asked. */
const char *sg_rec_display_plain(struct sg_ctx *ctx, const struct sg_table *cls,
                                 const struct sg_field *f, const char *raw);
/*
 * The display value of field f of a record of class cls with raw value raw:
 * choice labels, referenced records' display fields, journal histories.
 * Returns a new string the caller frees, or NULL when it could not be made
 * (out of memory, a read that failed): the caller answers 500.
 */
char *sg_rec_display(struct sg_ctx *ctx, const struct sg_table *cls, const struct sg_field *f,
                     const char *record_id, const char *raw);

/*
 * Follows a dot-walk path ("caller_id.manager.email") from record rec of
 * table t: *field gets the final field, *cls its record's class, *raw its
 * raw value (new string, NULL when the path breaks), *rec_id that record's
 * sys_id.  Returns false when the path names no field.  When a record on
 * the path cannot be read (out of memory, the store), returns true with
 * *field NULL: the caller answers 500.
 */
bool sg_rec_walk(struct sg_ctx *ctx, const struct sg_table *t, json_t *rec, const char *path,
                 const struct sg_field **field, const struct sg_table **cls, char **raw,
                 char rec_id[SG_ID_LEN + 1]);

/* For sg_conn_exec: each row, as an object of strings (NULL as ""), is
 * appended to rows; failed is set (and the rows stop) when an allocation
 * fails, and the caller then answers SG_ERR_NOMEM. */
struct sg_json_rows {
	json_t *rows;
	bool failed;
};
int sg_json_rows_add(void *ud, int ncol, const char *const *names, const char *const *vals);
/* Runs q on c and cleans it up: every row an object of strings, in *out (a
 * new array; NULL on an error). */
sg_err sg_json_rows_query(sg_conn *c, struct sg_sql *q, json_t **out);

/* Sets ctx->err_arg from a format. */
void sg_ctx_set_err(struct sg_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
