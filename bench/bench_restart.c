// SPDX-License-Identifier: MIT
/*
 * Restart benchmark: how long a daemon killed with SIGKILL takes to
 * serve again when it adopts its arena from the fd store, with
 * tests/lib/svcmgr.c standing in for systemd (it keeps the stored fds
 * and starts the daemon with them and the activated socket, as PID 1
 * does).
 *
 * A 64 GiB arena holds 100k spans in use: four clients' spans of 1 to 8
 * pages, and 3000 sealed objects.  The daemon is killed, started again,
 * and the time is taken from the fork of the new daemon until a new
 * connection's first SPAN_ALLOC is answered (its HELLO included: the
 * activated socket queues the connection while the daemon starts).  The
 * median of ROUNDS restarts:
 *   BENCH restart_to_serving <ms>          (target <= 1000 ms)
 * and the adoption's phases, from the daemon's log line "checked the
 * stored heap ... heap_recover() N us, heap_check() in a child N us":
 *   BENCH restart_heap_recover <ms>, BENCH restart_heap_check <ms>
 * The same with 1k spans (30 of them objects), and their ratio, to show
 * that the work follows what is allocated, not the arena's size:
 *   BENCH restart_to_serving_1k <ms>
 *   RATIO restart_100k_vs_1k
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/lib.h"
#include "libclient/spanheap.h"
#include "tests/lib/svcmgr.h"

#define NCLIENTS 4
#define ROUNDS 3
#define PG 4096

static const char *const daemon_args[] = {
	"--arena-size=64G", "--reconnect-grace=1h", NULL,
};

/* What one restart took, in ns: to serving, and the two phases. */
struct restart_time {
	uint64_t serve, recover, check;
};

/* @n spans for @h, in batches of 64, of 1, 2, 4 and 8 pages in turn. */
static int fill_spans(struct spanheap *h, unsigned int n)
{
	static struct spanheap_span s[SPANHEAP_MAX_BATCH];
	unsigned int done = 0, b = 0;

	while (done < n) {
		unsigned int count = n - done < SPANHEAP_MAX_BATCH ?
				     n - done : SPANHEAP_MAX_BATCH;
		int r = spanheap_span_alloc_batch(h, (size_t)1 << (b++ % 4), 0,
						  count, s);

		if (r < 0)
			return bench_warn("SPAN_ALLOC", r);
		done += count;
	}
	return 0;
}

/* @n sealed objects of one page, made by a connection that then goes. */
static int fill_objects(const char *sock, unsigned int n)
{
	struct spanheap_obj o;
	struct spanheap *h;
	char name[32];
	int r;

	r = spanheap_connect(sock, &h);
	if (r < 0)
		return bench_warn("connect", r);
	for (unsigned int i = 0; i < n && r == 0; i++) {
		snprintf(name, sizeof(name), "bench-%u", i);
		r = spanheap_obj_create(h, name, PG, 0, &o);
		if (r == 0)
			r = spanheap_obj_seal(h, &o);
	}
	spanheap_close(h);
	return r < 0 ? bench_warn("an object", r) : 0;
}

/*
 * The phases of the daemon's last adoption, from its log, which must
 * have found at least @nspans spans in use.
 */
static int phases(const struct svcmgr *m, unsigned int nspans,
		  struct restart_time *t)
{
	unsigned long long rec = 0, chk = 0, spans = 0;
	char line[1024], *p;
	bool found = false;
	FILE *f = fopen(m->log, "r");

	if (!f)
		return bench_warn(m->log, -errno);
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "checked the stored heap (");
		if (p && sscanf(p, "checked the stored heap (%llu spans in use)",
				&spans) == 1 &&
		    (p = strstr(p, "heap_recover() ")) &&
		    sscanf(p, "heap_recover() %llu us, heap_check() in a child %llu us",
			   &rec, &chk) == 2)
			found = true;
	}
	fclose(f);
	if (!found || spans < nspans) {
		fprintf(stderr, "bench_restart: no adoption of %u spans in %s\n",
			nspans, m->log);
		return -ENOENT;
	}
	t->recover = rec * 1000;
	t->check = chk * 1000;
	return 0;
}

/* SIGKILL, start again, time until a new connection is served. */
static int restart_once(struct svcmgr *m, unsigned int nspans,
			struct restart_time *t)
{
	struct spanheap_span s;
	struct spanheap *h;
	uint64_t t0;
	int r;

	svcmgr_kill(m, SIGKILL);
	t0 = bench_now_ns();
	svcmgr_spawn(m, daemon_args);
	r = spanheap_connect(m->sock, &h);
	if (r < 0)
		return bench_warn("connect after the restart", r);
	r = spanheap_span_alloc(h, 1, 0, &s);
	t->serve = bench_now_ns() - t0;
	if (r == 0)
		r = spanheap_span_free(h, s.off);
	spanheap_close(h);
	if (r < 0)
		return bench_warn("SPAN_ALLOC after the restart", r);
	svcmgr_wait_ready(m);
	return phases(m, nspans, t);
}

/* The median restart with @nspans in use, @nobjects of them objects. */
static int measure(unsigned int nspans, unsigned int nobjects,
		   struct restart_time *ret)
{
	uint64_t serve[ROUNDS], rec[ROUNDS], chk[ROUNDS];
	struct spanheap *c[NCLIENTS] = { 0 };
	struct svcmgr m;
	int r = 0, i;

	svcmgr_init(&m);
	svcmgr_start(&m, daemon_args);
	r = fill_objects(m.sock, nobjects);
	for (i = 0; i < NCLIENTS && r == 0; i++) {
		r = spanheap_connect(m.sock, &c[i]);
		if (r == 0)
			r = fill_spans(c[i], (nspans - nobjects) / NCLIENTS +
				       (i < (int)((nspans - nobjects) % NCLIENTS)));
		else
			bench_warn("connect", r);
	}
	for (i = 0; i < ROUNDS && r == 0; i++) {
		struct restart_time t = { 0 };

		r = restart_once(&m, nspans, &t);
		serve[i] = t.serve;
		rec[i] = t.recover;
		chk[i] = t.check;
	}
	/* Their connections broke at the first kill: orphans since. */
	for (i = 0; i < NCLIENTS; i++)
		spanheap_close(c[i]);
	if (r == 0) {
		ret->serve = bench_median(serve, ROUNDS);
		ret->recover = bench_median(rec, ROUNDS);
		ret->check = bench_median(chk, ROUNDS);
	} else {
		fprintf(stderr, "bench_restart: the daemon's log is %s\n",
			m.log);
	}
	svcmgr_fini(&m);
	return r;
}

int main(void)
{
	struct restart_time big, small;

	/* The fill goes through the socket: batches of 64 spans. */
	setenv(SPANHEAP_MAGAZINE_ENV, "0", 1);
	if (measure(100000, 3000, &big) < 0 || measure(1000, 30, &small) < 0)
		return 1;
	printf("BENCH restart_to_serving %.1f ms\n", (double)big.serve / 1e6);
	printf("BENCH restart_heap_recover %.3f ms\n",
	       (double)big.recover / 1e6);
	printf("BENCH restart_heap_check %.1f ms\n", (double)big.check / 1e6);
	printf("BENCH restart_to_serving_1k %.1f ms\n",
	       (double)small.serve / 1e6);
	printf("RATIO restart_100k_vs_1k %.2f\n",
	       (double)big.serve / (double)small.serve);
	return 0;
}
