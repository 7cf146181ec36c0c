/* SPDX-License-Identifier: MIT */
/*
 * Raw protocol helpers for the tests of the daemon.  They speak
 * proto/proto.h over a SOCK_SEQPACKET socket with no client library in
 * between, so a test can send what no library ever would and see every
 * byte of the answer.
 *
 * Transport failures (a send that fails, a reply that does not come
 * within WIRE_TIMEOUT_S) fail the test; protocol statuses are returned
 * for the test to check.  Every reply is validated with
 * proto_check_reply() before a field of it is read.
 */
#ifndef SPANHEAP_TESTS_LIB_WIRE_H
#define SPANHEAP_TESTS_LIB_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proto.h"

/* Long enough for a sanitizer build on a slow VM, short of check's. */
#define WIRE_TIMEOUT_S 10

/* The heap's figures that a failed request must leave as they were. */
struct wire_heap {
	uint64_t sys, idle, inuse, released, objects, free_spans;
};

/* Connect to the daemon at @path; the socket times out replies. */
int wire_connect(const char *path);

/* Send one datagram of @len bytes, with @nfds file descriptors. */
void wire_send_fds(int fd, const void *buf, size_t len,
		   const int *fds, unsigned int nfds);

/* wire_send_fds() with no descriptors. */
void wire_send(int fd, const void *buf, size_t len);

/*
 * Receive one datagram into @buf; returns its length (0 at the end of
 * the connection).  A file descriptor that rides along goes to @ret_fd
 * if given (else it is closed), -1 if none came.
 */
size_t wire_recv_fd(int fd, void *buf, size_t len,
		    int *ret_fd);

/* The most file descriptors wire_recv_fds() takes with one datagram. */
#define WIRE_MAX_FDS 4

/*
 * Receive one datagram into @buf, as wire_recv_fd(), and up to @max
 * (at most WIRE_MAX_FDS) file descriptors into @ret_fds, their number
 * into @ret_nfds; more than @max fail the test.
 */
size_t wire_recv_fds(int fd, void *buf, size_t len, int *ret_fds,
		     unsigned int max, unsigned int *ret_nfds);

/* wire_recv_fd() for a reply that must come without a descriptor. */
size_t wire_recv(int fd, void *buf, size_t len);

/* True if the daemon has closed the connection (within the timeout). */
bool wire_closed(int fd);

/* Receive the reply to (@type, @seq), check it and return its status. */
int wire_reply(int fd, uint16_t type, uint32_t seq,
	       void *buf, size_t len, size_t *ret_len);

/* Expect a bare error header of @status for (@type, @seq). */
void wire_expect_error(int fd, uint16_t type, uint32_t seq,
		       int status);

/* A header of @type with a fresh seq, in @hdr; returns the seq. */
uint32_t wire_hdr(struct proto_hdr *hdr, uint16_t type);

/*
 * HELLO as @name; returns the status.  On success the WELCOME goes to
 * @ret (may be NULL) and the arena fd to @ret_memfd (NULL: closed).
 */
int wire_hello(int fd, const char *name,
	       struct proto_welcome *ret, int *ret_memfd);

/*
 * wire_hello() with the HELLO's @flags (PROTO_HELLO_*).  A magazine's
 * fd, which comes if and only if the WELCOME's mag_size says so, goes
 * to @ret_magfd (-1 if none came); with @ret_magfd NULL none may come.
 */
int wire_hello_flags(int fd, const char *name, uint32_t flags,
		     struct proto_welcome *ret, int *ret_memfd, int *ret_magfd);

/* Connect and HELLO as @name; the test fails unless it is welcomed. */
int wire_open(const char *path, const char *name);

/* SPAN_ALLOC; returns the status and the reply in @ret (may be NULL). */
int wire_alloc(int fd, uint64_t npages, uint32_t count,
	       uint32_t flags, struct proto_alloc_reply *ret);

/* One span of @npages; returns its offset, failing the test if none. */
uint64_t wire_alloc1(int fd, uint64_t npages);

/*
 * SPAN_FREE of @count offsets; returns the status.  The reply goes to
 * @ret (may be NULL); an error reply must be the full struct, as only
 * it carries the index of the bad offset.
 */
int wire_free(int fd, const uint64_t *off, uint32_t count,
	      struct proto_free_reply *ret);

/* SPAN_FREE of the one offset @off; returns the status. */
int wire_free1(int fd, uint64_t off);

/* Send STATS without waiting; returns its seq. */
uint32_t wire_stats_send(int fd);

/*
 * Receive the STATS reply to @seq, every chunk, and parse it.  Returns
 * the JSON object (json_decref() it); @ret_chunks gets the chunk count.
 */
json_t *wire_stats_recv(int fd, uint32_t seq,
			unsigned int *ret_chunks);

/*
 * One CLIENTS page: up to @max clients of id above @after.  Returns the
 * whole reply object, {"clients": [...], "next": N}.
 */
json_t *wire_clients(int fd, uint32_t after, uint32_t max);

/* STATS, sent and received whole: the object (json_decref() it). */
json_t *wire_stats(int fd);

/* An integer member of a STATS object; a missing one fails the test. */
uint64_t wire_json_u64(const json_t *obj, const char *key);

/* STATS' heap_inuse, in bytes. */
uint64_t wire_inuse(int fd);

/* The heap's figures of a fresh STATS, into @ret. */
void wire_heap(int fd, struct wire_heap *ret);

/* Fail the test unless @a and @b hold the same figures. */
void wire_heap_unchanged(const struct wire_heap *a,
			 const struct wire_heap *b);

/*
 * Read the heap's figures into @ret until in-use bytes are back to
 * @inuse, for up to a second: a client's close is seen in the daemon's
 * next loop turn, so a STATS sent right after may still be read first.
 */
void wire_heap_wait_inuse(int fd, uint64_t inuse,
			  struct wire_heap *ret);

/* GC; fails the test unless it succeeds.  Returns the reply. */
struct proto_gc_reply wire_gc(int fd);

/* Open file descriptors of process @pid. */
unsigned int wire_fd_count(pid_t pid);

/* VmRSS of process @pid, in KiB. */
uint64_t wire_rss_kib(pid_t pid);

#endif
