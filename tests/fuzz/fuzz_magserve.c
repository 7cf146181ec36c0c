// SPDX-License-Identifier: MIT
/*
 * Fuzz target for daemon/magazine.c as the daemon serves it: a real
 * (small) daemon of the harness (harness.h), one client with a magazine
 * and one without, and a client that does anything at all to its region
 * between the daemon's serves.  tests/fuzz/fuzz_magazine.c fuzzes the
 * format's operations alone; this one, the daemon's use of them against
 * the real heap.
 *
 * Each input starts with both clients welcomed (client A asks for a
 * magazine, which this process maps as the client would; client B
 * allocates FUZZ_B_SPANS spans through the socket), then runs actions,
 * each one byte, bits 0-2 the action, bits 3-7 an argument A:
 *   0 WRITE   the hostile client writes a word of its region: a field
 *             of one class (A: the class, then a byte: the field and an
 *             index) or, with A >= 28, any 8-byte word (two bytes: its
 *             index); the value as the next bytes say (pick_value())
 *   1 TAKE    a take from class A % 7's fill ring (mag_fill_take()), as
 *             the library does it, its counter bumped
 *   2 PUSH    A < 16: push a span the client holds (the next byte picks
 *             it) onto its class's stack; else push any value onto the
 *             stack of class A % 7 (mag_stack_push())
 *   3 POP     pop class A % 7's stack (mag_stack_pop())
 *   4 KICK    a MAG_KICK through the dispatcher
 *   5 REFILL  a MAG_REFILL of class A % 8 (7 is none: refused) and flags
 *             A / 8 (0 is none: refused)
 *   6 FREE    A < 16: a SPAN_FREE of A % 4 + 1 offsets, each a value;
 *             else a SPAN_ALLOC of (A % 4) + 1 spans of the next byte % 33
 *             pages (0 is refused)
 *   7 TICK    magazine_tick_locked() at now plus 0, half, one or two
 *             FUZZ_IDLE_NS (A % 4), for an idleness of FUZZ_IDLE_NS
 *
 * The model.  The daemon's own record of its fill rings is private, but
 * every entry it produces is written to the region before anyone else
 * runs: before each daemon action the region's head of every class is
 * set to the head the daemon last published (it never reads it back),
 * and after it whatever the daemon produced is read into a shadow of
 * the ring; the client's head comes back if the daemon wrote none.
 * After each daemon action the magazine's figures are read
 * (magazine_info_locked(), which syncs every class, as MemStats does).
 * Of the client, the model keeps what it holds by right (held): spans it
 * took from a fill ring, each the daemon's entry at that index of an
 * unconsumed window, or popped off a stack slot it had pushed one such
 * span into, and has given back since in no way (a push, a SPAN_FREE,
 * any write that could hand it to the daemon: a stack slot or count
 * that shows it, a ring index moved under one not yet synced).  While
 * the client has written nothing to its rings and stacks (pristine),
 * every stack slot below the count is a span it pushed.
 *
 * Invariants, after every action (any break aborts):
 *   - heap_check() passes; the walk of the heap agrees with both owner
 *     records (spans, pages);
 *   - while the magazine is served: each class's window (the daemon's
 *     head back to the tail as synced) holds at most
 *     MAGAZINE_TARGET_MAX entries, 3 x their bytes over the classes fit
 *     FUZZ_MAG_BYTES, and the spans it names are distinct and exactly
 *     the FILL spans of A of that class; once it is stopped (a corrupt
 *     index) MAG_F_DEAD is set, refills get -ENODEV, and its FILL spans
 *     never change again;
 *   - every span the client holds by right is A's, of its class, and
 *     HELD (FILL if taken since the daemon last looked): no revoke,
 *     recycle or free took it from under the client;
 *   - pristine: A's HELD spans are exactly those it holds by right and
 *     those on its stacks, each once;
 *   - A's socket spans (state NONE) change only by its SPAN_ALLOC and
 *     SPAN_FREE, by what the replies say; B's spans never change;
 *   - replies are what harness.h says; a SPAN_FREE of a FILL span is
 *     refused, and one that fails frees nothing; a MAG_REFILL's status
 *     fits the class after it (as in fuzz_dispatch.c).
 * At the end both clients are destroyed: nothing is left in use
 * (fuzz_heap_idle()) and the process has the fds it had.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "daemon/dispatch.h"
#include "daemon/magazine.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/harness.h"

#define MASK (MAG_RING_CAP - 1)
#define PAGE HEAP_PAGE_SIZE
/* Spans client B holds, and the most spans the 4 MiB arena has. */
#define FUZZ_B_SPANS 3
#define FUZZ_SPANS_MAX 1024
/* The idleness after which ticks take a client's magazine back. */
#define FUZZ_IDLE_NS UINT64_C(1000000000)

enum { WRITE, TAKE, PUSH, POP, KICK, REFILL, FREE, TICK };

