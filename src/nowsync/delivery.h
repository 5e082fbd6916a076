/*
 * delivery.h - nowsync's delivery side, from an accepted event to a record
 * in the instance: mapping profiles (profile.c), the lifecycle decision
 * (lifecycle.c), the durable outbox (event.c, outbox.c) and its workers
 * (workers.c).  event.h is the contract with intake; this is the inside.
 */
#ifndef SG_NOWSYNC_DELIVERY_H
#define SG_NOWSYNC_DELIVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nowsync/event.h"
#include "nowsync/nowsync.h"

/* ---- state: the delivery tables (state.c, ns_state_migrate_delivery) ---------- */

/* Creates the delivery tables when missing (inside migrate()'s write). */
sg_err ns_state_migrate_delivery(sg_conn *c);

/* ---- profiles (profile.c) ------------------------------------------------------ */

#define NS_PROFILE_MAX_BYTES (256 * 1024)

/* Where profiles are read: DIR/NAME.json.  Set once by main (--profiles,
 * NOWSYNC_PROFILES, or DATA/profiles). */
void ns_profiles_set_dir(const char *dir);
const char *ns_profiles_dir(void);

struct ns_profile {
	char name[NS_NAME_MAX + 1];
	char *table;       /* target table (incident) */
	char *connection;  /* default connection, may be NULL */
	json_t *fields;    /* field -> template */
	json_t *defaults;  /* field -> value (assignment_group by name or sys_id) */
	json_t *severity;  /* severity -> {field: value} */
	char *corr_prefix; /* correlation_id = prefix + rendered corr_template */
	char *corr_template;
	bool update_comments; /* change notes go to comments (else work_notes) */
	char *close_code, *close_notes, *resolved_state, *reopen_state;
	char *update_note, *reopen_note; /* templates of the notes */
	char *closed_states;             /* "7,8": a record in one is never reopened */
	int64_t reopen_window_s;         /* a firing this soon after resolve reopens */
	int64_t hysteresis_s;            /* a clear is acted on after this long without a firing */
	int max_attempts;
	long backoff_base_ms, backoff_max_ms;
	long hourly_budget; /* requests per connection per hour; 0: unlimited */
	int64_t dict_ttl_s; /* dictionary cache lifetime */
	bool validate;      /* check records against the dictionary (an account
	                     * that may not read sys_dictionary: false) */
	/* "parent": the record another profile's key is linked to, written into
	 * parent_field on create (a follow-up task's parent incident); NULL: none */
	char *parent_profile, *parent_key, *parent_field;
	/* ticket policy (ticket.c) */
	char priority[2];    /* "1".."5": sent as impact + urgency; "" none */
	char *category_from; /* template of an event's category */
	json_t *categories;  /* the categories that create tickets; NULL: all */
};

/* Loads NAME from the profiles folder; msg says why not.  SG_ERR_NO_RECORD
 * when there is no such profile, SG_ERR_BAD_PARAM when it is malformed. */
sg_err ns_profile_load(const char *name, struct ns_profile *p, char *msg, size_t msgsz);
/* Parses a profile from JSON text (what load does after reading). */
sg_err ns_profile_parse(const char *name, const char *text, size_t len, struct ns_profile *p,
                        char *msg, size_t msgsz);
void ns_profile_clear(struct ns_profile *p);
/* Calls fn for each profile name in the folder, sorted. */
int ns_profile_names(void (*fn)(void *ud, const char *name), void *ud);

/* The variables templates see: key, status, summary, severity, and
 * fields.* (also labels.* etc. directly: {{labels.instance}} reads
 * fields.labels.instance).  Borrowed. */
struct ns_tvars {
	const char *key, *status, *summary, *severity;
	const json_t *fields;
};

/* Renders tpl ({{name}} and {{a.b.c}}; unknown names render empty) into a
 * new string; NULL when out of memory or over 64 KiB. */
char *ns_template_render(const char *tpl, const struct ns_tvars *v);

/* The record body for a create (or the fields of an update): templates,
 * defaults, severity table, correlation_id.  New object; NULL on no memory. */
json_t *ns_profile_fields(const struct ns_profile *p, const struct ns_tvars *v);
/* ---- ticket policy (ticket.c): default priority, categories -------------------- */

/* Parses the profile members "priority" and "categories" of root into p;
 * false with msg when malformed. */
bool ns_ticket_parse(json_t *root, struct ns_profile *p, char *msg, size_t msgsz);
/* The impact and urgency ServiceNow's default priority lookup turns into
 * priority (1..5); false for another priority. */
bool ns_priority_pair(const char *priority, const char **impact, const char **urgency);
/* Whether an event creates tickets under p: its category (category_from)
 * is one of p's categories, or p lists none.  When not, why says so. */
bool ns_ticket_wanted(const struct ns_profile *p, const struct ns_tvars *v, char *why,
                      size_t whysz);

/* correlation_id for v (new string). */
char *ns_profile_correlation(const struct ns_profile *p, const struct ns_tvars *v);

/* The instance's dictionary for a table (its fields, choice lists), as
 * fetched: {"fields":{name:type}, "choices":{field:[values]}}. */
struct ns_dict {
	json_t *fields;
	json_t *choices;
};
void ns_dict_clear(struct ns_dict *d);
/* The dictionary of table on c: from the state's cache when younger than
 * ttl_s, else fetched (sys_dictionary, sys_choice; the table and the
 * tables it extends: sys_db_object.super_class) and cached.  *nreq counts
 * the requests sent (for the hourly budget).  A table's own choice list
 * for a field replaces the one of the table it extends. */
