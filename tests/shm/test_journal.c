// SPDX-License-Identifier: MIT
/*
 * Tests for shm/journal.c and shm/recover.c through the caller's side:
 * heap_tx_begin(), heap_tx_end(), heap_tx_log() of the caller's bytes,
 * the step hook, heap_recover() of a copy of the metadata taken mid
 * transaction (as a death there leaves it), a corrupt journal (refused,
 * nothing changed), held runs given back, and J1.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/testlib.h"
#include "tests/shm/mem.h"
#include "tests/shm/snap.h"

static unsigned char *before;

static void setup(void)
{
	struct heap_config cfg = { .arena_size = 256 * PG,
				   .max_owners = FIXTURE_OWNERS };
	struct heap_ops ops;

	memset(&mem, 0, sizeof(mem));
	mem.size = cfg.arena_size;
	mem.base = calloc(1, mem.size);
	ck_assert_ptr_nonnull(mem.base);
	mem_ops(&ops, true);
	snap_start(&cfg, &ops);
	before = malloc(snap.size);
	ck_assert_ptr_nonnull(before);
}

static void teardown(void)
{
	snap_stop();
	free(before);
	free(mem.base);
	mem.base = NULL;
}

/* The caller's bytes past the heap's layout. */
static unsigned char *extra(void)
{
	return snap.mem + h->meta->layout.size;
}

static uint64_t jcount(const struct heap *x)
{
	return x->journal->count_word & JOURNAL_OFF_MASK;
}

/* Recover snap.copy: it must succeed, pass heap_check() and equal @want. */
static struct heap_recovery recover_to(const unsigned char *want)
{
	struct heap_recovery rec;
	struct heap *c;

	ck_assert_int_eq(snap_recover(&c, &rec), 0);
	heap_check(c);
	ck_assert(journal_empty(c));
	ck_assert(snap_equal(snap.copy, want));
	heap_detach(c);
	return rec;
}

START_TEST(test_journal_undo_caller_bytes)
{
	unsigned char *x = extra();
	struct heap_recovery rec;

	memcpy(before, snap.mem, snap.size);
	heap_tx_begin(h);
	/* 10 bytes from 3: the words at 0 and 8. */
	heap_tx_log(h, x + 3, 10);
	memset(x + 3, 0xab, 10);
	/* 8 bytes from 100: the words at 96 and 104. */
	heap_tx_log(h, x + 100, 8);
	memset(x + 100, 0xcd, 8);
	ck_assert_uint_eq(jcount(h), 4);
	snap_take();
	rec = recover_to(before);
	ck_assert_uint_eq(rec.undone, 4);
	ck_assert_uint_eq(rec.runs, 0);
	heap_tx_end(h);
	/* Committed: nothing to undo, the new bytes stay. */
	ck_assert_uint_eq(jcount(h), 0);
	ck_assert(journal_empty(h));
	snap_take();
	rec = recover_to(snap.mem);
	ck_assert_uint_eq(rec.undone, 0);
	ck_assert_uint_eq(x[3], 0xab);
	heap_check(h);
}
END_TEST

START_TEST(test_journal_nests)
{
	uint64_t *w = (uint64_t *)(void *)extra();

	memcpy(before, snap.mem, snap.size);
	heap_tx_begin(h);
	heap_tx_log(h, &w[0], 8);
	w[0] = 1;
	heap_tx_begin(h);
	heap_tx_log(h, &w[1], 8);
	w[1] = 2;
	heap_tx_end(h);
	/* The inner end commits nothing: both are undone together. */
	ck_assert_uint_eq(jcount(h), 2);
	snap_take();
	ck_assert_uint_eq(recover_to(before).undone, 2);
	heap_tx_end(h);
	ck_assert_uint_eq(jcount(h), 0);
	heap_check(h);
}
END_TEST

START_TEST(test_journal_word_twice)
{
	uint64_t *w = (uint64_t *)(void *)extra();

	w[5] = 7;
	memcpy(before, snap.mem, snap.size);
	heap_tx_begin(h);
	heap_tx_log(h, &w[5], 8);
	w[5] = 8;
	heap_tx_log(h, &w[5], 4);
	w[5] = 9;
	/* Logged once a transaction: the first old value is the one. */
	ck_assert_uint_eq(jcount(h), 1);
	/* Unless the handle forgot it: then undo goes newest first. */
	heap_tx_log(h, &w[5 + TX_SEEN], 8);
	w[5 + TX_SEEN] = 1;
	heap_tx_log(h, &w[5], 8);
	w[5] = 10;
	ck_assert_uint_eq(jcount(h), 3);
	snap_take();
	ck_assert_uint_eq(recover_to(before).undone, 3);
	ck_assert_uint_eq(((uint64_t *)(void *)(snap.copy +
						h->meta->layout.size))[5],
			  7);
	heap_tx_end(h);
}
END_TEST

