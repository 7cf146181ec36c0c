// SPDX-License-Identifier: MIT
/*
 * spanctl's views of MemStats: a table for people, a client list, and
 * the Prometheus text (metrics/prom.c, shared with the daemon's
 * /metrics); and of the daemon's shared objects, a table.
 *
 * Names come from other processes.  The daemon admits only UTF-8
 * without control characters as object names, but what spanctl prints
 * on a terminal it makes safe itself (render_text()): any byte that is
 * not part of a printable UTF-8 character is shown as \xNN, and the
 * characters that reorder text or break lines as \uNNNN, so that no
 * name can move the cursor, recolour the terminal or disguise another
 * name.  The object table puts the name last, so that its width (in
 * characters, which is columns for all but the wide ones) misaligns
 * nothing, and cuts it only beyond NAME_COLS; --json never cuts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "render_quota.h"
#include "metrics/fields.h"
#include "shm/units.h"

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

/* Every field the client views print, in every entry of @list. */
static int check_list(const json_t *list)
{
	const json_t *c;
	size_t i;

	if (!json_is_array(list))
		return -EBADMSG;
	json_array_foreach(list, i, c)
		if (!memstats_has_all(c, client_required, ARRAY_SIZE(client_required)) ||
		    !json_is_string(json_object_get(c, "name")))
			return -EBADMSG;
	return 0;
}

/* Every field some view prints, nested ones included. */
static int check_fields(const json_t *st)
{
	const json_t *sc = json_object_get(st, "scavenger");
	const json_t *cl = json_object_get(st, "clients");

	if (!memstats_has_all(st, required, ARRAY_SIZE(required)) ||
	    !memstats_has_all(sc, scav_required, ARRAY_SIZE(scav_required)) ||
	    memstats_num(cl, "count") < 0)
		return -EBADMSG;
	return check_list(json_object_get(cl, "list"));
}

/*
 * The restart fields (a daemon that keeps its arena across restarts):
 * shown when all are there, left out for a daemon of a version before.
 */
static const char *const restart_fields[] = {
	"generation", "started", "restarted", "since_restart_s",
};

static bool has_restarts(const json_t *st)
{
	return memstats_has_all(st, restart_fields, ARRAY_SIZE(restart_fields));
}

/*
 * The objects line: what the table holds and, from a daemon that evicts,
 * what may be evicted and what was.  Left out for a daemon without it.
 */
static void render_objects(FILE *f, const json_t *st)
{
	const json_t *ob = json_object_get(st, "objects");
	char a[32], b[32];

	if (memstats_num(ob, "sealed") < 0 || memstats_num(ob, "open") < 0 ||
	    memstats_num(ob, "bytes") < 0)
		return;
	fprintf(f, "%-16s %lld sealed, %lld open, %s", "objects",
		(long long)memstats_num(ob, "sealed"),
		(long long)memstats_num(ob, "open"),
		size(a, sizeof(a), memstats_num(ob, "bytes")));
	if (memstats_num(ob, "evictable") >= 0 &&
	    memstats_num(ob, "evictable_bytes") >= 0 &&
	    memstats_num(ob, "evicted") >= 0 &&
	    memstats_num(ob, "evicted_bytes") >= 0)
		fprintf(f, "; %lld evictable (%s), %lld evicted (%s)",
			(long long)memstats_num(ob, "evictable"),
			size(a, sizeof(a), memstats_num(ob, "evictable_bytes")),
			(long long)memstats_num(ob, "evicted"),
			size(b, sizeof(b), memstats_num(ob, "evicted_bytes")));
	fputc('\n', f);
}

