// SPDX-License-Identifier: MIT
/*
 * The undo journal: every store the heap (or its caller, through
 * heap_tx_log()) makes to the metadata inside a transaction is preceded
 * by an entry that holds the old word, so that heap_recover() can undo a
 * transaction that a process death cut short.  See heap_internal.h,
 * "Journal", for the design and (J1).
 */
#include <errno.h>
#include <string.h>

#include "heap_internal.h"

/* Process death is the model: program order is enough, not fences. */
#define barrier() __asm__ __volatile__("" ::: "memory")

uint64_t journal_key(const struct heap *h, uint64_t seq)
{
	uint64_t x = h->meta->hash_key[0] ^ (seq * UINT64_C(0x9e3779b97f4a7c15));

	x ^= x >> 31;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= h->meta->hash_key[1];
	x ^= x >> 29;
	x *= UINT64_C(0xff51afd7ed558ccd);
	return x ^ (x >> 32);
}

static void tx_hook(struct heap *h)
{
	if (h->tx_hook)
		h->tx_hook(h->tx_hook_ctx);
}

/* Append the entry of the word at byte offset @off: old value, count. */
static void log_off(struct heap *h, uint64_t off)
{
	struct heap_journal *j = h->journal;
	uint64_t n = h->tx_count, old, *seen;

	HEAP_BUG_ON(!h->tx_depth, "a metadata store outside a transaction");
	seen = &h->tx_seen[(off >> 3) % TX_SEEN];
	if (*seen == off + 1)
		return;
	HEAP_BUG_ON(n >= h->meta->layout.journal_entries,
		    "(J1) a transaction outgrew the journal's %llu entries",
		    (unsigned long long)h->meta->layout.journal_entries);
	if (n == 0) {
		/* A new seq: entries of older transactions fail the check. */
		h->tx_seq = j->seq + 1;
		h->tx_key = journal_key(h, h->tx_seq);
		j->seq = h->tx_seq;
	}
	*seen = off + 1;
	old = *(const uint64_t *)(const void *)(h->map + off);
	j->e[n].old = old;
	j->e[n].word = off | journal_entry_check(h->tx_key, n, off, old)
				     << JOURNAL_OFF_BITS;
	barrier();
	j->count_word = (n + 1) | journal_count_check(h->tx_key, n + 1)
					  << JOURNAL_OFF_BITS;
	barrier();
	h->tx_count = n + 1;
}

void tx_log_word(struct heap *h, const void *p)
{
	tx_hook(h);
	log_off(h, (uint64_t)((const unsigned char *)p - h->map) &
			   ~UINT64_C(7));
}

void heap_tx_begin(struct heap *h)
{
	if (h->tx_depth++ == 0)
		HEAP_BUG_ON(h->journal->count_word,
			    "a transaction began over an unfinished one: call heap_recover() after heap_attach()");
}

void heap_tx_end(struct heap *h)
{
	HEAP_BUG_ON(!h->tx_depth, "heap_tx_end() without heap_tx_begin()");
	if (--h->tx_depth || !h->tx_count)
		return;
	tx_hook(h);
	barrier();
	h->journal->count_word = 0;
	barrier();
	tx_forget(h);
}

void tx_forget(struct heap *h)
{
	h->tx_count = 0;
	memset(h->tx_seen, 0, sizeof(h->tx_seen));
}

void heap_tx_log(struct heap *h, const void *p, size_t len)
{
	uint64_t off = (uint64_t)((const unsigned char *)p - h->map);
	uint64_t jlo = h->meta->layout.journal, jhi = h->meta->layout.size;
	uint64_t end = off + len;

	HEAP_BUG_ON(!h->tx_depth, "heap_tx_log() outside a transaction");
	HEAP_BUG_ON((const unsigned char *)p < h->map || off > h->map_size ||
			    len > h->map_size - off ||
			    (off < jhi && end > jlo && len),
		    "heap_tx_log() of %zu bytes at %p: not the caller's metadata",
		    len, p);
	if (!len)
		return;
	tx_hook(h);
	for (off &= ~UINT64_C(7); off < end; off += 8)
		log_off(h, off);
}

void heap_tx_set_hook(struct heap *h, void (*fn)(void *ctx), void *ctx)
{
	h->tx_hook = fn;
	h->tx_hook_ctx = ctx;
}

void tx_zero(struct heap *h, void *p, size_t len)
{
	uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		tx_store64(h, &w[i], 0);
}

void tx_bit_set(struct heap *h, uint64_t *bm, uint64_t i)
{
	tx_store64(h, &bm[i >> 6], bm[i >> 6] | UINT64_C(1) << (i & 63));
}

void tx_bit_clear(struct heap *h, uint64_t *bm, uint64_t i)
{
	tx_store64(h, &bm[i >> 6], bm[i >> 6] & ~(UINT64_C(1) << (i & 63)));
}

/* The bits [lo, hi) of the word @w's range, 0 <= lo < hi <= 64. */
static uint64_t word_mask(unsigned int lo, unsigned int hi)
{
	uint64_t m = hi == 64 ? ~UINT64_C(0) : (UINT64_C(1) << hi) - 1;

	return m & ~((UINT64_C(1) << lo) - 1);
}

static void bits_apply(struct heap *h, uint64_t *bm, uint64_t start,
		       uint64_t n, bool set)
{
	uint64_t pos = start, end = start + n;

	while (pos < end) {
		uint64_t w = pos >> 6;
		unsigned int hi = end - (w << 6) >= 64 ?
					  64 :
					  (unsigned int)(end & 63);
		uint64_t m = word_mask(pos & 63, hi);

		tx_store64(h, &bm[w], set ? bm[w] | m : bm[w] & ~m);
		pos = (w + 1) << 6;
	}
}

void tx_bits_set(struct heap *h, uint64_t *bm, uint64_t start, uint64_t n)
{
	bits_apply(h, bm, start, n, true);
}

void tx_bits_clear(struct heap *h, uint64_t *bm, uint64_t start, uint64_t n)
{
	bits_apply(h, bm, start, n, false);
}

void tx_hbm_set(struct heap *h, const struct hbm *b, uint64_t i)
{
	for (unsigned int k = 0; k < b->nlevels; k++) {
		uint64_t *w = &b->level[k][i >> 6];
		bool was_empty = *w == 0;

		tx_store64(h, w, *w | UINT64_C(1) << (i & 63));
		if (!was_empty)
			return;
		i >>= 6;
	}
}

void tx_hbm_clear(struct heap *h, const struct hbm *b, uint64_t i)
{
	for (unsigned int k = 0; k < b->nlevels; k++) {
		uint64_t *w = &b->level[k][i >> 6];

		tx_store64(h, w, *w & ~(UINT64_C(1) << (i & 63)));
		if (*w)
			return;
		i >>= 6;
	}
}

bool journal_empty(const struct heap *h)
{
	return h->journal->count_word == 0;
}

void journal_check(const struct heap *h)
{
	struct meta_cursor mc = { 0, 0, 0, false };

	/* A journal never used is a hole: not read, so not faulted in. */
	HEAP_BUG_ON(!h->tx_depth &&
			    !meta_zero(h, &mc, &h->journal->count_word, 8),
		    "(J1) the journal holds %llu entries outside a transaction",
		    (unsigned long long)(h->journal->count_word &
					 JOURNAL_OFF_MASK));
}
