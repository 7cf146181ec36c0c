// SPDX-License-Identifier: MIT
/*
 * Tests for proto/proto.c: the table of messages is complete and its
 * sizes fit the receive buffers, and proto_check_request() and
 * proto_check_reply() take exactly the messages proto/proto.h describes:
 * the exact size of every type and nothing a byte shorter or longer,
 * every flag, count and range at its limits and just past them, with
 * the error the daemon answers (-EBADMSG, -EPROTONOSUPPORT, -EOPNOTSUPP).
 *
 * The valid messages are built here, by hand, from proto.h's structs:
 * the table is checked against them, not against itself.  This suite
 * links only the protocol.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "proto/magazine.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"

#define SEQ 41

/* Room for any message and then some; zeros past what a test writes. */
union msg {
	struct proto_hdr hdr;
	struct proto_hello hello;
	struct proto_alloc alloc;
	struct proto_free free;
	struct proto_clients clients;
	struct proto_obj_create obj_create;
	struct proto_obj_id obj_id;
	struct proto_obj_get obj_get;
	struct proto_obj_delete obj_delete;
	struct proto_objects objects;
	struct proto_mag mag;
	struct proto_obj_reply obj_rep;
	struct proto_welcome welcome;
	struct proto_alloc_reply alloc_rep;
	struct proto_free_reply free_rep;
	struct proto_stats_reply stats_rep;
	struct proto_scavenge_reply scav_rep;
	struct proto_gc_reply gc_rep;
	char buf[PROTO_REPLY_MAX + 64];
};

static union msg m;

/*
 * A valid request of @type in m, zeros past it.  Returns its length, 0
 * for a type this test does not know: every type must get one here.
 */
static size_t make_request(uint16_t type)
{
	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, type, SEQ);
	switch (type) {
	case PROTO_HELLO:
		memcpy(m.hello.name, "test", 4);
		return sizeof(m.hello);
	case PROTO_SPAN_ALLOC:
		m.alloc.npages = 1;
		m.alloc.count = 1;
		return sizeof(m.alloc);
	case PROTO_SPAN_FREE:
		m.free.count = 1;
		m.free.off[0] = 4096;
		return proto_free_size(1);
	case PROTO_STATS:
	case PROTO_SCAVENGE:
	case PROTO_GC:
	case PROTO_BYE:
		return sizeof(m.hdr);
	case PROTO_CLIENTS:
		m.clients.max = 1;
		return sizeof(m.clients);
	case PROTO_OBJ_CREATE:
		m.obj_create.size = 1;
		m.obj_create.namelen = 3;
		memcpy(m.obj_create.name, "obj", 3);
		return offsetof(struct proto_obj_create, name) + 3;
	case PROTO_OBJ_SEAL:
	case PROTO_OBJ_RELEASE:
		m.obj_id.id = 1;
		return sizeof(m.obj_id);
	case PROTO_OBJ_GET:
		m.obj_get.timeout_ms = -1;
		m.obj_get.namelen = 3;
		memcpy(m.obj_get.name, "obj", 3);
		return offsetof(struct proto_obj_get, name) + 3;
	case PROTO_OBJ_DELETE:
		m.obj_delete.namelen = 3;
		memcpy(m.obj_delete.name, "obj", 3);
		return offsetof(struct proto_obj_delete, name) + 3;
	case PROTO_OBJECTS:
		m.objects.max = 1;
		return sizeof(m.objects);
	case PROTO_MAG_KICK:
		return sizeof(m.mag);
	case PROTO_MAG_REFILL:
		m.mag.cls = MAG_NCLASSES - 1;
		m.mag.flags = PROTO_MAG_EMPTY;
		return sizeof(m.mag);
	default:
		return 0;
	}
}

/* Does a request of @type get a reply?  All but MAG_KICK do. */
static bool has_reply(uint16_t type)
{
	return !proto_msg(type)->no_reply;
}

/* A valid successful reply to a request of @type in m; as above. */
static size_t make_reply(uint16_t type)
{
	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, type | PROTO_REPLY, SEQ);
	switch (type) {
	case PROTO_HELLO:
		m.welcome.page_size = 4096;
		m.welcome.max_batch = PROTO_MAX_BATCH;
		m.welcome.arena_size = 1 << 30;
		m.welcome.client_id = 1;
		m.welcome.session.arena_id[0] = 7;
		m.welcome.session.owner = 1;
		m.welcome.session.client_id = 1;
		m.welcome.grace_ms = 30000;
		m.welcome.generation = 1;
		return sizeof(m.welcome);
	case PROTO_SPAN_ALLOC:
		m.alloc_rep.count = 1;
		m.alloc_rep.spans[0].off = 4096;
		m.alloc_rep.spans[0].npages = 1;
		return proto_alloc_reply_size(1);
	case PROTO_SPAN_FREE:
		m.free_rep.count = 1;
		return sizeof(m.free_rep);
	case PROTO_STATS:
	case PROTO_CLIENTS:
	case PROTO_OBJECTS:
		m.stats_rep.len = 2;
		memcpy(m.stats_rep.data, "{}", 2);
		return proto_stats_reply_size(2);
	case PROTO_SCAVENGE:
		m.scav_rep.released = 8192;
		return sizeof(m.scav_rep);
	case PROTO_GC:
		m.gc_rep.freed_spans = 3;
		m.gc_rep.pause_ns = 1000;
		return sizeof(m.gc_rep);
	case PROTO_OBJ_CREATE:
	case PROTO_OBJ_GET:
		m.obj_rep.id = 1;
		m.obj_rep.off = 4096;
		m.obj_rep.size = 1;
		m.obj_rep.npages = 1;
		return sizeof(m.obj_rep);
	case PROTO_OBJ_SEAL:
	case PROTO_OBJ_RELEASE:
	case PROTO_OBJ_DELETE:
	case PROTO_MAG_REFILL:
		return sizeof(m.hdr);
	default:
		return 0;	/* MAG_KICK too: it has none */
	}
}

static void expect_req(size_t len, int want, const char *what)
{
	int r = proto_check_request(&m, len);

	ck_assert_msg(r == want, "%s %s of %zu bytes: %d, not %d",
		      proto_type_name(m.hdr.type), what, len, r, want);
}

static void expect_rep(size_t len, uint16_t type, int want, const char *what)
{
	int r = proto_check_reply(&m, len, type, SEQ);

	ck_assert_msg(r == want, "%s reply %s of %zu bytes: %d, not %d",
		      proto_type_name(type), what, len, r, want);
}

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
			      "test_proto.c has no %s message", e->name);
		ck_assert_msg(!e->no_reply || !make_reply(t),
			      "test_proto.c has a reply to %s", e->name);
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

/* ---- replies ---- */

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

TEST_MAIN(proto_suite)
