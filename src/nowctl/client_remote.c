/*
 * client_remote.c - nowctl acting on a running instance through its Table
 * API, with libcurl.  Requests ask for raw values without reference links,
 * so records look as they do offline.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "nowctl/client.h"

struct remote {
	struct client c;
	CURL *curl;
	char *url; /* without a trailing slash */
	char *user, *password;
};

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	sg_buf_append(ud, data, size * n);
	return sg_buf_failed(ud) ? 0 : size * n;
}

/* Performs one request; *out gets the parsed body ("result" member). */
static int call(struct client *c, const char *method, const char *path, json_t *body,
		json_t **out)
{
	struct remote *r = (struct remote *)c;
	struct sg_buf url, resp;
	sg_buf_init(&url, 64 * 1024);
	sg_buf_init(&resp, 256 * 1024 * 1024);
	sg_buf_printf(&url, "%s%s", r->url, path);
	char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	/* Editing ACLs needs security_admin in effect; the instance honours
	 * this only when snowglobe.rest.allow_elevation is true. */
	headers = curl_slist_append(headers, "X-Snowglobe-Elevate: security_admin");
	curl_easy_reset(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_URL, sg_buf_str(&url));
	curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(r->curl, CURLOPT_USERNAME, r->user);
	curl_easy_setopt(r->curl, CURLOPT_PASSWORD, r->password);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 60L);
	if (payload)
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, payload);
	CURLcode cc = curl_easy_perform(r->curl);
	long status = 0;
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	int rc = 0;
	c->status = (int)status;
	if (cc != CURLE_OK) {
		snprintf(c->errmsg, sizeof(c->errmsg), "cannot reach %s: %s", r->url,
			 curl_easy_strerror(cc));
		rc = 1;
	} else if (status >= 400) {
		json_t *j = json_loads(sg_buf_str(&resp), 0, NULL);
		json_t *e = json_object_get(j, "error");
		const char *msg = json_string_value(json_object_get(e, "message"));
		const char *detail = json_string_value(json_object_get(e, "detail"));
		snprintf(c->errmsg, sizeof(c->errmsg), "HTTP %ld: %s%s%s", status,
			 msg ? msg : "request failed", detail ? ": " : "", detail ? detail : "");
		json_decref(j);
		rc = 1;
	} else if (out) {
		json_t *j = resp.len ? json_loads(sg_buf_str(&resp), 0, NULL) : NULL;
		*out = json_incref(json_object_get(j, "result"));
		json_decref(j);
		if (!*out) {
			snprintf(c->errmsg, sizeof(c->errmsg), "unexpected answer from %s", r->url);
			rc = 1;
		}
	}
	curl_slist_free_all(headers);
	free(payload);
	sg_buf_cleanup(&url);
	sg_buf_cleanup(&resp);
	return rc;
}

#define RAW "sysparm_exclude_reference_link=true"

static int r_list(struct client *c, const char *table, const char *query, long limit,
		  json_t **out)
{
	struct sg_buf p;
	sg_buf_init(&p, 64 * 1024);
	sg_buf_printf(&p, "/api/now/table/%s?" RAW "&sysparm_limit=%ld&sysparm_query=", table,
		      limit > 0 ? limit : 10000);
	sg_buf_put_urlenc(&p, query ? query : "");
	int rc = call(c, "GET", sg_buf_str(&p), NULL, out);
	sg_buf_cleanup(&p);
	return rc;
}

static int r_insert(struct client *c, const char *table, json_t *in, json_t **out)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/now/table/%s?" RAW, table);
	return call(c, "POST", path, in, out);
}

static int r_update(struct client *c, const char *table, const char *sys_id, json_t *in,
		    json_t **out)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/now/table/%s/%s?" RAW, table, sys_id);
	return call(c, "PATCH", path, in, out);
}

static int r_remove(struct client *c, const char *table, const char *sys_id)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/now/table/%s/%s", table, sys_id);
	return call(c, "DELETE", path, NULL, NULL);
}

static void r_close(struct client *c)
{
	struct remote *r = (struct remote *)c;
	curl_easy_cleanup(r->curl);
	free(r->url);
	free(r->user);
	free(r->password);
	free(r);
	curl_global_cleanup();
}

struct client *client_remote(const char *url, const char *user, const char *password)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct remote *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->curl = curl_easy_init();
	r->url = strdup(url);
	r->user = strdup(user ? user : "");
	r->password = strdup(password ? password : "");
	if (!r->curl || !r->url || !r->user || !r->password) {
		r->c.close = r_close;
		r_close(&r->c);
		return NULL;
	}
	size_t n = strlen(r->url);
	while (n && r->url[n - 1] == '/')
		r->url[--n] = '\0';
	r->c.list = r_list;
	r->c.insert = r_insert;
	r->c.update = r_update;
	r->c.remove = r_remove;
	r->c.close = r_close;
	return &r->c;
}
