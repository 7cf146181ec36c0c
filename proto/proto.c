// SPDX-License-Identifier: MIT
/*
 * Validation of protocol messages: every datagram is checked here, length
 * first, before any other code reads a field of it.
 *
 * What each message may be is written once, in msgs[] below: its size
 * rule (struct proto_size) and a check of the fields the size does not
 * settle, for the request and for its reply.  proto_check_request() and
 * proto_check_reply() check the header, then apply the type's entry;
 * neither knows any type by name.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "magazine.h"
#include "proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A message of exactly sizeof(struct @s) bytes. */
#define SIZE_FIXED(s) { .head = sizeof(struct s) }

/*
 * struct @s up to its array @tail, then @count (a field of the head)
 * elements of it, @count in @lo..@hi.  For a tail of bytes (a name, a
 * chunk of text), @count is its length.
 */
#define SIZE_TAIL(s, count, tail, lo, hi)                                  \
	{                                                                  \
		.head = offsetof(struct s, tail),                          \
		.elem = sizeof(((struct s *)0)->tail[0]),                  \
		.count_at = offsetof(struct s, count),                     \
		.count_size = sizeof(((struct s *)0)->count),              \
		.min = (lo), .max = (hi)                                   \
	}

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

/* The field checks: each is handed a message of its rule's size. */

_Static_assert(PROTO_MAG_NCLASSES == MAG_NCLASSES, "mag_took[] per class");

static bool session_zero(const struct proto_session *t)
{
	return !t->arena_id[0] && !t->arena_id[1] && !t->owner &&
	       !t->client_id && !t->secret[0] && !t->secret[1];
}

/* A token as a daemon makes it: which session it names is not ours. */
static bool session_valid(const struct proto_session *t)
{
	return (t->arena_id[0] || t->arena_id[1]) && t->owner &&
	       t->client_id;
}

/*
 * A fresh HELLO says nothing of a session; a resume names one, and the
 * seq it goes on with.
 */
static bool hello_valid(const void *buf, size_t len)
{
	struct proto_hello m;
	bool took = false;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	if (m.flags & ~PROTO_HELLO_FLAGS || m.pad)
		return false;
	if (m.flags & PROTO_HELLO_RESUME)
		return session_valid(&m.session) && m.next_seq;
	for (unsigned int c = 0; c < PROTO_MAG_NCLASSES; c++)
		took |= m.mag_took[c] != 0;
	return !m.next_seq && session_zero(&m.session) && !took;
}

static bool welcome_valid(const void *buf, size_t len)
{
	struct proto_welcome m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return m.client_id && session_valid(&m.session) &&
	       m.session.client_id == m.client_id && m.generation && !m.pad;
}

static bool alloc_valid(const void *buf, size_t len)
{
	struct proto_alloc m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return batch_ok(m.count) && !(m.flags & ~PROTO_ALLOC_FLAGS);
}

static bool free_valid(const void *buf, size_t len)
{
	struct proto_free m;

	(void)len;
	memcpy(&m, buf, proto_free_size(0));
	return !(m.flags & ~PROTO_FREE_FLAGS);
}

static bool clients_valid(const void *buf, size_t len)
{
	struct proto_clients m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return m.max >= 1 && m.max <= PROTO_CLIENTS_PAGE;
}

static bool obj_create_valid(const void *buf, size_t len)
{
	struct proto_obj_create m;

	(void)len;
	memcpy(&m, buf, offsetof(struct proto_obj_create, name));
	return m.size && !(m.flags & ~PROTO_OBJ_FLAGS) && !m.pad;
}

static bool obj_id_valid(const void *buf, size_t len)
{
	struct proto_obj_id m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return m.id != 0;
}

static bool obj_get_valid(const void *buf, size_t len)
{
	struct proto_obj_get m;

	(void)len;
	memcpy(&m, buf, offsetof(struct proto_obj_get, name));
	return !m.pad;
}

static bool obj_delete_valid(const void *buf, size_t len)
{
	struct proto_obj_delete m;

	(void)len;
	memcpy(&m, buf, offsetof(struct proto_obj_delete, name));
	return !m.pad[0] && !m.pad[1] && !m.pad[2];
}

static bool objects_valid(const void *buf, size_t len)
{
	struct proto_objects m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return m.max >= 1 && m.max <= PROTO_OBJECTS_PAGE && !m.pad;
}

static bool mag_kick_valid(const void *buf, size_t len)
{
	struct proto_mag m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return !m.cls && !m.flags;
}

static bool mag_refill_valid(const void *buf, size_t len)
{
	struct proto_mag m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	return m.cls < MAG_NCLASSES && m.flags &&
	       !(m.flags & ~PROTO_MAG_FLAGS);
}

static bool obj_reply_valid(const void *buf, size_t len)
{
	struct proto_obj_reply m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	/* That @off and @npages lie in the arena is the library's check. */
	return m.id && m.size && m.npages;
}

