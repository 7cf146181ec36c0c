// SPDX-License-Identifier: MIT
/*
 * Magazine marks: which in-use spans of a client went out through its
 * magazine, and whether the client has taken them yet.  They live in
 * the heap's metadata, two bitmaps beside the page map, so that an
 * offset read back from memory a client writes is checked in O(1)
 * against the heap itself, and so that the marks are kept wherever the
 * heap is.  See heap_internal.h, "Magazines", and (M1), (M2).
 */
#include <errno.h>

#include "heap_internal.h"

unsigned int mag_state(const struct heap *h, uint32_t p)
{
	/* No mark anywhere (M2): the bitmaps are not even read. */
	if (!h->meta->mag_pages || !bit_test(h->mag, p))
		return HEAP_MAG_NONE;
	return bit_test(h->magfill, p) ? HEAP_MAG_FILL : HEAP_MAG_HELD;
}

void mag_forget(struct heap *h, uint32_t p, uint32_t n)
{
	struct heap_meta *m = h->meta;

	switch (mag_state(h, p)) {
	case HEAP_MAG_FILL:
		tx_bit_clear(h, h->magfill, p);
		tx_store64(h, &m->mag_fill_pages, m->mag_fill_pages - n);
		/* fall through */
	case HEAP_MAG_HELD:
		tx_bit_clear(h, h->mag, p);
		tx_store64(h, &m->mag_pages, m->mag_pages - n);
		break;
	default:
		break;
	}
}

int heap_mag_alloc(struct heap *h, uint64_t npages, uint32_t owner,
		   uint64_t now, struct heap_span *ret)
{
	struct heap_meta *m = h->meta;
	int r;

	heap_tx_begin(h);
	r = span_alloc(h, npages, 0, owner, now, ret);
	if (r == 0) {
		uint32_t p = (uint32_t)(ret->off >> HEAP_PAGE_SHIFT);

		tx_bit_set(h, h->mag, p);
		tx_bit_set(h, h->magfill, p);
		tx_store64(h, &m->mag_pages, m->mag_pages + npages);
		tx_store64(h, &m->mag_fill_pages, m->mag_fill_pages + npages);
	}
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return r;
}

static bool mag_moves(unsigned int from, unsigned int to)
{
	return (from == HEAP_MAG_FILL && to == HEAP_MAG_HELD) ||
	       (from == HEAP_MAG_HELD && to == HEAP_MAG_FILL);
}

int heap_mag_move(struct heap *h, uint64_t off, uint32_t owner,
		  uint64_t npages, unsigned int from, unsigned int to)
{
	struct heap_meta *m = h->meta;
	uint32_t p, holder;

	if (!mag_moves(from, to))
		return -EINVAL;
	p = span_used_head(h, off);
	if (p == SPAN_NIL)
		return -EINVAL;
	/* Nothing of another's span is looked at: not its size, nor marks. */
	holder = h->spans[p].use.owner;
	if (holder != owner || holder == HEAP_OWNER_SCAV ||
	    holder == HEAP_OWNER_OBJECTS)
		return -EPERM;
	if (span_val(h, p) != npages || mag_state(h, p) != from)
		return -EINVAL;
	heap_tx_begin(h);
	if (to == HEAP_MAG_FILL) {
		tx_bit_set(h, h->magfill, p);
		tx_store64(h, &m->mag_fill_pages, m->mag_fill_pages + npages);
	} else {
		tx_bit_clear(h, h->magfill, p);
		tx_store64(h, &m->mag_fill_pages, m->mag_fill_pages - npages);
	}
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

int heap_mag_get(const struct heap *h, uint64_t off, uint32_t *ret_owner,
		 uint64_t *ret_npages, unsigned int *ret_state)
{
	uint64_t npages;
	uint32_t owner;
	int r = heap_span_owner(h, off, &owner, &npages);

	if (r < 0)
		return r;
	*ret_owner = owner;
	*ret_npages = npages;
	*ret_state = mag_state(h, (uint32_t)(off >> HEAP_PAGE_SHIFT));
	return 0;
}

void mag_check_head(const struct heap *h, uint32_t p, uint32_t n,
		    struct mag_walk *w)
{
	bool mag = meta_bit_test(h, &w->mag_c, h->mag, p);
	bool fill = meta_bit_test(h, &w->fill_c, h->magfill, p);

	HEAP_BUG_ON(fill && !mag,
		    "(M1) span %u has a magfill bit but no mag bit", p);
	if (mag) {
		w->heads++;
		w->pages += n;
	}
	if (fill) {
		w->fill_heads++;
		w->fill_pages += n;
	}
}

void mag_check(const struct heap *h, const struct mag_walk *w)
{
	const struct heap_meta *m = h->meta;
	uint64_t words = bitmap_words(m->arena_pages);
	struct meta_cursor c = { 0 };
	uint64_t nmag, nfill;

	/* Bits the walk did not find on a live owner's head are strays. */
	nmag = meta_bits_count(h, &c, h->mag, m->grown);
	HEAP_BUG_ON(nmag != w->heads,
		    "(M1) %llu mag bits, %llu of them on heads of live owners' in-use spans",
		    (unsigned long long)nmag, (unsigned long long)w->heads);
	nfill = meta_bits_count(h, &c, h->magfill, m->grown);
	HEAP_BUG_ON(nfill != w->fill_heads,
		    "(M1) %llu magfill bits, %llu of them on heads of live owners' in-use spans",
		    (unsigned long long)nfill,
		    (unsigned long long)w->fill_heads);
	HEAP_BUG_ON(!meta_bits_clear(h, &c, h->mag, m->grown, words),
		    "(M1) a mag bit past the heap");
	HEAP_BUG_ON(!meta_bits_clear(h, &c, h->magfill, m->grown, words),
		    "(M1) a magfill bit past the heap");
	HEAP_BUG_ON(w->pages != m->mag_pages ||
			    w->fill_pages != m->mag_fill_pages,
		    "(M2) mag pages %llu/%llu or mag fill pages %llu/%llu miscounted",
		    (unsigned long long)w->pages,
		    (unsigned long long)m->mag_pages,
		    (unsigned long long)w->fill_pages,
		    (unsigned long long)m->mag_fill_pages);
}
