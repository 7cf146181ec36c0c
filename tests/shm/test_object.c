// SPDX-License-Identifier: MIT
/*
 * Tests for shm/object.c: the object table in the heap's metadata.
 * Every call's success and each of its errors, an error changing
 * nothing (the snapshot of objects.h); ids that never come back; names
 * at their limits; the lifetime rule (freed once deleted and
 * unreferenced, an OPEN object aborted when its creator's reference
 * goes); a second handle.  test_object_scale.c has 100k objects and
 * what the table costs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testlib.h"
#include "tests/shm/objects.h"

#define POISON 0x5a

/* An info that no call wrote: all POISON bytes. */
static void poison(struct heap_obj_info *x)
{
	memset(x, POISON, sizeof(*x));
}

static bool poisoned(const struct heap_obj_info *x)
{
	const unsigned char *p = (const unsigned char *)x;

	for (size_t i = 0; i < sizeof(*x); i++)
		if (p[i] != POISON)
			return false;
	return true;
}

/* heap_obj_create() of @req for @owner fails with @err, changing nothing. */
static void create_fails(uint32_t owner, const struct heap_obj_new *req,
			 int err)
{
	struct obj_snap before = obj_snap();
	struct heap_obj_info x;

	poison(&x);
	ck_assert_int_eq(heap_obj_create(h, owner, req, 9, &x), err);
	ck_assert(poisoned(&x));
	obj_assert_same(&before);
}

/* ---- create ---- */

START_TEST(test_create)
{
	struct heap_stats before = stats();
	struct heap_obj_new req = obj_new("frame/0", 3 * PG + 1);
	struct heap_obj_info x;
	struct heap_obj_stats os;
	uint32_t who;
	uint64_t np;

	req.pid = 77;
	req.uid = 1234;
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 555, &x), 0);
	heap_check(h);
	ck_assert_uint_ne(x.id, 0);
	ck_assert_uint_eq(x.off % PG, 0);
	ck_assert_uint_eq(x.size, 3 * PG + 1);
	ck_assert_uint_eq(x.npages, 4);
	ck_assert_uint_eq(x.refs, 1);
	ck_assert_uint_eq(x.created, 555);
	ck_assert_uint_eq(x.state, HEAP_OBJ_OPEN);
	ck_assert(!x.deleted);
	ck_assert_uint_eq(x.creator, o1);
	ck_assert_uint_eq(x.pid, 77);
	ck_assert_uint_eq(x.uid, 1234);
	ck_assert_str_eq(x.creator_name, "one");
	ck_assert_uint_eq(x.name_len, 7);
	ck_assert_str_eq(x.name, "frame/0");
	/* Heap memory, in use, of the object owner: no client's. */
	ck_assert_uint_eq(stats().inuse, before.inuse + 4 * PG);
	ck_assert_uint_eq(stats().objects, before.objects + 1);
	ck_assert_int_eq(heap_span_owner(h, x.off, &who, &np), 0);
	ck_assert_uint_eq(who, HEAP_OWNER_OBJECTS);
	ck_assert_uint_eq(np, 4);
	ck_assert_uint_eq(owner_info(o1).nspans, 0);
	ck_assert_uint_eq(owner_info(o1).nrefs, 1);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.open, 1);
	ck_assert_uint_eq(os.sealed, 0);
	ck_assert_uint_eq(os.deleted, 0);
	ck_assert_uint_eq(os.bytes, 3 * PG + 1);
	ck_assert_uint_eq(os.pages, 4);
	ck_assert_uint_eq(os.refs, 1);
	ck_assert_uint_eq(os.ref_records, 1);
	ck_assert_uint_eq(os.max_objects, OBJ_TABLE);
	ck_assert_uint_eq(os.max_refs, OBJ_REFS);
	/* The lookup says the same. */
	{
		struct heap_obj_info y = obj_info(x.id);

		ck_assert(!memcmp(&x, &y, sizeof(x)));
	}
}
END_TEST

/* Nobody frees an object's span through the span calls. */
START_TEST(test_create_span_not_freeable)
{
	struct heap_obj_info x = obj_create(o1, "mine", PG);
	struct obj_snap before = obj_snap();

	ck_assert_int_eq(heap_free(h, x.off, o1, 0), -EPERM);
	ck_assert_int_eq(heap_free(h, x.off, o2, 0), -EPERM);
	ck_assert_int_eq(heap_free(h, x.off, HEAP_OWNER_OBJECTS, 0), -EPERM);
	ck_assert_uint_eq(heap_free_owner(h, o1, 0), 0);
	obj_assert_same(&before);
	{
		struct heap_span s;

		ck_assert_int_eq(heap_alloc(h, 1, 0, HEAP_OWNER_OBJECTS, 0, &s),
				 -ENOENT);
	}
	obj_assert_same(&before);
}
END_TEST

