// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/server.c against the real spanheapd over raw sockets:
 * the listening socket (its mode, group and directories, a second daemon,
 * a stale file, one daemon per path), the handshake that hands out the
 * sealed arena, errors at start, and shutdown on SIGTERM and SIGINT.
 * The limits on connections are in test_server_limits.c.
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

#define ARENA_1G (UINT64_C(1) << 30)

/*
 * Fork spanheapd on @sock with @args, its output to @log.  With a @gate
 * pipe the child waits to exec until its read end sees EOF, so that a
 * test can let two daemons go at once by closing the write end.
 */
static pid_t spawn_gated(const char *sock, const char *const *args,
			 const char *log, const int *gate)
{
	const char *argv[16];
	char sockopt[160];
	int n = 0, fd;
	pid_t pid;

	snprintf(sockopt, sizeof(sockopt), "--socket=%s", sock);
	argv[n++] = test_daemon_bin();
	argv[n++] = sockopt;
	argv[n++] = "--arena-size=64M";
	for (int i = 0; args && args[i]; i++) {
		ck_assert_int_lt(n, 15);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;

		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (gate) {
			close(gate[1]);
			if (read(gate[0], &c, 1) < 0)
				_exit(126);
		}
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fd);
	return pid;
}

static pid_t spawn_daemon(const char *sock, const char *const *args,
			  const char *log)
{
	return spawn_gated(sock, args, log, NULL);
}

/*
 * Start spanheapd on @sock, a path of the caller's choosing inside the
 * temp dir @dir, so that test_daemon_stop() works on @t as on one that
 * test_daemon_start() made.
 */
static void start_at(struct test_daemon *t, const char *dir, const char *sock,
		     const char *const *args)
{
	int status;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->sock, sizeof(t->sock), "%s", sock);
	snprintf(t->log, sizeof(t->log), "%s/spanheapd.log", dir);
	t->pid = spawn_daemon(sock, args, t->log);
	for (int i = 0; i < 2000; i++) {
		if (test_can_connect(t->sock))
			return;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			ck_abort_msg("spanheapd exited; see %s", t->log);
		}
		usleep(10000);
	}
	ck_abort_msg("spanheapd did not start listening; see %s", t->log);
}

/* The file at @path is a socket with permissions @mode. */
static void assert_socket_mode(const char *path, mode_t mode)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_msg((st.st_mode & 07777) == mode, "mode %o, want %o",
		      (unsigned int)(st.st_mode & 07777), (unsigned int)mode);
}

/* ---- hello ---- */

