// SPDX-License-Identifier: MIT
/*
 * Orphans: see orphans.h.  The list is in deadline order, because every
 * orphan waits the same --reconnect-grace from when it was made one; the
 * one timer is set for the first deadline, and each expiry frees the
 * orphans at the head whose deadline has passed.  An orphan is freed
 * exactly as client.c's drop_heap() frees a departed client, in the same
 * order: its objects first (objects_owner_gone_locked()), then its spans
 * (heap_free_owner_each(), each queued for the scavenger's departed-span
 * release, whatever its magazine state), then its owner record.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "objects.h"
#include "orphans.h"
#include "scavenger.h"
#include "shm/heap.h"

static void arm(struct orphans *o, uint64_t now)
{
	uint64_t left;
	struct timeval tv;

	if (!o->n) {
		event_del(o->ev_grace);
		return;
	}
	left = o->list[0].deadline_ns > now ? o->list[0].deadline_ns - now : 0;
	tv.tv_sec = (time_t)(left / 1000000000u);
	tv.tv_usec = (suseconds_t)(left % 1000000000u / 1000u) + 1;
	event_add(o->ev_grace, &tv);
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct orphans *o = arg;

	(void)fd, (void)what;
	orphans_expire(o, daemon_now());
}

int orphans_init(struct orphans *o, struct core *core,
		 struct event_base *base, struct objects *objects,
		 struct scavenger *scav, uint64_t grace_ns,
		 const struct orphans_hooks *hooks)
{
	memset(o, 0, sizeof(*o));
	o->core = core;
	o->base = base;
	o->objects = objects;
	o->scav = scav;
	o->grace_ns = grace_ns;
	if (hooks)
		o->hooks = *hooks;
	o->ev_grace = evtimer_new(base, on_grace, o);
	return o->ev_grace ? 0 : -ENOMEM;
}

void orphans_fini(struct orphans *o)
{
	if (o->ev_grace)
		event_free(o->ev_grace);
	o->ev_grace = NULL;
	free(o->list);
	o->list = NULL;
	o->n = o->cap = 0;
}

static ssize_t find(const struct orphans *o, uint32_t owner_id)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->list[i].owner == owner_id)
			return (ssize_t)i;
	return -1;
}

int orphans_add(struct orphans *o, uint32_t owner_id)
{
	uint64_t now = daemon_now();

	if (find(o, owner_id) >= 0)
		return -EEXIST;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct orphan *l = realloc(o->list, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		o->list = l;
		o->cap = cap;
	}
	o->list[o->n++] = (struct orphan){ owner_id, now + o->grace_ns };
	o->changes++;
	if (o->n == 1)
		arm(o, now);
	return 0;
}

static void remove_at(struct orphans *o, size_t i)
{
	memmove(&o->list[i], &o->list[i + 1],
		(o->n - i - 1) * sizeof(o->list[0]));
	o->n--;
	o->changes++;
}

int orphans_claim(struct orphans *o, uint32_t owner_id)
{
	ssize_t i = find(o, owner_id);

	if (i < 0)
		return -ENOENT;
	remove_at(o, (size_t)i);
	o->reclaimed++;
	if (i == 0)
		arm(o, daemon_now());
	return 0;
}

size_t orphans_waiting(const struct orphans *o)
{
	return o->n;
}

/* Free @owner as a departed client is freed; the heap lock is held. */
static void free_owner_locked(struct orphans *o, uint32_t owner,
			      uint64_t now, struct heap_owner_info *ret)
{
	struct heap *h = o->core->heap;

	daemon_assert_locked(o->core);
	if (heap_owner_get(h, owner, ret) < 0) {
		memset(ret, 0, sizeof(*ret));
		return;		/* gone already: nothing to free */
	}
	if (o->objects)
		objects_owner_gone_locked(o->objects, owner);
	heap_free_owner_each(h, owner, now, scavenger_queue_departed_locked,
			     o->scav);
	if (o->hooks.cleared_locked)
		o->hooks.cleared_locked(o->hooks.ctx, owner);
	heap_owner_remove(h, owner);
}

size_t orphans_expire(struct orphans *o, uint64_t now)
{
	uint64_t spans = 0, pages = 0;
	size_t done = 0;

	daemon_heap_lock(o->core);
	while (o->n && o->list[0].deadline_ns <= now) {
		struct heap_owner_info oi;

		free_owner_locked(o, o->list[0].owner, now, &oi);
		spans += oi.nspans;
		pages += oi.npages;
		remove_at(o, 0);
		o->expired++;
		done++;
	}
	daemon_heap_unlock(o->core);
	if (done) {
		scavenger_release_departed(o->scav);
		log_info("%zu client%s did not come back within --reconnect-grace; freed %llu spans, %llu pages",
			 done, done == 1 ? "" : "s",
			 (unsigned long long)spans, (unsigned long long)pages);
	}
	arm(o, now);
	return done;
}
