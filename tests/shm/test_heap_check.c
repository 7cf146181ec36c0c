// SPDX-License-Identifier: MIT
/*
 * Tests for shm/heap_check.c: each invariant of heap_internal.h, broken
 * by hand in a small heap, makes heap_check() abort (SIGABRT: never a
 * crash, never a hang), and the heap left alone passes.
 */
#include <signal.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"

/*
 * In a 1024-page arena grown to 768 pages: used [0,3) o1, free [3,203),
 * used [203,205) o2, free [205,210), used [210,211) o1, used [211,511)
 * o2, free [511,768).  Two large free spans, so the tree has a link.
 */
static void corrupt_setup(void)
{
	uint64_t b, d, g;

	mem_setup();
	alloc(3);
	b = alloc(200);
	alloc_at(2, o2, 0);
	d = alloc(5);
	alloc(1);
	alloc_at(300, o2, 0);
	g = alloc(150);
	free_at(b, 1);
	free_at(d, 1);
	free_at(g, 1);
	ck_assert_uint_eq(b, 3 * PG);
	ck_assert_uint_eq(d, 205 * PG);
	ck_assert_uint_eq(g, 511 * PG);
	ck_assert_uint_eq(h->meta->grown, 768);
	ck_assert_uint_eq(span_val(h, 511), 257);
}

START_TEST(test_check_passes)
{
	heap_check(h);
}
END_TEST

START_TEST(test_check_layout)
{
	h->meta->layout.small += PG;
	heap_check(h);
}
END_TEST

START_TEST(test_check_counter)
{
	h->meta->idle++;
	heap_check(h);
}
END_TEST

START_TEST(test_check_interior_mark)
{
	span_set(h, 1, SPAN_USED, 1);
	heap_check(h);
}
END_TEST

START_TEST(test_check_released_bit_in_use)
{
	bit_set(h->released, 0);
	heap_check(h);
}
END_TEST

START_TEST(test_check_freehead_bit)
{
	bit_clear(h->freehead, 3);
	heap_check(h);
}
END_TEST

START_TEST(test_check_small_index)
{
	hbm_clear(&h->small[5], 205 / 64);
	heap_check(h);
}
END_TEST

START_TEST(test_check_small_index_extra)
{
	/* Group 1 holds no free 7-page span. */
	hbm_set(&h->small[7], 1);
	heap_check(h);
}
END_TEST

START_TEST(test_check_tree)
{
	h->meta->tree_root = SPAN_NIL;
	heap_check(h);
}
END_TEST

START_TEST(test_check_adjacent_free)
{
	/* Split the free 200-page span in two that do not merge. */
	span_set(h, 3, SPAN_FREE, 100);
	span_set(h, 102, SPAN_TAIL, 3);
	span_set(h, 103, SPAN_FREE, 100);
	span_set(h, 202, SPAN_TAIL, 103);
	heap_check(h);
}
END_TEST

/* All of an interior entry is zero, not only its kind. */
START_TEST(test_check_interior_payload)
{
	h->spans[100].use.owner = 9;
	heap_check(h);
}
END_TEST

static Suite *heap_check_suite(void)
{
	Suite *s = suite_create("heap_check");
	TCase *tc;

	tc = tcase_create("ok");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test(tc, test_check_passes);
	suite_add_tcase(s, tc);

	tc = tcase_create("map");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_layout, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_counter, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_interior_mark, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_interior_payload, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_released_bit_in_use,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_adjacent_free, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_freehead_bit, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_index, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_index_extra, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_tree, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(heap_check_suite)
