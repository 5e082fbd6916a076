/*
 * clock.c - the instance's clock setting, kept as two rows of the
 * sg_generation table ("clock.frozen" 0/1, "clock.value": the offset in
 * seconds while running, the instant while frozen), so sg_model_sync reads
 * it with the change counters, in the same query, at no extra cost.  Both
 * rows are written by one statement: no process reads half a setting.
 */
#include "model/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/internal.h"
#include "model/jobs.h"

#define ROW_FROZEN "clock.frozen"
#define ROW_VALUE  "clock.value"

/* Instance time stays within years 1970..9999, which stamps can show. */
#define TIME_MAX 253402300799LL

void sg__clock_row(struct sg__clock_rows *r, const char *name, const char *value)
{
	if (!name || !value)
		return;
	if (!strcmp(name, ROW_FROZEN)) {
		r->has = true;
		r->frozen = strtoll(value, NULL, 10) != 0;
	} else if (!strcmp(name, ROW_VALUE)) {
		r->has = true;
		r->value = strtoll(value, NULL, 10);
	}
}

void sg__clock_apply(const struct sg__clock_rows *r)
{
	bool frozen = false;
	int64_t value = 0;
	sg_time_get_instance(&frozen, &value);
	bool nf = r->has && r->frozen;
	int64_t nv = r->has ? r->value : 0;
	if (frozen == nf && value == nv)
		return;
	if (sg_time_set_instance_if(nf, nv, r->seq))
		sg_jobs_wake(); /* a job may have come due */
}

bool sg_clock_parse_duration(const char *s, int64_t *seconds)
{
	if (!s || !*s)
		return false;
	bool neg = *s == '-';
	if (*s == '-' || *s == '+')
		s++;
	int64_t total = 0;
	bool any = false;
	while (*s) {
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		char *end = NULL;
		long long n = strtoll(s, &end, 10);
		if (errno || n < 0 || n > TIME_MAX)
			return false;
		long long unit = 1;
		switch (*end) {
		case '\0':
			break;
		case 's':
			end++;
			break;
		case 'm':
			unit = 60;
			end++;
			break;
		case 'h':
			unit = 3600;
			end++;
			break;
		case 'd':
			unit = 86400;
			end++;
			break;
		case 'w':
			unit = 7 * 86400;
			end++;
			break;
		default:
			return false;
		}
		if (n > TIME_MAX / unit)
			return false;
		total += n * unit;
		if (total > TIME_MAX)
			return false;
		any = true;
		s = end;
	}
	if (!any)
		return false;
	*seconds = neg ? -total : total;
	return true;
}

/* A UTC date-time (sg_time_parse's forms) or seconds since the epoch. */
static bool parse_time(const char *s, int64_t *t)
{
	if (!s || !*s)
		return false;
	if (sg_time_parse(s, t))
		return *t >= 0 && *t <= TIME_MAX;
	char *end = NULL;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || *end || end == s || n < 0 || n > TIME_MAX)
		return false;
	*t = n;
	return true;
}

static int read_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol >= 2)
		sg__clock_row(ud, vals[0], vals[1]);
	return 0;
}

static sg_err refuse(struct sg_ctx *ctx, const char *fmt, const char *arg)
{
	sg_ctx_set_err(ctx, fmt, arg ? arg : "");
	return SG_ERR_BAD_PARAM;
}

sg_err sg_clock_change(struct sg_ctx *ctx, const char *op, const char *arg)
{
	if (!op)
		op = "";
	bool takes_arg = !strcmp(op, "set") || !strcmp(op, "advance");
	if (strcmp(op, "set") && strcmp(op, "advance") && strcmp(op, "freeze") &&
	    strcmp(op, "real"))
		return refuse(ctx, "Unknown clock action '%.64s': set, advance, freeze or real",
		              op);
	if (takes_arg && (!arg || !*arg))
		return refuse(ctx, "The clock action %s needs a value", op);
	if (!strcmp(op, "real") && arg && *arg)
		return refuse(ctx, "The clock action real takes no value", NULL);
	int64_t t = 0, d = 0;
	if ((!strcmp(op, "set") || !strcmp(op, "freeze")) && arg && *arg && !parse_time(arg, &t))
		return refuse(ctx,
		              "Invalid time '%.64s': give a UTC date-time YYYY-MM-DD HH:MM:SS "
		              "(or seconds since the epoch)",
		              arg);
	if (!strcmp(op, "advance") && !sg_clock_parse_duration(arg, &d))
		return refuse(ctx,
		              "Invalid duration '%.64s': seconds, or a number with s, m, h, d or w "
		              "(1d12h; a leading - goes back)",
		              arg);
	sg_err err = sg_conn_begin(ctx->conn, true);
	if (err)
		return err;
	struct sg__clock_rows cur = {0};
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"name\", \"value\" FROM \"sg_generation\" WHERE \"name\" IN (");
	sg_sql_text(&q, ROW_FROZEN);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, ROW_VALUE);
	sg_sql_raw(&q, ")");
	err = sg_conn_exec(ctx->conn, &q, read_row, &cur, NULL);
	sg_sql_cleanup(&q);
	int64_t real = sg_time_real();
	int64_t now = cur.has && cur.frozen ? cur.value : real + (cur.has ? cur.value : 0);
	bool frozen = cur.has && cur.frozen;
	int64_t value = cur.has ? cur.value : 0;
	if (!strcmp(op, "set")) {
		value = frozen ? t : t - real;
	} else if (!strcmp(op, "advance")) {
		if (now + d < 0 || now + d > TIME_MAX) {
			sg_conn_rollback(ctx->conn);
			return refuse(ctx, "Advancing by %.64s leaves the years 1970 to 9999", arg);
		}
		value += d;
	} else if (!strcmp(op, "freeze")) {
		frozen = true;
		value = arg && *arg ? t : now;
	} else {
		frozen = false;
		value = 0;
	}
	if (!err) {
		sg_sql_init(&q);
		sg_sql_raw(&q, "INSERT INTO \"sg_generation\" (\"name\", \"value\") VALUES (");
		sg_sql_text(&q, ROW_FROZEN);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, frozen ? 1 : 0);
		sg_sql_raw(&q, "), (");
		sg_sql_text(&q, ROW_VALUE);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, (long long)value);
		sg_sql_raw(&q,
		           ") ON CONFLICT (\"name\") DO UPDATE SET \"value\" = excluded.\"value\"");
		err = sg_conn_exec(ctx->conn, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	if (err) {
		sg_conn_rollback(ctx->conn);
		return err;
	}
	err = sg_conn_commit(ctx->conn);
	if (!err) {
		sg_time_set_instance(frozen,
		                     value); /* the newest: a sync reading before is dropped */
		sg_jobs_wake();              /* a job may have come due */
	}
	return err;
}

json_t *sg_clock_describe(void)
{
	bool frozen = false;
	int64_t value = 0;
	sg_time_get_instance(&frozen, &value);
	char now[SG_DT_LEN + 1], real[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	sg_time_format(sg_time_real(), real);
	const char *mode = frozen ? "frozen" : value ? "offset" : "real";
	return json_pack("{s:s, s:s, s:I, s:b, s:s}", "now", now, "mode", mode, "offset_seconds",
	                 (json_int_t)(frozen ? 0 : value), "frozen", frozen, "real_now", real);
}
