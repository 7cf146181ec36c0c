// SPDX-License-Identifier: MIT
/*
 * Tests for ctl/render.c: spanctl's table, client list and Prometheus
 * views of a MemStats object built by hand, and its object table of an
 * object list, rendered into memory; names made safe to print.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/render.h"
#include "metrics/prom.h"
#include "tests/lib/prom.h"
#include "tests/lib/testlib.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define LAST_GC_NS UINT64_C(1700000000123456789)
#define STARTED_NS UINT64_C(1699990000000000000)
#define RESTARTED_NS UINT64_C(1699999245500000000)

/* A client name with every character Prometheus wants escaped. */
static const char nasty[] = "a\"b\\c\nd";

static json_t *client(json_int_t id, const char *name, json_int_t pid,
		      json_int_t bytes)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", id,
			 "name", name, "pid", pid, "uid", (json_int_t)1000,
			 "gid", (json_int_t)100, "spans", (json_int_t)3,
			 "bytes", bytes, "requests", (json_int_t)17);
}

/* A complete MemStats object, as the daemon sends it. */
static json_t *stats_full(void)
{
	json_t *st;

	st = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
		       " s:I, s:I, s:I, s:I, s:I, s:I, s:[I, I],"
		       " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I},"
		       " s:{s:I, s:I, s:I, s:[o, o, o]}}",
		       "version", "0.1.0",
		       "uptime_ns", (json_int_t)90500000000,
		       "page_size", (json_int_t)4096,
		       "arena_size", (json_int_t)GIB,
		       "arena_resident", (json_int_t)(12 * MIB),
		       "heap_sys", (json_int_t)(256 * MIB),
		       "heap_idle", (json_int_t)(253 * MIB),
		       "heap_inuse", (json_int_t)(3 * MIB),
		       "cached", (json_int_t)(1 * MIB),
		       "heap_released", (json_int_t)(200 * MIB),
		       "heap_objects", (json_int_t)5,
		       "consumed", (json_int_t)(56 * MIB),
		       "free_spans", (json_int_t)7,
		       "last_gc", (json_int_t)LAST_GC_NS,
		       "num_gc", (json_int_t)4,
		       "pause_total_ns", (json_int_t)1500000,
		       "pause_ns", (json_int_t)500000, (json_int_t)1000000,
		       "scavenger",
		       "passes", (json_int_t)9,
		       "released_bytes_total", (json_int_t)(3 * GIB / 2),
		       "released_bytes_last", (json_int_t)(512 * KIB),
		       "time_ns", (json_int_t)250000000,
		       "forced_releases", (json_int_t)2,
		       "forced_gc", (json_int_t)3,
		       "ticks", (json_int_t)11,
		       "scavenge_after_ns", (json_int_t)300000000000,
		       "gc_after_ns", (json_int_t)120000000000,
		       "clients",
		       "count", (json_int_t)3,
		       "max", (json_int_t)1024,
		       "refused", (json_int_t)0,
		       "list",
		       client(1, "worker-a", 4242, (json_int_t)(12 * KIB)),
		       client(2, "", 4343, (json_int_t)(3 * MIB)),
		       client(3, nasty, 4444, (json_int_t)0));
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(json_object_set_new(st, "generation",
					     json_integer(3)), 0);
	ck_assert_int_eq(json_object_set_new(st, "started",
					     json_integer((json_int_t)STARTED_NS)),
			 0);
	ck_assert_int_eq(json_object_set_new(st, "restarted",
					     json_integer((json_int_t)RESTARTED_NS)),
			 0);
	ck_assert_int_eq(json_object_set_new(st, "since_restart_s",
					     json_integer(754)), 0);
	return st;
}

/* The restart fields, which a daemon of a version before did not send. */
static const char *const restart_keys[] = {
	"generation", "started", "restarted", "since_restart_s",
};

typedef int (*render_fn)(FILE *f, const json_t *st);

/* Run @fn on @st into memory; the text goes to *@ret (free it). */
static int render_into(render_fn fn, const json_t *st, char **ret)
{
	size_t len;
	FILE *f = open_memstream(ret, &len);
	int r;

	ck_assert_ptr_nonnull(f);
	r = fn(f, st);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(strlen(*ret), len);
	return r;
}

static char *render_ok(render_fn fn, const json_t *st)
{
	char *out;

	ck_assert_int_eq(render_into(fn, st, &out), 0);
	return out;
}

