/*
 * trace.c - `nowsync trace KEY`: one key's whole history from the state
 * database (ops.h): each event in (when received, from which source, what
 * it said, how it ended), each lifecycle decision, each request out with
 * its answer's essentials, retries and dead letters (the journal), and the
 * record the key is linked to now, and the changes of that record back-sync
 * read or was pushed and sent on to the product.  Parts are listed in
 * trace_parts below.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/util.h"
#include "nowsync/delivery.h"
#include "nowsync/ops.h"

#define NS_TRACE_MAX_ENTRIES 20000

static void key_filter(struct sg_sql *q, const struct ns_trace_key *k)
{
	sg_sql_raw(q, " WHERE \"ekey\" = ");
	sg_sql_text(q, k->key);
	if (k->profile) {
		sg_sql_raw(q, " AND \"profile\" = ");
		sg_sql_text(q, k->profile);
	}
	if (k->connection) {
		sg_sql_raw(q, " AND \"connection\" = ");
		sg_sql_text(q, k->connection);
	}
}

static const char *const int_cols[] = {
    "seq",         "attempts",    "next_at",     "last_status",    "status",     "ms",    "attempt",
    "occurred_at", "received_at", "resolved_at", "last_firing_at", "updated_at", "at_ms", NULL};

static json_t *row_object(int ncol, const char *const *names, const char *const *vals)
{
	json_t *o = json_object();
	for (int i = 0; o && i < ncol; i++) {
		if (!vals[i])
			continue;
		bool num = false;
		for (const char *const *c = int_cols; *c && !num; c++)
			num = !strcmp(*c, names[i]);
		long long n = 0; /* an event's status is a word: kept as text */
		num = num && sg_str_number(vals[i], INT64_MIN, INT64_MAX, &n);
		json_object_set_new(o, !strcmp(names[i], "ekey") ? "key" : names[i],
		                    num ? json_integer(n) : json_string(vals[i]));
	}
	return o;
}

struct rows {
	json_t *arr;
	const char *kind; /* set on each row when not NULL */
};

static int add_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct rows *r = ud;
	if (json_array_size(r->arr) >= NS_TRACE_MAX_ENTRIES)
		return 1;
	json_t *o = row_object(ncol, names, vals);
	if (!o)
		return 1;
	if (r->kind)
		json_object_set_new(o, "kind", json_string(r->kind));
	json_array_append_new(r->arr, o);
	return 0;
}

/* Events in: received_at (seconds) is their time; they say how they ended. */
static sg_err part_events(struct ns_state *s, const struct ns_trace_key *k, json_t *entries)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"received_at\" * 1000 AS \"at_ms\", \"id\" AS \"event_id\", "
	               "\"connection\", \"profile\", \"ekey\", \"status\", \"source\", "
	               "\"summary\", \"severity\", \"occurred_at\", \"state\", \"action\", "
	               "\"attempts\", \"sys_id\", \"last_status\", \"last_error\" FROM "
	               "\"ns_event\"");
	key_filter(&q, k);
	sg_sql_raw(&q, " ORDER BY \"seq\"");
	struct rows r = {entries, "event"};
	sg_err e = sg_conn_exec(db, &q, add_row, &r, NULL);
	sg_sql_cleanup(&q);
	return e;
}

/* The journal: decisions, requests, retries, dead letters, done. */
static sg_err part_journal(struct ns_state *s, const struct ns_trace_key *k, json_t *entries)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"at_ms\", \"kind\", \"connection\", \"profile\", \"event_id\", "
	               "\"method\", \"path\", \"status\", \"ms\", \"attempt\", \"detail\" FROM "
	               "\"ns_journal\"");
	key_filter(&q, k);
	sg_sql_raw(&q, " ORDER BY \"seq\"");
	struct rows r = {entries, NULL};
	sg_err e = sg_conn_exec(db, &q, add_row, &r, NULL);
	sg_sql_cleanup(&q);
	return e;
}

/* One change back-sync queued for the product (ns_bs_out, backsync.h): when
 * it was read or pushed, what it said of the record, and whether it was
 * sent. */
struct bs_rows {
	json_t *arr;
	const char *sys_id; /* LIKE found it; the body's sys_id must be this one */
};

