/*
 * profile.c - mapping profiles (delivery.h): JSON files NAME.json in the
 * profiles folder, their templates, and the check of a record's fields
 * against the instance's dictionary and choices before anything is sent.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/util.h"
#include "nowsync/delivery.h"

static char profiles_dir[4096] = "profiles";

void ns_profiles_set_dir(const char *dir)
{
	snprintf(profiles_dir, sizeof(profiles_dir), "%s", dir);
}

const char *ns_profiles_dir(void)
{
	return profiles_dir;
}

static bool name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	if (!len || len > NS_NAME_MAX || n[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(n[i] == '-' || n[i] == '_' || n[i] == '.' || (n[i] >= 'a' && n[i] <= 'z') ||
		      (n[i] >= 'A' && n[i] <= 'Z') || (n[i] >= '0' && n[i] <= '9')))
			return false;
	return true;
}

void ns_profile_clear(struct ns_profile *p)
{
	free(p->table);
	free(p->connection);
	json_decref(p->fields);
	json_decref(p->defaults);
	json_decref(p->severity);
	free(p->corr_prefix);
	free(p->corr_template);
	free(p->parent_profile);
	free(p->parent_key);
	free(p->parent_field);
	free(p->close_code);
	free(p->close_notes);
	free(p->resolved_state);
	free(p->reopen_state);
	free(p->update_note);
	free(p->reopen_note);
	free(p->closed_states);
	free(p->category_from);
	json_decref(p->categories);
	memset(p, 0, sizeof(*p));
}

static bool is_ident(const char *s)
{
	if (!s || !*s || strlen(s) > 80)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* A string member (default dflt); false with msg when it is not a string. */
static bool get_str(json_t *o, const char *k, const char *dflt, char **out, char *msg, size_t sz)
{
	json_t *v = json_object_get(o, k);
	if (v && !json_is_string(v)) {
		snprintf(msg, sz, "\"%s\" must be a string", k);
		return false;
	}
	const char *s = v ? json_string_value(v) : dflt;
	*out = s ? strdup(s) : NULL;
	if (s && !*out) {
		snprintf(msg, sz, "out of memory");
		return false;
	}
	return true;
}

static bool get_int(json_t *o, const char *k, long long dflt, long long min, long long max,
                    long long *out, char *msg, size_t sz)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		*out = dflt;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(msg, sz, "\"%s\" must be an integer from %lld to %lld", k, min, max);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

/* An object of field name -> string; NULL member allowed (empty object). */
static bool get_fieldmap(json_t *o, const char *k, json_t **out, char *msg, size_t sz)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		*out = json_object();
		return *out != NULL;
	}
	if (!json_is_object(v)) {
		snprintf(msg, sz, "\"%s\" must be an object of field names", k);
		return false;
	}
	const char *f;
	json_t *val;
	json_object_foreach(v, f, val)
	{
		if (!is_ident(f)) {
			snprintf(msg, sz, "\"%s\": \"%.80s\" is not a field name", k, f);
			return false;
		}
		if (!json_is_string(val)) {
			snprintf(msg, sz, "\"%s\".%s must be a string", k, f);
			return false;
		}
	}
	*out = json_incref(v);
	return true;
}

