// SPDX-License-Identifier: MIT
/*
 * The connection: the socket, the handshake that brings the arena, and
 * the request/reply round trip every other call is made of.
 *
 * Handshake.  HELLO (seq 0) goes out, WELCOME comes back with the arena
 * memfd in SCM_RIGHTS.  A daemon that is full answers -EUSERS and hangs
 * up, possibly before it reads HELLO, so a HELLO that cannot be sent
 * does not end the handshake: the WELCOME may already be waiting.  The
 * memfd is mapped by arena_attach(), which refuses it unless it is sealed
 * against resizing, and its size must be the one the WELCOME announces.
 *
 * Round trips.  Requests carry seq 1, 2, ... in the order they are sent;
 * a reply must carry its request's type and seq.  Anything else kills
 * the connection (see internal.h); a broken one is mended first.
 *
 * Reconnection.  A send or receive that finds the connection broken
 * (EPIPE, ECONNRESET, an end of file) starts a reconnection, under
 * h->lock: connect again (ECONNREFUSED, ENOENT: the daemon restarts)
 * with a backoff of 1 ms doubling to 250 ms, for up to the WELCOME's
 * grace_ms from the break; HELLO with PROTO_HELLO_RESUME and our token;
 * check that the WELCOME is of the same arena (its arena id, and the
 * memfd it brings against our mapping's by st_dev and st_ino), keep our
 * mapping (every pointer stays valid) and the new socket in place of
 * the old fd number (dup2(), so that a thread kicking the magazine
 * without the lock never sends on a closed or reused number); then send
 * the request in flight again with its seq: the daemon answers a retry
 * of a request it applied with the recorded reply.  The caller sees a
 * delay.  Past the grace: -ENOTCONN; a WELCOME of -ESTALE or of another
 * arena: -ESTALE, for this call and every later one.  A time-out of a
 * live daemon or a bad reply stays fatal, as before.
 *
 * Time-outs.  No wait is unbounded unless the caller asked for that
 * (h->timeout_ns < 0).  The bound is the socket's own: SO_SNDTIMEO
 * bounds connect(2) waiting for room in a full backlog, and every send;
 * SO_RCVTIMEO bounds every receive; an expired one fails with EAGAIN.
 * The kernel wakes the caller as soon as the room or the datagram comes,
 * and a round trip costs no system call more than a blocking one, where
 * a poll(2) before each receive adds one: bench_rtt's span_request
 * measured 3.7 us without time-outs, 3.85 us with these, 4.55 us with
 * poll(2).  The price is precision: the kernel's timer wheel may end a
 * long wait up to an eighth late (5 s measured 5.1-5.2 s).  A signal
 * ends such a wait early with EINTR; the wait goes on for what is left
 * of the time-out only (struct conn_clock), so signals cannot stretch it.
 *
 * The handshake as a whole is bounded by the time-out: the WELCOME is
 * waited for only as long as connect(2) left of it.  After that each
 * receive waits at most the time-out, so every chunk of a reply in
 * chunks, and every progress reply of a SCAVENGE, restarts it.  A wait
 * that expires kills the connection: the reply may still come, and must
 * never be read as the answer to a later request.
 *
 * One receive may have a bound of its own: the reply to an OBJ_GET that
 * the daemon holds until the object is sealed comes up to the get's own
 * timeout_ms late by design (libclient/object.c).
 * conn_reply_wait_locked() sets SO_RCVTIMEO to that bound for the one
 * receive and back to the connection's after it, under h->lock, so that
 * no other receive ever sees it; only such a get pays the two
 * setsockopt(2) calls.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "libclient/internal.h"

/* Statuses beyond this are not errno values (the kernel's MAX_ERRNO). */
#define CONN_MAX_ERRNO 4095

/* The longest pause between two attempts to reconnect. */
#define CONN_BACKOFF_MAX_NS UINT64_C(250000000)

/* File descriptors a WELCOME may carry before we call it malformed. */
#define CONN_MAX_FDS 4

struct conn_fds {
	int fd[CONN_MAX_FDS];
	int n;
};

static void conn_close_fds(struct conn_fds *fds)
{
	while (fds->n > 0)
		close(fds->fd[--fds->n]);
}

