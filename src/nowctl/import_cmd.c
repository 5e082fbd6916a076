/*
 * import_cmd.c - nowctl import-metadata: another instance's tables, columns
 * and choices (and roles, when readable), so a team's nowd has its
 * customer's custom fields.
 *
 *   nowctl import-metadata --from URL --user U [--tables a,b] [--save FILE]
 *   nowctl import-metadata --file FILE [--tables a,b]
 *
 * The source is read over its Table API (paged, raw values, no reference
 * links): sys_db_object of the tables and their parents, their
 * sys_dictionary and sys_choice rows, and sys_user_role if the user may read
 * it.  The password comes from NOWCTL_IMPORT_PASSWORD (else
 * NOWCTL_PASSWORD); NOWCTL_IMPORT_TOKEN, when set, is sent as a Bearer
 * token instead.  Without --tables, the source's custom tables (u_, x_).
 *
 * The export is applied through the target's client (offline as the
 * system, online through its Table API as the admin, under its ACLs):
 * missing tables, columns, choices and roles are inserted; a custom (u_,
 * x_) column or a choice whose attributes differ is updated; built-in
 * columns are never changed nor deleted, nothing is ever deleted.  Each
 * row is reported: added, changed or skipped with the reason.  A second
 * import of the same export changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "dict/dict.h"
#include "net/client.h"
#include "nowctl/commands.h"

#define PAGE      1000
#define MAX_ROWS  200000 /* per table read from the source */
#define MAX_DEPTH 16     /* parents followed */

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

struct source {
	struct sg_http_client *http;
	const char *url, *user, *password, *token;
};

/* GET every row of table matching query from the source into arr.  0, or 1
 * (message printed); *forbidden set (and 0 returned) on a 403 when
 * may_forbid. */
static int fetch(struct source *s, const char *table, const char *query, json_t *arr,
                 bool may_forbid, bool *forbidden)
{
	for (long offset = 0; offset < MAX_ROWS; offset += PAGE) {
		struct sg_buf u;
		sg_buf_init(&u, 1024 * 1024);
		sg_buf_printf(&u,
		              "%s/api/now/table/%s?sysparm_exclude_reference_link=true"
		              "&sysparm_display_value=false&sysparm_limit=%d&sysparm_offset=%ld"
		              "&sysparm_query=",
		              s->url, table, PAGE, offset);
		sg_buf_put_urlenc(&u, query);
		sg_buf_printf(&u, "%s", "%5EORDERBYsys_id");
		char auth[1200];
		snprintf(auth, sizeof(auth), "Bearer %s", s->token ? s->token : "");
		struct sg_kv headers[] = {{"Accept", "application/json"}, {"Authorization", auth}};
		struct sg_http_request req = {
		    .method = "GET",
		    .url = sg_buf_str(&u),
		    .headers = headers,
		    .n_headers = s->token ? 2 : 1,
		    .user = s->token ? NULL : s->user,
		    .password = s->token ? NULL : s->password,
		};
		struct sg_http_response resp;
		sg_http_response_init(&resp);
		sg_http_client_do(s->http, &req, &resp);
		sg_buf_cleanup(&u);
		if (resp.err) {
			fprintf(stderr, "nowctl: cannot reach %s: %s\n", s->url, resp.errmsg);
			sg_http_response_cleanup(&resp);
			return 1;
		}
		if (resp.status == 403 && may_forbid) {
			*forbidden = true;
			sg_http_response_cleanup(&resp);
			return 0;
		}
		json_t *j = json_loads(sg_buf_str(&resp.body), 0, NULL);
		json_t *rows = json_object_get(j, "result");
		if (resp.status != 200 || !json_is_array(rows)) {
			json_t *e = json_object_get(j, "error");
			fprintf(stderr, "nowctl: %s answered HTTP %d for %s: %s%s%s\n", s->url,
			        resp.status, table, str(e, "message"),
			        *str(e, "detail") ? ": " : "", str(e, "detail"));
			json_decref(j);
			sg_http_response_cleanup(&resp);
			return 1;
		}
		size_t n = json_array_size(rows);
		json_array_extend(arr, rows);
		json_decref(j);
		sg_http_response_cleanup(&resp);
		if (n < PAGE)
			return 0;
	}
	fprintf(stderr, "nowctl: more than %d rows of %s: refused\n", MAX_ROWS, table);
	return 1;
}

