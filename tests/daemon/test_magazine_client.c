// SPDX-License-Identifier: MIT
/*
 * Tests of the magazine's callers in process (tests/daemon/tmag.h): the
 * HELLO that asks for one (daemon/dispatch.c sends its sealed memfd with
 * the WELCOME), MAG_KICK (never answered) and MAG_REFILL, SPAN_FREE's
 * sync and its refusal of spans still in a fill ring, and
 * client_destroy() (daemon/client.c), which frees FILL and HELD spans
 * alike and keeps the magazine's counters in the totals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/daemon/tmag.h"
#include "tests/lib/testlib.h"

START_TEST(test_hello_sends_magazine)
{
	struct proto_welcome w;
	unsigned int nfds;
	struct client *c;
	struct stat st;
	int fds[2], peer;
	void *p;

	tm_use_magazines(MAXB);
	c = inproc_hello(&tm_d, "mag", PROTO_HELLO_MAGAZINE, &peer, &w, fds, 2,
			 &nfds);
	ck_assert_uint_eq(nfds, 2);
	ck_assert_ptr_nonnull(c->mag);
	ck_assert_uint_eq(w.mag_size, mag_layout_size((uint32_t)PAGE));
	ck_assert_int_eq(fstat(fds[1], &st), 0);
	ck_assert_int_eq(st.st_size, w.mag_size);
	/* Sealed: the client can neither shrink nor grow it. */
	ck_assert_int_eq(fcntl(fds[1], F_GET_SEALS),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	p = mmap(NULL, w.mag_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1],
		 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	ck_assert_int_eq(mag_check_header(p, w.mag_size), 0);
	ck_assert_int_eq(((struct mag_region *)p)->hdr.pid, getpid());
	munmap(p, w.mag_size);
	close(fds[0]);
	close(fds[1]);
	close(peer);

	/* Not asked for: none. */
	c = inproc_hello(&tm_d, "plain", 0, &peer, &w, fds, 2, &nfds);
	ck_assert_uint_eq(nfds, 1);
	ck_assert_uint_eq(w.mag_size, 0);
	ck_assert_ptr_null(c->mag);
	close(fds[0]);
	close(peer);

	/* Asked for, but the daemon makes none (--magazine-bytes=0). */
	tm_use_magazines(0);
	c = inproc_hello(&tm_d, "none", PROTO_HELLO_MAGAZINE, &peer, &w, fds, 2,
			 &nfds);
	ck_assert_uint_eq(nfds, 1);
	ck_assert_uint_eq(w.mag_size, 0);
	ck_assert_ptr_null(c->mag);
	close(fds[0]);
	close(peer);
}
END_TEST

