// SPDX-License-Identifier: MIT
/*
 * Tests for shm/scav.c: its release passes, over the heap of hooks of
 * tests/shm/scav_fake.c.  Which free pages a pass may release and when,
 * how it cuts them into chunks and carries on past failed releases, what
 * the heap's accounting says afterwards, and allocations and frees
 * interleaved with a pass, scripted and at random.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shm/heap_internal.h"
#include "shm/scav.h"
#include "tests/lib/testlib.h"
#include "tests/shm/scav_fake.h"

/* The free span that starts at byte offset @off. */
static const struct span *free_at(uint64_t off)
{
	uint64_t p = off / PG;

	ck_assert_uint_lt(p, h->meta->grown);
	ck_assert_int_eq(span_kind(h, (uint32_t)p), SPAN_FREE);
	return &h->spans[p];
}

static uint64_t free_npages(uint64_t off)
{
	free_at(off);
	return span_val(h, (uint32_t)(off / PG));
}

static uint64_t free_npreleased(uint64_t off)
{
	return free_at(off)->idle.npreleased;
}

static bool page_released(uint64_t off)
{
	return bit_test(h->released, off / PG);
}

/* ---- pass: eligibility ---- */

START_TEST(test_eligible_exactly_after_delay)
{
	uint64_t a, b, t0, before;
	struct heap_stats st;

	a = alloc_pages(64);
	alloc_pages(1);
	b = alloc_pages(32);
	alloc_pages(1);
	before = stats().released;
	t0 = fk.now = T0 + 10 * SEC;
	free_span(a);
	fk.now = t0 + 1;
	free_span(b);
	ck_assert_uint_eq(free_npreleased(a), 0);

	/* Free for exactly scavenge_after: not yet. */
	fk.now = t0 + SCAV_AFTER;
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(fk.ncalls, 0);
	ck_assert_uint_eq(stats().released, before);
	ck_assert_uint_eq(free_npreleased(a), 0);
	ck_assert_uint_eq(s.passes, 1);
	ck_assert_uint_eq(s.released_last, 0);

	/* One nanosecond later: all of a, none of b (freed 1 ns later). */
	fk.now = t0 + SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 64 * PG);
	ck_assert_uint_eq(fk.ncalls, 1);
	ck_assert_uint_eq(fk.off[0], a);
	ck_assert_uint_eq(fk.len[0], 64 * PG);
	st = stats();
	ck_assert_uint_eq(st.released, before + 64 * PG);
	ck_assert_uint_eq(free_npages(a), 64);
	ck_assert_uint_eq(free_npreleased(a), 64);
	ck_assert_uint_eq(free_npreleased(b), 0);
	ck_assert_uint_eq(s.passes, 2);
	ck_assert_uint_eq(s.released_last, 64 * PG);

	fk.now = t0 + SCAV_AFTER + 2;
	ck_assert_uint_eq(pass(false), 32 * PG);
	ck_assert_uint_eq(fk.ncalls, 2);
	ck_assert_uint_eq(fk.off[1], b);
	ck_assert_uint_eq(free_npreleased(b), 32);
	st = stats();
	ck_assert_uint_eq(st.released, before + 96 * PG);
	/* Every free page is released now. */
	ck_assert_uint_eq(st.released, st.idle);
	ck_assert_uint_eq(s.released_total, 96 * PG);
	ck_assert_uint_eq(s.released_last, 32 * PG);
	ck_assert_uint_eq(s.passes, 3);

	/* Nothing is released twice. */
	fk.now += 10 * SCAV_AFTER;
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(fk.ncalls, 2);
	ck_assert_uint_eq(s.released_last, 0);
}
END_TEST

START_TEST(test_fresh_heap_has_nothing_to_release)
{
	/* Grown pages were never touched: they start released. */
	alloc_pages(1);
	fk.now += 10 * SCAV_AFTER;
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(pass(true), 0);
	ck_assert_uint_eq(fk.ncalls, 0);
	ck_assert_uint_eq(s.passes, 1);
	ck_assert_uint_eq(s.forced_releases, 1);
}
END_TEST

START_TEST(test_take_outside_pass)
{
	struct heap_take t;

	free_span(alloc_pages(8));
	fk.now += 10 * SCAV_AFTER;
	/* No pass begun: nothing taken, nothing counted. */
	ck_assert(!scav_pass_take(&s, h, &t));
	ck_assert_uint_eq(s.passes, 0);
	ck_assert_uint_eq(stats().held, 0);
	/* After a pass ends, asking again counts it only once. */
	scav_pass_begin(&s, false);
	ck_assert(scav_pass_take(&s, h, &t));
	scav_pass_return(&s, h, &t, heap_release_taken(h, &t), 0);
	ck_assert(!scav_pass_take(&s, h, &t));
	ck_assert(!scav_pass_take(&s, h, &t));
	ck_assert_uint_eq(s.passes, 1);
	ck_assert_uint_eq(s.released_last, 8 * PG);
	heap_check(h);
}
END_TEST