/* HEAP_ALLOC_ZERO zeroes what a previous object left; 0 does not. */
START_TEST(test_create_zero)
{
	struct heap_obj_new req = obj_new("zeroed", 2 * PG);
	struct heap_obj_info x = obj_create(o1, "dirty", 2 * PG), y;
	uint64_t nzero = mem.nzero, bytes = mem.zeroed_bytes;

	memset(mem.base + x.off, 0xab, 2 * PG);
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	y = obj_create(o1, "plain", 2 * PG);
	ck_assert_uint_eq(y.off, x.off);
	ck_assert_uint_eq(mem.nzero, nzero);
	ck_assert_uint_eq(mem.base[y.off + 2 * PG - 1], 0xab);
	ck_assert_int_eq(heap_obj_release(h, o1, y.id, 0), 0);
	req.flags = HEAP_ALLOC_ZERO;
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 0, &y), 0);
	heap_check(h);
	ck_assert_uint_eq(y.off, x.off);
	ck_assert_uint_eq(mem.nzero, nzero + 1);
	ck_assert_uint_eq(mem.zeroed_bytes, bytes + 2 * PG);
	for (uint64_t i = 0; i < 2 * PG; i++)
		ck_assert_uint_eq(mem.base[y.off + i], 0);
}
END_TEST

START_TEST(test_create_errors)
{
	struct heap_obj_new req = obj_new("taken", PG);
	uint32_t gone;

	obj_sealed(o1, "taken", PG);
	obj_create(o2, "open", PG);
	/* Sizes and flags. */
	create_fails(o1, &(struct heap_obj_new){ "x", 1, 0, 0, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "x", 1, 1024 * PG + 1, 0, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "x", 1, UINT64_MAX, 0, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "x", 1, 1, 0x2, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "x", 1, 1, ~0u, 1, 1 },
		     -EINVAL);
	/* Names. */
	create_fails(o1, &(struct heap_obj_new){ "", 0, 1, 0, 1, 1 }, -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ NULL, 3, 1, 0, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "a\nb", 3, 1, 0, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "\xc0\xaf", 2, 1, 0, 1, 1 },
		     -EINVAL);
	create_fails(o1, &(struct heap_obj_new){ "\xed\xa0\x80", 3, 1, 0, 1, 1 },
		     -EINVAL);
	/* Owners that are not live. */
	ck_assert_int_eq(heap_owner_add(h, "gone", 0, &gone), 0);
	ck_assert_int_eq(heap_owner_remove(h, gone), 0);
	create_fails(gone, &req, -ESRCH);
	create_fails(0, &req, -ESRCH);
	create_fails(HEAP_OWNER_OBJECTS, &req, -ESRCH);
	create_fails(HEAP_OWNER_SCAV, &req, -ESRCH);
	/* Live names, sealed or open, whoever made them. */
	create_fails(o1, &req, -EEXIST);
	create_fails(o2, &req, -EEXIST);
	req = obj_new("open", 5);
	create_fails(o1, &req, -EEXIST);
	/* No room in the arena: 1024 pages, 2 in use. */
	req = obj_new("big", 1023 * PG);
	create_fails(o1, &req, -ENOMEM);
	req = obj_new("fits", 1022 * PG);
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 0,
					 &(struct heap_obj_info){ 0 }),
			 0);
	heap_check(h);
}
END_TEST

START_TEST(test_create_name_limits)
{
	char name[HEAP_OBJ_NAME_MAX + 1];
	struct heap_obj_new req;
	struct heap_obj_info x, y;

	memset(name, 'n', sizeof(name));
	req = (struct heap_obj_new){ name, 1, 1, 0, 1, 1 };
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 0, &x), 0);
	ck_assert_uint_eq(x.name_len, 1);
	ck_assert_str_eq(x.name, "n");
	req.len = HEAP_OBJ_NAME_MAX;
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 0, &y), 0);
	heap_check(h);
	ck_assert_uint_eq(y.name_len, HEAP_OBJ_NAME_MAX);
	ck_assert_uint_eq(strlen(y.name), HEAP_OBJ_NAME_MAX);
	ck_assert(!memcmp(y.name, name, HEAP_OBJ_NAME_MAX));
	req.len = HEAP_OBJ_NAME_MAX + 1;
	create_fails(o1, &req, -EINVAL);
	/* A name is its bytes: a prefix, or one byte more, is another. */
	ck_assert_int_eq(heap_obj_seal(h, o1, y.id), 0);
	ck_assert_int_eq(heap_obj_get(h, o2, name, HEAP_OBJ_NAME_MAX - 1, &x),
			 -ENOENT);
	ck_assert_int_eq(heap_obj_get(h, o2, name, HEAP_OBJ_NAME_MAX, &x), 0);
	ck_assert_uint_eq(x.id, y.id);
	/* Non-ASCII names, in their bytes. */
	req = (struct heap_obj_new){ "caf\xc3\xa9", 5, 1, 0, 1, 1 };
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 0, &x), 0);
	ck_assert_str_eq(x.name, "caf\xc3\xa9");
	heap_check(h);
}
END_TEST

