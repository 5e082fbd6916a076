/*
 * nowsync - the connector a product uses to talk to ServiceNow instances
 * (real ones and nowd) through the Table API.  This file is its command
 * line; nowsync.h is the inner API.
 */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/version.h"
#include "nowsync/backsync.h"
#include "nowsync/rmm.h"
#include "nowsync/delivery.h"
#include "nowsync/intake.h"
#include "nowsync/ops.h"
#include "nowsync/fields.h"
#include "nowsync/reads.h"
#include "nowsync/nowsync.h"

static void usage(FILE *f)
{
	fputs("usage: nowsync [--data DIR | --db URL] COMMAND ...\n"
	      "       nowsync --version | --help\n"
	      "\n"
	      "State: --data DIR (SQLite DIR/nowsync.db, key DIR/keys/nowsync.key) or --db URL\n"
	      "(sqlite:PATH); also NOWSYNC_DATA, NOWSYNC_DB; default $XDG_DATA_HOME/nowsync or\n"
	      "~/.local/share/nowsync.  NOWSYNC_KEY (base64 of 32 bytes) replaces the key file.\n"
	      "\n"
	      "Commands\n"
	      "  connection add NAME --instance URL|SUBDOMAIN\n"
	      "       [--auth password|client_credentials|refresh_token|basic]\n"
	      "       [--client-id ID] [--user NAME] [--ca-file PEM] [--proxy URL|\"\"]\n"
	      "       [--insecure] [--timeout SECONDS] [--secrets-stdin] [--no-test]\n"
	      "       [--probe-writes] [--profile P]... [--json]\n"
	      "      secrets never on the command line: NOWSYNC_CLIENT_SECRET, NOWSYNC_PASSWORD,\n"
	      "      NOWSYNC_REFRESH_TOKEN, or --secrets-stdin (lines client_secret=...,\n"
	      "      password=..., refresh_token=...), or a prompt on a terminal.  The\n"
	      "      connection is tested first and saved only when its credentials work.\n"
	      "  connection list [--json]\n"
	      "  connection show NAME [--json]\n"
	      "  connection remove NAME   the connection and everything attached to it: its\n"
	      "      secrets and tokens, queued and dead events, links, trace, caches,\n"
	      "      back-syncs and intake tokens bound to it\n"
	      "  connection test NAME [--json] [--probe-writes] [--profile P]...\n"
	      "      --profile: the tables and default assignment group of profile P\n"
	      "      --probe-writes creates, updates and deletes a marked record in each table\n"
	      "      that needs create/write (ServiceNow has no dry run)\n"
	      "  profile list | show NAME | check NAME [--connection C] [--json]\n"
	      "      mapping profiles: DIR/NAME.json in --profiles DIR (NOWSYNC_PROFILES;\n"
	      "      default: profiles/ beside the state; for a server's --db URL\n"
	      "      $XDG_CONFIG_HOME/nowsync/profiles or ~/.config/nowsync/profiles)\n"
	      "  outbox list [--state pending|inflight|done|dead | --dead] [--json]\n"
	      "  outbox retry ID                a dead letter back to pending\n"
	      "  run [--workers N] [--wait] [--timeout SECONDS] [--progress S] [--log-level L]\n"
	      "      [--lease S] [--json]\n"
	      "      delivers the outbox without a server: until nothing is due (--wait:\n"
	      "      until nothing is pending); exit 3 when dead letters exist, 4 when\n"
	      "      items are still pending; --lease: how long an item this process\n"
	      "      took stays its own unrenewed (default 60; renewed every third)\n"
	      "  api NAME METHOD PATH            one Table API request on the connection (PATH\n"
	      "      from /api/now/; a POST, PUT or PATCH body is read from stdin); prints the\n"
	      "      answer's status on stderr and its body on stdout; exit 0 for a 2xx\n"
	      "  token create NAME [--connection C] [--profile P] [--json]\n"
	      "      a bearer token for the intake endpoints, printed once (only its hash\n"
	      "      is kept); bound to a connection and profile when given\n"
	      "  token list [--json] | token revoke NAME\n"
	      "  serve [--listen ADDR] [--port N] [--workers N] [--max-body BYTES]\n"
	      "       [--max-conn N] [--timeout S] [--grace S] [--tls-cert PEM --tls-key PEM]\n"
	      "       [--log-level debug|info|warn|error] [--no-metrics] [--lease S]\n"
	      "      the intake daemon: POST /v1/events, POST /v1/alertmanager, GET /healthz,\n"
	      "      GET /metrics (Prometheus)\n"
	      "  trace KEY [--profile P] [--connection C] [--json]\n"
	      "      one key's history: events in, decisions, requests out and their answers,\n"
	      "      retries, dead letters; exit 5 when nothing is recorded for KEY\n"
	      "  read CONNECTION TABLE [--query Q] [--fields F] [--page N] [--after SYS_ID]\n"
	      "       [--all] [--max N] [--json]\n"
	      "      follow-ups, CMDB CIs, users, groups (task, cmdb_ci*, sys_user,\n"
	      "      sys_user_group, sys_user_grmember) by keyset paging on sys_id\n"
	      "  push FILE|- [--connection C] [--profile P] [--quiet]\n"
	      "      NDJSON events (one per line) into the state; exit 1 if any line failed\n"
	      "  backsync add CONNECTION [--table T] (--webhook URL | --ndjson PATH|-)\n"
	      "       [--all-records] [--filter Q] [--closed-states 6,7,8] [--fields LIST]\n"
	      "       [--overlap S] [--lag S] [--page N] [--interval S] [--since TIME]\n"
	      "  fields CONNECTION [--table T] [--json]\n"
	      "      the fields a record of T (incident) can carry, from the instance's\n"
	      "      sys_db_object, sys_dictionary, sys_glide_object and sys_choice; exit 6\n"
	      "      (and the read ACLs to add) when metadata reads were refused or empty\n"
	      "  backsync list [--json] | queue [--json] | remove CONNECTION [--table T]\n"
	      "  backsync run [--once] CONNECTION|--all [--table T] [--quiet]\n"
	      "  rmm integration|orgs|map|devices|sync|alerts|list CONNECTION ...  an RMM's\n"
	      "      organizations, devices (IRE) and alerts (docs/nowsync.md)\n"
	      "      changes made in the instance, delivered as events (serve runs them too;\n"
	      "      serve takes pushed changes at POST /v1/changes); exit 4: undelivered\n"
	      "\n"
	      "Exit status: 0 ok, 1 failed, 2 bad usage; connection test and add: 10 DNS,\n"
	      "11 TCP connect, 12 TLS/certificate, 13 timeout, 14 not a ServiceNow instance,\n"
	      "15 token refused, 16 basic auth refused, 17 API scope missing, 18 API access\n"
	      "refused, 19 a needed table operation refused, 20 a --profile check failed.\n",
	      f);
}

