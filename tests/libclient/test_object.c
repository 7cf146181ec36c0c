// SPDX-License-Identifier: MIT
/*
 * Tests for libclient/object.c, the shared objects' calls, against the
 * fake daemon of tests/libclient/fake.h: the bytes each request carries,
 * the checks made before anything is sent, the daemon's errors passed
 * through with the outputs untouched, the checks of the objects replies
 * name, how long a get waits for its reply (its own timeout plus the
 * connection's, or for ever).  test_object_list.c has the OBJECTS
 * pages.  The rules themselves are the daemon's, tested with it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "libclient/spanheap.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

#define CREATE_HEAD offsetof(struct proto_obj_create, name)
#define GET_HEAD offsetof(struct proto_obj_get, name)
#define DELETE_HEAD offsetof(struct proto_obj_delete, name)

/* What a call must leave as it was when it fails. */
static struct spanheap_obj untouched(void)
{
	struct spanheap_obj o;

	memset(&o, 0xa5, sizeof(o));
	return o;
}

#define assert_untouched(o)                                         \
	do {                                                        \
		struct spanheap_obj u_ = untouched();               \
		ck_assert_mem_eq(&(o), &u_, sizeof(u_));            \
	} while (0)

/* The last request of @type the fake received (read after fake_join()). */
static const void *last(uint16_t type)
{
	return fk.last[type];
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A name of @len bytes: "n" then digits. */
static char *name_of(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = i ? (char)('0' + i % 10) : 'n';
	buf[len] = '\0';
	return buf;
}

/*
 * Statuses the fake answers requests with, the nth of a type with
 * script[type][n - 1]; 0, or past the end, lets the fake answer.  Set
 * before fake_start().
 */
#define SCRIPT_MAX 8
static int32_t script[PROTO_TYPE_MAX + 1][SCRIPT_MAX];

static bool hook_script(struct fake *f, int cfd, const union fake_req *req)
{
	unsigned int n = f->nreq[req->hdr.type];

	if (n > SCRIPT_MAX || !script[req->hdr.type][n - 1])
		return false;
	fake_refuse(cfd, req, script[req->hdr.type][n - 1]);
	return true;
}

/* Each test starts with no script (CK_FORK=no runs them in one process). */
static void reset_scripts(void)
{
	memset(script, 0, sizeof(script));
}

/* ---- create ---- */

START_TEST(test_create_sends)
{
	const struct proto_obj_create *m;
	struct spanheap_obj o = untouched();
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(h, "frame-1", 1000000,
					     SPANHEAP_ZERO, &o), 0);
	ck_assert_uint_eq(o.id, FAKE_FIRST_OBJ_ID);
	ck_assert_uint_eq(o.off, PG);	/* the fake keeps page 0 */
	ck_assert_uint_eq(o.size, 1000000);
	ck_assert_ptr_eq(o.ptr, (char *)spanheap_ptr(h, 0) + o.off);
	memset(o.ptr, 0x5a, o.size);
	spanheap_close(h);
	fake_join();

	m = last(PROTO_OBJ_CREATE);
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_CREATE], 1);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_CREATE], CREATE_HEAD + 7);
	ck_assert_uint_eq(m->hdr.type, PROTO_OBJ_CREATE);
	ck_assert_uint_eq(m->size, 1000000);
	ck_assert_uint_eq(m->flags, PROTO_OBJ_ZERO);
	ck_assert_uint_eq(m->namelen, 7);
	ck_assert_uint_eq(m->pad, 0);
	ck_assert_mem_eq(m->name, "frame-1", 7);
	/* The client's writes are in the daemon's mapping. */
	ck_assert_uint_eq(((unsigned char *)fk.arena->base)[PG], 0x5a);
	ck_assert_uint_eq(((unsigned char *)fk.arena->base)[PG + 999999],
			  0x5a);
}
END_TEST

