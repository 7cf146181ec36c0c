/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: one real daemon (no listening socket, no
 * signals), clients accepted on one end of socketpairs, and a checker
 * for everything that comes back on the other end.
 *
 * The checker's model: the daemon answers every datagram it takes, in
 * order, with one final reply, which STATS, CLIENTS and OBJECTS chunks
 * and SCAVENGE progress (flag PROTO_MORE) may precede; a datagram it
 * cannot serve (malformed, oversized) gets a bare header with a negative
 * status that echoes the type and seq of its first 16 bytes (0 and 0 if
 * it is shorter); but a datagram whose first 16 bytes say MAG_KICK is
 * never answered, served or refused.  Only a successful WELCOME carries
 * fds: the arena's, then, if the HELLO asked for one
 * (PROTO_HELLO_MAGAZINE) and the daemon made it, the magazine's, a memfd
 * of the WELCOME's mag_size (0: none).
 * A failed OBJ_CREATE or OBJ_GET gets a bare header; -ENOENT answers
 * only a get of timeout 0, -ETIMEDOUT only one of a positive timeout.
 * Requests go unanswered in two ways only: the daemon destroys their
 * client, or an OBJ_GET of timeout_ms != 0 waits for a seal (the
 * daemon's client has an objwait), which holds back the answers to it
 * and to every later request of its client until a seal, its timeout or
 * the client's end.  Any break of this aborts.
 *
 * An input cannot know the ids of its objects, which come in replies
 * (and grow from input to input): ids 1..FUZZ_IDS in OBJ_SEAL and
 * OBJ_RELEASE are aliases that fuzz_obj_alias() turns into the id of
 * the input's first, second... object that a successful OBJ_CREATE or
 * OBJ_GET reply named, once one has; other ids go as they are.  No
 * object has such an id (its low bits are its slot in the table, its
 * high ones a count from 1), which the checker checks.
 *
 * Magazines are on, of up to FUZZ_MAG_BYTES each, but their tick is not
 * (the timer of clients_set_magazines()): a target that wants it ticks
 * them itself, so that no tick moves spans under another's accounting.
 *
 * The heap has a small object table (FUZZ_MAX_OBJECTS objects and
 * FUZZ_MAX_REFS reference records), so that inputs can fill it.  SEALED
 * objects outlive their creator by design: fuzz_heap_idle() deletes
 * those left once every client is gone.
 *
 * Clients are found by their daemon id, never by fd: an fd number is
 * reused as soon as the daemon closes it.  With FUZZ_TRACE set in the
 * environment every final reply is told on stderr (its client, type,
 * seq and status), to see what an input does when writing seeds.
 */
#ifndef SPANHEAP_TESTS_FUZZ_HARNESS_H
#define SPANHEAP_TESTS_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "proto/magazine.h"
#include "shm/arena.h"
#include "shm/heap.h"

/* Object ids an input may name by alias (see above). */
#define FUZZ_IDS 16

/* Requests a peer may have sent and not seen answered yet. */
#define FUZZ_PENDING_MAX 64

/* What a magazine may cache: a quarter of the harness's 4 MiB arena. */
#define FUZZ_MAG_BYTES (UINT64_C(1) << 20)

struct fuzz_req {
	uint16_t type;		/* the reply's type is this | PROTO_REPLY */
	uint32_t seq;
	bool valid;		/* proto_check_request() passed */
	bool fds;		/* fds came along: it may be refused */
	bool oversized;		/* over PROTO_REQUEST_MAX: refused */
	uint32_t flags;		/* HELLO: PROTO_HELLO_* */
	uint32_t count;		/* SPAN_ALLOC, SPAN_FREE: the batch */
	uint32_t max;		/* CLIENTS, OBJECTS: entries at most */
	uint64_t npages;	/* SPAN_ALLOC: pages a span */
	uint64_t size;		/* OBJ_CREATE: bytes */
	int32_t timeout_ms;	/* OBJ_GET */
};

/* Our end of one client's connection. */
struct fuzz_peer {
	int fd;			/* or -1 once closed */
	uint32_t id;		/* the daemon's client id */
	bool rd_shut;		/* we shut our reading side: no replies */
	bool gone;		/* the daemon hung up on us */
	unsigned int head, n;	/* ring of requests not answered yet */
	struct fuzz_req pending[FUZZ_PENDING_MAX];
	char *json;		/* STATS or CLIENTS text so far */
	size_t json_len;
	int32_t last_status;	/* of the last final reply */
	uint32_t last_count;	/* its count: SPAN_ALLOC, SPAN_FREE */
	/* Of the last final OBJ_CREATE or OBJ_GET reply that succeeded. */
	struct proto_obj_reply last_obj;
};

/* The daemon of every target; set up by the first fuzz_setup(). */
extern struct daemon fuzz_d;

/* Report @fmt with the input's byte offset @at, and abort. */
void fuzz_fail(size_t at, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* What daemon_init() sets up, but the socket and the signals; once. */
void fuzz_setup(void);

/*
 * A new client; its daemon end is client_accept()ed.  @slow: a few
 * unread replies fill the daemon's send buffer, so that more wait in
 * its queue, as for a client slow to read them.
 */
void fuzz_peer_open(struct fuzz_peer *p, bool slow);
/* The daemon's struct client for @p, or NULL once it destroyed it. */
struct client *fuzz_peer_client(const struct fuzz_peer *p);
/* Close our end (if open) and forget what was pending. */
void fuzz_peer_close(struct fuzz_peer *p);
/* shutdown() our end; replies are no longer seen unless @how is SHUT_WR. */
void fuzz_peer_shutdown(struct fuzz_peer *p, int how);
/* A new input: it knows no object id yet. */
void fuzz_ids_reset(void);
/*
 * If @buf (@len bytes) is a valid OBJ_SEAL or OBJ_RELEASE of an alias
 * that names an object, write that object's id over it.
 */
void fuzz_obj_alias(void *buf, size_t len);
/* Whether a request can be recorded (the ring has room). */
bool fuzz_peer_room(const struct fuzz_peer *p);
/*
 * Record datagram @buf of @len bytes (with @nfds fds) as sent; one of
 * type MAG_KICK is not recorded, as nothing answers it.
 */
void fuzz_peer_sent(struct fuzz_peer *p, const void *buf, size_t len,
		    unsigned int nfds);
/* Take and check every reply waiting; returns how many were final. */
unsigned int fuzz_peer_drain(struct fuzz_peer *p, size_t at);
/*
 * The oldest request of @p not answered is an OBJ_GET for which the
 * daemon waits (a seal, its timeout or the client's end answers it).
 */
bool fuzz_peer_waiting(const struct fuzz_peer *p);
/*
 * Nothing more to come until something else happens: answered, the
 * daemon destroyed the client, or it waits (fuzz_peer_waiting()).
 */
bool fuzz_peer_settled(const struct fuzz_peer *p);

/*
 * Run the loop until @done(@arg) holds, blocking for the scavenger
 * thread and timers in between; abort with @what after 30 s.
 */
void fuzz_wait(bool (*done)(void *arg), void *arg, const char *what,
	       size_t at);
/*
 * Wait until the scavenger holds no run of pages and has no departed
 * client's range queued: what the last input freed is back in the heap.
 */
void fuzz_scavenger_idle(size_t at);

/*
 * What the heap says one owner holds, by a walk of every span in use
 * (heap_mag_get()), as opposed to what its owner record counts.
 */
struct fuzz_owned {
	uint64_t spans, pages;		/* in use, in any state */
	uint64_t mag;			/* of them, FILL or HELD */
	uint64_t fill[MAG_NCLASSES];	/* FILL spans of each class */
	uint64_t held[MAG_NCLASSES];	/* HELD spans of each class */
};

/*
 * Call @fn for every span in use, in address order: its offset, owner,
 * pages and magazine state (HEAP_MAG_*).  The caller holds the heap lock.
 */
void fuzz_spans_locked(void (*fn)(void *ctx, uint64_t off, uint32_t owner,
				  uint64_t npages, unsigned int state),
		       void *ctx);

/*
 * What @owner holds by the walk; aborts if a magazine span is not of a
 * class's pages.  The caller holds the heap lock.
 */
void fuzz_owned_locked(uint32_t owner, struct fuzz_owned *ret, size_t at);

/* Entries in /proc/self/fd: the process's open fds (and the dir's). */
int fuzz_fd_count(void);
/*
 * Every client must be gone, and with them every wait, reference and
 * OPEN object: delete the SEALED objects left (as uid 0), then
 * heap_check(), and no span may be in use.
 */
void fuzz_heap_idle(size_t at);

#endif