static const char *state_where(const char *data, const char *db, char *buf, size_t sz)
{
	if (db)
		return db;
	if (data)
		return data;
	const char *e = getenv("NOWSYNC_DB");
	if (e && *e)
		return e;
	e = getenv("NOWSYNC_DATA");
	if (e && *e)
		return e;
	e = getenv("XDG_DATA_HOME");
	if (e && *e) {
		snprintf(buf, sz, "%s/nowsync", e);
		return buf;
	}
	e = getenv("HOME");
	snprintf(buf, sz, "%s/.local/share/nowsync", e && *e ? e : ".");
	return buf;
}

/* ---- the instance URL ----------------------------------------------------------- */

/* A full http(s) URL (its trailing slashes dropped), a host name (https://),
 * or a bare subdomain (https://SUB.service-now.com).  NULL when none. */
static char *instance_url(const char *in)
{
	char *out = NULL;
	size_t n = strlen(in);
	if (!n || n > 2000)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] <= ' ' || in[i] == '?' || in[i] == '#')
			return NULL;
	if (!strncmp(in, "https://", 8) || !strncmp(in, "http://", 7)) {
		const char *host = strstr(in, "://") + 3;
		size_t auth_len = strcspn(host, "/");
		if (!*host || *host == '/' || memchr(host, '@', auth_len))
			return NULL; /* no credentials in the URL: they would be stored in clear */
		out = strdup(in);
	} else if (strstr(in, "://")) {
		return NULL; /* another scheme */
	} else if (strchr(in, '.') || strchr(in, ':')) {
		if (strchr(in, '/'))
			return NULL;
		if (asprintf(&out, "https://%s", in) < 0)
			out = NULL;
	} else {
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)in[i]) && in[i] != '-')
				return NULL;
		if (asprintf(&out, "https://%s.service-now.com", in) < 0)
			out = NULL;
	}
	if (out) {
		size_t len = strlen(out);
		while (len && out[len - 1] == '/')
			out[--len] = '\0';
	}
	return out;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > NS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