START_TEST(test_hello_welcome_with_sealed_memfd)
{
	struct test_daemon t;
	struct proto_welcome w;
	char link[PATH_MAX], proc[64];
	struct stat st;
	int fd, memfd, seals;
	ssize_t n;
	void *p;

	test_daemon_start(&t, NULL);
	fd = wire_connect(t.sock);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(wire_hello(fd, "hello-test", &w, &memfd), 0);
	ck_assert_uint_eq(w.hdr.seq, 0);
	ck_assert_uint_eq(w.page_size, 4096);
	ck_assert_uint_eq(w.max_batch, PROTO_MAX_BATCH);
	ck_assert_uint_eq(w.arena_size, ARENA_1G);
	ck_assert_uint_ne(w.client_id, 0);
	/* A HELLO that asks for no magazine gets none. */
	ck_assert_uint_eq(w.mag_size, 0);

	seals = fcntl(memfd, F_GET_SEALS);
	ck_assert_int_ge(seals, 0);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	/* Clients write their spans: the arena must stay writable. */
	ck_assert_int_eq(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE), 0);
	ck_assert_int_eq(fstat(memfd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, ARENA_1G);
	ck_assert_int_lt(ftruncate(memfd, 4096), 0);
	ck_assert_int_eq(errno, EPERM);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", memfd);
	n = readlink(proc, link, sizeof(link) - 1);
	ck_assert_int_gt(n, 0);
	link[n] = 0;
	ck_assert_msg(!strncmp(link, "/memfd:", 7), "not a memfd: %s", link);
	ck_assert_int_eq(fcntl(memfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	munmap(p, 4096);
	close(memfd);
	close(fd);
	test_daemon_stop(&t);
}
END_TEST

START_TEST(test_hello_client_ids_differ)
{
	struct test_daemon t;
	struct proto_welcome w[8];
	int fd[8];

	test_daemon_start(&t, NULL);
	for (int i = 0; i < 8; i++) {
		fd[i] = wire_connect(t.sock);
		ck_assert_int_eq(wire_hello(fd[i], "ids", &w[i], NULL), 0);
		ck_assert_uint_ne(w[i].client_id, 0);
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(w[i].client_id, w[j].client_id);
		/* Closing one must not let its id be handed out again. */
		if (i == 3)
			close(fd[0]);
	}
	for (int i = 1; i < 8; i++)
		close(fd[i]);
	test_daemon_stop(&t);
}
END_TEST

/* ---- socket ---- */

START_TEST(test_socket_default_mode)
{
	struct test_daemon t;

	test_daemon_start(&t, NULL);
	assert_socket_mode(t.sock, 0660);
	test_daemon_stop(&t);
}
END_TEST

START_TEST(test_socket_mode_option)
{
	static const struct {
		const char *arg;
		mode_t mode;
	} modes[] = {
		{ "--socket-mode=0600", 0600 },
		{ "--socket-mode=666", 0666 },
		{ "--socket-mode=0640", 0640 },
	};
	struct test_daemon t;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const char *args[] = { modes[i].arg, NULL };

		test_daemon_start(&t, args);
		assert_socket_mode(t.sock, modes[i].mode);
		test_daemon_stop(&t);
	}
}
END_TEST

START_TEST(test_socket_group_option)
{
	const char *args[] = { "--socket-group=4242", NULL };
	struct test_daemon t;
	struct stat st;

	if (geteuid() != 0)
		return;		/* only root may give the socket away */
	test_daemon_start(&t, args);
	ck_assert_int_eq(stat(t.sock, &st), 0);
	ck_assert_uint_eq(st.st_gid, 4242);
	assert_socket_mode(t.sock, 0660);
	test_daemon_stop(&t);
}
END_TEST

START_TEST(test_socket_creates_parent_dirs)
{
	struct test_daemon t;
	char dir[64], sock[128], sub[96];
	struct stat st;
	int fd;

	test_tmpdir(dir, sizeof(dir), "spanheap-srv");
	snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
	snprintf(sock, sizeof(sock), "%s/s.sock", sub);
	start_at(&t, dir, sock, NULL);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	fd = wire_open(sock, "parents");
	close(fd);
	test_daemon_stop(&t);
}
END_TEST

START_TEST(test_socket_second_daemon_refused)
{
	struct test_daemon t;
	char sockopt[160], out[4096];
	const char *args[] = { sockopt, "--arena-size=4M", NULL };
	struct stat before, after;
	int fd, code;
	json_t *j;

	test_daemon_start(&t, NULL);
	fd = wire_open(t.sock, "first");
	ck_assert_int_eq(stat(t.sock, &before), 0);
	snprintf(sockopt, sizeof(sockopt), "--socket=%s", t.sock);
	code = test_daemon_run(args, out, sizeof(out));
	ck_assert_msg(code != 0, "a second daemon started on %s", t.sock);
	ck_assert_msg(code < 128, "the second daemon crashed: %d: %s", code,
		      out);
	ck_assert_msg(strstr(out, "another spanheapd"),
		      "no clear reason: %s", out);
	/* The first still owns the path, and serves old and new clients. */
	ck_assert_int_eq(stat(t.sock, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	j = wire_stats(fd);
	json_decref(j);
	close(fd);
	fd = wire_open(t.sock, "after");
	close(fd);
	test_daemon_stop(&t);
}
END_TEST

START_TEST(test_socket_stale_replaced)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct test_daemon t;
	char dir[64], sock[100];
	struct stat st;
	int fd;

	test_tmpdir(dir, sizeof(dir), "spanheap-srv");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	close(fd);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert(!test_can_connect(sock));

	start_at(&t, dir, sock, NULL);
	fd = wire_open(sock, "stale");
	close(fd);
	assert_socket_mode(sock, 0660);
	test_daemon_stop(&t);
}
END_TEST

/* Something that is not a socket at the path is left alone. */
START_TEST(test_socket_not_a_socket_kept)
{
	char dir[64], sock[128], sockopt[160], out[4096];
	const char *args[] = { sockopt, "--arena-size=4M", NULL };
	struct stat st;
	int fd, code;

	test_tmpdir(dir, sizeof(dir), "spanheap-srv");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	snprintf(sockopt, sizeof(sockopt), "--socket=%s", sock);
	fd = open(sock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	close(fd);
	code = test_daemon_run(args, out, sizeof(out));
	ck_assert_msg(code != 0 && code < 128, "exit %d", code);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 4);
	test_tmpdir_remove(dir);
}
END_TEST

/* ---- one daemon per path ---- */

/* Wait up to @ms for @pid to exit; its status, or -1 if it still runs. */
static int wait_exit(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10000);
	}
	return -1;
}

