// SPDX-License-Identifier: MIT
/*
 * The stand-in for the journal's transaction calls: see txshim.h.
 * TEMPORARY: delete with txshim.h when branch journal merges.
 */
#include <stdio.h>
#include <stdlib.h>

#include "txshim.h"

void (*txshim_hook)(void *ctx, struct heap *h, enum txshim_event ev);
void *txshim_ctx;

/* The loop thread's only: heap calls run under the heap lock. */
static unsigned int depth;

unsigned int txshim_depth(void)
{
	return depth;
}

void heap_tx_begin(struct heap *h)
{
	if (!depth && txshim_hook)
		txshim_hook(txshim_ctx, h, TXSHIM_BEGIN);
	depth++;
}

void heap_tx_end(struct heap *h)
{
	if (!depth) {
		fprintf(stderr, "BUG: heap_tx_end() outside a transaction\n");
		abort();
	}
	if (!--depth && txshim_hook)
		txshim_hook(txshim_ctx, h, TXSHIM_END);
}

void heap_tx_log(struct heap *h, const void *p, size_t len)
{
	(void)p;
	(void)len;
	if (!depth) {
		fprintf(stderr, "BUG: heap_tx_log() outside a transaction\n");
		abort();
	}
	if (txshim_hook)
		txshim_hook(txshim_ctx, h, TXSHIM_LOG);
}