/*
 * The line of @text whose first word is @label (spaces before it are
 * skipped), copied into @buf; aborts if there is none.
 */
static const char *line_of(const char *text, const char *label, char *buf,
			   size_t len)
{
	size_t n = strlen(label);

	for (const char *p = text; *p;) {
		const char *end = strchrnul(p, '\n'), *q = p;

		while (*q == ' ')
			q++;
		if (!strncmp(q, label, n) && (q[n] == ' ' || q[n] == '\t')) {
			ck_assert_uint_lt((size_t)(end - p), len);
			memcpy(buf, p, (size_t)(end - p));
			buf[end - p] = 0;
			return buf;
		}
		p = *end ? end + 1 : end;
	}
	ck_abort_msg("no line '%s' in:\n%s", label, text);
	return NULL;
}

static void assert_has(const char *line, const char *what)
{
	ck_assert_msg(strstr(line, what), "'%s' not in '%s'", what, line);
}

/* ---- table ---- */

START_TEST(test_table_human_sizes)
{
	json_t *st = stats_full();
	char *out = render_ok(render_table, st), l[256];

	assert_has(line_of(out, "arena", l, sizeof(l)), "1.0 GiB");
	assert_has(l, "(resident 12.0 MiB)");
	assert_has(line_of(out, "heap", l, sizeof(l)), "256.0 MiB");
	assert_has(line_of(out, "in", l, sizeof(l)), "3.0 MiB in 5 spans");
	assert_has(line_of(out, "idle", l, sizeof(l)),
		   "253.0 MiB in 7 free spans");
	assert_has(line_of(out, "released", l, sizeof(l)), "200.0 MiB");
	assert_has(line_of(out, "consumed", l, sizeof(l)), "56.0 MiB");
	assert_has(line_of(out, "gc", l, sizeof(l)), "4 passes");
	assert_has(l, "1.500 ms");
	assert_has(line_of(out, "scavenger", l, sizeof(l)), "9 passes");
	assert_has(l, "1.5 GiB released");
	assert_has(l, "(512.0 KiB by the last)");
	assert_has(l, "2 on demand");
	assert_has(line_of(out, "clients", l, sizeof(l)), "3");
	assert_has(line_of(out, "uptime", l, sizeof(l)), "90.5 s");
	assert_has(line_of(out, "generation", l, sizeof(l)),
		   "3, 754 s since the last restart");
	/* No raw byte counts in a table for people. */
	ck_assert_ptr_null(strstr(out, "1073741824"));
	ck_assert_ptr_null(strstr(out, "268435456"));
	free(out);
	json_decref(st);
}
END_TEST

START_TEST(test_table_small_and_zero)
{
	json_t *st = stats_full();
	char *out, l[256];

	json_object_set_new(st, "arena_resident", json_integer(0));
	json_object_set_new(st, "consumed", json_integer(512));
	json_object_set_new(st, "heap_released", json_integer(1536));
	out = render_ok(render_table, st);
	assert_has(line_of(out, "arena", l, sizeof(l)), "(resident 0 B)");
	assert_has(line_of(out, "consumed", l, sizeof(l)), "512 B");
	assert_has(line_of(out, "released", l, sizeof(l)), "1.5 KiB");
	free(out);
	json_decref(st);
}
END_TEST

/* Without any one restart field (a daemon before them): no such line. */
START_TEST(test_table_without_restarts)
{
	for (size_t i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]);
	     i++) {
		json_t *st = stats_full();
		char *out, l[256];

		ck_assert_int_eq(json_object_del(st, restart_keys[i]), 0);
		out = render_ok(render_table, st);
		ck_assert_msg(!strstr(out, "generation"),
			      "a generation line without %s:\n%s",
			      restart_keys[i], out);
		assert_has(line_of(out, "uptime", l, sizeof(l)), "90.5 s");
		free(out);
		json_decref(st);
	}
}
END_TEST

/* The objects block: a daemon that evicts also says what it may, and did. */
static void set_objects(json_t *st, bool evicts)
{
	json_t *ob = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "open",
			       (json_int_t)1, "sealed", (json_int_t)3,
			       "deleted", (json_int_t)0, "bytes",
			       (json_int_t)(12 * MIB), "pages",
			       (json_int_t)3072, "references",
			       (json_int_t)4);

	ck_assert_ptr_nonnull(ob);
	if (evicts) {
		json_object_set_new(ob, "evictable", json_integer(2));
		json_object_set_new(ob, "evictable_bytes",
				    json_integer(8 * KIB));
		json_object_set_new(ob, "evicted", json_integer(5));
		json_object_set_new(ob, "evicted_bytes",
				    json_integer(20 * KIB));
	}
	ck_assert_int_eq(json_object_set_new(st, "objects", ob), 0);
}

