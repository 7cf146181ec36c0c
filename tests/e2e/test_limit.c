// SPDX-License-Identifier: MIT
/*
 * The memory limit (--memory-limit, shm/heap.c's limit and
 * daemon/reclaim.c), with the real daemon and the real library: an
 * allocation that would cross it waits while idle memory is released
 * (whatever its age), then succeeds; one that cannot fit even then fails
 * with -ENOMEM and changes nothing; and the kernel's count of the arena's
 * memory (st_blocks) never exceeds the limit, sampled all along while
 * clients churn.  No magazines: every span in use is one the test holds.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/e2e/memstats.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define PG UINT64_C(4096)
#define LIMIT (64 * MiB)

static struct test_daemon td;
static struct spanheap *h;

static void setup(void)
{
	const char *const args[] = { "--arena-size=1G", "--memory-limit=64M",
				     "--scavenge-after=1h", NULL };

	test_socket_only();
	test_daemon_start(&td, args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
}

static void teardown(void)
{
	spanheap_close(h);
	test_daemon_stop(&td);
}

/* MemStats' @block.@key (@block NULL: the top level). */
static uint64_t stat_of(const char *block, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "%s%s%s", block ? block : "",
		 block ? "." : "", key);
	return memstats_u64(h, path);
}

/* A span of @bytes, every page written. */
static struct spanheap_span touched(uint64_t bytes)
{
	struct spanheap_span s;

	ck_assert_int_eq(spanheap_span_alloc(h, bytes / PG, 0, &s), 0);
	memset(s.ptr, 0x5a, bytes);
	return s;
}

START_TEST(test_limit_in_memstats)
{
	json_t *root;

	ck_assert_uint_eq(stat_of("limit", "bytes"), LIMIT);
	root = memstats_get(h);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(root, "limit"), "source")),
			 "--memory-limit");
	json_decref(root);
	ck_assert_uint_eq(stat_of("limit", "waits"), 0);
}
END_TEST

START_TEST(test_limit_releases_idle_first)
{
	struct spanheap_span a = touched(48 * MiB), b = touched(8 * MiB), c;

	ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
	/* 48 MiB idle, not released: with the scavenger an hour away. */
	ck_assert_uint_eq(stat_of(NULL, "consumed"), 56 * MiB);
	/*
	 * 56 MiB do not fit in the idle span: they need released pages,
	 * which the limit allows only once the idle ones are released.
	 */
	c = touched(56 * MiB);
	ck_assert_uint_ge(stat_of("limit", "waits"), 1);
	ck_assert_uint_ge(stat_of("limit", "released_bytes"), 48 * MiB);
	ck_assert_uint_le(stat_of(NULL, "consumed"), LIMIT);
	ck_assert_uint_le(test_arena_resident(), LIMIT);
	ck_assert_int_eq(spanheap_span_free(h, b.off), 0);
	ck_assert_int_eq(spanheap_span_free(h, c.off), 0);
}
END_TEST

START_TEST(test_limit_enomem_when_all_in_use)
{
	struct spanheap_span a = touched(32 * MiB), b = touched(32 * MiB), c;
	uint64_t inuse = stat_of(NULL, "heap_inuse");
	uint64_t futile = stat_of("limit", "futile_rounds");

	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &c), -ENOMEM);
	ck_assert_uint_eq(stat_of("limit", "futile_rounds"), futile + 1);
	/* Nothing changed, and the connection still works. */
	ck_assert_uint_eq(stat_of(NULL, "heap_inuse"), inuse);
	ck_assert_int_eq(spanheap_span_free(h, b.off), 0);
	/* b's pages are idle: reused at once, no wait. */
	c = touched(32 * MiB);
	ck_assert_uint_eq(c.off, b.off);
	ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
	ck_assert_int_eq(spanheap_span_free(h, c.off), 0);
}
END_TEST

START_TEST(test_limit_batch_all_or_nothing)
{
	struct spanheap_span a = touched(40 * MiB), s[4];
	uint64_t inuse = stat_of(NULL, "heap_inuse");

	/* 4 x 8 MiB = 32 MiB more than the 24 MiB left: none is given. */
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 8 * MiB / PG, 0, 4, s),
			 -ENOMEM);
	ck_assert_uint_eq(stat_of(NULL, "heap_inuse"), inuse);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 8 * MiB / PG, 0, 3, s),
			 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
}
END_TEST

START_TEST(test_limit_object_waits_too)
{
	struct spanheap_span a = touched(24 * MiB), b = touched(24 * MiB);
	struct spanheap_obj o;

	ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
	/* 32 MiB fit in no idle span; the idle 24 MiB are released first. */
	ck_assert_int_eq(spanheap_obj_create(h, "big", 32 * MiB, 0, &o), 0);
	memset(o.ptr, 1, 32 * MiB);
	/* Only what was over the limit: 24 + 24 + 32 - 64 MiB. */
	ck_assert_uint_eq(stat_of("limit", "released_bytes"), 16 * MiB);
	ck_assert_int_eq(spanheap_obj_create(h, "bigger", 16 * MiB, 0, &o),
			 -ENOMEM);
	ck_assert_int_eq(spanheap_span_free(h, b.off), 0);
}
END_TEST

