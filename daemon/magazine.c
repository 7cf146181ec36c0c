// SPDX-License-Identifier: MIT
/*
 * A client's magazine, the daemon's side (the format and its rules are in
 * proto/magazine.h; the client's side in libclient/magazine.c).
 *
 * Goal.  Spans of up to MAG_MAX_PAGES pages go to the client, and come
 * back, without a round trip: the daemon fills each class's ring ahead
 * of need, the client takes from it and frees onto its return stack,
 * from which it takes again first.  The daemon steps in only at the
 * watermarks: a MAG_KICK (no reply) when a class runs low or a stack
 * goes over its limit, a MAG_REFILL (the client waits) when a class is
 * empty or a stack full, and the tick.
 *
 * Ownership is exact.  Every span in a magazine is a USED span of the
 * client's heap owner, so it counts as in use, and a client killed
 * loses it with the rest (heap_free_owner()).  The heap marks it FILL
 * while it sits in a fill ring, HELD once the client took it (sync: the
 * ring's tail has passed it).  This file's record of the fill rings
 * (struct mag_fill_cursor and what it put in each slot, shadow) is the
 * truth about them; the shared entries are never read back.
 *
 * Validation.  An offset read from a return stack is used only if the
 * heap says it is the head of a USED span of this client's owner, of
 * the class's pages, in state HELD: handed out through this magazine,
 * taken by the client, not given back since (a span taken back is
 * freed, or FILL again if it went back into the ring).  One that says
 * FILL may have been taken by the client since the last sync, so it is
 * synced and looked at again.  Anything else is a bad entry: counted,
 * logged once per magazine, skipped; the client's own span stays its
 * own.  An index the format calls corrupt (a tail behind what the
 * daemon saw consumed or past its head, a stack count above the cap)
 * stops the magazine: MAG_F_DEAD, nothing of it read again, its spans
 * the client's until it goes.  A client can therefore lose only its own
 * spans through its region, never make the daemon hand out a span
 * twice, free another's, read or write outside the region, or wait.
 *
 * Adaptive targets, as jemalloc's thread caches: a class starts empty
 * (target 0); when it runs dry, or its stack fills up (MAG_REFILL), its
 * target doubles, from MAGAZINE_TARGET_FIRST up to MAGAZINE_TARGET_MAX;
 * at each tick a class the client did not use halves it, and a client
 * that used none for the scavenger's delay drops every target to 0.
 * Serving a class moves its stack down to the target (the surplus goes
 * back into the ring, or to the heap), its ring down to the target
 * (revoked entries to the heap) or up to it (from the heap).  The
 * targets are bounded so that 3 x target spans of every class (a full
 * ring, a stack at twice its limit) fit the client's max_bytes: the
 * bound on what an obedient client's magazine holds.
 *
 * Idle spans and the scavenger.  Spans a magazine gives back because
 * its client went idle are freed as unused since the client's last use,
 * so the scavenger's delay counts from then, and consumed falls to what
 * the clients hold one delay after they stop, as without magazines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "magazine.h"
#include "proto/proto.h"
#include "shm/heap.h"

#define MASK (MAG_RING_CAP - 1)

struct magazine {
	struct core *core;
	uint32_t owner;
	uint32_t client_id;
	pid_t pid;
	int fd;
	struct mag_region *r;
	size_t size;
	uint64_t max_bytes;
	struct log_limit *log;
	bool logged;
	uint32_t served;
	uint64_t active_ns;		/* last use the daemon saw */
	struct mag_fill_cursor cur[MAG_NCLASSES];
	uint64_t shadow[MAG_NCLASSES][MAG_RING_CAP]; /* what each slot got */
	uint32_t target[MAG_NCLASSES];
	uint64_t seen_ops[MAG_NCLASSES]; /* the client's counters at a tick */
	struct magazine_info st;	/* counters; cached is made on demand */
};

static uint64_t class_pages(unsigned int c)
{
	return UINT64_C(1) << c;
}

static uint64_t class_bytes(unsigned int c)
{
	return class_pages(c) * HEAP_PAGE_SIZE;
}

static uint32_t fill_count(const struct magazine *m, unsigned int c)
{
	return m->cur[c].head - m->cur[c].seen;
}

