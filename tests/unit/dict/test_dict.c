/*
 * Unit tests for the dictionary builder: inheritance, display fields,
 * choices up the chain, overrides, class lists, bad rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dict/dict.h"

static struct sg_dict *build(void)
{
	json_t *objs = json_loads(
	    "[{\"sys_id\":\"a1\",\"name\":\"base\",\"label\":\"Base\",\"is_extendable\":\"true\"},"
	    " {\"sys_id\":\"a2\",\"name\":\"child\",\"label\":\"Child\",\"super_class\":\"a1\"},"
	    " {\"sys_id\":\"a3\",\"name\":\"grandchild\",\"label\":\"GC\",\"super_class\":\"a2\"},"
	    " {\"sys_id\":\"a4\",\"name\":\"solo\",\"label\":\"Solo\"},"
	    " {\"sys_id\":\"a5\",\"name\":\"Bad Name\",\"label\":\"x\"}]",
	    0, NULL);
	json_t *dict = json_loads(
	    "[{\"name\":\"base\",\"element\":\"\",\"internal_type\":\"collection\",\"audit\":"
	    "\"true\"},"
	    " {\"name\":\"base\",\"element\":\"sys_id\",\"internal_type\":\"GUID\"},"
	    " {\"name\":\"base\",\"element\":\"number\",\"internal_type\":\"string\",\"max_"
	    "length\":\"40\"},"
	    " {\"name\":\"base\",\"element\":\"state\",\"internal_type\":\"integer\",\"default_"
	    "value\":\"1\"},"
	    " {\"name\":\"base\",\"element\":\"comments\",\"internal_type\":\"journal_input\"},"
	    " {\"name\":\"child\",\"element\":\"caller\",\"internal_type\":\"reference\","
	    "\"reference\":\"solo\"},"
	    " {\"name\":\"child\",\"element\":\"title\",\"internal_type\":\"string\",\"display\":"
	    "\"true\"},"
	    " {\"name\":\"solo\",\"element\":\"name\",\"internal_type\":\"string\"},"
	    " {\"name\":\"solo\",\"element\":\"Bad Col\",\"internal_type\":\"string\"},"
	    " {\"name\":\"nowhere\",\"element\":\"x\",\"internal_type\":\"string\"}]",
	    0, NULL);
	json_t *choices = json_loads(
	    "[{\"name\":\"base\",\"element\":\"state\",\"value\":\"2\",\"label\":\"Two\","
	    "\"sequence\":\"20\"},"
	    " {\"name\":\"base\",\"element\":\"state\",\"value\":\"1\",\"label\":\"One\","
	    "\"sequence\":\"10\"},"
	    " {\"name\":\"base\",\"element\":\"state\",\"value\":\"9\",\"label\":\"Gone\","
	    "\"inactive\":\"true\"},"
	    " {\"name\":\"child\",\"element\":\"state\",\"value\":\"5\",\"label\":\"Five\"}]",
	    0, NULL);
	json_t *ovr = json_loads(
	    "[{\"name\":\"grandchild\",\"element\":\"state\",\"default_value\":\"7\"}]", 0, NULL);
	struct sg_dict *d = sg_dict_build(objs, dict, choices, ovr);
	json_decref(objs);
	json_decref(dict);
	json_decref(choices);
	json_decref(ovr);
	return d;
}

static void hierarchy_and_fields(void **state)
{
	(void)state;
	struct sg_dict *d = build();
	assert_non_null(d);
	const struct sg_table *base = sg_dict_table(d, "base"),
	                      *gc = sg_dict_table(d, "grandchild");
	assert_non_null(gc);
	assert_null(sg_dict_table(d, "Bad Name"));
	assert_ptr_equal(gc->root, base);
	assert_true(gc->hierarchy && base->hierarchy);
	assert_false(sg_dict_table(d, "solo")->hierarchy);
	assert_true(sg_table_is_a(gc, base));
	assert_false(sg_table_is_a(base, gc));
	assert_int_equal(base->nclasses, 3);
	assert_non_null(sg_table_field(gc, "number"));
	assert_non_null(sg_table_field(gc, "caller"));
	assert_null(sg_table_field(base, "caller"));
	assert_null(sg_table_field(sg_dict_table(d, "solo"), "Bad Col"));
	/* fields are sorted by element */
	for (size_t i = 1; i < gc->nfields; i++)
		assert_true(strcmp(gc->fields[i - 1]->element, gc->fields[i]->element) < 0);
	assert_true(base->audit);
	assert_int_equal(sg_table_field(gc, "caller")->type, SG_FT_REFERENCE);
	assert_false(sg_field_is_stored(sg_table_field(gc, "comments")));
	sg_dict_free(d);
}

static void display_choices_defaults(void **state)
{
	(void)state;
	struct sg_dict *d = build();
	const struct sg_table *base = sg_dict_table(d, "base"), *child = sg_dict_table(d, "child"),
	                      *gc = sg_dict_table(d, "grandchild");
	assert_string_equal(base->display->element, "number");
	assert_string_equal(gc->display->element, "title");
	size_t n;
	const struct sg_choice *c = sg_dict_choices(d, base, "state", &n);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].value, "1"); /* sequence order, inactive dropped */
	assert_string_equal(sg_dict_choice_label(d, gc, "state", "5"), "Five");
	assert_null(sg_dict_choice_label(d, gc, "state", "1")); /* child list replaces base's */
	assert_string_equal(sg_dict_choice_label(d, base, "state", "2"), "Two");
	const struct sg_field *state_f = sg_table_field(gc, "state");
	assert_string_equal(sg_dict_default(d, gc, state_f), "7");
	assert_string_equal(sg_dict_default(d, child, state_f), "1");
	sg_dict_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hierarchy_and_fields),
	    cmocka_unit_test(display_choices_defaults),
	};
	return cmocka_run_group_tests_name("model.dict", tests, NULL, NULL);
}
