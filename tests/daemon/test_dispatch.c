// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/dispatch.c against the real spanheapd over raw sockets:
 * what it promises about bad input.  Every malformed or refused request
 * gets a reply with the status shm/proto.h names, changes nothing (the
 * heap's STATS figures are compared before and after) and leaves the
 * connection working; file descriptors sent to the daemon are closed;
 * a client's spans go with its connection; random datagrams and a client
 * that never reads its replies cannot hurt the daemon or other clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/daemon/wire.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define PG UINT64_C(4096)
#define ARENA_PAGES UINT64_C(16384)	/* --arena-size=64M */

static struct test_daemon td;

static void setup(void)
{
	const char *args[] = { "--arena-size=64M", NULL };

	test_daemon_start(&td, args);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

/*
 * For tests that weigh the daemon's memory: under ASan freed memory sits
 * in a quarantine and RSS grows with every request served, so switch the
 * quarantine off for this daemon (other builds ignore the variable).
 */
static void setup_no_quarantine(void)
{
	const char *old = getenv("ASAN_OPTIONS");
	char opts[512];

	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0",
		 old ? old : "", old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	setup();
}

/* An ALLOC and a FREE on @fd still work. */
static void assert_works(int fd)
{
	uint64_t off = wire_alloc1(fd, 3);

	ck_assert_int_eq(wire_free1(fd, off), 0);
}

/*
 * Send @len bytes of @buf and expect a bare header of @status that
 * echoes the request's type and seq (zeros when there is no header).
 */
static void send_expect(int fd, const void *buf, size_t len, int status)
{
	struct proto_hdr hdr;

	memset(&hdr, 0, sizeof(hdr));
	if (len >= sizeof(hdr))
		memcpy(&hdr, buf, sizeof(hdr));
	wire_send(fd, buf, len);
	wire_expect_error(fd, hdr.type & (uint16_t)~PROTO_REPLY, hdr.seq,
			  status);
}

/* The entry of clients.list with id @id, or NULL. */
static json_t *find_client(json_t *stats, uint64_t id)
{
	json_t *list = json_object_get(json_object_get(stats, "clients"),
				       "list");
	size_t i;
	json_t *c;

	ck_assert_msg(json_is_array(list), "STATS has no clients.list");
	json_array_foreach(list, i, c)
		if (wire_json_u64(c, "id") == id)
			return c;
	return NULL;
}

/* ---- handshake ---- */

START_TEST(test_request_before_hello)
{
	struct proto_alloc a;
	struct proto_free f;
	struct proto_hdr h;
	int fd = wire_connect(td.sock);

	memset(&a, 0, sizeof(a));
	wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
	a.npages = 1;
	a.count = 1;
	send_expect(fd, &a, sizeof(a), -EPROTO);
	memset(&f, 0, sizeof(f));
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	f.count = 1;
	send_expect(fd, &f, proto_free_size(1), -EPROTO);
	for (uint16_t type = PROTO_STATS; type <= PROTO_GC; type++) {
		wire_hdr(&h, type);
		send_expect(fd, &h, sizeof(h), -EPROTO);
	}
	ck_assert_int_eq(wire_hello(fd, "late", NULL, NULL), 0);
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_second_hello)
{
	struct proto_welcome w;
	struct proto_hello h;
	int fd = wire_connect(td.sock), memfd;
	json_t *j;

	ck_assert_int_eq(wire_hello(fd, "once", &w, NULL), 0);
	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 77);
	memcpy(h.name, "twice", 5);
	wire_send(fd, &h, sizeof(h));
	{
		union {
			struct proto_hdr hdr;
			char buf[PROTO_REPLY_MAX];
		} u;
		size_t n = wire_recv_fd(fd, u.buf, sizeof(u.buf), &memfd);

		ck_assert_int_eq(memfd, -1);
		ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_HELLO, 77),
				 0);
		ck_assert_int_eq(u.hdr.status, -EISCONN);
	}
	/* Still the first identity. */
	j = wire_stats(fd);
	ck_assert_ptr_nonnull(find_client(j, w.client_id));
	ck_assert_str_eq(json_string_value(json_object_get(
				 find_client(j, w.client_id), "name")),
			 "once");
	json_decref(j);
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_wrong_version_closes)
{
	struct proto_hello h;
	struct proto_hdr s;
	uint64_t inuse;
	int fd, other;

	/* A HELLO of another version. */
	fd = wire_connect(td.sock);
	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
	h.hdr.version = PROTO_VERSION + 1;
	send_expect(fd, &h, sizeof(h), -EPROTONOSUPPORT);
	ck_assert(wire_closed(fd));
	close(fd);

	/* A request of version 0 on a welcomed connection that holds spans. */
	other = wire_open(td.sock, "other");
	inuse = wire_inuse(other);
	fd = wire_open(td.sock, "old");
	wire_alloc1(fd, 10);
	ck_assert_uint_eq(wire_inuse(other), inuse + 10 * PG);
	wire_hdr(&s, PROTO_STATS);
	s.version = 0;
	send_expect(fd, &s, sizeof(s), -EPROTONOSUPPORT);
	ck_assert(wire_closed(fd));
	close(fd);
	ck_assert_uint_eq(wire_inuse(other), inuse);
	assert_works(other);
	close(other);
}
END_TEST

START_TEST(test_hello_bad_fields)
{
	struct proto_hello h;
	struct proto_hdr s;
	int fd = wire_connect(td.sock);

	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
	h.flags = 1;
	send_expect(fd, &h, sizeof(h), -EBADMSG);
	h.flags = 0;
	h.pad = 1;
	send_expect(fd, &h, sizeof(h), -EBADMSG);
	/* Neither welcomed the connection. */
	wire_hdr(&s, PROTO_STATS);
	send_expect(fd, &s, sizeof(s), -EPROTO);
	ck_assert_int_eq(wire_hello(fd, "good", NULL, NULL), 0);
	close(fd);
}
END_TEST

/* Names end up in logs and JSON: control characters become '?'. */
START_TEST(test_hello_name_sanitized)
{
	struct proto_welcome w1, w2;
	char name[PROTO_NAME_MAX];
	int fd1 = wire_connect(td.sock), fd2 = wire_connect(td.sock);
	json_t *j, *c;

	ck_assert_int_eq(wire_hello(fd1, "\x01tab\there\x7f", &w1, NULL), 0);
	/* A full 64 bytes without a NUL. */
	memset(name, 'n', sizeof(name));
	ck_assert_int_eq(wire_hello(fd2, name, &w2, NULL), 0);
	j = wire_stats(fd1);
	c = find_client(j, w1.client_id);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(json_string_value(json_object_get(c, "name")),
			 "?tab?here?");
	c = find_client(j, w2.client_id);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(c, "name"))),
			  PROTO_NAME_MAX - 1);
	json_decref(j);
	close(fd1);
	close(fd2);
}
END_TEST

