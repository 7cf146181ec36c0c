/* SPDX-License-Identifier: MIT */
/*
 * Shared objects in the daemon (objects.c): the requests on the heap's
 * object table (shm/object.h), under the heap lock, and the gets that
 * wait for an object to be sealed.
 *
 * A wait belongs to one request of one connection (@waiter, opaque here)
 * and ends exactly once: woken by the seal of its name, timed out, or
 * cancelled (objects_wait_cancel()) when its connection goes.  The first
 * two answer through the woken hook; a cancelled wait answers nothing.
 * While a connection waits its requests are not read, so it has at most
 * one wait, and the waits of the daemon are at most its connections
 * (--max-clients): the memory they cost is bounded by the clients'.
 *
 * Eviction (objects_evict_locked()) deletes evictable objects that
 * nobody holds, the least recently used first, for the memory limit's
 * allocations: the heap keeps the list and counts them (shm/object.h),
 * the daemon decides when and logs each one.
 *
 * A part below the connection code (see daemon.h): it includes core.h,
 * log.h and scavenger.h, and tells the connection code through its hook.
 * Loop thread only.
 */
#ifndef SPANHEAPD_OBJECTS_H
#define SPANHEAPD_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "core.h"
#include "log.h"
#include "shm/object.h"

struct event_base;
struct scavenger;
struct obj_wait;

struct objects_hooks {
	/*
	 * The wait of @waiter for its request @seq has its answer: 0 and
	 * @info (the reference is taken, for the waiter's owner), or
	 * -ETIMEDOUT, or the error the get met at the seal (-ENOSPC...).
	 * The wait is gone when this is called.
	 */
	void (*woken)(void *ctx, void *waiter, uint32_t seq, int status,
		      const struct heap_obj_info *info);
	/*
	 * The same answer, before: under the heap lock, in the transaction
	 * of the reference it took (for the waiter's session record); may
	 * be NULL.
	 */
	void (*record)(void *ctx, void *waiter, uint32_t seq, int status,
		       const struct heap_obj_info *info);
	void *ctx;
};

struct objects {
	struct core *core;
	struct event_base *base;
	struct scavenger *scav;		/* releases what departed owners free */
	struct objects_hooks hooks;
	TAILQ_HEAD(, obj_wait) waits;	/* in the order they began */
	unsigned int nwaits;
	uint64_t woken;			/* waits ended by a seal */
	uint64_t timeouts;		/* waits ended by their time */
	uint64_t changes;		/* what MemStats shows moved; only grows */
	struct log_limit log_evict;	/* the evictions' info lines */
};

/** objects_init() - no waits yet, over @core's heap. */
void objects_init(struct objects *o, struct core *core,
		  struct event_base *base, struct scavenger *scav,
		  const struct objects_hooks *hooks);

/** objects_fini() - at exit, once every connection is gone. */
void objects_fini(struct objects *o);

/** objects_create() - heap_obj_create() for @owner, now. */
int objects_create(struct objects *o, uint32_t owner,
		   const struct heap_obj_new *req, struct heap_obj_info *ret);

/**
 * objects_seal() - heap_obj_seal(), then every get waiting for the
 * object's name takes its reference and is answered (hooks.woken), in
 * the order the waits began.
 */
int objects_seal(struct objects *o, uint32_t owner, uint64_t id);

/**
 * objects_get() - a reference for @owner to the sealed object @name.
 * @timeout_ms: if there is none (or it is OPEN): 0 answers -ENOENT;
 *	otherwise a wait begins, for up to @timeout_ms (forever if < 0).
 * @waiter, @seq: who waits, told to hooks.woken.
 * @ret_wait: the wait begun.
 *
 * Return: 0 and @ret; -EINPROGRESS and @ret_wait; or -errno (-EINVAL
 * for a bad name, -ENOENT, -ENOSPC, -ENOMEM for a wait not made).
 */
int objects_get(struct objects *o, uint32_t owner, const char *name,
		size_t len, int32_t timeout_ms, void *waiter, uint32_t seq,
		struct obj_wait **ret_wait, struct heap_obj_info *ret);

/** objects_release() - heap_obj_release() for @owner, now. */
int objects_release(struct objects *o, uint32_t owner, uint64_t id);

/** objects_delete() - heap_obj_delete() as @uid, now. */
int objects_delete(struct objects *o, const char *name, size_t len,
		   uint32_t uid);

/*
 * The same under the caller's heap lock and in its transaction (a
 * mutating request and its record, dispatch.c).  A seal's waiters are
 * woken after, without the lock: objects_wake() with the sealed
 * object's @ret.
 */
int objects_create_locked(struct objects *o, uint32_t owner,
			  const struct heap_obj_new *req,
			  struct heap_obj_info *ret);
int objects_seal_locked(struct objects *o, uint32_t owner, uint64_t id,
			struct heap_obj_info *ret);
void objects_wake(struct objects *o, const struct heap_obj_info *obj);
int objects_get_locked(struct objects *o, uint32_t owner, const char *name,
		       size_t len, int32_t timeout_ms, void *waiter,
		       uint32_t seq, struct obj_wait **ret_wait,
		       struct heap_obj_info *ret);
int objects_release_locked(struct objects *o, uint32_t owner, uint64_t id);
int objects_delete_locked(struct objects *o, const char *name, size_t len,
			  uint32_t uid);

/**
 * objects_evict_locked() - evict, the least recently used first, until
 * @need_bytes of the evicted objects' spans are free or no candidate is
 * left (heap_obj_evict(): only evictable objects, sealed and held by
 * nobody).
 * @need_bytes: bytes of spans wanted; 0 evicts nothing.
 * @ret_bytes: if not NULL, the bytes of the spans freed (whole pages).
 * @ret_count: if not NULL, the objects evicted.
 *
 * The spans go back to the heap as any span freed: free and dirty, for
 * the next allocation or the scavenger.  Each eviction is logged at info
 * level (rate limited) and counted in the heap's metadata (MemStats'
 * objects.evicted and evicted_bytes, which so outlive restarts).
 *
 * Each eviction is one heap transaction of about 90 journal words, so
 * that outside a transaction any number fit, one at a time.  Inside the
 * caller's (a request's), they add up: the journal holds 64 heap calls
 * of 512 words (shm/heap_internal.h), so such a caller evicts a bounded
 * number, or commits first and evicts between transactions.
 *
 * Evictions are not undone, so @ret_bytes and @ret_count are written
 * whatever the result.  Return: 0 if @need_bytes were freed; -ENOENT if
 * the candidates ran out first (what was evicted stays evicted).
 */
int objects_evict_locked(struct objects *o, uint64_t need_bytes,
			 uint64_t *ret_bytes, uint64_t *ret_count);

/** objects_wait_cancel() - end @w unanswered: its connection is gone. */
void objects_wait_cancel(struct objects *o, struct obj_wait *w);

/**
 * objects_owner_gone_locked() - the connection of @owner is going: drop
 * its references and abort its OPEN objects (heap_obj_owner_gone()); the
 * spans that frees are queued for the scavenger to release at once, as
 * a departed client's own are.  Return: the pages freed.
 */
uint64_t objects_owner_gone_locked(struct objects *o, uint32_t owner);

/**
 * objects_page() - the objects after cursor @after, at most @max, as the
 * JSON of an OBJECTS reply: {"objects": [...], "next": N}.  A new
 * reference; NULL if out of memory.
 */
struct json_t;
struct json_t *objects_page_json(struct objects *o, uint64_t after,
				 uint32_t max);

/** objects_json_locked() - MemStats' "objects" block. */
struct json_t *objects_json_locked(const struct objects *o);

#endif
