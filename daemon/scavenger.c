// SPDX-License-Identifier: MIT
/*
 * The scavenger on the daemon: a libevent timer on the loop thread, and a
 * helper thread that runs release passes.  The decisions and bookkeeping
 * are shm/scav.c's (see its design comment); this file drives them.
 *
 * Loop thread: each tick may force a GC pass (hooks.gc: the connection
 * code frees departed clients, then scavenger_gc_record() checks the
 * heap), then asks the helper for a pass.  A SCAVENGE request asks for a
 * forced pass (scavenger_force()); its reply waits until a forced pass
 * that started after the request has ended.  When a pass ends the helper
 * wakes the loop (ev_done), which prints the trace lines, tells the
 * layers above (hooks.forced_done: they answer the waiting clients;
 * hooks.publish: the stats file and the systemd status line).  This file
 * knows no client.
 *
 * Helper thread: takes runs out of the heap under the heap lock, punches
 * them without it, returns them under it.  So client requests never wait
 * for a system call of the scavenger, only for a few microseconds of
 * bookkeeping; the exception is the stray sweep at the end of each pass,
 * which punches pages no span holds under the lock, 1 MiB (~0.2 ms) at a
 * time.  When a client is destroyed, the spans it held are queued and
 * the helper releases them at once (JOB_DEPARTED): they are the pages
 * still charged to a memory cgroup that may have no task left.
 *
 * Lock order: s->job_lock, then the heap lock; never the other way.
 *
 * Stopping.  The loop thread waits for the helper (pthread_join) only
 * after the loop has ended, and the helper never waits for the loop
 * thread: it takes job_lock and the heap lock, each for bookkeeping that
 * does not wait, and event_active() on ev_done, which takes libevent's
 * lock, never held by the loop thread while it waits for either.  So
 * neither can wait for the other at exit.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scavenger.h"
#include "shm/heap.h"

enum { JOB_PASS = 1, JOB_FORCED = 2, JOB_DEPARTED = 4 };

static uint64_t clock_now(void *ctx)
{
	(void)ctx;
	return daemon_now();
}

static void heap_lock_cb(void *core)
{
	daemon_heap_lock(core);
}

static void heap_unlock_cb(void *core)
{
	daemon_heap_unlock(core);
}

/* The seed's trace lines go to stderr as they are, no priority prefix. */
static void trace(struct scavenger *s, const char *line)
{
	if (s->trace)
		fprintf(stderr, "%s\n", line);
}

/*
 * The timer's pass also runs heap_check(), O(pages grown) under the heap
 * lock (about 10 ms at 64 GiB here), so it is kept off the request path:
 * a client's GC costs O(clients).
 */
uint64_t scavenger_gc_record(struct scavenger *s, bool forced, uint64_t t0)
{
	uint64_t t1;

	/* Spans are stamped unused when freed; what is left is to verify. */
	daemon_heap_lock(s->core);
	if (forced || s->heap_check_gc) {
		heap_check(s->core->heap);
		s->heap_checks++;
	}
	t1 = daemon_now();
	scav_gc_record(&s->scav, t0, t1, forced);
	daemon_heap_unlock(s->core);
	s->changes++;
	return t1 - t0;
}

void scavenger_snapshot_locked(const struct scavenger *s, struct scav *ret)
{
	daemon_assert_locked(s->core);
	*ret = s->scav;
}

static void *scav_main(void *arg)
{
	struct scavenger *s = arg;
	struct heap *h = s->core->heap;

	pthread_mutex_lock(&s->job_lock);
	for (;;) {
		unsigned int job;
		uint64_t gen = 0, bytes;

		while (!s->job_stop && !s->jobs)
			pthread_cond_wait(&s->job_cond, &s->job_lock);
		if (s->job_stop)
			break;
		/* On-demand first: a client is waiting for it. */
		job = s->jobs & JOB_FORCED	? JOB_FORCED :
		      s->jobs & JOB_DEPARTED	? JOB_DEPARTED :
						  JOB_PASS;
		s->jobs &= ~job;
		if (job == JOB_FORCED) {
			gen = s->forced_asked;
			s->forced_running = gen;
		}
		pthread_mutex_unlock(&s->job_lock);

		if (job == JOB_DEPARTED) {
			scav_departed_run(&s->scav, h, heap_lock_cb,
					  heap_unlock_cb, s->core);
			pthread_mutex_lock(&s->job_lock);
			continue;
		}
		bytes = scav_pass_run(&s->scav, h, job == JOB_FORCED,
				      heap_lock_cb, heap_unlock_cb, s->core);

		pthread_mutex_lock(&s->job_lock);
		if (job == JOB_FORCED) {
			s->forced_done = gen;
			s->forced_bytes = bytes;
			s->forced_running = 0;
		} else {
			s->pass_done = true;
			s->pass_running = false;
		}
		event_active(s->ev_done, 0, 0);
	}
	pthread_mutex_unlock(&s->job_lock);
	return NULL;
}

static void ask(struct scavenger *s, unsigned int job)
{
	pthread_mutex_lock(&s->job_lock);
	s->jobs |= job;
	if (job == JOB_FORCED)
		s->forced_asked++;
	else if (job == JOB_PASS)
		s->pass_running = true;
	pthread_cond_signal(&s->job_cond);
	pthread_mutex_unlock(&s->job_lock);
}

void scavenger_queue_departed_locked(void *arg, uint64_t page,
				     uint64_t npages)
{
	struct scavenger *s = arg;

	daemon_assert_locked(s->core);
	scav_departed_add(&s->scav, page, npages);
}

void scavenger_release_departed(struct scavenger *s)
{
	if (s->started)
		ask(s, JOB_DEPARTED);
}

