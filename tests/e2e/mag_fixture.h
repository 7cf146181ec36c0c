/* SPDX-License-Identifier: MIT */
/*
 * What the end-to-end tests of the magazines share (test_magazine.c
 * through the library, test_magazine_hostile.c over the raw protocol):
 * MemStats read and checked, the magazine figures in it, data patterns
 * and a wait-until loop.
 *
 * Every MemStats snapshot these helpers return has passed
 * mag_assert_stats(): the heap's identities, and the magazines' own
 * (cached is a part of heap_inuse, and of each client's bytes).  And
 * each was built after the one before it: the daemon serves the same
 * text for up to 100 ms while it hears of no change, and a client that
 * takes from and frees into its magazine says nothing to it.
 */
#ifndef SPANHEAP_TESTS_E2E_MAG_FIXTURE_H
#define SPANHEAP_TESTS_E2E_MAG_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libclient/spanheap.h"

#define MAG_PG UINT64_C(4096)
/* A generous bound of every wait: the VM is slow, sanitizers slower. */
#define MAG_WAIT_S 60

/* Connect to the daemon at @sock with the library; fail the test if not. */
struct spanheap *mag_connect(const char *sock);

/*
 * The identities of a MemStats snapshot: heap_sys == heap_idle +
 * heap_inuse, heap_released <= heap_idle, consumed == heap_sys -
 * heap_released; cached <= heap_inuse, magazines.cached == cached; every
 * listed client's cached <= its bytes, and a client without a magazine
 * caches nothing.
 */
void mag_assert_stats(json_t *st);

/*
 * mag_assert_stats(), and for a snapshot taken while no client moves
 * spans in or out of its magazine (the daemon reads each client's
 * return stacks twice, for the total and for the list): every client is
 * listed, and their cached add up to cached.
 */
void mag_assert_quiet(json_t *st);

/* A fresh MemStats through the library's @h, checked. */
json_t *mag_stats(struct spanheap *h);

/* A fresh MemStats over the raw connection @fd (tests/lib/wire.h), checked. */
json_t *mag_stats_fd(int fd);

/* A top-level integer of MemStats through @h. */
uint64_t mag_stat(struct spanheap *h, const char *key);

/* An integer of MemStats' magazines block. */
uint64_t mag_counter(json_t *st, const char *key);

/* mag_counter() of a fresh MemStats through @h. */
uint64_t mag_stat_counter(struct spanheap *h, const char *key);

/* The entry of clients.list with id @id, or NULL (borrowed). */
json_t *mag_client(json_t *st, uint32_t id);

/* An integer of client @id's entry, which must be listed. */
uint64_t mag_client_u64(json_t *st, uint32_t id, const char *key);

/* Client @id's entry says whether it has a magazine. */
bool mag_client_has_magazine(json_t *st, uint32_t id);

/*
 * For mag_wait_fd(): client *@arg (a uint32_t) is gone, and with it
 * every span (heap_inuse, cached and heap_objects are 0).
 */
bool mag_all_gone(json_t *st, void *arg);

/*
 * Write a pattern of @tag into the @npages pages at @p: every 64-bit
 * word of them, or (@sparse) the first and last word of each page.
 */
void mag_pattern(void *p, uint64_t npages, uint64_t tag, bool sparse);

/*
 * Does the pattern of @tag written by mag_pattern() hold?  Returns the
 * byte offset of the first word that differs, or -1 if none does.
 */
int64_t mag_pattern_diff(const void *p, uint64_t npages, uint64_t tag,
			 bool sparse);

/* Fail the test unless mag_pattern(@p, @npages, @tag) holds; @what names it. */
void mag_assert_pattern(const void *p, uint64_t npages, uint64_t tag,
			bool sparse, const char *what);

/* Fail the test unless the @len bytes at @p are all zero. */
void mag_assert_zero(const void *p, uint64_t len, const char *what);

/*
 * The daemon orders every free of a span before its next allocation,
 * which ThreadSanitizer cannot see: a span one thread frees through the
 * socket may reach another through the daemon and a fill ring, with no
 * lock of this process between them.  Threads that share spans say so:
 * mag_tsan_freeing() before a free, mag_tsan_allocated() after an
 * allocation.  No-ops but under -fsanitize=thread.
 */
void mag_tsan_freeing(void);
void mag_tsan_allocated(void);

/*
 * Poll MemStats over @fd, every 50 ms for up to MAG_WAIT_S, until
 * @done(snapshot, @arg) holds; returns that snapshot (json_decref() it).
 * Fails the test with @what and the last snapshot's figures if it never
 * does.
 */
json_t *mag_wait_fd(int fd, bool (*done)(json_t *st, void *arg), void *arg,
		    const char *what);

#endif
