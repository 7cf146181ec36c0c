// SPDX-License-Identifier: MIT
/*
 * Giving free pages back to the OS: the scavenger's side of the heap.
 *
 * A release is three steps so that the system call can run without the
 * caller's heap lock: take a run of unreleased pages out of an eligible
 * free span (it becomes a held run, see heap_internal.h), release it,
 * return it (the scavenger's pass in shm/scav.c does the three in turn).
 */
#include <errno.h>

#include "heap_internal.h"

static bool eligible(const struct heap *h, uint32_t p, uint64_t now,
		     uint64_t older_than)
{
	uint64_t since = h->spans[p].idle.unusedsince;

	if (h->spans[p].idle.npreleased == span_val(h, p))
		return false;
	return !older_than || (now >= since && now - since > older_than);
}

/* Re-make [p, p + n) as a FREE span that keeps @since; no merging. */
static void free_piece(struct heap *h, uint32_t p, uint32_t n, uint64_t since)
{
	if (!n)
		return;
	span_make(h, p, n, SPAN_FREE);
	span_set_idle(h, p, (uint32_t)bitmap_count(h->released, p, n), since);
	freeidx_insert(h, p);
}

/*
 * Hold [x, y) of the free span [p, p + n): split it into [p, x) free,
 * [x, y) held, [y, p + n) free, the free pieces as old as the span.
 */
static void take_run(struct heap *h, uint64_t p, uint32_t n, uint64_t x,
		     uint64_t y, struct heap_take *ret)
{
	uint64_t since = h->spans[p].idle.unusedsince, end = p + n;

	freeidx_remove(h, (uint32_t)p);
	span_clear(h, (uint32_t)p);
	if (n > 1)
		span_clear(h, (uint32_t)end - 1);
	free_piece(h, (uint32_t)p, (uint32_t)(x - p), since);
	span_make(h, (uint32_t)x, (uint32_t)(y - x), SPAN_USED);
	span_set_use(h, (uint32_t)x, SPAN_NIL, SPAN_NIL, HEAP_OWNER_SCAV);
	free_piece(h, (uint32_t)y, (uint32_t)(end - y), since);
	tx_store64(h, &h->meta->held, h->meta->held + (y - x));
	ret->page = x;
	ret->npages = y - x;
	ret->unusedsince = since;
}

/* The end of the unreleased stretch at @x, at most @max_pages long. */
static uint64_t run_end(const struct heap *h, uint64_t x, uint64_t end,
			uint64_t max_pages)
{
	uint64_t y = bitmap_find(h->released, x, end, true);

	if (!max_pages)
		max_pages = 1;
	return y - x > max_pages ? x + max_pages : y;
}

bool heap_scavenge_take(struct heap *h, uint64_t now, uint64_t older_than,
			uint64_t max_pages, struct heap_cursor *cursor,
			struct heap_take *ret)
{
	uint64_t grown = h->meta->grown, p, x = 0;
	uint32_t n;

	for (p = bitmap_find(h->freehead, cursor->span, grown, true); p < grown;
	     p = bitmap_find(h->freehead, p + n, grown, true)) {
		/* Pages before the cursor were tried in this pass. */
		uint64_t from = cursor->page > p ? cursor->page : p;

		n = span_val(h, (uint32_t)p);
		x = bitmap_find(h->released, from, p + n, false);
		if (x < p + n && eligible(h, (uint32_t)p, now, older_than))
			break;
	}
	if (p >= grown) {
		cursor->span = cursor->page = 0;
		return false;
	}
	heap_tx_begin(h);
	take_run(h, p, n, x, run_end(h, x, p + n, max_pages), ret);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return true;
}

/*
 * The head of the free span that holds page @x, or SPAN_NIL.  @hint is
 * checked first; if it is a free span before @x, the search back from @x
 * stops at its end.
 */
static uint32_t free_span_of(const struct heap *h, uint64_t x, uint64_t hint)
{
	uint64_t from = 0, p;

	if (hint <= x && bit_test(h->freehead, hint)) {
		if (hint + span_val(h, (uint32_t)hint) > x)
			return (uint32_t)hint;
		from = hint + span_val(h, (uint32_t)hint);
	}
	p = bitmap_find_last(h->freehead, from, x + 1, true);
	if (p > x || p + span_val(h, (uint32_t)p) <= x)
		return SPAN_NIL;
	return (uint32_t)p;
}

bool heap_scavenge_take_range(struct heap *h, uint64_t end,
			      uint64_t max_pages, struct heap_cursor *cursor,
			      struct heap_take *ret)
{
	uint64_t grown = h->meta->grown, x = cursor->page;

	if (end > grown)
		end = grown;
	while (x < end) {
		uint32_t p = free_span_of(h, x, cursor->span);
		uint64_t lim, u;

		if (p == SPAN_NIL) {
			/* In use, or held: on to the next free span. */
			x = bitmap_find(h->freehead, x, end, true);
			cursor->span = x;
			continue;
		}
		lim = p + span_val(h, p) < end ? p + span_val(h, p) : end;
		u = bitmap_find(h->released, x, lim, false);
		if (u < lim) {
			heap_tx_begin(h);
			take_run(h, p, span_val(h, p), u,
				 run_end(h, u, lim, max_pages), ret);
			heap_tx_end(h);
			cursor->page = u;
			HEAP_DEBUG_CHECK(h);
			return true;
		}
		x = lim;
	}
	cursor->page = end;
	return false;
}

