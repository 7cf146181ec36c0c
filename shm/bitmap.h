/* SPDX-License-Identifier: MIT */
/*
 * Flat and hierarchical bitmaps over 64-bit words.
 *
 * A flat bitmap is an array of words; bit i lives in word i / 64.  The
 * range helpers cost O(n / 64) and never touch words outside the range.
 *
 * A hierarchical bitmap (struct hbm) answers "lowest set bit" in
 * O(levels) by keeping, above the leaf words, one summary bit per word of
 * the level below: a summary bit is set iff that word is non-zero.  The
 * top level is a single word.  All levels live in memory the caller
 * provides (the heap's metadata mapping), zero-filled means empty.
 */
#ifndef SPANHEAP_SHM_BITMAP_H
#define SPANHEAP_SHM_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HBM_MAX_LEVELS 6

static inline bool bit_test(const uint64_t *bm, uint64_t i)
{
	return (bm[i >> 6] >> (i & 63)) & 1;
}

static inline void bit_set(uint64_t *bm, uint64_t i)
{
	bm[i >> 6] |= UINT64_C(1) << (i & 63);
}

static inline void bit_clear(uint64_t *bm, uint64_t i)
{
	bm[i >> 6] &= ~(UINT64_C(1) << (i & 63));
}

static inline uint64_t bitmap_words(uint64_t nbits)
{
	return (nbits + 63) / 64;
}

void bitmap_set_range(uint64_t *bm, uint64_t start, uint64_t n);
void bitmap_clear_range(uint64_t *bm, uint64_t start, uint64_t n);
uint64_t bitmap_count(const uint64_t *bm, uint64_t start, uint64_t n);
/* First index in [start, end) whose bit equals @val, or @end if none. */
uint64_t bitmap_find(const uint64_t *bm, uint64_t start, uint64_t end,
		     bool val);
/* Last index in [start, end) whose bit equals @val, or @end if none. */
uint64_t bitmap_find_last(const uint64_t *bm, uint64_t start, uint64_t end,
			  bool val);

/* A hierarchical bitmap; level[0] holds the bits, level[nlevels-1] is one word. */
struct hbm {
	unsigned int nlevels;
	uint64_t *level[HBM_MAX_LEVELS];
};

/*
 * Number of words an hbm over @nbits needs in total, and the number of
 * levels; hbm_layout() points the levels into @words consecutively.
 */
uint64_t hbm_words(uint64_t nbits, unsigned int *ret_nlevels);
void hbm_layout(struct hbm *b, uint64_t nbits, uint64_t *words);
void hbm_set(const struct hbm *b, uint64_t i);
void hbm_clear(const struct hbm *b, uint64_t i);
/*
 * True iff every summary bit over the first @nbits leaf bits matches its
 * word below, and no leaf bit at or past @nbits is set in its last word.
 */
bool hbm_consistent(const struct hbm *b, uint64_t nbits);
/* Lowest set bit, or -1 if the bitmap is empty. */
int64_t hbm_first(const struct hbm *b);

#endif
