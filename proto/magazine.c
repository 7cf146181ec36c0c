// SPDX-License-Identifier: MIT
/*
 * The operations on a client's magazine region, its format and its
 * header check; the design is in magazine.h.
 *
 * Every word read from shared memory is read once, into a local, and
 * only the local is used: a value the other process changes meanwhile
 * cannot make two checks disagree.  A ring holds (head - tail) mod 2^32
 * entries; any figure above MAG_RING_CAP is corruption.  A ring slot is
 * always an index masked by MAG_RING_CAP - 1, and a stack slot an index
 * below a count checked against MAG_STACK_CAP, so no value the client
 * writes reaches outside the region.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "magazine.h"

#define MAG_MASK (MAG_RING_CAP - 1)

size_t mag_layout_size(uint32_t page_size)
{
	size_t n = sizeof(struct mag_region);

	if (page_size < MAG_LINE || (page_size & (page_size - 1)))
		return 0;
	return (n + page_size - 1) & ~((size_t)page_size - 1);
}

int mag_format(void *mem, size_t size, uint32_t page_size, int32_t pid)
{
	struct mag_region *r = mem;
	size_t want = mag_layout_size(page_size);

	if (!want || size != want || (uintptr_t)mem % MAG_LINE || pid <= 0)
		return -EINVAL;
	memset(mem, 0, size);
	r->hdr.magic = MAG_MAGIC;
	r->hdr.version = MAG_VERSION;
	r->hdr.nclasses = MAG_NCLASSES;
	r->hdr.page_size = page_size;
	r->hdr.ring_cap = MAG_RING_CAP;
	r->hdr.region_size = size;
	r->hdr.stack_cap = MAG_STACK_CAP;
	r->hdr.pid = pid;
	for (unsigned int i = 0; i < MAG_NCLASSES; i++)
		r->hdr.class_pages[i] = 1u << i;
	/* Publishes the rest of the header to whoever maps it next. */
	atomic_store_explicit(&r->st.flags, 0, memory_order_release);
	return 0;
}

int mag_check_header(const void *mem, size_t len)
{
	const struct mag_header *h = mem;
	const struct mag_status *st =
		(const void *)((const char *)mem + MAG_LINE);
	uint32_t flags;

	if (len < 2 * MAG_LINE || (uintptr_t)mem % MAG_LINE)
		return -EBADMSG;
	if (h->magic != MAG_MAGIC)
		return -EBADMSG;
	if (h->version != MAG_VERSION)
		return -EPROTONOSUPPORT;
	if (h->nclasses != MAG_NCLASSES || h->ring_cap != MAG_RING_CAP ||
	    h->stack_cap != MAG_STACK_CAP || h->pad != 0 || h->pid <= 0)
		return -EBADMSG;
	if (!mag_layout_size(h->page_size) ||
	    h->region_size != mag_layout_size(h->page_size) ||
	    h->region_size != len)
		return -EBADMSG;
	for (unsigned int i = 0; i < MAG_NCLASSES; i++)
		if (h->class_pages[i] != 1u << i)
			return -EBADMSG;
	for (unsigned int i = 0; i < sizeof(st->pad) / sizeof(st->pad[0]); i++)
		if (st->pad[i])
			return -EBADMSG;
	/* Pairs with the daemon's release of every flag it sets. */
	flags = atomic_load_explicit(&st->flags, memory_order_acquire);
	if (flags & ~MAG_FLAGS)
		return -EBADMSG;
	return 0;
}

int mag_class_of(uint64_t npages)
{
	if (!npages || npages > MAG_MAX_PAGES)
		return -E2BIG;
	/* The bits of npages - 1: 1 -> 0, 2 -> 1, 3 and 4 -> 2, ... */
	return npages == 1 ? 0 : 64 - __builtin_clzll(npages - 1);
}

/* Entries a ring of @head and @tail holds; above MAG_RING_CAP: corrupt. */
static uint32_t ring_used(uint32_t head, uint32_t tail)
{
	return head - tail;
}

/*
 * The client's count of @ring from the *@tail it has read (acquire)
 * on: 0 to MAG_RING_CAP, or MAG_RING_CAP + 1 if the indices are
 * corrupt.  The head is read after the tail, so it is never behind it
 * (the daemon revokes only what it has produced).  But the daemon may
 * revoke entries after the tail was read and produce into their slots,
 * so that the head reads more than MAG_RING_CAP past a stale tail: the
 * tail is read again then, and only one that has not moved is corrupt.
 */
static uint32_t fill_used(struct mag_ring *ring, uint32_t *tail)
{
	for (;;) {
		/* Pairs with the daemon's release of head: the entry is in. */
		uint32_t head = atomic_load_explicit(&ring->head,
						     memory_order_acquire);
		uint32_t n = ring_used(head, *tail);
		uint32_t now;

		if (n <= MAG_RING_CAP)
			return n;
		now = atomic_load_explicit(&ring->tail, memory_order_acquire);
		if (now == *tail)
			return MAG_RING_CAP + 1;
		*tail = now;
	}
}

uint32_t mag_fill_count(struct mag_ring *ring)
{
	uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);

	return fill_used(ring, &tail);
}

int mag_fill_take(struct mag_ring *ring, uint64_t *ret_off)
{
	uint32_t tail;

	return mag_fill_take_at(ring, ret_off, &tail);
}

