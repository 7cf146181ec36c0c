/* SPDX-License-Identifier: MIT */
/*
 * The heap every test of shm/ runs over: formatted into a metadata memfd
 * made by the arena code, as the daemon's (or into plain memory, without
 * the metadata hooks), with two owners.  The arena behind it is the
 * test's: plain memory (mem.h) or a fake world (scav_fake.h).
 *
 * Helpers of tests/shm/ live in .c files linked into this area's tests
 * only, with libshm and check: nothing of the daemon, so these tests
 * also prove that shm/ stands alone.
 */
#ifndef SPANHEAP_TESTS_SHM_FIXTURE_H
#define SPANHEAP_TESTS_SHM_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "shm/arena.h"
#include "shm/heap_internal.h"

#define PG HEAP_PAGE_SIZE
#define SEC UINT64_C(1000000000)
/* Owner slots of a test heap. */
#define FIXTURE_OWNERS 16

/*
 * The pages of the tests that fill a large heap (4 GiB), fewer in debug
 * builds, where every call walks the whole heap.
 */
#ifdef SPANHEAP_DEBUG
#define BIG_PAGES (UINT64_C(1) << 13)
#else
#define BIG_PAGES (UINT64_C(1) << 20)
#endif

enum fixture_meta {
	META_MEMFD,		/* a sealed memfd, with the arena's hooks */
	META_PLAIN,		/* page-aligned heap memory, no hooks */
};

extern struct heap *h;
extern struct arena *meta;	/* the metadata memfd, or NULL */
extern uint32_t o1, o2;		/* owners "one" and "two" */

/*
 * Format a heap of @pages pages over @ops (its meta hooks are set here)
 * in metadata of @kind, and add o1 and o2.  Aborts the test on failure.
 */
void fixture_start(uint64_t pages, const struct heap_ops *ops,
		   enum fixture_meta kind);
/* The same, for a heap of configuration @cfg (its owners at least 2). */
void fixture_start_config(const struct heap_config *cfg,
			  const struct heap_ops *ops, enum fixture_meta kind);
/* Detach the heap and free its metadata. */
void fixture_stop(void);
/* Bytes of the metadata that hold memory (st_blocks); META_MEMFD only. */
uint64_t meta_resident(void);
/* heap_stats(), checked for sys == idle + inuse and released <= idle. */
struct heap_stats stats(void);
/* What the live owner @id holds (the test fails if it is not live). */
struct heap_owner_info owner_info(uint32_t id);

#endif
