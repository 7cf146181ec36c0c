// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/session.c in process (tests/daemon/inproc.h), and for
 * the kept sessions of daemon/client.c: a token matches only whole and
 * only while its session lives; a record gives back exactly the reply
 * recorded for its seq and type; a connection of KEEP that hangs up
 * while its process lives leaves an orphan that a resume takes back,
 * with its owner, client id and spans.
 */
#include <errno.h>
#include <event2/event.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/session.h"
#include "shm/heap.h"
#include "tests/daemon/inproc.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)

static struct daemon d;

static void setup(void)
{
	inproc_start(&d, 64 * MiB, NULL, false);
	/* In process the options are 0: an orphan waits the default. */
	d.orphans.grace_ns = DEFAULT_RECONNECT_GRACE_NS;
}

static void teardown(void)
{
	inproc_stop(&d);
}

/* A heap owner with a session, its token in @t. */
static uint32_t open_one(uint32_t client_id, struct proto_session *t)
{
	uint32_t owner;

	daemon_heap_lock(&d.core);
	ck_assert_int_eq(heap_owner_add(d.core.heap, NULL, client_id, &owner),
			 0);
	ck_assert_int_eq(session_open_locked(&d.clients.sessions, owner,
					     client_id, t), 0);
	daemon_heap_unlock(&d.core);
	ck_assert_uint_eq(t->owner, owner);
	ck_assert_uint_eq(t->client_id, client_id);
	return owner;
}

static int match(const struct proto_session *t)
{
	int r;

	daemon_heap_lock(&d.core);
	r = session_match_locked(&d.clients.sessions, t);
	daemon_heap_unlock(&d.core);
	return r;
}

START_TEST(test_token_matches_whole)
{
	struct proto_session t, u, x;

	open_one(900, &t);
	open_one(901, &u);
	ck_assert(t.secret[0] || t.secret[1]);
	ck_assert(t.arena_id[0] || t.arena_id[1]);
	ck_assert(memcmp(t.secret, u.secret, sizeof(t.secret)));
	ck_assert_int_eq(match(&t), 0);
	ck_assert_int_eq(match(&u), 0);
	for (unsigned int bit = 0; bit < 128; bit += 9) {
		x = t;
		x.secret[bit / 64] ^= UINT64_C(1) << (bit % 64);
		ck_assert_int_eq(match(&x), -ESTALE);
	}
	x = t;
	x.arena_id[1] ^= 1;
	ck_assert_int_eq(match(&x), -ESTALE);
	x = t;
	x.client_id = u.client_id;
	ck_assert_int_eq(match(&x), -ESTALE);
	x = t;
	x.owner = u.owner;		/* u's session, t's secret */
	ck_assert_int_eq(match(&x), -ESTALE);
	x = t;
	x.owner = 0;
	ck_assert_int_eq(match(&x), -ESTALE);
	x = t;
	x.owner = UINT32_MAX - 1;	/* an owner that never was */
	ck_assert_int_eq(match(&x), -ESTALE);
	/* Cleared: never again. */
	daemon_heap_lock(&d.core);
	session_clear_locked(&d.clients.sessions, t.owner);
	daemon_heap_unlock(&d.core);
	ck_assert_int_eq(match(&t), -ESTALE);
	ck_assert_int_eq(match(&u), 0);
}
END_TEST

START_TEST(test_record_and_replay)
{
	struct sessions *s = &d.clients.sessions;
	unsigned char rep[SESSION_REPLY_MAX], got[SESSION_REPLY_MAX];
	struct proto_session t;
	uint32_t owner = open_one(7, &t);
	uint64_t replayed = s->replayed;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(rep); i++)
		rep[i] = (unsigned char)(i * 13 + 1);
	daemon_heap_lock(&d.core);
	/* Nothing recorded yet. */
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_SPAN_ALLOC, 1,
					       got, &len), -ENOENT);
	heap_tx_begin(d.core.heap);
	session_record_locked(s, owner, PROTO_SPAN_ALLOC, 5, rep,
			      sizeof(rep));
	heap_tx_end(d.core.heap);
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_SPAN_ALLOC, 5,
					       got, &len), 0);
	ck_assert_uint_eq(len, sizeof(rep));
	ck_assert_mem_eq(got, rep, sizeof(rep));
	len = 0;
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_SPAN_ALLOC, 4,
					       got, &len), -ENOENT);
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_SPAN_FREE, 5,
					       got, &len), -ENOENT);
	ck_assert_uint_eq(len, 0);
	/* The last one only: a bare header now. */
	heap_tx_begin(d.core.heap);
	session_record_locked(s, owner, PROTO_OBJ_SEAL, 6, rep, 16);
	heap_tx_end(d.core.heap);
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_SPAN_ALLOC, 5,
					       got, &len), -ENOENT);
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_OBJ_SEAL, 6,
					       got, &len), 0);
	ck_assert_uint_eq(len, 16);
	ck_assert_mem_eq(got, rep, 16);
	ck_assert_uint_eq(s->replayed, replayed + 2);
	/* Its token still matches: a record changes no identity. */
	ck_assert_int_eq(session_match_locked(s, &t), 0);
	session_clear_locked(s, owner);
	ck_assert_int_eq(session_replay_locked(s, owner, PROTO_OBJ_SEAL, 6,
					       got, &len), -ENOENT);
	daemon_heap_unlock(&d.core);
}
END_TEST