/* One span of the heap, as a walk saw it. */
struct span {
	uint64_t off, npages;
	uint32_t owner;
	unsigned int state;
};

struct walk {
	struct span s[FUZZ_SPANS_MAX];
	unsigned int n;
};

/* A span the client holds by right, of class @cls. */
struct right {
	uint64_t off;
	unsigned int cls;
	bool synced;		/* the daemon has seen it taken */
};

static struct fuzz_peer pa, pb;	/* A has the magazine */
static struct mag_region *R;	/* A's region, mapped here */
static size_t rsize;
static size_t cur_at;

/* What the daemon produced: its head, and each slot's last entry. */
static uint32_t dhead[MAG_NCLASSES];
static uint64_t shadow[MAG_NCLASSES][MAG_RING_CAP];
/* The tail of each class as last synced (the window's start). */
static uint32_t seen[MAG_NCLASSES];
/*
 * Stack slots A pushed a span it held by right into, not taken since:
 * SLOT_RIGHT if the daemon had seen that span taken, else SLOT_UNSYNCED.
 */
enum { SLOT_NONE, SLOT_UNSYNCED, SLOT_RIGHT };
static uint8_t slot_right[MAG_NCLASSES][MAG_STACK_CAP];

static struct right held[FUZZ_SPANS_MAX];
static unsigned int nheld;
static bool pristine, dead;
/* A's FILL spans when the magazine was stopped. */
static struct walk at_death;
/* A's socket spans, as the replies say. */
static uint64_t socket_spans;
static struct walk b_spans;

/* FUZZ_TRACE set: every action is told on stderr. */
static bool trace;
static const uint8_t *in;
static size_t in_size, pos;

static unsigned int next_byte(void)
{
	return pos < in_size ? in[pos++] : 0;
}

static uint64_t next_u64(void)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)next_byte() << (8 * i);
	return v;
}

static void walk_one(void *ctx, uint64_t off, uint32_t owner,
		     uint64_t npages, unsigned int state)
{
	struct walk *w = ctx;

	if (w->n == FUZZ_SPANS_MAX)
		fuzz_fail(cur_at, "more spans in use than the arena has pages");
	w->s[w->n++] = (struct span){ off, npages, owner, state };
}

/* Of the spans of @all, @owner's. */
static void only(const struct walk *all, uint32_t owner, struct walk *ret)
{
	ret->n = 0;
	for (unsigned int i = 0; i < all->n; i++)
		if (all->s[i].owner == owner)
			ret->s[ret->n++] = all->s[i];
}

/* Every span in use; @owner's only, unless 0. */
static void walk(struct walk *w, uint32_t owner)
{
	static struct walk all;

	all.n = 0;
	daemon_heap_lock(&fuzz_d.core);
	fuzz_spans_locked(walk_one, &all);
	daemon_heap_unlock(&fuzz_d.core);
	if (owner)
		only(&all, owner, w);
	else
		*w = all;
}

static const struct span *find(const struct walk *w, uint64_t off)
{
	for (unsigned int i = 0; i < w->n; i++)
		if (w->s[i].off == off)
			return &w->s[i];
	return NULL;
}

static struct client *client_a(void)
{
	struct client *c = fuzz_peer_client(&pa);

	if (!c || !c->mag)
		fuzz_fail(cur_at, "client A or its magazine is gone");
	return c;
}

/* ---- what A holds by right */

static int held_find(uint64_t off)
{
	for (unsigned int i = 0; i < nheld; i++)
		if (held[i].off == off)
			return (int)i;
	return -1;
}

static void held_add(uint64_t off, unsigned int cls)
{
	if (held_find(off) >= 0)
		return;
	if (nheld == FUZZ_SPANS_MAX)
		fuzz_fail(cur_at, "the client holds more spans than there are");
	held[nheld++] = (struct right){ off, cls, false };
}

static void held_drop_at(unsigned int i)
{
	held[i] = held[--nheld];
}

static void held_drop(uint64_t off)
{
	int i = held_find(off);

	if (i >= 0)
		held_drop_at((unsigned int)i);
}

/* Given back: every one a stack slot of class @c shows. */
static void held_drop_shown(unsigned int c)
{
	for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
		held_drop(atomic_load_explicit(&R->cls[c].ret.slot[i],
					       memory_order_relaxed));
}

/* Taken from class @c since the daemon last looked: a moved tail undoes. */
static void held_drop_unsynced(unsigned int c)
{
	for (unsigned int i = 0; i < nheld;)
		if (held[i].cls == c && !held[i].synced)
			held_drop_at(i);
		else
			i++;
}

/* @off is gone: a stack slot that names it is no span to pop by right. */
static void slots_forget(uint64_t off)
{
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
			if (atomic_load_explicit(&R->cls[c].ret.slot[i],
						 memory_order_relaxed) == off)
				slot_right[c][i] = SLOT_NONE;
}

