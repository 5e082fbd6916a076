/*
 * lifecycle.c - what one event does to its key's record (delivery.h):
 * create on the first firing, update on a change (not on a repeat),
 * resolve on a clear once the hysteresis has passed without a new firing,
 * reopen when it fires again within the window, else a new record.
 */
#include <string.h>

#include "nowsync/delivery.h"

const char *ns_action_name(enum ns_action a)
{
	static const char *const names[] = {"none",   "create",  "update",
	                                    "reopen", "resolve", "wait"};
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

enum ns_action ns_lifecycle_decide(const struct ns_profile *p, const struct ns_link *l,
                                   enum ns_event_status status, int64_t occurred_at,
                                   const char *hash, int64_t now, int64_t *wait_until)
{
	*wait_until = 0;
	if (status == NS_EVENT_FIRING) {
		switch (l->state) {
		case NS_LINK_NONE:
		case NS_LINK_CLOSED:
			return NS_ACT_CREATE;
		case NS_LINK_OPEN:
			return hash && strcmp(hash, l->hash) ? NS_ACT_UPDATE : NS_ACT_NONE;
		case NS_LINK_RESOLVED:
			return now - l->resolved_at <= p->reopen_window_s ? NS_ACT_REOPEN
			                                                  : NS_ACT_CREATE;
		}
		return NS_ACT_NONE;
	}
	/* a clear */
	if (l->state != NS_LINK_OPEN)
		return NS_ACT_NONE; /* nothing open to resolve */
	if (l->last_firing_at > occurred_at)
		return NS_ACT_NONE; /* it fired again after this clear: flapping, ignored */
	if (p->hysteresis_s > 0 && now < occurred_at + p->hysteresis_s) {
		*wait_until = occurred_at + p->hysteresis_s;
		return NS_ACT_WAIT;
	}
	return NS_ACT_RESOLVE;
}
