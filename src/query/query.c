/*
 * query.c - encoded query parser and SQL compiler.
 *
 * The parser never fails on bad input: a term it cannot read becomes an
 * invalid condition, which the compiler drops (or turns into "no rows" when
 * glide.invalid_query.returns_no_rows is set), as the platform does.  The
 * compiler types every value by the field's dictionary type, binds it as a
 * parameter, and expresses dot-walks, joins and related-list queries as
 * subqueries so the SQL stays portable across backends.
 */
#include "query/query.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "query/js.h"

static const struct {
	const char *text;
	enum sg_qop op;
} operators[] = {
    {"=", SG_Q_EQ},
    {"!=", SG_Q_NE},
    {"<", SG_Q_LT},
    {"<=", SG_Q_LE},
    {">", SG_Q_GT},
    {">=", SG_Q_GE},
    {"IN", SG_Q_IN},
    {"NOT IN", SG_Q_NOT_IN},
    {"LIKE", SG_Q_LIKE},
    {"NOT LIKE", SG_Q_NOT_LIKE},
    {"NOTLIKE", SG_Q_NOT_LIKE},
    {"STARTSWITH", SG_Q_STARTSWITH},
    {"ENDSWITH", SG_Q_ENDSWITH},
    {"ISEMPTY", SG_Q_ISEMPTY},
    {"ISNOTEMPTY", SG_Q_ISNOTEMPTY},
    {"EMPTYSTRING", SG_Q_EMPTYSTRING},
    {"ANYTHING", SG_Q_ANYTHING},
    {"BETWEEN", SG_Q_BETWEEN},
    {"SAMEAS", SG_Q_SAMEAS},
    {"NSAMEAS", SG_Q_NSAMEAS},
    {"GT_FIELD", SG_Q_GT_FIELD},
    {"LT_FIELD", SG_Q_LT_FIELD},
    {"GT_OR_EQUALS_FIELD", SG_Q_GE_FIELD},
    {"LT_OR_EQUALS_FIELD", SG_Q_LE_FIELD},
    {"INSTANCEOF", SG_Q_INSTANCEOF},
    {"DYNAMIC", SG_Q_DYNAMIC},
    {"ON", SG_Q_ON},
    {"NOTON", SG_Q_NOTON},
    {"DATEPART", SG_Q_DATEPART},
    {"RELATIVEGT", SG_Q_RELATIVEGT},
    {"RELATIVELT", SG_Q_RELATIVELT},
    {"RELATIVEGE", SG_Q_RELATIVEGE},
    {"RELATIVELE", SG_Q_RELATIVELE},
    {"RELATIVEEE", SG_Q_RELATIVEEE},
    {"MORETHAN", SG_Q_MORETHAN},
    {"LESSTHAN", SG_Q_LESSTHAN},
    {"VALCHANGES", SG_Q_VALCHANGES},
    {"CHANGESFROM", SG_Q_CHANGESFROM},
    {"CHANGESTO", SG_Q_CHANGESTO},
    {"IN_HIERARCHY", SG_Q_IN_HIERARCHY},
};

#define TEXT_QUERY "123TEXTQUERY321"

static void init_in(struct sg_query *q, struct sg_arena *arena)
{
	memset(q, 0, sizeof(*q));
	q->arena = arena;
}

void sg_query_init(struct sg_query *q)
{
	init_in(q, NULL);
	sg_arena_init(&q->own, 0);
	q->arena = &q->own;
}

void sg_query_cleanup(struct sg_query *q)
{
	sg_arena_cleanup(&q->own);
	memset(q, 0, sizeof(*q));
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
	void *g = grow(q->arena, q->groups, q->ngroups, &q->gcap, sizeof(*q->groups));
	if (!g)
		return NULL;
	q->groups = g;
	struct sg_qgroup *grp = &q->groups[q->ngroups++];
	memset(grp, 0, sizeof(*grp));
	return grp;
}

static struct sg_qclause *new_clause(struct sg_query *q, struct sg_qgroup *g)
{
	void *c = grow(q->arena, g->clauses, g->n, &g->cap, sizeof(*g->clauses));
	if (!c)
		return NULL;
	g->clauses = c;
	struct sg_qclause *cl = &g->clauses[g->n++];
	memset(cl, 0, sizeof(*cl));
	return cl;
}

static struct sg_qcond *new_cond(struct sg_query *q, struct sg_qclause *cl)
{
	void *c = grow(q->arena, cl->conds, cl->n, &cl->cap, sizeof(*cl->conds));
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

/* Parses "<field><OP><value>" into cond: the longest operator wins. */
static bool parse_cond(struct sg_query *q, const char *term, struct sg_qcond *cond)
{
	cond->kind = SG_QK_FIELD;
	if (!strncmp(term, TEXT_QUERY, strlen(TEXT_QUERY))) {
		const char *eq = strchr(term, '=');
		cond->kind = SG_QK_TEXT;
		cond->field = sg_arena_strdup(q->arena, TEXT_QUERY);
		cond->value = sg_arena_strdup(q->arena, eq ? eq + 1 : "");
		cond->op = eq ? SG_Q_LIKE : SG_Q_UNKNOWN;
		return cond->field && cond->value;
	}
	size_t n = 0;
	while (is_field_char(term[n]))
		n++;
	cond->field = sg_arena_strndup(q->arena, term, n);
	cond->op = SG_Q_UNKNOWN;
	const char *rest = term + n;
	size_t best = 0;
	for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++) {
		size_t len = strlen(operators[i].text);
		if (len > best && strncmp(rest, operators[i].text, len) == 0) {
			cond->op = operators[i].op;
			best = len;
		}
	}
	if (n == 0)
		cond->op = SG_Q_UNKNOWN;
	cond->value = sg_arena_strdup(q->arena, rest + best);
	return cond->field && cond->value;
}

static bool add_order(struct sg_query *q, const char *field, bool desc)
{
	void *o = grow(q->arena, q->order, q->norder, &q->ocap, sizeof(*q->order));
	if (!o)
		return false;
	q->order = o;
	q->order[q->norder].field = sg_arena_strdup(q->arena, field);
	q->order[q->norder].desc = desc;
	return q->order[q->norder++].field != NULL;
}

/* Where the next condition goes: the top-level query, or the sub-query of
 * an open JOIN or RLQUERY. */
struct parser {
	struct sg_query *root;
	struct sg_qgroup *group; /* root's current group */
	struct sg_query *sub;    /* open sub-query, or NULL */
	struct sg_qgroup *sub_group;
	bool in_related; /* the open sub-query ends at ENDRLQUERY */
};

static struct sg_qcond *add_clause_cond(struct sg_query *q, struct sg_qgroup **group, bool or)
{
	if (!*group) {
		*group = q->ngroups ? &q->groups[q->ngroups - 1] : new_group(q);
		if (!*group)
			return NULL;
	}
	struct sg_qclause *cl =
	    (or &&(*group)->n) ? &(*group)->clauses[(*group)->n - 1] : new_clause(q, *group);
	return cl ? new_cond(q, cl) : NULL;
}

