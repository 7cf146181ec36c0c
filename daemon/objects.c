// SPDX-License-Identifier: MIT
/*
 * Shared objects in the daemon: each request is one call on the heap's
 * object table (shm/object.c, which holds every rule of the life cycle)
 * under the heap lock; what is the daemon's own are the gets that wait.
 *
 * A get that finds no sealed object of its name waits, unless its
 * timeout is 0: a struct obj_wait on o->waits, with a timer if the
 * timeout is finite.  objects_seal() walks the waits after a successful
 * seal and answers each one of that name: its reference is taken then,
 * for its owner, exactly as a get would take it.  Invariant: a wait is
 * on o->waits from its beginning until it is answered or cancelled, and
 * is freed at once after; o->nwaits counts them.  The walk costs
 * O(waits) per seal, which are at most the connections.
 *
 * The heap's rules decide; the daemon never waits on a client and never
 * trusts one: names, ids and sizes come from checked requests and the
 * table checks them again (-EINVAL, -ENOENT, -EPERM).
 */
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "objects.h"
#include "scavenger.h"
#include "shm/heap.h"

struct obj_wait {
	TAILQ_ENTRY(obj_wait) link;
	struct objects *o;
	void *waiter;
	uint32_t owner;
	uint32_t seq;
	struct event *timer;	/* NULL: waits for as long as it lives */
	uint64_t deadline;	/* daemon_now() when the timer may end it */
	size_t len;
	char name[HEAP_OBJ_NAME_MAX];
};

void objects_init(struct objects *o, struct core *core,
		  struct event_base *base, struct scavenger *scav,
		  const struct objects_hooks *hooks)
{
	memset(o, 0, sizeof(*o));
	o->core = core;
	o->base = base;
	o->scav = scav;
	o->hooks = *hooks;
	TAILQ_INIT(&o->waits);
}

void objects_fini(struct objects *o)
{
	struct obj_wait *w;

	/* Every connection, and so every wait, is gone by now. */
	while ((w = TAILQ_FIRST(&o->waits)))
		objects_wait_cancel(o, w);
}

int objects_create_locked(struct objects *o, uint32_t owner,
			  const struct heap_obj_new *req,
			  struct heap_obj_info *ret)
{
	daemon_assert_locked(o->core);
	return heap_obj_create(o->core->heap, owner, req, daemon_now(), ret);
}

int objects_create(struct objects *o, uint32_t owner,
		   const struct heap_obj_new *req, struct heap_obj_info *ret)
{
	int r;

	daemon_heap_lock(o->core);
	r = objects_create_locked(o, owner, req, ret);
	daemon_heap_unlock(o->core);
	return r;
}

static void wait_free(struct objects *o, struct obj_wait *w)
{
	TAILQ_REMOVE(&o->waits, w, link);
	o->nwaits--;
	o->changes++;
	if (w->timer)
		event_free(w->timer);
	free(w);
}

/* Answer @w with @status (and @info) and end it. */
static void wait_answer(struct objects *o, struct obj_wait *w, int status,
			const struct heap_obj_info *info)
{
	void *waiter = w->waiter;
	uint32_t seq = w->seq;

	wait_free(o, w);
	o->hooks.woken(o->hooks.ctx, waiter, seq, status, info);
}

int objects_seal_locked(struct objects *o, uint32_t owner, uint64_t id,
			struct heap_obj_info *ret)
{
	int r;

	daemon_assert_locked(o->core);
	r = heap_obj_seal(o->core->heap, owner, id);
	if (r == 0)
		r = heap_obj_lookup(o->core->heap, id, ret);
	return r;
}

/*
 * The answer to a wait is recorded (hooks.record) in the transaction of
 * the reference it takes, so that a retry of the get after a broken
 * connection is answered with it, not given a second reference.
 */
void objects_wake(struct objects *o, const struct heap_obj_info *obj)
{
	struct heap *h = o->core->heap;
	struct heap_obj_info info;
	struct obj_wait *w, *next;
	int r;

	/*
	 * Each answer may end its connection's wait and queue a reply, but
	 * never frees another wait: the next one is safe to keep.
	 */
	for (w = TAILQ_FIRST(&o->waits); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->len != obj->name_len ||
		    memcmp(w->name, obj->name, w->len))
			continue;
		daemon_heap_lock(o->core);
		heap_tx_begin(h);
		r = heap_obj_get(h, w->owner, w->name, w->len, &info);
		if (o->hooks.record)
			o->hooks.record(o->hooks.ctx, w->waiter, w->seq, r,
					&info);
		heap_tx_end(h);
		daemon_heap_unlock(o->core);
		o->woken++;
		wait_answer(o, w, r, &info);
	}
}

