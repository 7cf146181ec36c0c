// SPDX-License-Identifier: MIT
/*
 * The seeds of the message targets (seeds.c says how they are made):
 * fuzz_dispatch's, tests/fuzz/corpus/dispatch/{obj,mag}-*, and
 * fuzz_receive's, tests/fuzz/corpus/receive/{obj,mag}-*.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "proto/magazine.h"
#include "tests/fuzz/seeds.h"

/* The receive target's actions (tests/fuzz/fuzz_receive.c). */
enum { OPEN, SEND, SENDH, HELLO, HANGUP, LOOP, DRAIN, ALLOC };

/* ---- the dispatch target: a 16-bit length, its top bit the client */

static void d(struct seed *s, int client, struct msg m)
{
	put16(s, (unsigned int)m.len | (client ? 0x8000u : 0));
	put(s, m.u.raw, m.len);
}

/* Both clients say HELLO: every seed begins so. */
static void d_begin(struct seed *s)
{
	memset(s, 0, sizeof(*s));
	seq = 0;
	d(s, 0, hello());
	d(s, 1, hello());
}

/* Create, seal, get, release, delete, across the two clients. */
static void d_life_cycle(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 0, create("frame/0", 5000));
	d(&s, 1, get("frame/0", 0));		/* OPEN: -ENOENT */
	d(&s, 0, seal(1));
	d(&s, 0, seal(1));			/* -EALREADY */
	d(&s, 1, get("frame/0", 0));
	d(&s, 1, get("frame/0", 0));		/* two references */
	d(&s, 0, objects(0, 8));
	d(&s, 1, release(1));
	d(&s, 1, release(1));
	d(&s, 1, release(1));			/* holds none: -EINVAL */
	d(&s, 0, del("frame/0"));
	d(&s, 0, del("frame/0"));		/* -ENOENT */
	d(&s, 1, get("frame/0", 0));		/* deleted: -ENOENT */
	d(&s, 0, release(1));			/* the last: freed */
	d(&s, 0, objects(0, 8));
	emit("dispatch", "obj-life-cycle", &s);
}

/*
 * An evictable object (PROTO_OBJ_EVICTABLE, zeroed too) through its
 * life: a candidate once released, off the list while got, on it again.
 */
static void d_evictable(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 0, create_n("cache/0", 7, 3 * PAGE,
			  PROTO_OBJ_EVICTABLE | PROTO_OBJ_ZERO));
	d(&s, 0, seal(1));
	d(&s, 0, release(1));			/* a candidate */
	d(&s, 1, get("cache/0", 0));		/* off the list */
	d(&s, 0, objects(0, 8));
	d(&s, 1, release(1));			/* on it again */
	d(&s, 1, get("cache/0", 0));
	d(&s, 1, del("cache/0"));		/* referenced: it lives on */
	d(&s, 1, release(1));			/* the last: freed */
	d(&s, 0, create_n("cache/1", 7, PAGE, PROTO_OBJ_EVICTABLE));
	d(&s, 0, objects(0, 8));
	emit("dispatch", "obj-evictable", &s);
}

/* A get that waits without end, woken by the other client's seal. */
static void d_woken(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 0, create("late", PAGE));
	d(&s, 1, get("late", -1));		/* OPEN: waits */
	d(&s, 1, hdr_only(PROTO_STATS));	/* held back: not read */
	d(&s, 0, objects(0, 4));
	d(&s, 0, seal(1));			/* wakes client 1 */
	d(&s, 1, release(1));
	d(&s, 0, del("late"));
	d(&s, 0, release(1));
	emit("dispatch", "obj-get-woken-by-seal", &s);

	/* Waiting before the object exists at all, then woken. */
	d_begin(&s);
	d(&s, 1, get("not-yet", -1));
	d(&s, 0, create("not-yet", 3 * PAGE));
	d(&s, 0, seal(1));
	d(&s, 1, objects(0, 64));
	d(&s, 1, release(1));
	d(&s, 0, del("not-yet"));
	emit("dispatch", "obj-get-waits-before-create", &s);

	/* Waiting on a name that a delete and a new create reuse. */
	d_begin(&s);
	d(&s, 0, create("reuse", PAGE));
	d(&s, 0, del("reuse"));			/* aborted, still held */
	d(&s, 1, get("reuse", -1));
	d(&s, 0, seal(1));			/* aborted: -ENOENT */
	d(&s, 0, create("reuse", 2 * PAGE));
	d(&s, 0, seal(2));			/* wakes client 1 */
	d(&s, 0, release(1));
	d(&s, 1, release(2));
	emit("dispatch", "obj-get-woken-after-reuse", &s);

	/* A wait that never ends: its client is destroyed at the end. */
	d_begin(&s);
	d(&s, 1, get("never", -1));
	d(&s, 1, create("never", PAGE));	/* held back */
	d(&s, 0, get("never", INT32_MIN));
	emit("dispatch", "obj-get-waits-forever", &s);
}

