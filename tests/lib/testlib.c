// SPDX-License-Identifier: MIT
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void test_tmpdir(char *dir, size_t len, const char *name)
{
	int n = snprintf(dir, len, "/tmp/%s.XXXXXX", name);

	ck_assert_msg(n > 0 && (size_t)n < len, "temp dir name too long");
	if (!mkdtemp(dir))
		ck_abort_msg("mkdtemp %s: %s", dir, strerror(errno));
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void test_tmpdir_remove(const char *dir)
{
	if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		ck_abort_msg("cannot remove %s: %s", dir, strerror(errno));
}
