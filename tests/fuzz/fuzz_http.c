/*
 * libFuzzer target for the HTTP layer: raw request bytes to the real server.
 *
 * The nowd server object (src/nowd/server.c, compiled into this file: it is
 * not part of the library) is started on a free loopback port, over a fresh
 * instance with an admin whose password the seeds carry, and started afresh
 * every RESET_EVERY inputs (see LLVMFuzzerTestOneInput).  Each input is
 * written whole on a new connection (with "Connection: close" after its
 * first line), the write side shut, and the answer read until the server
 * closes.  Nothing may crash (the server's threads run under the same
 * sanitizers), and an answer once begun must end in a close within
 * ANSWER_MS.
 *
 * Why the real server rather than our request-gathering code alone: what
 * went wrong in this layer (chunked bodies, framing headers, Host, NUL) lay
 * between libmicrohttpd's parsing and ours, which only the two together
 * show.  A TCP connection per input costs little here (under a tenth of
 * the time): what an input costs is the server's own work under the
 * sanitizers and libFuzzer's bookkeeping (~1,200 inputs/s on one core).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sodium.h>
#include <unistd.h>

#include "fuzz.h"
#include "auth/password.h"
#include "auth/rules.h"
#include "core/json.h"
#include "nowd/server.c"

#define ANSWER_MS 10000
#define WAIT_MS   1000
/* Inputs between two fresh instances (a new one takes ~0.3 s). */
#define RESET_EVERY 10000
#define ADMIN_ID    "6816f79cc0a8016401c5a33be04be441"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The access log is not wanted here: one line per input. */
void nowd_access_log(const struct sockaddr *client, const char *user, const char *method,
                     const char *raw_uri, int status, size_t bytes_out, long ms, bool aborted)
{
	(void)client;
	(void)user;
	(void)method;
	(void)raw_uri;
	(void)status;
	(void)bytes_out;
	(void)ms;
	(void)aborted;
}

/*
 * Every argon2id hash made in this process (the admin's, the one unknown
 * users are verified against, passwords set through the API) is made at
 * libsodium's least cost: the verification, which reads the cost from the
 * hash, is the same code and takes microseconds instead of ~60 ms and
 * 19 MiB each (before this, an input with an unknown user name cost as
 * much as a hundred others).  This definition takes the place of
 * libsodium's for the whole program.
 */
int crypto_pwhash_str_alg(char out[crypto_pwhash_STRBYTES], const char *const passwd,
                          unsigned long long passwdlen, unsigned long long opslimit,
                          size_t memlimit, int alg)
{
	(void)opslimit;
	(void)memlimit;
	if (alg != crypto_pwhash_ALG_ARGON2ID13)
		return -1;
	return crypto_pwhash_argon2id_str(out, passwd, passwdlen,
	                                  crypto_pwhash_argon2id_OPSLIMIT_MIN,
	                                  crypto_pwhash_argon2id_MEMLIMIT_MIN);
}

static struct sockaddr_in server_addr;
static struct nowd_server *server;

static _Noreturn void fail(const char *what)
{
	fprintf(stderr, "fuzz_http: %s\n", what);
	abort();
}

/* admin / Snowglobe-fuzz-1 ("Authorization: Basic YWRtaW46U25vd2dsb2JlLWZ1enotMQ=="). */
static void add_admin(struct sg_model *m)
{
	struct sg_ctx ctx;
	char id[SG_ID_LEN + 1];
	char *hash = sg_password_hash("Snowglobe-fuzz-1");
	json_t *user = json_pack("{s:s, s:s, s:s}", "sys_id", ADMIN_ID, "user_name", "admin",
	                         "user_password", hash);
	json_t *grant = json_pack("{s:s, s:s}", "user", ADMIN_ID, "role", "admin");
	struct sg_write_opts wo = {.allow_sys_fields = true};
	if (!hash || !user || !grant || sg_ctx_begin(&ctx, m, NULL) ||
	    sg_rec_insert(&ctx, "sys_user", user, &wo, id) ||
	    sg_rec_insert(&ctx, "sys_user_has_role", grant, &wo, id))
		fail("cannot create the admin");
	/* Wrong passwords are counted but never lock the admin out: locked, it
	 * would answer 401 to every input for the lock's 15 minutes (before
	 * this, after the first second of a run). */
	if (sg_prop_set(&ctx, "glide.user.max_unlock_attempts", "0"))
		fail("cannot set the lock-out property");
	sg_ctx_end(&ctx);
	free(hash);
	json_decref(user);
	json_decref(grant);
}

