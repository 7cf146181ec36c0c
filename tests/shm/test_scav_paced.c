// SPDX-License-Identifier: MIT
/*
 * Tests for shm/scav_paced.c: the paced policy's goal and peak window,
 * its walk (oldest first, stalls), its pacing, the step's adaptation and
 * the measured CPU fraction, over the heap of hooks of
 * tests/shm/scav_fake.c.  Both clocks are fake: nothing sleeps, and the
 * CPU clock runs at 1/cpu_div of the wall clock but stands still while
 * the test waits for the pacing (1: the thread's CPU is all the time it
 * does not wait, the worst case for the bound).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "shm/scav.h"
#include "shm/scav_paced.h"
#include "tests/lib/testlib.h"
#include "tests/shm/scav_fake.h"

#define MS (SEC / 1000)
#define US (SEC / 1000000)
#define BOUND_PPM (UINT64_C(1000000) / (1 + SCAV_PACED_RATIO))

static uint64_t cpu_div;
static uint64_t waited;		/* ns the tests waited for the pacing */

static uint64_t fake_cpu(void *ctx)
{
	return (fake_now(ctx) - waited) / cpu_div;
}

static void paced_start(unsigned int headroom_pct, uint64_t tick_ns)
{
	struct scav_paced_config cfg = {
		.headroom_pct = headroom_pct,
		.tick_ns = tick_ns,
		.now = fake_now,
		.cpu_now = fake_cpu,
		.clock_ctx = &fk,
	};

	scav_paced_init(&s, &cfg);
}

static void setup(void)
{
	fake_setup();
	cpu_div = 1;
	waited = 0;
	paced_start(10, SEC);
}

static void observe(void)
{
	struct heap_stats st = stats();

	scav_paced_observe(&s, &st);
}

static void tick(void)
{
	struct heap_stats st = stats();

	scav_paced_tick(&s, &st);
}

static void ticks(unsigned int n)
{
	while (n--)
		tick();
}

static uint64_t retained(void)
{
	struct heap_stats st = stats();

	return st.sys - st.released;
}

/* Wait as the daemon does, then one step; the heap checked after. */
static uint64_t step(void)
{
	uint64_t bytes;

	waited += scav_paced_wait(&s, fk.now);
	fk.now += scav_paced_wait(&s, fk.now);
	ck_assert_uint_eq(scav_paced_wait(&s, fk.now), 0);
	bytes = scav_paced_step(&s, h, fake_lock, fake_unlock, &fk);
	ck_assert(!fk.locked);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	ck_assert_uint_le(scav_paced_cpu_ppm(&s, fk.now), BOUND_PPM);
	return bytes;
}

/* Steps while there is an excess; returns how many released anything. */
static unsigned int converge(void)
{
	unsigned int n = 0, tries = 0;

	observe();
	while (scav_paced_excess(&s)) {
		ck_assert_uint_lt(++tries, 2 * MAX_CALLS);
		n += step() != 0;
	}
	return n;
}

/*
 * The arena used whole, then all freed but @keep pages, and the peak
 * decayed to them.
 */
static void leave_in_use(uint64_t keep)
{
	uint64_t a = alloc_pages(ARENA_PAGES - keep);

	alloc_pages(keep);
	free_span(a);
	ticks(SCAV_PEAK_TICKS);
	ck_assert_uint_eq(s.paced.peak, keep * PG);
}

/* ---- goal ---- */

