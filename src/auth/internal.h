/*
 * internal.h - shared between the files of src/auth only (libuv's uv__).
 *
 * struct sg_auth holds one share per file; each file keeps its share's
 * layout to itself.
 */
#ifndef SG_AUTH_INTERNAL_H
#define SG_AUTH_INTERNAL_H

#include "auth/auth.h"

struct sg__acl_cache;    /* acl.c: compiled access controls, roles, read plans */
struct sg__cred_cache;   /* basic.c: verified (user, password) pairs */
struct sg__bearer_cache; /* oauth.c: validated bearer tokens */

struct sg_auth {
	struct sg_model *model;
	struct sg__acl_cache *acl;
	struct sg__cred_cache *cred;
	struct sg__bearer_cache *bearer;
};

/* Each share: a new empty cache, NULL when out of memory; _free takes NULL. */
struct sg__acl_cache *sg__acl_cache_new(void);
void sg__acl_cache_free(struct sg__acl_cache *c);
struct sg__cred_cache *sg__cred_cache_new(void);
void sg__cred_cache_free(struct sg__cred_cache *c);
struct sg__bearer_cache *sg__bearer_cache_new(void);
void sg__bearer_cache_free(struct sg__bearer_cache *c);

#endif
