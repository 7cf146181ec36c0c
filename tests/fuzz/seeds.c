// SPDX-License-Identifier: MIT
/*
 * Writes the fuzz targets' seeds for the shared objects' messages and
 * the magazines', tests/fuzz/corpus/{dispatch,receive}/{obj,mag}-*, and
 * for the magazine region, tests/fuzz/corpus/magazine/, and of the
 * magserve target, tests/fuzz/corpus/magserve/mag-*: `make fuzz-seeds`
 * runs it once and the outputs are committed; run it again when the
 * messages or the magazine's format change.  The messages are made from
 * proto/proto.h's structs, so that they are what the daemon expects (or
 * exactly as wrong as meant), and the magazine's from proto/magazine.h's.
 *
 * Each seed says what it covers in its name and in a comment here.  The
 * dispatch target's client 0 has uid 0 and client 1 an ordinary uid;
 * ids 1..FUZZ_IDS in OBJ_SEAL and OBJ_RELEASE name the input's objects
 * in the order replies first named them (tests/fuzz/harness.h), and a
 * get's timeout over 20 ms is cut to 20 ms in the dispatch target.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/magazine.h"
#include "proto/proto.h"

#define SEED_MAX 4096		/* fuzz-ci's -max_len */
#define ARENA (UINT64_C(4) << 20)	/* the harness's arena */
#define PAGE 4096

/* The receive target's actions (tests/fuzz/fuzz_receive.c). */
enum { OPEN, SEND, SENDH, HELLO, HANGUP, LOOP, DRAIN, ALLOC };

/* The magazine target's actions and words (tests/fuzz/fuzz_magazine.c). */
enum {
	M_REL, M_RAW, M_ENTRY, M_POKE, M_SYNC, M_PUSH, M_REVOKE, M_STAKE,
	M_SERVE, M_TAKE, M_CPUSH, M_CPOP, M_CHECK
};
enum { REL_TAIL_SEEN, REL_TAIL_HEAD, REL_HEAD, REL_COUNT };
enum {
	RAW_HEAD, RAW_TAIL, RAW_CTL, RAW_LIMIT, RAW_ALLOCS, RAW_FREES,
	RAW_FLAGS, RAW_SERVED
};

struct seed {
	unsigned char buf[SEED_MAX];
	size_t len;
};

/* One request, as built; @len bytes of @u count. */
struct msg {
	union {
		struct proto_hdr hdr;
		struct proto_hello hello;
		struct proto_alloc alloc;
		struct proto_obj_create create;
		struct proto_obj_id id;
		struct proto_obj_get get;
		struct proto_obj_delete del;
		struct proto_objects objects;
		struct proto_mag mag;
		struct proto_free free;
		unsigned char raw[PROTO_REQUEST_MAX];
	} u;
	size_t len;
};

static const char *root;
static uint32_t seq;
static unsigned int written;

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->buf)) {
		fprintf(stderr, "seeds: a seed over %d bytes\n", SEED_MAX);
		exit(1);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put16(struct seed *s, unsigned int v)
{
	unsigned char b[2] = { (unsigned char)v, (unsigned char)(v >> 8) };

	put(s, b, sizeof(b));
}

static void put64(struct seed *s, uint64_t v)
{
	unsigned char b[8];

	for (unsigned int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> 8 * i);
	put(s, b, sizeof(b));
}

static void emit(const char *target, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f)) {
		perror(path);
		exit(1);
	}
	written++;
}

/* ---- requests */

static struct msg hdr_only(uint16_t type)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.u.hdr, type, ++seq);
	m.len = sizeof(m.u.hdr);
	return m;
}

static struct msg hello(void)
{
	struct msg m = hdr_only(PROTO_HELLO);

	m.u.hdr.seq = 0;
	strcpy(m.u.hello.name, "seed");
	m.len = sizeof(m.u.hello);
	return m;
}

static struct msg alloc(uint64_t npages, uint32_t count)
{
	struct msg m = hdr_only(PROTO_SPAN_ALLOC);

	m.u.alloc.npages = npages;
	m.u.alloc.count = count;
	m.len = sizeof(m.u.alloc);
	return m;
}

