// SPDX-License-Identifier: MIT
/*
 * The paced policy (--scavenge-policy=paced), after the Go runtime's
 * background scavenger (mgcscavenge.go) beside the seed's delay policy
 * (scav.c): instead of releasing what stayed free for a fixed delay,
 * keep the memory the heap retains near what its clients recently used,
 * and give back the rest steadily at a small, bounded cost.
 *
 * Goal.  retained = sys - released: the pages the heap has grown and not
 * given back, in use or free (the consumed bytes of MemStats, and what
 * the memfd's st_blocks follow).  peak = the largest in-use figure seen
 * over the last SCAV_PEAK_TICKS scavenger ticks (a ring of per-tick
 * maxima, sampled at every tick and every step), and
 *	goal = peak * (100 + headroom_pct) / 100.
 * While retained > goal, free pages are released until it is not.  The
 * headroom (10% by default, as Go's retainExtraPercent) keeps some free
 * pages unreleased for the next allocations, since re-using a released
 * page costs a fault and the kernel's zeroing.  Because the peak is that
 * of a window, the goal follows the clients down once their peak is
 * SCAV_PEAK_TICKS ticks old, and goes up at once with them.  Retained
 * memory never goes below in-use, and the goal never below the peak, so
 * retained converges into [inuse, max(goal, inuse)]: within a step of the
 * goal, since a step never releases more than the excess.
 *
 * What is released first.  Free spans that have been free longest are the
 * least likely to be used again.  An exact oldest-first order would need
 * an index by age under the heap lock; instead the walk goes in address
 * order over tiers of age: spans free longer than 16 ticks, then 4, then
 * 1, then any.  Each tier costs one walk of the free bitmap at most.
 *
 * Pacing.  The work is done in steps, on the scavenger's own thread: take
 * a run of at most step_pages (64 pages to 4 MiB) out of the heap under
 * the lock, punch it without the lock, give it back under it.  Each step
 * is timed with the monotonic clock (its wall time, heap lock waits
 * included) and with the thread's CPU clock (CLOCK_THREAD_CPUTIME_ID in
 * the daemon), and no paced work may start before the step's start plus
 * 1 + SCAV_PACED_RATIO (100) times the larger of the two: at most 1% of
 * one CPU, whatever the kernel charges (page freeing in the punch is
 * system time of this thread), and at most 1% of the time holding or
 * waiting for the heap lock; on a busy machine, where wall time
 * stretches, the scavenger only slows down.  The CPU account of a step
 * runs from the end of the last piece of paced work, not from the step's
 * start: what the thread spends between two steps (waking, waiting, its
 * system calls; some 30 us a step on this VM) is the pacing's cost too,
 * and the kernel counts it; only unpaced work is taken out of it
 * (scav_paced_unpaced()).  The CPU time is what the fraction reports
 * (scav_paced_cpu_ppm()).  The step size adapts to the measured cost so
 * that a step stays near a millisecond: it doubles while a full step
 * costs under half of SCAV_PACED_STEP_NS, halves while one costs more.
 * Up to 4 MiB (a punch of 4 MiB takes ~0.8 ms here), because the cost
 * between steps is fixed: at 1 MiB a step it was a sixth of the total.
 * The daemon's stray sweep at each tick is paced work too: it waits its
 * turn and is charged the same way (scav_paced_charge()).
 *
 * The measured fraction.  Paced work is accounted to the second it began
 * in, over a ring of SCAV_PACED_BUCKETS seconds; the fraction over that
 * window is their CPU time divided by the time from the window's start
 * (or the first paced work) to now or the end of the current wait.  Each
 * piece of work, of cost w (CPU or wall, the larger), owns 100 w of that
 * span from its start, none shared, so the pacing alone keeps the
 * fraction at or under 1 / (1 + 99), whatever the clocks do; forced
 * passes (SCAVENGE, pressure) and the release of a
 * departed client's pages are urgent, not paced, and not counted here.
 *
 * Time.  Only through cfg.now() and cfg.cpu_now(): the tests drive both.
 */
#include <stdio.h>
#include <string.h>

#include "scav.h"
#include "scav_paced.h"

/* The age of tier i, in ticks: oldest first, the last tier any age. */
static const uint64_t tier_ticks[SCAV_PACED_TIERS] = { SCAV_PEAK_TICKS, 4, 1,
						       0 };

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

