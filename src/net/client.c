/*
 * client.c - the outbound HTTP client over libcurl: one easy handle per
 * client (reset before each attempt, so connections are kept), options
 * applied afresh each time, the retry loop, and redacted logging.
 */
#include "net/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "net/redact.h"

_Static_assert(SG_NET_DETAIL_SIZE >= CURL_ERROR_SIZE, "room for libcurl's error buffer");

#define LOG_LINE_MAX 2048 /* a redacted URL or header in a log line */
#define LOG_BODY_MAX 512  /* how much of a form body a debug line shows */

struct sg_http_client {
	CURL *curl;
	struct sg_http_options opt; /* its strings point to copies owned here */
	uint64_t rng;               /* xorshift state for backoff jitter */
	char errbuf[CURL_ERROR_SIZE];
};

/* ---- errors ------------------------------------------------------------ */

const char *sg_net_err_name(sg_net_err err)
{
	static const char *const names[] = {
#define SG__NET_ERR_NAME(name, step) #name,
	    SG_NET_ERR_MAP(SG__NET_ERR_NAME)
#undef SG__NET_ERR_NAME
	};
	return (unsigned)err < SG_NET__COUNT ? names[err] : "?";
}

const char *sg_net_err_step(sg_net_err err)
{
	static const char *const steps[] = {
#define SG__NET_ERR_STEP(name, step) step,
	    SG_NET_ERR_MAP(SG__NET_ERR_STEP)
#undef SG__NET_ERR_STEP
	};
	return (unsigned)err < SG_NET__COUNT ? steps[err] : "?";
}

sg_net_err sg_net_err_from_curl(int curl_code)
{
	switch ((CURLcode)curl_code) {
	case CURLE_OK:
		return SG_NET_OK;
	case CURLE_OUT_OF_MEMORY:
		return SG_NET_NOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_FAILED_INIT:
		return SG_NET_USAGE;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return SG_NET_DNS;
	case CURLE_COULDNT_CONNECT:
#if LIBCURL_VERSION_NUM >= 0x074900
	case CURLE_PROXY: /* the proxy refused the tunnel */
#endif
		return SG_NET_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return SG_NET_TIMEOUT;
	case CURLE_PEER_FAILED_VERIFICATION: /* also CURLE_SSL_CACERT */
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ISSUER_ERROR:
		return SG_NET_CERT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
#if LIBCURL_VERSION_NUM >= 0x074d00
	case CURLE_SSL_CLIENTCERT:
#endif
		return SG_NET_TLS;
	case CURLE_FILESIZE_EXCEEDED:
		return SG_NET_TOO_LARGE;
	default:
		return SG_NET_PROTOCOL;
	}
}

/* ---- Retry-After and backoff ------------------------------------------- */

long sg_net_retry_after_ms(const char *value, int64_t now)
{
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9') {
		long secs = 0;
		const char *p = value;
		for (; *p >= '0' && *p <= '9'; p++)
			secs = secs < 1000000 ? secs * 10 + (*p - '0') : secs; /* saturates */
		while (*p == ' ' || *p == '\t')
			p++;
		return *p ? -1 : secs * 1000;
	}
	time_t at = curl_getdate(value, NULL); /* the three HTTP-date forms */
	if (at == (time_t)-1)
		return -1;
	if ((int64_t)at <= now)
		return 0;
	int64_t secs = (int64_t)at - now;
	return secs > 1000000 ? 1000000L * 1000 : (long)secs * 1000;
}

