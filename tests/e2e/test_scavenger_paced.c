// SPDX-License-Identifier: MIT
/*
 * The paced scavenger end to end (--scavenge-policy=paced): the real
 * daemon, with a short --gc-after so that its ticks (100 ms) move the
 * peak window (16 ticks) quickly, gives back what its clients freed down
 * to the goal, the recent peak of in-use memory plus the headroom, as
 * its stats and the kernel (st_blocks of the arena memfd) say; and its
 * own measure of its CPU, in its trace lines, stays within the pacing's
 * bound.  That bound is a promise of the pacing, not a timing threshold:
 * no paced work starts before 100 times the last piece's cost (the
 * larger of its wall and CPU time) after that piece began, so what the
 * scavenger measures can never be above 1/100, however slow or busy the
 * machine.
 *
 * Connections here get no magazine, so that in-use memory is exactly
 * what the test holds and the peak does not move while it waits.
 */
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define PG 4096
#define SPAN (4 * MiB)
/* The most a paced step releases (SCAV_PACED_STEP_MAX_PAGES). */
#define STEP (1024 * PG)
/* The most the pacing lets the scavenger measure, in ppm. */
#define BOUND_PPM 10000
/* In debug builds every heap call walks the heap: less to release. */
#ifdef SPANHEAP_DEBUG
#define TOUCHED (64 * MiB)
#else
#define TOUCHED (256 * MiB)
#endif
#define KEPT (TOUCHED / 8)

static struct test_daemon td;

