/* SPDX-License-Identifier: MIT */
/*
 * A stand-in for the journal's transaction calls (issue 12, branch
 * journal: shm/heap.h), so that daemon/magazine.c can be written and
 * tested against their names before that branch merges.  It journals
 * nothing: a transaction is a depth count, heap_tx_log() checks only
 * that one is open.  A test may watch the calls (txshim_hook) to take
 * kill points, as it will with the journal's own step hook.
 *
 * TEMPORARY.  When branch journal merges, delete this file and
 * txshim.c: its definitions are strong, so that the link fails loudly
 * (multiple definitions) rather than silently keeping the stand-in.
 */
#ifndef SPANHEAPD_TXSHIM_H
#define SPANHEAPD_TXSHIM_H

#include <stddef.h>

struct heap;

/* As in restart-interfaces.md section 1. */
void heap_tx_begin(struct heap *h);
void heap_tx_end(struct heap *h);
void heap_tx_log(struct heap *h, const void *p, size_t len);

/* What a hook sees. */
enum txshim_event {
	TXSHIM_BEGIN,	/* an outermost begin, before it */
	TXSHIM_LOG,	/* a log inside a transaction */
	TXSHIM_END,	/* an outermost end, after it */
};

/* Called on each event with txshim_ctx; NULL: none. */
extern void (*txshim_hook)(void *ctx, struct heap *h, enum txshim_event ev);
extern void *txshim_ctx;

/* The open depth: 0 outside a transaction. */
unsigned int txshim_depth(void);

#endif