/* Gets with timeouts: 0, short, long (cut to 20 ms), and woken. */
static void d_timeouts(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 1, get("t", 0));			/* -ENOENT */
	d(&s, 1, get("t", 1));			/* -ETIMEDOUT */
	d(&s, 1, hdr_only(PROTO_STATS));	/* after the timeout */
	d(&s, 1, get("t", 5));
	d(&s, 1, get("t", INT32_MAX));		/* cut to 20 ms */
	d(&s, 0, create("t", PAGE));
	d(&s, 1, get("t", 3));			/* OPEN: times out */
	d(&s, 0, seal(1));
	d(&s, 1, get("t", 3));			/* at once */
	d(&s, 1, get("t", -1));			/* at once */
	d(&s, 1, release(1));
	d(&s, 1, release(1));
	emit("dispatch", "obj-get-timeouts", &s);

	/* A timed wait that the other client's seal may end first. */
	d_begin(&s);
	d(&s, 1, get("race", 20));
	d(&s, 0, create("race", PAGE));
	d(&s, 0, seal(1));
	d(&s, 1, get("race", 0));
	emit("dispatch", "obj-get-timeout-or-seal", &s);
}

/* Names: bad UTF-8, control characters, lengths; and good odd ones. */
static void d_names(void)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{ "\xff", 1 },			/* no UTF-8 byte */
		{ "a\xc3", 2 },			/* cut short */
		{ "\xc0\x80", 2 },		/* overlong NUL */
		{ "\xe0\x80\xaf", 3 },		/* overlong '/' */
		{ "\xed\xa0\x80", 3 },		/* a surrogate */
		{ "\xf4\x90\x80\x80", 4 },	/* past U+10FFFF */
		{ "\x80zz", 3 },		/* a lone continuation */
		{ "tab\there", 8 },		/* control characters */
		{ "nl\n", 3 },
		{ "del\x7f", 4 },
		{ "c1\xc2\x85", 4 },		/* U+0085, a C1 control */
		{ "nul\0in", 6 },
		{ "\0", 1 },
	};
	char name[PROTO_OBJ_NAME_MAX];
	struct seed s;
	struct msg m;

	d_begin(&s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int k = (int)(i & 1);

		d(&s, k, create_n(bad[i].s, bad[i].n, PAGE, 0));
		d(&s, k, get_n(bad[i].s, bad[i].n, i & 2 ? -1 : 0));
		d(&s, k, del_n(bad[i].s, bad[i].n));
	}
	d(&s, 0, objects(0, 64));		/* nothing was made */
	emit("dispatch", "obj-bad-names", &s);

	/* Good names: the longest, every UTF-8 length, a space, no-break. */
	d_begin(&s);
	for (size_t i = 0; i < sizeof(name); i += 3)
		memcpy(name + i, "\xe2\x82\xac", 3);	/* 85 euro signs */
	d(&s, 0, create_n(name, sizeof(name), PAGE, 0));
	d(&s, 0, seal(1));
	d(&s, 1, get_n(name, sizeof(name), 0));
	/* Characters of 2, 3 and 4 bytes. */
	d(&s, 0, create("gr\xc3\xb6\xc3\x9f" "e \xe6\x97\xa5\xf0\x9f\x98\x80",
			1));
	d(&s, 0, create("\xc2\xa0", 1));	/* U+00A0 is no control */
	d(&s, 0, create("~", 1));
	d(&s, 0, objects(0, 64));
	d(&s, 1, del_n(name, sizeof(name)));	/* not its uid: -EPERM */
	d(&s, 0, del_n(name, sizeof(name)));
	emit("dispatch", "obj-good-names", &s);

	/* Name lengths that do not match the datagram, 0, and over 255. */
	d_begin(&s);
	m = create("short", PAGE);
	m.len--;				/* a byte short */
	d(&s, 0, m);
	m = create("long", PAGE);
	m.len++;				/* a byte over */
	d(&s, 0, m);
	m = create("x", PAGE);
	m.u.create.namelen = 0;
	m.len = offsetof(struct proto_obj_create, name);
	d(&s, 0, m);
	memset(name, 'n', sizeof(name));
	m = create_n(name, sizeof(name), PAGE, 0);
	m.u.create.namelen = PROTO_OBJ_NAME_MAX + 1;
	m.len++;
	d(&s, 0, m);
	m = get("g", 0);
	m.u.get.namelen = 2;
	d(&s, 1, m);
	m = get("g", 0);
	m.len = offsetof(struct proto_obj_get, name);
	d(&s, 1, m);
	m = del("dd");
	m.u.del.namelen = 1;
	d(&s, 1, m);
	m = del("d");
	m.len = 20;				/* short of the head */
	d(&s, 1, m);
	d(&s, 0, objects(0, 64));
	emit("dispatch", "obj-name-lengths", &s);
}

