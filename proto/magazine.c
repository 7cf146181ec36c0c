// SPDX-License-Identifier: MIT
/*
 * The ring operations on a client's magazine region, and its format and
 * header check; the design is in magazine.h.
 *
 * Every index read from shared memory is read once, into a local, and
 * only the local is used: a value the other process changes meanwhile
 * cannot make two checks disagree.  The ring holds (head - tail) mod
 * 2^32 entries; any figure above MAG_RING_CAP is corruption, which
 * covers an index of the other side that went backwards past ours or
 * ran more than the capacity ahead.  A slot is always an index masked
 * by MAG_RING_CAP - 1, so no value of an index reaches outside the ring.
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
	r->hdr.pid = pid;
	for (unsigned int i = 0; i < MAG_NCLASSES; i++)
		r->hdr.class_pages[i] = 1u << i;
	/* Publishes the rest of the header to whoever maps it next. */
	atomic_store_explicit(&r->hdr.flags, 0, memory_order_release);
	return 0;
}

int mag_check_header(const void *mem, size_t len)
{
	const struct mag_header *h = mem;
	uint32_t flags;

	if (len < sizeof(*h) || (uintptr_t)mem % MAG_LINE)
		return -EBADMSG;
	if (h->magic != MAG_MAGIC)
		return -EBADMSG;
	if (h->version != MAG_VERSION)
		return -EPROTONOSUPPORT;
	if (h->nclasses != MAG_NCLASSES || h->ring_cap != MAG_RING_CAP ||
	    h->pad != 0 || h->pid <= 0)
		return -EBADMSG;
	if (!mag_layout_size(h->page_size) ||
	    h->region_size != mag_layout_size(h->page_size) ||
	    h->region_size != len)
		return -EBADMSG;
	for (unsigned int i = 0; i < MAG_NCLASSES; i++)
		if (h->class_pages[i] != 1u << i)
			return -EBADMSG;
	/* Pairs with the daemon's release of every flag it sets. */
	flags = atomic_load_explicit(&h->flags, memory_order_acquire);
	if (flags & ~MAG_FLAGS)
		return -EBADMSG;
	return 0;
}

int mag_class_of(uint64_t npages)
{
	int c = 0;

	if (!npages || npages > MAG_MAX_PAGES)
		return -E2BIG;
	while ((UINT64_C(1) << c) < npages)
		c++;
	return c;
}

/* Produce @off at @head, whose ring has room: the entry, then head. */
static void produce(struct mag_ring *ring, uint32_t head, uint64_t off)
{
	/* Relaxed: the release of head below orders it. */
	atomic_store_explicit(&ring->entry[head & MAG_MASK], off,
			      memory_order_relaxed);
	/* Pairs with the consumer's acquire of head. */
	atomic_store_explicit(&ring->head, head + 1, memory_order_release);
}

/* Consume the entry at @tail, which the ring holds: the entry, then tail. */
static uint64_t consume(struct mag_ring *ring, uint32_t tail)
{
	/* Relaxed: the acquire of head that found it orders it. */
	uint64_t off = atomic_load_explicit(&ring->entry[tail & MAG_MASK],
					    memory_order_relaxed);

	/* Pairs with the producer's acquire of tail: the slot is free. */
	atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
	return off;
}

/* Room in a ring of @head and @tail: 0 if full, -EBADMSG if impossible. */
static int64_t room(uint32_t head, uint32_t tail)
{
	uint32_t used = head - tail;

	if (used > MAG_RING_CAP)
		return -EBADMSG;
	return MAG_RING_CAP - used;
}

/* Entries in a ring of @head and @tail, -EBADMSG if impossible. */
static int64_t held(uint32_t head, uint32_t tail)
{
	uint32_t used = head - tail;

	if (used > MAG_RING_CAP)
		return -EBADMSG;
	return used;
}

int mag_ring_push(struct mag_ring *ring, uint64_t off)
{
	/* Relaxed: the caller (under its own lock) is head's only writer. */
	uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
	int64_t n = room(head, tail);

	if (n <= 0)
		return n ? (int)n : -EAGAIN;
	produce(ring, head, off);
	return 0;
}

int mag_ring_pop(struct mag_ring *ring, uint64_t *ret_off)
{
	/* Relaxed: the caller (under its own lock) is tail's only writer. */
	uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
	int64_t n = held(head, tail);

	if (n <= 0)
		return n ? (int)n : -EAGAIN;
	*ret_off = consume(ring, tail);
	return 0;
}

int mag_ring_push_checked(struct mag_ring *ring, uint32_t *my_head,
			  uint64_t off)
{
	uint32_t head = *my_head;
	/* Once, into a local: the client may change it at any time. */
	uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
	int64_t n = room(head, tail);

	if (n <= 0)
		return n ? (int)n : -EAGAIN;
	produce(ring, head, off);
	*my_head = head + 1;
	return 0;
}

int mag_ring_pop_checked(struct mag_ring *ring, uint32_t *my_tail,
			 uint64_t *ret_off)
{
	uint32_t tail = *my_tail;
	/* Once, into a local: the client may change it at any time. */
	uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
	int64_t n = held(head, tail);

	if (n <= 0)
		return n ? (int)n : -EAGAIN;
	*ret_off = consume(ring, tail);
	*my_tail = tail + 1;
	return 0;
}
