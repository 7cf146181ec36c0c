// SPDX-License-Identifier: MIT
/*
 * Shared objects against the real spanheapd, through libspanclient:
 * the life cycle create -> seal -> get -> release -> delete across
 * processes, waiting gets, references dropped with their connection,
 * objects whose creator dies before the seal, permissions, malformed
 * requests on the wire, and 100k objects.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "proto/proto.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

#define PG 4096
#define NOBODY 65534

static struct test_daemon td;

static void setup(void)
{
	/* Reachable by another uid: the -EPERM cases need one. */
	const char *args[] = { "--socket-mode=0666", NULL };

	test_daemon_start(&td, args);
	ck_assert_int_eq(chmod(td.dir, 0755), 0);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static struct spanheap *connect_ok(void)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	return h;
}

static json_t *stats(struct spanheap *h)
{
	json_t *root;
	char *text;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	return root;
}

static int64_t top_stat(struct spanheap *h, const char *key)
{
	json_t *root = stats(h);
	json_t *v = json_object_get(root, key);
	int64_t n;

	ck_assert_msg(json_is_integer(v), "no %s in MemStats", key);
	n = json_integer_value(v);
	json_decref(root);
	return n;
}

/* A field of MemStats' objects block. */
static int64_t obj_stat(struct spanheap *h, const char *key)
{
	json_t *root = stats(h);
	json_t *v = json_object_get(json_object_get(root, "objects"), key);
	int64_t n;

	ck_assert_msg(json_is_integer(v), "no objects.%s in MemStats", key);
	n = json_integer_value(v);
	json_decref(root);
	return n;
}

/* Poll until objects.@key is @want, for up to 30 s. */
static void wait_obj_stat(struct spanheap *h, const char *key, int64_t want)
{
	int64_t v = -1;

	for (int i = 0; i < 3000; i++) {
		v = obj_stat(h, key);
		if (v == want)
			return;
		usleep(10000);
	}
	ck_abort_msg("objects.%s is %lld, want %lld", key, (long long)v,
		     (long long)want);
}

static void wait_inuse(struct spanheap *h, int64_t want)
{
	int64_t v = -1;

	for (int i = 0; i < 3000; i++) {
		v = top_stat(h, "heap_inuse");
		if (v == want)
			return;
		usleep(10000);
	}
	ck_abort_msg("heap_inuse is %lld, want %lld", (long long)v,
		     (long long)want);
}

static void fill(void *ptr, size_t len, uint64_t seed)
{
	unsigned char *p = ptr;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)((seed + i) * 2654435761u >> 13);
}

static bool intact(const void *ptr, size_t len, uint64_t seed)
{
	const unsigned char *p = ptr;

	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)((seed + i) * 2654435761u >> 13))
			return false;
	return true;
}

static pid_t fork_ok(void)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	return pid;
}

/* The exit code of child @pid (128 + signal if killed). */
static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

/* In a child: become @uid (no groups), or exit 126. */
static void become(uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(126);
}

/* ---- life cycle ---- */

/* A producer fills, seals and exits; a later consumer reads it all. */
START_TEST(test_outlives_creator)
{
	const size_t size = 3 * PG + 123;
	struct spanheap *h;
	struct spanheap_obj o;
	pid_t pid = fork_ok();

	if (pid == 0) {
		struct spanheap *p = NULL;
		struct spanheap_obj w;

		if (spanheap_connect(td.sock, &p) ||
		    spanheap_obj_create(p, "frame-1", size, 0, &w))
			_exit(1);
		fill(w.ptr, size, 7);
		_exit(spanheap_obj_seal(p, &w) ? 2 : 0);
	}
	ck_assert_int_eq(reap(pid), 0);
	h = connect_ok();
	ck_assert_int_eq(spanheap_obj_get(h, "frame-1", 0, &o), 0);
	ck_assert_uint_eq(o.size, size);
	ck_assert_uint_eq(o.off % PG, 0);
	ck_assert_ptr_eq(o.ptr, spanheap_ptr(h, o.off));
	ck_assert_msg(intact(o.ptr, size, 7), "the data did not survive");
	ck_assert_int_eq(top_stat(h, "heap_inuse"), (int64_t)(4 * PG));
	ck_assert_int_eq(obj_stat(h, "sealed"), 1);
	ck_assert_int_eq(obj_stat(h, "references"), 1);
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	/* Sealed, unreferenced, not deleted: it lives on. */
	ck_assert_int_eq(obj_stat(h, "references"), 0);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), (int64_t)(4 * PG));
	ck_assert_int_eq(spanheap_obj_delete(h, "frame-1"), 0);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), 0);
	ck_assert_int_eq(obj_stat(h, "sealed"), 0);
	spanheap_close(h);
}
END_TEST

