/*
 * Group commit under failure: writes of one batch and what becomes of each
 * when one of them fails, when the database itself ends the transaction
 * (an I/O error), and when the batch's commit fails.  A VFS over the
 * default one fails reads or writes on demand; the batch is formed by
 * holding the write lock until the other writers are queued.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

/* ---- a VFS that fails on demand ------------------------------------------ */

static atomic_int fail_reads, fail_writes;
static sqlite3_vfs *real_vfs;

struct shim_file {
	sqlite3_file base;
	sqlite3_file *real;
};

#define REAL(f) (((struct shim_file *)(f))->real)
#define RM(f)   (REAL(f)->pMethods)

static int shim_close(sqlite3_file *f)
{
	return RM(f)->xClose(REAL(f));
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	if (atomic_load(&fail_reads))
		return SQLITE_IOERR_READ;
	return RM(f)->xRead(REAL(f), buf, n, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (atomic_load(&fail_writes))
		return SQLITE_IOERR_WRITE;
	return RM(f)->xWrite(REAL(f), buf, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return RM(f)->xTruncate(REAL(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	if (atomic_load(&fail_writes))
		return SQLITE_IOERR_FSYNC;
	return RM(f)->xSync(REAL(f), flags);
}

static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return RM(f)->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int lock)
{
	return RM(f)->xLock(REAL(f), lock);
}

static int shim_unlock(sqlite3_file *f, int lock)
{
	return RM(f)->xUnlock(REAL(f), lock);
}

static int shim_check_reserved(sqlite3_file *f, int *out)
{
	return RM(f)->xCheckReservedLock(REAL(f), out);
}

static int shim_file_control(sqlite3_file *f, int op, void *arg)
{
	return RM(f)->xFileControl(REAL(f), op, arg);
}

static int shim_sector_size(sqlite3_file *f)
{
	return RM(f)->xSectorSize(REAL(f));
}

static int shim_device(sqlite3_file *f)
{
	return RM(f)->xDeviceCharacteristics(REAL(f));
}

static int shim_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
	return RM(f)->xShmMap(REAL(f), region, size, extend, out);
}

static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return RM(f)->xShmLock(REAL(f), offset, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
	RM(f)->xShmBarrier(REAL(f));
}

static int shim_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return RM(f)->xShmUnmap(REAL(f), delete_flag);
}

/* No memory-mapped reads: every read goes through shim_read. */
static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	(void)f;
	(void)off;
	(void)n;
	*out = NULL;
	return SQLITE_OK;
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static const sqlite3_io_methods shim_io = {
    .iVersion = 3,
    .xClose = shim_close,
    .xRead = shim_read,
    .xWrite = shim_write,
    .xTruncate = shim_truncate,
    .xSync = shim_sync,
    .xFileSize = shim_file_size,
    .xLock = shim_lock,
    .xUnlock = shim_unlock,
    .xCheckReservedLock = shim_check_reserved,
    .xFileControl = shim_file_control,
    .xSectorSize = shim_sector_size,
    .xDeviceCharacteristics = shim_device,
    .xShmMap = shim_shm_map,
    .xShmLock = shim_shm_lock,
    .xShmBarrier = shim_shm_barrier,
    .xShmUnmap = shim_shm_unmap,
    .xFetch = shim_fetch,
    .xUnfetch = shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                     int *out_flags)
{
	(void)vfs;
	struct shim_file *p = (struct shim_file *)f;
	p->real = (sqlite3_file *)(p + 1);
	int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out_flags);
	p->base.pMethods = p->real->pMethods ? &shim_io : NULL;
	return rc;
}

static sqlite3_vfs shim_vfs;

static void install_shim(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "sg_failing";
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	sqlite3_vfs_register(&shim_vfs, 1); /* the default from now on */
}

/* ---- fixture --------------------------------------------------------------- */

static int setup(void **state)
{
	/* Made on this thread's own connection, before the store's writer
	 * exists: the writer has read none of u's pages. */
	static const char *const ddl[] = {"CREATE TABLE \"t\" (\"id\" TEXT PRIMARY KEY)",
	                                  "CREATE TABLE \"u\" (\"id\" TEXT PRIMARY KEY)", NULL};
	return store_fx_setup(state, ddl);
}

static int teardown(void **state)
{
	atomic_store(&fail_reads, 0);
	atomic_store(&fail_writes, 0);
	return store_fx_teardown(state);
}

static sg_err insert(sg_conn *c, const char *table, const char *id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "INSERT INTO ");
	sg_sql_ident(&q, table);
	sg_sql_raw(&q, " VALUES (");
	sg_sql_text(&q, id);
	sg_sql_raw(&q, ")");
	sg_err err = sg_conn_exec(c, &q, NULL, NULL, NULL);
	sg_sql_cleanup(&q);
	return err;
}

static bool stored(sg_conn *c, const char *table, const char *id)
{
	struct sg_sql q;
	sg_sql_init(&q);
	sg_sql_raw(&q, "SELECT \"id\" FROM ");
	sg_sql_ident(&q, table);
	sg_sql_raw(&q, " WHERE \"id\" = ");
	sg_sql_text(&q, id);
	char *out = NULL;
	assert_int_equal(sg_conn_query_string(c, &q, &out), SG_ERR_OK);
	sg_sql_cleanup(&q);
	bool found = out != NULL;
	free(out);
	return found;
}

