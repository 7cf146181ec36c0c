/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory format of one client's magazine region: spans of the
 * small classes handed out and taken back without a round trip
 * (issue 11).  This is the only definition of it; proto/magazine.c has
 * the ring operations.
 *
 * Goal.  A small span is allocated and freed with no system call in the
 * common path: the daemon fills rings ahead of need, the client pops a
 * span from one and pushes a freed span into another, and only a ring
 * that ran dry or filled up makes the client talk to the daemon.
 *
 * The region.  One per client: its own sealed memfd (never the arena),
 * made by the daemon, sent at HELLO and mapped by that client and the
 * daemon only.  It starts with struct mag_header and then holds, per
 * class (MAG_NCLASSES classes of 1, 2, 4, 8, 16, 32 and 64 pages), a
 * fill ring and a return ring and two counters, struct mag_class.  Its
 * size is mag_layout_size(): struct mag_region rounded up to the page.
 * It holds no pointers, only arena byte offsets: every process maps the
 * region and the arena at addresses of its own.
 *
 * The rings.  Each is single producer, single consumer, MAG_RING_CAP
 * entries (a power of two) of uint64_t arena byte offsets.  head and
 * tail are free-running uint32_t counters, each on its own 64-byte
 * line; the ring holds head - tail entries (modulo 2^32), which is
 * never more than MAG_RING_CAP, and entry i lives in slot
 * i & (MAG_RING_CAP - 1).
 *   fill ring:   the daemon produces (writes head and the entries),
 *                the client consumes (writes tail);
 *   return ring: the client produces (head, entries), the daemon
 *                consumes (tail).
 *   counters:    fast_allocs and fast_frees, written by the client; the
 *                daemon only reads them for stats and never trusts them.
 *   header:      written once by mag_format(); afterwards the daemon
 *                alone writes flags (MAG_F_DEAD: the daemon has stopped
 *                serving the region, the client must use the socket).
 *                pid names the process the region was made for: a
 *                forked child, whose getpid() differs, must not touch
 *                its parent's region and uses the socket instead.
 *
 * Memory ordering.  Every field another process writes is a C11 atomic
 * (lock-free, so it works across processes; asserted below).  The
 * producer stores an entry (relaxed), then its head with release; the
 * consumer loads head with acquire, then the entry (relaxed), then
 * stores its tail with release, which hands the slot back; the
 * producer loads tail with acquire before it reuses a slot.  flags is
 * stored with release and loaded with acquire.  The counters are
 * relaxed.  No locks: a client's threads serialise on a lock of their
 * own before they touch the client's ends of the rings.
 *
 * What a hostile client can do: write anything, at any time, anywhere
 * in the region: any index, any entry, the header, the counters, the
 * daemon's own indices.  What it cannot do through it:
 *   - move the daemon's indices: the daemon keeps its own copy of the
 *     index it owns (the fill ring's head, the return ring's tail),
 *     writes it out and never reads it back (mag_ring_push_checked(),
 *     mag_ring_pop_checked());
 *   - make the daemon read or write out of bounds: a slot is an index
 *     masked by MAG_RING_CAP - 1, and the daemon never reads the header
 *     back (it keeps its own copy of what it formatted);
 *   - make the daemon produce into a full ring or consume what was not
 *     produced: an index of the other side that would make the ring
 *     hold more than MAG_RING_CAP entries, or fewer than none, is
 *     corruption (-EBADMSG), and nothing is produced or consumed;
 *   - make the daemon wait: no operation spins, sleeps or locks.
 * What it can do, and what the daemon must therefore check: the
 * entries it pops from a return ring are whatever the client wrote.
 * They are handed to the caller unchecked; validating each against the
 * heap (a live span, owned by this client, handed out through this
 * magazine, not already returned) is the daemon's job, not this
 * format's.  A tail of the fill ring that moves backwards within the
 * capacity only makes the daemon see less room, and the client re-read
 * spans it already took: that hurts the client alone, and the return
 * path's validation catches a span freed twice.  A counter is stats.
 *
 * Watermarks.  When the daemon refills a fill ring, how far, and when
 * a client tells it that a ring ran low or filled up, is the daemon's
 * and the library's policy, not this format's: e.g. refill a fill ring
 * below a quarter full up to its class's adaptive target, drain a
 * return ring above three quarters full, and drain every ring on the
 * daemon's tick.  The format only bounds every ring to MAG_RING_CAP.
 */