int magazine_new(struct core *core, uint32_t owner, uint32_t client_id,
		 pid_t pid, uint64_t max_bytes, struct log_limit *log,
		 struct magazine **ret)
{
	size_t size = mag_layout_size((uint32_t)HEAP_PAGE_SIZE);
	struct magazine *m;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->core = core;
	m->owner = owner;
	m->client_id = client_id;
	m->pid = pid;
	m->size = size;
	m->max_bytes = max_bytes;
	m->log = log;
	m->active_ns = daemon_now();
	m->fd = memfd_create("spanheap-magazine",
			     MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m->fd < 0) {
		r = -errno;
		goto out_free;
	}
	if (ftruncate(m->fd, (off_t)size) < 0 ||
	    fcntl(m->fd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto out_close;
	}
	m->r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->r == MAP_FAILED) {
		r = -errno;
		goto out_close;
	}
	r = mag_format(m->r, size, (uint32_t)HEAP_PAGE_SIZE, pid);
	if (r < 0) {
		log_err("BUG: cannot format a magazine: %d", r);
		abort();
	}
	*ret = m;
	return 0;

out_close:
	close(m->fd);
out_free:
	free(m);
	return r;
}

void magazine_free(struct magazine *m)
{
	if (!m)
		return;
	atomic_store_explicit(&m->r->st.flags, MAG_F_DEAD,
			      memory_order_release);
	munmap(m->r, m->size);
	close(m->fd);
	free(m);
}

int magazine_fd(const struct magazine *m)
{
	return m->fd;
}

uint32_t magazine_size(const struct magazine *m)
{
	return (uint32_t)m->size;
}

static bool dead(const struct magazine *m)
{
	return m->st.dead;
}

/* A corrupt index: the magazine is not served again. */
static void stop(struct magazine *m, unsigned int c, const char *what)
{
	if (dead(m))
		return;
	m->st.dead = true;
	m->st.bad++;
	atomic_store_explicit(&m->r->st.flags, MAG_F_DEAD,
			      memory_order_release);
	log_limited(m->log, 4,
		    "client %u (pid %d) corrupted its magazine (class %u %s); "
		    "not serving it any more, its spans stay its own until it "
		    "disconnects",
		    m->client_id, (int)m->pid, c, what);
}

static void bad_entry(struct magazine *m, unsigned int c, uint64_t off)
{
	m->st.bad++;
	if (m->logged)
		return;
	m->logged = true;
	log_limited(m->log, 4,
		    "client %u (pid %d) returned 0x%llx in its class %u return "
		    "stack, not a span it holds from its magazine; skipped "
		    "(and not logging more of this client)",
		    m->client_id, (int)m->pid, (unsigned long long)off, c);
}

/* The daemon's own records disagree with the heap: a bug, not a client. */
static void must(int r, const char *what, uint64_t off)
{
	if (r == 0)
		return;
	log_err("BUG: magazine %s of 0x%llx failed: %d", what,
		(unsigned long long)off, r);
	abort();
}

/* Mark HELD what the client took from class @c's ring since last time. */
static int sync_class(struct magazine *m, unsigned int c)
{
	struct heap *h = m->core->heap;
	uint32_t from = m->cur[c].seen;
	int n = mag_fill_sync(&m->r->cls[c].fill, &m->cur[c]);

	if (n < 0) {
		stop(m, c, "fill ring tail");
		return n;
	}
	for (int i = 0; i < n; i++) {
		uint64_t off = m->shadow[c][(from + (uint32_t)i) & MASK];

		must(heap_mag_move(h, off, m->owner, class_pages(c),
				   HEAP_MAG_FILL, HEAP_MAG_HELD),
		     "take", off);
	}
	return 0;
}

void magazine_sync_locked(struct magazine *m)
{
	daemon_assert_locked(m->core);
	for (unsigned int c = 0; c < MAG_NCLASSES && !dead(m); c++)
		sync_class(m, c);
}

/* Put the span at @off, FILL already, into class @c's ring. */
static void push_fill(struct magazine *m, unsigned int c, uint64_t off)
{
	uint32_t slot = m->cur[c].head & MASK;

	must(mag_fill_push(&m->r->cls[c].fill, &m->cur[c], off), "fill", off);
	m->shadow[c][slot] = off;
	m->st.filled++;
}

/*
 * Is @off a span the client holds through this magazine, of class @c?
 * A FILL one may have been taken since the last sync: sync, look again.
 */
