// SPDX-License-Identifier: MIT
/*
 * Fuzz target for daemon/dispatch.c: feeds datagrams to dispatch_request()
 * on real struct clients of a real (small) daemon, with no listening
 * socket and no event loop running.
 *
 * Input format: a sequence of messages, each a 16-bit little-endian word
 * then that many bytes (cut short at the end of the input).  The word's
 * low 15 bits are the length; its top bit picks one of two clients, so
 * that inputs can free each other's spans.  Lengths above
 * PROTO_REQUEST_MAX are turned away as client.c's read_one() does.
 *
 * Each client is client_accept()ed on one end of a socketpair; after
 * every message the other end is drained and every reply must pass
 * proto_check_reply() for the request's type and seq, and there must be
 * one.  SCAVENGE is answered from the event loop once the scavenger
 * thread's forced pass ends, so for it the loop runs until the answer
 * comes.  A client the daemon marks closing is destroyed, as its event
 * loop would.  After each input the clients are destroyed (freeing their
 * spans), heap_check() verifies the heap and nothing may be left in use.
 * Any failure aborts.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_ARENA (UINT64_C(4) << 20)
#define FUZZ_CLIENTS 2

static struct daemon d;

static void fail(const char *what, size_t at)
{
	fprintf(stderr, "fuzz_dispatch: %s (message at byte %zu)\n", what,
		at);
	abort();
}

/* What daemon_init() sets up, without the socket and the signals. */
static void daemon_setup(void)
{
	struct heap_ops ops;

	memset(&d, 0, sizeof(d));
	d.opt.socket_path = "(fuzz)";
	d.opt.socket_mode = DEFAULT_SOCKET_MODE;
	d.opt.socket_gid = (gid_t)-1;
	d.opt.arena_size = FUZZ_ARENA;
	d.opt.scavenge_after_ns = DEFAULT_SCAVENGE_AFTER_NS;
	d.opt.gc_after_ns = DEFAULT_GC_AFTER_NS;
	d.opt.max_clients = DEFAULT_MAX_CLIENTS;
	d.listen_fd = -1;
	d.next_client_id = 1;
	d.start_ns = daemon_now();
	TAILQ_INIT(&d.clients);
	pthread_mutex_init(&d.heap_lock, NULL);
	/* The scavenger thread wakes the loop: libevent must know threads. */
	if (evthread_use_pthreads() < 0)
		fail("libevent without threads", 0);
	d.base = event_base_new();
	if (!d.base || arena_create(FUZZ_ARENA, "fuzz-arena", &d.arena) < 0)
		fail("cannot set up the daemon", 0);
	arena_heap_ops(d.arena, &ops);
	if (heap_create(FUZZ_ARENA, &ops, &d.heap) < 0)
		fail("cannot create the heap", 0);
	if (scavenger_start(&d) < 0)
		fail("cannot start the scavenger", 0);
}

/* The client on socket @fd, or NULL if the daemon has destroyed it. */
static struct client *client_by_fd(int fd)
{
	struct client *c;

	TAILQ_FOREACH(c, &d.clients, link)
		if (c->fd == fd)
			return c;
	return NULL;
}

/*
 * A client on one end of a new socketpair: returns the daemon's end, and
 * the other in @ret_peer.
 */
static int client_open(int *ret_peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, sv) < 0)
		fail("socketpair", 0);
	client_accept(&d, sv[0]);
	if (!client_by_fd(sv[0]))
		fail("client_accept made no client", 0);
	*ret_peer = sv[1];
	return sv[0];
}

/*
 * Take every reply waiting at @peer; each must be a well-formed reply to
 * (@type, @seq).  Fds that come along are closed.  Returns the count.
 */
static unsigned int drain(int peer, uint16_t type, uint32_t seq, size_t at)
{
	static union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX + 1];
	} u;
	unsigned int n = 0;

	for (;;) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { u.buf, sizeof(u.buf) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf,
			.msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t r;

		r = recvmsg(peer, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EAGAIN)
			return n;
		if (r <= 0)
			fail("the daemon's end of the socket went away", at);
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			int fd;

			if (cm->cmsg_type != SCM_RIGHTS ||
			    cm->cmsg_len != CMSG_LEN(sizeof(int)))
				fail("odd control message in a reply", at);
			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
			close(fd);
		}
		if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
			fail("reply larger than PROTO_REPLY_MAX", at);
		if (proto_check_reply(u.buf, (size_t)r, type, seq) != 0)
			fail("malformed reply", at);
		n++;
	}
}

/*
 * One datagram from the client on @fd, as read_one() hands it on, and
 * its replies.  Returns false once the daemon has destroyed the client.
 */
static bool deliver(int fd, int peer, const uint8_t *msg, size_t len,
		    size_t at)
{
	struct client *c = client_by_fd(fd);
	struct proto_hdr hdr;
	unsigned int n;

	memset(&hdr, 0, sizeof(hdr));
	if (len >= sizeof(hdr))
		memcpy(&hdr, msg, sizeof(hdr));
	hdr.type &= (uint16_t)~PROTO_REPLY;
	if (len > PROTO_REQUEST_MAX)
		dispatch_reject(c, msg, len, -EBADMSG, "oversized");
	else
		dispatch_request(c, msg, len);
	n = drain(peer, hdr.type, hdr.seq, at);
	/* A SCAVENGE is answered when the scavenger thread is done. */
	while (c && c->scav_wait && !n) {
		event_base_loop(d.base, EVLOOP_ONCE);
		c = client_by_fd(fd);
		n = drain(peer, hdr.type, hdr.seq, at);
	}
	/* Queued replies go out from the loop, which may end the client. */
	for (int i = 0; c && !STAILQ_EMPTY(&c->outq) && i < 100; i++) {
		event_base_loop(d.base, EVLOOP_NONBLOCK);
		c = client_by_fd(fd);
		n += drain(peer, hdr.type, hdr.seq, at);
	}
	if (!n)
		fail("a request got no reply", at);
	if (c && !STAILQ_EMPTY(&c->outq))
		fail("replies stuck in the queue of a drained client", at);
	if (c && c->closing) {
		client_destroy(c);
		c = NULL;
	}
	return c != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	int fd[FUZZ_CLIENTS], peer[FUZZ_CLIENTS];
	struct heap_stats hs;
	size_t pos = 0;

	if (!ready) {
		daemon_setup();
		ready = 1;
	}
	for (int i = 0; i < FUZZ_CLIENTS; i++)
		fd[i] = client_open(&peer[i]);
	while (pos + 2 <= size) {
		unsigned int word = data[pos] | data[pos + 1] << 8;
		size_t len = word & 0x7fff, at = pos;
		int k = (int)(word >> 15);

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		if (fd[k] >= 0 && !deliver(fd[k], peer[k], data + pos, len, at))
			fd[k] = -1;
		pos += len;
	}
	for (int i = 0; i < FUZZ_CLIENTS; i++) {
		struct client *c = fd[i] >= 0 ? client_by_fd(fd[i]) : NULL;

		if (c)
			client_destroy(c);
		close(peer[i]);
	}
	if (d.nclients || !TAILQ_EMPTY(&d.clients))
		fail("clients left over", size);
	daemon_heap_lock(&d);
	heap_check(d.heap);
	heap_stats(d.heap, &hs);
	daemon_heap_unlock(&d);
	if (hs.inuse || hs.objects)
		fail("spans left in use after every client went", size);
	return 0;
}
