// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/client.c, in process: a struct daemon with a small
 * arena and heap but no listening socket, and clients accepted on one
 * end of socketpairs.  Client ids and their heap owner ids (each unique
 * among live clients, never 0 nor the scavenger's), the reply queue
 * that keeps order when the socket is full, and the receive path, which
 * must close every file descriptor a client passes whatever the datagram
 * and however the connection ends; that last also against the real
 * spanheapd in tests/e2e/test_client.c.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "shm/arena.h"
#include "shm/heap.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

#define ARENA (UINT64_C(4) << 20)

static struct daemon d;

static void setup(void)
{
	uint32_t owners = DEFAULT_MAX_CLIENTS + DAEMON_OWNERS_SPARE;
	struct heap_config cfg = { .arena_size = ARENA, .max_owners = owners };
	struct heap_ops ops;
	uint64_t meta;

	memset(&d, 0, sizeof(d));
	d.opt.max_clients = DEFAULT_MAX_CLIENTS;
	core_init(&d.core);
	d.base = event_base_new();
	ck_assert_ptr_nonnull(d.base);
	ck_assert_int_eq(arena_create(ARENA, "test-arena", &d.arena), 0);
	ck_assert_int_eq(heap_layout_size(&cfg, &meta), 0);
	ck_assert_int_eq(arena_create(meta, "test-meta", &d.meta), 0);
	arena_heap_ops(d.arena, d.meta, &ops);
	ck_assert_int_eq(heap_format(d.meta->base, d.meta->size, &cfg, &ops,
				     &d.core.heap),
			 0);
	daemon_compose(&d);
	d.clients.control_interval_ns = 0;
	d.clients.progress_interval_ns = 0;
}

static void teardown(void)
{
	daemon_decompose(&d);
	heap_detach(d.core.heap);
	arena_destroy(d.meta);
	arena_destroy(d.arena);
	event_base_free(d.base);
	core_fini(&d.core);
}

/* Accept a client on a new socketpair; its peer end goes to @ret_peer. */
static struct client *accept_one(int *ret_peer)
{
	struct client *c;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
					     SOCK_CLOEXEC, 0, sv), 0);
	client_accept(&d.clients, sv[0]);
	TAILQ_FOREACH(c, &d.clients.list, link)
		if (c->fd == sv[0])
			break;
	ck_assert_ptr_nonnull(c);
	*ret_peer = sv[1];
	return c;
}

/*
 * Every live client's id and owner id are non-zero, not the scavenger's,
 * and unique.
 */
static void assert_ids_ok(void)
{
	struct client *c, *o;

	TAILQ_FOREACH(c, &d.clients.list, link) {
		ck_assert_uint_ne(c->id, 0);
		ck_assert_msg(c->id != HEAP_OWNER_SCAV,
			      "a client got the scavenger's owner id %u",
			      c->id);
		ck_assert_uint_ne(c->owner, 0);
		ck_assert_uint_ne(c->owner, HEAP_OWNER_SCAV);
		for (o = TAILQ_NEXT(c, link); o; o = TAILQ_NEXT(o, link)) {
			ck_assert_msg(o->id != c->id,
				      "two live clients with id %u", c->id);
			ck_assert_msg(o->owner != c->owner,
				      "two live clients with owner %u",
				      c->owner);
		}
	}
}

/* ---- accept ---- */

START_TEST(test_ids_differ)
{
	int peer[8];

	for (int i = 0; i < 8; i++)
		accept_one(&peer[i]);
	ck_assert_uint_eq(d.clients.count, 8);
	assert_ids_ok();
	for (int i = 0; i < 8; i++)
		close(peer[i]);
}
END_TEST

/* 2^32 connections later, the counter wraps: ids stay valid. */
START_TEST(test_ids_across_wrap)
{
	int peer[6];

	d.clients.next_id = UINT32_MAX - 2;
	for (int i = 0; i < 6; i++) {
		accept_one(&peer[i]);
		assert_ids_ok();
	}
	for (int i = 0; i < 6; i++)
		close(peer[i]);
}
END_TEST

/*
 * After a wrap the counter meets clients that never left: their ids
 * must not be handed out again, or one could free the other's spans.
 */
START_TEST(test_ids_skip_live_after_wrap)
{
	struct heap_span s;
	struct client *a, *b;
	int pa, pb;

	a = accept_one(&pa);
	daemon_heap_lock(&d.core);
	ck_assert_int_eq(heap_alloc(d.core.heap, 1, 0, a->owner, 0, &s), 0);
	daemon_heap_unlock(&d.core);
	d.clients.next_id = a->id;	/* as if it had wrapped */
	b = accept_one(&pb);
	assert_ids_ok();
	daemon_heap_lock(&d.core);
	ck_assert_int_eq(heap_free(d.core.heap, s.off, b->owner, 0), -EPERM);
	daemon_heap_unlock(&d.core);
	close(pa);
	close(pb);
}
END_TEST

