/*
 * arena.c - bump allocator.
 */
#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE 16384

struct sg_arena_block {
	struct sg_arena_block *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

void sg_arena_init(struct sg_arena *a, size_t max)
{
	memset(a, 0, sizeof(*a));
	a->max = max;
}

void sg_arena_cleanup(struct sg_arena *a)
{
	struct sg_arena_block *b = a->head;
	while (b) {
		struct sg_arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
	a->used = 0;
}

void *sg_arena_alloc(struct sg_arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (a->failed || (a->max && a->used + size > a->max)) {
		a->failed = true;
		return NULL;
	}
	struct sg_arena_block *b = a->head;
	if (!b || b->size - b->used < size) {
		size_t bs = size > BLOCK_SIZE ? size : BLOCK_SIZE;
		b = malloc(sizeof(*b) + bs);
		if (!b) {
			a->failed = true;
			return NULL;
		}
		b->size = bs;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += size;
	a->used += size;
	memset(p, 0, size);
	return p;
}

char *sg_arena_strndup(struct sg_arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *p = sg_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *sg_arena_strdup(struct sg_arena *a, const char *s)
{
	return s ? sg_arena_strndup(a, s, strlen(s)) : NULL;
}