START_TEST(test_goal_from_peak)
{
	uint64_t a = alloc_pages(5120);	/* 20 MiB */

	ck_assert(s.paced.on);
	alloc_pages(2560);		/* 10 MiB */
	observe();
	ck_assert_uint_eq(s.paced.peak, 30 * MIB);
	ck_assert_uint_eq(s.paced.goal, 33 * MIB);
	/* Pages grown count as released till first used. */
	ck_assert_uint_eq(s.paced.retained, 30 * MIB);
	ck_assert_uint_eq(scav_paced_excess(&s), 0);
	free_span(a);
	observe();
	ck_assert_uint_eq(s.paced.retained, 30 * MIB);
	ck_assert_uint_eq(scav_paced_excess(&s), 0);
	ticks(SCAV_PEAK_TICKS);
	ck_assert_uint_eq(s.paced.peak, 10 * MIB);
	ck_assert_uint_eq(s.paced.goal, 11 * MIB);
	ck_assert_uint_eq(scav_paced_excess(&s), 19 * MIB);

	paced_start(0, SEC);
	observe();
	ck_assert_uint_eq(s.paced.goal, 10 * MIB);
	ck_assert_uint_eq(scav_paced_excess(&s), 20 * MIB);

	/* 1000%: a goal of 110 MiB, above what the heap retains. */
	paced_start(1000, SEC);
	observe();
	ck_assert_uint_eq(s.paced.goal, 110 * MIB);
	ck_assert_uint_eq(scav_paced_excess(&s), 0);
}
END_TEST

START_TEST(test_excess_whole_pages)
{
	/* 11 pages in use: a goal of 12.1 pages, the excess rounded down. */
	uint64_t a = alloc_pages(100);

	alloc_pages(11);
	free_span(a);
	ticks(SCAV_PEAK_TICKS);
	ck_assert_uint_eq(s.paced.goal, 11 * PG * 110 / 100);
	ck_assert_uint_eq(s.paced.retained, 111 * PG);
	ck_assert_uint_eq(scav_paced_excess(&s), 98 * PG);
}
END_TEST

/* ---- the peak window ---- */

START_TEST(test_peak_window_decays)
{
	uint64_t a = alloc_pages(5120);	/* 20 MiB */

	alloc_pages(256);
	observe();
	free_span(a);
	observe();
	ck_assert_uint_eq(s.paced.peak, 21 * MIB);
	ck_assert_uint_eq(s.paced.inuse, MIB);
	/* Remembered for SCAV_PEAK_TICKS ticks, the one it was seen in too. */
	for (unsigned int i = 1; i < SCAV_PEAK_TICKS; i++) {
		tick();
		ck_assert_uint_eq(s.paced.peak, 21 * MIB);
		ck_assert_uint_eq(s.paced.goal, 21 * MIB * 110 / 100);
	}
	tick();
	ck_assert_uint_eq(s.paced.peak, MIB);
	ck_assert_uint_eq(s.paced.goal, MIB * 110 / 100);
	/* A rise counts at once. */
	alloc_pages(512);
	observe();
	ck_assert_uint_eq(s.paced.peak, 3 * MIB);
	ck_assert_uint_eq(s.paced.goal, 3 * MIB * 110 / 100);
}
END_TEST

START_TEST(test_peak_of_a_tick_is_its_largest)
{
	uint64_t a = alloc_pages(1024), b;

	observe();			/* 4 MiB */
	free_span(a);
	observe();			/* 0 */
	b = alloc_pages(512);
	observe();			/* 2 MiB */
	ck_assert_uint_eq(s.paced.peak_ring[0], 4 * MIB);
	tick();
	ck_assert_uint_eq(s.paced.peak_ring[1], 2 * MIB);
	free_span(b);
	observe();
	ck_assert_uint_eq(s.paced.peak_ring[1], 2 * MIB);
	ticks(SCAV_PEAK_TICKS - 1);
	ck_assert_uint_eq(s.paced.peak, 2 * MIB);	/* tick 0 is gone */
	tick();
	ck_assert_uint_eq(s.paced.peak, 0);
	ck_assert_uint_eq(s.paced.goal, 0);
}
END_TEST

/* ---- steps ---- */

