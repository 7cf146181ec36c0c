// SPDX-License-Identifier: MIT
/*
 * Tests for shm/arena.c on a real memfd: the seals hold, punch-hole gives
 * pages back (st_blocks, the kernel's own figure), released pages read
 * zero in every mapping.  Also pins down the kernel facts the design
 * rests on: MADV_DONTNEED frees nothing on shared memory and MADV_FREE
 * is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm/arena.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)

static struct arena *a;

static void setup(void)
{
	ck_assert_int_eq(arena_create(64 * MiB, "spanheap-test", &a), 0);
}

static void teardown(void)
{
	arena_destroy(a);
	a = NULL;
}

static uint64_t resident(void)
{
	uint64_t r;

	ck_assert_int_eq(arena_resident(a, &r), 0);
	return r;
}

/* Another fd on the same memfd, as a client holding it would have. */
static int reopen(int flags)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", a->fd);
	fd = open(path, flags);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(test_create_bad_size)
{
	struct arena *b = NULL;

	ck_assert_int_eq(arena_create(0, "x", &b), -EINVAL);
	ck_assert_int_eq(arena_create(4095, "x", &b), -EINVAL);
	ck_assert_int_eq(arena_create(UINT64_C(8) << 40, "x", &b), -EINVAL);
	ck_assert_ptr_null(b);
}
END_TEST

START_TEST(test_untouched_costs_nothing)
{
	struct arena *big;
	uint64_t r;

	ck_assert_int_eq(arena_create(ARENA_DEFAULT_SIZE, "big", &big), 0);
	ck_assert_uint_ge(ARENA_DEFAULT_SIZE, UINT64_C(16) << 30);
	ck_assert_int_eq(arena_resident(big, &r), 0);
	ck_assert_uint_eq(r, 0);
	arena_destroy(big);
}
END_TEST

START_TEST(test_seals_refuse_resize)
{
	int fd = reopen(O_RDWR);

	ck_assert_int_eq(ftruncate(fd, 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(ftruncate(fd, 128 * MiB), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(lseek(fd, 0, SEEK_END), (off_t)(64 * MiB));
	close(fd);
}
END_TEST

START_TEST(test_punch_hole_releases)
{
	unsigned char *p = a->base;

	memset(p, 0x5a, 16 * MiB);
	ck_assert_uint_eq(resident(), 16 * MiB);
	ck_assert_int_eq(arena_release(a, 4 * MiB, 8 * MiB), 0);
	ck_assert_uint_eq(resident(), 8 * MiB);
	ck_assert_uint_eq(p[4 * MiB], 0);
	ck_assert_uint_eq(p[12 * MiB - 1], 0);
	ck_assert_uint_eq(p[4 * MiB - 1], 0x5a);
	ck_assert_uint_eq(p[12 * MiB], 0x5a);
	/* On shared memory even a read fills the page again. */
	ck_assert_uint_eq(resident(), 8 * MiB + 2 * 4096);
	ck_assert_int_eq(arena_release(a, 60 * MiB, 8 * MiB), -EINVAL);
	ck_assert_int_eq(arena_release(a, UINT64_MAX, 1), -EINVAL);
}
END_TEST

START_TEST(test_released_reads_zero_in_other_mapping)
{
	struct arena *b;
	int fd = reopen(O_RDWR);
	unsigned char *p = a->base, *q;

	ck_assert_int_eq(arena_attach(fd, &b), 0);
	ck_assert_uint_eq(b->size, 64 * MiB);
	q = b->base;
	memset(p, 0x77, MiB);
	ck_assert_uint_eq(q[4095], 0x77);
	ck_assert_int_eq(arena_release(a, 0, MiB), 0);
	for (uint64_t i = 0; i < MiB; i += 512)
		if (q[i])
			ck_abort_msg("byte %lu survived the hole",
				     (unsigned long)i);
	arena_destroy(b);
}
END_TEST

START_TEST(test_attach_refuses_unsealed)
{
	struct arena *b = NULL;
	int fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)MiB), 0);
	ck_assert_int_eq(arena_attach(fd, &b), -EPERM);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
			 0);
	ck_assert_int_eq(arena_attach(fd, &b), -EPERM);
	ck_assert_int_eq(arena_attach(-1, &b), -EBADF);
	ck_assert_ptr_null(b);
	close(fd);
}
END_TEST

START_TEST(test_zero)
{
	unsigned char *p = a->base;

	memset(p, 0x11, 2 * MiB);
	arena_zero(a, 0, 4096);		/* small: written over */
	arena_zero(a, MiB, MiB);	/* large: punched */
	ck_assert_uint_eq(resident(), MiB);
	ck_assert_uint_eq(p[0], 0);
	ck_assert_uint_eq(p[4095], 0);
	ck_assert_uint_eq(p[4096], 0x11);
	ck_assert_uint_eq(p[MiB], 0);
	ck_assert_uint_eq(p[2 * MiB - 1], 0);
}
END_TEST

