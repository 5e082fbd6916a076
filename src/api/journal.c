/*
 * journal.c - the request journal: a ring of the requests nowd served,
 * bounded in entries and in bytes, and its routes under /_snowglobe/:
 *   GET    /_snowglobe/requests        entries, newest first (X-Total-Count)
 *   GET    /_snowglobe/requests/count  {"result":{"count":N}}
 *   DELETE /_snowglobe/requests        forgets them all
 * Filters: path (prefix, or glob with * ? [), user, method, status (404 or
 * 4xx), since (a UTC date-time or epoch seconds), after (a seq), limit.
 *
 * Properties (read again when any property changes):
 *   snowglobe.journal.enabled      true   record at all
 *   snowglobe.journal.size         1000   entries kept (at most 100,000)
 *   snowglobe.journal.max_bytes    8 MiB  bytes kept, bodies included
 *   snowglobe.journal.bodies       false  keep bodies, secrets masked
 *   snowglobe.journal.body_max     64 KiB bytes of each body kept
 *   snowglobe.journal.record_self  false  record the journal's own requests
 * Only the user name is kept of the credentials: no header is recorded.
 * Query strings have the values of secret parameters masked, bodies the
 * values of secret JSON members and form fields (net/redact.h); a body of
 * another type is not kept.  The hashes are XXH64 (seed 0) of the bodies as
 * sent, 16 hex digits.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <endian.h>

#include "api/journal.h"
#include "core/log.h"
#include "core/util.h"
#include "net/redact.h"

struct entry {
	struct entry *prev, *next; /* prev: older */
	unsigned long long seq;
	long long time_ms, latency_us;
	unsigned long long request_bytes, response_bytes;
	int status;
	size_t cost; /* bytes this entry holds */
	bool has_user, has_req_hash, has_resp_hash;
	uint64_t req_hash, resp_hash;
	/* Into the same block: */
	char *user, *method, *path, *query, *req_body, *resp_body; /* bodies NULL when not kept */
	char data[];
};

struct settings {
	unsigned long gen;
	bool valid, enabled, record_self;
	struct sg_journal_limits lim;
};

struct sg_journal {
	pthread_mutex_t lock;
	struct entry *oldest, *newest;
	size_t count, bytes;
	unsigned long long next_seq, dropped;
	pthread_mutex_t cfg_lock;
	struct settings cfg;
};

struct sg_journal *sg_journal_new(void)
{
	struct sg_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	pthread_mutex_init(&j->lock, NULL);
	pthread_mutex_init(&j->cfg_lock, NULL);
	j->next_seq = 1;
	return j;
}

static void free_list(struct entry *e)
{
	while (e) {
		struct entry *next = e->next;
		free(e);
		e = next;
	}
}

void sg_journal_free(struct sg_journal *j)
{
	if (!j)
		return;
	free_list(j->oldest);
	pthread_mutex_destroy(&j->lock);
	pthread_mutex_destroy(&j->cfg_lock);
	free(j);
}

/* --- the body hash: XXH64, seed 0 ----------------------------------------- */

/* XXH64 (Yann Collet's public algorithm): fast enough to run on every
 * response (a SHA-256 of a record page costs more than serving it), and
 * computed by any xxhash library to compare. */
#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t xround(uint64_t acc, uint64_t in)
{
	return rotl(acc + in * P2, 31) * P1;
}

static uint64_t xmerge(uint64_t h, uint64_t v)
{
	return (h ^ xround(0, v)) * P1 + P4;
}

uint64_t sg_journal_hash(const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
		for (; end - p >= 32; p += 32) {
			v1 = xround(v1, rd64(p));
			v2 = xround(v2, rd64(p + 8));
			v3 = xround(v3, rd64(p + 16));
			v4 = xround(v4, rd64(p + 24));
		}
		h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
		h = xmerge(xmerge(xmerge(xmerge(h, v1), v2), v3), v4);
	} else {
		h = P5;
	}
	h += (uint64_t)len;
	for (; end - p >= 8; p += 8)
		h = rotl(h ^ xround(0, rd64(p)), 27) * P1 + P4;
	if (end - p >= 4) {
		h = rotl(h ^ ((uint64_t)rd32(p) * P1), 23) * P2 + P3;
		p += 4;
	}
	for (; p < end; p++)
		h = rotl(h ^ (*p * P5), 11) * P1;
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* --- bodies ------------------------------------------------------------ */

