// SPDX-License-Identifier: MIT
/*
 * References to objects: the reference records in the metadata, the
 * hash that finds the record of an (owner, object) pair in O(1), and the
 * two lists each record is on, its owner's and its object's.  See
 * heap_internal.h, "Objects", and the invariants E1..E4 that
 * ref_check() and ref_check_object() verify.  object.c decides what a
 * reference's going means for its object.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "heap_internal.h"
#include "siphash.h"

static uint32_t ref_bucket(const struct heap *h, uint32_t owner,
			   uint32_t slot)
{
	unsigned char key[8];

	for (int i = 0; i < 4; i++) {
		key[i] = (unsigned char)(owner >> (8 * i));
		key[4 + i] = (unsigned char)(slot >> (8 * i));
	}
	return (uint32_t)(siphash24(h->meta->hash_key, key, sizeof(key)) &
			  (h->meta->layout.ref_buckets - 1));
}

uint32_t ref_find(const struct heap *h, uint32_t owner, uint32_t slot)
{
	uint32_t i;

	if (!h->meta->max_refs)
		return 0;
	for (i = h->ref_hash[ref_bucket(h, owner, slot)]; i;
	     i = h->refs[i - 1].next)
		if (h->refs[i - 1].owner == owner && h->refs[i - 1].obj == slot)
			return i;
	return 0;
}

bool ref_room(const struct heap *h)
{
	return h->meta->ref_free || h->meta->ref_hwm < h->meta->max_refs;
}

/* A free record, the last freed first: index + 1; there must be one. */
static uint32_t rec_take(struct heap *h)
{
	struct heap_meta *m = h->meta;
	uint32_t i;

	if (!m->ref_free) {
		tx_store32(h, &m->ref_hwm, m->ref_hwm + 1);
		return m->ref_hwm;
	}
	i = m->ref_free;
	tx_store32(h, &m->ref_free, h->refs[i - 1].next);
	tx_store32(h, &h->refs[i - 1].next, 0);
	return i;
}

/* A new record @i of @o's references to @slot, on its chain and lists. */
static void rec_link(struct heap *h, uint32_t i, struct heap_owner_rec *o,
		     uint32_t slot)
{
	struct heap_ref_rec *r = &h->refs[i - 1];
	struct heap_obj_rec *x = &h->objs[slot];
	uint32_t *b = &h->ref_hash[ref_bucket(h, o->id, slot)];

	heap_tx_log(h, r, sizeof(*r));
	r->owner = o->id;
	r->obj = slot;
	r->next = *b;
	tx_store32(h, b, i);
	r->onext = o->refs;
	r->oprev = 0;
	if (o->refs)
		tx_store32(h, &h->refs[o->refs - 1].oprev, i);
	tx_store32(h, &o->refs, i);
	tx_store32(h, &o->nrefs, o->nrefs + 1);
	r->xnext = x->refs_first;
	r->xprev = 0;
	if (x->refs_first)
		tx_store32(h, &h->refs[x->refs_first - 1].xprev, i);
	tx_store32(h, &x->refs_first, i);
	tx_store64(h, &h->meta->ref_recs, h->meta->ref_recs + 1);
}

/* Take the record @i off its chain and lists, and free it. */
static void rec_remove(struct heap *h, uint32_t i)
{
	struct heap_ref_rec *r = &h->refs[i - 1];
	struct heap_owner_rec *o = owner_find(h, r->owner);
	struct heap_obj_rec *x = &h->objs[r->obj];
	uint32_t *l = &h->ref_hash[ref_bucket(h, r->owner, r->obj)];

	HEAP_BUG_ON(!o, "(E1) reference record %u of owner %u, not live",
		    i - 1, r->owner);
	while (*l != i) {
		HEAP_BUG_ON(!*l, "(E3) reference record %u is not on its chain",
			    i - 1);
		l = &h->refs[*l - 1].next;
	}
	tx_store32(h, l, r->next);
	if (r->oprev)
		tx_store32(h, &h->refs[r->oprev - 1].onext, r->onext);
	else
		tx_store32(h, &o->refs, r->onext);
	if (r->onext)
		tx_store32(h, &h->refs[r->onext - 1].oprev, r->oprev);
	tx_store32(h, &o->nrefs, o->nrefs - 1);
	if (r->xprev)
		tx_store32(h, &h->refs[r->xprev - 1].xnext, r->xnext);
	else
		tx_store32(h, &x->refs_first, r->xnext);
	if (r->xnext)
		tx_store32(h, &h->refs[r->xnext - 1].xprev, r->xprev);
	heap_tx_log(h, r, sizeof(*r));
	memset(r, 0, sizeof(*r));
	r->next = h->meta->ref_free;
	tx_store32(h, &h->meta->ref_free, i);
	tx_store64(h, &h->meta->ref_recs, h->meta->ref_recs - 1);
}