static int add_backsync_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct bs_rows *r = ud;
	if (json_array_size(r->arr) >= NS_TRACE_MAX_ENTRIES)
		return 1;
	json_t *o = json_object();
	if (!o)
		return 1;
	json_object_set_new(o, "kind", json_string("back-sync"));
	for (int i = 0; i < ncol; i++) {
		if (!vals[i])
			continue;
		long long n = 0;
		if (!strcmp(names[i], "body")) {
			json_t *b = json_loads(vals[i], 0, NULL);
			const char *bid = json_string_value(json_object_get(b, "sys_id"));
			if (!bid ||
			    strcmp(bid, r->sys_id)) { /* '_' in a chosen id matched any byte */
				json_decref(b);
				json_decref(o);
				return 0;
			}
			static const char *const keep[] = {
			    "type",           "source", "delivery_id",    "table", "sys_mod_count",
			    "sys_updated_on", "state",  "sys_updated_by", NULL};
			for (const char *const *k = keep; b && *k; k++) {
				json_t *v = json_object_get(b, *k);
				if (v)
					json_object_set(
					    o, !strcmp(*k, "state") ? "record_state" : *k, v);
			}
			json_decref(b);
		} else if (!strcmp(names[i], "created_at") &&
		           sg_str_number(vals[i], 0, INT64_MAX / 1000, &n)) {
			json_object_set_new(o, "at_ms", json_integer(n * 1000));
		} else if (sg_str_number(vals[i], INT64_MIN, INT64_MAX, &n) &&
		           strcmp(names[i], "connection")) {
			json_object_set_new(o, names[i], json_integer(n));
		} else {
			json_object_set_new(o, names[i], json_string(vals[i]));
		}
	}
	json_array_append_new(r->arr, o);
	return 0;
}

/* Back-sync: the changes of the record each link of the key points at. */
static sg_err part_backsync(struct ns_state *s, const struct ns_trace_key *k, json_t *entries)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	json_t *lk = json_array();
	if (!lk)
		return SG_ERR_NOMEM;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"connection\", \"sys_id\" FROM \"ns_link\"");
	key_filter(&q, k);
	struct rows r = {lk, NULL};
	sg_err e = sg_conn_exec(db, &q, add_row, &r, NULL);
	sg_sql_cleanup(&q);
	for (size_t i = 0; !e && i < json_array_size(lk); i++) {
		json_t *l = json_array_get(lk, i);
		const char *conn = json_string_value(json_object_get(l, "connection"));
		const char *id = json_string_value(json_object_get(l, "sys_id"));
		if (!conn || !id || !sg_id_is_key(id))
			continue;
		/* the change's own sys_id, as back-sync writes it (compact JSON) */
		char pattern[64];
		snprintf(pattern, sizeof(pattern), "%%\"sys_id\":\"%s\"%%", id);
		sg_sql_init(&q);
		sg_sql_raw(&q, "SELECT \"created_at\", \"connection\", \"state\", \"attempts\", "
		               "\"sent_at\", \"last_error\", \"body\" FROM \"ns_bs_out\" WHERE "
		               "\"connection\" = ");
		sg_sql_text(&q, conn);
		sg_sql_raw(&q, " AND \"body\"");
		sg_sql_raw(&q, sg_conn_dialect(db)->like); /* SQLite's LIKE ignores case */
		sg_sql_text(&q, pattern);
		sg_sql_raw(&q, " ESCAPE '\\'");
		sg_sql_raw(&q, " ORDER BY \"seq\"");
		struct bs_rows br = {entries, id};
		e = sg_conn_exec(db, &q, add_backsync_row, &br, NULL);
		sg_sql_cleanup(&q);
	}
	json_decref(lk);
	return e;
}

/* The parts of a trace, in the order their entries are listed when two
 * have the same time. */
static const ns_trace_part trace_parts[] = {part_events, part_journal, part_backsync, NULL};

static sg_err links(struct ns_state *s, const struct ns_trace_key *k, json_t *out)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"connection\", \"profile\", \"ekey\", \"state\", \"sys_id\", "
	               "\"resolved_at\", \"last_firing_at\", \"updated_at\" FROM \"ns_link\"");
	key_filter(&q, k);
	struct rows r = {out, NULL};
	sg_err e = sg_conn_exec(db, &q, add_row, &r, NULL);
	sg_sql_cleanup(&q);
	return e;
}

struct sorted {
	json_t *v;
	size_t i; /* order of arrival: a stable sort */
};

