/*
 * cli_delivery.c - delivery's commands: nowsync profile list|show|check,
 * nowsync outbox list|retry, nowsync run.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "nowsync/delivery.h"
#include "nowsync/ops.h"

bool ns_cli_delivery_has(const char *cmd)
{
	return !strcmp(cmd, "profile") || !strcmp(cmd, "outbox") || !strcmp(cmd, "run");
}

static void print_name(void *ud, const char *name)
{
	json_t *arr = ud;
	if (arr)
		json_array_append_new(arr, json_string(name));
	else
		printf("%s\n", name);
}

static json_t *profile_json_base(const struct ns_profile *p)
{
	return json_pack("{s:s, s:s?, s:O, s:O, s:O, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, "
	                 "s:s, s:s, s:s, s:I, s:I}, s:{s:i, s:I, s:I, s:I, s:I}}",
	                 "table", p->table, "connection", p->connection, "fields", p->fields,
	                 "defaults", p->defaults, "severity", p->severity, "correlation", "prefix",
	                 p->corr_prefix, "key", p->corr_template, "lifecycle", "update_with",
	                 p->update_comments ? "comments" : "work_notes", "update_note",
	                 p->update_note, "reopen_note", p->reopen_note, "close_code", p->close_code,
	                 "close_notes", p->close_notes, "resolved_state", p->resolved_state,
	                 "reopen_state", p->reopen_state, "closed_states", p->closed_states,
	                 "reopen_window", (json_int_t)p->reopen_window_s, "hysteresis",
	                 (json_int_t)p->hysteresis_s, "delivery", "max_attempts", p->max_attempts,
	                 "backoff_base_ms", (json_int_t)p->backoff_base_ms, "backoff_max_ms",
	                 (json_int_t)p->backoff_max_ms, "hourly_budget",
	                 (json_int_t)p->hourly_budget, "dictionary_ttl", (json_int_t)p->dict_ttl_s);
}

static json_t *profile_json(const struct ns_profile *p)
{
	json_t *o = profile_json_base(p);
	if (o)
		json_object_set_new(json_object_get(o, "delivery"), "validate",
		                    json_boolean(p->validate));
	if (o && p->parent_profile)
		json_object_set_new(o, "parent",
		                    json_pack("{s:s, s:s, s:s}", "profile", p->parent_profile,
		                              "key", p->parent_key, "field", p->parent_field));
	/* the ticket policy, when the profile has one */
	if (o && p->priority[0])
		json_object_set_new(o, "priority", json_string(p->priority));
	if (o && p->categories)
		json_object_set_new(
		    o, "categories",
		    json_pack("{s:O, s:s}", "create", p->categories, "from", p->category_from));
	return o;
}

/* Adds the fixed (template-free) values of src to dst; fields with a
 * template are checked by name only (their value is the event's). */
static void add_checkable(json_t *dst, json_t *src)
{
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v)
	{
		const char *s = json_string_value(v);
		json_object_set_new(dst, k, json_string(s && !strstr(s, "{{") ? s : ""));
	}
}

