/*
 * oauth_cmd.c - the outbound side of nowctl oauth: "Connect to a third
 * party OAuth Provider" and its "Get OAuth Token" related link.
 *
 *   oauth provider NAME --client-id ID --token-url URL [...]
 *       an oauth_entity of type oauth_provider (its default profile is made
 *       by the instance); the client secret is read from stdin or a prompt,
 *       never from the command line.  Offline or online.
 *   oauth get-token PROFILE [--user NAME]
 *       PROFILE: an oauth_entity_profile's name or sys_id, or a provider's
 *       name (its default profile).  client_credentials and password fetch
 *       at once (password: the resource owner's password from stdin or a
 *       prompt); authorization_code prints the provider's authorize URL,
 *       whose redirect nowd's /oauth_redirect.do takes.  Offline only, as
 *       ServiceNow's REST surface has no Get OAuth Token (a UI action); nowd
 *       on the same data directory sees the tokens.  The console's related
 *       link runs the same functions through nowd (api/oauth_get_token.c).
 *
 * No token, code or secret is ever printed.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/json.h"
#include "core/util.h"
#include "nowctl/commands.h"
#include "outbound/oauth.h"
#include "outbound/oauth_flow.h"

/* A string member of o, "" when absent or not a string. */
static const char *str(const json_t *o, const char *key)
{
	const char *s = sg_json_str(o, key);
	return s ? s : "";
}

/* A secret from stdin: without echo after a prompt on a terminal, else the
 * first line.  False when none came. */
static bool read_secret(const char *prompt, char *out, size_t size)
{
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	bool ok = fgets(out, (int)size, stdin) != NULL;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!ok)
		return false;
	out[strcspn(out, "\r\n")] = '\0';
	return *out != '\0';
}

static int usage(const char *msg)
{
	fprintf(stderr, "nowctl: %s (see nowctl --help)\n", msg);
	return 2;
}

/* A scope for the provider (oauth_entity_scope) on its default profile. */
static int add_scope(struct cmd_env *e, const char *entity, const char *scope)
{
	char q[256];
	snprintf(q, sizeof(q), "oauth_entity=%s^default=true", entity);
	json_t *profiles = NULL, *s = NULL, *link = NULL;
	if (e->c->list(e->c, "oauth_entity_profile", q, 1, &profiles) ||
	    !json_array_size(profiles)) {
		json_decref(profiles);
		fprintf(stderr, "nowctl: the provider has no default profile\n");
		return 1;
	}
	json_t *in = json_pack("{s:s, s:s, s:s}", "name", scope, "oauth_entity_scope", scope,
	                       "oauth_entity", entity);
	int rc = in ? e->c->insert(e->c, "oauth_entity_scope", in, &s) : 1;
	json_decref(in);
	if (!rc) {
		in = json_pack("{s:s, s:s}", "oauth_entity_profile",
		               str(json_array_get(profiles, 0), "sys_id"), "oauth_entity_scope",
		               str(s, "sys_id"));
		rc = in ? e->c->insert(e->c, "oauth_entity_profile_scope", in, &link) : 1;
		json_decref(in);
	}
	if (rc)
		fprintf(stderr, "nowctl: scope %s: %s\n", scope, e->c->errmsg);
	json_decref(s);
	json_decref(link);
	json_decref(profiles);
	return rc ? 1 : 0;
}

#define MAX_SCOPES 32

