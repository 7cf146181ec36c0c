/* SPDX-License-Identifier: MIT */
/*
 * Start the real build/spanheapd on a private socket for a test, and stop
 * it.  The binary is $SPANHEAPD (set by the Makefile to the build's own
 * daemon), else build/spanheapd.
 */
#ifndef SPANHEAP_TESTS_DAEMON_H
#define SPANHEAP_TESTS_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

struct test_daemon {
	pid_t pid;
	char dir[64];		/* private temp directory */
	char sock[100];		/* dir/spanheapd.sock */
	char log[128];		/* dir/spanheapd.log: the daemon's stderr */
};

/*
 * Start the daemon with --socket in a fresh temp dir, --arena-size=1G
 * unless @args gives one, and the NULL-terminated @args (may be NULL);
 * wait until it accepts connections.  Aborts the test on failure.
 */
void test_daemon_start(struct test_daemon *t, const char *const *args);

/* SIGTERM it, wait, and check it exited 0; removes the temp dir. */
void test_daemon_stop(struct test_daemon *t);

/* The daemon's exit status after SIGTERM, without checking it. */
int test_daemon_kill(struct test_daemon *t, int sig);

/* Does something accept SOCK_SEQPACKET connections at @path? */
bool test_can_connect(const char *path);

/* Run the daemon binary with @args to completion; returns its exit code. */
int test_daemon_run(const char *const *args, char *out, size_t outlen);

#endif
