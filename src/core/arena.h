/*
 * arena.h - a bump allocator freed all at once.
 *
 * Request-scoped memory (h2o's pool) and long-lived structures built in one
 * go (the dictionary) take their pieces from an arena and free it whole.
 * Allocation failure returns NULL and marks the arena failed (sticky).
 */
#ifndef SG_CORE_ARENA_H
#define SG_CORE_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct sg_arena_block;

struct sg_arena {
	struct sg_arena_block *head;
	size_t used; /* bytes handed out, for limits */
	size_t max;  /* 0 = no limit */
	bool failed;
};

void sg_arena_init(struct sg_arena *a, size_t max);
void sg_arena_cleanup(struct sg_arena *a);

/* Zeroed memory, 16-byte aligned; freed with the arena. */
void *sg_arena_alloc(struct sg_arena *a, size_t size);
/* A copy of s (NULL stays NULL); freed with the arena. */
char *sg_arena_strdup(struct sg_arena *a, const char *s);
char *sg_arena_strndup(struct sg_arena *a, const char *s, size_t n);

#endif