/* A name that is not UTF-8 must not hide the client from STATS. */
START_TEST(test_hello_name_not_utf8)
{
	struct proto_welcome w;
	int fd = wire_connect(td.sock);
	json_t *j, *c;

	ck_assert_int_eq(wire_hello(fd, "caf\xe9-\xff\xfe", &w, NULL), 0);
	j = wire_stats(fd);
	c = find_client(j, w.client_id);
	ck_assert_msg(c != NULL, "a client named in Latin-1 is not listed");
	ck_assert_uint_eq(wire_json_u64(json_object_get(j, "clients"),
					"count"), 1);
	ck_assert_uint_eq(wire_json_u64(c, "pid"), (uint64_t)getpid());
	ck_assert(json_is_string(json_object_get(c, "name")));
	json_decref(j);
	close(fd);
}
END_TEST

/* ---- malformed ---- */

START_TEST(test_truncated)
{
	struct proto_hello h;
	struct proto_alloc a;
	struct proto_free f;
	struct proto_hdr s;
	int fd = wire_open(td.sock, "truncated");

	wire_hdr(&s, PROTO_STATS);
	for (size_t len = 1; len < sizeof(s); len++)
		send_expect(fd, &s, len, -EBADMSG);
	memset(&h, 0, sizeof(h));
	wire_hdr(&h.hdr, PROTO_HELLO);
	send_expect(fd, &h, sizeof(h) - 1, -EBADMSG);
	send_expect(fd, &h, sizeof(struct proto_hdr), -EBADMSG);
	memset(&a, 0, sizeof(a));
	wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
	a.npages = 1;
	a.count = 1;
	send_expect(fd, &a, sizeof(a) - 1, -EBADMSG);
	send_expect(fd, &a, sizeof(a) - 8, -EBADMSG);
	memset(&f, 0, sizeof(f));
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	f.count = 1;
	send_expect(fd, &f, proto_free_size(0) - 1, -EBADMSG);
	send_expect(fd, &f, proto_free_size(1) - 1, -EBADMSG);
	assert_works(fd);
	close(fd);
}
END_TEST

/* A datagram of no bytes is a malformed request, not the end. */
START_TEST(test_empty_datagram)
{
	int fd = wire_open(td.sock, "empty");
	uint64_t off = wire_alloc1(fd, 2);

	send_expect(fd, "", 0, -EBADMSG);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	close(fd);
}
END_TEST

START_TEST(test_oversized)
{
	static char big[65536];
	struct proto_alloc a;
	struct proto_hdr s;
	int fd = wire_open(td.sock, "oversized");
	static const size_t lens[] = {
		PROTO_REQUEST_MAX + 1, PROTO_REQUEST_MAX + 8,
		PROTO_REQUEST_MAX + 9, 4096, sizeof(big),
	};

	memset(&a, 0, sizeof(a));
	wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
	a.npages = 1;
	a.count = 1;
	memcpy(big, &a, sizeof(a));
	send_expect(fd, big, sizeof(a) + 1, -EBADMSG);
	wire_hdr(&s, PROTO_STATS);
	memcpy(big, &s, sizeof(s));
	send_expect(fd, big, sizeof(s) + 8, -EBADMSG);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct proto_free f;

		memset(&f, 0, sizeof(f));
		wire_hdr(&f.hdr, PROTO_SPAN_FREE);
		f.count = PROTO_MAX_BATCH;
		memcpy(big, &f, sizeof(f));
		send_expect(fd, big, lens[i], -EBADMSG);
	}
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_bad_magic_and_status)
{
	struct proto_hdr s;
	int fd = wire_open(td.sock, "magic");

	wire_hdr(&s, PROTO_STATS);
	s.magic = PROTO_MAGIC ^ 1;
	send_expect(fd, &s, sizeof(s), -EBADMSG);
	s.magic = 0x50485053;	/* byte-swapped */
	send_expect(fd, &s, sizeof(s), -EBADMSG);
	/* Requests carry status 0. */
	wire_hdr(&s, PROTO_STATS);
	s.status = -1;
	send_expect(fd, &s, sizeof(s), -EBADMSG);
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_unknown_type)
{
	static const uint16_t types[] = {
		0, PROTO_TYPE_MAX + 1, 0x7fff, PROTO_WELCOME,
		PROTO_SPAN_ALLOC | PROTO_REPLY, 0xffff,
	};
	struct proto_hdr s;
	int fd = wire_open(td.sock, "types");

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		wire_hdr(&s, types[i]);
		send_expect(fd, &s, sizeof(s), -EOPNOTSUPP);
	}
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_alloc_bad_count_and_flags)
{
	static const struct {
		uint32_t count, flags;
	} bad[] = {
		{ 0, 0 }, { PROTO_MAX_BATCH + 1, 0 }, { UINT32_MAX, 0 },
		{ 1, 0x2 }, { 1, PROTO_ALLOC_ZERO | 0x4 }, { 1, 0x80000000u },
	};
	struct wire_heap before, after;
	struct proto_alloc a;
	int fd = wire_open(td.sock, "alloc-bad");

	wire_heap(fd, &before);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0, sizeof(a));
		wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
		a.npages = 1;
		a.count = bad[i].count;
		a.flags = bad[i].flags;
		send_expect(fd, &a, sizeof(a), -EBADMSG);
	}
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_free_bad_length)
{
	struct wire_heap before, after;
	struct proto_free f;
	uint64_t off[2];
	int fd = wire_open(td.sock, "free-len");

	off[0] = wire_alloc1(fd, 1);
	off[1] = wire_alloc1(fd, 1);
	wire_heap(fd, &before);
	memset(&f, 0, sizeof(f));
	f.off[0] = off[0];
	f.off[1] = off[1];
	f.count = 2;
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	send_expect(fd, &f, proto_free_size(1), -EBADMSG);
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	send_expect(fd, &f, proto_free_size(3), -EBADMSG);
	f.count = 1;
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	send_expect(fd, &f, proto_free_size(2), -EBADMSG);
	f.count = 0;
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	send_expect(fd, &f, proto_free_size(0), -EBADMSG);
	f.count = 2;
	f.pad = 1;
	wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	send_expect(fd, &f, proto_free_size(2), -EBADMSG);
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
	ck_assert_int_eq(wire_free(fd, off, 2, NULL), 0);
	close(fd);
}
END_TEST

START_TEST(test_bare_request_with_body)
{
	char buf[64];
	struct proto_hdr s;
	int fd = wire_open(td.sock, "bare");

	memset(buf, 0, sizeof(buf));
	for (uint16_t type = PROTO_STATS; type <= PROTO_GC; type++) {
		wire_hdr(&s, type);
		memcpy(buf, &s, sizeof(s));
		send_expect(fd, buf, sizeof(s) + 8, -EBADMSG);
	}
	assert_works(fd);
	close(fd);
}
END_TEST

