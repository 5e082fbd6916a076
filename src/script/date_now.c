/*
 * date_now.c - the current time of a script's Date (duk_config.h's
 * DUK_USE_DATE_GET_NOW): instance time (sg_time_now, moved or frozen by
 * nowctl clock) in milliseconds, with the real clock's milliseconds while
 * the instance clock runs.
 */
#include <time.h>

#include "core/util.h"

double sg_script_date_now(void); /* declared in duk_config.h */

double sg_script_date_now(void)
{
	bool frozen = false;
	int64_t value = 0;
	sg_time_get_instance(&frozen, &value);
	int64_t s = sg_time_now();
	if (frozen)
		return (double)s * 1000.0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)s * 1000.0 + (double)(ts.tv_nsec / 1000000);
}
