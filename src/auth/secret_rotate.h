/*
 * secret_rotate.h - rotating the instance key (nowctl keys rotate): see
 * secret_rotate.c for the order that makes it safe to kill at any point.
 */
#ifndef SG_AUTH_SECRET_ROTATE_H
#define SG_AUTH_SECRET_ROTATE_H

#include <stddef.h>

#include "auth/secret.h"
#include "core/err.h"
#include "model/model.h"

struct sg_secret_rotation {
	char kid[SG_SECRET_KID_LEN + 1]; /* the new key's id */
	long long resealed;              /* values re-sealed under it */
	long long unreadable;            /* values no key opens (left as they are) */
	int passes;
	int removed; /* old key files removed */
};

/*
 * Makes a new instance key current and re-seals every sealed value of ctx's
 * instance under it (every password and password2 column of every table,
 * sys_properties values), then removes the old key files once nothing uses
 * them.  ctx: the system (no ACLs).  SG_ERR_BAD_PARAM (msg) when the key
 * comes from SNOWGLOBE_KEY; other errors leave every value readable.
 */
sg_err sg_secret_rotate(struct sg_ctx *ctx, struct sg_secret_rotation *r, char *msg,
                        size_t msg_size);

#endif
