// SPDX-License-Identifier: MIT
/*
 * Tests for shm/objlru.c and eviction in shm/object.c: the order of
 * eviction (the least recently used candidate first), what moves an
 * object on and off the LRU (the last release puts it at the most recent
 * end, a get takes it off, a delete too), what is never evicted (not
 * evictable, referenced, OPEN, deleted), the free hook on every path
 * that frees an object's span, a second handle, a random sequence
 * against a model of the list, and every call killed at every step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/testlib.h"
#include "tests/shm/killpoint.h"
#include "tests/shm/objects.h"

#define POISON 0x5a

/* Evict the LRU's head; it must be @name, of @pages pages. */
static struct heap_obj_info evicts(const char *name, uint64_t pages)
{
	struct heap_obj_info x, y;
	uint64_t inuse = stats().inuse;

	ck_assert_int_eq(heap_obj_evict(h, 50, &x), 0);
	heap_check(h);
	ck_assert_str_eq(x.name, name);
	ck_assert_uint_eq(x.npages, pages);
	ck_assert(x.evictable);
	ck_assert(!x.deleted);
	ck_assert_uint_eq(x.state, HEAP_OBJ_SEALED);
	ck_assert_uint_eq(x.refs, 0);
	/* Gone: its id, its name, its pages. */
	ck_assert_int_eq(heap_obj_lookup(h, x.id, &y), -ENOENT);
	ck_assert_int_eq(obj_get(o2, name, &y), -ENOENT);
	ck_assert_uint_eq(stats().inuse, inuse - pages * PG);
	return x;
}

/* Nothing left to evict: -ENOENT, its output untouched, no change. */
static void evicts_none(void)
{
	struct obj_snap before = obj_snap();
	struct heap_obj_info x;
	const unsigned char *p = (const unsigned char *)&x;

	memset(&x, POISON, sizeof(x));
	ck_assert_int_eq(heap_obj_evict(h, 50, &x), -ENOENT);
	for (size_t i = 0; i < sizeof(x); i++)
		ck_assert_uint_eq(p[i], POISON);
	obj_assert_same(&before);
}

static uint64_t candidates(void)
{
	struct heap_obj_stats s;

	heap_obj_stats(h, &s);
	return s.evictable;
}

/* ---- order ---- */

START_TEST(test_evict_order)
{
	struct heap_obj_stats s;
	struct heap_obj_info x;

	obj_candidate(o1, "a", PG);
	obj_candidate(o2, "b", 2 * PG);
	obj_candidate(o1, "c", 3 * PG - 1);
	heap_obj_stats(h, &s);
	ck_assert_uint_eq(s.evictable, 3);
	ck_assert_uint_eq(s.evictable_pages, 6);
	x = evicts("a", 1);
	ck_assert_uint_eq(x.size, PG);
	ck_assert_uint_eq(candidates(), 2);
	/* Its name is free at once. */
	obj_candidate(o1, "a", PG);
	evicts("b", 2);
	evicts("c", 3);
	evicts("a", 1);
	evicts_none();
	heap_obj_stats(h, &s);
	ck_assert_uint_eq(s.evictable_pages, 0);
	/* Counted in the metadata, as the evictions themselves. */
	ck_assert_uint_eq(s.evicted, 4);
	ck_assert_uint_eq(s.evicted_pages, 7);
	ck_assert_uint_eq(s.sealed, 0);
	ck_assert_uint_eq(stats().inuse, 0);
}
END_TEST

