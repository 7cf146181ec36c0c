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
 * Shared objects are spans with a name and a life of their own: created
 * OPEN by one connection, sealed, then got (and released) by any number
 * of connections, counted by references, and freed only once they are
 * deleted and the last reference is gone, however long their creator
 * lives.  Every client of one socket can read and write every object, as
 * every span: one socket is one trust group.
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
 * A broken connection (the daemon restarted, or the connection was cut
 * while this process lives) is mended by the library: within the call
 * that finds it, it connects again with a backoff of 1 ms doubling to
 * 250 ms, for up to the grace period the daemon states (default 30 s),
 * takes its session back with its secret token, checks that the arena
 * is the same one, keeps its mapping (every pointer stays valid) and
 * sends the request in flight again; the daemon answers a retry of a
 * request it applied with the reply it recorded, so nothing is applied
 * twice.  The caller sees a delay, never an error.  Past the grace the
 * call returns -ENOTCONN as for a dead connection; if the daemon has no
 * such session any more (it was freed after the grace) or another arena
 * (it was fully stopped: the spans are gone), -ESTALE, for that call and
 * every later one.  spanheap_close() tells the daemon the client goes
 * for good, and its spans are freed at once.
 *
 * The one call that waits longer is
 * spanheap_obj_get() with a timeout_ms other than 0: see there.
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
/*
 * The environment variable that, set to "0" when a connection is made,
 * gives it no magazine: every span goes through the socket.
 */
#define SPANHEAP_MAGAZINE_ENV "SPANHEAP_MAGAZINE"
/* The time-out without one, in ms. */
#define SPANHEAP_DEFAULT_TIMEOUT_MS 5000

struct spanheap;

struct spanheap_span {
	uint64_t off;		/* offset of the span in the arena */
	size_t npages;		/* pages in the span (>= requested) */
	void *ptr;		/* where this process sees it */
};

#define SPANHEAP_ZERO 0x1	/* span must read as zeros */
/* spanheap_obj_create(): the daemon may evict it once sealed and unheld */
#define SPANHEAP_EVICTABLE 0x2

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
 * A request of up to 64 pages is rounded up to 1, 2, 4 ... 64 pages and,
 * if the connection has a magazine (see SPANHEAP_MAGAZINE_ENV), served
 * from it without a round trip in the common case; a larger one always
 * goes to the daemon.  A connection belongs to the process that made
 * it: in a forked child, every call on it fails with -ENOTCONN.
 *
 * At the daemon's memory limit (spanheapd(8), --memory-limit) the call
 * waits while the daemon releases idle memory to make room.
 *
 * Return: 0; -EINVAL if @npages is 0 or larger than the arena, or @flags
 * is unknown; -ENOMEM if the arena has no room, or the memory limit has
 * none even after the daemon released what it could; -EDQUOT if the span
 * would take this connection or its uid past its quota; -ETIMEDOUT if
 * the daemon did not answer in time (the connection is then dead);
 * -ENOTCONN if the connection is dead or gone; or another -errno.
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

/* The longest name of a shared object, in bytes, without the NUL. */
#define SPANHEAP_NAME_MAX 255

/* A shared object as this process sees it. */
struct spanheap_obj {
	uint64_t id;		/* unique among every object this arena has had */
	uint64_t off;		/* arena offset of the data (page aligned) */
	size_t size;		/* bytes, as created */
	void *ptr;		/* where this process sees the data */
};

/**
 * spanheap_obj_create() - create an OPEN shared object named @name.
 * @name: 1..SPANHEAP_NAME_MAX bytes of UTF-8 without control characters,
 *	NUL-terminated; unique among the live (OPEN or sealed) objects.
 * @size: bytes, >= 1; the object takes whole pages.
 * @flags: 0, or SPANHEAP_ZERO (the memory reads as zeros) and
 *	SPANHEAP_EVICTABLE (see below), or both.
 * @ret: the object, written only on success.
 *
 * The object is invisible to spanheap_obj_get() until this connection
 * seals it with spanheap_obj_seal(); the connection holds one reference
 * to it.  If the connection closes before the seal, the object is
 * aborted and freed.
 *
 * With SPANHEAP_EVICTABLE the daemon may delete the object to make room
 * when an allocation would cross its memory limit, but only once it is
 * sealed and no connection holds a reference to it, the one unused
 * longest first; a get then finds no such name (-ENOENT).  A reference
 * held keeps it: nothing is evicted under a reader.
 *
 * Return: 0; -EINVAL if @h, @name or @ret is NULL, @name is empty, longer
 * than SPANHEAP_NAME_MAX, not UTF-8 or holds a control character, @size
 * is 0 or @flags is unknown; -EEXIST if a live object has that name;
 * -ENOMEM if the arena has no room, or the daemon's memory limit none
 * even after it released idle memory and evicted what it could (the
 * call waits for that), or the daemon's object table is full; -EDQUOT if
 * the object would take this connection's uid past its quota;
 * -ETIMEDOUT; -ENOTCONN; -EBADMSG if the reply names memory outside the
 * arena (the connection is then dead).
 */
