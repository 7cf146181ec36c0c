// SPDX-License-Identifier: MIT
/*
 * Fuzz target for daemon/dispatch.c: feeds datagrams to dispatch_request()
 * on real struct clients of a real (small) daemon, with no listening
 * socket, as read_one() would hand them on.
 *
 * Input format: a sequence of messages, each a 16-bit little-endian word
 * then that many bytes (cut short at the end of the input).  The word's
 * low 15 bits are the length; its top bit picks one of two clients, so
 * that inputs can free each other's spans.  Lengths above
 * PROTO_REQUEST_MAX are turned away as client.c's read_one() does.
 *
 * Each client is client_accept()ed on one end of a socketpair; client 0
 * is given uid 0 and client 1 an ordinary uid (FUZZ_UID), so that
 * OBJ_DELETE's rule of who may delete is met both ways.  After every
 * message the loop runs and the other end is drained until the
 * message's final reply comes (harness.h says what every reply must be):
 * SCAVENGE is answered once the scavenger thread's forced pass ends,
 * perhaps after progress replies.  A client the daemon marks closing is
 * destroyed, as its event loop would; one it destroys itself takes no
 * more messages.
 *
 * An OBJ_GET that waits for a seal is not waited for: the other client
 * may seal it.  As read_one() reads nothing from a waiting client, its
 * messages are held back meanwhile: one that waits without end drops
 * every message of its client until the other one's seal answers it;
 * for one of a finite timeout the next message of its client waits for
 * the answer first.  To keep inputs fast, a get's timeout over
 * FUZZ_GET_TIMEOUT_MS is cut to that before delivery (0 and negative
 * ones stay as they are), and the aliases of object ids are replaced
 * (harness.h).  After each message both clients are drained,
 * so that the answer to a get woken by the other client's seal is
 * checked at once.
 *
 * Magazines: a HELLO with PROTO_HELLO_MAGAZINE gets one (harness.h), and
 * MAG_KICK and MAG_REFILL serve it, filling its rings from the heap; no
 * client here takes from them, so every span of a magazine stays FILL,
 * at most MAGAZINE_TARGET_MAX a class and 3 x their bytes within
 * FUZZ_MAG_BYTES, and a SPAN_FREE of one is refused.  A MAG_REFILL that
 * is served (0) leaves a class that ran dry with spans; -ENOMEM leaves
 * it without; -ENODEV answers only a client without a magazine.
 *
 * Accounting: a request changes the heap's spans in use by what its
 * reply says and no more.  The spans in use are the clients' and the
 * objects' (heap_obj_stats(): open, sealed and deleted, one span each),
 * and a request moves its own client's by what the reply says (a
 * failed one, and a SPAN_FREE with PROTO_FREE_CHECK, by nothing), its
 * magazine's only if it is a MAG_KICK or MAG_REFILL (the spans of a
 * magazine are found by a walk of the heap, which must agree with the
 * owner's record), and the objects' by what the object's state before
 * it says: a create adds one; a release frees its object if it held
 * the last reference of a deleted or OPEN one; a delete frees it if
 * nobody held it.  Each object request is also checked against the
 * object table before and after:
 * a create finds its name free (or -EEXIST taken) and makes an OPEN
 * object of one reference, its creator's, as its reply says; a get
 * takes one more reference to the SEALED object of the name; a seal is
 * the creator's, of an OPEN object; a delete takes the name.
 *
 * After each input the clients are destroyed (freeing their spans,
 * dropping their references), the SEALED objects left are deleted,
 * heap_check() verifies the heap, nothing may be left in use and the
 * process has the fds it had before.  Any failure aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "daemon/dispatch.h"
#include "daemon/magazine.h"
#include "tests/fuzz/harness.h"

#define FUZZ_CLIENTS 2
/* Client 1's uid: an ordinary user's, not the objects' of client 0. */
#define FUZZ_UID 1000
/* The longest finite wait of a get, in ms: longer ones are cut to it. */
#define FUZZ_GET_TIMEOUT_MS 20

static struct fuzz_peer peer[FUZZ_CLIENTS];
/* The input byte of the message being delivered, for fuzz_wait(). */
static size_t cur_at;

/* What the heap holds in use, as the accounting sees it. */
struct census {
	uint64_t spans;		/* spans in use, all of them */
	uint64_t own;		/* of them, the delivering client's */
	uint64_t objects;	/* of them, the objects' */
	struct fuzz_owned mine;	/* the client's, by a walk of the heap */
};

