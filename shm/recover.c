// SPDX-License-Identifier: MIT
/*
 * heap_recover(): after a process died inside a transaction, undo what
 * it logged, newest entry first, and give the scavenger's held runs back
 * as free pages.  See heap_internal.h, "Journal".
 */
#include <errno.h>

#include "heap_internal.h"

/* The number of valid entries in the journal, or -EUCLEAN. */
static int journal_entries(const struct heap *h, uint64_t *ret)
{
	const struct heap_journal *j = h->journal;
	const struct heap_layout *l = &h->meta->layout;
	uint64_t cw = j->count_word, n = cw & JOURNAL_OFF_MASK;
	uint64_t key = journal_key(h, j->seq), bad;

	if (!cw) {
		*ret = 0;
		return 0;
	}
	if (!n || n > l->journal_entries)
		return -EUCLEAN;
	/*
	 * The checks' differences are gathered, not compared one by one:
	 * a fuzzer that sees each comparison could copy the value it
	 * wants into its input, one check at a time.
	 */
	bad = (cw >> JOURNAL_OFF_BITS) ^ journal_count_check(key, n);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = j->e[i].word & JOURNAL_OFF_MASK;

		/* Within the mapping, aligned, never the journal itself. */
		if (off & 7 || h->map_size < 8 || off > h->map_size - 8 ||
		    (off + 8 > l->journal && off < l->size))
			return -EUCLEAN;
		bad |= (j->e[i].word >> JOURNAL_OFF_BITS) ^
		       journal_entry_check(key, i, off, j->e[i].old);
	}
	if (bad)
		return -EUCLEAN;
	*ret = n;
	return 0;
}

/*
 * Pages of [p, p + n) that the arena shows as holes, marked released;
 * without ops->next_data (or when it fails) none.  Returns their count.
 */
static uint32_t mark_holes(struct heap *h, uint64_t p, uint64_t n)
{
	uint64_t at = p, end = p + n, count = 0;

	if (!h->ops.next_data)
		return 0;
	while (at < end) {
		uint64_t s, e;
		int r = h->ops.next_data(h->ops.ctx, at << HEAP_PAGE_SHIFT, &s,
					 &e);

		if (r == -ENXIO) {
			s = e = end << HEAP_PAGE_SHIFT;
		} else if (r < 0) {
			break;
		}
		s >>= HEAP_PAGE_SHIFT;
		e = (e + HEAP_PAGE_SIZE - 1) >> HEAP_PAGE_SHIFT;
		if (s < at)
			s = at;
		if (s > end)
			s = end;
		if (s > at) {
			tx_bits_set(h, h->released, at, s - at);
			count += s - at;
		}
		if (e <= s)
			e = s + 1;
		at = e;
	}
	return (uint32_t)count;
}

/* Give the held run [p, p + n) back; returns the merged span's head. */
static uint32_t return_run(struct heap *h, uint32_t p, uint32_t n,
			   struct heap_recovery *rec)
{
	struct heap_meta *m = h->meta;
	uint32_t nrel, q;

	heap_tx_begin(h);
	nrel = mark_holes(h, p, n);
	tx_store64(h, &m->held, m->held - n);
	tx_store64(h, &m->released, m->released + nrel);
	span_clear(h, p);
	if (n > 1)
		span_clear(h, p + n - 1);
	/* Its age went with the scavenger: as old as can be. */
	q = span_free_merge(h, p, n, nrel, 0);
	heap_tx_end(h);
	rec->runs++;
	rec->run_pages += n;
	rec->released_pages += nrel;
	return q;
}

/* Every held run, found by walking spans by length while any is left. */
static void return_held(struct heap *h, struct heap_recovery *rec)
{
	uint64_t p = 0;

	while (h->meta->held && p < h->meta->grown) {
		uint32_t n = span_val(h, (uint32_t)p);

		HEAP_BUG_ON(!n || (span_kind(h, (uint32_t)p) != SPAN_FREE &&
				   span_kind(h, (uint32_t)p) != SPAN_USED),
			    "(P1) page %llu: no span starts where one must",
			    (unsigned long long)p);
		if (span_kind(h, (uint32_t)p) == SPAN_USED &&
		    h->spans[p].use.owner == HEAP_OWNER_SCAV) {
			HEAP_BUG_ON(n > h->meta->held,
				    "(A1) held run %llu of %u pages, %llu held",
				    (unsigned long long)p, n,
				    (unsigned long long)h->meta->held);
			p = return_run(h, (uint32_t)p, n, rec);
			n = span_val(h, (uint32_t)p);
		}
		p += n;
	}
	HEAP_BUG_ON(h->meta->held, "(A1) %llu held pages in no held run",
		    (unsigned long long)h->meta->held);
}

int heap_recover(struct heap *h, struct heap_recovery *ret)
{
	struct heap_journal *j = h->journal;
	struct heap_recovery rec = { 0, 0, 0, 0 };
	uint64_t n;
	int r;

	HEAP_BUG_ON(h->tx_depth, "heap_recover() inside a transaction");
	r = journal_entries(h, &n);
	if (r < 0)
		return r;
	/* Newest first, so a word logged twice ends as it was first. */
	for (uint64_t i = n; i-- > 0;)
		*(uint64_t *)(void *)(h->map + (j->e[i].word &
						  JOURNAL_OFF_MASK)) =
			j->e[i].old;
	__asm__ __volatile__("" ::: "memory");
	j->count_word = 0;
	tx_forget(h);
	rec.undone = n;
	return_held(h, &rec);
	if (ret)
		*ret = rec;
	HEAP_DEBUG_CHECK(h);
	return 0;
}
