// SPDX-License-Identifier: MIT
/*
 * Tests of sessions against the real spanheapd (daemon/session.c,
 * daemon/client.c's kept sessions, libclient/conn.c's reconnection): a
 * connection broken while the process lives (shutdown() of the
 * library's socket, through internal.h) is mended by the library within
 * the grace, with the same spans, object references and client id; a
 * request whose reply was lost after the daemon applied it
 * (SPANHEAPD_TEST_BREAK_TYPES) is answered from the record, not applied
 * twice; a forged token, another client's, another arena's: -ESTALE and
 * nothing changes; past the grace the owner is freed and the library
 * says so.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/internal.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

#define PAGE 4096u
#define NSPANS 4

static struct test_daemon td;

static void start(const char *grace_ms, const char *break_types)
{
	static char grace[64];
	const char *args[] = { grace, NULL };

	snprintf(grace, sizeof(grace), "--reconnect-grace=%sms",
		 grace_ms ? grace_ms : "30000");
	if (break_types)
		ck_assert_int_eq(setenv("SPANHEAPD_TEST_BREAK_TYPES",
					break_types, 1), 0);
	test_daemon_start(&td, args);
	unsetenv("SPANHEAPD_TEST_BREAK_TYPES");
}

static void stop(void)
{
	test_daemon_stop(&td);
}

/* Break @h's connection as a network would: the daemon sees it hang up. */
static void cut(struct spanheap *h)
{
	ck_assert_int_eq(shutdown(h->fd, SHUT_RDWR), 0);
}

static json_t *parse(char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	free(text);
	ck_assert_ptr_nonnull(j);
	return j;
}

static json_t *stats(struct spanheap *h)
{
	char *text;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	return parse(text);
}

static uint64_t u64(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "no integer %s", key);
	return (uint64_t)json_integer_value(v);
}

/* A top-level MemStats figure, or one of its "sessions" block. */
static uint64_t stat_of(struct spanheap *h, const char *block,
			const char *key)
{
	json_t *root = stats(h);
	uint64_t v = u64(block ? json_object_get(root, block) : root, key);

	json_decref(root);
	return v;
}

/* The references to the object @name, from OBJECTS; -1 if it is none. */
static int64_t refs_of(struct spanheap *h, const char *name)
{
	json_t *root, *list, *o;
	int64_t refs = -1;
	char *text;
	size_t i;

	ck_assert_int_eq(spanheap_objects_json(h, &text), 0);
	root = parse(text);
	list = json_object_get(root, "objects");
	json_array_foreach(list, i, o)
		if (!strcmp(json_string_value(json_object_get(o, "name")),
			    name))
			refs = (int64_t)u64(o, "refs");
	json_decref(root);
	return refs;
}

/* The CLIENTS entry of client @id: its "resumed" count; -1 if absent. */
static int64_t resumed_of(struct spanheap *h, uint32_t id, uint64_t *count)
{
	json_t *root, *list, *c;
	int64_t resumed = -1;
	uint32_t next;
	char *text;
	size_t i;

	ck_assert_int_eq(spanheap_clients_json(h, 0, &next, &text), 0);
	root = parse(text);
	list = json_object_get(root, "clients");
	*count = json_array_size(list);
	json_array_foreach(list, i, c)
		if (u64(c, "id") == id)
			resumed = (int64_t)u64(c, "resumed");
	json_decref(root);
	return resumed;
}

static void pattern(struct spanheap *h, const struct spanheap_span *s,
		    unsigned int seed)
{
	unsigned char *p = spanheap_ptr(h, s->off);

	for (size_t i = 0; i < s->npages * PAGE; i++)
		p[i] = (unsigned char)(i * 7 + seed);
}

static bool pattern_ok(struct spanheap *h, const struct spanheap_span *s,
		       unsigned int seed)
{
	const unsigned char *p = spanheap_ptr(h, s->off);

	for (size_t i = 0; i < s->npages * PAGE; i++)
		if (p[i] != (unsigned char)(i * 7 + seed))
			return false;
	return true;
}

/*
 * Every kind of call, each after a break: it succeeds, with the same
 * spans (their bytes intact), references and client id, and the daemon
 * counts one resume a break.
 */
