// SPDX-License-Identifier: MIT
/*
 * The span heap: its metadata's layout, formatting and attaching, and
 * allocation, freeing and growth.  The design and its invariants are
 * described in heap_internal.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "heap_internal.h"

#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))

/* The least power of two >= @n, or 0 for 0. */
static uint32_t pow2_up(uint32_t n)
{
	if (n <= 1)
		return n;
	return UINT32_C(1) << (32 - __builtin_clz(n - 1));
}

void heap_layout(const struct heap_config *c, struct heap_layout *l)
{
	uint64_t pages = c->arena_size >> HEAP_PAGE_SHIFT;
	uint64_t bm = bitmap_words(pages) * 8;

	memset(l, 0, sizeof(*l));
	l->obj_buckets = pow2_up(c->max_objects);
	l->ref_buckets = pow2_up(c->max_refs);
	l->owners = ALIGN_UP(sizeof(struct heap_meta), 4096);
	l->objects = ALIGN_UP(l->owners +
				      (uint64_t)c->max_owners *
					      sizeof(struct heap_owner_rec),
			      4096);
	l->obj_hash = ALIGN_UP(l->objects +
				       (uint64_t)c->max_objects *
					       sizeof(struct heap_obj_rec),
			       4096);
	l->refs = ALIGN_UP(l->obj_hash + (uint64_t)l->obj_buckets * 4, 4096);
	l->ref_hash = ALIGN_UP(l->refs + (uint64_t)c->max_refs *
						 sizeof(struct heap_ref_rec),
			       4096);
	l->spans = ALIGN_UP(l->ref_hash + (uint64_t)l->ref_buckets * 4, 4096);
	l->freehead = ALIGN_UP(l->spans + pages * sizeof(struct span), 4096);
	l->released = ALIGN_UP(l->freehead + bm, 4096);
	l->mag = ALIGN_UP(l->released + bm, 4096);
	l->magfill = ALIGN_UP(l->mag + bm, 4096);
	l->small = ALIGN_UP(l->magfill + bm, 4096);
	l->small_words = hbm_words(bitmap_words(pages), NULL);
	l->journal = ALIGN_UP(l->small + HEAP_SMALL_PAGES * l->small_words * 8,
			      4096);
	l->journal_entries = JOURNAL_TX_ENTRIES + 2 * bitmap_words(pages);
	l->size = ALIGN_UP(l->journal + sizeof(struct heap_journal) +
				   l->journal_entries *
					   sizeof(struct heap_jentry),
			   4096);
}

bool heap_config_valid(const struct heap_config *c)
{
	return c->arena_size && !(c->arena_size & (HEAP_PAGE_SIZE - 1)) &&
	       c->arena_size >> HEAP_PAGE_SHIFT <= HEAP_MAX_PAGES &&
	       c->max_owners && c->max_owners <= HEAP_OWNERS_MAX &&
	       c->max_objects <= HEAP_OBJECTS_MAX &&
	       c->max_refs <= HEAP_REFS_MAX &&
	       !c->max_objects == !c->max_refs;
}

void heap_config_of(const struct heap_meta *m, struct heap_config *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->arena_size = m->arena_pages << HEAP_PAGE_SHIFT;
	ret->max_owners = m->max_owners;
	ret->max_objects = m->max_objects;
	ret->max_refs = m->max_refs;
	ret->hash_key[0] = m->hash_key[0];
	ret->hash_key[1] = m->hash_key[1];
}

int heap_layout_size(const struct heap_config *cfg, uint64_t *ret_size)
{
	struct heap_layout l;

	if (!cfg || !heap_config_valid(cfg))
		return -EINVAL;
	heap_layout(cfg, &l);
	*ret_size = l.size;
	return 0;
}

static bool args_valid(const void *mem, const struct heap_ops *ops)
{
	return mem && !((uintptr_t)mem & (HEAP_PAGE_SIZE - 1)) && ops &&
	       ops->release && ops->zero;
}

