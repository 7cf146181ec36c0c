// SPDX-License-Identifier: MIT
/*
 * Tests for libclient/control.c, the requests about the daemon as a
 * whole, against the fake daemon of tests/libclient/fake.h: STATS in
 * chunks, refused or too big; SCAVENGE and GC; how long STATS and a
 * SCAVENGE with progress replies wait; and spanheap_clients_json(): the
 * request it sends, the page and "next" it returns, and the pages it
 * refuses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/spanheap.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

/* libclient/control.c's STATS_MAX: the most STATS text it takes. */
#define STATS_CAP (UINT64_C(64) << 20)

/* Written where a call must not write. */
static char sentinel;

/* The first STATS in three chunks, the second as one empty chunk. */
static bool hook_stats_chunks(struct fake *f, int cfd,
			      const union fake_req *req)
{
	static char text[PROTO_CHUNK_MAX];

	if (req->hdr.type != PROTO_STATS || f->nreq[PROTO_STATS] > 2)
		return false;
	if (f->nreq[PROTO_STATS] == 2) {
		fake_chunk(cfd, req, "", 0, false);
		return true;
	}
	memset(text, 'a', sizeof(text));
	text[0] = '[';
	fake_chunk(cfd, req, text, sizeof(text), true);
	memset(text, 'b', sizeof(text));
	fake_chunk(cfd, req, text, sizeof(text), true);
	fake_chunk(cfd, req, "c]", 2, false);
	return true;
}

START_TEST(test_stats_chunks)
{
	struct spanheap *h;
	char *json = NULL;
	size_t i, len = 2 * PROTO_CHUNK_MAX + 2;

	fk.hook = hook_stats_chunks;
	h = fake_connect();
	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_uint_eq(strlen(json), len);
	ck_assert_int_eq(json[0], '[');
	for (i = 1; i < len - 2; i++) {
		if (json[i] != (i < PROTO_CHUNK_MAX ? 'a' : 'b'))
			ck_abort_msg("byte %zu is wrong", i);
	}
	ck_assert_str_eq(json + len - 2, "c]");
	free(json);

	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_str_eq(json, "");
	free(json);
	/* Still in step: the default single chunk. */
	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_str_eq(json, FAKE_STATS);
	free(json);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_STATS], 3);
}
END_TEST

static bool hook_stats_refused(struct fake *f, int cfd,
			       const union fake_req *req)
{
	(void)f;
	if (req->hdr.type != PROTO_STATS)
		return false;
	fake_refuse(cfd, req, -EIO);
	return true;
}

START_TEST(test_stats_refused)
{
	struct spanheap *h;
	char *json = (char *)&sentinel;

	fk.hook = hook_stats_refused;
	h = fake_connect();
	ck_assert_int_eq(spanheap_stats_json(h, &json), -EIO);
	ck_assert_ptr_eq(json, &sentinel);
	ck_assert_int_eq(spanheap_scavenge(h, NULL), 0);
	spanheap_close(h);
	fake_join();
}
END_TEST

/* A chunk more than the library takes, and one after it. */
static bool hook_stats_huge(struct fake *f, int cfd,
			    const union fake_req *req)
{
	static char text[PROTO_CHUNK_MAX];
	size_t i;

	if (req->hdr.type != PROTO_STATS || f->nreq[PROTO_STATS] != 1)
		return false;
	memset(text, ' ', sizeof(text));
	for (i = 0; i <= STATS_CAP / PROTO_CHUNK_MAX; i++)
		fake_chunk(cfd, req, text, sizeof(text), true);
	fake_chunk(cfd, req, text, 1, false);
	return true;
}

START_TEST(test_stats_too_big)
{
	struct spanheap *h;
	char *json = (char *)&sentinel;

	fk.hook = hook_stats_huge;
	h = fake_connect();
	ck_assert_int_eq(spanheap_stats_json(h, &json), -EMSGSIZE);
	ck_assert_ptr_eq(json, &sentinel);
	/* The chunk after the one too many was drained. */
	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_str_eq(json, FAKE_STATS);
	free(json);
	spanheap_close(h);
	fake_join();
}
END_TEST