START_TEST(test_converges_to_goal)
{
	uint64_t rel0, goal;
	unsigned int n;

	leave_in_use(1024);		/* 4 MiB */
	goal = 4 * MIB * 110 / 100;
	ck_assert_uint_eq(s.paced.goal, goal);
	rel0 = stats().released;
	n = converge();
	/* Within a page above the goal, never below it. */
	ck_assert_uint_ge(retained(), goal);
	ck_assert_uint_lt(retained(), goal + PG);
	ck_assert_uint_ge(retained(), stats().inuse);
	/* Every byte accounted once, by every count. */
	ck_assert_uint_eq(stats().released - rel0, fk.ok_bytes);
	ck_assert_uint_eq(s.paced.released_total, fk.ok_bytes);
	ck_assert_uint_eq(s.released_total, fk.ok_bytes);
	ck_assert_uint_eq(s.paced.released_tick, fk.ok_bytes);
	ck_assert_uint_eq(s.paced.steps, n);
	ck_assert_uint_eq(fk.ncalls, n);
	for (uint64_t i = 0; i < fk.ncalls; i++)
		ck_assert_uint_le(fk.len[i],
				  SCAV_PACED_STEP_MAX_PAGES * PG);
	/* Nothing more to do; the next tick reports the bytes. */
	ck_assert_uint_eq(step(), 0);
	ck_assert_uint_eq(fk.ncalls, n);
	tick();
	ck_assert_uint_eq(s.paced.released_last, fk.ok_bytes);
	ck_assert_uint_eq(s.paced.released_tick, 0);
}
END_TEST

START_TEST(test_goal_follows_rise)
{
	leave_in_use(1024);
	converge();
	ck_assert_uint_lt(retained(), 5 * MIB);
	/* The clients grow again: nothing is released below the new peak. */
	alloc_pages(2048);
	observe();
	ck_assert_uint_eq(s.paced.peak, 12 * MIB);
	ck_assert_uint_eq(scav_paced_excess(&s), 0);
	ck_assert_uint_eq(step(), 0);
}
END_TEST

START_TEST(test_oldest_first)
{
	uint64_t a, b, calls;

	paced_start(0, SEC);
	a = alloc_pages(256);
	alloc_pages(1);
	b = alloc_pages(256);
	alloc_pages(1);
	alloc_pages(ARENA_PAGES - 514);	/* the rest: no other free page */
	free_span(b);			/* b: 20 s old when a is freed */
	fk.now += 20 * SEC;
	free_span(a);
	ticks(SCAV_PEAK_TICKS);
	ck_assert_uint_eq(scav_paced_excess(&s), 512 * PG);
	converge();
	calls = fk.ncalls;
	ck_assert_uint_ge(calls, 2);
	/* All of b (the higher address, but older) before any of a. */
	for (uint64_t i = 0, bytes = 0; i < calls; i++) {
		bool in_b = fk.off[i] >= b && fk.off[i] < b + 256 * PG;

		ck_assert(in_b == (bytes < 256 * PG));
		bytes += fk.len[i];
	}
	ck_assert_uint_eq(fk.ok_bytes, 512 * PG);
}
END_TEST

START_TEST(test_stalls_when_nothing_to_take)
{
	struct heap_take held[64];
	struct heap_cursor c = { 0, 0 };
	unsigned int n = 0;

	leave_in_use(1024);
	/* Another pass holds every free page (the scavenger's own, say). */
	while (heap_scavenge_take(h, fk.now, 0, ARENA_PAGES, &c, &held[n]))
		ck_assert_uint_lt(++n, 64);
	observe();
	ck_assert_uint_gt(scav_paced_excess(&s), 0);
	ck_assert_uint_eq(scav_paced_step(&s, h, fake_lock, fake_unlock, &fk),
			  0);
	ck_assert(s.paced.stalled);
	ck_assert_uint_eq(scav_paced_excess(&s), 0);
	ck_assert_uint_eq(fk.ncalls, 0);
	while (n--)
		heap_scavenge_return(h, &held[n], -EAGAIN, &c);
	heap_check(h);
	/* Stalled till the next tick, which tries again. */
	observe();
	ck_assert_uint_eq(scav_paced_excess(&s), 0);
	tick();
	ck_assert_uint_gt(scav_paced_excess(&s), 0);
	ck_assert_uint_gt(step(), 0);
}
END_TEST

