/* SPDX-License-Identifier: MIT */
/*
 * One client's magazine (magazine.c): the daemon's side of the region of
 * proto/magazine.h, which hands the client spans of the small classes
 * without a round trip.  It owns the region's memfd and mapping and its
 * own record of what it put in each fill ring; the spans themselves are
 * the client's heap owner's, marked in the heap (HEAP_MAG_FILL while in
 * the fill ring, HEAP_MAG_HELD once the client took them).
 *
 * Every call but magazine_new() and magazine_free() wants the heap lock;
 * none waits on, or trusts, anything the client can write.  Loop thread.
 *
 * Transactions: each call runs its own heap transactions (see the design
 * in magazine.c) and writes the region only after each has ended.  So
 * magazine_kick_locked(), magazine_refill_locked() and
 * magazine_tick_locked(), which write the region, must not be called
 * inside a transaction of the caller's: it would hold theirs open while
 * the region shows what a death could undo.  magazine_sync_locked() and
 * magazine_resume_locked() write no region and may be.
 */
#ifndef SPANHEAPD_MAGAZINE_H
#define SPANHEAPD_MAGAZINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/magazine.h"

struct core;
struct log_limit;
struct magazine;

/*
 * The largest adaptive target of a class, in spans.  A class's fill ring
 * is topped up to its target and its stack's limit is the target, up to
 * twice which the library pushes before it waits: so a class holds at
 * most 3 x target spans, which is what the cache bound is reckoned on.
 */
#define MAGAZINE_TARGET_MAX (MAG_STACK_CAP / 2)
/* A class that ran dry for the first time gets this many spans. */
#define MAGAZINE_TARGET_FIRST 4

/*
 * The bytes of the durable record of one owner's magazine (the fill
 * rings' cursors and what the daemon put in each slot): the caller's
 * area, durable_mag_area() in the metadata memfd, so that a restarted
 * daemon knows exactly which spans sit where (magazine.c).
 */
#define MAGAZINE_AREA_BYTES 4096

/* What MemStats shows of one magazine, or of all of them added up. */
struct magazine_info {
	uint64_t cached;	/* bytes in its fill rings, and of the spans
				 * its return stacks hold (each checked) */
	uint64_t fast_allocs;	/* the client's counters: stats only */
	uint64_t fast_frees;
	uint64_t filled;	/* spans put into fill rings */
	uint64_t returned;	/* valid spans taken back from return stacks */
	uint64_t revoked;	/* spans taken back unused from fill rings */
	uint64_t refills;	/* MAG_REFILL requests: the client waited */
	uint64_t kicks;		/* MAG_KICK messages */
	uint64_t bad;		/* invalid entries, and corrupt indices */
	uint64_t resumed;	/* magazines resumed after a restart */
	uint64_t resume_freed;	/* spans freed at resume: not taken */
	uint64_t resume_held;	/* spans marked HELD at resume: taken */
	bool dead;		/* no longer served */
};

/**
 * magazine_new() - a region for client @client_id, whose heap owner is
 * @owner and whose process is @pid, that may cache up to @max_bytes.
 * Bad entries are logged once per magazine, all magazines' under @log.
 * @area: MAGAZINE_AREA_BYTES of the metadata memory the heap was given
 *	(durable_mag_area() of @owner), 8-byte aligned, where the
 *	magazine keeps its record of the fill rings, logged through the
 *	heap's journal; written whole here (after a resume of @owner, the
 *	resume's figures are kept for the stats first).  NULL: a private
 *	allocation that does not survive the process, and is not logged.
 *	A record of @owner that still holds FILL spans (an earlier magazine
 *	of the owner's, whose connection broke) must be settled first by
 *	magazine_resume_locked(): written anew, it forgets them, and they
 *	stay the owner's, unusable, until it goes.
 *
 * Takes the heap lock itself: the caller must not hold it.
 *
 * Return: 0, or -errno from memfd_create(), ftruncate(), mmap() or the
 * seals (logged by the caller), -ENOMEM.
 */
int magazine_new(struct core *core, uint32_t owner, uint32_t client_id,
		 pid_t pid, uint64_t max_bytes, struct log_limit *log,
		 void *area, struct magazine **ret);

