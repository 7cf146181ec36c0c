// SPDX-License-Identifier: MIT
/* What the magazines' end-to-end tests share: see mag_fixture.h. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/e2e/mag_fixture.h"
#include "tests/lib/wire.h"

#ifdef __SANITIZE_THREAD__
#include <sanitizer/tsan_interface.h>
#endif

struct spanheap *mag_connect(const char *sock)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(spanheap_connect(sock, &h), 0);
	ck_assert_ptr_nonnull(h);
	return h;
}

void mag_assert_stats(json_t *st)
{
	uint64_t sys = wire_json_u64(st, "heap_sys");
	uint64_t idle = wire_json_u64(st, "heap_idle");
	uint64_t inuse = wire_json_u64(st, "heap_inuse");
	uint64_t released = wire_json_u64(st, "heap_released");
	uint64_t cached = wire_json_u64(st, "cached");
	json_t *list = json_object_get(json_object_get(st, "clients"), "list");
	json_t *c;
	size_t i;

	ck_assert_uint_eq(sys, idle + inuse);
	ck_assert_uint_le(released, idle);
	ck_assert_uint_eq(wire_json_u64(st, "consumed"), sys - released);
	ck_assert_msg(cached <= inuse,
		      "cached %llu bytes is more than heap_inuse %llu",
		      (unsigned long long)cached, (unsigned long long)inuse);
	ck_assert_uint_eq(mag_counter(st, "cached"), cached);
	ck_assert_msg(json_is_array(list), "MemStats has no clients.list");
	json_array_foreach(list, i, c) {
		uint64_t cc = wire_json_u64(c, "cached");
		uint64_t bytes = wire_json_u64(c, "bytes");

		ck_assert_msg(cc <= bytes,
			      "client %llu caches %llu bytes but holds %llu",
			      (unsigned long long)wire_json_u64(c, "id"),
			      (unsigned long long)cc,
			      (unsigned long long)bytes);
		ck_assert(json_is_boolean(json_object_get(c, "magazine")));
		if (!json_is_true(json_object_get(c, "magazine")))
			ck_assert_uint_eq(cc, 0);
	}
}

void mag_assert_quiet(json_t *st)
{
	json_t *clients = json_object_get(st, "clients");
	json_t *list = json_object_get(clients, "list");
	uint64_t cached = wire_json_u64(st, "cached"), sum = 0;
	json_t *c;
	size_t i;

	mag_assert_stats(st);
	ck_assert_uint_eq(json_array_size(list),
			  wire_json_u64(clients, "count"));
	json_array_foreach(list, i, c)
		sum += wire_json_u64(c, "cached");
	ck_assert_msg(sum == cached,
		      "the clients cache %llu bytes, MemStats says %llu",
		      (unsigned long long)sum, (unsigned long long)cached);
}

/* uptime_ns of the last snapshot this process was given. */
static uint64_t mag_last_uptime;

/*
 * Is @st a text the daemon built since the last one we were given?  It
 * reuses its text while nothing it hears of changes, for up to 100 ms
 * (daemon/stats.c), and a client moves its magazine figures without a
 * word to it.  A text built anew has a new uptime_ns.
 */
static bool mag_fresh(json_t *st)
{
	uint64_t up = wire_json_u64(st, "uptime_ns");

	if (up == mag_last_uptime)
		return false;
	mag_last_uptime = up;
	return true;
}

/* A fresh snapshot from @fetch(@h or @fd), checked. */
static json_t *mag_fetch(struct spanheap *h, int fd)
{
	json_error_t err;
	json_t *st;
	char *text;

	for (int i = 0; i < MAG_WAIT_S * 100; i++) {
		if (h) {
			ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
			st = json_loads(text, 0, &err);
			ck_assert_msg(st != NULL, "MemStats is not JSON: %s",
				      err.text);
			free(text);
		} else {
			st = wire_stats(fd);
		}
		if (mag_fresh(st)) {
			mag_assert_stats(st);
			return st;
		}
		json_decref(st);
		usleep(10000);
	}
	ck_abort_msg("the daemon serves the same MemStats for %d s",
		     MAG_WAIT_S);
	return NULL;
}

json_t *mag_stats(struct spanheap *h)
{
	return mag_fetch(h, -1);
}

json_t *mag_stats_fd(int fd)
{
	return mag_fetch(NULL, fd);
}

