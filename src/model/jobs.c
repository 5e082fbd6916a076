/*
 * jobs.c - the durable job queue on sys_trigger, the event processor and
 * the schedule arithmetic of scheduled jobs (see jobs.h).
 *
 * Claiming is one write transaction (writers are serialised by the store),
 * so two workers never hold the same job; the queue's own bookkeeping
 * (claim, completion) is plain SQL with bound values, counted as a data
 * change so that cached list counts follow.  Enqueueing goes through the
 * record layer like any other write.
 */
#include "model/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/waker.h"
#include "model/internal.h"
#include "model/rules.h"

/* ---- the registry -------------------------------------------------------- */

#define MAX_TYPES 64

static struct {
	const char *type;
	sg_job_fn fn;
	void *ud;
} types[MAX_TYPES];
static size_t ntypes;
static pthread_mutex_t types_lock = PTHREAD_MUTEX_INITIALIZER;

sg_err sg_jobs_register(const char *type, sg_job_fn fn, void *ud)
{
	sg_err err = SG_ERR_OK;
	pthread_mutex_lock(&types_lock);
	size_t i = 0;
	while (i < ntypes && strcmp(types[i].type, type))
		i++;
	if (i == ntypes && ntypes == MAX_TYPES)
		err = SG_ERR_NOMEM;
	else {
		types[i].type = type;
		types[i].fn = fn;
		types[i].ud = ud;
		if (i == ntypes)
			ntypes++;
	}
	pthread_mutex_unlock(&types_lock);
	return err;
}

void sg_jobs_unregister_all(void)
{
	pthread_mutex_lock(&types_lock);
	ntypes = 0;
	pthread_mutex_unlock(&types_lock);
}

static bool find_type(const char *type, sg_job_fn *fn, void **ud)
{
	bool found = false;
	pthread_mutex_lock(&types_lock);
	for (size_t i = 0; i < ntypes && !found; i++)
		if (!strcmp(types[i].type, type)) {
			*fn = types[i].fn;
			*ud = types[i].ud;
			found = true;
		}
	pthread_mutex_unlock(&types_lock);
	return found;
}

/* ---- durations ----------------------------------------------------------- */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int64_t hms(const char *s)
{
	int h, m, sec;
	if (strlen(s) != 8 || s[2] != ':' || s[5] != ':' || !digits(s, 2, &h) ||
	    !digits(s + 3, 2, &m) || !digits(s + 6, 2, &sec) || h > 23 || m > 59 || sec > 59)
		return -1;
	return (int64_t)h * 3600 + m * 60 + sec;
}

int64_t sg_duration_seconds(const char *s)
{
	if (!s || !*s)
		return -1;
	size_t n = strlen(s);
	if (n == 8)
		return hms(s);
	if (n == SG_DT_LEN && s[10] == ' ') {
		int64_t t;
		if (!sg_time_parse(s, &t) || t < 0)
			return -1;
		return t; /* days past 1970-01-01 count as whole days */
	}
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > 1000000000000LL)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* ---- enqueue ------------------------------------------------------------- */

static void duration_text(int64_t secs, char out[SG_DT_LEN + 1])
{
	sg_time_format(secs, out);
}

