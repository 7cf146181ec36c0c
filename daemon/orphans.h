/* SPDX-License-Identifier: MIT */
/*
 * Orphans (orphans.c): heap owners with no connection that may still
 * come back.  Every live owner of an adopted heap is one, its grace
 * running from the daemon's start; session.c may make one of an owner
 * whose connection broke while its process lives.  A resume claims it
 * (orphans_claim()); when its grace (--reconnect-grace) is over, an
 * unclaimed orphan is freed as a departed client is (client.c, "Client
 * gone"): its object references dropped and OPEN objects aborted, its
 * spans freed and released at once, its owner record removed, and its
 * session cleared through a hook, so that its token never matches.
 * Loop thread only; the heap under its lock (core.h).
 */
#ifndef SPANHEAPD_ORPHANS_H
#define SPANHEAPD_ORPHANS_H

#include <stddef.h>
#include <stdint.h>

struct core;
struct event;
struct event_base;
struct objects;
struct scavenger;

struct orphans_hooks {
	/* @owner expired: forget its session (called under the heap lock). */
	void (*cleared_locked)(void *ctx, uint32_t owner);
	void *ctx;
};

/* One orphan: its owner id and the end of its grace (daemon_now()). */
struct orphan {
	uint32_t owner;
	uint64_t deadline_ns;
};

struct orphans {
	struct core *core;
	struct event_base *base;
	struct objects *objects;
	struct scavenger *scav;
	struct orphans_hooks hooks;
	uint64_t grace_ns;
	struct event *ev_grace;		/* at the first deadline */
	struct orphan *list;		/* in deadline order: grace is one */
	size_t n, cap;
	uint64_t reclaimed;		/* claimed by a resume; only grows */
	uint64_t expired;		/* freed at the end of their grace */
	uint64_t changes;		/* what MemStats shows moved; grows */
};

/**
 * orphans_init() - none yet; an orphan waits @grace_ns.  Return: 0, or
 * -ENOMEM for its timer.
 */
int orphans_init(struct orphans *o, struct core *core,
		 struct event_base *base, struct objects *objects,
		 struct scavenger *scav, uint64_t grace_ns,
		 const struct orphans_hooks *hooks);

/** orphans_fini() - forget them all (their owners stay in the heap). */
void orphans_fini(struct orphans *o);

/*
 * Every live heap owner at adoption is an orphan; its grace runs from
 * the daemon's start.  Also session.c's: a connection that broke while
 * its process lives (pidfd) may be made an orphan.
 * Return: 0, -EEXIST if it is one already, -ENOMEM.
 */
int orphans_add(struct orphans *o, uint32_t owner_id);

/*
 * A resume claims it: 0, or -ENOENT if it is no orphan (expired, never
 * was).
 */
int orphans_claim(struct orphans *o, uint32_t owner_id);

/** orphans_waiting() - orphans neither claimed nor expired yet. */
size_t orphans_waiting(const struct orphans *o);

/**
 * orphans_expire() - free every orphan whose grace ended by @now (the
 * timer calls it; tests too).  Return: how many were freed.
 */
size_t orphans_expire(struct orphans *o, uint64_t now);

#endif
