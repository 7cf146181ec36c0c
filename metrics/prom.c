// SPDX-License-Identifier: MIT
/*
 * MemStats as Prometheus metrics.  Names follow the Prometheus
 * conventions, so that `promtool check metrics` finds nothing: every
 * name starts with spanheap_, is in base units (bytes, seconds) named
 * by its suffix, and every counter ends in _total while no gauge does.
 * Each family opens with its HELP and TYPE lines; spanheap_client_bytes
 * has one sample per connected client (labels id, name, pid), none if
 * there is none.
 *
 * The fields are checked before anything is written, so that a
 * refused MemStats leaves no half exposition behind.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics/fields.h"
#include "prom.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static double seconds(int64_t ns)
{
	return (double)ns / 1e9;
}

static const char *const required[] = {
	"arena_size",	"arena_resident", "heap_sys",	  "heap_idle",
	"heap_inuse",	"heap_released",  "heap_objects", "consumed",
	"num_gc",	"pause_total_ns", "uptime_ns",	  "free_spans",
	"last_gc",	"cached",
};

static const char *const scav_required[] = {
	"passes", "released_bytes_total", "time_ns",
};

static const char *const client_required[] = {
	"id", "pid", "bytes",
};

/* Present when the daemon keeps its arena across restarts. */
static const char *const restart_fields[] = {
	"generation", "started", "restarted", "since_restart_s",
};

