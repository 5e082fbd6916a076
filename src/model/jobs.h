/*
 * jobs.h - the durable job queue under background work: async business
 * rules, scheduled jobs, event processing.
 *
 * Jobs are rows of sys_trigger (ServiceNow's scheduler queue), so they are
 * in the database and survive a crash.  A job is enqueued (in the caller's
 * transaction, if one is open: an async rule's job commits with the write
 * that caused it), claimed by one worker at a time with a lease, and
 * completed: a one-off job's row is deleted, a repeating one is set ready
 * for its next run, a failed one is tried again with a growing delay until
 * its attempts are spent, then left in state Error with the message.  A job
 * whose worker died (a process killed, a machine lost) is claimed again once
 * its lease has passed: while claimed, next_action holds the lease's end.
 *
 * What a job does is a C callback registered by type name (sys_trigger's
 * job_id); jobs of types this process has not registered are left for a
 * process that has.
 *
 * The schedule arithmetic of scheduled jobs (sysauto: daily, weekly,
 * monthly, periodically, once, on demand) is here too, so that it is tested
 * without any script.
 */
#ifndef SG_MODEL_JOBS_H
#define SG_MODEL_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "model/model.h"

/* sys_trigger.state */
enum { SG_JOB_READY = 0, SG_JOB_RUNNING = 1, SG_JOB_QUEUED = 2, SG_JOB_ERROR = 3 };

/* A claimed job, as the callback sees it. */
struct sg_job {
	char sys_id[SG_ID_LEN + 1];
	char type[101];
	char name[101];
	char document[81];
	char document_key[SG_ID_LEN + 1];
	char *context;       /* job_context: the payload (JSON text by convention), "" when none */
	int64_t repeat;      /* seconds between runs, 0 for a one-off job */
	long long run_count; /* earlier successful runs */
	long long error_count;
	long long max_attempts;
	char worker[101]; /* claimed_by */
};

/*
 * A job type's work.  ctx is a system session of its own (no transaction
 * open).  Returns SG_ERR_OK when done; anything else is a failure, with
 * msg (may be left empty) saying why: the job is tried again later.
 */
typedef sg_err (*sg_job_fn)(struct sg_ctx *ctx, const struct sg_job *job, void *ud, char *msg,
                            size_t msg_size);

/* Registers fn for jobs of type (a static string).  Process-wide; call
 * before workers start.  A type registered again replaces the earlier one.
 * SG_ERR_NOMEM when the registry is full (64 types). */
sg_err sg_jobs_register(const char *type, sg_job_fn fn, void *ud);
/* Forgets every registered type (tests). */
void sg_jobs_unregister_all(void);

struct sg_job_spec {
	const char *type;                    /* required: a registered type name */
	const char *name;                    /* NULL: type */
	const char *document, *document_key; /* the record it is about (may be NULL) */
	const char *context;                 /* payload (may be NULL) */
	int64_t run_at;                      /* 0: now */
	int64_t repeat;                      /* seconds; 0: runs once */
	long long max_attempts;              /* 0: the property snowglobe.jobs.max_attempts (5) */
	int priority;                        /* lower first among jobs due at once; 0: 100 */
};

/* Enqueues a job: a sys_trigger row, written through the record layer in
 * ctx's transaction when one is open.  out_id (may be NULL) gets its sys_id. */
sg_err sg_job_enqueue(struct sg_ctx *ctx, const struct sg_job_spec *spec,
                      char out_id[SG_ID_LEN + 1]);

/* Makes sure one repeating job of type exists (the event processor):
 * enqueued when absent, left as it is otherwise. */
sg_err sg_job_ensure_repeating(struct sg_ctx *ctx, const char *type, const char *name,
                               int64_t repeat);

/*
 * Claims the first due job of a registered type, atomically: ready with
 * next_action at or before now, or running with its lease passed.  It is
 * marked running by worker until now + lease.  *got is false when nothing
 * is due.  job->context is freed by sg_job_cleanup.
 */
sg_err sg_job_claim(struct sg_ctx *ctx, const char *worker, int64_t lease, struct sg_job *job,
                    bool *got);
/*
 * Completes a claimed job: result SG_ERR_OK deletes a one-off job or sets a
 * repeating one ready at now + repeat; a failure counts an error and sets it
 * ready after a backoff (sg_job_backoff), or in state Error with msg when
 * its attempts are spent.  Nothing is changed when the job is no longer
 * claimed by job->worker (its lease passed and another worker took it).
 */
