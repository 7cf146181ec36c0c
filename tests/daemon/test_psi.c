// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/psi.c: trigger specs parsed and checked as the
 * kernel checks them, with a reason that names the fix for each one
 * refused; and the cgroup's memory.pressure found from the text of
 * /proc/self/cgroup and mountinfo, on the layouts the daemon meets
 * (cgroup v2 alone, the hybrid of v1 controllers beside v2, a
 * container's cgroup namespace, escaped paths) and on this machine's
 * own files, checked against the kernel (statfs, cgroup.procs).
 */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "daemon/psi.h"
#include "tests/lib/testlib.h"

/* ---- psi_trigger_parse ---- */

static void parses(const char *spec, bool full, uint32_t stall,
		   uint32_t window)
{
	struct psi_trigger t;
	char err[512] = "", text[PSI_TRIGGER_TEXT_MAX];

	ck_assert_msg(!psi_trigger_parse(spec, &t, err, sizeof(err)),
		      "'%s' refused: %s", spec, err);
	ck_assert_int_eq(t.full, full);
	ck_assert_uint_eq(t.stall_us, stall);
	ck_assert_uint_eq(t.window_us, window);
	psi_trigger_format(&t, text, sizeof(text));
	t.stall_us = 0;
	ck_assert(!psi_trigger_parse(text, &t, err, sizeof(err)));
	ck_assert_uint_eq(t.stall_us, stall);
}

START_TEST(test_parse_valid)
{
	parses("some 100000 1000000", false, 100000, 1000000);
	parses("full 1 500000", true, 1, 500000);
	parses("some 10000000 10000000", false, 10000000, 10000000);
	parses("  some\t200000   2000000 ", false, 200000, 2000000);
}
END_TEST

START_TEST(test_format_is_the_kernel_text)
{
	struct psi_trigger t = { .full = true, .stall_us = 150000,
				 .window_us = 2000000 };
	char text[PSI_TRIGGER_TEXT_MAX];

	psi_trigger_format(&t, text, sizeof(text));
	ck_assert_str_eq(text, "full 150000 2000000");
	t = (struct psi_trigger){ false, PSI_WINDOW_MAX_US, PSI_WINDOW_MAX_US };
	psi_trigger_format(&t, text, sizeof(text));
	ck_assert_str_eq(text, "some 10000000 10000000");
}
END_TEST

/* @spec is refused, @ret untouched, and the reason has @want and @fix. */
static void refused(const char *spec, const char *want, const char *fix)
{
	struct psi_trigger t = { true, 7, 7 };
	char err[512] = "";

	ck_assert_msg(psi_trigger_parse(spec, &t, err, sizeof(err)) == -EINVAL,
		      "'%s' accepted", spec);
	ck_assert_msg(strstr(err, want), "'%s': '%s' lacks '%s'", spec, err,
		      want);
	ck_assert_msg(strstr(err, fix), "'%s': '%s' lacks '%s'", spec, err,
		      fix);
	ck_assert(t.full && t.stall_us == 7 && t.window_us == 7);
}

START_TEST(test_parse_refused)
{
	const char *form = "want \"some|full STALL_US WINDOW_US\"";

	refused("some", "1 field,", form);
	refused("", "0 fields,", form);
	refused("full 1 2 3", "4 fields,", form);
	refused("half 100000 1000000", "'half' is neither some nor full",
		form);
	refused("some 0 1000000", "a stall of 0 us is not a trigger",
		"want 1 us up to the window");
	refused("some 100000 400000", "a window of 400000 us is outside",
		"want 500000 to 10000000 us");
	refused("some 100000 10000001", "a window of 10000001 us is outside",
		"want 500000 to 10000000 us");
	refused("some 2000000 1000000",
		"a stall of 2000000 us is longer than its window of 1000000 us",
		"want at most the window");
	refused("some -1 1000000", "whole numbers of microseconds", form);
	refused("some 1e5 1000000", "whole numbers of microseconds", form);
	refused("some 100ms 1s", "whole numbers of microseconds", form);
	refused("some 4294967296 1000000", "whole numbers of microseconds",
		form);
	refused("some 100000 99999999999999999999999999999999999999",
		"whole numbers of microseconds", form);
}
END_TEST

/* ---- psi_cgroup_file ---- */

/* This machine's kind: v1 controllers beside a v2 at .../unified. */
static const char hybrid_cgroup[] =
	"9:name=systemd:/\n4:memory:/process_api/ac47\n1:cpu:/\n0::/\n";
static const char hybrid_mounts[] =
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
/* Debian 12 under systemd: v2 alone, with optional fields. */
static const char v2_cgroup[] = "0::/system.slice/spanheapd.service\n";
static const char v2_mounts[] =
	"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
	"26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

static int find(const char *cg, const char *mi, char *buf, size_t len,
		char *why)
{
	return psi_cgroup_file(cg, mi, "memory.pressure", buf, len, why, 512);
}

static void found(const char *cg, const char *mi, const char *want)
{
	char buf[4096], why[512] = "";

	ck_assert_msg(!find(cg, mi, buf, sizeof(buf), why), "none: %s", why);
	ck_assert_str_eq(buf, want);
}

static void not_found(const char *cg, const char *mi, int err,
		      const char *reason)
{
	char buf[4096] = "untouched", why[512] = "";

	ck_assert_int_eq(find(cg, mi, buf, sizeof(buf), why), err);
	ck_assert_str_eq(buf, "untouched");
	ck_assert_msg(strstr(why, reason), "'%s' lacks '%s'", why, reason);
}

START_TEST(test_cgroup_hybrid_and_v2)
{
	found(hybrid_cgroup, hybrid_mounts,
	      "/sys/fs/cgroup/unified/memory.pressure");
	found(v2_cgroup, v2_mounts,
	      "/sys/fs/cgroup/system.slice/spanheapd.service/memory.pressure");
	/* A trailing slash or a cgroup named like a v1 line: one path. */
	found("0::/a/\n", v2_mounts, "/sys/fs/cgroup/a/memory.pressure");
	found("1:cpu:/x\n0::/a\n", v2_mounts,
	      "/sys/fs/cgroup/a/memory.pressure");
}
END_TEST

/* A container sees its own part of the tree, mounted from a sub-root. */
START_TEST(test_cgroup_namespace_and_bind_root)
{
	static const char mi[] =
		"100 90 0:30 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";

	found("0::/docker/abc\n", mi, "/sys/fs/cgroup/memory.pressure");
	found("0::/docker/abc/sub\n", mi,
	      "/sys/fs/cgroup/sub/memory.pressure");
	/* A prefix that is not a parent directory does not count. */
	not_found("0::/docker/abcdef\n", mi, -ENOENT,
		  "no cgroup2 mount in /proc/self/mountinfo shows the daemon's cgroup /docker/abcdef");
	not_found("0::/../../init.scope\n", mi, -ENOENT,
		  "outside its cgroup namespace");
	not_found("0::/a/..\n", v2_mounts, -ENOENT,
		  "outside its cgroup namespace");
}
END_TEST

START_TEST(test_cgroup_escapes_and_order)
{
	/* The kernel writes a space as \040 and a backslash as \134. */
	found("0::/\n",
	      "7 1 0:9 / /mnt/c\\040g\\134x rw - cgroup2 none rw\n",
	      "/mnt/c g\\x/memory.pressure");
	/* A cgroup v1 mount is not the unified one; the first v2 wins. */
	found("0::/\n",
	      "1 0 0:1 / /a rw - cgroup cgroup rw,memory\n"
	      "2 0 0:2 / /b rw - cgroup2 cgroup2 rw\n"
	      "3 0 0:2 / /c rw - cgroup2 cgroup2 rw\n",
	      "/b/memory.pressure");
	/* The mount on / itself. */
	found("0::/s\n", "1 0 0:1 / / rw - cgroup2 cgroup2 rw\n",
	      "/s/memory.pressure");
}
END_TEST

START_TEST(test_cgroup_none)
{
	not_found("4:memory:/x\n1:cpu:/\n", hybrid_mounts, -ENOENT,
		  "/proc/self/cgroup has no \"0::\" line");
	not_found("", "", -ENOENT, "has no \"0::\" line");
	not_found(hybrid_cgroup,
		  "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
		  "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
		  -ENOENT, "no cgroup2 mount in /proc/self/mountinfo");
	/* Lines cut short, a missing separator: not mounts. */
	not_found("0::/\n", "41 31 0:38 / /u rw cgroup2 cgroup2 rw\n41 31\n7",
		  -ENOENT, "no cgroup2 mount");
}
END_TEST

START_TEST(test_cgroup_too_long)
{
	char buf[16] = "untouched", why[512] = "";

	ck_assert_int_eq(find(v2_cgroup, v2_mounts, buf, sizeof(buf), why),
			 -ENAMETOOLONG);
	ck_assert_str_eq(buf, "untouched");
	ck_assert_ptr_nonnull(strstr(why, "too long"));
}
END_TEST

static char *slurp(const char *path)
{
	static char bufs[2][1 << 16];
	static int i;
	char *b = bufs[i++ % 2];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(b, 1, sizeof(bufs[0]) - 1, f);
	fclose(f);
	b[n] = '\0';
	return b;
}

/*
 * On this machine's own files: the file found is in a cgroup2 file
 * system, and its directory is the cgroup that holds this process.
 */
START_TEST(test_cgroup_this_machine)
{
	char buf[4096], why[512] = "", procs[4096], me[32];
	struct statfs sfs;
	char *cg = slurp("/proc/self/cgroup");
	char *mi = slurp("/proc/self/mountinfo");

	ck_assert_msg(!find(cg, mi, buf, sizeof(buf), why), "none: %s", why);
	ck_assert_ptr_nonnull(strstr(buf, "/memory.pressure"));
	ck_assert_int_eq(statfs(buf, &sfs), 0);
	ck_assert_int_eq(sfs.f_type, CGROUP2_SUPER_MAGIC);
	snprintf(procs, sizeof(procs), "%.*s/cgroup.procs",
		 (int)(strlen(buf) - strlen("/memory.pressure")), buf);
	snprintf(me, sizeof(me), "\n%d\n", (int)getpid());
	ck_assert_msg(strstr(strncat(strcpy(why, "\n"), slurp(procs), 400), me),
		      "%s does not hold pid %d", procs, (int)getpid());
}
END_TEST

static Suite *psi_suite(void)
{
	Suite *s = suite_create("psi");
	TCase *tc = tcase_create("trigger");

	tcase_add_test(tc, test_parse_valid);
	tcase_add_test(tc, test_format_is_the_kernel_text);
	tcase_add_test(tc, test_parse_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("cgroup");
	tcase_add_test(tc, test_cgroup_hybrid_and_v2);
	tcase_add_test(tc, test_cgroup_namespace_and_bind_root);
	tcase_add_test(tc, test_cgroup_escapes_and_order);
	tcase_add_test(tc, test_cgroup_none);
	tcase_add_test(tc, test_cgroup_too_long);
	tcase_add_test(tc, test_cgroup_this_machine);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(psi_suite)