/* A handle with pointers into @mem, whose header holds the layout. */
static int heap_handle(void *mem, uint64_t size, const struct heap_ops *ops,
		       struct heap **ret)
{
	struct heap_meta *m = mem;
	const struct heap_layout *l = &m->layout;
	unsigned char *map = mem;
	struct heap *h;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->map = map;
	h->map_size = size;
	h->meta = m;
	h->owners = (struct heap_owner_rec *)(map + l->owners);
	h->slot_mask = (UINT32_C(1) << m->owner_slot_bits) - 1;
	h->objs = (struct heap_obj_rec *)(map + l->objects);
	h->obj_hash = (uint32_t *)(map + l->obj_hash);
	h->refs = (struct heap_ref_rec *)(map + l->refs);
	h->ref_hash = (uint32_t *)(map + l->ref_hash);
	h->obj_slot_mask = (UINT64_C(1) << m->obj_slot_bits) - 1;
	h->spans = (struct span *)(map + l->spans);
	h->freehead = (uint64_t *)(map + l->freehead);
	h->released = (uint64_t *)(map + l->released);
	h->mag = (uint64_t *)(map + l->mag);
	h->magfill = (uint64_t *)(map + l->magfill);
	for (unsigned int n = 1; n < HEAP_SMALL_PAGES; n++)
		hbm_layout(&h->small[n], bitmap_words(m->arena_pages),
			   (uint64_t *)(map + l->small) + n * l->small_words);
	h->journal = (struct heap_journal *)(map + l->journal);
	h->ops = *ops;
	h->limit_pages = HEAP_MAX_PAGES + 1;
	*ret = h;
	return 0;
}

int heap_format(void *mem, uint64_t size, const struct heap_config *cfg,
		const struct heap_ops *ops, struct heap **ret)
{
	struct heap_meta *m = mem;
	struct heap_layout l;
	int r;

	if (!args_valid(mem, ops) || !cfg || !heap_config_valid(cfg))
		return -EINVAL;
	heap_layout(cfg, &l);
	if (size < l.size)
		return -EINVAL;
	/* The rest reads as zeros: an empty page map, table and index. */
	m->version = HEAP_META_VERSION;
	m->page_shift = HEAP_PAGE_SHIFT;
	m->arena_pages = cfg->arena_size >> HEAP_PAGE_SHIFT;
	m->max_owners = cfg->max_owners;
	m->owner_slot_bits = heap_slot_bits(cfg->max_owners);
	m->max_objects = cfg->max_objects;
	m->max_refs = cfg->max_refs;
	m->obj_slot_bits = heap_slot_bits(cfg->max_objects);
	m->hash_key[0] = cfg->hash_key[0];
	m->hash_key[1] = cfg->hash_key[1];
	m->obj_seq = 1;
	m->layout = l;
	m->grow_pages = HEAP_GROW_PAGES;
	m->tree_root = SPAN_NIL;
	m->owner_free_head = SLOT_NIL;
	m->owner_free_tail = SLOT_NIL;
	/* Last: a death before it leaves no header that attaches. */
	__asm__ __volatile__("" ::: "memory");
	m->magic = HEAP_META_MAGIC;
	r = heap_handle(mem, size, ops, ret);
	if (r == 0)
		HEAP_DEBUG_CHECK(*ret);
	return r;
}

int heap_attach(void *mem, uint64_t size, const struct heap_ops *ops,
		struct heap **ret)
{
	const struct heap_meta *m = mem;
	struct heap_config c;
	struct heap_layout l;
	int r;