/*
 * A span on class @c's stack twice goes back with the first copy the
 * daemon takes: neither slot is one to pop by right.
 */
static void slots_dedupe(unsigned int c)
{
	_Atomic uint64_t *slot = R->cls[c].ret.slot;

	for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
		for (unsigned int j = 0; j < i; j++)
			if (atomic_load_explicit(&slot[i],
						 memory_order_relaxed) ==
			    atomic_load_explicit(&slot[j],
						 memory_order_relaxed))
				slot_right[c][i] = slot_right[c][j] =
					SLOT_NONE;
}

/* ---- values */

/* A value for a word of class @c whose value now is @cur. */
static uint64_t pick_value(unsigned int c, uint64_t cur)
{
	static const int64_t delta[4] = { 0, 8, (int64_t)PAGE, -(int64_t)PAGE };
	unsigned int v = next_byte(), k;
	static struct walk w;

	switch (v & 7) {
	case 0:
		return next_u64();
	case 1:
		return cur + (uint64_t)((int64_t)(v >> 3) - 16);
	case 2:
		k = next_byte();
		walk(&w, 0);
		return w.n ? w.s[k % w.n].off + (uint64_t)delta[(v >> 3) & 3] :
			     0;
	case 3:
		return shadow[c][(dhead[c] - 1 - (v >> 3)) & MASK];
	case 4:
		k = next_byte();
		return nheld ? held[k % nheld].off : 0;
	case 5:
		return atomic_load_explicit(&R->cls[c].ret.slot[(v >> 3) %
								MAG_STACK_CAP],
					    memory_order_relaxed);
	case 6:
		return (v >> 3) % 3 == 0 ? 0 :
		       (v >> 3) % 3 == 1 ? UINT64_MAX : fuzz_d.arena->size;
	default:
		return MAG_STACK_WORD((v >> 3) + MAG_STACK_CAP - 16,
				      MAG_STACK_GEN(cur) + 1);
	}
}

/* ---- the hostile client */

static void wrote(const void *p, uint64_t v)
{
	if (trace)
		fprintf(stderr, "magserve: wrote 0x%llx at +%#zx\n",
			(unsigned long long)v,
			(size_t)((const char *)p - (const char *)R));
}

static void write_u32(_Atomic uint32_t *p, unsigned int c)
{
	uint32_t v = (uint32_t)pick_value(c, atomic_load(p));

	atomic_store_explicit(p, v, memory_order_relaxed);
	wrote(p, v);
}

static void write_u64(_Atomic uint64_t *p, unsigned int c)
{
	uint64_t v = pick_value(c, atomic_load(p));

	atomic_store_explicit(p, v, memory_order_relaxed);
	wrote(p, v);
}

/*
 * A write into class @c's ring: what it took unsynced may be taken back
 * (the tail moved under it), whether it still has it or pushed it.
 */
static void wrote_ring(unsigned int c)
{
	pristine = false;
	held_drop_unsynced(c);
	for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
		if (slot_right[c][i] == SLOT_UNSYNCED)
			slot_right[c][i] = SLOT_NONE;
}

/* A write into class @c's stack: what a slot shows may go back. */
static void wrote_stack(unsigned int c, unsigned int slot, bool count)
{
	pristine = false;
	if (count)
		memset(slot_right[c], 0, sizeof(slot_right[c]));
	else
		slot_right[c][slot] = SLOT_NONE;
	held_drop_shown(c);
	slots_dedupe(c);
}

static void write_field(unsigned int c)
{
	struct mag_class *k = &R->cls[c];
	unsigned int f = next_byte(), i = f >> 4;

	switch (f & 15) {
	case 0:
		write_u32(&k->fill.head, c);
		wrote_ring(c);
		break;
	case 1:
		write_u32(&k->fill.tail, c);
		wrote_ring(c);
		break;
	case 2:
		write_u64(&k->fill.entry[(dhead[c] - i) & MASK], c);
		wrote_ring(c);
		break;
	case 3:
	case 4:
		write_u64(&k->ret.ctl, c);
		wrote_stack(c, 0, true);
		break;
	case 5:
	case 6:
		i = (MAG_STACK_COUNT(atomic_load(&k->ret.ctl)) + i - 8) %
		    MAG_STACK_CAP;
		write_u64(&k->ret.slot[i], c);
		wrote_stack(c, i, false);
		break;
	case 7:
		write_u32(&k->limit, c);
		break;
	case 8:
		write_u64(&k->fast_allocs, c);
		break;
	case 9:
		write_u32(&R->st.flags, c);
		break;
	case 10:
		write_u32(&R->st.served, c);
		break;
	default:
		write_u64((_Atomic uint64_t *)(void *)&R->hdr + (i & 7), c);
		break;
	}
}

