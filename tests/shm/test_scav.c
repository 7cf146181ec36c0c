// SPDX-License-Identifier: MIT
/*
 * Tests for shm/scav.c: the scavenger's pacing, its GC bookkeeping and
 * its trace lines, over the heap of hooks of tests/shm/scav_fake.c.  Its
 * release passes are tested in test_scav_pass.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "shm/scav.h"
#include "tests/lib/testlib.h"
#include "tests/shm/scav_fake.h"

/* ---- tick ---- */

static uint64_t tick(uint64_t gc_after, uint64_t scavenge_after)
{
	struct scav_config cfg = {
		.scavenge_after_ns = scavenge_after,
		.gc_after_ns = gc_after,
		.now = fake_now,
		.clock_ctx = &fk,
	};

	return scav_tick_ns(&cfg);
}

START_TEST(test_tick_half_of_shorter)
{
	/* The defaults: gc_after 2 min is the shorter. */
	ck_assert_uint_eq(tick(120 * SEC, 300 * SEC), 60 * SEC);
	/* Either order. */
	ck_assert_uint_eq(tick(300 * SEC, 120 * SEC), 60 * SEC);
	ck_assert_uint_eq(tick(100000000, 200000000), 50000000);
	ck_assert_uint_eq(tick(200000000, 100000000), 50000000);
	ck_assert_uint_eq(tick(7 * SEC, 7 * SEC), 3500000000u);
	ck_assert_uint_eq(tick(UINT64_MAX, UINT64_MAX), UINT64_MAX / 2);
}
END_TEST

START_TEST(test_tick_never_zero)
{
	ck_assert_uint_eq(tick(0, 0), 1);
	ck_assert_uint_eq(tick(0, 300 * SEC), 1);
	ck_assert_uint_eq(tick(300 * SEC, 0), 1);
	ck_assert_uint_eq(tick(1, 1), 1);
	ck_assert_uint_eq(tick(1, 300 * SEC), 1);
	ck_assert_uint_eq(tick(300 * SEC, 1), 1);
	ck_assert_uint_eq(tick(3, 300 * SEC), 1);
	ck_assert_uint_eq(tick(4, 300 * SEC), 2);
}
END_TEST

/* ---- gc ---- */

START_TEST(test_init_defaults)
{
	struct scav_config cfg = {
		.scavenge_after_ns = SCAV_AFTER,
		.gc_after_ns = GC_AFTER,
		.now = fake_now,
		.clock_ctx = &fk,
	};

	fk.now = 123 * SEC;
	memset(&s, 0xa5, sizeof(s));
	scav_init(&s, &cfg);
	ck_assert_uint_eq(s.started, 123 * SEC);
	ck_assert_uint_eq(s.cfg.chunk_bytes, SCAV_CHUNK_DEFAULT);
	ck_assert_uint_eq(s.num_gc, 0);
	ck_assert_uint_eq(s.last_gc, 0);
	ck_assert_uint_eq(s.forced_gc, 0);
	ck_assert_uint_eq(s.pause_total_ns, 0);
	ck_assert_uint_eq(s.passes, 0);
	ck_assert_uint_eq(s.released_total, 0);
	ck_assert(!s.in_pass);
}
END_TEST

START_TEST(test_gc_due_after_init)
{
	/* fake_setup() started the scavenger at T0. */
	ck_assert(!scav_gc_due(&s));
	fk.now = T0 + GC_AFTER / 2;
	ck_assert(!scav_gc_due(&s));
	fk.now = T0 + GC_AFTER;
	ck_assert(!scav_gc_due(&s));
	fk.now = T0 + GC_AFTER + 1;
	ck_assert(scav_gc_due(&s));
	fk.now = T0 + 10 * GC_AFTER;
	ck_assert(scav_gc_due(&s));
	/* Asking changes nothing. */
	ck_assert_uint_eq(s.num_gc, 0);
	ck_assert_uint_eq(s.last_gc, 0);
}
END_TEST

START_TEST(test_gc_record_restarts_cadence)
{
	uint64_t t = T0 + GC_AFTER + 5;

	fk.now = t;
	ck_assert(scav_gc_due(&s));
	scav_gc_record(&s, t - 1000, t, true);
	ck_assert_uint_eq(s.num_gc, 1);
	ck_assert_uint_eq(s.forced_gc, 1);
	ck_assert_uint_eq(s.pause_total_ns, 1000);
	ck_assert_uint_eq(s.last_gc, t);
	ck_assert(!scav_gc_due(&s));
	fk.now = t + GC_AFTER;
	ck_assert(!scav_gc_due(&s));
	fk.now = t + GC_AFTER + 1;
	ck_assert(scav_gc_due(&s));

	/* An unforced pass (spanctl gc) counts but is not forced. */
	t += 3 * SEC;
	fk.now = t;
	scav_gc_record(&s, t - 500, t, false);
	ck_assert_uint_eq(s.num_gc, 2);
	ck_assert_uint_eq(s.forced_gc, 1);
	ck_assert_uint_eq(s.pause_total_ns, 1500);
	ck_assert_uint_eq(s.last_gc, t);
	fk.now = t + GC_AFTER;
	ck_assert(!scav_gc_due(&s));
	fk.now = t + GC_AFTER + 1;
	ck_assert(scav_gc_due(&s));
}
END_TEST

