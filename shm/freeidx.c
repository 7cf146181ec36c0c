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

/* Logged stores of the links: only those that change are logged. */
static void set_left(struct heap *h, uint32_t p, uint32_t v)
{
	tx_store32(h, &tree(h, p)->left, v);
}

static void set_right(struct heap *h, uint32_t p, uint32_t v)
{
	tx_store32(h, &tree(h, p)->right, v);
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
		set_left(h, root, c);
		if (prio(c) > prio(root)) {
			set_left(h, root, tree(h, c)->right);
			set_right(h, c, root);
			return c;
		}
	} else {
		c = treap_insert(h, tree(h, root)->right, p);
		set_right(h, root, c);
		if (prio(c) > prio(root)) {
			set_right(h, root, tree(h, c)->left);
			set_left(h, c, root);
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
		set_right(h, a, treap_join(h, tree(h, a)->right, b));
		return a;
	}
	set_left(h, b, treap_join(h, a, tree(h, b)->left));
	return b;
}

static uint32_t treap_remove(struct heap *h, uint32_t root, uint32_t p)
{
	HEAP_BUG_ON(root == SPAN_NIL, "large span %u not in the tree", p);
	if (root == p)
		return treap_join(h, tree(h, p)->left, tree(h, p)->right);
	if (key_less(h, p, root))
		set_left(h, root, treap_remove(h, tree(h, root)->left, p));
	else
		set_right(h, root, treap_remove(h, tree(h, root)->right, p));
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

	tx_bit_set(h, h->freehead, p);
	tx_store64(h, &m->nfree, m->nfree + 1);
	if (n < HEAP_SMALL_PAGES) {
		if (m->nsmall[n] == 0)
			tx_bit_set(h, m->small_mask, n);
		tx_store32(h, &m->nsmall[n], m->nsmall[n] + 1);
		tx_hbm_set(h, &h->small[n], p >> 6);
		return;
	}
	set_left(h, p, SPAN_NIL);
	set_right(h, p, SPAN_NIL);
	tx_store32(h, &m->tree_root, treap_insert(h, m->tree_root, p));
}