/* Any 8-byte word of the region. */
static void write_any(void)
{
	size_t words = rsize / 8;
	size_t lo = next_byte(), w = (lo | next_byte() << 8) % words;
	size_t at = w * 8;
	_Atomic uint64_t *p = (_Atomic uint64_t *)(void *)R + w;
	size_t cls0 = offsetof(struct mag_region, cls);
	size_t ret = offsetof(struct mag_class, ret);
	size_t slot0 = ret + offsetof(struct mag_stack, slot);
	unsigned int c = 0;

	if (at >= cls0 && at < sizeof(struct mag_region))
		c = (unsigned int)((at - cls0) / sizeof(struct mag_class));
	write_u64(p, c);
	if (at < cls0 || at >= sizeof(struct mag_region))
		return;
	/* Where in its class: the ring, the stack's word, a slot. */
	at = (at - cls0) % sizeof(struct mag_class);
	if (at < ret)
		wrote_ring(c);
	else if (at < slot0)
		wrote_stack(c, 0, true);
	else if (at < ret + sizeof(struct mag_stack))
		wrote_stack(c, (unsigned int)((at - slot0) / 8), false);
}

/* ---- the trusting client, as libclient/magazine.c */

static void count(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static void take(unsigned int c)
{
	struct mag_ring *ring = &R->cls[c].fill;
	uint32_t t = atomic_load(&ring->tail);
	uint32_t h = atomic_load(&ring->head);
	uint64_t off;
	bool right;

	if (mag_fill_take(ring, &off) < 0)
		return;
	count(&R->cls[c].fast_allocs);
	/* An entry of the window the daemon produced, and not the daemon's. */
	right = !dead && h == dhead[c] && t - seen[c] < dhead[c] - seen[c] &&
		dhead[c] - seen[c] <= MAG_RING_CAP &&
		off == shadow[c][t & MASK];
	if (right)
		held_add(off, c);
	if (trace)
		fprintf(stderr, "magserve: took 0x%llx of class %u%s\n",
			(unsigned long long)off, c, right ? " by right" : "");
}

static void push_held(void)
{
	unsigned int i, c, n;
	uint32_t count_after;
	uint64_t off;

	i = next_byte();
	if (!nheld)
		return;
	i %= nheld;
	off = held[i].off;
	c = held[i].cls;
	n = MAG_STACK_COUNT(atomic_load(&R->cls[c].ret.ctl));
	if (mag_stack_push(&R->cls[c].ret, off, MAG_STACK_CAP,
			   &count_after) < 0)
		return;
	count(&R->cls[c].fast_frees);
	if (trace)
		fprintf(stderr, "magserve: pushed 0x%llx of class %u\n",
			(unsigned long long)off, c);
	slot_right[c][n] = held[i].synced ? SLOT_RIGHT : SLOT_UNSYNCED;
	held_drop_at(i);
}

static void push_any(unsigned int c)
{
	uint32_t count_after, n;
	uint64_t off = pick_value(c, 0);

	n = MAG_STACK_COUNT(atomic_load(&R->cls[c].ret.ctl));
	if (mag_stack_push(&R->cls[c].ret, off, MAG_STACK_CAP,
			   &count_after) < 0)
		return;
	pristine = false;
	slot_right[c][n] = SLOT_NONE;
	held_drop(off);
	slots_dedupe(c);
	if (trace)
		fprintf(stderr, "magserve: pushed 0x%llx onto class %u\n",
			(unsigned long long)off, c);
}

static void pop(unsigned int c)
{
	uint32_t n = MAG_STACK_COUNT(atomic_load(&R->cls[c].ret.ctl));
	uint64_t off;

	if (mag_stack_pop(&R->cls[c].ret, &off, NULL) < 0)
		return;
	count(&R->cls[c].fast_allocs);
	if (trace)
		fprintf(stderr, "magserve: popped 0x%llx of class %u%s\n",
			(unsigned long long)off, c,
			slot_right[c][n - 1] ? " by right" : "");
	if (slot_right[c][n - 1]) {
		held_add(off, c);
		held[held_find(off)].synced =
			slot_right[c][n - 1] == SLOT_RIGHT;
		slot_right[c][n - 1] = SLOT_NONE;
	}
}

/* ---- the daemon's side */

static bool answered(void *arg)
{
	struct fuzz_peer *p = arg;

	fuzz_peer_drain(p, cur_at);
	return fuzz_peer_settled(p);
}

/* A request of @p's client through the dispatcher; its reply checked. */
static void deliver(struct fuzz_peer *p, const void *msg, size_t len)
{
	struct client *c = fuzz_peer_client(p);
	struct proto_hdr hdr;

	memcpy(&hdr, msg, sizeof(hdr));
	fuzz_peer_sent(p, msg, len, 0);
	dispatch_request(c, msg, len);
	fuzz_wait(answered, p, "a request got no final reply", cur_at);
	if (!fuzz_peer_client(p) || c->closing)
		fuzz_fail(cur_at, "the daemon closed a client for a %s",
			  proto_type_name(hdr.type));
}

/* Before the daemon acts: its heads where it left them (it never reads). */
static void daemon_before(uint32_t *ret_heads)
{
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		ret_heads[c] = atomic_load(&R->cls[c].fill.head);
		atomic_store(&R->cls[c].fill.head, dhead[c]);
	}
}

