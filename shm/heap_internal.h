/* SPDX-License-Identifier: MIT */
/*
 * Span heap internals, shared by heap.c, owner.c, freeidx.c, release.c,
 * object.c, objref.c, objlru.c, heap_mag.c and heap_check.c.
 *
 * DESIGN
 *
 * The arena is an array of 4 KiB pages.  The heap has carved the first
 * @grown of them into spans; the rest are not part of the heap yet.
 * Every grown page belongs to exactly one span, and spans tile
 * [0, grown) with no gap and no overlap.  A span is FREE or USED.
 *
 * Metadata.  Everything the heap knows lives in one region of memory the
 * caller maps (the daemon: a second sealed memfd, see shm/arena.c), laid
 * out by heap_layout() from the arena's pages and the table sizes alone
 * (struct heap_config), each part page aligned:
 *   header    struct heap_meta: the layout, every count, the roots;
 *   owners    max_owners struct heap_owner_rec of 112 bytes;
 *   objects   max_objects struct heap_obj_rec of 416 bytes;
 *   obj_hash  obj_buckets (the power of two >= max_objects) uint32_t;
 *   refs      max_refs struct heap_ref_rec of 32 bytes;
 *   ref_hash  ref_buckets (the power of two >= max_refs) uint32_t;
 *   spans     the page map, 16 bytes per arena page;
 *   freehead  a bit per arena page;
 *   released  a bit per arena page;
 *   mag       a bit per arena page;
 *   magfill   a bit per arena page;
 *   small     for each small size, an hbm over the 64-page groups;
 *   journal   the undo journal (see "Journal").
 * It holds no pointer: page numbers, slot numbers and offsets only, so
 * any process can map it anywhere and attach (heap_attach()); struct
 * heap is a process-local handle of pointers into it and the hooks.
 * For a 64 GiB arena (2^24 pages) and 1040 owners: header 4 KiB, owners
 * 116 KiB, page map 256 MiB, each bitmap 2 MiB, small 4.1 MiB, journal
 * 8.5 MiB: 276.7 MiB of address space, of which only what the heap
 * touches holds memory; 1M objects and 2M references add 416 + 4 + 64 +
 * 8 MiB, touched as they fill (see "Objects").
 *
 * Page map.  There is one 16-byte struct span per arena page, indexed by
 * page number, so a span is named by its first page.  For a span [p, p+n):
 *   - spans[p] is its head: kind FREE or USED and npages = n;
 *   - if n > 1, spans[p + n - 1] is its tail: kind TAIL and start = p;
 *   - every entry strictly between head and tail is zero (kind NONE).
 * So the span of any boundary page is found in O(1), which is all that
 * coalescing needs, and an offset is a valid span iff its page is a head:
 * interior pages never look like heads.  Entries past @grown are zero
 * too, so the untouched part of the map costs nothing.
 *
 * Coalescing.  Two FREE spans are never adjacent: freeing a span merges it
 * at once with a free left and a free right neighbour.  The merged span's
 * npreleased is the sum of the parts', its unusedsince the average of
 * theirs weighted by their unreleased pages (see merge_since()).
 *
 * Released pages.  The @released bitmap has bit p set iff page p lies in
 * a FREE span and was given back to the OS.  A FREE span's npreleased is
 * the count of its released bits.  Pages grown from the arena start
 * released: no span held them.  A FREE page that is not released was in
 * use before, so it is dirty.  "Released" means given back by the heap,
 * not "nobody wrote there": every client maps the whole arena writable
 * and may write into released pages, or beyond @grown, as well as into
 * its spans.  So the heap's counts say what spans account for, and only
 * the arena (ops->next_data, the memfd's SEEK_DATA) says what pages
 * really hold:
 *   - HEAP_ALLOC_ZERO hands the whole span to ops->zero, which clears
 *     what the arena holds there, released pages included;
 *   - stray pages, that hold memory although released or not grown, are
 *     found by the scavenger's sweep (heap_stray_next()) and punched
 *     under the caller's lock, so no allocation can race with it.
 *
 * Page map memory.  The interior entries of a span are zero, so the
 * pages of the map that lie wholly inside a free span need no memory.
 * When the scavenger gives a run back (heap_scavenge_return()), the map
 * pages inside the merged span's interior that hold the run's entries or
 * its neighbours' are handed to ops->meta_release (span_map_discard())
 * and read as zero again.  Every page ever used passes through such a
 * return before it is released, so after a full pass the map's memory
 * follows the spans that exist, not the arena's high-water mark.  On
 * shared memory a read of a hole allocates a page, so the heap reads
 * the map where a caller points (heap_free() of any offset) only after
 * the released bitmap says a span may start there, and heap_check()
 * skips the holes that ops->meta_next_data shows.
 *
 * Free index.  Bit p of @freehead is set iff a FREE span starts at p.
 *   - Small spans (n < HEAP_SMALL_PAGES) are indexed by exact size: for
 *     each n an hbm over 64-page groups has bit g set iff some FREE span
 *     of n pages starts in group g, and @nsmall[n] counts them.  The
 *     lowest such span is found in O(levels) plus a scan of one freehead
 *     word: best fit with the lowest address, without the seed's lists.
 *   - Large spans live in a treap ordered by (npages, start), its links
 *     in the span's tail entry, its priority prio(start), a bijective
 *     hash of the start page: best fit is one O(log n) descent, not the
 *     seed's linear scan.
 *
 * Magazines (heap_mag.c).  The daemon hands small spans to a client
 * ahead of need through the client's magazine, shared memory that the
 * client writes (proto/magazine.h), and reads span offsets back from
 * it.  A USED span of a live owner has a magazine state: NONE (an
 * ordinary span, allocated through the socket), FILL (the daemon put it
 * in the owner's fill ring; the client has not taken it) or HELD (taken
 * by the client).  Bit p of @mag is set iff p is the head of such a span
 * in FILL or HELD, bit p of @magfill iff in FILL; mag_pages and
 * mag_fill_pages count their pages.  So an offset that a client wrote
 * is checked in O(1), and without reading a hole: the released bit and
 * the page map entry first, as heap_free() does, then the two bits, read
 * at a USED head only.  While no span has a mark (mag_pages == 0) no
 * call reads the bitmaps at all, so a heap that never uses a magazine
 * touches none of their memory; after, a read at a USED head costs at
 * most the page of bits that covers the 128 MiB of arena around it, and
 * heap_check() reads them only where ops->meta_next_data shows data.
 * The marks sit on USED heads only, and span_free_used() clears them
 * before the span merges, so no free span, held run or object's span
 * ever has one: coalescing and the scavenger never meet them.
 * heap_free() refuses a FILL span (the daemon still reads the ring it
 * sits in); the owner's going (heap_free_owner()) frees it whatever its
 * state.
 *
 * Owners.  The owner table has max_owners slots.  A live owner's id is
 * its slot number in the low @owner_slot_bits bits and the slot's
 * generation (1, 2, ... wrapping past 2^(32 - slot bits) - 1 to 1) in
 * the high ones: never 0, and never HEAP_OWNER_SCAV because no slot
 * number is all ones.  Slots below @owners_hwm have been used; a freed
 * slot joins the tail of a queue and is used again only from its head
 * once HEAP_OWNER_REUSE_MIN slots wait there (or no slot is left), so
 * an id comes back only after many others, and the table's memory
 * follows the most owners ever live.  A USED span's head links it into
 * its owner's list (next, prev) and names the owner id; the record
 * holds the list's first span and the counts.
 *
 * Held runs.  To release pages without holding the caller's lock, the
 * scavenger takes a run of unreleased pages out of a free span
 * (heap_scavenge_take) and gives it back after the system call
 * (heap_scavenge_return).  Meanwhile the run is a USED span of owner
 * HEAP_OWNER_SCAV, on no owner list: no allocation can hand it out and
 * no client can free it.  Its pages still count as idle, not in use, and
 * @held counts them.
 *
 * Objects (object.c, objref.c; the API in object.h).  With max_objects
 * > 0 the metadata holds an object table, a reference table and their
 * hashes.  Their links are an index + 1, 0 ending a list, so that the
 * zeros of untouched memory are empty buckets and ends.  Records come
 * from a free list, the last freed first so that memory stays in few
 * pages, or else from the high-water mark (obj_hwm, ref_hwm): format
 * writes none of the tables, and only the records the most objects and
 * references ever live at once used hold memory, with the buckets that
 * lookups read (4 bytes each).
 *
 * An object is named, OPEN then SEALED, and may be deleted: a deleted
 * object has lost its name (it is on no hash chain) and lives only while
 * referenced.  Its id is its slot in the low obj_slot_bits bits and a
 * sequence number, from obj_seq which counts creations, in the others:
 * unique among every object the heap has had (create fails with -ENOSPC
 * once the sequence is exhausted, after 2^40 creations at the least),
 * and found in O(1), a stale id failing the record's check.  Its span is
 * a USED span of owner HEAP_OWNER_OBJECTS on no owner list: the head's
 * next names the object's slot and its prev is SPAN_NIL, so that object
 * and span name each other.  Only object.c frees it (heap_free()
 * refuses), so no client's departure frees it, and the scavenger sees it
 * only once it is freed.
 *
 * Names hash with SipHash-2-4 under the key given to heap_format() into
 * bucket hash & (obj_buckets - 1) of obj_hash, chained through next.  A
 * name is on a chain iff its object is live (not deleted); no two live
 * objects share one.  The key is secret (the metadata is the daemon's),
 * so no client can make names collide.
 *
 * A reference record is (owner, object slot, count): one per owner and
 * object that it holds references to, found in O(1) through ref_hash
 * (the keyed hash of the owner id and the slot, chained through next),
 * linked on its owner's list (onext, oprev, from the owner record's
 * refs; nrefs counts them), so that heap_obj_owner_gone() walks only
 * that owner's records, and on its object's list (xnext, xprev, from the
 * object's refs_first), so that its counts add up.  An object's refs is
 * the sum of its records' counts.  Only the creator holds a reference to
 * an OPEN object (get wants it sealed), exactly one: releasing it,
 * deleting the object or the creator's going aborts it (deletes it), so
 * nothing OPEN outlives its creator.  An object is freed, span and
 * record, when it is deleted and its last reference goes.
 *
 * Eviction (objlru.c).  An object created with HEAP_OBJ_EVICTABLE may be
 * deleted by the heap's caller when memory is short (heap_obj_evict()),
 * but only while nobody can be reading it: a candidate is an evictable
 * object that is SEALED, live (not deleted) and holds no reference.  The
 * candidates are on one doubly linked list, the LRU, through their
 * records' lru_prev and lru_next (slot + 1, 0 ends), from lru_head (the
 * least recently used) to lru_tail.  An object joins at the tail when
 * its last reference goes (released, or its holder gone), stamped with
 * lru_seq, which counts the joins; it leaves when a get takes a
 * reference, when it is deleted and when it is evicted, and its stamp
 * goes back to 0.  So the list is in the order the candidates joined,
 * which is the order their last use ended, and evicting from the head
 * frees what has been unused longest.  A get that finds a candidate
 * costs two more stores than one that does not, a release that makes
 * one four; the list holds no memory beyond the records' 16 bytes.
 * lru_count and lru_pages count the candidates and their pages;
 * obj_evicted and obj_evicted_pages count the evictions since format, in
 * their transactions, so that the counts outlive the daemon exactly.
 *
 * Whenever an object's span is freed (its last release after a delete,
 * a delete, its holders' going, an abort, an eviction), the handle's free
 * hook (heap_obj_set_free_hook()) is told its creator, its uid and its
 * pages, inside the call: for the caller's accounting by uid, which
 * lives in the process, not in the metadata.  A transaction that dies
 * after the hook ran is undone, but the process that kept the counts
 * died with it.
 *
 * Journal (journal.c, recover.c).  The heap may die at any instruction
 * (SIGKILL, the watchdog): process death, not power loss, so every store
 * executed has reached the metadata's memfd, in program order.  Each
 * mutating call (and each caller's request, which may hold up to 64 of them
 * and its own records, logged with heap_tx_log()) is a transaction: before
 * any store to the metadata, the 8-byte word it changes is appended to the
 * journal as (offset, old word), and then the count of entries is stored, a
 * compiler barrier before and after it.  What is logged is every word of
 * the header's counts and roots, the page map entries, the bitmaps
 * (freehead, released, mag, magfill, every level of the small hbms), the
 * treap links, the owner, object and reference records, their hashes and
 * free lists: every store the heap makes to the metadata goes through
 * tx_store32(), tx_store64() or the tx_bit*() helpers, or logs a whole
 * record (heap_tx_log()) before writing it.  A store of the value a word
 * holds already is skipped, unlogged, and a word is logged once a
 * transaction (the handle remembers the last TX_SEEN words it logged; one
 * it forgot is logged again, which is harmless).  The outermost
 * heap_tx_end() stores count 0: the commit, one aligned store.  So a death
 * anywhere leaves either count 0 and complete transactions, or count n and
 * n entries each written before its store was made (an entry past the count
 * may be half written: it is never read), and undoing the n entries, newest
 * first, gives back each word's oldest value: the state before the
 * transaction, whatever part of it was done.  The count word and every
 * entry carry a 24-bit check (journal_key() of the heap's hash key and a
 * seq that each logging transaction moves, mixed with the index, offset and
 * old word, or with the count), so that a journal the heap did not write,
 * or an old transaction's entries under a count too large, is refused;
 * recovery gathers the checks' differences rather than comparing each, so
 * that a fuzzer cannot copy them into its input one by one.
 *
 * heap_recover() checks the count and every entry (offset within the
 * mapping, 8-byte aligned, not in the journal, check) before it stores
 * anything: -EUCLEAN changes nothing.  Then it undoes, stores count 0, and
 * gives every held run back (a held run outlives its transaction: the
 * scavenger holds it across the unlocked release).  A run's pages that the
 * arena shows as holes (ops->next_data) were released before the death and
 * are counted released; the others are not, so released stays true to
 * st_blocks.  The runs are found by walking spans by length, only while
 * meta->held says some are left: O(spans), nothing when none is held.  Undo
 * is idempotent and each run goes back in a transaction of its own, so a
 * death inside recovery is recovered again.  Pages of the page map that a
 * transaction released (span_map_discard()) held only zeros; undoing a
 * store there writes the old word back into a page that reads as zero,
 * which is exactly what it held.
 *
 * Cost: an entry is 16 bytes and some 3.5 ns; a heap_alloc() or heap_free()
 * logs 15 to 25 words (bench_heap's alloc+free pair: 62 ns without the
 * journal, about 200 with it).  The journal holds JOURNAL_TX_ENTRIES plus
 * two entries per word of the released bitmap (the most a transaction can
 * change of it: growing sets bits, a large allocation clears a span's):
 * 0.55 MiB plus four times the released bitmap's size, 8.5 MiB for a 64 GiB
 * arena.  Format writes none of it, and only the pages that the largest
 * transaction used hold memory (one for a heap_alloc()).  A transaction
 * that outgrows it aborts (HEAP_BUG_ON).  heap_free_owner(),
 * heap_free_owner_each() and heap_obj_owner_gone() take one transaction per
 * span or reference, so that they stay within it when called outside a
 * transaction, and every state between is a valid heap.  The step hook
 * (heap_tx_set_hook()) runs before each logged store and each commit: the
 * tests copy the metadata there, as a death would leave it.
 *
 * INVARIANTS
 *
 * After every call that returns, heap_check() verifies exactly these
 * (each message names the one that broke), and nothing else.
 *
 * (H1) The header's magic and version are this code's, its page shift
 *      HEAP_PAGE_SHIFT, its arena pages (1..HEAP_MAX_PAGES), max_owners
 *      (1..HEAP_OWNERS_MAX), max_objects (0..HEAP_OBJECTS_MAX) and
 *      max_refs (0..HEAP_REFS_MAX, 0 iff max_objects is) in range, its
 *      layout and owner and object slot bits the ones they give; grown
 *      <= arena pages; grow_pages > 0.
 * (P1) Walking from page 0 by span lengths lands on a FREE or USED head
 *      of 1 <= n <= grown - p pages each time, and ends at grown.
 * (P2) A span of n > 1 pages has at p + n - 1 a TAIL entry naming p.
 * (P3) Entries strictly inside a span, and entries at or past grown,
 *      are all zero.
 * (R1) A FREE span's npreleased is the number of released bits in it;
 *      no USED span (held runs included) has one; none is set at or
 *      past grown.
 * (C1) No FREE span follows a FREE span.
 * (F1) Bit p of freehead is set iff a FREE span starts at p.
 * (F2) For 0 < n < HEAP_SMALL_PAGES, nsmall[n] is the number of FREE
 *      spans of n pages, and bit n of small_mask is set iff it is not
 *      0; bit 0 is clear.
 * (F3) For each such n, leaf bit g of small[n] is set iff 64-page group
 *      g holds the head of a FREE span of n pages, and none past the
 *      grown groups is; at every upper level a bit is set iff the word
 *      below it is not zero.
 * (F4) The treap at tree_root holds exactly the large FREE spans
 *      (SPAN_NIL iff none): each is found by the descent of its key
 *      (npages, start) from the root, every link leads to one of them,
 *      there is one link fewer than spans, and each node's priority is
 *      below its parent's.  So it is a tree, its nodes in key order.
 * (O1) owners_hwm <= max_owners, and slots from owners_hwm on are zero.
 *      Below it a slot is live, its id its slot number and generation
 *      (1 <= gen < 2^(32 - slot bits)) and its name NUL-terminated; or
 *      free, all zero but its generation and queue link (no spans, no
 *      references), and on the free queue, which holds every free slot
 *      once and nothing else.  owners_live counts the live slots.
 * (O2) A live owner's list from its first span is nspans USED spans
 *      that name it, the first's prev SPAN_NIL, every next's prev the
 *      span before, the last's next SPAN_NIL, of npages pages in all.
 * (O3) A USED span names HEAP_OWNER_SCAV, and then its next and prev
 *      are SPAN_NIL (a held run, on no list), or HEAP_OWNER_OBJECTS (see
 *      T3), or a live owner; the live owners' nspans add up to the USED
 *      spans that name one: no span is orphaned.
 * (A1) In pages: grown == idle + inuse; idle == FREE spans' pages +
 *      held; held == held runs' pages; inuse == the other USED spans'
 *      pages and objects their number; nfree == FREE spans; released
 *      == the sum of npreleased (so the bitmap's popcount, by R1)
 *      <= idle.
 * (M1) A set bit of mag is the head of a USED span of a live owner (not
 *      HEAP_OWNER_SCAV, not HEAP_OWNER_OBJECTS); magfill's set bits are
 *      a subset of mag's; neither has a bit at or past grown.
 * (M2) mag_pages is the sum of the pages of the spans whose head has a
 *      mag bit, mag_fill_pages of those whose head has a magfill bit.
 * (T1) obj_hwm <= max_objects, and the object records from obj_hwm on
 *      are zero; 1 <= obj_seq, and obj_seq - 1 fits an id.  Below
 *      obj_hwm a record is in use, its id its slot and a sequence number
 *      1 <= seq < obj_seq; or free, all zero but its next, and on the
 *      free list, which holds every free record once and nothing else.
 * (T2) An object in use is OPEN or SEALED, maybe DELETED, maybe
 *      EVICTABLE, and nothing else; its name is name_len bytes that
 *      heap_obj_name_valid() accepts with zeros after them, its hash their keyed hash; its
 *      creator's name is NUL-terminated; size > 0 and npages the pages
 *      that size takes; at page starts a USED span of npages pages that
 *      names HEAP_OWNER_OBJECTS and the object's slot.
 * (T3) A USED span that names HEAP_OWNER_OBJECTS has prev SPAN_NIL and
 *      next the slot of an object in use whose span it is.
 * (T4) A deleted object has refs > 0.  An OPEN object that is not deleted
 *      has one reference record, of its creator, a live owner, count 1.
 * (T5) Every chain of obj_hash holds only live objects whose hash names
 *      its bucket; the chains hold the live objects, once each; no two
 *      live objects have the same name.
 * (T6) obj_open, obj_sealed and obj_deleted count the live OPEN, the live
 *      SEALED and the deleted objects; obj_bytes is their sizes' sum and
 *      obj_pages their pages', which the USED spans of HEAP_OWNER_OBJECTS
 *      hold, one span per object.
 * (L1) The LRU from lru_head holds lru_count records, each a candidate
 *      (EVICTABLE, SEALED, not deleted, refs 0), each one's lru_prev
 *      the one before (the first's 0), the last one lru_tail; their
 *      stamps rise strictly along it and are below or at lru_seq, their
 *      pages add up to lru_pages.  Every candidate is on it, and every
 *      other record has lru_prev, lru_next and stamp 0.
 * (E1) ref_hwm <= max_refs, and the reference records from ref_hwm on
 *      are zero.  Below it a record is in use, naming a live owner, an
 *      object in use and a count >= 1; or free, all zero but its next,
 *      and on the free list, which holds every free record once and
 *      nothing else.  ref_recs counts the records in use.
 * (E2) An object's list from refs_first holds records that name it, each
 *      one's xprev the one before, the first's 0, their counts adding up
 *      to its refs; the lists hold ref_recs records, all refs refs_total.
 * (E3) Every chain of ref_hash holds only records in use whose owner and
 *      object hash to its bucket; the chains hold ref_recs records; no
 *      two records have the same owner and object.
 * (E4) A live owner's list from its refs is nrefs records that name it,
 *      each one's oprev the one before, the first's 0; the lists hold
 *      ref_recs records.
 * (J1) Outside a transaction (no heap_tx_begin() open on the handle)
 *      the journal is empty: its count word is 0.
 *
 * Debug builds (-DSPANHEAP_DEBUG, make check-debug) run heap_check() at
 * the end of every call that changes the heap (HEAP_DEBUG_CHECK()).
 */