START_TEST(test_release_errors)
{
	uint64_t rel0;
	unsigned int tries = 0;

	leave_in_use(1024);
	rel0 = stats().released;
	fk.fail = -EIO;
	observe();
	/* Each run fails once, then the walk is over: stalled, no spin. */
	while (scav_paced_excess(&s)) {
		ck_assert_uint_eq(step(), 0);
		ck_assert_uint_lt(++tries, ARENA_PAGES / 64 + 8);
	}
	ck_assert_uint_gt(fk.ncalls, 0);
	ck_assert_uint_eq(s.release_errors, fk.ncalls);
	ck_assert_int_eq(s.last_release_error, -EIO);
	ck_assert_uint_eq(s.paced.released_total, 0);
	ck_assert_uint_eq(s.paced.steps, 0);
	ck_assert_uint_eq(stats().released, rel0);
	fk.fail = 0;
	tick();
	converge();
	ck_assert_uint_lt(retained(), 4 * MIB * 110 / 100 + PG);
}
END_TEST

/* ---- pacing ---- */

START_TEST(test_waits_99_times_the_step)
{
	uint64_t t1;

	leave_in_use(1024);
	fk.step = MS;			/* each release takes 1 ms */
	ck_assert_uint_eq(scav_paced_wait(&s, fk.now), 0);
	ck_assert_uint_gt(step(), 0);
	t1 = fk.now;
	ck_assert_uint_eq(s.paced.next_ns, t1 + 99 * MS);
	ck_assert_uint_eq(scav_paced_wait(&s, t1), 99 * MS);
	ck_assert_uint_eq(scav_paced_wait(&s, t1 + 98 * MS), MS);
	ck_assert_uint_eq(scav_paced_wait(&s, t1 + 99 * MS), 0);
	/* The next step waits exactly that. */
	ck_assert_uint_gt(step(), 0);
	ck_assert_uint_eq(fk.now, t1 + 99 * MS + MS);
	ck_assert_uint_eq(s.paced.wall_ns, 2 * MS);
	ck_assert_uint_eq(s.paced.cpu_ns, 2 * MS);
}
END_TEST

START_TEST(test_step_adapts_to_cost)
{
	uint64_t want, i = 0;

	leave_in_use(16);
	fk.step = 100 * US;		/* cheap: doubles up to the most */
	for (want = SCAV_PACED_STEP_MIN_PAGES;
	     want < SCAV_PACED_STEP_MAX_PAGES; want *= 2, i++) {
		ck_assert_uint_gt(step(), 0);
		ck_assert_uint_eq(fk.len[i], want * PG);
	}
	ck_assert_uint_gt(step(), 0);
	ck_assert_uint_eq(fk.len[i++], SCAV_PACED_STEP_MAX_PAGES * PG);
	ck_assert_uint_eq(s.paced.step_pages, SCAV_PACED_STEP_MAX_PAGES);
	fk.step = 3 * MS;		/* dear: halves down to the least */
	for (want = SCAV_PACED_STEP_MAX_PAGES;
	     want >= SCAV_PACED_STEP_MIN_PAGES; want /= 2, i++) {
		ck_assert_uint_gt(step(), 0);
		ck_assert_uint_eq(fk.len[i], want * PG);
	}
	ck_assert_uint_gt(step(), 0);
	ck_assert_uint_eq(fk.len[i++], SCAV_PACED_STEP_MIN_PAGES * PG);
	ck_assert_uint_eq(s.paced.step_pages, SCAV_PACED_STEP_MIN_PAGES);
	/* Between the two: it stays. */
	fk.step = 700 * US;
	ck_assert_uint_gt(step(), 0);
	ck_assert_uint_eq(fk.len[i], SCAV_PACED_STEP_MIN_PAGES * PG);
	ck_assert_uint_eq(s.paced.step_pages, SCAV_PACED_STEP_MIN_PAGES);
}
END_TEST

