// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/magazine.c in process, over the real heap
 * (tests/daemon/tmag.h): the daemon's side of a client's magazine driven
 * through its calls with the clock injected, the client's side played
 * through proto/magazine.h on the test's own mapping of the region.
 * Refills and their bound, the stack's surplus, ticks, revokes (and a
 * client's takes racing them on another thread), the magazine's end.
 * Every step is checked against the heap: its figures, and the state
 * (FILL, HELD) of each span involved; every case ends with heap_check().
 * What the daemon makes of bad entries and corrupt indices is in
 * test_magazine_bad.c; the magazine's callers in test_magazine_client.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "tests/daemon/tmag.h"
#include "tests/lib/testlib.h"

/* ---- refill */

START_TEST(test_refill_doubles_to_max)
{
	static const uint32_t want[] = { 4, 8, 16, 32, 32 };
	uint64_t held[4 + 8 + 16 + 32 + 32];
	unsigned int nheld = 0;

	ck_assert_uint_eq(MAGAZINE_TARGET_FIRST, 4);
	ck_assert_uint_eq(MAGAZINE_TARGET_MAX, 32);
	tm_open(&tm, MAXB);
	ck_assert_uint_eq(tm_limit(&tm, 0), 0);
	ck_assert_uint_eq(tm_ring_count(&tm, 0), 0);
	for (unsigned int i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct magazine_info mi;

		ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0 + i),
				 0);
		/* The ring holds exactly the target, published as limit. */
		ck_assert_uint_eq(tm_limit(&tm, 0), want[i]);
		tm_expect_ring(&tm, 0, want[i]);
		/* Those taken before the refill were synced: HELD. */
		tm_expect_n(&tm, 0, held, nheld, HEAP_MAG_HELD);
		ck_assert_uint_eq(tm_hstats().mag, (nheld + want[i]) * PAGE);
		ck_assert_uint_eq(tm_hstats().mag_fill, want[i] * PAGE);
		ck_assert_uint_eq(tm_owner_pages(tm.owner), nheld + want[i]);
		mi = tm_info(&tm);
		ck_assert_uint_eq(mi.filled, nheld + want[i]);
		ck_assert_uint_eq(mi.refills, i + 1);
		ck_assert_uint_eq(mi.cached, want[i] * PAGE);
		ck_assert(!mi.dead);
		/* The client empties it, so that the next refill fills all. */
		tm_take_n(&tm, 0, held + nheld, want[i]);
		nheld += want[i];
		ck_assert_uint_eq(tm_ring_count(&tm, 0), 0);
		tm_check();
	}
	/* No other class moved. */
	for (unsigned int c = 1; c < MAG_NCLASSES; c++) {
		ck_assert_uint_eq(tm_limit(&tm, c), 0);
		ck_assert_uint_eq(tm_ring_count(&tm, c), 0);
	}
	tm_close(&tm);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
}
END_TEST

START_TEST(test_refill_bounded_by_max_bytes)
{
	/* 3 x 5 x 256 KiB fit 4 MiB; 3 x 6 x 256 KiB do not. */
	static const uint32_t c6[] = { 4, 5, 5 };
	/* Then 256 KiB are left: class 0 gets up to 21 spans. */
	static const uint32_t c0[] = { 4, 8, 16, 21, 21 };

	tm_open(&tm, MAXB);
	for (unsigned int i = 0; i < 3; i++) {
		ck_assert_int_eq(tm_refill(&tm, 6, PROTO_MAG_EMPTY, tm.t0), 0);
		ck_assert_uint_eq(tm_limit(&tm, 6), c6[i]);
		tm_expect_ring(&tm, 6, c6[i]);
		ck_assert_uint_le(tm_budget(&tm), MAXB);
	}
	/* Class 5 has no room left at all: the refill says so. */
	ck_assert_int_eq(tm_refill(&tm, 5, PROTO_MAG_EMPTY, tm.t0), -ENOMEM);
	ck_assert_uint_eq(tm_limit(&tm, 5), 0);
	tm_expect_ring(&tm, 5, 0);
	for (unsigned int i = 0; i < sizeof(c0) / sizeof(c0[0]); i++) {
		ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0), 0);
		ck_assert_uint_eq(tm_limit(&tm, 0), c0[i]);
		tm_expect_ring(&tm, 0, c0[i]);
		ck_assert_uint_le(tm_budget(&tm), MAXB);
	}
	ck_assert_uint_eq(tm_budget(&tm), 3 * (5 * 64 + 21) * PAGE);
	ck_assert_uint_eq(tm_hstats().mag_fill, (5 * 64 + 21) * PAGE);
	ck_assert_uint_eq(tm_info(&tm).cached, (5 * 64 + 21) * PAGE);
	tm_close(&tm);
}
END_TEST

