/* SPDX-License-Identifier: MIT */
/*
 * Making room under the memory limit (reclaim.c).  An allocation that
 * would take the heap's consumed bytes past --memory-limit (heap_alloc()'s
 * -ENOBUFS) waits here, its connection's reads off, while idle pages are
 * released, whatever their age, then evictable objects are evicted; then
 * it is tried again.  The release runs on the loop in steps of at most
 * RECLAIM_STEP_PAGES, each one take under the heap lock, the punch
 * without it, the return under it: no step holds the lock for a punch or
 * keeps the loop for more than about a millisecond, and between steps the
 * loop serves everyone else.
 *
 * A wait belongs to one request of one connection (@waiter, opaque
 * here), and ends exactly once: answered through hooks.retry at the end
 * of the round it joined, or cancelled when its connection goes.  A
 * round ends when the bytes its waits need were released, or no idle
 * page is left to release; if none was, evictable objects are evicted
 * for them.  hooks.retry says whether the round freed anything: a round
 * that freed nothing is the caller's sign to fail with -ENOMEM.
 *
 * Below the connection code (see daemon.h): it includes core.h and
 * objects.h.  Loop thread only.
 */
#ifndef SPANHEAPD_RECLAIM_H
#define SPANHEAPD_RECLAIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "core.h"
#include "log.h"
#include "shm/heap.h"

struct event;
struct event_base;
struct objects;
struct reclaim_wait;

/* Pages released per step: 1 MiB, about 0.2 ms of punch-hole here. */
#define RECLAIM_STEP_PAGES 256

struct reclaim_hooks {
	/*
	 * The round of @waiter's wait has ended, having released or evicted
	 * something (@progress) or not; the wait is gone.  Called on the
	 * loop, without the heap lock.
	 */
	void (*retry)(void *ctx, void *waiter, bool progress);
	void *ctx;
};

/* What MemStats shows of it. */
struct reclaim_stats {
	uint64_t waits;		/* allocations that waited for room */
	uint64_t rounds;	/* rounds ended */
	uint64_t futile;	/* of those, rounds that freed nothing */
	uint64_t released_bytes; /* released for waits */
	uint64_t evicted;	/* objects evicted for waits */
	uint64_t evicted_bytes;
	uint64_t steps;
	uint64_t step_max_ns;	/* the longest step */
	uint64_t time_ns;	/* in steps */
};

struct reclaim {
	struct core *core;
	struct event_base *base;
	struct objects *objects;
	struct reclaim_hooks hooks;
	struct event *ev_step;
	TAILQ_HEAD(, reclaim_wait) waits;	/* in the order they began */
	unsigned int nwaits;
	/* the round in progress */
	bool in_round;
	uint64_t need;			/* bytes its waits asked for */
	uint64_t released;		/* by it so far */
	struct heap_cursor cursor;
	struct reclaim_stats st;
	struct log_limit log_release;	/* failed releases */
	uint64_t changes;		/* what MemStats shows moved; only grows */
};

/** reclaim_init() - no waits yet.  Return: 0, or -ENOMEM for the event. */
int reclaim_init(struct reclaim *r, struct core *core,
		 struct event_base *base, struct objects *objects,
		 const struct reclaim_hooks *hooks);

/** reclaim_fini() - at exit, once every connection is gone. */
void reclaim_fini(struct reclaim *r);

/**
 * reclaim_wait() - @waiter needs @need more bytes under the limit: wait
 * for the round it joins (the one in progress, or a new one).
 * Return: 0 and @ret, or -ENOMEM for the wait.
 */
int reclaim_wait(struct reclaim *r, void *waiter, uint64_t need,
		 struct reclaim_wait **ret);

/** reclaim_cancel() - end @w unanswered: its connection is gone. */
void reclaim_cancel(struct reclaim *r, struct reclaim_wait *w);

/** reclaim_snapshot() - a copy of the counters. */
void reclaim_snapshot(const struct reclaim *r, struct reclaim_stats *ret);

#endif