/* ---- pass: chunking ---- */

START_TEST(test_chunk_10mib_in_1mib_steps)
{
	uint64_t a = dirty_span(10 * MIB / PG), before = stats().released;

	fk.now += SCAV_AFTER + 1;
	fk.step = 1000;
	ck_assert_uint_eq(pass(false), 10 * MIB);
	ck_assert_uint_eq(fk.ncalls, 10);
	for (int i = 0; i < 10; i++) {
		ck_assert_uint_eq(fk.off[i], a + (uint64_t)i * MIB);
		ck_assert_uint_eq(fk.len[i], MIB);
	}
	ck_assert_uint_eq(stats().released, before + 10 * MIB);
	/* The chunks merged back into one fully released span. */
	ck_assert_uint_eq(free_npages(a), 10 * MIB / PG);
	ck_assert_uint_eq(free_npreleased(a), 10 * MIB / PG);
	ck_assert_uint_eq(s.time_ns, 10 * 1000);
	ck_assert_uint_eq(s.released_last, 10 * MIB);
	ck_assert_uint_eq(s.released_total, 10 * MIB);
}
END_TEST

START_TEST(test_chunk_default_and_tiny)
{
	uint64_t a = dirty_span(10 * MIB / PG), b;

	/* chunk_bytes 0 is the default, 4 MiB. */
	scav_start(0);
	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 10 * MIB);
	ck_assert_uint_eq(fk.ncalls, 3);
	ck_assert_uint_eq(fk.off[0], a);
	ck_assert_uint_eq(fk.len[0], 4 * MIB);
	ck_assert_uint_eq(fk.off[1], a + 4 * MIB);
	ck_assert_uint_eq(fk.len[1], 4 * MIB);
	ck_assert_uint_eq(fk.off[2], a + 8 * MIB);
	ck_assert_uint_eq(fk.len[2], 2 * MIB);

	/* Less than a page: one page at a time, never zero. */
	b = dirty_span(3);
	scav_start(100);
	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 3 * PG);
	ck_assert_uint_eq(fk.ncalls, 6);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(fk.off[3 + i], b + (uint64_t)i * PG);
		ck_assert_uint_eq(fk.len[3 + i], PG);
	}
}
END_TEST

START_TEST(test_chunk_release_always_fails)
{
	uint64_t a = alloc_pages(10 * MIB / PG), b;
	struct heap_stats before, after;

	alloc_pages(1);
	b = alloc_pages(16);
	alloc_pages(1);
	free_span(a);
	free_span(b);
	before = stats();

	fk.fail = -EIO;
	fk.now += SCAV_AFTER + 1;
	/* The pass ends, releases nothing and counts every failure. */
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_ge(fk.ncalls, 2);
	after = stats();
	ck_assert_uint_eq(after.release_errors, fk.ncalls);
	ck_assert_uint_eq(after.released, before.released);
	ck_assert_uint_eq(free_npreleased(a), 0);
	ck_assert_uint_eq(free_npages(a), 10 * MIB / PG);
	ck_assert_uint_eq(free_npreleased(b), 0);
	/* It went on past the failures, up to the last span. */
	ck_assert_uint_eq(fk.off[fk.ncalls - 1], b);
	ck_assert_uint_eq(s.passes, 1);
	ck_assert_uint_eq(s.released_last, 0);
	ck_assert_uint_eq(s.released_total, 0);

	/* Once the hook works again, the next pass releases it all. */
	fk.fail = 0;
	ck_assert_uint_eq(pass(false), 10 * MIB + 16 * PG);
	ck_assert_uint_eq(free_npreleased(a), 10 * MIB / PG);
	ck_assert_uint_eq(free_npreleased(b), 16);
	ck_assert_uint_eq(stats().release_errors, after.release_errors);
}
END_TEST

START_TEST(test_chunk_one_release_fails)
{
	uint64_t a = dirty_span(10 * MIB / PG), calls;
	struct heap_stats before = stats(), st;

	fk.fail_call = 3;
	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 9 * MIB);
	/* Every chunk was tried, in address order; the third failed. */
	ck_assert_uint_eq(fk.ncalls, 10);
	for (int i = 0; i < 10; i++) {
		ck_assert_uint_eq(fk.off[i], a + (uint64_t)i * MIB);
		ck_assert_uint_eq(fk.len[i], MIB);
	}
	st = stats();
	ck_assert_uint_eq(st.release_errors, 1);
	ck_assert_uint_eq(st.released, before.released + 9 * MIB);
	ck_assert_uint_eq(free_npreleased(a), 9 * MIB / PG);
	ck_assert(!page_released(a + 2 * MIB));
	ck_assert(!page_released(a + 3 * MIB - PG));
	ck_assert(page_released(a + 3 * MIB));
	ck_assert_uint_eq(s.released_last, 9 * MIB);
	ck_assert_uint_eq(s.release_errors, 1);
	ck_assert_int_lt(s.last_release_error, 0);

	/* The next pass releases just the chunk that failed. */
	calls = fk.ncalls;
	ck_assert_uint_eq(pass(false), MIB);
	ck_assert_uint_eq(fk.ncalls, calls + 1);
	ck_assert_uint_eq(fk.off[calls], a + 2 * MIB);
	ck_assert_uint_eq(free_npreleased(a), 10 * MIB / PG);
}
END_TEST

