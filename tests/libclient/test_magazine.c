// SPDX-License-Identifier: MIT
/*
 * Tests for libclient/magazine.c across a restart of the daemon:
 * cmag_suspend() and cmag_resume().
 *
 * The library hides every symbol but spanheap_*, so this suite builds
 * magazine.c itself (included below) over stand-ins for the four calls
 * of conn.c it makes, and plays the daemon on two regions of its own
 * made with proto/magazine.h: the one before the restart, and the one
 * the WELCOME of the resume brings.  The arena is plain memory: the
 * magazine only computes pointers into it (and clears ZERO spans).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libclient/magazine.c"
#include "tests/lib/testlib.h"

#define PAGE HEAP_PAGE_SIZE
#define ARENA_PAGES 1024

/* conn.c's side, as magazine.c sees it. */
static int refills;

bool conn_forked(const struct spanheap *h)
{
	(void)h;
	return false;
}

bool conn_gone(const struct spanheap *h)
{
	(void)h;
	return false;
}

int conn_lock(struct spanheap *h)
{
	pthread_mutex_lock(&h->lock);
	return 0;
}

/*
 * A refill of an empty class is refused, as by a daemon with no room
 * (the socket then); one of a full stack raises its limit, as the
 * daemon's serve does (a new region's limits are 0).
 */
int conn_call_locked(struct spanheap *h, uint16_t type,
		     struct proto_hdr *req, size_t len)
{
	const struct proto_mag *mag = (const void *)req;

	ck_assert_uint_eq(type, PROTO_MAG_REFILL);
	ck_assert_uint_eq(len, sizeof(*mag));
	ck_assert_uint_lt(mag->cls, MAG_NCLASSES);
	refills++;
	if (mag->flags & PROTO_MAG_EMPTY)
		return -ENOMEM;
	atomic_store(&h->mag.r->cls[mag->cls].limit, 8);
	return 0;
}

/* A daemon's region: its fd, our mapping, its cursors. */
struct dregion {
	int fd;
	struct mag_region *r;
	size_t size;
	struct mag_fill_cursor cur[MAG_NCLASSES];
};

static struct arena arena;
static struct spanheap h;
static struct dregion d1, d2;