/* An object request, as the checks of the object table see it. */
struct obj_req {
	uint16_t type;		/* 0: no valid object request */
	uint64_t id;		/* OBJ_SEAL, OBJ_RELEASE */
	const char *name;	/* OBJ_CREATE, OBJ_GET, OBJ_DELETE */
	size_t len;
	bool had;		/* its object existed before the request */
	struct heap_obj_info before;	/* if so, as it was */
};

static void census(const struct client *c, struct census *ret, size_t at)
{
	struct heap_obj_stats os;
	struct heap_owner_info o;
	struct heap_stats hs;

	daemon_heap_lock(&fuzz_d.core);
	heap_stats(fuzz_d.core.heap, &hs);
	heap_obj_stats(fuzz_d.core.heap, &os);
	client_owner_locked(c, &o);
	fuzz_owned_locked(c->owner, &ret->mine, at);
	daemon_heap_unlock(&fuzz_d.core);
	ret->spans = hs.objects;
	ret->own = o.nspans;
	ret->objects = os.open + os.sealed + os.deleted;
	if (ret->mine.spans != o.nspans || ret->mine.pages != o.npages)
		fuzz_fail(at, "client %u owns %llu spans of %llu pages, its record says %llu of %llu",
			  c->id, (unsigned long long)ret->mine.spans,
			  (unsigned long long)ret->mine.pages,
			  (unsigned long long)o.nspans,
			  (unsigned long long)o.npages);
}

/*
 * Nothing here takes from a magazine: its spans are all FILL, a fill
 * ring's worth per class at most, within the cache bound.
 */
static void check_magazine(const struct client *c, const struct census *k,
			   size_t at)
{
	uint64_t bytes = 0;

	for (unsigned int cls = 0; cls < MAG_NCLASSES; cls++) {
		if (k->mine.held[cls] ||
		    k->mine.fill[cls] > MAGAZINE_TARGET_MAX)
			fuzz_fail(at, "client %u has %llu HELD, %llu FILL spans of class %u",
				  c->id,
				  (unsigned long long)k->mine.held[cls],
				  (unsigned long long)k->mine.fill[cls], cls);
		bytes += 3 * k->mine.fill[cls] * (HEAP_PAGE_SIZE << cls);
	}
	if (bytes > FUZZ_MAG_BYTES || (k->mine.mag && !c->mag))
		fuzz_fail(at, "client %u caches %llu spans (3 x %llu bytes)%s",
			  c->id, (unsigned long long)k->mine.mag,
			  (unsigned long long)bytes / 3,
			  c->mag ? "" : " without a magazine");
}

/*
 * A MAG_REFILL's answer, by what the client's magazine held after it:
 * served (0) a class that ran dry only if it has spans now; -ENOMEM only
 * if it has none; -ENODEV only without a magazine; -EPROTO only before
 * HELLO.
 */
static void check_refill(const struct client *c, bool welcomed,
			 const uint8_t *msg, const struct fuzz_peer *p,
			 const struct census *after, size_t at)
{
	struct proto_mag m;
	int s = p->last_status;
	bool ok;

	memcpy(&m, msg, sizeof(m));
	if (!welcomed)
		ok = s == -EPROTO;
	else if (!c->mag)
		ok = s == -ENODEV;
	else if (s == 0)
		ok = !(m.flags & PROTO_MAG_EMPTY) || after->mine.fill[m.cls];
	else
		ok = s == -ENOMEM && !after->mine.fill[m.cls];
	if (!ok)
		fuzz_fail(at, "MAG_REFILL of class %u, flags %#x answered %d; %s, %llu FILL spans of the class after",
			  m.cls, m.flags, s,
			  !welcomed ? "before HELLO" :
			  c->mag ? "a magazine" : "no magazine",
			  (unsigned long long)after->mine.fill[m.cls]);
}

/* The live object named @name: a walk of the (small) table. */
static bool obj_named(const char *name, size_t len,
		      struct heap_obj_info *ret)
{
	struct heap_obj_info i;
	uint64_t cursor = 0;
	bool found = false;

	daemon_heap_lock(&fuzz_d.core);
	while (!found && heap_obj_next(fuzz_d.core.heap, &cursor, &i))
		found = !i.deleted && i.name_len == len &&
			!memcmp(i.name, name, len);
	daemon_heap_unlock(&fuzz_d.core);
	if (found)
		*ret = i;
	return found;
}

static bool obj_lookup(uint64_t id, struct heap_obj_info *ret)
{
	int r;

	daemon_heap_lock(&fuzz_d.core);
	r = heap_obj_lookup(fuzz_d.core.heap, id, ret);
	daemon_heap_unlock(&fuzz_d.core);
	return r == 0;
}

