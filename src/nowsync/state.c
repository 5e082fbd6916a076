/*
 * state.c - nowsync's own database (nowsync.h): schema created and migrated
 * on open, connections with their secrets sealed under a key kept outside
 * the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "net/redact.h"
#include "nowsync/backsync.h"
#include "nowsync/delivery.h"
#include "nowsync/nowsync.h"
#include "nowsync/ops.h"
#include "nowsync/rmm.h"

static const char *const auth_names[] = {"password", "client_credentials", "refresh_token",
                                         "basic"};

const char *ns_auth_name(enum ns_auth a)
{
	return (unsigned)a < 4 ? auth_names[a] : "?";
}

bool ns_auth_parse(const char *s, enum ns_auth *out)
{
	for (unsigned i = 0; i < 4; i++)
		if (s && !strcmp(s, auth_names[i])) {
			*out = (enum ns_auth)i;
			return true;
		}
	return false;
}

static void wipe_free(char **p)
{
	if (*p) {
		sodium_memzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void ns_connection_clear(struct ns_connection *c)
{
	free(c->name);
	free(c->instance);
	free(c->client_id);
	free(c->user);
	wipe_free(&c->client_secret);
	wipe_free(&c->password);
	wipe_free(&c->refresh_token);
	wipe_free(&c->access_token);
	free(c->ca_file);
	free(c->proxy);
	free(c->created_on);
	memset(c, 0, sizeof(*c));
}

/* ---- the schema: one list of statements per version -------------------------- */

static const char *const schema_v1[] = {
    "CREATE TABLE \"ns_connection\" ("
    "\"name\" TEXT PRIMARY KEY, \"instance\" TEXT NOT NULL, \"auth\" TEXT NOT NULL, "
    "\"client_id\" TEXT, \"user_name\" TEXT, \"client_secret\" TEXT, \"password\" TEXT, "
    "\"refresh_token\" TEXT, \"access_token\" TEXT, \"access_expires\" BIGINT, "
    "\"ca_file\" TEXT, \"proxy\" TEXT, \"insecure\" INTEGER NOT NULL DEFAULT 0, "
    "\"timeout_ms\" BIGINT NOT NULL DEFAULT 30000, \"created_on\" TEXT NOT NULL, "
    "\"updated_on\" TEXT NOT NULL)",
    NULL,
};
/* Leases (several processes on one database): who holds an item in flight
 * and until when (epoch ms).  0: taken back at once (an item left in flight
 * before leases, by a process that had no other beside it). */
static const char *const schema_v2[] = {
    "ALTER TABLE \"ns_event\" ADD COLUMN \"claimed_by\" TEXT",
    "ALTER TABLE \"ns_event\" ADD COLUMN \"lease_until\" BIGINT NOT NULL DEFAULT 0",
    NULL,
};
static const char *const *const migrations[NS_SCHEMA_VERS] = {schema_v1, schema_v2};

static int first_value(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	(void)names;
	if (ncol > 0 && vals[0])
		snprintf(ud, 32, "%s", vals[0]);
	return 1;
}