static struct sg_query *new_sub(struct sg_query *parent)
{
	struct sg_query *s = sg_arena_alloc(parent->arena, sizeof(*s));
	if (s)
		init_in(s, parent->arena);
	return s;
}

/* "JOINincident.sys_id=task_sla.task!stage=paused" */
static bool open_join(struct parser *p, const char *spec)
{
	struct sg_qcond *c = add_clause_cond(p->root, &p->group, false);
	if (!c)
		return false;
	c->kind = SG_QK_JOIN;
	c->op = SG_Q_UNKNOWN;
	const char *bang = strchr(spec, '!');
	size_t len = bang ? (size_t)(bang - spec) : strlen(spec);
	char *buf = sg_arena_strndup(p->root->arena, spec, len); /* cut into the parts kept */
	if (!buf)
		return false;
	char *eq = strchr(buf, '=');
	char *d1 = strchr(buf, '.');
	char *d2 = eq ? strchr(eq, '.') : NULL;
	c->sub = new_sub(p->root);
	if (!c->sub)
		return false;
	if (eq && d1 && d1 < eq && d2) {
		*eq = *d1 = *d2 = '\0';
		c->field = d1 + 1;
		c->table = eq + 1;
		c->other_field = d2 + 1;
		c->op = SG_Q_EQ;
	}
	p->sub = c->sub;
	p->sub_group = NULL;
	p->in_related = false;
	if (bang && bang[1]) {
		struct sg_qcond *first = add_clause_cond(p->sub, &p->sub_group, false);
		return first && parse_cond(p->sub, bang + 1, first);
	}
	return true;
}

/* "RLQUERYtask_sla.task,>=1[,m2m]" */
static bool open_related(struct parser *p, const char *spec)
{
	struct sg_qcond *c = add_clause_cond(p->root, &p->group, false);
	if (!c)
		return false;
	c->kind = SG_QK_RELATED;
	c->op = SG_Q_UNKNOWN;
	c->sub = new_sub(p->root);
	if (!c->sub)
		return false;
	char *buf = sg_arena_strdup(p->root->arena, spec); /* cut into the parts kept */
	if (!buf)
		return false;
	char *dot = strchr(buf, '.'), *comma = strchr(buf, ',');
	if (dot && comma && dot < comma) {
		*dot = *comma = '\0';
		char *count = comma + 1, *extra = strchr(count, ',');
		if (extra)
			*extra = '\0';
		c->table = buf;
		c->field = dot + 1;
		c->value = count;
		c->op = SG_Q_EQ;
	}
	p->sub = c->sub;
	p->sub_group = NULL;
	p->in_related = true;
	return true;
}

static bool add_term(struct parser *p, const char *term)
{
	if (!*term || !strcmp(term, "EQ"))
		return true;
	if (!strncmp(term, "ORDERBYDESC", 11))
		return add_order(p->root, term + 11, true);
	if (!strncmp(term, "ORDERBY", 7))
		return add_order(p->root, term + 7, false);
	if (!strncmp(term, "GROUPBY", 7))
		return true; /* grouping is the Aggregate API's business */
	if (!strcmp(term, "ENDRLQUERY")) {
		p->sub = NULL;
		return true;
	}
	if (!strncmp(term, "RLQUERY", 7))
		return open_related(p, term + 7);
	if (!strncmp(term, "JOIN", 4))
		return open_join(p, term + 4);
	if (!strncmp(term, "NQ", 2)) {
		p->sub = NULL;
		p->group = new_group(p->root);
		if (!p->group)
			return false;
		term += 2;
		if (!*term)
			return true;
	}
	bool or = !strncmp(term, "OR", 2);
	if (or)
		term += 2;
	struct sg_qcond *c = p->sub ? add_clause_cond(p->sub, &p->sub_group, or)
	                            : add_clause_cond(p->root, &p->group, or);
	return c && parse_cond(p->sub ? p->sub : p->root, term, c);
}

bool sg_query_parse(struct sg_query *q, const char *encoded)
{
	if (!encoded)
		return true;
	size_t len = strlen(encoded);
	char *term = sg_arena_alloc(q->arena, len + 1);
	if (!term)
		return false;
	struct parser p = {.root = q, .group = q->ngroups ? &q->groups[q->ngroups - 1] : NULL};
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
			if (!add_term(&p, term))
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
		cond->kind = SG_QK_FIELD;
		cond->field = sg_arena_strdup(q->arena, field);
		cond->value = sg_arena_strdup(q->arena, value);
		cond->op = SG_Q_EQ;
		if (!cond->field || !cond->value)
			return false;
	}
	return true;
}

/* ---- compiling --------------------------------------------------------- */

struct compiler {
	const struct sg_qenv *env;
	struct sg_sql *out;
	struct sg_arena scratch; /* values made while compiling; freed at the end */
	bool *had_invalid;
	int depth;  /* subquery nesting, for aliases and a bound */
	sg_err err; /* what stops the compile: memory, the resolver */
};

#define MAX_DEPTH 8

/* Records the first error that stops the compile; false, for returning. */
static bool fail(struct compiler *c, sg_err err)
{
	if (!c->err)
		c->err = err;
	return false;
}

/* A copy of n bytes of s in the scratch arena; NULL (c failed) when memory
 * ran out. */
static char *scratch_strndup(struct compiler *c, const char *s, size_t n)
{
	char *p = sg_arena_strndup(&c->scratch, s, n);
	if (!p)
		fail(c, SG_ERR_NOMEM);
	return p;
}

static bool is_date(const struct sg_field *f)
{
	return f->type == SG_FT_DATETIME || f->type == SG_FT_DATE;
}

/*
 * Normalises a value written in a query to the stored form of field f:
 * javascript: helpers evaluated, dates made canonical, booleans spelled
 * true/false, a choice's label turned into its value.  *out points into v,
 * the dictionary, static text or the scratch arena.  False when the value
 * cannot be read (the condition is invalid) or c failed.
 */
static bool norm_value(struct compiler *c, const struct sg_table *t, const struct sg_field *f,
                       const char *v, const char **out)
{
	if (!strncmp(v, "javascript:", 11)) {
		sg_err err = sg_js_eval(c->env, v, &c->scratch, &v);
		if (err)
			return err == SG_ERR_BAD_PARAM ? false : fail(c, err);
	}
	if (is_date(f) && *v) {
		int64_t tm;
		char buf[SG_DT_LEN + 1];
		if (!sg_time_parse(v, &tm))
			return false;
		sg_time_format(tm, buf);
		if (f->type == SG_FT_DATE)
			buf[10] = '\0';
		*out = scratch_strndup(c, buf, strlen(buf));
		return *out != NULL;
	}
	if (f->type == SG_FT_BOOLEAN) {
		if (!strcasecmp(v, "true") || !strcmp(v, "1"))
			v = "true";
		else if (!strcasecmp(v, "false") || !strcmp(v, "0"))
			v = "false";
		*out = v;
		return true;
	}
	size_t n;
	const struct sg_choice *ch = sg_dict_choices(c->env->dict, t, f->element, &n);
	bool is_value = false;
	for (size_t i = 0; ch && i < n && !is_value; i++)
		is_value = !strcmp(ch[i].value, v);
	/* Name=value filters accept a choice's label (state=Closed). */
	for (size_t i = 0; ch && i < n && !is_value; i++)
		if (!strcasecmp(ch[i].label, v)) {
			v = ch[i].value;
			break;
		}
	*out = v;
	return true;
}

