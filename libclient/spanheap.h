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
 * No call waits for the daemon longer than the connection's time-out
 * (SPANHEAP_DEFAULT_TIMEOUT_MS, $SPANHEAP_TIMEOUT_MS, or the timeout_ms
 * of spanheap_connect_opts()), for each reply: the connection and its
 * handshake, each reply, each chunk of a reply in chunks, each progress
 * reply of spanheap_scavenge().  A call whose wait expires returns
 * -ETIMEDOUT and the connection is dead: every later call on it returns
 * -ENOTCONN, so that a reply that comes late is never taken for another
 * request's.  Its spans stay mapped and allocated until spanheap_close();
 * close it and connect again.
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
/* The environment variable setting the time-out, in ms. */
#define SPANHEAP_TIMEOUT_ENV "SPANHEAP_TIMEOUT_MS"
/* The time-out without one, in ms. */
#define SPANHEAP_DEFAULT_TIMEOUT_MS 5000

struct spanheap;

struct spanheap_span {
	uint64_t off;		/* offset of the span in the arena */
	size_t npages;		/* pages in the span (>= requested) */
	void *ptr;		/* where this process sees it */
};

#define SPANHEAP_ZERO 0x1	/* span must read as zeros */

/* How spanheap_connect_opts() connects; zero what you do not set. */
struct spanheap_opts {
	size_t size;		/* sizeof(struct spanheap_opts) */
	const char *socket_path; /* NULL: $SPANHEAP_SOCKET, else the default */
	const char *name;	/* NULL: the program's name; "": none */
	int timeout_ms;		/* 0: $SPANHEAP_TIMEOUT_MS, else the default;
				 * < 0: wait for ever */
};

/**
 * spanheap_connect_opts() - connect to spanheapd and map its arena.
 * @opts: how; NULL for every default.  @opts->size lets the struct grow:
 *	a library older than the caller's header refuses fields it does not
 *	know unless they are zero.
 * @ret: the new handle, written only on success.
 *
 * @opts->timeout_ms bounds the handshake (room in the daemon's backlog,
 * then its WELCOME) as a whole, and later each reply wait on the
 * connection; $SPANHEAP_TIMEOUT_MS is used if it is a positive number of
 * ms, and ignored otherwise.
 *
 * Return: 0; -ENOENT or -ECONNREFUSED if no daemon listens there;
 * -EACCES if the socket's permissions refuse this user; -ETIMEDOUT if
 * the daemon did not answer within the time-out (stopped, or out of
 * file descriptors); -EPROTONOSUPPORT if the daemon speaks another
 * protocol version; -EUSERS if the daemon has reached its client limit;
 * -EBADMSG if it answered with something malformed; -EINVAL if
 * @opts->size is too small; -E2BIG if @opts has fields this library
 * does not know; -ENOMEM; or another -errno.
 */
SPANHEAP_EXPORT int spanheap_connect_opts(const struct spanheap_opts *opts,
					  struct spanheap **ret);

/**
 * spanheap_connect() - spanheap_connect_opts() with the defaults.
 * @socket_path: the daemon's socket; NULL means $SPANHEAP_SOCKET, else
 *	SPANHEAP_DEFAULT_SOCKET.
 *
 * The client introduces itself by its program name.
 * Return: as spanheap_connect_opts().
 */
SPANHEAP_EXPORT int spanheap_connect(const char *socket_path,
				     struct spanheap **ret);

/**
 * spanheap_connect_named() - spanheap_connect() with a client name.
 * @name: shown in the daemon's stats; at most 63 bytes are sent; NULL:
 *	no name.
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
 * is unknown; -ENOMEM if the arena has no room; -ETIMEDOUT if the daemon
 * did not answer in time (the connection is then dead); -ENOTCONN if the
 * connection is dead or gone; or another -errno.
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
 * free included); -EPERM if another connection owns it; -ETIMEDOUT;
 * -ENOTCONN.  On error nothing changes, but after -ETIMEDOUT the span may
 * or may not be freed: the connection is dead, and closing it frees
 * every span it holds.
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
 * Each chunk of the reply is waited for at most the time-out.
 * Return: 0; -ENOTCONN if the connection is gone; -ETIMEDOUT; -EBADMSG if
 * the reply is malformed; -EMSGSIZE beyond 64 MiB; -ENOMEM.
 */
SPANHEAP_EXPORT int spanheap_stats_json(struct spanheap *h, char **ret);

/**
 * spanheap_clients_json() - one page of the daemon's client list, as JSON.
 * @after: the id to start after: 0 for the first page, then the @ret_next
 *	of the page before.
 * @ret_next: the @after of the next page, 0 after the last (may be NULL).
 * @ret: a NUL-terminated string the caller frees with free():
 *	{"clients": [...], "next": N}, the entries of MemStats'
 *	clients.list for up to 64 clients of id above @after, in id order.
 *
 * MemStats lists only the first 64 clients; this pages through all.
 *
 * Return: 0; -ENOTCONN if the connection is gone; -EBADMSG if the reply
 * is malformed or its "next" does not go past @after; -EMSGSIZE beyond
 * 64 MiB; -ENOMEM.
 */
SPANHEAP_EXPORT int spanheap_clients_json(struct spanheap *h, uint32_t after,
					  uint32_t *ret_next, char **ret);

/**
 * spanheap_scavenge() - have the daemon release every free span now.
 * @ret_released: bytes given back to the kernel (may be NULL).
 *
 * Waits until a release pass that started after the request has ended,
 * however long: the daemon reports progress about once a second while
 * the pass runs, and the time-out bounds only the wait for each report.
 * Return: 0; -ETIMEDOUT if a report did not come in time; -ENOTCONN;
 * -EBADMSG.
 */
SPANHEAP_EXPORT int spanheap_scavenge(struct spanheap *h,
				      uint64_t *ret_released);

/**
 * spanheap_gc() - have the daemon run a GC pass now.
 * @ret_freed_spans: spans of departed clients it freed (may be NULL).
 *
 * Return: 0; -ETIMEDOUT; -ENOTCONN; -EBADMSG.
 */
SPANHEAP_EXPORT int spanheap_gc(struct spanheap *h, uint64_t *ret_freed_spans);

#ifdef __cplusplus
}
#endif

#endif