START_TEST(test_destroy_frees_spans)
{
	struct heap_stats hs;
	struct heap_span s;
	struct client *c;
	int peer;

	c = accept_one(&peer);
	daemon_heap_lock(&d.core);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(heap_alloc(d.core.heap, 3, 0, c->owner, 0, &s),
				 0);
	daemon_heap_unlock(&d.core);
	client_destroy(c);
	ck_assert_uint_eq(d.clients.count, 0);
	daemon_heap_lock(&d.core);
	heap_stats(d.core.heap, &hs);
	heap_check(d.core.heap);
	daemon_heap_unlock(&d.core);
	ck_assert_uint_eq(hs.inuse, 0);
	ck_assert_uint_eq(hs.objects, 0);
	close(peer);
}
END_TEST

/* ---- send ---- */

/*
 * Replies the socket cannot take wait in order, reading stops meanwhile,
 * and the loop sends them all once the peer reads.
 */
START_TEST(test_send_queues_in_order)
{
	struct proto_hdr hdr, got;
	struct client *c;
	uint32_t sent = 0, next = 0;
	int peer;

	c = accept_one(&peer);
	while (STAILQ_EMPTY(&c->outq)) {
		proto_hdr_init(&hdr, PROTO_STATS | PROTO_REPLY, sent++);
		ck_assert_int_eq(client_send(c, &hdr, sizeof(hdr)), 0);
		ck_assert_uint_lt(sent, 100000);
	}
	for (int i = 0; i < 10; i++, sent++) {
		proto_hdr_init(&hdr, PROTO_STATS | PROTO_REPLY, sent);
		ck_assert_int_eq(client_send(c, &hdr, sizeof(hdr)), 0);
	}
	ck_assert(!event_pending(c->ev_read, EV_READ, NULL));
	ck_assert(event_pending(c->ev_write, EV_WRITE, NULL));
	while (next < sent) {
		ssize_t n = recv(peer, &got, sizeof(got), MSG_DONTWAIT);

		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert_int_eq(event_base_loop(d.base,
							 EVLOOP_ONCE), 0);
			continue;
		}
		ck_assert_int_eq(n, sizeof(got));
		ck_assert_uint_eq(got.seq, next);
		next++;
	}
	event_base_loop(d.base, EVLOOP_NONBLOCK);
	ck_assert(STAILQ_EMPTY(&c->outq));
	ck_assert(event_pending(c->ev_read, EV_READ, NULL));
	ck_assert(!event_pending(c->ev_write, EV_WRITE, NULL));
	close(peer);
}
END_TEST

/* ---- hello timeout ---- */

static void run_loop_ms(int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	event_base_loopexit(d.base, &tv);
	event_base_dispatch(d.base);
}

START_TEST(test_silent_client_dropped)
{
	struct proto_hello hello;
	int quiet, talker;
	struct client *c;
	char buf[64];

	d.clients.hello_timeout = (struct timeval){ 0, 100000 };
	accept_one(&quiet);
	c = accept_one(&talker);
	memset(&hello, 0, sizeof(hello));
	proto_hdr_init(&hello.hdr, PROTO_HELLO, 0);
	ck_assert_int_eq(send(talker, &hello, sizeof(hello), 0),
			 sizeof(hello));
	run_loop_ms(400);
	/* The one that said HELLO stays, the silent one is gone. */
	ck_assert_uint_eq(d.clients.count, 1);
	ck_assert_ptr_eq(TAILQ_FIRST(&d.clients.list), c);
	ck_assert(c->welcomed);
	ck_assert_int_eq(recv(quiet, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(quiet);
	close(talker);
}
END_TEST

/* ---- receive ---- */

/*
 * @n pipes: the write ends go to @wr, to be passed to the daemon, the
 * read ends (non-blocking) to @rd.  A read end sees EOF once every copy
 * of its write end is closed.
 */
static void make_pipes(int *rd, int *wr, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int p[2];

		ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}
}

/* Every write end was closed by the daemon: the read ends see EOF. */
static void assert_pipes_closed(int *rd, unsigned int n, const char *what)
{
	char c;

	for (unsigned int i = 0; i < n; i++) {
		ssize_t r = read(rd[i], &c, 1);

		ck_assert_msg(r == 0, "%s: the daemon kept passed fd %u of %u",
			      what, i, n);
		close(rd[i]);
	}
}

/* Run the loop until no client is left (a bound of 1000 rounds). */
static void run_until_no_clients(void)
{
	for (int i = 0; i < 1000 && d.clients.count; i++)
		ck_assert_int_ge(event_base_loop(d.base, EVLOOP_ONCE |
						 EVLOOP_NONBLOCK), 0);
	ck_assert_uint_eq(d.clients.count, 0);
}

/*
 * Datagrams of @len bytes (0: empty) carrying @nfds fds, then a hang-up
 * before the daemon has read anything: every fd is closed all the same.
 */
static void hangup_with_fds(size_t len, unsigned int nfds, const char *what)
{
	char junk[64];
	int rd[32], wr[32], peer;

	ck_assert_uint_le(len, sizeof(junk));
	memset(junk, 0x5a, sizeof(junk));
	make_pipes(rd, wr, nfds);
	accept_one(&peer);
	wire_send_fds(peer, junk, len, wr, nfds);
	for (unsigned int i = 0; i < nfds; i++)
		close(wr[i]);
	close(peer);
	run_until_no_clients();
	assert_pipes_closed(rd, nfds, what);
}

START_TEST(test_fds_empty_datagram_then_hangup)
{
	hangup_with_fds(0, 3, "empty datagram, hang-up");
}
END_TEST

START_TEST(test_fds_garbage_then_hangup)
{
	hangup_with_fds(5, 3, "5 bytes of garbage, hang-up");
}
END_TEST

/* More than CLIENT_MAX_FDS (8): the kernel cuts the rest (MSG_CTRUNC). */
START_TEST(test_fds_truncated_then_hangup)
{
	hangup_with_fds(0, 12, "12 fds on an empty datagram, hang-up");
	hangup_with_fds(16, 32, "32 fds on garbage, hang-up");
}
END_TEST

/* An empty datagram with fds on a live connection: refused, fds closed. */
START_TEST(test_fds_empty_datagram_connected)
{
	union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX];
	} u;
	int rd[3], wr[3], peer;
	ssize_t n;

	make_pipes(rd, wr, 3);
	accept_one(&peer);
	wire_send_fds(peer, NULL, 0, wr, 3);
	for (int i = 0; i < 3; i++)
		close(wr[i]);
	for (int i = 0; i < 1000; i++) {
		n = recv(peer, u.buf, sizeof(u.buf), MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN)
			break;
		ck_assert_int_ge(event_base_loop(d.base, EVLOOP_ONCE |
						 EVLOOP_NONBLOCK), 0);
	}
	ck_assert_int_eq(n, sizeof(u.hdr));
	ck_assert_int_eq(u.hdr.status, -EBADMSG);
	ck_assert_uint_eq(d.clients.count, 1);
	assert_pipes_closed(rd, 3, "empty datagram, connected");
	close(peer);
}
END_TEST

