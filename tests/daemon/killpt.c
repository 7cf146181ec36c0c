// SPDX-License-Identifier: MIT
/*
 * Kill points over the journal's step hook (killpt.h).
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/daemon/killpt.h"

static struct {
	struct heap *h;
	void *mem;
	size_t size;
	killpt_fn *fn;
	void *ctx;
	void *work;		/* what fn gets */
	unsigned int steps;
	bool inside;		/* fn runs */
} kp;

static void hook(void *ctx)
{
	(void)ctx;
	if (kp.inside)
		return;
	memcpy(kp.work, kp.mem, kp.size);
	kp.steps++;
	kp.inside = true;
	kp.fn(kp.ctx, kp.work);
	kp.inside = false;
}

void killpt_arm(struct heap *h, void *mem, size_t size, killpt_fn *fn,
		void *ctx)
{
	kp.h = h;
	kp.mem = mem;
	kp.size = size;
	kp.fn = fn;
	kp.ctx = ctx;
	kp.steps = 0;
	kp.work = aligned_alloc(HEAP_PAGE_SIZE, size);
	ck_assert_ptr_nonnull(kp.work);
	heap_tx_set_hook(h, hook, NULL);
}

unsigned int killpt_disarm(void)
{
	heap_tx_set_hook(kp.h, NULL, NULL);
	free(kp.work);
	kp.work = NULL;
	kp.h = NULL;
	return kp.steps;
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

const struct heap_ops killpt_no_ops = { .release = no_release,
					.zero = no_zero };

struct heap *killpt_attach(void *meta, size_t size)
{
	struct heap *h;

	ck_assert_int_eq(heap_attach(meta, size, &killpt_no_ops, &h), 0);
	ck_assert_int_eq(heap_recover(h, NULL), 0);
	return h;
}
