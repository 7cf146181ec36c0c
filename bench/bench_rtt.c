// SPDX-License-Identifier: MIT
/*
 * Request-path benchmark: what one span request, and one shared object
 * request, costs against the physical limit of one request on this
 * machine.
 *
 * The raw round trips are that limit: two processes on a SOCK_SEQPACKET
 * socketpair, the parent sending a request of some size and the child
 * answering with a reply of some size, both sides blocking in send and
 * recv.  Nothing is parsed, nothing is allocated.  rtt_raw_seqpacket
 * has the sizes of a SPAN_ALLOC and its one-span reply, rtt_raw_obj_get
 * those of an OBJ_GET of OBJ_NAME and its reply, so that each request
 * is held against datagrams of its own sizes.
 *
 * span_request is the real thing: build/spanheapd ($SPANHEAPD if set) on
 * a socket in a private temp dir, spoken to through libspanclient.  Each
 * spanheap_span_alloc() of one page and each spanheap_span_free() is
 * timed on its own, alternating, and the median of all of them is
 * reported.  Its ratio to the raw round trip is what the daemon, the
 * library and the event loop add to a request.
 *
 * span_batch64_per_span is one spanheap_span_alloc_batch() of 64 pages
 * plus one spanheap_span_free_batch() of them, two round trips in all,
 * divided by the 128 span operations they carry.
 *
 * The objects, on the same daemon.  One sealed object of one page,
 * whose creator has dropped its reference, as a publisher does; then
 * spanheap_obj_get() (a name lookup and a new reference record) and
 * spanheap_obj_release() (the record removed) of it, alternating.
 * obj_get is the median of the gets timed alone, held against
 * rtt_raw_obj_get in obj_get_vs_raw_rtt; obj_get_release the median of
 * the pairs, two round trips.  obj_cycle is the median of whole lives
 * of one object: create, seal, release of the creator's reference, get,
 * release, delete, the last of which frees it.  Six round trips, not
 * five: the creator's reference has to go too, or every cycle would
 * leave an object behind; six raw round trips make 6.0 in
 * obj_cycle_vs_raw_rtt.  Six round trips timed as one catch the slow
 * tail of the round trips' times more often than one does, so a cycle's
 * median is more than six medians of its requests.
 *
 * Every round trip (every batch pair, every cycle) is timed alone with
 * CLOCK_MONOTONIC (vDSO: no system call) and the median is taken, so a
 * preempted round trip or a scavenger tick does not move the figure.  Prints the BENCH and RATIO
 * lines; anything else goes to stderr.  Exits 1 if anything fails,
 * including the daemon not exiting 0 on SIGTERM.
 *
 * Placement.  A round trip costs several times more when the two ends
 * run on different CPUs (an idle CPU must be woken, which in a VM is an
 * exit to the host) than when they share one (a context switch).  Left
 * to itself the scheduler picks either, depending on what else runs, and
 * may pick differently for the raw pair and for the daemon, which makes
 * their ratio meaningless.  So both sides of both measurements run on
 * one CPU, the first this process may use: that measures what the
 * daemon and the library add, not how fast a CPU wakes up.
 * BENCH_RTT_CPUS=C,S puts the client side (this process) on CPU C and
 * the serving side (the raw peer, the daemon) on CPU S instead ("0,1":
 * across CPUs); BENCH_RTT_CPUS=any leaves both to the scheduler.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "proto/proto.h"

#define RAW_WARMUP 2000
#define RAW_ROUNDS 20000
#define SPAN_WARMUP 2000
#define SPAN_ROUNDS 20000	/* of each, alloc and free */
#define BATCH 64		/* SPANHEAP_MAX_BATCH: one round trip */
#define BATCH_WARMUP 200
#define BATCH_ROUNDS 2000
#define OBJ_WARMUP 2000
#define OBJ_ROUNDS 20000	/* gets, each with its release */
#define CYCLE_WARMUP 500
#define CYCLE_ROUNDS 5000
#define OBJ_NAME "bench.obj"	/* short, as most names are */
#define START_TRIES 1000	/* 10 ms apart: 10 s for the daemon to listen */
#define CPUS_ENV "BENCH_RTT_CPUS"
#define RAW_MAX 512		/* bytes of a raw request or reply, at most */

/* What a raw round trip sends: a request and a reply of these sizes. */
struct raw_msg {
	size_t req;
	size_t rep;
};

