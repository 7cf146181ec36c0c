// SPDX-License-Identifier: MIT
/*
 * The seeds of the magazine targets (seeds.c says how they are made):
 * fuzz_magazine's, tests/fuzz/corpus/magazine/, made from
 * proto/magazine.h's layout, fuzz_magserve's,
 * tests/fuzz/corpus/magserve/mag-*, and fuzz_magresume's,
 * tests/fuzz/corpus/magresume/.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "proto/magazine.h"
#include "tests/fuzz/seeds.h"

/* The magazine target's actions and words (tests/fuzz/fuzz_magazine.c). */
enum {
	M_REL, M_RAW, M_ENTRY, M_POKE, M_SYNC, M_PUSH, M_REVOKE, M_STAKE,
	M_SERVE, M_TAKE, M_CPUSH, M_CPOP, M_CHECK
};
enum { REL_TAIL_SEEN, REL_TAIL_HEAD, REL_HEAD, REL_COUNT };
enum {
	RAW_HEAD, RAW_TAIL, RAW_CTL, RAW_LIMIT, RAW_ALLOCS, RAW_FREES,
	RAW_FLAGS, RAW_SERVED
};

/* ---- the magazine target: the daemon's and a client's actions by class */

static void m(struct seed *s, unsigned int op, unsigned int cls, bool v)
{
	unsigned char b = (unsigned char)(op | cls << 4 | (v ? 0x80 : 0));

	put(s, &b, 1);
}

/* @n times the same action without arguments. */
static void m_n(struct seed *s, unsigned int op, unsigned int cls,
		unsigned int n)
{
	while (n--)
		m(s, op, cls, false);
}

/* Indices and generations from -@start on. */
static void m_begin(struct seed *s, unsigned int start)
{
	unsigned char b = (unsigned char)start;

	memset(s, 0, sizeof(*s));
	put(s, &b, 1);
}

static void m_rel(struct seed *s, unsigned int cls, unsigned int which,
		  int delta)
{
	unsigned char b[2] = { (unsigned char)which, (unsigned char)delta };

	m(s, M_REL, cls, false);
	put(s, b, sizeof(b));
}

static void m_raw(struct seed *s, unsigned int cls, unsigned int which,
		  uint64_t v)
{
	unsigned char b = (unsigned char)which;

	m(s, M_RAW, cls, false);
	put(s, &b, 1);
	put64(s, v);
}

static void m_entry(struct seed *s, unsigned int cls, bool stack,
		    unsigned int slot, uint64_t v)
{
	unsigned char b = (unsigned char)slot;

	m(s, M_ENTRY, cls, stack);
	put(s, &b, 1);
	put64(s, v);
}

static void m_poke(struct seed *s, size_t off, uint64_t v)
{
	m(s, M_POKE, 0, false);
	put16(s, (unsigned int)off);
	put64(s, v);
}

/* The client pushes @v, not the last offset it had. */
static void m_cpush(struct seed *s, unsigned int cls, uint64_t v)
{
	m(s, M_CPUSH, cls, true);
	put64(s, v);
}

