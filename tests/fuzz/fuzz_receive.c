// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the daemon's receive path (daemon/client.c: read_one(),
 * its ancillary data, hang-ups, the reply queue), through the daemon's
 * own event loop: clients are client_accept()ed on one end of
 * socketpairs, and the input is a script of what the other ends do.
 *
 * Input format: a sequence of actions, each one byte, bits 0-2 the action,
 * bits 3-4 the client slot (four), bits 5-7 an argument A:
 *   0 OPEN    connect a client in the slot, if it is free (or the
 *             daemon hung up on it); A 4-7 a slow one (the daemon's
 *             send buffer as small as can be)
 *   1 SEND    a datagram: a 16-bit little-endian length (of which the low
 *             11 bits count: 0 to 2047, so empty and oversized ones too)
 *             then that many bytes (cut short at the end of the input),
 *             with fds[A] fds attached (pipe ends and /dev/null)
 *   2 SENDH   the same, with a right magic, version and status 0 written
 *             over the first 16 bytes: type and seq as given
 *             (in both, an OBJ_SEAL or OBJ_RELEASE may name an object
 *             by alias, see harness.h)
 *   3 HELLO   a well-formed HELLO, with fds[A] fds attached
 *   4 HANGUP  A 0-1 shutdown(SHUT_WR), 2 SHUT_RD, 3 SHUT_RDWR, 4-7 close
 *             (which frees the slot)
 *   5 LOOP    A 0-3 event_base_loop(EVLOOP_NONBLOCK | EVLOOP_ONCE), 4-6
 *             until nothing is ready, 7 until every request is answered
 *             (but those behind a get that may wait long, see below)
 *   6 DRAIN   read and check the slot's replies
 *   7 ALLOC   a well-formed SPAN_ALLOC of A + 1 one-page spans
 * Actions on an empty slot do nothing; a send the socket refuses (full,
 * shut) is not sent.
 *
 * Invariants, any break of which aborts: every reply is what harness.h
 * says (well formed, for the request's type and seq, in order, one final
 * reply each); at the end of the input every request of a client the
 * daemon kept is answered, but those held back by a get that waits for
 * a seal (harness.h) for more than FUZZ_SHORT_WAIT_MS or without end;
 * once every peer end is closed the daemon
 * notices each hang-up by itself and destroys every client; then the
 * process has exactly the fds it had before the input (every fd passed
 * to the daemon was closed), heap_check() passes and no span is in use.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/harness.h"

#define FUZZ_SLOTS 4
#define FUZZ_OPENS 16		/* connections an input may open */
#define FUZZ_DGRAM_MAX 2047	/* over 3 times PROTO_REQUEST_MAX */
#define FUZZ_FDS_MAX 16
/* A get's wait this short is waited for, by LOOP 7 and at the end. */
#define FUZZ_SHORT_WAIT_MS 100

enum { OPEN, SEND, SENDH, HELLO, HANGUP, LOOP, DRAIN, ALLOC };

/* fds attached for A: around CLIENT_MAX_FDS (8), which cuts off more. */
static const unsigned char nfds_of[8] = { 0, 1, 2, 3, 7, 8, 9, 16 };

static struct fuzz_peer peers[FUZZ_SLOTS];
/* The input byte of the action being run, for fuzz_wait(). */
static size_t cur_at;

static bool slot_open(const struct fuzz_peer *p)
{
	return p->fd >= 0;
}

/*
 * Send @len bytes from @p with @nfds fds: the read and write ends of a
 * pipe and /dev/null, in turn, each made for this datagram and closed
 * after it (the daemon gets its own copies, or none).
 */
