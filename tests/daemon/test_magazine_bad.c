// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/magazine.c in process (tests/daemon/tmag.h): what the
 * daemon makes of what a client writes into its region.  Each kind of
 * bad entry in a return stack is counted, skipped, and changes no heap
 * figure but those the valid entries beside it change; a corrupt index
 * (a stack count above the cap, a fill tail behind what the daemon saw
 * consumed or past its head) stops the magazine, whoever finds it, and
 * leaves every span where it was, its client's until the client goes.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "tests/daemon/tmag.h"
#include "tests/lib/testlib.h"

/* ---- validation of what comes back */

enum bad_kind {
	BAD_GARBAGE,
	BAD_UNALIGNED,
	BAD_INSIDE,		/* the second page of a span */
	BAD_OUT_OF_RANGE,
	BAD_FAR_OUT,
	BAD_OTHER_OWNER,	/* a socket span of another client */
	BAD_OTHER_MAGAZINE,	/* a span another magazine handed out */
	BAD_OWN_SOCKET,		/* its own span, from the socket */
	BAD_FILL,		/* in its ring, not taken */
	BAD_CLASS,		/* its own HELD span of another class */
	BAD_FREED,		/* one it freed already (through the socket) */
	BAD_DUPLICATE,		/* the valid entry below it, again */
	BAD_KINDS
};

static const char *const bad_names[BAD_KINDS] = {
	"garbage", "unaligned", "inside a span", "out of range",
	"far out of range", "another owner's", "another magazine's",
	"its own socket span", "a FILL span", "wrong class size",
	"freed already", "a duplicate",
};

/* The spans the bad entries are made of. */
struct cast {
	struct tmag m2;		/* another magazine */
	uint64_t a[8];		/* class 0 spans of tm, HELD */
	uint64_t e;		/* a class 1 span of tm, HELD */
	uint64_t mine;		/* a HELD span of m2 */
	uint64_t other;		/* a socket span of another owner */
	uint32_t other_owner;
	uint64_t own;		/* a socket span of tm's owner */
};

/*
 * Class 0 of tm at target 4 with its ring full and 8 spans held, class
 * 1 with one held; a second magazine with one held; two socket spans.
 */
static void cast_make(struct cast *k)
{
	struct heap_span s;
	struct heap *h;

	tm_open(&tm, MAXB);
	tm_open(&k->m2, MAXB);
	tm_grow(&tm, 0, 1, tm.t0);
	tm_take_n(&tm, 0, k->a, 4);
	tm_kick(&tm, tm.t0);
	tm_take_n(&tm, 0, k->a + 4, 4);
	tm_grow(&tm, 1, 1, tm.t0);
	k->e = tm_take(&tm, 1);
	tm_kick(&tm, tm.t0);
	tm_expect_n(&tm, 0, k->a, 8, HEAP_MAG_HELD);
	tm_expect_state(&tm, 1, k->e, HEAP_MAG_HELD);
	tm_expect_ring(&tm, 0, 4);
	tm_grow(&k->m2, 0, 1, k->m2.t0);
	k->mine = tm_take(&k->m2, 0);
	tm_sync(&k->m2);
	daemon_heap_lock(&tm_d.core);
	h = tm_d.core.heap;
	ck_assert_int_eq(heap_owner_add(h, "other", 3, &k->other_owner), 0);
	ck_assert_int_eq(heap_alloc(h, 1, 0, k->other_owner, daemon_now(), &s),
			 0);
	k->other = s.off;
	ck_assert_int_eq(heap_alloc(h, 1, 0, tm.owner, daemon_now(), &s), 0);
	k->own = s.off;
	daemon_heap_unlock(&tm_d.core);
}

/* The bad entry of @kind, and in @ret_ref the span it names, if one. */
static uint64_t bad_of(struct cast *k, enum bad_kind kind, uint64_t *ret_ref)
{
	uint64_t ring[MAG_RING_CAP];

	*ret_ref = 0;
	switch (kind) {
	case BAD_GARBAGE:
		return UINT64_C(0x5a5a5a5a5a5a5a5b);
	case BAD_UNALIGNED:
		*ret_ref = k->a[6];
		return k->a[6] + 8;
	case BAD_INSIDE:
		*ret_ref = k->e;
		return k->e + PAGE;
	case BAD_OUT_OF_RANGE:
		return ARENA;
	case BAD_FAR_OUT:
		return UINT64_MAX & ~(PAGE - 1);
	case BAD_OTHER_OWNER:
		return *ret_ref = k->other;
	case BAD_OTHER_MAGAZINE:
		return *ret_ref = k->mine;
	case BAD_OWN_SOCKET:
		return *ret_ref = k->own;
	case BAD_FILL:
		ck_assert_uint_eq(tm_ring_entries(&tm, 0, ring), 4);
		return *ret_ref = ring[2];
	case BAD_CLASS:
		return *ret_ref = k->e;
	case BAD_FREED:
		daemon_heap_lock(&tm_d.core);
		ck_assert_int_eq(heap_free(tm_d.core.heap, k->a[6], tm.owner,
					   daemon_now()),
				 0);
		daemon_heap_unlock(&tm_d.core);
		return k->a[6];
	case BAD_DUPLICATE:
		return k->a[4];
	case BAD_KINDS:
		break;
	}
	ck_abort();
	return 0;
}

