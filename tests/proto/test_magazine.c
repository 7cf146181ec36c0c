// SPDX-License-Identifier: MIT
/*
 * Tests for proto/magazine.c: the region's layout is what magazine.h
 * says, mag_format() writes a header mag_check_header() takes and
 * every corruption of it is refused, the rings keep order over many
 * wrap-arounds, fill up and run empty at their capacity, the daemon's
 * checked ops refuse an index of the other side that is behind theirs
 * or more than the capacity ahead and then change nothing, and one
 * producer thread and one consumer thread pass a million entries
 * through each direction, each exactly once and in order (this suite
 * also runs under ThreadSanitizer).  It links only the protocol.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/magazine.h"
#include "tests/lib/testlib.h"

#define PAGE 4096u
#define PID 4242
#define STRESS_N 1000000u

/* Room for the region of any page size tested, line aligned. */
static alignas(MAG_LINE) unsigned char mem[4 * 16384];

static struct mag_region *fresh(void)
{
	ck_assert_int_eq(mag_format(mem, mag_layout_size(PAGE), PAGE, PID), 0);
	return (struct mag_region *)mem;
}

START_TEST(test_layout)
{
	ck_assert_uint_eq(sizeof(struct mag_header), 64);
	ck_assert_uint_eq(sizeof(struct mag_ring), 640);
	ck_assert_uint_eq(sizeof(struct mag_class), 1344);
	ck_assert_uint_eq(sizeof(struct mag_region), 9472);
	ck_assert_uint_eq(offsetof(struct mag_region, cls[1]), 64 + 1344);
	ck_assert_uint_eq(offsetof(struct mag_class, ret.tail), 640 + 64);
	ck_assert_uint_eq(mag_layout_size(4096), 12288);
	ck_assert_uint_eq(mag_layout_size(16384), 16384);
	ck_assert_uint_eq(mag_layout_size(65536), 65536);
	ck_assert_uint_eq(mag_layout_size(0), 0);
	ck_assert_uint_eq(mag_layout_size(32), 0);
	ck_assert_uint_eq(mag_layout_size(4097), 0);
	ck_assert_uint_eq(mag_layout_size(3 * 4096), 0);
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
	ck_assert_uint_eq(r->hdr.page_size, PAGE);
	ck_assert_uint_eq(r->hdr.region_size, size);
	ck_assert_int_eq(r->hdr.pid, PID);
	ck_assert_uint_eq(atomic_load(&r->hdr.flags), 0);
	for (unsigned int i = 0; i < MAG_NCLASSES; i++) {
		ck_assert_uint_eq(r->hdr.class_pages[i], 1u << i);
		ck_assert_uint_eq(atomic_load(&r->cls[i].fill.head), 0);
		ck_assert_uint_eq(atomic_load(&r->cls[i].ret.tail), 0);
		ck_assert_uint_eq(atomic_load(&r->cls[i].fast_frees), 0);
	}
	/* Every byte of the region written, none past it. */
	for (size_t i = sizeof(r->hdr); i < size; i++)
		ck_assert_uint_eq(mem[i], 0);
	ck_assert_uint_eq(mem[size], 0xa5);
	/* A flag the daemon may set is taken. */
	atomic_store(&r->hdr.flags, MAG_F_DEAD);
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
	for (size_t i = 0; i < size; i++)
		ck_assert_uint_eq(mem[i], 0xa5);
}
END_TEST

/* Corrupt the header of a fresh region with @fn; expect @want. */
static void expect_bad(void (*fn)(struct mag_header *), int want,
		       const char *what)
{
	struct mag_region *r = fresh();

	fn(&r->hdr);
	ck_assert_msg(mag_check_header(mem, mag_layout_size(PAGE)) == want,
		      "a header with %s: %d, not %d", what,
		      mag_check_header(mem, mag_layout_size(PAGE)), want);
}

