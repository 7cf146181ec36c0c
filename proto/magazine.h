/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory format of one client's magazine region: spans of the
 * small classes handed out and taken back without a round trip
 * (issue 11).  This is the only definition of it; proto/magazine.c has
 * the operations on it.
 *
 * Goal.  A small span is allocated and freed with no system call in the
 * common path.  The daemon fills a ring ahead of need; the client takes
 * spans from it, and pushes the spans it frees onto a stack of its own
 * in the region, from which it takes them again first.  So a client
 * that allocates and frees at about the same rate never talks to the
 * daemon; one that only allocates drains the ring and asks for more
 * before it runs dry; one that only frees fills its stack past the
 * daemon's limit and asks the daemon to take the surplus.  A return
 * path through the daemon alone (an SPSC ring the client pushes into
 * and only the daemon pops) would make every freed span wait for the
 * daemon before it could be used again, and waking the daemon costs
 * 100-350 us on another CPU: the stack is the return path that the
 * client may reuse at once and the daemon may still empty.
 *
 * The region.  One per client: its own sealed memfd (never the arena),
 * made by the daemon, sent with WELCOME and mapped by that client and
 * the daemon only.  It starts with struct mag_header (constant after
 * format) and struct mag_status (the daemon's), then holds, per class
 * (MAG_NCLASSES classes of 1, 2, 4, 8, 16, 32 and 64 pages), struct
 * mag_class: a fill ring, a return stack, the daemon's limit and the
 * client's counters.  Its size is mag_layout_size(): struct mag_region
 * rounded up to the page.  It holds no pointers, only arena byte
 * offsets: every process maps the region and the arena where it likes.
 *
 * The fill ring.  MAG_RING_CAP entries (a power of two) of uint64_t
 * arena offsets; head and tail are free-running uint32_t counters, each
 * on a 64-byte line of its own.  The ring holds head - tail entries
 * (mod 2^32), never more than MAG_RING_CAP; entry i lives in slot
 * i & (MAG_RING_CAP - 1).  One producer, the daemon, writes the entries
 * and head.  The entries are consumed by moving tail by one with a
 * compare-and-swap: the client does so to take a span
 * (mag_fill_take()), and the daemon to take one back unused
 * (mag_fill_revoke()), the only way it can empty the ring of a client
 * that has gone idle.  Whoever moves tail from t owns entry t.
 *
 * The return stack.  MAG_STACK_CAP slots of arena offsets and one 64-bit
 * control word: the number of entries in the low 32 bits, a generation
 * in the high 32 that every change bumps.  Only the client pushes
 * (mag_stack_push(): write slot n, then swap the word from n to n + 1);
 * the client pops (mag_stack_pop()) and so does the daemon
 * (mag_stack_take()): read slot n - 1, then swap the word from n to
 * n - 1.  A pop whose swap succeeded read its slot while the word was
 * unchanged, and the slot is only written by a push of the client that
 * had seen the count at n - 1, after the pop's swap: so every entry is
 * popped by one side exactly once.  The generation keeps a word that
 * went n -> n - 1 -> n (another pop, another push) from passing for
 * unchanged.
 *
 * The daemon's fields.  mag_status.flags (MAG_F_DEAD: the daemon has
 * stopped serving the region, the client must use the socket) and
 * mag_status.served (how many times the daemon has served the region:
 * the client asks again only once it moved, so it asks once per serve,
 * not once per span); per class, limit: the entries the client may keep
 * on its stack before it asks the daemon to take the surplus, the
 * class's adaptive target.  The client's fields: per class, fast_allocs
 * and fast_frees, stats the daemon reads but never trusts.  pid in the
 * header names the process the region was made for: a forked child
 * must not touch its parent's region.
 *
 * Memory ordering.  Every field another process writes is a C11 atomic
 * (lock-free, so it works across processes; asserted below).  Entries
 * and slots are stored relaxed before the release (or acq_rel swap)
 * that publishes them and loaded relaxed after the acquire that found
 * them.  flags, served and limit are stored with release and loaded
 * with acquire; the counters are relaxed.  No locks: a client's threads
 * serialise on a lock of their own before they touch the client's side.
 *
 * What a hostile client can do: write anything, at any time, anywhere
 * in the region, the daemon's fields included.  What it cannot do
 * through it:
 *   - move the daemon's indices: the daemon keeps the fill ring's head
 *     and how far it has seen the ring consumed (struct mag_fill_cursor)
 *     to itself (in memory no client maps), writes head out and never
 *     reads it back;
 *   - make the daemon read or write out of bounds: every slot is an
 *     index masked by the capacity or checked against it, and the
 *     daemon never reads the header back (it keeps what it formatted);
 *   - make the daemon overwrite an entry not yet consumed, or count as
 *     consumed what was never produced, or un-consume an entry: a tail
 *     behind what the daemon has seen consumed, or past its head, is
 *     corruption (-EBADMSG) and changes nothing; so is a stack count
 *     above MAG_STACK_CAP;
 *   - make the daemon wait: no operation sleeps or locks, and each
 *     swap is tried a bounded number of times (MAG_CAS_TRIES) before
 *     the operation gives up with -EAGAIN.
 * What it can do, and what the daemon must check: an entry it takes
 * from a return stack is whatever the client wrote there.  It is handed
 * to the caller unchecked; validating it against the heap (a live span,
 * owned by this client, handed out through this magazine and taken by
 * the client, not already returned) is the daemon's job, not the
 * format's.  A client that takes an entry and then moves the tail back
 * before the daemon looks keeps an offset the daemon may then revoke
 * and free: it can write into a span that is no longer its own, which
 * it could do anyway (every client of one socket maps the whole arena:
 * one socket is one trust group), and the daemon's records stay exact.
 * Counters are stats.
 *
 * Watermarks (the library's and the daemon's policy, not the format's):
 * the client asks the daemon to serve it (a message with no reply) when
 * a take leaves its ring and stack with few spans of the class, or a
 * push leaves its stack above the class's limit, and it has not asked
 * since served last moved; it waits for the daemon only when the class
 * is empty, or the stack full.  The daemon serves on those messages and
 * on its tick.
 */
#ifndef SPANHEAP_PROTO_MAGAZINE_H
#define SPANHEAP_PROTO_MAGAZINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MAG_MAGIC 0x4d485053u	/* "SPHM" in memory order */
#define MAG_VERSION 2
#define MAG_NCLASSES 7		/* classes of 1, 2, 4 ... 64 pages */
#define MAG_MAX_PAGES (1u << (MAG_NCLASSES - 1))
#define MAG_RING_CAP 64u	/* entries of a fill ring, a power of two */
#define MAG_STACK_CAP 64u	/* slots of a return stack */
#define MAG_LINE 64		/* bytes of a cache line */
/* Swaps the daemon tries before it gives up on a contended word. */
#define MAG_CAS_TRIES 8

/* mag_status.flags, written by the daemon only */
#define MAG_F_DEAD 0x1u		/* not served any more: use the socket */
#define MAG_FLAGS MAG_F_DEAD

_Static_assert((MAG_RING_CAP & (MAG_RING_CAP - 1)) == 0,
	       "MAG_RING_CAP is a power of two");
_Static_assert(MAG_RING_CAP <= UINT32_MAX / 2, "MAG_RING_CAP fits the indices");
/* Atomics in memory shared between processes must be lock-free. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free 32-bit atomics");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "lock-free 64-bit atomics");

/* The first line of the region: constant after mag_format(). */
struct mag_header {
	uint32_t magic;		/* MAG_MAGIC */
	uint16_t version;	/* MAG_VERSION */
	uint16_t nclasses;	/* MAG_NCLASSES */
	uint32_t page_size;	/* bytes, the arena's page */
	uint32_t ring_cap;	/* MAG_RING_CAP */
	uint64_t region_size;	/* bytes, mag_layout_size(page_size) */
	uint32_t stack_cap;	/* MAG_STACK_CAP */
	int32_t pid;		/* the process the region was made for */
	uint32_t class_pages[MAG_NCLASSES]; /* 1 << class */
	uint32_t pad;		/* 0 */
};
_Static_assert(sizeof(struct mag_header) == MAG_LINE, "mag_header");
_Static_assert(offsetof(struct mag_header, version) == 4, "version");
_Static_assert(offsetof(struct mag_header, nclasses) == 6, "nclasses");
_Static_assert(offsetof(struct mag_header, page_size) == 8, "page_size");
_Static_assert(offsetof(struct mag_header, ring_cap) == 12, "ring_cap");
_Static_assert(offsetof(struct mag_header, region_size) == 16, "region_size");
_Static_assert(offsetof(struct mag_header, stack_cap) == 24, "stack_cap");
_Static_assert(offsetof(struct mag_header, pid) == 28, "pid");
_Static_assert(offsetof(struct mag_header, class_pages) == 32, "class_pages");
_Static_assert(offsetof(struct mag_header, pad) == 60, "pad");

/* The second line: the daemon's, release/acquire. */
struct mag_status {
	_Atomic uint32_t flags;	/* MAG_F_* */
	_Atomic uint32_t served; /* serves of the region so far */
	uint32_t pad[MAG_LINE / 4 - 2];
};
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 is 4 bytes");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 is 8 bytes");
_Static_assert(sizeof(struct mag_status) == MAG_LINE, "mag_status");
_Static_assert(offsetof(struct mag_status, served) == 4, "mag_status served");

