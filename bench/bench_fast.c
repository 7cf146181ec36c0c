// SPDX-License-Identifier: MIT
/*
 * Small-span benchmark (issue 11): what a 1-page spanheap_span_alloc()
 * plus spanheap_span_free() costs a client, held against the round trip
 * that the magazines exist to avoid, against an in-process shared-memory
 * allocator, and under 8 processes at once.
 *
 * What is measured, all in one run and unpinned (see Placement):
 *
 *   span_fast_alloc_free: ns per 1-page alloc+free pair through
 *     libspanclient, as users call it, on build/spanheapd ($SPANHEAPD if
 *     set) on a socket in a private temp dir.  With the per-client
 *     magazines a pair is a pop and a push in shared memory, no system
 *     call; without them it is two round trips.  The first byte of
 *     every span is written (a pattern), so its page is real.
 *   rtt_raw_seqpacket_unpinned: the median of single raw round trips of
 *     SPAN_ALLOC and reply sizes between two processes on a
 *     SOCK_SEQPACKET socketpair (bench/lib.c, as bench_rtt), the least
 *     any request to the daemon can cost.  span_fast_vs_raw_rtt holds a
 *     whole pair against one round trip: the target, <= 0.01, says the
 *     common path makes no round trip at all; the socket path makes two
 *     (2.1 to 6 raw round trips measured, with the daemon's work and
 *     whatever else ran).
 *   boost_ipc_alloc_free: ns per allocate(4096) + first-byte write +
 *     deallocate() of Boost.Interprocess's managed_shared_memory on a
 *     segment in /dev/shm (bench/boost_ipc.cc), the cost of the
 *     in-process shared-memory allocators users would otherwise pick.
 *     Target of span_fast_vs_boost_ipc: <= 1.0.
 *   span_fast_8proc_ops: 8 forked clients, each with its own
 *     connection, released together from a barrier (a pipe whose write
 *     end closes), each looping 1-page alloc+free pairs until the parent
 *     raises a flag in shared memory 1 s later; the aggregate pairs
 *     (one op = one pair) per second of that window.
 *     span_socket_8proc_ops is the same with SPANHEAP_MAGAZINE=0 in the
 *     children's environment before they connect: no magazine, every
 *     span through the socket, which the daemon serialises.  Target of
 *     span_fast_8proc_vs_socket: >= 10.
 *
 * Method.  A fast pair takes tens of ns, about what reading the clock
 * does, so pairs are not timed one by one (bench_rtt does that for the
 * round trips): a run of many pairs is timed as a whole with
 * CLOCK_MONOTONIC and gives ns per pair; the count of a run is found by
 * doubling until a run takes CALIB_NS, then scaled so that a run takes
 * about RUN_NS (a few hundred pairs through the socket, millions through
 * a magazine); the figure is the median of RUNS runs, so a preempted run
 * or a daemon tick does not move it.  The raw round trip is the median
 * of RAW_ROUNDS trips timed alone.  The whole bench takes well under
 * 30 s.
 *
 * SPANHEAP_MAGAZINE is removed from this process's environment first,
 * so span_fast_* is the library's default path whatever the caller's
 * environment says; only the socket children set it.
 *
 * Placement.  Nothing is pinned: the scheduler places the client, the
 * daemon and the raw peer as it places users' programs, mostly on
 * different CPUs, where a round trip wakes an idle vCPU (an exit to the
 * host on a VM).  Pinned, every process on one CPU (taskset -c 0 for the
 * whole bench), a round trip is two context switches instead.  Measured
 * once on this 2-vCPU VM before the magazines existed (socket path
 * only), pinned against unpinned: a raw round trip 2.9 us against
 * 70-84 us; a span pair 9.2 us against 177-180 us; 8 processes 100k
 * against 80-84k pairs/s (on 2 CPUs the daemon is woken across CPUs
 * more often); Boost 104 ns either way.  Unpinned figures also depend
 * on what else runs: with the other CPU busy (load 4) the scheduler kept
 * both ends on one CPU and the unpinned raw round trip was 2.8 us, the
 * pair 11-17 us; hence the raw round trip in the same run, under the
 * same conditions, for the ratio.  Pinning flatters the socket
 * path by more than an order of magnitude for one client, which is why
 * bench_rtt pins (it measures what the daemon adds) and this bench does
 * not (it measures what users see).  A pair that makes no round trip
 * should not care where it runs.
 *
 * Failures.  Every call's return is checked, in this process and in
 * every child; any failure (a child's exit status included) makes the
 * bench exit 1, as the daemon not exiting 0 on SIGTERM does.  Only the
 * BENCH and RATIO lines go to stdout, at the end; the rest to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/boost_ipc.h"
#include "bench/lib.h"
#include "libclient/spanheap.h"
#include "proto/proto.h"

/* The library reads it at spanheap_connect*(): "0", no magazine. */
#define MAGAZINE_ENV "SPANHEAP_MAGAZINE"
#define RAW_WARMUP 2000
#define RAW_ROUNDS 20000
#define RUNS 11			/* timed runs of pairs: the median's */
#define CALIB_NS 10000000u	/* 10 ms: a run this long sets the count */
#define RUN_NS 100000000u	/* 100 ms: how long a timed run should take */
#define NPROC 8			/* clients of the 8-process figures */
#define PROC_WARMUP 64		/* pairs each child makes before the barrier */
#define PROC_NS 1000000000u	/* 1 s: the window of the 8-process figures */
#define BOOST_SEGMENT (1u << 20)	/* bytes of the Boost segment */
#define BOOST_ALLOC 4096	/* bytes per allocate(): one page */
#define PATTERN 0xa5		/* written to each span's first byte */

