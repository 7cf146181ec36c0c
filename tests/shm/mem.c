// SPDX-License-Identifier: MIT
/* Plain memory behind the heap's hooks: see mem.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/shm/mem.h"

struct mem mem;

static int mem_release(void *ctx, uint64_t off, uint64_t len)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		ck_abort_msg("release past the arena");
	if (m->fail_release)
		return m->fail_release;
	if (m->base)
		memset(m->base + off, 0, len);
	m->nrelease++;
	m->released_bytes += len;
	m->last_off = off;
	m->last_len = len;
	return 0;
}

static void mem_zero(void *ctx, uint64_t off, uint64_t len)
{
	struct mem *m = ctx;

	if (off + len > m->size)
		ck_abort_msg("zero past the arena");
	if (m->base)
		memset(m->base + off, 0, len);
	m->nzero++;
	m->zeroed_bytes += len;
}

/* A page holds data iff it holds a non-zero byte: punched pages do not. */
bool mem_page_data(uint64_t p)
{
	static const unsigned char zero[PG];

	return memcmp(mem.base + p * PG, zero, PG) != 0;
}

static int mem_next_data(void *ctx, uint64_t off, uint64_t *ret_start,
			 uint64_t *ret_end)
{
	struct mem *m = ctx;
	uint64_t p = off / PG, e, pages = m->size / PG;

	if (!m->base)
		return -ENXIO;
	while (p < pages && !mem_page_data(p))
		p++;
	if (p >= pages)
		return -ENXIO;
	for (e = p; e < pages && mem_page_data(e); e++)
		;
	*ret_start = p * PG;
	*ret_end = e * PG;
	return 0;
}

void mem_ops(struct heap_ops *ret, bool next_data)
{
	memset(ret, 0, sizeof(*ret));
	ret->release = mem_release;
	ret->zero = mem_zero;
	ret->ctx = &mem;
	if (next_data)
		ret->next_data = mem_next_data;
}

void mem_start(uint64_t pages, bool backed, enum fixture_meta kind)
{
	struct heap_config cfg = { .arena_size = pages * PG,
				   .max_owners = FIXTURE_OWNERS };

	mem_start_config(&cfg, backed, kind);
}

void mem_start_config(const struct heap_config *cfg, bool backed,
		      enum fixture_meta kind)
{
	struct heap_ops ops;

	memset(&mem, 0, sizeof(mem));
	mem.size = cfg->arena_size;
	if (backed) {
		mem.base = calloc(1, mem.size);
		ck_assert_ptr_nonnull(mem.base);
	}
	mem_ops(&ops, true);
	fixture_start_config(cfg, &ops, kind);
}

void mem_setup(void)
{
	mem_start(1024, true, META_MEMFD);
	ck_assert_int_eq(heap_set_grow_pages(h, 256), 0);
}

void mem_teardown(void)
{
	fixture_stop();
	free(mem.base);
	mem.base = NULL;
}

uint64_t alloc_at(uint64_t npages, uint32_t o, uint64_t now)
{
	struct heap_span s;

	ck_assert_int_eq(heap_alloc(h, npages, 0, o, now, &s), 0);
	ck_assert_uint_eq(s.npages, npages);
	heap_check(h);
	return s.off;
}

uint64_t alloc(uint64_t npages)
{
	return alloc_at(npages, o1, 0);
}

void free_at(uint64_t off, uint64_t now)
{
	ck_assert_int_eq(heap_free(h, off, o1, now), 0);
	heap_check(h);
}

void layout(const uint64_t *sizes, const bool *freed, int n, uint64_t *offs)
{
	for (int i = 0; i < n; i++)
		offs[i] = alloc(sizes[i]);
	for (int i = 0; i < n; i++)
		if (freed[i])
			free_at(offs[i], 1);
}

uint64_t release_pass(uint64_t now, uint64_t older_than)
{
	struct heap_cursor cursor = { 0, 0 };
	uint64_t bytes = 0;
	struct heap_take t;

	while (heap_scavenge_take(h, now, older_than, UINT64_MAX, &cursor,
				  &t)) {
		int r;

		heap_check(h);
		r = heap_release_taken(h, &t);
		heap_scavenge_return(h, &t, r, &cursor);
		heap_check(h);
		if (r == 0)
			bytes += t.npages * PG;
	}
	ck_assert_uint_eq(cursor.span, 0);
	ck_assert_uint_eq(cursor.page, 0);
	heap_check(h);
	return bytes;
}

uint64_t sweep(uint64_t max_pages)
{
	uint64_t pos = 0, start, end, pages = 0;
	struct heap_stray st;

	while (heap_next_data(h, pos, &start, &end) == 0) {
		uint64_t p = start, next;

		while (p < end) {
			if (heap_stray_next(h, p, end, max_pages, &st, &next)) {
				ck_assert_uint_le(st.npages, max_pages);
				ck_assert_int_eq(heap_release_stray(h, &st), 0);
				pages += st.npages;
				next = st.page + st.npages;
			}
			ck_assert_uint_gt(next, p);
			p = next;
		}
		pos = p;
	}
	heap_check(h);
	return pages;
}
