/* branch-only: removed when the parts merge */
/*
 * pending_intake.c - stands in for the delivery side of event.h (built on
 * branch h16-deliver) so that intake can be built and tested alone.  It is
 * NOT durable: events are kept in this process's memory only, to recognise
 * duplicates; nothing is delivered.  ns_workers_* do nothing.  The tests
 * that need real delivery are listed in tests/blackbox/test_nowsync_intake.py
 * and skipped here.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "nowsync/event.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char (*seen)[16];
static size_t nseen, capseen;

static void digest_str(crypto_generichash_state *h, const char *s)
{
	const char *v = s ? s : "";
	size_t n = strlen(v) + 1; /* the NUL separates fields */
	crypto_generichash_update(h, (const unsigned char *)v, n);
}

sg_err ns_event_accept(struct ns_state *s, const struct ns_event *ev, char id_out[33],
                       bool *duplicate, char *msg, size_t msg_size)
{
	(void)s;
	if (duplicate)
		*duplicate = false;
	if (!ev->key || !*ev->key || !ev->connection || !ev->profile) {
		snprintf(msg, msg_size, "an event needs a key, a connection and a profile");
		return SG_ERR_BAD_PARAM;
	}
	char *fields = ev->fields ? json_dumps(ev->fields, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	if (ev->fields && !fields) {
		snprintf(msg, msg_size, "out of memory");
		return SG_ERR_NOMEM;
	}
	char when[32];
	snprintf(when, sizeof(when), "%lld/%d", (long long)ev->occurred_at, (int)ev->status);
	unsigned char d[16];
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, sizeof(d));
	digest_str(&h, ev->connection);
	digest_str(&h, ev->profile);
	digest_str(&h, ev->key);
	digest_str(&h, when);
	digest_str(&h, fields);
	crypto_generichash_final(&h, d, sizeof(d));
	free(fields);
	if (id_out)
		sodium_bin2hex(id_out, 33, d, sizeof(d));
	pthread_mutex_lock(&lock);
	bool dup = false;
	for (size_t i = 0; i < nseen && !dup; i++)
		dup = !memcmp(seen[i], d, sizeof(d));
	sg_err err = SG_ERR_OK;
	if (!dup && nseen == capseen) {
		size_t cap = capseen ? capseen * 2 : 256;
		void *p = realloc(seen, cap * sizeof(*seen));
		if (p) {
			seen = p;
			capseen = cap;
		} else {
			snprintf(msg, msg_size, "out of memory");
			err = SG_ERR_NOMEM;
		}
	}
	if (!dup && !err)
		memcpy(seen[nseen++], d, sizeof(d));
	pthread_mutex_unlock(&lock);
	if (duplicate)
		*duplicate = dup;
	return err;
}

struct ns_workers {
	int n;
};

sg_err ns_workers_start(struct ns_state *s, int n, struct ns_workers **out)
{
	(void)s;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return SG_ERR_NOMEM;
	(*out)->n = n;
	return SG_ERR_OK;
}

void ns_workers_wake(struct ns_workers *w)
{
	(void)w;
}

void ns_workers_stop(struct ns_workers *w)
{
	free(w);
}