/* ---- pass: accounting ---- */

START_TEST(test_partial_release_and_coalesce)
{
	uint64_t l, a, b, c, t1, t2, rel0;
	struct heap_span sp;

	l = alloc_pages(8);
	a = alloc_pages(8);
	b = alloc_pages(8);
	c = alloc_pages(8);
	alloc_pages(1);
	rel0 = stats().released;

	t1 = fk.now = T0 + SEC;
	free_span(a);
	fk.now = t1 + SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 8 * PG);
	ck_assert_uint_eq(free_npreleased(a), 8);

	/* b and l merge with the released a: one span, 8 of 24 released. */
	t2 = fk.now = t1 + SCAV_AFTER + 2;
	free_span(b);
	ck_assert_uint_eq(free_npages(a), 16);
	ck_assert_uint_eq(free_npreleased(a), 8);
	free_span(l);
	ck_assert_uint_eq(free_npages(l), 24);
	ck_assert_uint_eq(free_npreleased(l), 8);
	ck_assert_uint_eq(stats().released, rel0 + 8 * PG);

	/* a's age does not make its freshly freed neighbours eligible. */
	fk.now = t2 + SCAV_AFTER;
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(fk.ncalls, 1);

	/* Then only the unreleased runs go to the hook, one call each. */
	fk.now = t2 + SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 16 * PG);
	ck_assert_uint_eq(fk.ncalls, 3);
	ck_assert_uint_eq(fk.off[1], l);
	ck_assert_uint_eq(fk.len[1], 8 * PG);
	ck_assert_uint_eq(fk.off[2], b);
	ck_assert_uint_eq(fk.len[2], 8 * PG);
	ck_assert_uint_eq(free_npages(l), 24);
	ck_assert_uint_eq(free_npreleased(l), 24);
	ck_assert_uint_eq(stats().released, rel0 + 24 * PG);

	/* c joins dirty: 24 of 32 released. */
	free_span(c);
	ck_assert_uint_eq(free_npages(l), 32);
	ck_assert_uint_eq(free_npreleased(l), 24);
	ck_assert_uint_eq(stats().released, rel0 + 24 * PG);

	/* Re-use takes released pages out of heap_released. */
	ck_assert_int_eq(heap_alloc(h, 4, 0, o1, fk.now, &sp), 0);
	heap_check(h);
	ck_assert_uint_eq(sp.off, l);
	ck_assert_uint_eq(sp.npreleased, 4);
	ck_assert_uint_eq(stats().released, rel0 + 20 * PG);
	ck_assert_uint_eq(free_npages(l + 4 * PG), 28);
	ck_assert_uint_eq(free_npreleased(l + 4 * PG), 20);
	/* 20 released pages and 4 of c's dirty ones. */
	ck_assert_int_eq(heap_alloc(h, 24, 0, o1, fk.now, &sp), 0);
	heap_check(h);
	ck_assert_uint_eq(sp.off, l + 4 * PG);
	ck_assert_uint_eq(sp.npreleased, 20);
	ck_assert_uint_eq(stats().released, rel0);
	ck_assert_uint_eq(free_npages(c + 4 * PG), 4);
	ck_assert_uint_eq(free_npreleased(c + 4 * PG), 0);
}
END_TEST

START_TEST(test_reuse_after_pass)
{
	uint64_t a = dirty_span(64), rel;
	struct heap_span sp;

	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 64 * PG);
	rel = stats().released;
	ck_assert_int_eq(heap_alloc(h, 64, 0, o1, fk.now, &sp), 0);
	heap_check(h);
	ck_assert_uint_eq(sp.off, a);
	ck_assert_uint_eq(sp.npreleased, 64);
	ck_assert_uint_eq(stats().released, rel - 64 * PG);
	/* Freed again, it is dirty again and waits its turn. */
	free_span(a);
	ck_assert_uint_eq(free_npreleased(a), 0);
	ck_assert_uint_eq(pass(false), 0);
	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 64 * PG);
	ck_assert_uint_eq(stats().released, rel);
}
END_TEST

