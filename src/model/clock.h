/*
 * clock.h - the instance's clock (nowctl clock, POST /_snowglobe/clock):
 * instance time is the real clock, the real clock moved by an offset, or a
 * frozen instant.  Every stamp, token expiry, lock-out, due job and date
 * helper reads instance time (sg_time_now); the setting is kept in the store
 * so every process of the instance agrees, and a process sees another's
 * change at its next sg_model_sync (nowd: its next request).
 */
#ifndef SG_MODEL_CLOCK_H
#define SG_MODEL_CLOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

/* The operations: "set" TIME (a UTC date-time), "advance" DURATION
 * ("90", "90s", "15m", "2h", "3d", "1d12h", a leading '-' goes back),
 * "freeze" [TIME] (now, or TIME), "real" (no arg).  Read, changed and
 * written in one transaction, then applied to this process.  A bad op or
 * argument is SG_ERR_BAD_PARAM with the reason in ctx's error argument. */
sg_err sg_clock_change(struct sg_ctx *ctx, const char *op, const char *arg);

/* The setting as seen now: {"now", "mode" (real|offset|frozen),
 * "offset_seconds", "frozen", "real_now"}.  NULL without memory. */
json_t *sg_clock_describe(void);

/* Parses a duration as above into *seconds; false when it is not one. */
bool sg_clock_parse_duration(const char *s, int64_t *seconds);

/* model.c's hooks: a row of sg_generation that may hold the setting, and
 * the setting read (absent rows: the real clock), applied unless a newer
 * one came in while it was read (seq: sg_time_instance_seq before). */
struct sg__clock_rows {
	bool has;
	bool frozen;
	int64_t value;
	unsigned long seq;
};
void sg__clock_row(struct sg__clock_rows *r, const char *name, const char *value);
void sg__clock_apply(const struct sg__clock_rows *r);

#endif
