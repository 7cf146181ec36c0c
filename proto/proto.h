/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol between spanheapd and its clients (libspanclient,
 * spanctl).  This is the only definition of it.
 *
 * Transport: a Unix SOCK_SEQPACKET socket, so every message is one
 * datagram and its length is the datagram's length.  All integers are in
 * host byte order (both ends are on one machine), every struct has
 * explicit padding and a checked size, and no struct holds a pointer.
 *
 * Conversation:
 *   client                               daemon
 *   HELLO (magic, version, name,
 *          a session to resume)    ->
 *                                  <-    WELCOME (page size, arena size,
 *                                        client id, magazine size, the
 *                                        session token, grace, generation) +
 *                                        arena memfd and, if asked for,
 *                                        the magazine's (SCM_RIGHTS), once
 *   SPAN_ALLOC / SPAN_FREE / STATS /
 *   SCAVENGE / GC / CLIENTS /
 *   OBJ_CREATE / OBJ_SEAL / OBJ_GET /
 *   OBJ_RELEASE / OBJ_DELETE / OBJECTS /
 *   MAG_REFILL                     ->
 *                                  <-    the reply: type | PROTO_REPLY,
 *                                        the request's seq, a status
 *   MAG_KICK                       ->    (no reply, ever)
 *   BYE                            ->    (no reply; the daemon hangs up)
 *
 * HELLO carries seq 0.  A daemon that has no room for another client
 * answers the connection, before or instead of reading HELLO, with a
 * bare WELCOME header of seq 0 and status -EUSERS, and closes it.
 *
 * A HELLO with PROTO_HELLO_MAGAZINE asks for a magazine (proto/magazine.h):
 * the WELCOME then says its size, and its memfd rides after the arena's.
 * MAG_KICK asks the daemon to serve the magazine when it can; it has no
 * reply, so a client may send it from any thread at any time without
 * taking its turn in the request/reply stream (seq 0, MSG_DONTWAIT).
 * MAG_REFILL serves one class at once and answers when done: the client
 * waits for it only when that class is empty, or its stack full.
 *
 * Sessions (v5).  WELCOME gives a secret token (struct proto_session).
 * If the connection of a client whose HELLO said PROTO_HELLO_KEEP breaks
 * while its process lives and it did not say BYE, the daemon keeps what
 * it holds for the grace period WELCOME states (after a restart, every
 * session is kept so); a new
 * connection whose HELLO has PROTO_HELLO_RESUME and the token gets it
 * back (spans, object references, client id), and then may send again
 * the request that was in flight, with its seq: a mutating request
 * (SPAN_ALLOC, SPAN_FREE, OBJ_*, but OBJECTS) whose seq and type are
 * those of the session's last one is answered with the reply recorded
 * for it, not applied twice.  Read-only requests are simply served
 * again.
 *
 * Every reply carries status 0 or -errno.  A failed request changes
 * nothing.  STATS, CLIENTS and OBJECTS replies come in chunks of JSON text; all
 * but the last carry PROTO_MORE.  A SCAVENGE that waits for its release
 * pass is answered with progress replies (PROTO_MORE, the bytes released
 * so far) about once a second while the pass runs, then the final one:
 * a client bounds its wait by that progress, not by the pass's length.  A request the daemon cannot parse gets a bare header reply
 * with -EBADMSG (and, for a wrong version, -EPROTONOSUPPORT followed by
 * the end of the connection).
 */
#ifndef SPANHEAP_PROTO_PROTO_H
#define SPANHEAP_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x53504850u	/* "SPHP" */
#define PROTO_VERSION 5
#define PROTO_MAX_BATCH 64	/* spans in one SPAN_ALLOC or SPAN_FREE */
#define PROTO_NAME_MAX 64	/* bytes of client name, NUL padded */
#define PROTO_CHUNK_MAX 16384	/* bytes of STATS text in one reply */
#define PROTO_CLIENTS_PAGE 64	/* clients in one CLIENTS reply, at most */
#define PROTO_OBJ_NAME_MAX 255	/* bytes of an object's name */
#define PROTO_OBJECTS_PAGE 64	/* objects in one OBJECTS reply, at most */

enum proto_type {
	PROTO_HELLO = 1,
	PROTO_SPAN_ALLOC = 2,
	PROTO_SPAN_FREE = 3,
	PROTO_STATS = 4,
	PROTO_SCAVENGE = 5,
	PROTO_GC = 6,
	PROTO_CLIENTS = 7,
	PROTO_OBJ_CREATE = 8,
	PROTO_OBJ_SEAL = 9,
	PROTO_OBJ_GET = 10,
	PROTO_OBJ_RELEASE = 11,
	PROTO_OBJ_DELETE = 12,
	PROTO_OBJECTS = 13,
	PROTO_MAG_KICK = 14,
	PROTO_MAG_REFILL = 15,
	PROTO_BYE = 16,
	PROTO_TYPE_MAX = PROTO_BYE,
};

