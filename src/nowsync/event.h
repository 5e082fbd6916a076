/*
 * event.h - the contract between nowsync's intake (the HTTP endpoint,
 * `nowsync push`, the Alertmanager webhook: intake.c) and its delivery
 * (mapping profiles, the incident lifecycle, the outbox and its workers).
 *
 * Intake turns whatever arrives into one struct ns_event per alert and hands
 * it to ns_event_accept, which makes it durable; only then is the sender
 * acknowledged.  Delivery takes it from there: profile, lifecycle decision,
 * outbox, the Table API, exactly once.
 */
#ifndef SG_NOWSYNC_EVENT_H
#define SG_NOWSYNC_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "nowsync/nowsync.h"

enum ns_event_status { NS_EVENT_FIRING, NS_EVENT_RESOLVED };

/* Every pointer is borrowed for the duration of ns_event_accept. */
struct ns_event {
	const char *connection; /* the connection's name */
	const char *profile;    /* the mapping profile's name */
	const char *key;        /* the source key: one incident per key at a time */
	enum ns_event_status status;
	const char *summary;  /* may be NULL */
	const char *severity; /* as the source says it (critical, warning, 1...), may be NULL */
	json_t *fields; /* an object the profile's templates read ({{labels.x}}), may be NULL */
	int64_t occurred_at; /* epoch seconds the source gives; 0: when received */
	const char *source;  /* "generic", "alertmanager", "push" */
};

/*
 * Makes ev durable in s: when this returns SG_ERR_OK the event is committed
 * and will be acted on exactly once, whatever happens to the process after.
 * An event already accepted (same connection, profile, key, status and
 * occurred_at, and the same fields) is not accepted twice: *duplicate true
 * (may be NULL).  id_out (may be NULL) gets the event's id.  Bad input
 * (unknown connection or profile, empty key): SG_ERR_BAD_PARAM with msg.
 */
sg_err ns_event_accept(struct ns_state *s, const struct ns_event *ev, char id_out[33],
                       bool *duplicate, char *msg, size_t msg_size);

/* The delivery workers of a running `nowsync serve`. */
struct ns_workers;

/* Starts n workers on s (which must outlive them).  SG_ERR_NOMEM. */
sg_err ns_workers_start(struct ns_state *s, int n, struct ns_workers **out);
/* Tells the workers there is new work (called after an accept). */
void ns_workers_wake(struct ns_workers *w);
/* Stops them: work in flight is finished or left durable for the next
 * start; never half-applied. */
void ns_workers_stop(struct ns_workers *w);

#endif