/* The table holds OBJ_TABLE objects; the next is -ENOSPC, until one goes. */
START_TEST(test_create_table_full)
{
	struct heap_obj_new req;
	char name[16];

	for (int i = 0; i < OBJ_TABLE; i++) {
		struct heap_obj_info x;

		snprintf(name, sizeof(name), "o%d", i);
		x = obj_sealed(o1, name, 1);
		ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	}
	req = obj_new("one-more", 1);
	create_fails(o1, &req, -ENOSPC);
	ck_assert_int_eq(obj_delete("o7", 0), 0);
	obj_create(o1, "one-more", 1);
	create_fails(o1, &(struct heap_obj_new){ "x", 1, 1, 0, 1, 1 }, -ENOSPC);
}
END_TEST

/* A create needs a reference record: none free is -ENOSPC. */
START_TEST(test_create_refs_full)
{
	struct heap_obj_new req = obj_new("fifth", 1);
	char name[16];

	mem_teardown();
	obj_start(1024, 8, 4, true);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		obj_create(o1, name, 1);
	}
	create_fails(o1, &req, -ENOSPC);
	create_fails(o2, &req, -ENOSPC);
}
END_TEST

/* A heap without a table: every object call finds nothing, safely. */
START_TEST(test_no_table)
{
	struct heap_obj_new req = obj_new("x", 1);
	struct heap_obj_info x;
	struct heap_obj_gone g;
	struct obj_snap before;
	uint64_t cursor = 0;

	mem_teardown();
	obj_start(64, 0, 0, true);
	before = obj_snap();
	create_fails(o1, &req, -ENOSPC);
	ck_assert_int_eq(heap_obj_get(h, o1, "x", 1, &x), -ENOENT);
	ck_assert_int_eq(heap_obj_seal(h, o1, 1), -ENOENT);
	ck_assert_int_eq(heap_obj_release(h, o1, 1, 0), -EINVAL);
	ck_assert_int_eq(heap_obj_delete(h, "x", 1, 0, 0), -ENOENT);
	ck_assert_int_eq(heap_obj_lookup(h, 1, &x), -ENOENT);
	ck_assert(!heap_obj_next(h, &cursor, &x));
	ck_assert_int_eq(heap_obj_owner_gone(h, o1, 0, NULL, NULL, &g), 0);
	ck_assert_uint_eq(g.refs + g.aborted + g.freed + g.pages, 0);
	obj_assert_same(&before);
	ck_assert_uint_eq(before.objs.max_objects, 0);
}
END_TEST

/* Ids are never given twice: create fails once the sequence is spent. */
START_TEST(test_create_ids_exhausted)
{
	struct heap_obj_new req = obj_new("next", 1);
	uint64_t last = UINT64_MAX >> h->meta->obj_slot_bits;
	struct heap_obj_info x;

	h->meta->obj_seq = last;
	heap_check(h);
	x = obj_create(o1, "last", 1);
	ck_assert_uint_eq(x.id >> h->meta->obj_slot_bits, last);
	create_fails(o1, &req, -ENOSPC);
}
END_TEST

/* ---- seal ---- */

START_TEST(test_seal)
{
	struct heap_obj_info x = obj_create(o1, "s", 10);
	struct heap_obj_stats os;

	ck_assert_int_eq(heap_obj_seal(h, o1, x.id), 0);
	heap_check(h);
	ck_assert_uint_eq(obj_info(x.id).state, HEAP_OBJ_SEALED);
	ck_assert_uint_eq(obj_info(x.id).refs, 1);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.open, 0);
	ck_assert_uint_eq(os.sealed, 1);
}
END_TEST

static void seal_fails(uint32_t owner, uint64_t id, int err)
{
	struct obj_snap before = obj_snap();

	ck_assert_int_eq(heap_obj_seal(h, owner, id), err);
	obj_assert_same(&before);
}

START_TEST(test_seal_errors)
{
	struct heap_obj_info x = obj_create(o1, "s", 10);
	struct heap_obj_info y = obj_create(o1, "aborted", 10);
	uint64_t mask = (UINT64_C(1) << h->meta->obj_slot_bits) - 1;

	seal_fails(o2, x.id, -EPERM);
	seal_fails(HEAP_OWNER_OBJECTS, x.id, -EPERM);
	seal_fails(o1, 0, -ENOENT);
	seal_fails(o1, x.id + mask + 1, -ENOENT);	/* another sequence */
	seal_fails(o1, (x.id & ~mask) | 40, -ENOENT);	/* a slot unused */
	seal_fails(o1, UINT64_MAX, -ENOENT);
	ck_assert_int_eq(heap_obj_seal(h, o1, x.id), 0);
	seal_fails(o1, x.id, -EALREADY);
	seal_fails(o2, x.id, -EPERM);
	/* Deleted while OPEN: aborted, it can no longer be sealed. */
	ck_assert_int_eq(obj_delete("aborted", OBJ_UID), 0);
	seal_fails(o1, y.id, -ENOENT);
	/* Deleted once sealed: it is sealed still. */
	ck_assert_int_eq(obj_delete("s", OBJ_UID), 0);
	seal_fails(o1, x.id, -EALREADY);
}
END_TEST