/*
 * The fill ring: the daemon writes head and the entries; tail moves by
 * compare-and-swap, by the client taking or the daemon revoking.
 */
struct mag_ring {
	_Atomic uint32_t head;	/* the daemon's: entries produced */
	uint32_t pad_head[MAG_LINE / 4 - 1];
	_Atomic uint32_t tail;	/* entries consumed, by either side */
	uint32_t pad_tail[MAG_LINE / 4 - 1];
	_Atomic uint64_t entry[MAG_RING_CAP]; /* arena byte offsets */
};
_Static_assert(offsetof(struct mag_ring, head) == 0, "mag_ring head");
_Static_assert(offsetof(struct mag_ring, tail) == MAG_LINE, "mag_ring tail");
_Static_assert(offsetof(struct mag_ring, entry) == 2 * MAG_LINE,
	       "mag_ring entry");
_Static_assert(sizeof(struct mag_ring) == 2 * MAG_LINE + 8 * MAG_RING_CAP,
	       "mag_ring");

/* The return stack's control word: count | generation << 32. */
#define MAG_STACK_COUNT(w) ((uint32_t)(w))
#define MAG_STACK_GEN(w) ((uint32_t)((w) >> 32))
#define MAG_STACK_WORD(count, gen) \
	((uint64_t)(uint32_t)(count) | (uint64_t)(uint32_t)(gen) << 32)

