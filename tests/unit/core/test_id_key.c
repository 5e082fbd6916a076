/*
 * Unit tests for issue 13, item 8: which sys_ids a record may have.  A
 * generated id is 32 lowercase hex characters; a client may choose any 32
 * characters from RFC 3986's unreserved set (reference 9.1), nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/util.h"

static void generated_ids_are_keys(void **state)
{
	(void)state;
	char a[SG_ID_LEN + 1];
	sg_id_new(a);
	assert_true(sg_id_is_key(a));
	assert_true(sg_id_is_key("6816f79cc0a8016401c5a33be04be441"));
}

static void client_chosen_ids(void **state)
{
	(void)state;
	assert_true(sg_id_is_key("AAAABBBBCCCCDDDDEEEEFFFF00001111"));
	assert_false(sg_id_is_valid("AAAABBBBCCCCDDDDEEEEFFFF00001111"));
	assert_true(sg_id_is_key("abc-def.ghi_jkl~MNOPQRSTUVWXYZ01"));
	assert_true(sg_id_is_key("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"));
}

static void unusable_ids(void **state)
{
	(void)state;
	assert_false(sg_id_is_key(NULL));
	assert_false(sg_id_is_key(""));
	assert_false(sg_id_is_key("AAAABBBBCCCCDDDDEEEEFFFF0000111"));   /* 31 */
	assert_false(sg_id_is_key("AAAABBBBCCCCDDDDEEEEFFFF000011112")); /* 33 */
	assert_false(sg_id_is_key("AAAA BBBBCCCCDDDDEEEEFFFF0000111"));
	assert_false(sg_id_is_key("AAAA/BBBBCCCCDDDDEEEEFFFF0000111"));
	assert_false(sg_id_is_key("AAAA%BBBBCCCCDDDDEEEEFFFF0000111"));
	assert_false(sg_id_is_key("AAAA?BBBBCCCCDDDDEEEEFFFF0000111"));
	assert_false(sg_id_is_key("AAAA\nBBBBCCCCDDDDEEEEFFFF0000111"));
	assert_false(sg_id_is_key("AAAA\xc3\xa9"
	                          "BBBCCCCDDDDEEEEFFFF000011"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(generated_ids_are_keys),
	    cmocka_unit_test(client_chosen_ids),
	    cmocka_unit_test(unusable_ids),
	};
	return cmocka_run_group_tests_name("core.id_key", tests, NULL, NULL);
}