/* ---- get ---- */

START_TEST(test_get)
{
	struct heap_obj_info x = obj_sealed(o1, "g", 2 * PG), y, z;
	struct heap_obj_stats os;

	ck_assert_int_eq(obj_get(o2, "g", &y), 0);
	ck_assert_uint_eq(y.id, x.id);
	ck_assert_uint_eq(y.off, x.off);
	ck_assert_uint_eq(y.size, 2 * PG);
	ck_assert_uint_eq(y.refs, 2);
	ck_assert_uint_eq(y.state, HEAP_OBJ_SEALED);
	ck_assert_uint_eq(owner_info(o2).nrefs, 1);
	/* Several references of one owner are one record. */
	ck_assert_int_eq(obj_get(o2, "g", &z), 0);
	ck_assert_uint_eq(z.refs, 3);
	ck_assert_int_eq(obj_get(o1, "g", &z), 0);
	ck_assert_uint_eq(z.refs, 4);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.refs, 4);
	ck_assert_uint_eq(os.ref_records, 2);
	ck_assert_uint_eq(owner_info(o2).nrefs, 1);
	ck_assert_uint_eq(owner_info(o1).nrefs, 1);
	/* A get returns what lookup does. */
	y = obj_info(x.id);
	ck_assert(!memcmp(&z, &y, sizeof(z)));
}
END_TEST

static void get_fails(uint32_t owner, const char *name, size_t len, int err)
{
	struct obj_snap before = obj_snap();
	struct heap_obj_info x;

	poison(&x);
	ck_assert_int_eq(heap_obj_get(h, owner, name, len, &x), err);
	ck_assert(poisoned(&x));
	obj_assert_same(&before);
}

START_TEST(test_get_errors)
{
	uint32_t gone;

	obj_sealed(o1, "here", 1);
	obj_create(o1, "open", 1);
	obj_sealed(o1, "deleted", 1);
	ck_assert_int_eq(obj_get(o2, "deleted", &(struct heap_obj_info){ 0 }),
			 0);
	ck_assert_int_eq(obj_delete("deleted", 0), 0);
	get_fails(o2, "", 0, -EINVAL);
	get_fails(o2, NULL, 4, -EINVAL);
	get_fails(o2, "he\x7fre", 5, -EINVAL);
	ck_assert_int_eq(heap_owner_add(h, "gone", 0, &gone), 0);
	ck_assert_int_eq(heap_owner_remove(h, gone), 0);
	get_fails(gone, "here", 4, -ESRCH);
	get_fails(0, "here", 4, -ESRCH);
	get_fails(o2, "there", 5, -ENOENT);
	get_fails(o2, "her", 3, -ENOENT);
	get_fails(o2, "deleted", 7, -ENOENT);
	/* OPEN: there, but not to be read; the creator cannot either. */
	get_fails(o2, "open", 4, -EAGAIN);
	get_fails(o1, "open", 4, -EAGAIN);
}
END_TEST

/* A new record needs room; more references on a record do not. */
START_TEST(test_get_refs_full)
{
	struct heap_obj_info a, x;

	mem_teardown();
	obj_start(1024, 8, 3, true);
	a = obj_sealed(o1, "a", 1);
	obj_sealed(o1, "b", 1);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	/* Three records in use: o1's two, o2's one. */
	get_fails(o2, "b", 1, -ENOSPC);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	ck_assert_int_eq(obj_get(o1, "b", &x), 0);
	ck_assert_uint_eq(x.refs, 2);
	/* A release that frees a record makes room. */
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 0), 0);
	get_fails(o2, "b", 1, -ENOSPC);
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 0), 0);
	ck_assert_int_eq(obj_get(o2, "b", &x), 0);
	ck_assert_uint_eq(x.refs, 3);
}
END_TEST

/* An owner's count of one object's references is 32 bits: then -EOVERFLOW. */
START_TEST(test_get_overflow)
{
	struct heap_obj_info x = obj_sealed(o1, "many", 1);
	uint32_t i = ref_find(h, o1, obj_slot(h, x.id));
	uint32_t more = UINT32_MAX - 2;

	ck_assert_uint_ne(i, 0);
	/* As if o1 had got it 2^32 - 3 more times. */
	h->refs[i - 1].count += more;
	h->objs[obj_slot(h, x.id)].refs += more;
	h->meta->refs_total += more;
	heap_check(h);
	ck_assert_int_eq(obj_get(o1, "many", &x), 0);
	ck_assert_uint_eq(x.refs, UINT32_MAX);
	get_fails(o1, "many", 4, -EOVERFLOW);
	/* Another owner has a count of its own. */
	ck_assert_int_eq(obj_get(o2, "many", &x), 0);
	ck_assert_uint_eq(x.refs, UINT64_C(1) + UINT32_MAX);
}
END_TEST