/* @msg as an object request, and its object before it is served. */
static void obj_req_of(const uint8_t *msg, size_t len, struct obj_req *ret)
{
	struct proto_obj_id m;
	size_t name_at = 0, namelen_at = 0;
	uint16_t namelen;

	memset(ret, 0, sizeof(*ret));
	if (len > PROTO_REQUEST_MAX || proto_check_request(msg, len) < 0)
		return;
	memcpy(&m.hdr, msg, sizeof(m.hdr));
	switch (m.hdr.type) {
	case PROTO_OBJ_SEAL:
	case PROTO_OBJ_RELEASE:
		memcpy(&m, msg, sizeof(m));
		ret->type = m.hdr.type;
		ret->id = m.id;
		ret->had = obj_lookup(m.id, &ret->before);
		return;
	case PROTO_OBJ_CREATE:
		name_at = offsetof(struct proto_obj_create, name);
		namelen_at = offsetof(struct proto_obj_create, namelen);
		break;
	case PROTO_OBJ_GET:
		name_at = offsetof(struct proto_obj_get, name);
		namelen_at = offsetof(struct proto_obj_get, namelen);
		break;
	case PROTO_OBJ_DELETE:
		name_at = offsetof(struct proto_obj_delete, name);
		namelen_at = offsetof(struct proto_obj_delete, namelen);
		break;
	default:
		return;
	}
	memcpy(&namelen, msg + namelen_at, sizeof(namelen));
	ret->type = m.hdr.type;
	ret->name = (const char *)msg + name_at;
	ret->len = namelen;
	ret->had = obj_named(ret->name, ret->len, &ret->before);
}

static bool answered(void *arg)
{
	struct fuzz_peer *p = arg;

	fuzz_peer_drain(p, cur_at);
	return fuzz_peer_settled(p);
}

/* @p's get is answered, or its client gone. */
static bool wait_over(void *arg)
{
	struct fuzz_peer *p = arg;

	return answered(p) && !fuzz_peer_waiting(p);
}

/* How many spans @msg may add to its client's, given its answer. */
static int64_t spans_added(const struct fuzz_peer *p, const uint8_t *msg,
			   size_t len)
{
	struct proto_free f;
	struct proto_hdr hdr;

	if (len > PROTO_REQUEST_MAX || proto_check_request(msg, len) < 0 ||
	    p->last_status < 0)
		return 0;
	memcpy(&hdr, msg, sizeof(hdr));
	if (hdr.type == PROTO_SPAN_ALLOC)
		return p->last_count;
	if (hdr.type != PROTO_SPAN_FREE)
		return 0;
	memcpy(&f, msg, proto_free_size(0));
	return f.flags & PROTO_FREE_CHECK ? 0 : -(int64_t)p->last_count;
}

/* How many object spans @q adds, given its answer and its object. */
static int64_t objects_added(const struct fuzz_peer *p,
			     const struct obj_req *q)
{
	const struct heap_obj_info *b = &q->before;

	if (!q->type || q->type == PROTO_OBJ_GET || p->last_status < 0)
		return 0;
	switch (q->type) {
	case PROTO_OBJ_CREATE:
		return 1;
	case PROTO_OBJ_RELEASE:
		return q->had && b->refs == 1 &&
		       (b->deleted || b->state == HEAP_OBJ_OPEN) ? -1 : 0;
	case PROTO_OBJ_DELETE:
		return q->had && !b->refs ? -1 : 0;
	default:
		return 0;
	}
}

static void obj_fail(const struct obj_req *q, int status, const char *what,
		     size_t at)
{
	fuzz_fail(at, "%s of %s %.*s (id %llu) answered %d, yet %s",
		  proto_type_name(q->type), q->had ? "live" : "no",
		  (int)q->len, q->name ? q->name : "",
		  (unsigned long long)q->id, status, what);
}

static void check_create(const struct client *c, const struct fuzz_peer *p,
			 const struct obj_req *q, size_t at)
{
	const struct proto_obj_reply *r = &p->last_obj;
	struct heap_obj_info i;

	if (p->last_status == -EEXIST && !q->had)
		obj_fail(q, p->last_status, "the name is free", at);
	if (p->last_status < 0)
		return;
	if (q->had)
		obj_fail(q, 0, "the name was taken", at);
	if (!obj_lookup(r->id, &i) || i.state != HEAP_OBJ_OPEN || i.deleted ||
	    i.refs != 1 || i.creator != c->owner || i.off != r->off ||
	    i.size != r->size || i.npages != r->npages ||
	    i.name_len != q->len || memcmp(i.name, q->name, q->len))
		obj_fail(q, 0, "the table has no such OPEN object of its creator's",
			 at);
}

