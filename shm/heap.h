/* SPDX-License-Identifier: MIT */
/*
 * The span heap: carves an arena of pages into spans, in the manner of the
 * seed, with exact accounting of released pages.
 *
 * The seed: the Go runtime as of its 2012 change that first gave unused
 * heap memory back to the OS ("runtime: release unused memory to the
 * OS", commit 5c598d3c; ../shared/seed/000_90abe276e8f4814d.txt), its
 * MHeap (malloc.h, mheap.c), its scavenger and its MemStats.  Elsewhere
 * in this tree "the seed" means that.
 *
 * The heap manages page numbers only.  It never touches the arena's
 * memory itself: giving pages back to the OS and zeroing dirty pages go
 * through the caller's hooks (struct heap_ops), so the same code runs over
 * a sealed memfd in the daemon and over plain memory in tests.  Its own
 * state, the metadata, lives in memory the caller maps and hands in
 * (heap_format(), heap_attach()): offsets and page numbers only, no
 * pointers, so a second process, or the same daemon after a restart, can
 * attach to it.  The heap makes no system call, reads no clock (callers
 * pass @now in nanoseconds), logs nothing and takes no lock: the caller
 * serialises all calls on one heap, over all handles to it.
 *
 * See heap_internal.h for the design: span states, the page map, the
 * free index, the magazine marks, the owners and the invariants that
 * heap_check() verifies.
 */
#ifndef SPANHEAP_SHM_HEAP_H
#define SPANHEAP_SHM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HEAP_PAGE_SHIFT 12
#define HEAP_PAGE_SIZE (UINT64_C(1) << HEAP_PAGE_SHIFT)
/* Spans shorter than this many pages have exact free lists. */
#define HEAP_SMALL_PAGES 128
/* Page numbers are 30 bits: an arena holds at most 4 TiB. */
#define HEAP_MAX_PAGES (UINT64_C(1) << 30)
/* The heap grows from the arena at least this many pages at a time. */
#define HEAP_GROW_PAGES (UINT64_C(64) << (20 - HEAP_PAGE_SHIFT))

/* heap_alloc() flags */
#define HEAP_ALLOC_ZERO 0x1u /* the span must read as zeros */

struct heap;

struct heap_ops {
	/*
	 * Give [off, off + len) back to the OS so that it reads as zeros
	 * and holds no memory.  Returns 0 or -errno; on failure the pages
	 * stay counted as not released.
	 */
	int (*release)(void *ctx, uint64_t off, uint64_t len);
	/*
	 * Make [off, off + len) read as zeros, whatever any process wrote
	 * there, at a cost that follows what the range holds.  Must not
	 * fail.
	 */
	void (*zero)(void *ctx, uint64_t off, uint64_t len);
	void *ctx;
	/*
	 * Optional.  The first extent [*ret_start, *ret_end) at or after
	 * @off that holds memory, as the arena itself says (not the heap):
	 * 0, -ENXIO if none, or -errno.  Without it the stray sweep
	 * (heap_stray_next()) finds nothing to look at.
	 */
	int (*next_data)(void *ctx, uint64_t off, uint64_t *ret_start,
			 uint64_t *ret_end);
	/*
	 * Optional.  Bytes of the arena that hold memory, as the kernel
	 * counts them: 0 or -errno.  It also counts pages fallocate()d but
	 * never written, which next_data cannot see.
	 */
	int (*resident)(void *ctx, uint64_t *ret);
	/*
	 * The metadata's hooks, with offsets from the start of the memory
	 * given to heap_format() or heap_attach(); both optional.
	 *
	 * meta_release: give [off, off + len) of the metadata back to the
	 * OS; the range holds only zeros, and must read so afterwards.
	 * Without it, or if it fails, the memory simply stays.
	 *
	 * meta_next_data: as next_data, for the metadata.  heap_check()
	 * reads only the extents it names where the metadata must be zero:
	 * on shared memory a read of a hole allocates a page, and the page
	 * map of a large heap is mostly holes.  Without it, it reads all.
	 */
	int (*meta_release)(void *meta_ctx, uint64_t off, uint64_t len);
	int (*meta_next_data)(void *meta_ctx, uint64_t off,
			      uint64_t *ret_start, uint64_t *ret_end);
	void *meta_ctx;
};

