// SPDX-License-Identifier: MIT
/*
 * The scavenger: give memory that clients freed long ago back to the
 * kernel, as the seed did (see shm/heap.h), and keep the seed's
 * MemStats about it.
 *
 * Goal.  "Consumed" memory (heap_sys - heap_released) should follow
 * "in use" memory: a span that stays free for longer than scavenge_after
 * (default 5 min) is released.  Recently freed spans are kept, because
 * they are likely to be reused and re-using a released page costs a page
 * fault (3-4 us on this VM) in the process that touches it, plus the
 * kernel zeroing it.
 *
 * Pacing.  A timer ticks every min(gc_after, scavenge_after) / 2, so a
 * span is released at most 1.5 * scavenge_after after it became free.
 * Each tick first forces a GC pass if none ran for gc_after (default
 * 2 min): in the daemon that pass is what notices clients that died with
 * their socket still open and frees their spans, so their memory can age
 * and be released like any other.  Then a release pass walks the heap in
 * address order.  It takes one run of at most chunk_bytes (a few MiB) at
 * a time out of the heap (heap_scavenge_take), releases it without the
 * heap lock, and gives it back: punching 4 MiB costs ~0.8 ms here, far
 * longer than a client request, so the system call must not run under
 * the lock, nor on the event loop.  In the daemon a helper thread runs
 * the pass; allocations go on meanwhile and only the run being released
 * (at most chunk_bytes) is out of their reach.
 *
 * Stray pages.  Every client maps the whole arena writable, so memory
 * can be resident where no span is: pages a client wrote (or the memfd
 * fallocate()d) after the heap released them, or beyond the heap.  The
 * heap cannot see them; the memfd can (SEEK_DATA).  Each pass ends with
 * a sweep of the memfd's data extents: stray runs are punched under the
 * heap lock (no allocation may hand them out meanwhile and lose its data
 * to the punch), at most SCAV_STRAY_CHUNK per hold.  In-use and dirty
 * pages are skipped with the released bitmap, so the sweep's cost
 * follows the released runs and stray extents, not the arena.  Pages
 * fallocate()d but never written are holes to SEEK_DATA: if the memfd
 * still holds more than the heap's consumed pages after that (st_blocks,
 * the kernel's own count), every released run and the arena beyond the
 * heap are punched blindly, in chunks that grow while they free nothing
 * (a punch of nothing costs well under a microsecond).  So after a pass
 * arena_resident <= consumed: any excess was stray, and is gone.
 *
 * Departed clients.  Pages a dead client held stay charged to its memory
 * cgroup until they are punched, and nobody will reuse them soon: their
 * ranges are queued (scav_departed_add()) when the client is freed, and
 * released at once (scav_departed_run()) instead of after
 * scavenge_after.  Only pages that are still free and unreleased go.
 *
 * What really frees shared memory.  On a memfd, MADV_DONTNEED frees
 * nothing and MADV_FREE is refused; the heap's release hook punches a hole
 * in the memfd (fallocate PUNCH_HOLE | KEEP_SIZE), see shm/arena.c.  A
 * release is counted only when that call succeeds.  Released pages read
 * as zero, so re-using them needs no zeroing.
 *
 * Time.  Only through cfg.now(): the tests drive a fake clock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scav.h"

void scav_init(struct scav *s, const struct scav_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	if (!s->cfg.chunk_bytes)
		s->cfg.chunk_bytes = SCAV_CHUNK_DEFAULT;
	s->started = cfg->now(cfg->clock_ctx);
}

uint64_t scav_tick_ns(const struct scav_config *cfg)
{
	uint64_t m = cfg->gc_after_ns < cfg->scavenge_after_ns ?
			     cfg->gc_after_ns :
			     cfg->scavenge_after_ns;

	return m / 2 ? m / 2 : 1;
}

bool scav_gc_due(const struct scav *s)
{
	uint64_t now = s->cfg.now(s->cfg.clock_ctx);
	uint64_t last = s->num_gc ? s->last_gc : s->started;

	return now - last > s->cfg.gc_after_ns;
}

void scav_gc_record(struct scav *s, uint64_t start, uint64_t end, bool forced)
{
	uint64_t pause = end - start;

	s->last_gc = end;
	s->pause_ns[s->num_gc % SCAV_PAUSES] = pause;
	s->pause_total_ns += pause;
	s->num_gc++;
	if (forced)
		s->forced_gc++;
}

size_t scav_pause_recent(const struct scav *s, uint64_t *out, size_t n)
{
	size_t have = s->num_gc < SCAV_PAUSES ? (size_t)s->num_gc : SCAV_PAUSES;

	if (n > have)
		n = have;
	for (size_t i = 0; i < n; i++)
		out[i] = s->pause_ns[(s->num_gc - n + i) % SCAV_PAUSES];
	return n;
}

void scav_pass_begin(struct scav *s, bool forced)
{
	s->in_pass = true;
	s->forced = forced;
	s->cursor = (struct heap_cursor){ 0, 0 };
	s->released_pass = 0;
}

bool scav_pass_take(struct scav *s, struct heap *h, struct heap_take *t)
{
	uint64_t now = s->cfg.now(s->cfg.clock_ctx);
	uint64_t older = s->forced ? 0 : s->cfg.scavenge_after_ns;
	uint64_t max = s->cfg.chunk_bytes >> HEAP_PAGE_SHIFT;

	if (s->in_pass && !s->cancel &&
	    heap_scavenge_take(h, now, older, max ? max : 1, &s->cursor, t))
		return true;
	if (s->in_pass) {
		s->in_pass = false;
		if (s->cancel)
			return false;	/* cut short: not a completed pass */
		if (s->forced) {
			s->forced_releases++;
		} else {
			s->passes++;
			s->released_last = s->released_pass;
		}
	}
	return false;
}