static uint64_t conn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Set the socket time-out @opt (SO_SNDTIMEO, SO_RCVTIMEO) to @ns, at
 * least a microsecond, as 0 would mean none; @ns < 0: none.
 */
static int conn_set_timeo(int fd, int opt, int64_t ns)
{
	uint64_t us = ns < 0 ? 0 : ((uint64_t)ns + 999) / 1000;
	struct timeval tv = {
		.tv_sec = (time_t)(us / 1000000),
		.tv_usec = (suseconds_t)(us % 1000000),
	};

	if (ns >= 0 && us == 0)
		tv.tv_usec = 1;
	if (setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/*
 * One wait bounded by the socket time-out @opt of @fd, which is
 * @timeout_ns (< 0: none), across the EINTRs that interrupt it: after a
 * signal the time-out is cut to what is left, and set back when the wait
 * ends.
 */
struct conn_clock {
	int fd;
	int opt;		/* SO_SNDTIMEO or SO_RCVTIMEO */
	int64_t timeout_ns;
	uint64_t start_ns;
	bool cut;		/* the socket's time-out is not timeout_ns */
};

static void conn_clock_start(struct conn_clock *c, int fd, int opt,
			     int64_t timeout_ns)
{
	c->fd = fd;
	c->opt = opt;
	c->timeout_ns = timeout_ns;
	c->start_ns = timeout_ns < 0 ? 0 : conn_now_ns();
	c->cut = false;
}

/*
 * After EINTR.  Return: 0 to wait on; -ETIMEDOUT if no time is left; or
 * the error of setsockopt(), which does not fail on a connected socket.
 */
static int conn_clock_interrupted(struct conn_clock *c)
{
	uint64_t spent;

	if (c->timeout_ns < 0)
		return 0;
	spent = conn_now_ns() - c->start_ns;
	if (spent >= (uint64_t)c->timeout_ns)
		return -ETIMEDOUT;
	c->cut = true;
	return conn_set_timeo(c->fd, c->opt,
			      c->timeout_ns - (int64_t)spent);
}

/* If setsockopt() failed here, the next wait would only end sooner. */
static void conn_clock_end(struct conn_clock *c)
{
	if (c->cut)
		(void)conn_set_timeo(c->fd, c->opt, c->timeout_ns);
}

/*
 * Send one datagram, waiting for room at most @timeout_ns, the socket's
 * SO_SNDTIMEO.
 * Return: 0; -ETIMEDOUT if the daemon's queue stayed full; -ENOTCONN if
 * it did not go out otherwise.
 */
static int conn_send(int fd, int64_t timeout_ns, const void *buf,
		     size_t len)
{
	struct conn_clock clock;
	ssize_t n;
	int r;

	conn_clock_start(&clock, fd, SO_SNDTIMEO, timeout_ns);
	for (;;) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n >= 0) {
			r = n == (ssize_t)len ? 0 : -ENOTCONN;
			break;
		}
		if (errno != EINTR) {
			r = errno == EAGAIN ? -ETIMEDOUT : -ENOTCONN;
			break;
		}
		r = conn_clock_interrupted(&clock);
		if (r < 0)
			break;
	}
	conn_clock_end(&clock);
	return r;
}

/* Take the SCM_RIGHTS descriptors out of @msg into @fds. */
static void conn_take_fds(struct msghdr *msg, struct conn_fds *fds)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t i, n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n && fds->n < CONN_MAX_FDS; i++)
			memcpy(&fds->fd[fds->n++],
			       CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
}

/*
 * Receive one datagram into @buf, waiting at most @timeout_ns for it (the
 * socket's SO_RCVTIMEO), and the descriptors riding along into @fds if it
 * is not NULL (without @fds the kernel closes them).  The descriptors are
 * the caller's to close, even on error.
 *
 * Return: 0 and the length in @ret_len; -ETIMEDOUT if none came in time;
 * -ENOTCONN on failure or end of connection; -EBADMSG if the datagram or
 * its descriptors did not fit.
 */