/* The return stack: the client pushes; the client and the daemon pop. */
struct mag_stack {
	_Atomic uint64_t ctl;	/* MAG_STACK_WORD(count, generation) */
	uint64_t pad[MAG_LINE / 8 - 1];
	_Atomic uint64_t slot[MAG_STACK_CAP]; /* arena byte offsets */
};
_Static_assert(offsetof(struct mag_stack, slot) == MAG_LINE, "mag_stack slot");
_Static_assert(sizeof(struct mag_stack) == MAG_LINE + 8 * MAG_STACK_CAP,
	       "mag_stack");

/* One class: spans of 1 << class pages. */
struct mag_class {
	struct mag_ring fill;	/* daemon -> client */
	struct mag_stack ret;	/* client -> client, or daemon */
	_Atomic uint32_t limit;	/* the daemon's: entries the stack may keep */
	uint32_t pad_limit[MAG_LINE / 4 - 1];
	_Atomic uint64_t fast_allocs;	/* the client's, relaxed; stats only */
	_Atomic uint64_t fast_frees;	/* the client's, relaxed; stats only */
	uint64_t pad[MAG_LINE / 8 - 2];
};
_Static_assert(offsetof(struct mag_class, fill) == 0, "mag_class fill");
_Static_assert(offsetof(struct mag_class, ret) == sizeof(struct mag_ring),
	       "mag_class ret");