/* ---- logs a client drives ---- */

static char stderr_path[] = "/tmp/spanheap-client-log.XXXXXX";
static int saved_stderr = -1;

/* Send this process's stderr (the daemon's log) to a temp file. */
static void capture_stderr(void)
{
	int fd = mkstemp(stderr_path);

	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Restore stderr; returns the lines logged since capture_stderr(). */
static unsigned int captured_lines(void)
{
	unsigned int lines = 0;
	char buf[4096];
	ssize_t n;
	int fd;

	fflush(stderr);
	ck_assert_int_eq(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	fd = open(stderr_path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	unlink(stderr_path);
	return lines;
}

/*
 * nbad, the count of a client's bad messages, saturates: a client that
 * sends 2^64 of them (or 2^32, when it was an unsigned int) neither
 * wraps it nor starts being logged again.
 */
START_TEST(test_nbad_saturates)
{
	const __typeof__(((struct client *)0)->nbad) max = -1;
	union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct client *c;
	char junk[5] = "junk";
	int peer;

	c = accept_one(&peer);
	c->nbad = max - 1;
	capture_stderr();
	for (int i = 0; i < 3; i++) {
		ssize_t n = -1;

		wire_send(peer, junk, sizeof(junk));
		for (int k = 0; k < 1000 && n < 0; k++) {
			ck_assert_int_ge(event_base_loop(d.base, EVLOOP_ONCE |
							 EVLOOP_NONBLOCK), 0);
			n = recv(peer, u.buf, sizeof(u.buf), MSG_DONTWAIT);
		}
		ck_assert_int_eq(n, sizeof(u.hdr));
		ck_assert_int_eq(u.hdr.status, -EBADMSG);
	}
	ck_assert_uint_eq(captured_lines(), 0);
	ck_assert_msg(c->nbad == max, "nbad %llu, want the maximum",
		      (unsigned long long)c->nbad);
	ck_assert_uint_ge(sizeof(c->nbad), 8);
	close(peer);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("daemon-client");
	TCase *tc;

	tc = tcase_create("accept");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ids_differ);
	tcase_add_test(tc, test_ids_across_wrap);
	tcase_add_test(tc, test_ids_skip_live_after_wrap);
	tcase_add_test(tc, test_destroy_frees_spans);
	suite_add_tcase(s, tc);

	tc = tcase_create("send");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_send_queues_in_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("hello_timeout");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_silent_client_dropped);
	suite_add_tcase(s, tc);

	tc = tcase_create("receive");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fds_empty_datagram_then_hangup);
	tcase_add_test(tc, test_fds_garbage_then_hangup);
	tcase_add_test(tc, test_fds_truncated_then_hangup);
	tcase_add_test(tc, test_fds_empty_datagram_connected);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nbad_saturates);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(client_suite)
