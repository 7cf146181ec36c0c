// SPDX-License-Identifier: MIT
/*
 * MemStats as one JSON object, built with jansson, and its publication:
 * the STATS reply (dispatch.c), the stats file, the systemd status line;
 * and the pages of the client list that CLIENTS answers with.
 *
 * Integers are bytes or nanoseconds.  The heap's figures are read in one
 * critical section, so the identities heap_sys == heap_idle + heap_inuse
 * and heap_released <= heap_idle hold in every snapshot.  The field list
 * is documented in docs/memstats.md and docs/memstats.schema.json.
 *
 * Cost.  A STATS request must not cost the daemon more than any other
 * request, however many clients there are and however many of them ask.
 * So the text lists at most STATS_LIST_MAX clients (CLIENTS pages give
 * the rest), and it is built at most once per change: every change
 * MemStats shows moves a counter of the part where it happens (a request
 * served, a client gone: the clients'; a GC pass, the end of a release
 * pass: the scavenger's; a refusal: the server's; a publication: ours),
 * and the cached text is reused while the sum of those it was built at
 * (stats_key()) is current and it is younger than STATS_MAX_AGE_NS.  The
 * age bound covers what moves without a request: uptime_ns,
 * arena_resident (clients write the arena directly), the heap while a
 * release pass runs, the requests count of clients that sent only
 * STATS or CLIENTS, and the magazines (clients take and free spans
 * without telling the daemon: cached and the fast_* counters).  The text is a refcounted blob, and a
 * reply takes its reference only when its first chunk goes out
 * (client.c): a client that does not read holds no text at all, and one
 * whose socket takes a long text slowly holds a reference, not a copy.
 *
 * Locks.  Every figure of the heap, the scavenger and a client's owner
 * record (its spans and bytes) is read under the heap lock: the *_locked
 * functions check that they are called so.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "charge.h"
#include "client.h"
#include "core.h"
#include "durable.h"
#include "log.h"
#include "objects.h"
#include "orphans.h"
#include "pressure.h"
#include "reclaim.h"
#include "scavenger.h"
#include "server.h"
#include "shm/arena.h"
#include "shm/heap.h"
#include "shm/units.h"
#include "stats.h"

#define STATS_RECENT_PAUSES 16

/* Needs the heap lock: it reads the client's heap owner. */
static json_t *client_json_locked(const struct client *c)
{
	struct magazine_info mi;
	struct heap_owner_info o;

	client_owner_locked(c, &o);
	client_magazine_locked(c, &mi);
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b,"
			 " s:I}",
			 "id", (json_int_t)c->id,
			 "name", c->name,
			 "pid", (json_int_t)c->cred.pid,
			 "uid", (json_int_t)c->cred.uid,
			 "gid", (json_int_t)c->cred.gid,
			 "spans", (json_int_t)o.nspans,
			 "bytes", (json_int_t)(o.npages * HEAP_PAGE_SIZE),
			 "requests", (json_int_t)c->nrequests,
			 "cached", (json_int_t)mi.cached,
			 "magazine", c->mag != NULL,
			 "resumed", (json_int_t)c->resumed);
}

/*
 * A client's quotas (charge.h): "quota", the tighter of its connection's
 * and its uid's (0: none), and its uid's quota and what the uid holds.
 */
