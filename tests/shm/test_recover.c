// SPDX-License-Identifier: MIT
/*
 * Tests for shm/recover.c with the heap's own stores: every mutating
 * call of the heap and of its objects, killed at every step (the step
 * hook copies the metadata at each logged store and before the commit),
 * each copy recovered on its own: it passes heap_check() and is exactly
 * the state before the call, bytes outside the journal and the model of
 * who holds what; after the commit, exactly the state after.  Then the
 * same over a random sequence of several hundred calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/killpoint.h"
#include "tests/shm/mem.h"
#include "tests/shm/objects.h"

#define PAGES 1024

static void setup(void)
{
	struct heap_config cfg = { .arena_size = PAGES * PG,
				   .max_owners = FIXTURE_OWNERS,
				   .max_objects = OBJ_TABLE,
				   .max_refs = OBJ_REFS,
				   .hash_key = { 1, 2 } };
	struct heap_ops ops;

	memset(&mem, 0, sizeof(mem));
	mem.size = cfg.arena_size;
	mem.base = calloc(1, mem.size);
	ck_assert_ptr_nonnull(mem.base);
	mem_ops(&ops, true);
	snap_start(&cfg, &ops);
	ck_assert_int_eq(heap_set_grow_pages(h, 256), 0);
}

static void teardown(void)
{
	snap_stop();
	free(mem.base);
	mem.base = NULL;
}

enum op_kind {
	OP_ALLOC, OP_FREE, OP_FREE_OWNER, OP_OWNER_ADD, OP_OWNER_REMOVE,
	OP_OWNER_RENAME, OP_MAG_ALLOC, OP_MAG_MOVE, OP_TAKE, OP_TAKE_RANGE,
	OP_RETURN, OP_STRAY, OP_CREATE, OP_SEAL, OP_GET, OP_RELEASE,
	OP_DELETE, OP_OWNER_GONE, OP_GROW_PAGES, OP_EVICT,
};

/* One call, its arguments and what it returned. */
struct op {
	enum op_kind kind;
	uint32_t owner;
	uint64_t a, b;		/* pages, offset, id, ... by kind */
	unsigned int from, to;
	const char *name;
	int r;
	uint64_t out;		/* the span's offset, the id, the count */
	struct heap_take take;
	struct heap_cursor cursor;
	bool took;
};

static void op_run(void *arg)
{
	struct op *op = arg;
	struct heap_obj_info x;
	struct heap_obj_gone g;
	struct heap_span sp;
	struct heap_stray st;
	uint64_t next;
	struct heap_obj_new req = { op->name, op->name ? strlen(op->name) : 0,
				    op->a, (unsigned int)op->b, OBJ_PID,
				    OBJ_UID };

	switch (op->kind) {
	case OP_ALLOC:
		op->r = heap_alloc(h, op->a, (unsigned int)op->b, op->owner, 5,
				   &sp);
		op->out = op->r ? 0 : sp.off;
		break;
	case OP_FREE:
		op->r = heap_free(h, op->a, op->owner, 6);
		break;
	case OP_FREE_OWNER:
		op->out = heap_free_owner(h, op->owner, 6);
		break;
	case OP_OWNER_ADD:
		op->r = heap_owner_add(h, op->name, op->a, &op->owner);
		break;
	case OP_OWNER_REMOVE:
		op->r = heap_owner_remove(h, op->owner);
		break;
	case OP_OWNER_RENAME:
		op->r = heap_owner_set_name(h, op->owner, op->name);
		break;
	case OP_MAG_ALLOC:
		op->r = heap_mag_alloc(h, op->a, op->owner, 5, &sp);
		op->out = op->r ? 0 : sp.off;
		break;
	case OP_MAG_MOVE:
		op->r = heap_mag_move(h, op->a, op->owner, op->b, op->from,
				      op->to);
		break;
	case OP_TAKE:
		op->took = heap_scavenge_take(h, 100, 0, op->a, &op->cursor,
					      &op->take);
		break;
	case OP_TAKE_RANGE:
		op->took = heap_scavenge_take_range(h, op->b, op->a,
						    &op->cursor, &op->take);
		break;
	case OP_RETURN:
		heap_scavenge_return(h, &op->take, op->r, &op->cursor);
		break;
	case OP_STRAY:
		if (heap_stray_next(h, 0, PAGES, 16, &st, &next))
			op->r = heap_release_stray(h, &st);
		break;
	case OP_CREATE:
		op->r = heap_obj_create(h, op->owner, &req, 9, &x);
		op->out = op->r ? 0 : x.id;
		break;
	case OP_SEAL:
		op->r = heap_obj_seal(h, op->owner, op->a);
		break;
	case OP_GET:
		op->r = heap_obj_get(h, op->owner, op->name, strlen(op->name),
				     &x);
		op->out = op->r ? 0 : x.id;
		break;
	case OP_RELEASE:
		op->r = heap_obj_release(h, op->owner, op->a, 10);
		break;
	case OP_DELETE:
		op->r = heap_obj_delete(h, op->name, strlen(op->name), 0, 11);
		break;
	case OP_OWNER_GONE:
		op->r = heap_obj_owner_gone(h, op->owner, 12, NULL, NULL, &g);
		op->out = g.refs;
		break;
	case OP_GROW_PAGES:
		op->r = heap_set_grow_pages(h, op->a);
		break;
	case OP_EVICT:
		op->r = heap_obj_evict(h, 13, &x);
		op->out = op->r ? 0 : x.id;
		break;
	}
}

