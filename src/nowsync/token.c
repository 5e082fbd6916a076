/*
 * token.c - the bearer tokens senders of events authenticate with
 * (intake.h).  A token is 32 random bytes (libsodium), shown once as
 * "nsi_" and base64url; only its BLAKE2b hash (keyed by nothing: the token
 * has 256 bits of entropy, so a hash cannot be searched back) is stored.
 */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "nowsync/intake.h"

#define HASH_LEN 32

static void hash_hex(const char *token, char out[HASH_LEN * 2 + 1])
{
	unsigned char h[HASH_LEN];
	crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL, 0);
	sodium_bin2hex(out, HASH_LEN * 2 + 1, h, sizeof(h));
}

sg_err ns_token_create(struct ns_state *s, const char *name, const char *connection,
                       const char *profile, char token_out[NS_TOKEN_LEN + 1])
{
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	unsigned char raw[32];
	randombytes_buf(raw, sizeof(raw));
	memcpy(token_out, NS_TOKEN_PREFIX, 4);
	sodium_bin2base64(token_out + 4, NS_TOKEN_LEN + 1 - 4, raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	char hex[HASH_LEN * 2 + 1], now[SG_DT_LEN + 1];
	hash_hex(token_out, hex);
	sg_time_format(sg_time_now(), now);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO \"ns_intake_token\" (\"name\", \"hash\", \"connection\", "
	               "\"profile\", \"created_on\") VALUES (");
	sg_sql_text(&q, name);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, hex);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, connection && *connection ? connection : NULL);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, profile && *profile ? profile : NULL);
	sg_sql_raw(&q, ", ");
	sg_sql_text(&q, now);
	sg_sql_raw(&q, ")");
	sg_err err = sg_conn_exec(conn, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	if (err)
		sodium_memzero(token_out, NS_TOKEN_LEN + 1);
	return err;
}

struct list_ctx {
	void (*fn)(void *ud, const struct ns_token_info *t);
	void *ud;
	struct ns_token_info *one;
	bool found;
};

static int read_token(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct list_ctx *l = ud;
	struct ns_token_info t = {0};
	for (int i = 0; i < ncol; i++) {
		const char *v = vals[i] ? vals[i] : "";
		if (!strcmp(names[i], "name"))
			snprintf(t.name, sizeof(t.name), "%s", v);
		else if (!strcmp(names[i], "connection"))
			snprintf(t.connection, sizeof(t.connection), "%s", v);
		else if (!strcmp(names[i], "profile"))
			snprintf(t.profile, sizeof(t.profile), "%s", v);
		else if (!strcmp(names[i], "created_on"))
			snprintf(t.created_on, sizeof(t.created_on), "%s", v);
		else if (!strcmp(names[i], "last_used"))
			snprintf(t.last_used, sizeof(t.last_used), "%s", v);
	}
	l->found = true;
	if (l->one)
		*l->one = t;
	if (l->fn)
		l->fn(l->ud, &t);
	return 0;
}

static const char *const COLUMNS = "SELECT \"name\", \"connection\", \"profile\", \"created_on\", "
                                   "\"last_used\" FROM \"ns_intake_token\"";

sg_err ns_token_list(struct ns_state *s, void (*fn)(void *ud, const struct ns_token_info *t),
                     void *ud)
{
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, COLUMNS);
	sg_sql_raw(&q, " ORDER BY \"name\"");
	struct list_ctx l = {.fn = fn, .ud = ud};
	sg_err err = sg_conn_exec(conn, &q, read_token, &l, NULL);
	sg_sql_cleanup(&q);
	return err;
}

sg_err ns_token_revoke(struct ns_state *s, const char *name)
{
	return ns_state_delete_named(s, "ns_intake_token", name);
}

sg_err ns_token_check(struct ns_state *s, const char *token, struct ns_token_info *info)
{
	memset(info, 0, sizeof(*info));
	/* The shape first: anything else is not one of ours, without a query. */
	if (!token || strlen(token) != NS_TOKEN_LEN || strncmp(token, NS_TOKEN_PREFIX, 4))
		return SG_ERR_NO_RECORD;
	sg_conn *conn = sg_store_conn(s->store);
	if (!conn)
		return SG_ERR_STORE;
	char hex[HASH_LEN * 2 + 1];
	hash_hex(token, hex);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, COLUMNS);
	sg_sql_raw(&q, " WHERE \"hash\" = ");
	sg_sql_text(&q, hex);
	struct list_ctx l = {.one = info};
	sg_err err = sg_conn_exec(conn, &q, read_token, &l, NULL);
	sg_sql_cleanup(&q);
	if (!err && !l.found)
		err = SG_ERR_NO_RECORD;
	/* When it was last used, for `token list`: best effort, at most once a
	 * minute (a write per request would cost more than the request). */
	char now[SG_DT_LEN + 1], cutoff[SG_DT_LEN + 1];
	sg_time_format(sg_time_now(), now);
	sg_time_format(sg_time_now() - 60, cutoff);
	if (!err && strcmp(info->last_used, cutoff) < 0) {
		sg_sql_init(&q);
		sg_sql_raw(&q, "UPDATE \"ns_intake_token\" SET \"last_used\" = ");
		sg_sql_text(&q, now);
		sg_sql_raw(&q, " WHERE \"hash\" = ");
		sg_sql_text(&q, hex);
		sg_conn_exec(conn, &q, NULL, NULL, NULL);
		sg_sql_cleanup(&q);
	}
	return err;
}

