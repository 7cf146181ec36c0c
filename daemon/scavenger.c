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
 * Paced mode (--scavenge-policy=paced, shm/scav_paced.c).  The helper
 * runs no delay pass: whenever the heap retains more than the goal it
 * releases a step at a time (JOB_STEP), and each tick's pass is only
 * the stray sweep, done later as paced work too, once the goal is met.
 * Between two pieces of paced work it waits on job_cond, with a
 * deadline: 100 times the last one's cost after its start.  A forced
 * pass, departed pages or stop wake it at once and are served unpaced
 * (a client, or a cgroup, is waiting for them), and the wait then goes
 * on.  The tick (loop thread) moves the peak window and prints the
 * lines at once.  Paced work is timed by the monotonic clock and by this
 * thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), the latter from the end
 * of the last piece on, less the unpaced work's: the thread's waking and
 * waiting are the pacing's cost too.
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
#include <time.h>

#include "log.h"
#include "scavenger.h"
#include "shm/heap.h"

/*
 * JOB_STEP and JOB_SWEEP are never asked for: in paced mode the helper
 * does them when they are due.
 */
enum {
	JOB_PASS = 1,
	JOB_FORCED = 2,
	JOB_DEPARTED = 4,
	JOB_STEP = 8,
	JOB_SWEEP = 16,
};

static uint64_t clock_now(void *ctx)
{
	(void)ctx;
	return daemon_now();
}

/* The calling thread's CPU time: the scavenger's, in its steps. */
static uint64_t thread_cpu_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

void scavenger_paced_stats_of(const struct scav *snap, uint64_t now,
			      struct scavenger_paced_stats *ret)
{
	const struct scav_paced *p = &snap->paced;

	memset(ret, 0, sizeof(*ret));
	ret->policy = p->on ? "paced" : "delay";
	if (!p->on)
		return;
	ret->headroom_pct = p->cfg.headroom_pct;
	ret->goal = p->goal;
	ret->peak = p->peak;
	ret->retained = p->retained;
	ret->released = p->released_total;
	ret->steps = p->steps;
	ret->step_bytes = p->step_pages << HEAP_PAGE_SHIFT;
	ret->cpu_ns = p->cpu_ns;
	ret->cpu_ppm = scav_paced_cpu_ppm(snap, now);
}

void scavenger_paced_stats(struct scavenger *s,
			   struct scavenger_paced_stats *ret)
{
	struct scav snap;

	daemon_heap_lock(s->core);
	scavenger_snapshot_locked(s, &snap);
	daemon_heap_unlock(s->core);
	scavenger_paced_stats_of(&snap, daemon_now(), ret);
}

/* Sleep on job_cond until the monotonic clock reads @deadline, or a signal. */
static void wait_until(struct scavenger *s, uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000000000u),
		.tv_nsec = (long)(deadline % 1000000000u),
	};

	pthread_cond_timedwait(&s->job_cond, &s->job_lock, &ts);
}

/*
 * The next job, job_lock held, waiting as long as there is none: 0 to
 * stop.  On-demand first: a client is waiting for a forced pass, and a
 * departed client's pages are charged to a cgroup.  In paced mode the
 * tick's pass (JOB_PASS) only asks for a sweep, and paced work waits its
 * turn: steps while there is an excess, then the sweep (on a large
 * heap a walk of the memfd's extents costs a millisecond, as much as a
 * step: at short ticks sweeps would take all the turns).
 */
static unsigned int next_job(struct scavenger *s)
{
	for (;;) {
		uint64_t now, wait, excess;

		if (s->job_stop)
			return 0;
		if (s->jobs & JOB_FORCED)
			return JOB_FORCED;
		if (s->jobs & JOB_DEPARTED)
			return JOB_DEPARTED;
		if (s->jobs & JOB_PASS)
			return JOB_PASS;
		if (!s->paced) {
			pthread_cond_wait(&s->job_cond, &s->job_lock);
			continue;
		}
		daemon_heap_lock(s->core);
		now = daemon_now();
		wait = scav_paced_wait(&s->scav, now);
		excess = scav_paced_excess(&s->scav);
		daemon_heap_unlock(s->core);
		if (!excess && !s->sweep_due)
			pthread_cond_wait(&s->job_cond, &s->job_lock);
		else if (wait)
			wait_until(s, now + wait);
		else
			return excess ? JOB_STEP : JOB_SWEEP;
	}
}

