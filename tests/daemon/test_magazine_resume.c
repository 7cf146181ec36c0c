// SPDX-License-Identifier: MIT
/*
 * daemon/magazine.c across a restart: the durable record of the fill
 * rings and magazine_resume_locked().
 *
 * The heap of these cases is the test's own (plain memory, a small
 * config), with the magazine's area past its layout, as the daemon's
 * durable area is in the metadata memfd; the test plays the client on
 * its own mapping of the region.  At every step of a serve, a sync and
 * a revocation (killpt.h) the recovered metadata is attached as a new
 * daemon would, the owner resumed with the took the client really had,
 * and the outcome held against the model: every span the client holds
 * (taken and not given back, or on its stack) is HELD and its own, no
 * span of the owner is FILL any more, at most the one span the daemon
 * had just popped off a stack is the owner's besides (see magazine.c),
 * the other owner's spans are untouched, and heap_check() passes.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/core.h"
#include "daemon/log.h"
#include "daemon/magazine.h"
#include "proto/proto.h"
#include "shm/heap.h"
#include "tests/daemon/killpt.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE HEAP_PAGE_SIZE
#define MAXB (4 * MiB)
#define NB 6			/* the other owner's spans */
#define MAXSPANS 512
#define MASK (MAG_RING_CAP - 1)

static struct log_limit lg;

/* The heap, its memory, the magazine under test and the client. */
static struct {
	void *mem;
	size_t size;		/* layout + one area */
	uint64_t layout;
	struct core core;
	uint32_t a, b;		/* the magazine's owner, another */
	uint64_t boff[NB];	/* b's spans */
	struct magazine *m;
	struct mag_region *r;	/* the client's mapping */
	size_t rsize;
	/* The client's model: what it took and still holds (not pushed). */
	uint64_t held[MAXSPANS];
	unsigned int held_cls[MAXSPANS];
	unsigned int nheld;
	uint32_t took[MAG_NCLASSES];
	unsigned int kills;	/* kill points looked at */
} t;

static void *area_of(void *meta)
{
	return (char *)meta + t.layout;
}

static void setup(void)
{
	struct heap_config cfg = { .arena_size = 32 * MiB, .max_owners = 8 };
	struct heap *h;

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(heap_layout_size(&cfg, &t.layout), 0);
	t.size = t.layout + MAGAZINE_AREA_BYTES;
	t.mem = mmap(NULL, t.size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(t.mem, MAP_FAILED);
	ck_assert_int_eq(heap_format(t.mem, t.size, &cfg, &killpt_no_ops, &h),
			 0);
	core_init(&t.core);
	t.core.heap = h;
	ck_assert_int_eq(heap_owner_add(h, "a", 1, &t.a), 0);
	ck_assert_int_eq(heap_owner_add(h, "b", 2, &t.b), 0);
	for (unsigned int i = 0; i < NB; i++) {
		struct heap_span s;

		ck_assert_int_eq(heap_alloc(h, 1 + i % 3, 0, t.b, 1, &s), 0);
		t.boff[i] = s.off;
	}
	ck_assert_int_eq(magazine_new(&t.core, t.a, 1, getpid(), MAXB, &lg,
				      area_of(t.mem), &t.m),
			 0);
	t.rsize = magazine_size(t.m);
	t.r = mmap(NULL, t.rsize, PROT_READ | PROT_WRITE, MAP_SHARED,
		   magazine_fd(t.m), 0);
	ck_assert_ptr_ne(t.r, MAP_FAILED);
}

static void teardown(void)
{
	magazine_free(t.m);
	munmap(t.r, t.rsize);
	heap_check(t.core.heap);
	heap_detach(t.core.heap);
	core_fini(&t.core);
	munmap(t.mem, t.size);
}

/* The client's side. */

static uint64_t take(unsigned int c)
{
	uint64_t off;

	ck_assert_int_eq(mag_fill_take_at(&t.r->cls[c].fill, &off,
					  &t.took[c]),
			 0);
	ck_assert_uint_lt(t.nheld, MAXSPANS);
	t.held_cls[t.nheld] = c;
	t.held[t.nheld++] = off;
	return off;
}

/* Free the oldest span of class @c the client holds onto its stack. */
static void push(unsigned int c)
{
	unsigned int i = 0;
	uint32_t n;

	while (i < t.nheld && t.held_cls[i] != c)
		i++;
	ck_assert_uint_lt(i, t.nheld);
	ck_assert_int_eq(mag_stack_push(&t.r->cls[c].ret, t.held[i],
					MAG_STACK_CAP, &n),
			 0);
	t.nheld--;
	memmove(t.held + i, t.held + i + 1, (t.nheld - i) * sizeof(t.held[0]));
	memmove(t.held_cls + i, t.held_cls + i + 1,
		(t.nheld - i) * sizeof(t.held_cls[0]));
}

/* The daemon's side, under the lock. */

static void refill(unsigned int c)
{
	daemon_heap_lock(&t.core);
	magazine_refill_locked(t.m, c, PROTO_MAG_EMPTY, 1);
	daemon_heap_unlock(&t.core);
}

/*
 * The state every case starts from: classes 0, 1 and 3 filled (class 0
 * twice: a target of 8), some spans taken, some of those freed onto the
 * stack, and one sync, so that seen is not 0.
 */
static void prepare(void)
{
	refill(0);
	refill(0);
	refill(1);
	refill(3);
	for (int i = 0; i < 5; i++)
		take(0);
	take(1);
	daemon_heap_lock(&t.core);
	magazine_sync_locked(t.m);
	daemon_heap_unlock(&t.core);
	take(0);
	take(3);
	take(3);
	push(0);
	push(0);
	push(3);
	heap_check(t.core.heap);
}

/* The spans on the client's stacks, as the region has them now. */
static unsigned int stacked(uint64_t *ret)
{
	unsigned int n = 0;

	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		struct mag_stack *st = &t.r->cls[c].ret;
		uint32_t k = mag_stack_count(st);

		for (uint32_t i = 0; i < k; i++)
			ret[n++] = atomic_load(&st->slot[i]);
	}
	return n;
}