sg_err ns_profile_parse(const char *name, const char *text, size_t len, struct ns_profile *p,
                        char *msg, size_t msgsz)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root)) {
		snprintf(msg, msgsz, "profile %s is not a JSON object (line %d: %s)", name,
		         jerr.line, root ? "not an object" : jerr.text);
		json_decref(root);
		return SG_ERR_BAD_PARAM;
	}
	static const char *const known[] = {"table",       "connection",  "fields",    "defaults",
	                                    "severity",    "correlation", "lifecycle", "delivery",
	                                    "description", "parent",      "priority",  "categories",
	                                    NULL};
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		bool ok = false;
		for (const char *const *q = known; *q; q++)
			ok = ok || !strcmp(*q, k);
		if (!ok) {
			snprintf(msg, msgsz, "profile %s: unknown member \"%.80s\"", name, k);
			json_decref(root);
			return SG_ERR_BAD_PARAM;
		}
	}
	json_t *corr = json_object_get(root, "correlation");
	json_t *life = json_object_get(root, "lifecycle");
	json_t *del = json_object_get(root, "delivery");
	json_t *empty = json_object();
	char *update_with = NULL;
	long long reopen = 0, hyst = 0, attempts = 0, base = 0, maxb = 0, budget = 0, ttl = 0;
	bool ok = empty && get_str(root, "table", "incident", &p->table, msg, msgsz) &&
	          get_str(root, "connection", NULL, &p->connection, msg, msgsz) &&
	          get_fieldmap(root, "fields", &p->fields, msg, msgsz) &&
	          get_fieldmap(root, "defaults", &p->defaults, msg, msgsz);
	if (ok && (corr && !json_is_object(corr))) {
		snprintf(msg, msgsz, "\"correlation\" must be an object");
		ok = false;
	}
	if (ok && ((life && !json_is_object(life)) || (del && !json_is_object(del)))) {
		snprintf(msg, msgsz, "\"lifecycle\" and \"delivery\" must be objects");
		ok = false;
	}
	if (!corr)
		corr = empty;
	if (!life)
		life = empty;
	if (!del)
		del = empty;
	ok = ok && get_str(corr, "prefix", "nowsync:", &p->corr_prefix, msg, msgsz) &&
	     get_str(corr, "key", "{{key}}", &p->corr_template, msg, msgsz) &&
	     get_str(life, "update_with", "work_notes", &update_with, msg, msgsz) &&
	     get_str(life, "close_code", "Solution provided", &p->close_code, msg, msgsz) &&
	     get_str(life, "close_notes", "Alert cleared: {{summary}}", &p->close_notes, msg,
	             msgsz) &&
	     get_str(life, "update_note", "Alert changed: {{summary}} (severity {{severity}})",
	             &p->update_note, msg, msgsz) &&
	     get_str(life, "reopen_note", "Alert firing again: {{summary}}", &p->reopen_note, msg,
	             msgsz) &&
	     get_str(life, "closed_states", "7,8", &p->closed_states, msg, msgsz) &&
	     get_str(life, "resolved_state", "6", &p->resolved_state, msg, msgsz) &&
	     get_str(life, "reopen_state", "2", &p->reopen_state, msg, msgsz) &&
	     get_int(life, "reopen_window", 3600, 0, 365LL * 86400, &reopen, msg, msgsz) &&
	     get_int(life, "hysteresis", 0, 0, 86400, &hyst, msg, msgsz) &&
	     get_int(del, "max_attempts", 12, 1, 1000, &attempts, msg, msgsz) &&
	     get_int(del, "backoff_base_ms", 500, 1, 3600000, &base, msg, msgsz) &&
	     get_int(del, "backoff_max_ms", 300000, 1, 86400000, &maxb, msg, msgsz) &&
	     get_int(del, "hourly_budget", 0, 0, 100000000, &budget, msg, msgsz) &&
	     get_int(del, "dictionary_ttl", 3600, 0, 30LL * 86400, &ttl, msg, msgsz);
	json_t *val = json_object_get(del, "validate");
	if (ok && val && !json_is_boolean(val)) {
		snprintf(msg, msgsz, "\"validate\" must be true or false");
		ok = false;
	}
	p->validate = !val || json_is_true(val);
	if (ok && strcmp(update_with, "work_notes") && strcmp(update_with, "comments")) {
		snprintf(msg, msgsz, "\"lifecycle\".update_with is work_notes or comments");
		ok = false;
	}
	ok = ok && ns_ticket_parse(root, p, msg, msgsz);
	if (ok && !is_ident(p->table)) {
		snprintf(msg, msgsz, "\"table\" is not a table name");
		ok = false;
	}
	json_t *par = json_object_get(root, "parent");
	if (ok && par) {
		static const char *const pk[] = {"profile", "key", "field", NULL};
		ok = json_is_object(par);
		json_object_foreach(par, k, v)
		{
			bool kn = false;
			for (const char *const *q = pk; *q; q++)
				kn = kn || !strcmp(*q, k);
			ok = ok && kn && json_is_string(v);
		}
		ok = ok && get_str(par, "profile", NULL, &p->parent_profile, msg, msgsz) &&
		     get_str(par, "key", NULL, &p->parent_key, msg, msgsz) &&
		     get_str(par, "field", "parent", &p->parent_field, msg, msgsz) &&
		     p->parent_profile && p->parent_key && name_ok(p->parent_profile) &&
		     is_ident(p->parent_field);
		if (!ok && !*msg)
			snprintf(msg, msgsz,
			         "\"parent\" is {\"profile\": NAME, \"key\": TEMPLATE, "
			         "\"field\": FIELD (parent)}");
	}
	json_t *sev = json_object_get(root, "severity");
	if (ok && sev) {
		if (!json_is_object(sev))
			ok = false;
		json_object_foreach(sev, k, v)
		{
			const char *f;
			json_t *fv;
			if (!json_is_object(v))
				ok = false;
			json_object_foreach(v, f, fv) ok = ok && is_ident(f) && json_is_string(fv);
		}
		if (!ok)
			snprintf(msg, msgsz,
			         "\"severity\" maps a severity to an object of field: "
			         "\"value\"");
	}
	if (ok) {
		p->update_comments = !strcmp(update_with, "comments");
		p->reopen_window_s = reopen;
		p->hysteresis_s = hyst;
		p->max_attempts = (int)attempts;
		p->backoff_base_ms = (long)base;
		p->backoff_max_ms = (long)(maxb < base ? base : maxb);
		p->hourly_budget = (long)budget;
		p->dict_ttl_s = ttl;
		p->severity = sev ? json_incref(sev) : json_object();
		ok = p->severity != NULL;
	}
	free(update_with);
	json_decref(empty);
	json_decref(root);
	if (!ok) {
		if (!*msg)
			snprintf(msg, msgsz, "out of memory");
		ns_profile_clear(p);
		return SG_ERR_BAD_PARAM;
	}
	return SG_ERR_OK;
}

