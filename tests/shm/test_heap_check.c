// SPDX-License-Identifier: MIT
/*
 * Tests for shm/heap_check.c: each invariant of heap_internal.h, broken
 * by hand in a small heap, makes heap_check() abort (SIGABRT: never a
 * crash, never a hang), and the heap left alone passes.
 */
#include <signal.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"
#include "tests/shm/objects.h"

/*
 * In a 1024-page arena grown to 768 pages: used [0,3) o1, free [3,203),
 * used [203,205) o2, free [205,210), used [210,211) o1, used [211,511)
 * o2, free [511,768).  Two large free spans, so the tree has a link.
 */
static void corrupt_layout(void)
{
	uint64_t b, d, g;

	alloc(3);
	b = alloc(200);
	alloc_at(2, o2, 0);
	d = alloc(5);
	alloc(1);
	alloc_at(300, o2, 0);
	g = alloc(150);
	free_at(b, 1);
	free_at(d, 1);
	free_at(g, 1);
	ck_assert_uint_eq(b, 3 * PG);
	ck_assert_uint_eq(d, 205 * PG);
	ck_assert_uint_eq(g, 511 * PG);
	ck_assert_uint_eq(h->meta->grown, 768);
	ck_assert_uint_eq(span_val(h, 511), 257);
}

static void corrupt_setup(void)
{
	mem_setup();
	corrupt_layout();
}

START_TEST(test_check_passes)
{
	heap_check(h);
}
END_TEST

/* H1 */
START_TEST(test_check_layout)
{
	h->meta->layout.small += PG;
	heap_check(h);
}
END_TEST

START_TEST(test_check_counter)
{
	h->meta->idle++;
	heap_check(h);
}
END_TEST

START_TEST(test_check_interior_mark)
{
	heap_tx_begin(h);	/* span_set() logs its store */
	span_set(h, 1, SPAN_USED, 1);
	heap_tx_end(h);
	heap_check(h);
}
END_TEST

START_TEST(test_check_released_bit_in_use)
{
	bit_set(h->released, 0);
	heap_check(h);
}
END_TEST

START_TEST(test_check_freehead_bit)
{
	bit_clear(h->freehead, 3);
	heap_check(h);
}
END_TEST

START_TEST(test_check_small_index)
{
	hbm_clear(&h->small[5], 205 / 64);
	heap_check(h);
}
END_TEST

START_TEST(test_check_small_index_extra)
{
	/* Group 1 holds no free 7-page span. */
	hbm_set(&h->small[7], 1);
	heap_check(h);
}
END_TEST

START_TEST(test_check_tree)
{
	h->meta->tree_root = SPAN_NIL;
	heap_check(h);
}
END_TEST

START_TEST(test_check_adjacent_free)
{
	/* Split the free 200-page span in two that do not merge. */
	heap_tx_begin(h);	/* span_set() logs its stores */
	span_set(h, 3, SPAN_FREE, 100);
	span_set(h, 102, SPAN_TAIL, 3);
	span_set(h, 103, SPAN_FREE, 100);
	span_set(h, 202, SPAN_TAIL, 103);
	heap_tx_end(h);
	heap_check(h);
}
END_TEST

/* P3: all of an interior entry is zero, not only its kind. */
START_TEST(test_check_interior_payload)
{
	h->spans[100].use.owner = 9;
	heap_check(h);
}
END_TEST

/* P3: entries past the heap are zero, not only the first. */
START_TEST(test_check_entry_past_heap)
{
	h->spans[h->meta->grown + 3].use.next = 1;
	heap_check(h);
}
END_TEST

/* R1 and F1 past the heap. */
START_TEST(test_check_released_past_heap)
{
	bit_set(h->released, h->meta->grown + 10);
	heap_check(h);
}
END_TEST

START_TEST(test_check_freehead_past_heap)
{
	bit_set(h->freehead, 1000);
	heap_check(h);
}
END_TEST

/*
 * F3 past the heap, in a heap whose index has words past the grown
 * groups: 65536 pages are 1024 groups, 16 leaf words; 16384 grown are
 * 256 groups, 4 words.
 */
static void big_setup(void)
{
	mem_start(UINT64_C(1) << 16, false, META_MEMFD);
	alloc(1);
	ck_assert_uint_eq(h->meta->grown, 16384);
	ck_assert_uint_eq(h->small[9].nlevels, 2);
}

START_TEST(test_check_small_leaf_past_heap)
{
	hbm_set(&h->small[9], 900);
	heap_check(h);
}
END_TEST