bool ns_dict_get(struct ns_state *s, struct ns_conn *c, struct sg_http_client *http,
                 const char *table, int64_t ttl_s, struct ns_dict *out, int *nreq, char *msg,
                 size_t msgsz);
/* Checks body against d: every field known, every choice value listed.
 * Problems appended to errs (JSON array of strings).  True when none. */
bool ns_dict_check(const struct ns_dict *d, const json_t *body, json_t *errs);
/* Resolves body.assignment_group (a name or a sys_id) to a sys_id on c;
 * a group that does not exist is an error appended to errs. */
bool ns_resolve_group(struct ns_conn *c, struct sg_http_client *http, json_t *body, json_t *errs,
                      int *nreq);

/* ---- lifecycle (lifecycle.c): what an event does to its key's record ---------- */

enum ns_link_state { NS_LINK_NONE, NS_LINK_OPEN, NS_LINK_RESOLVED, NS_LINK_CLOSED };

struct ns_link {
	enum ns_link_state state;
	char sys_id[33];
	char hash[65];          /* of the fields last sent */
	int64_t resolved_at;    /* when it was resolved by us */
	int64_t last_firing_at; /* occurred_at of the last firing seen */
};

enum ns_action {
	NS_ACT_NONE,    /* nothing to send (a repeat; a clear of nothing) */
	NS_ACT_CREATE,  /* a new record */
	NS_ACT_UPDATE,  /* fields changed: patch them with a note */
	NS_ACT_REOPEN,  /* resolved within the window: back to reopen_state */
	NS_ACT_RESOLVE, /* resolve with close data */
	NS_ACT_WAIT,    /* a clear inside the hysteresis: look again at wait_until */
};

const char *ns_action_name(enum ns_action a);

/* Decides what event (status, occurred_at, hash of its rendered fields)
 * does given the key's link, at time now.  *wait_until for NS_ACT_WAIT.
 * Pure: no I/O. */
enum ns_action ns_lifecycle_decide(const struct ns_profile *p, const struct ns_link *l,
                                   enum ns_event_status status, int64_t occurred_at,
                                   const char *hash, int64_t now, int64_t *wait_until);

/* ---- outbox (outbox.c) ---------------------------------------------------------- */

/* Backoff before attempt n+1 after n failures (n >= 1): base * 2^(n-1)
 * capped at max, with jitter: a uniform value in [d/2, d].  rnd in [0,1). */
long ns_backoff_ms(const struct ns_profile *p, int n, double rnd);

enum ns_outbox_state { NS_OB_PENDING, NS_OB_INFLIGHT, NS_OB_DONE, NS_OB_DEAD };
const char *ns_outbox_state_name(enum ns_outbox_state s);

/* What the workers share: the state, one live connection per name (so a
 * token is refreshed once for all of them), counters. */
struct ns_outbox;
struct ns_outbox *ns_outbox_new(struct ns_state *s);
void ns_outbox_free(struct ns_outbox *ob);

/* One worker's own things (its HTTP clients).  NULL when out of memory. */
struct ns_outbox_worker;
struct ns_outbox_worker *ns_outbox_worker_new(struct ns_outbox *ob);
void ns_outbox_worker_free(struct ns_outbox_worker *w);

/* Takes the next due item (the oldest unfinished one of its key, no other
 * of the key in flight) and handles it: decision, validation, request(s),
 * record.  *did false when nothing was due; *next_due_ms the epoch ms of the
 * next pending item (0 when none).  Any number of workers at once. */
sg_err ns_outbox_step(struct ns_outbox_worker *w, bool *did, int64_t *next_due_ms);

/* The claim of ns_outbox_step alone, for tools and tests: the next due
 * item's id (in flight now, held by s->owner for s->lease_ms, its attempt
 * counted) into id_out, "" when none. */
sg_err ns_outbox_claim(struct ns_state *s, char id_out[33]);
/* Ends item id in state ("done" or "dead") without sending anything. */
sg_err ns_outbox_mark(struct ns_state *s, const char *id, const char *state);

/* Items left in flight whose lease ran out (their process died) go back to
 * pending (their next attempt looks before it creates); items another live
 * process holds are left alone.  Called once at start; a running process
 * takes such items in its claims as well. */
sg_err ns_outbox_recover(struct ns_state *s);
/* Extends the lease of every item this process (s->owner) holds in flight
 * to now + s->lease_ms; *held (may be NULL) how many.  The workers call it
 * every third of the lease. */
sg_err ns_outbox_renew(struct ns_state *s, long long *held);
/* Lists items (state NULL: all) as text or JSON. */
sg_err ns_outbox_list(struct ns_state *s, const char *state, bool json, FILE *out);
/* A dead item back to pending (attempts reset).  SG_ERR_NO_RECORD. */
sg_err ns_outbox_retry(struct ns_state *s, const char *id);
/* Counts of items by state. */
sg_err ns_outbox_counts(struct ns_state *s, long long counts[4]);

/* Processes the outbox with n workers until nothing is due (wait_all:
 * until nothing is pending at all, waiting out backoffs), or max_wait_s.
 * *left gets the items still pending. */
sg_err ns_outbox_run(struct ns_state *s, int n, bool wait_all, int64_t max_wait_s, long long *left);

/* ---- the command line (cli_delivery.c) ------------------------------------------ */

/* Whether cmd is one of delivery's commands (profile, outbox, run). */
bool ns_cli_delivery_has(const char *cmd);
/* Runs it; returns the exit status. */
int ns_cli_delivery(struct ns_state *st, const char *cmd, int argc, char **argv);

/* Epoch milliseconds. */
int64_t ns_now_ms(void);

#endif
