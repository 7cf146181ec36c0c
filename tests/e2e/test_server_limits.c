// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/server.c against the real spanheapd: the limits on
 * connections, --max-clients (a clear -EUSERS, the slot given back) and
 * the file descriptor limit (no spin, a bounded log, -EMFILE for those
 * turned away, accepting again as soon as fds free up).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

/* ---- max_clients ---- */

/* The connection at @fd was refused: a bare -EUSERS WELCOME, then EOF. */
static void assert_refused(int fd)
{
	union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX];
	} u;
	size_t n = wire_recv(fd, u.buf, sizeof(u.buf));

	ck_assert_uint_eq(n, sizeof(struct proto_hdr));
	ck_assert_uint_eq(u.hdr.magic, PROTO_MAGIC);
	ck_assert_uint_eq(u.hdr.version, PROTO_VERSION);
	ck_assert_uint_eq(u.hdr.type, PROTO_WELCOME);
	ck_assert_uint_eq(u.hdr.seq, 0);
	ck_assert_int_eq(u.hdr.status, -EUSERS);
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_HELLO, 0), 0);
	ck_assert(wire_closed(fd));
}

START_TEST(test_max_clients_refused)
{
	const char *args[] = { "--max-clients=3", NULL };
	struct test_daemon t;
	int fd[4];
	json_t *j, *c;

	test_daemon_start(&t, args);
	for (int i = 0; i < 3; i++)
		fd[i] = wire_open(t.sock, "max");
	fd[3] = wire_connect(t.sock);
	assert_refused(fd[3]);
	close(fd[3]);
	/* Connections that never said HELLO count as well. */
	close(fd[2]);
	j = wire_stats(fd[0]);
	json_decref(j);
	fd[2] = wire_connect(t.sock);
	fd[3] = wire_connect(t.sock);
	assert_refused(fd[3]);
	close(fd[3]);

	j = wire_stats(fd[0]);
	c = json_object_get(j, "clients");
	ck_assert_uint_eq(wire_json_u64(c, "refused"), 2);
	ck_assert_uint_eq(wire_json_u64(c, "max"), 3);
	ck_assert_uint_eq(wire_json_u64(c, "count"), 2);
	json_decref(j);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	test_daemon_stop(&t);
}
END_TEST

START_TEST(test_max_clients_slot_freed)
{
	const char *args[] = { "--max-clients=3", NULL };
	struct test_daemon t;
	int fd[3], extra;
	json_t *j;

	test_daemon_start(&t, args);
	for (int i = 0; i < 3; i++)
		fd[i] = wire_open(t.sock, "slot");
	extra = wire_connect(t.sock);
	assert_refused(extra);
	close(extra);

	/*
	 * After a round trip on another connection begun after the close,
	 * the daemon has seen it: both were ready before it answered.
	 */
	close(fd[1]);
	j = wire_stats(fd[0]);
	json_decref(j);
	fd[1] = wire_connect(t.sock);
	ck_assert_int_eq(wire_hello(fd[1], "slot-again", NULL, NULL), 0);
	wire_alloc1(fd[1], 1);

	extra = wire_connect(t.sock);
	assert_refused(extra);
	close(extra);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	test_daemon_stop(&t);
}
END_TEST

/* ---- out of file descriptors ---- */

/*
 * HELLO on a fresh connection @fd, then wait up to @ms for the answer.
 * Returns 0 if welcomed, the error status of a refusal (the connection
 * is then closed by the daemon), or 1 if nothing came.
 */
static int hello_within(int fd, int ms)
{
	union {
		struct proto_welcome w;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct proto_hello h;
	size_t n;
	int memfd;

	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
	memcpy(h.name, "nofile", 6);
	/* A refused connection may be gone before HELLO: that is fine. */
	send(fd, &h, sizeof(h), MSG_NOSIGNAL);
	if (poll(&p, 1, ms) != 1)
		return 1;
	n = wire_recv_fd(fd, u.buf, sizeof(u.buf), &memfd);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(proto_check_reply(u.buf, n, PROTO_HELLO, 0), 0);
	if (memfd >= 0)
		close(memfd);
	if (u.w.hdr.status == 0)
		return 0;
	ck_assert_uint_eq(n, sizeof(struct proto_hdr));
	ck_assert(wire_closed(fd));
	return u.w.hdr.status;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A child that connects to @path every 10 ms and holds the connection
 * (up to 50 at a time, then it closes the oldest), until killed.
 */
static pid_t connect_in_background(const char *path)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fds[50];

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		for (int i = 0; i < 50; i++)
			fds[i] = -1;
		for (unsigned int i = 0;; i++) {
			int *fd = &fds[i % 50];

			if (*fd >= 0)
				close(*fd);
			*fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
			if (*fd >= 0 && connect(*fd, (struct sockaddr *)&sa,
						sizeof(sa)) < 0) {
				close(*fd);
				*fd = -1;
			}
			usleep(10000);
		}
	}
	return pid;
}

