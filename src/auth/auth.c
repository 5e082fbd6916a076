/*
 * auth.c - the auth state of an open instance: one share per file of
 * src/auth (see internal.h).
 */
#include "auth/auth.h"

#include <stdlib.h>

#include "auth/internal.h"

sg_err sg_auth_new(struct sg_model *m, struct sg_auth **out)
{
	sg_err err = SG_ERR_NOMEM;
	struct sg_auth *a = calloc(1, sizeof(*a));
	if (!a)
		goto out;
	a->model = m;
	a->acl = sg__acl_cache_new();
	a->cred = sg__cred_cache_new();
	a->bearer = sg__bearer_cache_new();
	if (!a->acl || !a->cred || !a->bearer)
		goto out;
	*out = a;
	a = NULL;
	err = SG_ERR_OK;
out:
	sg_auth_free(a);
	return err;
}

void sg_auth_free(struct sg_auth *a)
{
	if (!a)
		return;
	sg__acl_cache_free(a->acl);
	sg__cred_cache_free(a->cred);
	sg__bearer_cache_free(a->bearer);
	free(a);
}