/* Every figure of one run. */
struct fast_results {
	uint64_t raw;		/* rtt_raw_seqpacket_unpinned, ns */
	double fast;		/* span_fast_alloc_free, ns per pair */
	double boost;		/* boost_ipc_alloc_free, ns per pair */
	double fast_ops;	/* span_fast_8proc_ops, pairs/s */
	double socket_ops;	/* span_socket_8proc_ops, pairs/s */
};

/*
 * What the parent and the 8 children share, in a MAP_SHARED mapping:
 * stop is raised by the parent once (release) and read by the children
 * (relaxed: it only ends a loop); each child writes its own pairs[i]
 * before it exits, which the parent reads after reaping it.
 */
struct procs_shared {
	atomic_uint stop;
	uint64_t pairs[NPROC];
};

/*
 * One 1-page alloc, a write of @pattern to its first byte, and its free.
 * Return: 0, what the library returned, or -EBADMSG for a span without
 * a page.
 */
static int span_pair(struct spanheap *h, unsigned char pattern)
{
	struct spanheap_span s;
	int r;

	r = spanheap_span_alloc(h, 1, 0, &s);
	if (r < 0)
		return r;
	if (!s.ptr || s.npages < 1) {
		spanheap_span_free(h, s.off);
		return -EBADMSG;
	}
	*(volatile unsigned char *)s.ptr = pattern;
	return spanheap_span_free(h, s.off);
}

/* A run of @n span pairs on the connection @ctx. */
static int span_pairs(void *ctx, uint64_t n)
{
	int r = 0;

	for (uint64_t i = 0; i < n && !r; i++)
		r = span_pair(ctx, (unsigned char)(PATTERN ^ i));
	return r;
}

/* A run of @n Boost pairs on the segment @ctx. */
static int boost_pairs(void *ctx, uint64_t n)
{
	return boost_ipc_pairs(ctx, n, BOOST_ALLOC, PATTERN);
}

/* Run @run(@ctx, @n) and time it; its ns in @ret, written on success. */
static int time_run(int (*run)(void *ctx, uint64_t n), void *ctx,
		    uint64_t n, uint64_t *ret)
{
	uint64_t t0 = bench_now_ns();
	int r = run(ctx, n);

	if (r == 0)
		*ret = bench_now_ns() - t0;
	return r;
}

/*
 * The median over RUNS runs of @run of ns per pair, in @ret; each run's
 * count is set first (see the top of the file), which warms it up.
 */
