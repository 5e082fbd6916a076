/*
 * faults.c - fault injection (issue 18, item 3): the rule set, its matching
 * (pure but for the counts), the answers each effect gives, and the routes
 * under /_snowglobe/faults.  See faults.h.
 *
 * The answers are the instance's own: the error envelope with ServiceNow's
 * messages, the transaction-quota cancellation body [reference 9.1, sndml3
 * #38], the 429 and its headers as ratelimit.c sends them, the token
 * endpoint's 401 (oauth.c's body), and the page a hibernating developer
 * instance serves with 200 (clients recognise it by its text: Keep's
 * ServiceNow provider looks for "Want to find out why instances hibernate?").
 */
#include "api/faults.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "auth/oauth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"

#define TOKEN_PATH "/oauth_token.do"

static const char *const effect_names[SG_FAULT_NEFFECTS] = {
    [SG_FAULT_LATENCY] = "latency",
    [SG_FAULT_ERROR_500] = "error_500",
    [SG_FAULT_ERROR_503] = "error_503",
    [SG_FAULT_TX_TIMEOUT] = "transaction_timeout",
    [SG_FAULT_RATE_LIMIT] = "rate_limit",
    [SG_FAULT_HIBERNATE] = "hibernate",
    [SG_FAULT_CLOSE] = "close",
    [SG_FAULT_EXPIRE_TOKENS] = "expire_tokens",
    [SG_FAULT_TOKEN_REFUSED] = "token_refused",
};

const char *sg_fault_effect_name(enum sg_fault_effect e)
{
	return (unsigned)e < SG_FAULT_NEFFECTS ? effect_names[e] : "?";
}

int sg_fault_effect_parse(const char *name)
{
	for (int i = 0; name && i < SG_FAULT_NEFFECTS; i++)
		if (!strcmp(name, effect_names[i]))
			return i;
	return -1;
}

/* ---- pure parts -------------------------------------------------------------- */

bool sg_fault_glob(const char *g, const char *s)
{
	/* iterative, with one backtrack point: linear in practice, never recursive */
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*g == '*') {
			star = g++;
			resume = s;
		} else if (*g == '?' || *g == *s) {
			g++;
			s++;
		} else if (star) {
			g = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*g == '*')
		g++;
	return !*g;
}