SPANHEAP_EXPORT int spanheap_obj_create(struct spanheap *h, const char *name,
					size_t size, unsigned int flags,
					struct spanheap_obj *ret);

/**
 * spanheap_obj_seal() - make the OPEN object @obj visible to every get.
 *
 * Wakes every spanheap_obj_get() waiting for its name.  By contract
 * nobody writes a sealed object; nothing enforces it.
 *
 * Return: 0; -EINVAL if @h or @obj is NULL or @obj->id is 0; -ENOENT if
 * no object has that id (a delete aborted it); -EPERM if another
 * connection created it; -EALREADY if it is sealed already; -ETIMEDOUT;
 * -ENOTCONN.
 */
SPANHEAP_EXPORT int spanheap_obj_seal(struct spanheap *h,
				      const struct spanheap_obj *obj);

/**
 * spanheap_obj_get() - a reference to the sealed object @name.
 * @timeout_ms: if there is no sealed object of that name: 0 returns
 *	-ENOENT at once, > 0 waits up to that long for one to be sealed,
 *	< 0 waits for as long as it takes.
 * @ret: the object, written only on success.
 *
 * Each get takes one more reference for this connection, to be dropped
 * with spanheap_obj_release() (or by closing the connection).  A waiting
 * get holds the connection: other threads' calls on @h wait until it
 * returns; use a second connection to do other work meanwhile.  The
 * library waits for the reply @timeout_ms plus the connection's
 * time-out, or for ever if @timeout_ms < 0 (a daemon that exits still
 * ends the wait, with -ENOTCONN).
 *
 * Return: 0; -EINVAL if @h, @name or @ret is NULL or @name is not a
 * valid name; -ENOENT if @timeout_ms is 0 and there is no sealed object
 * of that name; -ETIMEDOUT if none was sealed within @timeout_ms (the
 * connection goes on), or if the daemon did not answer in time (the
 * connection is then dead, and later calls return -ENOTCONN); -ENOMEM if
 * the daemon has too many waiting gets; -ENOTCONN; -EBADMSG.
 */
SPANHEAP_EXPORT int spanheap_obj_get(struct spanheap *h, const char *name,
				     int timeout_ms, struct spanheap_obj *ret);

/**
 * spanheap_obj_release() - drop one reference this connection holds.
 *
 * @obj->ptr stays mapped, but the memory may be freed and reused once
 * the last reference to a deleted object is gone: do not touch it.
 *
 * Return: 0; -EINVAL if @h or @obj is NULL, @obj->id is 0, or the
 * connection holds no reference to it; -ETIMEDOUT; -ENOTCONN.
 */
SPANHEAP_EXPORT int spanheap_obj_release(struct spanheap *h,
					 const struct spanheap_obj *obj);

/**
 * spanheap_obj_delete() - remove the name of the live object @name.
 *
 * From now on get no longer finds it and create may reuse the name; its
 * memory is freed when the last reference is released.  Deleting an
 * OPEN object aborts it.  Allowed for the creator's uid and for root.
 *
 * Return: 0; -EINVAL if @h or @name is NULL or @name is not a valid
 * name; -ENOENT if no live object has that name; -EPERM if this
 * process's uid is neither the creator's nor 0; -ETIMEDOUT; -ENOTCONN.
 */
SPANHEAP_EXPORT int spanheap_obj_delete(struct spanheap *h, const char *name);

/**
 * spanheap_objects_json() - every live object, as one JSON text.
 * @ret: a NUL-terminated string the caller frees with free():
 *	{"objects": [...]}, the entries of the daemon's OBJECTS pages.
 *
 * Pages through the daemon's list, 64 objects a round trip.  An object
 * created or deleted meanwhile may or may not be listed; every other is
 * listed once.
 *
 * Return: 0; -EINVAL if @h or @ret is NULL; -ENOTCONN; -ETIMEDOUT;
 * -EBADMSG if a page is malformed or its "next" does not go past the
 * page before; -EMSGSIZE beyond 64 MiB of pages; -ENOMEM.
 */
SPANHEAP_EXPORT int spanheap_objects_json(struct spanheap *h, char **ret);

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