/* ---- secrets ------------------------------------------------------------------------ */

static char *prompt_secret(const char *what)
{
	if (!isatty(STDIN_FILENO))
		return NULL;
	struct termios old, quiet;
	bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
	fprintf(stderr, "%s: ", what);
	fflush(stderr);
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char buf[4096];
	char *line = fgets(buf, sizeof(buf), stdin);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	char *out = NULL;
	if (line) {
		buf[strcspn(buf, "\r\n")] = '\0';
		out = strdup(buf);
	}
	sodium_memzero(buf, sizeof(buf));
	return out;
}

/* client_secret=..., password=..., refresh_token=... lines from stdin. */
static bool read_secrets_stdin(char **secret, char **password, char **refresh)
{
	char buf[8192];
	bool ok = true;
	while (ok && fgets(buf, sizeof(buf), stdin)) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (!buf[0])
			continue;
		char *eq = strchr(buf, '=');
		char **slot = NULL;
		if (eq) {
			*eq = '\0';
			slot = !strcmp(buf, "client_secret")   ? secret
			       : !strcmp(buf, "password")      ? password
			       : !strcmp(buf, "refresh_token") ? refresh
			                                       : NULL;
		}
		if (!slot) {
			fprintf(stderr, "nowsync: --secrets-stdin takes lines client_secret=..., "
			                "password=..., refresh_token=...\n");
			ok = false;
		} else {
			free(*slot);
			*slot = strdup(eq + 1);
			ok = *slot != NULL;
		}
	}
	sodium_memzero(buf, sizeof(buf));
	return ok;
}

static char *env_secret(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strdup(v) : NULL;
}

/* ---- output helpers ---------------------------------------------------------------- */

static json_t *connection_json(const struct ns_connection *c)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:I}", "name", c->name,
	                      "instance", c->instance, "auth", ns_auth_name(c->auth),
	                      "client_secret_set", c->client_secret != NULL, "password_set",
	                      c->password != NULL, "refresh_token_set", c->refresh_token != NULL,
	                      "insecure", c->insecure, "timeout_ms", (json_int_t)c->timeout_ms);
	if (!j)
		return NULL;
	json_object_set_new(j, "client_id", c->client_id ? json_string(c->client_id) : json_null());
	json_object_set_new(j, "user", c->user ? json_string(c->user) : json_null());
	json_object_set_new(j, "ca_file", c->ca_file ? json_string(c->ca_file) : json_null());
	json_object_set_new(j, "proxy", c->proxy ? json_string(c->proxy) : json_null());
	json_object_set_new(j, "created_on",
	                    c->created_on ? json_string(c->created_on) : json_null());
	if (c->access_token && c->access_expires) {
		char when[SG_DT_LEN + 1];
		sg_time_format(c->access_expires, when);
		json_object_set_new(j, "access_token_expires", json_string(when));
	}
	return j;
}

static int print_json_value(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!s) {
		fprintf(stderr, "nowsync: out of memory\n");
		return NS_EXIT_FAILED;
	}
	printf("%s\n", s);
	free(s);
	return 0;
}

struct list_ctx {
	bool json;
	json_t *arr;
	int n;
};

static void list_one(void *ud, const struct ns_connection *c)
{
	struct list_ctx *l = ud;
	l->n++;
	if (l->json) {
		json_array_append_new(l->arr, connection_json(c));
		return;
	}
	printf("%-20s %-19s %s%s\n", c->name, ns_auth_name(c->auth), c->instance,
	       c->insecure ? "  (INSECURE: certificate not verified)" : "");
}

static void warn_insecure(const struct ns_connection *c)
{
	if (c->insecure)
		fprintf(stderr,
		        "nowsync: WARNING: connection %s does not verify %s's TLS certificate "
		        "(--insecure): anyone on the path can read its credentials\n",
		        c->name, c->instance);
}

/* ---- commands ------------------------------------------------------------------------ */

