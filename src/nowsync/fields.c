/*
 * fields.c - `nowsync fields` (an incident's "additional fields" from the
 * instance's metadata, with why a list is empty) and the purge behind
 * `nowsync connection remove`.  See fields.h.
 */
#include "nowsync/fields.h"
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "store/sql.h"

/* ---- reading the metadata ---------------------------------------------------------- */

#define FIELDS_PAGE      1000
#define FIELDS_MAX_PAGES 20
#define FIELDS_MAX_DEPTH 8

/* One GET: status and the "result" array (new reference, NULL unless 200 with a list). */
struct read {
	int status;
	json_t *rows;
	char error[200]; /* the instance's error.message, or why no answer came */
};

static bool get(struct ns_conn *c, struct sg_http_client *http, const char *path, struct read *out,
                char *msg, size_t msgsz)
{
	memset(out, 0, sizeof(*out));
	struct sg_http_response r;
	struct ns_error err;
	sg_http_response_init(&r);
	if (!ns_conn_request(c, http, "GET", path, NULL, &r, &err)) {
		snprintf(msg, msgsz, "%s", err.msg);
		sg_http_response_cleanup(&r);
		return false;
	}
	out->status = r.status;
	json_t *j = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
	json_t *res = json_object_get(j, "result");
	if (r.status == 200 && json_is_array(res))
		out->rows = json_incref(res);
	json_t *m = json_object_get(json_object_get(j, "error"), "message");
	snprintf(out->error, sizeof(out->error), "%s",
	         json_is_string(m) ? json_string_value(m) : "");
	json_decref(j);
	sg_http_response_cleanup(&r);
	return true;
}

static const char *row_str(json_t *row, const char *k)
{
	json_t *v = json_object_get(row, k);
	if (json_is_object(v)) /* a reference: {"link":..,"value":..} */
		v = json_object_get(v, "value");
	return json_is_string(v) ? json_string_value(v) : "";
}

