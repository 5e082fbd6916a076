/*
 * nowd.h - the pieces of the nowd program: the HTTP server glue
 * (server.c), the access log (access_log.c) and the command line (main.c).
 */
#ifndef SG_NOWD_NOWD_H
#define SG_NOWD_NOWD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "auth/auth.h"
#include "model/model.h"

/* How the server listens and what it allows a client. */
struct nowd_opts {
	struct sockaddr_in addr; /* address and port */
	unsigned threads;        /* request threads */
	unsigned max_conn;       /* connections at once */
	unsigned timeout;        /* idle seconds between requests before a close; 0 never */
	unsigned req_timeout;    /* seconds of silence allowed inside a request; 0 never */
	unsigned per_client;     /* connections at once from one address; 0 no limit */
	const char *cert_pem;    /* TLS certificate and key (PEM); NULL: plain HTTP */
	const char *key_pem;
	const char *base_url;  /* --base-url, or NULL */
	bool no_snowglobe_api; /* --no-snowglobe-api: no /_snowglobe/ paths */
	const char *ui_dir;    /* --ui-dir: the console's static files, or NULL: the default */
	/* poll() rather than epoll: for the HTTP fuzzer, which needs a client's
	 * half-close seen at once (epoll misses it until a timeout). */
	bool use_poll;
};

struct nowd_server;

/* Starts serving model (borrowed; it must outlive the server) as o says,
 * in threads of its own.  o and the strings it points to must outlive the
 * server.  NULL when it cannot listen.  Freed by nowd_server_stop. */
struct nowd_server *nowd_server_start(struct sg_model *model, struct sg_auth *auth,
                                      const struct nowd_opts *o);
/* Stops serving: waits for requests in flight, then frees s. */
void nowd_server_stop(struct nowd_server *s);

/* One access-log line: client address (NULL: "-"), user (NULL or "": "-"),
 * method, the URI as sent (secret parameters masked in the line), status,
 * body bytes sent, milliseconds taken, and whether the client went away
 * before the response was complete. */
void nowd_access_log(const struct sockaddr *client, const char *user, const char *method,
                     const char *raw_uri, int status, size_t bytes_out, long ms, bool aborted);

/* Background job workers (workers.c): n threads running due jobs of the
 * queue (model/jobs.h) until nowd_workers_stop, which waits for the job in
 * hand.  The built-in job types are registered and the event processor is
 * made sure to exist.  NULL when n is 0 or the instance has no queue. */
struct nowd_workers;
struct nowd_workers *nowd_workers_start(struct sg_model *model, unsigned n);
/* Outbound delivery workers (outbound/queue.h): n threads sending due
 * requests of the ecc_queue; stopped with nowd_workers_stop, which waits
 * for the delivery in hand (at most its timeout). */
struct nowd_workers *nowd_outq_workers_start(struct sg_model *model, unsigned n);
void nowd_workers_stop(struct nowd_workers *p);

/* --ephemeral (ephemeral.c): a temporary folder holding a copy of the
 * instance at target (its database, keys, attachments and snapshots), the
 * source only read; NULL on failure (logged).  Serve the folder, then
 * remove it with nowd_ephemeral_remove (which frees dir). */
char *nowd_ephemeral_make(const char *target);
void nowd_ephemeral_remove(char *dir);

#endif