static void m_seeds(void)
{
	struct seed s;

	/* Both sides of two classes, the way an honest pair works. */
	m_begin(&s, 0);
	for (unsigned int cls = 0; cls < MAG_NCLASSES; cls += 6) {
		m_n(&s, M_PUSH, cls, 5);
		m_n(&s, M_TAKE, cls, 3);
		m_n(&s, M_SYNC, cls, 1);
		m_n(&s, M_CPUSH, cls, 2);
		m_n(&s, M_CPOP, cls, 1);
		m_n(&s, M_STAKE, cls, 1);
		m_n(&s, M_REVOKE, cls, 1);
		m_n(&s, M_TAKE, cls, 1);
		m_n(&s, M_SYNC, cls, 1);
		m_n(&s, M_SERVE, cls, 1);
		m_n(&s, M_CHECK, cls, 1);
	}
	emit("magazine", "roundtrip", &s);

	/* A full ring: room only by a sync of a take, or a revoke. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 3, MAG_RING_CAP + 1);
	m_n(&s, M_TAKE, 3, 1);
	m_n(&s, M_PUSH, 3, 1);
	m_n(&s, M_SYNC, 3, 1);
	m_n(&s, M_PUSH, 3, 2);
	m_n(&s, M_REVOKE, 3, 1);
	m_n(&s, M_PUSH, 3, 2);
	m_n(&s, M_TAKE, 3, MAG_RING_CAP + 1);
	m_n(&s, M_SYNC, 3, 1);
	m_n(&s, M_SERVE, 3, 1);
	emit("magazine", "fill-full", &s);

	/* The client takes ahead of the daemon's revokes. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 1, 4);
	m_n(&s, M_TAKE, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_SYNC, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_TAKE, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_SYNC, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	m_n(&s, M_TAKE, 1, 1);
	m_n(&s, M_REVOKE, 1, 1);
	emit("magazine", "revoke-vs-take", &s);

	/* Tails behind what the daemon saw, past its head, far off. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 2, 10);
	m_n(&s, M_TAKE, 2, 3);
	m_n(&s, M_SYNC, 2, 1);
	m_rel(&s, 2, REL_TAIL_SEEN, -1);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_REVOKE, 2, 1);
	m_rel(&s, 2, REL_TAIL_HEAD, 1);
	m_n(&s, M_SYNC, 2, 1);
	m_rel(&s, 2, REL_TAIL_SEEN, -(int)MAG_RING_CAP - 1);
	m_n(&s, M_SYNC, 2, 1);
	m_raw(&s, 2, RAW_TAIL, 0x80000000u);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_SERVE, 2, 1);
	m_rel(&s, 2, REL_TAIL_SEEN, 0);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_REVOKE, 2, 1);
	m_rel(&s, 2, REL_TAIL_HEAD, 0);
	m_n(&s, M_SYNC, 2, 1);
	m_n(&s, M_PUSH, 2, 1);
	m_n(&s, M_TAKE, 2, 1);
	m_n(&s, M_SYNC, 2, 1);
	emit("magazine", "fill-corrupt-tail", &s);

	/* A head the daemon never reads; entries the client rewrites. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 4, 3);
	m_rel(&s, 4, REL_HEAD, 100);
	m_n(&s, M_PUSH, 4, 1);
	m_rel(&s, 4, REL_HEAD, -2);
	m_n(&s, M_TAKE, 4, 1);
	m_raw(&s, 4, RAW_HEAD, UINT32_MAX);
	m_n(&s, M_TAKE, 4, 1);
	m_n(&s, M_CHECK, 4, 1);
	m_entry(&s, 4, false, 2, UINT64_MAX);
	m_n(&s, M_PUSH, 4, 1);
	m_n(&s, M_TAKE, 4, 2);
	m_n(&s, M_SERVE, 4, 1);
	emit("magazine", "fill-hostile-head", &s);

	/* Stack counts over the cap, any generation, any slot value. */
	m_begin(&s, 0);
	m_cpush(&s, 5, 7 * PAGE);
	m_cpush(&s, 5, UINT64_MAX);
	m_cpush(&s, 5, 1);
	m_rel(&s, 5, REL_COUNT, 100);
	m_n(&s, M_STAKE, 5, 1);
	m_n(&s, M_CPOP, 5, 1);
	m_n(&s, M_CPUSH, 5, 1);
	m_rel(&s, 5, REL_COUNT, -100);
	m_n(&s, M_STAKE, 5, 1);
	m_raw(&s, 5, RAW_CTL, (uint64_t)UINT32_MAX << 32 | 2);
	m_n(&s, M_STAKE, 5, 1);
	m_entry(&s, 5, true, 0, 0);
	m_n(&s, M_STAKE, 5, 2);
	m_raw(&s, 5, RAW_CTL, MAG_STACK_CAP + 1);
	m_n(&s, M_SERVE, 5, 1);
	m_raw(&s, 5, RAW_CTL, (uint64_t)UINT32_MAX << 32 | MAG_STACK_CAP);
	m_n(&s, M_SERVE, 5, 1);
	emit("magazine", "stack-corrupt", &s);

	/* A stack filled to the cap and past it, emptied by both sides. */
	m_begin(&s, 0);
	m_n(&s, M_PUSH, 6, 1);
	m_n(&s, M_TAKE, 6, 1);
	m_n(&s, M_CPUSH, 6, MAG_STACK_CAP + 1);
	m_n(&s, M_STAKE, 6, 1);
	m_n(&s, M_CPUSH, 6, 2);
	m_n(&s, M_CPOP, 6, 3);
	m_n(&s, M_STAKE, 6, 2);
	m_n(&s, M_SERVE, 6, 1);
	m_n(&s, M_CPOP, 6, 1);
	emit("magazine", "stack-full", &s);

	/* Indices and generations across 2^32. */
	m_begin(&s, 255);
	for (unsigned int i = 0; i < 40; i++) {
		m_n(&s, M_PUSH, 0, 8);
		m_n(&s, M_TAKE, 0, 7);
		m_n(&s, M_SYNC, 0, 1);
		m_n(&s, M_REVOKE, 0, 1);
		m_n(&s, M_CPUSH, 0, 2);
		m_n(&s, M_CPOP, 0, 1);
		m_n(&s, M_STAKE, 0, 2);
	}
	emit("magazine", "wrap", &s);

	/* The header, status and counters scribbled: the daemon goes on. */
	m_begin(&s, 0);
	m_n(&s, M_CHECK, 0, 1);
	m_poke(&s, offsetof(struct mag_header, stack_cap), 32);
	m_n(&s, M_CHECK, 0, 1);
	m_poke(&s, offsetof(struct mag_header, version), 0x58585858);
	m_poke(&s, offsetof(struct mag_header, region_size), UINT64_MAX);
	m_n(&s, M_CHECK, 0, 1);
	m_raw(&s, 1, RAW_FLAGS, 2);
	m_raw(&s, 1, RAW_SERVED, UINT32_MAX);
	m_raw(&s, 1, RAW_LIMIT, UINT32_MAX);
	m_raw(&s, 1, RAW_ALLOCS, UINT64_MAX);
	m_raw(&s, 1, RAW_FREES, 1);
	m_n(&s, M_CHECK, 1, 1);
	m_poke(&s, 2 * MAG_LINE + offsetof(struct mag_class, fill.tail), 5);
	m_n(&s, M_PUSH, 0, 2);
	m_n(&s, M_SYNC, 0, 1);
	m_n(&s, M_SERVE, 0, 1);
	emit("magazine", "header-scribble", &s);

	/* A serve that meets a hostile tail, then one that takes it all. */
	m_begin(&s, 3);
	m_n(&s, M_PUSH, 6, 20);
	m_n(&s, M_TAKE, 6, 5);
	m_raw(&s, 6, RAW_TAIL, 0xdeadbeef);
	m_n(&s, M_SERVE, 6, 1);
	m_rel(&s, 6, REL_TAIL_SEEN, 2);
	m_n(&s, M_SERVE, 6, 1);
	m_n(&s, M_PUSH, 6, 3);
	m_n(&s, M_SERVE, 6, 1);
	emit("magazine", "serve-hostile", &s);
}