static bool in_list(json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v) if (!strcmp(json_string_value(v), name)) return true;
	return false;
}

/* "a,b,c" of names */
static char *joined(json_t *names)
{
	struct sg_buf b;
	sg_buf_init(&b, 1024 * 1024);
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v)
	    sg_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(v));
	char *out = strdup(sg_buf_str(&b));
	sg_buf_cleanup(&b);
	return out;
}

static bool ident(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n > 0 && n <= 80;
}

static int export_from(struct source *s, const char *tables, json_t **out)
{
	json_t *ex = json_pack("{s:s, s:[], s:[], s:[], s:[], s:[]}", "source", s->url, "tables",
	                       "sys_db_object", "sys_dictionary", "sys_choice", "sys_user_role");
	if (!ex)
		return 1;
	json_t *objs = json_object_get(ex, "sys_db_object"), *names = json_object_get(ex, "tables");
	int rc = 0;
	if (tables) {
		char *copy = strdup(tables), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t && !rc;
		     t = strtok_r(NULL, ",", &save)) {
			if (!ident(t)) {
				fprintf(stderr, "nowctl: not a table name: %s\n", t);
				rc = 2;
			} else if (!in_list(names, t))
				json_array_append_new(names, json_string(t));
		}
		free(copy);
		if (!rc) {
			char *q = joined(names), *query = NULL;
			if (asprintf(&query, "nameIN%s", q) < 0)
				query = NULL;
			rc = query ? fetch(s, "sys_db_object", query, objs, false, NULL) : 1;
			free(q);
			free(query);
		}
	} else {
		rc = fetch(s, "sys_db_object", "nameSTARTSWITHu_^ORnameSTARTSWITHx_", objs, false,
		           NULL);
	}
	/* the parents, up the chain */
	for (int depth = 0; !rc && depth < MAX_DEPTH; depth++) {
		json_t *missing = json_array();
		size_t i;
		json_t *o;
		json_array_foreach(objs, i, o)
		{
			const char *sup = str(o, "super_class");
			bool have = false;
			size_t k;
			json_t *p;
			json_array_foreach(objs, k, p) if (!strcmp(str(p, "sys_id"), sup)) have =
			    true;
			if (*sup && !have && !in_list(missing, sup))
				json_array_append_new(missing, json_string(sup));
		}
		if (!json_array_size(missing)) {
			json_decref(missing);
			break;
		}
		char *q = joined(missing), *query = NULL;
		json_decref(missing);
		if (asprintf(&query, "sys_idIN%s", q) < 0)
			query = NULL;
		free(q);
		size_t before = json_array_size(objs);
		rc = query ? fetch(s, "sys_db_object", query, objs, false, NULL) : 1;
		free(query);
		if (!rc && json_array_size(objs) == before)
			break; /* a parent the user may not read */
	}
	json_array_clear(names);
	size_t i;
	json_t *o;
	json_array_foreach(objs, i, o) json_array_append_new(names, json_string(str(o, "name")));
	if (!rc && json_array_size(names)) {
		char *q = joined(names), *query = NULL;
		if (asprintf(&query, "nameIN%s", q) < 0)
			query = NULL;
		free(q);
		rc = query ? fetch(s, "sys_dictionary", query,
		                   json_object_get(ex, "sys_dictionary"), false, NULL)
		           : 1;
		if (!rc)
			rc = fetch(s, "sys_choice", query, json_object_get(ex, "sys_choice"), false,
			           NULL);
		free(query);
		bool forbidden = false;
		if (!rc)
			rc = fetch(s, "sys_user_role", "", json_object_get(ex, "sys_user_role"),
			           true, &forbidden);
		if (!rc && forbidden)
			json_object_set_new(ex, "sys_user_role_skipped",
			                    json_string("not readable"));
	}
	if (rc) {
		json_decref(ex);
		return rc;
	}
	*out = ex;
	return 0;
}

/* ---- applying ----------------------------------------------------------- */

struct report {
	json_t *rows; /* [{"action","table","key","reason"}] */
	size_t added, changed, skipped;
};

