/*
 * query.c - encoded query parser and SQL compiler.
 */
#include "query/query.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

static const struct {
	const char *text;
	enum sg_qop op;
} operators[] = {
	/* Longest first where one is a prefix of another. */
	{"NOT LIKE", SG_Q_NOT_LIKE}, {"NOT IN", SG_Q_NOT_IN},	  {"ISNOTEMPTY", SG_Q_ISNOTEMPTY},
	{"ISEMPTY", SG_Q_ISEMPTY},   {"EMPTYSTRING", SG_Q_EMPTYSTRING}, {"ANYTHING", SG_Q_ANYTHING},
	{"STARTSWITH", SG_Q_STARTSWITH}, {"ENDSWITH", SG_Q_ENDSWITH}, {"INSTANCEOF", SG_Q_INSTANCEOF},
	{"BETWEEN", SG_Q_BETWEEN},   {"NSAMEAS", SG_Q_NSAMEAS},	  {"SAMEAS", SG_Q_SAMEAS},
	{"LIKE", SG_Q_LIKE},	     {"IN", SG_Q_IN},		  {"!=", SG_Q_NE},
	{"<=", SG_Q_LE},	     {">=", SG_Q_GE},		  {"=", SG_Q_EQ},
	{"<", SG_Q_LT},		     {">", SG_Q_GT},
};

void sg_query_init(struct sg_query *q)
{
	memset(q, 0, sizeof(*q));
	sg_arena_init(&q->arena, 0);
}

void sg_query_cleanup(struct sg_query *q)
{
	sg_arena_cleanup(&q->arena);
	memset(q, 0, sizeof(*q));
}

bool sg_query_is_empty(const struct sg_query *q)
{
	return q->ngroups == 0 && q->norder == 0;
}

/* Grows an arena array of elem-sized items to hold one more. */
static void *grow(struct sg_arena *a, void *arr, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	size_t nc = *cap ? *cap * 2 : 4;
	void *p = sg_arena_alloc(a, nc * elem);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, arr, n * elem);
	*cap = nc;
	return p;
}

static struct sg_qgroup *new_group(struct sg_query *q)
{
	void *g = grow(&q->arena, q->groups, q->ngroups, &q->gcap, sizeof(*q->groups));
	if (!g)
		return NULL;
	q->groups = g;
	struct sg_qgroup *grp = &q->groups[q->ngroups++];
	memset(grp, 0, sizeof(*grp));
	return grp;
}

static struct sg_qclause *new_clause(struct sg_query *q, struct sg_qgroup *g)
{
	void *c = grow(&q->arena, g->clauses, g->n, &g->cap, sizeof(*g->clauses));
	if (!c)
		return NULL;
	g->clauses = c;
	struct sg_qclause *cl = &g->clauses[g->n++];
	memset(cl, 0, sizeof(*cl));
	return cl;
}

static struct sg_qcond *new_cond(struct sg_query *q, struct sg_qclause *cl)
{
	void *c = grow(&q->arena, cl->conds, cl->n, &cl->cap, sizeof(*cl->conds));
	if (!c)
		return NULL;
	cl->conds = c;
	struct sg_qcond *cond = &cl->conds[cl->n++];
	memset(cond, 0, sizeof(*cond));
	return cond;
}

static bool is_field_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Parses "<field><OP><value>" into cond. */
static bool parse_cond(struct sg_query *q, const char *term, struct sg_qcond *cond)
{
	size_t n = 0;
	while (is_field_char(term[n]))
		n++;
	cond->field = sg_arena_strndup(&q->arena, term, n);
	cond->op = SG_Q_UNKNOWN;
	const char *rest = term + n;
	for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++) {
		size_t len = strlen(operators[i].text);
		if (strncmp(rest, operators[i].text, len) == 0) {
			cond->op = operators[i].op;
			rest += len;
			break;
		}
	}
	if (n == 0)
		cond->op = SG_Q_UNKNOWN;
	cond->value = sg_arena_strdup(&q->arena, rest);
	return cond->field && cond->value;
}

