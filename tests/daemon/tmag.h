/* SPDX-License-Identifier: MIT */
/*
 * What the suites of daemon/magazine.c share (test_magazine*.c): an
 * in-process daemon (inproc.h) over a 64 MiB arena, a magazine under
 * test with the client's view of its region (the test's own mapping,
 * on which it plays the client through proto/magazine.h), and checks of
 * the heap: its figures, and the magazine state (FILL, HELD) of a span.
 *
 * A magazine is made either directly (tm_open(): magazine_new() over an
 * owner of its own, the clock injected into every call) or for a
 * welcomed client that asked for one at HELLO (tm_client()).  The
 * *_locked calls of magazine.h are wrapped to take the heap lock.
 */
#ifndef SPANHEAP_TESTS_DAEMON_TMAG_H
#define SPANHEAP_TESTS_DAEMON_TMAG_H

#include <stdint.h>

#include "daemon/magazine.h"
#include "tests/daemon/inproc.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE HEAP_PAGE_SIZE
#define ARENA (64 * MiB)
#define MAXB (4 * MiB)		/* the default cache bound */
#define SEC UINT64_C(1000000000)
#define IDLE_NS (10 * SEC)

/* A magazine under test, and the client's view of its region. */
struct tmag {
	struct magazine *m;
	struct mag_region *r;	/* the test's own mapping */
	size_t size;
	uint32_t owner;
	uint64_t t0;		/* the clock when it was made */
};

/* The daemon of the case that runs, and its first magazine. */
extern struct daemon tm_d;
extern struct tmag tm;

/* The fixture: a fresh daemon; at the end, heap_check(), then none. */
void tm_setup(void);
void tm_teardown(void);
/* heap_check() now. */
void tm_check(void);

/* A magazine of up to @max_bytes over an owner of its own, mapped. */
void tm_open(struct tmag *t, uint64_t max_bytes);
/* As client_destroy() does: the magazine, then its owner's spans. */
void tm_close(struct tmag *t);

/* The daemon's side, under the heap lock. */
int tm_refill(struct tmag *t, unsigned int c, uint32_t flags, uint64_t now);
void tm_kick(struct tmag *t, uint64_t now);
void tm_tick(struct tmag *t, uint64_t now, uint64_t idle_ns);
void tm_sync(struct tmag *t);
struct magazine_info tm_info(struct tmag *t);
/* Refill class @c as one that ran dry, @times times, at @now. */
void tm_grow(struct tmag *t, unsigned int c, unsigned int times,
	     uint64_t now);

/* The client's side, trusting, as libclient/magazine.c does it. */
uint64_t tm_take(struct tmag *t, unsigned int c);
void tm_take_n(struct tmag *t, unsigned int c, uint64_t *ret,
	       unsigned int n);
void tm_push(struct tmag *t, unsigned int c, uint64_t off);
uint32_t tm_ring_count(struct tmag *t, unsigned int c);
uint32_t tm_stack_count(struct tmag *t, unsigned int c);
/* Class @c's limit, as the daemon published it: its target. */
uint32_t tm_limit(struct tmag *t, unsigned int c);
/* The ring's entries as the client sees them, oldest first; how many. */
uint32_t tm_ring_entries(struct tmag *t, unsigned int c, uint64_t *ret);
/* What 3 x the limit of every class costs: the bound on the cache. */
uint64_t tm_budget(struct tmag *t);

/* The heap. */
struct heap_stats tm_hstats(void);
/* The span at @off: its HEAP_MAG_* state, or -1 if none in use there. */
int tm_state(uint64_t off, uint32_t *ret_owner, uint64_t *ret_npages);
/* @off is a span of @t's owner, of class @c, in state @want. */
void tm_expect_state(const struct tmag *t, unsigned int c, uint64_t off,
		     int want);
void tm_expect_n(const struct tmag *t, unsigned int c, const uint64_t *off,
		 unsigned int n, int want);
/* No span in use starts at @off. */
void tm_expect_free(uint64_t off);
/* Class @c's ring holds exactly @n distinct spans of @t, each FILL. */
void tm_expect_ring(struct tmag *t, unsigned int c, uint32_t n);
uint64_t tm_owner_pages(uint32_t owner);
/* A new owner takes every page of the arena but @left: its span. */
uint64_t tm_fill_arena(uint32_t *ret_owner, uint64_t left);
/* Free every span of @owner, and @owner. */
void tm_drop_owner(uint32_t owner);

/* Through the connection code and the dispatcher. */

/* As clients_set_magazines(), without its tick: the tests tick. */
void tm_use_magazines(uint64_t bytes);
/* A welcomed client with a magazine (MAXB), mapped into @t. */
struct client *tm_client(struct tmag *t, int *ret_peer);
/* Send a MAG_KICK or MAG_REFILL. */
void tm_send_mag(int peer, uint16_t type, uint32_t seq, uint32_t cls,
		 uint32_t flags);
/* The status of the reply to @type @seq, which must come next. */
int tm_recv_status(int peer, uint16_t type, uint32_t seq);
/* A SPAN_FREE of @count offsets: its status, and its bad index. */
int tm_span_free(int peer, uint32_t seq, const uint64_t *off,
		 uint32_t count, uint32_t *ret_bad);

#endif
