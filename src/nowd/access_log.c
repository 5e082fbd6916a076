/*
 * access_log.c - one line per request: who, what, how it ended, how long.
 * Lines go through the held log (core/log.h), written in batches.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "nowd/nowd.h"

/* The access log never shows secrets: values of these parameters are masked. */
static void log_uri(char *out, size_t size, const char *uri)
{
	static const char *secret[] = {
	    "access_token=", "password=", "client_secret=", "refresh_token=", "token="};
	size_t o = 0;
	for (const char *p = uri; *p && o + 1 < size;) {
		bool masked = false;
		if (p == uri || p[-1] == '?' || p[-1] == '&') {
			for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
				size_t n = strlen(secret[i]);
				if (!strncmp(p, secret[i], n)) {
					int w = snprintf(out + o, size - o, "%s***", secret[i]);
					o += (w > 0 && (size_t)w < size - o) ? (size_t)w : 0;
					p += n;
					while (*p && *p != '&')
						p++;
					masked = true;
					break;
				}
			}
		}
		if (!masked)
			out[o++] = *p++;
	}
	out[o < size ? o : size - 1] = '\0';
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