static bool add_order(struct sg_query *q, const char *field, bool desc)
{
	void *o = grow(&q->arena, q->order, q->norder, &q->ocap, sizeof(*q->order));
	if (!o)
		return false;
	q->order = o;
	q->order[q->norder].field = sg_arena_strdup(&q->arena, field);
	q->order[q->norder].desc = desc;
	return q->order[q->norder++].field != NULL;
}

static bool add_term(struct sg_query *q, struct sg_qgroup **group, const char *term)
{
	if (!*term || strcmp(term, "EQ") == 0)
		return true;
	if (strncmp(term, "ORDERBYDESC", 11) == 0)
		return add_order(q, term + 11, true);
	if (strncmp(term, "ORDERBY", 7) == 0)
		return add_order(q, term + 7, false);
	if (strncmp(term, "GROUPBY", 7) == 0)
		return true; /* grouping is the Aggregate API's business */
	if (strncmp(term, "NQ", 2) == 0) {
		*group = new_group(q);
		if (!*group)
			return false;
		term += 2;
		if (!*term)
			return true;
	}
	if (!*group) {
		*group = q->ngroups ? &q->groups[q->ngroups - 1] : new_group(q);
		if (!*group)
			return false;
	}
	struct sg_qclause *cl;
	if (strncmp(term, "OR", 2) == 0 && (*group)->n > 0) {
		cl = &(*group)->clauses[(*group)->n - 1];
		term += 2;
	} else {
		cl = new_clause(q, *group);
	}
	if (!cl)
		return false;
	struct sg_qcond *cond = new_cond(q, cl);
	return cond && parse_cond(q, term, cond);
}

bool sg_query_parse(struct sg_query *q, const char *encoded)
{
	if (!encoded)
		return true;
	size_t len = strlen(encoded);
	char *term = sg_arena_alloc(&q->arena, len + 1);
	if (!term)
		return false;
	struct sg_qgroup *group = NULL;
	size_t t = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = encoded[i];
		if (c == '^' && encoded[i + 1] == '^') { /* an escaped caret */
			term[t++] = '^';
			i++;
			continue;
		}
		if (c == '^' || c == '\0') {
			term[t] = '\0';
			if (!add_term(q, &group, term))
				return false;
			t = 0;
			continue;
		}
		term[t++] = c;
	}
	return true;
}

bool sg_query_add_eq(struct sg_query *q, const char *field, const char *value)
{
	if (q->ngroups == 0 && !new_group(q))
		return false;
	for (size_t g = 0; g < q->ngroups; g++) {
		struct sg_qclause *cl = new_clause(q, &q->groups[g]);
		struct sg_qcond *cond = cl ? new_cond(q, cl) : NULL;
		if (!cond)
			return false;
		cond->field = sg_arena_strdup(&q->arena, field);
		cond->value = sg_arena_strdup(&q->arena, value);
		cond->op = SG_Q_EQ;
		if (!cond->field || !cond->value)
			return false;
	}
	return true;
}

/* ---- compiling --------------------------------------------------------- */

struct compiler {
	struct sg_ctx *ctx;
	struct sg_sql *out;
	bool invalid_none;
	bool *had_invalid;
	int depth;
};

/* Normalises a value written in a query to the stored form of field f. */
static const char *norm_value(struct compiler *c, const struct sg_table *t,
			      const struct sg_field *f, const char *v)
{
	if (f->type == SG_FT_BOOLEAN) {
		if (!strcasecmp(v, "true") || !strcmp(v, "1"))
			return "true";
		if (!strcasecmp(v, "false") || !strcmp(v, "0"))
			return "false";
		return v;
	}
	size_t n;
	const struct sg_choice *ch = sg_dict_choices(c->ctx->dict, t, f->element, &n);
	if (ch) {
		for (size_t i = 0; i < n; i++)
			if (strcmp(ch[i].value, v) == 0)
				return v;
		/* Name=value filters accept a choice's label (state=Closed). */
		for (size_t i = 0; i < n; i++)
			if (strcasecmp(ch[i].label, v) == 0)
				return ch[i].value;
	}
	return v;
}

