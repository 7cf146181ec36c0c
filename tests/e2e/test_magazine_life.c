// SPDX-License-Identifier: MIT
/*
 * A client's life with a magazine, end to end (issue 11), through
 * libspanclient against the real spanheapd: killed with SIGKILL in the
 * middle of its loop, idle longer than --scavenge-after, forked.  What
 * it had goes back, cached or not, and a forked child never touches its
 * parent's magazine.  The rest is test_magazine.c.
 *
 * No case measures time: each waits, generously, for a state.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "proto/magazine.h"
#include "tests/e2e/mag_fixture.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

#define PG MAG_PG

static struct test_daemon td;

static void setup(void)
{
	test_daemon_start(&td, NULL);
}

/* A daemon whose magazines give everything back after 1 s idle. */
static void setup_idle(void)
{
	static const char *const args[] = { "--scavenge-after=1s", NULL };

	test_daemon_start(&td, args);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static struct spanheap *connect_ok(void)
{
	return mag_connect(td.sock);
}

/* ---- kill ---- */

/* Allocate and free forever, after telling @ready the client's id. */
static void churn_forever(int ready)
{
	struct spanheap_span s[32];
	struct spanheap *k;
	uint64_t rng = 42;
	unsigned int n = 0;
	uint32_t id;

	if (spanheap_connect(td.sock, &k))
		_exit(1);
	id = spanheap_client_id(k);
	for (long i = 0;; i++) {
		if (n == 32 || (n && test_rand(&rng) % 2)) {
			unsigned int j = (unsigned int)(test_rand(&rng) % n);

			if (spanheap_span_free(k, s[j].off))
				_exit(2);
			s[j] = s[--n];
		} else {
			if (spanheap_span_alloc(k, 1 + test_rand(&rng) %
						MAG_MAX_PAGES, 0, &s[n]))
				_exit(3);
			memset(s[n++].ptr, 0x6b, PG);
		}
		if (i == 5000 && write(ready, &id, sizeof(id)) != sizeof(id))
			_exit(4);
	}
}

/*
 * A client killed with SIGKILL in the middle of its loop, its magazine
 * warm: every span it had, cached or not, is freed.
 */
START_TEST(test_sigkill_frees_cached)
{
	int obs = wire_open(td.sock, "observer"), ready[2], status;
	uint32_t id;
	json_t *st;
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(ready[0]);
		churn_forever(ready[1]);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &id, sizeof(id)), sizeof(id));
	st = mag_stats_fd(obs);
	ck_assert(mag_client_has_magazine(st, id));
	ck_assert_uint_gt(mag_counter(st, "fast_allocs"), 0);
	ck_assert_uint_gt(mag_client_u64(st, id, "bytes"), 0);
	json_decref(st);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	st = mag_wait_fd(obs, mag_all_gone, &id,
			 "the killed client's spans are all freed");
	mag_assert_quiet(st);
	json_decref(st);
	close(ready[0]);
	close(obs);
}
END_TEST

/* ---- idle ---- */

struct idle {
	uint32_t id;
	uint64_t held;		/* bytes the client holds itself */
};

static bool cache_empty(json_t *st, void *arg)
{
	const struct idle *x = arg;

	return !wire_json_u64(st, "cached") &&
	       !mag_client_u64(st, x->id, "cached");
}

/* consumed, and the kernel's count of the arena, fall to what it holds. */
static bool released(json_t *st, void *arg)
{
	const struct idle *x = arg;

	return wire_json_u64(st, "consumed") == x->held &&
	       wire_json_u64(st, "arena_resident") <= x->held &&
	       test_arena_resident() <= x->held;
}

/*
 * A client that warmed its magazine and then stays idle longer than
 * --scavenge-after: its cache goes back, and then the scavenger's
 * promise holds (consumed falls to what it really holds, as the kernel
 * says too).  Afterwards it allocates as before.
 */
