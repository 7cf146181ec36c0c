// SPDX-License-Identifier: MIT
/* The fake world behind the scavenger: see scav_fake.h. */
#include "tests/shm/scav_fake.h"

struct fake fk;
struct scav s;

uint64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

void fake_lock(void *ctx)
{
	struct fake *f = ctx;

	if (f->locked)
		ck_abort_msg("heap lock taken twice");
	f->locked = true;
	f->nlock++;
}

void fake_unlock(void *ctx)
{
	struct fake *f = ctx;

	if (!f->locked)
		ck_abort_msg("heap lock released but not held");
	f->locked = false;
}

static int fake_release(void *ctx, uint64_t off, uint64_t len)
{
	struct fake *f = ctx;
	uint64_t n = f->ncalls++;
	int r = 0;

	if (!len || off % PG || len % PG || off + len > ARENA_PAGES * PG)
		ck_abort_msg("bad release %#llx+%#llx", (unsigned long long)off,
			     (unsigned long long)len);
	/*
	 * Held runs are released without the lock; under it only stray
	 * runs, pages no span holds: released, or beyond the heap.
	 */
	if (f->locked) {
		for (uint64_t p = off / PG; p < (off + len) / PG; p++)
			if (p < h->meta->grown && !bit_test(h->released, p))
				ck_abort_msg("page %llu of a span released under the lock",
					     (unsigned long long)p);
		if (len > SCAV_BLIND_CHUNK_MAX)
			ck_abort_msg("stray run longer than a chunk");
		f->nstray++;
		f->stray_bytes += len;
	}
	if (n >= MAX_CALLS)
		ck_abort_msg("too many release calls");
	if (f->fail)
		r = f->fail;
	else if (f->fail_call == n + 1)
		r = -EIO;
	else if (f->fail_every && (n + 1) % f->fail_every == 0)
		r = -EIO;
	f->off[n] = off;
	f->len[n] = len;
	f->ret[n] = r;
	if (!r) {
		f->ok_bytes += len;
		memset(&f->data[off / PG], 0, len / PG);
		memset(&f->falloc[off / PG], 0, len / PG);
	}
	f->now += f->step;
	return r;
}

static void fake_zero(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	if (off + len > ARENA_PAGES * PG)
		ck_abort_msg("zero past the arena");
}

/* The memfd's SEEK_DATA / SEEK_HOLE over fk.data. */
static int fake_next_data(void *ctx, uint64_t off, uint64_t *ret_start,
			  uint64_t *ret_end)
{
	struct fake *f = ctx;
	uint64_t p = off / PG, e;

	f->next_data_calls++;
	if (f->fail_next_data)
		return f->fail_next_data;
	while (p < ARENA_PAGES && !f->data[p])
		p++;
	if (p >= ARENA_PAGES)
		return -ENXIO;
	for (e = p; e < ARENA_PAGES && f->data[e]; e++)
		;
	*ret_start = p * PG > off ? p * PG : off;
	*ret_end = e * PG;
	return 0;
}

/* st_blocks: every page that holds memory, seen by next_data or not. */
int fake_resident(void *ctx, uint64_t *ret)
{
	struct fake *f = ctx;
	uint64_t n = 0;

	for (uint64_t p = 0; p < ARENA_PAGES; p++)
		n += f->data[p] || f->falloc[p];
	*ret = n * PG;
	return 0;
}

/* A client fallocate()s pages [page, page + n). */
void fake_falloc(uint64_t page, uint64_t n)
{
	memset(&fk.falloc[page], 1, n);
}

/* A client writes pages [page, page + n), in a span or not. */
void fake_write(uint64_t page, uint64_t n)
{
	memset(&fk.data[page], 1, n);
}

uint64_t fake_data_pages(uint64_t page, uint64_t n)
{
	uint64_t count = 0;

	for (uint64_t p = page; p < page + n; p++)
		count += fk.data[p];
	return count;
}

void scav_start(uint64_t chunk_bytes)
{
	struct scav_config cfg = {
		.scavenge_after_ns = SCAV_AFTER,
		.gc_after_ns = GC_AFTER,
		.chunk_bytes = chunk_bytes,
		.now = fake_now,
		.clock_ctx = &fk,
	};

	scav_init(&s, &cfg);
}

void fake_setup(void)
{
	struct heap_ops ops = { .release = fake_release, .zero = fake_zero,
				 .ctx = &fk, .next_data = fake_next_data,
				 .resident = fake_resident };

	memset(&fk, 0, sizeof(fk));
	fk.now = T0;
	fixture_start(ARENA_PAGES, &ops, META_MEMFD);
	ck_assert_int_eq(heap_set_grow_pages(h, ARENA_PAGES), 0);
	scav_start(MIB);
}

void fake_teardown(void)
{
	fixture_stop();
}

uint64_t alloc_pages(uint64_t npages)
{
	struct heap_span sp;

	ck_assert_int_eq(heap_alloc(h, npages, 0, o1, fk.now, &sp), 0);
	heap_check(h);
	return sp.off;
}

void free_span(uint64_t off)
{
	ck_assert_int_eq(heap_free(h, off, o1, fk.now), 0);
	heap_check(h);
}

/* A whole pass at the current fake time, as the daemon's helper runs it. */
uint64_t pass(bool forced)
{
	uint64_t locks = fk.nlock, bytes;

	bytes = scav_pass_run(&s, h, forced, fake_lock, fake_unlock, &fk);
	ck_assert(!fk.locked);
	ck_assert_uint_gt(fk.nlock, locks);
	ck_assert(!s.in_pass);
	heap_check(h);
	ck_assert_uint_eq(stats().held, 0);
	return bytes;
}

/* A free, never released span of @npages, its pass due now. */
uint64_t dirty_span(uint64_t npages)
{
	uint64_t a = alloc_pages(npages);

	alloc_pages(1);		/* keeps it apart from the rest */
	free_span(a);
	return a;
}