static int provider_add(struct cmd_env *e, int argc, char **argv)
{
	static const struct option opts[] = {{"client-id", required_argument, NULL, 'c'},
	                                     {"token-url", required_argument, NULL, 't'},
	                                     {"auth-url", required_argument, NULL, 'a'},
	                                     {"revoke-url", required_argument, NULL, 'v'},
	                                     {"redirect-url", required_argument, NULL, 'R'},
	                                     {"grant", required_argument, NULL, 'g'},
	                                     {"send-credentials", required_argument, NULL, 's'},
	                                     {"pkce", required_argument, NULL, 'p'},
	                                     {"refresh-lifespan", required_argument, NULL, 'r'},
	                                     {"scope", required_argument, NULL, 'S'},
	                                     {NULL, 0, NULL, 0}};
	json_t *in = json_pack("{s:s, s:s, s:s}", "type", "oauth_provider", "active", "true",
	                       "default_grant_type", "client_credentials");
	const char *scopes[MAX_SCOPES];
	size_t nscopes = 0;
	int c;
	optind = 1;
	while (in && (c = getopt_long(argc, argv, "c:t:a:v:R:g:s:p:r:S:", opts, NULL)) != -1) {
		const char *field = NULL;
		switch (c) {
		case 'c':
			field = "client_id";
			break;
		case 't':
			field = "token_url";
			break;
		case 'a':
			field = "auth_url";
			break;
		case 'v':
			field = "revoke_token_url";
			break;
		case 'R':
			field = "redirect_url";
			break;
		case 'g':
			if (strcmp(optarg, "client_credentials") && strcmp(optarg, "password") &&
			    strcmp(optarg, "authorization_code")) {
				json_decref(in);
				return usage("--grant is client_credentials, password or "
				             "authorization_code");
			}
			field = "default_grant_type";
			break;
		case 's':
			if (strcmp(optarg, "body") && strcmp(optarg, "basic")) {
				json_decref(in);
				return usage("--send-credentials is body or basic");
			}
			field = "send_credentials";
			break;
		case 'p':
			if (strcmp(optarg, "S256") && strcmp(optarg, "plain")) {
				json_decref(in);
				return usage("--pkce is S256 or plain");
			}
			field = "code_challenge_method";
			break;
		case 'r':
			if (!sg_str_number(optarg, 1, 1LL << 40, &(long long){0})) {
				json_decref(in);
				return usage("--refresh-lifespan takes seconds");
			}
			field = "refresh_token_lifespan";
			break;
		case 'S':
			if (nscopes < MAX_SCOPES)
				scopes[nscopes++] = optarg;
			continue;
		default:
			json_decref(in);
			return 2;
		}
		json_object_set_new(in, field, json_string(optarg));
	}
	if (!in)
		return 1;
	if (optind != argc - 1 || !json_object_get(in, "client_id") ||
	    !json_object_get(in, "token_url")) {
		json_decref(in);
		return usage("oauth provider NAME --client-id ID --token-url URL [options] "
		             "(the client secret on stdin)");
	}
	json_object_set_new(in, "name", json_string(argv[optind]));
	char secret[1024];
	if (!read_secret("Client secret: ", secret, sizeof(secret))) {
		json_decref(in);
		sodium_memzero(secret, sizeof(secret));
		fprintf(stderr, "nowctl: no client secret on stdin\n");
		return 1;
	}
	json_object_set_new(in, "client_secret", json_string(secret));
	sodium_memzero(secret, sizeof(secret));
	json_t *rec = NULL;
	int rc = e->c->insert(e->c, "oauth_entity", in, &rec);
	/* the clear secret leaves memory with the input */
	json_t *cs = json_object_get(in, "client_secret");
	if (cs && json_string_length(cs))
		sodium_memzero((char *)json_string_value(cs), json_string_length(cs));
	json_decref(in);
	if (rc) {
		fprintf(stderr, "nowctl: oauth provider: %s\n", e->c->errmsg);
		return 1;
	}
	const char *id = str(rec, "sys_id");
	for (size_t i = 0; !rc && i < nscopes; i++)
		rc = add_scope(e, id, scopes[i]);
	char q[128];
	snprintf(q, sizeof(q), "oauth_entity=%s^default=true", id);
	json_t *profiles = NULL;
	if (!rc && e->c->list(e->c, "oauth_entity_profile", q, 1, &profiles))
		rc = 1;
	json_t *profile = json_array_get(profiles, 0);
	if (!rc && e->json) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "sys_id", id, "name",
		                        str(rec, "name"), "profile", str(profile, "sys_id"),
		                        "profile_name", str(profile, "name"));
		char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(out);
	} else if (!rc) {
		printf("OAuth provider %s (sys_id %s)\ndefault profile: %s (sys_id %s)\n"
		       "redirect URL: %s\n",
		       str(rec, "name"), id, str(profile, "name"), str(profile, "sys_id"),
		       *str(rec, "redirect_url") ? str(rec, "redirect_url")
		                                 : "(none: set glide.servlet.uri)");
	}
	json_decref(profiles);
	json_decref(rec);
	return rc ? 1 : 0;
}