/* One write on its own thread: begin, insert, then commit or roll back. */
struct writer {
	sg_store *s;
	const char *table, *id;
	bool keep;           /* commit (else roll back, as the model does on a failure) */
	bool fail_its_reads; /* its insert meets an I/O error */
	pthread_t thread;
	sg_err begin, insert, end;
};

static void *write_one(void *arg)
{
	struct writer *w = arg;
	sg_conn *c = sg_store_conn(w->s);
	w->begin = sg_conn_begin(c, true);
	if (w->begin)
		return NULL;
	if (w->fail_its_reads)
		atomic_store(&fail_reads, 1);
	w->insert = insert(c, w->table, w->id);
	atomic_store(&fail_reads, 0);
	if (w->keep && !w->insert) {
		w->end = sg_conn_commit(c);
	} else {
		sg_conn_rollback(c);
		w->end = SG_ERR_STORE;
	}
	return NULL;
}

static void start(struct writer *w)
{
	assert_int_equal(pthread_create(&w->thread, NULL, write_one, w), 0);
}

/* Waits until n writers are queued behind the write lock. */
static void wait_queued(sg_store *s, int n)
{
	for (int i = 0; sg_store_queued_writers(s) < n; i++) {
		assert_true(i < 10000); /* 10 s */
		nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
	}
}

/* Opens a batch on this thread with a write of "a" to t, starts the n
 * writers, and holds the write lock until they are all queued behind it. */
static void hold_batch(struct fx *f, struct writer *w, int n)
{
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, "t", "a"), SG_ERR_OK);
	for (int i = 0; i < n; i++)
		start(&w[i]);
	wait_queued(f->s, n);
}

static void join_all(struct writer *w, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
}

/* ---- tests ----------------------------------------------------------------- */

/* One more write after the batch: the store goes on. */
static void write_after(struct fx *f, const char *table)
{
	assert_int_equal(sg_conn_begin(f->c, true), SG_ERR_OK);
	assert_int_equal(insert(f->c, table, "after"), SG_ERR_OK);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK);
	assert_true(stored(f->c, table, "after"));
}

/* A write that opened the batch and fails goes alone; the queued write that
 * follows opens a batch of its own. */
static void first_write_failing_goes_alone(void **state)
{
	struct fx *f = *state;
	struct writer w[] = {{.s = f->s, .table = "t", .id = "b", .keep = true}};
	hold_batch(f, w, 1);
	sg_conn_rollback(f->c);
	join_all(w, 1);
	assert_int_equal(w[0].end, SG_ERR_OK);
	assert_false(stored(f->c, "t", "a"));
	assert_true(stored(f->c, "t", "b"));
}

/* A later write that fails is rolled back to its savepoint; the writes
 * before and after it in the batch are committed and answered. */
static void later_write_failing_leaves_the_batch(void **state)
{
	struct fx *f = *state;
	struct writer w[] = {{.s = f->s, .table = "t", .id = "b", .keep = false},
	                     {.s = f->s, .table = "t", .id = "c", .keep = true}};
	hold_batch(f, w, 2);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_OK); /* waits for the batch */
	join_all(w, 2);
	assert_int_equal(w[1].end, SG_ERR_OK);
	assert_true(stored(f->c, "t", "a"));
	assert_false(stored(f->c, "t", "b"));
	assert_true(stored(f->c, "t", "c"));
}

/* An I/O error inside a later write makes SQLite roll back the whole
 * transaction: the earlier write, already settled in the batch but not
 * answered, is refused too, and nothing of the batch is stored. */
static void io_error_refuses_the_whole_batch(void **state)
{
	struct fx *f = *state;
	struct writer w[] = {
	    {.s = f->s, .table = "u", .id = "b", .keep = true, .fail_its_reads = true}};
	expect_errors("an injected read failure (disk I/O error, batch rolled back)");
	hold_batch(f, w, 1);
	assert_int_equal(sg_conn_commit(f->c), SG_ERR_STORE);
	join_all(w, 1);
	expect_errors_end();
	assert_int_not_equal(w[0].insert, SG_ERR_OK);
	assert_false(stored(f->c, "t", "a"));
	assert_false(stored(f->c, "u", "b"));
	write_after(f, "u");
}

/* The batch's commit fails (the log cannot be written): every write of the
 * batch gets the error, none is stored, and later writes succeed. */
static void failed_commit_refuses_every_write(void **state)
{
	struct fx *f = *state;
	struct writer w[] = {{.s = f->s, .table = "t", .id = "b", .keep = true},
	                     {.s = f->s, .table = "t", .id = "c", .keep = true}};
	hold_batch(f, w, 2);
	expect_errors("an injected write failure (disk I/O error, commit failed)");
	atomic_store(&fail_writes, 1);
	sg_err a = sg_conn_commit(f->c);
	join_all(w, 2);
	atomic_store(&fail_writes, 0);
	expect_errors_end();
	assert_int_equal(a, SG_ERR_STORE);
	assert_int_equal(w[0].end, SG_ERR_STORE);
	assert_int_equal(w[1].end, SG_ERR_STORE);
	assert_false(stored(f->c, "t", "a"));
	assert_false(stored(f->c, "t", "b"));
	assert_false(stored(f->c, "t", "c"));
	write_after(f, "t");
}

int main(void)
{
	install_shim();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(first_write_failing_goes_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(later_write_failing_leaves_the_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(io_error_refuses_the_whole_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(failed_commit_refuses_every_write, setup, teardown),
	};
	return cmocka_run_group_tests_name("store.batch", tests, NULL, NULL);
}