/*
 * After it: what it produced into the shadow, the client's heads back
 * where the daemon wrote none; then the figures, which sync.
 */
static void daemon_after(const uint32_t *heads)
{
	struct magazine_info mi;
	struct walk mine;

	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		uint32_t h = atomic_load(&R->cls[c].fill.head);

		if (h == dhead[c]) {
			atomic_store(&R->cls[c].fill.head, heads[c]);
			continue;
		}
		if (dead || h - dhead[c] > MAGAZINE_TARGET_MAX)
			fuzz_fail(cur_at, "the daemon produced %u entries into class %u%s",
				  h - dhead[c], c, dead ? ", stopped" : "");
		for (; dhead[c] != h; dhead[c]++)
			shadow[c][dhead[c] & MASK] = atomic_load(
				&R->cls[c].fill.entry[dhead[c] & MASK]);
	}
	memset(&mi, 0, sizeof(mi));
	daemon_heap_lock(&fuzz_d.core);
	magazine_info_locked(client_a()->mag, &mi);
	daemon_heap_unlock(&fuzz_d.core);
	/* Stack slots the daemon took are not the client's to pop. */
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		for (uint32_t i = mag_stack_count(&R->cls[c].ret);
		     i < MAG_STACK_CAP; i++)
			slot_right[c][i] = SLOT_NONE;
	if (!mi.dead) {
		for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
			seen[c] = atomic_load(&R->cls[c].fill.tail);
			for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
				if (slot_right[c][i])
					slot_right[c][i] = SLOT_RIGHT;
		}
		for (unsigned int i = 0; i < nheld; i++)
			held[i].synced = true;
		return;
	}
	if (dead)
		return;
	/* Stopped now: by a corrupt index, which only a write makes. */
	dead = true;
	if (pristine || !mi.bad ||
	    !(atomic_load(&R->st.flags) & MAG_F_DEAD))
		fuzz_fail(cur_at, "the magazine stopped (bad %llu)%s%s",
			  (unsigned long long)mi.bad,
			  pristine ? " with nothing written" : "",
			  atomic_load(&R->st.flags) & MAG_F_DEAD ? "" :
			  ", MAG_F_DEAD not set");
	/* What it took since the last sync stays FILL, the client's. */
	for (unsigned int i = 0; i < nheld;)
		if (!held[i].synced)
			held_drop_at(i);
		else
			i++;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		for (unsigned int i = 0; i < MAG_STACK_CAP; i++)
			if (slot_right[c][i] == SLOT_UNSYNCED)
				slot_right[c][i] = SLOT_NONE;
	walk(&mine, client_a()->owner);
	at_death.n = 0;
	for (unsigned int i = 0; i < mine.n; i++)
		if (mine.s[i].state == HEAP_MAG_FILL)
			at_death.s[at_death.n++] = mine.s[i];
}

static void kick(void)
{
	uint32_t heads[MAG_NCLASSES];
	struct proto_mag m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_MAG_KICK, 0);
	daemon_before(heads);
	deliver(&pa, &m, sizeof(m));
	daemon_after(heads);
}

/* Does class @c hold an index the daemon calls corrupt? */
static bool corrupt(unsigned int c)
{
	uint32_t tail = atomic_load(&R->cls[c].fill.tail);

	return tail - seen[c] > dhead[c] - seen[c] ||
	       MAG_STACK_COUNT(atomic_load(&R->cls[c].ret.ctl)) >
		       MAG_STACK_CAP;
}

static void refill(unsigned int a)
{
	uint32_t heads[MAG_NCLASSES];
	struct proto_mag m;
	struct walk mine;
	unsigned int fill = 0;
	bool empty, stops;
	int s;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_MAG_REFILL, (uint32_t)cur_at);
	m.cls = a % 8;
	m.flags = a / 8;
	/* Stopped already, or by what the serve of the class finds. */
	stops = dead || (m.cls < MAG_NCLASSES && corrupt(m.cls));
	daemon_before(heads);
	deliver(&pa, &m, sizeof(m));
	daemon_after(heads);
	s = pa.last_status;
	if (m.cls >= MAG_NCLASSES || !m.flags) {
		if (s != -EBADMSG)
			fuzz_fail(cur_at, "a malformed MAG_REFILL answered %d",
				  s);
		return;
	}
	walk(&mine, client_a()->owner);
	for (unsigned int i = 0; i < mine.n; i++)
		fill += mine.s[i].state == HEAP_MAG_FILL &&
			mine.s[i].npages == UINT64_C(1) << m.cls;
	/* -ENOMEM: it ran dry, and the daemon had nothing to give. */
	empty = m.flags & PROTO_MAG_EMPTY && !fill &&
		!mag_stack_count(&R->cls[m.cls].ret);
	if (stops ? s != -ENODEV : s != (empty ? -ENOMEM : 0))
		fuzz_fail(cur_at, "MAG_REFILL of class %u, flags %#x answered %d; %u FILL spans of it after%s",
			  m.cls, m.flags, s, fill, stops ? ", stopped" : "");
}