START_TEST(test_check_small_summary_past_heap)
{
	bit_set(h->small[9].level[1], 10);
	heap_check(h);
}
END_TEST

/*
 * F4: a link back up the tree, or to the node itself, is a cycle: it is
 * caught, not recursed into until the stack overflows.
 */
START_TEST(test_check_tree_link_up)
{
	uint32_t root = h->meta->tree_root, child;
	struct span_node *rn = &h->spans[root + span_val(h, root) - 1].node;
	struct span_node *cn;

	child = rn->left != SPAN_NIL ? rn->left : rn->right;
	ck_assert_uint_ne(child, SPAN_NIL);
	cn = &h->spans[child + span_val(h, child) - 1].node;
	cn->left = root;
	cn->right = root;
	heap_check(h);
}
END_TEST

START_TEST(test_check_tree_self_link)
{
	uint32_t root = h->meta->tree_root;

	h->spans[root + span_val(h, root) - 1].node.left = root;
	heap_check(h);
}
END_TEST

/* O1: the ids of the slots, and the slots past the ones used. */
START_TEST(test_check_owner_id_twice)
{
	h->owners[owner_slot(h, o2)].id = o1;
	heap_check(h);
}
END_TEST

START_TEST(test_check_owner_past_used)
{
	h->owners[h->meta->owners_hwm + 3].key = 1;
	heap_check(h);
}
END_TEST

/* O1: a cycle in the queue of free slots. */
START_TEST(test_check_owner_queue_cycle)
{
	uint32_t a, b;

	ck_assert_int_eq(heap_owner_add(h, "a", 0, &a), 0);
	ck_assert_int_eq(heap_owner_add(h, "b", 0, &b), 0);
	ck_assert_int_eq(heap_owner_remove(h, a), 0);
	ck_assert_int_eq(heap_owner_remove(h, b), 0);
	heap_check(h);
	h->owners[owner_slot(h, b)].next_free = owner_slot(h, a);
	heap_check(h);
}
END_TEST

/* O2: the counts of an owner. */
START_TEST(test_check_owner_pages)
{
	h->owners[owner_slot(h, o1)].npages++;
	heap_check(h);
}
END_TEST

/*
 * O2: o1's list is 210 -> 0.  Linked into a ring whose every link is
 * matched by its back link, it would send heap_free_owner() round for
 * ever; the walk from the head catches it.
 */
START_TEST(test_check_owner_list_ring)
{
	ck_assert_uint_eq(h->owners[owner_slot(h, o1)].first, 210);
	ck_assert_uint_eq(h->spans[210].use.next, 0);
	h->spans[0].use.next = 210;
	h->spans[210].use.prev = 0;
	heap_check(h);
}
END_TEST

/* O3: a span of o1 on no list, o1's counts made to match its list. */
START_TEST(test_check_owner_orphan)
{
	struct heap_owner_rec *o = &h->owners[owner_slot(h, o1)];

	o->first = 0;
	o->nspans--;
	o->npages--;
	h->spans[0].use.prev = SPAN_NIL;
	h->spans[210].use.next = SPAN_NIL;
	heap_check(h);
}
END_TEST

/* O3: a span of an owner that is not live. */
START_TEST(test_check_owner_dead)
{
	h->owners[owner_slot(h, o1)].id = 0;
	heap_check(h);
}
END_TEST

/*
 * Magazine marks, over corrupt_setup()'s heap: [205, 209) FILL of o1,
 * [3, 5) HELD of o2; free [5, 203) (dirty) and [209, 210).  Over a
 * memfd, whose holes heap_check() does not read, or plain memory
 * without the metadata hooks, which it reads whole.
 */
static void mag_marks(void)
{
	struct heap_span s;

	ck_assert_int_eq(heap_mag_alloc(h, 4, o1, 0, &s), 0);
	ck_assert_uint_eq(s.off, 205 * PG);
	ck_assert_int_eq(heap_mag_alloc(h, 2, o2, 0, &s), 0);
	ck_assert_uint_eq(s.off, 3 * PG);
	ck_assert_int_eq(heap_mag_move(h, s.off, o2, 2, HEAP_MAG_FILL,
				       HEAP_MAG_HELD), 0);
	ck_assert_uint_eq(h->meta->mag_pages, 6);
	ck_assert_uint_eq(h->meta->mag_fill_pages, 4);
	heap_check(h);
}

static void mag_setup(void)
{
	corrupt_setup();
	mag_marks();
}

