// SPDX-License-Identifier: MIT
/*
 * Fuzz target for magazine_resume_locked() (daemon/magazine.c): a
 * restarted daemon reads back the durable record of a magazine's fill
 * rings from memory it did not just write, and the client's took
 * values from a HELLO.  Neither may crash it or corrupt the heap.
 *
 * Each input starts from the same state, made as the daemon makes it: a
 * heap in plain memory with the record's area past its layout, an owner
 * A with a magazine (classes 0, 1 and 3 filled, some of each taken and
 * synced, more taken and not), and an owner B with spans of its own.
 * Then the input changes the client's took and the record, and A is
 * resumed.
 *
 * Input format: 28 bytes XORed into A's seven honest took values (LE
 * u32; a short input XORs what it has), then edits of 3 bytes each, a
 * 16-bit LE word W and a byte V:
 *   W < 0x8000: the record's byte W mod MAGAZINE_AREA_BYTES ^= V;
 *   W >= 0x8000: the record's 8-byte word (W & 0x1ff) becomes the
 *     interesting offset V mod NINTERESTING: B's spans, A's HELD and
 *     FILL spans, one inside a span, one past the arena.
 *
 * What must hold: a refusal is -ENOENT or -EUCLEAN and changes no byte
 * of the metadata or the record; a resume passes heap_check(), leaves
 * B's spans as they were, never adds a span or a FILL page to A, leaves
 * HELD every span A held, and a second resume with the same took
 * changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/core.h"
#include "daemon/log.h"
#include "daemon/magazine.h"
#include "proto/proto.h"
#include "shm/heap.h"
#include "tests/fuzz/fuzz.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE HEAP_PAGE_SIZE
#define NB 4
#define MAXSPANS 256
#define NINTERESTING 64

static struct {
	uint8_t *mem;
	size_t size;
	uint64_t layout;
	struct core core;
	uint32_t a, b;
	uint64_t boff[NB];
	uint64_t held[MAXSPANS];
	unsigned int nheld;
	uint32_t took[MAG_NCLASSES];
	uint64_t interesting[NINTERESTING];
	unsigned int ninteresting;
} f;

static struct log_limit lg;

#define must(x)                                                          \
	do {                                                             \
		if (!(x))                                                \
			fuzz_fail(__LINE__, #x);                         \
	} while (0)

static void fuzz_fail(int line, const char *what)
{
	log_err("fuzz_magresume.c:%d: %s", line, what);
	abort();
}

static int no_release(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	(void)off;
	(void)len;
	return 0;
}

static void no_zero(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	(void)off;
	(void)len;
}

static void interesting(uint64_t off)
{
	if (f.ninteresting < NINTERESTING)
		f.interesting[f.ninteresting++] = off;
}

/* A fresh heap, A's magazine served and partly taken, B's spans. */
static void prepare(void)
{
	struct heap_config cfg = { .arena_size = 8 * MiB, .max_owners = 4 };
	struct heap_ops ops = { .release = no_release, .zero = no_zero };
	static const unsigned int cls[] = { 0, 0, 1, 3 };
	struct mag_region *r;
	struct magazine *m;
	struct heap *h;
	size_t rsize;

	memset(&f.held, 0, sizeof(f.held));
	f.nheld = f.ninteresting = 0;
	memset(f.took, 0, sizeof(f.took));
	must(heap_layout_size(&cfg, &f.layout) == 0);
	f.size = f.layout + MAGAZINE_AREA_BYTES;
	if (!f.mem) {
		f.mem = mmap(NULL, f.size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		must(f.mem != MAP_FAILED);
	}
	memset(f.mem, 0, f.size);
	must(heap_format(f.mem, f.size, &cfg, &ops, &h) == 0);
	core_init(&f.core);
	f.core.heap = h;
	must(heap_owner_add(h, "a", 1, &f.a) == 0);
	must(heap_owner_add(h, "b", 2, &f.b) == 0);
	for (unsigned int i = 0; i < NB; i++) {
		struct heap_span s;

		must(heap_alloc(h, 1 + i, 0, f.b, 1, &s) == 0);
		f.boff[i] = s.off;
		interesting(s.off);
	}
	must(magazine_new(&f.core, f.a, 1, getpid(), 4 * MiB, &lg,
			  f.mem + f.layout, &m) == 0);
	rsize = magazine_size(m);
	r = mmap(NULL, rsize, PROT_READ | PROT_WRITE, MAP_SHARED,
		 magazine_fd(m), 0);
	must(r != MAP_FAILED);
	daemon_heap_lock(&f.core);
	for (unsigned int i = 0; i < sizeof(cls) / sizeof(cls[0]); i++)
		magazine_refill_locked(m, cls[i], PROTO_MAG_EMPTY, 1);
	daemon_heap_unlock(&f.core);
	/* Take 3 of each, sync, take 1 more: HELD, then still FILL. */
	for (unsigned int pass = 0; pass < 2; pass++) {
		for (unsigned int c = 0; c < MAG_NCLASSES; c++)
			for (unsigned int k = 0; k < (pass ? 1u : 3u); k++) {
				uint64_t off;

				if (mag_fill_take_at(&r->cls[c].fill, &off,
						     &f.took[c]) < 0)
					break;
				f.held[f.nheld++] = off;
				interesting(off);
				interesting(off + PAGE);
			}
		if (pass)
			break;
		daemon_heap_lock(&f.core);
		magazine_sync_locked(m);
		daemon_heap_unlock(&f.core);
	}
	/* What is left in the rings: FILL. */
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		uint32_t tail = atomic_load(&r->cls[c].fill.tail);
		uint32_t head = atomic_load(&r->cls[c].fill.head);

		for (uint32_t i = tail; i != head; i++)
			interesting(atomic_load(&r->cls[c].fill.entry[i & 63]));
	}
	interesting(cfg.arena_size);
	interesting(UINT64_MAX & ~(PAGE - 1));
	munmap(r, rsize);
	/* The record stays: the daemon dies, its region with it. */
	magazine_free(m);
}

