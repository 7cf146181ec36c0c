// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the daemon's checked side of a magazine region
 * (proto/magazine.c: mag_ring_push_checked(), mag_ring_pop_checked()):
 * the input is what a hostile client writes into its region, at any
 * place and in any order, interleaved with the daemon's calls.  No
 * daemon runs: the region is a formatted buffer and the daemon is the
 * private indices below, exactly as the daemon will keep them.
 *
 * Input format: a sequence of actions, each one byte, bits 0-2 the
 * action, bits 3-6 a class (mod MAG_NCLASSES) and, where it matters,
 * bit 7 the ring (0 fill, 1 return); then the action's argument bytes
 * (an action cut short by the end of the input is not done):
 *   0 IDX     the client writes a head or tail: 1 byte (bit 0 head/tail),
 *             then 1 signed byte, the value's distance from the daemon's
 *             own index of that ring
 *   1 IDXRAW  the same with a raw value: 1 byte (bit 0), 4 bytes LE
 *   2 ENTRY   the client writes an entry: 1 byte slot, 8 bytes LE value
 *   3 HDR     the client writes 4 bytes LE at a byte (mod the header and
 *             counters) of the header, or of the class's counters
 *   4 PUSH    the daemon pushes its next offset into the fill ring
 *   5 POP     the daemon pops from the return ring
 *   6 CPUSH   the client pushes 8 bytes LE into its return ring (the
 *             trusting op, as the library will)
 *   7 CPOP    the client pops from its fill ring (likewise), and the
 *             client checks the header (it must not crash, whatever the
 *             header holds)
 *
 * Invariants, any break of which aborts: the daemon's private indices
 * only move forward, by one on a success and not at all on an error;
 * a push succeeds exactly when the client's tail leaves room and fails
 * with -EBADMSG exactly when that tail is ahead of the daemon's head or
 * more than the capacity behind it (-EAGAIN when the ring is full), and
 * then writes nothing; a pop likewise against the client's head; after
 * a success the daemon's index is never more than MAG_RING_CAP from the
 * other side's as read; the daemon's index in shared memory is what the
 * daemon wrote last after each of its calls; and every offset the
 * daemon pops is the value the input (or the client's push) last wrote
 * into that slot, or 0 where nothing was.
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

enum { IDX, IDXRAW, ENTRY, HDR, PUSH, POP, CPUSH, CPOP };

static alignas(MAG_LINE) unsigned char mem[3 * PAGE];

/* The daemon's own state of each class: never in shared memory. */
struct daemon_class {
	uint32_t fill_head;	/* its copy of the fill ring's head */
	uint32_t ret_tail;	/* its copy of the return ring's tail */
	uint64_t pushes, pops;	/* its successes, never wrapped */
};

static struct daemon_class dc[MAG_NCLASSES];
/* What the client last wrote into each return slot (0 from format). */
static uint64_t shadow[MAG_NCLASSES][MAG_RING_CAP];
static uint64_t next_off;

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << 8 * i;
	return v;
}

static void daemon_push(struct mag_class *c, struct daemon_class *d,
			size_t at)
{
	uint32_t head = d->fill_head;
	uint32_t tail = atomic_load(&c->fill.tail);
	uint32_t used = head - tail;
	uint64_t before = atomic_load(&c->fill.entry[head % MAG_RING_CAP]);
	uint64_t off = ++next_off * PAGE;
	int rc = mag_ring_push_checked(&c->fill, &d->fill_head, off);

	if (rc == 0) {
		if (used >= MAG_RING_CAP)
			fuzz_fail(at, "a push into a full or corrupt ring");
		if (d->fill_head != head + 1 || (uint32_t)++d->pushes != d->fill_head)
			fuzz_fail(at, "a push moved the head other than by one");
		if (d->fill_head - tail > MAG_RING_CAP)
			fuzz_fail(at, "the head ran past the capacity");
		if (atomic_load(&c->fill.entry[head % MAG_RING_CAP]) != off)
			fuzz_fail(at, "a push did not write its entry");
		if (atomic_load(&c->fill.head) != d->fill_head)
			fuzz_fail(at, "a push did not publish its head");
		return;
	}
	if (d->fill_head != head)
		fuzz_fail(at, "a failed push moved the head");
	if (rc == -EAGAIN ? used != MAG_RING_CAP :
	    rc != -EBADMSG || used <= MAG_RING_CAP)
		fuzz_fail(at, "a push failed with the wrong error");
	if (atomic_load(&c->fill.entry[head % MAG_RING_CAP]) != before)
		fuzz_fail(at, "a failed push wrote an entry");
}

