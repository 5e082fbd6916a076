/*
 * workers.c - the delivery workers (event.h): threads taking outbox items
 * (outbox.c) until stopped, sleeping until the next item is due or they are
 * woken by an accept, and one thread renewing the lease of the items they
 * hold (outbox.c).  Also ns_outbox_run, the same without a server.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "nowsync/delivery.h"
#include "nowsync/ops.h"

#define NS_MAX_WORKERS 64
#define NS_IDLE_MS     1000 /* the longest a worker sleeps without looking */

struct ns_workers {
	struct ns_state *state;
	struct ns_outbox *ob;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	unsigned long wakes;
	int busy; /* workers in a step */
	int n;
	pthread_t threads[NS_MAX_WORKERS];
	pthread_t renewer;
	bool renewing;
};

static struct timespec abs_in(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t until = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	ts.tv_sec = (time_t)(until / 1000);
	ts.tv_nsec = (long)(until % 1000) * 1000000;
	return ts;
}

/* Every third of the lease, the items this process holds are extended: a
 * live process keeps what it took however long its requests take; a dead
 * one's items come back to the others when their lease runs out. */
static void *renewer_main(void *arg)
{
	struct ns_workers *ws = arg;
	int64_t every = ws->state->lease_ms / 3 > 50 ? ws->state->lease_ms / 3 : 50;
	pthread_mutex_lock(&ws->lock);
	while (!ws->stopping) {
		int64_t next = ns_now_ms() + every;
		while (!ws->stopping && ns_now_ms() < next) {
			struct timespec ts = abs_in(next - ns_now_ms());
			pthread_cond_timedwait(&ws->cond, &ws->lock, &ts);
		}
		if (ws->stopping)
			break;
		pthread_mutex_unlock(&ws->lock);
		sg_err e = ns_outbox_renew(ws->state, NULL);
		if (e)
			ns_logj(NS_LOG_WARN, "lease renewal failed",
			        json_pack("{s:s}", "error", sg_err_name(e)));
		pthread_mutex_lock(&ws->lock);
	}
	pthread_mutex_unlock(&ws->lock);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct ns_workers *ws = arg;
	struct ns_outbox_worker *w = ns_outbox_worker_new(ws->ob);
	for (;;) {
		pthread_mutex_lock(&ws->lock);
		bool stop = ws->stopping;
		unsigned long seen = ws->wakes;
		if (!stop)
			ws->busy++;
		pthread_mutex_unlock(&ws->lock);
		if (stop)
			break;
		bool did = false;
		int64_t next = 0;
		sg_err e = w ? ns_outbox_step(w, &did, &next) : SG_ERR_NOMEM;
		if (e)
			ns_logj(NS_LOG_WARN, "outbox step failed",
			        json_pack("{s:s}", "error", sg_err_name(e)));
		pthread_mutex_lock(&ws->lock);
		ws->busy--;
		pthread_cond_broadcast(&ws->cond);
		if (!did && !ws->stopping && ws->wakes == seen) {
			int64_t now = ns_now_ms(), wait = NS_IDLE_MS;
			if (next > 0 && next - now < wait)
				wait = next - now > 0 ? next - now : 1;
			if (e && wait < 200)
				wait = 200;
			struct timespec ts = abs_in(wait);
			pthread_cond_timedwait(&ws->cond, &ws->lock, &ts);
		}
		pthread_mutex_unlock(&ws->lock);
	}
	ns_outbox_worker_free(w);
	return NULL;
}

sg_err ns_workers_start(struct ns_state *s, int n, struct ns_workers **out)
{
	*out = NULL;
	if (n < 1)
		n = 1;
	if (n > NS_MAX_WORKERS)
		n = NS_MAX_WORKERS;
	struct ns_workers *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return SG_ERR_NOMEM;
	ws->state = s;
	ws->ob = ns_outbox_new(s);
	if (!ws->ob) {
		free(ws);
		return SG_ERR_NOMEM;
	}
	sg_err e = ns_outbox_recover(s);
	if (e) {
		ns_outbox_free(ws->ob);
		free(ws);
		return e;
	}
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	ws->renewing = pthread_create(&ws->renewer, NULL, renewer_main, ws) == 0;
	for (int i = 0; ws->renewing && i < n; i++) {
		if (pthread_create(&ws->threads[i], NULL, worker_main, ws) != 0)
			break;
		ws->n++;
	}
	if (!ws->n) {
		ns_workers_stop(ws);
		return SG_ERR_NOMEM;
	}
	*out = ws;
	return SG_ERR_OK;
}

void ns_workers_wake(struct ns_workers *ws)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->wakes++;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

void ns_workers_stop(struct ns_workers *ws)
{
	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stopping = true;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	for (int i = 0; i < ws->n; i++)
		pthread_join(ws->threads[i], NULL);
	if (ws->renewing)
		pthread_join(ws->renewer, NULL);
	pthread_cond_destroy(&ws->cond);
	pthread_mutex_destroy(&ws->lock);
	ns_outbox_free(ws->ob);
	free(ws);
}