#ifndef SPANHEAP_SHM_HEAP_INTERNAL_H
#define SPANHEAP_SHM_HEAP_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "bitmap.h"
#include "heap.h"
#include "object.h"

#define SPAN_NIL UINT32_MAX

enum span_kind {
	SPAN_NONE = 0,		/* interior page, or beyond the heap */
	SPAN_TAIL = 1,		/* last page of a span longer than one page */
	SPAN_FREE = 2,		/* head of a free span */
	SPAN_USED = 3,		/* head of an in-use span */
};

#define SPAN_KIND_SHIFT 30
#define SPAN_VAL_MASK ((UINT32_C(1) << SPAN_KIND_SHIFT) - 1)

/* Treap links of a large FREE span, kept in its tail entry. */
struct span_node {
	uint32_t left, right;
	uint32_t unused;
};

struct span {
	uint32_t hdr;	/* kind in the top two bits; npages (head) or start (tail) */
	union {
		struct {	/* USED head */
			uint32_t next, prev;	/* owner's list */
			uint32_t owner;
		} use;
		struct __attribute__((packed)) {	/* FREE head */
			uint32_t npreleased;
			uint64_t unusedsince;	/* ns, when it became free */
		} idle;
		struct span_node node;	/* TAIL of a large FREE span */
	};
};
_Static_assert(sizeof(struct span) == 16, "one page map entry is 16 bytes");
_Static_assert(offsetof(struct span, idle.npreleased) == 4 &&
		       offsetof(struct span, idle.unusedsince) == 8,
	       "span_set_idle() knows where the FREE head's fields are");