static bool is_ident(const char *s)
{
	if (!*s || strlen(s) > 80)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* What one metadata read found; its ACLs when it did not. */
enum outcome { READ_OK, READ_REFUSED, READ_EMPTY, READ_FIELDS_HIDDEN };
static const char *const outcome_names[] = {"ok", "refused", "empty", "fields_hidden"};

struct ctx {
	struct ns_conn *c;
	struct sg_http_client *http;
	json_t *reads;   /* [{table, status, rows, outcome, error}] */
	json_t *missing; /* ACL names, in the guide's order */
	char *msg;
	size_t msgsz;
};

static void add_missing(struct ctx *x, const char *acl)
{
	size_t i;
	json_t *v;
	json_array_foreach(x->missing, i, v) if (!strcmp(json_string_value(v), acl)) return;
	json_array_append_new(x->missing, json_string(acl));
}

/* Records a read of table: outcome from its status and rows (key: a field every visible row
 * has, missing when field ACLs hide it); the ACLs it lacks go to missing. */
static enum outcome record(struct ctx *x, const char *table, const char *what, const struct read *r,
                           const char *key, bool fields_acl)
{
	enum outcome o = READ_OK;
	size_t n = r->rows ? json_array_size(r->rows) : 0;
	if (r->status == 403 || r->status == 401)
		o = READ_REFUSED;
	else if (r->status != 200 || !n)
		o = r->status == 200 ? READ_EMPTY : READ_REFUSED;
	else if (!*row_str(json_array_get(r->rows, 0), key))
		o = READ_FIELDS_HIDDEN;
	json_t *rd = json_pack("{s:s,s:s,s:i,s:I,s:s}", "table", table, "what", what, "status",
	                       r->status, "rows", (json_int_t)n, "outcome", outcome_names[o]);
	if (rd && *r->error)
		json_object_set_new(rd, "error", json_string(r->error));
	json_array_append_new(x->reads, rd);
	char acl[96];
	if (o == READ_REFUSED || o == READ_EMPTY)
		add_missing(x, table);
	if (fields_acl && o != READ_OK) {
		snprintf(acl, sizeof(acl), "%s.*", table);
		add_missing(x, acl);
	}
	return o;
}

/* The table's row in sys_db_object (by name or by sys_id); its name and parent's sys_id. */
static enum outcome read_table(struct ctx *x, const char *name, const char *sys_id, char *got,
                               size_t gotsz, char *label, size_t labelsz, char *parent,
                               size_t parentsz, bool *failed)
{
	char path[512];
	if (sys_id)
		snprintf(
		    path, sizeof(path),
		    "/api/now/table/sys_db_object?sysparm_query=sys_id%%3D%s&sysparm_fields=name,"
		    "label,super_class&sysparm_limit=1&sysparm_exclude_reference_link=true",
		    sys_id);
	else
		snprintf(
		    path, sizeof(path),
		    "/api/now/table/sys_db_object?sysparm_query=name%%3D%s&sysparm_fields=name,"
		    "label,super_class&sysparm_limit=1&sysparm_exclude_reference_link=true",
		    name);
	struct read r;
	if (!get(x->c, x->http, path, &r, x->msg, x->msgsz)) {
		*failed = true;
		return READ_REFUSED;
	}
	char what[128];
	snprintf(what, sizeof(what), "the table %s", sys_id ? sys_id : name);
	enum outcome o = record(x, "sys_db_object", what, &r, "name", true);
	json_t *row = json_array_get(r.rows, 0);
	snprintf(got, gotsz, "%s", o == READ_OK ? row_str(row, "name") : "");
	snprintf(label, labelsz, "%s", o == READ_OK ? row_str(row, "label") : "");
	snprintf(parent, parentsz, "%s", o == READ_OK ? row_str(row, "super_class") : "");
	json_decref(r.rows);
	return o;
}

/* Every row of a paged query (path without offset); NULL when no answer came. */
static bool get_all(struct ctx *x, const char *path, struct read *out)
{
	char p[4096];
	json_t *all = json_array();
	if (!all) {
		snprintf(x->msg, x->msgsz, "out of memory");
		return false;
	}
	for (int page = 0; page < FIELDS_MAX_PAGES; page++) {
		snprintf(p, sizeof(p), "%s&sysparm_limit=%d&sysparm_offset=%d", path, FIELDS_PAGE,
		         page * FIELDS_PAGE);
		struct read r;
		if (!get(x->c, x->http, p, &r, x->msg, x->msgsz)) {
			json_decref(all);
			return false;
		}
		if (!r.rows) {
			*out = r;
			json_decref(all);
			return true;
		}
		size_t n = json_array_size(r.rows);
		json_array_extend(all, r.rows);
		json_decref(r.rows);
		if (n < FIELDS_PAGE)
			break;
	}
	memset(out, 0, sizeof(*out));
	out->status = 200;
	out->rows = all;
	return true;
}

static bool truthy(const char *s)
{
	return !strcmp(s, "true") || !strcmp(s, "1");
}

static json_t *field_of(json_t *row, json_t *types)
{
	const char *type = row_str(row, "internal_type");
	const char *tl = row_str(json_object_get(types, type), "label");
	long long ml = strtoll(row_str(row, "max_length"), NULL, 10);
	const char *el = row_str(row, "element"), *ref = row_str(row, "reference");
	json_t *f =
	    json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:I,s:b}", "element", el, "label",
	              row_str(row, "column_label"), "type", type, "type_label", *tl ? tl : type,
	              "table", row_str(row, "name"), "mandatory", truthy(row_str(row, "mandatory")),
	              "read_only", truthy(row_str(row, "read_only")), "max_length", (json_int_t)ml,
	              "custom", !strncmp(el, "u_", 2));
	if (f && *ref)
		json_object_set_new(f, "reference", json_string(ref));
	if (f && *row_str(row, "default_value"))
		json_object_set_new(f, "default", json_string(row_str(row, "default_value")));
	return f;
}

static bool has_choices(json_t *f, const char *choice)
{
	return !strcmp(json_string_value(json_object_get(f, "type")), "choice") ||
	       (*choice && strcmp(choice, "0"));
}

