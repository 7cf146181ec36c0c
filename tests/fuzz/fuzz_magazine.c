// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the daemon's side of a magazine region, format v2
 * (proto/magazine.c: mag_fill_sync(), mag_fill_push(), mag_fill_revoke(),
 * mag_stack_take(), mag_stack_count_checked()): the input is what a
 * hostile client writes into its region, any word at any time,
 * interleaved with the daemon's calls and with the trusting client's
 * (mag_fill_take(), mag_stack_push(), mag_stack_pop(),
 * mag_check_header()), which must not crash whatever the region holds.
 * No daemon runs: the region is a formatted buffer and the daemon is the
 * cursors and records below, exactly as the daemon will keep them.
 *
 * Input format: one byte, the start S: every ring's indices, the
 * daemon's cursors and every stack's generation begin at -S (mod 2^32),
 * so that an input crosses 2^32 within S steps.  Then a sequence of
 * actions, each one byte: bits 0-3 the action (mod NACTIONS), bits 4-6
 * a class (mod MAG_NCLASSES), bit 7 a variant V; then the action's
 * argument bytes (an action cut short by the end of the input is not
 * done):
 *   0 REL     the client writes a word near the daemon's view: 1 byte
 *             (mod 4: the fill tail from the daemon's seen, the fill
 *             tail from its head, the fill head from its head, the
 *             stack count from the stack's, generation kept), then a
 *             signed byte, the distance
 *   1 RAW     the client writes a word: 1 byte (mod 8: fill head, fill
 *             tail, stack control word, limit, fast_allocs, fast_frees,
 *             status flags, status served), then 8 bytes LE, truncated
 *             to the word's width
 *   2 ENTRY   the client writes a fill entry (V 0) or a stack slot
 *             (V 1): 1 byte slot (mod the capacity), 8 bytes LE
 *   3 POKE    the client writes 8 bytes anywhere in the region, the
 *             header included: 2 bytes LE offset (mod the size - 7),
 *             then the 8 bytes
 *   4 SYNC    the daemon syncs its cursor of the fill ring
 *   5 PUSH    the daemon pushes its next offset into the fill ring
 *             (FUZZ_OFFSETS an input at most, then nothing)
 *   6 REVOKE  the daemon revokes the oldest entry
 *   7 STAKE   the daemon takes from the return stack
 *   8 SERVE   the daemon drains the class: a sync, revokes while they
 *             succeed, stack takes while they do (each at most the
 *             capacity + 1 times)
 *   9 TAKE    the client takes from the fill ring
 *  10 CPUSH   the client pushes onto its stack the last offset it took
 *             or popped (V 0) or 8 bytes LE (V 1)
 *  11 CPOP    the client pops from its stack
 *  12 CHECK   the client checks the header and counts ring and stack
 *
 * Invariants, any break of which aborts: the daemon's cursor only moves
 * forward, its head by one on a push and its seen by what a sync
 * reports or one on a revoke; seen <= head and head - seen <=
 * MAG_RING_CAP after every call; a call that fails changes no daemon
 * state and writes no byte of the region, and one that succeeds writes
 * exactly its words (a sync none, a push its entry and the head, a
 * revoke the tail, a stack take the control word); each call fails
 * exactly when the words it read say it must, with the error the
 * header documents; the daemon never produces into a slot between seen
 * and head; what a sync reports as taken is within what was produced,
 * and every offset the daemon produced leaves the ring once, taken or
 * revoked, as its own record (never the shared entries) tells; a stack
 * take returns the slot below the count as it was, unchecked.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "proto/magazine.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/harness.h"

#define PAGE 4096u
#define MASK (MAG_RING_CAP - 1)
#define REGION (3 * PAGE)	/* mag_layout_size(PAGE) */
/* Offsets the daemon may produce in one input: one per input byte. */
#define FUZZ_OFFSETS 4096

enum {
	REL, RAW, ENTRY, POKE, SYNC, PUSH, REVOKE, STAKE, SERVE, TAKE, CPUSH,
	CPOP, CHECK, NACTIONS
};

/* Where an offset the daemon produced is, by its own record. */
enum { NONE, IN_RING, TAKEN, REVOKED };

static alignas(MAG_LINE) unsigned char mem[REGION];
/*
 * The region as it was before the daemon's call, and what the call may
 * write patched in after it; a copy taken only when the client wrote
 * since the last one (a daemon's call that returns leaves the two
 * equal), since copying the region is most of this target's work.
 */
static unsigned char before[REGION];
static bool dirty;

/* The daemon's own state of each class: never in shared memory. */
struct daemon_class {
	struct mag_fill_cursor cur;
	uint64_t rec[MAG_RING_CAP];	/* index i pushed rec[i & MASK] */
	uint64_t produced, taken, revoked; /* never wrapped */
};

static struct daemon_class dc[MAG_NCLASSES];
static uint32_t start;
static uint64_t next_off;		/* offsets produced, all classes */
/* By offset / PAGE, what became of it. */
static unsigned char where[FUZZ_OFFSETS + 1];
/* The client's last offset of each class, taken or popped. */
static uint64_t client_last[MAG_NCLASSES];

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << 8 * i;
	return v;
}

