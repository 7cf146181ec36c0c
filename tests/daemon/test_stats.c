// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/stats.c in process: the MemStats text is built once
 * per change and lists at most STATS_LIST_MAX clients, the first by id,
 * and CLIENTS pages go in id order even after the ids have wrapped.  The
 * stats file the real daemon writes is tested in tests/e2e/test_stats.c.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/daemon/inproc.h"
#include "tests/lib/testlib.h"

static struct daemon d;

static void setup_inproc(void)
{
	inproc_start(&d, UINT64_C(64) << 20, NULL, false);
}

static void teardown_inproc(void)
{
	inproc_stop(&d);
}

static json_t *parse(const struct blob *b)
{
	json_t *j = json_loads(b->text, 0, NULL);

	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(strlen(b->text), b->len);
	return j;
}

static json_int_t jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "no integer %s", key);
	return json_integer_value(v);
}

/* Unchanged, the text is the same blob; any change makes a new one. */
START_TEST(test_cache_once_per_change)
{
	struct blob *a, *b, *c;
	json_t *j;
	int peer;

	inproc_welcomed(&d, "one", &peer);
	a = stats_get(&d.stats);
	b = stats_get(&d.stats);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(a->refs, 3);	/* the cache's and ours */
	stats_changed(&d.stats);
	c = stats_get(&d.stats);
	ck_assert_ptr_ne(c, a);
	ck_assert_uint_eq(a->refs, 2);	/* still good for its holders */
	blob_put(c);
	/* Refusals are counted by the accept path, which tells no one. */
	d.server.refused++;
	c = stats_get(&d.stats);
	j = parse(c);
	ck_assert_int_eq(jint(json_object_get(j, "clients"), "refused"), 1);
	json_decref(j);
	blob_put(c);
	blob_put(a);
	blob_put(b);
	close(peer);
}
END_TEST

/* Every client list, of clients of ids @first, @first + 1, ... */
static void assert_list(const json_t *list, uint32_t first, size_t n)
{
	ck_assert_uint_eq(json_array_size(list), n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(jint(json_array_get(list, i), "id"),
				 (json_int_t)(uint32_t)(first + i));
}

/*
 * MemStats lists the first STATS_LIST_MAX clients by id, also once the
 * ids have wrapped and connection order is no longer id order; not
 * welcomed connections are not counted.
 */
START_TEST(test_list_first_by_id)
{
	enum { N = 80 };
	int peer[N + 1];
	json_t *j, *cl;
	struct blob *b;

	/* Ids UINT32_MAX - 9 .. UINT32_MAX, then 1, 2, ... (0 is skipped). */
	d.clients.next_id = UINT32_MAX - 9;
	for (int i = 0; i < N; i++)
		inproc_welcomed(&d, "wrapped", &peer[i]);
	inproc_accept(&d, &peer[N]);	/* no HELLO */
	b = stats_get(&d.stats);
	j = parse(b);
	cl = json_object_get(j, "clients");
	ck_assert_int_eq(jint(cl, "count"), N);
	ck_assert_int_eq(jint(cl, "listed"), STATS_LIST_MAX);
	assert_list(json_object_get(cl, "list"), 1, STATS_LIST_MAX);
	json_decref(j);
	blob_put(b);
	for (int i = 0; i <= N; i++)
		close(peer[i]);
}
END_TEST

/* CLIENTS pages: in id order, @max at most, "next" chains them. */
START_TEST(test_pages_by_id)
{
	enum { N = 80 };
	uint32_t after = 0, want = 1;
	int peer[N], pages = 0;
	struct blob *b;
	json_t *j;

	/*
	 * Ids UINT32_MAX - 9 .. UINT32_MAX - 1, then 1 .. 71 (0 and the
	 * scavenger's UINT32_MAX are never a client's).
	 */
	d.clients.next_id = UINT32_MAX - 9;
	for (int i = 0; i < N; i++)
		inproc_welcomed(&d, "paged", &peer[i]);
	do {
		const json_t *list, *c;
		size_t i;

		b = stats_clients_page(&d.stats, after, 10);
		j = parse(b);
		ck_assert_uint_eq(json_object_size(j), 2);
		list = json_object_get(j, "clients");
		ck_assert_uint_le(json_array_size(list), 10);
		json_array_foreach(list, i, c) {
			ck_assert_int_eq(jint(c, "id"), want);
			want = want == 71 ? UINT32_MAX - 9 : want + 1;
		}
		after = (uint32_t)jint(j, "next");
		if (after)
			ck_assert_uint_eq(json_array_size(list), 10);
		json_decref(j);
		blob_put(b);
		pages++;
	} while (after);
	ck_assert_uint_eq(want, UINT32_MAX);
	/* The last page is full, and says it is the last: no empty one. */
	ck_assert_int_eq(pages, 8);
	for (int i = 0; i < N; i++)
		close(peer[i]);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup_inproc, teardown_inproc);
	tcase_add_test(tc, test_cache_once_per_change);
	tcase_add_test(tc, test_list_first_by_id);
	tcase_add_test(tc, test_pages_by_id);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(stats_suite)
