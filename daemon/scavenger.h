/* SPDX-License-Identifier: MIT */
/*
 * The scavenger on the daemon: its timer, its helper thread and their
 * jobs (see scavenger.c).  It knows the heap (core.h) and nothing of the
 * connections: what it has to tell the layers above (a forced pass has
 * ended, the timer's GC pass is due, the stats are worth publishing) it
 * tells through the hooks it is given.
 */
#ifndef SPANHEAPD_SCAVENGER_H
#define SPANHEAPD_SCAVENGER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "options.h"
#include "shm/scav.h"

struct event;
struct event_base;

/* What the scavenger calls, on the loop thread; daemon.c gives them. */
struct scavenger_hooks {
	/*
	 * The timer's GC pass is due: free what departed clients hold,
	 * then scavenger_gc_record(s, true, t0).
	 */
	void (*gc)(void *ctx);
	/*
	 * Forced passes up to number @done have ended, the last having
	 * released @bytes: answer whoever waits for one of them.  Called
	 * at the end of every pass, so @done may not have moved.
	 */
	void (*forced_done)(void *ctx, uint64_t done, uint64_t bytes);
	/* A release pass has ended, or a tick came while one runs. */
	void (*publish)(void *ctx);
	void *ctx;
};

struct scavenger {
	struct core *core;
	struct event_base *base;
	struct scavenger_hooks hooks;
	struct scav scav;		/* GUARDED_BY(core->heap_lock) */
	struct event *ev_tick;		/* the timer */
	struct event *ev_done;		/* a pass has ended */
	uint64_t ticks;			/* timer ticks */
	uint64_t pass_tick;		/* scvgN of the pass in progress */
	uint64_t release_errors_seen;	/* failed releases already logged */
	bool trace;			/* --trace or SPANHEAPD_TRACE=1 */
	bool heap_check_gc;		/* SPANHEAPD_HEAP_CHECK=1: every GC */
	uint64_t heap_checks;		/* full heap_check() runs */
	/* What MemStats shows of it changed (stats.c's key); only grows. */
	uint64_t changes;

	/* The helper thread and its jobs. */
	pthread_t thread;
	bool started;
	pthread_mutex_t job_lock;	/* taken before heap_lock, never after */
	pthread_cond_t job_cond;
	unsigned int jobs;		/* GUARDED_BY(job_lock) */
	bool job_stop;			/* GUARDED_BY(job_lock) */
	bool pass_running;		/* GUARDED_BY(job_lock) */
	bool pass_done;			/* GUARDED_BY(job_lock) */
	uint64_t forced_asked;		/* GUARDED_BY(job_lock): forced passes asked */
	uint64_t forced_done;		/* GUARDED_BY(job_lock): last one served */
	uint64_t forced_bytes;		/* GUARDED_BY(job_lock): what it released */
	uint64_t forced_running;	/* GUARDED_BY(job_lock): the forced pass
					 * running now, or 0 */
	bool paced;			/* --scavenge-policy=paced: s->scav.paced */
	bool sweep_due;			/* GUARDED_BY(job_lock): paced, a tick's
					 * stray sweep waits its turn */
};

/*
 * What MemStats shows of the paced policy (the "paced" block inside
 * "scavenger"); with the delay policy, the policy name and zeros.
 */
struct scavenger_paced_stats {
	const char *policy;		/* "delay" or "paced" */
	unsigned int headroom_pct;	/* --scavenge-headroom */
	uint64_t goal;			/* bytes retained at most */
	uint64_t peak;			/* bytes: in-use peak of the window */
	uint64_t retained;		/* bytes, sys - released, last seen */
	uint64_t released;		/* bytes released by paced steps */
	uint64_t steps;			/* paced steps that released */
	uint64_t step_bytes;		/* the next step's most */
	uint64_t cpu_ns;		/* CPU time of all paced work */
	uint64_t cpu_ppm;		/* of one CPU, over the last 10 s */
};

/**
 * scavenger_init() - set up @s over @core's heap with @opt's delays,
 * its timer and thread not started.  It cannot fail.
 */
void scavenger_init(struct scavenger *s, struct core *core,
		    struct event_base *base, const struct options *opt,
		    const struct scavenger_hooks *hooks);

/** scavenger_start() - start the timer and the thread: 0 or -errno. */
int scavenger_start(struct scavenger *s);

/**
 * scavenger_stop() - end the pass in progress at its next run, stop the
 * thread and free the timer.  Fine if never started.
 */
void scavenger_stop(struct scavenger *s);

/**
 * scavenger_force() - ask for a forced pass (every free span released
 * now, the SCAVENGE request).
 *
 * Return: the number of the pass that serves the request, one that
 * starts after this call: when hooks.forced_done() says @done is at
 * least that, it has ended.
 */
uint64_t scavenger_force(struct scavenger *s);

/**
 * scavenger_released() - the bytes released so far by the forced pass
 * that serves @pass (see scavenger_force()): 0 if it has not begun.
 */
uint64_t scavenger_released(struct scavenger *s, uint64_t pass);

/**
 * scavenger_queue_departed_locked() - a heap_free_owner_each() callback
 * (@s a struct scavenger): queue a departed client's span, so that
 * scavenger_release_departed() releases it at once.
 */
void scavenger_queue_departed_locked(void *s, uint64_t page,
				     uint64_t npages);

/** scavenger_release_departed() - have the queued spans released now. */
void scavenger_release_departed(struct scavenger *s);

/**
 * scavenger_gc_record() - a GC pass that began at @t0 has freed what it
 * frees: check the heap if @forced (the timer's pass) or with
 * SPANHEAPD_HEAP_CHECK=1, and account the pass.
 *
 * Return: its pause, from @t0 to the end of the check.
 */
uint64_t scavenger_gc_record(struct scavenger *s, bool forced, uint64_t t0);

/**
 * scavenger_snapshot_locked() - a copy of the scavenger's statistics, as
 * MemStats shows them, taken in the caller's critical section.
 */
void scavenger_snapshot_locked(const struct scavenger *s, struct scav *ret);

/**
 * scavenger_paced_stats_of() - the paced policy's MemStats out of a
 * snapshot @snap (scavenger_snapshot_locked()), its CPU fraction over the
 * SCAV_PACED_WINDOW_NS before @now (daemon_now()).  Needs no lock.
 */
void scavenger_paced_stats_of(const struct scav *snap, uint64_t now,
			      struct scavenger_paced_stats *ret);

/** scavenger_paced_stats() - the same, now; takes the heap lock. */
void scavenger_paced_stats(struct scavenger *s,
			   struct scavenger_paced_stats *ret);

#endif
