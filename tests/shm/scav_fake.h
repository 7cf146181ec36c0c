/* SPDX-License-Identifier: MIT */
/*
 * The fake world behind the scavenger in the tests of shm/scav.c: a heap
 * of hooks only, a clock, a heap lock and a release hook, and the steps
 * the tests build on.
 *
 * Time is a uint64_t the tests advance: nothing sleeps.  The release hook
 * records every call (offset, length, whether the fake heap lock was held)
 * and fails on demand, so the tests see exactly what the scavenger hands
 * to the OS and in which order.
 *
 * The helpers live in a header because the Makefile builds one program
 * per tests/DIR/test_*.c and links only tests/lib/ besides.
 */
#ifndef SPANHEAP_TESTS_SHM_SCAV_FAKE_H
#define SPANHEAP_TESTS_SHM_SCAV_FAKE_H

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "shm/heap_internal.h"
#include "shm/scav.h"

#define PG HEAP_PAGE_SIZE
#define MIB (UINT64_C(1) << 20)
#define SEC UINT64_C(1000000000)
#define SCAV_AFTER (UINT64_C(300) * SEC)
#define GC_AFTER (UINT64_C(120) * SEC)
/* The clock does not start at 0, so that 0 is never mistaken for "now". */
#define T0 (UINT64_C(7) * SEC)
/* 32 MiB, all grown at the first allocation. */
#define ARENA_PAGES UINT64_C(8192)
#define MAX_CALLS 4096

/* The fake world behind the scavenger: clock, lock and release hook. */
struct fake {
	uint64_t now;		/* the clock, in ns */
	uint64_t step;		/* each release call moves it this much */
	bool locked;		/* the fake heap lock */
	uint64_t nlock;
	uint64_t ncalls;	/* release calls, failed ones included */
	uint64_t off[MAX_CALLS], len[MAX_CALLS];
	int ret[MAX_CALLS];
	uint64_t ok_bytes;	/* bytes of calls that succeeded */
	int fail;		/* every call returns this if non-zero */
	uint64_t fail_call;	/* the call (1-based) that fails with -EIO */
	uint64_t fail_every;	/* every n-th call fails with -EIO */
	/* What the arena holds: a page is data once written, till released. */
	bool data[ARENA_PAGES];
	/* fallocate()d, never written: memory next_data cannot see */
	bool falloc[ARENA_PAGES];
	uint64_t next_data_calls;
	int fail_next_data;	/* next_data returns this if non-zero */
	uint64_t nstray;	/* release calls under the lock: stray runs */
	uint64_t stray_bytes;
};

static struct fake fk;
static struct heap *h;
static struct heap_owner o1;
static struct scav s;

static inline uint64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static inline void fake_lock(void *ctx)
{
	struct fake *f = ctx;

	if (f->locked)
		ck_abort_msg("heap lock taken twice");
	f->locked = true;
	f->nlock++;
}

static inline void fake_unlock(void *ctx)
{
	struct fake *f = ctx;

	if (!f->locked)
		ck_abort_msg("heap lock released but not held");
	f->locked = false;
}

static inline int fake_release(void *ctx, uint64_t off, uint64_t len)
{
	struct fake *f = ctx;
	uint64_t n = f->ncalls++;
	int r = 0;

	if (!len || off % PG || len % PG || off + len > ARENA_PAGES * PG)
		ck_abort_msg("bad release %#llx+%#llx", (unsigned long long)off,
			     (unsigned long long)len);
	/*
	 * Held runs are released without the lock; under it only stray
	 * runs, pages no span holds: released, or beyond the heap.
	 */
	if (f->locked) {
		for (uint64_t p = off / PG; p < (off + len) / PG; p++)
			if (p < h->meta->grown && !bit_test(h->released, p))
				ck_abort_msg("page %llu of a span released under the lock",
					     (unsigned long long)p);
		if (len > SCAV_BLIND_CHUNK_MAX)
			ck_abort_msg("stray run longer than a chunk");
		f->nstray++;
		f->stray_bytes += len;
	}
	if (n >= MAX_CALLS)
		ck_abort_msg("too many release calls");
	if (f->fail)
		r = f->fail;
	else if (f->fail_call == n + 1)
		r = -EIO;
	else if (f->fail_every && (n + 1) % f->fail_every == 0)
		r = -EIO;
	f->off[n] = off;
	f->len[n] = len;
	f->ret[n] = r;
	if (!r) {
		f->ok_bytes += len;
		memset(&f->data[off / PG], 0, len / PG);
		memset(&f->falloc[off / PG], 0, len / PG);
	}
	f->now += f->step;
	return r;
}