/* ---- release ---- */

START_TEST(test_release)
{
	struct heap_obj_info x = obj_sealed(o1, "r", PG), y;
	struct heap_stats before;

	ck_assert_int_eq(obj_get(o2, "r", &y), 0);
	ck_assert_int_eq(obj_get(o2, "r", &y), 0);
	ck_assert_int_eq(heap_obj_release(h, o2, x.id, 0), 0);
	heap_check(h);
	ck_assert_uint_eq(obj_info(x.id).refs, 2);
	ck_assert_uint_eq(owner_info(o2).nrefs, 1);
	ck_assert_int_eq(heap_obj_release(h, o2, x.id, 0), 0);
	heap_check(h);
	ck_assert_uint_eq(owner_info(o2).nrefs, 0);
	/* Unreferenced but named, a sealed object lives on. */
	before = stats();
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	heap_check(h);
	ck_assert_uint_eq(obj_info(x.id).refs, 0);
	ck_assert_uint_eq(stats().inuse, before.inuse);
	ck_assert_int_eq(obj_get(o2, "r", &y), 0);
	ck_assert_uint_eq(y.id, x.id);
}
END_TEST

static void release_fails(uint32_t owner, uint64_t id)
{
	struct obj_snap before = obj_snap();

	ck_assert_int_eq(heap_obj_release(h, owner, id, 0), -EINVAL);
	obj_assert_same(&before);
}

START_TEST(test_release_errors)
{
	struct heap_obj_info x = obj_sealed(o1, "r", PG);
	uint64_t mask = (UINT64_C(1) << h->meta->obj_slot_bits) - 1;

	release_fails(o2, x.id);		/* holds none */
	release_fails(0, x.id);
	release_fails(HEAP_OWNER_OBJECTS, x.id);
	release_fails(o1, 0);
	release_fails(o1, x.id + mask + 1);
	release_fails(o1, UINT64_MAX);
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	release_fails(o1, x.id);		/* no more */
}
END_TEST

/* The creator's reference is all an OPEN object has: releasing it aborts. */
START_TEST(test_release_open_aborts)
{
	struct heap_stats before = stats();
	struct heap_obj_info x = obj_create(o1, "draft", 3 * PG);
	struct heap_obj_stats os;

	ck_assert_uint_eq(stats().inuse, before.inuse + 3 * PG);
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 5), 0);
	heap_check(h);
	ck_assert_uint_eq(stats().inuse, before.inuse);
	ck_assert_int_eq(heap_obj_lookup(h, x.id, &x), -ENOENT);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.open + os.sealed + os.deleted + os.refs, 0);
	ck_assert_uint_eq(os.bytes + os.pages + os.ref_records, 0);
	/* The name is free again. */
	obj_create(o2, "draft", 1);
}
END_TEST

/* ---- delete ---- */

START_TEST(test_delete_unreferenced)
{
	struct heap_obj_info x = obj_sealed(o1, "d", 5 * PG);
	struct heap_stats before;

	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	before = stats();
	ck_assert_int_eq(obj_delete("d", OBJ_UID), 0);
	ck_assert_uint_eq(stats().inuse, before.inuse - 5 * PG);
	ck_assert_uint_eq(stats().objects, before.objects - 1);
	ck_assert_int_eq(heap_obj_lookup(h, x.id, &x), -ENOENT);
}
END_TEST

/* Deleted while referenced: inuse falls by its pages at the last release. */
START_TEST(test_delete_referenced)
{
	struct heap_obj_info x = obj_sealed(o1, "d", 5 * PG), y;
	struct heap_stats before;
	struct heap_obj_stats os;

	ck_assert_int_eq(obj_get(o2, "d", &y), 0);
	before = stats();
	ck_assert_int_eq(obj_delete("d", OBJ_UID), 0);
	ck_assert_uint_eq(stats().inuse, before.inuse);
	y = obj_info(x.id);
	ck_assert(y.deleted);
	ck_assert_uint_eq(y.state, HEAP_OBJ_SEALED);
	ck_assert_uint_eq(y.refs, 2);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.sealed, 0);
	ck_assert_uint_eq(os.deleted, 1);
	ck_assert_uint_eq(os.pages, 5);
	/* Gone by name, at once. */
	ck_assert_int_eq(obj_get(o2, "d", &y), -ENOENT);
	ck_assert_int_eq(obj_delete("d", OBJ_UID), -ENOENT);
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	heap_check(h);
	ck_assert_uint_eq(stats().inuse, before.inuse);
	ck_assert_int_eq(heap_obj_release(h, o2, x.id, 0), 0);
	heap_check(h);
	ck_assert_uint_eq(stats().inuse, before.inuse - 5 * PG);
	ck_assert_int_eq(heap_obj_lookup(h, x.id, &y), -ENOENT);
	heap_obj_stats(h, &os);
	ck_assert_uint_eq(os.deleted + os.pages + os.bytes + os.refs, 0);
}
END_TEST