/* A get takes it off the list; its last release puts it back, newest. */
START_TEST(test_evict_get_release_mru)
{
	struct heap_obj_info a, x;

	a = obj_candidate(o1, "a", PG);
	obj_candidate(o1, "b", PG);
	obj_candidate(o1, "c", PG);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	ck_assert(x.evictable);
	ck_assert_uint_eq(candidates(), 2);
	ck_assert_int_eq(obj_get(o1, "a", &x), 0);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	ck_assert_uint_eq(x.refs, 3);
	evicts("b", 1);
	/* Not the last release: a stays off. */
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 9), 0);
	ck_assert_int_eq(heap_obj_release(h, o1, a.id, 9), 0);
	heap_check(h);
	ck_assert_uint_eq(candidates(), 1);
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 9), 0);
	heap_check(h);
	ck_assert_uint_eq(candidates(), 2);
	obj_candidate(o1, "d", PG);
	evicts("c", 1);
	evicts("a", 1);
	evicts("d", 1);
	evicts_none();
}
END_TEST

/* Of several candidates, a get of the oldest makes the next one oldest. */
START_TEST(test_evict_middle)
{
	struct heap_obj_info b, x;

	obj_candidate(o1, "a", PG);
	b = obj_candidate(o1, "b", PG);
	obj_candidate(o1, "c", PG);
	/* From the middle, then back at the end. */
	ck_assert_int_eq(obj_get(o2, "b", &x), 0);
	ck_assert_int_eq(heap_obj_release(h, o2, b.id, 9), 0);
	heap_check(h);
	evicts("a", 1);
	evicts("c", 1);
	evicts("b", 1);
}
END_TEST

/* ---- never evicted ---- */

START_TEST(test_evict_never)
{
	struct heap_obj_info held, open, plain, del, x;
	struct obj_snap before;

	/* Sealed, evictable, but its creator holds it. */
	held = obj_create_flags(o1, "held", PG, HEAP_OBJ_EVICTABLE);
	ck_assert_int_eq(heap_obj_seal(h, o1, held.id), 0);
	/* OPEN: its creator holds it, and nobody may read it yet. */
	open = obj_create_flags(o1, "open", PG, HEAP_OBJ_EVICTABLE);
	/* Not evictable, unreferenced. */
	plain = obj_sealed(o1, "plain", PG);
	ck_assert_int_eq(heap_obj_release(h, o1, plain.id, 9), 0);
	/* Evictable, deleted while referenced: it lives for its reader. */
	del = obj_create_flags(o2, "del", PG, HEAP_OBJ_EVICTABLE);
	ck_assert_int_eq(heap_obj_seal(h, o2, del.id), 0);
	ck_assert_int_eq(obj_get(o1, "del", &x), 0);
	ck_assert_int_eq(heap_obj_release(h, o2, del.id, 9), 0);
	ck_assert_uint_eq(candidates(), 0);
	ck_assert_int_eq(obj_delete("del", 0), 0);
	heap_check(h);
	ck_assert_uint_eq(candidates(), 0);
	evicts_none();
	before = obj_snap();
	ck_assert_uint_eq(before.nobjs, 4);
	ck_assert(obj_info(held.id).evictable);
	ck_assert(obj_info(open.id).evictable);
	ck_assert(!obj_info(plain.id).evictable);
	ck_assert(obj_info(del.id).deleted);
	/* One candidate among them: the only one evicted. */
	obj_candidate(o2, "only", 2 * PG);
	evicts("only", 2);
	evicts_none();
	ck_assert_uint_eq(obj_snap().nobjs, 4);
	/* The reader's release frees the deleted one: no eviction. */
	ck_assert_int_eq(heap_obj_release(h, o1, del.id, 9), 0);
	ck_assert_int_eq(heap_obj_lookup(h, del.id, &x), -ENOENT);
	/* An OPEN one released is aborted, never a candidate. */
	ck_assert_int_eq(heap_obj_release(h, o1, open.id, 9), 0);
	ck_assert_int_eq(heap_obj_lookup(h, open.id, &x), -ENOENT);
	evicts_none();
	/* Released by its creator: now it is one. */
	ck_assert_int_eq(heap_obj_release(h, o1, held.id, 9), 0);
	evicts("held", 1);
	evicts_none();
	ck_assert_int_eq(heap_obj_lookup(h, plain.id, &x), 0);
}
END_TEST