#ifndef SPANHEAP_PROTO_MAGAZINE_H
#define SPANHEAP_PROTO_MAGAZINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MAG_MAGIC 0x4d485053u	/* "SPHM" in memory order */
#define MAG_VERSION 1
#define MAG_NCLASSES 7		/* classes of 1, 2, 4 ... 64 pages */
#define MAG_MAX_PAGES (1u << (MAG_NCLASSES - 1))
#define MAG_RING_CAP 64u	/* entries in one ring, a power of two */
#define MAG_LINE 64		/* bytes of a cache line */

/* mag_header.flags, written by the daemon only */
#define MAG_F_DEAD 0x1u		/* not served any more: use the socket */
#define MAG_FLAGS MAG_F_DEAD

_Static_assert((MAG_RING_CAP & (MAG_RING_CAP - 1)) == 0,
	       "MAG_RING_CAP is a power of two");
_Static_assert(MAG_RING_CAP <= UINT32_MAX / 2, "MAG_RING_CAP fits the indices");
/* Atomics in memory shared between processes must be lock-free. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free 32-bit atomics");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "lock-free 64-bit atomics");

/* The first line of the region; all but flags constant after format. */
struct mag_header {
	uint32_t magic;		/* MAG_MAGIC */
	uint16_t version;	/* MAG_VERSION */
	uint16_t nclasses;	/* MAG_NCLASSES */
	uint32_t page_size;	/* bytes, the arena's page */
	uint32_t ring_cap;	/* MAG_RING_CAP */
	uint64_t region_size;	/* bytes, mag_layout_size(page_size) */
	_Atomic uint32_t flags;	/* MAG_F_*, the daemon's: release/acquire */
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
_Static_assert(offsetof(struct mag_header, flags) == 24, "flags");
_Static_assert(offsetof(struct mag_header, pid) == 28, "pid");
_Static_assert(offsetof(struct mag_header, class_pages) == 32, "class_pages");
_Static_assert(offsetof(struct mag_header, pad) == 60, "pad");

/*
 * One single-producer, single-consumer ring.  The producer writes head
 * and the entries, the consumer writes tail; each index on a line of
 * its own, so that the two sides do not share a line they write.
 */
struct mag_ring {
	_Atomic uint32_t head;	/* the producer's: entries produced */
	uint32_t pad_head[MAG_LINE / 4 - 1];
	_Atomic uint32_t tail;	/* the consumer's: entries consumed */
	uint32_t pad_tail[MAG_LINE / 4 - 1];
	_Atomic uint64_t entry[MAG_RING_CAP]; /* arena byte offsets */
};
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 is 4 bytes");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 is 8 bytes");
_Static_assert(offsetof(struct mag_ring, head) == 0, "mag_ring head");
_Static_assert(offsetof(struct mag_ring, tail) == MAG_LINE, "mag_ring tail");
_Static_assert(offsetof(struct mag_ring, entry) == 2 * MAG_LINE,
	       "mag_ring entry");
_Static_assert(sizeof(struct mag_ring) == 2 * MAG_LINE + 8 * MAG_RING_CAP,
	       "mag_ring");

/* One class: spans of 1 << class pages. */
struct mag_class {
	struct mag_ring fill;	/* daemon -> client */
	struct mag_ring ret;	/* client -> daemon */
	_Atomic uint64_t fast_allocs;	/* client's, relaxed; stats only */
	_Atomic uint64_t fast_frees;	/* client's, relaxed; stats only */
	uint64_t pad[MAG_LINE / 8 - 2];
};
_Static_assert(offsetof(struct mag_class, fill) == 0, "mag_class fill");
_Static_assert(offsetof(struct mag_class, ret) == sizeof(struct mag_ring),
	       "mag_class ret");
_Static_assert(offsetof(struct mag_class, fast_allocs) ==
	       2 * sizeof(struct mag_ring), "mag_class fast_allocs");