static struct msg create_n(const char *name, size_t n, uint64_t size,
			   uint32_t flags)
{
	struct msg m = hdr_only(PROTO_OBJ_CREATE);

	m.u.create.size = size;
	m.u.create.flags = flags;
	m.u.create.namelen = (uint16_t)n;
	memcpy(m.u.create.name, name, n);
	m.len = offsetof(struct proto_obj_create, name) + n;
	return m;
}

static struct msg create(const char *name, uint64_t size)
{
	return create_n(name, strlen(name), size, 0);
}

static struct msg get_n(const char *name, size_t n, int32_t timeout_ms)
{
	struct msg m = hdr_only(PROTO_OBJ_GET);

	m.u.get.timeout_ms = timeout_ms;
	m.u.get.namelen = (uint16_t)n;
	memcpy(m.u.get.name, name, n);
	m.len = offsetof(struct proto_obj_get, name) + n;
	return m;
}

static struct msg get(const char *name, int32_t timeout_ms)
{
	return get_n(name, strlen(name), timeout_ms);
}

static struct msg del_n(const char *name, size_t n)
{
	struct msg m = hdr_only(PROTO_OBJ_DELETE);

	m.u.del.namelen = (uint16_t)n;
	memcpy(m.u.del.name, name, n);
	m.len = offsetof(struct proto_obj_delete, name) + n;
	return m;
}

static struct msg del(const char *name)
{
	return del_n(name, strlen(name));
}

/* OBJ_SEAL or OBJ_RELEASE of @id (an alias: 1..FUZZ_IDS). */
static struct msg by_id(uint16_t type, uint64_t id)
{
	struct msg m = hdr_only(type);

	m.u.id.id = id;
	m.len = sizeof(m.u.id);
	return m;
}

static struct msg seal(uint64_t id)
{
	return by_id(PROTO_OBJ_SEAL, id);
}

static struct msg release(uint64_t id)
{
	return by_id(PROTO_OBJ_RELEASE, id);
}

static struct msg objects(uint64_t after, uint32_t max)
{
	struct msg m = hdr_only(PROTO_OBJECTS);

	m.u.objects.after = after;
	m.u.objects.max = max;
	m.len = sizeof(m.u.objects);
	return m;
}

/* A HELLO that asks for a magazine. */
static struct msg hello_mag(void)
{
	struct msg m = hello();

	m.u.hello.flags = PROTO_HELLO_MAGAZINE;
	return m;
}

static struct msg mag(uint16_t type, uint32_t cls, uint32_t flags)
{
	struct msg m = hdr_only(type);

	m.u.mag.cls = cls;
	m.u.mag.flags = flags;
	m.len = sizeof(m.u.mag);
	return m;
}

static struct msg refill(uint32_t cls, uint32_t flags)
{
	return mag(PROTO_MAG_REFILL, cls, flags);
}

static struct msg kick(void)
{
	return mag(PROTO_MAG_KICK, 0, 0);
}

static struct msg span_free(const uint64_t *off, uint32_t count)
{
	struct msg m = hdr_only(PROTO_SPAN_FREE);

	m.u.free.count = count;
	memcpy(m.u.free.off, off, count * sizeof(*off));
	m.len = proto_free_size(count);
	return m;
}

/* An old client's request: protocol version 2. */
static struct msg old_version(struct msg m)
{
	m.u.hdr.version = 2;
	return m;
}

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

/* ---- the magazine target: the daemon's and a client's actions by class */

static void m(struct seed *s, unsigned int op, unsigned int cls, bool v)
{
	unsigned char b = (unsigned char)(op | cls << 4 | (v ? 0x80 : 0));

	put(s, &b, 1);
}

/* @n times the same action without arguments. */
static void m_n(struct seed *s, unsigned int op, unsigned int cls,
		unsigned int n)
{
	while (n--)
		m(s, op, cls, false);
}

/* Indices and generations from -@start on. */
static void m_begin(struct seed *s, unsigned int start)
{
	unsigned char b = (unsigned char)start;

	memset(s, 0, sizeof(*s));
	put(s, &b, 1);
}

static void m_rel(struct seed *s, unsigned int cls, unsigned int which,
		  int delta)
{
	unsigned char b[2] = { (unsigned char)which, (unsigned char)delta };

	m(s, M_REL, cls, false);
	put(s, b, sizeof(b));
}

