/* SPDX-License-Identifier: MIT */
/*
 * The scavenger's decisions and bookkeeping; see scav.c for the design.
 * Pure: it reads time only through the clock it is given and releases
 * memory only through the heap's release hook, so its tests never sleep
 * and need no memfd.  Not thread-safe: callers serialise, and hold the
 * heap's lock around the calls that take a heap.
 */
#ifndef SPANHEAP_SHM_SCAV_H
#define SPANHEAP_SHM_SCAV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"
#include "scav_paced.h"

#define SCAV_PAUSES 256		/* GC pauses remembered, as the seed's */
#define SCAV_CHUNK_DEFAULT (UINT64_C(4) << 20)
/* Stray pages punched per hold of the heap lock (~0.2 ms here). */
#define SCAV_STRAY_CHUNK (UINT64_C(1) << 20)
/* The blind sweep's punches grow to this while they free nothing. */
#define SCAV_BLIND_CHUNK_MAX (UINT64_C(8) << 20)
/* Departed clients' page ranges queued at most; more are coalesced. */
#define SCAV_DEPARTED_MAX 32

/* Pages [page, page + npages) of the arena. */
struct scav_range {
	uint64_t page;
	uint64_t npages;
};

struct scav_config {
	uint64_t scavenge_after_ns;	/* release spans free longer than this */
	uint64_t gc_after_ns;		/* force a GC when none ran this long */
	uint64_t chunk_bytes;		/* release at most this much per step */
	uint64_t (*now)(void *ctx);	/* the clock, in ns */
	void *clock_ctx;
};

struct scav {
	struct scav_config cfg;
	uint64_t started;		/* clock time at scav_init() */
	/* GC pass statistics, in the seed's MemStats terms */
	uint64_t last_gc;		/* clock time of the last pass, 0: none */
	uint64_t num_gc;
	uint64_t forced_gc;
	uint64_t pause_total_ns;
	uint64_t pause_ns[SCAV_PAUSES];	/* pass n's pause at n % SCAV_PAUSES */
	/* scavenger statistics */
	uint64_t ticks;			/* the N of the scvgN trace lines */
	uint64_t passes;		/* release passes completed */
	uint64_t released_total;	/* bytes, by passes and on demand */
	uint64_t released_last;		/* bytes, by the last completed pass */
	uint64_t time_ns;		/* spent releasing */
	uint64_t forced_releases;	/* on-demand releases (SCAVENGE) */
	uint64_t release_errors;	/* runs whose release failed */
	int last_release_error;		/* -errno of the last one */
	uint64_t stray_total;		/* stray bytes found and released */
	uint64_t stray_last;		/* by the last completed sweep */
	uint64_t departed_total;	/* bytes departed clients held, released */
	/* departed clients' ranges, waiting for scav_departed_run() */
	unsigned int ndeparted;
	struct scav_range departed[SCAV_DEPARTED_MAX];
	/* the pass in progress */
	bool cancel;			/* end passes at the next run */
	bool in_pass;
	bool forced;
	struct heap_cursor cursor;
	uint64_t released_pass;
	uint64_t stray_pass;
	/* --scavenge-policy=paced: scav_paced_init(), see scav_paced.c */
	struct scav_paced paced;
};

/** scav_init() - start with no GC yet; the first is due gc_after from now. */
void scav_init(struct scav *s, const struct scav_config *cfg);

/** scav_tick_ns() - the timer period: min(gc_after, scavenge_after) / 2. */
uint64_t scav_tick_ns(const struct scav_config *cfg);

/** scav_gc_due() - true when no GC pass ran for longer than gc_after. */
bool scav_gc_due(const struct scav *s);

/** scav_gc_record() - account a GC pass that ran from @start to @end. */
void scav_gc_record(struct scav *s, uint64_t start, uint64_t end, bool forced);

/**
 * scav_pause_recent() - copy up to @n most recent GC pauses, oldest first.
 * Return: how many were copied.
 */
size_t scav_pause_recent(const struct scav *s, uint64_t *out, size_t n);

/** scav_pass_begin() - start a pass over the whole heap. Heap lock held.
 * @forced: release every free span, whatever its age (the seed's
 *	debug.FreeOSMemory), instead of those free for scavenge_after.
 */
void scav_pass_begin(struct scav *s, bool forced);

/**
 * scav_pass_take() - the next run of at most chunk_bytes to release.
 * Heap lock held.
 * Return: true and the run in @t; false when the pass is over, and then
 * its statistics are recorded.
 */
bool scav_pass_take(struct scav *s, struct heap *h, struct heap_take *t);

/**
 * scav_pass_return() - account run @t, whose release returned @result
 * and took @ns, and give it back to the heap.  Heap lock held.
 */
void scav_pass_return(struct scav *s, struct heap *h,
		      const struct heap_take *t, int result, uint64_t ns);

/**
 * scav_pass_run() - a whole pass: take, release and return each run, the
 * release without the lock; then a stray sweep (scav_sweep_run()).
 * @lock and @unlock (with @ctx) guard every other step.
 * Return: the bytes the pass released from free spans (strays are not
 * counted here, but in stray_last).
 */
uint64_t scav_pass_run(struct scav *s, struct heap *h, bool forced,
		       void (*lock)(void *), void (*unlock)(void *),
		       void *ctx);

/**
 * scav_sweep_run() - find stray pages and release them.
 *
 * Walks the arena's data extents (heap_next_data(), without the lock)
 * and releases the stray runs among them (heap_stray_next()) under the
 * lock, at most SCAV_STRAY_CHUNK per hold: memory a client wrote outside
 * its spans goes back to the kernel, at a cost that follows the extents
 * that hold memory, not the arena.  Then, if the arena still holds more
 * than the heap's consumed bytes (heap_resident()), pages fallocate()d
 * and never written are there: every page that may be stray is punched,
 * a chunk per hold of the lock.  A sweep that completes sets stray_last.
 * Return: the stray bytes it released.
 */
uint64_t scav_sweep_run(struct scav *s, struct heap *h, void (*lock)(void *),
			void (*unlock)(void *), void *ctx);

/**
 * scav_departed_add() - queue the pages a departed client held.  Heap
 * lock held.  Adjacent ranges coalesce; once SCAV_DEPARTED_MAX are
 * queued a new one widens the last to cover both, so the queue stays
 * bounded (and what is released stays free pages only).
 */
void scav_departed_add(struct scav *s, uint64_t page, uint64_t npages);

/**
 * scav_departed_run() - release the unreleased free pages of the queued
 * ranges now, whatever their age, by take, release without the lock and
 * return, as a pass does (heap_scavenge_take_range()).
 * Return: the bytes released.
 */
uint64_t scav_departed_run(struct scav *s, struct heap *h,
			   void (*lock)(void *), void (*unlock)(void *),
			   void *ctx);

/* The seed's trace lines, byte for byte (no newline); snprintf's return. */
int scav_trace_forced(char *buf, size_t len, uint64_t k);
int scav_trace_released(char *buf, size_t len, uint64_t k, uint64_t bytes);
int scav_trace_summary(char *buf, size_t len, uint64_t k,
		       const struct heap_stats *st);

#endif