#define PROTO_REPLY 0x8000	/* set in the type of every reply */
#define PROTO_WELCOME (PROTO_HELLO | PROTO_REPLY)

/* PROTO_HELLO flags */
#define PROTO_HELLO_MAGAZINE 0x1u /* send a magazine with the WELCOME */
#define PROTO_HELLO_RESUME 0x2u	/* take back the session of @session */
#define PROTO_HELLO_KEEP 0x4u	/* keep my session if the connection breaks */
#define PROTO_HELLO_FLAGS (PROTO_HELLO_MAGAZINE | PROTO_HELLO_RESUME | \
			   PROTO_HELLO_KEEP)

/* Spans classes of a magazine (proto/magazine.h's MAG_NCLASSES). */
#define PROTO_MAG_NCLASSES 7

/* PROTO_MAG_REFILL flags: why the client waits */
#define PROTO_MAG_EMPTY 0x1u	/* the class ran dry: fill it */
#define PROTO_MAG_FULL 0x2u	/* its stack is full: take the surplus */
#define PROTO_MAG_FLAGS (PROTO_MAG_EMPTY | PROTO_MAG_FULL)

/* PROTO_SPAN_ALLOC flags */
#define PROTO_ALLOC_ZERO 0x1u	/* spans must read as zeros */
#define PROTO_ALLOC_FLAGS PROTO_ALLOC_ZERO

/* PROTO_SPAN_FREE flags */
#define PROTO_FREE_CHECK 0x1u	/* check every offset, free nothing */
#define PROTO_FREE_FLAGS PROTO_FREE_CHECK

/*
 * PROTO_OBJ_CREATE flags.  A daemon before EVICTABLE refuses it as an
 * unknown flag (-EBADMSG): nothing else changed, so no version.
 */
#define PROTO_OBJ_ZERO 0x1u	/* the object's memory must read as zeros */
#define PROTO_OBJ_EVICTABLE 0x2u /* the daemon may evict it, sealed, unheld */
#define PROTO_OBJ_FLAGS (PROTO_OBJ_ZERO | PROTO_OBJ_EVICTABLE)
/* PROTO_STATS, PROTO_CLIENTS and PROTO_SCAVENGE reply flags */
#define PROTO_MORE 0x1u		/* another reply to this request follows */

struct proto_hdr {
	uint32_t magic;		/* PROTO_MAGIC */
	uint16_t version;	/* PROTO_VERSION */
	uint16_t type;		/* enum proto_type, | PROTO_REPLY in replies */
	uint32_t seq;		/* chosen by the client, echoed in the reply */
	int32_t status;		/* replies: 0 or -errno; requests: 0 */
};
_Static_assert(sizeof(struct proto_hdr) == 16, "proto_hdr");

/*
 * The secret session token: WELCOME gives it, a HELLO with
 * PROTO_HELLO_RESUME presents it to take the session back after the
 * connection broke (or the daemon restarted).  @arena_id names the arena
 * (random when it was made, the same across restarts); @owner and
 * @client_id the session's heap owner and client; @secret is random at
 * the WELCOME that opened the session and proves it.
 */
struct proto_session {
	uint64_t arena_id[2];
	uint32_t owner;		/* the heap owner id */
	uint32_t client_id;
	uint64_t secret[2];
};
_Static_assert(sizeof(struct proto_session) == 40, "proto_session");

/*
 * HELLO: the first request on a connection.  A fresh one has @next_seq,
 * @session and @mag_took all zero.  With PROTO_HELLO_RESUME it takes
 * back the session @session (every field nonzero but, possibly,
 * @secret's): @next_seq is the seq of the request that was in flight (or
 * of the next one, 1 or more), @mag_took[c] the index just after this
 * process's last take from the fill ring of class c (magazines across a
 * restart: daemon/magazine.c).  A resume the daemon cannot honour (an
 * arena id not its arena's, no such session, or one reclaimed after the
 * grace period) is answered -ESTALE.
 */
struct proto_hello {
	struct proto_hdr hdr;
	uint32_t flags;		/* PROTO_HELLO_* */
	uint32_t next_seq;	/* resume: the first seq it will send */
	char name[PROTO_NAME_MAX]; /* optional, NUL padded, need not end in NUL */
	struct proto_session session;	/* resume: the token */
	uint32_t mag_took[PROTO_MAG_NCLASSES];
	uint32_t pad;
};
_Static_assert(sizeof(struct proto_hello) == 160, "proto_hello");

