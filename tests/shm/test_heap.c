// SPDX-License-Identifier: MIT
/*
 * Tests for shm/heap.c: the span heap over plain memory.  The release
 * hook zeroes the range as the kernel's punch-hole would, and records the
 * calls, so the tests see exactly what the heap hands to the OS.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/heap_internal.h"
#include "tests/lib/testlib.h"

#define PG HEAP_PAGE_SIZE
#define SEC UINT64_C(1000000000)

/* An arena of plain memory (or none) behind the heap's hooks. */
struct mem {
	unsigned char *base;	/* NULL: hooks only count */
	uint64_t size;
	uint64_t nrelease, released_bytes, last_off, last_len;
	uint64_t nzero, zeroed_bytes;
	int fail_release;	/* release returns this if non-zero */
};

static int mem_release(void *ctx, uint64_t off, uint64_t len)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		ck_abort_msg("release past the arena");
	if (m->fail_release)
		return m->fail_release;
	if (m->base)
		memset(m->base + off, 0, len);
	m->nrelease++;
	m->released_bytes += len;
	m->last_off = off;
	m->last_len = len;
	return 0;
}

static void mem_zero(void *ctx, uint64_t off, uint64_t len)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		ck_abort_msg("zero past the arena");
	if (m->base)
		memset(m->base + off, 0, len);
	m->nzero++;
	m->zeroed_bytes += len;
}

/* A page holds data iff it holds a non-zero byte: punched pages do not. */
static bool mem_page_data(const struct mem *m, uint64_t p)
{
	static const unsigned char zero[PG];

	return memcmp(m->base + p * PG, zero, PG) != 0;
}

static int mem_next_data(void *ctx, uint64_t off, uint64_t *ret_start,
			 uint64_t *ret_end)
{
	struct mem *m = ctx;
	uint64_t p = off / PG, e, pages = m->size / PG;

	if (!m->base)
		return -ENXIO;
	while (p < pages && !mem_page_data(m, p))
		p++;
	if (p >= pages)
		return -ENXIO;
	for (e = p; e < pages && mem_page_data(m, e); e++)
		;
	*ret_start = p * PG;
	*ret_end = e * PG;
	return 0;
}

static struct mem mem;
static struct heap *h;
static struct heap_owner o1, o2;

static void setup_pages(uint64_t pages, bool backed)
{
	struct heap_ops ops = { .release = mem_release, .zero = mem_zero,
				 .ctx = &mem, .next_data = mem_next_data };

	memset(&mem, 0, sizeof(mem));
	mem.size = pages * PG;
	if (backed) {
		mem.base = calloc(1, mem.size);
		ck_assert_ptr_nonnull(mem.base);
	}
	ck_assert_int_eq(heap_create(mem.size, &ops, &h), 0);
	heap_owner_init(&o1, 1);
	heap_owner_init(&o2, 2);
}

/* A 1024-page heap that grows 256 pages at a time. */
static void setup(void)
{
	setup_pages(1024, true);
	ck_assert_int_eq(heap_set_grow_pages(h, 256), 0);
}

static void teardown(void)
{
	heap_destroy(h);
	h = NULL;
	free(mem.base);
	mem.base = NULL;
}

static uint64_t alloc_at(uint64_t npages, struct heap_owner *o, uint64_t now)
{
	struct heap_span s;

	ck_assert_int_eq(heap_alloc(h, npages, 0, o, now, &s), 0);
	ck_assert_uint_eq(s.npages, npages);
	heap_check(h);
	return s.off;
}

static uint64_t alloc(uint64_t npages)
{
	return alloc_at(npages, &o1, 0);
}

static void free_at(uint64_t off, uint64_t now)
{
	ck_assert_int_eq(heap_free(h, off, &o1, now), 0);
	heap_check(h);
}

static struct heap_stats stats(void)
{
	struct heap_stats st;

	heap_stats(h, &st);
	ck_assert_uint_eq(st.sys, st.idle + st.inuse);
	ck_assert_uint_le(st.released, st.idle);
	return st;
}

static uint64_t scavenge(uint64_t now, uint64_t older_than)
{
	uint64_t cursor = 0, bytes;

	ck_assert_int_eq(heap_scavenge(h, now, older_than, 0, &cursor, &bytes),
			 1);
	ck_assert_uint_eq(cursor, 0);
	heap_check(h);
	return bytes;
}