START_TEST(test_refill_full_takes_surplus)
{
	uint64_t a[12];

	tm_open(&tm, MAXB);
	/* A full stack is use too: a class at 0 gets the first target. */
	ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_FULL, tm.t0), 0);
	ck_assert_uint_eq(tm_limit(&tm, 0), MAGAZINE_TARGET_FIRST);
	tm_expect_ring(&tm, 0, 4);
	for (int k = 0; k < 3; k++) {
		tm_take_n(&tm, 0, a + 4 * k, 4);
		tm_kick(&tm, tm.t0);
	}
	tm_expect_n(&tm, 0, a, 12, HEAP_MAG_HELD);
	tm_expect_ring(&tm, 0, 4);
	for (int i = 0; i < 12; i++)
		tm_push(&tm, 0, a[i]);
	/*
	 * Full again: the target doubles, and the stack's surplus over it
	 * goes back into the ring, below the new target: nothing new.
	 */
	ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_FULL, tm.t0), 0);
	ck_assert_uint_eq(tm_limit(&tm, 0), 8);
	ck_assert_uint_eq(tm_stack_count(&tm, 0), 8);
	tm_expect_n(&tm, 0, a, 8, HEAP_MAG_HELD);
	tm_expect_n(&tm, 0, a + 8, 4, HEAP_MAG_FILL);
	tm_expect_ring(&tm, 0, 8);
	ck_assert_uint_eq(tm_info(&tm).returned, 4);
	/* 4 each refill and kick, and 4 recycled. */
	ck_assert_uint_eq(tm_info(&tm).filled, 20);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 16);
	tm_close(&tm);
}
END_TEST

START_TEST(test_refill_enomem_arena_full)
{
	struct heap_stats before, after;
	uint32_t hog;

	tm_open(&tm, MAXB);
	tm_fill_arena(&hog, 0);
	before = tm_hstats();
	ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0), -ENOMEM);
	after = tm_hstats();
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_eq(after.idle, before.idle);
	ck_assert_uint_eq(after.mag, 0);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 0);
	tm_expect_ring(&tm, 0, 0);
	ck_assert_uint_eq(tm_info(&tm).filled, 0);
	tm_check();
	tm_drop_owner(hog);

	/* Room for two: the ring gets them, and the refill is answered. */
	tm_fill_arena(&hog, 2);
	ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0), 0);
	tm_expect_ring(&tm, 0, 2);
	ck_assert_uint_eq(tm_hstats().idle, 0);
	/* A class with no room at all, while the ring of another has two. */
	ck_assert_int_eq(tm_refill(&tm, 1, PROTO_MAG_EMPTY, tm.t0), -ENOMEM);
	tm_expect_ring(&tm, 1, 0);
	tm_check();
	tm_drop_owner(hog);
	tm_close(&tm);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
	ck_assert_uint_eq(tm_hstats().mag, 0);
}
END_TEST

START_TEST(test_refill_enomem_bound)
{
	/* One byte short of 3 spans of 64 pages. */
	tm_open(&tm, 3 * 64 * PAGE - 1);
	ck_assert_int_eq(tm_refill(&tm, 6, PROTO_MAG_EMPTY, tm.t0), -ENOMEM);
	ck_assert_uint_eq(tm_limit(&tm, 6), 0);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
	tm_grow(&tm, 0, 5, tm.t0);
	ck_assert_uint_eq(tm_limit(&tm, 0), 32);
	tm_expect_ring(&tm, 0, 32);
	ck_assert_uint_le(tm_budget(&tm), 3 * 64 * PAGE - 1);
	tm_close(&tm);
}
END_TEST

/* ---- the stack's surplus */

