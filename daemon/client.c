// SPDX-License-Identifier: MIT
/*
 * One client connection: read requests, queue and send replies, and on
 * disconnect free every span the client still owns.
 *
 * Flow control.  Replies go out with MSG_DONTWAIT.  When the socket will
 * not take one, it waits in the client's queue, the client's read event
 * is switched off and its write event on: a client that stops reading
 * its replies stops being read, so it can never make the daemon hold more
 * than one reply for it, and other clients are not disturbed.  A STATS
 * or CLIENTS reply is one entry of the queue, whatever its length: its
 * text is made (or the cached MemStats text referenced) only when the
 * socket can take the first chunk, each chunk is made (a header and a
 * slice of the text, no copy) when the socket has taken the one before,
 * and the client is read again only once the last is sent.  So a client
 * that pipelines STATS without reading costs the daemon one small queue
 * entry, and no text.
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* Received fds beyond this are cut off (MSG_CTRUNC) and dropped. */
#define CLIENT_MAX_FDS 8

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

/* Is a request of the client waiting elsewhere (reads stay off)? */
static bool client_waiting(const struct client *c)
{
	return c->scav_wait || c->deferred_type;
}

static void free_msg(struct outmsg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	stats_blob_put(m->blob);
	free(m);
}

/* A connection that never says HELLO must not hold a slot forever. */
static void on_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd, (void)what;
	if (c->welcomed)
		return;
	log_limited(&c->d->log_silent, 4,
		    "client %u (pid %d) sent no HELLO in time; dropped", c->id,
		    (int)c->cred.pid);
	client_destroy(c);
}

static bool id_live(const struct daemon *d, uint32_t id)
{
	const struct client *c;

	TAILQ_FOREACH(c, &d->clients, link)
		if (c->id == id)
			return true;
	return false;
}

/*
 * A client id is never 0 nor the scavenger's owner id, and unique among
 * live clients; its heap owner has an id of the heap's (owner_add()).
 * Once the counter has wrapped (after 2^32 connections) it may meet
 * clients that never left: skip them.  The check costs a walk of at
 * most --max-clients entries per connection.
 */
static uint32_t next_id(struct daemon *d)
{
	for (;;) {
		uint32_t id = d->next_client_id++;

		if (id != 0 && id != HEAP_OWNER_SCAV && !id_live(d, id))
			return id;
	}
}

/* The client's heap owner, keyed by its id; false if none is left. */
static bool owner_add(struct client *c)
{
	int r;

	daemon_heap_lock(c->d);
	r = heap_owner_add(c->d->heap, NULL, c->id, &c->owner);
	daemon_heap_unlock(c->d);
	if (r < 0)
		log_err("no heap owner for a client: %s", strerror(-r));
	return r == 0;
}

void client_accept(struct daemon *d, int fd)
{
	socklen_t len = sizeof(struct ucred);
	struct client *c;

	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("out of memory for a client");
		close(fd);
		return;
	}
	c->d = d;
	c->fd = fd;
	c->connected_ns = daemon_now();
	STAILQ_INIT(&c->outq);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
		c->cred = (struct ucred){ 0, (uid_t)-1, (gid_t)-1 };
	c->pidfd = c->cred.pid > 0 ?
			   (int)syscall(SYS_pidfd_open, c->cred.pid, 0) : -1;
	c->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_write,
				c);
	c->ev_hello = evtimer_new(d->base, on_hello_timeout, c);
	c->id = next_id(d);
	if (!c->ev_read || !c->ev_write || !c->ev_hello ||
	    event_add(c->ev_read, NULL) < 0 ||
	    event_add(c->ev_hello, &d->hello_timeout) < 0 || !owner_add(c)) {
		log_err("out of memory for a client");
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_hello)
			event_free(c->ev_hello);
		if (c->pidfd >= 0)
			close(c->pidfd);
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&d->clients, c, link);
	d->nclients++;
}