static void column(struct compiler *c, const char *alias, const struct sg_field *f)
{
	sg_sql_qual(c->out, alias, f->element);
}

/* alias.sys_id as the value of a reference column (the dialect's type). */
static void ref_key(struct compiler *c, const char *alias)
{
	if (c->env->dialect->ref_key)
		c->env->dialect->ref_key(c->out, alias);
	else
		sg_sql_qual(c->out, alias, "sys_id");
}

/* The column as text, for a pattern match: SQLite matches a number as its
 * text, PostgreSQL has no LIKE on numbers. */
static void text_column(struct compiler *c, const char *alias, const struct sg_field *f)
{
	if (sg_ftype_column(f->type) == SG_COL_TEXT) {
		column(c, alias, f);
		return;
	}
	sg_sql_raw(c->out, "CAST(");
	column(c, alias, f);
	sg_sql_raw(c->out, " AS TEXT)");
}

static void is_empty(struct compiler *c, const char *alias, const struct sg_field *f)
{
	if (sg_ftype_column(f->type) != SG_COL_TEXT) {
		/* a number column holds no text: '' would not even compare on
		 * PostgreSQL (and empty values are stored as NULL) */
		sg_sql_raw(c->out, "(");
		column(c, alias, f);
		sg_sql_raw(c->out, " IS NULL)");
		return;
	}
	sg_sql_raw(c->out, "(");
	column(c, alias, f);
	sg_sql_raw(c->out, " IS NULL OR ");
	column(c, alias, f);
	sg_sql_raw(c->out, " = '')");
}

/* How SQLite's numeric affinity reads a value compared with a number column. */
enum num_kind {
	NUM_INT,  /* an integer within 64 bits: compared as one */
	NUM_REAL, /* any other number SQLite converts (3.5, 1e3, a huge integer) */
	NUM_NONE  /* stays text: below every number on SQLite */
};

/* SQLite's rule: blanks, a sign, digits with an optional point, an optional
 * exponent, blanks (no hex, inf or nan, which PostgreSQL would accept). */
static enum num_kind number_kind(const char *v)
{
	const char *p = v;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '+' || *p == '-')
		p++;
	size_t before = strspn(p, "0123456789");
	p += before;
	bool integer = true;
	if (*p == '.') {
		size_t after = strspn(p + 1, "0123456789");
		if (!before && !after)
			return NUM_NONE;
		p += 1 + after;
		integer = false;
	} else if (!before) {
		return NUM_NONE;
	}
	if (*p == 'e' || *p == 'E') {
		const char *e = p + 1 + (p[1] == '+' || p[1] == '-');
		size_t digits = strspn(e, "0123456789");
		if (!digits)
			return NUM_NONE;
		p = e + digits;
		integer = false;
	}
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return NUM_NONE;
	if (integer) {
		errno = 0;
		(void)strtoll(v, NULL, 10);
		if (errno == ERANGE)
			integer = false;
	}
	return integer ? NUM_INT : NUM_REAL;
}

static bool is_number_column(const struct sg_field *f)
{
	return sg_ftype_column(f->type) != SG_COL_TEXT;
}

/*
 * Binds value compared with f's column so that both engines answer as SQLite
 * does: a number value for an INTEGER column that is not an integer goes in
 * as a DOUBLE PRECISION (PostgreSQL would refuse it as a bigint).  False when
 * the value is text a number column cannot equal (the caller decides).
 */
static bool number_value(struct compiler *c, const struct sg_field *f, const char *value)
{
	enum num_kind k = is_number_column(f) ? number_kind(value) : NUM_INT;
	if (k == NUM_NONE)
		return false;
	if (k == NUM_REAL && sg_ftype_column(f->type) == SG_COL_INTEGER) {
		sg_sql_raw(c->out, "CAST(");
		sg_sql_text(c->out, value);
		sg_sql_raw(c->out, " AS DOUBLE PRECISION)");
	} else {
		sg_sql_text(c->out, value);
	}
	return true;
}

/*
 * "col OP text" for a number column and a value SQLite keeps as text: a number
 * sorts below any text there, so < <= != hold for every non-NULL row and
 * = > >= for none; NULL rows stay unknown, as the comparison would leave them.
 */
static void number_vs_text(struct compiler *c, const char *alias, const struct sg_field *f,
                           const char *sqlop)
{
	bool below = !strcmp(sqlop, " < ") || !strcmp(sqlop, " <= ") || !strcmp(sqlop, " != ");
	sg_sql_raw(c->out, "(");
	column(c, alias, f);
	sg_sql_raw(c->out, below ? " IS NOT NULL OR NULL)" : " IS NULL AND NULL)");
}

/*
 * "f OP g" where one column holds numbers and the other text, on an engine
 * that will not compare them (the dialect's text_number): the text as SQLite
 * reads it, a number when all of it is one (compared as numbers), else text,
 * above every number; NULL on either side stays unknown.
 */
static void number_vs_text_column(struct compiler *c, const char *alias, const struct sg_field *f,
                                  const char *sqlop, const struct sg_field *g)
{
	bool text_left = !is_number_column(f);
	const struct sg_field *text = text_left ? f : g;
	/* "num OP text" with text above: true for < <= !=; "text OP num" for > >= != */
	bool holds = !strcmp(sqlop, " != ") || (text_left ? sqlop[1] == '>' : sqlop[1] == '<');
	sg_sql_raw(c->out, "(CASE WHEN ");
	column(c, alias, f);
	sg_sql_raw(c->out, " IS NULL OR ");
	column(c, alias, g);
	sg_sql_raw(c->out, " IS NULL THEN NULL WHEN ");
	c->env->dialect->text_number(c->out, alias, text->element);
	sg_sql_raw(c->out, holds ? " IS NULL THEN TRUE ELSE " : " IS NULL THEN FALSE ELSE ");
	if (text_left)
		c->env->dialect->text_number(c->out, alias, text->element);
	else
		column(c, alias, f);
	sg_sql_raw(c->out, sqlop);
	if (text_left)
		column(c, alias, g);
	else
		c->env->dialect->text_number(c->out, alias, text->element);
	sg_sql_raw(c->out, " END)");
}

