// SPDX-License-Identifier: MIT
/*
 * Tests for proto/magazine.c, format v2: the region's layout is what
 * magazine.h says, mag_format() writes a header mag_check_header()
 * takes and every corruption of it is refused; the fill ring and the
 * return stack keep their order over many wrap-arounds of indices and
 * generations (started just below 2^32), fill up and run empty at their
 * capacity; the client's side refuses impossible words; the daemon's
 * side meets every word a client can write (a tail behind what it has
 * seen or past its head, a stack count above the capacity, any
 * generation) with an error that changes neither its cursor nor a byte
 * of the region; a revoke and a take, a stack take and the client's
 * pops, each own an entry exactly once.  test_magazine_stress.c runs
 * both sides at once, in two threads.  It links only the protocol.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/magazine.h"
#include "tests/lib/testlib.h"

#define PAGE 4096u
#define PID 4242
#define MASK (MAG_RING_CAP - 1)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Room for the region of any page size tested, line aligned. */
static alignas(MAG_LINE) unsigned char mem[4 * 16384];
/* A copy of the region, to assert that a call wrote nothing. */
static unsigned char before[4 * 16384];

static struct mag_region *fresh(void)
{
	ck_assert_int_eq(mag_format(mem, mag_layout_size(PAGE), PAGE, PID), 0);
	return (struct mag_region *)mem;
}

static void snapshot(void)
{
	memcpy(before, mem, mag_layout_size(PAGE));
}

/* The client's push and pop with no bound but the capacity. */
static int push(struct mag_stack *st, uint64_t off, uint32_t *ret_count)
{
	return mag_stack_push(st, off, MAG_STACK_CAP, ret_count);
}

static int pop(struct mag_stack *st, uint64_t *ret_off)
{
	return mag_stack_pop(st, ret_off, NULL);
}

/* The region is the snapshot, byte for byte. */
static void assert_unchanged(const char *what)
{
	size_t size = mag_layout_size(PAGE);

	for (size_t i = 0; i < size; i++)
		ck_assert_msg(mem[i] == before[i],
			      "%s wrote byte %zu of the region", what, i);
}

/* A ring and the daemon's cursor of it, both at index @at. */
static void ring_at(struct mag_ring *ring, struct mag_fill_cursor *cur,
		    uint32_t at)
{
	atomic_store(&ring->head, at);
	atomic_store(&ring->tail, at);
	cur->head = at;
	cur->seen = at;
}

static uint32_t stack_gen(struct mag_stack *st)
{
	return MAG_STACK_GEN(atomic_load(&st->ctl));
}

START_TEST(test_layout)
{
	ck_assert_uint_eq(sizeof(struct mag_header), 64);
	ck_assert_uint_eq(sizeof(struct mag_status), 64);
	ck_assert_uint_eq(sizeof(struct mag_ring), 640);
	ck_assert_uint_eq(sizeof(struct mag_stack), 576);
	ck_assert_uint_eq(sizeof(struct mag_class), 1344);
	ck_assert_uint_eq(sizeof(struct mag_region), 9536);
	ck_assert_uint_eq(offsetof(struct mag_region, st.flags), 64);
	ck_assert_uint_eq(offsetof(struct mag_region, st.served), 68);
	ck_assert_uint_eq(offsetof(struct mag_region, cls[0]), 128);
	ck_assert_uint_eq(offsetof(struct mag_region, cls[1]), 128 + 1344);
	ck_assert_uint_eq(offsetof(struct mag_class, fill.tail), 64);
	ck_assert_uint_eq(offsetof(struct mag_class, fill.entry[1]), 136);
	ck_assert_uint_eq(offsetof(struct mag_class, ret.ctl), 640);
	ck_assert_uint_eq(offsetof(struct mag_class, ret.slot[0]), 704);
	ck_assert_uint_eq(offsetof(struct mag_class, limit), 1216);
	ck_assert_uint_eq(offsetof(struct mag_class, fast_allocs), 1280);
	ck_assert_uint_eq(offsetof(struct mag_class, fast_frees), 1288);
	ck_assert_uint_eq(mag_layout_size(4096), 12288);
	ck_assert_uint_eq(mag_layout_size(16384), 16384);
	ck_assert_uint_eq(mag_layout_size(65536), 65536);
	ck_assert_uint_eq(mag_layout_size(64), 9536);
	ck_assert_uint_eq(mag_layout_size(0), 0);
	ck_assert_uint_eq(mag_layout_size(32), 0);
	ck_assert_uint_eq(mag_layout_size(4097), 0);
	ck_assert_uint_eq(mag_layout_size(3 * 4096), 0);
	/* The stack's control word: count low, generation high. */
	ck_assert_uint_eq(MAG_STACK_WORD(5, 7), 5 | UINT64_C(7) << 32);
	ck_assert_uint_eq(MAG_STACK_WORD(UINT32_MAX, UINT32_MAX), UINT64_MAX);
	ck_assert_uint_eq(MAG_STACK_WORD(UINT64_C(0x100000003), 0), 3);
	ck_assert_uint_eq(MAG_STACK_COUNT(UINT64_C(0x900000004)), 4);
	ck_assert_uint_eq(MAG_STACK_GEN(UINT64_C(0x900000004)), 9);
}
END_TEST

START_TEST(test_class_of)
{
	ck_assert_int_eq(mag_class_of(0), -E2BIG);
	ck_assert_int_eq(mag_class_of(1), 0);
	ck_assert_int_eq(mag_class_of(2), 1);
	ck_assert_int_eq(mag_class_of(3), 2);
	ck_assert_int_eq(mag_class_of(4), 2);
	ck_assert_int_eq(mag_class_of(5), 3);
	ck_assert_int_eq(mag_class_of(33), 6);
	ck_assert_int_eq(mag_class_of(64), 6);
	ck_assert_int_eq(mag_class_of(65), -E2BIG);
	ck_assert_int_eq(mag_class_of(UINT64_MAX), -E2BIG);
}
END_TEST