static void finish(void)
{
	heap_detach(f.core.heap);
	core_fini(&f.core);
}

static void expect_b(struct heap *h)
{
	struct heap_owner_info oi;

	must(heap_owner_get(h, f.b, &oi) == 0);
	must(oi.nspans == NB);
	for (unsigned int i = 0; i < NB; i++) {
		uint64_t npages;
		uint32_t who;

		must(heap_span_owner(h, f.boff[i], &who, &npages) == 0);
		must(who == f.b && npages == 1 + i);
	}
}

static void edit(const uint8_t *p)
{
	unsigned int w = p[0] | (unsigned int)p[1] << 8;
	uint8_t *area = f.mem + f.layout;

	if (w < 0x8000) {
		area[w % MAGAZINE_AREA_BYTES] ^= p[2];
		return;
	}
	memcpy(area + 8 * (w & 0x1ff),
	       &f.interesting[p[2] % f.ninteresting], 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct heap_owner_info before, after;
	struct heap_stats hs0, hs1, hs2;
	uint32_t took[MAG_NCLASSES];
	struct heap *h;
	uint8_t *copy;
	size_t i;
	int r;

	prepare();
	h = f.core.heap;
	memcpy(took, f.took, sizeof(took));
	for (i = 0; i < size && i < sizeof(took); i++)
		((uint8_t *)took)[i] ^= data[i];
	for (; i + 3 <= size; i += 3)
		edit(data + i);
	copy = malloc(f.size);
	must(copy);
	memcpy(copy, f.mem, f.size);
	must(heap_owner_get(h, f.a, &before) == 0);
	heap_stats(h, &hs0);
	daemon_heap_lock(&f.core);
	r = magazine_resume_locked(&f.core, f.a, f.mem + f.layout, took);
	daemon_heap_unlock(&f.core);
	heap_check(h);
	expect_b(h);
	if (r < 0) {
		must(r == -ENOENT || r == -EUCLEAN);
		must(memcmp(copy, f.mem, f.size) == 0);
		goto out;
	}
	must(heap_owner_get(h, f.a, &after) == 0);
	heap_stats(h, &hs1);
	must(after.nspans <= before.nspans);
	must(hs1.mag_fill <= hs0.mag_fill);
	for (unsigned int k = 0; k < f.nheld; k++) {
		unsigned int state;
		uint64_t npages;
		uint32_t who;

		/* The synced ones were HELD: they stay so. */
		if (heap_mag_get(h, f.held[k], &who, &npages, &state) == 0 &&
		    who == f.a && state == HEAP_MAG_HELD)
			continue;
		/* The last take of a class was FILL: a lie may free it. */
		must(k >= 9);
	}
	daemon_heap_lock(&f.core);
	must(magazine_resume_locked(&f.core, f.a, f.mem + f.layout, took) ==
	     0);
	daemon_heap_unlock(&f.core);
	heap_stats(h, &hs2);
	must(memcmp(&hs1, &hs2, sizeof(hs1)) == 0);
	heap_check(h);
out:
	free(copy);
	finish();
	return 0;
}