/* "(col OP ?)", with NULL rows included when the operator is a negation. */
static void compare(struct compiler *c, const char *alias, const struct sg_field *f,
                    const char *sqlop, const char *value, bool or_null)
{
	sg_sql_raw(c->out, "(");
	if (or_null) {
		column(c, alias, f);
		sg_sql_raw(c->out, " IS NULL OR ");
	}
	if (is_number_column(f) && number_kind(value) == NUM_NONE) {
		number_vs_text(c, alias, f, sqlop);
	} else {
		column(c, alias, f);
		sg_sql_raw(c->out, sqlop);
		number_value(c, f, value);
	}
	sg_sql_raw(c->out, ")");
}

static void compare_instant(struct compiler *c, const char *alias, const struct sg_field *f,
                            const char *sqlop, int64_t t)
{
	char buf[SG_DT_LEN + 1];
	sg_time_format(t, buf);
	if (f->type == SG_FT_DATE)
		buf[10] = '\0';
	compare(c, alias, f, sqlop, buf, false);
}

static void between(struct compiler *c, const char *alias, const struct sg_field *f, const char *lo,
                    const char *hi, bool negate)
{
	sg_sql_raw(c->out, negate ? "(" : "");
	if (negate) {
		column(c, alias, f);
		sg_sql_raw(c->out, " IS NULL OR ");
		column(c, alias, f);
		sg_sql_raw(c->out, " NOT BETWEEN ");
	} else {
		sg_sql_raw(c->out, "(");
		column(c, alias, f);
		sg_sql_raw(c->out, " BETWEEN ");
	}
	number_value(c, f, lo);
	sg_sql_raw(c->out, " AND ");
	number_value(c, f, hi);
	sg_sql_raw(c->out, ")");
}

/* Binds v as a LIKE pattern (wildcards in v escaped); false when c failed. */
static bool like_value(struct compiler *c, const char *v, bool pre, bool post)
{
	if (!strncmp(v, "javascript:", 11)) { /* the value the script gives */
		sg_err err = sg_js_eval(c->env, v, &c->scratch, &v);
		if (err)
			return err == SG_ERR_BAD_PARAM ? false : fail(c, err);
	}
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
	bool ok = !sg_buf_failed(&b); /* the maximum fits: only memory fails */
	if (ok)
		sg_sql_text(c->out, sg_buf_str(&b));
	sg_buf_cleanup(&b);
	sg_sql_raw(c->out, " ESCAPE '\\'");
	return ok ? true : fail(c, SG_ERR_NOMEM);
}