sg_err sg_job_enqueue(struct sg_ctx *ctx, const struct sg_job_spec *spec,
                      char out_id[SG_ID_LEN + 1])
{
	if (!spec->type || !*spec->type || spec->repeat < 0)
		return SG_ERR_INVALID_INSERT;
	long long attempts = spec->max_attempts;
	if (attempts <= 0) {
		sg_err err = sg_prop_int(ctx, "snowglobe.jobs.max_attempts", 5, &attempts);
		if (err)
			return err;
		if (attempts <= 0)
			attempts = 1;
	}
	char at[SG_DT_LEN + 1], rep[SG_DT_LEN + 1] = "";
	sg_time_format(spec->run_at ? spec->run_at : sg_time_now(), at);
	if (spec->repeat)
		duration_text(spec->repeat, rep);
	json_t *in =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i}", "name",
	              spec->name ? spec->name : spec->type, "job_id", spec->type, "document",
	              spec->document ? spec->document : "", "document_key",
	              spec->document_key ? spec->document_key : "", "job_context",
	              spec->context ? spec->context : "", "next_action", at, "repeat", rep,
	              "max_attempts", (json_int_t)attempts, "run_count", (json_int_t)0, "state",
	              SG_JOB_READY, "priority", spec->priority ? spec->priority : 100);
	if (!in)
		return SG_ERR_NOMEM;
	json_t *tt = json_integer(spec->repeat ? 1 : 0);
	if (!tt || json_object_set_new(in, "trigger_type", tt)) {
		json_decref(in);
		return SG_ERR_NOMEM;
	}
	char id[SG_ID_LEN + 1];
	struct sg_write_opts wo = {0};
	sg_err err = sg_rec_insert(ctx, "sys_trigger", in, &wo, id);
	json_decref(in);
	if (!err && out_id)
		memcpy(out_id, id, sizeof(id));
	return err;
}

static int first_col(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	char *out = ud;
	if (ncol > 0 && vals[0])
		snprintf(out, SG_ID_LEN + 1, "%s", vals[0]);
	return 1;
}

sg_err sg_job_ensure_repeating(struct sg_ctx *ctx, const char *type, const char *name,
                               int64_t repeat)
{
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		return err;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\" FROM \"sys_trigger\" WHERE \"job_id\" = ");
	sg_sql_text(&q, type);
	sg_sql_raw(&q, " LIMIT 1");
	char id[SG_ID_LEN + 1] = "";
	err = sg_conn_exec(ctx->conn, &q, first_col, id, NULL);
	sg_sql_cleanup(&q);
	if (!err && !*id) {
		struct sg_job_spec spec = {.type = type, .name = name, .repeat = repeat};
		err = sg_job_enqueue(ctx, &spec, NULL);
	}
	if (err) {
		sg_conn_rollback(ctx->conn);
		return err;
	}
	return sg_conn_commit(ctx->conn);
}

/* ---- waking the workers ---------------------------------------------------- */

static struct sg_waker waker = SG_WAKER_INIT;

void sg_jobs_set_waker(void (*fn)(void *ud), void *ud)
{
	sg_waker_set(&waker, fn, ud);
}

void sg_jobs_wake(void)
{
	sg_waker_wake(&waker);
}

static sg_err wake_rule(struct sg_write *w)
{
	(void)w;
	sg_jobs_wake();
	return SG_ERR_OK;
}

/* Ordered before model.sync (10): a write that changed the dictionary has
 * its table's descriptions replaced there, and rules after it would look at
 * the old ones. */
static const struct sg_rule wake_rules[] = {
    {"jobs.wake", "sys_trigger", SG_RULE_AFTER_COMMIT, SG_OP_WRITE, 5, wake_rule},
    {"jobs.wake_events", "sysevent", SG_RULE_AFTER_COMMIT, SG_OP_INSERT, 5, wake_rule},
};

sg_err sg_jobs_add_rules(struct sg_model *m)
{
	return sg_model_add_rules(m, wake_rules, sizeof(wake_rules) / sizeof(wake_rules[0]));
}

static sg_event_fn event_fn;
static void *event_ud;

/*
 * The sysevent rows the event processor would take, as a condition on the
 * alias e: ready, due, and, while no handler runs script actions, listened to
 * by none.  The same text decides whether the processor is due at all, so
 * that an idle instance claims nothing and writes nothing.
 */
static void events_due(struct sg_sql *q, const char *now, bool handler)
{
	sg_sql_raw(q,
	           "e.\"state\" = 'ready' AND (e.\"process_on\" IS NULL OR e.\"process_on\" = '' "
	           "OR e.\"process_on\" <= ");
	sg_sql_text(q, now);
	sg_sql_raw(q, ")");
	if (!handler)
		sg_sql_raw(q,
		           " AND NOT EXISTS (SELECT 1 FROM \"sys_metadata\" a WHERE "
		           "a.\"sys_class_name\" = 'sysevent_script_action' AND a.\"event_name\" = "
		           "e.\"name\" AND a.\"active\" = 'true')");
}

