// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/pressure.c: the PSI watch on a real libevent loop
 * over the kernel's real files.  The trigger opens on the cgroup's
 * memory.pressure, or falls back to /proc/pressure/memory and says why
 * (pressure off for the cgroup, no cgroup2 mount in a mount namespace
 * without one); a removed cgroup ends the watch; a window the kernel
 * refuses without CAP_SYS_RESOURCE is refused with the fix; bad specs
 * open nothing; an injected FIFO calls @fired once per batch of bytes;
 * and a real stall, a child thrashing the page cache of a large file
 * under a small memory limit, makes the kernel fire the trigger.
 *
 * Root only: the tests make cgroups, move themselves into them, drop a
 * capability and unmount cgroup2 in a mount namespace of their own
 * (each test is a forked process of its own).
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "daemon/pressure.h"
#include "tests/daemon/capture.h"
#include "daemon/psi.h"
#include "tests/daemon/cgtest.h"
#include "tests/lib/testlib.h"

/* A window any process may use: a multiple of 2 s. */
#define TRIGGER "some 100000 2000000"

static struct event_base *base;
static unsigned int fired;

static void on_fired(void *ctx)
{
	ck_assert_ptr_eq(ctx, &fired);
	fired++;
}

static void setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	fired = 0;
}

static void teardown(void)
{
	event_base_free(base);
}

static void runner_setup(void)
{
	cgtest_init();
}

static void runner_teardown(void)
{
	cgtest_cleanup("own");
	cgtest_cleanup("off");
	cgtest_cleanup("stall");
}

/* ---- stderr into a buffer ---- */

static const char *out;

static void end_capture(void)
{
	out = capture_end();
	/* What the daemon logged shows in the suite's log, too. */
	fputs(out, stderr);
}

#define ck_assert_logged(s) \
	ck_assert_msg(strstr(out, (s)), "the log lacks '%s': %s", (s), out)

static unsigned int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* pressure_open() under capture: its return; *@ret untouched on failure. */
static int open_watch(const char *trigger, const char *inject,
		      struct pressure **ret)
{
	struct pressure *p = (struct pressure *)&fired;
	int r;

	capture_begin();
	r = pressure_open(base, trigger, inject, on_fired, &fired, &p);
	end_capture();
	if (r < 0)
		ck_assert_ptr_eq(p, (struct pressure *)&fired);
	*ret = p;
	return r;
}

/* ---- the cgroups this process is in ---- */

static char v2mnt[4096];
static char home[8192];		/* the cgroup v2 this test began in */

static void note_home(void)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "r");

	cgtest_v2_mount(v2mnt, sizeof(v2mnt));
	ck_assert_ptr_nonnull(f);
	home[0] = '\0';
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(home, sizeof(home), "%s%s", v2mnt,
				 strcmp(line + 3, "/") ? line + 3 : "");
		}
	fclose(f);
	ck_assert_msg(home[0], "/proc/self/cgroup has no 0:: line");
}

static void go_home(void)
{
	cgtest_join(home, 0);
}

/* ---- the trigger, its file, its errors ---- */

START_TEST(test_bad_specs_open_nothing)
{
	static const char *const bad[][2] = {
		{ "some", "1 field," },
		{ "full 1 2 3", "4 fields," },
		{ "some 0 1000000", "a stall of 0 us is not a trigger" },
		{ "some 100000 400000", "a window of 400000 us is outside" },
		{ "some 100000 20000000", "a window of 20000000 us is outside" },
		{ "some 3000000 2000000", "is longer than its window" },
		{ "", "0 fields" },
	};
	unsigned int fds = open_fds();
	struct pressure *p;
	char err[512], want[600];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(pressure_trigger_valid(bad[i][0], err,
							sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i][1]), "'%s': '%s'", bad[i][0],
			      err);
		ck_assert_int_eq(open_watch(bad[i][0], NULL, &p), -EINVAL);
		snprintf(want, sizeof(want),
			 "memory pressure: invalid trigger '%s': %s", bad[i][0],
			 err);
		ck_assert_logged(want);
	}
	ck_assert_uint_eq(open_fds(), fds);
	ck_assert_int_eq(pressure_trigger_valid("off", err, sizeof(err)), 0);
	ck_assert_int_eq(pressure_trigger_valid(TRIGGER, err, sizeof(err)), 0);
	ck_assert_int_eq(pressure_trigger_valid("some 100000 1000000", err,
						sizeof(err)), 0);
}
END_TEST