START_TEST(test_kick_recycles_surplus)
{
	uint64_t a[4], b[4], got[4];
	struct magazine_info mi;

	tm_open(&tm, MAXB);
	tm_grow(&tm, 0, 1, tm.t0);
	tm_take_n(&tm, 0, a, 4);
	tm_kick(&tm, tm.t0);
	tm_expect_n(&tm, 0, a, 4, HEAP_MAG_HELD);
	tm_expect_ring(&tm, 0, 4);
	tm_take_n(&tm, 0, b, 4);
	/* Not synced yet: the heap still says FILL. */
	tm_expect_n(&tm, 0, b, 4, HEAP_MAG_FILL);
	for (int i = 0; i < 4; i++)
		tm_push(&tm, 0, a[i]);
	for (int i = 0; i < 4; i++)
		tm_push(&tm, 0, b[i]);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 8);
	tm_kick(&tm, tm.t0);
	/* The four on top went back into the empty ring; nothing new. */
	ck_assert_uint_eq(tm_stack_count(&tm, 0), 4);
	tm_expect_n(&tm, 0, a, 4, HEAP_MAG_HELD);
	tm_expect_n(&tm, 0, b, 4, HEAP_MAG_FILL);
	tm_expect_ring(&tm, 0, 4);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 8);
	ck_assert_uint_eq(tm_hstats().mag_fill, 4 * PAGE);
	mi = tm_info(&tm);
	ck_assert_uint_eq(mi.returned, 4);
	ck_assert_uint_eq(mi.filled, 12);
	ck_assert_uint_eq(mi.kicks, 2);
	ck_assert_uint_eq(mi.bad, 0);
	/* Newest first off the stack, oldest first out of the ring. */
	tm_take_n(&tm, 0, got, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(got[i], b[3 - i]);
	tm_check();
	tm_close(&tm);
}
END_TEST

START_TEST(test_kick_frees_surplus)
{
	struct heap_stats before, after;
	uint64_t a[12];

	tm_open(&tm, MAXB);
	tm_grow(&tm, 0, 1, tm.t0);
	for (int k = 0; k < 3; k++) {
		tm_take_n(&tm, 0, a + 4 * k, 4);
		tm_kick(&tm, tm.t0);
	}
	tm_expect_n(&tm, 0, a, 12, HEAP_MAG_HELD);
	tm_expect_ring(&tm, 0, 4);
	for (int i = 0; i < 12; i++)
		tm_push(&tm, 0, a[i]);
	before = tm_hstats();
	tm_kick(&tm, tm.t0 + 5);
	after = tm_hstats();
	/* The ring is at its target: 8 over the limit go to the heap. */
	ck_assert_uint_eq(tm_stack_count(&tm, 0), 4);
	tm_expect_n(&tm, 0, a, 4, HEAP_MAG_HELD);
	for (int i = 4; i < 12; i++)
		tm_expect_free(a[i]);
	tm_expect_ring(&tm, 0, 4);
	ck_assert_uint_eq(before.inuse - after.inuse, 8 * PAGE);
	ck_assert_uint_eq(after.idle - before.idle, 8 * PAGE);
	ck_assert_uint_eq(before.mag - after.mag, 8 * PAGE);
	ck_assert_uint_eq(after.mag_fill, before.mag_fill);
	ck_assert_uint_eq(tm_info(&tm).returned, 8);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 8);
	tm_close(&tm);
}
END_TEST

/* ---- ticks */

START_TEST(test_tick_unused_halves)
{
	uint64_t ring[MAG_RING_CAP];
	uint64_t now = tm.t0;

	tm_open(&tm, MAXB);
	now = tm.t0 + SEC;
	tm_grow(&tm, 0, 3, now);
	ck_assert_uint_eq(tm_limit(&tm, 0), 16);
	ck_assert_uint_eq(tm_ring_entries(&tm, 0, ring), 16);
	/* Not used since: halved, and the oldest 8 taken back unused. */
	tm_tick(&tm, now + 1, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 8);
	tm_expect_ring(&tm, 0, 8);
	for (int i = 0; i < 8; i++)
		tm_expect_free(ring[i]);
	tm_expect_n(&tm, 0, ring + 8, 8, HEAP_MAG_FILL);
	ck_assert_uint_eq(tm_info(&tm).revoked, 8);
	ck_assert_uint_eq(tm_hstats().mag_fill, 8 * PAGE);
	tm_tick(&tm, now + 2, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 4);
	tm_expect_ring(&tm, 0, 4);
	/* Used (the client's counters moved): kept. */
	atomic_fetch_add(&tm.r->cls[0].fast_allocs, 1);
	tm_tick(&tm, now + 3, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 4);
	tm_expect_ring(&tm, 0, 4);
	atomic_fetch_add(&tm.r->cls[0].fast_frees, 1);
	tm_tick(&tm, now + 4, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 4);
	/* Another class's use does not keep this one. */
	atomic_fetch_add(&tm.r->cls[3].fast_allocs, 1);
	tm_tick(&tm, now + 5, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 2);
	tm_expect_ring(&tm, 0, 2);
	ck_assert_uint_eq(tm_limit(&tm, 3), 0);
	tm_expect_ring(&tm, 3, 0);
	tm_tick(&tm, now + 6, IDLE_NS);
	tm_tick(&tm, now + 7, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 0);
	tm_expect_ring(&tm, 0, 0);
	ck_assert_uint_eq(tm_info(&tm).revoked, 16);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
	tm_close(&tm);
}
END_TEST

