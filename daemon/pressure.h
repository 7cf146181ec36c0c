/* SPDX-License-Identifier: MIT */
/*
 * The memory pressure watch: a PSI trigger (psi.h) on the daemon's
 * event loop, woken by the kernel, never polled.  It knows nothing of
 * the heap: what a pressure event does (release every idle span) is
 * the @fired hook it is given.  Loop thread only.
 */
#ifndef SPANHEAPD_PRESSURE_H
#define SPANHEAPD_PRESSURE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct pressure;

/*
 * What the daemon did about pressure (daemon.c counts, stats.c shows):
 * events seen, the forced pass the last one asked for, and the bytes the
 * passes they asked for released.
 */
struct pressure_counts {
	uint64_t events;
	uint64_t pass;		/* scavenger_force()'s number, 0: served */
	uint64_t released;
};

/* The fallback when the cgroup's own file is missing or refuses. */
#define PRESSURE_PROC_FILE "/proc/pressure/memory"

/**
 * pressure_open() - watch memory pressure on @base.
 * @trigger: a PSI trigger, "some|full STALL_US WINDOW_US" (see psi.h and
 *	the kernel's Documentation/accounting/psi.rst), written to the
 *	memory.pressure file of the daemon's own cgroup v2 (from the
 *	"0::" line of /proc/self/cgroup and the cgroup2 mount of
 *	/proc/self/mountinfo) or, if that is missing or refuses the
 *	trigger, to PRESSURE_PROC_FILE; NULL or "off": no trigger
 * @inject: NULL, or the path of a FIFO (made if missing): whatever
 *	bytes are written there, as one batch, are one event (the tests'
 *	--pressure-inject)
 * @fired: called on the loop thread for each event, with @ctx; it must
 *	not call pressure_close()
 *
 * Every event is delivered, however soon after the one before: the
 * kernel already sends at most one per window.  If the file later
 * reports an error (its cgroup was removed), the watch ends with one
 * log line and pressure_source() says NULL; the FIFO stays.
 *
 * Return: 0 with *@ret set; or -errno, logged with the file, the error
 * and the fix (a kernel without CONFIG_PSI or booted with psi=0, /proc
 * hidden by ProcSubset=pid, a window that is not a multiple of 2 s
 * without CAP_SYS_RESOURCE ...), and nothing left open.
 */
int pressure_open(struct event_base *base, const char *trigger,
		  const char *inject, void (*fired)(void *ctx), void *ctx,
		  struct pressure **ret);

/**
 * pressure_source() - the PSI file watched: the cgroup's memory.pressure
 * or PRESSURE_PROC_FILE; NULL if none (trigger off, or the watch ended).
 */
const char *pressure_source(const struct pressure *p);

/**
 * pressure_trigger_text() - the trigger as written to the kernel, such
 * as "some 200000 2000000" (blanks made single); NULL if it is off.
 * Stays after the watch ended.
 */
const char *pressure_trigger_text(const struct pressure *p);

/** pressure_close() - end the watch and free @p; NULL is fine. */
void pressure_close(struct pressure *p);

/**
 * pressure_trigger_valid() - check @spec as --pressure-trigger takes it:
 * a trigger psi_trigger_parse() accepts, or "off".
 * @err: on failure, why and what to give instead, to follow
 *	"invalid --pressure-trigger 'SPEC': " (no newline)
 *
 * Return: 0, or -EINVAL with @err filled.
 */
int pressure_trigger_valid(const char *spec, char *err, size_t len);

#endif
