/*
 * tz.c - a small TZif reader (RFC 8536, version 2+ 64-bit data).
 */
#include "core/tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/map.h"

#define ZONEINFO "/usr/share/zoneinfo"
#define MAX_FILE (1024 * 1024)

struct zone {
	int64_t *times; /* transition instants, ascending */
	int *offsets;   /* offset in effect from times[i] on */
	size_t n;
	int initial; /* offset before the first transition */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sg_map zones; /* name -> struct zone * (NULL entries: unknown) */
static struct zone unknown_zone;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool valid_name(const char *name)
{
	if (!*name || name[0] == '/' || strstr(name, ".."))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '/' || *p == '_' || *p == '-' || *p == '+'))
			return false;
	return true;
}

static struct zone *parse(const unsigned char *b, size_t len)
{
	if (len < 44 || memcmp(b, "TZif", 4) != 0 || b[4] < '2')
		return NULL;
	/* Skip the version 1 block to the 64-bit one. */
	uint32_t isut = be32(b + 20), isstd = be32(b + 24), leap = be32(b + 28);
	uint32_t timecnt = be32(b + 32), typecnt = be32(b + 36), charcnt = be32(b + 40);
	size_t v1 = (size_t)timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
	if (44 + v1 + 44 > len)
		return NULL;
	const unsigned char *h = b + 44 + v1;
	if (memcmp(h, "TZif", 4) != 0)
		return NULL;
	isut = be32(h + 20);
	isstd = be32(h + 24);
	leap = be32(h + 28);
	timecnt = be32(h + 32);
	typecnt = be32(h + 36);
	charcnt = be32(h + 40);
	const unsigned char *p = h + 44;
	size_t need = (size_t)timecnt * 9 + typecnt * 6 + charcnt;
	if (typecnt == 0 || (size_t)(p - b) + need > len)
		return NULL;
	(void)isut;
	(void)isstd;
	(void)leap;
	struct zone *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->times = calloc(timecnt + 1, sizeof(*z->times));
	z->offsets = calloc(timecnt + 1, sizeof(*z->offsets));
	if (!z->times || !z->offsets) {
		free(z->times);
		free(z->offsets);
		free(z);
		return NULL;
	}
	const unsigned char *idx = p + (size_t)timecnt * 8;
	const unsigned char *types = idx + timecnt;
	for (uint32_t i = 0; i < timecnt; i++) {
		unsigned t = idx[i] < typecnt ? idx[i] : 0;
		z->times[i] = be64(p + (size_t)i * 8);
		z->offsets[i] = (int32_t)be32(types + t * 6);
	}
	z->n = timecnt;
	z->initial = (int32_t)be32(types); /* type 0 */
	return z;
}

static struct zone *load(const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", ZONEINFO, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	unsigned char *buf = malloc(MAX_FILE);
	size_t len = buf ? fread(buf, 1, MAX_FILE, f) : 0;
	fclose(f);
	struct zone *z = buf ? parse(buf, len) : NULL;
	free(buf);
	return z;
}

static const struct zone *find(const char *name)
{
	if (!name || !*name || !strcmp(name, "UTC") || !strcmp(name, "GMT") || !valid_name(name))
		return NULL;
	pthread_mutex_lock(&lock);
	struct zone *z = sg_map_get(&zones, name);
	if (!z) {
		z = load(name);
		sg_map_put(&zones, name, z ? z : &unknown_zone);
	}
	pthread_mutex_unlock(&lock);
	return z == &unknown_zone ? NULL : z;
}

static int offset_at(const struct zone *z, int64_t utc)
{
	if (z->n == 0 || utc < z->times[0])
		return z->initial;
	size_t lo = 0, hi = z->n; /* last transition <= utc */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (z->times[mid] <= utc)
			lo = mid;
		else
			hi = mid;
	}
	return z->offsets[lo];
}

bool sg_tz_offset(const char *name, int64_t utc, int *offset)
{
	*offset = 0;
	if (!name || !*name || !strcmp(name, "UTC") || !strcmp(name, "GMT"))
		return true;
	const struct zone *z = find(name);
	if (!z)
		return false;
	*offset = offset_at(z, utc);
	return true;
}

int64_t sg_tz_to_utc(const char *name, int64_t wall)
{
	const struct zone *z = find(name);
	if (!z)
		return wall;
	/* Two passes settle the offset except inside a DST gap or overlap,
	 * where the earlier reading wins. */
	int off = offset_at(z, wall);
	int off2 = offset_at(z, wall - off);
	return wall - off2;
}

void sg_tz_cleanup(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < zones.cap; i++) {
		struct zone *z = zones.slots[i].value;
		if (zones.slots[i].key && z && z != &unknown_zone) {
			free(z->times);
			free(z->offsets);
			free(z);
		}
	}
	sg_map_cleanup(&zones);
	pthread_mutex_unlock(&lock);
}
