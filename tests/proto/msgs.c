// SPDX-License-Identifier: MIT
/*
 * The protocol tests' valid messages: one of every type, request and
 * reply, so that a test of any rule starts from bytes the protocol
 * accepts.  test_every_type_has_entry fails on a type missing here.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "proto/magazine.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/proto/msgs.h"

union msg m;

size_t make_request(uint16_t type)
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
bool has_reply(uint16_t type)
{
	return !proto_msg(type)->no_reply;
}

/* A valid successful reply to a request of @type in m; as above. */
size_t make_reply(uint16_t type)
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

void expect_req(size_t len, int want, const char *what)
{
	int r = proto_check_request(&m, len);

	ck_assert_msg(r == want, "%s %s of %zu bytes: %d, not %d",
		      proto_type_name(m.hdr.type), what, len, r, want);
}

void expect_rep(size_t len, uint16_t type, int want, const char *what)
{
	int r = proto_check_reply(&m, len, type, SEQ);

	ck_assert_msg(r == want, "%s reply %s of %zu bytes: %d, not %d",
		      proto_type_name(type), what, len, r, want);
}