/*
 * Has the client taken the FILL span at @off from its ring (the tail has
 * passed it), so that the sync before a SPAN_FREE makes it HELD?
 */
static bool taken(uint64_t off)
{
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		uint32_t tail = atomic_load(&R->cls[c].fill.tail);
		uint32_t n = dhead[c] - seen[c];

		/* A corrupt tail stops the magazine: nothing is synced. */
		if (tail - seen[c] > n)
			continue;
		for (uint32_t i = 0; i < tail - seen[c]; i++)
			if (shadow[c][(seen[c] + i) & MASK] == off)
				return true;
	}
	return false;
}

static void span_free(unsigned int a)
{
	struct proto_free m;
	uint32_t heads[MAG_NCLASSES];
	struct walk before, after;
	uint32_t owner = client_a()->owner;
	uint64_t none = 0;
	bool fill = false;

	/* The daemon syncs first: what was taken is the client's to free. */
	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_SPAN_FREE, (uint32_t)cur_at);
	m.count = a % 4 + 1;
	for (uint32_t i = 0; i < m.count; i++)
		m.off[i] = pick_value(i % MAG_NCLASSES, 0);
	walk(&before, 0);
	for (uint32_t i = 0; i < m.count; i++) {
		const struct span *s = find(&before, m.off[i]);

		fill = fill || (s && s->owner == owner &&
				s->state == HEAP_MAG_FILL &&
				(dead || !taken(m.off[i])));
	}
	daemon_before(heads);
	deliver(&pa, &m, proto_free_size(m.count));
	daemon_after(heads);
	for (uint32_t i = 0; trace && i < m.count; i++)
		fprintf(stderr, "magserve: SPAN_FREE 0x%llx: %d\n",
			(unsigned long long)m.off[i], pa.last_status);
	walk(&after, 0);
	if (pa.last_status < 0) {
		if (after.n != before.n)
			fuzz_fail(cur_at, "a failed SPAN_FREE (%d) took spans in use from %u to %u",
				  pa.last_status, before.n, after.n);
		return;
	}
	if (fill)
		fuzz_fail(cur_at, "a SPAN_FREE of a span in a fill ring went through");
	for (uint32_t i = 0; i < m.count; i++) {
		const struct span *s = find(&before, m.off[i]);

		if (!s || s->owner != owner || find(&after, m.off[i]))
			fuzz_fail(cur_at, "SPAN_FREE freed 0x%llx, not a span of the client's (or kept it)",
				  (unsigned long long)m.off[i]);
		if (s->state == HEAP_MAG_NONE)
			none++;
		else if (held_find(m.off[i]) < 0)
			pristine = false;	/* one it had given back */
		held_drop(m.off[i]);
		slots_forget(m.off[i]);
	}
	socket_spans -= none;
}

static void span_alloc(unsigned int a)
{
	struct proto_alloc m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_SPAN_ALLOC, (uint32_t)cur_at);
	m.count = a % 4 + 1;
	m.npages = next_byte() % 33;
	deliver(&pa, &m, sizeof(m));
	if (pa.last_status == 0)
		socket_spans += pa.last_count;
}

static void tick(unsigned int a)
{
	static const uint64_t after[4] = { 0, FUZZ_IDLE_NS / 2, FUZZ_IDLE_NS,
					   2 * FUZZ_IDLE_NS };
	uint32_t heads[MAG_NCLASSES];

	daemon_before(heads);
	daemon_heap_lock(&fuzz_d.core);
	magazine_tick_locked(client_a()->mag, daemon_now() + after[a % 4],
			     FUZZ_IDLE_NS);
	daemon_heap_unlock(&fuzz_d.core);
	daemon_after(heads);
}

/* ---- the invariants */