static struct kill_result last;
static uint64_t total_steps, max_undone;

/*
 * Run @op killed at every step; returns the steps.  Every call is one
 * transaction, but those that take one a span or reference.
 */
static uint64_t kill(struct op *op)
{
	last = kill_everywhere(op_run, op);
	total_steps += last.steps;
	if (last.max_undone > max_undone)
		max_undone = last.max_undone;
	if (op->kind != OP_FREE_OWNER && op->kind != OP_OWNER_GONE)
		ck_assert_uint_le(last.commits, 1);
	return last.steps;
}

static uint64_t k_alloc(uint32_t owner, uint64_t pages)
{
	struct op op = { .kind = OP_ALLOC, .owner = owner, .a = pages };

	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	return op.out;
}

static void k_free(uint32_t owner, uint64_t off)
{
	struct op op = { .kind = OP_FREE, .owner = owner, .a = off };

	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
}

START_TEST(test_recover_alloc)
{
	uint64_t a, big;

	/* The first allocation grows the heap, then splits. */
	a = k_alloc(o1, 3);
	ck_assert_uint_eq(h->meta->grown, 256);
	/* Small with a split, large (from the treap) with a split. */
	k_alloc(o1, 1);
	big = k_alloc(o2, 200);
	/* One that grows again: more than what is free. */
	k_alloc(o2, 300);
	ck_assert_uint_gt(h->meta->grown, 256);
	/* A zeroed one, and one that fails (changes nothing). */
	{
		struct op op = { .kind = OP_ALLOC, .owner = o1, .a = 2,
				 .b = HEAP_ALLOC_ZERO };

		ck_assert_uint_gt(kill(&op), 0);
		op = (struct op){ .kind = OP_ALLOC, .owner = o1,
				  .a = PAGES + 1 };
		ck_assert_uint_eq(kill(&op), 0);
		ck_assert_int_eq(op.r, -EINVAL);
	}
	k_free(o1, a);
	k_free(o2, big);
	heap_check(h);
}
END_TEST