void freeidx_remove(struct heap *h, uint32_t p)
{
	struct heap_meta *m = h->meta;
	uint32_t n = span_val(h, p);

	HEAP_BUG_ON(!bit_test(h->freehead, p), "span %u is not indexed", p);
	tx_bit_clear(h, h->freehead, p);
	tx_store64(h, &m->nfree, m->nfree - 1);
	if (n < HEAP_SMALL_PAGES) {
		HEAP_BUG_ON(m->nsmall[n] == 0, "no free span of %u pages", n);
		tx_store32(h, &m->nsmall[n], m->nsmall[n] - 1);
		if (m->nsmall[n] == 0)
			tx_bit_clear(h, m->small_mask, n);
		if (!group_has_size(h, p >> 6, n))
			tx_hbm_clear(h, &h->small[n], p >> 6);
		return;
	}
	tx_store32(h, &m->tree_root, treap_remove(h, m->tree_root, p));
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

/* Is @p the head of a large free span of the grown heap? */
static bool large_free(const struct heap *h, uint32_t p)
{
	return p < h->meta->grown && span_kind(h, p) == SPAN_FREE &&
	       span_val(h, p) >= HEAP_SMALL_PAGES;
}

/*
 * Descend from the root by @p's key, as freeidx_find() would, at most
 * @bound steps: every node passed must be a large free span.  Then check
 * @p's own links.  A loop stays bounded whatever the links hold.
 */
unsigned int freeidx_check_node(const struct heap *h, uint32_t p,
				uint64_t bound)
{
	uint32_t q = h->meta->tree_root, link[2];
	unsigned int nlinks = 0;
	uint64_t steps = 0;

	while (q != p) {
		HEAP_BUG_ON(q == SPAN_NIL,
			    "(F4) large free span %u is not found from the root",
			    p);
		HEAP_BUG_ON(!large_free(h, q),
			    "(F4) tree link to page %u, no large free span", q);
		HEAP_BUG_ON(++steps > bound,
			    "(F4) the descent to %u is longer than the tree (a cycle?)",
			    p);
		q = key_less(h, p, q) ? tree(h, q)->left : tree(h, q)->right;
	}
	link[0] = tree(h, p)->left;
	link[1] = tree(h, p)->right;
	for (int i = 0; i < 2; i++) {
		if (link[i] == SPAN_NIL)
			continue;
		HEAP_BUG_ON(!large_free(h, link[i]),
			    "(F4) tree link from %u to page %u, no large free span",
			    p, link[i]);
		/* prio() is a bijection: distinct nodes never tie. */
		HEAP_BUG_ON(prio(link[i]) >= prio(p),
			    "(F4) tree node %u outranks its parent %u", link[i],
			    p);
		nlinks++;
	}
	return nlinks;
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

/*
 * F3 past the grown groups: no leaf bit of @b at or past @groups, and at
 * each upper level none past the bits that summarise those words.  The
 * words of level k cover @cap bits of the level below.
 */
static bool hbm_clear_past(const struct heap *h, struct meta_cursor *mc,
			   const struct hbm *b, uint64_t groups)
{
	uint64_t used = groups, cap = bitmap_words(h->meta->arena_pages);

	for (unsigned int k = 0; k < b->nlevels; k++) {
		if (!meta_bits_clear(h, mc, b->level[k], used,
				     bitmap_words(cap ? cap : 1)))
			return false;
		used = bitmap_words(used);
		cap = bitmap_words(cap);
	}
	return true;
}

/* F3 for size @n: the groups its index names, each checked; returns them. */
static uint64_t groups_indexed(const struct heap *h, const struct hbm *b,
			       uint32_t n, uint64_t groups)
{
	uint64_t set = 0;

	for (uint64_t i = 0; i < bitmap_words(groups); i++) {
		for (uint64_t w = b->level[0][i]; w; w &= w - 1) {
			uint64_t g = (i << 6) + (uint64_t)__builtin_ctzll(w);

			HEAP_BUG_ON(g >= groups ||
					    !group_has_size(h, (uint32_t)g, n),
				    "(F3) group %lu indexed for size %u wrongly",
				    (unsigned long)g, n);
			set++;
		}
	}
	return set;
}

/*
 * F2, F3 and the rest of F4.  O(free spans + set bits), not O(sizes x
 * groups): a 64 GiB heap has 2^18 groups.  Every set bit names a group
 * that holds its size, and there are as many set bits as such groups,
 * so the two sets are equal.
 */
void freeidx_check(const struct heap *h, const uint64_t *nsmall,
		   uint64_t nlarge, uint64_t nlinks)
{
	const struct heap_meta *m = h->meta;
	uint64_t groups = bitmap_words(m->grown);
	uint64_t ngroups[HEAP_SMALL_PAGES] = { 0 };
	struct meta_cursor mc = { 0, 0, 0, false };

	count_groups(h, ngroups);
	for (uint32_t n = 1; n < HEAP_SMALL_PAGES; n++) {
		const struct hbm *b = &h->small[n];
		uint64_t set = 0;

		HEAP_BUG_ON(m->nsmall[n] != nsmall[n],
			    "(F2) %u free spans of %u pages counted, %lu found",
			    m->nsmall[n], n, (unsigned long)nsmall[n]);
		HEAP_BUG_ON(bit_test(m->small_mask, n) != (nsmall[n] > 0),
			    "(F2) size mask wrong for %u pages", n);
		/* All zero (holes, mostly: sizes never used) is consistent. */
		if (!meta_zero(h, &mc, b->level[0],
			       m->layout.small_words * 8)) {
			set = groups_indexed(h, b, n, groups);
			HEAP_BUG_ON(!hbm_consistent(b, groups),
				    "(F3) summary levels of size %u are wrong",
				    n);
			HEAP_BUG_ON(!hbm_clear_past(h, &mc, b, groups),
				    "(F3) bits of size %u past the heap", n);
		}
		HEAP_BUG_ON(set != ngroups[n],
			    "(F3) %lu groups indexed for size %u, %lu hold it",
			    (unsigned long)set, n, (unsigned long)ngroups[n]);
	}
	HEAP_BUG_ON(bit_test(m->small_mask, 0), "(F2) size 0 in the size mask");
	HEAP_BUG_ON((m->tree_root == SPAN_NIL) != (nlarge == 0),
		    "(F4) tree root %u with %lu large free spans", m->tree_root,
		    (unsigned long)nlarge);
	HEAP_BUG_ON(nlarge && nlinks != nlarge - 1,
		    "(F4) %lu tree links between %lu large free spans",
		    (unsigned long)nlinks, (unsigned long)nlarge);
}
