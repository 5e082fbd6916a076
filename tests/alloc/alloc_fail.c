/*
 * alloc_fail.c - the allocation-failure pass (issue 11, item 6).
 *
 * Out of memory must surface as a 500 with ServiceNow's error body: never a
 * crash, a leak, a skipped field, "no row" or a half-written record.  This
 * program drives the main request paths in-process, as nowd does, and for
 * each path fails exactly the Nth allocation for N = 1..K (K: the
 * allocations one request makes; past a time budget, every N up to a bound
 * and a stride over the rest), then checks the answer, the database and the
 * next answer.  Any finding fails the pass.
 *
 * The database: a read leaves it unchanged.  A write, failed or not, leaves
 * it either unchanged or exactly as a normal request does: the same change
 * in every table's row count, and the target record, the number
 * configuration and the users' login state as after a normal request, but
 * for what differs between two normal requests (new ids, times, numbers).
 * Never partly written.  A write that fails after its commit (the Table API
 * reads the record back and renders it then) answers 500 with the record
 * stored: that is allowed, the write being whole and durable; everything
 * before the commit rolls back whole.
 *
 * Allocations are counted and failed in three places: our objects are linked
 * with -Wl,--wrap=malloc,calloc,realloc,strdup,strndup (the __wrap_
 * functions below); jansson allocates through core/json.c's hooks
 * (sg_json_init), whose malloc is one of ours; SQLite through
 * SQLITE_CONFIG_MALLOC, installed before the store initialises
 * SQLite (sqlite.c's own sqlite3_config of memory statistics composes with
 * it: both are set before sqlite3_initialize).  libsodium's and libc's own
 * allocations are not counted.
 *
 * Each path runs in a child process with its own connection to the instance
 * the parent created, so a crash ends one path, not the pass: the parent
 * reports the N it happened at and resumes the path after it.
 *
 * Environment: SG_ALLOC_BUDGET seconds per path (default 3.5), SG_ALLOC_PATHS
 * a comma-separated list of paths to run, SG_ALLOC_VERBOSE=1 to keep the
 * instance's log, SG_ALLOC_SEED to shift the strided N, SG_ALLOC_N to try
 * that one N only.
 */
#include <execinfo.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/xml.h"
#include "auth/acl.h"
#include "auth/auth.h"
#include "auth/basic.h"
#include "auth/oauth.h"
#include "auth/password.h"
#include "auth/rules.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "model/model.h"
#include "script/brules.h"
#include "../test_instance.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SG_ASAN 1
#endif
#ifdef SG_ASAN
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

#define ADMIN_SYS_ID  TEST_ADMIN_SYS_ID
#define ADMIN_PW      "Alloc-admin-pw-1"
#define ITIL_PW       "Alloc-itil-pw-1"
#define CLIENT_ID     "alloc-fail-client"
#define CLIENT_SECRET "alloc-fail-secret-0123456789abcdef"

/* Child exit codes; anything else (a signal, a sanitizer's 1) is a crash. */
enum { EXIT_CLEAN = 0, EXIT_FINDINGS = 10, EXIT_LEAK = 11, EXIT_SETUP = 12 };

/* ---- the allocation hooks ----------------------------------------------------------- */

static atomic_bool armed;
static atomic_long seen;    /* allocations since armed */
static atomic_long fail_at; /* the one to fail (1-based); 0: none */
static atomic_bool fired;   /* it was failed */
static void *fail_frames[32];
static int fail_nframes;

static bool fail_now(void)
{
	if (!atomic_load_explicit(&armed, memory_order_relaxed))
		return false;
	long n = atomic_fetch_add(&seen, 1) + 1;
	if (n != atomic_load(&fail_at))
		return false;
	atomic_store(&fired, true);
	fail_nframes = backtrace(fail_frames, 32);
	return true;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

static sqlite3_mem_methods sqlite_orig;

static void *sqlite_hook_malloc(int n)
{
	return fail_now() ? NULL : sqlite_orig.xMalloc(n);
}

static void *sqlite_hook_realloc(void *p, int n)
{
	return fail_now() ? NULL : sqlite_orig.xRealloc(p, n);
}

/* Before anything initialises SQLite or allocates a jansson value. */
static int install_hooks(void)
{
	void *warm[4];
	backtrace(warm, 4); /* loads the unwinder now, not inside a failing allocation */
	sg_json_init();     /* jansson allocates through core/json.c, whose malloc is wrapped */
	if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_orig) != SQLITE_OK)
		return -1;
	sqlite3_mem_methods m = sqlite_orig;
	m.xMalloc = sqlite_hook_malloc;
	m.xRealloc = sqlite_hook_realloc;
	return sqlite3_config(SQLITE_CONFIG_MALLOC, &m) == SQLITE_OK ? 0 : -1;
}

static void arm(long n)
{
	atomic_store(&seen, 0);
	atomic_store(&fail_at, n);
	atomic_store(&fired, false);
	fail_nframes = 0;
	atomic_store(&armed, true);
}

/* Returns the allocations counted since arm(). */
static long disarm(void)
{
	atomic_store(&armed, false);
	return atomic_load(&seen);
}

/* The failed allocation's first frame in src/ ("src/model/record.c:451 fn"),
 * and up to four more in out when all is set. */
static void fail_site(char *out, size_t size, bool all)
{
	out[0] = '\0';
	size_t used = 0;
	int shown = 0;
	for (int i = 1; i < fail_nframes && shown < (all ? 5 : 1); i++) {
		char loc[512] = "";
#ifdef SG_ASAN
		__sanitizer_symbolize_pc((char *)fail_frames[i] - 1, "%s:%l %f", loc, sizeof(loc));
#else
		snprintf(loc, sizeof(loc), "%p", fail_frames[i]);
#endif
		const char *src = !strncmp(loc, "src/", 4) ? loc : strstr(loc, "/src/");
		if (!src && !(shown && all))
			continue;
		if (strstr(loc, "alloc_fail.c"))
			continue;
		src = !src ? loc : src == loc ? loc : src + 1;
		used += (size_t)snprintf(out + used, size - used, "%s%s", shown ? " < " : "", src);
		if (used >= size)
			break;
		shown++;
	}
	if (!out[0])
		snprintf(out, size, "(outside src/)");
}

/* ---- what the children share with the parent -------------------------------------------- */

struct shared {
	long n;           /* the N being tried; 0 outside a try */
	long resume;      /* after a crash: the child skips N <= resume */
	long k;           /* allocations of the path's normal request */
	long tried;       /* N tried so far (every restart included) */
	long findings;    /* distinct findings */
	long fired_total; /* tries where the failure was actually injected */
};

static struct shared *sh;

/* ---- requests ------------------------------------------------------------------------ */

enum target {
	T_NONE,  /* the URL names no record */
	T_FIXED, /* an incident created once per child */
	T_FRESH, /* an incident created before every try (DELETE) */
};