/* Flags, sizes, pads, page sizes: each field's check. */
static void d_fields(void)
{
	struct seed s;
	struct msg m;

	d_begin(&s);
	d(&s, 0, create_n("z", 1, 3 * PAGE + 1, PROTO_OBJ_ZERO));
	d(&s, 0, create_n("f2", 2, PAGE, 0x2));
	d(&s, 0, create_n("f8", 2, PAGE, 0x80000000u));
	d(&s, 0, create("size0", 0));
	d(&s, 0, create("arena+1", ARENA + 1));
	d(&s, 0, create("huge", UINT64_MAX));
	m = create("pad", PAGE);
	m.u.create.pad = 1;
	d(&s, 0, m);
	m = get("z", 0);
	m.u.get.pad = 0x100;
	d(&s, 1, m);
	m = del("z");
	m.u.del.pad[2] = 1;
	d(&s, 1, m);
	d(&s, 0, seal(0));			/* id 0 */
	d(&s, 0, release(0));
	d(&s, 0, objects(0, 0));
	d(&s, 0, objects(0, PROTO_OBJECTS_PAGE + 1));
	m = objects(0, 1);
	m.u.objects.pad = 1;
	d(&s, 0, m);
	m = seal(1);
	m.len = 23;
	d(&s, 0, m);
	m = seal(1);
	m.len = 25;
	d(&s, 0, m);
	m = release(1);
	m.len = 16;
	d(&s, 0, m);
	m = objects(0, 1);
	m.len = 31;
	d(&s, 1, m);
	m = objects(0, 1);
	m.len = 33;
	d(&s, 1, m);
	m = create("st", PAGE);
	m.u.hdr.status = -1;			/* a request has status 0 */
	d(&s, 1, m);
	d(&s, 0, seal(1));			/* z, at last */
	d(&s, 1, get("z", 0));
	d(&s, 1, release(1));
	emit("dispatch", "obj-bad-fields", &s);
}

/* Ids no object has: unknown, stale, an alias before any object. */
static void d_ids(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 0, seal(1));			/* no object yet */
	d(&s, 0, release(1));
	d(&s, 1, seal(UINT64_C(0xdeadbeef00)));
	d(&s, 1, release(UINT64_C(1) << 40));
	d(&s, 0, seal(UINT64_MAX));
	d(&s, 0, create("stale", PAGE));
	d(&s, 0, release(1));			/* aborts and frees it */
	d(&s, 0, seal(1));			/* stale: -ENOENT */
	d(&s, 0, release(1));			/* stale: -EINVAL */
	d(&s, 0, create("stale", PAGE));	/* a new id, alias 2 */
	d(&s, 0, seal(1));
	d(&s, 0, seal(2));
	d(&s, 1, get("stale", 0));
	d(&s, 1, release(2));
	emit("dispatch", "obj-unknown-ids", &s);
}

