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
 * address order and releases in steps of at most chunk_bytes (a few MiB),
 * so the caller can serve client requests between steps: a pass over many
 * GiB never holds the heap lock for long.
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

void scav_pass_begin(struct scav *s)
{
	s->in_pass = true;
	s->cursor = 0;
	s->released_pass = 0;
}

bool scav_pass_step(struct scav *s, struct heap *h)
{
	uint64_t t0 = s->cfg.now(s->cfg.clock_ctx), bytes;
	int done;

	if (!s->in_pass)
		return true;
	done = heap_scavenge(h, t0, s->cfg.scavenge_after_ns,
			     s->cfg.chunk_bytes, &s->cursor, &bytes);
	s->released_pass += bytes;
	s->released_total += bytes;
	s->time_ns += s->cfg.now(s->cfg.clock_ctx) - t0;
	if (!done)
		return false;
	s->in_pass = false;
	s->passes++;
	s->released_last = s->released_pass;
	return true;
}

uint64_t scav_release_all(struct scav *s, struct heap *h)
{
	uint64_t t0 = s->cfg.now(s->cfg.clock_ctx), cursor = 0, bytes;

	heap_scavenge(h, t0, 0, 0, &cursor, &bytes);
	s->released_total += bytes;
	s->forced_releases++;
	s->time_ns += s->cfg.now(s->cfg.clock_ctx) - t0;
	return bytes;
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