static void snapshot(void)
{
	if (dirty)
		memcpy(before, mem, sizeof(mem));
	dirty = false;
}

static bool unchanged(void)
{
	return !memcmp(before, mem, sizeof(mem));
}

/* What a call wrote into the word at @addr, into the snapshot. */
static void expect(uintptr_t addr, const void *v, size_t n)
{
	memcpy(before + (addr - (uintptr_t)mem), v, n);
}

/* The offset the daemon pushed at index @i, by its record. */
static uint64_t recorded(const struct daemon_class *d, uint32_t i)
{
	uint64_t off = d->rec[i & MASK];

	if (!off || off % PAGE || off / PAGE > next_off)
		fuzz_fail(0, "the record of index %u holds %llu", i,
			  (unsigned long long)off);
	return off;
}

/* Mark what the record has at @i as gone from the ring by @how. */
static void leave(const struct daemon_class *d, uint32_t i, int how,
		  size_t at)
{
	uint64_t k = recorded(d, i) / PAGE;

	if (where[k] != IN_RING)
		fuzz_fail(at, "offset %llu left the ring twice, or unproduced",
			  (unsigned long long)k * PAGE);
	where[k] = (unsigned char)how;
}

/* What holds after every call of the daemon's. */
static void check_daemon(const struct daemon_class *d, size_t at)
{
	const struct mag_fill_cursor *cur = &d->cur;
	uint64_t gone = d->taken + d->revoked;

	if (cur->head != (uint32_t)(start + d->produced))
		fuzz_fail(at, "the cursor's head moved other than by pushes");
	if (cur->seen != (uint32_t)(start + gone))
		fuzz_fail(at, "seen moved other than by syncs and revokes");
	if (gone > d->produced)
		fuzz_fail(at, "more seen consumed than produced");
	if (d->produced - gone > MAG_RING_CAP ||
	    cur->head - cur->seen != d->produced - gone)
		fuzz_fail(at, "head - seen is %u", cur->head - cur->seen);
	for (uint32_t i = cur->seen; i != cur->head; i++)
		if (where[recorded(d, i) / PAGE] != IN_RING)
			fuzz_fail(at, "index %u below head is gone", i);
}

