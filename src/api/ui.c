/*
 * ui.c - the browser console's server side: the static files under /ui/,
 * sign-in and sign-out (/login.do, /logout.do), and the pages
 * (/navpage.do, /{table}_list.do, /{table}.do), which are all one file,
 * ui/app.html, given the session's CSRF token and user name; the page's
 * JavaScript reads everything else through the REST API as the signed-in
 * user (middleware.c accepts the session cookie with its token).
 *
 * Sessions are auth/session.h's.  The rules are ServiceNow's as its UI
 * shows them: the same lock-out as the API, web-service-only users refused
 * ("non-interactive" users never sign in to the UI), an idle timeout from
 * glide.ui.session_timeout; every change made with the session needs its
 * token (sysparm_ck in a form, X-UserToken in a script), so that another
 * site cannot make the browser change anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/basic.h"
#include "auth/password.h"
#include "auth/session.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"

/* A static file larger than this is not served (the console's are small). */
#define UI_FILE_MAX (4u * 1024u * 1024u)
#define MAX_FIELDS  16
/* sysparm_goto longer than this is dropped (the navigator's page instead). */
#define GOTO_MAX 2048

#define HTML_TYPE "text/html;charset=UTF-8"
/* No inline script or style, nothing from elsewhere, never framed. */
#define PAGE_CSP                                                                                   \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "             \
	"frame-ancestors 'none'"

#define MSG_INVALID "User name or password invalid."
#define MSG_LOCKED                                                                                 \
	"Your account is locked after too many failed sign-in attempts. Try again later, or ask "  \
	"an administrator to unlock it."
#define MSG_INACTIVE "Your account is inactive. Ask an administrator to activate it."
#define MSG_WS_ONLY                                                                                \
	"This account is for web services only (web service access only): it cannot sign in to "   \
	"the console."
#define MSG_SIGNED_OUT "You are signed out."
#define MSG_CROSS_SITE "This sign-in came from another site's page: sign in here."
#define MSG_EXPIRED    "Your session has ended. Sign in again."

const char *sg_ui_default_dir(void)
{
	return SG_SHARE_DIR "/ui";
}

/* ---- small helpers ---- */

static void html_escape(struct sg_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			sg_buf_puts(b, "&amp;");
			break;
		case '<':
			sg_buf_puts(b, "&lt;");
			break;
		case '>':
			sg_buf_puts(b, "&gt;");
			break;
		case '"':
			sg_buf_puts(b, "&quot;");
			break;
		case '\'':
			sg_buf_puts(b, "&#39;");
			break;
		default:
			sg_buf_putc(b, *s);
		}
	}
}

/* Percent-encodes s whole, for a query argument's value. */
static void query_escape(struct sg_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    *p == '/')
			sg_buf_putc(b, (char)*p);
		else {
			sg_buf_putc(b, '%');
			sg_buf_putc(b, hex[*p >> 4]);
			sg_buf_putc(b, hex[*p & 15]);
		}
	}
}

/* The value of cookie name in the request's Cookie header, copied into out
 * (size bytes); false when absent or too long. */
