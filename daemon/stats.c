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
 * the rest), and it is built at most once per change: d->stats_gen is
 * bumped by every change MemStats shows (a request served, a client
 * gone, a GC pass, the end of a release pass, a tick; and the accept
 * path's refusals, see stats_key()), and the cached text is reused while
 * the generation it was built at is current and it is younger than
 * STATS_MAX_AGE_NS.  The age bound covers what moves without a request:
 * uptime_ns, arena_resident (clients write the arena directly), the
 * heap while a release pass runs, and the requests count of clients
 * that sent only STATS or CLIENTS.  The text is a refcounted blob, and a
 * reply takes its reference only when its first chunk goes out
 * (client.c): a client that does not read holds no text at all, and one
 * whose socket takes a long text slowly holds a reference, not a copy.
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

#include "daemon.h"
#include "log.h"
#include "shm/units.h"

#define STATS_RECENT_PAUSES 16

/* Needs the heap lock: it reads the client's heap owner. */
static json_t *client_json_locked(const struct client *c)
{
	struct heap_owner_info o = { 0 };

	daemon_assert_locked(c->d);
	heap_owner_get(c->d->heap, c->owner, &o);
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "id", (json_int_t)c->id,
			 "name", c->name,
			 "pid", (json_int_t)c->cred.pid,
			 "uid", (json_int_t)c->cred.uid,
			 "gid", (json_int_t)c->cred.gid,
			 "spans", (json_int_t)o.nspans,
			 "bytes", (json_int_t)(o.npages * HEAP_PAGE_SIZE),
			 "requests", (json_int_t)c->nrequests);
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
static void pick_clients(const struct daemon *d, uint32_t after, size_t max,
			 struct pick *p)
{
	const struct client *c;

	p->n = p->count = 0;
	p->more = false;
	TAILQ_FOREACH(c, &d->clients, link) {
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
static json_t *list_json_locked(const struct pick *p)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < p->n; i++)
		if (json_array_append_new(list, client_json_locked(p->c[i]))) {
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

static json_t *scavenger_json(const struct scav *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:I}",
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
			 "gc_after_ns", (json_int_t)s->cfg.gc_after_ns);
}

/* The figures that need the heap lock, taken in one go. */
struct snapshot {
	struct heap_stats hs;
	struct scav scav;
	struct pick pick;
	json_t *clients;
};

static int snapshot(struct daemon *d, struct snapshot *s)
{
	pick_clients(d, 0, STATS_LIST_MAX, &s->pick);
	daemon_heap_lock(d);
	heap_stats(d->heap, &s->hs);
	s->scav = d->scav;
	s->clients = list_json_locked(&s->pick);
	daemon_heap_unlock(d);
	return s->clients ? 0 : -ENOMEM;
}

/* A blob of one reference holding the text of @root; NULL on failure. */
static struct stats_blob *blob_of(json_t *root)
{
	struct stats_blob *b;
	char *text;
	size_t len;

	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		return NULL;
	len = strlen(text);
	b = malloc(sizeof(*b) + len + 1);
	if (b) {
		b->refs = 1;
		b->len = len;
		memcpy(b->text, text, len + 1);
	}
	free(text);
	return b;
}

static struct stats_blob *stats_build(struct daemon *d)
{
	uint64_t pauses[STATS_RECENT_PAUSES], resident = 0, consumed;
	struct snapshot s;
	json_t *pj;
	size_t np;

	if (snapshot(d, &s) < 0)
		return NULL;
	arena_resident(d->arena, &resident);
	np = scav_pause_recent(&s.scav, pauses, STATS_RECENT_PAUSES);
	pj = json_array();
	for (size_t i = 0; pj && i < np; i++)
		json_array_append_new(pj, json_integer((json_int_t)pauses[i]));
	consumed = s.hs.sys - s.hs.released;
	return blob_of(json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		" s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o,"
		" s:{s:I, s:I, s:I, s:I, s:o}}",
		"version", SPANHEAPD_VERSION,
		"uptime_ns", (json_int_t)(daemon_now() - d->start_ns),
		"page_size", (json_int_t)HEAP_PAGE_SIZE,
		"arena_size", (json_int_t)s.hs.arena_size,
		"arena_resident", (json_int_t)resident,
		"arena_unaccounted", (json_int_t)(resident > consumed ?
					resident - consumed : 0),
		"heap_sys", (json_int_t)s.hs.sys,
		"heap_idle", (json_int_t)s.hs.idle,
		"heap_inuse", (json_int_t)s.hs.inuse,
		"heap_released", (json_int_t)s.hs.released,
		"heap_objects", (json_int_t)s.hs.objects,
		"consumed", (json_int_t)consumed,
		"free_spans", (json_int_t)s.hs.free_spans,
		"last_gc", (json_int_t)(s.scav.num_gc ?
					to_unix_ns(s.scav.last_gc) : 0),
		"num_gc", (json_int_t)s.scav.num_gc,
		"pause_total_ns", (json_int_t)s.scav.pause_total_ns,
		"heap_checks", (json_int_t)d->heap_checks,
		"control_deferred", (json_int_t)d->control_deferred,
		"pause_ns", pj,
		"scavenger", scavenger_json(&s.scav),
		"clients",
		"count", (json_int_t)s.pick.count,
		"max", (json_int_t)d->opt.max_clients,
		"refused", (json_int_t)d->refused,
		"listed", (json_int_t)s.pick.n,
		"list", s.clients));
}