/* ---- the magserve target: a byte an action (fuzz_magserve.c) */

enum { MS_WRITE, MS_TAKE, MS_PUSH, MS_POP, MS_KICK, MS_REFILL, MS_FREE, MS_TICK };
/* Its WRITE fields, and how its values are picked (pick_value()). */
enum { F_HEAD, F_TAIL, F_ENTRY, F_CTL, F_SLOT = 5, F_LIMIT = 7, F_FLAGS = 9 };
enum { V_RAW, V_DELTA, V_SPAN, V_SHADOW, V_HELD, V_SLOT, V_CONST, V_WORD };

static void ms(struct seed *s, unsigned int op, unsigned int a)
{
	unsigned char b = (unsigned char)(op | a << 3);

	put(s, &b, 1);
}

static void ms_byte(struct seed *s, unsigned int v)
{
	unsigned char b = (unsigned char)v;

	put(s, &b, 1);
}

static void ms_n(struct seed *s, unsigned int op, unsigned int a, int n)
{
	for (int i = 0; i < n; i++)
		ms(s, op, a);
}

static void ms_refill(struct seed *s, unsigned int cls, unsigned int flags)
{
	ms(s, MS_REFILL, cls + 8 * flags);
}

/* Push the first span the client holds, @n times. */
static void ms_push(struct seed *s, int n)
{
	for (int i = 0; i < n; i++) {
		ms(s, MS_PUSH, 0);
		ms_byte(s, 0);
	}
}

/* The value @v of kind @kind with argument @arg (and its byte). */
static void ms_value(struct seed *s, unsigned int kind, unsigned int arg)
{
	ms_byte(s, kind | arg << 3);
	if (kind == V_SPAN || kind == V_HELD)
		ms_byte(s, 0);
}

