// SPDX-License-Identifier: MIT
/*
 * Memory pressure (daemon/pressure.c, on_pressure() in daemon.c), with
 * the real daemon and the real library: a pressure event releases every
 * idle span at once, whatever its age, as the kernel's count of the
 * arena's memory (st_blocks) shows, and MemStats counts it.  The event
 * comes through the daemon's hidden test FIFO (--pressure-inject), which
 * drives the same path a PSI trigger does; that the kernel's trigger
 * fires that path is tests/daemon/test_pressure.c's real-stall test.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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

static struct test_daemon td;
static struct spanheap *h;
static char fifo[160];

static void setup(void)
{
	static char opt[200];
	const char *const args[] = { "--scavenge-after=1h",
				     "--pressure-trigger=off", opt, NULL };
	char dir[64];

	test_socket_only();
	test_tmpdir(dir, sizeof(dir), "spanheap-pressure");
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(opt, sizeof(opt), "--pressure-inject=%s", fifo);
	test_daemon_start(&td, args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
}

static void teardown(void)
{
	spanheap_close(h);
	test_daemon_stop(&td);
	unlink(fifo);
	*strrchr(fifo, '/') = 0;
	test_tmpdir_remove(fifo);
}

static uint64_t stat_of(const char *key)
{
	return memstats_u64(h, key);
}

static void inject(void)
{
	int fd = open(fifo, O_WRONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "p", 1), 1);
	close(fd);
}

/* Wait until MemStats' @key reaches @want; its value. */
static uint64_t wait_for(const char *key, uint64_t want)
{
	uint64_t v = 0;

	for (int i = 0; i < 2000 && (v = stat_of(key)) < want; i++)
		usleep(5000);
	return v;
}

START_TEST(test_pressure_releases_idle_at_once)
{
	struct spanheap_span a, b;
	json_t *root, *p;

	ck_assert_int_eq(spanheap_span_alloc(h, 32 * MiB / PG, 0, &a), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 8 * MiB / PG, 0, &b), 0);
	memset(a.ptr, 1, 32 * MiB);
	memset(b.ptr, 2, 8 * MiB);
	ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
	/* Idle for far less than --scavenge-after: the timer would wait. */
	ck_assert_uint_ge(test_arena_resident(), 40 * MiB);
	ck_assert_uint_eq(stat_of("pressure_events"), 0);
	inject();
	ck_assert_uint_eq(wait_for("pressure_events", 1), 1);
	ck_assert_uint_ge(wait_for("pressure_released_bytes", 32 * MiB),
			  32 * MiB);
	/* The kernel's count: the idle span is gone, the held one stays. */
	ck_assert_uint_lt(test_arena_resident(), 40 * MiB);
	ck_assert_uint_ge(test_arena_resident(), 8 * MiB);
	ck_assert_uint_eq(((unsigned char *)b.ptr)[8 * MiB - 1], 2);
	root = memstats_get(h);
	p = json_object_get(root, "pressure");
	ck_assert(json_is_object(p));
	/* An injected event only: no PSI file is watched. */
	ck_assert(json_is_null(json_object_get(p, "source")));
	json_decref(root);
	ck_assert_int_eq(spanheap_span_free(h, b.off), 0);
}
END_TEST

START_TEST(test_pressure_every_event_counts)
{
	struct spanheap_span a;

	for (int i = 1; i <= 3; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, 4 * MiB / PG, 0, &a), 0);
		memset(a.ptr, 3, 4 * MiB);
		ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
		inject();
		ck_assert_uint_eq(wait_for("pressure_events", (uint64_t)i),
				  (uint64_t)i);
		ck_assert_uint_ge(wait_for("pressure_released_bytes",
					   (uint64_t)i * 4 * MiB),
				  (uint64_t)i * 4 * MiB);
	}
	ck_assert_uint_eq(stat_of("consumed"), 0);
}
END_TEST

static Suite *pressure_suite(void)
{
	Suite *s = suite_create("pressure");
	TCase *tc = tcase_create("pressure");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pressure_releases_idle_at_once);
	tcase_add_test(tc, test_pressure_every_event_counts);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(pressure_suite)