START_TEST(test_every_call_after_a_break)
{
	struct spanheap_span s[NSPANS], more;
	struct spanheap_obj a, b, got;
	struct spanheap *h;
	uint64_t inuse, released, freed, count;
	uint32_t id, next;
	char *text;
	int breaks = 0;

	start(NULL, NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	id = spanheap_client_id(h);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 3, 0, NSPANS, s), 0);
	for (unsigned int i = 0; i < NSPANS; i++)
		pattern(h, &s[i], i);
	ck_assert_int_eq(spanheap_obj_create(h, "sealed", 3 * PAGE, 0, &a), 0);
	memset(a.ptr, 0x5a, 3 * PAGE);
	ck_assert_int_eq(spanheap_obj_seal(h, &a), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "open", PAGE, 0, &b), 0);
	inuse = stat_of(h, NULL, "heap_inuse");

	cut(h), breaks++;
	ck_assert_int_eq(spanheap_obj_get(h, "sealed", 0, &got), 0);
	ck_assert_uint_eq(got.id, a.id);
	ck_assert_int_eq(refs_of(h, "sealed"), 2);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_obj_release(h, &got), 0);
	ck_assert_int_eq(refs_of(h, "sealed"), 1);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_span_alloc(h, 2, 0, &more), 0);
	pattern(h, &more, 99);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_span_free(h, s[0].off), 0);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_obj_seal(h, &b), 0);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_obj_delete(h, "open"), 0);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	free(text);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_objects_json(h, &text), 0);
	free(text);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_clients_json(h, 0, &next, &text), 0);
	free(text);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	cut(h), breaks++;
	ck_assert_int_eq(spanheap_gc(h, &freed), 0);
	ck_assert_uint_eq(freed, 0);

	/* The same client, its spans and objects its own. */
	ck_assert_uint_eq(spanheap_client_id(h), id);
	ck_assert_int_eq(resumed_of(h, id, &count), breaks);
	ck_assert_uint_eq(count, 1);
	ck_assert_uint_eq(stat_of(h, "sessions", "resumed"), breaks);
	/* One span of 2 pages more, one of 3 fewer; "open" is still held. */
	ck_assert_uint_eq(stat_of(h, NULL, "heap_inuse"),
			  inuse + 2 * PAGE - 3 * PAGE);
	for (unsigned int i = 1; i < NSPANS; i++)
		ck_assert(pattern_ok(h, &s[i], i));
	ck_assert(pattern_ok(h, &more, 99));
	for (size_t i = 0; i < 3 * PAGE; i++)
		ck_assert_uint_eq(((unsigned char *)a.ptr)[i], 0x5a);
	/* Its spans are its own: a free of each still works. */
	for (unsigned int i = 1; i < NSPANS; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	ck_assert_int_eq(spanheap_span_free(h, more.off), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &a), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &b), 0);
	ck_assert_int_eq(spanheap_obj_delete(h, "sealed"), 0);
	ck_assert_uint_eq(stat_of(h, NULL, "heap_inuse"), 0);
	spanheap_close(h);
	stop();
}
END_TEST

/*
 * The daemon applies each mutating request once, records its reply and
 * breaks the connection instead of sending it: the library's retry gets
 * the recorded reply, and nothing is applied twice.
 */