/* ---- `nowsync token` ------------------------------------------------------------ */

static bool token_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > NS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

static void print_one(void *ud, const struct ns_token_info *t)
{
	json_t *arr = ud;
	if (arr) {
		json_t *o =
		    json_pack("{s:s, s:s?, s:s?, s:s, s:s?}", "name", t->name, "connection",
		              t->connection[0] ? t->connection : NULL, "profile",
		              t->profile[0] ? t->profile : NULL, "created_on", t->created_on,
		              "last_used", t->last_used[0] ? t->last_used : NULL);
		json_array_append_new(arr, o);
		return;
	}
	printf("%-24s %-16s %-16s %-20s %s\n", t->name, t->connection[0] ? t->connection : "-",
	       t->profile[0] ? t->profile : "-", t->created_on,
	       t->last_used[0] ? t->last_used : "never");
}

int ns_cmd_token(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connection", required_argument, NULL, 'c'},
	    {"profile", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	if (argc < 1) {
		fprintf(stderr, "nowsync: token create|list|revoke ...\n");
		return NS_EXIT_USAGE;
	}
	const char *verb = argv[0], *connection = NULL, *profile = NULL;
	bool json = false;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'c')
			connection = optarg;
		else if (ch == 'p')
			profile = optarg;
		else if (ch == 'j')
			json = true;
		else
			return NS_EXIT_USAGE;
	}
	int npos = argc - optind;
	char **pos = argv + optind;
	if (!strcmp(verb, "list")) {
		if (npos) {
			fprintf(stderr, "nowsync: token list takes no NAME\n");
			return NS_EXIT_USAGE;
		}
		json_t *arr = json ? json_array() : NULL;
		if ((json && !arr) || ns_token_list(st, print_one, arr)) {
			json_decref(arr);
			fprintf(stderr, "nowsync: cannot read the tokens\n");
			return NS_EXIT_FAILED;
		}
		if (arr) {
			char *s = json_dumps(arr, JSON_INDENT(2));
			json_decref(arr);
			if (!s)
				return NS_EXIT_FAILED;
			printf("%s\n", s);
			free(s);
		}
		return 0;
	}
	if (npos != 1 || (strcmp(verb, "create") && strcmp(verb, "revoke"))) {
		fprintf(stderr, "nowsync: token create NAME [--connection C] [--profile P] | "
		                "token list [--json] | token revoke NAME\n");
		return NS_EXIT_USAGE;
	}
	const char *name = pos[0];
	if (!strcmp(verb, "revoke")) {
		sg_err e = ns_token_revoke(st, name);
		if (e) {
			fprintf(stderr,
			        e == SG_ERR_NO_RECORD ? "nowsync: no token called %s\n"
			                              : "nowsync: cannot revoke token %s\n",
			        name);
			return NS_EXIT_FAILED;
		}
		fprintf(stderr, "nowsync: token %s revoked\n", name);
		return 0;
	}
	if (!token_name_ok(name) || (connection && !token_name_ok(connection)) ||
	    (profile && !token_name_ok(profile))) {
		fprintf(stderr,
		        "nowsync: token, connection and profile names are 1-%d letters, "
		        "digits, '_', '.', '-'\n",
		        NS_NAME_MAX);
		return NS_EXIT_USAGE;
	}
	if (connection) {
		struct ns_connection c;
		sg_err e = ns_state_get(st, connection, &c);
		if (e == SG_ERR_NO_RECORD) {
			fprintf(stderr, "nowsync: no connection called %s\n", connection);
			return NS_EXIT_FAILED;
		}
		if (!e)
			ns_connection_clear(&c);
	}
	char tok[NS_TOKEN_LEN + 1];
	sg_err e = ns_token_create(st, name, connection, profile, tok);
	if (e) {
		fprintf(stderr,
		        e == SG_ERR_INVALID_INSERT ? "nowsync: a token called %s exists\n"
		                                   : "nowsync: cannot create token %s\n",
		        name);
		return NS_EXIT_FAILED;
	}
	if (json) {
		printf("{\"name\": \"%s\", \"token\": \"%s\"}\n", name, tok);
	} else {
		printf("%s\n", tok);
		fprintf(
		    stderr,
		    "nowsync: token %s created; it is shown this once (only its hash is kept)\n",
		    name);
	}
	fflush(stdout);
	sodium_memzero(tok, sizeof(tok));
	return 0;
}