static sg_err migrate(sg_conn *c, char *msg, size_t msgsz)
{
	sg_err err = sg_conn_begin(c, true);
	if (err)
		return err;
	err = sg_conn_exec_raw(c, "CREATE TABLE IF NOT EXISTS \"ns_meta\" (\"name\" TEXT PRIMARY "
	                          "KEY, \"value\" TEXT NOT NULL)");
	char have[32] = "0";
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"value\" FROM \"ns_meta\" WHERE \"name\" = ");
	sg_sql_text(&q, "schema_version");
	if (!err)
		err = sg_conn_exec(c, &q, first_value, have, NULL);
	sg_sql_cleanup(&q);
	long long v = 0;
	if (!err && !sg_str_number(have, 0, 1000000, &v))
		v = -1;
	if (!err && (v < 0 || v > NS_SCHEMA_VERS)) {
		snprintf(msg, msgsz,
		         "the state database has schema version %s, newer than this nowsync (%d)",
		         have, NS_SCHEMA_VERS);
		err = SG_ERR_STORE;
	}
	/* the unversioned tables first: a versioned step may alter them */
	if (!err)
		err = ns_state_migrate_delivery(c);
	if (!err)
		err = ns_state_migrate_ops(c);
	for (long long i = v; !err && i < NS_SCHEMA_VERS; i++)
		for (const char *const *s = migrations[i]; !err && *s; s++)
			err = sg_conn_exec_raw(c, *s);
	if (!err && v < NS_SCHEMA_VERS) {
		char vers[16];
		snprintf(vers, sizeof(vers), "%d", NS_SCHEMA_VERS);
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM \"ns_meta\" WHERE \"name\" = ");
		sg_sql_text(&q, "schema_version");
		err = sg_conn_exec(c, &q, NULL, NULL, NULL);
		sg_sql_reset(&q);
		sg_sql_raw(&q, "INSERT INTO \"ns_meta\" (\"name\", \"value\") VALUES (");
		sg_sql_text(&q, "schema_version");
		sg_sql_raw(&q, ", ");
		sg_sql_text(&q, vers);
		sg_sql_raw(&q, ")");
		if (!err)
			err = sg_conn_exec(c, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	if (err) {
		sg_conn_rollback(c);
		if (!*msg)
			snprintf(msg, msgsz, "cannot create or migrate the state schema");
		return err;
	}
	return sg_conn_commit(c);
}

/* ---- delivery's tables (events and their outbox, links, caches) ------------------
 * Kept apart from the versioned list above: every statement is "IF NOT
 * EXISTS", so it runs on every open and merges with other parts' tables. */

static const char *const delivery_tables[] = {
    /* an accepted event is its own outbox item: ordered per key by seq */
    "CREATE TABLE IF NOT EXISTS \"ns_event\" ("
    "\"seq\" BIGINT PRIMARY KEY, \"id\" TEXT NOT NULL UNIQUE, \"connection\" TEXT NOT NULL, "
    "\"profile\" TEXT NOT NULL, \"ekey\" TEXT NOT NULL, \"status\" TEXT NOT NULL, "
    "\"summary\" TEXT, \"severity\" TEXT, \"fields\" TEXT, \"occurred_at\" BIGINT NOT NULL, "
    "\"received_at\" BIGINT NOT NULL, \"source\" TEXT, \"dedup\" TEXT UNIQUE, "
    "\"state\" TEXT NOT NULL, \"attempts\" BIGINT NOT NULL DEFAULT 0, "
    "\"next_at\" BIGINT NOT NULL DEFAULT 0, \"action\" TEXT, \"sys_id\" TEXT, "
    "\"last_status\" BIGINT, \"last_error\" TEXT, \"updated_at\" BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS \"ns_event_due\" ON \"ns_event\" (\"state\", \"next_at\")",
    "CREATE INDEX IF NOT EXISTS \"ns_event_key\" ON \"ns_event\" (\"connection\", "
    "\"profile\", \"ekey\", \"seq\")",
    /* the record each key is linked to */
    "CREATE TABLE IF NOT EXISTS \"ns_link\" (\"connection\" TEXT NOT NULL, \"profile\" TEXT "
    "NOT NULL, \"ekey\" TEXT NOT NULL, \"state\" TEXT NOT NULL, \"sys_id\" TEXT, \"hash\" "
    "TEXT, \"resolved_at\" BIGINT NOT NULL DEFAULT 0, \"last_firing_at\" BIGINT NOT NULL "
    "DEFAULT 0, \"updated_at\" BIGINT NOT NULL, PRIMARY KEY (\"connection\", \"profile\", "
    "\"ekey\"))",
    /* the instance's dictionary per connection and table, with when it was read */
    "CREATE TABLE IF NOT EXISTS \"ns_dict_cache\" (\"connection\" TEXT NOT NULL, \"tbl\" "
    "TEXT NOT NULL, \"body\" TEXT NOT NULL, \"fetched_at\" BIGINT NOT NULL, PRIMARY KEY "
    "(\"connection\", \"tbl\"))",
    /* requests sent per connection per hour (the hourly budget) */
    "CREATE TABLE IF NOT EXISTS \"ns_budget\" (\"connection\" TEXT NOT NULL, \"hour\" BIGINT "
    "NOT NULL, \"used\" BIGINT NOT NULL, PRIMARY KEY (\"connection\", \"hour\"))",
    NULL,
};

