// SPDX-License-Identifier: MIT
/*
 * The magazines end to end (issue 11), through libspanclient against the
 * real spanheapd: every class with patterns and ZERO, batches, the
 * errors of bad frees, 8 threads on one connection with exact accounting
 * afterwards, and connections without magazines.  A client killed, idle
 * or forked is test_magazine_life.c; a hostile client writing into its
 * region, test_magazine_hostile.c.
 *
 * No case measures time: each waits, generously, for a state.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "proto/magazine.h"
#include "tests/e2e/mag_fixture.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

#define PG MAG_PG

static struct test_daemon td;

static void setup(void)
{
	test_daemon_start(&td, NULL);
}

/* A daemon that makes no magazines. */
static void setup_none(void)
{
	static const char *const args[] = { "--magazine-bytes=0", NULL };

	test_daemon_start(&td, args);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static struct spanheap *connect_ok(void)
{
	return mag_connect(td.sock);
}

/* The pages of the class a request of @npages rounds up to. */
static uint64_t class_pages(uint64_t npages)
{
	uint64_t p = 1;

	while (p < npages)
		p <<= 1;
	return p;
}

/* Every class, and requests that round up to one. */
static const size_t class_reqs[] = { 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 32, 33,
				     63, 64 };
#define NREQS (sizeof(class_reqs) / sizeof(class_reqs[0]))

/* ---- classes ---- */

/*
 * Each request is served by the magazine with its class's pages; a span
 * freed and taken again with ZERO is the same, dirty one, and reads as
 * zeros over all of it; held at once, no two overlap.
 */
START_TEST(test_every_class)
{
	struct spanheap_span s[NREQS];
	struct spanheap *h = connect_ok();
	uint32_t id = spanheap_client_id(h);
	uint64_t fast0, held = 0;
	char what[64];
	json_t *st;

	st = mag_stats(h);
	ck_assert(mag_client_has_magazine(st, id));
	ck_assert_uint_eq(mag_client_u64(st, id, "cached"), 0);
	ck_assert_uint_eq(mag_counter(st, "max_bytes"), 4 << 20);
	fast0 = mag_counter(st, "fast_allocs");
	json_decref(st);
	for (size_t i = 0; i < NREQS; i++) {
		uint64_t np = class_pages(class_reqs[i]), off;

		snprintf(what, sizeof(what), "a span of %zu pages",
			 class_reqs[i]);
		ck_assert_int_eq(spanheap_span_alloc(h, class_reqs[i], 0,
						     &s[i]), 0);
		ck_assert_uint_ge(s[i].npages, class_reqs[i]);
		ck_assert_uint_eq(s[i].npages, np);
		ck_assert_ptr_eq(s[i].ptr, spanheap_ptr(h, s[i].off));
		mag_pattern(s[i].ptr, np, 0xd1a7 + i, false);
		mag_assert_pattern(s[i].ptr, np, 0xd1a7 + i, false, what);
		off = s[i].off;
		ck_assert_int_eq(spanheap_span_free(h, off), 0);
		/* The one freed last comes back first, dirty: ZERO cleans. */
		ck_assert_int_eq(spanheap_span_alloc(h, class_reqs[i],
						     SPANHEAP_ZERO, &s[i]), 0);
		ck_assert_uint_eq(s[i].off, off);
		ck_assert_uint_eq(s[i].npages, np);
		mag_assert_zero(s[i].ptr, np * PG, what);
		mag_pattern(s[i].ptr, np, i, false);
		held += np * PG;
	}
	for (size_t i = 0; i < NREQS; i++) {
		snprintf(what, sizeof(what), "span %zu held with the rest", i);
		mag_assert_pattern(s[i].ptr, s[i].npages, i, false, what);
	}
	st = mag_stats(h);
	mag_assert_quiet(st);
	/* Two takes a request, every one from the magazine. */
	ck_assert_uint_eq(mag_counter(st, "fast_allocs") - fast0, 2 * NREQS);
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes") -
			  mag_client_u64(st, id, "cached"), held);
	ck_assert_uint_eq(mag_client_u64(st, id, "spans"),
			  wire_json_u64(st, "heap_objects"));
	json_decref(st);
	for (size_t i = 0; i < NREQS; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	st = mag_stats(h);
	mag_assert_quiet(st);
	/* What the client holds now is its cache alone. */
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes"),
			  mag_client_u64(st, id, "cached"));
	ck_assert_uint_eq(wire_json_u64(st, "heap_inuse"),
			  wire_json_u64(st, "cached"));
	ck_assert_uint_gt(wire_json_u64(st, "cached"), 0);
	ck_assert_uint_eq(mag_counter(st, "fast_allocs"),
			  mag_counter(st, "fast_frees"));
	json_decref(st);
	spanheap_close(h);
}
END_TEST