/* Bytes of an owner's name, its NUL included. */
#define HEAP_OWNER_NAME_MAX 64
/* The most owners a heap can be formatted for. */
#define HEAP_OWNERS_MAX ((UINT32_C(1) << 22) - 1)

/*
 * An owner of in-use spans (a client of the daemon), as heap_owner_get()
 * sees it.  Its record lives in the metadata; the heap links its spans
 * together so that all of them can be freed in one call.
 */
struct heap_owner_info {
	uint32_t id;		/* as heap_owner_add() gave it */
	uint64_t key;		/* the caller's, as given to heap_owner_add() */
	uint64_t nspans;	/* in-use spans owned */
	uint64_t npages;	/* pages in those spans */
	uint64_t nrefs;		/* objects it holds references to */
	char name[HEAP_OWNER_NAME_MAX];	/* NUL-terminated */
};

/* What an allocation returns. */
struct heap_span {
	uint64_t off;		/* byte offset of the span in the arena */
	uint64_t npages;	/* pages in the span (== requested) */
	uint64_t npreleased;	/* of those, pages that came released (zero) */
};

/*
 * MemStats of the heap, in bytes, as the seed's MStats.  After every
 * operation: sys == idle + inuse and released <= idle.
 */
struct heap_stats {
	uint64_t arena_size;	/* bytes the arena can hold */
	uint64_t sys;		/* bytes grown from the arena */
	uint64_t idle;		/* bytes in free spans */
	uint64_t inuse;		/* bytes in in-use spans */
	uint64_t released;	/* bytes of free spans given back to the OS */
	uint64_t objects;	/* in-use spans */
	uint64_t free_spans;	/* free spans */
	uint64_t release_errors; /* release hook calls that failed */
	uint64_t held;		/* idle bytes held by the scavenger */
	uint64_t meta_size;	/* bytes of metadata (virtual) */
	uint64_t owners;	/* live owners */
	uint64_t mag;		/* in-use bytes in magazine spans (FILL or
				   HELD), a part of inuse */
	uint64_t mag_fill;	/* of those, bytes in FILL spans */
};

/* The most objects and object references a heap can be formatted for. */
#define HEAP_OBJECTS_MAX ((UINT32_C(1) << 24) - 1)
#define HEAP_REFS_MAX ((UINT32_C(1) << 26) - 1)

/*
 * What a heap is formatted for: the sizes of its metadata's tables, and
 * the secret of its name hash.
 */
struct heap_config {
	uint64_t arena_size;	/* a multiple of HEAP_PAGE_SIZE, at most
				   HEAP_MAX_PAGES pages */
	uint32_t max_owners;	/* owners live at once, 1..HEAP_OWNERS_MAX */
	uint32_t max_objects;	/* objects at once, 0..HEAP_OBJECTS_MAX;
				   0: no object table (shm/object.h) */
	uint32_t max_refs;	/* object reference records at once,
				   1..HEAP_REFS_MAX, or 0 with no table */
	/*
	 * The key of the keyed hash (SipHash-2-4) of object names: random
	 * (getrandom()) in the daemon, so that no client can choose names
	 * that all fall in one bucket.  Kept in the metadata, which no
	 * client maps.
	 */
	uint64_t hash_key[2];
};

/**
 * heap_layout_size() - how much metadata a heap needs.
 * @cfg: the sizes; its hash_key does not matter here.
 * @ret_size: bytes, a multiple of HEAP_PAGE_SIZE.
 *
 * The metadata is reserved for the whole arena and every table but
 * touched only as the heap grows and the tables fill (a 64 GiB arena
 * needs about 277 MiB, almost all of it the page map, of which a page of
 * memory covers 1 MiB of spans; an object costs 416 bytes of its table
 * and 4 to 8 of its hash, a reference record 32 and 4 to 8).
 *
 * Return: 0, or -EINVAL for a bad size or count.
 */