/* SPANHEAP_EVICTABLE (with @flags) goes out as @wire, and only that. */
static void create_sends_flags(unsigned int flags, uint32_t wire)
{
	const struct proto_obj_create *m;
	struct spanheap_obj o;
	struct spanheap *h = fake_connect();

	ck_assert_int_eq(spanheap_obj_create(h, "cache-1", 10, flags, &o), 0);
	spanheap_close(h);
	fake_join();
	m = last(PROTO_OBJ_CREATE);
	ck_assert_uint_eq(m->flags, wire);
}

START_TEST(test_create_evictable)
{
	create_sends_flags(SPANHEAP_EVICTABLE, PROTO_OBJ_EVICTABLE);
}
END_TEST

START_TEST(test_create_evictable_zero)
{
	create_sends_flags(SPANHEAP_EVICTABLE | SPANHEAP_ZERO,
			   PROTO_OBJ_EVICTABLE | PROTO_OBJ_ZERO);
}
END_TEST

START_TEST(test_create_flags_and_long_name)
{
	const struct proto_obj_create *m;
	char name[SPANHEAP_NAME_MAX + 1];
	struct spanheap_obj o;
	struct spanheap *h;
	size_t i;

	/* 127 two-byte characters and one more byte: 255 bytes of UTF-8. */
	for (i = 0; i < 127; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	strcpy(name + 254, "x");
	ck_assert_uint_eq(strlen(name), SPANHEAP_NAME_MAX);
	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(h, name, 1, 0, &o), 0);
	ck_assert_uint_eq(o.size, 1);
	spanheap_close(h);
	fake_join();

	m = last(PROTO_OBJ_CREATE);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_CREATE],
			  CREATE_HEAD + SPANHEAP_NAME_MAX);
	ck_assert_uint_eq(m->flags, 0);
	ck_assert_uint_eq(m->size, 1);
	ck_assert_uint_eq(m->namelen, SPANHEAP_NAME_MAX);
	ck_assert_mem_eq(m->name, name, SPANHEAP_NAME_MAX);
}
END_TEST

START_TEST(test_create_invalid)
{
	char name[SPANHEAP_NAME_MAX + 2];
	struct spanheap_obj o = untouched();
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(NULL, "a", 1, 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, NULL, 1, 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "a", 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "", 1, 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, name_of(name, 256), 1, 0, &o),
			 -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "a", 0, 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "a", 1, 0x4, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "a", 1, 0x80000000u, &o),
			 -EINVAL);
	assert_untouched(o);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_CREATE], 0);
}
END_TEST

START_TEST(test_create_refused)
{
	static const int32_t statuses[] = { -EEXIST, -EINVAL, -ENOMEM };
	struct spanheap_obj o = untouched();
	struct spanheap *h;
	size_t i;

	for (i = 0; i < 3; i++)
		script[PROTO_OBJ_CREATE][i] = statuses[i];
	fk.hook = hook_script;
	h = fake_connect();
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(spanheap_obj_create(h, "a", 1, 0, &o),
				 statuses[i]);
		assert_untouched(o);
	}
	/* A refused request leaves the connection working. */
	ck_assert_int_eq(spanheap_obj_create(h, "a", 1, 0, &o), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_CREATE], 4);
}
END_TEST

/*
 * Answers OBJ_CREATE (2 pages asked) and OBJ_GET with an object that does
 * not lie in the arena or its pages, a different one each connection.
 */
#define BAD_OBJS 8

static bool hook_bad_obj(struct fake *f, int cfd, const union fake_req *req)
{
	uint64_t off = PG, size = 2 * PG, npages = 2;

	if (req->hdr.type != PROTO_OBJ_CREATE && req->hdr.type != PROTO_OBJ_GET)
		return false;
	switch (f->conn % BAD_OBJS) {
	case 0:
		off = PG + 8;
		break;
	case 1:
		off = FAKE_ARENA_SIZE;
		break;
	case 2:
		off = FAKE_ARENA_SIZE - PG;
		break;
	case 3:
		npages = FAKE_PAGES + 1;
		break;
	case 4:
		npages = UINT64_MAX / PG + 2;
		break;
	case 5:
		size = npages * PG + 1;
		break;
	case 6:
		off = UINT64_MAX - PG + 1;
		break;
	case 7:
		/* Within its pages, but not what a create asked for. */
		size = 2 * PG - 1;
		break;
	}
	fake_obj_reply(cfd, req, FAKE_FIRST_OBJ_ID, off, size, npages);
	return true;
}

