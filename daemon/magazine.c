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
 *
 * Surviving a restart (issue 12).  The record of the fill rings, struct
 * mag_record (per class the cursor and the shadow of what the daemon
 * put in each slot, and one revocation's intent), lives in the caller's
 * area (durable_mag_area(): the metadata memfd, which outlives the
 * process and no client maps), not in struct magazine; the adaptive
 * targets and the counters stay here and start again after a restart.
 * "Exact" means: every FILL span of the owner is at a ring index in
 * [seen, head) of its class in the record, each index holding a
 * distinct one, and every span the record has at an index the client
 * moved the region's tail past (took it) is one the client took, or
 * one the daemon revoked (below).  Three rules keep it so at every
 * instruction:
 *   R1. Every change to the record is logged (heap_tx_log()) inside the
 *       same heap transaction as the heap call it goes with: a fill
 *       (heap_mag_alloc(), or heap_mag_move() HELD -> FILL) and head++;
 *       a sync (heap_mag_move() FILL -> HELD) and seen = tail; a
 *       revocation (heap_mag_move() and heap_free()) and seen++.  A kill
 *       inside a transaction is undone by recovery, heap and record
 *       alike, so they agree after every transaction.
 *   R2. The region is written only after the transaction ends, the
 *       head last (publish()): so the region's head is never past the
 *       record's, and a client can only have taken indices below the
 *       record's head.  A sync reads the tail against the head the
 *       region was told (pub), never the record's unpublished one.
 *   R3. A revocation records its intent (class, index) in a transaction
 *       of its own before its compare-and-swap of the tail, and clears
 *       it with the heap calls after.  A kill between the two leaves
 *       the record's seen at the index revoked, the span FILL: the
 *       resume below frees it when the client's took says the client
 *       never reached it, and marks it HELD when the client went past
 *       it (its own take of it, or a take after the revocation: which,
 *       the record cannot tell, so the span stays the owner's, never
 *       handed out twice, and is freed when the owner goes).
 * Transactions are small (the journal's bound is PROTO_MAX_BATCH heap
 * calls): one sync of a class, one entry taken off a stack, one
 * revocation, one fill of a class up to its target (at most
 * MAGAZINE_TARGET_MAX spans), and RESUME_CHUNK entries of a resume.
 * The daemon takes an entry off a return stack by compare-and-swap
 * before its transaction, too: a kill after the swap leaves that span
 * HELD, its owner's, on no stack, until the owner goes (HELD spans are
 * the client's: exactness is about FILL ones).
 *
 * The resume (magazine_resume_locked()) trusts nothing of the area
 * before it has checked it: the magic and the owner (a slot's bytes are
 * its last user's), the cursors, and that each slot in [seen, head) is
 * a distinct FILL span of the owner of its class.  Then, per class, the
 * indices below the client's took are marked HELD and the rest freed,
 * moving seen up an index at a time in transactions of RESUME_CHUNK
 * entries: every step leaves a record of the same meaning, so a resume
 * killed half way and done again with the same took gives the same
 * result.  The record is then reset (every cursor 0) for the new region.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
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

#define REC_MAGIC 0x524d4853u	/* "SHMR" in memory order */
#define REC_VERSION 1
#define REC_F_RESUMED 0x1u	/* resumed since the last magazine_new() */
#define REC_FLAGS REC_F_RESUMED
/* Entries a resume settles per transaction: at most two heap calls each. */
#define RESUME_CHUNK 16

/*
 * The durable record of one owner's magazine, in the caller's area: see
 * the design above.  Fixed widths, no pointers: a restarted daemon reads
 * it, and checks it before it trusts it (magazine_resume_locked()).
 */
struct mag_record {
	uint32_t magic;		/* REC_MAGIC */
	uint16_t version;	/* REC_VERSION */
	uint16_t nclasses;	/* MAG_NCLASSES */
	uint32_t owner;		/* whose: a slot's bytes are its last user's */
	uint32_t flags;		/* REC_F_* */
	uint32_t revoke_cls;	/* class + 1 of a revocation under way; 0 */
	uint32_t revoke_idx;	/* the index it takes: its class's seen */
	uint32_t resume_freed;	/* what resumes did since magazine_new() */
	uint32_t resume_held;
	struct mag_fill_cursor cur[MAG_NCLASSES];
	uint64_t shadow[MAG_NCLASSES][MAG_RING_CAP]; /* what each slot got */
};
_Static_assert(sizeof(struct mag_fill_cursor) == 8, "mag_fill_cursor");
_Static_assert(offsetof(struct mag_record, cur) == 32, "mag_record cur");
_Static_assert(offsetof(struct mag_record, shadow) % 8 == 0,
	       "mag_record shadow");
_Static_assert(sizeof(struct mag_record) <= MAGAZINE_AREA_BYTES,
	       "mag_record fits its area");

struct magazine {
	struct core *core;
	/* magazine_set_room(): what the owner may still take, or NULL */
	uint64_t (*room)(void *ctx);
	void *room_ctx;
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
	struct mag_record *rec;		/* the caller's area, or our own */
	bool durable;			/* rec is the caller's: log it */
	uint32_t pub[MAG_NCLASSES];	/* the head the region was told */
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
	return m->rec->cur[c].head - m->rec->cur[c].seen;
}

/* Log [p, p + len) of a durable record before it changes (R1). */
static void rec_log(struct heap *h, bool durable, const void *p, size_t len)
{
	if (durable)
		heap_tx_log(h, p, len);
}

static void rec_set(struct heap *h, bool durable, uint32_t *p, uint32_t v)
{
	rec_log(h, durable, p, sizeof(*p));
	*p = v;
}

static void mset(struct magazine *m, uint32_t *p, uint32_t v)
{
	rec_set(m->core->heap, m->durable, p, v);
}

static void tx_begin(struct magazine *m)
{
	heap_tx_begin(m->core->heap);
}

static void tx_end(struct magazine *m)
{
	heap_tx_end(m->core->heap);
}

/* Write @rec whole, empty, for @owner: its first use of the area. */
static void rec_format(struct heap *h, bool durable, struct mag_record *rec,
		       uint32_t owner)
{
	rec_log(h, durable, rec, sizeof(*rec));
	memset(rec, 0, sizeof(*rec));
	rec->magic = REC_MAGIC;
	rec->version = REC_VERSION;
	rec->nclasses = MAG_NCLASSES;
	rec->owner = owner;
}

/*
 * Start using @m->rec for @m's owner: keep what a resume of the owner
 * did, for the stats, then write the record whole.
 */
static void rec_start(struct magazine *m)
{
	struct heap *h = m->core->heap;
	struct mag_record *rec = m->rec;

	daemon_heap_lock(m->core);
	heap_tx_begin(h);
	if (m->durable && rec->magic == REC_MAGIC &&
	    rec->version == REC_VERSION && rec->owner == m->owner &&
	    rec->flags & REC_F_RESUMED) {
		m->st.resumed = 1;
		m->st.resume_freed = rec->resume_freed;
		m->st.resume_held = rec->resume_held;
	}
	rec_format(h, m->durable, rec, m->owner);
	heap_tx_end(h);
	daemon_heap_unlock(m->core);
}

int magazine_new(struct core *core, uint32_t owner, uint32_t client_id,
		 pid_t pid, uint64_t max_bytes, struct log_limit *log,
		 void *area, struct magazine **ret)
{
	size_t size = mag_layout_size((uint32_t)HEAP_PAGE_SIZE);
	struct magazine *m;
	int r;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->durable = area != NULL;
	m->rec = area ? area : calloc(1, sizeof(*m->rec));
	if (!m->rec) {
		r = -ENOMEM;
		goto out_free;
	}
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
	rec_start(m);
	*ret = m;
	return 0;

out_close:
	close(m->fd);
out_free:
	if (!m->durable)
		free(m->rec);
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
	if (!m->durable)
		free(m->rec);
	free(m);
}

void magazine_set_room(struct magazine *m, uint64_t (*room)(void *ctx),
		       void *ctx)
{
	m->room = room;
	m->room_ctx = ctx;
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

/*
 * Mark HELD what the client took from class @c's ring since last time:
 * the tail read against the head the region was told (R2), the record's
 * seen and the heap's marks moved in one transaction (R1).
 */
static int sync_class(struct magazine *m, unsigned int c)
{
	struct heap *h = m->core->heap;
	struct mag_fill_cursor *cur = &m->rec->cur[c];
	struct mag_fill_cursor told = { .head = m->pub[c], .seen = cur->seen };
	uint32_t from = cur->seen;
	int n = mag_fill_sync(&m->r->cls[c].fill, &told);

	if (n < 0) {
		stop(m, c, "fill ring tail");
		return n;
	}
	if (!n)
		return 0;
	tx_begin(m);
	mset(m, &cur->seen, told.seen);
	for (int i = 0; i < n; i++) {
		uint64_t off = m->rec->shadow[c][(from + (uint32_t)i) & MASK];

		must(heap_mag_move(h, off, m->owner, class_pages(c),
				   HEAP_MAG_FILL, HEAP_MAG_HELD),
		     "take", off);
	}
	tx_end(m);
	return 0;
}

void magazine_sync_locked(struct magazine *m)
{
	daemon_assert_locked(m->core);
	for (unsigned int c = 0; c < MAG_NCLASSES && !dead(m); c++)
		sync_class(m, c);
}

/*
 * Record the span at @off, FILL already, at class @c's head: inside a
 * transaction, the region told later (publish()).
 */
static void record_fill(struct magazine *m, unsigned int c, uint64_t off)
{
	struct mag_fill_cursor *cur = &m->rec->cur[c];
	uint64_t *slot = &m->rec->shadow[c][cur->head & MASK];

	if (cur->head - cur->seen >= MAG_RING_CAP)
		must(-ENOSPC, "fill", off);
	rec_log(m->core->heap, m->durable, slot, sizeof(*slot));
	*slot = off;
	mset(m, &cur->head, cur->head + 1);
	m->st.filled++;
}

/*
 * Tell the region what class @c's record holds past what it was told:
 * after the transaction (R2); each entry, then the head.
 */
static void publish(struct magazine *m, unsigned int c)
{
	const struct mag_fill_cursor *cur = &m->rec->cur[c];
	struct mag_fill_cursor told = { .head = m->pub[c], .seen = cur->seen };

	while (told.head != cur->head) {
		uint64_t off = m->rec->shadow[c][told.head & MASK];

		must(mag_fill_push(&m->r->cls[c].fill, &told, off), "publish",
		     off);
	}
	m->pub[c] = told.head;
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
		tx_begin(m);
		if (fill_count(m, c) < m->target[c]) {
			must(heap_mag_move(h, off, m->owner, class_pages(c),
					   HEAP_MAG_HELD, HEAP_MAG_FILL),
			     "refill", off);
			record_fill(m, c, off);
		} else {
			must(heap_free(h, off, m->owner, free_at), "free", off);
		}
		tx_end(m);
		publish(m, c);
	}
	if (n < 0 || mag_stack_count_checked(st) < 0)
		stop(m, c, "return stack count");
}

/*
 * Revoke the oldest entry of class @c's ring: its intent first, in a
 * transaction of its own (R3), then the swap, then the heap calls and
 * seen++ with the intent cleared.  Return: as mag_fill_revoke().
 */
static int revoke_one(struct magazine *m, unsigned int c, uint64_t free_at)
{
	struct heap *h = m->core->heap;
	struct mag_record *rec = m->rec;
	uint32_t idx = rec->cur[c].seen;
	struct mag_fill_cursor told = { .head = m->pub[c], .seen = idx };
	uint64_t off = rec->shadow[c][idx & MASK];
	int r;

	/* Only what the region was told can be revoked from it. */
	if (told.head == idx)
		return -ENOENT;
	tx_begin(m);
	mset(m, &rec->revoke_cls, c + 1);
	mset(m, &rec->revoke_idx, idx);
	tx_end(m);
	r = mag_fill_revoke(&m->r->cls[c].fill, &told);
	tx_begin(m);
	if (r == 0) {
		must(heap_mag_move(h, off, m->owner, class_pages(c),
				   HEAP_MAG_FILL, HEAP_MAG_HELD),
		     "revoke", off);
		must(heap_free(h, off, m->owner, free_at), "free", off);
		mset(m, &rec->cur[c].seen, idx + 1);
		m->st.revoked++;
	}
	mset(m, &rec->revoke_cls, 0);
	tx_end(m);
	return r;
}

/* Take class @c's ring down to its target: revoked spans to the heap. */
static void revoke_surplus(struct magazine *m, unsigned int c,
			   uint64_t free_at)
{
	for (unsigned int i = 0; i < MAG_RING_CAP + MAG_CAS_TRIES &&
	     fill_count(m, c) > m->target[c]; i++) {
		int r = revoke_one(m, c, free_at);

		if (r == -ENOENT)
			return;
		if (r == -EAGAIN && sync_class(m, c) < 0)
			return;
	}
}

/*
 * Top class @c's ring up to its target, as far as the owner's room
 * (magazine_set_room()) and the memory limit allow.  Return: 0, -ENOMEM,
 * -ENOBUFS (the limit) or -EDQUOT (the room): the client then asks the
 * socket, where a span waits for the limit or fails with the quota.
 */
static int fill_class(struct magazine *m, unsigned int c, uint64_t now)
{
	struct heap *h = m->core->heap;
	int r = 0;

	uint64_t room = m->room && fill_count(m, c) < m->target[c] ?
			m->room(m->room_ctx) : UINT64_MAX;

	tx_begin(m);
	while (fill_count(m, c) < m->target[c]) {
		struct heap_span s;

		/* A quota counts the ring: the spans in it are the owner's. */
		if (room < class_bytes(c)) {
			r = -EDQUOT;
			break;
		}
		r = heap_mag_alloc(h, class_pages(c), m->owner, now, &s);
		if (r < 0)
			break;
		room -= class_bytes(c);
		record_fill(m, c, s.off);
	}
	tx_end(m);
	publish(m, c);
	return r;
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
	sum->resumed += x->resumed;
	sum->resume_freed += x->resume_freed;
	sum->resume_held += x->resume_held;
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

/* The resume: see the design above. */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Is @rec a record the daemon could have written for @owner, every slot
 * of [seen, head) a distinct FILL span of @owner of its class?  Reads
 * each field once; changes nothing.  Return: 0, -ENOENT or -EUCLEAN.
 */
static int rec_check(struct heap *h, const struct mag_record *rec,
		     uint32_t owner)
{
	uint64_t offs[MAG_NCLASSES * MAG_RING_CAP];
	unsigned int n = 0;
	uint32_t rc = rec->revoke_cls;

	if (rec->magic != REC_MAGIC || rec->owner != owner)
		return -ENOENT;
	if (rec->version != REC_VERSION || rec->nclasses != MAG_NCLASSES ||
	    rec->flags & ~REC_FLAGS || rc > MAG_NCLASSES ||
	    (rc && rec->revoke_idx != rec->cur[rc - 1].seen))
		return -EUCLEAN;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		uint32_t seen = rec->cur[c].seen, head = rec->cur[c].head;

		if (head - seen > MAG_RING_CAP)
			return -EUCLEAN;
		for (uint32_t i = seen; i != head; i++) {
			uint64_t off = rec->shadow[c][i & MASK], npages;
			unsigned int state;
			uint32_t who;

			if (heap_mag_get(h, off, &who, &npages, &state) < 0 ||
			    who != owner || npages != class_pages(c) ||
			    state != HEAP_MAG_FILL)
				return -EUCLEAN;
			offs[n++] = off;
		}
	}
	qsort(offs, n, sizeof(offs[0]), cmp_u64);
	for (unsigned int i = 1; i < n; i++)
		if (offs[i] == offs[i - 1])
			return -EUCLEAN;
	return 0;
}

/*
 * The client's @took clamped to [seen, head] (see magazine.h): the
 * indices below it are the client's.  A took behind seen by less than
 * 2^31 is behind; any other outside the range is past head.
 */
static uint32_t took_clamped(const struct mag_fill_cursor *cur, uint32_t took)
{
	if (took - cur->seen <= cur->head - cur->seen)
		return took;
	return cur->seen - took <= INT32_MAX ? cur->seen : cur->head;
}

/*
 * Settle class @c of @rec, RESUME_CHUNK entries a transaction: below
 * @took HELD, from it on freed, seen moving up with them; then reset.
 */
static void resume_class(struct heap *h, struct mag_record *rec,
			 uint32_t owner, unsigned int c, uint32_t took,
			 uint64_t now)
{
	struct mag_fill_cursor *cur = &rec->cur[c];
	uint32_t hold = took_clamped(cur, took) - cur->seen;

	while (cur->seen != cur->head) {
		heap_tx_begin(h);
		for (unsigned int k = 0; k < RESUME_CHUNK &&
		     cur->seen != cur->head; k++) {
			uint64_t off = rec->shadow[c][cur->seen & MASK];

			must(heap_mag_move(h, off, owner, class_pages(c),
					   HEAP_MAG_FILL, HEAP_MAG_HELD),
			     "resume", off);
			if (hold) {
				hold--;
				rec_set(h, true, &rec->resume_held,
					rec->resume_held + 1);
			} else {
				must(heap_free(h, off, owner, now), "free",
				     off);
				rec_set(h, true, &rec->resume_freed,
					rec->resume_freed + 1);
			}
			rec_set(h, true, &cur->seen, cur->seen + 1);
		}
		heap_tx_end(h);
	}
	heap_tx_begin(h);
	if (rec->revoke_cls == c + 1)
		rec_set(h, true, &rec->revoke_cls, 0);
	rec_set(h, true, &cur->head, 0);
	rec_set(h, true, &cur->seen, 0);
	heap_tx_end(h);
}

int magazine_resume_locked(struct core *core, uint32_t owner,
			   void *mag_area, const uint32_t took[MAG_NCLASSES])
{
	struct heap *h = core->heap;
	struct mag_record *rec = mag_area;
	uint64_t now = daemon_now();
	int r;

	daemon_assert_locked(core);
	r = rec_check(h, rec, owner);
	if (r < 0)
		return r;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		resume_class(h, rec, owner, c, took[c], now);
	heap_tx_begin(h);
	rec_set(h, true, &rec->flags, rec->flags | REC_F_RESUMED);
	heap_tx_end(h);
	return 0;
}