void scav_paced_init(struct scav *s, const struct scav_paced_config *cfg)
{
	struct scav_paced *p = &s->paced;

	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	p->on = true;
	p->step_pages = SCAV_PACED_STEP_MIN_PAGES;
}

static void set_goal(struct scav_paced *p)
{
	p->goal = sat_mul(p->peak, 100 + (uint64_t)p->cfg.headroom_pct) / 100;
}

void scav_paced_observe(struct scav *s, const struct heap_stats *st)
{
	struct scav_paced *p = &s->paced;
	uint64_t *slot = &p->peak_ring[p->tick % SCAV_PEAK_TICKS];

	p->inuse = st->inuse;
	p->retained = st->sys - st->released;
	if (st->inuse > *slot)
		*slot = st->inuse;
	if (st->inuse > p->peak) {
		p->peak = st->inuse;
		set_goal(p);
	}
}

void scav_paced_tick(struct scav *s, const struct heap_stats *st)
{
	struct scav_paced *p = &s->paced;

	p->tick++;
	p->peak_ring[p->tick % SCAV_PEAK_TICKS] = 0;
	p->peak = 0;
	for (unsigned int i = 0; i < SCAV_PEAK_TICKS; i++)
		if (p->peak_ring[i] > p->peak)
			p->peak = p->peak_ring[i];
	set_goal(p);
	scav_paced_observe(s, st);
	p->released_last = p->released_tick;
	p->released_tick = 0;
	p->tier = 0;
	p->cursor = (struct heap_cursor){ 0, 0 };
	p->stalled = false;
}

uint64_t scav_paced_excess(const struct scav *s)
{
	const struct scav_paced *p = &s->paced;

	if (p->stalled || p->retained <= p->goal)
		return 0;
	return (p->retained - p->goal) >> HEAP_PAGE_SHIFT << HEAP_PAGE_SHIFT;
}

uint64_t scav_paced_wait(const struct scav *s, uint64_t now)
{
	return now < s->paced.next_ns ? s->paced.next_ns - now : 0;
}

bool scav_paced_take(struct scav *s, struct heap *h, struct heap_take *t)
{
	struct scav_paced *p = &s->paced;
	uint64_t max = scav_paced_excess(s) >> HEAP_PAGE_SHIFT;
	uint64_t now = p->cfg.now(p->cfg.clock_ctx);

	if (!max)
		return false;		/* within the goal: nothing to stall on */
	if (max > p->step_pages)
		max = p->step_pages;
	/* A tier's walk that finds nothing leaves the cursor at the start. */
	while (p->tier < SCAV_PACED_TIERS) {
		uint64_t older = sat_mul(p->cfg.tick_ns, tier_ticks[p->tier]);

		if (heap_scavenge_take(h, now, older, max, &p->cursor, t))
			return true;
		p->tier++;
	}
	p->stalled = true;
	return false;
}

void scav_paced_return(struct scav *s, struct heap *h,
		       const struct heap_take *t, int result)
{
	struct scav_paced *p = &s->paced;
	uint64_t bytes = t->npages << HEAP_PAGE_SHIFT;

	heap_scavenge_return(h, t, result, &p->cursor);
	if (result < 0) {
		s->release_errors++;
		s->last_release_error = result;
		return;
	}
	p->released_total += bytes;
	p->released_tick += bytes;
	s->released_total += bytes;
}

uint64_t scav_paced_cpu_start(const struct scav *s)
{
	const struct scav_paced *p = &s->paced;

	return p->charges ? p->cpu_mark : p->cfg.cpu_now(p->cfg.clock_ctx);
}

void scav_paced_unpaced(struct scav *s, uint64_t cpu_ns)
{
	s->paced.cpu_mark += cpu_ns;
}

