/* SPDX-License-Identifier: MIT */
/*
 * The daemon's core: the heap, the one lock that guards it, and the
 * clock.  The loop thread and the scavenger thread share the heap (its
 * metadata holds every client's owner record, and will hold the object
 * table), so every use of it holds heap_lock, and a function named
 * *_locked checks on entry that its caller does (daemon_assert_locked()).
 * The lock also guards the scavenger's statistics (scavenger.h).
 *
 * This file is the leaf of daemon/: it includes nothing else of it, and
 * every other file may use it.  Its functions keep the daemon_ prefix,
 * the names they have had since the first day: they are the daemon's
 * lock and clock, not this file's.
 */
#ifndef SPANHEAPD_CORE_H
#define SPANHEAPD_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct heap;

struct core {
	pthread_mutex_t heap_lock;
	pthread_t holder;	/* valid while locked */
	bool locked;		/* GUARDED_BY(heap_lock) */
	struct heap *heap;	/* set once; its contents GUARDED_BY(heap_lock) */
};

/** core_init() - an unlocked core without a heap yet; it cannot fail. */
void core_init(struct core *core);

/** core_fini() - destroy the lock; the heap is its maker's to detach. */
void core_fini(struct core *core);

/** daemon_now() - CLOCK_MONOTONIC in ns: the clock of the heap's times. */
uint64_t daemon_now(void);

/** daemon_heap_lock() - take the heap lock, and note who holds it. */
void daemon_heap_lock(struct core *core);

/** daemon_heap_unlock() - give it back; aborts unless we hold it. */
void daemon_heap_unlock(struct core *core);

/**
 * daemon_assert_locked() - abort unless this thread holds the heap lock.
 * Every *_locked function of daemon/ calls it first.
 */
void daemon_assert_locked(const struct core *core);

#endif