/* alloc */

START_TEST(test_alloc_fresh_heap)
{
	struct heap_stats st;
	struct heap_span s;

	ck_assert_int_eq(heap_alloc(h, 3, 0, &o1, 0, &s), 0);
	ck_assert_uint_eq(s.off, 0);
	ck_assert_uint_eq(s.npages, 3);
	ck_assert_uint_eq(s.npreleased, 3);
	st = stats();
	ck_assert_uint_eq(st.arena_size, 1024 * PG);
	ck_assert_uint_eq(st.sys, 256 * PG);
	ck_assert_uint_eq(st.inuse, 3 * PG);
	ck_assert_uint_eq(st.idle, 253 * PG);
	/* Grown pages were never touched: they count as released. */
	ck_assert_uint_eq(st.released, 253 * PG);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.free_spans, 1);
	ck_assert_uint_eq(o1.nspans, 1);
	ck_assert_uint_eq(o1.npages, 3);
	ck_assert_uint_eq(alloc(5), 3 * PG);
	heap_check(h);
}
END_TEST

START_TEST(test_alloc_bad_args)
{
	struct heap_span s = { 7, 7, 7 };
	struct heap_stats before = stats(), after;

	ck_assert_int_eq(heap_alloc(h, 0, 0, &o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, 1025, 0, &o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, UINT64_MAX, 0, &o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, 1, 0x80, &o1, 0, &s), -EINVAL);
	/* Outputs are written only on success. */
	ck_assert_uint_eq(s.off, 7);
	ck_assert_uint_eq(s.npages, 7);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	heap_check(h);
}
END_TEST

/* Lay out used spans of the given sizes, then free the ones marked. */
static void layout(const uint64_t *sizes, const bool *freed, int n,
		   uint64_t *offs)
{
	for (int i = 0; i < n; i++)
		offs[i] = alloc(sizes[i]);
	for (int i = 0; i < n; i++)
		if (freed[i])
			free_at(offs[i], 1);
}

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

START_TEST(test_alloc_splits_remainder)
{
	uint64_t a = alloc(10), b;
	struct heap_stats st;

	alloc(1);
	free_at(a, 1);
	b = alloc(4);
	ck_assert_uint_eq(b, a);
	/* the 6 pages left are still one free span right after b */
	ck_assert_uint_eq(alloc(6), a + 4 * PG);
	st = stats();
	ck_assert_uint_eq(st.objects, 3);
}
END_TEST

START_TEST(test_alloc_grows_and_joins_chunks)
{
	struct heap_stats st;

	ck_assert_uint_eq(alloc(10), 0);
	/* 246 pages are free at the end; 300 need one more chunk, joined. */
	ck_assert_uint_eq(alloc(300), 10 * PG);
	st = stats();
	ck_assert_uint_eq(st.sys, 512 * PG);
	ck_assert_uint_eq(st.inuse, 310 * PG);
	ck_assert_uint_eq(st.free_spans, 1);
}
END_TEST

START_TEST(test_alloc_exhaustion)
{
	struct heap_stats before, after;
	struct heap_span s;
	uint64_t a, b;

	a = alloc(600);
	b = alloc(400);
	ck_assert_uint_eq(b, 600 * PG);
	before = stats();
	ck_assert_uint_eq(before.sys, 1000 * PG);
	ck_assert_int_eq(heap_alloc(h, 25, 0, &o1, 0, &s), -ENOMEM);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_uint_eq(alloc(24), 1000 * PG);
	ck_assert_int_eq(heap_alloc(h, 1, 0, &o1, 0, &s), -ENOMEM);
	free_at(a, 1);
	ck_assert_uint_eq(alloc(600), a);
}
END_TEST

START_TEST(test_alloc_exhaustion_leaves_heap_unchanged)
{
	struct heap_stats before, after;
	struct heap_span s;

	alloc(10);
	before = stats();
	/* 1014 free pages could exist, 1015 can never: nothing grows. */
	ck_assert_int_eq(heap_alloc(h, 1015, 0, &o1, 0, &s), -ENOMEM);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_uint_eq(alloc(1014), 10 * PG);
}
END_TEST

/* free */

