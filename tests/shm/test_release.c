// SPDX-License-Identifier: MIT
/*
 * Tests for shm/release.c: which free pages a release takes and when,
 * held runs, ranges of departed owners, and stray pages.  Over plain
 * memory whose release hook zeroes the range as a punch-hole would.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"

/* take, release, return */

START_TEST(test_scavenge_exactly_after_delay)
{
	uint64_t a = alloc(4);
	uint64_t t0 = 100 * SEC, delay = 5 * SEC;

	alloc(1);
	free_at(a, t0);
	ck_assert_uint_eq(release_pass(t0 + delay, delay), 0);
	ck_assert_uint_eq(mem.nrelease, 0);
	ck_assert_uint_eq(release_pass(t0 + delay + 1, delay), 4 * PG);
	ck_assert_uint_eq(mem.nrelease, 1);
	ck_assert_uint_eq(mem.last_off, a);
	ck_assert_uint_eq(mem.last_len, 4 * PG);
	ck_assert_uint_eq(stats().released, stats().idle);
	/* Nothing twice. */
	ck_assert_uint_eq(release_pass(t0 + 10 * delay, delay), 0);
	ck_assert_uint_eq(mem.nrelease, 1);
}
END_TEST

START_TEST(test_scavenge_partial_and_coalesce)
{
	uint64_t sizes[] = { 4, 6, 1 };
	bool none[3] = { false };
	uint64_t o[3], t0 = SEC, delay = SEC;
	struct heap_stats st;

	layout(sizes, none, 3, o);
	free_at(o[0], t0);
	ck_assert_uint_eq(release_pass(t0 + delay + 1, delay), 4 * PG);
	/* B is freed later: it joins A, whose pages stay released. */
	free_at(o[1], 10 * SEC);
	st = stats();
	ck_assert_uint_eq(st.released - (256 - 11) * PG, 4 * PG);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 4);
	/* Not yet: B's pages are young. */
	ck_assert_uint_eq(release_pass(10 * SEC + delay, delay), 0);
	/* Only B's pages go to the OS, in one call. */
	mem.nrelease = 0;
	ck_assert_uint_eq(release_pass(10 * SEC + delay + 1, delay), 6 * PG);
	ck_assert_uint_eq(mem.nrelease, 1);
	ck_assert_uint_eq(mem.last_off, o[1]);
	ck_assert_uint_eq(mem.last_len, 6 * PG);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 10);
}
END_TEST

START_TEST(test_scavenge_released_neighbour_keeps_age)
{
	/* A dirty free span keeps its age when a released one joins it. */
	uint64_t a = alloc(4), b = alloc(4);

	alloc(1);
	free_at(a, 1 * SEC);
	free_at(b, 2 * SEC);
	ck_assert_uint_eq(release_pass(2 * SEC, 0), 8 * PG);
	a = alloc(4);
	free_at(a, 50 * SEC);
	/* [a, a+4) is dirty since 50 s, [b, b+4) released: the age is 50 s */
	ck_assert_uint_eq(h->spans[0].idle.unusedsince, 50 * SEC);
	ck_assert_uint_eq(release_pass(50 * SEC + SEC, SEC), 0);
	ck_assert_uint_eq(release_pass(50 * SEC + SEC + 1, SEC), 4 * PG);
}
END_TEST