enum {
	OPT_INSTANCE = 256,
	OPT_AUTH,
	OPT_CLIENT_ID,
	OPT_USER,
	OPT_CA_FILE,
	OPT_PROXY,
	OPT_INSECURE,
	OPT_TIMEOUT,
	OPT_SECRETS_STDIN,
	OPT_NO_TEST,
	OPT_PROBE_WRITES,
	OPT_JSON,
	OPT_PROFILE,
};

static const struct option conn_opts[] = {
    {"instance", required_argument, NULL, OPT_INSTANCE},
    {"auth", required_argument, NULL, OPT_AUTH},
    {"client-id", required_argument, NULL, OPT_CLIENT_ID},
    {"user", required_argument, NULL, OPT_USER},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"proxy", required_argument, NULL, OPT_PROXY},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"secrets-stdin", no_argument, NULL, OPT_SECRETS_STDIN},
    {"no-test", no_argument, NULL, OPT_NO_TEST},
    {"probe-writes", no_argument, NULL, OPT_PROBE_WRITES},
    {"json", no_argument, NULL, OPT_JSON},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {NULL, 0, NULL, 0},
};

struct conn_args {
	const char *instance, *auth, *client_id, *user, *ca_file, *proxy;
	bool insecure, secrets_stdin, no_test, probe_writes, json, auth_given;
	long timeout_s;
	const char *profiles[NS_DIAG_MAX_PROFILES];
	int nprofiles;
};

static int parse_conn_args(int argc, char **argv, struct conn_args *a)
{
	memset(a, 0, sizeof(*a));
	a->timeout_s = 30;
	optind = 0; /* GNU getopt: start over on a new argv */
	int ch;
	while ((ch = getopt_long(argc, argv, "", conn_opts, NULL)) != -1) {
		long long v;
		switch (ch) {
		case OPT_INSTANCE:
			a->instance = optarg;
			break;
		case OPT_AUTH:
			a->auth = optarg;
			break;
		case OPT_CLIENT_ID:
			a->client_id = optarg;
			break;
		case OPT_USER:
			a->user = optarg;
			break;
		case OPT_CA_FILE:
			a->ca_file = optarg;
			break;
		case OPT_PROXY:
			a->proxy = optarg;
			break;
		case OPT_INSECURE:
			a->insecure = true;
			break;
		case OPT_SECRETS_STDIN:
			a->secrets_stdin = true;
			break;
		case OPT_NO_TEST:
			a->no_test = true;
			break;
		case OPT_PROBE_WRITES:
			a->probe_writes = true;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_PROFILE:
			if (a->nprofiles == NS_DIAG_MAX_PROFILES) {
				fprintf(stderr, "nowsync: at most %d --profile\n",
				        NS_DIAG_MAX_PROFILES);
				return -1;
			}
			a->profiles[a->nprofiles++] = optarg;
			break;
		case OPT_TIMEOUT:
			if (!sg_str_number(optarg, 1, 3600, &v)) {
				fprintf(stderr, "nowsync: --timeout takes 1..3600 seconds\n");
				return -1;
			}
			a->timeout_s = (long)v;
			break;
		default:
			return -1;
		}
	}
	return optind;
}

