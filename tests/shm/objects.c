// SPDX-License-Identifier: MIT
/* Objects for the tests of shm/: see objects.h. */
#include <string.h>

#include "shm/siphash.h"
#include "tests/lib/testlib.h"
#include "tests/shm/objects.h"

void obj_start(uint64_t pages, uint32_t max_objects, uint32_t max_refs,
	       bool backed)
{
	uint64_t seed = test_seed("object hash key");
	struct heap_config cfg = {
		.arena_size = pages * PG,
		.max_owners = FIXTURE_OWNERS,
		.max_objects = max_objects,
		.max_refs = max_refs,
		.hash_key = { test_rand(&seed), test_rand(&seed) },
	};

	mem_start_config(&cfg, backed, META_MEMFD);
}

void obj_setup(void)
{
	obj_start(1024, OBJ_TABLE, OBJ_REFS, true);
	ck_assert_int_eq(heap_set_grow_pages(h, 256), 0);
}

struct heap_obj_info obj_create(uint32_t owner, const char *name,
				uint64_t size)
{
	return obj_create_flags(owner, name, size, 0);
}

struct heap_obj_info obj_create_flags(uint32_t owner, const char *name,
				      uint64_t size, unsigned int flags)
{
	struct heap_obj_new req = { name, strlen(name), size, flags, OBJ_PID,
				    OBJ_UID };
	struct heap_obj_info x;
	int r = heap_obj_create(h, owner, &req, 7, &x);

	ck_assert_msg(r == 0, "create \"%s\": %d", name, r);
	heap_check(h);
	return x;
}

struct heap_obj_info obj_sealed(uint32_t owner, const char *name,
				uint64_t size)
{
	struct heap_obj_info x = obj_create(owner, name, size);

	ck_assert_int_eq(heap_obj_seal(h, owner, x.id), 0);
	heap_check(h);
	x.state = HEAP_OBJ_SEALED;
	return x;
}

struct heap_obj_info obj_candidate(uint32_t owner, const char *name,
				   uint64_t size)
{
	struct heap_obj_info x = obj_create_flags(owner, name, size,
						  HEAP_OBJ_EVICTABLE);

	ck_assert_int_eq(heap_obj_seal(h, owner, x.id), 0);
	ck_assert_int_eq(heap_obj_release(h, owner, x.id, 8), 0);
	heap_check(h);
	x.state = HEAP_OBJ_SEALED;
	x.refs = 0;
	return x;
}

int obj_get(uint32_t owner, const char *name, struct heap_obj_info *ret)
{
	int r = heap_obj_get(h, owner, name, strlen(name), ret);

	heap_check(h);
	return r;
}

int obj_delete(const char *name, uint32_t uid)
{
	int r = heap_obj_delete(h, name, strlen(name), uid, 0);

	heap_check(h);
	return r;
}

struct heap_obj_info obj_info(uint64_t id)
{
	struct heap_obj_info x;

	ck_assert_int_eq(heap_obj_lookup(h, id, &x), 0);
	return x;
}

struct obj_snap obj_snap(void)
{
	static const uint64_t key[2] = { 1, 2 };
	struct obj_snap s;
	struct heap_obj_info x;
	uint64_t cursor = 0;

	memset(&s, 0, sizeof(s));
	s.heap = stats();
	heap_obj_stats(h, &s.objs);
	s.o1 = owner_info(o1);
	s.o2 = owner_info(o2);
	while (heap_obj_next(h, &cursor, &x)) {
		s.digest = siphash24(key, &x, sizeof(x)) ^ (s.digest * 31);
		s.nobjs++;
	}
	s.meta_digest = siphash24(key, h->meta, sizeof(*h->meta));
	return s;
}

void obj_assert_same(const struct obj_snap *before)
{
	struct obj_snap now = obj_snap();

	ck_assert(!memcmp(&now.heap, &before->heap, sizeof(now.heap)));
	ck_assert(!memcmp(&now.objs, &before->objs, sizeof(now.objs)));
	ck_assert(!memcmp(&now.o1, &before->o1, sizeof(now.o1)));
	ck_assert(!memcmp(&now.o2, &before->o2, sizeof(now.o2)));
	ck_assert_uint_eq(now.nobjs, before->nobjs);
	ck_assert_uint_eq(now.digest, before->digest);
	ck_assert_uint_eq(now.meta_digest, before->meta_digest);
	heap_check(h);
}

struct heap_obj_new obj_new(const char *name, uint64_t size)
{
	struct heap_obj_new req = { name, strlen(name), size, 0, OBJ_PID,
				    OBJ_UID };

	return req;
}
