// SPDX-License-Identifier: MIT
/*
 * The benchmarks' shared pieces (see bench/lib.h): clock, medians,
 * placement, the raw round trip, the daemon's start and stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/lib.h"
#include "libclient/spanheap.h"

#define START_TRIES 1000	/* 10 ms apart: 10 s for the daemon to listen */

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

uint64_t bench_median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

uint64_t *bench_samples_new(size_t n)
{
	uint64_t *v = malloc(n * sizeof(*v));

	if (v)
		memset(v, 0, n * sizeof(*v));
	return v;
}

int bench_time_median(int (*step)(void *ctx), void *ctx, int warmup,
		      int rounds, uint64_t *ret)
{
	uint64_t *t = bench_samples_new((size_t)rounds);
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (int i = 0; i < warmup + rounds && !r; i++) {
		uint64_t t0 = bench_now_ns();

		r = step(ctx);
		if (i >= warmup)
			t[i - warmup] = bench_now_ns() - t0;
	}
	if (!r)
		*ret = bench_median(t, (size_t)rounds);
	free(t);
	return r;
}

int bench_warn(const char *what, int r)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		strerror(r < 0 ? -r : r));
	return r;
}

/*
 * The raw peer: answer every request of @m's size with a reply of its
 * size until the parent hangs up.
 */
static void __attribute__((noreturn))
raw_child(int fd, const struct bench_raw_msg *m)
{
	unsigned char req[BENCH_RAW_MAX + 1], rep[BENCH_RAW_MAX];
	ssize_t n;

	memset(rep, 0, sizeof(rep));
	for (;;) {
		n = recv(fd, req, sizeof(req), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			_exit(0);
		if (n != (ssize_t)m->req)
			_exit(1);
		n = send(fd, rep, m->rep, MSG_NOSIGNAL);
		if (n != (ssize_t)m->rep)
			_exit(1);
	}
}

/* A raw round trip's state. */
struct raw_ctx {
	int fd;
	const struct bench_raw_msg *m;
	unsigned char req[BENCH_RAW_MAX];
	unsigned char rep[BENCH_RAW_MAX + 1];
};

/* One raw round trip.  Return: 0, or -errno (-EBADMSG for a short one). */
static int raw_round_trip(void *ctx)
{
	struct raw_ctx *c = ctx;
	ssize_t n;

	n = send(c->fd, c->req, c->m->req, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)c->m->req)
		return -EBADMSG;
	n = recv(c->fd, c->rep, sizeof(c->rep), 0);
	if (n < 0)
		return -errno;
	return n == (ssize_t)c->m->rep ? 0 : -EBADMSG;
}

int bench_raw_rtt(const struct bench_raw_msg *m, int server_cpu, int warmup,
		  int rounds, uint64_t *ret)
{
	struct raw_ctx c = { .m = m };
	int sv[2], status, r;
	pid_t pid;

	if (m->req > BENCH_RAW_MAX || m->rep > BENCH_RAW_MAX)
		return -EMSGSIZE;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		if (bench_pin(server_cpu) < 0)
			_exit(1);
		raw_child(sv[1], m);
	}
	close(sv[1]);
	c.fd = sv[0];
	r = bench_time_median(raw_round_trip, &c, warmup, rounds, ret);
	/* Hanging up ends the child. */
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!r && (!WIFEXITED(status) || WEXITSTATUS(status)))
		r = -EPROTO;
	return r;
}

const char *bench_daemon_bin(void)
{
	const char *bin = getenv("SPANHEAPD");

	return bin && *bin ? bin : "build/spanheapd";
}

/* Exec the daemon with its output in bd->log; runs in the child. */
static void __attribute__((noreturn))
daemon_exec(const struct bench_daemon *bd, int cpu, const char *const *args)
{
	const char *argv[BENCH_DAEMON_ARGS_MAX + 4];
	char sockopt[128];
	int fd, n = 0;

	snprintf(sockopt, sizeof(sockopt), "--socket=%s", bd->sock);
	fd = open(bd->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0 || bench_pin(cpu) < 0)
		_exit(127);
	argv[n++] = bench_daemon_bin();
	argv[n++] = sockopt;
	argv[n++] = "--arena-size=4G";
	for (int i = 0; args && args[i] && i < BENCH_DAEMON_ARGS_MAX; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	execv(bench_daemon_bin(), (char *const *)(uintptr_t)argv);
	fprintf(stderr, "cannot run %s: %s\n", bench_daemon_bin(),
		strerror(errno));
	_exit(127);
}

/* Copy the daemon's log to stderr, before it goes with the temp dir. */
static void daemon_show_log(const struct bench_daemon *bd)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(bd->log, "r");

	if (!f)
		return;
	fprintf(stderr, "%s: the log of %s:\n", program_invocation_short_name,
		bench_daemon_bin());
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Remove the temp dir and what the daemon may have left in it. */
static void daemon_cleanup(struct bench_daemon *bd)
{
	unlink(bd->log);
	unlink(bd->sock);
	unlink(bd->lock);
	rmdir(bd->dir);
}

/* Wait for the daemon; return: its exit code, 128 + signal, or -errno. */
static int daemon_wait(struct bench_daemon *bd)
{
	int status;

	while (waitpid(bd->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	bd->pid = 0;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Has the daemon exited already?  Reaps it if so. */
static bool daemon_gone(struct bench_daemon *bd)
{
	int status;

	if (waitpid(bd->pid, &status, WNOHANG) != bd->pid)
		return false;
	bd->pid = 0;
	return true;
}

int bench_daemon_start(struct bench_daemon *bd, int cpu,
		       struct spanheap **ret)
{
	return bench_daemon_start_args(bd, cpu, NULL, ret);
}

int bench_daemon_start_args(struct bench_daemon *bd, int cpu,
			    const char *const *args, struct spanheap **ret)
{
	int r = -ETIMEDOUT;

	memset(bd, 0, sizeof(*bd));
	snprintf(bd->dir, sizeof(bd->dir), "/tmp/spanheap-bench.XXXXXX");
	if (!mkdtemp(bd->dir))
		return -errno;
	snprintf(bd->sock, sizeof(bd->sock), "%s/s.sock", bd->dir);
	snprintf(bd->lock, sizeof(bd->lock), "%s.lock", bd->sock);
	snprintf(bd->log, sizeof(bd->log), "%s/spanheapd.log", bd->dir);
	bd->pid = fork();
	if (bd->pid < 0) {
		r = -errno;
		goto out_rmdir;
	}
	if (bd->pid == 0)
		daemon_exec(bd, cpu, args);
	for (int i = 0; i < START_TRIES; i++) {
		r = spanheap_connect(bd->sock, ret);
		if (r == 0)
			return 0;
		if (r != -ENOENT && r != -ECONNREFUSED)
			break;
		if (daemon_gone(bd)) {
			r = -ECHILD;
			break;
		}
		usleep(10000);
	}
	if (bd->pid) {
		kill(bd->pid, SIGKILL);
		daemon_wait(bd);
	}
	daemon_show_log(bd);
out_rmdir:
	daemon_cleanup(bd);
	return r;
}

int bench_daemon_stop(struct bench_daemon *bd)
{
	int r = 0;

	if (kill(bd->pid, SIGTERM) < 0)
		r = -errno;
	else
		r = daemon_wait(bd);
	if (r) {
		fprintf(stderr, "%s: %s did not exit 0 on SIGTERM: %d\n",
			program_invocation_short_name, bench_daemon_bin(), r);
		daemon_show_log(bd);
		r = -EPROTO;
	}
	daemon_cleanup(bd);
	return r;
}
