// SPDX-License-Identifier: MIT
/*
 * Shared objects: the object table in the metadata, its ids and its
 * name hash, and an object's life: create, seal, get, release, delete,
 * its owners' going.  See heap_internal.h, "Objects", for the design and
 * the invariants (T1..T6) that obj_check() verifies; objref.c keeps the
 * reference records (E1..E4).
 *
 * The one rule of lifetime: an object is freed, span and record, when
 * it is deleted and holds no reference.  An OPEN object holds exactly
 * one, its creator's; when that one goes (released, or the creator
 * gone), the object is aborted: deleted, so freed.
 *
 * Eviction adds one rule: an evictable object is on the LRU (objlru.c)
 * exactly while it is a candidate, sealed, live and unreferenced.  So
 * the calls that change one of those (the release that drops the last
 * reference, the get that takes the first, the delete, the eviction)
 * are the ones that move it on or off, in their transaction.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "heap_internal.h"
#include "siphash.h"

uint64_t obj_name_hash(const struct heap *h, const char *name, size_t len)
{
	return siphash24(h->meta->hash_key, name, len);
}

static uint32_t bucket_of(const struct heap *h, uint64_t hash)
{
	return (uint32_t)(hash & (h->meta->layout.obj_buckets - 1));
}

static uint32_t obj_state(const struct heap_obj_rec *x)
{
	return x->state & OBJ_STATE_MASK;
}

static bool obj_deleted(const struct heap_obj_rec *x)
{
	return x->state & OBJ_DELETED;
}

/* The largest sequence number an id can hold. */
static uint64_t seq_max(const struct heap *h)
{
	return UINT64_MAX >> h->meta->obj_slot_bits;
}

/* The live object named @name (of @hash): its slot + 1, or 0. */
static uint32_t name_find(const struct heap *h, const char *name, size_t len,
			  uint64_t hash)
{
	uint32_t i;

	if (!h->meta->max_objects)
		return 0;
	for (i = h->obj_hash[bucket_of(h, hash)]; i; i = h->objs[i - 1].next) {
		const struct heap_obj_rec *x = &h->objs[i - 1];

		if (x->hash == hash && x->name_len == len &&
		    !memcmp(x->name, name, len))
			return i;
	}
	return 0;
}

static void name_link(struct heap *h, uint32_t slot)
{
	uint32_t *b = &h->obj_hash[bucket_of(h, h->objs[slot].hash)];

	tx_store32(h, &h->objs[slot].next, *b);
	tx_store32(h, b, slot + 1);
}

static void name_unlink(struct heap *h, uint32_t slot)
{
	uint32_t *l = &h->obj_hash[bucket_of(h, h->objs[slot].hash)];

	while (*l != slot + 1) {
		HEAP_BUG_ON(!*l, "(T5) object %u is not on its hash chain",
			    slot);
		l = &h->objs[*l - 1].next;
	}
	tx_store32(h, l, h->objs[slot].next);
	tx_store32(h, &h->objs[slot].next, 0);
}

static bool slot_room(const struct heap *h)
{
	return h->meta->obj_free || h->meta->obj_hwm < h->meta->max_objects;
}

/* A free slot, the last freed first; there must be one. */
static uint32_t slot_take(struct heap *h)
{
	struct heap_meta *m = h->meta;
	uint32_t slot;

	if (!m->obj_free) {
		slot = m->obj_hwm;
		tx_store32(h, &m->obj_hwm, slot + 1);
		return slot;
	}
	slot = m->obj_free - 1;
	tx_store32(h, &m->obj_free, h->objs[slot].next);
	tx_store32(h, &h->objs[slot].next, 0);
	return slot;
}

/* Free the record @slot: all zero but its link on the free list. */
static void slot_put(struct heap *h, uint32_t slot)
{
	heap_tx_log(h, &h->objs[slot], sizeof(h->objs[slot]));
	memset(&h->objs[slot], 0, sizeof(h->objs[slot]));
	h->objs[slot].next = h->meta->obj_free;
	tx_store32(h, &h->meta->obj_free, slot + 1);
}

static void info_of(const struct heap_obj_rec *x, struct heap_obj_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->id = x->id;
	ret->off = (uint64_t)x->page << HEAP_PAGE_SHIFT;
	ret->size = x->size;
	ret->npages = x->npages;
	ret->refs = x->refs;
	ret->created = x->created;
	ret->state = obj_state(x);
	ret->deleted = obj_deleted(x);
	ret->evictable = x->state & OBJ_EVICTABLE;
	ret->creator = x->creator;
	ret->pid = x->pid;
	ret->uid = x->uid;
	memcpy(ret->creator_name, x->creator_name, sizeof(ret->creator_name));
	ret->creator_name[sizeof(ret->creator_name) - 1] = 0;
	ret->name_len = x->name_len;
	memcpy(ret->name, x->name, x->name_len);
}