START_TEST(test_forced_pass_any_age)
{
	uint64_t a = dirty_span(10 * MIB / PG), b, rel;

	/* Freed this very nanosecond: a normal pass leaves it. */
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(s.passes, 1);
	rel = stats().released;
	ck_assert_uint_eq(pass(true), 10 * MIB);
	ck_assert_uint_eq(fk.ncalls, 10);
	ck_assert_uint_eq(free_npreleased(a), 10 * MIB / PG);
	ck_assert_uint_eq(stats().released, rel + 10 * MIB);
	/* One on-demand release, however many chunks; not a pass. */
	ck_assert_uint_eq(s.forced_releases, 1);
	ck_assert_uint_eq(s.passes, 1);
	ck_assert_uint_eq(s.released_last, 0);
	ck_assert_uint_eq(s.released_total, 10 * MIB);

	/* A normal pass counts passes and what it released. */
	b = dirty_span(16);
	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 16 * PG);
	ck_assert_uint_eq(free_npreleased(b), 16);
	ck_assert_uint_eq(s.passes, 2);
	ck_assert_uint_eq(s.released_last, 16 * PG);
	ck_assert_uint_eq(s.released_total, 10 * MIB + 16 * PG);
	/* A forced pass with nothing to do leaves released_last alone. */
	ck_assert_uint_eq(pass(true), 0);
	ck_assert_uint_eq(s.forced_releases, 2);
	ck_assert_uint_eq(s.passes, 2);
	ck_assert_uint_eq(s.released_last, 16 * PG);
}
END_TEST

START_TEST(test_pass_cancel)
{
	uint64_t a = dirty_span(10 * MIB / PG);
	struct heap_take t;

	fk.now += SCAV_AFTER + 1;
	fake_lock(&fk);
	scav_pass_begin(&s, false);
	ck_assert(scav_pass_take(&s, h, &t));
	fake_unlock(&fk);
	s.cancel = true;
	ck_assert_int_eq(heap_release_taken(h, &t), 0);
	fake_lock(&fk);
	scav_pass_return(&s, h, &t, 0, 0);
	/* The run in hand is accounted; then the pass ends. */
	ck_assert(!scav_pass_take(&s, h, &t));
	fake_unlock(&fk);
	ck_assert(!s.in_pass);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	ck_assert_uint_eq(fk.ncalls, 1);
	ck_assert_uint_eq(free_npreleased(a), MIB / PG);
	ck_assert_uint_eq(s.released_total, MIB);
	/* It stays cancelled: later passes release nothing. */
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(pass(true), 0);
	ck_assert_uint_eq(fk.ncalls, 1);
}
END_TEST

/* ---- pass: interleaved with allocations ---- */

static bool overlaps(uint64_t off, uint64_t npages, const struct heap_take *t)
{
	uint64_t p = off / PG;

	return p < t->page + t->npages && t->page < p + npages;
}

/* Allocate @npages while @t is held: never inside it. */
static uint64_t alloc_beside(uint64_t npages, const struct heap_take *t)
{
	uint64_t off = alloc_pages(npages);

	if (overlaps(off, npages, t))
		ck_abort_msg("allocated %llu+%llu pages inside held run %llu+%llu",
			     (unsigned long long)(off / PG),
			     (unsigned long long)npages,
			     (unsigned long long)t->page,
			     (unsigned long long)t->npages);
	return off;
}

#define NHOLES 32
#define HOLE_PAGES 16

