/*
 * Unit tests for the encoded query parser: precedence, ^NQ groups, ORDERBY,
 * escaped carets, operators.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "query/query.h"

static void and_binds_weaker_than_or(void **state)
{
	(void)state;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "a=1^b=2^ORb=3"));
	assert_int_equal(q.ngroups, 1);
	assert_int_equal(q.groups[0].n, 2); /* a=1 AND (b=2 OR b=3) */
	assert_int_equal(q.groups[0].clauses[0].n, 1);
	assert_int_equal(q.groups[0].clauses[1].n, 2);
	assert_string_equal(q.groups[0].clauses[1].conds[1].field, "b");
	assert_string_equal(q.groups[0].clauses[1].conds[1].value, "3");
	sg_query_cleanup(&q);
}

static void nq_starts_a_new_group(void **state)
{
	(void)state;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "active=true^NQpriority=1^EQ"));
	assert_int_equal(q.ngroups, 2);
	assert_string_equal(q.groups[1].clauses[0].conds[0].field, "priority");
	sg_query_cleanup(&q);
}

static void orderby_terms_collect(void **state)
{
	(void)state;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "active=true^ORDERBYDESCsys_updated_on^ORDERBYsys_id"));
	assert_int_equal(q.norder, 2);
	assert_string_equal(q.order[0].field, "sys_updated_on");
	assert_true(q.order[0].desc);
	assert_string_equal(q.order[1].field, "sys_id");
	assert_false(q.order[1].desc);
	sg_query_cleanup(&q);
}

static void operators_are_recognised(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *field;
		enum sg_qop op;
		const char *value;
	} cases[] = {
	    {"state!=7", "state", SG_Q_NE, "7"},
	    {"priority<=2", "priority", SG_Q_LE, "2"},
	    {"impactIN1,2", "impact", SG_Q_IN, "1,2"},
	    {"subcategoryNOT INdb2,oracle", "subcategory", SG_Q_NOT_IN, "db2,oracle"},
	    {"short_descriptionLIKESAP", "short_description", SG_Q_LIKE, "SAP"},
	    {"short_descriptionNOT LIKESAP", "short_description", SG_Q_NOT_LIKE, "SAP"},
	    {"numberSTARTSWITHINC", "number", SG_Q_STARTSWITH, "INC"},
	    {"caller_idISEMPTY", "caller_id", SG_Q_ISEMPTY, ""},
	    {"caller_idISNOTEMPTY", "caller_id", SG_Q_ISNOTEMPTY, ""},
	    {"caller_id.name=Abel Tuter", "caller_id.name", SG_Q_EQ, "Abel Tuter"},
	    {"sys_class_nameINSTANCEOFcmdb_ci_computer", "sys_class_name", SG_Q_INSTANCEOF,
	     "cmdb_ci_computer"},
	    {"impactBETWEEN1@3", "impact", SG_Q_BETWEEN, "1@3"},
	    {"reassignment_countGT_FIELDreopen_count", "reassignment_count", SG_Q_GT_FIELD,
	     "reopen_count"},
	    {"reassignment_countGT_OR_EQUALS_FIELDreopen_count", "reassignment_count",
	     SG_Q_GE_FIELD, "reopen_count"},
	    {"caller_idDYNAMIC90d1921e5f510100a9ad2572f2b477fe", "caller_id", SG_Q_DYNAMIC,
	     "90d1921e5f510100a9ad2572f2b477fe"},
	    {"sla_dueRELATIVEGT@hour@ago@1", "sla_due", SG_Q_RELATIVEGT, "@hour@ago@1"},
	    {"sla_dueMORETHANactivity_due@day@before@1", "sla_due", SG_Q_MORETHAN,
	     "activity_due@day@before@1"},
	    {"opened_atONToday@a@b", "opened_at", SG_Q_ON, "Today@a@b"},
	    {"opened_atNOTONToday@a@b", "opened_at", SG_Q_NOTON, "Today@a@b"},
	    {"stateCHANGESTO6", "state", SG_Q_CHANGESTO, "6"},
	    {"NotAField=1", "", SG_Q_UNKNOWN, "NotAField=1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sg_query q;
		sg_query_init(&q);
		assert_true(sg_query_parse(&q, cases[i].text));
		const struct sg_qcond *c = &q.groups[0].clauses[0].conds[0];
		assert_string_equal(c->field, cases[i].field);
		assert_int_equal(c->op, cases[i].op);
		assert_string_equal(c->value, cases[i].value);
		sg_query_cleanup(&q);
	}
}

static void escaped_caret_is_literal(void **state)
{
	(void)state;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "short_description=a^^b^active=true"));
	assert_int_equal(q.groups[0].n, 2);
	assert_string_equal(q.groups[0].clauses[0].conds[0].value, "a^b");
	sg_query_cleanup(&q);
}

static void name_value_pairs_and_into_every_group(void **state)
{
	(void)state;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "a=1^NQb=2"));
	assert_true(sg_query_add_eq(&q, "active", "true"));
	assert_int_equal(q.groups[0].n, 2);
	assert_int_equal(q.groups[1].n, 2);
	sg_query_cleanup(&q);
}

static void joins_and_related_lists(void **state)
{
	(void)state;
	struct sg_query q;
	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "active=true^JOINincident.sys_id=task_sla.task!stage=paused"
	                               "^has_breached=true^ORDERBYnumber"));
	assert_int_equal(q.groups[0].n, 2);
	const struct sg_qcond *j = &q.groups[0].clauses[1].conds[0];
	assert_int_equal(j->kind, SG_QK_JOIN);
	assert_string_equal(j->field, "sys_id");
	assert_string_equal(j->table, "task_sla");
	assert_string_equal(j->other_field, "task");
	assert_int_equal(j->sub->groups[0].n, 2); /* both conditions belong to the join */
	assert_int_equal(q.norder, 1);
	sg_query_cleanup(&q);

	sg_query_init(&q);
	assert_true(
	    sg_query_parse(&q, "RLQUERYtask_sla.task,>=1^stage=paused^ENDRLQUERY^active=true"));
	assert_int_equal(q.groups[0].n, 2);
	const struct sg_qcond *r = &q.groups[0].clauses[0].conds[0];
	assert_int_equal(r->kind, SG_QK_RELATED);
	assert_string_equal(r->table, "task_sla");
	assert_string_equal(r->field, "task");
	assert_string_equal(r->value, ">=1");
	assert_int_equal(r->sub->groups[0].n, 1);
	assert_string_equal(q.groups[0].clauses[1].conds[0].field, "active");
	sg_query_cleanup(&q);

	sg_query_init(&q);
	assert_true(sg_query_parse(&q, "123TEXTQUERY321=printer broken"));
	assert_int_equal(q.groups[0].clauses[0].conds[0].kind, SG_QK_TEXT);
	assert_string_equal(q.groups[0].clauses[0].conds[0].value, "printer broken");
	sg_query_cleanup(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(and_binds_weaker_than_or),
	    cmocka_unit_test(nq_starts_a_new_group),
	    cmocka_unit_test(orderby_terms_collect),
	    cmocka_unit_test(operators_are_recognised),
	    cmocka_unit_test(escaped_caret_is_literal),
	    cmocka_unit_test(name_value_pairs_and_into_every_group),
	    cmocka_unit_test(joins_and_related_lists),
	};
	return cmocka_run_group_tests_name("query.parse", tests, NULL, NULL);
}
