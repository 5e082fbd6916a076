/*
 * migrate.h - copying a whole instance from one store to another
 * (nowctl migrate: SQLite to PostgreSQL, or back).
 *
 * Both ends are opened through the store interface, so nothing here knows
 * which engine is which.  The target's schema is made by the same code that
 * makes a new instance's (sg__gen_create, sg__ddl_create_table) from the
 * source's dictionary, so tables made later from sys_db_object and
 * sys_dictionary rows (u_ tables and fields) come along; then every row of
 * every table, the change counters (sg_generation) and the number counters
 * (sys_number rows) are copied as stored -- password2 values stay sealed
 * under the instance key, which is not in the database -- and the rows of
 * each table are counted at both ends before the one target transaction
 * commits.  Attachment content comes along from the files beside a SQLite
 * source into a server's content table, or back (sg_attach_migrate).
 */
#ifndef SG_MODEL_MIGRATE_H
#define SG_MODEL_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "model/attachment.h"

/* Called for each table copied, with its row count at each end. */
typedef void (*sg_migrate_fn)(void *ud, const char *table, long long from_rows, long long to_rows);

struct sg_migrate_result {
	/* The database files (new strings, caller frees; NULL for an engine
	 * without one, a server): where each end's key file is found. */
	char *from_file, *to_file;
	size_t tables;
	long long rows;
	/* The attachment content copied (sg_attach_migrate). */
	struct sg_attach_migrated content;
	/* Why it was refused or failed, for the admin (never a URL). */
	char why[256];
};

/*
 * Copies the instance at from (a store URL, sg_store_open) into to, made
 * when missing.  A target that already holds any of the instance's tables
 * is refused (SG_ERR_INVALID_INSERT) unless force, when they are dropped
 * first (inside the same transaction).  SG_ERR_NO_RESOURCE when from holds
 * no instance; SG_ERR_STORE when a copy or a count fails (nothing is left
 * in the target's tables: the transaction rolled back).  res is filled in
 * either case; free its strings with sg_migrate_result_cleanup.
 */
sg_err sg_model_migrate(const char *from, const char *to, bool force, sg_migrate_fn fn, void *ud,
                        struct sg_migrate_result *res);
void sg_migrate_result_cleanup(struct sg_migrate_result *res);

#endif
