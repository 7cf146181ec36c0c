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
	arena_zero(a, 0, 4096);		/* small: memset */
	arena_zero(a, MiB, MiB);	/* large: punched */
	ck_assert_uint_eq(resident(), MiB);
	ck_assert_uint_eq(p[0], 0);
	ck_assert_uint_eq(p[4095], 0);
	ck_assert_uint_eq(p[4096], 0x11);
	ck_assert_uint_eq(p[MiB], 0);
	ck_assert_uint_eq(p[2 * MiB - 1], 0);
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

	arena_heap_ops(a, &ops);
	memset(a->base, 1, 2 * MiB);
	ck_assert_int_eq(ops.release(ops.ctx, 0, MiB), 0);
	ck_assert_uint_eq(resident(), MiB);
	ops.zero(ops.ctx, MiB, 4096);
	ck_assert_uint_eq(((unsigned char *)a->base)[MiB], 0);
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
	tcase_add_test(tc, test_heap_ops_release);
	tcase_add_test(tc, test_madv_dontneed_frees_nothing);
	tcase_add_test(tc, test_madv_free_refused);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(arena_suite)