START_TEST(test_retry_not_applied_twice)
{
	char types[32];
	struct spanheap_span s[3];
	struct spanheap_obj x, got;
	struct spanheap *h, *w;
	uint32_t id;

	snprintf(types, sizeof(types), "%#x",
		 1u << PROTO_SPAN_ALLOC | 1u << PROTO_SPAN_FREE |
			 1u << PROTO_OBJ_CREATE | 1u << PROTO_OBJ_SEAL |
			 1u << PROTO_OBJ_GET | 1u << PROTO_OBJ_RELEASE |
			 1u << PROTO_OBJ_DELETE);
	start(NULL, types);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &w), 0);
	id = spanheap_client_id(h);

	/* Applied twice, the arena would hold 6 spans. */
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 2, 0, 3, s), 0);
	ck_assert_uint_eq(stat_of(w, NULL, "heap_inuse"), 3 * 2 * PAGE);
	ck_assert_uint_eq(stat_of(w, NULL, "heap_objects"), 3);
	ck_assert_uint_eq(stat_of(w, "sessions", "retries_replayed"), 1);
	/* Twice: -EINVAL, a double free. */
	ck_assert_int_eq(spanheap_span_free(h, s[1].off), 0);
	ck_assert_uint_eq(stat_of(w, NULL, "heap_inuse"), 2 * 2 * PAGE);
	/* Twice: -EEXIST, -EALREADY. */
	ck_assert_int_eq(spanheap_obj_create(h, "x", PAGE, 0, &x), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &x), 0);
	ck_assert_int_eq(refs_of(w, "x"), 1);
	/* Twice: 3 references; then 1 left, not 0. */
	ck_assert_int_eq(spanheap_obj_get(h, "x", 0, &got), 0);
	ck_assert_int_eq(refs_of(w, "x"), 2);
	ck_assert_int_eq(spanheap_obj_release(h, &got), 0);
	ck_assert_int_eq(refs_of(w, "x"), 1);
	/* Twice: -ENOENT. */
	ck_assert_int_eq(spanheap_obj_delete(h, "x"), 0);
	ck_assert_int_eq(refs_of(w, "x"), -1);
	ck_assert_uint_eq(stat_of(w, "sessions", "retries_replayed"), 7);
	ck_assert_uint_eq(stat_of(w, "sessions", "resumed"), 7);
	ck_assert_uint_eq(spanheap_client_id(h), id);
	/* The reference it kept, and its spans, are its own. */
	ck_assert_int_eq(spanheap_obj_release(h, &x), 0);
	ck_assert_int_eq(spanheap_span_free(h, s[0].off), 0);
	ck_assert_int_eq(spanheap_span_free(h, s[2].off), 0);
	ck_assert_uint_eq(stat_of(w, NULL, "heap_inuse"), 0);
	spanheap_close(h);
	spanheap_close(w);
	stop();
}
END_TEST

/* A resume of @t on a new raw connection: the WELCOME's status. */
static int resume_raw(const struct proto_session *t)
{
	struct proto_hello m;
	struct proto_welcome w;
	int fd = wire_connect(td.sock), r;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_HELLO, 0);
	m.flags = PROTO_HELLO_RESUME;
	m.next_seq = 1;
	m.session = *t;
	wire_send(fd, &m, sizeof(m));
	r = wire_reply(fd, PROTO_HELLO, 0, &w, sizeof(w), NULL);
	/* Refused, it is hung up on. */
	if (r < 0)
		ck_assert(wire_closed(fd));
	close(fd);
	return r;
}

/*
 * Tokens that are not a broken session's: -ESTALE, and the sessions,
 * spans and clients stay as they were.
 */
START_TEST(test_bad_tokens)
{
	struct proto_session t;
	struct spanheap_span s;
	struct spanheap *h, *other;
	uint64_t inuse, count;

	start(NULL, NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &other), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), 0);
	pattern(h, &s, 3);
	inuse = stat_of(h, NULL, "heap_inuse");
	/* Broken, so that a good token would take it back. */
	cut(h);
	usleep(100000);

	t = h->session;
	t.secret[0] ^= 1;
	ck_assert_int_eq(resume_raw(&t), -ESTALE);	/* forged */
	t = h->session;
	t.secret[1] ^= UINT64_C(1) << 63;
	ck_assert_int_eq(resume_raw(&t), -ESTALE);
	t = h->session;
	t.arena_id[0] ^= 1;
	ck_assert_int_eq(resume_raw(&t), -ESTALE);	/* another arena */
	t = h->session;
	t.client_id = other->client_id;
	ck_assert_int_eq(resume_raw(&t), -ESTALE);	/* mixed up */
	t = h->session;
	t.owner = UINT32_MAX - 1;			/* no such slot */
	ck_assert_int_eq(resume_raw(&t), -ESTALE);
	/* A live client's, whole: its session is not to be taken. */
	ck_assert_int_eq(resume_raw(&other->session), -ESTALE);

	ck_assert_uint_eq(stat_of(other, "sessions", "resumed"), 0);
	ck_assert_uint_eq(stat_of(other, NULL, "heap_inuse"), inuse);
	ck_assert_int_eq(resumed_of(other, other->client_id, &count), 0);
	ck_assert_uint_eq(count, 1);	/* the orphan is no client */
	/* The broken one still comes back, as itself. */
	ck_assert(pattern_ok(h, &s, 3));
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	ck_assert_int_eq(resumed_of(other, h->client_id, &count), 1);
	ck_assert_uint_eq(count, 2);
	ck_assert_uint_eq(stat_of(other, NULL, "heap_inuse"), 0);
	spanheap_close(h);
	spanheap_close(other);
	stop();
}
END_TEST