/* Who may seal and delete: the creator seals; its uid or 0 deletes. */
static void d_perms(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 0, create("root's", PAGE));
	d(&s, 1, seal(1));			/* not its creator: -EPERM */
	d(&s, 1, del("root's"));		/* uid 1000: -EPERM */
	d(&s, 1, release(1));			/* holds none: -EINVAL */
	d(&s, 0, seal(1));
	d(&s, 1, create("user's", 2 * PAGE));
	d(&s, 1, seal(2));
	d(&s, 0, get("user's", 0));
	d(&s, 0, del("user's"));		/* uid 0 may */
	d(&s, 1, create("user's", PAGE));	/* the name is free again */
	d(&s, 1, del("user's"));		/* its own: aborted */
	d(&s, 1, seal(3));			/* -ENOENT */
	d(&s, 1, release(3));			/* frees the aborted one */
	d(&s, 1, release(2));
	d(&s, 0, release(2));			/* the last: freed */
	d(&s, 1, get("root's", 0));
	d(&s, 1, del("root's"));		/* -EPERM still */
	d(&s, 0, del("root's"));
	d(&s, 1, release(1));
	emit("dispatch", "obj-permissions", &s);
}

/* Delete while referenced; OPEN objects aborted; a creator that goes. */
static void d_lifetimes(void)
{
	struct seed s;

	d_begin(&s);
	d(&s, 0, create("held", 3 * PAGE));
	d(&s, 0, seal(1));
	d(&s, 1, get("held", 0));
	d(&s, 1, get("held", -1));
	d(&s, 0, del("held"));			/* 3 references: stays */
	d(&s, 0, objects(0, 64));		/* a deleted one */
	d(&s, 0, create("held", PAGE));		/* the name again */
	d(&s, 0, release(1));
	d(&s, 1, release(1));
	d(&s, 0, alloc(1, 2));
	d(&s, 1, release(1));			/* the last: freed */
	d(&s, 1, release(1));			/* -EINVAL */
	d(&s, 0, seal(2));
	emit("dispatch", "obj-delete-while-referenced", &s);

	/* A creator that goes aborts its OPEN objects, not its sealed ones. */
	d_begin(&s);
	d(&s, 0, create("open", PAGE));
	d(&s, 0, create("sealed", 2 * PAGE));
	d(&s, 0, seal(2));
	d(&s, 1, get("open", -1));		/* waits */
	d(&s, 0, alloc(2, 3));
	d(&s, 0, old_version(hdr_only(PROTO_STATS)));	/* client 0 goes */
	d(&s, 0, seal(1));			/* not read: gone */
	emit("dispatch", "obj-creator-gone-waiter-stays", &s);

	d_begin(&s);
	d(&s, 0, create("keep", PAGE));
	d(&s, 0, create("drop", PAGE));
	d(&s, 0, seal(1));
	d(&s, 0, old_version(hdr_only(PROTO_STATS)));	/* client 0 goes */
	d(&s, 1, get("keep", 0));		/* outlives its creator */
	d(&s, 1, get("drop", 0));		/* aborted: -ENOENT */
	d(&s, 1, objects(0, 64));
	d(&s, 1, release(1));
	d(&s, 1, del("keep"));			/* uid 0's: -EPERM */
	emit("dispatch", "obj-sealed-outlives-creator", &s);

	/* A reader that goes drops its references. */
	d_begin(&s);
	d(&s, 0, create("read", PAGE));
	d(&s, 0, seal(1));
	d(&s, 1, get("read", 0));
	d(&s, 1, get("read", 0));
	d(&s, 0, del("read"));
	d(&s, 0, release(1));
	d(&s, 1, old_version(hdr_only(PROTO_GC)));	/* frees it */
	d(&s, 0, objects(0, 64));
	emit("dispatch", "obj-reader-gone", &s);
}