/*
 * The real trigger opens on this machine, on the file the kernel
 * names: the cgroup's, if writing the trigger there works (the test
 * tries it on its own), else the machine's, with the reason logged.
 */
START_TEST(test_real_trigger_opens)
{
	char cand[4096], why[512], cg[65536], mi[65536], line[4400];
	unsigned int fds = open_fds();
	struct pressure *p;
	bool cgroup_takes = false;
	FILE *f;
	size_t n;

	f = fopen("/proc/self/cgroup", "r");
	n = fread(cg, 1, sizeof(cg) - 1, f);
	cg[n] = '\0';
	fclose(f);
	f = fopen("/proc/self/mountinfo", "r");
	n = fread(mi, 1, sizeof(mi) - 1, f);
	mi[n] = '\0';
	fclose(f);
	if (!psi_cgroup_file(cg, mi, "memory.pressure", cand, sizeof(cand),
			     why, sizeof(why))) {
		int fd = open(cand, O_RDWR | O_NONBLOCK | O_CLOEXEC);

		cgroup_takes = fd >= 0 &&
			write(fd, TRIGGER, sizeof(TRIGGER)) == sizeof(TRIGGER);
		if (fd >= 0)
			close(fd);
	}
	ck_assert_int_eq(open_watch(TRIGGER, NULL, &p), 0);
	if (cgroup_takes) {
		ck_assert_str_eq(pressure_source(p), cand);
		snprintf(line, sizeof(line),
			 "memory pressure: watching %s for \"" TRIGGER "\" (the daemon's cgroup)",
			 cand);
	} else {
		ck_assert_str_eq(pressure_source(p), PRESSURE_PROC_FILE);
		snprintf(line, sizeof(line),
			 "memory pressure: watching " PRESSURE_PROC_FILE " for \"" TRIGGER "\", the machine's, since ");
	}
	ck_assert_logged(line);
	ck_assert_str_eq(pressure_trigger_text(p), TRIGGER);
	/* The trigger fd and its epoll set; nothing else, and none after. */
	ck_assert_uint_eq(open_fds(), fds + 2);
	pressure_close(p);
	ck_assert_uint_eq(open_fds(), fds);
	pressure_close(NULL);
}
END_TEST

/*
 * In a cgroup of its own the watch takes that cgroup's file; when the
 * cgroup is removed the kernel reports an error, and the watch ends
 * with one line and no event.
 */
START_TEST(test_own_cgroup_then_removed)
{
	char dir[8192], want[8448];
	struct pressure *p;

	note_home();
	cgtest_make(v2mnt, "own", dir, sizeof(dir));
	cgtest_join(dir, 0);
	/* The kernel gets (and the stats show) the trigger's own text. */
	ck_assert_int_eq(open_watch(" some\t100000   2000000 ", NULL, &p), 0);
	ck_assert_str_eq(pressure_trigger_text(p), TRIGGER);
	snprintf(want, sizeof(want), "%s/memory.pressure", dir);
	ck_assert_str_eq(pressure_source(p), want);
	ck_assert_logged("for \"" TRIGGER "\" (the daemon's cgroup)");

	go_home();
	ck_assert_int_eq(cgtest_remove(dir), 0);
	capture_begin();
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	end_capture();
	snprintf(want, sizeof(want),
		 "memory pressure: %s/memory.pressure reports an error (its cgroup was removed?): no longer watching memory pressure",
		 dir);
	ck_assert_logged(want);
	ck_assert_ptr_null(pressure_source(p));
	ck_assert_str_eq(pressure_trigger_text(p), TRIGGER);
	ck_assert_uint_eq(fired, 0);
	/* Nothing is left to wake the loop. */
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	pressure_close(p);
}
END_TEST

