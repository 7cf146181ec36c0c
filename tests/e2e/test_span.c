// SPDX-License-Identifier: MIT
/*
 * libspanclient's span calls against the real spanheapd: data patterns,
 * sharing across processes by offset, ownership, a client killed while
 * holding spans, many clients, many threads on one connection.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define PG 4096

static struct test_daemon td;

static void setup(void)
{
	test_daemon_start(&td, NULL);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static struct spanheap *connect_ok(void)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_ptr_nonnull(h);
	return h;
}

/* An integer field of the daemon's MemStats. */
static int64_t stat_of(struct spanheap *h, const char *key)
{
	json_t *root;
	char *text;
	int64_t v;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(json_integer_value(json_object_get(root, "heap_sys")),
			 json_integer_value(json_object_get(root, "heap_idle")) +
				 json_integer_value(json_object_get(root,
								    "heap_inuse")));
	ck_assert(json_is_integer(json_object_get(root, key)));
	v = json_integer_value(json_object_get(root, key));
	json_decref(root);
	return v;
}

static void fill(struct spanheap_span *s, uint64_t seed)
{
	uint64_t *p = s->ptr;

	for (size_t i = 0; i < s->npages * PG / 8; i++)
		p[i] = seed ^ (i * 0x9e3779b97f4a7c15ull);
}

static bool intact(const struct spanheap_span *s, uint64_t seed)
{
	const uint64_t *p = s->ptr;

	for (size_t i = 0; i < s->npages * PG / 8; i++)
		if (p[i] != (seed ^ (i * 0x9e3779b97f4a7c15ull)))
			return false;
	return true;
}

START_TEST(test_alloc_free_patterns)
{
	static const size_t sizes[] = { 1, 2, 3, 7, 16, 127, 128, 129, 1000,
					4096 };
	struct spanheap_span s[10];
	struct spanheap *h = connect_ok();

	ck_assert_uint_eq(spanheap_page_size(h), PG);
	ck_assert_uint_eq(spanheap_arena_size(h), UINT64_C(1) << 30);
	for (int i = 0; i < 10; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, sizes[i], 0, &s[i]), 0);
		ck_assert_uint_ge(s[i].npages, sizes[i]);
		ck_assert_ptr_eq(s[i].ptr, spanheap_ptr(h, s[i].off));
		fill(&s[i], (uint64_t)i + 1);
	}
	/* No span overlaps another: every pattern survived. */
	for (int i = 0; i < 10; i++)
		ck_assert_msg(intact(&s[i], (uint64_t)i + 1), "span %d", i);
	ck_assert_int_eq(stat_of(h, "heap_objects"), 10);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), 0);
	spanheap_close(h);
}
END_TEST

START_TEST(test_zero_flag)
{
	struct spanheap *h = connect_ok();
	struct spanheap_span s;
	uint64_t off;

	ck_assert_int_eq(spanheap_span_alloc(h, 64, 0, &s), 0);
	memset(s.ptr, 0xee, 64 * PG);
	off = s.off;
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	/* Best fit gives the same dirty pages back; ZERO must clean them. */
	ck_assert_int_eq(spanheap_span_alloc(h, 64, SPANHEAP_ZERO, &s), 0);
	ck_assert_uint_eq(s.off, off);
	for (size_t i = 0; i < 64 * PG; i++)
		if (((unsigned char *)s.ptr)[i])
			ck_abort_msg("byte %zu not zero", i);
	spanheap_close(h);
}
END_TEST

START_TEST(test_errors)
{
	struct spanheap *h = connect_ok(), *g = connect_ok();
	struct spanheap_span s, keep = { 7, 7, NULL };
	uint64_t inuse;

	ck_assert_int_eq(spanheap_span_alloc(h, 0, 0, &keep), -EINVAL);
	ck_assert_int_eq(spanheap_span_alloc(h, (1u << 30) / PG + 1, 0, &keep),
			 -EINVAL);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0x100, &keep), -EINVAL);
	ck_assert_uint_eq(keep.off, 7);
	ck_assert_int_eq(spanheap_span_alloc(h, 4, 0, &s), 0);
	inuse = (uint64_t)stat_of(h, "heap_inuse");
	ck_assert_int_eq(spanheap_span_free(g, s.off), -EPERM);
	ck_assert_int_eq(spanheap_span_free(h, s.off + PG), -EINVAL);
	ck_assert_int_eq(spanheap_span_free(h, s.off + 1), -EINVAL);
	ck_assert_uint_eq((uint64_t)stat_of(h, "heap_inuse"), inuse);
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	ck_assert_int_eq(spanheap_span_free(h, s.off), -EINVAL);
	/* The arena is 1 GiB: 2 x 600 MiB cannot both be had. */
	ck_assert_int_eq(spanheap_span_alloc(h, 600 << 8, 0, &s), 0);
	ck_assert_int_eq(spanheap_span_alloc(g, 600 << 8, 0, &keep), -ENOMEM);
	spanheap_close(g);
	spanheap_close(h);
}
END_TEST