/*
 * Batches through the magazine: all distinct, patterned, freed as one;
 * taken again with ZERO they read as zeros though some are the dirty
 * ones just freed; a batch with one bad offset frees none of its spans.
 */
START_TEST(test_batch)
{
	enum { N = 40 };
	struct spanheap_span s[N], z[N];
	uint64_t offs[N + 1], fast0;
	struct spanheap *h = connect_ok();
	unsigned int reused = 0;
	char what[64];

	fast0 = mag_stat_counter(h, "fast_allocs");
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 5, 0, N, s), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_uint_eq(s[i].npages, 8);
		mag_pattern(s[i].ptr, 8, 0xba7c4 + (uint64_t)i, false);
		offs[i] = s[i].off;
	}
	for (int i = 0; i < N; i++) {
		snprintf(what, sizeof(what), "batch span %d", i);
		mag_assert_pattern(s[i].ptr, 8, 0xba7c4 + (uint64_t)i, false,
				   what);
	}
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, N), 0);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 8, SPANHEAP_ZERO, N, z),
			 0);
	for (int i = 0; i < N; i++) {
		snprintf(what, sizeof(what), "zeroed batch span %d", i);
		ck_assert_uint_eq(z[i].npages, 8);
		mag_assert_zero(z[i].ptr, 8 * PG, what);
		for (int j = 0; j < N; j++)
			reused += z[i].off == offs[j];
	}
	ck_assert_uint_gt(reused, 0);
	ck_assert_uint_gt(mag_stat_counter(h, "fast_allocs"), fast0);
	/* All or none: a never-allocated offset fails the whole batch. */
	for (int i = 0; i < N; i++)
		offs[i] = z[i].off;
	offs[N] = spanheap_arena_size(h) - PG;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, N + 1), -EINVAL);
	/* So does one given twice. */
	offs[N] = offs[0];
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, N + 1), -EINVAL);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, N), 0);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 1), -EINVAL);
	spanheap_close(h);
}
END_TEST

/* Spans above the largest class go by the socket, as before. */
START_TEST(test_large_by_socket)
{
	static const size_t big[] = { MAG_MAX_PAGES + 1, 100, 1000 };
	struct spanheap_span s[3], b[4];
	uint64_t offs[4], fa, ff;
	struct spanheap *h = connect_ok();
	uint32_t id = spanheap_client_id(h);
	json_t *st;

	/* A warm magazine, not in the way. */
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[0]), 0);
	ck_assert_int_eq(spanheap_span_free(h, s[0].off), 0);
	st = mag_stats(h);
	fa = mag_counter(st, "fast_allocs");
	ff = mag_counter(st, "fast_frees");
	json_decref(st);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, big[i], 0, &s[i]), 0);
		ck_assert_uint_ge(s[i].npages, big[i]);
		mag_pattern(s[i].ptr, s[i].npages, 0xb16 + (uint64_t)i, true);
	}
	ck_assert_int_eq(spanheap_span_alloc_batch(h, MAG_MAX_PAGES + 1, 0,
						   4, b), 0);
	st = mag_stats(h);
	ck_assert_uint_eq(mag_counter(st, "fast_allocs"), fa);
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes") -
			  mag_client_u64(st, id, "cached"),
			  (s[0].npages + s[1].npages + s[2].npages +
			   4 * b[0].npages) * PG);
	json_decref(st);
	for (int i = 0; i < 3; i++) {
		mag_assert_pattern(s[i].ptr, s[i].npages, 0xb16 + (uint64_t)i,
				   true, "a large span");
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), -EINVAL);
	}
	for (int i = 0; i < 4; i++)
		offs[i] = b[i].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 4), 0);
	st = mag_stats(h);
	mag_assert_quiet(st);
	ck_assert_uint_eq(mag_counter(st, "fast_frees"), ff);
	ck_assert_uint_eq(wire_json_u64(st, "heap_inuse"),
			  wire_json_u64(st, "cached"));
	json_decref(st);
	spanheap_close(h);
}
END_TEST