static bool have_event_handler(void)
{
	pthread_mutex_lock(&types_lock);
	bool h = event_fn != NULL;
	pthread_mutex_unlock(&types_lock);
	return h;
}

/* ---- claim and complete -------------------------------------------------- */

struct claim_row {
	struct sg_job *job;
	bool got, failed;
};

static long long to_ll(const char *s)
{
	return s && *s ? strtoll(s, NULL, 10) : 0;
}

static int claim_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct claim_row *r = ud;
	if (ncol < 10)
		return 1;
	struct sg_job *j = r->job;
#define V(i) (vals[i] ? vals[i] : "")
	snprintf(j->sys_id, sizeof(j->sys_id), "%s", V(0));
	snprintf(j->type, sizeof(j->type), "%s", V(1));
	snprintf(j->name, sizeof(j->name), "%s", V(2));
	snprintf(j->document, sizeof(j->document), "%s", V(3));
	snprintf(j->document_key, sizeof(j->document_key), "%s", V(4));
	j->context = strdup(V(5));
	int64_t rep = sg_duration_seconds(V(6));
	j->repeat = rep > 0 ? rep : 0;
	j->run_count = to_ll(V(7));
	j->error_count = to_ll(V(8));
	j->max_attempts = to_ll(V(9));
#undef V
	r->failed = !j->context;
	r->got = true;
	return 1;
}

void sg_job_cleanup(struct sg_job *job)
{
	free(job->context);
	job->context = NULL;
}