START_TEST(test_evict_delete_leaves)
{
	struct heap_obj_stats s;

	obj_candidate(o1, "a", PG);
	obj_candidate(o1, "b", 4 * PG);
	obj_candidate(o1, "c", PG);
	ck_assert_int_eq(obj_delete("b", 0), 0);
	heap_obj_stats(h, &s);
	ck_assert_uint_eq(s.evictable, 2);
	ck_assert_uint_eq(s.evictable_pages, 2);
	/* Deleted unreferenced: freed at once. */
	ck_assert_uint_eq(s.deleted, 0);
	evicts("a", 1);
	evicts("c", 1);
	evicts_none();
}
END_TEST

/* A get that fails (no reference record left) leaves it on the list. */
START_TEST(test_evict_get_fails_stays)
{
	struct heap_obj_info x;
	struct obj_snap before;

	mem_teardown();
	obj_start(64, 8, 1, true);
	obj_candidate(o1, "a", PG);
	obj_create(o1, "hold", PG);	/* takes the one record */
	before = obj_snap();
	ck_assert_int_eq(obj_get(o2, "a", &x), -ENOSPC);
	obj_assert_same(&before);
	ck_assert_uint_eq(candidates(), 1);
	evicts("a", 1);
}
END_TEST

/* ---- the holders' going ---- */

START_TEST(test_evict_owner_gone)
{
	struct heap_obj_info a, x;
	struct heap_obj_gone g;
	uint32_t three;

	ck_assert_int_eq(heap_owner_add(h, "three", 0, &three), 0);
	a = obj_candidate(o1, "a", PG);
	ck_assert_int_eq(obj_get(three, "a", &x), 0);
	ck_assert_int_eq(obj_get(three, "a", &x), 0);
	/* Its creator's going, holding it: a candidate after. */
	x = obj_create_flags(o2, "b", PG, HEAP_OBJ_EVICTABLE);
	ck_assert_int_eq(heap_obj_seal(h, o2, x.id), 0);
	/* Its creator's going, OPEN: aborted. */
	obj_create_flags(o2, "open", PG, HEAP_OBJ_EVICTABLE);
	ck_assert_uint_eq(candidates(), 0);
	ck_assert_int_eq(heap_obj_owner_gone(h, o2, 9, NULL, NULL, &g), 0);
	heap_check(h);
	ck_assert_uint_eq(g.aborted, 1);
	ck_assert_uint_eq(g.freed, 1);
	ck_assert_uint_eq(candidates(), 1);
	ck_assert_int_eq(heap_obj_owner_gone(h, three, 9, NULL, NULL, &g), 0);
	heap_check(h);
	ck_assert_uint_eq(g.refs, 2);
	ck_assert_uint_eq(g.freed, 0);
	ck_assert_uint_eq(candidates(), 2);
	ck_assert_uint_eq(obj_info(a.id).refs, 0);
	evicts("b", 1);
	evicts("a", 1);
	evicts_none();
}
END_TEST

/* ---- create's flag ---- */

START_TEST(test_evict_create_flags)
{
	struct heap_obj_new req = obj_new("z", 3 * PG);
	struct heap_obj_info x, y;
	uint64_t cursor = 0;

	/* Evictable and zeroed: both flags hold. */
	memset(mem.base, 0x77, 8 * PG);
	req.flags = HEAP_OBJ_EVICTABLE | HEAP_ALLOC_ZERO;
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 7, &x), 0);
	heap_check(h);
	ck_assert(x.evictable);
	for (uint64_t i = 0; i < 3 * PG; i++)
		ck_assert_uint_eq(mem.base[x.off + i], 0);
	ck_assert(obj_info(x.id).evictable);
	ck_assert(heap_obj_next(h, &cursor, &y));
	ck_assert(y.evictable);
	ck_assert(!obj_create(o1, "plain", PG).evictable);
	/* A flag beyond both: refused, nothing made. */
	req = obj_new("bad", PG);
	req.flags = HEAP_OBJ_EVICTABLE << 1;
	ck_assert_int_eq(heap_obj_create(h, o1, &req, 7, &x), -EINVAL);
	ck_assert_int_eq(obj_get(o1, "bad", &y), -ENOENT);
	heap_check(h);
}
END_TEST