int heap_layout_size(const struct heap_config *cfg, uint64_t *ret_size);

/**
 * heap_format() - write an empty heap into @mem and make a handle to it.
 * @mem: at least heap_layout_size() bytes, HEAP_PAGE_SIZE aligned and
 *	reading as zeros (a new memfd or anonymous mapping); the caller
 *	keeps it mapped while the handle lives.  Bytes past the layout
 *	size are the caller's.  Only its first page is written here.
 * @size: bytes at @mem.
 * @cfg: as for heap_layout_size(), the hash key included.
 * @ops: the hooks, copied; release and zero are required.
 * @ret: the handle, written only on success.
 *
 * Return: 0, -EINVAL for bad arguments (@size too small included), or
 * -ENOMEM for the handle.
 */
int heap_format(void *mem, uint64_t size, const struct heap_config *cfg,
		const struct heap_ops *ops, struct heap **ret);

/**
 * heap_attach() - make a handle to the heap that @mem already holds.
 * @mem, @size: metadata written by heap_format() and the heap's calls,
 *	mapped here at any address.
 * @ops: the hooks, copied; release and zero are required.
 *
 * Checks the header (magic, version, page size, the layout the arena
 * size and table sizes give, and that it fits in @size), not the rest:
 * call heap_check() for that.  Every handle to one heap sees the same
 * heap; the caller serialises calls over all of them.
 *
 * Return: 0; -EINVAL for bad arguments or if @mem holds no heap that
 * fits in @size; -EPROTONOSUPPORT for a heap of another version;
 * -ENOMEM for the handle.
 */
int heap_attach(void *mem, uint64_t size, const struct heap_ops *ops,
		struct heap **ret);

/**
 * heap_detach() - free the handle @h (NULL is fine).  The metadata, and
 * the heap in it, stay as they are: the caller unmaps them if it wants.
 */
void heap_detach(struct heap *h);

/**
 * heap_set_grow_pages() - grow from the arena @pages pages at a time
 * (default HEAP_GROW_PAGES).  Return: 0, or -EINVAL for 0.
 */
int heap_set_grow_pages(struct heap *h, uint64_t pages);

/**
 * heap_set_limit() - the memory limit: no allocation may leave the heap's
 * consumed bytes (heap_stats() sys - released: every page grown and not
 * released, touched or not) above @bytes, rounded down to pages.  Those
 * that would fail with -ENOBUFS and change nothing; releasing idle pages
 * (a forced pass, heap_scavenge_take()) makes room.  Every allocation
 * counts: heap_alloc(), heap_mag_alloc() and heap_obj_create().  Pages
 * already consumed stay so when the limit is lowered below them.  A
 * setting of the handle, not of the metadata: give it at every attach.
 * @bytes: 0 or anything above the arena is no limit (the default).
 */
void heap_set_limit(struct heap *h, uint64_t bytes);

/** heap_limit() - the limit in bytes, 0 for none. */
uint64_t heap_limit(const struct heap *h);

/**
 * heap_owner_add() - make a new owner.
 * @name: up to HEAP_OWNER_NAME_MAX - 1 bytes are kept; NULL is "".
 * @key: the caller's, kept with the owner (the daemon's client id).
 * @ret_id: its id: non-zero, never HEAP_OWNER_SCAV or HEAP_OWNER_OBJECTS,
 *	unique among live
 *	owners, and not given again soon: the low bits name a slot of the
 *	owner table, the high bits (at least 10) count the slot's uses,
 *	and freed slots are used again oldest first.
 *
 * Return: 0, or -ENOSPC if @max_owners are live.
 */
