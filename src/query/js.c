/*
 * js.c - the javascript: date helpers of encoded queries.
 */
#include "query/js.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tz.h"
#include "core/util.h"

/* Wall-clock arithmetic on a broken-down time, normalised by timegm(). */
static int64_t wall_of(const char *tz, int64_t utc, struct tm *tm)
{
	int off;
	sg_tz_offset(tz, utc, &off);
	time_t w = (time_t)(utc + off);
	gmtime_r(&w, tm);
	return utc + off;
}

static int64_t utc_of(const char *tz, struct tm *tm)
{
	return sg_tz_to_utc(tz, (int64_t)timegm(tm));
}

/* Shifts are bounded to 10,000 years either way, and their results to the
 * years 0000..9999 that dates are written in: a client's number never
 * overflows the arithmetic (RELATIVELT@second@ahead@9223372036854775807). */
#define SPAN_DAYS 3660000LL
#define TIME_MIN  (-62167219200LL) /* 0000-01-01 00:00:00 */
#define TIME_MAX  253402300799LL   /* 9999-12-31 23:59:59 */

static long long clamp(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

bool sg_js_parse_count(const char *s, long long *out)
{
	while (*s == ' ')
		s++;
	bool neg = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	long long v = 0;
	for (; *s >= '0' && *s <= '9'; s++)
		if (v < SG_JS_COUNT_MAX)
			v = v * 10 + (*s - '0');
	while (*s == ' ')
		s++;
	if (*s)
		return false;
	v = v > SG_JS_COUNT_MAX ? SG_JS_COUNT_MAX : v;
	*out = neg ? -v : v;
	return true;
}

bool sg_js_shift(const char *tz, int64_t t, const char *unit, long long n, int64_t *out)
{
	static const struct {
		const char *unit;
		long long seconds; /* 0: calendar arithmetic */
		long long max;     /* the largest shift, in units */
	} units[] = {
	    {"second", 1, SPAN_DAYS * 86400}, {"minute", 60, SPAN_DAYS * 1440},
	    {"hour", 3600, SPAN_DAYS * 24},   {"day", 0, SPAN_DAYS},
	    {"week", 0, SPAN_DAYS / 7},       {"month", 0, 10000 * 12},
	    {"quarter", 0, 10000 * 4},        {"year", 0, 10000},
	};
	size_t i = 0;
	while (i < sizeof(units) / sizeof(units[0]) && strcmp(unit, units[i].unit))
		i++;
	if (i == sizeof(units) / sizeof(units[0]))
		return false;
	t = clamp(t, TIME_MIN, TIME_MAX);
	int k = 0;
	n = clamp(n, -units[i].max, units[i].max);
	if (units[i].seconds) {
		*out = clamp(t + n * units[i].seconds, TIME_MIN, TIME_MAX);
		return true;
	}
	struct tm tm;
	wall_of(tz, t, &tm);
	k = (int)n; /* within +-SPAN_DAYS */
	if (!strcmp(unit, "day"))
		tm.tm_mday += k;
	else if (!strcmp(unit, "week"))
		tm.tm_mday += k * 7;
	else if (!strcmp(unit, "month"))
		tm.tm_mon += k;
	else if (!strcmp(unit, "quarter"))
		tm.tm_mon += k * 3;
	else
		tm.tm_year += k;
	*out = clamp(utc_of(tz, &tm), TIME_MIN, TIME_MAX);
	return true;
}

bool sg_js_period(const char *tz, int64_t t, const char *unit, int64_t *start, int64_t *end)
{
	struct tm s;
	wall_of(tz, t, &s);
	struct tm e;
	if (!strcmp(unit, "minute")) {
		s.tm_sec = 0;
		e = s;
		e.tm_min += 1;
	} else if (!strcmp(unit, "hour")) {
		s.tm_sec = s.tm_min = 0;
		e = s;
		e.tm_hour += 1;
	} else {
		s.tm_sec = s.tm_min = s.tm_hour = 0;
		if (!strcmp(unit, "week")) {
			/* Weeks start on Monday. */
			s.tm_mday -= (s.tm_wday + 6) % 7;
		} else if (!strcmp(unit, "month")) {
			s.tm_mday = 1;
		} else if (!strcmp(unit, "quarter")) {
			s.tm_mday = 1;
			s.tm_mon -= s.tm_mon % 3;
		} else if (!strcmp(unit, "year")) {
			s.tm_mday = 1;
			s.tm_mon = 0;
		} else if (strcmp(unit, "day") != 0) {
			return false;
		}
		e = s;
		if (!strcmp(unit, "day"))
			e.tm_mday += 1;
		else if (!strcmp(unit, "week"))
			e.tm_mday += 7;
		else if (!strcmp(unit, "month"))
			e.tm_mon += 1;
		else if (!strcmp(unit, "quarter"))
			e.tm_mon += 3;
		else
			e.tm_year += 1;
	}
	*start = utc_of(tz, &s);
	*end = utc_of(tz, &e) - 1;
	return true;
}

/* A call "name(arg, ...)" split into its name and up to 3 arguments. */
struct call {
	char name[64];
	char args[3][64];
	int nargs;
};

static bool parse_call(const char *s, struct call *c)
{
	memset(c, 0, sizeof(*c));
	size_t n = 0;
	while (isalnum((unsigned char)*s) || *s == '_' || *s == '.') {
		if (n + 1 >= sizeof(c->name))
			return false;
		c->name[n++] = *s++;
	}
	if (*s++ != '(')
		return false;
	while (*s == ' ')
		s++;
	while (*s && *s != ')') {
		if (c->nargs == 3)
			return false;
		char *a = c->args[c->nargs++];
		size_t k = 0;
		char quote = (*s == '\'' || *s == '"') ? *s++ : 0;
		while (*s && (quote ? *s != quote : (*s != ',' && *s != ')'))) {
			if (k + 1 >= sizeof(c->args[0]))
				return false;
			a[k++] = *s++;
		}
		if (quote && *s == quote)
			s++;
		while (*s == ' ')
			s++;
		if (*s == ',')
			s++;
		while (*s == ' ')
			s++;
	}
	if (*s != ')')
		return false;
	s++;
	while (*s == ' ' || *s == ';')
		s++;
	return *s == '\0';
}

/* The date-time t as stored, in arena a; NULL when memory ran out. */
static const char *put_time(int64_t t, struct sg_arena *a)
{
	char buf[SG_DT_LEN + 1];
	sg_time_format(t, buf);
	return sg_arena_strdup(a, buf);
}

/* xAgo / xAgoStart / xAgoEnd for units minutes, hours, days, months, ... */
static bool ago(const char *tz, int64_t now, const char *name, long long n, int64_t *out)
{
	static const struct {
		const char *prefix, *unit;
	} units[] = {{"minutesAgo", "minute"}, {"hoursAgo", "hour"},   {"daysAgo", "day"},
	             {"weeksAgo", "week"},     {"monthsAgo", "month"}, {"quartersAgo", "quarter"},
	             {"yearsAgo", "year"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t len = strlen(units[i].prefix);
		if (strncmp(name, units[i].prefix, len) != 0)
			continue;
		const char *suffix = name + len;
		int64_t t, s, e;
		if (!sg_js_shift(tz, now, units[i].unit, -n, &t))
			return false;
		if (!*suffix) {
			*out = t;
			return true;
		}
		if (!sg_js_period(tz, t, units[i].unit, &s, &e))
			return false;
		if (!strcmp(suffix, "Start"))
			*out = s;
		else if (!strcmp(suffix, "End"))
			*out = e;
		else
			return false;
		return true;
	}
	return false;
}

/* beginningOfX / endOfX for Today, Yesterday, ThisWeek, LastMonth, ... */
static bool boundary(const char *tz, int64_t now, const char *name, int64_t *out)
{
	bool begin;
	if (!strncmp(name, "beginningOf", 11)) {
		begin = true;
		name += 11;
	} else if (!strncmp(name, "endOf", 5)) {
		begin = false;
		name += 5;
	} else {
		return false;
	}
	static const struct {
		const char *word, *unit;
		int delta;
	} names[] = {
	    {"Today", "day", 0},
	    {"Yesterday", "day", -1},
	    {"Tomorrow", "day", 1},
	    {"ThisWeek", "week", 0},
	    {"LastWeek", "week", -1},
	    {"NextWeek", "week", 1},
	    {"ThisMonth", "month", 0},
	    {"LastMonth", "month", -1},
	    {"NextMonth", "month", 1},
	    {"ThisQuarter", "quarter", 0},
	    {"LastQuarter", "quarter", -1},
	    {"NextQuarter", "quarter", 1},
	    {"ThisYear", "year", 0},
	    {"LastYear", "year", -1},
	    {"NextYear", "year", 1},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].word) != 0)
			continue;
		int64_t t, s, e;
		if (!sg_js_shift(tz, now, names[i].unit, names[i].delta, &t) ||
		    !sg_js_period(tz, t, names[i].unit, &s, &e))
			return false;
		*out = begin ? s : e;
		return true;
	}
	return false;
}

