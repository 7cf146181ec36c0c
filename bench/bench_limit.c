// SPDX-License-Identifier: MIT
/*
 * Memory-limit benchmark: what an allocation costs when it must first
 * have idle memory released to fit under --memory-limit, against the
 * same allocation on the free path.
 *
 * A daemon with --memory-limit=256M (no magazines: 2 MiB spans always
 * take the socket anyway).  The heap is filled with 1 MiB spans, every
 * page written, then every other one is freed: 128 idle, unreleased
 * holes of 1 MiB, and consumed is at the limit.  Each timed allocation
 * asks for 2 MiB, which fits in no hole, so it needs released pages and
 * waits while the daemon releases two holes (two 1 MiB steps of
 * punch-hole on its loop); it is kept, and written, untimed.  The free
 * path: the same 2 MiB allocation when a freed 2 MiB span is idle, so
 * it is reused at no cost under the limit.  Medians of interleaved
 * trials, unpinned, as users run it; then again with the daemon and
 * this process on CPU 0, where no wake-up crosses CPUs (on this VM that
 * costs 100-350 us, and where the scheduler puts the daemon decides
 * whether the free path costs 5 us or 70).
 *   BENCH alloc_free_path (us), BENCH alloc_at_limit (us)
 *   RATIO alloc_at_limit_vs_free (reported; the at-limit path includes
 *         punching 2 MiB of written memory, which the free path does not)
 * The physical part of that cost: fallocate(PUNCH_HOLE) of 2 MiB just
 * written, in a memfd of this process, in two 1 MiB calls as the daemon
 * makes them:
 *   BENCH raw_punch_2mib (us)
 *   BENCH limit_step_max (us): the longest step of release the daemon's
 *         loop took in both runs (MemStats' limit.step_max_ns); the loop
 *         serves others between steps, so this bounds its stall
 *   RATIO alloc_at_limit_vs_free_plus_punch: what the wait costs beyond
 *         the free path and the punch (the daemon's loop steps, the
 *         retried request); 1.0 would be nothing
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/lib.h"
#include "libclient/spanheap.h"

#define MiB (UINT64_C(1) << 20)
#define PG 4096
#define LIMIT (256 * MiB)
#define HOLES (LIMIT / MiB / 2)
#define TRIALS 5
#define PER_TRIAL (HOLES / 2)

static struct spanheap_span small[LIMIT / MiB];
static struct spanheap_span big[PER_TRIAL];

static void die(const char *what, int r)
{
	bench_warn(what, r);
	exit(1);
}

static void alloc_touched(struct spanheap *h, uint64_t bytes,
			  struct spanheap_span *s)
{
	int r = spanheap_span_alloc(h, bytes / PG, 0, s);

	if (r < 0)
		die("spanheap_span_alloc", r);
	memset(s->ptr, 0x5a, bytes);
}

/* One trial of each; its per-allocation times appended to @lim, @fp. */
static void trial(struct spanheap *h, uint64_t *lim, uint64_t *fp)
{
	size_t i;
	int r;

	/* Consumed at the limit, the idle memory in 1 MiB holes. */
	for (i = 0; i < LIMIT / MiB; i++)
		alloc_touched(h, MiB, &small[i]);
	for (i = 1; i < LIMIT / MiB; i += 2)
		if ((r = spanheap_span_free(h, small[i].off)) < 0)
			die("spanheap_span_free", r);
	for (i = 0; i < PER_TRIAL; i++) {
		uint64_t t0 = bench_now_ns();

		r = spanheap_span_alloc(h, 2 * MiB / PG, 0, &big[i]);
		lim[i] = bench_now_ns() - t0;
		if (r < 0)
			die("allocation at the limit", r);
		memset(big[i].ptr, 0x5a, 2 * MiB);
	}
	/* The free path: the last big span freed and taken again. */
	for (i = 0; i < PER_TRIAL; i++) {
		struct spanheap_span *s = &big[PER_TRIAL - 1];
		uint64_t t0;

		if ((r = spanheap_span_free(h, s->off)) < 0)
			die("spanheap_span_free", r);
		t0 = bench_now_ns();
		r = spanheap_span_alloc(h, 2 * MiB / PG, 0, s);
		fp[i] = bench_now_ns() - t0;
		if (r < 0)
			die("allocation on the free path", r);
	}
	for (i = 0; i < PER_TRIAL; i++)
		if ((r = spanheap_span_free(h, big[i].off)) < 0)
			die("spanheap_span_free", r);
	for (i = 0; i < LIMIT / MiB; i += 2)
		if ((r = spanheap_span_free(h, small[i].off)) < 0)
			die("spanheap_span_free", r);
	/* Back to nothing consumed, for the next trial. */
	if ((r = spanheap_scavenge(h, NULL)) < 0)
		die("spanheap_scavenge", r);
}