START_TEST(test_recover_free_coalesce)
{
	uint64_t s[6];

	for (int i = 0; i < 6; i++)
		s[i] = k_alloc(o1, 1 + (uint64_t)i % 3);
	k_free(o1, s[1]);	/* no neighbour free */
	k_free(o1, s[3]);
	k_free(o1, s[2]);	/* both sides */
	k_free(o1, s[4]);	/* left, and s[5] is used */
	k_free(o1, s[0]);	/* right */
	k_free(o1, s[5]);	/* left and the free rest on the right */
	ck_assert_uint_eq(h->meta->nfree, 1);
	/* A free that fails changes nothing. */
	{
		struct op op = { .kind = OP_FREE, .owner = o1, .a = s[0] };

		ck_assert_uint_eq(kill(&op), 0);
		ck_assert_int_eq(op.r, -EINVAL);
	}
}
END_TEST

START_TEST(test_recover_free_owner)
{
	struct op op = { .kind = OP_FREE_OWNER, .owner = o2 };

	for (int i = 0; i < 5; i++) {
		k_alloc(o2, 1 + (uint64_t)i);
		k_alloc(o1, 2);
	}
	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_uint_eq(op.out, 5);
	/* One transaction a span: five began. */
	ck_assert_uint_eq(last.commits, 5);
	ck_assert_uint_eq(owner_info(o2).nspans, 0);
}
END_TEST

START_TEST(test_recover_owners)
{
	struct op op = { .kind = OP_OWNER_ADD, .name = "three", .a = 3 };
	uint32_t three;

	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	three = op.owner;
	op = (struct op){ .kind = OP_OWNER_RENAME, .owner = three,
			  .name = "drei" };
	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_str_eq(owner_info(three).name, "drei");
	/* Busy: refused, nothing changed. */
	k_alloc(three, 1);
	op = (struct op){ .kind = OP_OWNER_REMOVE, .owner = three };
	ck_assert_uint_eq(kill(&op), 0);
	ck_assert_int_eq(op.r, -EBUSY);
	op = (struct op){ .kind = OP_FREE_OWNER, .owner = three };
	kill(&op);
	op = (struct op){ .kind = OP_OWNER_REMOVE, .owner = three };
	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	/* Slots go round through the free queue. */
	for (int i = 0; i < 3; i++) {
		op = (struct op){ .kind = OP_OWNER_ADD, .name = "again" };
		kill(&op);
		ck_assert_int_eq(op.r, 0);
		three = op.owner;
		op = (struct op){ .kind = OP_OWNER_REMOVE, .owner = three };
		kill(&op);
		ck_assert_int_eq(op.r, 0);
	}
	op = (struct op){ .kind = OP_GROW_PAGES, .a = 128 };
	ck_assert_uint_gt(kill(&op), 0);
}
END_TEST

START_TEST(test_recover_mag)
{
	struct op op = { .kind = OP_MAG_ALLOC, .owner = o1, .a = 4 };
	uint64_t off;

	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	off = op.out;
	op = (struct op){ .kind = OP_MAG_MOVE, .owner = o1, .a = off,
			  .b = 4, .from = HEAP_MAG_FILL, .to = HEAP_MAG_HELD };
	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	op.from = HEAP_MAG_HELD;
	op.to = HEAP_MAG_FILL;
	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	op.from = HEAP_MAG_FILL;
	op.to = HEAP_MAG_HELD;
	kill(&op);
	/* A HELD span is freed; its marks go with it. */
	k_free(o1, off);
	ck_assert_uint_eq(h->meta->mag_pages, 0);
	/* And the owner's going frees FILL ones. */
	op = (struct op){ .kind = OP_MAG_ALLOC, .owner = o2, .a = 2 };
	kill(&op);
	op = (struct op){ .kind = OP_FREE_OWNER, .owner = o2 };
	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_uint_eq(h->meta->mag_pages, 0);
}
END_TEST

/* Take, release (really: mem's hook zeroes), return, each killed. */
static void scavenge_run(enum op_kind kind, uint64_t end, int result)
{
	struct op op = { .kind = kind, .a = 8, .b = end };

	for (;;) {
		ck_assert_uint_gt(kill(&op) + !op.took, 0);
		if (!op.took)
			break;
		if (result == 0)
			ck_assert_int_eq(heap_release_taken(h, &op.take), 0);
		op.kind = OP_RETURN;
		op.r = result;
		/* Before it: the held run given back, holes released. */
		ck_assert_uint_gt(kill(&op), 0);
		op.kind = kind;
	}
}

