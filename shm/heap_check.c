// SPDX-License-Identifier: MIT
/*
 * heap_check(): verify every invariant stated in heap_internal.h, abort
 * loudly on the first one that does not hold.  Each message starts with
 * the invariant's name.  Every loop is bounded by what a valid heap
 * holds, so a corrupt link ends in an abort, never in a crash.
 */
#include <errno.h>
#include <string.h>

#include "heap_internal.h"

static bool mem_zero(const unsigned char *p, uint64_t len)
{
	const uint64_t *w;

	for (; len && (uintptr_t)p & 7; p++, len--)
		if (*p)
			return false;
	w = (const uint64_t *)(const void *)p;
	for (; len >= 64; w += 8, len -= 64)
		if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
			return false;
	for (p = (const unsigned char *)w; len; p++, len--)
		if (*p)
			return false;
	return true;
}

bool meta_zero(const struct heap *h, struct meta_cursor *c, const void *p,
	       uint64_t len)
{
	uint64_t off = (uint64_t)((const unsigned char *)p - h->map);
	uint64_t end = off + len;

	if (!h->ops.meta_next_data)
		return mem_zero(p, len);
	while (off < end) {
		if (!c->valid || off < c->from) {
			uint64_t s, e;
			int r = h->ops.meta_next_data(h->ops.meta_ctx, off, &s,
						      &e);

			if (r == -ENXIO)
				s = e = UINT64_MAX;
			else if (r < 0 || s < off)
				return mem_zero(h->map + off, end - off);
			*c = (struct meta_cursor){ off, s, e, true };
		}
		if (off < c->start) {
			off = end < c->start ? end : c->start;	/* a hole */
		} else if (off < c->end) {
			uint64_t e = end < c->end ? end : c->end;

			if (!mem_zero(h->map + off, e - off))
				return false;
			off = e;
		} else {
			c->valid = false;	/* past the extent */
		}
	}
	return true;
}

bool meta_bits_clear(const struct heap *h, struct meta_cursor *c,
		     const uint64_t *bm, uint64_t from, uint64_t nwords)
{
	uint64_t w = from >> 6;

	if (w >= nwords)
		return true;
	if (from & 63) {
		if (bm[w] >> (from & 63))
			return false;
		w++;
	}
	return meta_zero(h, c, &bm[w], (nwords - w) * 8);
}

/*
 * The first word at or after @w, below @nwords, of the bitmap @bm in the
 * metadata that may hold data: the words before it lie in a hole and
 * read as zero.  @nwords if there is none.
 */
static uint64_t meta_data_word(const struct heap *h, struct meta_cursor *c,
			       const uint64_t *bm, uint64_t w, uint64_t nwords)
{
	uint64_t base = (uint64_t)((const unsigned char *)bm - h->map);
	uint64_t off = base + w * 8;

	if (!h->ops.meta_next_data)
		return w;
	if (!c->valid || off < c->from || off >= c->end) {
		uint64_t s, e;
		int r = h->ops.meta_next_data(h->ops.meta_ctx, off, &s, &e);

		if (r == -ENXIO) {
			s = e = UINT64_MAX;
		} else if (r < 0 || s < off) {
			c->valid = false;	/* read it, as meta_zero() */
			return w;
		}
		*c = (struct meta_cursor){ off, s, e, true };
	}
	if (off >= c->start)
		return w;
	/* Bitmaps and extents start on pages: whole words from base. */
	if (c->start >= base + nwords * 8)
		return nwords;
	return (c->start - base) / 8;
}

bool meta_bit_test(const struct heap *h, struct meta_cursor *c,
		   const uint64_t *bm, uint64_t i)
{
	uint64_t w = i >> 6;

	return meta_data_word(h, c, bm, w, w + 1) == w && bit_test(bm, i);
}

