/*
 * waker.h - a process-wide "wake the workers" hook: a queue (jobs,
 * outbound deliveries) calls sg_waker_wake after a row commits, and the
 * program that runs its workers sets what that does (signal their
 * condition variable).  Nothing happens while none is set.
 */
#ifndef SG_CORE_WAKER_H
#define SG_CORE_WAKER_H

#include <pthread.h>

struct sg_waker {
	pthread_mutex_t lock;
	void (*fn)(void *ud);
	void *ud;
};

#define SG_WAKER_INIT                                                                              \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, NULL, NULL                                              \
	}

/* Sets (fn NULL: clears) what w does. */
void sg_waker_set(struct sg_waker *w, void (*fn)(void *ud), void *ud);
/* Calls w's function, if any, outside w's lock. */
void sg_waker_wake(struct sg_waker *w);

#endif