/* The instance in use: its directory under fuzz_dir, model, auth and server. */
static char instance_dir[sizeof(fuzz_dir) + 16];
static struct sg_model *model;
static struct sg_auth *auth;

/* A fresh instance in a new directory under fuzz_dir, and the server over
 * it, on a free loopback port. */
static void instance_start(void)
{
	static unsigned generation;
	snprintf(instance_dir, sizeof(instance_dir), "%s/%u", fuzz_dir, generation++);
	if (mkdir(instance_dir, 0700))
		fail("cannot make the instance directory");
	char schema[512];
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	if (sg_model_init_instance(instance_dir, schema, sg_auth_add_rules) ||
	    sg_model_open(instance_dir, &model) || sg_auth_add_rules(model) ||
	    sg_auth_new(model, &auth))
		fail("cannot create the instance");
	add_admin(model);
	/* A free port: bind one, let it go, and listen there. */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	server_addr =
	    (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(server_addr);
	if (probe < 0 || bind(probe, (struct sockaddr *)&server_addr, len) ||
	    getsockname(probe, (struct sockaddr *)&server_addr, &len))
		fail("no free port");
	close(probe);
	struct nowd_opts o = {.threads = 2,
	                      .max_conn = 4096,
	                      .per_client = 0,
	                      .timeout = 5,
	                      .req_timeout = 1,
	                      .use_poll = true,
	                      .addr = server_addr};
	server = nowd_server_start(model, auth, &o);
	if (!server)
		fail("cannot start the server");
}

static void instance_stop(void)
{
	nowd_server_stop(server);
	sg_auth_free(auth);
	sg_model_close(model);
	if (nftw(instance_dir, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS))
		fail("cannot remove the instance");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	sg_json_init();
	sg_log_buffer(false);
	/* Not a line per token issued; warnings and errors still show. */
	sg_log_set_level(SG_LOG_WARN);
	fuzz_make_dir();
	instance_start();
	return 0;
}

/* A refusal may come (and the connection close) before all is written. */
static void send_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 256 * 1024)
		return 0;
	/* Every RESET_EVERY inputs the instance starts afresh: as admin the
	 * inputs create rows without end (a list then renders up to 10,000 of
	 * them), and may delete the admin or change its password or the
	 * properties, after which every later input would be refused alike. */
	static unsigned long inputs;
	if (++inputs % RESET_EVERY == 0) {
		instance_stop();
		instance_start();
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		fail("socket");
	/* Closed with a reset (below), the client leaves no TIME_WAIT behind:
	 * at a thousand connections a second the ephemeral ports would run out. */
	struct linger reset = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	for (int tries = 0; connect(fd, (struct sockaddr *)&server_addr, sizeof(server_addr));
	     tries++) {
		if (tries == 100 || (errno != EADDRNOTAVAIL && errno != EAGAIN && errno != EINTR))
			fail("connect");
		usleep(10000);
	}
	/* libmicrohttpd keeps a kept-alive connection open after the client's
	 * half-close until the idle timeout, so "Connection: close" goes after
	 * the first line: the server closes once it has answered. */
	static const char close_hdr[] = "Connection: close\r\n";
	const uint8_t *nl = memchr(data, '\n', size);
	size_t first = nl ? (size_t)(nl - data) + 1 : size;
	uint8_t *msg = malloc(size + sizeof(close_hdr));
	if (!msg)
		fail("out of memory");
	memcpy(msg, data, first);
	size_t len = first;
	if (nl) {
		memcpy(msg + len, close_hdr, sizeof(close_hdr) - 1);
		len += sizeof(close_hdr) - 1;
	}
	memcpy(msg + len, data + first, size - first);
	len += size - first;
	send_all(fd, msg, len);
	free(msg);
	shutdown(fd, SHUT_WR);
	/* The server polls (use_poll), so the half-close ends an incomplete
	 * request at once; an input nothing answers within WAIT_MS is abandoned
	 * all the same, not to stall the fuzzer.  Once an answer starts,
	 * it must end in a close within ANSWER_MS. */
	char buf[65536];
	int wait = WAIT_MS;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, wait);
		if (r == 0 && wait == WAIT_MS)
			break;
		if (r == 0)
			fail("an answer was begun and never finished");
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			break;
		wait = ANSWER_MS;
	}
	close(fd);
	/* The server has closed its side; wait until it has freed the
	 * connection too, so the input's allocations and frees balance: when
	 * they do not, libFuzzer runs the input again and scans the whole heap
	 * for leaks (it did so for most inputs, a quarter of the time). */
	for (int i = 0; i < 2000; i++) {
		const union MHD_DaemonInfo *di =
		    MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!di || !di->num_connections)
			break;
		usleep(500);
	}
	return 0;
}
