// SPDX-License-Identifier: MIT
/*
 * Giving free pages back to the OS: the scavenger's side of the heap.
 *
 * A release is three steps so that the system call can run without the
 * caller's heap lock: take a run of unreleased pages out of an eligible
 * free span (it becomes a held run, see heap_internal.h), release it,
 * return it.  heap_scavenge() does the three in a row, for callers that
 * do not mind holding their lock through the system calls.
 */
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
	h->spans[p].idle.npreleased = (uint32_t)bitmap_count(h->released, p, n);
	h->spans[p].idle.unusedsince = since;
	freeidx_insert(h, p);
}

bool heap_scavenge_take(struct heap *h, uint64_t now, uint64_t older_than,
			uint64_t max_pages, struct heap_cursor *cursor,
			struct heap_take *ret)
{
	uint64_t grown = h->meta->grown, p, x = 0, y, end;
	uint64_t since;
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
	end = p + n;
	y = bitmap_find(h->released, x, end, true);
	if (y - x > max_pages)
		y = x + (max_pages ? max_pages : 1);
	since = h->spans[p].idle.unusedsince;
	/* Split the span: [p, x) free, [x, y) held, [y, end) free. */
	freeidx_remove(h, (uint32_t)p);
	span_clear(h, (uint32_t)p);
	if (n > 1)
		span_clear(h, (uint32_t)end - 1);
	free_piece(h, (uint32_t)p, (uint32_t)(x - p), since);
	span_make(h, (uint32_t)x, (uint32_t)(y - x), SPAN_USED);
	h->spans[x].use.owner = HEAP_OWNER_SCAV;
	h->spans[x].use.next = SPAN_NIL;
	h->spans[x].use.prev = SPAN_NIL;
	free_piece(h, (uint32_t)y, (uint32_t)(end - y), since);
	h->meta->held += y - x;
	ret->page = x;
	ret->npages = y - x;
	ret->unusedsince = since;
	return true;
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
	h->meta->held -= n;
	if (release_result == 0) {
		bitmap_set_range(h->released, p, n);
		h->meta->released += n;
		nrel = n;
	} else {
		h->meta->release_errors++;
	}
	span_clear(h, p);
	if (n > 1)
		span_clear(h, p + n - 1);
	cursor->span = span_free_merge(h, p, n, nrel, t->unusedsince);
	cursor->page = t->page + t->npages;
}

int heap_scavenge(struct heap *h, uint64_t now, uint64_t older_than,
		  uint64_t budget, uint64_t *cursor, uint64_t *ret_released)
{
	uint64_t limit = budget >> HEAP_PAGE_SHIFT, done = 0;
	struct heap_cursor c = { *cursor, *cursor };
	struct heap_take t;

	if (budget && !limit)
		limit = 1;
	for (;;) {
		uint64_t cap = limit ? limit - done : UINT64_MAX;
		int r;

		if (!heap_scavenge_take(h, now, older_than, cap, &c, &t)) {
			*cursor = 0;
			*ret_released = done << HEAP_PAGE_SHIFT;
			return 1;
		}
		r = heap_release_taken(h, &t);
		heap_scavenge_return(h, &t, r, &c);
		if (r == 0)
			done += t.npages;
		if (limit && done >= limit) {
			*cursor = c.span;
			*ret_released = done << HEAP_PAGE_SHIFT;
			return 0;
		}
	}
}
