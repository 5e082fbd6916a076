/*
 * tz.h - time zones by IANA name, from the system's TZif files.
 *
 * ServiceNow shows date-times in the session user's time zone and reads
 * display-value input in it; storage is always UTC.  The C library keeps one
 * process-wide zone, so zones are read here from /usr/share/zoneinfo and
 * kept, and conversions are thread-safe.  Past the last transition in the
 * file (2037 in Debian's "fat" files) the last offset holds.
 */
#ifndef SG_CORE_TZ_H
#define SG_CORE_TZ_H

#include <stdbool.h>
#include <stdint.h>

/* Seconds east of UTC in zone name at instant utc.  False for an unknown
 * zone (*offset is then 0).  "" and "UTC" are UTC. */
bool sg_tz_offset(const char *name, int64_t utc, int *offset);
/* The UTC instant of a wall-clock time in zone name (the wall clock given as
 * if it were UTC).  Unknown zones are treated as UTC. */
int64_t sg_tz_to_utc(const char *name, int64_t wall);
/* Frees the loaded zones (for leak-free shutdown). */
void sg_tz_cleanup(void);

#endif