static void daemon_sync(struct mag_class *c, struct daemon_class *d,
			size_t at)
{
	struct mag_fill_cursor was = d->cur;
	uint32_t tail = atomic_load(&c->fill.tail);
	uint32_t taken = tail - was.seen;
	int rc;

	snapshot();
	rc = mag_fill_sync(&c->fill, &d->cur);
	if (!unchanged())
		fuzz_fail(at, "a sync wrote into the region");
	if (rc < 0) {
		if (rc != -EBADMSG || taken <= was.head - was.seen)
			fuzz_fail(at, "a sync of tail %u at %u, head %u: %d",
				  tail, was.seen, was.head, rc);
		if (d->cur.head != was.head || d->cur.seen != was.seen)
			fuzz_fail(at, "a failed sync moved the cursor");
		return;
	}
	if (taken > was.head - was.seen || (uint32_t)rc != taken)
		fuzz_fail(at, "a sync of tail %u at seen %u, head %u said %d",
			  tail, was.seen, was.head, rc);
	if (d->cur.head != was.head || d->cur.seen != tail)
		fuzz_fail(at, "a sync left the cursor off its tail");
	for (uint32_t i = 0; i < taken; i++)
		leave(d, was.seen + i, TAKEN, at);
	d->taken += taken;
}

static void daemon_push(struct mag_class *c, struct daemon_class *d,
			size_t at)
{
	struct mag_fill_cursor was = d->cur;
	uint32_t slot = was.head & MASK;
	uint64_t off = (next_off + 1) * PAGE;
	int rc;

	if (next_off == FUZZ_OFFSETS)
		return;
	snapshot();
	rc = mag_fill_push(&c->fill, &d->cur, off);
	if (rc < 0) {
		if (rc != -EAGAIN || was.head - was.seen != MAG_RING_CAP)
			fuzz_fail(at, "a push at seen %u, head %u: %d",
				  was.seen, was.head, rc);
		if (!unchanged() || d->cur.head != was.head ||
		    d->cur.seen != was.seen)
			fuzz_fail(at, "a failed push changed something");
		return;
	}
	if (was.head - was.seen >= MAG_RING_CAP)
		fuzz_fail(at, "a push into a full ring");
	/* The slot is no index's in [seen, head): fewer than the cap. */
	for (uint32_t i = was.seen; i != was.head; i++)
		if ((i & MASK) == slot)
			fuzz_fail(at, "a push into the slot of index %u", i);
	if (d->cur.head != was.head + 1 || d->cur.seen != was.seen)
		fuzz_fail(at, "a push moved other than the head by one");
	if (atomic_load(&c->fill.entry[slot]) != off ||
	    atomic_load(&c->fill.head) != d->cur.head)
		fuzz_fail(at, "a push did not write its entry and head");
	/* Nothing else. */
	expect((uintptr_t)&c->fill.entry[slot], &off, sizeof(off));
	expect((uintptr_t)&c->fill.head, &d->cur.head, sizeof(d->cur.head));
	if (!unchanged())
		fuzz_fail(at, "a push wrote more than its entry and head");
	d->rec[slot] = off;
	where[++next_off] = IN_RING;
	d->produced++;
}

static int daemon_revoke(struct mag_class *c, struct daemon_class *d,
			 size_t at)
{
	struct mag_fill_cursor was = d->cur;
	uint32_t tail = atomic_load(&c->fill.tail);
	int rc;

	snapshot();
	rc = mag_fill_revoke(&c->fill, &d->cur);
	if (rc < 0) {
		if (rc != (was.head == was.seen ? -ENOENT : -EAGAIN) ||
		    (rc == -EAGAIN && tail == was.seen))
			fuzz_fail(at, "a revoke of tail %u at %u, head %u: %d",
				  tail, was.seen, was.head, rc);
		if (!unchanged() || d->cur.head != was.head ||
		    d->cur.seen != was.seen)
			fuzz_fail(at, "a failed revoke changed something");
		return rc;
	}
	if (was.head == was.seen || tail != was.seen)
		fuzz_fail(at, "a revoke of tail %u at %u, head %u took one",
			  tail, was.seen, was.head);
	if (d->cur.head != was.head || d->cur.seen != was.seen + 1 ||
	    atomic_load(&c->fill.tail) != d->cur.seen)
		fuzz_fail(at, "a revoke moved other than seen and tail by one");
	expect((uintptr_t)&c->fill.tail, &d->cur.seen, sizeof(d->cur.seen));
	if (!unchanged())
		fuzz_fail(at, "a revoke wrote more than the tail");
	leave(d, was.seen, REVOKED, at);
	d->revoked++;
	return 0;
}