static int conn_recv(int fd, int64_t timeout_ns, void *buf, size_t size,
		     struct conn_fds *fds, size_t *ret_len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CONN_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct conn_clock clock;
	struct msghdr msg;
	bool reset = false;
	ssize_t n;
	int r = 0;

	conn_clock_start(&clock, fd, SO_RCVTIMEO, timeout_ns);
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (fds) {
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
		}
		n = recvmsg(fd, &msg, fds ? MSG_CMSG_CLOEXEC : 0);
		if (n >= 0)
			break;
		if (errno == EINTR) {
			r = conn_clock_interrupted(&clock);
			if (r < 0)
				break;
			continue;
		}
		/*
		 * A peer that hung up with a request of ours unread leaves
		 * ECONNRESET pending, and the kernel reports it once, before
		 * the datagrams the peer had sent: read on to get them.
		 */
		if (errno == ECONNRESET && !reset) {
			reset = true;
			continue;
		}
		r = errno == EAGAIN ? -ETIMEDOUT : -ENOTCONN;
		break;
	}
	conn_clock_end(&clock);
	if (r < 0)
		return r;
	if (n == 0)
		return -ENOTCONN;
	if (fds)
		conn_take_fds(&msg, fds);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EBADMSG;
	*ret_len = (size_t)n;
	return 0;
}

/* Forks this process has been through (its atfork child handler). */
static unsigned long conn_forks;
static pthread_once_t conn_atfork_once = PTHREAD_ONCE_INIT;

static void conn_on_fork_child(void)
{
	conn_forks++;
}

static void conn_atfork(void)
{
	(void)pthread_atfork(NULL, NULL, conn_on_fork_child);
}

bool conn_forked(const struct spanheap *h)
{
	return h->fork_gen != conn_forks;
}

int conn_lock(struct spanheap *h)
{
	if (conn_forked(h))
		return -ENOTCONN;
	pthread_mutex_lock(&h->lock);
	return 0;
}

void conn_assert_locked(struct spanheap *h)
{
	assert(pthread_mutex_trylock(&h->lock) == EBUSY);
	(void)h;
}

/* From here on every call fails, the magazine's fast path included. */
static void conn_die_locked(struct spanheap *h)
{
	h->dead = true;
	atomic_store_explicit(&h->gone, true, memory_order_relaxed);
}

bool conn_gone(const struct spanheap *h)
{
	return atomic_load_explicit(&h->gone, memory_order_relaxed);
}

int conn_gone_error(const struct spanheap *h)
{
	return atomic_load_explicit(&h->stale, memory_order_relaxed) ?
		       -ESTALE : -ENOTCONN;
}

static int conn_open(const char *path, int64_t timeout_ns, int *ret_fd);
static int conn_resume_locked(struct spanheap *h);

int conn_broken_locked(struct spanheap *h)
{
	conn_assert_locked(h);
	conn_die_locked(h);
	return -EBADMSG;
}

int conn_request_locked(struct spanheap *h, uint16_t type,
			struct proto_hdr *req, size_t len)
{
	int r;

	conn_assert_locked(h);
	if (h->dead)
		return conn_gone_error(h);
	proto_hdr_init(req, type, h->next_seq++);
	/* Kept to be sent again after a break: see the top of the file. */
	if (len <= sizeof(h->req)) {
		memcpy(h->req, req, len);
		h->req_len = len;
	}
	r = conn_send(h->fd, h->timeout_ns, req, len);
	if (r == -ENOTCONN)
		r = conn_resume_locked(h);
	if (r < 0)
		conn_die_locked(h);
	return r;
}

int conn_reply_wait_locked(struct spanheap *h, const struct proto_hdr *req,
			   int64_t wait_ns)
{
	bool own = wait_ns != h->timeout_ns;
	size_t len;
	int r = 0, restored;

	conn_assert_locked(h);
	if (h->dead)
		return conn_gone_error(h);
	for (;;) {
		r = 0;
		if (own)
			r = conn_set_timeo(h->fd, SO_RCVTIMEO, wait_ns);
		if (r == 0)
			r = conn_recv(h->fd, wait_ns, &h->reply,
				      sizeof(h->reply), NULL, &len);
		if (own) {
			/* Not set back, later waits would be wrong: kill it. */
			restored = conn_set_timeo(h->fd, SO_RCVTIMEO,
						  h->timeout_ns);
			if (r == 0)
				r = restored;
		}
		/* Broken: mended and the request sent again, or dead. */
		if (r != -ENOTCONN)
			break;
		r = conn_resume_locked(h);
		if (r < 0)
			break;
	}
	if (r == 0)
		r = proto_check_reply(&h->reply, len, req->type, req->seq);
	if (r == 0 && h->reply.hdr.status < -CONN_MAX_ERRNO)
		r = -EBADMSG;
	if (r < 0) {
		conn_die_locked(h);
		return r;
	}
	return h->reply.hdr.status;
}

