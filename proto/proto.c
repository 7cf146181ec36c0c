// SPDX-License-Identifier: MIT
/*
 * Validation of protocol messages: every datagram is checked here, length
 * first, before any other code reads a field of it.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto.h"

void proto_hdr_init(struct proto_hdr *hdr, uint16_t type, uint32_t seq)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = PROTO_MAGIC;
	hdr->version = PROTO_VERSION;
	hdr->type = type;
	hdr->seq = seq;
}

static bool batch_ok(uint32_t count)
{
	return count >= 1 && count <= PROTO_MAX_BATCH;
}

int proto_check_request(const void *buf, size_t len)
{
	struct proto_hdr hdr;

	if (len < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != PROTO_MAGIC || hdr.status != 0)
		return -EBADMSG;
	if (hdr.version != PROTO_VERSION)
		return -EPROTONOSUPPORT;
	switch (hdr.type) {
	case PROTO_HELLO: {
		struct proto_hello m;

		if (len != sizeof(m))
			return -EBADMSG;
		memcpy(&m, buf, sizeof(m));
		return m.flags || m.pad ? -EBADMSG : 0;
	}
	case PROTO_SPAN_ALLOC: {
		struct proto_alloc m;

		if (len != sizeof(m))
			return -EBADMSG;
		memcpy(&m, buf, sizeof(m));
		if (!batch_ok(m.count) || m.flags & ~PROTO_ALLOC_FLAGS)
			return -EBADMSG;
		return 0;
	}
	case PROTO_SPAN_FREE: {
		struct proto_free m;

		if (len < proto_free_size(0))
			return -EBADMSG;
		memcpy(&m, buf, proto_free_size(0));
		if (!batch_ok(m.count) || m.flags & ~PROTO_FREE_FLAGS ||
		    len != proto_free_size(m.count))
			return -EBADMSG;
		return 0;
	}
	case PROTO_CLIENTS: {
		struct proto_clients m;

		if (len != sizeof(m))
			return -EBADMSG;
		memcpy(&m, buf, sizeof(m));
		return m.max >= 1 && m.max <= PROTO_CLIENTS_PAGE ? 0 : -EBADMSG;
	}
	case PROTO_STATS:
	case PROTO_SCAVENGE:
	case PROTO_GC:
		return len == sizeof(hdr) ? 0 : -EBADMSG;
	default:
		return -EOPNOTSUPP;
	}
}

/* The exact size of a successful reply to @type, or 0 if it varies. */
static size_t reply_size(uint16_t type)
{
	switch (type) {
	case PROTO_HELLO:
		return sizeof(struct proto_welcome);
	case PROTO_SPAN_FREE:
		return sizeof(struct proto_free_reply);
	case PROTO_GC:
		return sizeof(struct proto_gc_reply);
	default:
		return 0;
	}
}

int proto_check_reply(const void *buf, size_t len, uint16_t type,
		      uint32_t seq)
{
	struct proto_hdr hdr;
	size_t want;

	if (len < sizeof(hdr) || len > PROTO_REPLY_MAX)
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != PROTO_MAGIC || hdr.type != (type | PROTO_REPLY) ||
	    hdr.seq != seq || hdr.status > 0)
		return -EBADMSG;
	/* An error may come as a bare header, or as the full reply. */
	if (hdr.status < 0 && len == sizeof(hdr))
		return 0;
	if (type == PROTO_SPAN_ALLOC) {
		struct proto_alloc_reply m;

		if (len < proto_alloc_reply_size(0))
			return -EBADMSG;
		memcpy(&m, buf, proto_alloc_reply_size(0));
		if (m.count > PROTO_MAX_BATCH ||
		    len != proto_alloc_reply_size(m.count))
			return -EBADMSG;
		return 0;
	}
	if (type == PROTO_SCAVENGE) {
		struct proto_scavenge_reply m;

		if (len != sizeof(m))
			return -EBADMSG;
		memcpy(&m, buf, sizeof(m));
		/* Progress comes only while a pass runs: never with an error. */
		if (m.flags & ~PROTO_MORE || m.pad ||
		    (m.flags & PROTO_MORE && hdr.status))
			return -EBADMSG;
		return 0;
	}
	if (type == PROTO_STATS || type == PROTO_CLIENTS) {
		struct proto_stats_reply m;

		if (len < proto_stats_reply_size(0))
			return -EBADMSG;
		memcpy(&m, buf, proto_stats_reply_size(0));
		if (m.len > PROTO_CHUNK_MAX ||
		    len != proto_stats_reply_size(m.len) ||
		    m.flags & ~PROTO_MORE)
			return -EBADMSG;
		return 0;
	}
	want = reply_size(type);
	return want && len == want ? 0 : -EBADMSG;
}

const char *proto_type_name(uint16_t type)
{
	static const char *const names[] = {
		[PROTO_HELLO] = "HELLO",	[PROTO_SPAN_ALLOC] = "SPAN_ALLOC",
		[PROTO_SPAN_FREE] = "SPAN_FREE", [PROTO_STATS] = "STATS",
		[PROTO_SCAVENGE] = "SCAVENGE",	[PROTO_GC] = "GC",
		[PROTO_CLIENTS] = "CLIENTS",
	};

	type &= (uint16_t)~PROTO_REPLY;
	if (type > PROTO_TYPE_MAX || !names[type])
		return "?";
	return names[type];
}