static bool value_list(struct compiler *c, const struct sg_table *t, const struct sg_field *f,
                       const char *v)
{
	/* A whole list written as one javascript: value (an array, or ids
	 * joined with commas, as getMyGroups() gives) is evaluated first. */
	if (!strncmp(v, "javascript:", 11)) {
		sg_err err = sg_js_eval(c->env, v, &c->scratch, &v);
		if (err)
			return err == SG_ERR_BAD_PARAM ? false : fail(c, err);
	}
	sg_sql_raw(c->out, "(");
	const char *p = v;
	size_t written = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *item = scratch_strndup(c, p, n), *norm;
		if (!item || !norm_value(c, t, f, item, &norm))
			return false;
		/* Text in a list for a number column equals no row on SQLite: left out. */
		if (!is_number_column(f) || number_kind(norm) != NUM_NONE) {
			if (written++)
				sg_sql_raw(c->out, ",");
			number_value(c, f, norm);
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	if (!written)
		sg_sql_raw(c->out, "SELECT 1 WHERE 1=0"); /* an empty list: no row is in it */
	sg_sql_raw(c->out, ")");
	return true;
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

static bool compile_query(struct compiler *c, const struct sg_table *t, const struct sg_query *q,
                          const char *alias);
static bool compile_cond(struct compiler *c, const struct sg_table *t, const char *alias,
                         const char *path, const struct sg_qcond *cond);

/* "FROM <root> <alias> WHERE" for a subquery over table t; alias is written
 * into buf. */
static void sub_from(struct compiler *c, const struct sg_table *t, char *alias, size_t size)
{
	snprintf(alias, size, "s%d", ++c->depth);
	sg_sql_raw(c->out, " FROM ");
	sg_sql_ident(c->out, t->root->name);
	sg_sql_raw(c->out, " ");
	sg_sql_ident(c->out, alias);
	sg_sql_raw(c->out, " WHERE ");
}

/* a.b.c on t: a IN (SELECT sys_id FROM <a's table> WHERE <b.c ...>) */
static bool compile_walk(struct compiler *c, const struct sg_table *t, const char *alias,
                         const char *path, const struct sg_qcond *cond)
{
	const char *dot = strchr(path, '.');
	char sub[16];
	const char *head = scratch_strndup(c, path, (size_t)(dot - path));
	if (!head)
		return false;
	const struct sg_field *f = sg_table_field(t, head);
	if (!f || f->type != SG_FT_REFERENCE || c->depth >= MAX_DEPTH)
		return false;
	const struct sg_table *rt = sg_dict_table(c->env->dict, f->reference);
	if (!rt)
		return false;
	/* An empty reference walks to an empty value (the platform joins
	 * outward), so conditions an empty value meets also take it. */
	bool empty_matches = cond->op == SG_Q_ISEMPTY || cond->op == SG_Q_EMPTYSTRING ||
	                     cond->op == SG_Q_NE || cond->op == SG_Q_NOT_IN ||
	                     cond->op == SG_Q_NOT_LIKE || cond->op == SG_Q_ANYTHING ||
	                     cond->op == SG_Q_NOTON || (cond->op == SG_Q_EQ && !*cond->value);
	sg_sql_raw(c->out, "(");
	if (empty_matches) {
		is_empty(c, alias, f);
		sg_sql_raw(c->out, " OR ");
	}
	column(c, alias, f);
	sg_sql_raw(c->out, " IN (SELECT ");
	int depth = c->depth;
	snprintf(sub, sizeof(sub), "s%d", depth + 1);
	ref_key(c, sub);
	sub_from(c, rt, sub, sizeof(sub));
	bool ok = compile_cond(c, rt, sub, dot + 1, cond);
	sg_query_class_filter(c->out, rt, sub);
	sg_sql_raw(c->out, "))");
	c->depth = depth;
	return ok;
}

static bool date_shift_compare(struct compiler *c, const char *alias, const struct sg_field *f,
                               const char *sqlop, const struct sg_field *g, long long n,
                               const char *unit)
{
	long long k = n; /* |n| <= SG_JS_COUNT_MAX (sg_js_parse_count): n * 7 fits */
	const char *u = unit;
	if (!strcmp(unit, "week")) {
		k = n * 7;
		u = "day";
	} else if (!strcmp(unit, "quarter")) {
		k = n * 3;
		u = "month";
	} else if (strcmp(unit, "second") && strcmp(unit, "minute") && strcmp(unit, "hour") &&
	           strcmp(unit, "day") && strcmp(unit, "month") && strcmp(unit, "year")) {
		return false;
	}
	column(c, alias, f);
	sg_sql_raw(c->out, sqlop);
	c->env->dialect->date_add(c->out, alias, g->element, k, u);
	return true;
}

/* MORETHAN / LESSTHAN: "<other field>@<unit>@<before|after>@<n>" */
static bool gap(struct compiler *c, const struct sg_table *t, const char *alias,
                const struct sg_field *f, const struct sg_qcond *cond)
{
	char other[128], unit[32], dir[16];
	long long n;
	int at = 0;
	if (sscanf(cond->value, "%127[^@]@%31[^@]@%15[^@]@%n", other, unit, dir, &at) != 3 || !at ||
	    !sg_js_parse_count(cond->value + at, &n))
		return false;
	const struct sg_field *g = sg_table_field(t, other);
	bool before = !strcmp(dir, "before");
	if (!g || !is_date(g) || !is_date(f) || (!before && strcmp(dir, "after")))
		return false;
	sg_sql_raw(c->out, "(");
	bool ok;
	if (cond->op == SG_Q_MORETHAN) {
		ok = before ? date_shift_compare(c, alias, f, " < ", g, -n, unit)
		            : date_shift_compare(c, alias, f, " > ", g, n, unit);
	} else {
		ok = before ? date_shift_compare(c, alias, f, " >= ", g, -n, unit)
		            : date_shift_compare(c, alias, f, " <= ", g, n, unit);
		sg_sql_raw(c->out, " AND ");
		column(c, alias, f);
		sg_sql_raw(c->out, before ? " <= " : " >= ");
		column(c, alias, g);
	}
	sg_sql_raw(c->out, ")");
	return ok;
}

/* RELATIVEGT and kin: "@<unit>@<ago|ahead>@<n>" */
static bool relative(struct compiler *c, const char *alias, const struct sg_field *f,
                     const struct sg_qcond *cond)
{
	char unit[32], dir[16];
	long long n;
	int at = 0;
	if (!is_date(f) || sscanf(cond->value, "@%31[^@]@%15[^@]@%n", unit, dir, &at) != 2 || !at ||
	    !sg_js_parse_count(cond->value + at, &n))
		return false;
	bool ago = !strcmp(dir, "ago");
	if (!ago && strcmp(dir, "ahead"))
		return false;
	const char *tz = c->env->tz ? c->env->tz : "UTC";
	int64_t t, s, e;
	if (!sg_js_shift(tz, sg_time_now(), unit, ago ? -n : n, &t))
		return false;
	switch (cond->op) {
	case SG_Q_RELATIVEGT:
		compare_instant(c, alias, f, " > ", t);
		break;
	case SG_Q_RELATIVELT:
		compare_instant(c, alias, f, " < ", t);
		break;
	case SG_Q_RELATIVEGE:
		compare_instant(c, alias, f, " >= ", t);
		break;
	case SG_Q_RELATIVELE:
		compare_instant(c, alias, f, " <= ", t);
		break;
	default: {
		if (!sg_js_period(tz, t, unit, &s, &e))
			return false;
		char lo[SG_DT_LEN + 1], hi[SG_DT_LEN + 1];
		sg_time_format(s, lo);
		sg_time_format(e, hi);
		between(c, alias, f, lo, hi, false);
	}
	}
	return true;
}

/* ON / NOTON: "<label>@<start>@<end>", the bounds as dates or helpers. */
static bool on_day(struct compiler *c, const struct sg_table *t, const char *alias,
                   const struct sg_field *f, const struct sg_qcond *cond)
{
	const char *a = strchr(cond->value, '@');
	const char *b = a ? strchr(a + 1, '@') : NULL;
	if (!b || !is_date(f))
		return false;
	const char *lo_in = scratch_strndup(c, a + 1, (size_t)(b - a - 1)), *lo, *hi;
	if (!lo_in || !norm_value(c, t, f, lo_in, &lo) || !norm_value(c, t, f, b + 1, &hi))
		return false;
	between(c, alias, f, lo, hi, cond->op == SG_Q_NOTON);
	return true;
}

/* DATEPART: "<label>@javascript:gs.datePart('dayofweek','monday','EE')" */
static bool date_part(struct compiler *c, const char *alias, const struct sg_field *f,
                      const struct sg_qcond *cond)
{
	static const char *days[] = {"sunday",   "monday", "tuesday", "wednesday",
	                             "thursday", "friday", "saturday"};
	static const char *months[] = {"january",   "february", "march",    "april",
	                               "may",       "june",     "july",     "august",
	                               "september", "october",  "november", "december"};
	const char *p = strstr(cond->value, "datePart(");
	char part[32], val[32], op[8];
	if (!p || !is_date(f) ||
	    sscanf(p, "datePart('%31[^']','%31[^']','%7[^']')", part, val, op) != 3)
		return false;
	long long n = -1;
	for (int i = 0; i < 7; i++)
		if (!strcasecmp(val, days[i]))
			n = i;
	for (int i = 0; i < 12; i++)
		if (!strcasecmp(val, months[i]))
			n = i + 1;
	if (n < 0) {
		char *end;
		n = strtoll(val, &end, 10); /* saturates; bound, never computed with */
		if (*end || end == val)
			return false;
	}
	static const struct {
		const char *code, *sql;
	} ops[] = {{"EE", " = "},  {"GT", " > "},  {"LT", " < "},
	           {"GE", " >= "}, {"LE", " <= "}, {"NE", " != "}};
	const char *sqlop = NULL;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].code))
			sqlop = ops[i].sql;
	if (!sqlop)
		return false;
	sg_sql_raw(c->out, "(");
	if (!c->env->dialect->date_part(c->out, alias, f->element, part))
		return false;
	sg_sql_raw(c->out, sqlop);
	sg_sql_int(c->out, n);
	sg_sql_raw(c->out, ")");
	return true;
}

/* A reference compared by equality also matches the referenced record's
 * display value, as ServiceNow's name=value filters do (assigned_to=Beth). */
static void ref_equals(struct compiler *c, const char *alias, const struct sg_field *f,
                       const char *v)
{
	const struct sg_table *rt = sg_dict_table(c->env->dict, f->reference);
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
	sg_sql_raw(c->out, " IN (SELECT ");
	ref_key(c, "r");
	sg_sql_raw(c->out, " FROM ");
	sg_sql_ident(c->out, rt->root->name);
	sg_sql_raw(c->out, " \"r\" WHERE ");
	sg_sql_qual(c->out, "r", rt->display->element);
	sg_sql_raw(c->out, " = ");
	sg_sql_text(c->out, v);
	sg_sql_raw(c->out, "))");
}

/* DYNAMIC: the value names a sys_filter_option_dynamic row whose script is
 * one the whitelist knows ("Me", "One of My Groups"). */
