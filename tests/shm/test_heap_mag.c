// SPDX-License-Identifier: MIT
/*
 * Tests for shm/heap_mag.c: the magazine marks of in-use spans.  Every
 * state transition; every refusal of heap_mag_move() and heap_mag_get()
 * (any offset at all, another owner's, the scavenger's and an object's
 * spans), each with nothing changed; heap_free() and heap_free_owner()
 * of marked spans; the stats; what the marks cost in metadata memory;
 * and random sequences across three owners against a model.
 */
#include <errno.h>
#include <string.h>

#include "shm/siphash.h"
#include "tests/lib/testlib.h"
#include "tests/shm/objects.h"

/* heap_mag_alloc() of @npages for @o; heap_check() after. */
static uint64_t mag_alloc(uint64_t npages, uint32_t o)
{
	struct heap_span s;

	ck_assert_int_eq(heap_mag_alloc(h, npages, o, 0, &s), 0);
	ck_assert_uint_eq(s.npages, npages);
	heap_check(h);
	return s.off;
}

static void move(uint64_t off, uint32_t o, uint64_t npages,
		 unsigned int from, unsigned int to)
{
	ck_assert_int_eq(heap_mag_move(h, off, o, npages, from, to), 0);
	heap_check(h);
}

/* heap_mag_move(), and the states, short, for the refusals. */
#define NONE HEAP_MAG_NONE
#define FILL HEAP_MAG_FILL
#define HELD HEAP_MAG_HELD

static int mv(uint64_t off, uint32_t o, uint64_t npages, unsigned int from,
	      unsigned int to)
{
	return heap_mag_move(h, off, o, npages, from, to);
}

/* The state of the in-use span at @off, which must be @o's of @npages. */
static unsigned int state(uint64_t off, uint32_t o, uint64_t npages)
{
	unsigned int st;
	uint64_t n;
	uint32_t id;

	ck_assert_int_eq(heap_mag_get(h, off, &id, &n, &st), 0);
	ck_assert_uint_eq(id, o);
	ck_assert_uint_eq(n, npages);
	return st;
}

/*
 * Everything a refused call might have changed: the stats, the header
 * (every count), and the page map and both bitmaps over the heap.
 */
struct snap {
	struct heap_stats st;
	struct heap_meta meta;
	uint64_t map, bits;
};

static struct snap snap(void)
{
	static const uint64_t key[2] = { 3, 4 };
	uint64_t grown = h->meta->grown, words = bitmap_words(grown);
	struct snap s;

	memset(&s, 0, sizeof(s));
	s.st = stats();
	s.meta = *h->meta;
	s.map = siphash24(key, h->spans, grown * sizeof(struct span));
	s.bits = siphash24(key, h->mag, words * 8) ^
		 siphash24(key, h->magfill, words * 8) * 31;
	return s;
}

static void assert_same(const struct snap *before)
{
	struct snap now = snap();

	ck_assert(!memcmp(&now.st, &before->st, sizeof(now.st)));
	ck_assert(!memcmp(&now.meta, &before->meta, sizeof(now.meta)));
	ck_assert_uint_eq(now.map, before->map);
	ck_assert_uint_eq(now.bits, before->bits);
	heap_check(h);
}

/*
 * The heap of most cases (1024 pages, grown 256, objects): pages [0, 2)
 * FILL of o1, [2, 6) HELD of o1, [6, 9) an ordinary span of o1, [9, 10)
 * FILL of o2, [10, 11) an object's, [11, 16) free and dirty (o1's once),
 * [16, 256) free and released.
 */
static uint64_t fa, hb, nc, fd, oe;
static struct heap_obj_info obj;

static void mag_setup(void)
{
	struct heap_span s;
	uint64_t g;

	obj_setup();
	fa = mag_alloc(2, o1);
	hb = mag_alloc(4, o1);
	move(hb, o1, 4, HEAP_MAG_FILL, HEAP_MAG_HELD);
	nc = alloc(3);
	fd = mag_alloc(1, o2);
	obj = obj_sealed(o1, "x", PG);
	oe = obj.off;
	ck_assert_int_eq(heap_alloc(h, 5, 0, o1, 0, &s), 0);
	g = s.off;
	free_at(g, 1);
	ck_assert_uint_eq(fa, 0);
	ck_assert_uint_eq(hb, 2 * PG);
	ck_assert_uint_eq(nc, 6 * PG);
	ck_assert_uint_eq(fd, 9 * PG);
	ck_assert_uint_eq(oe, 10 * PG);
	ck_assert_uint_eq(g, 11 * PG);
	ck_assert_uint_eq(h->meta->grown, 256);
	ck_assert_uint_eq(span_val(h, 11), 245);
}

/* alloc */

