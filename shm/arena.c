// SPDX-License-Identifier: MIT
/*
 * The arena: a sealed memfd, mapped MAP_SHARED.
 *
 * Sizing.  The memfd is ftruncate()d to the arena size once: that is
 * virtual, a page costs memory only when some process touches it.  It is
 * then sealed with F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, so no client
 * can resize it (a shrink would SIGBUS every process mapping it) nor undo
 * the seals.  Clients check the seals before they map it.
 *
 * Releasing.  This is the one fact the scavenger stands on.  The pages of
 * a memfd are shmem pages owned by the file, not by any mapping.
 * Measured on Linux 6.1 (Debian 12):
 *   - madvise(MADV_DONTNEED) only drops this process's page table
 *     entries: st_blocks does not change and the data stays, so nothing
 *     is freed;
 *   - madvise(MADV_FREE) fails with EINVAL on a shared mapping;
 *   - fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) frees the
 *     pages: st_blocks drops and the range reads back as zeros in every
 *     process (MADV_REMOVE does the same through a mapping).
 * So release is a punch-hole, and the kernel's own figure for what the
 * arena holds is st_blocks * 512.  Re-using a released page costs one
 * page fault in the process that touches it, and the page is zero
 * unless a client wrote there since.  On shared memory a read fault
 * allocates the page as a write does (there is no shared zero page), so
 * a process that reads idle memory brings it back.
 *
 * What holds memory.  lseek(SEEK_DATA / SEEK_HOLE) on the memfd walks
 * its extents of resident (or swapped-out) pages, a page at a time, in
 * time that follows the extents, not the range: the kernel's truth of
 * which pages hold anything, whatever the heap believes.  Every client
 * maps the whole arena writable, so any page may hold a client's bytes.
 * One blind spot, measured: pages fallocate()d but never written or read
 * are holes to SEEK_DATA (and absent to mincore()), yet they hold memory
 * and count in st_blocks.  They read as zeros, so zeroing may skip them;
 * finding them takes st_blocks and punching (see shm/scav.c).  Punching
 * a hole where nothing is costs well under a microsecond.
 *
 * Zeroing.  arena_zero() never touches this process's mapping (a memset
 * there would fault every page of the range into the daemon, and charge
 * it to the daemon's cgroup): it walks the data extents of the range,
 * punches the large ones and pwrite()s zeros over the small ones, whose
 * pages are resident already.  Holes read as zeros and are skipped, so
 * it costs what the range holds, not its length.
 *
 * Metadata.  The heap's metadata is a second memfd made the same way
 * (arena_create() of heap_layout_size() bytes), never sent to clients:
 * a memfd rather than an anonymous mapping so that the heap can outlive
 * the process that holds it (systemd's fd store keeps fds, not
 * mappings).  Its pages that the heap discards are punched like the
 * arena's.  Unlike a private anonymous mapping it has no shared zero
 * page: reading a hole allocates it, which is why the heap consults
 * SEEK_DATA (the meta_next_data hook) before it reads what must be zero.
 *
 * This file is the only one that calls mmap, ftruncate, fallocate or
 * madvise, for the arena and the metadata alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"

#define ARENA_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Extents below this are zeroed with pwrite(), larger ones punched. */
#define ARENA_ZERO_PUNCH_MIN (UINT64_C(64) << 10)

/* What arena_zero() writes: bss, so reading it costs no memory. */
static const char zeros[ARENA_ZERO_PUNCH_MIN];

static int arena_map(int fd, uint64_t size, struct arena **ret)
{
	struct arena *a;
	void *base;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED) {
		int r = -errno;

		free(a);
		return r;
	}
	a->fd = fd;
	a->base = base;
	a->size = size;
	*ret = a;
	return 0;
}

int arena_create(uint64_t size, const char *name, struct arena **ret)
{
	int fd, r;

	if (!size || size & (HEAP_PAGE_SIZE - 1) ||
	    size > (HEAP_MAX_PAGES << HEAP_PAGE_SHIFT))
		return -EINVAL;
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, ARENA_SEALS) < 0) {
		r = -errno;
		goto out_close;
	}
	r = arena_map(fd, size, ret);
	if (r < 0)
		goto out_close;
	return 0;

