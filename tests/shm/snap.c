// SPDX-License-Identifier: MIT
/* Kill points for the journal's tests: see snap.h. */
#include <stdlib.h>
#include <string.h>

#include "tests/shm/snap.h"

struct snap snap;

/* As a punched hole: the range must hold zeros, and reads so after. */
static int snap_meta_release(void *ctx, uint64_t off, uint64_t len)
{
	static const unsigned char zero[4096];

	(void)ctx;
	ck_assert_uint_le(off + len, snap.size);
	for (uint64_t at = off; at < off + len; at += sizeof(zero))
		ck_assert(!memcmp(snap.mem + at, zero, sizeof(zero)));
	snap.meta_released += len;
	if (h && h->tx_depth)
		snap.meta_released_in_tx += len;
	return 0;
}

void snap_start(const struct heap_config *cfg, const struct heap_ops *ops)
{
	uint64_t size;

	ck_assert_int_eq(heap_layout_size(cfg, &size), 0);
	memset(&snap, 0, sizeof(snap));
	snap.size = size + SNAP_EXTRA;
	snap.mem = aligned_alloc(PG, snap.size);
	snap.copy = aligned_alloc(PG, snap.size);
	ck_assert_ptr_nonnull(snap.mem);
	ck_assert_ptr_nonnull(snap.copy);
	memset(snap.mem, 0, snap.size);
	memset(snap.copy, 0, snap.size);
	snap.ops = *ops;
	snap.ops.meta_release = snap_meta_release;
	snap.ops.meta_next_data = NULL;
	ck_assert_int_eq(heap_format(snap.mem, snap.size, cfg, &snap.ops, &h),
			 0);
	ck_assert_int_eq(heap_owner_add(h, "one", 1, &o1), 0);
	ck_assert_int_eq(heap_owner_add(h, "two", 2, &o2), 0);
}

void snap_stop(void)
{
	heap_detach(h);
	h = NULL;
	free(snap.mem);
	free(snap.copy);
	snap.mem = snap.copy = NULL;
}

void snap_take(void)
{
	const struct heap_layout *l = &h->meta->layout;
	const struct heap_journal *j = h->journal;
	uint64_t used = l->journal + sizeof(*j) +
			(j->count_word & JOURNAL_OFF_MASK) *
				sizeof(struct heap_jentry);

	memcpy(snap.copy, snap.mem, used);
	memcpy(snap.copy + l->size, snap.mem + l->size, snap.size - l->size);
}

int snap_recover(struct heap **ret, struct heap_recovery *rec)
{
	struct heap *c;
	int r;

	ck_assert_int_eq(heap_attach(snap.copy, snap.size, &snap.ops, &c), 0);
	r = heap_recover(c, rec);
	if (r < 0) {
		heap_detach(c);
		return r;
	}
	*ret = c;
	return 0;
}

bool snap_equal(const unsigned char *a, const unsigned char *b)
{
	const struct heap_layout *l = &h->meta->layout;

	return !memcmp(a, b, l->journal) &&
	       !memcmp(a + l->size, b + l->size, snap.size - l->size);
}
