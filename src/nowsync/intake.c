/*
 * intake.c - events in (intake.h): the generic JSON event, Prometheus
 * Alertmanager's webhook payload (version 4), the acceptance of a parsed
 * batch, and `nowsync push` (NDJSON).
 *
 * A payload is validated whole before any of it is accepted: a bad event
 * refuses the request (nothing accepted) with the bad field named.  Then
 * each event is accepted on its own (ns_event_accept commits each), so a
 * sender that did not get the answer sends the same payload again and gets
 * "duplicate" for what was already in.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "nowsync/intake.h"

#define SUMMARY_MAX  4096
#define SEVERITY_MAX 64

void ns_parsed_free(struct ns_parsed *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct ns_parsed_event *e = &p->v[i];
		free(e->connection);
		free(e->profile);
		free(e->key);
		free(e->summary);
		free(e->severity);
		json_decref(e->fields);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* ---- time ------------------------------------------------------------------------- */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool ns_parse_rfc3339(const char *s, int64_t *out)
{
	int Y, M, D, h, m, sec;
	if (strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
	    s[7] != '-' || !digits(s + 8, 2, &D) || !strchr("Tt ", s[10]) ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sec > 60)
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	if (Y < 1970) { /* Go's zero time ("0001-01-01T00:00:00Z"): none */
		*out = 0;
		return true;
	}
	struct tm tm = {.tm_year = Y - 1900,
	                .tm_mon = M - 1,
	                .tm_mday = D,
	                .tm_hour = h,
	                .tm_min = m,
	                .tm_sec = sec == 60 ? 59 : sec};
	time_t t = timegm(&tm);
	if (tm.tm_mday != D) /* 29 February of a common year */
		return false;
	*out = (int64_t)t - off;
	if (*out < 0)
		*out = 0;
	return true;
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool fail(char *err, size_t errsz, const char *where, const char *field, const char *why)
{
	snprintf(err, errsz, "%s%s%s: %s", where, *where && *field ? "." : "", field, why);
	return false;
}

static bool grow(struct ns_parsed *out, size_t n)
{
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	return out->v != NULL;
}

/* A string of 1..max bytes without control characters. */
static bool clean_string(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > NS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* connection or profile of an event: the token's binding, or the event's own
 * (which must then agree with a binding).  optional: neither is fine, *out
 * stays NULL (an event without a connection goes by its profile's). */
static bool bound_name(json_t *obj, const char *field, const char *bound, bool optional,
                       const char *where, char **out, char *err, size_t errsz)
{
	json_t *v = obj ? json_object_get(obj, field) : NULL;
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || !name_ok(json_string_value(v)))
			return fail(err, errsz, where, field,
			            "must be a name (letters, digits, '_', '.', '-')");
		if (bound && *bound && strcmp(bound, json_string_value(v))) {
			char why[200];
			snprintf(why, sizeof(why), "this token is bound to %s %s", field, bound);
			return fail(err, errsz, where, field, why);
		}
		*out = strdup(json_string_value(v));
	} else if (bound && *bound) {
		*out = strdup(bound);
	} else if (optional) {
		*out = NULL;
		return true;
	} else {
		return fail(err, errsz, where, field,
		            "required (the token is not bound to one; `nowsync token create "
		            "--profile` binds it)");
	}
	if (!*out)
		return fail(err, errsz, where, field, "out of memory");
	return true;
}

static bool parse_status(json_t *v, enum ns_event_status *st)
{
	const char *s = json_string_value(v);
	if (!s)
		return false;
	if (!strcmp(s, "firing"))
		*st = NS_EVENT_FIRING;
	else if (!strcmp(s, "resolved"))
		*st = NS_EVENT_RESOLVED;
	else
		return false;
	return true;
}

static void link_event(struct ns_parsed_event *e, const char *source)
{
	e->ev.connection = e->connection;
	e->ev.profile = e->profile;
	e->ev.key = e->key;
	e->ev.summary = e->summary;
	e->ev.severity = e->severity;
	e->ev.fields = e->fields;
	e->ev.source = source;
}

/* ---- the generic event ---------------------------------------------------------------- */

static const char *const generic_fields[] = {
    "key",    "status", "summary",    "severity", "occurred_at",
    "fields", "labels", "connection", "profile",  NULL,
};

static bool parse_one_generic(json_t *o, const struct ns_intake_ctx *ctx, const char *where,
                              struct ns_parsed_event *e, char *err, size_t errsz)
{
	if (!json_is_object(o))
		return fail(err, errsz, where, "", "an event is a JSON object");
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool known = false;
		for (const char *const *f = generic_fields; *f && !known; f++)
			known = !strcmp(k, *f);
		if (!known)
			return fail(err, errsz, where, k,
			            "unknown field (an event has key, status, summary, severity, "
			            "occurred_at, fields, labels, connection, profile)");
	}
	v = json_object_get(o, "key");
	if (!json_is_string(v) || !clean_string(json_string_value(v), NS_KEY_MAX))
		return fail(err, errsz, where, "key",
		            "required: a string of 1-512 characters without control characters");
	if (!(e->key = strdup(json_string_value(v))))
		return fail(err, errsz, where, "key", "out of memory");
	if (!parse_status(json_object_get(o, "status"), &e->ev.status))
		return fail(err, errsz, where, "status", "required: \"firing\" or \"resolved\"");
	v = json_object_get(o, "summary");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || strlen(json_string_value(v)) > SUMMARY_MAX)
			return fail(err, errsz, where, "summary", "a string of at most 4096 bytes");
		if (!(e->summary = strdup(json_string_value(v))))
			return fail(err, errsz, where, "summary", "out of memory");
	}
	v = json_object_get(o, "severity");
	if (v && !json_is_null(v)) {
		char num[32];
		const char *sv = json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			sv = num;
		}
		if (!sv || !clean_string(sv, SEVERITY_MAX))
			return fail(err, errsz, where, "severity",
			            "a string (critical, warning, ...) or an integer");
		if (!(e->severity = strdup(sv)))
			return fail(err, errsz, where, "severity", "out of memory");
	}
	v = json_object_get(o, "occurred_at");
	if (v && !json_is_null(v)) {
		int64_t t = -1;
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			t = json_integer_value(v);
		else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e12)
			t = (int64_t)json_real_value(v);
		else if (json_is_string(v) && !ns_parse_rfc3339(json_string_value(v), &t))
			t = -1;
		if (t < 0 || t > 253402300799LL)
			return fail(
			    err, errsz, where, "occurred_at",
			    "an RFC 3339 date-time (2024-05-01T10:00:00Z) or epoch seconds");
		e->ev.occurred_at = t;
	}
	static const char *const objects[] = {"fields", "labels"};
	for (int i = 0; i < 2; i++) {
		v = json_object_get(o, objects[i]);
		if (v && !json_is_null(v) && !json_is_object(v))
			return fail(err, errsz, where, objects[i], "an object");
	}
	if (!bound_name(o, "connection", ctx->connection, true, where, &e->connection, err,
	                errsz) ||
	    !bound_name(o, "profile", ctx->profile, false, where, &e->profile, err, errsz))
		return false;
	/* What the profile's templates read: the event as sent, less where it goes. */
	e->fields = json_deep_copy(o);
	if (!e->fields)
		return fail(err, errsz, where, "", "out of memory");
	json_object_del(e->fields, "connection");
	json_object_del(e->fields, "profile");
	link_event(e, ctx->source ? ctx->source : "generic");
	return true;
}

