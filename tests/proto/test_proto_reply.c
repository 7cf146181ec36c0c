// SPDX-License-Identifier: MIT
/*
 * Tests for proto/proto.c's check of a reply: proto_check_reply()
 * takes exactly the replies proto/proto.h describes, to the request
 * they answer: the exact size, the header, an error bare or in full,
 * every count and flag at its limits and just past them, and nothing at
 * all to a request that gets no reply.
 *
 * The valid messages come from tests/proto/msgs.c, built by hand from
 * proto.h's structs: the table is checked against them, not against
 * itself.  This suite links only the protocol.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "proto/magazine.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/proto/msgs.h"

START_TEST(test_obj_reply)
{
	static const uint16_t types[] = { PROTO_OBJ_CREATE, PROTO_OBJ_GET };

	for (size_t i = 0; i < 2; i++) {
		size_t len = make_reply(types[i]);

		expect_rep(len, types[i], 0, "of an object");
		m.obj_rep.id = 0;
		expect_rep(len, types[i], -EBADMSG, "of id 0");
		make_reply(types[i]);
		m.obj_rep.size = 0;
		expect_rep(len, types[i], -EBADMSG, "of size 0");
		make_reply(types[i]);
		m.obj_rep.npages = 0;
		expect_rep(len, types[i], -EBADMSG, "of no pages");
	}
}
END_TEST

START_TEST(test_reply_exact_size)
{
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		size_t len = make_reply(t);

		if (!has_reply(t))
			continue;

		expect_rep(len, t, 0, "as built");
		expect_rep(len - 1, t, -EBADMSG, "a byte short");
		expect_rep(len + 1, t, -EBADMSG, "a byte long");
		/* Unless the reply is a header and nothing more. */
		if (len > sizeof(struct proto_hdr))
			expect_rep(sizeof(struct proto_hdr), t, -EBADMSG,
				   "bare, of status 0");
		for (size_t cut = 0; cut < sizeof(struct proto_hdr); cut++)
			expect_rep(cut, t, -EBADMSG, "cut in its header");
	}
}
END_TEST

START_TEST(test_reply_header)
{
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		size_t len = make_reply(t);

		if (!has_reply(t))
			continue;

		m.hdr.seq = SEQ + 1;
		expect_rep(len, t, -EBADMSG, "to a later seq");
		m.hdr.seq = SEQ - 1;
		expect_rep(len, t, -EBADMSG, "to an earlier seq");
		m.hdr.seq = SEQ;
		m.hdr.magic = PROTO_MAGIC ^ 1;
		expect_rep(len, t, -EBADMSG, "with a bad magic");
		m.hdr.magic = PROTO_MAGIC;
		m.hdr.status = 1;
		expect_rep(len, t, -EBADMSG, "of status 1");
		m.hdr.status = 0;
		m.hdr.type = t;
		expect_rep(len, t, -EBADMSG, "without PROTO_REPLY");
		m.hdr.type = (uint16_t)((t % PROTO_TYPE_MAX + 1) | PROTO_REPLY);
		expect_rep(len, t, -EBADMSG, "of another type");
		m.hdr.type = t | PROTO_REPLY;
		expect_rep(len, t, 0, "as built");
		expect_rep(PROTO_REPLY_MAX + 1, t, -EBADMSG, "oversized");
	}
}
END_TEST

/* An error may come as a bare header, to a request of any type. */
START_TEST(test_reply_bare_error)
{
	static const uint16_t unknown[] = { 0, PROTO_TYPE_MAX + 1, 0x7fff };

	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		if (!has_reply(t))
			continue;
		make_reply(t);
		m.hdr.status = -EINVAL;
		expect_rep(sizeof(m.hdr), t, 0, "bare, of an error");
		m.hdr.status = INT32_MIN;
		expect_rep(sizeof(m.hdr), t, 0, "bare, of INT32_MIN");
		expect_rep(sizeof(m.hdr) + 1, t, -EBADMSG,
			   "of an error, a byte long");
	}
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		memset(&m, 0, sizeof(m));
		proto_hdr_init(&m.hdr, unknown[i] | PROTO_REPLY, SEQ);
		m.hdr.status = -EOPNOTSUPP;
		expect_rep(sizeof(m.hdr), unknown[i], 0, "bare, of an error");
		expect_rep(sizeof(m.hdr) + 8, unknown[i], -EBADMSG,
			   "of an error, longer");
		m.hdr.status = 0;
		expect_rep(sizeof(m.hdr), unknown[i], -EBADMSG, "of status 0");
	}
}
END_TEST

/* Or as the full reply. */
START_TEST(test_reply_full_error)
{
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		size_t len = make_reply(t);

		if (!has_reply(t))
			continue;

		/* As the daemon sends them: nothing allocated or freed. */
		if (t == PROTO_SPAN_ALLOC) {
			m.alloc_rep.count = 0;
			len = proto_alloc_reply_size(0);
		} else if (t == PROTO_SPAN_FREE) {
			m.free_rep.count = 0;
		}
		m.hdr.status = -ENOMEM;
		expect_rep(len, t, 0, "of an error, in full");
		expect_rep(len + 1, t, -EBADMSG, "of an error, a byte long");
	}
}
END_TEST

/* MAG_KICK has no reply: none is valid, not even a bare error. */
START_TEST(test_no_reply)
{
	static const int32_t status[] = { 0, -EINVAL, -EBADMSG, INT32_MIN };

	for (size_t i = 0; i < sizeof(status) / sizeof(status[0]); i++) {
		memset(&m, 0, sizeof(m));
		proto_hdr_init(&m.hdr, PROTO_MAG_KICK | PROTO_REPLY, SEQ);
		m.hdr.status = status[i];
		for (size_t len = 0; len <= sizeof(struct proto_mag); len++)
			expect_rep(len, PROTO_MAG_KICK, -EBADMSG, "at all");
	}
}
END_TEST