static void note(struct report *r, const char *action, const char *table, const char *key,
                 const char *reason)
{
	json_array_append_new(r->rows,
	                      json_pack("{s:s, s:s, s:s, s:s}", "action", action, "table", table,
	                                "key", key, "reason", reason ? reason : ""));
	if (!strcmp(action, "added"))
		r->added++;
	else if (!strcmp(action, "changed"))
		r->changed++;
	else
		r->skipped++;
}

static json_t *local_rows(struct cmd_env *e, const char *table, const char *query)
{
	json_t *rows = NULL;
	if (e->c->list(e->c, table, query, 0, &rows)) {
		fprintf(stderr, "nowctl: %s\n", e->c->errmsg);
		return NULL;
	}
	return rows;
}

static json_t *find(json_t *rows, const char *k1, const char *v1, const char *k2, const char *v2,
                    const char *k3, const char *v3)
{
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r) if (!strcmp(str(r, k1), v1) &&
	                                   (!k2 || !strcmp(str(r, k2), v2)) &&
	                                   (!k3 || !strcmp(str(r, k3), v3))) return r;
	return NULL;
}

static bool custom(const char *element)
{
	return !strncmp(element, "u_", 2) || !strncmp(element, "x_", 2);
}

/* The attributes of a column nowd keeps, as the source has them. */
static const char *const column_attrs[] = {
    "column_label", "max_length", "mandatory", "default_value", "read_only", "display", "choice"};

static int apply_tables(struct cmd_env *e, json_t *ex, struct report *rep)
{
	json_t *objs = json_object_get(ex, "sys_db_object");
	/* parents before children: repeat until nothing more can be placed */
	json_t *done = json_array();
	for (size_t pass = 0; pass <= json_array_size(objs); pass++) {
		size_t i;
		json_t *o;
		bool progress = false;
		json_array_foreach(objs, i, o)
		{
			const char *name = str(o, "name");
			if (in_list(done, name))
				continue;
			const char *sup = str(o, "super_class");
			json_t *parent =
			    *sup ? find(objs, "sys_id", sup, NULL, NULL, NULL, NULL) : NULL;
			if (parent && !in_list(done, str(parent, "name")))
				continue;
			json_array_append_new(done, json_string(name));
			progress = true;
			char q[128];
			snprintf(q, sizeof(q), "name=%s", name);
			json_t *have = local_rows(e, "sys_db_object", q);
			if (!have) {
				json_decref(done);
				return 1;
			}
			if (json_array_size(have)) {
				note(rep, "skipped", "sys_db_object", name, "the table exists");
				json_decref(have);
				continue;
			}
			json_decref(have);
			if (!ident(name)) {
				note(rep, "skipped", "sys_db_object", name,
				     "not a table name nowd accepts");
				continue;
			}
			const char *local_sup = "";
			json_t *ps = NULL;
			if (parent) {
				snprintf(q, sizeof(q), "name=%s", str(parent, "name"));
				ps = local_rows(e, "sys_db_object", q);
				local_sup = str(json_array_get(ps, 0), "sys_id");
			} else if (*sup) {
				note(rep, "skipped", "sys_db_object", name,
				     "its parent table could not be read from the source");
				continue;
			}
			json_t *in =
			    json_pack("{s:s, s:s, s:s, s:s}", "name", name, "label",
			              *str(o, "label") ? str(o, "label") : name, "super_class",
			              local_sup, "is_extendable",
			              *str(o, "is_extendable") ? str(o, "is_extendable") : "false");
			json_decref(ps);
			json_t *out = NULL;
			if (!in || e->c->insert(e->c, "sys_db_object", in, &out)) {
				note(rep, "skipped", "sys_db_object", name, e->c->errmsg);
			} else
				note(rep, "added", "sys_db_object", name, "");
			json_decref(in);
			json_decref(out);
		}
		if (!progress)
			break;
	}
	size_t i;
	json_t *o;
	json_array_foreach(objs, i, o) if (!in_list(done, str(o, "name")))
	    note(rep, "skipped", "sys_db_object", str(o, "name"), "its parent chain is broken");
	json_decref(done);
	return 0;
}