bool ns_parse_generic(json_t *root, const struct ns_intake_ctx *ctx, struct ns_parsed *out,
                      char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	bool batch = json_is_array(root);
	size_t n = batch ? json_array_size(root) : 1;
	if (!batch && !json_is_object(root))
		return fail(err, errsz, "", "body", "a JSON event object or an array of them");
	if (batch && (n == 0 || n > NS_INTAKE_MAX_EVENTS))
		return fail(err, errsz, "", "events", "an array of 1-1000 events");
	if (!grow(out, n))
		return fail(err, errsz, "", "body", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char where[32] = "";
		if (batch)
			snprintf(where, sizeof(where), "events[%zu]", i);
		out->n = i + 1;
		if (!parse_one_generic(batch ? json_array_get(root, i) : root, ctx, where,
		                       &out->v[i], err, errsz)) {
			ns_parsed_free(out);
			return false;
		}
	}
	return true;
}

/* ---- Alertmanager ------------------------------------------------------------------------ */

/* A label set's key when the alert has no fingerprint: a hash of its
 * labels in name order. */
static char *labels_key(json_t *labels)
{
	char *canon = json_dumps(labels, JSON_SORT_KEYS | JSON_COMPACT);
	if (!canon)
		return NULL;
	unsigned char h[16];
	crypto_generichash(h, sizeof(h), (const unsigned char *)canon, strlen(canon), NULL, 0);
	free(canon);
	char hex[33], *out = malloc(40);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	if (out)
		snprintf(out, 40, "labels:%s", hex);
	return out;
}