/*
 * Frees the daemon refuses, refused as without magazines: a double free
 * (-EINVAL) wherever the span went meanwhile (the return stack, back
 * into the fill ring, the heap), another connection's span (-EPERM),
 * whether it holds it or caches it, and an offset no span starts at
 * (-EINVAL).  The owner's spans stay its own.
 */
START_TEST(test_bad_frees)
{
	enum { N = 40 };
	struct spanheap_span s[N], mine, big;
	struct spanheap *h = connect_ok(), *other = connect_ok();
	uint64_t arena = spanheap_arena_size(h);

	/* Freed once: on the stack, in the ring or in the heap now. */
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[i]), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	for (int i = 0; i < N; i++)
		ck_assert_msg(spanheap_span_free(h, s[i].off) == -EINVAL,
			      "double free of span %d", i);
	ck_assert_int_eq(spanheap_span_alloc(h, 2, 0, &mine), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, MAG_MAX_PAGES + 1, 0, &big),
			 0);
	mag_pattern(mine.ptr, mine.npages, 0x3173, false);
	/* Another connection's: held, cached, or from the socket. */
	ck_assert_int_eq(spanheap_span_free(other, mine.off), -EPERM);
	ck_assert_int_eq(spanheap_span_free(other, big.off), -EPERM);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[0]), 0);
	ck_assert_int_eq(spanheap_span_free(h, s[0].off), 0);
	ck_assert_int_eq(spanheap_span_free(other, s[0].off), -EPERM);
	ck_assert_int_eq(spanheap_span_free_batch(other, &mine.off, 1),
			 -EPERM);
	/* Offsets no span starts at. */
	ck_assert_int_eq(spanheap_span_free(h, arena - PG), -EINVAL);
	ck_assert_int_eq(spanheap_span_free(h, mine.off + PG), -EINVAL);
	ck_assert_int_eq(spanheap_span_free(h, mine.off + 8), -EINVAL);
	ck_assert_int_eq(spanheap_span_free(h, arena), -EINVAL);
	ck_assert_int_eq(spanheap_span_free(other, arena - PG), -EINVAL);
	/* Still the owner's, untouched. */
	mag_assert_pattern(mine.ptr, mine.npages, 0x3173, false, "the span");
	ck_assert_int_eq(spanheap_span_free(h, mine.off), 0);
	ck_assert_int_eq(spanheap_span_free(h, big.off), 0);
	ck_assert_int_eq(spanheap_span_free(h, mine.off), -EINVAL);
	spanheap_close(other);
	spanheap_close(h);
}
END_TEST

/* ---- threads ---- */

/*
 * A debug build's daemon checks its heap after every change, and the
 * library's refills reach it: fewer operations there.
 */
#ifdef SPANHEAP_DEBUG
#define THREAD_OPS 100000
#else
#define THREAD_OPS 1000000
#endif
#define NTHREADS 8
#define THREAD_HOLD 24		/* spans a thread holds at most */

struct worker {
	struct spanheap *h;
	unsigned int no;
	uint64_t rng;
	long ops;
	struct spanheap_span held[THREAD_HOLD];
	unsigned int n;
	uint64_t allocs, frees;
	char err[256];		/* the first failure, or "" */
};

/* A tag no other thread, and no other span of this one, writes. */
static uint64_t worker_tag(const struct worker *w,
			   const struct spanheap_span *s)
{
	return (uint64_t)(w->no + 1) << 56 ^ s->off;
}