START_TEST(test_interleaved_take_alloc_free)
{
	uint64_t l, a, x, y, hole[NHOLES], prev = UINT64_MAX, nheld = 0;
	uint64_t bytes = 0;
	struct heap_take t;
	struct heap_span sp;
	bool more;

	l = alloc_pages(8);
	a = alloc_pages(10 * MIB / PG);
	alloc_pages(1);
	/* Small holes for the traffic of the second half, away from a. */
	for (int i = 0; i < NHOLES; i++) {
		hole[i] = alloc_pages(HOLE_PAGES);
		alloc_pages(1);
	}
	free_span(a);
	fk.now += SCAV_AFTER + 1;

	fake_lock(&fk);
	scav_pass_begin(&s, false);
	ck_assert(scav_pass_take(&s, h, &t));
	fake_unlock(&fk);
	heap_check(h);
	ck_assert_uint_eq(t.page, a / PG);
	ck_assert_uint_eq(t.npages, MIB / PG);
	ck_assert_uint_eq(stats().held, MIB);

	/* Nobody can free or have the held run. */
	ck_assert_int_eq(heap_free(h, a, o1, fk.now), -EINVAL);
	x = alloc_beside(300, &t);
	ck_assert_uint_eq(x, a + MIB);
	y = alloc_beside(1, &t);
	free_span(x);
	/* l's free does not merge into the held run. */
	free_span(l);
	ck_assert_uint_eq(free_npages(l), 8);
	free_span(y);
	ck_assert_int_eq(heap_alloc(h, ARENA_PAGES, 0, o1, fk.now, &sp),
			 -ENOMEM);
	heap_check(h);

	ck_assert_int_eq(heap_release_taken(h, &t), 0);
	fake_lock(&fk);
	scav_pass_return(&s, h, &t, 0, 0);
	fake_unlock(&fk);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	ck_assert(page_released(a));
	ck_assert_uint_eq(free_npages(l), 8 + 10 * MIB / PG);
	bytes += t.npages * PG;

	/*
	 * Freeing l and x made a young again; let it age, then finish the
	 * pass with traffic in the holes around every run.
	 */
	fk.now += SCAV_AFTER + 1;
	for (int i = 0; i < NHOLES; i++)
		free_span(hole[i]);
	for (int i = 0;; i++) {
		ck_assert_int_lt(i, 1000);
		fake_lock(&fk);
		more = scav_pass_take(&s, h, &t);
		fake_unlock(&fk);
		heap_check(h);
		if (!more)
			break;
		nheld++;
		ck_assert_uint_eq(stats().held, t.npages * PG);
		x = alloc_beside(1 + (nheld * 7) % HOLE_PAGES, &t);
		if (prev != UINT64_MAX)
			free_span(prev);
		y = alloc_beside(3, &t);
		free_span(y);
		prev = x;
		ck_assert_int_eq(heap_release_taken(h, &t), 0);
		fake_lock(&fk);
		scav_pass_return(&s, h, &t, 0, 0);
		fake_unlock(&fk);
		heap_check(h);
		bytes += t.npages * PG;
	}
	/*
	 * The rest of a, x's 300 pages included, a chunk at a time (and l
	 * if the pass looks back at what was freed behind it).
	 */
	ck_assert_uint_ge(nheld, 9);
	ck_assert_uint_ge(bytes, 10 * MIB);
	ck_assert_uint_le(bytes, 8 * PG + 10 * MIB);
	ck_assert_uint_eq(bitmap_count(h->released, a / PG, 10 * MIB / PG),
			  10 * MIB / PG);
	ck_assert_uint_eq(s.passes, 1);
	ck_assert_uint_eq(s.released_last, bytes);
	ck_assert_uint_eq(fk.ok_bytes, bytes);
	ck_assert_uint_eq(free_npages(l), 8 + 10 * MIB / PG);
	ck_assert_uint_eq(free_npreleased(l),
			  (bytes - 10 * MIB) / PG + 10 * MIB / PG);
	free_span(prev);
	/* The holes were freed just now: nothing else is due but l. */
	ck_assert_uint_eq(pass(false), 8 * PG + 10 * MIB - bytes);
	fk.now += SCAV_AFTER + 1;
	pass(false);
	ck_assert_uint_eq(stats().released, stats().idle);
}
END_TEST

#define RND_OPS 20000
#define RND_LIVE 64

/*
 * Random allocations, frees, clock steps and pass steps (one run held at
 * a time, its release failing now and then) against heap_check() and the
 * scavenger's counters.
 */
START_TEST(test_interleaved_random)
{
	uint64_t seed = test_seed("scav random"), rng = seed;
	uint64_t live[RND_LIVE], live_n[RND_LIVE], errors = 0, passes = 0;
	struct heap_take t = { 0, 0, 0 };
	struct heap_stats st;
	int nlive = 0, ret, i;
	bool held = false, in_pass = false;

	fk.fail_every = 13;
	for (int op = 0; op < RND_OPS; op++) {
		uint64_t r = test_rand(&rng);
		struct heap_span sp;

		switch (r % 8) {
		case 0:
		case 1:
			if (nlive == RND_LIVE)
				break;
			live_n[nlive] = 1 + (r >> 8) % (r >> 20 & 1 ? 700 : 16);
			if (heap_alloc(h, live_n[nlive], 0, o1, fk.now, &sp))
				break;
			if (held && overlaps(sp.off, live_n[nlive], &t))
				ck_abort_msg("seed %llu op %d: alloc inside held run",
					     (unsigned long long)seed, op);
			live[nlive++] = sp.off;
			break;
		case 2:
		case 3:
			if (!nlive)
				break;
			i = (int)((r >> 8) % (uint64_t)nlive);
			if (heap_free(h, live[i], o1, fk.now))
				ck_abort_msg("seed %llu op %d: free failed",
					     (unsigned long long)seed, op);
			nlive--;
			live[i] = live[nlive];
			live_n[i] = live_n[nlive];
			break;
		case 4:
			fk.now += (r >> 8) % (SCAV_AFTER / 4);
			break;
		default:
			if (held) {
				ret = heap_release_taken(h, &t);
				errors += ret != 0;
				fake_lock(&fk);
				scav_pass_return(&s, h, &t, ret, 0);
				held = false;
			} else {
				fake_lock(&fk);
				if (!in_pass) {
					scav_pass_begin(&s, (r >> 8) % 5 == 0);
					passes += !s.forced;
					in_pass = true;
				}
				held = scav_pass_take(&s, h, &t);
				in_pass = held;
			}
			fake_unlock(&fk);
			break;
		}
		heap_check(h);
		heap_stats(h, &st);
		if (st.held != (held ? t.npages * PG : 0) ||
		    st.release_errors != errors ||
		    s.released_total != fk.ok_bytes ||
		    s.passes != passes - (in_pass && !s.forced))
			ck_abort_msg("seed %llu op %d: held %llu, errors %llu/%llu, released %llu/%llu, passes %llu/%llu",
				     (unsigned long long)seed, op,
				     (unsigned long long)st.held,
				     (unsigned long long)st.release_errors,
				     (unsigned long long)errors,
				     (unsigned long long)s.released_total,
				     (unsigned long long)fk.ok_bytes,
				     (unsigned long long)s.passes,
				     (unsigned long long)passes);
	}
	ck_assert_uint_gt(fk.ok_bytes, 0);
	ck_assert_uint_gt(errors, 0);
	ck_assert_uint_gt(s.passes, 0);
}
END_TEST