/* The tick's stray sweep, paced: charged as a step is. */
static void paced_sweep(struct scavenger *s)
{
	uint64_t t0 = daemon_now(), c0, c1, t1;

	daemon_heap_lock(s->core);
	c0 = scav_paced_cpu_start(&s->scav);
	daemon_heap_unlock(s->core);
	scav_sweep_run(&s->scav, s->core->heap, heap_lock_cb, heap_unlock_cb,
		       s->core);
	c1 = thread_cpu_now(NULL);
	t1 = daemon_now();
	daemon_heap_lock(s->core);
	scav_paced_charge(&s->scav, t0, t1, c0, c1);
	daemon_heap_unlock(s->core);
}

/* Unpaced work's CPU (from @c0 on) is not the next paced piece's. */
static void unpaced_done(struct scavenger *s, uint64_t c0)
{
	uint64_t c1;

	if (!s->paced)
		return;
	c1 = thread_cpu_now(NULL);
	daemon_heap_lock(s->core);
	scav_paced_unpaced(&s->scav, c1 - c0);
	daemon_heap_unlock(s->core);
}

static void *scav_main(void *arg)
{
	struct scavenger *s = arg;
	struct heap *h = s->core->heap;

	pthread_mutex_lock(&s->job_lock);
	for (;;) {
		unsigned int job = next_job(s);
		uint64_t gen = 0, bytes = 0, c0 = 0;

		if (!job)
			break;
		s->jobs &= ~job;
		if (job == JOB_FORCED) {
			gen = s->forced_asked;
			s->forced_running = gen;
		}
		if (job == JOB_SWEEP)
			s->sweep_due = false;
		else if (job == JOB_PASS && s->paced)
			s->sweep_due = true;
		pthread_mutex_unlock(&s->job_lock);
		if (s->paced && (job == JOB_FORCED || job == JOB_DEPARTED))
			c0 = thread_cpu_now(NULL);

		if (job & (JOB_DEPARTED | JOB_STEP | JOB_SWEEP)) {
			if (job == JOB_DEPARTED) {
				scav_departed_run(&s->scav, h, heap_lock_cb,
						  heap_unlock_cb, s->core);
				unpaced_done(s, c0);
			} else if (job == JOB_STEP)
				scav_paced_step(&s->scav, h, heap_lock_cb,
						heap_unlock_cb, s->core);
			else
				paced_sweep(s);
			pthread_mutex_lock(&s->job_lock);
			continue;
		}
		/* A paced tick's pass is done: its lines go out now. */
		if (!(job == JOB_PASS && s->paced)) {
			bytes = scav_pass_run(&s->scav, h, job == JOB_FORCED,
					      heap_lock_cb, heap_unlock_cb,
					      s->core);
			unpaced_done(s, c0);
		}

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

/*
 * The seed's lines of a pass; in paced mode a tick's, what was released
 * over the tick before it, and a line of the paced policy's own.
 */
static void pass_traced(struct scavenger *s)
{
	char line[256], pline[256];
	struct heap_stats st;
	uint64_t released;

	daemon_heap_lock(s->core);
	heap_stats(s->core->heap, &st);
	released = s->paced ? s->scav.paced.released_last :
			      s->scav.released_last;
	if (s->paced)
		scav_paced_trace(pline, sizeof(pline), s->pass_tick, &s->scav,
				 daemon_now());
	daemon_heap_unlock(s->core);
	if (released) {
		scav_trace_released(line, sizeof(line), s->pass_tick, released);
		trace(s, line);
	}
	scav_trace_summary(line, sizeof(line), s->pass_tick, &st);
	trace(s, line);
	if (s->paced)
		trace(s, pline);
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
	if (s->paced) {
		struct heap_stats st;

		/* The peak window moves with the ticks, whatever runs. */
		heap_stats(s->core->heap, &st);
		scav_paced_tick(&s->scav, &st);
	}
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
	pthread_condattr_t ca;

	memset(s, 0, sizeof(*s));
	s->core = core;
	s->base = base;
	s->hooks = *hooks;
	s->trace = opt->trace || (env && atoi(env) > 0);
	scav_init(&s->scav, &cfg);
	if (opt->scavenge_policy == OPTIONS_SCAV_PACED) {
		struct scav_paced_config pc = {
			.headroom_pct = opt->scavenge_headroom_pct,
			.tick_ns = scav_tick_ns(&cfg),
			.now = clock_now,
			.cpu_now = thread_cpu_now,
		};

		scav_paced_init(&s->scav, &pc);
		s->paced = true;
	}
	pthread_mutex_init(&s->job_lock, NULL);
	/* Paced waits have deadlines on daemon_now()'s clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->job_cond, &ca);
	pthread_condattr_destroy(&ca);
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
	/* Its CPU can be told apart (top -H, /proc/PID/task/TID/comm). */
	pthread_setname_np(s->thread, "spanheapd-scav");
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