START_TEST(test_scavenge_split_keeps_npreleased)
{
	/* A span half released, half dirty, split at an allocation. */
	uint64_t a = alloc(6), b = alloc(6);
	struct heap_span s;
	struct heap_stats st;

	alloc(1);
	free_at(a, 1);
	ck_assert_uint_eq(release_pass(5, 1), 6 * PG);
	free_at(b, 10);
	st = stats();
	ck_assert_int_eq(heap_alloc(h, 8, 0, o1, 11, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.npreleased, 6);
	ck_assert_uint_eq(h->spans[8].idle.npreleased, 0);
	ck_assert_uint_eq(stats().released, st.released - 6 * PG);
}
END_TEST

START_TEST(test_take_runs_bounded)
{
	uint64_t offs[8], total = 0;
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;
	int runs = 0;

	for (int i = 0; i < 8; i++) {
		offs[i] = alloc(10);
		alloc(1);
	}
	for (int i = 0; i < 8; i++)
		free_at(offs[i], 1);
	while (heap_scavenge_take(h, 10, 1, 4, &cursor, &t)) {
		heap_check(h);
		ck_assert_uint_le(t.npages, 4);
		total += t.npages;
		heap_scavenge_return(h, &t, heap_release_taken(h, &t),
				     &cursor);
		heap_check(h);
		ck_assert_int_lt(++runs, 100);
	}
	ck_assert_uint_eq(total, 80);
	ck_assert_int_ge(runs, 24);
	ck_assert_uint_eq(release_pass(10, 1), 0);
}
END_TEST

START_TEST(test_scavenge_release_failure)
{
	uint64_t a = alloc(4);

	alloc(1);
	free_at(a, 1);
	mem.fail_release = -EIO;
	ck_assert_uint_eq(release_pass(10, 1), 0);
	ck_assert_uint_eq(stats().release_errors, 1);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 0);
	mem.fail_release = 0;
	ck_assert_uint_eq(release_pass(10, 1), 4 * PG);
}
END_TEST

START_TEST(test_scavenge_forced_ignores_age)
{
	uint64_t a = alloc(4);

	alloc(1);
	free_at(a, 100 * SEC);
	/* older_than == 0: everything free, whatever its age. */
	ck_assert_uint_eq(release_pass(100 * SEC, 0), 4 * PG);
}
END_TEST

START_TEST(test_take_holds_run)
{
	uint64_t a = alloc(10);
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;
	struct heap_span s;
	struct heap_stats st;

	alloc(1);
	free_at(a, 1);
	ck_assert(heap_scavenge_take(h, 10, 1, 4, &cursor, &t));
	heap_check(h);
	ck_assert_uint_eq(t.page, 0);
	ck_assert_uint_eq(t.npages, 4);
	st = stats();
	/* Held pages are idle, not in use, and nobody can have them. */
	ck_assert_uint_eq(st.inuse, PG);
	ck_assert_uint_eq(st.held, 4 * PG);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_int_eq(heap_free(h, 0, o1, 11), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, 6, 0, o1, 11, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.off, 4 * PG);
	ck_assert_int_eq(heap_release_taken(h, &t), 0);
	ck_assert_uint_eq(mem.last_off, 0);
	ck_assert_uint_eq(mem.last_len, 4 * PG);
	heap_scavenge_return(h, &t, 0, &cursor);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 4);
}
END_TEST

START_TEST(test_take_pass_covers_merged_span)
{
	/* [0,10) released, [10,40) dirty: the pass must see all 30. */
	uint64_t a = alloc(10), b = alloc(30), total = 0;
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;

	alloc(1);
	free_at(a, 1);
	ck_assert_uint_eq(release_pass(5, 1), 10 * PG);
	free_at(b, 2);
	while (heap_scavenge_take(h, 10, 1, 4, &cursor, &t)) {
		heap_check(h);
		total += t.npages;
		heap_scavenge_return(h, &t, heap_release_taken(h, &t),
				     &cursor);
		heap_check(h);
	}
	ck_assert_uint_eq(total, 30);
	ck_assert_uint_eq(cursor.span, 0);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 40);
}
END_TEST

START_TEST(test_take_failed_release)
{
	uint64_t a = alloc(8);
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;

	alloc(1);
	free_at(a, 1);
	ck_assert(heap_scavenge_take(h, 10, 1, 3, &cursor, &t));
	heap_scavenge_return(h, &t, -EIO, &cursor);
	heap_check(h);
	ck_assert_uint_eq(stats().release_errors, 1);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 0);
	/* The failed run is not taken again, the rest of the span is. */
	ck_assert(heap_scavenge_take(h, 10, 1, 100, &cursor, &t));
	ck_assert_uint_eq(t.page, 3);
	ck_assert_uint_eq(t.npages, 5);
	heap_scavenge_return(h, &t, heap_release_taken(h, &t), &cursor);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 5);
	ck_assert(!heap_scavenge_take(h, 10, 1, 100, &cursor, &t));
}
END_TEST

