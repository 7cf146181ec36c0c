/* SPDX-License-Identifier: MIT */
/*
 * What the tests of daemon/dispatch.c share: a real spanheapd with a
 * 64 MiB arena started for every test, and the checks they make of it
 * over the raw protocol of tests/lib/wire.h.
 *
 * The helpers live in a header because the Makefile builds one program
 * per tests/DIR/test_*.c and links only tests/lib/ besides.
 */
#ifndef SPANHEAP_TESTS_E2E_DISPATCH_FIXTURE_H
#define SPANHEAP_TESTS_E2E_DISPATCH_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/lib/wire.h"
#include "tests/lib/daemon.h"

#define PG UINT64_C(4096)
#define ARENA_PAGES UINT64_C(16384)	/* --arena-size=64M */

static struct test_daemon td;

static inline void setup(void)
{
	const char *args[] = { "--arena-size=64M", NULL };

	test_daemon_start(&td, args);
}

static inline void teardown(void)
{
	test_daemon_stop(&td);
}

/*
 * For tests that weigh the daemon's memory: under ASan freed memory sits
 * in a quarantine and RSS grows with every request served, so switch the
 * quarantine off for this daemon (other builds ignore the variable).
 */
static inline void setup_no_quarantine(void)
{
	const char *old = getenv("ASAN_OPTIONS");
	char opts[512];

	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0",
		 old ? old : "", old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	setup();
}

/* An ALLOC and a FREE on @fd still work. */
static inline void assert_works(int fd)
{
	uint64_t off = wire_alloc1(fd, 3);

	ck_assert_int_eq(wire_free1(fd, off), 0);
}

/* The entry of clients.list with id @id, or NULL. */
static inline json_t *find_client(json_t *stats, uint64_t id)
{
	json_t *list = json_object_get(json_object_get(stats, "clients"),
				       "list");
	size_t i;
	json_t *c;

	ck_assert_msg(json_is_array(list), "STATS has no clients.list");
	json_array_foreach(list, i, c)
		if (wire_json_u64(c, "id") == id)
			return c;
	return NULL;
}

struct span {
	uint64_t off, npages;
};

static inline bool spans_overlap(const struct span *a, const struct span *b)
{
	return a->off < b->off + b->npages * PG &&
	       b->off < a->off + a->npages * PG;
}

/* The spans are page-aligned, inside the arena and pairwise disjoint. */
static inline void assert_disjoint(const struct span *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(s[i].off % PG, 0);
		ck_assert_uint_le(s[i].off + s[i].npages * PG,
				  ARENA_PAGES * PG);
		for (size_t j = 0; j < i; j++)
			if (spans_overlap(&s[i], &s[j]))
				ck_abort_msg("span %#llx overlaps %#llx",
					     (unsigned long long)s[i].off,
					     (unsigned long long)s[j].off);
	}
}

/* @len bytes at @p read as zeros. */
static inline void assert_zero(const unsigned char *p, uint64_t len)
{
	for (uint64_t k = 0; k < len; k++)
		if (p[k])
			ck_abort_msg("byte %llu of %llu is %#x, not 0",
				     (unsigned long long)k,
				     (unsigned long long)len, p[k]);
}

/* The accounting identities every STATS snapshot must keep. */
static inline void assert_identities(json_t *j)
{
	uint64_t sys = wire_json_u64(j, "heap_sys");
	uint64_t idle = wire_json_u64(j, "heap_idle");
	uint64_t inuse = wire_json_u64(j, "heap_inuse");
	uint64_t released = wire_json_u64(j, "heap_released");

	ck_assert_uint_eq(sys, idle + inuse);
	ck_assert_uint_le(released, idle);
	ck_assert_uint_eq(wire_json_u64(j, "consumed"), sys - released);
	ck_assert_uint_le(sys, wire_json_u64(j, "arena_size"));
}

#endif