static json_t *client_quota_json_locked(const struct client *c, json_t *j)
{
	const struct charge *ch = c->cs->charge;
	uint64_t uq = ch ? charge_uid_quota(ch, c->cred.uid) : 0;
	uint64_t q = ch ? charge_client_quota(ch) : 0;

	if (!j)
		return NULL;
	if (uq && (!q || uq < q))
		q = uq;
	if (json_object_set_new(j, "quota", json_integer((json_int_t)q)) ||
	    json_object_set_new(j, "uid_quota", json_integer((json_int_t)uq)) ||
	    json_object_set_new(j, "uid_bytes", json_integer((json_int_t)(
		ch ? charge_uid_bytes_locked(ch, c->cred.uid) : 0)))) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The welcomed clients picked for one list. */
struct pick {
	const struct client *c[PROTO_CLIENTS_PAGE];
	size_t n;		/* in c[], in id order */
	size_t count;		/* welcomed clients in all */
	bool more;		/* some of id above @after were left out */
};
_Static_assert(STATS_LIST_MAX <= PROTO_CLIENTS_PAGE, "pick");

/*
 * The welcomed clients of id above @after, in id order, at most @max.
 * The list is in connection order, which is id order until the ids wrap
 * after 2^32 connections; an insertion into the sorted picks then costs
 * nothing, so this is O(clients), and O(clients * max) at worst.
 */
static void pick_clients(const struct clients *cs, uint32_t after,
			 size_t max, struct pick *p)
{
	const struct client *c;

	p->n = p->count = 0;
	p->more = false;
	TAILQ_FOREACH(c, &cs->list, link) {
		size_t k;

		if (!c->welcomed)
			continue;
		p->count++;
		if (c->id <= after)
			continue;
		if (p->n == max) {
			p->more = true;
			if (!p->n || p->c[p->n - 1]->id < c->id)
				continue;
			p->n--;		/* the largest gives way */
		}
		for (k = p->n; k > 0 && p->c[k - 1]->id > c->id; k--)
			p->c[k] = p->c[k - 1];
		p->c[k] = c;
		p->n++;
	}
}

/* The JSON array of @p's clients; NULL if out of memory. */
static json_t *list_json_locked(const struct core *core, const struct pick *p)
{
	json_t *list = json_array();

	daemon_assert_locked(core);
	for (size_t i = 0; list && i < p->n; i++)
		if (json_array_append_new(list, client_quota_json_locked(
				p->c[i], client_json_locked(p->c[i])))) {
			json_decref(list);
			list = NULL;
		}
	return list;
}

/* A CLOCK_MONOTONIC time as Unix time in ns, as the seed's LastGC. */
static uint64_t to_unix_ns(uint64_t mono)
{
	struct timespec ts;
	uint64_t real, now = daemon_now();

	clock_gettime(CLOCK_REALTIME, &ts);
	real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	return real - (now - mono);
}

/* The paced policy's block (zeros with the delay policy). */
static json_t *paced_json(const struct scavenger_paced_stats *ps)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "headroom_pct", (json_int_t)ps->headroom_pct,
			 "goal_bytes", (json_int_t)ps->goal,
			 "peak_bytes", (json_int_t)ps->peak,
			 "retained_bytes", (json_int_t)ps->retained,
			 "released_bytes_total", (json_int_t)ps->released,
			 "steps_total", (json_int_t)ps->steps,
			 "step_bytes", (json_int_t)ps->step_bytes,
			 "cpu_ns_total", (json_int_t)ps->cpu_ns,
			 "cpu_ppm", (json_int_t)ps->cpu_ppm);
}

static json_t *scavenger_json(const struct scav *s)
{
	struct scavenger_paced_stats ps;

	scavenger_paced_stats_of(s, daemon_now(), &ps);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:I, s:s, s:o}",
			 "passes", (json_int_t)s->passes,
			 "released_bytes_total", (json_int_t)s->released_total,
			 "released_bytes_last", (json_int_t)s->released_last,
			 "stray_released_bytes_total", (json_int_t)s->stray_total,
			 "stray_released_bytes_last", (json_int_t)s->stray_last,
			 "departed_released_bytes_total",
			 (json_int_t)s->departed_total,
			 "time_ns", (json_int_t)s->time_ns,
			 "forced_releases", (json_int_t)s->forced_releases,
			 "release_errors", (json_int_t)s->release_errors,
			 "forced_gc", (json_int_t)s->forced_gc,
			 "ticks", (json_int_t)s->ticks,
			 "scavenge_after_ns", (json_int_t)s->cfg.scavenge_after_ns,
			 "gc_after_ns", (json_int_t)s->cfg.gc_after_ns,
			 "policy", ps.policy,
			 "paced", paced_json(&ps));
}

/* The magazines' block: every counter, departed clients' included. */
static json_t *magazines_json(const struct magazine_info *mi, uint64_t max)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:I}",
			 "cached", (json_int_t)mi->cached,
			 "max_bytes", (json_int_t)max,
			 "fast_allocs", (json_int_t)mi->fast_allocs,
			 "fast_frees", (json_int_t)mi->fast_frees,
			 "filled", (json_int_t)mi->filled,
			 "returned", (json_int_t)mi->returned,
			 "revoked", (json_int_t)mi->revoked,
			 "refills", (json_int_t)mi->refills,
			 "kicks", (json_int_t)mi->kicks,
			 "bad_entries", (json_int_t)mi->bad,
			 "resumed", (json_int_t)mi->resumed,
			 "resume_freed", (json_int_t)mi->resume_freed,
			 "resume_held", (json_int_t)mi->resume_held);
}

