// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testlib.h"

int test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

uint64_t test_seed(const char *what)
{
	const char *env = getenv("SPANHEAP_TEST_SEED");
	uint64_t seed;

	if (env) {
		seed = strtoull(env, NULL, 0);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
		       (uint64_t)getpid();
	}
	if (!seed)
		seed = 1;
	fprintf(stderr, "%s: seed %llu (set SPANHEAP_TEST_SEED to repeat)\n",
		what, (unsigned long long)seed);
	return seed;
}