/* Take the name of the live object @slot: it is deleted. */
static void obj_unname(struct heap *h, uint32_t slot)
{
	struct heap_obj_rec *x = &h->objs[slot];
	struct heap_meta *m = h->meta;

	if (lru_listed(x))
		lru_remove(h, slot);
	name_unlink(h, slot);
	if (obj_state(x) == HEAP_OBJ_OPEN)
		tx_store64(h, &m->obj_open, m->obj_open - 1);
	else
		tx_store64(h, &m->obj_sealed, m->obj_sealed - 1);
	tx_store32(h, &x->state, x->state | OBJ_DELETED);
	tx_store64(h, &m->obj_deleted, m->obj_deleted + 1);
}

/*
 * Free the object @slot, span and record, if it is deleted and holds no
 * reference, telling @fn first; returns its pages, or 0 if it stays.
 */
static uint32_t obj_reap(struct heap *h, uint32_t slot, uint64_t now,
			 void (*fn)(void *ctx, uint64_t page, uint64_t npages),
			 void *ctx)
{
	struct heap_obj_rec *x = &h->objs[slot];
	struct heap_meta *m = h->meta;
	uint32_t npages = x->npages;

	if (!obj_deleted(x) || x->refs)
		return 0;
	HEAP_BUG_ON(x->refs_first, "(E2) object %u lists references but has none",
		    slot);
	if (fn)
		fn(ctx, x->page, npages);
	if (h->obj_free_hook)
		h->obj_free_hook(h->obj_free_ctx, x->creator, x->uid, npages);
	span_free_used(h, x->page, now);
	tx_store64(h, &m->obj_deleted, m->obj_deleted - 1);
	tx_store64(h, &m->obj_bytes, m->obj_bytes - x->size);
	tx_store64(h, &m->obj_pages, m->obj_pages - npages);
	slot_put(h, slot);
	return npages;
}

/*
 * One of the references of the object @slot is gone: an OPEN object
 * held only its creator's, so it is aborted.  Then free it if it is
 * done, or make it a candidate for eviction if it is one now.  Returns
 * its pages if freed.
 */
static uint32_t obj_unref(struct heap *h, uint32_t slot, uint64_t now,
			  void (*fn)(void *ctx, uint64_t page,
				     uint64_t npages),
			  void *ctx, bool *ret_aborted)
{
	struct heap_obj_rec *x = &h->objs[slot];

	*ret_aborted = false;
	if (obj_state(x) == HEAP_OBJ_OPEN && !obj_deleted(x)) {
		HEAP_BUG_ON(x->refs, "(T4) OPEN object %u had %llu references",
			    slot, (unsigned long long)x->refs + 1);
		obj_unname(h, slot);
		*ret_aborted = true;
	}
	if (lru_candidate(x)) {
		lru_push(h, slot);
		return 0;
	}
	return obj_reap(h, slot, now, fn, ctx);
}

static int create(struct heap *h, uint32_t owner,
		  const struct heap_obj_new *req, uint64_t now,
		  struct heap_obj_info *ret)
{
	struct heap_meta *m = h->meta;
	struct heap_owner_rec *o;
	struct heap_obj_rec *x;
	struct heap_span sp;
	uint64_t hash;
	uint32_t slot;
	int r;

