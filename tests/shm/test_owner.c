// SPDX-License-Identifier: MIT
/*
 * Tests for shm/owner.c: the owner table in the metadata.  Ids are
 * non-zero, never the scavenger's, unique among live owners and slow to
 * come back; names and keys are kept; an owner with spans cannot go;
 * the table's memory follows the most owners ever live.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"

static void assert_id_ok(uint32_t id)
{
	ck_assert_uint_ne(id, 0);
	ck_assert_uint_ne(id, HEAP_OWNER_SCAV);
}

START_TEST(test_owner_fill_table)
{
	uint32_t ids[FIXTURE_OWNERS], extra = 7;
	int n = FIXTURE_OWNERS;

	/* The fixture's two, and as many more as the table holds. */
	ids[0] = o1;
	ids[1] = o2;
	for (int i = 2; i < n; i++)
		ck_assert_int_eq(heap_owner_add(h, "more", (uint64_t)i,
						&ids[i]),
				 0);
	ck_assert_int_eq(heap_owner_add(h, "full", 0, &extra), -ENOSPC);
	ck_assert_uint_eq(extra, 7);
	ck_assert_uint_eq(stats().owners, FIXTURE_OWNERS);
	for (int i = 0; i < n; i++) {
		assert_id_ok(ids[i]);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(ids[i], ids[j]);
	}
	/* A slot freed is a slot for the next, under a new id. */
	ck_assert_int_eq(heap_owner_remove(h, ids[5]), 0);
	ck_assert_int_eq(heap_owner_add(h, "again", 0, &extra), 0);
	assert_id_ok(extra);
	for (int i = 0; i < n; i++)
		ck_assert_uint_ne(extra, ids[i]);
	heap_check(h);
}
END_TEST

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* @n ids of owners that come and go one at a time, all distinct? */
static void churn_unique(uint32_t n)
{
	uint32_t *ids = malloc(n * sizeof(*ids));

	ck_assert_ptr_nonnull(ids);
	for (uint32_t i = 0; i < n; i++) {
		ck_assert_int_eq(heap_owner_add(h, "churn", i, &ids[i]), 0);
		assert_id_ok(ids[i]);
		ck_assert_int_eq(heap_owner_remove(h, ids[i]), 0);
	}
	qsort(ids, n, sizeof(*ids), cmp_u32);
	for (uint32_t i = 1; i < n; i++)
		ck_assert_msg(ids[i] != ids[i - 1], "id %u given twice",
			      ids[i]);
	free(ids);
}

START_TEST(test_owner_ids_not_reused_soon)
{
	churn_unique(100000);
	heap_check(h);
	ck_assert_uint_eq(stats().owners, 2);
}
END_TEST

/*
 * With the largest table the id has 10 bits of generation: slots are
 * reused oldest first once HEAP_OWNER_REUSE_MIN wait, so an id comes
 * back only after 1023 * 65 others; and the table touches no more slots
 * than that queue and the live owners need.
 */
START_TEST(test_owner_big_table)
{
	struct heap_config cfg = { .arena_size = PG,
				   .max_owners = HEAP_OWNERS_MAX };
	struct heap_ops ops, mo;
	struct heap *x, *keep = h;
	struct arena *m;
	uint64_t size, used;

	ck_assert_int_eq(heap_layout_size(&cfg, &size), 0);
	ck_assert_uint_gt(size, (uint64_t)HEAP_OWNERS_MAX *
					sizeof(struct heap_owner_rec));
	ck_assert_int_eq(arena_create(size, "owners", &m), 0);
	mem_ops(&ops, false);
	arena_heap_ops(NULL, m, &mo);
	ops.meta_release = mo.meta_release;
	ops.meta_next_data = mo.meta_next_data;
	ops.meta_ctx = mo.meta_ctx;
	ck_assert_int_eq(heap_format(m->base, m->size, &cfg, &ops, &x), 0);
	h = x;
	churn_unique(60000);
	ck_assert_uint_le(x->meta->owners_hwm, HEAP_OWNER_REUSE_MIN + 1);
	ck_assert_int_eq(arena_resident(m, &used), 0);
	ck_assert_uint_le(used, 4 * PG);
	heap_check(x);
	h = keep;
	heap_detach(x);
	arena_destroy(m);
}
END_TEST

