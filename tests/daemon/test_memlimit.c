// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/memlimit.c: what --memory-limit comes to, over a fake
 * /proc and /sys under a temp dir: a given size, max, a percent of
 * MemTotal, of a cgroup v2 memory.max (the least of the daemon's cgroup
 * and those above it), of a v1 memory.limit_in_bytes, and the files that
 * do not bound ("max", v1's huge "none", missing or garbled ones).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/memlimit.h"
#include "daemon/options.h"
#include "tests/lib/testlib.h"

#define GIB (UINT64_C(1) << 30)

static char root[64];
static char source[MEMLIMIT_SOURCE_MAX];

/* Write @text to @rel under the fake root, making its directories. */
static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	test_tmpdir(root, sizeof(root), "spanheap-memlimit");
	put("proc/meminfo", "MemFree:  1000 kB\nMemTotal:       10485760 kB\n");
}

static void teardown(void)
{
	test_tmpdir_remove(root);
}

static uint64_t resolve(const struct options *o)
{
	uint64_t v = 12345;

	ck_assert_int_eq(memlimit_resolve(o, root, &v, source, sizeof(source)),
			 0);
	return v;
}

static struct options defaults(void)
{
	struct options o;
	char *argv[] = { (char *)(uintptr_t)"spanheapd", NULL };
	char err[256];

	ck_assert_int_eq(options_parse(1, argv, &o, err, sizeof(err)), 0);
	return o;
}

/* A v2 hierarchy at /sys/fs/cgroup, the daemon in /a/b/c. */
static void v2(void)
{
	put("proc/self/cgroup", "0::/a/b/c\n");
	put("proc/self/mountinfo",
	    "22 1 0:21 / /proc rw - proc proc rw\n"
	    "30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n");
}

START_TEST(test_given_and_max)
{
	struct options o = defaults();

	o.memory_limit = 3 * GIB;
	o.memory_limit_pct = 0;
	ck_assert_uint_eq(resolve(&o), 3 * GIB);
	ck_assert_str_eq(source, "--memory-limit");
	o = defaults();
	o.memory_limit_max = true;
	o.memory_limit_pct = 0;
	ck_assert_uint_eq(resolve(&o), 0);
	ck_assert_ptr_nonnull(strstr(source, "max"));
}
END_TEST

START_TEST(test_default_is_80pct_of_memtotal)
{
	struct options o = defaults();

	/* No cgroup files at all: the machine's. */
	ck_assert_uint_eq(resolve(&o), 8 * GIB);
	ck_assert_str_eq(source, "80% of MemTotal");
	o.memory_limit_pct = 25;
	ck_assert_uint_eq(resolve(&o), 10 * GIB / 4);
}
END_TEST

START_TEST(test_v2_least_of_the_path)
{
	struct options o = defaults();

	v2();
	put("sys/fs/cgroup/a/memory.max", "4294967296\n");
	put("sys/fs/cgroup/a/b/memory.max", "2147483648\n");
	put("sys/fs/cgroup/a/b/c/memory.max", "max\n");
	o.memory_limit_pct = 50;
	ck_assert_uint_eq(resolve(&o), GIB);
	ck_assert_str_eq(source, "50% of /sys/fs/cgroup/a/b/memory.max");
}
END_TEST

START_TEST(test_v2_above_memtotal_does_not_count)
{
	struct options o = defaults();

	v2();
	put("sys/fs/cgroup/a/b/c/memory.max", "21474836480\n");
	ck_assert_uint_eq(resolve(&o), 8 * GIB);
	ck_assert_str_eq(source, "80% of MemTotal");
}
END_TEST

START_TEST(test_v2_garbage_ignored)
{
	struct options o = defaults();

	v2();
	put("sys/fs/cgroup/a/b/c/memory.max", "lots\n");
	put("sys/fs/cgroup/a/memory.max", "\n");
	ck_assert_uint_eq(resolve(&o), 8 * GIB);
}
END_TEST

START_TEST(test_v1_memory_controller)
{
	struct options o = defaults();

	put("proc/self/cgroup",
	    "5:cpu,cpuacct:/x\n4:memory:/svc/one\n0::/\n");
	put("proc/self/mountinfo",
	    "30 22 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
	    "31 22 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
	put("sys/fs/cgroup/memory/svc/one/memory.limit_in_bytes",
	    "9223372036854771712\n");
	put("sys/fs/cgroup/memory/svc/memory.limit_in_bytes", "1073741824\n");
	ck_assert_uint_eq(resolve(&o), GIB * 8 / 10 & ~UINT64_C(4095));
	ck_assert_str_eq(source,
			 "80% of /sys/fs/cgroup/memory/svc/memory.limit_in_bytes");
}
END_TEST

START_TEST(test_mount_of_a_subtree)
{
	struct options o = defaults();

	/* A container: the hierarchy is mounted from /lxc/ct1 down. */
	put("proc/self/cgroup", "0::/lxc/ct1/app\n");
	put("proc/self/mountinfo",
	    "30 22 0:26 /lxc/ct1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
	put("sys/fs/cgroup/app/memory.max", "1073741824\n");
	o.memory_limit_pct = 100;
	ck_assert_uint_eq(resolve(&o), GIB);
}
END_TEST

START_TEST(test_no_meminfo)
{
	struct options o = defaults();
	char path[256];
	uint64_t v = 7;

	snprintf(path, sizeof(path), "%s/proc/meminfo", root);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(memlimit_resolve(&o, root, &v, source, sizeof(source)),
			 -ENOENT);
	ck_assert_uint_eq(v, 7);
	ck_assert_ptr_nonnull(strstr(source, "MemTotal"));
}
END_TEST

START_TEST(test_real_system)
{
	struct options o = defaults();
	uint64_t v = 0;

	/* Whatever this machine is, the limit is some of its memory. */
	ck_assert_int_eq(memlimit_resolve(&o, "", &v, source, sizeof(source)),
			 0);
	ck_assert_uint_gt(v, 0);
	ck_assert_uint_eq(v % 4096, 0);
	ck_assert_ptr_nonnull(strstr(source, "80% of "));
}
END_TEST

static Suite *memlimit_suite(void)
{
	Suite *s = suite_create("memlimit");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_given_and_max);
	tcase_add_test(tc, test_default_is_80pct_of_memtotal);
	tcase_add_test(tc, test_v2_least_of_the_path);
	tcase_add_test(tc, test_v2_above_memtotal_does_not_count);
	tcase_add_test(tc, test_v2_garbage_ignored);
	tcase_add_test(tc, test_v1_memory_controller);
	tcase_add_test(tc, test_mount_of_a_subtree);
	tcase_add_test(tc, test_no_meminfo);
	tcase_add_test(tc, test_real_system);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(memlimit_suite)