int objects_seal(struct objects *o, uint32_t owner, uint64_t id)
{
	struct heap_obj_info obj;
	int r;

	daemon_heap_lock(o->core);
	r = objects_seal_locked(o, owner, id, &obj);
	daemon_heap_unlock(o->core);
	if (r < 0)
		return r;
	objects_wake(o, &obj);
	return 0;
}

/* @ns as a timeout, rounded up to the microsecond. */
static struct timeval timeval_of(uint64_t ns)
{
	uint64_t us = (ns + 999) / 1000;

	return (struct timeval){ (time_t)(us / 1000000),
				 (suseconds_t)(us % 1000000) };
}

/*
 * libevent measures a timeout from the time it cached at the start of
 * the loop's turn, so the timer may fire a little early: a get never
 * times out before its time, so what is left is waited for again.
 */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct obj_wait *w = arg;
	struct objects *o = w->o;
	uint64_t now = daemon_now();
	struct timeval tv;

	(void)fd, (void)what;
	if (now < w->deadline) {
		tv = timeval_of(w->deadline - now);
		if (evtimer_add(w->timer, &tv) == 0)
			return;
	}
	o->timeouts++;
	if (o->hooks.record) {
		daemon_heap_lock(o->core);
		heap_tx_begin(o->core->heap);
		o->hooks.record(o->hooks.ctx, w->waiter, w->seq, -ETIMEDOUT,
				NULL);
		heap_tx_end(o->core->heap);
		daemon_heap_unlock(o->core);
	}
	wait_answer(o, w, -ETIMEDOUT, NULL);
}

static int wait_begin(struct objects *o, uint32_t owner, const char *name,
		      size_t len, int32_t timeout_ms, void *waiter,
		      uint32_t seq, struct obj_wait **ret)
{
	struct obj_wait *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->o = o;
	w->waiter = waiter;
	w->owner = owner;
	w->seq = seq;
	w->len = len;
	memcpy(w->name, name, len);
	if (timeout_ms > 0) {
		uint64_t ns = (uint64_t)timeout_ms * 1000000;
		struct timeval tv = timeval_of(ns);

		w->deadline = daemon_now() + ns;
		w->timer = evtimer_new(o->base, on_timeout, w);
		if (!w->timer || evtimer_add(w->timer, &tv) < 0) {
			if (w->timer)
				event_free(w->timer);
			free(w);
			return -ENOMEM;
		}
	}
	TAILQ_INSERT_TAIL(&o->waits, w, link);
	o->nwaits++;
	o->changes++;
	*ret = w;
	return 0;
}

int objects_get_locked(struct objects *o, uint32_t owner, const char *name,
		       size_t len, int32_t timeout_ms, void *waiter,
		       uint32_t seq, struct obj_wait **ret_wait,
		       struct heap_obj_info *ret)
{
	int r;

	daemon_assert_locked(o->core);
	r = heap_obj_get(o->core->heap, owner, name, len, ret);
	/* Absent, or still OPEN: the same to the caller. */
	if (r != -ENOENT && r != -EAGAIN)
		return r;
	if (!timeout_ms)
		return -ENOENT;
	r = wait_begin(o, owner, name, len, timeout_ms, waiter, seq,
		       ret_wait);
	return r < 0 ? r : -EINPROGRESS;
}

int objects_get(struct objects *o, uint32_t owner, const char *name,
		size_t len, int32_t timeout_ms, void *waiter, uint32_t seq,
		struct obj_wait **ret_wait, struct heap_obj_info *ret)
{
	int r;

	daemon_heap_lock(o->core);
	r = objects_get_locked(o, owner, name, len, timeout_ms, waiter, seq,
			       ret_wait, ret);
	daemon_heap_unlock(o->core);
	return r;
}

int objects_release_locked(struct objects *o, uint32_t owner, uint64_t id)
{
	daemon_assert_locked(o->core);
	return heap_obj_release(o->core->heap, owner, id, daemon_now());
}

int objects_release(struct objects *o, uint32_t owner, uint64_t id)
{
	int r;

	daemon_heap_lock(o->core);
	r = objects_release_locked(o, owner, id);
	daemon_heap_unlock(o->core);
	return r;
}

int objects_delete_locked(struct objects *o, const char *name, size_t len,
			  uint32_t uid)
{
	daemon_assert_locked(o->core);
	return heap_obj_delete(o->core->heap, name, len, uid, daemon_now());
}

