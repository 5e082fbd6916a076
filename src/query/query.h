/*
 * query.h - ServiceNow's encoded query language: parse to an AST, compile
 * the AST to SQL.
 *
 * "a=1^b=2^ORb=3^NQc=4^ORDERBYDESCsys_updated_on" parses to
 *   group 1: a=1 AND (b=2 OR b=3)
 *   group 2: c=4                       (groups are OR'ed: ^NQ)
 *   order:   sys_updated_on descending
 * and compiles, against an environment (query/env.h: the dictionary, the
 * dialect, the user, a resolver), to a WHERE expression whose every value
 * is a bound parameter; the compiler itself reads no request and no record.
 * Name=value URL filters and ACL conditions are built as the same AST and
 * go through the same compiler.
 */
#ifndef SG_QUERY_QUERY_H
#define SG_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "dict/dict.h"
#include "query/env.h"
#include "store/sql.h"

enum sg_qop {
	SG_Q_EQ,
	SG_Q_NE,
	SG_Q_LT,
	SG_Q_LE,
	SG_Q_GT,
	SG_Q_GE,
	SG_Q_IN,
	SG_Q_NOT_IN,
	SG_Q_LIKE,
	SG_Q_NOT_LIKE,
	SG_Q_STARTSWITH,
	SG_Q_ENDSWITH,
	SG_Q_ISEMPTY,
	SG_Q_ISNOTEMPTY,
	SG_Q_EMPTYSTRING,
	SG_Q_ANYTHING,
	SG_Q_BETWEEN,
	SG_Q_SAMEAS,
	SG_Q_NSAMEAS,
	SG_Q_GT_FIELD,
	SG_Q_LT_FIELD,
	SG_Q_GE_FIELD,
	SG_Q_LE_FIELD,
	SG_Q_INSTANCEOF,
	SG_Q_DYNAMIC,
	SG_Q_ON,
	SG_Q_NOTON,
	SG_Q_DATEPART,
	SG_Q_RELATIVEGT,
	SG_Q_RELATIVELT,
	SG_Q_RELATIVEGE,
	SG_Q_RELATIVELE,
	SG_Q_RELATIVEEE,
	SG_Q_MORETHAN,
	SG_Q_LESSTHAN,
	SG_Q_VALCHANGES, /* the CHANGES family only means something in business rules */
	SG_Q_CHANGESFROM,
	SG_Q_CHANGESTO,
	SG_Q_IN_HIERARCHY,
	SG_Q_UNKNOWN, /* parsed but not an operator: an invalid condition */
};

enum sg_qkind {
	SG_QK_FIELD,   /* <field><op><value> */
	SG_QK_JOIN,    /* JOIN<table>.<field>=<other>.<field>!<conditions on other> */
	SG_QK_RELATED, /* RLQUERY<other>.<field>,<op><n>^<conditions>^ENDRLQUERY */
	SG_QK_TEXT,    /* 123TEXTQUERY321=<words> */
};

struct sg_query;

/* A sort key (ORDERBY / ORDERBYDESC). */
struct sg_order {
	const char *field;
	bool desc;
};

struct sg_qcond {
	enum sg_qkind kind;
	char *field; /* FIELD: a path (may dot-walk); JOIN: this table's field; RELATED: the
	                other table's field that references this one */
	enum sg_qop op;
	char *value;          /* FIELD, TEXT: the value; RELATED: the count test (">=1") */
	char *table;          /* JOIN, RELATED: the other table */
	char *other_field;    /* JOIN: the other table's field */
	struct sg_query *sub; /* JOIN, RELATED: conditions on the other table */
};

struct sg_qclause { /* conditions OR'ed together */
	struct sg_qcond *conds;
	size_t n, cap;
};

struct sg_qgroup { /* clauses AND'ed together */
	struct sg_qclause *clauses;
	size_t n, cap;
};

struct sg_query {
	struct sg_arena own;      /* a top-level query's memory */
	struct sg_arena *arena;   /* &own, or the parent's for a sub-query */
	struct sg_qgroup *groups; /* OR'ed together (^NQ) */
	size_t ngroups, gcap;
	struct sg_order *order;
	size_t norder, ocap;
};

/* Empty query (matches everything). */
void sg_query_init(struct sg_query *q);
void sg_query_cleanup(struct sg_query *q);

/* Parses an encoded query and adds its conditions to q (AND'ed with what q
 * already holds when q has one group).  False on allocation failure only:
 * malformed terms are kept as invalid conditions. */
bool sg_query_parse(struct sg_query *q, const char *encoded);
/* Adds field=value, AND'ed to every group. */
bool sg_query_add_eq(struct sg_query *q, const char *field, const char *value);

/* The most values one compiled query may bind (SQLite binds at most 32766
 * per statement; a URL of 64 KiB holds ~32,000 IN items).  The expression
 * is a balanced tree, so its depth is no limit on the number of terms. */
#define SG_QUERY_MAX_VALUES 10000

/*
 * Appends to out a SQL boolean expression for q over table t, whose row
 * columns are qualified with alias.  Conditions naming no field of t are
 * dropped, or make the whole expression false when invalid_matches_nothing;
 * *had_invalid tells whether any was seen.  A condition whose value is a
 * javascript: expression the whitelist does not evaluate matches nothing,
 * always.  Returns SG_ERR_NOMEM when memory ran out (out is then unusable),
 * the resolver's error, or SG_ERR_QUERY_TOO_LARGE past SG_QUERY_MAX_VALUES
 * values or the statement's maximum size; a statement out cannot hold (an
 * identifier that is not one) leaves out->failed set.
 */
sg_err sg_query_compile_where(const struct sg_qenv *env, const struct sg_table *t,
                              const struct sg_query *q, const char *alias,
                              bool invalid_matches_nothing, struct sg_sql *out, bool *had_invalid);

/* Appends " AND sys_class_name IN (<t and its descendants>)" when t is a
 * child in a hierarchy (its rows share the root's storage); nothing else. */
void sg_query_class_filter(struct sg_sql *out, const struct sg_table *t, const char *alias);

/* Appends " ORDER BY ..." for q's sort keys, dot-walks included; sys_id
 * breaks ties, always.  SG_ERR_NOMEM when memory ran out. */
sg_err sg_query_compile_order(const struct sg_qenv *env, const struct sg_table *t,
                              const struct sg_query *q, const char *alias, struct sg_sql *out);

#endif
