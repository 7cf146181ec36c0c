// SPDX-License-Identifier: MIT
/*
 * Tests for shm/object.c at scale: 100k objects created, looked up,
 * released and deleted with the hash chains short, and what a table of
 * a million objects costs in memory (what it holds, not what it can).
 */
#include <stdio.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/objects.h"

#ifdef SPANHEAP_DEBUG
#define MANY 2000	/* each call checks the whole table */
#else
#define MANY 100000
#endif

/* The longest chain of @nb buckets of @hash (objects or references). */
static uint32_t longest_chain(const uint32_t *hash, uint32_t nb, bool refs)
{
	uint32_t longest = 0;

	for (uint32_t b = 0; b < nb; b++) {
		uint32_t n = 0;

		for (uint32_t i = hash[b]; i;
		     i = refs ? h->refs[i - 1].next : h->objs[i - 1].next)
			n++;
		if (n > longest)
			longest = n;
	}
	return longest;
}

START_TEST(test_many_objects)
{
	char name[32];
	struct heap_obj_stats os;
	struct heap_stats before = stats();
	uint32_t lo, lr;

	for (int i = 0; i < MANY; i++) {
		struct heap_obj_new req;
		struct heap_obj_info x;

		snprintf(name, sizeof(name), "tensor/%d", i);
		req = obj_new(name, 100);
		ck_assert_int_eq(heap_obj_create(h, o1, &req, (uint64_t)i, &x),
				 0);
		ck_assert_int_eq(heap_obj_seal(h, o1, x.id), 0);
	}
	heap_check(h);
	for (int i = 0; i < MANY; i++) {
		struct heap_obj_info x;

		snprintf(name, sizeof(name), "tensor/%d", i);
		ck_assert_int_eq(heap_obj_get(h, o2, name, strlen(name), &x),
				 0);
		ck_assert_uint_eq(x.created, (uint64_t)i);
		ck_assert_str_eq(x.name, name);
	}
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.sealed, MANY);
	ck_assert_uint_eq(os.refs, 2 * MANY);
	ck_assert_uint_eq(os.ref_records, 2 * MANY);
	ck_assert_uint_eq(stats().inuse, before.inuse + MANY * PG);
	heap_check(h);
	/*
	 * A keyed hash spreads them: at a load of 0.76 the longest chain of
	 * 131072 buckets is about 8; 16 would take a broken hash.
	 */
	lo = longest_chain(h->obj_hash, h->meta->layout.obj_buckets, false);
	lr = longest_chain(h->ref_hash, h->meta->layout.ref_buckets, true);
	ck_assert_uint_le(lo, 16);
	ck_assert_uint_le(lr, 16);
	/* o1 goes: its references drop, the sealed objects stay. */
	ck_assert_int_eq(heap_obj_owner_gone(h, o1, 0, NULL, NULL, NULL), 0);
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "tensor/%d", i);
		ck_assert_int_eq(heap_obj_delete(h, name, strlen(name),
						 OBJ_UID, 0),
				 0);
	}
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.deleted, MANY);
	ck_assert_uint_eq(os.refs, MANY);
	ck_assert_int_eq(heap_obj_owner_gone(h, o2, 0, NULL, NULL, NULL), 0);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.deleted + os.refs + os.ref_records + os.pages, 0);
	ck_assert_uint_eq(stats().inuse, before.inuse);
	heap_check(h);
}
END_TEST

static void many_setup(void)
{
	obj_start(UINT64_C(1) << 18, MANY + MANY / 4, 2 * MANY + MANY / 4,
		  false);
}

/*
 * A table of a million objects costs what it holds: formatting writes
 * one page of it, a few objects a few pages, and heap_check() reads no
 * hole (which would allocate it).  The journal costs the pages the
 * largest transaction logged into: one, here.
 */
START_TEST(test_table_memory)
{
	uint64_t size, r0, r1, r2;
	struct heap_config cfg = { .arena_size = UINT64_C(1) << 30,
				   .max_owners = FIXTURE_OWNERS,
				   .max_objects = 1 << 20,
				   .max_refs = 1 << 21 };
	char name[16];

	ck_assert_int_eq(heap_layout_size(&cfg, &size), 0);
	ck_assert_uint_ge(size, (UINT64_C(1) << 20) * 400 +
					(UINT64_C(1) << 21) * 32);
	mem_teardown();
	obj_start(UINT64_C(1) << 18, 1 << 20, 1 << 21, false);
	r0 = meta_resident();
	/* The header, the owners' page and the journal's first page. */
	ck_assert_uint_le(r0, 3 * PG);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		obj_sealed(o1, name, 1);
	}
	r1 = meta_resident();
	heap_check(h);
	r2 = meta_resident();
	ck_assert_uint_eq(r2, r1);
	/*
	 * The header and owners, ten pages of records, one of references,
	 * a bucket page each per object and reference at worst, and a few
	 * of the page map and bitmaps, and the journal's first page:
	 * 2 + 10 + 1 + 200 + 8 + 1, of a table of more than 400 MiB.
	 */
	ck_assert_uint_le(r1, 222 * PG);
}
END_TEST

static Suite *object_scale_suite(void)
{
	Suite *s = suite_create("object_scale");
	TCase *tc = tcase_create("scale");

	tcase_add_checked_fixture(tc, many_setup, mem_teardown);
	tcase_add_test(tc, test_many_objects);
	tcase_add_test(tc, test_table_memory);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(object_scale_suite)
