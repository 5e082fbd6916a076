/*
 * map.c - string-keyed open-addressing hash map.
 */
#include "core/map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void sg_map_init(struct sg_map *m)
{
	memset(m, 0, sizeof(*m));
}

void sg_map_cleanup(struct sg_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static struct sg_map_entry *find(struct sg_map_entry *slots, size_t cap, const char *key)
{
	size_t i = hash(key) & (cap - 1);
	while (slots[i].key && strcmp(slots[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static bool grow(struct sg_map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct sg_map_entry *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return false;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key)
			*find(slots, cap, m->slots[i].key) = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return true;
}

bool sg_map_put(struct sg_map *m, const char *key, void *value)
{
	if ((m->count + 1) * 10 > m->cap * 7 && !grow(m))
		return false;
	struct sg_map_entry *e = find(m->slots, m->cap, key);
	if (!e->key) {
		e->key = strdup(key);
		if (!e->key)
			return false;
		m->count++;
	}
	e->value = value;
	return true;
}

void *sg_map_get(const struct sg_map *m, const char *key)
{
	if (!m->cap)
		return NULL;
	return find(m->slots, m->cap, key)->value;
}