START_TEST(test_alloc_reply_count)
{
	make_reply(PROTO_SPAN_ALLOC);
	for (uint32_t n = 0; n <= PROTO_MAX_BATCH; n++) {
		m.alloc_rep.count = n;
		expect_rep(proto_alloc_reply_size(n), PROTO_SPAN_ALLOC, 0,
			   "of its count");
		expect_rep(proto_alloc_reply_size(n) + 1, PROTO_SPAN_ALLOC,
			   -EBADMSG, "a byte long");
		expect_rep(proto_alloc_reply_size(n + 1), PROTO_SPAN_ALLOC,
			   -EBADMSG, "a span long");
	}
	m.alloc_rep.count = PROTO_MAX_BATCH + 1;
	expect_rep(proto_alloc_reply_size(PROTO_MAX_BATCH + 1),
		   PROTO_SPAN_ALLOC, -EBADMSG, "of a batch too many");
	m.alloc_rep.count = UINT32_MAX;
	expect_rep(proto_alloc_reply_size(PROTO_MAX_BATCH), PROTO_SPAN_ALLOC,
		   -EBADMSG, "of count UINT32_MAX");
	m.alloc_rep.count = 0;
	expect_rep(proto_alloc_reply_size(0) - 1, PROTO_SPAN_ALLOC, -EBADMSG,
		   "cut in its head");
}
END_TEST

/* STATS and CLIENTS: chunks of 0..PROTO_CHUNK_MAX bytes, PROTO_MORE. */
START_TEST(test_chunk_reply)
{
	static const uint16_t types[] = { PROTO_STATS, PROTO_CLIENTS };
	static const uint32_t bad_flags[] = { 0x2, PROTO_MORE | 0x4,
					      0x80000000u };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint16_t t = types[i];

		make_reply(t);
		m.stats_rep.len = 0;
		expect_rep(proto_stats_reply_size(0), t, 0, "empty");
		m.stats_rep.len = PROTO_CHUNK_MAX;
		expect_rep(proto_stats_reply_size(PROTO_CHUNK_MAX), t, 0,
			   "of a full chunk");
		expect_rep(proto_stats_reply_size(PROTO_CHUNK_MAX - 1), t,
			   -EBADMSG, "a byte short of its len");
		m.stats_rep.len = PROTO_CHUNK_MAX + 1;
		expect_rep(proto_stats_reply_size(PROTO_CHUNK_MAX), t,
			   -EBADMSG, "of len PROTO_CHUNK_MAX + 1");
		m.stats_rep.len = UINT32_MAX;
		expect_rep(proto_stats_reply_size(PROTO_CHUNK_MAX), t,
			   -EBADMSG, "of len UINT32_MAX");
		m.stats_rep.len = 5;
		expect_rep(proto_stats_reply_size(4), t, -EBADMSG,
			   "a byte short of its len");
		expect_rep(proto_stats_reply_size(6), t, -EBADMSG,
			   "a byte past its len");
		m.stats_rep.flags = PROTO_MORE;
		expect_rep(proto_stats_reply_size(5), t, 0, "with PROTO_MORE");
		for (size_t j = 0; j < sizeof(bad_flags) / sizeof(bad_flags[0]);
		     j++) {
			m.stats_rep.flags = bad_flags[j];
			expect_rep(proto_stats_reply_size(5), t, -EBADMSG,
				   "with an unknown flag");
		}
		expect_rep(proto_stats_reply_size(0) - 1, t, -EBADMSG,
			   "cut in its head");
	}
}
END_TEST

/* Progress (PROTO_MORE) only while a pass runs: never with an error. */
START_TEST(test_scavenge_reply)
{
	size_t len = make_reply(PROTO_SCAVENGE);

	m.scav_rep.flags = PROTO_MORE;
	expect_rep(len, PROTO_SCAVENGE, 0, "of progress");
	m.scav_rep.hdr.status = -EINTR;
	expect_rep(len, PROTO_SCAVENGE, -EBADMSG, "of progress and an error");
	m.scav_rep.flags = 0;
	expect_rep(len, PROTO_SCAVENGE, 0, "of an error");
	m.scav_rep.hdr.status = 0;
	m.scav_rep.flags = 0x2;
	expect_rep(len, PROTO_SCAVENGE, -EBADMSG, "with an unknown flag");
	m.scav_rep.flags = PROTO_MORE | 0x80000000u;
	expect_rep(len, PROTO_SCAVENGE, -EBADMSG, "with an unknown flag");
	m.scav_rep.flags = 0;
	m.scav_rep.pad = 1;
	expect_rep(len, PROTO_SCAVENGE, -EBADMSG, "with pad 1");
}
END_TEST

static Suite *proto_reply_suite(void)
{
	Suite *s = suite_create("proto_reply");
	TCase *tc;

	tc = tcase_create("reply");
	tcase_add_test(tc, test_reply_exact_size);
	tcase_add_test(tc, test_reply_header);
	tcase_add_test(tc, test_reply_bare_error);
	tcase_add_test(tc, test_reply_full_error);
	tcase_add_test(tc, test_alloc_reply_count);
	tcase_add_test(tc, test_chunk_reply);
	tcase_add_test(tc, test_scavenge_reply);
	tcase_add_test(tc, test_obj_reply);
	tcase_add_test(tc, test_no_reply);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(proto_reply_suite)