static bool cookie(const struct sg_req *req, const char *name, char *out, size_t size)
{
	const char *h = sg_req_header(req, "Cookie");
	size_t nlen = strlen(name);
	while (h && *h) {
		while (*h == ' ' || *h == ';')
			h++;
		const char *end = strchr(h, ';');
		size_t len = end ? (size_t)(end - h) : strlen(h);
		if (len > nlen && !strncmp(h, name, nlen) && h[nlen] == '=') {
			size_t vlen = len - nlen - 1;
			while (vlen && h[nlen + 1 + vlen - 1] == ' ')
				vlen--;
			if (vlen == 0 || vlen >= size)
				return false;
			memcpy(out, h + nlen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		h = end;
	}
	return false;
}

bool sg_ui_session_cookie(const struct sg_req *req, char id[SG_SESSION_TOKEN_SIZE])
{
	return cookie(req, "JSESSIONID", id, SG_SESSION_TOKEN_SIZE);
}

static bool secure(const struct sg_req *req)
{
	return req->origin && !strncmp(req->origin, "https:", 6);
}

static void set_cookie(const struct sg_req *req, struct sg_resp *resp, const char *id)
{
	char v[256];
	snprintf(v, sizeof(v), "JSESSIONID=%s; Path=/; HttpOnly; SameSite=Lax%s%s", id,
	         *id ? "" : "; Max-Age=0", secure(req) ? "; Secure" : "");
	sg_resp_header(resp, "Set-Cookie", v);
}

/* The headers of every HTML answer. */
static void html_headers(struct sg_resp *resp)
{
	sg_resp_header(resp, "Content-Type", HTML_TYPE);
	sg_resp_header(resp, "Cache-Control", "no-store");
	sg_resp_header(resp, "Content-Security-Policy", PAGE_CSP);
	sg_resp_header(resp, "X-Frame-Options", "DENY");
	sg_resp_header(resp, "X-Content-Type-Options", "nosniff");
	sg_resp_header(resp, "Referrer-Policy", "same-origin");
}

static void redirect(struct sg_resp *resp, const char *location)
{
	resp->status = 302;
	sg_buf_reset(&resp->body);
	sg_resp_header(resp, "Location", location);
	sg_resp_header(resp, "Cache-Control", "no-store");
}

/* A sign-in's destination: a path of this site ("/x", not "//host" nor
 * "/\host"), printable ASCII only; NULL otherwise. */
static const char *same_site(const char *go)
{
	if (!go || go[0] != '/' || go[1] == '/' || go[1] == '\\' || strlen(go) > GOTO_MAX)
		return NULL;
	for (const char *p = go; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '\\')
			return NULL;
	return go;
}

/* ---- the files ---- */

/* Reads file rel (a path inside the ui directory, checked) whole into out. */
static sg_err read_ui_file(struct sg_api *api, const char *rel, struct sg_buf *out)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", api->ui_dir, rel) >= (int)sizeof(path))
		return SG_ERR_NO_RESOURCE;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sg_log_error("console: cannot open %s: %s", path, strerror(errno));
		return SG_ERR_INTERNAL;
	}
	char chunk[8192];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		sg_buf_append(out, chunk, (size_t)n);
	close(fd);
	if (n < 0)
		return SG_ERR_INTERNAL;
	return sg_buf_failed(out) ? SG_ERR_NOMEM : SG_ERR_OK;
}

/* Appends template to out with each name of vals[2k] replaced by vals[2k+1]
 * (HTML-escaped). */
static void fill(struct sg_buf *out, const char *tpl, const char *const *vals, size_t n)
{
	const char *p = tpl;
	while (*p) {
		const char *next = strstr(p, "__SG_");
		if (!next) {
			sg_buf_puts(out, p);
			break;
		}
		sg_buf_append(out, p, (size_t)(next - p));
		size_t k = 0;
		for (; k < n; k += 2)
			if (!strncmp(next, vals[k], strlen(vals[k])))
				break;
		if (k < n) {
			html_escape(out, vals[k + 1]);
			p = next + strlen(vals[k]);
		} else {
			sg_buf_append(out, next, 5);
			p = next + 5;
		}
	}
}

/* resp gets the HTML file rel with its placeholders filled. */
static sg_err page(struct sg_api *api, const char *rel, const char *const *vals, size_t n,
                   int status, struct sg_resp *resp)
{
	struct sg_buf tpl;
	sg_buf_init(&tpl, UI_FILE_MAX);
	sg_err err = read_ui_file(api, rel, &tpl);
	const char *text = err ? NULL : sg_buf_str(&tpl);
	if (!err && !text)
		err = SG_ERR_NOMEM;
	if (!err) {
		resp->status = status;
		sg_buf_reset(&resp->body);
		fill(&resp->body, text, vals, n);
		html_headers(resp);
	}
	sg_buf_cleanup(&tpl);
	return err;
}