START_TEST(test_table_objects_evictions)
{
	json_t *st = stats_full();
	char *out, l[256];

	set_objects(st, true);
	out = render_ok(render_table, st);
	assert_has(line_of(out, "objects", l, sizeof(l)),
		   "3 sealed, 1 open, 12.0 MiB; 2 evictable (8.0 KiB), 5 evicted (20.0 KiB)");
	free(out);
	/* A daemon before eviction: the objects alone. */
	set_objects(st, false);
	out = render_ok(render_table, st);
	line_of(out, "objects", l, sizeof(l));
	assert_has(l, "3 sealed, 1 open, 12.0 MiB");
	ck_assert_ptr_null(strstr(l, "evict"));
	free(out);
	/* One without objects: no line. */
	json_object_del(st, "objects");
	out = render_ok(render_table, st);
	ck_assert_ptr_null(strstr(out, "objects"));
	free(out);
	json_decref(st);
}
END_TEST

/* ---- clients ---- */

START_TEST(test_clients_names_and_pids)
{
	json_t *st = stats_full();
	char *out = render_ok(render_clients, st), l[256];
	int lines = 0;

	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	/* A header, then one line a client (the newline in a name aside). */
	ck_assert_int_ge(lines, 4);
	assert_has(out, "NAME");
	assert_has(out, "PID");
	assert_has(line_of(out, "1", l, sizeof(l)), "worker-a");
	assert_has(l, " 4242 ");
	assert_has(l, "12.0 KiB");
	assert_has(line_of(out, "2", l, sizeof(l)), " 4343 ");
	assert_has(l, "3.0 MiB");
	/* A client without a name shows as "-". */
	assert_has(l, " - ");
	assert_has(line_of(out, "3", l, sizeof(l)), " a\"b\\c");
	/* Names come before pids, as the header says. */
	ck_assert(strstr(out, "worker-a") < strstr(out, "4242"));
	free(out);
	json_decref(st);
}
END_TEST

START_TEST(test_clients_empty_list)
{
	json_t *st = stats_full();
	char *out;

	json_object_set_new(json_object_get(st, "clients"), "list",
			    json_array());
	out = render_ok(render_clients, st);
	assert_has(out, "NAME");
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);
	json_decref(st);
}
END_TEST

/* ---- prometheus ---- */

static const struct prom_sample *sample(const struct prom_exposition *e,
					const char *name, const char *labels)
{
	for (int i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].name, name) &&
		    !strcmp(e->s[i].labels, labels ? labels : ""))
			return &e->s[i];
	ck_abort_msg("no sample %s{%s}", name, labels ? labels : "");
	return NULL;
}

static void assert_value(const struct prom_exposition *e, const char *name,
			 const char *labels, double want)
{
	double got = sample(e, name, labels)->value;

	ck_assert_msg(got == want, "%s{%s} is %.17g, want %.17g", name,
		      labels ? labels : "", got, want);
}

START_TEST(test_prometheus_format)
{
	json_t *st = stats_full();
	char *out = render_ok(prom_render, st);
	struct prom_exposition e;

	prom_parse(out, &e);
	/* Every gauge and counter once, the client family once a client. */
	ck_assert_int_eq(e.nfamilies, 23);
	ck_assert_int_eq(e.n, 22 + 3);
	for (int i = 0; i < e.nfamilies; i++) {
		char type[128];

		/* Counters and only they end in _total. */
		snprintf(type, sizeof(type), "# TYPE %s %s\n", e.families[i],
			 strstr(e.families[i], "_total") ? "counter" : "gauge");
		assert_has(out, type);
	}
	free(out);
	json_decref(st);
}
END_TEST

