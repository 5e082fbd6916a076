/*
 * sqlite_dialect.c - how SQLite spells what differs between engines.
 *
 * Case rules come from the column: TEXT columns are declared COLLATE NOCASE,
 * so =, <, IN, ORDER BY and indexes on them ignore ASCII case, and LIKE
 * already does.
 */
#include <stdio.h>
#include <string.h>

#include "store/dialect.h"

static const char *sq_type_name(enum sg_coltype type)
{
	switch (type) {
	case SG_COL_INTEGER:
		return "INTEGER";
	case SG_COL_REAL:
		return "REAL";
	case SG_COL_BLOB:
		return "BLOB";
	case SG_COL_ID:
		return "TEXT"; /* compared exactly: ids are lower-case hex */
	default:
		/* Text compares and sorts case-insensitively, as on the platform's
		 * database; indexes follow the column's collation. */
		return "TEXT COLLATE NOCASE";
	}
}
static void sq_date_add(struct sg_sql *q, const char *alias, const char *col, long long n,
                        const char *unit)
{
	char mod[64];
	snprintf(mod, sizeof(mod), "%+lld %ss", n, unit);
	sg_sql_raw(q, "datetime(");
	sg_sql_qual(q, alias, col);
	sg_sql_raw(q, ", ");
	sg_sql_text(q, mod);
	sg_sql_raw(q, ")");
}
static bool sq_date_part(struct sg_sql *q, const char *alias, const char *col, const char *part)
{
	static const struct {
		const char *part, *fmt;
	} parts[] = {{"dayofweek", "%w"}, {"month", "%m"},      {"year", "%Y"},
	             {"hour", "%H"},      {"dayofmonth", "%d"}, {"day", "%d"},
	             {"minute", "%M"},    {"week", "%W"},       {"quarter", "%m"}};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (strcmp(part, parts[i].part) != 0)
			continue;
		bool quarter = !strcmp(part, "quarter");
		sg_sql_raw(q, quarter ? "((CAST(strftime(" : "CAST(strftime(");
		sg_sql_text(q, parts[i].fmt);
		sg_sql_raw(q, ", ");
		sg_sql_qual(q, alias, col);
		sg_sql_raw(q, quarter ? ") AS INTEGER) + 2) / 3)" : ") AS INTEGER)");
		return true;
	}
	return false;
}

static void column_def(struct sg_sql *q, const struct sg_coldef *col)
{
	sg_sql_ident(q, col->name);
	sg_sql_raw(q, " ");
	sg_sql_raw(q, sq_type_name(col->type));
	if (col->type == SG_COL_ID)
		sg_sql_raw(q, " PRIMARY KEY NOT NULL");
}

static void sq_create_table(struct sg_sql *q, const char *table, const struct sg_coldef *cols,
                            size_t ncols)
{
	sg_sql_raw(q, "CREATE TABLE ");
	sg_sql_ident(q, table);
	sg_sql_raw(q, " (");
	for (size_t i = 0; i < ncols; i++) {
		sg_sql_raw(q, i ? ", " : "");
		column_def(q, &cols[i]);
	}
	sg_sql_raw(q, ")");
}

static void sq_add_column(struct sg_sql *q, const char *table, const struct sg_coldef *col)
{
	sg_sql_raw(q, "ALTER TABLE ");
	sg_sql_ident(q, table);
	sg_sql_raw(q, " ADD COLUMN ");
	column_def(q, col);
}

static void sq_create_index(struct sg_sql *q, const char *table, const char *name,
                            const char *const *cols, size_t ncols)
{
	sg_sql_raw(q, "CREATE INDEX IF NOT EXISTS ");
	sg_sql_ident(q, name);
	sg_sql_raw(q, " ON ");
	sg_sql_ident(q, table);
	sg_sql_raw(q, " (");
	for (size_t i = 0; i < ncols; i++) {
		sg_sql_raw(q, i ? ", " : "");
		sg_sql_ident(q, cols[i]);
	}
	sg_sql_raw(q, ")");
}

static bool sq_db_file(struct sg_sql *q)
{
	sg_sql_raw(q, "SELECT \"file\" FROM pragma_database_list WHERE \"name\" = 'main'");
	return true;
}

const struct sg_dialect sg_dialect_sqlite = {
    .name = "sqlite",
    .like = " LIKE ",
    .not_like = " NOT LIKE ",
    .type_name = sq_type_name,
    .create_table = sq_create_table,
    .add_column = sq_add_column,
    .create_index = sq_create_index,
    .date_add = sq_date_add,
    .date_part = sq_date_part,
    /* NULL is the smallest value in SQLite: its defaults are the platform's */
    .order_asc = "",
    .order_desc = " DESC",
    .db_file = sq_db_file,
};