void sg_query_class_filter(struct sg_sql *out, const struct sg_table *t, const char *alias)
{
	if (!t->hierarchy || t == t->root)
		return;
	sg_sql_raw(out, " AND ");
	sg_sql_qual(out, alias, "sys_class_name");
	sg_sql_raw(out, " IN (");
	for (size_t i = 0; i < t->nclasses; i++) {
		if (i)
			sg_sql_raw(out, ",");
		sg_sql_text(out, t->classes[i]);
	}
	sg_sql_raw(out, ")");
}

static void like_value(struct sg_sql *out, const char *v, bool pre, bool post)
{
	struct sg_buf b;
	sg_buf_init(&b, strlen(v) * 2 + 3);
	if (pre)
		sg_buf_putc(&b, '%');
	for (const char *p = v; *p; p++) {
		if (*p == '%' || *p == '_' || *p == '\\')
			sg_buf_putc(&b, '\\');
		sg_buf_putc(&b, *p);
	}
	if (post)
		sg_buf_putc(&b, '%');
	sg_sql_text(out, sg_buf_str(&b));
	if (sg_buf_failed(&b))
		out->failed = true;
	sg_buf_cleanup(&b);
	sg_sql_raw(out, " ESCAPE '\\'");
}

static void value_list(struct compiler *c, const struct sg_table *t, const struct sg_field *f,
		       const char *v)
{
	sg_sql_raw(c->out, "(");
	const char *p = v;
	bool first = true;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char item[512];
		snprintf(item, sizeof(item), "%.*s", (int)(n < sizeof(item) ? n : sizeof(item) - 1),
			 p);
		if (!first)
			sg_sql_raw(c->out, ",");
		sg_sql_text(c->out, norm_value(c, t, f, item));
		first = false;
		if (!comma)
			break;
		p = comma + 1;
	}
	sg_sql_raw(c->out, ")");
}

static bool compile_cond(struct compiler *c, const struct sg_table *t, const char *alias,
			 const char *path, const struct sg_qcond *cond);

/* a.b.c on t: a IN (SELECT sys_id FROM <a's table> WHERE <b.c ...>) */
static bool compile_walk(struct compiler *c, const struct sg_table *t, const char *alias,
			 const char *path, const struct sg_qcond *cond)
{
	const char *dot = strchr(path, '.');
	char head[128];
	snprintf(head, sizeof(head), "%.*s", (int)(dot - path), path);
	const struct sg_field *f = sg_table_field(t, head);
	if (!f || f->type != SG_FT_REFERENCE || c->depth > 8)
		return false;
	const struct sg_table *rt = sg_dict_table(c->ctx->dict, f->reference);
	if (!rt)
		return false;
	char sub[16];
	snprintf(sub, sizeof(sub), "w%d", ++c->depth);
	sg_sql_qual(c->out, alias, f->element);
	sg_sql_raw(c->out, " IN (SELECT ");
	sg_sql_qual(c->out, sub, "sys_id");
	sg_sql_raw(c->out, " FROM ");
	sg_sql_ident(c->out, rt->root->name);
	sg_sql_raw(c->out, " ");
	sg_sql_ident(c->out, sub);
	sg_sql_raw(c->out, " WHERE ");
	bool ok = compile_cond(c, rt, sub, dot + 1, cond);
	sg_query_class_filter(c->out, rt, sub);
	sg_sql_raw(c->out, ")");
	c->depth--;
	return ok;
}

static void column(struct compiler *c, const char *alias, const struct sg_field *f)
{
	sg_sql_qual(c->out, alias, f->element);
}

static void is_empty(struct compiler *c, const char *alias, const struct sg_field *f)
{
	sg_sql_raw(c->out, "(");
	column(c, alias, f);
	sg_sql_raw(c->out, " IS NULL OR ");
	column(c, alias, f);
	sg_sql_raw(c->out, " = '')");
}

