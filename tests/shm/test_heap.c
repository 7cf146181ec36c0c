// SPDX-License-Identifier: MIT
/*
 * Tests for shm/heap.c: formatting and attaching the metadata, which
 * holds the whole heap; allocation, growth, freeing and coalescing;
 * zeroing; what the metadata costs; and random sequences against a
 * model, through two handles.  Over plain memory (tests/shm/mem.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"

/* alloc */

START_TEST(test_alloc_fresh_heap)
{
	struct heap_stats st;
	struct heap_span s;

	ck_assert_int_eq(heap_alloc(h, 3, 0, o1, 0, &s), 0);
	ck_assert_uint_eq(s.off, 0);
	ck_assert_uint_eq(s.npages, 3);
	ck_assert_uint_eq(s.npreleased, 3);
	st = stats();
	ck_assert_uint_eq(st.arena_size, 1024 * PG);
	ck_assert_uint_eq(st.sys, 256 * PG);
	ck_assert_uint_eq(st.inuse, 3 * PG);
	ck_assert_uint_eq(st.idle, 253 * PG);
	/* Grown pages were never touched: they count as released. */
	ck_assert_uint_eq(st.released, 253 * PG);
	ck_assert_uint_eq(st.objects, 1);
	ck_assert_uint_eq(st.free_spans, 1);
	ck_assert_uint_eq(owner_info(o1).nspans, 1);
	ck_assert_uint_eq(owner_info(o1).npages, 3);
	ck_assert_uint_eq(alloc(5), 3 * PG);
	heap_check(h);
}
END_TEST