json_t *ns_fields_read(struct ns_conn *c, struct sg_http_client *http, const char *table, char *msg,
                       size_t msgsz)
{
	if (!is_ident(table)) {
		snprintf(msg, msgsz, "%s is not a table name", table);
		return NULL;
	}
	struct ctx x = {.c = c,
	                .http = http,
	                .reads = json_array(),
	                .missing = json_array(),
	                .msg = msg,
	                .msgsz = msgsz};
	json_t *tables = json_array(), *out = NULL, *types = json_object(), *fields = json_array();
	json_t *byel = json_object(), *choice_of = json_object();
	bool failed = !x.reads || !x.missing || !tables || !types || !fields || !byel || !choice_of;
	if (failed)
		snprintf(msg, msgsz, "out of memory");
	/* 1. the table and the tables it extends (sys_db_object) */
	char name[96], label[128] = "", parent[64] = "", tlabel[128] = "";
	enum outcome o = failed ? READ_REFUSED
	                        : read_table(&x, table, NULL, name, sizeof(name), tlabel,
	                                     sizeof(tlabel), parent, sizeof(parent), &failed);
	json_array_append_new(tables, json_string(table));
	for (int d = 0; !failed && o == READ_OK && *parent && d < FIELDS_MAX_DEPTH; d++) {
		char sid[64];
		snprintf(sid, sizeof(sid), "%s", parent);
		if (!is_ident(sid))
			break;
		o = read_table(&x, NULL, sid, name, sizeof(name), label, sizeof(label), parent,
		               sizeof(parent), &failed);
		if (o == READ_OK && is_ident(name))
			json_array_append_new(tables, json_string(name));
	}
	/* 2. the type names and labels (sys_glide_object) */
	struct read r = {0};
	if (!failed &&
	    (failed = !get_all(&x, "/api/now/table/sys_glide_object?sysparm_fields=name,label",
	                       &r)) == false) {
		if (record(&x, "sys_glide_object", "the field types", &r, "name", false) ==
		    READ_OK) {
			size_t i;
			json_t *row;
			json_array_foreach(r.rows, i, row)
			    json_object_set(types, row_str(row, "name"), row);
		}
		json_decref(r.rows);
	}
	/* 3. the columns of every table in the chain (sys_dictionary): nearest table wins */
	char in[1024] = "";
	size_t i;
	json_t *v;
	json_array_foreach(tables, i, v)
	{
		size_t len = strlen(in);
		snprintf(in + len, sizeof(in) - len, "%s%s", len ? "," : "", json_string_value(v));
	}
	char path[2048];
	snprintf(path, sizeof(path),
	         "/api/now/table/sys_dictionary?sysparm_query=nameIN%s%%5EelementISNOTEMPTY%%"
	         "5EORDERBYelement&sysparm_fields=name,element,column_label,internal_type,max_"
	         "length,mandatory,read_only,reference,choice,default_value,active&sysparm_exclude_"
	         "reference_link=true",
	         in);
	if (!failed && (failed = !get_all(&x, path, &r)) == false) {
		char what[160];
		snprintf(what, sizeof(what), "the columns of %.120s", in);
		if (record(&x, "sys_dictionary", what, &r, "element", true) == READ_OK) {
			json_t *row;
			json_array_foreach(tables, i, v)
			{
				const char *t = json_string_value(v);
				size_t k;
				json_array_foreach(r.rows, k, row)
				{
					const char *el = row_str(row, "element");
					if (strcmp(row_str(row, "name"), t) || !*el ||
					    json_object_get(byel, el))
						continue;
					json_t *f = field_of(row, types);
					if (!f)
						continue;
					json_object_set_new(byel, el, f);
					if (has_choices(f, row_str(row, "choice")))
						json_object_set_new(choice_of, el, json_array());
				}
			}
		}
		json_decref(r.rows);
	}
	/* 4. the values of choice fields (sys_choice): the nearest table's set */
	if (!failed && json_object_size(choice_of)) {
		snprintf(
		    path, sizeof(path),
		    "/api/now/table/sys_choice?sysparm_query=nameIN%s%%5Einactive%%21%%3Dtrue%%"
		    "5EORDERBYsequence&sysparm_fields=name,element,value,label,language",
		    in);
		if ((failed = !get_all(&x, path, &r)) == false) {
			size_t n = r.rows ? json_array_size(r.rows) : 0;
			const char *oc = r.status == 200 ? (n ? "ok" : "empty") : "refused";
			json_t *rd = json_pack("{s:s,s:s,s:i,s:I,s:s}", "table", "sys_choice",
			                       "what", "the values of choice fields", "status",
			                       r.status, "rows", (json_int_t)n, "outcome", oc);
			json_array_append_new(x.reads, rd);
			json_array_foreach(tables, i, v)
			{
				const char *t = json_string_value(v);
				const char *el;
				json_t *list;
				json_object_foreach(choice_of, el, list)
				{
					/* a child's own set replaces its parent's */
					if (json_array_size(list) &&
					    strcmp(json_string_value(json_object_get(
					               json_array_get(list, 0), "table")),
					           t))
						continue;
					size_t k;
					json_t *row;
					json_array_foreach(r.rows, k, row)
					{
						const char *lang = row_str(row, "language");
						if (strcmp(row_str(row, "name"), t) ||
						    strcmp(row_str(row, "element"), el) ||
						    (*lang && strcmp(lang, "en")))
							continue;
						json_array_append_new(
						    list,
						    json_pack("{s:s,s:s,s:s}", "value",
						              row_str(row, "value"), "label",
						              row_str(row, "label"), "table", t));
					}
				}
			}
			json_decref(r.rows);
		}
	}
	if (!failed) {
		const char *el;
		json_t *f;
		json_object_foreach(byel, el, f)
		{
			json_t *list = json_object_get(choice_of, el);
			if (list) {
				size_t k;
				json_t *ch;
				json_array_foreach(list, k, ch) json_object_del(ch, "table");
				json_object_set(f, "choices", list);
			}
			json_array_append(fields, f);
		}
		out = json_pack("{s:s,s:s,s:O,s:O,s:O,s:O}", "table", table, "label", tlabel,
		                "tables", tables, "fields", fields, "reads", x.reads,
		                "missing_acls", x.missing);
		if (!out)
			snprintf(msg, msgsz, "out of memory");
	}
	if (out) { /* the guide's order, whatever order the reads ran in */
		static const char *const order[] = {"sys_db_object", "sys_db_object.*",
		                                    "sys_dictionary", "sys_dictionary.*",
		                                    "sys_glide_object"};
		json_t *sorted = json_array();
		for (size_t k = 0; sorted && k < sizeof(order) / sizeof(order[0]); k++)
			json_array_foreach(x.missing, i,
			                   v) if (!strcmp(json_string_value(v), order[k]))
			    json_array_append(sorted, v);
		if (sorted)
			json_object_set_new(out, "missing_acls", sorted);
		json_decref(x.missing);
		x.missing = json_incref(json_object_get(out, "missing_acls"));
	}
	if (out && json_array_size(x.missing)) {
		char acls[512] = "";
		json_array_foreach(x.missing, i, v)
		{
			size_t len = strlen(acls);
			snprintf(acls + len, sizeof(acls) - len, "%s%s", len ? ", " : "",
			         json_string_value(v));
		}
		char ex[1024];
		snprintf(ex, sizeof(ex),
		         "%s: the instance refused or returned nothing for reads of its metadata "
		         "(ServiceNow answers 403 or an empty list for rows the user cannot read). "
		         "Add read ACLs for this user's role on: %s",
		         json_array_size(fields) ? "the list is incomplete" : "no fields listed",
		         acls);
		json_object_set_new(out, "explanation", json_string(ex));
	}
	json_decref(tables);
	json_decref(types);
	json_decref(fields);
	json_decref(byel);
	json_decref(choice_of);
	json_decref(x.reads);
	json_decref(x.missing);
	return out;
}