sg_err ns_state_migrate_delivery(sg_conn *c)
{
	sg_err err = SG_ERR_OK;
	for (const char *const *s = delivery_tables; !err && *s; s++)
		err = sg_conn_exec_raw(c, *s);
	return err;
}

/* ---- intake tokens' table (issue 16 item 4; kept apart from the versioned
 * migrations above so that each part's tables merge on their own) ---------- */

static const char *const schema_intake[] = {
    "CREATE TABLE IF NOT EXISTS \"ns_intake_token\" ("
    "\"name\" TEXT PRIMARY KEY, \"hash\" TEXT NOT NULL UNIQUE, \"connection\" TEXT, "
    "\"profile\" TEXT, \"created_on\" TEXT NOT NULL, \"last_used\" TEXT)",
    NULL,
};

static sg_err migrate_intake(sg_conn *c)
{
	sg_err err = sg_conn_begin(c, true);
	for (const char *const *s = schema_intake; !err && *s; s++)
		err = sg_conn_exec_raw(c, *s);
	if (err) {
		sg_conn_rollback(c);
		return err;
	}
	return sg_conn_commit(c);
}

/* ---- the key ------------------------------------------------------------------ */

/* 1 read, 0 missing, -1 unusable (msg says why). */
static int read_key(const char *path, unsigned char key[SG_SECRET_KEY_LEN], char *msg, size_t msgsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(msg, msgsz, "cannot open the key file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	unsigned char buf[SG_SECRET_KEY_LEN + 1];
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && !(st.st_mode & 077))
		n = read(fd, buf, sizeof(buf));
	else
		snprintf(msg, msgsz, "the key file %s is readable by others (chmod 600 it)", path);
	close(fd);
	if (n != SG_SECRET_KEY_LEN) {
		if (!*msg)
			snprintf(msg, msgsz, "the key file %s is not %d bytes", path,
			         SG_SECRET_KEY_LEN);
		sodium_memzero(buf, sizeof(buf));
		return -1;
	}
	memcpy(key, buf, SG_SECRET_KEY_LEN);
	sodium_memzero(buf, sizeof(buf));
	return 1;
}

static int make_key(const char *path, unsigned char key[SG_SECRET_KEY_LEN], char *msg, size_t msgsz)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (slash && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(msg, msgsz, "cannot make %s: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == EEXIST) /* another process made it first: use that one */
			return read_key(path, key, msg, msgsz);
		snprintf(msg, msgsz, "cannot make the key file %s: %s", path, strerror(errno));
		return -1;
	}
	unsigned char fresh[SG_SECRET_KEY_LEN];
	randombytes_buf(fresh, sizeof(fresh));
	bool ok = write(fd, fresh, sizeof(fresh)) == (ssize_t)sizeof(fresh) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok) {
		sodium_memzero(fresh, sizeof(fresh));
		unlink(path);
		snprintf(msg, msgsz, "cannot write the key file %s", path);
		return -1;
	}
	memcpy(key, fresh, SG_SECRET_KEY_LEN);
	sodium_memzero(fresh, sizeof(fresh));
	return 1;
}