/* A cgroup with pressure off has no memory.pressure: the machine's. */
START_TEST(test_falls_back_when_cgroup_pressure_off)
{
	char dir[8192], want[9000];
	struct pressure *p;

	note_home();
	cgtest_make(v2mnt, "off", dir, sizeof(dir));
	cgtest_write(dir, "cgroup.pressure", "0");
	cgtest_join(dir, 0);
	ck_assert_int_eq(open_watch(TRIGGER, NULL, &p), 0);
	ck_assert_str_eq(pressure_source(p), PRESSURE_PROC_FILE);
	snprintf(want, sizeof(want),
		 "memory pressure: watching " PRESSURE_PROC_FILE " for \"" TRIGGER "\", the machine's, since %s/memory.pressure refused the trigger: No such file or directory (pressure is off for this cgroup",
		 dir);
	ck_assert_logged(want);
	pressure_close(p);
	go_home();
	ck_assert_int_eq(cgtest_remove(dir), 0);
}
END_TEST

/* No cgroup2 mount in this mount namespace: the machine's file. */
START_TEST(test_falls_back_without_cgroup2)
{
	char mnt[4096];
	struct pressure *p;

	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
	cgtest_v2_mount(mnt, sizeof(mnt));
	for (int i = 0; i < 16; i++) {
		ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
		FILE *f = fopen("/proc/self/mountinfo", "r");
		char line[4096];
		bool left = false;

		while (fgets(line, sizeof(line), f))
			left |= strstr(line, " - cgroup2 ") != NULL;
		fclose(f);
		if (!left)
			break;
		cgtest_v2_mount(mnt, sizeof(mnt));
	}
	ck_assert_int_eq(open_watch(TRIGGER, NULL, &p), 0);
	ck_assert_str_eq(pressure_source(p), PRESSURE_PROC_FILE);
	ck_assert_logged("the machine's, since no cgroup2 mount in /proc/self/mountinfo shows the daemon's cgroup");
	pressure_close(p);
}
END_TEST