static int daemon_stack_take(struct mag_class *c, size_t at)
{
	uint64_t w = atomic_load(&c->ret.ctl), want, off = 0xdeadbeef;
	uint32_t n = MAG_STACK_COUNT(w);
	int checked = mag_stack_count_checked(&c->ret);
	int rc;

	if (checked != (n > MAG_STACK_CAP ? -EBADMSG : (int)n))
		fuzz_fail(at, "a checked count of %u: %d", n, checked);
	snapshot();
	rc = mag_stack_take(&c->ret, &off);
	if (rc < 0) {
		if (rc != (n > MAG_STACK_CAP ? -EBADMSG : -ENOENT) ||
		    (rc == -ENOENT && n))
			fuzz_fail(at, "a stack take at count %u: %d", n, rc);
		if (!unchanged() || off != 0xdeadbeef)
			fuzz_fail(at, "a failed stack take changed something");
		return rc;
	}
	if (!n || n > MAG_STACK_CAP)
		fuzz_fail(at, "a stack take at count %u succeeded", n);
	want = atomic_load(&c->ret.slot[n - 1]);
	if (off != want)
		fuzz_fail(at, "a stack take returned other than its slot");
	want = MAG_STACK_WORD(n - 1, MAG_STACK_GEN(w) + 1);
	if (atomic_load(&c->ret.ctl) != want)
		fuzz_fail(at, "a stack take left the word at %llx",
			  (unsigned long long)atomic_load(&c->ret.ctl));
	expect((uintptr_t)&c->ret.ctl, &want, sizeof(want));
	if (!unchanged())
		fuzz_fail(at, "a stack take wrote more than its word");
	return 0;
}

/* The daemon's routine serve: sync, revoke what is left, empty the stack. */
static void daemon_serve(struct mag_class *c, struct daemon_class *d,
			 size_t at)
{
	daemon_sync(c, d, at);
	check_daemon(d, at);
	for (unsigned int i = 0; i <= MAG_RING_CAP; i++) {
		int rc = daemon_revoke(c, d, at);

		check_daemon(d, at);
		if (rc)
			break;
	}
	for (unsigned int i = 0; i <= MAG_STACK_CAP; i++)
		if (daemon_stack_take(c, at))
			break;
}

/* The client writes a word of its class near the daemon's view. */
static void write_rel(struct mag_class *c, const struct daemon_class *d,
		      unsigned int which, int8_t delta)
{
	uint64_t w;

	switch (which % 4) {
	case 0:
		atomic_store(&c->fill.tail, d->cur.seen + (uint32_t)delta);
		break;
	case 1:
		atomic_store(&c->fill.tail, d->cur.head + (uint32_t)delta);
		break;
	case 2:
		atomic_store(&c->fill.head, d->cur.head + (uint32_t)delta);
		break;
	default:
		w = atomic_load(&c->ret.ctl);
		w = MAG_STACK_WORD(MAG_STACK_COUNT(w) + (uint32_t)delta,
				   MAG_STACK_GEN(w));
		atomic_store(&c->ret.ctl, w);
		break;
	}
}

/* The client writes @v into one of its words, or the status line's. */
static void write_raw(struct mag_region *r, struct mag_class *c,
		      unsigned int which, uint64_t v)
{
	switch (which % 8) {
	case 0:
		atomic_store(&c->fill.head, (uint32_t)v);
		break;
	case 1:
		atomic_store(&c->fill.tail, (uint32_t)v);
		break;
	case 2:
		atomic_store(&c->ret.ctl, v);
		break;
	case 3:
		atomic_store(&c->limit, (uint32_t)v);
		break;
	case 4:
		atomic_store(&c->fast_allocs, v);
		break;
	case 5:
		atomic_store(&c->fast_frees, v);
		break;
	case 6:
		atomic_store(&r->st.flags, (uint32_t)v);
		break;
	default:
		atomic_store(&r->st.served, (uint32_t)v);
		break;
	}
}

