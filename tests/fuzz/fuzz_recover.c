// SPDX-License-Identifier: MIT
/*
 * Fuzz target for heap_recover() (shm/recover.c): whatever the journal
 * holds, recovery never crashes; a journal it refuses (-EUCLEAN) leaves
 * every byte as it was, and what it accepts leaves a heap that passes
 * heap_check().  No daemon runs: a small heap over plain memory.
 *
 * Input format: byte 0, the mode (bit 0); byte 1, W (mod 64), then W
 * workload calls of 2 bytes each, a kind (mod NOPS) and an argument,
 * run on a fresh heap (a call that fails is fine).  Then:
 *   mode 0  the rest of the input is written over the journal, from its
 *           first byte (count word, seq, then 16-byte entries): arbitrary
 *           journal contents over the valid heap the calls left;
 *   mode 1  2 bytes LE, K, and 2 bytes, one more call: the metadata as a
 *           death at its K-th step leaves it (the step hook, as the
 *           tests' kill points; after the call if it has fewer steps),
 *           with no edit: a real unfinished transaction, which recovery
 *           must accept.
 * Objects named c and d are evictable (HEAP_OBJ_EVICTABLE): sealed and
 * released, they are candidates that EVICT takes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/heap_internal.h"
#include "tests/fuzz/fuzz.h"

#define PAGES 128
#define PG HEAP_PAGE_SIZE
#define SPANS 32

enum {
	ALLOC, FREE, MAG_ALLOC, MAG_MOVE, SCAVENGE, OWNER, CREATE, OBJ,
	OWNER_GONE, EVICT, NOPS
};

static unsigned char arena[PAGES * PG];
static unsigned char *meta, *copy;
static uint64_t meta_size;
static struct heap *h;
static uint32_t owners[2];
static uint64_t spans[SPANS];
static unsigned int nspans;
static uint64_t ids[4];
static uint64_t kill_at, steps;
static bool killed;

static int arena_release(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	memset(arena + off, 0, len);
	return 0;
}

static void arena_zero(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	memset(arena + off, 0, len);
}

static bool page_data(uint64_t p)
{
	for (uint64_t i = 0; i < PG; i++)
		if (arena[p * PG + i])
			return true;
	return false;
}

static int arena_next_data(void *ctx, uint64_t off, uint64_t *ret_start,
			   uint64_t *ret_end)
{
	uint64_t p = off / PG, e;

	(void)ctx;
	while (p < PAGES && !page_data(p))
		p++;
	if (p >= PAGES)
		return -ENXIO;
	for (e = p; e < PAGES && page_data(e); e++)
		;
	*ret_start = p * PG;
	*ret_end = e * PG;
	return 0;
}

static const struct heap_ops ops = {
	.release = arena_release,
	.zero = arena_zero,
	.next_data = arena_next_data,
};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_recover: %s\n", what);
	abort();
}

static void start(void)
{
	struct heap_config cfg = { .arena_size = PAGES * PG, .max_owners = 4,
				   .max_objects = 8, .max_refs = 16,
				   .hash_key = { 3, 4 } };

	if (!meta) {
		if (heap_layout_size(&cfg, &meta_size))
			fail("no layout");
		meta = aligned_alloc(PG, meta_size);
		copy = aligned_alloc(PG, meta_size);
		if (!meta || !copy)
			fail("no memory");
	}
	memset(meta, 0, meta_size);
	memset(arena, 0, sizeof(arena));
	if (heap_format(meta, meta_size, &cfg, &ops, &h) ||
	    heap_set_grow_pages(h, 16) ||
	    heap_owner_add(h, "a", 1, &owners[0]) ||
	    heap_owner_add(h, "b", 2, &owners[1]))
		fail("no heap");
	nspans = 0;
	memset(ids, 0, sizeof(ids));
}

static void call(unsigned int kind, unsigned int arg)
{
	uint32_t o = owners[arg & 1];
	char name[2] = { (char)('a' + (arg >> 1) % 4), 0 };
	unsigned int fl = (arg >> 1) % 4 >= 2 ? HEAP_OBJ_EVICTABLE : 0;
	struct heap_obj_new req = { name, 1, 1 + (arg >> 3) * 100, fl, 1, 1 };
	struct heap_cursor cur = { 0, 0 };
	struct heap_obj_info x;
	struct heap_span sp;
	struct heap_take t;
	uint32_t id;

	switch (kind % NOPS) {
	case ALLOC:
	case MAG_ALLOC:
		if (nspans == SPANS)
			break;
		if ((kind % NOPS == ALLOC ?
			     heap_alloc(h, 1 + (arg >> 1) % 20, 0, o, arg, &sp) :
			     heap_mag_alloc(h, 1 + (arg >> 1) % 4, o, arg, &sp)) == 0) {
			memset(arena + sp.off, 0x5a, PG);
			spans[nspans++] = sp.off;
		}
		break;
	case FREE:
		if (!nspans)
			break;
		arg %= nspans;
		if (heap_free(h, spans[arg], owners[0], 1) == 0 ||
		    heap_free(h, spans[arg], owners[1], 1) == 0)
			spans[arg] = spans[--nspans];
		break;
	case MAG_MOVE:
		if (nspans)
			for (unsigned int k = 0; k < 2; k++)
				heap_mag_move(h, spans[arg % nspans], owners[k],
					      span_val(h, (uint32_t)(spans[arg % nspans] / PG)),
					      HEAP_MAG_FILL, HEAP_MAG_HELD);
		break;
	case SCAVENGE:
		if (heap_scavenge_take(h, 1000, 0, 1 + arg % 8, &cur, &t)) {
			int r = arg & 8 ? -EIO : heap_release_taken(h, &t);

			heap_scavenge_return(h, &t, r, &cur);
		}
		break;
	case OWNER:
		if (heap_owner_add(h, "c", 3, &id) == 0) {
			heap_alloc(h, 1, 0, id, 0, &sp);
			heap_free_owner(h, id, 0);
			heap_owner_remove(h, id);
		}
		break;
	case CREATE:
		if (heap_obj_create(h, o, &req, 0, &x) == 0)
			ids[(arg >> 1) % 4] = x.id;
		break;
	case OBJ:
		switch ((arg >> 3) % 4) {
		case 0:
			heap_obj_seal(h, o, ids[(arg >> 1) % 4]);
			break;
		case 1:
			heap_obj_get(h, o, name, 1, &x);
			break;
		case 2:
			heap_obj_release(h, o, ids[(arg >> 1) % 4], 0);
			break;
		default:
			heap_obj_delete(h, name, 1, 0, 0);
			break;
		}
		break;
	case OWNER_GONE:
		heap_obj_owner_gone(h, o, 0, NULL, NULL, NULL);
		break;
	case EVICT:
		heap_obj_evict(h, arg, &x);
		break;
	}
}

static void on_step(void *ctx)
{
	(void)ctx;
	if (steps++ == kill_at && !killed) {
		memcpy(copy, meta, meta_size);
		killed = true;
	}
}

/* Recover @copy; refused means unchanged, accepted means a heap. */
static void recover_copy(bool must_accept)
{
	static unsigned char *was;
	struct heap_recovery rec;
	struct heap *c;
	int r;

	if (!was && !(was = malloc(meta_size)))
		fail("no memory");
	memcpy(was, copy, meta_size);
	if (heap_attach(copy, meta_size, &ops, &c))
		fail("the copy does not attach");
	r = heap_recover(c, &rec);
	if (r == -EUCLEAN) {
		if (must_accept)
			fail("a real unfinished transaction was refused");
		if (memcmp(was, copy, meta_size))
			fail("a refused journal changed the metadata");
	} else if (r) {
		fail("recovery returned neither 0 nor -EUCLEAN");
	} else {
		heap_check(c);
	}
	heap_detach(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 2, w;

	if (size < 2)
		return 0;
	start();
	w = data[1] % 64;
	for (size_t i = 0; i < w && at + 2 <= size; i++, at += 2)
		call(data[at], data[at + 1]);
	if (data[0] & 1) {
		if (at + 4 > size) {
			heap_detach(h);
			return 0;
		}
		kill_at = data[at] | (uint64_t)data[at + 1] << 8;
		steps = 0;
		killed = false;
		heap_tx_set_hook(h, on_step, NULL);
		call(data[at + 2], data[at + 3]);
		heap_tx_set_hook(h, NULL, NULL);
		if (!killed)
			memcpy(copy, meta, meta_size);
		recover_copy(true);
	} else {
		size_t n = size - at, room = meta_size - h->meta->layout.journal;

		memcpy(copy, meta, meta_size);
		memcpy(copy + h->meta->layout.journal, data + at,
		       n < room ? n : room);
		recover_copy(false);
	}
	heap_detach(h);
	return 0;
}