static void send_dgram(struct fuzz_peer *p, const void *buf, size_t len,
		       unsigned int nfds, size_t at)
{
	union {
		char buf[CMSG_SPACE(FUZZ_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int own[3] = { -1, -1, -1 };
	ssize_t r;

	if (!slot_open(p) || !fuzz_peer_room(p))
		return;
	if (nfds) {
		struct cmsghdr *cm;

		if (pipe2(own, O_CLOEXEC) < 0)
			fuzz_fail(at, "pipe2: %s", strerror(errno));
		own[2] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (own[2] < 0)
			fuzz_fail(at, "/dev/null: %s", strerror(errno));
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		for (unsigned int i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(cm) + i * sizeof(int), &own[i % 3],
			       sizeof(int));
	}
	r = sendmsg(p->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (int i = 0; i < 3; i++)
		if (own[i] >= 0)
			close(own[i]);
	if (r < 0) {
		/* Full, shut, or too many fds in flight: not sent. */
		if (errno == EAGAIN || errno == EPIPE || errno == ECONNRESET ||
		    errno == ETOOMANYREFS || errno == ENOBUFS ||
		    errno == ENOMEM)
			return;
		fuzz_fail(at, "sendmsg: %s", strerror(errno));
	}
	if ((size_t)r != len)
		fuzz_fail(at, "sendmsg sent %zd bytes of %zu", r, len);
	fuzz_peer_sent(p, buf, len, nfds);
}

static void send_hello(struct fuzz_peer *p, unsigned int nfds, size_t at)
{
	struct proto_hello m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_HELLO, 0);
	strcpy(m.name, "fuzz");
	send_dgram(p, &m, sizeof(m), nfds, at);
}

static void send_alloc(struct fuzz_peer *p, unsigned int count, size_t at)
{
	struct proto_alloc m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_SPAN_ALLOC, 1);
	m.npages = 1;
	m.count = count;
	send_dgram(p, &m, sizeof(m), 0, at);
}

static void hang_up(struct fuzz_peer *p, unsigned int a)
{
	if (!slot_open(p))
		return;
	if (a >= 4) {
		fuzz_peer_close(p);
		return;
	}
	fuzz_peer_shutdown(p, a < 2 ? SHUT_WR : a == 2 ? SHUT_RD : SHUT_RDWR);
}

static void drain_all(void)
{
	for (int i = 0; i < FUZZ_SLOTS; i++)
		fuzz_peer_drain(&peers[i], cur_at);
}

/* A get that waits for at most FUZZ_SHORT_WAIT_MS is answered soon. */
static bool settled(const struct fuzz_peer *p)
{
	int32_t t = p->pending[p->head].timeout_ms;

	return fuzz_peer_settled(p) &&
	       !(fuzz_peer_waiting(p) && t > 0 && t <= FUZZ_SHORT_WAIT_MS);
}

static bool all_answered(void *arg)
{
	(void)arg;
	drain_all();
	for (int i = 0; i < FUZZ_SLOTS; i++)
		if (!settled(&peers[i]))
			return false;
	return true;
}

static bool no_clients(void *arg)
{
	(void)arg;
	return !fuzz_d.clients.count;
}

static void run_loop(unsigned int a)
{
	if (a < 4)
		event_base_loop(fuzz_d.base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
	else if (a < 7)
		event_base_loop(fuzz_d.base, EVLOOP_NONBLOCK);
	else
		fuzz_wait(all_answered, NULL, "a request got no final reply",
			  cur_at);
}

/*
 * The datagram of the input at *@pos (its length, then its bytes) into
 * @buf; moves *@pos past it.  Returns its length, or -1 if the input
 * ends before the length.
 */
static ssize_t take_dgram(const uint8_t *data, size_t size, size_t *pos,
			  bool fix_hdr, uint8_t *buf)
{
	size_t len;

	if (size - *pos < 2) {
		*pos = size;
		return -1;
	}
	len = (data[*pos] | data[*pos + 1] << 8) & FUZZ_DGRAM_MAX;
	*pos += 2;
	if (len > size - *pos)
		len = size - *pos;
	memcpy(buf, data + *pos, len);
	*pos += len;
	if (fix_hdr) {
		struct proto_hdr hdr;

		memset(&hdr, 0, sizeof(hdr));
		memcpy(&hdr, buf, len < sizeof(hdr) ? len : sizeof(hdr));
		hdr.magic = PROTO_MAGIC;
		hdr.version = PROTO_VERSION;
		hdr.status = 0;
		memcpy(buf, &hdr, len < sizeof(hdr) ? len : sizeof(hdr));
	}
	return (ssize_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[FUZZ_DGRAM_MAX];
	unsigned int opens = 0;
	size_t pos = 0;
	int fds, now;

	fuzz_setup();
	fuzz_ids_reset();
	fds = fuzz_fd_count();
	for (int i = 0; i < FUZZ_SLOTS; i++) {
		memset(&peers[i], 0, sizeof(peers[i]));
		peers[i].fd = -1;
	}
	while (pos < size) {
		unsigned int op = data[pos] & 7, a = data[pos] >> 5;
		struct fuzz_peer *p = &peers[data[pos] >> 3 & 3];
		ssize_t len;

		cur_at = pos++;
		switch (op) {
		case OPEN:
			if ((!slot_open(p) || p->gone) && opens < FUZZ_OPENS) {
				fuzz_peer_close(p);
				fuzz_peer_open(p, a >= 4);
				opens++;
			}
			break;
		case SEND:
		case SENDH:
			len = take_dgram(data, size, &pos, op == SENDH, buf);
			if (len < 0)
				break;
			fuzz_obj_alias(buf, (size_t)len);
			send_dgram(p, buf, (size_t)len, nfds_of[a], cur_at);
			break;
		case HELLO:
			send_hello(p, nfds_of[a], cur_at);
			break;
		case HANGUP:
			hang_up(p, a);
			break;
		case LOOP:
			run_loop(a);
			break;
		case DRAIN:
			fuzz_peer_drain(p, cur_at);
			break;
		case ALLOC:
			send_alloc(p, a + 1, cur_at);
			break;
		}
	}
	cur_at = size;
	fuzz_wait(all_answered, NULL, "a request got no final reply", size);
	for (int i = 0; i < FUZZ_SLOTS; i++)
		fuzz_peer_close(&peers[i]);
	/* The daemon must see every hang-up itself, fds and all. */
	fuzz_wait(no_clients, NULL, "the daemon kept a client that hung up",
		  size);
	fuzz_heap_idle(size);
	now = fuzz_fd_count();
	if (now != fds)
		fuzz_fail(size, "%d fds open after the input, %d before: the daemon leaked %d",
			  now, fds, now - fds);
	return 0;
}
