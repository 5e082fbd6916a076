/*
 * nowsync.h - the connector's inner API: its own state (a database of its
 * own through src/store), connections to ServiceNow instances with their
 * token lifecycle, and the diagnosis of a connection.
 *
 * Layers inside nowsync: state.c (the database: schema, connections,
 * sealed secrets, the key) <- conn.c (a live connection: "send this Table
 * API request on connection C", tokens cached, refreshed single-flight)
 * <- diag.c (connection test) <- main.c (the command line).  Later parts
 * (intake, mapping, outbox, back-sync) are built on ns_conn_request().
 *
 * Secrets (client secret, password, refresh token, access token) are held
 * sealed in the database (libsodium secretbox, auth/secret.h) under a key
 * that is never in it: NOWSYNC_KEY (base64 of 32 bytes) when set, else the
 * key file beside the database (DIR/keys/nowsync.key, mode 0600).  They are
 * never printed and never logged.
 */
#ifndef SG_NOWSYNC_NOWSYNC_H
#define SG_NOWSYNC_NOWSYNC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "auth/secret.h"
#include "core/err.h"
#include "net/client.h"
#include "store/store.h"

#define NS_NAME_MAX    64
#define NS_KEY_ENV     "NOWSYNC_KEY"
#define NS_SCHEMA_VERS 2
/* How long an outbox item a process took stays its own without being
 * renewed (run and serve --lease); renewed every third of it while held. */
#define NS_LEASE_S_DEFAULT 60

/* ---- state (state.c) ------------------------------------------------------- */

enum ns_auth { NS_AUTH_PASSWORD, NS_AUTH_CLIENT_CREDENTIALS, NS_AUTH_REFRESH_TOKEN, NS_AUTH_BASIC };

/* "password", "client_credentials", "refresh_token", "basic"; static. */
const char *ns_auth_name(enum ns_auth a);
bool ns_auth_parse(const char *s, enum ns_auth *out);

/* A connection as stored.  Secrets are clear in memory (from
 * ns_state_get) and wiped by ns_connection_clear. */
struct ns_connection {
	char *name;
	char *instance; /* base URL, no trailing slash */
	enum ns_auth auth;
	char *client_id;                                /* OAuth grants */
	char *user;                                     /* password grant, basic */
	char *client_secret, *password, *refresh_token; /* clear; NULL when none */
	char *access_token;                             /* clear; NULL when none cached */
	int64_t access_expires;                         /* epoch seconds */
	char *ca_file, *proxy;                          /* NULL: system's / environment's */
	bool insecure;
	long timeout_ms;
	char *created_on;
};

void ns_connection_clear(struct ns_connection *c);

struct ns_state {
	sg_store *store;
	unsigned char key[SG_SECRET_KEY_LEN];
	/* This process among others on the database: host:pidns:pid:random,
	 * the claimed_by of the outbox items it holds, and their lease. */
	char owner[96];
	int64_t lease_ms;
};

/*
 * Opens (creating when missing) the state named by url: a data directory
 * DIR (SQLite's DIR/nowsync.db) or a store URL (sqlite:PATH).  The schema is
 * created or migrated; the key is read (NOWSYNC_KEY, or the key file beside
 * the database, made 0600 when missing).  msg gets why it failed.
 */
sg_err ns_state_open(const char *where, struct ns_state **out, char *msg, size_t msgsz);
/* "host:pidns" of this process: the part of an owner (host:pidns:pid:random)
 * within which its pid names one process ("-" for an unknown namespace). */
void ns_owner_place(char *out, size_t outsz);
void ns_state_close(struct ns_state *s);

/* Inserts c (SG_ERR_INVALID_INSERT when the name is taken). */
sg_err ns_state_add(struct ns_state *s, const struct ns_connection *c);
/* Reads the connection called name (secrets opened): SG_ERR_NO_RECORD. */
sg_err ns_state_get(struct ns_state *s, const char *name, struct ns_connection *out);
/* Calls fn for every connection by name (secrets NOT opened: NULL). */
sg_err ns_state_list(struct ns_state *s, void (*fn)(void *ud, const struct ns_connection *c),
                     void *ud);
/* Deletes the row of table whose "name" is name: SG_ERR_NO_RECORD when
 * there is none. */
sg_err ns_state_delete_named(struct ns_state *s, const char *table, const char *name);
sg_err ns_state_remove(struct ns_state *s, const char *name);
/* Stores a connection's tokens (sealed): access token and its expiry, and
 * the refresh token when refresh is not NULL.  access NULL forgets it. */
sg_err ns_state_save_tokens(struct ns_state *s, const char *name, const char *access,
                            int64_t expires, const char *refresh);

/* ---- a live connection (conn.c) -------------------------------------------- */

/* What failed, for callers that report it. */
enum ns_fail {
	NS_OK,
	NS_FAIL_NET,      /* the exchange did not complete: net names the step */
	NS_FAIL_NOT_SN,   /* the answer is not ServiceNow's (HTML, no JSON) */
	NS_FAIL_TOKEN,    /* /oauth_token.do refused (401 access_denied) */
	NS_FAIL_AUTH,     /* the API refused the credentials (401) even after a new token */
	NS_FAIL_INTERNAL, /* out of memory, the state store */
};