/* The object table and the reference records full; the arena full. */
static void d_limits(void)
{
	char name[8];
	struct seed s;

	/* 16 objects, 24 reference records (the harness's table). */
	d_begin(&s);
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		d(&s, 0, create(name, PAGE));
	}
	d(&s, 0, create("f16", PAGE));		/* -ENOSPC */
	for (int i = 1; i <= 8; i++)
		d(&s, 0, seal((uint64_t)i));
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		d(&s, 1, get(name, 0));		/* 24 records */
	}
	d(&s, 1, get("f00", 0));		/* held: no new record */
	d(&s, 1, get("f08", -1));		/* waits */
	d(&s, 0, seal(9));			/* woken: -ENOSPC */
	d(&s, 0, get("f08", 0));		/* holds it already */
	d(&s, 1, get("f08", 0));		/* -ENOSPC */
	d(&s, 0, objects(0, 5));
	d(&s, 0, objects(0, 64));
	d(&s, 0, release(16));			/* aborts f15 */
	d(&s, 0, create("f16", PAGE));		/* room: the 17th id */
	d(&s, 1, get("f08", 0));
	emit("dispatch", "obj-table-full", &s);

	/* One object of the whole arena; then no room for anything. */
	d_begin(&s);
	d(&s, 0, create_n("all", 3, ARENA, PROTO_OBJ_ZERO));
	d(&s, 0, create("more", 1));		/* -ENOMEM */
	d(&s, 1, alloc(1, 1));			/* -ENOMEM */
	d(&s, 0, seal(1));
	d(&s, 1, get("all", 0));
	d(&s, 0, release(1));
	d(&s, 0, del("all"));			/* still held */
	d(&s, 1, alloc(1, 1));			/* -ENOMEM */
	d(&s, 1, release(1));			/* freed */
	d(&s, 1, alloc(1, 1));
	d(&s, 1, create("more", 1));
	emit("dispatch", "obj-arena-full", &s);
}

/* OBJECTS pages: every max, cursors in and past the table. */
static void d_paging(void)
{
	static const uint64_t after[] = { 0, 1, 2, 3, 5, 15, 16, 17, 1000,
					  UINT64_MAX };
	char name[8];
	struct seed s;

	d_begin(&s);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		d(&s, i & 1, create(name, (uint64_t)(i + 1) * PAGE));
	}
	d(&s, 0, seal(1));
	d(&s, 0, seal(3));
	d(&s, 1, seal(2));
	d(&s, 1, del("p3"));			/* its own: aborted */
	d(&s, 0, del("p0"));			/* sealed, held: deleted */
	for (uint32_t max = 1; max <= 3; max++)
		for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
			d(&s, (int)(i & 1), objects(after[i], max));
	d(&s, 1, objects(0, PROTO_OBJECTS_PAGE));
	d(&s, 0, objects(UINT64_MAX, PROTO_OBJECTS_PAGE));
	emit("dispatch", "obj-objects-pages", &s);

	/* Before HELLO: every object request is -EPROTO. */
	memset(&s, 0, sizeof(s));
	seq = 0;
	d(&s, 0, create("early", PAGE));
	d(&s, 0, get("early", -1));
	d(&s, 0, seal(1));
	d(&s, 0, release(1));
	d(&s, 0, del("early"));
	d(&s, 0, objects(0, 1));
	d(&s, 0, hello());
	d(&s, 0, create("early", PAGE));
	d(&s, 0, objects(0, 1));
	emit("dispatch", "obj-before-hello", &s);
}

/* ---- the receive target: actions on four client slots */

static void r(struct seed *s, unsigned int op, unsigned int slot,
	      unsigned int a)
{
	unsigned char b = (unsigned char)(op | slot << 3 | a << 5);

	put(s, &b, 1);
}

/* SEND of @m from @slot with fds of argument @a (0: none). */
static void r_send(struct seed *s, unsigned int slot, struct msg m,
		   unsigned int a)
{
	r(s, SEND, slot, a);
	put16(s, (unsigned int)m.len);
	put(s, m.u.raw, m.len);
}

/* Two clients, said HELLO. */
static void r_begin(struct seed *s, bool slow)
{
	memset(s, 0, sizeof(*s));
	seq = 0;
	r(s, OPEN, 0, 0);
	r(s, OPEN, 1, slow ? 4 : 0);
	r(s, HELLO, 0, 0);
	r(s, HELLO, 1, 0);
	r(s, LOOP, 0, 7);
	r(s, DRAIN, 0, 0);
	r(s, DRAIN, 1, 0);
}