void client_destroy(struct client *c)
{
	struct daemon *d = c->d;
	struct heap_owner_info o;
	struct outmsg *m;
	uint64_t nspans, npages;

	daemon_heap_lock(d);
	if (heap_owner_get(d->heap, c->owner, &o) < 0) {
		log_err("BUG: client %u has no heap owner", c->id);
		abort();
	}
	nspans = o.nspans;
	npages = o.npages;
	heap_free_owner_each(d->heap, c->owner, daemon_now(),
			     scavenger_queue_departed_locked, d);
	heap_owner_remove(d->heap, c->owner);
	daemon_heap_unlock(d);
	if (npages)
		scavenger_release_departed(d);
	if (c->welcomed)
		log_limited(&d->log_gone, 6,
			    "client %u (%s, pid %d) gone; freed %llu spans, %llu pages",
			    c->id, c->name, (int)c->cred.pid,
			    (unsigned long long)nspans,
			    (unsigned long long)npages);
	while ((m = STAILQ_FIRST(&c->outq))) {
		STAILQ_REMOVE_HEAD(&c->outq, link);
		free_msg(m);
	}
	if (c->welcomed)
		stats_changed(d);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_hello);
	if (c->ev_control)
		event_free(c->ev_control);
	if (c->pidfd >= 0)
		close(c->pidfd);
	close(c->fd);
	TAILQ_REMOVE(&d->clients, c, link);
	d->nclients--;
	free(c);
	server_resume_accept(d);	/* its fds are free now */
}

/*
 * Send one datagram of @iov; 0 sent, -EAGAIN if the socket is full, or
 * -errno.
 */
static int send_iov(int fd, struct iovec *iov, size_t iovlen, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovlen };
	ssize_t n;

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

/* The head of a struct proto_stats_reply, before its text. */
struct chunk_hdr {
	struct proto_hdr hdr;
	uint32_t len;
	uint32_t flags;
};
_Static_assert(sizeof(struct chunk_hdr) ==
		       offsetof(struct proto_stats_reply, data),
	       "chunk_hdr");

/*
 * Send the next chunk of @m's text.  Returns 1 when it was the last, 0
 * when more follow, -EAGAIN if the socket is full, or -errno.
 */
static int send_chunk(int fd, struct outmsg *m)
{
	size_t left = m->blob->len - m->off;
	size_t n = left < PROTO_CHUNK_MAX ? left : PROTO_CHUNK_MAX;
	struct chunk_hdr h;
	struct iovec iov[2] = {
		{ &h, sizeof(h) },
		{ m->blob->text + m->off, n },
	};
	int r;

	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, m->req.type | PROTO_REPLY, m->req.seq);
	h.len = (uint32_t)n;
	h.flags = n < left ? PROTO_MORE : 0;
	r = send_iov(fd, iov, 2, -1);
	if (r < 0)
		return r;
	m->off += n;
	return n == left;
}

/* The reply to @req when its text cannot be made: a bare -ENOMEM. */
static int send_nomem(int fd, const struct text_req *req)
{
	struct proto_hdr h;
	struct iovec iov = { &h, sizeof(h) };

	proto_hdr_init(&h, req->type | PROTO_REPLY, req->seq);
	h.status = -ENOMEM;
	return send_iov(fd, &iov, 1, -1);
}

/* Send all of @m the socket takes; 0 when it is all sent, or -errno. */
static int send_msg(struct client *c, struct outmsg *m)
{
	struct iovec iov = { m->buf, m->len };
	int r;

	if (!m->text)
		return send_iov(c->fd, &iov, 1, m->fd);
	if (!m->blob) {
		m->blob = stats_text(c->d, &m->req);
		if (!m->blob)
			return send_nomem(c->fd, &m->req);
	}
	do
		r = send_chunk(c->fd, m);
	while (r == 0);
	/* A text not begun is made again when it can go: the freshest. */
	if (r == -EAGAIN && !m->off && !m->given) {
		stats_blob_put(m->blob);
		m->blob = NULL;
	}
	return r < 0 ? r : 0;
}

/* Wait for the socket to take @m: nothing more is read meanwhile. */
static void enqueue(struct client *c, struct outmsg *m)
{
	STAILQ_INSERT_TAIL(&c->outq, m, link);
	event_del(c->ev_read);
	event_add(c->ev_write, NULL);
}

int client_send(struct client *c, const void *buf, size_t len, int fd)
{
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct outmsg *m;
	int r;

	if (STAILQ_EMPTY(&c->outq)) {
		r = send_iov(c->fd, &iov, 1, fd);
		if (r != -EAGAIN)
			return r;
	}
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	memset(m, 0, sizeof(*m));
	m->fd = fd >= 0 ? dup(fd) : -1;
	if (fd >= 0 && m->fd < 0) {
		free(m);
		return -errno;
	}
	m->len = len;
	memcpy(m->buf, buf, len);
	enqueue(c, m);
	return 0;
}