/* ---- the command -------------------------------------------------------------------- */

static void print_text(json_t *out, FILE *f)
{
	size_t i;
	json_t *v;
	fprintf(f, "%s", json_string_value(json_object_get(out, "table")));
	json_array_foreach(json_object_get(out, "tables"), i, v) if (i)
	    fprintf(f, " < %s", json_string_value(v));
	fputc('\n', f);
	json_array_foreach(json_object_get(out, "fields"), i, v)
	{
		fprintf(f, "  %-28s %-14s %-30s%s%s",
		        json_string_value(json_object_get(v, "element")),
		        json_string_value(json_object_get(v, "type")),
		        json_string_value(json_object_get(v, "label")),
		        json_is_true(json_object_get(v, "mandatory")) ? " mandatory" : "",
		        json_is_true(json_object_get(v, "custom")) ? " custom" : "");
		long long ml = json_integer_value(json_object_get(v, "max_length"));
		if (ml > 0)
			fprintf(f, " max %lld", ml);
		json_t *ref = json_object_get(v, "reference");
		if (ref)
			fprintf(f, " -> %s", json_string_value(ref));
		json_t *ch = json_object_get(v, "choices");
		size_t k;
		json_t *c;
		json_array_foreach(ch, k, c) fprintf(
		    f, "%s%s=%s", k ? ", " : " [", json_string_value(json_object_get(c, "value")),
		    json_string_value(json_object_get(c, "label")));
		if (json_array_size(ch))
			fputc(']', f);
		fputc('\n', f);
	}
	json_t *ex = json_object_get(out, "explanation");
	if (!ex)
		return;
	fprintf(f, "%s\n", json_string_value(ex));
	json_array_foreach(json_object_get(out, "reads"), i, v)
	{
		const char *o = json_string_value(json_object_get(v, "outcome"));
		if (!strcmp(o, "ok"))
			continue;
		json_t *err = json_object_get(v, "error");
		fprintf(f, "  %s (%s): %s, HTTP %lld%s%s\n",
		        json_string_value(json_object_get(v, "table")),
		        json_string_value(json_object_get(v, "what")),
		        !strcmp(o, "fields_hidden") ? "rows without their fields" : o,
		        json_integer_value(json_object_get(v, "status")), err ? ": " : "",
		        err ? json_string_value(err) : "");
	}
}

