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
 * a reply must carry its request's type and seq.  Anything else, a failed
 * send or receive, or the daemon hanging up kills the connection (see
 * internal.h).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libclient/internal.h"

/* Statuses beyond this are not errno values (the kernel's MAX_ERRNO). */
#define CONN_MAX_ERRNO 4095

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

/* Send one datagram.  Return: 0, or -ENOTCONN if it did not go out. */
static int conn_send(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do {
		n = send(fd, buf, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -ENOTCONN;
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
 * Receive one datagram into @buf, and the descriptors riding along into
 * @fds if it is not NULL (without @fds the kernel closes them).  The
 * descriptors are the caller's to close, even on error.
 *
 * Return: 0 and the length in @ret_len; -ENOTCONN on failure or end of
 * connection; -EBADMSG if the datagram or its descriptors did not fit.
 */
static int conn_recv(int fd, void *buf, size_t size, struct conn_fds *fds,
		     size_t *ret_len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CONN_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg;
	bool reset = false;
	ssize_t n;

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
		if (errno == EINTR)
			continue;
		/*
		 * A peer that hung up with a request of ours unread leaves
		 * ECONNRESET pending, and the kernel reports it once, before
		 * the datagrams the peer had sent: read on to get them.
		 */
		if (errno == ECONNRESET && !reset) {
			reset = true;
			continue;
		}
		return -ENOTCONN;
	}
	if (n == 0)
		return -ENOTCONN;
	if (fds)
		conn_take_fds(&msg, fds);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return -EBADMSG;
	*ret_len = (size_t)n;
	return 0;
}

void conn_assert_locked(struct spanheap *h)
{
	assert(pthread_mutex_trylock(&h->lock) == EBUSY);
	(void)h;
}

int conn_broken_locked(struct spanheap *h)
{
	conn_assert_locked(h);
	h->dead = true;
	return -EBADMSG;
}

int conn_request_locked(struct spanheap *h, uint16_t type,
			struct proto_hdr *req, size_t len)
{
	conn_assert_locked(h);
	if (h->dead)
		return -ENOTCONN;
	proto_hdr_init(req, type, h->next_seq++);
	if (conn_send(h->fd, req, len) < 0) {
		h->dead = true;
		return -ENOTCONN;
	}
	return 0;
}

int conn_reply_locked(struct spanheap *h, const struct proto_hdr *req)
{
	size_t len;
	int r;

	conn_assert_locked(h);
	if (h->dead)
		return -ENOTCONN;
	r = conn_recv(h->fd, &h->reply, sizeof(h->reply), NULL, &len);
	if (r == 0)
		r = proto_check_reply(&h->reply, len, req->type, req->seq);
	if (r == 0 && h->reply.hdr.status < -CONN_MAX_ERRNO)
		r = -EBADMSG;
	if (r < 0) {
		h->dead = true;
		return r;
	}
	return h->reply.hdr.status;
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

static int conn_open(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, r;

	if (!len)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* Check a successful WELCOME and map the arena it brought in @fds. */
static int conn_attach(struct spanheap *h, struct conn_fds *fds)
{
	const struct proto_welcome *w = &h->reply.welcome;
	struct arena *arena;
	int r;

	if (fds->n != 1 || w->page_size != HEAP_PAGE_SIZE ||
	    w->max_batch != PROTO_MAX_BATCH)
		return -EBADMSG;
	r = arena_attach(fds->fd[0], &arena);
	if (r < 0)
		return r;
	fds->n = 0;
	if (arena->size != w->arena_size) {
		arena_destroy(arena);
		return -EBADMSG;
	}
	h->arena = arena;
	h->client_id = w->client_id;
	h->page_size = w->page_size;
	return 0;
}

static int conn_handshake(struct spanheap *h, const char *name)
{
	struct proto_hello hello;
	struct conn_fds fds = { .n = 0 };
	size_t len;
	int r;

	memset(&hello, 0, sizeof(hello));
	proto_hdr_init(&hello.hdr, PROTO_HELLO, 0);
	if (name)
		memcpy(hello.name, name, strnlen(name, PROTO_NAME_MAX - 1));
	/* A failed send is told by the receive: see the top of the file. */
	(void)conn_send(h->fd, &hello, sizeof(hello));

	r = conn_recv(h->fd, &h->reply, sizeof(h->reply), &fds, &len);
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
	r = conn_attach(h, &fds);
	if (r < 0)
		goto out_close_fds;
	h->next_seq = 1;
	return 0;

out_close_fds:
	conn_close_fds(&fds);
	return r;
}

SPANHEAP_EXPORT int spanheap_connect_named(const char *socket_path,
					   const char *name,
					   struct spanheap **ret)
{
	struct spanheap *h;
	int r;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	r = conn_open(conn_socket_path(socket_path), &h->fd);
	if (r < 0)
		goto out_free;
	r = conn_handshake(h, name);
	if (r < 0)
		goto out_close;
	r = -pthread_mutex_init(&h->lock, NULL);
	if (r < 0)
		goto out_unmap;
	*ret = h;
	return 0;

out_unmap:
	arena_destroy(h->arena);
out_close:
	close(h->fd);
out_free:
	free(h);
	return r;
}

SPANHEAP_EXPORT int spanheap_connect(const char *socket_path,
				     struct spanheap **ret)
{
	return spanheap_connect_named(socket_path,
				      program_invocation_short_name, ret);
}

SPANHEAP_EXPORT void spanheap_close(struct spanheap *h)
{
	if (!h)
		return;
	/* Unmap first: the daemon may reuse our spans once we hang up. */
	arena_destroy(h->arena);
	close(h->fd);
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
