// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/dispatch.c and daemon/client.c in process (see
 * tests/daemon/inproc.h), where the test turns the event loop itself and
 * looks at a client's queue between turns: a STATS reply is sent a chunk
 * at a time and a client that pipelines STATS without reading holds at
 * most one reply; GC and SCAVENGE beyond the rate limit wait for the
 * client's timer, and nothing is lost when such a client hangs up; a
 * client waiting for a slow forced pass hears of its progress, and one
 * destroyed while it waits leaves no wait behind.  And every message of
 * proto/proto.c's table has a handler.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/dispatch.h"
#include "tests/daemon/inproc.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define ARENA (UINT64_C(64) << 20)

static struct daemon d;

static void setup(void)
{
	inproc_start(&d, ARENA, NULL, false);
}

static void teardown(void)
{
	inproc_stop(&d);
}

/* Send a bare request of @type and @seq from @peer. */
static void send_bare(int peer, uint16_t type, uint32_t seq)
{
	struct proto_hdr h;

	proto_hdr_init(&h, type, seq);
	ck_assert_int_eq(send(peer, &h, sizeof(h), MSG_NOSIGNAL), sizeof(h));
}

/* An ALLOC and a FREE of one page from @peer are answered. */
static void assert_served(int peer, uint32_t seq)
{
	union {
		struct proto_alloc_reply a;
		struct proto_free_reply f;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct proto_alloc a;
	struct proto_free f;
	size_t n;

	memset(&a, 0, sizeof(a));
	proto_hdr_init(&a.hdr, PROTO_SPAN_ALLOC, seq);
	a.npages = 1;
	a.count = 1;
	ck_assert_int_eq(send(peer, &a, sizeof(a), 0), sizeof(a));
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_SPAN_ALLOC, seq), 0);
	ck_assert_int_eq(u.a.hdr.status, 0);
	memset(&f, 0, sizeof(f));
	proto_hdr_init(&f.hdr, PROTO_SPAN_FREE, seq + 1);
	f.count = 1;
	f.off[0] = u.a.spans[0].off;
	ck_assert_int_eq(send(peer, &f, proto_free_size(1), 0),
			 proto_free_size(1));
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_SPAN_FREE, seq + 1),
			 0);
	ck_assert_int_eq(u.f.hdr.status, 0);
}

/*
 * Receive every chunk of the STATS reply to @seq at @peer and check that
 * they join into @len bytes; returns the chunk count.
 */
static unsigned int recv_text(int peer, uint16_t type, uint32_t seq,
			      char *text, size_t max, size_t *ret_len)
{
	static union {
		struct proto_stats_reply r;
		char buf[PROTO_REPLY_MAX];
	} u;
	unsigned int chunks = 0;
	size_t len = 0, n;

	do {
		n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
		ck_assert_msg(proto_check_reply(u.buf, n, type, seq) == 0,
			      "chunk %u of the reply to seq %u is wrong",
			      chunks, seq);
		ck_assert_int_eq(u.r.hdr.status, 0);
		ck_assert_uint_le(len + u.r.len, max);
		memcpy(text + len, u.r.data, u.r.len);
		len += u.r.len;
		chunks++;
	} while (u.r.flags & PROTO_MORE);
	*ret_len = len;
	return chunks;
}

/* ---- chunks ---- */

/*
 * A text of several chunks goes out one chunk at a time: the client's
 * queue holds one entry, however many chunks are left, and reading
 * stays off until the last is sent.
 */
START_TEST(test_blob_chunk_at_a_time)
{
	enum { LEN = 3 * PROTO_CHUNK_MAX + 1000 };
	static char got[LEN];
	struct blob *b = malloc(sizeof(*b) + LEN + 1);
	struct text_req req = { PROTO_STATS, 7, 0, 0 };
	struct client *c;
	int peer, sndbuf = PROTO_CHUNK_MAX;
	unsigned int chunks;
	size_t len;

	ck_assert_ptr_nonnull(b);
	b->refs = 1;
	b->len = LEN;
	for (size_t i = 0; i < LEN; i++)
		b->text[i] = (char)('a' + i % 26);
	b->text[LEN] = 0;
	c = inproc_accept(&d, &peer);
	/* A small buffer: the socket takes one chunk at a time. */
	ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)), 0);
	ck_assert_int_eq(client_send_blob(c, &req, b), 0);
	ck_assert_uint_eq(client_queued(c), 1);
	ck_assert_uint_eq(b->refs, 2);
	ck_assert(!event_pending(c->ev_read, EV_READ, NULL));
	blob_put(b);
	chunks = recv_text(peer, PROTO_STATS, 7, got, sizeof(got), &len);
	ck_assert_uint_eq(chunks, 4);
	ck_assert_uint_eq(len, LEN);
	for (size_t i = 0; i < LEN; i++)
		if (got[i] != (char)('a' + i % 26))
			ck_abort_msg("byte %zu of the text is wrong", i);
	inproc_turn(&d);
	ck_assert_uint_eq(client_queued(c), 0);
	ck_assert(event_pending(c->ev_read, EV_READ, NULL));
	close(peer);
}
END_TEST