/* ---- fds ---- */

/*
 * Send a STATS carrying the write ends of @n pipes; the daemon must
 * answer -EBADMSG and close every one: the read ends then see EOF.
 */
static void send_pipes(int fd, unsigned int n)
{
	int rd[32], wr[32];
	struct proto_hdr s;
	char c;

	ck_assert_uint_le(n, 32);
	for (unsigned int i = 0; i < n; i++) {
		int p[2];

		ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}
	wire_hdr(&s, PROTO_STATS);
	wire_send_fds(fd, &s, sizeof(s), wr, n);
	for (unsigned int i = 0; i < n; i++)
		close(wr[i]);
	wire_expect_error(fd, PROTO_STATS, s.seq, -EBADMSG);
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_msg(read(rd[i], &c, 1) == 0,
			      "the daemon kept fd %u of %u", i, n);
		close(rd[i]);
	}
}

START_TEST(test_fd_with_request)
{
	int fd = wire_open(td.sock, "fds");
	unsigned int before, after;

	send_pipes(fd, 1);
	before = wire_fd_count(td.pid);
	for (int i = 0; i < 50; i++)
		send_pipes(fd, 1);
	after = wire_fd_count(td.pid);
	ck_assert_uint_le(after, before);
	assert_works(fd);
	close(fd);
}
END_TEST

/* More than the daemon's control buffer holds: cut off, none kept. */
START_TEST(test_many_fds_with_request)
{
	int fd = wire_open(td.sock, "many-fds");
	unsigned int before, after;

	before = wire_fd_count(td.pid);
	for (int i = 0; i < 10; i++) {
		send_pipes(fd, 9);
		send_pipes(fd, 32);
	}
	after = wire_fd_count(td.pid);
	ck_assert_uint_le(after, before);
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_fd_with_hello)
{
	struct proto_hello h;
	struct proto_hdr s;
	int fd = wire_connect(td.sock), p[2];
	char c;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
	wire_send_fds(fd, &h, sizeof(h), &p[1], 1);
	close(p[1]);
	wire_expect_error(fd, PROTO_HELLO, 0, -EBADMSG);
	ck_assert_int_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	wire_hdr(&s, PROTO_STATS);
	send_expect(fd, &s, sizeof(s), -EPROTO);
	ck_assert_int_eq(wire_hello(fd, "after-fd", NULL, NULL), 0);
	close(fd);
}
END_TEST

/* ---- alloc ---- */

struct span {
	uint64_t off, npages;
};

static bool spans_overlap(const struct span *a, const struct span *b)
{
	return a->off < b->off + b->npages * PG &&
	       b->off < a->off + a->npages * PG;
}

/* The spans are page-aligned, inside the arena and pairwise disjoint. */
static void assert_disjoint(const struct span *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(s[i].off % PG, 0);
		ck_assert_uint_le(s[i].off + s[i].npages * PG,
				  ARENA_PAGES * PG);
		for (size_t j = 0; j < i; j++)
			if (spans_overlap(&s[i], &s[j]))
				ck_abort_msg("span %#llx overlaps %#llx",
					     (unsigned long long)s[i].off,
					     (unsigned long long)s[j].off);
	}
}

/* @len bytes at @p read as zeros. */
static void assert_zero(const unsigned char *p, uint64_t len)
{
	for (uint64_t k = 0; k < len; k++)
		if (p[k])
			ck_abort_msg("byte %llu of %llu is %#x, not 0",
				     (unsigned long long)k,
				     (unsigned long long)len, p[k]);
}

START_TEST(test_alloc_spans_disjoint)
{
	static const uint64_t sizes[] = { 1, 2, 3, 17, 128, 129, 1000 };
	struct proto_alloc_reply rep;
	struct span s[7 * 8];
	uint64_t off[PROTO_MAX_BATCH], inuse0, pages = 0;
	size_t n = 0;
	int fd = wire_open(td.sock, "spans");

	inuse0 = wire_inuse(fd);
	for (size_t i = 0; i < 7; i++) {
		ck_assert_int_eq(wire_alloc(fd, sizes[i], 8, 0, &rep), 0);
		for (uint32_t k = 0; k < 8; k++) {
			s[n].off = rep.spans[k].off;
			s[n++].npages = rep.spans[k].npages;
			pages += sizes[i];
		}
	}
	assert_disjoint(s, n);
	ck_assert_uint_eq(wire_inuse(fd), inuse0 + pages * PG);
	for (size_t i = 0; i < n; i += 8) {
		for (size_t k = 0; k < 8; k++)
			off[k] = s[i + k].off;
		ck_assert_int_eq(wire_free(fd, off, 8, NULL), 0);
	}
	ck_assert_uint_eq(wire_inuse(fd), inuse0);
	close(fd);
}
END_TEST

START_TEST(test_alloc_bad_npages)
{
	static const uint64_t bad[] = {
		0, ARENA_PAGES + 1, UINT64_C(1) << 32, (UINT64_C(1) << 32) + 1,
		UINT64_MAX,
	};
	struct wire_heap before, after;
	struct proto_alloc_reply rep;
	int fd = wire_open(td.sock, "npages");

	wire_heap(fd, &before);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(wire_alloc(fd, bad[i], 1, 0, &rep), -EINVAL);
		ck_assert_int_eq(wire_alloc(fd, bad[i], PROTO_MAX_BATCH, 0,
					    &rep), -EINVAL);
	}
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
	/* The whole arena is one span's worth. */
	ck_assert_int_eq(wire_free1(fd, wire_alloc1(fd, ARENA_PAGES)), 0);
	close(fd);
}
END_TEST

