/*
 * log.h - server logging to stderr, one line per event.
 *
 * Nothing secret is ever passed here: callers log names and ids, never
 * passwords, tokens or Authorization headers.
 */
#ifndef SG_CORE_LOG_H
#define SG_CORE_LOG_H

#include <stdbool.h>

enum sg_log_level { SG_LOG_DEBUG, SG_LOG_INFO, SG_LOG_WARN, SG_LOG_ERROR };

void sg_log_set_level(enum sg_log_level level);
/*
 * With buffering on, info and debug lines (the access log) are held in
 * memory and written when sg_log_flush() is called, when 64 KB are held, or
 * before any warning or error, which is always written at once: one write
 * for many lines instead of one per request.  A crash loses the lines held.
 */
void sg_log_buffer(bool on);
void sg_log_flush(void);
void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sg_log_info(...)  sg_log(SG_LOG_INFO, __VA_ARGS__)
#define sg_log_warn(...)  sg_log(SG_LOG_WARN, __VA_ARGS__)
#define sg_log_error(...) sg_log(SG_LOG_ERROR, __VA_ARGS__)
#define sg_log_debug(...) sg_log(SG_LOG_DEBUG, __VA_ARGS__)

#endif
