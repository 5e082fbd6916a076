/*
 * workers.c - nowd's background workers: threads that claim and run due
 * work, sleeping a second when none is due (or until woken: a row committed
 * in this process), and stop between two pieces of work on shutdown.  Two
 * pools are built the same way: the job workers (model/jobs.h, sys_trigger)
 * and the outbound delivery workers (outbound/queue.h, ecc_queue).  Work a
 * killed nowd held is claimed again once its lease has passed, by this
 * process or any other.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "model/jobs.h"
#include "outbound/queue.h"
#include "nowd/nowd.h"

struct worker {
	struct nowd_workers *pool;
	pthread_t thread;
	bool running;
	char id[101];
};

typedef sg_err (*run_one_fn)(struct sg_model *m, const char *worker, bool *ran);
typedef void (*set_waker_fn)(void (*fn)(void *ud), void *ud);

struct nowd_workers {
	struct sg_model *model;
	run_one_fn run_one;
	set_waker_fn set_waker;
	const char *what; /* "jobs", "outbound": log lines, worker ids */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	unsigned long wakes; /* wake-ups so far: one during a run is not lost */
	unsigned n;
	struct worker w[];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct nowd_workers *p = w->pool;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		bool stop = p->stop;
		unsigned long wakes = p->wakes;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		bool ran = false;
		sg_err err = p->run_one(p->model, w->id, &ran);
		if (err && err != SG_ERR_BUSY)
			sg_log_warn("%s: %s", p->what, sg_err_name(err));
		if (ran && !err)
			continue; /* more may be due */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&p->lock);
		if (!p->stop && p->wakes == wakes)
			pthread_cond_timedwait(&p->wake, &p->lock, &until);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static void wake_all(void *ud)
{
	struct nowd_workers *p = ud;
	pthread_mutex_lock(&p->lock);
	p->wakes++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

static struct nowd_workers *pool_start(struct sg_model *model, unsigned n, run_one_fn run_one,
                                       set_waker_fn set_waker, const char *what)
{
	struct nowd_workers *p = calloc(1, sizeof(*p) + n * sizeof(p->w[0]));
	if (!p)
		return NULL;
	p->model = model;
	p->run_one = run_one;
	p->set_waker = set_waker;
	p->what = what;
	p->n = n;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	char host[64] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &p->w[i];
		w->pool = p;
		snprintf(w->id, sizeof(w->id), "%.60s:%ld:%s%u", host, (long)getpid(), what, i);
		w->running = pthread_create(&w->thread, NULL, worker_main, w) == 0;
		if (!w->running)
			sg_log_warn("%s: cannot start worker %u", what, i);
	}
	set_waker(wake_all, p);
	return p;
}

struct nowd_workers *nowd_workers_start(struct sg_model *model, unsigned n)
{
	if (!n)
		return NULL;
	if (sg_jobs_register_builtin()) {
		sg_log_error("jobs: cannot register the built-in job types");
		return NULL;
	}
	/* The event processor, at most every second and only while there are
	 * events (it is not due otherwise: an idle instance writes nothing); an
	 * instance made before the queue existed has no sys_trigger table and
	 * runs no jobs. */
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, model, NULL);
	if (!err) {
		err = sg_job_ensure_repeating(&ctx, SG_JOB_EVENT_PROCESSOR, "Event processor", 1);
		sg_ctx_end(&ctx);
	}
	if (err) {
		sg_log_warn("jobs: no job queue in this instance (%s); background jobs do not run",
		            sg_err_name(err));
		return NULL;
	}
	return pool_start(model, n, sg_jobs_run_one, sg_jobs_set_waker, "jobs");
}

struct nowd_workers *nowd_outq_workers_start(struct sg_model *model, unsigned n)
{
	if (!n)
		return NULL;
	/* the claim's indexes; an instance made before the queue existed has
	 * no ecc_queue table and delivers nothing */
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, model, NULL);
	if (!err) {
		err = sg_outq_prepare(&ctx);
		sg_ctx_end(&ctx);
	}
	if (err) {
		sg_log_warn("outbound: no delivery queue in this instance (%s); queued requests "
		            "are not sent",
		            sg_err_name(err));
		return NULL;
	}
	return pool_start(model, n, sg_outq_run_one, sg_outq_set_waker, "outbound");
}

void nowd_workers_stop(struct nowd_workers *p)
{
	if (!p)
		return;
	p->set_waker(NULL, NULL);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].running)
			pthread_join(p->w[i].thread, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