/* Run the loop until the client of @fd is gone from the list. */
static void wait_gone(int fd)
{
	for (int i = 0; i < 3000 && inproc_client(&d, fd); i++) {
		event_base_loop(d.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_ptr_null(inproc_client(&d, fd));
}

START_TEST(test_orphan_taken_back)
{
	struct proto_welcome w, w2;
	struct proto_alloc_reply ar;
	struct proto_alloc req;
	struct heap_owner_info o;
	struct client *c;
	unsigned int nfds;
	int peer, peer2, fds[2], dfd;
	uint32_t owner, id;

	c = inproc_hello(&d, "kept", PROTO_HELLO_KEEP, &peer, &w, fds, 2,
			 &nfds);
	while (nfds)
		close(fds[--nfds]);
	owner = c->owner;
	id = c->id;
	dfd = c->fd;
	ck_assert_uint_eq(w.session.owner, owner);
	ck_assert_uint_eq(w.session.client_id, id);
	ck_assert_uint_eq(w.grace_ms, clients_grace_ms(&d.clients));
	ck_assert_uint_eq(w.generation, 1);
	memset(&req, 0, sizeof(req));
	proto_hdr_init(&req.hdr, PROTO_SPAN_ALLOC, 1);
	req.npages = 3;
	req.count = 2;
	ck_assert_int_eq(send(peer, &req, sizeof(req), 0), sizeof(req));
	ck_assert_uint_eq(inproc_recv(&d, peer, &ar, sizeof(ar)),
			  proto_alloc_reply_size(2));
	ck_assert_int_eq(ar.hdr.status, 0);
	close(peer);
	wait_gone(dfd);
	/* Gone as a connection, kept as an owner. */
	daemon_heap_lock(&d.core);
	ck_assert_int_eq(heap_owner_get(d.core.heap, owner, &o), 0);
	daemon_heap_unlock(&d.core);
	ck_assert_uint_eq(o.nspans, 2);
	ck_assert_uint_eq(d.clients.count, 0);

	c = inproc_accept(&d, &peer2);
	{
		struct proto_hello h;

		memset(&h, 0, sizeof(h));
		proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
		h.flags = PROTO_HELLO_RESUME;
		h.next_seq = 2;
		h.session = w.session;
		ck_assert_int_eq(send(peer2, &h, sizeof(h), 0), sizeof(h));
	}
	ck_assert_uint_eq(inproc_recv(&d, peer2, &w2, sizeof(w2)),
			  sizeof(w2));
	ck_assert_int_eq(w2.hdr.status, 0);
	ck_assert_uint_eq(w2.client_id, id);
	ck_assert_mem_eq(&w2.session, &w.session, sizeof(w.session));
	ck_assert_uint_eq(c->owner, owner);
	ck_assert_uint_eq(c->id, id);
	ck_assert_uint_eq(c->resumed, 1);
	ck_assert_uint_eq(d.clients.sessions.resumed, 1);
	/* A second resume of it: it is no orphan now. */
	c = inproc_accept(&d, &peer);
	{
		struct proto_hello h;
		struct proto_hdr rep;

		memset(&h, 0, sizeof(h));
		proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
		h.flags = PROTO_HELLO_RESUME;
		h.next_seq = 2;
		h.session = w.session;
		ck_assert_int_eq(send(peer, &h, sizeof(h), 0), sizeof(h));
		ck_assert_uint_eq(inproc_recv(&d, peer, &rep, sizeof(rep)),
				  sizeof(rep));
		ck_assert_int_eq(rep.status, -ESTALE);
	}
	close(peer);
	close(peer2);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc;

	tc = tcase_create("records");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_token_matches_whole);
	tcase_add_test(tc, test_record_and_replay);
	suite_add_tcase(s, tc);
	tc = tcase_create("orphans");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_orphan_taken_back);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(session_suite)
