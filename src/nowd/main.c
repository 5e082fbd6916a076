/*
 * nowd - a ServiceNow-compatible instance.
 *
 * This file is the program: its flags, the instance it opens, the server it
 * starts (server.c: the HTTP glue; the request itself belongs to src/api),
 * background upkeep, and a clean shutdown on SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sodium.h>

#include "auth/auth.h"
#include "auth/rules.h"
#include "auth/secret.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/tz.h"
#include "core/util.h"
#include "script/script.h"
#include "core/version.h"
#include "net/redact.h"
#include "nowd/nowd.h"
#include "outbound/queue.h"
#include "script/background.h"
#include "script/brules.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct sg_buf b;
	sg_buf_init(&b, 1024 * 1024);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sg_buf_append(&b, chunk, n);
	fclose(f);
	return sg_buf_steal(&b);
}

/* Background upkeep until stop is set: the held access-log lines written and
 * a passive checkpoint every 200 ms, planner statistics a second after start
 * and then every ten minutes. */
struct upkeep {
	struct sg_model *model;
	atomic_bool stop;
};

static void *upkeep_main(void *arg)
{
	struct upkeep *u = arg;
	sg_conn *c = sg_store_conn(u->model->store);
	for (long tick = 0; !atomic_load(&u->stop); tick++) {
		sg_log_flush();
		sg_err err = c ? sg_conn_maintain(c, tick % 3000 == 5) : SG_ERR_OK;
		if (err && err != SG_ERR_BUSY)
			sg_log_warn("upkeep: %s", sg_err_name(err));
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void usage(FILE *f)
{
	fputs("usage: nowd (--data DIR | --db URL) [--listen ADDR] [--port N] [--base-url URL]\n"
	      "            [--tls-cert FILE --tls-key FILE] [--threads N]\n"
	      "            [--max-connections N] [--max-per-client N]\n"
	      "            [--timeout SECONDS] [--request-timeout SECONDS] [--job-workers N]\n"
	      "            [--delivery-workers N] [--no-snowglobe-api] [--ephemeral]\n"
	      "            [--key-file FILE] [--ui-dir DIR]\n"
	      "\n"
	      "Serves the instance in DIR (made by 'nowctl init'), or the database at URL\n"
	      "(sqlite:PATH or postgresql://...).  --key-file names the instance key\n"
	      "(SNOWGLOBE_KEY_FILE; default: keys/ beside a SQLite database, for PostgreSQL\n"
	      "~/.config/snowglobe/keys/HOST-PORT-DB.key, made by 'nowctl init'; or the\n"
	      "key itself in SNOWGLOBE_KEY).  Defaults: listen 127.0.0.1, port 8080, 8 threads, "
	      "4096\n"
	      "connections (at most what the open-file limit allows), 256 from one client\n"
	      "address (0: no limit), 60 s idle between requests and 10 s of silence\n"
	      "inside a request (0: none), 1 background job worker (0: none), 2 outbound\n"
	      "delivery workers (0: none; queued requests wait for a nowd that has some).\n"
	      "--base-url sets the public URL used in every absolute link (otherwise\n"
	      "the glide.servlet.uri property, otherwise the request's Host).\n"
	      "--no-snowglobe-api removes the test-double powers under /_snowglobe/\n"
	      "(snapshots, request journal, faults, clock): the instance then looks\n"
	      "exactly like ServiceNow.\n"
	      "--ephemeral serves a temporary copy of the instance (database, keys,\n"
	      "attachments, snapshots), removed on exit: DIR is left exactly as it was\n"
	      "(not for PostgreSQL: refused; use snapshots and POST /_snowglobe/reset).\n"
	      "--ui-dir serves the browser console's files from DIR instead of the\n"
	      "ui/ folder of the source tree nowd was built from.\n",
	      f);
}

/*
 * Raises the open-file limit as far as allowed and keeps max_conn within
 * it (a descriptor per connection, and some for the database, the log and
 * the listening socket), so that accept() never fails for want of one.
 */
static void fit_connections(unsigned *max_conn)
{
	enum { SPARE = 64 };
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		if (want == RLIM_INFINITY || want > (rlim_t)*max_conn + SPARE)
			want = (rlim_t)*max_conn + SPARE;
		if (want > rl.rlim_cur) {
			struct rlimit up = {want, rl.rlim_max};
			if (setrlimit(RLIMIT_NOFILE, &up) == 0)
				rl.rlim_cur = want;
		}
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)*max_conn + SPARE) {
		unsigned fit = rl.rlim_cur > 2 * SPARE ? (unsigned)(rl.rlim_cur - SPARE) : SPARE;
		sg_log_warn("the open-file limit (%llu) allows %u connections, not %u",
		            (unsigned long long)rl.rlim_cur, fit, *max_conn);
		*max_conn = fit;
	}
}