START_TEST(test_create_bad_reply)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h;
	int i;

	fk.hook = hook_bad_obj;
	fk.nconn = BAD_OBJS;
	fake_start();
	for (i = 0; i < BAD_OBJS; i++) {
		ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
		ck_assert_msg(spanheap_obj_create(h, "a", 2 * PG, 0, &o) ==
				      -EBADMSG,
			      "bad object %d accepted", i);
		ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
		spanheap_close(h);
	}
	fake_join();
	assert_untouched(o);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 0);
}
END_TEST

/* ---- seal and release ---- */

START_TEST(test_seal_release_sends)
{
	const struct proto_obj_id *m;
	struct spanheap_obj o, p = untouched();
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(h, "frame-1", 3 * PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	/* The fake's rule, passed through: once. */
	ck_assert_int_eq(spanheap_obj_seal(h, &o), -EALREADY);
	ck_assert_int_eq(spanheap_obj_get(h, "frame-1", 0, &p), 0);
	ck_assert_mem_eq(&p, &o, sizeof(o));
	ck_assert_int_eq(spanheap_obj_release(h, &p), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), -EINVAL);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_SEAL], 2);
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_RELEASE], 3);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_SEAL], sizeof(*m));
	m = last(PROTO_OBJ_SEAL);
	ck_assert_uint_eq(m->hdr.type, PROTO_OBJ_SEAL);
	ck_assert_uint_eq(m->id, o.id);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_RELEASE], sizeof(*m));
	m = last(PROTO_OBJ_RELEASE);
	ck_assert_uint_eq(m->hdr.type, PROTO_OBJ_RELEASE);
	ck_assert_uint_eq(m->id, o.id);
}
END_TEST

START_TEST(test_seal_release_invalid)
{
	struct spanheap_obj o = { .id = FAKE_FIRST_OBJ_ID }, zero = { .id = 0 };
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_seal(NULL, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_seal(h, NULL), -EINVAL);
	ck_assert_int_eq(spanheap_obj_seal(h, &zero), -EINVAL);
	ck_assert_int_eq(spanheap_obj_release(NULL, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_release(h, NULL), -EINVAL);
	ck_assert_int_eq(spanheap_obj_release(h, &zero), -EINVAL);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_SEAL], 0);
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_RELEASE], 0);
}
END_TEST

START_TEST(test_seal_release_refused)
{
	static const int32_t seal[] = { -EPERM, -EALREADY, -ENOENT };
	struct spanheap_obj o = { .id = 77 };
	struct spanheap *h;
	size_t i;

	for (i = 0; i < 3; i++)
		script[PROTO_OBJ_SEAL][i] = seal[i];
	script[PROTO_OBJ_RELEASE][0] = -EINVAL;
	script[PROTO_OBJ_RELEASE][1] = -EPERM;
	fk.hook = hook_script;
	h = fake_connect();
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(spanheap_obj_seal(h, &o), seal[i]);
	ck_assert_int_eq(spanheap_obj_release(h, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_release(h, &o), -EPERM);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_SEAL], 3);
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_RELEASE], 2);
	ck_assert_uint_eq(((const struct proto_obj_id *)
				   last(PROTO_OBJ_RELEASE))->id, 77);
}
END_TEST

/* ---- get ---- */

START_TEST(test_get_sends)
{
	static const int timeouts[] = { 0, 1234, -1, -2147483647 - 1 };
	const struct proto_obj_get *m;
	struct spanheap_obj o, p;
	struct spanheap *h;
	size_t i;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(h, "frame-1", 5000, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	for (i = 0; i < 4; i++) {
		p = untouched();
		ck_assert_int_eq(spanheap_obj_get(h, "frame-1", timeouts[i],
						  &p), 0);
		ck_assert_uint_eq(p.id, o.id);
		ck_assert_uint_eq(p.off, o.off);
		ck_assert_uint_eq(p.size, 5000);
		ck_assert_ptr_eq(p.ptr, (char *)spanheap_ptr(h, 0) + o.off);
	}
	spanheap_close(h);
	fake_join();

	/* The last: the timeout travels as it is. */
	m = last(PROTO_OBJ_GET);
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_GET], 4);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_GET], GET_HEAD + 7);
	ck_assert_uint_eq(m->hdr.type, PROTO_OBJ_GET);
	ck_assert_int_eq(m->timeout_ms, -2147483647 - 1);
	ck_assert_uint_eq(m->namelen, 7);
	ck_assert_uint_eq(m->pad, 0);
	ck_assert_mem_eq(m->name, "frame-1", 7);
	ck_assert_uint_eq(fk.objs[0].refs, 5);
}
END_TEST