/* Bytes of [off, off + len) that are not zero, read through the file. */
static uint64_t nonzero(uint64_t off, uint64_t len)
{
	static unsigned char buf[65536];
	uint64_t n = 0;

	for (uint64_t done = 0; done < len; done += sizeof(buf)) {
		size_t want = len - done < sizeof(buf) ? len - done : sizeof(buf);

		ck_assert_int_eq(pread(a->fd, buf, want, (off_t)(off + done)),
				 (ssize_t)want);
		for (size_t i = 0; i < want; i++)
			n += buf[i] != 0;
	}
	return n;
}

/* Write @len bytes of @c at @off through the file, not the mapping. */
static void fill(uint64_t off, uint64_t len, int c)
{
	static unsigned char buf[65536];

	memset(buf, c, sizeof(buf));
	for (uint64_t done = 0; done < len; done += sizeof(buf)) {
		size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);

		ck_assert_int_eq(pwrite(a->fd, buf, n, (off_t)(off + done)),
				 (ssize_t)n);
	}
}

/*
 * Data and holes mixed: every byte of the range reads zero afterwards,
 * the small extents stay resident (written over), the large ones are
 * punched, nothing outside the range changes.
 */
START_TEST(test_zero_extents)
{
	fill(0, 4096, 0xab);			/* small */
	fill(3 * 4096, 2 * 4096, 0xab);		/* small */
	fill(MiB, MiB, 0xab);			/* large */
	fill(3 * MiB, 60 * 1024, 0xab);		/* just below the threshold */
	fill(4 * MiB, 4096, 0xcd);		/* outside */
	ck_assert_uint_eq(resident(), 4 * 4096 + MiB + 60 * 1024);
	arena_zero(a, 0, 4 * MiB);
	ck_assert_uint_eq(nonzero(0, 4 * MiB), 0);
	ck_assert_uint_eq(nonzero(4 * MiB, 4096), 4096);
	ck_assert_uint_eq(resident(), 4 * 4096 + 60 * 1024);
	/* A range with data in its middle only, and one with none. */
	fill(8 * MiB + 5 * 4096, 4096, 0xab);
	arena_zero(a, 8 * MiB, MiB);
	ck_assert_uint_eq(nonzero(8 * MiB, MiB), 0);
	arena_zero(a, 16 * MiB, 16 * MiB);
	ck_assert_uint_eq(resident(), 5 * 4096 + 60 * 1024);
}
END_TEST

/*
 * arena_zero() never goes through this process's mapping: with the
 * mapping made inaccessible it still zeroes, and zeroing holes allocates
 * nothing (a memset would fault every page in).
 */
START_TEST(test_zero_never_touches_mapping)
{
	fill(0, 16 * 4096, 0xab);
	fill(2 * MiB, 512 * 1024, 0xab);
	ck_assert_int_eq(mprotect(a->base, a->size, PROT_NONE), 0);
	for (uint64_t off = 0; off < 32 * MiB; off += 4096)
		arena_zero(a, off, 4096);	/* one page at a time */
	arena_zero(a, 32 * MiB, 32 * MiB);
	ck_assert_int_eq(mprotect(a->base, a->size, PROT_READ | PROT_WRITE),
			 0);
	ck_assert_uint_eq(nonzero(0, 4 * MiB), 0);
	/*
	 * Zeroed a page at a time, every extent was small: written over,
	 * so they stay; nothing else was allocated.
	 */
	ck_assert_uint_eq(resident(), 16 * 4096 + 512 * 1024);
	/* In one call both extents are large: punched. */
	arena_zero(a, 0, 4 * MiB);
	ck_assert_uint_eq(resident(), 0);
}
END_TEST

START_TEST(test_next_data)
{
	uint64_t s, e;

	ck_assert_int_eq(arena_next_data(a, 0, &s, &e), -ENXIO);
	fill(5 * 4096, 3 * 4096, 1);
	fill(MiB, 100, 1);		/* a partial page is a page */
	ck_assert_int_eq(arena_next_data(a, 0, &s, &e), 0);
	ck_assert_uint_eq(s, 5 * 4096);
	ck_assert_uint_eq(e, 8 * 4096);
	ck_assert_int_eq(arena_next_data(a, 6 * 4096, &s, &e), 0);
	ck_assert_uint_eq(s, 6 * 4096);
	ck_assert_uint_eq(e, 8 * 4096);
	ck_assert_int_eq(arena_next_data(a, 8 * 4096, &s, &e), 0);
	ck_assert_uint_eq(s, MiB);
	ck_assert_uint_eq(e, MiB + 4096);
	ck_assert_int_eq(arena_next_data(a, MiB + 4096, &s, &e), -ENXIO);
	ck_assert_int_eq(arena_next_data(a, 64 * MiB, &s, &e), -ENXIO);
	/* A read through a mapping is data too: shared memory has no zero page. */
	ck_assert_uint_eq(((volatile unsigned char *)a->base)[40 * MiB], 0);
	ck_assert_int_eq(arena_next_data(a, MiB + 4096, &s, &e), 0);
	ck_assert_uint_eq(s, 40 * MiB);
	/*
	 * The blind spot: fallocate()d pages hold memory (st_blocks) but
	 * are holes to SEEK_DATA, and mincore() does not see them either,
	 * until something touches them.  They read as zeros.
	 */
	ck_assert_uint_eq(resident(), 5 * 4096);
	ck_assert_int_eq(fallocate(a->fd, 0, 50 * MiB, 8192), 0);
	ck_assert_uint_eq(resident(), 7 * 4096);
	ck_assert_int_eq(arena_next_data(a, 41 * MiB, &s, &e), -ENXIO);
	ck_assert_uint_eq(nonzero(50 * MiB, 8192), 0);
	((volatile unsigned char *)a->base)[50 * MiB] = 1;
	ck_assert_int_eq(arena_next_data(a, 41 * MiB, &s, &e), 0);
	ck_assert_uint_eq(s, 50 * MiB);
	ck_assert_uint_eq(e, 50 * MiB + 4096);
	ck_assert_uint_eq(resident(), 7 * 4096);
}
END_TEST