START_TEST(test_alloc_batch_too_big)
{
	const char *args[] = { "--arena-size=4M", NULL };
	struct test_daemon t;
	struct proto_alloc_reply rep;
	struct wire_heap before, after;
	uint64_t held;
	int fd;

	test_daemon_start(&t, args);
	fd = wire_open(t.sock, "batch");
	wire_heap(fd, &before);
	/* 64 spans of 32 pages: twice the arena's 1024 pages. */
	ck_assert_int_eq(wire_alloc(fd, 32, PROTO_MAX_BATCH, 0, &rep),
			 -ENOMEM);
	wire_heap(fd, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_eq(after.sys, after.idle + after.inuse);

	/* Most of the batch fits: the spans it got are given back. */
	held = wire_alloc1(fd, 900);
	wire_heap(fd, &before);
	ck_assert_int_eq(wire_alloc(fd, 2, PROTO_MAX_BATCH, 0, &rep),
			 -ENOMEM);
	wire_heap(fd, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_eq(after.free_spans, before.free_spans);
	/* And exactly what is left can be had. */
	ck_assert_int_eq(wire_alloc(fd, 2, 62, 0, &rep), 0);
	ck_assert_int_eq(wire_alloc(fd, 1, 1, 0, &rep), -ENOMEM);
	ck_assert_int_eq(wire_free1(fd, held), 0);
	close(fd);
	test_daemon_stop(&t);
}
END_TEST

/* PROTO_ALLOC_ZERO: a span that held data reads as zeros. */
START_TEST(test_alloc_zero_flag)
{
	static const uint64_t sizes[] = { 1, 5, 16, 64 };
	struct proto_alloc_reply rep;
	int fd = wire_connect(td.sock), memfd;
	unsigned char *base;

	ck_assert_int_eq(wire_hello(fd, "zero", NULL, &memfd), 0);
	base = mmap(NULL, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t len = sizes[i] * PG, off = wire_alloc1(fd, sizes[i]);

		memset(base + off, 0xa5, len);
		ck_assert_int_eq(wire_free1(fd, off), 0);
		ck_assert_int_eq(wire_alloc(fd, sizes[i], 1, PROTO_ALLOC_ZERO,
					    &rep), 0);
		assert_zero(base + rep.spans[0].off, len);
		ck_assert_int_eq(wire_free1(fd, rep.spans[0].off), 0);
	}
	munmap(base, ARENA_PAGES * PG);
	close(memfd);
	close(fd);
}
END_TEST

/* ---- free ---- */

static void expect_free(int fd, const uint64_t *off, uint32_t count,
			int status, uint32_t bad)
{
	struct proto_free_reply rep;
	struct wire_heap before, after;

	wire_heap(fd, &before);
	ck_assert_int_eq(wire_free(fd, off, count, &rep), status);
	ck_assert_uint_eq(rep.count, 0);
	ck_assert_uint_eq(rep.bad, bad);
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
}

START_TEST(test_free_not_span_start)
{
	uint64_t off, bad;
	int fd = wire_open(td.sock, "not-start");

	off = wire_alloc1(fd, 4);
	bad = off + PG;
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = off + 1;
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = off + 4 * PG;	/* the free rest of the heap */
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = ARENA_PAGES * PG;
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = UINT64_MAX & ~(PG - 1);
	expect_free(fd, &bad, 1, -EINVAL, 0);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	close(fd);
}
END_TEST

START_TEST(test_free_double)
{
	uint64_t off;
	int fd = wire_open(td.sock, "double");

	off = wire_alloc1(fd, 2);
	wire_alloc1(fd, 2);	/* keeps the span from merging away */
	ck_assert_int_eq(wire_free1(fd, off), 0);
	expect_free(fd, &off, 1, -EINVAL, 0);
	close(fd);
}
END_TEST

START_TEST(test_free_other_connection)
{
	int fd1 = wire_open(td.sock, "owner");
	int fd2 = wire_open(td.sock, "thief");
	uint64_t off = wire_alloc1(fd1, 3);

	expect_free(fd2, &off, 1, -EPERM, 0);
	ck_assert_int_eq(wire_free1(fd1, off), 0);
	close(fd1);
	close(fd2);
}
END_TEST

START_TEST(test_free_batch_one_bad)
{
	int fd = wire_open(td.sock, "batch"), other = wire_open(td.sock, "x");
	struct proto_alloc_reply rep;
	uint64_t off[10], saved;

	ck_assert_int_eq(wire_alloc(fd, 2, 10, 0, &rep), 0);
	for (int i = 0; i < 10; i++)
		off[i] = rep.spans[i].off;

	saved = off[6];
	off[6] = saved + PG;
	expect_free(fd, off, 10, -EINVAL, 6);
	off[6] = saved;

	saved = off[0];
	off[0] = wire_alloc1(other, 1);
	expect_free(fd, off, 10, -EPERM, 0);
	off[0] = saved;

	saved = off[3];
	off[3] = off[1];
	expect_free(fd, off, 10, -EINVAL, 3);
	off[3] = saved;

	off[9] = off[8] + 2 * PG * 1000;
	expect_free(fd, off, 10, -EINVAL, 9);
	off[9] = rep.spans[9].off;

	ck_assert_int_eq(wire_free(fd, off, 10, NULL), 0);
	close(fd);
	close(other);
}
END_TEST

START_TEST(test_free_full_batch)
{
	struct proto_alloc_reply rep;
	uint64_t off[PROTO_MAX_BATCH], inuse;
	int fd = wire_open(td.sock, "full");

	inuse = wire_inuse(fd);
	ck_assert_int_eq(wire_alloc(fd, 1, PROTO_MAX_BATCH, 0, &rep), 0);
	for (int i = 0; i < PROTO_MAX_BATCH; i++)
		off[i] = rep.spans[PROTO_MAX_BATCH - 1 - i].off;
	ck_assert_uint_eq(wire_inuse(fd), inuse + PROTO_MAX_BATCH * PG);
	ck_assert_int_eq(wire_free(fd, off, PROTO_MAX_BATCH, NULL), 0);
	ck_assert_uint_eq(wire_inuse(fd), inuse);
	close(fd);
}
END_TEST

/* ---- lifetime ---- */

START_TEST(test_close_frees_spans)
{
	struct proto_alloc_reply rep;
	struct wire_heap before, during, after;
	int other = wire_open(td.sock, "watcher"), fd;

	wire_heap(other, &before);
	fd = wire_open(td.sock, "leaver");
	ck_assert_int_eq(wire_alloc(fd, 3, PROTO_MAX_BATCH, 0, &rep), 0);
	wire_alloc1(fd, 1000);
	wire_alloc1(fd, 1);
	wire_heap(other, &during);
	ck_assert_uint_eq(during.inuse,
			  before.inuse + (3 * PROTO_MAX_BATCH + 1001) * PG);
	ck_assert_uint_eq(during.objects, before.objects + PROTO_MAX_BATCH + 2);
	close(fd);
	/*
	 * The close is seen in the daemon's next loop turn; a STATS sent
	 * now may still be read first, so ask again for up to a second.
	 */
	for (int i = 0; i < 100; i++) {
		wire_heap(other, &after);
		if (after.inuse == before.inuse)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	close(other);
}
END_TEST

/*
 * A client process that exits while a child keeps its socket open: GC
 * frees its spans (docs/memstats.md), and says how many.
 */
START_TEST(test_gc_frees_departed_process)
{
	struct wire_heap before, after;
	int other = wire_open(td.sock, "gc"), sync[2], status;
	pid_t pid;
	char c;

	wire_heap(other, &before);
	ck_assert_int_eq(pipe(sync), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct proto_alloc_reply rep;
		int fd = wire_open(td.sock, "departing");

		if (wire_alloc(fd, 5, 7, 0, &rep) != 0)
			_exit(1);
		/* A grandchild keeps the socket until the test ends. */
		if (fork() == 0) {
			close(sync[1]);
			(void)!read(sync[0], &c, 1);
			_exit(0);
		}
		_exit(0);
	}
	close(sync[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	wire_heap(other, &after);
	ck_assert_uint_eq(after.inuse, before.inuse + 35 * PG);

	ck_assert_uint_eq(wire_gc(other).freed_spans, 7);
	wire_heap(other, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	close(sync[1]);
	close(other);
}
END_TEST

/* ---- stats ---- */

static void assert_identities(json_t *j)
{
	uint64_t sys = wire_json_u64(j, "heap_sys");
	uint64_t idle = wire_json_u64(j, "heap_idle");
	uint64_t inuse = wire_json_u64(j, "heap_inuse");
	uint64_t released = wire_json_u64(j, "heap_released");

	ck_assert_uint_eq(sys, idle + inuse);
	ck_assert_uint_le(released, idle);
	ck_assert_uint_eq(wire_json_u64(j, "consumed"), sys - released);
	ck_assert_uint_le(sys, wire_json_u64(j, "arena_size"));
}

START_TEST(test_stats_identities_and_client)
{
	struct proto_welcome w;
	struct proto_alloc_reply rep;
	int fd = wire_connect(td.sock);
	json_t *j, *c;
	uint64_t off;

	ck_assert_int_eq(wire_hello(fd, "stats-client", &w, NULL), 0);
	j = wire_stats(fd);
	assert_identities(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "version")),
			 SPANHEAPD_VERSION);
	ck_assert_uint_eq(wire_json_u64(j, "page_size"), PG);
	ck_assert_uint_eq(wire_json_u64(j, "arena_size"), ARENA_PAGES * PG);
	json_decref(j);

	ck_assert_int_eq(wire_alloc(fd, 7, 3, 0, &rep), 0);
	off = wire_alloc1(fd, 100);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	j = wire_stats(fd);
	assert_identities(j);
	ck_assert_uint_eq(wire_json_u64(j, "heap_inuse"), 21 * PG);
	ck_assert_uint_eq(wire_json_u64(j, "heap_objects"), 3);
	c = find_client(j, w.client_id);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(json_string_value(json_object_get(c, "name")),
			 "stats-client");
	ck_assert_uint_eq(wire_json_u64(c, "pid"), (uint64_t)getpid());
	ck_assert_uint_eq(wire_json_u64(c, "uid"), (uint64_t)getuid());
	ck_assert_uint_eq(wire_json_u64(c, "gid"), (uint64_t)getgid());
	ck_assert_uint_eq(wire_json_u64(c, "spans"), 3);
	ck_assert_uint_eq(wire_json_u64(c, "bytes"), 21 * PG);
	/* HELLO, STATS, ALLOC, ALLOC, FREE, STATS. */
	ck_assert_uint_eq(wire_json_u64(c, "requests"), 6);
	ck_assert_uint_eq(wire_json_u64(json_object_get(j, "clients"),
					"count"), 1);
	json_decref(j);
	close(fd);
}
END_TEST

/* A STATS too big for one reply comes in chunks that make one object. */
START_TEST(test_stats_chunks)
{
	enum { N = 150 };
	char name[PROTO_NAME_MAX];
	unsigned int chunks;
	int fd[N];
	json_t *j;

	memset(name, 'c', sizeof(name));
	for (int i = 0; i < N; i++)
		fd[i] = wire_open(td.sock, name);
	j = wire_stats_recv(fd[0], wire_stats_send(fd[0]), &chunks);
	ck_assert_uint_ge(chunks, 2);
	ck_assert_uint_eq(wire_json_u64(json_object_get(j, "clients"),
					"count"), N);
	ck_assert_uint_eq(json_array_size(json_object_get(
				  json_object_get(j, "clients"), "list")), N);
	assert_identities(j);
	json_decref(j);
	for (int i = 0; i < N; i++)
		close(fd[i]);
}
END_TEST

START_TEST(test_scavenge_releases)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	int fd = wire_connect(td.sock), memfd;
	struct proto_hdr h;
	unsigned char *base;
	uint64_t off;
	json_t *j;

	ck_assert_int_eq(wire_hello(fd, "scavenge", NULL, &memfd), 0);
	base = mmap(NULL, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	off = wire_alloc1(fd, 1000);
	memset(base + off, 1, 1000 * PG);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	j = wire_stats(fd);
	ck_assert_uint_ge(wire_json_u64(j, "arena_resident"), 1000 * PG);
	ck_assert_uint_le(wire_json_u64(j, "heap_released") + 1000 * PG,
			  wire_json_u64(j, "heap_idle"));
	json_decref(j);

	wire_hdr(&h, PROTO_SCAVENGE);
	wire_send(fd, &h, sizeof(h));
	ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, h.seq, u.buf,
				    sizeof(u.buf), NULL), 0);
	ck_assert_uint_ge(u.rep.released, 1000 * PG);
	j = wire_stats(fd);
	assert_identities(j);
	ck_assert_uint_eq(wire_json_u64(j, "heap_released"),
			  wire_json_u64(j, "heap_idle"));
	ck_assert_uint_lt(wire_json_u64(j, "arena_resident"), 1000 * PG);
	json_decref(j);
	/* The released pages read as zeros. */
	for (uint64_t k = 0; k < 1000 * PG; k += 512)
		if (base[off + k])
			ck_abort_msg("released byte %llu is not zero",
				     (unsigned long long)k);
	munmap(base, ARENA_PAGES * PG);
	close(memfd);
	close(fd);
}
END_TEST

START_TEST(test_gc_reply)
{
	int fd = wire_open(td.sock, "gc");
	struct proto_gc_reply rep;
	json_t *j;

	wire_alloc1(fd, 3);
	rep = wire_gc(fd);
	ck_assert_uint_eq(rep.freed_spans, 0);
	ck_assert_uint_gt(rep.pause_ns, 0);
	j = wire_stats(fd);
	ck_assert_uint_ge(wire_json_u64(j, "num_gc"), 1);
	ck_assert_uint_ge(wire_json_u64(j, "pause_total_ns"), rep.pause_ns);
	ck_assert_uint_eq(wire_json_u64(j, "heap_inuse"), 3 * PG);
	json_decref(j);
	close(fd);
}
END_TEST

/* ---- scavenge ---- */

/* Send a bare request of @type; returns its seq. */
static uint32_t send_bare(int fd, uint16_t type)
{
	struct proto_hdr h;
	uint32_t seq = wire_hdr(&h, type);

	wire_send(fd, &h, sizeof(h));
	return seq;
}

/* Replies come in the order of the requests, SCAVENGE's too. */
START_TEST(test_scavenge_pipelined)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct proto_alloc a;
	uint32_t s1, s2, s3, s4;
	int fd = wire_open(td.sock, "pipeline");
	json_t *j;

	ck_assert_int_eq(wire_free1(fd, wire_alloc1(fd, 500)), 0);
	s1 = send_bare(fd, PROTO_SCAVENGE);
	s2 = send_bare(fd, PROTO_STATS);
	memset(&a, 0, sizeof(a));
	s3 = wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
	a.npages = 1;
	a.count = 1;
	wire_send(fd, &a, sizeof(a));
	s4 = send_bare(fd, PROTO_SCAVENGE);
	ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, s1, u.buf,
				    sizeof(u.buf), NULL), 0);
	j = wire_stats_recv(fd, s2, NULL);
	assert_identities(j);
	/* The first SCAVENGE was answered after its pass. */
	ck_assert_uint_eq(wire_json_u64(j, "heap_released"),
			  wire_json_u64(j, "heap_idle"));
	json_decref(j);
	ck_assert_int_eq(wire_reply(fd, PROTO_SPAN_ALLOC, s3, u.buf,
				    sizeof(u.buf), NULL), 0);
	ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, s4, u.buf,
				    sizeof(u.buf), NULL), 0);
	assert_works(fd);
	close(fd);
}
END_TEST

