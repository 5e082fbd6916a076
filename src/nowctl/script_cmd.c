/*
 * script_cmd.c - nowctl script run FILE|-: Scripts - Background.
 *
 * Offline the script runs as the system; online it is POSTed to
 * /api/now/snowglobe/script and runs as --user, who needs admin and
 * security_admin in effect.  What gs.print, gs.info and their kin wrote is
 * printed ("*** Script: ..."), then the info and error messages; a script
 * that failed (syntax, runtime error, time or memory limit) exits 1 with
 * its error on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nowctl/commands.h"
#include "script/script.h"

/* The whole of f, at most SG_SCRIPT_SOURCE_MAX bytes; NULL when longer or
 * unreadable. */
static char *slurp(FILE *f, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap) {
			if (ferror(f))
				break;
			buf[n] = '\0';
			*len = n;
			return buf;
		}
		if (cap >= SG_SCRIPT_SOURCE_MAX + 1)
			break;
		cap *= 2;
		char *more = realloc(buf, cap + 1);
		if (!more)
			break;
		buf = more;
	}
	free(buf);
	return NULL;
}

int cmd_script(struct cmd_env *e, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[0], "run") != 0) {
		fputs("usage: nowctl script run FILE|-\n", stderr);
		return 2;
	}
	FILE *f = strcmp(argv[1], "-") ? fopen(argv[1], "rb") : stdin;
	if (!f) {
		fprintf(stderr, "nowctl: cannot read %s\n", argv[1]);
		return 1;
	}
	size_t len = 0;
	char *src = slurp(f, &len);
	if (f != stdin)
		fclose(f);
	if (!src) {
		fprintf(stderr, "nowctl: cannot read %s (or it is longer than %d bytes)\n", argv[1],
		        SG_SCRIPT_SOURCE_MAX);
		return 1;
	}
	json_t *out = NULL;
	int rc = e->c->script(e->c, src, len, &out);
	free(src);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	const char *status = json_string_value(json_object_get(out, "status"));
	bool ok = status && !strcmp(status, "ok");
	if (e->json) {
		char *text = json_dumps(out, JSON_INDENT(2));
		if (text)
			puts(text);
		free(text);
	} else {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(out, "output"), i, v) puts(json_string_value(v));
		json_array_foreach(json_object_get(out, "messages"), i, v)
		{
			printf("%s: %s\n", json_string_value(json_object_get(v, "type")),
			       json_string_value(json_object_get(v, "message")));
		}
		if (!ok) {
			json_int_t line = json_integer_value(json_object_get(out, "line"));
			fprintf(stderr, "nowctl: script %s: %s", status ? status : "failed",
			        json_string_value(json_object_get(out, "error")));
			if (line)
				fprintf(stderr, " (line %lld)", (long long)line);
			fputc('\n', stderr);
		}
	}
	json_decref(out);
	return ok ? 0 : 1;
}