sg_err sg_job_claim(struct sg_ctx *ctx, const char *worker, int64_t lease, struct sg_job *job,
                    bool *got)
{
	memset(job, 0, sizeof(*job));
	*got = false;
	const char *names[MAX_TYPES];
	size_t n = 0;
	pthread_mutex_lock(&types_lock);
	for (size_t i = 0; i < ntypes; i++)
		names[n++] = types[i].type;
	pthread_mutex_unlock(&types_lock);
	if (!n)
		return SG_ERR_OK;
	int64_t now = sg_time_now();
	char now_s[SG_DT_LEN + 1], until[SG_DT_LEN + 1];
	sg_time_format(now, now_s);
	sg_time_format(now + (lease > 0 ? lease : 1), until);

	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"sys_id\", \"job_id\", \"name\", \"document\", \"document_key\", "
	               "\"job_context\", \"repeat\", \"run_count\", \"error_count\", "
	               "\"max_attempts\" FROM \"sys_trigger\" WHERE \"state\" IN (");
	sg_sql_int(&q, SG_JOB_READY);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, SG_JOB_RUNNING);
	sg_sql_raw(&q, ") AND \"next_action\" <= ");
	sg_sql_text(&q, now_s);
	sg_sql_raw(&q, " AND \"job_id\" IN (");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sg_sql_raw(&q, ", ");
		sg_sql_text(&q, names[i]);
	}
	sg_sql_raw(&q, ")");
	/* The event processor is due only when there are events to process
	 * (a claim whose lease passed is always taken back). */
	sg_sql_raw(&q, " AND (\"state\" <> ");
	sg_sql_int(&q, SG_JOB_READY);
	sg_sql_raw(&q, " OR \"job_id\" <> ");
	sg_sql_text(&q, SG_JOB_EVENT_PROCESSOR);
	sg_sql_raw(&q, " OR EXISTS (SELECT 1 FROM \"sysevent\" e WHERE ");
	events_due(&q, now_s, have_event_handler());
	sg_sql_raw(&q, "))");
	sg_sql_raw(&q, " ORDER BY \"next_action\", \"priority\"");
	sg_sql_raw(&q, sg_conn_dialect(ctx->conn)->order_asc); /* a NULL priority first */
	sg_sql_raw(&q, " LIMIT 1");
	/* Is anything due?  A read first, so that an idle worker never takes
	 * the write lock; then the same query again inside the write, which
	 * decides. */
	char due[SG_ID_LEN + 1] = "";
	sg_err err = sg_conn_exec(ctx->conn, &q, first_col, due, NULL);
	if (err || !*due) {
		sg_sql_cleanup(&q);
		return err;
	}
	err = sg_conn_begin(ctx->conn, true);
	if (err) {
		sg_sql_cleanup(&q);
		return err;
	}
	/* Inside the write, a row another node's claim holds is passed over
	 * (the next due one is taken) rather than waited for. */
	const struct sg_dialect *d = sg_conn_dialect(ctx->conn);
	if (d->claim_lock)
		d->claim_lock(&q, "sys_trigger");
	struct claim_row r = {.job = job};
	err = sg_conn_exec(ctx->conn, &q, claim_row, &r, NULL);
	if (!err && r.failed)
		err = SG_ERR_NOMEM;
	if (!err && r.got) {
		snprintf(job->worker, sizeof(job->worker), "%s", worker);
		sg_sql_reset(&q);
		sg_sql_raw(&q, "UPDATE \"sys_trigger\" SET \"state\" = ");
		sg_sql_int(&q, SG_JOB_RUNNING);
		sg_sql_raw(&q, ", \"claimed_by\" = ");
		sg_sql_text(&q, job->worker);
		sg_sql_raw(&q, ", \"next_action\" = ");
		sg_sql_text(&q, until);
		sg_sql_raw(&q, ", \"sys_updated_on\" = ");
		sg_sql_text(&q, now_s);
		sg_sql_raw(&q, ", \"sys_mod_count\" = COALESCE(\"sys_mod_count\", 0) + 1 WHERE "
		               "\"sys_id\" = ");
		sg_sql_text(&q, job->sys_id);
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	}
	if (!err && r.got)
		err = sg_model_bump(ctx, "data");
	sg_sql_cleanup(&q);
	if (err) {
		sg_conn_rollback(ctx->conn);
		sg_job_cleanup(job);
		return err;
	}
	err = sg_conn_commit(ctx->conn);
	if (err)
		sg_job_cleanup(job);
	else
		*got = r.got;
	return err;
}

int64_t sg_job_backoff(long long failures)
{
	int64_t d = 10;
	for (long long i = 1; i < failures && d < 3600; i++)
		d *= 2;
	return d < 3600 ? d : 3600;
}

sg_err sg_job_complete(struct sg_ctx *ctx, const struct sg_job *job, sg_err result, const char *msg)
{
	int64_t now = sg_time_now();
	char now_s[SG_DT_LEN + 1], next[SG_DT_LEN + 1];
	sg_time_format(now, now_s);
	struct sg_sql q;
	sg_sql_init(&q);
	if (!result && !job->repeat) {
		sg_sql_raw(&q, "DELETE FROM \"sys_trigger\" WHERE \"sys_id\" = ");
		sg_sql_text(&q, job->sys_id);
	} else {
		bool spent = result && job->error_count + 1 >= job->max_attempts;
		int64_t at =
		    !result ? now + job->repeat : now + sg_job_backoff(job->error_count + 1);
		sg_time_format(at, next);
		sg_sql_raw(&q, "UPDATE \"sys_trigger\" SET \"state\" = ");
		sg_sql_int(&q, spent ? SG_JOB_ERROR : SG_JOB_READY);
		sg_sql_raw(&q, ", \"claimed_by\" = '', \"next_action\" = ");
		sg_sql_text(&q, next);
		sg_sql_raw(&q, ", \"run_count\" = ");
		sg_sql_int(&q, job->run_count + (result ? 0 : 1));
		sg_sql_raw(&q, ", \"error_count\" = ");
		sg_sql_int(&q, result ? job->error_count + 1 : 0);
		if (result) {
			char text[4000];
			snprintf(text, sizeof(text), "%s", msg && *msg ? msg : sg_err_name(result));
			sg_sql_raw(&q, ", \"last_error\" = ");
			sg_sql_text(&q, text);
		}
		sg_sql_raw(&q, ", \"sys_updated_on\" = ");
		sg_sql_text(&q, now_s);
		sg_sql_raw(&q, ", \"sys_mod_count\" = COALESCE(\"sys_mod_count\", 0) + 1 WHERE "
		               "\"sys_id\" = ");
		sg_sql_text(&q, job->sys_id);
	}
	sg_sql_raw(&q, " AND \"claimed_by\" = ");
	sg_sql_text(&q, job->worker);
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (!err)
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
	if (!err)
		err = sg_model_bump(ctx, "data");
	sg_sql_cleanup(&q);
	if (err) {
		sg_conn_rollback(ctx->conn);
		return err;
	}
	return sg_conn_commit(ctx->conn);
}