/*
 * On the stack 4 valid spans (the limit), one more valid, the bad entry,
 * one more valid.  The kick takes the top 3: both valid ones go to the
 * heap (the ring is full), the bad one is counted and skipped, and
 * nothing else changes: not the span it names, if any, nor any figure.
 */
START_TEST(test_bad_entry)
{
	struct heap_stats before, after;
	struct magazine_info mi;
	struct cast k;
	uint64_t bad, ref, ref_pages = 0, np = 0;
	uint32_t ref_owner = 0, o = 0;
	int ref_state = -1;

	cast_make(&k);
	bad = bad_of(&k, (enum bad_kind)_i, &ref);
	if (ref)
		ref_state = tm_state(ref, &ref_owner, &ref_pages);
	for (int i = 0; i < 5; i++)
		tm_push(&tm, 0, k.a[i]);
	tm_push(&tm, 0, bad);
	tm_push(&tm, 0, k.a[5]);
	before = tm_hstats();
	tm_kick(&tm, tm.t0 + 1);
	after = tm_hstats();
	mi = tm_info(&tm);
	ck_assert_msg(mi.bad == 1, "%s: bad %llu", bad_names[_i],
		      (unsigned long long)mi.bad);
	ck_assert(!mi.dead);
	ck_assert_uint_eq(mi.returned, 2);
	/* Exactly what the two valid entries do: two pages to the heap. */
	ck_assert_uint_eq(before.inuse - after.inuse, 2 * PAGE);
	ck_assert_uint_eq(before.objects - after.objects, 2);
	ck_assert_uint_eq(after.idle - before.idle, 2 * PAGE);
	ck_assert_uint_eq(before.mag - after.mag, 2 * PAGE);
	ck_assert_uint_eq(after.mag_fill, before.mag_fill);
	ck_assert_uint_eq(after.owners, before.owners);
	tm_expect_free(k.a[4]);
	tm_expect_free(k.a[5]);
	tm_expect_n(&tm, 0, k.a, 4, HEAP_MAG_HELD);
	ck_assert_uint_eq(tm_stack_count(&tm, 0), 4);
	tm_expect_ring(&tm, 0, 4);
	if (ref) {
		ck_assert_int_eq(tm_state(ref, &o, &np), ref_state);
		ck_assert_uint_eq(o, ref_owner);
		ck_assert_uint_eq(np, ref_pages);
	}
	/* The magazine goes on serving. */
	ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0 + 2), 0);
	tm_expect_ring(&tm, 0, 8);
	tm_check();
	tm_close(&k.m2);
	tm_close(&tm);
	tm_drop_owner(k.other_owner);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
}
END_TEST

/* A duplicate whose first copy went back into the ring stays there once. */
START_TEST(test_duplicate_recycled)
{
	uint64_t a[4], got[4];

	tm_open(&tm, MAXB);
	tm_grow(&tm, 0, 1, tm.t0);
	tm_take_n(&tm, 0, a, 4);
	tm_kick(&tm, tm.t0);
	tm_take_n(&tm, 0, got, 4);		/* the ring is empty now */
	for (int i = 0; i < 4; i++)
		tm_push(&tm, 0, got[i]);
	tm_push(&tm, 0, a[0]);
	tm_push(&tm, 0, a[0]);
	/* Limit 4, stack 6: a[0] back into the ring, then the copy. */
	tm_kick(&tm, tm.t0);
	ck_assert_uint_eq(tm_info(&tm).bad, 1);
	ck_assert_uint_eq(tm_info(&tm).returned, 1);
	ck_assert_uint_eq(tm_stack_count(&tm, 0), 4);
	tm_expect_state(&tm, 0, a[0], HEAP_MAG_FILL);
	/* The ring was topped up to 4: a[0] and three new, all distinct. */
	tm_expect_ring(&tm, 0, 4);
	ck_assert_uint_eq(tm_take(&tm, 0), a[0]);
	tm_check();
	tm_close(&tm);
}
END_TEST

enum corrupt_kind {
	CORRUPT_STACK_COUNT,	/* above MAG_STACK_CAP */
	CORRUPT_TAIL_BEHIND,	/* behind what the daemon saw consumed */
	CORRUPT_TAIL_PAST,	/* past the daemon's head */
	CORRUPT_KINDS
};

static const char *const corrupt_names[CORRUPT_KINDS] = {
	"stack count", "tail behind", "tail past the head",
};

/*
 * A corrupt index stops the magazine at once, whoever finds it (a
 * tm_kick, a refill or a tm_tick), and nothing of it is served again; its
 * spans stay its client's until the client goes.
 */