static int get_key(const char *db_path, unsigned char key[SG_SECRET_KEY_LEN], char *msg,
                   size_t msgsz)
{
	const char *env = getenv(NS_KEY_ENV);
	if (env && *env) {
		size_t len = 0;
		if (sodium_base642bin(key, SG_SECRET_KEY_LEN, env, strlen(env), NULL, &len, NULL,
		                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    len != SG_SECRET_KEY_LEN) {
			snprintf(msg, msgsz, "%s is not the base64 of %d bytes", NS_KEY_ENV,
			         SG_SECRET_KEY_LEN);
			return -1;
		}
		return 1;
	}
	if (!db_path) {
		snprintf(msg, msgsz, "this store has no file beside which to keep the key: set %s",
		         NS_KEY_ENV);
		return -1;
	}
	char path[4096];
	if (!sg_secret_key_path(db_path, path, sizeof(path))) {
		snprintf(msg, msgsz, "the key file's path is too long");
		return -1;
	}
	int r = read_key(path, key, msg, msgsz);
	return r != 0 ? r : make_key(path, key, msg, msgsz);
}

/* ---- open / close -------------------------------------------------------------- */

void ns_owner_place(char *out, size_t outsz)
{
	char host[64] = "", ns[48] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
		snprintf(host, sizeof(host), "nowsync");
	for (char *c = host; *c; c++)
		if (*c == ':')
			*c = '-';
	/* the pid namespace: a pid means the same process only inside it */
	ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	ns[n > 0 ? n : 0] = '\0';
	char *open = strchr(ns, '['), *close = open ? strchr(open, ']') : NULL;
	if (open && close) {
		*close = '\0';
		memmove(ns, open + 1, strlen(open + 1) + 1);
	} else {
		ns[0] = '\0';
	}
	snprintf(out, outsz, "%.63s:%s", host, *ns ? ns : "-");
}

sg_err ns_state_open(const char *where, struct ns_state **out, char *msg, size_t msgsz)
{
	*out = NULL;
	msg[0] = '\0';
	if (sodium_init() < 0) {
		snprintf(msg, msgsz, "libsodium did not start");
		return SG_ERR_INTERNAL;
	}
	char url[4200];
	const char *db_path = NULL;
	if (!strncmp(where, "sqlite:", 7)) {
		snprintf(url, sizeof(url), "%s", where);
		db_path = where + 7;
		if (!strncmp(db_path, "//", 2))
			db_path += 2;
	} else if (strstr(where, "://")) {
		snprintf(url, sizeof(url), "%s", where); /* another backend: NOWSYNC_KEY */
	} else {
		if (mkdir(where, 0700) != 0 && errno != EEXIST) {
			snprintf(msg, msgsz, "cannot make %s: %s", where, strerror(errno));
			return SG_ERR_STORE;
		}
		int n = snprintf(url, sizeof(url), "sqlite:%s/nowsync.db", where);
		if (n < 0 || (size_t)n >= sizeof(url)) {
			snprintf(msg, msgsz, "the data directory's name is too long");
			return SG_ERR_STORE;
		}
		db_path = url + 7;
	}
	struct ns_state *s = calloc(1, sizeof(*s));
	if (!s)
		return SG_ERR_NOMEM;
	ns_owner_place(s->owner, sizeof(s->owner));
	size_t used = strlen(s->owner);
	snprintf(s->owner + used, sizeof(s->owner) - used, ":%ld:%08x", (long)getpid(),
	         (unsigned)randombytes_random());
	s->lease_ms = (int64_t)NS_LEASE_S_DEFAULT * 1000;
	sg_err err = sg_store_open(url, true, &s->store);
	if (err) {
		char *shown = sg_net_masked_url(url); /* a URL may carry a password */
		snprintf(msg, msgsz, "cannot open the state database %s",
		         shown ? shown : "named by --db");
		free(shown);
		free(s);
		return err;
	}
	if (get_key(db_path, s->key, msg, msgsz) != 1) {
		ns_state_close(s);
		return SG_ERR_INTERNAL;
	}
	sg_conn *c = sg_store_conn(s->store);
	err = c ? migrate(c, msg, msgsz) : SG_ERR_STORE;
	if (!err)
		err = migrate_intake(c);
	if (!err)
		err = ns_state_migrate_backsync(c);
	if (!err)
		err = ns_state_migrate_rmm(c);
	if (err) {
		if (!*msg)
			snprintf(msg, msgsz, "cannot use the state database %s", url);
		ns_state_close(s);
		return err;
	}
	*out = s;
	return SG_ERR_OK;
}

void ns_state_close(struct ns_state *s)
{
	if (!s)
		return;
	if (s->store)
		sg_store_close(s->store);
	sodium_memzero(s->key, sizeof(s->key));
	free(s);
}

/* ---- connections ----------------------------------------------------------------- */

/* Binds v sealed (NULL binds NULL); false when sealing failed. */
static bool bind_sealed(struct ns_state *s, struct sg_sql *q, const char *v)
{
	if (!v) {
		sg_sql_text(q, NULL);
		return true;
	}
	char *sealed = NULL;
	if (sg_secret_seal_with(s->key, v, &sealed))
		return false;
	sg_sql_text(q, sealed);
	free(sealed);
	return true;
}

sg_err ns_state_add(struct ns_state *s, const struct ns_connection *c)
{
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_connection\" (\"name\", \"instance\", \"auth\", "
	               "\"client_id\", \"user_name\", \"client_secret\", \"password\", "
	               "\"refresh_token\", \"ca_file\", \"proxy\", \"insecure\", \"timeout_ms\", "
	               "\"created_on\", \"updated_on\") VALUES (");
	sg_sql_text(&q, c->name);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->instance);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, ns_auth_name(c->auth));
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->client_id);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->user);
	sg_sql_raw(&q, ", ");
	bool ok = bind_sealed(s, &q, c->client_secret);
	sg_sql_raw(&q, ", ");
	ok = ok && bind_sealed(s, &q, c->password);
	sg_sql_raw(&q, ", ");
	ok = ok && bind_sealed(s, &q, c->refresh_token);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->ca_file);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, c->proxy);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, c->insecure);
	sg_sql_raw(&q, ", ");
	sg_sql_int(&q, c->timeout_ms);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, now);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, now);
	sg_sql_raw(&q, ")");
	sg_err err = ok ? sg_conn_exec(conn, &q, NULL, NULL, NULL) : SG_ERR_NOMEM;
	sg_sql_cleanup(&q);
	return err;
}