uint64_t meta_bits_count(const struct heap *h, struct meta_cursor *c,
			 const uint64_t *bm, uint64_t nbits)
{
	uint64_t nwords = bitmap_words(nbits), count = 0, w = 0;

	while ((w = meta_data_word(h, c, bm, w, nwords)) < nwords) {
		uint64_t x = bm[w];

		if (w == nwords - 1 && nbits & 63)
			x &= (UINT64_C(1) << (nbits & 63)) - 1;
		count += (uint64_t)__builtin_popcountll(x);
		w++;
	}
	return count;
}

/* H1 */
static void check_header(const struct heap *h)
{
	const struct heap_meta *m = h->meta;
	struct heap_config c;
	struct heap_layout l;

	HEAP_BUG_ON(m->magic != HEAP_META_MAGIC ||
			    m->version != HEAP_META_VERSION ||
			    m->page_shift != HEAP_PAGE_SHIFT,
		    "(H1) bad metadata header");
	HEAP_BUG_ON(!m->arena_pages || m->arena_pages > HEAP_MAX_PAGES ||
			    !m->max_owners || m->max_owners > HEAP_OWNERS_MAX,
		    "(H1) %llu pages or %u owners out of range",
		    (unsigned long long)m->arena_pages, m->max_owners);
	heap_config_of(m, &c);
	HEAP_BUG_ON(!heap_config_valid(&c),
		    "(H1) %u objects or %u references out of range",
		    m->max_objects, m->max_refs);
	heap_layout(&c, &l);
	HEAP_BUG_ON(memcmp(&l, &m->layout, sizeof(l)) ||
			    m->owner_slot_bits !=
				    heap_slot_bits(m->max_owners) ||
			    m->obj_slot_bits != heap_slot_bits(m->max_objects),
		    "(H1) the layout is not the one of its sizes");
	HEAP_BUG_ON(m->grown > m->arena_pages, "(H1) grown past the arena");
	HEAP_BUG_ON(!m->grow_pages, "(H1) grows by no pages");
}

/* What the page walk counts, in pages and spans. */
struct walk {
	uint64_t idle, inuse, held, rel, objects, nfree;
	uint64_t owned;			/* USED spans of live owners */
	uint64_t obj_spans, obj_pages;	/* of HEAP_OWNER_OBJECTS */
	uint64_t nsmall[HEAP_SMALL_PAGES];
	uint64_t nlarge, nlinks;
	struct meta_cursor mc;
	struct mag_walk mag;
};

static void check_free(const struct heap *h, uint32_t p, bool prev_free,
		       struct walk *w)
{
	uint32_t n = span_val(h, p);

	HEAP_BUG_ON(prev_free, "(C1) free span %u follows a free span", p);
	HEAP_BUG_ON(!bit_test(h->freehead, p), "(F1) free span %u not indexed",
		    p);
	HEAP_BUG_ON(bitmap_count(h->released, p, n) !=
			    h->spans[p].idle.npreleased,
		    "(R1) free span %u: npreleased %u, released bits %lu", p,
		    h->spans[p].idle.npreleased,
		    (unsigned long)bitmap_count(h->released, p, n));
	w->idle += n;
	w->rel += h->spans[p].idle.npreleased;
	w->nfree++;
	if (n < HEAP_SMALL_PAGES) {
		w->nsmall[n]++;
	} else {
		/* A bound on the large spans a grown heap can hold. */
		uint64_t bound = h->meta->grown / HEAP_SMALL_PAGES + 1;

		w->nlinks += freeidx_check_node(h, p, bound);
		w->nlarge++;
	}
}

static void check_used(const struct heap *h, uint32_t p, struct walk *w)
{
	const struct span *s = &h->spans[p];
	uint32_t n = span_val(h, p);

	HEAP_BUG_ON(bit_test(h->freehead, p), "(F1) in-use span %u indexed", p);
	HEAP_BUG_ON(bitmap_count(h->released, p, n) != 0,
		    "(R1) in-use span %u has released pages", p);
	if (s->use.owner == HEAP_OWNER_SCAV) {
		HEAP_BUG_ON(s->use.next != SPAN_NIL || s->use.prev != SPAN_NIL,
			    "(O3) held run %u is on an owner list", p);
		w->idle += n;
		w->held += n;
		return;
	}
	w->inuse += n;
	w->objects++;
	if (s->use.owner == HEAP_OWNER_OBJECTS) {
		obj_check_span(h, p, n);
		w->obj_spans++;
		w->obj_pages += n;
		return;
	}
	HEAP_BUG_ON(!owner_find(h, s->use.owner),
		    "(O3) in-use span %u names owner %u, who is not live", p,
		    s->use.owner);
	mag_check_head(h, p, n, &w->mag);
	w->owned++;
}