static int apply_columns(struct cmd_env *e, json_t *ex, const char *names, struct report *rep)
{
	char *q = NULL;
	if (asprintf(&q, "nameIN%s", names) < 0)
		return 1;
	json_t *have = local_rows(e, "sys_dictionary", q);
	json_t *tables = local_rows(e, "sys_db_object", "");
	free(q);
	if (!have || !tables) {
		json_decref(have);
		json_decref(tables);
		return 1;
	}
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(ex, "sys_dictionary"), i, d)
	{
		const char *t = str(d, "name"), *el = str(d, "element");
		char key[200];
		snprintf(key, sizeof(key), "%s.%s", t, el);
		if (!*el)
			continue; /* the collection row: the table itself */
		if (!find(tables, "name", t, NULL, NULL, NULL, NULL)) {
			note(rep, "skipped", "sys_dictionary", key,
			     "its table is not in this instance");
			continue;
		}
		if (!ident(el)) {
			note(rep, "skipped", "sys_dictionary", key,
			     "not a column name nowd accepts");
			continue;
		}
		const char *type = str(d, "internal_type");
		const char *ref = str(d, "reference");
		char reason[256] = "";
		if (!*type)
			type = "string";
		if (!strcmp(type, "collection")) {
			note(rep, "skipped", "sys_dictionary", key,
			     "a collection is a table, not a column");
			continue;
		}
		if (sg_ftype_from_name(type) == SG_FT_STRING && strcmp(type, "string"))
			snprintf(reason, sizeof(reason), "type %s is stored as a string", type);
		if (!strcmp(type, "reference") &&
		    (!*ref || !find(tables, "name", ref, NULL, NULL, NULL, NULL))) {
			snprintf(
			    reason, sizeof(reason),
			    "reference to %s, a table not in this instance: stored as a string",
			    *ref ? ref : "(none)");
			type = "string";
			ref = "";
		}
		json_t *cur = find(have, "name", t, "element", el, NULL, NULL);
		if (cur) {
			if (!custom(el)) {
				note(rep, "skipped", "sys_dictionary", key,
				     "a built-in column: kept as it is");
				continue;
			}
			if (strcmp(str(cur, "internal_type"), type)) {
				snprintf(reason, sizeof(reason),
				         "its type here is %s, not %s: kept",
				         str(cur, "internal_type"), type);
				note(rep, "skipped", "sys_dictionary", key, reason);
				continue;
			}
			json_t *in = json_object();
			for (size_t k = 0; k < sizeof(column_attrs) / sizeof(column_attrs[0]); k++)
				if (json_object_get(d, column_attrs[k]) &&
				    strcmp(str(cur, column_attrs[k]), str(d, column_attrs[k])))
					json_object_set_new(in, column_attrs[k],
					                    json_string(str(d, column_attrs[k])));
			if (!json_object_size(in))
				note(rep, "skipped", "sys_dictionary", key, "unchanged");
			else if (e->c->update(e->c, "sys_dictionary", str(cur, "sys_id"), in, NULL))
				note(rep, "skipped", "sys_dictionary", key, e->c->errmsg);
			else
				note(rep, "changed", "sys_dictionary", key, reason);
			json_decref(in);
			continue;
		}
		json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "name", t, "element", el,
		                       "internal_type", type, "column_label",
		                       *str(d, "column_label") ? str(d, "column_label") : el);
		for (size_t k = 1; in && k < sizeof(column_attrs) / sizeof(column_attrs[0]); k++)
			if (*str(d, column_attrs[k]))
				json_object_set_new(in, column_attrs[k],
				                    json_string(str(d, column_attrs[k])));
		if (in && *ref)
			json_object_set_new(in, "reference", json_string(ref));
		json_t *out = NULL;
		if (!in || e->c->insert(e->c, "sys_dictionary", in, &out))
			note(rep, "skipped", "sys_dictionary", key, e->c->errmsg);
		else
			note(rep, "added", "sys_dictionary", key, reason);
		json_decref(in);
		json_decref(out);
	}
	json_decref(have);
	json_decref(tables);
	return 0;
}

