// SPDX-License-Identifier: MIT
/* Raw protocol helpers for the tests of the daemon: see wire.h. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/lib/daemon.h"
#include "tests/lib/wire.h"

/* Requests' sequence numbers: unique within a test program. */
static uint32_t wire_seq = 1;

static uint32_t wire_next_seq(void)
{
	return wire_seq++;
}

int wire_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = WIRE_TIMEOUT_S };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		ck_abort_msg("connect %s: %s", path, strerror(errno));
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				    sizeof(tv)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				    sizeof(tv)), 0);
	return fd;
}

void wire_send_fds(int fd, const void *buf, size_t len,
		   const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(32 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	ck_assert_uint_le(nfds, 32);
	if (nfds) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	if (n < 0 || (size_t)n != len)
		ck_abort_msg("send of %zu bytes: %zd (%s)", len, n,
			     strerror(errno));
}

void wire_send(int fd, const void *buf, size_t len)
{
	wire_send_fds(fd, buf, len, NULL, 0);
}

size_t wire_recv_fds(int fd, void *buf, size_t len, int *ret_fds,
		     unsigned int max, unsigned int *ret_nfds)
{
	union {
		char buf[CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	unsigned int got = 0;
	ssize_t n;

	ck_assert_uint_le(max, WIRE_MAX_FDS);
	n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		ck_abort_msg("no reply from the daemon: %s", strerror(errno));
	ck_assert_msg(!(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)),
		      "reply truncated");
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
		ck_assert_uint_eq(cm->cmsg_len, CMSG_LEN(k * sizeof(int)));
		ck_assert_msg(got + k <= max, "%u file descriptors came with "
			      "a reply, want at most %u", got + (unsigned)k,
			      max);
		memcpy(ret_fds + got, CMSG_DATA(cm), k * sizeof(int));
		got += (unsigned int)k;
	}
	*ret_nfds = got;
	return (size_t)n;
}

size_t wire_recv_fd(int fd, void *buf, size_t len,
		    int *ret_fd)
{
	unsigned int nfds;
	int got = -1;
	size_t n = wire_recv_fds(fd, buf, len, &got, ret_fd ? 1 : 0, &nfds);

	if (ret_fd)
		*ret_fd = nfds ? got : -1;
	return n;
}

size_t wire_recv(int fd, void *buf, size_t len)
{
	return wire_recv_fd(fd, buf, len, NULL);
}

bool wire_closed(int fd)
{
	char c[PROTO_REPLY_MAX];

	return wire_recv(fd, c, sizeof(c)) == 0;
}

int wire_reply(int fd, uint16_t type, uint32_t seq,
	       void *buf, size_t len, size_t *ret_len)
{
	struct proto_hdr hdr;
	size_t n = wire_recv(fd, buf, len);

	ck_assert_msg(n > 0, "the daemon closed the connection");
	ck_assert_msg(proto_check_reply(buf, n, type, seq) == 0,
		      "malformed reply of %zu bytes to %s seq %u", n,
		      proto_type_name(type), seq);
	memcpy(&hdr, buf, sizeof(hdr));
	if (ret_len)
		*ret_len = n;
	return hdr.status;
}

void wire_expect_error(int fd, uint16_t type, uint32_t seq,
		       int status)
{
	union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX];
	} u;
	size_t n;
	int r = wire_reply(fd, type, seq, u.buf, sizeof(u.buf), &n);

	ck_assert_msg(r == status, "%s seq %u: status %d, want %d",
		      proto_type_name(type), seq, r, status);
	ck_assert_uint_eq(n, sizeof(struct proto_hdr));
}

uint32_t wire_hdr(struct proto_hdr *hdr, uint16_t type)
{
	uint32_t seq = wire_next_seq();

	proto_hdr_init(hdr, type, seq);
	return seq;
}