START_TEST(test_free_coalesce_combinations)
{
	/* A B C D E F G, all 2..8 pages, G keeps the tail in use */
	uint64_t sizes[] = { 2, 3, 4, 5, 6, 7, 8 };
	bool none[7] = { false };
	uint64_t o[7];
	struct heap_stats st;

	layout(sizes, none, 7, o);
	free_at(o[1], 1);		/* no free neighbour */
	ck_assert_uint_eq(stats().free_spans, 2);
	free_at(o[2], 1);		/* free left neighbour */
	ck_assert_uint_eq(stats().free_spans, 2);
	free_at(o[4], 1);		/* no free neighbour */
	ck_assert_uint_eq(stats().free_spans, 3);
	free_at(o[3], 1);		/* free on both sides */
	ck_assert_uint_eq(stats().free_spans, 2);
	free_at(o[0], 1);		/* free right neighbour, at page 0 */
	st = stats();
	ck_assert_uint_eq(st.free_spans, 2);
	/* A..E is one span of 20 pages at 0 */
	ck_assert_uint_eq(alloc(20), 0);
	ck_assert_uint_eq(st.objects, 2);
}
END_TEST

START_TEST(test_free_coalesce_with_tail)
{
	uint64_t a = alloc(4);

	free_at(a, 1);
	/* Everything grown is one free span again. */
	ck_assert_uint_eq(stats().free_spans, 1);
	ck_assert_uint_eq(stats().idle, 256 * PG);
}
END_TEST

START_TEST(test_free_bad_offsets)
{
	uint64_t a = alloc(4), b = alloc(2);
	struct heap_stats before = stats(), after;

	ck_assert_int_eq(heap_free(h, a + 1, &o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, a + PG, &o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, a + 3 * PG, &o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, b + 2 * PG, &o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, 1024 * PG, &o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, UINT64_MAX & ~(PG - 1), &o1, 1),
			 -EINVAL);
	ck_assert_int_eq(heap_free(h, b, &o2, 1), -EPERM);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	heap_check(h);
	free_at(b, 1);
	ck_assert_int_eq(heap_free(h, b, &o1, 1), -EINVAL);
	/* b merged with the tail; its old interior is no span either */
	ck_assert_int_eq(heap_free(h, b + PG, &o1, 1), -EINVAL);
	heap_check(h);
}
END_TEST

START_TEST(test_free_owner)
{
	uint64_t a = alloc_at(3, &o1, 0), b = alloc_at(5, &o2, 0);
	uint64_t c = alloc_at(7, &o1, 0);
	uint32_t id;
	uint64_t n;

	ck_assert_int_eq(heap_span_owner(h, b, &id, &n), 0);
	ck_assert_uint_eq(id, 2);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(heap_span_owner(h, b + PG, &id, &n), -EINVAL);
	ck_assert_uint_eq(o1.nspans, 2);
	ck_assert_uint_eq(o1.npages, 10);
	ck_assert_uint_eq(heap_free_owner(h, &o1, 5), 2);
	heap_check(h);
	ck_assert_uint_eq(o1.nspans, 0);
	ck_assert_uint_eq(o1.npages, 0);
	ck_assert_int_eq(heap_free(h, a, &o1, 5), -EINVAL);
	ck_assert_int_eq(heap_free(h, c, &o1, 5), -EINVAL);
	ck_assert_uint_eq(stats().inuse, 5 * PG);
	ck_assert_uint_eq(stats().objects, 1);
	ck_assert_uint_eq(heap_free_owner(h, &o1, 5), 0);
	ck_assert_int_eq(heap_free(h, b, &o2, 5), 0);
	heap_check(h);
}
END_TEST

/* scavenge */

