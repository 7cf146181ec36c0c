/* SPDX-License-Identifier: MIT */
/*
 * Kill points for the journal's tests: a heap over plain metadata with
 * bytes of the caller's past its layout, and copies of that metadata as
 * a process dying at some instruction would leave it, attached and
 * recovered on their own.
 */
#ifndef SPANHEAP_TESTS_SHM_SNAP_H
#define SPANHEAP_TESTS_SHM_SNAP_H

#include "tests/shm/fixture.h"

/* Bytes of the caller's past the layout of a snap heap. */
#define SNAP_EXTRA (2 * PG)

struct snap {
	unsigned char *mem;	/* the live metadata */
	unsigned char *copy;	/* the last copy */
	uint64_t size;		/* bytes of each */
	struct heap_ops ops;	/* meta_release checks and counts */
	uint64_t meta_released;	/* bytes ops->meta_release was given */
	uint64_t meta_released_in_tx; /* of those, inside a transaction */
};

extern struct snap snap;

/*
 * Format a heap of configuration @cfg over @ops into snap.mem (its
 * layout and SNAP_EXTRA bytes) and point the fixture's h at it, with
 * the owners o1 and o2.
 */
void snap_start(const struct heap_config *cfg, const struct heap_ops *ops);
void snap_stop(void);
/*
 * Copy the metadata into snap.copy, as a death now would leave it:
 * whatever lies before the journal's unused entries and the caller's
 * bytes (the rest of the copy is as the last copy left it, unused).
 */
void snap_take(void);
/* Attach to snap.copy and recover: heap_recover()'s result. */
int snap_recover(struct heap **ret, struct heap_recovery *rec);
/* Are @a and @b, metadata of h's layout, equal outside the journal? */
bool snap_equal(const unsigned char *a, const unsigned char *b);

#endif