static int cmd_add(struct ns_state *st, const char *name, const struct conn_args *a)
{
	if (!valid_name(name)) {
		fprintf(stderr,
		        "nowsync: a connection name is 1-%d letters, digits, '_', '.', "
		        "'-'\n",
		        NS_NAME_MAX);
		return NS_EXIT_USAGE;
	}
	if (!a->instance) {
		fprintf(stderr, "nowsync: connection add needs --instance URL or SUBDOMAIN\n");
		return NS_EXIT_USAGE;
	}
	struct ns_connection c = {0};
	int rc = NS_EXIT_USAGE;
	c.name = strdup(name);
	c.instance = instance_url(a->instance);
	if (!c.instance) {
		fprintf(stderr,
		        "nowsync: --instance takes an http(s) URL, a host name, or a subdomain of "
		        "service-now.com\n");
		goto out;
	}
	if (a->auth) {
		if (!ns_auth_parse(a->auth, &c.auth)) {
			fprintf(stderr, "nowsync: --auth is password, client_credentials, "
			                "refresh_token or basic\n");
			goto out;
		}
	} else {
		c.auth = a->client_id ? (a->user ? NS_AUTH_PASSWORD : NS_AUTH_CLIENT_CREDENTIALS)
		                      : NS_AUTH_BASIC;
	}
	bool oauth = c.auth != NS_AUTH_BASIC;
	if (oauth && !a->client_id) {
		fprintf(stderr, "nowsync: --auth %s needs --client-id\n", ns_auth_name(c.auth));
		goto out;
	}
	if ((c.auth == NS_AUTH_PASSWORD || c.auth == NS_AUTH_BASIC) && !a->user) {
		fprintf(stderr, "nowsync: --auth %s needs --user\n", ns_auth_name(c.auth));
		goto out;
	}
	c.client_id = a->client_id ? strdup(a->client_id) : NULL;
	c.user = a->user ? strdup(a->user) : NULL;
	c.ca_file = a->ca_file ? strdup(a->ca_file) : NULL;
	c.proxy = a->proxy ? strdup(a->proxy) : NULL;
	c.insecure = a->insecure;
	c.timeout_ms = a->timeout_s * 1000;
	if (a->ca_file && access(a->ca_file, R_OK) != 0) {
		fprintf(stderr, "nowsync: cannot read --ca-file %s\n", a->ca_file);
		goto out;
	}

	/* secrets: --secrets-stdin, else the environment, else a prompt */
	if (a->secrets_stdin &&
	    !read_secrets_stdin(&c.client_secret, &c.password, &c.refresh_token))
		goto out;
	bool need_secret = oauth,
	     need_password = c.auth == NS_AUTH_PASSWORD || c.auth == NS_AUTH_BASIC,
	     need_refresh = c.auth == NS_AUTH_REFRESH_TOKEN;
	if (need_secret && !c.client_secret)
		c.client_secret = env_secret("NOWSYNC_CLIENT_SECRET");
	if (need_password && !c.password)
		c.password = env_secret("NOWSYNC_PASSWORD");
	if (need_refresh && !c.refresh_token)
		c.refresh_token = env_secret("NOWSYNC_REFRESH_TOKEN");
	if (need_secret && !c.client_secret)
		c.client_secret = prompt_secret("client secret");
	if (need_password && !c.password)
		c.password = prompt_secret("password");
	if (need_refresh && !c.refresh_token)
		c.refresh_token = prompt_secret("refresh token");
	const char *missing = need_secret && !c.client_secret    ? "client secret"
	                      : need_password && !c.password     ? "password"
	                      : need_refresh && !c.refresh_token ? "refresh token"
	                                                         : NULL;
	if (missing) {
		fprintf(
		    stderr,
		    "nowsync: no %s: give it on stdin (--secrets-stdin), in the environment "
		    "(NOWSYNC_CLIENT_SECRET, NOWSYNC_PASSWORD, NOWSYNC_REFRESH_TOKEN) or at the "
		    "prompt; never on the command line\n",
		    missing);
		goto out;
	}
	if (!need_password) {
		free(c.password);
		c.password = NULL;
	}
	if (!c.name || (a->client_id && !c.client_id) || (a->user && !c.user)) {
		fprintf(stderr, "nowsync: out of memory\n");
		rc = NS_EXIT_FAILED;
		goto out;
	}
	warn_insecure(&c);

	struct ns_connection probe = {0};
	if (ns_state_get(st, name, &probe) == SG_ERR_OK) {
		ns_connection_clear(&probe);
		fprintf(stderr, "nowsync: a connection called %s exists (remove it first)\n", name);
		rc = NS_EXIT_FAILED;
		goto out;
	}
	/* Tested first, saved after: a failed test leaves nothing behind. */
	struct ns_conn *live = ns_conn_new(&c, st); /* takes c */
	if (!live) {
		fprintf(stderr, "nowsync: out of memory\n");
		rc = NS_EXIT_FAILED;
		goto out;
	}
	rc = 0;
	if (!a->no_test) {
		struct ns_diag_opts o = {.probe_writes = a->probe_writes, .json = a->json};
		memcpy(o.profiles, a->profiles, sizeof(o.profiles));
		o.nprofiles = a->nprofiles;
		rc = ns_diag_run(live, &o, stdout);
		fflush(stdout);
		/* the account works when only a table or a profile's check failed */
		if (rc != 0 && rc != NS_EXIT_CAPABILITY && rc != NS_EXIT_PROFILE) {
			fprintf(stderr,
			        "nowsync: connection %s NOT saved: the test failed (exit %d); "
			        "--no-test saves it untested\n",
			        name, rc);
			ns_conn_free(live);
			goto out;
		}
	}
	sg_err e = ns_state_add(st, &live->cfg);
	bool added = !e;
	if (!e && live->cfg.access_token)
		e = ns_state_save_tokens(st, name, live->cfg.access_token, live->cfg.access_expires,
		                         live->cfg.refresh_token);
	ns_conn_free(live);
	if (e) {
		if (added) /* ours, half saved */
			ns_state_remove(st, name);
		fprintf(stderr, "nowsync: cannot save connection %s%s\n", name,
		        e == SG_ERR_INVALID_INSERT ? ": the name was taken meanwhile" : "");
		rc = NS_EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "nowsync: connection %s saved%s\n", name,
	        rc == NS_EXIT_CAPABILITY ? " (some table operations are refused: see above)"
	        : rc == NS_EXIT_PROFILE  ? " (a profile's check failed: see above)"
	                                 : "");
out:
	ns_connection_clear(&c);
	return rc;
}