START_TEST(test_gc_record_clock_at_zero)
{
	/* A pass that ends at clock time 0 is still a pass. */
	fk.now = 0;
	scav_start(MIB);
	scav_gc_record(&s, 0, 0, false);
	ck_assert_uint_eq(s.num_gc, 1);
	fk.now = GC_AFTER;
	ck_assert(!scav_gc_due(&s));
	fk.now = GC_AFTER + 1;
	ck_assert(scav_gc_due(&s));
}
END_TEST

START_TEST(test_pause_recent)
{
	uint64_t out[SCAV_PAUSES + 8];

	memset(out, 0xff, sizeof(out));
	ck_assert_uint_eq(scav_pause_recent(&s, out, 16), 0);
	ck_assert_uint_eq(out[0], UINT64_MAX);
	scav_gc_record(&s, 100, 111, true);
	scav_gc_record(&s, 200, 222, false);
	scav_gc_record(&s, 300, 333, true);
	ck_assert_uint_eq(scav_pause_recent(&s, out, 16), 3);
	ck_assert_uint_eq(out[0], 11);
	ck_assert_uint_eq(out[1], 22);
	ck_assert_uint_eq(out[2], 33);
	ck_assert_uint_eq(out[3], UINT64_MAX);
	/* The last n, oldest first. */
	ck_assert_uint_eq(scav_pause_recent(&s, out, 2), 2);
	ck_assert_uint_eq(out[0], 22);
	ck_assert_uint_eq(out[1], 33);
	ck_assert_uint_eq(scav_pause_recent(&s, out, 0), 0);
	ck_assert_uint_eq(s.pause_total_ns, 66);
	ck_assert_uint_eq(s.num_gc, 3);
	ck_assert_uint_eq(s.forced_gc, 2);
	ck_assert_uint_eq(s.last_gc, 333);
}
END_TEST

/* Record @n passes, pass i pausing 1000 + i ns. */
static void record_passes(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		scav_gc_record(&s, 1000 * i, 1000 * i + 1000 + i, false);
}

/* out[0..n) must be the pauses of passes total-n .. total-1. */
static void assert_last_pauses(const uint64_t *out, size_t n, uint64_t total)
{
	for (size_t i = 0; i < n; i++)
		if (out[i] != 1000 + total - n + i)
			ck_abort_msg("pause %zu of %zu: %llu, want %llu", i, n,
				     (unsigned long long)out[i],
				     (unsigned long long)(1000 + total + i - n));
}

START_TEST(test_pause_recent_ring_full)
{
	uint64_t out[SCAV_PAUSES + 8];

	record_passes(SCAV_PAUSES);
	ck_assert_uint_eq(scav_pause_recent(&s, out, SCAV_PAUSES + 8),
			  SCAV_PAUSES);
	assert_last_pauses(out, SCAV_PAUSES, SCAV_PAUSES);
	record_passes(1);	/* pass 256 pauses 1000: overwrites pass 0 */
	ck_assert_uint_eq(scav_pause_recent(&s, out, 2), 2);
	ck_assert_uint_eq(out[0], 1000 + SCAV_PAUSES - 1);
	ck_assert_uint_eq(out[1], 1000);
}
END_TEST

START_TEST(test_pause_recent_ring_wraps)
{
	uint64_t out[SCAV_PAUSES + 8], total = 0;

	record_passes(300);
	for (uint64_t i = 0; i < 300; i++)
		total += 1000 + i;
	ck_assert_uint_eq(s.num_gc, 300);
	ck_assert_uint_eq(s.pause_total_ns, total);
	ck_assert_uint_eq(scav_pause_recent(&s, out, 16), 16);
	assert_last_pauses(out, 16, 300);
	ck_assert_uint_eq(scav_pause_recent(&s, out, 1), 1);
	ck_assert_uint_eq(out[0], 1299);
	/* More than the ring holds: the whole ring, still oldest first. */
	ck_assert_uint_eq(scav_pause_recent(&s, out, SCAV_PAUSES + 8),
			  SCAV_PAUSES);
	assert_last_pauses(out, SCAV_PAUSES, 300);
	ck_assert_uint_eq(out[0], 1044);
	ck_assert_uint_eq(out[SCAV_PAUSES - 1], 1299);
}
END_TEST

