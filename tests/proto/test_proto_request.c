// SPDX-License-Identifier: MIT
/*
 * Tests for proto/proto.c's check of a request: proto_check_request()
 * takes exactly the requests proto/proto.h describes: the exact size of
 * every type and nothing a byte shorter or longer, every flag, count and
 * range at its limits and just past them, with the error the daemon
 * answers (-EBADMSG, -EOPNOTSUPP).
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

/* ---- the size of a request ---- */

START_TEST(test_request_exact_size)
{
	for (uint16_t t = 1; t <= PROTO_TYPE_MAX; t++) {
		size_t len = make_request(t);

		expect_req(len, 0, "as built");
		expect_req(len - 1, -EBADMSG, "a byte short");
		expect_req(len + 1, -EBADMSG, "a byte long");
		expect_req(len + 8, -EBADMSG, "8 bytes long");
		if (len != sizeof(struct proto_hdr))
			expect_req(sizeof(struct proto_hdr), -EBADMSG,
				   "as a bare header");
		expect_req(PROTO_REQUEST_MAX + 1, -EBADMSG, "oversized");
	}
}
END_TEST

/* SPAN_FREE's length follows from its count, 1..PROTO_MAX_BATCH. */
START_TEST(test_free_count)
{
	make_request(PROTO_SPAN_FREE);
	for (uint32_t n = 1; n <= PROTO_MAX_BATCH; n++) {
		m.free.count = n;
		expect_req(proto_free_size(n), 0, "of its count");
		expect_req(proto_free_size(n) - 1, -EBADMSG, "a byte short");
		expect_req(proto_free_size(n) + 1, -EBADMSG, "a byte long");
		expect_req(proto_free_size(n - 1), -EBADMSG, "an offset short");
		expect_req(proto_free_size(n + 1), -EBADMSG, "an offset long");
	}
	m.free.count = 0;
	expect_req(proto_free_size(0), -EBADMSG, "of no offsets");
	m.free.count = PROTO_MAX_BATCH + 1;
	expect_req(proto_free_size(PROTO_MAX_BATCH + 1), -EBADMSG,
		   "of a batch too many");
	m.free.count = UINT32_MAX;
	expect_req(proto_free_size(PROTO_MAX_BATCH), -EBADMSG,
		   "of count UINT32_MAX");
	/* Too short for its count. */
	m.free.count = 1;
	expect_req(proto_free_size(0) - 1, -EBADMSG, "cut in its head");
	expect_req(sizeof(struct proto_hdr), -EBADMSG, "of a bare header");
}
END_TEST

/* ---- the fields of a request ---- */

START_TEST(test_hello_fields)
{
	size_t len = make_request(PROTO_HELLO);

	m.hello.flags = PROTO_HELLO_MAGAZINE;
	expect_req(len, 0, "asking for a magazine");
	m.hello.flags = 2;
	expect_req(len, -EBADMSG, "with flags 2");
	m.hello.flags = 0x80000000u;
	expect_req(len, -EBADMSG, "with flags 0x80000000");
	m.hello.flags = 0;
	m.hello.pad = 1;
	expect_req(len, -EBADMSG, "with pad 1");
	m.hello.pad = 0x80000000u;
	expect_req(len, -EBADMSG, "with pad 0x80000000");
	m.hello.pad = 0;
	/* The name is the daemon's to clean up: any 64 bytes, no NUL. */
	memset(m.hello.name, 0xff, sizeof(m.hello.name));
	expect_req(len, 0, "with a name of 64 bytes 0xff");
	memset(m.hello.name, 0, sizeof(m.hello.name));
	expect_req(len, 0, "with no name");
	m.hello.flags = PROTO_HELLO_KEEP | PROTO_HELLO_MAGAZINE;
	expect_req(len, 0, "keeping its session");
	m.hello.flags = 8;
	expect_req(len, -EBADMSG, "with flags 8");
}
END_TEST

/* A valid resume of a session, in m. */
static size_t make_resume(void)
{
	size_t len = make_request(PROTO_HELLO);

	m.hello.flags = PROTO_HELLO_RESUME | PROTO_HELLO_MAGAZINE;
	m.hello.next_seq = 9;
	m.hello.session.arena_id[1] = 0x1234;
	m.hello.session.owner = 0x401;
	m.hello.session.client_id = 3;
	m.hello.session.secret[0] = 1;
	m.hello.mag_took[MAG_NCLASSES - 1] = 0xffffffffu;
	return len;
}