static void check_get(const struct fuzz_peer *p, const struct obj_req *q,
		      bool waits, size_t at)
{
	const struct proto_obj_reply *r = &p->last_obj;
	bool sealed = q->had && q->before.state == HEAP_OBJ_SEALED;
	struct heap_obj_info i;

	if (waits || p->last_status == -ENOENT) {
		if (sealed)
			obj_fail(q, p->last_status, "it was sealed", at);
		return;
	}
	if (p->last_status < 0)
		return;
	if (!sealed || r->id != q->before.id || r->off != q->before.off ||
	    r->size != q->before.size || r->npages != q->before.npages)
		obj_fail(q, 0, "the reply is not the sealed object", at);
	if (!obj_lookup(r->id, &i) || i.refs != q->before.refs + 1)
		obj_fail(q, 0, "it took no reference", at);
}

static void check_seal(const struct client *c, const struct fuzz_peer *p,
		       const struct obj_req *q, size_t at)
{
	const struct heap_obj_info *b = &q->before;
	struct heap_obj_info i;
	int s = p->last_status;

	if (s == 0 && (!q->had || b->state != HEAP_OBJ_OPEN || b->deleted ||
		       b->creator != c->owner || !obj_lookup(q->id, &i) ||
		       i.state != HEAP_OBJ_SEALED))
		obj_fail(q, s, "it was not its own OPEN object, now sealed",
			 at);
	if ((s == -EPERM && (!q->had || b->creator == c->owner)) ||
	    (s == -EALREADY && (!q->had || b->state != HEAP_OBJ_SEALED)) ||
	    (s == -ENOENT && q->had &&
	     !(b->deleted && b->state == HEAP_OBJ_OPEN)))
		obj_fail(q, s, "the object's state says otherwise", at);
}

static void check_delete(const struct client *c, const struct fuzz_peer *p,
			 const struct obj_req *q, size_t at)
{
	uid_t uid = c->cred.uid;
	struct heap_obj_info i;
	int s = p->last_status;

	if ((s == -ENOENT && q->had) ||
	    (s == 0 && (!q->had || (uid && q->before.uid != uid))) ||
	    (s == -EPERM && (!q->had || !uid || q->before.uid == uid)))
		obj_fail(q, s, "the object's state and creator say otherwise",
			 at);
	if (s == 0 && obj_named(q->name, q->len, &i))
		obj_fail(q, s, "the name is still live", at);
}

/* @q, answered (or waiting: @waits) on @c's behalf, against the table. */
static void check_obj_req(const struct client *c, const struct fuzz_peer *p,
			  const struct obj_req *q, bool waits, size_t at)
{
	switch (q->type) {
	case PROTO_OBJ_CREATE:
		check_create(c, p, q, at);
		break;
	case PROTO_OBJ_GET:
		check_get(p, q, waits, at);
		break;
	case PROTO_OBJ_SEAL:
		check_seal(c, p, q, at);
		break;
	case PROTO_OBJ_RELEASE:
		if (p->last_status == 0 && !q->had)
			obj_fail(q, 0, "there was no such object", at);
		break;
	case PROTO_OBJ_DELETE:
		check_delete(c, p, q, at);
		break;
	}
}

/*
 * @msg as it is delivered: a copy with its alias of an id replaced
 * (fuzz_obj_alias()), or with its timeout cut to FUZZ_GET_TIMEOUT_MS if
 * it is an OBJ_GET of a longer one; else @msg.
 */
static const uint8_t *rewrite(const uint8_t *msg, size_t len)
{
	static uint8_t buf[PROTO_REQUEST_MAX];
	struct proto_obj_get m;

	if (len > PROTO_REQUEST_MAX || proto_check_request(msg, len) < 0)
		return msg;
	memcpy(buf, msg, len);
	fuzz_obj_alias(buf, len);
	memcpy(&m.hdr, buf, sizeof(m.hdr));
	if (m.hdr.type != PROTO_OBJ_GET)
		return buf;
	memcpy(&m, buf, offsetof(struct proto_obj_get, name));
	if (m.timeout_ms > FUZZ_GET_TIMEOUT_MS) {
		m.timeout_ms = FUZZ_GET_TIMEOUT_MS;
		memcpy(buf, &m, offsetof(struct proto_obj_get, name));
	}
	return buf;
}