static void mag_plain_setup(void)
{
	mem_start(1024, true, META_PLAIN);
	ck_assert_int_eq(heap_set_grow_pages(h, 256), 0);
	corrupt_layout();
	mag_marks();
}

START_TEST(test_check_mag_passes)
{
	heap_check(h);
}
END_TEST

/* M1: a mark on a free span's head, its pages counted. */
START_TEST(test_check_mag_free_head)
{
	bit_set(h->mag, 5);
	h->meta->mag_pages += span_val(h, 5);
	heap_check(h);
}
END_TEST

/* M1: a mark inside a marked span. */
START_TEST(test_check_mag_interior)
{
	bit_set(h->mag, 206);
	heap_check(h);
}
END_TEST

START_TEST(test_check_mag_past_heap)
{
	bit_set(h->mag, h->meta->grown + 10);
	heap_check(h);
}
END_TEST

START_TEST(test_check_magfill_past_heap)
{
	bit_set(h->magfill, 1000);
	heap_check(h);
}
END_TEST

/* M1: FILL without the mag bit, on an ordinary span, pages counted. */
START_TEST(test_check_magfill_without_mag)
{
	bit_set(h->magfill, 0);
	h->meta->mag_fill_pages += 3;
	heap_check(h);
}
END_TEST

/* M1: a FILL span that lost its mag bit, counts made to match. */
START_TEST(test_check_mag_fill_lost_mag)
{
	bit_clear(h->mag, 205);
	h->meta->mag_pages -= 4;
	heap_check(h);
}
END_TEST

/* M1: a magfill bit inside a span. */
START_TEST(test_check_magfill_interior)
{
	bit_set(h->magfill, 4);
	heap_check(h);
}
END_TEST

/* M1: a mark on the scavenger's held run. */
START_TEST(test_check_mag_held_run)
{
	struct heap_cursor cursor = { 0, 0 };
	struct heap_take t;

	ck_assert(heap_scavenge_take(h, 10, 0, 8, &cursor, &t));
	ck_assert_uint_eq(t.page, 5);
	heap_check(h);
	bit_set(h->mag, 5);
	h->meta->mag_pages += 8;
	heap_check(h);
}
END_TEST

/* M2: the counts, one page off. */
START_TEST(test_check_mag_pages_count)
{
	h->meta->mag_pages++;
	heap_check(h);
}
END_TEST

START_TEST(test_check_mag_fill_pages_count)
{
	h->meta->mag_fill_pages--;
	heap_check(h);
}
END_TEST

/* M2: HELD made FILL by its bit alone. */
START_TEST(test_check_mag_fill_uncounted)
{
	bit_set(h->magfill, 3);
	heap_check(h);
}
END_TEST

/*
 * Objects, in slots: a (0) sealed by o1, o2 holding two references;
 * b (1) OPEN of o1; c (2) sealed by o2, o1 holding one, deleted; d (3)
 * sealed by o1, unreferenced; slot 4 free, and a reference record free.
 */
static struct heap_obj_info oa, ob, oc, od;

static void objects_setup(void)
{
	struct heap_obj_info x;

	obj_setup();
	oa = obj_sealed(o1, "a", PG);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	ck_assert_int_eq(obj_get(o2, "a", &x), 0);
	ob = obj_create(o1, "b", 2 * PG);
	oc = obj_sealed(o2, "c", PG);
	ck_assert_int_eq(obj_get(o1, "c", &x), 0);
	ck_assert_int_eq(obj_delete("c", 0), 0);
	od = obj_sealed(o1, "d", 1);
	ck_assert_int_eq(heap_obj_release(h, o1, od.id, 0), 0);
	x = obj_sealed(o1, "e", 1);
	ck_assert_int_eq(obj_delete("e", 0), 0);
	ck_assert_int_eq(heap_obj_release(h, o1, x.id, 0), 0);
	ck_assert_uint_eq(obj_slot(h, od.id), 3);
	ck_assert_uint_eq(h->meta->obj_free, 5);
	ck_assert_uint_ne(h->meta->ref_free, 0);
}

static uint32_t bucket(const struct heap_obj_info *x)
{
	return (uint32_t)(h->objs[obj_slot(h, x->id)].hash &
			  (h->meta->layout.obj_buckets - 1));
}

START_TEST(test_check_objects_pass)
{
	heap_check(h);
}
END_TEST

/* H1 */
START_TEST(test_check_obj_max)
{
	h->meta->max_objects = HEAP_OBJECTS_MAX + 1;
	heap_check(h);
}
END_TEST