/* A chunk of STATS, CLIENTS or OBJECTS text. */
static bool chunk_valid(const void *buf, size_t len)
{
	struct proto_stats_reply m;

	(void)len;
	memcpy(&m, buf, proto_stats_reply_size(0));
	return !(m.flags & ~PROTO_MORE);
}

static bool scavenge_reply_valid(const void *buf, size_t len)
{
	struct proto_scavenge_reply m;

	(void)len;
	memcpy(&m, buf, sizeof(m));
	/* Progress comes only while a pass runs: never with an error. */
	return !(m.flags & ~PROTO_MORE) && !m.pad &&
	       !(m.flags & PROTO_MORE && m.hdr.status);
}

/*
 * Every wire message, indexed by its request type.  To add one:
 *   1. proto.h: its type in enum proto_type (and PROTO_TYPE_MAX), its
 *      request and reply structs, and PROTO_REQUEST_MAX or
 *      PROTO_REPLY_MAX if one of them is now the largest;
 *   2. here: its entry, with the size rules (SIZE_FIXED, or SIZE_TAIL
 *      for a head and a counted tail) and checks of the fields that the
 *      size does not settle (every flag, count and range), or NULL;
 *   3. daemon/dispatch.c: its handler in handlers[].
 * tests/proto/test_proto.c checks that every type up to PROTO_TYPE_MAX
 * has an entry and that every size fits the receive buffers;
 * tests/daemon/test_dispatch_flow.c that every entry has a handler.
 */
static const struct proto_msg msgs[] = {
	[PROTO_HELLO] = {
		.type = PROTO_HELLO,
		.name = "HELLO",
		.req = SIZE_FIXED(proto_hello),
		.req_valid = hello_valid,
		.rep = SIZE_FIXED(proto_welcome),
		.rep_valid = welcome_valid,
	},
	[PROTO_SPAN_ALLOC] = {
		.type = PROTO_SPAN_ALLOC,
		.name = "SPAN_ALLOC",
		.req = SIZE_FIXED(proto_alloc),
		.req_valid = alloc_valid,
		.rep = SIZE_TAIL(proto_alloc_reply, count, spans, 0,
				 PROTO_MAX_BATCH),
	},
	[PROTO_SPAN_FREE] = {
		.type = PROTO_SPAN_FREE,
		.name = "SPAN_FREE",
		.req = SIZE_TAIL(proto_free, count, off, 1, PROTO_MAX_BATCH),
		.req_valid = free_valid,
		.rep = SIZE_FIXED(proto_free_reply),
	},
	[PROTO_STATS] = {
		.type = PROTO_STATS,
		.name = "STATS",
		.req = SIZE_FIXED(proto_hdr),
		.rep = SIZE_TAIL(proto_stats_reply, len, data, 0,
				 PROTO_CHUNK_MAX),
		.rep_valid = chunk_valid,
	},
	[PROTO_SCAVENGE] = {
		.type = PROTO_SCAVENGE,
		.name = "SCAVENGE",
		.req = SIZE_FIXED(proto_hdr),
		.rep = SIZE_FIXED(proto_scavenge_reply),
		.rep_valid = scavenge_reply_valid,
	},
	[PROTO_GC] = {
		.type = PROTO_GC,
		.name = "GC",
		.req = SIZE_FIXED(proto_hdr),
		.rep = SIZE_FIXED(proto_gc_reply),
	},
	[PROTO_CLIENTS] = {
		.type = PROTO_CLIENTS,
		.name = "CLIENTS",
		.req = SIZE_FIXED(proto_clients),
		.req_valid = clients_valid,
		.rep = SIZE_TAIL(proto_stats_reply, len, data, 0,
				 PROTO_CHUNK_MAX),
		.rep_valid = chunk_valid,
	},
	[PROTO_OBJ_CREATE] = {
		.type = PROTO_OBJ_CREATE,
		.name = "OBJ_CREATE",
		.req = SIZE_TAIL(proto_obj_create, namelen, name, 1,
				 PROTO_OBJ_NAME_MAX),
		.req_valid = obj_create_valid,
		.rep = SIZE_FIXED(proto_obj_reply),
		.rep_valid = obj_reply_valid,
	},
	[PROTO_OBJ_SEAL] = {
		.type = PROTO_OBJ_SEAL,
		.name = "OBJ_SEAL",
		.req = SIZE_FIXED(proto_obj_id),
		.req_valid = obj_id_valid,
		.rep = SIZE_FIXED(proto_hdr),
	},
	[PROTO_OBJ_GET] = {
		.type = PROTO_OBJ_GET,
		.name = "OBJ_GET",
		.req = SIZE_TAIL(proto_obj_get, namelen, name, 1,
				 PROTO_OBJ_NAME_MAX),
		.req_valid = obj_get_valid,
		.rep = SIZE_FIXED(proto_obj_reply),
		.rep_valid = obj_reply_valid,
	},
	[PROTO_OBJ_RELEASE] = {
		.type = PROTO_OBJ_RELEASE,
		.name = "OBJ_RELEASE",
		.req = SIZE_FIXED(proto_obj_id),
		.req_valid = obj_id_valid,
		.rep = SIZE_FIXED(proto_hdr),
	},
	[PROTO_OBJ_DELETE] = {
		.type = PROTO_OBJ_DELETE,
		.name = "OBJ_DELETE",
		.req = SIZE_TAIL(proto_obj_delete, namelen, name, 1,
				 PROTO_OBJ_NAME_MAX),
		.req_valid = obj_delete_valid,
		.rep = SIZE_FIXED(proto_hdr),
	},
	[PROTO_OBJECTS] = {
		.type = PROTO_OBJECTS,
		.name = "OBJECTS",
		.req = SIZE_FIXED(proto_objects),
		.req_valid = objects_valid,
		.rep = SIZE_TAIL(proto_stats_reply, len, data, 0,
				 PROTO_CHUNK_MAX),
		.rep_valid = chunk_valid,
	},
	[PROTO_MAG_KICK] = {
		.type = PROTO_MAG_KICK,
		.name = "MAG_KICK",
		.req = SIZE_FIXED(proto_mag),
		.req_valid = mag_kick_valid,
		.no_reply = true,
	},
	[PROTO_MAG_REFILL] = {
		.type = PROTO_MAG_REFILL,
		.name = "MAG_REFILL",
		.req = SIZE_FIXED(proto_mag),
		.req_valid = mag_refill_valid,
		.rep = SIZE_FIXED(proto_hdr),
	},
	[PROTO_BYE] = {
		.type = PROTO_BYE,
		.name = "BYE",
		.req = SIZE_FIXED(proto_hdr),
		.no_reply = true,
	},
};
_Static_assert(ARRAY_SIZE(msgs) == PROTO_TYPE_MAX + 1,
	       "msgs[] ends at PROTO_TYPE_MAX");

