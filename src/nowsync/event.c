/*
 * event.c - ns_event_accept (event.h): an event made durable in the state
 * database as its own outbox item, in one transaction, deduplicated.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "nowsync/delivery.h"

#define NS_KEY_MAX     512
#define NS_SUMMARY_MAX 4096
#define NS_FIELDS_MAX  (64 * 1024)

static int copy_first(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(ud, 33, "%s", vals[0]);
	return 1;
}

/* The dedup digest: every part the contract names, each length-prefixed. */
static void dedup_hash(const struct ns_event *ev, const char *conn, const char *fields,
                       char out[65])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	const char *parts[] = {conn,
	                       ev->profile,
	                       ev->key,
	                       ev->status == NS_EVENT_FIRING ? "firing" : "resolved",
	                       ev->summary ? ev->summary : "",
	                       ev->severity ? ev->severity : "",
	                       fields ? fields : ""};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		uint64_t n = strlen(parts[i]);
		crypto_generichash_update(&st, (const unsigned char *)&n, sizeof(n));
		crypto_generichash_update(&st, (const unsigned char *)parts[i], n);
	}
	int64_t t = ev->occurred_at;
	crypto_generichash_update(&st, (const unsigned char *)&t, sizeof(t));
	unsigned char h[32];
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

sg_err ns_event_accept(struct ns_state *s, const struct ns_event *ev, char id_out[33],
                       bool *duplicate, char *msg, size_t msg_size)
{
	if (duplicate)
		*duplicate = false;
	if (id_out)
		id_out[0] = '\0';
	msg[0] = '\0';
	if (!ev->key || !*ev->key || strlen(ev->key) > NS_KEY_MAX) {
		snprintf(msg, msg_size, "an event needs a key of 1 to %d bytes", NS_KEY_MAX);
		return SG_ERR_BAD_PARAM;
	}
	if (ev->summary && strlen(ev->summary) > NS_SUMMARY_MAX) {
		snprintf(msg, msg_size, "the summary is over %d bytes", NS_SUMMARY_MAX);
		return SG_ERR_BAD_PARAM;
	}
	if (ev->severity && strlen(ev->severity) > 64) {
		snprintf(msg, msg_size, "the severity is over 64 bytes");
		return SG_ERR_BAD_PARAM;
	}
	if (ev->fields && !json_is_object(ev->fields)) {
		snprintf(msg, msg_size, "an event's fields are an object");
		return SG_ERR_BAD_PARAM;
	}
	if (ev->status != NS_EVENT_FIRING && ev->status != NS_EVENT_RESOLVED) {
		snprintf(msg, msg_size, "an event is firing or resolved");
		return SG_ERR_BAD_PARAM;
	}
	struct ns_profile p;
	sg_err e = ns_profile_load(ev->profile, &p, msg, msg_size);
	if (e)
		return e == SG_ERR_NOMEM ? e : SG_ERR_BAD_PARAM;
	char conn_name[NS_NAME_MAX + 1];
	const char *cn = ev->connection && *ev->connection ? ev->connection : p.connection;
	snprintf(conn_name, sizeof(conn_name), "%s", cn ? cn : "");
	ns_profile_clear(&p);
	if (!*conn_name) {
		snprintf(msg, msg_size,
		         "no connection: the event names none and profile %s has none",
		         ev->profile);
		return SG_ERR_BAD_PARAM;
	}
	char *fields = ev->fields ? json_dumps(ev->fields, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (ev->fields && !fields)
		return SG_ERR_NOMEM;
	if (fields && strlen(fields) > NS_FIELDS_MAX) {
		free(fields);
		snprintf(msg, msg_size, "the event's fields are over %d bytes", NS_FIELDS_MAX);
		return SG_ERR_BAD_PARAM;
	}
	sg_conn *db = sg_store_conn(s->store);
	if (!db) {
		free(fields);
		return SG_ERR_STORE;
	}
	char dedup[65] = "";
	if (ev->occurred_at)
		dedup_hash(ev, conn_name, fields, dedup);
	char id[33], found[33] = "";
	sg_id_new(id);
	int64_t now = sg_time_now();
	e = sg_conn_begin(db, true);
	struct sg_sql q;
	sg_sql_init(&q);
	if (!e) {
		sg_sql_raw(&q, "SELECT \"name\" FROM \"ns_connection\" WHERE \"name\" = ");
		sg_sql_text(&q, conn_name);
		e = sg_conn_exec(db, &q, copy_first, found, NULL);
		if (!e && !*found) {
			snprintf(msg, msg_size, "no connection called %s", conn_name);
			e = SG_ERR_BAD_PARAM;
		}
	}
	if (!e && *dedup) {
		found[0] = '\0';
		sg_sql_reset(&q);
		sg_sql_raw(&q, "SELECT \"id\" FROM \"ns_event\" WHERE \"dedup\" = ");
		sg_sql_text(&q, dedup);
		e = sg_conn_exec(db, &q, copy_first, found, NULL);
		if (!e && *found) {
			if (duplicate)
				*duplicate = true;
			if (id_out)
				memcpy(id_out, found, 33);
			sg_sql_cleanup(&q);
			free(fields);
			sg_conn_rollback(db);
			return SG_ERR_OK;
		}
	}
	if (!e) {
		sg_sql_reset(&q);
		sg_sql_raw(
		    &q, "INSERT INTO \"ns_event\" (\"seq\", \"id\", \"connection\", \"profile\", "
		        "\"ekey\", \"status\", \"summary\", \"severity\", \"fields\", "
		        "\"occurred_at\", \"received_at\", \"source\", \"dedup\", \"state\", "
		        "\"next_at\", \"updated_at\") SELECT COALESCE(MAX(\"seq\"), 0) + 1, ");
		sg_sql_text(&q, id);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, conn_name);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, ev->profile);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, ev->key);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, ev->status == NS_EVENT_FIRING ? "firing" : "resolved");
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, ev->summary);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, ev->severity);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, fields);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, ev->occurred_at ? ev->occurred_at : now);
		sg_sql_raw(&q, ", ");
		sg_sql_int(&q, now);
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, ev->source ? ev->source : "generic");
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, *dedup ? dedup : NULL);
		sg_sql_raw(&q, ", 'pending', 0, ");
		sg_sql_int(&q, now);
		sg_sql_raw(&q, " FROM \"ns_event\"");
		e = sg_conn_exec(db, &q, NULL, NULL, NULL);
	}
	sg_sql_cleanup(&q);
	free(fields);
	if (e) {
		sg_conn_rollback(db);
		return e;
	}
	e = sg_conn_commit(db);
	if (!e && id_out)
		memcpy(id_out, id, 33);
	return e;
}