/* Records each GET's timeout, as the fake keeps only the last request. */
static int32_t get_timeouts[SCRIPT_MAX];

static bool hook_get_timeouts(struct fake *f, int cfd,
			      const union fake_req *req)
{
	unsigned int n = f->nreq[PROTO_OBJ_GET];

	if (req->hdr.type != PROTO_OBJ_GET)
		return false;
	if (n <= SCRIPT_MAX)
		get_timeouts[n - 1] = req->obj_get.timeout_ms;
	fake_refuse(cfd, req, -ENOENT);
	return true;
}

START_TEST(test_get_timeout_field)
{
	static const int timeouts[] = { 0, 1, 2147483647, -1 };
	struct spanheap_obj p = untouched();
	struct spanheap *h;
	size_t i;

	fk.hook = hook_get_timeouts;
	h = fake_connect();
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(spanheap_obj_get(h, "x", timeouts[i], &p),
				 -ENOENT);
	assert_untouched(p);
	spanheap_close(h);
	fake_join();
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(get_timeouts[i], timeouts[i]);
}
END_TEST

START_TEST(test_get_invalid)
{
	char name[SPANHEAP_NAME_MAX + 2];
	struct spanheap_obj o = untouched();
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_get(NULL, "a", 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_get(h, NULL, 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_get(h, "a", 0, NULL), -EINVAL);
	ck_assert_int_eq(spanheap_obj_get(h, "", 0, &o), -EINVAL);
	ck_assert_int_eq(spanheap_obj_get(h, name_of(name, 256), -1, &o),
			 -EINVAL);
	assert_untouched(o);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_GET], 0);
}
END_TEST

START_TEST(test_get_refused)
{
	static const int32_t statuses[] = { -ENOENT, -ETIMEDOUT, -EINVAL,
					    -ENOMEM };
	struct spanheap_obj o = untouched();
	struct spanheap *h;
	size_t i;

	for (i = 0; i < 4; i++)
		script[PROTO_OBJ_GET][i] = statuses[i];
	fk.hook = hook_script;
	h = fake_connect();
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(spanheap_obj_get(h, "a", 100, &o),
				 statuses[i]);
		assert_untouched(o);
	}
	/* The daemon's -ETIMEDOUT is an answer: the connection goes on. */
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_GET], 4);
}
END_TEST

START_TEST(test_get_bad_reply)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h;
	int i;

	fk.hook = hook_bad_obj;
	fk.nconn = BAD_OBJS;
	fake_start();
	for (i = 0; i < BAD_OBJS; i++) {
		ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
		/* Case 7 is a get's size within its pages: accepted. */
		ck_assert_int_eq(spanheap_obj_get(h, "a", 0, &o),
				 i == 7 ? 0 : -EBADMSG);
		if (i == 7) {
			ck_assert_uint_eq(o.size, 2 * PG - 1);
			o = untouched();
		}
		ck_assert_int_eq(spanheap_gc(h, NULL), i == 7 ? 0 : -ENOTCONN);
		spanheap_close(h);
	}
	fake_join();
	assert_untouched(o);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
}
END_TEST

/* ---- delete ---- */