START_TEST(test_span_free_fill_refused)
{
	uint64_t ring[MAG_RING_CAP], both[2];
	uint32_t bad;
	int peer;

	tm_client(&tm, &peer);
	tm_send_mag(peer, PROTO_MAG_REFILL, 1, 0, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(peer, PROTO_MAG_REFILL, 1), 0);
	ck_assert_uint_eq(tm_ring_entries(&tm, 0, ring), 4);
	tm_expect_n(&tm, 0, ring, 4, HEAP_MAG_FILL);
	/* In the ring, not taken: not the client's to free. */
	ck_assert_int_eq(tm_span_free(peer, 2, ring, 1, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 0);
	tm_expect_state(&tm, 0, ring[0], HEAP_MAG_FILL);
	tm_expect_ring(&tm, 0, 4);
	/* Taken (the daemon has not looked since): its own, freed. */
	ck_assert_uint_eq(tm_take(&tm, 0), ring[0]);
	ck_assert_int_eq(tm_span_free(peer, 3, ring, 1, &bad), 0);
	tm_expect_free(ring[0]);
	/* One taken and one not: nothing is freed. */
	ck_assert_uint_eq(tm_take(&tm, 0), ring[1]);
	both[0] = ring[1];
	both[1] = ring[2];
	ck_assert_int_eq(tm_span_free(peer, 4, both, 2, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 1);
	tm_expect_state(&tm, 0, ring[1], HEAP_MAG_HELD);
	tm_expect_state(&tm, 0, ring[2], HEAP_MAG_FILL);
	ck_assert_int_eq(tm_span_free(peer, 5, both, 1, &bad), 0);
	tm_expect_free(ring[1]);
	ck_assert_uint_eq(tm_owner_pages(tm.owner), 2);
	munmap(tm.r, tm.size);
	close(peer);
}
END_TEST

START_TEST(test_mag_messages)
{
	struct magazine_info mi;
	struct client *c, *plain;
	int peer, pp;

	c = tm_client(&tm, &peer);
	/* MAG_KICK has no reply: the next reply is the next request's. */
	tm_send_mag(peer, PROTO_MAG_KICK, 1, 0, 0);
	tm_send_mag(peer, PROTO_MAG_REFILL, 2, 4, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(peer, PROTO_MAG_REFILL, 2), 0);
	daemon_heap_lock(&tm_d.core);
	client_magazine_locked(c, &mi);
	daemon_heap_unlock(&tm_d.core);
	ck_assert_uint_eq(mi.kicks, 1);
	ck_assert_uint_eq(mi.refills, 1);
	ck_assert_uint_eq(mi.cached, 4 * (PAGE << 4));
	tm_expect_ring(&tm, 4, 4);
	/* A kick that finds the ring emptied fills it again. */
	tm_take_n(&tm, 4, (uint64_t[4]){ 0 }, 4);
	tm_send_mag(peer, PROTO_MAG_KICK, 3, 0, 0);
	for (int i = 0; i < 100 && tm_info(&tm).kicks < 2; i++)
		inproc_turn(&tm_d);
	ck_assert_uint_eq(tm_info(&tm).kicks, 2);
	tm_expect_ring(&tm, 4, 4);
	/* A class the format does not have is refused before it is served. */
	tm_send_mag(peer, PROTO_MAG_REFILL, 4, MAG_NCLASSES, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(peer, PROTO_MAG_REFILL, 4), -EBADMSG);
	ck_assert_uint_eq(tm_info(&tm).refills, 1);

	/* Without a magazine: a refill is -ENODEV, a kick nothing. */
	plain = inproc_welcomed(&tm_d, "plain", &pp);
	ck_assert_ptr_null(plain->mag);
	tm_send_mag(pp, PROTO_MAG_KICK, 5, 0, 0);
	tm_send_mag(pp, PROTO_MAG_REFILL, 6, 0, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(pp, PROTO_MAG_REFILL, 6), -ENODEV);
	ck_assert_uint_eq(tm_owner_pages(plain->owner), 0);
	munmap(tm.r, tm.size);
	close(peer);
	close(pp);
}
END_TEST

/* Send a MAG_KICK of @cls with @fd (if not -1) attached. */
static void send_kick_fd(int peer, uint32_t cls, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct proto_mag m;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_MAG_KICK, 9);
	m.cls = cls;
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	}
	ck_assert_int_eq(sendmsg(peer, &msg, 0), (ssize_t)sizeof(m));
}

/*
 * A MAG_KICK is never answered, not even refused (malformed, with fds,
 * before HELLO): its sender does not wait for a reply, and would take
 * one for the reply to its next request.  The refusals are counted.
 */
