/*
 * nowctl - the admin's command line: every set-up step an admin does in
 * ServiceNow's UI, as one command, offline on a data directory or online
 * against a running instance (see usage()).
 *
 * init creates an instance: the base schema, the out-of-box roles and
 * properties, and the admin user (sys_id 6816f79cc0a8016401c5a33be04be441,
 * the one clients' own test suites assume).  Its password comes from
 * NOWD_ADMIN_PASSWORD, or is generated and printed once.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/version.h"
#include "auth/password.h"
#include "auth/rules.h"
#include "auth/secret.h"
#include "model/model.h"
#include "model/snapshot.h"
#include "net/redact.h"
#include "store/store.h"
#include "nowctl/commands.h"

#define ADMIN_SYS_ID  "6816f79cc0a8016401c5a33be04be441"
#define ADMIN_ROLE_ID "2831a114c611228501d4ea6c309d626d"

static void usage(FILE *f)
{
	fputs(
	    "usage: nowctl init (--data DIR | --db URL) [--demo] [--schema DIR] [--key-file F]\n"
	    "       nowctl migrate --from URL --to URL [--force] [--json]   a whole instance\n"
	    "                                 copied to another database (SQLite <-> PostgreSQL)\n"
	    "       nowctl [WHERE] [--json] COMMAND ...\n"
	    "       nowctl --version | --help\n"
	    "\n"
	    "WHERE is one of\n"
	    "  --data DIR                     an instance's data directory (offline; acts as\n"
	    "                                 the system: no access control applies)\n"
	    "  --db URL                       an instance's database (offline, as --data):\n"
	    "                                 sqlite:PATH or postgresql://...; --data DIR is\n"
	    "                                 sqlite:DIR/instance.db\n"
	    "  --key-file FILE                the instance key (SNOWGLOBE_KEY_FILE): default\n"
	    "                                 keys/ beside a SQLite database; for PostgreSQL\n"
	    "                                 ~/.config/snowglobe/keys/HOST-PORT-DB.key\n"
	    "  --instance URL --user NAME     a running instance, through its Table API, as\n"
	    "                                 that user; the password comes from --password\n"
	    "                                 or NOWCTL_PASSWORD (also NOWCTL_DATA, NOWCTL_DB,\n"
	    "                                 NOWCTL_INSTANCE, NOWCTL_USER); a flag wins\n"
	    "                                 over the environment\n"
	    "\n"
	    "Commands\n"
	    "  init                           create an instance; the admin password is\n"
	    "                                 $NOWD_ADMIN_PASSWORD or generated and shown once\n"
	    "  user add NAME [--first F] [--last L] [--email E] [--machine]\n"
	    "       [--web-service-only] [--password P | --generate-password] [--role R]...\n"
	    "       [--inactive] [--locked-out] [--password-needs-reset] [--internal-integration]\n"
	    "  user set-password NAME (--password P | --generate-password)\n"
	    "  user set NAME FIELD=VALUE...   e.g. active=false, locked_out=false\n"
	    "  user unlock NAME               lift a lock-out (failed logins lock a user at\n"
	    "                                 glide.user.max_unlock_attempts)\n"
	    "  role add NAME [--description D] [--elevated]\n"
	    "  role grant|revoke ROLE (--user NAME | --group NAME)\n"
	    "  role contain|uncontain ROLE CONTAINED   ROLE contains (grants) CONTAINED\n"
	    "  group add NAME [--description D] [--manager USER] [--email E]\n"
	    "  member add|remove --group NAME --user NAME\n"
	    "  acl add NAME --operation read|write|create|delete [--role R]...\n"
	    "       [--condition QUERY] [--deny-unless] [--no-admin-overrides] [--inactive]\n"
	    "       NAME is table, table.field, table.* or *\n"
	    "  property get NAME\n"
	    "  property set NAME VALUE [--type T] [--description D]\n"
	    "  table list TABLE [--query Q] [--limit N]\n"
	    "  table get TABLE SYS_ID\n"
	    "  table create TABLE FIELD=VALUE...\n"
	    "  table update TABLE SYS_ID FIELD=VALUE...\n"
	    "  table delete TABLE SYS_ID\n"
	    "  oauth add NAME [--grant password|client_credentials] [--user USER]\n"
	    "       [--scope SCOPE]... [--access-lifespan S] [--refresh-lifespan S]\n"
	    "       [--client-type integration_user|integration_service] [--redirect-url U]\n"
	    "       [--logo-url U] [--inactive]     prints the client id and secret once\n"
	    "  oauth rotate-secret NAME [--revoke-tokens]   a new secret; the old one's tokens "
	    "expired\n"
	    "  oauth enable|disable|delete NAME   delete: with its tokens, scopes and profiles\n"
	    "  oauth list                    inbound applications and outbound providers\n"
	    "  oauth provider NAME --client-id ID --token-url URL [--auth-url U] [--redirect-url "
	    "U]\n"
	    "       [--revoke-url U] [--grant client_credentials|password|authorization_code]\n"
	    "       [--send-credentials body|basic] [--pkce S256|plain] [--refresh-lifespan S]\n"
	    "       [--scope S]...                an OAuth provider (secret read from stdin)\n"
	    "  oauth get-token PROFILE [--user NAME]   Get OAuth Token (offline; password on "
	    "stdin)\n"
	    "  oauth token PROFILE [--force]  the token the instance presents now (refreshed when\n"
	    "                                 due; --force: as after a 401): its fingerprint\n"
	    "  keys rotate                    a new instance key; every sealed value re-sealed\n"
	    "  scope add NAME [--api now/table] [--methods GET,POST|all]\n"
	    "  scope attach SCOPE --app NAME\n"
	    "  token list [--app NAME | --user NAME]\n"
	    "  token revoke (--app NAME | --user NAME | SYS_ID)\n"
	    "  app install DIR                an application (docs/apps.md) in one transaction:\n"
	    "                                 its records inserted, or updated by sys_id\n"
	    "  script run FILE|-              Scripts - Background: prints gs.print/gs.info "
	    "output\n"
	    "  job run NAME|SYS_ID            Execute Now: queues one run of a scheduled script\n"
	    "                                 job (sysauto_script) for nowd's workers\n"
	    "  rest test MESSAGE FUNCTION [--var NAME=VALUE]...  an HTTP method's Test link\n"
	    "  outbound list [--state S] | retry ID|--dead | purge [--done|--dead] [--older-than "
	    "D]\n"
	    "  fault add EFFECT [--method M] [--path GLOB] [--table T] [--user U] [--client-id "
	    "ID]\n"
	    "            [--probability P --seed N] [--count N] [--from T] [--until T | --for S]\n"
	    "            [--latency MS] [--rate N] [--no-rate-limit-headers] [--refresh-tokens]\n"
	    "                                 inject a fault (online only: rules live in nowd's\n"
	    "                                 memory); EFFECT: latency, error_500, error_503,\n"
	    "                                 transaction_timeout, rate_limit, hibernate, close,\n"
	    "                                 expire_tokens, token_refused (docs/test-powers.md)\n"
	    "  fault list | remove ID | clear  the rules (online only), with their counts\n"
	    "  snapshot save|restore|delete NAME | list | reset [NAME]   whole-instance\n"
	    "                                 snapshots in DIR/snapshots (offline or online;\n"
	    "                                 reset: back to NAME or to init, as nowctl init\n"
	    "                                 made the instance)\n"
	    "  clock set TIME | advance DURATION | freeze [TIME] | real | show\n"
	    "                                 the instance's clock (offline and online)\n"
	    "  import-metadata (--from URL --user U | --file FILE) [--tables T,...] [--save FILE]\n"
	    "                                 tables, columns and choices of another instance\n"
	    "                                 (source password: NOWCTL_IMPORT_PASSWORD)\n"
	    "  requests [--path P] [--user U] [--method M] [--status 404|4xx] [--since T]\n"
	    "       [--after SEQ] [--limit N] [--count] [--json]   the request journal\n"
	    "                                 (online only); requests clear forgets it\n"
	    "  expect TABLE --query Q (--count N | --min N | --max N) [--field NAME=VALUE]...\n"
	    "       [--json]                  exit 0 when the records matching Q are as\n"
	    "                                 said, 1 with a diff when not (online or offline)\n"
	    "\n"
	    "Online, editing ACLs needs security_admin in effect: ServiceNow elevates only\n"
	    "in its UI, so nowd allows it over REST when snowglobe.rest.allow_elevation is\n"
	    "true; otherwise run the command offline.\n"
	    "Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 bad usage.\n",
	    f);
}

static const char *share_dir(void)
{
	const char *s = getenv("SNOWGLOBE_SHARE");
	return (s && *s) ? s : SG_SHARE_DIR;
}

/*
 * What the store opens for --data DIR: the directory itself, which the store
 * reads as SQLite's DIR/instance.db.  A relative name that could read as a
 * URL ("sqlite:x", "postgresql://...") gets "./" so it stays a directory.
 */