START_TEST(test_delete_sends)
{
	const struct proto_obj_delete *m;
	struct spanheap_obj o, p = untouched();
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(h, "frame-1", 1, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_delete(h, "frame-1"), 0);
	/* The fake's rules, passed through: the name is gone, reusable. */
	ck_assert_int_eq(spanheap_obj_get(h, "frame-1", 0, &p), -ENOENT);
	assert_untouched(p);
	ck_assert_int_eq(spanheap_obj_delete(h, "frame-1"), -ENOENT);
	ck_assert_int_eq(spanheap_obj_create(h, "frame-1", 1, 0, &p), 0);
	ck_assert_uint_ne(p.id, o.id);
	spanheap_close(h);
	fake_join();

	m = last(PROTO_OBJ_DELETE);
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_DELETE], 2);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_DELETE], DELETE_HEAD + 7);
	ck_assert_uint_eq(m->hdr.type, PROTO_OBJ_DELETE);
	ck_assert_uint_eq(m->namelen, 7);
	ck_assert_uint_eq(m->pad[0] | m->pad[1] | m->pad[2], 0);
	ck_assert_mem_eq(m->name, "frame-1", 7);
}
END_TEST

START_TEST(test_delete_invalid)
{
	char name[SPANHEAP_NAME_MAX + 2];
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_delete(NULL, "a"), -EINVAL);
	ck_assert_int_eq(spanheap_obj_delete(h, NULL), -EINVAL);
	ck_assert_int_eq(spanheap_obj_delete(h, ""), -EINVAL);
	ck_assert_int_eq(spanheap_obj_delete(h, name_of(name, 256)), -EINVAL);
	/* 255 bytes are a name. */
	ck_assert_int_eq(spanheap_obj_delete(h, name_of(name, 255)), -ENOENT);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_DELETE], 1);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJ_DELETE], DELETE_HEAD + 255);
}
END_TEST

START_TEST(test_delete_refused)
{
	struct spanheap *h;

	script[PROTO_OBJ_DELETE][0] = -EPERM;
	script[PROTO_OBJ_DELETE][1] = -EINVAL;
	fk.hook = hook_script;
	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_delete(h, "a"), -EPERM);
	ck_assert_int_eq(spanheap_obj_delete(h, "a\x01"), -EINVAL);
	ck_assert_int_eq(spanheap_obj_delete(h, "a"), -ENOENT);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJ_DELETE], 3);
}
END_TEST

/* ---- how long a get waits ---- */

/* The connection's usual time-out in these tests. */
#define SHORT_MS 300
/* The kernel's receive time-out counts in ticks: it may end one early. */
#define TICK_MS 20

/* What the fake does with the nth GET: waits, then answers or not. */
enum get_act { GET_OBJ, GET_ETIMEDOUT, GET_SILENT, GET_HANG_UP };

static struct {
	unsigned int delay_ms;
	enum get_act act;
} get_script[SCRIPT_MAX];

/* And with the nth GC: waits, then answers. */
static unsigned int gc_delay_ms[SCRIPT_MAX];
/* Set (atomically) when the fake has the first GET. */
static int get_arrived;

static bool hook_wait(struct fake *f, int cfd, const union fake_req *req)
{
	unsigned int n = f->nreq[req->hdr.type];

	if (n > SCRIPT_MAX)
		return false;
	if (req->hdr.type == PROTO_GC) {
		fake_sleep_ms(gc_delay_ms[n - 1]);
		return false;
	}
	if (req->hdr.type != PROTO_OBJ_GET)
		return false;
	__atomic_store_n(&get_arrived, 1, __ATOMIC_RELEASE);
	fake_sleep_ms(get_script[n - 1].delay_ms);
	switch (get_script[n - 1].act) {
	case GET_OBJ:
		fake_obj_reply(cfd, req, FAKE_FIRST_OBJ_ID, PG, PG, 1);
		break;
	case GET_ETIMEDOUT:
		fake_refuse(cfd, req, -ETIMEDOUT);
		break;
	case GET_SILENT:
		break;
	case GET_HANG_UP:
		/* The daemon goes away: the fake's next receive ends it. */
		shutdown(cfd, SHUT_RDWR);
		break;
	}
	return true;
}

static void reset_wait_scripts(void)
{
	memset(get_script, 0, sizeof(get_script));
	memset(gc_delay_ms, 0, sizeof(gc_delay_ms));
	memset(get_timeouts, 0, sizeof(get_timeouts));
	get_arrived = 0;
}

