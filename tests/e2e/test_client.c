// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/client.c against the real spanheapd: connections that
 * pass file descriptors in every way and hang up leave the daemon with
 * the fds it held before, counting its /proc/PID/fd; and connection
 * churn grows its log by no more than the rate limit allows.  The same
 * receive path in process is tested in tests/daemon/test_client.c.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

/* Wait up to 30 s for spanheapd @pid to hold exactly @want fds. */
static unsigned int wait_fd_count(pid_t pid, unsigned int want)
{
	unsigned int n = wire_fd_count(pid);

	for (int i = 0; i < 3000 && n != want; i++) {
		usleep(10000);
		n = wire_fd_count(pid);
	}
	return n;
}

/*
 * 200 connections pass fds in every way a client can, and hang up
 * without reading a reply: afterwards the daemon holds exactly the fds
 * it held before.  Before the fix every empty datagram with fds leaked
 * them: about +3 fds a connection.
 */
START_TEST(test_fds_churn_daemon)
{
	struct test_daemon t;
	unsigned int before, after;
	struct proto_hdr h;
	char junk[16];
	int fds[12], null, keep;

	test_daemon_start(&t, NULL);
	keep = wire_open(t.sock, "keeps-count");
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(null, 0);
	for (int i = 0; i < 12; i++)
		fds[i] = null;
	memset(junk, 0xa5, sizeof(junk));
	before = wire_fd_count(t.pid);
	for (int i = 0; i < 200; i++) {
		int fd = wire_connect(t.sock);

		switch (i % 5) {
		case 0:		/* the campaign's: empty, 3 fds, hang up */
			wire_send_fds(fd, NULL, 0, fds, 3);
			break;
		case 1:		/* garbage with fds */
			wire_send_fds(fd, junk, sizeof(junk), fds, 3);
			break;
		case 2:		/* beyond CLIENT_MAX_FDS: cut off */
			wire_send_fds(fd, NULL, 0, fds, 12);
			break;
		case 3:		/* a request with fds, then more */
			wire_hdr(&h, PROTO_STATS);
			wire_send_fds(fd, &h, sizeof(h), fds, 2);
			wire_send_fds(fd, NULL, 0, fds, 1);
			break;
		case 4:		/* after HELLO */
			ck_assert_int_eq(wire_hello(fd, "churn", NULL, NULL),
					 0);
			wire_send_fds(fd, NULL, 0, fds, 3);
			break;
		}
		close(fd);
	}
	after = wait_fd_count(t.pid, before);
	fprintf(stderr, "fds churn: %u fds before, %u after 200 connections\n",
		before, after);
	ck_assert_msg(after == before,
		      "spanheapd holds %u fds after 200 connections, %u before",
		      after, before);
	/* The daemon still serves. */
	wire_alloc1(keep, 1);
	close(keep);
	close(null);
	test_daemon_stop(&t);
}
END_TEST

/* ---- logs a client drives ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * 500 connect, HELLO, hang-up cycles: the "connected" and "gone" lines
 * are rate-limited, each kind to LOG_LIMIT_BURST lines per window of
 * LOG_LIMIT_INTERVAL_NS, so the log grows by at most that over the time
 * the cycles took, not by a line per event (1000 lines before).
 */
START_TEST(test_churn_log_bounded)
{
	const uint64_t window_ms = LOG_LIMIT_INTERVAL_NS / 1000000;
	struct test_daemon t;
	unsigned int before, after, bound;
	uint64_t t0, elapsed;
	int keep;
	json_t *j;

	test_daemon_start(&t, NULL);
	keep = wire_open(t.sock, "watcher");
	before = test_file_lines(t.log);
	t0 = now_ms();
	for (int i = 0; i < 500; i++) {
		int fd = wire_open(t.sock, "churn");

		close(fd);
	}
	/* Every hang-up has been seen once only the watcher is left. */
	for (int i = 0; i < 3000; i++) {
		uint64_t n;

		j = wire_stats(keep);
		n = wire_json_u64(json_object_get(j, "clients"), "count");
		json_decref(j);
		if (n == 1)
			break;
		usleep(10000);
	}
	elapsed = now_ms() - t0;
	after = test_file_lines(t.log);
	/*
	 * Two kinds, each at most a burst in every window the cycles
	 * touched: windows last at least window_ms, so a stretch of
	 * elapsed ms meets at most elapsed / window_ms + 2 of them.
	 */
	bound = 2 * LOG_LIMIT_BURST * (unsigned int)(elapsed / window_ms + 2);
	fprintf(stderr, "churn: 500 cycles in %llu ms logged %u lines (bound %u)\n",
		(unsigned long long)elapsed, after - before, bound);
	ck_assert_msg(after - before <= bound,
		      "500 connections logged %u lines in %llu ms; want at most %u",
		      after - before, (unsigned long long)elapsed, bound);
	close(keep);
	test_daemon_stop(&t);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = tcase_create("receive");
	tcase_add_test(tc, test_fds_churn_daemon);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_add_test(tc, test_churn_log_bounded);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(client_suite)
