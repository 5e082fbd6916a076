/*
 * snapshot.h - named snapshots of a whole instance, kept beside it.
 *
 * A snapshot is a copy of the instance's database, made with the store's
 * online backup (sg_store_backup) while the instance serves, in the folder
 * "snapshots" beside the database: DIR/snapshots/NAME.db for --data DIR,
 * PATH's folder/snapshots/STEM/NAME.db for sqlite:PATH (STEM: the file's
 * name without its extension, as for its key file).  It holds exactly what
 * the database holds: password2 values stay sealed, and the instance key
 * (keys/, beside the database) is not in it.  Attachment content files
 * (attachments/, content-addressed) are not copied either: see
 * docs/test-powers.md.
 *
 * Restoring one replaces the whole database at once (sg_store_restore:
 * readers see all of before or all of after, writes acknowledged before it
 * are gone, writes after it apply to the snapshot's state), with every
 * change counter of the copy (sg_generation) moved past both its own value
 * and the live one: every process's caches of the dictionary, properties,
 * users and roles, ACLs, OAuth tokens, rate-limit rules and counts see a
 * change and reload on their next read.
 *
 * nowctl init saves the instance as created as the snapshot SG_SNAPSHOT_INIT
 * (POST /_snowglobe/reset goes back to it).
 */
#ifndef SG_MODEL_SNAPSHOT_H
#define SG_MODEL_SNAPSHOT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "model/model.h"

#define SG_SNAPSHOT_INIT     "init"
#define SG_SNAPSHOT_NAME_MAX 64
/* At most this many snapshots are listed (and kept: save refuses more). */
#define SG_SNAPSHOT_MAX 256

/* True for a name of 1..SG_SNAPSHOT_NAME_MAX characters of [A-Za-z0-9_.-]
 * that does not start with '.' (no path, no hidden or temporary file). */
bool sg_snapshot_name_ok(const char *name);

/* The snapshot folder of m (see above): new string, NULL when out of
 * memory. */
char *sg_snapshot_dir(const struct sg_model *m);

/*
 * Saves m's database as the snapshot name (replacing one of that name).
 * SG_ERR_BAD_PARAM for a bad name (callers check sg_snapshot_name_ok first),
 * SG_ERR_STORE when it cannot be written.
 */
sg_err sg_snapshot_save(struct sg_model *m, const char *name);
/* Restores the snapshot name into m; SG_ERR_NO_RECORD when there is none. */
sg_err sg_snapshot_restore(struct sg_model *m, const char *name);
/* Deletes the snapshot name; SG_ERR_NO_RECORD when there is none. */
sg_err sg_snapshot_delete(struct sg_model *m, const char *name);
/* *out: a new array of {"name", "size" (bytes, a number), "created" (UTC
 * "YYYY-MM-DD HH:MM:SS", the file's time)} in name order. */
sg_err sg_snapshot_list(struct sg_model *m, json_t **out);

#endif