/* A client busy while a SCAVENGE runs, with the spans it holds. */
struct busy {
	int fd;
	struct span live[64];
	size_t n;
	uint64_t rng;
	const unsigned char *base;	/* the arena, mapped */
};

/*
 * One step of the busy client: free a span or take a zeroed one, then
 * check a STATS snapshot.
 */
static void busy_step(struct busy *b)
{
	struct proto_alloc_reply rep;
	uint64_t np = 1 + test_rand(&b->rng) % 64;
	json_t *j;

	if (b->n == 64 || (b->n && test_rand(&b->rng) % 2)) {
		size_t i = test_rand(&b->rng) % b->n;

		ck_assert_int_eq(wire_free1(b->fd, b->live[i].off), 0);
		b->live[i] = b->live[--b->n];
	} else if (wire_alloc(b->fd, np, 1, PROTO_ALLOC_ZERO, &rep) == 0) {
		b->live[b->n].off = rep.spans[0].off;
		b->live[b->n++].npages = np;
		assert_disjoint(b->live, b->n);
		assert_zero(b->base + rep.spans[0].off, np * PG);
	}
	j = wire_stats(b->fd);
	assert_identities(j);
	json_decref(j);
}

/*
 * SCAVENGE runs on the daemon's scavenger thread while other clients
 * allocate and free: every STATS snapshot keeps the identities, spans
 * never overlap, zeroed spans read as zeros, and the daemon's own
 * heap_check() (a GC pass) passes at the end.
 */