START_TEST(test_recover_scavenge)
{
	uint64_t s[4];

	for (int i = 0; i < 4; i++) {
		s[i] = k_alloc(o1, 10);
		memset(mem.base + s[i], 0x77, 10 * PG);
	}
	k_free(o1, s[0]);
	k_free(o1, s[2]);
	scavenge_run(OP_TAKE, 0, 0);
	ck_assert_uint_eq(h->meta->released, h->meta->idle);
	k_free(o1, s[1]);
	memset(mem.base + s[1], 0x77, 10 * PG);
	/* A failed release, then a ranged pass. */
	scavenge_run(OP_TAKE, 0, -EIO);
	ck_assert_uint_gt(h->meta->release_errors, 0);
	scavenge_run(OP_TAKE_RANGE, PAGES, 0);
	ck_assert_uint_eq(h->meta->released, h->meta->idle);
	/* A large dirty free span: its map pages go as runs come back. */
	s[0] = k_alloc(o2, 600);
	memset(mem.base + s[0], 0x77, 600 * PG);
	k_free(o2, s[0]);
	ck_assert_uint_eq(snap.meta_released_in_tx, 0);
	scavenge_run(OP_TAKE, 0, 0);
	/*
	 * Returns gave page map pages back inside their transactions, and
	 * kill points after that recovered (the undo writes the old words
	 * back into pages that read as zero).
	 */
	ck_assert_uint_gt(snap.meta_released_in_tx, 0);
	/* A stray sweep changes no metadata. */
	memset(mem.base + 1000 * PG, 1, PG);
	{
		struct op op = { .kind = OP_STRAY };

		ck_assert_uint_eq(kill(&op), 0);
	}
}
END_TEST

static uint64_t k_create(uint32_t owner, const char *name, uint64_t size)
{
	struct op op = { .kind = OP_CREATE, .owner = owner, .name = name,
			 .a = size };

	ck_assert_uint_gt(kill(&op), 0);
	ck_assert_int_eq(op.r, 0);
	return op.out;
}

static void k_obj(enum op_kind kind, uint32_t owner, uint64_t id,
		  const char *name, int want)
{
	struct op op = { .kind = kind, .owner = owner, .a = id,
			 .name = name };
	uint64_t steps = kill(&op);

	ck_assert_int_eq(op.r, want);
	if (want == 0)
		ck_assert_uint_gt(steps, 0);
	else
		ck_assert_uint_eq(steps, 0);
}