static void mask_json(json_t *v)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m)
		{
			if (sg_net_is_secret_name(k, strlen(k)) && !json_is_null(m))
				json_object_set_new(v, k, json_string(SG_NET_MASK));
			else
				mask_json(m);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *m;
		json_array_foreach(v, i, m) mask_json(m);
	}
}

static bool type_is(const char *ct, const char *want)
{
	size_t n = strlen(want);
	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Appends at most max bytes of s (n of them) to out, cut at a UTF-8
 * boundary and marked "..." when cut. */
static void put_cut(struct sg_buf *out, const char *s, size_t n, size_t max)
{
	if (n <= max) {
		sg_buf_append(out, s, n);
		return;
	}
	size_t cut = max;
	while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--;
	sg_buf_append(out, s, cut);
	sg_buf_puts(out, "...");
}

void sg_journal_mask_body(struct sg_buf *out, const char *ct, const char *body, size_t len,
                          size_t max)
{
	const char *type = ct && *ct ? ct : "no type";
	if (len > SG_JOURNAL_MASK_MAX) {
		/* Masking means parsing: a body this large is not kept. */
		sg_buf_printf(out, "[%zu bytes of %.100s, too large to mask, not kept]", len, type);
	} else if (type_is(ct, "application/x-www-form-urlencoded")) {
		struct sg_buf t;
		sg_buf_init(&t, 2 * len + 16); /* "a=&" -> "a=***&" */
		sg_net_redact_form(&t, body, len);
		if (sg_buf_failed(&t))
			sg_buf_set_failed(out);
		else
			put_cut(out, t.data ? t.data : "", t.len, max);
		sg_buf_cleanup(&t);
	} else if (type_is(ct, "application/json") ||
	           (!ct && len && (*body == '{' || *body == '['))) {
		json_t *v = json_loadb(body, len, JSON_DECODE_ANY, NULL);
		if (v) {
			mask_json(v);
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			if (s)
				put_cut(out, s, strlen(s), max);
			else
				sg_buf_set_failed(out);
			free(s);
			json_decref(v);
		} else {
			/* Not JSON after all: it cannot be masked, so it is not kept. */
			sg_buf_printf(out, "[%zu bytes of malformed JSON, not kept]", len);
		}
	} else {
		sg_buf_printf(out, "[%zu bytes of %.100s, not kept]", len, type);
	}
}

/* --- the ring ------------------------------------------------------------ */

static size_t cut_len(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > SG_JOURNAL_STRING_MAX ? SG_JOURNAL_STRING_MAX : n;
}

/* Copies n bytes of s to *at, each byte of an invalid UTF-8 sequence (and
 * a NUL) as '?': what is kept can always be rendered as JSON. */
static char *put(char **at, const char *s, size_t n)
{
	char *p = *at;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t k = u[i] ? sg_utf8_decode(u + i, n - i, NULL) : 0;
		if (!k) {
			p[i++] = '?';
			continue;
		}
		memcpy(p + i, u + i, k);
		i += k;
	}
	p[n] = '\0';
	*at += n + 1;
	return p;
}

