// SPDX-License-Identifier: MIT
/*
 * The scavenger timer and the GC pass, on the event loop.  The decisions
 * and the bookkeeping are shm/scav.c's (see its design comment); this file
 * drives them: a libevent timer ticks, a tick may force a GC pass, then a
 * release pass runs in steps of a few MiB, each step a separate event so
 * client requests are served between steps.  When a pass ends: the trace
 * lines (--trace), the stats file and the systemd status line.
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"

static uint64_t clock_now(void *ctx)
{
	(void)ctx;
	return daemon_now();
}

/* The seed's trace lines go to stderr as they are, no priority prefix. */
static void trace(struct daemon *d, const char *line)
{
	if (d->trace)
		fprintf(stderr, "%s\n", line);
}

/* Has the process that opened this connection exited? */
static bool client_departed(const struct client *c)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };

	return c->pidfd >= 0 && poll(&p, 1, 0) == 1;
}

uint64_t scavenger_gc(struct daemon *d, bool forced, struct client *except)
{
	uint64_t t0 = daemon_now(), freed = 0;
	struct client *c, *next;

	/*
	 * Clients whose socket closed were freed at once; here go those
	 * whose process died while a child kept the socket open.
	 */
	for (c = TAILQ_FIRST(&d->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c == except || !client_departed(c))
			continue;
		log_info("gc: client %u (pid %d) has exited with its socket still open",
			 c->id, (int)c->cred.pid);
		freed += c->owner.nspans;
		client_destroy(c);
	}
	/* Spans are stamped unused when freed; what is left is to verify. */
	daemon_heap_lock(d);
	heap_check(d->heap);
	scav_gc_record(&d->scav, t0, daemon_now(), forced);
	daemon_heap_unlock(d);
	return freed;
}

static void pass_done(struct daemon *d)
{
	struct heap_stats st;
	char line[256];

	daemon_heap_lock(d);
	heap_stats(d->heap, &st);
	daemon_heap_unlock(d);
	if (d->scav.released_last) {
		scav_trace_released(line, sizeof(line), d->pass_tick,
				    d->scav.released_last);
		trace(d, line);
	}
	scav_trace_summary(line, sizeof(line), d->pass_tick, &st);
	trace(d, line);
	stats_publish(d);
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	static const struct timeval now = { 0, 0 };
	bool done;

	(void)fd, (void)what;
	daemon_heap_lock(d);
	done = scav_pass_step(&d->scav, d->heap);
	daemon_heap_unlock(d);
	if (done)
		pass_done(d);
	else
		event_add(d->ev_step, &now);	/* after pending I/O */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t k = d->scav.ticks++;
	char line[64];

	(void)fd, (void)what;
	if (scav_gc_due(&d->scav)) {
		scavenger_gc(d, true, NULL);
		scav_trace_forced(line, sizeof(line), k);
		trace(d, line);
	}
	if (d->scav.in_pass)
		return;		/* the last pass is still going */
	d->pass_tick = k;
	scav_pass_begin(&d->scav);
	on_step(-1, 0, d);
}

int scavenger_start(struct daemon *d)
{
	struct scav_config cfg = {
		.scavenge_after_ns = d->opt.scavenge_after_ns,
		.gc_after_ns = d->opt.gc_after_ns,
		.chunk_bytes = SCAV_CHUNK_DEFAULT,
		.now = clock_now,
	};
	uint64_t tick;
	struct timeval tv;
	const char *env = getenv("SPANHEAPD_TRACE");

	d->trace = d->opt.trace || (env && atoi(env) > 0);
	scav_init(&d->scav, &cfg);
	tick = scav_tick_ns(&cfg);
	tv.tv_sec = (time_t)(tick / 1000000000);
	tv.tv_usec = (suseconds_t)(tick % 1000000000 / 1000);
	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1;
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	d->ev_step = evtimer_new(d->base, on_step, d);
	if (!d->ev_tick || !d->ev_step || event_add(d->ev_tick, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void scavenger_stop(struct daemon *d)
{
	if (d->ev_tick)
		event_free(d->ev_tick);
	if (d->ev_step)
		event_free(d->ev_step);
	d->ev_tick = d->ev_step = NULL;
}
