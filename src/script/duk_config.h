/*
 * duk_config.h - Duktape's configuration as Snowglobe builds it.
 *
 * The Makefile copies Debian's amalgamation (/usr/share/duktape) into the
 * build folder beside this file, so duktape.c and the script layer include
 * this one: Debian's configuration, plus
 *
 *   DUK_USE_INTERRUPT_COUNTER    the executor counts instructions and calls
 *   DUK_USE_EXEC_TIMEOUT_CHECK   sg_script_timed_out(heap udata) every
 *                                4,096 instructions (the Makefile sets the
 *                                interval in the copy of duktape.c); true throws a RangeError the
 * script cannot catch for long (every later check is true too), which ends the run.
 *
 *   DUK_USE_DATE_GET_NOW         Date.now() and new Date() read instance time
 *                                (sg_script_date_now, date_now.c): a script sees
 *                                the clock nowctl clock set, as GlideDateTime does.
 *
 * The memory limit needs no option: script.c gives duk_create_heap its own
 * counting allocator.  Duktape binds no file, process or network function
 * (print, alert, require and the module loader are not built in 2.x).
 */
#ifndef SG_DUK_CONFIG_H
#define SG_DUK_CONFIG_H

#include "/usr/share/duktape/duk_config.h"

#define DUK_USE_INTERRUPT_COUNTER
#undef DUK_USE_EXEC_TIMEOUT_CHECK
int sg_script_timed_out(void *udata); /* script.c */
#define DUK_USE_EXEC_TIMEOUT_CHECK(udata) (sg_script_timed_out((udata)) != 0)

#undef DUK_USE_DATE_GET_NOW
double sg_script_date_now(void); /* date_now.c */
#define DUK_USE_DATE_GET_NOW(ctx) sg_script_date_now()

#endif