int heap_owner_add(struct heap *h, const char *name, uint64_t key,
		   uint32_t *ret_id);

/**
 * heap_owner_set_name() - rename the live owner @id.
 * Return: 0, or -ENOENT if no live owner has that id.
 */
int heap_owner_set_name(struct heap *h, uint32_t id, const char *name);

/**
 * heap_owner_remove() - end the owner @id, which must own nothing (free
 * its spans first: heap_free_owner(); drop its object references:
 * heap_obj_owner_gone()).  Its id is not given again soon.
 * Return: 0; -ENOENT if no live owner has that id; -EBUSY if it owns
 * spans or holds object references.
 */
int heap_owner_remove(struct heap *h, uint32_t id);

/**
 * heap_owner_get() - what the live owner @id holds.
 * Return: 0 and @ret, or -ENOENT if no live owner has that id.
 */
int heap_owner_get(const struct heap *h, uint32_t id,
		   struct heap_owner_info *ret);

/**
 * heap_owner_next() - walk the live owners, in no particular order.
 * @cursor: 0 to start; moved past the owner returned.
 * Return: true and @ret, or false when there is none left.
 */
bool heap_owner_next(const struct heap *h, uint32_t *cursor,
		     struct heap_owner_info *ret);

/**
 * heap_alloc() - allocate a span of exactly @npages pages for @owner.
 * @flags: HEAP_ALLOC_ZERO to have the whole span zeroed through
 *	ops->zero, released pages included: they are zero unless a client
 *	wrote there since, which only the arena can tell.
 * @owner: a live owner's id.
 * @now: the caller's clock, in ns.
 *
 * Best fit: the smallest free span that holds @npages, the lowest address
 * among equals; the rest is split off and stays free.  When nothing fits
 * the heap grows from the arena.
 *
 * Return: 0, -EINVAL if @npages is 0 or larger than the arena, -ENOENT if
 * @owner is not live, -ENOMEM if the arena has no run of @npages free
 * pages, -ENOBUFS if the span would take consumed bytes past the limit
 * (heap_set_limit()); nothing changes on error.
 */
int heap_alloc(struct heap *h, uint64_t npages, unsigned int flags,
	       uint32_t owner, uint64_t now, struct heap_span *ret);

/**
 * heap_free() - free the in-use span that starts at byte offset @off.
 *
 * The span coalesces with free neighbours and is stamped unused at @now.
 *
 * A span handed to a magazine (heap_mag_alloc()) can be freed once the
 * client has taken it (HEAP_MAG_HELD), not while it sits in the fill
 * ring (HEAP_MAG_FILL).
 *
 * Return: 0; -EINVAL if @off is not the start of an in-use span (a double
 * free included); -EPERM if @owner does not own it, or if it is an
 * object's (only the object calls free those); -EBUSY if it is in state
 * HEAP_MAG_FILL.  On error nothing changes.
 */
int heap_free(struct heap *h, uint64_t off, uint32_t owner, uint64_t now);

/**
 * heap_free_owner() - free every span the live owner @owner holds (an id
 * that is not live is a bug: it aborts), whatever its magazine state;
 * returns the count.  The owner stays, owning nothing.  One transaction
 * a span, so call it outside the caller's transaction: inside one, all
 * the spans join it, and the journal bounds how many that can be.
 */
uint64_t heap_free_owner(struct heap *h, uint32_t owner, uint64_t now);

/**
 * heap_free_owner_each() - heap_free_owner(), and tell @fn about each span.
 * @fn: called with @ctx, the span's first page and its pages, before the
 *	span is freed; it must not call into the heap.
 */
uint64_t heap_free_owner_each(struct heap *h, uint32_t owner, uint64_t now,
			      void (*fn)(void *ctx, uint64_t page,
					 uint64_t npages),
			      void *ctx);

/**
 * heap_span_owner() - who owns the in-use span at @off.
 * Return: 0 and the owner id in @ret_id and pages in @ret_npages, or
 * -EINVAL if @off is not the start of an in-use span.
 */