struct row_ctx {
	struct ns_state *s;
	struct ns_connection *c;
	bool open_secrets;
	bool found;
	sg_err err;
	void (*fn)(void *ud, const struct ns_connection *c);
	void *ud;
};

static char *dup_or_null(const char *v)
{
	return v ? strdup(v) : NULL;
}

static int read_row(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct row_ctx *rc = ud;
	struct ns_connection tmp = {0}, *c = rc->c ? rc->c : &tmp;
	memset(c, 0, sizeof(*c));
	bool nomem = false;
	for (int i = 0; i < ncol; i++) {
		const char *n = names[i], *v = vals[i];
		char **slot = NULL, **secret = NULL;
		if (!strcmp(n, "name"))
			slot = &c->name;
		else if (!strcmp(n, "instance"))
			slot = &c->instance;
		else if (!strcmp(n, "client_id"))
			slot = &c->client_id;
		else if (!strcmp(n, "user_name"))
			slot = &c->user;
		else if (!strcmp(n, "ca_file"))
			slot = &c->ca_file;
		else if (!strcmp(n, "proxy"))
			slot = &c->proxy;
		else if (!strcmp(n, "created_on"))
			slot = &c->created_on;
		else if (!strcmp(n, "client_secret"))
			secret = &c->client_secret;
		else if (!strcmp(n, "password"))
			secret = &c->password;
		else if (!strcmp(n, "refresh_token"))
			secret = &c->refresh_token;
		else if (!strcmp(n, "access_token"))
			secret = &c->access_token;
		else if (!strcmp(n, "auth"))
			ns_auth_parse(v, &c->auth);
		else if (!strcmp(n, "insecure"))
			c->insecure = v && strcmp(v, "0") != 0;
		else if (!strcmp(n, "timeout_ms"))
			c->timeout_ms = v ? atol(v) : 30000;
		else if (!strcmp(n, "access_expires"))
			c->access_expires = v ? atoll(v) : 0;
		if (slot && v && !(*slot = strdup(v)))
			nomem = true;
		if (secret && v && rc->open_secrets) {
			sg_err e = sg_secret_open_with(rc->s->key, v, secret);
			if (e) {
				rc->err = e == SG_ERR_NOMEM ? e : SG_ERR_INTERNAL;
				*secret = NULL;
			}
		} else if (secret && v && !rc->open_secrets) {
			/* listed without its secrets: only whether there is one */
			if (!(*secret = dup_or_null("")))
				nomem = true;
		}
	}
	if (nomem)
		rc->err = SG_ERR_NOMEM;
	rc->found = true;
	if (rc->fn && !rc->err)
		rc->fn(rc->ud, c);
	if (c == &tmp)
		ns_connection_clear(&tmp);
	return rc->err ? 1 : 0;
}

