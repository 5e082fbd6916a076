/*
 * journal.h - the request journal (issue 18): what nowd was asked and what
 * it answered, one entry a request, in a ring bounded in entries and in
 * bytes, read and cleared under /_snowglobe/requests (admin only).
 *
 * The ring is independent of HTTP: the server gives each finished request
 * to sg_journal_note() (one call, where the response is known), which reads
 * the snowglobe.journal.* properties and builds the entry outside the lock;
 * the lock is held only to link it in and unlink what falls out.
 */
#ifndef SG_API_JOURNAL_H
#define SG_API_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "api/api.h"

/* Bounds: the properties are clamped to these. */
#define SG_JOURNAL_DEFAULT_SIZE     1000
#define SG_JOURNAL_MAX_SIZE         100000
#define SG_JOURNAL_DEFAULT_BYTES    (8ll * 1024 * 1024)
#define SG_JOURNAL_MAX_BYTES        (256ll * 1024 * 1024)
#define SG_JOURNAL_DEFAULT_BODY_MAX (64 * 1024)
#define SG_JOURNAL_STRING_MAX       8192          /* a path or query kept; longer ones cut */
#define SG_JOURNAL_MASK_MAX         (1024 * 1024) /* bodies above: not kept */
#define SG_JOURNAL_DEFAULT_LIMIT    100
#define SG_JOURNAL_MAX_LIMIT        10000

struct sg_journal;

/* What one finished request was; strings borrowed. */
struct sg_journal_fields {
	long long time_ms; /* when it arrived, ms since the epoch (UTC) */
	const char *user;  /* NULL: no authenticated user */
	const char *method;
	const char *path;  /* decoded, without the query */
	const char *query; /* as sent, without '?' (secret values masked here) */
	int status;
	long long latency_us;
	unsigned long long request_bytes, response_bytes;
	const char *request_body; /* NULL when none (or a streamed one) */
	size_t request_len;
	const char *request_type;  /* Content-Type, or NULL */
	const char *response_body; /* NULL when not in memory (a file) */
	size_t response_len;
	const char *response_type;
};

/* How entries are kept (the properties, clamped). */
struct sg_journal_limits {
	size_t size;      /* entries at most */
	size_t max_bytes; /* bytes the entries hold at most, bodies included */
	bool bodies;      /* keep the bodies (secrets masked) */
	size_t body_max;  /* bytes of each body kept; longer ones cut */
};

/* Which entries a read takes; every member optional (NULL / 0). */
struct sg_journal_filter {
	const char *path;         /* a prefix, or a glob when it has * ? or [ */
	const char *user;         /* exact */
	const char *method;       /* any case */
	int status;               /* exact when > 0 */
	int status_class;         /* 1..5: "4xx" */
	long long since_ms;       /* at or after; 0: any */
	unsigned long long after; /* seq greater than; 0: any */
};

struct sg_journal *sg_journal_new(void);
void sg_journal_free(struct sg_journal *j);

/* Adds an entry for f as lim says, dropping the oldest to stay within it.
 * An entry that cannot be allocated is counted as dropped, not added. */
void sg_journal_add(struct sg_journal *j, const struct sg_journal_fields *f,
                    const struct sg_journal_limits *lim);

/* Entries matching flt, newest first, at most limit of them, as a JSON
 * array in *out (new reference); *total how many match in all.  SG_ERR_NOMEM. */
sg_err sg_journal_query(struct sg_journal *j, const struct sg_journal_filter *flt, size_t limit,
                        json_t **out, size_t *total);

/* Forgets every entry; *n how many there were. */
void sg_journal_clear(struct sg_journal *j, size_t *n);

/* Entries and bytes held now, entries dropped since the start. */
void sg_journal_stats(struct sg_journal *j, size_t *entries, size_t *bytes,
                      unsigned long long *dropped);

/* Reads a filter from its text form (the query parameters); a message for a
 * 400 in *why when a value is malformed (false). Strings stay borrowed. */
bool sg_journal_parse_filter(struct sg_journal_filter *flt, const char *path, const char *user,
                             const char *method, const char *status, const char *since,
                             const char *after, const char **why);

/* Masks secrets in a body of content type ct into out: JSON members whose
 * names are secret (net/redact.h) at any depth, form fields; other types
 * are not kept (a note of their size instead), nor bodies over
 * SG_JOURNAL_MASK_MAX.  Cut at max bytes (then '...'). */
void sg_journal_mask_body(struct sg_buf *out, const char *ct, const char *body, size_t len,
                          size_t max);

/* XXH64 with seed 0 of len bytes: the entries' body hash. */
uint64_t sg_journal_hash(const void *data, size_t len);

/* The server's hook: one finished request (req and resp as the API left
 * them; resp the response sent).  time_ms: instance time when the request
 * began (sg_time_now_ms: what since= filters, so that a test that moved or
 * froze the instance's clock filters in the time it set); start: the
 * monotonic clock (CLOCK_MONOTONIC) then, the latency running to now. */
void sg_journal_note(struct sg_api *api, const struct sg_req *req, const char *method,
                     const struct sg_resp *resp, unsigned long long request_bytes,
                     unsigned long long response_bytes, long long time_ms,
                     const struct timespec *start);

#endif