int heap_span_owner(const struct heap *h, uint64_t off, uint32_t *ret_id,
		    uint64_t *ret_npages);

/*
 * Magazine states of an in-use span of a client (issue 11: a client's
 * magazine, proto/magazine.h, hands it spans without a round trip).
 */
#define HEAP_MAG_NONE 0	/* an ordinary span (a socket allocation) */
#define HEAP_MAG_FILL 1	/* in its owner's fill ring, not taken yet */
#define HEAP_MAG_HELD 2	/* handed out through the magazine, taken */

/**
 * heap_mag_alloc() - heap_alloc() of a span for @owner's magazine.
 *
 * The span starts in state HEAP_MAG_FILL: the daemon puts it in the
 * owner's fill ring.  It counts in use and on the owner's list as any
 * span, and in heap_stats()' mag and mag_fill.
 *
 * Return: as heap_alloc(): 0, -EINVAL, -ENOENT, -ENOMEM or -ENOBUFS,
 * changing nothing on error.
 */
int heap_mag_alloc(struct heap *h, uint64_t npages, uint32_t owner,
		   uint64_t now, struct heap_span *ret);

/**
 * heap_mag_move() - move a magazine span from state @from to state @to.
 * @off: any value at all, as read from memory a client writes.
 * @owner: the owner whose magazine the offset came from.
 * @npages: the pages the span must have (its magazine class).
 * @from, @to: HEAP_MAG_FILL and HEAP_MAG_HELD, either way round;
 *	HEAP_MAG_NONE is neither a source nor a target.
 *
 * Checks, in O(1) and without reading any metadata where no span can
 * start, that @off is the head of an in-use span of exactly @npages
 * pages owned by @owner in state @from.  A span of another owner is
 * refused before its size or state is looked at, so that a client learns
 * nothing of others' spans.
 *
 * Return: 0; -EINVAL for bad states, if @off is not the start of an
 * in-use span (out of range, unaligned, inside a span, free), or it has
 * other than @npages pages or is not in state @from; -EPERM if another
 * owner, the scavenger (HEAP_OWNER_SCAV) or an object
 * (HEAP_OWNER_OBJECTS) holds it.  On error nothing changes.
 */
int heap_mag_move(struct heap *h, uint64_t off, uint32_t owner,
		  uint64_t npages, unsigned int from, unsigned int to);

/**
 * heap_mag_get() - the owner, pages and magazine state (HEAP_MAG_*) of
 * the in-use span at @off.
 * Return: 0, or -EINVAL as heap_span_owner(); the outputs are written
 * only on success.
 */
int heap_mag_get(const struct heap *h, uint64_t off, uint32_t *ret_owner,
		 uint64_t *ret_npages, unsigned int *ret_state);

/* The owner id of runs the scavenger holds; never a client's. */
#define HEAP_OWNER_SCAV UINT32_MAX
/*
 * The owner id of the spans of objects (shm/object.h); never a client's
 * either: its low 22 bits, where an owner id keeps its slot number, are
 * all ones, as no slot number is.
 */
#define HEAP_OWNER_OBJECTS UINT32_C(0x7fffffff)

/* A run of free pages taken out of the heap to be released. */
struct heap_take {
	uint64_t page;		/* first page */
	uint64_t npages;
	uint64_t unusedsince;	/* of the span it came from */
};

/*
 * Where a release pass goes on: the free span at or after page @span,
 * from page @page on within it.  A pass starts at { 0, 0 }.
 */
struct heap_cursor {
	uint64_t span;
	uint64_t page;
};

/**
 * heap_scavenge_take() - take the next run of pages to release.
 * @now: the caller's clock, in ns.
 * @older_than: a span is eligible when now - unusedsince > older_than
 *	(0: every free span).
 * @max_pages: the longest run to take (at least 1).
 * @cursor: where the pass is.
 *
 * The run is the first stretch of unreleased pages, from the cursor on,
 * of the first eligible free span.  Until heap_scavenge_return() no
 * allocation can have it, so the caller may release it without the lock
 * that serialises heap calls.  Its pages stay counted as idle.
 *
 * Return: true and the run in @ret, or false when the pass is complete
 * (then @cursor is back at the start).
 */
