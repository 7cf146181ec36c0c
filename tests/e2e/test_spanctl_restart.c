// SPDX-License-Identifier: MIT
/*
 * spanctl's view of restarts (ctl/render.c): the generation and the time
 * since the last start, in its table and its Prometheus output, from the
 * real daemon restarted under the service-manager stand-in
 * (tests/lib/svcmgr.c) with its arena kept.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/e2e/ctl_fixture.h"
#include "tests/lib/daemon.h"
#include "tests/lib/prom.h"
#include "tests/lib/svcmgr.h"
#include "tests/lib/testlib.h"

static struct svcmgr m;

static void setup(void)
{
	svcmgr_init(&m);
}

static void teardown(void)
{
	svcmgr_fini(&m);
}

/* spanctl --socket <the stand-in's> @a1 [@a2]: its output, exit 0. */
static void ctl(const char *a1, const char *a2, struct run *r)
{
	char opt[160];
	const char *argv[] = { opt, a1, a2, NULL };

	snprintf(opt, sizeof(opt), "--socket=%s", m.sock);
	run_prog(spanctl_bin(), NULL, argv, r);
	ck_assert_msg(r->code == 0, "spanctl exited %d: %s", r->code, r->err);
	ck_assert_str_eq(r->err, "");
}

static double value_of(const struct prom_exposition *e, const char *name)
{
	for (int i = 0; i < e->n; i++)
		if (!strcmp(e->s[i].name, name))
			return e->s[i].value;
	ck_abort_msg("no sample %s", name);
	return 0;
}

/* The table's generation line says @gen. */
static void table_says(long long gen)
{
	char want[64];
	struct run r;

	ctl("stats", NULL, &r);
	snprintf(want, sizeof(want), "generation       %lld, ", gen);
	ck_assert_msg(strstr(r.out, want), "no '%s' in:\n%s", want, r.out);
	ck_assert_ptr_nonnull(strstr(r.out, " s since the last restart\n"));
	run_free(&r);
}

START_TEST(test_generation_in_table)
{
	svcmgr_start(&m, NULL);
	table_says(1);
	svcmgr_kill(&m, SIGKILL);
	svcmgr_start(&m, NULL);
	table_says(2);
	svcmgr_kill(&m, SIGTERM);
	svcmgr_start(&m, NULL);
	table_says(3);
}
END_TEST

START_TEST(test_generation_in_prometheus)
{
	struct prom_exposition e;
	json_t *st;
	struct run r;

	svcmgr_start(&m, NULL);
	svcmgr_kill(&m, SIGKILL);
	svcmgr_start(&m, NULL);
	ctl("stats", "--prometheus", &r);
	prom_parse(r.out, &e);
	ck_assert(value_of(&e, "spanheap_generation") == 2);
	ck_assert(value_of(&e, "spanheap_since_restart_seconds") >= 0);
	ck_assert(value_of(&e, "spanheap_restart_timestamp_seconds") >=
		  value_of(&e, "spanheap_arena_start_timestamp_seconds"));
	ck_assert_ptr_nonnull(strstr(r.out,
				     "# TYPE spanheap_generation gauge\n"));
	run_free(&r);
	/* The same figures as MemStats, in seconds. */
	ctl("stats", "--json", &r);
	st = parse_one_object(r.out);
	ck_assert(value_of(&e, "spanheap_restart_timestamp_seconds") ==
		  (double)jnum(st, "restarted") / 1e9);
	ck_assert(value_of(&e, "spanheap_arena_start_timestamp_seconds") ==
		  (double)jnum(st, "started") / 1e9);
	ck_assert_int_lt(jnum(st, "started"), jnum(st, "restarted"));
	json_decref(st);
	run_free(&r);
}
END_TEST

static Suite *spanctl_restart_suite(void)
{
	Suite *s = suite_create("spanctl_restart");
	TCase *tc = tcase_create("generation");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_generation_in_table);
	tcase_add_test(tc, test_generation_in_prometheus);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(spanctl_restart_suite)