sg_err sg_jobs_run_one(struct sg_model *m, const char *worker, bool *ran)
{
	*ran = false;
	sg_model_sync(m); /* other processes' changes: properties, the dictionary */
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	long long lease = 300;
	err = sg_prop_int(&ctx, "snowglobe.jobs.lease_seconds", 300, &lease);
	struct sg_job job;
	bool got = false;
	if (!err)
		err = sg_job_claim(&ctx, worker, lease, &job, &got);
	sg_ctx_end(&ctx);
	if (err || !got)
		return err;
	*ran = true;
	sg_job_fn fn;
	void *ud;
	char msg[1024] = "";
	sg_err result;
	if (!find_type(job.type, &fn, &ud)) {
		snprintf(msg, sizeof(msg), "no job type %s", job.type);
		result = SG_ERR_INTERNAL;
	} else {
		result = sg_ctx_begin(&ctx, m, NULL);
		if (!result) {
			result = fn(&ctx, &job, ud, msg, sizeof(msg));
			if (sg_conn_in_transaction(ctx.conn))
				sg_conn_rollback(ctx.conn); /* a callback left one open */
			sg_ctx_end(&ctx);
		}
	}
	if (result)
		sg_log_warn("job %s (%s) failed: %s%s%s", job.name, job.sys_id, sg_err_name(result),
		            *msg ? ": " : "", msg);
	err = sg_ctx_begin(&ctx, m, NULL);
	if (!err) {
		err = sg_job_complete(&ctx, &job, result, msg);
		sg_ctx_end(&ctx);
	}
	sg_job_cleanup(&job);
	return err;
}

/* ---- the event processor -------------------------------------------------- */

void sg_jobs_set_event_handler(sg_event_fn fn, void *ud)
{
	pthread_mutex_lock(&types_lock);
	event_fn = fn;
	event_ud = ud;
	pthread_mutex_unlock(&types_lock);
}

struct ids {
	char (*v)[SG_ID_LEN + 1];
	size_t n;
};

static int collect_id(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	struct ids *ids = ud;
	if (ncol > 0 && vals[0] && ids->n < 100)
		snprintf(ids->v[ids->n++], SG_ID_LEN + 1, "%s", vals[0]);
	return 0;
}

static sg_err mark_event(struct sg_ctx *ctx, const char *id, const char *state, const char *worker)
{
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	json_t *in =
	    json_pack("{s:s, s:s, s:s}", "state", state, "processed", now, "claimed_by", worker);
	if (!in)
		return SG_ERR_NOMEM;
	struct sg_write_opts wo = {0};
	sg_err err = sg_rec_update(ctx, "sysevent", id, in, &wo);
	json_decref(in);
	return err == SG_ERR_NO_RECORD ? SG_ERR_OK : err; /* deleted meanwhile */
}