static uint64_t next_random(struct sg_http_client *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

/* Backoff before attempt n + 1 (n >= 1): base doubled n - 1 times, capped,
 * then "equal jitter": half of it fixed, half random. */
static long backoff_ms(struct sg_http_client *c, int n)
{
	const struct sg_http_retry *rp = &c->opt.retry;
	long d = rp->base_ms > 0 ? rp->base_ms : 0;
	for (int i = 1; i < n && d < rp->max_backoff_ms; i++)
		d *= 2;
	if (d > rp->max_backoff_ms)
		d = rp->max_backoff_ms;
	if (d <= 1)
		return d;
	return d / 2 + (long)(next_random(c) % (uint64_t)(d / 2 + 1));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_idempotent(const char *method)
{
	static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!strcmp(method, ok[i]))
			return true;
	return false;
}

static bool status_retried(const struct sg_http_retry *rp, int status)
{
	for (int i = 0; i < SG_HTTP_MAX_RETRY_STATUSES && rp->statuses[i]; i++)
		if (rp->statuses[i] == status)
			return true;
	return false;
}

/* ---- options and client ------------------------------------------------ */

void sg_http_options_init(struct sg_http_options *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 60000;
	o->max_body = 16 * 1024 * 1024;
	o->retry = (struct sg_http_retry){
	    .max_attempts = 3,
	    .base_ms = 500,
	    .max_backoff_ms = 30000,
	    .max_retry_after_ms = 60000,
	    .statuses = {429, 502, 503, 504},
	    .on_connect_failure = true,
	};
}

/* The option strings a client keeps copies of; fills out, returns how many. */
static size_t option_strings(struct sg_http_options *o, const char **out[8])
{
	const char **all[] = {&o->ca_file, &o->ca_path,  &o->client_cert, &o->client_key,
	                      &o->proxy,   &o->no_proxy, &o->user_agent,  &o->client_key_password};
	_Static_assert(sizeof(all) / sizeof(all[0]) == 8, "out holds them all");
	memcpy(out, all, sizeof(all));
	return sizeof(all) / sizeof(all[0]);
}

void sg_http_client_free(struct sg_http_client *c)
{
	if (!c)
		return;
	if (c->curl) {
		curl_easy_cleanup(c->curl);
		curl_global_cleanup(); /* balances the init in sg_http_client_new() */
	}
	const char **strs[8];
	size_t n = option_strings(&c->opt, strs);
	for (size_t i = 0; i < n; i++)
		free((char *)*strs[i]);
	free(c);
}

struct sg_http_client *sg_http_client_new(const struct sg_http_options *opt)
{
	struct sg_http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->opt = *opt;
	const char **strs[8];
	size_t n = option_strings(&c->opt, strs);
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		/* After a failure the rest are the caller's: nothing to free. */
		const char *copy = ok && *strs[i] ? strdup(*strs[i]) : NULL;
		if (*strs[i] && !copy)
			ok = false;
		*strs[i] = copy;
	}
	if (!ok)
		goto fail;
	/* Reference-counted and thread-safe in libcurl >= 7.84. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	c->curl = curl_easy_init();
	if (!c->curl) {
		curl_global_cleanup();
		goto fail;
	}
	c->rng = (uint64_t)now_ms() ^ ((uint64_t)(uintptr_t)c << 16) ^ (uint64_t)getpid();
	if (!c->rng)
		c->rng = 0x9e3779b97f4a7c15ULL;
	return c;
fail:
	sg_http_client_free(c);
	return NULL;
}

/* ---- response ---------------------------------------------------------- */

void sg_http_response_init(struct sg_http_response *r)
{
	memset(r, 0, sizeof(*r));
	r->errmsg = "";
	sg_buf_init(&r->body, 0);
	sg_arena_init(&r->header_mem, SG_HTTP_MAX_HEADER_BYTES);
}

void sg_http_response_cleanup(struct sg_http_response *r)
{
	sg_buf_cleanup(&r->body);
	sg_arena_cleanup(&r->header_mem);
}

/* Drops the answer held, ready for the next one (body limited to max). */
static void response_reset(struct sg_http_response *r, size_t max)
{
	sg_buf_cleanup(&r->body);
	sg_buf_init(&r->body, max);
	sg_arena_cleanup(&r->header_mem);
	sg_arena_init(&r->header_mem, SG_HTTP_MAX_HEADER_BYTES);
	r->n_headers = 0;
	r->status = 0;
	r->err = SG_NET_OK;
	r->errmsg = "";
	r->detail[0] = '\0';
}

const char *sg_http_response_header(const struct sg_http_response *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* What an attempt's callbacks write to. */
struct attempt {
	struct sg_http_response *resp;
	bool too_large; /* a limit stopped the transfer */
	bool nomem;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct attempt *a = ud;
	sg_buf_append(&a->resp->body, data, size * n);
	if (!sg_buf_failed(&a->resp->body))
		return size * n;
	if (a->resp->body.too_large)
		a->too_large = true;
	else
		a->nomem = true;
	return 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
	struct attempt *a = ud;
	struct sg_http_response *r = a->resp;
	size_t len = size * n;
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) { /* a new answer (after 100, a redirect) */
		r->n_headers = 0;
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len; /* the blank line ending the headers; a folded line */
	const char *v = colon + 1, *end = data + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (r->n_headers == SG_HTTP_MAX_HEADERS) {
		a->too_large = true;
		return 0;
	}
	struct sg_kv *kv = &r->headers[r->n_headers];
	kv->name = sg_arena_strndup(&r->header_mem, data, (size_t)(colon - data));
	kv->value = sg_arena_strndup(&r->header_mem, v, (size_t)(end - v));
	if (!kv->name || !kv->value) {
		if (r->header_mem.used + len > SG_HTTP_MAX_HEADER_BYTES)
			a->too_large = true;
		else
			a->nomem = true;
		return 0;
	}
	r->n_headers++;
	return len;
}

/* ---- logging ----------------------------------------------------------- */

/* The request as debug lines: redacted URL, headers, a form body. */
static void log_request(const struct sg_http_request *req, const char *method, const char *url,
                        int attempt, int max)
{
	struct sg_buf line;
	sg_buf_init(&line, LOG_LINE_MAX);
	sg_net_redact_url(&line, url, strlen(url));
	sg_log_debug("http: > %s %s (attempt %d of %d)", method,
	             sg_buf_failed(&line) ? "(URL too long to log)" : sg_buf_str(&line), attempt,
	             max);
	for (size_t i = 0; i < req->n_headers; i++) {
		sg_buf_reset(&line);
		sg_net_redact_header(&line, req->headers[i].name, req->headers[i].value);
		if (!sg_buf_failed(&line))
			sg_log_debug("http: > %s", sg_buf_str(&line));
	}
	if (req->user)
		sg_log_debug("http: > Authorization: Basic " SG_NET_MASK);
	if (req->bearer)
		sg_log_debug("http: > Authorization: Bearer " SG_NET_MASK);
	if (req->content_type)
		sg_log_debug("http: > Content-Type: %s", req->content_type);
	if (req->body) {
		sg_buf_reset(&line);
		bool form =
		    req->content_type &&
		    !strncasecmp(req->content_type, "application/x-www-form-urlencoded", 33);
		if (form) {
			/* A cut can end a value early, never expose one: names come first. */
			size_t n = req->body_len < LOG_BODY_MAX ? req->body_len : LOG_BODY_MAX;
			sg_buf_puts(&line, ": ");
			sg_net_redact_form(&line, req->body, n);
			if (n < req->body_len)
				sg_buf_puts(&line, "...");
		}
		sg_log_debug("http: > body (%zu bytes)%s", req->body_len,
		             sg_buf_failed(&line) ? "" : sg_buf_str(&line));
	}
	sg_buf_cleanup(&line);
}

/* ---- one attempt ------------------------------------------------------- */

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(curl, opt, val);                                     \
	} while (0)

/* Sends req once; resp gets the answer or the failure. */
static void attempt_once(struct sg_http_client *c, const struct sg_http_request *req,
                         const char *method, struct sg_http_response *resp)
{
	const struct sg_http_options *o = &c->opt;
	CURL *curl = c->curl;
	c->errbuf[0] = '\0';
	struct attempt a = {.resp = resp};
	struct curl_slist *headers = NULL;
	struct sg_buf h;
	sg_buf_init(&h, SG_HTTP_MAX_HEADER_BYTES);
	CURLcode cc = CURLE_OK;

	response_reset(resp, o->max_body);
	for (size_t i = 0; i <= req->n_headers + 1; i++) {
		sg_buf_reset(&h);
		if (i < req->n_headers)
			sg_buf_printf(&h, "%s: %s", req->headers[i].name, req->headers[i].value);
		else if (i == req->n_headers && req->content_type)
			sg_buf_printf(&h, "Content-Type: %s", req->content_type);
		else if (i == req->n_headers + 1 && req->bearer)
			sg_buf_printf(&h, "Authorization: Bearer %s", req->bearer);
		else
			continue;
		/* A CR or LF would let a value add headers of its own. */
		if (h.too_large || (!sg_buf_failed(&h) && strpbrk(sg_buf_str(&h), "\r\n"))) {
			cc = CURLE_BAD_FUNCTION_ARGUMENT;
			goto out;
		}
		struct curl_slist *l =
		    sg_buf_failed(&h) ? NULL : curl_slist_append(headers, sg_buf_str(&h));
		if (!l) {
			cc = CURLE_OUT_OF_MEMORY;
			goto out;
		}
		headers = l;
	}

	curl_easy_reset(curl);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_URL, req->url);
	/* libcurl sends a request again, by itself, when a reused connection dies
	 * before any answer, which the server may have acted on: a request that
	 * may not be repeated (a create) goes on a new connection instead. */
	if (!req->repeatable && !is_idempotent(method))
		SET(CURLOPT_FRESH_CONNECT, 1L);
	if (!strcmp(method, "HEAD"))
		SET(CURLOPT_NOBODY, 1L);
	else
		SET(CURLOPT_CUSTOMREQUEST, method);
	if (req->body) {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_POSTFIELDS, req->body);
	}
	SET(CURLOPT_HTTPHEADER, headers);
	if (req->user) {
		SET(CURLOPT_USERNAME, req->user);
		SET(CURLOPT_PASSWORD, req->password ? req->password : "");
	}
	if (o->user_agent)
		SET(CURLOPT_USERAGENT, o->user_agent);
	if (o->connect_timeout_ms > 0)
		SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	if (o->timeout_ms > 0)
		SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (o->ca_path)
		SET(CURLOPT_CAPATH, o->ca_path);
	if (o->client_cert)
		SET(CURLOPT_SSLCERT, o->client_cert);
	if (o->client_key)
		SET(CURLOPT_SSLKEY, o->client_key);
	if (o->client_key_password)
		SET(CURLOPT_KEYPASSWD, o->client_key_password);
	if (o->proxy)
		SET(CURLOPT_PROXY, o->proxy);
	if (o->no_proxy)
		SET(CURLOPT_NOPROXY, o->no_proxy);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, &a);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, &a);
	if (cc != CURLE_OK)
		goto out;

	cc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	resp->status = (int)status;
