// SPDX-License-Identifier: MIT
/*
 * spanheapd's systemd protocol without systemd: the test plays the
 * service manager.  sd_notify: it binds its own datagram socket, points
 * NOTIFY_SOCKET (and WATCHDOG_USEC, WATCHDOG_PID) at it and reads what
 * the daemon says.  Socket activation: systemd-socket-activate passes
 * the listening socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

static char dir[64], sock[100], notify[100];
static int notify_fd = -1;

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	test_tmpdir(dir, sizeof(dir), "spanheap-sd");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	snprintf(notify, sizeof(notify), "%s/notify", dir);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(notify_fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", notify);
	ck_assert_int_eq(bind(notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void teardown(void)
{
	close(notify_fd);
	test_tmpdir_remove(dir);
}

/* The next notification, or "" after @ms without one. */
static const char *next_notify(int ms, char *buf, size_t len)
{
	struct pollfd p = { .fd = notify_fd, .events = POLLIN };
	ssize_t n;

	buf[0] = 0;
	if (poll(&p, 1, ms) != 1)
		return buf;
	n = recv(notify_fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* Wait up to @ms for a notification containing @what. */
static bool wait_notify(const char *what, int ms, char *buf, size_t len)
{
	for (int waited = 0; waited < ms; waited += 50)
		if (strstr(next_notify(50, buf, len), what))
			return true;
	return false;
}

static pid_t start(bool watchdog)
{
	char sockopt[128];
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char wpid[32];
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDERR_FILENO);
		setenv("NOTIFY_SOCKET", notify, 1);
		if (watchdog) {
			snprintf(wpid, sizeof(wpid), "%d", (int)getpid());
			setenv("WATCHDOG_USEC", "400000", 1);
			setenv("WATCHDOG_PID", wpid, 1);
		}
		snprintf(sockopt, sizeof(sockopt), "--socket=%s", sock);
		execl(test_daemon_bin(), "spanheapd", sockopt, "--arena-size=1G",
		      "--scavenge-after=100ms", "--gc-after=1h", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int stop(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

START_TEST(test_ready_status_stopping)
{
	struct spanheap *h;
	char buf[512];
	pid_t pid = start(false);
	int status;

	ck_assert_msg(wait_notify("READY=1", 10000, buf, sizeof(buf)),
		      "no READY=1");
	/* Ready means the socket listens and the arena is there. */
	ck_assert_int_eq(spanheap_connect(sock, &h), 0);
	ck_assert_msg(wait_notify("STATUS=in use ", 5000, buf, sizeof(buf)),
		      "no STATUS line");
	ck_assert_ptr_nonnull(strstr(buf, "idle "));
	ck_assert_ptr_nonnull(strstr(buf, "released "));
	ck_assert_ptr_nonnull(strstr(buf, "1 client"));
	spanheap_close(h);
	status = stop(pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(wait_notify("STOPPING=1", 2000, buf, sizeof(buf)),
		      "no STOPPING=1");
}
END_TEST

START_TEST(test_watchdog_pings)
{
	char buf[512];
	int pings = 0;
	pid_t pid = start(true);

	ck_assert(wait_notify("READY=1", 10000, buf, sizeof(buf)));
	/* WATCHDOG_USEC is 400 ms: a ping every 200 ms, ~10 in 2 s. */
	for (int i = 0; i < 80; i++)
		if (strstr(next_notify(25, buf, sizeof(buf)), "WATCHDOG=1"))
			pings++;
	ck_assert_int_ge(pings, 5);
	ck_assert_int_le(pings, 20);
	/* A stopped loop stops pinging. */
	kill(pid, SIGSTOP);
	while (*next_notify(100, buf, sizeof(buf)))
		;
	pings = 0;
	for (int i = 0; i < 20; i++)
		if (strstr(next_notify(50, buf, sizeof(buf)), "WATCHDOG=1"))
			pings++;
	ck_assert_int_eq(pings, 0);
	kill(pid, SIGCONT);
	ck_assert(wait_notify("WATCHDOG=1", 2000, buf, sizeof(buf)));
	ck_assert(WIFEXITED(stop(pid)));
}
END_TEST

START_TEST(test_no_watchdog_for_other_pid)
{
	char buf[512];
	pid_t pid = fork();
	int pings = 0;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char sockopt[128];

		setenv("NOTIFY_SOCKET", notify, 1);
		setenv("WATCHDOG_USEC", "200000", 1);
		setenv("WATCHDOG_PID", "1", 1);
		snprintf(sockopt, sizeof(sockopt), "--socket=%s", sock);
		execl(test_daemon_bin(), "spanheapd", sockopt, "--arena-size=1G",
		      (char *)NULL);
		_exit(127);
	}
	ck_assert(wait_notify("READY=1", 10000, buf, sizeof(buf)));
	for (int i = 0; i < 20; i++)
		if (strstr(next_notify(50, buf, sizeof(buf)), "WATCHDOG=1"))
			pings++;
	ck_assert_int_eq(pings, 0);
	stop(pid);
}
END_TEST

/* systemd-socket-activate passes the socket; --socket is then ignored. */
START_TEST(test_socket_activation)
{
	char ignored[128];
	struct spanheap *h = NULL;
	struct spanheap_span s;
	int status;
	pid_t pid;

	snprintf(ignored, sizeof(ignored), "--socket=%s/ignored.sock", dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDERR_FILENO);
		execlp("systemd-socket-activate", "systemd-socket-activate",
		       "--seqpacket", "-l", sock, test_daemon_bin(), ignored,
		       "--arena-size=1G", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && access(sock, F_OK); i++)
		usleep(10000);
	/* The first connection starts the daemon on the passed socket. */
	for (int i = 0; i < 500 && spanheap_connect(sock, &h); i++)
		usleep(20000);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(spanheap_span_alloc(h, 4, 0, &s), 0);
	memset(s.ptr, 1, 4 * 4096);
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	spanheap_close(h);
	ck_assert_int_ne(access(ignored + 9, F_OK), 0);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/*
 * A passed fd that is not a seqpacket listener is refused: the daemon
 * exits 1 and binds nothing else (not its --socket, which would be the
 * system's /run/spanheapd without one).
 */
START_TEST(test_activation_wrong_socket_type)
{
	char fallback[128], log[128], text[4096];
	int status, logfd;
	pid_t pid;
	FILE *f;
	size_t n;

	snprintf(fallback, sizeof(fallback), "--socket=%s/fallback.sock", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	logfd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(logfd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(logfd, STDERR_FILENO);
		/* Without --seqpacket: a SOCK_STREAM socket. */
		execlp("systemd-socket-activate", "systemd-socket-activate",
		       "-l", sock, test_daemon_bin(), fallback,
		       "--arena-size=1G", (char *)NULL);
		_exit(127);
	}
	close(logfd);
	for (int i = 0; i < 1000 && access(sock, F_OK); i++)
		usleep(10000);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa,
					 sizeof(sa)), 0);
		/* The daemon starts, refuses the socket and exits 1. */
		for (int i = 0; i < 300; i++) {
			char c;

			if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
				break;
			usleep(10000);
		}
		close(fd);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ck_assert_int_ne(access(fallback + 9, F_OK), 0);
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	ck_assert_msg(strstr(text, "not a listening AF_UNIX SOCK_SEQPACKET"),
		      "no reason given: %s", text);
}
END_TEST

static Suite *systemd_suite(void)
{
	Suite *s = suite_create("systemd");
	TCase *tc;

	tc = tcase_create("notify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ready_status_stopping);
	tcase_add_test(tc, test_watchdog_pings);
	tcase_add_test(tc, test_no_watchdog_for_other_pid);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("activation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_socket_activation);
	tcase_add_test(tc, test_activation_wrong_socket_type);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(systemd_suite)