bool heap_scavenge_take(struct heap *h, uint64_t now, uint64_t older_than,
			uint64_t max_pages, struct heap_cursor *cursor,
			struct heap_take *ret);

/** heap_release_taken() - call ops->release on @t; needs no lock. */
int heap_release_taken(const struct heap *h, const struct heap_take *t);

/**
 * heap_scavenge_return() - give back a run from heap_scavenge_take().
 * @release_result: what releasing it returned: 0 counts its pages as
 *	released, -errno counts a release error and leaves them unreleased.
 * @cursor: set to right after the run, in the free span it merged back
 *	into: the rest of that span is seen, a failed run is not retried
 *	in this pass.
 */
void heap_scavenge_return(struct heap *h, const struct heap_take *t,
			  int release_result, struct heap_cursor *cursor);

/**
 * heap_scavenge_take_range() - take the next run to release within a range.
 * @end: the first page past the range.
 * @max_pages: the longest run to take (at least 1).
 * @cursor: @page is where to look from, in [range start, @end); @span a
 *	guess of the free span that holds it (checked, so any value will
 *	do).  heap_scavenge_return() leaves it right for the next call.
 *
 * As heap_scavenge_take(), but whatever the spans' age, and only the
 * unreleased pages of free spans inside [cursor->page, @end): what a
 * departed client held, released at once.
 *
 * Return: true and the run in @ret, or false when the range holds no
 * more unreleased free page.
 */
bool heap_scavenge_take_range(struct heap *h, uint64_t end,
			      uint64_t max_pages, struct heap_cursor *cursor,
			      struct heap_take *ret);

/*
 * A run of stray pages: pages that hold memory (as ops->next_data says)
 * that no span accounts for, because the heap counts them as released or
 * they lie beyond the heap.  A client wrote there through its mapping,
 * or fallocate()d the memfd.
 */
struct heap_stray {
	uint64_t page;		/* first page */
	uint64_t npages;
};

/**
 * heap_next_data() - the first extent at or after page @page that holds
 * memory, as the arena says: pages [*ret_start, *ret_end).  Needs no
 * lock: it reads only the arena.
 *
 * Return: 0; -ENXIO if none; -EOPNOTSUPP without a next_data hook; or
 * the hook's -errno.
 */
int heap_next_data(const struct heap *h, uint64_t page, uint64_t *ret_start,
		   uint64_t *ret_end);

/**
 * heap_resident() - bytes the arena holds (ops->resident).  Needs no lock.
 * Return: 0; -EOPNOTSUPP without the hook; or its -errno.
 */
int heap_resident(const struct heap *h, uint64_t *ret);

/**
 * heap_stray_next() - the first stray run in pages [@page, @end).
 * @end: the end of a data extent from heap_next_data() (or of the
 *	arena, to take every page that may be stray as a candidate).
 * @max_pages: the longest run to return (at least 1).
 * @ret_next: when none is found, the page to go on from: no page of
 *	[@page, *ret_next) is stray.  It may lie past @end (the next data
 *	to look at is there), or before it (the scan is bounded, so that
 *	one call under the caller's lock stays short: go on from there).
 *
 * Needs the caller's lock, held until the run is released with
 * heap_release_stray(): stray pages belong to no span, so releasing
 * them loses nobody's data only while no allocation can hand them out.
 *
 * Return: true and the run in @ret, or false and @ret_next.
 */
bool heap_stray_next(const struct heap *h, uint64_t page, uint64_t end,
		     uint64_t max_pages, struct heap_stray *ret,
		     uint64_t *ret_next);