static int cmd_connection(struct ns_state *st, int argc, char **argv)
{
	if (argc < 1) {
		usage(stderr);
		return NS_EXIT_USAGE;
	}
	const char *verb = argv[0];
	struct conn_args a;
	int at = parse_conn_args(argc, argv, &a);
	if (at < 0)
		return NS_EXIT_USAGE;
	int npos = argc - at;
	char **pos = argv + at;
	if (!strcmp(verb, "list")) {
		if (npos) {
			usage(stderr);
			return NS_EXIT_USAGE;
		}
		struct list_ctx l = {.json = a.json, .arr = a.json ? json_array() : NULL};
		if (ns_state_list(st, list_one, &l)) {
			json_decref(l.arr);
			fprintf(stderr, "nowsync: cannot read the connections\n");
			return NS_EXIT_FAILED;
		}
		return a.json ? print_json_value(l.arr) : 0;
	}
	if (npos != 1) {
		fprintf(stderr, "nowsync: connection %s takes one NAME\n", verb);
		return NS_EXIT_USAGE;
	}
	const char *name = pos[0];
	if (!strcmp(verb, "add"))
		return cmd_add(st, name, &a);
	if (!strcmp(verb, "remove")) {
		long long removed[NS_PURGE_TABLES] = {0};
		sg_err e = ns_state_purge(st, name, removed);
		if (e == SG_ERR_NO_RECORD) {
			fprintf(stderr, "nowsync: no connection called %s\n", name);
			return NS_EXIT_FAILED;
		}
		if (e) {
			fprintf(stderr, "nowsync: cannot remove connection %s\n", name);
			return NS_EXIT_FAILED;
		}
		fprintf(stderr, "nowsync: connection %s removed", name);
		for (size_t i = 0; ns_purge_tables[i][0]; i++)
			if (removed[i] && strcmp(ns_purge_tables[i][0], "ns_connection"))
				fprintf(stderr, ", %lld row(s) of %s", removed[i],
				        ns_purge_tables[i][0]);
		fputc('\n', stderr);
		return 0;
	}
	if (strcmp(verb, "show") && strcmp(verb, "test")) {
		fprintf(stderr, "nowsync: unknown command: connection %s\n", verb);
		return NS_EXIT_USAGE;
	}
	struct ns_connection c;
	sg_err e = ns_state_get(st, name, &c);
	if (e) {
		fprintf(stderr,
		        e == SG_ERR_NO_RECORD
		            ? "nowsync: no connection called %s\n"
		            : "nowsync: cannot read connection %s (its secrets do not open with "
		              "this key?)\n",
		        name);
		return NS_EXIT_FAILED;
	}
	if (!strcmp(verb, "show")) {
		int rc = 0;
		if (a.json) {
			rc = print_json_value(connection_json(&c));
		} else {
			printf("name:        %s\ninstance:    %s\nauth:        %s\n", c.name,
			       c.instance, ns_auth_name(c.auth));
			if (c.client_id)
				printf("client id:   %s\n", c.client_id);
			if (c.user)
				printf("user:        %s\n", c.user);
			printf("secrets:     %s%s%s(sealed; never shown)\n",
			       c.client_secret ? "client secret, " : "",
			       c.password ? "password, " : "",
			       c.refresh_token ? "refresh token, " : "");
			if (c.ca_file)
				printf("CA file:     %s\n", c.ca_file);
			if (c.proxy)
				printf("proxy:       %s\n", c.proxy[0] ? c.proxy : "(none)");
			printf("TLS:         %s\n", c.insecure
			                                ? "INSECURE: certificate not verified"
			                                : "certificate verified");
			printf("timeout:     %ld s\n", c.timeout_ms / 1000);
			if (c.access_token && c.access_expires) {
				char when[SG_DT_LEN + 1];
				sg_time_format(c.access_expires, when);
				printf("token:       cached until %s UTC\n", when);
			}
			printf("created:     %s\n", c.created_on ? c.created_on : "");
		}
		ns_connection_clear(&c);
		return rc;
	}
	warn_insecure(&c);
	struct ns_conn *live = ns_conn_new(&c, st);
	if (!live) {
		ns_connection_clear(&c);
		fprintf(stderr, "nowsync: out of memory\n");
		return NS_EXIT_FAILED;
	}
	struct ns_diag_opts o = {.probe_writes = a.probe_writes, .json = a.json};
	memcpy(o.profiles, a.profiles, sizeof(o.profiles));
	o.nprofiles = a.nprofiles;
	int rc = ns_diag_run(live, &o, stdout);
	ns_conn_free(live);
	return rc;
}