/* Free the span at @i, checking that nobody wrote into it. */
static bool worker_free(struct worker *w, unsigned int i)
{
	struct spanheap_span *s = &w->held[i];
	int64_t at = mag_pattern_diff(s->ptr, s->npages, worker_tag(w, s),
				      true);
	int r;

	if (at >= 0) {
		snprintf(w->err, sizeof(w->err),
			 "thread %u: span %#llx of %zu pages overwritten at "
			 "byte %lld: handed out twice", w->no,
			 (unsigned long long)s->off, s->npages, (long long)at);
		return false;
	}
	mag_tsan_freeing();
	r = spanheap_span_free(w->h, s->off);
	if (r) {
		snprintf(w->err, sizeof(w->err),
			 "thread %u: free of %#llx: %d", w->no,
			 (unsigned long long)s->off, r);
		return false;
	}
	w->frees++;
	*s = w->held[--w->n];
	return true;
}

static bool worker_alloc(struct worker *w)
{
	size_t np = 1 + test_rand(&w->rng) % MAG_MAX_PAGES;
	struct spanheap_span *s = &w->held[w->n];
	int r = spanheap_span_alloc(w->h, np, 0, s);

	if (r || s->npages < np) {
		snprintf(w->err, sizeof(w->err),
			 "thread %u: alloc of %zu pages: %d (%zu pages)",
			 w->no, np, r, r ? 0 : s->npages);
		return false;
	}
	w->allocs++;
	/* Twice to this thread: the tags would agree, the spans overlap. */
	for (unsigned int j = 0; j < w->n; j++) {
		const struct spanheap_span *t = &w->held[j];

		if (s->off < t->off + t->npages * PG &&
		    t->off < s->off + s->npages * PG) {
			snprintf(w->err, sizeof(w->err),
				 "thread %u: span %#llx overlaps its span "
				 "%#llx: handed out twice", w->no,
				 (unsigned long long)s->off,
				 (unsigned long long)t->off);
			return false;
		}
	}
	mag_tsan_allocated();
	mag_pattern(s->ptr, s->npages, worker_tag(w, s), true);
	w->n++;
	return true;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	bool ok = true;

	for (long i = 0; ok && i < w->ops; i++) {
		bool drop = w->n == THREAD_HOLD ||
			    (w->n && test_rand(&w->rng) % 2);

		ok = drop ? worker_free(w, (unsigned int)(test_rand(&w->rng) %
							   w->n)) :
			    worker_alloc(w);
	}
	while (ok && w->n)
		ok = worker_free(w, 0);
	return NULL;
}

/*
 * 8 threads on one connection, a million mixed allocations and frees
 * of random classes in all: no span is handed out twice (each thread's
 * pattern encodes it and the offset), and once all are freed the
 * accounting is exact.
 */
START_TEST(test_threads_exact)
{
	static struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	struct spanheap *h = connect_ok();
	uint32_t id = spanheap_client_id(h);
	uint64_t seed = test_seed("magazine threads"), allocs = 0, fa, ff;
	int obs = wire_open(td.sock, "observer");
	json_t *st;

	for (unsigned int i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].h = h;
		w[i].no = i;
		w[i].rng = seed + i * UINT64_C(0x9e3779b97f4a7c15) + 1;
		w[i].ops = THREAD_OPS / NTHREADS;
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]),
				 0);
	}
	for (unsigned int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		ck_assert_msg(!w[i].err[0], "%s", w[i].err);
		ck_assert_uint_eq(w[i].allocs, w[i].frees);
		allocs += w[i].allocs;
	}
	st = mag_stats(h);
	mag_assert_quiet(st);
	ck_assert_uint_eq(wire_json_u64(st, "heap_inuse"),
			  wire_json_u64(st, "cached"));
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes"),
			  mag_client_u64(st, id, "cached"));
	fa = mag_counter(st, "fast_allocs");
	ff = mag_counter(st, "fast_frees");
	ck_assert_uint_gt(fa, 0);
	ck_assert_uint_le(fa, allocs);
	fprintf(stderr, "threads: %llu allocs, %llu from the magazine, "
		"%llu refills, %llu kicks\n", (unsigned long long)allocs,
		(unsigned long long)fa,
		(unsigned long long)mag_counter(st, "refills"),
		(unsigned long long)mag_counter(st, "kicks"));
	json_decref(st);
	spanheap_close(h);
	st = mag_wait_fd(obs, mag_all_gone, &id,
			 "the closed client's spans are all freed");
	json_decref(st);
	close(obs);
	/*
	 * No span was freed into the magazine that was not taken from it.
	 * Not every one taken went back into it: a free whose stack is still
	 * full after its refills (the other threads fill it again meanwhile)
	 * goes by the socket, which is as exact (the sums above).
	 */
	ck_assert_uint_le(ff, fa);
}
END_TEST

