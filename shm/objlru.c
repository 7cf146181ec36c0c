// SPDX-License-Identifier: MIT
/*
 * The LRU of the objects that may be evicted: the evictable, sealed,
 * live objects that hold no reference, in the order they became so.
 * See heap_internal.h, "Eviction", and the invariant L1 that
 * lru_check() verifies; object.c decides when an object joins or
 * leaves, and evicts.
 *
 * Links are slot + 1 (0 ends a list), so that the zeros of a record
 * nobody used are "on no list", and every store goes through the
 * journal like the rest of the table.
 */
#include "heap_internal.h"

void lru_push(struct heap *h, uint32_t slot)
{
	struct heap_meta *m = h->meta;
	struct heap_obj_rec *x = &h->objs[slot];

	HEAP_BUG_ON(lru_listed(x) || !lru_candidate(x),
		    "(L1) object %u joins the LRU twice, or is no candidate",
		    slot);
	tx_store64(h, &m->lru_seq, m->lru_seq + 1);
	tx_store64(h, &x->lru_seq, m->lru_seq);
	tx_store32(h, &x->lru_prev, m->lru_tail);
	tx_store32(h, &x->lru_next, 0);
	if (m->lru_tail)
		tx_store32(h, &h->objs[m->lru_tail - 1].lru_next, slot + 1);
	else
		tx_store32(h, &m->lru_head, slot + 1);
	tx_store32(h, &m->lru_tail, slot + 1);
	tx_store64(h, &m->lru_count, m->lru_count + 1);
	tx_store64(h, &m->lru_pages, m->lru_pages + x->npages);
}

void lru_remove(struct heap *h, uint32_t slot)
{
	struct heap_meta *m = h->meta;
	struct heap_obj_rec *x = &h->objs[slot];

	HEAP_BUG_ON(!lru_listed(x),
		    "(L1) object %u leaves the LRU it is not on", slot);
	if (x->lru_prev)
		tx_store32(h, &h->objs[x->lru_prev - 1].lru_next, x->lru_next);
	else
		tx_store32(h, &m->lru_head, x->lru_next);
	if (x->lru_next)
		tx_store32(h, &h->objs[x->lru_next - 1].lru_prev, x->lru_prev);
	else
		tx_store32(h, &m->lru_tail, x->lru_prev);
	tx_store32(h, &x->lru_prev, 0);
	tx_store32(h, &x->lru_next, 0);
	tx_store64(h, &x->lru_seq, 0);
	tx_store64(h, &m->lru_count, m->lru_count - 1);
	tx_store64(h, &m->lru_pages, m->lru_pages - x->npages);
}

void lru_check(const struct heap *h, uint64_t candidates, uint64_t pages,
	       uint64_t stamped)
{
	const struct heap_meta *m = h->meta;
	uint32_t i = m->lru_head, prev = 0;
	uint64_t n = 0, np = 0, seq = 0;

	while (i) {
		const struct heap_obj_rec *x = &h->objs[i - 1];

		HEAP_BUG_ON(n == candidates || i > m->obj_hwm || !x->id ||
				    !lru_candidate(x) || x->lru_prev != prev,
			    "(L1) the LRU holds object slot %u, not a candidate linked there (or a cycle)",
			    i - 1);
		HEAP_BUG_ON(x->lru_seq <= seq || x->lru_seq > m->lru_seq,
			    "(L1) object %u has stamp %llu on the LRU after %llu (latest %llu)",
			    i - 1, (unsigned long long)x->lru_seq,
			    (unsigned long long)seq,
			    (unsigned long long)m->lru_seq);
		seq = x->lru_seq;
		np += x->npages;
		n++;
		prev = i;
		i = x->lru_next;
	}
	HEAP_BUG_ON(prev != m->lru_tail,
		    "(L1) the LRU ends at slot + 1 = %u, its tail is %u", prev,
		    m->lru_tail);
	HEAP_BUG_ON(n != candidates || n != m->lru_count ||
			    np != pages || np != m->lru_pages,
		    "(L1) the LRU holds %llu objects of %llu pages; %llu candidates of %llu pages; counted %llu of %llu",
		    (unsigned long long)n, (unsigned long long)np,
		    (unsigned long long)candidates, (unsigned long long)pages,
		    (unsigned long long)m->lru_count,
		    (unsigned long long)m->lru_pages);
	HEAP_BUG_ON(stamped != n,
		    "(L1) %llu records have LRU links or a stamp, %llu are on it",
		    (unsigned long long)stamped, (unsigned long long)n);
}