/* "a=x,b=y" from the labels named in list ("a,b"). */
static bool key_from_labels(json_t *labels, const char *list, const char *where, char **out,
                            char *err, size_t errsz)
{
	size_t cap = NS_KEY_MAX + 1, len = 0;
	char *k = calloc(1, cap);
	if (!k)
		return fail(err, errsz, where, "labels", "out of memory");
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		char name[128];
		if (n == 0 || n >= sizeof(name)) {
			free(k);
			return fail(err, errsz, "", "key_labels",
			            "a comma-separated list of label names");
		}
		memcpy(name, p, n);
		name[n] = '\0';
		const char *v = json_string_value(json_object_get(labels, name));
		if (!v) {
			free(k);
			char field[160];
			snprintf(field, sizeof(field), "labels.%s", name);
			return fail(err, errsz, where, field, "missing, and key_labels names it");
		}
		int w = snprintf(k + len, cap - len, "%s%s=%s", len ? "," : "", name, v);
		if (w < 0 || (size_t)w >= cap - len) {
			free(k);
			return fail(err, errsz, where, "labels",
			            "the key made of key_labels is over 512 characters");
		}
		len += (size_t)w;
		p += n;
		if (*p == ',')
			p++;
	}
	*out = k;
	return true;
}

static bool time_field(json_t *a, const char *name, const char *where, int64_t *t, char *err,
                       size_t errsz)
{
	json_t *v = json_object_get(a, name);
	*t = 0;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || !ns_parse_rfc3339(json_string_value(v), t))
		return fail(err, errsz, where, name, "an RFC 3339 date-time");
	return true;
}

static bool parse_one_alert(json_t *root, json_t *a, const struct ns_intake_ctx *ctx,
                            const char *where, struct ns_parsed_event *e, char *err, size_t errsz)
{
	if (!json_is_object(a))
		return fail(err, errsz, where, "", "an alert is a JSON object");
	if (!parse_status(json_object_get(a, "status"), &e->ev.status))
		return fail(err, errsz, where, "status", "required: \"firing\" or \"resolved\"");
	json_t *labels = json_object_get(a, "labels");
	if (!json_is_object(labels) || json_object_size(labels) == 0)
		return fail(err, errsz, where, "labels", "required: an object of labels");
	const char *ln;
	json_t *lv;
	json_object_foreach(labels, ln, lv)
	{
		if (!json_is_string(lv)) {
			char field[160];
			snprintf(field, sizeof(field), "labels.%.140s", ln);
			return fail(err, errsz, where, field, "a label's value is a string");
		}
	}
	json_t *ann = json_object_get(a, "annotations");
	if (ann && !json_is_null(ann) && !json_is_object(ann))
		return fail(err, errsz, where, "annotations", "an object");
	int64_t starts, ends;
	if (!time_field(a, "startsAt", where, &starts, err, errsz) ||
	    !time_field(a, "endsAt", where, &ends, err, errsz))
		return false;
	json_t *fp = json_object_get(a, "fingerprint");
	if (fp && !json_is_null(fp) &&
	    (!json_is_string(fp) || !clean_string(json_string_value(fp), NS_KEY_MAX)))
		return fail(err, errsz, where, "fingerprint", "a string");
	json_t *gen = json_object_get(a, "generatorURL");
	if (gen && !json_is_null(gen) && !json_is_string(gen))
		return fail(err, errsz, where, "generatorURL", "a string");
	if (ctx->key_labels && *ctx->key_labels) {
		if (!key_from_labels(labels, ctx->key_labels, where, &e->key, err, errsz))
			return false;
	} else if (json_is_string(fp)) {
		e->key = strdup(json_string_value(fp));
	} else {
		e->key = labels_key(labels);
	}
	if (!e->key)
		return fail(err, errsz, where, "", "out of memory");
	e->ev.occurred_at = e->ev.status == NS_EVENT_RESOLVED && ends > 0 ? ends : starts;
	const char *summary = json_string_value(json_object_get(ann, "summary"));
	if (!summary)
		summary = json_string_value(json_object_get(ann, "description"));
	if (!summary)
		summary = json_string_value(json_object_get(labels, "alertname"));
	if (summary && !(e->summary = strndup(summary, SUMMARY_MAX)))
		return fail(err, errsz, where, "", "out of memory");
	const char *sev = json_string_value(json_object_get(labels, "severity"));
	if (sev && !(e->severity = strndup(sev, SEVERITY_MAX)))
		return fail(err, errsz, where, "", "out of memory");
	if (!bound_name(NULL, "connection", ctx->connection, true, where, &e->connection, err,
	                errsz) ||
	    !bound_name(NULL, "profile", ctx->profile, false, where, &e->profile, err, errsz))
		return false;
	/* The templates read the alert and the group's common parts.  A firing
	 * alert's endsAt moves forward on every re-send (Prometheus re-sends
	 * while it fires): left out, so a repeated notification is a duplicate. */
	e->fields = json_deep_copy(a);
	if (!e->fields)
		return fail(err, errsz, where, "", "out of memory");
	if (e->ev.status == NS_EVENT_FIRING)
		json_object_del(e->fields, "endsAt");
	static const char *const group[] = {"receiver",       "groupKey",          "groupLabels",
	                                    "commonLabels",   "commonAnnotations", "externalURL",
	                                    "truncatedAlerts"};
	for (size_t i = 0; i < sizeof(group) / sizeof(group[0]); i++) {
		json_t *g = json_object_get(root, group[i]);
		if (g && json_object_set(e->fields, group[i], g))
			return fail(err, errsz, where, "", "out of memory");
	}
	if (!json_object_get(e->fields, "annotations") &&
	    json_object_set_new(e->fields, "annotations", json_object()))
		return fail(err, errsz, where, "", "out of memory");
	link_event(e, "alertmanager");
	return true;
}