static bool dynamic(struct compiler *c, const char *alias, const struct sg_field *f, const char *id)
{
	const struct sg_qenv *env = c->env;
	char *script = NULL;
	sg_err err = env->lookup ? env->lookup(env->lookup_ud, "sys_filter_option_dynamic", id,
	                                       "script", &script)
	                         : SG_ERR_NO_RECORD;
	if (err == SG_ERR_NO_RECORD || err == SG_ERR_INVALID_TABLE)
		return false;
	if (err)
		return fail(c, err);
	bool ok = false;
	if (script && strstr(script, "getMyGroups()")) {
		column(c, alias, f);
		sg_sql_raw(c->out,
		           " IN (SELECT \"group\" FROM \"sys_user_grmember\" WHERE \"user\" = ");
		sg_sql_text(c->out, env->user_id ? env->user_id : "");
		sg_sql_raw(c->out, ")");
		ok = true;
	} else if (script) {
		size_t len = strlen(script);
		char *js = sg_arena_alloc(&c->scratch, len + 12);
		const char *v;
		if (!js) {
			ok = fail(c, SG_ERR_NOMEM);
			goto out;
		}
		memcpy(js, "javascript:", 11);
		memcpy(js + 11, script, len + 1);
		err = sg_js_eval(env, js, &c->scratch, &v);
		if (!err) {
			compare(c, alias, f, " = ", v, false);
			ok = true;
		} else if (err != SG_ERR_BAD_PARAM) {
			ok = fail(c, err);
		}
	}
out:
	free(script);
	return ok;
}

static bool compile_field(struct compiler *c, const struct sg_table *t, const char *alias,
                          const char *path, const struct sg_qcond *cond)
{
	if (strchr(path, '.'))
		return compile_walk(c, t, alias, path, cond);
	const struct sg_field *f = sg_table_field(t, path);
	if (!f || !sg_field_is_stored(f) || cond->op == SG_Q_UNKNOWN)
		return false;
	const char *v = cond->value;
	struct sg_sql *out = c->out;
	const char *nv;
	static const char *cmp_ops[] = {
	    [SG_Q_LT] = " < ", [SG_Q_LE] = " <= ", [SG_Q_GT] = " > ", [SG_Q_GE] = " >= "};
	static const char *field_ops[] = {
	    [SG_Q_GT_FIELD] = " > ",  [SG_Q_LT_FIELD] = " < ", [SG_Q_GE_FIELD] = " >= ",
	    [SG_Q_LE_FIELD] = " <= ", [SG_Q_SAMEAS] = " = ",   [SG_Q_NSAMEAS] = " != "};
	switch (cond->op) {
	case SG_Q_EQ:
		if (!*v) {
			is_empty(c, alias, f);
		} else if (!norm_value(c, t, f, v, &nv)) {
			return false;
		} else if (f->type == SG_FT_REFERENCE) {
			ref_equals(c, alias, f, nv);
		} else if (f->type == SG_FT_BOOLEAN && !strcmp(nv, "false")) {
			compare(c, alias, f, " = ", "false", true); /* empty booleans are false */
		} else {
			compare(c, alias, f, " = ", nv, false);
		}
		break;
	case SG_Q_NE:
		if (!*v) {
			sg_sql_raw(out, "NOT ");
			is_empty(c, alias, f);
		} else if (!norm_value(c, t, f, v, &nv)) {
			return false;
		} else if (f->type == SG_FT_BOOLEAN && !strcmp(nv, "true")) {
			compare(c, alias, f, " != ", "true", true);
		} else {
			compare(c, alias, f, " != ", nv, true);
		}
		break;
	case SG_Q_LT:
	case SG_Q_LE:
	case SG_Q_GT:
	case SG_Q_GE:
		if (!norm_value(c, t, f, v, &nv))
			return false;
		compare(c, alias, f, cmp_ops[cond->op], nv, false);
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
		if (!value_list(c, t, f, v))
			return false;
		sg_sql_raw(out, ")");
		break;
	case SG_Q_LIKE:
	case SG_Q_STARTSWITH:
	case SG_Q_ENDSWITH:
		sg_sql_raw(out, "(");
		text_column(c, alias, f);
		sg_sql_raw(out, c->env->dialect->like);
		if (!like_value(c, v, cond->op != SG_Q_STARTSWITH, cond->op != SG_Q_ENDSWITH))
			return false;
		sg_sql_raw(out, ")");
		break;
	case SG_Q_NOT_LIKE:
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, " IS NULL OR ");
		text_column(c, alias, f);
		sg_sql_raw(out, c->env->dialect->not_like);
		if (!like_value(c, v, true, true))
			return false;
		sg_sql_raw(out, ")");
		break;
	case SG_Q_ISEMPTY:
	case SG_Q_EMPTYSTRING: /* empty strings are stored as NULL */
		is_empty(c, alias, f);
		break;
	case SG_Q_ISNOTEMPTY:
		sg_sql_raw(out, "NOT ");
		is_empty(c, alias, f);
		break;
	case SG_Q_ANYTHING:
	case SG_Q_VALCHANGES:
	case SG_Q_CHANGESFROM:
	case SG_Q_CHANGESTO:
		sg_sql_raw(out, "1=1");
		break;
	case SG_Q_BETWEEN: {
		const char *at = strchr(v, '@'), *lo_in, *lo, *hi;
		if (!at)
			return false;
		lo_in = scratch_strndup(c, v, (size_t)(at - v));
		if (!lo_in || !norm_value(c, t, f, lo_in, &lo) || !norm_value(c, t, f, at + 1, &hi))
			return false;
		if (is_number_column(f) &&
		    (number_kind(lo) == NUM_NONE || number_kind(hi) == NUM_NONE)) {
			/* BETWEEN is >= lo AND <= hi: each bound as compare() writes it */
			sg_sql_raw(out, "(");
			compare(c, alias, f, " >= ", lo, false);
			sg_sql_raw(out, " AND ");
			compare(c, alias, f, " <= ", hi, false);
			sg_sql_raw(out, ")");
			break;
		}
		between(c, alias, f, lo, hi, false);
		break;
	}
	case SG_Q_SAMEAS:
	case SG_Q_NSAMEAS:
	case SG_Q_GT_FIELD:
	case SG_Q_LT_FIELD:
	case SG_Q_GE_FIELD:
	case SG_Q_LE_FIELD: {
		const struct sg_field *g = sg_table_field(t, v);
		if (!g || !sg_field_is_stored(g))
			return false;
		if (is_number_column(f) != is_number_column(g) && c->env->dialect->text_number) {
			number_vs_text_column(c, alias, f, field_ops[cond->op], g);
			break;
		}
		sg_sql_raw(out, "(");
		column(c, alias, f);
		sg_sql_raw(out, field_ops[cond->op]);
		column(c, alias, g);
		sg_sql_raw(out, ")");
		break;
	}
	case SG_Q_INSTANCEOF: {
		const struct sg_table *cls = sg_dict_table(c->env->dict, v);
		if (f->type != SG_FT_CLASS_NAME || !cls)
			return false;
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
	case SG_Q_DYNAMIC:
		return dynamic(c, alias, f, v);
	case SG_Q_ON:
	case SG_Q_NOTON:
		return on_day(c, t, alias, f, cond);
	case SG_Q_DATEPART:
		return date_part(c, alias, f, cond);
	case SG_Q_RELATIVEGT:
	case SG_Q_RELATIVELT:
	case SG_Q_RELATIVEGE:
	case SG_Q_RELATIVELE:
	case SG_Q_RELATIVEEE:
		return relative(c, alias, f, cond);
	case SG_Q_MORETHAN:
	case SG_Q_LESSTHAN:
		return gap(c, t, alias, f, cond);
	case SG_Q_IN_HIERARCHY:
	case SG_Q_UNKNOWN:
		return false;
	}
	return true;
}

