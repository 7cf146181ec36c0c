/* SPDX-License-Identifier: MIT */
/*
 * The valid messages the protocol's tests start from, built by hand
 * from proto/proto.h's structs, and the checks that compare
 * proto_check_request() and proto_check_reply() with what a test wants.
 * Every message is built in the one buffer m, zeros past it: a
 * test changes a field and checks the same bytes again.
 */
#ifndef SPANHEAP_TESTS_PROTO_MSGS_H
#define SPANHEAP_TESTS_PROTO_MSGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

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

extern union msg m;

/*
 * A valid request of @type in m, zeros past it.  Returns its length, 0
 * for a type these tests do not know: every type must get one here.
 */
size_t make_request(uint16_t type);

/* Does a request of @type get a reply?  All but MAG_KICK do. */
bool has_reply(uint16_t type);

/* A valid successful reply to a request of @type in m; as above. */
size_t make_reply(uint16_t type);

/* proto_check_request() on m's first @len bytes returns @want. */
void expect_req(size_t len, int want, const char *what);

/* proto_check_reply() on m's first @len bytes, to @type, returns @want. */
void expect_rep(size_t len, uint16_t type, int want, const char *what);

#endif