/* The figures that need the heap lock, taken in one go. */
struct snapshot {
	struct magazine_info mags;
	struct heap_stats hs;
	struct scav scav;
	struct pick pick;
	json_t *clients;
	json_t *objects;
	json_t *quotas;
	struct durable_counters total;	/* carried + this daemon's */
	uint64_t resumed, replayed;	/* sessions' */
};

static void gather_locked(struct stats *st, const struct scav *sc,
			  const struct magazine_info *mi,
			  struct durable_counters *c)
{
	const struct orphans *o = st->src.orphans;

	daemon_assert_locked(st->src.core);
	memset(c, 0, sizeof(*c));
	c->num_gc = sc->num_gc;
	c->forced_gc = sc->forced_gc;
	c->pause_total_ns = sc->pause_total_ns;
	c->heap_checks = st->src.scav->heap_checks;
	c->control_deferred = st->src.clients->control_deferred;
	c->refused = st->src.server->refused;
	c->ticks = sc->ticks;
	c->passes = sc->passes;
	c->released_total = sc->released_total;
	c->stray_total = sc->stray_total;
	c->departed_total = sc->departed_total;
	c->time_ns = sc->time_ns;
	c->forced_releases = sc->forced_releases;
	c->release_errors = sc->release_errors;
	c->obj_woken = st->src.objects->woken;
	c->obj_timeouts = st->src.objects->timeouts;
	c->mag_fast_allocs = mi->fast_allocs;
	c->mag_fast_frees = mi->fast_frees;
	c->mag_filled = mi->filled;
	c->mag_returned = mi->returned;
	c->mag_revoked = mi->revoked;
	c->mag_refills = mi->refills;
	c->mag_kicks = mi->kicks;
	c->mag_bad = mi->bad;
	c->mag_resumed = mi->resumed;
	c->mag_resume_freed = mi->resume_freed;
	c->mag_resume_held = mi->resume_held;
	c->orphans_reclaimed = o ? o->reclaimed : 0;
	c->orphans_expired = o ? o->expired : 0;
}

void stats_counters_locked(struct stats *st, struct durable_counters *ret)
{
	struct magazine_info mi = { 0 };
	struct scav sc;

	clients_magazines_locked(st->src.clients, &mi);
	scavenger_snapshot_locked(st->src.scav, &sc);
	gather_locked(st, &sc, &mi, ret);
}

/*
 * What MemStats shows of the counters that carry across restarts: those
 * of the daemons before (durable_carried()) and this one's, added, in
 * the snapshot's own figures.
 */
static void add_carried(struct stats *st, struct snapshot *s)
{
	struct durable_counters *t = &s->total, c = { 0 };
	uint64_t *pt = (uint64_t *)t;
	const uint64_t *pc = (const uint64_t *)&c;

	gather_locked(st, &s->scav, &s->mags, t);
	if (st->src.durable)
		durable_carried(st->src.durable, &c);
	for (size_t i = 0; i < sizeof(c) / sizeof(uint64_t); i++)
		pt[i] += pc[i];
	s->scav.num_gc = t->num_gc;
	s->scav.forced_gc = t->forced_gc;
	s->scav.pause_total_ns = t->pause_total_ns;
	s->scav.ticks = t->ticks;
	s->scav.passes = t->passes;
	s->scav.released_total = t->released_total;
	s->scav.stray_total = t->stray_total;
	s->scav.departed_total = t->departed_total;
	s->scav.time_ns = t->time_ns;
	s->scav.forced_releases = t->forced_releases;
	s->scav.release_errors = t->release_errors;
	s->mags.fast_allocs = t->mag_fast_allocs;
	s->mags.fast_frees = t->mag_fast_frees;
	s->mags.filled = t->mag_filled;
	s->mags.returned = t->mag_returned;
	s->mags.revoked = t->mag_revoked;
	s->mags.refills = t->mag_refills;
	s->mags.kicks = t->mag_kicks;
	s->mags.bad = t->mag_bad;
	s->mags.resumed = t->mag_resumed;
	s->mags.resume_freed = t->mag_resume_freed;
	s->mags.resume_held = t->mag_resume_held;
}