void sg_journal_add(struct sg_journal *j, const struct sg_journal_fields *f,
                    const struct sg_journal_limits *lim)
{
	struct sg_buf rq, rs;
	sg_buf_init(&rq, lim->body_max + 256);
	sg_buf_init(&rs, lim->body_max + 256);
	bool bodies = lim->bodies;
	if (bodies && f->request_body && f->request_len)
		sg_journal_mask_body(&rq, f->request_type, f->request_body, f->request_len,
		                     lim->body_max);
	if (bodies && f->response_body && f->response_len)
		sg_journal_mask_body(&rs, f->response_type, f->response_body, f->response_len,
		                     lim->body_max);
	if (rq.failed || rs.failed)
		bodies = false; /* no memory for them: the entry without */
	size_t nu = cut_len(f->user), nm = cut_len(f->method), np = cut_len(f->path);
	/* The query's secret values masked; the mask is at most twice as long. */
	struct sg_buf q;
	size_t qn = f->query ? strlen(f->query) : 0;
	sg_buf_init(&q, 2 * qn + 16);
	sg_net_redact_form(&q, f->query ? f->query : "", qn); /* a query is form-encoded */
	if (q.failed) {
		sg_buf_reset(&q);
		sg_buf_puts(&q, SG_NET_MASK);
	}
	size_t nq = q.len > SG_JOURNAL_STRING_MAX ? SG_JOURNAL_STRING_MAX : q.len;
	size_t nrq = bodies ? rq.len : 0, nrs = bodies ? rs.len : 0;
	size_t size = sizeof(struct entry) + nu + nm + np + nq + nrq + nrs + 6;
	struct entry *e = malloc(size);
	if (!e) {
		sg_buf_cleanup(&q);
		sg_buf_cleanup(&rq);
		sg_buf_cleanup(&rs);
		pthread_mutex_lock(&j->lock);
		j->dropped++;
		pthread_mutex_unlock(&j->lock);
		return;
	}
	memset(e, 0, sizeof(*e));
	char *at = e->data;
	e->has_user = f->user && *f->user;
	e->user = put(&at, f->user, nu);
	e->method = put(&at, f->method, nm);
	e->path = put(&at, f->path, np);
	e->query = put(&at, q.len ? q.data : "", nq);
	e->req_body = bodies && f->request_body && f->request_len ? put(&at, rq.data, nrq) : NULL;
	e->resp_body =
	    bodies && f->response_body && f->response_len ? put(&at, rs.data, nrs) : NULL;
	sg_buf_cleanup(&q);
	sg_buf_cleanup(&rq);
	sg_buf_cleanup(&rs);
	e->time_ms = f->time_ms;
	e->latency_us = f->latency_us;
	e->status = f->status;
	e->request_bytes = f->request_bytes;
	e->response_bytes = f->response_bytes;
	e->cost = size;
	if (f->request_body && f->request_len) {
		e->req_hash = sg_journal_hash(f->request_body, f->request_len);
		e->has_req_hash = true;
	}
	if (f->response_body) {
		e->resp_hash = sg_journal_hash(f->response_body, f->response_len);
		e->has_resp_hash = true;
	}

	size_t max_n = lim->size ? lim->size : 1;
	struct entry *gone = NULL, *gone_tail = NULL;
	pthread_mutex_lock(&j->lock);
	e->seq = j->next_seq++;
	e->prev = j->newest;
	if (j->newest)
		j->newest->next = e;
	else
		j->oldest = e;
	j->newest = e;
	j->count++;
	j->bytes += e->cost;
	/* The oldest go until both bounds hold; an entry larger than the byte
	 * bound alone goes too. */
	while (j->oldest && (j->count > max_n || j->bytes > lim->max_bytes)) {
		struct entry *o = j->oldest;
		j->oldest = o->next;
		if (j->oldest)
			j->oldest->prev = NULL;
		else
			j->newest = NULL;
		j->count--;
		j->bytes -= o->cost;
		j->dropped++;
		o->next = NULL;
		if (gone_tail)
			gone_tail->next = o;
		else
			gone = o;
		gone_tail = o;
	}
	pthread_mutex_unlock(&j->lock);
	free_list(gone);
}

void sg_journal_clear(struct sg_journal *j, size_t *n)
{
	pthread_mutex_lock(&j->lock);
	struct entry *all = j->oldest;
	*n = j->count;
	j->oldest = j->newest = NULL;
	j->count = j->bytes = 0;
	pthread_mutex_unlock(&j->lock);
	free_list(all);
}

void sg_journal_stats(struct sg_journal *j, size_t *entries, size_t *bytes,
                      unsigned long long *dropped)
{
	pthread_mutex_lock(&j->lock);
	*entries = j->count;
	*bytes = j->bytes;
	*dropped = j->dropped;
	pthread_mutex_unlock(&j->lock);
}

/* --- reading --------------------------------------------------------------- */