/*
 * A client pipelines STATS and does not read, among 120 others with
 * long names: the daemon holds at most one reply for it at any time
 * (before, every chunk of a reply was queued at once), serves the others
 * meanwhile, and the client gets every reply in order once it reads.
 */
START_TEST(test_stats_pipelined_one_queued)
{
	enum { OTHERS = 120, MAX = 400 };
	static char text[1 << 20];
	char name[PROTO_NAME_MAX];
	int peers[OTHERS], flood, other;
	struct client *c;
	uint32_t sent = 0;
	unsigned int most = 0;
	size_t len;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	for (int i = 0; i < OTHERS; i++)
		inproc_welcomed(&d, name, &peers[i]);
	c = inproc_welcomed(&d, "flood", &flood);
	inproc_welcomed(&d, "other", &other);
	while (sent < MAX) {
		struct proto_hdr h;

		proto_hdr_init(&h, PROTO_STATS, 1000 + sent);
		if (send(flood, &h, sizeof(h), MSG_DONTWAIT) != sizeof(h))
			break;
		sent++;
	}
	ck_assert_uint_gt(sent, 10);
	for (int turn = 0; turn < 2000; turn++) {
		inproc_turn(&d);
		if (client_queued(c) > most)
			most = client_queued(c);
		if (turn % 200 == 0)
			assert_served(other, 10 * (uint32_t)turn + 1);
	}
	ck_assert_uint_eq(most, 1);
	for (uint32_t i = 0; i < sent; i++) {
		recv_text(flood, PROTO_STATS, 1000 + i, text, sizeof(text),
			  &len);
		ck_assert_int_eq(text[0], '{');
		ck_assert_uint_le(client_queued(c), 1);
	}
	assert_served(flood, 1);
	for (int i = 0; i < OTHERS; i++)
		close(peers[i]);
	close(flood);
	close(other);
}
END_TEST

/* ---- rate limit ---- */

/*
 * A GC sooner than the interval after the last waits for the client's
 * timer, with its reads off; another client is served meanwhile; the
 * replies come in order.
 */
START_TEST(test_gc_deferred)
{
	union {
		struct proto_gc_reply r;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct client *c;
	int peer, other;
	size_t n;

	d.clients.control_interval_ns = UINT64_C(200) * 1000000;
	c = inproc_welcomed(&d, "gc", &peer);
	inproc_welcomed(&d, "other", &other);
	send_bare(peer, PROTO_GC, 1);
	send_bare(peer, PROTO_GC, 2);
	send_bare(peer, PROTO_STATS, 3);
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_GC, 1), 0);
	for (int i = 0; i < 5 && !c->deferred_type; i++)
		inproc_turn(&d);
	ck_assert_uint_eq(c->deferred_type, PROTO_GC);
	ck_assert_uint_eq(d.clients.control_deferred, 1);
	ck_assert(!event_pending(c->ev_read, EV_READ, NULL));
	ck_assert(evtimer_pending(c->ev_control, NULL));
	assert_served(other, 10);
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_GC, 2), 0);
	ck_assert_int_eq(u.r.hdr.status, 0);
	ck_assert_uint_eq(c->deferred_type, 0);
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_STATS, 3), 0);
	ck_assert_uint_eq(d.clients.control_deferred, 1);
	close(peer);
	close(other);
}
END_TEST

/* A client that hangs up while its GC waits is freed, timer and all. */
START_TEST(test_deferred_hangup)
{
	struct client *c;
	char buf[PROTO_REPLY_MAX];
	int peer, other, fd;

	d.clients.control_interval_ns = UINT64_C(50) * 1000000;
	inproc_welcomed(&d, "other", &other);
	c = inproc_welcomed(&d, "leaves", &peer);
	fd = c->fd;
	send_bare(peer, PROTO_GC, 1);
	send_bare(peer, PROTO_GC, 2);
	inproc_recv(&d, peer, buf, sizeof(buf));
	for (int i = 0; i < 5 && !c->deferred_type; i++)
		inproc_turn(&d);
	ck_assert_uint_eq(c->deferred_type, PROTO_GC);
	close(peer);
	/* Its reads are off: the hang-up is seen when the timer serves it. */
	for (int i = 0; i < 3000 && inproc_client(&d, fd); i++) {
		struct timeval tv = { 0, 10000 };

		event_base_loopexit(d.base, &tv);
		event_base_loop(d.base, EVLOOP_ONCE);
	}
	ck_assert_ptr_null(inproc_client(&d, fd));
	ck_assert_uint_eq(d.clients.count, 1);
	assert_served(other, 10);
	close(other);
}
END_TEST