/* ---- the free hook ---- */

struct freed {
	unsigned int n;
	uint32_t creator, uid;
	uint64_t pages;
};

static void on_free(void *ctx, uint32_t creator, uint32_t uid,
		    uint64_t npages)
{
	struct freed *f = ctx;

	f->n++;
	f->creator = creator;
	f->uid = uid;
	f->pages += npages;
}

/* The last call told of one span of @pages pages of @creator's. */
static void told(struct freed *f, unsigned int n, uint32_t creator,
		 uint64_t pages)
{
	ck_assert_uint_eq(f->n, n);
	ck_assert_uint_eq(f->creator, creator);
	ck_assert_uint_eq(f->uid, OBJ_UID);
	ck_assert_uint_eq(f->pages, pages);
	f->pages = 0;
}

START_TEST(test_free_hook)
{
	struct heap_obj_info a, x;
	struct freed f = { 0, 0, 0, 0 };

	heap_obj_set_free_hook(h, on_free, &f);
	/* Nothing freed: no call, at create, seal, get, release. */
	a = obj_candidate(o1, "a", 2 * PG);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 9), 0);
	ck_assert_uint_eq(f.n, 0);
	/* Eviction. */
	evicts("a", 2);
	told(&f, 1, o1, 2);
	/* A delete of an unreferenced object. */
	a = obj_sealed(o2, "b", 3 * PG);
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 9), 0);
	ck_assert_int_eq(obj_delete("b", 0), 0);
	told(&f, 2, o2, 3);
	/* The last release of a deleted one; not the delete before it. */
	a = obj_sealed(o1, "c", PG);
	ck_assert_int_eq(obj_delete("c", 0), 0);
	ck_assert_uint_eq(f.n, 2);
	ck_assert_int_eq(heap_obj_release(h, o1, a.id, 9), 0);
	told(&f, 3, o1, 1);
	/* An abort: the creator's release of an OPEN one. */
	a = obj_create(o2, "d", 5 * PG);
	ck_assert_int_eq(heap_obj_release(h, o2, a.id, 9), 0);
	told(&f, 4, o2, 5);
	/* The holder's going, the last reference of a deleted one. */
	a = obj_sealed(o1, "e", PG);
	ck_assert_int_eq(obj_get(o2, "e", &x), 0);
	ck_assert_int_eq(heap_obj_release(h, o1, a.id, 9), 0);
	ck_assert_int_eq(obj_delete("e", 0), 0);
	ck_assert_uint_eq(f.n, 4);
	ck_assert_int_eq(heap_obj_owner_gone(h, o2, 9, NULL, NULL, NULL), 0);
	told(&f, 5, o1, 1);
	/* Unset: no more calls. */
	heap_obj_set_free_hook(h, NULL, NULL);
	obj_candidate(o1, "f", PG);
	evicts("f", 1);
	ck_assert_uint_eq(f.n, 5);
	heap_check(h);
}
END_TEST

/* ---- a second handle ---- */

START_TEST(test_evict_other_handle)
{
	struct heap_obj_info x;
	struct freed f = { 0, 0, 0, 0 };
	struct heap *keep = h, *other;
	struct arena *m2;
	int fd;

	heap_obj_set_free_hook(h, on_free, &f);
	obj_candidate(o1, "a", PG);
	obj_candidate(o1, "b", PG);
	fd = dup(meta->fd);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(arena_attach(fd, &m2), 0);
	ck_assert_int_eq(heap_attach(m2->base, m2->size, &keep->ops, &other),
			 0);
	heap_check(other);
	/* The list is in the metadata; the hook is the handle's. */
	h = other;
	evicts("a", 1);
	h = keep;
	ck_assert_uint_eq(f.n, 0);
	evicts("b", 1);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_int_eq(heap_obj_evict(other, 50, &x), -ENOENT);
	heap_check(other);
	heap_detach(other);
	arena_destroy(m2);
}
END_TEST