static const char *content_type(const char *path)
{
	static const char *const types[][2] = {
	    {".html", HTML_TYPE},
	    {".css", "text/css;charset=UTF-8"},
	    {".js", "text/javascript;charset=UTF-8"},
	    {".mjs", "text/javascript;charset=UTF-8"},
	    {".json", "application/json;charset=UTF-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".woff2", "font/woff2"},
	    {".txt", "text/plain;charset=UTF-8"},
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(dot, types[i][0]))
			return types[i][1];
	return "application/octet-stream";
}

/* Whether rel (after "/ui/") names a file the directory may hold: segments
 * of letters, digits, '-', '_' and '.', none empty nor starting with '.'
 * (no "..", no hidden file). */
static bool safe_rel(const char *rel)
{
	bool start = true;
	if (!*rel)
		return false;
	for (const char *p = rel; *p; p++) {
		char c = *p;
		if (c == '/') {
			if (start)
				return false;
			start = true;
			continue;
		}
		if (start && c == '.')
			return false;
		start = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return !start;
}

static void not_found(struct sg_resp *resp)
{
	sg_resp_refuse(resp, 404, "Not Found", "No such file in the console");
}

/* resp gets file rel of the ui directory, or a 404. */
static sg_err serve(struct sg_api *api, struct sg_req *req, const char *rel, struct sg_resp *resp)
{
	char path[PATH_MAX], real[PATH_MAX], root[PATH_MAX];
	if (!safe_rel(rel) ||
	    snprintf(path, sizeof(path), "%s/%s", api->ui_dir, rel) >= (int)sizeof(path) ||
	    !realpath(api->ui_dir, root) || !realpath(path, real)) {
		not_found(resp);
		return SG_ERR_OK;
	}
	/* a symbolic link may not lead out of the directory */
	size_t rlen = strlen(root);
	if (strncmp(real, root, rlen) != 0 || real[rlen] != '/') {
		not_found(resp);
		return SG_ERR_OK;
	}
	int fd = open(real, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size > UI_FILE_MAX) {
		if (fd >= 0)
			close(fd);
		not_found(resp);
		return SG_ERR_OK;
	}
	char etag[64], modified[64];
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
	         (unsigned long long)st.st_mtime);
	struct tm tm;
	gmtime_r(&st.st_mtime, &tm);
	strftime(modified, sizeof(modified), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	sg_resp_header(resp, "ETag", etag);
	sg_resp_header(resp, "Last-Modified", modified);
	sg_resp_header(resp, "Cache-Control", "no-cache");
	sg_resp_header(resp, "X-Content-Type-Options", "nosniff");
	const char *inm = sg_req_header(req, "If-None-Match");
	if (inm && strstr(inm, etag)) {
		close(fd);
		resp->status = 304;
		sg_buf_reset(&resp->body);
		return SG_ERR_OK;
	}
	sg_resp_header(resp, "Content-Type", content_type(real));
	sg_resp_file(resp, 200, fd, (unsigned long long)st.st_size);
	return SG_ERR_OK;
}

sg_err sg_ui_static(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	return serve(api, req, req->path + strlen("/ui/"), resp);
}

/* What browsers ask every site for. */
sg_err sg_ui_favicon(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                     struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	return serve(api, req, "favicon.ico", resp);
}

/* ---- sign-in ---- */

/* The form, with message (may be NULL) and the destination. */
static sg_err login_form(struct sg_api *api, const char *message, const char *go, int status,
                         struct sg_resp *resp)
{
	const char *vals[] = {"__SG_MESSAGE__", message ? message : "", "__SG_GOTO__",
	                      same_site(go) ? go : ""};
	return page(api, "login.html", vals, 4, status, resp);
}

sg_err sg_ui_login_get(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                       struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	const char *why = sg_req_arg(req, "sysparm_message");
	const char *msg = NULL;
	if (why && !strcmp(why, "signed_out"))
		msg = MSG_SIGNED_OUT;
	else if (why && !strcmp(why, "expired"))
		msg = MSG_EXPIRED;
	return login_form(api, msg, sg_req_arg(req, "sysparm_goto"), 200, resp);
}

/* The state of user_name's account, to say why a sign-in failed. */
struct account {
	bool found, active, locked, ws_only;
	char *hash;
};

static int read_account(void *ud, int ncol, const char *const *names, const char *const *vals)
{
	struct account *a = ud;
	a->found = true;
	for (int i = 0; i < ncol; i++) {
		const char *v = vals[i] ? vals[i] : "";
		if (!strcmp(names[i], "active"))
			a->active = sg_str_bool(v, true);
		else if (!strcmp(names[i], "locked_out"))
			a->locked = sg_str_bool(v, false);
		else if (!strcmp(names[i], "web_service_access_only"))
			a->ws_only = sg_str_bool(v, false);
		else if (!strcmp(names[i], "user_password") && *v && !a->hash)
			a->hash = strdup(v);
	}
	return 0;
}

static sg_err account(struct sg_ctx *ctx, const char *user_name, struct account *a)
{
	memset(a, 0, sizeof(*a));
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"active\", \"locked_out\", \"web_service_access_only\", "
	               "\"user_password\" FROM \"sys_user\" WHERE \"user_name\" = ");
	sg_sql_text(&q, user_name);
	sg_err err = sg_conn_exec(ctx->conn, &q, read_account, a, NULL);
	sg_sql_cleanup(&q);
	return err;
}

/*
 * Why a sign-in the password check refused was refused, in the user's
 * terms.  A locked account says so (as the lock-out is announced); an
 * inactive one only to whoever knows its password; anything else is the
 * one message that tells nothing about which of the two was wrong.
 */
static sg_err refusal(struct sg_ctx *ctx, const char *user_name, const char *password,
                      const char **msg)
{
	struct account a;
	*msg = MSG_INVALID;
	sg_err err = account(ctx, user_name, &a);
	if (!err && a.found && a.locked)
		*msg = MSG_LOCKED;
	else if (!err && a.found && !a.active && a.hash && sg_password_verify(a.hash, password))
		*msg = MSG_INACTIVE;
	free(a.hash);
	return err;
}

/* The host (and port) of an origin "scheme://host[:port][/]", its length in *len. */
static const char *origin_host(const char *origin, size_t *len)
{
	const char *h = origin ? strstr(origin, "://") : NULL;
	if (!h)
		return NULL;
	h += 3;
	*len = strcspn(h, "/");
	return h;
}

/* Whether a form post came from another site's page: its Origin header (sent by
 * browsers with every POST) names another host or port.  The scheme is not
 * compared: behind a proxy that ends TLS, the page is https and nowd http. */
static bool cross_site(const struct sg_req *req)
{
	const char *o = sg_req_header(req, "Origin");
	if (!o)
		return false; /* not a browser, or one that would not tell */
	size_t n1 = 0, n2 = 0;
	const char *a = origin_host(o, &n1), *b = origin_host(req->origin, &n2);
	return !a || !b || n1 != n2 || strncasecmp(a, b, n1) != 0;
}

sg_err sg_ui_login_post(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                        struct sg_req *req, struct sg_resp *resp)
{
	(void)as;
	/* Another site's form would sign the browser in as the poster's own
	 * account (login CSRF). */
	if (cross_site(req))
		return login_form(api, MSG_CROSS_SITE, NULL, 403, resp);
	struct sg_kv f[MAX_FIELDS];
	size_t n = 0;
	char *copy = NULL;
	if (req->body && !(copy = sg_form_parse(req->body, req->body_len, f, MAX_FIELDS, &n)))
		return SG_ERR_NOMEM;
	const char *name = NULL, *pw = NULL, *go = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].name, "user_name"))
			name = f[i].value;
		else if (!strcmp(f[i].name, "user_password"))
			pw = f[i].value;
		else if (!strcmp(f[i].name, "sysparm_goto"))
			go = f[i].value;
	}
	sg_err err = SG_ERR_OK;
	const char *msg = NULL;
	struct sg_user u;
	if (!name || !*name || !pw || !*pw) {
		msg = "Enter your user name and password.";
		goto answer;
	}
	err = sg_auth_password(api->auth, name, pw, &u);
	if (err == SG_ERR_UNAUTHENTICATED) {
		err = refusal(ctx, name, pw, &msg);
		goto answer;
	}
	if (err)
		goto out;
	/* Non-interactive users authenticate to the APIs only
	 * [c_NonInteractiveSessions.md]. */
	struct account a;
	err = account(ctx, name, &a);
	free(a.hash);
	if (err)
		goto out;
	if (a.ws_only) {
		msg = MSG_WS_ONLY;
		goto answer;
	}
	/* A new id at every sign-in: one planted before it is worth nothing. */
	char old[SG_SESSION_TOKEN_SIZE], id[SG_SESSION_TOKEN_SIZE], ck[SG_SESSION_TOKEN_SIZE];
	if (sg_ui_session_cookie(req, old))
		err = sg_session_end(api->auth, old);
	if (!err)
		err = sg_session_new(api->auth, &u, id, ck);
	if (err)
		goto out;
	set_cookie(req, resp, id);
	redirect(resp, same_site(go) ? go : "/navpage.do");
	sg_log_info("console: %s signed in", u.user_name);
	goto out;