static unsigned int hook_calls;

static void count_hook(void *ctx)
{
	ck_assert_ptr_eq(ctx, &hook_calls);
	hook_calls++;
}

START_TEST(test_journal_hook)
{
	uint64_t *w = (uint64_t *)(void *)extra();

	hook_calls = 0;
	heap_tx_set_hook(h, count_hook, &hook_calls);
	heap_tx_begin(h);
	heap_tx_log(h, w, 64);	/* one range, one call */
	memset(w, 1, 64);
	ck_assert_uint_eq(hook_calls, 1);
	heap_tx_end(h);		/* and the commit */
	ck_assert_uint_eq(hook_calls, 2);
	/* An empty transaction commits nothing. */
	heap_tx_begin(h);
	heap_tx_end(h);
	ck_assert_uint_eq(hook_calls, 2);
	heap_tx_set_hook(h, NULL, NULL);
	heap_tx_begin(h);
	heap_tx_log(h, w, 8);
	heap_tx_end(h);
	ck_assert_uint_eq(hook_calls, 2);
}
END_TEST

/* A journal of two entries over the caller's bytes, in snap.copy. */
static void two_entries(void)
{
	uint64_t *w = (uint64_t *)(void *)extra();

	heap_tx_begin(h);
	heap_tx_log(h, &w[0], 16);
	w[0] = w[1] = 5;
	snap_take();
	heap_tx_end(h);
}

static struct heap_journal *copy_journal(void)
{
	return (struct heap_journal *)(void *)(snap.copy +
					       h->meta->layout.journal);
}

/* Make entry @i of the copy's journal name @off, with a valid check. */
static void set_entry(uint64_t i, uint64_t off)
{
	struct heap_journal *j = copy_journal();

	j->e[i].word = off | journal_entry_check(journal_key(h, j->seq), i, off,
						 j->e[i].old)
				     << JOURNAL_OFF_BITS;
}

static void set_count(uint64_t n)
{
	struct heap_journal *j = copy_journal();

	j->count_word = n | journal_count_check(journal_key(h, j->seq), n)
				    << JOURNAL_OFF_BITS;
}

/* Recovery of the copy, as it is now, is refused and changes nothing. */
static void refused(void)
{
	struct heap_recovery rec = { 1, 2, 3, 4 };
	struct heap *c;

	memcpy(before, snap.copy, snap.size);
	ck_assert_int_eq(snap_recover(&c, &rec), -EUCLEAN);
	ck_assert(!memcmp(before, snap.copy, snap.size));
	ck_assert_uint_eq(rec.undone, 1);
	ck_assert_uint_eq(rec.runs, 2);
}

START_TEST(test_journal_corrupt)
{
	const struct heap_layout *l = &h->meta->layout;
	uint64_t mine = l->size, i;

	two_entries();
	/* Valid as it is. */
	memcpy(before, snap.copy, snap.size);
	set_entry(1, mine + 8);
	ck_assert(!memcmp(before, snap.copy, snap.size));
	/* A count past the journal, or past what was logged. */
	set_count(l->journal_entries + 1);
	refused();
	set_count(3);
	refused();
	set_count(2);
	copy_journal()->count_word ^= UINT64_C(1) << 50;
	refused();
	set_count(2);
	/* An offset out of the mapping, unaligned, into the journal. */
	set_entry(1, snap.size);
	refused();
	set_entry(1, snap.size - 4);
	refused();
	set_entry(1, mine + 12);
	refused();
	for (i = 0; i < 3; i++) {
		static const uint64_t into[3] = { 0, 8, 64 };

		set_entry(1, l->journal + into[i]);
		refused();
	}
	set_entry(1, l->size - 8);
	refused();
	/* An old value that is not the one logged. */
	set_entry(1, mine + 8);
	copy_journal()->e[1].old ^= 1;
	refused();
	copy_journal()->e[1].old ^= 1;
	/* Entries of an older transaction do not pass for this one's. */
	copy_journal()->seq++;
	refused();
	copy_journal()->seq--;
	memcpy(before, snap.mem, snap.size);
	ck_assert_uint_eq(recover_to(snap.copy).undone, 2);
}
END_TEST