/* The median time to punch 2 MiB just written, in 1 MiB calls. */
static uint64_t raw_punch(void)
{
	uint64_t *t = bench_samples_new(TRIALS * PER_TRIAL), m;
	int fd = memfd_create("bench-punch", MFD_CLOEXEC);
	char *p;

	if (!t || fd < 0 || ftruncate(fd, (off_t)(2 * MiB)) < 0)
		die("memfd", -errno);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap", -errno);
	for (size_t i = 0; i < TRIALS * PER_TRIAL; i++) {
		uint64_t t0;

		memset(p, 0x5a, 2 * MiB);
		t0 = bench_now_ns();
		for (uint64_t off = 0; off < 2 * MiB; off += MiB)
			if (fallocate(fd, FALLOC_FL_PUNCH_HOLE |
					  FALLOC_FL_KEEP_SIZE,
				      (off_t)off, (off_t)MiB) < 0)
				die("fallocate", -errno);
		t[i] = bench_now_ns() - t0;
	}
	m = bench_median(t, TRIALS * PER_TRIAL);
	munmap(p, 2 * MiB);
	close(fd);
	free(t);
	return m;
}

/* The daemon's longest step of release on its loop (limit.step_max_ns). */
static uint64_t step_max_ns(struct spanheap *h)
{
	const char *key = "\"step_max_ns\":";
	uint64_t v = 0;
	char *text, *p;
	int r = spanheap_stats_json(h, &text);

	if (r < 0)
		die("spanheap_stats_json", r);
	p = strstr(text, key);
	if (!p)
		die("no limit.step_max_ns in MemStats", -EPROTO);
	v = strtoull(p + strlen(key), NULL, 10);
	free(text);
	return v;
}

/*
 * The trials against a daemon on @cpu (-1: anywhere), this process on
 * it too; the medians of the at-limit and free-path allocations.
 */
static void run(int cpu, uint64_t *lim, uint64_t *fp, uint64_t *ret_lim,
		uint64_t *ret_fp, uint64_t *ret_step)
{
	static const char *const args[] = { "--memory-limit=256M",
					    "--scavenge-after=1h",
					    "--magazine-bytes=0",
					    "--pressure-trigger=off", NULL };
	struct bench_daemon bd;
	struct spanheap *h;
	int r;

	if (bench_pin(cpu) < 0)
		die("pinning", -errno);
	r = bench_daemon_start_args(&bd, cpu, args, &h);
	if (r < 0)
		die("starting the daemon", r);
	for (int t = 0; t < TRIALS; t++)
		trial(h, lim + t * PER_TRIAL, fp + t * PER_TRIAL);
	*ret_step = step_max_ns(h);
	spanheap_close(h);
	if (bench_daemon_stop(&bd) < 0)
		die("stopping the daemon", -EPROTO);
	*ret_lim = bench_median(lim, TRIALS * PER_TRIAL);
	*ret_fp = bench_median(fp, TRIALS * PER_TRIAL);
}

int main(void)
{
	uint64_t *lim = bench_samples_new(TRIALS * PER_TRIAL);
	uint64_t *fp = bench_samples_new(TRIALS * PER_TRIAL);
	uint64_t ml, mf, mp, pl, pf, step, pstep;
	cpu_set_t all;

	if (!lim || !fp || sched_getaffinity(0, sizeof(all), &all) < 0)
		die("samples", -ENOMEM);
	run(-1, lim, fp, &ml, &mf, &step);
	mp = raw_punch();
	run(0, lim, fp, &pl, &pf, &pstep);
	sched_setaffinity(0, sizeof(all), &all);
	printf("BENCH alloc_free_path %.1f us\n", (double)mf / 1e3);
	printf("BENCH alloc_at_limit %.1f us\n", (double)ml / 1e3);
	printf("BENCH raw_punch_2mib %.1f us\n", (double)mp / 1e3);
	printf("RATIO alloc_at_limit_vs_free %.2f\n", (double)ml / (double)mf);
	printf("RATIO alloc_at_limit_vs_free_plus_punch %.2f\n",
	       (double)ml / (double)(mf + mp));
	printf("BENCH limit_step_max %.1f us\n",
	       (double)(step > pstep ? step : pstep) / 1e3);
	printf("BENCH alloc_free_path_pinned %.1f us\n", (double)pf / 1e3);
	printf("BENCH alloc_at_limit_pinned %.1f us\n", (double)pl / 1e3);
	printf("RATIO alloc_at_limit_vs_free_pinned %.2f\n",
	       (double)pl / (double)pf);
	free(lim);
	free(fp);
	return 0;
}