START_TEST(test_batch)
{
	struct spanheap *h = connect_ok();
	struct spanheap_span s[150];
	uint64_t offs[150];

	ck_assert_int_eq(spanheap_span_alloc_batch(h, 3, 0, 150, s), 0);
	for (int i = 0; i < 150; i++) {
		offs[i] = s[i].off;
		fill(&s[i], (uint64_t)i);
	}
	for (int i = 0; i < 150; i++)
		ck_assert(intact(&s[i], (uint64_t)i));
	ck_assert_int_eq(stat_of(h, "heap_objects"), 150);
	/* All or nothing: a batch that cannot fit leaves nothing behind. */
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1 << 16, 0, 100, s),
			 -ENOMEM);
	ck_assert_int_eq(stat_of(h, "heap_objects"), 150);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), 0);
	ck_assert_int_eq(stat_of(h, "heap_objects"), 0);
	spanheap_close(h);
}
END_TEST

/*
 * A batch of three round trips with a bad offset in the second frees
 * nothing, whatever makes the offset bad.
 */
START_TEST(test_free_batch_all_or_none)
{
	struct spanheap *h = connect_ok(), *g = connect_ok();
	struct spanheap_span s[130], other;
	uint64_t offs[130], good;
	int64_t inuse, objects;

	ck_assert_int_eq(spanheap_span_alloc_batch(h, 2, 0, 130, s), 0);
	ck_assert_int_eq(spanheap_span_alloc(g, 1, 0, &other), 0);
	for (int i = 0; i < 130; i++)
		offs[i] = s[i].off;
	inuse = stat_of(h, "heap_inuse");
	objects = stat_of(h, "heap_objects");
	ck_assert_int_eq(objects, 131);

	good = offs[100];
	offs[100] = good + PG;		/* inside a span */
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 130), -EINVAL);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), inuse);
	ck_assert_int_eq(stat_of(h, "heap_objects"), objects);
	offs[100] = other.off;		/* another connection's */
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 130), -EPERM);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), inuse);
	ck_assert_int_eq(stat_of(h, "heap_objects"), objects);
	offs[100] = good;
	/* Freed already, in the last round trip. */
	ck_assert_int_eq(spanheap_span_free(h, offs[129]), 0);
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 130), -EINVAL);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), inuse - 2 * PG);
	ck_assert_int_eq(stat_of(h, "heap_objects"), objects - 1);

	/* Every other span is still this connection's, and frees. */
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 129), 0);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), inuse - 130 * 2 * PG);
	ck_assert_int_eq(stat_of(h, "heap_objects"), 1);
	spanheap_close(g);
	spanheap_close(h);
}
END_TEST

/* A child process maps the same arena over its own connection. */
START_TEST(test_share_across_processes)
{
	struct spanheap *h = connect_ok();
	struct spanheap_span s;
	int to_child[2], to_parent[2], status;
	uint64_t off;
	char ok;
	pid_t pid;

	ck_assert_int_eq(pipe(to_child), 0);
	ck_assert_int_eq(pipe(to_parent), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 8, 0, &s), 0);
	memset(s.ptr, 0x5a, 8 * PG);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spanheap *c;
		unsigned char *p;
		int bad = 0;

		if (read(to_child[0], &off, sizeof(off)) != sizeof(off) ||
		    spanheap_connect(td.sock, &c))
			_exit(10);
		p = spanheap_ptr(c, off);
		for (int i = 0; i < 8 * PG; i++)
			bad |= p[i] != 0x5a;
		if (bad)
			_exit(11);
		/* Not ours to free. */
		if (spanheap_span_free(c, off) != -EPERM)
			_exit(12);
		memset(p, 0xa5, 8 * PG);
		ok = 1;
		if (write(to_parent[1], &ok, 1) != 1)
			_exit(13);
		spanheap_close(c);
		_exit(0);
	}
	ck_assert_int_eq(write(to_child[1], &s.off, sizeof(s.off)),
			 sizeof(s.off));
	ck_assert_int_eq(read(to_parent[0], &ok, 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	for (int i = 0; i < 8 * PG; i++)
		if (((unsigned char *)s.ptr)[i] != 0xa5)
			ck_abort_msg("the child's write at %d is not seen", i);
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	spanheap_close(h);
}
END_TEST

START_TEST(test_killed_client_spans_freed)
{
	struct spanheap *h = connect_ok();
	int64_t before = stat_of(h, "heap_inuse");
	int ready[2], status;
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spanheap *k;
		struct spanheap_span s[20];

		if (spanheap_connect(td.sock, &k) ||
		    spanheap_span_alloc_batch(k, 100, 0, 20, s))
			_exit(1);
		memset(s[0].ptr, 1, PG);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), before + 20 * 100 * PG);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* The daemon sees the socket close; allow it a moment. */
	for (int i = 0; i < 500 && stat_of(h, "heap_inuse") != before; i++)
		usleep(10000);
	ck_assert_int_eq(stat_of(h, "heap_inuse"), before);
	ck_assert_int_eq(stat_of(h, "heap_objects"), 0);
	spanheap_close(h);
}
END_TEST

