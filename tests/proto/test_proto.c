// SPDX-License-Identifier: MIT
/*
 * Tests for proto/proto.c's table and header check: the table of
 * messages is complete and its sizes fit the receive buffers, and
 * proto_check_request() takes a header only with the magic, status and
 * version proto/proto.h describes and a type it knows, with the error
 * the daemon answers (-EBADMSG, -EPROTONOSUPPORT, -EOPNOTSUPP).  The
 * requests' sizes and fields are test_proto_request.c's, the replies
 * test_proto_reply.c's.
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

/* ---- the table ---- */

START_TEST(test_every_type_has_entry)
{
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		const struct proto_msg *e = proto_msg(t);

		ck_assert_msg(e != NULL, "type %u has no entry", t);
		ck_assert_uint_eq(e->type, t);
		ck_assert_ptr_nonnull(e->name);
		ck_assert_uint_gt(strlen(e->name), 0);
		ck_assert_str_ne(e->name, "?");
		ck_assert_str_eq(proto_type_name(t), e->name);
		ck_assert_str_eq(proto_type_name(t | PROTO_REPLY), e->name);
		ck_assert_msg(make_request(t) && (make_reply(t) || e->no_reply),
			      "tests/proto/msgs.c has no %s message", e->name);
		ck_assert_msg(!e->no_reply || !make_reply(t),
			      "tests/proto/msgs.c has a reply to %s", e->name);
	}
}
END_TEST

START_TEST(test_no_other_entries)
{
	for (uint32_t t = 0; t <= UINT16_MAX; t++) {
		uint16_t req = (uint16_t)(t & ~PROTO_REPLY);

		if (t >= 1 && t <= PROTO_TYPE_MAX)
			continue;
		ck_assert_msg(proto_msg((uint16_t)t) == NULL,
			      "type %#x has an entry", t);
		if (req < 1 || req > PROTO_TYPE_MAX)
			ck_assert_str_eq(proto_type_name((uint16_t)t), "?");
	}
}
END_TEST

START_TEST(test_types_unique)
{
	for (uint16_t a = 1; a <= PROTO_TYPE_MAX; a++)
		for (uint16_t b = a + 1; b <= PROTO_TYPE_MAX; b++) {
			const struct proto_msg *ea = proto_msg(a);
			const struct proto_msg *eb = proto_msg(b);

			ck_assert_ptr_ne(ea, eb);
			ck_assert_uint_ne(ea->type, eb->type);
			ck_assert_str_ne(ea->name, eb->name);
		}
}
END_TEST

/* A size rule that proto_check_*() can apply without reading too far. */
static void check_rule(const struct proto_size *s, const char *name,
		       const char *which)
{
	ck_assert_msg(s->head >= sizeof(struct proto_hdr),
		      "%s %s: a head of %u bytes", name, which, s->head);
	if (!s->elem)
		return;
	ck_assert_msg(s->count_size == 1 || s->count_size == 2 ||
			      s->count_size == 4,
		      "%s %s: a count of %u bytes", name, which, s->count_size);
	ck_assert_msg(s->count_at >= sizeof(struct proto_hdr) &&
			      s->count_at + s->count_size <= s->head,
		      "%s %s: the count at %u is not in the head", name, which,
		      s->count_at);
	ck_assert_uint_le(s->min, s->max);
	if (s->count_size < 4)
		ck_assert_uint_lt(s->max, UINT32_C(1) << (8 * s->count_size));
}