struct path {
	const char *name;
	const char *user; /* Basic credentials; NULL: none */
	const char *method;
	const char *url; /* "{id}": the target's sys_id */
	const char *ctype;
	const char *body;
	int normal;   /* the status of the normal answer */
	int internal; /* what the path answers on an internal error today */
	bool writes;  /* changes the database (else a try must leave it unchanged) */
	enum target target;
	bool offline; /* not through the API: nowctl's offline sg_rec_insert */
};

#define LIST_URL                                                                                   \
	"/api/now/table/incident?sysparm_query=active%3Dtrue%5EORDERBYnumber&sysparm_limit=5"      \
	"&sysparm_display_value=true&sysparm_fields=number,short_description,state,priority,"      \
	"caller_id,caller_id.email,assignment_group.name,opened_at"
#define STATS_URL                                                                                  \
	"/api/now/stats/incident?sysparm_count=true&sysparm_group_by=priority,state"               \
	"&sysparm_avg_fields=reassignment_count&sysparm_query=active%3Dtrue"
#define INC_BODY   "{\"short_description\":\"alloc pass\",\"impact\":\"2\",\"urgency\":\"1\"}"
#define PATCH_BODY "{\"state\":\"2\",\"short_description\":\"patched\",\"work_notes\":\"n\"}"
#define OAUTH_BODY                                                                                 \
	"grant_type=password&client_id=" CLIENT_ID "&client_secret=" CLIENT_SECRET                 \
	"&username=admin&password=" ADMIN_PW
#define REFRESH_BODY                                                                               \
	"grant_type=refresh_token&client_id=" CLIENT_ID "&client_secret=" CLIENT_SECRET            \
	"&refresh_token={rt}"
#define IMPORT_BODY                                                                                \
	"{\"u_ref\":\"ALLOC-1\",\"u_short\":\"alloc import\",\"u_caller\":\"System "               \
	"Administrator\"}"
#define IRE_BODY                                                                                   \
	"{\"items\":[{\"className\":\"cmdb_ci_linux_server\",\"values\":{\"name\":\"alloc-host\"," \
	"\"serial_number\":\"AL-1\"}},{\"className\":\"cmdb_ci_service\",\"values\":{\"name\":"    \
	"\"alloc-svc\"}}],\"relations\":[{\"parent\":1,\"child\":0,\"type\":\"Runs on::Runs\"}]}"
#define XML_BODY                                                                                   \
	"<request><entry><short_description>alloc pass</short_description><impact>2</impact>"      \
	"<urgency>1</urgency></entry></request>"
/* One item each; run_once reads the item's answer as the path's (unwrap_batch). */
#define BATCH_GET_BODY                                                                             \
	"{\"batch_request_id\":1,\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":"     \
	"\"" LIST_URL "\"}]}"
#define BATCH_POST_BODY                                                                            \
	"{\"batch_request_id\":2,\"rest_requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":"    \
	"\"/api/now/table/incident\",\"headers\":[{\"name\":\"Content-Type\",\"value\":"           \
	"\"application/json\"}],\"body\":"                                                         \
	"\"eyJzaG9ydF9kZXNjcmlwdGlvbiI6ImFsbG9jIHBhc3MiLCJpbXBhY3QiOiIyIiwidXJnZW5jeSI6IjEifQ=="   \
	"\"}]}"
#define TINY_BODY                                                                                  \
	"{\"url\":\"https://x/api/now/table/"                                                      \
	"incident?sysparm_query=active%3Dtrue&sysparm_limit=5\"}"
#define ATT_POST_URL                                                                               \
	"/api/now/attachment/file?table_name=incident&table_sys_id={id}&file_name=a.txt"
#define PRB_BODY "{\"short_description\":\"alloc rules\",\"impact\":\"1\",\"urgency\":\"1\"}"
#define FORM     "application/x-www-form-urlencoded"
#define JSONT    "application/json"
#define XMLT     "application/xml"