void stats_changed(struct daemon *d)
{
	d->stats_gen++;
}

/*
 * What the cached text was built at: the generation, plus the refusals
 * of the accept path (server.c), which changes nothing else and need not
 * know of the cache.  Both only grow, so their sum moves if either does.
 */
static uint64_t stats_key(const struct daemon *d)
{
	return d->stats_gen + d->refused;
}

void stats_blob_put(struct stats_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

struct stats_blob *stats_get(struct daemon *d)
{
	uint64_t now = daemon_now();
	struct stats_blob *b = d->stats_cache;

	if (!b || d->stats_cache_gen != stats_key(d) ||
	    now - d->stats_cache_ns >= STATS_MAX_AGE_NS) {
		b = stats_build(d);
		if (!b)
			return NULL;
		stats_blob_put(d->stats_cache);
		d->stats_cache = b;
		d->stats_cache_gen = stats_key(d);
		d->stats_cache_ns = now;
	}
	b->refs++;
	return b;
}

struct stats_blob *stats_clients_page(struct daemon *d, uint32_t after,
				      uint32_t max)
{
	struct pick p;
	uint32_t next;
	json_t *list;

	if (max > PROTO_CLIENTS_PAGE)
		max = PROTO_CLIENTS_PAGE;
	pick_clients(d, after, max, &p);
	daemon_heap_lock(d);
	list = list_json_locked(&p);
	daemon_heap_unlock(d);
	if (!list)
		return NULL;
	next = p.more && p.n ? p.c[p.n - 1]->id : 0;
	/* "next" comes last: libspanclient reads it from the end. */
	return blob_of(json_pack("{s:o, s:I}", "clients", list, "next",
				 (json_int_t)next));
}

struct stats_blob *stats_text(struct daemon *d, const struct text_req *req)
{
	if (req->type == PROTO_CLIENTS)
		return stats_clients_page(d, req->after, req->max);
	return stats_get(d);
}

void stats_fini(struct daemon *d)
{
	stats_blob_put(d->stats_cache);
	d->stats_cache = NULL;
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

void stats_publish(struct daemon *d)
{
	char inuse[32], idle[32], rel[32];
	struct heap_stats hs;
	unsigned int n = 0;
	struct client *c;

	/* Called once a tick and a pass: the file is never stale. */
	stats_changed(d);
	if (d->opt.stats_file) {
		struct stats_blob *b = stats_get(d);
		int r = b ? write_atomic(d->opt.stats_file, b->text) : -ENOMEM;

		stats_blob_put(b);
		if (r < 0 && !d->stats_file_failed)
			log_warn("cannot write %s: %s", d->opt.stats_file,
				 strerror(-r));
		d->stats_file_failed = r < 0;
	}
	daemon_heap_lock(d);
	heap_stats(d->heap, &hs);
	daemon_heap_unlock(d);
	TAILQ_FOREACH(c, &d->clients, link)
		n += c->welcomed;
	units_format_size(inuse, sizeof(inuse), hs.inuse);
	units_format_size(idle, sizeof(idle), hs.idle);
	units_format_size(rel, sizeof(rel), hs.released);
	sd_notifyf(0, "STATUS=in use %s, idle %s, released %s, %u client%s",
		   inuse, idle, rel, n, n == 1 ? "" : "s");
}
