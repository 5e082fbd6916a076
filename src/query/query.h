/*
 * query.h - ServiceNow's encoded query language: parse to an AST, compile
 * the AST to SQL.
 *
 * "a=1^b=2^ORb=3^NQc=4^ORDERBYDESCsys_updated_on" parses to
 *   group 1: a=1 AND (b=2 OR b=3)
 *   group 2: c=4                       (groups are OR'ed: ^NQ)
 *   order:   sys_updated_on descending
 * and compiles, against the dictionary, to a WHERE expression whose every
 * value is a bound parameter.  Name=value URL filters and (later) ACL
 * conditions are built as the same AST and go through the same compiler.
 */
#ifndef SG_QUERY_QUERY_H
#define SG_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "model/dict.h"
#include "model/model.h"
#include "store/store.h"

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
	SG_Q_INSTANCEOF,
	SG_Q_UNKNOWN, /* parsed but not supported: treated as an invalid condition */
};

struct sg_qcond {
	char *field; /* may be a dot-walk path */
	enum sg_qop op;
	char *value;
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
	struct sg_arena arena; /* every string and array of the query */
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
bool sg_query_is_empty(const struct sg_query *q);

/*
 * Appends to out a SQL boolean expression for q over table t, whose row
 * columns are qualified with alias.  Conditions naming no field of t are
 * dropped, or make the whole expression false when invalid_matches_nothing;
 * *had_invalid tells whether any was seen.
 */
void sg_query_compile_where(struct sg_ctx *ctx, const struct sg_table *t, const struct sg_query *q,
			    const char *alias, bool invalid_matches_nothing, struct sg_sql *out,
			    bool *had_invalid);

/* Appends " AND sys_class_name IN (<t and its descendants>)" when t is a
 * child in a hierarchy (its rows share the root's storage); nothing else. */
void sg_query_class_filter(struct sg_sql *out, const struct sg_table *t, const char *alias);

/* Appends " ORDER BY ..." for q's sort keys (sys_id last, always). */
void sg_query_compile_order(const struct sg_table *t, const struct sg_query *q, const char *alias,
			    struct sg_sql *out);

#endif