static void expect_b(struct heap *h)
{
	struct heap_owner_info oi;

	ck_assert_int_eq(heap_owner_get(h, t.b, &oi), 0);
	ck_assert_uint_eq(oi.nspans, NB);
	for (unsigned int i = 0; i < NB; i++) {
		uint64_t npages;
		uint32_t who;

		ck_assert_int_eq(heap_span_owner(h, t.boff[i], &who, &npages),
				 0);
		ck_assert_uint_eq(who, t.b);
		ck_assert_uint_eq(npages, 1 + i % 3);
	}
}

/*
 * After a resume of @a on @h: the client's spans (@hold, @n) are HELD
 * and a's, a has at most @extra spans besides, and none FILL.
 */
static void expect_exact(struct heap *h, const uint64_t *hold, unsigned int n,
			 unsigned int extra)
{
	struct heap_owner_info oi;
	struct heap_stats hs;

	heap_check(h);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int state;
		uint64_t npages;
		uint32_t who;

		ck_assert_int_eq(heap_mag_get(h, hold[i], &who, &npages,
					      &state),
				 0);
		ck_assert_uint_eq(who, t.a);
		ck_assert_uint_eq(state, HEAP_MAG_HELD);
	}
	ck_assert_int_eq(heap_owner_get(h, t.a, &oi), 0);
	ck_assert_uint_ge(oi.nspans, n);
	ck_assert_uint_le(oi.nspans, n + extra);
	heap_stats(h, &hs);
	ck_assert_uint_eq(hs.mag_fill, 0);
	ck_assert_uint_eq(hs.mag, oi.npages * PAGE);
	expect_b(h);
}

/* What the client holds now: its own, and its stacks'. */
static unsigned int client_holds(uint64_t *ret)
{
	unsigned int n = stacked(ret);

	memcpy(ret + n, t.held, t.nheld * sizeof(ret[0]));
	return n + t.nheld;
}

/*
 * Resume @a on the recovered @meta with @took, the client holding
 * @hold: exact, and a second resume (a death inside the first) changes
 * nothing more.
 */
static void resume_copy(void *meta, const uint32_t *took, const uint64_t *hold,
			unsigned int n, unsigned int extra)
{
	struct heap *h = killpt_attach(meta, t.size);
	struct heap_stats before, after;
	struct core core;

	core_init(&core);
	core.heap = h;
	heap_check(h);
	daemon_heap_lock(&core);
	ck_assert_int_eq(magazine_resume_locked(&core, t.a, area_of(meta),
						took),
			 0);
	expect_exact(h, hold, n, extra);
	heap_stats(h, &before);
	ck_assert_int_eq(magazine_resume_locked(&core, t.a, area_of(meta),
						took),
			 0);
	heap_stats(h, &after);
	ck_assert_mem_eq(&before, &after, sizeof(before));
	daemon_heap_unlock(&core);
	heap_detach(h);
	core_fini(&core);
}