static bool held(struct magazine *m, unsigned int c, uint64_t off)
{
	struct heap *h = m->core->heap;
	unsigned int state;
	uint64_t npages;
	uint32_t owner;

	for (int pass = 0; pass < 2; pass++) {
		if (heap_mag_get(h, off, &owner, &npages, &state) < 0 ||
		    owner != m->owner || npages != class_pages(c))
			return false;
		if (state == HEAP_MAG_HELD)
			return true;
		if (state != HEAP_MAG_FILL || pass || sync_class(m, c) < 0)
			return false;
	}
	return false;
}

/*
 * Take class @c's stack down to its target: each valid span back into
 * the ring while it is below target, else to the heap as unused since
 * @free_at.
 */
static void take_surplus(struct magazine *m, unsigned int c,
			 uint64_t free_at)
{
	struct mag_stack *st = &m->r->cls[c].ret;
	struct heap *h = m->core->heap;
	int n = mag_stack_count_checked(st);

	/* Bounded: each pass takes one entry, or ends. */
	for (unsigned int i = 0; i < MAG_STACK_CAP && n > 0 &&
	     (uint32_t)n > m->target[c]; i++) {
		uint64_t off;
		int r = mag_stack_take(st, &off);

		if (r == -ENOENT || r == -EAGAIN)
			return;
		if (r < 0)
			break;
		n--;
		if (!held(m, c, off)) {
			if (dead(m))
				return;
			bad_entry(m, c, off);
			continue;
		}
		m->st.returned++;
		if (fill_count(m, c) < m->target[c]) {
			must(heap_mag_move(h, off, m->owner, class_pages(c),
					   HEAP_MAG_HELD, HEAP_MAG_FILL),
			     "refill", off);
			push_fill(m, c, off);
		} else {
			must(heap_free(h, off, m->owner, free_at), "free", off);
		}
	}
	if (n < 0 || mag_stack_count_checked(st) < 0)
		stop(m, c, "return stack count");
}

/* Take class @c's ring down to its target: revoked spans to the heap. */
static void revoke_surplus(struct magazine *m, unsigned int c,
			   uint64_t free_at)
{
	struct heap *h = m->core->heap;

	for (unsigned int i = 0; i < MAG_RING_CAP + MAG_CAS_TRIES &&
	     fill_count(m, c) > m->target[c]; i++) {
		uint32_t slot = m->cur[c].seen & MASK;
		int r = mag_fill_revoke(&m->r->cls[c].fill, &m->cur[c]);
		uint64_t off;

		if (r == -ENOENT)
			return;
		if (r == -EAGAIN) {
			if (sync_class(m, c) < 0)
				return;
			continue;
		}
		off = m->shadow[c][slot];
		must(heap_mag_move(h, off, m->owner, class_pages(c),
				   HEAP_MAG_FILL, HEAP_MAG_HELD),
		     "revoke", off);
		must(heap_free(h, off, m->owner, free_at), "free", off);
		m->st.revoked++;
	}
}

/* Top class @c's ring up to its target.  Return: 0, or -ENOMEM. */
static int fill_class(struct magazine *m, unsigned int c, uint64_t now)
{
	struct heap *h = m->core->heap;

	while (fill_count(m, c) < m->target[c]) {
		struct heap_span s;
		int r = heap_mag_alloc(h, class_pages(c), m->owner, now, &s);

		if (r < 0)
			return r;
		push_fill(m, c, s.off);
	}
	return 0;
}

/* Serve class @c: sync, stack and ring to the target, its limit out. */
static int serve_class(struct magazine *m, unsigned int c, uint64_t now,
		       uint64_t free_at)
{
	int r;

	if (dead(m) || sync_class(m, c) < 0)
		return -ENODEV;
	take_surplus(m, c, free_at);
	if (!dead(m))
		revoke_surplus(m, c, free_at);
	if (dead(m))
		return -ENODEV;
	r = fill_class(m, c, now);
	/* Release: the ring's entries are in before the client sees it. */
	atomic_store_explicit(&m->r->cls[c].limit, m->target[c],
			      memory_order_release);
	return r;
}

/* Tell the client its asks have been answered. */
static void served(struct magazine *m)
{
	if (dead(m))
		return;
	m->served++;
	atomic_store_explicit(&m->r->st.served, m->served,
			      memory_order_release);
}

/* What 3 x target spans of every class cost, in bytes. */
static uint64_t budget_used(const struct magazine *m)
{
	uint64_t sum = 0;

	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		sum += 3 * (uint64_t)m->target[c] * class_bytes(c);
	return sum;
}