/* ---- what an eviction costs the journal ---- */

static uint64_t most_logged;

static void on_step(void *ctx)
{
	(void)ctx;
	if (h->tx_count > most_logged)
		most_logged = h->tx_count;
}

/*
 * The journal holds 512 words a heap call (heap_internal.h): an
 * eviction, the record it frees and the span it merges included, is one
 * call and stays within it; inside a caller's transaction, each is one
 * of the 64.
 */
START_TEST(test_evict_journal_bound)
{
	struct heap_obj_info x;

	/* Free neighbours on both sides: the merge logs the most. */
	obj_candidate(o1, "a", PG);
	obj_candidate(o1, "b", 200 * PG);
	obj_candidate(o1, "c", PG);
	obj_candidate(o1, "d", PG);
	evicts("a", 1);
	ck_assert_int_eq(obj_delete("c", 0), 0);
	heap_tx_set_hook(h, on_step, NULL);
	ck_assert_int_eq(heap_obj_evict(h, 50, &x), 0);
	heap_tx_set_hook(h, NULL, NULL);
	ck_assert_str_eq(x.name, "b");
	heap_check(h);
	ck_assert_uint_gt(most_logged, 0);
	ck_assert_uint_le(most_logged, 512);
	printf("evict_journal_bound: %llu words logged\n",
	       (unsigned long long)most_logged);
}
END_TEST

/* ---- random, against a model of the list ---- */

#define RND_NAMES 12

struct rnd {
	uint64_t rng;
	uint64_t id[RND_NAMES];		/* 0: none */
	uint32_t refs[RND_NAMES][2];	/* o1's, o2's */
	bool evictable[RND_NAMES], sealed[RND_NAMES];
	int lru[RND_NAMES];		/* the model: oldest first */
	unsigned int nlru;
	uint64_t evicted;
};

static void model_remove(struct rnd *s, int i)
{
	for (unsigned int k = 0; k < s->nlru; k++) {
		if (s->lru[k] != i)
			continue;
		memmove(&s->lru[k], &s->lru[k + 1],
			(s->nlru - k - 1) * sizeof(s->lru[0]));
		s->nlru--;
		return;
	}
}

static void release_ok(uint32_t owner, uint64_t id)
{
	ck_assert_int_eq(heap_obj_release(h, owner, id, 9), 0);
}

static void rnd_name(char *buf, int i)
{
	snprintf(buf, 8, "n%d", i);
}

/* The heap's list, walked, is the model's. */
static void model_check(const struct rnd *s)
{
	uint32_t at = h->meta->lru_head;

	for (unsigned int k = 0; k < s->nlru; k++) {
		ck_assert_uint_ne(at, 0);
		ck_assert_uint_eq(h->objs[at - 1].id, s->id[s->lru[k]]);
		at = h->objs[at - 1].lru_next;
	}
	ck_assert_uint_eq(at, 0);
	ck_assert_uint_eq(candidates(), s->nlru);
}