START_TEST(test_format_check)
{
	size_t size = mag_layout_size(PAGE);
	struct mag_region *r;

	memset(mem, 0xa5, sizeof(mem));
	r = fresh();
	ck_assert_int_eq(mag_check_header(mem, size), 0);
	ck_assert_uint_eq(r->hdr.magic, MAG_MAGIC);
	ck_assert_uint_eq(r->hdr.version, MAG_VERSION);
	ck_assert_uint_eq(r->hdr.nclasses, MAG_NCLASSES);
	ck_assert_uint_eq(r->hdr.page_size, PAGE);
	ck_assert_uint_eq(r->hdr.ring_cap, MAG_RING_CAP);
	ck_assert_uint_eq(r->hdr.stack_cap, MAG_STACK_CAP);
	ck_assert_uint_eq(r->hdr.region_size, size);
	ck_assert_int_eq(r->hdr.pid, PID);
	ck_assert_uint_eq(r->hdr.pad, 0);
	ck_assert_uint_eq(atomic_load(&r->st.flags), 0);
	ck_assert_uint_eq(atomic_load(&r->st.served), 0);
	for (unsigned int i = 0; i < MAG_NCLASSES; i++) {
		ck_assert_uint_eq(r->hdr.class_pages[i], 1u << i);
		ck_assert_uint_eq(atomic_load(&r->cls[i].fill.head), 0);
		ck_assert_uint_eq(atomic_load(&r->cls[i].fill.tail), 0);
		ck_assert_uint_eq(atomic_load(&r->cls[i].ret.ctl), 0);
		ck_assert_uint_eq(atomic_load(&r->cls[i].limit), 0);
		ck_assert_uint_eq(atomic_load(&r->cls[i].fast_frees), 0);
		ck_assert_uint_eq(mag_fill_count(&r->cls[i].fill), 0);
		ck_assert_int_eq(mag_stack_count_checked(&r->cls[i].ret), 0);
	}
	/* Every byte of the region written, none past it. */
	for (size_t i = sizeof(r->hdr); i < size; i++)
		ck_assert_uint_eq(mem[i], 0);
	ck_assert_uint_eq(mem[size], 0xa5);
	/* What the daemon may write on its line is taken. */
	atomic_store(&r->st.flags, MAG_F_DEAD);
	atomic_store(&r->st.served, UINT32_MAX);
	atomic_store(&r->cls[3].limit, UINT32_MAX);
	ck_assert_int_eq(mag_check_header(mem, size), 0);
	/* Other page sizes. */
	ck_assert_int_eq(mag_format(mem, 16384, 16384, PID), 0);
	ck_assert_int_eq(mag_check_header(mem, 16384), 0);
	ck_assert_int_eq(mag_format(mem, 65536, 65536, 1), 0);
	ck_assert_int_eq(mag_check_header(mem, 65536), 0);
}
END_TEST

START_TEST(test_format_refuses)
{
	size_t size = mag_layout_size(PAGE);

	memset(mem, 0xa5, sizeof(mem));
	ck_assert_int_eq(mag_format(mem, size - 1, PAGE, PID), -EINVAL);
	ck_assert_int_eq(mag_format(mem, size + PAGE, PAGE, PID), -EINVAL);
	ck_assert_int_eq(mag_format(mem, size, 4097, PID), -EINVAL);
	ck_assert_int_eq(mag_format(mem, size, 0, PID), -EINVAL);
	ck_assert_int_eq(mag_format(mem, size, PAGE, 0), -EINVAL);
	ck_assert_int_eq(mag_format(mem, size, PAGE, -1), -EINVAL);
	ck_assert_int_eq(mag_format(mem + 8, size, PAGE, PID), -EINVAL);
	/* Nothing written. */
	for (size_t i = 0; i < size + 8; i++)
		ck_assert_uint_eq(mem[i], 0xa5);
}
END_TEST

/* Corrupt a fresh region with @fn; expect @want. */
static void expect_bad(void (*fn)(struct mag_region *), int want,
		       const char *what)
{
	struct mag_region *r = fresh();
	int rc;

	fn(r);
	rc = mag_check_header(mem, mag_layout_size(PAGE));
	ck_assert_msg(rc == want, "a header with %s: %d, not %d", what, rc,
		      want);
}