/* P1, P2, P3 and F1 for the span at @p; returns its length. */
static uint32_t check_span(const struct heap *h, uint64_t p, struct walk *w)
{
	enum span_kind k = span_kind(h, (uint32_t)p);
	uint32_t n = span_val(h, (uint32_t)p);

	HEAP_BUG_ON(k != SPAN_FREE && k != SPAN_USED,
		    "(P1) page %lu: no span starts where one must",
		    (unsigned long)p);
	HEAP_BUG_ON(n == 0 || p + n > h->meta->grown,
		    "(P1) span %lu has bad length %u", (unsigned long)p, n);
	HEAP_BUG_ON(n > 1 && (span_kind(h, (uint32_t)p + n - 1) != SPAN_TAIL ||
			      span_val(h, (uint32_t)p + n - 1) != p),
		    "(P2) span %lu has a bad tail", (unsigned long)p);
	HEAP_BUG_ON(n > 2 &&
			    !meta_zero(h, &w->mc, &h->spans[p + 1],
				       (uint64_t)(n - 2) * sizeof(struct span)),
		    "(P3) an entry inside span %lu is not zero",
		    (unsigned long)p);
	HEAP_BUG_ON(n > 1 && bitmap_count(h->freehead, p + 1, n - 1),
		    "(F1) free head inside span %lu", (unsigned long)p);
	return n;
}

void heap_check(const struct heap *h)
{
	const struct heap_meta *m = h->meta;
	uint64_t words = bitmap_words(m->arena_pages), p;
	struct walk w;
	bool prev_free = false;

	check_header(h);
	journal_check(h);
	memset(&w, 0, sizeof(w));
	for (p = 0; p < m->grown;) {
		uint32_t n = check_span(h, p, &w);

		if (span_kind(h, (uint32_t)p) == SPAN_FREE) {
			check_free(h, (uint32_t)p, prev_free, &w);
			prev_free = true;
		} else {
			check_used(h, (uint32_t)p, &w);
			prev_free = false;
		}
		p += n;
	}
	HEAP_BUG_ON(!meta_zero(h, &w.mc, &h->spans[m->grown],
			       (m->arena_pages - m->grown) *
				       sizeof(struct span)),
		    "(P3) an entry past the heap is not zero");
	HEAP_BUG_ON(!meta_bits_clear(h, &w.mc, h->freehead, m->grown, words),
		    "(F1) a free head past the heap");
	HEAP_BUG_ON(!meta_bits_clear(h, &w.mc, h->released, m->grown, words),
		    "(R1) a released bit past the heap");
	HEAP_BUG_ON(w.idle != m->idle || w.inuse != m->inuse,
		    "(A1) idle %lu/%lu or inuse %lu/%lu pages miscounted",
		    (unsigned long)w.idle, (unsigned long)m->idle,
		    (unsigned long)w.inuse, (unsigned long)m->inuse);
	HEAP_BUG_ON(w.rel != m->released || w.objects != m->objects ||
			    w.nfree != m->nfree || w.held != m->held,
		    "(A1) released, objects, free spans or held pages miscounted");
	HEAP_BUG_ON(m->idle + m->inuse != m->grown,
		    "(A1) sys != idle + inuse");
	HEAP_BUG_ON(m->released > m->idle, "(A1) released > idle");
	freeidx_check(h, w.nsmall, w.nlarge, w.nlinks);
	mag_check(h, &w.mag);
	owner_check(h, w.owned);
	obj_check(h, w.obj_spans, w.obj_pages);
}