/*
 * Only the loop thread asks, so the pass numbered forced_asked + 1 now
 * is the one ask() numbers: the helper takes it (or a later one) after
 * this, whatever pass it is running.
 */
uint64_t scavenger_force(struct scavenger *s)
{
	uint64_t pass;

	pthread_mutex_lock(&s->job_lock);
	pass = s->forced_asked + 1;
	pthread_mutex_unlock(&s->job_lock);
	ask(s, JOB_FORCED);
	return pass;
}

uint64_t scavenger_released(struct scavenger *s, uint64_t pass)
{
	uint64_t released = 0;

	pthread_mutex_lock(&s->job_lock);
	/* Passes are numbered in order: a later one serves it too. */
	if (s->forced_running && s->forced_running >= pass) {
		daemon_heap_lock(s->core);
		if (s->scav.in_pass && s->scav.forced)
			released = s->scav.released_pass;
		daemon_heap_unlock(s->core);
	}
	pthread_mutex_unlock(&s->job_lock);
	return released;
}

static void pass_traced(struct scavenger *s)
{
	struct heap_stats st;
	uint64_t released;
	char line[256];

	daemon_heap_lock(s->core);
	heap_stats(s->core->heap, &st);
	released = s->scav.released_last;
	daemon_heap_unlock(s->core);
	if (released) {
		scav_trace_released(line, sizeof(line), s->pass_tick, released);
		trace(s, line);
	}
	scav_trace_summary(line, sizeof(line), s->pass_tick, &st);
	trace(s, line);
}

/* A release that fails leaves memory with the kernel: say so, once a pass. */
static void log_release_errors(struct scavenger *s)
{
	uint64_t n;
	int err;

	daemon_heap_lock(s->core);
	n = s->scav.release_errors;
	err = s->scav.last_release_error;
	daemon_heap_unlock(s->core);
	if (n == s->release_errors_seen)
		return;
	log_warn("scavenger: %llu releases failed (%llu in all), the last with: %s; those pages stay counted as not released",
		 (unsigned long long)(n - s->release_errors_seen),
		 (unsigned long long)n, strerror(-err));
	s->release_errors_seen = n;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct scavenger *s = arg;
	uint64_t done, bytes;
	bool pass;

	(void)fd, (void)what;
	pthread_mutex_lock(&s->job_lock);
	pass = s->pass_done;
	s->pass_done = false;
	done = s->forced_done;
	bytes = s->forced_bytes;
	pthread_mutex_unlock(&s->job_lock);
	s->changes++;
	log_release_errors(s);
	s->hooks.forced_done(s->hooks.ctx, done, bytes);
	if (pass) {
		pass_traced(s);
		s->hooks.publish(s->hooks.ctx);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct scavenger *s = arg;
	uint64_t k = s->ticks++;
	bool due, running;
	char line[64];

	(void)fd, (void)what;
	daemon_heap_lock(s->core);
	s->scav.ticks = s->ticks;
	due = scav_gc_due(&s->scav);
	daemon_heap_unlock(s->core);
	if (due) {
		s->hooks.gc(s->hooks.ctx);
		scav_trace_forced(line, sizeof(line), k);
		trace(s, line);
	}
	pthread_mutex_lock(&s->job_lock);
	running = s->pass_running;
	pthread_mutex_unlock(&s->job_lock);
	if (running) {
		/* The last pass is still going. */
		s->hooks.publish(s->hooks.ctx);
		return;
	}
	s->pass_tick = k;
	ask(s, JOB_PASS);
}

void scavenger_init(struct scavenger *s, struct core *core,
		    struct event_base *base, const struct options *opt,
		    const struct scavenger_hooks *hooks)
{
	struct scav_config cfg = {
		.scavenge_after_ns = opt->scavenge_after_ns,
		.gc_after_ns = opt->gc_after_ns,
		.chunk_bytes = SCAV_CHUNK_DEFAULT,
		.now = clock_now,
	};
	const char *env = getenv("SPANHEAPD_TRACE");

	memset(s, 0, sizeof(*s));
	s->core = core;
	s->base = base;
	s->hooks = *hooks;
	s->trace = opt->trace || (env && atoi(env) > 0);
	scav_init(&s->scav, &cfg);
	pthread_mutex_init(&s->job_lock, NULL);
	pthread_cond_init(&s->job_cond, NULL);
}

int scavenger_start(struct scavenger *s)
{
	uint64_t tick = scav_tick_ns(&s->scav.cfg);
	struct timeval tv;
	int r;

	tv.tv_sec = (time_t)(tick / 1000000000);
	tv.tv_usec = (suseconds_t)(tick % 1000000000 / 1000);
	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1;
	s->ev_tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
	s->ev_done = event_new(s->base, -1, 0, on_done, s);
	if (!s->ev_tick || !s->ev_done || event_add(s->ev_tick, &tv) < 0)
		return -ENOMEM;
	r = pthread_create(&s->thread, NULL, scav_main, s);
	if (r) {
		log_err("cannot start the scavenger thread: %s", strerror(r));
		return -r;
	}
	s->started = true;
	return 0;
}

void scavenger_stop(struct scavenger *s)
{
	if (s->started) {
		/* A pass over many GiB ends at its next run. */
		daemon_heap_lock(s->core);
		s->scav.cancel = true;
		daemon_heap_unlock(s->core);
		pthread_mutex_lock(&s->job_lock);
		s->job_stop = true;
		pthread_cond_signal(&s->job_cond);
		pthread_mutex_unlock(&s->job_lock);
		pthread_join(s->thread, NULL);
		s->started = false;
	}
	if (s->ev_tick)
		event_free(s->ev_tick);
	if (s->ev_done)
		event_free(s->ev_done);
	s->ev_tick = s->ev_done = NULL;
}
