/*
 * js.h - the javascript: values integrations put in queries, and nothing
 * more: a whitelist evaluator, never a script engine.
 *
 * javascript:gs.daysAgoStart(1), gs.beginningOfThisWeek(), gs.dateGenerate(
 * '2026-01-01','start'), gs.getUserID() and their kin (reference 2.2).  Day,
 * week, month, quarter and year boundaries are taken in the user's time zone
 * and every date-time comes back as UTC "YYYY-MM-DD HH:MM:SS", as stored.
 */
#ifndef SG_QUERY_JS_H
#define SG_QUERY_JS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "query/env.h"

/*
 * Evaluates value ("javascript:" and a helper of the whitelist) in env's
 * zone and for env's user.  *out gets the result as stored (a UTC date-time,
 * a sys_id, a user name), a string from arena a.  Anything outside the
 * whitelist goes to env->script (the engine, as the user); SG_ERR_BAD_PARAM
 * when there is none or the script failed; SG_ERR_NOMEM.
 */
sg_err sg_js_eval(const struct sg_qenv *env, const char *value, struct sg_arena *a,
                  const char **out);

/*
 * The date helpers themselves, shared by sg_js_eval and the script engine's
 * gs object (one implementation): name is "daysAgo", "daysAgoStart",
 * "beginningOfThisWeek", "endOfLastMonth", "dateGenerate", "nowDateTime"
 * ... (optionally "gs."-prefixed), args its arguments as text (a count for
 * the *Ago* family, empty or absent meaning 0).  *out the instant (UTC
 * seconds) taken in zone tz at now.  False for an unknown helper or a bad
 * argument.
 */
bool sg_js_date_helper(const char *tz, int64_t now, const char *name, const char *const *args,
                       int nargs, int64_t *out);

/* The largest count a query or helper may give (RELATIVE*, MORETHAN,
 * gs.daysAgo(n)...); longer ones are clamped to it. */
#define SG_JS_COUNT_MAX 1000000000000LL

/* Parses a count: optional spaces, an optional sign, decimal digits; a
 * number past SG_JS_COUNT_MAX is clamped to it.  False for anything else. */
bool sg_js_parse_count(const char *s, long long *out);

/* Shifts instant t by n units (second, minute, hour, day, week, month,
 * quarter, year) in the calendar of zone tz: n is bounded to 10,000 years
 * and the result to the years 0000..9999, so no n overflows. */
bool sg_js_shift(const char *tz, int64_t t, const char *unit, long long n, int64_t *out);

/* The start and end (inclusive, to the second) of the unit period that
 * contains t, in zone tz. */
bool sg_js_period(const char *tz, int64_t t, const char *unit, int64_t *start, int64_t *end);

#endif