/* A fresh HELLO says nothing of a session; a resume names one. */
START_TEST(test_hello_resume_fields)
{
	size_t len = make_resume();

	expect_req(len, 0, "resuming");
	m.hello.flags = PROTO_HELLO_RESUME;
	expect_req(len, 0, "resuming without a magazine");
	m.hello.session.secret[0] = 0;
	expect_req(len, 0, "resuming with a zero secret (the daemon's check)");
	len = make_resume();
	m.hello.next_seq = 0;
	expect_req(len, -EBADMSG, "resuming at seq 0");
	len = make_resume();
	m.hello.session.owner = 0;
	expect_req(len, -EBADMSG, "resuming owner 0");
	len = make_resume();
	m.hello.session.client_id = 0;
	expect_req(len, -EBADMSG, "resuming client 0");
	len = make_resume();
	m.hello.session.arena_id[1] = 0;
	expect_req(len, -EBADMSG, "resuming in arena 0");
	len = make_resume();
	m.hello.pad = 1;
	expect_req(len, -EBADMSG, "resuming with pad 1");
	/* Without the flag, every resume field must be zero. */
	len = make_resume();
	m.hello.flags = PROTO_HELLO_MAGAZINE;
	expect_req(len, -EBADMSG, "fresh with a token");
	len = make_request(PROTO_HELLO);
	m.hello.next_seq = 1;
	expect_req(len, -EBADMSG, "fresh with a seq");
	len = make_request(PROTO_HELLO);
	m.hello.mag_took[0] = 1;
	expect_req(len, -EBADMSG, "fresh with a take count");
	len = make_request(PROTO_HELLO);
	m.hello.session.secret[1] = 1;
	expect_req(len, -EBADMSG, "fresh with a secret");
	len = make_resume();
	expect_req(len - 4, -EBADMSG, "a resume cut short");
	expect_req(len + 4, -EBADMSG, "a resume too long");
}
END_TEST

/* WELCOME's token is the client's, its generation counts from 1. */
START_TEST(test_welcome_fields)
{
	size_t len = make_reply(PROTO_HELLO);

	expect_rep(len, PROTO_HELLO, 0, "as built");
	m.welcome.generation = 0;
	expect_rep(len, PROTO_HELLO, -EBADMSG, "of generation 0");
	len = make_reply(PROTO_HELLO);
	m.welcome.session.client_id = 2;
	expect_rep(len, PROTO_HELLO, -EBADMSG, "with another client's token");
	len = make_reply(PROTO_HELLO);
	m.welcome.session.owner = 0;
	expect_rep(len, PROTO_HELLO, -EBADMSG, "with owner 0");
	len = make_reply(PROTO_HELLO);
	m.welcome.session.arena_id[0] = 0;
	expect_rep(len, PROTO_HELLO, -EBADMSG, "in arena 0");
	len = make_reply(PROTO_HELLO);
	m.welcome.pad = 1;
	expect_rep(len, PROTO_HELLO, -EBADMSG, "with pad 1");
	len = make_reply(PROTO_HELLO);
	m.welcome.grace_ms = 0;
	expect_rep(len, PROTO_HELLO, 0, "of no grace");
	len = make_reply(PROTO_HELLO);
	m.hdr.status = -ESTALE;
	expect_rep(sizeof(m.hdr), PROTO_HELLO, 0, "bare, -ESTALE");
}
END_TEST

START_TEST(test_alloc_fields)
{
	static const uint32_t bad_counts[] = { 0, PROTO_MAX_BATCH + 1,
					       UINT32_MAX };
	static const uint32_t bad_flags[] = { 0x2, PROTO_ALLOC_ZERO | 0x4,
					      0x80000000u, UINT32_MAX };
	size_t len = make_request(PROTO_SPAN_ALLOC);

	m.alloc.count = PROTO_MAX_BATCH;
	expect_req(len, 0, "of a full batch");
	for (size_t i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]);
	     i++) {
		m.alloc.count = bad_counts[i];
		expect_req(len, -EBADMSG, "of a bad count");
	}
	m.alloc.count = 1;
	m.alloc.flags = PROTO_ALLOC_ZERO;
	expect_req(len, 0, "with PROTO_ALLOC_ZERO");
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		m.alloc.flags = bad_flags[i];
		expect_req(len, -EBADMSG, "with an unknown flag");
	}
	/* Pages are the heap's to refuse. */
	m.alloc.flags = 0;
	m.alloc.npages = 0;
	expect_req(len, 0, "of 0 pages");
	m.alloc.npages = UINT64_MAX;
	expect_req(len, 0, "of UINT64_MAX pages");
}
END_TEST