#define HEAP_META_MAGIC UINT64_C(0x7370616e68656170) /* "spanheap" */
#define HEAP_META_VERSION 6

/* A free owner slot waits for this many others before it is used again. */
#define HEAP_OWNER_REUSE_MIN 64
#define SLOT_NIL UINT32_MAX

/* One slot of the owner table. */
struct heap_owner_rec {
	uint32_t id;		/* 0: free */
	uint32_t first;		/* first span of its list, or SPAN_NIL */
	uint64_t nspans;	/* USED spans on its list */
	uint64_t npages;	/* their pages */
	uint64_t key;		/* the caller's */
	uint32_t gen;		/* generation of the slot's latest id */
	uint32_t next_free;	/* the free queue's next slot, or SLOT_NIL */
	uint32_t refs;		/* its first reference record + 1, or 0 */
	uint32_t nrefs;		/* its reference records */
	char name[HEAP_OWNER_NAME_MAX];
};
_Static_assert(sizeof(struct heap_owner_rec) == 112, "owner record size");

/* Bits of heap_obj_rec.state besides HEAP_OBJ_OPEN or HEAP_OBJ_SEALED. */
#define OBJ_STATE_MASK 0x3u
#define OBJ_DELETED 0x100u
#define OBJ_EVICTABLE 0x200u	/* created with HEAP_OBJ_EVICTABLE */

