// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/objects.c in process (tests/daemon/inproc.h): the
 * gets that wait, seen from inside.  A seal answers the waits of its
 * name and no other; a connection destroyed while it waits
 * leaves no wait behind and is sent nothing; a finite wait ends no sooner
 * than its timeout; a client's departure drops its references and aborts
 * its open objects, and the table keeps what others hold.  Eviction
 * (objects_evict_locked()) takes the least recently used of the
 * evictable objects nobody holds until what it needs is free, counts,
 * logs and shows what it did.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shm/object.h"
#include "tests/daemon/capture.h"
#include "tests/daemon/inproc.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)

static struct daemon d;

static void setup(void)
{
	inproc_start(&d, 64 * MiB, NULL, false);
}

static void teardown(void)
{
	inproc_stop(&d);
}

static void send_named(int peer, uint16_t type, uint32_t seq,
		       const char *name, int32_t timeout_ms)
{
	union {
		struct proto_obj_create c;
		struct proto_obj_get g;
	} m;
	size_t len = strlen(name), n;

	memset(&m, 0, sizeof(m));
	if (type == PROTO_OBJ_CREATE) {
		proto_hdr_init(&m.c.hdr, type, seq);
		m.c.size = 3 * HEAP_PAGE_SIZE;
		m.c.namelen = (uint16_t)len;
		memcpy(m.c.name, name, len);
		n = offsetof(struct proto_obj_create, name) + len;
	} else {
		proto_hdr_init(&m.g.hdr, type, seq);
		m.g.timeout_ms = timeout_ms;
		m.g.namelen = (uint16_t)len;
		memcpy(m.g.name, name, len);
		n = offsetof(struct proto_obj_get, name) + len;
	}
	ck_assert_int_eq(send(peer, &m, n, 0), (ssize_t)n);
}

static void send_id(int peer, uint16_t type, uint32_t seq, uint64_t id)
{
	struct proto_obj_id m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, type, seq);
	m.id = id;
	ck_assert_int_eq(send(peer, &m, sizeof(m), 0), (ssize_t)sizeof(m));
}

/* The reply to an OBJ_CREATE or OBJ_GET @seq: its status, @ret filled. */
static int recv_obj(int peer, uint16_t type, uint32_t seq,
		    struct proto_obj_reply *ret)
{
	size_t n;

	memset(ret, 0, sizeof(*ret));
	n = inproc_recv(&d, peer, ret, sizeof(*ret));
	ck_assert_int_eq(proto_check_reply(ret, n, type, seq), 0);
	return ret->hdr.status;
}

static uint64_t create_sealed(int peer, const char *name)
{
	struct proto_obj_reply r;
	struct proto_hdr h;

	send_named(peer, PROTO_OBJ_CREATE, 1, name, 0);
	ck_assert_int_eq(recv_obj(peer, PROTO_OBJ_CREATE, 1, &r), 0);
	send_id(peer, PROTO_OBJ_SEAL, 2, r.id);
	inproc_recv(&d, peer, &h, sizeof(h));
	ck_assert_int_eq(h.status, 0);
	return r.id;
}

/* Turn the loop until @c waits (or 100 turns). */
static void until_waiting(struct client *c)
{
	for (int i = 0; i < 100 && !c->objwait; i++)
		inproc_turn(&d);
	ck_assert_ptr_nonnull(c->objwait);
}

static void obj_stats(struct heap_obj_stats *ret)
{
	daemon_heap_lock(&d.core);
	heap_obj_stats(d.core.heap, ret);
	daemon_heap_unlock(&d.core);
}

START_TEST(test_waits_by_name)
{
	struct proto_obj_reply r1, r2;
	struct client *b, *c, *e;
	struct heap_obj_stats s;
	int pa, pb, pc, pe;
	uint64_t id;
	char buf[64];

	inproc_welcomed(&d, "maker", &pa);
	b = inproc_welcomed(&d, "first", &pb);
	c = inproc_welcomed(&d, "second", &pc);
	e = inproc_welcomed(&d, "other", &pe);
	send_named(pb, PROTO_OBJ_GET, 5, "x", -1);
	until_waiting(b);
	send_named(pc, PROTO_OBJ_GET, 6, "x", 60000);
	until_waiting(c);
	send_named(pe, PROTO_OBJ_GET, 7, "y", -1);
	until_waiting(e);
	ck_assert_uint_eq(d.objects.nwaits, 3);
	/* Nothing is answered before the seal. */
	ck_assert_int_lt(recv(pb, buf, sizeof(buf), MSG_DONTWAIT), 0);

	id = create_sealed(pa, "x");
	ck_assert_int_eq(recv_obj(pb, PROTO_OBJ_GET, 5, &r1), 0);
	ck_assert_int_eq(recv_obj(pc, PROTO_OBJ_GET, 6, &r2), 0);
	ck_assert_uint_eq(r1.id, id);
	ck_assert_uint_eq(r2.id, id);
	ck_assert_uint_eq(r1.off, r2.off);
	ck_assert_ptr_null(b->objwait);
	ck_assert_ptr_null(c->objwait);
	/* Only the waits of that name ended. */
	ck_assert_ptr_nonnull(e->objwait);
	ck_assert_uint_eq(d.objects.nwaits, 1);
	ck_assert_uint_eq(d.objects.woken, 2);
	obj_stats(&s);
	ck_assert_uint_eq(s.refs, 3);
	close(pa);
	close(pb);
	close(pc);
	close(pe);
}
END_TEST

