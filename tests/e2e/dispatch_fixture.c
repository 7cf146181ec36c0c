// SPDX-License-Identifier: MIT
/* The fixture of the tests of daemon/dispatch.c: see dispatch_fixture.h. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/e2e/dispatch_fixture.h"
#include "tests/lib/wire.h"

struct test_daemon td;

void setup(void)
{
	const char *args[] = { "--arena-size=64M", NULL };

	test_daemon_start(&td, args);
}

void teardown(void)
{
	test_daemon_stop(&td);
}

void setup_no_quarantine(void)
{
	const char *old = getenv("ASAN_OPTIONS");
	char opts[512];

	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0",
		 old ? old : "", old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	setup();
}

void assert_works(int fd)
{
	uint64_t off = wire_alloc1(fd, 3);

	ck_assert_int_eq(wire_free1(fd, off), 0);
}

json_t *find_client(json_t *stats, uint64_t id)
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

bool spans_overlap(const struct span *a, const struct span *b)
{
	return a->off < b->off + b->npages * PG &&
	       b->off < a->off + a->npages * PG;
}

void assert_disjoint(const struct span *s, size_t n)
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

void assert_zero(const unsigned char *p, uint64_t len)
{
	for (uint64_t k = 0; k < len; k++)
		if (p[k])
			ck_abort_msg("byte %llu of %llu is %#x, not 0",
				     (unsigned long long)k,
				     (unsigned long long)len, p[k]);
}

void assert_identities(json_t *j)
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