static void bad_magic(struct mag_region *r) { r->hdr.magic ^= 1; }
static void bad_version(struct mag_region *r) { r->hdr.version++; }
static void bad_version1(struct mag_region *r) { r->hdr.version = 1; }
static void bad_version0(struct mag_region *r) { r->hdr.version = 0; }
static void bad_nclasses(struct mag_region *r) { r->hdr.nclasses--; }
static void bad_nclasses_more(struct mag_region *r) { r->hdr.nclasses++; }
static void bad_page(struct mag_region *r) { r->hdr.page_size = 4097; }
static void bad_page0(struct mag_region *r) { r->hdr.page_size = 0; }
static void bad_page_big(struct mag_region *r) { r->hdr.page_size = 8192; }
static void bad_cap(struct mag_region *r) { r->hdr.ring_cap = 32; }
static void bad_cap0(struct mag_region *r) { r->hdr.ring_cap = 0; }
static void bad_stack(struct mag_region *r) { r->hdr.stack_cap = 32; }
static void bad_stack0(struct mag_region *r) { r->hdr.stack_cap = 0; }
static void bad_stack_more(struct mag_region *r)
{
	r->hdr.stack_cap = MAG_STACK_CAP + 1;
}
static void bad_size(struct mag_region *r) { r->hdr.region_size += PAGE; }
static void bad_size_small(struct mag_region *r) { r->hdr.region_size = 9536; }
static void bad_size_top(struct mag_region *r)
{
	r->hdr.region_size |= UINT64_C(1) << 32;
}
static void bad_flags(struct mag_region *r) { atomic_store(&r->st.flags, 2); }
static void bad_flags_top(struct mag_region *r)
{
	atomic_store(&r->st.flags, MAG_F_DEAD | 0x80000000u);
}
static void bad_pid0(struct mag_region *r) { r->hdr.pid = 0; }
static void bad_pid_neg(struct mag_region *r) { r->hdr.pid = -5; }
static void bad_pad(struct mag_region *r) { r->hdr.pad = 1; }
static void bad_status_pad(struct mag_region *r) { r->st.pad[13] = 1; }
static void bad_class0(struct mag_region *r) { r->hdr.class_pages[0] = 2; }
static void bad_class6(struct mag_region *r) { r->hdr.class_pages[6] = 128; }
static void bad_class_swap(struct mag_region *r)
{
	r->hdr.class_pages[2] = 8;
	r->hdr.class_pages[3] = 4;
}

START_TEST(test_check_rejects)
{
	size_t size = mag_layout_size(PAGE);

	expect_bad(bad_magic, -EBADMSG, "a wrong magic");
	expect_bad(bad_version, -EPROTONOSUPPORT, "a later version");
	expect_bad(bad_version1, -EPROTONOSUPPORT, "version 1");
	expect_bad(bad_version0, -EPROTONOSUPPORT, "version 0");
	expect_bad(bad_nclasses, -EBADMSG, "a class fewer");
	expect_bad(bad_nclasses_more, -EBADMSG, "a class more");
	expect_bad(bad_page, -EBADMSG, "a page of 4097 bytes");
	expect_bad(bad_page0, -EBADMSG, "a page of 0 bytes");
	expect_bad(bad_page_big, -EBADMSG, "a page size the size disowns");
	expect_bad(bad_cap, -EBADMSG, "a ring of 32");
	expect_bad(bad_cap0, -EBADMSG, "a ring of 0");
	expect_bad(bad_stack, -EBADMSG, "a stack of 32");
	expect_bad(bad_stack0, -EBADMSG, "a stack of 0");
	expect_bad(bad_stack_more, -EBADMSG, "a stack of one more");
	expect_bad(bad_size, -EBADMSG, "a page too many");
	expect_bad(bad_size_small, -EBADMSG, "a size not rounded");
	expect_bad(bad_size_top, -EBADMSG, "a size above 4 GiB");
	expect_bad(bad_flags, -EBADMSG, "an unknown flag");
	expect_bad(bad_flags_top, -EBADMSG, "an unknown high flag");
	expect_bad(bad_pid0, -EBADMSG, "pid 0");
	expect_bad(bad_pid_neg, -EBADMSG, "a negative pid");
	expect_bad(bad_pad, -EBADMSG, "padding 1");
	expect_bad(bad_status_pad, -EBADMSG, "status padding 1");
	expect_bad(bad_class0, -EBADMSG, "class 0 of 2 pages");
	expect_bad(bad_class6, -EBADMSG, "class 6 of 128 pages");
	expect_bad(bad_class_swap, -EBADMSG, "classes 2 and 3 swapped");

	/* The mapping's length must be the region's, header and status in. */
	fresh();
	ck_assert_int_eq(mag_check_header(mem, size - 1), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, size + PAGE), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, 0), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, 63), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, 64), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, 127), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem + 64, size), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, size), 0);
}
END_TEST

/* The tail after a take, across the wrap of the indices and a revoke. */
START_TEST(test_fill_take_at)
{
	struct mag_ring *ring = &fresh()->cls[1].fill;
	struct mag_fill_cursor cur;
	uint32_t tail = 7;
	uint64_t off;

	ring_at(ring, &cur, UINT32_MAX - 1);
	for (unsigned int i = 1; i <= 4; i++)
		ck_assert_int_eq(mag_fill_push(ring, &cur, i * PAGE), 0);
	ck_assert_int_eq(mag_fill_take_at(ring, &off, &tail), 0);
	ck_assert_uint_eq(off, PAGE);
	ck_assert_uint_eq(tail, UINT32_MAX);
	ck_assert_int_eq(mag_fill_take_at(ring, &off, &tail), 0);
	ck_assert_uint_eq(off, 2 * PAGE);
	ck_assert_uint_eq(tail, 0);
	/* The daemon revokes the third: the take after says 2. */
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 2);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_int_eq(mag_fill_take_at(ring, &off, &tail), 0);
	ck_assert_uint_eq(off, 4 * PAGE);
	ck_assert_uint_eq(tail, 2);
	tail = 9;
	ck_assert_int_eq(mag_fill_take_at(ring, &off, &tail), -EAGAIN);
	ck_assert_uint_eq(tail, 9);
}
END_TEST