/*
 * WELCOME: HELLO's reply; on success the arena memfd rides along.  It
 * gives the session's token (a resume gets the same one back), how long
 * the daemon keeps a session whose connection broke (@grace_ms: a
 * library reconnects for that long), and the daemon's @generation (1 for
 * the first start of the arena, one more at every restart).
 */
struct proto_welcome {
	struct proto_hdr hdr;
	uint32_t page_size;
	uint32_t max_batch;	/* PROTO_MAX_BATCH */
	uint64_t arena_size;	/* bytes */
	uint32_t client_id;
	uint32_t mag_size;	/* bytes of the magazine region sent; 0: none */
	struct proto_session session;
	uint32_t grace_ms;
	uint32_t pad;
	uint64_t generation;	/* >= 1 */
};
_Static_assert(sizeof(struct proto_welcome) == 96, "proto_welcome");

/* SPAN_ALLOC: @count spans of @npages pages each, all or none. */
struct proto_alloc {
	struct proto_hdr hdr;
	uint64_t npages;
	uint32_t flags;		/* PROTO_ALLOC_* */
	uint32_t count;		/* 1..PROTO_MAX_BATCH */
};
_Static_assert(sizeof(struct proto_alloc) == 32, "proto_alloc");

struct proto_span {
	uint64_t off;		/* byte offset in the arena */
	uint64_t npages;
};
_Static_assert(sizeof(struct proto_span) == 16, "proto_span");

/* SPAN_ALLOC's reply: @count spans, only those are sent. */
struct proto_alloc_reply {
	struct proto_hdr hdr;
	uint32_t count;		/* the request's count on success, else 0 */
	uint32_t pad;
	struct proto_span spans[PROTO_MAX_BATCH];
};
_Static_assert(sizeof(struct proto_alloc_reply) == 24 + 16 * PROTO_MAX_BATCH,
	       "proto_alloc_reply");

/*
 * SPAN_FREE: @count offsets, only those are sent; all or none.  With
 * PROTO_FREE_CHECK the daemon answers as it would but frees nothing, so a
 * client can check a batch of several requests before freeing any of it.
 */
struct proto_free {
	struct proto_hdr hdr;
	uint32_t count;		/* 1..PROTO_MAX_BATCH */
	uint32_t flags;		/* PROTO_FREE_* */
	uint64_t off[PROTO_MAX_BATCH];
};
_Static_assert(sizeof(struct proto_free) == 24 + 8 * PROTO_MAX_BATCH,
	       "proto_free");

struct proto_free_reply {
	struct proto_hdr hdr;
	uint32_t count;		/* spans freed: all on success, 0 on error */
	uint32_t bad;		/* on error, the index of the offending offset */
};
_Static_assert(sizeof(struct proto_free_reply) == 24, "proto_free_reply");

/* STATS, SCAVENGE and GC requests are a bare struct proto_hdr. */

/*
 * CLIENTS: one page of the client list, the clients whose id is above
 * @after (0 for the first page), in id order, at most @max of them
 * (1..PROTO_CLIENTS_PAGE).  The reply is JSON text in STATS-style chunks:
 *   {"clients": [ {...}, ... ], "next": ID}
 * with the entries of MemStats' clients.list; "next" is the @after of the
 * following page, 0 when this was the last one.
 */
struct proto_clients {
	struct proto_hdr hdr;
	uint32_t after;		/* client id to start after */
	uint32_t max;		/* 1..PROTO_CLIENTS_PAGE */
};
_Static_assert(sizeof(struct proto_clients) == 24, "proto_clients");

/*
 * Shared objects: named spans with a create -> seal -> get -> release ->
 * delete life cycle and references counted per connection (see
 * shm/object.c for the rules).  A name is 1..PROTO_OBJ_NAME_MAX bytes,
 * sent without a NUL; that it is valid UTF-8 without control characters
 * is the daemon's check (-EINVAL), not the size rule's.
 *
 * OBJ_CREATE: an OPEN object of @size bytes (rounded up to pages) named
 * @name; the creating connection holds one reference.
 */
struct proto_obj_create {
	struct proto_hdr hdr;
	uint64_t size;		/* bytes, >= 1 */
	uint32_t flags;		/* PROTO_OBJ_* */
	uint16_t namelen;	/* 1..PROTO_OBJ_NAME_MAX */
	uint16_t pad;
	char name[PROTO_OBJ_NAME_MAX];
};
_Static_assert(offsetof(struct proto_obj_create, name) == 32,
	       "proto_obj_create");