static void r_seeds(void)
{
	struct seed s;
	struct msg m;

	/* A get woken by the other's seal, through the daemon's loop. */
	r_begin(&s, false);
	r_send(&s, 1, get("rx", -1), 0);
	r(&s, LOOP, 0, 7);
	r_send(&s, 1, hdr_only(PROTO_STATS), 0);	/* held back */
	r_send(&s, 0, create("rx", 2 * PAGE), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 0, 0);			/* its id: alias 1 */
	r_send(&s, 0, seal(1), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 1, 0);
	r_send(&s, 1, release(1), 0);
	r_send(&s, 0, del("rx"), 0);
	r_send(&s, 0, objects(0, 64), 0);
	r(&s, LOOP, 0, 7);
	emit("receive", "obj-get-woken-by-seal", &s);

	/* A waiter hangs up: shutdown(SHUT_WR), then a close. */
	r_begin(&s, false);
	r_send(&s, 1, get("gone", -1), 0);
	r(&s, LOOP, 0, 4);
	r_send(&s, 1, get("gone", 0), 0);	/* held back */
	r(&s, HANGUP, 1, 0);
	r(&s, LOOP, 0, 4);
	r_send(&s, 0, create("gone", PAGE), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 0, 0);
	r_send(&s, 0, seal(1), 0);
	r(&s, OPEN, 2, 0);
	r(&s, HELLO, 2, 0);
	r_send(&s, 2, get("x", 1000), 0);
	r(&s, HANGUP, 2, 4);			/* closed while it waits */
	r(&s, LOOP, 0, 7);
	emit("receive", "obj-waiter-hangs-up", &s);

	/*
	 * A waiter closes its end with a reply unread (its WELCOME): the
	 * daemon's end then has ECONNRESET, an EPOLLERR, which libevent
	 * gives as EV_READ | EV_WRITE and never as EV_CLOSED.  The daemon
	 * must end the wait and the client all the same.
	 */
	memset(&s, 0, sizeof(s));
	seq = 0;
	r(&s, OPEN, 0, 0);
	r(&s, HELLO, 0, 0);
	r_send(&s, 0, get("never", -1), 0);
	r(&s, LOOP, 0, 4);
	r(&s, HANGUP, 0, 4);
	emit("receive", "obj-waiter-closes-reply-unread", &s);

	/* Timed waits: one that times out, one left when the input ends. */
	r_begin(&s, false);
	r_send(&s, 1, get("t", 1), 0);
	r_send(&s, 1, get("t", 0), 0);
	r(&s, LOOP, 0, 4);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 1, 0);
	r_send(&s, 0, get("t", 60000), 0);
	r(&s, LOOP, 0, 7);
	emit("receive", "obj-get-timeouts", &s);

	/* A slow reader's woken reply waits in the daemon's queue. */
	r_begin(&s, true);
	r_send(&s, 1, objects(0, 64), 0);
	r_send(&s, 1, hdr_only(PROTO_STATS), 0);
	r_send(&s, 1, get("slow", -1), 0);
	r(&s, LOOP, 0, 4);
	r_send(&s, 0, create("slow", PAGE), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 0, 0);
	r_send(&s, 0, seal(1), 0);
	r(&s, LOOP, 0, 4);
	r(&s, DRAIN, 1, 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 1, 0);
	emit("receive", "obj-slow-reader-woken", &s);

	/* Object requests with fds, malformed, by SENDH, from an old client. */
	r_begin(&s, false);
	r_send(&s, 0, create("fds", PAGE), 1);
	r_send(&s, 0, get("fds", 0), 5);
	m = create("hdr", PAGE);
	r(&s, SENDH, 0, 0);
	put16(&s, (unsigned int)m.len);
	put(&s, m.u.raw, m.len);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 0, 0);
	r_send(&s, 0, seal(1), 0);
	m = create("bad\x01", PAGE);
	r_send(&s, 1, m, 0);
	m.len += 3;
	r_send(&s, 1, m, 0);
	r_send(&s, 1, get("hdr", 0), 0);
	r_send(&s, 1, old_version(get("hdr", 0)), 0);	/* it goes */
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 1, 0);
	emit("receive", "obj-odd-requests", &s);

	/* The creator hangs up: sealed lives on, OPEN is aborted. */
	r_begin(&s, false);
	r_send(&s, 0, create("stays", PAGE), 0);
	r_send(&s, 0, create("goes", PAGE), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 0, 0);
	r_send(&s, 0, seal(1), 0);
	r(&s, LOOP, 0, 7);
	r(&s, HANGUP, 0, 4);
	r(&s, LOOP, 0, 6);
	r_send(&s, 1, get("stays", 0), 0);
	r_send(&s, 1, get("goes", 0), 0);
	r_send(&s, 1, objects(0, 64), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 1, 0);
	emit("receive", "obj-creator-hangs-up", &s);
}