static void bad_magic(struct mag_header *h) { h->magic ^= 1; }
static void bad_version(struct mag_header *h) { h->version++; }
static void bad_version0(struct mag_header *h) { h->version = 0; }
static void bad_nclasses(struct mag_header *h) { h->nclasses--; }
static void bad_nclasses_more(struct mag_header *h) { h->nclasses++; }
static void bad_page(struct mag_header *h) { h->page_size = 4097; }
static void bad_page0(struct mag_header *h) { h->page_size = 0; }
static void bad_page_big(struct mag_header *h) { h->page_size = 8192; }
static void bad_cap(struct mag_header *h) { h->ring_cap = 32; }
static void bad_cap0(struct mag_header *h) { h->ring_cap = 0; }
static void bad_size(struct mag_header *h) { h->region_size += PAGE; }
static void bad_size_small(struct mag_header *h) { h->region_size = 9472; }
static void bad_flags(struct mag_header *h) { atomic_store(&h->flags, 2); }
static void bad_flags_top(struct mag_header *h)
{
	atomic_store(&h->flags, MAG_F_DEAD | 0x80000000u);
}
static void bad_pid0(struct mag_header *h) { h->pid = 0; }
static void bad_pid_neg(struct mag_header *h) { h->pid = -5; }
static void bad_pad(struct mag_header *h) { h->pad = 1; }
static void bad_class0(struct mag_header *h) { h->class_pages[0] = 2; }
static void bad_class6(struct mag_header *h) { h->class_pages[6] = 128; }
static void bad_class_swap(struct mag_header *h)
{
	h->class_pages[2] = 8;
	h->class_pages[3] = 4;
}

START_TEST(test_check_rejects)
{
	size_t size = mag_layout_size(PAGE);

	expect_bad(bad_magic, -EBADMSG, "a wrong magic");
	expect_bad(bad_version, -EPROTONOSUPPORT, "a later version");
	expect_bad(bad_version0, -EPROTONOSUPPORT, "version 0");
	expect_bad(bad_nclasses, -EBADMSG, "a class fewer");
	expect_bad(bad_nclasses_more, -EBADMSG, "a class more");
	expect_bad(bad_page, -EBADMSG, "a page of 4097 bytes");
	expect_bad(bad_page0, -EBADMSG, "a page of 0 bytes");
	expect_bad(bad_page_big, -EBADMSG, "a page size the size disowns");
	expect_bad(bad_cap, -EBADMSG, "a ring of 32");
	expect_bad(bad_cap0, -EBADMSG, "a ring of 0");
	expect_bad(bad_size, -EBADMSG, "a page too many");
	expect_bad(bad_size_small, -EBADMSG, "a size not rounded");
	expect_bad(bad_flags, -EBADMSG, "an unknown flag");
	expect_bad(bad_flags_top, -EBADMSG, "an unknown high flag");
	expect_bad(bad_pid0, -EBADMSG, "pid 0");
	expect_bad(bad_pid_neg, -EBADMSG, "a negative pid");
	expect_bad(bad_pad, -EBADMSG, "padding 1");
	expect_bad(bad_class0, -EBADMSG, "class 0 of 2 pages");
	expect_bad(bad_class6, -EBADMSG, "class 6 of 128 pages");
	expect_bad(bad_class_swap, -EBADMSG, "classes 2 and 3 swapped");

	/* The mapping's length must be the region's. */
	fresh();
	ck_assert_int_eq(mag_check_header(mem, size - 1), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, size + PAGE), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, 0), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, 63), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem + 64, size), -EBADMSG);
	ck_assert_int_eq(mag_check_header(mem, size), 0);
}
END_TEST

START_TEST(test_push_pop_order)
{
	struct mag_ring *ring = &fresh()->cls[3].ret;
	uint64_t off, next = 0, want = 0;

	/* Many wrap-arounds, with every fill level from 1 to the capacity. */
	for (unsigned int cycle = 0; cycle < 2000; cycle++) {
		unsigned int n = cycle % MAG_RING_CAP + 1;

		for (unsigned int i = 0; i < n; i++)
			ck_assert_int_eq(mag_ring_push(ring, next++ * PAGE), 0);
		for (unsigned int i = 0; i < n; i++) {
			ck_assert_int_eq(mag_ring_pop(ring, &off), 0);
			ck_assert_uint_eq(off, want++ * PAGE);
		}
		off = 7;
		ck_assert_int_eq(mag_ring_pop(ring, &off), -EAGAIN);
		ck_assert_uint_eq(off, 7);
	}
	ck_assert_uint_eq(atomic_load(&ring->head), (uint32_t)next);
	ck_assert_uint_eq(atomic_load(&ring->tail), (uint32_t)next);
	ck_assert_uint_gt(next, 64 * MAG_RING_CAP);
}
END_TEST

