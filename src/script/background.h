/*
 * background.h - scripts that run from the durable job queue
 * (model/jobs.h): scheduled script executions (sysauto_script) and script
 * actions on events (sysevent_script_action).
 *
 * Scheduled jobs.  A sysauto_script record has one waiting sys_trigger job
 * of type SG_JOB_SCHEDULED_SCRIPT at its next run (sg_job_schedule_record):
 * a write rule reschedules it whenever the record is inserted, updated,
 * activated, deactivated or deleted, and each run schedules the next.  A
 * run re-reads the record: an inactive or deleted one does not run; when
 * `conditional` is true the `condition` script runs first and the job runs
 * only when its value (the last expression) is truthy; the script runs as
 * `run_as` (a sys_user; empty: the system).  A script that fails (syntax,
 * error, time or memory limit) is logged in syslog with the job's name as
 * source and is not tried again, as on ServiceNow: the next scheduled run
 * comes as usual.  "Execute Now" is a one-off job of type
 * SG_JOB_EXECUTE_NOW (gs.executeNow(gr) in scripts, nowctl job run NAME):
 * it runs the record once, whatever its schedule, and leaves the schedule
 * alone.
 *
 * Events.  The event processor hands each due sysevent row to the handler
 * set here: every active sysevent_script_action whose event_name is the
 * event's runs, by order, with `event` (the sysevent's fields: name, parm1,
 * parm2, instance, table, user_id, sys_created_on...) and `current` (the
 * record the event names, when it still exists) bound; a non-empty
 * condition_script runs first and the action runs only when it is truthy.
 * An action that fails is logged in syslog (source: the action's name); the
 * event is then marked error, otherwise processed.
 */
#ifndef SG_SCRIPT_BACKGROUND_H
#define SG_SCRIPT_BACKGROUND_H

#include "core/err.h"
#include "model/model.h"

#define SG_JOB_SCHEDULED_SCRIPT "sysauto_script"
#define SG_JOB_EXECUTE_NOW      "sysauto_script.execute_now"

/*
 * Registers the job types and the event handler (process-wide) and adds
 * the rules that schedule sysauto_script records and wake the workers
 * (model/jobs.h) to m.  Call once per model, before it is shared.
 */
sg_err sg_script_background_install(struct sg_model *m);

/*
 * Schedules every active sysauto_script record that has no job in
 * sys_trigger (records loaded by a process without the rules, an instance
 * made before them).  Records that have one are left alone, so a restart
 * never adds a second run.  *scheduled (may be NULL) gets the count.
 */
sg_err sg_script_background_reconcile(struct sg_model *m, int *scheduled);

/*
 * Execute Now: enqueues a one-off run of the sysauto_script record sys_id,
 * due at once, in ctx's transaction when one is open.  SG_ERR_NO_RECORD
 * when there is no such record.  out_id (may be NULL): the job's sys_id.
 */
sg_err sg_script_execute_now(struct sg_ctx *ctx, const char *sys_id, char out_id[SG_ID_LEN + 1]);

#endif
