// SPDX-License-Identifier: MIT
/*
 * The owners of in-use spans: the owner table in the metadata, the ids
 * it hands out, and each owner's list of spans.  See heap_internal.h,
 * "Owners", for the slots, the generations and the free queue.
 */
#include <errno.h>
#include <string.h>

#include "heap_internal.h"

/* The largest generation: the id's bits above the slot's. */
static uint32_t gen_max(const struct heap *h)
{
	return (UINT32_C(1) << (32 - h->meta->owner_slot_bits)) - 1;
}

/* The caller has logged the record. */
static void set_name(struct heap_owner_rec *o, const char *name)
{
	size_t len = name ? strnlen(name, sizeof(o->name) - 1) : 0;

	memset(o->name, 0, sizeof(o->name));
	memcpy(o->name, name ? name : "", len);
}

/*
 * A slot for a new owner: the oldest free one once enough wait (so an
 * id comes back late), else a slot never used, else any free one.
 */
static uint32_t slot_take(struct heap *h)
{
	struct heap_meta *m = h->meta;
	uint32_t queued = m->owners_hwm - m->owners_live, slot;

	if (m->owner_free_head != SLOT_NIL &&
	    (queued >= HEAP_OWNER_REUSE_MIN ||
	     m->owners_hwm == m->max_owners)) {
		slot = m->owner_free_head;
		tx_store32(h, &m->owner_free_head, h->owners[slot].next_free);
		if (m->owner_free_head == SLOT_NIL)
			tx_store32(h, &m->owner_free_tail, SLOT_NIL);
		tx_store32(h, &h->owners[slot].next_free, 0);
		return slot;
	}
	if (m->owners_hwm < m->max_owners) {
		slot = m->owners_hwm;
		tx_store32(h, &m->owners_hwm, slot + 1);
		return slot;
	}
	return SLOT_NIL;
}

int heap_owner_add(struct heap *h, const char *name, uint64_t key,
		   uint32_t *ret_id)
{
	uint32_t slot, gen;
	struct heap_owner_rec *o;

	heap_tx_begin(h);
	slot = slot_take(h);
	if (slot == SLOT_NIL) {
		heap_tx_end(h);
		return -ENOSPC;
	}
	o = &h->owners[slot];
	heap_tx_log(h, o, sizeof(*o));
	gen = o->gen < gen_max(h) ? o->gen + 1 : 1;
	o->gen = gen;
	o->id = gen << h->meta->owner_slot_bits | slot;
	o->first = SPAN_NIL;
	o->nspans = 0;
	o->npages = 0;
	o->refs = 0;
	o->nrefs = 0;
	o->key = key;
	set_name(o, name);
	tx_store32(h, &h->meta->owners_live, h->meta->owners_live + 1);
	heap_tx_end(h);
	*ret_id = o->id;
	HEAP_DEBUG_CHECK(h);
	return 0;
}