/* "col OP ?" with NULLs included when the operator is a negation. */
static void compare(struct compiler *c, const char *alias, const struct sg_field *f,
		    const char *sqlop, const char *value, bool or_null)
{
	sg_sql_raw(c->out, "(");
	if (or_null) {
		column(c, alias, f);
		sg_sql_raw(c->out, " IS NULL OR ");
	}
	column(c, alias, f);
	sg_sql_raw(c->out, sqlop);
	sg_sql_text(c->out, value);
	sg_sql_raw(c->out, ")");
}

/* A reference compared by equality also matches the referenced record's
 * display value, as ServiceNow's name=value filters do (assigned_to=Beth). */
static void ref_equals(struct compiler *c, const char *alias, const struct sg_field *f,
		       const char *v)
{
	const struct sg_table *rt = sg_dict_table(c->ctx->dict, f->reference);
	if (sg_id_is_valid(v) || !rt || !rt->display) {
		compare(c, alias, f, " = ", v, false);
		return;
	}
	sg_sql_raw(c->out, "(");
	column(c, alias, f);
	sg_sql_raw(c->out, " = ");
	sg_sql_text(c->out, v);
	sg_sql_raw(c->out, " OR ");
	column(c, alias, f);
	sg_sql_raw(c->out, " IN (SELECT \"sys_id\" FROM ");
	sg_sql_ident(c->out, rt->root->name);
	sg_sql_raw(c->out, " WHERE ");
	sg_sql_ident(c->out, rt->display->element);
	sg_sql_raw(c->out, " = ");
	sg_sql_text(c->out, v);
	sg_sql_raw(c->out, "))");
}

static bool compile_cond(struct compiler *c, const struct sg_table *t, const char *alias,
			 const char *path, const struct sg_qcond *cond)
{
	if (strchr(path, '.'))
		return compile_walk(c, t, alias, path, cond);
	const struct sg_field *f = sg_table_field(t, path);
	if (!f || !sg_field_is_stored(f) || cond->op == SG_Q_UNKNOWN)
		return false;
	const char *v = cond->value;
	struct sg_sql *out = c->out;
	switch (cond->op) {
	case SG_Q_EQ:
		if (!*v)
			is_empty(c, alias, f);
		else if (f->type == SG_FT_REFERENCE)
			ref_equals(c, alias, f, v);
		else if (f->type == SG_FT_BOOLEAN && !strcmp(norm_value(c, t, f, v), "false"))
			compare(c, alias, f, " = ", "false", true);
		else
			compare(c, alias, f, " = ", norm_value(c, t, f, v), false);
		break;
	case SG_Q_NE:
		if (!*v) {
			sg_sql_raw(out, "NOT ");
			is_empty(c, alias, f);
		} else {
			compare(c, alias, f, " != ", norm_value(c, t, f, v), true);
		}
		break;
	case SG_Q_LT:
		compare(c, alias, f, " < ", v, false);
		break;
	case SG_Q_LE:
		compare(c, alias, f, " <= ", v, false);
		break;
	case SG_Q_GT:
		compare(c, alias, f, " > ", v, false);
		break;
	case SG_Q_GE:
		compare(c, alias, f, " >= ", v, false);
		break;
	case SG_Q_IN:
	case SG_Q_NOT_IN:
		sg_sql_raw(out, "(");
		if (cond->op == SG_Q_NOT_IN) {
			column(c, alias, f);
			sg_sql_raw(out, " IS NULL OR ");
		}
		column(c, alias, f);
		sg_sql_raw(out, cond->op == SG_Q_IN ? " IN " : " NOT IN ");
		value_list(c, t, f, v);
		sg_sql_raw(out, ")");
		break;
	case SG_Q_LIKE:
	case SG_Q_STARTSWITH:
	case SG_Q_ENDSWITH:
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, " LIKE ");
		like_value(out, v, cond->op != SG_Q_STARTSWITH, cond->op != SG_Q_ENDSWITH);
		sg_sql_raw(out, ")");
		break;
	case SG_Q_NOT_LIKE:
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, " IS NULL OR ");
		column(c, alias, f);
		sg_sql_raw(out, " NOT LIKE ");
		like_value(out, v, true, true);
		sg_sql_raw(out, ")");
		break;
	case SG_Q_ISEMPTY:
	case SG_Q_EMPTYSTRING:
		is_empty(c, alias, f);
		break;
	case SG_Q_ISNOTEMPTY:
		sg_sql_raw(out, "NOT ");
		is_empty(c, alias, f);
		break;
	case SG_Q_ANYTHING:
		sg_sql_raw(out, "1=1");
		break;
	case SG_Q_BETWEEN: {
		const char *at = strchr(v, '@');
		if (!at)
			return false;
		char lo[256];
		snprintf(lo, sizeof(lo), "%.*s", (int)(at - v), v);
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, " BETWEEN ");
		sg_sql_text(out, lo);
		sg_sql_raw(out, " AND ");
		sg_sql_text(out, at + 1);
		sg_sql_raw(out, ")");
		break;
	}
	case SG_Q_SAMEAS:
	case SG_Q_NSAMEAS: {
		const struct sg_field *g = sg_table_field(t, v);
		if (!g || !sg_field_is_stored(g))
			return false;
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, cond->op == SG_Q_SAMEAS ? " = " : " != ");
		column(c, alias, g);
		sg_sql_raw(out, ")");
		break;
	}
	case SG_Q_INSTANCEOF: {
		const struct sg_table *cls = sg_dict_table(c->ctx->dict, v);
		if (f->type != SG_FT_CLASS_NAME || !cls) {
			sg_sql_raw(out, "1=0");
			break;
		}
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, " IN (");
		for (size_t i = 0; i < cls->nclasses; i++) {
			if (i)
				sg_sql_raw(out, ",");
			sg_sql_text(out, cls->classes[i]);
		}
		sg_sql_raw(out, "))");
		break;
	}
	case SG_Q_UNKNOWN:
		return false;
	}
	return true;
}