START_TEST(test_scavenge_concurrent)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	static struct busy b;
	int a = wire_connect(td.sock), memfd;
	unsigned char *base;

	ck_assert_int_eq(wire_hello(a, "scavenger", NULL, &memfd), 0);
	base = mmap(NULL, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	memset(&b, 0, sizeof(b));
	b.fd = wire_open(td.sock, "busy");
	b.rng = test_seed("dispatch scavenge concurrent");
	b.base = base;
	for (int round = 0; round < 20; round++) {
		uint64_t off = wire_alloc1(a, 2048);
		uint32_t seq;

		/* Dirty pages, so that the pass has work to do. */
		memset(base + off, 0x5a, 2048 * PG);
		ck_assert_int_eq(wire_free1(a, off), 0);
		seq = send_bare(a, PROTO_SCAVENGE);
		for (int k = 0; k < 20; k++)
			busy_step(&b);
		ck_assert_int_eq(wire_reply(a, PROTO_SCAVENGE, seq, u.buf,
					    sizeof(u.buf), NULL), 0);
	}
	wire_gc(b.fd);
	munmap(base, ARENA_PAGES * PG);
	close(memfd);
	close(a);
	close(b.fd);
}
END_TEST

/* A client gone while its SCAVENGE runs: its spans go, the daemon stays. */
START_TEST(test_scavenge_then_close)
{
	struct wire_heap before, after;
	int other = wire_open(td.sock, "stays"), fd;

	wire_heap(other, &before);
	for (int i = 0; i < 10; i++) {
		fd = wire_open(td.sock, "leaves");
		wire_alloc1(fd, 100);
		ck_assert_int_eq(wire_free1(fd, wire_alloc1(fd, 1000)), 0);
		send_bare(fd, PROTO_SCAVENGE);
		close(fd);
	}
	for (int i = 0; i < 100; i++) {
		wire_heap(other, &after);
		if (after.inuse == before.inuse)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	assert_works(other);
	close(other);
}
END_TEST

/* ---- robustness ---- */

#define MAX_LIVE 4096

/* The live spans of one connection. */
struct live {
	struct span s[MAX_LIVE];
	size_t n;
};

/*
 * The random test: one connection sends junk and mangled requests, the
 * other behaves; both hold spans, so junk frees can hit either's.
 */
struct rnd {
	uint64_t rng;
	int bad, good;
	struct live junk, fine;		/* spans of bad and of good */
	unsigned int reconnects, served;
};

/* The reply to any request the random test sends. */
union rnd_reply {
	struct proto_hdr hdr;
	struct proto_alloc_reply alloc;
	struct proto_free_reply free;
	struct proto_stats_reply stats;
	char buf[PROTO_REPLY_MAX];
};

static bool live_has(const struct live *l, uint64_t off)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].off == off)
			return true;
	return false;
}

static void live_del(struct live *l, uint64_t off)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].off == off) {
			l->s[i] = l->s[--l->n];
			return;
		}
	ck_abort_msg("span %#llx is not live", (unsigned long long)off);
}

/* Add @s to @l after checking it is sane and overlaps nothing live. */
static void live_add(struct rnd *r, struct live *l, struct span s)
{
	const struct live *both[2] = { &r->junk, &r->fine };

	if (s.off % PG || s.npages == 0 ||
	    s.off + s.npages * PG > ARENA_PAGES * PG)
		ck_abort_msg("bad span %#llx+%llu", (unsigned long long)s.off,
			     (unsigned long long)s.npages);
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < both[k]->n; i++)
			if (spans_overlap(&s, &both[k]->s[i]))
				ck_abort_msg("span %#llx overlaps another",
					     (unsigned long long)s.off);
	if (l->n == MAX_LIVE)
		ck_abort_msg("too many live spans");
	l->s[l->n++] = s;
}

/*
 * The status that a valid SPAN_FREE from the junk connection must get,
 * and the index it must name, as the protocol defines them.
 */
static int free_expect(const struct rnd *r, const struct proto_free *f,
		       uint32_t *ret_bad)
{
	for (uint32_t i = 0; i < f->count; i++) {
		int st = 0;

		if (live_has(&r->fine, f->off[i]))
			st = -EPERM;
		else if (!live_has(&r->junk, f->off[i]))
			st = -EINVAL;
		for (uint32_t j = 0; st == 0 && j < i; j++)
			if (f->off[j] == f->off[i])
				st = -EINVAL;
		if (st) {
			*ret_bad = i;
			return st;
		}
	}
	return 0;
}