/* One slot of the object table. */
struct heap_obj_rec {
	uint64_t id;		/* 0: free */
	uint64_t size;		/* bytes, as created */
	uint64_t created;	/* the caller's clock at creation, ns */
	uint64_t hash;		/* the keyed hash of the name */
	uint64_t refs;		/* references, its records' counts */
	uint32_t page;		/* its span's first page */
	uint32_t npages;	/* and pages */
	uint32_t state;		/* HEAP_OBJ_OPEN or _SEALED, | OBJ_DELETED */
	uint32_t creator;	/* owner id */
	uint32_t pid, uid;	/* the creator's */
	uint32_t next;		/* hash chain, or free list: slot + 1, 0 ends */
	uint32_t refs_first;	/* its first reference record + 1, or 0 */
	uint32_t name_len;
	char name[256];		/* name_len bytes, zeros after */
	char creator_name[HEAP_OWNER_NAME_MAX]; /* NUL-terminated */
	uint32_t lru_prev;	/* the LRU of candidates: slot + 1, 0 ends */
	uint32_t lru_next;
	uint32_t pad;
	uint64_t lru_seq;	/* its stamp on the LRU, or 0 if not on it */
};
_Static_assert(sizeof(struct heap_obj_rec) == 416, "object record size");

/* One reference record: @owner holds @count references to @obj. */
struct heap_ref_rec {
	uint32_t owner;		/* owner id; 0: free */
	uint32_t obj;		/* slot of the object */
	uint32_t count;
	uint32_t next;		/* hash chain or free list: index + 1, 0 ends */
	uint32_t onext, oprev;	/* the owner's list: index + 1, 0 ends */
	uint32_t xnext, xprev;	/* the object's list: index + 1, 0 ends */
};
_Static_assert(sizeof(struct heap_ref_rec) == 32, "reference record size");