START_TEST(test_idle_gives_back)
{
	struct spanheap_span s[8], keep;
	struct spanheap *h = connect_ok();
	int obs = wire_open(td.sock, "observer");
	struct idle x = { .id = spanheap_client_id(h) };
	json_t *st;

	for (unsigned int c = 0; c < 7; c++) {
		for (int i = 0; i < 8; i++) {
			ck_assert_int_eq(spanheap_span_alloc(h, 1u << c, 0,
							     &s[i]), 0);
			mag_pattern(s[i].ptr, s[i].npages, c, true);
		}
		for (int i = 0; i < 8; i++)
			ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	}
	ck_assert_int_eq(spanheap_span_alloc(h, 4, 0, &keep), 0);
	mag_pattern(keep.ptr, keep.npages, 0x6ee9, false);
	x.held = keep.npages * PG;
	st = mag_stats_fd(obs);
	ck_assert_uint_gt(mag_client_u64(st, x.id, "cached"), 0);
	ck_assert_uint_eq(mag_client_u64(st, x.id, "bytes") -
			  mag_client_u64(st, x.id, "cached"), x.held);
	json_decref(st);
	json_decref(mag_wait_fd(obs, cache_empty, &x,
				"the idle client's cache goes back"));
	st = mag_wait_fd(obs, released, &x,
			 "the idle client's cache is released to the kernel");
	mag_assert_quiet(st);
	ck_assert_uint_eq(mag_client_u64(st, x.id, "bytes"), x.held);
	ck_assert_uint_eq(wire_json_u64(st, "heap_inuse"), x.held);
	json_decref(st);
	mag_assert_pattern(keep.ptr, keep.npages, 0x6ee9, false, "held span");
	/* Back to work: the magazine serves again. */
	for (unsigned int c = 0; c < 7; c++) {
		ck_assert_int_eq(spanheap_span_alloc(h, 1u << c, SPANHEAP_ZERO,
						     &s[c]), 0);
		mag_assert_zero(s[c].ptr, s[c].npages * PG, "after idle");
		mag_pattern(s[c].ptr, s[c].npages, c, true);
	}
	for (unsigned int c = 0; c < 7; c++) {
		mag_assert_pattern(s[c].ptr, s[c].npages, c, true,
				   "after idle");
		ck_assert_int_eq(spanheap_span_free(h, s[c].off), 0);
	}
	st = mag_stats_fd(obs);
	ck_assert_uint_gt(mag_client_u64(st, x.id, "cached"), 0);
	json_decref(st);
	ck_assert_int_eq(spanheap_span_free(h, keep.off), 0);
	spanheap_close(h);
	close(obs);
}
END_TEST

/* ---- fork ---- */