static void start(const char *headroom)
{
	const char *args[] = {
		"--arena-size=2G", "--scavenge-policy=paced", "--gc-after=200ms",
		"--trace", headroom, NULL,
	};

	test_daemon_start(&td, args);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static uint64_t stat_of(struct spanheap *h, const char *key)
{
	json_t *root;
	uint64_t v;
	char *text;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	v = (uint64_t)json_integer_value(json_object_get(root, key));
	json_decref(root);
	return v;
}

/* Allocate @n spans of 4 MiB, touch every page, offsets in @offs. */
static void alloc_touched(struct spanheap *h, int n, uint64_t *offs)
{
	for (int i = 0; i < n; i++) {
		struct spanheap_span s;

		if (spanheap_span_alloc(h, SPAN / PG, 0, &s))
			ck_abort_msg("alloc %d", i);
		for (size_t p = 0; p < SPAN; p += PG)
			((volatile char *)s.ptr)[p] = 1;
		offs[i] = s.off;
	}
}

/* What the daemon's trace lines say of the paced policy. */
struct paced_trace {
	unsigned int lines;
	uint64_t max_ppm;
	uint64_t steps;		/* the last line's */
	uint64_t goal_mb;	/* the last line's */
};

static struct paced_trace read_trace(void)
{
	struct paced_trace t = { 0 };
	FILE *f = fopen(td.log, "r");
	regmatch_t m[4];
	char line[512];
	regex_t re;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(regcomp(&re,
				 "^scvg[0-9]+: paced: goal: ([0-9]+), peak: [0-9]+, "
				 "retained: [0-9]+ \\(MB\\), steps: ([0-9]+), "
				 "cpu: ([0-9]+) ppm$",
				 REG_EXTENDED),
			 0);
	while (fgets(line, sizeof(line), f)) {
		uint64_t ppm;

		line[strcspn(line, "\n")] = 0;
		if (regexec(&re, line, 4, m, 0))
			continue;
		t.lines++;
		t.goal_mb = strtoull(line + m[1].rm_so, NULL, 10);
		t.steps = strtoull(line + m[2].rm_so, NULL, 10);
		ppm = strtoull(line + m[3].rm_so, NULL, 10);
		if (ppm > t.max_ppm)
			t.max_ppm = ppm;
	}
	regfree(&re);
	fclose(f);
	return t;
}

/* Wait (up to @s seconds: a hang, not a threshold) for @n more lines. */
static struct paced_trace wait_lines(unsigned int n, int s)
{
	unsigned int from = read_trace().lines;
	struct paced_trace t;

	for (int i = 0; i < s * 50; i++) {
		t = read_trace();
		if (t.lines >= from + n)
			return t;
		usleep(20000);
	}
	ck_abort_msg("no %u more paced trace lines in %d s", n, s);
	return t;
}

/* consumed (sys - released) within the goal for @inuse: in [lo, hi]. */
static bool converged(struct spanheap *h, uint64_t inuse)
{
	uint64_t consumed = stat_of(h, "consumed");

	ck_assert_uint_eq(stat_of(h, "heap_inuse"), inuse);
	ck_assert_uint_ge(consumed, inuse);
	return consumed <= inuse * 110 / 100 + STEP;
}

START_TEST(test_converges_to_peak_plus_headroom)
{
	static uint64_t offs[TOUCHED / SPAN];
	int n = (int)(TOUCHED / SPAN), keep = (int)(KEPT / SPAN);
	uint64_t consumed, limit = KEPT * 110 / 100 + STEP, rel0;
	struct paced_trace t;
	struct spanheap *h;
	int i;

	start("--scavenge-headroom=10");
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	alloc_touched(h, n, offs);
	ck_assert_uint_ge(test_arena_resident(), TOUCHED);
	/* At the peak nothing goes: the goal is 110% of it. */
	wait_lines(3, 30);
	ck_assert_uint_ge(stat_of(h, "consumed"), TOUCHED);
	rel0 = stat_of(h, "heap_released");
	ck_assert_int_eq(spanheap_span_free_batch(h, offs + keep,
						  (size_t)(n - keep)),
			 0);
	/* Once the peak is 16 ticks old, the rest goes, a step at a time. */
	for (i = 0; i < 600 * 50 && !converged(h, KEPT); i++)
		usleep(20000);
	ck_assert_msg(converged(h, KEPT), "consumed %llu, in use %llu",
		      (unsigned long long)stat_of(h, "consumed"),
		      (unsigned long long)KEPT);
	consumed = stat_of(h, "consumed");
	/* The headroom stays: never below the goal (whole pages). */
	ck_assert_uint_ge(consumed + PG, KEPT * 110 / 100);
	ck_assert_uint_ge(stat_of(h, "heap_released"),
			  rel0 + TOUCHED - limit);
	/* The kernel agrees: the daemon's figure and ours. */
	ck_assert_uint_le(stat_of(h, "arena_resident"), limit);
	ck_assert_uint_le(test_arena_resident(), limit);
	ck_assert_uint_ge(test_arena_resident(), KEPT);
	/* The pacing's own measure, every tick of it. */
	t = wait_lines(1, 30);
	ck_assert_uint_gt(t.steps, (TOUCHED - KEPT - limit) / STEP);
	ck_assert_uint_gt(t.max_ppm, 0);
	ck_assert_uint_le(t.max_ppm, BOUND_PPM);
	ck_assert_uint_eq(t.goal_mb, (KEPT * 110 / 100) >> 20);
	spanheap_close(h);
}
END_TEST

/* Within the goal nothing is released, but SCAVENGE still is, at once. */
START_TEST(test_forced_pass_within_goal)
{
	static uint64_t offs[8];
	uint64_t released = 0, consumed;
	struct spanheap *h;

	/* A goal of 11 times the peak: never reached here. */
	start("--scavenge-headroom=1000");
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	alloc_touched(h, 8, offs);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 7), 0);
	/* Past the peak window (16 ticks) and then some. */
	wait_lines(20, 60);
	consumed = stat_of(h, "consumed");
	ck_assert_uint_eq(consumed, 8 * SPAN);
	ck_assert_uint_eq(read_trace().steps, 0);
	ck_assert_uint_ge(test_arena_resident(), 8 * SPAN);
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(released, 7 * SPAN);
	ck_assert_uint_eq(stat_of(h, "consumed"), SPAN);
	ck_assert_uint_le(test_arena_resident(), SPAN);
	spanheap_close(h);
}
END_TEST