/* ---- trace ---- */

START_TEST(test_trace_forced)
{
	char buf[64];

	ck_assert_int_eq(scav_trace_forced(buf, sizeof(buf), 3), 16);
	ck_assert_str_eq(buf, "scvg3: GC forced");
	ck_assert_int_eq(scav_trace_forced(buf, sizeof(buf), 0), 16);
	ck_assert_str_eq(buf, "scvg0: GC forced");
	scav_trace_forced(buf, sizeof(buf), UINT64_MAX);
	ck_assert_str_eq(buf, "scvg18446744073709551615: GC forced");
}
END_TEST

START_TEST(test_trace_released)
{
	char buf[64];

	ck_assert_int_eq(scav_trace_released(buf, sizeof(buf), 3, 256 * MIB),
			 22);
	ck_assert_str_eq(buf, "scvg3: 256 MB released");
	/* Bytes are shifted right by 20: partial MiB are dropped. */
	scav_trace_released(buf, sizeof(buf), 3, 256 * MIB + MIB - 1);
	ck_assert_str_eq(buf, "scvg3: 256 MB released");
	scav_trace_released(buf, sizeof(buf), 12, MIB - 1);
	ck_assert_str_eq(buf, "scvg12: 0 MB released");
	/* Truncated to the buffer, returning the full length. */
	ck_assert_int_eq(scav_trace_released(buf, 6, 3, 256 * MIB), 22);
	ck_assert_str_eq(buf, "scvg3");
}
END_TEST

START_TEST(test_trace_summary)
{
	static const char want[] = "scvg3: inuse: 1, idle: 2, sys: 3, "
				   "released: 1, consumed: 2 (MB)";
	struct heap_stats st = {
		.inuse = 1 * MIB,
		.idle = 2 * MIB,
		.sys = 3 * MIB,
		.released = 1 * MIB,
	};
	char buf[128];

	ck_assert_int_eq(scav_trace_summary(buf, sizeof(buf), 3, &st),
			 (int)strlen(want));
	ck_assert_str_eq(buf, want);
	/* Shifted, not rounded: a MiB less one byte is 0. */
	st.inuse = 2 * MIB - 1;
	st.idle = 2 * MIB + MIB - 1;
	st.sys = 4 * MIB + 5;
	st.released = MIB + MIB / 2;
	scav_trace_summary(buf, sizeof(buf), 3, &st);
	ck_assert_str_eq(buf, "scvg3: inuse: 1, idle: 2, sys: 4, "
			      "released: 1, consumed: 2 (MB)");
}
END_TEST

START_TEST(test_trace_summary_of_heap)
{
	uint64_t a = dirty_span(10 * MIB / PG);
	struct heap_stats st;
	char buf[128];

	(void)a;
	fk.now += SCAV_AFTER + 1;
	pass(false);
	heap_stats(h, &st);
	scav_trace_summary(buf, sizeof(buf), 7, &st);
	/* 32 MiB grown, 4 KiB in use, 10 MiB released by the pass. */
	ck_assert_str_eq(buf, "scvg7: inuse: 0, idle: 31, sys: 32, "
			      "released: 31, consumed: 0 (MB)");
}
END_TEST

static Suite *scav_suite(void)
{
	Suite *su = suite_create("scav");
	TCase *tc;

	tc = tcase_create("tick");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_tick_half_of_shorter);
	tcase_add_test(tc, test_tick_never_zero);
	suite_add_tcase(su, tc);

	tc = tcase_create("gc");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_init_defaults);
	tcase_add_test(tc, test_gc_due_after_init);
	tcase_add_test(tc, test_gc_record_restarts_cadence);
	tcase_add_test(tc, test_gc_record_clock_at_zero);
	tcase_add_test(tc, test_pause_recent);
	tcase_add_test(tc, test_pause_recent_ring_full);
	tcase_add_test(tc, test_pause_recent_ring_wraps);
	suite_add_tcase(su, tc);

	tc = tcase_create("trace");
	tcase_add_checked_fixture(tc, fake_setup, fake_teardown);
	tcase_add_test(tc, test_trace_forced);
	tcase_add_test(tc, test_trace_released);
	tcase_add_test(tc, test_trace_summary);
	tcase_add_test(tc, test_trace_summary_of_heap);
	suite_add_tcase(su, tc);
	return su;
}

TEST_MAIN(scav_suite)
