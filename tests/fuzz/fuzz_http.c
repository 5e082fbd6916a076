/*
 * libFuzzer target for the HTTP layer: raw request bytes to the real server.
 *
 * The nowd server object (src/nowd/server.c, compiled into this file: it is
 * not part of the library) is started once, on a free loopback port, over a
 * fresh instance with an admin whose password the seeds carry.  Each input is
 * written whole on a new connection (with "Connection: close" after its
 * first line), the write side shut, and the answer read until the server
 * closes.  Nothing may crash (the server's threads run under the same
 * sanitizers), and an answer once begun must end in a close within
 * ANSWER_MS.
 *
 * Why the real server rather than our request-gathering code alone: what
 * went wrong in this layer (chunked bodies, framing headers, Host, NUL) lay
 * between libmicrohttpd's parsing and ours, which only the two together
 * show; at a few thousand executions a second on loopback it is fast
 * enough.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "auth/password.h"
#include "auth/rules.h"
#include "core/json.h"
#include "nowd/server.c"

#define ANSWER_MS 10000
#define WAIT_MS   1000
#define ADMIN_ID  "6816f79cc0a8016401c5a33be04be441"

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

static struct sockaddr_in server_addr;

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
	sg_ctx_end(&ctx);
	free(hash);
	json_decref(user);
	json_decref(grant);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	sg_json_init();
	sg_log_buffer(false);
	char schema[512];
	snprintf(schema, sizeof(schema), "%s/schema", SG_SHARE_DIR);
	struct sg_model *m = NULL;
	struct sg_auth *auth = NULL;
	const char *dir = fuzz_make_dir();
	if (sg_model_init_instance(dir, schema, sg_auth_add_rules) || sg_model_open(dir, &m) ||
	    sg_auth_add_rules(m) || sg_auth_new(m, &auth))
		fail("cannot create the instance");
	add_admin(m);
	/* A free port: bind one, let it go, and listen there. */
	int probe = socket(AF_INET, SOCK_STREAM, 0);
	server_addr =
	    (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(server_addr);
	if (probe < 0 || bind(probe, (struct sockaddr *)&server_addr, len) ||
	    getsockname(probe, (struct sockaddr *)&server_addr, &len))
		fail("no free port");
	close(probe);
	static struct nowd_opts o = {.threads = 2,
	                             .max_conn = 4096,
	                             .per_client = 0,
	                             .timeout = 5,
	                             .req_timeout = 1,
	                             .use_poll = true};
	o.addr = server_addr;
	static struct nowd_server *server;
	server = nowd_server_start(m, auth, &o);
	if (!server)
		fail("cannot start the server");
	/* The server, the model and the instance live until the process ends. */
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
	return 0;
}