static int get_token(struct cmd_env *e, int argc, char **argv)
{
	static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
	                                     {NULL, 0, NULL, 0}};
	const char *user = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:", opts, NULL)) != -1) {
		if (c != 'u')
			return 2;
		user = optarg;
	}
	if (optind != argc - 1)
		return usage("oauth get-token PROFILE [--user NAME]");
	if (!e->c->model) {
		fprintf(stderr, "nowctl: oauth get-token runs offline only (--data DIR or --db "
		                "URL, beside a running nowd); online, use the console's Get OAuth "
		                "Token (POST /api/now/ui/oauth/get_token)\n");
		return 1;
	}
	struct sg_ctx ctx;
	sg_model_sync(e->c->model);
	sg_err err = sg_ctx_begin(&ctx, e->c->model, NULL);
	if (err) {
		fprintf(stderr, "nowctl: %s\n", sg_err_name(err));
		return 1;
	}
	char pid[SG_ID_LEN + 1], grant[64] = "", msg[512] = "";
	err = sg_oauth_out_profile(&ctx, argv[optind], pid);
	if (err == SG_ERR_NO_RECORD)
		snprintf(msg, sizeof(msg), "no OAuth profile or provider '%s'", argv[optind]);
	if (!err)
		err = sg_oauth_out_grant_type(&ctx, pid, grant, sizeof(grant));
	int rc = 0;
	if (!err && !strcmp(grant, "authorization_code")) {
		char *url = NULL;
		err = sg_oauth_out_authorize_url(&ctx, pid, NULL, NULL, &url, msg, sizeof(msg));
		if (!err && e->json) {
			json_t *out = json_pack("{s:s, s:s, s:s}", "profile", pid, "grant_type",
			                        grant, "authorize_url", url);
			char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
			printf("%s\n", s ? s : "{}");
			free(s);
			json_decref(out);
		} else if (!err) {
			printf(
			    "Open this URL, sign in and allow access; the provider sends the "
			    "browser back to the instance's /oauth_redirect.do, which stores the "
			    "token:\n%s\n",
			    url);
		}
		free(url);
	} else if (!err) {
		char password[1024] = "";
		if (!strcmp(grant, "password")) {
			if (!user) {
				sg_ctx_end(&ctx);
				return usage("the password grant needs --user NAME (the password "
				             "on stdin)");
			}
			if (!read_secret("Password: ", password, sizeof(password))) {
				sg_ctx_end(&ctx);
				fprintf(stderr, "nowctl: no password on stdin\n");
				return 1;
			}
		}
		struct sg_oauth_out_result res;
		err = sg_oauth_out_fetch(&ctx, pid, user, password, &res, msg, sizeof(msg));
		sodium_memzero(password, sizeof(password));
		if (!err && e->json) {
			json_t *out =
			    json_pack("{s:s, s:s, s:I, s:b, s:s}", "profile", pid, "grant_type",
			              grant, "expires_in", (json_int_t)res.expires_in,
			              "refresh_token", res.refresh, "scope", res.scope);
			char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
			printf("%s\n", s ? s : "{}");
			free(s);
			json_decref(out);
		} else if (!err) {
			printf(
			    "OAuth token stored for the profile %s (%s): expires in %lld s%s%s%s\n",
			    argv[optind], grant, res.expires_in,
			    res.refresh ? ", with a refresh token" : "",
			    *res.scope ? ", scope " : "", res.scope);
		}
	}
	if (err) {
		fprintf(stderr, "nowctl: oauth get-token: %s\n", *msg ? msg : sg_err_name(err));
		rc = 1;
	}
	sg_ctx_end(&ctx);
	return rc;
}

/* oauth token PROFILE [--force]: the token the instance would present now,
 * got as sg_oauth_out_token gets it (stored, refreshed when due, or new);
 * prints when it expires, never the token. */
static int show_token(struct cmd_env *e, int argc, char **argv)
{
	static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	bool force = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c != 'f')
			return 2;
		force = true;
	}
	if (optind != argc - 1)
		return usage("oauth token PROFILE [--force]");
	if (!e->c->model) {
		fprintf(stderr, "nowctl: oauth token runs offline only (--data DIR or --db URL)\n");
		return 1;
	}
	struct sg_ctx ctx;
	sg_model_sync(e->c->model);
	sg_err err = sg_ctx_begin(&ctx, e->c->model, NULL);
	if (err) {
		fprintf(stderr, "nowctl: %s\n", sg_err_name(err));
		return 1;
	}
	char pid[SG_ID_LEN + 1], msg[512] = "";
	char *token = NULL;
	err = sg_oauth_out_profile(&ctx, argv[optind], pid);
	if (err == SG_ERR_NO_RECORD)
		snprintf(msg, sizeof(msg), "no OAuth profile or provider '%s'", argv[optind]);
	if (!err)
		err = sg_oauth_out_token(&ctx, pid, force, &token, msg, sizeof(msg));
	int rc = 0;
	if (err) {
		fprintf(stderr, "nowctl: oauth token: %s\n", *msg ? msg : sg_err_name(err));
		rc = 1;
	} else {
		/* a fingerprint tells tokens apart without showing one */
		unsigned char h[8];
		char hex[17];
		crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), NULL,
		                   0);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
		if (e->json)
			printf("{\"profile\": \"%s\", \"fingerprint\": \"%s\"}\n", pid, hex);
		else
			printf("OAuth token for the profile %s is usable (fingerprint %s)\n",
			       argv[optind], hex);
		sodium_memzero(token, strlen(token));
		free(token);
	}
	sg_ctx_end(&ctx);
	return rc;
}

int cmd_oauth_out(struct cmd_env *e, int argc, char **argv)
{
	if (argc >= 1 && !strcmp(argv[0], "token"))
		return show_token(e, argc, argv);
	if (argc >= 1 && !strcmp(argv[0], "provider"))
		return provider_add(e, argc, argv);
	if (argc >= 1 && !strcmp(argv[0], "get-token"))
		return get_token(e, argc, argv);
	return usage("oauth provider|get-token ...");
}