void sg_query_compile_where(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_query *q,
			    const char *alias, bool invalid_matches_nothing, struct sg_sql *out,
			    bool *had_invalid)
{
	struct compiler c = {.ctx = ctx, .out = out, .invalid_none = invalid_matches_nothing,
			     .had_invalid = had_invalid};
	*had_invalid = false;
	if (!q || q->ngroups == 0) {
		sg_sql_raw(out, "1=1");
		return;
	}
	sg_sql_raw(out, "(");
	for (size_t g = 0; g < q->ngroups; g++) {
		if (g)
			sg_sql_raw(out, " OR ");
		sg_sql_raw(out, "(1=1");
		for (size_t k = 0; k < q->groups[g].n; k++) {
			const struct sg_qclause *cl = &q->groups[g].clauses[k];
			bool any = false;
			for (size_t i = 0; i < cl->n; i++) {
				/* An invalid condition is dropped whole: rewind to here. */
				struct sg_sql_mark m = sg_sql_mark(out);
				sg_sql_raw(out, any ? " OR " : " AND (");
				c.depth = 0;
				if (!compile_cond(&c, t, alias, cl->conds[i].field, &cl->conds[i])) {
					sg_sql_rewind(out, m);
					*had_invalid = true;
					continue;
				}
				any = true;
			}
			if (any)
				sg_sql_raw(out, ")");
		}
		sg_sql_raw(out, ")");
	}
	sg_sql_raw(out, ")");
	if (*had_invalid && invalid_matches_nothing)
		sg_sql_raw(out, " AND 1=0");
}

void sg_query_compile_order(const struct sg_table *t, const struct sg_query *q, const char *alias,
			    struct sg_sql *out)
{
	sg_sql_raw(out, " ORDER BY ");
	bool by_id = false;
	for (size_t i = 0; q && i < q->norder; i++) {
		const struct sg_field *f = sg_table_field(t, q->order[i].field);
		if (!f || !sg_field_is_stored(f))
			continue;
		sg_sql_qual(out, alias, f->element);
		sg_sql_raw(out, q->order[i].desc ? " DESC, " : ", ");
		if (!strcmp(f->element, "sys_id"))
			by_id = true;
	}
	if (by_id) {
		/* drop the trailing ", " */
		out->text.len -= 2;
		out->text.data[out->text.len] = '\0';
		return;
	}
	sg_sql_qual(out, alias, "sys_id");
}
