/* SPDX-License-Identifier: MIT */
/*
 * libspanclient internals shared by its files.  Nothing here is exported:
 * the library is built with -fvisibility=hidden and only spanheap_* leaves
 * it.
 *
 * A struct spanheap is one SOCK_SEQPACKET connection plus one mapping of
 * the arena.  Everything but the lock's fields is fixed once
 * spanheap_connect() returns, so spanheap_ptr(), spanheap_off() and the
 * accessors take no lock.
 *
 * Locking: h->lock is the only lock.  A caller takes it around a whole
 * operation, not just one round trip: a batch, the undo of a failed
 * batch, or all the chunks of a STATS reply, so that the requests of two
 * threads never interleave and every reply read is the one to the
 * request just sent.
 *
 * A broken connection (a send or receive that fails with EPIPE,
 * ECONNRESET or an end of file) is mended under h->lock: conn.c
 * reconnects with backoff for up to the WELCOME's grace_ms, resumes the
 * session with its token, and sends the request in flight again (see
 * conn.c, "Reconnection").  A dead connection: once that failed, a wait
 * timed out, or a reply did not answer the request, the stream of
 * replies can no longer be trusted (a reply that comes after its wait
 * timed out would be read as the next request's), so every later call
 * fails with -ENOTCONN (-ESTALE if the daemon has another arena now),
 * the magazine's too (conn_gone(), conn_gone_error()).  The
 * socket stays open until spanheap_close(): the daemon frees a
 * connection's spans only when it sees it close, so the spans the caller
 * holds stay valid memory meanwhile.
 */
#ifndef SPANHEAP_LIBCLIENT_INTERNAL_H
#define SPANHEAP_LIBCLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libclient/spanheap.h"
#include "shm/arena.h"
#include "proto/magazine.h"
#include "proto/proto.h"

/* Any reply the daemon sends: the receive buffer, PROTO_REPLY_MAX bytes. */
union conn_reply {
	struct proto_hdr hdr;
	struct proto_welcome welcome;
	struct proto_alloc_reply alloc;
	struct proto_free_reply free;
	struct proto_stats_reply stats;
	struct proto_scavenge_reply scavenge;
	struct proto_gc_reply gc;
	struct proto_obj_reply obj;
};
_Static_assert(sizeof(union conn_reply) == PROTO_REPLY_MAX, "conn_reply");

/* This process's side of its magazine (magazine.c). */
struct conn_mag {
	bool on;			/* a magazine: fixed from attach on */
	struct mag_region *r;		/* lock: our mapping (a new one after
					 * a restart: cmag_resume()) */
	size_t size;
	pthread_mutex_t lock;		/* serialises our side of the region */
	uint8_t *live;			/* lock: a byte per arena page, see
					 * magazine.c */
	uint64_t live_size;		/* its bytes: the arena's pages */
	uint32_t asked;			/* lock: served when we last kicked */
	bool asking;			/* lock: a kick is out */
	/* lock: a class's refill was refused, when served was this */
	bool refused[MAG_NCLASSES];
	uint32_t refused_at[MAG_NCLASSES];
	/* lock: the fill ring's tail after our last take of each class */
	uint32_t took[MAG_NCLASSES];
	bool suspended;			/* lock: the daemon died, see below */
};

struct spanheap {
	int fd;				/* the connection to the daemon */
	unsigned long fork_gen;		/* conn_forked(): forks at connect */
	struct conn_mag mag;
	int64_t timeout_ns;		/* bound of each wait; < 0: none */
	struct arena *arena;		/* our mapping of the arena */
	uint32_t client_id;		/* the daemon's name for us */
	uint32_t page_size;		/* HEAP_PAGE_SIZE */
	pthread_mutex_t lock;		/* serialises round trips */
	uint32_t next_seq;		/* lock: seq of the next request */
	bool dead;			/* lock: no more requests, see above */
	_Atomic bool gone;		/* dead, for the fast path's eyes */
	_Atomic bool stale;		/* dead of another arena: -ESTALE */
	union conn_reply reply;		/* lock: the last reply received */
	/* What a reconnection needs (conn.c), all fixed but under lock: */
	char *path;			/* the daemon's socket */
	char name[PROTO_NAME_MAX];	/* our name, as HELLO said it */
	bool want_mag;			/* HELLO asked for a magazine */
	struct proto_session session;	/* lock: the WELCOME's token */
	uint32_t grace_ms;		/* lock: the WELCOME's */
	uint64_t arena_dev, arena_ino;	/* the arena memfd's identity */
	uint32_t took[MAG_NCLASSES];	/* lock: cmag_suspend()'s, for HELLO */
	bool suspended;			/* lock: took[] is said, not yet resumed */
	uint64_t resumes;		/* lock: sessions taken back */
	uint64_t req_len;		/* lock: bytes of the request in flight */
	unsigned char req[PROTO_REQUEST_MAX];	/* lock: that request */
};