/* The reply to OBJ_CREATE and OBJ_GET: the object. */
struct proto_obj_reply {
	struct proto_hdr hdr;
	uint64_t id;		/* unique among every object the arena had */
	uint64_t off;		/* byte offset of its data, page aligned */
	uint64_t size;		/* bytes, as created */
	uint64_t npages;	/* pages of its span */
};
_Static_assert(sizeof(struct proto_obj_reply) == 48, "proto_obj_reply");

/*
 * OBJ_SEAL and OBJ_RELEASE name the object by its id; the reply is a bare
 * header.
 */
struct proto_obj_id {
	struct proto_hdr hdr;
	uint64_t id;
};
_Static_assert(sizeof(struct proto_obj_id) == 24, "proto_obj_id");

/*
 * OBJ_GET: a reference to the sealed object @name.  If there is none (or
 * it is still OPEN) the daemon answers -ENOENT at once for @timeout_ms 0,
 * waits up to @timeout_ms for it to be sealed (then -ETIMEDOUT) for a
 * positive one, and waits for as long as the connection lives for a
 * negative one.  While it waits, the connection's further requests wait.
 */
struct proto_obj_get {
	struct proto_hdr hdr;
	int32_t timeout_ms;
	uint16_t namelen;	/* 1..PROTO_OBJ_NAME_MAX */
	uint16_t pad;
	char name[PROTO_OBJ_NAME_MAX];
};
_Static_assert(offsetof(struct proto_obj_get, name) == 24, "proto_obj_get");

/* OBJ_DELETE: the live object @name; the reply is a bare header. */
struct proto_obj_delete {
	struct proto_hdr hdr;
	uint16_t namelen;	/* 1..PROTO_OBJ_NAME_MAX */
	uint16_t pad[3];
	char name[PROTO_OBJ_NAME_MAX];
};
_Static_assert(offsetof(struct proto_obj_delete, name) == 24,
	       "proto_obj_delete");

/*
 * OBJECTS: one page of the live objects, those after the cursor @after
 * (0 for the first page), at most @max (1..PROTO_OBJECTS_PAGE).  The
 * reply is JSON text in STATS-style chunks:
 *   {"objects": [ {...}, ... ], "next": N}
 * "next" is the @after of the following page, 0 when this was the last.
 */
struct proto_objects {
	struct proto_hdr hdr;
	uint64_t after;
	uint32_t max;		/* 1..PROTO_OBJECTS_PAGE */
	uint32_t pad;
};
_Static_assert(sizeof(struct proto_objects) == 32, "proto_objects");

/*
 * MAG_KICK: serve my magazine (every class) when you can; no reply.
 * MAG_REFILL: serve class @cls now, for the reason in @flags; the reply
 * is a bare header: 0, -ENOMEM if an empty class could not be filled,
 * -ENODEV if the connection has no magazine (or it was stopped).
 */
struct proto_mag {
	struct proto_hdr hdr;
	uint32_t cls;		/* MAG_REFILL: 0..MAG_NCLASSES - 1; KICK: 0 */
	uint32_t flags;		/* MAG_REFILL: PROTO_MAG_*; KICK: 0 */
};
_Static_assert(sizeof(struct proto_mag) == 24, "proto_mag");

/*
 * BYE, a bare header: the client goes for good (spanheap_close()).  What
 * it holds is freed at once and its session ends; without a BYE, a
 * connection that breaks while its process lives keeps its session for
 * the grace period.  No reply: the daemon hangs up.
 */

/* The reply to STATS, CLIENTS and OBJECTS: one chunk of JSON text. */
struct proto_stats_reply {
	struct proto_hdr hdr;
	uint32_t len;		/* bytes of JSON text in this chunk */
	uint32_t flags;		/* PROTO_MORE */
	char data[PROTO_CHUNK_MAX];
};
_Static_assert(sizeof(struct proto_stats_reply) == 24 + PROTO_CHUNK_MAX,
	       "proto_stats_reply");

struct proto_scavenge_reply {
	struct proto_hdr hdr;
	uint64_t released;	/* bytes given back to the kernel (so far) */
	uint32_t flags;		/* PROTO_MORE: progress, the pass goes on */
	uint32_t pad;
};
_Static_assert(sizeof(struct proto_scavenge_reply) == 32,
	       "proto_scavenge_reply");

struct proto_gc_reply {
	struct proto_hdr hdr;
	uint64_t freed_spans;	/* spans of departed clients freed */
	uint64_t pause_ns;	/* how long the pass took */
};
_Static_assert(sizeof(struct proto_gc_reply) == 32, "proto_gc_reply");