/* The scavenger sees an object's pages only once the object is freed. */
START_TEST(test_delete_then_scavenged)
{
	struct heap_obj_info x = obj_sealed(o1, "data", 8 * PG);
	struct heap_stats st;
	uint64_t released;

	memset(mem.base + x.off, 0xcd, 8 * PG);
	release_pass(1, 0);
	st = stats();
	ck_assert_uint_eq(st.released, st.idle);
	for (uint64_t p = 0; p < 8; p++)
		ck_assert(mem_page_data(x.off / PG + p));
	ck_assert_int_eq(obj_delete("data", OBJ_UID), 0);
	release_pass(2, 0);
	for (uint64_t p = 0; p < 8; p++)
		ck_assert(mem_page_data(x.off / PG + p));
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 3), 0);
	heap_check(h);
	released = release_pass(4, 0);
	ck_assert_uint_ge(released, 8 * PG);
	for (uint64_t p = 0; p < 8; p++)
		ck_assert(!mem_page_data(x.off / PG + p));
	st = stats();
	ck_assert_uint_eq(st.released, st.idle);
}
END_TEST

static void delete_fails(const char *name, size_t len, uint32_t uid, int err)
{
	struct obj_snap before = obj_snap();

	ck_assert_int_eq(heap_obj_delete(h, name, len, uid, 0), err);
	obj_assert_same(&before);
}

START_TEST(test_delete_errors)
{
	obj_sealed(o1, "mine", 1);
	delete_fails("", 0, 0, -EINVAL);
	delete_fails(NULL, 2, 0, -EINVAL);
	delete_fails("\xff", 1, 0, -EINVAL);
	delete_fails("yours", 5, 0, -ENOENT);
	delete_fails("min", 3, 0, -ENOENT);
	delete_fails("mine", 4, OBJ_UID + 1, -EPERM);
	delete_fails("mine", 4, UINT32_MAX, -EPERM);
	/* Root may. */
	ck_assert_int_eq(obj_delete("mine", 0), 0);
	delete_fails("mine", 4, 0, -ENOENT);
}
END_TEST

/* A name deleted is free at once, while its old object lives on. */
START_TEST(test_delete_name_reuse)
{
	struct heap_obj_info old = obj_sealed(o1, "v", PG), x, y;

	ck_assert_int_eq(obj_get(o2, "v", &x), 0);
	ck_assert_int_eq(obj_delete("v", OBJ_UID), 0);
	y = obj_sealed(o1, "v", 2 * PG);
	ck_assert_uint_ne(y.id, old.id);
	ck_assert_uint_ne(y.off, old.off);
	ck_assert_int_eq(obj_get(o2, "v", &x), 0);
	ck_assert_uint_eq(x.id, y.id);
	ck_assert(obj_info(old.id).deleted);
	ck_assert(!obj_info(y.id).deleted);
	ck_assert_uint_eq(obj_info(old.id).refs, 2);
}
END_TEST

/* Deleting an OPEN object aborts it; its creator's release frees it. */
START_TEST(test_delete_open_aborts)
{
	struct heap_stats before = stats();
	struct heap_obj_info x = obj_create(o1, "wip", 2 * PG);

	ck_assert_int_eq(obj_delete("wip", OBJ_UID), 0);
	ck_assert(obj_info(x.id).deleted);
	ck_assert_uint_eq(obj_info(x.id).state, HEAP_OBJ_OPEN);
	ck_assert_int_eq(heap_obj_seal(h, o1, x.id), -ENOENT);
	ck_assert_uint_eq(stats().inuse, before.inuse + 2 * PG);
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	heap_check(h);
	ck_assert_uint_eq(stats().inuse, before.inuse);
}
END_TEST

/* ---- ids ---- */

/*
 * The slot of a freed object is used again, under a new id: the old id
 * finds nothing, in every call.
 */
START_TEST(test_id_stale_after_reuse)
{
	struct heap_obj_info a = obj_sealed(o1, "a", PG), b, x;

	ck_assert_int_eq(obj_delete("a", OBJ_UID), 0);
	ck_assert_int_eq(heap_obj_release(h, o1, a.id, 0), 0);
	b = obj_create(o1, "b", PG);
	ck_assert_uint_eq(obj_slot(h, b.id), obj_slot(h, a.id));
	ck_assert_uint_gt(b.id, a.id);
	ck_assert_int_eq(heap_obj_lookup(h, a.id, &x), -ENOENT);
	seal_fails(o1, a.id, -ENOENT);
	release_fails(o1, a.id);
	ck_assert_uint_eq(obj_info(b.id).state, HEAP_OBJ_OPEN);
	ck_assert_uint_eq(obj_info(b.id).refs, 1);
}
END_TEST

