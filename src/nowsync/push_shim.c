/*
 * push_shim.c - BRANCH-ONLY (h16-deliver): a minimal `nowsync push FILE|-`
 * so delivery's black-box tests can feed events before intake (h16-intake)
 * is merged.  The lead drops this file and its two lines in main.c at the
 * merge; intake's push replaces it.  One JSON object per line:
 * {"key", "status": "firing"|"resolved", "summary", "severity", "fields",
 *  "occurred_at" (epoch seconds), "profile", "connection"}.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "nowsync/delivery.h"

int ns_push_shim(struct ns_state *st, int argc, char **argv);

int ns_push_shim(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {{"profile", required_argument, NULL, 'p'},
	                                     {"connection", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	const char *profile = NULL, *conn = NULL;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			profile = optarg;
		else if (ch == 'c')
			conn = optarg;
		else
			return NS_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "nowsync: push FILE|- [--profile P] [--connection C]\n");
		return NS_EXIT_USAGE;
	}
	FILE *f = strcmp(argv[optind], "-") ? fopen(argv[optind], "r") : stdin;
	if (!f) {
		fprintf(stderr, "nowsync: cannot open %s\n", argv[optind]);
		return NS_EXIT_FAILED;
	}
	char *line = NULL;
	size_t cap = 0;
	long n = 0, accepted = 0, dups = 0, bad = 0;
	while (getline(&line, &cap, f) > 0) {
		n++;
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr);
		if (!j) {
			if (strspn(line, " \t\r\n") != strlen(line)) {
				fprintf(stderr, "nowsync: line %ld: %s\n", n, jerr.text);
				bad++;
			}
			continue;
		}
		const char *status = sg_json_str(j, "status");
		json_t *t = json_object_get(j, "occurred_at");
		struct ns_event ev = {
		    .connection =
		        sg_json_str(j, "connection") ? sg_json_str(j, "connection") : conn,
		    .profile = sg_json_str(j, "profile") ? sg_json_str(j, "profile") : profile,
		    .key = sg_json_str(j, "key"),
		    .status =
		        status && !strcmp(status, "resolved") ? NS_EVENT_RESOLVED : NS_EVENT_FIRING,
		    .summary = sg_json_str(j, "summary"),
		    .severity = sg_json_str(j, "severity"),
		    .fields = json_object_get(j, "fields"),
		    .occurred_at = json_is_integer(t) ? json_integer_value(t) : 0,
		    .source = "push"};
		char id[33], msg[512];
		bool dup = false;
		sg_err e = ev.profile ? ns_event_accept(st, &ev, id, &dup, msg, sizeof(msg))
		                      : SG_ERR_BAD_PARAM;
		if (!ev.profile)
			snprintf(msg, sizeof(msg), "no profile");
		if (e) {
			fprintf(stderr, "nowsync: line %ld: %s\n", n,
			        e == SG_ERR_BAD_PARAM ? msg : sg_err_name(e));
			bad++;
		} else if (dup) {
			dups++;
		} else {
			accepted++;
		}
		json_decref(j);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	printf("%ld accepted, %ld duplicate, %ld refused\n", accepted, dups, bad);
	return bad ? NS_EXIT_FAILED : 0;
}