START_TEST(test_destroyed_while_waiting)
{
	struct proto_obj_reply r;
	struct client *b, *c;
	struct heap_obj_stats s;
	int pa, pb, pc;
	char buf[64];

	inproc_welcomed(&d, "maker", &pa);
	b = inproc_welcomed(&d, "gone", &pb);
	c = inproc_welcomed(&d, "stays", &pc);
	send_named(pb, PROTO_OBJ_GET, 5, "x", -1);
	until_waiting(b);
	send_named(pc, PROTO_OBJ_GET, 6, "x", -1);
	until_waiting(c);
	client_destroy(b);
	ck_assert_uint_eq(d.objects.nwaits, 1);
	/* Closed, and nothing was sent to it. */
	ck_assert_int_eq(recv(pb, buf, sizeof(buf), MSG_DONTWAIT), 0);
	create_sealed(pa, "x");
	ck_assert_int_eq(recv_obj(pc, PROTO_OBJ_GET, 6, &r), 0);
	ck_assert_uint_eq(d.objects.nwaits, 0);
	obj_stats(&s);
	ck_assert_uint_eq(s.refs, 2);
	close(pa);
	close(pb);
	close(pc);
}
END_TEST

/* A peer that hangs up ends its wait at once: EV_CLOSED, not a seal. */
START_TEST(test_hangup_ends_wait)
{
	struct client *b;
	int pb;

	b = inproc_welcomed(&d, "leaves", &pb);
	send_named(pb, PROTO_OBJ_GET, 5, "never", -1);
	until_waiting(b);
	ck_assert_uint_eq(d.clients.count, 1);
	close(pb);
	for (int i = 0; i < 1000 && d.clients.count; i++) {
		inproc_turn(&d);
		usleep(1000);
	}
	ck_assert_uint_eq(d.clients.count, 0);
	ck_assert_uint_eq(d.objects.nwaits, 0);
}
END_TEST

static uint64_t now_ms(void)
{
	return daemon_now() / 1000000;
}

START_TEST(test_timeout_not_early)
{
	struct proto_obj_reply r;
	struct client *b;
	uint64_t t0;
	int pb;

	b = inproc_welcomed(&d, "patient", &pb);
	t0 = now_ms();
	send_named(pb, PROTO_OBJ_GET, 5, "late", 150);
	until_waiting(b);
	ck_assert_int_eq(recv_obj(pb, PROTO_OBJ_GET, 5, &r), -ETIMEDOUT);
	ck_assert_uint_ge(now_ms() - t0, 150);
	ck_assert_ptr_null(b->objwait);
	ck_assert_uint_eq(d.objects.timeouts, 1);
	ck_assert_uint_eq(d.objects.nwaits, 0);
	/* Its reads are on again: a get of nothing answers at once. */
	send_named(pb, PROTO_OBJ_GET, 6, "late", 0);
	ck_assert_int_eq(recv_obj(pb, PROTO_OBJ_GET, 6, &r), -ENOENT);
	close(pb);
}
END_TEST

START_TEST(test_gone_drops_refs_and_aborts)
{
	struct proto_obj_reply r;
	struct heap_obj_stats s;
	struct heap_stats hs;
	struct client *a, *b;
	int pa, pb;

	a = inproc_welcomed(&d, "maker", &pa);
	b = inproc_welcomed(&d, "reader", &pb);
	create_sealed(pa, "kept");
	send_named(pa, PROTO_OBJ_CREATE, 3, "open", 0);
	ck_assert_int_eq(recv_obj(pa, PROTO_OBJ_CREATE, 3, &r), 0);
	send_named(pb, PROTO_OBJ_GET, 4, "kept", 0);
	ck_assert_int_eq(recv_obj(pb, PROTO_OBJ_GET, 4, &r), 0);
	obj_stats(&s);
	ck_assert_uint_eq(s.open, 1);
	ck_assert_uint_eq(s.refs, 3);
	client_destroy(a);
	obj_stats(&s);
	/* Its open object is aborted and freed; the sealed one stays. */
	ck_assert_uint_eq(s.open, 0);
	ck_assert_uint_eq(s.sealed, 1);
	ck_assert_uint_eq(s.refs, 1);
	client_destroy(b);
	obj_stats(&s);
	ck_assert_uint_eq(s.refs, 0);
	ck_assert_uint_eq(s.sealed, 1);
	daemon_heap_lock(&d.core);
	heap_stats(d.core.heap, &hs);
	heap_check(d.core.heap);
	daemon_heap_unlock(&d.core);
	ck_assert_uint_eq(hs.inuse, 3 * HEAP_PAGE_SIZE);
	close(pa);
	close(pb);
}
END_TEST

