/* SPDX-License-Identifier: MIT */
/*
 * The system calls on a client's SOCK_SEQPACKET socket (sock.c): a reply
 * sent as one datagram that never blocks, and what a received one needs
 * before anything looks at it.  No client state: client.c keeps that.
 * A leaf of daemon/.
 */
#ifndef SPANHEAPD_SOCK_H
#define SPANHEAPD_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The most fds one reply passes: a WELCOME's arena and magazine. */
#define SOCK_MAX_FDS 2

/**
 * sock_send() - send one datagram of @iov, with the @nfds fds of @fds
 * (up to SOCK_MAX_FDS), never waiting.  Return: 0 sent, -EAGAIN if the
 * socket is full, or -errno.
 */
int sock_send(int fd, struct iovec *iov, size_t iovlen, const int *fds,
	      unsigned int nfds);

/**
 * sock_send_chunk() - one chunk of a text reply (struct
 * proto_stats_reply) of @type and @seq: @len bytes of @text, with
 * PROTO_MORE if @more.  Return: as sock_send().
 */
int sock_send_chunk(int fd, uint16_t type, uint32_t seq, const char *text,
		    size_t len, bool more);

/** sock_send_status() - a bare reply header of @type, @seq and @status. */
int sock_send_status(int fd, uint16_t type, uint32_t seq, int status);

/**
 * sock_drop_fds() - close every fd passed with the datagram that
 * recvmsg() put in @msg.  Return: how many.
 */
unsigned int sock_drop_fds(struct msghdr *msg);

/**
 * sock_peer_closed() - has the peer hung up?  On a seqpacket socket
 * recvmsg() returns 0 both at the end of the connection and for an empty
 * datagram; only the former hangs up.
 */
bool sock_peer_closed(int fd);

#endif
