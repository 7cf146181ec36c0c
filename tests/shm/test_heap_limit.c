// SPDX-License-Identifier: MIT
/*
 * Tests for the memory limit of shm/heap.c (heap_set_limit()): no
 * allocation leaves consumed bytes (sys - released) above it, whatever
 * path it takes (a fit, a grow, a magazine span), one that would fails
 * with -ENOBUFS and changes nothing, and idle pages that are not released
 * cost nothing to reuse.  Over the 1024-page heap of mem_setup(), which
 * grows 256 pages at a time.
 */
#include <errno.h>
#include <string.h>

#include "shm/heap.h"
#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"

static uint64_t consumed(void)
{
	struct heap_stats st = stats();

	return (st.sys - st.released) / PG;
}

/* An allocation of @npages that must be refused, changing nothing. */
static void refused(uint64_t npages)
{
	struct heap_stats before = stats(), after;
	struct heap_span s;

	ck_assert_int_eq(heap_alloc(h, npages, 0, o1, 0, &s), -ENOBUFS);
	ck_assert_int_eq(heap_mag_alloc(h, npages, o1, 0, &s), -ENOBUFS);
	heap_check(h);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
}

START_TEST(test_limit_default_none)
{
	ck_assert_uint_eq(heap_limit(h), 0);
	alloc(1024);
	ck_assert_uint_eq(consumed(), 1024);
}
END_TEST

START_TEST(test_limit_set_and_clear)
{
	heap_set_limit(h, 100 * PG + 123);
	ck_assert_uint_eq(heap_limit(h), 100 * PG);
	heap_set_limit(h, 0);
	ck_assert_uint_eq(heap_limit(h), 0);
	/* Above what an arena can hold: none. */
	heap_set_limit(h, UINT64_MAX);
	ck_assert_uint_eq(heap_limit(h), 0);
	heap_set_limit(h, 1024 * PG);
	ck_assert_uint_eq(heap_limit(h), 1024 * PG);
}
END_TEST

START_TEST(test_limit_refuses_released_pages)
{
	heap_set_limit(h, 100 * PG);
	alloc(60);
	alloc(40);
	ck_assert_uint_eq(consumed(), 100);
	refused(1);
	/* The limit counts pages, not spans: exactly at it is fine. */
	ck_assert_uint_eq(consumed(), 100);
}
END_TEST

START_TEST(test_limit_dirty_idle_pages_are_free_to_reuse)
{
	uint64_t b;

	heap_set_limit(h, 100 * PG);
	alloc(60);
	b = alloc(40);
	free_at(b, SEC);
	/* Freed, not released: still consumed, and reusable at no cost. */
	ck_assert_uint_eq(consumed(), 100);
	ck_assert_uint_eq(alloc(40), b);
	free_at(b, SEC);
	/* One page more than the dirty ones is one released page too many. */
	refused(41);
	/* Releasing the idle pages makes room. */
	ck_assert_uint_eq(release_pass(2 * SEC, 0), 40 * PG);
	ck_assert_uint_eq(consumed(), 60);
	alloc(40);
	ck_assert_uint_eq(consumed(), 100);
	refused(1);
}
END_TEST

START_TEST(test_limit_checked_before_growing)
{
	heap_set_limit(h, 300 * PG);
	alloc(256);
	ck_assert_uint_eq(stats().sys, 256 * PG);
	/* Growing would make 50 pages consumed: refused, and no growth. */
	refused(50);
	ck_assert_uint_eq(stats().sys, 256 * PG);
	alloc(44);
	ck_assert_uint_eq(stats().sys, 512 * PG);
	ck_assert_uint_eq(consumed(), 300);
	refused(1);
}
END_TEST

START_TEST(test_limit_grow_counts_the_dirty_tail)
{
	uint64_t b;

	alloc(200);
	b = alloc(56);
	free_at(b, SEC);
	heap_set_limit(h, 260 * PG);
	/*
	 * 60 pages do not fit in the 56 dirty ones at the end: the heap
	 * grows and the span takes them and 4 new (released) pages.
	 */
	ck_assert_uint_eq(alloc(60), b);
	ck_assert_uint_eq(consumed(), 260);
	refused(1);
}
END_TEST

START_TEST(test_limit_partly_released_span)
{
	uint64_t a, b;

	heap_set_limit(h, 256 * PG);
	a = alloc(10);
	b = alloc(10);
	alloc(236);
	free_at(a, SEC);
	ck_assert_uint_eq(release_pass(2 * SEC, 0), 10 * PG);
	free_at(b, 3 * SEC);
	/* One free span: 10 released pages, then 10 dirty ones. */
	ck_assert_uint_eq(consumed(), 246);
	ck_assert_uint_eq(alloc(20), a);
	ck_assert_uint_eq(consumed(), 256);
	refused(1);
}
END_TEST

START_TEST(test_limit_lowered_below_consumed)
{
	uint64_t a = alloc(100);

	free_at(a, SEC);
	alloc(50);
	heap_set_limit(h, 10 * PG);
	/* Over the limit already: dirty pages may still be reused... */
	ck_assert_uint_eq(alloc(50), a + 50 * PG);
	/* ...but nothing more becomes consumed. */
	refused(1);
	ck_assert_uint_eq(consumed(), 100);
}
END_TEST

static Suite *heap_limit_suite(void)
{
	Suite *s = suite_create("heap_limit");
	TCase *tc = tcase_create("limit");

	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_limit_default_none);
	tcase_add_test(tc, test_limit_set_and_clear);
	tcase_add_test(tc, test_limit_refuses_released_pages);
	tcase_add_test(tc, test_limit_dirty_idle_pages_are_free_to_reuse);
	tcase_add_test(tc, test_limit_checked_before_growing);
	tcase_add_test(tc, test_limit_grow_counts_the_dirty_tail);
	tcase_add_test(tc, test_limit_partly_released_span);
	tcase_add_test(tc, test_limit_lowered_below_consumed);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(heap_limit_suite)