int render_table(FILE *f, const json_t *st)
{
	const json_t *sc = json_object_get(st, "scavenger");
	const json_t *cl = json_object_get(st, "clients");
	char a[32], b[32];

	if (check_fields(st))
		return -EBADMSG;
	fprintf(f, "%-16s %s (resident %s)\n", "arena",
		size(a, sizeof(a), memstats_num(st, "arena_size")),
		size(b, sizeof(b), memstats_num(st, "arena_resident")));
	fprintf(f, "%-16s %s\n", "heap sys", size(a, sizeof(a), memstats_num(st, "heap_sys")));
	fprintf(f, "%-16s %s in %lld spans\n", "  in use",
		size(a, sizeof(a), memstats_num(st, "heap_inuse")),
		(long long)memstats_num(st, "heap_objects"));
	fprintf(f, "%-16s %s\n", "    cached",
		size(a, sizeof(a), memstats_num(st, "cached")));
	fprintf(f, "%-16s %s in %lld free spans\n", "  idle",
		size(a, sizeof(a), memstats_num(st, "heap_idle")),
		(long long)memstats_num(st, "free_spans"));
	fprintf(f, "%-16s %s\n", "  released",
		size(a, sizeof(a), memstats_num(st, "heap_released")));
	fprintf(f, "%-16s %s\n", "consumed",
		size(a, sizeof(a), memstats_num(st, "consumed")));
	fprintf(f, "%-16s %lld passes, %.3f ms paused in total\n", "gc",
		(long long)memstats_num(st, "num_gc"),
		seconds(memstats_num(st, "pause_total_ns")) * 1e3);
	fprintf(f, "%-16s %lld passes, %s released (%s by the last), %lld on demand\n",
		"scavenger", (long long)memstats_num(sc, "passes"),
		size(a, sizeof(a), memstats_num(sc, "released_bytes_total")),
		size(b, sizeof(b), memstats_num(sc, "released_bytes_last")),
		(long long)memstats_num(sc, "forced_releases"));
	fprintf(f, "%-16s %lld\n", "clients", (long long)memstats_num(cl, "count"));
	render_quota_table(f, st);
	render_objects(f, st);
	fprintf(f, "%-16s %.1f s\n", "uptime", seconds(memstats_num(st, "uptime_ns")));
	if (has_restarts(st))
		fprintf(f, "%-16s %lld, %lld s since the last restart\n",
			"generation", (long long)memstats_num(st, "generation"),
			(long long)memstats_num(st, "since_restart_s"));
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
	bool quotas;
	size_t i;
	char a[32];

	if (check_list(list))
		return -EBADMSG;
	/* QUOTA last: its cells are of any width.  Not from older daemons. */
	quotas = render_quota_listed(list);
	fprintf(f, "%6s %-20s %8s %6s %8s %12s %12s%s\n", "ID", "NAME", "PID",
		"UID", "SPANS", "BYTES", "CACHED", quotas ? "  QUOTA" : "");
	json_array_foreach(list, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		char b[32], q[RENDER_QUOTA_CELL] = "";

		if (quotas)
			render_quota_cell(q, sizeof(q), c);
		fprintf(f, "%6lld %-20s %8lld %6lld %8lld %12s %12s%s%s\n",
			(long long)memstats_num(c, "id"), name && *name ? name : "-",
			(long long)memstats_num(c, "pid"), (long long)memstats_num(c, "uid"),
			(long long)memstats_num(c, "spans"),
			size(a, sizeof(a), memstats_num(c, "bytes")),
			json_is_true(json_object_get(c, "magazine")) ?
				size(b, sizeof(b), memstats_num(c, "cached")) : "-",
			quotas ? "  " : "", q);
	}
	return 0;
}

/* ---- text that is safe to print ---- */

/* Names in the object table are cut beyond this many columns. */
#define NAME_COLS 80
#define CREATOR_COLS 20
/* Room for one safe character and its NUL: 4 bytes of UTF-8, or "\\u202e". */
#define SAFE_CHAR_MAX 10

/* Characters that reorder text or break lines, and invisible ones. */
static bool invisible(uint32_t c)
{
	return c == 0x061c || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) ||
	       c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb);
}

/*
 * The next character of @s as it is safe to print, into @out: a
 * printable UTF-8 character as it is, anything else escaped.
 * Return: the bytes of @s it took, >= 1; its columns in @ret_cols.
 */
