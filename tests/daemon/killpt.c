// SPDX-License-Identifier: MIT
/*
 * Kill points over daemon/txshim.c (killpt.h).  TEMPORARY shape: with
 * branch journal, killpt_arm() sets heap_tx_set_hook(), the hook copies
 * the live memory, and killpt_attach() calls heap_recover().
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/txshim.h"
#include "tests/daemon/killpt.h"

static struct {
	struct heap *h;
	void *mem;
	size_t size;
	killpt_fn *fn;
	void *ctx;
	void *committed;	/* the memory at the last outermost begin */
	void *work;		/* what fn gets */
	unsigned int steps;
	bool inside;		/* fn runs: its own heap calls are not steps */
} kp;

static void step(const void *state)
{
	memcpy(kp.work, state, kp.size);
	kp.steps++;
	kp.inside = true;
	kp.fn(kp.ctx, kp.work);
	kp.inside = false;
}

static void hook(void *ctx, struct heap *h, enum txshim_event ev)
{
	(void)ctx;
	if (h != kp.h || kp.inside)
		return;
	switch (ev) {
	case TXSHIM_BEGIN:
		step(kp.mem);
		memcpy(kp.committed, kp.mem, kp.size);
		break;
	case TXSHIM_LOG:
		step(kp.committed);
		break;
	case TXSHIM_END:
		step(kp.mem);
		break;
	}
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
	kp.committed = malloc(size);
	kp.work = aligned_alloc(HEAP_PAGE_SIZE, size);
	ck_assert_ptr_nonnull(kp.committed);
	ck_assert_ptr_nonnull(kp.work);
	txshim_ctx = NULL;
	txshim_hook = hook;
}

unsigned int killpt_disarm(void)
{
	txshim_hook = NULL;
	free(kp.committed);
	free(kp.work);
	kp.committed = kp.work = NULL;
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

struct heap *killpt_attach(void *meta, size_t size)
{
	struct heap_ops ops = { .release = no_release, .zero = no_zero };
	struct heap *h;

	ck_assert_int_eq(heap_attach(meta, size, &ops, &h), 0);
	return h;
}
