/*
 * ticket.c - a profile's ticket policy: the default priority, sent as the
 * impact and urgency ServiceNow computes priority from, and the event
 * categories that create tickets (an event of another category creates
 * nothing, and says why in its trace).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nowsync/delivery.h"

#define MAX_CATEGORIES   64
#define MAX_CATEGORY_LEN 100

/*
 * ServiceNow's default priority lookup (dl_u_priority, "Priority is based
 * on impact and urgency"): priority = impact + urgency - 1 over 1..3 each.
 * Each priority is given by the pair of the diagonal nearest the centre.
 */
static const struct {
	const char *priority, *impact, *urgency;
} pairs[] = {
    {"1", "1", "1"}, {"2", "1", "2"}, {"3", "2", "2"}, {"4", "2", "3"}, {"5", "3", "3"},
};

bool ns_priority_pair(const char *priority, const char **impact, const char **urgency)
{
	for (size_t i = 0; priority && i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (!strcmp(priority, pairs[i].priority)) {
			*impact = pairs[i].impact;
			*urgency = pairs[i].urgency;
			return true;
		}
	return false;
}

bool ns_ticket_parse(json_t *root, struct ns_profile *p, char *msg, size_t msgsz)
{
	json_t *pr = json_object_get(root, "priority");
	if (pr) {
		const char *i, *u;
		char v[8] = "";
		if (json_is_integer(pr))
			snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(pr));
		else if (json_is_string(pr) && strlen(json_string_value(pr)) < sizeof(v))
			snprintf(v, sizeof(v), "%s", json_string_value(pr));
		if (!ns_priority_pair(v, &i, &u)) {
			snprintf(msg, msgsz,
			         "\"priority\" is 1 (Critical) to 5 (Planning): sent as impact and "
			         "urgency");
			return false;
		}
		p->priority[0] = v[0]; /* one digit: ns_priority_pair took it */
		p->priority[1] = '\0';
	}
	json_t *cat = json_object_get(root, "categories");
	if (!cat)
		return true;
	json_t *list = json_is_object(cat) ? json_object_get(cat, "create") : NULL;
	json_t *from = json_is_object(cat) ? json_object_get(cat, "from") : NULL;
	const char *k;
	json_t *v;
	bool ok = json_is_array(list) && json_array_size(list) <= MAX_CATEGORIES &&
	          (!from || json_is_string(from));
	json_object_foreach(cat, k, v) ok = ok && (!strcmp(k, "create") || !strcmp(k, "from"));
	size_t n;
	json_array_foreach(list, n, v) ok = ok && json_is_string(v) && *json_string_value(v) &&
	                                    strlen(json_string_value(v)) <= MAX_CATEGORY_LEN;
	if (!ok) {
		snprintf(msg, msgsz,
		         "\"categories\" is {\"create\": [up to %d names], \"from\": \"template of "
		         "an event's category\" ({{labels.category}})}",
		         MAX_CATEGORIES);
		return false;
	}
	p->category_from = strdup(from ? json_string_value(from) : "{{labels.category}}");
	p->categories = json_incref(list);
	if (!p->category_from) {
		snprintf(msg, msgsz, "out of memory");
		return false;
	}
	return true;
}

bool ns_ticket_wanted(const struct ns_profile *p, const struct ns_tvars *v, char *why, size_t whysz)
{
	*why = '\0';
	if (!p->categories)
		return true;
	char *cat = ns_template_render(p->category_from, v);
	if (!cat) {
		snprintf(why, whysz, "the category could not be rendered (out of memory)");
		return false;
	}
	size_t i;
	json_t *c;
	json_array_foreach(p->categories, i, c) if (!strcmp(json_string_value(c), cat))
	{
		free(cat);
		return true;
	}
	char *list = json_dumps(p->categories, JSON_COMPACT);
	if (*cat)
		snprintf(why, whysz,
		         "not a ticket: category \"%.100s\" is not one profile %s creates tickets "
		         "for %.300s",
		         cat, p->name, list ? list : "");
	else
		snprintf(why, whysz,
		         "not a ticket: the event has no category (%s) and profile %s creates "
		         "tickets only for %.300s",
		         p->category_from, p->name, list ? list : "");
	free(list);
	free(cat);
	return false;
}
