// SPDX-License-Identifier: MIT
/*
 * The daemon's memory under clients that write where they should not,
 * with the real daemon and the real library: what SPANHEAP_ZERO hands out,
 * what the daemon's own zeroing costs it, memory no span holds, the page
 * map's memory, and a departed client's pages.  Figures come from the
 * kernel: st_blocks of the arena memfd (which this process holds through
 * libspanclient) and of the daemon's metadata memfd, and /proc/PID/status
 * of the daemon.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
#define PG UINT64_C(4096)

static struct test_daemon td;

static void start(const char *arena)
{
	const char *const args[] = { arena, "--scavenge-after=1h", NULL };

	test_daemon_start(&td, args);
}

static void setup(void)
{
	start("--arena-size=1G");
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

/*
 * What the kernel says the daemon's heap metadata holds: st_blocks of
 * its memfd, opened through /proc/PID/fd.
 */
static uint64_t meta_resident(void)
{
	char path[300], link[256];
	uint64_t bytes = UINT64_MAX;
	struct dirent *e;
	struct stat st;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)td.pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while (bytes == UINT64_MAX && (e = readdir(dir))) {
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)td.pid,
			 e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strstr(link, "memfd:spanheapd-meta"))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &st), 0);
		close(fd);
		bytes = (uint64_t)st.st_blocks * 512;
	}
	closedir(dir);
	ck_assert_msg(bytes != UINT64_MAX, "no metadata memfd in the daemon");
	return bytes;
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
	json_t *root = stats(h), *v = json_object_get(root, key);
	uint64_t n;

	ck_assert_msg(json_is_integer(v), "no %s in MemStats", key);
	n = (uint64_t)json_integer_value(v);
	json_decref(root);
	return n;
}

static uint64_t scav_stat_of(struct spanheap *h, const char *key)
{
	json_t *root = stats(h);
	json_t *v = json_object_get(json_object_get(root, "scavenger"), key);
	uint64_t n;

	ck_assert_msg(json_is_integer(v), "no scavenger.%s in MemStats", key);
	n = (uint64_t)json_integer_value(v);
	json_decref(root);
	return n;
}

static uint64_t nonzero(const void *p, uint64_t len)
{
	const unsigned char *b = p;
	uint64_t n = 0;

	for (uint64_t i = 0; i < len; i++)
		n += b[i] != 0;
	return n;
}

/* Defect 3: another client's bytes never come out of a ZERO span. */
START_TEST(test_zero_span_is_zero_after_stray_writes)
{
	struct spanheap *a, *b;
	struct spanheap_span s1, sep, z;
	uint64_t released, sys;
	unsigned char *base;

	ck_assert_int_eq(spanheap_connect(td.sock, &a), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &b), 0);
	base = spanheap_ptr(a, 0);
	/* A span written, freed and punched: released, and zero. */
	ck_assert_int_eq(spanheap_span_alloc(a, 64, 0, &s1), 0);
	ck_assert_int_eq(spanheap_span_alloc(a, 1, 0, &sep), 0);
	memset(s1.ptr, 0x11, 64 * PG);
	ck_assert_int_eq(spanheap_span_free(a, s1.off), 0);
	ck_assert_int_eq(spanheap_scavenge(a, &released), 0);
	ck_assert_uint_ge(released, 64 * PG);
	sys = stat_of(a, "heap_sys");
	/* A writes where no span is: punched pages, and beyond heap_sys. */
	memset(s1.ptr, 0xab, 64 * PG);
	memset(base + sys, 0xab, 64 * PG);
	/* B asks for zeros over both. */
	ck_assert_int_eq(spanheap_span_alloc(b, 64, SPANHEAP_ZERO, &z), 0);
	ck_assert_uint_eq(z.off, s1.off);
	fprintf(stderr, "zero: %llu non-zero bytes in a 64-page ZERO span\n",
		(unsigned long long)nonzero(z.ptr, 64 * PG));
	ck_assert_uint_eq(nonzero(z.ptr, 64 * PG), 0);
	ck_assert_int_eq(spanheap_span_alloc(b, sys / PG, SPANHEAP_ZERO, &z),
			 0);
	ck_assert_uint_le(z.off, sys);
	ck_assert_uint_ge(z.off + sys, sys + 64 * PG);
	ck_assert_uint_eq(nonzero(base + sys, 64 * PG), 0);
	ck_assert_uint_eq(nonzero(z.ptr, sys), 0);
	spanheap_close(b);
	spanheap_close(a);
}
END_TEST

