/* SPDX-License-Identifier: MIT */
/*
 * The arena: one sealed memfd of fixed size, mapped shared.  The heap's
 * metadata is another (see heap_layout_size()): the daemon makes both
 * here, and only the arena is handed to clients.  See arena.c for what
 * really gives shared pages back to the kernel.
 */
#ifndef SPANHEAP_SHM_ARENA_H
#define SPANHEAP_SHM_ARENA_H

#include <stdint.h>

#include "heap.h"

/* The arena a daemon sizes by default: virtual, costs nothing untouched. */
#define ARENA_DEFAULT_SIZE (UINT64_C(64) << 30)

struct arena {
	int fd;			/* the memfd, sealed against resizing */
	void *base;		/* MAP_SHARED mapping of the whole arena */
	uint64_t size;		/* bytes */
};

/**
 * arena_create() - make a sealed memfd of @size bytes and map it.
 * @size: a non-zero multiple of HEAP_PAGE_SIZE.
 * @name: the memfd's name, shown in /proc/PID/fd ("spanheapd-arena",
 *	"spanheapd-meta").
 *
 * The same call makes the arena and the heap's metadata: both are
 * fixed-size, zero until written, cost memory only where touched, and
 * can be handed to another process (or systemd's fd store) by their fd.
 *
 * Return: 0, -EINVAL for a bad size, or the -errno of the failing call.
 */
int arena_create(uint64_t size, const char *name, struct arena **ret);

/**
 * arena_attach() - map an arena received from the daemon.
 *
 * Checks that @fd is a memfd sealed against shrinking, growing and
 * further sealing before mapping it, so the mapping can never SIGBUS.
 * Takes ownership of @fd on success only.
 *
 * Return: 0, -EBADF, -EPERM if the seals are missing, or -errno.
 */
int arena_attach(int fd, struct arena **ret);

/** arena_destroy() - unmap and close; NULL is fine. */
void arena_destroy(struct arena *a);

/**
 * arena_release() - give [off, off + len) back to the kernel.
 *
 * Punches a hole in the memfd: the pages are freed and read as zeros in
 * every process that maps the arena.
 *
 * Return: 0, -EINVAL if the range is outside the arena, or -errno.
 */
int arena_release(struct arena *a, uint64_t off, uint64_t len);

/**
 * arena_zero() - make [off, off + len) read as zeros, in every mapping.
 *
 * Only the range's data extents are cleared (punched, or overwritten
 * with pwrite() when small): holes are skipped, and no page is faulted
 * into this process nor allocated.  Never fails.
 */
void arena_zero(struct arena *a, uint64_t off, uint64_t len);

/**
 * arena_next_data() - the first extent at or after @off that holds memory.
 * @ret_start, @ret_end: the extent [start, end), page-aligned, clipped to
 *	the arena; written only on success.
 *
 * The memfd's own truth (lseek SEEK_DATA, SEEK_HOLE): pages any process
 * wrote or read through its mapping, fallocate()d, or swapped out.
 *
 * Return: 0; -ENXIO if nothing holds memory from @off on; or -errno.
 */
int arena_next_data(const struct arena *a, uint64_t off,
		    uint64_t *ret_start, uint64_t *ret_end);

/**
 * arena_resident() - bytes of the arena that hold memory, as the kernel
 * counts them (st_blocks of the memfd).
 */
int arena_resident(const struct arena *a, uint64_t *ret);

/**
 * arena_heap_ops() - heap hooks that release, zero and find data in the
 * arena @a, and release and find data in the heap's metadata @meta.
 * Either may be NULL: its hooks are then NULL too.
 */
void arena_heap_ops(struct arena *a, struct arena *meta,
		    struct heap_ops *ret);

#endif