_Static_assert(offsetof(struct mag_class, limit) ==
	       sizeof(struct mag_ring) + sizeof(struct mag_stack),
	       "mag_class limit");
_Static_assert(offsetof(struct mag_class, fast_allocs) ==
	       sizeof(struct mag_ring) + sizeof(struct mag_stack) + MAG_LINE,
	       "mag_class fast_allocs");
_Static_assert(sizeof(struct mag_class) ==
	       sizeof(struct mag_ring) + sizeof(struct mag_stack) +
	       2 * MAG_LINE, "mag_class");
_Static_assert(sizeof(struct mag_class) % MAG_LINE == 0, "mag_class lines");

/* The region; mag_layout_size() rounds it up to the page. */
struct mag_region {
	struct mag_header hdr;
	struct mag_status st;
	struct mag_class cls[MAG_NCLASSES];
};
_Static_assert(offsetof(struct mag_region, st) == MAG_LINE, "mag_region st");
_Static_assert(offsetof(struct mag_region, cls) == 2 * MAG_LINE,
	       "mag_region cls");
_Static_assert(sizeof(struct mag_region) ==
	       2 * MAG_LINE + MAG_NCLASSES * sizeof(struct mag_class),
	       "mag_region");
_Static_assert(sizeof(struct mag_region) == 9536, "mag_region is 9536 bytes");

/**
 * mag_layout_size() - the bytes of a region for arena pages of @page_size.
 *
 * sizeof(struct mag_region) rounded up to @page_size.  Returns 0 if
 * @page_size is not a power of two of at least MAG_LINE bytes.
 */
size_t mag_layout_size(uint32_t page_size);

/**
 * mag_format() - write an empty region into @mem.
 * @mem: @size bytes, aligned to MAG_LINE; the daemon's mapping of the
 *       region before it is sent
 * @size: mag_layout_size(@page_size)
 * @page_size: the arena's page size
 * @pid: the process the region is made for (the client's pid)
 *
 * Every ring and stack empty, every limit, counter and flag 0.  Returns
 * 0, or -EINVAL for a @page_size mag_layout_size() refuses, a @size
 * that is not its figure, a misaligned @mem or a @pid that is not
 * positive.
 */
int mag_format(void *mem, size_t size, uint32_t page_size, int32_t pid);

/**
 * mag_check_header() - validate the header of a mapped region.
 * @mem: the mapping, aligned to MAG_LINE
 * @len: its bytes
 *
 * For the client, before it touches anything else: @len holds the
 * header and status, the magic and version are ours, the sizes match
 * (page size, region size, @len, ring and stack capacity, number of
 * classes), the class table is 1, 2, 4 ... 64 pages, no unknown flag
 * and zero padding.  The pid is not checked against the caller: compare
 * it yourself.  Returns 0, -EPROTONOSUPPORT for another version,
 * -EBADMSG otherwise.
 */
int mag_check_header(const void *mem, size_t len);

/**
 * mag_class_of() - the class of a request for @npages pages.
 *
 * The smallest class of at least @npages pages.  Returns it (0 to
 * MAG_NCLASSES - 1), or -E2BIG for 0 or more than MAG_MAX_PAGES pages:
 * those go through the socket.
 */
int mag_class_of(uint64_t npages);

/* The client's side: it trusts the daemon, under its own lock. */

/**
 * mag_fill_count() - entries the fill ring holds now, as the client
 * sees it: 0 if empty, MAG_RING_CAP + 1 if the indices are impossible.
 */
uint32_t mag_fill_count(struct mag_ring *ring);

/**
 * mag_fill_take() - the client takes the oldest entry of @ring.
 *
 * Retries its swap for as long as the daemon revokes entries under it.
 * Returns 0 and the entry in *@ret_off, -EAGAIN if the ring is empty,
 * or -EBADMSG if the indices say it holds more than MAG_RING_CAP.
 */
int mag_fill_take(struct mag_ring *ring, uint64_t *ret_off);

