/* SPDX-License-Identifier: MIT */
/*
 * Shared objects: named spans of the heap, created OPEN, SEALED once
 * written, read by reference, deleted by name, that live until deleted
 * and unreferenced, whoever created them.  The table lives in the heap's
 * metadata (heap_config.max_objects, max_refs), so that every handle to
 * the heap sees the same objects; the design and its invariants are in
 * heap_internal.h, "Objects".
 *
 * Like the rest of the heap: no system call, no clock (callers pass @now
 * in ns), no lock (the caller serialises calls over all handles).  Every
 * call returns 0 or -errno, changes nothing on error and writes its
 * outputs only on success.  Owners are heap owners (heap_owner_add()):
 * the daemon's connections.
 *
 * An object created with HEAP_OBJ_EVICTABLE may be taken by the heap's
 * caller when memory is short: once sealed and unreferenced, it waits on
 * an LRU list for heap_obj_evict(), which deletes and frees the one
 * unused longest.  Nothing else is ever evicted.
 */
#ifndef SPANHEAP_SHM_OBJECT_H
#define SPANHEAP_SHM_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

/* Bytes of an object's name, at most. */
#define HEAP_OBJ_NAME_MAX 255

/* heap_obj_new.flags besides HEAP_ALLOC_ZERO (heap.h) */
#define HEAP_OBJ_EVICTABLE 0x100u /* may be evicted once unreferenced */

/* An object's state. */
#define HEAP_OBJ_OPEN 1		/* created, not visible to get */
#define HEAP_OBJ_SEALED 2	/* visible; nobody writes it any more */

/* What heap_obj_create() makes. */
struct heap_obj_new {
	const char *name;	/* heap_obj_name_valid() bytes, no NUL needed */
	size_t len;		/* of @name */
	uint64_t size;		/* bytes, rounded up to pages; > 0 */
	unsigned int flags;	/* HEAP_ALLOC_ZERO, HEAP_OBJ_EVICTABLE */
	uint32_t pid, uid;	/* the creator's, as the caller knows them */
};

/* An object, as heap_obj_lookup() and the rest see it. */
struct heap_obj_info {
	uint64_t id;		/* unique among every object the heap had */
	uint64_t off;		/* arena offset of its span (page aligned) */
	uint64_t size;		/* bytes, as created */
	uint64_t npages;	/* of its span */
	uint64_t refs;		/* references, of every owner */
	uint64_t created;	/* the caller's clock at its creation, ns */
	uint32_t state;		/* HEAP_OBJ_OPEN or HEAP_OBJ_SEALED */
	bool deleted;		/* nameless: it lives while referenced */
	bool evictable;		/* created with HEAP_OBJ_EVICTABLE */
	uint32_t creator;	/* owner id of the creator (maybe gone) */
	uint32_t pid, uid;	/* of the creator */
	char creator_name[HEAP_OWNER_NAME_MAX];	/* its owner's name then */
	uint32_t name_len;
	char name[HEAP_OBJ_NAME_MAX + 1];	/* NUL-terminated */
};

/* The object table's counts. */
struct heap_obj_stats {
	uint64_t open;		/* live OPEN objects */
	uint64_t sealed;	/* live SEALED objects */
	uint64_t deleted;	/* deleted, still referenced */
	uint64_t bytes;		/* sizes of all of them, as created */
	uint64_t pages;		/* their spans' pages */
	uint64_t refs;		/* references held, of every owner */
	uint64_t ref_records;	/* (owner, object) pairs holding them */
	uint64_t max_objects;	/* as formatted */
	uint64_t max_refs;	/* as formatted */
	uint64_t evictable;	/* candidates for eviction now */
	uint64_t evictable_pages; /* their spans' pages */
	uint64_t evicted;	/* objects heap_obj_evict() took, ever */
	uint64_t evicted_pages;	/* their spans' pages */
};

/* What heap_obj_owner_gone() did. */
struct heap_obj_gone {
	uint64_t refs;		/* references dropped */
	uint64_t aborted;	/* OPEN objects of the owner aborted */
	uint64_t freed;		/* objects freed */
	uint64_t pages;		/* their pages */
};

/**
 * heap_obj_name_valid() - is @s a good object name?
 * @s, @len: 1..HEAP_OBJ_NAME_MAX bytes of UTF-8 in its shortest form, no
 *	surrogate and nothing past U+10FFFF, without control characters
 *	(U+0000..U+001F, U+007F..U+009F), so that a tool can print it.
 *
 * The one rule, for the heap, the protocol and the tools alike.
 */
bool heap_obj_name_valid(const char *s, size_t len);

/**
 * heap_obj_create() - make an OPEN object, and a reference to it.
 * @owner: the creator, a live owner: it alone may seal the object, and
 *	holds its one reference.
 * @req: the name, the size, the flags and the creator's pid and uid.
 * @now: the caller's clock, in ns: the object's creation time.
 * @ret: the object, written only on success.
 *
 * The span comes from heap_alloc()'s policy, zeroed with
 * HEAP_ALLOC_ZERO; it counts in use, owned by HEAP_OWNER_OBJECTS.  With
 * HEAP_OBJ_EVICTABLE, once sealed it is a candidate for heap_obj_evict()
 * whenever it holds no reference.
 *
 * Return: 0; -EINVAL for a size of 0 or larger than the arena, a bad
 * name or an unknown flag; -ESRCH if @owner is not live; -EEXIST if a
 * live object has the name; -ENOSPC if the object table or the
 * reference records are full (or the ids are exhausted); -ENOMEM if the
 * arena has no room for the span.
 */