START_TEST(test_scavenge_exactly_after_delay)
{
	uint64_t a = alloc(4);
	uint64_t t0 = 100 * SEC, delay = 5 * SEC;

	alloc(1);
	free_at(a, t0);
	ck_assert_uint_eq(scavenge(t0 + delay, delay), 0);
	ck_assert_uint_eq(mem.nrelease, 0);
	ck_assert_uint_eq(scavenge(t0 + delay + 1, delay), 4 * PG);
	ck_assert_uint_eq(mem.nrelease, 1);
	ck_assert_uint_eq(mem.last_off, a);
	ck_assert_uint_eq(mem.last_len, 4 * PG);
	ck_assert_uint_eq(stats().released, stats().idle);
	/* Nothing twice. */
	ck_assert_uint_eq(scavenge(t0 + 10 * delay, delay), 0);
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
	ck_assert_uint_eq(scavenge(t0 + delay + 1, delay), 4 * PG);
	/* B is freed later: it joins A, whose pages stay released. */
	free_at(o[1], 10 * SEC);
	st = stats();
	ck_assert_uint_eq(st.released - (256 - 11) * PG, 4 * PG);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 4);
	/* Not yet: B's pages are young. */
	ck_assert_uint_eq(scavenge(10 * SEC + delay, delay), 0);
	/* Only B's pages go to the OS, in one call. */
	mem.nrelease = 0;
	ck_assert_uint_eq(scavenge(10 * SEC + delay + 1, delay), 6 * PG);
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
	ck_assert_uint_eq(scavenge(2 * SEC, 0), 8 * PG);
	a = alloc(4);
	free_at(a, 50 * SEC);
	/* [a, a+4) is dirty since 50 s, [b, b+4) released: the age is 50 s */
	ck_assert_uint_eq(h->spans[0].idle.unusedsince, 50 * SEC);
	ck_assert_uint_eq(scavenge(50 * SEC + SEC, SEC), 0);
	ck_assert_uint_eq(scavenge(50 * SEC + SEC + 1, SEC), 4 * PG);
}
END_TEST