/*
 * A get of timeout_ms T is answered by the daemon within T: the reply
 * is waited for past the connection's time-out, up to T plus it.
 */
#define WAIT_T_MS 600
#define WAIT_LATE_MS (WAIT_T_MS + 50)

START_TEST(test_get_waits_for_its_timeout)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h = NULL;
	uint64_t start;

	_Static_assert(WAIT_LATE_MS > SHORT_MS, "past the usual time-out");
	_Static_assert(WAIT_LATE_MS < WAIT_T_MS + SHORT_MS, "within T + it");
	get_script[0].delay_ms = WAIT_LATE_MS;
	get_script[0].act = GET_OBJ;
	get_script[1].delay_ms = WAIT_LATE_MS;
	get_script[1].act = GET_ETIMEDOUT;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	start = now_ms();
	ck_assert_int_eq(spanheap_obj_get(h, "a", WAIT_T_MS, &o), 0);
	ck_assert_uint_ge(now_ms() - start, WAIT_LATE_MS);
	ck_assert_uint_eq(o.id, FAKE_FIRST_OBJ_ID);
	o = untouched();
	ck_assert_int_eq(spanheap_obj_get(h, "a", WAIT_T_MS, &o), -ETIMEDOUT);
	assert_untouched(o);
	/* That -ETIMEDOUT was the daemon's: the connection goes on. */
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
}
END_TEST

/* A daemon that never answers the get: T plus the time-out, then dead. */
#define EXPIRE_T_MS 200

START_TEST(test_get_deadline_expires)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h = NULL;
	uint64_t start;

	get_script[0].act = GET_SILENT;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	start = now_ms();
	ck_assert_int_eq(spanheap_obj_get(h, "a", EXPIRE_T_MS, &o),
			 -ETIMEDOUT);
	ck_assert_uint_ge(now_ms() - start, EXPIRE_T_MS + SHORT_MS - TICK_MS);
	assert_untouched(o);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 0);
}
END_TEST

/* A get of timeout 0 waits as any call: the usual time-out. */
START_TEST(test_get_zero_usual_timeout)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h = NULL;
	uint64_t start;

	get_script[0].act = GET_SILENT;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	start = now_ms();
	ck_assert_int_eq(spanheap_obj_get(h, "a", 0, &o), -ETIMEDOUT);
	ck_assert_uint_ge(now_ms() - start, SHORT_MS - TICK_MS);
	assert_untouched(o);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
	spanheap_close(h);
	fake_join();
}
END_TEST

/*
 * The get's own bound is for its reply only: a GC after it whose reply
 * comes later than the usual time-out, but within the get's, times out.
 */
START_TEST(test_get_bound_is_its_own)
{
	struct spanheap_obj o;
	struct spanheap *h = NULL;

	get_script[0].delay_ms = WAIT_LATE_MS;
	get_script[0].act = GET_OBJ;
	gc_delay_ms[0] = (SHORT_MS + WAIT_T_MS + SHORT_MS) / 2;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	ck_assert_int_eq(spanheap_obj_get(h, "a", WAIT_T_MS, &o), 0);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ETIMEDOUT);
	spanheap_close(h);
	fake_join();
}
END_TEST

/* A negative timeout is not cut short by the usual time-out. */
START_TEST(test_get_forever)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h = NULL;
	uint64_t start;

	get_script[0].delay_ms = 2 * SHORT_MS;
	get_script[0].act = GET_OBJ;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	start = now_ms();
	ck_assert_int_eq(spanheap_obj_get(h, "a", -1, &o), 0);
	ck_assert_uint_ge(now_ms() - start, 2 * SHORT_MS);
	ck_assert_uint_eq(o.id, FAKE_FIRST_OBJ_ID);
	/* And every other call keeps it. */
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
}
END_TEST

/* A daemon that goes away ends a wait for ever. */
START_TEST(test_get_forever_hang_up)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h = NULL;

	get_script[0].delay_ms = 100;
	get_script[0].act = GET_HANG_UP;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	ck_assert_int_eq(spanheap_obj_get(h, "a", -1, &o), -ENOTCONN);
	assert_untouched(o);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
	spanheap_close(h);
	fake_join();
}
END_TEST