/* ---- eviction ---- */

#define PG HEAP_PAGE_SIZE
#define EVICT_STORM (3 * LOG_LIMIT_BURST)

/* An evictable object of @pages pages by @c: sealed, and released. */
static uint64_t candidate(struct client *c, const char *name, uint64_t pages)
{
	struct heap_obj_new req = {
		.name = name, .len = strlen(name), .size = pages * PG,
		.flags = HEAP_OBJ_EVICTABLE, .pid = 1, .uid = 1000,
	};
	struct heap_obj_info x;

	ck_assert_int_eq(objects_create(&d.objects, c->owner, &req, &x), 0);
	ck_assert_int_eq(objects_seal(&d.objects, c->owner, x.id), 0);
	ck_assert_int_eq(objects_release(&d.objects, c->owner, x.id), 0);
	return x.id;
}

static int evict(uint64_t need, uint64_t *ret_bytes, uint64_t *ret_count)
{
	int r;

	daemon_heap_lock(&d.core);
	r = objects_evict_locked(&d.objects, need, ret_bytes, ret_count);
	heap_check(d.core.heap);
	daemon_heap_unlock(&d.core);
	return r;
}

static bool exists(uint64_t id)
{
	struct heap_obj_info x;
	int r;

	daemon_heap_lock(&d.core);
	r = heap_obj_lookup(d.core.heap, id, &x);
	daemon_heap_unlock(&d.core);
	return r == 0;
}

static json_int_t block_num(const char *key)
{
	json_t *j, *v;
	json_int_t n;

	daemon_heap_lock(&d.core);
	j = objects_json_locked(&d.objects);
	daemon_heap_unlock(&d.core);
	ck_assert_ptr_nonnull(j);
	v = json_object_get(j, key);
	ck_assert_msg(json_is_integer(v), "no \"%s\" in the objects block",
		      key);
	n = json_integer_value(v);
	json_decref(j);
	return n;
}

