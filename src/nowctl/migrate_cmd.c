/*
 * migrate_cmd.c - nowctl migrate --from URL --to URL [--force]: a whole
 * instance copied to another store (model/migrate.h), SQLite to PostgreSQL
 * or back.  Offline: it reads the source's database, not a running nowd
 * (stop the nodes writing to it first, or the copy misses what they write
 * after it starts).
 *
 * What is not in the database is said, not copied: the instance key (the
 * target needs the same one, or its password2 values no longer decrypt).
 * Attachment content is copied between the files beside a SQLite database
 * and a server's content table (model/attachment.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/secret.h"
#include "core/buf.h"
#include "model/migrate.h"
#include "net/redact.h"
#include "nowctl/commands.h"

static const char usage_text[] =
    "usage: nowctl migrate --from URL --to URL [--force] [--json]\n"
    "  URL: a data directory DIR, sqlite:PATH or postgresql://...\n"
    "  copies every table, row and counter of the instance at --from into --to\n"
    "  (made when missing) in one transaction, then compares the row counts;\n"
    "  --force replaces the tables of an instance the target already holds\n";

/* url with its password masked, for messages (a URL may hold one). */
static void say_url(FILE *f, const char *url)
{
	struct sg_buf b;
	sg_buf_init(&b, 8192);
	sg_net_redact_url(&b, url, strlen(url));
	sg_buf_append(&b, "", 1);
	fputs(sg_buf_failed(&b) ? "(the URL)" : b.data, f);
	sg_buf_cleanup(&b);
}

struct report {
	bool json;
	json_t *tables;
};

static void on_table(void *ud, const char *table, long long from_rows, long long to_rows)
{
	struct report *r = ud;
	if (r->json)
		json_array_append_new(r->tables, json_pack("{s:s, s:I, s:I}", "table", table,
		                                           "source", (json_int_t)from_rows,
		                                           "target", (json_int_t)to_rows));
	else
		printf("  %-40s %10lld rows  (source %lld)\n", table, to_rows, from_rows);
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Where the instance key is, and what the target needs of it. */
static void say_key(const struct sg_migrate_result *res)
{
	char key[4096], current[4096];
	if (sg_secret_key_from_env()) {
		printf("instance key: from %s; give every node of the target the same value\n",
		       SG_SECRET_ENV);
		return;
	}
	if (!res->from_file || !sg_secret_key_path(res->from_file, key, sizeof(key))) {
		printf("instance key: the source's comes from %s; the target needs the same "
		       "value\n",
		       SG_SECRET_ENV);
		if (res->to_file && sg_secret_key_path(res->to_file, key, sizeof(key)))
			printf("  keep %s set for it, or write the 32 bytes it encodes to %s (mode "
			       "0600, folder 0700)\n",
			       SG_SECRET_ENV, key);
		return;
	}
	printf("instance key: %s (not in the database: back it up with it)\n", key);
	snprintf(current, sizeof(current), "%.*s.current", (int)(strlen(key) - 4), key);
	if (file_exists(current))
		printf("  the key was rotated (nowctl keys rotate): the current key's id is in "
		       "%s and its file is beside it\n",
		       current);
	if (res->to_file) {
		char to_key[4096];
		if (sg_secret_key_path(res->to_file, to_key, sizeof(to_key)))
			printf("  copy the key file(s) to %s (same folder keys/, same stem)\n",
			       to_key);
	} else {
		printf("  start every node on the target with %s=$(base64 -w0 %s)\n", SG_SECRET_ENV,
		       key);
	}
}

int cmd_migrate(int argc, char **argv)
{
	const char *from = NULL, *to = NULL;
	bool force = false, json = false;
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'}, {"to", required_argument, NULL, 't'},
	    {"force", no_argument, NULL, 'F'},      {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "f:t:Fjh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'F':
			force = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (!from || !to || !*from || !*to || optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!strcmp(from, to)) {
		fputs("nowctl: migrate: --from and --to name the same database\n", stderr);
		return 2;
	}
	struct report r = {.json = json, .tables = json ? json_array() : NULL};
	if (json && !r.tables)
		return 1;
	if (!json) {
		fputs("migrating ", stdout);
		say_url(stdout, from);
		fputs(" -> ", stdout);
		say_url(stdout, to);
		fputs("\n", stdout);
	}
	struct sg_migrate_result res;
	sg_err err = sg_model_migrate(from, to, force, on_table, &r, &res);
	if (err) {
		fprintf(stderr, "nowctl: migrate failed (%s): %s; the target is unchanged\n",
		        sg_err_name(err), res.why);
	} else if (json) {
		json_t *out = json_pack(
		    "{s:O, s:I, s:I, s:s?, s:b, s:{s:b, s:I, s:I}}", "tables", r.tables,
		    "table_count", (json_int_t)res.tables, "rows", (json_int_t)res.rows,
		    "source_file", res.from_file, "key_from_env", sg_secret_key_from_env(),
		    "attachment_content", "copied", res.content.done, "files",
		    (json_int_t)res.content.copied, "missing", (json_int_t)res.content.missing);
		char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
		if (s)
			puts(s);
		free(s);
		json_decref(out);
	} else {
		printf("copied %zu tables, %lld rows; row counts match\n", res.tables, res.rows);
		say_key(&res);
		if (res.content.done)
			printf("attachment content: %lld copied (%s)%s\n", res.content.copied,
			       res.from_file ? "files beside the source into the database"
			                     : "from the database into files beside the target",
			       res.content.missing
			           ? ", some referenced content missing at the source "
			             "(see the warnings)"
			           : "");
		else if (res.from_file)
			printf(
			    "attachment content: files in the folder attachments/ beside %s: copy "
			    "that folder beside the target (see docs/OPERATIONS.md)\n",
			    res.from_file);
		else
			printf(
			    "attachment content: in the source's database (sg_attachment_content), "
			    "not copied between two servers: use pg_dump -t "
			    "sg_attachment_content\n");
	}
	json_decref(r.tables);
	sg_migrate_result_cleanup(&res);
	return err ? 1 : 0;
}