/* The same for a connection without any time-out. */
START_TEST(test_get_no_timeout_at_all)
{
	struct spanheap_obj o = untouched();
	struct spanheap *h = NULL;

	get_script[0].delay_ms = 2 * SHORT_MS;
	get_script[0].act = GET_OBJ;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(-1, &h), 0);
	ck_assert_int_eq(spanheap_obj_get(h, "a", 1, &o), 0);
	spanheap_close(h);
	fake_join();
}
END_TEST

struct getter {
	struct spanheap *h;
	int r;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	struct spanheap_obj o;

	g->r = spanheap_obj_get(g->h, "a", -1, &o);
	return NULL;
}

/*
 * A waiting get holds the connection: another thread's call waits for
 * it, longer than the usual time-out, and is not cut short for that.
 */
START_TEST(test_get_holds_connection)
{
	struct getter g = { .r = 1 };
	struct spanheap *h = NULL;
	pthread_t thread;
	uint64_t start;

	get_script[0].delay_ms = 2 * SHORT_MS;
	get_script[0].act = GET_OBJ;
	fk.hook = hook_wait;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	g.h = h;
	start = now_ms();
	ck_assert_int_eq(pthread_create(&thread, NULL, getter_main, &g), 0);
	/* Until the fake has the GET: then the getter holds the lock. */
	while (!__atomic_load_n(&get_arrived, __ATOMIC_ACQUIRE))
		fake_sleep_ms(5);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	ck_assert_uint_ge(now_ms() - start, 2 * SHORT_MS);
	ck_assert_int_eq(pthread_join(thread, NULL), 0);
	ck_assert_int_eq(g.r, 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
}
END_TEST

static void reset(void)
{
	reset_scripts();
	reset_wait_scripts();
}

static TCase *object_tcase(const char *name)
{
	TCase *tc = fake_tcase(name);

	tcase_add_checked_fixture(tc, reset, NULL);
	return tc;
}

static Suite *object_suite(void)
{
	Suite *s = suite_create("object");
	TCase *tc;

	tc = object_tcase("create");
	tcase_add_test(tc, test_create_sends);
	tcase_add_test(tc, test_create_flags_and_long_name);
	tcase_add_test(tc, test_create_evictable);
	tcase_add_test(tc, test_create_evictable_zero);
	tcase_add_test(tc, test_create_invalid);
	tcase_add_test(tc, test_create_refused);
	tcase_add_test(tc, test_create_bad_reply);
	suite_add_tcase(s, tc);

	tc = object_tcase("seal_release");
	tcase_add_test(tc, test_seal_release_sends);
	tcase_add_test(tc, test_seal_release_invalid);
	tcase_add_test(tc, test_seal_release_refused);
	suite_add_tcase(s, tc);

	tc = object_tcase("get");
	tcase_add_test(tc, test_get_sends);
	tcase_add_test(tc, test_get_timeout_field);
	tcase_add_test(tc, test_get_invalid);
	tcase_add_test(tc, test_get_refused);
	tcase_add_test(tc, test_get_bad_reply);
	suite_add_tcase(s, tc);

	tc = object_tcase("delete");
	tcase_add_test(tc, test_delete_sends);
	tcase_add_test(tc, test_delete_invalid);
	tcase_add_test(tc, test_delete_refused);
	suite_add_tcase(s, tc);

	tc = object_tcase("deadlines");
	tcase_add_test(tc, test_get_waits_for_its_timeout);
	tcase_add_test(tc, test_get_deadline_expires);
	tcase_add_test(tc, test_get_zero_usual_timeout);
	tcase_add_test(tc, test_get_bound_is_its_own);
	tcase_add_test(tc, test_get_forever);
	tcase_add_test(tc, test_get_forever_hang_up);
	tcase_add_test(tc, test_get_no_timeout_at_all);
	tcase_add_test(tc, test_get_holds_connection);
	suite_add_tcase(s, tc);

	return s;
}

TEST_MAIN(object_suite)