int heap_obj_create(struct heap *h, uint32_t owner,
		    const struct heap_obj_new *req, uint64_t now,
		    struct heap_obj_info *ret);

/**
 * heap_obj_seal() - make the OPEN object @id visible to heap_obj_get().
 * Return: 0; -ENOENT if no object has that id (stale ids included) or it
 * was aborted (deleted while OPEN); -EPERM if @owner did not create it;
 * -EALREADY if it is sealed.
 */
int heap_obj_seal(struct heap *h, uint32_t owner, uint64_t id);

/**
 * heap_obj_get() - take one more reference for @owner to the live,
 * SEALED object named @name (@len bytes).  An evictable object it finds
 * unreferenced leaves the LRU: it can no longer be evicted.
 * Return: 0 and @ret; -EINVAL for a bad name; -ESRCH if @owner is not
 * live; -ENOENT if no live object has the name; -EAGAIN if it is OPEN
 * (the caller may wait for the seal); -ENOSPC if the reference records
 * are full; -EOVERFLOW if @owner holds 2^32 - 1 references to it.
 */
int heap_obj_get(struct heap *h, uint32_t owner, const char *name,
		 size_t len, struct heap_obj_info *ret);

/**
 * heap_obj_release() - drop one of @owner's references to object @id.
 *
 * When it was the last reference of a deleted object, the object's span
 * is freed (at @now) and its record too; of a live, sealed, evictable
 * one, the object joins the LRU as its most recently used.  Releasing
 * the creator's reference to an OPEN object aborts it first (as
 * heap_obj_delete() would): nobody may read it, and nobody else can
 * hold it.
 *
 * Return: 0, or -EINVAL if @owner holds no reference to @id (an unknown
 * or stale id included).
 */
int heap_obj_release(struct heap *h, uint32_t owner, uint64_t id,
		     uint64_t now);

/**
 * heap_obj_delete() - take the name @name from its live object.
 * @uid: the caller's (the peer's) uid: it must be the creator's, or 0.
 *
 * get no longer finds the name, and create may use it again at once.
 * An OPEN object is aborted: it can no longer be sealed.  The object
 * itself is freed (at @now) when it holds no reference, at once or at
 * its last release.
 *
 * Return: 0; -EINVAL for a bad name; -ENOENT if no live object has the
 * name; -EPERM if @uid may not delete it.
 */
int heap_obj_delete(struct heap *h, const char *name, size_t len,
		    uint32_t uid, uint64_t now);

/**
 * heap_obj_owner_gone() - drop every reference of the live owner @owner,
 * which is going: abort its OPEN objects and free (at @now) what that
 * leaves deleted and unreferenced.
 * @fn: if not NULL, told about each span freed (its first page and its
 *	pages) before it is freed, as heap_free_owner_each() does; it must
 *	not call into the heap.
 * @ret: if not NULL, what was done.
 *
 * The owner stays, holding no reference: heap_owner_remove() may follow.
 * O(the owner's reference records), one transaction each (call it
 * outside the caller's transaction, as heap_free_owner()).
 *
 * Return: 0, or -ESRCH if @owner is not live.
 */
int heap_obj_owner_gone(struct heap *h, uint32_t owner, uint64_t now,
			void (*fn)(void *ctx, uint64_t page, uint64_t npages),
			void *ctx, struct heap_obj_gone *ret);

/**
 * heap_obj_evict() - delete and free the least recently used candidate:
 * the evictable, sealed, live, unreferenced object whose last reference
 * went longest ago.
 * @now: the caller's clock, in ns: when its span is freed.
 * @ret: the object as it was before it went, written only on success.
 *
 * Its name is free at once and its span is free at @now, like any span
 * freed (the free hook is told).  An object that is not evictable,
 * OPEN, deleted or referenced is never evicted.  O(1), one transaction.
 *
 * Return: 0, or -ENOENT if there is no candidate.
 */
int heap_obj_evict(struct heap *h, uint64_t now, struct heap_obj_info *ret);

/**
 * heap_obj_set_free_hook() - tell @fn of every object span freed.
 * @fn: called with @ctx, the object's creator (an owner id, maybe gone),
 *	its uid and its span's pages, whenever an object's span is freed:
 *	the last release of a deleted object, a delete, heap_obj_owner_gone(),
 *	an abort, an eviction.  It runs inside the heap call, in its
 *	transaction, and must not call into the heap.  NULL: none.
 *
 * The hook belongs to this handle, not to the metadata: another handle,
 * or this one after heap_attach(), has none until it is set.
 */
void heap_obj_set_free_hook(struct heap *h,
			    void (*fn)(void *ctx, uint32_t creator,
				       uint32_t uid, uint64_t npages),
			    void *ctx);

/**
 * heap_obj_lookup() - the object @id (deleted ones too).
 * Return: 0 and @ret, or -ENOENT if no object has that id.
 */
int heap_obj_lookup(const struct heap *h, uint64_t id,
		    struct heap_obj_info *ret);

/**
 * heap_obj_next() - walk the objects (live and deleted), in no
 * particular order.
 * @cursor: 0 to start; moved past the object returned.  Objects made or
 *	freed during a walk may or may not be seen; the others are, once.
 * Return: true and @ret, or false when there is none left.
 */
bool heap_obj_next(const struct heap *h, uint64_t *cursor,
		   struct heap_obj_info *ret);

/** heap_obj_stats() - fill @ret with the object table's counts. */
void heap_obj_stats(const struct heap *h, struct heap_obj_stats *ret);

#endif