int client_send_blob(struct client *c, const struct text_req *req,
		     struct stats_blob *blob)
{
	struct outmsg head = { .fd = -1, .text = true, .given = blob != NULL,
			       .req = *req, .blob = blob };
	struct outmsg *m;
	int r;

	/* From here on @head holds a reference of its own, if any. */
	if (blob)
		blob->refs++;
	if (STAILQ_EMPTY(&c->outq)) {
		r = send_msg(c, &head);
		if (r != -EAGAIN) {
			stats_blob_put(head.blob);
			return r;
		}
	}
	m = malloc(sizeof(*m));
	if (!m) {
		stats_blob_put(head.blob);
		return -ENOMEM;
	}
	*m = head;
	enqueue(c, m);
	return 0;
}

int client_send_text(struct client *c, const struct text_req *req)
{
	return client_send_blob(c, req, NULL);
}

unsigned int client_queued(const struct client *c)
{
	const struct outmsg *m;
	unsigned int n = 0;

	STAILQ_FOREACH(m, &c->outq, link)
		n++;
	return n;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct outmsg *m;
	int r;

	(void)fd, (void)what;
	while ((m = STAILQ_FIRST(&c->outq))) {
		r = send_msg(c, m);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			client_destroy(c);
			return;
		}
		STAILQ_REMOVE_HEAD(&c->outq, link);
		free_msg(m);
	}
	event_del(c->ev_write);
	if (c->closing) {
		client_destroy(c);
		return;
	}
	if (!client_waiting(c))
		event_add(c->ev_read, NULL);
}

void client_resume(struct client *c)
{
	if (!STAILQ_EMPTY(&c->outq))
		return;		/* on_write resumes it */
	if (c->closing)
		client_destroy(c);
	else if (!client_waiting(c))
		event_add(c->ev_read, NULL);
}

/*
 * Close every fd a client passed us: we never take fds from clients.
 * recvmsg() has installed each one it fits into our control buffer (the
 * kernel drops those that do not fit and says MSG_CTRUNC), so every fd in
 * every SCM_RIGHTS header here is ours to close, and nothing else is.
 */
static unsigned int drop_fds(struct msghdr *msg)
{
	unsigned int n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
	     cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len < CMSG_LEN(0))
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			close(fd);
			n++;
		}
	}
	return n;
}

/*
 * On a seqpacket socket recvmsg() returns 0 both at the end of the
 * connection and for an empty datagram; only the former hangs up.
 */
static bool peer_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 1 && p.revents & (POLLHUP | POLLRDHUP);
}

/*
 * Receive one request.  Returns 1 when a message was handled, 0 when
 * there is nothing more to read now, -1 when the client is gone (it has
 * been destroyed).
 *
 * Every datagram that recvmsg() returns has its passed fds closed before
 * anything else looks at it, whatever comes next: an empty datagram with
 * fds followed by a hang-up would otherwise leak them for good.  A failed
 * recvmsg() installs none.
 */
static int read_one(struct client *c)
{
	union {
		char buf[CMSG_SPACE(CLIENT_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	/* One byte more than the largest request, to see oversized ones. */
	uint64_t buf[PROTO_REQUEST_MAX / 8 + 1];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	bool had_fds;
	ssize_t n;

	n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		client_destroy(c);
		return -1;
	}
	had_fds = drop_fds(&msg) || msg.msg_flags & MSG_CTRUNC;
	if (n == 0 && peer_closed(c->fd)) {
		client_destroy(c);
		return -1;
	}
	c->nrequests++;
	if (had_fds)
		dispatch_reject(c, buf, (size_t)n, -EBADMSG,
			  "closed the file descriptors passed with a");
	else if (msg.msg_flags & MSG_TRUNC || (size_t)n > PROTO_REQUEST_MAX)
		dispatch_reject(c, buf, (size_t)n, -EBADMSG, "oversized");
	else
		dispatch_request(c, buf, (size_t)n);
	return 1;
}

/*
 * One request per wake-up: a libspanclient connection never has a second
 * request waiting (it holds its lock for a whole round trip), so reading
 * again would only cost a recvmsg that fails with EAGAIN.  Level-triggered
 * events bring us back at once for pipelined requests.
 */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd, (void)what;
	if (read_one(c) < 0)
		return;
	if (c->closing && STAILQ_EMPTY(&c->outq))
		client_destroy(c);
}