/* The kernel facts of the design comment. */
START_TEST(test_madv_dontneed_frees_nothing)
{
	unsigned char *p = a->base;

	memset(p, 0x42, 4 * MiB);
	ck_assert_int_eq(madvise(p, 4 * MiB, MADV_DONTNEED), 0);
	ck_assert_uint_eq(resident(), 4 * MiB);
	ck_assert_uint_eq(p[MiB], 0x42);
}
END_TEST

START_TEST(test_madv_free_refused)
{
	memset(a->base, 0x42, MiB);
	ck_assert_int_eq(madvise(a->base, MiB, MADV_FREE), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(resident(), MiB);
}
END_TEST

START_TEST(test_heap_ops_release)
{
	struct heap_ops ops;

	arena_heap_ops(a, NULL, &ops);
	ck_assert_ptr_null(ops.meta_release);
	ck_assert_ptr_null(ops.meta_next_data);
	memset(a->base, 1, 2 * MiB);
	ck_assert_int_eq(ops.release(ops.ctx, 0, MiB), 0);
	ck_assert_uint_eq(resident(), MiB);
	ops.zero(ops.ctx, MiB, 4096);
	ck_assert_uint_eq(((unsigned char *)a->base)[MiB], 0);
}
END_TEST

/* The heap's metadata is a memfd too: its hooks punch it and see data. */
START_TEST(test_heap_ops_meta)
{
	struct heap_ops ops;
	struct arena *m;
	uint64_t start, end, r;

	ck_assert_int_eq(arena_create(4 * MiB, "test-meta", &m), 0);
	arena_heap_ops(a, m, &ops);
	ck_assert_ptr_eq(ops.ctx, a);
	ck_assert_ptr_eq(ops.meta_ctx, m);
	memset((char *)m->base + MiB, 7, 2 * 4096);
	ck_assert_int_eq(ops.meta_next_data(ops.meta_ctx, 0, &start, &end), 0);
	ck_assert_uint_eq(start, MiB);
	ck_assert_uint_eq(end, MiB + 2 * 4096);
	ck_assert_int_eq(ops.meta_release(ops.meta_ctx, MiB, 4096), 0);
	ck_assert_int_eq(arena_resident(m, &r), 0);
	ck_assert_uint_eq(r, 4096);
	ck_assert_uint_eq(((unsigned char *)m->base)[MiB], 0);
	/* The arena itself is untouched by the metadata's hooks. */
	ck_assert_uint_eq(resident(), 0);
	arena_destroy(m);
}
END_TEST

/*
 * Why heap_check() asks SEEK_DATA before it reads what must be zero: a
 * read through a shared mapping allocates the page it reads (no zero
 * page is shared), and the kernel counts it.
 */
START_TEST(test_read_fault_allocates)
{
	volatile unsigned char *p = a->base;
	unsigned int sum = 0;

	ck_assert_uint_eq(resident(), 0);
	for (uint64_t off = 0; off < MiB; off += 4096)
		sum += p[off];
	ck_assert_uint_eq(sum, 0);
	ck_assert_uint_eq(resident(), MiB);
}
END_TEST

static Suite *arena_suite(void)
{
	Suite *s = suite_create("arena");
	TCase *tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create_bad_size);
	tcase_add_test(tc, test_untouched_costs_nothing);
	tcase_add_test(tc, test_seals_refuse_resize);
	tcase_add_test(tc, test_attach_refuses_unsealed);
	suite_add_tcase(s, tc);

	tc = tcase_create("release");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_punch_hole_releases);
	tcase_add_test(tc, test_released_reads_zero_in_other_mapping);
	tcase_add_test(tc, test_zero);
	tcase_add_test(tc, test_zero_extents);
	tcase_add_test(tc, test_zero_never_touches_mapping);
	tcase_add_test(tc, test_next_data);
	tcase_add_test(tc, test_heap_ops_release);
	tcase_add_test(tc, test_heap_ops_meta);
	tcase_add_test(tc, test_read_fault_allocates);
	tcase_add_test(tc, test_madv_dontneed_frees_nothing);
	tcase_add_test(tc, test_madv_free_refused);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(arena_suite)