/*
 * Past the grace the orphan is freed; its library hears -ESTALE, for
 * that call and every later one.
 */
START_TEST(test_after_the_grace)
{
	struct spanheap_span s[2];
	struct spanheap_obj o;
	struct spanheap *h, *w;
	uint64_t inuse = 1, count;

	start("200", NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &w), 0);
	ck_assert_uint_eq(h->grace_ms, 200);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 2, s), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "held", PAGE, 0, &o), 0);
	cut(h);
	for (int i = 0; i < 3000 && inuse; i++) {
		usleep(10000);
		inuse = stat_of(w, NULL, "heap_inuse");
	}
	ck_assert_uint_eq(inuse, 0);
	ck_assert_int_eq(refs_of(w, "held"), -1);	/* OPEN: aborted */
	ck_assert_int_eq(resumed_of(w, h->client_id, &count), -1);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(spanheap_span_free(h, s[0].off), -ESTALE);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[0]), -ESTALE);
	ck_assert_int_eq(spanheap_obj_get(h, "held", 0, &o), -ESTALE);
	ck_assert_uint_eq(stat_of(w, NULL, "heap_inuse"), 0);
	spanheap_close(h);
	spanheap_close(w);
	stop();
}
END_TEST

/* No daemon for longer than the grace: -ENOTCONN, as before. */
START_TEST(test_no_daemon_past_the_grace)
{
	struct spanheap_span s;
	struct spanheap *h;

	start("200", NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), 0);
	ck_assert_int_eq(test_daemon_kill(&td, SIGKILL) != 0, 1);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), -ENOTCONN);
	ck_assert_int_eq(spanheap_span_free(h, s.off), -ENOTCONN);
	spanheap_close(h);
	test_tmpdir_remove(td.dir);
}
END_TEST

/* A client whose process exits while broken is freed at once. */
START_TEST(test_exited_orphan_freed)
{
	struct spanheap *w;
	uint64_t inuse = 1;
	int ready[2], status;
	pid_t pid;
	char c;

	start(NULL, NULL);	/* a grace of 30 s: not what frees it */
	ck_assert_int_eq(spanheap_connect(td.sock, &w), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spanheap_span s[8];
		struct spanheap *k;

		if (spanheap_connect(td.sock, &k) ||
		    spanheap_span_alloc_batch(k, 4, 0, 8, s))
			_exit(1);
		cut(k);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < 3000 && inuse; i++) {
		usleep(10000);
		inuse = stat_of(w, NULL, "heap_inuse");
	}
	ck_assert_uint_eq(inuse, 0);
	close(ready[0]);
	close(ready[1]);
	spanheap_close(w);
	stop();
}
END_TEST

/*
 * With a magazine: spans taken from it before a break are freed after
 * it, and it serves again; all is freed at close.
 */
START_TEST(test_magazine_after_a_break)
{
	struct spanheap_span s[40];
	struct spanheap *h, *w;
	uint64_t inuse = 1;
	char *text;

	unsetenv(SPANHEAP_MAGAZINE_ENV);
	start(NULL, NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_ptr_nonnull(h->mag.r);
	for (unsigned int i = 0; i < 20; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[i]), 0);
		pattern(h, &s[i], i);
	}
	cut(h);
	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	free(text);
	for (unsigned int i = 20; i < 40; i++)
		ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[i]), 0);
	for (unsigned int i = 0; i < 20; i++) {
		ck_assert(pattern_ok(h, &s[i], i));
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	}
	cut(h);
	for (unsigned int i = 20; i < 40; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	spanheap_close(h);
	test_socket_only();
	ck_assert_int_eq(spanheap_connect(td.sock, &w), 0);
	for (int i = 0; i < 3000 && inuse; i++) {
		usleep(10000);
		inuse = stat_of(w, NULL, "heap_inuse");
	}
	ck_assert_uint_eq(inuse, 0);
	spanheap_close(w);
	stop();
}
END_TEST