static void dregion_make(struct dregion *d)
{
	memset(d, 0, sizeof(*d));
	d->size = mag_layout_size((uint32_t)PAGE);
	d->fd = memfd_create("test-magazine", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(d->fd, 0);
	ck_assert_int_eq(ftruncate(d->fd, (off_t)d->size), 0);
	ck_assert_int_eq(fcntl(d->fd, F_ADD_SEALS,
			       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 0);
	d->r = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		    0);
	ck_assert_ptr_ne(d->r, MAP_FAILED);
	ck_assert_int_eq(mag_format(d->r, d->size, (uint32_t)PAGE, getpid()),
			 0);
}

static void dregion_drop(struct dregion *d)
{
	munmap(d->r, d->size);
	close(d->fd);
}

/* The daemon fills class @c with @n spans from page @first on. */
static void dfill(struct dregion *d, unsigned int c, unsigned int n,
		  uint64_t first)
{
	for (unsigned int i = 0; i < n; i++)
		ck_assert_int_eq(mag_fill_push(&d->r->cls[c].fill, &d->cur[c],
					       (first + (i << c)) * PAGE),
				 0);
	atomic_store(&d->r->cls[c].limit, 8);
}

static void setup(void)
{
	memset(&h, 0, sizeof(h));
	arena.fd = -1;
	arena.size = ARENA_PAGES * PAGE;
	arena.base = calloc(ARENA_PAGES, PAGE);
	ck_assert_ptr_nonnull(arena.base);
	h.arena = &arena;
	h.fd = -1;
	h.page_size = (uint32_t)PAGE;
	ck_assert_int_eq(pthread_mutex_init(&h.lock, NULL), 0);
	refills = 0;
	dregion_make(&d1);
	dregion_make(&d2);
	ck_assert_int_eq(cmag_attach(&h, d1.fd, d1.size), 0);
}

static void teardown(void)
{
	cmag_detach(&h);
	dregion_drop(&d1);
	dregion_drop(&d2);
	pthread_mutex_destroy(&h.lock);
	free(arena.base);
}

static uint64_t alloc1(unsigned int npages)
{
	struct spanheap_span s;

	ck_assert_int_eq(cmag_alloc(&h, npages, 0, &s), 0);
	/* Rounded up to its class. */
	ck_assert_uint_eq(s.npages, UINT64_C(1) << mag_class_of(npages));
	ck_assert_ptr_eq(s.ptr, (char *)arena.base + s.off);
	return s.off;
}

/* The entries of class @c's stack in @d, in order. */
static uint32_t stack_of(struct dregion *d, unsigned int c, uint64_t *ret)
{
	uint32_t n = mag_stack_count(&d->r->cls[c].ret);

	for (uint32_t i = 0; i < n; i++)
		ret[i] = atomic_load(&d->r->cls[c].ret.slot[i]);
	return n;
}

static bool has(const uint64_t *v, uint32_t n, uint64_t x)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

START_TEST(test_suspend_took)
{
	uint32_t took[MAG_NCLASSES];
	uint64_t a[6];

	dfill(&d1, 0, 6, 0);
	dfill(&d1, 2, 4, 100);
	for (int i = 0; i < 4; i++)
		a[i] = alloc1(1);
	a[4] = alloc1(3);
	/* A free goes onto the stack, and the next take pops it: no tail. */
	ck_assert_int_eq(cmag_free(&h, a[1]), 0);
	ck_assert_uint_eq(alloc1(1), a[1]);
	/* The daemon revokes one after our last take: not ours. */
	ck_assert_int_eq(mag_fill_sync(&d1.r->cls[0].fill, &d1.cur[0]), 4);
	ck_assert_int_eq(mag_fill_revoke(&d1.r->cls[0].fill, &d1.cur[0]), 0);
	cmag_suspend(&h, took);
	ck_assert_uint_eq(took[0], 4);
	ck_assert_uint_eq(atomic_load(&d1.r->cls[0].fill.tail), 5);
	ck_assert_uint_eq(took[1], 0);
	ck_assert_uint_eq(took[2], 1);
	for (unsigned int c = 3; c < MAG_NCLASSES; c++)
		ck_assert_uint_eq(took[c], 0);
}
END_TEST

START_TEST(test_suspended_uses_socket)
{
	uint32_t took[MAG_NCLASSES];
	struct spanheap_span s;
	uint64_t a, b;

	dfill(&d1, 0, 4, 0);
	a = alloc1(1);
	b = alloc1(1);
	ck_assert_int_eq(cmag_free(&h, b), 0);
	cmag_suspend(&h, took);
	/* No take: the ring and the stack still hold theirs. */
	ck_assert_int_eq(cmag_alloc(&h, 1, 0, &s), 1);
	ck_assert_uint_eq(mag_fill_count(&d1.r->cls[0].fill), 2);
	ck_assert_uint_eq(mag_stack_count(&d1.r->cls[0].ret), 1);
	ck_assert_int_eq(refills, 0);
	/* No push: a span we took goes to the socket, and is not ours. */
	ck_assert_int_eq(cmag_owns(&h, a), 0);
	ck_assert_int_eq(cmag_free(&h, a), 1);
	ck_assert_int_eq(cmag_owns(&h, a), -1);
	ck_assert_uint_eq(mag_stack_count(&d1.r->cls[0].ret), 1);
	/* The stack is still read for double frees. */
	ck_assert(cmag_stacked(&h, b));
}
END_TEST

START_TEST(test_resume_moves_stacks)
{
	uint64_t a[8], st[MAG_STACK_CAP], before[2][MAG_STACK_CAP];
	uint32_t took[MAG_NCLASSES], n0, n3;
	struct mag_region *old;

	dfill(&d1, 0, 8, 0);
	dfill(&d1, 3, 3, 200);
	for (int i = 0; i < 6; i++)
		a[i] = alloc1(1);
	a[6] = alloc1(8);
	a[7] = alloc1(5);
	ck_assert_int_eq(cmag_free(&h, a[0]), 0);
	ck_assert_int_eq(cmag_free(&h, a[2]), 0);
	ck_assert_int_eq(cmag_free(&h, a[4]), 0);
	ck_assert_int_eq(cmag_free(&h, a[6]), 0);
	n0 = stack_of(&d1, 0, before[0]);
	n3 = stack_of(&d1, 3, before[1]);
	ck_assert_uint_eq(n0, 3);
	ck_assert_uint_eq(n3, 1);
	cmag_suspend(&h, took);
	old = h.mag.r;
	ck_assert_int_eq(cmag_resume(&h, d2.fd, d2.size), 0);
	ck_assert_ptr_ne(h.mag.r, old);
	/* The old stacks are on the new ones. */
	ck_assert_uint_eq(stack_of(&d2, 0, st), n0);
	for (uint32_t i = 0; i < n0; i++)
		ck_assert(has(st, n0, before[0][i]));
	ck_assert_uint_eq(stack_of(&d2, 3, st), n3);
	ck_assert_uint_eq(st[0], before[1][0]);
	ck_assert_uint_eq(mag_stack_count(&d1.r->cls[0].ret), 0);
	/* Spans taken before the restart are freed through the new one. */
	ck_assert_int_eq(cmag_owns(&h, a[1]), 0);
	ck_assert_int_eq(cmag_owns(&h, a[7]), 3);
	ck_assert_int_eq(cmag_free(&h, a[1]), 0);
	ck_assert_int_eq(cmag_free(&h, a[7]), 0);
	ck_assert_uint_eq(stack_of(&d2, 0, st), n0 + 1);
	ck_assert_uint_eq(st[n0], a[1]);
	ck_assert_uint_eq(stack_of(&d2, 3, st), n3 + 1);
	/* And what the stacks hold is taken again, newest first. */
	ck_assert_uint_eq(alloc1(1), a[1]);
	ck_assert_uint_eq(alloc1(8), a[7]);
	/* The new ring starts at 0: took follows it. */
	dfill(&d2, 0, 2, 500);
	for (uint32_t i = 0; i < n0; i++)
		alloc1(1);
	ck_assert_uint_eq(alloc1(1), 500 * PAGE);
	cmag_suspend(&h, took);
	ck_assert_uint_eq(took[0], 1);
	ck_assert_uint_eq(took[3], 0);
}
END_TEST

START_TEST(test_resume_refuses)
{
	uint32_t took[MAG_NCLASSES], n;
	struct spanheap_span s;
	struct mag_region *old;
	struct dregion bad;
	uint64_t a;

	dfill(&d1, 0, 4, 0);
	a = alloc1(1);
	ck_assert_int_eq(cmag_free(&h, alloc1(1)), 0);
	cmag_suspend(&h, took);
	old = h.mag.r;
	/* A region that is not fresh: a stack, or a tail, not empty. */
	ck_assert_int_eq(mag_stack_push(&d2.r->cls[5].ret, PAGE, 8, &n), 0);
	ck_assert_int_eq(cmag_resume(&h, d2.fd, d2.size), -EBADMSG);
	ck_assert_uint_eq(mag_stack_count(&d2.r->cls[5].ret), 1);
	dregion_make(&bad);
	atomic_store(&bad.r->cls[1].fill.tail, 3);
	ck_assert_int_eq(cmag_resume(&h, bad.fd, bad.size), -EBADMSG);
	/* The wrong size, a bad header. */
	ck_assert_int_eq(cmag_resume(&h, bad.fd, bad.size - PAGE), -EBADMSG);
	atomic_store(&bad.r->cls[1].fill.tail, 0);
	bad.r->hdr.magic++;
	ck_assert_int_eq(cmag_resume(&h, bad.fd, bad.size), -EBADMSG);
	dregion_drop(&bad);
	/* Nothing changed: still the old one, suspended, its stack whole. */
	ck_assert_ptr_eq(h.mag.r, old);
	ck_assert_int_eq(cmag_alloc(&h, 1, 0, &s), 1);
	ck_assert_uint_eq(mag_stack_count(&d1.r->cls[0].ret), 1);
	ck_assert_int_eq(cmag_owns(&h, a), 0);
}
END_TEST

START_TEST(test_no_magazine)
{
	uint32_t took[MAG_NCLASSES];

	cmag_detach(&h);
	memset(took, 0xff, sizeof(took));
	cmag_suspend(&h, took);
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		ck_assert_uint_eq(took[c], 0);
	/* A magazine now, where there was none: attached. */
	ck_assert_int_eq(cmag_resume(&h, d2.fd, d2.size), 0);
	dfill(&d2, 1, 1, 40);
	ck_assert_uint_eq(alloc1(2), 40 * PAGE);
}
END_TEST

static Suite *magazine_suite(void)
{
	Suite *s = suite_create("magazine");
	TCase *tc = tcase_create("restart");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_suspend_took);
	tcase_add_test(tc, test_suspended_uses_socket);
	tcase_add_test(tc, test_resume_moves_stacks);
	tcase_add_test(tc, test_resume_refuses);
	tcase_add_test(tc, test_no_magazine);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(magazine_suite());
}
