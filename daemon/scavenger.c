// SPDX-License-Identifier: MIT
/*
 * The scavenger on the daemon: a libevent timer on the loop thread, and a
 * helper thread that runs release passes.  The decisions and bookkeeping
 * are shm/scav.c's (see its design comment); this file drives them.
 *
 * Loop thread: each tick may force a GC pass (which runs here: it frees
 * departed clients), then asks the helper for a pass.  SCAVENGE requests
 * ask it for a forced pass; their replies wait until a forced pass that
 * started after the request has ended.  When a pass ends the helper wakes
 * the loop (ev_done), which prints the trace lines, rewrites the stats
 * file and the systemd status line, and answers the waiting clients.
 *
 * Helper thread: takes runs out of the heap under d->heap_lock, punches
 * them without it, returns them under it.  So client requests never wait
 * for a system call of the scavenger, only for a few microseconds of
 * bookkeeping; the exception is the stray sweep at the end of each pass,
 * which punches pages no span holds under the lock, 1 MiB (~0.2 ms) at a
 * time.  When a client is destroyed, the spans it held are queued and
 * the helper releases them at once (JOB_DEPARTED): they are the pages
 * still charged to a memory cgroup that may have no task left.
 *
 * Lock order: d->job_lock, then d->heap_lock; never the other way.
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

enum { JOB_PASS = 1, JOB_FORCED = 2, JOB_DEPARTED = 4 };

static uint64_t clock_now(void *ctx)
{
	(void)ctx;
	return daemon_now();
}

static void heap_lock_cb(void *d)
{
	daemon_heap_lock(d);
}

static void heap_unlock_cb(void *d)
{
	daemon_heap_unlock(d);
}

/* The seed's trace lines go to stderr as they are, no priority prefix. */
static void trace(struct daemon *d, const char *line)
{
	if (d->trace)
		fprintf(stderr, "%s\n", line);
}

/*
 * Has the process that opened this connection exited?  A pidfd says so
 * for sure.  Without one (a kernel before 5.3) kill(pid, 0) can only err
 * on the safe side: a reused pid looks alive, never the other way.
 */
static bool client_departed(const struct client *c)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };

	if (c->pidfd >= 0)
		return poll(&p, 1, 0) == 1;
	return c->cred.pid > 0 && kill(c->cred.pid, 0) < 0 && errno == ESRCH;
}

/*
 * The pause is the walk of the clients (a poll of each one's pidfd) and
 * the frees of the departed; the timer's pass also runs heap_check(),
 * O(pages grown) under the heap lock (about 10 ms at 64 GiB here), so it
 * is kept off the request path: a client's GC costs O(clients).
 */
uint64_t scavenger_gc(struct daemon *d, bool forced, struct client *except,
		      uint64_t *ret_pause)
{
	uint64_t t0 = daemon_now(), t1, freed = 0;
	struct heap_owner_info o;
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
		daemon_heap_lock(d);
		if (heap_owner_get(d->heap, c->owner, &o) == 0)
			freed += o.nspans;
		daemon_heap_unlock(d);
		client_destroy(c);
	}
	/* Spans are stamped unused when freed; what is left is to verify. */
	daemon_heap_lock(d);
	if (forced || d->heap_check_gc) {
		heap_check(d->heap);
		d->heap_checks++;
	}
	t1 = daemon_now();
	scav_gc_record(&d->scav, t0, t1, forced);
	daemon_heap_unlock(d);
	stats_changed(d);
	if (ret_pause)
		*ret_pause = t1 - t0;
	return freed;
}

static void *scav_main(void *arg)
{
	struct daemon *d = arg;

	pthread_mutex_lock(&d->job_lock);
	for (;;) {
		unsigned int job;
		uint64_t gen = 0, bytes;

		while (!d->job_stop && !d->jobs)
			pthread_cond_wait(&d->job_cond, &d->job_lock);
		if (d->job_stop)
			break;
		/* On-demand first: a client is waiting for it. */
		job = d->jobs & JOB_FORCED	? JOB_FORCED :
		      d->jobs & JOB_DEPARTED	? JOB_DEPARTED :
						  JOB_PASS;
		d->jobs &= ~job;
		if (job == JOB_FORCED) {
			gen = d->forced_asked;
			d->forced_running = gen;
		}
		pthread_mutex_unlock(&d->job_lock);

		if (job == JOB_DEPARTED) {
			scav_departed_run(&d->scav, d->heap, heap_lock_cb,
					  heap_unlock_cb, d);
			pthread_mutex_lock(&d->job_lock);
			continue;
		}
		bytes = scav_pass_run(&d->scav, d->heap, job == JOB_FORCED,
				      heap_lock_cb, heap_unlock_cb, d);

		pthread_mutex_lock(&d->job_lock);
		if (job == JOB_FORCED) {
			d->forced_done = gen;
			d->forced_bytes = bytes;
			d->forced_running = 0;
		} else {
			d->pass_done = true;
			d->pass_running = false;
		}
		event_active(d->ev_done, 0, 0);
	}
	pthread_mutex_unlock(&d->job_lock);
	return NULL;
}

static void ask(struct daemon *d, unsigned int job)
{
	pthread_mutex_lock(&d->job_lock);
	d->jobs |= job;
	if (job == JOB_FORCED)
		d->forced_asked++;
	else if (job == JOB_PASS)
		d->pass_running = true;
	pthread_cond_signal(&d->job_cond);
	pthread_mutex_unlock(&d->job_lock);
}

void scavenger_queue_departed_locked(void *arg, uint64_t page,
				     uint64_t npages)
{
	struct daemon *d = arg;

	daemon_assert_locked(d);
	scav_departed_add(&d->scav, page, npages);
}