START_TEST(test_prometheus_values)
{
	json_t *st = stats_full();
	char *out = render_ok(prom_render, st);
	struct prom_exposition e;

	prom_parse(out, &e);
	assert_value(&e, "spanheap_arena_size_bytes", NULL, (double)GIB);
	assert_value(&e, "spanheap_arena_resident_bytes", NULL,
		     (double)(12 * MIB));
	assert_value(&e, "spanheap_heap_sys_bytes", NULL, (double)(256 * MIB));
	assert_value(&e, "spanheap_heap_idle_bytes", NULL, (double)(253 * MIB));
	assert_value(&e, "spanheap_heap_inuse_bytes", NULL, (double)(3 * MIB));
	assert_value(&e, "spanheap_cached_bytes", NULL, (double)(1 * MIB));
	assert_value(&e, "spanheap_heap_released_bytes", NULL,
		     (double)(200 * MIB));
	assert_value(&e, "spanheap_consumed_bytes", NULL, (double)(56 * MIB));
	assert_value(&e, "spanheap_heap_objects", NULL, 5);
	assert_value(&e, "spanheap_free_spans", NULL, 7);
	assert_value(&e, "spanheap_gc_total", NULL, 4);
	assert_value(&e, "spanheap_gc_pause_seconds_total", NULL, 0.0015);
	assert_value(&e, "spanheap_last_gc_timestamp_seconds", NULL,
		     (double)LAST_GC_NS / 1e9);
	ck_assert(fabs(sample(&e, "spanheap_last_gc_timestamp_seconds", NULL)
			       ->value - 1700000000.123456789) < 1e-6);
	assert_value(&e, "spanheap_scavenger_passes_total", NULL, 9);
	assert_value(&e, "spanheap_scavenger_released_bytes_total", NULL,
		     (double)(3 * GIB / 2));
	assert_value(&e, "spanheap_scavenger_seconds_total", NULL, 0.25);
	assert_value(&e, "spanheap_uptime_seconds", NULL, 90.5);
	assert_value(&e, "spanheap_generation", NULL, 3);
	assert_value(&e, "spanheap_since_restart_seconds", NULL, 754);
	assert_value(&e, "spanheap_restart_timestamp_seconds", NULL,
		     (double)RESTARTED_NS / 1e9);
	assert_value(&e, "spanheap_arena_start_timestamp_seconds", NULL,
		     (double)STARTED_NS / 1e9);
	ck_assert(fabs(sample(&e, "spanheap_restart_timestamp_seconds", NULL)
			       ->value - 1699999245.5) < 1e-6);
	assert_value(&e, "spanheap_clients", NULL, 3);
	assert_value(&e, "spanheap_client_bytes",
		     "id=\"1\",name=\"worker-a\",pid=\"4242\"",
		     (double)(12 * KIB));
	assert_value(&e, "spanheap_client_bytes",
		     "id=\"2\",name=\"\",pid=\"4343\"", (double)(3 * MIB));
	free(out);
	json_decref(st);
}
END_TEST

START_TEST(test_prometheus_escapes_labels)
{
	json_t *st = stats_full();
	char *out = render_ok(prom_render, st);
	struct prom_exposition e;

	/* a"b\c<newline>d: each escaped, and the sample stays on one line. */
	assert_has(out, "name=\"a\\\"b\\\\c\\nd\"");
	prom_parse(out, &e);
	assert_value(&e, "spanheap_client_bytes",
		     "id=\"3\",name=\"a\\\"b\\\\c\\nd\",pid=\"4444\"", 0);
	free(out);
	json_decref(st);
}
END_TEST

START_TEST(test_prometheus_no_clients)
{
	json_t *st = stats_full();
	json_t *cl = json_object_get(st, "clients");
	char *out;
	struct prom_exposition e;

	json_object_set_new(cl, "list", json_array());
	json_object_set_new(cl, "count", json_integer(0));
	out = render_ok(prom_render, st);
	prom_parse(out, &e);
	assert_value(&e, "spanheap_clients", NULL, 0);
	ck_assert_int_eq(e.n, 22);
	free(out);
	json_decref(st);
}
END_TEST

/* Without the restart fields: the families before them, no others. */
START_TEST(test_prometheus_without_restarts)
{
	json_t *st = stats_full();
	struct prom_exposition e;
	char *out;

	for (size_t i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]);
	     i++)
		ck_assert_int_eq(json_object_del(st, restart_keys[i]), 0);
	out = render_ok(prom_render, st);
	prom_parse(out, &e);
	ck_assert_int_eq(e.nfamilies, 19);
	ck_assert_int_eq(e.n, 18 + 3);
	ck_assert_ptr_null(strstr(out, "spanheap_generation"));
	ck_assert_ptr_null(strstr(out, "restart"));
	free(out);
	json_decref(st);
}
END_TEST