/* Every figure of one run, in ns. */
struct bench_results {
	uint64_t raw_span;	/* rtt_raw_seqpacket */
	uint64_t raw_get;	/* rtt_raw_obj_get */
	uint64_t single;	/* span_request */
	double batch;		/* span_batch64_per_span */
	uint64_t get;		/* obj_get */
	uint64_t get_release;	/* obj_get_release */
	uint64_t cycle;		/* obj_cycle */
};

struct bench_daemon {
	pid_t pid;
	char dir[64];		/* private temp directory */
	char sock[96];		/* dir/s.sock */
	char lock[104];		/* dir/s.sock.lock: the daemon's, left behind */
	char log[96];		/* dir/spanheapd.log: the daemon's output */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Pin the calling process to @cpu; -1 leaves it to the scheduler. */
static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/*
 * The CPUs of the client and the serving side, -1 for the scheduler's
 * choice, from $BENCH_RTT_CPUS (see the top of the file).
 */
static int parse_cpus(int *ret_client, int *ret_server)
{
	const char *env = getenv(CPUS_ENV);
	int c, s, end = 0;
	cpu_set_t set;

	if (env && !strcmp(env, "any")) {
		*ret_client = *ret_server = -1;
		return 0;
	}
	if (env && *env) {
		if (sscanf(env, "%d,%d%n", &c, &s, &end) != 2 || env[end] ||
		    c < 0 || s < 0 || c >= CPU_SETSIZE || s >= CPU_SETSIZE)
			return -EINVAL;
		*ret_client = c;
		*ret_server = s;
		return 0;
	}
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (c = 0; c < CPU_SETSIZE && !CPU_ISSET(c, &set); c++)
		;
	if (c == CPU_SETSIZE)
		return -ESRCH;
	*ret_client = *ret_server = c;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The median of @n samples; sorts them. */
static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* An array of @n samples, faulted in before anything is timed. */
static uint64_t *samples_new(size_t n)
{
	uint64_t *v = malloc(n * sizeof(*v));

	if (v)
		memset(v, 0, n * sizeof(*v));
	return v;
}

/*
 * Run @step @warmup + @rounds times, each timed alone, and stop at the
 * first error; the median of the last @rounds in ns, in @ret.
 */
static int time_median(int (*step)(void *ctx), void *ctx, int warmup,
		       int rounds, uint64_t *ret)
{
	uint64_t *t = samples_new((size_t)rounds);
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (int i = 0; i < warmup + rounds && !r; i++) {
		uint64_t t0 = now_ns();

		r = step(ctx);
		if (i >= warmup)
			t[i - warmup] = now_ns() - t0;
	}
	if (!r)
		*ret = median(t, (size_t)rounds);
	free(t);
	return r;
}

/*
 * The raw peer: answer every request of @m's size with a reply of its
 * size until the parent hangs up.
 */
static void __attribute__((noreturn))
raw_child(int fd, const struct raw_msg *m)
{
	unsigned char req[RAW_MAX + 1], rep[RAW_MAX];
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
	const struct raw_msg *m;
	unsigned char req[RAW_MAX];
	unsigned char rep[RAW_MAX + 1];
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

/*
 * The median raw round trip of @m's sizes in ns, in @ret; the peer runs
 * on @server_cpu, or where the scheduler puts it if -1.
 */
static int bench_raw(const struct raw_msg *m, int server_cpu, uint64_t *ret)
{
	struct raw_ctx c = { .m = m };
	int sv[2], status, r;
	pid_t pid;

	if (m->req > RAW_MAX || m->rep > RAW_MAX)
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
		if (pin(server_cpu) < 0)
			_exit(1);
		raw_child(sv[1], m);
	}
	close(sv[1]);
	c.fd = sv[0];
	r = time_median(raw_round_trip, &c, RAW_WARMUP, RAW_ROUNDS, ret);
	/* Hanging up ends the child. */
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!r && (!WIFEXITED(status) || WEXITSTATUS(status)))
		r = -EPROTO;
	return r;
}

static const char *daemon_bin(void)
{
	const char *bin = getenv("SPANHEAPD");

	return bin && *bin ? bin : "build/spanheapd";
}

/* Exec the daemon with its output in bd->log; runs in the child. */
static void __attribute__((noreturn))
daemon_exec(const struct bench_daemon *bd, int cpu)
{
	char sockopt[128];
	int fd;

	snprintf(sockopt, sizeof(sockopt), "--socket=%s", bd->sock);
	fd = open(bd->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0 || pin(cpu) < 0)
		_exit(127);
	execl(daemon_bin(), daemon_bin(), sockopt, "--arena-size=4G",
	      (char *)NULL);
	fprintf(stderr, "cannot run %s: %s\n", daemon_bin(), strerror(errno));
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
	fprintf(stderr, "bench_rtt: the log of %s:\n", daemon_bin());
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

/*
 * Start the daemon on a fresh temp dir, on @cpu unless -1, and connect
 * to it, retrying while the socket does not exist or does not listen yet.
 */
static int daemon_start(struct bench_daemon *bd, int cpu, struct spanheap **ret)
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
		daemon_exec(bd, cpu);
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

/* SIGTERM the daemon.  Return: 0 if it exited 0, else -EPROTO. */
static int daemon_stop(struct bench_daemon *bd)
{
	int r = 0;

	if (kill(bd->pid, SIGTERM) < 0)
		r = -errno;
	else
		r = daemon_wait(bd);
	if (r) {
		fprintf(stderr, "bench_rtt: %s did not exit 0 on SIGTERM: %d\n",
			daemon_bin(), r);
		daemon_show_log(bd);
		r = -EPROTO;
	}
	daemon_cleanup(bd);
	return r;
}

/*
 * span_request: single alloc and free round trips, alternating; the
 * median of all of them in ns, in @ret.
 */
static int bench_single(struct spanheap *h, uint64_t *ret)
{
	uint64_t *t = samples_new(2 * SPAN_ROUNDS);
	struct spanheap_span s;
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (int i = 0; i < SPAN_WARMUP + SPAN_ROUNDS; i++) {
		uint64_t t0, t1, t2;

		t0 = now_ns();
		r = spanheap_span_alloc(h, 1, 0, &s);
		t1 = now_ns();
		if (r < 0)
			break;
		r = spanheap_span_free(h, s.off);
		t2 = now_ns();
		if (r < 0)
			break;
		if (i >= SPAN_WARMUP) {
			t[2 * (i - SPAN_WARMUP)] = t1 - t0;
			t[2 * (i - SPAN_WARMUP) + 1] = t2 - t1;
		}
	}
	if (!r)
		*ret = median(t, 2 * SPAN_ROUNDS);
	free(t);
	return r;
}

/* span_batch64_per_span's step: BATCH pages allocated, then freed. */
static int batch_step(void *ctx)
{
	struct spanheap *h = ctx;
	struct spanheap_span s[BATCH];
	uint64_t offs[BATCH];
	int r;

	r = spanheap_span_alloc_batch(h, 1, 0, BATCH, s);
	if (r < 0)
		return r;
	for (int j = 0; j < BATCH; j++)
		offs[j] = s[j].off;
	return spanheap_span_free_batch(h, offs, BATCH);
}

/*
 * A sealed object of one page named OBJ_NAME, which nobody holds: its
 * creator has dropped its reference, as a publisher does.
 */
static int obj_publish(struct spanheap *h)
{
	struct spanheap_obj o;
	int r;

	r = spanheap_obj_create(h, OBJ_NAME, spanheap_page_size(h), 0, &o);
	if (r == 0)
		r = spanheap_obj_seal(h, &o);
	if (r == 0)
		r = spanheap_obj_release(h, &o);
	return r;
}

/*
 * obj_get and obj_get_release: gets of OBJ_NAME, each followed by the
 * release of its reference; the median of the gets and of the pairs in
 * ns, in @res.
 */
static int bench_obj_get(struct spanheap *h, struct bench_results *res)
{
	uint64_t *get = samples_new(OBJ_ROUNDS);
	uint64_t *pair = samples_new(OBJ_ROUNDS);
	struct spanheap_obj o;
	int r = -ENOMEM;

	if (!get || !pair)
		goto out_free;
	r = obj_publish(h);
	for (int i = 0; r == 0 && i < OBJ_WARMUP + OBJ_ROUNDS; i++) {
		uint64_t t0, t1, t2;

		t0 = now_ns();
		r = spanheap_obj_get(h, OBJ_NAME, 0, &o);
		t1 = now_ns();
		if (r < 0)
			break;
		r = spanheap_obj_release(h, &o);
		t2 = now_ns();
		if (i >= OBJ_WARMUP) {
			get[i - OBJ_WARMUP] = t1 - t0;
			pair[i - OBJ_WARMUP] = t2 - t0;
		}
	}
	if (r == 0)
		r = spanheap_obj_delete(h, OBJ_NAME);
	if (r == 0) {
		res->get = median(get, OBJ_ROUNDS);
		res->get_release = median(pair, OBJ_ROUNDS);
	}
out_free:
	free(get);
	free(pair);
	return r;
}

/* obj_cycle's step: one object's whole life, which leaves nothing. */
static int cycle_step(void *ctx)
{
	struct spanheap *h = ctx;
	struct spanheap_obj o;
	int r = obj_publish(h);

	if (r == 0)
		r = spanheap_obj_get(h, OBJ_NAME, 0, &o);
	if (r == 0)
		r = spanheap_obj_release(h, &o);
	if (r == 0)
		r = spanheap_obj_delete(h, OBJ_NAME);
	return r;
}

/* Print @what's error; return: @r. */
static int warn(const char *what, int r)
{
	fprintf(stderr, "bench_rtt: %s: %s\n", what, strerror(-r));
	return r;
}

static int fail(const char *what, int r)
{
	warn(what, r);
	return 1;
}

/* Every figure measured through the daemon, on @h, into @res. */
static int bench_daemon(struct spanheap *h, struct bench_results *res)
{
	uint64_t batch;
	int r;

	r = bench_single(h, &res->single);
	if (r < 0)
		return warn("single span requests", r);
	r = time_median(batch_step, h, BATCH_WARMUP, BATCH_ROUNDS, &batch);
	if (r < 0)
		return warn("batch span requests", r);
	res->batch = (double)batch / (2 * BATCH);
	r = bench_obj_get(h, res);
	if (r < 0)
		return warn("object gets", r);
	r = time_median(cycle_step, h, CYCLE_WARMUP, CYCLE_ROUNDS, &res->cycle);
	if (r < 0)
		return warn("object cycles", r);
	return 0;
}

static void print_results(const struct bench_results *res)
{
	printf("BENCH rtt_raw_seqpacket %llu ns\n",
	       (unsigned long long)res->raw_span);
	printf("BENCH span_request %llu ns\n", (unsigned long long)res->single);
	printf("RATIO span_request_vs_raw_rtt %.3f\n",
	       (double)res->single / (double)res->raw_span);
	printf("BENCH span_batch64_per_span %.1f ns\n", res->batch);
	printf("RATIO span_batch64_vs_single %.3f\n",
	       res->batch / (double)res->single);
	printf("BENCH rtt_raw_obj_get %llu ns\n",
	       (unsigned long long)res->raw_get);
	printf("BENCH obj_get %llu ns\n", (unsigned long long)res->get);
	printf("BENCH obj_get_release %llu ns\n",
	       (unsigned long long)res->get_release);
	printf("RATIO obj_get_vs_raw_rtt %.3f\n",
	       (double)res->get / (double)res->raw_get);
	printf("BENCH obj_cycle %llu ns\n", (unsigned long long)res->cycle);
	printf("RATIO obj_cycle_vs_raw_rtt %.3f\n",
	       (double)res->cycle / (double)res->raw_get);
}

int main(void)
{
	const struct raw_msg span_msg = {
		sizeof(struct proto_alloc), proto_alloc_reply_size(1)
	};
	const struct raw_msg get_msg = {
		offsetof(struct proto_obj_get, name) + strlen(OBJ_NAME),
		sizeof(struct proto_obj_reply)
	};
	struct bench_results res;
	struct bench_daemon bd;
	struct spanheap *h;
	int client_cpu = -1, server_cpu = -1, r, stop;

	memset(&res, 0, sizeof(res));
	/* Try the server's CPU here first, to fail before anything starts. */
	r = parse_cpus(&client_cpu, &server_cpu);
	if (r == 0)
		r = pin(server_cpu);
	if (r == 0)
		r = pin(client_cpu);
	if (r < 0)
		return fail(CPUS_ENV " wants \"C,S\" (CPU numbers) or \"any\"",
			    r);
	r = bench_raw(&span_msg, server_cpu, &res.raw_span);
	if (r == 0)
		r = bench_raw(&get_msg, server_cpu, &res.raw_get);
	if (r < 0)
		return fail("raw seqpacket round trips", r);
	r = daemon_start(&bd, server_cpu, &h);
	if (r < 0)
		return fail("starting spanheapd", r);
	r = bench_daemon(h, &res);
	/* Close first: the daemon then has no client left to clean up. */
	spanheap_close(h);
	stop = daemon_stop(&bd);
	if (r < 0)
		return 1;
	if (stop < 0)
		return fail("stopping spanheapd", stop);
	print_results(&res);
	return 0;
}