static const char *data_target(const char *dir, char *buf, size_t cap)
{
	if (dir[0] == '/' || dir[0] == '.' || !strchr(dir, ':'))
		return dir;
	snprintf(buf, cap, "./%s", dir);
	return buf;
}

static sg_err create_admin(struct sg_model *m, const char *password)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	/* Hashed here, before the write lock the transaction below takes (the
	 * write rule keeps a value that is already a hash). */
	char *hash = sg_password_hash(password);
	json_t *user =
	    !hash ? NULL
	          : json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", ADMIN_SYS_ID, "user_name",
	                      "admin", "first_name", "System", "last_name", "Administrator",
	                      "email", "admin@example.com", "user_password", hash);
	free(hash);
	json_t *grant = json_pack("{s:s, s:s}", "user", ADMIN_SYS_ID, "role", ADMIN_ROLE_ID);
	/* In the base system only admin holds security_admin (elevated on use). */
	json_t *security = json_pack("{s:s, s:s}", "user", ADMIN_SYS_ID, "role", "security_admin");
	struct sg_write_opts wo = {.allow_sys_fields = true};
	char id[SG_ID_LEN + 1];
	err = (user && grant && security) ? sg_conn_begin(ctx.conn, true) : SG_ERR_NOMEM;
	if (!err) {
		err = sg_rec_insert(&ctx, "sys_user", user, &wo, id);
		if (!err)
			err = sg_rec_insert(&ctx, "sys_user_has_role", grant, &wo, id);
		if (!err)
			err = sg_rec_insert(&ctx, "sys_user_has_role", security, &wo, id);
		if (err)
			sg_conn_rollback(ctx.conn);
		else
			err = sg_conn_commit(ctx.conn);
	}
	json_decref(user);
	json_decref(grant);
	json_decref(security);
	sg_ctx_end(&ctx);
	return err;
}