/* ---- objects ---- */

static json_t *object(const char *name, json_int_t id, json_int_t size,
		      const char *state, json_int_t refs, const char *creator,
		      json_int_t age_ns)
{
	json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I,"
			      " s:{s:I, s:I, s:s}, s:I}",
			      "name", name, "id", id, "size", size, "pages",
			      (size + 4095) / 4096, "state", state, "refs", refs,
			      "creator", "pid", (json_int_t)1234, "uid",
			      (json_int_t)1000, "name", creator, "age_ns",
			      age_ns);

	ck_assert_ptr_nonnull(o);
	return o;
}

/* The brief's example, one deleted but referenced, and UTF-8 names. */
static json_t *objects_list(void)
{
	json_t *list = json_pack("[o, o, o]",
		object("frame-1", 4294967297, 1000000, "sealed", 2,
		       "producer", 12345678),
		object("", 4294967298, 4096, "deleted", 1, "", 4000000000),
		object("caf\xc3\xa9-\xc3\xbc", 8589934593, 3 * MIB, "open", 1,
		       "\xc3\xa9" "crivain", 307000000000));

	ck_assert_ptr_nonnull(list);
	return list;
}

static int render_objects_fn(FILE *f, const json_t *list)
{
	return render_object_list(f, list);
}

/* Characters (not bytes) before @p in @line: where a terminal shows it. */
static size_t column_of(const char *line, const char *p)
{
	size_t n = 0;

	for (; line < p; line++)
		n += ((unsigned char)*line & 0xc0) != 0x80;
	return n;
}

START_TEST(test_objects_table)
{
	json_t *list = objects_list();
	char *out = render_ok(render_objects_fn, list), l[512];
	const char *name_col;
	size_t col;

	name_col = strstr(out, "NAME");
	ck_assert_ptr_nonnull(name_col);
	col = column_of(out, name_col);
	assert_has(out, "ID");
	assert_has(out, "SIZE");
	assert_has(out, "STATE");
	assert_has(out, "REFS");
	assert_has(out, "CREATOR");
	assert_has(out, "AGE");

	line_of(out, "4294967297", l, sizeof(l));
	assert_has(l, " 976.6 KiB ");
	assert_has(l, " sealed ");
	assert_has(l, " 2 ");
	assert_has(l, " 1234 ");
	assert_has(l, " 1000 ");
	assert_has(l, " producer ");
	assert_has(l, " 12.3 ms ");
	ck_assert_uint_eq(column_of(l, strstr(l, "frame-1")), col);
	ck_assert_str_eq(l + strlen(l) - 7, "frame-1");

	/* Deleted, still referenced: no name, and no creator name either. */
	line_of(out, "4294967298", l, sizeof(l));
	assert_has(l, " deleted ");
	assert_has(l, " 4.0 s ");
	ck_assert_str_eq(l + strlen(l) - 2, " -");
	ck_assert_uint_eq(column_of(l, l + strlen(l) - 1), col);

	/* UTF-8 names as they are, aligned by characters. */
	line_of(out, "8589934593", l, sizeof(l));
	assert_has(l, " 3.0 MiB ");
	assert_has(l, " open ");
	assert_has(l, " \xc3\xa9" "crivain ");
	assert_has(l, " 5m07s ");
	ck_assert_uint_eq(column_of(l, strstr(l, "caf\xc3\xa9")), col);
	ck_assert_str_eq(strstr(l, "caf"), "caf\xc3\xa9-\xc3\xbc");
	free(out);
	json_decref(list);
}
END_TEST

/* EVICT: yes, no, or - from a daemon that does not say. */
START_TEST(test_objects_evictable)
{
	json_t *list = objects_list(), *bad;
	char *out, l[512];

	json_object_set_new(json_array_get(list, 0), "evictable", json_true());
	json_object_set_new(json_array_get(list, 1), "evictable",
			    json_false());
	out = render_ok(render_objects_fn, list);
	assert_has(out, " EVICT ");
	ck_assert(strstr(out, "STATE") < strstr(out, "EVICT"));
	ck_assert(strstr(out, "EVICT") < strstr(out, "REFS"));
	assert_has(line_of(out, "4294967297", l, sizeof(l)), " sealed   yes ");
	assert_has(line_of(out, "4294967298", l, sizeof(l)), " deleted  no ");
	assert_has(line_of(out, "8589934593", l, sizeof(l)), " open     - ");
	free(out);
	/* Anything but a boolean is a malformed list. */
	bad = json_pack("[o]", object("a", 1, 1, "open", 1, "p", 0));
	ck_assert_ptr_nonnull(bad);
	json_object_set_new(json_array_get(bad, 0), "evictable",
			    json_integer(1));
	ck_assert_int_eq(render_into(render_objects_fn, bad, &out), -EBADMSG);
	free(out);
	json_decref(bad);
	json_decref(list);
}
END_TEST