START_TEST(test_fill_order)
{
	struct mag_ring *ring = &fresh()->cls[3].fill;
	struct mag_fill_cursor cur;
	uint32_t start = UINT32_MAX - 100;
	uint64_t off, next = 0, want = 0;

	/*
	 * Every fill level from 1 to the capacity, across 2^32: the
	 * indices are free-running.  On odd cycles the daemon revokes the
	 * second half, which the client then never sees.
	 */
	ring_at(ring, &cur, start);
	for (unsigned int cycle = 0; cycle < 2000; cycle++) {
		unsigned int n = cycle % MAG_RING_CAP + 1;
		unsigned int take = cycle & 1 ? n / 2 : n;

		for (unsigned int i = 0; i < n; i++)
			ck_assert_int_eq(mag_fill_push(ring, &cur,
						       ++next * PAGE), 0);
		ck_assert_uint_eq(mag_fill_count(ring), n);
		for (unsigned int i = 0; i < take; i++) {
			ck_assert_int_eq(mag_fill_take(ring, &off), 0);
			ck_assert_uint_eq(off, ++want * PAGE);
		}
		ck_assert_int_eq(mag_fill_sync(ring, &cur), (int)take);
		ck_assert_int_eq(mag_fill_sync(ring, &cur), 0);
		for (unsigned int i = take; i < n; i++) {
			ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
			want++;
		}
		ck_assert_int_eq(mag_fill_revoke(ring, &cur), -ENOENT);
		off = 7;
		ck_assert_int_eq(mag_fill_take(ring, &off), -EAGAIN);
		ck_assert_uint_eq(off, 7);
		ck_assert_uint_eq(mag_fill_count(ring), 0);
	}
	ck_assert_uint_eq(cur.head, (uint32_t)(start + next));
	ck_assert_uint_eq(cur.seen, cur.head);
	ck_assert_uint_eq(atomic_load(&ring->head), cur.head);
	ck_assert_uint_eq(atomic_load(&ring->tail), cur.head);
	ck_assert_uint_lt(cur.head, start);
	ck_assert_uint_gt(next, 64 * MAG_RING_CAP);
}
END_TEST

START_TEST(test_fill_full_empty)
{
	struct mag_ring *ring = &fresh()->cls[6].fill;
	struct mag_fill_cursor cur = { 0, 0 };
	uint64_t off = 99;

	ck_assert_int_eq(mag_fill_take(ring, &off), -EAGAIN);
	ck_assert_uint_eq(off, 99);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 0);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), -ENOENT);
	for (unsigned int i = 0; i < MAG_RING_CAP; i++)
		ck_assert_int_eq(mag_fill_push(ring, &cur, (i + 1) * PAGE), 0);
	snapshot();
	ck_assert_int_eq(mag_fill_push(ring, &cur, 1), -EAGAIN);
	assert_unchanged("a push into a full ring");
	ck_assert_uint_eq(cur.head, MAG_RING_CAP);
	ck_assert_uint_eq(cur.seen, 0);
	ck_assert_uint_eq(mag_fill_count(ring), MAG_RING_CAP);
	/* A take makes room only once the daemon has synced. */
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, PAGE);
	ck_assert_uint_eq(mag_fill_count(ring), MAG_RING_CAP - 1);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 1), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&ring->entry[0]), PAGE);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 1);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 100 * PAGE), 0);
	ck_assert_uint_eq(atomic_load(&ring->entry[0]), 100 * PAGE);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 1), -EAGAIN);
	/* A revoke makes room at once: the daemon moved the tail itself. */
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_uint_eq(cur.seen, 2);
	ck_assert_uint_eq(atomic_load(&ring->tail), 2);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 101 * PAGE), 0);
	ck_assert_uint_eq(atomic_load(&ring->entry[1]), 101 * PAGE);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 1), -EAGAIN);
	ck_assert_uint_eq(cur.head, MAG_RING_CAP + 2);
	/* Drain: entries 3 to 64, then the two pushed last. */
	for (unsigned int i = 3; i <= MAG_RING_CAP; i++) {
		ck_assert_int_eq(mag_fill_take(ring, &off), 0);
		ck_assert_uint_eq(off, i * PAGE);
	}
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 100 * PAGE);
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 101 * PAGE);
	off = 99;
	ck_assert_int_eq(mag_fill_take(ring, &off), -EAGAIN);
	ck_assert_uint_eq(off, 99);
	ck_assert_uint_eq(mag_fill_count(ring), 0);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), (int)MAG_RING_CAP);
	ck_assert_uint_eq(cur.seen, cur.head);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), -ENOENT);
}
END_TEST

START_TEST(test_fill_take_corrupt)
{
	struct mag_ring *ring = &fresh()->cls[4].fill;
	uint64_t off = 5;

	/* More than the capacity held: refused, nothing moves. */
	atomic_store(&ring->head, MAG_RING_CAP + 1);
	snapshot();
	ck_assert_int_eq(mag_fill_take(ring, &off), -EBADMSG);
	ck_assert_uint_eq(off, 5);
	assert_unchanged("a take from a corrupt ring");
	ck_assert_uint_eq(mag_fill_count(ring), MAG_RING_CAP + 1);
	/* A tail ahead of head. */
	atomic_store(&ring->head, UINT32_MAX);
	atomic_store(&ring->tail, 0);
	snapshot();
	ck_assert_int_eq(mag_fill_take(ring, &off), -EBADMSG);
	assert_unchanged("a take from a ring with the tail ahead");
	ck_assert_uint_eq(mag_fill_count(ring), MAG_RING_CAP + 1);
	/* Exactly the capacity is a full ring. */
	atomic_store(&ring->entry[0], 3 * PAGE);
	atomic_store(&ring->head, MAG_RING_CAP);
	ck_assert_uint_eq(mag_fill_count(ring), MAG_RING_CAP);
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 3 * PAGE);
	ck_assert_uint_eq(atomic_load(&ring->tail), 1);
}
END_TEST