static void rnd_step(struct rnd *s)
{
	int i = (int)(test_rand(&s->rng) % RND_NAMES);
	unsigned int w = (unsigned int)(test_rand(&s->rng) & 1);
	uint32_t who = w ? o2 : o1;
	struct heap_obj_info x;
	unsigned int fl;
	char name[8];
	int r;

	rnd_name(name, i);
	switch (test_rand(&s->rng) % 6) {
	case 0:		/* create, by o1: its one reference */
		if (s->id[i])
			break;
		fl = test_rand(&s->rng) % 4 ? HEAP_OBJ_EVICTABLE : 0;
		x = obj_create_flags(o1, name,
				     1 + test_rand(&s->rng) % (3 * PG), fl);
		s->id[i] = x.id;
		s->refs[i][0] = 1;
		s->refs[i][1] = 0;
		s->evictable[i] = x.evictable;
		s->sealed[i] = false;
		break;
	case 1:
		if (!s->id[i] || s->sealed[i])
			break;
		ck_assert_int_eq(heap_obj_seal(h, o1, s->id[i]), 0);
		s->sealed[i] = true;
		break;
	case 2:
		r = obj_get(who, name, &x);
		if (!s->id[i] || !s->sealed[i]) {
			ck_assert_int_ne(r, 0);
			break;
		}
		ck_assert_int_eq(r, 0);
		s->refs[i][w]++;
		model_remove(s, i);
		break;
	case 3:
		if (!s->id[i] || !s->refs[i][w])
			break;
		ck_assert_int_eq(heap_obj_release(h, who, s->id[i], 9), 0);
		heap_check(h);
		if (--s->refs[i][w] || s->refs[i][!w])
			break;
		if (!s->sealed[i])		/* aborted */
			s->id[i] = 0;
		else if (s->evictable[i])
			s->lru[s->nlru++] = i;
		break;
	case 4:
		if (!s->id[i] || test_rand(&s->rng) % 3)
			break;
		ck_assert_int_eq(obj_delete(name, 0), 0);
		model_remove(s, i);
		/* Deleted, it lives while referenced, to the last release. */
		for (w = 0; w < 2; w++)
			for (; s->refs[i][w]; s->refs[i][w]--)
				release_ok(w ? o2 : o1, s->id[i]);
		ck_assert_int_eq(heap_obj_lookup(h, s->id[i], &x), -ENOENT);
		s->id[i] = 0;
		break;
	case 5:
		r = heap_obj_evict(h, 50, &x);
		heap_check(h);
		if (!s->nlru) {
			ck_assert_int_eq(r, -ENOENT);
			break;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(x.id, s->id[s->lru[0]]);
		s->id[s->lru[0]] = 0;
		model_remove(s, s->lru[0]);
		s->evicted++;
		break;
	}
	model_check(s);
}

START_TEST(test_evict_random)
{
	struct rnd s;
	int n = 4000;

	memset(&s, 0, sizeof(s));
	s.rng = test_seed("evict_random") | 1;
	for (int k = 0; k < n; k++)
		rnd_step(&s);
	ck_assert_uint_gt(s.evicted, 0);
	printf("evict_random: %llu evictions in %d steps\n",
	       (unsigned long long)s.evicted, n);
}
END_TEST

/* ---- killed at every step ---- */

static void kill_setup(void)
{
	struct heap_config cfg = { .arena_size = 256 * PG,
				   .max_owners = FIXTURE_OWNERS,
				   .max_objects = OBJ_TABLE,
				   .max_refs = OBJ_REFS,
				   .hash_key = { 3, 4 } };
	struct heap_ops ops;

	memset(&mem, 0, sizeof(mem));
	mem.size = cfg.arena_size;
	mem.base = calloc(1, mem.size);
	ck_assert_ptr_nonnull(mem.base);
	mem_ops(&ops, true);
	snap_start(&cfg, &ops);
	ck_assert_int_eq(heap_set_grow_pages(h, 64), 0);
}

static void kill_teardown(void)
{
	snap_stop();
	free(mem.base);
	mem.base = NULL;
}

enum kop { K_CREATE, K_SEAL, K_GET, K_RELEASE, K_DELETE, K_EVICT, K_GONE };

struct kcall {
	enum kop op;
	uint32_t owner;
	const char *name;
	uint64_t id;
	int r;
	uint64_t out;
};

static void kcall_run(void *arg)
{
	struct kcall *c = arg;
	struct heap_obj_new req = obj_new(c->name ? c->name : "-", 2 * PG);
	struct heap_obj_info x;

	req.flags = HEAP_OBJ_EVICTABLE;
	switch (c->op) {
	case K_CREATE:
		c->r = heap_obj_create(h, c->owner, &req, 9, &x);
		c->out = c->r ? 0 : x.id;
		break;
	case K_SEAL:
		c->r = heap_obj_seal(h, c->owner, c->id);
		break;
	case K_GET:
		c->r = heap_obj_get(h, c->owner, c->name, strlen(c->name), &x);
		break;
	case K_RELEASE:
		c->r = heap_obj_release(h, c->owner, c->id, 10);
		break;
	case K_DELETE:
		c->r = heap_obj_delete(h, c->name, strlen(c->name), 0, 11);
		break;
	case K_EVICT:
		c->r = heap_obj_evict(h, 12, &x);
		c->out = c->r ? 0 : x.id;
		break;
	case K_GONE:
		c->r = heap_obj_owner_gone(h, c->owner, 13, NULL, NULL, NULL);
		break;
	}
}

/* @c killed at every step: it must have some and return @want. */
static uint64_t k(enum kop op, uint32_t owner, const char *name, uint64_t id,
		  int want)
{
	struct kcall c = { op, owner, name, id, 0, 0 };
	struct kill_result res = kill_everywhere(kcall_run, &c);

	ck_assert_int_eq(c.r, want);
	if (want == 0)
		ck_assert_uint_gt(res.steps, 0);
	else
		ck_assert_uint_eq(res.steps, 0);
	if (op != K_GONE)
		ck_assert_uint_le(res.commits, 1);
	return c.out;
}

/* An evictable object made a candidate, each call killed. */
static uint64_t k_candidate(uint32_t owner, const char *name)
{
	uint64_t id = k(K_CREATE, owner, name, 0, 0);

	k(K_SEAL, owner, NULL, id, 0);
	k(K_RELEASE, owner, NULL, id, 0);	/* joins the LRU */
	return id;
}

START_TEST(test_evict_killed)
{
	uint64_t a, b, c;

	a = k_candidate(o1, "a");
	b = k_candidate(o1, "b");
	c = k_candidate(o2, "c");
	ck_assert_uint_eq(candidates(), 3);
	/* Off the list from its head, its middle, its tail. */
	k(K_GET, o2, "a", 0, 0);
	k(K_GET, o2, "b", 0, 0);
	k(K_GET, o1, "c", 0, 0);
	ck_assert_uint_eq(candidates(), 0);
	/* And back, onto an empty list and behind others. */
	k(K_RELEASE, o1, NULL, c, 0);
	k(K_RELEASE, o2, NULL, a, 0);
	ck_assert_uint_eq(candidates(), 2);
	/* A delete takes it off and frees it. */
	k(K_DELETE, 0, "c", 0, 0);
	ck_assert_uint_eq(candidates(), 1);
	/* Evictions: the last one empties the list; then none. */
	ck_assert_uint_eq(k(K_EVICT, 0, NULL, 0, 0), a);
	k(K_EVICT, 0, NULL, 0, -ENOENT);
	/* The holder's going puts b back. */
	k(K_GONE, o2, NULL, 0, 0);
	ck_assert_uint_eq(candidates(), 1);
	ck_assert_uint_eq(k(K_EVICT, 0, NULL, 0, 0), b);
	ck_assert_uint_eq(candidates(), 0);
}
END_TEST

static Suite *objlru_suite(void)
{
	Suite *s = suite_create("objlru");
	TCase *tc;

	tc = tcase_create("order");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_evict_order);
	tcase_add_test(tc, test_evict_get_release_mru);
	tcase_add_test(tc, test_evict_middle);
	suite_add_tcase(s, tc);

	tc = tcase_create("never");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_evict_never);
	tcase_add_test(tc, test_evict_delete_leaves);
	tcase_add_test(tc, test_evict_get_fails_stays);
	tcase_add_test(tc, test_evict_owner_gone);
	tcase_add_test(tc, test_evict_create_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("hook");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_free_hook);
	tcase_add_test(tc, test_evict_other_handle);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_add_test(tc, test_evict_journal_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, obj_setup, mem_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_evict_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("killed");
	tcase_add_checked_fixture(tc, kill_setup, kill_teardown);
	tcase_add_test(tc, test_evict_killed);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(objlru_suite)