/* Byte offsets of the parts of the metadata, from its start. */
struct heap_layout {
	uint64_t owners, objects, obj_hash, refs, ref_hash;
	uint64_t spans, freehead, released, mag, magfill, small, size;
	uint64_t journal;	/* struct heap_journal, then its entries */
	uint64_t journal_entries; /* entries it holds */
	uint64_t small_words;	/* words of one size's hbm */
	uint32_t obj_buckets;	/* entries of obj_hash, a power of two or 0 */
	uint32_t ref_buckets;	/* entries of ref_hash, a power of two or 0 */
};

/* The first page of the metadata: the layout, every count, no pointers. */
struct heap_meta {
	uint64_t magic;
	uint32_t version;
	uint32_t page_shift;
	uint64_t arena_pages;	/* pages the arena holds */
	uint32_t max_owners;	/* slots of the owner table */
	uint32_t owner_slot_bits; /* of an owner id, the slot's */
	struct heap_layout layout;
	uint64_t grown;		/* pages carved into spans: heap_sys */
	uint64_t grow_pages;	/* least pages to grow by */
	uint64_t idle;		/* pages in FREE spans */
	uint64_t inuse;		/* pages in USED spans */
	uint64_t released;	/* pages released, all in FREE spans */
	uint64_t objects;	/* USED spans */
	uint64_t nfree;		/* FREE spans */
	uint64_t release_errors; /* ops->release calls that failed */
	uint64_t held;		/* idle pages held by the scavenger */
	uint64_t small_mask[2];	/* bit n: nsmall[n] > 0 */
	uint32_t nsmall[HEAP_SMALL_PAGES]; /* FREE spans of exactly n pages */
	uint32_t tree_root;	/* treap of large FREE spans */
	uint32_t owners_live;	/* live owner slots */
	uint32_t owners_hwm;	/* slots ever used */
	uint32_t owner_free_head; /* the queue of free slots below hwm */
	uint32_t owner_free_tail;
	uint32_t max_objects;	/* slots of the object table */
	uint32_t max_refs;	/* slots of the reference table */
	uint32_t obj_slot_bits;	/* of an object id, the slot's */
	uint32_t obj_hwm;	/* object slots ever used */
	uint32_t obj_free;	/* the free object slots: slot + 1, or 0 */
	uint32_t ref_hwm;	/* reference records ever used */
	uint32_t ref_free;	/* the free records: index + 1, or 0 */
	uint64_t hash_key[2];	/* of the keyed hashes */
	uint64_t obj_seq;	/* the next object id's sequence number */
	uint64_t obj_open;	/* live OPEN objects */
	uint64_t obj_sealed;	/* live SEALED objects */
	uint64_t obj_deleted;	/* deleted objects, still referenced */
	uint64_t obj_bytes;	/* their sizes */
	uint64_t obj_pages;	/* their spans' pages */
	uint64_t refs_total;	/* references held */
	uint64_t ref_recs;	/* reference records in use */
	uint64_t mag_pages;	/* pages of spans in FILL or HELD */
	uint64_t mag_fill_pages; /* pages of spans in FILL */
	uint32_t lru_head;	/* least recently used candidate: slot + 1 */
	uint32_t lru_tail;	/* most recently used: slot + 1, 0 if none */
	uint64_t lru_count;	/* candidates for eviction, on the LRU */
	uint64_t lru_pages;	/* their pages */
	uint64_t lru_seq;	/* joins of the LRU: the latest stamp */
	uint64_t obj_evicted;	/* objects heap_obj_evict() freed, ever */
	uint64_t obj_evicted_pages; /* their pages */
};
_Static_assert(sizeof(struct heap_meta) <= 4096, "the header fits a page");

/*
 * The undo journal (journal.c): what the open transaction changed.  An
 * entry's word holds the offset of an 8-byte word of the metadata in its
 * low JOURNAL_OFF_BITS bits and a check of the entry in the others; old
 * is what that word held before.  count_word is 0, or the number of
 * entries in its low bits and their check above: 0 means no transaction
 * is open, so zeros are an empty journal.
 */
#define JOURNAL_OFF_BITS 40
#define JOURNAL_OFF_MASK ((UINT64_C(1) << JOURNAL_OFF_BITS) - 1)
struct heap_jentry {
	uint64_t word;		/* offset | check << JOURNAL_OFF_BITS */
	uint64_t old;
};

