// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/charge.c's tables: the rules (sorted, the last of a
 * uid kept, replaced whole), the objects charged by uid, and what a
 * quota leaves, with what connections hold given by a fake hook; the
 * real connections are tested end to end, in tests/e2e/test_quota.c.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "daemon/charge.h"
#include "daemon/core.h"
#include "daemon/options.h"
#include "tests/lib/testlib.h"

static struct core core;
static struct charge ch;
static uint64_t spans[4];	/* by uid % 4: what the hook says */

static uint64_t uid_spans(void *ctx, uint32_t uid)
{
	(void)ctx;
	return spans[uid % 4];
}

/* The rules of quota file @text, with no command line. */
static struct quota_rules *rules(const char *text)
{
	char *argv[] = { (char *)(uintptr_t)"spanheapd", NULL };
	struct quota_rules *q = NULL;
	struct options o;
	char err[256];

	ck_assert_int_eq(options_parse(1, argv, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(quota_rules_parse(&o, "test", text, strlen(text), &q,
					   NULL),
			 0);
	return q;
}

static void setup(void)
{
	core_init(&core);
	memset(spans, 0, sizeof(spans));
	charge_init(&ch, &core,
		    &(struct charge_hooks){ .uid_span_bytes = uid_spans });
}

static void teardown(void)
{
	charge_fini(&ch);
	core_fini(&core);
}

START_TEST(test_no_rules)
{
	ck_assert_uint_eq(charge_uid_quota(&ch, 0), 0);
	ck_assert_uint_eq(charge_uid_quota(&ch, 1000), 0);
	ck_assert_uint_eq(charge_client_quota(&ch), 0);
}
END_TEST

START_TEST(test_rules_replaced_whole)
{
	charge_set_rules(&ch, rules("client 1M\nuid 1000 8K\nuid 5 100\n"));
	ck_assert_uint_eq(charge_uid_quota(&ch, 1000), 8192);
	ck_assert_uint_eq(charge_uid_quota(&ch, 5), 100);
	ck_assert_uint_eq(charge_uid_quota(&ch, 6), 0);
	ck_assert_uint_eq(charge_client_quota(&ch), 1 << 20);
	charge_set_rules(&ch, rules("uid 5 200\n"));
	ck_assert_uint_eq(charge_uid_quota(&ch, 1000), 0);
	ck_assert_uint_eq(charge_uid_quota(&ch, 5), 200);
	ck_assert_uint_eq(charge_client_quota(&ch), 0);
	charge_set_rules(&ch, NULL);
	ck_assert_uint_eq(charge_uid_quota(&ch, 5), 0);
}
END_TEST

START_TEST(test_objects_by_uid)
{
	charge_set_rules(&ch, rules("uid 7 12K\n"));
	daemon_heap_lock(&core);
	ck_assert_int_eq(charge_obj_add(&ch, 7, 2 * 4096), 0);
	ck_assert_int_eq(charge_obj_add(&ch, 9, 4096), 0);
	ck_assert_int_eq(charge_obj_add(&ch, 3, 4096), 0);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 7), 2 * 4096);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 9), 4096);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 8), 0);
	for (size_t i = 1; i < ch.nuids; i++)
		ck_assert_uint_lt(ch.uids[i - 1].uid, ch.uids[i].uid);
	charge_obj_sub(&ch, 7, 4096);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 7), 4096);
	/* Never below zero, and an unknown uid is nothing. */
	charge_obj_sub(&ch, 7, 10 * 4096);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 7), 0);
	charge_obj_sub(&ch, 12345, 4096);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 12345), 0);
	daemon_heap_unlock(&core);
}
END_TEST

START_TEST(test_many_uids)
{
	daemon_heap_lock(&core);
	for (uint32_t u = 0; u < 1000; u++)
		ck_assert_int_eq(charge_obj_add(&ch, (u * 7919) % 1000, u + 1),
				 0);
	ck_assert_uint_eq(ch.nuids, 1000);
	for (uint32_t u = 0; u < 1000; u++)
		ck_assert_uint_eq(charge_uid_bytes_locked(&ch, (u * 7919) % 1000),
				  u + 1);
	daemon_heap_unlock(&core);
}
END_TEST

START_TEST(test_room_and_refusals)
{
	charge_set_rules(&ch, rules("client 16K\nuid 1 40K\n"));
	daemon_heap_lock(&core);
	/* uid 2 has no uid quota: only the connection's counts. */
	ck_assert_uint_eq(charge_room_locked(&ch, 2, 4096), 3 * 4096);
	ck_assert_int_eq(charge_spans_locked(&ch, 2, 4096, 3 * 4096), 0);
	ck_assert_int_eq(charge_spans_locked(&ch, 2, 4096, 3 * 4096 + 1),
			 -EDQUOT);
	ck_assert_uint_eq(ch.refused_client, 1);
	/* Past it already (a lowered quota): no room, not a wrap. */
	ck_assert_uint_eq(charge_room_locked(&ch, 2, 8 * 4096), 0);
	/* uid 1: its other connections hold 8 pages, its objects 1. */
	spans[1] = 8 * 4096;
	ck_assert_int_eq(charge_obj_add(&ch, 1, 4096), 0);
	ck_assert_uint_eq(charge_uid_bytes_locked(&ch, 1), 9 * 4096);
	ck_assert_uint_eq(charge_room_locked(&ch, 1, 0), 4096);
	ck_assert_int_eq(charge_spans_locked(&ch, 1, 0, 4096), 0);
	ck_assert_int_eq(charge_spans_locked(&ch, 1, 0, 2 * 4096), -EDQUOT);
	ck_assert_int_eq(charge_object_locked(&ch, 1, 4096), 0);
	ck_assert_int_eq(charge_object_locked(&ch, 1, 2 * 4096), -EDQUOT);
	ck_assert_uint_eq(ch.refused_uid, 2);
	/* No quotas at all: no bound. */
	charge_set_rules(&ch, NULL);
	ck_assert_uint_eq(charge_room_locked(&ch, 1, UINT64_MAX / 2),
			  UINT64_MAX);
	ck_assert_int_eq(charge_spans_locked(&ch, 1, 1 << 30, 1ull << 40), 0);
	daemon_heap_unlock(&core);
}
END_TEST

START_TEST(test_json)
{
	json_t *j, *u;

	charge_set_rules(&ch, rules("client 4K\nuid 1 100\nuid 2 8K\n"));
	ch.file = "/etc/spanheapd/quotas.conf";
	ch.file_rules = 2;
	ch.file_bad_lines = 1;
	daemon_heap_lock(&core);
	ck_assert_int_eq(charge_obj_add(&ch, 1, 50), 0);
	j = charge_json_locked(&ch);
	daemon_heap_unlock(&core);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "client")), 4096);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "uid_rules")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "file_bad_lines")),
			 1);
	ck_assert_str_eq(json_string_value(json_object_get(j, "file")),
			 "/etc/spanheapd/quotas.conf");
	u = json_array_get(json_object_get(j, "uids"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "uid")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "quota")), 100);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "bytes")), 50);
	json_decref(j);
}
END_TEST

static Suite *charge_suite(void)
{
	Suite *s = suite_create("charge");
	TCase *tc = tcase_create("tables");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_rules);
	tcase_add_test(tc, test_rules_replaced_whole);
	tcase_add_test(tc, test_objects_by_uid);
	tcase_add_test(tc, test_many_uids);
	tcase_add_test(tc, test_room_and_refusals);
	tcase_add_test(tc, test_json);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(charge_suite)