/* A numeric flag's value: digits only, from min to max.  false (and a
 * message) for anything else, where atoi would have read garbage as 0. */
static bool number_flag(const char *flag, const char *s, unsigned long min, unsigned long max,
                        unsigned *out)
{
	long long v;
	if (!sg_str_number(s, (long long)min, (long long)max, &v)) {
		fprintf(stderr, "nowd: --%s wants a number from %lu to %lu, not '%s'\n", flag, min,
		        max, s);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

/*
 * On a database server the instance key is a file given to each node (or
 * SNOWGLOBE_KEY): a node without it would fail at the first password2
 * value, so it does not start.  A SQLite instance keeps its key beside the
 * database and makes it on first use, as before.
 */
static sg_err require_key(struct sg_model *m)
{
	char *ident = NULL;
	bool server = sg_store_ident(m->store, &ident) == SG_ERR_OK;
	free(ident);
	if (!server && !getenv(SG_SECRET_FILE_ENV))
		return SG_ERR_OK;
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, m, NULL);
	if (err)
		return err;
	char path[4200];
	err = sg_secret_require(&ctx, path, sizeof(path));
	sg_ctx_end(&ctx);
	if (err == SG_ERR_NO_RESOURCE)
		sg_log_error(
		    "the instance key %s is missing: copy it from the host where 'nowctl "
		    "init' ran (mode 0600), or give --key-file FILE, SNOWGLOBE_KEY_FILE or "
		    "SNOWGLOBE_KEY",
		    path);
	else if (err)
		sg_log_error("the instance key cannot be read (%s)", sg_err_name(err));
	return err;
}

int main(int argc, char **argv)
{
	const char *data = NULL, *db = NULL, *listen_addr = "127.0.0.1", *cert = NULL, *key = NULL;
	struct nowd_opts o = {
	    .threads = 8, .max_conn = 4096, .per_client = 256, .timeout = 60, .req_timeout = 10};
	unsigned port = 8080, job_workers = 1, delivery_workers = 2;
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
	                                     {"db", required_argument, NULL, 'D'},
	                                     {"listen", required_argument, NULL, 'l'},
	                                     {"port", required_argument, NULL, 'p'},
	                                     {"base-url", required_argument, NULL, 'b'},
	                                     {"tls-cert", required_argument, NULL, 'c'},
	                                     {"tls-key", required_argument, NULL, 'k'},
	                                     {"threads", required_argument, NULL, 't'},
	                                     {"max-connections", required_argument, NULL, 'm'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {"request-timeout", required_argument, NULL, 'R'},
	                                     {"max-per-client", required_argument, NULL, 'P'},
	                                     {"job-workers", required_argument, NULL, 'J'},
	                                     {"delivery-workers", required_argument, NULL, 'O'},
	                                     {"no-snowglobe-api", no_argument, NULL, 'N'},
	                                     {"ephemeral", no_argument, NULL, 'E'},
	                                     {"key-file", required_argument, NULL, 'K'},
	                                     {"ui-dir", required_argument, NULL, 'U'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {"version", no_argument, NULL, 'V'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	bool ok = true, ephemeral = false;
	while ((c = getopt_long(argc, argv, "d:D:l:p:b:c:k:t:m:T:R:P:J:O:K:U:NEhV", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'D':
			db = optarg;
			break;
		case 'l':
			listen_addr = optarg;
			break;
		case 'p':
			ok &= number_flag("port", optarg, 1, 65535, &port);
			break;
		case 'b':
			o.base_url = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 't':
			ok &= number_flag("threads", optarg, 1, 64, &o.threads);
			break;
		case 'm':
			ok &= number_flag("max-connections", optarg, 1, UINT_MAX, &o.max_conn);
			break;
		case 'T':
			ok &= number_flag("timeout", optarg, 0, UINT_MAX, &o.timeout);
			break;
		case 'R':
			ok &= number_flag("request-timeout", optarg, 0, UINT_MAX, &o.req_timeout);
			break;
		case 'P':
			ok &= number_flag("max-per-client", optarg, 0, UINT_MAX, &o.per_client);
			break;
		case 'J':
			ok &= number_flag("job-workers", optarg, 0, 16, &job_workers);
			break;
		case 'O':
			ok &= number_flag("delivery-workers", optarg, 0, 32, &delivery_workers);
			break;
		case 'N':
			o.no_snowglobe_api = true;
			break;
		case 'E':
			ephemeral = true;
			break;
		case 'K':
			if (setenv(SG_SECRET_FILE_ENV, optarg, 1) != 0)
				return 1;
			break;
		case 'U':
			o.ui_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("nowd %s\n", SG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!ok)
		return 2;
	/* The instance: a data directory or a database URL, one of the two. */
	const char *target = db ? db : data;
	if (!target || (data && db) || optind < argc || (!cert != !key)) {
		usage(stderr);
		return 2;
	}
	sg_json_init(); /* before any thread uses jansson */
	if (sodium_init() < 0) {
		sg_log_error("libsodium failed to initialise");
		return 1;
	}
	fit_connections(&o.max_conn);
	o.addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, listen_addr, &o.addr.sin_addr) != 1) {
		sg_log_error("--listen: not an IPv4 address: %s", listen_addr);
		return 2;
	}
	char *cert_pem = NULL, *key_pem = NULL;
	if (cert) {
		cert_pem = read_file(cert);
		key_pem = read_file(key);
		if (!cert_pem || !key_pem) {
			sg_log_error("cannot read the TLS certificate or key");
			return 1;
		}
		o.cert_pem = cert_pem;
		o.key_pem = key_pem;
	}
	char *ephemeral_dir = NULL;
	if (ephemeral && strncmp(target, "sqlite:", 7) && strstr(target, "://")) {
		/* A copy of a server's database would be a second database to
		 * make and drop behind the admin's back: refused, plainly. */
		sg_log_error("--ephemeral copies a data directory or a sqlite: file; a database "
		             "server's instance is not copied: save a snapshot and POST "
		             "/_snowglobe/reset (or 'nowctl snapshot restore') instead");
		return 2;
	}
	if (ephemeral) {
		ephemeral_dir = nowd_ephemeral_make(target);
		if (!ephemeral_dir)
			return 1;
		target = ephemeral_dir;
	}
	struct sg_model *model;
	struct sg_auth *auth = NULL;
	sg_err err = sg_model_open(target, &model);
	if (err) {
		char *where = sg_net_masked_url(target);
		sg_log_error("cannot open the instance in %s (%s); create it with 'nowctl init'",
		             where ? where : "the store named", sg_err_name(err));
		free(where);
		nowd_ephemeral_remove(ephemeral_dir);
		return 1;
	}
	err = require_key(model);
	if (!err)
		err = sg_auth_add_rules(model);
	if (!err)
		err = sg_outq_add_rules(model);
	if (!err)
		err = sg_script_background_install(model);
	if (!err)
		err = sg_auth_new(model, &auth);
	if (!err)
		err = sg_brules_install(model, auth);
	sg_script_install_hooks(); /* ACL scripts, javascript: values */
	if (err) {
		sg_log_error("cannot start: %s", sg_err_name(err));
		sg_model_close(model);
		nowd_ephemeral_remove(ephemeral_dir);
		return 1;
	}

	/* Signals are taken by sigwait() below, not by whichever thread runs. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Other nodes' changes heard at once (PostgreSQL); its thread is made
	 * after the mask, so signals still reach only sigwait(). */
	if (sg_model_listen(model))
		sg_log_warn("cannot listen for other nodes' changes; each request still compares "
		            "the change counters");

	struct nowd_server *server = nowd_server_start(model, auth, &o);
	if (!server) {
		sg_log_error("cannot listen on %s:%u", listen_addr, port);
		sg_auth_free(auth);
		sg_model_close(model);
		nowd_ephemeral_remove(ephemeral_dir);
		return 1;
	}
	char *where = sg_net_masked_url(target);
	sg_log_info("nowd listening on %s://%s:%u (data %s)", cert ? "https" : "http", listen_addr,
	            port, where ? where : "(a database URL)");
	free(where);
	struct upkeep upkeep = {.model = model};
	pthread_t upkeep_thread;
	bool upkeep_running = pthread_create(&upkeep_thread, NULL, upkeep_main, &upkeep) == 0;
	sg_log_buffer(upkeep_running); /* upkeep writes the held lines */
	if (job_workers) {
		int n = 0;
		err = sg_script_background_reconcile(model, &n);
		if (err)
			sg_log_warn("jobs: cannot schedule the scheduled jobs: %s",
			            sg_err_name(err));
		else if (n)
			sg_log_info("jobs: %d scheduled job(s) had no run queued; scheduled", n);
	}
	struct nowd_workers *workers = nowd_workers_start(model, job_workers);
	struct nowd_workers *senders = nowd_outq_workers_start(model, delivery_workers);
	int sig;
	sigwait(&set, &sig);
	sg_log_info("nowd: signal %d, shutting down", sig);
	nowd_server_stop(server);
	nowd_workers_stop(senders);
	nowd_workers_stop(workers);
	if (upkeep_running) {
		atomic_store(&upkeep.stop, true);
		pthread_join(upkeep_thread, NULL);
	}
	sg_auth_free(auth);
	sg_model_close(model);
	nowd_ephemeral_remove(ephemeral_dir);
	sg_tz_cleanup();
	free(cert_pem);
	free(key_pem);
	sg_log_buffer(false);
	return 0;
}