/* CPU used between two steps is charged to the second, and paces it. */
START_TEST(test_cpu_between_steps_charged)
{
	uint64_t t1;

	leave_in_use(1024);
	fk.step = MS;
	ck_assert_uint_gt(step(), 0);
	ck_assert_uint_eq(s.paced.cpu_ns, MS);
	/* The thread spends 5 ms of CPU after its wait, before the step. */
	fk.now += scav_paced_wait(&s, fk.now);
	waited = fk.now - T0 - MS - 5 * MS;
	t1 = fk.now;
	ck_assert_uint_gt(scav_paced_step(&s, h, fake_lock, fake_unlock, &fk),
			  0);
	ck_assert_uint_eq(s.paced.cpu_ns, MS + 6 * MS);
	ck_assert_uint_eq(s.paced.wall_ns, 2 * MS);
	/* Paced by its CPU, the larger: 100 x 6 ms from its start. */
	ck_assert_uint_eq(s.paced.next_ns, t1 + 600 * MS);
	ck_assert_uint_le(scav_paced_cpu_ppm(&s, fk.now), BOUND_PPM);
	/* Unpaced work (a forced pass, 4 ms) is not charged to the next. */
	fk.now += 4 * MS;
	scav_paced_unpaced(&s, 4 * MS);
	ck_assert_uint_gt(step(), 0);
	ck_assert_uint_eq(s.paced.cpu_ns, 8 * MS);
}
END_TEST

/* ---- the measured fraction ---- */

START_TEST(test_cpu_fraction_bounded)
{
	uint64_t ppm;

	leave_in_use(16);
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, fk.now), 0);
	/* 1 ms steps, back to back with their waits: over 10 s of them. */
	fk.step = MS;
	converge();
	ck_assert_uint_gt(fk.ncalls, 100);
	ck_assert_uint_gt(fk.now - T0, SCAV_PACED_WINDOW_NS);
	/* At the bound exactly (every step's CPU its wall time)... */
	ppm = scav_paced_cpu_ppm(&s, fk.now);
	ck_assert_uint_le(ppm, BOUND_PPM);
	ck_assert_uint_ge(ppm, BOUND_PPM * 98 / 100);
	/* ...during the wait too, then less as it ends, then none. */
	ck_assert_uint_le(scav_paced_cpu_ppm(&s, s.paced.next_ns - MS),
			  BOUND_PPM);
	ck_assert_uint_ge(scav_paced_cpu_ppm(&s, s.paced.next_ns - MS),
			  BOUND_PPM * 98 / 100);
	ck_assert_uint_lt(scav_paced_cpu_ppm(&s, s.paced.next_ns + 5 * SEC),
			  ppm);
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, s.paced.next_ns + 11 * SEC),
			  0);
}
END_TEST

START_TEST(test_cpu_fraction_is_cpu_time)
{
	uint64_t ppm;

	cpu_div = 4;			/* a quarter of each step on the CPU */
	leave_in_use(16);
	fk.step = MS;
	for (int i = 0; i < 20; i++)
		step();
	ppm = scav_paced_cpu_ppm(&s, fk.now);
	ck_assert_uint_le(ppm, BOUND_PPM / 4);
	ck_assert_uint_ge(ppm, BOUND_PPM / 4 * 98 / 100);
	ck_assert_uint_eq(s.paced.wall_ns, 20 * MS);
	ck_assert_uint_eq(s.paced.cpu_ns, 5 * MS);
}
END_TEST

