/* SPDX-License-Identifier: MIT */
/* MemStats of a running daemon, read through libspanclient, for e2e tests. */
#ifndef SPANHEAP_TESTS_E2E_MEMSTATS_H
#define SPANHEAP_TESTS_E2E_MEMSTATS_H

#include <jansson.h>
#include <stdint.h>

struct spanheap;

/* MemStats as JSON (spanheap_stats_json()); the test fails if it cannot. */
json_t *memstats_get(struct spanheap *h);

/*
 * The integer at @path, keys joined by dots ("limit.waits", "consumed");
 * the test fails if it is not there or not an integer.
 */
uint64_t memstats_u64(struct spanheap *h, const char *path);

#endif