START_TEST(test_index_wraps)
{
	struct mag_region *r = fresh();
	struct mag_ring *fill = &r->cls[0].fill, *ret = &r->cls[0].ret;
	uint32_t head = UINT32_MAX - 5, tail = UINT32_MAX - 5;
	uint64_t off;

	/* Across 2^32: the indices are free-running. */
	atomic_store(&fill->head, head);
	atomic_store(&fill->tail, head);
	atomic_store(&ret->head, tail);
	atomic_store(&ret->tail, tail);
	for (uint64_t i = 0; i < 3 * MAG_RING_CAP; i++) {
		ck_assert_int_eq(mag_ring_push_checked(fill, &head, i), 0);
		ck_assert_int_eq(mag_ring_pop(fill, &off), 0);
		ck_assert_uint_eq(off, i);
		ck_assert_int_eq(mag_ring_push(ret, i + 1), 0);
		ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
		ck_assert_uint_eq(off, i + 1);
	}
	ck_assert_uint_eq(head, (uint32_t)(UINT32_MAX - 5 + 3 * MAG_RING_CAP));
	ck_assert_uint_eq(tail, head);
	ck_assert_uint_eq(atomic_load(&fill->head), head);
	ck_assert_uint_eq(atomic_load(&ret->tail), tail);
}
END_TEST

START_TEST(test_full_empty)
{
	struct mag_region *r = fresh();
	struct mag_ring *fill = &r->cls[6].fill, *ret = &r->cls[6].ret;
	uint32_t head = 0, tail = 0;
	uint64_t off = 99;

	ck_assert_int_eq(mag_ring_pop(fill, &off), -EAGAIN);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), -EAGAIN);
	ck_assert_uint_eq(off, 99);
	ck_assert_uint_eq(tail, 0);
	for (unsigned int i = 0; i < MAG_RING_CAP; i++) {
		ck_assert_int_eq(mag_ring_push_checked(fill, &head, i * PAGE), 0);
		ck_assert_int_eq(mag_ring_push(ret, i * PAGE), 0);
	}
	ck_assert_int_eq(mag_ring_push_checked(fill, &head, 1), -EAGAIN);
	ck_assert_uint_eq(head, MAG_RING_CAP);
	ck_assert_uint_eq(atomic_load(&fill->head), MAG_RING_CAP);
	ck_assert_int_eq(mag_ring_push(ret, 1), -EAGAIN);
	ck_assert_uint_eq(atomic_load(&ret->head), MAG_RING_CAP);
	/* The oldest entries are still there, not overwritten. */
	ck_assert_uint_eq(atomic_load(&fill->entry[0]), 0);
	ck_assert_uint_eq(atomic_load(&ret->entry[1]), PAGE);
	/* One out makes room for exactly one in. */
	ck_assert_int_eq(mag_ring_pop(fill, &off), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert_int_eq(mag_ring_push_checked(fill, &head, 1), 0);
	ck_assert_int_eq(mag_ring_push_checked(fill, &head, 2), -EAGAIN);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert_int_eq(mag_ring_push(ret, 1), 0);
	ck_assert_int_eq(mag_ring_push(ret, 2), -EAGAIN);
	/* Drain both to empty. */
	for (unsigned int i = 1; i < MAG_RING_CAP; i++) {
		ck_assert_int_eq(mag_ring_pop(fill, &off), 0);
		ck_assert_uint_eq(off, i * PAGE);
		ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
		ck_assert_uint_eq(off, i * PAGE);
	}
	ck_assert_int_eq(mag_ring_pop(fill, &off), 0);
	ck_assert_uint_eq(off, 1);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
	ck_assert_uint_eq(off, 1);
	ck_assert_int_eq(mag_ring_pop(fill, &off), -EAGAIN);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), -EAGAIN);
	ck_assert_uint_eq(tail, MAG_RING_CAP + 1);
}
END_TEST

/* Tails of the consumer that the daemon's push must refuse at @head. */
static const int64_t bad_tail_delta[] = {
	1, 2, MAG_RING_CAP, -(int64_t)MAG_RING_CAP - 1, -1000, INT32_MAX,
	INT32_MIN,
};

