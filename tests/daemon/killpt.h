/* SPDX-License-Identifier: MIT */
/*
 * Kill points for the in-process suites: at every step of the heap
 * transactions of one operation, the metadata a death there would leave
 * once recovered, handed to the test to look at while the operation
 * waits.
 *
 * Until branch journal merges, the transactions are daemon/txshim.c's
 * and journal nothing, so this file plays the journal's contract
 * itself: it copies the metadata at each outermost begin (the state
 * heap_recover() would bring back from any step inside), and a step
 * outside a transaction leaves the memory as it is.  With the journal,
 * killpt.c alone changes: heap_tx_set_hook() copies the memory at each
 * step as it is, and heap_recover() on the copy does the rest.
 */
#ifndef SPANHEAP_TESTS_DAEMON_KILLPT_H
#define SPANHEAP_TESTS_DAEMON_KILLPT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/heap.h"

/*
 * @fn(@ctx, @meta) at each step: @meta holds the @size bytes the
 * recovered metadata would, in a buffer of the test's to attach to and
 * change (its contents are gone when fn returns).
 */
typedef void killpt_fn(void *ctx, void *meta);

/* Watch the transactions of @h, whose metadata is @mem, @size bytes. */
void killpt_arm(struct heap *h, void *mem, size_t size, killpt_fn *fn,
		void *ctx);
/* Stop; the number of steps seen since killpt_arm(). */
unsigned int killpt_disarm(void);

/* heap_attach() over @meta, recovered: a handle with no-op hooks. */
struct heap *killpt_attach(void *meta, size_t size);

#endif
