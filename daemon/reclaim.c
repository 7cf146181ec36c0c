// SPDX-License-Identifier: MIT
/*
 * Making room under the memory limit: see reclaim.h.
 *
 * A round is one release pass over the heap's free spans, whatever their
 * age (heap_scavenge_take() with older_than 0), from the lowest address
 * on, one step per run of the loop (an active event that the step makes
 * active again), until the round has released what its waits need or
 * the pass is complete.  The scavenger thread may release at the same
 * time: each takes its runs out of the heap under the lock, so no page is
 * released twice, and what the other released is simply not there to
 * take.  A round that released nothing evicts, least recently used
 * first, objects that may be evicted (objects_evict_locked()), whose
 * spans the retried allocations may then reuse: their pages are not
 * released, and reusing them costs nothing under the limit.
 *
 * Invariants: a wait is on @waits from reclaim_wait() until it is
 * answered or cancelled; @in_round whenever @waits is not empty, and
 * then ev_step is active or its step is running; the round's waits are
 * answered together, at its end.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objects.h"
#include "reclaim.h"

struct reclaim_wait {
	TAILQ_ENTRY(reclaim_wait) link;
	void *waiter;
	uint64_t need;
};

static void on_step(evutil_socket_t fd, short what, void *arg);

int reclaim_init(struct reclaim *r, struct core *core,
		 struct event_base *base, struct objects *objects,
		 const struct reclaim_hooks *hooks)
{
	*r = (struct reclaim){
		.core = core,
		.base = base,
		.objects = objects,
		.hooks = *hooks,
	};
	TAILQ_INIT(&r->waits);
	r->ev_step = event_new(base, -1, 0, on_step, r);
	return r->ev_step ? 0 : -ENOMEM;
}

void reclaim_fini(struct reclaim *r)
{
	if (r->nwaits) {
		log_err("BUG: %u memory-limit waits outlive their connections",
			r->nwaits);
		abort();
	}
	if (r->ev_step)
		event_free(r->ev_step);
	r->ev_step = NULL;
}

int reclaim_wait(struct reclaim *r, void *waiter, uint64_t need,
		 struct reclaim_wait **ret)
{
	struct reclaim_wait *w = calloc(1, sizeof(*w));

	if (!w || !r->ev_step) {
		free(w);
		return -ENOMEM;
	}
	w->waiter = waiter;
	w->need = need;
	TAILQ_INSERT_TAIL(&r->waits, w, link);
	r->nwaits++;
	r->st.waits++;
	r->changes++;
	if (!r->in_round) {
		r->in_round = true;
		r->need = 0;
		r->released = 0;
		r->cursor = (struct heap_cursor){ 0, 0 };
		event_active(r->ev_step, 0, 0);
	}
	r->need += need;
	*ret = w;
	return 0;
}

void reclaim_cancel(struct reclaim *r, struct reclaim_wait *w)
{
	TAILQ_REMOVE(&r->waits, w, link);
	r->nwaits--;
	free(w);
}

void reclaim_snapshot(const struct reclaim *r, struct reclaim_stats *ret)
{
	*ret = r->st;
}

/*
 * Release one run of at most RECLAIM_STEP_PAGES: the punch without the
 * lock.  Return: false when the pass is complete.
 */
static bool release_step(struct reclaim *r)
{
	struct heap *h = r->core->heap;
	struct heap_take t;
	int res;

	daemon_heap_lock(r->core);
	if (!heap_scavenge_take(h, daemon_now(), 0, RECLAIM_STEP_PAGES,
				&r->cursor, &t)) {
		daemon_heap_unlock(r->core);
		return false;
	}
	daemon_heap_unlock(r->core);
	res = heap_release_taken(h, &t);
	daemon_heap_lock(r->core);
	heap_scavenge_return(h, &t, res, &r->cursor);
	daemon_heap_unlock(r->core);
	if (res == 0)
		r->released += t.npages << HEAP_PAGE_SHIFT;
	else
		log_limited(&r->log_release, 3,
			    "memory limit: releasing %llu pages at page %llu failed: %s",
			    (unsigned long long)t.npages,
			    (unsigned long long)t.page, strerror(-res));
	return true;
}

/*
 * Evict for what the round still needs, least recently used first, in
 * the heap calls' own transactions (never a request's: the journal
 * bounds how many evictions one can hold).  Return: the bytes freed.
 */
static uint64_t evict(struct reclaim *r)
{
	uint64_t need = r->need > r->released ? r->need - r->released : 1;
	uint64_t bytes = 0, count = 0;

	daemon_heap_lock(r->core);
	objects_evict_locked(r->objects, need, &bytes, &count);
	daemon_heap_unlock(r->core);
	r->st.evicted += count;
	r->st.evicted_bytes += bytes;
	return bytes;
}

/* Answer every wait of the round; the retries may begin the next. */
static void end_round(struct reclaim *r, bool progress)
{
	TAILQ_HEAD(, reclaim_wait) done = TAILQ_HEAD_INITIALIZER(done);
	struct reclaim_wait *w;

	r->st.rounds++;
	r->st.futile += !progress;
	r->st.released_bytes += r->released;
	r->changes++;
	r->in_round = false;
	TAILQ_CONCAT(&done, &r->waits, link);
	r->nwaits = 0;
	while ((w = TAILQ_FIRST(&done))) {
		void *waiter = w->waiter;

		TAILQ_REMOVE(&done, w, link);
		free(w);
		r->hooks.retry(r->hooks.ctx, waiter, progress);
	}
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct reclaim *r = arg;
	uint64_t t0 = daemon_now(), ns;
	bool more;

	(void)fd, (void)what;
	if (!r->in_round)
		return;
	if (TAILQ_EMPTY(&r->waits)) {
		/* Every wait was cancelled: nobody needs the rest. */
		r->in_round = false;
		return;
	}
	more = release_step(r) && r->released < r->need;
	ns = daemon_now() - t0;
	r->st.steps++;
	r->st.time_ns += ns;
	if (ns > r->st.step_max_ns)
		r->st.step_max_ns = ns;
	if (more) {
		event_active(r->ev_step, 0, 0);
		return;
	}
	end_round(r, r->released || evict(r));
}
