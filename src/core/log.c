/*
 * log.c - timestamped log lines on stderr.
 */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum sg_log_level min_level = SG_LOG_INFO;

/* Info lines held for sg_log_flush() when buffering is on; whole lines only. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool buffering;
static char held[64 * 1024];
static size_t held_len;

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to log to */
		p += w;
		n -= (size_t)w;
	}
}

static void flush_locked(void)
{
	write_all(held, held_len);
	held_len = 0;
}

void sg_log_buffer(bool on)
{
	pthread_mutex_lock(&lock);
	flush_locked();
	buffering = on;
	pthread_mutex_unlock(&lock);
}

void sg_log_flush(void)
{
	pthread_mutex_lock(&lock);
	flush_locked();
	pthread_mutex_unlock(&lock);
}

void sg_log_set_level(enum sg_log_level level)
{
	min_level = level;
}

void sg_log(enum sg_log_level level, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	if (level < min_level)
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	time_t t = tv.tv_sec;
	gmtime_r(&t, &tm);
	char line[2048];
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, (int)(tv.tv_usec / 1000), names[level]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	/* Lines stay whole and in order across threads.  Held info lines go
	 * out before a warning or error, which is written at once. */
	pthread_mutex_lock(&lock);
	if (buffering && level < SG_LOG_WARN) {
		if (held_len + len > sizeof(held))
			flush_locked();
		memcpy(held + held_len, line, len);
		held_len += len;
	} else {
		flush_locked();
		write_all(line, len);
	}
	pthread_mutex_unlock(&lock);
}
