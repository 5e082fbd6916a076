/*
 * brules.h - business rules (sys_script) as entries of the model's write
 * pipeline (model/rules.h), run by the script engine.
 *
 * Every write of a record whose class is, or extends, a rule's collection
 * runs that rule when it is active, its action (action_insert, _update,
 * _delete) names the write, its filter_condition (an encoded query,
 * through the query compiler; the CHANGES operators compare current with
 * previous) matches current and its condition (a script) is true:
 *
 *   before   in the write's transaction, before the record is stored;
 *            what the script sets on current is stored;
 *            current.setAbortAction(true) refuses the write (rolled back):
 *            403 "Operation Failed", the script's addErrorMessage texts as
 *            the detail (else "Error during <op> of <table> (<display>)").
 *   after    in the write's transaction, once the record is stored; what
 *            it writes through GlideRecord commits or rolls back with it.
 *   async    a job (sys_trigger, type SG_BRULES_JOB) enqueued in the
 *            write's transaction, run after the commit by a job worker,
 *            with the record as written and a null previous; it survives
 *            a restart.
 *   query    (before, action_query) current's query restricts what the
 *            Table API reads: lists, counts and single records.
 *
 * Rules run by order, then name.  A rule's script failing (an exception,
 * the time or memory limit) is logged to syslog and does not refuse the
 * write.  GlideRecord setWorkflow(false) (sg_write_opts.no_workflow) runs
 * no business rule for that write.  Recursion guard: a rule does not run
 * again for a record it is running for (an after rule calling
 * current.update()), and rules nest at most snowglobe.business_rule.max_depth
 * (10) writes deep; past it the write is made without business rules and
 * the stop is logged to syslog.
 *
 * The rule set is read once and kept until a sys_script write commits
 * (counter "brules"); compiled scripts are cached by sys_id and
 * sys_mod_count.
 */
#ifndef SG_SCRIPT_BRULES_H
#define SG_SCRIPT_BRULES_H

#include "auth/auth.h"
#include "core/err.h"
#include "model/model.h"

#define SG_BRULES_JOB       "business_rule_async"
#define SG_BRULES_MAX_DEPTH 10
#define SG_BRULES_MAX_RULES 10000 /* active rules read; more are ignored */

/*
 * Adds the business-rule entries to m's write pipeline and registers the
 * async job type.  auth is the instance's (scripts run in sessions of it):
 * borrowed, it must outlive m.  One instance per process (the last call
 * wins).  Call before m is shared between threads.
 */
sg_err sg_brules_install(struct sg_model *m, struct sg_auth *auth);

struct sg_query;
/*
 * Query rules (when before, action_query): each active one on t or a table
 * t extends whose condition holds runs with an empty current of t; what
 * its script adds to current (addQuery, addEncodedQuery...) is AND'ed to
 * q.  *restricted (may be NULL) tells whether any rule added something.
 * Nothing runs before sg_brules_install.
 */
sg_err sg_brules_query(struct sg_auth_session *as, const struct sg_table *t, struct sg_query *q,
                       bool *restricted);
/* Whether the query rules of t let record sys_id be read: single-record
 * reads (GET, and the lookup of PUT, PATCH and DELETE) answer 404 when not. */
sg_err sg_brules_visible(struct sg_auth_session *as, const struct sg_table *t, const char *sys_id,
                         bool *visible);

#endif
