/* SPDX-License-Identifier: MIT */
/*
 * Reading MemStats JSON: the field helpers the renderers share
 * (metrics/prom.c, ctl/render.c).
 */
#ifndef SPANHEAP_METRICS_FIELDS_H
#define SPANHEAP_METRICS_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** memstats_num() - the integer field @key of @o, or -1 if absent. */
int64_t memstats_num(const json_t *o, const char *key);

/** memstats_has_all() - does @o have every integer field of @keys? */
bool memstats_has_all(const json_t *o, const char *const *keys, size_t n);

#endif