out:
	resp->err = sg_net_err_from_curl(cc);
	if (cc == CURLE_WRITE_ERROR && a.too_large)
		resp->err = SG_NET_TOO_LARGE;
	else if (cc == CURLE_WRITE_ERROR && a.nomem)
		resp->err = SG_NET_NOMEM;
	resp->errmsg = cc == CURLE_OK ? "" : curl_easy_strerror(cc);
	snprintf(resp->detail, sizeof(resp->detail), "%s", cc == CURLE_OK ? "" : c->errbuf);
	/* The slist goes now: the next reset clears the handle's pointer to it. */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	sg_buf_cleanup(&h);
}

#undef SET

/* ---- the retry loop ---------------------------------------------------- */

sg_net_err sg_http_client_do(struct sg_http_client *c, const struct sg_http_request *req,
                             struct sg_http_response *resp)
{
	const struct sg_http_retry *rp = &c->opt.retry;
	const char *method = req->method ? req->method : "GET";
	int max = rp->max_attempts > 1 ? rp->max_attempts : 1;
	bool may_repeat = req->repeatable || is_idempotent(method);
	resp->attempts = 0;
	resp->waited_ms = 0;
	for (;;) {
		resp->attempts++;
		log_request(req, method, req->url, resp->attempts, max);
		long t0 = now_ms();
		attempt_once(c, req, method, resp);
		long took = now_ms() - t0;
		if (resp->err)
			sg_log_debug("http: < %s (%s) after %ld ms: %s", sg_net_err_name(resp->err),
			             resp->errmsg, took, resp->detail);
		else
			sg_log_debug("http: < %d after %ld ms", resp->status, took);

		bool retry = resp->err ? rp->on_connect_failure && (resp->err == SG_NET_DNS ||
		                                                    resp->err == SG_NET_CONNECT)
		                       : status_retried(rp, resp->status);
		if (!retry || !may_repeat || resp->attempts >= max)
			break;
		long wait = -1;
		if (!resp->err) {
			wait = sg_net_retry_after_ms(sg_http_response_header(resp, "Retry-After"),
			                             sg_time_real());
			if (wait > rp->max_retry_after_ms)
				wait = rp->max_retry_after_ms;
		}
		if (wait < 0)
			wait = backoff_ms(c, resp->attempts);
		char why[32];
		if (resp->err)
			snprintf(why, sizeof(why), "%s", sg_net_err_name(resp->err));
		else
			snprintf(why, sizeof(why), "status %d", resp->status);
		struct sg_buf u;
		sg_buf_init(&u, LOG_LINE_MAX);
		sg_net_redact_url(&u, req->url, strlen(req->url));
		sg_log_info("http: %s %s: %s; attempt %d of %d in %ld ms", method,
		            sg_buf_failed(&u) ? "(URL too long to log)" : sg_buf_str(&u), why,
		            resp->attempts + 1, max, wait);
		sg_buf_cleanup(&u);
		sleep_ms(wait);
		resp->waited_ms += wait;
	}
	return resp->err;
}
