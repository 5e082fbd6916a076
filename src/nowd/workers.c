/*
 * workers.c - nowd's background job workers (model/jobs.h): threads that
 * claim and run due sys_trigger jobs, sleeping a second when none is due,
 * and stop between jobs on shutdown.  A job a killed nowd held is claimed
 * again once its lease has passed, by this process or any other.
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
#include "nowd/nowd.h"

struct worker {
	struct nowd_workers *pool;
	pthread_t thread;
	bool running;
	char id[101];
};

struct nowd_workers {
	struct sg_model *model;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
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
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		bool ran = false;
		sg_err err = sg_jobs_run_one(p->model, w->id, &ran);
		if (err && err != SG_ERR_BUSY)
			sg_log_warn("jobs: %s", sg_err_name(err));
		if (ran && !err)
			continue; /* more may be due */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&p->lock);
		if (!p->stop)
			pthread_cond_timedwait(&p->wake, &p->lock, &until);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static void wake_all(void *ud)
{
	struct nowd_workers *p = ud;
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
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
	struct nowd_workers *p = calloc(1, sizeof(*p) + n * sizeof(p->w[0]));
	if (!p)
		return NULL;
	p->model = model;
	p->n = n;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	char host[64] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &p->w[i];
		w->pool = p;
		snprintf(w->id, sizeof(w->id), "%.60s:%ld:%u", host, (long)getpid(), i);
		w->running = pthread_create(&w->thread, NULL, worker_main, w) == 0;
		if (!w->running)
			sg_log_warn("jobs: cannot start worker %u", i);
	}
	sg_jobs_set_waker(wake_all, p);
	return p;
}

void nowd_workers_stop(struct nowd_workers *p)
{
	if (!p)
		return;
	sg_jobs_set_waker(NULL, NULL);
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