static inline void fake_zero(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	if (off + len > ARENA_PAGES * PG)
		ck_abort_msg("zero past the arena");
}

/* The memfd's SEEK_DATA / SEEK_HOLE over fk.data. */
static inline int fake_next_data(void *ctx, uint64_t off, uint64_t *ret_start,
				 uint64_t *ret_end)
{
	struct fake *f = ctx;
	uint64_t p = off / PG, e;

	f->next_data_calls++;
	if (f->fail_next_data)
		return f->fail_next_data;
	while (p < ARENA_PAGES && !f->data[p])
		p++;
	if (p >= ARENA_PAGES)
		return -ENXIO;
	for (e = p; e < ARENA_PAGES && f->data[e]; e++)
		;
	*ret_start = p * PG > off ? p * PG : off;
	*ret_end = e * PG;
	return 0;
}

/* st_blocks: every page that holds memory, seen by next_data or not. */
static inline int fake_resident(void *ctx, uint64_t *ret)
{
	struct fake *f = ctx;
	uint64_t n = 0;

	for (uint64_t p = 0; p < ARENA_PAGES; p++)
		n += f->data[p] || f->falloc[p];
	*ret = n * PG;
	return 0;
}

/* A client fallocate()s pages [page, page + n). */
static inline void fake_falloc(uint64_t page, uint64_t n)
{
	memset(&fk.falloc[page], 1, n);
}

/* A client writes pages [page, page + n), in a span or not. */
static inline void fake_write(uint64_t page, uint64_t n)
{
	memset(&fk.data[page], 1, n);
}

static inline uint64_t fake_data_pages(uint64_t page, uint64_t n)
{
	uint64_t count = 0;

	for (uint64_t p = page; p < page + n; p++)
		count += fk.data[p];
	return count;
}

static inline void scav_start(uint64_t chunk_bytes)
{
	struct scav_config cfg = {
		.scavenge_after_ns = SCAV_AFTER,
		.gc_after_ns = GC_AFTER,
		.chunk_bytes = chunk_bytes,
		.now = fake_now,
		.clock_ctx = &fk,
	};

	scav_init(&s, &cfg);
}

static inline void setup(void)
{
	struct heap_ops ops = { .release = fake_release, .zero = fake_zero,
				 .ctx = &fk, .next_data = fake_next_data,
				 .resident = fake_resident };

	memset(&fk, 0, sizeof(fk));
	fk.now = T0;
	ck_assert_int_eq(heap_create(ARENA_PAGES * PG, &ops, &h), 0);
	ck_assert_int_eq(heap_set_grow_pages(h, ARENA_PAGES), 0);
	heap_owner_init(&o1, 1);
	scav_start(MIB);
}

static inline void teardown(void)
{
	heap_destroy(h);
	h = NULL;
}

static inline struct heap_stats stats(void)
{
	struct heap_stats st;

	heap_stats(h, &st);
	ck_assert_uint_eq(st.sys, st.idle + st.inuse);
	ck_assert_uint_le(st.released, st.idle);
	return st;
}

static inline uint64_t alloc_pages(uint64_t npages)
{
	struct heap_span sp;

	ck_assert_int_eq(heap_alloc(h, npages, 0, &o1, fk.now, &sp), 0);
	heap_check(h);
	return sp.off;
}

static inline void free_span(uint64_t off)
{
	ck_assert_int_eq(heap_free(h, off, &o1, fk.now), 0);
	heap_check(h);
}

/* A whole pass at the current fake time, as the daemon's helper runs it. */
static inline uint64_t pass(bool forced)
{
	uint64_t locks = fk.nlock, bytes;

	bytes = scav_pass_run(&s, h, forced, fake_lock, fake_unlock, &fk);
	ck_assert(!fk.locked);
	ck_assert_uint_gt(fk.nlock, locks);
	ck_assert(!s.in_pass);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	return bytes;
}

/* A free, never released span of @npages, its pass due now. */
static inline uint64_t dirty_span(uint64_t npages)
{
	uint64_t a = alloc_pages(npages);

	alloc_pages(1);		/* keeps it apart from the rest */
	free_span(a);
	return a;
}

#endif