static int profile_check(struct ns_state *st, const struct ns_profile *p, const char *conn_name,
                         bool json)
{
	const char *cn = conn_name ? conn_name : p->connection;
	if (!cn) {
		fprintf(stderr, "nowsync: profile %s names no connection: give --connection NAME\n",
		        p->name);
		return NS_EXIT_USAGE;
	}
	struct ns_connection cfg;
	sg_err e = ns_state_get(st, cn, &cfg);
	if (e) {
		fprintf(stderr, "nowsync: %s connection %s\n",
		        e == SG_ERR_NO_RECORD ? "no" : "cannot read", cn);
		return NS_EXIT_FAILED;
	}
	struct ns_conn *c = ns_conn_new(&cfg, st);
	struct sg_http_client *http = c ? ns_conn_http(c, 3) : NULL;
	json_t *errs = json_array();
	int rc = NS_EXIT_FAILED;
	char msg[512] = "";
	struct ns_dict d = {0};
	if (!http || !errs) {
		fprintf(stderr, "nowsync: out of memory\n");
		goto out;
	}
	/* ns_dict_get with ttl 0: a check always reads the instance afresh */
	int nreq = 0;
	if (!ns_dict_get(st, c, http, p->table, 0, &d, &nreq, msg, sizeof(msg))) {
		fprintf(stderr, "nowsync: cannot read the dictionary of %s on %s: %s\n", p->table,
		        cn, msg);
		goto out;
	}
	json_t *body = json_object();
	add_checkable(body, p->fields);
	add_checkable(body, p->defaults);
	const char *sev;
	json_t *sv;
	json_object_set_new(body, "correlation_id", json_string(""));
	/* what the lifecycle writes */
	json_object_set_new(body, "state", json_string(p->resolved_state));
	if (*p->close_code)
		json_object_set_new(body, "close_code", json_string(p->close_code));
	if (*p->close_notes)
		json_object_set_new(body, "close_notes", json_string(""));
	json_object_set_new(body, p->update_comments ? "comments" : "work_notes", json_string(""));
	ns_dict_check(&d, body, errs);
	json_object_set_new(body, "state", json_string(p->reopen_state));
	json_t *errs2 = json_array();
	ns_dict_check(&d, body, errs2);
	size_t i;
	json_t *v;
	json_array_foreach(errs2, i, v) if (strstr(json_string_value(v), "state:"))
	    json_array_append(errs, v);
	json_decref(errs2);
	/* each severity's values with the defaults under them */
	json_object_foreach(p->severity, sev, sv)
	{
		json_t *one = json_object();
		add_checkable(one, sv);
		json_t *e1 = json_array();
		ns_dict_check(&d, one, e1);
		json_array_foreach(e1, i, v)
		{
			char line[700];
			snprintf(line, sizeof(line), "severity %s: %s", sev, json_string_value(v));
			bool dup = false;
			size_t j;
			json_t *w;
			json_array_foreach(errs, j, w) dup =
			    dup || strstr(json_string_value(w), json_string_value(v));
			if (!dup)
				json_array_append_new(errs, json_string(line));
		}
		json_decref(e1);
		json_decref(one);
	}
	const char *group = json_string_value(json_object_get(p->defaults, "assignment_group"));
	if (group && !strstr(group, "{{"))
		ns_resolve_group(c, http, body, errs, &nreq);
	json_decref(body);
	if (json) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:b, s:O}", "profile", p->name,
		                        "connection", cn, "table", p->table, "ok",
		                        json_array_size(errs) == 0, "problems", errs);
		json_dumpf(out, stdout, JSON_INDENT(1));
		fputc('\n', stdout);
		json_decref(out);
	} else if (!json_array_size(errs)) {
		printf("profile %s: OK against %s (%s)\n", p->name, cn, p->table);
	} else {
		printf("profile %s: %zu problem(s) against %s (%s):\n", p->name,
		       json_array_size(errs), cn, p->table);
		json_array_foreach(errs, i, v) printf("  %s\n", json_string_value(v));
	}
	rc = json_array_size(errs) ? NS_EXIT_FAILED : 0;
out:
	ns_dict_clear(&d);
	json_decref(errs);
	sg_http_client_free(http);
	if (c)
		ns_conn_free(c);
	else
		ns_connection_clear(&cfg);
	return rc;
}

static int cmd_profile(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"connection", required_argument, NULL, 'c'},
	                                     {NULL, 0, NULL, 0}};
	bool json = false;
	const char *conn = NULL;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'c')
			conn = optarg;
		else
			return NS_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && !strcmp(argv[0], "list") && argc == 1) {
		json_t *arr = json ? json_array() : NULL;
		ns_profile_names(print_name, arr);
		if (arr) {
			json_dumpf(arr, stdout, 0);
			fputc('\n', stdout);
			json_decref(arr);
		}
		return 0;
	}
	if (argc != 2 || (strcmp(argv[0], "show") && strcmp(argv[0], "check"))) {
		fprintf(stderr,
		        "nowsync: profile list | show NAME | check NAME [--connection C]\n");
		return NS_EXIT_USAGE;
	}
	struct ns_profile p;
	char msg[512];
	sg_err e = ns_profile_load(argv[1], &p, msg, sizeof(msg));
	if (e) {
		fprintf(stderr, "nowsync: %s\n", e == SG_ERR_NOMEM ? "out of memory" : msg);
		return NS_EXIT_FAILED;
	}
	int rc = 0;
	if (!strcmp(argv[0], "show")) {
		json_t *j = profile_json(&p);
		json_dumpf(j, stdout, JSON_INDENT(json ? 1 : 2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		rc = profile_check(st, &p, conn, json);
	}
	ns_profile_clear(&p);
	return rc;
}

static int cmd_outbox(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"state", required_argument, NULL, 's'},
	                                     {"dead", no_argument, NULL, 'd'},
	                                     {NULL, 0, NULL, 0}};
	bool json = false;
	const char *state = NULL;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 's')
			state = optarg;
		else if (ch == 'd')
			state = "dead";
		else
			return NS_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (state && strcmp(state, "pending") && strcmp(state, "inflight") &&
	    strcmp(state, "done") && strcmp(state, "dead")) {
		fprintf(stderr, "nowsync: --state is pending, inflight, done or dead\n");
		return NS_EXIT_USAGE;
	}
	if (argc == 1 && !strcmp(argv[0], "list")) {
		if (ns_outbox_list(st, state, json, stdout)) {
			fprintf(stderr, "nowsync: cannot read the outbox\n");
			return NS_EXIT_FAILED;
		}
		return 0;
	}
	if (argc == 2 && !strcmp(argv[0], "retry")) {
		sg_err e = ns_outbox_retry(st, argv[1]);
		if (e == SG_ERR_NO_RECORD) {
			fprintf(stderr, "nowsync: no dead letter %s\n", argv[1]);
			return NS_EXIT_FAILED;
		}
		if (e) {
			fprintf(stderr, "nowsync: cannot retry %s\n", argv[1]);
			return NS_EXIT_FAILED;
		}
		fprintf(stderr, "nowsync: %s is pending again\n", argv[1]);
		return 0;
	}
	fprintf(stderr, "nowsync: outbox list [--state S|--dead] [--json] | retry ID\n");
	return NS_EXIT_USAGE;
}

