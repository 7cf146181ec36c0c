// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/stats.c against the real spanheapd: the stats file is
 * replaced atomically, never written through a link left at its
 * temporary name, and readable by all.  The MemStats text itself is
 * tested in process in tests/daemon/test_stats.c.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

static struct test_daemon td;
static char stats_dir[64], stats_opt[160], stats_path[140];

static void setup(void)
{
	const char *args[] = { stats_opt, "--scavenge-after=100ms",
			       "--gc-after=1h", NULL };

	test_tmpdir(stats_dir, sizeof(stats_dir), "spanheap-stats");
	snprintf(stats_path, sizeof(stats_path), "%s/m.json", stats_dir);
	snprintf(stats_opt, sizeof(stats_opt), "--stats-file=%s", stats_path);
	test_daemon_start(&td, args);
}

static void teardown(void)
{
	test_daemon_stop(&td);
	test_tmpdir_remove(stats_dir);
}

static time_t mtime_ns(const char *path, long *ns)
{
	struct stat st;

	if (stat(path, &st))
		return 0;
	*ns = st.st_mtim.tv_nsec;
	return st.st_mtim.tv_sec;
}

START_TEST(test_no_write_through_link)
{
	char tmp[200], victim[200], buf[16] = { 0 };
	long ns0 = 0, ns1 = 0;
	time_t t0, t1 = 0;
	json_t *root;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", stats_path, (int)td.pid);
	snprintf(victim, sizeof(victim), "%s.victim", stats_path);
	f = fopen(victim, "w");
	ck_assert_ptr_nonnull(f);
	fputs("keep", f);
	fclose(f);
	/*
	 * The daemon makes and renames its temporary file at every rewrite:
	 * while it exists the link cannot be made, so try again.
	 */
	for (int i = 0; symlink(victim, tmp) < 0; i++) {
		ck_assert_msg(errno == EEXIST && i < 10000, "symlink: %s",
			      strerror(errno));
		usleep(100);
	}
	/* Wait for two rewrites of the stats file. */
	t0 = mtime_ns(stats_path, &ns0);
	for (int i = 0, seen = 0; i < 300 && seen < 2; i++) {
		usleep(10000);
		t1 = mtime_ns(stats_path, &ns1);
		if (t1 != t0 || ns1 != ns0) {
			seen++;
			t0 = t1;
			ns0 = ns1;
		}
	}
	ck_assert_int_ne(t1, 0);
	f = fopen(victim, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "keep");
	root = json_load_file(stats_path, 0, NULL);
	ck_assert_ptr_nonnull(root);
	json_decref(root);
}
END_TEST

START_TEST(test_file_mode)
{
	struct stat st;

	for (int i = 0; i < 300 && stat(stats_path, &st); i++)
		usleep(10000);
	ck_assert_int_eq(stat(stats_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("file");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_write_through_link);
	tcase_add_test(tc, test_file_mode);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(stats_suite)