answer:
	if (!err)
		err = login_form(api, msg, go, 200, resp);
out:
	free(copy);
	return err;
}

/* ---- sign-out ---- */

sg_err sg_ui_logout(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                    struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	char id[SG_SESSION_TOKEN_SIZE];
	bool has = sg_ui_session_cookie(req, id);
	if (has && !strcmp(req->method, "POST")) {
		/* A form post must carry the session's token: another site's
		 * form cannot sign the user out. */
		struct sg_user u;
		char ck[SG_SESSION_TOKEN_SIZE];
		struct sg_kv f[MAX_FIELDS];
		size_t n = 0;
		char *copy = NULL;
		if (req->body &&
		    !(copy = sg_form_parse(req->body, req->body_len, f, MAX_FIELDS, &n)))
			return SG_ERR_NOMEM;
		const char *sent = sg_req_header(req, "X-UserToken");
		for (size_t i = 0; i < n && !sent; i++)
			if (!strcmp(f[i].name, "sysparm_ck"))
				sent = f[i].value;
		sg_err err = sg_session_check(api->auth, id, &u, ck);
		bool match = !err && sg_session_ck_matches(ck, sent);
		free(copy);
		if (err && err != SG_ERR_UNAUTHENTICATED)
			return err;
		if (!err && !match) {
			sg_resp_refuse(
			    resp, 403, "Forbidden",
			    "The request did not carry the session's token (sysparm_ck)");
			return SG_ERR_OK;
		}
	}
	if (has) {
		sg_err err = sg_session_end(api->auth, id);
		if (err)
			return err;
	}
	set_cookie(req, resp, "");
	redirect(resp, "/login.do?sysparm_message=signed_out");
	return SG_ERR_OK;
}