int mag_fill_take_at(struct mag_ring *ring, uint64_t *ret_off,
		     uint32_t *ret_tail)
{
	uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);

	for (;;) {
		uint32_t n = fill_used(ring, &tail);
		uint64_t off;

		if (n > MAG_RING_CAP)
			return -EBADMSG;
		if (!n)
			return -EAGAIN;
		/*
		 * Relaxed: ordered by the acquire of head.  The slot cannot
		 * be produced into again until tail has passed it, which
		 * only our swap below or the daemon's revoke does, and then
		 * the swap fails.
		 */
		off = atomic_load_explicit(&ring->entry[tail & MAG_MASK],
					   memory_order_relaxed);
		/* On failure @tail is reloaded: the daemon revoked one. */
		if (atomic_compare_exchange_weak_explicit(
			    &ring->tail, &tail, tail + 1, memory_order_acq_rel,
			    memory_order_acquire)) {
			*ret_off = off;
			*ret_tail = tail + 1;
			return 0;
		}
	}
}

int mag_stack_push(struct mag_stack *st, uint64_t off, uint32_t max,
		   uint32_t *ret_count)
{
	uint64_t w = atomic_load_explicit(&st->ctl, memory_order_acquire);

	if (max > MAG_STACK_CAP)
		max = MAG_STACK_CAP;
	for (;;) {
		uint32_t n = MAG_STACK_COUNT(w);

		if (n > MAG_STACK_CAP)
			return -EBADMSG;
		if (n >= max)
			return -EAGAIN;
		/*
		 * Slot n is above the count: no pop reads it until our swap
		 * publishes it (release).  If the swap fails, a pop took
		 * slot n - 1 meanwhile, after reading it, and we write
		 * again at the new count.
		 */
		atomic_store_explicit(&st->slot[n], off, memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(
			    &st->ctl, &w, MAG_STACK_WORD(n + 1,
							 MAG_STACK_GEN(w) + 1),
			    memory_order_acq_rel, memory_order_acquire)) {
			*ret_count = n + 1;
			return 0;
		}
	}
}

/*
 * Pop the newest entry of @st, trying the swap at most @tries times
 * (0: until it succeeds), and say how many are left in *@ret_count.
 * Returns 0, -ENOENT if empty, -EBADMSG for a count above the cap,
 * -EAGAIN if every try lost.
 */
static int stack_pop(struct mag_stack *st, unsigned int tries,
		     uint64_t *ret_off, uint32_t *ret_count)
{
	uint64_t w = atomic_load_explicit(&st->ctl, memory_order_acquire);

	for (unsigned int i = 0; !tries || i < tries; i++) {
		uint32_t n = MAG_STACK_COUNT(w);
		uint64_t off;

		if (n > MAG_STACK_CAP)
			return -EBADMSG;
		if (!n)
			return -ENOENT;
		/* Relaxed: ordered by the acquire of the word that said n. */
		off = atomic_load_explicit(&st->slot[n - 1],
					   memory_order_relaxed);
		/*
		 * Release: the read above happens before any push that
		 * sees the new count and writes slot n - 1 again.
		 */
		if (atomic_compare_exchange_weak_explicit(
			    &st->ctl, &w, MAG_STACK_WORD(n - 1,
							 MAG_STACK_GEN(w) + 1),
			    memory_order_acq_rel, memory_order_acquire)) {
			*ret_off = off;
			*ret_count = n - 1;
			return 0;
		}
	}
	return -EAGAIN;
}

int mag_stack_pop(struct mag_stack *st, uint64_t *ret_off,
		  uint32_t *ret_count)
{
	uint32_t left;
	int r = stack_pop(st, 0, ret_off, &left);

	if (r == 0 && ret_count)
		*ret_count = left;
	return r == -ENOENT ? -EAGAIN : r;
}

uint32_t mag_stack_count(struct mag_stack *st)
{
	uint32_t n = MAG_STACK_COUNT(atomic_load_explicit(
		&st->ctl, memory_order_acquire));

	return n > MAG_STACK_CAP ? MAG_STACK_CAP : n;
}

int mag_fill_sync(struct mag_ring *ring, struct mag_fill_cursor *cur)
{
	/* Once, into a local: the client may change it at any time. */
	uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
	uint32_t taken = tail - cur->seen;

	/* tail in [seen, head], all modulo 2^32. */
	if (taken > cur->head - cur->seen)
		return -EBADMSG;
	cur->seen = tail;
	return (int)taken;
}

int mag_fill_push(struct mag_ring *ring, struct mag_fill_cursor *cur,
		  uint64_t off)
{
	uint32_t head = cur->head;

	if (ring_used(head, cur->seen) >= MAG_RING_CAP)
		return -EAGAIN;
	/* Relaxed: the release of head below orders it. */
	atomic_store_explicit(&ring->entry[head & MAG_MASK], off,
			      memory_order_relaxed);
	/* Pairs with the client's acquire of head. */
	atomic_store_explicit(&ring->head, head + 1, memory_order_release);
	cur->head = head + 1;
	return 0;
}

int mag_fill_revoke(struct mag_ring *ring, struct mag_fill_cursor *cur)
{
	uint32_t tail = cur->seen;

	if (cur->head == tail)
		return -ENOENT;
	/* Strong: a spurious failure would read as the client's doing. */
	if (!atomic_compare_exchange_strong_explicit(
		    &ring->tail, &tail, cur->seen + 1, memory_order_acq_rel,
		    memory_order_acquire))
		return -EAGAIN;
	cur->seen++;
	return 0;
}

int mag_stack_take(struct mag_stack *st, uint64_t *ret_off)
{
	uint32_t left;

	return stack_pop(st, MAG_CAS_TRIES, ret_off, &left);
}

int mag_stack_count_checked(struct mag_stack *st)
{
	uint32_t n = MAG_STACK_COUNT(atomic_load_explicit(
		&st->ctl, memory_order_acquire));

	return n > MAG_STACK_CAP ? -EBADMSG : (int)n;
}