/*
 * At its fd limit with connections waiting in the backlog, the daemon
 * must not spin on accept() (it used all of a CPU and logged ~10 MB/s of
 * "cannot accept"): it refuses the connections it cannot serve with a
 * clear -EMFILE, warns at a bounded rate, keeps serving its clients, and
 * accepts again once clients leave.
 */
START_TEST(test_nofile_no_spin)
{
	const struct test_daemon_opts opts = { .nofile = 40 };
	enum { MAX_KEPT = 64, WAITING = 30 };
	int kept[MAX_KEPT], waiting[WAITING], nkept = 0, refused = 1, fd, r;
	struct spanheap *h;
	pid_t connector;
	unsigned long long cpu0, cpu1;
	unsigned int lines0, lines1;
	uint64_t t0, t1, cpu_ms;
	struct stat st0, st1;
	struct test_daemon t;

	test_daemon_start_opts(&t, NULL, &opts);
	/* Connect until the daemon cannot take one more. */
	while (nkept < MAX_KEPT) {
		fd = wire_connect(t.sock);
		refused = hello_within(fd, 5000);
		if (refused) {
			close(fd);
			break;
		}
		kept[nkept++] = fd;
	}
	ck_assert_msg(nkept > 0 && nkept < MAX_KEPT,
		      "%d clients under RLIMIT_NOFILE %u", nkept, opts.nofile);
	/* More keep coming: they wait in the backlog. */
	for (int i = 0; i < WAITING; i++)
		waiting[i] = wire_connect(t.sock);
	connector = connect_in_background(t.sock);

	ck_assert_int_eq(stat(t.log, &st0), 0);
	lines0 = test_file_lines(t.log);
	cpu0 = test_cpu_ticks(t.pid);
	t0 = mono_ms();
	/* About 2 s, in which an old client is served as usual. */
	for (int i = 0; i < 10; i++) {
		json_t *j = wire_stats(kept[0]);

		json_decref(j);
		usleep(200000);
	}
	cpu1 = test_cpu_ticks(t.pid);
	t1 = mono_ms();
	lines1 = test_file_lines(t.log);
	ck_assert_int_eq(stat(t.log, &st1), 0);
	kill(connector, SIGKILL);
	ck_assert_int_eq(waitpid(connector, NULL, 0), connector);
	cpu_ms = (cpu1 - cpu0) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK);
	fprintf(stderr,
		"nofile: %d clients; over %llu ms the daemon used %llu ms of CPU (%.0f%%) and logged %u lines, %lld bytes\n",
		nkept, (unsigned long long)(t1 - t0),
		(unsigned long long)cpu_ms, 100.0 * (double)cpu_ms /
		(double)(t1 - t0), lines1 - lines0,
		(long long)(st1.st_size - st0.st_size));
	ck_assert_msg(cpu_ms * 2 < t1 - t0,
		      "spanheapd used %llu ms of CPU in %llu ms at EMFILE",
		      (unsigned long long)cpu_ms,
		      (unsigned long long)(t1 - t0));
	ck_assert_msg(lines1 - lines0 < 20, "%u lines logged at EMFILE",
		      lines1 - lines0);
	/* The one turned away was told why, and so is the library. */
	ck_assert_int_eq(refused, -EMFILE);
	ck_assert_int_eq(spanheap_connect(t.sock, &h), -EMFILE);

	/* Once clients leave, a new connection is served. */
	for (int i = 0; i < WAITING; i++)
		close(waiting[i]);
	for (int i = 0; i < 3; i++)
		close(kept[--nkept]);
	t0 = mono_ms();
	do {
		fd = wire_connect(t.sock);
		r = hello_within(fd, 30000);
		if (r)
			close(fd);
	} while (r == -EMFILE && mono_ms() - t0 < 30000);
	ck_assert_int_eq(r, 0);
	wire_alloc1(fd, 1);
	wire_alloc1(kept[0], 1);
	close(fd);
	for (int i = 0; i < nkept; i++)
		close(kept[i]);
	test_daemon_stop(&t);
}
END_TEST

static Suite *server_limits_suite(void)
{
	Suite *s = suite_create("server-limits");
	TCase *tc;

	tc = tcase_create("max_clients");
	tcase_add_test(tc, test_max_clients_refused);
	tcase_add_test(tc, test_max_clients_slot_freed);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("nofile");
	tcase_add_test(tc, test_nofile_no_spin);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(server_limits_suite)