/* Makes the instance key that encrypts password2 values (auth/secret.h),
 * unless SNOWGLOBE_KEY provides it. */
static sg_err create_key(struct sg_model *m)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	unsigned char key[SG_SECRET_KEY_LEN];
	err = sg_secret_key(&ctx, true, key);
	sodium_memzero(key, sizeof(key));
	sg_ctx_end(&ctx);
	return err;
}

static int cmd_init(int argc, char **argv)
{
	const char *data = NULL, *db = NULL, *schema = NULL;
	bool demo = false;
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
	                                     {"db", required_argument, NULL, 'b'},
	                                     {"schema", required_argument, NULL, 's'},
	                                     {"demo", no_argument, NULL, 'D'},
	                                     {"key-file", required_argument, NULL, 'k'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "d:b:s:k:Dh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (setenv(SG_SECRET_FILE_ENV, optarg, 1) != 0)
				return 1;
			break;
		case 'd':
			data = optarg;
			break;
		case 'b':
			db = optarg;
			break;
		case 's':
			schema = optarg;
			break;
		case 'D':
			demo = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!data == !db) {
		usage(stderr);
		return 2;
	}
	char target_buf[4096];
	const char *target = db ? db : data_target(data, target_buf, sizeof(target_buf));
	char schema_buf[4096], demo_buf[4096];
	snprintf(schema_buf, sizeof(schema_buf), "%s/schema", share_dir());
	snprintf(demo_buf, sizeof(demo_buf), "%s/demo", share_dir());
	if (!schema)
		schema = schema_buf;

	const char *password = getenv("NOWD_ADMIN_PASSWORD");
	char generated[64];
	bool printed = false;
	if (!password || !*password) {
		sg_random_token(generated, sizeof(generated), 15);
		password = generated;
		printed = true;
	}
	bool exists = false;
	sg_err err = sg_model_instance_exists(target, &exists);
	char *shown = sg_net_masked_url(db ? db : data);
	if (!shown) {
		fprintf(stderr, "nowctl: out of memory\n");
		return 1;
	}
	if (!err && exists) {
		if (db)
			fprintf(stderr,
			        "nowctl: %s already holds an instance; to start again, delete that "
			        "database (or name another one)\n",
			        shown);
		else
			fprintf(stderr,
			        "nowctl: %s already holds an instance; to start again, delete that "
			        "folder (all its records go with it) or give another --data DIR\n",
			        data);
		free(shown);
		return 1;
	}
	if (!err)
		err = sg_model_init_instance(target, schema, sg_auth_add_rules);
	if (err) {
		fprintf(stderr, "nowctl: init failed: %s\n", sg_err_name(err));
		free(shown);
		return 1;
	}
	struct sg_model *m = NULL;
	err = sg_model_open(target, &m);
	if (!err)
		err = sg_auth_add_rules(m);
	if (!err)
		err = create_admin(m, password);
	if (!err)
		err = create_key(m);
	if (!err && demo)
		err = sg_model_load_records(m, demo_buf);
	/* The instance as made: what POST /_snowglobe/reset goes back to. */
	if (!err)
		err = sg_snapshot_save(m, SG_SNAPSHOT_INIT);
	if (m)
		sg_model_close(m);
	if (err) {
		fprintf(stderr, "nowctl: init failed: %s\n", sg_err_name(err));
		free(shown);
		return 1;
	}
	printf("Instance created in %s\n", shown);
	free(shown);
	if (printed)
		printf("admin password (shown once): %s\n", password);
	return 0;
}