static void count_error(struct scav *s, int r)
{
	s->release_errors++;
	s->last_release_error = r;
}

void scav_pass_return(struct scav *s, struct heap *h,
		      const struct heap_take *t, int result, uint64_t ns)
{
	heap_scavenge_return(h, t, result, &s->cursor);
	s->time_ns += ns;
	if (result < 0)
		count_error(s, result);
	if (result == 0) {
		s->released_pass += t->npages << HEAP_PAGE_SHIFT;
		s->released_total += t->npages << HEAP_PAGE_SHIFT;
	}
}

uint64_t scav_pass_run(struct scav *s, struct heap *h, bool forced,
		       void (*lock)(void *), void (*unlock)(void *),
		       void *ctx)
{
	struct heap_take t;
	uint64_t released;

	lock(ctx);
	scav_pass_begin(s, forced);
	while (scav_pass_take(s, h, &t)) {
		uint64_t t0;
		int r;

		unlock(ctx);
		t0 = s->cfg.now(s->cfg.clock_ctx);
		r = heap_release_taken(h, &t);
		t0 = s->cfg.now(s->cfg.clock_ctx) - t0;
		lock(ctx);
		scav_pass_return(s, h, &t, r, t0);
	}
	released = s->released_pass;
	unlock(ctx);
	scav_sweep_run(s, h, lock, unlock, ctx);
	return released;
}

/*
 * Sort the data extent [p, e) into stray runs and the rest, releasing
 * the runs, a chunk per hold of the lock.  Returns where to look for
 * data next, or 0 when the sweep must end (cancelled, or failed).
 */
static uint64_t sweep_extent(struct scav *s, struct heap *h, uint64_t p,
			     uint64_t e, void (*lock)(void *),
			     void (*unlock)(void *), void *ctx)
{
	uint64_t max = SCAV_STRAY_CHUNK >> HEAP_PAGE_SHIFT;

	while (p < e) {
		struct heap_stray st;
		uint64_t next, t0;
		int r = 0;

		lock(ctx);
		if (s->cancel) {
			unlock(ctx);
			return 0;
		}
		if (heap_stray_next(h, p, e, max, &st, &next)) {
			t0 = s->cfg.now(s->cfg.clock_ctx);
			r = heap_release_stray(h, &st);
			s->time_ns += s->cfg.now(s->cfg.clock_ctx) - t0;
			if (r < 0) {
				count_error(s, r);
			} else {
				s->stray_pass += st.npages << HEAP_PAGE_SHIFT;
				s->stray_total += st.npages << HEAP_PAGE_SHIFT;
			}
			next = st.page + st.npages;
		}
		unlock(ctx);
		if (r < 0)
			return 0;
		p = next;
	}
	return p;
}

/*
 * Punch every page that may be stray, data or not: what SEEK_DATA cannot
 * see (fallocate()d, never written) is found only so.  What each punch
 * freed is the drop of the arena's resident bytes across it.  A punch
 * that freed nothing doubles the next, up to SCAV_BLIND_CHUNK_MAX, so a
 * large empty stretch costs few calls; one that freed memory starts
 * over at SCAV_STRAY_CHUNK, so a hold of the lock stays short.
 * Returns false if the sweep must end.
 */
static bool sweep_blind(struct scav *s, struct heap *h, uint64_t npages,
			void (*lock)(void *), void (*unlock)(void *),
			void *ctx)
{
	uint64_t min = SCAV_STRAY_CHUNK >> HEAP_PAGE_SHIFT, chunk = min;
	uint64_t max = SCAV_BLIND_CHUNK_MAX >> HEAP_PAGE_SHIFT, p = 0;

	while (p < npages) {
		uint64_t next, r0 = 0, r1 = 0, freed = 0, t0;
		struct heap_stray st;
		int r = 0;

		lock(ctx);
		if (s->cancel) {
			unlock(ctx);
			return false;
		}
		if (heap_stray_next(h, p, npages, chunk, &st, &next)) {
			t0 = s->cfg.now(s->cfg.clock_ctx);
			if (heap_resident(h, &r0) < 0)
				r0 = 0;
			r = heap_release_stray(h, &st);
			if (r == 0 && heap_resident(h, &r1) == 0 && r1 < r0)
				freed = r0 - r1;
			s->time_ns += s->cfg.now(s->cfg.clock_ctx) - t0;
			if (freed > st.npages << HEAP_PAGE_SHIFT)
				freed = st.npages << HEAP_PAGE_SHIFT;
			if (r < 0)
				count_error(s, r);
			s->stray_pass += freed;
			s->stray_total += freed;
			chunk = freed ? min : chunk * 2 < max ? chunk * 2 : max;
			next = st.page + st.npages;
		}
		unlock(ctx);
		if (r < 0)
			return false;
		p = next;
	}
	return true;
}