/* Every size fits the buffers, and the largest is what they hold. */
START_TEST(test_sizes_fit_buffers)
{
	size_t req_max = 0, rep_max = 0;

	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		const struct proto_msg *e = proto_msg(t);
		size_t req = proto_size_max(&e->req);
		size_t rep = proto_size_max(&e->rep);

		check_rule(&e->req, e->name, "request");
		ck_assert_uint_le(req, PROTO_REQUEST_MAX);
		ck_assert_uint_ge(make_request(t), e->req.head);
		ck_assert_uint_le(make_request(t), req);
		if (!has_reply(t)) {
			/* No size rule: no reply is valid (test_no_reply). */
			ck_assert_uint_eq(rep, 0);
			continue;
		}
		check_rule(&e->rep, e->name, "reply");
		ck_assert_uint_le(rep, PROTO_REPLY_MAX);
		ck_assert_uint_ge(make_reply(t), e->rep.head);
		ck_assert_uint_le(make_reply(t), rep);
		if (req > req_max)
			req_max = req;
		if (rep > rep_max)
			rep_max = rep;
	}
	ck_assert_uint_eq(req_max, PROTO_REQUEST_MAX);
	ck_assert_uint_eq(rep_max, PROTO_REPLY_MAX);
}
END_TEST

/* ---- the header of a request ---- */

START_TEST(test_header_short)
{
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		make_request(t);
		for (size_t len = 0; len < sizeof(struct proto_hdr); len++)
			expect_req(len, -EBADMSG, "cut in its header");
	}
}
END_TEST

START_TEST(test_header_magic)
{
	static const uint32_t bad[] = { PROTO_MAGIC ^ 1, 0x50485053, 0,
					UINT32_MAX };

	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t len = make_request(t);

			m.hdr.magic = bad[i];
			expect_req(len, -EBADMSG, "with a bad magic");
			/* The magic is checked before the version. */
			m.hdr.version = PROTO_VERSION + 1;
			expect_req(len, -EBADMSG, "with bad magic and version");
		}
}
END_TEST

/* Requests carry status 0. */
START_TEST(test_header_status)
{
	static const int32_t bad[] = { -1, 1, INT32_MIN, INT32_MAX };

	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t len = make_request(t);

			m.hdr.status = bad[i];
			expect_req(len, -EBADMSG, "with a status");
		}
}
END_TEST

START_TEST(test_header_version)
{
	static const uint16_t bad[] = { 0, PROTO_VERSION - 1,
					PROTO_VERSION + 1, UINT16_MAX };

	ck_assert_uint_eq(PROTO_VERSION, 5);
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++)
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			size_t len = make_request(t);

			m.hdr.version = bad[i];
			expect_req(len, -EPROTONOSUPPORT, "of another version");
			/* Before the size and the fields. */
			expect_req(len + 1, -EPROTONOSUPPORT,
				   "of another version, too long");
			m.hdr.type = PROTO_TYPE_MAX + 1;
			expect_req(len, -EPROTONOSUPPORT,
				   "of another version and type");
		}
}
END_TEST

/* Of any length: the type is checked before the size. */
START_TEST(test_unknown_type)
{
	static const uint16_t types[] = {
		0,		PROTO_TYPE_MAX + 1, 0x7fff, PROTO_REPLY,
		PROTO_WELCOME,	PROTO_SPAN_ALLOC | PROTO_REPLY,
		PROTO_TYPE_MAX | PROTO_REPLY, UINT16_MAX,
	};
	static const size_t lens[] = {
		sizeof(struct proto_hdr), sizeof(struct proto_hdr) + 1,
		sizeof(struct proto_hello), PROTO_REQUEST_MAX,
		PROTO_REQUEST_MAX + 1, sizeof(union msg),
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			memset(&m, 0, sizeof(m));
			proto_hdr_init(&m.hdr, types[i], SEQ);
			ck_assert_msg(proto_check_request(&m, lens[j]) ==
					      -EOPNOTSUPP,
				      "type %#x of %zu bytes not refused",
				      types[i], lens[j]);
		}
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_test(tc, test_every_type_has_entry);
	tcase_add_test(tc, test_no_other_entries);
	tcase_add_test(tc, test_types_unique);
	tcase_add_test(tc, test_sizes_fit_buffers);
	suite_add_tcase(s, tc);

	tc = tcase_create("header");
	tcase_add_test(tc, test_header_short);
	tcase_add_test(tc, test_header_magic);
	tcase_add_test(tc, test_header_status);
	tcase_add_test(tc, test_header_version);
	tcase_add_test(tc, test_unknown_type);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(proto_suite)
