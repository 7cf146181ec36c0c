// SPDX-License-Identifier: MIT
/*
 * Tests for spanheap_clients_json() (libclient/control.c) against the
 * fake daemon of tests/libclient/fake.h: the request it sends, the page
 * and "next" it returns, and the pages it refuses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/spanheap.h"
#include "shm/proto.h"
#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

/* Written where a call must not write. */
static char sentinel;

/* The page the fake sends, by the request's after. */
static const char *page_for(uint32_t after)
{
	switch (after) {
	case 0:
		return "{\"clients\":[{\"id\":3},{\"id\":5}],\"next\":5}";
	case 5:
		/* A name that looks like the key does not fool it. */
		return "{\"clients\":[{\"id\":9,\"name\":\"\\\"next\\\":7}\"}],"
		       "\"next\":0}";
	case 100:
		return "{\"clients\":[]}";
	case 101:
		return "{\"clients\":[],\"next\":101}";
	case 102:
		return "{\"clients\":[],\"next\":4294967296}";
	case 103:
		return "{\"clients\":[],\"next\":200} ";
	default:
		return NULL;
	}
}

static bool hook_clients(struct fake *f, int cfd, const union fake_req *req)
{
	struct proto_clients m;
	const char *text;

	if (req->hdr.type != PROTO_CLIENTS)
		return false;
	memcpy(&m, req, sizeof(m));
	if (m.max != PROTO_CLIENTS_PAGE)
		fake_fail(f, "CLIENTS asks for less than a full page");
	text = page_for(m.after);
	if (!text) {
		fake_refuse(cfd, req, -EOPNOTSUPP);
		return true;
	}
	/* Two chunks, as the daemon may send. */
	fake_chunk(cfd, req, text, 4, true);
	fake_chunk(cfd, req, text + 4, strlen(text) - 4, false);
	return true;
}

START_TEST(test_clients_pages)
{
	struct spanheap *h;
	uint32_t next = 77;
	char *json;

	fk.hook = hook_clients;
	h = fake_connect();
	ck_assert_int_eq(spanheap_clients_json(h, 0, &next, &json), 0);
	ck_assert_str_eq(json, page_for(0));
	ck_assert_uint_eq(next, 5);
	free(json);
	ck_assert_int_eq(spanheap_clients_json(h, 5, &next, &json), 0);
	ck_assert_str_eq(json, page_for(5));
	ck_assert_uint_eq(next, 0);
	free(json);
	/* @ret_next may be NULL. */
	ck_assert_int_eq(spanheap_clients_json(h, 0, NULL, &json), 0);
	free(json);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_CLIENTS], 3);
}
END_TEST

/*
 * A page without a "next", one that does not go up, one past 32 bits,
 * or with text after the object: -EBADMSG, outputs untouched, and the
 * connection stays in step.
 */
START_TEST(test_clients_bad_next)
{
	char *json = &sentinel;
	uint32_t next = 77;
	struct spanheap *h;

	fk.hook = hook_clients;
	h = fake_connect();
	for (uint32_t after = 100; after <= 103; after++) {
		ck_assert_int_eq(spanheap_clients_json(h, after, &next, &json),
				 -EBADMSG);
		ck_assert_ptr_eq(json, &sentinel);
		ck_assert_uint_eq(next, 77);
	}
	/* A daemon without CLIENTS. */
	ck_assert_int_eq(spanheap_clients_json(h, 1, &next, &json),
			 -EOPNOTSUPP);
	ck_assert_ptr_eq(json, &sentinel);
	ck_assert_int_eq(spanheap_clients_json(h, 0, &next, &json), 0);
	ck_assert_uint_eq(next, 5);
	free(json);
	spanheap_close(h);
	fake_join();
}
END_TEST

static Suite *client_clients_suite(void)
{
	Suite *s = suite_create("client-clients");
	TCase *tc = fake_tcase("clients");

	tcase_add_test(tc, test_clients_pages);
	tcase_add_test(tc, test_clients_bad_next);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(client_clients_suite)
