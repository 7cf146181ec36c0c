/* SPDX-License-Identifier: MIT */
/*
 * What the benchmarks that talk to a real daemon share: the clock and
 * medians, placement, the raw SOCK_SEQPACKET round trip that is the
 * physical limit of one request, and build/spanheapd started on a
 * private temp dir and stopped with SIGTERM.
 *
 * Messages go to stderr, prefixed with the program's name; nothing here
 * writes to stdout, which carries only BENCH and RATIO lines.
 */
#ifndef SPANHEAP_BENCH_LIB_H
#define SPANHEAP_BENCH_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct spanheap;

/** bench_now_ns() - CLOCK_MONOTONIC in ns (vDSO: no system call). */
uint64_t bench_now_ns(void);

/** bench_pin() - pin the calling process to @cpu; -1 leaves it alone. */
int bench_pin(int cpu);

/** bench_median() - the median of @n samples; sorts them. */
uint64_t bench_median(uint64_t *v, size_t n);

/** bench_samples_new() - @n samples, faulted in before any is timed. */
uint64_t *bench_samples_new(size_t n);

/**
 * bench_time_median() - run @step @warmup + @rounds times, each timed
 * alone, stopping at the first error.
 * @ret: the median of the last @rounds in ns, written only on success.
 *
 * Return: 0, or what @step returned (-errno), or -ENOMEM.
 */
int bench_time_median(int (*step)(void *ctx), void *ctx, int warmup,
		      int rounds, uint64_t *ret);

/* The sizes of a raw round trip: a request and its reply. */
struct bench_raw_msg {
	size_t req;
	size_t rep;
};

#define BENCH_RAW_MAX 512	/* bytes of a raw request or reply, at most */

/**
 * bench_raw_rtt() - the median raw round trip of @m's sizes between
 * this process and a forked peer on a SOCK_SEQPACKET socketpair, both
 * blocking in send and recv; nothing is parsed, nothing allocated.
 * @server_cpu: the peer's CPU, or -1 for the scheduler's choice.
 * @ret: the median in ns, written only on success.
 *
 * Return: 0; -EMSGSIZE if @m is larger than BENCH_RAW_MAX; -EBADMSG for
 * a short datagram; -EPROTO if the peer failed; or another -errno.
 */
int bench_raw_rtt(const struct bench_raw_msg *m, int server_cpu, int warmup,
		  int rounds, uint64_t *ret);

/* A daemon started by bench_daemon_start(). */
struct bench_daemon {
	pid_t pid;		/* 0 once reaped */
	char dir[64];		/* private temp directory */
	char sock[96];		/* dir/s.sock */
	char lock[104];		/* dir/s.sock.lock: the daemon's, left behind */
	char log[96];		/* dir/spanheapd.log: the daemon's output */
};

/** bench_daemon_bin() - $SPANHEAPD if set, else build/spanheapd. */
const char *bench_daemon_bin(void);

/**
 * bench_daemon_start() - start the daemon with --arena-size=4G on a
 * fresh temp dir, on @cpu unless -1, and connect to it, retrying for up
 * to 10 s while its socket does not exist or does not listen yet.
 * @ret: the connection, written only on success.
 *
 * On failure the daemon's log goes to stderr and nothing is left behind.
 * Return: 0; -ECHILD if the daemon exited; what spanheap_connect()
 * returned last; or another -errno.
 */
int bench_daemon_start(struct bench_daemon *bd, int cpu,
		       struct spanheap **ret);

/* Arguments bench_daemon_start_args() passes on, at most. */
#define BENCH_DAEMON_ARGS_MAX 16

/**
 * bench_daemon_start_args() - bench_daemon_start() with the daemon's
 * further arguments @args (NULL-terminated; a later --arena-size wins).
 */
int bench_daemon_start_args(struct bench_daemon *bd, int cpu,
			    const char *const *args, struct spanheap **ret);

/**
 * bench_daemon_stop() - SIGTERM the daemon, reap it and remove its temp
 * dir.
 *
 * Return: 0 if it exited 0, else -EPROTO (and its log goes to stderr).
 */
int bench_daemon_stop(struct bench_daemon *bd);

/** bench_warn() - print @what and @r's cause to stderr; return: @r. */
int bench_warn(const char *what, int r);

#endif /* SPANHEAP_BENCH_LIB_H */