/* ---- sweep: stray pages ---- */

/*
 * A heap grown 1024 pages: a in use and written, b freed dirty and
 * written, c released; the rest released, and 1024.. beyond the heap.
 */
static uint64_t a_, b_, c_;

static void stray_layout(void)
{
	ck_assert_int_eq(heap_set_grow_pages(h, 1024), 0);
	a_ = alloc_pages(64);
	c_ = alloc_pages(16);
	alloc_pages(1);
	b_ = alloc_pages(32);
	alloc_pages(1);
	fake_write(a_ / PG, 64);
	fake_write(b_ / PG, 32);
	free_span(c_);
	fk.now += SCAV_AFTER + 1;
	ck_assert_uint_eq(pass(false), 16 * PG);
	free_span(b_);
	ck_assert_uint_eq(stats().sys, 1024 * PG);
	ck_assert(page_released(c_) && !page_released(b_));
	memset(&fk, 0, offsetof(struct fake, data));	/* calls only */
	fk.now = T0 + 2 * SCAV_AFTER;
}

START_TEST(test_sweep_releases_strays_only)
{
	struct heap_stats st;

	stray_layout();
	st = stats();
	fake_write(c_ / PG + 3, 5);		/* into released c */
	fake_write(900, 10);			/* the released rest */
	fake_write(2000, 7);			/* beyond the heap */
	ck_assert_uint_eq(pass(false), 0);	/* b is too young */
	ck_assert_uint_eq(fk.nstray, 3);
	ck_assert_uint_eq(fk.stray_bytes, 22 * PG);
	ck_assert_uint_eq(s.stray_last, 22 * PG);
	ck_assert_uint_eq(s.stray_total, 22 * PG);
	ck_assert_uint_eq(fake_data_pages(c_ / PG, 16), 0);
	ck_assert_uint_eq(fake_data_pages(900, 10), 0);
	ck_assert_uint_eq(fake_data_pages(2000, 7), 0);
	/* In use and dirty pages are nobody's strays. */
	ck_assert_uint_eq(fake_data_pages(a_ / PG, 64), 64);
	ck_assert_uint_eq(fake_data_pages(b_ / PG, 32), 32);
	/* Strays were counted released already: the heap does not move. */
	ck_assert_uint_eq(stats().released, st.released);
	/* Nothing left: the next sweep finds nothing. */
	ck_assert_uint_eq(pass(false), 0);
	ck_assert_uint_eq(fk.nstray, 3);
	ck_assert_uint_eq(s.stray_last, 0);
	ck_assert_uint_eq(s.stray_total, 22 * PG);
}
END_TEST

START_TEST(test_sweep_in_chunks_under_lock)
{
	stray_layout();
	/* 3.5 MiB across the end of the heap: released, then not grown. */
	fake_write(1024 - 128, 768);
	pass(false);
	/* fake_release checked each call under the lock was stray. */
	ck_assert_uint_ge(fk.nstray, 4);
	for (uint64_t i = 0; i < fk.ncalls; i++)
		ck_assert_uint_le(fk.len[i], SCAV_STRAY_CHUNK);
	ck_assert_uint_eq(s.stray_last, 768 * PG);
	ck_assert_uint_eq(fake_data_pages(0, ARENA_PAGES), 64 + 32);
	/* It takes the lock once a chunk, not once a sweep. */
	ck_assert_uint_ge(fk.nlock, 4);
}
END_TEST