double sg_fault_draw(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static bool copy_str(const json_t *in, const char *key, char *out, size_t size, const char **why,
                     const char *bad)
{
	const json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*why = bad;
		return false;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

/* An integer field (a JSON integer, or a string of digits); *out unchanged
 * when absent. */
static bool get_int(const json_t *in, const char *key, long long lo, long long hi, long long *out)
{
	const json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return true;
	long long x;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_string(v) && *json_string_value(v)) {
		char *end;
		errno = 0;
		x = strtoll(json_string_value(v), &end, 10);
		if (*end || errno)
			return false;
	} else {
		return false;
	}
	if (x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

/* A time: epoch seconds, or "YYYY-MM-DD HH:MM:SS" (UTC). */
static bool get_time(const json_t *in, const char *key, int64_t *out)
{
	const json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return true;
	if (json_is_string(v) && strchr(json_string_value(v), '-'))
		return sg_time_parse(json_string_value(v), out) && *out > 0;
	long long x = 0;
	if (!get_int(in, key, 1, 253402300799LL, &x))
		return false;
	*out = x;
	return true;
}

static bool get_bool(const json_t *in, const char *key, bool *out)
{
	const json_t *v = json_object_get(in, key);
	if (!v || json_is_null(v))
		return true;
	if (json_is_boolean(v))
		*out = json_is_true(v);
	else if (json_is_string(v) && !strcmp(json_string_value(v), "true"))
		*out = true;
	else if (json_is_string(v) && !strcmp(json_string_value(v), "false"))
		*out = false;
	else
		return false;
	return true;
}

sg_err sg_fault_rule_parse(const json_t *in, int64_t now, struct sg_fault_rule *out,
                           const char **why)
{
	static const char *const known[] = {
	    "effect",         "method", "path", "table", "user", "client_id",  "probability",
	    "seed",           "count",  "from", "until", "for",  "latency_ms", "rate_limit_headers",
	    "refresh_tokens", "rate",   NULL};
	memset(out, 0, sizeof(*out));
	out->probability = 1;
	out->rl_headers = true;
	out->rate = 100;
	*why = NULL;
	if (!json_is_object(in)) {
		*why = "The rule must be a JSON object";
		return SG_ERR_BAD_PARAM;
	}
	const char *key;
	const json_t *val;
	json_object_foreach((json_t *)in, key, val)
	{
		size_t i = 0;
		while (known[i] && strcmp(known[i], key))
			i++;
		if (!known[i]) {
			*why =
			    "Unknown field in the rule (known: effect, method, path, table, user, "
			    "client_id, probability, seed, count, from, until, for, latency_ms, "
			    "rate_limit_headers, rate, refresh_tokens)";
			return SG_ERR_BAD_PARAM;
		}
	}
	const json_t *e = json_object_get(in, "effect");
	int effect = json_is_string(e) ? sg_fault_effect_parse(json_string_value(e)) : -1;
	if (effect < 0) {
		*why = "effect must be one of latency, error_500, error_503, transaction_timeout, "
		       "rate_limit, hibernate, close, expire_tokens, token_refused";
		return SG_ERR_BAD_PARAM;
	}
	out->effect = (enum sg_fault_effect)effect;
	if (!copy_str(in, "method", out->method, sizeof(out->method), why,
	              "method must be an HTTP method") ||
	    !copy_str(in, "path", out->path, sizeof(out->path), why,
	              "path must be a glob of at most 255 characters") ||
	    !copy_str(in, "table", out->table, sizeof(out->table), why,
	              "table must be a table name of at most 80 characters") ||
	    !copy_str(in, "user", out->user, sizeof(out->user), why,
	              "user must be a user name of at most 100 characters") ||
	    !copy_str(in, "client_id", out->client_id, sizeof(out->client_id), why,
	              "client_id must be a client id of at most 100 characters"))
		return SG_ERR_BAD_PARAM;
	for (char *p = out->method; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
			*why = "method must be an HTTP method";
			return SG_ERR_BAD_PARAM;
		}
		if (*p >= 'a')
			*p = (char)(*p - 'a' + 'A');
	}
	const json_t *p = json_object_get(in, "probability");
	if (p && !json_is_null(p)) {
		double x = json_is_number(p) ? json_number_value(p) : -1;
		if (!(x >= 0 && x <= 1)) {
			*why = "probability must be a number from 0 to 1";
			return SG_ERR_BAD_PARAM;
		}
		out->probability = x;
	}
	long long seed = 0, count = 0, lat = 0, forsec = 0, rate = out->rate;
	if (!get_int(in, "seed", 0, LLONG_MAX, &seed)) {
		*why = "seed must be a non-negative integer";
		return SG_ERR_BAD_PARAM;
	}
	if (!get_int(in, "count", 0, LLONG_MAX, &count)) {
		*why = "count must be a non-negative integer (0: unlimited)";
		return SG_ERR_BAD_PARAM;
	}
	if (!get_int(in, "latency_ms", 0, SG_FAULT_LATENCY_MAX, &lat)) {
		*why = "latency_ms must be an integer from 0 to 30000";
		return SG_ERR_BAD_PARAM;
	}
	if (!get_int(in, "rate", 1, 1000000000LL, &rate)) {
		*why = "rate must be a positive integer (requests per hour)";
		return SG_ERR_BAD_PARAM;
	}
	if (!get_int(in, "for", 1, 10LL * 365 * 86400, &forsec)) {
		*why = "for must be a positive number of seconds";
		return SG_ERR_BAD_PARAM;
	}
	if (!get_time(in, "from", &out->from) || !get_time(in, "until", &out->until)) {
		*why = "from and until must be epoch seconds or \"YYYY-MM-DD HH:MM:SS\" (UTC)";
		return SG_ERR_BAD_PARAM;
	}
	if (forsec) {
		if (out->until) {
			*why = "Give either until or for, not both";
			return SG_ERR_BAD_PARAM;
		}
		if (!out->from)
			out->from = now;
		out->until = out->from + forsec;
	}
	if (out->from && out->until && out->until <= out->from) {
		*why = "until must be after from";
		return SG_ERR_BAD_PARAM;
	}
	if (!get_bool(in, "rate_limit_headers", &out->rl_headers) ||
	    !get_bool(in, "refresh_tokens", &out->refresh_tokens)) {
		*why = "rate_limit_headers and refresh_tokens must be true or false";
		return SG_ERR_BAD_PARAM;
	}
	if (out->effect == SG_FAULT_LATENCY && !lat) {
		*why = "The latency effect needs latency_ms above 0";
		return SG_ERR_BAD_PARAM;
	}
	if (out->effect == SG_FAULT_TOKEN_REFUSED && (*out->user || *out->client_id)) {
		*why = "token_refused answers before any user is known: match it by path or method";
		return SG_ERR_BAD_PARAM;
	}
	out->seed = (uint64_t)seed;
	out->rng = out->seed;
	out->count = count;
	out->latency_ms = (long)lat;
	out->rate = rate;
	return SG_ERR_OK;
}

static void put_time(json_t *o, const char *key, int64_t t)
{
	char dt[SG_DT_LEN + 1];
	if (!t) {
		json_object_set_new(o, key, json_null());
		return;
	}
	sg_time_format(t, dt);
	json_object_set_new(o, key, json_string(dt));
}

json_t *sg_fault_rule_json(const struct sg_fault_rule *r)
{
	char id[16];
	snprintf(id, sizeof(id), "%u", r->id);
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:I}",
	    "id", id, "effect", sg_fault_effect_name(r->effect), "method", r->method, "path",
	    r->path, "table", r->table, "user", r->user, "client_id", r->client_id, "probability",
	    r->probability, "seed", (json_int_t)r->seed, "count", (json_int_t)r->count,
	    "latency_ms", (json_int_t)r->latency_ms, "rate_limit_headers", r->rl_headers,
	    "refresh_tokens", r->refresh_tokens, "rate", (json_int_t)r->rate, "matched",
	    (json_int_t)r->matched, "fired", (json_int_t)r->fired);
	if (!o)
		return NULL;
	put_time(o, "from", r->from);
	put_time(o, "until", r->until);
	if (json_object_size(o) != 18) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- the rule set ------------------------------------------------------------ */

static struct {
	pthread_mutex_t lock;
	struct sg_fault_rule rules[SG_FAULT_MAX];
	size_t n;
	atomic_size_t active; /* n, read without the lock by every request */
	unsigned next_id;
	atomic_ulong restore_gen; /* the model's restore counter the counts belong to */
} set = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

sg_err sg_faults_add(const struct sg_fault_rule *r, struct sg_fault_rule *out)
{
	pthread_mutex_lock(&set.lock);
	if (set.n == SG_FAULT_MAX) {
		pthread_mutex_unlock(&set.lock);
		return SG_ERR_BAD_PARAM;
	}
	struct sg_fault_rule *n = &set.rules[set.n++];
	*n = *r;
	n->id = set.next_id++;
	n->rng = n->seed;
	n->matched = n->fired = 0;
	*out = *n;
	atomic_store(&set.active, set.n);
	pthread_mutex_unlock(&set.lock);
	return SG_ERR_OK;
}

size_t sg_faults_list(struct sg_fault_rule *out, size_t max)
{
	pthread_mutex_lock(&set.lock);
	size_t n = set.n < max ? set.n : max;
	memcpy(out, set.rules, n * sizeof(*out));
	pthread_mutex_unlock(&set.lock);
	return n;
}

bool sg_faults_get(unsigned id, struct sg_fault_rule *out)
{
	bool found = false;
	pthread_mutex_lock(&set.lock);
	for (size_t i = 0; i < set.n && !found; i++)
		if (set.rules[i].id == id) {
			*out = set.rules[i];
			found = true;
		}
	pthread_mutex_unlock(&set.lock);
	return found;
}

bool sg_faults_remove(unsigned id)
{
	bool found = false;
	pthread_mutex_lock(&set.lock);
	for (size_t i = 0; i < set.n; i++)
		if (set.rules[i].id == id) {
			memmove(&set.rules[i], &set.rules[i + 1],
			        (set.n - i - 1) * sizeof(set.rules[0]));
			set.n--;
			atomic_store(&set.active, set.n);
			found = true;
			break;
		}
	pthread_mutex_unlock(&set.lock);
	return found;
}

void sg_faults_restart(unsigned long restore_gen)
{
	pthread_mutex_lock(&set.lock);
	for (size_t i = 0; i < set.n; i++) {
		set.rules[i].matched = set.rules[i].fired = 0;
		set.rules[i].rng = set.rules[i].seed;
	}
	atomic_store(&set.restore_gen, restore_gen);
	pthread_mutex_unlock(&set.lock);
}

void sg_faults_clear(void)
{
	pthread_mutex_lock(&set.lock);
	set.n = 0;
	atomic_store(&set.active, 0);
	pthread_mutex_unlock(&set.lock);
}

/* A rule that needs the user or the client id is matched after
 * authentication; every other before it. */
static bool needs_user(const struct sg_fault_rule *r)
{
	return *r->user || *r->client_id;
}

static bool matches(const struct sg_fault_rule *r, const struct sg_fault_view *v)
{
	if (needs_user(r) != v->authenticated)
		return false;
	if (r->count && r->fired >= r->count)
		return false;
	if ((r->from && v->now < r->from) || (r->until && v->now >= r->until))
		return false;
	if (*r->method && strcasecmp(r->method, v->method ? v->method : ""))
		return false;
	if (*r->path && !sg_fault_glob(r->path, v->path ? v->path : ""))
		return false;
	if (r->effect == SG_FAULT_TOKEN_REFUSED && strcmp(v->path ? v->path : "", TOKEN_PATH))
		return false;
	if (*r->table && (!v->table || strcmp(r->table, v->table)))
		return false;
	if (*r->user && (!v->user || strcmp(r->user, v->user)))
		return false;
	if (*r->client_id && (!v->client_id || strcmp(r->client_id, v->client_id)))
		return false;
	return true;
}

void sg_faults_match(const struct sg_fault_view *v, struct sg_fault_hit *hit)
{
	memset(hit, 0, sizeof(*hit));
	pthread_mutex_lock(&set.lock);
	for (size_t i = 0; i < set.n && !hit->fired; i++) {
		struct sg_fault_rule *r = &set.rules[i];
		if (!matches(r, v))
			continue;
		r->matched++;
		/* every match draws, so that the sequence depends only on the seed
		 * and the matching requests */
		double d = sg_fault_draw(&r->rng);
		if (!(d < r->probability))
			continue;
		r->fired++;
		hit->latency_ms += r->latency_ms;
		if (hit->latency_ms > SG_FAULT_LATENCY_MAX)
			hit->latency_ms = SG_FAULT_LATENCY_MAX;
		if (r->effect == SG_FAULT_LATENCY)
			continue;
		if (r->effect == SG_FAULT_EXPIRE_TOKENS) {
			hit->expire_tokens = true;
			hit->expire_refresh |= r->refresh_tokens;
			continue;
		}
		hit->fired = true;
		hit->rule = *r;
	}
	pthread_mutex_unlock(&set.lock);
}

/* ---- the effects ------------------------------------------------------------- */

bool sg_faults_dropped(const struct sg_resp *resp)
{
	return resp->status == SG_FAULT_DROP_STATUS;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Every OAuth access token (and refresh token, when asked) expires now, in
 * one write transaction; the bearer cache follows the oauth generation. */
static sg_err expire_tokens(struct sg_api *api, bool refresh)
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, api->model, NULL);
	if (err)
		return err;
	char past[SG_DT_LEN + 1];
	sg_time_format(sg_time_now() - 1, past);
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "UPDATE \"oauth_credential\" SET \"expires\" = ");
	sg_sql_text(&q, past);
	sg_sql_raw(&q, " WHERE \"expires\" > ");
	sg_sql_text(&q, past);
	sg_sql_raw(&q, refresh ? " AND \"type\" IN ('access_token', 'refresh_token')"
	                       : " AND \"type\" = 'access_token'");
	err = sg_conn_begin(ctx.conn, true);
	if (!err) {
		err = sg_conn_exec(ctx.conn, &q, NULL, NULL, NULL);
		if (!err)
			err = sg_model_bump(&ctx, "oauth");
		if (!err)
			err = sg_model_bump(&ctx, "data");
		if (err)
			sg_conn_rollback(ctx.conn);
		else
			err = sg_conn_commit(ctx.conn);
		sg_model_sync(ctx.model);
	}
	sg_sql_cleanup(&q);
	sg_ctx_end(&ctx);
	return err;
}

