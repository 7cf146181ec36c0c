// SPDX-License-Identifier: MIT
/*
 * heap_check(): verify every invariant stated in heap_internal.h, abort
 * loudly on the first one that does not hold.
 */
#include "heap_internal.h"

static void check_used(const struct heap *h, uint32_t p)
{
	const struct span *s = &h->spans[p];

	HEAP_BUG_ON(s->use.owner == 0, "in-use span %u has no owner", p);
	HEAP_BUG_ON(s->use.owner == HEAP_OWNER_SCAV &&
			    (s->use.next != SPAN_NIL || s->use.prev != SPAN_NIL),
		    "held run %u is on an owner list", p);
	HEAP_BUG_ON(s->use.next != SPAN_NIL &&
			    (s->use.next >= h->meta->grown ||
			     span_kind(h, s->use.next) != SPAN_USED ||
			     h->spans[s->use.next].use.prev != p ||
			     h->spans[s->use.next].use.owner != s->use.owner),
		    "owner list broken after span %u", p);
	HEAP_BUG_ON(s->use.prev != SPAN_NIL &&
			    (s->use.prev >= h->meta->grown ||
			     span_kind(h, s->use.prev) != SPAN_USED ||
			     h->spans[s->use.prev].use.next != p),
		    "owner list broken before span %u", p);
	HEAP_BUG_ON(bitmap_count(h->released, p, span_val(h, p)) != 0,
		    "in-use span %u has released pages", p);
}

static void check_free(const struct heap *h, uint32_t p, bool prev_free)
{
	uint32_t n = span_val(h, p);

	HEAP_BUG_ON(prev_free, "free span %u follows a free span", p);
	HEAP_BUG_ON(!bit_test(h->freehead, p), "free span %u not indexed", p);
	HEAP_BUG_ON(bitmap_count(h->released, p, n) !=
			    h->spans[p].idle.npreleased,
		    "free span %u: npreleased %u, released bits %lu", p,
		    h->spans[p].idle.npreleased,
		    (unsigned long)bitmap_count(h->released, p, n));
}

void heap_check(const struct heap *h)
{
	const struct heap_meta *m = h->meta;
	uint64_t nsmall[HEAP_SMALL_PAGES] = { 0 };
	uint64_t idle = 0, inuse = 0, rel = 0, objects = 0, nfree = 0;
	uint64_t held = 0;
	uint64_t nlarge = 0, p;
	bool prev_free = false;

	HEAP_BUG_ON(m->magic != HEAP_META_MAGIC ||
			    m->version != HEAP_META_VERSION,
		    "bad metadata header");
	HEAP_BUG_ON(m->grown > m->arena_pages, "grown past the arena");
	for (p = 0; p < m->grown;) {
		enum span_kind k = span_kind(h, (uint32_t)p);
		uint32_t n = span_val(h, (uint32_t)p);

		HEAP_BUG_ON(k != SPAN_FREE && k != SPAN_USED,
			    "page %lu: no span starts where one must",
			    (unsigned long)p);
		HEAP_BUG_ON(n == 0 || p + n > m->grown,
			    "span %lu has bad length %u", (unsigned long)p, n);
		HEAP_BUG_ON(n > 1 && (span_kind(h, (uint32_t)p + n - 1) !=
					      SPAN_TAIL ||
				      span_val(h, (uint32_t)p + n - 1) != p),
			    "span %lu has a bad tail", (unsigned long)p);
		for (uint64_t i = p + 1; i + 1 < p + n; i++)
			HEAP_BUG_ON(h->spans[i].hdr != 0,
				    "page %lu inside span %lu is marked",
				    (unsigned long)i, (unsigned long)p);
		HEAP_BUG_ON(n > 1 && bitmap_count(h->freehead, p + 1, n - 1),
			    "free head inside span %lu", (unsigned long)p);
		if (k == SPAN_FREE) {
			check_free(h, (uint32_t)p, prev_free);
			idle += n;
			rel += h->spans[p].idle.npreleased;
			nfree++;
			if (n < HEAP_SMALL_PAGES)
				nsmall[n]++;
			else
				nlarge++;
		} else {
			HEAP_BUG_ON(bit_test(h->freehead, p),
				    "in-use span %lu indexed as free",
				    (unsigned long)p);
			check_used(h, (uint32_t)p);
			if (h->spans[p].use.owner == HEAP_OWNER_SCAV) {
				idle += n;
				held += n;
			} else {
				inuse += n;
				objects++;
			}
		}
		prev_free = k == SPAN_FREE;
		p += n;
	}
	HEAP_BUG_ON(m->grown < m->arena_pages &&
			    h->spans[m->grown].hdr != 0,
		    "page past the heap is marked");
	HEAP_BUG_ON(idle != m->idle || inuse != m->inuse,
		    "idle %lu/%lu or inuse %lu/%lu pages miscounted",
		    (unsigned long)idle, (unsigned long)m->idle,
		    (unsigned long)inuse, (unsigned long)m->inuse);
	HEAP_BUG_ON(rel != m->released || objects != m->objects ||
			    nfree != m->nfree || held != m->held,
		    "released, objects, free spans or held pages miscounted");
	HEAP_BUG_ON(m->idle + m->inuse != m->grown, "sys != idle + inuse");
	HEAP_BUG_ON(m->released > m->idle, "released > idle");
	freeidx_check(h, nsmall, nlarge);
}