sg_err ns_profile_load(const char *name, struct ns_profile *p, char *msg, size_t msgsz)
{
	memset(p, 0, sizeof(*p));
	msg[0] = '\0';
	if (!name_ok(name)) {
		snprintf(msg, msgsz, "no profile called %.80s", name ? name : "");
		return SG_ERR_NO_RECORD;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s.json", profiles_dir, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(msg, msgsz, "no profile called %s (%s: %s)", name, path, strerror(errno));
		return SG_ERR_NO_RECORD;
	}
	char *buf = malloc(NS_PROFILE_MAX_BYTES + 1);
	size_t n = buf ? fread(buf, 1, NS_PROFILE_MAX_BYTES + 1, f) : 0;
	fclose(f);
	if (!buf)
		return SG_ERR_NOMEM;
	if (n > NS_PROFILE_MAX_BYTES) {
		free(buf);
		snprintf(msg, msgsz, "profile %s is over %d bytes", name, NS_PROFILE_MAX_BYTES);
		return SG_ERR_BAD_PARAM;
	}
	sg_err e = ns_profile_parse(name, buf, n, p, msg, msgsz);
	free(buf);
	return e;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ns_profile_names(void (*fn)(void *ud, const char *name), void *ud)
{
	DIR *d = opendir(profiles_dir);
	if (!d)
		return 0;
	char *names[1024];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 1024) {
		size_t len = strlen(e->d_name);
		if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) {
			char *s = strndup(e->d_name, len - 5);
			if (s && name_ok(s))
				names[n++] = s;
			else
				free(s);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		fn(ud, names[i]);
		free(names[i]);
	}
	return (int)n;
}