START_TEST(test_tick_idle_gives_back)
{
	struct heap_cursor cur = { 0, 0 };
	struct heap_stats s;
	struct heap_take t;
	struct heap *h;
	uint64_t held[3], t1, t2, now, pages = 0;
	unsigned int runs = 0;

	tm_open(&tm, MAXB);
	t1 = tm.t0 + SEC;
	tm_grow(&tm, 0, 1, t1);
	tm_grow(&tm, 2, 2, t1);
	tm_take_n(&tm, 0, held, 3);
	tm_kick(&tm, t1 + 1);
	tm_push(&tm, 0, held[2]);
	tm_expect_ring(&tm, 0, 4);
	tm_expect_ring(&tm, 2, 8);
	/*
	 * Used just before the delay: the tick that saw it is its last use.
	 * Class 2, unused, is halved then (4 spans back, freed at t2).
	 */
	atomic_fetch_add(&tm.r->cls[0].fast_allocs, 3);
	t2 = t1 + IDLE_NS - 1;
	tm_tick(&tm, t2, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 4);
	ck_assert_uint_eq(tm_limit(&tm, 2), 4);
	tm_expect_ring(&tm, 2, 4);
	now = t2 + IDLE_NS;
	tm_tick(&tm, now, IDLE_NS);
	/* Idle: every class at 0, every cached span back to the heap. */
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		ck_assert_uint_eq(tm_limit(&tm, c), 0);
		tm_expect_ring(&tm, c, 0);
		ck_assert_uint_eq(tm_stack_count(&tm, c), 0);
	}
	tm_expect_free(held[2]);
	tm_expect_n(&tm, 0, held, 2, HEAP_MAG_HELD);
	s = tm_hstats();
	ck_assert_uint_eq(s.inuse, 2 * PAGE);
	ck_assert_uint_eq(s.mag, 2 * PAGE);
	ck_assert_uint_eq(s.mag_fill, 0);
	ck_assert_uint_eq(tm_info(&tm).cached, 0);
	tm_check();

	/*
	 * The scavenger's view: every dirty free page is unused since a
	 * time no later than the client's last use, so none is old enough
	 * for a delay of (now - last use) ...
	 */
	daemon_heap_lock(&tm_d.core);
	h = tm_d.core.heap;
	ck_assert(!heap_scavenge_take(h, now, IDLE_NS, 1024, &cur, &t));
	/* ... and the spans given back at the idle tick are exactly that. */
	while (heap_scavenge_take(h, now, IDLE_NS - 1, 1024, &cur, &t)) {
		runs++;
		pages += t.npages;
		ck_assert_msg(t.unusedsince == t2,
			      "%llu pages unused since %llu, not %llu",
			      (unsigned long long)t.npages,
			      (unsigned long long)t.unusedsince,
			      (unsigned long long)t2);
		heap_scavenge_return(h, &t, heap_release_taken(h, &t), &cur);
	}
	daemon_heap_unlock(&tm_d.core);
	/* Ring and stack of class 0, both rings of class 2. */
	ck_assert_uint_ge(runs, 1);
	ck_assert_uint_eq(pages, 4 + 1 + 4 * 4 + 4 * 4);
	s = tm_hstats();
	ck_assert_uint_eq(s.idle, s.released);
	tm_close(&tm);
}
END_TEST

/* ---- revoke */