/* The largest request and reply; receive buffers are this big. */
#define PROTO_REQUEST_MAX sizeof(struct proto_free)
#define PROTO_REPLY_MAX sizeof(struct proto_stats_reply)

static inline size_t proto_free_size(uint32_t count)
{
	return offsetof(struct proto_free, off) + count * sizeof(uint64_t);
}

static inline size_t proto_alloc_reply_size(uint32_t count)
{
	return offsetof(struct proto_alloc_reply, spans) +
	       count * sizeof(struct proto_span);
}

static inline size_t proto_stats_reply_size(uint32_t len)
{
	return offsetof(struct proto_stats_reply, data) + len;
}

/*
 * The rules of every message live in one table in proto.c, an entry per
 * request type: its name, the size of the request and of its reply, and
 * a check of the fields the size does not settle.  proto_check_request()
 * and proto_check_reply() apply the entry and nothing else, so a new
 * message is its structs here, its type in enum proto_type, one entry
 * there (and one handler in daemon/dispatch.c's table).
 */

/**
 * struct proto_size - the length of a message, as its fields give it.
 * @head: bytes of the message, or with a tail, of the part before it.
 * @elem: bytes of one element of the tail; 0: no tail, @head is all.
 * @count_at: the offset in the head of the tail's count, an unsigned
 *	integer of @count_size bytes (1, 2 or 4).
 * @count_size: see @count_at.
 * @min: the fewest elements a tail may have.
 * @max: the most, so that the message fits PROTO_REQUEST_MAX or
 *	PROTO_REPLY_MAX.
 *
 * A message is then exactly @head bytes, or @head + count * @elem bytes
 * with count in @min..@max: SPAN_FREE's offsets (@elem 8), a chunk of
 * text (@elem 1, count its length), a name after a fixed head.
 */
struct proto_size {
	uint32_t head;
	uint32_t elem;
	uint32_t count_at;
	uint32_t count_size;
	uint32_t min;
	uint32_t max;
};

/**
 * struct proto_msg - one wire message: a request type and its reply.
 * @type: the request's enum proto_type; the reply's is @type | PROTO_REPLY.
 * @name: "SPAN_ALLOC" etc., for logs and spanctl.
 * @req: the request's size.
 * @req_valid: checks the fields of a request whose size is right
 *	(flags, counts, ranges); NULL if the size says all.
 * @rep: the size of a reply that is not a bare error header.
 * @rep_valid: the same for such a reply; NULL if the size says all.
 * @no_reply: the daemon never answers a request of this type, valid
 *	or refused (MAG_KICK); @rep is then empty and no reply is valid.
 */
struct proto_msg {
	uint16_t type;
	const char *name;
	struct proto_size req;
	bool (*req_valid)(const void *buf, size_t len);
	struct proto_size rep;
	bool (*rep_valid)(const void *buf, size_t len);
	bool no_reply;
};

/**
 * proto_msg() - the table's entry for requests of @type.
 *
 * Return: the entry, or NULL if @type is no request type (a reply's type,
 * with PROTO_REPLY, is none).
 */
const struct proto_msg *proto_msg(uint16_t type);

/** proto_size_max() - the most bytes a message of size rule @s may have. */
size_t proto_size_max(const struct proto_size *s);

/** proto_hdr_init() - a header of @type and @seq, status 0. */
void proto_hdr_init(struct proto_hdr *hdr, uint16_t type, uint32_t seq);

/**
 * proto_check_request() - validate a request datagram of @len bytes.
 *
 * Checks magic, version, type, the exact length for the type, counts and
 * flags, before anything else reads it.
 *
 * Return: 0; -EBADMSG if truncated, oversized or malformed (bad magic,
 * count, flags or length); -EPROTONOSUPPORT for another version;
 * -EOPNOTSUPP for an unknown type.
 */
int proto_check_request(const void *buf, size_t len);

/**
 * proto_check_reply() - validate a reply of @len bytes to a request of
 * @type and @seq.
 *
 * Return: 0 (the reply's own status is then in its header); -EBADMSG if
 * it is malformed, not a reply to that request, or its size does not
 * match its type and status.
 */
int proto_check_reply(const void *buf, size_t len, uint16_t type,
		      uint32_t seq);

/**
 * proto_type_name() - "SPAN_ALLOC" etc., for logs: the name of the
 * request @type or of its reply (with PROTO_REPLY); "?" if unknown.
 */
const char *proto_type_name(uint16_t type);

#endif
