/* SPDX-License-Identifier: MIT */
/*
 * An arena of plain memory behind the heap's hooks, for the tests of
 * shm/heap.c, owner.c, freeidx.c, release.c and heap_check.c.  The
 * release hook zeroes the range as the kernel's punch-hole would, and
 * records the calls, so the tests see exactly what the heap hands to the
 * OS; next_data finds the pages that hold a non-zero byte.
 */
#ifndef SPANHEAP_TESTS_SHM_MEM_H
#define SPANHEAP_TESTS_SHM_MEM_H

#include "tests/shm/fixture.h"

struct mem {
	unsigned char *base;	/* NULL: hooks only count */
	uint64_t size;
	uint64_t nrelease, released_bytes, last_off, last_len;
	uint64_t nzero, zeroed_bytes;
	int fail_release;	/* release returns this if non-zero */
};

extern struct mem mem;

/* The hooks over @mem; with @next_data, that one too. */
void mem_ops(struct heap_ops *ret, bool next_data);
/* A heap of @pages over mem, backed by memory or not; metadata @kind. */
void mem_start(uint64_t pages, bool backed, enum fixture_meta kind);
/* The same for a heap of configuration @cfg. */
void mem_start_config(const struct heap_config *cfg, bool backed,
		      enum fixture_meta kind);
/* A 1024-page heap over backed memory that grows 256 pages at a time. */
void mem_setup(void);
void mem_teardown(void);
/* Does page @p hold a non-zero byte? */
bool mem_page_data(uint64_t p);

/* Allocate @npages for owner @o at @now; heap_check() after. */
uint64_t alloc_at(uint64_t npages, uint32_t o, uint64_t now);
/* alloc_at() for o1 at 0. */
uint64_t alloc(uint64_t npages);
/* Free o1's span at @off at @now; heap_check() after. */
void free_at(uint64_t off, uint64_t now);
/*
 * Allocate spans of @sizes pages for o1, their offsets in @offs, then
 * free those marked in @freed (at time 1).
 */
void layout(const uint64_t *sizes, const bool *freed, int n, uint64_t *offs);
/*
 * A whole release pass at @now of the spans free for longer than
 * @older_than (0: all), as the scavenger runs it: take, release, return,
 * with heap_check() after each step.  Returns the bytes released.
 */
uint64_t release_pass(uint64_t now, uint64_t older_than);
/* A whole stray sweep in runs of @max_pages; returns the pages released. */
uint64_t sweep(uint64_t max_pages);

#endif
