/* waker.c - see waker.h. */
#include "core/waker.h"

void sg_waker_set(struct sg_waker *w, void (*fn)(void *ud), void *ud)
{
	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->ud = ud;
	pthread_mutex_unlock(&w->lock);
}

void sg_waker_wake(struct sg_waker *w)
{
	pthread_mutex_lock(&w->lock);
	void (*fn)(void *) = w->fn;
	void *ud = w->ud;
	pthread_mutex_unlock(&w->lock);
	if (fn)
		fn(ud);
}