_Static_assert(offsetof(struct mag_class, fast_frees) ==
	       2 * sizeof(struct mag_ring) + 8, "mag_class fast_frees");
_Static_assert(sizeof(struct mag_class) ==
	       2 * sizeof(struct mag_ring) + MAG_LINE, "mag_class");
_Static_assert(sizeof(struct mag_class) % MAG_LINE == 0, "mag_class lines");

/* The region; mag_layout_size() rounds it up to the page. */
struct mag_region {
	struct mag_header hdr;
	struct mag_class cls[MAG_NCLASSES];
};
_Static_assert(offsetof(struct mag_region, cls) == MAG_LINE, "mag_region cls");
_Static_assert(sizeof(struct mag_region) ==
	       MAG_LINE + MAG_NCLASSES * sizeof(struct mag_class), "mag_region");
_Static_assert(sizeof(struct mag_region) == 9472, "mag_region is 9472 bytes");

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
 * Every ring empty, every counter and flag 0.  Returns 0, or -EINVAL
 * for a @page_size mag_layout_size() refuses, a @size that is not its
 * figure, a misaligned @mem or a @pid that is not positive.
 */
int mag_format(void *mem, size_t size, uint32_t page_size, int32_t pid);

/**
 * mag_check_header() - validate the header of a mapped region.
 * @mem: the mapping, aligned to MAG_LINE
 * @len: its bytes
 *
 * For the client, before it touches anything else: @len holds the
 * header, the magic and version are ours, the sizes match (page size,
 * region size, @len, ring capacity, number of classes), the class table
 * is 1, 2, 4 ... 64 pages, no unknown flag and zero padding.  The pid
 * is not checked against the caller: compare it yourself.
 * Returns 0, -EPROTONOSUPPORT for another version, -EBADMSG otherwise.
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

/**
 * mag_ring_push() - produce @off into @ring, for a side that trusts it.
 *
 * Reads its own head from the ring (the caller is its only writer) and
 * the consumer's tail.  Returns 0, -EAGAIN if the ring is full, or
 * -EBADMSG if the indices say it holds more than MAG_RING_CAP entries
 * (nothing produced either way).  The client's op on a return ring.
 */
int mag_ring_push(struct mag_ring *ring, uint64_t off);

/**
 * mag_ring_pop() - consume one entry of @ring into *@ret_off.
 *
 * The consumer's counterpart of mag_ring_push(): returns 0, -EAGAIN if
 * the ring is empty, or -EBADMSG if the indices say it holds more than
 * MAG_RING_CAP entries (nothing consumed).  The client's op on a fill
 * ring.
 */
int mag_ring_pop(struct mag_ring *ring, uint64_t *ret_off);

/**
 * mag_ring_push_checked() - the daemon produces @off into @ring.
 * @my_head: the daemon's own copy of the ring's head, never read back
 *           from shared memory; advanced by one on success
 *
 * Reads only the consumer's tail from shared memory.  A tail that
 * would make the ring hold more than MAG_RING_CAP entries (ahead of
 * *@my_head, or more than the capacity behind it) is corruption.
 * Returns 0, -EAGAIN if the ring is full or -EBADMSG; on an error
 * nothing is produced and *@my_head is unchanged.
 */
int mag_ring_push_checked(struct mag_ring *ring, uint32_t *my_head,
			  uint64_t off);

/**
 * mag_ring_pop_checked() - the daemon consumes one entry of @ring.
 * @my_tail: the daemon's own copy of the ring's tail, never read back
 *           from shared memory; advanced by one on success
 * @ret_off: the entry, exactly as the client wrote it: the caller must
 *           validate it against the heap before any use
 *
 * Reads only the producer's head and the entry.  A head behind
 * *@my_tail or more than MAG_RING_CAP ahead of it is corruption.
 * Returns 0, -EAGAIN if the ring is empty or -EBADMSG; on an error
 * nothing is consumed and *@my_tail and *@ret_off are unchanged.
 */
int mag_ring_pop_checked(struct mag_ring *ring, uint32_t *my_tail,
			 uint64_t *ret_off);

#endif
