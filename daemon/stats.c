// SPDX-License-Identifier: MIT
/*
 * MemStats as one JSON object, built with jansson, and its publication:
 * the STATS reply (dispatch.c), the stats file, the systemd status line.
 *
 * Integers are bytes or nanoseconds.  The heap's figures are read in one
 * critical section, so the identities heap_sys == heap_idle + heap_inuse
 * and heap_released <= heap_idle hold in every snapshot.  The field list
 * is documented in docs/memstats.md and docs/memstats.schema.json.
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

static json_t *client_json(const struct client *c)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "id", (json_int_t)c->id,
			 "name", c->name,
			 "pid", (json_int_t)c->cred.pid,
			 "uid", (json_int_t)c->cred.uid,
			 "gid", (json_int_t)c->cred.gid,
			 "spans", (json_int_t)c->owner.nspans,
			 "bytes", (json_int_t)(c->owner.npages * HEAP_PAGE_SIZE),
			 "requests", (json_int_t)c->nrequests);
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
	json_t *clients;
};

static int snapshot(struct daemon *d, struct snapshot *s)
{
	struct client *c;

	s->clients = json_array();
	if (!s->clients)
		return -ENOMEM;
	daemon_heap_lock(d);
	heap_stats(d->heap, &s->hs);
	s->scav = d->scav;
	TAILQ_FOREACH(c, &d->clients, link)
		if (c->welcomed)
			json_array_append_new(s->clients, client_json(c));
	daemon_heap_unlock(d);
	return 0;
}

char *stats_json(struct daemon *d)
{
	uint64_t pauses[STATS_RECENT_PAUSES], resident = 0, consumed;
	struct snapshot s;
	json_t *root, *pj;
	size_t np;
	char *out;

	if (snapshot(d, &s) < 0)
		return NULL;
	arena_resident(d->arena, &resident);
	np = scav_pause_recent(&s.scav, pauses, STATS_RECENT_PAUSES);
	pj = json_array();
	for (size_t i = 0; pj && i < np; i++)
		json_array_append_new(pj, json_integer((json_int_t)pauses[i]));
	consumed = s.hs.sys - s.hs.released;
	root = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			 " s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o,"
			 " s:{s:I, s:I, s:I, s:o}}",
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
			 "count", (json_int_t)json_array_size(s.clients),
			 "max", (json_int_t)d->opt.max_clients,
			 "refused", (json_int_t)d->refused,
			 "list", s.clients);
	if (!root)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
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

	if (d->opt.stats_file) {
		char *json = stats_json(d);
		int r = json ? write_atomic(d->opt.stats_file, json) : -ENOMEM;

		free(json);
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
