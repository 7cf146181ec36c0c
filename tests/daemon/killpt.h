/* SPDX-License-Identifier: MIT */
/*
 * Kill points for the in-process suites: at every step of the heap
 * transactions of one operation (the journal's step hook,
 * heap_tx_set_hook(): before each logged store and each commit), the
 * metadata a death there leaves, recovered (heap_recover()) in a copy
 * for the test to look at while the operation waits.
 */
#ifndef SPANHEAP_TESTS_DAEMON_KILLPT_H
#define SPANHEAP_TESTS_DAEMON_KILLPT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/heap.h"

/*
 * @fn(@ctx, @meta) at each step: @meta holds the @size bytes of the
 * metadata as they are at that instant, in a buffer of the test's to
 * attach to (killpt_attach()) and change; gone when fn returns.
 */
typedef void killpt_fn(void *ctx, void *meta);

/* Watch the transactions of @h, whose metadata is @mem, @size bytes. */
void killpt_arm(struct heap *h, void *mem, size_t size, killpt_fn *fn,
		void *ctx);
/* Stop; the number of steps seen since killpt_arm(). */
unsigned int killpt_disarm(void);

/*
 * Hooks that release and zero nothing: the metadata's copies and the
 * suites' own heaps have no arena file behind them.
 */
extern const struct heap_ops killpt_no_ops;

/*
 * heap_attach() over @meta and heap_recover(), as a new daemon does: a
 * handle with no-op hooks.
 */
struct heap *killpt_attach(void *meta, size_t size);

#endif