const struct proto_msg *proto_msg(uint16_t type)
{
	if (type >= ARRAY_SIZE(msgs) || !msgs[type].name)
		return NULL;
	return &msgs[type];
}

size_t proto_size_max(const struct proto_size *s)
{
	return s->head + (size_t)s->max * s->elem;
}

/* The tail's count, read from a message of at least @s->head bytes. */
static uint32_t tail_count(const struct proto_size *s, const void *buf)
{
	const unsigned char *p = (const unsigned char *)buf + s->count_at;
	uint16_t n16;
	uint32_t n32;

	switch (s->count_size) {
	case 1:
		return p[0];
	case 2:
		memcpy(&n16, p, sizeof(n16));
		return n16;
	default:
		memcpy(&n32, p, sizeof(n32));
		return n32;
	}
}

/* Whether @buf's @len bytes are what size rule @s makes of its fields. */
static bool size_ok(const struct proto_size *s, const void *buf, size_t len)
{
	uint32_t n;

	if (!s->elem)
		return len == s->head;
	if (len < s->head)
		return false;
	n = tail_count(s, buf);
	return n >= s->min && n <= s->max &&
	       len == s->head + (size_t)n * s->elem;
}

int proto_check_request(const void *buf, size_t len)
{
	const struct proto_msg *m;
	struct proto_hdr hdr;

	if (len < sizeof(hdr))
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != PROTO_MAGIC || hdr.status != 0)
		return -EBADMSG;
	if (hdr.version != PROTO_VERSION)
		return -EPROTONOSUPPORT;
	m = proto_msg(hdr.type);
	if (!m)
		return -EOPNOTSUPP;
	if (!size_ok(&m->req, buf, len) ||
	    (m->req_valid && !m->req_valid(buf, len)))
		return -EBADMSG;
	return 0;
}

int proto_check_reply(const void *buf, size_t len, uint16_t type,
		      uint32_t seq)
{
	const struct proto_msg *m;
	struct proto_hdr hdr;

	if (len < sizeof(hdr) || len > PROTO_REPLY_MAX)
		return -EBADMSG;
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.magic != PROTO_MAGIC || hdr.type != (type | PROTO_REPLY) ||
	    hdr.seq != seq || hdr.status > 0)
		return -EBADMSG;
	/*
	 * An error may come as a bare header, or as the full reply; a
	 * request of an unknown type gets the bare header.
	 */
	m = proto_msg(type);
	if (m && m->no_reply)
		return -EBADMSG;
	if (hdr.status < 0 && len == sizeof(hdr))
		return 0;
	if (!m || !size_ok(&m->rep, buf, len) ||
	    (m->rep_valid && !m->rep_valid(buf, len)))
		return -EBADMSG;
	return 0;
}

const char *proto_type_name(uint16_t type)
{
	const struct proto_msg *m = proto_msg(type & (uint16_t)~PROTO_REPLY);

	return m ? m->name : "?";
}