	if (!args_valid(mem, ops) || size < sizeof(*m))
		return -EINVAL;
	if (m->magic != HEAP_META_MAGIC)
		return -EINVAL;
	if (m->version != HEAP_META_VERSION)
		return -EPROTONOSUPPORT;
	heap_config_of(m, &c);
	if (m->page_shift != HEAP_PAGE_SHIFT ||
	    m->arena_pages > HEAP_MAX_PAGES || !heap_config_valid(&c) ||
	    m->owner_slot_bits != heap_slot_bits(m->max_owners) ||
	    m->obj_slot_bits != heap_slot_bits(m->max_objects))
		return -EINVAL;
	heap_layout(&c, &l);
	if (memcmp(&l, &m->layout, sizeof(l)) || size < l.size ||
	    m->grown > m->arena_pages)
		return -EINVAL;
	r = heap_handle(mem, size, ops, ret);
	/* An unfinished transaction: heap_recover() comes first. */
	if (r == 0 && journal_empty(*ret))
		HEAP_DEBUG_CHECK(*ret);
	return r;
}

void heap_detach(struct heap *h)
{
	free(h);
}

int heap_set_grow_pages(struct heap *h, uint64_t pages)
{
	if (!pages)
		return -EINVAL;
	heap_tx_begin(h);
	tx_store64(h, &h->meta->grow_pages, pages);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

void span_make(struct heap *h, uint32_t p, uint32_t n,
		      enum span_kind kind)
{
	span_set(h, p, kind, n);
	if (n > 1)
		span_set(h, p + n - 1, SPAN_TAIL, p);
}

void span_clear(struct heap *h, uint32_t p)
{
	tx_zero(h, &h->spans[p], sizeof(h->spans[p]));
}

/*
 * Give back the pages of the page map that lie wholly within the entries
 * [lo, hi) and hold at least one of [from, to).  The caller knows that
 * [lo, hi) is all zero (a span's interior), which is what a released
 * page of the metadata reads as.
 */
void span_map_discard(struct heap *h, uint64_t lo, uint64_t hi,
		      uint64_t from, uint64_t to)
{
	uint64_t base = h->meta->layout.spans;
	uint64_t a = ALIGN_UP(base + lo * sizeof(struct span), 4096);
	uint64_t b = (base + hi * sizeof(struct span)) & ~UINT64_C(4095);
	uint64_t c = (base + from * sizeof(struct span)) & ~UINT64_C(4095);
	uint64_t d = ALIGN_UP(base + to * sizeof(struct span), 4096);

	if (a < c)
		a = c;
	if (b > d)
		b = d;
	/* If it fails, the memory stays: nothing else changes. */
	if (a < b && h->ops.meta_release)
		h->ops.meta_release(h->ops.meta_ctx, a, b - a);
}

/*
 * When a merged span became unused: the average of its parts' times,
 * weighted by their unreleased pages, since only those wait to be
 * released.  So a page freed next to a large old free span barely makes
 * it younger (the seed restarted the whole span's clock, and steady small
 * traffic next to a large free span kept it from ever being released),
 * and a large span freed next to a small old one barely makes it older.
 * A part already released entirely has no say.
 */
static uint64_t merge_since(uint64_t a, uint64_t a_dirty, uint64_t b,
			    uint64_t b_dirty)
{
	uint64_t base = a < b ? a : b;
	unsigned __int128 sum;

	if (!a_dirty || !b_dirty)
		return a_dirty ? a : b_dirty ? b : (a > b ? a : b);
	sum = (unsigned __int128)(a - base) * a_dirty +
	      (unsigned __int128)(b - base) * b_dirty;
	return base + (uint64_t)(sum / (a_dirty + b_dirty));
}

uint32_t span_free_merge(struct heap *h, uint32_t p, uint32_t n,
			 uint32_t nrel, uint64_t since)
{
	uint64_t grown = h->meta->grown;

	if (p > 0) {
		uint32_t q = span_head_of_last(h, p - 1);

		if (span_kind(h, q) == SPAN_FREE) {
			uint32_t qn = span_val(h, q);
			uint32_t qrel = h->spans[q].idle.npreleased;

			freeidx_remove(h, q);
			since = merge_since(since, n - nrel,
					    h->spans[q].idle.unusedsince,
					    qn - qrel);
			span_clear(h, p - 1);
			span_clear(h, p);
			p = q;
			n += qn;
			nrel += qrel;
		}
	}
	if (p + n < grown && span_kind(h, p + n) == SPAN_FREE) {
		uint32_t r = p + n;
		uint32_t rn = span_val(h, r);
		uint32_t rrel = h->spans[r].idle.npreleased;

		freeidx_remove(h, r);
		since = merge_since(since, n - nrel,
				    h->spans[r].idle.unusedsince, rn - rrel);
		span_clear(h, r - 1);
		span_clear(h, r);
		n += rn;
		nrel += rrel;
	}
	span_make(h, p, n, SPAN_FREE);
	span_set_idle(h, p, nrel, since);
	freeidx_insert(h, p);
	return p;
}

/*
 * Grow the heap from the arena so that a free span of @npages exists:
 * at least grow_pages at a time, less at the end of the arena.
 * New pages were never touched, so they start released.
 */
static int heap_grow(struct heap *h, uint64_t npages, uint64_t now)
{
	struct heap_meta *m = h->meta;
	uint64_t avail = m->arena_pages - m->grown;
	uint64_t have = 0, k;

	if (m->grown) {
		uint32_t last = span_head_of_last(h, (uint32_t)m->grown - 1);

		if (span_kind(h, last) == SPAN_FREE)
			have = span_val(h, last);
	}
	if (have + avail < npages)
		return -ENOMEM;
	k = npages - have;
	if (k < m->grow_pages)
		k = m->grow_pages;
	if (k > avail)
		k = avail;
	tx_bits_set(h, h->released, m->grown, k);
	tx_store64(h, &m->idle, m->idle + k);
	tx_store64(h, &m->released, m->released + k);
	tx_store64(h, &m->grown, m->grown + k);
	span_free_merge(h, (uint32_t)(m->grown - k), (uint32_t)k, (uint32_t)k,
			now);
	return 0;
}

/*
 * The released pages an allocation of @npages from free span @p (SPAN_NIL:
 * none fits, so the heap grows) makes consumed: it takes the span's
 * first @npages pages; a grown span is the free span at the end of the
 * heap, if any, followed by new pages, all released.
 */
static uint64_t take_released(const struct heap *h, uint32_t p,
			      uint64_t npages)
{
	const struct heap_meta *m = h->meta;
	uint64_t have = 0;
	uint32_t nrel;

	if (p == SPAN_NIL) {
		if (!m->grown)
			return npages;
		p = span_head_of_last(h, (uint32_t)m->grown - 1);
		if (span_kind(h, p) != SPAN_FREE)
			return npages;
		have = span_val(h, p);
		if (have >= npages)	/* cannot be: it would have fit */
			have = npages;
		return npages - have + (h->spans[p].idle.npreleased ?
			bitmap_count(h->released, p, have) : 0);
	}
	nrel = h->spans[p].idle.npreleased;
	if (nrel == 0 || nrel == span_val(h, p))
		return nrel ? npages : 0;
	return bitmap_count(h->released, p, npages);
}

/* -ENOBUFS if taking @npages at @p would leave consumed above the limit. */
static int limit_check(const struct heap *h, uint32_t p, uint64_t npages)
{
	const struct heap_meta *m = h->meta;
	uint64_t consumed = m->grown - m->released, rel;

	if (h->limit_pages > m->arena_pages)
		return 0;
	/* Reusing pages not released costs nothing, even over the limit. */
	rel = take_released(h, p, npages);
	if (rel && consumed + rel > h->limit_pages)
		return -ENOBUFS;
	return 0;
}

void heap_set_limit(struct heap *h, uint64_t bytes)
{
	uint64_t pages = bytes >> HEAP_PAGE_SHIFT;

	h->limit_pages = !bytes || pages > HEAP_MAX_PAGES ? HEAP_MAX_PAGES + 1 :
							    pages;
}

uint64_t heap_limit(const struct heap *h)
{
	return h->limit_pages > HEAP_MAX_PAGES ? 0 :
	       h->limit_pages << HEAP_PAGE_SHIFT;
}

int span_take(struct heap *h, uint64_t npages, unsigned int flags,
	      uint64_t now, struct heap_span *ret)
{
	struct heap_meta *m = h->meta;
	uint32_t p, n, nrel, rel;
	uint64_t since;
	int r;

	if (!npages || npages > m->arena_pages || flags & ~HEAP_ALLOC_ZERO)
		return -EINVAL;
	p = freeidx_find(h, npages);
	r = limit_check(h, p, npages);
	if (r < 0)
		return r;
	if (p == SPAN_NIL) {
		r = heap_grow(h, npages, now);
		if (r < 0)
			return r;
		p = freeidx_find(h, npages);
		HEAP_BUG_ON(p == SPAN_NIL, "grew but no span of %lu pages",
			    (unsigned long)npages);
	}
	freeidx_remove(h, p);
	n = span_val(h, p);
	nrel = h->spans[p].idle.npreleased;
	since = h->spans[p].idle.unusedsince;
	/* A span all dirty or all released needs no count of its bits. */
	if (nrel == 0 || nrel == n)
		rel = nrel ? (uint32_t)npages : 0;
	else
		rel = (uint32_t)bitmap_count(h->released, p, npages);
	if (n > npages) {
		/* The rest stays free, as old as it was. */
		uint32_t q = p + (uint32_t)npages;

		span_make(h, q, n - (uint32_t)npages, SPAN_FREE);
		span_set_idle(h, q, nrel - rel, since);
		freeidx_insert(h, q);
	}
	/* Released is not untouched: the arena says what is there. */
	if (flags & HEAP_ALLOC_ZERO)
		h->ops.zero(h->ops.ctx, (uint64_t)p << HEAP_PAGE_SHIFT,
			    npages << HEAP_PAGE_SHIFT);
	if (rel)
		tx_bits_clear(h, h->released, p, npages);
	span_clear(h, p);
	span_make(h, p, (uint32_t)npages, SPAN_USED);
	span_set_use(h, p, SPAN_NIL, SPAN_NIL, 0);
	tx_store64(h, &m->idle, m->idle - npages);
	tx_store64(h, &m->inuse, m->inuse + npages);
	tx_store64(h, &m->released, m->released - rel);
	tx_store64(h, &m->objects, m->objects + 1);
	ret->off = (uint64_t)p << HEAP_PAGE_SHIFT;
	ret->npages = npages;
	ret->npreleased = rel;
	return 0;
}

int span_alloc(struct heap *h, uint64_t npages, unsigned int flags,
	       uint32_t owner, uint64_t now, struct heap_span *ret)
{
	struct heap_owner_rec *o = owner_find(h, owner);
	int r;

	if (!npages || npages > h->meta->arena_pages ||
	    flags & ~HEAP_ALLOC_ZERO)
		return -EINVAL;
	if (!o)
		return -ENOENT;
	r = span_take(h, npages, flags, now, ret);
	if (r == 0)
		owner_link(h, o, (uint32_t)(ret->off >> HEAP_PAGE_SHIFT),
			   (uint32_t)npages);
	return r;
}

int heap_alloc(struct heap *h, uint64_t npages, unsigned int flags,
	       uint32_t owner, uint64_t now, struct heap_span *ret)
{
	int r;

	heap_tx_begin(h);
	r = span_alloc(h, npages, flags, owner, now, ret);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return r;
}

/*
 * A released page lies in a free span: its entry, maybe a hole of the
 * metadata, is not read (that would allocate it).
 */
uint32_t span_used_head(const struct heap *h, uint64_t off)
{
	uint64_t p = off >> HEAP_PAGE_SHIFT;

	if (off & (HEAP_PAGE_SIZE - 1) || p >= h->meta->grown ||
	    bit_test(h->released, p) ||
	    span_kind(h, (uint32_t)p) != SPAN_USED)
		return SPAN_NIL;
	return (uint32_t)p;
}

/* The in-use span at byte offset @off, or SPAN_NIL; held runs are not. */
static uint32_t used_span_at(const struct heap *h, uint64_t off)
{
	uint32_t p = span_used_head(h, off);

	if (p == SPAN_NIL || h->spans[p].use.owner == HEAP_OWNER_SCAV)
		return SPAN_NIL;
	return p;
}

void span_free_used(struct heap *h, uint32_t p, uint64_t now)
{
	struct heap_meta *m = h->meta;
	uint32_t n = span_val(h, p), owner = h->spans[p].use.owner;

	if (owner != HEAP_OWNER_OBJECTS) {
		struct heap_owner_rec *o = owner_find(h, owner);

		HEAP_BUG_ON(!o, "span %u of owner %u, who is not live", p,
			    owner);
		mag_forget(h, p, n);
		owner_unlink(h, o, p, n);
	}
	tx_store64(h, &m->inuse, m->inuse - n);
	tx_store64(h, &m->idle, m->idle + n);
	tx_store64(h, &m->objects, m->objects - 1);
	span_clear(h, p);
	span_free_merge(h, p, n, 0, now);
}

int heap_free(struct heap *h, uint64_t off, uint32_t owner, uint64_t now)
{
	uint32_t p = used_span_at(h, off);

	if (p == SPAN_NIL)
		return -EINVAL;
	if (h->spans[p].use.owner != owner ||
	    owner == HEAP_OWNER_OBJECTS)
		return -EPERM;
	/* The daemon still reads the fill ring that holds it. */
	if (mag_state(h, p) == HEAP_MAG_FILL)
		return -EBUSY;
	heap_tx_begin(h);
	span_free_used(h, p, now);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

uint64_t heap_free_owner_each(struct heap *h, uint32_t owner, uint64_t now,
			      void (*fn)(void *ctx, uint64_t page,
					 uint64_t npages),
			      void *ctx)
{
	struct heap_owner_rec *o = owner_find(h, owner);
	uint64_t count = 0;

	HEAP_BUG_ON(!o, "owner %u is not live", owner);
	while (o->first != SPAN_NIL) {
		uint32_t p = o->first;

		HEAP_BUG_ON(span_kind(h, p) != SPAN_USED ||
				    h->spans[p].use.owner != owner,
			    "(O2) span %u on the list of owner %u", p, owner);
		if (fn)
			fn(ctx, p, span_val(h, p));
		/* A transaction a span: bounded, each state between a heap. */
		heap_tx_begin(h);
		span_free_used(h, p, now);
		heap_tx_end(h);
		count++;
	}
	HEAP_DEBUG_CHECK(h);
	return count;
}

uint64_t heap_free_owner(struct heap *h, uint32_t owner, uint64_t now)
{
	return heap_free_owner_each(h, owner, now, NULL, NULL);
}

int heap_span_owner(const struct heap *h, uint64_t off, uint32_t *ret_id,
		    uint64_t *ret_npages)
{
	uint32_t p = used_span_at(h, off);

	if (p == SPAN_NIL)
		return -EINVAL;
	*ret_id = h->spans[p].use.owner;
	*ret_npages = span_val(h, p);
	return 0;
}

void heap_stats(const struct heap *h, struct heap_stats *ret)
{
	const struct heap_meta *m = h->meta;

	ret->arena_size = m->arena_pages << HEAP_PAGE_SHIFT;
	ret->sys = m->grown << HEAP_PAGE_SHIFT;
	ret->idle = m->idle << HEAP_PAGE_SHIFT;
	ret->inuse = m->inuse << HEAP_PAGE_SHIFT;
	ret->released = m->released << HEAP_PAGE_SHIFT;
	ret->objects = m->objects;
	ret->free_spans = m->nfree;
	ret->release_errors = m->release_errors;
	ret->held = m->held << HEAP_PAGE_SHIFT;
	ret->meta_size = m->layout.size;
	ret->owners = m->owners_live;
	ret->mag = m->mag_pages << HEAP_PAGE_SHIFT;
	ret->mag_fill = m->mag_fill_pages << HEAP_PAGE_SHIFT;
}