/* OPEN objects are the creator's: invisible to get, writable by it. */
START_TEST(test_open_invisible)
{
	struct spanheap *h = connect_ok(), *g = connect_ok();
	struct spanheap_obj o, r, keep = { 9, 9, 9, NULL };

	ck_assert_int_eq(spanheap_obj_create(h, "wip", PG, SPANHEAP_ZERO, &o),
			 0);
	for (size_t i = 0; i < PG; i++)
		ck_assert_uint_eq(((unsigned char *)o.ptr)[i], 0);
	ck_assert_int_eq(obj_stat(h, "open"), 1);
	ck_assert_int_eq(spanheap_obj_get(g, "wip", 0, &keep), -ENOENT);
	ck_assert_int_eq(spanheap_obj_get(h, "wip", 0, &keep), -ENOENT);
	ck_assert_uint_eq(keep.id, 9);
	ck_assert_int_eq(spanheap_obj_create(g, "wip", PG, 0, &keep), -EEXIST);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), -EALREADY);
	ck_assert_int_eq(spanheap_obj_get(g, "wip", 0, &r), 0);
	ck_assert_uint_eq(r.id, o.id);
	ck_assert_uint_eq(r.off, o.off);
	ck_assert_int_eq(obj_stat(h, "references"), 2);
	spanheap_close(g);
	wait_obj_stat(h, "references", 1);
	spanheap_close(h);
}
END_TEST

/* Several references of one connection; each release drops one. */
START_TEST(test_references_counted)
{
	struct spanheap *h = connect_ok(), *g = connect_ok();
	struct spanheap_obj o, r;

	ck_assert_int_eq(spanheap_obj_create(h, "multi", 10 * PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), -EINVAL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spanheap_obj_get(g, "multi", 0, &r), 0);
	ck_assert_int_eq(obj_stat(h, "references"), 3);
	ck_assert_int_eq(spanheap_obj_release(h, &r), -EINVAL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spanheap_obj_release(g, &r), 0);
	ck_assert_int_eq(spanheap_obj_release(g, &r), -EINVAL);
	ck_assert_int_eq(obj_stat(h, "references"), 0);
	ck_assert_int_eq(spanheap_obj_delete(g, "multi"), 0);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), 0);
	spanheap_close(g);
	spanheap_close(h);
}
END_TEST

/* Deleted while referenced: the memory stays until the last release. */
START_TEST(test_delete_referenced)
{
	struct spanheap *h = connect_ok(), *g = connect_ok();
	struct spanheap_obj o, r, n;
	int64_t before = top_stat(h, "heap_inuse");

	ck_assert_int_eq(spanheap_obj_create(h, "doomed", 5 * PG, 0, &o), 0);
	fill(o.ptr, 5 * PG, 3);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_get(g, "doomed", 0, &r), 0);
	ck_assert_int_eq(spanheap_obj_delete(g, "doomed"), 0);
	/* The name is gone at once... */
	ck_assert_int_eq(spanheap_obj_get(g, "doomed", 0, &n), -ENOENT);
	ck_assert_int_eq(spanheap_obj_delete(g, "doomed"), -ENOENT);
	/* ...and may be used again, while the old memory is still there. */
	ck_assert_int_eq(spanheap_obj_create(g, "doomed", PG, 0, &n), 0);
	ck_assert_uint_ne(n.id, o.id);
	ck_assert_uint_ne(n.off, o.off);
	ck_assert_int_eq(obj_stat(h, "deleted"), 1);
	ck_assert_msg(intact(r.ptr, 5 * PG, 3), "freed under a reader");
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), before + 6 * PG);
	ck_assert_msg(intact(r.ptr, 5 * PG, 3), "freed under a reader");
	ck_assert_int_eq(spanheap_obj_release(g, &r), 0);
	/* The last reference: exactly the object's pages go. */
	ck_assert_int_eq(top_stat(h, "heap_inuse"), before + PG);
	ck_assert_int_eq(obj_stat(h, "deleted"), 0);
	ck_assert_int_eq(spanheap_obj_delete(g, "doomed"), 0);
	/* An aborted object cannot be sealed. */
	ck_assert_int_ne(spanheap_obj_seal(g, &n), 0);
	ck_assert_int_eq(spanheap_obj_release(g, &n), 0);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), before);
	spanheap_close(g);
	spanheap_close(h);
}
END_TEST