bool ns_parse_alertmanager(json_t *root, const struct ns_intake_ctx *ctx, struct ns_parsed *out,
                           char *err, size_t errsz)
{
	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (!json_is_object(root))
		return fail(err, errsz, "", "body",
		            "an Alertmanager webhook payload (a JSON object)");
	json_t *ver = json_object_get(root, "version");
	if (ver && !(json_is_string(ver) && !strcmp(json_string_value(ver), "4")))
		return fail(err, errsz, "", "version",
		            "only version \"4\" of the payload is known");
	json_t *gk = json_object_get(root, "groupKey");
	if (gk && !json_is_null(gk) && !json_is_string(gk))
		return fail(err, errsz, "", "groupKey", "a string");
	json_t *alerts = json_object_get(root, "alerts");
	if (!json_is_array(alerts))
		return fail(err, errsz, "", "alerts", "required: an array of alerts");
	size_t n = json_array_size(alerts);
	if (n > NS_INTAKE_MAX_EVENTS)
		return fail(err, errsz, "", "alerts",
		            "at most 1000 alerts (max_alerts in the "
		            "webhook_config)");
	if (!grow(out, n))
		return fail(err, errsz, "", "body", "out of memory");
	for (size_t i = 0; i < n; i++) {
		char where[32];
		snprintf(where, sizeof(where), "alerts[%zu]", i);
		out->n = i + 1;
		if (!parse_one_alert(root, json_array_get(alerts, i), ctx, where, &out->v[i], err,
		                     errsz)) {
			ns_parsed_free(out);
			return false;
		}
	}
	return true;
}

/* ---- acceptance -------------------------------------------------------------------------- */

sg_err ns_intake_accept(struct ns_state *st, struct ns_parsed *p, json_t **results,
                        struct ns_intake_counts *counts, char *err, size_t errsz)
{
	*results = NULL;
	memset(counts, 0, sizeof(*counts));
	/* Every connection named must exist: checked for the whole batch first. */
	for (size_t i = 0; i < p->n; i++) {
		bool seen = !p->v[i].connection; /* none: the profile's, checked on accept */
		for (size_t j = 0; j < i && !seen; j++)
			seen =
			    p->v[j].connection && !strcmp(p->v[j].connection, p->v[i].connection);
		if (seen)
			continue;
		struct ns_connection c;
		sg_err e = ns_state_get(st, p->v[i].connection, &c);
		if (e == SG_ERR_NO_RECORD) {
			snprintf(err, errsz, "%s[%zu].connection: no connection called %s",
			         !strcmp(p->v[i].ev.source, "alertmanager") ? "alerts" : "events",
			         i, p->v[i].connection);
			return SG_ERR_BAD_PARAM;
		}
		if (e && e != SG_ERR_INTERNAL) { /* INTERNAL: its secrets do not open; it exists */
			snprintf(err, errsz, "cannot read the connections");
			return e;
		}
		ns_connection_clear(&c);
	}
	json_t *arr = json_array();
	if (!arr) {
		snprintf(err, errsz, "out of memory");
		return SG_ERR_NOMEM;
	}
	for (size_t i = 0; i < p->n; i++) {
		char id[33] = "", msg[256] = "";
		bool dup = false;
		sg_err e = ns_event_accept(st, &p->v[i].ev, id, &dup, msg, sizeof(msg));
		json_t *r;
		if (e == SG_ERR_OK) {
			r = json_pack("{s:s, s:s, s:s}", "key", p->v[i].key, "id", id, "result",
			              dup ? "duplicate" : "accepted");
			if (dup)
				counts->duplicates++;
			else
				counts->accepted++;
		} else if (e == SG_ERR_BAD_PARAM) {
			r = json_pack("{s:s, s:s, s:s}", "key", p->v[i].key, "result", "refused",
			              "error", msg[0] ? msg : "refused");
			counts->refused++;
		} else {
			/* The store failed: what came before is committed and listed; the
			 * rest is not, and the sender must send again (duplicates are
			 * recognised). */
			json_decref(arr);
			snprintf(err, errsz,
			         "the event %zu could not be made durable (%s); the "
			         "earlier ones were; send the payload again",
			         i, msg[0] ? msg : "store error");
			counts->failed_at = i;
			return e;
		}
		if (!r || json_array_append_new(arr, r)) {
			json_decref(arr);
			snprintf(err, errsz, "out of memory");
			return SG_ERR_NOMEM;
		}
	}
	*results = arr;
	return SG_ERR_OK;
}

