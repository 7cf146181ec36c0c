/* SPDX-License-Identifier: MIT */
/*
 * The paced policy of the scavenger (--scavenge-policy=paced): keep the
 * heap's retained memory near the recent peak of its in-use memory, and
 * release the rest at a bounded CPU cost.  See scav_paced.c for the
 * design.  Pure, as scav.h: both clocks are the caller's hooks, releases
 * go through the heap's hook, and the caller serialises the calls and
 * holds the heap's lock around those that say so.
 */
#ifndef SPANHEAP_SHM_SCAV_PACED_H
#define SPANHEAP_SHM_SCAV_PACED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

/* Ticks over which the peak of in-use memory is remembered. */
#define SCAV_PEAK_TICKS 16
/* After each step of paced work, no more for this many times its cost. */
#define SCAV_PACED_RATIO 99
/* A step releases this many pages at least and at most (256 KiB, 4 MiB)... */
#define SCAV_PACED_STEP_MIN_PAGES UINT64_C(64)
#define SCAV_PACED_STEP_MAX_PAGES UINT64_C(1024)
/* ...growing while it costs less than half this, shrinking above it. */
#define SCAV_PACED_STEP_NS UINT64_C(1000000)
/* The window of the measured CPU fraction, in buckets of a second. */
#define SCAV_PACED_BUCKET_NS UINT64_C(1000000000)
#define SCAV_PACED_BUCKETS 10
#define SCAV_PACED_WINDOW_NS (SCAV_PACED_BUCKET_NS * SCAV_PACED_BUCKETS)
/* Age tiers of the walk: free longer than tick x this, oldest first. */
#define SCAV_PACED_TIERS 4

struct scav_paced_config {
	unsigned int headroom_pct;	/* goal = peak * (100 + this) / 100 */
	uint64_t tick_ns;		/* the scavenger's tick (scav_tick_ns()) */
	uint64_t (*now)(void *ctx);	/* monotonic wall clock, ns */
	uint64_t (*cpu_now)(void *ctx);	/* the calling thread's CPU time, ns */
	void *clock_ctx;
};

/* Paced work that started in one second of the clock. */
struct scav_paced_bucket {
	uint64_t second;		/* start / SCAV_PACED_BUCKET_NS */
	uint64_t cpu_ns;
	uint64_t wall_ns;
};

/*
 * The policy's state, embedded in struct scav (and guarded as it is).
 * Identities: goal == peak * (100 + headroom_pct) / 100, and
 * peak == max(peak_ring); between two charges no step starts before
 * next_ns.
 */
struct scav_paced {
	struct scav_paced_config cfg;
	bool on;			/* scav_paced_init() was called */
	/* the goal */
	uint64_t peak_ring[SCAV_PEAK_TICKS]; /* largest in-use seen per tick */
	uint64_t tick;			/* ticks seen; slot tick % PEAK_TICKS */
	uint64_t peak;			/* bytes: the largest in the ring */
	uint64_t goal;			/* bytes retained at most */
	uint64_t retained;		/* bytes, sys - released, last seen */
	uint64_t inuse;			/* bytes, last seen */
	/* the pacing */
	uint64_t step_pages;		/* the next step's most */
	uint64_t next_ns;		/* no paced work before this clock time */
	uint64_t first_ns;		/* when the first paced work began */
	bool stalled;			/* nothing to take till the next tick */
	/* the walk, oldest first by tiers */
	unsigned int tier;
	struct heap_cursor cursor;
	/* what it did */
	uint64_t steps;			/* steps that released something */
	uint64_t released_total;	/* bytes */
	uint64_t released_tick;		/* bytes since the last tick */
	uint64_t released_last;		/* bytes in the last whole tick */
	uint64_t cpu_ns;		/* CPU time of all paced work */
	uint64_t wall_ns;		/* wall time of all paced work */
	uint64_t charges;		/* pieces of paced work charged */
	uint64_t cpu_mark;		/* CPU clock at the last charge's end,
					 * plus unpaced work since */
	struct scav_paced_bucket bucket[SCAV_PACED_BUCKETS];
};

struct scav;