uint64_t mag_stat(struct spanheap *h, const char *key)
{
	json_t *st = mag_stats(h);
	uint64_t v = wire_json_u64(st, key);

	json_decref(st);
	return v;
}

uint64_t mag_counter(json_t *st, const char *key)
{
	json_t *m = json_object_get(st, "magazines");

	ck_assert_msg(json_is_object(m), "MemStats has no magazines block");
	return wire_json_u64(m, key);
}

uint64_t mag_stat_counter(struct spanheap *h, const char *key)
{
	json_t *st = mag_stats(h);
	uint64_t v = mag_counter(st, key);

	json_decref(st);
	return v;
}

json_t *mag_client(json_t *st, uint32_t id)
{
	json_t *list = json_object_get(json_object_get(st, "clients"), "list");
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
		if (wire_json_u64(c, "id") == id)
			return c;
	return NULL;
}

uint64_t mag_client_u64(json_t *st, uint32_t id, const char *key)
{
	json_t *c = mag_client(st, id);

	ck_assert_msg(c != NULL, "client %u is not listed", id);
	return wire_json_u64(c, key);
}

bool mag_client_has_magazine(json_t *st, uint32_t id)
{
	json_t *c = mag_client(st, id);

	ck_assert_msg(c != NULL, "client %u is not listed", id);
	return json_is_true(json_object_get(c, "magazine"));
}

bool mag_all_gone(json_t *st, void *arg)
{
	const uint32_t *id = arg;

	return !mag_client(st, *id) && !wire_json_u64(st, "heap_inuse") &&
	       !wire_json_u64(st, "cached") &&
	       !wire_json_u64(st, "heap_objects");
}

/* The word at byte @at of a span patterned with @tag. */
static uint64_t word_of(uint64_t tag, uint64_t at)
{
	return tag ^ (at * UINT64_C(0x9e3779b97f4a7c15));
}

/* @at: the byte offset of each patterned word of @npages pages. */
#define PATTERN_FOREACH(at, npages, sparse)                                  \
	for (uint64_t at = 0; at < (npages) * MAG_PG;                        \
	     at += !(sparse) ? 8 :                                           \
		   at % MAG_PG == 0 ? MAG_PG - 8 : 8)

void mag_pattern(void *p, uint64_t npages, uint64_t tag, bool sparse)
{
	volatile uint64_t *w = p;

	PATTERN_FOREACH(at, npages, sparse)
		w[at / 8] = word_of(tag, at);
}

int64_t mag_pattern_diff(const void *p, uint64_t npages, uint64_t tag,
			 bool sparse)
{
	const volatile uint64_t *w = p;

	PATTERN_FOREACH(at, npages, sparse)
		if (w[at / 8] != word_of(tag, at))
			return (int64_t)at;
	return -1;
}

void mag_assert_pattern(const void *p, uint64_t npages, uint64_t tag,
			bool sparse, const char *what)
{
	int64_t at = mag_pattern_diff(p, npages, tag, sparse);

	ck_assert_msg(at < 0, "%s: byte %lld of its %llu pages was overwritten",
		      what, (long long)at, (unsigned long long)npages);
}

void mag_assert_zero(const void *p, uint64_t len, const char *what)
{
	const unsigned char *b = p;

	for (uint64_t k = 0; k < len; k++)
		if (b[k])
			ck_abort_msg("%s: byte %llu of %llu is %#x, not 0",
				     what, (unsigned long long)k,
				     (unsigned long long)len, b[k]);
}

#ifdef __SANITIZE_THREAD__
/* What every free releases and every allocation acquires. */
static char mag_tsan_daemon;

void mag_tsan_freeing(void)
{
	__tsan_release(&mag_tsan_daemon);
}

void mag_tsan_allocated(void)
{
	__tsan_acquire(&mag_tsan_daemon);
}
#else
void mag_tsan_freeing(void)
{
}

void mag_tsan_allocated(void)
{
}
#endif

json_t *mag_wait_fd(int fd, bool (*done)(json_t *st, void *arg), void *arg,
		    const char *what)
{
	json_t *st = NULL;
	char *text;

	for (int i = 0; i < MAG_WAIT_S * 20; i++) {
		json_decref(st);
		st = mag_stats_fd(fd);
		if (done(st, arg))
			return st;
		usleep(50000);
	}
	text = json_dumps(st, JSON_COMPACT);
	ck_abort_msg("%s: not within %d s; last MemStats: %.1500s", what,
		     MAG_WAIT_S, text ? text : "?");
	return NULL;
}