static void corrupt_class(struct tmag *t, unsigned int c,
			  enum corrupt_kind k)
{
	struct mag_class *cls = &t->r->cls[c];
	uint32_t tail = atomic_load(&cls->fill.tail);

	switch (k) {
	case CORRUPT_STACK_COUNT:
		atomic_store(&cls->ret.ctl,
			     MAG_STACK_WORD(MAG_STACK_CAP + 1, 7));
		break;
	case CORRUPT_TAIL_BEHIND:
		atomic_store(&cls->fill.tail, tail - 1);
		break;
	case CORRUPT_TAIL_PAST:
		atomic_store(&cls->fill.tail,
			     atomic_load(&cls->fill.head) + 1);
		break;
	case CORRUPT_KINDS:
		ck_abort();
	}
}

static void corrupt(struct tmag *t, enum corrupt_kind k)
{
	corrupt_class(t, 0, k);
}

START_TEST(test_corrupt_stops)
{
	enum corrupt_kind k = (enum corrupt_kind)(_i % CORRUPT_KINDS);
	unsigned int finder = (unsigned int)_i / CORRUPT_KINDS;
	struct heap_stats before, after;
	struct magazine_info mi;
	uint64_t a[2], ring[MAG_RING_CAP];

	tm_open(&tm, MAXB);
	tm_grow(&tm, 0, 1, tm.t0);
	tm_grow(&tm, 2, 1, tm.t0);
	tm_take_n(&tm, 0, a, 2);
	tm_kick(&tm, tm.t0);
	tm_expect_n(&tm, 0, a, 2, HEAP_MAG_HELD);
	tm_push(&tm, 0, a[1]);
	ck_assert_uint_eq(tm_ring_entries(&tm, 0, ring), 4);
	corrupt(&tm, k);
	before = tm_hstats();
	if (finder == 0)
		tm_kick(&tm, tm.t0 + 1);
	else if (finder == 1)
		ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0 + 1),
				 -ENODEV);
	else
		tm_tick(&tm, tm.t0 + 1, IDLE_NS);
	after = tm_hstats();
	mi = tm_info(&tm);
	ck_assert_msg(mi.dead, "%s: not stopped", corrupt_names[k]);
	ck_assert_uint_eq(mi.bad, 1);
	ck_assert(atomic_load(&tm.r->st.flags) & MAG_F_DEAD);
	/* Nothing moved: the spans are as they were, the client's. */
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.mag, before.mag);
	ck_assert_uint_eq(after.mag_fill, before.mag_fill);
	tm_expect_n(&tm, 0, a, 2, HEAP_MAG_HELD);
	tm_expect_n(&tm, 0, ring, 4, HEAP_MAG_FILL);
	/* And nothing is served again, even once the index is mended. */
	ck_assert_int_eq(tm_refill(&tm, 0, PROTO_MAG_EMPTY, tm.t0), -ENODEV);
	ck_assert_int_eq(tm_refill(&tm, 3, PROTO_MAG_EMPTY, tm.t0), -ENODEV);
	atomic_store(&tm.r->cls[0].ret.ctl, MAG_STACK_WORD(0, 0));
	tm_kick(&tm, tm.t0 + 3);
	tm_tick(&tm, tm.t0 + 4 * IDLE_NS, IDLE_NS);
	after = tm_hstats();
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.mag_fill, before.mag_fill);
	ck_assert_uint_eq(tm_info(&tm).bad, 1);
	tm_check();
	/* Its client's end frees every one of them. */
	tm_close(&tm);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
	ck_assert_uint_eq(tm_hstats().mag, 0);
}
END_TEST

/*
 * MemStats syncs too: a corrupt tail it finds stops the magazine, and
 * the figures it reads then say so, the corruption counted.
 */
START_TEST(test_corrupt_found_by_stats)
{
	struct magazine_info mi;

	tm_open(&tm, MAXB);
	tm_grow(&tm, 1, 1, tm.t0);
	corrupt_class(&tm, 1, (enum corrupt_kind)(CORRUPT_TAIL_BEHIND + _i));
	mi = tm_info(&tm);
	ck_assert(mi.dead);
	ck_assert_uint_eq(mi.bad, 1);
	ck_assert(atomic_load(&tm.r->st.flags) & MAG_F_DEAD);
	tm_close(&tm);
}
END_TEST

static Suite *magazine_bad_suite(void)
{
	Suite *s = suite_create("daemon-magazine-bad");
	TCase *tc;

	tc = tcase_create("entries");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_loop_test(tc, test_bad_entry, 0, BAD_KINDS);
	tcase_add_test(tc, test_duplicate_recycled);
	suite_add_tcase(s, tc);

	/* Each corruption, found by a kick, a refill and a tick. */
	tc = tcase_create("corrupt");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_loop_test(tc, test_corrupt_stops, 0, 3 * CORRUPT_KINDS);
	/* Both tails, found by the figures' sync. */
	tcase_add_loop_test(tc, test_corrupt_found_by_stats, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_bad_suite)