static int snapshot(struct stats *st, struct snapshot *s)
{
	struct core *core = st->src.core;

	pick_clients(st->src.clients, 0, STATS_LIST_MAX, &s->pick);
	memset(&s->mags, 0, sizeof(s->mags));
	daemon_heap_lock(core);
	/* First: syncing a magazine moves its spans from FILL to HELD. */
	clients_magazines_locked(st->src.clients, &s->mags);
	heap_stats(core->heap, &s->hs);
	scavenger_snapshot_locked(st->src.scav, &s->scav);
	s->clients = list_json_locked(core, &s->pick);
	s->objects = objects_json_locked(st->src.objects);
	s->quotas = st->src.charge ? charge_json_locked(st->src.charge) :
				     json_object();
	add_carried(st, s);
	s->resumed = st->src.clients->sessions.resumed;
	s->replayed = st->src.clients->sessions.replayed;
	daemon_heap_unlock(core);
	if (s->clients && s->objects && s->quotas) {
		json_object_set_new(s->objects, "woken",
				    json_integer((json_int_t)s->total.obj_woken));
		json_object_set_new(s->objects, "timeouts",
				    json_integer((json_int_t)s->total.obj_timeouts));
		return 0;
	}
	json_decref(s->clients);
	json_decref(s->objects);
	json_decref(s->quotas);
	return -ENOMEM;
}

/* A blob of one reference holding the text of @root; NULL on failure. */
static struct blob *blob_of(json_t *root)
{
	struct blob *b;
	char *text;

	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return NULL;
	b = blob_new(text, strlen(text));
	free(text);
	return b;
}

static uint64_t real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The restart fields: the generation (1: the first start of this
 * arena), the first and the last start (Unix ns), the seconds since the
 * last, and the orphans (orphans.h).
 */
static int restart_json(struct stats *st, const struct snapshot *s,
			json_t *root)
{
	const struct orphans *o = st->src.orphans;
	uint64_t gen = 1, started, restarted, now = real_now();

	started = restarted = now - (daemon_now() - st->start_ns);
	if (st->src.durable) {
		gen = durable_generation(st->src.durable);
		started = durable_started(st->src.durable);
		restarted = durable_restarted(st->src.durable);
	}
	if (json_object_set_new(root, "generation",
				json_integer((json_int_t)gen)) ||
	    json_object_set_new(root, "started",
				json_integer((json_int_t)started)) ||
	    json_object_set_new(root, "restarted",
				json_integer((json_int_t)restarted)) ||
	    json_object_set_new(root, "since_restart_s",
				json_integer((json_int_t)(now > restarted ?
					(now - restarted) / 1000000000u : 0))) ||
	    json_object_set_new(root, "orphans", json_pack(
		"{s:I, s:I, s:I}",
		"waiting", (json_int_t)(o ? orphans_waiting(o) : 0),
		"reclaimed", (json_int_t)s->total.orphans_reclaimed,
		"expired", (json_int_t)s->total.orphans_expired)))
		return -ENOMEM;
	return 0;
}

/*
 * Pressure (pressure.h): the events and what their forced passes
 * released, at the top as the issue names them, and the watch's file and
 * trigger (null without a watch).
 */
static int pressure_json(const struct stats *st, json_t *root)
{
	const struct pressure_counts *pc = st->src.pressure_counts;
	struct pressure *p = st->src.pressure ? *st->src.pressure : NULL;
	const char *src = p ? pressure_source(p) : NULL;
	const char *trig = p ? pressure_trigger_text(p) : NULL;

	if (json_object_set_new(root, "pressure_events",
				json_integer(pc ? (json_int_t)pc->events : 0)) ||
	    json_object_set_new(root, "pressure_released_bytes",
				json_integer(pc ? (json_int_t)pc->released : 0)))
		return -1;
	return json_object_set_new(root, "pressure", json_pack(
		"{s:o, s:o}",
		"source", src ? json_string(src) : json_null(),
		"trigger", trig ? json_string(trig) : json_null()));
}