/* ---- scavenge progress ---- */

/*
 * The release hook of the heap, gated: the first release goes through,
 * the later ones wait until the test opens the gate, so that a forced
 * pass stays half done for as long as the test likes.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	unsigned int calls;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };

static int gated_release(void *arena, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.calls++ && !gate.open) {
		gate.calls--;
		pthread_cond_wait(&gate.cond, &gate.lock);
	}
	pthread_mutex_unlock(&gate.lock);
	return arena_release(arena, off, len);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static void setup_gated(void)
{
	gate.open = false;
	gate.calls = 0;
	inproc_start(&d, ARENA, gated_release, true);
}

static void teardown_gated(void)
{
	gate_open();
	inproc_stop(&d);
}

static size_t recv_scavenge(int peer, uint32_t seq,
			    struct proto_scavenge_reply *ret)
{
	size_t n = inproc_recv(&d, peer, ret, sizeof(*ret));

	ck_assert_int_eq(proto_check_reply(ret, n, PROTO_SCAVENGE, seq), 0);
	ck_assert_int_eq(ret->hdr.status, 0);
	return n;
}

/*
 * A forced pass held half done: the waiting client gets progress replies
 * (PROTO_MORE) with what the pass has released so far, never more than
 * one waiting in its queue, and the final reply (no PROTO_MORE) when the
 * pass ends; then it is read again.
 */
START_TEST(test_scavenge_progress)
{
	struct proto_scavenge_reply rep;
	struct proto_alloc_reply ar;
	struct proto_alloc a;
	struct proto_free f;
	uint64_t last = 0;
	unsigned int progress = 0;
	struct client *c;
	int peer;

	d.clients.progress_interval_ns = UINT64_C(20) * 1000000;
	c = inproc_welcomed(&d, "scavenge", &peer);
	memset(&a, 0, sizeof(a));
	proto_hdr_init(&a.hdr, PROTO_SPAN_ALLOC, 1);
	a.npages = 16 * MiB / HEAP_PAGE_SIZE;
	a.count = 1;
	ck_assert_int_eq(send(peer, &a, sizeof(a), 0), sizeof(a));
	inproc_recv(&d, peer, &ar, sizeof(ar));
	ck_assert_int_eq(ar.hdr.status, 0);
	memset(&f, 0, sizeof(f));
	proto_hdr_init(&f.hdr, PROTO_SPAN_FREE, 2);
	f.count = 1;
	f.off[0] = ar.spans[0].off;
	ck_assert_int_eq(send(peer, &f, proto_free_size(1), 0),
			 proto_free_size(1));
	inproc_recv(&d, peer, &ar, sizeof(ar));
	send_bare(peer, PROTO_SCAVENGE, 3);

	/* Progress until the first run (4 MiB) shows; the second waits. */
	do {
		recv_scavenge(peer, 3, &rep);
		ck_assert_msg(rep.flags & PROTO_MORE,
			      "the pass ended with the gate shut");
		ck_assert_uint_ge(rep.released, last);
		last = rep.released;
		progress++;
	} while (rep.released < SCAV_CHUNK_DEFAULT);
	ck_assert_uint_eq(rep.released, SCAV_CHUNK_DEFAULT);
	ck_assert_ptr_nonnull(c->scavenge);
	ck_assert(!event_pending(c->ev_read, EV_READ, NULL));

	/* A client that does not read: never more than one queued. */
	for (int i = 0; i < 50; i++) {
		struct timeval tv = { 0, 5000 };

		event_base_loopexit(d.base, &tv);
		event_base_loop(d.base, EVLOOP_ONCE);
		ck_assert_uint_le(client_queued(c), 1);
	}

	gate_open();
	do {
		recv_scavenge(peer, 3, &rep);
		ck_assert_uint_ge(rep.released, last);
		last = rep.released;
	} while (rep.flags & PROTO_MORE);
	ck_assert_uint_eq(rep.released, 16 * MiB);
	ck_assert_uint_ge(progress, 1);
	ck_assert_ptr_null(c->scavenge);
	assert_served(peer, 4);
	close(peer);
}
END_TEST