int ns_cmd_fields(struct ns_state *st, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"table", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	const char *table = "incident";
	bool as_json = false;
	optind = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 't')
			table = optarg;
		else if (ch == 'j')
			as_json = true;
		else
			return NS_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: nowsync fields CONNECTION [--table T] [--json]\n");
		return NS_EXIT_USAGE;
	}
	const char *name = argv[optind];
	if (!is_ident(table)) {
		fprintf(stderr, "nowsync: %s is not a table name\n", table);
		return NS_EXIT_USAGE;
	}
	struct ns_connection cfg;
	sg_err e = ns_state_get(st, name, &cfg);
	if (e) {
		fprintf(stderr, "nowsync: %s connection %s\n",
		        e == SG_ERR_NO_RECORD ? "no" : "cannot read", name);
		return NS_EXIT_FAILED;
	}
	struct ns_conn *live = ns_conn_new(&cfg, st);
	struct sg_http_client *http = live ? ns_conn_http(live, 3) : NULL;
	char msg[512] = "";
	json_t *out = http ? ns_fields_read(live, http, table, msg, sizeof(msg)) : NULL;
	if (!http) {
		ns_connection_clear(&cfg);
		snprintf(msg, sizeof(msg), "out of memory");
	}
	sg_http_client_free(http);
	ns_conn_free(live);
	if (!out) {
		fprintf(stderr, "nowsync: %s\n", msg);
		return NS_EXIT_FAILED;
	}
	json_object_set_new(out, "connection", json_string(name));
	int rc = json_array_size(json_object_get(out, "missing_acls")) ? NS_EXIT_METADATA : 0;
	if (as_json) {
		char *s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (s)
			printf("%s\n", s);
		free(s);
		rc = s ? rc : NS_EXIT_FAILED;
	} else {
		print_text(out, stdout);
	}
	json_decref(out);
	return rc;
}

/* ---- deleting a connection and everything attached to it ---------------------------- */

const char *const ns_purge_tables[NS_PURGE_TABLES][2] = {
    {"ns_event", "connection"},        /* queued, in-flight, done and dead events */
    {"ns_link", "connection"},         /* the record each key is linked to */
    {"ns_dict_cache", "connection"},   /* the instance's dictionary */
    {"ns_budget", "connection"},       /* requests per hour */
    {"ns_journal", "connection"},      /* trace history */
    {"ns_intake_token", "connection"}, /* intake tokens bound to it */
    {"ns_bs_config", "connection"},    /* back-syncs */
    {"ns_bs_cursor", "connection"},
    {"ns_bs_seen", "connection"},
    {"ns_bs_own", "connection"},
    {"ns_bs_out", "connection"},
    {"ns_rmm_integration", "connection"}, /* the RMM's organizations, devices, drops */
    {"ns_rmm_org", "connection"},
    {"ns_rmm_device", "connection"},
    {"ns_rmm_dropped", "connection"},
    {"ns_connection", "name"}, /* last: its sealed secrets and tokens */
    {NULL, NULL},
};

sg_err ns_state_purge(struct ns_state *s, const char *name, long long *removed)
{
	sg_conn *db = sg_store_conn(s->store);
	if (!db)
		return SG_ERR_STORE;
	sg_err err = sg_conn_begin(db, true);
	long long last = 0;
	for (size_t i = 0; !err && ns_purge_tables[i][0]; i++) {
		struct sg_sql q;
		sg_sql_init(&q);
		sg_sql_raw(&q, "DELETE FROM ");
		sg_sql_ident(&q, ns_purge_tables[i][0]);
		sg_sql_raw(&q, " WHERE ");
		sg_sql_ident(&q, ns_purge_tables[i][1]);
		sg_sql_raw(&q, " = ");
		sg_sql_text(&q, name);
		last = 0;
		err = sg_conn_exec(db, &q, NULL, NULL, &last);
		sg_sql_cleanup(&q);
		if (removed)
			removed[i] = last;
	}
	if (!err && !last)
		err = SG_ERR_NO_RECORD; /* no such connection: nothing else is deleted either */
	if (err) {
		sg_conn_rollback(db);
		return err;
	}
	return sg_conn_commit(db);
}