static bool date_generate(const char *tz, const char *const *args, int nargs, int64_t *out)
{
	int64_t day;
	if (nargs < 1 || !sg_time_parse(args[0], &day))
		return false;
	const char *when = nargs > 1 ? args[1] : "start";
	int64_t wall = day;
	if (!strcmp(when, "end")) {
		wall = day + 86399;
	} else if (strcmp(when, "start") != 0) {
		int h, m, s; /* two digits each: no overflow */
		if (sscanf(when, "%2d:%2d:%2d", &h, &m, &s) != 3 || h < 0 || m < 0 || s < 0)
			return false;
		wall = day + h * 3600 + m * 60 + s;
	}
	*out = sg_tz_to_utc(tz, wall);
	return true;
}

bool sg_js_date_helper(const char *tz, int64_t now, const char *name, const char *const *args,
                       int nargs, int64_t *out)
{
	if (!strncmp(name, "gs.", 3))
		name += 3;
	if (!tz)
		tz = "UTC";
	long long n = 0;
	if (!strcmp(name, "nowDateTime") || !strcmp(name, "nowNoTZ") || !strcmp(name, "now")) {
		*out = now;
		return true;
	}
	if (!strcmp(name, "dateGenerate"))
		return date_generate(tz, args, nargs, out);
	bool count = nargs < 1 || !args[0][0] || sg_js_parse_count(args[0], &n);
	return (count && ago(tz, now, name, n, out)) || boundary(tz, now, name, out);
}