uint64_t scav_sweep_run(struct scav *s, struct heap *h, void (*lock)(void *),
			void (*unlock)(void *), void *ctx)
{
	uint64_t pos = 0, start, end, found, resident;
	struct heap_stats st;
	bool done = true, blind = false;
	int r;

	lock(ctx);
	s->stray_pass = 0;
	unlock(ctx);
	for (;;) {
		/* Reads the memfd only: no lock. */
		r = heap_next_data(h, pos, &start, &end);
		if (r < 0)
			break;
		pos = sweep_extent(s, h, start, end, lock, unlock, ctx);
		if (!pos)
			break;
	}
	if (r != -ENXIO && r != -EOPNOTSUPP) {
		done = false;	/* cancelled, or failed */
		if (r < 0) {
			lock(ctx);
			count_error(s, r);
			unlock(ctx);
		}
	}
	/*
	 * Memory no span accounts for, that SEEK_DATA did not show: the
	 * kernel holds more than the heap's consumed pages can.  The
	 * kernel's figure first: pages allocated and touched meanwhile
	 * then raise only the heap's, and cannot make it look so.
	 */
	if (done && heap_resident(h, &resident) == 0) {
		lock(ctx);
		heap_stats(h, &st);
		unlock(ctx);
		blind = resident > st.sys - st.released;
	}
	if (blind)
		done = sweep_blind(s, h, st.arena_size >> HEAP_PAGE_SHIFT, lock,
				   unlock, ctx);
	lock(ctx);
	found = s->stray_pass;
	if (done)
		s->stray_last = found;
	unlock(ctx);
	return found;
}

void scav_departed_add(struct scav *s, uint64_t page, uint64_t npages)
{
	struct scav_range *last = s->ndeparted ?
					  &s->departed[s->ndeparted - 1] :
					  NULL;
	uint64_t end = page + npages;

	if (!npages)
		return;
	if (last && (s->ndeparted == SCAV_DEPARTED_MAX ||
		     (page <= last->page + last->npages && end >= last->page))) {
		uint64_t lo = page < last->page ? page : last->page;
		uint64_t hi = end > last->page + last->npages ?
				      end :
				      last->page + last->npages;

		last->page = lo;
		last->npages = hi - lo;
		return;
	}
	s->departed[s->ndeparted++] = (struct scav_range){ page, npages };
}

uint64_t scav_departed_run(struct scav *s, struct heap *h,
			   void (*lock)(void *), void (*unlock)(void *),
			   void *ctx)
{
	uint64_t max = s->cfg.chunk_bytes >> HEAP_PAGE_SHIFT, done = 0;
	struct scav_range cur = { 0, 0 };
	struct heap_cursor c = { 0, 0 };
	struct heap_take t;

	lock(ctx);
	while (!s->cancel) {
		uint64_t t0, bytes;
		int r;

		if (!cur.npages) {
			if (!s->ndeparted)
				break;
			cur = s->departed[--s->ndeparted];
			c = (struct heap_cursor){ cur.page, cur.page };
		}
		if (!heap_scavenge_take_range(h, cur.page + cur.npages,
					      max ? max : 1, &c, &t)) {
			cur.npages = 0;
			continue;
		}
		unlock(ctx);
		t0 = s->cfg.now(s->cfg.clock_ctx);
		r = heap_release_taken(h, &t);
		t0 = s->cfg.now(s->cfg.clock_ctx) - t0;
		lock(ctx);
		heap_scavenge_return(h, &t, r, &c);
		s->time_ns += t0;
		if (r < 0) {
			count_error(s, r);
			continue;
		}
		bytes = t.npages << HEAP_PAGE_SHIFT;
		s->released_total += bytes;
		s->departed_total += bytes;
		done += bytes;
	}
	unlock(ctx);
	return done;
}

int scav_trace_forced(char *buf, size_t len, uint64_t k)
{
	return snprintf(buf, len, "scvg%llu: GC forced", (unsigned long long)k);
}

int scav_trace_released(char *buf, size_t len, uint64_t k, uint64_t bytes)
{
	return snprintf(buf, len, "scvg%llu: %llu MB released",
			(unsigned long long)k, (unsigned long long)(bytes >> 20));
}

int scav_trace_summary(char *buf, size_t len, uint64_t k,
		       const struct heap_stats *st)
{
	return snprintf(buf, len,
			"scvg%llu: inuse: %llu, idle: %llu, sys: %llu, released: %llu, consumed: %llu (MB)",
			(unsigned long long)k,
			(unsigned long long)(st->inuse >> 20),
			(unsigned long long)(st->idle >> 20),
			(unsigned long long)(st->sys >> 20),
			(unsigned long long)(st->released >> 20),
			(unsigned long long)((st->sys - st->released) >> 20));
}