/*
 * Entries a transaction may log besides the released bitmap's words
 * (each changes at most twice in one): 64 heap calls (a batch of
 * PROTO_MAX_BATCH requests) of up to 512 stores each, and 16 KiB of the
 * caller's own records.
 */
#define JOURNAL_TX_ENTRIES (64 * 512 + 2048)

struct heap_journal {
	uint64_t count_word;	/* entries | check << JOURNAL_OFF_BITS */
	uint64_t seq;		/* transactions that logged, for the check */
	uint64_t pad[6];
	struct heap_jentry e[];
};

#define TX_SEEN 32

/* The process-local handle: pointers into the metadata. */
struct heap {
	struct heap_meta *meta;
	unsigned char *map;	/* the metadata's start */
	uint64_t map_size;	/* bytes the caller gave */
	struct heap_owner_rec *owners; /* max_owners */
	uint32_t slot_mask;	/* of an owner id, the slot's bits */
	struct heap_obj_rec *objs; /* max_objects */
	uint32_t *obj_hash;	/* obj_buckets */
	struct heap_ref_rec *refs; /* max_refs */
	uint32_t *ref_hash;	/* ref_buckets */
	uint64_t obj_slot_mask;	/* of an object id, the slot's bits */
	struct span *spans;	/* arena_pages entries */
	uint64_t *freehead;	/* arena_pages bits */
	uint64_t *released;	/* arena_pages bits */
	uint64_t *mag;		/* arena_pages bits: FILL or HELD heads */
	uint64_t *magfill;	/* arena_pages bits: FILL heads */
	struct hbm small[HEAP_SMALL_PAGES]; /* [0] unused */
	struct heap_journal *journal;
	unsigned int tx_depth;	/* open heap_tx_begin()s */
	uint64_t tx_count;	/* entries logged by the open transaction */
	uint64_t tx_seq;	/* its journal seq */
	uint64_t tx_key;	/* journal_key() of it */
	/*
	 * Offsets + 1 of words this transaction logged, by (offset / 8) %
	 * TX_SEEN: a word logged once need not be again (undo restores the
	 * oldest value); a miss only logs it twice.
	 */
	uint64_t tx_seen[TX_SEEN];
	void (*tx_hook)(void *ctx); /* heap_tx_set_hook() */
	void *tx_hook_ctx;
	/* heap_obj_set_free_hook(): told of every object span freed */
	void (*obj_free_hook)(void *ctx, uint32_t creator, uint32_t uid,
			      uint64_t npages);
	void *obj_free_ctx;
	struct heap_ops ops;
	/*
	 * heap_set_limit(): the most pages grown and not released (heap_sys
	 * - heap_released) an allocation may leave; HEAP_MAX_PAGES + 1
	 * (none) until set.  The caller's setting, given again at every
	 * attach, so the handle holds it, not the metadata.
	 */
	uint64_t limit_pages;
};

#ifdef SPANHEAP_DEBUG
#define HEAP_DEBUG_CHECK(h) heap_check(h)
#else
#define HEAP_DEBUG_CHECK(h) ((void)(h))
#endif