#define NCLIENTS 200

START_TEST(test_many_clients)
{
	static struct spanheap *hs[NCLIENTS];
	static struct spanheap_span s[NCLIENTS];
	json_t *root;
	char *text;

	for (int i = 0; i < NCLIENTS; i++) {
		int r = spanheap_connect(td.sock, &hs[i]);

		if (r)
			ck_abort_msg("client %d: %d", i, r);
		if (spanheap_span_alloc(hs[i], 1 + (size_t)i % 5, 0, &s[i]))
			ck_abort_msg("alloc of client %d", i);
		memset(s[i].ptr, i & 0xff, s[i].npages * PG);
	}
	for (int i = 0; i < NCLIENTS; i++)
		if (((unsigned char *)s[i].ptr)[s[i].npages * PG - 1] !=
		    (i & 0xff))
			ck_abort_msg("client %d's span was overwritten", i);
	ck_assert_int_eq(spanheap_stats_json(hs[0], &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(root, "clients"), "count")),
			 NCLIENTS);
	json_decref(root);
	for (int i = 0; i < NCLIENTS; i++)
		spanheap_close(hs[i]);
}
END_TEST

#define NTHREADS 8
#define THREAD_OPS 300

static void *thread_main(void *arg)
{
	struct spanheap *h = arg;
	uint64_t rnd = (uint64_t)pthread_self() | 1;

	for (int i = 0; i < THREAD_OPS; i++) {
		struct spanheap_span s;
		size_t n = 1 + test_rand(&rnd) % 8;

		if (spanheap_span_alloc(h, n, 0, &s))
			return (void *)1;
		fill(&s, rnd);
		if (!intact(&s, rnd))
			return (void *)2;
		if (spanheap_span_free(h, s.off))
			return (void *)3;
	}
	return NULL;
}

START_TEST(test_threads_share_connection)
{
	struct spanheap *h = connect_ok();
	pthread_t t[NTHREADS];

	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, thread_main, h), 0);
	for (int i = 0; i < NTHREADS; i++) {
		void *ret;

		ck_assert_int_eq(pthread_join(t[i], &ret), 0);
		ck_assert_ptr_null(ret);
	}
	ck_assert_int_eq(stat_of(h, "heap_objects"), 0);
	spanheap_close(h);
}
END_TEST

START_TEST(test_max_clients)
{
	struct spanheap *a, *b, *c = NULL;
	const char *args[] = { "--max-clients=2", NULL };

	test_daemon_stop(&td);
	test_daemon_start(&td, args);
	a = connect_ok();
	b = connect_ok();
	ck_assert_int_eq(spanheap_connect(td.sock, &c), -EUSERS);
	ck_assert_ptr_null(c);
	spanheap_close(b);
	/* A slot frees up once the daemon has seen b go. */
	for (int i = 0; i < 200; i++) {
		if (spanheap_connect(td.sock, &c) == 0)
			break;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(c);
	spanheap_close(c);
	spanheap_close(a);
}
END_TEST

START_TEST(test_socket_env)
{
	struct spanheap *h = NULL;

	setenv(SPANHEAP_SOCKET_ENV, td.sock, 1);
	ck_assert_int_eq(spanheap_connect(NULL, &h), 0);
	spanheap_close(h);
	unsetenv(SPANHEAP_SOCKET_ENV);
}
END_TEST

static Suite *span_suite(void)
{
	Suite *s = suite_create("span");
	test_socket_only();
	TCase *tc;

	tc = tcase_create("alloc_free");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_alloc_free_patterns);
	tcase_add_test(tc, test_zero_flag);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_free_batch_all_or_none);
	tcase_add_test(tc, test_socket_env);
	suite_add_tcase(s, tc);

	tc = tcase_create("processes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_share_across_processes);
	tcase_add_test(tc, test_killed_client_spans_freed);
	tcase_add_test(tc, test_many_clients);
	tcase_add_test(tc, test_threads_share_connection);
	tcase_add_test(tc, test_max_clients);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(span_suite)