/*
 * The heaps of the next tests; a debug build's daemon checks its whole
 * heap after every call, so there they are smaller.
 */
#ifdef SPANHEAP_DEBUG
#define NSMALL (16 * MiB / PG)
#define LARGE_GIB 1
#else
#define NSMALL (256 * MiB / PG)
#define LARGE_GIB 16
#endif

/*
 * Defect 5: zeroing 256 MiB (16 in a debug build) of dirty but untouched
 * one-page spans faults nothing into the daemon and allocates nothing in
 * the arena.
 */
START_TEST(test_zero_costs_the_daemon_nothing)
{
	static uint64_t offs[NSMALL];
	struct spanheap_span sp[SPANHEAP_MAX_BATCH];
	uint64_t rss0, shm0, rss, shm;
	struct spanheap *h;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	rss0 = test_proc_status(td.pid, "VmRSS");
	shm0 = test_proc_status(td.pid, "RssShmem");
	for (int pass = 0; pass < 2; pass++) {
		unsigned int fl = pass ? SPANHEAP_ZERO : 0;

		for (uint64_t i = 0; i < NSMALL; i += SPANHEAP_MAX_BATCH) {
			if (spanheap_span_alloc_batch(h, 1, fl,
						      SPANHEAP_MAX_BATCH, sp))
				ck_abort_msg("alloc batch %lu",
					     (unsigned long)i);
			for (int k = 0; k < SPANHEAP_MAX_BATCH; k++)
				offs[i + k] = sp[k].off;
		}
		/* Freed, the spans are dirty: the heap cannot know better. */
		if (!pass)
			ck_assert_int_eq(spanheap_span_free_batch(h, offs,
								  NSMALL), 0);
	}
	ck_assert_uint_eq(stat_of(h, "heap_inuse"), NSMALL * PG);
	rss = test_proc_status(td.pid, "VmRSS");
	shm = test_proc_status(td.pid, "RssShmem");
	fprintf(stderr, "zero: daemon VmRSS %llu -> %llu KiB, RssShmem %llu -> %llu KiB, arena %llu KiB\n",
		(unsigned long long)(rss0 >> 10), (unsigned long long)(rss >> 10),
		(unsigned long long)(shm0 >> 10), (unsigned long long)(shm >> 10),
		(unsigned long long)(test_arena_resident() >> 10));
	ck_assert_msg(shm < shm0 + 32 * MiB && rss < rss0 + 32 * MiB,
		      "daemon RSS %llu -> %llu, shmem %llu -> %llu",
		      (unsigned long long)rss0, (unsigned long long)rss,
		      (unsigned long long)shm0, (unsigned long long)shm);
	ck_assert_uint_eq(test_arena_resident(), 0);
	spanheap_close(h);
}
END_TEST

/*
 * Defect 4: memory a client wrote (or fallocate()d) outside its spans
 * shows as unaccounted, and a SCAVENGE gives it back; nobody's span is
 * touched.
 */
