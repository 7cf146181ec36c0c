// SPDX-License-Identifier: MIT
/* Tests for shm/bitmap.c, against a bool-per-bit model. */
#include <stdlib.h>
#include <string.h>

#include "shm/bitmap.h"
#include "tests/lib/testlib.h"

#define NBITS 1000

static uint64_t bm[(NBITS + 63) / 64 + 1];
static bool model[NBITS];

static void check_model(void)
{
	for (uint64_t i = 0; i < NBITS; i++)
		if (bit_test(bm, i) != model[i])
			ck_abort_msg("bit %lu differs", (unsigned long)i);
	/* nothing leaks past the end */
	ck_assert_uint_eq(bitmap_count(bm, NBITS, 64 * 17 - NBITS), 0);
}

START_TEST(test_ranges_against_model)
{
	uint64_t seed = test_seed("bitmap ranges"), rnd = seed;

	memset(bm, 0, sizeof(bm));
	memset(model, 0, sizeof(model));
	for (int step = 0; step < 20000; step++) {
		uint64_t a = test_rand(&rnd) % NBITS;
		uint64_t n = test_rand(&rnd) % (NBITS - a + 1);
		uint64_t count = 0, e = a + n;
		bool val = test_rand(&rnd) & 1;

		if (val)
			bitmap_set_range(bm, a, n);
		else
			bitmap_clear_range(bm, a, n);
		for (uint64_t i = a; i < e; i++)
			model[i] = val;
		a = test_rand(&rnd) % NBITS;
		e = a + test_rand(&rnd) % (NBITS - a + 1);
		for (uint64_t i = a; i < e; i++)
			count += model[i];
		if (bitmap_count(bm, a, e - a) != count)
			ck_abort_msg("seed %llu: count [%lu, %lu)",
				     (unsigned long long)seed,
				     (unsigned long)a, (unsigned long)e);
		for (int v = 0; v < 2; v++) {
			uint64_t want = a;

			while (want < e && model[want] != v)
				want++;
			if (bitmap_find(bm, a, e, v) != want)
				ck_abort_msg("seed %llu: find %d in [%lu, %lu)",
					     (unsigned long long)seed, v,
					     (unsigned long)a,
					     (unsigned long)e);
			want = e;
			for (uint64_t i = a; i < e; i++)
				if (model[i] == v)
					want = i;
			if (bitmap_find_last(bm, a, e, v) != want)
				ck_abort_msg("seed %llu: find last %d in [%lu, %lu)",
					     (unsigned long long)seed, v,
					     (unsigned long)a,
					     (unsigned long)e);
		}
	}
	check_model();
}
END_TEST

START_TEST(test_range_edges)
{
	memset(bm, 0, sizeof(bm));
	bitmap_set_range(bm, 63, 2);
	ck_assert_uint_eq(bm[0], UINT64_C(1) << 63);
	ck_assert_uint_eq(bm[1], 1);
	bitmap_set_range(bm, 128, 64);
	ck_assert_uint_eq(bm[2], ~UINT64_C(0));
	ck_assert_uint_eq(bm[3], 0);
	ck_assert_uint_eq(bitmap_count(bm, 0, 256), 66);
	bitmap_clear_range(bm, 64, 0);
	ck_assert_uint_eq(bm[1], 1);
	ck_assert_uint_eq(bitmap_find(bm, 0, 63, true), 63);
	ck_assert_uint_eq(bitmap_find(bm, 65, 128, true), 128);
	ck_assert_uint_eq(bitmap_find(bm, 128, 192, false), 192);
	ck_assert_uint_eq(bitmap_find_last(bm, 0, 256, true), 191);
	ck_assert_uint_eq(bitmap_find_last(bm, 0, 128, true), 64);
	ck_assert_uint_eq(bitmap_find_last(bm, 0, 64, true), 63);
	ck_assert_uint_eq(bitmap_find_last(bm, 0, 63, true), 63);
	ck_assert_uint_eq(bitmap_find_last(bm, 65, 128, true), 128);
	ck_assert_uint_eq(bitmap_find_last(bm, 128, 192, false), 192);
	ck_assert_uint_eq(bitmap_find_last(bm, 0, 0, true), 0);
}
END_TEST

static void hbm_against_model(uint64_t nbits, uint64_t seed)
{
	unsigned int nlevels;
	uint64_t words = hbm_words(nbits, &nlevels), rnd = seed;
	uint64_t *mem = calloc(words, 8);
	bool *set = calloc(nbits, 1);
	struct hbm b;

	ck_assert_ptr_nonnull(mem);
	ck_assert_ptr_nonnull(set);
	hbm_layout(&b, nbits, mem);
	ck_assert_uint_eq(b.nlevels, nlevels);
	ck_assert_int_eq(hbm_first(&b), -1);
	for (int step = 0; step < 20000; step++) {
		/* cluster indices so that words fill and empty */
		uint64_t i = (test_rand(&rnd) % 8 == 0 ?
				      test_rand(&rnd) :
				      test_rand(&rnd) % 300) % nbits;
		int64_t want = -1;

		if (set[i])
			hbm_clear(&b, i);
		else
			hbm_set(&b, i);
		set[i] = !set[i];
		for (uint64_t k = 0; k < nbits; k++)
			if (set[k]) {
				want = (int64_t)k;
				break;
			}
		if (hbm_first(&b) != want || !hbm_consistent(&b, nbits))
			ck_abort_msg("seed %llu, %lu bits: step %d",
				     (unsigned long long)seed,
				     (unsigned long)nbits, step);
	}
	free(set);
	free(mem);
}

START_TEST(test_hbm_levels)
{
	unsigned int n;

	ck_assert_uint_eq(hbm_words(1, &n), 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(hbm_words(64, &n), 1);
	ck_assert_uint_eq(hbm_words(65, &n), 3);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(hbm_words(4097, &n), 65 + 2 + 1);
	ck_assert_uint_eq(n, 3);
	/* 2^24 groups: a 4 TiB arena */
	hbm_words(UINT64_C(1) << 24, &n);
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_le(n, HBM_MAX_LEVELS);
}
END_TEST

START_TEST(test_hbm_against_model)
{
	uint64_t seed = test_seed("hbm");

	hbm_against_model(50, seed);
	hbm_against_model(64, seed);
	hbm_against_model(4096 + 17, seed);
	hbm_against_model(300000, seed);
}
END_TEST

static Suite *bitmap_suite(void)
{
	Suite *s = suite_create("bitmap");
	TCase *tc;

	tc = tcase_create("flat");
	tcase_add_test(tc, test_range_edges);
	tcase_add_test(tc, test_ranges_against_model);
	suite_add_tcase(s, tc);

	tc = tcase_create("hierarchical");
	tcase_add_test(tc, test_hbm_levels);
	tcase_add_test(tc, test_hbm_against_model);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(bitmap_suite)
