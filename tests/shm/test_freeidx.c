// SPDX-License-Identifier: MIT
/*
 * Tests for shm/freeidx.c: best fit, by exact size for small spans and
 * in the treap for large ones, the lowest address among equals.
 */
#include <errno.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"

START_TEST(test_alloc_best_fit_small)
{
	/* holes of 5, 3, 3 pages, separated by used spans */
	uint64_t sizes[] = { 5, 1, 3, 1, 3, 1 };
	bool freed[] = { true, false, true, false, true, false };
	uint64_t offs[6];

	layout(sizes, freed, 6, offs);
	/* Smallest that fits, lowest address among equals. */
	ck_assert_uint_eq(alloc(3), offs[2]);
	ck_assert_uint_eq(alloc(2), offs[4]);
	ck_assert_uint_eq(alloc(1), offs[4] + 2 * PG);
	ck_assert_uint_eq(alloc(4), offs[0]);
}
END_TEST

START_TEST(test_alloc_lowest_address_on_tie)
{
	/* Four 2-page holes freed from the top down: still lowest first. */
	uint64_t sizes[] = { 2, 1, 2, 1, 2, 1, 2, 1 };
	bool keep[] = { false, false, false, false, false, false, false, false };
	uint64_t offs[8];

	layout(sizes, keep, 8, offs);
	for (int i = 6; i >= 0; i -= 2)
		free_at(offs[i], 1);
	for (int i = 0; i <= 6; i += 2)
		ck_assert_uint_eq(alloc(2), offs[i]);
}
END_TEST

START_TEST(test_alloc_best_fit_large)
{
	/* large holes: 300, 200, 150, 150 (the last two at rising addresses) */
	uint64_t sizes[] = { 300, 1, 200, 1, 150, 1, 150, 1 };
	bool freed[] = { true, false, true, false, true, false, true, false };
	uint64_t offs[8];

	layout(sizes, freed, 8, offs);
	ck_assert_uint_eq(alloc(140), offs[4]);
	ck_assert_uint_eq(alloc(150), offs[6]);
	/* 160 fits 200 and 300: take 200; then the 40 left is small. */
	ck_assert_uint_eq(alloc(160), offs[2]);
	ck_assert_uint_eq(alloc(40), offs[2] + 160 * PG);
	ck_assert_uint_eq(alloc(128), offs[0]);
}
END_TEST

/*
 * Large spans freed in every order land in the treap, and each is
 * found again by best fit (smallest, then lowest) whatever its depth.
 */
START_TEST(test_large_spans_any_order)
{
	enum { N = 24 };
	uint64_t offs[N], sizes[N];
	bool freed[N] = { false };

	mem_start(16384, true, META_MEMFD);
	for (int i = 0; i < N; i++) {
		sizes[i] = HEAP_SMALL_PAGES + (uint64_t)(i * 7 % N) * 3;
		offs[i] = alloc(sizes[i]);
		alloc(1);
	}
	for (int i = 0; i < N; i++) {
		int k = (i * 5) % N;

		free_at(offs[k], 1);
		freed[k] = true;
	}
	for (int i = 0; i < N; i++)
		ck_assert(freed[i]);
	/* Sizes are distinct: each comes back for exactly its size. */
	for (int i = 0; i < N; i++)
		ck_assert_uint_eq(alloc(sizes[i]), offs[i]);
	heap_check(h);
}
END_TEST

static Suite *freeidx_suite(void)
{
	Suite *s = suite_create("freeidx");
	TCase *tc;

	tc = tcase_create("best_fit");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_alloc_best_fit_small);
	tcase_add_test(tc, test_alloc_lowest_address_on_tie);
	tcase_add_test(tc, test_alloc_best_fit_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("tree");
	tcase_add_checked_fixture(tc, NULL, mem_teardown);
	tcase_add_test(tc, test_large_spans_any_order);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(freeidx_suite)