int conn_reply_locked(struct spanheap *h, const struct proto_hdr *req)
{
	return conn_reply_wait_locked(h, req, h->timeout_ns);
}

int conn_call_locked(struct spanheap *h, uint16_t type,
		     struct proto_hdr *req, size_t len)
{
	int r;

	r = conn_request_locked(h, type, req, len);
	if (r < 0)
		return r;
	return conn_reply_locked(h, req);
}

/* The socket to use: @path, else $SPANHEAP_SOCKET, else the default. */
static const char *conn_socket_path(const char *path)
{
	if (path)
		return path;
	path = secure_getenv(SPANHEAP_SOCKET_ENV);
	if (path && *path)
		return path;
	return SPANHEAP_DEFAULT_SOCKET;
}

/*
 * The bound of each wait, in ns, < 0 for none: @timeout_ms if it is not
 * 0, else $SPANHEAP_TIMEOUT_MS if that is a positive number of ms, else
 * the default.
 */
static int64_t conn_timeout_ns(int timeout_ms)
{
	const char *env;
	char *end;
	long ms;

	if (timeout_ms < 0)
		return -1;
	if (timeout_ms == 0) {
		timeout_ms = SPANHEAP_DEFAULT_TIMEOUT_MS;
		env = secure_getenv(SPANHEAP_TIMEOUT_ENV);
		if (env && *env >= '0' && *env <= '9') {
			errno = 0;
			ms = strtol(env, &end, 10);
			if (!errno && !*end && ms > 0 && ms <= INT_MAX)
				timeout_ms = (int)ms;
		}
	}
	return (int64_t)timeout_ms * 1000000;
}

/* Connect to @path, waiting at most @timeout_ns for room in its backlog. */
static int conn_open(const char *path, int64_t timeout_ns, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	struct conn_clock clock;
	int fd, r;

	if (!len)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect(2) waits for room in the backlog up to SO_SNDTIMEO. */
	r = conn_set_timeo(fd, SO_SNDTIMEO, timeout_ns);
	if (r == 0)
		r = conn_set_timeo(fd, SO_RCVTIMEO, timeout_ns);
	if (r < 0)
		goto out_close;
	conn_clock_start(&clock, fd, SO_SNDTIMEO, timeout_ns);
	for (;;) {
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		if (r == 0)
			break;
		r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (r != -EINTR)
			break;
		r = conn_clock_interrupted(&clock);
		if (r < 0)
			break;
	}
	conn_clock_end(&clock);
	if (r < 0)
		goto out_close;
	*ret_fd = fd;
	return 0;

out_close:
	close(fd);
	return r;
}

/* Which file @fd is: a memfd's st_dev and st_ino name it for good. */
static int conn_fd_identity(int fd, uint64_t *ret_dev, uint64_t *ret_ino)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	*ret_dev = (uint64_t)st.st_dev;
	*ret_ino = (uint64_t)st.st_ino;
	return 0;
}

/*
 * Check a successful WELCOME and map the arena it brought in @fds, and
 * the magazine if it came (and we asked: @want_mag).
 */