int heap_release_taken(const struct heap *h, const struct heap_take *t)
{
	return h->ops.release(h->ops.ctx, t->page << HEAP_PAGE_SHIFT,
			      t->npages << HEAP_PAGE_SHIFT);
}

void heap_scavenge_return(struct heap *h, const struct heap_take *t,
			  int release_result, struct heap_cursor *cursor)
{
	uint32_t p = (uint32_t)t->page, n = (uint32_t)t->npages;
	uint32_t nrel = 0;

	HEAP_BUG_ON(span_kind(h, p) != SPAN_USED || span_val(h, p) != n ||
			    h->spans[p].use.owner != HEAP_OWNER_SCAV,
		    "returned run %u+%u was not held", p, n);
	heap_tx_begin(h);
	tx_store64(h, &h->meta->held, h->meta->held - n);
	if (release_result == 0) {
		tx_bits_set(h, h->released, p, n);
		tx_store64(h, &h->meta->released, h->meta->released + n);
		nrel = n;
	} else {
		tx_store64(h, &h->meta->release_errors,
			   h->meta->release_errors + 1);
	}
	span_clear(h, p);
	if (n > 1)
		span_clear(h, p + n - 1);
	cursor->span = span_free_merge(h, p, n, nrel, t->unusedsince);
	cursor->page = t->page + t->npages;
	/* The run's entries, and its old neighbours', are interior now. */
	span_map_discard(h, cursor->span + 1,
			 cursor->span + span_val(h, (uint32_t)cursor->span) - 1,
			 p ? p - 1 : 0, (uint64_t)p + n + 1);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
}

/*
 * Stray pages.  A page that holds memory but that the heap counts as
 * released, or that lies beyond @grown, is held by no span: a client
 * wrote there through its mapping, or fallocate()d the memfd.  The
 * arena finds data extents (without the lock: it only reads the memfd);
 * here, under the caller's lock, the pages of an extent are sorted into
 * stray runs and the rest, a bounded stretch per call.
 */

/* Pages heap_stray_next() looks at per call: 4096 words of bitmap. */
#define STRAY_SCAN_PAGES (UINT64_C(1) << 18)

int heap_next_data(const struct heap *h, uint64_t page, uint64_t *ret_start,
		   uint64_t *ret_end)
{
	uint64_t start, end;
	int r;

	if (!h->ops.next_data)
		return -EOPNOTSUPP;
	if (page >= h->meta->arena_pages)
		return -ENXIO;
	r = h->ops.next_data(h->ops.ctx, page << HEAP_PAGE_SHIFT, &start, &end);
	if (r < 0)
		return r;
	end = (end + HEAP_PAGE_SIZE - 1) >> HEAP_PAGE_SHIFT;
	if (end > h->meta->arena_pages)
		end = h->meta->arena_pages;
	start >>= HEAP_PAGE_SHIFT;
	if (start >= end)
		return -ENXIO;
	*ret_start = start;
	*ret_end = end;
	return 0;
}

int heap_resident(const struct heap *h, uint64_t *ret)
{
	if (!h->ops.resident)
		return -EOPNOTSUPP;
	return h->ops.resident(h->ops.ctx, ret);
}

bool heap_stray_next(const struct heap *h, uint64_t page, uint64_t end,
		     uint64_t max_pages, struct heap_stray *ret,
		     uint64_t *ret_next)
{
	uint64_t grown = h->meta->grown, y, lim;

	if (!max_pages)
		max_pages = 1;
	if (end > h->meta->arena_pages)
		end = h->meta->arena_pages;
	lim = page + STRAY_SCAN_PAGES < grown ? page + STRAY_SCAN_PAGES : grown;
	if (page < grown && !bit_test(h->released, page)) {
		/* In use, held or dirty: skip to the next released page. */
		page = bitmap_find(h->released, page, lim, true);
		if (page >= end || page == lim) {
			*ret_next = page;
			return false;
		}
	}
	if (page >= end) {
		*ret_next = page;
		return false;
	}
	y = page >= grown ? end :
			    bitmap_find(h->released, page,
					end < grown ? end : grown, false);
	if (y - page > max_pages)
		y = page + max_pages;
	ret->page = page;
	ret->npages = y - page;
	return true;
}

int heap_release_stray(const struct heap *h, const struct heap_stray *st)
{
	uint64_t grown = h->meta->grown, n = 0;

	if (st->page < grown)
		n = st->page + st->npages < grown ? st->npages :
						    grown - st->page;
	HEAP_BUG_ON(!st->npages ||
			    st->page + st->npages > h->meta->arena_pages ||
			    bitmap_count(h->released, st->page, n) != n,
		    "stray run %lu+%lu holds pages of a span",
		    (unsigned long)st->page, (unsigned long)st->npages);
	return h->ops.release(h->ops.ctx, st->page << HEAP_PAGE_SHIFT,
			      st->npages << HEAP_PAGE_SHIFT);
}