static const char *api_label(const struct sg_req *req)
{
	static const char *const names[][2] = {
	    {"now/table", "Table API"},           {"now/stats", "Aggregate API"},
	    {"now/attachment", "Attachment API"}, {"now/batch", "Batch API"},
	    {"now/import", "Import Set API"},     {"now/cmdb", "CMDB Instance API"},
	};
	const char *scope = req->match.route ? req->match.route->scope : NULL;
	for (size_t i = 0; scope && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(scope, names[i][0]))
			return names[i][1];
	return scope ? scope : "REST API";
}

static void header_num(struct sg_resp *resp, const char *name, long long v)
{
	char num[32];
	snprintf(num, sizeof(num), "%lld", v);
	sg_resp_header(resp, name, num);
}

static const char HIBERNATE_PAGE[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>Instance Hibernating page</title>\n</head>\n<body>\n"
    "<h1>Your instance is hibernating</h1>\n"
    "<p>Developer instances hibernate when they are not used. Sign in to the developer "
    "portal to wake this instance up.</p>\n"
    "<p><a href=\"https://developer.servicenow.com\">Want to find out why instances "
    "hibernate?</a></p>\n</body>\n</html>\n";

static void answer(struct sg_api *api, struct sg_req *req, const struct sg_fault_rule *r,
                   struct sg_resp *resp)
{
	switch (r->effect) {
	case SG_FAULT_ERROR_500: {
		json_t *b = json_pack("{s:{s:s,s:n},s:s}", "error", "message",
		                      "Internal server error", "detail", "status", "failure");
		if (b)
			sg_resp_json(resp, 500, b);
		else
			sg_resp_error(resp, SG_ERR_NOMEM, NULL, NULL);
		json_decref(b);
		sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
		return;
	}
	case SG_FAULT_ERROR_503:
		sg_resp_error(resp, SG_ERR_BUSY, NULL, NULL);
		sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
		return;
	case SG_FAULT_TX_TIMEOUT: {
		/* The status is not known for sure (reference 1.5: "500-range"). */
		long long status = 500;
		struct sg_ctx ctx;
		if (!sg_ctx_begin(&ctx, api->model, NULL)) {
			if (sg_prop_int(&ctx, "snowglobe.fault.transaction_timeout_status", 500,
			                &status) ||
			    status < 500 || status > 599)
				status = 500;
			sg_ctx_end(&ctx);
		}
		sg_resp_refuse(resp, (int)status,
		               "Transaction cancelled: maximum execution time exceeded",
		               "Transaction cancelled: maximum execution time exceeded Check logs "
		               "for error trace or enable glide.rest.debug property to verify REST "
		               "request processing");
		return;
	}
	case SG_FAULT_RATE_LIMIT: {
		char rate[32], rule[40];
		snprintf(rate, sizeof(rate), "%lld", r->rate);
		sg_resp_error(resp, SG_ERR_RATE_LIMITED, rate, api_label(req));
		sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
		if (!r->rl_headers)
			return;
		int64_t now = sg_time_now(), reset = (now / 3600 + 1) * 3600;
		snprintf(rule, sizeof(rule), "%032x", r->id);
		header_num(resp, "X-RateLimit-Limit", r->rate);
		header_num(resp, "X-RateLimit-Remaining", 0);
		header_num(resp, "X-RateLimit-Reset", reset);
		sg_resp_header(resp, "X-RateLimit-Rule", rule);
		header_num(resp, "Retry-After", reset - now > 0 ? reset - now : 1);
		return;
	}
	case SG_FAULT_HIBERNATE:
		resp->status = 200;
		sg_buf_reset(&resp->body);
		sg_buf_puts(&resp->body, HIBERNATE_PAGE);
		sg_resp_header(resp, "Content-Type", "text/html;charset=UTF-8");
		return;
	case SG_FAULT_CLOSE:
		resp->status = SG_FAULT_DROP_STATUS;
		return;
	case SG_FAULT_TOKEN_REFUSED:
		resp->status = 401;
		sg_buf_reset(&resp->body);
		sg_buf_puts(&resp->body, sg_oauth_denied_body());
		sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
		return;
	default:
		return;
	}
}

/* The client id of the request's token, or NULL. */
static const char *client_id_of(struct sg_api *api, struct sg_req *req)
{
	if (!req->bearer || !*req->bearer->entity)
		return NULL;
	struct sg_ctx ctx;
	if (sg_ctx_begin(&ctx, api->model, NULL))
		return NULL;
	json_t *row = NULL;
	sg_err err = sg_rec_get(&ctx, "oauth_entity", req->bearer->entity, &row);
	const char *id =
	    !err && row ? sg_arena_strdup(&req->arena, sg_json_str(row, "client_id")) : NULL;
	json_decref(row);
	sg_ctx_end(&ctx);
	return id;
}

static bool any_client_rule(void)
{
	bool any = false;
	pthread_mutex_lock(&set.lock);
	for (size_t i = 0; i < set.n && !any; i++)
		any = *set.rules[i].client_id;
	pthread_mutex_unlock(&set.lock);
	return any;
}

bool sg_faults_apply(struct sg_api *api, struct sg_req *req, struct sg_resp *resp,
                     bool authenticated)
{
	if (req->parent || !req->path || sg_snowglobe_path(req->path))
		return false;
	if (!atomic_load(&set.active))
		return false; /* no rules: one atomic read per request */
	/* The instance was restored (here or by nowctl offline): the rules stay,
	 * their counts and generators start over. */
	unsigned long rg = atomic_load(&api->model->restore_gen);
	if (rg != atomic_load(&set.restore_gen))
		sg_faults_restart(rg);
	struct sg_fault_view v = {
	    .method = req->method,
	    .path = req->path,
	    .table = sg_req_param(req, "table"),
	    .user = authenticated && req->user ? req->user->user_name : NULL,
	    .client_id = authenticated && any_client_rule() ? client_id_of(api, req) : NULL,
	    .authenticated = authenticated,
	    .now = sg_time_now(),
	};
	struct sg_fault_hit hit;
	sg_faults_match(&v, &hit);
	if (hit.latency_ms > 0)
		sleep_ms(hit.latency_ms);
	if (hit.expire_tokens) {
		sg_err err = expire_tokens(api, hit.expire_refresh);
		if (err) {
			sg_log_error("fault: expiring the tokens failed: %s", sg_err_name(err));
			sg_resp_error(resp, err, NULL, NULL);
			sg_resp_header(resp, "Content-Type", SG_JSON_TYPE);
			return true;
		}
	}
	if (!hit.fired)
		return false;
	answer(api, req, &hit.rule, resp);
	return true;
}

/* ---- the routes --------------------------------------------------------------- */

static bool parse_id(const char *s, unsigned *id)
{
	if (!s || !*s || strlen(s) > 9)
		return false;
	unsigned long x = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		x = x * 10 + (unsigned long)(*p - '0');
	}
	*id = (unsigned)x;
	return x > 0;
}

