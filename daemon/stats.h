/* SPDX-License-Identifier: MIT */
/*
 * MemStats and the CLIENTS pages (stats.c).  stats.c observes the other
 * parts and none of them calls it: what changes is told by a counter of
 * each part (its changes field, the server's refusals) that the cache's
 * key adds up, and the connection code gets its texts through its hooks.
 */
#ifndef SPANHEAPD_STATS_H
#define SPANHEAPD_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "blob.h"
#include "options.h"

struct arena;
struct clients;
struct durable;
struct durable_counters;
struct orphans;
struct core;
struct objects;
struct scavenger;
struct server;
struct text_req;

/* STATS lists at most this many clients; CLIENTS pages give them all. */
#define STATS_LIST_MAX 64

/*
 * The MemStats text is reused while nothing it shows has changed, for
 * at most this long: the fields that always move (uptime_ns,
 * arena_resident, a client's requests) are never older.
 */
#define STATS_MAX_AGE_NS (UINT64_C(100) * 1000000)

/* What MemStats shows, read where it lives. */
struct pressure;
struct pressure_counts;

struct stats_sources {
	const struct options *opt;	/* max_clients, stats_file */
	struct core *core;		/* the heap */
	struct arena *arena;		/* arena_resident */
	struct clients *clients;
	struct scavenger *scav;
	struct objects *objects;	/* the objects block, OBJECTS pages */
	struct server *server;		/* refused */
	/* generation, start times, counters carried; NULL: first start */
	struct durable *durable;
	struct orphans *orphans;	/* waiting, reclaimed, expired; or NULL */
	struct reclaim *reclaim;	/* waits for room under the limit */
	struct charge *charge;		/* quotas, or NULL */
	const struct pressure_counts *pressure_counts;	/* or NULL */
	struct pressure *const *pressure;	/* the watch, when there is one */
	uint64_t memory_limit;		/* bytes, 0: none */
	const char *memory_limit_source;
};

/* Loop thread only. */
struct stats {
	struct stats_sources src;
	uint64_t start_ns;		/* for uptime_ns */
	uint64_t gen;			/* bumped by stats_changed() */
	/* The MemStats text, rebuilt only when stats_key() moved. */
	struct blob *cache;		/* a reference, or NULL */
	uint64_t cache_key;		/* stats_key() when it was built */
	uint64_t cache_ns;		/* daemon_now() when it was built */
	bool file_failed;		/* logged once until it works again */
};

/** stats_init() - MemStats of @src, the daemon started now. */
void stats_init(struct stats *st, const struct stats_sources *src);

/** stats_fini() - drop the cached text. */
void stats_fini(struct stats *st);

/** stats_changed() - something MemStats shows changed: rebuild it next. */
void stats_changed(struct stats *st);

/**
 * stats_get() - a reference to the MemStats text, built if stale; NULL
 * if out of memory.
 */
struct blob *stats_get(struct stats *st);

/**
 * stats_clients_page() - a CLIENTS page: the welcomed clients of id
 * above @after, in id order, at most @max.  A new reference; NULL if out
 * of memory.
 */
struct blob *stats_clients_page(struct stats *st, uint32_t after,
				uint32_t max);

/** stats_text() - the text of the reply to @req: either of the above. */
struct blob *stats_text(struct stats *st, const struct text_req *req);

/**
 * stats_counters_locked() - this daemon's own figures of the counters
 * that carry across restarts (durable.h), for durable_save().
 */
void stats_counters_locked(struct stats *st, struct durable_counters *ret);

/**
 * stats_save() - keep this daemon's counters in the durable header for
 * the next daemon (durable_save()), if the heap outlives the process:
 * at every publish, at shutdown, and whenever MemStats is built for a
 * reader, so that no counter a reader saw goes back after a SIGKILL.
 */
void stats_save(struct stats *st);

/**
 * stats_publish() - rewrite the stats file (if any) and the systemd
 * status line.
 */
void stats_publish(struct stats *st);

#endif