START_TEST(test_objects_empty)
{
	json_t *list = json_array();
	char *out = render_ok(render_objects_fn, list);

	assert_has(out, "NAME");
	ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
	free(out);
	json_decref(list);
}
END_TEST

START_TEST(test_objects_ages)
{
	static const struct {
		json_int_t ns;
		const char *shown;
	} ages[] = {
		{ 0, " 0.0 ms " },
		{ 999999999, " 1000.0 ms " },
		{ 1500000000, " 1.5 s " },
		{ 307000000000, " 5m07s " },
		{ 9000000000000, " 2h30m " },
		{ 360000000000000, " 4d04h " },
	};

	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		json_t *list = json_pack("[o]", object("a", 1, 1, "open", 1,
						       "p", ages[i].ns));
		char *out = render_ok(render_objects_fn, list);

		assert_has(out, ages[i].shown);
		free(out);
		json_decref(list);
	}
}
END_TEST

/* render_text() of @in, into memory. */
static char *safe(const char *in)
{
	size_t len;
	char *out;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	render_text(f, in);
	ck_assert_int_eq(fclose(f), 0);
	return out;
}

START_TEST(test_text_safe)
{
	static const char *const cases[][2] = {
		{ "plain-name_1.2", "plain-name_1.2" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		/* Terminal escapes and line breaks. */
		{ "a\x1b[31mred", "a\\x1b[31mred" },
		{ "two\nlines\r", "two\\x0alines\\x0d" },
		{ "tab\tdel\x7f", "tab\\x09del\\x7f" },
		/* C1 controls: CSI as one character. */
		{ "\xc2\x9b" "2J", "\\u009b2J" },
		/* Bytes that are no UTF-8: lone, cut, overlong, surrogate. */
		{ "\xff\xfe", "\\xff\\xfe" },
		{ "cut\xc3", "cut\\xc3" },
		{ "\xc0\xaf", "\\xc0\\xaf" },
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
		/* What reorders text, breaks lines or hides. */
		{ "abc\xe2\x80\xae" "fed", "abc\\u202efed" },
		{ "\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069" },
		{ "l\xe2\x80\xa8s", "l\\u2028s" },
		{ "\xef\xbb\xbfz\xe2\x80\x8b", "\\ufeffz\\u200b" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = safe(cases[i][0]);

		ck_assert_msg(!strcmp(out, cases[i][1]),
			      "case %zu: '%s', want '%s'", i, out, cases[i][1]);
		free(out);
	}
}
END_TEST

/* Nothing but printable text and the line ends reaches the terminal. */
START_TEST(test_objects_names_safe)
{
	json_t *list = json_pack("[o, o]",
		object("\x1b]0;owned\x07\n\xc2\x9b" "2J", 1, 1, "sealed", 1,
		       "\x1b[2J", 1),
		object("\xe2\x80\xae" "gpj.exe", 2, 1, "sealed", 1, "p", 1));
	char *out = render_ok(render_objects_fn, list);
	int lines = 0;

	for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
		ck_assert_msg(*p == '\n' || (*p >= 0x20 && *p != 0x7f),
			      "byte 0x%02x printed", *p);
		lines += *p == '\n';
	}
	ck_assert_int_eq(lines, 3);
	assert_has(out, "\\x1b]0;owned\\x07\\x0a\\u009b2J");
	assert_has(out, "\\x1b[2J");
	assert_has(out, "\\u202egpj.exe");
	free(out);
	json_decref(list);
}
END_TEST

/* Long names are cut in the table, at a character, never a byte. */
START_TEST(test_objects_long_names)
{
	char ascii[256], utf8[256], want[256], l[1024];
	json_t *list;
	char *out;
	size_t i;

	memset(ascii, 'a', 255);
	ascii[255] = '\0';
	for (i = 0; i < 127; i++)
		memcpy(utf8 + 2 * i, "\xc3\xa9", 2);
	utf8[254] = '\0';
	list = json_pack("[o, o, o]",
			 object(ascii, 1, 1, "sealed", 1, "p", 1),
			 object(utf8, 2, 1, "sealed", 1,
				"a-creator-name-of-63-bytes-is-cut-in-the-table",
				1),
			 object("short", 3, 1, "sealed", 1, "p", 1));
	out = render_ok(render_objects_fn, list);

	/* 80 columns: 77 characters and "...". */
	memset(want, 'a', 77);
	strcpy(want + 77, "...");
	line_of(out, "1", l, sizeof(l));
	ck_assert_str_eq(l + strlen(l) - 80, want);
	ck_assert_ptr_null(strstr(l, ascii + 177));
	for (i = 0; i < 77; i++)
		memcpy(want + 2 * i, "\xc3\xa9", 2);
	strcpy(want + 154, "...");
	line_of(out, "2", l, sizeof(l));
	ck_assert_str_eq(l + strlen(l) - strlen(want), want);
	assert_has(l, " a-creator-name-of... ");
	ck_assert_ptr_null(strstr(l, "in-the-table"));
	line_of(out, "3", l, sizeof(l));
	ck_assert_str_eq(l + strlen(l) - 6, " short");
	free(out);
	json_decref(list);
}
END_TEST

START_TEST(test_objects_missing_field)
{
	static const char *const keys[] = { "name",  "id",     "size",
					    "state", "refs",   "age_ns",
					    "creator" };
	static const char *const creator_keys[] = { "pid", "uid", "name" };
	json_t *list;
	char *out;
	size_t i;

	for (i = 0; i < 7 + 3; i++) {
		json_t *o;

		list = objects_list();
		o = json_array_get(list, 1);
		if (i < 7)
			ck_assert_int_eq(json_object_del(o, keys[i]), 0);
		else
			ck_assert_int_eq(json_object_del(json_object_get(o,
							 "creator"),
							 creator_keys[i - 7]),
					 0);
		ck_assert_msg(render_into(render_objects_fn, list, &out) ==
				      -EBADMSG,
			      "an object without %s rendered",
			      i < 7 ? keys[i] : creator_keys[i - 7]);
		free(out);
		json_decref(list);
	}
	list = objects_list();
	json_object_set_new(json_array_get(list, 0), "id", json_string("1"));
	ck_assert_int_eq(render_into(render_objects_fn, list, &out), -EBADMSG);
	free(out);
	json_decref(list);
	list = json_object();
	ck_assert_int_eq(render_into(render_objects_fn, list, &out), -EBADMSG);
	free(out);
	json_decref(list);
}
END_TEST

/* render_delete_error() of @err for @name, into memory. */
static char *delete_error(const char *name, int err)
{
	size_t len;
	char *out;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	render_delete_error(f, name, err);
	ck_assert_int_eq(fclose(f), 0);
	/* One line. */
	ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1);
	return out;
}