static int cmd_run(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"workers", required_argument, NULL, 'w'},  {"wait", no_argument, NULL, 'a'},
	    {"timeout", required_argument, NULL, 't'},  {"json", no_argument, NULL, 'j'},
	    {"progress", required_argument, NULL, 'p'}, {"log-level", required_argument, NULL, 'L'},
	    {"lease", required_argument, NULL, 'E'},    {NULL, 0, NULL, 0}};
	long long workers = 4, timeout = 0, prog = 5, lease = st->lease_ms / 1000;
	bool wait = false, json = false;
	enum ns_log_level level = ns_log_enabled(NS_LOG_DEBUG) ? NS_LOG_DEBUG : NS_LOG_INFO;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		if (ch == 'w')
			ok = sg_str_number(optarg, 1, 64, &workers);
		else if (ch == 't')
			ok = sg_str_number(optarg, 1, 86400 * 7, &timeout);
		else if (ch == 'p')
			ok = sg_str_number(optarg, 0, 86400, &prog);
		else if (ch == 'E')
			ok = sg_str_number(optarg, 1, 86400, &lease);
		else if (ch == 'L')
			ok = ns_log_parse_level(optarg, &level);
		else if (ch == 'a')
			wait = true;
		else if (ch == 'j')
			json = true;
		else
			ok = false;
		if (!ok) {
			fprintf(stderr,
			        "nowsync: run [--workers 1..64] [--wait] [--timeout SECONDS] "
			        "[--progress SECONDS] [--log-level debug|info|warn|error] "
			        "[--lease SECONDS] [--json]\n");
			return NS_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nowsync: run takes no arguments\n");
		return NS_EXIT_USAGE;
	}
	ns_log_set_level(level);
	st->lease_ms = lease * 1000;
	long long left = 0, c[4];
	int sig = 0;
	struct ns_run_opts o = {.workers = (int)workers,
	                        .wait_all = wait,
	                        .max_wait_s = timeout,
	                        .progress_s = (int)prog,
	                        .signals = true};
	sg_err e = ns_outbox_run_opts(st, &o, &left, &sig);
	if (e) {
		fprintf(stderr, "nowsync: the outbox: %s\n", sg_err_name(e));
		return NS_EXIT_FAILED;
	}
	if (ns_outbox_counts(st, c)) {
		fprintf(stderr, "nowsync: cannot read the outbox\n");
		return NS_EXIT_FAILED;
	}
	if (json)
		printf("{\"pending\": %lld, \"inflight\": %lld, \"done\": %lld, \"dead\": %lld}\n",
		       c[0], c[1], c[2], c[3]);
	else
		printf("outbox: %lld done, %lld dead, %lld pending\n", c[2], c[3], c[0] + c[1]);
	return c[3] ? 3 : left || sig ? 4 : 0;
}

int ns_cli_delivery(struct ns_state *st, const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "profile"))
		return cmd_profile(st, argc, argv);
	if (!strcmp(cmd, "outbox"))
		return cmd_outbox(st, argc, argv);
	return cmd_run(st, argc, argv);
}
