// SPDX-License-Identifier: MIT
/*
 * Eviction end to end through the real client library: libspanclient
 * connects to the in-process daemon (inproc.h) on a socket of its own,
 * whose loop runs on a thread, and the test asks that thread to evict
 * (objects_evict_locked(), as the memory limit's reclaim does) between
 * the library's calls.  What SPANHEAP_EVICTABLE promises: a sealed
 * object nobody holds may go, the least recently used first, and then
 * a get answers -ENOENT and its name is free; a held object or one
 * created without the flag stays; the list and MemStats say so.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "libclient/spanheap.h"
#include "tests/daemon/inproc.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define PG HEAP_PAGE_SIZE
#define QUIT UINT64_MAX

static struct daemon d;
static char dir[128], path[192];
static int lfd = -1, cmd[2] = { -1, -1 };	/* [0] the loop's end */
static struct event *ev_listen, *ev_cmd;
static pthread_t loop;

/* What the test asks of the loop thread, and its answer. */
struct evict_req {
	uint64_t need;		/* QUIT: leave the loop */
};

struct evict_res {
	int r;
	uint64_t bytes, count;
};

static void on_listen(evutil_socket_t fd, short what, void *arg)
{
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)what, (void)arg;
	if (c >= 0)
		client_accept(&d.clients, c);
}

static void on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct evict_req q;
	struct evict_res a = { 0, 0, 0 };

	(void)what, (void)arg;
	if (read(fd, &q, sizeof(q)) != (ssize_t)sizeof(q) || q.need == QUIT) {
		event_base_loopbreak(d.base);
		return;
	}
	daemon_heap_lock(&d.core);
	a.r = objects_evict_locked(&d.objects, q.need, &a.bytes, &a.count);
	heap_check(d.core.heap);
	daemon_heap_unlock(&d.core);
	if (write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
		abort();
}

static void *loop_main(void *arg)
{
	(void)arg;
	event_base_dispatch(d.base);
	return NULL;
}

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	/* Objects need no magazine; the in-process daemon serves none here. */
	setenv("SPANHEAP_MAGAZINE", "0", 1);
	inproc_start(&d, 64 * MiB, NULL, false);
	test_tmpdir(dir, sizeof(dir), "evict");
	snprintf(path, sizeof(path), "%s/sock", dir);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				    cmd), 0);
	ev_listen = event_new(d.base, lfd, EV_READ | EV_PERSIST, on_listen,
			      NULL);
	ev_cmd = event_new(d.base, cmd[0], EV_READ | EV_PERSIST, on_cmd, NULL);
	ck_assert_ptr_nonnull(ev_listen);
	ck_assert_ptr_nonnull(ev_cmd);
	ck_assert_int_eq(event_add(ev_listen, NULL), 0);
	ck_assert_int_eq(event_add(ev_cmd, NULL), 0);
	ck_assert_int_eq(pthread_create(&loop, NULL, loop_main, NULL), 0);
}

static void teardown(void)
{
	struct evict_req q = { QUIT };

	ck_assert_int_eq(write(cmd[1], &q, sizeof(q)), (ssize_t)sizeof(q));
	ck_assert_int_eq(pthread_join(loop, NULL), 0);
	event_free(ev_listen);
	event_free(ev_cmd);
	close(lfd);
	close(cmd[0]);
	close(cmd[1]);
	inproc_stop(&d);
	test_tmpdir_remove(dir);
}

/* Evict for @need bytes on the loop thread; what it did. */
static struct evict_res evict(uint64_t need)
{
	struct evict_req q = { need };
	struct evict_res a;

	ck_assert_int_eq(write(cmd[1], &q, sizeof(q)), (ssize_t)sizeof(q));
	ck_assert_int_eq(read(cmd[1], &a, sizeof(a)), (ssize_t)sizeof(a));
	return a;
}

static struct spanheap *connect_named(const char *name)
{
	struct spanheap_opts opts = { .size = sizeof(opts),
				      .socket_path = path, .name = name };
	struct spanheap *h;

	ck_assert_int_eq(spanheap_connect_opts(&opts, &h), 0);
	return h;
}

/* A sealed object of @pages pages with @flags, @fill in every byte. */
static struct spanheap_obj make(struct spanheap *h, const char *name,
				size_t pages, unsigned int flags, int fill)
{
	struct spanheap_obj o;

	ck_assert_int_eq(spanheap_obj_create(h, name, pages * PG, flags, &o),
			 0);
	memset(o.ptr, fill, o.size);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	return o;
}

/* MemStats' objects.@key, from the library. */
static json_int_t stat_of(struct spanheap *h, const char *key)
{
	json_t *st, *v;
	json_int_t n;
	char *text;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	st = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(st);
	v = json_object_get(json_object_get(st, "objects"), key);
	ck_assert_msg(json_is_integer(v), "no objects.%s in MemStats", key);
	n = json_integer_value(v);
	json_decref(st);
	return n;
}

