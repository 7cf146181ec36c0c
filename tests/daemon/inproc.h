/* SPDX-License-Identifier: MIT */
/*
 * A spanheapd in the test's own process: a struct daemon with an arena,
 * a heap and an event loop but no listening socket, its clients accepted
 * on one end of socketpairs.  The test drives the loop itself, so it can
 * look at a client's queue between two turns of it.
 */
#ifndef SPANHEAP_TESTS_DAEMON_INPROC_H
#define SPANHEAP_TESTS_DAEMON_INPROC_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "shm/arena.h"
#include "shm/heap.h"

/* The heap's release hook; its context is the arena (see arena.h). */
typedef int inproc_release_fn(void *arena, uint64_t off, uint64_t len);

/*
 * Set up @d as daemon_init() would (daemon_compose()), with an arena of
 * @arena bytes; the heap releases through @release (NULL:
 * arena_release).  With @scavenger, the scavenger thread and timer run
 * too.  Rate limits and progress replies are off (0) until the test sets
 * them (d->clients).  Aborts on failure.
 */
void inproc_start(struct daemon *d, uint64_t arena,
		  inproc_release_fn *release, bool scavenger);

/* Destroy every client and free everything. */
void inproc_stop(struct daemon *d);

/* Accept a client on a new socketpair; its peer end goes to @ret_peer. */
struct client *inproc_accept(struct daemon *d, int *ret_peer);

/* The client on the daemon's socket @fd, or NULL if it was destroyed. */
struct client *inproc_client(struct daemon *d, int fd);

/* Accept a client and have it say HELLO as @name; it is welcomed. */
struct client *inproc_welcomed(struct daemon *d, const char *name,
			       int *ret_peer);

/*
 * inproc_welcomed() with the HELLO's @flags (PROTO_HELLO_*); the
 * WELCOME goes to @ret_welcome and the fds that came with it (the
 * arena's, then a magazine's) to @fds, up to @max of them: their count
 * is returned, and they are the caller's to close.
 */
struct client *inproc_hello(struct daemon *d, const char *name,
			    uint32_t flags, int *ret_peer,
			    struct proto_welcome *ret_welcome, int *fds,
			    unsigned int max, unsigned int *ret_nfds);

/*
 * Run the loop until the peer @peer has a datagram to read, for up to
 * 30 s; then receive it into @buf (fds that come along are closed).
 * Returns its length.  Aborts the test if none comes.
 */
size_t inproc_recv(struct daemon *d, int peer, void *buf, size_t len);

/*
 * inproc_recv(), but the first @max fds that come along go to @fds,
 * their count to @ret_nfds (the rest are closed).
 */
size_t inproc_recv_fds(struct daemon *d, int peer, void *buf, size_t len,
		       int *fds, unsigned int max, unsigned int *ret_nfds);

/* One turn of the loop, not waiting. */
void inproc_turn(struct daemon *d);

#endif
