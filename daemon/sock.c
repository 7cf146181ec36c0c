// SPDX-License-Identifier: MIT
/* A client's socket, system calls only: see sock.h. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "sock.h"

int sock_send(int fd, struct iovec *iov, size_t iovlen, const int *fds,
	      unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovlen };
	ssize_t n;

	if (nfds > SOCK_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
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

/* A header and a slice of the text, no copy. */
int sock_send_chunk(int fd, uint16_t type, uint32_t seq, const char *text,
		    size_t len, bool more)
{
	struct chunk_hdr h;
	struct iovec iov[2] = {
		{ &h, sizeof(h) },
		{ (void *)(uintptr_t)text, len },
	};

	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, type, seq);
	h.len = (uint32_t)len;
	h.flags = more ? PROTO_MORE : 0;
	return sock_send(fd, iov, 2, NULL, 0);
}

int sock_send_status(int fd, uint16_t type, uint32_t seq, int status)
{
	struct proto_hdr h;
	struct iovec iov = { &h, sizeof(h) };

	proto_hdr_init(&h, type, seq);
	h.status = status;
	return sock_send(fd, &iov, 1, NULL, 0);
}

/*
 * We never take fds from clients.  recvmsg() has installed each one it
 * fits into our control buffer (the kernel drops those that do not fit
 * and says MSG_CTRUNC), so every fd in every SCM_RIGHTS header here is
 * ours to close, and nothing else is.
 */
unsigned int sock_drop_fds(struct msghdr *msg)
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

bool sock_peer_closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) == 1 && p.revents & (POLLHUP | POLLRDHUP);
}