/* Items this process could take now (pending and due, or in flight with
 * their lease run out; its own in flight too) and unfinished at all. */
static int due_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	long long *c = ud;
	for (int i = 0; i < ncol && i < 2; i++)
		c[i] = vals[i] ? atoll(vals[i]) : 0;
	return 1;
}

static sg_err due_counts(struct ns_state *s, long long c[2])
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	int64_t now = ns_now_ms();
	sg_sql_raw(&q, "SELECT COALESCE(SUM(CASE WHEN (\"state\" = 'pending' AND \"next_at\" <= ");
	sg_sql_int(&q, now);
	sg_sql_raw(&q, ") OR (\"state\" = 'inflight' AND (\"claimed_by\" = ");
	sg_sql_text(&q, s->owner);
	sg_sql_raw(&q, " OR \"lease_until\" <= ");
	sg_sql_int(&q, now);
	sg_sql_raw(&q, ")) THEN 1 ELSE 0 END), 0), COUNT(*) FROM \"ns_event\" WHERE \"state\" IN "
	               "('pending', 'inflight')");
	sg_err e = sg_conn_exec(db, &q, due_row, c, NULL);
	sg_sql_cleanup(&q);
	return e;
}

/* Done and dead items, for the progress lines. */
static void progress(struct ns_state *s, int64_t t0, long long done0, long long *last_done,
                     int64_t *last_at, const char *msg)
{
	long long c[4];
	if (ns_outbox_counts(s, c))
		return;
	int64_t now = ns_now_ms();
	double rate =
	    now > *last_at ? (double)(c[2] - *last_done) * 1000.0 / (double)(now - *last_at) : 0;
	ns_logj(NS_LOG_INFO, msg,
	        json_pack("{s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "done", (json_int_t)c[2],
	                  "done_this_run", (json_int_t)(c[2] - done0), "dead", (json_int_t)c[3],
	                  "pending", (json_int_t)c[0], "inflight", (json_int_t)c[1], "per_second",
	                  rate, "elapsed_s", (double)(now - t0) / 1000.0));
	*last_done = c[2];
	*last_at = now;
}

sg_err ns_outbox_run_opts(struct ns_state *s, const struct ns_run_opts *o, long long *left,
                          int *signo)
{
	if (signo)
		*signo = 0;
	/* SIGTERM/SIGINT stop the run cleanly: the workers finish the item each
	 * has in hand and the rest stays pending for the next run. */
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (o->signals)
		pthread_sigmask(SIG_BLOCK, &sigs, &old);
	struct ns_workers *ws = NULL;
	sg_err e = ns_workers_start(s, o->workers, &ws);
	if (e) {
		if (o->signals)
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		return e;
	}
	int64_t t0 = ns_now_ms(), last_at = t0;
	int64_t deadline = o->max_wait_s > 0 ? t0 + o->max_wait_s * 1000 : 0;
	long long c[2] = {0, 0}, c4[4] = {0, 0, 0, 0};
	ns_outbox_counts(s, c4);
	long long done0 = c4[2], last_done = c4[2];
	int64_t next_progress = o->progress_s > 0 ? t0 + o->progress_s * 1000 : 0;
	for (;;) {
		struct timespec ts = {0, 50 * 1000000L};
		if (o->signals) {
			int sig = sigtimedwait(&sigs, NULL, &ts);
			if (sig == SIGTERM || sig == SIGINT) {
				if (signo)
					*signo = sig;
				ns_logj(NS_LOG_INFO, "stopping",
				        json_pack("{s:s}", "signal",
				                  sig == SIGTERM ? "SIGTERM" : "SIGINT"));
				break;
			}
		} else {
			nanosleep(&ts, NULL);
		}
		c[0] = c[1] = 0;
		e = due_counts(s, c);
		if (e)
			break;
		if (next_progress && ns_now_ms() >= next_progress) {
			progress(s, t0, done0, &last_done, &last_at, "progress");
			next_progress = ns_now_ms() + o->progress_s * 1000;
		}
		pthread_mutex_lock(&ws->lock);
		int busy = ws->busy;
		pthread_mutex_unlock(&ws->lock);
		if (busy == 0 && (o->wait_all ? c[1] == 0 : c[0] == 0)) {
			/* look again: a step may have ended between the two reads */
			c[0] = c[1] = 0;
			e = due_counts(s, c);
			if (e || (o->wait_all ? c[1] == 0 : c[0] == 0))
				break;
		}
		if (deadline && ns_now_ms() > deadline)
			break;
	}
	ns_workers_stop(ws);
	if (o->signals)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!e) {
		c[0] = c[1] = 0;
		e = due_counts(s, c);
	}
	if (o->progress_s > 0 || (signo && *signo))
		progress(s, t0, done0, &last_done, &last_at, "run ended");
	if (left)
		*left = c[1];
	return e;
}

sg_err ns_outbox_run(struct ns_state *s, int n, bool wait_all, int64_t max_wait_s, long long *left)
{
	struct ns_run_opts o = {.workers = n, .wait_all = wait_all, .max_wait_s = max_wait_s};
	return ns_outbox_run_opts(s, &o, left, NULL);
}