START_TEST(test_stack_order)
{
	struct mag_stack *st = &fresh()->cls[2].ret;
	uint32_t gen = UINT32_MAX - 50, count;
	uint64_t off, pushes = 0;

	/* Every level from 1 to the capacity; the generation wraps. */
	atomic_store(&st->ctl, MAG_STACK_WORD(0, gen));
	for (unsigned int cycle = 0; cycle < 1000; cycle++) {
		unsigned int n = cycle % MAG_STACK_CAP + 1;

		for (unsigned int i = 0; i < n; i++) {
			ck_assert_int_eq(push(st, (cycle * 100 + i) *
							PAGE, &count), 0);
			ck_assert_uint_eq(count, i + 1);
			ck_assert_uint_eq(atomic_load(&st->ctl),
					  MAG_STACK_WORD(i + 1, ++gen));
		}
		pushes += n;
		ck_assert_uint_eq(mag_stack_count(st), n);
		ck_assert_int_eq(mag_stack_count_checked(st), (int)n);
		/* The newest first; the client and the daemon alternate. */
		for (unsigned int i = n; i-- > 0;) {
			int rc = i & 1 ? pop(st, &off) :
					 mag_stack_take(st, &off);

			ck_assert_int_eq(rc, 0);
			ck_assert_uint_eq(off, (cycle * 100 + i) * PAGE);
			ck_assert_uint_eq(atomic_load(&st->ctl),
					  MAG_STACK_WORD(i, ++gen));
		}
		off = 7;
		ck_assert_int_eq(pop(st, &off), -EAGAIN);
		ck_assert_int_eq(mag_stack_take(st, &off), -ENOENT);
		ck_assert_uint_eq(off, 7);
	}
	ck_assert_uint_eq(gen, (uint32_t)(UINT32_MAX - 50 + 2 * pushes));
	ck_assert_uint_lt(gen, UINT32_MAX - 50);
	ck_assert_uint_eq(atomic_load(&st->ctl), MAG_STACK_WORD(0, gen));
}
END_TEST

/* A push below a bound of the caller's; a pop says what is left. */
START_TEST(test_stack_bounds)
{
	struct mag_stack *st = &fresh()->cls[2].ret;
	uint32_t count = 99, left = 99;
	uint64_t off = 99;

	for (unsigned int i = 0; i < 3; i++) {
		ck_assert_int_eq(mag_stack_push(st, (i + 1) * PAGE, 3, &count),
				 0);
		ck_assert_uint_eq(count, i + 1);
	}
	snapshot();
	count = 99;
	ck_assert_int_eq(mag_stack_push(st, 9 * PAGE, 3, &count), -EAGAIN);
	ck_assert_int_eq(mag_stack_push(st, 9 * PAGE, 2, &count), -EAGAIN);
	ck_assert_int_eq(mag_stack_push(st, 9 * PAGE, 0, &count), -EAGAIN);
	ck_assert_uint_eq(count, 99);
	assert_unchanged("a push at its bound");
	/* A bound above the capacity is the capacity. */
	ck_assert_int_eq(mag_stack_push(st, 4 * PAGE, UINT32_MAX, &count), 0);
	ck_assert_uint_eq(count, 4);
	for (unsigned int i = 4; i > 0; i--) {
		ck_assert_int_eq(mag_stack_pop(st, &off, &left), 0);
		ck_assert_uint_eq(off, i * PAGE);
		ck_assert_uint_eq(left, i - 1);
	}
	left = 99;
	ck_assert_int_eq(mag_stack_pop(st, &off, &left), -EAGAIN);
	ck_assert_uint_eq(left, 99);
	for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
		ck_assert_int_eq(mag_stack_push(st, PAGE, UINT32_MAX, &count),
				 0);
	ck_assert_int_eq(mag_stack_push(st, PAGE, UINT32_MAX, &count),
			 -EAGAIN);
}
END_TEST

START_TEST(test_stack_full_empty)
{
	struct mag_stack *st = &fresh()->cls[5].ret;
	uint32_t count = 99;
	uint64_t off = 99;

	snapshot();
	ck_assert_int_eq(pop(st, &off), -EAGAIN);
	ck_assert_int_eq(mag_stack_take(st, &off), -ENOENT);
	ck_assert_uint_eq(off, 99);
	assert_unchanged("a pop from an empty stack");
	ck_assert_uint_eq(mag_stack_count(st), 0);
	for (unsigned int i = 0; i < MAG_STACK_CAP; i++) {
		ck_assert_int_eq(push(st, (i + 1) * PAGE, &count), 0);
		ck_assert_uint_eq(count, i + 1);
	}
	snapshot();
	count = 99;
	ck_assert_int_eq(push(st, 1, &count), -EAGAIN);
	ck_assert_uint_eq(count, 99);
	assert_unchanged("a push onto a full stack");
	ck_assert_uint_eq(atomic_load(&st->ctl),
			  MAG_STACK_WORD(MAG_STACK_CAP, MAG_STACK_CAP));
	ck_assert_uint_eq(mag_stack_count(st), MAG_STACK_CAP);
	ck_assert_int_eq(mag_stack_count_checked(st), (int)MAG_STACK_CAP);
	/* One out, by either side, makes room for exactly one in. */
	ck_assert_int_eq(pop(st, &off), 0);
	ck_assert_uint_eq(off, MAG_STACK_CAP * PAGE);
	ck_assert_int_eq(push(st, 200 * PAGE, &count), 0);
	ck_assert_uint_eq(count, MAG_STACK_CAP);
	ck_assert_int_eq(push(st, 1, &count), -EAGAIN);
	ck_assert_int_eq(mag_stack_take(st, &off), 0);
	ck_assert_uint_eq(off, 200 * PAGE);
	ck_assert_int_eq(push(st, 201 * PAGE, &count), 0);
	ck_assert_int_eq(push(st, 1, &count), -EAGAIN);
	/* Drain to empty, the daemon taking. */
	ck_assert_int_eq(mag_stack_take(st, &off), 0);
	ck_assert_uint_eq(off, 201 * PAGE);
	for (unsigned int i = MAG_STACK_CAP - 1; i > 0; i--) {
		ck_assert_int_eq(mag_stack_take(st, &off), 0);
		ck_assert_uint_eq(off, i * PAGE);
	}
	ck_assert_int_eq(mag_stack_take(st, &off), -ENOENT);
	ck_assert_int_eq(pop(st, &off), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&st->ctl),
			  MAG_STACK_WORD(0, 2 * MAG_STACK_CAP + 4));
}
END_TEST