/* The memory limit's block (reclaim.h): what it is, what it made wait. */
static int limit_json(const struct stats *st, json_t *root)
{
	struct reclaim_stats r = { 0 };

	if (st->src.reclaim)
		reclaim_snapshot(st->src.reclaim, &r);
	return json_object_set_new(root, "limit", json_pack(
		"{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"bytes", (json_int_t)st->src.memory_limit,
		"source", st->src.memory_limit_source ?
			  st->src.memory_limit_source : "",
		"waits", (json_int_t)r.waits,
		"rounds", (json_int_t)r.rounds,
		"futile_rounds", (json_int_t)r.futile,
		"released_bytes", (json_int_t)r.released_bytes,
		"evicted", (json_int_t)r.evicted,
		"evicted_bytes", (json_int_t)r.evicted_bytes,
		"step_max_ns", (json_int_t)r.step_max_ns,
		"time_ns", (json_int_t)r.time_ns));
}

static struct blob *stats_build(struct stats *st)
{
	const struct clients *cs = st->src.clients;
	uint64_t pauses[STATS_RECENT_PAUSES], resident = 0, consumed;
	struct snapshot s;
	json_t *pj, *root;
	size_t np;

	if (snapshot(st, &s) < 0)
		return NULL;
	arena_resident(st->src.arena, &resident);
	np = scav_pause_recent(&s.scav, pauses, STATS_RECENT_PAUSES);
	pj = json_array();
	for (size_t i = 0; pj && i < np; i++)
		json_array_append_new(pj, json_integer((json_int_t)pauses[i]));
	consumed = s.hs.sys - s.hs.released;
	root = json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o,"
		" s:{s:I, s:I, s:I, s:I, s:o}, s:o, s:o, s:o, s:{s:I, s:I, s:I}}",
		"version", SPANHEAPD_VERSION,
		"uptime_ns", (json_int_t)(daemon_now() - st->start_ns),
		"page_size", (json_int_t)HEAP_PAGE_SIZE,
		"arena_size", (json_int_t)s.hs.arena_size,
		"arena_resident", (json_int_t)resident,
		"arena_unaccounted", (json_int_t)(resident > consumed ?
					resident - consumed : 0),
		"heap_sys", (json_int_t)s.hs.sys,
		"heap_idle", (json_int_t)s.hs.idle,
		"heap_inuse", (json_int_t)s.hs.inuse,
		"cached", (json_int_t)s.mags.cached,
		"heap_released", (json_int_t)s.hs.released,
		"heap_objects", (json_int_t)s.hs.objects,
		"consumed", (json_int_t)consumed,
		"free_spans", (json_int_t)s.hs.free_spans,
		"last_gc", (json_int_t)(s.scav.num_gc ?
					to_unix_ns(s.scav.last_gc) : 0),
		"num_gc", (json_int_t)s.scav.num_gc,
		"pause_total_ns", (json_int_t)s.scav.pause_total_ns,
		"heap_checks", (json_int_t)s.total.heap_checks,
		"control_deferred", (json_int_t)s.total.control_deferred,
		"pause_ns", pj,
		"scavenger", scavenger_json(&s.scav),
		"clients",
		"count", (json_int_t)s.pick.count,
		"max", (json_int_t)st->src.opt->max_clients,
		"refused", (json_int_t)s.total.refused,
		"listed", (json_int_t)s.pick.n,
		"list", s.clients,
		"objects", s.objects,
		"quotas", s.quotas,
		"magazines", magazines_json(&s.mags, cs->mag_bytes),
		"sessions",
		"resumed", (json_int_t)s.resumed,
		"retries_replayed", (json_int_t)s.replayed,
		"grace_ms", (json_int_t)clients_grace_ms(cs));
	if (root && (limit_json(st, root) < 0 || pressure_json(st, root) < 0)) {
		json_decref(root);
		root = NULL;
	}
	if (root && restart_json(st, &s, root) < 0) {
		json_decref(root);
		root = NULL;
	}
	return blob_of(root);
}

void stats_init(struct stats *st, const struct stats_sources *src)
{
	memset(st, 0, sizeof(*st));
	st->src = *src;
	st->start_ns = daemon_now();
}

void stats_changed(struct stats *st)
{
	st->gen++;
}

/*
 * What the cached text was built at: our generation plus the counters of
 * the parts that change what MemStats shows, which need not know of the
 * cache.  Each only grows, so their sum moves if any does.
 */
