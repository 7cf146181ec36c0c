// SPDX-License-Identifier: MIT
/*
 * Heap benchmark: alloc+free pairs in-process, on a fresh heap and on a
 * fragmented 4 GiB heap holding over 100k free spans of mixed sizes.
 *
 * The workload is a ring of live spans: each op frees the oldest span and
 * allocates a new one of a size drawn from a fixed mix (mostly 1..5 pages,
 * one in 256 large).  One op = one alloc + one free.  The heap runs over
 * hooks that touch no memory, so only the heap's own work is timed; its
 * metadata is a memfd, as the daemon's.
 *
 * Prints BENCH heap_alloc_free_fresh, BENCH heap_alloc_free_fragmented
 * (ns/op, median of several trials) and RATIO heap_fragmented_vs_fresh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shm/arena.h"
#include "shm/heap.h"

#define ARENA (UINT64_C(4) << 30)
#define RING 1024
#define OPS 1000000
#define TRIALS 5

static int no_release(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx, (void)off, (void)len;
	return 0;
}

static void no_zero(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx, (void)off, (void)len;
}

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static uint64_t draw_size(void)
{
	uint64_t r = rnd();

	if ((r & 255) == 0)
		return 128 + (r >> 8) % 272;
	return 1 + (r >> 8) % 5;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_heap: %s: %d\n", what, r);
	exit(1);
}

static struct arena *meta;

static struct heap *make_heap(uint32_t *o)
{
	struct heap_config cfg = { .arena_size = ARENA, .max_owners = 1 };
	struct heap_ops ops;
	struct heap *h;
	uint64_t size;
	int r = heap_layout_size(&cfg, &size);

	if (r == 0)
		r = arena_create(size, "bench-meta", &meta);
	if (r)
		die("metadata", r);
	arena_heap_ops(NULL, meta, &ops);
	ops.release = no_release;
	ops.zero = no_zero;
	r = heap_format(meta->base, meta->size, &cfg, &ops, &h);
	if (r == 0)
		r = heap_owner_add(h, "bench", 0, o);
	if (r)
		die("heap_format", r);
	return h;
}

static void drop_heap(struct heap *h)
{
	heap_detach(h);
	arena_destroy(meta);
}

/* Fill the arena with spans of the mix, then free every other one. */
static uint64_t fragment(struct heap *h, uint32_t o)
{
	uint64_t cap = ARENA / HEAP_PAGE_SIZE, n = 0;
	uint64_t *offs = malloc(cap * sizeof(*offs));
	struct heap_span s;
	struct heap_stats st;

	if (!offs)
		die("malloc", -ENOMEM);
	for (;;) {
		int r = heap_alloc(h, draw_size(), 0, o, 0, &s);

		if (r == -ENOMEM && heap_alloc(h, 1, 0, o, 0, &s))
			break;
		offs[n++] = s.off;
	}
	for (uint64_t i = 0; i < n; i += 2)
		if (heap_free(h, offs[i], o, 0))
			die("heap_free", -EINVAL);
	free(offs);
	heap_stats(h, &st);
	return st.free_spans;
}

/* Median ns per alloc+free pair over TRIALS runs of OPS pairs. */
static double run(struct heap *h, uint32_t o)
{
	static uint64_t ring[RING];
	static uint64_t sizes[OPS];
	double t[TRIALS];
	struct heap_span s;

	for (int i = 0; i < RING; i++) {
		int r = heap_alloc(h, draw_size(), 0, o, 0, &s);

		if (r)
			die("ring alloc", r);
		ring[i] = s.off;
	}
	for (int k = 0; k < TRIALS; k++) {
		uint64_t t0;

		for (int i = 0; i < OPS; i++)
			sizes[i] = draw_size();
		t0 = now_ns();
		for (int i = 0; i < OPS; i++) {
			uint64_t *slot = &ring[i % RING];

			if (heap_free(h, *slot, o, 1))
				die("free", -EINVAL);
			if (heap_alloc(h, sizes[i], 0, o, 1, &s))
				die("alloc", -ENOMEM);
			*slot = s.off;
		}
		t[k] = (double)(now_ns() - t0) / OPS;
	}
	for (int i = 1; i < TRIALS; i++)
		for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
			double x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	heap_check(h);
	return t[TRIALS / 2];
}

int main(void)
{
	struct heap *h;
	uint32_t o;
	double fresh, frag;
	uint64_t nfree;

	h = make_heap(&o);
	fresh = run(h, o);
	drop_heap(h);

	h = make_heap(&o);
	nfree = fragment(h, o);
	frag = run(h, o);
	drop_heap(h);

	printf("BENCH heap_fragmented_free_spans %lu spans\n",
	       (unsigned long)nfree);
	printf("BENCH heap_alloc_free_fresh %.1f ns/op\n", fresh);
	printf("BENCH heap_alloc_free_fragmented %.1f ns/op\n", frag);
	printf("RATIO heap_fragmented_vs_fresh %.2f\n", frag / fresh);
	return 0;
}
