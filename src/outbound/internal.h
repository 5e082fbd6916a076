/*
 * internal.h - what send.c and log.c share (not part of the contract).
 */
#ifndef SG_OUTBOUND_INTERNAL_H
#define SG_OUTBOUND_INTERNAL_H

#include <stdbool.h>

#include "net/client.h"
#include "outbound/outbound.h"

/* One send as the log records it. */
struct sg__out_sent {
	const struct sg_out_request *req;
	const char *auth_scheme; /* "Basic", "Bearer", or NULL: the header the client added */
	const struct sg_http_response *resp; /* NULL when nothing was sent */
	enum sg_out_outcome outcome;
	const char *error; /* why, when not answered; "" or NULL */
	long elapsed_ms;
	bool in_transaction;
};

/* Writes the sys_outbound_http_log row of s when the log is on
 * (snowglobe.outbound.log).  Only SG_ERR_NOMEM is returned: a log that
 * cannot be written is reported in nowd's log, the send stands. */
sg_err sg__out_log(struct sg_ctx *ctx, const struct sg__out_sent *s);

/* The host part of an http(s) URL into host (lower case, without brackets,
 * user information or port).  False when url is not http:// or https:// or
 * has no host. */
bool sg__out_url_host(const char *url, char *host, size_t size);

/* Whether host is allowed by the allow-list list (comma-separated names;
 * "*.example.com" allows its subdomains; empty or NULL: every host). */
bool sg__out_host_allowed(const char *list, const char *host);

/* The instance's outbound policy, read from system properties at each call:
 * every outbound request (sg_out_send, and the OAuth token endpoint calls of
 * oauth.c) obeys the same allow-list, proxy and CA bundle. */
struct sg__out_policy {
	char *allowed, *proxy_host, *ca_bundle;
	long long proxy_port, max_timeout_s, txn_timeout_s;
	char proxy[300]; /* the proxy URL, "" for none (never the environment's) */
};

/* Reads the policy; sg__out_policy_cleanup() frees it (also after an error). */
sg_err sg__out_policy_load(struct sg_ctx *ctx, struct sg__out_policy *p);
void sg__out_policy_cleanup(struct sg__out_policy *p);

/* Whether url may be called: an http(s) URL with a host in the allow-list.
 * When not, why (of size) says so, naming the host and the property. */
bool sg__out_policy_allows(const struct sg__out_policy *p, const char *url, char *why, size_t size);

/* Sets o's proxy and CA bundle from p (o borrows p's strings). */
void sg__out_policy_apply(const struct sg__out_policy *p, struct sg_http_options *o);

#endif