int heap_owner_set_name(struct heap *h, uint32_t id, const char *name)
{
	struct heap_owner_rec *o = owner_find(h, id);

	if (!o)
		return -ENOENT;
	heap_tx_begin(h);
	heap_tx_log(h, o->name, sizeof(o->name));
	set_name(o, name);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

int heap_owner_remove(struct heap *h, uint32_t id)
{
	struct heap_meta *m = h->meta;
	struct heap_owner_rec *o = owner_find(h, id);
	uint32_t slot = owner_slot(h, id);

	if (!o)
		return -ENOENT;
	if (o->nspans || o->nrefs)
		return -EBUSY;
	heap_tx_begin(h);
	heap_tx_log(h, o, sizeof(*o));
	/* All zero but the generation and the queue link. */
	o->id = 0;
	o->first = 0;
	o->key = 0;
	memset(o->name, 0, sizeof(o->name));
	o->next_free = SLOT_NIL;
	if (m->owner_free_tail != SLOT_NIL)
		tx_store32(h, &h->owners[m->owner_free_tail].next_free, slot);
	else
		tx_store32(h, &m->owner_free_head, slot);
	tx_store32(h, &m->owner_free_tail, slot);
	tx_store32(h, &m->owners_live, m->owners_live - 1);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

static void info_of(const struct heap_owner_rec *o,
		    struct heap_owner_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = o->id;
	ret->key = o->key;
	ret->nspans = o->nspans;
	ret->npages = o->npages;
	ret->nrefs = o->nrefs;
	memcpy(ret->name, o->name, sizeof(ret->name));
	ret->name[sizeof(ret->name) - 1] = 0;
}

int heap_owner_get(const struct heap *h, uint32_t id,
		   struct heap_owner_info *ret)
{
	const struct heap_owner_rec *o = owner_find(h, id);

	if (!o)
		return -ENOENT;
	info_of(o, ret);
	return 0;
}

bool heap_owner_next(const struct heap *h, uint32_t *cursor,
		     struct heap_owner_info *ret)
{
	for (uint32_t slot = *cursor; slot < h->meta->owners_hwm; slot++) {
		if (h->owners[slot].id) {
			info_of(&h->owners[slot], ret);
			*cursor = slot + 1;
			return true;
		}
	}
	*cursor = h->meta->owners_hwm;
	return false;
}

/* O2: the list of @o, walked from its first span, at most nspans steps. */
static void check_list(const struct heap *h, const struct heap_owner_rec *o)
{
	uint64_t steps = 0, pages = 0;
	uint32_t p = o->first, prev = SPAN_NIL;

	while (p != SPAN_NIL) {
		const struct span *s = &h->spans[p];

		HEAP_BUG_ON(steps == o->nspans,
			    "(O2) the list of owner %u is longer than its %llu spans (a cycle?)",
			    o->id, (unsigned long long)o->nspans);
		HEAP_BUG_ON(p >= h->meta->grown ||
				    span_kind(h, p) != SPAN_USED ||
				    s->use.owner != o->id,
			    "(O2) page %u on the list of owner %u is not its span",
			    p, o->id);
		HEAP_BUG_ON(s->use.prev != prev,
			    "(O2) span %u of owner %u links back to %u, not %u",
			    p, o->id, s->use.prev, prev);
		pages += span_val(h, p);
		steps++;
		prev = p;
		p = s->use.next;
	}
	HEAP_BUG_ON(steps != o->nspans || pages != o->npages,
		    "(O2) owner %u lists %llu spans of %llu pages, counts %llu of %llu",
		    o->id, (unsigned long long)steps,
		    (unsigned long long)pages, (unsigned long long)o->nspans,
		    (unsigned long long)o->npages);
}

static bool name_zero(const char *name)
{
	for (size_t i = 0; i < HEAP_OWNER_NAME_MAX; i++)
		if (name[i])
			return false;
	return true;
}

/* O1 for the slot @slot below owners_hwm; returns whether it is live. */
static bool check_slot(const struct heap *h, uint32_t slot)
{
	const struct heap_owner_rec *o = &h->owners[slot];
	uint32_t gen = o->id >> h->meta->owner_slot_bits;

	if (!o->id) {
		HEAP_BUG_ON(o->first || o->nspans || o->npages || o->key ||
				    o->refs || o->nrefs || !name_zero(o->name),
			    "(O1) free owner slot %u holds an owner's data",
			    slot);
		return false;
	}
	HEAP_BUG_ON(owner_slot(h, o->id) != slot || gen != o->gen || !gen ||
			    gen > gen_max(h),
		    "(O1) owner slot %u holds id %u (generation %u)", slot,
		    o->id, o->gen);
	HEAP_BUG_ON(!memchr(o->name, 0, sizeof(o->name)),
		    "(O1) the name of owner %u has no end", o->id);
	return true;
}

/* O1: the free queue holds each of the @nfree free slots, once. */
static void check_queue(const struct heap *h, uint32_t nfree)
{
	const struct heap_meta *m = h->meta;
	uint32_t slot = m->owner_free_head, last = SLOT_NIL, steps = 0;

	while (slot != SLOT_NIL) {
		HEAP_BUG_ON(steps == nfree,
			    "(O1) the free owner queue is longer than the %u free slots (a cycle?)",
			    nfree);
		HEAP_BUG_ON(slot >= m->owners_hwm || h->owners[slot].id,
			    "(O1) the free owner queue holds slot %u, not free",
			    slot);
		steps++;
		last = slot;
		slot = h->owners[slot].next_free;
	}
	HEAP_BUG_ON(steps != nfree || last != m->owner_free_tail,
		    "(O1) the free owner queue holds %u slots to %u, not %u to %u",
		    steps, last, nfree, m->owner_free_tail);
}

void owner_check(const struct heap *h, uint64_t used)
{
	const struct heap_meta *m = h->meta;
	struct meta_cursor mc = { 0, 0, 0, false };
	uint64_t nspans = 0;
	uint32_t live = 0;

	HEAP_BUG_ON(m->owners_hwm > m->max_owners,
		    "(O1) %u owner slots used of %u", m->owners_hwm,
		    m->max_owners);
	HEAP_BUG_ON(!meta_zero(h, &mc, &h->owners[m->owners_hwm],
			       (uint64_t)(m->max_owners - m->owners_hwm) *
				       sizeof(struct heap_owner_rec)),
		    "(O1) an owner slot past the %u used is not zero",
		    m->owners_hwm);
	for (uint32_t slot = 0; slot < m->owners_hwm; slot++) {
		if (!check_slot(h, slot))
			continue;
		check_list(h, &h->owners[slot]);
		nspans += h->owners[slot].nspans;
		live++;
	}
	HEAP_BUG_ON(live != m->owners_live, "(O1) %u owners live, %u counted",
		    live, m->owners_live);
	check_queue(h, m->owners_hwm - live);
	HEAP_BUG_ON(nspans != used,
		    "(O3) owners list %llu spans, the page map has %llu of owners",
		    (unsigned long long)nspans, (unsigned long long)used);
}
