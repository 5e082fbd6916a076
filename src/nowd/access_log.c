/*
 * access_log.c - one line per request: who, what, how it ended, how long.
 * Lines go through the held log (core/log.h), written in batches.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "net/redact.h"
#include "nowd/nowd.h"

/* The access log never shows secrets: the values of secret parameters are
 * masked, their names matched after percent-decoding and in any case
 * (net/redact.h: "%63lient_secret=", "Password=", "x-sn-apikey=").  A line
 * cut at size ends with "..."; a buffer that fails shows the path alone. */
static void log_uri(char *out, size_t size, const char *uri)
{
	size_t len = strlen(uri);
	struct sg_buf b;
	sg_buf_init(&b, 2 * len + 16); /* "a=&" -> "a=***&": at most twice as long */
	sg_net_redact_url(&b, uri, len);
	if (sg_buf_failed(&b)) {
		size_t n = strcspn(uri, "?#");
		snprintf(out, size, "%.*s?***", (int)(n < size ? n : size - 1), uri);
	} else if (b.len < size) {
		memcpy(out, sg_buf_str(&b), b.len + 1);
	} else {
		snprintf(out, size, "%.*s...", (int)(size - 4), sg_buf_str(&b));
	}
	sg_buf_cleanup(&b);
}

void nowd_access_log(const struct sockaddr *client, const char *user, const char *method,
                     const char *raw_uri, int status, size_t bytes_out, long ms, bool aborted)
{
	char addr[INET6_ADDRSTRLEN] = "-";
	if (client && client->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)client)->sin_addr, addr,
		          sizeof(addr));
	else if (client && client->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)client)->sin6_addr, addr,
		          sizeof(addr));
	char uri[1024];
	log_uri(uri, sizeof(uri), raw_uri ? raw_uri : "");
	sg_log_info("%s %s \"%s %s\" %d %zu %ldms%s", addr, user && *user ? user : "-", method, uri,
	            status, bytes_out, ms, aborted ? " (aborted)" : "");
}