/* WRITE of field @f (index @i) of class @cls, a value of @kind @arg. */
static void ms_write(struct seed *s, unsigned int cls, unsigned int f,
		     unsigned int i, unsigned int kind, unsigned int arg)
{
	ms(s, MS_WRITE, cls);
	ms_byte(s, f | i << 4);
	ms_value(s, kind, arg);
}

/* A delta of @d for V_DELTA: -16 .. 15. */
#define DELTA(d) ((unsigned int)((d) + 16))

static void ms_seeds(void)
{
	struct seed s;

	/* An obedient client: nothing but takes, pushes, pops, frees. */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 3; i++)
		ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 12);
	ms_push(&s, 6);
	ms(&s, MS_KICK, 0);
	ms_n(&s, MS_POP, 0, 2);
	ms_refill(&s, 3, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 3, 3);
	ms(&s, MS_FREE, 0);			/* SPAN_FREE of one held */
	ms_value(&s, V_HELD, 0);
	ms(&s, MS_TICK, 0);			/* unused classes halve */
	ms_n(&s, MS_TAKE, 0, 4);
	ms_push(&s, 4);
	ms_refill(&s, 0, PROTO_MAG_FULL);
	ms(&s, MS_TICK, 3);			/* idle: all goes back */
	ms_n(&s, MS_POP, 0, 3);
	ms(&s, MS_KICK, 0);
	ms(&s, MS_FREE, 16 + 1);			/* SPAN_ALLOC of 2 x 3 pages */
	ms_byte(&s, 3);
	ms_refill(&s, 6, PROTO_MAG_EMPTY);
	ms_refill(&s, 6, PROTO_MAG_EMPTY | PROTO_MAG_FULL);
	emit("magserve", "mag-obedient", &s);

	/* A stack count above the cap stops the magazine. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms(&s, MS_TAKE, 0);
	ms(&s, MS_TAKE, 0);
	ms_push(&s, 1);
	ms_write(&s, 0, F_CTL, 0, V_WORD, 17);	/* count MAG_STACK_CAP + 1 */
	ms(&s, MS_KICK, 0);
	ms_refill(&s, 0, PROTO_MAG_EMPTY);	/* -ENODEV */
	ms(&s, MS_TAKE, 0);
	ms(&s, MS_FREE, 1);			/* two: held, and a FILL one */
	ms_value(&s, V_HELD, 0);
	ms_value(&s, V_SHADOW, 0);
	ms(&s, MS_TICK, 3);
	emit("magserve", "mag-stack-count", &s);

	/* Tails: behind what the daemon saw consumed, past its head. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 1, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 1, 2);
	ms(&s, MS_KICK, 0);
	ms_write(&s, 1, F_TAIL, 0, V_DELTA, DELTA(-1));
	ms(&s, MS_KICK, 0);
	emit("magserve", "mag-tail-behind", &s);
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 2, PROTO_MAG_EMPTY);
	ms_write(&s, 2, F_TAIL, 0, V_DELTA, DELTA(5));
	ms_refill(&s, 2, PROTO_MAG_EMPTY);	/* -ENODEV */
	emit("magserve", "mag-tail-past", &s);

	/* Taken, then the tail moved back: the daemon takes them back. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 2);
	ms_write(&s, 0, F_TAIL, 0, V_DELTA, DELTA(-2));
	ms(&s, MS_TICK, 0);
	ms_n(&s, MS_TAKE, 0, 4);
	ms(&s, MS_KICK, 0);
	/* A head moved on: stale entries are no spans it holds. */
	ms_write(&s, 0, F_HEAD, 0, V_DELTA, DELTA(10));
	ms_n(&s, MS_TAKE, 0, 8);
	ms_push(&s, 2);
	ms(&s, MS_KICK, 0);
	emit("magserve", "mag-indices-moved", &s);

	/* Bad entries on a return stack over its limit. */
	memset(&s, 0, sizeof(s));
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 8);
	ms(&s, MS_KICK, 0);
	ms_push(&s, 6);
	/* Pushes of any value onto class 0 (16 + 5: 21 % 7 is 0). */
	ms(&s, MS_PUSH, 21);			/* a FILL entry */
	ms_value(&s, V_SHADOW, 0);
	ms(&s, MS_PUSH, 21);			/* client B's span */
	ms_value(&s, V_SPAN, 0);
	ms(&s, MS_PUSH, 21);			/* unaligned */
	ms_value(&s, V_SPAN, 1);
	ms(&s, MS_PUSH, 21);			/* garbage */
	ms_value(&s, V_RAW, 0);
	put(&s, "\x5b\x5a\x5a\x5a\x5a\x5a\x5a\x5a", 8);
	ms(&s, MS_PUSH, 21);			/* a duplicate */
	ms_value(&s, V_SLOT, 0);
	ms(&s, MS_PUSH, 21);			/* out of range */
	ms_value(&s, V_CONST, 2);
	ms_push(&s, 2);
	ms_write(&s, 0, F_SLOT, 9, V_HELD, 0);	/* one it holds, in a slot */
	ms(&s, MS_KICK, 0);
	ms_n(&s, MS_POP, 0, 4);
	ms(&s, MS_TICK, 3);
	emit("magserve", "mag-bad-entries", &s);

	/* An arena too full: socket spans first, then refills. */
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 7; i++) {
		ms(&s, MS_FREE, 16 + 3);		/* 4 spans of 32 pages */
		ms_byte(&s, 32);
	}
	ms_refill(&s, 6, PROTO_MAG_EMPTY);	/* -ENOMEM */
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_refill(&s, 0, PROTO_MAG_EMPTY);
	ms_n(&s, MS_TAKE, 0, 8);
	ms(&s, MS_FREE, 3);			/* SPAN_FREE of 4 spans */
	for (int i = 0; i < 4; i++)
		ms_value(&s, V_SPAN, 0);
	ms_refill(&s, 5, PROTO_MAG_EMPTY);
	ms_write(&s, 0, F_LIMIT, 0, V_CONST, 1);
	ms_write(&s, 0, F_FLAGS, 0, V_CONST, 1);
	ms(&s, MS_KICK, 0);
	emit("magserve", "mag-arena-full", &s);
}