/* Each class's window: distinct, exactly A's FILL spans of the class. */
static void check_windows(const struct walk *mine)
{
	uint64_t bytes = 0, fills = 0;

	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		uint32_t n = dhead[c] - seen[c];

		if (n > MAGAZINE_TARGET_MAX)
			fuzz_fail(cur_at, "class %u's window holds %u", c, n);
		bytes += 3 * (uint64_t)n * (PAGE << c);
		fills += n;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t off = shadow[c][(seen[c] + i) & MASK];
			const struct span *s = find(mine, off);

			if (!s || s->state != HEAP_MAG_FILL ||
			    s->npages != UINT64_C(1) << c)
				fuzz_fail(cur_at, "entry %u of class %u's window (0x%llx) is no FILL span of the class",
					  i, c, (unsigned long long)off);
			for (uint32_t j = 0; j < i; j++)
				if (shadow[c][(seen[c] + j) & MASK] == off)
					fuzz_fail(cur_at, "0x%llx twice in class %u's window",
						  (unsigned long long)off, c);
		}
	}
	for (unsigned int i = 0; i < mine->n; i++)
		fills -= mine->s[i].state == HEAP_MAG_FILL;
	if (fills || bytes > FUZZ_MAG_BYTES)
		fuzz_fail(cur_at, "the windows name %lld spans more than the FILL ones, cache 3 x %llu bytes",
			  (long long)fills, (unsigned long long)bytes / 3);
}

/* Stopped: its FILL spans are those it had when it stopped. */
static void check_frozen(const struct walk *mine)
{
	unsigned int fills = 0;

	for (unsigned int i = 0; i < mine->n; i++) {
		if (mine->s[i].state != HEAP_MAG_FILL)
			continue;
		fills++;
		if (!find(&at_death, mine->s[i].off))
			fuzz_fail(cur_at, "a stopped magazine has a new FILL span");
	}
	if (fills != at_death.n)
		fuzz_fail(cur_at, "a stopped magazine's FILL spans went from %u to %u",
			  at_death.n, fills);
}

/* What A holds by right; pristine, exactly with its stacks. */
static void check_held(const struct walk *mine)
{
	unsigned int n = 0, stacked = 0, synced = 0;

	for (unsigned int i = 0; i < nheld; i++) {
		const struct span *s = find(mine, held[i].off);
		/* Taken since the daemon last looked: FILL until it does. */
		unsigned int want = held[i].synced ? HEAP_MAG_HELD :
						     HEAP_MAG_FILL;

		synced += held[i].synced;
		if (!s || s->state != want ||
		    s->npages != UINT64_C(1) << held[i].cls)
			fuzz_fail(cur_at, "the client holds 0x%llx of class %u, which the heap says is %s",
				  (unsigned long long)held[i].off,
				  held[i].cls,
				  !s ? "not its span" :
				  s->state == HEAP_MAG_FILL ? "FILL" :
				  s->state == HEAP_MAG_NONE ? "a socket span" :
							      "of other pages");
	}
	if (!pristine)
		return;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++) {
		uint32_t k = mag_stack_count(&R->cls[c].ret);

		for (uint32_t i = 0; i < k; i++) {
			uint64_t off = atomic_load(&R->cls[c].ret.slot[i]);
			const struct span *s = find(mine, off);
			unsigned int want = slot_right[c][i] == SLOT_RIGHT ?
					    HEAP_MAG_HELD : HEAP_MAG_FILL;

			if (!slot_right[c][i] || !s || s->state != want ||
			    held_find(off) >= 0)
				fuzz_fail(cur_at, "slot %u of class %u's stack: 0x%llx, no span given back",
					  i, c, (unsigned long long)off);
			for (uint32_t j = 0; j < i; j++)
				if (atomic_load(&R->cls[c].ret.slot[j]) == off)
					fuzz_fail(cur_at, "0x%llx twice on a stack",
						  (unsigned long long)off);
			stacked += want == HEAP_MAG_HELD;
		}
	}
	for (unsigned int i = 0; i < mine->n; i++)
		n += mine->s[i].state == HEAP_MAG_HELD;
	if (n != synced + stacked)
		fuzz_fail(cur_at, "the client has %u HELD spans: %u held, %u on its stacks",
			  n, synced, stacked);
}

static void check_owner(const struct client *c, const struct walk *mine)
{
	struct heap_owner_info o;
	uint64_t pages = 0;

	daemon_heap_lock(&fuzz_d.core);
	client_owner_locked(c, &o);
	daemon_heap_unlock(&fuzz_d.core);
	for (unsigned int i = 0; i < mine->n; i++)
		pages += mine->s[i].npages;
	if (o.nspans != mine->n || o.npages != pages)
		fuzz_fail(cur_at, "client %u has %u spans of %llu pages, its record says %llu of %llu",
			  c->id, mine->n, (unsigned long long)pages,
			  (unsigned long long)o.nspans,
			  (unsigned long long)o.npages);
}