/* T1 */
START_TEST(test_check_obj_past_used)
{
	h->objs[h->meta->obj_hwm + 2].size = 1;
	heap_check(h);
}
END_TEST

START_TEST(test_check_obj_free_data)
{
	h->objs[4].size = 1;
	heap_check(h);
}
END_TEST

START_TEST(test_check_obj_free_cycle)
{
	h->objs[4].next = 5;
	heap_check(h);
}
END_TEST

START_TEST(test_check_obj_id_future)
{
	h->objs[0].id += UINT64_C(100) << h->meta->obj_slot_bits;
	heap_check(h);
}
END_TEST

/* T2 */
START_TEST(test_check_obj_state)
{
	h->objs[0].state = HEAP_OBJ_OPEN | HEAP_OBJ_SEALED;
	heap_check(h);
}
END_TEST

START_TEST(test_check_obj_name_control)
{
	h->objs[0].name[0] = '\n';
	h->objs[0].hash = obj_name_hash(h, "\n", 1);
	heap_check(h);
}
END_TEST

START_TEST(test_check_obj_hash)
{
	h->objs[0].hash ^= UINT64_C(1) << 40;
	heap_check(h);
}
END_TEST

START_TEST(test_check_obj_pages)
{
	h->objs[0].size = 3 * PG;
	h->meta->obj_bytes += 2 * PG;
	heap_check(h);
}
END_TEST

/* T3: a's span names d's slot. */
START_TEST(test_check_obj_span_link)
{
	h->spans[oa.off / PG].use.next = 3;
	heap_check(h);
}
END_TEST

/* T3, O3: a's span says it is o1's, on no list of o1. */
START_TEST(test_check_obj_span_owner)
{
	h->spans[oa.off / PG].use.owner = o1;
	heap_check(h);
}
END_TEST

/* T4: b, OPEN, held by o2 instead of its creator. */
START_TEST(test_check_obj_open_not_creator)
{
	h->refs[h->objs[1].refs_first - 1].owner = o2;
	heap_check(h);
}
END_TEST

/* T4: d deleted, and so freed, but for its record and span. */
START_TEST(test_check_obj_deleted_unreferenced)
{
	uint32_t *l = &h->obj_hash[bucket(&od)];

	while (*l != 4)
		l = &h->objs[*l - 1].next;
	*l = h->objs[3].next;
	h->objs[3].next = 0;
	h->objs[3].state |= OBJ_DELETED;
	h->meta->obj_sealed--;
	h->meta->obj_deleted++;
	heap_check(h);
}
END_TEST

/* T5: a's chain lost. */
START_TEST(test_check_obj_chain_lost)
{
	h->obj_hash[bucket(&oa)] = 0;
	heap_check(h);
}
END_TEST

/* T5: d named a, in a's chain, hashed as a. */
START_TEST(test_check_obj_name_twice)
{
	uint32_t *l = &h->obj_hash[bucket(&od)];

	while (*l != 4)
		l = &h->objs[*l - 1].next;
	*l = h->objs[3].next;
	h->objs[3].name[0] = 'a';
	h->objs[3].hash = h->objs[0].hash;
	h->objs[3].next = h->obj_hash[bucket(&oa)];
	h->obj_hash[bucket(&oa)] = 4;
	heap_check(h);
}
END_TEST

/* T5: the deleted c back on a chain. */
START_TEST(test_check_obj_deleted_chained)
{
	h->objs[2].next = h->obj_hash[bucket(&oc)];
	h->obj_hash[bucket(&oc)] = 3;
	heap_check(h);
}
END_TEST

/* M1: a mark on an object's span, its page counted. */
START_TEST(test_check_obj_span_mag)
{
	bit_set(h->mag, oa.off / PG);
	h->meta->mag_pages++;
	heap_check(h);
}
END_TEST

/* T6 */
START_TEST(test_check_obj_counts)
{
	h->meta->obj_open++;
	heap_check(h);
}
END_TEST

/* E1 */
START_TEST(test_check_ref_past_used)
{
	h->refs[h->meta->ref_hwm + 1].count = 1;
	heap_check(h);
}
END_TEST

START_TEST(test_check_ref_dead_owner)
{
	uint32_t gone;

	ck_assert_int_eq(heap_owner_add(h, "gone", 0, &gone), 0);
	ck_assert_int_eq(heap_owner_remove(h, gone), 0);
	h->refs[h->objs[0].refs_first - 1].owner = gone;
	heap_check(h);
}
END_TEST