/* Names are reused after delete; ids never are. */
START_TEST(test_name_reuse)
{
	struct spanheap *h = connect_ok();
	uint64_t ids[50];

	for (int i = 0; i < 50; i++) {
		struct spanheap_obj o;

		ck_assert_int_eq(spanheap_obj_create(h, "again", PG, 0, &o), 0);
		ids[i] = o.id;
		for (int j = 0; j < i; j++)
			ck_assert_uint_ne(ids[j], o.id);
		ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
		ck_assert_int_eq(spanheap_obj_delete(h, "again"), 0);
		ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
		/* A stale id names nothing. */
		ck_assert_int_eq(spanheap_obj_release(h, &o), -EINVAL);
	}
	ck_assert_int_eq(top_stat(h, "heap_inuse"), 0);
	spanheap_close(h);
}
END_TEST

/* The boundaries of a name. */
START_TEST(test_names)
{
	static const char *const bad[] = {
		"",		"tab\there",	"nl\n",	     "del\x7f",
		"\xc3",		"\xc0\xaf",	"\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xc2\x85" "c1",	"\xff",
	};
	struct spanheap *h = connect_ok();
	struct spanheap_obj o, keep = { 5, 5, 5, NULL };
	char name[SPANHEAP_NAME_MAX + 2];
	int64_t before = top_stat(h, "heap_inuse");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(spanheap_obj_create(h, bad[i], PG, 0, &keep) ==
				      -EINVAL, "name %zu taken", i);
		ck_assert_int_eq(spanheap_obj_get(h, bad[i], 0, &keep), -EINVAL);
		ck_assert_int_eq(spanheap_obj_delete(h, bad[i]), -EINVAL);
	}
	ck_assert_uint_eq(keep.id, 5);
	memset(name, 'x', sizeof(name));
	name[SPANHEAP_NAME_MAX + 1] = '\0';
	ck_assert_int_eq(spanheap_obj_create(h, name, PG, 0, &keep), -EINVAL);
	name[SPANHEAP_NAME_MAX] = '\0';
	ck_assert_int_eq(spanheap_obj_create(h, name, PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "x", PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "\xe2\x82\xac uro", PG, 0, &o),
			 0);
	ck_assert_int_eq(spanheap_obj_create(h, "\xf0\x9f\x90\xa7", PG, 0, &o),
			 0);
	ck_assert_int_eq(spanheap_obj_create(h, "z", 0, 0, &keep), -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "z", PG, 0x100, &keep),
			 -EINVAL);
	ck_assert_int_eq(spanheap_obj_create(h, "z", (size_t)1 << 30, 0, &keep),
			 -ENOMEM);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), before + 4 * PG);
	ck_assert_int_eq(obj_stat(h, "open"), 4);
	spanheap_close(h);
}
END_TEST

/* ---- waiting ---- */

/* A get that waits before the object exists wakes at its seal. */
START_TEST(test_wait_for_seal)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o;
	pid_t pid = fork_ok();

	if (pid == 0) {
		struct spanheap *c = NULL;
		struct spanheap_obj r;

		if (spanheap_connect(td.sock, &c) ||
		    spanheap_obj_get(c, "later", -1, &r))
			_exit(1);
		_exit(intact(r.ptr, 2 * PG, 11) ? 0 : 2);
	}
	wait_obj_stat(h, "waiters", 1);
	ck_assert_int_eq(spanheap_obj_create(h, "later", 2 * PG, 0, &o), 0);
	fill(o.ptr, 2 * PG, 11);
	/* Still OPEN: the waiter keeps waiting. */
	usleep(100000);
	ck_assert_int_eq(obj_stat(h, "waiters"), 1);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(reap(pid), 0);
	ck_assert_int_eq(obj_stat(h, "waiters"), 0);
	/* The waiter's reference went with its connection. */
	wait_obj_stat(h, "references", 1);
	spanheap_close(h);
}
END_TEST