/* A forced pass in the middle of a paced release takes the rest at once. */
START_TEST(test_forced_pass_during_release)
{
	static uint64_t offs[TOUCHED / SPAN];
	int n = (int)(TOUCHED / SPAN), keep = (int)(KEPT / SPAN), i;
	uint64_t released = 0, rel0;
	struct spanheap *h;

	start("--scavenge-headroom=10");
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	alloc_touched(h, n, offs);
	rel0 = stat_of(h, "heap_released");
	ck_assert_int_eq(spanheap_span_free_batch(h, offs + keep,
						  (size_t)(n - keep)),
			 0);
	for (i = 0; i < 600 * 50 && stat_of(h, "heap_released") == rel0; i++)
		usleep(20000);
	ck_assert_uint_gt(stat_of(h, "heap_released"), rel0);
	/* Every free page, the headroom's too, whatever the pacing. */
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(stat_of(h, "consumed"), KEPT);
	ck_assert_uint_le(test_arena_resident(), KEPT);
	/* Its CPU is not the pacing's: the measure stays in bounds. */
	ck_assert_uint_le(wait_lines(2, 30).max_ppm, BOUND_PPM);
	ck_assert_uint_eq(stat_of(h, "consumed"), KEPT);
	spanheap_close(h);
}
END_TEST

/* A departed client's pages go at once, not at the pacing's rate. */
START_TEST(test_departed_released_at_once)
{
	int ready[2], status;
	struct spanheap *h;
	pid_t pid;
	char c;

	/* With a goal of 11 times the peak only the departed path releases. */
	start("--scavenge-headroom=1000");
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static uint64_t offs[16];
		struct spanheap *k;

		if (spanheap_connect(td.sock, &k))
			_exit(1);
		alloc_touched(k, 16, offs);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_uint_eq(stat_of(h, "consumed"), 16 * SPAN);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < 600 * 50 && stat_of(h, "consumed"); i++)
		usleep(20000);
	ck_assert_uint_eq(stat_of(h, "consumed"), 0);
	ck_assert_uint_le(test_arena_resident(), PG);
	ck_assert_uint_eq(read_trace().steps, 0);
	spanheap_close(h);
}
END_TEST

/* The seed's lines, each tick, beside the paced policy's own. */
START_TEST(test_trace_lines_kept)
{
	static uint64_t offs[8];
	regex_t forced, rel, sum;
	bool f = false, r = false, su = false;
	struct spanheap *h;
	char line[512];
	FILE *fp;

	start("--scavenge-headroom=0");
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	alloc_touched(h, 8, offs);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 8), 0);
	for (int i = 0; i < 600 * 50 && stat_of(h, "consumed"); i++)
		usleep(20000);
	ck_assert_uint_eq(stat_of(h, "consumed"), 0);
	wait_lines(2, 30);
	spanheap_close(h);
	ck_assert_int_eq(regcomp(&forced, "^scvg[0-9]+: GC forced$",
				 REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regcomp(&rel, "^scvg[0-9]+: [1-9][0-9]* MB released$",
				 REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regcomp(&sum,
				 "^scvg[0-9]+: inuse: 0, idle: [0-9]+, sys: "
				 "[0-9]+, released: [0-9]+, consumed: 0 \\(MB\\)$",
				 REG_EXTENDED | REG_NOSUB), 0);
	fp = fopen(td.log, "r");
	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\n")] = 0;
		f |= !regexec(&forced, line, 0, NULL, 0);
		r |= !regexec(&rel, line, 0, NULL, 0);
		su |= !regexec(&sum, line, 0, NULL, 0);
	}
	fclose(fp);
	regfree(&forced);
	regfree(&rel);
	regfree(&sum);
	ck_assert(f);
	ck_assert(r);
	ck_assert(su);
}
END_TEST

static Suite *scavenger_paced_suite(void)
{
	Suite *s = suite_create("scavenger_paced");
	TCase *tc;

	test_socket_only();
	tc = tcase_create("paced");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_converges_to_peak_plus_headroom);
	tcase_add_test(tc, test_forced_pass_within_goal);
	tcase_add_test(tc, test_forced_pass_during_release);
	tcase_add_test(tc, test_departed_released_at_once);
	tcase_add_test(tc, test_trace_lines_kept);
	tcase_set_timeout(tc, 900);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(scavenger_paced_suite)