/* ranges: what a departed client held */

START_TEST(test_take_range_only_inside)
{
	uint64_t a = alloc(8), b = alloc(8), c = alloc(8);
	struct heap_cursor cursor = { 8, 8 };
	struct heap_take t;

	alloc(1);
	free_at(a, 1);
	free_at(b, 1);
	free_at(c, 1);
	/* One dirty free span [0, 24): take only [8, 16) of it. */
	ck_assert_uint_eq(span_val(h, 0), 24);
	ck_assert(heap_scavenge_take_range(h, 16, 3, &cursor, &t));
	heap_check(h);
	ck_assert_uint_eq(t.page, 8);
	ck_assert_uint_eq(t.npages, 3);
	heap_scavenge_return(h, &t, heap_release_taken(h, &t), &cursor);
	heap_check(h);
	ck_assert_uint_eq(cursor.page, 11);
	ck_assert(heap_scavenge_take_range(h, 16, 100, &cursor, &t));
	ck_assert_uint_eq(t.page, 11);
	ck_assert_uint_eq(t.npages, 5);
	heap_scavenge_return(h, &t, heap_release_taken(h, &t), &cursor);
	heap_check(h);
	ck_assert(!heap_scavenge_take_range(h, 16, 100, &cursor, &t));
	ck_assert_uint_eq(bitmap_count(h->released, 0, 24), 8);
	ck_assert_uint_eq(bitmap_count(h->released, 8, 8), 8);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 8);
}
END_TEST

START_TEST(test_take_range_skips_used_and_released)
{
	/* [0,4) free dirty, [4,8) used, [8,12) free released, [12,16) dirty */
	uint64_t a = alloc(4), b = alloc(4), c = alloc(4), d = alloc(4);
	struct heap_cursor cursor = { 0, 2 };
	struct heap_take t;
	uint64_t pages = 0;

	alloc(1);
	free_at(c, 1);
	ck_assert_uint_eq(release_pass(5, 1), 4 * PG);
	free_at(a, 10);
	free_at(d, 10);
	(void)b;
	/* From page 2 to 14: [2,4) and [12,14), nothing of b or c. */
	while (heap_scavenge_take_range(h, 14, 100, &cursor, &t)) {
		heap_check(h);
		ck_assert(t.page == 2 || t.page == 12);
		ck_assert_uint_eq(t.npages, 2);
		pages += t.npages;
		heap_scavenge_return(h, &t, heap_release_taken(h, &t),
				     &cursor);
		heap_check(h);
	}
	ck_assert_uint_eq(pages, 4);
	ck_assert_uint_eq(mem.nrelease, 3);
	ck_assert(!bit_test(h->released, 1));
	ck_assert(bit_test(h->released, 3));
	ck_assert(bit_test(h->released, 13));
	ck_assert(!bit_test(h->released, 14));
	/* A range beyond the heap holds nothing. */
	cursor = (struct heap_cursor){ 500, 500 };
	ck_assert(!heap_scavenge_take_range(h, 600, 100, &cursor, &t));
}
END_TEST

/* strays: memory no span holds */