static sg_err process_events(struct sg_ctx *ctx, const struct sg_job *job, void *ud, char *msg,
                             size_t msg_size)
{
	(void)ud;
	pthread_mutex_lock(&types_lock);
	sg_event_fn fn = event_fn;
	void *fud = event_ud;
	pthread_mutex_unlock(&types_lock);
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT e.\"sys_id\" FROM \"sysevent\" e WHERE ");
	events_due(&q, now, fn != NULL);
	sg_sql_raw(&q, " ORDER BY e.\"sys_created_on\" LIMIT 100");
	char(*v)[SG_ID_LEN + 1] = malloc(100 * sizeof(*v));
	struct ids ids = {v, 0};
	sg_err err = v ? sg_conn_exec(ctx->conn, &q, collect_id, &ids, NULL) : SG_ERR_NOMEM;
	sg_sql_cleanup(&q);
	for (size_t i = 0; !err && i < ids.n; i++) {
		json_t *ev = NULL;
		err = sg_rec_get(ctx, "sysevent", v[i], &ev);
		if (err == SG_ERR_NO_RECORD) {
			err = SG_ERR_OK;
			continue;
		}
		if (err)
			break;
		const char *state = "processed";
		if (fn) {
			sg_err r = fn(ctx, ev, fud);
			if (sg_conn_in_transaction(ctx->conn))
				sg_conn_rollback(ctx->conn);
			if (r == SG_ERR_NOMEM)
				err = r;
			else if (r)
				state = "error";
		}
		json_decref(ev);
		if (!err)
			err = mark_event(ctx, v[i], state, job->worker);
	}
	free(v);
	if (err)
		snprintf(msg, msg_size, "event processing: %s", sg_err_name(err));
	return err;
}

sg_err sg_jobs_register_builtin(void)
{
	return sg_jobs_register(SG_JOB_EVENT_PROCESSOR, process_events, NULL);
}

/* ---- schedules ----------------------------------------------------------- */

static bool run_type(const char *s, enum sg_run_type *t)
{
	static const char *names[] = {"daily",        "weekly", "monthly",
	                              "periodically", "once",   "on_demand"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*t = (enum sg_run_type)i;
			return true;
		}
	return false;
}

static const char *field(json_t *rec, const char *key)
{
	const char *v = sg_json_str(rec, key);
	return v ? v : "";
}

bool sg_schedule_from_record(json_t *rec, struct sg_schedule *s)
{
	memset(s, 0, sizeof(*s));
	if (!run_type(field(rec, "run_type"), &s->type))
		return false;
	const char *t = field(rec, "run_time");
	if (*t) {
		/* glide_time: "1970-01-01 HH:MM:SS" or "HH:MM:SS" */
		const char *clock = strlen(t) == SG_DT_LEN ? t + 11 : t;
		int64_t secs = hms(clock);
		if (secs < 0)
			return false;
		s->time_of_day = (int)secs;
	}
	s->day_of_week = (int)to_ll(field(rec, "run_dayofweek"));
	s->day_of_month = (int)to_ll(field(rec, "run_dayofmonth"));
	const char *start = field(rec, "run_start");
	if (*start && !sg_time_parse(start, &s->start))
		return false;
	const char *period = field(rec, "run_period");
	if (*period) {
		s->period = sg_duration_seconds(period);
		if (s->period < 0)
			return false;
	}
	switch (s->type) {
	case SG_RUN_WEEKLY:
		return s->day_of_week >= 1 && s->day_of_week <= 7;
	case SG_RUN_MONTHLY:
		return s->day_of_month >= 1 && s->day_of_month <= 31;
	case SG_RUN_PERIODICALLY:
		return s->period > 0;
	case SG_RUN_ONCE:
		return s->start > 0;
	default:
		return true;
	}
}

static int days_in_month(int year, int month0)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month0 == 1 && leap ? 29 : d[month0];
}

/* Midnight (UTC) of the day holding t. */
static int64_t day_start(int64_t t)
{
	int64_t d = t / 86400;
	if (t % 86400 < 0)
		d--;
	return d * 86400;
}