/* One command a line, so that adding one is one line. */
/* clang-format off */
static const struct {
	const char *name;
	int (*fn)(struct cmd_env *e, int argc, char **argv);
} commands[] = {
    {"user", cmd_user},
    {"role", cmd_role},
    {"group", cmd_group},
    {"member", cmd_member},
    {"acl", cmd_acl},
    {"property", cmd_property},
    {"table", cmd_table},
    {"oauth", cmd_oauth},
    {"keys", cmd_keys},
    {"scope", cmd_scope},
    {"token", cmd_token},
    {"app", cmd_app},
    {"script", cmd_script},
    {"job", cmd_job},
    {"rest", cmd_rest},
    {"outbound", cmd_outbound},
    {"fault", cmd_fault},
    {"snapshot", cmd_snapshot},
    {"clock", cmd_clock},
    {"import-metadata", cmd_import_metadata},
    {"requests", cmd_requests},
    {"expect", cmd_expect},
};
/* clang-format on */

int main(int argc, char **argv)
{
	sg_json_init(); /* before any thread uses jansson */
	if (sodium_init() < 0) {
		fputs("nowctl: libsodium failed to initialise\n", stderr);
		return 1;
	}
	sg_log_set_level(SG_LOG_WARN);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("nowctl %s\n", SG_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(argv[1], "migrate"))
		return cmd_migrate(argc - 1, argv + 1);

	const char *data = getenv("NOWCTL_DATA"), *db = getenv("NOWCTL_DB");
	const char *instance = getenv("NOWCTL_INSTANCE");
	const char *user = getenv("NOWCTL_USER"), *password = getenv("NOWCTL_PASSWORD");
	struct cmd_env env = {0};
	const char *password_from = "NOWCTL_PASSWORD";
	/* Once --data, --db or --instance is given, the environment's are unused. */
	bool where_flag = false;
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		const char *opt = argv[i];
		if (!strcmp(opt, "--json")) {
			env.json = true;
			continue;
		}
		if (!strcmp(opt, "--version")) {
			printf("nowctl %s\n", SG_VERSION);
			return 0;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "nowctl: %s needs a value\n", opt);
			return 2;
		}
		const char **where = !strcmp(opt, "--data")       ? &data
		                     : !strcmp(opt, "--db")       ? &db
		                     : !strcmp(opt, "--instance") ? &instance
		                                                  : NULL;
		if (where) {
			if (!where_flag) /* the first of them: forget NOWCTL_DATA, _DB, _INSTANCE */
				data = db = instance = NULL;
			where_flag = true;
			*where = argv[++i];
		} else if (!strcmp(opt, "--user"))
			user = argv[++i];
		else if (!strcmp(opt, "--key-file")) {
			if (setenv(SG_SECRET_FILE_ENV, argv[++i], 1) != 0)
				return 1;
		} else if (!strcmp(opt, "--password")) {
			password = argv[++i];
			password_from = "--password";
		} else {
			fprintf(stderr, "nowctl: unknown option %s\n", opt);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	int (*fn)(struct cmd_env *, int, char **) = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i], commands[k].name))
			fn = commands[k].fn;
	if (!fn) {
		fprintf(stderr, "nowctl: unknown command '%s'\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if ((data && *data) + (db && *db) + (instance && *instance) != 1) {
		fputs(
		    "nowctl: say where: --data DIR or --instance URL (or --db URL; one of them)\n",
		    stderr);
		return 2;
	}
	if (instance && *instance && (!user || !*user)) {
		fputs("nowctl: --instance needs --user NAME (or NOWCTL_USER)\n", stderr);
		return 2;
	}
	if (instance && *instance && (!password || !*password)) {
		if (password)
			fprintf(stderr,
			        "nowctl: the password for %s is empty (from %s): export "
			        "NOWCTL_PASSWORD=<%s's password> or give --password\n",
			        user, password_from, user);
		else
			fprintf(stderr,
			        "nowctl: no password for %s: export NOWCTL_PASSWORD=... (or give "
			        "--password)\n",
			        user);
		return 2;
	}
	char target_buf[4096];
	const char *target = (db && *db)       ? db
	                     : (data && *data) ? data_target(data, target_buf, sizeof(target_buf))
	                                       : NULL;
	env.c = target ? client_local(target) : client_remote(instance, user, password);
	if (!env.c)
		return 1;
	int rc = fn(&env, argc - i - 1, argv + i + 1);
	env.c->close(env.c);
	sg_tz_cleanup();
	return rc;
}