START_TEST(test_check_ref_free_list)
{
	h->meta->ref_free = 0;
	heap_check(h);
}
END_TEST

/* E2: a record counts one more than its object has. */
START_TEST(test_check_ref_count)
{
	h->refs[h->objs[0].refs_first - 1].count++;
	h->meta->refs_total++;
	heap_check(h);
}
END_TEST

START_TEST(test_check_ref_object_list)
{
	h->objs[0].refs_first = 0;
	heap_check(h);
}
END_TEST

/* E3 */
START_TEST(test_check_ref_chains_lost)
{
	memset(h->ref_hash, 0, h->meta->layout.ref_buckets * 4);
	heap_check(h);
}
END_TEST

/* E4 */
START_TEST(test_check_ref_owner_count)
{
	h->owners[owner_slot(h, o2)].nrefs++;
	heap_check(h);
}
END_TEST

START_TEST(test_check_ref_owner_list)
{
	struct heap_owner_rec *o = &h->owners[owner_slot(h, o1)];

	o->refs = h->refs[o->refs - 1].onext;
	h->refs[o->refs - 1].oprev = 0;
	o->nrefs--;
	heap_check(h);
}
END_TEST

/* O1: a free owner slot with references. */
START_TEST(test_check_owner_free_refs)
{
	uint32_t gone;

	ck_assert_int_eq(heap_owner_add(h, "gone", 0, &gone), 0);
	ck_assert_int_eq(heap_owner_remove(h, gone), 0);
	h->owners[owner_slot(h, gone)].nrefs = 1;
	heap_check(h);
}
END_TEST

/*
 * The LRU: candidates p, q, r in slots 0, 1, 2, in that order; s in
 * slot 3 evictable and sealed but held by its creator, so not one.
 */
static void lru_setup(void)
{
	struct heap_obj_info x;

	obj_setup();
	obj_candidate(o1, "p", PG);
	obj_candidate(o1, "q", 2 * PG);
	obj_candidate(o2, "r", PG);
	x = obj_create_flags(o1, "s", PG, HEAP_OBJ_EVICTABLE);
	ck_assert_int_eq(heap_obj_seal(h, o1, x.id), 0);
	ck_assert_uint_eq(h->meta->lru_head, 1);
	ck_assert_uint_eq(h->meta->lru_tail, 3);
	ck_assert_uint_eq(h->meta->lru_count, 3);
	ck_assert_uint_eq(h->objs[3].lru_seq, 0);
}

START_TEST(test_check_lru_passes)
{
	heap_check(h);
}
END_TEST

/* L1 */
START_TEST(test_check_lru_back_link)
{
	h->objs[1].lru_prev = 0;
	heap_check(h);
}
END_TEST

START_TEST(test_check_lru_cycle)
{
	h->objs[2].lru_next = 1;
	heap_check(h);
}
END_TEST

START_TEST(test_check_lru_tail)
{
	h->meta->lru_tail = 2;
	heap_check(h);
}
END_TEST

START_TEST(test_check_lru_count)
{
	h->meta->lru_count++;
	heap_check(h);
}
END_TEST

START_TEST(test_check_lru_pages)
{
	h->meta->lru_pages--;
	heap_check(h);
}
END_TEST

START_TEST(test_check_lru_order)
{
	uint64_t t = h->objs[0].lru_seq;

	h->objs[0].lru_seq = h->objs[1].lru_seq;
	h->objs[1].lru_seq = t;
	heap_check(h);
}
END_TEST

START_TEST(test_check_lru_stamp_future)
{
	h->objs[2].lru_seq = h->meta->lru_seq + 1;
	heap_check(h);
}
END_TEST

/* q, a candidate, is off the list, its counts with it. */
START_TEST(test_check_lru_candidate_lost)
{
	h->objs[0].lru_next = 3;
	h->objs[2].lru_prev = 1;
	h->objs[1].lru_prev = h->objs[1].lru_next = 0;
	h->objs[1].lru_seq = 0;
	h->meta->lru_count--;
	h->meta->lru_pages -= 2;
	heap_check(h);
}
END_TEST

/* s, held, has a stamp as if it were listed. */
START_TEST(test_check_lru_stray_stamp)
{
	h->objs[3].lru_seq = 1;
	heap_check(h);
}
END_TEST