void scav_paced_charge(struct scav *s, uint64_t start, uint64_t end,
		       uint64_t cpu_start, uint64_t cpu_end)
{
	struct scav_paced *p = &s->paced;
	uint64_t wall = end > start ? end - start : 0;
	uint64_t cpu_ns = cpu_end > cpu_start ? cpu_end - cpu_start : 0;
	uint64_t cost = cpu_ns > wall ? cpu_ns : wall;
	uint64_t second = start / SCAV_PACED_BUCKET_NS;
	struct scav_paced_bucket *b = &p->bucket[second % SCAV_PACED_BUCKETS];
	/*
	 * Work that started early (it should not) is charged as if it had
	 * waited its turn, so the fraction's bound holds regardless.
	 */
	uint64_t from = start > p->next_ns ? start : p->next_ns;

	if (!p->charges++)
		p->first_ns = start;
	if (b->second != second) {
		b->second = second;
		b->cpu_ns = b->wall_ns = 0;
	}
	b->cpu_ns += cpu_ns;
	b->wall_ns += wall;
	p->cpu_ns += cpu_ns;
	p->wall_ns += wall;
	p->cpu_mark = cpu_end;
	p->next_ns = from + sat_mul(cost, 1 + SCAV_PACED_RATIO);
}

/* Keep a step near SCAV_PACED_STEP_NS: @wall for a step of @npages. */
static void adapt(struct scav_paced *p, uint64_t npages, uint64_t wall)
{
	if (wall > SCAV_PACED_STEP_NS && p->step_pages > SCAV_PACED_STEP_MIN_PAGES)
		p->step_pages /= 2;
	else if (wall < SCAV_PACED_STEP_NS / 2 && npages == p->step_pages &&
		 p->step_pages < SCAV_PACED_STEP_MAX_PAGES)
		p->step_pages *= 2;
}

uint64_t scav_paced_step(struct scav *s, struct heap *h, void (*lock)(void *),
			 void (*unlock)(void *), void *ctx)
{
	struct scav_paced *p = &s->paced;
	void *cc = p->cfg.clock_ctx;
	uint64_t t0 = p->cfg.now(cc), c0 = scav_paced_cpu_start(s), c1, t1;
	uint64_t bytes = 0;
	struct heap_stats st;
	struct heap_take t;

	lock(ctx);
	heap_stats(h, &st);
	scav_paced_observe(s, &st);
	if (scav_paced_take(s, h, &t)) {
		uint64_t r0, r1;
		int r;

		unlock(ctx);
		r0 = p->cfg.now(cc);
		r = heap_release_taken(h, &t);
		r1 = p->cfg.now(cc);
		lock(ctx);
		scav_paced_return(s, h, &t, r);
		s->time_ns += r1 - r0;
		if (r == 0) {
			bytes = t.npages << HEAP_PAGE_SHIFT;
			p->steps++;
		}
		heap_stats(h, &st);
		scav_paced_observe(s, &st);
	}
	c1 = p->cfg.cpu_now(cc);
	t1 = p->cfg.now(cc);
	if (bytes)
		adapt(p, t.npages, t1 - t0);
	scav_paced_charge(s, t0, t1, c0, c1);
	unlock(ctx);
	return bytes;
}

uint64_t scav_paced_cpu_ppm(const struct scav *s, uint64_t now)
{
	const struct scav_paced *p = &s->paced;
	uint64_t cur = now / SCAV_PACED_BUCKET_NS, cpu = 0, from, to;
	uint64_t lo = cur >= SCAV_PACED_BUCKETS - 1 ?
			      cur - (SCAV_PACED_BUCKETS - 1) :
			      0;

	if (!p->charges)
		return 0;
	for (unsigned int i = 0; i < SCAV_PACED_BUCKETS; i++)
		if (p->bucket[i].second >= lo && p->bucket[i].second <= cur)
			cpu += p->bucket[i].cpu_ns;
	from = lo * SCAV_PACED_BUCKET_NS;
	if (p->first_ns > from)
		from = p->first_ns;
	to = now > p->next_ns ? now : p->next_ns;
	if (!cpu || to <= from)
		return 0;
	return (uint64_t)((unsigned __int128)cpu * 1000000 / (to - from));
}

int scav_paced_trace(char *buf, size_t len, uint64_t k, const struct scav *s,
		     uint64_t now)
{
	const struct scav_paced *p = &s->paced;

	return snprintf(buf, len,
			"scvg%llu: paced: goal: %llu, peak: %llu, retained: %llu (MB), steps: %llu, cpu: %llu ppm",
			(unsigned long long)k,
			(unsigned long long)(p->goal >> 20),
			(unsigned long long)(p->peak >> 20),
			(unsigned long long)(p->retained >> 20),
			(unsigned long long)p->steps,
			(unsigned long long)scav_paced_cpu_ppm(s, now));
}
