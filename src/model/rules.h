/*
 * rules.h - the write pipeline as a table of rules.
 *
 * Every record write (sg_rec_insert, sg_rec_update, sg_rec_delete) runs the
 * rules that apply to the record's table, phase by phase:
 *
 *   prepare       before the transaction, on the caller's input: no lock is
 *                 held, so slow work (password hashing) goes here;
 *   before        in the transaction, before the record is stored: computed
 *                 fields, state models, data policies, numbering;
 *   after         in the transaction, after it is stored: journal, audit,
 *                 DDL for the dictionary tables, change counters;
 *   after-commit  once the commit succeeded, never after a rollback:
 *                 dictionary reload, cache invalidation.
 *
 * A rule names a table and applies to every table extending it (a rule on
 * task fires for incident); within a phase rules run by order, then in the
 * order they were added.  The model's own rules are a static table in
 * rules.c; upper layers (auth, later business rules and outbound triggers)
 * add theirs with sg_model_add_rules when they open the model.
 */
#ifndef SG_MODEL_RULES_H
#define SG_MODEL_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "model/model.h"

enum sg_rule_phase {
	SG_RULE_PREPARE,
	SG_RULE_BEFORE,
	SG_RULE_AFTER,
	SG_RULE_AFTER_COMMIT,
};

/* Which writes a rule applies to (a mask). */
enum {
	SG_OP_INSERT = 1,
	SG_OP_UPDATE = 2,
	SG_OP_DELETE = 4,
	SG_OP_WRITE = SG_OP_INSERT | SG_OP_UPDATE,
	SG_OP_ANY = SG_OP_INSERT | SG_OP_UPDATE | SG_OP_DELETE,
};

/*
 * A record being written: what rules see and may change.
 *
 * prepare: table is the table the caller named and cls is the same table
 * (the record's own class is read inside the transaction); only input may
 * be changed, through sg_write_seal.  before/after: rec is the record as it
 * will be (was) stored; old the stored record on update and delete.  On
 * delete rec, explicit and journal are NULL.  after-commit: the same, read
 * only.
 */
struct sg_write {
	struct sg_ctx *ctx;
	const struct sg_table *table; /* the table named by the caller */
	const struct sg_table *cls;   /* the record's own class */
	const struct sg_write_opts *opts;
	json_t *input;    /* the caller's input (prepare); borrowed until sealed */
	json_t *sealed;   /* prepare: fields a rule sealed: element -> true */
	json_t *old;      /* the stored record (update, delete), NULL on insert */
	json_t *rec;      /* the record as it will be stored */
	json_t *explicit; /* fields the caller set: element -> true */
	json_t *journal;  /* journal field -> text to append */
	json_t *after;    /* rules' notes for after-commit (an array), freed with the write */
	unsigned op;      /* SG_OP_INSERT, SG_OP_UPDATE or SG_OP_DELETE */
	bool insert;      /* op == SG_OP_INSERT */
	bool input_owned; /* input is this write's copy */
	bool failed;      /* sticky: an allocation failed while changing rec */
};

struct sg_rule {
	const char *name;  /* for logs: "itsm.priority" */
	const char *table; /* the table it applies to, and those extending it; NULL: all */
	enum sg_rule_phase phase;
	unsigned ops; /* SG_OP_* */
	int order;    /* lower first within a phase */
	/* An error aborts the write (rolled back), except after commit, where
	 * it is logged. */
	sg_err (*fn)(struct sg_write *w);
};

/*
 * Adds n rules to every write of m.  rules is borrowed (a static table):
 * it must outlive m.  Call before m is shared between threads.
 * SG_ERR_NOMEM, or SG_ERR_OK.
 */
sg_err sg_model_add_rules(struct sg_model *m, const struct sg_rule *rules, size_t n);

/* The value of element in w->rec ("" when absent). Borrowed. */
const char *sg_write_val(const struct sg_write *w, const char *element);
/* Sets element in w->rec (NULL: ""); an allocation failure is kept in
 * w->failed and fails the write. */
void sg_write_set(struct sg_write *w, const char *element, const char *value);
/* True when element's value differs between old and rec (or, on insert, is
 * not empty). */
bool sg_write_changed(const struct sg_write *w, const char *element);

/*
 * Prepare phase: the text the write will take for element from the input
 * (a number or {"value": ...} given as text; scratch holds it when needed),
 * or NULL when the input has no usable value for it.  Borrowed.
 */
const char *sg_write_input_text(const struct sg_write *w, const char *element, char *scratch,
                                size_t scratch_size);
/*
 * Prepare phase: replaces element's input value with stored (copied) and
 * marks it sealed: the form to store as is.  A password field is stored
 * only when sealed (one-way, by the rule that hashes it); unsealed, the
 * write fails rather than keep a password in clear.
 */
sg_err sg_write_seal(struct sg_write *w, const char *element, const char *stored);

/* Counts a change to the cached domain counter ("users", "acl", ...) in the
 * write's transaction, so every process sees it with the commit.  Nothing
 * while the instance is being created. */
sg_err sg_write_bump(struct sg_write *w, const char *counter);

#endif