START_TEST(test_stray_memory_found_and_released)
{
	struct spanheap *a, *b;
	struct spanheap_span s, t;
	uint64_t sys, released, strays = 28 * MiB, unaccounted, after;
	json_t *root;
	unsigned char *base;

	ck_assert_int_eq(spanheap_connect(td.sock, &a), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &b), 0);
	base = spanheap_ptr(a, 0);
	ck_assert_int_eq(spanheap_span_alloc(b, 256, 0, &s), 0);
	memset(s.ptr, 0x5c, 256 * PG);
	ck_assert_int_eq(spanheap_span_alloc(a, 1, 0, &t), 0);
	memset(t.ptr, 0x3a, PG);
	sys = stat_of(a, "heap_sys");
	/* Released pages of the heap, beyond it, and fallocate()d ones. */
	memset(base + 32 * MiB, 0xee, 4 * MiB);
	memset(base + sys + MiB, 0xee, 8 * MiB);
	ck_assert_int_eq(fallocate(test_arena_fd(), 0, 512 * MiB, 16 * MiB), 0);
	ck_assert_uint_eq(test_arena_resident(), 257 * PG + strays);
	ck_assert_uint_eq(stat_of(a, "consumed"), 257 * PG);
	/*
	 * Checked after the kernel's figure, which says more on failure.
	 * MemStats may be up to 100 ms old (the daemon caches it while
	 * nothing it did changed), and writes by clients are no change it
	 * can see: ask again until it is at most that old.
	 */
	for (int i = 0; i < 3000; i++) {
		root = stats(a);
		unaccounted = (uint64_t)json_integer_value(
			json_object_get(root, "arena_unaccounted"));
		json_decref(root);
		if (unaccounted == strays)
			break;
		usleep(10000);
	}

	ck_assert_int_eq(spanheap_scavenge(a, &released), 0);
	/* consumed and the kernel agree again. */
	after = test_arena_resident();
	fprintf(stderr, "stray: resident %llu MiB over consumed, %llu after SCAVENGE\n",
		(unsigned long long)(strays >> 20),
		(unsigned long long)((after - 257 * PG) >> 20));
	ck_assert_uint_eq(after, 257 * PG);
	ck_assert_uint_eq(unaccounted, strays);
	ck_assert_uint_eq(stat_of(a, "arena_resident"), 257 * PG);
	ck_assert_uint_eq(stat_of(a, "consumed"), 257 * PG);
	ck_assert_uint_eq(stat_of(a, "arena_unaccounted"), 0);
	ck_assert_uint_eq(scav_stat_of(a, "stray_released_bytes_last"), strays);
	ck_assert_uint_eq(scav_stat_of(a, "stray_released_bytes_total"),
			  strays);
	/* The spans in use kept every byte. */
	for (uint64_t i = 0; i < 256 * PG; i++)
		if (((unsigned char *)s.ptr)[i] != 0x5c)
			ck_abort_msg("byte %lu of a live span changed",
				     (unsigned long)i);
	ck_assert_uint_eq(nonzero(t.ptr, PG), PG);
	ck_assert_uint_eq(base[32 * MiB], 0);
	/* With nothing allocated, nothing stays resident. */
	ck_assert_int_eq(spanheap_span_free(a, t.off), 0);
	ck_assert_int_eq(spanheap_span_free(b, s.off), 0);
	memset(base + 100 * MiB, 0xee, MiB);
	ck_assert_int_eq(spanheap_scavenge(a, &released), 0);
	ck_assert_uint_eq(test_arena_resident(), 0);
	ck_assert_uint_eq(stat_of(a, "consumed"), 0);
	ck_assert_uint_eq(stat_of(a, "arena_resident"), 0);
	spanheap_close(b);
	spanheap_close(a);
}
END_TEST

#define NLARGE (((uint64_t)LARGE_GIB) << 30 >> 20)	/* 1 MiB spans */
/* Its page map, 16 bytes a page: 3/4 of it must come and go. */
#define LARGE_MAP ((((uint64_t)LARGE_GIB) << 30) / PG * 16)
#define STR(x) #x
#define XSTR(x) STR(x)

/*
 * Defect 6: a 16 GiB arena (1 GiB in a debug build) allocated as
 * untouched 256-page spans grows the page map (16 bytes a page); freed
 * and released, it shrinks back.
 * The page map lives in the daemon's metadata memfd, whose st_blocks is
 * the kernel's own count.
 */
