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
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/lib.h"
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
#define CPUS_ENV "BENCH_RTT_CPUS"

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

/*
 * span_request: single alloc and free round trips, alternating; the
 * median of all of them in ns, in @ret.
 */
static int bench_single(struct spanheap *h, uint64_t *ret)
{
	uint64_t *t = bench_samples_new(2 * SPAN_ROUNDS);
	struct spanheap_span s;
	int r = 0;

	if (!t)
		return -ENOMEM;
	for (int i = 0; i < SPAN_WARMUP + SPAN_ROUNDS; i++) {
		uint64_t t0, t1, t2;

		t0 = bench_now_ns();
		r = spanheap_span_alloc(h, 1, 0, &s);
		t1 = bench_now_ns();
		if (r < 0)
			break;
		r = spanheap_span_free(h, s.off);
		t2 = bench_now_ns();
		if (r < 0)
			break;
		if (i >= SPAN_WARMUP) {
			t[2 * (i - SPAN_WARMUP)] = t1 - t0;
			t[2 * (i - SPAN_WARMUP) + 1] = t2 - t1;
		}
	}
	if (!r)
		*ret = bench_median(t, 2 * SPAN_ROUNDS);
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
	uint64_t *get = bench_samples_new(OBJ_ROUNDS);
	uint64_t *pair = bench_samples_new(OBJ_ROUNDS);
	struct spanheap_obj o;
	int r = -ENOMEM;

	if (!get || !pair)
		goto out_free;
	r = obj_publish(h);
	for (int i = 0; r == 0 && i < OBJ_WARMUP + OBJ_ROUNDS; i++) {
		uint64_t t0, t1, t2;

		t0 = bench_now_ns();
		r = spanheap_obj_get(h, OBJ_NAME, 0, &o);
		t1 = bench_now_ns();
		if (r < 0)
			break;
		r = spanheap_obj_release(h, &o);
		t2 = bench_now_ns();
		if (i >= OBJ_WARMUP) {
			get[i - OBJ_WARMUP] = t1 - t0;
			pair[i - OBJ_WARMUP] = t2 - t0;
		}
	}
	if (r == 0)
		r = spanheap_obj_delete(h, OBJ_NAME);
	if (r == 0) {
		res->get = bench_median(get, OBJ_ROUNDS);
		res->get_release = bench_median(pair, OBJ_ROUNDS);
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

/* Print @what's error; return: 1, the exit code. */
static int fail(const char *what, int r)
{
	bench_warn(what, r);
	return 1;
}

/* Every figure measured through the daemon, on @h, into @res. */
static int bench_daemon(struct spanheap *h, struct bench_results *res)
{
	uint64_t batch;
	int r;

	r = bench_single(h, &res->single);
	if (r < 0)
		return bench_warn("single span requests", r);
	r = bench_time_median(batch_step, h, BATCH_WARMUP, BATCH_ROUNDS,
			      &batch);
	if (r < 0)
		return bench_warn("batch span requests", r);
	res->batch = (double)batch / (2 * BATCH);
	r = bench_obj_get(h, res);
	if (r < 0)
		return bench_warn("object gets", r);
	r = bench_time_median(cycle_step, h, CYCLE_WARMUP, CYCLE_ROUNDS,
			      &res->cycle);
	if (r < 0)
		return bench_warn("object cycles", r);
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
	const struct bench_raw_msg span_msg = {
		sizeof(struct proto_alloc), proto_alloc_reply_size(1)
	};
	const struct bench_raw_msg get_msg = {
		offsetof(struct proto_obj_get, name) + strlen(OBJ_NAME),
		sizeof(struct proto_obj_reply)
	};
	struct bench_results res;
	struct bench_daemon bd;
	struct spanheap *h;
	int client_cpu = -1, server_cpu = -1, r, stop;

	/*
	 * The request path is what this measures: no magazine, every span
	 * through the socket (bench_fast measures the magazine's).
	 */
	setenv(SPANHEAP_MAGAZINE_ENV, "0", 1);
	memset(&res, 0, sizeof(res));
	/* Try the server's CPU here first, to fail before anything starts. */
	r = parse_cpus(&client_cpu, &server_cpu);
	if (r == 0)
		r = bench_pin(server_cpu);
	if (r == 0)
		r = bench_pin(client_cpu);
	if (r < 0)
		return fail(CPUS_ENV " wants \"C,S\" (CPU numbers) or \"any\"",
			    r);
	r = bench_raw_rtt(&span_msg, server_cpu, RAW_WARMUP, RAW_ROUNDS,
			  &res.raw_span);
	if (r == 0)
		r = bench_raw_rtt(&get_msg, server_cpu, RAW_WARMUP,
				  RAW_ROUNDS, &res.raw_get);
	if (r < 0)
		return fail("raw seqpacket round trips", r);
	r = bench_daemon_start(&bd, server_cpu, &h);
	if (r < 0)
		return fail("starting spanheapd", r);
	r = bench_daemon(h, &res);
	/* Close first: the daemon then has no client left to clean up. */
	spanheap_close(h);
	stop = bench_daemon_stop(&bd);
	if (r < 0)
		return 1;
	if (stop < 0)
		return fail("stopping spanheapd", stop);
	print_results(&res);
	return 0;
}
