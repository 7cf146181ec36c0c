// SPDX-License-Identifier: MIT
/*
 * The index of free spans: best fit, lowest address on a tie.
 *
 * Small spans (fewer than HEAP_SMALL_PAGES pages) are found by exact
 * size.  small_mask says which sizes have a free span; for size n,
 * h->small[n] has a bit per 64-page group that holds the head of a free
 * n-page span.  Within the group the freehead word lists the free heads;
 * the first of them with n pages is the lowest-addressed n-page span.
 * Every operation is O(levels), a handful of words.
 *
 * Large spans sit in a treap keyed by (npages, start), max-heap ordered
 * by a hash of the start page, so its expected depth is O(log n)
 * whatever order spans arrive in.  A large span is at least
 * HEAP_SMALL_PAGES long, so its tail entry is free to hold the links.
 */
#include "heap_internal.h"

/* The tree links of the large free span at @p, in its tail entry. */
static inline struct span_node *tree(const struct heap *h, uint32_t p)
{
	return &h->spans[p + span_val(h, p) - 1].node;
}

/* A fixed mix of the page number (Murmur3's finaliser). */
static uint32_t prio(uint32_t p)
{
	p ^= p >> 16;
	p *= 0x85ebca6bu;
	p ^= p >> 13;
	p *= 0xc2b2ae35u;
	p ^= p >> 16;
	return p;
}

/* Strict order on (npages, start). */
static bool key_less(const struct heap *h, uint32_t a, uint32_t b)
{
	uint32_t na = span_val(h, a), nb = span_val(h, b);

	return na < nb || (na == nb && a < b);
}

static uint32_t treap_insert(struct heap *h, uint32_t root, uint32_t p)
{
	uint32_t c;

	if (root == SPAN_NIL)
		return p;
	if (key_less(h, p, root)) {
		c = treap_insert(h, tree(h, root)->left, p);
		tree(h, root)->left = c;
		if (prio(c) > prio(root)) {
			tree(h, root)->left = tree(h, c)->right;
			tree(h, c)->right = root;
			return c;
		}
	} else {
		c = treap_insert(h, tree(h, root)->right, p);
		tree(h, root)->right = c;
		if (prio(c) > prio(root)) {
			tree(h, root)->right = tree(h, c)->left;
			tree(h, c)->left = root;
			return c;
		}
	}
	return root;
}

/* Join two treaps where every key of @a is below every key of @b. */
static uint32_t treap_join(struct heap *h, uint32_t a, uint32_t b)
{
	if (a == SPAN_NIL)
		return b;
	if (b == SPAN_NIL)
		return a;
	if (prio(a) > prio(b)) {
		tree(h, a)->right = treap_join(h, tree(h, a)->right, b);
		return a;
	}
	tree(h, b)->left = treap_join(h, a, tree(h, b)->left);
	return b;
}

static uint32_t treap_remove(struct heap *h, uint32_t root, uint32_t p)
{
	HEAP_BUG_ON(root == SPAN_NIL, "large span %u not in the tree", p);
	if (root == p)
		return treap_join(h, tree(h, p)->left, tree(h, p)->right);
	if (key_less(h, p, root))
		tree(h, root)->left = treap_remove(h, tree(h, root)->left, p);
	else
		tree(h, root)->right = treap_remove(h, tree(h, root)->right, p);
	return root;
}

/* Does a free span of @n pages (n small) start in @p's 64-page group? */
static bool group_has_size(const struct heap *h, uint32_t group, uint32_t n)
{
	uint64_t w = h->freehead[group];

	while (w) {
		uint32_t q = (group << 6) + (uint32_t)__builtin_ctzll(w);

		if (span_val(h, q) == n)
			return true;
		w &= w - 1;
	}
	return false;
}

void freeidx_insert(struct heap *h, uint32_t p)
{
	struct heap_meta *m = h->meta;
	uint32_t n = span_val(h, p);

	bit_set(h->freehead, p);
	m->nfree++;
	if (n < HEAP_SMALL_PAGES) {
		if (m->nsmall[n]++ == 0)
			bit_set(m->small_mask, n);
		hbm_set(&h->small[n], p >> 6);
		return;
	}
	tree(h, p)->left = SPAN_NIL;
	tree(h, p)->right = SPAN_NIL;
	m->tree_root = treap_insert(h, m->tree_root, p);
}

void freeidx_remove(struct heap *h, uint32_t p)
{
	struct heap_meta *m = h->meta;
	uint32_t n = span_val(h, p);

	HEAP_BUG_ON(!bit_test(h->freehead, p), "span %u is not indexed", p);
	bit_clear(h->freehead, p);
	m->nfree--;
	if (n < HEAP_SMALL_PAGES) {
		HEAP_BUG_ON(m->nsmall[n] == 0, "no free span of %u pages", n);
		if (--m->nsmall[n] == 0)
			bit_clear(m->small_mask, n);
		if (!group_has_size(h, p >> 6, n))
			hbm_clear(&h->small[n], p >> 6);
		return;
	}
	m->tree_root = treap_remove(h, m->tree_root, p);
}

/* Lowest-addressed free span of exactly @n (small) pages. */
static uint32_t small_first(const struct heap *h, uint32_t n)
{
	int64_t g = hbm_first(&h->small[n]);
	uint64_t w;

	HEAP_BUG_ON(g < 0, "size %u counted but not indexed", n);
	w = h->freehead[g];
	while (w) {
		uint32_t q = ((uint32_t)g << 6) + (uint32_t)__builtin_ctzll(w);

		if (span_val(h, q) == n)
			return q;
		w &= w - 1;
	}
	HEAP_BUG_ON(1, "group %ld has no free span of %u pages", (long)g, n);
	return SPAN_NIL;
}