START_TEST(test_sweep_pass_then_strays)
{
	/* A forced pass releases b first, then b's data is no stray. */
	stray_layout();
	fake_write(c_ / PG, 1);
	ck_assert_uint_eq(pass(true), 32 * PG);
	ck_assert_uint_eq(fk.nstray, 1);
	ck_assert_uint_eq(s.stray_last, PG);
	ck_assert_uint_eq(fake_data_pages(b_ / PG, 32), 0);
	ck_assert_uint_eq(fake_data_pages(a_ / PG, 64), 64);
	ck_assert_uint_eq(s.forced_releases, 1);
}
END_TEST

/* fallocate()d pages: holes to next_data, memory all the same. */
START_TEST(test_sweep_fallocated)
{
	uint64_t r;

	stray_layout();
	ck_assert_uint_eq(pass(true), 32 * PG);		/* b released */
	fake_falloc(c_ / PG, 2);
	fake_falloc(5000, 100);
	fk.nstray = fk.stray_bytes = 0;
	/* a's 64 pages are consumed and resident: 102 more are not. */
	fake_resident(&fk, &r);
	ck_assert_uint_eq(r, (64 + 102) * PG);
	pass(false);
	ck_assert_uint_eq(s.stray_last, 102 * PG);
	fake_resident(&fk, &r);
	ck_assert_uint_eq(r, 64 * PG);
	ck_assert_uint_eq(fake_data_pages(a_ / PG, 64), 64);
	/* Chunks grew over the empty stretches: far fewer than 1 MiB ones. */
	ck_assert_uint_lt(fk.nstray, ARENA_PAGES / 256);
	/* Nothing more to find: no blind sweep at all. */
	fk.nstray = 0;
	pass(false);
	ck_assert_uint_eq(fk.nstray, 0);
	ck_assert_uint_eq(s.stray_last, 0);
}
END_TEST

/*
 * The blind sweep runs only when the arena holds more than the consumed
 * pages: fallocate()d pages hidden behind an untouched in-use span stay
 * until then.  arena_unaccounted is a lower bound, and says so.
 */
START_TEST(test_sweep_fallocated_hidden)
{
	stray_layout();
	ck_assert_uint_eq(pass(true), 32 * PG);
	alloc_pages(512);		/* in use, never touched */
	fake_falloc(5000, 100);
	fk.nstray = 0;
	pass(false);
	ck_assert_uint_eq(fk.nstray, 0);
	ck_assert_uint_eq(s.stray_last, 0);
}
END_TEST

START_TEST(test_sweep_cancel_and_failure)
{
	stray_layout();
	fake_write(2000, 4);
	s.cancel = true;
	pass(false);
	ck_assert_uint_eq(fk.nstray, 0);
	ck_assert_uint_eq(fake_data_pages(2000, 4), 4);
	s.cancel = false;
	s.stray_last = 123;
	fk.fail_next_data = -EIO;
	pass(false);
	ck_assert_uint_eq(s.release_errors, 1);
	ck_assert_int_eq(s.last_release_error, -EIO);
	ck_assert_uint_eq(s.stray_last, 123);	/* not a completed sweep */
	fk.fail_next_data = 0;
	fk.fail = -ENOMEM;
	pass(false);
	ck_assert_uint_eq(s.release_errors, 2);
	ck_assert_uint_eq(fake_data_pages(2000, 4), 4);
	fk.fail = 0;
	pass(false);
	ck_assert_uint_eq(fake_data_pages(2000, 4), 0);
	ck_assert_uint_eq(s.stray_last, 4 * PG);
}
END_TEST

/* ---- departed clients ---- */

static void queue_cb(void *ctx, uint64_t page, uint64_t npages)
{
	ck_assert(fk.locked);
	scav_departed_add(ctx, page, npages);
}

static uint64_t departed(void)
{
	uint64_t bytes, locks = fk.nlock;

	bytes = scav_departed_run(&s, h, fake_lock, fake_unlock, &fk);
	ck_assert(!fk.locked);
	ck_assert_uint_gt(fk.nlock, locks);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	return bytes;
}