/**
 * magazine_resume_locked() - settle the magazine of @owner, whose
 * daemon died, from its durable record in @mag_area, before the owner
 * gets a new region.
 * @took: per class, the old fill ring's tail just after the client's
 *	own last take (0 if it never took), as its library reported it.
 *
 * For each class, the FILL spans at ring indices [max(seen, took), head)
 * of the record were never taken: they are freed.  Every other FILL
 * span of the record ([seen, that)) was taken by the client: it becomes
 * HELD, the client's as any span it took.  Then the record is reset, so
 * that the new region starts at index 0 and a second resume with the
 * same @took (the daemon died again meanwhile) changes nothing more.
 * A @took[c] outside [seen, head] is clamped, never refused: behind
 * seen (the daemon revoked what came after the client's last take) to
 * seen, past head (no honest client: it cannot take what was never
 * produced) to head, so that such a client keeps, as HELD, spans it may
 * not know of; they are freed when it goes.  O(the record's spans).
 *
 * Return: 0; -ENOENT, nothing changed, if @mag_area holds no record of
 * @owner (never served through a magazine, or the slot's last user was
 * another owner); -EUCLEAN, nothing changed, if the record is not one
 * the daemon could have written (an impossible cursor, or a slot that
 * is not a FILL span of @owner of its class, or is one twice).
 */
int magazine_resume_locked(struct core *core, uint32_t owner,
			   void *mag_area, const uint32_t took[MAG_NCLASSES]);

/**
 * magazine_free() - stop serving the region (MAG_F_DEAD, for a client
 * still mapped), unmap it and close its fd.  The spans stay the owner's:
 * the caller frees them with the owner (heap_free_owner()).  NULL: none.
 */
void magazine_free(struct magazine *m);

/**
 * magazine_set_room() - fill rings only within @room(@ctx): the bytes the
 * owner may still take (its quotas), called under the heap lock before a
 * ring is topped up.  NULL: no bound but the magazine's own.
 */
void magazine_set_room(struct magazine *m, uint64_t (*room)(void *ctx),
		       void *ctx);

/** magazine_fd() - the region's memfd, to send with the WELCOME. */
int magazine_fd(const struct magazine *m);

/** magazine_size() - its bytes, the WELCOME's mag_size. */
uint32_t magazine_size(const struct magazine *m);

/**
 * magazine_sync_locked() - mark HELD the spans the client took from its
 * fill rings since the last look: before a SPAN_FREE, so that a span it
 * took can be freed through the socket too.
 */
void magazine_sync_locked(struct magazine *m);

/**
 * magazine_kick_locked() - a MAG_KICK: serve every class (take the
 * stacks' surplus, top the fill rings up to their targets).
 */
void magazine_kick_locked(struct magazine *m, uint64_t now);

/**
 * magazine_refill_locked() - a MAG_REFILL of class @cls: with
 * PROTO_MAG_EMPTY the class ran dry, with PROTO_MAG_FULL its stack is
 * full; either way its target doubles (as far as the bound allows), and
 * the class is served.
 *
 * Return: 0; -ENOMEM if the class was to be filled and its fill ring is
 * still empty (the arena, or the client's cache bound, has no room);
 * -ENODEV if the magazine is no longer served.
 */
int magazine_refill_locked(struct magazine *m, uint32_t cls, uint32_t flags,
			   uint64_t now);

/**
 * magazine_tick_locked() - the daemon's tick: a class the client did not
 * use since the last tick halves its target, and every class of a
 * client that used none for @idle_ns goes to 0, its spans back to the
 * heap as free since the client's last use (so the scavenger's delay
 * counts from then); then every class is served.
 */
void magazine_tick_locked(struct magazine *m, uint64_t now, uint64_t idle_ns);

/** magazine_info_add() - add @x's figures to @sum's. */
void magazine_info_add(struct magazine_info *sum,
		       const struct magazine_info *x);

/** magazine_info_locked() - its figures, added to @ret. */
void magazine_info_locked(struct magazine *m, struct magazine_info *ret);

#endif
