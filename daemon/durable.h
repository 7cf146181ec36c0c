/* SPDX-License-Identifier: MIT */
/*
 * The daemon's durable area (durable.c): what of the daemon, beyond the
 * heap, outlives its process.  It lives in the metadata memfd
 * ("spanheapd-meta") past the heap's layout,
 *
 *	[ heap layout: heap_layout_size() bytes ]
 *	[ durable header: 1 page, struct durable_hdr ]
 *	[ slots: (max_owners + 1) x DURABLE_SLOT_SIZE bytes ]
 *
 * and goes, with the arena, to the service manager's fd store, so that
 * the next daemon adopts it (daemon.c, fdstore.c).  See durable.c for
 * the header and what is checked of it before it is trusted.
 */
#ifndef SPANHEAPD_DURABLE_H
#define SPANHEAPD_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#define DURABLE_SLOT_SIZE 8192
#define DURABLE_SESSION_BYTES 4096	/* [0, 4096) of a slot: session.c */
#define DURABLE_MAG_BYTES 4096		/* [4096, 8192): magazine.c */

struct durable;				/* owned by durable.c */

/*
 * MemStats counters that only grow, carried across restarts: each the
 * sum of what the daemons of the arena before this one counted.  stats.c
 * adds the live ones of this daemon to them.
 */
struct durable_counters {
	uint64_t num_gc, forced_gc, pause_total_ns, heap_checks;
	uint64_t control_deferred, refused;
	uint64_t ticks, passes, released_total, stray_total, departed_total;
	uint64_t time_ns, forced_releases, release_errors;
	uint64_t obj_woken, obj_timeouts;
	uint64_t mag_fast_allocs, mag_fast_frees, mag_filled, mag_returned;
	uint64_t mag_revoked, mag_refills, mag_kicks, mag_bad;
	uint64_t mag_resumed, mag_resume_freed, mag_resume_held;
	uint64_t orphans_reclaimed, orphans_expired;
};

/* The options a heap was made with: an adopted heap keeps its own. */
struct durable_config {
	uint64_t arena_size;
	uint32_t max_clients;
	uint32_t max_owners;
	uint32_t max_objects;
	uint32_t max_refs;
};

/**
 * durable_meta_size() - bytes of the metadata memfd: the heap's layout
 * of @layout_size bytes, the header and the slots of @max_owners owners.
 * Return: 0, or -EOVERFLOW.
 */
int durable_meta_size(uint64_t layout_size, uint32_t max_owners,
		      uint64_t *ret);

/**
 * durable_format() - write a new header into @meta (@meta_size bytes,
 * reading as zeros past @layout_size), for a heap made with @cfg: a new
 * arena id (getrandom()), generation 1, first and last start @now_real
 * (CLOCK_REALTIME, ns), no counters.
 * Return: 0, -EINVAL if the sizes do not fit, -ENOMEM, or the -errno of
 * getrandom().
 */
int durable_format(void *meta, uint64_t meta_size, uint64_t layout_size,
		   const struct durable_config *cfg, uint64_t now_real,
		   struct durable **ret);

/**
 * durable_adopt() - a handle to the header a daemon before wrote in
 * @meta, checked against what the fd store gave: its magic, version and
 * header size, the metadata's size @meta_size, the heap's @layout_size
 * and the arena's @arena_size.  Changes nothing (durable_restart() does).
 * @why: on failure, why, for the log line.
 * Return: 0; -EINVAL (with @why), -EPROTONOSUPPORT for another version,
 * -ENOMEM.
 */
int durable_adopt(void *meta, uint64_t meta_size, uint64_t layout_size,
		  uint64_t arena_size, char *why, size_t whylen,
		  struct durable **ret);

/**
 * durable_restart() - this daemon is the next generation: the counters
 * the last one saved join those carried, the generation grows by one,
 * the last start is @now_real, and client ids go on from @min_client_id
 * if it is above the saved one.  Safe to be killed at any point (see
 * durable.c): the counters are folded exactly once.
 */
void durable_restart(struct durable *du, uint64_t now_real, uint32_t min_client_id);

/** durable_free() - the handle goes; the header stays.  NULL is fine. */
void durable_free(struct durable *du);

/** durable_config() - the options the heap was made with. */
void durable_config(const struct durable *du, struct durable_config *ret);

/* The slot of the owner @owner_id (indexed by its slot number), or NULL
 * if its slot number is beyond the table. */
void *durable_session_area(struct durable *du, uint32_t owner_id);
void *durable_mag_area(struct durable *du, uint32_t owner_id);

/** durable_generation() - 1 at the first start, one more each restart. */
uint64_t durable_generation(const struct durable *du);

/**
 * durable_arena_id() - random at format, the same across restarts, new
 * after a full stop.
 */
void durable_arena_id(const struct durable *du, uint64_t ret[2]);

/** durable_started() - CLOCK_REALTIME ns of the first start. */
uint64_t durable_started(const struct durable *du);

/** durable_restarted() - CLOCK_REALTIME ns of this daemon's start. */
uint64_t durable_restarted(const struct durable *du);

/** durable_next_client_id() - where the daemon's client ids go on. */
uint32_t durable_next_client_id(const struct durable *du);

/** durable_carried() - the counters of the daemons before this one. */
void durable_carried(const struct durable *du, struct durable_counters *ret);

/**
 * durable_save() - keep @live, this daemon's own counters, and
 * @next_client_id, for the next daemon: at every publish and at
 * shutdown.  Loop thread only.
 */
void durable_save(struct durable *du, const struct durable_counters *live,
			 uint32_t next_client_id);

#endif
