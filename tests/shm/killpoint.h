/* SPDX-License-Identifier: MIT */
/*
 * Kill points at every step of an operation: the step hook copies the
 * metadata at each logged store and before each commit (as a death
 * there leaves it), and each copy, attached and recovered on its own,
 * must pass heap_check() and be exactly the state after the last
 * transaction that committed (before the operation, or, for one of a
 * transaction a span or reference, the last span's), byte for byte
 * outside the journal and in the model of who holds what.
 * Over the heap snap.h makes (the fixture's h).
 */
#ifndef SPANHEAP_TESTS_SHM_KILLPOINT_H
#define SPANHEAP_TESTS_SHM_KILLPOINT_H

#include "tests/shm/snap.h"

/* Who holds what: owners, their spans, objects and references. */
struct model {
	uint64_t *v;
	size_t n, cap;
};

/* The model of the heap @x (empty @m first). */
void model_of(const struct heap *x, struct model *m);
void model_free(struct model *m);

/* What kill_everywhere() saw. */
struct kill_result {
	uint64_t steps;		/* kill points, each recovered */
	uint64_t max_undone;	/* the most entries one recovery undid */
	uint64_t commits;	/* transactions begun (and so committed) */
};

/*
 * Run @op(@arg) on h with a kill point at every step; then check that a
 * copy taken after it returned recovers to what it left.  Returns what
 * it saw.
 */
struct kill_result kill_everywhere(void (*op)(void *arg), void *arg);

#endif