/*
 * Magazines (the dispatch target's client 0 asks for one, client 1 not):
 * refills that double a class up to its largest target or the cache
 * bound, kicks, refills without a magazine, malformed ones, FILL spans
 * freed through the socket, an arena too full to fill.
 */
static void d_magazines(void)
{
	static const uint64_t guess[4] = { 0, PAGE, 2 * PAGE, 3 * PAGE };
	struct seed s;
	struct msg m;

	memset(&s, 0, sizeof(s));
	seq = 0;
	d(&s, 0, hello_mag());
	d(&s, 1, hello());
	/* 1 MiB: one span of 64 pages (3 x 256 KiB), then none of 32. */
	for (int i = 0; i < 3; i++)
		d(&s, 0, refill(6, PROTO_MAG_EMPTY));
	d(&s, 0, refill(5, PROTO_MAG_EMPTY));	/* no room: -ENOMEM */
	/* 256 KiB left: 4, 8, 16, then 21 spans of a page. */
	for (int i = 0; i < 6; i++)
		d(&s, 0, refill(0, PROTO_MAG_EMPTY));
	d(&s, 0, refill(1, PROTO_MAG_FULL));	/* none left: 0 */
	d(&s, 0, refill(1, PROTO_MAG_EMPTY | PROTO_MAG_FULL));
	d(&s, 0, kick());
	d(&s, 0, kick());
	d(&s, 0, hdr_only(PROTO_STATS));
	d(&s, 1, refill(0, PROTO_MAG_EMPTY));	/* no magazine: -ENODEV */
	d(&s, 1, kick());			/* nothing at all */
	d(&s, 1, hdr_only(PROTO_STATS));
	emit("dispatch", "mag-refill-kick", &s);

	/* FILL spans, not the client's to free; and its socket spans. */
	memset(&s, 0, sizeof(s));
	seq = 0;
	d(&s, 0, hello_mag());
	d(&s, 1, hello_mag());
	d(&s, 0, refill(0, PROTO_MAG_EMPTY));
	d(&s, 1, refill(0, PROTO_MAG_EMPTY));
	d(&s, 0, span_free(guess, 1));
	d(&s, 0, span_free(guess + 1, 3));
	d(&s, 1, span_free(guess, 4));
	d(&s, 0, alloc(1, 2));
	d(&s, 0, span_free(guess + 3, 1));
	d(&s, 0, kick());
	emit("dispatch", "mag-free-fill", &s);

	/* Malformed, before HELLO, twice HELLO, unknown flags. */
	memset(&s, 0, sizeof(s));
	seq = 0;
	d(&s, 1, refill(0, PROTO_MAG_EMPTY));	/* before HELLO: -EPROTO */
	d(&s, 1, kick());			/* not answered */
	m = hello_mag();
	m.u.hello.flags = 0x8;
	d(&s, 1, m);				/* unknown flag */
	d(&s, 0, hello_mag());
	d(&s, 0, hello_mag());			/* -EISCONN */
	d(&s, 0, refill(MAG_NCLASSES, PROTO_MAG_EMPTY));
	d(&s, 0, refill(0, 0));
	d(&s, 0, refill(0, 0x4));
	d(&s, 0, mag(PROTO_MAG_KICK, 1, 0));	/* refused, not answered */
	d(&s, 0, mag(PROTO_MAG_KICK, 0, PROTO_MAG_EMPTY));
	m = kick();
	m.len++;
	d(&s, 0, m);
	m = refill(1, PROTO_MAG_EMPTY);
	m.len--;
	d(&s, 0, m);
	d(&s, 0, refill(1, PROTO_MAG_EMPTY));
	emit("dispatch", "mag-bad-messages", &s);

	/* An arena with no room for a class's span. */
	memset(&s, 0, sizeof(s));
	seq = 0;
	d(&s, 0, hello_mag());
	d(&s, 1, hello());
	d(&s, 1, alloc(ARENA / PAGE - 40, 1));
	d(&s, 0, refill(6, PROTO_MAG_EMPTY));	/* -ENOMEM */
	d(&s, 0, refill(3, PROTO_MAG_EMPTY));	/* 4 of 8 pages */
	d(&s, 0, refill(0, PROTO_MAG_EMPTY));	/* the 8 left */
	d(&s, 0, refill(0, PROTO_MAG_EMPTY));	/* none, yet served */
	d(&s, 0, refill(1, PROTO_MAG_EMPTY));	/* -ENOMEM */
	d(&s, 0, kick());
	emit("dispatch", "mag-arena-full", &s);
}