START_TEST(test_page_map_follows_spans)
{
	static uint64_t offs[NLARGE];
	struct spanheap_span sp[SPANHEAP_MAX_BATCH];
	uint64_t meta0, peak, after, released;
	struct spanheap *h;

	test_daemon_stop(&td);
	start("--arena-size=" XSTR(LARGE_GIB) "G");
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	meta0 = meta_resident();
	for (uint64_t i = 0; i < NLARGE; i += SPANHEAP_MAX_BATCH) {
		if (spanheap_span_alloc_batch(h, 256, 0, SPANHEAP_MAX_BATCH,
					      sp))
			ck_abort_msg("alloc batch %lu", (unsigned long)i);
		for (int k = 0; k < SPANHEAP_MAX_BATCH; k++)
			offs[i + k] = sp[k].off;
	}
	ck_assert_uint_eq(stat_of(h, "heap_inuse"), ((uint64_t)LARGE_GIB) << 30);
	peak = meta_resident();
	/* 16 bytes for each page: of 64 MiB, at least 48. */
	ck_assert_uint_ge(peak, meta0 + LARGE_MAP / 4 * 3);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, NLARGE), 0);
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(stat_of(h, "heap_released"),
			  ((uint64_t)LARGE_GIB) << 30);
	after = meta_resident();
	fprintf(stderr, "page map: daemon metadata %llu -> %llu -> %llu KiB\n",
		(unsigned long long)(meta0 >> 10),
		(unsigned long long)(peak >> 10),
		(unsigned long long)(after >> 10));
	/* Of the page map's 64 MiB, at least 48 must be given back. */
	ck_assert_msg(after + LARGE_MAP / 4 * 3 <= peak,
		      "daemon metadata %llu -> %llu -> %llu",
		      (unsigned long long)meta0, (unsigned long long)peak,
		      (unsigned long long)after);
	spanheap_close(h);
}
END_TEST

/* Allocate @bytes in 4 MiB spans and touch every page. */
static void alloc_touched(struct spanheap *h, uint64_t bytes, uint64_t *offs)
{
	for (uint64_t i = 0; i < bytes / (4 * MiB); i++) {
		struct spanheap_span s;

		if (spanheap_span_alloc(h, 4 * MiB / PG, 0, &s))
			ck_abort_msg("alloc %lu", (unsigned long)i);
		memset(s.ptr, 0x42, 4 * MiB);
		offs[i] = s.off;
	}
}

/*
 * Defect 13: the pages a killed client held go back at once, not after
 * --scavenge-after (an hour here); what a live client freed stays.
 */
START_TEST(test_departed_client_released_at_once)
{
	uint64_t offs[2], base, gone = 0;
	struct spanheap *b;
	int ready[2], status;
	pid_t pid;
	char c;

	ck_assert_int_eq(spanheap_connect(td.sock, &b), 0);
	alloc_touched(b, 8 * MiB, offs);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		static uint64_t koffs[16];
		struct spanheap *k;

		if (spanheap_connect(td.sock, &k))
			_exit(1);
		alloc_touched(k, 64 * MiB, koffs);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(spanheap_span_free_batch(b, offs, 2), 0);
	base = test_arena_resident();
	ck_assert_uint_eq(base, 72 * MiB);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/*
	 * Up to 30 s: sanitizer builds are slow.  The kernel's figure drops
	 * when a run is punched, the counter a moment later, when the run
	 * is given back; and MemStats may be 100 ms old.
	 */
	for (int i = 0; i < 3000 && (test_arena_resident() > 8 * MiB ||
				     scav_stat_of(b, "departed_released_bytes_total") <
					     64 * MiB); i++)
		usleep(10000);
	fprintf(stderr, "departed: arena resident %llu MiB, %llu MiB after the kill\n",
		(unsigned long long)(base >> 20),
		(unsigned long long)(test_arena_resident() >> 20));
	/* B's 8 MiB, freed a moment ago, are still there for reuse. */
	ck_assert_uint_eq(test_arena_resident(), 8 * MiB);
	gone = scav_stat_of(b, "departed_released_bytes_total");
	ck_assert_uint_eq(gone, 64 * MiB);
	ck_assert_uint_eq(stat_of(b, "consumed"), 8 * MiB);
	ck_assert_uint_eq(stat_of(b, "heap_inuse"), 0);
	spanheap_close(b);
}
END_TEST

static Suite *memory_suite(void)
{
	Suite *s = suite_create("memory");
	test_socket_only();
	TCase *tc;

	tc = tcase_create("zero");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_zero_span_is_zero_after_stray_writes);
	tcase_add_test(tc, test_zero_costs_the_daemon_nothing);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("stray");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stray_memory_found_and_released);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_page_map_follows_spans);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("departed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_departed_client_released_at_once);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(memory_suite)