START_TEST(test_scavenge_gc)
{
	struct spanheap *h;
	uint64_t released = 0, freed = 0;

	h = fake_connect();
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(released, FAKE_RELEASED);
	ck_assert_int_eq(spanheap_scavenge(h, NULL), 0);
	ck_assert_int_eq(spanheap_gc(h, &freed), 0);
	ck_assert_uint_eq(freed, FAKE_GC_FREED);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SCAVENGE], 2);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 2);
}
END_TEST

/* ---- time-outs ---- */

/* The time-out of the tests that expect one to expire. */
#define SHORT_MS 300

/* A STATS reply whose chunks stop coming. */
static bool hook_stats_stall(struct fake *f, int cfd,
			     const union fake_req *req)
{
	(void)f;
	if (req->hdr.type != PROTO_STATS)
		return false;
	fake_chunk(cfd, req, "[", 1, true);
	return true;
}

START_TEST(test_stats_stall)
{
	struct spanheap *h = NULL;
	char *json = (char *)&sentinel;

	fk.hook = hook_stats_stall;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	ck_assert_int_eq(spanheap_stats_json(h, &json), -ETIMEDOUT);
	ck_assert_ptr_eq(json, &sentinel);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 0);
}
END_TEST

/*
 * A SCAVENGE answered with PROGRESS_N progress replies PROGRESS_GAP_MS
 * apart, longer in all than PROGRESS_TIMEOUT_MS, then the final one; the
 * second SCAVENGE's progress stops after three replies.
 */
#define PROGRESS_N 16
#define PROGRESS_GAP_MS 50
#define PROGRESS_TIMEOUT_MS 400

static bool hook_scavenge_progress(struct fake *f, int cfd,
				   const union fake_req *req)
{
	struct proto_scavenge_reply rep;
	bool stall = f->nreq[PROTO_SCAVENGE] == 2;
	int i;

	if (req->hdr.type != PROTO_SCAVENGE)
		return false;
	for (i = 0; i < (stall ? 3 : PROGRESS_N); i++) {
		fake_sleep_ms(PROGRESS_GAP_MS);
		memset(&rep, 0, sizeof(rep));
		fake_reply_hdr(&rep.hdr, req, 0);
		rep.flags = PROTO_MORE;
		rep.released = (uint64_t)i * PG;
		fake_send(cfd, &rep, sizeof(rep), -1, 0);
	}
	if (stall)
		return true;
	memset(&rep, 0, sizeof(rep));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.released = FAKE_RELEASED;
	fake_send(cfd, &rep, sizeof(rep), -1, 0);
	return true;
}

START_TEST(test_scavenge_progress)
{
	struct spanheap *h = NULL;
	uint64_t released = 0, freed = 0;

	_Static_assert(PROGRESS_N * PROGRESS_GAP_MS > PROGRESS_TIMEOUT_MS,
		       "the pass must outlast the time-out");
	fk.hook = hook_scavenge_progress;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(PROGRESS_TIMEOUT_MS, &h), 0);
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(released, FAKE_RELEASED);
	/* In step: the next reply is GC's. */
	ck_assert_int_eq(spanheap_gc(h, &freed), 0);
	ck_assert_uint_eq(freed, FAKE_GC_FREED);

	released = 99;
	ck_assert_int_eq(spanheap_scavenge(h, &released), -ETIMEDOUT);
	ck_assert_uint_eq(released, 99);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SCAVENGE], 2);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
}
END_TEST

/* ---- CLIENTS ---- */

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

static Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc;

	tc = fake_tcase("control");
	tcase_add_test(tc, test_stats_chunks);
	tcase_add_test(tc, test_stats_refused);
	tcase_add_test(tc, test_stats_too_big);
	tcase_add_test(tc, test_scavenge_gc);
	suite_add_tcase(s, tc);

	tc = fake_tcase("timeouts");
	tcase_add_test(tc, test_stats_stall);
	tcase_add_test(tc, test_scavenge_progress);
	suite_add_tcase(s, tc);

	tc = fake_tcase("clients");
	tcase_add_test(tc, test_clients_pages);
	tcase_add_test(tc, test_clients_bad_next);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(control_suite)