/*
 * A client that, at this instant, takes everything its rings show: it
 * holds those too, and its took is each ring's head.
 */
static unsigned int greedy(uint64_t *hold, unsigned int n, uint32_t *took)
{
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		struct mag_ring *ring = &t.r->cls[c].fill;
		uint32_t head = atomic_load(&ring->head);
		uint32_t tail = atomic_load(&ring->tail);

		ck_assert_uint_le(head - tail, MAG_RING_CAP);
		for (uint32_t i = tail; i != head; i++)
			hold[n++] = atomic_load(&ring->entry[i & MASK]);
		took[c] = head;
	}
	return n;
}

/*
 * At each kill point: resume a recovered copy, as a new daemon would,
 * once with the took the client had, once as if it had taken all it
 * could see (the region never shows what the record may lose).
 */
static void at_kill(void *ctx, void *meta)
{
	unsigned int *popped = ctx;
	uint64_t hold[MAXSPANS];
	uint32_t took[MAG_NCLASSES];
	unsigned int n = client_holds(hold);
	void *copy = aligned_alloc(PAGE, t.size);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, meta, t.size);
	/* The daemon's popped-off entry: the one span besides, at most. */
	resume_copy(meta, t.took, hold, n, *popped ? 1 : 0);
	n = greedy(hold, n, took);
	resume_copy(copy, took, hold, n, *popped ? 1 : 0);
	free(copy);
	t.kills++;
}

enum op { OP_KICK, OP_SYNC, OP_IDLE, OP_SHRINK };

static void run(enum op op)
{
	uint64_t hold[MAXSPANS];
	unsigned int popped;

	prepare();
	/* Stacks the daemon takes from: it may pop one and die. */
	popped = stacked(hold);
	killpt_arm(t.core.heap, t.mem, t.size, at_kill, &popped);
	daemon_heap_lock(&t.core);
	switch (op) {
	case OP_KICK:
		magazine_kick_locked(t.m, 2);
		break;
	case OP_SYNC:
		/* The client took more: the sync marks them. */
		daemon_heap_unlock(&t.core);
		take(0);
		take(1);
		daemon_heap_lock(&t.core);
		magazine_sync_locked(t.m);
		break;
	case OP_IDLE:
		/* Idle past the delay: every target 0, all revoked. */
		magazine_tick_locked(t.m, 100 * UINT64_C(1000000000), 1);
		break;
	case OP_SHRINK:
		/* One idle tick: targets halve, the surplus revoked. */
		magazine_tick_locked(t.m, 3, UINT64_MAX);
		break;
	}
	daemon_heap_unlock(&t.core);
	ck_assert_uint_gt(killpt_disarm(), 0);
	ck_assert_uint_gt(t.kills, 4);
	/* And after the operation, the live heap itself. */
	{
		struct core core;
		struct heap *h;
		void *copy = aligned_alloc(PAGE, t.size);
		unsigned int n;

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, t.mem, t.size);
		h = killpt_attach(copy, t.size);
		core_init(&core);
		core.heap = h;
		daemon_heap_lock(&core);
		ck_assert_int_eq(magazine_resume_locked(&core, t.a,
							area_of(copy), t.took),
				 0);
		daemon_heap_unlock(&core);
		n = client_holds(hold);
		expect_exact(h, hold, n, 0);
		heap_detach(h);
		core_fini(&core);
		free(copy);
	}
}

START_TEST(test_kill_kick)
{
	run(OP_KICK);
}
END_TEST

START_TEST(test_kill_sync)
{
	run(OP_SYNC);
}
END_TEST

START_TEST(test_kill_idle)
{
	run(OP_IDLE);
}
END_TEST

START_TEST(test_kill_shrink)
{
	run(OP_SHRINK);
}
END_TEST

/* A resume on the live heap, for the figures it gives. */
static int resume_live(const uint32_t *took)
{
	int r;

	daemon_heap_lock(&t.core);
	r = magazine_resume_locked(&t.core, t.a, area_of(t.mem), took);
	daemon_heap_unlock(&t.core);
	return r;
}