static int conn_attach(struct spanheap *h, struct conn_fds *fds,
		       bool want_mag)
{
	const struct proto_welcome *w = &h->reply.welcome;
	int want_fds = w->mag_size ? 2 : 1;
	struct arena *arena;
	int r;

	if (fds->n != want_fds || (w->mag_size && !want_mag) ||
	    w->page_size != HEAP_PAGE_SIZE || w->max_batch != PROTO_MAX_BATCH)
		return -EBADMSG;
	r = conn_fd_identity(fds->fd[0], &h->arena_dev, &h->arena_ino);
	if (r < 0)
		return r;
	r = arena_attach(fds->fd[0], &arena);
	if (r < 0)
		return r;
	/* The arena's now; the magazine's is closed once it is mapped. */
	fds->fd[0] = fds->fd[--fds->n];
	if (arena->size != w->arena_size) {
		arena_destroy(arena);
		return -EBADMSG;
	}
	h->arena = arena;
	h->client_id = w->client_id;
	h->page_size = w->page_size;
	if (w->mag_size) {
		r = cmag_attach(h, fds->fd[0], w->mag_size);
		if (r < 0) {
			arena_destroy(arena);
			h->arena = NULL;
			return r;
		}
		conn_close_fds(fds);
	}
	return 0;
}

/* Does this process want a magazine?  Not with SPANHEAP_MAGAZINE=0. */
static bool conn_want_magazine(void)
{
	const char *env = secure_getenv(SPANHEAP_MAGAZINE_ENV);

	return !env || strcmp(env, "0") != 0;
}

/*
 * HELLO and WELCOME, in what is left of h->timeout_ns since @start_ns,
 * when the connection was begun.
 */
static int conn_handshake(struct spanheap *h, const char *name,
			  uint64_t start_ns)
{
	struct proto_hello hello;
	struct conn_fds fds = { .n = 0 };
	bool want_mag = conn_want_magazine();
	int64_t left = h->timeout_ns;
	size_t len = 0;
	int r;

	memset(&hello, 0, sizeof(hello));
	proto_hdr_init(&hello.hdr, PROTO_HELLO, 0);
	hello.flags = PROTO_HELLO_KEEP;
	if (want_mag)
		hello.flags |= PROTO_HELLO_MAGAZINE;
	if (name)
		memcpy(hello.name, name, strnlen(name, PROTO_NAME_MAX - 1));
	memcpy(h->name, hello.name, sizeof(h->name));
	h->want_mag = want_mag;
	if (left >= 0) {
		uint64_t spent = conn_now_ns() - start_ns;

		left = spent < (uint64_t)left ? left - (int64_t)spent : 0;
	}
	/* A failed send is told by the receive: see the top of the file. */
	(void)conn_send(h->fd, h->timeout_ns, &hello, sizeof(hello));

	r = conn_set_timeo(h->fd, SO_RCVTIMEO, left);
	if (r == 0)
		r = conn_recv(h->fd, left, &h->reply, sizeof(h->reply), &fds,
			      &len);
	if (r < 0)
		goto out_close_fds;
	r = proto_check_reply(&h->reply, len, PROTO_HELLO, 0);
	if (r < 0)
		goto out_close_fds;
	r = h->reply.hdr.status;
	if (r < -CONN_MAX_ERRNO)
		r = -EBADMSG;
	if (r < 0)
		goto out_close_fds;
	r = conn_set_timeo(h->fd, SO_RCVTIMEO, h->timeout_ns);
	if (r < 0)
		goto out_close_fds;
	r = conn_attach(h, &fds, want_mag);
	if (r < 0)
		goto out_close_fds;
	h->next_seq = 1;
	h->session = h->reply.welcome.session;
	h->grace_ms = h->reply.welcome.grace_ms;
	return 0;

out_close_fds:
	conn_close_fds(&fds);
	return r;
}

/*
 * Is the WELCOME in h->reply, with @fds, our session in our arena?  The
 * magazine's new region, if one came, takes over from the suspended one
 * (cmag_resume()).  Return: 0, -ESTALE, or cmag_resume()'s error.
 */
static int conn_resumed(struct spanheap *h, struct conn_fds *fds)
{
	const struct proto_welcome *w = &h->reply.welcome;
	uint64_t dev = 0, ino = 0;

	if (fds->n != (w->mag_size ? 2 : 1) ||
	    memcmp(w->session.arena_id, h->session.arena_id,
		   sizeof(w->session.arena_id)) ||
	    w->client_id != h->client_id ||
	    w->arena_size != h->arena->size ||
	    w->page_size != h->page_size ||
	    conn_fd_identity(fds->fd[0], &dev, &ino) < 0 ||
	    dev != h->arena_dev || ino != h->arena_ino)
		return -ESTALE;
	if (w->mag_size) {
		int r = cmag_resume(h, fds->fd[1], w->mag_size);

		if (r < 0)
			return r;
	}
	h->session = w->session;
	h->grace_ms = w->grace_ms;
	return 0;
}