static bool is_glob(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

static bool matches(const struct entry *e, const struct sg_journal_filter *f)
{
	if (f->after && e->seq <= f->after)
		return false;
	if (f->since_ms && e->time_ms < f->since_ms)
		return false;
	if (f->status > 0 && e->status != f->status)
		return false;
	if (f->status_class && e->status / 100 != f->status_class)
		return false;
	if (f->method && *f->method && strcasecmp(e->method, f->method))
		return false;
	if (f->user && *f->user && (!e->has_user || strcmp(e->user, f->user)))
		return false;
	if (f->path && *f->path) {
		if (is_glob(f->path) ? fnmatch(f->path, e->path, 0) != 0
		                     : strncmp(e->path, f->path, strlen(f->path)) != 0)
			return false;
	}
	return true;
}

static json_t *entry_json(const struct entry *e)
{
	char when[40], rqh[17], rsh[17];
	time_t secs = (time_t)(e->time_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03lld", e->time_ms % 1000);
	snprintf(rqh, sizeof(rqh), "%016" PRIx64, e->req_hash);
	snprintf(rsh, sizeof(rsh), "%016" PRIx64, e->resp_hash);
	json_t *o =
	    json_pack("{s:I, s:s, s:I, s:o, s:s, s:s, s:s, s:i, s:f, s:I, s:I, s:o, s:o}", "seq",
	              (json_int_t)e->seq, "time", when, "time_ms", (json_int_t)e->time_ms, "user",
	              e->has_user ? json_string(e->user) : json_null(), "method", e->method, "path",
	              e->path, "query", e->query, "status", e->status, "latency_ms",
	              (double)e->latency_us / 1000.0, "request_bytes", (json_int_t)e->request_bytes,
	              "response_bytes", (json_int_t)e->response_bytes, "request_hash",
	              e->has_req_hash ? json_string(rqh) : json_null(), "response_hash",
	              e->has_resp_hash ? json_string(rsh) : json_null());
	if (o && e->req_body && json_object_set_new(o, "request_body", json_string(e->req_body))) {
		json_decref(o);
		return NULL;
	}
	if (o && e->resp_body &&
	    json_object_set_new(o, "response_body", json_string(e->resp_body))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

sg_err sg_journal_query(struct sg_journal *j, const struct sg_journal_filter *flt, size_t limit,
                        json_t **out, size_t *total)
{
	*out = out ? json_array() : NULL;
	*total = 0;
	if (!*out)
		return SG_ERR_NOMEM;
	sg_err err = SG_ERR_OK;
	pthread_mutex_lock(&j->lock);
	for (const struct entry *e = j->newest; e; e = e->prev) {
		if (!matches(e, flt))
			continue;
		if (!err && *total < limit) {
			json_t *o = entry_json(e);
			if (!o || json_array_append_new(*out, o))
				err = SG_ERR_NOMEM;
		}
		(*total)++;
	}
	pthread_mutex_unlock(&j->lock);
	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* "2026-11-30 20:06:38", with 'T', a fraction and a 'Z' allowed, or
 * seconds since the epoch (a fraction allowed): ms since the epoch. */
static bool parse_since(const char *s, long long *ms)
{
	char *end;
	if (*s && strspn(s, "0123456789.") == strlen(s)) {
		double v = strtod(s, &end);
		if (*end || v < 0 || v > 1e12)
			return false;
		*ms = (long long)(v * 1000.0);
		return true;
	}
	struct tm tm = {0};
	int frac = 0, nfrac = 0;
	const char *p = strptime(s, "%Y-%m-%d", &tm);
	if (!p)
		return false;
	if (*p == ' ' || *p == 'T') {
		p = strptime(p + 1, "%H:%M:%S", &tm);
		if (!p)
			return false;
		if (*p == '.') {
			for (p++; isdigit((unsigned char)*p); p++)
				if (nfrac < 3) {
					frac = frac * 10 + (*p - '0');
					nfrac++;
				}
			while (nfrac < 3) {
				frac *= 10;
				nfrac++;
			}
		}
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return false;
	*ms = (long long)timegm(&tm) * 1000 + frac;
	return true;
}

bool sg_journal_parse_filter(struct sg_journal_filter *flt, const char *path, const char *user,
                             const char *method, const char *status, const char *since,
                             const char *after, const char **why)
{
	memset(flt, 0, sizeof(*flt));
	flt->path = path;
	flt->user = user;
	flt->method = method;
	if (status && *status) {
		size_t n = strlen(status);
		if (n == 3 && status[0] >= '1' && status[0] <= '5' &&
		    (status[1] == 'x' || status[1] == 'X') &&
		    (status[2] == 'x' || status[2] == 'X')) {
			flt->status_class = status[0] - '0';
		} else if (n == 3 && strspn(status, "0123456789") == 3 && status[0] >= '1') {
			flt->status = atoi(status);
		} else {
			*why = "status is a status (404) or a class (4xx)";
			return false;
		}
	}
	if (since && *since && !parse_since(since, &flt->since_ms)) {
		*why = "since is a UTC date-time (2026-01-31 12:00:00) or seconds since the epoch";
		return false;
	}
	if (after && *after) {
		char *end;
		if (strspn(after, "0123456789") != strlen(after) || strlen(after) > 19) {
			*why = "after is a seq number";
			return false;
		}
		flt->after = strtoull(after, &end, 10);
	}
	return true;
}

/* --- settings and the hook ---------------------------------------------------- */

static long long clamp(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void settings(struct sg_api *api, struct sg_journal *j, struct settings *out)
{
	unsigned long gen = atomic_load(&api->model->props_gen);
	pthread_mutex_lock(&j->cfg_lock);
	if (!j->cfg.valid || j->cfg.gen != gen) {
		struct settings c = {.gen = gen, .valid = true};
		struct sg_ctx ctx;
		long long size = SG_JOURNAL_DEFAULT_SIZE, bytes = SG_JOURNAL_DEFAULT_BYTES,
		          body_max = SG_JOURNAL_DEFAULT_BODY_MAX;
		c.enabled = true;
		sg_err err = sg_ctx_begin(&ctx, api->model, NULL);
		if (!err) {
			err = sg_prop_bool(&ctx, "snowglobe.journal.enabled", true, &c.enabled);
			if (!err)
				err = sg_prop_bool(&ctx, "snowglobe.journal.record_self", false,
				                   &c.record_self);
			if (!err)
				err = sg_prop_bool(&ctx, "snowglobe.journal.bodies", false,
				                   &c.lim.bodies);
			if (!err)
				err = sg_prop_int(&ctx, "snowglobe.journal.size",
				                  SG_JOURNAL_DEFAULT_SIZE, &size);
			if (!err)
				err = sg_prop_int(&ctx, "snowglobe.journal.max_bytes",
				                  SG_JOURNAL_DEFAULT_BYTES, &bytes);
			if (!err)
				err = sg_prop_int(&ctx, "snowglobe.journal.body_max",
				                  SG_JOURNAL_DEFAULT_BODY_MAX, &body_max);
			sg_ctx_end(&ctx);
		}
		c.lim.size = (size_t)clamp(size, 1, SG_JOURNAL_MAX_SIZE);
		c.lim.max_bytes = (size_t)clamp(bytes, 4096, SG_JOURNAL_MAX_BYTES);
		c.lim.body_max = (size_t)clamp(body_max, 16, 16 * 1024 * 1024);
		if (err) /* read again by the next request; recorded meanwhile */
			c.valid = false;
		j->cfg = c;
	}
	*out = j->cfg;
	pthread_mutex_unlock(&j->cfg_lock);
}

static bool journal_path(const char *path)
{
	static const char p[] = SG_SNOWGLOBE_PREFIX "/requests";
	return path && !strncmp(path, p, sizeof(p) - 1) &&
	       (path[sizeof(p) - 1] == '\0' || path[sizeof(p) - 1] == '/');
}

void sg_journal_note(struct sg_api *api, const struct sg_req *req, const char *method,
                     const struct sg_resp *resp, unsigned long long request_bytes,
                     unsigned long long response_bytes, long long time_ms,
                     const struct timespec *start)
{
	struct sg_journal *j = api->journal;
	if (!j || !api->model || api->snowglobe_off)
		return; /* under --no-snowglobe-api no one could read it */
	struct settings c;
	settings(api, j, &c);
	if (!c.enabled || (!c.record_self && journal_path(req->path)))
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long latency_us = (long long)(now.tv_sec - start->tv_sec) * 1000000 +
	                       (now.tv_nsec - start->tv_nsec) / 1000;
	const char *resp_type = NULL;
	for (size_t i = 0; i < resp->nheaders; i++)
		if (!strcasecmp(resp->headers[i].name, "Content-Type"))
			resp_type = resp->headers[i].value;
	struct sg_journal_fields f = {
	    .time_ms = time_ms,
	    .user = req->user ? req->user->user_name : NULL,
	    .method = method ? method : "",
	    .path = req->path ? req->path : "",
	    .query = req->raw_query ? req->raw_query : "",
	    .status = resp->status,
	    .latency_us = latency_us,
	    .request_bytes = request_bytes,
	    .response_bytes = response_bytes,
	    .request_body = req->body,
	    .request_len = req->body ? req->body_len : 0,
	    .request_type = req->header ? sg_req_header(req, "Content-Type") : NULL,
	    .response_body = resp->has_file ? NULL : (resp->body.data ? resp->body.data : ""),
	    .response_len = resp->has_file ? 0 : resp->body.len,
	    .response_type = resp_type,
	};
	sg_journal_add(j, &f, &c.lim);
}

/* --- the routes ------------------------------------------------------------------ */

static bool read_filter(struct sg_req *req, struct sg_resp *resp, struct sg_journal_filter *f,
                        size_t *limit)
{
	const char *why = NULL;
	if (!sg_journal_parse_filter(f, sg_req_arg(req, "path"), sg_req_arg(req, "user"),
	                             sg_req_arg(req, "method"), sg_req_arg(req, "status"),
	                             sg_req_arg(req, "since"), sg_req_arg(req, "after"), &why)) {
		sg_resp_refuse(resp, 400, "Invalid filter", why);
		return false;
	}
	if (limit) {
		const char *l = sg_req_arg(req, "limit");
		*limit = SG_JOURNAL_DEFAULT_LIMIT;
		if (l && *l) {
			if (strspn(l, "0123456789") != strlen(l) || strlen(l) > 9) {
				sg_resp_refuse(resp, 400, "Invalid filter",
				               "limit is a number of entries");
				return false;
			}
			long v = atol(l);
			*limit = (size_t)(v > SG_JOURNAL_MAX_LIMIT ? SG_JOURNAL_MAX_LIMIT : v);
		}
	}
	return true;
}

sg_err sg_journal_list(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	sg_err err;
	struct sg_journal_filter f;
	size_t limit, total;
	if (!read_filter(req, resp, &f, &limit))
		return SG_ERR_OK;
	json_t *rows = NULL;
	if (!api->journal)
		return SG_ERR_NOMEM;
	err = sg_journal_query(api->journal, &f, limit, &rows, &total);
	if (err)
		return err;
	json_t *body = json_pack("{s:o}", "result", rows);
	if (!body)
		return SG_ERR_NOMEM;
	char n[32];
	snprintf(n, sizeof(n), "%zu", total);
	sg_resp_header(resp, "X-Total-Count", n);
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return SG_ERR_OK;
}

sg_err sg_journal_count(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	sg_err err;
	struct sg_journal_filter f;
	size_t total;
	if (!read_filter(req, resp, &f, NULL))
		return SG_ERR_OK;
	json_t *rows = NULL;
	if (!api->journal)
		return SG_ERR_NOMEM;
	err = sg_journal_query(api->journal, &f, 0, &rows, &total);
	json_decref(rows);
	if (err)
		return err;
	size_t held, bytes;
	unsigned long long dropped;
	sg_journal_stats(api->journal, &held, &bytes, &dropped);
	json_t *body =
	    json_pack("{s:{s:I, s:I, s:I, s:I}}", "result", "count", (json_int_t)total, "held",
	              (json_int_t)held, "bytes", (json_int_t)bytes, "dropped", (json_int_t)dropped);
	if (!body)
		return SG_ERR_NOMEM;
	char n[32];
	snprintf(n, sizeof(n), "%zu", total);
	sg_resp_header(resp, "X-Total-Count", n);
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return SG_ERR_OK;
}

sg_err sg_journal_delete(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp)
{
	(void)req;
	(void)ctx;
	(void)as;
	size_t n = 0;
	if (api->journal)
		sg_journal_clear(api->journal, &n);
	json_t *body = json_pack("{s:{s:I}}", "result", "cleared", (json_int_t)n);
	if (!body)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return SG_ERR_OK;
}