START_TEST(test_stray_found_and_released)
{
	uint64_t a = alloc(8), b = alloc(8), d;
	struct heap_stats st;

	alloc(1);
	d = alloc(4);
	alloc(1);
	memset(mem.base + a, 0x11, 8 * PG);	/* in use */
	memset(mem.base + d, 0x22, 4 * PG);	/* dirty once freed */
	free_at(b, 1);
	ck_assert_uint_eq(release_pass(5, 1), 8 * PG);
	free_at(d, 10);
	st = stats();
	/* Stray writes: into released b, the released rest, beyond. */
	memset(mem.base + b + 2 * PG, 0xab, 3 * PG);
	memset(mem.base + 30 * PG, 0xab, PG);
	memset(mem.base + 300 * PG, 0xab, 4 * PG);
	ck_assert_uint_eq(sweep(256), 8);
	ck_assert_uint_eq(mem.nrelease, 1 + 3);
	for (uint64_t i = 0; i < 8 * PG; i++)
		if (mem.base[b + i] || mem.base[a + i] != 0x11)
			ck_abort_msg("byte %lu", (unsigned long)i);
	ck_assert_uint_eq(mem.base[30 * PG], 0);
	ck_assert_uint_eq(mem.base[303 * PG], 0);
	ck_assert_uint_eq(mem.base[d + 4 * PG - 1], 0x22);
	/* The heap's counts do not move: strays were released already. */
	ck_assert_uint_eq(stats().released, st.released);
	ck_assert_uint_eq(stats().idle, st.idle);
	ck_assert_uint_eq(sweep(256), 0);
}
END_TEST

START_TEST(test_stray_runs_bounded)
{
	alloc(1);
	/* 600 pages beyond the 256 grown, and 100 released ones below. */
	memset(mem.base + 100 * PG, 0xab, 700 * PG);
	ck_assert_uint_eq(sweep(64), 700);
	ck_assert_uint_ge(mem.nrelease, 700 / 64);
	ck_assert_uint_le(mem.last_len, 64 * PG);
	ck_assert_uint_eq(mem.base[799 * PG], 0);
}
END_TEST

START_TEST(test_stray_release_checks_run)
{
	struct heap_stray st = { 0, 1 };

	alloc(1);
	/* Page 0 is in use: releasing it would lose its owner's data. */
	heap_release_stray(h, &st);
}
END_TEST

START_TEST(test_next_data_without_hook)
{
	struct heap_ops ops;
	uint64_t a, b;

	mem_teardown();
	memset(&mem, 0, sizeof(mem));
	mem.size = 16 * PG;
	mem_ops(&ops, false);
	fixture_start(16, &ops, META_MEMFD);
	ck_assert_int_eq(heap_next_data(h, 0, &a, &b), -EOPNOTSUPP);
	mem_teardown();
	mem_start(16, true, META_MEMFD);
	memset(mem.base + 3 * PG, 1, 2 * PG);
	ck_assert_int_eq(heap_next_data(h, 0, &a, &b), 0);
	ck_assert_uint_eq(a, 3);
	ck_assert_uint_eq(b, 5);
	ck_assert_int_eq(heap_next_data(h, 5, &a, &b), -ENXIO);
	ck_assert_int_eq(heap_next_data(h, 16, &a, &b), -ENXIO);
}
END_TEST

static Suite *release_suite(void)
{
	Suite *s = suite_create("release");
	TCase *tc;

	tc = tcase_create("take");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_scavenge_exactly_after_delay);
	tcase_add_test(tc, test_scavenge_partial_and_coalesce);
	tcase_add_test(tc, test_scavenge_released_neighbour_keeps_age);
	tcase_add_test(tc, test_scavenge_split_keeps_npreleased);
	tcase_add_test(tc, test_take_runs_bounded);
	tcase_add_test(tc, test_scavenge_release_failure);
	tcase_add_test(tc, test_scavenge_forced_ignores_age);
	tcase_add_test(tc, test_take_holds_run);
	tcase_add_test(tc, test_take_pass_covers_merged_span);
	tcase_add_test(tc, test_take_failed_release);
	suite_add_tcase(s, tc);

	tc = tcase_create("range");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_take_range_only_inside);
	tcase_add_test(tc, test_take_range_skips_used_and_released);
	suite_add_tcase(s, tc);

	tc = tcase_create("stray");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_stray_found_and_released);
	tcase_add_test(tc, test_stray_runs_bounded);
	tcase_add_test_raise_signal(tc, test_stray_release_checks_run, SIGABRT);
	tcase_add_test(tc, test_next_data_without_hook);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(release_suite)
