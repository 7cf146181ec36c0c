// SPDX-License-Identifier: MIT
/*
 * The scavenger end to end, with the real daemon and short delays: memory
 * that clients freed goes back to the kernel, as the daemon's stats say
 * and as the kernel itself says (st_blocks of the arena memfd, which this
 * process holds through libspanclient).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define PG 4096

static struct test_daemon td;

static void setup(void)
{
	static const char *const args[] = {
		"--arena-size=2G", "--scavenge-after=200ms", "--gc-after=300ms",
		"--trace", NULL,
	};

	test_daemon_start(&td, args);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static json_t *stats(struct spanheap *h)
{
	json_t *root;
	char *text;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	return root;
}

static uint64_t stat_of(struct spanheap *h, const char *key)
{
	json_t *root = stats(h);
	uint64_t v = (uint64_t)json_integer_value(json_object_get(root, key));

	json_decref(root);
	return v;
}

/* Allocate @bytes in 4 MiB spans, touch every page, return the offsets. */
static int alloc_touched(struct spanheap *h, uint64_t bytes, uint64_t *offs)
{
	int n = (int)(bytes / (4 * MiB));

	for (int i = 0; i < n; i++) {
		struct spanheap_span s;

		if (spanheap_span_alloc(h, 4 * MiB / PG, 0, &s))
			ck_abort_msg("alloc %d", i);
		for (size_t p = 0; p < 4 * MiB; p += PG)
			((volatile char *)s.ptr)[p] = 1;
		offs[i] = s.off;
	}
	return n;
}

/* Wait up to @ms for heap_released to cover @bytes more than @base. */
static bool wait_released(struct spanheap *h, uint64_t base, uint64_t bytes,
			  int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		if (stat_of(h, "heap_released") >= base + bytes)
			return true;
		usleep(20000);
	}
	return false;
}

START_TEST(test_freed_memory_goes_back)
{
	static uint64_t offs[64];
	struct spanheap *h;
	uint64_t before, touched, rel0;
	int n;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	before = test_arena_resident();
	n = alloc_touched(h, 256 * MiB, offs);
	touched = test_arena_resident();
	ck_assert_uint_ge(touched, before + 256 * MiB);
	ck_assert_uint_ge(stat_of(h, "arena_resident"), 256 * MiB);
	rel0 = stat_of(h, "heap_released");
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, (size_t)n), 0);
	/* Not at once: the spans must stay free for 200 ms first. */
	ck_assert_uint_ge(test_arena_resident(), 250 * MiB);
	ck_assert(wait_released(h, rel0, 256 * MiB, 5000));
	/* The daemon's figure and the kernel's agree. */
	ck_assert_uint_le(stat_of(h, "arena_resident"), touched - 250 * MiB);
	ck_assert_uint_le(test_arena_resident(), touched - 250 * MiB);
	ck_assert_uint_eq(stat_of(h, "consumed"), stat_of(h, "heap_inuse"));
	spanheap_close(h);
}
END_TEST

START_TEST(test_dead_client_memory_goes_back)
{
	struct spanheap *h;
	int ready[2], status;
	uint64_t rel0;
	pid_t pid;
	char c;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	rel0 = stat_of(h, "heap_released");
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static uint64_t offs[16];
		struct spanheap *k;

		if (spanheap_connect(td.sock, &k))
			_exit(1);
		alloc_touched(k, 64 * MiB, offs);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_uint_ge(stat_of(h, "heap_inuse"), 64 * MiB);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(wait_released(h, 0, rel0 + 64 * MiB, 5000));
	ck_assert_uint_eq(stat_of(h, "heap_inuse"), 0);
	ck_assert_uint_le(test_arena_resident(), 4 * MiB);
	spanheap_close(h);
}
END_TEST

