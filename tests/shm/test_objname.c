// SPDX-License-Identifier: MIT
/*
 * Tests for shm/objname.c: which byte strings are object names.  UTF-8
 * in its shortest form only, no control character, 1..255 bytes.
 */
#include <string.h>

#include "shm/object.h"
#include "tests/lib/testlib.h"

static bool valid(const char *s)
{
	return heap_obj_name_valid(s, strlen(s));
}

START_TEST(test_name_lengths)
{
	char name[HEAP_OBJ_NAME_MAX + 2];

	memset(name, 'a', sizeof(name));
	ck_assert(heap_obj_name_valid(name, 1));
	ck_assert(heap_obj_name_valid(name, HEAP_OBJ_NAME_MAX));
	ck_assert(!heap_obj_name_valid(name, HEAP_OBJ_NAME_MAX + 1));
	ck_assert(!heap_obj_name_valid(name, 0));
	ck_assert(!heap_obj_name_valid(NULL, 0));
	ck_assert(!heap_obj_name_valid(NULL, 3));
	/* 85 three-byte characters are 255 bytes; one more byte is not. */
	for (int i = 0; i < 85; i++)
		memcpy(name + 3 * i, "\xe2\x82\xac", 3);
	ck_assert(heap_obj_name_valid(name, 255));
	name[255] = 'x';
	ck_assert(!heap_obj_name_valid(name, 256));
	/* A character cut by the length is not a character. */
	ck_assert(!heap_obj_name_valid(name, 254));
}
END_TEST

START_TEST(test_name_utf8_good)
{
	ck_assert(valid("plain/ascii name-1.2_3 ~!"));
	ck_assert(valid("\xc2\xa0"));		/* U+00A0, past C1 */
	ck_assert(valid("\xc3\xa9t\xc3\xa9"));	/* "été" */
	ck_assert(valid("\xdf\xbf"));		/* U+07FF */
	ck_assert(valid("\xe0\xa0\x80"));	/* U+0800 */
	ck_assert(valid("\xed\x9f\xbf"));	/* U+D7FF */
	ck_assert(valid("\xee\x80\x80"));	/* U+E000 */
	ck_assert(valid("\xef\xbf\xbd"));	/* U+FFFD */
	ck_assert(valid("\xf0\x90\x80\x80"));	/* U+10000 */
	ck_assert(valid("\xf0\x9f\x98\x80"));	/* an emoji */
	ck_assert(valid("\xf4\x8f\xbf\xbf"));	/* U+10FFFF */
}
END_TEST

START_TEST(test_name_utf8_bad)
{
	/* Overlong forms. */
	ck_assert(!valid("\xc0\xaf"));
	ck_assert(!valid("\xc1\xbf"));
	ck_assert(!valid("\xe0\x80\xaf"));
	ck_assert(!valid("\xe0\x9f\xbf"));
	ck_assert(!valid("\xf0\x80\x80\xaf"));
	ck_assert(!valid("\xf0\x8f\xbf\xbf"));
	/* Surrogates. */
	ck_assert(!valid("\xed\xa0\x80"));
	ck_assert(!valid("\xed\xbf\xbf"));
	ck_assert(!valid("\xed\xa0\xbd\xed\xb8\x80"));	/* a CESU pair */
	/* Past U+10FFFF, and bytes that never start a character. */
	ck_assert(!valid("\xf4\x90\x80\x80"));
	ck_assert(!valid("\xf5\x80\x80\x80"));
	ck_assert(!valid("\xf8\x88\x80\x80\x80"));
	ck_assert(!valid("\xfe"));
	ck_assert(!valid("\xff"));
	/* Continuation bytes alone, missing or wrong. */
	ck_assert(!valid("\x80"));
	ck_assert(!valid("a\xbf"));
	ck_assert(!valid("\xc3"));
	ck_assert(!valid("\xc3("));
	ck_assert(!valid("\xe2\x82"));
	ck_assert(!valid("\xe2\x28\xac"));
	ck_assert(!valid("\xe2\x82\x28"));
	ck_assert(!valid("\xf0\x9f\x98"));
	ck_assert(!valid("\xf0\x9f\x98("));
	ck_assert(!valid("\xf0\x9f(\x80"));
}
END_TEST

START_TEST(test_name_controls)
{
	char c[2] = { 0, 0 };

	for (int i = 0; i < 0x20; i++) {
		c[0] = (char)i;
		ck_assert_msg(!heap_obj_name_valid(c, 1), "C0 %#x", i);
	}
	ck_assert(!heap_obj_name_valid("a\0b", 3));
	ck_assert(!valid("tab\there"));
	ck_assert(!valid("new\nline"));
	ck_assert(!valid("esc\x1b[31m"));
	ck_assert(!valid("\x7f"));		/* DEL */
	ck_assert(!valid("\xc2\x80"));		/* U+0080, C1 */
	ck_assert(!valid("\xc2\x9b"));		/* CSI */
	ck_assert(!valid("\xc2\x9f"));		/* U+009F */
	ck_assert(valid(" "));
	ck_assert(valid("~"));
}
END_TEST

static Suite *objname_suite(void)
{
	Suite *s = suite_create("objname");
	TCase *tc = tcase_create("heap_obj_name_valid");

	tcase_add_test(tc, test_name_lengths);
	tcase_add_test(tc, test_name_utf8_good);
	tcase_add_test(tc, test_name_utf8_bad);
	tcase_add_test(tc, test_name_controls);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(objname_suite)