/* FILL spans of a in the heap now. */
static uint64_t fill_pages(void)
{
	struct heap_stats hs;

	heap_stats(t.core.heap, &hs);
	return hs.mag_fill / PAGE;
}

START_TEST(test_counts)
{
	uint64_t hold[MAXSPANS];
	struct magazine_info mi = { 0 };
	struct heap_owner_info oi;
	struct magazine *m2;
	unsigned int n;

	prepare();
	/*
	 * Class 0: 8 filled, 6 taken, 5 of them synced; class 1: 4, 1, 1;
	 * class 3 (8 pages): 4, 2, 0.  The unsynced ones are still FILL.
	 */
	ck_assert_uint_eq(fill_pages(), 3 * 1 + 3 * 2 + 4 * 8);
	ck_assert_int_eq(resume_live(t.took), 0);
	n = client_holds(hold);
	expect_exact(t.core.heap, hold, n, 0);
	ck_assert_int_eq(heap_owner_get(t.core.heap, t.a, &oi), 0);
	ck_assert_uint_eq(oi.nspans, 9);
	/* The next magazine of a shows what the resume did. */
	ck_assert_int_eq(magazine_new(&t.core, t.a, 2, getpid(), MAXB, &lg,
				      area_of(t.mem), &m2),
			 0);
	daemon_heap_lock(&t.core);
	magazine_info_locked(m2, &mi);
	daemon_heap_unlock(&t.core);
	ck_assert_uint_eq(mi.resumed, 1);
	/* 6 + 1 + 2 taken; but 6 were synced before: 3 marked here. */
	ck_assert_uint_eq(mi.resume_held, 3);
	ck_assert_uint_eq(mi.resume_freed, 2 + 3 + 2);
	magazine_free(m2);
	/* Its record is new: a resume now does nothing. */
	ck_assert_int_eq(resume_live(t.took), 0);
	expect_exact(t.core.heap, hold, n, 0);
}
END_TEST

/*
 * Took values no honest client has: clamped, never refused (see
 * magazine.h); nothing of b changes, nothing is FILL after.  Past head:
 * every FILL span of the class is marked HELD, none freed.  Behind seen
 * (UINT32_MAX is 6 behind class 0's seen of 5): all freed, those the
 * client took but the daemon had not seen taken included, the client's
 * own loss for its lie.
 */
START_TEST(test_bad_took)
{
	static const uint32_t bad[][MAG_NCLASSES] = {
		{ 1000, 1000, 1000, 1000, 1000, 1000, 1000 },
		{ 0x80000000u, 0x80000000u, 0x80000000u, 0x80000000u },
		{ 9, 5, 0, 5, 1, 2, 3 },
		{ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX },
	};
	/* Spans freed: none, but for the last: 3 + 3 + 4 FILL ones. */
	static const unsigned int freed[] = { 0, 0, 0, 10 };
	unsigned int i = (unsigned int)_i;
	uint64_t hold[MAXSPANS];
	struct heap_owner_info before, after;
	unsigned int n;

	prepare();
	n = client_holds(hold);
	ck_assert_int_eq(heap_owner_get(t.core.heap, t.a, &before), 0);
	ck_assert_int_eq(resume_live(bad[i]), 0);
	ck_assert_int_eq(heap_owner_get(t.core.heap, t.a, &after), 0);
	ck_assert_uint_eq(after.nspans, before.nspans - freed[i]);
	if (!freed[i])
		expect_exact(t.core.heap, hold, n,
			     (unsigned int)before.nspans - n);
	heap_check(t.core.heap);
	ck_assert_uint_eq(fill_pages(), 0);
	expect_b(t.core.heap);
}
END_TEST

/*
 * Behind seen, honestly: the daemon revoked what came after the
 * client's last take.  Then nothing of the ring is the client's.
 */
START_TEST(test_took_behind)
{
	static const uint32_t zero[MAG_NCLASSES];
	uint64_t hold[MAXSPANS];
	unsigned int n;

	prepare();
	daemon_heap_lock(&t.core);
	magazine_tick_locked(t.m, 100 * UINT64_C(1000000000), 1);
	daemon_heap_unlock(&t.core);
	ck_assert_uint_eq(*(uint32_t *)((char *)area_of(t.mem) + 32 + 4), 8);
	ck_assert_uint_eq(fill_pages(), 0);
	n = client_holds(hold);
	ck_assert_uint_eq(n, t.nheld);
	ck_assert_int_eq(resume_live(t.took), 0);
	expect_exact(t.core.heap, hold, n, 0);
	ck_assert_int_eq(resume_live(zero), 0);
	expect_exact(t.core.heap, hold, n, 0);
}
END_TEST