/** scav_paced_init() - turn the paced policy on in @s (after scav_init()). */
void scav_paced_init(struct scav *s, const struct scav_paced_config *cfg);

/**
 * scav_paced_observe() - note the heap's figures @st: the in-use bytes
 * count towards this tick's peak, and the goal and excess follow.
 */
void scav_paced_observe(struct scav *s, const struct heap_stats *st);

/**
 * scav_paced_tick() - a scavenger tick: the oldest tick of the window is
 * forgotten, a new one starts with @st's in-use bytes, the walk starts
 * over from the oldest spans and a stalled policy tries again.
 */
void scav_paced_tick(struct scav *s, const struct heap_stats *st);

/**
 * scav_paced_excess() - bytes retained above the goal, as last observed,
 * that a step could release: 0 if within the goal, or stalled (no free
 * page to take till the next tick).
 */
uint64_t scav_paced_excess(const struct scav *s);

/**
 * scav_paced_wait() - ns from @now until paced work may run again: 0 if
 * it may now.
 */
uint64_t scav_paced_wait(const struct scav *s, uint64_t now);

/**
 * scav_paced_take() - the next run to release: at most step_pages and
 * the excess, from the oldest tier of free spans that has any.  Heap lock
 * held.
 * Return: true and the run in @t; false when no free page is left to
 * take (then the policy is stalled till the next tick).
 */
bool scav_paced_take(struct scav *s, struct heap *h, struct heap_take *t);

/**
 * scav_paced_return() - give back run @t, whose release returned
 * @result, and account it.  Heap lock held.
 */
void scav_paced_return(struct scav *s, struct heap *h,
		       const struct heap_take *t, int result);

/**
 * scav_paced_cpu_start() - the CPU clock reading a piece of paced work
 * starts its account from: the end of the last one (what the thread did
 * between two pieces, its waits' system calls included, is charged to
 * the next), or the clock now before any.
 */
uint64_t scav_paced_cpu_start(const struct scav *s);

/**
 * scav_paced_charge() - account paced work that ran from @start to @end
 * (wall clock) and used the CPU from clock reading @cpu_start
 * (scav_paced_cpu_start()) to @cpu_end: no paced work may start before
 * @start plus 1 + SCAV_PACED_RATIO times the larger of its wall and CPU
 * times.  Work other than steps (a stray sweep) is charged so too.
 */
void scav_paced_charge(struct scav *s, uint64_t start, uint64_t end,
		       uint64_t cpu_start, uint64_t cpu_end);

/**
 * scav_paced_unpaced() - @cpu_ns of the thread's CPU since the last
 * charge went to work that is not paced (a forced pass, a departed
 * client's pages): not charged to the next piece.
 */
void scav_paced_unpaced(struct scav *s, uint64_t cpu_ns);

/**
 * scav_paced_step() - one step: observe the heap, take, release without
 * the lock, return, charge; @lock and @unlock (with @ctx) guard the rest.
 * Call it only when scav_paced_wait() says 0.
 * Return: the bytes it released (0 if there was nothing to do, or the
 * release failed).
 */
uint64_t scav_paced_step(struct scav *s, struct heap *h, void (*lock)(void *),
			 void (*unlock)(void *), void *ctx);

/**
 * scav_paced_cpu_fraction() - the CPU the paced work used over the last
 * SCAV_PACED_WINDOW_NS before @now, as a fraction of one CPU, in parts
 * per million.  The span divided by is from the window's start (or the
 * first paced work, if later) to @now or the end of the pacing's wait,
 * whichever is later; so the pacing guarantees at most
 * 1e6 / (1 + SCAV_PACED_RATIO).
 */
uint64_t scav_paced_cpu_ppm(const struct scav *s, uint64_t now);

/**
 * scav_paced_trace() - the paced policy's trace line (no newline), for
 * the tick numbered @k, its fraction at @now; snprintf's return.
 *   scvgK: paced: goal: G, peak: P, retained: R (MB), steps: S, cpu: C ppm
 */
int scav_paced_trace(char *buf, size_t len, uint64_t k, const struct scav *s,
		     uint64_t now);

#endif