/*
 * One datagram from @p's client, as read_one() hands it on, and its
 * replies.  Returns false once the daemon has destroyed the client.
 */
static bool deliver(struct fuzz_peer *p, const uint8_t *msg, size_t len,
		    size_t at)
{
	struct client *c = fuzz_peer_client(p);
	struct census before, after;
	struct proto_hdr hdr = { 0 };
	struct obj_req q;
	int64_t own, objs, mag;
	bool waits, welcomed, serves;

	if (!c)
		return false;
	cur_at = at;
	if (fuzz_peer_waiting(p)) {
		/* Not read while it waits: without end, never. */
		if (p->pending[p->head].timeout_ms < 0)
			return true;
		fuzz_wait(wait_over, p, "a get outlived its timeout", at);
		c = fuzz_peer_client(p);
		if (!c)
			return false;
	}
	msg = rewrite(msg, len);
	if (len >= sizeof(hdr))
		memcpy(&hdr, msg, sizeof(hdr));
	obj_req_of(msg, len, &q);
	census(c, &before, at);
	welcomed = c->welcomed;
	/* Only these move the spans of a magazine: ask it to serve. */
	serves = len == sizeof(struct proto_mag) &&
		 proto_check_request(msg, len) == 0 &&
		 (hdr.type == PROTO_MAG_KICK || hdr.type == PROTO_MAG_REFILL);
	fuzz_peer_sent(p, msg, len, 0);
	if (len > PROTO_REQUEST_MAX)
		dispatch_reject(c, msg, len, -EBADMSG, "oversized");
	else
		dispatch_request(c, msg, len);
	/* Queued replies go out from the loop, which may end the client. */
	fuzz_wait(answered, p, "a request got no final reply", at);
	for (int i = 0; i < FUZZ_CLIENTS; i++)
		fuzz_peer_drain(&peer[i], at);
	c = fuzz_peer_client(p);
	if (!c)
		return false;
	if (!STAILQ_EMPTY(&c->outq))
		fuzz_fail(at, "replies stuck in the queue of a drained client");
	waits = fuzz_peer_waiting(p);
	if (c->objwait && !waits)
		fuzz_fail(at, "a %s left its client waiting for an object",
			  proto_type_name(hdr.type));
	census(c, &after, at);
	own = spans_added(p, msg, len);
	objs = waits ? 0 : objects_added(p, &q);
	mag = (int64_t)(after.mine.mag - before.mine.mag);
	if ((int64_t)(after.own - before.own) - mag != own ||
	    (mag && !serves) ||
	    (int64_t)(after.objects - before.objects) != objs ||
	    after.spans - before.spans != (after.own - before.own) +
					  (after.objects - before.objects))
		fuzz_fail(at, "%s of status %d took spans in use from %llu to %llu, its client's from %llu to %llu (in its magazine by %lld), objects' from %llu to %llu",
			  proto_type_name(hdr.type), p->last_status,
			  (unsigned long long)before.spans,
			  (unsigned long long)after.spans,
			  (unsigned long long)before.own,
			  (unsigned long long)after.own, (long long)mag,
			  (unsigned long long)before.objects,
			  (unsigned long long)after.objects);
	check_magazine(c, &after, at);
	if (serves && hdr.type == PROTO_MAG_REFILL)
		check_refill(c, welcomed, msg, p, &after, at);
	check_obj_req(c, p, &q, waits, at);
	if (c->closing) {
		client_destroy(c);
		return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool live[FUZZ_CLIENTS];
	size_t pos = 0;
	int fds;

	fuzz_setup();
	fuzz_ids_reset();
	fds = fuzz_fd_count();
	for (int i = 0; i < FUZZ_CLIENTS; i++) {
		fuzz_peer_open(&peer[i], false);
		fuzz_peer_client(&peer[i])->cred.uid = i ? FUZZ_UID : 0;
		live[i] = true;
	}
	while (pos + 2 <= size) {
		unsigned int word = data[pos] | data[pos + 1] << 8;
		size_t len = word & 0x7fff, at = pos;
		int k = (int)(word >> 15);

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		if (live[k])
			live[k] = deliver(&peer[k], data + pos, len, at);
		pos += len;
	}
	for (int i = 0; i < FUZZ_CLIENTS; i++) {
		struct client *c = fuzz_peer_client(&peer[i]);

		if (c)
			client_destroy(c);
		fuzz_peer_close(&peer[i]);
	}
	fuzz_heap_idle(size);
	if (fuzz_fd_count() != fds)
		fuzz_fail(size, "%d fds open after the input, %d before",
			  fuzz_fd_count(), fds);
	return 0;
}