START_TEST(test_stack_client_corrupt)
{
	static const uint32_t bad_counts[] = {
		MAG_STACK_CAP + 1, MAG_STACK_CAP * 2, 0x80000000u, UINT32_MAX,
	};
	struct mag_stack *st = &fresh()->cls[1].ret;

	for (size_t i = 0; i < ARRAY_SIZE(bad_counts); i++) {
		uint32_t count = 5;
		uint64_t off = 5;

		atomic_store(&st->ctl, MAG_STACK_WORD(bad_counts[i], 77));
		snapshot();
		ck_assert_int_eq(push(st, PAGE, &count), -EBADMSG);
		ck_assert_int_eq(pop(st, &off), -EBADMSG);
		ck_assert_uint_eq(count, 5);
		ck_assert_uint_eq(off, 5);
		assert_unchanged("the client's side on a corrupt count");
		/* The plain count reads as the cap, never past it. */
		ck_assert_uint_eq(mag_stack_count(st), MAG_STACK_CAP);
	}
}
END_TEST

/* Tails relative to the daemon's seen that sync must refuse. */
static const int64_t bad_tail_behind[] = {
	-1, -2, -(int64_t)MAG_RING_CAP, -(int64_t)MAG_RING_CAP - 1, -1000,
	INT32_MIN,
};

/* ... and relative to its head. */
static const int64_t bad_tail_ahead[] = {
	1, 2, MAG_RING_CAP, MAG_RING_CAP + 1, 1000, INT32_MAX,
};

/* Sync at a tail of @t must fail and change nothing. */
static void expect_sync_refused(struct mag_ring *ring,
				struct mag_fill_cursor *cur, uint32_t t)
{
	struct mag_fill_cursor was = *cur;

	atomic_store(&ring->tail, t);
	snapshot();
	ck_assert_msg(mag_fill_sync(ring, cur) == -EBADMSG,
		      "a tail %u taken at seen %u, head %u", t, was.seen,
		      was.head);
	ck_assert_uint_eq(cur->head, was.head);
	ck_assert_uint_eq(cur->seen, was.seen);
	assert_unchanged("a refused sync");
}

START_TEST(test_sync_corrupt)
{
	struct mag_ring *ring = &fresh()->cls[1].fill;
	struct mag_fill_cursor cur;
	uint32_t start = UINT32_MAX - 5;
	uint64_t off;

	/* Ten entries across 2^32: the client takes 3, the daemon revokes 1. */
	ring_at(ring, &cur, start);
	for (unsigned int i = 0; i < 10; i++)
		ck_assert_int_eq(mag_fill_push(ring, &cur, (i + 1) * PAGE), 0);
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 3);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_uint_eq(cur.seen, (uint32_t)(start + 4));
	ck_assert_uint_eq(cur.head, (uint32_t)(start + 10));

	for (size_t i = 0; i < ARRAY_SIZE(bad_tail_behind); i++)
		expect_sync_refused(ring, &cur,
				    (uint32_t)(cur.seen + bad_tail_behind[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad_tail_ahead); i++)
		expect_sync_refused(ring, &cur,
				    (uint32_t)(cur.head + bad_tail_ahead[i]));
	/* The first entry again, taken before the daemon's revoke. */
	expect_sync_refused(ring, &cur, start);

	/* Any tail in [seen, head] is good, across 2^32, counted exactly. */
	atomic_store(&ring->tail, cur.seen);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 0);
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 5 * PAGE);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 1);
	ck_assert_uint_eq(cur.seen, UINT32_MAX);
	/* The client says it took two more, without reading them. */
	atomic_store(&ring->tail, 1);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 2);
	atomic_store(&ring->tail, cur.head);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 3);
	ck_assert_uint_eq(cur.seen, cur.head);
	ck_assert_uint_eq(cur.head, 4);
	/* Empty: only the tail it has seen is good. */
	expect_sync_refused(ring, &cur, cur.head + 1);
	expect_sync_refused(ring, &cur, cur.head - 1);
	atomic_store(&ring->tail, cur.head);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 0);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 11 * PAGE), 0);
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 11 * PAGE);
}
END_TEST

