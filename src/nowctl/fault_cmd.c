/*
 * fault_cmd.c - nowctl fault add|list|remove|clear: injected faults
 * (docs/test-powers.md, "Faults"), through /_snowglobe/faults.
 *
 * Online only: the rules live in the running nowd's memory, with the counts
 * and generator states that make a seeded run replay; there is nothing of
 * them in the data directory to edit offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nowctl/commands.h"

#define PATH "/_snowglobe/faults"

static int usage(void)
{
	fputs("usage: nowctl fault add EFFECT [--method M] [--path GLOB] [--table T] [--user U]\n"
	      "                        [--client-id ID] [--probability P] [--seed N] [--count N]\n"
	      "                        [--from T] [--until T | --for SECONDS] [--latency MS]\n"
	      "                        [--rate N] [--no-rate-limit-headers] [--refresh-tokens]\n"
	      "       nowctl fault list | remove ID | clear\n"
	      "EFFECT: latency, error_500, error_503, transaction_timeout, rate_limit, hibernate,\n"
	      "        close, expire_tokens, token_refused\n",
	      stderr);
	return 2;
}

static void print_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text)
		puts(text);
	free(text);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : "*";
}

static void print_rule(const json_t *r)
{
	printf("%-4s %-19s %-7s %-30s table=%s user=%s client=%s p=%g seed=%lld count=%lld "
	       "latency=%lldms matched=%lld fired=%lld",
	       str(r, "id"), str(r, "effect"), str(r, "method"), str(r, "path"), str(r, "table"),
	       str(r, "user"), str(r, "client_id"),
	       json_number_value(json_object_get(r, "probability")),
	       (long long)json_integer_value(json_object_get(r, "seed")),
	       (long long)json_integer_value(json_object_get(r, "count")),
	       (long long)json_integer_value(json_object_get(r, "latency_ms")),
	       (long long)json_integer_value(json_object_get(r, "matched")),
	       (long long)json_integer_value(json_object_get(r, "fired")));
	const char *from = json_string_value(json_object_get(r, "from"));
	const char *until = json_string_value(json_object_get(r, "until"));
	if (from || until)
		printf(" window=[%s, %s)", from ? from : "-", until ? until : "-");
	putchar('\n');
}

/* The options of fault add, as the rule's JSON fields. */
static int add(struct cmd_env *e, int argc, char **argv)
{
	static const struct {
		const char *flag, *key;
		char kind; /* s string, n number, i integer */
	} opts[] = {
	    {"--method", "method", 's'},
	    {"--path", "path", 's'},
	    {"--table", "table", 's'},
	    {"--user", "user", 's'},
	    {"--client-id", "client_id", 's'},
	    {"--probability", "probability", 'n'},
	    {"--seed", "seed", 'i'},
	    {"--count", "count", 'i'},
	    {"--from", "from", 's'},
	    {"--until", "until", 's'},
	    {"--for", "for", 'i'},
	    {"--latency", "latency_ms", 'i'},
	    {"--rate", "rate", 'i'},
	};
	if (argc < 1 || argv[0][0] == '-')
		return usage();
	json_t *rule = json_pack("{s:s}", "effect", argv[0]);
	if (!rule) {
		fputs("nowctl: out of memory\n", stderr);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--no-rate-limit-headers")) {
			json_object_set_new(rule, "rate_limit_headers", json_false());
			continue;
		}
		if (!strcmp(argv[i], "--refresh-tokens")) {
			json_object_set_new(rule, "refresh_tokens", json_true());
			continue;
		}
		size_t k = 0, n = sizeof(opts) / sizeof(opts[0]);
		while (k < n && strcmp(opts[k].flag, argv[i]))
			k++;
		if (k == n || i + 1 >= argc) {
			json_decref(rule);
			return usage();
		}
		const char *v = argv[++i];
		json_t *val = NULL;
		char *end = NULL;
		if (opts[k].kind == 's') {
			val = json_string(v);
		} else if (opts[k].kind == 'n') {
			double d = strtod(v, &end);
			val = *v && !*end ? json_real(d) : NULL;
		} else {
			long long x = strtoll(v, &end, 10);
			val = *v && !*end ? json_integer(x) : NULL;
		}
		if (!val) {
			fprintf(stderr, "nowctl: %s: not a valid value: %s\n", argv[i - 1], v);
			json_decref(rule);
			return 2;
		}
		json_object_set_new(rule, opts[k].key, val);
	}
	json_t *out = NULL;
	int rc = e->c->call(e->c, "POST", PATH, rule, &out);
	json_decref(rule);
	if (rc) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return 1;
	}
	if (e->json)
		print_json(out);
	else
		printf("Fault rule %s added: %s\n", str(out, "id"), str(out, "effect"));
	json_decref(out);
	return 0;
}

int cmd_fault(struct cmd_env *e, int argc, char **argv)
{
	if (argc < 1)
		return usage();
	if (!e->c->call) {
		fputs("nowctl: fault rules live in the running nowd's memory: use --instance URL "
		      "--user NAME\n",
		      stderr);
		return 1;
	}
	const char *verb = argv[0];
	if (!strcmp(verb, "add"))
		return add(e, argc - 1, argv + 1);
	if (!strcmp(verb, "list") && argc == 1) {
		json_t *out = NULL;
		if (e->c->call(e->c, "GET", PATH, NULL, &out)) {
			fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
			return 1;
		}
		if (e->json) {
			print_json(out);
		} else {
			size_t i;
			json_t *r;
			json_array_foreach(out, i, r) print_rule(r);
			if (!json_array_size(out))
				puts("No fault rules");
		}
		json_decref(out);
		return 0;
	}
	if (!strcmp(verb, "remove") && argc == 2) {
		char path[128];
		if (!argv[1][0] || strspn(argv[1], "0123456789") != strlen(argv[1]) ||
		    strlen(argv[1]) > 9) {
			fprintf(stderr, "nowctl: not a fault rule id: %s\n", argv[1]);
			return 2;
		}
		snprintf(path, sizeof(path), PATH "/%s", argv[1]);
		if (e->c->call(e->c, "DELETE", path, NULL, NULL)) {
			fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
			return 1;
		}
		printf("Fault rule %s removed\n", argv[1]);
		return 0;
	}
	if (!strcmp(verb, "clear") && argc == 1) {
		if (e->c->call(e->c, "DELETE", PATH, NULL, NULL)) {
			fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
			return 1;
		}
		puts("Fault rules cleared");
		return 0;
	}
	return usage();
}