START_TEST(test_scavenge_reuse_updates_released)
{
	uint64_t a = alloc(8);
	struct heap_span s;
	struct heap_stats st;

	alloc(1);
	memset(mem.base + a, 0xab, 8 * PG);
	free_at(a, 1);
	ck_assert_uint_eq(scavenge(3, 1), 8 * PG);
	st = stats();
	/*
	 * Re-using released pages takes them out of heap_released.  With
	 * HEAP_ALLOC_ZERO the arena is asked all the same: only it knows
	 * whether a client wrote there since.
	 */
	ck_assert_int_eq(heap_alloc(h, 8, HEAP_ALLOC_ZERO, &o1, 4, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.off, a);
	ck_assert_uint_eq(s.npreleased, 8);
	ck_assert_uint_eq(mem.nzero, 1);
	ck_assert_uint_eq(mem.zeroed_bytes, 8 * PG);
	ck_assert_uint_eq(stats().released, st.released - 8 * PG);
	for (uint64_t i = 0; i < 8 * PG; i++)
		if (mem.base[a + i])
			ck_abort_msg("byte %lu not zero", (unsigned long)i);
}
END_TEST

START_TEST(test_needzero_dirty_pages_only)
{
	uint64_t a = alloc(4), b = alloc(4);
	struct heap_span s;

	alloc(1);
	memset(mem.base + a, 0xcd, 8 * PG);
	free_at(a, 1);
	ck_assert_uint_eq(scavenge(10, 1), 4 * PG);	/* a released */
	free_at(b, 20);					/* b dirty */
	/* Without the flag nothing is zeroed. */
	ck_assert_int_eq(heap_alloc(h, 8, 0, &o1, 30, &s), 0);
	ck_assert_uint_eq(s.npreleased, 4);
	ck_assert_uint_eq(mem.nzero, 0);
	ck_assert_uint_eq(mem.base[b], 0xcd);
	free_at(s.off, 40);
	/* With it, only the dirty run: b's 4 pages, in one call. */
	ck_assert_int_eq(heap_alloc(h, 8, HEAP_ALLOC_ZERO, &o1, 50, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(mem.nzero, 1);
	ck_assert_uint_eq(mem.zeroed_bytes, 8 * PG);
	for (uint64_t i = 0; i < 8 * PG; i++)
		if (mem.base[a + i])
			ck_abort_msg("byte %lu not zero", (unsigned long)i);
}
END_TEST

/* A client wrote into released pages: ZERO still means zero. */
START_TEST(test_zero_released_written_since)
{
	uint64_t a = alloc(64);
	struct heap_span s;
	uint64_t nonzero = 0;

	alloc(1);
	memset(mem.base + a, 0x11, 64 * PG);
	free_at(a, 1);
	ck_assert_uint_eq(scavenge(3, 1), 64 * PG);
	/* Another client's stray write, through its mapping. */
	memset(mem.base + a, 0xab, 64 * PG);
	ck_assert_int_eq(heap_alloc(h, 64, HEAP_ALLOC_ZERO, &o2, 4, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.off, a);
	ck_assert_uint_eq(s.npreleased, 64);
	for (uint64_t i = 0; i < 64 * PG; i++)
		nonzero += mem.base[a + i] != 0;
	ck_assert_uint_eq(nonzero, 0);
}
END_TEST

/* Pages beyond the heap, written before it grows over them. */
START_TEST(test_zero_beyond_grown_written_before)
{
	struct heap_span s;
	uint64_t nonzero = 0;

	alloc(1);
	ck_assert_uint_eq(stats().sys, 256 * PG);
	memset(mem.base + 300 * PG, 0xab, 8 * PG);
	/* 256 pages: no free span fits, the heap grows over page 300. */
	ck_assert_int_eq(heap_alloc(h, 512, HEAP_ALLOC_ZERO, &o2, 4, &s), 0);
	heap_check(h);
	ck_assert_uint_le(s.off, 300 * PG);
	ck_assert_uint_ge(s.off + 512 * PG, 308 * PG);
	for (uint64_t i = 0; i < 512 * PG; i++)
		nonzero += mem.base[s.off + i] != 0;
	ck_assert_uint_eq(nonzero, 0);
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
	ck_assert_uint_eq(scavenge(5, 1), 6 * PG);
	free_at(b, 10);
	st = stats();
	ck_assert_int_eq(heap_alloc(h, 8, 0, &o1, 11, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.npreleased, 6);
	ck_assert_uint_eq(h->spans[8].idle.npreleased, 0);
	ck_assert_uint_eq(stats().released, st.released - 6 * PG);
}
END_TEST

START_TEST(test_scavenge_budget)
{
	uint64_t offs[8], cursor = 0, bytes, total = 0;
	int passes = 0, done;

	for (int i = 0; i < 8; i++) {
		offs[i] = alloc(10);
		alloc(1);
	}
	for (int i = 0; i < 8; i++)
		free_at(offs[i], 1);
	do {
		done = heap_scavenge(h, 10, 1, 4 * PG, &cursor, &bytes);
		heap_check(h);
		ck_assert_uint_le(bytes, 4 * PG);
		total += bytes;
		ck_assert_int_lt(++passes, 100);
	} while (!done);
	ck_assert_uint_eq(total, 80 * PG);
	ck_assert_int_ge(passes, 20);
	ck_assert_uint_eq(scavenge(10, 1), 0);
}
END_TEST

START_TEST(test_scavenge_release_failure)
{
	uint64_t a = alloc(4);

	alloc(1);
	free_at(a, 1);
	mem.fail_release = -EIO;
	ck_assert_uint_eq(scavenge(10, 1), 0);
	ck_assert_uint_eq(stats().release_errors, 1);
	ck_assert_uint_eq(h->spans[0].idle.npreleased, 0);
	mem.fail_release = 0;
	ck_assert_uint_eq(scavenge(10, 1), 4 * PG);
}
END_TEST

START_TEST(test_scavenge_forced_ignores_age)
{
	uint64_t a = alloc(4);

	alloc(1);
	free_at(a, 100 * SEC);
	/* older_than == 0: everything free, whatever its age. */
	ck_assert_uint_eq(scavenge(100 * SEC, 0), 4 * PG);
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
	ck_assert_int_eq(heap_free(h, 0, &o1, 11), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, 6, 0, &o1, 11, &s), 0);
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
	ck_assert_uint_eq(scavenge(5, 1), 10 * PG);
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
	ck_assert_uint_eq(scavenge(5, 1), 4 * PG);
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

/* A whole sweep, as the scavenger runs it; returns the pages released. */
static uint64_t sweep(uint64_t max_pages)
{
	uint64_t pos = 0, start, end, pages = 0;
	struct heap_stray st;

	while (heap_next_data(h, pos, &start, &end) == 0) {
		uint64_t p = start, next;

		while (p < end) {
			if (heap_stray_next(h, p, end, max_pages, &st, &next)) {
				ck_assert_uint_le(st.npages, max_pages);
				ck_assert_int_eq(heap_release_stray(h, &st), 0);
				pages += st.npages;
				next = st.page + st.npages;
			}
			ck_assert_uint_gt(next, p);
			p = next;
		}
		pos = p;
	}
	heap_check(h);
	return pages;
}

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
	ck_assert_uint_eq(scavenge(5, 1), 8 * PG);
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
	struct heap_ops ops = { .release = mem_release, .zero = mem_zero,
				.ctx = &mem };
	uint64_t a, b;

	heap_destroy(h);
	ck_assert_int_eq(heap_create(mem.size, &ops, &h), 0);
	ck_assert_int_eq(heap_next_data(h, 0, &a, &b), -EOPNOTSUPP);
	heap_destroy(h);
	h = NULL;
	free(mem.base);
	setup_pages(16, true);
	memset(mem.base + 3 * PG, 1, 2 * PG);
	ck_assert_int_eq(heap_next_data(h, 0, &a, &b), 0);
	ck_assert_uint_eq(a, 3);
	ck_assert_uint_eq(b, 5);
	ck_assert_int_eq(heap_next_data(h, 5, &a, &b), -ENXIO);
	ck_assert_int_eq(heap_next_data(h, 16, &a, &b), -ENXIO);
}
END_TEST

/* metadata */

static uint64_t resident(void *p, uint64_t len)
{
	uint64_t pages = (len + 4095) / 4096, n = 0;
	unsigned char *vec = malloc(pages);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore(p, len, vec), 0);
	for (uint64_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n * 4096;
}

START_TEST(test_meta_lazy_for_64g)
{
	setup_pages((UINT64_C(64) << 30) / PG, false);
	alloc(1);
	/* Reserved for the whole arena, touched only where it grew. */
	ck_assert_uint_gt(h->map_size, UINT64_C(256) << 20);
	ck_assert_uint_lt(resident(h->map, h->map_size), UINT64_C(1) << 20);
}
END_TEST

START_TEST(test_meta_small_for_full_4g)
{
	uint64_t pages = (UINT64_C(4) << 30) / PG, meta;

	setup_pages(pages, false);
	/* The worst case: the heap full of one-page spans. */
	for (uint64_t i = 0; i < pages; i++) {
		struct heap_span s;

		if (heap_alloc(h, 1, 0, &o1, 0, &s))
			ck_abort_msg("alloc %lu failed", (unsigned long)i);
	}
	ck_assert_uint_eq(stats().inuse, pages * PG);
	meta = resident(h->map, h->map_size);
	ck_assert_uint_lt(meta, (pages * PG) / 200);
	ck_assert_uint_eq(heap_free_owner(h, &o1, 1), pages);
	ck_assert_uint_eq(stats().free_spans, 1);
}
END_TEST

/*
 * The page map of a heap filled with 256-page spans: every page of it
 * touched.  Once they are freed and released, it must be given back.
 */
START_TEST(test_meta_returned_after_release)
{
	uint64_t pages = (UINT64_C(4) << 30) / PG, map = pages * 16, meta;
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;

	setup_pages(pages, false);
	for (uint64_t i = 0; i < pages / 256; i++) {
		struct heap_span s;

		if (heap_alloc(h, 256, 0, &o1, 0, &s))
			ck_abort_msg("alloc %lu failed", (unsigned long)i);
	}
	ck_assert_uint_ge(resident(h->spans, map), map - PG);
	ck_assert_uint_eq(heap_free_owner(h, &o1, 1), pages / 256);
	ck_assert_uint_ge(resident(h->spans, map), map - PG);
	/* A pass as the daemon's: 4 MiB runs. */
	while (heap_scavenge_take(h, 10, 0, 1024, &cursor, &t))
		heap_scavenge_return(h, &t, heap_release_taken(h, &t),
				     &cursor);
	/*
	 * Measured before heap_check(): its reads map the shared zero page,
	 * which costs no memory but which mincore() counts.
	 */
	meta = resident(h->spans, map);
	ck_assert_msg(meta <= 4 * PG, "page map holds %llu bytes",
		      (unsigned long long)meta);
	heap_check(h);
	ck_assert_uint_eq(stats().released, pages * PG);
	/* It is still a heap: allocate all of it again. */
	for (uint64_t i = 0; i < pages / 256; i++) {
		struct heap_span s;

		if (heap_alloc(h, 256, 0, &o1, 2, &s))
			ck_abort_msg("alloc %lu failed", (unsigned long)i);
	}
	heap_check(h);
}
END_TEST

/* heap_check catches corruption */

static void corrupt_setup(void)
{
	uint64_t b, d;

	/* used [0,3), free [3,203), used [203,205), free [205,210), used */
	setup();
	alloc(3);
	b = alloc(200);
	alloc(2);
	d = alloc(5);
	alloc(1);
	free_at(b, 1);
	free_at(d, 1);
	ck_assert_uint_eq(b, 3 * PG);
	ck_assert_uint_eq(d, 205 * PG);
}

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

/* randomised */

#define RND_PAGES 2048
#define RND_OPS 100000
#define RND_MAXSPANS 4096

struct live {
	uint64_t off, npages;
	struct heap_owner *o;
	unsigned char pattern;
};

static void fill(uint64_t off, uint64_t n, unsigned char c)
{
	memset(mem.base + off, c, n * PG);
}

static void verify(uint64_t off, uint64_t n, unsigned char c)
{
	/* Plain ifs: every check assertion writes to a file. */
	for (uint64_t i = 0; i < n * PG; i += 511)
		if (mem.base[off + i] != c)
			ck_abort_msg("span at %lu lost its data",
				     (unsigned long)off);
}

START_TEST(test_random_against_model)
{
	static struct live live[RND_MAXSPANS];
	static uint32_t owner_of[RND_PAGES];	/* model: page -> owner id */
	struct heap_owner *owners[2] = { &o1, &o2 };
	uint64_t seed = test_seed("heap random"), rnd = seed, now = 0;
	uint64_t nalloc = 0, nfree = 0, nscav = 0, released = 0;
	struct heap_cursor take_cursor = { 0, 0 };
	struct heap_take take;
	bool held = false;
	int nlive = 0;

	setup_pages(RND_PAGES, true);
	heap_set_grow_pages(h, 64);
	memset(owner_of, 0, sizeof(owner_of));
	for (int step = 0; step < RND_OPS; step++) {
		uint64_t r = test_rand(&rnd), op = r % 100;

		now += r % 1000;
		if (op < 50 && nlive < RND_MAXSPANS) {
			uint64_t n = (r >> 8) % 16 == 0 ? 1 + (r >> 16) % 300 :
							  1 + (r >> 16) % 12;
			struct heap_owner *o = owners[(r >> 40) & 1];
			unsigned int fl = (r >> 41) & 1 ? HEAP_ALLOC_ZERO : 0;
			struct heap_span s;
			int ret = heap_alloc(h, n, fl, o, now, &s);

			if (ret == -ENOMEM) {
				heap_check(h);
				continue;
			}
			nalloc++;
			if (ret)
				ck_abort_msg("seed %llu step %d: alloc %d",
					     (unsigned long long)seed, step, ret);
			for (uint64_t p = s.off / PG; p < s.off / PG + n; p++) {
				if (owner_of[p])
					ck_abort_msg("seed %llu step %d: page %lu twice",
						     (unsigned long long)seed,
						     step, (unsigned long)p);
				owner_of[p] = o->id;
			}
			if (fl)
				verify(s.off, n, 0);
			live[nlive] = (struct live){ s.off, n, o,
						     (unsigned char)(1 + step % 250) };
			fill(s.off, n, live[nlive].pattern);
			nlive++;
		} else if (op < 90 && nlive) {
			int i = (int)((r >> 8) % (uint64_t)nlive);
			struct live *l = &live[i];

			verify(l->off, l->npages, l->pattern);
			if (heap_free(h, l->off, owners[l->o == &o1], now) !=
				    -EPERM ||
			    heap_free(h, l->off, l->o, now))
				ck_abort_msg("seed %llu step %d: free",
					     (unsigned long long)seed, step);
			for (uint64_t p = l->off / PG; p < l->off / PG + l->npages; p++)
				owner_of[p] = 0;
			nfree++;
			*l = live[--nlive];
		} else if (op < 94) {
			/* Hold a run across the next operations. */
			if (held) {
				heap_scavenge_return(h, &take,
						     heap_release_taken(h, &take),
						     &take_cursor);
				held = false;
			} else {
				held = heap_scavenge_take(h, now,
							  (r >> 8) % 20000,
							  1 + (r >> 30) % 32,
							  &take_cursor, &take);
			}
		} else if (op < 98) {
			uint64_t cursor = 0, bytes;

			while (!heap_scavenge(h, now, (r >> 8) % 20000,
					      (r >> 30) % 64 * PG, &cursor,
					      &bytes)) {
				released += bytes;
				heap_check(h);
			}
			released += bytes;
			nscav++;
		} else if (op == 99 && (r >> 50) % 8 == 0) {
			/* A stray write where no span is, then a sweep. */
			uint64_t q = (r >> 8) % RND_PAGES;

			if (q >= h->meta->grown || bit_test(h->released, q))
				memset(mem.base + q * PG, 0x5a, PG);
			sweep(1 + (r >> 40) % 8);
			for (uint64_t p = 0; p < RND_PAGES; p++)
				if ((p >= h->meta->grown ||
				     bit_test(h->released, p)) &&
				    mem_page_data(&mem, p))
					ck_abort_msg("seed %llu step %d: stray page %lu left",
						     (unsigned long long)seed,
						     step, (unsigned long)p);
		} else {
			struct heap_owner *o = owners[(r >> 8) & 1];

			heap_free_owner(h, o, now);
			for (int i = 0; i < nlive;) {
				if (live[i].o == o)
					live[i] = live[--nlive];
				else
					i++;
			}
			for (int p = 0; p < RND_PAGES; p++)
				if (owner_of[p] == o->id)
					owner_of[p] = 0;
		}
		heap_check(h);
	}
	for (int i = 0; i < nlive; i++)
		verify(live[i].off, live[i].npages, live[i].pattern);
	/* The mix really exercised every path. */
	ck_assert_uint_gt(nalloc, RND_OPS / 4);
	ck_assert_uint_gt(nfree, RND_OPS / 4);
	ck_assert_uint_gt(nscav, RND_OPS / 40);
	ck_assert_uint_gt(released, 0);
	ck_assert_uint_eq(stats().inuse / PG, (uint64_t)(o1.npages + o2.npages));
}
END_TEST

static Suite *heap_suite(void)
{
	Suite *s = suite_create("heap");
	TCase *tc;

	tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_alloc_fresh_heap);
	tcase_add_test(tc, test_alloc_bad_args);
	tcase_add_test(tc, test_alloc_best_fit_small);
	tcase_add_test(tc, test_alloc_lowest_address_on_tie);
	tcase_add_test(tc, test_alloc_best_fit_large);
	tcase_add_test(tc, test_alloc_splits_remainder);
	tcase_add_test(tc, test_alloc_grows_and_joins_chunks);
	tcase_add_test(tc, test_alloc_exhaustion);
	tcase_add_test(tc, test_alloc_exhaustion_leaves_heap_unchanged);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_free_coalesce_combinations);
	tcase_add_test(tc, test_free_coalesce_with_tail);
	tcase_add_test(tc, test_free_bad_offsets);
	tcase_add_test(tc, test_free_owner);
	suite_add_tcase(s, tc);

	tc = tcase_create("scavenge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scavenge_exactly_after_delay);
	tcase_add_test(tc, test_scavenge_partial_and_coalesce);
	tcase_add_test(tc, test_scavenge_released_neighbour_keeps_age);
	tcase_add_test(tc, test_scavenge_reuse_updates_released);
	tcase_add_test(tc, test_needzero_dirty_pages_only);
	tcase_add_test(tc, test_scavenge_split_keeps_npreleased);
	tcase_add_test(tc, test_scavenge_budget);
	tcase_add_test(tc, test_scavenge_release_failure);
	tcase_add_test(tc, test_scavenge_forced_ignores_age);
	tcase_add_test(tc, test_take_holds_run);
	tcase_add_test(tc, test_take_pass_covers_merged_span);
	tcase_add_test(tc, test_take_failed_release);
	tcase_add_test(tc, test_zero_released_written_since);
	tcase_add_test(tc, test_zero_beyond_grown_written_before);
	suite_add_tcase(s, tc);

	tc = tcase_create("range");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_take_range_only_inside);
	tcase_add_test(tc, test_take_range_skips_used_and_released);
	suite_add_tcase(s, tc);

	tc = tcase_create("stray");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stray_found_and_released);
	tcase_add_test(tc, test_stray_runs_bounded);
	tcase_add_test_raise_signal(tc, test_stray_release_checks_run, SIGABRT);
	tcase_add_test(tc, test_next_data_without_hook);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_meta_lazy_for_64g);
	tcase_add_test(tc, test_meta_small_for_full_4g);
	tcase_add_test(tc, test_meta_returned_after_release);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_add_checked_fixture(tc, corrupt_setup, teardown);
	tcase_add_test_raise_signal(tc, test_check_counter, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_interior_mark, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_released_bit_in_use,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_freehead_bit, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_index, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_index_extra, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_tree, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_adjacent_free, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_random_against_model);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(heap_suite)