static size_t safe_char(const unsigned char *s, char out[SAFE_CHAR_MAX],
			size_t *ret_cols)
{
	uint32_t c = s[0], min;
	size_t n, i;

	if (c >= 0x20 && c < 0x7f) {
		out[0] = (char)c;
		out[1] = '\0';
		*ret_cols = 1;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		goto out_byte;
	}
	/* A NUL is no continuation byte: nothing is read past the end. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto out_byte;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto out_byte;
	if (c <= 0x9f || invisible(c)) {
		snprintf(out, SAFE_CHAR_MAX, "\\u%04x", (unsigned int)c);
		*ret_cols = 6;
		return n;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	*ret_cols = 1;
	return n;

out_byte:
	snprintf(out, SAFE_CHAR_MAX, "\\x%02x", (unsigned int)s[0]);
	*ret_cols = 4;
	return 1;
}

void render_text(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char c[SAFE_CHAR_MAX];
	size_t cols;

	while (*p) {
		p += safe_char(p, c, &cols);
		fputs(c, f);
	}
}

/* The columns render_text() takes for @s. */
static size_t text_cols(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char c[SAFE_CHAR_MAX];
	size_t cols, n = 0;

	while (*p) {
		p += safe_char(p, c, &cols);
		n += cols;
	}
	return n;
}

/*
 * @s made safe into @buf, cut to @max_cols columns, the last three
 * "..." if it is cut; "-" if it is empty.  @buf holds
 * max_cols * SAFE_CHAR_MAX bytes.  Return: its columns.
 */
static size_t safe_cell(char *buf, const char *s, size_t max_cols)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t cols, used = 0, len = 0, room = max_cols;
	char c[SAFE_CHAR_MAX];

	if (!*s) {
		strcpy(buf, "-");
		return 1;
	}
	if (text_cols(s) > max_cols)
		room = max_cols - 3;
	while (*p) {
		p += safe_char(p, c, &cols);
		if (used + cols > room)
			break;
		strcpy(buf + len, c);
		len += strlen(c);
		used += cols;
	}
	if (room < max_cols) {
		strcpy(buf + len, "...");
		used += 3;
	}
	return used;
}

void render_delete_error(FILE *f, const char *name, int err)
{
	const char *why;

	switch (err) {
	case -ENOENT:
		why = "no live object has that name (spanctl objects lists them)";
		break;
	case -EPERM:
		why = "permission denied: only the creator's uid or root may delete an object";
		break;
	case -EINVAL:
		why = "not a valid object name: 1 to 255 bytes of UTF-8 without control characters";
		break;
	default:
		why = strerror(-err);
	}
	fputs("spanctl: cannot delete ", f);
	render_text(f, name);
	fprintf(f, ": %s\n", why);
}

/* ---- objects ---- */

static const char *const object_required[] = {
	"id", "size", "refs", "age_ns",
};

/*
 * "evictable" is a daemon's since eviction: absent, or a boolean.
 */
static int check_objects(const json_t *list)
{
	const json_t *o, *cr, *ev;
	size_t i;

	if (!json_is_array(list))
		return -EBADMSG;
	json_array_foreach(list, i, o) {
		cr = json_object_get(o, "creator");
		ev = json_object_get(o, "evictable");
		if (!memstats_has_all(o, object_required, ARRAY_SIZE(object_required)) ||
		    !json_is_string(json_object_get(o, "name")) ||
		    !json_is_string(json_object_get(o, "state")) ||
		    (ev && !json_is_boolean(ev)) ||
		    memstats_num(cr, "pid") < 0 || memstats_num(cr, "uid") < 0 ||
		    !json_is_string(json_object_get(cr, "name")))
			return -EBADMSG;
	}
	return 0;
}

/* An age for people: "12.3 ms", "4.0 s", "5m07s", "2h30m", "3d04h". */
static void age(char *buf, size_t len, int64_t ns)
{
	unsigned long long s = (unsigned long long)(ns / 1000000000);

	if (ns < 1000000000)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else if (s < 60)
		snprintf(buf, len, "%.1f s", (double)ns / 1e9);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s / 3600 % 24);
}

enum { C_ID, C_SIZE, C_STATE, C_EVICT, C_REFS, C_PID, C_UID, C_CREATOR,
       C_AGE, C_NAME, C_COLS };

