/*
 * fuzz.h - what the libFuzzer targets share: their start, a temporary
 * instance directory that goes with the process, and an input as a C string.
 * (Making an instance with admin: ../test_instance.h.)
 */
#ifndef SG_TESTS_FUZZ_H
#define SG_TESTS_FUZZ_H

#include <ftw.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static char fuzz_dir[] = "/tmp/sg-fuzz-XXXXXX";

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void fuzz_remove_dir(void)
{
	if (nftw(fuzz_dir, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* A new empty directory for the instance (its path), removed at exit with all
 * it then holds (the database, its log, keys/).  Aborts when it cannot. */
static inline const char *fuzz_make_dir(void)
{
	if (!mkdtemp(fuzz_dir))
		abort();
	atexit(fuzz_remove_dir);
	return fuzz_dir;
}

/* What every target's LLVMFuzzerInitialize does first: libsodium, a quiet
 * log, fuzz_make_dir (its path). */
static inline const char *fuzz_start(void)
{
	if (sodium_init() < 0)
		abort();
	sg_log_set_level(SG_LOG_ERROR);
	return fuzz_make_dir();
}

/* The input as a NUL-terminated copy the caller frees; NULL past 64 KiB (the
 * longest URL nowd reads) or when out of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return NULL;
	char *text = malloc(size + 1);
	if (text) {
		memcpy(text, data, size);
		text[size] = '\0';
	}
	return text;
}

#endif
