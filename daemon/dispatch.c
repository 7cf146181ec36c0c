// SPDX-License-Identifier: MIT
/*
 * One request from a client: validate it (proto_check_request), hand it
 * to its type's handler (handlers[] below), which acts on the heap under
 * its lock and queues the reply.  A request that fails changes nothing:
 * batch allocations are undone, batch frees are checked in full before
 * the first span is freed.
 *
 * Every request costs the daemon a bounded amount, whatever the size of
 * the arena or the number of clients, so that no client can stall the
 * others: STATS is a cached text (stats.c), CLIENTS a page of at most
 * PROTO_CLIENTS_PAGE clients, and GC and SCAVENGE, which cost a walk of
 * every client or a release pass, are served at most once per
 * control_interval_ns per client (client.c, control_deferred()).
 *
 * Mutating requests (SPAN_ALLOC, SPAN_FREE, OBJ_CREATE, OBJ_SEAL,
 * OBJ_GET, OBJ_RELEASE, OBJ_DELETE: the handlers marked @mutates) are
 * applied and their reply recorded in the session (session.h) in one
 * journal transaction under the heap lock: tx_open() ... tx_close().
 * The reply is held back meanwhile (struct reply_capture) and sent once
 * the lock is given back.  A request on a resumed session whose seq and
 * type are the recorded ones is a retry: it gets the recorded reply and
 * changes nothing.  An OBJ_GET that waits records its answer when it
 * comes (dispatch_obj_record()).
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "charge.h"
#include "client.h"
#include "core.h"
#include "dispatch.h"
#include "durable.h"
#include "log.h"
#include "magazine.h"
#include "objects.h"
#include "reclaim.h"
#include "session.h"
#include "shm/arena.h"
#include "shm/heap.h"

/* JSON strings must be UTF-8; ask the JSON library, not a copy of it. */
static bool json_valid_utf8(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

static void reply(struct client *c, const void *buf, size_t len)
{
	struct reply_capture *cap = c->capture;

	if (cap) {
		if (cap->len || len > sizeof(cap->buf)) {
			log_err("BUG: a second reply, or one of %zu bytes, to a mutating request",
				len);
			abort();
		}
		memcpy(cap->buf, buf, len);
		cap->len = len;
		return;
	}
	if (client_send(c, buf, len) < 0)
		c->closing = true;
}

/*
 * The transaction of a mutating request: the heap lock, a journal
 * transaction, and its reply held back in @cap.
 */
static void tx_open(struct client *c, struct reply_capture *cap)
{
	struct core *core = c->cs->core;

	cap->len = 0;
	cap->wake = false;
	cap->park = 0;
	daemon_heap_lock(core);
	heap_tx_begin(core->heap);
	c->capture = cap;
}

/*
 * Record the reply (if the request was answered: an OBJ_GET that waits
 * is not yet) with the request's changes, end the transaction, then send
 * the reply.  Tests can have a first reply of a type not sent, as if the
 * connection broke between the apply and the reply.
 */
static void tx_close(struct client *c, const struct proto_hdr *req)
{
	struct reply_capture *cap = c->capture;
	struct clients *cs = c->cs;
	uint32_t bit = UINT32_C(1) << req->type;

	c->capture = NULL;
	if (cap->len)
		session_record_locked(&cs->sessions, c->owner, req->type,
				      req->seq, cap->buf, cap->len);
	heap_tx_end(cs->core->heap);
	daemon_heap_unlock(cs->core);
	if (!cap->len)
		return;
	if (cs->break_types & bit) {
		cs->break_types &= ~bit;
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	reply(c, cap->buf, cap->len);
}

static void reply_status(struct client *c, const struct proto_hdr *req,
			 int status)
{
	struct proto_hdr hdr;

	proto_hdr_init(&hdr, req->type | PROTO_REPLY, req->seq);
	hdr.status = status;
	reply(c, &hdr, sizeof(hdr));
}

/* The magazine's bound: what its client's quotas leave it. */
static uint64_t room_of(void *ctx)
{
	struct client *c = ctx;

	return charge_room_locked(c->cs->charge, c->cred.uid,
				  client_held_locked(c));
}

/*
 * A magazine for @c, if one can be made: without it the client uses the
 * socket for every span, which works, so a failure is only logged.
 */
static void new_magazine(struct client *c)
{
	struct clients *cs = c->cs;
	/* Its record outlives the daemon in the durable area, if any. */
	void *area = cs->durable ? durable_mag_area(cs->durable, c->owner) :
				   NULL;
	int r = magazine_new(cs->core, c->owner, c->id, c->cred.pid,
			     cs->mag_bytes, &cs->log_bad, area, &c->mag);

	if (r == 0 && cs->charge)
		magazine_set_room(c->mag, room_of, c);
	if (r < 0)
		log_limited(&cs->log_bad, 4,
			    "client %u (pid %d): no magazine: %s; its spans go "
			    "through the socket (raise the fd limit, or free "
			    "memory)",
			    c->id, (int)c->cred.pid, strerror(-r));
}

/* The token of @c's session: a resume's, or a new one. */
static int hello_session(struct client *c, const struct proto_hello *req,
			 struct proto_session *ret)
{
	struct clients *cs = c->cs;
	int r;

	if (req->flags & PROTO_HELLO_RESUME) {
		r = client_take_session(c, &req->session, req->mag_took);
		if (r == 0)
			*ret = req->session;
		return r;
	}
	daemon_heap_lock(cs->core);
	r = session_open_locked(&cs->sessions, c->owner, c->id, ret);
	daemon_heap_unlock(cs->core);
	return r;
}

static void do_hello(struct client *c, const void *msg)
{
	const struct proto_hello *req = msg;
	struct clients *cs = c->cs;
	struct proto_welcome w;
	unsigned int nfds = 1;
	int fds[2], r;

	if (c->welcomed) {
		reply_status(c, &req->hdr, -EISCONN);
		return;
	}
	memset(&w, 0, sizeof(w));
	r = hello_session(c, req, &w.session);
	if (r < 0) {
		/*
		 * A stale resume is what every client of the arena that a
		 * full stop dropped sends: a notice, not a fault of ours.
		 */
		log_limited(&cs->log_bad, r == -ESTALE ? 5 : 4,
			    "client %u (pid %d): %s: %s", c->id,
			    (int)c->cred.pid,
			    r == -ESTALE ? "a resume of no session it may take back (another arena's, expired, or not its own)" :
					   "no session token",
			    strerror(-r));
		reply_status(c, &req->hdr, r);
		c->closing = true;
		return;
	}
	c->keep = req->flags & (PROTO_HELLO_KEEP | PROTO_HELLO_RESUME);
	memcpy(c->name, req->name, sizeof(c->name));
	c->name[sizeof(c->name) - 1] = 0;
	/* Keep names printable: they end up in logs and JSON. */
	for (char *p = c->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (!json_valid_utf8(c->name))
		for (char *p = c->name; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
	proto_hdr_init(&w.hdr, PROTO_WELCOME, req->hdr.seq);
	w.page_size = (uint32_t)HEAP_PAGE_SIZE;
	w.max_batch = PROTO_MAX_BATCH;
	w.arena_size = cs->arena->size;
	w.client_id = c->id;
	w.grace_ms = clients_grace_ms(cs);
	w.generation = sessions_generation(&cs->sessions);
	fds[0] = cs->arena->fd;
	if (req->flags & PROTO_HELLO_MAGAZINE && cs->mag_bytes && !c->mag)
		new_magazine(c);
	if (c->mag) {
		w.mag_size = magazine_size(c->mag);
		fds[nfds++] = magazine_fd(c->mag);
	}
	c->welcomed = true;
	daemon_heap_lock(cs->core);
	heap_owner_set_name(cs->core->heap, c->owner, c->name);
	daemon_heap_unlock(cs->core);
	log_limited(&cs->log_connected, 6,
		    "client %u %s: %s, pid %d, uid %u", c->id,
		    c->resumed ? "resumed its session" : "connected",
		    c->name[0] ? c->name : "(unnamed)", (int)c->cred.pid,
		    (unsigned int)c->cred.uid);
	if (client_send_fds(c, &w, sizeof(w), fds, nfds) < 0)
		c->closing = true;
}

/*
 * An allocation of @need bytes met the memory limit (-ENOBUFS, having
 * changed nothing): unless this was its last try, it goes unanswered, to
 * wait for room for what it takes past the limit (mutate() parks it once
 * its transaction is over).
 * Return: whether it waits.
 */
static bool park(struct client *c, uint64_t need)
{
	struct heap *h = c->cs->core->heap;
	uint64_t limit = heap_limit(h), consumed;
	struct heap_stats st;

	if (c->reclaim_final)
		return false;
	/* Room for what is over the limit: no more is released or evicted. */
	heap_stats(h, &st);
	consumed = st.sys - st.released;
	if (limit && consumed + need > limit)
		need = consumed + need - limit;
	c->capture->park = need ? need : 1;
	return true;
}

/*
 * Park the request @msg of @len bytes that park() kept unanswered: it
 * waits for room with the connection's reads off (reclaim.h).  Without
 * memory for the wait, it is tried at once as its last try.
 */
static void park_request(struct client *c, const void *msg, size_t len,
			 uint64_t need)
{
	c->parked = malloc(len);
	if (c->parked &&
	    reclaim_wait(c->cs->reclaim, c, need, &c->reclaim) == 0) {
		memcpy(c->parked, msg, len);
		c->parked_len = len;
		event_del(c->ev_read);
		return;
	}
	free(c->parked);
	c->parked = NULL;
	c->reclaim_final = true;
	dispatch_request(c, msg, len);
	c->reclaim_final = false;
}

void dispatch_reclaimed(void *ctx, void *waiter, bool progress)
{
	struct client *c = waiter;
	void *msg = c->parked;

	(void)ctx;
	c->reclaim = NULL;
	c->parked = NULL;
	c->reclaim_final = !progress ||
			   ++c->reclaim_rounds >= DISPATCH_RECLAIM_ROUNDS;
	dispatch_request(c, msg, c->parked_len);
	free(msg);
	if (c->reclaim)
		return;		/* it waits again */
	c->reclaim_rounds = 0;
	c->reclaim_final = false;
	client_resume(c);
}

static void do_alloc(struct client *c, const void *msg)
{
	const struct proto_alloc *req = msg;
	struct core *core = c->cs->core;
	struct proto_alloc_reply rep;
	unsigned int flags = req->flags & PROTO_ALLOC_ZERO ? HEAP_ALLOC_ZERO : 0;
	uint64_t now = daemon_now();
	uint32_t i;
	int r = 0;

	memset(&rep, 0, proto_alloc_reply_size(0));
	proto_hdr_init(&rep.hdr, PROTO_SPAN_ALLOC | PROTO_REPLY, req->hdr.seq);
	daemon_assert_locked(core);
	if (c->cs->charge)
		r = charge_spans_locked(c->cs->charge, c->cred.uid,
					client_held_locked(c),
					(uint64_t)req->count * req->npages *
						HEAP_PAGE_SIZE);
	for (i = 0; r == 0 && i < req->count; i++) {
		struct heap_span s;

		r = heap_alloc(core->heap, req->npages, flags, c->owner, now,
			       &s);
		if (r < 0)
			break;
		rep.spans[i].off = s.off;
		rep.spans[i].npages = s.npages;
	}
	if (r < 0)
		while (i-- > 0)
			heap_free(core->heap, rep.spans[i].off, c->owner, now);
	if (r == -ENOBUFS && park(c, (uint64_t)req->count * req->npages *
				     HEAP_PAGE_SIZE))
		return;
	if (r < 0) {
		rep.hdr.status = r == -ENOBUFS ? -ENOMEM : r;
		reply(c, &rep, proto_alloc_reply_size(0));
		return;
	}
	rep.count = req->count;
	reply(c, &rep, proto_alloc_reply_size(rep.count));
}

/* Check every offset first: nothing is freed unless all can be. */
static int check_free_locked(struct client *c, const struct proto_free *req,
			     uint32_t *ret_bad)
{
	daemon_assert_locked(c->cs->core);
	for (uint32_t i = 0; i < req->count; i++) {
		unsigned int state = HEAP_MAG_NONE;
		uint64_t npages;
		uint32_t owner;
		int r = heap_mag_get(c->cs->core->heap, req->off[i], &owner,
				     &npages, &state);

		if (r == 0 && owner != c->owner)
			r = -EPERM;
		/* In its fill ring, not taken: not a span it holds. */
		if (r == 0 && state == HEAP_MAG_FILL)
			r = -EINVAL;
		for (uint32_t j = 0; r == 0 && j < i; j++)
			if (req->off[j] == req->off[i])
				r = -EINVAL;
		if (r < 0) {
			*ret_bad = i;
			return r;
		}
	}
	return 0;
}

static void do_free(struct client *c, const void *msg)
{
	const struct proto_free *req = msg;
	struct core *core = c->cs->core;
	struct proto_free_reply rep;
	uint64_t now = daemon_now();
	bool check_only = req->flags & PROTO_FREE_CHECK;
	uint32_t bad = 0;
	int r;

	memset(&rep, 0, sizeof(rep));
	proto_hdr_init(&rep.hdr, PROTO_SPAN_FREE | PROTO_REPLY, req->hdr.seq);
	daemon_assert_locked(core);
	/* A span it took from its magazine is its own to free here too. */
	if (c->mag)
		magazine_sync_locked(c->mag);
	r = check_free_locked(c, req, &bad);
	/* PROTO_FREE_CHECK: the reply a free would get, and nothing freed. */
	for (uint32_t i = 0; r == 0 && !check_only && i < req->count; i++) {
		int fr = heap_free(core->heap, req->off[i], c->owner, now);

		if (fr < 0) {
			log_err("BUG: free of a checked span failed: %d", fr);
			abort();
		}
	}
	rep.hdr.status = r;
	rep.count = r ? 0 : req->count;
	rep.bad = bad;
	reply(c, &rep, sizeof(rep));
}

/* The chunked reply to STATS or CLIENTS; its text is made as it goes. */
static void reply_text(struct client *c, const struct text_req *req)
{
	if (client_send_text(c, req) < 0)
		c->closing = true;
}

static void do_stats(struct client *c, const void *msg)
{
	const struct proto_hdr *req = msg;
	struct text_req t = { req->type, req->seq, 0, 0 };

	reply_text(c, &t);
}

static void do_clients(struct client *c, const void *msg)
{
	const struct proto_clients *req = msg;
	struct text_req t = { req->hdr.type, req->hdr.seq, req->after,
			      req->max };

	reply_text(c, &t);
}

static void do_scavenge(struct client *c, const void *msg)
{
	const struct proto_hdr *req = msg;

	client_scavenge(c, req->seq);
}

static void do_gc(struct client *c, const void *msg)
{
	const struct proto_hdr *req = msg;

	client_gc(c, req->seq);
}

/* The reply to OBJ_CREATE and OBJ_GET: the object, or a bare status. */
static void reply_obj(struct client *c, uint16_t type, uint32_t seq,
		      int status, const struct heap_obj_info *info)
{
	struct proto_obj_reply rep;

	memset(&rep, 0, sizeof(rep));
	proto_hdr_init(&rep.hdr, type | PROTO_REPLY, seq);
	rep.hdr.status = status;
	if (status < 0) {
		reply(c, &rep.hdr, sizeof(rep.hdr));
		return;
	}
	rep.id = info->id;
	rep.off = info->off;
	rep.size = info->size;
	rep.npages = info->npages;
	reply(c, &rep, sizeof(rep));
}

/* The table refuses an owner that is not live: a live client's is. */
static int owner_live(int r)
{
	if (r == -ESRCH) {
		log_err("BUG: a live client's heap owner is not live");
		abort();
	}
	return r;
}

static void do_obj_create(struct client *c, const void *msg)
{
	const struct proto_obj_create *req = msg;
	struct heap_obj_new n = {
		.name = req->name,
		.len = req->namelen,
		.size = req->size,
		.flags = (req->flags & PROTO_OBJ_ZERO ? HEAP_ALLOC_ZERO : 0) |
			 (req->flags & PROTO_OBJ_EVICTABLE ?
				  HEAP_OBJ_EVICTABLE : 0),
		.pid = (uint32_t)c->cred.pid,
		.uid = c->cred.uid,
	};
	struct heap_obj_info info;
	uint64_t bytes = (req->size + HEAP_PAGE_SIZE - 1) & ~(HEAP_PAGE_SIZE - 1);
	int r = c->cs->charge ? charge_object_locked(c->cs->charge,
						     c->cred.uid, bytes) : 0;

	if (r == 0)
		r = owner_live(objects_create_locked(c->cs->objects, c->owner,
						     &n, &info));

	if (r == -ENOBUFS && park(c, req->size))
		return;
	if (r == -ENOBUFS)
		r = -ENOMEM;
	/* Its uid pays for it until it is freed (charge.h, the heap's hook). */
	if (r == 0 && c->cs->charge)
		charge_obj_add(c->cs->charge, c->cred.uid,
			       info.npages << HEAP_PAGE_SHIFT);
	reply_obj(c, PROTO_OBJ_CREATE, req->hdr.seq, r, &info);
}

/* Its waiters are woken once its transaction is over: see dispatch(). */
static void do_obj_seal(struct client *c, const void *msg)
{
	const struct proto_obj_id *req = msg;
	struct heap_obj_info *obj = &c->capture->sealed;
	int r = objects_seal_locked(c->cs->objects, c->owner, req->id, obj);

	c->capture->wake = r == 0;
	reply_status(c, &req->hdr, r);
}

static void do_obj_get(struct client *c, const void *msg)
{
	const struct proto_obj_get *req = msg;
	struct heap_obj_info info;
	struct obj_wait *w;
	int r = objects_get_locked(c->cs->objects, c->owner, req->name,
				   req->namelen, req->timeout_ms, c,
				   req->hdr.seq, &w, &info);

	if (r == -EINPROGRESS) {
		client_wait_object(c, w);
		return;
	}
	reply_obj(c, PROTO_OBJ_GET, req->hdr.seq, owner_live(r), &info);
}

/* The reply to OBJ_GET, in @rep; returns its length. */
static size_t obj_reply(uint16_t type, uint32_t seq, int status,
			const struct heap_obj_info *info,
			struct proto_obj_reply *rep)
{
	memset(rep, 0, sizeof(*rep));
	proto_hdr_init(&rep->hdr, type | PROTO_REPLY, seq);
	rep->hdr.status = status;
	if (status < 0)
		return sizeof(rep->hdr);
	rep->id = info->id;
	rep->off = info->off;
	rep->size = info->size;
	rep->npages = info->npages;
	return sizeof(*rep);
}

void dispatch_obj_record(void *ctx, void *waiter, uint32_t seq, int status,
			 const struct heap_obj_info *info)
{
	struct client *c = waiter;
	struct proto_obj_reply rep;
	size_t len = obj_reply(PROTO_OBJ_GET, seq, status, info, &rep);

	(void)ctx;
	session_record_locked(&c->cs->sessions, c->owner, PROTO_OBJ_GET, seq,
			      &rep, len);
}

void dispatch_obj_woken(void *ctx, void *waiter, uint32_t seq, int status,
			const struct heap_obj_info *info)
{
	struct client *c = waiter;

	(void)ctx;
	client_object_answered(c);
	reply_obj(c, PROTO_OBJ_GET, seq, status, info);
	client_resume(c);
}

static void do_obj_release(struct client *c, const void *msg)
{
	const struct proto_obj_id *req = msg;

	reply_status(c, &req->hdr,
		     objects_release_locked(c->cs->objects, c->owner, req->id));
}

static void do_obj_delete(struct client *c, const void *msg)
{
	const struct proto_obj_delete *req = msg;

	reply_status(c, &req->hdr,
		     objects_delete_locked(c->cs->objects, req->name,
					   req->namelen, c->cred.uid));
}

static void do_objects(struct client *c, const void *msg)
{
	const struct proto_objects *req = msg;
	struct text_req t = { req->hdr.type, req->hdr.seq, req->after,
			      req->max };

	reply_text(c, &t);
}

/* No reply, ever: the client sent it out of its request stream. */
static void do_mag_kick(struct client *c, const void *msg)
{
	struct core *core = c->cs->core;

	(void)msg;
	if (!c->mag)
		return;
	daemon_heap_lock(core);
	magazine_kick_locked(c->mag, daemon_now());
	daemon_heap_unlock(core);
}

/* The client goes for good: no session is kept for it. */
static void do_bye(struct client *c, const void *msg)
{
	(void)msg;
	c->bye = true;
	c->closing = true;
}

static void do_mag_refill(struct client *c, const void *msg)
{
	const struct proto_mag *req = msg;
	struct core *core = c->cs->core;
	int r = -ENODEV;

	if (c->mag) {
		daemon_heap_lock(core);
		r = magazine_refill_locked(c->mag, req->cls, req->flags,
					   daemon_now());
		daemon_heap_unlock(core);
	}
	reply_status(c, &req->hdr, r);
}

void dispatch_reject(struct client *c, const void *buf, size_t len, int err,
		     const char *why)
{
	const struct proto_msg *msg;
	struct proto_hdr hdr = { 0 };

	if (len >= sizeof(hdr))
		memcpy(&hdr, buf, sizeof(hdr));
	/*
	 * A client cannot fill the log: the first few of each are enough,
	 * and clients that come and go are limited together.
	 */
	clients_changed(c->cs);
	if (c->nbad < UINT64_MAX)
		c->nbad++;
	if (c->nbad <= 10)
		log_limited(&c->cs->log_bad, 4,
			    "client %u (pid %d): %s %s message of %zu bytes%s",
			    c->id, (int)c->cred.pid, why,
			    proto_type_name(hdr.type), len,
			    c->nbad == 10 ? "; not logging more" : "");
	hdr.type &= (uint16_t)~PROTO_REPLY;
	/*
	 * A message the protocol never answers (MAG_KICK) is not answered
	 * when refused either: its sender does not wait for a reply, and one
	 * would be taken for the reply to its next request.
	 */
	msg = proto_msg(hdr.type);
	if (msg && msg->no_reply)
		return;
	reply_status(c, &hdr, err);
}

/*
 * The handler of every request type, indexed by type.  A handler gets the
 * request checked by proto_check_request() (its size and fields are what
 * proto/proto.c's table says) and copied into an aligned buffer, zero
 * past its end; it queues every reply itself.
 *
 * To add a message: its structs and its entry in proto/proto.c's table
 * (see there), then here its handler, which reads @msg as the request's
 * struct, and the handler's entry: @before_hello if a client may send it
 * before HELLO (only HELLO), @keeps_stats if it changes nothing MemStats
 * shows, @mutates if it changes the heap for its client and must not be
 * applied twice (it runs under the heap lock, in the transaction that
 * records its reply: see the top of the file).
 * tests/daemon/test_dispatch_flow.c checks that every type of proto.c's
 * table has a handler here.
 */
struct dispatch_handler {
	void (*fn)(struct client *c, const void *msg);
	bool before_hello;
	bool keeps_stats;
	bool mutates;
};

static const struct dispatch_handler handlers[] = {
	[PROTO_HELLO] = { .fn = do_hello, .before_hello = true },
	[PROTO_SPAN_ALLOC] = { .fn = do_alloc, .mutates = true },
	[PROTO_SPAN_FREE] = { .fn = do_free, .mutates = true },
	[PROTO_STATS] = { .fn = do_stats, .keeps_stats = true },
	[PROTO_SCAVENGE] = { .fn = do_scavenge },
	[PROTO_GC] = { .fn = do_gc },
	[PROTO_CLIENTS] = { .fn = do_clients, .keeps_stats = true },
	[PROTO_OBJ_CREATE] = { .fn = do_obj_create, .mutates = true },
	[PROTO_OBJ_SEAL] = { .fn = do_obj_seal, .mutates = true },
	[PROTO_OBJ_GET] = { .fn = do_obj_get, .mutates = true },
	[PROTO_OBJ_RELEASE] = { .fn = do_obj_release, .mutates = true },
	[PROTO_OBJ_DELETE] = { .fn = do_obj_delete, .mutates = true },
	[PROTO_OBJECTS] = { .fn = do_objects, .keeps_stats = true },
	[PROTO_MAG_KICK] = { .fn = do_mag_kick },
	[PROTO_MAG_REFILL] = { .fn = do_mag_refill },
	[PROTO_BYE] = { .fn = do_bye },
};

/*
 * A mutating request: a retry on a resumed session gets its recorded
 * reply; any other is applied and recorded in one transaction.
 */
static void mutate(struct client *c, const struct dispatch_handler *h,
		   const struct proto_hdr *req, size_t len)
{
	struct clients *cs = c->cs;
	struct reply_capture cap;
	size_t rlen;

	if (c->resumed) {
		daemon_heap_lock(cs->core);
		if (session_replay_locked(&cs->sessions, c->owner, req->type,
					  req->seq, cap.buf, &rlen) == 0) {
			daemon_heap_unlock(cs->core);
			reply(c, cap.buf, rlen);
			return;
		}
		daemon_heap_unlock(cs->core);
	}
	tx_open(c, &cap);
	h->fn(c, req);
	tx_close(c, req);
	if (cap.wake)
		objects_wake(cs->objects, &cap.sealed);
	if (cap.park)
		park_request(c, req, len, cap.park);
}

static const struct dispatch_handler *handler_of(uint16_t type)
{
	if (type >= sizeof(handlers) / sizeof(handlers[0]) ||
	    !handlers[type].fn)
		return NULL;
	return &handlers[type];
}

bool dispatch_handles(uint16_t type)
{
	return handler_of(type) != NULL;
}

void dispatch_request(struct client *c, const void *buf, size_t len)
{
	union {
		struct proto_hdr hdr;
		max_align_t align;
		char buf[PROTO_REQUEST_MAX];
	} m;
	const struct dispatch_handler *h;
	int r = proto_check_request(buf, len);

	if (r < 0) {
		dispatch_reject(c, buf, len, r,
				r == -EPROTONOSUPPORT ? "wrong protocol version:" :
				r == -EOPNOTSUPP ?	"unknown request type:" :
							"malformed");
		if (r == -EPROTONOSUPPORT)
			c->closing = true;
		return;
	}
	memcpy(&m.hdr, buf, sizeof(m.hdr));
	h = handler_of(m.hdr.type);
	if (!h || len > sizeof(m)) {
		log_err("BUG: a checked %s request of %zu bytes has %s",
			proto_type_name(m.hdr.type), len,
			h ? "no room" : "no handler");
		abort();
	}
	memset(&m, 0, sizeof(m));
	memcpy(&m, buf, len);
	if (!c->welcomed && !h->before_hello) {
		dispatch_reject(c, buf, len, -EPROTO, "before HELLO:");
		return;
	}
	/* What MemStats shows changes with every request but these. */
	if (!h->keeps_stats)
		clients_changed(c->cs);
	if (h->mutates)
		mutate(c, h, &m.hdr, len);
	else
		h->fn(c, &m);
}
