/*
 * keys_cmd.c - nowctl keys rotate: a new instance key for password2 values
 * and every other sealed value (auth/secret_rotate.h).  Offline only: the
 * key files live beside the database, which a REST client cannot reach.  A
 * running nowd keeps working: it reads the new key's file on first use and
 * keeps the old keys it has read in memory.
 */
#include <stdio.h>
#include <string.h>

#include "auth/secret_rotate.h"
#include "nowctl/commands.h"

int cmd_keys(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 1 || strcmp(argv[0], "rotate") != 0) {
		fputs("nowctl: keys rotate (see nowctl --help)\n", stderr);
		return 2;
	}
	if (!e->c->model) {
		fputs("nowctl: keys rotate runs offline only (--data DIR or --db URL): the key "
		      "files are beside the database\n",
		      stderr);
		return 1;
	}
	struct sg_ctx ctx;
	sg_model_sync(e->c->model);
	sg_err err = sg_ctx_begin(&ctx, e->c->model, NULL);
	if (err) {
		fprintf(stderr, "nowctl: %s\n", sg_err_name(err));
		return 1;
	}
	struct sg_secret_rotation r;
	char msg[512];
	err = sg_secret_rotate(&ctx, &r, msg, sizeof(msg));
	sg_ctx_end(&ctx);
	if (e->json && r.kid[0]) {
		printf("{\"key_id\": \"%s\", \"resealed\": %lld, \"unreadable\": %lld, "
		       "\"old_keys_removed\": %d, \"done\": %s}\n",
		       r.kid, r.resealed, r.unreadable, r.removed, err ? "false" : "true");
	} else if (!err) {
		printf("new instance key %s: %lld value(s) re-sealed, %d old key file(s) removed\n",
		       r.kid, r.resealed, r.removed);
	}
	if (err || *msg) {
		fprintf(stderr, "nowctl: keys rotate: %s\n", *msg ? msg : sg_err_name(err));
		return err ? 1 : 0;
	}
	return 0;
}