static sg_err send_rule(struct sg_resp *resp, int status, const struct sg_fault_rule *r)
{
	json_t *o = sg_fault_rule_json(r);
	json_t *body = o ? json_pack("{s:o}", "result", o) : NULL;
	if (!body)
		return SG_ERR_NOMEM;
	sg_resp_json(resp, status, body);
	json_decref(body);
	return SG_ERR_OK;
}

sg_err sg_faults_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                      struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)ctx;
	(void)as;
	sg_err err;
	if (!req->body || !req->body_len)
		return SG_ERR_EMPTY_BODY;
	json_t *in = NULL;
	if ((err = sg_json_parse_body(req->body, req->body_len, &in)))
		return err;
	struct sg_fault_rule r, added;
	const char *why = NULL;
	err = sg_fault_rule_parse(in, sg_time_now(), &r, &why);
	json_decref(in);
	if (err) {
		sg_resp_refuse(resp, 400, "Invalid fault rule", why ? why : "Invalid fault rule");
		return SG_ERR_OK;
	}
	if (sg_faults_add(&r, &added)) {
		sg_resp_refuse(resp, 400, "Invalid fault rule",
		               "Too many fault rules (at most 64): remove some first");
		return SG_ERR_OK;
	}
	return send_rule(resp, 201, &added);
}