START_TEST(test_mag_alloc_fill)
{
	struct heap_stats before = stats(), st;
	struct heap_owner_info oi = owner_info(o2);
	struct heap_span s;

	ck_assert_int_eq(heap_mag_alloc(h, 8, o2, 5, &s), 0);
	heap_check(h);
	/* Best fit, as heap_alloc(): 5 dirty pages and 3 released. */
	ck_assert_uint_eq(s.off, 11 * PG);
	ck_assert_uint_eq(s.npages, 8);
	ck_assert_uint_eq(s.npreleased, 3);
	ck_assert_uint_eq(state(s.off, o2, 8), HEAP_MAG_FILL);
	/* An in-use span of its owner like any other. */
	st = stats();
	ck_assert_uint_eq(st.inuse, before.inuse + 8 * PG);
	ck_assert_uint_eq(st.objects, before.objects + 1);
	ck_assert_uint_eq(st.mag, before.mag + 8 * PG);
	ck_assert_uint_eq(st.mag_fill, before.mag_fill + 8 * PG);
	ck_assert_uint_eq(owner_info(o2).nspans, oi.nspans + 1);
	ck_assert_uint_eq(owner_info(o2).npages, oi.npages + 8);
	ck_assert(bit_test(h->mag, 11) && bit_test(h->magfill, 11));
}
END_TEST

