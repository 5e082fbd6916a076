/*
 * map.h - a string-keyed hash map of borrowed pointers.
 *
 * Keys are copied; values are not owned.  Open addressing, grows at 70%.
 */
#ifndef SG_CORE_MAP_H
#define SG_CORE_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct sg_map_entry {
	char *key;
	void *value;
};

struct sg_map {
	struct sg_map_entry *slots;
	size_t cap, count;
};

void sg_map_init(struct sg_map *m);
void sg_map_cleanup(struct sg_map *m);
/* Adds or replaces; false when out of memory. */
bool sg_map_put(struct sg_map *m, const char *key, void *value);
/* The value at key, or NULL. */
void *sg_map_get(const struct sg_map *m, const char *key);

#endif