struct getter {
	struct spanheap *h;
	struct spanheap_obj got;
	int r;
};

static void *get_forever(void *arg)
{
	struct getter *g = arg;

	g->r = spanheap_obj_get(g->h, "later", -1, &g->got);
	return NULL;
}

/*
 * A get that waits when its connection is cut: the wait goes with the
 * connection, the library sends the get again on the new one, and the
 * seal answers it once, with one reference.
 */
START_TEST(test_waiting_get_cut)
{
	struct getter g = { .r = 1 };
	struct spanheap_obj o;
	struct spanheap *w;
	pthread_t t;

	start(NULL, NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &g.h), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &w), 0);
	ck_assert_int_eq(spanheap_obj_create(w, "later", PAGE, 0, &o), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, get_forever, &g), 0);
	usleep(200000);
	cut(g.h);
	usleep(200000);
	ck_assert_int_eq(spanheap_obj_seal(w, &o), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(g.r, 0);
	ck_assert_uint_eq(g.got.id, o.id);
	ck_assert_int_eq(refs_of(w, "later"), 2);
	ck_assert_int_eq(spanheap_obj_release(g.h, &g.got), 0);
	ck_assert_int_eq(refs_of(w, "later"), 1);
	spanheap_close(g.h);
	spanheap_close(w);
	stop();
}
END_TEST

struct worker {
	struct spanheap *h;
	unsigned int seed;
	int errors;
};

/*
 * Allocate, pattern, check and free, 300 times: small spans (the
 * magazine's) and, every other time, one of 80 pages (the socket's).
 */
static void *work(void *arg)
{
	struct worker *k = arg;
	struct spanheap_span s;

	for (int i = 0; i < 300; i++) {
		size_t npages = i % 2 ? 80 : 1 + (size_t)i % 3;

		if (spanheap_span_alloc(k->h, npages, 0, &s) < 0) {
			k->errors++;
			continue;
		}
		pattern(k->h, &s, k->seed + (unsigned int)i);
		if (!pattern_ok(k->h, &s, k->seed + (unsigned int)i))
			k->errors++;
		if (spanheap_span_free(k->h, s.off) < 0)
			k->errors++;
	}
	return NULL;
}

/* Threads of one handle go on through breaks: none sees an error. */
START_TEST(test_threads_through_breaks)
{
	struct worker k[4];
	pthread_t t[4];
	struct spanheap *h;

	unsetenv(SPANHEAP_MAGAZINE_ENV);
	start(NULL, NULL);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	for (int i = 0; i < 4; i++) {
		k[i] = (struct worker){ h, (unsigned int)i * 1000, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, work, &k[i]), 0);
	}
	for (int i = 0; i < 5; i++) {
		usleep(20000);
		cut(h);
	}
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(k[i].errors, 0);
	}
	ck_assert_uint_ge(h->resumes, 1);
	spanheap_close(h);
	test_socket_only();
	stop();
}
END_TEST

static Suite *resume_suite(void)
{
	Suite *s = suite_create("resume");
	TCase *tc;

	test_socket_only();
	tc = tcase_create("break");
	tcase_add_test(tc, test_every_call_after_a_break);
	tcase_add_test(tc, test_retry_not_applied_twice);
	tcase_add_test(tc, test_magazine_after_a_break);
	tcase_add_test(tc, test_waiting_get_cut);
	tcase_add_test(tc, test_threads_through_breaks);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_add_test(tc, test_bad_tokens);
	tcase_add_test(tc, test_after_the_grace);
	tcase_add_test(tc, test_no_daemon_past_the_grace);
	tcase_add_test(tc, test_exited_orphan_freed);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(resume_suite)
