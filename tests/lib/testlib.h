/* SPDX-License-Identifier: MIT */
/* Helpers every test program shares. */
#ifndef SPANHEAP_TESTS_TESTLIB_H
#define SPANHEAP_TESTS_TESTLIB_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Run @s with check's default runner; returns the process exit code. */
int test_run_suite(Suite *s);

/*
 * The seed for a randomised test: $SPANHEAP_TEST_SEED if set, else a
 * fresh one.  Printed, so a failing run can be repeated.
 */
uint64_t test_seed(const char *what);

/*
 * Make a fresh private directory /tmp/@name.XXXXXX and write its path
 * into @dir (@len bytes).  Aborts the test on failure.  Every file a
 * test makes goes into one of these, so that suites run in parallel
 * never meet.
 */
void test_tmpdir(char *dir, size_t len, const char *name);

/* Remove @dir and everything under it; aborts the test on failure. */
void test_tmpdir_remove(const char *dir);

/* xorshift64*: reproducible and fast. */
static inline uint64_t test_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

#define TEST_MAIN(suite_fn)                       \
	int main(void)                            \
	{                                         \
		return test_run_suite(suite_fn()); \
	}

#endif