START_TEST(test_recover_objects)
{
	uint64_t a, b, c;

	a = k_create(o1, "alpha", 3 * PG);
	b = k_create(o1, "beta", 100);
	k_obj(OP_SEAL, o1, a, NULL, 0);
	k_obj(OP_SEAL, o1, a, NULL, -EALREADY);
	k_obj(OP_GET, o2, 0, "alpha", 0);
	k_obj(OP_GET, o2, 0, "alpha", 0);
	k_obj(OP_GET, o1, 0, "beta", -EAGAIN);
	k_obj(OP_RELEASE, o2, a, NULL, 0);
	/* Deleted while referenced: it lives on, unnamed. */
	k_obj(OP_DELETE, 0, 0, "alpha", 0);
	k_obj(OP_RELEASE, o1, a, NULL, 0);
	k_obj(OP_RELEASE, o2, a, NULL, 0);	/* the last: freed */
	ck_assert_int_eq(heap_obj_lookup(h, a, &(struct heap_obj_info){ 0 }),
			 -ENOENT);
	/* Released while OPEN: aborted. */
	k_obj(OP_RELEASE, o1, b, NULL, 0);
	/* The owner's going with an OPEN object and references. */
	b = k_create(o1, "gamma", PG);
	c = k_create(o2, "delta", 2 * PG);
	k_obj(OP_SEAL, o2, c, NULL, 0);
	k_obj(OP_GET, o1, 0, "delta", 0);
	k_obj(OP_GET, o1, 0, "delta", 0);
	k_alloc(o1, 2);
	{
		struct op op = { .kind = OP_OWNER_GONE, .owner = o1 };

		ck_assert_uint_gt(kill(&op), 0);
		ck_assert_int_eq(op.r, 0);
		ck_assert_uint_eq(op.out, 3);
		/* One a reference record: gamma's and delta's. */
		ck_assert_uint_eq(last.commits, 2);
		op = (struct op){ .kind = OP_FREE_OWNER, .owner = o1 };
		kill(&op);
		op = (struct op){ .kind = OP_OWNER_REMOVE, .owner = o1 };
		ck_assert_uint_gt(kill(&op), 0);
		ck_assert_int_eq(op.r, 0);
	}
	ck_assert_int_eq(heap_obj_lookup(h, b, &(struct heap_obj_info){ 0 }),
			 -ENOENT);
	k_obj(OP_DELETE, 0, 0, "delta", 0);
}
END_TEST

/* What the random sequence holds: spans of its owners, objects. */
#define RND_SPANS 64
#define RND_OBJS 16

struct rnd_state {
	uint64_t rng;
	uint64_t off[RND_SPANS];
	uint32_t owner[RND_SPANS];
	bool mag[RND_SPANS];
	unsigned int nspans;
	char names[RND_OBJS][8];
	uint64_t id[RND_OBJS];
	uint32_t creator[RND_OBJS];
	unsigned int nobjs;
};

static uint32_t rnd_owner(struct rnd_state *s)
{
	return test_rand(&s->rng) & 1 ? o1 : o2;
}

static void rnd_span_op(struct rnd_state *s, unsigned int what)
{
	struct op op = { .owner = rnd_owner(s) };
	unsigned int i = s->nspans ?
				 (unsigned int)(test_rand(&s->rng) % s->nspans) :
				 0;

	if (what == 0 && s->nspans < RND_SPANS) {
		op.kind = test_rand(&s->rng) % 4 ? OP_ALLOC : OP_MAG_ALLOC;
		op.a = 1 + test_rand(&s->rng) % (test_rand(&s->rng) % 8 ?
							 8 : 300);
		kill(&op);
		if (op.r == 0) {
			s->off[s->nspans] = op.out;
			s->owner[s->nspans] = op.owner;
			s->mag[s->nspans++] = op.kind == OP_MAG_ALLOC;
		}
	} else if (what == 1 && s->nspans) {
		if (s->mag[i]) {
			op = (struct op){ .kind = OP_MAG_MOVE,
					  .owner = s->owner[i], .a = s->off[i],
					  .from = HEAP_MAG_FILL,
					  .to = HEAP_MAG_HELD };
			op.b = span_val(h, (uint32_t)(s->off[i] / PG));
			kill(&op);
			s->mag[i] = false;
		}
		op = (struct op){ .kind = OP_FREE, .owner = s->owner[i],
				  .a = s->off[i] };
		kill(&op);
		ck_assert_int_eq(op.r, 0);
		s->off[i] = s->off[--s->nspans];
		s->owner[i] = s->owner[s->nspans];
		s->mag[i] = s->mag[s->nspans];
	} else if (what == 2) {
		op.kind = OP_TAKE;
		op.a = 1 + test_rand(&s->rng) % 16;
		kill(&op);
		if (op.took) {
			op.kind = OP_RETURN;
			op.r = test_rand(&s->rng) % 8 ? 0 : -EIO;
			if (op.r == 0)
				heap_release_taken(h, &op.take);
			kill(&op);
		}
	}
}

