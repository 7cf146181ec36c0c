// SPDX-License-Identifier: MIT
/*
 * Tests for spanheap_objects_json() (libclient/object.c) against the fake
 * daemon of tests/libclient/fake.h: the OBJECTS pages walked by their
 * cursor and joined into one list, and every malformed page refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/spanheap.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

/* ---- the list ---- */

struct page {
	uint64_t after;
	const char *text;
};

/* The pages the fake sends, by connection and cursor; set before start. */
static const struct page *const *pages;
static unsigned int npagesets;

static bool hook_pages(struct fake *f, int cfd, const union fake_req *req)
{
	const struct proto_objects *m = &req->objects;
	const struct page *p;
	size_t len, half;

	if (req->hdr.type != PROTO_OBJECTS)
		return false;
	if (m->max != PROTO_OBJECTS_PAGE || m->pad)
		fake_fail(f, "OBJECTS asks for less than a full page");
	if ((unsigned int)f->conn >= npagesets)
		return false;
	for (p = pages[f->conn]; p->text; p++)
		if (p->after == m->after)
			break;
	if (!p->text) {
		fake_refuse(cfd, req, -EOPNOTSUPP);
		return true;
	}
	/* In two chunks, as the daemon may send it. */
	len = strlen(p->text);
	half = len / 2;
	fake_chunk(cfd, req, p->text, half, true);
	fake_chunk(cfd, req, p->text + half, len - half, false);
	return true;
}

/* The entries of the brief's example, and tricky names. */
#define FRAME1                                                               \
	"{\"name\": \"frame-1\", \"id\": 4294967297, \"size\": 1000000, "    \
	"\"pages\": 245, \"state\": \"sealed\", \"refs\": 2, \"creator\": "  \
	"{\"pid\": 1234, \"uid\": 1000, \"name\": \"producer\"}, "           \
	"\"age_ns\": 12345678}"
#define TRICKY "{\"name\":\"a]\\\"}{[\\\\\",\"id\":5}"
#define DELETED "{\"name\":\"\",\"id\":9,\"state\":\"deleted\"}"

static const struct page walk[] = {
	{ 0, "{\"objects\": [ " FRAME1 ", " TRICKY " ],\n \"next\": 7}" },
	{ 7, "{\"objects\":[],\"next\":1099511627776}" },
	{ 1099511627776, " { \"objects\" : [" DELETED "] , \"next\" : 0 } " },
	{ 0, NULL },
};
static const struct page empty[] = {
	{ 0, "{\"objects\":[],\"next\":0}" },
	{ 0, NULL },
};

START_TEST(test_objects_pages)
{
	static const struct page *const sets[] = { walk, empty };
	char *json = NULL;
	struct spanheap *h;

	pages = sets;
	npagesets = 2;
	fk.hook = hook_pages;
	fk.nconn = 2;
	h = fake_connect();
	ck_assert_int_eq(spanheap_objects_json(h, &json), 0);
	ck_assert_str_eq(json, "{\"objects\":[" FRAME1 ", " TRICKY ","
			       DELETED "]}");
	free(json);
	spanheap_close(h);

	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	ck_assert_int_eq(spanheap_objects_json(h, &json), 0);
	ck_assert_str_eq(json, "{\"objects\":[]}");
	free(json);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJECTS], 3 + 1);
	ck_assert_uint_eq(fk.last_len[PROTO_OBJECTS],
			  sizeof(struct proto_objects));
}
END_TEST

/* One malformed walk a connection; the last refuses OBJECTS. */
static const struct page no_next[] = { { 0, "{\"objects\":[]}" }, { 0, NULL } };
static const struct page not_up[] = {
	{ 0, "{\"objects\":[{\"id\":1}],\"next\":5}" },
	{ 5, "{\"objects\":[{\"id\":2}],\"next\":5}" },
	{ 0, NULL },
};
static const struct page trailing[] = {
	{ 0, "{\"objects\":[],\"next\":0} x" }, { 0, NULL },
};
static const struct page no_key[] = {
	{ 0, "{\"clients\":[],\"next\":0}" }, { 0, NULL },
};
static const struct page unbalanced[] = {
	{ 0, "{\"objects\":[{\"id\":1],\"next\":0}" }, { 0, NULL },
};
static const struct page open_string[] = {
	{ 0, "{\"objects\":[{\"name\":\"abc}],\"next\":0}" }, { 0, NULL },
};
static const struct page huge_next[] = {
	{ 0, "{\"objects\":[],\"next\":18446744073709551616}" }, { 0, NULL },
};
static const struct page negative_next[] = {
	{ 0, "{\"objects\":[],\"next\":-1}" }, { 0, NULL },
};
static const struct page not_array[] = {
	{ 0, "{\"objects\":{},\"next\":0}" }, { 0, NULL },
};
static const struct page refused[] = { { 0, NULL } };

START_TEST(test_objects_bad_pages)
{
	static const struct page *const sets[] = {
		no_next,     not_up,	    trailing,	   no_key,
		unbalanced,  open_string,   huge_next,	   negative_next,
		not_array,   refused,
	};
	const int n = (int)(sizeof(sets) / sizeof(sets[0]));
	static char sentinel;
	char *json = &sentinel;
	struct spanheap *h;
	int i;

	pages = sets;
	npagesets = (unsigned int)n;
	fk.hook = hook_pages;
	fk.nconn = n;
	fake_start();
	for (i = 0; i < n; i++) {
		int want = i == n - 1 ? -EOPNOTSUPP : -EBADMSG;

		ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
		ck_assert_msg(spanheap_objects_json(h, &json) == want,
			      "bad walk %d accepted", i);
		ck_assert_ptr_eq(json, &sentinel);
		/* The connection stays in step. */
		ck_assert_int_eq(spanheap_gc(h, NULL), 0);
		spanheap_close(h);
	}
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_GC], (unsigned int)n);
}
END_TEST

START_TEST(test_objects_invalid)
{
	char *json = (char *)&json;
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_objects_json(NULL, &json), -EINVAL);
	ck_assert_int_eq(spanheap_objects_json(h, NULL), -EINVAL);
	ck_assert_ptr_eq(json, &json);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_OBJECTS], 0);
}
END_TEST

/* The fake's own list: what create and delete made of it. */
START_TEST(test_objects_of_the_fake)
{
	struct spanheap_obj a, b;
	struct spanheap *h;
	char *json, want[128];

	h = fake_connect();
	ck_assert_int_eq(spanheap_obj_create(h, "a", 1, 0, &a), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "b", 1, 0, &b), 0);
	ck_assert_int_eq(spanheap_obj_delete(h, "a"), 0);
	ck_assert_int_eq(spanheap_objects_json(h, &json), 0);
	snprintf(want, sizeof(want),
		 "{\"objects\":[{\"name\":\"\",\"id\":%llu},"
		 "{\"name\":\"b\",\"id\":%llu}]}",
		 (unsigned long long)a.id, (unsigned long long)b.id);
	ck_assert_str_eq(json, want);
	free(json);
	spanheap_close(h);
	fake_join();
}
END_TEST

static void reset(void)
{
	pages = NULL;
	npagesets = 0;
}

static Suite *object_list_suite(void)
{
	Suite *s = suite_create("object_list");
	TCase *tc = fake_tcase("list");

	tcase_add_checked_fixture(tc, reset, NULL);
	tcase_add_test(tc, test_objects_pages);
	tcase_add_test(tc, test_objects_bad_pages);
	tcase_add_test(tc, test_objects_invalid);
	tcase_add_test(tc, test_objects_of_the_fake);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(object_list_suite)