static void check_all(void)
{
	static struct walk all, mine, theirs;
	struct client *a = client_a(), *b = fuzz_peer_client(&pb);
	uint64_t none = 0;

	daemon_heap_lock(&fuzz_d.core);
	heap_check(fuzz_d.core.heap);
	daemon_heap_unlock(&fuzz_d.core);
	walk(&all, 0);
	only(&all, a->owner, &mine);
	check_owner(a, &mine);
	if (dead)
		check_frozen(&mine);
	else
		check_windows(&mine);
	check_held(&mine);
	for (unsigned int i = 0; i < mine.n; i++)
		none += mine.s[i].state == HEAP_MAG_NONE;
	if (none != socket_spans)
		fuzz_fail(cur_at, "the client has %llu socket spans, its replies say %llu",
			  (unsigned long long)none,
			  (unsigned long long)socket_spans);
	only(&all, b->owner, &theirs);
	check_owner(b, &theirs);
	if (theirs.n != b_spans.n ||
	    memcmp(theirs.s, b_spans.s, sizeof(theirs.s[0]) * theirs.n))
		fuzz_fail(cur_at, "client B's spans changed");
}

/* ---- an input */

static void hello(struct fuzz_peer *p, uint32_t flags)
{
	struct proto_hello m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_HELLO, 0);
	m.flags = flags;
	strcpy(m.name, flags ? "hostile" : "bystander");
	deliver(p, &m, sizeof(m));
	if (p->last_status)
		fuzz_fail(0, "HELLO answered %d", p->last_status);
}

static void begin(void)
{
	struct proto_alloc m;
	struct client *a;
	void *map;

	/* What the last input freed, back in the heap: the same room. */
	fuzz_scavenger_idle(0);
	fuzz_peer_open(&pa, false);
	fuzz_peer_open(&pb, false);
	hello(&pa, PROTO_HELLO_MAGAZINE);
	hello(&pb, 0);
	for (unsigned int i = 0; i < FUZZ_B_SPANS; i++) {
		memset(&m, 0, sizeof(m));
		proto_hdr_init(&m.hdr, PROTO_SPAN_ALLOC, i);
		m.count = 1;
		m.npages = UINT64_C(1) << (3 * i);
		deliver(&pb, &m, sizeof(m));
	}
	walk(&b_spans, fuzz_peer_client(&pb)->owner);
	if (b_spans.n != FUZZ_B_SPANS)
		fuzz_fail(0, "client B got %u spans", b_spans.n);
	a = client_a();
	rsize = magazine_size(a->mag);
	map = mmap(NULL, rsize, PROT_READ | PROT_WRITE, MAP_SHARED,
		   magazine_fd(a->mag), 0);
	if (map == MAP_FAILED || mag_check_header(map, rsize) < 0)
		fuzz_fail(0, "cannot map the magazine");
	R = map;
	memset(dhead, 0, sizeof(dhead));
	memset(seen, 0, sizeof(seen));
	memset(shadow, 0, sizeof(shadow));
	memset(slot_right, 0, sizeof(slot_right));
	nheld = 0;
	pristine = true;
	dead = false;
	socket_spans = 0;
}

static void end(void)
{
	struct client *c;

	munmap(R, rsize);
	R = NULL;
	if ((c = fuzz_peer_client(&pa)))
		client_destroy(c);
	if ((c = fuzz_peer_client(&pb)))
		client_destroy(c);
	fuzz_peer_close(&pa);
	fuzz_peer_close(&pb);
}

static void act(unsigned int op, unsigned int a)
{
	static const char *const names[] = { "WRITE", "TAKE", "PUSH", "POP",
					     "KICK", "REFILL", "FREE", "TICK" };

	if (trace)
		fprintf(stderr, "magserve: %zu: %s %u (held %u%s%s)\n", cur_at,
			names[op], a, nheld, pristine ? ", pristine" : "",
			dead ? ", stopped" : "");
	switch (op) {
	case WRITE:
		if (a >= 28)
			write_any();
		else
			write_field(a % MAG_NCLASSES);
		break;
	case TAKE:
		take(a % MAG_NCLASSES);
		break;
	case PUSH:
		if (a < 16)
			push_held();
		else
			push_any(a % MAG_NCLASSES);
		break;
	case POP:
		pop(a % MAG_NCLASSES);
		break;
	case KICK:
		kick();
		break;
	case REFILL:
		refill(a);
		break;
	case FREE:
		if (a < 16)
			span_free(a);
		else
			span_alloc(a);
		break;
	case TICK:
		tick(a);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds;

	fuzz_setup();
	fuzz_ids_reset();
	trace = getenv("FUZZ_TRACE") != NULL;
	fds = fuzz_fd_count();
	in = data;
	in_size = size;
	pos = 0;
	cur_at = 0;
	begin();
	check_all();
	while (pos < size) {
		unsigned int b = data[pos];

		cur_at = pos++;
		act(b & 7, b >> 3);
		check_all();
	}
	cur_at = size;
	end();
	fuzz_heap_idle(size);
	if (fuzz_fd_count() != fds)
		fuzz_fail(size, "%d fds open after the input, %d before",
			  fuzz_fd_count(), fds);
	return 0;
}
