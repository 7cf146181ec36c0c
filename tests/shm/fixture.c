// SPDX-License-Identifier: MIT
/* The heap of the tests of shm/: see fixture.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/shm/fixture.h"

struct heap *h;
struct arena *meta;
uint32_t o1, o2;
static void *plain;

void fixture_start(uint64_t pages, const struct heap_ops *ops,
		   enum fixture_meta kind)
{
	struct heap_config cfg = { .arena_size = pages * PG,
				   .max_owners = FIXTURE_OWNERS };

	fixture_start_config(&cfg, ops, kind);
}

void fixture_start_config(const struct heap_config *cfg,
			  const struct heap_ops *ops, enum fixture_meta kind)
{
	struct heap_ops all = *ops, m;
	uint64_t size;
	void *mem;

	ck_assert_int_eq(heap_layout_size(cfg, &size), 0);
	if (kind == META_MEMFD) {
		ck_assert_int_eq(arena_create(size, "test-meta", &meta), 0);
		arena_heap_ops(NULL, meta, &m);
		all.meta_release = m.meta_release;
		all.meta_next_data = m.meta_next_data;
		all.meta_ctx = m.meta_ctx;
		mem = meta->base;
	} else {
		plain = aligned_alloc(PG, size);
		ck_assert_ptr_nonnull(plain);
		memset(plain, 0, size);
		all.meta_release = NULL;
		all.meta_next_data = NULL;
		all.meta_ctx = NULL;
		mem = plain;
	}
	ck_assert_int_eq(heap_format(mem, size, cfg, &all, &h), 0);
	ck_assert_int_eq(heap_owner_add(h, "one", 1, &o1), 0);
	ck_assert_int_eq(heap_owner_add(h, "two", 2, &o2), 0);
}

void fixture_stop(void)
{
	heap_detach(h);
	h = NULL;
	arena_destroy(meta);
	meta = NULL;
	free(plain);
	plain = NULL;
}

uint64_t meta_resident(void)
{
	uint64_t r;

	ck_assert_ptr_nonnull(meta);
	ck_assert_int_eq(arena_resident(meta, &r), 0);
	return r;
}

struct heap_stats stats(void)
{
	struct heap_stats st;

	heap_stats(h, &st);
	ck_assert_uint_eq(st.sys, st.idle + st.inuse);
	ck_assert_uint_le(st.released, st.idle);
	return st;
}

struct heap_owner_info owner_info(uint32_t id)
{
	struct heap_owner_info o;

	ck_assert_int_eq(heap_owner_get(h, id, &o), 0);
	return o;
}