bool sg_schedule_next(const struct sg_schedule *s, int64_t after, int64_t *next)
{
	/* the first time strictly after base */
	int64_t base = after;
	if (s->start && s->start - 1 > base)
		base = s->start - 1;
	switch (s->type) {
	case SG_RUN_ON_DEMAND:
		return false;
	case SG_RUN_ONCE:
		if (s->start <= after)
			return false;
		*next = s->start;
		return true;
	case SG_RUN_PERIODICALLY: {
		if (s->period <= 0)
			return false;
		int64_t origin = s->start ? s->start : day_start(after) + s->time_of_day;
		if (origin > base) {
			*next = origin;
			return true;
		}
		int64_t k = (base - origin) / s->period + 1;
		*next = origin + k * s->period;
		return true;
	}
	case SG_RUN_DAILY: {
		int64_t t = day_start(base) + s->time_of_day;
		*next = t > base ? t : t + 86400;
		return true;
	}
	case SG_RUN_WEEKLY: {
		int64_t day = day_start(base);
		/* 1970-01-01 was a Thursday (4) */
		int64_t dnum = day / 86400;
		int wd = (int)(((dnum % 7) + 7 + 3) % 7) + 1; /* 1 Monday .. 7 Sunday */
		int ahead = (s->day_of_week - wd + 7) % 7;
		int64_t t = day + (int64_t)ahead * 86400 + s->time_of_day;
		*next = t > base ? t : t + 7 * 86400;
		return true;
	}
	case SG_RUN_MONTHLY: {
		time_t tt = (time_t)base;
		struct tm tm;
		if (!gmtime_r(&tt, &tm))
			return false;
		for (int i = 0; i < 2; i++) {
			int dim = days_in_month(tm.tm_year + 1900, tm.tm_mon);
			int dom = s->day_of_month < dim ? s->day_of_month : dim;
			struct tm c = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = dom};
			int64_t t = (int64_t)timegm(&c) + s->time_of_day;
			if (t > base) {
				*next = t;
				return true;
			}
			if (++tm.tm_mon == 12) {
				tm.tm_mon = 0;
				tm.tm_year++;
			}
		}
		return false;
	}
	}
	return false;
}

sg_err sg_job_schedule_record(struct sg_ctx *ctx, const char *type, const char *table, json_t *rec,
                              int64_t *next)
{
	int64_t at = 0;
	if (next)
		*next = 0;
	const char *id = field(rec, "sys_id");
	if (!*id)
		return SG_ERR_BAD_PARAM;
	struct sg_schedule s;
	bool active = sg_str_bool(field(rec, "active"), true);
	if (active && !sg_schedule_from_record(rec, &s)) {
		sg_ctx_set_err(ctx, "the schedule of %s %s", table, id);
		return SG_ERR_BAD_PARAM;
	}
	bool has = active && sg_schedule_next(&s, sg_time_now(), &at);
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		return err;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM \"sys_trigger\" WHERE \"job_id\" = ");
	sg_sql_text(&q, type);
	sg_sql_raw(&q, " AND \"document\" = ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, " AND \"document_key\" = ");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, " AND \"state\" = ");
	sg_sql_int(&q, SG_JOB_READY);
	long long gone = 0;
	err = sg_conn_exec(ctx->conn, &q, NULL, NULL, &gone);
	sg_sql_cleanup(&q);
	if (!err && gone)
		err = sg_model_bump(ctx, "data");
	if (!err && has) {
		const char *name = field(rec, "name");
		struct sg_job_spec spec = {.type = type,
		                           .name = *name ? name : type,
		                           .document = table,
		                           .document_key = id,
		                           .run_at = at};
		err = sg_job_enqueue(ctx, &spec, NULL);
	}
	if (err) {
		sg_conn_rollback(ctx->conn);
		return err;
	}
	err = sg_conn_commit(ctx->conn);
	if (!err && next && has)
		*next = at;
	return err;
}