/* ---- templates ---------------------------------------------------------------- */

/* The member at the dotted path name inside root, or NULL. */
static const json_t *walk(const json_t *root, const char *name)
{
	const json_t *cur = root;
	char part[128];
	while (cur && *name) {
		size_t n = strcspn(name, ".");
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, name, n);
		part[n] = '\0';
		cur = json_is_object(cur) ? json_object_get(cur, part) : NULL;
		name += n + (name[n] == '.');
	}
	return cur;
}

static const char *lookup(const struct ns_tvars *v, const char *name, char *scratch, size_t sz)
{
	if (!strcmp(name, "key"))
		return v->key;
	if (!strcmp(name, "status"))
		return v->status;
	if (!strcmp(name, "summary"))
		return v->summary;
	if (!strcmp(name, "severity"))
		return v->severity;
	/* the path as written ({{fields.x}}: the event's "fields" member, {{labels.x}}), else
	 * with "fields." dropped ({{fields.labels.x}}: the event itself) */
	const json_t *cur = walk(v->fields, name);
	if ((!cur || json_is_null(cur)) && !strncmp(name, "fields.", 7))
		cur = walk(v->fields, name + 7);
	if (!cur || json_is_null(cur))
		return NULL;
	if (json_is_string(cur))
		return json_string_value(cur);
	if (json_is_integer(cur)) {
		snprintf(scratch, sz, "%lld", (long long)json_integer_value(cur));
		return scratch;
	}
	if (json_is_real(cur)) {
		snprintf(scratch, sz, "%g", json_real_value(cur));
		return scratch;
	}
	if (json_is_boolean(cur))
		return json_is_true(cur) ? "true" : "false";
	return NULL;
}

