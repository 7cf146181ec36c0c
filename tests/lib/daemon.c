// SPDX-License-Identifier: MIT
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define MAX_ARGS 32

void test_socket_only(void)
{
	/* Called as a suite is made, outside any test case. */
	if (setenv(SPANHEAP_MAGAZINE_ENV, "0", 1) < 0) {
		perror("setenv " SPANHEAP_MAGAZINE_ENV);
		abort();
	}
}

const char *test_daemon_bin(void)
{
	const char *bin = getenv("SPANHEAPD");

	return bin && *bin ? bin : "build/spanheapd";
}

static pid_t spawn(const char *const *argv, int out_fd,
		   const struct test_daemon_opts *opts)
{
	static const struct test_daemon_opts none;
	pid_t pid;

	if (!opts)
		opts = &none;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit rl = { opts->nofile, opts->nofile };
		struct rlimit as = { opts->as_bytes, opts->as_bytes };

		if (out_fd >= 0) {
			dup2(out_fd, STDOUT_FILENO);
			dup2(out_fd, STDERR_FILENO);
		}
		if (opts->nofile && setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(126);
		if (opts->as_bytes && setrlimit(RLIMIT_AS, &as) < 0)
			_exit(126);
		if (opts->uid && (setgroups(0, NULL) < 0 ||
				  setresgid(opts->uid, opts->uid, opts->uid) < 0 ||
				  setresuid(opts->uid, opts->uid, opts->uid) < 0))
			_exit(126);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

/*
 * A daemon that does not exit: say where each of its threads is (the
 * kernel's view, then gdb's stacks if gdb is there) before the test
 * fails, so that a rare hang can be found from one CI log.
 */
static void dump_stuck(pid_t pid, const char *what)
{
	char path[64], exe[256] = "?", cmd[160];
	ssize_t n;
	DIR *dir;
	struct dirent *de;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 1] = '\0';
	fprintf(stderr, "spanheapd %d (%s) %s; its threads:\n", (int)pid, exe,
		what);
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	while (dir && (de = readdir(dir))) {
		char file[400], stat[512] = "", wchan[64] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/stat", path, de->d_name);
		f = fopen(file, "re");
		if (f && !fgets(stat, sizeof(stat), f))
			stat[0] = '\0';
		if (f)
			fclose(f);
		snprintf(file, sizeof(file), "%s/%s/wchan", path, de->d_name);
		f = fopen(file, "re");
		if (f && !fgets(wchan, sizeof(wchan), f))
			wchan[0] = '\0';
		if (f)
			fclose(f);
		fprintf(stderr, "  wchan %s stat %s", wchan, stat);
	}
	if (dir)
		closedir(dir);
	snprintf(cmd, sizeof(cmd),
		 "command -v gdb >/dev/null && gdb -batch -nx -p %d "
		 "-ex 'thread apply all bt' </dev/null >&2 2>&1", (int)pid);
	if (system(cmd) != 0)
		fprintf(stderr, "  (no stacks: gdb failed or is missing)\n");
}

bool test_can_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

void test_daemon_start(struct test_daemon *t, const char *const *args)
{
	test_daemon_start_opts(t, args, NULL);
}

void test_daemon_start_opts(struct test_daemon *t, const char *const *args,
			    const struct test_daemon_opts *opts)
{
	const char *argv[MAX_ARGS];
	char sockopt[160];
	int n = 0, fd, status;
	bool has_arena = false;

	memset(t, 0, sizeof(*t));
	test_tmpdir(t->dir, sizeof(t->dir), "spanheap-test");
	snprintf(t->sock, sizeof(t->sock), "%s/spanheapd.sock", t->dir);
	snprintf(t->log, sizeof(t->log), "%s/spanheapd.log", t->dir);
	snprintf(sockopt, sizeof(sockopt), "--socket=%s", t->sock);
	argv[n++] = test_daemon_bin();
	argv[n++] = sockopt;
	for (int i = 0; args && args[i]; i++) {
		ck_assert_int_lt(n, MAX_ARGS - 2);
		if (!strncmp(args[i], "--arena-size", 12))
			has_arena = true;
		argv[n++] = args[i];
	}
	if (!has_arena)
		argv[n++] = "--arena-size=1G";
	argv[n] = NULL;
	fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	t->pid = spawn(argv, fd, opts);
	close(fd);
	/* Up to 20 s: sanitizer builds start slowly on this VM. */
	for (int i = 0; i < 2000; i++) {
		if (test_can_connect(t->sock))
			return;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			ck_abort_msg("spanheapd exited at start; see %s", t->log);
		}
		usleep(10000);
	}
	dump_stuck(t->pid, "did not start listening in 20 s");
	kill(t->pid, SIGKILL);
	waitpid(t->pid, &status, 0);
	t->pid = 0;
	ck_abort_msg("spanheapd did not start listening; its threads' stacks "
		     "are on stderr; see %s", t->log);
}