START_TEST(test_delete_errors)
{
	char *out;

	out = delete_error("frame-1", -ENOENT);
	ck_assert_str_eq(out, "spanctl: cannot delete frame-1: no live object "
			      "has that name (spanctl objects lists them)\n");
	free(out);
	out = delete_error("frame-1", -EPERM);
	assert_has(out, "cannot delete frame-1: permission denied: only the "
			"creator's uid or root may delete an object");
	free(out);
	out = delete_error("bad\x01name", -EINVAL);
	assert_has(out, "cannot delete bad\\x01name: not a valid object name");
	assert_has(out, "1 to 255 bytes of UTF-8 without control characters");
	free(out);
	out = delete_error("x", -ETIMEDOUT);
	assert_has(out, "cannot delete x: ");
	assert_has(out, strerror(ETIMEDOUT));
	free(out);
}
END_TEST

/* ---- missing fields ---- */

static const render_fn renderers[] = { render_table, render_clients,
				       prom_render };
static const char *const renderer_names[] = { "table", "clients",
					      "prometheus" };

/* Every renderer refuses @st with -EBADMSG. */
static void assert_all_refuse(const json_t *st, const char *what)
{
	for (size_t i = 0; i < 3; i++) {
		char *out;
		int r = render_into(renderers[i], st, &out);

		ck_assert_msg(r == -EBADMSG, "%s without %s: %d, want %d",
			      renderer_names[i], what, r, -EBADMSG);
		free(out);
	}
}

