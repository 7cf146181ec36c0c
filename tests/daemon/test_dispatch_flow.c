// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/dispatch.c and daemon/client.c in process (see
 * tests/lib/inproc.h), where the test turns the event loop itself and
 * looks at a client between turns: GC and SCAVENGE beyond the rate
 * limit wait for the client's timer, and nothing is lost when such a
 * client hangs up.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/lib/inproc.h"
#include "tests/lib/testlib.h"

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

	d.control_interval_ns = UINT64_C(200) * 1000000;
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
	ck_assert_uint_eq(d.control_deferred, 1);
	ck_assert(!event_pending(c->ev_read, EV_READ, NULL));
	ck_assert(evtimer_pending(c->ev_control, NULL));
	assert_served(other, 10);
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_GC, 2), 0);
	ck_assert_int_eq(u.r.hdr.status, 0);
	ck_assert_uint_eq(c->deferred_type, 0);
	n = inproc_recv(&d, peer, u.buf, sizeof(u.buf));
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_STATS, 3), 0);
	ck_assert_uint_eq(d.control_deferred, 1);
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

	d.control_interval_ns = UINT64_C(50) * 1000000;
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
	ck_assert_uint_eq(d.nclients, 1);
	assert_served(other, 10);
	close(other);
}
END_TEST

static Suite *dispatch_flow_suite(void)
{
	Suite *s = suite_create("dispatch-flow");
	TCase *tc;

	tc = tcase_create("rate_limit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gc_deferred);
	tcase_add_test(tc, test_deferred_hangup);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(dispatch_flow_suite)
