/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share: one real daemon (no listening socket, no
 * signals), clients accepted on one end of socketpairs, and a checker
 * for everything that comes back on the other end.
 *
 * The checker's model: the daemon answers every datagram it takes, in
 * order, with one final reply, which STATS and CLIENTS chunks and
 * SCAVENGE progress (flag PROTO_MORE) may precede; a datagram it cannot
 * serve (malformed, oversized) gets a bare header with a negative status
 * that echoes the type and seq of its first 16 bytes (0 and 0 if it is
 * shorter).  Only a successful WELCOME carries an fd, exactly one.  A
 * client it destroys may leave requests unanswered; that is the only
 * way one may go unanswered.  Any break of this aborts.
 *
 * Clients are found by their daemon id, never by fd: an fd number is
 * reused as soon as the daemon closes it.
 */
#ifndef SPANHEAP_TESTS_FUZZ_HARNESS_H
#define SPANHEAP_TESTS_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "shm/arena.h"
#include "shm/heap.h"

/* Requests a peer may have sent and not seen answered yet. */
#define FUZZ_PENDING_MAX 64

struct fuzz_req {
	uint16_t type;		/* the reply's type is this | PROTO_REPLY */
	uint32_t seq;
	bool valid;		/* proto_check_request() passed */
	bool fds;		/* fds came along: it may be refused */
	bool oversized;		/* over PROTO_REQUEST_MAX: refused */
	uint32_t count;		/* SPAN_ALLOC, SPAN_FREE: the batch */
	uint32_t max;		/* CLIENTS: entries at most */
	uint64_t npages;	/* SPAN_ALLOC: pages a span */
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
/* Whether a request can be recorded (the ring has room). */
bool fuzz_peer_room(const struct fuzz_peer *p);
/* Record datagram @buf of @len bytes (with @nfds fds) as sent. */
void fuzz_peer_sent(struct fuzz_peer *p, const void *buf, size_t len,
		    unsigned int nfds);
/* Take and check every reply waiting; returns how many were final. */
unsigned int fuzz_peer_drain(struct fuzz_peer *p, size_t at);
/* Nothing more to come: answered, or the daemon destroyed the client. */
bool fuzz_peer_settled(const struct fuzz_peer *p);

/*
 * Run the loop until @done(@arg) holds, blocking for the scavenger
 * thread and timers in between; abort with @what after 30 s.
 */
void fuzz_wait(bool (*done)(void *arg), void *arg, const char *what,
	       size_t at);
/* Wait until no release pass runs or is asked for. */
void fuzz_scavenger_idle(size_t at);

/* Entries in /proc/self/fd: the process's open fds (and the dir's). */
int fuzz_fd_count(void);
/* heap_check(), and no span may be in use.  Every client must be gone. */
void fuzz_heap_idle(size_t at);

#endif
