// SPDX-License-Identifier: MIT
/*
 * Paced scavenger benchmark: the CPU the paced policy spends releasing a
 * long backlog, against its bound of 1% of one CPU (the target).
 *
 * A daemon in paced mode (--scavenge-policy=paced, ticks of 200 ms, so a
 * peak is forgotten after 3.2 s) serves 1 GiB of 4 MiB spans that this
 * process touches, then frees them all: the goal falls to 0 and the
 * daemon releases the whole GiB, a step at a time.  From the first byte
 * released to the last, the kernel's count of the scavenger thread's CPU
 * (/proc/PID/task/TID/schedstat, the thread named spanheapd-scav) over
 * the wall time is the measure; the whole process's (/proc/PID/stat,
 * the loop's stats requests and GC passes included) is shown beside it,
 * (a GC pass with its heap_check every 400 ms, and this program's stats
 * request every 20 ms), and so is the daemon's own measure, the highest
 * fraction its trace lines report (at most 0.01 by construction).
 * Measured here: 0.0099 of a CPU by the kernel, 0.0100 by the daemon,
 * 1 GiB released in 11-13 s (80-90 MiB/s).
 *   BENCH paced_scavenger_cpu (fraction of one CPU; target <= 0.01)
 *   BENCH paced_scavenger_cpu_self, BENCH paced_daemon_cpu (fractions)
 *   BENCH paced_release_time (s), BENCH paced_release_rate (MiB/s)
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/lib.h"
#include "libclient/spanheap.h"

#define MiB (UINT64_C(1) << 20)
#define SPAN (4 * MiB)
#define TOTAL (UINT64_C(1) << 30)
#define NSPANS (TOTAL / SPAN)
#define PG 4096
/* A hang, not a measure: the release takes about 20 s here. */
#define RELEASE_MAX_S 600
#define POLL_US 20000

/*
 * A top-level figure of MemStats: the JSON is compact and those come
 * before any nested block, so the first "key": is it (no JSON library
 * in the benchmarks).  UINT64_MAX if it cannot be read.
 */
static uint64_t stat_of(struct spanheap *h, const char *key)
{
	uint64_t v = UINT64_MAX;
	char pat[64], *text, *p;

	if (spanheap_stats_json(h, &text))
		return UINT64_MAX;
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(text, pat);
	if (p)
		v = strtoull(p + strlen(pat), NULL, 10);
	free(text);
	return v;
}

/* The daemon's thread named spanheapd-scav: its tid, or -ENOENT. */
static long scav_tid(pid_t pid)
{
	char path[320], comm[32];
	struct dirent *e;
	long tid = -ENOENT;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while (tid < 0 && (e = readdir(d))) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid,
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "spanheapd-scav", 14))
			tid = strtol(e->d_name, NULL, 10);
		fclose(f);
	}
	closedir(d);
	return tid;
}

/* The scavenger thread's CPU time in ns, as the scheduler counts it. */
static uint64_t thread_cpu_ns(pid_t pid, long tid)
{
	unsigned long long ns = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%ld/schedstat", (int)pid,
		 tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

/* The whole daemon's CPU time (utime + stime) in ns. */
static uint64_t process_cpu_ns(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	char path[64], buf[1024], *p;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields 14 and 15, counted after the ')' that ends the name. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* The highest "cpu: N ppm" of the daemon's paced trace lines. */
static uint64_t self_max_ppm(const char *log)
{
	unsigned long long ppm, max = 0;
	char line[512], *p;
	FILE *f = fopen(log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, ": paced: ") && (p = strstr(line, "cpu: ")) &&
		    sscanf(p, "cpu: %llu ppm", &ppm) == 1 && ppm > max)
			max = ppm;
	fclose(f);
	return max;
}

static int fail(struct bench_daemon *bd, const char *what, int r)
{
	bench_warn(what, r);
	bench_daemon_stop(bd);
	return 1;
}

int main(void)
{
	static const char *const args[] = {
		"--scavenge-policy=paced", "--gc-after=400ms", "--trace", NULL,
	};
	static uint64_t offs[NSPANS];
	uint64_t rel0, t0 = 0, t1, c0 = 0, c1, p0 = 0, p1, wall, ppm;
	struct bench_daemon bd;
	struct spanheap *h;
	long tid;
	int r;

	/* Every span through the socket: in use is what we hold. */
	setenv(SPANHEAP_MAGAZINE_ENV, "0", 1);
	r = bench_daemon_start_args(&bd, -1, args, &h);
	if (r < 0)
		return bench_warn("cannot start the daemon", r), 1;
	tid = scav_tid(bd.pid);
	if (tid < 0)
		return fail(&bd, "no thread spanheapd-scav", (int)tid);
	for (uint64_t i = 0; i < NSPANS; i++) {
		struct spanheap_span s;

		r = spanheap_span_alloc(h, SPAN / PG, 0, &s);
		if (r < 0)
			return fail(&bd, "alloc", r);
		for (uint64_t p = 0; p < SPAN; p += PG)
			((volatile char *)s.ptr)[p] = 1;
		offs[i] = s.off;
	}
	rel0 = stat_of(h, "heap_released");
	r = spanheap_span_free_batch(h, offs, NSPANS);
	if (r < 0)
		return fail(&bd, "free", r);
	/* The release begins once the peak has left the window. */
	for (int i = 0; i < RELEASE_MAX_S * 1000000 / POLL_US; i++) {
		uint64_t rel = stat_of(h, "heap_released");

		if (!t0 && rel != UINT64_MAX && rel > rel0) {
			t0 = bench_now_ns();
			c0 = thread_cpu_ns(bd.pid, tid);
			p0 = process_cpu_ns(bd.pid);
		}
		if (t0 && stat_of(h, "consumed") == 0)
			break;
		usleep(POLL_US);
	}
	t1 = bench_now_ns();
	c1 = thread_cpu_ns(bd.pid, tid);
	p1 = process_cpu_ns(bd.pid);
	if (!t0 || stat_of(h, "consumed") != 0)
		return fail(&bd, "the release did not end", -ETIMEDOUT);
	/* One more tick's trace line, then the daemon's own figure. */
	usleep(500000);
	ppm = self_max_ppm(bd.log);
	spanheap_close(h);
	if (bench_daemon_stop(&bd) < 0)
		return 1;
	wall = t1 - t0;
	printf("BENCH paced_scavenger_cpu %.5f ratio\n",
	       (double)(c1 - c0) / (double)wall);
	printf("BENCH paced_scavenger_cpu_self %.5f ratio\n", (double)ppm / 1e6);
	printf("BENCH paced_daemon_cpu %.5f ratio\n",
	       (double)(p1 - p0) / (double)wall);
	printf("BENCH paced_release_time %.1f s\n", (double)wall / 1e9);
	printf("BENCH paced_release_rate %.1f MiB/s\n",
	       (double)TOTAL / (double)MiB / ((double)wall / 1e9));
	return 0;
}