static void daemon_pop(struct mag_class *c, struct daemon_class *d,
		       uint64_t *slots, size_t at)
{
	uint32_t tail = d->ret_tail;
	uint32_t head = atomic_load(&c->ret.head);
	uint32_t held = head - tail;
	uint64_t off = 0xdeadbeef;
	int rc = mag_ring_pop_checked(&c->ret, &d->ret_tail, &off);

	if (rc == 0) {
		if (held == 0 || held > MAG_RING_CAP)
			fuzz_fail(at, "a pop from an empty or corrupt ring");
		if (d->ret_tail != tail + 1 || (uint32_t)++d->pops != d->ret_tail)
			fuzz_fail(at, "a pop moved the tail other than by one");
		if (head - d->ret_tail > MAG_RING_CAP)
			fuzz_fail(at, "the tail ran past the head");
		if (off != slots[tail % MAG_RING_CAP])
			fuzz_fail(at, "a pop returned what the client never wrote");
		if (atomic_load(&c->ret.tail) != d->ret_tail)
			fuzz_fail(at, "a pop did not publish its tail");
		return;
	}
	if (d->ret_tail != tail || off != 0xdeadbeef)
		fuzz_fail(at, "a failed pop moved the tail or wrote its output");
	if (rc == -EAGAIN ? held != 0 : rc != -EBADMSG || held <= MAG_RING_CAP)
		fuzz_fail(at, "a pop failed with the wrong error");
}

/* The client writes a head or tail of @ring to @v. */
static void write_idx(struct mag_class *c, struct daemon_class *d, bool ret,
		      bool tail, uint32_t v, bool rel)
{
	struct mag_ring *ring = ret ? &c->ret : &c->fill;

	if (rel)
		v += ret ? d->ret_tail : d->fill_head;
	atomic_store(tail ? &ring->tail : &ring->head, v);
}

static void client_push(struct mag_class *c, uint64_t *slots, uint64_t off)
{
	uint32_t head = atomic_load(&c->ret.head);

	if (mag_ring_push(&c->ret, off) == 0)
		slots[head % MAG_RING_CAP] = off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mag_region *r = (struct mag_region *)mem;
	size_t pos = 0;

	if (mag_format(mem, sizeof(mem), PAGE, 1) < 0)
		fuzz_fail(0, "mag_format refused the region: %s", "its size");
	memset(dc, 0, sizeof(dc));
	memset(shadow, 0, sizeof(shadow));
	next_off = 0;
	while (pos < size) {
		size_t at = pos;
		unsigned int op = data[pos] & 7, k = (data[pos] >> 3 & 15) % MAG_NCLASSES;
		bool ret = data[pos] >> 7;
		struct mag_class *c = &r->cls[k];
		struct daemon_class *d = &dc[k];
		uint64_t off;

		pos++;
		switch (op) {
		case IDX:
			if (size - pos < 2)
				return 0;
			write_idx(c, d, ret, data[pos] & 1,
				  (uint32_t)(int32_t)(int8_t)data[pos + 1], true);
			pos += 2;
			break;
		case IDXRAW:
			if (size - pos < 5)
				return 0;
			write_idx(c, d, ret, data[pos] & 1,
				  (uint32_t)le(data + pos + 1, 4), false);
			pos += 5;
			break;
		case ENTRY:
			if (size - pos < 9)
				return 0;
			off = le(data + pos + 1, 8);
			atomic_store(&(ret ? &c->ret : &c->fill)
					      ->entry[data[pos] % MAG_RING_CAP],
				     off);
			if (ret)
				shadow[k][data[pos] % MAG_RING_CAP] = off;
			pos += 9;
			break;
		case HDR:
			if (size - pos < 5)
				return 0;
			if (ret) {
				/* The counters are the last line of a class. */
				memcpy((unsigned char *)c + offsetof(struct mag_class,
							     fast_allocs) +
					       data[pos] % (MAG_LINE - 3),
				       data + pos + 1, 4);
			} else {
				memcpy(mem + data[pos] % (MAG_LINE - 3),
				       data + pos + 1, 4);
			}
			pos += 5;
			break;
		case PUSH:
			daemon_push(c, d, at);
			break;
		case POP:
			daemon_pop(c, d, shadow[k], at);
			break;
		case CPUSH:
			if (size - pos < 8)
				return 0;
			client_push(c, shadow[k], le(data + pos, 8));
			pos += 8;
			break;
		case CPOP:
			(void)mag_ring_pop(&c->fill, &off);
			(void)mag_check_header(mem, sizeof(mem));
			break;
		}
	}
	return 0;
}