/* Ids grow with every creation, so none comes back, whatever the slots. */
START_TEST(test_id_unique)
{
	uint64_t last = 0;

	for (int i = 0; i < 5000; i++) {
		struct heap_obj_new req = obj_new(i % 2 ? "odd" : "even", 1);
		struct heap_obj_info x;

		ck_assert_int_eq(heap_obj_create(h, o1, &req, 0, &x), 0);
		ck_assert_uint_gt(x.id, last);
		last = x.id;
		ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	}
	heap_check(h);
	/* Aborted at once, one slot did for all. */
	ck_assert_uint_eq(h->meta->obj_hwm, 1);
}
END_TEST

/* ---- an owner's going ---- */

struct freed {
	uint64_t n, pages;
};

static void count_freed(void *ctx, uint64_t page, uint64_t npages)
{
	struct freed *f = ctx;

	ck_assert_uint_lt(page, 1024);
	f->n++;
	f->pages += npages;
}

START_TEST(test_owner_gone)
{
	struct heap_obj_info kept = obj_sealed(o1, "kept", PG);
	struct heap_obj_info read = obj_sealed(o2, "read", 2 * PG);
	struct heap_obj_info open = obj_create(o1, "open", 4 * PG);
	struct heap_obj_info last = obj_sealed(o2, "last", 8 * PG), x;
	struct heap_stats before;
	struct heap_obj_gone g;
	struct freed f = { 0, 0 };

	ck_assert_int_eq(obj_get(o1, "read", &x), 0);
	ck_assert_int_eq(obj_get(o1, "read", &x), 0);
	ck_assert_int_eq(obj_get(o1, "last", &x), 0);
	ck_assert_int_eq(heap_obj_release(h, o2, last.id, 0), 0);
	ck_assert_int_eq(obj_delete("last", OBJ_UID), 0);
	ck_assert_int_eq(obj_get(o2, "kept", &x), 0);
	/* o1 holds: kept 1, read 2, open 1, last 1 (deleted). */
	ck_assert_uint_eq(owner_info(o1).nrefs, 4);
	ck_assert_int_eq(heap_owner_remove(h, o1), -EBUSY);
	before = stats();
	ck_assert_int_eq(heap_obj_owner_gone(h, o1, 0, count_freed, &f, &g), 0);
	heap_check(h);
	ck_assert_uint_eq(g.refs, 5);
	ck_assert_uint_eq(g.aborted, 1);
	ck_assert_uint_eq(g.freed, 2);		/* open and last */
	ck_assert_uint_eq(g.pages, 12);
	ck_assert_uint_eq(f.n, 2);
	ck_assert_uint_eq(f.pages, 12);
	ck_assert_uint_eq(stats().inuse, before.inuse - 12 * PG);
	ck_assert_uint_eq(owner_info(o1).nrefs, 0);
	ck_assert_int_eq(heap_obj_lookup(h, open.id, &x), -ENOENT);
	ck_assert_int_eq(heap_obj_lookup(h, last.id, &x), -ENOENT);
	/* What o1 made and sealed outlives it; o2's references stay. */
	ck_assert_uint_eq(obj_info(kept.id).refs, 1);
	ck_assert_uint_eq(obj_info(read.id).refs, 1);
	ck_assert_int_eq(heap_owner_remove(h, o1), 0);
	heap_check(h);
	ck_assert_int_eq(obj_get(o2, "kept", &x), 0);
	ck_assert_uint_eq(x.creator, o1);
	ck_assert_str_eq(x.creator_name, "one");
	ck_assert_uint_eq(x.refs, 2);
	/* The name of the aborted object is free. */
	obj_create(o2, "open", 1);
}
END_TEST

START_TEST(test_owner_gone_errors)
{
	struct heap_obj_gone g = { 1, 2, 3, 4 };
	struct obj_snap before;
	uint32_t gone;

	obj_sealed(o1, "x", 1);
	ck_assert_int_eq(heap_owner_add(h, "gone", 0, &gone), 0);
	ck_assert_int_eq(heap_owner_remove(h, gone), 0);
	before = obj_snap();
	ck_assert_int_eq(heap_obj_owner_gone(h, gone, 0, NULL, NULL, &g),
			 -ESRCH);
	ck_assert_int_eq(heap_obj_owner_gone(h, 0, 0, NULL, NULL, &g), -ESRCH);
	ck_assert_int_eq(heap_obj_owner_gone(h, HEAP_OWNER_OBJECTS, 0, NULL,
					     NULL, &g),
			 -ESRCH);
	ck_assert_uint_eq(g.refs + g.aborted + g.freed + g.pages, 10);
	obj_assert_same(&before);
	/* An owner that holds nothing: nothing done, NULL outputs fine. */
	ck_assert_int_eq(heap_obj_owner_gone(h, o2, 0, NULL, NULL, NULL), 0);
	obj_assert_same(&before);
}
END_TEST

