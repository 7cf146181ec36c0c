/* SPDX-License-Identifier: MIT */
/*
 * spanheapd: one event loop, one arena, one heap, the connected clients.
 * struct daemon composes the parts, each of which owns its struct and
 * its header; daemon.c makes them and connects them.
 *
 * The parts, and who calls whom: an arrow is an #include of the other's
 * header, and every call between parts follows one.  The graph (log.h
 * and options.h, which any part may include, left out) is checked by
 * tests/daemon/check-graph.sh, over the includes and over the symbols
 * the objects use:
 *
 *	main -> daemon		runs it
 *	daemon -> metrics_http	starts and stops the HTTP endpoint
 *	metrics_http -> stats, blob	renders MemStats for /metrics
 *	daemon -> server, stats, client, objects, scavenger, core,
 *		  dispatch, durable, fdstore, orphans, reclaim, memlimit,
 *		  charge
 *	daemon -> pressure	the PSI watch; its hook forces a release
 *				composes the parts, connects their hooks;
 *				adopts the heap of the fd store; resolves
 *				the memory limit
 *	stats -> durable, orphans	generation, counters carried
 *	stats -> server, client, objects, scavenger, core, blob, reclaim,
 *		 charge
 *				reads what MemStats shows
 *	server -> client	hands an accepted connection over
 *	client <-> dispatch	a request goes up, its reply comes down
 *	client -> objects, scavenger, core, blob, sock, reclaim
 *				a client's objects and waits; forced
 *				passes, departed spans, GC records; owner
 *				records; reply texts; the socket
 *	dispatch -> objects, core, durable, reclaim, charge
 *				the object table, the heap, under its lock;
 *				a magazine's durable record; allocations
 *				that wait for room under the memory limit;
 *				quotas
 *	charge -> core		what quotas leave; a uid's spans by hook
 *	reclaim -> objects, core
 *				releases idle pages, evicts objects
 *	objects -> scavenger, core
 *				departed objects' spans; the heap
 *	orphans -> objects, scavenger, core
 *				frees owners that did not come back
 *	scavenger -> core	the heap, its lock, the clock
 *	core, blob, sock, durable, memlimit
 *				leaves: they include nothing of daemon/
 *	fdstore			a leaf but for log.h
 *
 * client <-> dispatch is the one cycle.  Nothing else calls up the
 * list: where a lower part must tell one above, it calls a hook that
 * daemon.c gave it.  The scavenger's say that a forced pass has ended
 * (the connection code answers its SCAVENGE waiters), that the timer's
 * GC pass is due (the connection code frees departed clients) and that
 * the stats are worth publishing; the connection code's ask stats.c for
 * a reply's text and tell the server that a client has gone; the
 * objects' says that a waiting get has its answer (dispatch.c sends
 * it).  What
 * changes MemStats is counted where it happens (clients', objects' and
 * the scavenger's changes, the server's refused), and stats.c adds them
 * up.
 *
 * A new part (objects.c is the first; per-client magazines, restart slots)
 * gets its own header and struct, a member here, and a place in this
 * list below the connection code, which calls it for its requests and
 * in client_destroy(), the one place a client's resources are torn
 * down; it tells the layers above through hooks, as the scavenger does.
 *
 * Threads and locks.  The event loop thread does all socket work and
 * owns every struct but two: the heap, whose metadata holds every
 * client's owner record, and the scavenger's statistics, which the
 * scavenger thread also uses, are guarded by the heap lock (core.h);
 * the jobs handed to that thread by the scavenger's job_lock.  Lock
 * order: job_lock, then the heap lock.  Functions named *_locked need
 * the caller to hold the heap lock and check that they do.
 */
#ifndef SPANHEAPD_DAEMON_H
#define SPANHEAPD_DAEMON_H

#include <stdbool.h>

#include "charge.h"
#include "client.h"
#include "core.h"
#include "fdstore.h"
#include "memlimit.h"
#include "metrics_http.h"
#include "objects.h"
#include "orphans.h"
#include "options.h"
#include "pressure.h"
#include "reclaim.h"
#include "scavenger.h"
#include "server.h"
#include "stats.h"

struct arena;
struct event;
struct event_base;

/*
 * Heap owners beyond --max-clients (each client is one): room for the
 * owners of later layers (shared objects) and to spare.
 */
#define DAEMON_OWNERS_SPARE 16

struct daemon {
	struct options opt;
	struct event_base *base;
	int signal_fd;			/* SIGTERM and SIGINT, or -1 */
	struct event *ev_signal;	/* reads them */
	struct event *ev_watchdog;	/* WATCHDOG=1 to systemd */
	struct arena *arena;
	struct arena *meta;		/* the heap's metadata memfd */
	struct fdstore fds;		/* what the service manager passed */
	bool stored;			/* arena and meta are in its fd store */
	bool adopted;			/* the heap came from the store */
	struct durable *durable;	/* the daemon's records in meta */
	struct core core;		/* the heap and its lock */
	bool composed;			/* the parts below are set up */
	struct server server;
	struct clients clients;
	struct scavenger scav;
	struct objects objects;
	struct reclaim reclaim;		/* room under the memory limit */
	struct charge charge;		/* quotas */
	struct pressure *pressure;	/* the PSI watch, or NULL */
	struct pressure_counts pressure_counts;
	struct log_limit log_pressure;	/* one line per event, limited */
	uint64_t memory_limit;		/* bytes, 0: none (memlimit.h) */
	char memory_limit_source[MEMLIMIT_SOURCE_MAX];
	struct orphans orphans;
	struct stats stats;
	struct metrics_http metrics;	/* --metrics-listen */
};

/**
 * daemon_init() - set up everything but the loop, as @opt says: the
 * arena and the heap, the listening socket, the scavenger.  Return: 0 or
 * -errno (logged); daemon_fini() undoes what was done either way.
 */
int daemon_init(struct daemon *d, const struct options *opt);

/** daemon_run() - run the event loop until SIGTERM or SIGINT. */
int daemon_run(struct daemon *d);

/** daemon_fini() - close every client (freeing their spans), free all. */
void daemon_fini(struct daemon *d);

/**
 * daemon_compose() - set up the parts (server, clients, scavenger,
 * stats) over d->opt, d->base, d->arena and d->core's heap, and connect
 * their hooks; nothing listens or runs yet.  daemon_init() calls it, and
 * so do the tests that run a daemon in their own process.
 */
void daemon_compose(struct daemon *d);

/**
 * daemon_decompose() - undo daemon_compose(): stop the scavenger and the
 * server, close every client (freeing its spans), drop the stats text.
 */
void daemon_decompose(struct daemon *d);

#endif