START_TEST(test_charge_out_of_turn)
{
	/* Work that did not wait its turn is charged as if it had. */
	paced_start(10, SEC);
	scav_paced_charge(&s, SEC, SEC + MS, 0, MS);
	ck_assert_uint_eq(s.paced.next_ns, SEC + 100 * MS);
	scav_paced_charge(&s, SEC + 50 * MS, SEC + 51 * MS, 0, MS);
	ck_assert_uint_eq(s.paced.next_ns, SEC + 200 * MS);
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, SEC + 60 * MS), BOUND_PPM);
	ck_assert_uint_eq(s.paced.charges, 2);
	/* A sweep's charge counts as a step's does. */
	scav_paced_charge(&s, SEC + 200 * MS, SEC + 210 * MS, 0, 10 * MS);
	ck_assert_uint_eq(s.paced.next_ns, SEC + 1200 * MS);
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, SEC + 300 * MS), BOUND_PPM);
}
END_TEST

START_TEST(test_cpu_window_forgets)
{
	paced_start(10, SEC);
	scav_paced_charge(&s, 3 * SEC, 3 * SEC + MS, 0, MS);
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, 3 * SEC + 10 * MS), BOUND_PPM);
	/* 1 ms over the 2 s since the work began. */
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, 5 * SEC), 500);
	/* The window's last second holds it... */
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, 12 * SEC + SEC / 2),
			  1000000 * MS / (9 * SEC + SEC / 2));
	/* ...and the next does not. */
	ck_assert_uint_eq(scav_paced_cpu_ppm(&s, 13 * SEC), 0);
	/* A bucket used again for a later second starts from nothing. */
	scav_paced_charge(&s, 13 * SEC, 13 * SEC + 2 * MS, 0, 2 * MS);
	ck_assert_uint_eq(s.paced.bucket[3].cpu_ns, 2 * MS);
	ck_assert_uint_eq(s.paced.cpu_ns, 3 * MS);
}
END_TEST

START_TEST(test_trace_line)
{
	char buf[256];

	leave_in_use(2560);		/* 10 MiB: a goal of 11 */
	fk.step = MS;
	ck_assert_uint_gt(step(), 0);
	ck_assert_int_gt(scav_paced_trace(buf, sizeof(buf), 42, &s, fk.now), 0);
	ck_assert_str_eq(buf, "scvg42: paced: goal: 11, peak: 10, "
			      "retained: 31 (MB), steps: 1, cpu: 10000 ppm");
}
END_TEST

static Suite *scav_paced_suite(void)
{
	Suite *su = suite_create("scav_paced");
	TCase *tc;

	tc = tcase_create("goal");
	tcase_add_checked_fixture(tc, setup, fake_teardown);
	tcase_add_test(tc, test_goal_from_peak);
	tcase_add_test(tc, test_excess_whole_pages);
	tcase_add_test(tc, test_peak_window_decays);
	tcase_add_test(tc, test_peak_of_a_tick_is_its_largest);
	suite_add_tcase(su, tc);

	tc = tcase_create("step");
	tcase_add_checked_fixture(tc, setup, fake_teardown);
	tcase_add_test(tc, test_converges_to_goal);
	tcase_add_test(tc, test_goal_follows_rise);
	tcase_add_test(tc, test_oldest_first);
	tcase_add_test(tc, test_stalls_when_nothing_to_take);
	tcase_add_test(tc, test_release_errors);
	suite_add_tcase(su, tc);

	tc = tcase_create("pacing");
	tcase_add_checked_fixture(tc, setup, fake_teardown);
	tcase_add_test(tc, test_waits_99_times_the_step);
	tcase_add_test(tc, test_step_adapts_to_cost);
	tcase_add_test(tc, test_cpu_between_steps_charged);
	tcase_add_test(tc, test_cpu_fraction_bounded);
	tcase_add_test(tc, test_cpu_fraction_is_cpu_time);
	tcase_add_test(tc, test_charge_out_of_turn);
	tcase_add_test(tc, test_cpu_window_forgets);
	tcase_add_test(tc, test_trace_line);
	suite_add_tcase(su, tc);
	return su;
}

TEST_MAIN(scav_paced_suite)