static int apply_choices(struct cmd_env *e, json_t *ex, const char *names, struct report *rep)
{
	char *q = NULL;
	if (asprintf(&q, "nameIN%s", names) < 0)
		return 1;
	json_t *have = local_rows(e, "sys_choice", q);
	json_t *cols = local_rows(e, "sys_dictionary", q);
	free(q);
	if (!have || !cols) {
		json_decref(have);
		json_decref(cols);
		return 1;
	}
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(ex, "sys_choice"), i, c)
	{
		const char *t = str(c, "name"), *el = str(c, "element"), *v = str(c, "value");
		const char *lang = *str(c, "language") ? str(c, "language") : "en";
		char key[300];
		snprintf(key, sizeof(key), "%s.%s=%s", t, el, v);
		if (strcmp(lang, "en")) {
			note(rep, "skipped", "sys_choice", key, "a translation (only en is kept)");
			continue;
		}
		if (!find(cols, "name", t, "element", el, NULL, NULL)) {
			note(rep, "skipped", "sys_choice", key,
			     "its column is not in this instance");
			continue;
		}
		json_t *cur = find(have, "name", t, "element", el, "value", v);
		if (cur) {
			json_t *in = json_object();
			static const char *const attrs[] = {"label", "sequence", "inactive",
			                                    "dependent_value"};
			for (size_t k = 0; k < 4; k++)
				if (json_object_get(c, attrs[k]) &&
				    strcmp(str(cur, attrs[k]), str(c, attrs[k])))
					json_object_set_new(in, attrs[k],
					                    json_string(str(c, attrs[k])));
			if (!json_object_size(in))
				note(rep, "skipped", "sys_choice", key, "unchanged");
			else if (e->c->update(e->c, "sys_choice", str(cur, "sys_id"), in, NULL))
				note(rep, "skipped", "sys_choice", key, e->c->errmsg);
			else
				note(rep, "changed", "sys_choice", key, "");
			json_decref(in);
			continue;
		}
		json_t *in = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", t, "element", el,
		                       "value", v, "label", *str(c, "label") ? str(c, "label") : v,
		                       "sequence", str(c, "sequence"), "language", "en");
		if (in && *str(c, "inactive"))
			json_object_set_new(in, "inactive", json_string(str(c, "inactive")));
		if (in && *str(c, "dependent_value"))
			json_object_set_new(in, "dependent_value",
			                    json_string(str(c, "dependent_value")));
		json_t *out = NULL;
		if (!in || e->c->insert(e->c, "sys_choice", in, &out))
			note(rep, "skipped", "sys_choice", key, e->c->errmsg);
		else
			note(rep, "added", "sys_choice", key, "");
		json_decref(in);
		json_decref(out);
	}
	json_decref(have);
	json_decref(cols);
	return 0;
}

static int apply_roles(struct cmd_env *e, json_t *ex, struct report *rep)
{
	json_t *roles = json_object_get(ex, "sys_user_role");
	if (!json_array_size(roles))
		return 0;
	json_t *have = local_rows(e, "sys_user_role", "");
	if (!have)
		return 1;
	size_t i;
	json_t *r;
	json_array_foreach(roles, i, r)
	{
		const char *name = str(r, "name");
		if (!*name)
			continue;
		if (find(have, "name", name, NULL, NULL, NULL, NULL))
			continue; /* roles present are not reported one by one */
		json_t *in =
		    json_pack("{s:s, s:s}", "name", name, "description", str(r, "description"));
		json_t *out = NULL;
		if (!in || e->c->insert(e->c, "sys_user_role", in, &out))
			note(rep, "skipped", "sys_user_role", name, e->c->errmsg);
		else
			note(rep, "added", "sys_user_role", name, "");
		json_decref(in);
		json_decref(out);
	}
	json_decref(have);
	return 0;
}