/* 123TEXTQUERY321=words: any text field of the table contains the words. */
static bool text_search(struct compiler *c, const struct sg_table *t, const char *alias,
                        const char *words)
{
	if (!*words)
		return false;
	bool any = false;
	sg_sql_raw(c->out, "(");
	for (size_t i = 0; i < t->nfields; i++) {
		const struct sg_field *f = t->fields[i];
		if (!sg_field_is_stored(f) || !strncmp(f->element, "sys_", 4) ||
		    (f->type != SG_FT_STRING ||
		     sg_dict_choices(c->env->dict, t, f->element, &(size_t){0})))
			continue;
		sg_sql_raw(c->out, any ? " OR " : "");
		column(c, alias, f);
		sg_sql_raw(c->out, c->env->dialect->like);
		if (!like_value(c, words, true, true))
			return false;
		any = true;
	}
	sg_sql_raw(c->out, ")");
	return any;
}

/* JOIN: EXISTS a row of the other table linked to this one and matching
 * the sub-query; RLQUERY: the number of related rows passes the test. */
static bool compile_link(struct compiler *c, const struct sg_table *t, const char *alias,
                         const struct sg_qcond *cond)
{
	const struct sg_table *ot = sg_dict_table(c->env->dict, cond->table);
	if (!ot || cond->op == SG_Q_UNKNOWN || c->depth >= MAX_DEPTH)
		return false;
	const struct sg_field *own, *other;
	char sub[16], cmp[4] = "";
	long long n = 0;
	if (cond->kind == SG_QK_JOIN) {
		own = sg_table_field(t, cond->field);
		other = sg_table_field(ot, cond->other_field);
	} else {
		own = sg_table_field(t, "sys_id");
		other = sg_table_field(ot, cond->field);
		if (sscanf(cond->value, "%3[<>=!]%lld", cmp, &n) != 2 ||
		    (strcmp(cmp, "=") && strcmp(cmp, "!=") && strcmp(cmp, ">") &&
		     strcmp(cmp, ">=") && strcmp(cmp, "<") && strcmp(cmp, "<=")))
			return false;
	}
	if (!own || !other || !sg_field_is_stored(own) || !sg_field_is_stored(other))
		return false;
	int depth = c->depth;
	snprintf(sub, sizeof(sub), "s%d", depth + 1);
	sg_sql_raw(c->out, cond->kind == SG_QK_JOIN ? "EXISTS (SELECT 1" : "((SELECT COUNT(*)");
	sub_from(c, ot, sub, sizeof(sub));
	sg_sql_qual(c->out, sub, other->element);
	sg_sql_raw(c->out, " = ");
	sg_sql_qual(c->out, alias, own->element);
	sg_query_class_filter(c->out, ot, sub);
	/* Only the rows of ot the environment lets the user see (row ACLs):
	 * a hidden row neither matches a JOIN nor counts in an RLQUERY. */
	if (c->env->sub_rows) {
		sg_sql_raw(c->out, " AND ");
		sg_err err = c->env->sub_rows(c->env->sub_rows_ud, ot, sub, c->out);
		if (err) {
			c->depth = depth;
			return fail(c, err);
		}
	}
	sg_sql_raw(c->out, " AND ");
	bool ok = compile_query(c, ot, cond->sub, sub);
	sg_sql_raw(c->out, ")");
	if (cond->kind == SG_QK_RELATED) {
		sg_sql_raw(c->out, " ");
		sg_sql_raw(c->out, cmp);
		sg_sql_raw(c->out, " ");
		sg_sql_int(c->out, n);
		sg_sql_raw(c->out, ")");
	}
	c->depth = depth;
	return ok;
}

static bool compile_cond(struct compiler *c, const struct sg_table *t, const char *alias,
                         const char *path, const struct sg_qcond *cond)
{
	switch (cond->kind) {
	case SG_QK_TEXT:
		return text_search(c, t, alias, cond->value);
	case SG_QK_JOIN:
	case SG_QK_RELATED:
		return compile_link(c, t, alias, cond);
	default:
		return compile_field(c, t, alias, path, cond);
	}
}

/* A condition whose value is a javascript: expression the whitelist does not
 * evaluate: it matches nothing, whatever glide.invalid_query.returns_no_rows
 * says, so a delete-by-query client never gets "every row" from a script
 * the instance could not run. */
static bool unevaluated_script(const struct sg_qcond *cond)
{
	return cond->kind == SG_QK_FIELD && cond->value && strstr(cond->value, "javascript:");
}

/*
 * The conditions lo..hi of a clause OR'ed as a balanced tree, so a query's
 * expression depth grows with the logarithm of its length (SQLite refuses
 * expressions deeper than 1000).  An invalid condition is written "1=0",
 * the identity of OR; *any tells whether a condition was not dropped.
 */
static bool or_range(struct compiler *c, const struct sg_table *t, const char *alias,
                     const struct sg_qclause *cl, size_t lo, size_t hi, bool *any)
{
	struct sg_sql *out = c->out;
	if (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		sg_sql_raw(out, "(");
		if (!or_range(c, t, alias, cl, lo, mid, any))
			return false;
		sg_sql_raw(out, " OR ");
		if (!or_range(c, t, alias, cl, mid, hi, any))
			return false;
		sg_sql_raw(out, ")");
		return true;
	}
	const struct sg_qcond *cond = &cl->conds[lo];
	struct sg_sql_mark m = sg_sql_mark(out);
	int depth = c->depth;
	if (compile_cond(c, t, alias, cond->field, cond)) {
		*any = true;
		return true;
	}
	if (c->err)
		return false;
	sg_sql_rewind(out, m);
	c->depth = depth;
	*c->had_invalid = true;
	if (unevaluated_script(cond))
		*any = true; /* kept, as a condition nothing meets */
	sg_sql_raw(out, "1=0");
	return true;
}

