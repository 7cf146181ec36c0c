// SPDX-License-Identifier: MIT
/*
 * The scavenger: give memory that clients freed long ago back to the
 * kernel, as Go's 2012 runtime did (see the seed), and keep the seed's
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
 * What really frees shared memory.  On a memfd, MADV_DONTNEED frees
 * nothing and MADV_FREE is refused; the heap's release hook punches a hole
 * in the memfd (fallocate PUNCH_HOLE | KEEP_SIZE), see shm/arena.c.  A
 * release is counted only when that call succeeds.  Released pages read
 * as zero, so re-using them needs no zeroing.
 *
 * Time.  Only through cfg.now(): the tests drive a fake clock.
 */
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

void scav_pass_return(struct scav *s, struct heap *h,
		      const struct heap_take *t, int result, uint64_t ns)
{
	heap_scavenge_return(h, t, result, &s->cursor);
	s->time_ns += ns;
	if (result < 0) {
		s->release_errors++;
		s->last_release_error = result;
	}
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
	return released;
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