/* r, listed, is no longer evictable. */
START_TEST(test_check_lru_not_candidate)
{
	h->objs[2].state &= ~OBJ_EVICTABLE;
	heap_check(h);
}
END_TEST

#ifdef SPANHEAP_DEBUG
/* A debug build checks at the end of every call that changes the heap. */
START_TEST(test_debug_checks_every_call)
{
	uint32_t o;

	h->meta->idle++;
	heap_owner_add(h, "any", 0, &o);
}
END_TEST

START_TEST(test_debug_checks_mag_calls)
{
	h->meta->mag_pages++;
	heap_mag_move(h, 205 * PG, o1, 4, HEAP_MAG_FILL, HEAP_MAG_HELD);
}
END_TEST

START_TEST(test_debug_checks_object_calls)
{
	h->meta->obj_bytes++;
	heap_obj_seal(h, o1, ob.id);
}
END_TEST

START_TEST(test_debug_checks_evict)
{
	struct heap_obj_info x;

	h->meta->lru_pages++;
	heap_obj_evict(h, 0, &x);
}
END_TEST
#endif

static Suite *heap_check_suite(void)
{
	Suite *s = suite_create("heap_check");
	TCase *tc;

	tc = tcase_create("ok");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test(tc, test_check_passes);
	suite_add_tcase(s, tc);

	tc = tcase_create("map");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_layout, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_counter, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_interior_mark, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_interior_payload, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_entry_past_heap, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_released_bit_in_use,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_released_past_heap,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_adjacent_free, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_freehead_bit, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_freehead_past_heap,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_index, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_index_extra, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_tree, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_tree_link_up, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_tree_self_link, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("index_past");
	tcase_add_checked_fixture(tc, big_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_small_leaf_past_heap,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_small_summary_past_heap,
				    SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("owners");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_owner_id_twice, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_past_used, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_queue_cycle,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_pages, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_list_ring, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_orphan, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_dead, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("magazines");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test(tc, test_check_mag_passes);
	tcase_add_test_raise_signal(tc, test_check_mag_free_head, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_interior, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_past_heap, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_magfill_past_heap,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_magfill_without_mag,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_fill_lost_mag,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_magfill_interior, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_held_run, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_pages_count, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_fill_pages_count,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_fill_uncounted,
				    SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("magazines_plain");
	tcase_add_checked_fixture(tc, mag_plain_setup, mem_teardown);
	tcase_add_test(tc, test_check_mag_passes);
	tcase_add_test_raise_signal(tc, test_check_mag_interior, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_past_heap, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_magfill_without_mag,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_mag_pages_count, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("objects");
	tcase_add_checked_fixture(tc, objects_setup, mem_teardown);
	tcase_add_test(tc, test_check_objects_pass);
	tcase_add_test_raise_signal(tc, test_check_obj_max, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_past_used, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_free_data, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_free_cycle, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_id_future, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_state, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_name_control, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_hash, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_pages, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_span_link, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_span_owner, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_open_not_creator,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_deleted_unreferenced,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_chain_lost, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_name_twice, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_deleted_chained,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_counts, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_obj_span_mag, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("refs");
	tcase_add_checked_fixture(tc, objects_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_check_ref_past_used, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_dead_owner, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_free_list, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_count, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_object_list, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_chains_lost, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_owner_count, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_ref_owner_list, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_owner_free_refs, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("lru");
	tcase_add_checked_fixture(tc, lru_setup, mem_teardown);
	tcase_add_test(tc, test_check_lru_passes);
	tcase_add_test_raise_signal(tc, test_check_lru_back_link, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_cycle, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_tail, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_count, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_pages, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_order, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_stamp_future, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_candidate_lost,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_stray_stamp, SIGABRT);
	tcase_add_test_raise_signal(tc, test_check_lru_not_candidate,
				    SIGABRT);
	suite_add_tcase(s, tc);

#ifdef SPANHEAP_DEBUG
	tc = tcase_create("debug");
	tcase_add_checked_fixture(tc, corrupt_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_debug_checks_every_call, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("debug_magazines");
	tcase_add_checked_fixture(tc, mag_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_debug_checks_mag_calls, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("debug_objects");
	tcase_add_checked_fixture(tc, objects_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_debug_checks_object_calls,
				    SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("debug_lru");
	tcase_add_checked_fixture(tc, lru_setup, mem_teardown);
	tcase_add_test_raise_signal(tc, test_debug_checks_evict, SIGABRT);
	suite_add_tcase(s, tc);
#endif
	return s;
}

TEST_MAIN(heap_check_suite)