START_TEST(test_push_checked_corrupt)
{
	struct mag_ring *fill = &fresh()->cls[2].fill;
	uint32_t head = 0, shm_head;
	uint64_t off;

	for (unsigned int i = 0; i < 10; i++)
		ck_assert_int_eq(mag_ring_push_checked(fill, &head, i + 1), 0);
	/* The client scribbles over the daemon's own head: not read. */
	atomic_store(&fill->head, 12345);
	ck_assert_int_eq(mag_ring_push_checked(fill, &head, 11), 0);
	ck_assert_uint_eq(head, 11);
	ck_assert_uint_eq(atomic_load(&fill->head), 11);
	shm_head = 11;
	for (size_t i = 0; i < sizeof(bad_tail_delta) / sizeof(bad_tail_delta[0]);
	     i++) {
		uint32_t t = (uint32_t)(head + bad_tail_delta[i]);

		/* A tail ahead of head, or more than the capacity behind. */
		atomic_store(&fill->tail, t);
		ck_assert_msg(mag_ring_push_checked(fill, &head, 77) == -EBADMSG,
			      "a tail %lld from head taken",
			      (long long)bad_tail_delta[i]);
		ck_assert_uint_eq(head, 11);
		ck_assert_uint_eq(atomic_load(&fill->head), shm_head);
		ck_assert_uint_eq(atomic_load(&fill->entry[11]), 0);
	}
	/* Exactly the capacity behind is full, not corrupt. */
	atomic_store(&fill->tail, head - MAG_RING_CAP);
	ck_assert_int_eq(mag_ring_push_checked(fill, &head, 77), -EAGAIN);
	ck_assert_uint_eq(head, 11);
	/* A sane tail again: the ring works on. */
	atomic_store(&fill->tail, 0);
	ck_assert_int_eq(mag_ring_pop(fill, &off), 0);
	ck_assert_uint_eq(off, 1);
	ck_assert_int_eq(mag_ring_push_checked(fill, &head, 12), 0);
	ck_assert_uint_eq(head, 12);
}
END_TEST

/* Heads of the producer that the daemon's pop must refuse at @tail. */
static const int64_t bad_head_delta[] = {
	-1, -2, -(int64_t)MAG_RING_CAP, MAG_RING_CAP + 1, 1000, INT32_MAX,
	INT32_MIN,
};

START_TEST(test_pop_checked_corrupt)
{
	struct mag_ring *ret = &fresh()->cls[1].ret;
	uint32_t tail = 0;
	uint64_t off;

	for (unsigned int i = 0; i < 10; i++)
		ck_assert_int_eq(mag_ring_push(ret, (i + 1) * PAGE), 0);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
	ck_assert_uint_eq(off, PAGE);
	/* The client scribbles over the daemon's own tail: not read. */
	atomic_store(&ret->tail, 999);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
	ck_assert_uint_eq(off, 2 * PAGE);
	ck_assert_uint_eq(tail, 2);
	ck_assert_uint_eq(atomic_load(&ret->tail), 2);
	for (size_t i = 0; i < sizeof(bad_head_delta) / sizeof(bad_head_delta[0]);
	     i++) {
		/* A head behind tail, or more than the capacity ahead. */
		atomic_store(&ret->head, (uint32_t)(tail + bad_head_delta[i]));
		off = 5;
		ck_assert_msg(mag_ring_pop_checked(ret, &tail, &off) == -EBADMSG,
			      "a head %lld from tail taken",
			      (long long)bad_head_delta[i]);
		ck_assert_uint_eq(tail, 2);
		ck_assert_uint_eq(off, 5);
		ck_assert_uint_eq(atomic_load(&ret->tail), 2);
	}
	/* Exactly the capacity ahead is a full ring, which pops. */
	atomic_store(&ret->head, tail + MAG_RING_CAP);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), 0);
	ck_assert_uint_eq(off, 3 * PAGE);
	/* Equal is empty. */
	atomic_store(&ret->head, tail);
	ck_assert_int_eq(mag_ring_pop_checked(ret, &tail, &off), -EAGAIN);
	ck_assert_uint_eq(tail, 3);
}
END_TEST