int wire_hello_flags(int fd, const char *name, uint32_t flags,
		     struct proto_welcome *ret, int *ret_memfd, int *ret_magfd)
{
	struct proto_hello h;
	union {
		struct proto_welcome w;
		char buf[PROTO_REPLY_MAX];
	} u;
	int fds[2] = { -1, -1 };
	unsigned int nfds;
	size_t n;
	int r;

	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
	h.flags = flags;
	if (name)
		memcpy(h.name, name, strnlen(name, sizeof(h.name)));
	wire_send(fd, &h, sizeof(h));
	n = wire_recv_fds(fd, u.buf, sizeof(u.buf), fds, 2, &nfds);
	ck_assert_msg(n > 0, "the daemon closed the connection");
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_HELLO, 0), 0);
	r = u.w.hdr.status;
	ck_assert_msg(r < 0 || nfds >= 1, "WELCOME without the arena fd");
	ck_assert_msg(r == 0 || nfds == 0, "an error came with an fd");
	/* The magazine's fd comes if, and only if, the WELCOME says so. */
	ck_assert_msg(r < 0 || nfds == (u.w.mag_size ? 2u : 1u),
		      "WELCOME of mag_size %u with %u fds", u.w.mag_size,
		      nfds);
	if (r == 0 && ret)
		*ret = u.w;
	if (ret_memfd)
		*ret_memfd = fds[0];
	else if (fds[0] >= 0)
		close(fds[0]);
	if (ret_magfd)
		*ret_magfd = fds[1];
	else
		ck_assert_msg(fds[1] < 0, "a magazine came, asked for none");
	return r;
}

int wire_hello(int fd, const char *name,
	       struct proto_welcome *ret, int *ret_memfd)
{
	return wire_hello_flags(fd, name, 0, ret, ret_memfd, NULL);
}

int wire_open(const char *path, const char *name)
{
	int fd = wire_connect(path);

	ck_assert_int_eq(wire_hello(fd, name, NULL, NULL), 0);
	return fd;
}