static void fill_random(void *buf, size_t len, uint64_t *rng)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)test_rand(rng);
}

/* A valid request of a random type into @buf (zeroed); its length. */
static size_t random_request(unsigned char *buf, struct rnd *r)
{
	uint32_t seq = (uint32_t)test_rand(&r->rng);
	struct proto_hello hello;
	struct proto_alloc a;
	struct proto_free f;
	struct proto_hdr h;

	switch (test_rand(&r->rng) % 4) {
	case 0:
		memset(&a, 0, sizeof(a));
		proto_hdr_init(&a.hdr, PROTO_SPAN_ALLOC, seq);
		a.npages = 1 + test_rand(&r->rng) % 40;
		a.count = 1 + (uint32_t)(test_rand(&r->rng) % 4);
		a.flags = (uint32_t)(test_rand(&r->rng) % 2);
		memcpy(buf, &a, sizeof(a));
		return sizeof(a);
	case 1:
		memset(&f, 0, sizeof(f));
		proto_hdr_init(&f.hdr, PROTO_SPAN_FREE, seq);
		f.count = 1 + (uint32_t)(test_rand(&r->rng) % 3);
		for (uint32_t i = 0; i < f.count; i++) {
			const struct live *l = test_rand(&r->rng) % 4 ?
						       &r->junk : &r->fine;

			f.off[i] = l->n ? l->s[test_rand(&r->rng) % l->n].off :
					  test_rand(&r->rng) % ARENA_PAGES * PG;
		}
		memcpy(buf, &f, proto_free_size(f.count));
		return proto_free_size(f.count);
	case 2:
		memset(&hello, 0, sizeof(hello));
		proto_hdr_init(&hello.hdr, PROTO_HELLO, seq);
		fill_random(hello.name, sizeof(hello.name), &r->rng);
		memcpy(buf, &hello, sizeof(hello));
		return sizeof(hello);
	default:
		proto_hdr_init(&h, (uint16_t)(PROTO_STATS +
					      test_rand(&r->rng) % 3), seq);
		memcpy(buf, &h, sizeof(h));
		return sizeof(h);
	}
}

/*
 * One random datagram into @buf; returns its length.  A third are
 * random bytes, a third a valid header with a random body, a third a
 * valid request, half of those with bytes changed or the length nudged.
 */
static size_t random_datagram(unsigned char *buf, size_t size, struct rnd *r)
{
	uint64_t *rng = &r->rng;
	struct proto_hdr h;
	size_t len;

	switch (test_rand(rng) % 3) {
	case 0:
		len = 1 + test_rand(rng) % 700;
		fill_random(buf, len, rng);
		return len;
	case 1:
		len = sizeof(h) + test_rand(rng) % (700 - sizeof(h));
		fill_random(buf, len, rng);
		proto_hdr_init(&h, (uint16_t)(test_rand(rng) % 8),
			       (uint32_t)test_rand(rng));
		memcpy(buf, &h, sizeof(h));
		return len;
	}
	memset(buf, 0, size);
	len = random_request(buf, r);
	switch (test_rand(rng) % 6) {
	case 0:
		for (int k = 0; k < 3; k++) {
			size_t at = test_rand(rng) % len;

			buf[at] = (unsigned char)test_rand(rng);
		}
		break;
	case 1:
		len -= 1 + test_rand(rng) % (len - 1) / 2;
		break;
	case 2:
		len += 1 + test_rand(rng) % 16;
		break;
	}
	return len;
}

/*
 * The reply @u (status @st) to the valid request @buf of datagram @i
 * must be what the protocol promises; the live spans follow it.
 */
static void check_valid(struct rnd *r, int i, const unsigned char *buf,
			size_t len, int st, const union rnd_reply *u)
{
	struct proto_alloc a;
	struct proto_free f;
	uint32_t bad = 0;
	int want;

	switch (u->hdr.type & (uint16_t)~PROTO_REPLY) {
	case PROTO_HELLO:
		if (st != -EISCONN)
			ck_abort_msg("datagram %d: HELLO got %d", i, st);
		return;
	case PROTO_SPAN_ALLOC:
		memcpy(&a, buf, sizeof(a));
		want = a.npages && a.npages <= ARENA_PAGES ? 0 : -EINVAL;
		if (st != want && !(want == 0 && st == -ENOMEM))
			ck_abort_msg("datagram %d: ALLOC of %llu pages got %d",
				     i, (unsigned long long)a.npages, st);
		for (uint32_t k = 0; st == 0 && k < u->alloc.count; k++)
			live_add(r, &r->junk,
				 (struct span){ u->alloc.spans[k].off,
						u->alloc.spans[k].npages });
		return;
	case PROTO_SPAN_FREE:
		memset(&f, 0, sizeof(f));
		memcpy(&f, buf, len);
		want = free_expect(r, &f, &bad);
		if (st != want || (st && u->free.bad != bad))
			ck_abort_msg("datagram %d: FREE got %d at %u, "
				     "want %d at %u", i, st, u->free.bad, want,
				     bad);
		for (uint32_t k = 0; st == 0 && k < f.count; k++)
			live_del(&r->junk, f.off[k]);
		return;
	default:
		if (st)
			ck_abort_msg("datagram %d: %s got %d", i,
				     proto_type_name(u->hdr.type), st);
	}
}

/* Datagram @i from the junk connection, and its reply. */
static void junk_step(struct rnd *r, int i)
{
	static unsigned char buf[PROTO_REQUEST_MAX + 256];
	static union rnd_reply u;
	size_t len = random_datagram(buf, sizeof(buf), r);
	int check = len > PROTO_REQUEST_MAX ? -EBADMSG :
					      proto_check_request(buf, len);
	struct proto_hdr h;
	int st;

	memset(&h, 0, sizeof(h));
	if (len >= sizeof(h))
		memcpy(&h, buf, sizeof(h));
	h.type &= (uint16_t)~PROTO_REPLY;
	wire_send(r->bad, buf, len);
	do
		st = wire_reply(r->bad, h.type, h.seq, u.buf, sizeof(u.buf),
				NULL);
	while (check == 0 && st == 0 && h.type == PROTO_STATS &&
	       u.stats.flags & PROTO_MORE);
	if (check == 0) {
		check_valid(r, i, buf, len, st, &u);
		return;
	}
	if (st != check)
		ck_abort_msg("datagram %d (%zu bytes, %s): status %d, want %d",
			     i, len, proto_type_name(h.type), st, check);
	if (check == -EPROTONOSUPPORT) {
		/* That one ends the connection, and frees its spans. */
		ck_assert(wire_closed(r->bad));
		close(r->bad);
		r->junk.n = 0;
		r->bad = wire_open(td.sock, "random");
		r->reconnects++;
	}
}