/* Drop CAP_SYS_RESOURCE from this process's effective set. */
static void drop_sys_resource(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	ck_assert_int_eq(syscall(SYS_capget, &hdr, d), 0);
	d[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective &=
		~CAP_TO_MASK(CAP_SYS_RESOURCE);
	ck_assert_int_eq(syscall(SYS_capset, &hdr, d), 0);
}

/*
 * Without CAP_SYS_RESOURCE the kernel takes only windows that are
 * multiples of 2 s: a 1 s window is refused by both files, with the
 * fix, and nothing stays open.
 */
START_TEST(test_short_window_needs_the_capability)
{
	unsigned int fds = open_fds();
	struct pressure *p;

	drop_sys_resource();
	ck_assert_int_eq(open_watch("some 100000 1000000", NULL, &p), -EINVAL);
	ck_assert_logged("memory pressure: cannot watch " PRESSURE_PROC_FILE " for \"some 100000 1000000\": Invalid argument; without CAP_SYS_RESOURCE the kernel takes only windows that are multiples of 2 s: give --pressure-trigger a window of 2000000 (such as \"some 200000 2000000\")");
	ck_assert_uint_eq(open_fds(), fds);
	/* The same trigger over 2 s opens. */
	ck_assert_int_eq(open_watch("some 100000 2000000", NULL, &p), 0);
	pressure_close(p);
}
END_TEST

/* ---- injected events ---- */

static void put(int fd, const void *buf, size_t len)
{
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

START_TEST(test_inject_once_per_batch)
{
	char dir[256], fifo[300], big[4096];
	struct pressure *p;
	struct stat st;
	int w;

	test_tmpdir(dir, sizeof(dir), "spanheap-pressure");
	snprintf(fifo, sizeof(fifo), "%s/inject", dir);
	ck_assert_int_eq(open_watch("off", fifo, &p), 0);
	ck_assert_ptr_null(pressure_source(p));
	ck_assert_ptr_null(pressure_trigger_text(p));
	ck_assert_int_eq(stat(fifo, &st), 0);
	ck_assert(S_ISFIFO(st.st_mode));
	w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(w, 0);

	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_uint_eq(fired, 0);
	put(w, "x", 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fired, 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_uint_eq(fired, 1);
	/* Five bytes at once, two writes before the loop runs: a batch each. */
	put(w, "abcde", 5);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fired, 2);
	put(w, "y", 1);
	put(w, "z", 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fired, 3);
	/* More than one read of the FIFO takes: still one. */
	memset(big, 'b', sizeof(big));
	put(w, big, sizeof(big));
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fired, 4);
	/* The writer going away is no event, and does not spin. */
	close(w);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_uint_eq(fired, 4);
	pressure_close(p);
	test_tmpdir_remove(dir);
}
END_TEST

/* The FIFO beside the real trigger, on an existing FIFO. */
START_TEST(test_inject_beside_the_trigger)
{
	char dir[256], fifo[300];
	struct pressure *p;
	int w;

	test_tmpdir(dir, sizeof(dir), "spanheap-pressure");
	snprintf(fifo, sizeof(fifo), "%s/inject", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(open_watch(TRIGGER, fifo, &p), 0);
	ck_assert_ptr_nonnull(pressure_source(p));
	w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ck_assert_int_ge(w, 0);
	put(w, "1", 1);
	ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	ck_assert_uint_eq(fired, 1);
	close(w);
	pressure_close(p);
	test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_inject_refused)
{
	char dir[256], path[300];
	unsigned int fds = open_fds();
	struct pressure *p;
	int fd;

	test_tmpdir(dir, sizeof(dir), "spanheap-pressure");
	snprintf(path, sizeof(path), "%s/plain", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(open_watch(TRIGGER, path, &p), -EINVAL);
	ck_assert_logged("is not a FIFO: give --pressure-inject a FIFO's path (mkfifo), or a path that does not exist");
	ck_assert_uint_eq(open_fds(), fds);
	snprintf(path, sizeof(path), "%s/no/such/dir", dir);
	ck_assert_int_eq(open_watch("off", path, &p), -ENOENT);
	ck_assert_logged("memory pressure: cannot make the FIFO");
	ck_assert_logged("No such file or directory");
	ck_assert_uint_eq(open_fds(), fds);
	test_tmpdir_remove(dir);
}
END_TEST

/* ---- a real stall ---- */

/* The stall the test asks for: 50 ms within 2 s, in its own cgroup. */
#define STALL_US 50000
#define STALL_TRIGGER "some 50000 2000000"
#define BIG_FILE (128u << 20)
#define LIMIT "16M"
/* Generous: the kernel fires within a few windows of 2 s each time. */
#define STALL_GIVE_UP_S 90

/* Two events: the watch is armed again after the kernel's first. */
#define STALL_EVENTS 2

static void on_stall(void *ctx)
{
	if (++fired == STALL_EVENTS)
		event_base_loopbreak(ctx);
}

/* A file of BIG_FILE bytes, on disk, out of the page cache; its fd. */
static int big_file(void)
{
	static char buf[1 << 20];
	char path[] = "/var/tmp/spanheap-pressure.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	memset(buf, 0x5a, sizeof(buf));
	for (unsigned int i = 0; i < BIG_FILE / sizeof(buf); i++)
		put(fd, buf, sizeof(buf));
	ck_assert_int_eq(fdatasync(fd), 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	return fd;
}

/* Write "0" (the caller) to @dir's cgroup.procs, in the child: 0 or -1. */
static int child_join(const char *dir)
{
	char procs[8300];
	int c;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	c = open(procs, O_WRONLY | O_CLOEXEC);
	if (c < 0 || write(c, "0", 1) != 1)
		return -1;
	close(c);
	return 0;
}

/* The child: into @v2 and @memcg (if any), then read @fd over and over. */
static void thrash(int fd, const char *v2, const char *memcg, pid_t parent)
{
	static char buf[1 << 20];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	if (child_join(v2) || (memcg[0] && child_join(memcg)))
		_exit(2);
	for (;;)
		for (off_t o = 0; o < BIG_FILE; o += sizeof(buf))
			if (pread(fd, buf, sizeof(buf), o) < 0)
				_exit(3);
}

/* Whether cgroup file @dir/@name lists "memory". */
static bool lists_memory(const char *dir, const char *name)
{
	char path[8448], line[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return strstr(line, "memory") != NULL;
}

/*
 * The child's memory limit: cgroup v1's memory.limit_in_bytes where the
 * machine has that controller (its cgroup in @memcg), else memory.high
 * of its cgroup v2 @t under @dir (@memcg "").
 */
static void limit_child(const char *dir, const char *t, char *memcg,
			size_t len)
{
	char v1[4096];

	if (cgtest_v1_memory_mount(v1, sizeof(v1))) {
		cgtest_make(v1, "stall", memcg, len);
		cgtest_write(memcg, "memory.limit_in_bytes", LIMIT);
		return;
	}
	memcg[0] = '\0';
	ck_assert_msg(lists_memory(v2mnt, "cgroup.controllers"),
		      "no memory controller, in cgroup v1 or v2: the test needs one to limit its child");
	if (!lists_memory(v2mnt, "cgroup.subtree_control"))
		cgtest_write(v2mnt, "cgroup.subtree_control", "+memory");
	cgtest_write(dir, "cgroup.subtree_control", "+memory");
	cgtest_write(t, "memory.high", LIMIT);
}

/*
 * The kernel fires the trigger for a real stall.  The test opens the
 * watch from a cgroup v2 of its own, C, so that only its own tasks'
 * stalls count, then moves to C/w, and a child in C/t reads a file
 * eight times the size of its memory limit (limit_child()), so that
 * every read reclaims; C's pressure counts C/t's.  The kernel fires
 * twice (the second time through the same epoll set, armed again), and
 * its own count of stalled time has passed the trigger's threshold.
 */
START_TEST(test_real_stall_fires)
{
	char dir[8192], w[8448], t[8448], memcg[8192], file[8448];
	struct timeval give_up = { STALL_GIVE_UP_S, 0 };
	struct pressure *p;
	pid_t child, me = getpid();
	int fd, st;

	note_home();
	fd = big_file();
	cgtest_make(v2mnt, "stall", dir, sizeof(dir));
	cgtest_join(dir, 0);
	capture_begin();
	ck_assert_int_eq(pressure_open(base, STALL_TRIGGER, NULL, on_stall,
				       base, &p), 0);
	end_capture();
	snprintf(file, sizeof(file), "%s/memory.pressure", dir);
	ck_assert_str_eq(pressure_source(p), file);
	/* C holds no task now, so that C/t may have a memory controller. */
	cgtest_make(dir, "w", w, sizeof(w));
	cgtest_make(dir, "t", t, sizeof(t));
	cgtest_join(w, 0);
	limit_child(dir, t, memcg, sizeof(memcg));

	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		thrash(fd, t, memcg, me);
	ck_assert_int_eq(event_base_loopexit(base, &give_up), 0);
	ck_assert_int_eq(event_base_dispatch(base), 0);

	kill(child, SIGKILL);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	ck_assert_msg(WIFSIGNALED(st), "the child ended by itself: %d",
		      WEXITSTATUS(st));
	ck_assert_msg(fired == STALL_EVENTS,
		      "%u pressure events of %d within %d s (%s: some total=%llu us)",
		      fired, STALL_EVENTS, STALL_GIVE_UP_S, file,
		      cgtest_some_total(file));
	ck_assert_uint_ge(cgtest_some_total(file), STALL_US);
	pressure_close(p);
	close(fd);
	go_home();
	ck_assert_int_eq(cgtest_remove(t), 0);
	ck_assert_int_eq(cgtest_remove(w), 0);
	ck_assert_int_eq(cgtest_remove(dir), 0);
	if (memcg[0])
		ck_assert_int_eq(cgtest_remove(memcg), 0);
}
END_TEST

static Suite *pressure_suite(void)
{
	Suite *s = suite_create("pressure");
	TCase *tc = tcase_create("trigger");

	tcase_add_unchecked_fixture(tc, runner_setup, runner_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_specs_open_nothing);
	tcase_add_test(tc, test_real_trigger_opens);
	tcase_add_test(tc, test_own_cgroup_then_removed);
	tcase_add_test(tc, test_falls_back_when_cgroup_pressure_off);
	tcase_add_test(tc, test_falls_back_without_cgroup2);
	tcase_add_test(tc, test_short_window_needs_the_capability);
	suite_add_tcase(s, tc);
	tc = tcase_create("inject");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_inject_once_per_batch);
	tcase_add_test(tc, test_inject_beside_the_trigger);
	tcase_add_test(tc, test_inject_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("stall");
	tcase_add_unchecked_fixture(tc, runner_setup, runner_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 2 * STALL_GIVE_UP_S);
	tcase_add_test(tc, test_real_stall_fires);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(pressure_suite)
