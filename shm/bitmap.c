// SPDX-License-Identifier: MIT
/*
 * Flat and hierarchical bitmaps; see bitmap.h for the layout.
 */
#include "bitmap.h"

/* Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64. */
static uint64_t word_mask(unsigned int lo, unsigned int hi)
{
	uint64_t m = hi == 64 ? ~UINT64_C(0) : (UINT64_C(1) << hi) - 1;

	return m & ~((UINT64_C(1) << lo) - 1);
}

/*
 * Step through the words that [*pos, end) covers: returns false when done,
 * else the word index in @ret_w and the mask of covered bits in @ret_m.
 */
static bool range_next(uint64_t *pos, uint64_t end, uint64_t *ret_w,
		       uint64_t *ret_m)
{
	uint64_t w = *pos >> 6;
	unsigned int hi;

	if (*pos >= end)
		return false;
	hi = end - (w << 6) >= 64 ? 64 : (unsigned int)(end & 63);
	*ret_w = w;
	*ret_m = word_mask(*pos & 63, hi);
	*pos = (w + 1) << 6;
	return true;
}

void bitmap_set_range(uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t pos = start, w, m;

	while (range_next(&pos, start + n, &w, &m))
		bm[w] |= m;
}

void bitmap_clear_range(uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t pos = start, w, m;

	while (range_next(&pos, start + n, &w, &m))
		bm[w] &= ~m;
}

uint64_t bitmap_count(const uint64_t *bm, uint64_t start, uint64_t n)
{
	uint64_t pos = start, w, m, count = 0;

	while (range_next(&pos, start + n, &w, &m))
		count += (uint64_t)__builtin_popcountll(bm[w] & m);
	return count;
}

uint64_t bitmap_find(const uint64_t *bm, uint64_t start, uint64_t end,
		     bool val)
{
	uint64_t i = start;

	while (i < end) {
		uint64_t w = i >> 6;
		uint64_t bits = val ? bm[w] : ~bm[w];

		bits &= ~UINT64_C(0) << (i & 63);
		if (bits) {
			i = (w << 6) + (uint64_t)__builtin_ctzll(bits);
			return i < end ? i : end;
		}
		i = (w + 1) << 6;
	}
	return end;
}

uint64_t bitmap_find_last(const uint64_t *bm, uint64_t start, uint64_t end,
			  bool val)
{
	uint64_t i = end;

	while (i > start) {
		uint64_t w = (i - 1) >> 6;
		uint64_t bits = val ? bm[w] : ~bm[w];
		unsigned int top = (unsigned int)((i - 1) & 63);

		if (top < 63)
			bits &= (UINT64_C(2) << top) - 1;
		if (bits) {
			i = (w << 6) + 63 - (uint64_t)__builtin_clzll(bits);
			return i >= start ? i : end;
		}
		i = w << 6;
	}
	return end;
}

uint64_t hbm_words(uint64_t nbits, unsigned int *ret_nlevels)
{
	uint64_t total = 0, n = bitmap_words(nbits ? nbits : 1);
	unsigned int levels = 1;

	for (;;) {
		total += n;
		if (n == 1)
			break;
		n = bitmap_words(n);
		levels++;
	}
	if (ret_nlevels)
		*ret_nlevels = levels;
	return total;
}

void hbm_layout(struct hbm *b, uint64_t nbits, uint64_t *words)
{
	uint64_t n = bitmap_words(nbits ? nbits : 1);

	hbm_words(nbits, &b->nlevels);
	for (unsigned int k = 0; k < b->nlevels; k++) {
		b->level[k] = words;
		words += n;
		n = bitmap_words(n);
	}
}

void hbm_set(const struct hbm *b, uint64_t i)
{
	for (unsigned int k = 0; k < b->nlevels; k++) {
		uint64_t *w = &b->level[k][i >> 6];
		bool was_empty = *w == 0;

		*w |= UINT64_C(1) << (i & 63);
		if (!was_empty)
			return;
		i >>= 6;
	}
}

void hbm_clear(const struct hbm *b, uint64_t i)
{
	for (unsigned int k = 0; k < b->nlevels; k++) {
		uint64_t *w = &b->level[k][i >> 6];

		*w &= ~(UINT64_C(1) << (i & 63));
		if (*w)
			return;
		i >>= 6;
	}
}

int64_t hbm_first(const struct hbm *b)
{
	uint64_t idx = 0;

	for (unsigned int k = b->nlevels; k-- > 0;) {
		uint64_t w = b->level[k][idx];

		if (!w)
			return -1;
		idx = (idx << 6) + (uint64_t)__builtin_ctzll(w);
	}
	return (int64_t)idx;
}

bool hbm_consistent(const struct hbm *b, uint64_t nbits)
{
	uint64_t n = bitmap_words(nbits ? nbits : 1);

	if (nbits & 63 && b->level[0][nbits >> 6] >> (nbits & 63))
		return false;
	for (unsigned int k = 1; k < b->nlevels; k++) {
		for (uint64_t i = 0; i < n; i++)
			if (bit_test(b->level[k], i) != (b->level[k - 1][i] != 0))
				return false;
		n = bitmap_words(n);
	}
	return true;
}
