// SPDX-License-Identifier: MIT
/*
 * libspanclient's time-outs against the real spanheapd stopped with
 * SIGSTOP: the handshake and every call give up with -ETIMEDOUT, with the
 * default time-out, $SPANHEAP_TIMEOUT_MS or the caller's; and the
 * connection is dead afterwards, so the reply the daemon sends once it
 * runs again is never taken for a later request's.
 *
 * While the daemon is stopped a test only records what calls return, and
 * checks it after SIGCONT, so that a failing check never leaves a
 * stopped daemon behind.  The same waits against a fake daemon are
 * tested in tests/libclient/test_conn.c and test_control.c.
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
/* The time-out of the tests that expect one to expire. */
#define SHORT_MS 300

static struct test_daemon td;

static void setup(void)
{
	test_daemon_start(&td, NULL);
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

static void daemon_freeze(void)
{
	int status;

	ck_assert_int_eq(kill(td.pid, SIGSTOP), 0);
	ck_assert_int_eq(waitpid(td.pid, &status, WUNTRACED), td.pid);
	ck_assert(WIFSTOPPED(status));
}

static void daemon_thaw(void)
{
	int status;

	ck_assert_int_eq(kill(td.pid, SIGCONT), 0);
	ck_assert_int_eq(waitpid(td.pid, &status, WCONTINUED), td.pid);
	ck_assert(WIFCONTINUED(status));
}

static int connect_timeout(int timeout_ms, struct spanheap **ret)
{
	struct spanheap_opts opts = {
		.size = sizeof(opts),
		.socket_path = td.sock,
		.timeout_ms = timeout_ms,
	};

	return spanheap_connect_opts(&opts, ret);
}

static struct spanheap *connect_ok(int timeout_ms)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(connect_timeout(timeout_ms, &h), 0);
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
	ck_assert(json_is_integer(json_object_get(root, key)));
	v = json_integer_value(json_object_get(root, key));
	json_decref(root);
	return v;
}

/* Wait up to 30 s for MemStats' @key to be @want, as seen through @h. */
static void wait_stat(struct spanheap *h, const char *key, int64_t want)
{
	for (int i = 0; i < 3000 && stat_of(h, key) != want; i++)
		usleep(10000);
	ck_assert_int_eq(stat_of(h, key), want);
}

/* The daemon accepts into its backlog, but never answers. */
START_TEST(test_stopped_connect)
{
	struct spanheap *h = NULL, *k = NULL;
	int r_opts, r_env;

	daemon_freeze();
	r_opts = connect_timeout(SHORT_MS, &h);
	setenv(SPANHEAP_TIMEOUT_ENV, "300", 1);
	r_env = spanheap_connect(td.sock, &k);
	unsetenv(SPANHEAP_TIMEOUT_ENV);
	daemon_thaw();

	ck_assert_int_eq(r_opts, -ETIMEDOUT);
	ck_assert_int_eq(r_env, -ETIMEDOUT);
	ck_assert_ptr_null(h);
	ck_assert_ptr_null(k);
	/* It serves the next one. */
	h = connect_ok(SHORT_MS);
	ck_assert_int_eq(stat_of(h, "heap_objects"), 0);
	spanheap_close(h);
}
END_TEST

struct waiter {
	struct spanheap *h;	/* NULL: connect */
	int r;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	struct spanheap_span s;
	struct spanheap *h = NULL;

	if (w->h) {
		w->r = spanheap_span_alloc(w->h, 1, 0, &s);
	} else {
		w->r = spanheap_connect(td.sock, &h);
		spanheap_close(h);
	}
	return NULL;
}

/*
 * With no time-out set anywhere, a connection and a call give up after
 * the default, SPANHEAP_DEFAULT_TIMEOUT_MS; both wait at once.
 */
START_TEST(test_stopped_default)
{
	struct waiter w[2] = { { NULL, 1 }, { NULL, 1 } };
	bool started[2];
	pthread_t t[2];

	unsetenv(SPANHEAP_TIMEOUT_ENV);
	ck_assert_int_eq(spanheap_connect(td.sock, &w[1].h), 0);
	daemon_freeze();
	for (int i = 0; i < 2; i++)
		started[i] = !pthread_create(&t[i], NULL, waiter_main, &w[i]);
	for (int i = 0; i < 2; i++)
		if (started[i])
			pthread_join(t[i], NULL);
	daemon_thaw();

	ck_assert(started[0] && started[1]);
	ck_assert_int_eq(w[0].r, -ETIMEDOUT);	/* spanheap_connect() */
	ck_assert_int_eq(w[1].r, -ETIMEDOUT);	/* spanheap_span_alloc() */
	spanheap_close(w[1].h);
}
END_TEST

