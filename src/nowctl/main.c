/*
 * nowctl - the admin's command line: every set-up step an admin does in
 * ServiceNow's UI, as one command.
 *
 *   nowctl init --data DIR [--demo] [--schema DIR]
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

#include "core/log.h"
#include "model/model.h"

#define ADMIN_SYS_ID "6816f79cc0a8016401c5a33be04be441"
#define ADMIN_ROLE_ID "2831a114c611228501d4ea6c309d626d"

static void usage(FILE *f)
{
	fputs("usage: nowctl init --data DIR [--demo] [--schema DIR]\n"
	      "\n"
	      "  init    create a new instance in DIR with the base schema and an admin\n"
	      "          user; the password is $NOWD_ADMIN_PASSWORD or generated and\n"
	      "          printed once\n"
	      "  --demo  also load demo data (companies, users, groups, CIs, incidents)\n",
	      f);
}

static const char *share_dir(void)
{
	const char *s = getenv("SNOWGLOBE_SHARE");
	return (s && *s) ? s : SG_SHARE_DIR;
}

static sg_err create_admin(struct sg_model *m, const char *password)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	json_t *user = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sys_id", ADMIN_SYS_ID,
				 "user_name", "admin", "first_name", "System", "last_name",
				 "Administrator", "email", "admin@example.com", "user_password",
				 password);
	json_t *grant = json_pack("{s:s, s:s}", "user", ADMIN_SYS_ID, "role", ADMIN_ROLE_ID);
	struct sg_write_opts wo = {.allow_sys_fields = true};
	char id[SG_ID_LEN + 1];
	err = (user && grant) ? sg_conn_begin(ctx.conn, true) : SG_ERR_NOMEM;
	if (!err) {
		err = sg_rec_insert(&ctx, "sys_user", user, &wo, id);
		if (!err)
			err = sg_rec_insert(&ctx, "sys_user_has_role", grant, &wo, id);
		if (err)
			sg_conn_rollback(ctx.conn);
		else
			err = sg_conn_commit(ctx.conn);
	}
	json_decref(user);
	json_decref(grant);
	sg_ctx_end(&ctx);
	return err;
}

static int cmd_init(int argc, char **argv)
{
	const char *data = NULL, *schema = NULL;
	bool demo = false;
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"schema", required_argument, NULL, 's'},
					     {"demo", no_argument, NULL, 'D'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "d:s:Dh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
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
	if (!data) {
		usage(stderr);
		return 2;
	}
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
	sg_err err = sg_model_init_instance(data, schema);
	if (err) {
		fprintf(stderr, "nowctl: init failed: %s\n", sg_err_name(err));
		return 1;
	}
	struct sg_model *m = NULL;
	err = sg_model_open(data, &m);
	if (!err)
		err = create_admin(m, password);
	if (!err && demo)
		err = sg_model_load_records(m, demo_buf);
	if (m)
		sg_model_close(m);
	if (err) {
		fprintf(stderr, "nowctl: init failed: %s\n", sg_err_name(err));
		return 1;
	}
	printf("Instance created in %s\n", data);
	if (printed)
		printf("admin password (shown once): %s\n", password);
	return 0;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fputs("nowctl: libsodium failed to initialise\n", stderr);
		return 1;
	}
	sg_log_set_level(SG_LOG_WARN);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "init"))
		return cmd_init(argc - 1, argv + 1);
	fprintf(stderr, "nowctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
