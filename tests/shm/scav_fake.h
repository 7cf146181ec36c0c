/* SPDX-License-Identifier: MIT */
/*
 * The fake world behind the scavenger in the tests of shm/scav.c: a heap
 * over hooks only, a clock, a heap lock and a release hook, and the steps
 * the tests build on.
 *
 * Time is a uint64_t the tests advance: nothing sleeps.  The release hook
 * records every call (offset, length, whether the fake heap lock was held)
 * and fails on demand, so the tests see exactly what the scavenger hands
 * to the OS and in which order.
 */
#ifndef SPANHEAP_TESTS_SHM_SCAV_FAKE_H
#define SPANHEAP_TESTS_SHM_SCAV_FAKE_H

#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "shm/scav.h"
#include "tests/shm/fixture.h"

#define MIB (UINT64_C(1) << 20)
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

extern struct fake fk;
extern struct scav s;

/* The hooks: @ctx is &fk. */
uint64_t fake_now(void *ctx);
void fake_lock(void *ctx);
void fake_unlock(void *ctx);
/* st_blocks: every page that holds memory, seen by next_data or not. */
int fake_resident(void *ctx, uint64_t *ret);
/* A client fallocate()s pages [page, page + n). */
void fake_falloc(uint64_t page, uint64_t n);
/* A client writes pages [page, page + n), in a span or not. */
void fake_write(uint64_t page, uint64_t n);
/* Pages of [page, page + n) that hold data. */
uint64_t fake_data_pages(uint64_t page, uint64_t n);

/* Start the scavenger over the fake clock, releasing @chunk_bytes a step. */
void scav_start(uint64_t chunk_bytes);
/* A fresh fake world, heap (grown whole at once) and scavenger. */
void fake_setup(void);
void fake_teardown(void);
/* Allocate, or free, for o1 at the fake time; heap_check() after. */
uint64_t alloc_pages(uint64_t npages);
void free_span(uint64_t off);
/* A whole pass at the current fake time, as the daemon's helper runs it. */
uint64_t pass(bool forced);
/* A free, never released span of @npages, its pass due now. */
uint64_t dirty_span(uint64_t npages);

#endif