sg_err sg_faults_get_all(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)req;
	(void)ctx;
	(void)as;
	struct sg_fault_rule *rules = malloc(SG_FAULT_MAX * sizeof(*rules));
	json_t *list = json_array();
	json_t *body = list ? json_pack("{s:o}", "result", list) : NULL;
	if (!rules || !body) {
		free(rules);
		json_decref(body);
		return SG_ERR_NOMEM;
	}
	size_t n = sg_faults_list(rules, SG_FAULT_MAX);
	for (size_t i = 0; i < n; i++) {
		json_t *o = sg_fault_rule_json(&rules[i]);
		if (!o || json_array_append_new(list, o)) {
			free(rules);
			json_decref(body);
			return SG_ERR_NOMEM;
		}
	}
	free(rules);
	sg_resp_json(resp, 200, body);
	json_decref(body);
	return SG_ERR_OK;
}

static bool rule_id(struct sg_req *req, struct sg_resp *resp, unsigned *id)
{
	if (parse_id(sg_req_param(req, "id"), id))
		return true;
	sg_resp_refuse(resp, 404, "No Record found", "No fault rule with this id");
	return false;
}

sg_err sg_faults_get_one(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                         struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)ctx;
	(void)as;
	unsigned id;
	struct sg_fault_rule r;
	if (!rule_id(req, resp, &id))
		return SG_ERR_OK;
	if (!sg_faults_get(id, &r)) {
		sg_resp_refuse(resp, 404, "No Record found", "No fault rule with this id");
		return SG_ERR_OK;
	}
	return send_rule(resp, 200, &r);
}

sg_err sg_faults_delete_one(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)ctx;
	(void)as;
	unsigned id;
	if (!rule_id(req, resp, &id))
		return SG_ERR_OK;
	if (!sg_faults_remove(id)) {
		sg_resp_refuse(resp, 404, "No Record found", "No fault rule with this id");
		return SG_ERR_OK;
	}
	resp->status = 204;
	return SG_ERR_OK;
}

sg_err sg_faults_delete_all(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                            struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)req;
	(void)ctx;
	(void)as;
	sg_faults_clear();
	resp->status = 204;
	return SG_ERR_OK;
}