static void m_raw(struct seed *s, unsigned int cls, unsigned int which,
		  uint64_t v)
{
	unsigned char b = (unsigned char)which;

	m(s, M_RAW, cls, false);
	put(s, &b, 1);
	put64(s, v);
}

static void m_entry(struct seed *s, unsigned int cls, bool stack,
		    unsigned int slot, uint64_t v)
{
	unsigned char b = (unsigned char)slot;

	m(s, M_ENTRY, cls, stack);
	put(s, &b, 1);
	put64(s, v);
}

static void m_poke(struct seed *s, size_t off, uint64_t v)
{
	m(s, M_POKE, 0, false);
	put16(s, (unsigned int)off);
	put64(s, v);
}

/* The client pushes @v, not the last offset it had. */
static void m_cpush(struct seed *s, unsigned int cls, uint64_t v)
{
	m(s, M_CPUSH, cls, true);
	put64(s, v);
}

static void m_seeds(void)
{
	struct seed s;

	/* Both sides of two classes, the way an honest pair works. */
	m_begin(&s, 0);
	for (unsigned int cls = 0; cls < MAG_NCLASSES; cls += 6) {
		m_n(&s, M_PUSH, cls, 5);
		m_n(&s, M_TAKE, cls, 3);
		m_n(&s, M_SYNC, cls, 1);
		m_n(&s, M_CPUSH, cls, 2);
		m_n(&s, M_CPOP, cls, 1);
		m_n(&s, M_STAKE, cls, 1);
		m_n(&s, M_REVOKE, cls, 1);
		m_n(&s, M_TAKE, cls, 1);
		m_n(&s, M_SYNC, cls, 1);
		m_n(&s, M_SERVE, cls, 1);
		m_n(&s, M_CHECK, cls, 1);
	}
	emit("magazine", "roundtrip", &s);

	/* A full ring: room only by a sync of a take, or a revoke. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 3, MAG_RING_CAP + 1);
	m_n(&s, M_TAKE, 3, 1);
	m_n(&s, M_PUSH, 3, 1);
	m_n(&s, M_SYNC, 3, 1);
	m_n(&s, M_PUSH, 3, 2);
	m_n(&s, M_REVOKE, 3, 1);
	m_n(&s, M_PUSH, 3, 2);
	m_n(&s, M_TAKE, 3, MAG_RING_CAP + 1);
	m_n(&s, M_SYNC, 3, 1);
	m_n(&s, M_SERVE, 3, 1);
	emit("magazine", "fill-full", &s);

	/* The client takes ahead of the daemon's revokes. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 1, 4);
	m_n(&s, M_TAKE, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_SYNC, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_TAKE, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_SYNC, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_TAKE, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	emit("magazine", "revoke-vs-take", &s);

	/* Tails behind what the daemon saw, past its head, far off. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 2, 10);
	m_n(&s, M_TAKE, 2, 3);
	m_n(&s, M_SYNC, 2, 1);
	m_rel(&s, 2, REL_TAIL_SEEN, -1);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_REVOKE, 2, 1);
	m_rel(&s, 2, REL_TAIL_HEAD, 1);
	m_n(&s, M_SYNC, 2, 1);
	m_rel(&s, 2, REL_TAIL_SEEN, -(int)MAG_RING_CAP - 1);
	m_n(&s, M_SYNC, 2, 1);
	m_raw(&s, 2, RAW_TAIL, 0x80000000u);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_SERVE, 2, 1);
	m_rel(&s, 2, REL_TAIL_SEEN, 0);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_REVOKE, 2, 1);
	m_rel(&s, 2, REL_TAIL_HEAD, 0);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_PUSH, 2, 1);
	m_n(&s, M_TAKE, 2, 1);
	m_n(&s, M_SYNC, 2, 1);
	emit("magazine", "fill-corrupt-tail", &s);

	/* A head the daemon never reads; entries the client rewrites. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 4, 3);
	m_rel(&s, 4, REL_HEAD, 100);
	m_n(&s, M_PUSH, 4, 1);
	m_rel(&s, 4, REL_HEAD, -2);
	m_n(&s, M_TAKE, 4, 1);
	m_raw(&s, 4, RAW_HEAD, UINT32_MAX);
	m_n(&s, M_TAKE, 4, 1);
	m_n(&s, M_CHECK, 4, 1);
	m_entry(&s, 4, false, 2, UINT64_MAX);
	m_n(&s, M_PUSH, 4, 1);
	m_n(&s, M_TAKE, 4, 2);
	m_n(&s, M_SERVE, 4, 1);
	emit("magazine", "fill-hostile-head", &s);

	/* Stack counts over the cap, any generation, any slot value. */
	m_begin(&s, 0);
	m_cpush(&s, 5, 7 * PAGE);
	m_cpush(&s, 5, UINT64_MAX);
	m_cpush(&s, 5, 1);
	m_rel(&s, 5, REL_COUNT, 100);
	m_n(&s, M_STAKE, 5, 1);
	m_n(&s, M_CPOP, 5, 1);
	m_n(&s, M_CPUSH, 5, 1);
	m_rel(&s, 5, REL_COUNT, -100);
	m_n(&s, M_STAKE, 5, 1);
	m_raw(&s, 5, RAW_CTL, (uint64_t)UINT32_MAX << 32 | 2);
	m_n(&s, M_STAKE, 5, 1);
	m_entry(&s, 5, true, 0, 0);
	m_n(&s, M_STAKE, 5, 2);
	m_raw(&s, 5, RAW_CTL, MAG_STACK_CAP + 1);
	m_n(&s, M_SERVE, 5, 1);
	m_raw(&s, 5, RAW_CTL, (uint64_t)UINT32_MAX << 32 | MAG_STACK_CAP);
	m_n(&s, M_SERVE, 5, 1);
	emit("magazine", "stack-corrupt", &s);

	/* A stack filled to the cap and past it, emptied by both sides. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 6, 1);
	m_n(&s, M_TAKE, 6, 1);
	m_n(&s, M_CPUSH, 6, MAG_STACK_CAP + 1);
	m_n(&s, M_STAKE, 6, 1);
	m_n(&s, M_CPUSH, 6, 2);
	m_n(&s, M_CPOP, 6, 3);
	m_n(&s, M_STAKE, 6, 2);
	m_n(&s, M_SERVE, 6, 1);
	m_n(&s, M_CPOP, 6, 1);
	emit("magazine", "stack-full", &s);

	/* Indices and generations across 2^32. */
	m_begin(&s, 255);
	for (unsigned int i = 0; i < 40; i++) {
		m_n(&s, M_PUSH, 0, 8);
		m_n(&s, M_TAKE, 0, 7);
		m_n(&s, M_SYNC, 0, 1);
		m_n(&s, M_REVOKE, 0, 1);
		m_n(&s, M_CPUSH, 0, 2);
		m_n(&s, M_CPOP, 0, 1);
		m_n(&s, M_STAKE, 0, 2);
	}
	emit("magazine", "wrap", &s);

	/* The header, status and counters scribbled: the daemon goes on. */
	m_begin(&s, 0);
	m_n(&s, M_CHECK, 0, 1);
	m_poke(&s, offsetof(struct mag_header, stack_cap), 32);
	m_n(&s, M_CHECK, 0, 1);
	m_poke(&s, offsetof(struct mag_header, version), 0x58585858);
	m_poke(&s, offsetof(struct mag_header, region_size), UINT64_MAX);
	m_n(&s, M_CHECK, 0, 1);
	m_raw(&s, 1, RAW_FLAGS, 2);
	m_raw(&s, 1, RAW_SERVED, UINT32_MAX);
	m_raw(&s, 1, RAW_LIMIT, UINT32_MAX);
	m_raw(&s, 1, RAW_ALLOCS, UINT64_MAX);
	m_raw(&s, 1, RAW_FREES, 1);
	m_n(&s, M_CHECK, 1, 1);
	m_poke(&s, 2 * MAG_LINE + offsetof(struct mag_class, fill.tail), 5);
	m_n(&s, M_PUSH, 0, 2);
	m_n(&s, M_SYNC, 0, 1);
	m_n(&s, M_SERVE, 0, 1);
	emit("magazine", "header-scribble", &s);

	/* A serve that meets a hostile tail, then one that takes it all. */
	m_begin(&s, 3);
	m_n(&s, M_PUSH, 6, 20);
	m_n(&s, M_TAKE, 6, 5);
	m_raw(&s, 6, RAW_TAIL, 0xdeadbeef);
	m_n(&s, M_SERVE, 6, 1);
	m_rel(&s, 6, REL_TAIL_SEEN, 2);
	m_n(&s, M_SERVE, 6, 1);
	m_n(&s, M_PUSH, 6, 3);
	m_n(&s, M_SERVE, 6, 1);
	emit("magazine", "serve-hostile", &s);
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
	m.u.hello.flags = 0x2;
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

/* ---- the magserve target: a byte an action (fuzz_magserve.c) */

enum { MS_WRITE, MS_TAKE, MS_PUSH, MS_POP, MS_KICK, MS_REFILL, MS_FREE, MS_TICK };
/* Its WRITE fields, and how its values are picked (pick_value()). */
enum { F_HEAD, F_TAIL, F_ENTRY, F_CTL, F_SLOT = 5, F_LIMIT = 7, F_FLAGS = 9 };
enum { V_RAW, V_DELTA, V_SPAN, V_SHADOW, V_HELD, V_SLOT, V_CONST, V_WORD };

static void ms(struct seed *s, unsigned int op, unsigned int a)
{
	unsigned char b = (unsigned char)(op | a << 3);

	put(s, &b, 1);
}

static void ms_byte(struct seed *s, unsigned int v)
{
	unsigned char b = (unsigned char)v;

	put(s, &b, 1);
}

static void ms_n(struct seed *s, unsigned int op, unsigned int a, int n)
{
	for (int i = 0; i < n; i++)
		ms(s, op, a);
}

static void ms_refill(struct seed *s, unsigned int cls, unsigned int flags)
{
	ms(s, MS_REFILL, cls + 8 * flags);
}

/* Push the first span the client holds, @n times. */
static void ms_push(struct seed *s, int n)
{
	for (int i = 0; i < n; i++) {
		ms(s, MS_PUSH, 0);
		ms_byte(s, 0);
	}
}

/* The value @v of kind @kind with argument @arg (and its byte). */
static void ms_value(struct seed *s, unsigned int kind, unsigned int arg)
{
	ms_byte(s, kind | arg << 3);
	if (kind == V_SPAN || kind == V_HELD)
		ms_byte(s, 0);
}

/* WRITE of field @f (index @i) of class @cls, a value of @kind @arg. */
static void ms_write(struct seed *s, unsigned int cls, unsigned int f,
		     unsigned int i, unsigned int kind, unsigned int arg)
{
	ms(s, MS_WRITE, cls);
	ms_byte(s, f | i << 4);
	ms_value(s, kind, arg);
}

/* A delta of @d for V_DELTA: -16 .. 15. */
#define DELTA(d) ((unsigned int)((d) + 16))

static void ms_seeds(void)
{
	struct seed s;

	/* An obedient client: nothing but takes, pushes, pops, frees. */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 3; i++)
		ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 12);
	ms_push(&s, 6);
	ms(&s, MS_KICK, 0);
	ms_n(&s, MS_POP, 0, 2);
	ms_refill(&s, 3, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 3, 3);
	ms(&s, MS_FREE, 0);			/* SPAN_FREE of one held */
	ms_value(&s, V_HELD, 0);
	ms(&s, MS_TICK, 0);			/* unused classes halve */
	ms_n(&s, MS_TAKE, 0, 4);
	ms_push(&s, 4);
	ms_refill(&s, 0, PROTO_MAG_FULL);
	ms(&s, MS_TICK, 3);			/* idle: all goes back */
	ms_n(&s, MS_POP, 0, 3);
	ms(&s, MS_KICK, 0);
	ms(&s, MS_FREE, 16 + 1);			/* SPAN_ALLOC of 2 x 3 pages */
	ms_byte(&s, 3);
	ms_refill(&s, 6, PROTO_MAG_EMPTY);
	ms_refill(&s, 6, PROTO_MAG_EMPTY | PROTO_MAG_FULL);
	emit("magserve", "mag-obedient", &s);

	/* A stack count above the cap stops the magazine. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms(&s, MS_TAKE, 0);
	ms(&s, MS_TAKE, 0);
	ms_push(&s, 1);
	ms_write(&s, 0, F_CTL, 0, V_WORD, 17);	/* count MAG_STACK_CAP + 1 */
	ms(&s, MS_KICK, 0);
	ms_refill(&s, 0, PROTO_MAG_EMPTY);	/* -ENODEV */
	ms(&s, MS_TAKE, 0);
	ms(&s, MS_FREE, 1);			/* two: held, and a FILL one */
	ms_value(&s, V_HELD, 0);
	ms_value(&s, V_SHADOW, 0);
	ms(&s, MS_TICK, 3);
	emit("magserve", "mag-stack-count", &s);

	/* Tails: behind what the daemon saw consumed, past its head. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 1, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 1, 2);
	ms(&s, MS_KICK, 0);
	ms_write(&s, 1, F_TAIL, 0, V_DELTA, DELTA(-1));
	ms(&s, MS_KICK, 0);
	emit("magserve", "mag-tail-behind", &s);
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 2, PROTO_MAG_EMPTY);
	ms_write(&s, 2, F_TAIL, 0, V_DELTA, DELTA(5));
	ms_refill(&s, 2, PROTO_MAG_EMPTY);	/* -ENODEV */
	emit("magserve", "mag-tail-past", &s);

	/* Taken, then the tail moved back: the daemon takes them back. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 2);
	ms_write(&s, 0, F_TAIL, 0, V_DELTA, DELTA(-2));
	ms(&s, MS_TICK, 0);
	ms_n(&s, MS_TAKE, 0, 4);
	ms(&s, MS_KICK, 0);
	/* A head moved on: stale entries are no spans it holds. */
	ms_write(&s, 0, F_HEAD, 0, V_DELTA, DELTA(10));
	ms_n(&s, MS_TAKE, 0, 8);
	ms_push(&s, 2);
	ms(&s, MS_KICK, 0);
	emit("magserve", "mag-indices-moved", &s);

	/* Bad entries on a return stack over its limit. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 8);
	ms(&s, MS_KICK, 0);
	ms_push(&s, 6);
	/* Pushes of any value onto class 0 (16 + 5: 21 % 7 is 0). */
	ms(&s, MS_PUSH, 21);			/* a FILL entry */
	ms_value(&s, V_SHADOW, 0);
	ms(&s, MS_PUSH, 21);			/* client B's span */
	ms_value(&s, V_SPAN, 0);
	ms(&s, MS_PUSH, 21);			/* unaligned */
	ms_value(&s, V_SPAN, 1);
	ms(&s, MS_PUSH, 21);			/* garbage */
	ms_value(&s, V_RAW, 0);
	put(&s, "\x5b\x5a\x5a\x5a\x5a\x5a\x5a\x5a", 8);
	ms(&s, MS_PUSH, 21);			/* a duplicate */
	ms_value(&s, V_SLOT, 0);
	ms(&s, MS_PUSH, 21);			/* out of range */
	ms_value(&s, V_CONST, 2);
	ms_push(&s, 2);
	ms_write(&s, 0, F_SLOT, 9, V_HELD, 0);	/* one it holds, in a slot */
	ms(&s, MS_KICK, 0);
	ms_n(&s, MS_POP, 0, 4);
	ms(&s, MS_TICK, 3);
	emit("magserve", "mag-bad-entries", &s);

	/* An arena too full: socket spans first, then refills. */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 7; i++) {
		ms(&s, MS_FREE, 16 + 3);		/* 4 spans of 32 pages */
		ms_byte(&s, 32);
	}
	ms_refill(&s, 6, PROTO_MAG_EMPTY);	/* -ENOMEM */
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 8);
	ms(&s, MS_FREE, 3);			/* SPAN_FREE of 4 spans */
	for (int i = 0; i < 4; i++)
		ms_value(&s, V_SPAN, 0);
	ms_refill(&s, 5, PROTO_MAG_EMPTY);
	ms_write(&s, 0, F_LIMIT, 0, V_CONST, 1);
	ms_write(&s, 0, F_FLAGS, 0, V_CONST, 1);
	ms(&s, MS_KICK, 0);
	emit("magserve", "mag-arena-full", &s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n",
			argv[0]);
		return 2;
	}
	root = argv[1];
	d_life_cycle();
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
	r_seeds();
	r_magazines();
	m_seeds();
	ms_seeds();
	printf("seeds: %u inputs written under %s\n", written, root);
	return 0;
}