/* One clause: (cond OR cond ...), or "1=1" when every condition was
 * dropped. */
static bool clause(struct compiler *c, const struct sg_table *t, const char *alias,
                   const struct sg_qclause *cl)
{
	struct sg_sql_mark m = sg_sql_mark(c->out);
	bool any = false;
	if (cl->n) {
		sg_sql_raw(c->out, "(");
		if (!or_range(c, t, alias, cl, 0, cl->n, &any))
			return false;
		sg_sql_raw(c->out, ")");
	}
	if (!any) {
		sg_sql_rewind(c->out, m);
		sg_sql_raw(c->out, "1=1");
	}
	return true;
}

/* The clauses lo..hi of a group AND'ed as a balanced tree. */
static bool and_range(struct compiler *c, const struct sg_table *t, const char *alias,
                      const struct sg_qgroup *g, size_t lo, size_t hi)
{
	if (hi - lo == 1)
		return clause(c, t, alias, &g->clauses[lo]);
	size_t mid = lo + (hi - lo) / 2;
	sg_sql_raw(c->out, "(");
	if (!and_range(c, t, alias, g, lo, mid))
		return false;
	sg_sql_raw(c->out, " AND ");
	if (!and_range(c, t, alias, g, mid, hi))
		return false;
	sg_sql_raw(c->out, ")");
	return true;
}

/* The groups lo..hi (^NQ) OR'ed as a balanced tree; an empty group is
 * "1=1". */
static bool groups_range(struct compiler *c, const struct sg_table *t, const char *alias,
                         const struct sg_query *q, size_t lo, size_t hi)
{
	if (hi - lo == 1) {
		if (q->groups[lo].n == 0) {
			sg_sql_raw(c->out, "1=1");
			return true;
		}
		return and_range(c, t, alias, &q->groups[lo], 0, q->groups[lo].n);
	}
	size_t mid = lo + (hi - lo) / 2;
	sg_sql_raw(c->out, "(");
	if (!groups_range(c, t, alias, q, lo, mid))
		return false;
	sg_sql_raw(c->out, " OR ");
	if (!groups_range(c, t, alias, q, mid, hi))
		return false;
	sg_sql_raw(c->out, ")");
	return true;
}

/* (group OR group ...), each group (clause AND clause ...), each clause
 * (cond OR cond ...), every list a balanced tree.  Invalid conditions are
 * dropped whole. */
static bool compile_query(struct compiler *c, const struct sg_table *t, const struct sg_query *q,
                          const char *alias)
{
	if (!q || q->ngroups == 0) {
		sg_sql_raw(c->out, "1=1");
		return true;
	}
	sg_sql_raw(c->out, "(");
	if (!groups_range(c, t, alias, q, 0, q->ngroups))
		return false;
	sg_sql_raw(c->out, ")");
	return !c->err;
}

/* The compile's outcome: c's error, or out's when its text ran out of
 * memory (a statement over its maximum, or an identifier that is not one,
 * leaves out->failed for the caller). */
static sg_err finish(struct compiler *c)
{
	sg_arena_cleanup(&c->scratch);
	if (c->err)
		return c->err;
	if (sg_buf_failed(&c->out->text) && !c->out->text.too_large)
		return SG_ERR_NOMEM;
	return SG_ERR_OK;
}

sg_err sg_query_compile_where(const struct sg_qenv *env, const struct sg_table *t,
                              const struct sg_query *q, const char *alias,
                              bool invalid_matches_nothing, struct sg_sql *out, bool *had_invalid)
{
	struct compiler c = {.env = env, .out = out, .had_invalid = had_invalid};
	sg_arena_init(&c.scratch, 0);
	*had_invalid = false;
	size_t before = out->nparams;
	if (compile_query(&c, t, q, alias) && *had_invalid && invalid_matches_nothing)
		sg_sql_raw(out, " AND 1=0");
	sg_err err = finish(&c);
	if (!err && (out->nparams - before > SG_QUERY_MAX_VALUES || out->text.too_large))
		err = SG_ERR_QUERY_TOO_LARGE;
	return err;
}

/* An ORDER BY key: the column, or for a dot-walk the far column through
 * correlated subqueries.  False when path names no stored field (or c
 * failed). */
static bool order_key(struct compiler *c, const struct sg_table *t, const char *alias,
                      const char *path, int depth)
{
	struct sg_sql *out = c->out;
	const char *dot = strchr(path, '.');
	const char *head = scratch_strndup(c, path, dot ? (size_t)(dot - path) : strlen(path));
	if (!head)
		return false;
	const struct sg_field *f = sg_table_field(t, head);
	if (!f || !sg_field_is_stored(f) || depth > MAX_DEPTH)
		return false;
	if (!dot) {
		sg_sql_qual(out, alias, f->element);
		return true;
	}
	const struct sg_table *rt =
	    f->type == SG_FT_REFERENCE ? sg_dict_table(c->env->dict, f->reference) : NULL;
	if (!rt)
		return false;
	char sub[16];
	snprintf(sub, sizeof(sub), "o%d", depth + 1);
	sg_sql_raw(out, "(SELECT ");
	bool ok = order_key(c, rt, sub, dot + 1, depth + 1);
	sg_sql_raw(out, " FROM ");
	sg_sql_ident(out, rt->root->name);
	sg_sql_raw(out, " ");
	sg_sql_ident(out, sub);
	sg_sql_raw(out, " WHERE ");
	sg_sql_qual(out, sub, "sys_id");
	sg_sql_raw(out, " = ");
	sg_sql_qual(out, alias, f->element);
	sg_sql_raw(out, ")");
	return ok;
}

sg_err sg_query_compile_order(const struct sg_qenv *env, const struct sg_table *t,
                              const struct sg_query *q, const char *alias, struct sg_sql *out)
{
	struct compiler c = {.env = env, .out = out};
	sg_arena_init(&c.scratch, 0);
	/* The dialect says where NULL sorts: first ascending, as on the platform. */
	const struct sg_dialect *d = env->dialect;
	sg_sql_raw(out, " ORDER BY ");
	for (size_t i = 0; q && i < q->norder; i++) {
		if (!strcmp(q->order[i].field, "sys_id")) {
			sg_sql_qual(out, alias, "sys_id");
			sg_sql_raw(out, q->order[i].desc ? " DESC" : ""); /* never NULL */
			return finish(&c); /* unique: nothing after it matters */
		}
		struct sg_sql_mark m = sg_sql_mark(out);
		if (!order_key(&c, t, alias, q->order[i].field, 0)) {
			if (c.err)
				return finish(&c);
			sg_sql_rewind(out, m);
			continue;
		}
		sg_sql_raw(out, q->order[i].desc ? d->order_desc : d->order_asc);
		sg_sql_raw(out, ", ");
	}
	/* Equal keys are broken by sys_id, so paging is stable. */
	sg_sql_qual(out, alias, "sys_id");
	return finish(&c);
}