START_TEST(test_free_flags)
{
	static const uint32_t bad[] = { 0x2, PROTO_FREE_CHECK | 0x4,
					0x80000000u, UINT32_MAX };
	size_t len = make_request(PROTO_SPAN_FREE);

	m.free.flags = PROTO_FREE_CHECK;
	expect_req(len, 0, "with PROTO_FREE_CHECK");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.free.flags = bad[i];
		expect_req(len, -EBADMSG, "with an unknown flag");
	}
	/* Offsets are the heap's to refuse. */
	m.free.flags = 0;
	m.free.off[0] = 1;
	expect_req(len, 0, "of an unaligned offset");
}
END_TEST

START_TEST(test_clients_fields)
{
	static const uint32_t bad[] = { 0, PROTO_CLIENTS_PAGE + 1,
					UINT32_MAX };
	size_t len = make_request(PROTO_CLIENTS);

	m.clients.max = PROTO_CLIENTS_PAGE;
	expect_req(len, 0, "of a full page");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.clients.max = bad[i];
		expect_req(len, -EBADMSG, "of a bad max");
	}
	m.clients.max = 1;
	m.clients.after = UINT32_MAX;
	expect_req(len, 0, "after UINT32_MAX");
}
END_TEST

/*
 * The messages that carry a name: 1..PROTO_OBJ_NAME_MAX bytes, the
 * datagram exactly the head and the name.
 */
static size_t name_at(uint16_t type)
{
	switch (type) {
	case PROTO_OBJ_CREATE:
		return offsetof(struct proto_obj_create, name);
	case PROTO_OBJ_GET:
		return offsetof(struct proto_obj_get, name);
	default:
		return offsetof(struct proto_obj_delete, name);
	}
}

static void set_namelen(uint16_t type, uint16_t n)
{
	/* The length sits just before the padding that ends each head. */
	switch (type) {
	case PROTO_OBJ_CREATE:
		m.obj_create.namelen = n;
		break;
	case PROTO_OBJ_GET:
		m.obj_get.namelen = n;
		break;
	default:
		m.obj_delete.namelen = n;
	}
}

START_TEST(test_obj_name_sizes)
{
	static const uint16_t types[] = { PROTO_OBJ_CREATE, PROTO_OBJ_GET,
					  PROTO_OBJ_DELETE };

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint16_t t = types[i];
		size_t head = name_at(t);

		make_request(t);
		memset(m.buf + head, 'n', PROTO_OBJ_NAME_MAX);
		for (uint16_t n = 1; n <= PROTO_OBJ_NAME_MAX; n += 127) {
			set_namelen(t, n);
			expect_req(head + n, 0, "with a name");
			expect_req(head + n - 1, -EBADMSG, "a byte short");
			expect_req(head + n + 1, -EBADMSG, "a byte long");
		}
		set_namelen(t, PROTO_OBJ_NAME_MAX);
		expect_req(head + PROTO_OBJ_NAME_MAX, 0, "with the longest name");
		set_namelen(t, 0);
		expect_req(head, -EBADMSG, "with an empty name");
		set_namelen(t, PROTO_OBJ_NAME_MAX + 1);
		expect_req(head + PROTO_OBJ_NAME_MAX + 1, -EBADMSG,
			   "with a name too long");
		set_namelen(t, UINT16_MAX);
		expect_req(head + PROTO_OBJ_NAME_MAX, -EBADMSG,
			   "with a huge name length");
	}
}
END_TEST