START_TEST(test_trusted_corrupt)
{
	struct mag_region *r = fresh();
	struct mag_ring *ring = &r->cls[4].fill;
	uint64_t off = 5;

	/* More than the capacity held: refused, nothing moves. */
	atomic_store(&ring->head, MAG_RING_CAP + 1);
	ck_assert_int_eq(mag_ring_pop(ring, &off), -EBADMSG);
	ck_assert_uint_eq(off, 5);
	ck_assert_uint_eq(atomic_load(&ring->tail), 0);
	ck_assert_int_eq(mag_ring_push(ring, 1), -EBADMSG);
	ck_assert_uint_eq(atomic_load(&ring->head), MAG_RING_CAP + 1);
	/* A tail ahead of head. */
	atomic_store(&ring->head, 0);
	atomic_store(&ring->tail, 1);
	ck_assert_int_eq(mag_ring_pop(ring, &off), -EBADMSG);
	ck_assert_int_eq(mag_ring_push(ring, 1), -EBADMSG);
	ck_assert_uint_eq(atomic_load(&ring->entry[0]), 0);
}
END_TEST

/* The stress test: one thread produces, one consumes, STRESS_N entries. */
struct stress {
	struct mag_ring *ring;
	bool checked_producer;	/* the daemon pushes (fill) */
	bool checked_consumer;	/* the daemon pops (return) */
	uint64_t bad;		/* out of order or unexpected, by the consumer */
	uint64_t popped;
};

static void *stress_produce(void *arg)
{
	struct stress *s = arg;
	uint32_t head = 0;
	uint64_t i = 0;

	while (i < STRESS_N) {
		int rc = s->checked_producer ?
				 mag_ring_push_checked(s->ring, &head,
						       (i + 1) * PAGE) :
				 mag_ring_push(s->ring, (i + 1) * PAGE);

		if (rc == 0)
			i++;
		else if (rc != -EAGAIN)
			return (void *)1;
	}
	return NULL;
}

static void *stress_consume(void *arg)
{
	struct stress *s = arg;
	uint32_t tail = 0;
	uint64_t off;

	while (s->popped < STRESS_N) {
		int rc = s->checked_consumer ?
				 mag_ring_pop_checked(s->ring, &tail, &off) :
				 mag_ring_pop(s->ring, &off);

		if (rc == -EAGAIN)
			continue;
		if (rc != 0 || off != (s->popped + 1) * PAGE)
			s->bad++;
		s->popped++;
	}
	return NULL;
}

static void stress(struct mag_ring *ring, bool daemon_produces)
{
	struct stress s = {
		.ring = ring,
		.checked_producer = daemon_produces,
		.checked_consumer = !daemon_produces,
	};
	pthread_t prod, cons;
	void *prc, *crc;
	uint64_t off;

	ck_assert_int_eq(pthread_create(&cons, NULL, stress_consume, &s), 0);
	ck_assert_int_eq(pthread_create(&prod, NULL, stress_produce, &s), 0);
	ck_assert_int_eq(pthread_join(prod, &prc), 0);
	ck_assert_int_eq(pthread_join(cons, &crc), 0);
	ck_assert_ptr_null(prc);
	ck_assert_ptr_null(crc);
	ck_assert_uint_eq(s.bad, 0);
	ck_assert_uint_eq(s.popped, STRESS_N);
	ck_assert_uint_eq(atomic_load(&ring->head), STRESS_N);
	ck_assert_uint_eq(atomic_load(&ring->tail), STRESS_N);
	ck_assert_int_eq(mag_ring_pop(ring, &off), -EAGAIN);
}

START_TEST(test_stress_fill)
{
	stress(&fresh()->cls[0].fill, true);
}
END_TEST

START_TEST(test_stress_return)
{
	stress(&fresh()->cls[0].ret, false);
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

	tc = tcase_create("ring");
	tcase_add_test(tc, test_push_pop_order);
	tcase_add_test(tc, test_index_wraps);
	tcase_add_test(tc, test_full_empty);
	tcase_add_test(tc, test_trusted_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("checked");
	tcase_add_test(tc, test_push_checked_corrupt);
	tcase_add_test(tc, test_pop_checked_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("stress");
	tcase_add_test(tc, test_stress_fill);
	tcase_add_test(tc, test_stress_return);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_suite)