START_TEST(test_revoke_on_target_drop)
{
	uint64_t ring[MAG_RING_CAP], off;

	tm_open(&tm, MAXB);
	tm_grow(&tm, 1, 3, tm.t0);
	ck_assert_uint_eq(tm_ring_entries(&tm, 1, ring), 16);
	tm_tick(&tm, tm.t0 + 1, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 1), 8);
	for (int i = 0; i < 8; i++)
		tm_expect_free(ring[i]);
	/* The client gets exactly the eight left, in order, and no more. */
	for (int i = 8; i < 16; i++) {
		ck_assert_uint_eq(tm_take(&tm, 1), ring[i]);
		tm_expect_state(&tm, 1, ring[i], HEAP_MAG_FILL);
	}
	ck_assert_int_eq(mag_fill_take(&tm.r->cls[1].fill, &off), -EAGAIN);
	tm_sync(&tm);
	tm_expect_n(&tm, 1, ring + 8, 8, HEAP_MAG_HELD);
	ck_assert_uint_eq(tm_hstats().inuse, 16 * PAGE);
	ck_assert_uint_eq(tm_info(&tm).revoked, 8);
	tm_close(&tm);
}
END_TEST

/*
 * The client took some since the daemon last looked: the revoke counts
 * them as taken, and takes back only what is left over the target.
 */
START_TEST(test_revoke_after_unsynced_take)
{
	uint64_t ring[MAG_RING_CAP], got[3];

	tm_open(&tm, MAXB);
	tm_grow(&tm, 0, 2, tm.t0);
	ck_assert_uint_eq(tm_ring_entries(&tm, 0, ring), 8);
	tm_take_n(&tm, 0, got, 3);
	tm_tick(&tm, tm.t0 + 1, IDLE_NS);
	ck_assert_uint_eq(tm_limit(&tm, 0), 4);
	tm_expect_n(&tm, 0, got, 3, HEAP_MAG_HELD);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(got[i], ring[i]);
	tm_expect_free(ring[3]);
	tm_expect_ring(&tm, 0, 4);
	for (int i = 4; i < 8; i++)
		ck_assert_uint_eq(tm_take(&tm, 0), ring[i]);
	ck_assert_uint_eq(tm_info(&tm).revoked, 1);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 7);
	tm_close(&tm);
}
END_TEST

/* ---- a client's takes racing the daemon's revokes, on two threads */

struct racer {
	struct mag_ring *ring;
	atomic_bool stop;
	atomic_uint n;		/* entries of @got so far */
	unsigned int pause;	/* spins between two takes */
	uint64_t got[MAG_RING_CAP];
};

/*
 * The client: takes, with a pause between takes so that a revoke of the
 * whole ring overlaps them, until told to stop and the ring is empty.
 */
static void *race_take(void *arg)
{
	struct racer *rc = arg;

	for (;;) {
		unsigned int n = atomic_load(&rc->n);
		uint64_t off;
		int r = mag_fill_take(rc->ring, &off);

		if (r == 0 && n == MAG_RING_CAP)
			ck_abort_msg("took more than a ring holds");
		if (r == 0) {
			rc->got[n] = off;
			atomic_store(&rc->n, n + 1);
		} else if (atomic_load(&rc->stop)) {
			break;
		}
		for (volatile unsigned int i = 0; i < rc->pause; i++)
			;
	}
	return NULL;
}