int ref_get(struct heap *h, struct heap_owner_rec *o, uint32_t slot)
{
	uint32_t i = ref_find(h, o->id, slot);

	if (i && h->refs[i - 1].count == UINT32_MAX)
		return -EOVERFLOW;
	if (!i) {
		if (!ref_room(h))
			return -ENOSPC;
		i = rec_take(h);
		rec_link(h, i, o, slot);
	}
	tx_store32(h, &h->refs[i - 1].count, h->refs[i - 1].count + 1);
	tx_store64(h, &h->objs[slot].refs, h->objs[slot].refs + 1);
	tx_store64(h, &h->meta->refs_total, h->meta->refs_total + 1);
	return 0;
}

void ref_put(struct heap *h, uint32_t i)
{
	struct heap_ref_rec *r = &h->refs[i - 1];

	tx_store64(h, &h->objs[r->obj].refs, h->objs[r->obj].refs - 1);
	tx_store64(h, &h->meta->refs_total, h->meta->refs_total - 1);
	tx_store32(h, &r->count, r->count - 1);
	if (r->count == 0)
		rec_remove(h, i);
}

uint32_t ref_drop(struct heap *h, uint32_t i)
{
	struct heap_ref_rec *r = &h->refs[i - 1];
	uint32_t count = r->count;

	tx_store64(h, &h->objs[r->obj].refs, h->objs[r->obj].refs - count);
	tx_store64(h, &h->meta->refs_total, h->meta->refs_total - count);
	rec_remove(h, i);
	return count;
}

/* E2 */
uint64_t ref_check_object(const struct heap *h, uint32_t slot)
{
	const struct heap_obj_rec *x = &h->objs[slot];
	uint32_t i = x->refs_first, prev = 0;
	uint64_t n = 0, refs = 0;

	while (i) {
		const struct heap_ref_rec *r = &h->refs[i - 1];

		HEAP_BUG_ON(n == h->meta->ref_hwm || i > h->meta->ref_hwm,
			    "(E2) the list of object %u leaves the records in use (a cycle?)",
			    slot);
		HEAP_BUG_ON(!r->owner || r->obj != slot || r->xprev != prev,
			    "(E2) record %u on the list of object %u is not one of its own",
			    i - 1, slot);
		refs += r->count;
		n++;
		prev = i;
		i = r->xnext;
	}
	HEAP_BUG_ON(refs != x->refs,
		    "(E2) object %u has %llu references, its records count %llu",
		    slot, (unsigned long long)x->refs,
		    (unsigned long long)refs);
	return n;
}

static bool rec_free_zero(const struct heap_ref_rec *r)
{
	struct heap_ref_rec z = *r;

	z.next = 0;
	return !z.owner && !z.obj && !z.count && !z.onext && !z.oprev &&
	       !z.xnext && !z.xprev;
}

/* E1 for the records below ref_hwm; returns the number in use. */
static uint64_t check_records(const struct heap *h)
{
	const struct heap_meta *m = h->meta;
	uint64_t used = 0, refs = 0, steps = 0;
	uint32_t i;

	for (i = 0; i < m->ref_hwm; i++) {
		const struct heap_ref_rec *r = &h->refs[i];

		if (!r->owner) {
			HEAP_BUG_ON(!rec_free_zero(r),
				    "(E1) free reference record %u holds data",
				    i);
			continue;
		}
		HEAP_BUG_ON(!owner_find(h, r->owner),
			    "(E1) reference record %u names owner %u, not live",
			    i, r->owner);
		HEAP_BUG_ON(r->obj >= m->obj_hwm || !h->objs[r->obj].id ||
				    !r->count,
			    "(E1) reference record %u: object %u, count %u",
			    i, r->obj, r->count);
		used++;
		refs += r->count;
	}
	for (i = m->ref_free; i; i = h->refs[i - 1].next) {
		HEAP_BUG_ON(steps == m->ref_hwm - used || i > m->ref_hwm ||
				    h->refs[i - 1].owner,
			    "(E1) the free reference list holds record %u, not free (or a cycle)",
			    i - 1);
		steps++;
	}
	HEAP_BUG_ON(steps != m->ref_hwm - used,
		    "(E1) the free reference list holds %llu of %llu free records",
		    (unsigned long long)steps,
		    (unsigned long long)(m->ref_hwm - used));
	HEAP_BUG_ON(used != m->ref_recs || refs != m->refs_total,
		    "(E1, E2) %llu records of %llu references, counted %llu of %llu",
		    (unsigned long long)used, (unsigned long long)refs,
		    (unsigned long long)m->ref_recs,
		    (unsigned long long)m->refs_total);
	return used;
}