static const struct {
	const char *head;
	bool left;
} obj_cols[C_COLS] = {
	[C_ID] = { "ID", false },	  [C_SIZE] = { "SIZE", false },
	[C_STATE] = { "STATE", true },	  [C_EVICT] = { "EVICT", true },
	[C_REFS] = { "REFS", false },
	[C_PID] = { "PID", false },	  [C_UID] = { "UID", false },
	[C_CREATOR] = { "CREATOR", true }, [C_AGE] = { "AGE", false },
	[C_NAME] = { "NAME", true },
};

/* Room for any cell: the longest name, cut, as safe text. */
#define CELL_MAX (NAME_COLS * SAFE_CHAR_MAX)

/* Column @col of object @o (checked) into @buf; return its columns. */
static size_t obj_cell(const json_t *o, int col, char *buf)
{
	const json_t *cr = json_object_get(o, "creator"), *ev;

	switch (col) {
	case C_ID:
		snprintf(buf, CELL_MAX, "%lld", (long long)memstats_num(o, "id"));
		break;
	case C_SIZE:
		size(buf, CELL_MAX, memstats_num(o, "size"));
		break;
	case C_STATE:
		return safe_cell(buf, json_string_value(json_object_get(o,
							"state")), 16);
	case C_EVICT:
		/* "yes": the daemon may evict it once nobody holds it. */
		ev = json_object_get(o, "evictable");
		snprintf(buf, CELL_MAX, "%s",
			 !ev ? "-" : json_is_true(ev) ? "yes" : "no");
		break;
	case C_REFS:
		snprintf(buf, CELL_MAX, "%lld", (long long)memstats_num(o, "refs"));
		break;
	case C_PID:
		snprintf(buf, CELL_MAX, "%lld", (long long)memstats_num(cr, "pid"));
		break;
	case C_UID:
		snprintf(buf, CELL_MAX, "%lld", (long long)memstats_num(cr, "uid"));
		break;
	case C_CREATOR:
		return safe_cell(buf, json_string_value(json_object_get(cr,
							"name")), CREATOR_COLS);
	case C_AGE:
		age(buf, CELL_MAX, memstats_num(o, "age_ns"));
		break;
	default:
		/* A deleted object, still referenced, has no name: "-". */
		return safe_cell(buf, json_string_value(json_object_get(o,
							"name")), NAME_COLS);
	}
	return strlen(buf);
}

/* @text of @cols columns in a column @width wide, then a space. */
static void put_cell(FILE *f, int col, const char *text, size_t cols,
		     size_t width)
{
	size_t pad = width > cols ? width - cols : 0;

	if (col == C_NAME) {
		fprintf(f, "%s\n", text);
		return;
	}
	if (!obj_cols[col].left)
		fprintf(f, "%*s", (int)pad, "");
	fputs(text, f);
	fprintf(f, "%*s", (int)(obj_cols[col].left ? pad + 2 : 2), "");
}

int render_object_list(FILE *f, const json_t *list)
{
	size_t width[C_COLS], cols, i;
	const json_t *o;
	char *buf;
	int c;

	if (check_objects(list))
		return -EBADMSG;
	buf = malloc(CELL_MAX);
	if (!buf)
		return -ENOMEM;
	/* Twice over the list: the widths first, then the lines. */
	for (c = 0; c < C_COLS; c++)
		width[c] = strlen(obj_cols[c].head);
	json_array_foreach(list, i, o) {
		for (c = 0; c < C_COLS; c++) {
			cols = obj_cell(o, c, buf);
			if (cols > width[c])
				width[c] = cols;
		}
	}
	for (c = 0; c < C_COLS; c++)
		put_cell(f, c, obj_cols[c].head, strlen(obj_cols[c].head),
			 width[c]);
	json_array_foreach(list, i, o) {
		for (c = 0; c < C_COLS; c++) {
			cols = obj_cell(o, c, buf);
			put_cell(f, c, buf, cols, width[c]);
		}
	}
	free(buf);
	return 0;
}