START_TEST(test_owner_names_and_keys)
{
	char longname[200];
	struct heap_owner_info o;
	uint32_t a, b;

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	ck_assert_int_eq(heap_owner_add(h, longname, UINT64_MAX, &a), 0);
	ck_assert_int_eq(heap_owner_add(h, NULL, 42, &b), 0);
	o = owner_info(a);
	ck_assert_uint_eq(o.id, a);
	ck_assert_uint_eq(o.key, UINT64_MAX);
	ck_assert_uint_eq(strlen(o.name), HEAP_OWNER_NAME_MAX - 1);
	ck_assert_str_eq(owner_info(b).name, "");
	ck_assert_uint_eq(owner_info(b).key, 42);
	ck_assert_str_eq(owner_info(o1).name, "one");
	ck_assert_int_eq(heap_owner_set_name(h, b, "bee"), 0);
	ck_assert_str_eq(owner_info(b).name, "bee");
	ck_assert_int_eq(heap_owner_set_name(h, b + 1, "x"), -ENOENT);
	heap_check(h);
}
END_TEST

START_TEST(test_owner_remove_rules)
{
	struct heap_owner_info o = { .id = 9 };
	uint64_t a = alloc(4);

	ck_assert_int_eq(heap_owner_remove(h, o1), -EBUSY);
	ck_assert_uint_eq(owner_info(o1).nspans, 1);
	free_at(a, 1);
	ck_assert_int_eq(heap_owner_remove(h, o1), 0);
	ck_assert_int_eq(heap_owner_remove(h, o1), -ENOENT);
	ck_assert_int_eq(heap_owner_get(h, o1, &o), -ENOENT);
	ck_assert_int_eq(heap_owner_get(h, 0, &o), -ENOENT);
	ck_assert_int_eq(heap_owner_get(h, HEAP_OWNER_SCAV, &o), -ENOENT);
	ck_assert_uint_eq(o.id, 9);
	/* Its spans freed, an owner with spans can go. */
	alloc_at(3, o2, 0);
	alloc_at(5, o2, 0);
	ck_assert_uint_eq(heap_free_owner(h, o2, 2), 2);
	ck_assert_int_eq(heap_owner_remove(h, o2), 0);
	ck_assert_uint_eq(stats().owners, 0);
	ck_assert_uint_eq(stats().inuse, 0);
	heap_check(h);
}
END_TEST

START_TEST(test_owner_next_walks_live)
{
	struct heap_owner_info o;
	uint32_t a, b, c, cursor = 0, seen = 0;

	ck_assert_int_eq(heap_owner_add(h, "a", 10, &a), 0);
	ck_assert_int_eq(heap_owner_add(h, "b", 11, &b), 0);
	ck_assert_int_eq(heap_owner_add(h, "c", 12, &c), 0);
	ck_assert_int_eq(heap_owner_remove(h, b), 0);
	while (heap_owner_next(h, &cursor, &o)) {
		ck_assert(o.id == o1 || o.id == o2 || o.id == a || o.id == c);
		seen++;
	}
	ck_assert_uint_eq(seen, 4);
	ck_assert(!heap_owner_next(h, &cursor, &o));
}
END_TEST

static Suite *owner_suite(void)
{
	Suite *s = suite_create("owner");
	TCase *tc;

	tc = tcase_create("ids");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_owner_fill_table);
	tcase_add_test(tc, test_owner_ids_not_reused_soon);
	tcase_add_test(tc, test_owner_big_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_owner_names_and_keys);
	tcase_add_test(tc, test_owner_remove_rules);
	tcase_add_test(tc, test_owner_next_walks_live);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(owner_suite)