/* conn.c */

/*
 * Send @req of @len bytes as a request of @type, with the next seq.
 * Return: 0; -ENOTCONN if the connection is dead or dies now; -ETIMEDOUT
 * if the daemon's queue stayed full for the time-out, and then the
 * connection is dead.
 */
int conn_request_locked(struct spanheap *h, uint16_t type,
			struct proto_hdr *req, size_t len);

/*
 * Receive the (next) reply to @req into h->reply, waiting at most
 * h->timeout_ns for it, and validate it.
 * Return: the reply's status, 0 or -errno from the daemon; -ENOTCONN,
 * -ETIMEDOUT or -EBADMSG if the connection died, no reply came in time
 * or the reply was malformed, and then the connection is dead.
 */
int conn_reply_locked(struct spanheap *h, const struct proto_hdr *req);

/*
 * conn_reply_locked(), but waiting at most @wait_ns (< 0: for ever) for
 * this one reply; every other receive keeps h->timeout_ns.
 */
int conn_reply_wait_locked(struct spanheap *h, const struct proto_hdr *req,
			   int64_t wait_ns);

/* conn_request_locked() and conn_reply_locked(): one round trip. */
int conn_call_locked(struct spanheap *h, uint16_t type,
		     struct proto_hdr *req, size_t len);

/* Mark the connection dead for a reply that was well formed but wrong. */
int conn_broken_locked(struct spanheap *h);

void conn_assert_locked(struct spanheap *h);

/*
 * Was this process forked since @h was made?  Then @h is its parent's:
 * every call fails with -ENOTCONN before it takes a lock (magazine.c).
 */
bool conn_forked(const struct spanheap *h);

/* Is the connection dead (conn_gone(): no lock needed)? */
bool conn_gone(const struct spanheap *h);

/* The error of every call on a dead connection: -ENOTCONN or -ESTALE. */
int conn_gone_error(const struct spanheap *h);

/* Take h->lock.  Return: 0, or -ENOTCONN (and no lock) if conn_forked(). */
int conn_lock(struct spanheap *h);

/* magazine.c */

/* Map the region of @size bytes the WELCOME brought in @fd (not taken). */
int cmag_attach(struct spanheap *h, int fd, size_t size);
void cmag_detach(struct spanheap *h);

/*
 * A span of at least @npages pages from the magazine.  Return: 0 and
 * @ret; 1 if the magazine does not serve it (too large, no magazine,
 * not filled): use the socket; or an error of the connection.
 */
int cmag_alloc(struct spanheap *h, size_t npages, unsigned int flags,
	       struct spanheap_span *ret);

/* The class of the live magazine span at @off, or -1 if it is none. */
int cmag_owns(struct spanheap *h, uint64_t off);

/*
 * Free @off through the magazine.  Return: 0; -ENOENT if it is no live
 * span of the magazine's (never was, or freed already); 1 if it must go
 * through the socket after all (it is no longer the magazine's); or an
 * error of the connection.
 */
int cmag_free(struct spanheap *h, uint64_t off);

/* Is @off on one of our return stacks (so a free of it is a double one)? */
bool cmag_stacked(struct spanheap *h, uint64_t off);

/*
 * The daemon died (conn.c, on a broken connection it will resume): stop
 * taking from and pushing onto the old region, so that every later
 * allocation and free goes to the socket path (which waits for the
 * reconnection), and say per class, in @took, the fill ring's tail just
 * after our last take (0 if none): the HELLO's mag_took.  No magazine:
 * all 0.
 */
void cmag_suspend(struct spanheap *h, uint32_t took[MAG_NCLASSES]);

/*
 * After a resume, the region of @size bytes the WELCOME brought in @fd
 * (not taken): map it, move what the old stacks hold onto its (empty)
 * stacks, unmap the old one and serve from it.  The map of the spans we
 * took stays, so a span taken before the restart is freed through the
 * new magazine (the daemon made it HELD, ours).  Without a magazine
 * before: cmag_attach().  Return: 0; -EBADMSG for a region that is not
 * a fresh one of ours (and nothing changes: still suspended); -errno.
 */
int cmag_resume(struct spanheap *h, int fd, size_t size);

/* control.c */

/*
 * Send @req (@len bytes) as a request of @type, under h->lock, and join
 * the chunks of its reply into one NUL-terminated text in @ret, which
 * the caller frees.  Return: 0, the daemon's error, -EMSGSIZE beyond
 * 64 MiB, -ENOMEM, or an error of the connection.
 */
int control_text_call(struct spanheap *h, uint16_t type,
		      struct proto_hdr *req, size_t len, char **ret);

#endif