static uint64_t stats_key(const struct stats *st)
{
	return st->gen + st->src.clients->changes + st->src.scav->changes +
	       st->src.objects->changes + st->src.server->refused +
	       (st->src.orphans ? st->src.orphans->changes : 0) +
	       (st->src.reclaim ? st->src.reclaim->changes : 0) +
	       (st->src.charge ? st->src.charge->changes : 0);
}

void stats_save(struct stats *st)
{
	struct durable_counters c;

	if (!st->src.durable)
		return;
	daemon_heap_lock(st->src.core);
	stats_counters_locked(st, &c);
	daemon_heap_unlock(st->src.core);
	durable_save(st->src.durable, &c, st->src.clients->next_id);
}

/*
 * The counters are saved after the text is built, so every counter the
 * text shows is at most what the header keeps: a reader never sees a
 * counter that a SIGKILL then takes back.
 */
struct blob *stats_get(struct stats *st)
{
	uint64_t now = daemon_now();
	struct blob *b = st->cache;

	if (!b || st->cache_key != stats_key(st) ||
	    now - st->cache_ns >= STATS_MAX_AGE_NS) {
		b = stats_build(st);
		if (!b)
			return NULL;
		blob_put(st->cache);
		st->cache = b;
		st->cache_key = stats_key(st);
		st->cache_ns = now;
		stats_save(st);
	}
	return blob_get(b);
}

struct blob *stats_clients_page(struct stats *st, uint32_t after,
				uint32_t max)
{
	struct core *core = st->src.core;
	struct pick p;
	uint32_t next;
	json_t *list;

	if (max > PROTO_CLIENTS_PAGE)
		max = PROTO_CLIENTS_PAGE;
	pick_clients(st->src.clients, after, max, &p);
	daemon_heap_lock(core);
	list = list_json_locked(core, &p);
	daemon_heap_unlock(core);
	if (!list)
		return NULL;
	next = p.more && p.n ? p.c[p.n - 1]->id : 0;
	/* "next" comes last: libspanclient reads it from the end. */
	return blob_of(json_pack("{s:o, s:I}", "clients", list, "next",
				 (json_int_t)next));
}

struct blob *stats_text(struct stats *st, const struct text_req *req)
{
	if (req->type == PROTO_CLIENTS)
		return stats_clients_page(st, (uint32_t)req->after, req->max);
	if (req->type == PROTO_OBJECTS)
		return blob_of(objects_page_json(st->src.objects, req->after,
						 req->max));
	return stats_get(st);
}

void stats_fini(struct stats *st)
{
	blob_put(st->cache);
	st->cache = NULL;
}

/* Write @text to @path so that readers see the old file or the new one. */
static int write_atomic(const char *path, const char *text)
{
	char tmp[4096];
	size_t len = strlen(text);
	int fd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path,
			     (int)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	/* Never follow a link someone left at the temporary name. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				       O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	/* Stats are for everyone to read, whatever the service's umask. */
	if (fchmod(fd, 0644) < 0)
		r = -errno;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		r = -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

void stats_publish(struct stats *st)
{
	const char *path = st->src.opt->stats_file;
	struct core *core = st->src.core;
	char inuse[32], idle[32], rel[32];
	struct heap_stats hs;
	unsigned int n = 0;
	struct client *c;

	/* Called once a tick and a pass: the file is never stale. */
	stats_changed(st);
	if (path) {
		struct blob *b = stats_get(st);
		int r = b ? write_atomic(path, b->text) : -ENOMEM;

		blob_put(b);
		if (r < 0 && !st->file_failed)
			log_warn("cannot write %s: %s", path, strerror(-r));
		st->file_failed = r < 0;
	}
	daemon_heap_lock(core);
	heap_stats(core->heap, &hs);
	daemon_heap_unlock(core);
	TAILQ_FOREACH(c, &st->src.clients->list, link)
		n += c->welcomed;
	units_format_size(inuse, sizeof(inuse), hs.inuse);
	units_format_size(idle, sizeof(idle), hs.idle);
	units_format_size(rel, sizeof(rel), hs.released);
	sd_notifyf(0, "STATUS=in use %s, idle %s, released %s, %u client%s, generation %llu",
		   inuse, idle, rel, n, n == 1 ? "" : "s",
		   (unsigned long long)(st->src.durable ?
				durable_generation(st->src.durable) : 1));
}