/* Anything beyond the helpers: the engine, when the environment has one. */
static sg_err script_eval(const struct sg_qenv *env, const char *expr, struct sg_arena *a,
                          const char **out)
{
	if (!env->script)
		return SG_ERR_BAD_PARAM;
	char *v = NULL;
	sg_err err = env->script(env->script_ud, expr, &v);
	if (err)
		return err;
	if (!v)
		return SG_ERR_BAD_PARAM;
	*out = sg_arena_strdup(a, v);
	free(v);
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}

sg_err sg_js_eval(const struct sg_qenv *env, const char *value, struct sg_arena *a,
                  const char **out)
{
	*out = NULL;
	if (strncmp(value, "javascript:", 11) != 0)
		return SG_ERR_BAD_PARAM;
	const char *expr = value + 11;
	while (*expr == ' ')
		expr++;
	struct call c;
	if (!parse_call(expr, &c))
		return script_eval(env, expr, a, out);
	const char *name = c.name;
	if (!strncmp(name, "gs.", 3))
		name += 3;
	const char *tz = env->tz ? env->tz : "UTC";
	int64_t t;
	if (!strcmp(name, "getUserID")) {
		*out = sg_arena_strdup(a, env->user_id ? env->user_id : "");
	} else if (!strcmp(name, "getUserName")) {
		*out = sg_arena_strdup(a, env->user_name ? env->user_name : "");
	} else {
		const char *args[3] = {c.args[0], c.args[1], c.args[2]};
		if (!sg_js_date_helper(tz, sg_time_now(), name, args, c.nargs, &t))
			return script_eval(env, expr, a, out);
		*out = put_time(t, a);
	}
	return *out ? SG_ERR_OK : SG_ERR_NOMEM;
}