START_TEST(test_departed_released_at_once)
{
	struct heap_span sp;
	uint32_t dead, other;
	uint64_t a[3], b, rel0;

	ck_assert_int_eq(heap_owner_add(h, "dead", 7, &dead), 0);
	ck_assert_int_eq(heap_owner_add(h, "other", 8, &other), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(heap_alloc(h, 300, 0, dead, fk.now, &sp), 0);
		a[i] = sp.off;
	}
	ck_assert_int_eq(heap_alloc(h, 40, 0, other, fk.now, &sp), 0);
	b = sp.off;
	ck_assert_int_eq(heap_alloc(h, 2000, 0, dead, fk.now, &sp), 0);
	ck_assert_int_eq(heap_alloc(h, 1, 0, other, fk.now, &sp), 0);
	/* The other client frees b just now: it must stay. */
	ck_assert_int_eq(heap_free(h, b, other, fk.now), 0);
	rel0 = stats().released;
	fk.locked = true;
	ck_assert_uint_eq(heap_free_owner_each(h, dead, fk.now, queue_cb, &s),
			  4);
	fk.locked = false;
	heap_check(h);
	/* [0, 900) in one range, [940, 2940) in another. */
	ck_assert_uint_eq(s.ndeparted, 2);
	ck_assert_uint_eq(departed(), 2900 * PG);
	ck_assert_uint_eq(s.ndeparted, 0);
	ck_assert_uint_eq(s.departed_total, 2900 * PG);
	ck_assert_uint_eq(s.released_total, 2900 * PG);
	ck_assert_uint_eq(stats().released, rel0 + 2900 * PG);
	for (uint64_t i = 0; i < fk.ncalls; i++) {
		ck_assert_uint_le(fk.len[i], MIB);
		ck_assert(fk.off[i] + fk.len[i] <= b || fk.off[i] >= b + 40 * PG);
	}
	ck_assert(!page_released(b));
	ck_assert(!page_released(b + 39 * PG));
	ck_assert(page_released(a[0]));
	ck_assert(page_released(a[2] + 299 * PG));
	ck_assert_uint_eq(free_npreleased(0), 2900 + 0);
	/* Nothing queued: nothing to do. */
	ck_assert_uint_eq(departed(), 0);
}
END_TEST

START_TEST(test_departed_reused_meanwhile)
{
	uint64_t a = alloc_pages(64);

	alloc_pages(1);
	free_span(a);
	scav_departed_add(&s, a / PG, 64);
	/* Allocated again before the helper got to it: not released. */
	ck_assert_uint_eq(alloc_pages(64), a);
	ck_assert_uint_eq(departed(), 0);
	ck_assert_uint_eq(fk.ncalls, 0);
}
END_TEST

START_TEST(test_departed_queue_bounded)
{
	/* Adjacent ranges, in either order, coalesce. */
	scav_departed_add(&s, 10, 10);
	scav_departed_add(&s, 0, 10);
	scav_departed_add(&s, 20, 5);
	scav_departed_add(&s, 0, 0);
	ck_assert_uint_eq(s.ndeparted, 1);
	ck_assert_uint_eq(s.departed[0].page, 0);
	ck_assert_uint_eq(s.departed[0].npages, 25);
	/* Far apart ones fill the queue, then widen its last range. */
	for (uint64_t i = 1; i < 100; i++)
		scav_departed_add(&s, i * 50, 2);
	ck_assert_uint_eq(s.ndeparted, SCAV_DEPARTED_MAX);
	for (uint64_t i = 1; i < 100; i++) {
		bool covered = false;

		for (unsigned int k = 0; k < s.ndeparted; k++)
			covered |= s.departed[k].page <= i * 50 &&
				   s.departed[k].page + s.departed[k].npages >=
					   i * 50 + 2;
		ck_assert(covered);
	}
}
END_TEST

static Suite *scav_pass_suite(void)
{
	Suite *su = suite_create("scav-pass");
	TCase *tc;

	tc = tcase_create("pass");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_eligible_exactly_after_delay);
	tcase_add_test(tc, test_fresh_heap_has_nothing_to_release);
	tcase_add_test(tc, test_take_outside_pass);
	tcase_add_test(tc, test_chunk_10mib_in_1mib_steps);
	tcase_add_test(tc, test_chunk_default_and_tiny);
	tcase_add_test(tc, test_chunk_release_always_fails);
	tcase_add_test(tc, test_chunk_one_release_fails);
	tcase_add_test(tc, test_partial_release_and_coalesce);
	tcase_add_test(tc, test_reuse_after_pass);
	tcase_add_test(tc, test_forced_pass_any_age);
	tcase_add_test(tc, test_pass_cancel);
	tcase_add_test(tc, test_interleaved_take_alloc_free);
	suite_add_tcase(su, tc);

	tc = tcase_create("sweep");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_sweep_releases_strays_only);
	tcase_add_test(tc, test_sweep_in_chunks_under_lock);
	tcase_add_test(tc, test_sweep_pass_then_strays);
	tcase_add_test(tc, test_sweep_fallocated);
	tcase_add_test(tc, test_sweep_fallocated_hidden);
	tcase_add_test(tc, test_sweep_cancel_and_failure);
	suite_add_tcase(su, tc);

	tc = tcase_create("departed");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_departed_released_at_once);
	tcase_add_test(tc, test_departed_reused_meanwhile);
	tcase_add_test(tc, test_departed_queue_bounded);
	suite_add_tcase(su, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_interleaved_random);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(su, tc);
	return su;
}

TEST_MAIN(scav_pass_suite)