static int pairs_median(int (*run)(void *ctx, uint64_t n), void *ctx,
			double *ret)
{
	uint64_t ps[RUNS];	/* ps per pair, a run each */
	uint64_t n = 1, t = 0;
	int r;

	for (;;) {
		r = time_run(run, ctx, n, &t);
		if (r < 0)
			return r;
		if (t >= CALIB_NS)
			break;
		n *= 2;
	}
	n = n * RUN_NS / t;
	if (n == 0)
		n = 1;
	for (int i = 0; i < RUNS; i++) {
		r = time_run(run, ctx, n, &t);
		if (r < 0)
			return r;
		ps[i] = t * 1000 / n;
	}
	*ret = (double)bench_median(ps, RUNS) / 1000;
	return 0;
}

/* boost_ipc_alloc_free: a segment of its own, measured and removed. */
static int bench_boost(double *ret)
{
	struct boost_ipc *b;
	int r, rc;

	r = boost_ipc_open(BOOST_SEGMENT, &b);
	if (r < 0)
		return r;
	r = pairs_median(boost_pairs, b, ret);
	rc = boost_ipc_close(b);
	return r < 0 ? r : rc;
}

/*
 * One client of the 8-process figures: connect (through the socket alone
 * if @socket_only), warm up, pass the barrier, then pairs until the
 * parent says stop.  Exits 0, or 1 after saying why.
 */
static void __attribute__((noreturn))
proc_child(const char *sock, bool socket_only, struct procs_shared *sh,
	   int i, int ready_fd, int go_fd)
{
	struct spanheap *h;
	uint64_t n = 0;
	char c;
	int r;

	if (socket_only && setenv(MAGAZINE_ENV, "0", 1) < 0) {
		bench_warn("setenv " MAGAZINE_ENV, -errno);
		_exit(1);
	}
	r = spanheap_connect(sock, &h);
	if (r < 0) {
		bench_warn("a child's connection", r);
		_exit(1);
	}
	r = span_pairs(h, PROC_WARMUP);
	if (r == 0 && write(ready_fd, "r", 1) != 1)
		r = -errno;
	close(ready_fd);
	/* The barrier: every child wakes when the parent closes go. */
	if (r == 0 && read(go_fd, &c, 1) != 0)
		r = -EPROTO;
	while (r == 0 && !atomic_load_explicit(&sh->stop, memory_order_relaxed))
		r = span_pair(h, (unsigned char)(PATTERN ^ n++));
	if (r < 0) {
		bench_warn(socket_only ? "a socket child's pair" :
			   "a child's pair", r);
		_exit(1);
	}
	sh->pairs[i] = n;
	spanheap_close(h);
	_exit(0);
}

/* Sleep @ns, through signals. */
static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000u),
		.tv_nsec = (long)(ns % 1000000000u),
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Reap @n children of @pids.  Return: 0 if every one exited 0, else
 * -ECHILD (and how many did not, to stderr), or -errno.
 */
