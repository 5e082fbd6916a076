/*
 * rules.h - auth's rules in the model's write pipeline.
 */
#ifndef SG_AUTH_RULES_H
#define SG_AUTH_RULES_H

#include "core/err.h"
#include "model/model.h"

/*
 * Adds auth's write rules to m: password fields are hashed (argon2id)
 * before a write takes the write lock, and writes to the tables auth caches
 * (users, groups and roles; access controls; OAuth applications, tokens
 * and scopes) count a change so every process drops what it cached.  Every
 * program that writes records calls this when it opens the model (and
 * passes it to sg_model_init_instance): without it the model refuses to
 * store a password.  SG_ERR_NOMEM or SG_ERR_OK.
 */
sg_err sg_auth_add_rules(struct sg_model *m);

/* rules_guide.c: role containment refuses loops; deleting an application
 * deletes its tokens, scope links and profiles.  Added by sg_auth_add_rules. */
sg_err sg_auth_add_guide_rules(struct sg_model *m);

#endif