	if (!req->size || req->size > m->arena_pages << HEAP_PAGE_SHIFT ||
	    req->flags & ~(HEAP_ALLOC_ZERO | HEAP_OBJ_EVICTABLE) ||
	    !heap_obj_name_valid(req->name, req->len))
		return -EINVAL;
	o = owner_find(h, owner);
	if (!o)
		return -ESRCH;
	if (!m->max_objects)
		return -ENOSPC;
	hash = obj_name_hash(h, req->name, req->len);
	if (name_find(h, req->name, req->len, hash))
		return -EEXIST;
	if (!slot_room(h) || !ref_room(h) || m->obj_seq > seq_max(h))
		return -ENOSPC;
	r = span_take(h, (req->size + HEAP_PAGE_SIZE - 1) >> HEAP_PAGE_SHIFT,
		      req->flags & HEAP_ALLOC_ZERO, now, &sp);
	if (r < 0)
		return r;
	slot = slot_take(h);
	x = &h->objs[slot];
	heap_tx_log(h, x, sizeof(*x));
	x->id = m->obj_seq << m->obj_slot_bits | slot;
	tx_store64(h, &m->obj_seq, m->obj_seq + 1);
	x->size = req->size;
	x->created = now;
	x->hash = hash;
	x->page = (uint32_t)(sp.off >> HEAP_PAGE_SHIFT);
	x->npages = (uint32_t)sp.npages;
	x->state = HEAP_OBJ_OPEN |
		   (req->flags & HEAP_OBJ_EVICTABLE ? OBJ_EVICTABLE : 0);
	x->creator = owner;
	x->pid = req->pid;
	x->uid = req->uid;
	x->name_len = (uint32_t)req->len;
	memcpy(x->name, req->name, req->len);
	memcpy(x->creator_name, o->name, sizeof(x->creator_name));
	tx_store32(h, &h->spans[x->page].use.owner, HEAP_OWNER_OBJECTS);
	tx_store32(h, &h->spans[x->page].use.next, slot);
	name_link(h, slot);
	tx_store64(h, &m->obj_open, m->obj_open + 1);
	tx_store64(h, &m->obj_bytes, m->obj_bytes + x->size);
	tx_store64(h, &m->obj_pages, m->obj_pages + x->npages);
	r = ref_get(h, o, slot);
	HEAP_BUG_ON(r, "a reference record went between the check and the use");
	info_of(x, ret);
	return 0;
}

int heap_obj_create(struct heap *h, uint32_t owner,
		    const struct heap_obj_new *req, uint64_t now,
		    struct heap_obj_info *ret)
{
	int r;

	heap_tx_begin(h);
	r = create(h, owner, req, now, ret);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return r;
}