/* Every field prom_render() prints, nested ones included. */
static int check_fields(const json_t *st)
{
	const json_t *cl = json_object_get(st, "clients");
	const json_t *list = json_object_get(cl, "list"), *c;
	size_t i;

	if (!memstats_has_all(st, required, ARRAY_SIZE(required)) ||
	    !memstats_has_all(json_object_get(st, "scavenger"), scav_required,
		     ARRAY_SIZE(scav_required)) ||
	    memstats_num(cl, "count") < 0 || !json_is_array(list))
		return -EBADMSG;
	json_array_foreach(list, i, c)
		if (!memstats_has_all(c, client_required, ARRAY_SIZE(client_required)) ||
		    !json_is_string(json_object_get(c, "name")))
			return -EBADMSG;
	return 0;
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void metric(FILE *f, const char *name, const char *type,
		   const char *help, double value)
{
	fprintf(f, "# HELP spanheap_%s %s\n# TYPE spanheap_%s %s\n"
		   "spanheap_%s %.17g\n",
		name, help, name, type, name, value);
}

/*
 * The metrics of the optional fields of MemStats (issue 14's limit,
 * pressure, quotas, paced scavenger; @block NULL: the top level): each
 * is printed if its block and field are there, so that an older daemon's
 * MemStats renders as before.
 */
static const struct {
	const char *block, *sub, *key, *name, *type, *help;
	bool ns;	/* nanoseconds, shown as seconds */
} optional[] = {
	{ "limit", NULL, "bytes", "memory_limit_bytes", "gauge",
	  "The memory limit (--memory-limit), 0 for none.", false },
	{ "limit", NULL, "waits", "limit_waits_total", "counter",
	  "Allocations that waited for room under the memory limit.", false },
	{ "limit", NULL, "futile_rounds", "limit_futile_rounds_total", "counter",
	  "Rounds of making room that freed nothing (allocations failed with ENOMEM).",
	  false },
	{ "limit", NULL, "released_bytes", "limit_released_bytes_total", "counter",
	  "Bytes released to make room under the memory limit.", false },
	{ "limit", NULL, "evicted", "evicted_objects_total", "counter",
	  "Evictable objects evicted to make room under the memory limit.", false },
	{ "limit", NULL, "evicted_bytes", "evicted_bytes_total", "counter",
	  "Bytes of the objects evicted.", false },
	{ "limit", NULL, "time_ns", "limit_release_seconds_total", "counter",
	  "Time spent making room under the memory limit.", true },
	{ "scavenger", "paced", "goal_bytes", "scavenger_paced_goal_bytes",
	  "gauge", "Paced policy: the most retained memory it keeps.", false },
	{ "scavenger", "paced", "peak_bytes", "scavenger_paced_peak_bytes",
	  "gauge", "Paced policy: the in-use peak of the last 16 ticks.", false },
	{ "scavenger", "paced", "released_bytes_total",
	  "scavenger_paced_released_bytes_total", "counter",
	  "Paced policy: bytes released by its steps.", false },
	{ "scavenger", "paced", "steps_total", "scavenger_paced_steps_total",
	  "counter", "Paced policy: steps that released something.", false },
	{ "scavenger", "paced", "cpu_ns_total",
	  "scavenger_paced_cpu_seconds_total", "counter",
	  "Paced policy: CPU time of its work.", true },
	{ "scavenger", "paced", "cpu_ppm", "scavenger_paced_cpu_ppm", "gauge",
	  "Paced policy: CPU over the last 10 s, in millionths of one CPU.",
	  false },
	{ "objects", NULL, "evictable", "objects_evictable", "gauge",
	  "Evictable objects nobody holds: what the memory limit may evict.",
	  false },
	{ "objects", NULL, "evictable_bytes", "objects_evictable_bytes", "gauge",
	  "Bytes of the evictable objects nobody holds.", false },
	{ NULL, NULL, "pressure_events", "pressure_events_total", "counter",
	  "Memory pressure events (PSI triggers) that released every idle span.",
	  false },
	{ NULL, NULL, "pressure_released_bytes", "pressure_released_bytes_total",
	  "counter", "Bytes released because of memory pressure.", false },
	{ "quotas", NULL, "client", "quota_client_bytes", "gauge",
	  "Bytes of spans one connection may hold (--quota-client), 0 for none.",
	  false },
	{ "quotas", NULL, "refused", "quota_refused_total", "counter",
	  "Allocations refused with EDQUOT.", false },
	{ "quotas", NULL, "file_bad_lines", "quota_file_bad_lines", "gauge",
	  "Lines of the quota file ignored at its last load.", false },
};

/* The uids with a quota (MemStats lists the first 64): limit and use. */
static void render_uid_quotas(FILE *f, const json_t *st)
{
	const json_t *uids = json_object_get(json_object_get(st, "quotas"),
					     "uids"), *u;
	size_t i;

	if (!json_is_array(uids))
		return;
	fputs("# HELP spanheap_quota_uid_limit_bytes Bytes all connections of a uid may hold, 0 for none.\n"
	      "# TYPE spanheap_quota_uid_limit_bytes gauge\n", f);
	json_array_foreach(uids, i, u)
		if (memstats_num(u, "uid") >= 0 && memstats_num(u, "quota") >= 0)
			fprintf(f, "spanheap_quota_uid_limit_bytes{uid=\"%lld\"} %lld\n",
				(long long)memstats_num(u, "uid"),
				(long long)memstats_num(u, "quota"));
	fputs("# HELP spanheap_quota_uid_bytes Bytes a uid with a quota holds: its connections' spans and its objects.\n"
	      "# TYPE spanheap_quota_uid_bytes gauge\n", f);
	json_array_foreach(uids, i, u)
		if (memstats_num(u, "uid") >= 0 && memstats_num(u, "bytes") >= 0)
			fprintf(f, "spanheap_quota_uid_bytes{uid=\"%lld\"} %lld\n",
				(long long)memstats_num(u, "uid"),
				(long long)memstats_num(u, "bytes"));
}

static void render_optional(FILE *f, const json_t *st)
{
	for (size_t i = 0; i < ARRAY_SIZE(optional); i++) {
		const json_t *b = optional[i].block ?
				  json_object_get(st, optional[i].block) : st;
		int64_t v;

		if (optional[i].sub)
			b = json_object_get(b, optional[i].sub);
		v = memstats_num(b, optional[i].key);
		if (v < 0)
			continue;
		metric(f, optional[i].name, optional[i].type, optional[i].help,
		       optional[i].ns ? seconds(v) : (double)v);
	}
}

int prom_render(FILE *f, const json_t *st)
{
	static const struct {
		const char *key, *name, *help;
	} gauges[] = {
		{ "arena_size", "arena_size_bytes", "Size of the shared arena." },
		{ "arena_resident", "arena_resident_bytes",
		  "Bytes of the arena holding memory, from the memfd's st_blocks." },
		{ "heap_sys", "heap_sys_bytes", "Bytes grown from the arena." },
		{ "heap_idle", "heap_idle_bytes", "Bytes in free spans." },
		{ "heap_inuse", "heap_inuse_bytes", "Bytes in spans in use." },
		{ "cached", "cached_bytes",
		  "Bytes of spans in the clients' magazines, a part of heap_inuse." },
		{ "heap_released", "heap_released_bytes",
		  "Bytes of free spans given back to the kernel." },
		{ "consumed", "consumed_bytes", "heap_sys minus heap_released." },
		{ "heap_objects", "heap_objects", "Spans in use." },
		{ "free_spans", "free_spans", "Free spans." },
	};
	const json_t *sc = json_object_get(st, "scavenger");
	const json_t *cl = json_object_get(st, "clients");
	const json_t *list = json_object_get(cl, "list"), *c;
	size_t i;

	if (check_fields(st))
		return -EBADMSG;
	for (i = 0; i < ARRAY_SIZE(gauges); i++)
		metric(f, gauges[i].name, "gauge", gauges[i].help,
		       (double)memstats_num(st, gauges[i].key));
	metric(f, "gc_total", "counter", "GC passes.", (double)memstats_num(st, "num_gc"));
	metric(f, "gc_pause_seconds_total", "counter",
	       "Time spent in GC passes.", seconds(memstats_num(st, "pause_total_ns")));
	metric(f, "last_gc_timestamp_seconds", "gauge",
	       "Unix time of the last GC pass, 0 if none.",
	       seconds(memstats_num(st, "last_gc")));
	metric(f, "scavenger_passes_total", "counter",
	       "Release passes of the scavenger.", (double)memstats_num(sc, "passes"));
	metric(f, "scavenger_released_bytes_total", "counter",
	       "Bytes given back to the kernel.",
	       (double)memstats_num(sc, "released_bytes_total"));
	metric(f, "scavenger_seconds_total", "counter",
	       "Time spent releasing.", seconds(memstats_num(sc, "time_ns")));
	metric(f, "uptime_seconds", "gauge", "Seconds since the daemon started.",
	       seconds(memstats_num(st, "uptime_ns")));
	if (memstats_has_all(st, restart_fields, ARRAY_SIZE(restart_fields))) {
		metric(f, "generation", "gauge",
		       "Starts of the arena: 1 at its first, one more at each start that adopted it from the fd store.",
		       (double)memstats_num(st, "generation"));
		metric(f, "since_restart_seconds", "gauge",
		       "Seconds since the daemon's last start.",
		       (double)memstats_num(st, "since_restart_s"));
		metric(f, "restart_timestamp_seconds", "gauge",
		       "Unix time of the daemon's last start.",
		       seconds(memstats_num(st, "restarted")));
		metric(f, "arena_start_timestamp_seconds", "gauge",
		       "Unix time of the first start of the arena.",
		       seconds(memstats_num(st, "started")));
	}
	render_optional(f, st);
	render_uid_quotas(f, st);
	metric(f, "clients", "gauge", "Connected clients.",
	       (double)memstats_num(cl, "count"));
	fputs("# HELP spanheap_client_bytes Bytes in spans a client holds.\n"
	      "# TYPE spanheap_client_bytes gauge\n", f);
	json_array_foreach(list, i, c) {
		fprintf(f, "spanheap_client_bytes{id=\"%lld\",name=\"",
			(long long)memstats_num(c, "id"));
		label(f, json_string_value(json_object_get(c, "name")));
		fprintf(f, "\",pid=\"%lld\"} %lld\n", (long long)memstats_num(c, "pid"),
			(long long)memstats_num(c, "bytes"));
	}
	return 0;
}