START_TEST(test_take_races_revoke)
{
	uint64_t now, seed = test_seed("race");
	unsigned int taken = 0, revoked = 0;

	tm_open(&tm, MAXB);
	now = tm.t0 + SEC;
	for (int round = 0; round < 300; round++) {
		struct racer rc = { .ring = &tm.r->cls[0].fill };
		unsigned int first = (unsigned int)(test_rand(&seed) % 8);
		struct magazine_info before, mi;
		uint64_t ring[MAG_RING_CAP];
		uint32_t n;
		pthread_t th;

		now += 10;
		tm_grow(&tm, 0, 4, now);
		before = tm_info(&tm);
		n = tm_ring_entries(&tm, 0, ring);
		ck_assert_uint_eq(n, 32);
		rc.pause = (unsigned int)(test_rand(&seed) % 4000);
		ck_assert_int_eq(pthread_create(&th, NULL, race_take, &rc), 0);
		/* Let it begin, so that it takes while the daemon revokes. */
		while (atomic_load(&rc.n) < first)
			;
		/* Odd rounds halve the target, even ones find it idle. */
		tm_tick(&tm, now + 5, round & 1 ? IDLE_NS : 1);
		atomic_store(&rc.stop, true);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		tm_sync(&tm);
		/* What the client took is its own (HELD), each once. */
		for (unsigned int j = 0; j < rc.n; j++) {
			tm_expect_state(&tm, 0, rc.got[j], HEAP_MAG_HELD);
			for (unsigned int k = 0; k < j; k++)
				ck_assert_uint_ne(rc.got[j], rc.got[k]);
		}
		/* The rest were taken back, or (halved) are in the ring. */
		for (uint32_t i = 0; i < n; i++) {
			bool mine = false;

			for (unsigned int j = 0; j < rc.n; j++)
				mine = mine || rc.got[j] == ring[i];
			if (!mine && tm_state(ring[i], NULL, NULL) != -1) {
				ck_assert_int_eq(round & 1, 1);
				tm_expect_state(&tm, 0, ring[i], HEAP_MAG_FILL);
			}
		}
		mi = tm_info(&tm);
		ck_assert_uint_eq(rc.n + tm_ring_count(&tm, 0) +
				  (mi.revoked - before.revoked),
				  n + (mi.filled - before.filled));
		taken += rc.n;
		revoked += (unsigned int)(mi.revoked - before.revoked);
		/* The client frees what it took, through the socket. */
		daemon_heap_lock(&tm_d.core);
		for (unsigned int j = 0; j < rc.n; j++)
			ck_assert_int_eq(heap_free(tm_d.core.heap, rc.got[j],
						   tm.owner, now),
					 0);
		daemon_heap_unlock(&tm_d.core);
		/* What is left in the ring goes too. */
		tm_tick(&tm, now + 6, 1);
		ck_assert_uint_eq(tm_hstats().inuse, 0);
	}
	tm_check();
	tm_close(&tm);
	/* Printed, to see that both sides won some. */
	fprintf(stderr, "race: %u taken, %u revoked\n", taken, revoked);
}
END_TEST

/* ---- its end */

START_TEST(test_free_marks_dead)
{
	uint64_t a[2];
	struct mag_region *r;

	tm_open(&tm, MAXB);
	tm_grow(&tm, 0, 1, tm.t0);
	tm_take_n(&tm, 0, a, 2);
	tm_kick(&tm, tm.t0);
	ck_assert_uint_eq(atomic_load(&tm.r->st.flags), 0);
	magazine_free(tm.m);
	tm.m = NULL;
	r = tm.r;
	/* The client, still mapped, sees it stopped. */
	ck_assert(atomic_load(&r->st.flags) & MAG_F_DEAD);
	/* Its spans stay the owner's, FILL and HELD alike, until freed. */
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 6);
	ck_assert_uint_eq(tm_hstats().mag, 6 * PAGE);
	ck_assert_uint_eq(tm_hstats().mag_fill, 4 * PAGE);
	daemon_heap_lock(&tm_d.core);
	ck_assert_uint_eq(heap_free_owner(tm_d.core.heap, tm.owner,
					  daemon_now()),
			  6);
	ck_assert_int_eq(heap_owner_remove(tm_d.core.heap, tm.owner), 0);
	daemon_heap_unlock(&tm_d.core);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
	ck_assert_uint_eq(tm_hstats().mag, 0);
	ck_assert_uint_eq(tm_hstats().mag_fill, 0);
	munmap(r, tm.size);
	/* NULL is none. */
	magazine_free(NULL);
}
END_TEST

static Suite *magazine_suite(void)
{
	Suite *s = suite_create("daemon-magazine");
	TCase *tc;

	tc = tcase_create("refill");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_refill_doubles_to_max);
	tcase_add_test(tc, test_refill_bounded_by_max_bytes);
	tcase_add_test(tc, test_refill_full_takes_surplus);
	tcase_add_test(tc, test_refill_enomem_arena_full);
	tcase_add_test(tc, test_refill_enomem_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("surplus");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_kick_recycles_surplus);
	tcase_add_test(tc, test_kick_frees_surplus);
	suite_add_tcase(s, tc);

	tc = tcase_create("tick");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_tick_unused_halves);
	tcase_add_test(tc, test_tick_idle_gives_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("revoke");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_revoke_on_target_drop);
	tcase_add_test(tc, test_revoke_after_unsynced_take);
	suite_add_tcase(s, tc);

	/* Two threads: memcheck runs them one at a time; left to TSan. */
	tc = tcase_create("race");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_take_races_revoke);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_free_marks_dead);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_suite)