/* clang-format off */
static const struct path paths[] = {
	{"list", "admin", "GET", LIST_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	{"list.itil", "itil", "GET", LIST_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	{"get", "admin", "GET", "/api/now/table/incident/{id}?sysparm_display_value=all", NULL, NULL,
	 200, 500, false, T_FIXED, false},
	{"get.itil", "itil", "GET", "/api/now/table/incident/{id}?sysparm_display_value=all", NULL,
	 NULL, 200, 500, false, T_FIXED, false},
	{"post", "admin", "POST", "/api/now/table/incident", JSONT, INC_BODY, 201, 500, true, T_NONE,
	 false},
	{"post.itil", "itil", "POST", "/api/now/table/incident", JSONT, INC_BODY, 201, 500, true,
	 T_NONE, false},
	{"patch", "admin", "PATCH", "/api/now/table/incident/{id}", JSONT, PATCH_BODY, 200, 500, true,
	 T_FIXED, false},
	{"patch.itil", "itil", "PATCH", "/api/now/table/incident/{id}", JSONT, PATCH_BODY, 200, 500,
	 true, T_FIXED, false},
	{"delete", "admin", "DELETE", "/api/now/table/incident/{id}", NULL, NULL, 204, 500, true,
	 T_FRESH, false},
	{"attachment.post", "itil", "POST", ATT_POST_URL, "text/plain", "attached", 201, 500, true,
	 T_FIXED, false},
	{"attachment.list", "itil", "GET", "/api/now/attachment?table_name=incident", NULL, NULL, 200,
	 500, false, T_NONE, false},
	{"stats", "admin", "GET", STATS_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	/* business rules on problem (make_instance): before, after, query */
	{"post.rules", "admin", "POST", "/api/now/table/problem", JSONT, PRB_BODY, 201, 500, true,
	 T_NONE, false},
	{"list.rules", "itil", "GET", "/api/now/table/problem", NULL, NULL, 200, 500, false, T_NONE,
	 false},
	{"stats.itil", "itil", "GET", STATS_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	/* api/oauth.c answers every failure of the grant with the 401 refusal */
	{"oauth", NULL, "POST", "/oauth_token.do", FORM, OAUTH_BODY, 200, 401, true, T_NONE, false},
	{"oauth.refresh", NULL, "POST", "/oauth_token.do", FORM, REFRESH_BODY, 200, 401, true, T_NONE,
	 false},
	{"list.bearer", "bearer", "GET", LIST_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	{"post.bearer", "bearer", "POST", "/api/now/table/incident", JSONT, INC_BODY, 201, 500, true,
	 T_NONE, false},
	{"import", "admin", "POST", "/api/now/import/u_imp_alloc", JSONT, IMPORT_BODY, 201, 500, true,
	 T_NONE, false},
	/* CMDB: the identification dry run (identifies, writes nothing) and the Instance API list */
	{"ire.query", "admin", "POST", "/api/now/identifyreconcile/query", JSONT, IRE_BODY, 200, 500,
	 false, T_NONE, false},
	{"cmdb.list", "admin", "GET", "/api/now/cmdb/instance/cmdb_ci_server?sysparm_limit=3", NULL,
	 NULL, 200, 500, false, T_NONE, false},
	{"batch.get", "itil", "POST", "/api/now/v1/batch", JSONT, BATCH_GET_BODY, 200, 500, false,
	 T_NONE, false},
	{"batch.post", "admin", "POST", "/api/now/v1/batch", JSONT, BATCH_POST_BODY, 201, 500, true,
	 T_NONE, false},
	{"tinyurl", "itil", "POST", "/api/now/tinyurl", JSONT, TINY_BODY, 201, 500, true, T_NONE,
	 false},
	{"post.nobody", "admin", "POST", "/api/now/table/incident", JSONT, "", 201, 500, true, T_NONE,
	 false},
	{"nowctl.user", NULL, NULL, NULL, NULL, NULL, 200, 500, true, T_NONE, true},
	/* "xml.": with Accept: application/xml (accept_of); an XML body (api/xml.c) */
	{"xml.list", "admin", "GET", LIST_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	{"xml.get", "itil", "GET", "/api/now/table/incident/{id}?sysparm_display_value=all", NULL,
	 NULL, 200, 500, false, T_FIXED, false},
	{"xml.post", "admin", "POST", "/api/now/table/incident", XMLT, XML_BODY, 201, 500, true,
	 T_NONE, false},
	{"xml.stats", "admin", "GET", STATS_URL, NULL, NULL, 200, 500, false, T_NONE, false},
	/* a Scripted REST resource (api/scripted_rest.c): its script runs */
	{"scripted", "itil", "GET", "/api/x_alloc/demo/items/7?q=1", NULL, NULL, 200, 500, false,
	 T_NONE, false},
};
/* clang-format on */

/* The Accept header a path sends: XML for the "xml." paths, else none (JSON). */
static const char *accept_of(const struct path *p)
{
	return p->name && !strncmp(p->name, "xml.", 4) ? XMLT : NULL;
}

#define MAX_HEADERS 4

struct call {
	const char *hname[MAX_HEADERS], *hvalue[MAX_HEADERS];
	size_t nh;
	char auth[600];
	char path[512];
	char query[1024];
	struct sg_kv args[32];
	char argbuf[1024];
	struct sg_req req;
	const char *body;
	char bodybuf[1024];
};

static const char *call_header(void *impl, const char *name)
{
	struct call *c = impl;
	for (size_t i = 0; i < c->nh; i++)
		if (!strcasecmp(c->hname[i], name))
			return c->hvalue[i];
	return NULL;
}

/* Builds the request nowd would hand the API for method url (unarmed).
 * user: Basic credentials of "admin" or "itil", or "Bearer <token>". */
static void call_init(struct call *c, const char *user, const char *method, const char *url,
                      const char *ctype, const char *body)
{
	memset(c, 0, sizeof(*c));
	if (user && !strncmp(user, "Bearer ", 7)) {
		snprintf(c->auth, sizeof(c->auth), "%s", user);
		c->hname[c->nh] = "Authorization";
		c->hvalue[c->nh++] = c->auth;
	} else if (user) {
		char cred[384], b64[520];
		snprintf(cred, sizeof(cred), "%s:%s", user,
		         !strcmp(user, "admin") ? ADMIN_PW : ITIL_PW);
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)cred, strlen(cred),
		                  sodium_base64_VARIANT_ORIGINAL);
		snprintf(c->auth, sizeof(c->auth), "Basic %s", b64);
		c->hname[c->nh] = "Authorization";
		c->hvalue[c->nh++] = c->auth;
	}
	if (ctype) {
		c->hname[c->nh] = "Content-Type";
		c->hvalue[c->nh++] = ctype;
	}
	const char *q = strchr(url, '?');
	size_t plen = q ? (size_t)(q - url) : strlen(url);
	snprintf(c->path, sizeof(c->path), "%.*s", (int)plen, url);
	snprintf(c->query, sizeof(c->query), "%s", q ? q + 1 : "");
	snprintf(c->argbuf, sizeof(c->argbuf), "%s", c->query);
	size_t n = 0;
	for (char *save = NULL, *tok = strtok_r(c->argbuf, "&", &save); tok && n < 32;
	     tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq++ = '\0';
		sg_str_urldecode(tok);
		if (eq)
			sg_str_urldecode(eq);
		c->args[n].name = tok;
		c->args[n].value = eq ? eq : (char *)"";
		n++;
	}
	sg_req_init(&c->req);
	c->req.method = method;
	c->req.path = c->path;
	c->req.raw_query = c->query;
	c->req.args = c->args;
	c->req.nargs = n;
	c->req.header = call_header;
	c->req.impl = c;
	c->req.origin = "http://127.0.0.1:8080/";
	c->body = body;
}

/* The harness's one contact with the API layer: what nowd's server does with
 * a request, its body given in one piece. */
static void api_request(struct sg_api *api, struct call *c, struct sg_resp *resp)
{
	bool answered = sg_api_begin(api, &c->req, resp);
	if (!answered && c->body && *c->body)
		answered = sg_api_body(api, &c->req, c->body, strlen(c->body), resp);
	if (!answered)
		sg_api_handle(api, &c->req, resp);
}

/* ---- answers ------------------------------------------------------------------------- */

struct answer {
	int status;
	json_t *body;    /* parsed; NULL when empty or not JSON */
	char *raw;       /* the body as sent */
	json_t *headers; /* name -> value */
};

static void answer_cleanup(struct answer *a)
{
	json_decref(a->body);
	json_decref(a->headers);
	free(a->raw);
	memset(a, 0, sizeof(*a));
}

/* Fills a from what the server would send for r (unarmed). */
static void answer_from(struct answer *a, const struct sg_resp *r)
{
	const struct sg_resp *resp = sg_resp_final(r);
	a->status = resp->status;
	a->raw = strndup(resp->body.data ? resp->body.data : "", resp->body.len);
	a->body = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0, NULL) : NULL;
	a->headers = json_object();
	for (size_t i = 0; i < resp->nheaders; i++)
		json_object_set_new(a->headers, resp->headers[i].name,
		                    json_string(resp->headers[i].value));
	/* An XML answer, read back as the JSON it carries (<response>'s members). */
	const char *why;
	if (!a->body && resp->body.len &&
	    sg_xml_is_xml_type(sg_json_str(a->headers, "Content-Type")) &&
	    sg_xml_parse(resp->body.data, resp->body.len, &a->body, &why) != SG_ERR_OK)
		a->body = NULL;
}

/* Keys whose values differ between two normal answers (new sys_ids, numbers,
 * tokens, times) are left out of comparisons. */
static const char *const always_volatile[] = {"sys_created_on", "sys_updated_on", "opened_at",
                                              "sys_mod_count",  "expires_in",     NULL};

static void collect_volatile(json_t *vol, const json_t *a, const json_t *b)
{
	if (!json_is_object(a) || !json_is_object(b)) {
		if (json_is_array(a) && json_is_array(b)) {
			for (size_t i = 0; i < json_array_size(a) && i < json_array_size(b); i++)
				collect_volatile(vol, json_array_get(a, i), json_array_get(b, i));
		}
		return;
	}
	const char *k;
	json_t *va;
	json_object_foreach((json_t *)a, k, va)
	{
		json_t *vb = json_object_get(b, k);
		if (!vb || json_is_string(va) != json_is_string(vb) ||
		    (json_is_string(va) && strcmp(json_string_value(va), json_string_value(vb))))
			json_object_set_new(vol, k, json_true());
		else
			collect_volatile(vol, va, vb);
	}
}

/* A copy of v without the volatile keys. New reference. */
static json_t *normalise(const json_t *v, const json_t *vol)
{
	json_t *c = json_deep_copy(v);
	if (!c)
		return NULL;
	if (json_is_object(c)) {
		const char *k;
		json_t *x;
		void *tmp;
		json_object_foreach_safe(c, tmp, k, x)
		{
			bool drop = json_object_get(vol, k) != NULL;
			for (size_t i = 0; !drop && always_volatile[i]; i++)
				drop = !strcmp(k, always_volatile[i]);
			if (drop)
				json_object_del(c, k);
			else
				json_object_set_new(c, k, normalise(x, vol));
		}
	} else if (json_is_array(c)) {
		for (size_t i = 0; i < json_array_size(c); i++)
			json_array_set_new(c, i, normalise(json_array_get(c, i), vol));
	}
	return c;
}

static bool same(const json_t *a, const json_t *b, const json_t *vol)
{
	if (!a || !b)
		return a == b;
	json_t *na = normalise(a, vol), *nb = normalise(b, vol);
	bool eq = json_equal(na, nb);
	json_decref(na);
	json_decref(nb);
	return eq;
}

/* ServiceNow's error body for status (500: "Internal server error"). */
static bool error_shaped(const struct answer *a)
{
	const json_t *e = json_object_get(a->body, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const json_t *detail = json_object_get(e, "detail");
	return json_is_object(a->body) && json_object_size(a->body) == 2 && json_is_object(e) &&
	       json_object_size(e) == 2 && msg && detail &&
	       (json_is_string(detail) || json_is_null(detail)) &&
	       !strcmp(json_string_value(json_object_get(a->body, "status")) ?: "", "failure") &&
	       (a->status != 500 || !strcmp(msg, "Internal server error"));
}

/* ---- the database, before and after ---------------------------------------------------- */

static int row_object(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	json_t *rows = ud, *o = json_object();
	for (int i = 0; i < ncol; i++)
		json_object_set_new(o, names[i], vals[i] ? json_string(vals[i]) : json_null());
	json_array_append_new(rows, o);
	return 0;
}

/* The rows of sql as objects (column -> value); "<error>" when it failed. */
static json_t *dump_rows(sg_conn *c, const char *sql)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, sql);
	json_t *rows = json_array();
	if (sg_conn_exec(c, &q, row_object, rows, NULL)) {
		json_decref(rows);
		rows = json_string("<error>");
	}
	sg_sql_cleanup(&q);
	return rows;
}

/*
 * What a failed request must leave either as it was or exactly as a normal
 * request leaves it: every table's row count ("count"), the number
 * configuration, the users' login state, the target record ("task",
 * "incident").  A new reference.  SQLite's catalogue: a test may know its
 * backend.
 */
static json_t *fingerprint(struct sg_model *m, const char *target)
{
	sg_conn *c = sg_store_conn(m->store);
	json_t *fp = json_object(), *counts = json_object();
	json_object_set_new(fp, "count", counts);
	json_t *tables =
	    dump_rows(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND "
	                 "name NOT LIKE 'sqlite_%' AND name != 'sg_generation' ORDER BY name");
	size_t i;
	json_t *t;
	json_array_foreach(tables, i, t)
	{
		const char *name = sg_json_str(t, "name");
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) AS n FROM \"%s\"", name);
		json_t *n = dump_rows(c, sql);
		const char *v = sg_json_str(json_array_get(n, 0), "n");
		json_object_set_new(counts, name,
		                    v ? json_integer(atoll(v)) : json_string("<error>"));
		json_decref(n);
	}
	json_decref(tables);
	json_object_set_new(fp, "sys_number",
	                    dump_rows(c, "SELECT * FROM sys_number ORDER BY sys_id"));
	json_object_set_new(fp, "users",
	                    dump_rows(c,
	                              "SELECT user_name, failed_attempts, locked_out FROM sys_user "
	                              "WHERE user_name NOT LIKE 'alloc.user.%' ORDER BY sys_id"));
	if (target && *target) {
		char sql[256];
		snprintf(sql, sizeof(sql), "SELECT * FROM task WHERE sys_id = '%s'", target);
		json_object_set_new(fp, "task", dump_rows(c, sql));
		snprintf(sql, sizeof(sql), "SELECT * FROM incident WHERE sys_id = '%s'", target);
		json_object_set_new(fp, "incident", dump_rows(c, sql));
	}
	return fp;
}