/* Many waiters on one name all wake; others keep waiting. */
START_TEST(test_wait_many)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o;
	pid_t pids[8];

	for (int i = 0; i < 8; i++) {
		pids[i] = fork_ok();
		if (pids[i] == 0) {
			struct spanheap *c = NULL;
			struct spanheap_obj r;
			const char *name = i < 6 ? "crowd" : "other";

			if (spanheap_connect(td.sock, &c))
				_exit(1);
			_exit(spanheap_obj_get(c, name, 60000, &r) ? 2 : 0);
		}
	}
	wait_obj_stat(h, "waiters", 8);
	ck_assert_int_eq(spanheap_obj_create(h, "crowd", PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(reap(pids[i]), 0);
	ck_assert_int_eq(obj_stat(h, "waiters"), 2);
	ck_assert_int_eq(spanheap_obj_create(h, "other", PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	for (int i = 6; i < 8; i++)
		ck_assert_int_eq(reap(pids[i]), 0);
	ck_assert_int_eq(obj_stat(h, "waiters"), 0);
	spanheap_close(h);
}
END_TEST

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

START_TEST(test_timeouts)
{
	struct spanheap *h = connect_ok(), *g = connect_ok();
	struct spanheap_obj o, keep = { 4, 4, 4, NULL };
	uint64_t t0;

	ck_assert_int_eq(spanheap_obj_get(h, "absent", 0, &keep), -ENOENT);
	t0 = mono_ms();
	ck_assert_int_eq(spanheap_obj_get(h, "absent", 300, &keep), -ETIMEDOUT);
	/* It waited (a lower bound the daemon's timer sets, no upper). */
	ck_assert_uint_ge(mono_ms() - t0, 300);
	ck_assert_uint_eq(keep.id, 4);
	/* An OPEN object is waited for like an absent one. */
	ck_assert_int_eq(spanheap_obj_create(g, "opened", PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_get(h, "opened", 0, &keep), -ENOENT);
	ck_assert_int_eq(spanheap_obj_get(h, "opened", 200, &keep), -ETIMEDOUT);
	ck_assert_int_eq(obj_stat(h, "waiters"), 0);
	/* The connection is fine after a timeout. */
	ck_assert_int_eq(spanheap_obj_seal(g, &o), 0);
	ck_assert_int_eq(spanheap_obj_get(h, "opened", 200, &keep), 0);
	ck_assert_uint_eq(keep.id, o.id);
	spanheap_close(g);
	spanheap_close(h);
}
END_TEST

/* A waiter that goes away takes its wait with it. */
START_TEST(test_waiter_disconnects)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o;
	pid_t pid = fork_ok();

	if (pid == 0) {
		struct spanheap *c = NULL;
		struct spanheap_obj r;

		if (spanheap_connect(td.sock, &c))
			_exit(1);
		spanheap_obj_get(c, "never", -1, &r);
		_exit(2);
	}
	wait_obj_stat(h, "waiters", 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(reap(pid), 128 + SIGKILL);
	wait_obj_stat(h, "waiters", 0);
	/* A seal afterwards finds nobody to wake, and nothing leaks. */
	ck_assert_int_eq(spanheap_obj_create(h, "never", PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(obj_stat(h, "references"), 1);
	spanheap_close(h);
}
END_TEST

/* ---- death ---- */

/* A creator killed before its seal: the object is aborted and freed. */
START_TEST(test_creator_killed_before_seal)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o;
	int pfd[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork_ok();
	if (pid == 0) {
		struct spanheap *p = NULL;
		struct spanheap_obj w;

		if (spanheap_connect(td.sock, &p) ||
		    spanheap_obj_create(p, "half", 64 * PG, 0, &w))
			_exit(1);
		fill(w.ptr, 64 * PG, 1);
		if (write(pfd[1], "k", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert_int_eq(obj_stat(h, "open"), 1);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), 64 * PG);
	kill(pid, SIGKILL);
	ck_assert_int_eq(reap(pid), 128 + SIGKILL);
	wait_inuse(h, 0);
	ck_assert_int_eq(obj_stat(h, "open"), 0);
	ck_assert_int_eq(obj_stat(h, "references"), 0);
	/* The name is free again. */
	ck_assert_int_eq(spanheap_obj_create(h, "half", PG, 0, &o), 0);
	close(pfd[0]);
	close(pfd[1]);
	spanheap_close(h);
}
END_TEST

/* A reader killed: its references go, the object stays for others. */
START_TEST(test_reader_killed)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o;
	int pfd[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(spanheap_obj_create(h, "read-me", 8 * PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork_ok();
	if (pid == 0) {
		struct spanheap *r = NULL;
		struct spanheap_obj x;

		if (spanheap_connect(td.sock, &r))
			_exit(1);
		for (int i = 0; i < 5; i++)
			if (spanheap_obj_get(r, "read-me", 0, &x))
				_exit(2);
		if (write(pfd[1], "k", 1) != 1)
			_exit(3);
		pause();
		_exit(4);
	}
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert_int_eq(obj_stat(h, "references"), 6);
	/* Deleted while the reader holds it: its death is the last drop. */
	ck_assert_int_eq(spanheap_obj_delete(h, "read-me"), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), 8 * PG);
	kill(pid, SIGKILL);
	ck_assert_int_eq(reap(pid), 128 + SIGKILL);
	wait_inuse(h, 0);
	ck_assert_int_eq(obj_stat(h, "references"), 0);
	ck_assert_int_eq(obj_stat(h, "deleted"), 0);
	close(pfd[0]);
	close(pfd[1]);
	spanheap_close(h);
}
END_TEST

/* ---- permissions ---- */

START_TEST(test_permissions)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o, p;
	int pfd[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(spanheap_obj_create(h, "root-open", PG, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "root-sealed", PG, 0, &p), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &p), 0);
	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork_ok();
	if (pid == 0) {
		struct spanheap *n = NULL, *m = NULL;
		struct spanheap_obj mine, x;

		become(NOBODY);
		if (spanheap_connect(td.sock, &n) ||
		    spanheap_connect(td.sock, &m))
			_exit(1);
		/* Not the creating connection: seal is refused. */
		if (spanheap_obj_seal(n, &o) != -EPERM)
			_exit(2);
		/* Not the creator's uid, not root: delete is refused. */
		if (spanheap_obj_delete(n, "root-sealed") != -EPERM ||
		    spanheap_obj_delete(n, "root-open") != -EPERM)
			_exit(3);
		/* Another connection of the same uid may not seal... */
		if (spanheap_obj_create(n, "nobody's", PG, 0, &mine) ||
		    spanheap_obj_seal(m, &mine) != -EPERM ||
		    spanheap_obj_seal(n, &mine))
			_exit(4);
		/* ...but the same uid may delete, from anywhere. */
		if (spanheap_obj_get(m, "nobody's", 0, &x) ||
		    spanheap_obj_delete(m, "nobody's"))
			_exit(5);
		if (write(pfd[1], "k", 1) != 1)
			_exit(6);
		pause();
		_exit(7);
	}
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	/* Nothing of root's changed. */
	ck_assert_int_eq(obj_stat(h, "open"), 1);
	ck_assert_int_eq(obj_stat(h, "sealed"), 1);
	kill(pid, SIGKILL);
	ck_assert_int_eq(reap(pid), 128 + SIGKILL);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	ck_assert_int_eq(spanheap_obj_delete(h, "root-open"), 0);
	ck_assert_int_eq(spanheap_obj_delete(h, "root-sealed"), 0);
	close(pfd[0]);
	close(pfd[1]);
	spanheap_close(h);
}
END_TEST

/* Root may delete anyone's object. */
START_TEST(test_root_deletes)
{
	struct spanheap *h = connect_ok();
	int pfd[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork_ok();
	if (pid == 0) {
		struct spanheap *n = NULL;
		struct spanheap_obj w;

		become(NOBODY);
		if (spanheap_connect(td.sock, &n) ||
		    spanheap_obj_create(n, "users", PG, 0, &w) ||
		    spanheap_obj_seal(n, &w) || write(pfd[1], "k", 1) != 1)
			_exit(1);
		pause();
		_exit(2);
	}
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert_int_eq(spanheap_obj_delete(h, "users"), 0);
	kill(pid, SIGKILL);
	ck_assert_int_eq(reap(pid), 128 + SIGKILL);
	wait_inuse(h, 0);
	close(pfd[0]);
	close(pfd[1]);
	spanheap_close(h);
}
END_TEST

/* ---- malformed requests, on the wire ---- */

static uint32_t send_create(int fd, const char *name, size_t len,
			    uint64_t size, uint32_t flags)
{
	struct proto_obj_create m;
	uint32_t seq;

	memset(&m, 0, sizeof(m));
	seq = wire_hdr(&m.hdr, PROTO_OBJ_CREATE);
	m.size = size;
	m.flags = flags;
	m.namelen = (uint16_t)len;
	memcpy(m.name, name, len);
	wire_send(fd, &m, offsetof(struct proto_obj_create, name) + len);
	return seq;
}

static void expect(int fd, uint16_t type, uint32_t seq, int want)
{
	char buf[PROTO_REPLY_MAX];
	int r = wire_reply(fd, type, seq, buf, sizeof(buf), NULL);

	ck_assert_msg(r == want, "%s: %d, want %d", proto_type_name(type), r,
		      want);
}

START_TEST(test_wire_malformed)
{
	int fd = wire_open(td.sock, "attacker");
	struct wire_heap a, b;
	struct proto_obj_id id;
	struct proto_obj_delete del;
	struct proto_obj_get get;
	unsigned char raw[512];
	uint32_t seq;

	wire_heap(fd, &a);
	/* Bad names: invalid UTF-8 and control characters, -EINVAL. */
	expect(fd, PROTO_OBJ_CREATE, send_create(fd, "a\0b", 3, PG, 0),
	       -EINVAL);
	expect(fd, PROTO_OBJ_CREATE, send_create(fd, "\x80", 1, PG, 0),
	       -EINVAL);
	expect(fd, PROTO_OBJ_CREATE, send_create(fd, "\x1b[2J", 4, PG, 0),
	       -EINVAL);
	/* Unknown flags, size 0: malformed. */
	expect(fd, PROTO_OBJ_CREATE,
	       send_create(fd, "ok", 2, PG, PROTO_OBJ_FLAGS + 1), -EBADMSG);
	expect(fd, PROTO_OBJ_CREATE, send_create(fd, "ok", 2, 0, 0), -EBADMSG);
	/* A length that is not the datagram's. */
	memset(raw, 0, sizeof(raw));
	{
		struct proto_obj_create m;

		memset(&m, 0, sizeof(m));
		seq = wire_hdr(&m.hdr, PROTO_OBJ_CREATE);
		m.size = PG;
		m.namelen = 10;
		memcpy(m.name, "short", 5);
		wire_send(fd, &m, offsetof(struct proto_obj_create, name) + 5);
		wire_expect_error(fd, PROTO_OBJ_CREATE, seq, -EBADMSG);
		seq = wire_hdr(&m.hdr, PROTO_OBJ_CREATE);
		m.namelen = 0;
		wire_send(fd, &m, offsetof(struct proto_obj_create, name));
		wire_expect_error(fd, PROTO_OBJ_CREATE, seq, -EBADMSG);
	}
	/* Ids nobody has: seal -ENOENT, release -EINVAL; id 0 malformed. */
	memset(&id, 0, sizeof(id));
	seq = wire_hdr(&id.hdr, PROTO_OBJ_SEAL);
	id.id = 0x123456789abcdefull;
	wire_send(fd, &id, sizeof(id));
	expect(fd, PROTO_OBJ_SEAL, seq, -ENOENT);
	seq = wire_hdr(&id.hdr, PROTO_OBJ_RELEASE);
	wire_send(fd, &id, sizeof(id));
	expect(fd, PROTO_OBJ_RELEASE, seq, -EINVAL);
	seq = wire_hdr(&id.hdr, PROTO_OBJ_RELEASE);
	id.id = 0;
	wire_send(fd, &id, sizeof(id));
	wire_expect_error(fd, PROTO_OBJ_RELEASE, seq, -EBADMSG);
	/* Delete and get of bad or absent names. */
	memset(&del, 0, sizeof(del));
	seq = wire_hdr(&del.hdr, PROTO_OBJ_DELETE);
	del.namelen = 2;
	memcpy(del.name, "\xc0\x80", 2);
	wire_send(fd, &del, offsetof(struct proto_obj_delete, name) + 2);
	expect(fd, PROTO_OBJ_DELETE, seq, -EINVAL);
	seq = wire_hdr(&del.hdr, PROTO_OBJ_DELETE);
	memcpy(del.name, "no", 2);
	wire_send(fd, &del, offsetof(struct proto_obj_delete, name) + 2);
	expect(fd, PROTO_OBJ_DELETE, seq, -ENOENT);
	memset(&get, 0, sizeof(get));
	seq = wire_hdr(&get.hdr, PROTO_OBJ_GET);
	get.namelen = 1;
	get.name[0] = '\x7f';
	wire_send(fd, &get, offsetof(struct proto_obj_get, name) + 1);
	expect(fd, PROTO_OBJ_GET, seq, -EINVAL);
	seq = wire_hdr(&get.hdr, PROTO_OBJ_GET);
	get.pad = 1;
	get.name[0] = 'g';
	wire_send(fd, &get, offsetof(struct proto_obj_get, name) + 1);
	wire_expect_error(fd, PROTO_OBJ_GET, seq, -EBADMSG);
	/* Nothing changed, and the connection still works. */
	wire_heap(fd, &b);
	wire_heap_unchanged(&a, &b);
	expect(fd, PROTO_OBJ_CREATE, send_create(fd, "fine", 4, PG, 0), 0);
	close(fd);
}
END_TEST

/* ---- scale ---- */

/*
 * The debug build checks the whole heap, object table included, after
 * every operation: 100k objects would cost it hours (n^2), so it makes
 * fewer; every other build makes the full 100k.
 */
#ifdef SPANHEAP_DEBUG
#define MANY 2000
#else
#define MANY 100000
#endif

START_TEST(test_100k_objects)
{
	struct spanheap *h = connect_ok();
	struct spanheap_obj o;
	char name[32];

	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "obj-%d", i);
		ck_assert_int_eq(spanheap_obj_create(h, name, 100, 0, &o), 0);
		*(int *)o.ptr = i;
		ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
		ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	}
	ck_assert_int_eq(obj_stat(h, "sealed"), MANY);
	ck_assert_int_eq(top_stat(h, "heap_inuse"), (int64_t)MANY * PG);
	for (int i = MANY - 1; i >= 0; i -= 7) {
		snprintf(name, sizeof(name), "obj-%d", i);
		ck_assert_int_eq(spanheap_obj_get(h, name, 0, &o), 0);
		ck_assert_int_eq(*(int *)o.ptr, i);
		ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	}
	for (int i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "obj-%d", i);
		ck_assert_int_eq(spanheap_obj_delete(h, name), 0);
	}
	ck_assert_int_eq(top_stat(h, "heap_inuse"), 0);
	ck_assert_int_eq(obj_stat(h, "sealed"), 0);
	spanheap_close(h);
}
END_TEST

static Suite *object_suite(void)
{
	Suite *s = suite_create("object");
	TCase *tc;

	tc = tcase_create("life");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_outlives_creator);
	tcase_add_test(tc, test_open_invisible);
	tcase_add_test(tc, test_references_counted);
	tcase_add_test(tc, test_delete_referenced);
	tcase_add_test(tc, test_name_reuse);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("wait");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wait_for_seal);
	tcase_add_test(tc, test_wait_many);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_waiter_disconnects);
	suite_add_tcase(s, tc);

	tc = tcase_create("death");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_creator_killed_before_seal);
	tcase_add_test(tc, test_reader_killed);
	suite_add_tcase(s, tc);

	tc = tcase_create("perm");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_permissions);
	tcase_add_test(tc, test_root_deletes);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wire_malformed);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_100k_objects);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(object_suite)