/* Smallest size >= @n with a free small span, or 0. */
static uint32_t small_size_at_least(const struct heap *h, uint32_t n)
{
	for (uint32_t k = n >> 6; k < 2; k++) {
		uint64_t w = h->meta->small_mask[k];

		if (k == n >> 6)
			w &= ~UINT64_C(0) << (n & 63);
		if (w)
			return (k << 6) + (uint32_t)__builtin_ctzll(w);
	}
	return 0;
}

uint32_t freeidx_find(const struct heap *h, uint64_t npages)
{
	uint32_t best = SPAN_NIL, p;

	if (npages < HEAP_SMALL_PAGES) {
		uint32_t n = small_size_at_least(h, (uint32_t)npages);

		if (n)
			return small_first(h, n);
		npages = HEAP_SMALL_PAGES;
	}
	/* The least key (n, start) with n >= npages. */
	for (p = h->meta->tree_root; p != SPAN_NIL;) {
		if (span_val(h, p) >= npages) {
			best = p;
			p = tree(h, p)->left;
		} else {
			p = tree(h, p)->right;
		}
	}
	return best;
}

struct tree_check {
	uint64_t count;
	uint32_t prev;
};

static void tree_check(const struct heap *h, uint32_t p, uint32_t parent,
		       struct tree_check *c)
{
	if (p == SPAN_NIL)
		return;
	HEAP_BUG_ON(span_kind(h, p) != SPAN_FREE ||
			    span_val(h, p) < HEAP_SMALL_PAGES,
		    "tree node %u is not a large free span", p);
	HEAP_BUG_ON(parent != SPAN_NIL && prio(p) > prio(parent),
		    "tree node %u outranks its parent %u", p, parent);
	tree_check(h, tree(h, p)->left, p, c);
	HEAP_BUG_ON(c->prev != SPAN_NIL && !key_less(h, c->prev, p),
		    "tree out of order at %u", p);
	c->prev = p;
	c->count++;
	tree_check(h, tree(h, p)->right, p, c);
}

/* For each small size, how many 64-page groups hold a free span of it. */
static void count_groups(const struct heap *h, uint64_t *ngroups)
{
	uint64_t groups = bitmap_words(h->meta->grown);

	for (uint64_t g = 0; g < groups; g++) {
		uint64_t w = h->freehead[g], seen[2] = { 0, 0 };

		for (; w; w &= w - 1) {
			uint32_t q = ((uint32_t)g << 6) +
				     (uint32_t)__builtin_ctzll(w);
			uint32_t n = span_val(h, q);

			if (n < HEAP_SMALL_PAGES && !bit_test(seen, n)) {
				bit_set(seen, n);
				ngroups[n]++;
			}
		}
	}
}

/* The groups the index of size @n names, each checked; returns them. */
static uint64_t groups_indexed(const struct heap *h, const struct hbm *b,
			       uint32_t n, uint64_t groups)
{
	uint64_t set = 0;

	for (uint64_t i = 0; i < bitmap_words(groups); i++) {
		for (uint64_t w = b->level[0][i]; w; w &= w - 1) {
			uint64_t g = (i << 6) + (uint64_t)__builtin_ctzll(w);

			HEAP_BUG_ON(g >= groups ||
					    !group_has_size(h, (uint32_t)g, n),
				    "group %lu indexed for size %u wrongly",
				    (unsigned long)g, n);
			set++;
		}
	}
	return set;
}

/*
 * O(free spans + set bits), not O(sizes x groups): a 64 GiB heap has 2^18
 * groups.  Every set bit names a group
 * that holds its size, and there are as many set bits as such groups,
 * so the two sets are equal.
 */
void freeidx_check(const struct heap *h, const uint64_t *nsmall,
		   uint64_t nlarge)
{
	const struct heap_meta *m = h->meta;
	uint64_t groups = bitmap_words(m->grown);
	uint64_t ngroups[HEAP_SMALL_PAGES] = { 0 };
	struct meta_cursor mc = { 0, 0, 0, false };
	struct tree_check c = { 0, SPAN_NIL };

	count_groups(h, ngroups);
	for (uint32_t n = 1; n < HEAP_SMALL_PAGES; n++) {
		const struct hbm *b = &h->small[n];
		uint64_t set = 0;

		HEAP_BUG_ON(m->nsmall[n] != nsmall[n],
			    "%u free spans of %u pages counted, %lu found",
			    m->nsmall[n], n, (unsigned long)nsmall[n]);
		HEAP_BUG_ON(bit_test(m->small_mask, n) != (nsmall[n] > 0),
			    "size mask wrong for %u pages", n);
		/* All zero (holes, mostly: sizes never used) is consistent. */
		if (!meta_zero(h, &mc, b->level[0],
			       m->layout.small_words * 8)) {
			set = groups_indexed(h, b, n, groups);
			HEAP_BUG_ON(!hbm_consistent(b, groups),
				    "summary levels of size %u are wrong", n);
		}
		HEAP_BUG_ON(set != ngroups[n],
			    "%lu groups indexed for size %u, %lu hold it",
			    (unsigned long)set, n, (unsigned long)ngroups[n]);
	}
	HEAP_BUG_ON(bit_test(m->small_mask, 0), "size 0 in the size mask");
	tree_check(h, m->tree_root, SPAN_NIL, &c);
	HEAP_BUG_ON(c.count != nlarge, "tree holds %lu large spans, heap %lu",
		    (unsigned long)c.count, (unsigned long)nlarge);
}