/* The normal request's effect on the database, from the two baselines. */
struct effect {
	json_t *before, *after; /* the first baseline's fingerprints */
	json_t *vol;            /* keys whose values differ between the baselines' outcomes */
};

/* Where fingerprints a and b first differ, as "section: key: «a» «b»". */
static void fp_diff(char *out, size_t size, const json_t *a, const json_t *b)
{
	snprintf(out, size, "(no difference)");
	const char *sec;
	json_t *va;
	json_object_foreach((json_t *)a, sec, va)
	{
		json_t *vb = json_object_get(b, sec);
		if (json_equal(va, vb))
			continue;
		char *sa = json_dumps(va, JSON_COMPACT | JSON_SORT_KEYS);
		char *sb = vb ? json_dumps(vb, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		size_t k = 0;
		while (sa && sb && sa[k] && sa[k] == sb[k])
			k++;
		size_t from = k > 40 ? k - 40 : 0;
		snprintf(out, size, "%s: ...%.*s «%.60s» vs «%.60s»", sec, (int)(k - from),
		         sa ? sa + from : "", sa ? sa + k : "", sb ? sb + k : "(none)");
		free(sa);
		free(sb);
		return;
	}
}

/*
 * Whether after is before with exactly the normal request's effect: each
 * table's row count moved as in the normal run, and everything else reads
 * as after the normal run but for what differs between two normal runs (new
 * ids, times, numbers, modification counts).  why gets the first difference.
 */
static bool whole_effect(const json_t *before, const json_t *after, const struct effect *e,
                         char *why, size_t size)
{
	const char *name;
	json_t *n;
	json_object_foreach(json_object_get(after, "count"), name, n)
	{
		long long d =
		    json_integer_value(n) -
		    json_integer_value(json_object_get(json_object_get(before, "count"), name));
		long long nd =
		    json_integer_value(json_object_get(json_object_get(e->after, "count"), name)) -
		    json_integer_value(json_object_get(json_object_get(e->before, "count"), name));
		if (d != nd) {
			snprintf(why, size, "%s: %+lld rows where a normal request makes %+lld",
			         name, d, nd);
			return false;
		}
	}
	json_t *x = json_deep_copy(after), *y = json_deep_copy(e->after);
	json_object_del(x, "count");
	json_object_del(y, "count");
	json_t *nx = normalise(x, e->vol), *ny = normalise(y, e->vol);
	bool eq = json_equal(nx, ny);
	if (!eq)
		fp_diff(why, size, nx, ny);
	json_decref(x);
	json_decref(y);
	json_decref(nx);
	json_decref(ny);
	return eq;
}

/* ---- findings --------------------------------------------------------------------------- */

static json_t *seen_findings; /* "kind site" -> count */
static const struct path *cur;

/* Reports a finding once per (kind, allocation site). */
__attribute__((format(printf, 3, 4))) static void finding(long n, const char *kind, const char *fmt,
                                                          ...)
{
	char site[1024], key[1200];
	fail_site(site, sizeof(site), false);
	snprintf(key, sizeof(key), "%s %s", kind, site);
	json_t *cnt = json_object_get(seen_findings, key);
	if (cnt) {
		json_integer_set(cnt, json_integer_value(cnt) + 1);
		return;
	}
	json_object_set_new(seen_findings, key, json_integer(1));
	sh->findings++;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_site(site, sizeof(site), true);
	printf("alloc: %s N=%ld: %s: %s\n       failed allocation: %s\n", cur->name, n, kind, msg,
	       site);
	fflush(stdout);
}

/* ---- one path --------------------------------------------------------------------------- */

struct runner {
	struct sg_api api;
	char fixed[SG_ID_LEN + 1]; /* T_FIXED's incident */
	char target[SG_ID_LEN + 1];
	unsigned long user_seq;
	struct sg_token_grant grant; /* admin's, for the "bearer" and "{rt}" paths */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An incident as the system, for the paths that name one. */
static int new_incident(struct runner *r, char id[SG_ID_LEN + 1])
{
	struct sg_ctx ctx;
	if (sg_ctx_begin(&ctx, r->api.model, NULL))
		return -1;
	json_t *in = json_pack("{s:s, s:s, s:s}", "short_description", "alloc target", "impact",
	                       "2", "caller_id", ADMIN_SYS_ID);
	struct sg_write_opts wo = {0};
	sg_err err = sg_rec_insert(&ctx, "incident", in, &wo, id);
	json_decref(in);
	sg_ctx_end(&ctx);
	return err ? -1 : 0;
}

/* The nowctl-like offline write of in (a user with a password), as the system. */
static sg_err offline_user(struct runner *r, json_t *in, char id[SG_ID_LEN + 1])
{
	struct sg_ctx ctx;
	sg_err err = sg_ctx_begin(&ctx, r->api.model, NULL);
	if (!err) {
		struct sg_write_opts wo = {0};
		err = sg_rec_insert(&ctx, "sys_user", in, &wo, id);
		sg_ctx_end(&ctx);
	}
	return err;
}

/* Before each run: the record a DELETE removes. */
static void prepare(struct runner *r)
{
	if (cur->target == T_FRESH && new_incident(r, r->target))
		r->target[0] = '\0';
}

/*
 * A batch path's answer is its one item's: the status, the decoded body and
 * the headers the item carries (a failure inside the item is a 500 item in
 * a 200 batch).  A batch that failed whole, or did not run its item, stays
 * as it is, and is judged as such.
 */
static void unwrap_batch(struct answer *a)
{
	const json_t *items = json_object_get(a->body, "serviced_requests");
	const json_t *it = json_array_get(items, 0);
	const char *b64 = sg_json_str(it, "body");
	if (a->status != 200 || json_array_size(items) != 1 || !b64)
		return;
	size_t n = strlen(b64), len = 0;
	char *raw = malloc(n / 4 * 3 + 4);
	if (!raw || sodium_base642bin((unsigned char *)raw, n / 4 * 3 + 3, b64, n, NULL, &len, NULL,
	                              sodium_base64_VARIANT_ORIGINAL)) {
		free(raw);
		return;
	}
	raw[len] = '\0';
	json_t *headers = json_object();
	const json_t *h;
	size_t i;
	json_array_foreach(json_object_get(it, "headers"), i, h) json_object_set_new(
	    headers, sg_json_str(h, "name"), json_string(sg_json_str(h, "value")));
	a->status = (int)json_integer_value(json_object_get(it, "status_code"));
	json_decref(a->body);
	json_decref(a->headers);
	free(a->raw);
	a->raw = raw;
	a->body = len ? json_loadb(raw, len, 0, NULL) : NULL;
	a->headers = headers;
}

/* Runs the path's request once; armed with fail_at = n when n >= 0. */
static void run_once(struct runner *r, long n, struct answer *a, long *count)
{
	memset(a, 0, sizeof(*a));
	if (cur->offline) {
		char id[SG_ID_LEN + 1] = "", name[64];
		snprintf(name, sizeof(name), "alloc.user.%ld.%lu", (long)getpid(), ++r->user_seq);
		json_t *in =
		    json_pack("{s:s, s:s, s:s, s:s}", "user_name", name, "first_name", "Alloc",
		              "last_name", "User", "user_password", "Alloc-user-pw-1");
		if (n >= 0)
			arm(n);
		sg_err err = offline_user(r, in, id);
		long k = disarm();
		json_decref(in);
		if (count)
			*count = k;
		a->status = err ? sg_err_status(err) : 200;
		a->body = json_object();
		if (!err) {
			/* the record as written: the password must verify */
			struct sg_ctx ctx;
			json_t *rec = NULL;
			if (!sg_ctx_begin(&ctx, r->api.model, NULL)) {
				if (!sg_rec_get(&ctx, "sys_user", id, &rec)) {
					const char *h = sg_json_str(rec, "user_password");
					json_object_set_new(
					    a->body, "password_verifies",
					    json_boolean(sg_password_verify(h, "Alloc-user-pw-1")));
					json_object_set_new(
					    a->body, "first_name",
					    json_string(sg_json_str(rec, "first_name")));
					json_object_set_new(
					    a->body, "active",
					    json_string(sg_json_str(rec, "active")));
				}
				json_decref(rec);
				sg_ctx_end(&ctx);
			}
		}
		return;
	}
	char url[1024];
	const char *id = strstr(cur->url, "{id}");
	if (id)
		snprintf(url, sizeof(url), "%.*s%s%s", (int)(id - cur->url), cur->url,
		         cur->target == T_FIXED ? r->fixed : r->target, id + 4);
	else
		snprintf(url, sizeof(url), "%s", cur->url);
	/* "bearer": the token of a grant made when the path started; "{rt}" in
	 * the body: that grant's refresh token. */
	char user[256];
	snprintf(user, sizeof(user), "%s%s",
	         cur->user && !strcmp(cur->user, "bearer") ? "Bearer " : "",
	         cur->user && !strcmp(cur->user, "bearer") ? r->grant.access_token
	         : cur->user                               ? cur->user
	                                                   : "");
	struct call c;
	call_init(&c, *user ? user : NULL, cur->method, url, cur->ctype, NULL);
	if (accept_of(cur)) {
		c.hname[c.nh] = "Accept";
		c.hvalue[c.nh++] = accept_of(cur);
	}
	const char *rt = cur->body ? strstr(cur->body, "{rt}") : NULL;
	if (rt)
		snprintf(c.bodybuf, sizeof(c.bodybuf), "%.*s%s%s", (int)(rt - cur->body), cur->body,
		         r->grant.refresh_token, rt + 4);
	else if (cur->body)
		snprintf(c.bodybuf, sizeof(c.bodybuf), "%s", cur->body);
	c.body = cur->body ? c.bodybuf : NULL;
	struct sg_resp resp;
	sg_resp_init(&resp);
	if (n >= 0)
		arm(n);
	api_request(&r->api, &c, &resp);
	long k = disarm();
	if (count)
		*count = k;
	answer_from(a, &resp);
	if (strstr(cur->url, "/batch"))
		unwrap_batch(a);
	sg_resp_cleanup(&resp);
	sg_req_cleanup(&c.req);
}

/* A normal answer: the status, and the body and headers of the baseline. */
static bool is_normal(const struct answer *a, const struct answer *base, const json_t *vol)
{
	return a->status == cur->normal && same(a->body, base->body, vol) &&
	       same(a->headers, base->headers, vol);
}

static void describe(char *out, size_t size, const struct answer *a)
{
	snprintf(out, size, "status %d, body %.300s", a->status, a->raw ? a->raw : "");
}

/* Where a's body or headers first differ from the baseline's. */
static void describe_diff(char *out, size_t size, const struct answer *a, const struct answer *base,
                          const json_t *vol)
{
	bool in_body = !same(a->body, base->body, vol);
	const json_t *x = in_body ? a->body : a->headers, *y = in_body ? base->body : base->headers;
	json_t *nx = x ? normalise(x, vol) : NULL, *ny = y ? normalise(y, vol) : NULL;
	char *sx = nx ? json_dumps(nx, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	char *sy = ny ? json_dumps(ny, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	const char *p = sx ? sx : "", *q = sy ? sy : "";
	size_t i = 0;
	while (p[i] && p[i] == q[i])
		i++;
	size_t from = i > 60 ? i - 60 : 0;
	snprintf(out, size, "status %d; %s differs at ...%.*s: got «%.80s» normal «%.80s»",
	         a->status, in_body ? "body" : "headers", (int)(i - from), p + from, p + i, q + i);
	free(sx);
	free(sy);
	json_decref(nx);
	json_decref(ny);
}

/* The record the path names, for fingerprints. */
static const char *target_of(const struct runner *r)
{
	return cur->target == T_FIXED ? r->fixed : cur->target == T_FRESH ? r->target : NULL;
}

/* Fails allocation n and checks the answer, the database and the next answer. */
static void try_n(struct runner *r, long n, const struct answer *base, const json_t *vol,
                  const struct effect *eff)
{
	prepare(r);
	json_t *before = fingerprint(r->api.model, target_of(r));
	struct answer a;
	sh->n = n;
	run_once(r, n, &a, NULL);
	sh->tried++;
	bool injected = atomic_load(&fired);
	if (injected)
		sh->fired_total++;
	json_t *after = fingerprint(r->api.model, target_of(r));
	char what[1024], why[512];
	describe(what, sizeof(what), &a);
	bool normal = is_normal(&a, base, vol);
	bool failed = !normal && (a.status == 500 || a.status == cur->internal);
	const char *type = sg_json_str(a.headers, "Content-Type");
	if (!normal && !failed) {
		if (a.status == cur->normal) {
			describe_diff(what, sizeof(what), &a, base, vol);
			finding(n, "normal status, different answer", "%s", what);
		} else {
			finding(n, "unexpected status", "%s", what);
		}
	} else if (failed && cur->internal == 401) {
		if (strcmp(a.raw, sg_oauth_denied_body()) && !error_shaped(&a))
			finding(n, "refusal body", "%s", what);
	} else if (failed && !cur->offline && !error_shaped(&a)) {
		finding(n, "500 without ServiceNow's error body", "%s", what);
	} else if (failed && !cur->offline && (!type || strcmp(type, SG_JSON_TYPE)) &&
	           !(accept_of(cur) && !strcmp(type, SG_XML_TYPE))) {
		/* (an XML answer's 500 is XML, or the static JSON one when even
		 * the conversion ran out of memory) */
		finding(n, "error without its Content-Type", "%s", what);
	}
	/* A read changes nothing.  A write, failed or not, leaves the database
	 * unchanged or exactly as a normal request does: never partly written
	 * (an answer that fails after the commit is allowed, the write whole). */
	if (!cur->writes && !json_equal(before, after)) {
		fp_diff(why, sizeof(why), before, after);
		finding(n, "read changed the database", "%s; %s", what, why);
	} else if (cur->writes && (normal || !json_equal(before, after)) &&
	           !whole_effect(before, after, eff, why, sizeof(why))) {
		finding(n,
		        normal ? "normal answer, database not as a normal request leaves it"
		               : "failed request left the database partly written",
		        "%s; %s", what, why);
	}
	json_decref(before);
	json_decref(after);
	answer_cleanup(&a);
	/* The next request, without failures, answers normally. */
	prepare(r);
	run_once(r, -1, &a, NULL);
	if (!is_normal(&a, base, vol)) {
		describe_diff(what, sizeof(what), &a, base, vol);
		finding(n, "next request not normal (state poisoned)", "%s", what);
	}
	answer_cleanup(&a);
	sh->n = 0;
}

static double budget(void)
{
	const char *s = getenv("SG_ALLOC_BUDGET");
	double b = s ? atof(s) : 3.5;
	return b > 0 ? b : 3.5;
}

/* The child: opens the instance and runs one path from sh->resume on. */
static int run_path(const char *dir)
{
	struct runner r = {0};
	seen_findings = json_object();
	struct sg_model *m = NULL;
	struct sg_auth *auth = NULL;
	if (sg_model_open(dir, &m) || sg_auth_add_rules(m) || sg_auth_new(m, &auth) ||
	    sg_brules_install(m, auth)) {
		fprintf(stderr, "alloc: %s: cannot open the instance\n", cur->name);
		return EXIT_SETUP;
	}
	sg_api_init(&r.api, m, auth, NULL);
	int rc = EXIT_SETUP;
	struct answer base = {0}, b2 = {0};
	json_t *vol = json_object();
	struct effect eff = {.vol = json_object()};
	json_t *b1 = NULL, *a1 = NULL;
	if (cur->target == T_FIXED && new_incident(&r, r.fixed))
		goto out;
	if ((cur->user && !strcmp(cur->user, "bearer")) ||
	    (cur->body && strstr(cur->body, "{rt}"))) {
		struct sg_kv p[] = {{"grant_type", "password"},
		                    {"client_id", CLIENT_ID},
		                    {"client_secret", CLIENT_SECRET},
		                    {"username", "admin"},
		                    {"password", ADMIN_PW}};
		if (sg_oauth_grant(r.api.auth, p, sizeof(p) / sizeof(p[0]), NULL, false, &r.grant))
			goto out;
	}
	/* Warm the caches, then the baseline twice: what differs is volatile. */
	long k = 0;
	prepare(&r);
	run_once(&r, -1, &base, NULL);
	answer_cleanup(&base);
	double t_fp = 0, t_req = 0;
	for (int i = 0; i < 2; i++) {
		prepare(&r);
		double t0 = now_s();
		json_t *fb = fingerprint(r.api.model, target_of(&r));
		double t1 = now_s();
		run_once(&r, i ? -1 : 0, i ? &b2 : &base, i ? NULL : &k);
		double t2 = now_s();
		json_t *fa = fingerprint(r.api.model, target_of(&r));
		t_fp += (now_s() - t2 + t1 - t0) / 4;
		t_req += (t2 - t1) / 2;
		if (!i) {
			eff.before = fb;
			eff.after = fa;
			continue;
		}
		b1 = fa;
		json_decref(fb);
	}
	if (base.status != cur->normal) {
		char what[512];
		describe(what, sizeof(what), &base);
		fprintf(stderr, "alloc: %s: the normal request failed: %s\n", cur->name, what);
		goto out;
	}
	collect_volatile(vol, base.body, b2.body);
	collect_volatile(vol, base.headers, b2.headers);
	/* The database after the two normal runs: what differs besides the row
	 * counts (new ids, times, numbers) is volatile. */
	a1 = json_deep_copy(eff.after);
	json_object_del(a1, "count");
	json_object_del(b1, "count");
	collect_volatile(eff.vol, a1, b1);
	sh->k = k;

	/* Which N: all of them within the budget, else every N up to a bound and a
	 * stride over the rest.  A try costs two requests and two fingerprints. */
	double t_try = 2 * t_req + 2 * t_fp + 0.0005;
	long tries = (long)(budget() / t_try);
	if (tries < 20)
		tries = 20;
	long full = k <= tries ? k : tries / 2;
	long stride = k <= tries ? 1 : (k - full + (tries - full) - 1) / (tries - full);
	const char *seed = getenv("SG_ALLOC_SEED");
	long shift = seed ? atol(seed) % (stride ? stride : 1) : 0;
	double deadline = now_s() + budget() * 2;
	const char *only = getenv("SG_ALLOC_N");
	if (only && *only) {
		long at = atol(only);
		if (at > sh->resume && at <= k)
			try_n(&r, at, &base, vol, &eff);
		k = 0; /* nothing else */
	}
	for (long n = 1; n <= k; n += n < full ? 1 : stride) {
		long at = n > full ? n + shift : n;
		if (at > k)
			break;
		if (at <= sh->resume)
			continue;
		try_n(&r, at, &base, vol, &eff);
		if (now_s() > deadline) {
			printf("alloc: %s: time budget spent at N=%ld of %ld\n", cur->name, at, k);
			break;
		}
	}
	rc = sh->findings ? EXIT_FINDINGS : EXIT_CLEAN;
out:
	answer_cleanup(&base);
	answer_cleanup(&b2);
	json_decref(vol);
	json_decref(eff.before);
	json_decref(eff.after);
	json_decref(eff.vol);
	json_decref(a1);
	json_decref(b1);
	sg_api_cleanup(&r.api);
	sg_auth_free(r.api.auth);
	sg_model_close(r.api.model);
	const char *key;
	json_t *cnt;
	json_object_foreach(seen_findings, key, cnt)
	{
		if (json_integer_value(cnt) > 1)
			printf("alloc: %s: \"%s\" seen %lld more times\n", cur->name, key,
			       (long long)json_integer_value(cnt) - 1);
	}
	json_decref(seen_findings);
#ifdef SG_ASAN
	if (__lsan_do_recoverable_leak_check()) {
		printf("alloc: %s: LEAK (LeakSanitizer's report above)\n", cur->name);
		rc = EXIT_LEAK;
	}
#endif
	fflush(stdout);
	return rc;
}

#ifdef SG_ASAN
static void on_sanitizer_death(void)
{
	if (sh && sh->n)
		fprintf(stderr, "alloc: %s: sanitizer error at N=%ld\n", cur ? cur->name : "?",
		        sh->n);
}
#endif

/* ---- the instance ------------------------------------------------------------------------- */

/* nowctl init --demo, the itil user's password, an OAuth application. */
static int make_instance(const char *dir)
{
	char id[SG_ID_LEN + 1];
	struct sg_model *m = NULL;
	sg_err err =
	    test_make_instance(dir,
	                       json_pack("{s:s, s:s, s:s, s:s, s:s}", "sys_id", ADMIN_SYS_ID,
	                                 "user_name", "admin", "first_name", "System", "last_name",
	                                 "Administrator", "user_password", ADMIN_PW),
	                       &m);
	if (!err)
		err = test_load_demo(m);
	char *secret = sg_secret_hash(CLIENT_SECRET);
	if (!err)
		err = test_insert_as_system(m, "oauth_entity",
		                            json_pack("{s:s, s:s, s:s, s:s, s:s}", "name",
		                                      "Alloc pass", "client_id", CLIENT_ID,
		                                      "client_secret", secret ? secret : "", "type",
		                                      "client", "active", "true"),
		                            id);
	free(secret);
	/* A staging table and its transform map onto incident, for the import path. */
	if (!err)
		err = test_insert_as_system(m, "sys_db_object",
		                            json_pack("{s:s, s:s}", "name", "u_imp_alloc",
		                                      "super_class", "sys_import_set_row"),
		                            id);
	static const char *const imp[][2] = {{"u_ref", "correlation_id"},
	                                     {"u_short", "short_description"},
	                                     {"u_caller", "caller_id"}};
	for (size_t i = 0; !err && i < 3; i++)
		err = test_insert_as_system(m, "sys_dictionary",
		                            json_pack("{s:s, s:s, s:s}", "name", "u_imp_alloc",
		                                      "element", imp[i][0], "internal_type",
		                                      "string"),
		                            id);
	char map[SG_ID_LEN + 1];
	if (!err)
		err = test_insert_as_system(m, "sys_transform_map",
		                            json_pack("{s:s, s:s, s:s}", "name", "Alloc",
		                                      "source_table", "u_imp_alloc", "target_table",
		                                      "incident"),
		                            map);
	for (size_t i = 0; !err && i < 3; i++)
		err = test_insert_as_system(
		    m, "sys_transform_entry",
		    json_pack("{s:s, s:s, s:s, s:s}", "map", map, "source_field", imp[i][0],
		              "target_field", imp[i][1], "coalesce", i == 0 ? "true" : "false"),
		    id);
	/* A Scripted REST resource, for the "scripted" path. */
	char ws[SG_ID_LEN + 1];
	if (!err)
		err = test_insert_as_system(m, "sys_ws_definition",
		                            json_pack("{s:s, s:s, s:s}", "name", "Alloc",
		                                      "service_id", "demo", "namespace", "x_alloc"),
		                            ws);
	if (!err)
		err = test_insert_as_system(
		    m, "sys_ws_operation",
		    json_pack("{s:s, s:s, s:s, s:s, s:s}", "web_service_definition", ws, "name",
		              "item", "relative_path", "/items/{id}", "requires_acl_authorization",
		              "false", "operation_script",
		              "response.setBody({id: request.pathParams.id, q: "
		              "request.queryParams.q, who: gs.getUserName()});"),
		    id);
	/* Business rules on problem, for the rules paths. */
	static const char *const br[][4] = {
	    {"before", "categoryISEMPTY", "", "current.category = 'inquiry';"},
	    {"after", "priority=1", "current.urgency == 1",
	     "var u = new GlideRecord('sys_user'); u.get('user_name', 'admin'); "
	     "current.description = u.getValue('email');"},
	    {"before", "", "!gs.hasRole('admin')", "current.addQuery('active', true);"},
	};
	for (size_t i = 0; !err && i < 3; i++)
		err = test_insert_as_system(
		    m, "sys_script",
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", br[i][0],
		              "collection", "problem", "when", br[i][0], "filter_condition",
		              br[i][1], "condition", br[i][2], "script", br[i][3], "action_insert",
		              i < 2 ? "true" : "false", "action_query", i == 2 ? "true" : "false",
		              "active", "true"),
		    id);
	if (!err) {
		struct sg_ctx ctx;
		err = sg_ctx_begin(&ctx, m, NULL);
		json_t *rows = NULL;
		if (!err) {
			struct sg_sql q;
			sg_sql_init(&q);
			sg_sql_raw(&q, "SELECT sys_id FROM sys_user WHERE user_name = 'itil'");
			struct sg_json_rows jr = {.rows = json_array()};
			err = sg_conn_exec(ctx.conn, &q, sg_json_rows_add, &jr, NULL);
			if (!err && jr.failed)
				err = SG_ERR_NOMEM;
			rows = jr.rows;
			sg_sql_cleanup(&q);
			const char *itil = sg_json_str(json_array_get(rows, 0), "sys_id");
			json_t *in = json_pack("{s:s}", "user_password", ITIL_PW);
			struct sg_write_opts wo = {0};
			if (!err)
				err = itil ? sg_rec_update(&ctx, "sys_user", itil, in, &wo)
				           : SG_ERR_NO_RECORD;
			json_decref(in);
			json_decref(rows);
			sg_ctx_end(&ctx);
		}
	}
	if (m)
		sg_model_close(m);
	if (err)
		fprintf(stderr, "alloc: cannot create the instance: %s\n", sg_err_name(err));
	return err ? -1 : 0;
}

static bool selected(const char *name)
{
	const char *list = getenv("SG_ALLOC_PATHS");
	if (!list || !*list)
		return true;
	size_t n = strlen(name);
	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

int main(void)
{
	if (install_hooks() || sodium_init() < 0) {
		fputs("alloc: cannot install the allocation hooks\n", stderr);
		return 1;
	}
	const char *verbose = getenv("SG_ALLOC_VERBOSE");
	if (!(verbose && *verbose == '1'))
		sg_log_set_level((enum sg_log_level)(SG_LOG_ERROR + 1));
#ifdef SG_ASAN
	__sanitizer_set_death_callback(on_sanitizer_death);
#endif
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	char dir[] = "/tmp/sg-alloc-XXXXXX";
	if (!mkdtemp(dir) || make_instance(dir))
		return 1;

	int failed = 0;
	double start = now_s();
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cur = &paths[i];
		if (!selected(cur->name))
			continue;
		memset(sh, 0, sizeof(*sh));
		double t0 = now_s();
		int rc = EXIT_CLEAN, crashes = 0;
		long findings = 0;
		for (;;) {
			fflush(stdout);
			pid_t pid = fork();
			if (pid < 0)
				return 1;
			if (pid == 0)
				_exit(run_path(dir));
			int st;
			waitpid(pid, &st, 0);
			findings += sh->findings;
			sh->findings = 0;
			if (WIFEXITED(st) &&
			    (WEXITSTATUS(st) == EXIT_CLEAN || WEXITSTATUS(st) == EXIT_FINDINGS ||
			     WEXITSTATUS(st) == EXIT_LEAK || WEXITSTATUS(st) == EXIT_SETUP)) {
				if (WEXITSTATUS(st) != EXIT_CLEAN)
					rc = WEXITSTATUS(st);
				break;
			}
			/* A crash at sh->n: report it, resume after it. */
			printf("alloc: %s N=%ld: CRASH (%s %d; the sanitizer's report is above)\n",
			       cur->name, sh->n, WIFSIGNALED(st) ? "signal" : "exit",
			       WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
			rc = EXIT_FINDINGS;
			findings++;
			if (++crashes > 5 || !sh->n)
				break;
			sh->resume = sh->n;
		}
		printf("alloc: %-12s K=%-6ld N tried=%-5ld injected=%-5ld findings=%ld%s %.1fs\n",
		       cur->name, sh->k, sh->tried, sh->fired_total, findings,
		       rc == EXIT_LEAK    ? " LEAK"
		       : rc == EXIT_SETUP ? " SETUP FAILED"
		                          : "",
		       now_s() - t0);
		if (rc != EXIT_CLEAN)
			failed++;
	}
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "alloc: could not remove %s\n", dir);
	printf("alloc: %d path(s) failed, %.1fs\n", failed, now_s() - start);
	munmap(sh, sizeof(*sh));
	return failed ? 1 : 0;
}