/* In the child: note the first failure on @fd, then exit 1. */
#define CHILD_CHECK(fd, cond)                                                \
	do {                                                                 \
		if (!(cond)) {                                               \
			dprintf(fd, "line %d: %s", __LINE__, #cond);         \
			_exit(1);                                            \
		}                                                            \
	} while (0)

/*
 * The child of a process with a warm magazine: every call on the
 * parent's connection fails with -ENOTCONN; it closes it, connects
 * anew and uses a magazine of its own.
 */
static void fork_child(struct spanheap *h, const struct spanheap_span *held,
		       unsigned int nheld, int out)
{
	struct spanheap_span s[4];
	uint64_t off = held[0].off;
	struct spanheap *k;
	char *text;
	json_t *st;

	CHILD_CHECK(out, spanheap_span_alloc(h, 1, 0, s) == -ENOTCONN);
	CHILD_CHECK(out, spanheap_span_alloc(h, MAG_MAX_PAGES + 1, 0, s) ==
			 -ENOTCONN);
	CHILD_CHECK(out, spanheap_span_alloc_batch(h, 2, 0, 4, s) ==
			 -ENOTCONN);
	CHILD_CHECK(out, spanheap_span_free(h, off) == -ENOTCONN);
	CHILD_CHECK(out, spanheap_span_free_batch(h, &off, 1) == -ENOTCONN);
	CHILD_CHECK(out, spanheap_stats_json(h, &text) == -ENOTCONN);
	CHILD_CHECK(out, spanheap_gc(h, NULL) == -ENOTCONN);
	spanheap_close(h);
	CHILD_CHECK(out, spanheap_connect(td.sock, &k) == 0);
	for (int i = 0; i < 4; i++) {
		CHILD_CHECK(out, spanheap_span_alloc(k, 1, 0, &s[i]) == 0);
		/* Not one its parent holds. */
		for (unsigned int j = 0; j < nheld; j++)
			CHILD_CHECK(out, s[i].off != held[j].off);
		memset(s[i].ptr, 0xc4, PG);
	}
	for (int i = 0; i < 4; i++)
		CHILD_CHECK(out, spanheap_span_free(k, s[i].off) == 0);
	CHILD_CHECK(out, spanheap_stats_json(k, &text) == 0);
	st = json_loads(text, 0, NULL);
	free(text);
	CHILD_CHECK(out, st != NULL);
	CHILD_CHECK(out, mag_client(st, spanheap_client_id(k)) != NULL);
	CHILD_CHECK(out, json_is_true(json_object_get(
		mag_client(st, spanheap_client_id(k)), "magazine")));
	CHILD_CHECK(out, json_integer_value(json_object_get(
		mag_client(st, spanheap_client_id(k)), "cached")) > 0);
	json_decref(st);
	spanheap_close(k);
	_exit(0);
}

START_TEST(test_fork_child)
{
	struct spanheap_span s[8];
	struct spanheap *h = connect_ok();
	uint32_t id = spanheap_client_id(h);
	int out[2], status;
	uint64_t fast;
	char msg[256] = "";
	ssize_t n;
	json_t *st;
	pid_t pid;

	/* Warm: spans held, some freed onto the stack. */
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[i]), 0);
		mag_pattern(s[i].ptr, 1, 0xf0c + (uint64_t)i, false);
	}
	for (int i = 4; i < 8; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	ck_assert_int_eq(pipe(out), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(out[0]);
		fork_child(h, s, 4, out[1]);
	}
	close(out[1]);
	n = read(out[0], msg, sizeof(msg) - 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child failed (status %#x): %s", status,
		      n > 0 ? msg : "?");
	close(out[0]);
	/* The parent's magazine is as it was, and still works. */
	for (int i = 0; i < 4; i++)
		mag_assert_pattern(s[i].ptr, 1, 0xf0c + (uint64_t)i, false,
				   "the parent's span");
	st = mag_stats(h);
	fast = mag_counter(st, "fast_allocs");
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes") -
			  mag_client_u64(st, id, "cached"), 4 * PG);
	json_decref(st);
	for (int i = 4; i < 8; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[i]), 0);
		mag_pattern(s[i].ptr, 1, 0xf0c + (uint64_t)i, false);
	}
	for (int i = 0; i < 8; i++) {
		mag_assert_pattern(s[i].ptr, 1, 0xf0c + (uint64_t)i, false,
				   "the parent's span");
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	}
	st = mag_stats(h);
	ck_assert_uint_eq(mag_counter(st, "fast_allocs"), fast + 4);
	ck_assert_uint_eq(mag_client_u64(st, id, "bytes"),
			  mag_client_u64(st, id, "cached"));
	json_decref(st);
	spanheap_close(h);
}
END_TEST

static Suite *magazine_life_suite(void)
{
	Suite *s = suite_create("magazine_life");
	TCase *tc;

	tc = tcase_create("kill");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 2 * MAG_WAIT_S);
	tcase_add_test(tc, test_sigkill_frees_cached);
	suite_add_tcase(s, tc);

	tc = tcase_create("idle");
	tcase_add_checked_fixture(tc, setup_idle, teardown);
	tcase_set_timeout(tc, 3 * MAG_WAIT_S);
	tcase_add_test(tc, test_idle_gives_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("fork");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fork_child);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_life_suite)