static int reap(const pid_t *pids, int n)
{
	int failed = 0, status;

	for (int i = 0; i < n; i++) {
		while (waitpid(pids[i], &status, 0) < 0) {
			if (errno != EINTR)
				return -errno;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	if (failed)
		fprintf(stderr, "%s: %d of %d clients failed, as said above\n",
			program_invocation_short_name, failed, n);
	return failed ? -ECHILD : 0;
}

/*
 * span_fast_8proc_ops, or span_socket_8proc_ops if @socket_only: NPROC
 * clients on the daemon at @sock for PROC_NS; pairs/s in @ret.
 */
static int bench_procs(const char *sock, bool socket_only, double *ret)
{
	struct procs_shared *sh;
	pid_t pids[NPROC];
	int ready[2], go[2], nproc = 0, nready = 0, r = 0, rc;
	uint64_t t0, t1, pairs = 0;
	char c;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return -errno;
	atomic_init(&sh->stop, 0);
	if (pipe2(ready, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_unmap;
	}
	if (pipe2(go, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_close_ready;
	}
	fflush(NULL);
	for (; nproc < NPROC; nproc++) {
		pids[nproc] = fork();
		if (pids[nproc] < 0) {
			r = -errno;
			break;
		}
		if (pids[nproc] == 0) {
			close(ready[0]);
			close(go[1]);
			proc_child(sock, socket_only, sh, nproc, ready[1],
				   go[0]);
		}
	}
	/* Only the children hold ready's write end: EOF once all wrote. */
	close(ready[1]);
	ready[1] = -1;
	while (r == 0 && nready < nproc) {
		ssize_t n = read(ready[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			break;
		nready++;
	}
	t0 = bench_now_ns();
	close(go[1]);
	if (r == 0 && nready == NPROC)
		sleep_ns(PROC_NS);
	atomic_store_explicit(&sh->stop, 1, memory_order_release);
	t1 = bench_now_ns();
	close(go[0]);
	rc = reap(pids, nproc);
	if (r == 0)
		r = rc;
	if (r == 0 && nready != NPROC)
		r = -ECHILD;
	if (r == 0) {
		for (int i = 0; i < NPROC; i++)
			pairs += sh->pairs[i];
		*ret = (double)pairs * 1e9 / (double)(t1 - t0);
	}
out_close_ready:
	close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
out_unmap:
	munmap(sh, sizeof(*sh));
	return r;
}

/* Print @what's error; return: 1, the exit code. */
static int fail(const char *what, int r)
{
	bench_warn(what, r);
	return 1;
}

/* Every figure measured through the daemon at @bd, on @h, into @res. */
static int bench_daemon(const struct bench_daemon *bd, struct spanheap *h,
			struct fast_results *res)
{
	int r;

	r = pairs_median(span_pairs, h, &res->fast);
	if (r < 0)
		return bench_warn("span alloc+free pairs", r);
	r = bench_procs(bd->sock, false, &res->fast_ops);
	if (r < 0)
		return bench_warn("8 clients", r);
	r = bench_procs(bd->sock, true, &res->socket_ops);
	if (r < 0)
		return bench_warn("8 clients through the socket", r);
	return 0;
}

static void print_results(const struct fast_results *res)
{
	printf("BENCH span_fast_alloc_free %.1f ns\n", res->fast);
	printf("BENCH rtt_raw_seqpacket_unpinned %llu ns\n",
	       (unsigned long long)res->raw);
	printf("RATIO span_fast_vs_raw_rtt %.4f\n",
	       res->fast / (double)res->raw);
	printf("BENCH boost_ipc_alloc_free %.1f ns\n", res->boost);
	printf("RATIO span_fast_vs_boost_ipc %.3f\n", res->fast / res->boost);
	printf("BENCH span_fast_8proc_ops %.0f ops/s\n", res->fast_ops);
	printf("BENCH span_socket_8proc_ops %.0f ops/s\n", res->socket_ops);
	printf("RATIO span_fast_8proc_vs_socket %.3f\n",
	       res->fast_ops / res->socket_ops);
}

int main(void)
{
	const struct bench_raw_msg span_msg = {
		sizeof(struct proto_alloc), proto_alloc_reply_size(1)
	};
	struct fast_results res;
	struct bench_daemon bd;
	struct spanheap *h;
	int r, stop;

	memset(&res, 0, sizeof(res));
	if (unsetenv(MAGAZINE_ENV) < 0)
		return fail("unsetenv " MAGAZINE_ENV, -errno);
	r = bench_raw_rtt(&span_msg, -1, RAW_WARMUP, RAW_ROUNDS, &res.raw);
	if (r < 0)
		return fail("raw seqpacket round trips", r);
	r = bench_boost(&res.boost);
	if (r < 0)
		return fail("Boost.Interprocess allocate+deallocate", r);
	r = bench_daemon_start(&bd, -1, &h);
	if (r < 0)
		return fail("starting spanheapd", r);
	r = bench_daemon(&bd, h, &res);
	/* Close first: the daemon then has no client left to clean up. */
	spanheap_close(h);
	stop = bench_daemon_stop(&bd);
	if (r < 0)
		return 1;
	if (stop < 0)
		return fail("stopping spanheapd", stop);
	print_results(&res);
	return 0;
}