struct ns_error {
	enum ns_fail fail;
	sg_net_err net;
	int status;
	char msg[512];
};

/* Refresh this long before the instance's expiry. */
#define NS_TOKEN_SKEW_S 60

struct ns_conn {
	struct ns_connection cfg;
	struct ns_state *state; /* where tokens are saved; may be NULL */
	pthread_mutex_t lock;
	pthread_cond_t done;
	bool refreshing;              /* a token request is in flight */
	unsigned long gen;            /* bumped by every new access token */
	unsigned long flights;        /* token requests finished */
	struct ns_error flight;       /* the last one's failure (fail NS_OK when it worked) */
	unsigned long token_requests; /* sent to /oauth_token.do, for metrics and tests */
};

/* A live connection on cfg (moved into it: cfg is cleared).  state may be
 * NULL (tokens kept in memory only).  NULL when out of memory. */
struct ns_conn *ns_conn_new(struct ns_connection *cfg, struct ns_state *state);
void ns_conn_free(struct ns_conn *c);

/* An HTTP client with the connection's options (CA file, proxy, insecure,
 * timeouts; retries on 429/502/503/504 honouring Retry-After).  One per
 * thread.  NULL when out of memory. */
struct sg_http_client *ns_conn_http(const struct ns_conn *c, int max_attempts);

/*
 * A valid access token for c into *token (new string, caller frees, wipes):
 * the cached one unless it expires within NS_TOKEN_SKEW_S, else one fetched
 * (refresh grant when there is a refresh token, else the connection's own
 * grant).  stale_gen: the generation of a token the API just refused (a
 * 401), which is never handed back; 0 for none.  Only one request for a
 * token is in flight per connection; other threads wait for its result.
 * *gen gets the token's generation.  Basic connections have no token.
 */
bool ns_conn_token(struct ns_conn *c, struct sg_http_client *http, unsigned long stale_gen,
                   char **token, unsigned long *gen, struct ns_error *err);

/*
 * Sends method path (from "/api/now/...", query included) on c with body
 * (JSON text or NULL), authenticated as the connection says; on a 401 with a
 * token, a new token is fetched once and the request sent again.  resp holds
 * the answer (any status).  False with err filled when no answer came, the
 * answer is not ServiceNow's, or the credentials were refused twice.
 */
bool ns_conn_request(struct ns_conn *c, struct sg_http_client *http, const char *method,
                     const char *path, const char *body, struct sg_http_response *resp,
                     struct ns_error *err);

/* The raw token request for grant (no caching): resp holds the answer.
 * Used by ns_conn_token and by the diagnosis. */
sg_net_err ns_token_post(struct ns_conn *c, struct sg_http_client *http, enum ns_auth grant,
                         struct sg_http_response *resp);

/* Installs the tokens of a successful token answer (body, len bytes) as
 * c's, as a fetch would.  False when it holds no access token. */
bool ns_conn_set_token(struct ns_conn *c, const char *body, size_t len);

/* Whether body (len bytes) is JSON in ServiceNow's shape: an object with
 * "result", or an "error" object, or a token answer. */
bool ns_looks_like_servicenow(const char *body, size_t len);

/* ---- diagnosis (diag.c) ----------------------------------------------------- */

/* What grants op ("read", "create", "write") on table, as the capability
 * matrix names it; NULL for a table the matrix does not list. */
const char *ns_diag_grant(const char *table, const char *op);

/* Exit statuses of `nowsync connection test`, one per failing step class. */
enum ns_exit {
	NS_EXIT_OK = 0,
	NS_EXIT_FAILED = 1, /* nowsync itself: state, memory */
	NS_EXIT_USAGE = 2,
	NS_EXIT_DNS = 10,
	NS_EXIT_TCP = 11,
	NS_EXIT_TLS = 12,
	NS_EXIT_TIMEOUT = 13,
	NS_EXIT_NOT_SERVICENOW = 14,
	NS_EXIT_TOKEN = 15,
	NS_EXIT_BASIC = 16,
	NS_EXIT_SCOPE = 17,
	NS_EXIT_API = 18,
	NS_EXIT_CAPABILITY = 19,
	NS_EXIT_PROFILE = 20, /* connection test --profile: a profile's check failed */
};

#define NS_DIAG_MAX_PROFILES 8

struct ns_diag_opts {
	bool probe_writes; /* create and delete a marked record to test create/write */
	bool json;
	/* --profile: the matrix is what these profiles need, and a profiles
	 * step checks them (their default assignment group exists) */
	const char *profiles[NS_DIAG_MAX_PROFILES];
	int nprofiles;
};

/* Runs the diagnosis of c, prints it (text or JSON) to out; returns the
 * exit status. */
int ns_diag_run(struct ns_conn *c, const struct ns_diag_opts *o, FILE *out);

#endif