/* The trusting client's calls: anything may come back, nothing may crash. */
static void client_take(struct mag_class *c, unsigned int k)
{
	uint64_t off;

	if (mag_fill_take(&c->fill, &off) == 0)
		client_last[k] = off;
}

static void client_pop(struct mag_class *c, unsigned int k)
{
	uint64_t off;

	if (mag_stack_pop(&c->ret, &off, NULL) == 0)
		client_last[k] = off;
}

static void client_check(struct mag_region *r, size_t at)
{
	(void)mag_check_header(mem, sizeof(mem));
	for (unsigned int k = 0; k < MAG_NCLASSES; k++) {
		if (mag_fill_count(&r->cls[k].fill) > MAG_RING_CAP + 1 ||
		    mag_stack_count(&r->cls[k].ret) > MAG_STACK_CAP)
			fuzz_fail(at, "a count of class %u past its bound", k);
	}
}

/* Argument bytes each action takes. */
static const unsigned char arg_len[NACTIONS] = {
	[REL] = 2, [RAW] = 9, [ENTRY] = 9, [POKE] = 10,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mag_region *r = (struct mag_region *)mem;
	size_t pos = 1;

	if (!size)
		return 0;
	if (mag_format(mem, sizeof(mem), PAGE, 1) < 0)
		fuzz_fail(0, "mag_format refused the region: %s", "its size");
	start = 0u - data[0];
	memset(dc, 0, sizeof(dc));
	memset(where, 0, sizeof(where));
	memset(client_last, 0, sizeof(client_last));
	next_off = 0;
	dirty = true;
	for (unsigned int k = 0; k < MAG_NCLASSES; k++) {
		atomic_store(&r->cls[k].fill.head, start);
		atomic_store(&r->cls[k].fill.tail, start);
		atomic_store(&r->cls[k].ret.ctl, MAG_STACK_WORD(0, start));
		dc[k].cur.head = start;
		dc[k].cur.seen = start;
	}
	while (pos < size) {
		size_t at = pos;
		unsigned int op = (data[pos] & 15) % NACTIONS;
		unsigned int k = (data[pos] >> 4 & 7) % MAG_NCLASSES;
		bool v = data[pos] >> 7;
		struct mag_class *c = &r->cls[k];
		struct daemon_class *d = &dc[k];
		const uint8_t *a = data + pos + 1;
		uint32_t count;
		uint64_t off;

		pos++;
		if (size - pos < arg_len[op])
			return 0;
		pos += arg_len[op];
		switch (op) {
		case REL:
			write_rel(c, d, a[0], (int8_t)a[1]);
			break;
		case RAW:
			write_raw(r, c, a[0], le(a + 1, 8));
			break;
		case ENTRY:
			if (v)
				atomic_store(&c->ret.slot[a[0] % MAG_STACK_CAP],
					     le(a + 1, 8));
			else
				atomic_store(&c->fill.entry[a[0] & MASK],
					     le(a + 1, 8));
			break;
		case POKE:
			memcpy(mem + le(a, 2) % (sizeof(mem) - 7), a + 2, 8);
			break;
		case SYNC:
			daemon_sync(c, d, at);
			break;
		case PUSH:
			daemon_push(c, d, at);
			break;
		case REVOKE:
			daemon_revoke(c, d, at);
			break;
		case STAKE:
			daemon_stack_take(c, at);
			break;
		case SERVE:
			daemon_serve(c, d, at);
			break;
		case TAKE:
			client_take(c, k);
			break;
		case CPUSH:
			if (v) {
				if (size - pos < 8)
					return 0;
				off = le(data + pos, 8);
				pos += 8;
			} else {
				off = client_last[k];
			}
			(void)mag_stack_push(&c->ret, off, MAG_STACK_CAP,
					     &count);
			break;
		case CPOP:
			client_pop(c, k);
			break;
		case CHECK:
			client_check(r, at);
			break;
		}
		if (op < SYNC || (op >= TAKE && op != CHECK))
			dirty = true;
		check_daemon(d, at);
	}
	return 0;
}