/* Meanwhile the good connection allocates and frees, and must not fail. */
static void good_step(struct rnd *r, int i)
{
	struct proto_alloc_reply rep;
	uint64_t off[16];
	uint32_t count;

	if (i % 4 == 0) {
		count = 1 + (uint32_t)(test_rand(&r->rng) % 4);
		ck_assert_int_eq(wire_alloc(r->good,
					    1 + test_rand(&r->rng) % 32,
					    count, 0, &rep), 0);
		for (uint32_t k = 0; k < count; k++)
			live_add(r, &r->fine,
				 (struct span){ rep.spans[k].off,
						rep.spans[k].npages });
	} else if (i % 4 == 2 && r->fine.n) {
		/* One at random, or 16 at once when that many pile up. */
		if (r->fine.n >= 16) {
			count = 16;
			for (uint32_t k = 0; k < count; k++)
				off[k] = r->fine.s[k].off;
		} else {
			count = 1;
			off[0] = r->fine.s[test_rand(&r->rng) % r->fine.n].off;
		}
		ck_assert_int_eq(wire_free(r->good, off, count, NULL), 0);
		for (uint32_t k = 0; k < count; k++)
			live_del(&r->fine, off[k]);
	} else {
		return;
	}
	r->served++;
}

START_TEST(test_random_datagrams)
{
	static struct rnd r;
	uint64_t pages = 0;
	json_t *j;

	memset(&r, 0, sizeof(r));
	r.rng = test_seed("dispatch random datagrams");
	r.bad = wire_open(td.sock, "random");
	r.good = wire_open(td.sock, "good");
	for (int i = 0; i < 2000; i++) {
		junk_step(&r, i);
		good_step(&r, i);
	}
	/* A GC pass runs the daemon's own heap_check(). */
	wire_gc(r.good);
	j = wire_stats(r.good);
	assert_identities(j);
	for (size_t k = 0; k < r.junk.n; k++)
		pages += r.junk.s[k].npages;
	for (size_t k = 0; k < r.fine.n; k++)
		pages += r.fine.s[k].npages;
	ck_assert_uint_eq(wire_json_u64(j, "heap_inuse"), pages * PG);
	ck_assert_uint_eq(wire_json_u64(j, "heap_objects"),
			  r.junk.n + r.fine.n);
	json_decref(j);
	ck_assert_int_eq(kill(td.pid, 0), 0);
	fprintf(stderr, "random datagrams: %u reconnects, %u good requests, "
		"%zu junk spans live\n", r.reconnects, r.served, r.junk.n);
	close(r.bad);
	close(r.good);
}
END_TEST

/*
 * A client that sends STATS after STATS and never reads: the daemon
 * stops reading it instead of queueing replies, so its memory stays put
 * and everyone else is served; the client later gets every reply, in
 * order.
 */
START_TEST(test_stats_flood_bounded)
{
	int flood = wire_open(td.sock, "flood"), other;
	const uint32_t first = 0x100000;	/* seqs of our own */
	uint64_t rss0, rss1;
	struct proto_hdr h;
	int sent = 0;
	json_t *j;

	other = wire_open(td.sock, "other");
	for (int i = 0; i < 20; i++)
		json_decref(wire_stats(flood));
	rss0 = wire_rss_kib(td.pid);
	while (sent < 10000) {
		struct pollfd p = { .fd = flood, .events = POLLOUT };

		proto_hdr_init(&h, PROTO_STATS, first + (uint32_t)sent);
		if (send(flood, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    (ssize_t)sizeof(h)) {
			sent++;
			continue;
		}
		ck_assert_int_eq(errno, EAGAIN);
		if (poll(&p, 1, 300) == 0)
			break;	/* the daemon stopped reading us */
	}
	ck_assert_msg(sent < 10000, "the daemon took 10000 requests unread");
	rss1 = wire_rss_kib(td.pid);
	ck_assert_msg(rss1 < rss0 + 4096, "RSS grew from %llu to %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1);

	/* Others are served meanwhile. */
	j = wire_stats(other);
	assert_identities(j);
	json_decref(j);
	assert_works(other);

	/* Every request got its reply, in order. */
	for (int i = 0; i < sent; i++) {
		j = wire_stats_recv(flood, first + (uint32_t)i, NULL);
		json_decref(j);
	}
	assert_works(flood);
	fprintf(stderr, "stats flood: %d requests before the daemon stopped "
		"reading; RSS %llu -> %llu KiB\n", sent,
		(unsigned long long)rss0, (unsigned long long)rss1);
	close(flood);
	close(other);
}
END_TEST

static Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc;

	tc = tcase_create("handshake");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_before_hello);
	tcase_add_test(tc, test_second_hello);
	tcase_add_test(tc, test_wrong_version_closes);
	tcase_add_test(tc, test_hello_bad_fields);
	tcase_add_test(tc, test_hello_name_sanitized);
	tcase_add_test(tc, test_hello_name_not_utf8);
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_empty_datagram);
	tcase_add_test(tc, test_oversized);
	tcase_add_test(tc, test_bad_magic_and_status);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_alloc_bad_count_and_flags);
	tcase_add_test(tc, test_free_bad_length);
	tcase_add_test(tc, test_bare_request_with_body);
	suite_add_tcase(s, tc);

	tc = tcase_create("fds");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fd_with_request);
	tcase_add_test(tc, test_many_fds_with_request);
	tcase_add_test(tc, test_fd_with_hello);
	suite_add_tcase(s, tc);

	tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_alloc_spans_disjoint);
	tcase_add_test(tc, test_alloc_bad_npages);
	tcase_add_test(tc, test_alloc_batch_too_big);
	tcase_add_test(tc, test_alloc_zero_flag);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_free_not_span_start);
	tcase_add_test(tc, test_free_double);
	tcase_add_test(tc, test_free_other_connection);
	tcase_add_test(tc, test_free_batch_one_bad);
	tcase_add_test(tc, test_free_full_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close_frees_spans);
	tcase_add_test(tc, test_gc_frees_departed_process);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stats_identities_and_client);
	tcase_add_test(tc, test_stats_chunks);
	tcase_add_test(tc, test_scavenge_releases);
	tcase_add_test(tc, test_gc_reply);
	suite_add_tcase(s, tc);

	tc = tcase_create("scavenge");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scavenge_pipelined);
	tcase_add_test(tc, test_scavenge_concurrent);
	tcase_add_test(tc, test_scavenge_then_close);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_random_datagrams);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("flow_control");
	tcase_add_checked_fixture(tc, setup_no_quarantine, teardown);
	tcase_add_test(tc, test_stats_flood_bounded);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(dispatch_suite)