/* nowsync api NAME METHOD PATH: what later parts do, by hand. */
static int cmd_api(struct ns_state *st, int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "nowsync: api takes NAME METHOD PATH\n");
		return NS_EXIT_USAGE;
	}
	const char *name = argv[0], *method = argv[1], *path = argv[2];
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	bool known = false, with_body = false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (!strcmp(method, methods[i])) {
			known = true;
			with_body = i >= 1 && i <= 3;
		}
	bool clean = true;
	for (const char *p = path; *p; p++)
		clean = clean && (unsigned char)*p > ' ' && *p != 0x7f;
	if (!known || !clean || strncmp(path, "/api/now/", 9) || strlen(path) > 8000) {
		fprintf(stderr, "nowsync: api takes GET|POST|PUT|PATCH|DELETE and a path under "
		                "/api/now/\n");
		return NS_EXIT_USAGE;
	}
	struct sg_buf body;
	sg_buf_init(&body, 16 * 1024 * 1024);
	if (with_body) {
		char chunk[8192];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
			sg_buf_append(&body, chunk, n);
		if (sg_buf_failed(&body)) {
			sg_buf_cleanup(&body);
			fprintf(stderr, "nowsync: the body is over 16 MiB\n");
			return NS_EXIT_USAGE;
		}
	}
	struct ns_connection c;
	sg_err e = ns_state_get(st, name, &c);
	if (e) {
		sg_buf_cleanup(&body);
		fprintf(stderr, "nowsync: %s connection %s\n",
		        e == SG_ERR_NO_RECORD ? "no" : "cannot read", name);
		return NS_EXIT_FAILED;
	}
	warn_insecure(&c);
	struct ns_conn *live = ns_conn_new(&c, st);
	struct sg_http_client *http = live ? ns_conn_http(live, 3) : NULL;
	int rc = NS_EXIT_FAILED;
	if (!http) {
		ns_connection_clear(&c);
		fprintf(stderr, "nowsync: out of memory\n");
	} else {
		struct sg_http_response r;
		struct ns_error err;
		sg_http_response_init(&r);
		if (ns_conn_request(live, http, method, path, with_body ? sg_buf_str(&body) : NULL,
		                    &r, &err)) {
			fprintf(stderr, "HTTP %d\n", r.status);
			fwrite(r.body.data ? r.body.data : "", 1, r.body.len, stdout);
			if (r.body.len)
				fputc('\n', stdout);
			rc = r.status >= 200 && r.status < 300 ? 0 : NS_EXIT_FAILED;
		} else {
			fprintf(stderr, "nowsync: %s\n", err.msg);
		}
		sg_http_response_cleanup(&r);
	}
	sg_http_client_free(http);
	ns_conn_free(live);
	sg_buf_cleanup(&body);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"data", required_argument, NULL, 'd'},     {"db", required_argument, NULL, 'b'},
	    {"profiles", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},        {NULL, 0, NULL, 0},
	};
	const char *data = NULL, *db = NULL, *profiles = NULL;
	int ch;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			data = optarg;
			break;
		case 'b':
			db = optarg;
			break;
		case 'P':
			profiles = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("nowsync %s\n", SG_VERSION);
			return 0;
		default:
			usage(stderr);
			return NS_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return NS_EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "connection") && strcmp(cmd, "api") && !ns_cli_delivery_has(cmd) &&
	    strcmp(cmd, "token") && strcmp(cmd, "push") && strcmp(cmd, "serve") &&
	    strcmp(cmd, "backsync") && strcmp(cmd, "trace") && strcmp(cmd, "fields") &&
	    strcmp(cmd, "read") && strcmp(cmd, "rmm")) {
		fprintf(stderr, "nowsync: unknown command %s\n", cmd);
		usage(stderr);
		return NS_EXIT_USAGE;
	}
	sg_log_set_level(getenv("NOWSYNC_DEBUG") ? SG_LOG_DEBUG : SG_LOG_WARN);
	ns_log_set_level(getenv("NOWSYNC_DEBUG") ? NS_LOG_DEBUG : NS_LOG_WARN);
	sg_json_init();
	char buf[4200];
	struct ns_state *st = NULL;
	char msg[512];
	if (ns_state_open(state_where(data, db, buf, sizeof(buf)), &st, msg, sizeof(msg))) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_FAILED;
	}
	const char *where = state_where(data, db, buf, sizeof(buf));
	char pdir[4300];
	if (!profiles)
		profiles = getenv("NOWSYNC_PROFILES");
	if (!profiles || !*profiles) {
		const char *base = !strncmp(where, "sqlite:", 7) ? where + 7 : where;
		const char *slash = strrchr(base, '/');
		const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		if (strncmp(where, "sqlite:", 7) && strstr(where, "://")) {
			/* A database server's URL is no place on disk (and may hold a
			 * password): the user's config folder. */
			if (cfg && *cfg)
				snprintf(pdir, sizeof(pdir), "%s/nowsync/profiles", cfg);
			else
				snprintf(pdir, sizeof(pdir), "%s/.config/nowsync/profiles",
				         home && *home ? home : ".");
		} else if (strncmp(where, "sqlite:", 7))
			snprintf(pdir, sizeof(pdir), "%s/profiles", base);
		else
			snprintf(pdir, sizeof(pdir), "%.*s/profiles",
			         slash ? (int)(slash - base) : 1, slash ? base : ".");
		profiles = pdir;
	}
	ns_profiles_set_dir(profiles);
	int sub_argc = argc - optind - 1;
	char **sub_argv = argv + optind + 1;
	int rc = !strcmp(cmd, "api")        ? cmd_api(st, sub_argc, sub_argv)
	         : ns_cli_delivery_has(cmd) ? ns_cli_delivery(st, cmd, sub_argc + 1, sub_argv - 1)
	         : !strcmp(cmd, "token")    ? ns_cmd_token(st, sub_argc, sub_argv)
	         : !strcmp(cmd, "push")     ? ns_cmd_push(st, sub_argc + 1, sub_argv - 1)
	         : !strcmp(cmd, "serve")    ? ns_cmd_serve(st, sub_argc + 1, sub_argv - 1)
	         : !strcmp(cmd, "backsync") ? ns_cmd_backsync(st, sub_argc, sub_argv)
	         : !strcmp(cmd, "trace")    ? ns_cmd_trace(st, sub_argc + 1, sub_argv - 1)
	         : !strcmp(cmd, "fields")   ? ns_cmd_fields(st, sub_argc + 1, sub_argv - 1)
	         : !strcmp(cmd, "read")     ? ns_cmd_read(st, sub_argc + 1, sub_argv - 1)
	         : !strcmp(cmd, "rmm")      ? ns_cmd_rmm(st, sub_argc + 1, sub_argv - 1)
	                                    : cmd_connection(st, sub_argc, sub_argv);
	ns_state_close(st);
	return rc;
}