/**
 * heap_release_stray() - call ops->release on @st, still stray (checked:
 * a run that is not aborts).  Needs the caller's lock, held since
 * heap_stray_next() found the run.  Changes no count: stray pages are
 * counted as released (or not grown) already.
 *
 * Return: what ops->release returned.
 */
int heap_release_stray(const struct heap *h, const struct heap_stray *st);

/*
 * Transactions (shm/journal.c; see heap_internal.h, "Journal").  Every
 * call that changes the heap runs in one transaction, or joins the
 * caller's: the outermost heap_tx_begin() to its heap_tx_end(), under
 * the caller's lock, never across an unlock.  If the process dies at any
 * instruction, heap_recover() makes the heap exactly what it was after
 * the last transaction that ended.  One transaction holds at most a
 * batch of 64 heap calls and 16 KiB of the caller's records (besides
 * the released bitmap's words); one that outgrows the journal aborts.
 */

/** heap_tx_begin() - open a transaction, or nest in the open one. */
void heap_tx_begin(struct heap *h);

/**
 * heap_tx_end() - close what heap_tx_begin() opened; the outermost one
 * commits (empties the journal).  Without a heap_tx_begin() it aborts.
 */
void heap_tx_end(struct heap *h);

/**
 * heap_tx_log() - log the bytes [@p, @p + @len), about to change, so that
 * heap_recover() can restore them: whole 8-byte words, the range aligned
 * down and up.  @p lies in the memory given to heap_format() or
 * heap_attach(), the caller's bytes past the heap's layout included, not
 * in the journal.  Only inside a transaction; anything else aborts.
 */
void heap_tx_log(struct heap *h, const void *p, size_t len);

/**
 * heap_tx_set_hook() - call @fn(@ctx) before each logged store (a word of
 * the heap's, a range of heap_tx_log()) and before each commit, so that
 * a test can stop "at every step" (copy the metadata: a process dying
 * there leaves that).  For tests and debugging; NULL removes it.
 */
void heap_tx_set_hook(struct heap *h, void (*fn)(void *ctx), void *ctx);

/* What heap_recover() did, for the caller's log. */
struct heap_recovery {
	uint64_t undone;	/* journal entries undone */
	uint64_t runs;		/* held scavenger runs made free again */
	uint64_t run_pages;	/* their pages */
	uint64_t released_pages; /* of those, holes in the arena: released */
};

/**
 * heap_recover() - make the heap what it was after its last completed
 * transaction.  Call it after heap_attach(), before any other call.
 * @ret: what it did, written on success; may be NULL.
 *
 * Checks the journal first (its count and every entry's offset, within
 * the mapping, aligned, not in the journal, and every entry's check
 * word); then undoes it, newest entry first, and empties it.  Then it
 * turns every held scavenger run (owner HEAP_OWNER_SCAV) back into free
 * pages, one transaction each, counting as released exactly the pages
 * that ops->next_data shows as holes (none without it).  O(entries +
 * spans while a run is held): a heap with no held run is not walked.
 * Running it again after a death inside it is safe.
 *
 * Return: 0, or -EUCLEAN if the journal is corrupt: nothing changed.
 */
int heap_recover(struct heap *h, struct heap_recovery *ret);

/** heap_stats() - fill @ret with the heap's MemStats. */
void heap_stats(const struct heap *h, struct heap_stats *ret);

/**
 * heap_check() - verify every invariant of the design comment.
 *
 * Walks the header, the page map, the free index, the magazine marks,
 * the owner table and every owner's list, the object table, its name
 * hash, the reference records and their hash, and the counters; on any
 * violation prints what broke to stderr and aborts, cycles in the lists
 * or the tree included.
 * O(pages grown + owners + large free spans x the tree's depth + objects
 * and references ever used at once + hash chains squared); where the
 * metadata must be zero, and in the magazine marks' bitmaps, it reads
 * only what ops->meta_next_data says holds memory.
 */
void heap_check(const struct heap *h);

#endif