char *ns_template_render(const char *tpl, const struct ns_tvars *v)
{
	struct sg_buf b;
	sg_buf_init(&b, 64 * 1024);
	const char *p = tpl;
	while (*p) {
		const char *open = strstr(p, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		if (!open || !close) {
			sg_buf_append(&b, p, strlen(p));
			break;
		}
		sg_buf_append(&b, p, (size_t)(open - p));
		char name[256];
		const char *s = open + 2, *e = close;
		while (s < e && *s == ' ')
			s++;
		while (e > s && e[-1] == ' ')
			e--;
		if ((size_t)(e - s) < sizeof(name)) {
			memcpy(name, s, (size_t)(e - s));
			name[e - s] = '\0';
			char scratch[64];
			const char *val = lookup(v, name, scratch, sizeof(scratch));
			if (val)
				sg_buf_append(&b, val, strlen(val));
		}
		p = close + 2;
	}
	if (sg_buf_failed(&b)) {
		sg_buf_cleanup(&b);
		return NULL;
	}
	char *out = strdup(sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

char *ns_profile_correlation(const struct ns_profile *p, const struct ns_tvars *v)
{
	char *body = ns_template_render(p->corr_template, v);
	char *out = NULL;
	if (body && asprintf(&out, "%s%s", p->corr_prefix, body) < 0)
		out = NULL;
	free(body);
	if (out && strlen(out) > 100) /* correlation_id is 100 characters */
		out[100] = '\0';
	return out;
}

static bool set_rendered(json_t *body, const char *field, const char *tpl, const struct ns_tvars *v)
{
	char *s = ns_template_render(tpl, v);
	bool ok = s && !json_object_set_new(body, field, json_string(s));
	free(s);
	return ok;
}

json_t *ns_profile_fields(const struct ns_profile *p, const struct ns_tvars *v)
{
	json_t *body = json_object();
	bool ok = body != NULL;
	const char *f;
	json_t *t;
	json_object_foreach(p->defaults, f, t) ok =
	    ok && set_rendered(body, f, json_string_value(t), v);
	/* the default priority, as ServiceNow takes it: impact and urgency */
	const char *imp, *urg;
	if (ok && ns_priority_pair(p->priority, &imp, &urg))
		ok = !json_object_set_new(body, "impact", json_string(imp)) &&
		     !json_object_set_new(body, "urgency", json_string(urg));
	json_t *sev = v->severity ? json_object_get(p->severity, v->severity) : NULL;
	json_object_foreach(sev, f, t) ok = ok && set_rendered(body, f, json_string_value(t), v);
	json_object_foreach(p->fields, f, t) ok =
	    ok && set_rendered(body, f, json_string_value(t), v);
	char *corr = ok ? ns_profile_correlation(p, v) : NULL;
	ok = ok && corr && !json_object_set_new(body, "correlation_id", json_string(corr));
	free(corr);
	if (!ok) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* ---- the dictionary -------------------------------------------------------------- */

void ns_dict_clear(struct ns_dict *d)
{
	json_decref(d->fields);
	json_decref(d->choices);
	d->fields = d->choices = NULL;
}

/* GET path on c; the "result" array (new reference) or NULL with msg. */
static json_t *get_result(struct ns_conn *c, struct sg_http_client *http, const char *path,
                          int *nreq, char *msg, size_t msgsz)
{
	(*nreq)++;
	struct sg_http_response r;
	struct ns_error err;
	sg_http_response_init(&r);
	json_t *out = NULL;
	if (!ns_conn_request(c, http, "GET", path, NULL, &r, &err)) {
		snprintf(msg, msgsz, "%s", err.msg);
	} else if (r.status != 200) {
		snprintf(msg, msgsz, "GET %.200s answered %d", path, r.status);
	} else {
		json_t *j = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
		json_t *res = json_object_get(j, "result");
		if (json_is_array(res))
			out = json_incref(res);
		else
			snprintf(msg, msgsz, "GET %.200s: no result list", path);
		json_decref(j);
	}
	sg_http_response_cleanup(&r);
	return out;
}

static const char *row_str(json_t *row, const char *k)
{
	json_t *v = json_object_get(row, k);
	if (json_is_object(v)) /* a reference: {"link":..,"value":..} */
		v = json_object_get(v, "value");
	return json_is_string(v) ? json_string_value(v) : "";
}

/* Percent-encodes s into out (sz). */
static void pct(const char *s, char *out, size_t sz)
{
	size_t o = 0;
	for (; *s && o + 4 < sz; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, sz - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* Fetches the dictionary of table (and the tables it extends). */
static json_t *fetch_dict(struct ns_conn *c, struct sg_http_client *http, const char *table,
                          int *nreq, char *msg, size_t msgsz)
{
	char chain[1024] = "", cur[128], path[2048];
	snprintf(cur, sizeof(cur), "%s", table);
	for (int depth = 0; depth < 8 && *cur; depth++) {
		size_t len = strlen(chain);
		snprintf(chain + len, sizeof(chain) - len, "%s%s", len ? "," : "", cur);
		char q[300];
		pct(cur, q, sizeof(q));
		snprintf(
		    path, sizeof(path),
		    "/api/now/table/sys_db_object?sysparm_query=name%%3D%s&sysparm_fields=super_"
		    "class&sysparm_limit=1",
		    q);
		json_t *rows = get_result(c, http, path, nreq, msg, msgsz);
		if (!rows)
			return NULL;
		json_t *row = json_array_get(rows, 0);
		const char *sup = row ? row_str(row, "super_class") : "";
		char supname[128] = "";
		if (*sup) {
			char sq[100];
			pct(sup, sq, sizeof(sq));
			snprintf(path, sizeof(path),
			         "/api/now/table/sys_db_object/%s?sysparm_fields=name", sq);
			struct sg_http_response r;
			struct ns_error err;
			sg_http_response_init(&r);
			if (ns_conn_request(c, http, "GET", path, NULL, &r, &err) &&
			    r.status == 200) {
				json_t *j =
				    json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
				snprintf(supname, sizeof(supname), "%s",
				         row_str(json_object_get(j, "result"), "name"));
				json_decref(j);
			}
			sg_http_response_cleanup(&r);
		}
		json_decref(rows);
		if (!row && depth == 0) {
			snprintf(msg, msgsz,
			         "the instance has no table %s (or this account cannot read "
			         "sys_db_object)",
			         table);
			return NULL;
		}
		snprintf(cur, sizeof(cur), "%s", is_ident(supname) ? supname : "");
	}
	char qchain[1200];
	pct(chain, qchain, sizeof(qchain));
	snprintf(path, sizeof(path),
	         "/api/now/table/sys_dictionary?sysparm_query=nameIN%s&sysparm_fields=element,"
	         "internal_type&sysparm_limit=10000",
	         qchain);
	json_t *rows = get_result(c, http, path, nreq, msg, msgsz);
	if (!rows)
		return NULL;
	json_t *d = json_pack("{s:{},s:{}}", "fields", "choices");
	json_t *fields = json_object_get(d, "fields"), *choices = json_object_get(d, "choices");
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *el = row_str(row, "element");
		if (*el)
			json_object_set_new(fields, el, json_string(row_str(row, "internal_type")));
	}
	json_decref(rows);
	snprintf(path, sizeof(path),
	         "/api/now/table/sys_choice?sysparm_query=nameIN%s%%5Einactive%%3Dfalse&sysparm_"
	         "fields=name,element,value&sysparm_limit=10000",
	         qchain);
	rows = get_result(c, http, path, nreq, msg, msgsz);
	json_t *owner = json_object(); /* element -> the table its list comes from */
	if (!rows || !owner) {
		json_decref(rows);
		json_decref(owner);
		json_decref(d);
		return NULL;
	}
	/* a table's own list replaces the one it extends (incident.state over task.state):
	 * the chain lists the table first, so the lowest position wins */
	json_array_foreach(rows, i, row)
	{
		const char *el = row_str(row, "element"), *tn = row_str(row, "name");
		if (!*el)
			continue;
		char needle[140];
		snprintf(needle, sizeof(needle), ",%s,", tn);
		char hay[1100];
		snprintf(hay, sizeof(hay), ",%s,", chain);
		const char *at = strstr(hay, needle);
		long long pos = at ? at - hay : 100000;
		json_t *have = json_object_get(owner, el);
		if (have && json_integer_value(have) < pos)
			continue;
		if (!have || json_integer_value(have) > pos) {
			json_object_set_new(owner, el, json_integer(pos));
			json_object_set_new(choices, el, json_array());
		}
		json_array_append_new(json_object_get(choices, el),
		                      json_string(row_str(row, "value")));
	}
	json_decref(owner);
	json_decref(rows);
	return d;
}

bool ns_dict_get(struct ns_state *s, struct ns_conn *c, struct sg_http_client *http,
                 const char *table, int64_t ttl_s, struct ns_dict *out, int *nreq, char *msg,
                 size_t msgsz)
{
	memset(out, 0, sizeof(*out));
	sg_conn *db = sg_store_conn(s->store);
	if (!db) {
		snprintf(msg, msgsz, "the state database is not available");
		return false;
	}
	int64_t now = sg_time_now();
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"body\" FROM \"ns_dict_cache\" WHERE \"connection\" = ");
	sg_sql_text(&q, c->cfg.name);
	sg_sql_raw(&q, " AND \"tbl\" = ");
	sg_sql_text(&q, table);
	sg_sql_raw(&q, " AND \"fetched_at\" > ");
	sg_sql_int(&q, now - ttl_s);
	char *cached = NULL;
	sg_err e = sg_conn_query_string(db, &q, &cached);
	sg_sql_cleanup(&q);
	json_t *d = NULL;
	if (!e && cached)
		d = json_loads(cached, 0, NULL);
	free(cached);
	if (!d) {
		d = fetch_dict(c, http, table, nreq, msg, msgsz);
		if (!d)
			return false;
		char *text = json_dumps(d, JSON_COMPACT);
		if (text && sg_conn_begin(db, true) == SG_ERR_OK) {
			sg_sql_init(&q);
			sg_sql_raw(&q, "DELETE FROM \"ns_dict_cache\" WHERE \"connection\" = ");
			sg_sql_text(&q, c->cfg.name);
			sg_sql_raw(&q, " AND \"tbl\" = ");
			sg_sql_text(&q, table);
			e = sg_conn_exec(db, &q, NULL, NULL, NULL);
			sg_sql_reset(&q);
			sg_sql_raw(
			    &q, "INSERT INTO \"ns_dict_cache\" (\"connection\", \"tbl\", \"body\", "
			        "\"fetched_at\") VALUES (");
			sg_sql_text(&q, c->cfg.name);
			sg_sql_raw(&q, ", ");
			sg_sql_text(&q, table);
			sg_sql_raw(&q, ", ");
			sg_sql_text(&q, text);
			sg_sql_raw(&q, ", ");
			sg_sql_int(&q, now);
			sg_sql_raw(&q, ")");
			if (!e)
				e = sg_conn_exec(db, &q, NULL, NULL, NULL);
			sg_sql_cleanup(&q);
			if (e)
				sg_conn_rollback(db);
			else
				sg_conn_commit(db);
		}
		free(text);
	}
	out->fields = json_incref(json_object_get(d, "fields"));
	out->choices = json_incref(json_object_get(d, "choices"));
	json_decref(d);
	if (!json_is_object(out->fields) || !json_is_object(out->choices)) {
		ns_dict_clear(out);
		snprintf(msg, msgsz, "the dictionary of %s is unreadable", table);
		return false;
	}
	return true;
}

bool ns_dict_check(const struct ns_dict *d, const json_t *body, json_t *errs)
{
	bool ok = true;
	const char *f;
	json_t *v;
	json_object_foreach((json_t *)body, f, v)
	{
		char line[512];
		if (!json_object_get(d->fields, f)) {
			snprintf(line, sizeof(line), "unknown field %s", f);
			json_array_append_new(errs, json_string(line));
			ok = false;
			continue;
		}
		json_t *list = json_object_get(d->choices, f);
		const char *val = json_string_value(v);
		if (!list || !val || !*val)
			continue;
		bool found = false;
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c) found = found || !strcmp(json_string_value(c), val);
		if (!found) {
			snprintf(line, sizeof(line), "%s: \"%.200s\" is not one of its choices", f,
			         val);
			json_array_append_new(errs, json_string(line));
			ok = false;
		}
	}
	return ok;
}

static bool is_sys_id(const char *s)
{
	if (strlen(s) != 32)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

bool ns_resolve_group(struct ns_conn *c, struct sg_http_client *http, json_t *body, json_t *errs,
                      int *nreq)
{
	const char *g = json_string_value(json_object_get(body, "assignment_group"));
	if (!g || !*g)
		return true;
	char q[600], path[1000], msg[512] = "";
	pct(g, q, sizeof(q));
	if (is_sys_id(g))
		snprintf(path, sizeof(path),
		         "/api/now/table/sys_user_group?sysparm_query=sys_id%%3D%s&sysparm_fields="
		         "sys_id&sysparm_limit=1",
		         q);
	else
		snprintf(path, sizeof(path),
		         "/api/now/table/sys_user_group?sysparm_query=name%%3D%s&sysparm_fields="
		         "sys_id&sysparm_limit=1",
		         q);
	json_t *rows = get_result(c, http, path, nreq, msg, sizeof(msg));
	const char *id = rows ? row_str(json_array_get(rows, 0), "sys_id") : "";
	bool ok = *id != '\0';
	if (ok) {
		json_object_set_new(body, "assignment_group", json_string(id));
	} else {
		char line[800];
		snprintf(line, sizeof(line), "assignment_group: no group \"%.200s\"%s%.300s", g,
		         *msg ? ": " : "", msg);
		json_array_append_new(errs, json_string(line));
	}
	json_decref(rows);
	return ok;
}