/*
 * One attempt: connect, HELLO with our token, and a WELCOME of our
 * session.  Return: 0 with the new socket in @ret_fd; -ESTALE (give
 * up); or another error (try again).
 */
static int conn_resume_once(struct spanheap *h, int *ret_fd)
{
	struct conn_fds fds = { .n = 0 };
	struct proto_hello hello;
	size_t len = 0;
	int fd, r;

	r = conn_open(h->path, h->timeout_ns, &fd);
	if (r < 0)
		return r;
	memset(&hello, 0, sizeof(hello));
	proto_hdr_init(&hello.hdr, PROTO_HELLO, 0);
	hello.flags = PROTO_HELLO_RESUME | PROTO_HELLO_KEEP |
		      (h->want_mag ? PROTO_HELLO_MAGAZINE : 0);
	/* The request in flight goes again with its seq. */
	hello.next_seq = h->req_len ? h->next_seq - 1 : h->next_seq;
	if (!hello.next_seq)
		hello.next_seq = 1;
	memcpy(hello.name, h->name, sizeof(hello.name));
	hello.session = h->session;
	memcpy(hello.mag_took, h->took, sizeof(hello.mag_took));
	(void)conn_send(fd, h->timeout_ns, &hello, sizeof(hello));
	r = conn_recv(fd, h->timeout_ns, &h->reply, sizeof(h->reply), &fds,
		      &len);
	if (r == 0)
		r = proto_check_reply(&h->reply, len, PROTO_HELLO, 0);
	/* Malformed: another daemon than the one we knew. */
	if (r == -EBADMSG)
		r = -ESTALE;
	if (r == 0)
		r = h->reply.hdr.status < -CONN_MAX_ERRNO ? -ESTALE :
							     h->reply.hdr.status;
	if (r == 0)
		r = conn_resumed(h, &fds);
	conn_close_fds(&fds);
	if (r < 0) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/*
 * Attempts, with backoff, until one resumes the session (then the
 * request in flight goes again), the daemon refuses it, or the grace
 * since the break is over.
 */
static int conn_resume_loop_locked(struct spanheap *h)
{
	uint64_t start = conn_now_ns(), delay_ns = 1000000;
	uint64_t grace_ns = (uint64_t)h->grace_ms * 1000000;
	struct timespec ts;
	int fd, r;

	for (;;) {
		if (conn_now_ns() - start >= grace_ns)
			return -ENOTCONN;
		r = conn_resume_once(h, &fd);
		if (r == -ESTALE) {
			atomic_store_explicit(&h->stale, true,
					      memory_order_relaxed);
			return r;
		}
		if (r == 0) {
			/* The old number now names the new socket. */
			r = dup2(fd, h->fd) < 0 ? -errno : 0;
			close(fd);
			if (r < 0)
				return -ENOTCONN;
			h->resumes++;
			if (!h->req_len)
				return 0;
			r = conn_send(h->fd, h->timeout_ns, h->req,
				      (size_t)h->req_len);
			if (r != -ENOTCONN)
				return r;
		}
		ts.tv_sec = (time_t)(delay_ns / 1000000000);
		ts.tv_nsec = (long)(delay_ns % 1000000000);
		nanosleep(&ts, NULL);
		delay_ns = delay_ns * 2 > CONN_BACKOFF_MAX_NS ?
				   CONN_BACKOFF_MAX_NS : delay_ns * 2;
	}
}

/*
 * The connection broke: mend it within the grace (see the top of the
 * file) and send the request in flight again; from now on until a new
 * region comes, the magazine's fast path goes to the socket
 * (cmag_suspend()).  Return: 0; -ENOTCONN
 * past the grace (or with none); -ESTALE if the daemon has no such
 * session or another arena (then stale); or -ETIMEDOUT if the resent
 * request could not go.
 */
static int conn_resume_locked(struct spanheap *h)
{
	int r;

	conn_assert_locked(h);
	if (!h->path || !h->grace_ms)
		return -ENOTCONN;
	/* Once: a second suspend would forget the first one's takes. */
	if (!h->suspended) {
		cmag_suspend(h, h->took);
		h->suspended = true;
	}
	r = conn_resume_loop_locked(h);
	if (r == 0)
		h->suspended = false;
	return r;
}

/* The options that @opts (may be NULL) sets, into @ret. */
static int conn_opts(const struct spanheap_opts *opts,
		     struct spanheap_opts *ret)
{
	const unsigned char *p;
	size_t i;

	memset(ret, 0, sizeof(*ret));
	ret->size = sizeof(*ret);
	if (!opts)
		return 0;
	if (opts->size < sizeof(*opts))
		return -EINVAL;
	/* A newer caller's fields, which this library does not know. */
	p = (const unsigned char *)opts;
	for (i = sizeof(*opts); i < opts->size; i++)
		if (p[i])
			return -E2BIG;
	ret->socket_path = opts->socket_path;
	ret->name = opts->name;
	ret->timeout_ms = opts->timeout_ms;
	return 0;
}

SPANHEAP_EXPORT int spanheap_connect_opts(const struct spanheap_opts *opts,
					  struct spanheap **ret)
{
	uint64_t start_ns = conn_now_ns();
	struct spanheap_opts o;
	struct spanheap *h;
	int r;

	r = conn_opts(opts, &o);
	if (r < 0)
		return r;
	pthread_once(&conn_atfork_once, conn_atfork);
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fork_gen = conn_forks;
	h->timeout_ns = conn_timeout_ns(o.timeout_ms);
	h->path = strdup(conn_socket_path(o.socket_path));
	if (!h->path) {
		r = -ENOMEM;
		goto out_free;
	}
	r = conn_open(h->path, h->timeout_ns, &h->fd);
	if (r < 0)
		goto out_free;
	r = conn_handshake(h, o.name ? o.name : program_invocation_short_name,
			   start_ns);
	if (r < 0)
		goto out_close;
	r = -pthread_mutex_init(&h->lock, NULL);
	if (r < 0)
		goto out_unmap;
	*ret = h;
	return 0;

out_unmap:
	cmag_detach(h);
	arena_destroy(h->arena);
out_close:
	close(h->fd);
out_free:
	free(h->path);
	free(h);
	return r;
}

SPANHEAP_EXPORT int spanheap_connect_named(const char *socket_path,
					   const char *name,
					   struct spanheap **ret)
{
	struct spanheap_opts opts = {
		.size = sizeof(opts),
		.socket_path = socket_path,
		.name = name ? name : "",	/* NULL: no name, unlike opts */
	};

	return spanheap_connect_opts(&opts, ret);
}

SPANHEAP_EXPORT int spanheap_connect(const char *socket_path,
				     struct spanheap **ret)
{
	struct spanheap_opts opts = {
		.size = sizeof(opts),
		.socket_path = socket_path,
	};

	return spanheap_connect_opts(&opts, ret);
}

SPANHEAP_EXPORT void spanheap_close(struct spanheap *h)
{
	if (!h)
		return;
	/* Unmap first: the daemon may reuse our spans once we hang up. */
	cmag_detach(h);
	arena_destroy(h->arena);
	/*
	 * We go for good: no session to keep, dead or not (a time-out kills
	 * a connection the daemon still has).  Not from a forked child,
	 * whose socket is its parent's too; never waiting.
	 */
	if (!conn_forked(h)) {
		struct proto_hdr bye;

		proto_hdr_init(&bye, PROTO_BYE, 0);
		(void)send(h->fd, &bye, sizeof(bye),
			   MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	close(h->fd);
	free(h->path);
	/* A forked child's copy of the lock may be held by no thread of it. */
	if (!conn_forked(h))
		pthread_mutex_destroy(&h->lock);
	free(h);
}

SPANHEAP_EXPORT size_t spanheap_page_size(const struct spanheap *h)
{
	return h->page_size;
}

SPANHEAP_EXPORT uint64_t spanheap_arena_size(const struct spanheap *h)
{
	return h->arena->size;
}

SPANHEAP_EXPORT uint32_t spanheap_client_id(const struct spanheap *h)
{
	return h->client_id;
}