START_TEST(test_obj_fields)
{
	size_t len = make_request(PROTO_OBJ_CREATE);

	m.obj_create.flags = PROTO_OBJ_ZERO;
	m.obj_create.size = UINT64_MAX;
	expect_req(len, 0, "of ZERO, any size");
	m.obj_create.flags = PROTO_OBJ_EVICTABLE;
	expect_req(len, 0, "of EVICTABLE");
	m.obj_create.flags = PROTO_OBJ_ZERO | PROTO_OBJ_EVICTABLE;
	expect_req(len, 0, "of ZERO and EVICTABLE");
	m.obj_create.size = 0;
	expect_req(len, -EBADMSG, "of size 0");
	m.obj_create.size = 1;
	m.obj_create.flags = PROTO_OBJ_FLAGS + 1;
	expect_req(len, -EBADMSG, "of an unknown flag");
	m.obj_create.flags = 0x80000000u;
	expect_req(len, -EBADMSG, "of the top flag");
	m.obj_create.flags = 0;
	m.obj_create.pad = 1;
	expect_req(len, -EBADMSG, "with padding set");

	len = make_request(PROTO_OBJ_SEAL);
	m.obj_id.id = 0;
	expect_req(len, -EBADMSG, "of id 0");
	m.obj_id.id = UINT64_MAX;
	expect_req(len, 0, "of the largest id");
	len = make_request(PROTO_OBJ_RELEASE);
	m.obj_id.id = 0;
	expect_req(len, -EBADMSG, "of id 0");

	len = make_request(PROTO_OBJ_GET);
	m.obj_get.timeout_ms = INT32_MIN;
	expect_req(len, 0, "waiting forever");
	m.obj_get.timeout_ms = INT32_MAX;
	expect_req(len, 0, "waiting long");
	m.obj_get.timeout_ms = 0;
	expect_req(len, 0, "not waiting");
	m.obj_get.pad = 1;
	expect_req(len, -EBADMSG, "with padding set");

	len = make_request(PROTO_OBJ_DELETE);
	for (int i = 0; i < 3; i++) {
		m.obj_delete.pad[i] = 1;
		expect_req(len, -EBADMSG, "with padding set");
		m.obj_delete.pad[i] = 0;
	}

	len = make_request(PROTO_OBJECTS);
	m.objects.max = PROTO_OBJECTS_PAGE;
	m.objects.after = UINT64_MAX;
	expect_req(len, 0, "of a full page");
	m.objects.max = 0;
	expect_req(len, -EBADMSG, "of max 0");
	m.objects.max = PROTO_OBJECTS_PAGE + 1;
	expect_req(len, -EBADMSG, "of a max too large");
	m.objects.max = 1;
	m.objects.pad = 1;
	expect_req(len, -EBADMSG, "with padding set");
}
END_TEST

START_TEST(test_mag_fields)
{
	size_t len = make_request(PROTO_MAG_KICK);

	expect_req(len, 0, "as built");
	m.mag.cls = 1;
	expect_req(len, -EBADMSG, "with a class");
	m.mag.cls = 0;
	m.mag.flags = PROTO_MAG_EMPTY;
	expect_req(len, -EBADMSG, "with flags");
	len = make_request(PROTO_MAG_REFILL);
	for (uint32_t c = 0; c < MAG_NCLASSES; c++) {
		m.mag.cls = c;
		m.mag.flags = PROTO_MAG_EMPTY;
		expect_req(len, 0, "of an empty class");
		m.mag.flags = PROTO_MAG_FULL;
		expect_req(len, 0, "of a full stack");
		m.mag.flags = PROTO_MAG_EMPTY | PROTO_MAG_FULL;
		expect_req(len, 0, "of both");
	}
	m.mag.cls = MAG_NCLASSES;
	expect_req(len, -EBADMSG, "of class MAG_NCLASSES");
	m.mag.cls = UINT32_MAX;
	expect_req(len, -EBADMSG, "of class UINT32_MAX");
	m.mag.cls = 0;
	m.mag.flags = 0;
	expect_req(len, -EBADMSG, "of no reason");
	m.mag.flags = 0x4;
	expect_req(len, -EBADMSG, "of flags 0x4");
	m.mag.flags = PROTO_MAG_FULL | 0x80000000u;
	expect_req(len, -EBADMSG, "of flags 0x80000002");
}
END_TEST

static Suite *proto_request_suite(void)
{
	Suite *s = suite_create("proto_request");
	TCase *tc;

	tc = tcase_create("request_size");
	tcase_add_test(tc, test_request_exact_size);
	tcase_add_test(tc, test_free_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("request_fields");
	tcase_add_test(tc, test_hello_fields);
	tcase_add_test(tc, test_hello_resume_fields);
	tcase_add_test(tc, test_welcome_fields);
	tcase_add_test(tc, test_alloc_fields);
	tcase_add_test(tc, test_free_flags);
	tcase_add_test(tc, test_clients_fields);
	tcase_add_test(tc, test_obj_name_sizes);
	tcase_add_test(tc, test_obj_fields);
	tcase_add_test(tc, test_mag_fields);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(proto_request_suite)
