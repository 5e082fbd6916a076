/*
 * env.h - what the query compiler and the javascript: helpers know about
 * the world beyond the query text.
 *
 * The compiler is pure: it reads no record and knows no request.  Whoever
 * compiles hands it an environment; the model builds one from a request
 * (sg_ctx_qenv in model/model.h), tests and tools may build their own.
 */
#ifndef SG_QUERY_ENV_H
#define SG_QUERY_ENV_H

#include "core/err.h"
#include "dict/dict.h"
#include "store/dialect.h"

struct sg_sql; /* store/sql.h */

/* All borrowed for one compile: the dictionary, the SQL dialect, the acting
 * user and the zone of the date helpers, and a resolver for the conditions
 * that need data (DYNAMIC names a sys_filter_option_dynamic record). */
struct sg_qenv {
	const struct sg_dict *dict;
	const struct sg_dialect *dialect;
	const char *tz;        /* IANA zone of the date helpers ("UTC") */
	const char *user_id;   /* the acting user's sys_id ("" for the system) */
	const char *user_name; /* gs.getUserName() */
	/*
	 * Reads field of record sys_id of table: *out gets a new string the
	 * caller frees (NULL when the record has no such value).
	 * SG_ERR_NO_RECORD or SG_ERR_INVALID_TABLE when there is nothing to
	 * read (the condition is invalid); any other error fails the compile.
	 * May be NULL: every lookup finds nothing.
	 */
	sg_err (*lookup)(void *ud, const char *table, const char *sys_id, const char *field,
	                 char **out);
	void *lookup_ud;
	/*
	 * The rows of another table a JOIN or RLQUERY sub-query may consult:
	 * called with that table t and its alias in the sub-query, appends to
	 * out a SQL boolean over the row under alias, AND'ed to the sub-query
	 * (the row ACLs of t, filled by whoever knows the user).  An error
	 * (out of memory) fails the compile.  May be NULL: every row.
	 */
	sg_err (*sub_rows)(void *ud, const struct sg_table *t, const char *alias,
	                   struct sg_sql *out);
	void *sub_rows_ud;
	/*
	 * Evaluates a javascript: value the built-in helpers do not know (expr:
	 * the text after "javascript:") through the script engine, as the
	 * acting user: *out a new string the caller frees, NULL when the script
	 * failed (the condition is invalid and matches nothing).  An error
	 * (out of memory) fails the compile.  May be NULL: only the helpers.
	 */
	sg_err (*script)(void *ud, const char *expr, char **out);
	void *script_ud;
};

#endif