/* Kill @pid if it still runs (a daemon that should have refused). */
static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The whole of the file at @path, in @buf. */
static void read_log(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, len - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = 0;
	close(fd);
}

/*
 * A daemon started on @sock must refuse: exit 1 within 30 s, and say
 * @word.  Returns its log in @out.
 */
static void assert_daemon_refuses(const char *sock, const char *log,
				  const char *word, char *out, size_t len)
{
	pid_t pid = spawn_daemon(sock, NULL, log);
	int status = wait_exit(pid, 30000);

	if (status == -1) {
		reap(pid);
		read_log(log, out, len);
		ck_abort_msg("a second spanheapd runs on %s: %s", sock, out);
	}
	read_log(log, out, len);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
		      "status %#x: %s", status, out);
	ck_assert_msg(strstr(out, word), "no clear reason ('%s'): %s", word,
		      out);
}

/* A socket of @type bound at @path, listening if @do_listen. */
static int bind_at(const char *path, int type, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (do_listen)
		ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

/* Does a SOCK_STREAM listener answer at @path? */
static bool stream_connects(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* The daemon holds "<socket>.lock", mode 0600, for its life only. */
START_TEST(test_lock_file)
{
	struct test_daemon t;
	char lock[160];
	struct stat st;
	int fd;

	test_daemon_start(&t, NULL);
	snprintf(lock, sizeof(lock), "%s.lock", t.sock);
	ck_assert_int_eq(stat(lock, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	fd = open(lock, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_lt(flock(fd, LOCK_EX | LOCK_NB), 0);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	ck_assert_int_eq(test_daemon_kill(&t, SIGTERM), 0);
	/* Released, and left in place: never unlinked. */
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	ck_assert_int_eq(stat(lock, &st), 0);
	test_tmpdir_remove(t.dir);
}
END_TEST

/*
 * Two daemons started at once on one path: one serves, the other says
 * another spanheapd serves the path and exits 1, and the first's socket
 * outlives it.  Before the lock, a daemon that found the other's socket
 * bound but not yet listening took it for stale and unlinked it, or the
 * two raced to bind.
 */
START_TEST(test_two_at_once)
{
	for (int round = 0; round < 10; round++) {
		char dir[64], sock[100], log[2][128], out[4096];
		int gate[2], status[2] = { -1, -1 }, winner = -1;
		struct stat st0, st1;
		struct test_daemon t;
		pid_t pid[2];
		int fd;

		test_tmpdir(dir, sizeof(dir), "spanheap-srv");
		snprintf(sock, sizeof(sock), "%s/s.sock", dir);
		ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
		for (int i = 0; i < 2; i++) {
			snprintf(log[i], sizeof(log[i]), "%s/%c.log", dir,
				 'a' + i);
			pid[i] = spawn_gated(sock, NULL, log[i], gate);
		}
		close(gate[0]);
		close(gate[1]);	/* go */
		/* One exits; the other listens. */
		for (int i = 0; i < 3000 && winner < 0; i++) {
			for (int k = 0; k < 2; k++)
				if (status[k] == -1 &&
				    waitpid(pid[k], &status[k], WNOHANG) == 0)
					status[k] = -1;
			if ((status[0] == -1) != (status[1] == -1) &&
			    test_can_connect(sock))
				winner = status[0] == -1 ? 0 : 1;
			else
				usleep(10000);
		}
		if (winner < 0) {
			for (int k = 0; k < 2; k++)
				if (status[k] == -1)
					reap(pid[k]);
			ck_abort_msg("round %d: statuses %#x %#x; see %s", round,
				     status[0], status[1], dir);
		}
		read_log(log[!winner], out, sizeof(out));
		ck_assert_msg(WIFEXITED(status[!winner]) &&
			      WEXITSTATUS(status[!winner]) == 1,
			      "round %d: the second: status %#x: %s", round,
			      status[!winner], out);
		ck_assert_msg(strstr(out, "another spanheapd"),
			      "round %d: no clear reason: %s", round, out);
		ck_assert_msg(strstr(out, sock), "round %d: no path: %s",
			      round, out);
		/* The first serves, on the socket it made. */
		memset(&t, 0, sizeof(t));
		snprintf(t.dir, sizeof(t.dir), "%s", dir);
		snprintf(t.sock, sizeof(t.sock), "%s", sock);
		snprintf(t.log, sizeof(t.log), "%s", log[winner]);
		t.pid = pid[winner];
		ck_assert_int_eq(stat(sock, &st0), 0);
		fd = wire_open(sock, "winner");
		wire_alloc1(fd, 1);
		close(fd);
		ck_assert_int_eq(stat(sock, &st1), 0);
		ck_assert_uint_eq(st0.st_ino, st1.st_ino);
		test_daemon_stop(&t);
	}
}
END_TEST

/*
 * While a daemon holds the lock, a socket at the path that nobody
 * listens on (as the first daemon's is between bind() and listen()) is
 * not the second daemon's to remove: it refuses and leaves it.  Nor does
 * the first, at exit, unlink a socket that is not the one it bound.
 */
START_TEST(test_locked_path_left_alone)
{
	char log2[160], out[4096];
	struct test_daemon t;
	struct stat st, now;
	int fd, status;

	test_daemon_start(&t, NULL);
	/* Someone removed its socket, and a bound one took the path. */
	ck_assert_int_eq(unlink(t.sock), 0);
	fd = bind_at(t.sock, SOCK_SEQPACKET, false);
	ck_assert_int_eq(stat(t.sock, &st), 0);
	ck_assert(!test_can_connect(t.sock));
	snprintf(log2, sizeof(log2), "%s/second.log", t.dir);
	assert_daemon_refuses(t.sock, log2, "another spanheapd", out,
			      sizeof(out));
	ck_assert_msg(strstr(out, t.sock), "the path is not named: %s", out);
	ck_assert_int_eq(stat(t.sock, &now), 0);
	ck_assert_uint_eq(now.st_ino, st.st_ino);
	/* The first exits cleanly and leaves the socket that is not its. */
	status = test_daemon_kill(&t, SIGTERM);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "status %#x", status);
	ck_assert_int_eq(stat(t.sock, &now), 0);
	ck_assert_uint_eq(now.st_ino, st.st_ino);
	close(fd);
	test_tmpdir_remove(t.dir);
}
END_TEST

/* A socket that replaced the daemon's is not unlinked at exit. */
START_TEST(test_replaced_socket_kept)
{
	struct test_daemon t;
	char moved[160];
	struct stat st, now;
	int fd, status;

	test_daemon_start(&t, NULL);
	snprintf(moved, sizeof(moved), "%s/moved.sock", t.dir);
	ck_assert_int_eq(rename(t.sock, moved), 0);
	fd = bind_at(t.sock, SOCK_SEQPACKET, true);
	ck_assert_int_eq(stat(t.sock, &st), 0);
	status = test_daemon_kill(&t, SIGTERM);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "status %#x", status);
	ck_assert_msg(stat(t.sock, &now) == 0 && now.st_ino == st.st_ino,
		      "the daemon unlinked a socket it did not bind");
	ck_assert(test_can_connect(t.sock));
	close(fd);
	test_tmpdir_remove(t.dir);
}
END_TEST

/*
 * Another program's SOCK_STREAM listener at the path: connect() with
 * SOCK_SEQPACKET fails (EPROTOTYPE), which is no sign of a stale file.
 * The daemon refuses and leaves it; before, it unlinked it and ran.
 */
START_TEST(test_stream_listener_kept)
{
	char dir[64], sock[100], log[128], out[4096];
	struct stat st, now;
	int fd;

	test_tmpdir(dir, sizeof(dir), "spanheap-srv");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	snprintf(log, sizeof(log), "%s/spanheapd.log", dir);
	fd = bind_at(sock, SOCK_STREAM, true);
	ck_assert_int_eq(stat(sock, &st), 0);
	assert_daemon_refuses(sock, log, "listens", out, sizeof(out));
	ck_assert_msg(strstr(out, sock), "the path is not named: %s", out);
	ck_assert_int_eq(stat(sock, &now), 0);
	ck_assert_uint_eq(now.st_ino, st.st_ino);
	ck_assert(stream_connects(sock));
	close(fd);
	test_tmpdir_remove(dir);
}
END_TEST

/* ---- shutdown ---- */

static void assert_clean_exit(struct test_daemon *t, int sig)
{
	char sock[sizeof(t->sock)], dir[sizeof(t->dir)];
	int status;

	snprintf(sock, sizeof(sock), "%s", t->sock);
	snprintf(dir, sizeof(dir), "%s", t->dir);
	status = test_daemon_kill(t, sig);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "spanheapd after signal %d: status %#x; see %s", sig,
		      status, t->log);
	ck_assert_msg(access(sock, F_OK) < 0 && errno == ENOENT,
		      "%s left behind", sock);
	test_tmpdir_remove(dir);
}

START_TEST(test_sigterm_exits_0)
{
	struct test_daemon t;
	int fd;

	test_daemon_start(&t, NULL);
	fd = wire_open(t.sock, "idle");
	assert_clean_exit(&t, SIGTERM);
	ck_assert(wire_closed(fd));
	close(fd);
}
END_TEST

START_TEST(test_sigint_exits_0)
{
	struct test_daemon t;

	test_daemon_start(&t, NULL);
	assert_clean_exit(&t, SIGINT);
}
END_TEST

START_TEST(test_sigterm_with_spans_held)
{
	struct test_daemon t;
	struct proto_alloc_reply rep;
	struct proto_hdr hdr;
	int fd[4], sent = 0;

	test_daemon_start(&t, NULL);
	for (int i = 0; i < 3; i++) {
		fd[i] = wire_open(t.sock, "holder");
		ck_assert_int_eq(wire_alloc(fd[i], 1 + (uint64_t)i * 7,
					    PROTO_MAX_BATCH, 0, &rep), 0);
		wire_alloc1(fd[i], 300);
	}
	/* One more that holds spans and has unread replies queued. */
	fd[3] = wire_open(t.sock, "flooder");
	wire_alloc1(fd[3], 2);
	wire_hdr(&hdr, PROTO_STATS);
	while (sent < 10000 && send(fd[3], &hdr, sizeof(hdr),
				    MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		sent++;
	ck_assert_int_gt(sent, 0);
	assert_clean_exit(&t, SIGTERM);
	for (int i = 0; i < 4; i++)
		close(fd[i]);
}
END_TEST

/* A SIGTERM while the scavenger thread works for a client. */
START_TEST(test_sigterm_during_scavenge)
{
	const uint64_t pages = 16384;	/* 64 MiB */
	struct test_daemon t;
	struct proto_hdr h;
	int fd, memfd;
	uint64_t off;
	void *base;

	test_daemon_start(&t, NULL);
	fd = wire_connect(t.sock);
	ck_assert_int_eq(wire_hello(fd, "scavenging", NULL, &memfd), 0);
	off = wire_alloc1(fd, pages);
	base = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
		    memfd, (off_t)off);
	ck_assert_ptr_ne(base, MAP_FAILED);
	memset(base, 1, pages * 4096);
	munmap(base, pages * 4096);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	wire_hdr(&h, PROTO_SCAVENGE);
	wire_send(fd, &h, sizeof(h));
	assert_clean_exit(&t, SIGTERM);
	close(memfd);
	close(fd);
}
END_TEST

/*
 * The daemon answers connections only once it will also shut down
 * cleanly: a SIGTERM right after the first successful connect must end
 * it with status 0 and no socket file, never kill it outright.
 */
START_TEST(test_sigterm_right_after_start)
{
	for (int round = 0; round < 50; round++) {
		char dir[64], sock[128], log[128];
		struct timespec t0, now;
		struct test_daemon t;
		int status;
		pid_t pid;

		test_tmpdir(dir, sizeof(dir), "spanheap-srv");
		snprintf(sock, sizeof(sock), "%s/s.sock", dir);
		snprintf(log, sizeof(log), "%s/spanheapd.log", dir);
		pid = spawn_daemon(sock, NULL, log);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (!test_can_connect(sock)) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			ck_assert_msg(now.tv_sec - t0.tv_sec < 20,
				      "spanheapd did not start; see %s", log);
			ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
		}
		/* A bounded wait, which shows the daemon's stacks if it hangs. */
		t = (struct test_daemon){ .pid = pid };
		snprintf(t.log, sizeof(t.log), "%s", log);
		status = test_daemon_kill(&t, SIGTERM);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "round %d: SIGTERM just after listen: status %#x",
			      round, status);
		ck_assert_msg(access(sock, F_OK) < 0, "round %d: %s left",
			      round, sock);
		test_tmpdir_remove(dir);
	}
}
END_TEST

/*
 * A user who runs spanheapd without --socket learns why the default
 * cannot be theirs and what to pass instead.
 */
START_TEST(test_user_needs_socket)
{
	const char *args[] = { "--arena-size=4M", NULL };
	struct test_daemon_opts o = { .uid = 65534 };	/* nobody */
	static char out[4096];

	ck_assert_int_eq(test_daemon_run_opts(args, &o, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "/run/spanheapd") &&
		      strstr(out, "as a user, give --socket=PATH"),
		      "no reason given: %s", out);
}
END_TEST

/* An arena the address space cannot hold names its size and the option. */
START_TEST(test_arena_too_big)
{
	char sock[128], size[64] = "--arena-size=1T";
	const char *args[] = { sock, size, NULL };
	const char *small[] = { "--arena-size=4M", NULL };
	const char *want = "cannot create the arena of 1.0 TiB";
	struct test_daemon_opts o;
	struct test_daemon t;
	static char out[4096];
	int code;

	/*
	 * Room for what the daemon maps besides its arena (a sanitizer's
	 * shadow included, which needs terabytes of address space), with
	 * 4 GiB to spare, but not for an arena of 1 TiB.
	 */
	test_daemon_start(&t, small);
	o = (struct test_daemon_opts){ .as_bytes = test_proc_status(t.pid, "VmSize") +
						   (UINT64_C(4) << 30) };
	test_daemon_stop(&t);
	snprintf(sock, sizeof(sock), "--socket=/tmp/spanheap-as.%d.sock",
		 (int)getpid());
	code = test_daemon_run_opts(args, &o, out, sizeof(out));
	if (code != 1 && strstr(out, "ThreadSanitizer")) {
		/*
		 * ThreadSanitizer refuses to run under any RLIMIT_AS, but
		 * leaves programs less than 4 TiB of address space: the
		 * largest arena there is cannot be mapped.
		 */
		snprintf(size, sizeof(size), "--arena-size=4T");
		want = "cannot create the arena of 4.0 TiB";
		code = test_daemon_run_opts(args, NULL, out, sizeof(out));
	}
	ck_assert_msg(code == 1, "exit %d: %s", code, out);
	ck_assert_msg(strstr(out, want) &&
		      strstr(out, "choose a smaller --arena-size"),
		      "unclear: %s", out);
	unlink(sock + 9);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc;

	tc = tcase_create("hello");
	tcase_add_test(tc, test_hello_welcome_with_sealed_memfd);
	tcase_add_test(tc, test_hello_client_ids_differ);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("socket");
	tcase_add_test(tc, test_socket_default_mode);
	tcase_add_test(tc, test_socket_mode_option);
	tcase_add_test(tc, test_socket_group_option);
	tcase_add_test(tc, test_socket_creates_parent_dirs);
	tcase_add_test(tc, test_socket_second_daemon_refused);
	tcase_add_test(tc, test_socket_stale_replaced);
	tcase_add_test(tc, test_socket_not_a_socket_kept);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("one_per_path");
	tcase_add_test(tc, test_lock_file);
	tcase_add_test(tc, test_two_at_once);
	tcase_add_test(tc, test_locked_path_left_alone);
	tcase_add_test(tc, test_replaced_socket_kept);
	tcase_add_test(tc, test_stream_listener_kept);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_user_needs_socket);
	tcase_add_test(tc, test_arena_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_add_test(tc, test_sigterm_exits_0);
	tcase_add_test(tc, test_sigint_exits_0);
	tcase_add_test(tc, test_sigterm_with_spans_held);
	tcase_add_test(tc, test_sigterm_during_scavenge);
	tcase_add_test(tc, test_sigterm_right_after_start);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(server_suite)