void seeds_magazine(void)
{
	m_seeds();
}

void seeds_magserve(void)
{
	ms_seeds();
}

/* ---- the resume target: took XORs, then edits of the durable record */

/* The record's fields (daemon/magazine.c's struct mag_record). */
enum {
	R_MAGIC = 0, R_OWNER = 8, R_REVOKE_CLS = 16, R_REVOKE_IDX = 20,
	R_CUR = 32, R_SHADOW = 88
};

/* @took's XOR of class @c (all others 0). */
static void r_took(struct seed *s, unsigned int c, uint32_t x)
{
	for (unsigned int i = 0; i < MAG_NCLASSES; i++) {
		uint32_t v = i == c ? x : 0;

		put(s, &v, sizeof(v));
	}
}

static void r_xor(struct seed *s, unsigned int at, unsigned int v)
{
	unsigned char b = (unsigned char)v;

	put16(s, at);
	put(s, &b, 1);
}

/* Shadow word (class @c, slot @i) := interesting offset @v. */
static void r_slot(struct seed *s, unsigned int c, unsigned int i,
		   unsigned int v)
{
	r_xor(s, 0x8000 | (R_SHADOW / 8 + c * MAG_RING_CAP + i), v);
}

void seeds_magresume(void)
{
	struct seed s;

	s.len = 0;
	r_took(&s, 0, 0);
	emit("magresume", "honest", &s);
	s.len = 0;
	r_took(&s, 0, 0x100);
	emit("magresume", "took-past", &s);
	s.len = 0;
	r_took(&s, 3, UINT32_MAX);
	emit("magresume", "took-behind", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_xor(&s, R_OWNER, 1);
	emit("magresume", "owner", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_xor(&s, R_MAGIC, 0x80);
	emit("magresume", "magic", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_xor(&s, R_CUR, 0x40);
	emit("magresume", "cursor", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_xor(&s, R_CUR + 4, 1);
	emit("magresume", "cursor-seen", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_xor(&s, R_REVOKE_CLS, 1);
	r_xor(&s, R_REVOKE_IDX, 3);
	emit("magresume", "revoke", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_slot(&s, 0, 7, 0);
	emit("magresume", "slot-other-owner", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_slot(&s, 0, 7, 4);
	emit("magresume", "slot-held", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_slot(&s, 0, 7, 5);
	emit("magresume", "slot-inside", &s);
	s.len = 0;
	r_took(&s, 0, 0);
	r_slot(&s, 1, 3, 30);
	r_slot(&s, 0, 7, 31);
	emit("magresume", "slots", &s);
}