START_TEST(test_alloc_bad_args)
{
	struct heap_span s = { 7, 7, 7 };
	struct heap_stats before = stats(), after;

	ck_assert_int_eq(heap_alloc(h, 0, 0, o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, 1025, 0, o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, UINT64_MAX, 0, o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_alloc(h, 1, 0x80, o1, 0, &s), -EINVAL);
	/* Outputs are written only on success. */
	ck_assert_uint_eq(s.off, 7);
	ck_assert_uint_eq(s.npages, 7);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	heap_check(h);
}
END_TEST

START_TEST(test_alloc_dead_owner)
{
	struct heap_span s = { 7, 7, 7 };
	struct heap_stats before = stats(), after;
	uint32_t o;

	ck_assert_int_eq(heap_owner_add(h, "gone", 3, &o), 0);
	ck_assert_int_eq(heap_owner_remove(h, o), 0);
	ck_assert_int_eq(heap_alloc(h, 1, 0, o, 0, &s), -ENOENT);
	ck_assert_int_eq(heap_alloc(h, 1, 0, 0, 0, &s), -ENOENT);
	ck_assert_int_eq(heap_alloc(h, 1, 0, HEAP_OWNER_SCAV, 0, &s), -ENOENT);
	ck_assert_uint_eq(s.off, 7);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	heap_check(h);
}
END_TEST

START_TEST(test_alloc_splits_remainder)
{
	uint64_t a = alloc(10), b;
	struct heap_stats st;

	alloc(1);
	free_at(a, 1);
	b = alloc(4);
	ck_assert_uint_eq(b, a);
	/* the 6 pages left are still one free span right after b */
	ck_assert_uint_eq(alloc(6), a + 4 * PG);
	st = stats();
	ck_assert_uint_eq(st.objects, 3);
}
END_TEST

START_TEST(test_alloc_grows_and_joins_chunks)
{
	struct heap_stats st;

	ck_assert_uint_eq(alloc(10), 0);
	/* 246 pages are free at the end; 300 need one more chunk, joined. */
	ck_assert_uint_eq(alloc(300), 10 * PG);
	st = stats();
	ck_assert_uint_eq(st.sys, 512 * PG);
	ck_assert_uint_eq(st.inuse, 310 * PG);
	ck_assert_uint_eq(st.free_spans, 1);
}
END_TEST

START_TEST(test_alloc_exhaustion)
{
	struct heap_stats before, after;
	struct heap_span s;
	uint64_t a, b;

	a = alloc(600);
	b = alloc(400);
	ck_assert_uint_eq(b, 600 * PG);
	before = stats();
	ck_assert_uint_eq(before.sys, 1000 * PG);
	ck_assert_int_eq(heap_alloc(h, 25, 0, o1, 0, &s), -ENOMEM);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_uint_eq(alloc(24), 1000 * PG);
	ck_assert_int_eq(heap_alloc(h, 1, 0, o1, 0, &s), -ENOMEM);
	free_at(a, 1);
	ck_assert_uint_eq(alloc(600), a);
}
END_TEST

START_TEST(test_alloc_exhaustion_leaves_heap_unchanged)
{
	struct heap_stats before, after;
	struct heap_span s;

	alloc(10);
	before = stats();
	/* 1014 free pages could exist, 1015 can never: nothing grows. */
	ck_assert_int_eq(heap_alloc(h, 1015, 0, o1, 0, &s), -ENOMEM);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	ck_assert_uint_eq(alloc(1014), 10 * PG);
}
END_TEST

/* free */

START_TEST(test_free_coalesce_combinations)
{
	/* A B C D E F G, all 2..8 pages, G keeps the tail in use */
	uint64_t sizes[] = { 2, 3, 4, 5, 6, 7, 8 };
	bool none[7] = { false };
	uint64_t o[7];
	struct heap_stats st;

	layout(sizes, none, 7, o);
	free_at(o[1], 1);		/* no free neighbour */
	ck_assert_uint_eq(stats().free_spans, 2);
	free_at(o[2], 1);		/* free left neighbour */
	ck_assert_uint_eq(stats().free_spans, 2);
	free_at(o[4], 1);		/* no free neighbour */
	ck_assert_uint_eq(stats().free_spans, 3);
	free_at(o[3], 1);		/* free on both sides */
	ck_assert_uint_eq(stats().free_spans, 2);
	free_at(o[0], 1);		/* free right neighbour, at page 0 */
	st = stats();
	ck_assert_uint_eq(st.free_spans, 2);
	/* A..E is one span of 20 pages at 0 */
	ck_assert_uint_eq(alloc(20), 0);
	ck_assert_uint_eq(st.objects, 2);
}
END_TEST

START_TEST(test_free_coalesce_with_tail)
{
	uint64_t a = alloc(4);

	free_at(a, 1);
	/* Everything grown is one free span again. */
	ck_assert_uint_eq(stats().free_spans, 1);
	ck_assert_uint_eq(stats().idle, 256 * PG);
}
END_TEST

START_TEST(test_free_bad_offsets)
{
	uint64_t a = alloc(4), b = alloc(2);
	struct heap_stats before = stats(), after;

	ck_assert_int_eq(heap_free(h, a + 1, o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, a + PG, o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, a + 3 * PG, o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, b + 2 * PG, o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, 1024 * PG, o1, 1), -EINVAL);
	ck_assert_int_eq(heap_free(h, UINT64_MAX & ~(PG - 1), o1, 1),
			 -EINVAL);
	ck_assert_int_eq(heap_free(h, b, o2, 1), -EPERM);
	after = stats();
	ck_assert_mem_eq(&before, &after, sizeof(before));
	heap_check(h);
	free_at(b, 1);
	ck_assert_int_eq(heap_free(h, b, o1, 1), -EINVAL);
	/* b merged with the tail; its old interior is no span either */
	ck_assert_int_eq(heap_free(h, b + PG, o1, 1), -EINVAL);
	heap_check(h);
}
END_TEST

START_TEST(test_free_owner)
{
	uint64_t a = alloc_at(3, o1, 0), b = alloc_at(5, o2, 0);
	uint64_t c = alloc_at(7, o1, 0);
	uint32_t id;
	uint64_t n;

	ck_assert_int_eq(heap_span_owner(h, b, &id, &n), 0);
	ck_assert_uint_eq(id, o2);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(heap_span_owner(h, b + PG, &id, &n), -EINVAL);
	ck_assert_uint_eq(owner_info(o1).nspans, 2);
	ck_assert_uint_eq(owner_info(o1).npages, 10);
	ck_assert_uint_eq(heap_free_owner(h, o1, 5), 2);
	heap_check(h);
	ck_assert_uint_eq(owner_info(o1).nspans, 0);
	ck_assert_uint_eq(owner_info(o1).npages, 0);
	ck_assert_int_eq(heap_free(h, a, o1, 5), -EINVAL);
	ck_assert_int_eq(heap_free(h, c, o1, 5), -EINVAL);
	ck_assert_uint_eq(stats().inuse, 5 * PG);
	ck_assert_uint_eq(stats().objects, 1);
	ck_assert_uint_eq(heap_free_owner(h, o1, 5), 0);
	ck_assert_int_eq(heap_free(h, b, o2, 5), 0);
	heap_check(h);
}
END_TEST

/* zero */

START_TEST(test_scavenge_reuse_updates_released)
{
	uint64_t a = alloc(8);
	struct heap_span s;
	struct heap_stats st;

	alloc(1);
	memset(mem.base + a, 0xab, 8 * PG);
	free_at(a, 1);
	ck_assert_uint_eq(release_pass(3, 1), 8 * PG);
	st = stats();
	/*
	 * Re-using released pages takes them out of heap_released.  With
	 * HEAP_ALLOC_ZERO the arena is asked all the same: only it knows
	 * whether a client wrote there since.
	 */
	ck_assert_int_eq(heap_alloc(h, 8, HEAP_ALLOC_ZERO, o1, 4, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.off, a);
	ck_assert_uint_eq(s.npreleased, 8);
	ck_assert_uint_eq(mem.nzero, 1);
	ck_assert_uint_eq(mem.zeroed_bytes, 8 * PG);
	ck_assert_uint_eq(stats().released, st.released - 8 * PG);
	for (uint64_t i = 0; i < 8 * PG; i++)
		if (mem.base[a + i])
			ck_abort_msg("byte %lu not zero", (unsigned long)i);
}
END_TEST

START_TEST(test_needzero_dirty_pages_only)
{
	uint64_t a = alloc(4), b = alloc(4);
	struct heap_span s;

	alloc(1);
	memset(mem.base + a, 0xcd, 8 * PG);
	free_at(a, 1);
	ck_assert_uint_eq(release_pass(10, 1), 4 * PG);	/* a released */
	free_at(b, 20);					/* b dirty */
	/* Without the flag nothing is zeroed. */
	ck_assert_int_eq(heap_alloc(h, 8, 0, o1, 30, &s), 0);
	ck_assert_uint_eq(s.npreleased, 4);
	ck_assert_uint_eq(mem.nzero, 0);
	ck_assert_uint_eq(mem.base[b], 0xcd);
	free_at(s.off, 40);
	/* With it, only the dirty run: b's 4 pages, in one call. */
	ck_assert_int_eq(heap_alloc(h, 8, HEAP_ALLOC_ZERO, o1, 50, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(mem.nzero, 1);
	ck_assert_uint_eq(mem.zeroed_bytes, 8 * PG);
	for (uint64_t i = 0; i < 8 * PG; i++)
		if (mem.base[a + i])
			ck_abort_msg("byte %lu not zero", (unsigned long)i);
}
END_TEST

/* A client wrote into released pages: ZERO still means zero. */
START_TEST(test_zero_released_written_since)
{
	uint64_t a = alloc(64);
	struct heap_span s;
	uint64_t nonzero = 0;

	alloc(1);
	memset(mem.base + a, 0x11, 64 * PG);
	free_at(a, 1);
	ck_assert_uint_eq(release_pass(3, 1), 64 * PG);
	/* Another client's stray write, through its mapping. */
	memset(mem.base + a, 0xab, 64 * PG);
	ck_assert_int_eq(heap_alloc(h, 64, HEAP_ALLOC_ZERO, o2, 4, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(s.off, a);
	ck_assert_uint_eq(s.npreleased, 64);
	for (uint64_t i = 0; i < 64 * PG; i++)
		nonzero += mem.base[a + i] != 0;
	ck_assert_uint_eq(nonzero, 0);
}
END_TEST

/* Pages beyond the heap, written before it grows over them. */
START_TEST(test_zero_beyond_grown_written_before)
{
	struct heap_span s;
	uint64_t nonzero = 0;

	alloc(1);
	ck_assert_uint_eq(stats().sys, 256 * PG);
	memset(mem.base + 300 * PG, 0xab, 8 * PG);
	/* 256 pages: no free span fits, the heap grows over page 300. */
	ck_assert_int_eq(heap_alloc(h, 512, HEAP_ALLOC_ZERO, o2, 4, &s), 0);
	heap_check(h);
	ck_assert_uint_le(s.off, 300 * PG);
	ck_assert_uint_ge(s.off + 512 * PG, 308 * PG);
	for (uint64_t i = 0; i < 512 * PG; i++)
		nonzero += mem.base[s.off + i] != 0;
	ck_assert_uint_eq(nonzero, 0);
}
END_TEST

/* format and attach */

/* heap_layout_size() and heap_format() of a heap without objects. */
static int layout_size(uint64_t arena_size, uint32_t max_owners,
		       uint64_t *ret)
{
	struct heap_config c = { .arena_size = arena_size,
				 .max_owners = max_owners };

	return heap_layout_size(&c, ret);
}

static int format(void *at, uint64_t size, uint64_t arena_size,
		  uint32_t max_owners, const struct heap_ops *ops,
		  struct heap **ret)
{
	struct heap_config c = { .arena_size = arena_size,
				 .max_owners = max_owners };

	return heap_format(at, size, &c, ops, ret);
}

START_TEST(test_layout_sizes)
{
	uint64_t size, big;

	ck_assert_int_eq(layout_size(1024 * PG, 16, &size), 0);
	ck_assert_uint_eq(size % PG, 0);
	/* The page map, 16 bytes a page, is most of it. */
	ck_assert_int_eq(layout_size(UINT64_C(64) << 30, 1040, &big), 0);
	ck_assert_uint_ge(big, (UINT64_C(64) << 30) / PG * 16);
	{
		struct heap_config c = { .arena_size = UINT64_C(64) << 30,
					 .max_owners = 1040 };
		struct heap_layout l;

		heap_layout(&c, &l);
		/* All but the journal; it takes half a byte a page more. */
		ck_assert_uint_le(l.journal, (UINT64_C(64) << 30) / PG * 17);
		ck_assert_uint_le(big - l.journal,
				  (UINT64_C(64) << 30) / PG / 2 + (UINT64_C(1) << 20));
		ck_assert_uint_eq(big, l.size);
	}
	size = 7;
	ck_assert_int_eq(layout_size(0, 16, &size), -EINVAL);
	ck_assert_int_eq(layout_size(PG + 1, 16, &size), -EINVAL);
	ck_assert_int_eq(layout_size((HEAP_MAX_PAGES + 1) * PG, 16,
					  &size), -EINVAL);
	ck_assert_int_eq(layout_size(PG, 0, &size), -EINVAL);
	ck_assert_int_eq(layout_size(PG, HEAP_OWNERS_MAX + 1, &size),
			 -EINVAL);
	ck_assert_uint_eq(size, 7);
	ck_assert_int_eq(layout_size(PG, HEAP_OWNERS_MAX, &size), 0);
}
END_TEST

/* The sizes of the object tables: both, or neither, and not too many. */
START_TEST(test_config_limits)
{
	struct heap_config c = { .arena_size = PG, .max_owners = 1 };
	uint64_t size = 7, plain;

	ck_assert_int_eq(heap_layout_size(&c, &plain), 0);
	c.max_objects = 1;
	ck_assert_int_eq(heap_layout_size(&c, &size), -EINVAL);	/* no refs */
	c.max_refs = 1;
	ck_assert_int_eq(heap_layout_size(&c, &size), 0);
	ck_assert_uint_gt(size, plain);
	c.max_objects = 0;
	ck_assert_int_eq(heap_layout_size(&c, &size), -EINVAL);	/* refs only */
	c.max_objects = HEAP_OBJECTS_MAX;
	c.max_refs = HEAP_REFS_MAX;
	ck_assert_int_eq(heap_layout_size(&c, &size), 0);
	size = 7;
	c.max_objects = HEAP_OBJECTS_MAX + 1;
	ck_assert_int_eq(heap_layout_size(&c, &size), -EINVAL);
	c.max_objects = HEAP_OBJECTS_MAX;
	c.max_refs = HEAP_REFS_MAX + 1;
	ck_assert_int_eq(heap_layout_size(&c, &size), -EINVAL);
	ck_assert_int_eq(heap_layout_size(NULL, &size), -EINVAL);
	ck_assert_uint_eq(size, 7);
}
END_TEST

START_TEST(test_format_bad_args)
{
	struct heap_ops ops;
	struct heap *x = NULL;
	uint64_t size;
	unsigned char *mem2;

	mem_ops(&ops, false);
	ck_assert_int_eq(layout_size(64 * PG, 4, &size), 0);
	mem2 = aligned_alloc(PG, size + PG);
	ck_assert_ptr_nonnull(mem2);
	memset(mem2, 0, size + PG);
	ck_assert_int_eq(format(mem2, size - PG, 64 * PG, 4, &ops, &x),
			 -EINVAL);
	ck_assert_int_eq(format(mem2 + 8, size, 64 * PG, 4, &ops, &x),
			 -EINVAL);
	ck_assert_int_eq(format(mem2, size, 64 * PG, 0, &ops, &x),
			 -EINVAL);
	ck_assert_int_eq(format(mem2, size, 64 * PG + 1, 4, &ops, &x),
			 -EINVAL);
	ops.zero = NULL;
	ck_assert_int_eq(format(mem2, size, 64 * PG, 4, &ops, &x),
			 -EINVAL);
	ck_assert_ptr_null(x);
	/* Bytes past the layout are the caller's: a larger size is fine. */
	mem_ops(&ops, false);
	ck_assert_int_eq(format(mem2, size + PG, 64 * PG, 4, &ops, &x), 0);
	heap_check(x);
	heap_detach(x);
	free(mem2);
}
END_TEST

START_TEST(test_attach_rejects)
{
	struct heap_meta *m = (struct heap_meta *)meta->base;
	struct heap_ops ops = h->ops;
	struct heap *x = NULL;
	uint64_t size = m->layout.size;

	ck_assert_int_eq(heap_attach(meta->base, size - PG, &ops, &x),
			 -EINVAL);
	ck_assert_int_eq(heap_attach(meta->base, 16, &ops, &x), -EINVAL);
	ck_assert_int_eq(heap_attach((char *)meta->base + 8, size, &ops, &x),
			 -EINVAL);
	m->version++;
	ck_assert_int_eq(heap_attach(meta->base, size, &ops, &x),
			 -EPROTONOSUPPORT);
	m->version--;
	m->layout.spans += PG;
	ck_assert_int_eq(heap_attach(meta->base, size, &ops, &x), -EINVAL);
	m->layout.spans -= PG;
	m->grown = m->arena_pages + 1;
	ck_assert_int_eq(heap_attach(meta->base, size, &ops, &x), -EINVAL);
	m->grown = 0;
	m->max_objects = 1;	/* an object table without references */
	ck_assert_int_eq(heap_attach(meta->base, size, &ops, &x), -EINVAL);
	m->max_objects = 0;
	m->magic ^= 1;
	ck_assert_int_eq(heap_attach(meta->base, size, &ops, &x), -EINVAL);
	m->magic ^= 1;
	ck_assert_ptr_null(x);
	ck_assert_int_eq(heap_attach(meta->base, size, &ops, &x), 0);
	heap_check(x);
	heap_detach(x);
}
END_TEST

/* The owners of @a and @b, slot by slot, are the same. */
static void assert_same_owners(const struct heap *a, const struct heap *b)
{
	struct heap_owner_info x, y;
	uint32_t ca = 0, cb = 0, n = 0;

	while (heap_owner_next(a, &ca, &x)) {
		ck_assert(heap_owner_next(b, &cb, &y));
		ck_assert_uint_eq(x.id, y.id);
		ck_assert_uint_eq(x.key, y.key);
		ck_assert_uint_eq(x.nspans, y.nspans);
		ck_assert_uint_eq(x.npages, y.npages);
		ck_assert_str_eq(x.name, y.name);
		n++;
	}
	ck_assert(!heap_owner_next(b, &cb, &y));
	ck_assert_uint_eq(n, stats().owners);
}

/* Map the metadata memfd a second time, elsewhere, and attach there. */
static struct heap *attach_elsewhere(struct arena **ret_map)
{
	struct heap *x;
	int fd = dup(meta->fd);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(arena_attach(fd, ret_map), 0);
	ck_assert_ptr_ne((*ret_map)->base, meta->base);
	ck_assert_int_eq(heap_attach((*ret_map)->base, (*ret_map)->size,
				     &h->ops, &x),
			 0);
	return x;
}

/*
 * A second handle, over a second mapping of the same metadata, is the
 * same heap: the same stats and owners, heap_check() passes, and what
 * one handle does the other sees.
 */
START_TEST(test_attach_live_heap)
{
	uint64_t seed = test_seed("attach"), rnd = seed, offs[64] = { 0 };
	uint32_t by[64];
	struct heap_stats a, b;
	struct arena *map2;
	struct heap_span s;
	struct heap *h1 = h, *h2;
	uint32_t o3, id;
	uint64_t n;

	for (int i = 0; i < 2000; i++) {
		uint64_t r = test_rand(&rnd), k = (r >> 8) % 64;

		if (offs[k]) {
			ck_assert_int_eq(heap_free(h, offs[k], by[k], i), 0);
			offs[k] = 0;
		} else if (heap_alloc(h, 1 + (r >> 16) % 24, 0,
				      r & 1 ? o1 : o2, i, &s) == 0) {
			offs[k] = s.off;
			by[k] = r & 1 ? o1 : o2;
		}
		if ((r >> 40) % 16 == 0)
			release_pass(i, 0);
	}
	ck_assert_int_eq(heap_owner_add(h, "three", 33, &o3), 0);
	h2 = attach_elsewhere(&map2);
	heap_check(h2);
	heap_stats(h1, &a);
	heap_stats(h2, &b);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	assert_same_owners(h1, h2);
	ck_assert_uint_eq(owner_info(o3).key, 33);
	/* Work through the second handle; the first sees it all. */
	h = h2;
	heap_free_owner(h2, o2, 5000);
	ck_assert_uint_eq(owner_info(o2).nspans, 0);
	ck_assert_int_eq(heap_owner_remove(h2, o2), 0);
	ck_assert_int_eq(heap_alloc(h2, 30, HEAP_ALLOC_ZERO, o3, 6000, &s),
			 0);
	release_pass(7000, 0);
	heap_check(h2);
	h = h1;
	heap_check(h1);
	ck_assert_int_eq(heap_owner_get(h1, o2, &(struct heap_owner_info){ 0 }),
			 -ENOENT);
	ck_assert_uint_eq(owner_info(o3).npages, 30);
	ck_assert_int_eq(heap_span_owner(h1, s.off, &id, &n), 0);
	ck_assert_uint_eq(id, o3);
	ck_assert_uint_eq(n, 30);
	heap_stats(h1, &a);
	heap_stats(h2, &b);
	ck_assert_mem_eq(&a, &b, sizeof(a));
	assert_same_owners(h1, h2);
	ck_assert_int_eq(heap_free(h1, s.off, o3, 8000), 0);
	heap_check(h2);
	heap_detach(h2);
	arena_destroy(map2);
}
END_TEST

/* A heap over plain memory, without the metadata hooks, works the same. */
START_TEST(test_plain_metadata)
{
	uint64_t a;

	mem_start(1024, true, META_PLAIN);
	ck_assert_int_eq(heap_set_grow_pages(h, 256), 0);
	a = alloc(300);
	alloc(1);
	free_at(a, 1);
	ck_assert_uint_eq(release_pass(5, 0), 300 * PG);
	ck_assert_uint_eq(alloc(300), a);
	heap_check(h);
}
END_TEST

/* metadata */

/* Bytes of [p, p + len) of the metadata in memory, as mincore() says. */
static uint64_t in_core(const void *p, uint64_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)(PG - 1);
	uint64_t pages = ((uintptr_t)p + len - a + PG - 1) / PG, n = 0;
	unsigned char *vec = malloc(pages);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)a, pages * PG, vec), 0);
	for (uint64_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n * PG;
}

START_TEST(test_meta_lazy_for_64g)
{
	mem_start((UINT64_C(64) << 30) / PG, false, META_MEMFD);
	alloc(1);
	/* Reserved for the whole arena, touched only where it grew. */
	ck_assert_uint_gt(stats().meta_size, UINT64_C(256) << 20);
	ck_assert_uint_lt(meta_resident(), UINT64_C(1) << 20);
	/* heap_check() reads no hole (each would cost a page). */
	heap_check(h);
	ck_assert_uint_lt(meta_resident(), UINT64_C(1) << 20);
}
END_TEST

START_TEST(test_meta_small_for_full_heap)
{
	uint64_t pages = BIG_PAGES;

	mem_start(pages, false, META_MEMFD);
	/* The worst case: the heap full of one-page spans. */
	for (uint64_t i = 0; i < pages; i++) {
		struct heap_span s;

		if (heap_alloc(h, 1, 0, o1, 0, &s))
			ck_abort_msg("alloc %lu failed", (unsigned long)i);
	}
	ck_assert_uint_eq(stats().inuse, pages * PG);
	ck_assert_uint_lt(meta_resident(), (pages * PG) / 200);
	ck_assert_uint_eq(heap_free_owner(h, o1, 1), pages);
	ck_assert_uint_eq(stats().free_spans, 1);
}
END_TEST

/*
 * The page map of a heap filled with 256-page spans: every page of it
 * touched.  Once they are freed and released, it must be given back,
 * and heap_check() must not fault it back in.
 */
START_TEST(test_meta_returned_after_release)
{
	uint64_t pages = BIG_PAGES, map = pages * 16, rest;
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;

	mem_start(pages, false, META_MEMFD);
	rest = meta_resident();
	for (uint64_t i = 0; i < pages / 256; i++) {
		struct heap_span s;

		if (heap_alloc(h, 256, 0, o1, 0, &s))
			ck_abort_msg("alloc %lu failed", (unsigned long)i);
	}
	ck_assert_uint_ge(meta_resident(), rest + map - PG);
	ck_assert_uint_eq(heap_free_owner(h, o1, 1), pages / 256);
	ck_assert_uint_ge(meta_resident(), rest + map - PG);
	/* A pass as the daemon's: 4 MiB runs. */
	while (heap_scavenge_take(h, 10, 0, 1024, &cursor, &t))
		heap_scavenge_return(h, &t, heap_release_taken(h, &t),
				     &cursor);
	/*
	 * The page map holds a few pages; the rest of the metadata its
	 * bitmaps (a bit a page), of which heap_check() faults in no more.
	 */
	ck_assert_msg(in_core(h->spans, map) <= 4 * PG,
		      "page map holds %llu bytes",
		      (unsigned long long)in_core(h->spans, map));
	rest = meta_resident();
	ck_assert_uint_le(rest, 2 * map / 128 + 16 * PG);
	heap_check(h);
	ck_assert_uint_le(in_core(h->spans, map), 4 * PG);
	ck_assert_msg(meta_resident() == rest,
		      "heap_check() faulted in %llu bytes",
		      (unsigned long long)(meta_resident() - rest));
	ck_assert_uint_eq(stats().released, pages * PG);
	/* It is still a heap: allocate all of it again. */
	for (uint64_t i = 0; i < pages / 256; i++) {
		struct heap_span s;

		if (heap_alloc(h, 256, 0, o1, 2, &s))
			ck_abort_msg("alloc %lu failed", (unsigned long)i);
	}
	heap_check(h);
}
END_TEST

/* randomised */

#define RND_PAGES 2048
#define RND_OPS 100000
#define RND_MAXSPANS 4096

struct live {
	uint64_t off, npages;
	int k;			/* owners[k] holds it */
	unsigned char pattern;
};

static void fill(uint64_t off, uint64_t n, unsigned char c)
{
	memset(mem.base + off, c, n * PG);
}

static void verify(uint64_t off, uint64_t n, unsigned char c)
{
	/* Plain ifs: every check assertion writes to a file. */
	for (uint64_t i = 0; i < n * PG; i += 511)
		if (mem.base[off + i] != c)
			ck_abort_msg("span at %lu lost its data",
				     (unsigned long)off);
}

/*
 * Allocations, frees, held runs, release passes, stray sweeps, owners
 * that go and come, and a second handle now and then, against a model
 * of who holds which page.
 */
START_TEST(test_random_against_model)
{
	static struct live live[RND_MAXSPANS];
	static uint32_t owner_of[RND_PAGES];	/* model: page -> owner id */
	uint32_t owners[2];
	uint64_t seed = test_seed("heap random"), rnd = seed, now = 0;
	uint64_t nalloc = 0, nfree = 0, nscav = 0, released = 0;
	uint64_t nchurn = 0, nattach = 0;
	struct heap_cursor take_cursor = { 0, 0 };
	struct heap *first;
	struct arena *map2 = NULL;
	struct heap_take take;
	bool held = false;
	int nlive = 0;

	mem_start(RND_PAGES, true, META_MEMFD);
	owners[0] = o1;
	owners[1] = o2;
	first = h;
	heap_set_grow_pages(h, 64);
	memset(owner_of, 0, sizeof(owner_of));
	for (int step = 0; step < RND_OPS; step++) {
		uint64_t r = test_rand(&rnd), op = r % 100;

		now += r % 1000;
		if (op < 50 && nlive < RND_MAXSPANS) {
			uint64_t n = (r >> 8) % 16 == 0 ? 1 + (r >> 16) % 300 :
							  1 + (r >> 16) % 12;
			int k = (int)((r >> 40) & 1);
			unsigned int fl = (r >> 41) & 1 ? HEAP_ALLOC_ZERO : 0;
			struct heap_span s;
			int ret = heap_alloc(h, n, fl, owners[k], now, &s);

			if (ret == -ENOMEM) {
				heap_check(h);
				continue;
			}
			nalloc++;
			if (ret)
				ck_abort_msg("seed %llu step %d: alloc %d",
					     (unsigned long long)seed, step, ret);
			for (uint64_t p = s.off / PG; p < s.off / PG + n; p++) {
				if (owner_of[p])
					ck_abort_msg("seed %llu step %d: page %lu twice",
						     (unsigned long long)seed,
						     step, (unsigned long)p);
				owner_of[p] = owners[k];
			}
			if (fl)
				verify(s.off, n, 0);
			live[nlive] = (struct live){ s.off, n, k,
						     (unsigned char)(1 + step % 250) };
			fill(s.off, n, live[nlive].pattern);
			nlive++;
		} else if (op < 90 && nlive) {
			int i = (int)((r >> 8) % (uint64_t)nlive);
			struct live *l = &live[i];

			verify(l->off, l->npages, l->pattern);
			if (heap_free(h, l->off, owners[!l->k], now) != -EPERM ||
			    heap_free(h, l->off, owners[l->k], now))
				ck_abort_msg("seed %llu step %d: free",
					     (unsigned long long)seed, step);
			for (uint64_t p = l->off / PG; p < l->off / PG + l->npages; p++)
				owner_of[p] = 0;
			nfree++;
			*l = live[--nlive];
		} else if (op < 94) {
			/* Hold a run across the next operations. */
			if (held) {
				heap_scavenge_return(h, &take,
						     heap_release_taken(h, &take),
						     &take_cursor);
				held = false;
			} else {
				held = heap_scavenge_take(h, now,
							  (r >> 8) % 20000,
							  1 + (r >> 30) % 32,
							  &take_cursor, &take);
			}
		} else if (op < 98) {
			/* A whole pass, in runs of at most 1..64 pages. */
			struct heap_cursor c = { 0, 0 };
			struct heap_take t;

			while (heap_scavenge_take(h, now, (r >> 8) % 20000,
						  1 + (r >> 30) % 64, &c, &t)) {
				int ret = heap_release_taken(h, &t);

				heap_scavenge_return(h, &t, ret, &c);
				if (ret == 0)
					released += t.npages * PG;
				heap_check(h);
			}
			nscav++;
		} else if (op == 98 && !held) {
			/* An owner goes with its spans; a new one comes. */
			int k = (int)((r >> 8) & 1);

			heap_free_owner(h, owners[k], now);
			ck_assert_int_eq(heap_owner_remove(h, owners[k]), 0);
			ck_assert_int_eq(heap_owner_add(h, "again", nchurn,
							&owners[k]),
					 0);
			for (int i = 0; i < nlive;) {
				if (live[i].k == k)
					live[i] = live[--nlive];
				else
					i++;
			}
			for (int p = 0; p < RND_PAGES; p++)
				if (owner_of[p] && owner_of[p] != owners[!k])
					owner_of[p] = 0;
			nchurn++;
		} else if (op == 99 && (r >> 50) % 8 == 0) {
			/* A stray write where no span is, then a sweep. */
			uint64_t q = (r >> 8) % RND_PAGES;

			if (q >= h->meta->grown || bit_test(h->released, q))
				memset(mem.base + q * PG, 0x5a, PG);
			sweep(1 + (r >> 40) % 8);
			for (uint64_t p = 0; p < RND_PAGES; p++)
				if ((p >= h->meta->grown ||
				     bit_test(h->released, p)) &&
				    mem_page_data(p))
					ck_abort_msg("seed %llu step %d: stray page %lu left",
						     (unsigned long long)seed,
						     step, (unsigned long)p);
		} else if (op == 99 && (r >> 50) % 64 == 1) {
			/* Go on through a handle over another mapping. */
			struct arena *map;
			struct heap *x = attach_elsewhere(&map);

			if (h != first) {
				/* It replaces the one before. */
				heap_detach(h);
				arena_destroy(map2);
			}
			h = x;
			map2 = map;
			nattach++;
		}
		heap_check(h);
	}
	for (int i = 0; i < nlive; i++)
		verify(live[i].off, live[i].npages, live[i].pattern);
	if (held)
		heap_scavenge_return(h, &take, heap_release_taken(h, &take),
				     &take_cursor);
	heap_check(first);
	/* The mix really exercised every path. */
	ck_assert_uint_gt(nalloc, RND_OPS / 4);
	ck_assert_uint_gt(nfree, RND_OPS / 4);
	ck_assert_uint_gt(nscav, RND_OPS / 40);
	ck_assert_uint_gt(nchurn, 0);
	ck_assert_uint_gt(nattach, 0);
	ck_assert_uint_gt(released, 0);
	ck_assert_uint_eq(stats().inuse / PG,
			  owner_info(owners[0]).npages +
				  owner_info(owners[1]).npages);
	if (h != first) {
		heap_detach(h);
		arena_destroy(map2);
		h = first;
	}
}
END_TEST

static Suite *heap_suite(void)
{
	Suite *s = suite_create("heap");
	TCase *tc;

	tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_alloc_fresh_heap);
	tcase_add_test(tc, test_alloc_bad_args);
	tcase_add_test(tc, test_alloc_dead_owner);
	tcase_add_test(tc, test_alloc_splits_remainder);
	tcase_add_test(tc, test_alloc_grows_and_joins_chunks);
	tcase_add_test(tc, test_alloc_exhaustion);
	tcase_add_test(tc, test_alloc_exhaustion_leaves_heap_unchanged);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_free_coalesce_combinations);
	tcase_add_test(tc, test_free_coalesce_with_tail);
	tcase_add_test(tc, test_free_bad_offsets);
	tcase_add_test(tc, test_free_owner);
	suite_add_tcase(s, tc);

	tc = tcase_create("zero");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_scavenge_reuse_updates_released);
	tcase_add_test(tc, test_needzero_dirty_pages_only);
	tcase_add_test(tc, test_zero_released_written_since);
	tcase_add_test(tc, test_zero_beyond_grown_written_before);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_checked_fixture(tc, mem_setup, mem_teardown);
	tcase_add_test(tc, test_layout_sizes);
	tcase_add_test(tc, test_config_limits);
	tcase_add_test(tc, test_format_bad_args);
	tcase_add_test(tc, test_attach_rejects);
	tcase_add_test(tc, test_attach_live_heap);
	suite_add_tcase(s, tc);

	tc = tcase_create("plain");
	tcase_add_checked_fixture(tc, NULL, mem_teardown);
	tcase_add_test(tc, test_plain_metadata);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_add_checked_fixture(tc, NULL, mem_teardown);
	tcase_add_test(tc, test_meta_lazy_for_64g);
	tcase_add_test(tc, test_meta_small_for_full_heap);
	tcase_add_test(tc, test_meta_returned_after_release);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, NULL, mem_teardown);
	tcase_add_test(tc, test_random_against_model);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(heap_suite)