/* ---- none ---- */

/* SPANHEAP_MAGAZINE=0 at connect: that connection has none. */
START_TEST(test_env_no_magazine)
{
	struct spanheap *h, *m = connect_ok();
	struct spanheap_span s;
	uint32_t id;
	json_t *st;

	ck_assert_int_eq(setenv(SPANHEAP_MAGAZINE_ENV, "0", 1), 0);
	h = connect_ok();
	unsetenv(SPANHEAP_MAGAZINE_ENV);
	id = spanheap_client_id(h);
	ck_assert_int_eq(spanheap_span_alloc(h, 3, 0, &s), 0);
	ck_assert_uint_eq(s.npages, 3);
	st = mag_stats(h);
	ck_assert(!mag_client_has_magazine(st, id));
	ck_assert(mag_client_has_magazine(st, spanheap_client_id(m)));
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes"), 3 * PG);
	ck_assert_uint_eq(mag_counter(st, "fast_allocs"), 0);
	json_decref(st);
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	ck_assert_uint_eq(mag_stat(h, "heap_inuse"), 0);
	spanheap_close(h);
	spanheap_close(m);
}
END_TEST

/* --magazine-bytes=0: no client gets a magazine; the socket serves all. */
START_TEST(test_no_magazines)
{
	struct spanheap_span s[NREQS];
	struct spanheap *h = connect_ok();
	uint32_t id = spanheap_client_id(h);
	uint64_t held = 0;
	json_t *st;

	for (size_t i = 0; i < NREQS; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, class_reqs[i],
						     SPANHEAP_ZERO, &s[i]), 0);
		ck_assert_uint_ge(s[i].npages, class_reqs[i]);
		mag_assert_zero(s[i].ptr, s[i].npages * PG, "a span");
		mag_pattern(s[i].ptr, s[i].npages, i, false);
		held += s[i].npages * PG;
	}
	st = mag_stats(h);
	mag_assert_quiet(st);
	ck_assert(!mag_client_has_magazine(st, id));
	ck_assert_uint_eq(mag_client_u64(st, id, "cached"), 0);
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes"), held);
	ck_assert_uint_eq(wire_json_u64(st, "heap_inuse"), held);
	ck_assert_uint_eq(mag_counter(st, "max_bytes"), 0);
	ck_assert_uint_eq(mag_counter(st, "fast_allocs"), 0);
	ck_assert_uint_eq(mag_counter(st, "filled"), 0);
	json_decref(st);
	for (size_t i = 0; i < NREQS; i++) {
		mag_assert_pattern(s[i].ptr, s[i].npages, i, false, "a span");
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), -EINVAL);
	}
	st = mag_stats(h);
	ck_assert_uint_eq(wire_json_u64(st, "heap_inuse"), 0);
	ck_assert_uint_eq(wire_json_u64(st, "cached"), 0);
	ck_assert_uint_eq(mag_counter(st, "fast_frees"), 0);
	json_decref(st);
	spanheap_close(h);
}
END_TEST

static Suite *magazine_suite(void)
{
	Suite *s = suite_create("magazine");
	TCase *tc;

	tc = tcase_create("classes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_every_class);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_large_by_socket);
	tcase_add_test(tc, test_bad_frees);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* A million operations on this VM, under sanitizers too. */
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_threads_exact);
	suite_add_tcase(s, tc);



	tc = tcase_create("none");
	tcase_add_checked_fixture(tc, setup_none, teardown);
	tcase_add_test(tc, test_no_magazines);
	suite_add_tcase(s, tc);

	tc = tcase_create("env");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_env_no_magazine);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_suite)