/* ---- the pages ---- */

sg_err sg_ui_root(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                  struct sg_req *req, struct sg_resp *resp)
{
	(void)api;
	(void)ctx;
	(void)as;
	(void)req;
	redirect(resp, "/navpage.do");
	return SG_ERR_OK;
}

/* Whether path is a page: "/navpage.do", "/{table}_list.do" or
 * "/{table}.do", a table name being letters, digits and '_'. */
static bool page_path(const char *path)
{
	if (path[0] != '/')
		return false;
	size_t len = strlen(path);
	if (len < 5 || len > 90 || strcmp(path + len - 3, ".do"))
		return false;
	for (size_t i = 1; i < len - 3; i++) {
		char c = path[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

sg_err sg_ui_page_resolve(struct sg_api *api, struct sg_req *req, bool *anonymous)
{
	(void)api;
	*anonymous = true;
	return page_path(req->path) ? SG_ERR_OK : SG_ERR_NO_RESOURCE;
}

sg_err sg_ui_page(struct sg_api *api, struct sg_ctx *ctx, struct sg_auth_session *as,
                  struct sg_req *req, struct sg_resp *resp)
{
	(void)ctx;
	(void)as;
	char id[SG_SESSION_TOKEN_SIZE], ck[SG_SESSION_TOKEN_SIZE];
	struct sg_user u;
	sg_err err = SG_ERR_UNAUTHENTICATED;
	bool has = sg_ui_session_cookie(req, id);
	if (has)
		err = sg_session_check(api->auth, id, &u, ck);
	if (err == SG_ERR_UNAUTHENTICATED) {
		/* back here once signed in */
		struct sg_buf loc;
		sg_buf_init(&loc, 4 * GOTO_MAX + 256);
		sg_buf_puts(&loc, "/login.do?sysparm_goto=");
		struct sg_buf go;
		sg_buf_init(&go, GOTO_MAX + 16);
		sg_buf_puts(&go, req->path);
		if (req->raw_query && *req->raw_query) {
			sg_buf_putc(&go, '?');
			sg_buf_puts(&go, req->raw_query);
		}
		const char *gs = sg_buf_failed(&go) ? NULL : sg_buf_str(&go);
		query_escape(&loc, gs ? gs : "/navpage.do");
		if (has)
			sg_buf_puts(&loc, "&sysparm_message=expired");
		const char *where = sg_buf_failed(&loc) ? NULL : sg_buf_str(&loc);
		err = where ? SG_ERR_OK : SG_ERR_NOMEM;
		if (where) {
			redirect(resp, where);
			if (has)
				set_cookie(req, resp, "");
		}
		sg_buf_cleanup(&go);
		sg_buf_cleanup(&loc);
		return err;
	}
	if (err)
		return err;
	const char *vals[] = {"__SG_CK__", ck, "__SG_USER__", u.user_name};
	return page(api, "app.html", vals, 4, 200, resp);
}