/* Magazines through the daemon's loop: kicks with and without fds. */
static void r_magazines(void)
{
	struct seed s;

	memset(&s, 0, sizeof(s));
	seq = 0;
	r(&s, OPEN, 0, 0);
	r(&s, OPEN, 1, 4);
	r_send(&s, 0, hello_mag(), 0);
	r_send(&s, 1, hello_mag(), 0);
	r_send(&s, 0, kick(), 0);
	r_send(&s, 0, refill(0, PROTO_MAG_EMPTY), 0);
	r_send(&s, 1, kick(), 0);		/* before its HELLO is read? */
	r(&s, LOOP, 0, 4);
	r_send(&s, 0, kick(), 1);		/* fds: refused, unanswered */
	r_send(&s, 0, refill(1, PROTO_MAG_EMPTY), 2);	/* -EBADMSG */
	r_send(&s, 1, refill(2, PROTO_MAG_EMPTY), 0);
	r(&s, LOOP, 0, 7);
	r(&s, DRAIN, 0, 0);
	r(&s, DRAIN, 1, 0);
	r(&s, HANGUP, 1, 4);
	r_send(&s, 0, hdr_only(PROTO_STATS), 0);
	r(&s, LOOP, 0, 7);
	emit("receive", "mag-hello-kick-refill", &s);
}

/*
 * Sessions: resumes of no session (a forged token, another arena's, a
 * bad shape), a client that asks to keep its session, and BYE.
 */
static void d_sessions(void)
{
	struct seed s;
	struct msg m;

	memset(&s, 0, sizeof(s));
	seq = 0;
	m = hello_mag();
	m.u.hello.flags |= PROTO_HELLO_KEEP;
	d(&s, 0, m);
	d(&s, 0, alloc(2, 3));
	m = hello();
	m.u.hello.flags = PROTO_HELLO_RESUME;
	m.u.hello.next_seq = 1;
	m.u.hello.session.arena_id[0] = 1;
	m.u.hello.session.owner = 1;
	m.u.hello.session.client_id = 1;
	m.u.hello.session.secret[0] = 0x5eed;
	d(&s, 1, m);				/* -ESTALE, hung up */
	m.u.hello.session.owner = 0;
	d(&s, 1, m);				/* -EBADMSG */
	m = hello();
	m.u.hello.next_seq = 3;
	d(&s, 1, m);				/* fresh with a seq */
	d(&s, 0, hdr_only(PROTO_BYE));		/* not answered, hung up */
	d(&s, 0, alloc(1, 1));			/* never read */
	emit("dispatch", "session-resume-bad", &s);
}

void seeds_dispatch(void)
{
	d_life_cycle();
	d_evictable();
	d_woken();
	d_timeouts();
	d_names();
	d_fields();
	d_ids();
	d_perms();
	d_lifetimes();
	d_limits();
	d_paging();
	d_magazines();
	d_sessions();
}

void seeds_receive(void)
{
	r_seeds();
	r_magazines();
}
