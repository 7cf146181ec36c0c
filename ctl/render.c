// SPDX-License-Identifier: MIT
/*
 * spanctl's views of MemStats: a table for people, a client list, and
 * the Prometheus text exposition format (version 0.0.4) for
 * node_exporter's textfile collector.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "render.h"
#include "shm/units.h"

/* An integer field, or -1 if absent. */
static int64_t num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static const char *size(char *buf, size_t len, int64_t bytes)
{
	units_format_size(buf, len, bytes < 0 ? 0 : (uint64_t)bytes);
	return buf;
}

static double seconds(int64_t ns)
{
	return (double)ns / 1e9;
}

static const char *const required[] = {
	"arena_size",	"arena_resident", "heap_sys",	  "heap_idle",
	"heap_inuse",	"heap_released",  "heap_objects", "consumed",
	"num_gc",	"pause_total_ns", "uptime_ns",	  "free_spans",
	"last_gc",
};

static const char *const scav_required[] = {
	"passes", "released_bytes_total", "released_bytes_last", "time_ns",
	"forced_releases",
};

static const char *const client_required[] = {
	"id", "pid", "uid", "spans", "bytes",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Does @o (an object, or not) have every integer field of @keys? */
static bool has_all(const json_t *o, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (num(o, keys[i]) < 0)
			return false;
	return true;
}

/* Every field the client views print, in every entry of @list. */
static int check_list(const json_t *list)
{
	const json_t *c;
	size_t i;

	if (!json_is_array(list))
		return -EBADMSG;
	json_array_foreach(list, i, c)
		if (!has_all(c, client_required, ARRAY_SIZE(client_required)) ||
		    !json_is_string(json_object_get(c, "name")))
			return -EBADMSG;
	return 0;
}

/* Every field some view prints, nested ones included. */
static int check_fields(const json_t *st)
{
	const json_t *sc = json_object_get(st, "scavenger");
	const json_t *cl = json_object_get(st, "clients");

	if (!has_all(st, required, ARRAY_SIZE(required)) ||
	    !has_all(sc, scav_required, ARRAY_SIZE(scav_required)) ||
	    num(cl, "count") < 0)
		return -EBADMSG;
	return check_list(json_object_get(cl, "list"));
}

int render_table(FILE *f, const json_t *st)
{
	const json_t *sc = json_object_get(st, "scavenger");
	const json_t *cl = json_object_get(st, "clients");
	char a[32], b[32];

	if (check_fields(st))
		return -EBADMSG;
	fprintf(f, "%-16s %s (resident %s)\n", "arena",
		size(a, sizeof(a), num(st, "arena_size")),
		size(b, sizeof(b), num(st, "arena_resident")));
	fprintf(f, "%-16s %s\n", "heap sys", size(a, sizeof(a), num(st, "heap_sys")));
	fprintf(f, "%-16s %s in %lld spans\n", "  in use",
		size(a, sizeof(a), num(st, "heap_inuse")),
		(long long)num(st, "heap_objects"));
	fprintf(f, "%-16s %s in %lld free spans\n", "  idle",
		size(a, sizeof(a), num(st, "heap_idle")),
		(long long)num(st, "free_spans"));
	fprintf(f, "%-16s %s\n", "  released",
		size(a, sizeof(a), num(st, "heap_released")));
	fprintf(f, "%-16s %s\n", "consumed",
		size(a, sizeof(a), num(st, "consumed")));
	fprintf(f, "%-16s %lld passes, %.3f ms paused in total\n", "gc",
		(long long)num(st, "num_gc"),
		seconds(num(st, "pause_total_ns")) * 1e3);
	fprintf(f, "%-16s %lld passes, %s released (%s by the last), %lld on demand\n",
		"scavenger", (long long)num(sc, "passes"),
		size(a, sizeof(a), num(sc, "released_bytes_total")),
		size(b, sizeof(b), num(sc, "released_bytes_last")),
		(long long)num(sc, "forced_releases"));
	fprintf(f, "%-16s %lld\n", "clients", (long long)num(cl, "count"));
	fprintf(f, "%-16s %.1f s\n", "uptime", seconds(num(st, "uptime_ns")));
	return 0;
}

int render_clients(FILE *f, const json_t *st)
{
	if (check_fields(st))
		return -EBADMSG;
	return render_client_list(f, json_object_get(json_object_get(st,
								     "clients"),
						     "list"));
}

int render_client_list(FILE *f, const json_t *list)
{
	const json_t *c;
	size_t i;
	char a[32];

	if (check_list(list))
		return -EBADMSG;
	fprintf(f, "%6s %-20s %8s %6s %8s %12s\n", "ID", "NAME", "PID", "UID",
		"SPANS", "BYTES");
	json_array_foreach(list, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));

		fprintf(f, "%6lld %-20s %8lld %6lld %8lld %12s\n",
			(long long)num(c, "id"), name && *name ? name : "-",
			(long long)num(c, "pid"), (long long)num(c, "uid"),
			(long long)num(c, "spans"),
			size(a, sizeof(a), num(c, "bytes")));
	}
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

int render_prometheus(FILE *f, const json_t *st)
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
		       (double)num(st, gauges[i].key));
	metric(f, "gc_total", "counter", "GC passes.", (double)num(st, "num_gc"));
	metric(f, "gc_pause_seconds_total", "counter",
	       "Time spent in GC passes.", seconds(num(st, "pause_total_ns")));
	metric(f, "last_gc_timestamp_seconds", "gauge",
	       "Unix time of the last GC pass, 0 if none.",
	       seconds(num(st, "last_gc")));
	metric(f, "scavenger_passes_total", "counter",
	       "Release passes of the scavenger.", (double)num(sc, "passes"));
	metric(f, "scavenger_released_bytes_total", "counter",
	       "Bytes given back to the kernel.",
	       (double)num(sc, "released_bytes_total"));
	metric(f, "scavenger_seconds_total", "counter",
	       "Time spent releasing.", seconds(num(sc, "time_ns")));
	metric(f, "uptime_seconds", "gauge", "Seconds since the daemon started.",
	       seconds(num(st, "uptime_ns")));
	metric(f, "clients", "gauge", "Connected clients.",
	       (double)num(cl, "count"));
	fputs("# HELP spanheap_client_bytes Bytes in spans a client holds.\n"
	      "# TYPE spanheap_client_bytes gauge\n", f);
	json_array_foreach(list, i, c) {
		fprintf(f, "spanheap_client_bytes{id=\"%lld\",name=\"",
			(long long)num(c, "id"));
		label(f, json_string_value(json_object_get(c, "name")));
		fprintf(f, "\",pid=\"%lld\"} %lld\n", (long long)num(c, "pid"),
			(long long)num(c, "bytes"));
	}
	return 0;
}