/* Up to 60 s: a daemon under TSan on this VM exits in well under 10. */
#define EXIT_WAIT_MS 60000

int test_daemon_kill(struct test_daemon *t, int sig)
{
	int status = 0;
	pid_t r = 0;

	if (!t->pid)
		return -1;
	kill(t->pid, sig);
	for (int ms = 0; ms < EXIT_WAIT_MS && r == 0; ms += 10) {
		r = waitpid(t->pid, &status, WNOHANG);
		if (r < 0 && errno == EINTR)
			r = 0;
		if (r == 0)
			usleep(10000);
	}
	if (r == 0) {
		dump_stuck(t->pid, "did not exit 60 s after its signal");
		kill(t->pid, SIGKILL);
		waitpid(t->pid, &status, 0);
		t->pid = 0;
		ck_abort_msg("spanheapd did not exit after signal %d; its "
			     "threads' stacks are on stderr; see %s", sig,
			     t->log);
	}
	t->pid = 0;
	return status;
}

void test_daemon_stop(struct test_daemon *t)
{
	int status = test_daemon_kill(t, SIGTERM);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "spanheapd did not exit cleanly (status %#x); see %s",
		      status, t->log);
	/* The socket is gone with the daemon. */
	ck_assert_int_ne(access(t->sock, F_OK), 0);
	test_tmpdir_remove(t->dir);
}

unsigned int test_file_lines(const char *path)
{
	unsigned int lines = 0;
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

unsigned long long test_cpu_ticks(pid_t pid)
{
	unsigned long long utime, stime;
	char path[64], buf[1024], *p;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	/* The name in parentheses may hold anything: skip past its end. */
	p = strrchr(buf, ')');
	ck_assert_ptr_nonnull(p);
	/* Fields 3 to 13, then utime (14) and stime (15). */
	n = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &utime, &stime);
	ck_assert_int_eq(n, 2);
	return utime + stime;
}

uint64_t test_proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	uint64_t kib = UINT64_MAX;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			kib = strtoull(line + klen + 1, NULL, 10);
	fclose(f);
	ck_assert_msg(kib != UINT64_MAX, "no %s in %s", key, path);
	return kib * 1024;
}

int test_arena_fd(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int fd = -1;

	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir))) {
		char path[300], link[256];
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strstr(link, "memfd:spanheapd-arena")) {
			fd = atoi(e->d_name);
			break;
		}
	}
	closedir(dir);
	ck_assert_int_ge(fd, 0);
	return fd;
}

uint64_t test_arena_resident(void)
{
	struct stat st;

	ck_assert_int_eq(fstat(test_arena_fd(), &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

int test_daemon_run(const char *const *args, char *out, size_t outlen)
{
	return test_daemon_run_opts(args, NULL, out, outlen);
}

int test_daemon_run_opts(const char *const *args,
			 const struct test_daemon_opts *opts, char *out,
			 size_t outlen)
{
	const char *argv[MAX_ARGS];
	int pipefd[2], n = 0, status;
	size_t got = 0;
	pid_t pid;

	argv[n++] = test_daemon_bin();
	for (int i = 0; args && args[i] && n < MAX_ARGS - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid = spawn(argv, pipefd[1], opts);
	close(pipefd[1]);
	for (;;) {
		char sink[256];
		ssize_t r = read(pipefd[0], got + 1 < outlen ? out + got : sink,
				 got + 1 < outlen ? outlen - got - 1 : sizeof(sink));

		if (r <= 0)
			break;
		if (got + 1 < outlen)
			got += (size_t)r;
	}
	if (outlen)
		out[got] = 0;
	close(pipefd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