START_TEST(test_mag_alloc_bad_args)
{
	struct heap_span s = { 7, 7, 7 };
	struct snap before = snap();
	uint32_t gone;

	ck_assert_int_eq(heap_mag_alloc(h, 0, o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_mag_alloc(h, 1025, o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_mag_alloc(h, UINT64_MAX, o1, 0, &s), -EINVAL);
	ck_assert_int_eq(heap_mag_alloc(h, 1, 0, 0, &s), -ENOENT);
	ck_assert_int_eq(heap_mag_alloc(h, 1, HEAP_OWNER_SCAV, 0, &s),
			 -ENOENT);
	ck_assert_int_eq(heap_mag_alloc(h, 1, HEAP_OWNER_OBJECTS, 0, &s),
			 -ENOENT);
	/* 245 free pages at the end of the heap and 768 to grow: 1013. */
	ck_assert_int_eq(heap_mag_alloc(h, 1014, o1, 0, &s), -ENOMEM);
	assert_same(&before);
	ck_assert_int_eq(heap_owner_add(h, "gone", 3, &gone), 0);
	ck_assert_int_eq(heap_owner_remove(h, gone), 0);
	before = snap();
	ck_assert_int_eq(heap_mag_alloc(h, 1, gone, 0, &s), -ENOENT);
	assert_same(&before);
	ck_assert_uint_eq(s.off, 7);
	ck_assert_uint_eq(s.npages, 7);
	ck_assert_uint_eq(s.npreleased, 7);
}
END_TEST

/* move: every transition, and back */

START_TEST(test_mag_move_transitions)
{
	struct heap_stats st;

	ck_assert_uint_eq(state(fa, o1, 2), HEAP_MAG_FILL);
	ck_assert_uint_eq(state(hb, o1, 4), HEAP_MAG_HELD);
	ck_assert_uint_eq(state(nc, o1, 3), HEAP_MAG_NONE);
	ck_assert_uint_eq(state(fd, o2, 1), HEAP_MAG_FILL);
	/* FILL -> HELD: the client took it. */
	move(fa, o1, 2, HEAP_MAG_FILL, HEAP_MAG_HELD);
	ck_assert_uint_eq(state(fa, o1, 2), HEAP_MAG_HELD);
	st = stats();
	ck_assert_uint_eq(st.mag, 7 * PG);
	ck_assert_uint_eq(st.mag_fill, 1 * PG);
	ck_assert(bit_test(h->mag, 0) && !bit_test(h->magfill, 0));
	/* HELD -> FILL: the daemon put it back in a fill ring. */
	move(hb, o1, 4, HEAP_MAG_HELD, HEAP_MAG_FILL);
	ck_assert_uint_eq(state(hb, o1, 4), HEAP_MAG_FILL);
	st = stats();
	ck_assert_uint_eq(st.mag, 7 * PG);
	ck_assert_uint_eq(st.mag_fill, 5 * PG);
	move(fd, o2, 1, HEAP_MAG_FILL, HEAP_MAG_HELD);
	move(fd, o2, 1, HEAP_MAG_HELD, HEAP_MAG_FILL);
	move(fd, o2, 1, HEAP_MAG_FILL, HEAP_MAG_HELD);
	ck_assert_uint_eq(state(fd, o2, 1), HEAP_MAG_HELD);
	st = stats();
	ck_assert_uint_eq(st.mag, 7 * PG);
	ck_assert_uint_eq(st.mag_fill, 4 * PG);
	/* Moves change no other count. */
	ck_assert_uint_eq(st.inuse, 11 * PG);
	ck_assert_uint_eq(st.objects, 5);
}
END_TEST

/* Offsets that name no in-use span: -EINVAL, nothing changed. */
START_TEST(test_mag_move_garbage_offsets)
{
	static const uint64_t offs[] = {
		UINT64_MAX, UINT64_MAX & ~(PG - 1), UINT64_C(1) << 63,
		1, PG - 1, 2 * PG + 1, 2 * PG + 8,	/* unaligned */
		3 * PG, 5 * PG, 7 * PG, 8 * PG,	/* inside spans */
		11 * PG, 12 * PG, 16 * PG, 100 * PG, 255 * PG, /* free */
		256 * PG, 1023 * PG, 1024 * PG,	/* beyond grown */
		(uint64_t)HEAP_MAX_PAGES * PG, (uint64_t)UINT32_MAX * PG,
	};
	struct snap before = snap();

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (unsigned int from = HEAP_MAG_FILL; from <= HEAP_MAG_HELD;
		     from++) {
			unsigned int to = 3 - from;
			int r = heap_mag_move(h, offs[i], o1, 1, from, to);

			ck_assert_msg(r == -EINVAL, "move of %#llx: %d",
				      (unsigned long long)offs[i], r);
			r = heap_mag_move(h, offs[i], o1, 4, from, to);
			ck_assert_int_eq(r, -EINVAL);
		}
	}
	assert_same(&before);
}
END_TEST

/* The right span, asked for wrongly: -EINVAL, nothing changed. */
START_TEST(test_mag_move_wrong_span)
{
	struct snap before = snap();

	/* Other pages than it has. */
	ck_assert_int_eq(mv(fa, o1, 1, FILL, HELD), -EINVAL);
	ck_assert_int_eq(mv(fa, o1, 3, FILL, HELD), -EINVAL);
	ck_assert_int_eq(mv(fa, o1, 0, FILL, HELD), -EINVAL);
	ck_assert_int_eq(mv(hb, o1, UINT64_MAX, HELD, FILL), -EINVAL);
	ck_assert_int_eq(mv(hb, o1, 4 + (UINT64_C(1) << 32), HELD, FILL),
			 -EINVAL);
	/* Not in the state it is said to be in. */
	ck_assert_int_eq(mv(fa, o1, 2, HELD, FILL), -EINVAL);
	ck_assert_int_eq(mv(hb, o1, 4, FILL, HELD), -EINVAL);
	ck_assert_int_eq(mv(nc, o1, 3, FILL, HELD), -EINVAL);
	ck_assert_int_eq(mv(nc, o1, 3, HELD, FILL), -EINVAL);
	/* NONE is neither a source nor a target; no move to itself. */
	ck_assert_int_eq(mv(nc, o1, 3, NONE, FILL), -EINVAL);
	ck_assert_int_eq(mv(nc, o1, 3, NONE, HELD), -EINVAL);
	ck_assert_int_eq(mv(fa, o1, 2, FILL, NONE), -EINVAL);
	ck_assert_int_eq(mv(hb, o1, 4, HELD, NONE), -EINVAL);
	ck_assert_int_eq(mv(fa, o1, 2, FILL, FILL), -EINVAL);
	ck_assert_int_eq(mv(hb, o1, 4, HELD, HELD), -EINVAL);
	ck_assert_int_eq(mv(fa, o1, 2, FILL, 3), -EINVAL);
	ck_assert_int_eq(mv(fa, o1, 2, UINT32_MAX, HELD), -EINVAL);
	ck_assert_int_eq(mv(hb, o1, 4, HELD + 4, FILL), -EINVAL);
	assert_same(&before);
}
END_TEST

/*
 * Another owner's span, the scavenger's held run and an object's span:
 * -EPERM whatever the pages and the state asked for, nothing changed.
 */
START_TEST(test_mag_move_not_yours)
{
	struct heap_cursor cursor = { 0, 0 };
	struct snap before;
	struct heap_take t;
	unsigned int st;
	uint64_t n = 7;
	uint32_t id = 7;

	ck_assert(heap_scavenge_take(h, 10, 0, 5, &cursor, &t));
	ck_assert_uint_eq(t.page, 11);
	ck_assert_uint_eq(t.npages, 5);
	heap_check(h);
	before = snap();
	for (unsigned int from = HEAP_MAG_FILL; from <= HEAP_MAG_HELD;
	     from++) {
		unsigned int to = 3 - from;

		ck_assert_int_eq(heap_mag_move(h, fd, o1, 1, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, fd, o1, 9, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, fa, o2, 2, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, hb, o2, 4, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, nc, o2, 3, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, fa, 0, 2, from, to),
				 -EPERM);
		/* The held run, whoever asks. */
		ck_assert_int_eq(heap_mag_move(h, 11 * PG, o1, 5, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, 11 * PG, HEAP_OWNER_SCAV, 5,
					       from, to),
				 -EPERM);
		/* The object's span, whoever asks. */
		ck_assert_int_eq(heap_mag_move(h, oe, o1, 1, from, to),
				 -EPERM);
		ck_assert_int_eq(heap_mag_move(h, oe, HEAP_OWNER_OBJECTS, 1,
					       from, to),
				 -EPERM);
	}
	/* heap_mag_get() sees no held run, as heap_span_owner(). */
	ck_assert_int_eq(heap_mag_get(h, 11 * PG, &id, &n, &st), -EINVAL);
	ck_assert_uint_eq(id, 7);
	assert_same(&before);
	heap_scavenge_return(h, &t, heap_release_taken(h, &t), &cursor);
	heap_check(h);
}
END_TEST

/* get */

START_TEST(test_mag_get)
{
	unsigned int st = 9;
	uint64_t n = 9;
	uint32_t id = 9;

	ck_assert_int_eq(heap_mag_get(h, oe, &id, &n, &st), 0);
	ck_assert_uint_eq(id, HEAP_OWNER_OBJECTS);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(st, HEAP_MAG_NONE);
	ck_assert_uint_eq(state(nc, o1, 3), HEAP_MAG_NONE);
	ck_assert_uint_eq(state(fd, o2, 1), HEAP_MAG_FILL);
	ck_assert_uint_eq(state(hb, o1, 4), HEAP_MAG_HELD);
	id = 9;
	n = 9;
	st = 9;
	ck_assert_int_eq(heap_mag_get(h, hb + PG, &id, &n, &st), -EINVAL);
	ck_assert_int_eq(heap_mag_get(h, hb + 1, &id, &n, &st), -EINVAL);
	ck_assert_int_eq(heap_mag_get(h, 11 * PG, &id, &n, &st), -EINVAL);
	ck_assert_int_eq(heap_mag_get(h, 256 * PG, &id, &n, &st), -EINVAL);
	ck_assert_int_eq(heap_mag_get(h, UINT64_MAX, &id, &n, &st), -EINVAL);
	ck_assert_uint_eq(id, 9);
	ck_assert_uint_eq(n, 9);
	ck_assert_uint_eq(st, 9);
}
END_TEST

/* free */

START_TEST(test_mag_free_fill_busy)
{
	struct snap before = snap();

	ck_assert_int_eq(heap_free(h, fa, o1, 1), -EBUSY);
	ck_assert_int_eq(heap_free(h, fd, o2, 1), -EBUSY);
	/* Not the owner's: -EPERM first, as for any span. */
	ck_assert_int_eq(heap_free(h, fd, o1, 1), -EPERM);
	assert_same(&before);
	/* Taken, it can be freed. */
	move(fa, o1, 2, HEAP_MAG_FILL, HEAP_MAG_HELD);
	free_at(fa, 1);
	ck_assert_uint_eq(stats().mag, 5 * PG);
	ck_assert_uint_eq(stats().mag_fill, 1 * PG);
}
END_TEST

START_TEST(test_mag_free_held_clears)
{
	struct heap_stats st;
	unsigned int s;
	uint64_t n, off;
	uint32_t id;

	free_at(hb, 1);
	st = stats();
	ck_assert_uint_eq(st.mag, 3 * PG);
	ck_assert_uint_eq(st.mag_fill, 3 * PG);
	ck_assert_uint_eq(st.inuse, 7 * PG);
	ck_assert(!bit_test(h->mag, 2) && !bit_test(h->magfill, 2));
	ck_assert_int_eq(heap_mag_get(h, hb, &id, &n, &s), -EINVAL);
	/* Freed twice, or moved once freed: no span there. */
	ck_assert_int_eq(heap_free(h, hb, o1, 1), -EINVAL);
	ck_assert_int_eq(heap_mag_move(h, hb, o1, 4, HEAP_MAG_HELD,
				       HEAP_MAG_FILL), -EINVAL);
	/* The pages come back as an ordinary span, unmarked. */
	off = alloc(4);
	ck_assert_uint_eq(off, hb);
	ck_assert_uint_eq(state(off, o1, 4), HEAP_MAG_NONE);
	ck_assert_int_eq(heap_mag_move(h, off, o1, 4, HEAP_MAG_HELD,
				       HEAP_MAG_FILL), -EINVAL);
	free_at(off, 2);
	/* Marked again, through the magazine. */
	ck_assert_uint_eq(mag_alloc(4, o1), hb);
	ck_assert_uint_eq(state(hb, o1, 4), HEAP_MAG_FILL);
}
END_TEST

/* An ordinary span frees as it always did, beside marked ones. */
START_TEST(test_mag_free_none)
{
	free_at(nc, 1);
	ck_assert_uint_eq(stats().mag, 7 * PG);
	ck_assert_uint_eq(stats().mag_fill, 3 * PG);
	ck_assert_uint_eq(state(fa, o1, 2), HEAP_MAG_FILL);
	ck_assert_uint_eq(state(hb, o1, 4), HEAP_MAG_HELD);
}
END_TEST

/* The pages the callback saw, in all. */
static void count_pages(void *ctx, uint64_t page, uint64_t npages)
{
	(void)page;
	*(uint64_t *)ctx += npages;
}

/* A client killed loses every span: FILL, HELD and NONE. */
START_TEST(test_mag_free_owner_all_states)
{
	uint64_t more = mag_alloc(16, o1), pages = 0;
	struct heap_stats st;

	move(more, o1, 16, HEAP_MAG_FILL, HEAP_MAG_HELD);
	ck_assert_uint_eq(stats().mag, 23 * PG);
	ck_assert_uint_eq(heap_free_owner_each(h, o1, 5, count_pages, &pages),
			  4);
	heap_check(h);
	ck_assert_uint_eq(pages, 25);
	st = stats();
	/* o2's FILL span and the object are all that is left. */
	ck_assert_uint_eq(st.mag, 1 * PG);
	ck_assert_uint_eq(st.mag_fill, 1 * PG);
	ck_assert_uint_eq(st.inuse, 2 * PG);
	ck_assert_uint_eq(owner_info(o1).nspans, 0);
	for (uint64_t p = 0; p < 256; p++)
		ck_assert(bit_test(h->mag, p) == (p == 9) &&
			  bit_test(h->magfill, p) == (p == 9));
	ck_assert_uint_eq(heap_free_owner(h, o2, 6), 1);
	heap_check(h);
	st = stats();
	ck_assert_uint_eq(st.mag, 0);
	ck_assert_uint_eq(st.mag_fill, 0);
	ck_assert_uint_eq(h->mag[0], 0);
	ck_assert_uint_eq(h->magfill[0], 0);
	/* The freed pages coalesced: [0, 10) is one free span. */
	ck_assert_uint_eq(span_kind(h, 0), SPAN_FREE);
	ck_assert_uint_eq(span_val(h, 0), 10);
}
END_TEST

/* stats */

START_TEST(test_mag_stats)
{
	struct heap_stats st = stats();
	uint64_t big;

	ck_assert_uint_eq(st.mag, 7 * PG);
	ck_assert_uint_eq(st.mag_fill, 3 * PG);
	ck_assert_uint_eq(st.inuse, 11 * PG);
	ck_assert_uint_eq(h->meta->mag_pages, 7);
	ck_assert_uint_eq(h->meta->mag_fill_pages, 3);
	big = mag_alloc(64, o2);
	st = stats();
	ck_assert_uint_eq(st.mag, 71 * PG);
	ck_assert_uint_eq(st.mag_fill, 67 * PG);
	move(big, o2, 64, HEAP_MAG_FILL, HEAP_MAG_HELD);
	move(fa, o1, 2, HEAP_MAG_FILL, HEAP_MAG_HELD);
	move(fd, o2, 1, HEAP_MAG_FILL, HEAP_MAG_HELD);
	st = stats();
	ck_assert_uint_eq(st.mag, 71 * PG);
	ck_assert_uint_eq(st.mag_fill, 0);
	free_at(hb, 3);
	ck_assert_int_eq(heap_free(h, big, o2, 3), 0);
	heap_check(h);
	st = stats();
	ck_assert_uint_eq(st.mag, 3 * PG);
	ck_assert_uint_eq(st.mag_fill, 0);
	ck_assert_uint_eq(st.inuse, 7 * PG);
	ck_assert_uint_le(st.mag, st.inuse);
}
END_TEST

/* memory: the marks cost nothing until used, and are read only at heads */

/* Does [off, off + len) of the metadata hold memory? */
static bool meta_has_data(uint64_t off, uint64_t len)
{
	uint64_t s, e;
	int r = h->ops.meta_next_data(h->ops.meta_ctx, off, &s, &e);

	ck_assert(r == 0 || r == -ENXIO);
	return r == 0 && s < off + len;
}

/* Bytes of the two bitmaps that hold memory, at a page's precision. */
static uint64_t mag_bitmap_data(void)
{
	const struct heap_layout *l = &h->meta->layout;
	uint64_t bytes = 0;

	for (uint64_t off = l->mag; off < l->small; off += PG)
		if (meta_has_data(off, PG))
			bytes += PG;
	return bytes;
}

START_TEST(test_mag_meta_untouched_64g)
{
	uint64_t pages = (UINT64_C(64) << 30) / PG, grown, rest, off;
	struct heap_span s;
	unsigned int st;
	uint64_t n;
	uint32_t id;

	mem_start(pages, false, META_MEMFD);
	/* Ordinary spans, freed and checked: no mark, no memory. */
	off = alloc(3);
	free_at(alloc(5), 1);
	grown = h->meta->grown;
	ck_assert_uint_eq(heap_mag_get(h, off, &id, &n, &st), 0);
	ck_assert_uint_eq(st, HEAP_MAG_NONE);
	heap_check(h);
	ck_assert_uint_eq(mag_bitmap_data(), 0);
	/*
	 * Garbage offsets all over the arena read nothing where no span
	 * starts: no page of the metadata comes to hold memory.
	 */
	rest = meta_resident();
	for (uint64_t p = 1; p < pages + 4096; p += 4093) {
		uint64_t o = p * PG;

		ck_assert_int_eq(heap_mag_move(h, o, o1, 1, HEAP_MAG_FILL,
					       HEAP_MAG_HELD), -EINVAL);
		ck_assert_int_eq(heap_mag_get(h, o, &id, &n, &st), -EINVAL);
		ck_assert_int_eq(heap_free(h, o, o1, 1), -EINVAL);
	}
	ck_assert_int_eq(heap_mag_move(h, UINT64_MAX, o1, 1, HEAP_MAG_FILL,
				       HEAP_MAG_HELD), -EINVAL);
	ck_assert_uint_eq(meta_resident(), rest);
	ck_assert_uint_eq(mag_bitmap_data(), 0);
	ck_assert_uint_eq(h->meta->grown, grown);
	/* One magazine span: a page of each bitmap, no more. */
	ck_assert_int_eq(heap_mag_alloc(h, 1, o1, 0, &s), 0);
	heap_check(h);
	ck_assert_uint_eq(mag_bitmap_data(), 2 * PG);
	rest = meta_resident();
	heap_check(h);
	ck_assert_uint_eq(meta_resident(), rest);
	move(s.off, o1, 1, HEAP_MAG_FILL, HEAP_MAG_HELD);
	free_at(s.off, 2);
	free_at(off, 2);
	ck_assert_uint_eq(stats().mag, 0);
	ck_assert_uint_eq(mag_bitmap_data(), 2 * PG);
}
END_TEST

/* randomised: three owners, against a model of every span's state */

#define RM_PAGES 2048
#define RM_OPS 20000
#define RM_MAXSPANS 2048
#define RM_OWNERS 3

struct mspan {
	uint64_t off, npages;
	int k;			/* owners[k] holds it */
	unsigned int state;	/* HEAP_MAG_* */
};

struct model {
	struct mspan spans[RM_MAXSPANS];
	int n;
	int head[RM_PAGES];	/* page -> index + 1 of the span it heads */
	uint32_t owners[RM_OWNERS];
	uint64_t held_page;	/* a held run's head, or UINT64_MAX */
	uint64_t seed;
	int step;
};

static void model_add(struct model *m, uint64_t off, uint64_t n, int k,
		      unsigned int st)
{
	uint64_t p = off / PG;

	if (m->head[p])
		ck_abort_msg("seed %llu step %d: page %llu handed out twice",
			     (unsigned long long)m->seed, m->step,
			     (unsigned long long)p);
	m->spans[m->n] = (struct mspan){ off, n, k, st };
	m->head[p] = ++m->n;
}

static void model_drop(struct model *m, int i)
{
	m->head[m->spans[i].off / PG] = 0;
	m->spans[i] = m->spans[--m->n];
	if (i < m->n)
		m->head[m->spans[i].off / PG] = i + 1;
}

/* What heap_mag_move() must answer, by the model. */
static int model_move(const struct model *m, uint64_t off, int k,
		      uint64_t npages, unsigned int from, unsigned int to)
{
	const struct mspan *s;
	uint64_t p = off / PG;

	if (!((from == HEAP_MAG_FILL && to == HEAP_MAG_HELD) ||
	      (from == HEAP_MAG_HELD && to == HEAP_MAG_FILL)))
		return -EINVAL;
	if (off % PG || p >= RM_PAGES)
		return -EINVAL;
	if (p == m->held_page)
		return -EPERM;
	if (!m->head[p])
		return -EINVAL;
	s = &m->spans[m->head[p] - 1];
	if (s->k != k)
		return -EPERM;
	if (s->npages != npages || s->state != from)
		return -EINVAL;
	return 0;
}

/* Every span, the stats and the owners' counts, as the model says. */
static void model_verify(const struct model *m)
{
	uint64_t inuse = 0, mag = 0, fill = 0;
	uint64_t pages[RM_OWNERS] = { 0 }, nspans[RM_OWNERS] = { 0 };
	struct heap_stats st = stats();

	for (int i = 0; i < m->n; i++) {
		const struct mspan *s = &m->spans[i];
		unsigned int state;
		uint64_t n;
		uint32_t id;

		if (heap_mag_get(h, s->off, &id, &n, &state) ||
		    id != m->owners[s->k] || n != s->npages ||
		    state != s->state)
			ck_abort_msg("seed %llu step %d: span %llu not as modelled",
				     (unsigned long long)m->seed, m->step,
				     (unsigned long long)(s->off / PG));
		inuse += s->npages;
		mag += s->state != HEAP_MAG_NONE ? s->npages : 0;
		fill += s->state == HEAP_MAG_FILL ? s->npages : 0;
		pages[s->k] += s->npages;
		nspans[s->k]++;
	}
	ck_assert_uint_eq(st.inuse, inuse * PG);
	ck_assert_uint_eq(st.mag, mag * PG);
	ck_assert_uint_eq(st.mag_fill, fill * PG);
	for (int k = 0; k < RM_OWNERS; k++) {
		ck_assert_uint_eq(owner_info(m->owners[k]).npages, pages[k]);
		ck_assert_uint_eq(owner_info(m->owners[k]).nspans, nspans[k]);
	}
}

/* Op kinds the run counts, to prove that it took every path. */
enum { R_MAG, R_ALLOC, R_TAKE, R_PUT, R_FREE, R_BUSY, R_PERM, R_GARBAGE,
       R_CHURN, R_SCAV, R_NKINDS };

static const uint64_t classes[] = { 1, 2, 4, 8, 16, 32, 64 };

static void expect(const struct model *m, const char *what, uint64_t off,
		   int ret, int want)
{
	if (ret != want)
		ck_abort_msg("seed %llu step %d: %s of %#llx: %d, model %d",
			     (unsigned long long)m->seed, m->step, what,
			     (unsigned long long)off, ret, want);
}

/* A magazine span, or an ordinary one, for owner @k. */
static void step_alloc(struct model *m, uint64_t r, int k, uint64_t now,
		       bool mag, uint64_t *counts)
{
	uint64_t n = classes[(r >> 20) % 7];
	uint32_t o = m->owners[k];
	struct heap_span s;
	int ret = mag ? heap_mag_alloc(h, n, o, now, &s) :
			heap_alloc(h, n, 0, o, now, &s);

	if (ret == -ENOMEM)
		return;
	expect(m, "alloc", 0, ret, 0);
	model_add(m, s.off, n, k, mag ? HEAP_MAG_FILL : HEAP_MAG_NONE);
	counts[mag ? R_MAG : R_ALLOC]++;
}

/* Take or put back the span @s, mostly rightly, as @k now and then. */
static void step_move(struct model *m, uint64_t r, int k, struct mspan *s,
		      uint64_t *counts)
{
	unsigned int from = (r >> 20) & 1 ? HEAP_MAG_FILL : HEAP_MAG_HELD;
	uint64_t n = (r >> 21) % 8 ? s->npages : classes[(r >> 24) % 7];
	int kk = (r >> 27) % 8 ? s->k : k, want, ret;

	want = model_move(m, s->off, kk, n, from, 3 - from);
	ret = heap_mag_move(h, s->off, m->owners[kk], n, from, 3 - from);
	expect(m, "move", s->off, ret, want);
	if (ret == 0) {
		s->state = 3 - from;
		counts[from == HEAP_MAG_FILL ? R_TAKE : R_PUT]++;
	} else if (ret == -EPERM) {
		counts[R_PERM]++;
	}
}

/* Free span @i, by its owner mostly, by @k now and then. */
static void step_free(struct model *m, uint64_t r, int k, int i,
		      uint64_t now, uint64_t *counts)
{
	struct mspan *s = &m->spans[i];
	int kk = (r >> 20) % 8 ? s->k : k, want, ret;

	want = kk != s->k ? -EPERM : s->state == HEAP_MAG_FILL ? -EBUSY : 0;
	ret = heap_free(h, s->off, m->owners[kk], now);
	expect(m, "free", s->off, ret, want);
	if (ret == 0)
		model_drop(m, i);
	counts[ret == 0 ? R_FREE : ret == -EBUSY ? R_BUSY : R_PERM]++;
}

/* Whatever a hostile client writes into its ring, moved as @k. */
static void step_garbage(struct model *m, uint64_t r, int k,
			 uint64_t *counts)
{
	uint64_t x = r >> 24, off, n = classes[(r >> 14) % 7];
	unsigned int from = (unsigned int)(r >> 8) % 4;
	unsigned int to = (unsigned int)(r >> 10) % 4;
	int want, ret;

	if ((r >> 20) % 4)
		off = (x % RM_PAGES) * PG;	/* a page, maybe a span */
	else if (x % 3 == 0)
		off = UINT64_MAX;
	else
		off = x % (RM_PAGES * PG + PG);	/* any byte */
	want = model_move(m, off, k, n, from, to);
	ret = heap_mag_move(h, off, m->owners[k], n, from, to);
	expect(m, "hostile move", off, ret, want);
	if (ret == 0)
		m->spans[m->head[off / PG] - 1].state = to;
	counts[R_GARBAGE]++;
}

/* Hold a run of the scavenger's across the next steps, or return it. */
static void step_scav(struct model *m, uint64_t r, uint64_t now,
		      struct heap_cursor *cursor, struct heap_take *take,
		      uint64_t *counts)
{
	if (m->held_page != UINT64_MAX) {
		heap_scavenge_return(h, take, heap_release_taken(h, take),
				     cursor);
		m->held_page = UINT64_MAX;
	} else if (heap_scavenge_take(h, now, (r >> 8) % 20000,
				      1 + (r >> 30) % 32, cursor, take)) {
		m->held_page = take->page;
		counts[R_SCAV]++;
	}
}

/* Owner @k killed: it loses every span; a new owner takes its place. */
static void step_churn(struct model *m, int k, uint64_t now,
		       uint64_t *counts)
{
	uint64_t lost = 0;

	for (int j = 0; j < m->n; j++)
		lost += m->spans[j].k == k;
	ck_assert_uint_eq(heap_free_owner(h, m->owners[k], now), lost);
	ck_assert_int_eq(heap_owner_remove(h, m->owners[k]), 0);
	ck_assert_int_eq(heap_owner_add(h, "again", 0, &m->owners[k]), 0);
	for (int j = 0; j < m->n;) {
		if (m->spans[j].k == k)
			model_drop(m, j);
		else
			j++;
	}
	counts[R_CHURN]++;
}

START_TEST(test_mag_random_against_model)
{
	static struct model m;
	uint64_t rnd, now = 0, counts[R_NKINDS] = { 0 };
	struct heap_cursor take_cursor = { 0, 0 };
	struct heap_take take;

	memset(&m, 0, sizeof(m));
	m.seed = test_seed("heap mag random");
	rnd = m.seed;
	m.held_page = UINT64_MAX;
	mem_start(RM_PAGES, false, META_MEMFD);
	heap_set_grow_pages(h, 64);
	m.owners[0] = o1;
	m.owners[1] = o2;
	ck_assert_int_eq(heap_owner_add(h, "three", 3, &m.owners[2]), 0);
	for (m.step = 0; m.step < RM_OPS; m.step++) {
		uint64_t r = test_rand(&rnd), op = r % 100;
		int k = (int)((r >> 8) % RM_OWNERS);
		int i = m.n ? (int)((r >> 12) % (uint64_t)m.n) : -1;

		now += r % 1000;
		if (op < 30 && m.n < RM_MAXSPANS)
			step_alloc(&m, r, k, now, op < 22, counts);
		else if (op < 55 && i >= 0)
			step_move(&m, r, k, &m.spans[i], counts);
		else if (op < 80 && i >= 0)
			step_free(&m, r, k, i, now, counts);
		else if (op < 94)
			step_garbage(&m, r, k, counts);
		else if (op < 97)
			step_scav(&m, r, now, &take_cursor, &take, counts);
		else if (op < 98 && m.held_page == UINT64_MAX)
			step_churn(&m, k, now, counts);
		heap_check(h);
		if (m.step % 64 == 0)
			model_verify(&m);
	}
	if (m.held_page != UINT64_MAX)
		heap_scavenge_return(h, &take, heap_release_taken(h, &take),
				     &take_cursor);
	heap_check(h);
	model_verify(&m);
	for (int j = 0; j < R_NKINDS; j++)
		ck_assert_msg(counts[j] > RM_OPS / 1000,
			      "op kind %d ran %llu times", j,
			      (unsigned long long)counts[j]);
}
END_TEST

static Suite *heap_mag_suite(void)
{
	Suite *s = suite_create("heap_mag");
	TCase *tc;

	tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test(tc, test_mag_alloc_fill);
	tcase_add_test(tc, test_mag_alloc_bad_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("move");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test(tc, test_mag_move_transitions);
	tcase_add_test(tc, test_mag_move_garbage_offsets);
	tcase_add_test(tc, test_mag_move_wrong_span);
	tcase_add_test(tc, test_mag_move_not_yours);
	suite_add_tcase(s, tc);

	tc = tcase_create("get");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test(tc, test_mag_get);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test(tc, test_mag_free_fill_busy);
	tcase_add_test(tc, test_mag_free_held_clears);
	tcase_add_test(tc, test_mag_free_none);
	tcase_add_test(tc, test_mag_free_owner_all_states);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test(tc, test_mag_stats);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_add_checked_fixture(tc, NULL, mem_teardown);
	tcase_add_test(tc, test_mag_meta_untouched_64g);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, NULL, mem_teardown);
	tcase_add_test(tc, test_mag_random_against_model);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(heap_mag_suite)