/* The "evictable" of @name in spanheap_objects_json(): 1, 0, -1 absent. */
static int listed_evictable(struct spanheap *h, const char *name)
{
	json_t *root, *o;
	size_t i;
	char *text;
	int r = -1;

	ck_assert_int_eq(spanheap_objects_json(h, &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	json_array_foreach(json_object_get(root, "objects"), i, o) {
		if (strcmp(json_string_value(json_object_get(o, "name")), name))
			continue;
		ck_assert(json_is_boolean(json_object_get(o, "evictable")));
		r = json_is_true(json_object_get(o, "evictable"));
	}
	json_decref(root);
	return r;
}

START_TEST(test_evicted_then_enoent)
{
	struct spanheap *p = connect_named("producer"), *r;
	struct spanheap_obj cache, keep, plain, o;
	struct evict_res e;

	cache = make(p, "cache-1", 3, SPANHEAP_EVICTABLE, 0x11);
	keep = make(p, "keep", 1, SPANHEAP_EVICTABLE | SPANHEAP_ZERO, 0x22);
	plain = make(p, "plain", 2, 0, 0x33);
	ck_assert_int_eq(spanheap_obj_release(p, &cache), 0);
	ck_assert_int_eq(spanheap_obj_release(p, &plain), 0);
	/* keep is held by its creator, and by a reader. */
	r = connect_named("reader");
	ck_assert_int_eq(spanheap_obj_get(r, "keep", 0, &o), 0);
	ck_assert_int_eq(listed_evictable(p, "cache-1"), 1);
	ck_assert_int_eq(listed_evictable(p, "keep"), 1);
	ck_assert_int_eq(listed_evictable(p, "plain"), 0);
	ck_assert_int_eq(stat_of(p, "evictable"), 1);
	ck_assert_int_eq(stat_of(p, "evictable_bytes"), 3 * PG);

	e = evict(1);
	ck_assert_int_eq(e.r, 0);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_uint_eq(e.bytes, 3 * PG);
	/* Gone: a get finds nothing, and the name is free. */
	ck_assert_int_eq(spanheap_obj_get(r, "cache-1", 0, &o), -ENOENT);
	ck_assert_int_eq(listed_evictable(p, "cache-1"), -1);
	ck_assert_int_eq(stat_of(p, "evicted"), 1);
	ck_assert_int_eq(stat_of(p, "evicted_bytes"), 3 * PG);

	/* Nothing else may go: one is held, the other not evictable. */
	e = evict(64 * MiB);
	ck_assert_int_eq(e.r, -ENOENT);
	ck_assert_uint_eq(e.count, 0);
	ck_assert_int_eq(spanheap_obj_get(r, "plain", 0, &o), 0);
	ck_assert_uint_eq(((unsigned char *)o.ptr)[2 * PG - 1], 0x33);
	ck_assert_int_eq(spanheap_obj_release(r, &o), 0);
	ck_assert_int_eq(spanheap_obj_get(r, "keep", 0, &o), 0);
	ck_assert_uint_eq(((unsigned char *)o.ptr)[0], 0x22);
	ck_assert_int_eq(spanheap_obj_release(r, &o), 0);

	/* Its last holders let go: now it may. */
	ck_assert_int_eq(spanheap_obj_release(r, &o), 0);
	ck_assert_int_eq(spanheap_obj_release(p, &keep), 0);
	ck_assert_int_eq(stat_of(p, "evictable"), 1);
	e = evict(1);
	ck_assert_int_eq(e.r, 0);
	ck_assert_uint_eq(e.bytes, PG);
	ck_assert_int_eq(spanheap_obj_get(r, "keep", 0, &o), -ENOENT);
	ck_assert_int_eq(stat_of(p, "evicted"), 2);
	/* The name serves a new object at once. */
	cache = make(p, "cache-1", 1, SPANHEAP_EVICTABLE, 0x44);
	ck_assert_int_eq(spanheap_obj_get(r, "cache-1", 0, &o), 0);
	ck_assert_uint_eq(o.id, cache.id);
	spanheap_close(r);
	spanheap_close(p);
}
END_TEST

/* A get moves an object to the most recent end: the other goes first. */
START_TEST(test_get_keeps_recent)
{
	struct spanheap *h = connect_named("cache");
	struct spanheap_obj a, b, o;
	struct evict_res e;

	a = make(h, "a", 1, SPANHEAP_EVICTABLE, 1);
	b = make(h, "b", 1, SPANHEAP_EVICTABLE, 2);
	ck_assert_int_eq(spanheap_obj_release(h, &a), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &b), 0);
	/* a is read again, after b's last use. */
	ck_assert_int_eq(spanheap_obj_get(h, "a", 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	e = evict(1);
	ck_assert_int_eq(e.r, 0);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_int_eq(spanheap_obj_get(h, "b", 0, &o), -ENOENT);
	ck_assert_int_eq(spanheap_obj_get(h, "a", 0, &o), 0);
	ck_assert_uint_eq(((unsigned char *)o.ptr)[0], 1);
	spanheap_close(h);
}
END_TEST

static Suite *objects_client_suite(void)
{
	Suite *s = suite_create("objects_client");
	TCase *tc = tcase_create("evict");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_evicted_then_enoent);
	tcase_add_test(tc, test_get_keeps_recent);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(objects_client_suite)