/*
 * A call that timed out kills its connection: once the daemon runs again
 * and has answered it, the next call is -ENOTCONN, never that answer, and
 * sends nothing.  The spans stay allocated until the connection closes.
 */
START_TEST(test_stopped_reply_not_taken)
{
	struct spanheap *h = connect_ok(SHORT_MS), *g = connect_ok(0);
	struct spanheap_span a, s = { 7, 7, NULL };
	int r_alloc, r_free;
	char *json = NULL;

	ck_assert_int_eq(spanheap_span_alloc(h, 3, 0, &a), 0);
	ck_assert_int_eq(stat_of(g, "heap_objects"), 1);
	daemon_freeze();
	r_alloc = spanheap_span_alloc(h, 5, 0, &s);
	daemon_thaw();
	ck_assert_int_eq(r_alloc, -ETIMEDOUT);
	ck_assert_uint_eq(s.off, 7);

	/* The daemon answers the request that timed out. */
	wait_stat(g, "heap_inuse", 8 * PG);
	ck_assert_int_eq(stat_of(g, "heap_objects"), 2);
	r_free = spanheap_span_free(h, a.off);
	ck_assert_int_eq(r_free, -ENOTCONN);
	ck_assert_int_eq(spanheap_span_alloc(h, 5, 0, &s), -ENOTCONN);
	ck_assert_int_eq(spanheap_stats_json(h, &json), -ENOTCONN);
	ck_assert_ptr_null(json);
	ck_assert_uint_eq(s.off, 7);
	ck_assert_int_eq(stat_of(g, "heap_objects"), 2);
	/* The spans stay valid memory until the handle is closed. */
	memset(a.ptr, 0x5a, 3 * PG);
	spanheap_close(h);
	wait_stat(g, "heap_objects", 0);
	ck_assert_int_eq(stat_of(g, "heap_inuse"), 0);
	spanheap_close(g);
}
END_TEST

enum call {
	CALL_ALLOC_BATCH,
	CALL_FREE_BATCH,
	CALL_STATS,
	CALL_SCAVENGE,
	CALL_GC,
	NCALLS,
};

static const char *const call_name[NCALLS] = {
	"spanheap_span_alloc_batch", "spanheap_span_free_batch",
	"spanheap_stats_json", "spanheap_scavenge", "spanheap_gc",
};

#define NSPANS 130

static int call(struct spanheap *h, enum call c, const uint64_t *offs)
{
	static struct spanheap_span s[NSPANS];
	uint64_t n;
	char *json;

	switch (c) {
	case CALL_ALLOC_BATCH:
		return spanheap_span_alloc_batch(h, 1, 0, NSPANS, s);
	case CALL_FREE_BATCH:
		return spanheap_span_free_batch(h, offs, NSPANS);
	case CALL_STATS:
		return spanheap_stats_json(h, &json);
	case CALL_SCAVENGE:
		return spanheap_scavenge(h, &n);
	default:
		return spanheap_gc(h, &n);
	}
}

/*
 * Every call that talks to the daemon gives up, with the time-out of
 * spanheap_connect_opts() or of $SPANHEAP_TIMEOUT_MS.
 */
START_TEST(test_stopped_every_call)
{
	struct spanheap_span s[NSPANS];
	uint64_t offs[NSPANS];
	int r[2][NCALLS];

	for (int e = 0; e < 2; e++) {
		for (int c = 0; c < NCALLS; c++) {
			struct spanheap *h;

			if (e) {
				setenv(SPANHEAP_TIMEOUT_ENV, "300", 1);
				h = connect_ok(0);
				unsetenv(SPANHEAP_TIMEOUT_ENV);
			} else {
				h = connect_ok(SHORT_MS);
			}
			ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0,
								   NSPANS, s),
					 0);
			for (int i = 0; i < NSPANS; i++)
				offs[i] = s[i].off;
			daemon_freeze();
			r[e][c] = call(h, (enum call)c, offs);
			daemon_thaw();
			spanheap_close(h);
		}
	}
	for (int e = 0; e < 2; e++)
		for (int c = 0; c < NCALLS; c++)
			ck_assert_msg(r[e][c] == -ETIMEDOUT,
				      "%s with the time-out %s: %d",
				      call_name[c],
				      e ? "of the environment" : "of opts",
				      r[e][c]);
}
END_TEST

static Suite *timeout_suite(void)
{
	Suite *s = suite_create("timeout");
	test_socket_only();
	TCase *tc;

	tc = tcase_create("stopped");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stopped_connect);
	tcase_add_test(tc, test_stopped_default);
	tcase_add_test(tc, test_stopped_reply_not_taken);
	tcase_add_test(tc, test_stopped_every_call);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(timeout_suite)
