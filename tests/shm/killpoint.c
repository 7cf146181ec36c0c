// SPDX-License-Identifier: MIT
/* Kill points at every step of an operation: see killpoint.h. */
#include <stdlib.h>
#include <string.h>

#include "tests/shm/killpoint.h"

static void put(struct model *m, uint64_t x)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		ck_assert_ptr_nonnull(m->v);
	}
	m->v[m->n++] = x;
}

void model_of(const struct heap *x, struct model *m)
{
	const struct heap_meta *mt = x->meta;
	struct heap_stats st;

	m->n = 0;
	heap_stats(x, &st);
	put(m, st.sys);
	put(m, st.inuse);
	put(m, st.released);
	put(m, st.held);
	put(m, st.objects);
	for (uint32_t s = 0; s < mt->owners_hwm; s++) {
		const struct heap_owner_rec *o = &x->owners[s];

		if (!o->id)
			continue;
		put(m, o->id);
		put(m, o->key);
		put(m, o->nrefs);
		put(m, (uint64_t)o->name[0] << 8 | (uint8_t)o->name[1]);
		for (uint32_t p = o->first; p != SPAN_NIL;
		     p = x->spans[p].use.next) {
			put(m, p);
			put(m, span_val(x, p));
			put(m, mag_state(x, p));
		}
	}
	for (uint32_t s = 0; s < mt->obj_hwm; s++) {
		const struct heap_obj_rec *ob = &x->objs[s];

		if (!ob->id)
			continue;
		put(m, ob->id);
		put(m, ob->state);
		put(m, ob->refs);
		put(m, ob->page);
		put(m, ob->size);
		put(m, ob->lru_seq);
	}
	/* The LRU's order, which eviction follows. */
	for (uint32_t i = mt->lru_head, n = 0; i && n <= mt->obj_hwm;
	     i = x->objs[i - 1].lru_next, n++)
		put(m, i);
	for (uint32_t i = 0; i < mt->ref_hwm; i++) {
		const struct heap_ref_rec *r = &x->refs[i];

		if (!r->owner)
			continue;
		put(m, r->owner);
		put(m, r->obj);
		put(m, r->count);
	}
}

void model_free(struct model *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static bool model_equal(const struct model *a, const struct model *b)
{
	return a->n == b->n && !memcmp(a->v, b->v, a->n * sizeof(*a->v));
}

/* What every kill point must recover to. */
static struct {
	unsigned char *bytes;	/* the state before, recovered */
	struct model model;
	struct model got;
	struct kill_result res;
} kp;

/* Recover snap.copy into @ret_bytes (and its model into @m). */
static struct heap_recovery recover_copy(unsigned char *ret_bytes,
					 struct model *m)
{
	struct heap_recovery rec;
	struct heap *c;

	ck_assert_int_eq(snap_recover(&c, &rec), 0);
	heap_check(c);
	ck_assert(journal_empty(c));
	model_of(c, m);
	heap_detach(c);
	if (ret_bytes)
		memcpy(ret_bytes, snap.copy, snap.size);
	return rec;
}

static void on_step(void *ctx)
{
	struct heap_recovery rec;

	(void)ctx;
	snap_take();
	if (journal_empty(h)) {
		/*
		 * A transaction begins: the one before it committed (an
		 * operation of one transaction a span or reference), and a
		 * death from here on recovers to this state.
		 */
		recover_copy(kp.bytes, &kp.model);
		ck_assert(snap_equal(kp.bytes, snap.mem) || h->meta->held);
		kp.res.commits++;
		kp.res.steps++;
		return;
	}
	rec = recover_copy(NULL, &kp.got);
	ck_assert_msg(snap_equal(snap.copy, kp.bytes),
		      "step %llu: the recovered metadata is not the state before",
		      (unsigned long long)kp.res.steps);
	ck_assert_msg(model_equal(&kp.got, &kp.model),
		      "step %llu: the recovered model is not the one before",
		      (unsigned long long)kp.res.steps);
	if (rec.undone > kp.res.max_undone)
		kp.res.max_undone = rec.undone;
	kp.res.steps++;
}

struct kill_result kill_everywhere(void (*op)(void *arg), void *arg)
{
	struct heap_recovery rec;

	if (!kp.bytes) {
		kp.bytes = malloc(snap.size);
		ck_assert_ptr_nonnull(kp.bytes);
	}
	memset(&kp.res, 0, sizeof(kp.res));
	/* Before: as recovery makes it (held runs given back). */
	snap_take();
	recover_copy(kp.bytes, &kp.model);
	heap_tx_set_hook(h, on_step, NULL);
	op(arg);
	heap_tx_set_hook(h, NULL, NULL);
	ck_assert(journal_empty(h));
	heap_check(h);
	/* After the commit: nothing to undo, the state it left. */
	snap_take();
	rec = recover_copy(NULL, &kp.got);
	ck_assert_uint_eq(rec.undone, 0);
	if (!h->meta->held) {
		model_of(h, &kp.model);
		ck_assert(snap_equal(snap.copy, snap.mem));
		ck_assert(model_equal(&kp.got, &kp.model));
	}
	free(kp.bytes);
	kp.bytes = NULL;
	model_free(&kp.model);
	model_free(&kp.got);
	return kp.res;
}