/* ---- `nowsync push` ---------------------------------------------------------------------------
 */

#define LINE_MAX_BYTES (1024 * 1024)

int ns_cmd_push(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connection", required_argument, NULL, 'c'},
	    {"profile", required_argument, NULL, 'p'},
	    {"quiet", no_argument, NULL, 'q'},
	    {NULL, 0, NULL, 0},
	};
	struct ns_intake_ctx ctx = {.source = "push"};
	bool quiet = false;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'c')
			ctx.connection = optarg;
		else if (ch == 'p')
			ctx.profile = optarg;
		else if (ch == 'q')
			quiet = true;
		else
			return NS_EXIT_USAGE;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "nowsync: push takes FILE or - (NDJSON: one event per line)\n");
		return NS_EXIT_USAGE;
	}
	const char *path = argv[optind];
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f) {
		fprintf(stderr, "nowsync: cannot open %s: %s\n", path, strerror(errno));
		return NS_EXIT_FAILED;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0, accepted = 0, dups = 0, errors = 0;
	bool broken = false;
	while (!broken && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		size_t skip = strspn(line, " \t");
		if (!line[skip])
			continue;
		char err[512] = "";
		if (len > LINE_MAX_BYTES) {
			printf("line %lu: error: longer than 1 MiB\n", lineno);
			errors++;
			continue;
		}
		json_error_t je;
		json_t *root = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		struct ns_parsed p = {0};
		if (!root) {
			printf("line %lu: error: not JSON: %s (column %d)\n", lineno, je.text,
			       je.column);
			errors++;
			continue;
		}
		if (!json_is_object(root)) {
			printf("line %lu: error: a line is one event (a JSON object)\n", lineno);
			errors++;
		} else if (!ns_parse_generic(root, &ctx, &p, err, sizeof(err))) {
			printf("line %lu: error: %s\n", lineno, err);
			errors++;
		} else {
			json_t *res = NULL;
			struct ns_intake_counts c;
			sg_err e = ns_intake_accept(st, &p, &res, &c, err, sizeof(err));
			json_t *r0 = json_array_get(res, 0);
			if (e == SG_ERR_BAD_PARAM || c.refused) {
				const char *why =
				    c.refused ? json_string_value(json_object_get(r0, "error"))
				              : err;
				printf("line %lu: error: %s\n", lineno, why ? why : "refused");
				errors++;
			} else if (e) {
				printf("line %lu: error: %s\n", lineno, err);
				errors++;
				broken = true; /* the store failed: stop, the rest is not read */
			} else {
				if (!quiet || c.duplicates)
					printf("line %lu: %s %s\n", lineno,
					       c.duplicates ? "duplicate" : "accepted",
					       json_string_value(json_object_get(r0, "id")));
				accepted += c.accepted;
				dups += c.duplicates;
			}
			json_decref(res);
		}
		ns_parsed_free(&p);
		json_decref(root);
	}
	bool read_err = ferror(f);
	free(line);
	if (f != stdin)
		fclose(f);
	fflush(stdout);
	fprintf(stderr, "nowsync: %lu accepted, %lu duplicate, %lu failed%s\n", accepted, dups,
	        errors, broken ? " (stopped: the state store failed)" : "");
	if (read_err) {
		fprintf(stderr, "nowsync: error reading %s\n", path);
		return NS_EXIT_FAILED;
	}
	return errors ? NS_EXIT_FAILED : 0;
}