#define HEAP_BUG_ON(cond, ...)                                              \
	do {                                                                \
		if (__builtin_expect(!!(cond), 0)) {                        \
			fprintf(stderr, "spanheap: %s:%d: heap corrupt: ",  \
				__FILE__, __LINE__);                        \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

static inline enum span_kind span_kind(const struct heap *h, uint32_t p)
{
	return (enum span_kind)(h->spans[p].hdr >> SPAN_KIND_SHIFT);
}

static inline uint32_t span_val(const struct heap *h, uint32_t p)
{
	return h->spans[p].hdr & SPAN_VAL_MASK;
}

/* journal.c: the undo journal and the logged stores */
/* Log the 8-byte word of the metadata that holds @p (in a transaction). */
void tx_log_word(struct heap *h, const void *p);
/* Store @v at @p, logged first; nothing if it holds @v already. */
static inline void tx_store32(struct heap *h, uint32_t *p, uint32_t v)
{
	if (*p != v) {
		tx_log_word(h, p);
		*p = v;
	}
}

static inline void tx_store64(struct heap *h, uint64_t *p, uint64_t v)
{
	if (*p != v) {
		tx_log_word(h, p);
		*p = v;
	}
}
/* Zero @len bytes at @p (8-byte aligned), logging the words that change. */
void tx_zero(struct heap *h, void *p, size_t len);
/* The bitmap and hbm mutators of bitmap.h, logged. */
void tx_bit_set(struct heap *h, uint64_t *bm, uint64_t i);
void tx_bit_clear(struct heap *h, uint64_t *bm, uint64_t i);
void tx_bits_set(struct heap *h, uint64_t *bm, uint64_t start, uint64_t n);
void tx_bits_clear(struct heap *h, uint64_t *bm, uint64_t start, uint64_t n);
void tx_hbm_set(struct heap *h, const struct hbm *b, uint64_t i);
void tx_hbm_clear(struct heap *h, const struct hbm *b, uint64_t i);
/* The key of the checks of transaction @seq's entries. */
uint64_t journal_key(const struct heap *h, uint64_t seq);
/* The check of entry @i, (@off, @old), under @key. */
static inline uint64_t journal_entry_check(uint64_t key, uint64_t i,
					   uint64_t off, uint64_t old)
{
	uint64_t x = (off + i * UINT64_C(0x9e3779b97f4a7c15)) ^ key;

	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= old;
	x *= UINT64_C(0x94d049bb133111eb);
	return x >> JOURNAL_OFF_BITS;
}
/* The check of the count @n under @key. */
static inline uint64_t journal_count_check(uint64_t key, uint64_t n)
{
	return ((n ^ key) * UINT64_C(0xff51afd7ed558ccd)) >> JOURNAL_OFF_BITS;
}
/* The handle's record of the open transaction, emptied. */
void tx_forget(struct heap *h);
/* Is the journal empty (no transaction left unfinished)? */
bool journal_empty(const struct heap *h);
/* J1: outside a transaction the journal is empty. */
void journal_check(const struct heap *h);

static inline void span_set(struct heap *h, uint32_t p, enum span_kind k,
			    uint32_t val)
{
	tx_store32(h, &h->spans[p].hdr, ((uint32_t)k << SPAN_KIND_SHIFT) | val);
}

/* Set the FREE head @p's npreleased and unusedsince. */
static inline void span_set_idle(struct heap *h, uint32_t p, uint32_t nrel,
				 uint64_t since)
{
	unsigned char *s = (unsigned char *)&h->spans[p];

	tx_store32(h, (uint32_t *)(void *)(s + 4), nrel);
	tx_store64(h, (uint64_t *)(void *)(s + 8), since);
}

/* Set the USED head @p's owner list links and owner. */
static inline void span_set_use(struct heap *h, uint32_t p, uint32_t next,
				uint32_t prev, uint32_t owner)
{
	tx_store32(h, &h->spans[p].use.next, next);
	tx_store32(h, &h->spans[p].use.prev, prev);
	tx_store32(h, &h->spans[p].use.owner, owner);
}

/* The head of the span whose last page is @p. */
static inline uint32_t span_head_of_last(const struct heap *h, uint32_t p)
{
	return span_kind(h, p) == SPAN_TAIL ? span_val(h, p) : p;
}

/* heap.c */
/* Is @c a configuration a heap can be formatted for? */
bool heap_config_valid(const struct heap_config *c);
/* The layout of the metadata of a heap of configuration @c, valid. */
void heap_layout(const struct heap_config *c, struct heap_layout *l);
/* The configuration @m was formatted for (its hash key included). */
void heap_config_of(const struct heap_meta *m, struct heap_config *ret);
/*
 * Bits of an owner (or object) id that name its slot: no slot number is
 * all ones.  0 for a table of none.
 */
static inline uint32_t heap_slot_bits(uint32_t max_slots)
{
	return max_slots ? 32 - (uint32_t)__builtin_clz(max_slots) : 0;
}
/*
 * Take a span of @npages pages, as heap_alloc() does, but make it a USED
 * head of no owner (owner 0, next and prev SPAN_NIL): the caller names
 * its owner at once.  Counts it in use.  Return: 0, -EINVAL or -ENOMEM,
 * changing nothing on error.
 */
int span_take(struct heap *h, uint64_t npages, unsigned int flags,
	      uint64_t now, struct heap_span *ret);
/*
 * heap_alloc() without its debug check, for a caller that marks the
 * span before the heap is checked.
 */
int span_alloc(struct heap *h, uint64_t npages, unsigned int flags,
	       uint32_t owner, uint64_t now, struct heap_span *ret);
/*
 * The USED head at byte offset @off, held runs included, or SPAN_NIL for
 * any other offset.  Reads the page map only where the released bitmap
 * says that a span may start: never a hole of the metadata.
 */
uint32_t span_used_head(const struct heap *h, uint64_t off);
/*
 * Free the USED span @p of a live owner (off its list) or of
 * HEAP_OWNER_OBJECTS (whose caller keeps the object counts), at @now.
 */
void span_free_used(struct heap *h, uint32_t p, uint64_t now);
/* Write the head (and tail) entries of the span [p, p + n). */
void span_make(struct heap *h, uint32_t p, uint32_t n, enum span_kind kind);
void span_clear(struct heap *h, uint32_t p);
/*
 * Give back the page map's pages wholly within entries [lo, hi), which
 * must be zero, that hold any of the entries [from, to).
 */
void span_map_discard(struct heap *h, uint64_t lo, uint64_t hi,
		      uint64_t from, uint64_t to);
/*
 * Make [p, p + n) FREE with @nrel released pages, unused since @since,
 * merge it with free neighbours and index the result.  The pages must
 * already be counted as idle (and @nrel as released).  Returns the head
 * of the merged span.
 */
uint32_t span_free_merge(struct heap *h, uint32_t p, uint32_t n,
			 uint32_t nrel, uint64_t since);

/* owner.c: the owner table and the owners' lists */
/* The slot number in @id; may be past the table. */
static inline uint32_t owner_slot(const struct heap *h, uint32_t id)
{
	return id & h->slot_mask;
}
/* The live owner @id's record, or NULL. */
static inline struct heap_owner_rec *owner_find(const struct heap *h,
						uint32_t id)
{
	uint32_t slot = owner_slot(h, id);

	if (id == 0 || slot >= h->meta->owners_hwm ||
	    h->owners[slot].id != id)
		return NULL;
	return &h->owners[slot];
}
/* Put the span [p, p + n), USED, at the head of @o's list. */
static inline void owner_link(struct heap *h, struct heap_owner_rec *o,
			      uint32_t p, uint32_t n)
{
	span_set_use(h, p, o->first, SPAN_NIL, o->id);
	if (o->first != SPAN_NIL)
		tx_store32(h, &h->spans[o->first].use.prev, p);
	tx_store32(h, &o->first, p);
	tx_store64(h, &o->nspans, o->nspans + 1);
	tx_store64(h, &o->npages, o->npages + n);
}

/* Take the span [p, p + n) off @o's list. */
static inline void owner_unlink(struct heap *h, struct heap_owner_rec *o,
				uint32_t p, uint32_t n)
{
	struct span *s = &h->spans[p];

	if (s->use.prev != SPAN_NIL)
		tx_store32(h, &h->spans[s->use.prev].use.next, s->use.next);
	else
		tx_store32(h, &o->first, s->use.next);
	if (s->use.next != SPAN_NIL)
		tx_store32(h, &h->spans[s->use.next].use.prev, s->use.prev);
	tx_store64(h, &o->nspans, o->nspans - 1);
	tx_store64(h, &o->npages, o->npages - n);
}
/*
 * Abort unless the owner table and the lists hold (O1, O2, O3): @used
 * is the number of USED spans of live owners (not HEAP_OWNER_SCAV nor
 * HEAP_OWNER_OBJECTS) that the page walk found, each checked to name one.
 */
void owner_check(const struct heap *h, uint64_t used);

/* object.c: the object table and its name hash */
/* The slot number in the object id @id; may be past the table. */
static inline uint32_t obj_slot(const struct heap *h, uint64_t id)
{
	return (uint32_t)(id & h->obj_slot_mask);
}
/* The object in use whose id is @id, or NULL. */
static inline struct heap_obj_rec *obj_find(const struct heap *h,
					    uint64_t id)
{
	uint32_t slot = obj_slot(h, id);

	if (id == 0 || slot >= h->meta->obj_hwm || h->objs[slot].id != id)
		return NULL;
	return &h->objs[slot];
}
/* The keyed hash of the name @name, @len bytes. */
uint64_t obj_name_hash(const struct heap *h, const char *name, size_t len);
/* T3 for the USED span [p, p + n) that names HEAP_OWNER_OBJECTS. */
void obj_check_span(const struct heap *h, uint32_t p, uint32_t n);
/*
 * Abort unless the object table holds (T1, T2, T4, T5, T6, L1, and E2
 * with objref.c): the page walk found @nspans USED spans of
 * HEAP_OWNER_OBJECTS, of @npages pages, each checked by obj_check_span().
 */
void obj_check(const struct heap *h, uint64_t nspans, uint64_t npages);

/* objlru.c: the LRU of the objects that may be evicted */
/* Is the object in use @x a candidate for eviction? */
static inline bool lru_candidate(const struct heap_obj_rec *x)
{
	return (x->state & (OBJ_STATE_MASK | OBJ_DELETED | OBJ_EVICTABLE)) ==
		       (HEAP_OBJ_SEALED | OBJ_EVICTABLE) &&
	       !x->refs;
}
/* Is the object in use @x on the LRU? */
static inline bool lru_listed(const struct heap_obj_rec *x)
{
	return x->lru_seq != 0;
}
/* Put the candidate @slot, on no list, at the LRU's tail (most recent). */
void lru_push(struct heap *h, uint32_t slot);
/* Take @slot, listed, off the LRU. */
void lru_remove(struct heap *h, uint32_t slot);
/*
 * L1, after the records were walked: they held @candidates candidates
 * of @pages pages, and @stamped records had a stamp or a link.
 */
void lru_check(const struct heap *h, uint64_t candidates, uint64_t pages,
	       uint64_t stamped);

/* objref.c: the reference records, their hash and their lists */
/* The record of @owner's references to object @slot: index + 1, or 0. */
uint32_t ref_find(const struct heap *h, uint32_t owner, uint32_t slot);
/* Is there a free reference record? */
bool ref_room(const struct heap *h);
/*
 * One more reference of the live owner @o to the object in use @slot,
 * in a new record if it holds none yet.  Return: 0; -ENOSPC if that
 * takes a record and none is free; -EOVERFLOW if its count is full.
 */
int ref_get(struct heap *h, struct heap_owner_rec *o, uint32_t slot);
/* One fewer reference of record @i (index + 1), freed at 0. */
void ref_put(struct heap *h, uint32_t i);
/* Every reference of record @i, which is freed; returns their count. */
uint32_t ref_drop(struct heap *h, uint32_t i);
/*
 * E2 for the object in use @slot: its list's records, checked; returns
 * their number.
 */
uint64_t ref_check_object(const struct heap *h, uint32_t slot);
/*
 * Abort unless the reference records hold (E1, E3, E4); @listed is the
 * number of records on the objects' lists (E2).
 */
void ref_check(const struct heap *h, uint64_t listed);

/* freeidx.c: the index of FREE spans */
void freeidx_insert(struct heap *h, uint32_t p);
void freeidx_remove(struct heap *h, uint32_t p);
/* Best fit for @npages: the head page, or SPAN_NIL if nothing fits. */
uint32_t freeidx_find(const struct heap *h, uint64_t npages);
/*
 * Abort unless the index matches the counts heap_check() found (F2, F3,
 * F4); the treap's nodes are checked as the page walk meets them.
 */
void freeidx_check(const struct heap *h, const uint64_t *nsmall,
		   uint64_t nlarge, uint64_t nlinks);
/*
 * The part of F4 about the large free span @p: found from the root, its
 * links lead to large free spans of lower priority.  Returns its links.
 */
unsigned int freeidx_check_node(const struct heap *h, uint32_t p,
				uint64_t nlarge);

/* heap_check.c */
/*
 * Where heap_check() is in the metadata's data extents
 * (ops->meta_next_data): [start, end) holds data, none of [from, start).
 */
struct meta_cursor {
	uint64_t from, start, end;
	bool valid;
};
/* Do @len bytes at @p of the metadata read as zero?  Reads only data. */
bool meta_zero(const struct heap *h, struct meta_cursor *c, const void *p,
	       uint64_t len);
/* Are the bits [from, nwords * 64) of @bm, in the metadata, all clear? */
bool meta_bits_clear(const struct heap *h, struct meta_cursor *c,
		     const uint64_t *bm, uint64_t from, uint64_t nwords);
/* Bit @i of @bm, in the metadata; a hole reads as 0, unread. */
bool meta_bit_test(const struct heap *h, struct meta_cursor *c,
		   const uint64_t *bm, uint64_t i);
/* The set bits [0, @nbits) of @bm, in the metadata.  Reads only data. */
uint64_t meta_bits_count(const struct heap *h, struct meta_cursor *c,
			 const uint64_t *bm, uint64_t nbits);

/* heap_mag.c: the magazine marks of USED spans */
/*
 * The magazine state (HEAP_MAG_*) of the USED head @p; reads no bitmap
 * while no span has a mark.
 */
unsigned int mag_state(const struct heap *h, uint32_t p);
/* Clear the marks of the USED head @p of @n pages, if it has any. */
void mag_forget(struct heap *h, uint32_t p, uint32_t n);
/* What heap_check()'s page walk found of the marks. */
struct mag_walk {
	struct meta_cursor mag_c, fill_c; /* where it is in each bitmap */
	uint64_t heads, fill_heads;	/* marked heads of live owners */
	uint64_t pages, fill_pages;	/* their pages */
};
/*
 * M1 for the USED head @p of @n pages of a live owner: its bits, read
 * only where the metadata holds data; counted in @w.
 */
void mag_check_head(const struct heap *h, uint32_t p, uint32_t n,
		    struct mag_walk *w);
/*
 * Abort unless the bitmaps hold (M1, M2): no bits but the ones the walk
 * counted in @w, none past grown, and the header's counts.
 */
void mag_check(const struct heap *h, const struct mag_walk *w);

#endif
