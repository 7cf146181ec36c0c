/* SPDX-License-Identifier: MIT */
/*
 * libspanclient: allocate page spans of spanheapd's shared arena.
 *
 * A struct spanheap is one connection to the daemon plus one mapping of
 * its arena.  Spans are allocated and freed through the daemon; their
 * memory is the shared mapping, so a span's offset (not its pointer)
 * names the same memory in every process.  Every span belongs to the
 * connection that allocated it and is freed when that connection closes.
 *
 * Every call that can fail returns 0 or a negative errno and writes its
 * outputs only on success.  A struct spanheap may be used from several
 * threads at once; requests on one connection are serialised.
 *
 * Link with: $(pkg-config --cflags --libs libspanclient)
 */
#ifndef SPANHEAP_H
#define SPANHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPANHEAP_EXPORT __attribute__((visibility("default")))

/* The socket spanheap_connect() uses when given NULL and no environment. */
#define SPANHEAP_DEFAULT_SOCKET "/run/spanheapd/spanheapd.sock"
/* The environment variable naming the socket. */
#define SPANHEAP_SOCKET_ENV "SPANHEAP_SOCKET"
/* Spans one request can carry; the batch calls split larger batches. */
#define SPANHEAP_MAX_BATCH 64

struct spanheap;

struct spanheap_span {
	uint64_t off;		/* offset of the span in the arena */
	size_t npages;		/* pages in the span (>= requested) */
	void *ptr;		/* where this process sees it */
};

#define SPANHEAP_ZERO 0x1	/* span must read as zeros */

/**
 * spanheap_connect() - connect to spanheapd and map its arena.
 * @socket_path: the daemon's socket; NULL means $SPANHEAP_SOCKET, else
 *	SPANHEAP_DEFAULT_SOCKET.
 * @ret: the new handle, written only on success.
 *
 * The client introduces itself by its program name.
 *
 * Return: 0; -ENOENT or -ECONNREFUSED if no daemon listens there;
 * -EACCES if the socket's permissions refuse this user;
 * -EPROTONOSUPPORT if the daemon speaks another protocol version;
 * -EUSERS if the daemon has reached its client limit; -EBADMSG if it
 * answered with something malformed; -ENOMEM; or another -errno.
 */
SPANHEAP_EXPORT int spanheap_connect(const char *socket_path,
				     struct spanheap **ret);

/**
 * spanheap_connect_named() - spanheap_connect() with a client name.
 * @name: shown in the daemon's stats; at most 63 bytes are sent.
 */
SPANHEAP_EXPORT int spanheap_connect_named(const char *socket_path,
					   const char *name,
					   struct spanheap **ret);

/**
 * spanheap_close() - unmap the arena and close the connection.
 *
 * The daemon frees every span the connection still owns.  NULL is fine.
 */
SPANHEAP_EXPORT void spanheap_close(struct spanheap *h);

/** spanheap_page_size() - the arena's page size in bytes (4096). */
SPANHEAP_EXPORT size_t spanheap_page_size(const struct spanheap *h);

/** spanheap_arena_size() - the arena's size in bytes. */
SPANHEAP_EXPORT uint64_t spanheap_arena_size(const struct spanheap *h);

/** spanheap_client_id() - the id the daemon gave this connection. */
SPANHEAP_EXPORT uint32_t spanheap_client_id(const struct spanheap *h);

/**
 * spanheap_span_alloc() - allocate a span of at least @npages pages.
 * @flags: 0 or SPANHEAP_ZERO.
 *
 * Return: 0; -EINVAL if @npages is 0 or larger than the arena, or @flags
 * is unknown; -ENOMEM if the arena has no room; -ENOTCONN if the
 * connection is gone; or another -errno.
 */
SPANHEAP_EXPORT int spanheap_span_alloc(struct spanheap *h, size_t npages,
					unsigned int flags,
					struct spanheap_span *ret);

/**
 * spanheap_span_alloc_batch() - allocate @count spans of @npages pages.
 * @ret: an array of @count spans, written only on success.
 *
 * All or none: on failure no span stays allocated.  Up to
 * SPANHEAP_MAX_BATCH spans travel in one round trip.
 *
 * Return: as spanheap_span_alloc(); -EINVAL also for @count 0.
 */
SPANHEAP_EXPORT int spanheap_span_alloc_batch(struct spanheap *h,
					      size_t npages,
					      unsigned int flags, size_t count,
					      struct spanheap_span *ret);

/**
 * spanheap_span_free() - free the span that starts at offset @off.
 *
 * Return: 0; -EINVAL if @off is not the start of a live span (a double
 * free included); -EPERM if another connection owns it; -ENOTCONN.
 * On error nothing changes.
 */
SPANHEAP_EXPORT int spanheap_span_free(struct spanheap *h, uint64_t off);

/**
 * spanheap_span_free_batch() - free @count spans, all or none.
 *
 * Every offset is checked before any span is freed: on error none is.
 * Up to SPANHEAP_MAX_BATCH offsets travel in one round trip; a larger
 * batch has the daemon check each part first, then free them, twice the
 * round trips.
 *
 * Return: as spanheap_span_free(); -EINVAL also for @count 0 or an offset
 * given twice; -EBADMSG if the daemon refused a part it had passed (the
 * connection is then dead, and the batch may be freed in part).
 */
SPANHEAP_EXPORT int spanheap_span_free_batch(struct spanheap *h,
					     const uint64_t *offs,
					     size_t count);

/** spanheap_ptr() - where offset @off lies in this process; NULL if outside. */
SPANHEAP_EXPORT void *spanheap_ptr(const struct spanheap *h, uint64_t off);

/**
 * spanheap_off() - the arena offset of @p.
 * Return: 0, or -EINVAL if @p is not inside the arena mapping.
 */
SPANHEAP_EXPORT int spanheap_off(const struct spanheap *h, const void *p,
				 uint64_t *ret);

/**
 * spanheap_stats_json() - the daemon's MemStats as one JSON object.
 * @ret: a NUL-terminated string the caller frees with free().
 *
 * Return: 0; -ENOTCONN if the connection is gone; -EBADMSG if the reply
 * is malformed; -EMSGSIZE beyond 64 MiB; -ENOMEM.
 */
SPANHEAP_EXPORT int spanheap_stats_json(struct spanheap *h, char **ret);

/**
 * spanheap_scavenge() - have the daemon release every free span now.
 * @ret_released: bytes given back to the kernel (may be NULL).
 *
 * Waits until a release pass that started after the request has ended.
 * Return: 0; -ENOTCONN; -EBADMSG.
 */
SPANHEAP_EXPORT int spanheap_scavenge(struct spanheap *h,
				      uint64_t *ret_released);

/**
 * spanheap_gc() - have the daemon run a GC pass now.
 * @ret_freed_spans: spans of departed clients it freed (may be NULL).
 *
 * Return: 0; -ENOTCONN; -EBADMSG.
 */
SPANHEAP_EXPORT int spanheap_gc(struct spanheap *h, uint64_t *ret_freed_spans);

#ifdef __cplusplus
}
#endif

#endif