static int by_time(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;
	json_int_t tx = json_integer_value(json_object_get(x->v, "at_ms"));
	json_int_t ty = json_integer_value(json_object_get(y->v, "at_ms"));
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

json_t *ns_trace_build(struct ns_state *s, const struct ns_trace_key *k, sg_err *err)
{
	*err = SG_ERR_NOMEM;
	json_t *entries = json_array(), *lk = json_array();
	json_t *out = NULL;
	struct sorted *v = NULL;
	if (!entries || !lk)
		goto fail;
	for (const ns_trace_part *p = trace_parts; *p; p++) {
		*err = (*p)(s, k, entries);
		if (*err)
			goto fail;
	}
	*err = links(s, k, lk);
	if (*err)
		goto fail;
	*err = SG_ERR_NOMEM;
	size_t n = json_array_size(entries);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		goto fail;
	for (size_t i = 0; i < n; i++)
		v[i] = (struct sorted){json_array_get(entries, i), i};
	qsort(v, n, sizeof(*v), by_time);
	json_t *sorted = json_array();
	for (size_t i = 0; sorted && i < n; i++)
		json_array_append(sorted, v[i].v);
	if (!sorted)
		goto fail;
	out = json_pack("{s:s, s:o, s:o}", "key", k->key, "links", lk, "entries", sorted);
	lk = NULL;
	if (!out)
		goto fail;
	*err = SG_ERR_OK;
fail:
	free(v);
	json_decref(entries);
	json_decref(lk);
	return out;
}

/* ---- text ------------------------------------------------------------------------------- */

static const char *str(json_t *o, const char *k)
{
	const char *v = sg_json_str(o, k);
	return v ? v : "";
}

static void when(json_int_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char sec[24];
	strftime(sec, sizeof(sec), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, 32, "%s.%03d", sec, (int)(ms % 1000));
}

static void print_text(json_t *t, FILE *f)
{
	json_t *lk = json_object_get(t, "links"), *en = json_object_get(t, "entries");
	size_t i;
	json_t *o;
	fprintf(f, "key %s\n", str(t, "key"));
	if (!json_array_size(lk))
		fprintf(f, "  not linked to any record\n");
	json_array_foreach(lk, i, o)
	{
		fprintf(f, "  %s/%s: record %s, %s\n", str(o, "connection"), str(o, "profile"),
		        *str(o, "sys_id") ? str(o, "sys_id") : "-", str(o, "state"));
	}
	json_array_foreach(en, i, o)
	{
		char w[32];
		when(json_integer_value(json_object_get(o, "at_ms")), w);
		const char *kind = str(o, "kind");
		fprintf(f, "%s  %-9s ", w, kind);
		if (!strcmp(kind, "event")) {
			fprintf(f, "%s from %s (event %s, %s/%s)", str(o, "status"),
			        str(o, "source"), str(o, "event_id"), str(o, "connection"),
			        str(o, "profile"));
			if (*str(o, "summary"))
				fprintf(f, " \"%s\"", str(o, "summary"));
			fprintf(f, ": now %s", str(o, "state"));
			if (*str(o, "action"))
				fprintf(f, ", %s", str(o, "action"));
			fprintf(f, ", %lld attempt(s)",
			        (long long)json_integer_value(json_object_get(o, "attempts")));
			if (*str(o, "last_error"))
				fprintf(f, ", last error: %s", str(o, "last_error"));
		} else if (!strcmp(kind, "request")) {
			int st = (int)json_integer_value(json_object_get(o, "status"));
			fprintf(f, "%s %s -> ", str(o, "method"), str(o, "path"));
			if (st)
				fprintf(f, "%d", st);
			else
				fprintf(f, "no answer");
			fprintf(f, " in %lld ms (attempt %lld)",
			        (long long)json_integer_value(json_object_get(o, "ms")),
			        (long long)json_integer_value(json_object_get(o, "attempt")));
			if (*str(o, "detail"))
				fprintf(f, ": %s", str(o, "detail"));
		} else {
			fprintf(f, "%s", str(o, "detail"));
		}
		fputc('\n', f);
	}
}

int ns_cmd_trace(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {{"profile", required_argument, NULL, 'p'},
	                                     {"connection", required_argument, NULL, 'c'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {NULL, 0, NULL, 0}};
	struct ns_trace_key k = {0};
	bool json = false;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			k.profile = optarg;
		else if (ch == 'c')
			k.connection = optarg;
		else if (ch == 'j')
			json = true;
		else
			goto usage;
	}
	if (optind != argc - 1 || !*argv[optind])
		goto usage;
	k.key = argv[optind];
	sg_err e;
	json_t *t = ns_trace_build(st, &k, &e);
	if (!t) {
		fprintf(stderr, "nowsync: cannot read the history of %s: %s\n", k.key,
		        sg_err_name(e));
		return NS_EXIT_FAILED;
	}
	bool none = !json_array_size(json_object_get(t, "entries")) &&
	            !json_array_size(json_object_get(t, "links"));
	if (json) {
		json_dumpf(t, stdout, JSON_INDENT(1));
		fputc('\n', stdout);
	} else if (none) {
		fprintf(stderr, "nowsync: nothing recorded for key %s%s%s\n", k.key,
		        k.profile ? " in profile " : "", k.profile ? k.profile : "");
	} else {
		print_text(t, stdout);
	}
	json_decref(t);
	return none ? 5 : 0;
usage:
	fprintf(stderr, "nowsync: trace KEY [--profile P] [--connection C] [--json]\n");
	return NS_EXIT_USAGE;
}