void scavenger_release_departed(struct daemon *d)
{
	if (d->scav_started)
		ask(d, JOB_DEPARTED);
}

void scavenger_release_now(struct client *c)
{
	struct daemon *d = c->d;

	pthread_mutex_lock(&d->job_lock);
	c->scav_wait = d->forced_asked + 1;
	pthread_mutex_unlock(&d->job_lock);
	/* Read nothing more from it until it has its answer. */
	event_del(c->ev_read);
	ask(d, JOB_FORCED);
}

uint64_t scavenger_released(struct client *c)
{
	struct daemon *d = c->d;
	uint64_t released = 0;

	pthread_mutex_lock(&d->job_lock);
	/* Passes are numbered in order: a later one serves it too. */
	if (d->forced_running && d->forced_running >= c->scav_wait) {
		daemon_heap_lock(d);
		if (d->scav.in_pass && d->scav.forced)
			released = d->scav.released_pass;
		daemon_heap_unlock(d);
	}
	pthread_mutex_unlock(&d->job_lock);
	return released;
}

static void pass_traced(struct daemon *d)
{
	struct heap_stats st;
	uint64_t released;
	char line[256];

	daemon_heap_lock(d);
	heap_stats(d->heap, &st);
	released = d->scav.released_last;
	daemon_heap_unlock(d);
	if (released) {
		scav_trace_released(line, sizeof(line), d->pass_tick, released);
		trace(d, line);
	}
	scav_trace_summary(line, sizeof(line), d->pass_tick, &st);
	trace(d, line);
}

/* A release that fails leaves memory with the kernel: say so, once a pass. */
static void log_release_errors(struct daemon *d)
{
	uint64_t n;
	int err;

	daemon_heap_lock(d);
	n = d->scav.release_errors;
	err = d->scav.last_release_error;
	daemon_heap_unlock(d);
	if (n == d->release_errors_seen)
		return;
	log_warn("scavenger: %llu releases failed (%llu in all), the last with: %s; those pages stay counted as not released",
		 (unsigned long long)(n - d->release_errors_seen),
		 (unsigned long long)n, strerror(-err));
	d->release_errors_seen = n;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t done, bytes;
	struct client *c, *next;
	bool pass;

	(void)fd, (void)what;
	pthread_mutex_lock(&d->job_lock);
	pass = d->pass_done;
	d->pass_done = false;
	done = d->forced_done;
	bytes = d->forced_bytes;
	pthread_mutex_unlock(&d->job_lock);
	stats_changed(d);
	log_release_errors(d);
	for (c = TAILQ_FIRST(&d->clients); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->scav_wait && c->scav_wait <= done) {
			c->scav_wait = 0;
			log_info("client %u: released %llu bytes on demand",
				 c->id, (unsigned long long)bytes);
			client_reply_scavenge(c, bytes);
		}
	}
	if (pass) {
		pass_traced(d);
		stats_publish(d);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t k = d->ticks++;
	bool due, running;
	char line[64];

	(void)fd, (void)what;
	daemon_heap_lock(d);
	d->scav.ticks = d->ticks;
	due = scav_gc_due(&d->scav);
	daemon_heap_unlock(d);
	if (due) {
		scavenger_gc(d, true, NULL, NULL);
		scav_trace_forced(line, sizeof(line), k);
		trace(d, line);
	}
	pthread_mutex_lock(&d->job_lock);
	running = d->pass_running;
	pthread_mutex_unlock(&d->job_lock);
	if (running) {
		stats_publish(d);	/* the last pass is still going */
		return;
	}
	d->pass_tick = k;
	ask(d, JOB_PASS);
}

int scavenger_start(struct daemon *d)
{
	struct scav_config cfg = {
		.scavenge_after_ns = d->opt.scavenge_after_ns,
		.gc_after_ns = d->opt.gc_after_ns,
		.chunk_bytes = SCAV_CHUNK_DEFAULT,
		.now = clock_now,
	};
	const char *env = getenv("SPANHEAPD_TRACE");
	uint64_t tick;
	struct timeval tv;
	int r;

	d->trace = d->opt.trace || (env && atoi(env) > 0);
	scav_init(&d->scav, &cfg);
	tick = scav_tick_ns(&cfg);
	tv.tv_sec = (time_t)(tick / 1000000000);
	tv.tv_usec = (suseconds_t)(tick % 1000000000 / 1000);
	if (!tv.tv_sec && !tv.tv_usec)
		tv.tv_usec = 1;
	pthread_mutex_init(&d->job_lock, NULL);
	pthread_cond_init(&d->job_cond, NULL);
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	d->ev_done = event_new(d->base, -1, 0, on_done, d);
	if (!d->ev_tick || !d->ev_done || event_add(d->ev_tick, &tv) < 0)
		return -ENOMEM;
	r = pthread_create(&d->scav_thread, NULL, scav_main, d);
	if (r) {
		log_err("cannot start the scavenger thread: %s", strerror(r));
		return -r;
	}
	d->scav_started = true;
	return 0;
}

void scavenger_stop(struct daemon *d)
{
	if (d->scav_started) {
		/* A pass over many GiB ends at its next run. */
		daemon_heap_lock(d);
		d->scav.cancel = true;
		daemon_heap_unlock(d);
		pthread_mutex_lock(&d->job_lock);
		d->job_stop = true;
		pthread_cond_signal(&d->job_cond);
		pthread_mutex_unlock(&d->job_lock);
		pthread_join(d->scav_thread, NULL);
		d->scav_started = false;
	}
	if (d->ev_tick)
		event_free(d->ev_tick);
	if (d->ev_done)
		event_free(d->ev_done);
	d->ev_tick = d->ev_done = NULL;
}
