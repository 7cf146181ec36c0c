// SPDX-License-Identifier: MIT
/*
 * A client of libspanclient through a SIGKILL of the daemon under the
 * service manager's stand-in (tests/lib/svcmgr.h): it holds patterned
 * spans, a sealed object and references, and every call it makes after
 * the kill, during the restart or after it, succeeds, on the same
 * mapping, with the same client id, its bytes intact (libclient/conn.c's
 * reconnection, daemon/session.c's records, the adoption's orphans).
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/internal.h"
#include "tests/lib/daemon.h"
#include "tests/lib/svcmgr.h"
#include "tests/lib/testlib.h"

#define PAGE 4096u
#define NSPANS 8

static struct svcmgr m;

static void setup(void)
{
	svcmgr_init(&m);
}

static void teardown(void)
{
	svcmgr_fini(&m);
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

static long long stat_of(struct spanheap *h, const char *block,
			 const char *key)
{
	json_t *root = stats(h), *v;
	long long n;

	v = json_object_get(block ? json_object_get(root, block) : root, key);
	ck_assert_msg(json_is_integer(v), "no %s in MemStats", key);
	n = json_integer_value(v);
	json_decref(root);
	return n;
}

static void pattern(struct spanheap *h, uint64_t off, size_t len,
		    unsigned int seed)
{
	unsigned char *p = spanheap_ptr(h, off);

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static bool pattern_ok(struct spanheap *h, uint64_t off, size_t len,
		       unsigned int seed)
{
	const unsigned char *p = spanheap_ptr(h, off);

	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(i * 31 + seed))
			return false;
	return true;
}

/*
 * The client's state before the kill and its checks after: every call
 * succeeds, with what it held intact and its own.
 */
static void through_a_kill(bool during)
{
	struct spanheap_span s[NSPANS], more;
	struct spanheap_obj a, got, again;
	struct spanheap *h;
	void *base;
	uint32_t id;
	int status;

	svcmgr_start(&m, NULL);
	ck_assert_int_eq(spanheap_connect(m.sock, &h), 0);
	id = spanheap_client_id(h);
	base = spanheap_ptr(h, 0);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 4, 0, NSPANS, s), 0);
	for (unsigned int i = 0; i < NSPANS; i++)
		pattern(h, s[i].off, 4 * PAGE, i);
	ck_assert_int_eq(spanheap_obj_create(h, "frame", 5 * PAGE, 0, &a), 0);
	pattern(h, a.off, 5 * PAGE, 77);
	ck_assert_int_eq(spanheap_obj_seal(h, &a), 0);
	ck_assert_int_eq(spanheap_obj_get(h, "frame", 0, &got), 0);

	status = svcmgr_kill(&m, SIGKILL);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (during)
		svcmgr_spawn(&m, NULL);	/* its calls wait in the backlog */
	else
		svcmgr_start(&m, NULL);

	/* Not one error: the library mends the connection. */
	ck_assert_int_eq(spanheap_span_free(h, s[0].off), 0);
	if (during)
		svcmgr_wait_ready(&m);
	ck_assert_int_eq(spanheap_span_alloc(h, 2, 0, &more), 0);
	pattern(h, more.off, 2 * PAGE, 200);
	ck_assert_int_eq(spanheap_obj_get(h, "frame", 0, &again), 0);
	ck_assert_uint_eq(again.id, a.id);
	ck_assert_int_eq(spanheap_obj_release(h, &again), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &got), 0);

	/* The same mapping, client and bytes. */
	ck_assert_ptr_eq(spanheap_ptr(h, 0), base);
	ck_assert_uint_eq(spanheap_client_id(h), id);
	for (unsigned int i = 1; i < NSPANS; i++)
		ck_assert(pattern_ok(h, s[i].off, 4 * PAGE, i));
	ck_assert(pattern_ok(h, a.off, 5 * PAGE, 77));
	ck_assert(pattern_ok(h, more.off, 2 * PAGE, 200));
	ck_assert_int_eq(stat_of(h, NULL, "generation"), 2);
	ck_assert_int_ge(stat_of(h, "sessions", "resumed"), 1);
	ck_assert_uint_ge(h->resumes, 1);

	/* Its spans and its reference are its own: each goes once. */
	for (unsigned int i = 1; i < NSPANS; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	ck_assert_int_eq(spanheap_span_free(h, more.off), 0);
	ck_assert_int_eq(spanheap_span_free(h, more.off), -EINVAL);
	ck_assert_int_eq(spanheap_obj_release(h, &a), 0);
	ck_assert_int_eq(spanheap_obj_release(h, &a), -EINVAL);
	ck_assert_int_eq(spanheap_obj_delete(h, "frame"), 0);
	ck_assert_int_eq(stat_of(h, NULL, "heap_inuse"),
			 stat_of(h, NULL, "cached"));
	spanheap_close(h);
}

START_TEST(test_sigkill_then_calls)
{
	test_socket_only();
	through_a_kill(false);
}
END_TEST

START_TEST(test_calls_during_restart)
{
	test_socket_only();
	through_a_kill(true);
}
END_TEST

/* With a magazine: its spans taken before the kill are freed after it. */
START_TEST(test_sigkill_with_magazine)
{
	unsetenv(SPANHEAP_MAGAZINE_ENV);
	through_a_kill(false);
}
END_TEST

static Suite *restart_client_suite(void)
{
	Suite *s = suite_create("restart_client");
	TCase *tc = tcase_create("sigkill");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sigkill_then_calls);
	tcase_add_test(tc, test_calls_during_restart);
	tcase_add_test(tc, test_sigkill_with_magazine);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(restart_client_suite)