START_TEST(test_journal_held_run)
{
	struct heap_cursor cur = { 0, 0 };
	struct heap_recovery rec;
	struct heap_take t;
	struct heap_span sp;
	struct heap *c;

	ck_assert_int_eq(heap_alloc(h, 16, 0, o1, 0, &sp), 0);
	memset(mem.base + sp.off, 0x5a, 16 * PG);
	ck_assert_int_eq(heap_free(h, sp.off, o1, 0), 0);
	ck_assert(heap_scavenge_take(h, 10, 0, 10, &cur, &t));
	ck_assert_uint_eq(t.npages, 10);
	/* The release punched the run's first 4 pages, then the death. */
	memset(mem.base + t.page * PG, 0, 4 * PG);
	snap_take();
	ck_assert_int_eq(snap_recover(&c, &rec), 0);
	heap_check(c);
	ck_assert_uint_eq(rec.runs, 1);
	ck_assert_uint_eq(rec.run_pages, 10);
	ck_assert_uint_eq(rec.released_pages, 4);
	ck_assert_uint_eq(c->meta->held, 0);
	for (uint64_t p = 0; p < c->meta->grown; p++)
		ck_assert_int_eq(bit_test(c->released, p), !mem_page_data(p));
	heap_detach(c);
	heap_scavenge_return(h, &t, 0, &cur);
}
END_TEST

static void take_every_step(void *ctx)
{
	(void)ctx;
	snap_take();
}

/*
 * A death inside recovery, after it undid the newest half of the
 * entries: recovering again gives the same state.
 */
START_TEST(test_journal_recover_twice)
{
	struct heap_journal *j;
	struct heap_span sp;
	uint64_t n;

	ck_assert_int_eq(heap_alloc(h, 3, 0, o1, 0, &sp), 0);
	memcpy(before, snap.mem, snap.size);
	/* The last copy is the one before the commit: every store done. */
	heap_tx_set_hook(h, take_every_step, NULL);
	ck_assert_int_eq(heap_free(h, sp.off, o1, 1), 0);
	heap_tx_set_hook(h, NULL, NULL);
	j = (struct heap_journal *)(void *)(snap.copy +
					    h->meta->layout.journal);
	n = j->count_word & JOURNAL_OFF_MASK;
	ck_assert_uint_gt(n, 4);
	for (uint64_t i = n; i-- > n / 2;)
		*(uint64_t *)(void *)(snap.copy + (j->e[i].word &
						   JOURNAL_OFF_MASK)) =
			j->e[i].old;
	ck_assert_uint_eq(recover_to(before).undone, n);
}
END_TEST

START_TEST(test_journal_log_outside_tx)
{
	heap_tx_log(h, extra(), 8);
}
END_TEST

START_TEST(test_journal_end_without_begin)
{
	heap_tx_end(h);
}
END_TEST

START_TEST(test_journal_log_into_journal)
{
	heap_tx_begin(h);
	heap_tx_log(h, h->journal, 8);
}
END_TEST

START_TEST(test_journal_log_past_mapping)
{
	heap_tx_begin(h);
	heap_tx_log(h, snap.mem + snap.size - 4, 8);
}
END_TEST

/* A transaction that outgrows the journal aborts. */
START_TEST(test_journal_outgrown)
{
	uint64_t len = h->meta->layout.journal;
	uint64_t times = h->meta->layout.journal_entries / (len / 8) + 1;

	heap_tx_begin(h);
	for (uint64_t i = 0; i < times; i++)
		heap_tx_log(h, snap.mem, len);
	ck_abort_msg("%llu entries fit a journal of %llu",
		     (unsigned long long)(times * len / 8),
		     (unsigned long long)h->meta->layout.journal_entries);
}
END_TEST

/* J1: a journal left full outside a transaction fails heap_check(). */
START_TEST(test_journal_check_j1)
{
	struct heap *c;

	two_entries();
	ck_assert_int_eq(heap_attach(snap.copy, snap.size, &snap.ops, &c), 0);
	heap_check(c);
}
END_TEST

/* A transaction over an unrecovered journal aborts. */
START_TEST(test_journal_begin_unrecovered)
{
	struct heap *c;

	two_entries();
	ck_assert_int_eq(heap_attach(snap.copy, snap.size, &snap.ops, &c), 0);
	heap_tx_begin(c);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc;

	tc = tcase_create("caller");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_journal_undo_caller_bytes);
	tcase_add_test(tc, test_journal_nests);
	tcase_add_test(tc, test_journal_word_twice);
	tcase_add_test(tc, test_journal_hook);
	suite_add_tcase(s, tc);

	tc = tcase_create("recover");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_journal_corrupt);
	tcase_add_test(tc, test_journal_held_run);
	tcase_add_test(tc, test_journal_recover_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("aborts");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test_raise_signal(tc, test_journal_log_outside_tx, SIGABRT);
	tcase_add_test_raise_signal(tc, test_journal_end_without_begin,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_journal_log_into_journal,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_journal_log_past_mapping,
				    SIGABRT);
	tcase_add_test_raise_signal(tc, test_journal_check_j1, SIGABRT);
	tcase_add_test_raise_signal(tc, test_journal_outgrown, SIGABRT);
	tcase_add_test_raise_signal(tc, test_journal_begin_unrecovered,
				    SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(journal_suite)