/* Raise class @c's target toward @want, as far as the bound allows. */
static void raise_target(struct magazine *m, unsigned int c, uint32_t want)
{
	if (want > MAGAZINE_TARGET_MAX)
		want = MAGAZINE_TARGET_MAX;
	while (m->target[c] < want) {
		m->target[c]++;
		if (budget_used(m) > m->max_bytes) {
			m->target[c]--;
			return;
		}
	}
}

void magazine_kick_locked(struct magazine *m, uint64_t now)
{
	daemon_assert_locked(m->core);
	m->st.kicks++;
	m->active_ns = now;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		serve_class(m, c, now, now);
	served(m);
}

int magazine_refill_locked(struct magazine *m, uint32_t cls, uint32_t flags,
			   uint64_t now)
{
	int r;

	daemon_assert_locked(m->core);
	if (dead(m) || cls >= MAG_NCLASSES)
		return -ENODEV;
	m->st.refills++;
	m->active_ns = now;
	/* Ran dry, or filled up: either way the class is busy, double. */
	raise_target(m, cls, m->target[cls] ? 2 * m->target[cls] :
			       MAGAZINE_TARGET_FIRST);
	r = serve_class(m, cls, now, now);
	served(m);
	if (r == -ENODEV)
		return r;
	if (flags & PROTO_MAG_EMPTY && !fill_count(m, cls) &&
	    !mag_stack_count(&m->r->cls[cls].ret))
		return -ENOMEM;
	return 0;
}

void magazine_tick_locked(struct magazine *m, uint64_t now, uint64_t idle_ns)
{
	uint64_t free_at = now;
	bool used = false;

	daemon_assert_locked(m->core);
	if (dead(m))
		return;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		struct mag_class *k = &m->r->cls[c];
		/* Stats the client writes: they only steer the targets. */
		uint64_t ops = atomic_load_explicit(&k->fast_allocs,
						    memory_order_relaxed) +
			       atomic_load_explicit(&k->fast_frees,
						    memory_order_relaxed);

		if (ops != m->seen_ops[c]) {
			m->seen_ops[c] = ops;
			used = true;
		} else {
			m->target[c] /= 2;
		}
	}
	if (used)
		m->active_ns = now;
	if (now - m->active_ns >= idle_ns) {
		memset(m->target, 0, sizeof(m->target));
		free_at = m->active_ns;
	}
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		serve_class(m, c, now, free_at);
	served(m);
}

void magazine_info_add(struct magazine_info *sum,
		       const struct magazine_info *x)
{
	sum->cached += x->cached;
	sum->fast_allocs += x->fast_allocs;
	sum->fast_frees += x->fast_frees;
	sum->filled += x->filled;
	sum->returned += x->returned;
	sum->revoked += x->revoked;
	sum->refills += x->refills;
	sum->kicks += x->kicks;
	sum->bad += x->bad;
	sum->dead = sum->dead || x->dead;
}

/*
 * The bytes of class @c's return stack that are spans the client holds
 * through this magazine.  The client writes the stack, so its count
 * proves nothing: each entry is checked as take_surplus() checks it,
 * and a span pushed twice counts once.  Nothing of a stopped magazine
 * is read.
 */
static uint64_t stack_cached(struct magazine *m, unsigned int c)
{
	struct mag_stack *st = &m->r->cls[c].ret;
	uint32_t n = mag_stack_count(st), k = 0;
	uint64_t seen[MAG_STACK_CAP];

	for (uint32_t i = 0; i < n && !dead(m); i++) {
		uint64_t off = atomic_load_explicit(&st->slot[i],
						    memory_order_relaxed);
		uint32_t j = 0;

		while (j < k && seen[j] != off)
			j++;
		if (j == k && held(m, c, off))
			seen[k++] = off;
	}
	return (uint64_t)k * class_bytes(c);
}

void magazine_info_locked(struct magazine *m, struct magazine_info *ret)
{
	struct magazine_info mi;

	daemon_assert_locked(m->core);
	/* First: the sync may find a corrupt tail, and stop the magazine. */
	magazine_sync_locked(m);
	mi = m->st;
	mi.cached = 0;
	mi.fast_allocs = mi.fast_frees = 0;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		struct mag_class *k = &m->r->cls[c];

		mi.cached += (uint64_t)fill_count(m, c) * class_bytes(c) +
			     stack_cached(m, c);
		mi.fast_allocs += atomic_load_explicit(&k->fast_allocs,
						       memory_order_relaxed);
		mi.fast_frees += atomic_load_explicit(&k->fast_frees,
						      memory_order_relaxed);
	}
	magazine_info_add(ret, &mi);
}