START_TEST(test_evict_lru_until_enough)
{
	uint64_t a, b, c, e, bytes = 7, count = 7;
	uint64_t changes = d.objects.changes;
	struct client *m;
	struct heap_stats hs;
	int pm;

	m = inproc_welcomed(&d, "cache", &pm);
	a = candidate(m, "a", 1);
	b = candidate(m, "b", 2);
	c = candidate(m, "c", 3);
	e = candidate(m, "e", 1);
	ck_assert_int_eq(block_num("evictable"), 4);
	ck_assert_int_eq(block_num("evictable_bytes"), 7 * PG);
	/* Nothing needed: nothing evicted. */
	ck_assert_int_eq(evict(0, &bytes, &count), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_uint_eq(d.objects.changes, changes);
	/* One byte: the oldest, whole. */
	ck_assert_int_eq(evict(1, &bytes, &count), 0);
	ck_assert_uint_eq(bytes, PG);
	ck_assert_uint_eq(count, 1);
	ck_assert(!exists(a) && exists(b));
	ck_assert_uint_gt(d.objects.changes, changes);
	/* 4 pages: b (2) is not enough, c (3) makes it; e stays. */
	ck_assert_int_eq(evict(4 * PG, &bytes, &count), 0);
	ck_assert_uint_eq(bytes, 5 * PG);
	ck_assert_uint_eq(count, 2);
	ck_assert(!exists(b) && !exists(c) && exists(e));
	ck_assert_int_eq(block_num("evictable"), 1);
	ck_assert_int_eq(block_num("evicted"), 3);
	ck_assert_int_eq(block_num("evicted_bytes"), 6 * PG);
	/* More than is left: e, then -ENOENT, what was done reported. */
	ck_assert_int_eq(evict(10 * PG, &bytes, &count), -ENOENT);
	ck_assert_uint_eq(bytes, PG);
	ck_assert_uint_eq(count, 1);
	ck_assert(!exists(e));
	ck_assert_int_eq(evict(1, NULL, NULL), -ENOENT);
	ck_assert_int_eq(block_num("evicted"), 4);
	ck_assert_int_eq(block_num("evictable"), 0);
	/* The spans are the heap's again, free. */
	daemon_heap_lock(&d.core);
	heap_stats(d.core.heap, &hs);
	daemon_heap_unlock(&d.core);
	ck_assert_uint_eq(hs.inuse, 0);
	close(pm);
}
END_TEST

/* A held object, or one not evictable, is never evicted. */
START_TEST(test_evict_never_held)
{
	struct heap_obj_new req = { .name = "plain", .len = 5, .size = PG };
	struct heap_obj_info x;
	struct proto_obj_reply r;
	struct client *m;
	uint64_t held, bytes, count;
	int pm, pr;

	m = inproc_welcomed(&d, "cache", &pm);
	inproc_welcomed(&d, "reader", &pr);
	held = candidate(m, "held", 1);
	send_named(pr, PROTO_OBJ_GET, 5, "held", 0);
	ck_assert_int_eq(recv_obj(pr, PROTO_OBJ_GET, 5, &r), 0);
	ck_assert_uint_eq(r.id, held);
	ck_assert_int_eq(objects_create(&d.objects, m->owner, &req, &x), 0);
	ck_assert_int_eq(objects_seal(&d.objects, m->owner, x.id), 0);
	ck_assert_int_eq(objects_release(&d.objects, m->owner, x.id), 0);
	ck_assert_int_eq(evict(PG, &bytes, &count), -ENOENT);
	ck_assert_uint_eq(count, 0);
	ck_assert(exists(held) && exists(x.id));
	ck_assert_int_eq(block_num("evicted"), 0);
	/* The reader's going makes it a candidate. */
	close(pr);
	for (int i = 0; i < 100 && block_num("evictable") == 0; i++)
		inproc_turn(&d);
	ck_assert_int_eq(evict(PG, &bytes, &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert(!exists(held) && exists(x.id));
	close(pm);
}
END_TEST

/* The list's entries say which objects may be evicted. */
START_TEST(test_evict_page_json)
{
	struct heap_obj_new req = { .name = "plain", .len = 5, .size = PG };
	struct heap_obj_info x;
	json_t *page, *list, *o;
	struct client *m;
	size_t i;
	int pm, seen = 0;

	m = inproc_welcomed(&d, "cache", &pm);
	candidate(m, "cached", 2);
	ck_assert_int_eq(objects_create(&d.objects, m->owner, &req, &x), 0);
	page = objects_page_json(&d.objects, 0, 64);
	ck_assert_ptr_nonnull(page);
	list = json_object_get(page, "objects");
	ck_assert_uint_eq(json_array_size(list), 2);
	json_array_foreach(list, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		json_t *ev = json_object_get(o, "evictable");

		ck_assert(json_is_boolean(ev));
		ck_assert(json_is_true(ev) == !strcmp(name, "cached"));
		seen++;
	}
	ck_assert_int_eq(seen, 2);
	json_decref(page);
	close(pm);
}
END_TEST

/*
 * Each eviction is an info line, but a storm of them is cut short: of
 * three bursts' worth at once, no more than the limit's bursts of the
 * windows they span (one, unless the machine stalls for seconds).
 */
START_TEST(test_evict_logged)
{
	struct client *m;
	char name[16];
	const char *out;
	uint64_t count;
	unsigned int lines = 0;
	int pm;

	m = inproc_welcomed(&d, "cache", &pm);
	for (int i = 0; i < EVICT_STORM; i++) {
		snprintf(name, sizeof(name), "entry-%d", i);
		candidate(m, name, 1);
	}
	capture_begin();
	ck_assert_int_eq(evict(EVICT_STORM * PG, NULL, &count), 0);
	out = capture_end();
	ck_assert_uint_gt(strlen(out), 0);
	ck_assert_uint_eq(count, EVICT_STORM);
	for (const char *p = out; (p = strstr(p, "evicted object")); p++)
		lines++;
	ck_assert_uint_ge(lines, 1);
	ck_assert_uint_lt(lines, EVICT_STORM);
	ck_assert_ptr_nonnull(strstr(out, "evicted object \"entry-0\""));
	ck_assert_ptr_nonnull(strstr(out, "created by cache"));
	close(pm);
}
END_TEST

static Suite *objects_suite(void)
{
	Suite *s = suite_create("objects");
	TCase *tc = tcase_create("waits");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_waits_by_name);
	tcase_add_test(tc, test_destroyed_while_waiting);
	tcase_add_test(tc, test_hangup_ends_wait);
	tcase_add_test(tc, test_timeout_not_early);
	suite_add_tcase(s, tc);

	tc = tcase_create("gone");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gone_drops_refs_and_aborts);
	suite_add_tcase(s, tc);

	tc = tcase_create("evict");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_evict_lru_until_enough);
	tcase_add_test(tc, test_evict_never_held);
	tcase_add_test(tc, test_evict_page_json);
	tcase_add_test(tc, test_evict_logged);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(objects_suite)
