// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/dispatch.c against the real spanheapd over raw sockets:
 * what it promises about bad input.  Every malformed or refused request
 * gets a reply with the status proto/proto.h names, changes nothing (the
 * heap's STATS figures are compared before and after) and leaves the
 * connection working; file descriptors sent to the daemon are closed.
 *
 * The requests that do work are tested in test_dispatch_requests.c;
 * random input, concurrency and flow control in test_dispatch_robust.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/dispatch_fixture.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

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
	h.flags = PROTO_HELLO_FLAGS + 1;	/* no such flag */
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
	f.flags = 0x2;	/* no such flag */
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
	return s;
}

TEST_MAIN(dispatch_suite)
