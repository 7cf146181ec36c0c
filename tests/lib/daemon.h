/* SPDX-License-Identifier: MIT */
/*
 * Start the real build/spanheapd on a private socket for a test, and stop
 * it.  The binary is $SPANHEAPD (set by the Makefile to the build's own
 * daemon), else build/spanheapd.
 */
#ifndef SPANHEAP_TESTS_DAEMON_H
#define SPANHEAP_TESTS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The daemon binary: $SPANHEAPD, else build/spanheapd. */
const char *test_daemon_bin(void);

/*
 * test_socket_only() - connections this process (and its children)
 * makes from now on get no magazine: for suites that assert the socket
 * path's exact accounting (every span in use is one the test holds);
 * magazines, which cache spans in use ahead of need, have theirs in
 * tests/e2e/test_magazine*.c.
 */
void test_socket_only(void);

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

/* What test_daemon_start_opts() sets up besides the arguments. */
struct test_daemon_opts {
	/*
	 * RLIMIT_NOFILE, both soft and hard (the daemon raises its soft
	 * limit to the hard one); 0 leaves the limit as it is.
	 */
	unsigned int nofile;
	/* Run as this uid and its group (0: as we are), e.g. nobody's. */
	uid_t uid;
	/* RLIMIT_AS in bytes, soft and hard; 0 leaves it as it is. */
	unsigned long long as_bytes;
};

/* test_daemon_start(), with @opts (may be NULL). */
void test_daemon_start_opts(struct test_daemon *t, const char *const *args,
			    const struct test_daemon_opts *opts);

/* SIGTERM it, wait, and check it exited 0; removes the temp dir. */
void test_daemon_stop(struct test_daemon *t);

/* The daemon's exit status after SIGTERM, without checking it. */
int test_daemon_kill(struct test_daemon *t, int sig);

/* Does something accept SOCK_SEQPACKET connections at @path? */
bool test_can_connect(const char *path);

/* The lines (newlines) in the file at @path, such as a daemon's log. */
unsigned int test_file_lines(const char *path);

/* The CPU time process @pid has used (utime + stime), in clock ticks. */
unsigned long long test_cpu_ticks(pid_t pid);

/* Field @key ("VmRSS", "RssShmem", "VmSize"...) of /proc/PID/status, in bytes. */
uint64_t test_proc_status(pid_t pid, const char *key);

/* The arena memfd this process received from the daemon (in /proc/self/fd). */
int test_arena_fd(void);

/* What the kernel says the arena holds: its memfd's st_blocks, in bytes. */
uint64_t test_arena_resident(void);

/* Run the daemon binary with @args to completion; returns its exit code. */
int test_daemon_run(const char *const *args, char *out, size_t outlen);

/* test_daemon_run() with @opts (may be NULL). */
int test_daemon_run_opts(const char *const *args,
			 const struct test_daemon_opts *opts, char *out,
			 size_t outlen);

#endif