/* ---- lookup, walk, stats ---- */

START_TEST(test_walk)
{
	struct heap_obj_info a = obj_sealed(o1, "a", 1);
	struct heap_obj_info b = obj_create(o2, "b", PG + 1);
	struct heap_obj_info c = obj_sealed(o1, "c", 1);
	struct heap_obj_info g = obj_sealed(o1, "gone", 1), x;
	uint64_t cursor = 0, seen = 0;
	int n = 0;

	ck_assert_int_eq(obj_delete("gone", 0), 0);
	ck_assert_int_eq(heap_obj_release(h, o1, g.id, 0), 0);	/* freed */
	ck_assert_int_eq(obj_delete("c", 0), 0);	/* referenced: stays */
	while (heap_obj_next(h, &cursor, &x)) {
		struct heap_obj_info y = obj_info(x.id);

		ck_assert(!memcmp(&x, &y, sizeof(x)));
		if (x.id == a.id)
			seen |= 1;
		else if (x.id == b.id)
			seen |= 2;
		else if (x.id == c.id)
			seen |= x.deleted ? 4 : 0;
		n++;
	}
	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(seen, 7);
	ck_assert(!heap_obj_next(h, &cursor, &x));
}
END_TEST

/* ---- a second handle ---- */

START_TEST(test_attach_sees_objects)
{
	struct heap_obj_info a = obj_sealed(o1, "shared", 3 * PG), x, y;
	struct heap *keep = h, *other;
	struct obj_snap s1, s2;
	struct arena *m2;
	int fd;

	obj_create(o2, "open", 1);
	ck_assert_int_eq(obj_get(o2, "shared", &x), 0);
	s1 = obj_snap();
	fd = dup(meta->fd);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(arena_attach(fd, &m2), 0);
	ck_assert_ptr_ne(m2->base, meta->base);
	ck_assert_int_eq(heap_attach(m2->base, m2->size, &keep->ops, &other),
			 0);
	heap_check(other);
	h = other;
	s2 = obj_snap();
	ck_assert(!memcmp(&s1, &s2, sizeof(s1)));
	/* What one handle does, the other sees. */
	ck_assert_int_eq(heap_obj_get(other, o1, "shared", 6, &y), 0);
	ck_assert_uint_eq(y.refs, 3);
	h = keep;
	ck_assert_uint_eq(obj_info(a.id).refs, 3);
	ck_assert_int_eq(heap_obj_release(h, o1, a.id, 0), 0);
	ck_assert_int_eq(heap_obj_lookup(other, a.id, &y), 0);
	ck_assert_uint_eq(y.refs, 2);
	heap_check(other);
	heap_check(h);
	heap_detach(other);
	arena_destroy(m2);
}
END_TEST

/* ---- many objects ---- */

static Suite *object_suite(void)
{
	Suite *s = suite_create("object");
	TCase *tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_create_span_not_freeable);
	tcase_add_test(tc, test_create_zero);
	tcase_add_test(tc, test_create_errors);
	tcase_add_test(tc, test_create_name_limits);
	tcase_add_test(tc, test_create_table_full);
	tcase_add_test(tc, test_create_refs_full);
	tcase_add_test(tc, test_no_table);
	tcase_add_test(tc, test_create_ids_exhausted);
	suite_add_tcase(s, tc);

	tc = tcase_create("seal");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_seal);
	tcase_add_test(tc, test_seal_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("get");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_get_errors);
	tcase_add_test(tc, test_get_refs_full);
	tcase_add_test(tc, test_get_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("release");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_release);
	tcase_add_test(tc, test_release_errors);
	tcase_add_test(tc, test_release_open_aborts);
	suite_add_tcase(s, tc);

	tc = tcase_create("delete");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_delete_unreferenced);
	tcase_add_test(tc, test_delete_referenced);
	tcase_add_test(tc, test_delete_errors);
	tcase_add_test(tc, test_delete_name_reuse);
	tcase_add_test(tc, test_delete_open_aborts);
	tcase_add_test(tc, test_delete_then_scavenged);
	suite_add_tcase(s, tc);

	tc = tcase_create("ids");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_id_stale_after_reuse);
	tcase_add_test(tc, test_id_unique);
	suite_add_tcase(s, tc);

	tc = tcase_create("owner_gone");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_owner_gone);
	tcase_add_test(tc, test_owner_gone_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_attach_sees_objects);
	suite_add_tcase(s, tc);

	return s;
}

TEST_MAIN(object_suite)