static void rnd_obj_op(struct rnd_state *s, unsigned int what)
{
	struct op op = { .owner = rnd_owner(s) };
	unsigned int i = (unsigned int)(test_rand(&s->rng) % RND_OBJS);

	switch (what) {
	case 0:
		snprintf(s->names[i], sizeof(s->names[i]), "o%u", i);
		op.kind = OP_CREATE;
		op.name = s->names[i];
		op.a = 1 + test_rand(&s->rng) % (5 * PG);
		op.b = test_rand(&s->rng) & 1 ? HEAP_OBJ_EVICTABLE : 0;
		kill(&op);
		if (op.r == 0) {
			s->id[i] = op.out;
			s->creator[i] = op.owner;
		}
		break;
	case 1:
		op = (struct op){ .kind = OP_SEAL, .owner = s->creator[i],
				  .a = s->id[i] };
		kill(&op);
		break;
	case 2:
		if (!s->names[i][0])
			break;
		op.kind = OP_GET;
		op.name = s->names[i];
		kill(&op);
		break;
	case 3:
		op.kind = OP_RELEASE;
		op.a = s->id[i];
		kill(&op);
		break;
	case 4:
		if (!s->names[i][0])
			break;
		op.kind = OP_DELETE;
		op.name = s->names[i];
		kill(&op);
		break;
	case 5:
		op.kind = OP_EVICT;
		kill(&op);
		break;
	}
}

START_TEST(test_recover_random)
{
	struct rnd_state s;
	int n = 300;

	memset(&s, 0, sizeof(s));
	s.rng = test_seed("recover_random") | 1;
	total_steps = max_undone = 0;
	for (int k = 0; k < n; k++) {
		unsigned int what = (unsigned int)(test_rand(&s.rng) % 10);

		if (what < 5)
			rnd_span_op(&s, what % 3);
		else if (what < 9)
			rnd_obj_op(&s, (unsigned int)(test_rand(&s.rng) % 6));
		else {
			/* An owner that comes and goes with what it held. */
			struct op op = { .kind = OP_OWNER_ADD, .name = "x" };
			uint32_t x;

			kill(&op);
			x = op.owner;
			op = (struct op){ .kind = OP_ALLOC, .owner = x, .a = 2 };
			kill(&op);
			op = (struct op){ .kind = OP_CREATE, .owner = x,
					  .name = "tmp", .a = PG };
			kill(&op);
			op = (struct op){ .kind = OP_GET, .owner = x,
					  .name = s.names[0][0] ? s.names[0] :
								  "none" };
			kill(&op);
			op = (struct op){ .kind = OP_OWNER_GONE, .owner = x };
			kill(&op);
			op = (struct op){ .kind = OP_FREE_OWNER, .owner = x };
			kill(&op);
			op = (struct op){ .kind = OP_OWNER_REMOVE, .owner = x };
			kill(&op);
			ck_assert_int_eq(op.r, 0);
		}
	}
	heap_check(h);
	/* Some 40 kill points a call, on average. */
	ck_assert_uint_gt(total_steps, 20 * (uint64_t)n);
	/*
	 * The journal's bound takes a heap call to log at most 512 words
	 * besides the released bitmap's (a few here: spans are small).
	 */
	ck_assert_uint_le(max_undone, 512);
	printf("recover_random: %llu kill points, at most %llu entries\n",
	       (unsigned long long)total_steps,
	       (unsigned long long)max_undone);
}
END_TEST

static Suite *recover_suite(void)
{
	Suite *s = suite_create("recover");
	TCase *tc;

	tc = tcase_create("steps");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_recover_alloc);
	tcase_add_test(tc, test_recover_free_coalesce);
	tcase_add_test(tc, test_recover_free_owner);
	tcase_add_test(tc, test_recover_owners);
	tcase_add_test(tc, test_recover_mag);
	tcase_add_test(tc, test_recover_scavenge);
	tcase_add_test(tc, test_recover_objects);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_recover_random);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(recover_suite)