START_TEST(test_push_from_cursor)
{
	struct mag_region *r = fresh();
	struct mag_ring *ring = &r->cls[2].fill;
	struct mag_fill_cursor cur = { 0, 0 };
	static const uint32_t tails[] = { 0, 7, MAG_RING_CAP, 12345,
					  UINT32_MAX };
	uint64_t off;

	for (unsigned int i = 0; i < 3; i++)
		ck_assert_int_eq(mag_fill_push(ring, &cur, (i + 1) * PAGE), 0);
	/* The client scribbles over the head: the daemon never reads it. */
	atomic_store(&ring->head, 12345);
	snapshot();
	ck_assert_int_eq(mag_fill_push(ring, &cur, 4 * PAGE), 0);
	ck_assert_uint_eq(cur.head, 4);
	ck_assert_uint_eq(atomic_load(&ring->head), 4);
	ck_assert_uint_eq(atomic_load(&ring->entry[3]), 4 * PAGE);
	/* A push writes its entry and the head, nothing else. */
	atomic_store(&ring->head, 12345);
	atomic_store(&ring->entry[3], 0);
	assert_unchanged("a push");
	atomic_store(&ring->head, 4);
	atomic_store(&ring->entry[3], 4 * PAGE);

	/* Full by the cursor: no tail the client writes makes room. */
	for (unsigned int i = 4; i < MAG_RING_CAP; i++)
		ck_assert_int_eq(mag_fill_push(ring, &cur, (i + 1) * PAGE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(tails); i++) {
		atomic_store(&ring->tail, tails[i]);
		snapshot();
		ck_assert_int_eq(mag_fill_push(ring, &cur, 99 * PAGE), -EAGAIN);
		ck_assert_uint_eq(cur.head, MAG_RING_CAP);
		ck_assert_uint_eq(cur.seen, 0);
		assert_unchanged("a push into a full ring");
	}
	/* Not one entry between seen and head was overwritten. */
	for (unsigned int i = 0; i < MAG_RING_CAP; i++)
		ck_assert_uint_eq(atomic_load(&ring->entry[i]), (i + 1) * PAGE);
	/* A sync of a true take makes room for exactly that one. */
	atomic_store(&ring->tail, 0);
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, PAGE);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 1);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 65 * PAGE), 0);
	ck_assert_int_eq(mag_fill_push(ring, &cur, 99 * PAGE), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&ring->entry[0]), 65 * PAGE);
	ck_assert_uint_eq(atomic_load(&ring->entry[1]), 2 * PAGE);
}
END_TEST

START_TEST(test_revoke_corrupt)
{
	struct mag_ring *ring = &fresh()->cls[3].fill;
	struct mag_fill_cursor cur = { 0, 0 };
	static const uint32_t empty_tails[] = { 1, 5, 0x80000000u, UINT32_MAX };
	static const int64_t bad_delta[] = {
		1, 2, 5, 12, -1, -(int64_t)MAG_RING_CAP, INT32_MIN,
	};

	/* Empty by the cursor: nothing to revoke, whatever the tail. */
	for (size_t i = 0; i < ARRAY_SIZE(empty_tails); i++) {
		atomic_store(&ring->tail, empty_tails[i]);
		snapshot();
		ck_assert_int_eq(mag_fill_revoke(ring, &cur), -ENOENT);
		ck_assert_uint_eq(cur.head, 0);
		ck_assert_uint_eq(cur.seen, 0);
		assert_unchanged("a revoke from an empty ring");
	}
	atomic_store(&ring->tail, 0);
	for (unsigned int i = 0; i < 5; i++)
		ck_assert_int_eq(mag_fill_push(ring, &cur, (i + 1) * PAGE), 0);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	/* A tail that is not the one it has seen: refused, nothing moves. */
	for (size_t i = 0; i < ARRAY_SIZE(bad_delta); i++) {
		atomic_store(&ring->tail, (uint32_t)(cur.seen + bad_delta[i]));
		snapshot();
		ck_assert_int_eq(mag_fill_revoke(ring, &cur), -EAGAIN);
		ck_assert_uint_eq(cur.head, 5);
		ck_assert_uint_eq(cur.seen, 1);
		assert_unchanged("a refused revoke");
	}
	/* At its tail: the one word written is the tail, one further. */
	atomic_store(&ring->tail, 1);
	snapshot();
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_uint_eq(cur.seen, 2);
	ck_assert_uint_eq(atomic_load(&ring->tail), 2);
	atomic_store(&ring->tail, 1);
	assert_unchanged("a revoke");
}
END_TEST

START_TEST(test_revoke_vs_take)
{
	struct mag_ring *ring = &fresh()->cls[0].fill;
	struct mag_fill_cursor cur;
	uint64_t rec[MAG_RING_CAP];	/* the daemon's record of pushes */
	uint32_t start = UINT32_MAX - 1;
	uint64_t off;

	ring_at(ring, &cur, start);
	for (unsigned int i = 0; i < 5; i++) {
		rec[cur.head & MASK] = (i + 1) * PAGE;
		ck_assert_int_eq(mag_fill_push(ring, &cur, (i + 1) * PAGE), 0);
	}
	/* The daemon revokes the oldest: its record names it. */
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_uint_eq(rec[(cur.seen - 1) & MASK], PAGE);
	/* The client takes the next, not the revoked one. */
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 2 * PAGE);
	/* A revoke the client got ahead of fails until the daemon syncs. */
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), -EAGAIN);
	ck_assert_uint_eq(cur.seen, start + 1);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 1);
	ck_assert_uint_eq(rec[(cur.seen - 1) & MASK], 2 * PAGE);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_uint_eq(rec[(cur.seen - 1) & MASK], 3 * PAGE);
	ck_assert_int_eq(mag_fill_take(ring, &off), 0);
	ck_assert_uint_eq(off, 4 * PAGE);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), -EAGAIN);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 1);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), 0);
	ck_assert_uint_eq(rec[(cur.seen - 1) & MASK], 5 * PAGE);
	/* Empty for both. */
	ck_assert_int_eq(mag_fill_take(ring, &off), -EAGAIN);
	ck_assert_int_eq(mag_fill_revoke(ring, &cur), -ENOENT);
	ck_assert_int_eq(mag_fill_sync(ring, &cur), 0);
	ck_assert_uint_eq(cur.seen, (uint32_t)(start + 5));
	ck_assert_uint_eq(atomic_load(&ring->tail), cur.seen);
}
END_TEST