out_close:
	close(fd);
	return r;
}

int arena_attach(int fd, struct arena **ret)
{
	struct stat st;
	int seals;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	if ((seals & ARENA_SEALS) != ARENA_SEALS)
		return -EPERM;
	if (st.st_size <= 0 || st.st_size & (off_t)(HEAP_PAGE_SIZE - 1))
		return -EINVAL;
	return arena_map(fd, (uint64_t)st.st_size, ret);
}

void arena_destroy(struct arena *a)
{
	if (!a)
		return;
	munmap(a->base, a->size);
	close(a->fd);
	free(a);
}

int arena_release(struct arena *a, uint64_t off, uint64_t len)
{
	if (off > a->size || len > a->size - off)
		return -EINVAL;
	if (fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

int arena_next_data(const struct arena *a, uint64_t off,
		    uint64_t *ret_start, uint64_t *ret_end)
{
	off_t start, end;

	if (off >= a->size)
		return -ENXIO;
	start = lseek(a->fd, (off_t)off, SEEK_DATA);
	if (start < 0)
		return -errno;
	end = lseek(a->fd, start, SEEK_HOLE);
	if (end < 0)
		return -errno;
	*ret_start = (uint64_t)start;
	*ret_end = (uint64_t)end < a->size ? (uint64_t)end : a->size;
	return 0;
}

/* Write zeros over [off, off + len) through the file, not the mapping. */
static int zero_write(int fd, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		ssize_t w = pwrite(fd, zeros, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		len -= (uint64_t)w;
	}
	return 0;
}

/*
 * Zero one extent.  If the chosen call fails, a punch still makes it
 * zero; should that fail too, a memset through the mapping does, at the
 * price of faulting the pages in: the hook must not fail.
 */
static void zero_extent(struct arena *a, uint64_t off, uint64_t len)
{
	int r;

	if (len >= ARENA_ZERO_PUNCH_MIN)
		r = arena_release(a, off, len);
	else
		r = zero_write(a->fd, off, len);
	if (r < 0 && arena_release(a, off, len) < 0)
		memset((char *)a->base + off, 0, len);
}

void arena_zero(struct arena *a, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, start, stop;
	int r;

	while (off < end) {
		r = arena_next_data(a, off, &start, &stop);
		if (r == -ENXIO || (r == 0 && start >= end))
			return;
		if (r < 0) {
			/* The extents cannot be seen: zero it all. */
			zero_extent(a, off, end - off);
			return;
		}
		if (stop > end)
			stop = end;
		zero_extent(a, start, stop - start);
		off = stop;
	}
}

int arena_resident(const struct arena *a, uint64_t *ret)
{
	struct stat st;

	if (fstat(a->fd, &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int ops_release(void *ctx, uint64_t off, uint64_t len)
{
	return arena_release(ctx, off, len);
}

static void ops_zero(void *ctx, uint64_t off, uint64_t len)
{
	arena_zero(ctx, off, len);
}

static int ops_next_data(void *ctx, uint64_t off, uint64_t *ret_start,
			 uint64_t *ret_end)
{
	return arena_next_data(ctx, off, ret_start, ret_end);
}

static int ops_resident(void *ctx, uint64_t *ret)
{
	return arena_resident(ctx, ret);
}

void arena_heap_ops(struct arena *a, struct arena *meta,
		    struct heap_ops *ret)
{
	ret->release = a ? ops_release : NULL;
	ret->zero = a ? ops_zero : NULL;
	ret->ctx = a;
	ret->next_data = a ? ops_next_data : NULL;
	ret->resident = a ? ops_resident : NULL;
	/* The metadata is a memfd too: punched, its holes read as zero. */
	ret->meta_release = meta ? ops_release : NULL;
	ret->meta_next_data = meta ? ops_next_data : NULL;
	ret->meta_ctx = meta;
}
