/*
 * intake.h - how events come into nowsync (issue 16, item 4): the bearer
 * tokens senders authenticate with (token.c), the parsers of the generic
 * JSON event and of Prometheus Alertmanager's webhook (intake.c), `nowsync
 * push` (intake.c) and the HTTP daemon `nowsync serve` (serve.c).  Every
 * event ends in ns_event_accept (event.h).
 */
#ifndef SG_NOWSYNC_INTAKE_H
#define SG_NOWSYNC_INTAKE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nowsync/event.h"
#include "nowsync/nowsync.h"

/* ---- intake tokens (token.c) ------------------------------------------------- */

/* "nsi_" and 43 base64url characters (32 random bytes). */
#define NS_TOKEN_PREFIX "nsi_"
#define NS_TOKEN_LEN    47

/* A token as stored: never the token itself, only its hash. */
struct ns_token_info {
	char name[NS_NAME_MAX + 1];
	char connection[NS_NAME_MAX + 1]; /* "" when not bound */
	char profile[NS_NAME_MAX + 1];    /* "" when not bound */
	char created_on[32];
	char last_used[32]; /* "" never */
};

/* Creates the token called name (bound to connection/profile when not
 * NULL): token_out gets it, the only time it exists in clear.
 * SG_ERR_INVALID_INSERT when the name is taken. */
sg_err ns_token_create(struct ns_state *s, const char *name, const char *connection,
                       const char *profile, char token_out[NS_TOKEN_LEN + 1]);
/* Calls fn for each token by name. */
sg_err ns_token_list(struct ns_state *s, void (*fn)(void *ud, const struct ns_token_info *t),
                     void *ud);
/* SG_ERR_NO_RECORD when there is no such token. */
sg_err ns_token_revoke(struct ns_state *s, const char *name);
/* Whether token (as presented) is a live token; info gets what it is bound
 * to.  SG_ERR_NO_RECORD when it is not one. */
sg_err ns_token_check(struct ns_state *s, const char *token, struct ns_token_info *info);

/* ---- parsers (intake.c) -------------------------------------------------------- */

/* What the sender's token binds (NULL/"" fields: not bound) and what the
 * request says (query parameters of the Alertmanager endpoint). */
struct ns_intake_ctx {
	const char *connection, *profile; /* bound by the token */
	const char
	    *key_labels;    /* Alertmanager: "a,b": key from these labels, not the fingerprint */
	const char *source; /* "generic", "push", "alertmanager" */
};

/* Events parsed from one payload; each owns its strings and fields. */
struct ns_parsed_event {
	struct ns_event ev; /* its pointers point into the owned copies below */
	char *connection, *profile, *key, *summary, *severity;
	json_t *fields;
};

struct ns_parsed {
	struct ns_parsed_event *v;
	size_t n;
};

void ns_parsed_free(struct ns_parsed *p);

#define NS_INTAKE_MAX_EVENTS 1000 /* per request or per line batch */
#define NS_KEY_MAX           512

/*
 * A generic event (an object) or a batch of them (an array), validated whole
 * into out: false with err naming the bad field ("events[2].status: ...")
 * and nothing in out.
 */
bool ns_parse_generic(json_t *root, const struct ns_intake_ctx *ctx, struct ns_parsed *out,
                      char *err, size_t errsz);
/* An Alertmanager webhook payload (version 4), one event per alert. */
bool ns_parse_alertmanager(json_t *root, const struct ns_intake_ctx *ctx, struct ns_parsed *out,
                           char *err, size_t errsz);

/* RFC 3339 date-time ("2024-05-01T10:00:00.5+02:00") into epoch seconds.
 * Years before 1970 (Alertmanager's "0001-01-01T00:00:00Z" for "not yet")
 * give 0. */
bool ns_parse_rfc3339(const char *s, int64_t *out);

/* How a batch fared. */
struct ns_intake_counts {
	unsigned accepted, duplicates, refused;
	size_t failed_at; /* when the store failed: the first event not made durable */
};

/*
 * Accepts the events of p: checks first that every connection named exists
 * (SG_ERR_BAD_PARAM with err naming the event, nothing accepted), then hands
 * each to ns_event_accept.  results gets one object per event: {key, id,
 * result: "accepted"|"duplicate"} or {key, result: "refused", error}.  When
 * the store fails midway, the error is returned (the earlier events are
 * committed) and results is NULL.
 */
sg_err ns_intake_accept(struct ns_state *st, struct ns_parsed *p, json_t **results,
                        struct ns_intake_counts *counts, char *err, size_t errsz);

/* ---- commands --------------------------------------------------------------------- */

int ns_cmd_token(struct ns_state *st, int argc, char **argv);
int ns_cmd_push(struct ns_state *st, int argc, char **argv);
int ns_cmd_serve(struct ns_state *st, int argc, char **argv);

#endif
