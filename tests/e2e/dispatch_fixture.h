/* SPDX-License-Identifier: MIT */
/*
 * What the tests of daemon/dispatch.c share: a real spanheapd with a
 * 64 MiB arena started for every test, and the checks they make of it
 * over the raw protocol of tests/lib/wire.h.
 */
#ifndef SPANHEAP_TESTS_E2E_DISPATCH_FIXTURE_H
#define SPANHEAP_TESTS_E2E_DISPATCH_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/lib/daemon.h"

#define PG UINT64_C(4096)
#define ARENA_PAGES UINT64_C(16384)	/* --arena-size=64M */

/* The daemon of the test that runs, started by setup(). */
extern struct test_daemon td;

struct span {
	uint64_t off, npages;
};

/* Start td with --arena-size=64M, and stop it (checking its exit). */
void setup(void);
void teardown(void);

/*
 * For tests that weigh the daemon's memory: under ASan freed memory sits
 * in a quarantine and RSS grows with every request served, so switch the
 * quarantine off for this daemon (other builds ignore the variable).
 */
void setup_no_quarantine(void);

/* An ALLOC and a FREE on @fd still work. */
void assert_works(int fd);

/* The entry of clients.list with id @id, or NULL. */
json_t *find_client(json_t *stats, uint64_t id);

/* Do @a and @b share a page? */
bool spans_overlap(const struct span *a, const struct span *b);

/* The spans are page-aligned, inside the arena and pairwise disjoint. */
void assert_disjoint(const struct span *s, size_t n);

/* @len bytes at @p read as zeros. */
void assert_zero(const unsigned char *p, uint64_t len);

/* The accounting identities every STATS snapshot must keep. */
void assert_identities(json_t *j);

#endif