static int apply(struct cmd_env *e, json_t *ex)
{
	json_t *objs = json_object_get(ex, "sys_db_object");
	if (!json_is_array(objs) || !json_is_array(json_object_get(ex, "sys_dictionary")) ||
	    !json_is_array(json_object_get(ex, "sys_choice"))) {
		fputs("nowctl: not an export of nowctl import-metadata (sys_db_object, "
		      "sys_dictionary and sys_choice arrays)\n",
		      stderr);
		return 1;
	}
	json_t *names = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(objs, i, o) if (ident(str(o, "name")))
	    json_array_append_new(names, json_string(str(o, "name")));
	char *list = joined(names);
	json_decref(names);
	struct report rep = {.rows = json_array()};
	int rc = !list || !rep.rows;
	if (!rc)
		rc = apply_tables(e, ex, &rep);
	if (!rc)
		rc = apply_columns(e, ex, list, &rep);
	if (!rc)
		rc = apply_choices(e, ex, list, &rep);
	if (!rc)
		rc = apply_roles(e, ex, &rep);
	free(list);
	if (!rc) {
		if (e->json) {
			json_t *out =
			    json_pack("{s:I, s:I, s:I, s:O}", "added", (json_int_t)rep.added,
			              "changed", (json_int_t)rep.changed, "skipped",
			              (json_int_t)rep.skipped, "rows", rep.rows);
			char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
			if (s)
				puts(s);
			free(s);
			json_decref(out);
		} else {
			json_array_foreach(rep.rows, i,
			                   o) if (strcmp(str(o, "reason"), "unchanged"))
			    printf("%-8s %-15s %s%s%s\n", str(o, "action"), str(o, "table"),
			           str(o, "key"), *str(o, "reason") ? ": " : "", str(o, "reason"));
			printf("%zu added, %zu changed, %zu skipped\n", rep.added, rep.changed,
			       rep.skipped);
		}
	}
	json_decref(rep.rows);
	return rc;
}

int cmd_import_metadata(struct cmd_env *e, int argc, char **argv)
{
	const char *from = NULL, *user = NULL, *file = NULL, *save = NULL, *tables = NULL;
	for (int i = 0; i < argc; i++) {
		const char **to = !strcmp(argv[i], "--from")     ? &from
		                  : !strcmp(argv[i], "--user")   ? &user
		                  : !strcmp(argv[i], "--file")   ? &file
		                  : !strcmp(argv[i], "--save")   ? &save
		                  : !strcmp(argv[i], "--tables") ? &tables
		                                                 : NULL;
		if (!to || i + 1 >= argc)
			goto usage;
		*to = argv[++i];
	}
	if (!from == !file || (from && !user && !getenv("NOWCTL_IMPORT_TOKEN")) || (file && save))
		goto usage;
	json_t *ex = NULL;
	if (file) {
		json_error_t jerr;
		ex = json_load_file(file, 0, &jerr);
		if (!ex) {
			fprintf(stderr, "nowctl: %s: %s (line %d)\n", file, jerr.text, jerr.line);
			return 1;
		}
	} else {
		const char *password = getenv("NOWCTL_IMPORT_PASSWORD");
		if (!password || !*password)
			password = getenv("NOWCTL_PASSWORD");
		struct sg_http_options opt;
		sg_http_options_init(&opt);
		opt.timeout_ms = 60000;
		opt.max_body = 256 * 1024 * 1024;
		struct source s = {.http = sg_http_client_new(&opt),
		                   .url = from,
		                   .user = user,
		                   .password = password ? password : "",
		                   .token = getenv("NOWCTL_IMPORT_TOKEN")};
		if (s.token && !*s.token)
			s.token = NULL;
		if (!s.http) {
			fputs("nowctl: out of memory\n", stderr);
			return 1;
		}
		char url[2048];
		snprintf(url, sizeof(url), "%s", from);
		size_t n = strlen(url);
		while (n && url[n - 1] == '/')
			url[--n] = '\0';
		s.url = url;
		int rc = export_from(&s, tables, &ex);
		sg_http_client_free(s.http);
		if (rc)
			return rc;
		if (save && json_dump_file(ex, save, JSON_INDENT(1) | JSON_SORT_KEYS)) {
			fprintf(stderr, "nowctl: cannot write %s\n", save);
			json_decref(ex);
			return 1;
		}
	}
	int rc = apply(e, ex);
	json_decref(ex);
	return rc;
usage:
	fputs("usage: nowctl import-metadata (--from URL --user U | --file FILE) [--tables T,...] "
	      "[--save FILE]\n"
	      "  the source's password from NOWCTL_IMPORT_PASSWORD (else NOWCTL_PASSWORD), or a\n"
	      "  Bearer token from NOWCTL_IMPORT_TOKEN\n",
	      stderr);
	return 2;
}