START_TEST(test_missing_top_level_field)
{
	static const char *const keys[] = {
		"arena_size", "arena_resident", "heap_sys", "heap_idle",
		"heap_inuse", "heap_released", "heap_objects", "consumed",
		"num_gc", "pause_total_ns", "uptime_ns", "free_spans",
		"last_gc", "scavenger", "clients",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *st = stats_full();

		ck_assert_int_eq(json_object_del(st, keys[i]), 0);
		assert_all_refuse(st, keys[i]);
		json_decref(st);
	}
}
END_TEST

START_TEST(test_missing_wrong_types)
{
	json_t *st = stats_full();

	json_object_set_new(st, "heap_sys", json_string("256M"));
	assert_all_refuse(st, "an integer heap_sys");
	json_decref(st);

	st = stats_full();
	json_object_set_new(st, "scavenger", json_array());
	assert_all_refuse(st, "a scavenger object");
	json_decref(st);

	st = stats_full();
	json_object_set_new(json_object_get(st, "clients"), "list",
			    json_object());
	assert_all_refuse(st, "a client list");
	json_decref(st);

	st = json_array();
	assert_all_refuse(st, "an object");
	json_decref(st);
}
END_TEST

/* The nested fields each view prints. */
static const struct {
	render_fn fn;
	const char *view, *object, *key;
} nested[] = {
	{ render_table, "table", "scavenger", "passes" },
	{ render_table, "table", "scavenger", "released_bytes_total" },
	{ render_table, "table", "scavenger", "released_bytes_last" },
	{ render_table, "table", "scavenger", "forced_releases" },
	{ render_table, "table", "clients", "count" },
	{ prom_render, "prometheus", "scavenger", "passes" },
	{ prom_render, "prometheus", "scavenger",
	  "released_bytes_total" },
	{ prom_render, "prometheus", "scavenger", "time_ns" },
	{ prom_render, "prometheus", "clients", "count" },
	{ prom_render, "prometheus", "client", "id" },
	{ prom_render, "prometheus", "client", "pid" },
	{ prom_render, "prometheus", "client", "bytes" },
	{ render_clients, "clients", "client", "id" },
	{ render_clients, "clients", "client", "pid" },
	{ render_clients, "clients", "client", "uid" },
	{ render_clients, "clients", "client", "spans" },
	{ render_clients, "clients", "client", "bytes" },
};

START_TEST(test_missing_nested_field)
{
	json_t *st = stats_full(), *o;
	json_t *list = json_object_get(json_object_get(st, "clients"), "list");
	char *out;
	int r;

	if (!strcmp(nested[_i].object, "client"))
		o = json_array_get(list, 0);
	else
		o = json_object_get(st, nested[_i].object);
	ck_assert_int_eq(json_object_del(o, nested[_i].key), 0);
	r = render_into(nested[_i].fn, st, &out);
	ck_assert_msg(r == -EBADMSG, "%s view without %s.%s: returned %d",
		      nested[_i].view, nested[_i].object, nested[_i].key, r);
	free(out);
	json_decref(st);
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_table_human_sizes);
	tcase_add_test(tc, test_table_objects_evictions);
	tcase_add_test(tc, test_table_small_and_zero);
	tcase_add_test(tc, test_table_without_restarts);
	suite_add_tcase(s, tc);

	tc = tcase_create("clients");
	tcase_add_test(tc, test_clients_names_and_pids);
	tcase_add_test(tc, test_clients_empty_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("objects");
	tcase_add_test(tc, test_objects_table);
	tcase_add_test(tc, test_objects_evictable);
	tcase_add_test(tc, test_objects_empty);
	tcase_add_test(tc, test_objects_ages);
	tcase_add_test(tc, test_text_safe);
	tcase_add_test(tc, test_objects_names_safe);
	tcase_add_test(tc, test_objects_long_names);
	tcase_add_test(tc, test_objects_missing_field);
	tcase_add_test(tc, test_delete_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("prometheus");
	tcase_add_test(tc, test_prometheus_format);
	tcase_add_test(tc, test_prometheus_values);
	tcase_add_test(tc, test_prometheus_escapes_labels);
	tcase_add_test(tc, test_prometheus_no_clients);
	tcase_add_test(tc, test_prometheus_without_restarts);
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_test(tc, test_missing_top_level_field);
	tcase_add_test(tc, test_missing_wrong_types);
	tcase_add_loop_test(tc, test_missing_nested_field, 0,
			    (int)(sizeof(nested) / sizeof(nested[0])));
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(render_suite)