/* Bytes of the metadata, the area included, to compare. */
static void *snap(void)
{
	void *p = malloc(t.size);

	ck_assert_ptr_nonnull(p);
	memcpy(p, t.mem, t.size);
	return p;
}

static void expect_refused(int want)
{
	void *before = snap();

	ck_assert_int_eq(resume_live(t.took), want);
	ck_assert_int_eq(memcmp(before, t.mem, t.size), 0);
	free(before);
	heap_check(t.core.heap);
}

/* The record's fields, by their offsets in magazine.c's layout. */
#define REC_OWNER 8
#define REC_REVOKE_CLS 16
#define REC_CUR 32
#define REC_SHADOW 88

static uint32_t *rec32(unsigned int off)
{
	return (uint32_t *)((char *)area_of(t.mem) + off);
}

static uint64_t *shadow(unsigned int c, unsigned int i)
{
	return (uint64_t *)((char *)area_of(t.mem) + REC_SHADOW) +
	       c * MAG_RING_CAP + i;
}

START_TEST(test_bad_area)
{
	uint32_t *head0 = rec32(REC_CUR), *seen0 = rec32(REC_CUR + 4);
	uint32_t saved;
	uint64_t s;

	prepare();
	ck_assert_uint_eq(*seen0, 5);
	ck_assert_uint_eq(*head0, 8);
	/* Another owner's slot, or never a record. */
	saved = *rec32(REC_OWNER);
	*rec32(REC_OWNER) = t.b;
	expect_refused(-ENOENT);
	*rec32(REC_OWNER) = saved;
	*rec32(0) ^= 1;
	expect_refused(-ENOENT);
	*rec32(0) ^= 1;
	/* Impossible cursors. */
	*head0 = *seen0 + MAG_RING_CAP + 1;
	expect_refused(-EUCLEAN);
	*head0 = *seen0 - 1;
	expect_refused(-EUCLEAN);
	*head0 = 8;
	*rec32(REC_REVOKE_CLS) = MAG_NCLASSES + 1;
	expect_refused(-EUCLEAN);
	*rec32(REC_REVOKE_CLS) = 1;	/* its index is not seen */
	*rec32(REC_REVOKE_CLS + 4) = 7;
	expect_refused(-EUCLEAN);
	*rec32(REC_REVOKE_CLS) = 0;
	*rec32(REC_REVOKE_CLS + 4) = 0;
	/* Slots: b's span, a HELD one, another class, twice, garbage. */
	s = *shadow(0, 6);
	*shadow(0, 6) = t.boff[0];
	expect_refused(-EUCLEAN);
	*shadow(0, 6) = t.held[t.nheld - 1];
	expect_refused(-EUCLEAN);
	*shadow(0, 6) = *shadow(1, 2);
	expect_refused(-EUCLEAN);
	*shadow(0, 6) = *shadow(0, 7);
	expect_refused(-EUCLEAN);
	*shadow(0, 6) = s + 1;
	expect_refused(-EUCLEAN);
	*shadow(0, 6) = UINT64_MAX;
	expect_refused(-EUCLEAN);
	*shadow(0, 6) = s;
	/* Restored: it resumes. */
	ck_assert_int_eq(resume_live(t.took), 0);
	ck_assert_uint_eq(fill_pages(), 0);
	expect_b(t.core.heap);
}
END_TEST

static Suite *magazine_resume_suite(void)
{
	Suite *s = suite_create("magazine_resume");
	TCase *tc = tcase_create("kill");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kill_kick);
	tcase_add_test(tc, test_kill_sync);
	tcase_add_test(tc, test_kill_idle);
	tcase_add_test(tc, test_kill_shrink);
	suite_add_tcase(s, tc);
	tc = tcase_create("resume");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_counts);
	tcase_add_loop_test(tc, test_bad_took, 0, 4);
	tcase_add_test(tc, test_took_behind);
	tcase_add_test(tc, test_bad_area);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run_suite(magazine_resume_suite());
}
