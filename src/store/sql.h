/*
 * sql.h - statements under construction.
 *
 * Everything above the store speaks SQL through sg_sql: statement text with
 * '?' placeholders, built with quoted identifiers and bound parameters only
 * (never a value spliced into the text).  The text is the portable form:
 * ANSI double-quoted identifiers and '?' placeholders in order; a backend
 * whose engine spells either differently (PostgreSQL's $1, $2...) rewrites
 * them when it prepares the statement.  What cannot be rewritten mechanically
 * (types, case rules, date functions) the caller asks the dialect for.
 */
#ifndef SG_STORE_SQL_H
#define SG_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

enum sg_param_kind { SG_PARAM_NULL, SG_PARAM_TEXT, SG_PARAM_INT, SG_PARAM_BLOB };

struct sg_param {
	enum sg_param_kind kind;
	char
	    *text; /* TEXT: the string; BLOB: len bytes (NUL-terminated too); owned by the sg_sql */
	size_t len; /* BLOB: the length in bytes */
	long long i;
	bool borrowed; /* BLOB: text is the caller's (sg_sql_blob_ref), not freed */
};

/* A statement under construction: text plus parameters, sticky failure. */
struct sg_sql {
	struct sg_buf text;
	struct sg_param *params;
	size_t nparams, cap;
	bool failed; /* not whole: see sg_sql_error */
	bool nomem;  /* ... because memory ran out */
};

/* sg_sql_init prepares caller-owned storage; sg_sql_cleanup frees what the
 * statement holds; sg_sql_reset empties it for reuse. */
void sg_sql_init(struct sg_sql *q);
void sg_sql_cleanup(struct sg_sql *q);
void sg_sql_reset(struct sg_sql *q);
/* Appends SQL text written by the program (keywords, punctuation). */
void sg_sql_raw(struct sg_sql *q, const char *sql);
/* Appends a double-quoted identifier; a name that is not [a-z0-9_] fails q. */
void sg_sql_ident(struct sg_sql *q, const char *name);
/* Appends "table"."column". */
void sg_sql_qual(struct sg_sql *q, const char *alias, const char *column);
/* Appends '?' and binds value (copied); NULL binds SQL NULL. */
void sg_sql_text(struct sg_sql *q, const char *value);
void sg_sql_int(struct sg_sql *q, long long value);
/* Appends '?' and binds len bytes at p (copied) as a BLOB; embedded NUL bytes
 * are kept.  A NULL p binds SQL NULL; len 0 with a p binds an empty BLOB. */
void sg_sql_blob(struct sg_sql *q, const void *p, size_t len);
/* The same without the copy: p (not NULL) must stay as it is until q is
 * reset or freed.  For large values bound once (attachment chunks). */
void sg_sql_blob_ref(struct sg_sql *q, const void *p, size_t len);

/* Appends src's text and parameters to q. */
void sg_sql_append(struct sg_sql *q, const struct sg_sql *src);

/* Why q could not be built whole: SG_ERR_NOMEM when memory ran out,
 * SG_ERR_INTERNAL for a bug (an identifier that is not one, over the
 * maximum); SG_ERR_OK when it is whole. */
sg_err sg_sql_error(const struct sg_sql *q);

/* A point in a statement to rewind to, dropping what was appended since. */
struct sg_sql_mark {
	size_t len, nparams;
};
struct sg_sql_mark sg_sql_mark(const struct sg_sql *q);
void sg_sql_rewind(struct sg_sql *q, struct sg_sql_mark m);

#endif