int objects_delete(struct objects *o, const char *name, size_t len,
		   uint32_t uid)
{
	int r;

	daemon_heap_lock(o->core);
	r = objects_delete_locked(o, name, len, uid);
	daemon_heap_unlock(o->core);
	return r;
}

int objects_evict_locked(struct objects *o, uint64_t need_bytes,
			 uint64_t *ret_bytes, uint64_t *ret_count)
{
	uint64_t bytes = 0, count = 0;
	struct heap_obj_info x;
	int r = 0;

	daemon_assert_locked(o->core);
	while (bytes < need_bytes) {
		r = heap_obj_evict(o->core->heap, daemon_now(), &x);
		if (r < 0)
			break;
		bytes += x.npages * HEAP_PAGE_SIZE;
		count++;
		log_limited(&o->log_evict, 6,
			    "evicted object \"%s\" (%llu bytes, id %llu) to make room: created by %s (pid %u, uid %u), unused",
			    x.name, (unsigned long long)x.size,
			    (unsigned long long)x.id, x.creator_name, x.pid,
			    x.uid);
	}
	if (count)
		o->changes++;
	if (ret_bytes)
		*ret_bytes = bytes;
	if (ret_count)
		*ret_count = count;
	return r;
}

void objects_wait_cancel(struct objects *o, struct obj_wait *w)
{
	wait_free(o, w);
}

uint64_t objects_owner_gone_locked(struct objects *o, uint32_t owner)
{
	struct heap_obj_gone g = { 0 };

	daemon_assert_locked(o->core);
	if (heap_obj_owner_gone(o->core->heap, owner, daemon_now(),
				scavenger_queue_departed_locked, o->scav,
				&g) < 0)
		abort();	/* a live client's owner is live */
	if (g.refs)
		o->changes++;
	return g.pages;
}

static const char *state_name(const struct heap_obj_info *i)
{
	if (i->deleted)
		return "deleted";
	return i->state == HEAP_OBJ_SEALED ? "sealed" : "open";
}

static json_t *object_json(const struct heap_obj_info *i, uint64_t now)
{
	/* Names and client names are UTF-8 (the heap's rule, HELLO's check). */
	return json_pack("{s:s, s:I, s:I, s:I, s:s, s:b, s:I, s:{s:i, s:I, s:s}, s:I}",
			 "name", i->deleted ? "" : i->name,
			 "id", (json_int_t)i->id,
			 "size", (json_int_t)i->size,
			 "pages", (json_int_t)i->npages,
			 "state", state_name(i),
			 "evictable", (int)i->evictable,
			 "refs", (json_int_t)i->refs,
			 "creator", "pid", (int)i->pid,
			 "uid", (json_int_t)i->uid,
			 "name", i->creator_name,
			 "age_ns", (json_int_t)(now - i->created));
}

json_t *objects_page_json(struct objects *o, uint64_t after, uint32_t max)
{
	json_t *list = json_array(), *root;
	struct heap_obj_info info;
	uint64_t cursor = after, now = daemon_now();
	uint32_t n = 0;
	bool more = false;

	if (!list)
		return NULL;
	daemon_heap_lock(o->core);
	while (heap_obj_next(o->core->heap, &cursor, &info)) {
		if (n == max) {
			more = true;
			break;
		}
		if (json_array_append_new(list, object_json(&info, now)) < 0)
			break;
		after = cursor;
		n++;
	}
	daemon_heap_unlock(o->core);
	root = json_pack("{s:o, s:I}", "objects", list, "next",
			 (json_int_t)(more ? after : 0));
	return root;
}

json_t *objects_json_locked(const struct objects *o)
{
	struct heap_obj_stats s;

	daemon_assert_locked(o->core);
	heap_obj_stats(o->core->heap, &s);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "open", (json_int_t)s.open,
			 "sealed", (json_int_t)s.sealed,
			 "deleted", (json_int_t)s.deleted,
			 "bytes", (json_int_t)s.bytes,
			 "pages", (json_int_t)s.pages,
			 "references", (json_int_t)s.refs,
			 "waiters", (json_int_t)o->nwaits,
			 "woken", (json_int_t)o->woken,
			 "timeouts", (json_int_t)o->timeouts,
			 "max_objects", (json_int_t)s.max_objects,
			 "evictable", (json_int_t)s.evictable,
			 "evictable_bytes",
			 (json_int_t)(s.evictable_pages * HEAP_PAGE_SIZE),
			 "evicted", (json_int_t)s.evicted,
			 "evicted_bytes",
			 (json_int_t)(s.evicted_pages * HEAP_PAGE_SIZE));
}