/* A sealed object of @bytes, written, and its reference dropped. */
static void unreferenced(const char *name, uint64_t bytes, unsigned int flags)
{
	struct spanheap_obj o;

	ck_assert_int_eq(spanheap_obj_create(h, name, bytes, flags, &o), 0);
	memset(o.ptr, 0x33, bytes);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
}

static bool exists(const char *name)
{
	struct spanheap_obj o;
	int r = spanheap_obj_get(h, name, 0, &o);

	if (r == 0)
		ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	else
		ck_assert_int_eq(r, -ENOENT);
	return r == 0;
}

/*
 * At the limit with nothing idle, evictable objects nobody holds go,
 * least recently used first and no more than needed; a referenced or
 * non-evictable one never does.
 */
START_TEST(test_limit_evicts_lru_first)
{
	struct spanheap_obj held;
	struct spanheap_span s;
	char name[16];

	unreferenced("keep", 8 * MiB, 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		unreferenced(name, 8 * MiB, SPANHEAP_EVICTABLE);
	}
	unreferenced("held", 8 * MiB, SPANHEAP_EVICTABLE);
	ck_assert_int_eq(spanheap_obj_get(h, "held", 0, &held), 0);
	/* e0 was released first; a get and a release make e1 the newest. */
	ck_assert(exists("e1"));
	/* 48 MiB in objects; 32 more are 16 past the limit. */
	ck_assert_uint_eq(stat_of(NULL, "consumed"), 48 * MiB);
	ck_assert_int_eq(spanheap_span_alloc(h, 32 * MiB / PG, 0, &s), 0);
	ck_assert_uint_eq(stat_of("limit", "evicted"), 2);
	ck_assert_uint_eq(stat_of("objects", "evicted"), 2);
	ck_assert(!exists("e0"));
	ck_assert(!exists("e2"));
	ck_assert(exists("e1"));
	ck_assert(exists("e3"));
	ck_assert(exists("keep"));
	ck_assert(exists("held"));
	ck_assert_uint_le(stat_of(NULL, "consumed"), LIMIT);
	/* Nothing left that may go: the next fails, evicting nothing. */
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 64 * MiB / PG, 0, &s),
			 -ENOMEM);
	ck_assert(exists("keep"));
	ck_assert(exists("held"));
	ck_assert_uint_eq(stat_of("limit", "evicted"), 4);
	ck_assert_int_eq(spanheap_obj_release(h, &held), 0);
}
END_TEST

static atomic_bool stop;
static atomic_uint_fast64_t max_resident, samples;

static void *sampler(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t r = test_arena_resident();

		if (r > atomic_load(&max_resident))
			atomic_store(&max_resident, r);
		atomic_fetch_add(&samples, 1);
	}
	return NULL;
}

/* Two clients churn random spans against the limit; st_blocks sampled. */
START_TEST(test_limit_resident_never_above)
{
	struct spanheap *h2;
	struct spanheap_span held[2][16];
	uint64_t seed = test_seed("limit churn"), enomem = 0;
	pthread_t t;

	memset(held, 0, sizeof(held));
	ck_assert_int_eq(spanheap_connect(td.sock, &h2), 0);
	atomic_store(&stop, false);
	ck_assert_int_eq(pthread_create(&t, NULL, sampler, NULL), 0);
	for (int i = 0; i < 600; i++) {
		struct spanheap *c = i & 1 ? h2 : h;
		struct spanheap_span *s = &held[i & 1][test_rand(&seed) % 16];
		uint64_t pages = 1 + test_rand(&seed) % (6 * MiB / PG);
		int r;

		if (s->ptr) {
			ck_assert_int_eq(spanheap_span_free(c, s->off), 0);
			s->ptr = NULL;
			continue;
		}
		r = spanheap_span_alloc(c, pages, 0, s);
		if (r == -ENOMEM) {
			enomem++;
			s->ptr = NULL;
			continue;
		}
		ck_assert_int_eq(r, 0);
		memset(s->ptr, 0x77, s->npages * PG);
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 16; j++)
			if (held[k][j].ptr)
				ck_assert_int_eq(spanheap_span_free(k ? h2 : h,
								    held[k][j].off),
						 0);
	spanheap_close(h2);
	ck_assert_uint_gt(atomic_load(&samples), 10);
	ck_assert_msg(atomic_load(&max_resident) <= LIMIT,
		      "the arena held %llu bytes, above the %llu limit",
		      (unsigned long long)atomic_load(&max_resident),
		      (unsigned long long)LIMIT);
	/* The churn did meet the limit, and had memory released for it. */
	ck_assert_uint_gt(stat_of("limit", "waits"), 0);
	ck_assert_uint_gt(stat_of("limit", "released_bytes"), 0);
	(void)enomem;
}
END_TEST

static Suite *limit_suite(void)
{
	Suite *s = suite_create("limit");
	TCase *tc = tcase_create("limit");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_limit_in_memstats);
	tcase_add_test(tc, test_limit_releases_idle_first);
	tcase_add_test(tc, test_limit_enomem_when_all_in_use);
	tcase_add_test(tc, test_limit_batch_all_or_nothing);
	tcase_add_test(tc, test_limit_object_waits_too);
	tcase_add_test(tc, test_limit_resident_never_above);
	tcase_add_test(tc, test_limit_evicts_lru_first);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(limit_suite)