sg_err ns_state_get(struct ns_state *s, const char *name, struct ns_connection *out)
{
	memset(out, 0, sizeof(*out));
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_connection\" WHERE \"name\" = ");
	sg_sql_text(&q, name);
	struct row_ctx rc = {.s = s, .c = out, .open_secrets = true};
	sg_err err = sg_conn_exec(conn, &q, read_row, &rc, NULL);
	sg_sql_cleanup(&q);
	if (!err)
		err = rc.err;
	if (!err && !rc.found)
		err = SG_ERR_NO_RECORD;
	if (err)
		ns_connection_clear(out);
	return err;
}

sg_err ns_state_list(struct ns_state *s, void (*fn)(void *ud, const struct ns_connection *c),
                     void *ud)
{
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT * FROM \"ns_connection\" ORDER BY \"name\"");
	struct row_ctx rc = {.s = s, .fn = fn, .ud = ud};
	sg_err err = sg_conn_exec(conn, &q, read_row, &rc, NULL);
	sg_sql_cleanup(&q);
	return err ? err : rc.err;
}

sg_err ns_state_delete_named(struct ns_state *s, const char *table, const char *name)
{
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "DELETE FROM ");
	sg_sql_ident(&q, table);
	sg_sql_raw(&q, " WHERE \"name\" = ");
	sg_sql_text(&q, name);
	long long changed = 0;
	sg_err err = sg_conn_exec(conn, &q, NULL, NULL, &changed);
	sg_sql_cleanup(&q);
	return err ? err : changed ? SG_ERR_OK : SG_ERR_NO_RECORD;
}

sg_err ns_state_remove(struct ns_state *s, const char *name)
{
	return ns_state_delete_named(s, "ns_connection", name);
}

sg_err ns_state_save_tokens(struct ns_state *s, const char *name, const char *access,
                            int64_t expires, const char *refresh)
{
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	char now[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"ns_connection\" SET \"access_token\" = ");
	bool ok = bind_sealed(s, &q, access);
	sg_sql_raw(&q, ", \"access_expires\" = ");
	sg_sql_int(&q, access ? expires : 0);
	if (refresh) {
		sg_sql_raw(&q, ", \"refresh_token\" = ");
		ok = ok && bind_sealed(s, &q, refresh);
	}
	sg_sql_raw(&q, ", \"updated_on\" = ");
	sg_sql_text(&q, now);
	sg_sql_raw(&q, " WHERE \"name\" = ");
	sg_sql_text(&q, name);
	sg_err err = ok ? sg_conn_exec(conn, &q, NULL, NULL, NULL) : SG_ERR_NOMEM;
	sg_sql_cleanup(&q);
	return err;
}