START_TEST(test_stack_take_corrupt)
{
	static const uint32_t bad_counts[] = {
		MAG_STACK_CAP + 1, MAG_STACK_CAP + 2, 0x80000000u, UINT32_MAX,
	};
	static const uint32_t gens[] = { 0, 7, 0x80000000u, UINT32_MAX };
	static const uint64_t values[] = { UINT64_MAX, 1, 0 };
	struct mag_stack *st = &fresh()->cls[4].ret;
	uint64_t off;

	for (size_t i = 0; i < ARRAY_SIZE(bad_counts); i++) {
		for (size_t g = 0; g < ARRAY_SIZE(gens); g++) {
			atomic_store(&st->ctl,
				     MAG_STACK_WORD(bad_counts[i], gens[g]));
			snapshot();
			off = 5;
			ck_assert_int_eq(mag_stack_take(st, &off), -EBADMSG);
			ck_assert_int_eq(mag_stack_count_checked(st), -EBADMSG);
			ck_assert_uint_eq(off, 5);
			assert_unchanged("a take from a corrupt stack");
		}
	}
	/* Any generation is good, and the next one wraps. */
	for (size_t g = 0; g < ARRAY_SIZE(gens); g++) {
		atomic_store(&st->slot[MAG_STACK_CAP - 1], 9 * PAGE);
		atomic_store(&st->ctl, MAG_STACK_WORD(MAG_STACK_CAP, gens[g]));
		ck_assert_int_eq(mag_stack_count_checked(st),
				 (int)MAG_STACK_CAP);
		ck_assert_int_eq(mag_stack_take(st, &off), 0);
		ck_assert_uint_eq(off, 9 * PAGE);
		ck_assert_uint_eq(atomic_load(&st->ctl),
				  MAG_STACK_WORD(MAG_STACK_CAP - 1,
						 gens[g] + 1));
	}
	/* An entry is the caller's to check: handed out as written. */
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		atomic_store(&st->slot[0], values[i]);
		atomic_store(&st->ctl, MAG_STACK_WORD(1, 3));
		ck_assert_int_eq(mag_stack_take(st, &off), 0);
		ck_assert_uint_eq(off, values[i]);
		ck_assert_int_eq(mag_stack_take(st, &off), -ENOENT);
	}
}
END_TEST

START_TEST(test_stack_take_vs_client)
{
	struct mag_stack *st = &fresh()->cls[6].ret;
	uint32_t count;
	uint64_t off;

	atomic_store(&st->ctl, MAG_STACK_WORD(0, UINT32_MAX - 2));
	ck_assert_int_eq(push(st, 1 * PAGE, &count), 0);
	ck_assert_int_eq(push(st, 2 * PAGE, &count), 0);
	ck_assert_int_eq(push(st, 3 * PAGE, &count), 0);
	ck_assert_uint_eq(stack_gen(st), 0);
	/* The daemon takes the newest; the client pops the next. */
	ck_assert_int_eq(mag_stack_take(st, &off), 0);
	ck_assert_uint_eq(off, 3 * PAGE);
	ck_assert_int_eq(pop(st, &off), 0);
	ck_assert_uint_eq(off, 2 * PAGE);
	/* The client pushes into the slot the daemon emptied. */
	ck_assert_int_eq(push(st, 4 * PAGE, &count), 0);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(atomic_load(&st->ctl), MAG_STACK_WORD(2, 3));
	ck_assert_int_eq(mag_stack_take(st, &off), 0);
	ck_assert_uint_eq(off, 4 * PAGE);
	ck_assert_int_eq(mag_stack_take(st, &off), 0);
	ck_assert_uint_eq(off, PAGE);
	ck_assert_int_eq(mag_stack_take(st, &off), -ENOENT);
	ck_assert_int_eq(pop(st, &off), -EAGAIN);
	ck_assert_int_eq(mag_stack_count_checked(st), 0);
	/* Emptied by the daemon, the stack serves the client again. */
	ck_assert_int_eq(push(st, 5 * PAGE, &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(pop(st, &off), 0);
	ck_assert_uint_eq(off, 5 * PAGE);
	ck_assert_uint_eq(atomic_load(&st->ctl), MAG_STACK_WORD(0, 7));
}
END_TEST

static Suite *magazine_suite(void)
{
	Suite *s = suite_create("magazine");
	TCase *tc;

	tc = tcase_create("layout");
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_class_of);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_add_test(tc, test_format_check);
	tcase_add_test(tc, test_format_refuses);
	tcase_add_test(tc, test_check_rejects);
	suite_add_tcase(s, tc);

	/* The fill ring and the return stack as both sides use them. */
	tc = tcase_create("ring");
	tcase_add_test(tc, test_fill_order);
	tcase_add_test(tc, test_fill_take_at);
	tcase_add_test(tc, test_fill_full_empty);
	tcase_add_test(tc, test_fill_take_corrupt);
	tcase_add_test(tc, test_stack_order);
	tcase_add_test(tc, test_stack_full_empty);
	tcase_add_test(tc, test_stack_bounds);
	tcase_add_test(tc, test_stack_client_corrupt);
	suite_add_tcase(s, tc);

	/* The daemon's side against what a client can write. */
	tc = tcase_create("checked");
	tcase_add_test(tc, test_sync_corrupt);
	tcase_add_test(tc, test_push_from_cursor);
	tcase_add_test(tc, test_revoke_corrupt);
	tcase_add_test(tc, test_revoke_vs_take);
	tcase_add_test(tc, test_stack_take_corrupt);
	tcase_add_test(tc, test_stack_take_vs_client);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_suite)