/* A process that dies while a child keeps its socket: the GC pass. */
START_TEST(test_gc_frees_departed_process)
{
	struct spanheap *h;
	int ready[2], status;
	pid_t pid;
	char c;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spanheap *k;
		struct spanheap_span s;

		if (spanheap_connect(td.sock, &k) ||
		    spanheap_span_alloc(k, 256, 0, &s))
			_exit(1);
		/* The grandchild inherits the socket and outlives us. */
		if (fork() == 0) {
			close(ready[1]);
			sleep(30);
			_exit(0);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_uint_eq(stat_of(h, "heap_inuse"), 256 * PG);
	/* The forced GC (every 300 ms) notices the dead process. */
	for (int i = 0; i < 250 && stat_of(h, "heap_inuse"); i++)
		usleep(20000);
	ck_assert_uint_eq(stat_of(h, "heap_inuse"), 0);
	ck_assert_uint_ge(stat_of(h, "num_gc"), 1);
	spanheap_close(h);
}
END_TEST

START_TEST(test_scavenge_on_demand)
{
	static uint64_t offs[16];
	struct spanheap *h;
	uint64_t released = 0;
	json_t *root;
	int n;
	static const char *const args[] = { "--arena-size=1G",
					    "--scavenge-after=1h", NULL };

	/* With a one-hour delay only an explicit request releases. */
	test_daemon_stop(&td);
	test_daemon_start(&td, args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	n = alloc_touched(h, 32 * MiB, offs);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, (size_t)n), 0);
	ck_assert_uint_ge(test_arena_resident(), 32 * MiB);
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_ge(released, 32 * MiB);
	ck_assert_uint_le(test_arena_resident(), MiB);
	root = stats(h);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(root, "scavenger"),
				 "forced_releases")),
			 1);
	json_decref(root);
	/* Nothing left: a second request releases nothing. */
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(released, 0);
	spanheap_close(h);
}
END_TEST

/* Allocations are served while a large release runs. */
START_TEST(test_alloc_during_release)
{
	static uint64_t offs[256];
	struct spanheap *h, *g;
	uint64_t rel0;
	int n, served = 0;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &g), 0);
	n = alloc_touched(h, 512 * MiB, offs);
	rel0 = stat_of(h, "heap_released");
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, (size_t)n), 0);
	while (stat_of(g, "heap_released") < rel0 + 500 * MiB) {
		struct spanheap_span s;

		ck_assert_int_eq(spanheap_span_alloc(g, 1, 0, &s), 0);
		memset(s.ptr, 7, PG);
		ck_assert_int_eq(spanheap_span_free(g, s.off), 0);
		ck_assert_int_lt(++served, 1000000);
	}
	ck_assert_int_gt(served, 0);
	spanheap_close(g);
	spanheap_close(h);
}
END_TEST

static bool log_matches(const char *pattern)
{
	FILE *f = fopen(td.log, "r");
	char line[512];
	regex_t re;
	bool found = false;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		found = regexec(&re, line, 0, NULL, 0) == 0;
	}
	regfree(&re);
	fclose(f);
	return found;
}

/* Wait up to 5 s for a line of the log to match @pattern. */
static bool wait_log(const char *pattern)
{
	for (int i = 0; i < 250; i++) {
		if (log_matches(pattern))
			return true;
		usleep(20000);
	}
	return false;
}

START_TEST(test_trace_lines)
{
	static uint64_t offs[16];
	struct spanheap *h;
	int n;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	n = alloc_touched(h, 16 * MiB, offs);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, (size_t)n), 0);
	ck_assert(wait_released(h, 0, 16 * MiB, 5000));
	spanheap_close(h);
	/* The seed's formats, whole lines, no priority prefix. */
	ck_assert(wait_log("^scvg[0-9]+: GC forced$"));
	ck_assert(wait_log("^scvg[0-9]+: [1-9][0-9]* MB released$"));
	ck_assert(wait_log("^scvg[0-9]+: inuse: [0-9]+, idle: [0-9]+, "
			   "sys: [0-9]+, released: [0-9]+, "
			   "consumed: [0-9]+ \\(MB\\)$"));
	ck_assert(wait_log("^scvg[0-9]+: inuse: 0, idle: [0-9]+, sys: "
			   "[0-9]+, released: [0-9]+, consumed: 0 \\(MB\\)$"));
}
END_TEST

static Suite *scavenger_suite(void)
{
	Suite *s = suite_create("scavenger");
	TCase *tc;

	tc = tcase_create("release");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_freed_memory_goes_back);
	tcase_add_test(tc, test_dead_client_memory_goes_back);
	tcase_add_test(tc, test_gc_frees_departed_process);
	tcase_add_test(tc, test_scavenge_on_demand);
	tcase_add_test(tc, test_alloc_during_release);
	tcase_add_test(tc, test_trace_lines);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(scavenger_suite)