/**
 * mag_fill_take_at() - mag_fill_take(), and the tail just after this
 * take in *@ret_tail: what a client that resumes after a restart of the
 * daemon reports as its took (restart-interfaces.md, section 4).
 */
int mag_fill_take_at(struct mag_ring *ring, uint64_t *ret_off,
		     uint32_t *ret_tail);

/**
 * mag_stack_push() - the client pushes @off onto its return stack, if it
 * holds fewer than @max entries (at most MAG_STACK_CAP counts).
 *
 * Returns 0 and the entries it then holds in *@ret_count, -EAGAIN if it
 * holds @max or more, or -EBADMSG if its count is above MAG_STACK_CAP.
 */
int mag_stack_push(struct mag_stack *st, uint64_t off, uint32_t max,
		   uint32_t *ret_count);

/**
 * mag_stack_pop() - the client pops the newest entry of its stack.
 * @ret_count: if not NULL, the entries it holds after the pop
 *
 * Returns 0 and the entry in *@ret_off, -EAGAIN if it is empty, or
 * -EBADMSG if its count is above MAG_STACK_CAP.
 */
int mag_stack_pop(struct mag_stack *st, uint64_t *ret_off,
		  uint32_t *ret_count);

/**
 * mag_stack_count() - the entries of the stack now, at most
 * MAG_STACK_CAP (a larger count, which is corrupt, reads as the cap).
 */
uint32_t mag_stack_count(struct mag_stack *st);

/* The daemon's side: it trusts nothing it reads from the region. */

/*
 * The daemon's own view of one fill ring, never in memory a client
 * maps (it lives in the daemon's durable record, daemon/magazine.c):
 * the head it has produced up to, and how far it has seen the ring
 * consumed.  seen <= tail <= head always holds for a client that obeys
 * the format; anything else is corruption.
 */
struct mag_fill_cursor {
	uint32_t head;
	uint32_t seen;
};

/**
 * mag_fill_sync() - what the client has taken since the last sync.
 *
 * Reads the tail once.  Returns the number of entries consumed since
 * @cur->seen (those from @cur->seen on, in order: the caller marks them
 * taken) and moves @cur->seen past them; or -EBADMSG, changing nothing,
 * if the tail is behind @cur->seen or past @cur->head.
 */
int mag_fill_sync(struct mag_ring *ring, struct mag_fill_cursor *cur);

/**
 * mag_fill_push() - the daemon produces @off into @ring.
 *
 * Room is reckoned from @cur alone (call mag_fill_sync() first to see
 * the latest room): -EAGAIN if head - seen is MAG_RING_CAP.  On success
 * writes the entry, then head, and advances @cur->head.
 */
int mag_fill_push(struct mag_ring *ring, struct mag_fill_cursor *cur,
		  uint64_t off);

/**
 * mag_fill_revoke() - the daemon takes back the oldest entry unused.
 *
 * Swaps the tail from @cur->seen to @cur->seen + 1, once.  Returns 0
 * if it did: entry @cur->seen is the daemon's again (the caller knows
 * which span it put there) and @cur->seen has moved past it; -ENOENT if
 * the ring is empty (@cur->seen == @cur->head); -EAGAIN if the tail was
 * not @cur->seen (the client took entries meanwhile: sync and retry, or
 * the client wrote its tail: the sync tells).  Nothing changes on error.
 */
int mag_fill_revoke(struct mag_ring *ring, struct mag_fill_cursor *cur);

/**
 * mag_stack_take() - the daemon pops the newest entry of a return stack.
 * @ret_off: the entry, exactly as the client wrote it: the caller must
 *           validate it against the heap before any use
 *
 * Returns 0 and the entry; -ENOENT if the stack is empty; -EBADMSG if
 * its count is above MAG_STACK_CAP; -EAGAIN if MAG_CAS_TRIES swaps lost
 * to the client.  Nothing is popped on error.
 */
int mag_stack_take(struct mag_stack *st, uint64_t *ret_off);

/**
 * mag_stack_count_checked() - the count of a return stack, for the
 * daemon: -EBADMSG if it is above MAG_STACK_CAP.
 */
int mag_stack_count_checked(struct mag_stack *st);

#endif