int heap_obj_seal(struct heap *h, uint32_t owner, uint64_t id)
{
	struct heap_obj_rec *x = obj_find(h, id);

	if (!x || (obj_deleted(x) && obj_state(x) == HEAP_OBJ_OPEN))
		return -ENOENT;
	if (x->creator != owner)
		return -EPERM;
	if (obj_state(x) == HEAP_OBJ_SEALED)
		return -EALREADY;
	heap_tx_begin(h);
	tx_store32(h, &x->state,
		   (x->state & ~OBJ_STATE_MASK) | HEAP_OBJ_SEALED);
	tx_store64(h, &h->meta->obj_open, h->meta->obj_open - 1);
	tx_store64(h, &h->meta->obj_sealed, h->meta->obj_sealed + 1);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

static int get(struct heap *h, uint32_t owner, const char *name, size_t len,
	       struct heap_obj_info *ret)
{
	struct heap_owner_rec *o;
	struct heap_obj_rec *x;
	bool was_candidate;
	uint32_t i;
	int r;

	if (!heap_obj_name_valid(name, len))
		return -EINVAL;
	o = owner_find(h, owner);
	if (!o)
		return -ESRCH;
	i = name_find(h, name, len, obj_name_hash(h, name, len));
	if (!i)
		return -ENOENT;
	x = &h->objs[i - 1];
	if (obj_state(x) == HEAP_OBJ_OPEN)
		return -EAGAIN;
	was_candidate = lru_candidate(x);
	r = ref_get(h, o, i - 1);
	if (r < 0)
		return r;
	if (was_candidate)
		lru_remove(h, i - 1);
	info_of(x, ret);
	return 0;
}

int heap_obj_get(struct heap *h, uint32_t owner, const char *name,
		 size_t len, struct heap_obj_info *ret)
{
	int r;

	heap_tx_begin(h);
	r = get(h, owner, name, len, ret);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return r;
}

int heap_obj_release(struct heap *h, uint32_t owner, uint64_t id,
		     uint64_t now)
{
	struct heap_obj_rec *x = obj_find(h, id);
	uint32_t i;
	bool aborted;

	if (!x)
		return -EINVAL;
	i = ref_find(h, owner, obj_slot(h, id));
	if (!i)
		return -EINVAL;
	heap_tx_begin(h);
	ref_put(h, i);
	obj_unref(h, obj_slot(h, id), now, NULL, NULL, &aborted);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

int heap_obj_delete(struct heap *h, const char *name, size_t len,
		    uint32_t uid, uint64_t now)
{
	uint32_t i;

	if (!heap_obj_name_valid(name, len))
		return -EINVAL;
	i = name_find(h, name, len, obj_name_hash(h, name, len));
	if (!i)
		return -ENOENT;
	if (uid != 0 && uid != h->objs[i - 1].uid)
		return -EPERM;
	heap_tx_begin(h);
	obj_unname(h, i - 1);
	obj_reap(h, i - 1, now, NULL, NULL);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

int heap_obj_owner_gone(struct heap *h, uint32_t owner, uint64_t now,
			void (*fn)(void *ctx, uint64_t page, uint64_t npages),
			void *ctx, struct heap_obj_gone *ret)
{
	struct heap_owner_rec *o = owner_find(h, owner);
	struct heap_obj_gone g = { 0, 0, 0, 0 };

	if (!o)
		return -ESRCH;
	while (o->refs) {
		uint32_t slot = h->refs[o->refs - 1].obj, pages;
		bool aborted;

		/* A transaction a reference: bounded, a heap between. */
		heap_tx_begin(h);
		g.refs += ref_drop(h, o->refs);
		pages = obj_unref(h, slot, now, fn, ctx, &aborted);
		heap_tx_end(h);
		g.aborted += aborted;
		g.freed += pages != 0;
		g.pages += pages;
	}
	if (ret)
		*ret = g;
	HEAP_DEBUG_CHECK(h);
	return 0;
}

int heap_obj_evict(struct heap *h, uint64_t now, struct heap_obj_info *ret)
{
	struct heap_meta *m = h->meta;
	uint32_t slot;

	if (!m->lru_head)
		return -ENOENT;
	slot = m->lru_head - 1;
	info_of(&h->objs[slot], ret);
	heap_tx_begin(h);
	tx_store64(h, &m->obj_evicted, m->obj_evicted + 1);
	tx_store64(h, &m->obj_evicted_pages,
		   m->obj_evicted_pages + h->objs[slot].npages);
	obj_unname(h, slot);	/* off the LRU: no reference, so freed */
	obj_reap(h, slot, now, NULL, NULL);
	heap_tx_end(h);
	HEAP_DEBUG_CHECK(h);
	return 0;
}

void heap_obj_set_free_hook(struct heap *h,
			    void (*fn)(void *ctx, uint32_t creator,
				       uint32_t uid, uint64_t npages),
			    void *ctx)
{
	h->obj_free_hook = fn;
	h->obj_free_ctx = ctx;
}

int heap_obj_lookup(const struct heap *h, uint64_t id,
		    struct heap_obj_info *ret)
{
	const struct heap_obj_rec *x = obj_find(h, id);

	if (!x)
		return -ENOENT;
	info_of(x, ret);
	return 0;
}

bool heap_obj_next(const struct heap *h, uint64_t *cursor,
		   struct heap_obj_info *ret)
{
	uint64_t slot;

	for (slot = *cursor; slot < h->meta->obj_hwm; slot++) {
		if (h->objs[slot].id) {
			info_of(&h->objs[slot], ret);
			*cursor = slot + 1;
			return true;
		}
	}
	*cursor = h->meta->obj_hwm;
	return false;
}

void heap_obj_stats(const struct heap *h, struct heap_obj_stats *ret)
{
	const struct heap_meta *m = h->meta;

	memset(ret, 0, sizeof(*ret));
	ret->open = m->obj_open;
	ret->sealed = m->obj_sealed;
	ret->deleted = m->obj_deleted;
	ret->bytes = m->obj_bytes;
	ret->pages = m->obj_pages;
	ret->refs = m->refs_total;
	ret->ref_records = m->ref_recs;
	ret->max_objects = m->max_objects;
	ret->max_refs = m->max_refs;
	ret->evictable = m->lru_count;
	ret->evictable_pages = m->lru_pages;
	ret->evicted = m->obj_evicted;
	ret->evicted_pages = m->obj_evicted_pages;
}

/* T3 */
void obj_check_span(const struct heap *h, uint32_t p, uint32_t n)
{
	const struct span *s = &h->spans[p];
	uint32_t slot = s->use.next;

	HEAP_BUG_ON(s->use.prev != SPAN_NIL || slot >= h->meta->obj_hwm ||
			    slot >= h->meta->max_objects ||
			    !h->objs[slot].id || h->objs[slot].page != p ||
			    h->objs[slot].npages != n,
		    "(T3) object span %u names object slot %u, whose span it is not",
		    p, slot);
}

static bool bytes_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return false;
	return true;
}

/* T1 for the free record @slot. */
static void check_free_rec(const struct heap *h, uint32_t slot)
{
	const struct heap_obj_rec *x = &h->objs[slot];
	size_t at = offsetof(struct heap_obj_rec, next);

	HEAP_BUG_ON(!bytes_zero(x, at) ||
			    !bytes_zero((const char *)x + at + sizeof(x->next),
					sizeof(*x) - at - sizeof(x->next)),
		    "(T1) free object record %u holds data", slot);
}

/* T2 for the object in use @slot. */
static void check_object(const struct heap *h, uint32_t slot)
{
	const struct heap_obj_rec *x = &h->objs[slot];
	const struct heap_meta *m = h->meta;
	uint64_t seq = x->id >> m->obj_slot_bits;
	uint32_t st = obj_state(x), p = x->page;

	HEAP_BUG_ON(obj_slot(h, x->id) != slot || !seq || seq >= m->obj_seq,
		    "(T1) object slot %u holds id %#llx", slot,
		    (unsigned long long)x->id);
	HEAP_BUG_ON((st != HEAP_OBJ_OPEN && st != HEAP_OBJ_SEALED) ||
			    x->state & ~(OBJ_STATE_MASK | OBJ_DELETED |
					 OBJ_EVICTABLE),
		    "(T2) object %u has state %x", slot, x->state);
	HEAP_BUG_ON(!heap_obj_name_valid(x->name, x->name_len) ||
			    !bytes_zero(x->name + x->name_len,
					sizeof(x->name) - x->name_len) ||
			    x->hash != obj_name_hash(h, x->name, x->name_len),
		    "(T2) object %u has a bad name, or its hash is not the name's",
		    slot);
	HEAP_BUG_ON(!memchr(x->creator_name, 0, sizeof(x->creator_name)),
		    "(T2) the creator name of object %u has no end", slot);
	HEAP_BUG_ON(!x->size ||
			    x->npages != (x->size + HEAP_PAGE_SIZE - 1) >>
						 HEAP_PAGE_SHIFT,
		    "(T2) object %u: %llu bytes in %u pages", slot,
		    (unsigned long long)x->size, x->npages);
	HEAP_BUG_ON(p >= m->grown || span_kind(h, p) != SPAN_USED ||
			    span_val(h, p) != x->npages ||
			    h->spans[p].use.owner != HEAP_OWNER_OBJECTS ||
			    h->spans[p].use.next != slot,
		    "(T2) the span at page %u is not the one of object %u", p,
		    slot);
}

/* T4, after E2 for its list: the references of the object @slot. */
static void check_object_refs(const struct heap *h, uint32_t slot)
{
	const struct heap_obj_rec *x = &h->objs[slot];

	HEAP_BUG_ON(obj_deleted(x) && !x->refs,
		    "(T4) deleted object %u holds no reference", slot);
	if (obj_state(x) != HEAP_OBJ_OPEN || obj_deleted(x))
		return;
	HEAP_BUG_ON(x->refs != 1 ||
			    h->refs[x->refs_first - 1].owner != x->creator ||
			    !owner_find(h, x->creator),
		    "(T4) OPEN object %u holds %llu references, not its live creator's one",
		    slot, (unsigned long long)x->refs);
}

/* T1: the free list holds each of the @nfree free records, once. */
static void check_free_list(const struct heap *h, uint32_t nfree)
{
	uint32_t i = h->meta->obj_free, steps = 0;

	while (i) {
		HEAP_BUG_ON(steps == nfree || i > h->meta->obj_hwm ||
				    h->objs[i - 1].id,
			    "(T1) the free object list holds slot %u, not free (or a cycle)",
			    i - 1);
		steps++;
		i = h->objs[i - 1].next;
	}
	HEAP_BUG_ON(steps != nfree,
		    "(T1) the free object list holds %u of the %u free slots",
		    steps, nfree);
}

/* T5: the chain of bucket @b, at most @left long; returns its length. */
static uint64_t check_chain(const struct heap *h, uint32_t b, uint64_t left)
{
	uint32_t hwm = h->meta->obj_hwm;
	uint64_t n = 0;

	for (uint32_t i = h->obj_hash[b]; i; i = h->objs[i - 1].next) {
		const struct heap_obj_rec *x = &h->objs[i - 1];
		uint64_t k = 0;

		HEAP_BUG_ON(n == left || i > hwm || !x->id || obj_deleted(x) ||
				    bucket_of(h, x->hash) != b,
			    "(T5) bucket %u holds object slot %u, not a live one of its own (or a cycle)",
			    b, i - 1);
		for (uint32_t j = x->next; j && j <= hwm && k < left;
		     j = h->objs[j - 1].next, k++) {
			const struct heap_obj_rec *y = &h->objs[j - 1];

			HEAP_BUG_ON(y->name_len == x->name_len &&
					    !memcmp(y->name, x->name,
						    x->name_len),
				    "(T5) objects %u and %u have one name",
				    i - 1, j - 1);
		}
		n++;
	}
	return n;
}

/* T5: the chains hold the @live objects; reads no hole of the hash. */
static void check_names(const struct heap *h, uint64_t live)
{
	struct meta_cursor mc = { 0, 0, 0, false };
	uint32_t nb = h->meta->layout.obj_buckets, per_page = 4096 / 4;
	uint64_t chained = 0;

	for (uint32_t b = 0; b < nb; b += per_page) {
		uint32_t end = b + per_page < nb ? b + per_page : nb;

		if (meta_zero(h, &mc, &h->obj_hash[b],
			      (uint64_t)(end - b) * sizeof(uint32_t)))
			continue;
		for (uint32_t k = b; k < end; k++)
			chained += check_chain(h, k, live - chained);
	}
	HEAP_BUG_ON(chained != live,
		    "(T5) the name chains hold %llu objects, %llu are live",
		    (unsigned long long)chained, (unsigned long long)live);
}

void obj_check(const struct heap *h, uint64_t nspans, uint64_t npages)
{
	const struct heap_meta *m = h->meta;
	struct meta_cursor mc = { 0, 0, 0, false };
	uint64_t n[3] = { 0, 0, 0 }, bytes = 0, pages = 0, listed = 0;
	uint64_t cand = 0, cand_pages = 0, stamped = 0;
	uint32_t used = 0;

	HEAP_BUG_ON(m->obj_hwm > m->max_objects,
		    "(T1) %u object slots used of %u", m->obj_hwm,
		    m->max_objects);
	HEAP_BUG_ON(!m->obj_seq ||
			    (m->max_objects && m->obj_seq - 1 > seq_max(h)),
		    "(T1) the next object sequence number is %llu",
		    (unsigned long long)m->obj_seq);
	HEAP_BUG_ON(!meta_zero(h, &mc, &h->objs[m->obj_hwm],
			       (uint64_t)(m->max_objects - m->obj_hwm) *
				       sizeof(struct heap_obj_rec)),
		    "(T1) an object record past the %u used is not zero",
		    m->obj_hwm);
	for (uint32_t slot = 0; slot < m->obj_hwm; slot++) {
		const struct heap_obj_rec *x = &h->objs[slot];

		if (!x->id) {
			check_free_rec(h, slot);
			continue;
		}
		check_object(h, slot);
		listed += ref_check_object(h, slot);
		check_object_refs(h, slot);
		n[obj_deleted(x) ? 2 : obj_state(x) == HEAP_OBJ_OPEN ? 0 : 1]++;
		if (lru_candidate(x)) {
			cand++;
			cand_pages += x->npages;
		}
		stamped += x->lru_seq || x->lru_prev || x->lru_next;
		bytes += x->size;
		pages += x->npages;
		used++;
	}
	check_free_list(h, m->obj_hwm - used);
	check_names(h, n[0] + n[1]);
	lru_check(h, cand, cand_pages, stamped);
	HEAP_BUG_ON(n[0] != m->obj_open || n[1] != m->obj_sealed ||
			    n[2] != m->obj_deleted,
		    "(T6) %llu open, %llu sealed, %llu deleted objects, counted %llu, %llu, %llu",
		    (unsigned long long)n[0], (unsigned long long)n[1],
		    (unsigned long long)n[2], (unsigned long long)m->obj_open,
		    (unsigned long long)m->obj_sealed,
		    (unsigned long long)m->obj_deleted);
	HEAP_BUG_ON(bytes != m->obj_bytes || pages != m->obj_pages ||
			    nspans != used || npages != pages,
		    "(T6) %u objects of %llu pages, %llu bytes; counted %llu pages, %llu bytes; the page map has %llu spans of %llu pages",
		    used, (unsigned long long)pages,
		    (unsigned long long)bytes,
		    (unsigned long long)m->obj_pages,
		    (unsigned long long)m->obj_bytes,
		    (unsigned long long)nspans, (unsigned long long)npages);
	ref_check(h, listed);
}