/*
 * A client gone while its SCAVENGE waits (its process exited, or the
 * daemon stops) leaves no wait behind: the end of the pass answers the
 * one that still waits, and nobody else.
 */
START_TEST(test_scavenge_wait_gone)
{
	struct proto_scavenge_reply rep;
	struct proto_alloc_reply ar;
	struct proto_alloc a;
	struct proto_free f;
	struct heap_stats hs;
	struct client *gone, *stays;
	int pg, ps;
	char buf[64];

	gone = inproc_welcomed(&d, "gone", &pg);
	stays = inproc_welcomed(&d, "stays", &ps);
	memset(&a, 0, sizeof(a));
	proto_hdr_init(&a.hdr, PROTO_SPAN_ALLOC, 1);
	a.npages = 16 * MiB / HEAP_PAGE_SIZE;
	a.count = 1;
	ck_assert_int_eq(send(pg, &a, sizeof(a), 0), sizeof(a));
	inproc_recv(&d, pg, &ar, sizeof(ar));
	ck_assert_int_eq(ar.hdr.status, 0);
	memset(&f, 0, sizeof(f));
	proto_hdr_init(&f.hdr, PROTO_SPAN_FREE, 2);
	f.count = 1;
	f.off[0] = ar.spans[0].off;
	ck_assert_int_eq(send(pg, &f, proto_free_size(1), 0),
			 proto_free_size(1));
	inproc_recv(&d, pg, &ar, sizeof(ar));

	/* Both wait; the gate holds the first pass half done. */
	send_bare(pg, PROTO_SCAVENGE, 3);
	for (int i = 0; i < 100 && !gone->scavenge; i++)
		inproc_turn(&d);
	send_bare(ps, PROTO_SCAVENGE, 1);
	for (int i = 0; i < 100 && !stays->scavenge; i++)
		inproc_turn(&d);
	ck_assert_ptr_nonnull(gone->scavenge);
	ck_assert_ptr_nonnull(stays->scavenge);

	/* Its wait came first: it is gone from the head of the list. */
	client_destroy(gone);
	ck_assert_ptr_eq(TAILQ_FIRST(&d.clients.scavenge_waits),
			 stays->scavenge);
	/* Closed, and nothing was sent to it. */
	ck_assert_int_eq(recv(pg, buf, sizeof(buf), MSG_DONTWAIT), 0);

	gate_open();
	recv_scavenge(ps, 1, &rep);
	ck_assert_uint_eq(rep.flags & PROTO_MORE, 0);
	ck_assert_ptr_null(stays->scavenge);
	ck_assert(TAILQ_EMPTY(&d.clients.scavenge_waits));
	daemon_heap_lock(&d.core);
	heap_stats(d.core.heap, &hs);
	daemon_heap_unlock(&d.core);
	/* The passes ran to their end: every free page is released. */
	ck_assert_uint_eq(hs.inuse, 0);
	ck_assert_uint_eq(hs.released, hs.idle);
	ck_assert_uint_ge(hs.released, 16 * MiB);
	assert_served(ps, 4);
	close(pg);
	close(ps);
}
END_TEST

/* A handler for every message proto/proto.c's table has, and no other. */
START_TEST(test_handler_per_message)
{
	for (uint32_t t = 0; t <= UINT16_MAX; t++)
		ck_assert_msg(dispatch_handles((uint16_t)t) ==
				      (proto_msg((uint16_t)t) != NULL),
			      "type %#x (%s): a handler %s", t,
			      proto_type_name((uint16_t)t),
			      dispatch_handles((uint16_t)t) ? "but no entry" :
							      "missing");
}
END_TEST

static Suite *dispatch_flow_suite(void)
{
	Suite *s = suite_create("dispatch-flow");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_handler_per_message);
	suite_add_tcase(s, tc);

	tc = tcase_create("chunks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_blob_chunk_at_a_time);
	tcase_add_test(tc, test_stats_pipelined_one_queued);
	suite_add_tcase(s, tc);

	tc = tcase_create("rate_limit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gc_deferred);
	tcase_add_test(tc, test_deferred_hangup);
	suite_add_tcase(s, tc);

	tc = tcase_create("progress");
	tcase_add_checked_fixture(tc, setup_gated, teardown_gated);
	tcase_add_test(tc, test_scavenge_progress);
	tcase_add_test(tc, test_scavenge_wait_gone);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_handler_per_message);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(dispatch_flow_suite)