/* E3: the chain of bucket @b; returns its length. */
static uint64_t check_chain(const struct heap *h, uint32_t b, uint64_t left)
{
	uint64_t n = 0;

	for (uint32_t i = h->ref_hash[b]; i; i = h->refs[i - 1].next) {
		const struct heap_ref_rec *r = &h->refs[i - 1];
		uint64_t k = 0;

		HEAP_BUG_ON(n == left || i > h->meta->ref_hwm || !r->owner ||
				    ref_bucket(h, r->owner, r->obj) != b,
			    "(E3) bucket %u holds record %u, not its own (or a cycle)",
			    b, i - 1);
		for (uint32_t j = r->next;
		     j && j <= h->meta->ref_hwm && k < left;
		     j = h->refs[j - 1].next, k++)
			HEAP_BUG_ON(h->refs[j - 1].owner == r->owner &&
					    h->refs[j - 1].obj == r->obj,
				    "(E3) owner %u has two records of object %u",
				    r->owner, r->obj);
		n++;
	}
	return n;
}

/* E4: the list of the live owner @o. */
static void check_owner(const struct heap *h, const struct heap_owner_rec *o)
{
	uint32_t i = o->refs, prev = 0, n = 0;

	while (i) {
		const struct heap_ref_rec *r = &h->refs[i - 1];

		HEAP_BUG_ON(n == o->nrefs || i > h->meta->ref_hwm ||
				    r->owner != o->id || r->oprev != prev,
			    "(E4) record %u on the list of owner %u is not one of its own (or a cycle)",
			    i - 1, o->id);
		n++;
		prev = i;
		i = r->onext;
	}
	HEAP_BUG_ON(n != o->nrefs, "(E4) owner %u lists %u records, counts %u",
		    o->id, n, o->nrefs);
}

void ref_check(const struct heap *h, uint64_t listed)
{
	const struct heap_meta *m = h->meta;
	struct meta_cursor mc = { 0, 0, 0, false };
	uint64_t used, chained = 0, owned = 0;
	uint32_t per_page = 4096 / sizeof(uint32_t);

	HEAP_BUG_ON(m->ref_hwm > m->max_refs, "(E1) %u reference records used of %u",
		    m->ref_hwm, m->max_refs);
	HEAP_BUG_ON(!meta_zero(h, &mc, &h->refs[m->ref_hwm],
			       (uint64_t)(m->max_refs - m->ref_hwm) *
				       sizeof(struct heap_ref_rec)),
		    "(E1) a reference record past the %u used is not zero",
		    m->ref_hwm);
	used = check_records(h);
	HEAP_BUG_ON(listed != used,
		    "(E2) the objects list %llu records, %llu are in use",
		    (unsigned long long)listed, (unsigned long long)used);
	/* Buckets a page at a time: a page that is a hole holds none. */
	for (uint32_t b = 0; b < m->layout.ref_buckets; b += per_page) {
		uint32_t end = b + per_page < m->layout.ref_buckets ?
				       b + per_page :
				       m->layout.ref_buckets;

		if (meta_zero(h, &mc, &h->ref_hash[b],
			      (uint64_t)(end - b) * sizeof(uint32_t)))
			continue;
		for (uint32_t k = b; k < end; k++)
			chained += check_chain(h, k, used - chained);
	}
	HEAP_BUG_ON(chained != used,
		    "(E3) the chains hold %llu records, %llu are in use",
		    (unsigned long long)chained, (unsigned long long)used);
	for (uint32_t slot = 0; slot < m->owners_hwm; slot++) {
		if (!h->owners[slot].id)
			continue;
		check_owner(h, &h->owners[slot]);
		owned += h->owners[slot].nrefs;
	}
	HEAP_BUG_ON(owned != used,
		    "(E4) the owners list %llu records, %llu are in use",
		    (unsigned long long)owned, (unsigned long long)used);
}
