/* SPDX-License-Identifier: MIT */
/*
 * Real cgroups for the pressure tests (test_pressure.c, test_psi.c):
 * the cgroup2 mount, a private cgroup v2 under its root, and the cgroup
 * v1 memory controller where the machine has one.  The tests run as
 * root; every cgroup made is named after the test runner's pid, so
 * that two suites at once never meet, and cgtest_cleanup() removes
 * what a failed test left.
 */
#ifndef SPANHEAP_TESTS_DAEMON_CGTEST_H
#define SPANHEAP_TESTS_DAEMON_CGTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Name the cgroups after the calling process: call it in the runner (an
 * unchecked fixture), before the tests fork.
 */
void cgtest_init(void);

/* Where cgroup2 is mounted (mounted at its root), in @buf; aborts if none. */
void cgtest_v2_mount(char *buf, size_t len);

/*
 * Where the cgroup v1 memory controller is mounted, in @buf: true, or
 * false if the machine has none (then cgroup v2 has it, if any).
 */
bool cgtest_v1_memory_mount(char *buf, size_t len);

/*
 * Make cgroup "spanheap-test-PID-@what" under @parent (a cgroup
 * directory) and write its path into @buf.  Aborts the test on failure.
 */
void cgtest_make(const char *parent, const char *what, char *buf, size_t len);

/* Write @text to file @name of cgroup @dir; aborts the test on failure. */
void cgtest_write(const char *dir, const char *name, const char *text);

/* Move process @pid (0: the caller) into cgroup @dir. */
void cgtest_join(const char *dir, pid_t pid);

/*
 * Remove cgroup @dir, waiting a little for its last tasks to exit:
 * 0 or -errno.
 */
int cgtest_remove(const char *dir);

/*
 * Remove every cgroup cgtest_make() may have made for @what under the
 * cgroup2 mount and the v1 memory mount, and the test cgroups under
 * them, first killing their tasks (an
 * unchecked teardown: it runs in the runner after a failed test).
 */
void cgtest_cleanup(const char *what);

/* The value of "some ... total=N" (us) in pressure file @path; aborts if none. */
unsigned long long cgtest_some_total(const char *path);

#endif