sg_err sg_job_complete(struct sg_ctx *ctx, const struct sg_job *job, sg_err result,
                       const char *msg);
void sg_job_cleanup(struct sg_job *job);

/* The delay before attempt n+1 after n failures (n >= 1): 10 s doubled per
 * failure, at most an hour. */
int64_t sg_job_backoff(long long failures);

/*
 * Claims, runs and completes one due job as worker, in a system session of
 * m.  *ran tells whether there was one.  The lease is the property
 * snowglobe.jobs.lease_seconds (300).
 */
sg_err sg_jobs_run_one(struct sg_model *m, const char *worker, bool *ran);

/* The event processor's type name: processes sysevent rows in state ready
 * whose process_on has come (at most 100 a run).  An event no active
 * script action (sysevent_script_action) listens to is marked processed;
 * events with script actions are handed to the handler set with
 * sg_jobs_set_event_handler, or left ready while there is none. */
#define SG_JOB_EVENT_PROCESSOR "sysevent_processor"
/* Runs the script actions of event (a raw sysevent record) in ctx; SG_ERR_OK
 * marks it processed, anything else state error. */
typedef sg_err (*sg_event_fn)(struct sg_ctx *ctx, json_t *event, void *ud);
void sg_jobs_set_event_handler(sg_event_fn fn, void *ud);
/*
 * Waking the workers.  The event processor is due only while there are
 * events for it (an idle instance claims nothing and writes nothing);
 * workers poll for due jobs, and a process that runs them sets a waker so
 * that a job enqueued or an event queued in this process is taken at once.
 * sg_jobs_add_rules adds the after-commit rules that call sg_jobs_wake on
 * sys_trigger writes and sysevent inserts (call before m is shared).
 */
void sg_jobs_set_waker(void (*fn)(void *ud), void *ud);
void sg_jobs_wake(void);
sg_err sg_jobs_add_rules(struct sg_model *m);
/* Registers the job types of this layer (the event processor). */
sg_err sg_jobs_register_builtin(void);

/* ---- schedules (sysauto) ------------------------------------------------- */

enum sg_run_type {
	SG_RUN_DAILY,
	SG_RUN_WEEKLY,
	SG_RUN_MONTHLY,
	SG_RUN_PERIODICALLY,
	SG_RUN_ONCE,
	SG_RUN_ON_DEMAND,
};

struct sg_schedule {
	enum sg_run_type type;
	int time_of_day;  /* run_time: seconds after midnight, UTC */
	int day_of_week;  /* run_dayofweek: 1 Monday ... 7 Sunday */
	int day_of_month; /* run_dayofmonth: 1..31, the month's last day when shorter */
	int64_t period;   /* run_period in seconds (periodically) */
	int64_t start; /* run_start (periodically, once; a lower bound for the others), 0: none */
};

/* Reads a sysauto record's fields (raw values) into s.  False when run_type
 * is unknown or a field it needs is missing or malformed. */
bool sg_schedule_from_record(json_t *rec, struct sg_schedule *s);
/* The first run strictly after `after` (and not before s->start): *next.
 * False when there is none (once, already past; on demand). */
bool sg_schedule_next(const struct sg_schedule *s, int64_t after, int64_t *next);
/*
 * (Re)schedules a scheduled job record rec (raw fields of a sysauto row of
 * table, e.g. sysauto_script): the waiting (ready) jobs of type for it are
 * removed and, when rec is active and its schedule has a run after now, one
 * job of type is enqueued at that time (document table, document_key its
 * sys_id).  A job type running such records enqueues the next occurrence
 * the same way when it is done.  *next (may be NULL) gets the time, 0 when
 * none.  SG_ERR_BAD_PARAM (arg in ctx) when the schedule is malformed.
 */
sg_err sg_job_schedule_record(struct sg_ctx *ctx, const char *type, const char *table, json_t *rec,
                              int64_t *next);
/* A glide_duration / glide_time value ("1970-01-01 HH:MM:SS", days past the
 * epoch's first; or "HH:MM:SS"; or whole seconds) in seconds; -1 when
 * malformed. */
int64_t sg_duration_seconds(const char *s);

#endif