int wire_alloc(int fd, uint64_t npages, uint32_t count,
	       uint32_t flags, struct proto_alloc_reply *ret)
{
	struct proto_alloc a;
	union {
		struct proto_alloc_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	uint32_t seq;
	size_t n;
	int r;

	memset(&a, 0, sizeof(a));
	seq = wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
	a.npages = npages;
	a.count = count;
	a.flags = flags;
	wire_send(fd, &a, sizeof(a));
	r = wire_reply(fd, PROTO_SPAN_ALLOC, seq, u.buf, sizeof(u.buf), &n);
	if (r == 0) {
		ck_assert_uint_eq(u.rep.count, count);
		for (uint32_t i = 0; i < count; i++)
			ck_assert_uint_eq(u.rep.spans[i].npages, npages);
	} else if (n > sizeof(struct proto_hdr)) {
		ck_assert_uint_eq(u.rep.count, 0);
	}
	if (ret)
		memcpy(ret, u.buf, n);
	return r;
}

uint64_t wire_alloc1(int fd, uint64_t npages)
{
	struct proto_alloc_reply rep;
	int r = wire_alloc(fd, npages, 1, 0, &rep);

	ck_assert_msg(r == 0, "SPAN_ALLOC of %llu pages: %d",
		      (unsigned long long)npages, r);
	return rep.spans[0].off;
}

int wire_free(int fd, const uint64_t *off, uint32_t count,
	      struct proto_free_reply *ret)
{
	struct proto_free f;
	union {
		struct proto_free_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	uint32_t seq;
	size_t n;
	int r;

	memset(&f, 0, sizeof(f));
	seq = wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	f.count = count;
	memcpy(f.off, off, count * sizeof(*off));
	wire_send(fd, &f, proto_free_size(count));
	r = wire_reply(fd, PROTO_SPAN_FREE, seq, u.buf, sizeof(u.buf), &n);
	ck_assert_uint_eq(n, sizeof(struct proto_free_reply));
	ck_assert_uint_eq(u.rep.count, r == 0 ? count : 0);
	if (ret)
		*ret = u.rep;
	return r;
}

int wire_free1(int fd, uint64_t off)
{
	return wire_free(fd, &off, 1, NULL);
}

uint32_t wire_stats_send(int fd)
{
	struct proto_hdr hdr;
	uint32_t seq = wire_hdr(&hdr, PROTO_STATS);

	wire_send(fd, &hdr, sizeof(hdr));
	return seq;
}

/*
 * Receive the chunked reply (STATS or CLIENTS) of @type to @seq, every
 * chunk, and parse it.  Returns the JSON object (json_decref() it);
 * @ret_chunks gets the chunk count.
 */
static json_t *wire_text_recv(int fd, uint16_t type, uint32_t seq,
			      unsigned int *ret_chunks)
{
	static union {
		struct proto_stats_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	json_error_t jerr;
	unsigned int chunks = 0;
	size_t len = 0, n;
	char *text = NULL;
	json_t *j;
	int r;

	do {
		r = wire_reply(fd, type, seq, u.buf, sizeof(u.buf), &n);
		ck_assert_int_eq(r, 0);
		text = realloc(text, len + u.rep.len + 1);
		ck_assert_ptr_nonnull(text);
		memcpy(text + len, u.rep.data, u.rep.len);
		len += u.rep.len;
		chunks++;
		ck_assert_uint_lt(chunks, 1000);
	} while (u.rep.flags & PROTO_MORE);
	text[len] = 0;
	j = json_loads(text, 0, &jerr);
	ck_assert_msg(j != NULL, "%s is not JSON: %s: %.200s",
		      proto_type_name(type), jerr.text, text);
	ck_assert_msg(json_is_object(j), "%s is not a JSON object",
		      proto_type_name(type));
	free(text);
	if (ret_chunks)
		*ret_chunks = chunks;
	return j;
}

json_t *wire_stats_recv(int fd, uint32_t seq,
			unsigned int *ret_chunks)
{
	return wire_text_recv(fd, PROTO_STATS, seq, ret_chunks);
}

json_t *wire_clients(int fd, uint32_t after, uint32_t max)
{
	struct proto_clients req;
	uint32_t seq;

	memset(&req, 0, sizeof(req));
	seq = wire_hdr(&req.hdr, PROTO_CLIENTS);
	req.after = after;
	req.max = max;
	wire_send(fd, &req, sizeof(req));
	return wire_text_recv(fd, PROTO_CLIENTS, seq, NULL);
}

json_t *wire_stats(int fd)
{
	return wire_stats_recv(fd, wire_stats_send(fd), NULL);
}

uint64_t wire_json_u64(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	ck_assert_msg(json_is_integer(v), "STATS has no integer '%s'", key);
	ck_assert_msg(json_integer_value(v) >= 0, "STATS '%s' is negative",
		      key);
	return (uint64_t)json_integer_value(v);
}

uint64_t wire_inuse(int fd)
{
	json_t *j = wire_stats(fd);
	uint64_t v = wire_json_u64(j, "heap_inuse");

	json_decref(j);
	return v;
}

void wire_heap(int fd, struct wire_heap *ret)
{
	json_t *j = wire_stats(fd);

	ret->sys = wire_json_u64(j, "heap_sys");
	ret->idle = wire_json_u64(j, "heap_idle");
	ret->inuse = wire_json_u64(j, "heap_inuse");
	ret->released = wire_json_u64(j, "heap_released");
	ret->objects = wire_json_u64(j, "heap_objects");
	ret->free_spans = wire_json_u64(j, "free_spans");
	json_decref(j);
}

void wire_heap_unchanged(const struct wire_heap *a,
			 const struct wire_heap *b)
{
	ck_assert_uint_eq(a->sys, b->sys);
	ck_assert_uint_eq(a->idle, b->idle);
	ck_assert_uint_eq(a->inuse, b->inuse);
	ck_assert_uint_eq(a->released, b->released);
	ck_assert_uint_eq(a->objects, b->objects);
	ck_assert_uint_eq(a->free_spans, b->free_spans);
}

void wire_heap_wait_inuse(int fd, uint64_t inuse,
			  struct wire_heap *ret)
{
	for (int i = 0; i < 100; i++) {
		wire_heap(fd, ret);
		if (ret->inuse == inuse)
			return;
		usleep(10000);
	}
}

struct proto_gc_reply wire_gc(int fd)
{
	union {
		struct proto_gc_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct proto_hdr hdr;
	uint32_t seq = wire_hdr(&hdr, PROTO_GC);

	wire_send(fd, &hdr, sizeof(hdr));
	ck_assert_int_eq(wire_reply(fd, PROTO_GC, seq, u.buf, sizeof(u.buf),
				    NULL), 0);
	return u.rep;
}

unsigned int wire_fd_count(pid_t pid)
{
	char path[64];
	unsigned int n = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

uint64_t wire_rss_kib(pid_t pid)
{
	return test_proc_status(pid, "VmRSS") >> 10;
}