START_TEST(test_kick_never_answered)
{
	struct client *c, *early;
	int peer, ep, fds[2];

	c = tm_client(&tm, &peer);
	ck_assert_int_eq(pipe(fds), 0);
	send_kick_fd(peer, 1, -1);
	send_kick_fd(peer, 0, fds[0]);
	tm_send_mag(peer, PROTO_MAG_REFILL, 2, 0, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(peer, PROTO_MAG_REFILL, 2), 0);
	ck_assert_uint_eq(c->nbad, 2);
	ck_assert_uint_eq(tm_info(&tm).kicks, 0);
	close(fds[0]);
	close(fds[1]);

	early = inproc_accept(&tm_d, &ep);
	send_kick_fd(ep, 0, -1);
	tm_send_mag(ep, PROTO_MAG_REFILL, 3, 0, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(ep, PROTO_MAG_REFILL, 3), -EPROTO);
	ck_assert_uint_eq(early->nbad, 2);
	munmap(tm.r, tm.size);
	close(peer);
	close(ep);
}
END_TEST

START_TEST(test_destroy_frees_fill_and_held)
{
	struct magazine_info gone;
	struct proto_alloc a;
	struct proto_alloc_reply rep;
	struct client *c;
	uint64_t got[3];
	int peer;

	c = tm_client(&tm, &peer);
	tm_send_mag(peer, PROTO_MAG_REFILL, 1, 0, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(peer, PROTO_MAG_REFILL, 1), 0);
	tm_send_mag(peer, PROTO_MAG_REFILL, 2, 3, PROTO_MAG_EMPTY);
	ck_assert_int_eq(tm_recv_status(peer, PROTO_MAG_REFILL, 2), 0);
	tm_take_n(&tm, 0, got, 3);
	tm_push(&tm, 0, got[2]);
	/* Its socket spans go with it too. */
	memset(&a, 0, sizeof(a));
	proto_hdr_init(&a.hdr, PROTO_SPAN_ALLOC, 3);
	a.npages = 5;
	a.count = 2;
	ck_assert_int_eq(send(peer, &a, sizeof(a), 0), (ssize_t)sizeof(a));
	inproc_recv(&tm_d, peer, &rep, sizeof(rep));
	ck_assert_int_eq(rep.hdr.status, 0);
	/* HELD (after a sync), FILL and plain spans alike. */
	tm_sync(&tm);
	tm_expect_n(&tm, 0, got, 3, HEAP_MAG_HELD);
	ck_assert_uint_eq(tm_owner_pages(c->owner), 4 + 4 * 8 + 10);
	ck_assert_uint_gt(tm_hstats().mag_fill, 0);
	client_destroy(c);
	ck_assert_uint_eq(tm_hstats().inuse, 0);
	ck_assert_uint_eq(tm_hstats().mag, 0);
	ck_assert_uint_eq(tm_hstats().mag_fill, 0);
	ck_assert_uint_eq(tm_hstats().owners, 0);
	/* The region, still mapped here, says it is not served. */
	ck_assert(atomic_load(&tm.r->st.flags) & MAG_F_DEAD);
	/* Its counters stay in the totals; what it cached is gone. */
	memset(&gone, 0, sizeof(gone));
	daemon_heap_lock(&tm_d.core);
	clients_magazines_locked(&tm_d.clients, &gone);
	daemon_heap_unlock(&tm_d.core);
	ck_assert_uint_eq(gone.refills, 2);
	ck_assert_uint_eq(gone.filled, 8);
	ck_assert_uint_eq(gone.cached, 0);
	ck_assert(!gone.dead);
	tm_check();
	munmap(tm.r, tm.size);
	close(peer);
}
END_TEST

static Suite *magazine_client_suite(void)
{
	Suite *s = suite_create("daemon-magazine-client");
	TCase *tc;

	tc = tcase_create("dispatch");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_hello_sends_magazine);
	tcase_add_test(tc, test_span_free_fill_refused);
	tcase_add_test(tc, test_mag_messages);
	tcase_add_test(tc, test_kick_never_answered);
	suite_add_tcase(s, tc);

	tc = tcase_create("destroy");
	tcase_add_checked_fixture(tc, tm_setup, tm_teardown);
	tcase_add_test(tc, test_destroy_frees_fill_and_held);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_client_suite)
